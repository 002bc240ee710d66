/* include/strata/buf.h: growable byte buffer (git's strbuf + curl's dynbuf ceiling) and string
 * views. `data` is never NULL and always NUL-terminated; bytes leave only via st_buf_detach(). */
#ifndef ST_BUF_H
#define ST_BUF_H

#include <stdarg.h>
#include <stdbool.h>

#include "strata/common.h"

struct st_buf {
	char *data;
	size_t len, cap;
	size_t max; /* growth ceiling in bytes, 0 = unlimited */
};

extern char st_buf_empty[];
#define ST_BUF_INIT                   \
	{                             \
		st_buf_empty, 0, 0, 0 \
	}

struct st_str {
	const char *p;
	size_t len;
};

ST_API void st_buf_init(struct st_buf *b, size_t max);
ST_API void st_buf_release(struct st_buf *b); /* frees and re-initialises (keeps max) */
ST_API void st_buf_reset(struct st_buf *b);   /* empties, keeps memory */
/* Grows room for `extra` more bytes. -ST_ENOMEM, or -ST_ELIMIT past `max`. */
ST_API int st_buf_grow(struct st_buf *b, size_t extra, struct st_error *err);
ST_API int st_buf_add(struct st_buf *b, const void *p, size_t len, struct st_error *err);
ST_API int st_buf_adds(struct st_buf *b, const char *s, struct st_error *err);
ST_API int st_buf_addch(struct st_buf *b, char c, struct st_error *err);
ST_API int st_buf_addf(struct st_buf *b, struct st_error *err, const char *fmt, ...)
        ST_PRINTF(3, 4);
ST_API int st_buf_vaddf(struct st_buf *b, struct st_error *err, const char *fmt, va_list ap)
        ST_PRINTF(3, 0);
/* Returns the malloc'd data (caller frees) and re-initialises the buffer. Never NULL unless
 * allocation of an empty string fails. */
ST_API char *st_buf_detach(struct st_buf *b, size_t *len);
ST_API void st_buf_swap(struct st_buf *a, struct st_buf *b);
ST_API void st_buf_setlen(struct st_buf *b, size_t len);

static inline void st_buf_cleanup_fn(struct st_buf *b)
{
	st_buf_release(b);
}
#define cleanup_buf __attribute__((cleanup(st_buf_cleanup_fn)))

/* A list of strings: v is NULL when empty (or, for a JSON field, absent), else v[n] == NULL.
 * Every string is owned. */
struct st_strv {
	char **v;
	size_t n, cap;
};
#define ST_STRV_INIT       \
	{                  \
		NULL, 0, 0 \
	}
/* Appends a copy of s[0..len). */
ST_API int st_strv_push(struct st_strv *sv, const char *s, size_t len, struct st_error *err);
ST_API void st_strv_release(struct st_strv *sv); /* frees and empties */

/* Parses a decimal uint64 from the whole of s (no sign, no spaces, no overflow). */
ST_API int st_parse_u64(const char *s, uint64_t *out);
/* malloc'd copies; NULL on allocation failure. */
ST_API char *st_strndup(const char *s, size_t n);
ST_API bool st_str_has_prefix(const char *s, const char *prefix);
ST_API bool st_str_has_suffix(const char *s, const char *suffix);

#endif
