/* curl-api.c: the libcurl table of curl-api.h, filled by dlopen() on first use. */
#include "registry/curl-api.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "util/banned.h" /* last: it poisons names the system headers use */

struct st_curl_api st_curl;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char load_error[256];

#define SYM(field, name)                      \
	{                                     \
		(void **)&st_curl.field, name \
	}

static void load(void)
{
	const struct {
		void **slot;
		const char *name;
	} syms[] = {
	        SYM(global_init, "curl_global_init"),
	        SYM(easy_init, "curl_easy_init"),
	        SYM(easy_setopt, "curl_easy_setopt"),
	        SYM(easy_getinfo, "curl_easy_getinfo"),
	        SYM(easy_perform, "curl_easy_perform"),
	        SYM(easy_cleanup, "curl_easy_cleanup"),
	        SYM(easy_reset, "curl_easy_reset"),
	        SYM(easy_strerror, "curl_easy_strerror"),
	        SYM(easy_header, "curl_easy_header"),
	        SYM(slist_append, "curl_slist_append"),
	        SYM(slist_free_all, "curl_slist_free_all"),
	        SYM(share_init, "curl_share_init"),
	        SYM(share_setopt, "curl_share_setopt"),
	        SYM(share_cleanup, "curl_share_cleanup"),
	        SYM(multi_init, "curl_multi_init"),
	        SYM(multi_setopt, "curl_multi_setopt"),
	        SYM(multi_add_handle, "curl_multi_add_handle"),
	        SYM(multi_remove_handle, "curl_multi_remove_handle"),
	        SYM(multi_perform, "curl_multi_perform"),
	        SYM(multi_poll, "curl_multi_poll"),
	        SYM(multi_info_read, "curl_multi_info_read"),
	        SYM(multi_cleanup, "curl_multi_cleanup"),
	};
	void *h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		(void)snprintf(load_error, sizeof(load_error), "cannot load libcurl: %s",
		               dlerror());
		return;
	}
	for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
		/* POSIX: a data pointer from dlsym may be converted to a function pointer */
		*syms[i].slot = dlsym(h, syms[i].name);
		if (!*syms[i].slot) {
			(void)snprintf(load_error, sizeof(load_error),
			               "libcurl lacks %s (7.83 or later needed)", syms[i].name);
			return;
		}
	}
	if (st_curl.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		(void)snprintf(load_error, sizeof(load_error), "curl_global_init failed");
}

int st_curl_load(struct st_error *err)
{
	(void)pthread_once(&once, load);
	if (load_error[0])
		return st_error_set(err, ST_EUNSUPPORTED, "%s", load_error);
	return 0;
}
