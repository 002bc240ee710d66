/* serve/serve-http.h: one HTTP request as the handlers see it (libmicrohttpd stays in serve/). */
#ifndef ST_SERVE_HTTP_H
#define ST_SERVE_HTTP_H

#include "serve/mhd-api.h"

#include "serve/serve-internal.h"

enum srv_body { BODY_NONE, BODY_BUF, BODY_UPLOAD, BODY_DISCARD };

struct srv_req {
	struct st_server *srv;
	struct MHD_Connection *conn;
	char *uri;
	struct timespec t0;
	const char *method;
	bool started;
	struct st_serve_route route;
	char user[64];
	enum srv_body body;
	struct st_buf buf;      /* manifest bodies */
	struct srv_upload *up;  /* the session this request holds */
	bool up_owned;          /* created by this request (monolithic POST): dropped on failure */
	bool up_broken;         /* a write failed: the session cannot continue */
	enum srv_verdict fault; /* first error seen in the body, answered at its end */
	bool too_big;           /* a manifest past ST_MAX_MANIFEST_SIZE */
	bool want_mount;        /* POST ?mount=: tried when the request is read whole */
	uint64_t bytes_in, bytes_out;
	unsigned status;
};

/* serve-http.c: responses. Every one carries Docker-Distribution-API-Version. */
enum MHD_Result srv_send(struct srv_req *r, unsigned status, struct MHD_Response *resp);
enum MHD_Result srv_send_buf(struct srv_req *r, unsigned status, const void *p, size_t len,
                             const char *content_type);
enum MHD_Result srv_send_empty(struct srv_req *r, unsigned status);
/* {"errors":[{"code":code,"message":msg}]} */
enum MHD_Result srv_error(struct srv_req *r, unsigned status, const char *code, const char *msg);
enum MHD_Result srv_internal(struct srv_req *r, const struct st_error *err);
const char *srv_header(struct srv_req *r, const char *name);
const char *srv_query(struct srv_req *r, const char *name);
/* Content-Length of the request, UINT64_MAX when absent or bad. */
uint64_t srv_content_length(struct srv_req *r);

/* serve-http.c: the daemon's callbacks, for serve-server.c */
enum MHD_Result srv_on_request(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *upload_data,
                               size_t *upload_data_size, void **con_cls);
void *srv_on_uri(void *cls, const char *uri, struct MHD_Connection *conn);
void srv_on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe);
ST_PRINTF(2, 0) void srv_mhd_log(void *cls, const char *fmt, va_list ap);

/* serve-blob.c */
enum MHD_Result srv_blob_get(struct srv_req *r, bool head);
enum MHD_Result srv_blob_delete(struct srv_req *r);
enum MHD_Result srv_upload_begin(struct srv_req *r);
enum MHD_Result srv_upload_finish(struct srv_req *r);
enum MHD_Result srv_upload_status(struct srv_req *r);
enum MHD_Result srv_upload_cancel(struct srv_req *r);
void srv_upload_data(struct srv_req *r, const char *p, size_t len);

/* serve-manifest.c */
enum MHD_Result srv_manifest_get(struct srv_req *r, bool head);
enum MHD_Result srv_manifest_put(struct srv_req *r);
enum MHD_Result srv_manifest_delete(struct srv_req *r);
enum MHD_Result srv_tags_get(struct srv_req *r);
enum MHD_Result srv_referrers_get(struct srv_req *r);

#endif
