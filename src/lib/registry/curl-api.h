/* registry/curl-api.h: libcurl, loaded on first use. Only pull, push, login and ADD <url> need
 * HTTP, and mapping libcurl with its dependencies costs every `strata` process ~6 ms at start
 * (a third of `strata run --rm IMAGE true`), so the registry module reaches libcurl through this
 * table, filled by dlopen() the first time a client is made. Include this, never <curl/curl.h>. */
#ifndef ST_CURL_API_H
#define ST_CURL_API_H

#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>

#include "strata/common.h"

struct st_curl_api {
	CURLcode (*global_init)(long flags);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *h, CURLoption opt, ...);
	CURLcode (*easy_getinfo)(CURL *h, CURLINFO info, ...);
	CURLcode (*easy_perform)(CURL *h);
	void (*easy_cleanup)(CURL *h);
	void (*easy_reset)(CURL *h);
	const char *(*easy_strerror)(CURLcode code);
	CURLHcode (*easy_header)(CURL *h, const char *name, size_t index, unsigned int origin,
	                         int request, struct curl_header **hout);
	struct curl_slist *(*slist_append)(struct curl_slist *list, const char *s);
	void (*slist_free_all)(struct curl_slist *list);
	CURLSH *(*share_init)(void);
	CURLSHcode (*share_setopt)(CURLSH *sh, CURLSHoption opt, ...);
	CURLSHcode (*share_cleanup)(CURLSH *sh);
	CURLM *(*multi_init)(void);
	CURLMcode (*multi_setopt)(CURLM *m, CURLMoption opt, ...);
	CURLMcode (*multi_add_handle)(CURLM *m, CURL *h);
	CURLMcode (*multi_remove_handle)(CURLM *m, CURL *h);
	CURLMcode (*multi_perform)(CURLM *m, int *running);
	CURLMcode (*multi_poll)(CURLM *m, struct curl_waitfd extra[], unsigned int n,
	                        int timeout_ms, int *numfds);
	CURLMsg *(*multi_info_read)(CURLM *m, int *left);
	CURLMcode (*multi_cleanup)(CURLM *m);
};

extern struct st_curl_api st_curl;

/* Loads libcurl once and runs curl_global_init; -ST_EUNSUPPORTED naming what is missing. Every
 * entry point of the registry module calls it before any curl_* call. */
int st_curl_load(struct st_error *err);

#undef curl_easy_setopt
#undef curl_easy_getinfo
#undef curl_share_setopt
#undef curl_multi_setopt
#define curl_global_init(...) st_curl.global_init(__VA_ARGS__)
#define curl_easy_init(...) st_curl.easy_init(__VA_ARGS__)
#define curl_easy_setopt(...) st_curl.easy_setopt(__VA_ARGS__)
#define curl_easy_getinfo(...) st_curl.easy_getinfo(__VA_ARGS__)
#define curl_easy_perform(...) st_curl.easy_perform(__VA_ARGS__)
#define curl_easy_cleanup(...) st_curl.easy_cleanup(__VA_ARGS__)
#define curl_easy_reset(...) st_curl.easy_reset(__VA_ARGS__)
#define curl_easy_strerror(...) st_curl.easy_strerror(__VA_ARGS__)
#define curl_easy_header(...) st_curl.easy_header(__VA_ARGS__)
#define curl_slist_append(...) st_curl.slist_append(__VA_ARGS__)
#define curl_slist_free_all(...) st_curl.slist_free_all(__VA_ARGS__)
#define curl_share_init(...) st_curl.share_init(__VA_ARGS__)
#define curl_share_setopt(...) st_curl.share_setopt(__VA_ARGS__)
#define curl_share_cleanup(...) st_curl.share_cleanup(__VA_ARGS__)
#define curl_multi_init(...) st_curl.multi_init(__VA_ARGS__)
#define curl_multi_setopt(...) st_curl.multi_setopt(__VA_ARGS__)
#define curl_multi_add_handle(...) st_curl.multi_add_handle(__VA_ARGS__)
#define curl_multi_remove_handle(...) st_curl.multi_remove_handle(__VA_ARGS__)
#define curl_multi_perform(...) st_curl.multi_perform(__VA_ARGS__)
#define curl_multi_poll(...) st_curl.multi_poll(__VA_ARGS__)
#define curl_multi_info_read(...) st_curl.multi_info_read(__VA_ARGS__)
#define curl_multi_cleanup(...) st_curl.multi_cleanup(__VA_ARGS__)

#endif
