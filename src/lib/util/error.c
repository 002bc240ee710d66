/* error.c: struct st_error helpers and the log hook. Messages are truncated explicitly so that
 * no path through here allocates. */
#include "strata/common.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/banned.h" /* last: it poisons names the system headers use */

static st_log_fn log_fn;
static void *log_ctx;

ST_PRINTF(3, 0)
static int vset(struct st_error *err, enum st_errc code, const char *fmt, va_list ap)
{
	if (err) {
		err->code = code;
		err->sys_errno = 0;
		(void)vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	}
	return -(int)code;
}

int st_error_set(struct st_error *err, enum st_errc code, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vset(err, code, fmt, ap);
	va_end(ap);
	return rc;
}

static enum st_errc code_of_errno(int e)
{
	switch (e) {
	case ENOENT:
		return ST_ENOTFOUND;
	case EEXIST:
		return ST_EEXIST;
	case ENOMEM:
		return ST_ENOMEM;
	case EWOULDBLOCK:
		return ST_EBUSY;
	default:
		return ST_ESYS;
	}
}

ST_PRINTF(3, 0)
static int vsys(struct st_error *err, int e, const char *fmt, va_list ap)
{
	size_t n;

	if (!err)
		return -(int)code_of_errno(e);
	err->code = code_of_errno(e);
	err->sys_errno = e;
	(void)vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	n = strlen(err->msg);
	if (n + 3 < sizeof(err->msg)) {
		err->msg[n++] = ':';
		err->msg[n++] = ' ';
		err->msg[n] = '\0';
		(void)strerror_r(e, err->msg + n, sizeof(err->msg) - n);
		/* glibc's GNU strerror_r may return a static string instead of filling the buffer
		 */
		if (err->msg[n] == '\0') {
			const char *s = strerror(e);
			size_t room = sizeof(err->msg) - n - 1;
			size_t sl = strlen(s);
			memcpy(err->msg + n, s, sl < room ? sl : room);
			err->msg[n + (sl < room ? sl : room)] = '\0';
		}
	}
	return -(int)err->code;
}

int st_error_sys(struct st_error *err, const char *fmt, ...)
{
	int e = errno;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vsys(err, e, fmt, ap);
	va_end(ap);
	return rc;
}

int st_error_errno(struct st_error *err, int errnum, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vsys(err, errnum, fmt, ap);
	va_end(ap);
	return rc;
}

int st_error_wrap(struct st_error *err, const char *fmt, ...)
{
	char prefix[256];
	char old[sizeof(err->msg)];
	size_t pl, ol;
	va_list ap;

	if (!err)
		return -ST_EINVALID;
	va_start(ap, fmt);
	(void)vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	old[sizeof(old) - 1] = '\0';
	pl = strlen(prefix);
	ol = strlen(old);
	if (pl + 2 >= sizeof(err->msg))
		pl = sizeof(err->msg) - 3;
	memcpy(err->msg, prefix, pl);
	err->msg[pl] = ':';
	err->msg[pl + 1] = ' ';
	if (ol > sizeof(err->msg) - pl - 3)
		ol = sizeof(err->msg) - pl - 3;
	memcpy(err->msg + pl + 2, old, ol);
	err->msg[pl + 2 + ol] = '\0';
	if (err->code == ST_OK)
		err->code = ST_EINVALID;
	return -(int)err->code;
}

const char *st_errc_name(enum st_errc code)
{
	static const char *const names[] = {
	        [ST_OK] = "ok",
	        [ST_ENOTFOUND] = "not found",
	        [ST_EEXIST] = "exists",
	        [ST_EINVALID] = "invalid",
	        [ST_EDIGEST] = "digest mismatch",
	        [ST_EUNSUPPORTED] = "unsupported",
	        [ST_EAUTH] = "unauthorized",
	        [ST_ENET] = "network",
	        [ST_ESYS] = "system",
	        [ST_ENOMEM] = "out of memory",
	        [ST_ELIMIT] = "limit reached",
	        [ST_EBUSY] = "busy",
	};
	if ((size_t)code >= sizeof(names) / sizeof(names[0]) || !names[code])
		return "unknown";
	return names[code];
}

void st_log_set_handler(st_log_fn fn, void *ctx)
{
	log_fn = fn;
	log_ctx = ctx;
}

void st_log(enum st_log_level level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!log_fn)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_fn(level, msg, log_ctx);
}
