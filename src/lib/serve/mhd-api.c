/* mhd-api.c: the libmicrohttpd table of mhd-api.h, filled by dlopen() on first use. */
#include "serve/mhd-api.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#include "util/banned.h" /* last: it poisons names the system headers use */

struct st_mhd_api st_mhd;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char load_error[256];

#define SYM(field, name)                     \
	{                                    \
		(void **)&st_mhd.field, name \
	}

static void load(void)
{
	const struct {
		void **slot;
		const char *name;
	} syms[] = {
	        SYM(start_daemon, "MHD_start_daemon"),
	        SYM(quiesce_daemon, "MHD_quiesce_daemon"),
	        SYM(stop_daemon, "MHD_stop_daemon"),
	        SYM(get_daemon_info, "MHD_get_daemon_info"),
	        SYM(get_connection_info, "MHD_get_connection_info"),
	        SYM(lookup_connection_value, "MHD_lookup_connection_value"),
	        SYM(queue_response, "MHD_queue_response"),
	        SYM(create_response_from_buffer, "MHD_create_response_from_buffer"),
	        SYM(create_response_from_fd_at_offset64, "MHD_create_response_from_fd_at_offset64"),
	        SYM(add_response_header, "MHD_add_response_header"),
	        SYM(destroy_response, "MHD_destroy_response"),
	};
	void *h = dlopen("libmicrohttpd.so.12", RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		(void)snprintf(load_error, sizeof(load_error), "cannot load libmicrohttpd: %s",
		               dlerror());
		return;
	}
	for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
		/* POSIX: a data pointer from dlsym may be converted to a function pointer */
		*syms[i].slot = dlsym(h, syms[i].name);
		if (!*syms[i].slot) {
			(void)snprintf(load_error, sizeof(load_error), "libmicrohttpd lacks %s",
			               syms[i].name);
			return;
		}
	}
}

int st_mhd_load(struct st_error *err)
{
	(void)pthread_once(&once, load);
	if (load_error[0])
		return st_error_set(err, ST_EUNSUPPORTED, "%s", load_error);
	return 0;
}
