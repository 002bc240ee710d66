/* http-fetch.c: one plain HTTP(S) GET into a file descriptor, for `ADD <url>` of strata build
 * (the build module has no HTTP of its own: libcurl lives here). Redirects are followed (http
 * and https only), an HTTP error status is an error, Last-Modified becomes *out_mtime (0 when
 * the server sends none). */
#include "registry/curl-api.h"
#include <stdint.h>
#include <string.h>

#include "strata/registry.h"
#include "util/fs.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

#define FETCH_TIMEOUT_S 60L

struct fetch_sink {
	int fd;
	int rc;
	struct st_error *err;
};

static size_t on_data(char *p, size_t size, size_t n, void *ctx)
{
	struct fetch_sink *s = ctx;

	s->rc = st_write_all(s->fd, p, size * n, s->err);
	return s->rc < 0 ? 0 : size * n;
}

static enum st_errc fetch_code(CURLcode cc, long status)
{
	if (cc == CURLE_HTTP_RETURNED_ERROR)
		return status == 404 || status == 410 ? ST_ENOTFOUND : ST_ENET;
	if (cc == CURLE_UNSUPPORTED_PROTOCOL || cc == CURLE_URL_MALFORMAT)
		return ST_EINVALID;
	return ST_ENET;
}

int st_http_fetch(const char *url, int fd, int64_t *out_mtime, struct st_error *err)
{
	struct fetch_sink s = {fd, 0, err};
	CURL *h;
	CURLcode cc;
	long status = 0;
	curl_off_t ft = -1;

	*out_mtime = 0;
	if (st_curl_load(err) < 0)
		return st_error_wrap(err, "GET %s", url);
	h = curl_easy_init();
	if (!h)
		return st_error_set(err, ST_ENOMEM, "GET %s: out of memory", url);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "strata/0.1");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
	curl_easy_setopt(h, CURLOPT_FAILONERROR, 1L);
	curl_easy_setopt(h, CURLOPT_FILETIME, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, FETCH_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, FETCH_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
	cc = curl_easy_perform(h);
	(void)curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (cc == CURLE_OK && curl_easy_getinfo(h, CURLINFO_FILETIME_T, &ft) == CURLE_OK && ft > 0)
		*out_mtime = (int64_t)ft;
	curl_easy_cleanup(h);
	if (s.rc < 0)
		return st_error_wrap(err, "GET %s", url);
	if (cc != CURLE_OK && status >= 400)
		return st_error_set(err, fetch_code(cc, status), "GET %s: HTTP status %ld", url,
		                    status);
	if (cc != CURLE_OK)
		return st_error_set(err, fetch_code(cc, status), "GET %s: %s", url,
		                    curl_easy_strerror(cc));
	return 0;
}
