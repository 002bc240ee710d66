/* serve/mhd-api.h: libmicrohttpd, loaded on first use. Only `strata serve` needs it, and mapping
 * it with GnuTLS and its dependencies cost every `strata` process ~2 ms of its ~6 ms start, so
 * serve/ reaches libmicrohttpd through this table, filled by dlopen() when a server starts
 * (st_serve_start calls st_mhd_load first). Include this, never <microhttpd.h>. */
#ifndef ST_MHD_API_H
#define ST_MHD_API_H

#include <microhttpd.h>

#include "strata/common.h"

struct st_mhd_api {
	struct MHD_Daemon *(*start_daemon)(unsigned int flags, uint16_t port,
	                                   MHD_AcceptPolicyCallback apc, void *apc_cls,
	                                   MHD_AccessHandlerCallback dh, void *dh_cls, ...);
	MHD_socket (*quiesce_daemon)(struct MHD_Daemon *daemon);
	void (*stop_daemon)(struct MHD_Daemon *daemon);
	const union MHD_DaemonInfo *(*get_daemon_info)(struct MHD_Daemon *daemon,
	                                               enum MHD_DaemonInfoType info_type, ...);
	const union MHD_ConnectionInfo *(*get_connection_info)(
	        struct MHD_Connection *connection, enum MHD_ConnectionInfoType info_type, ...);
	const char *(*lookup_connection_value)(struct MHD_Connection *connection,
	                                       enum MHD_ValueKind kind, const char *key);
	enum MHD_Result (*queue_response)(struct MHD_Connection *connection,
	                                  unsigned int status_code, struct MHD_Response *response);
	struct MHD_Response *(*create_response_from_buffer)(size_t size, void *buffer,
	                                                    enum MHD_ResponseMemoryMode mode);
	struct MHD_Response *(*create_response_from_fd_at_offset64)(uint64_t size, int fd,
	                                                            uint64_t offset);
	enum MHD_Result (*add_response_header)(struct MHD_Response *response, const char *header,
	                                       const char *content);
	void (*destroy_response)(struct MHD_Response *response);
};

extern struct st_mhd_api st_mhd;

/* Loads libmicrohttpd once; -ST_EUNSUPPORTED naming what is missing. st_serve_start calls it
 * before any MHD_* call; nothing else in serve/ runs without a started server. */
int st_mhd_load(struct st_error *err);

#undef MHD_create_response_from_fd_at_offset64
#define MHD_start_daemon(...) st_mhd.start_daemon(__VA_ARGS__)
#define MHD_quiesce_daemon(...) st_mhd.quiesce_daemon(__VA_ARGS__)
#define MHD_stop_daemon(...) st_mhd.stop_daemon(__VA_ARGS__)
#define MHD_get_daemon_info(...) st_mhd.get_daemon_info(__VA_ARGS__)
#define MHD_get_connection_info(...) st_mhd.get_connection_info(__VA_ARGS__)
#define MHD_lookup_connection_value(...) st_mhd.lookup_connection_value(__VA_ARGS__)
#define MHD_queue_response(...) st_mhd.queue_response(__VA_ARGS__)
#define MHD_create_response_from_buffer(...) st_mhd.create_response_from_buffer(__VA_ARGS__)
#define MHD_create_response_from_fd_at_offset64(...) \
	st_mhd.create_response_from_fd_at_offset64(__VA_ARGS__)
#define MHD_add_response_header(...) st_mhd.add_response_header(__VA_ARGS__)
#define MHD_destroy_response(...) st_mhd.destroy_response(__VA_ARGS__)

#endif
