/* buf.c: st_buf, the one growable buffer of the project, and small string helpers. */
#include "strata/buf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h" /* last: it poisons names the system headers use */

char st_buf_empty[1];

void st_buf_init(struct st_buf *b, size_t max)
{
	b->data = st_buf_empty;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

void st_buf_release(struct st_buf *b)
{
	size_t max = b->max;

	if (b->cap)
		free(b->data);
	st_buf_init(b, max);
}

void st_buf_reset(struct st_buf *b)
{
	b->len = 0;
	/* never a write to st_buf_empty: every thread's empty buffers share it */
	if (b->cap)
		b->data[0] = '\0';
}

int st_buf_grow(struct st_buf *b, size_t extra, struct st_error *err)
{
	size_t need, ncap;
	char *p;

	if (extra > SIZE_MAX - b->len - 1)
		return st_error_set(err, ST_ENOMEM, "buffer size overflow");
	need = b->len + extra + 1;
	if (b->max && need - 1 > b->max)
		return st_error_set(err, ST_ELIMIT, "data larger than the limit of %zu bytes",
		                    b->max);
	if (need <= b->cap)
		return 0;
	ncap = b->cap ? b->cap : 64;
	while (ncap < need)
		ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
	p = realloc(b->cap ? b->data : NULL, ncap);
	if (!p)
		return st_error_set(err, ST_ENOMEM, "out of memory growing a buffer to %zu bytes",
		                    ncap);
	if (!b->cap)
		p[0] = '\0';
	b->data = p;
	b->cap = ncap;
	return 0;
}

int st_buf_add(struct st_buf *b, const void *p, size_t len, struct st_error *err)
{
	int rc = st_buf_grow(b, len, err);

	if (rc < 0)
		return rc;
	if (len)
		memcpy(b->data + b->len, p, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

int st_buf_adds(struct st_buf *b, const char *s, struct st_error *err)
{
	return st_buf_add(b, s, strlen(s), err);
}

int st_buf_addch(struct st_buf *b, char c, struct st_error *err)
{
	return st_buf_add(b, &c, 1, err);
}

int st_buf_vaddf(struct st_buf *b, struct st_error *err, const char *fmt, va_list ap)
{
	va_list cp;
	int n, rc;

	va_copy(cp, ap);
	n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		return st_error_sys(err, "format");
	rc = st_buf_grow(b, (size_t)n, err);
	if (rc < 0)
		return rc;
	(void)vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int st_buf_addf(struct st_buf *b, struct st_error *err, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = st_buf_vaddf(b, err, fmt, ap);
	va_end(ap);
	return rc;
}

char *st_buf_detach(struct st_buf *b, size_t *len)
{
	char *p;

	if (len)
		*len = b->len;
	if (b->cap)
		p = b->data;
	else
		p = calloc(1, 1);
	st_buf_init(b, b->max);
	return p;
}

void st_buf_swap(struct st_buf *a, struct st_buf *b)
{
	struct st_buf t = *a;

	*a = *b;
	*b = t;
}

void st_buf_setlen(struct st_buf *b, size_t len)
{
	if (!b->cap)
		return;
	b->len = len < b->cap ? len : b->cap - 1;
	b->data[b->len] = '\0';
}

int st_strv_push(struct st_strv *sv, const char *s, size_t len, struct st_error *err)
{
	char *copy;

	if (sv->n + 2 > sv->cap) {
		/* cap may be 0 for a list built by hand with exactly n + 1 slots */
		size_t ncap = sv->cap ? sv->cap * 2 : 8;
		char **nv;
		if (ncap < sv->n + 2)
			ncap = sv->n + 2;
		nv = realloc(sv->v, ncap * sizeof(*nv));
		if (!nv)
			return st_error_set(err, ST_ENOMEM, "out of memory");
		sv->v = nv;
		sv->cap = ncap;
	}
	copy = st_strndup(s, len);
	if (!copy)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	sv->v[sv->n++] = copy;
	sv->v[sv->n] = NULL;
	return 0;
}

void st_strv_release(struct st_strv *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->n = sv->cap = 0;
}

int st_parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return -ST_EINVALID;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -ST_EINVALID;
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -ST_EINVALID;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

char *st_strndup(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (!p)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

bool st_str_has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool st_str_has_suffix(const char *s, const char *suffix)
{
	size_t sl = strlen(s), xl = strlen(suffix);

	return sl >= xl && memcmp(s + sl - xl, suffix, xl) == 0;
}
