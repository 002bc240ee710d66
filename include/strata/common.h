/* include/strata/common.h: what every public header shares: export macro, error struct and
 * error codes. */
#ifndef ST_COMMON_H
#define ST_COMMON_H

#include <stddef.h>
#include <stdint.h>

#define ST_API __attribute__((visibility("default")))
#define ST_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define ST_NODISCARD __attribute__((warn_unused_result))

/* Error codes. Fallible functions return 0 (or a count or fd) on success and -ST_E... on
 * failure; callers branch on the code alone. */
enum st_errc {
	ST_OK = 0,
	ST_ENOTFOUND = 1, /* no such blob, image, tag, file */
	ST_EEXIST,        /* already exists where it must not */
	ST_EINVALID,      /* malformed input: reference, JSON, tar, Dockerfile, argument */
	ST_EDIGEST,       /* content does not match its digest */
	ST_EUNSUPPORTED,  /* valid but not supported (media type, algorithm, platform) */
	ST_EAUTH,         /* authentication or authorisation refused */
	ST_ENET,          /* network or protocol failure */
	ST_ESYS,          /* a system call failed; sys_errno says which errno */
	ST_ENOMEM,        /* allocation failed */
	ST_ELIMIT,        /* a configured limit was reached (size, count, depth) */
	ST_EBUSY,         /* a lock is held elsewhere */
};

/* Filled by the innermost failure; callers may wrap it with more context. Never allocates,
 * so ST_ENOMEM is always reportable. */
struct st_error {
	enum st_errc code;
	int sys_errno; /* errno of the failing call, or 0 */
	char msg[512]; /* one line: context first, cause last */
};

#define ST_ERROR_INIT     \
	{                 \
		ST_OK, 0, \
		{         \
			0 \
		}         \
	}

/* Sets *err (which may be NULL) and returns -code. */
ST_API int st_error_set(struct st_error *err, enum st_errc code, const char *fmt, ...)
        ST_PRINTF(3, 4);
/* As st_error_set with ST_ESYS (ST_ENOTFOUND for ENOENT, ST_EEXIST for EEXIST, ST_ENOMEM for
 * ENOMEM); appends ": strerror(errno)". Reads errno before anything else. */
ST_API int st_error_sys(struct st_error *err, const char *fmt, ...) ST_PRINTF(2, 3);
/* As st_error_sys with an explicit errno value. */
ST_API int st_error_errno(struct st_error *err, int errnum, const char *fmt, ...) ST_PRINTF(3, 4);
/* Prefixes the message with new context ("ctx: old message"); keeps the code. Returns
 * -err->code (or -ST_EINVALID when err is NULL, which callers only use as "failed"). */
ST_API int st_error_wrap(struct st_error *err, const char *fmt, ...) ST_PRINTF(2, 3);
/* A short name for a code ("not found", "invalid", ...). */
ST_API const char *st_errc_name(enum st_errc code);

/* Log levels for the optional log handler. The library never writes to stdout/stderr. */
enum st_log_level { ST_LOG_DEBUG, ST_LOG_INFO, ST_LOG_WARN };
typedef void (*st_log_fn)(enum st_log_level level, const char *msg, void *ctx);
ST_API void st_log_set_handler(st_log_fn fn, void *ctx);
ST_API void st_log(enum st_log_level level, const char *fmt, ...) ST_PRINTF(2, 3);

#endif
