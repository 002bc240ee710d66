/* serve-http.c: the libmicrohttpd side of `strata serve`: the daemon (a thread pool of epoll
 * loops), the request lifecycle (headers, body chunks, end), auth, dispatch to the handlers of
 * serve-blob.c and serve-manifest.c, error bodies, the access log and graceful stop. */
#include "serve/serve-http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "strata/image.h"
#include "util/fs.h"
#include "util/json.h"

#include "util/banned.h"

#define API_VERSION "registry/2.0"

const char *srv_header(struct srv_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *srv_query(struct srv_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

uint64_t srv_content_length(struct srv_req *r)
{
	const char *s = srv_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
	uint64_t v;

	return s && st_parse_u64(s, &v) == 0 ? v : UINT64_MAX;
}

enum MHD_Result srv_send(struct srv_req *r, unsigned status, struct MHD_Response *resp)
{
	enum MHD_Result ret;

	if (!resp)
		return MHD_NO;
	(void)MHD_add_response_header(resp, "Docker-Distribution-API-Version", API_VERSION);
	ret = MHD_queue_response(r->conn, status, resp);
	MHD_destroy_response(resp);
	if (ret == MHD_YES)
		r->status = status;
	return ret;
}

enum MHD_Result srv_send_buf(struct srv_req *r, unsigned status, const void *p, size_t len,
                             const char *content_type)
{
	struct MHD_Response *resp =
	        MHD_create_response_from_buffer(len, (void *)p, MHD_RESPMEM_MUST_COPY);

	if (resp && content_type)
		(void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	if (strcmp(r->method, "HEAD") != 0)
		r->bytes_out = len;
	return srv_send(r, status, resp);
}

enum MHD_Result srv_send_empty(struct srv_req *r, unsigned status)
{
	return srv_send(r, status,
	                MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT));
}

enum MHD_Result srv_error(struct srv_req *r, unsigned status, const char *code, const char *msg)
{
	cleanup_json json_t *j =
	        json_pack("{s:[{s:s,s:s,s:{}}]}", "errors", "code", code, "message", msg, "detail");
	cleanup_buf struct st_buf body = ST_BUF_INIT;
	struct MHD_Response *resp;

	if (!j || st_json_dump(j, &body, NULL) < 0)
		return MHD_NO;
	resp = MHD_create_response_from_buffer(body.len, body.data, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	(void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	if (status == MHD_HTTP_UNAUTHORIZED)
		(void)MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
		                              "Basic realm=\"strata\"");
	r->bytes_out = body.len;
	return srv_send(r, status, resp);
}

enum MHD_Result srv_internal(struct srv_req *r, const struct st_error *err)
{
	switch (err->code) {
	case ST_ELIMIT:
		return srv_error(r, MHD_HTTP_TOO_MANY_REQUESTS, "TOOMANYREQUESTS", err->msg);
	case ST_EBUSY:
		return srv_error(r, MHD_HTTP_TOO_MANY_REQUESTS, "TOOMANYREQUESTS", err->msg);
	default:
		st_log(ST_LOG_WARN, "serve: %s %s: %s", r->method, r->uri, err->msg);
		return srv_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "UNKNOWN", "internal error");
	}
}

static bool has_body(const char *method)
{
	return strcmp(method, "PUT") == 0 || strcmp(method, "POST") == 0 ||
	       strcmp(method, "PATCH") == 0;
}

static bool is_read(const char *method)
{
	return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
}

/* 0 to go on, else the response is queued. */
static int gate(struct srv_req *r, enum MHD_Result *ret)
{
	struct st_server *srv = r->srv;
	bool authed = false;

	snprintf(r->user, sizeof(r->user), "-");
	if (srv->auth) {
		const char *h = srv_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
		authed = h && srv_auth_check(srv->auth, h, r->user, sizeof(r->user)) == 0;
		if (!authed && !(srv->opts.anonymous_read && !h && is_read(r->method))) {
			*ret = srv_error(r, MHD_HTTP_UNAUTHORIZED, "UNAUTHORIZED",
			                 "authentication required");
			return -1;
		}
	}
	if (is_read(r->method) || r->route.kind == SRV_BASE)
		return 0;
	if (srv->auth && !authed) {
		*ret = srv_error(r, MHD_HTTP_UNAUTHORIZED, "UNAUTHORIZED",
		                 "authentication required");
		return -1;
	}
	if (srv->opts.read_only) {
		*ret = srv_error(r, MHD_HTTP_FORBIDDEN, "DENIED", "the registry is read-only");
		return -1;
	}
	return 0;
}

static enum MHD_Result route_fault(struct srv_req *r, const struct st_error *err)
{
	switch (r->route.fault) {
	case SRV_FAULT_NAME:
		return srv_error(r, MHD_HTTP_BAD_REQUEST, "NAME_INVALID", err->msg);
	case SRV_FAULT_DIGEST:
		return srv_error(r, MHD_HTTP_BAD_REQUEST, "DIGEST_INVALID", err->msg);
	case SRV_FAULT_TAG:
		return srv_error(r, MHD_HTTP_BAD_REQUEST, "MANIFEST_INVALID", err->msg);
	case SRV_FAULT_UPLOAD:
		return srv_error(r, MHD_HTTP_NOT_FOUND, "BLOB_UPLOAD_UNKNOWN", err->msg);
	default:
		return srv_error(r, MHD_HTTP_NOT_FOUND, "NOT_FOUND", "no such endpoint");
	}
}

static enum MHD_Result unsupported(struct srv_req *r)
{
	return srv_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "UNSUPPORTED", "method not allowed here");
}

static enum MHD_Result dispatch_manifest(struct srv_req *r)
{
	if (is_read(r->method))
		return srv_manifest_get(r, r->method[0] == 'H');
	if (strcmp(r->method, "PUT") == 0) {
		uint64_t cl = srv_content_length(r);
		if (cl != UINT64_MAX && cl > ST_MAX_MANIFEST_SIZE)
			return srv_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "SIZE_INVALID",
			                 "manifest larger than 4 MiB");
		st_buf_init(&r->buf, ST_MAX_MANIFEST_SIZE);
		r->body = BODY_BUF;
		return MHD_YES;
	}
	if (strcmp(r->method, "DELETE") == 0)
		return srv_manifest_delete(r);
	return unsupported(r);
}

static enum MHD_Result dispatch(struct srv_req *r)
{
	const char *m = r->method;

	switch (r->route.kind) {
	case SRV_BASE:
		return is_read(m) ? srv_send_buf(r, MHD_HTTP_OK, "{}", 2, "application/json")
		                  : unsupported(r);
	case SRV_BLOB:
		if (is_read(m))
			return srv_blob_get(r, m[0] == 'H');
		return strcmp(m, "DELETE") == 0 ? srv_blob_delete(r) : unsupported(r);
	case SRV_UPLOAD_NEW:
		return strcmp(m, "POST") == 0 ? srv_upload_begin(r) : unsupported(r);
	case SRV_UPLOAD:
		if (strcmp(m, "GET") == 0)
			return srv_upload_status(r);
		if (strcmp(m, "DELETE") == 0)
			return srv_upload_cancel(r);
		return strcmp(m, "PATCH") == 0 || strcmp(m, "PUT") == 0 ? srv_upload_begin(r)
		                                                        : unsupported(r);
	case SRV_MANIFEST:
		return dispatch_manifest(r);
	case SRV_TAGS:
		return strcmp(m, "GET") == 0 ? srv_tags_get(r) : unsupported(r);
	case SRV_REFERRERS:
		return strcmp(m, "GET") == 0 ? srv_referrers_get(r) : unsupported(r);
	}
	return unsupported(r);
}

static enum MHD_Result begin(struct srv_req *r, const char *url)
{
	struct st_error err = ST_ERROR_INIT;
	enum MHD_Result ret;

	if (st_serve_route_parse(url, &r->route, &err) < 0)
		return route_fault(r, &err);
	if (gate(r, &ret) < 0)
		return ret;
	return dispatch(r);
}

static enum MHD_Result body_data(struct srv_req *r, const char *p, size_t len)
{
	r->bytes_in += len;
	if (r->body == BODY_BUF && st_buf_add(&r->buf, p, len, NULL) < 0) {
		r->too_big = true;
		r->body = BODY_DISCARD;
		st_buf_release(&r->buf);
	} else if (r->body == BODY_UPLOAD) {
		srv_upload_data(r, p, len);
	}
	return MHD_YES;
}

static enum MHD_Result finish(struct srv_req *r)
{
	if (r->route.kind == SRV_MANIFEST) {
		if (r->too_big)
			return srv_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "SIZE_INVALID",
			                 "manifest larger than 4 MiB");
		return srv_manifest_put(r);
	}
	return srv_upload_finish(r);
}

enum MHD_Result srv_on_request(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *upload_data,
                               size_t *upload_data_size, void **con_cls)
{
	struct srv_req *r = *con_cls;

	(void)cls;
	(void)version;
	if (!r)
		return MHD_NO;
	if (!r->started) {
		r->started = true;
		r->conn = conn;
		r->method = method;
		/* libmicrohttpd closes the connection after a response queued before the request
		 * is read whole: requests without a body are answered on the second call */
		if (!has_body(method))
			return MHD_YES;
		return begin(r, url);
	}
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		return body_data(r, upload_data, n);
	}
	if (r->status)
		return MHD_YES;
	if (!has_body(method))
		return begin(r, url);
	return finish(r);
}

void *srv_on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct st_server *srv = cls;
	struct srv_req *r = calloc(1, sizeof(*r));

	(void)conn;
	if (!r)
		return NULL;
	r->srv = srv;
	r->uri = strdup(uri);
	r->buf = (struct st_buf)ST_BUF_INIT;
	clock_gettime(CLOCK_MONOTONIC, &r->t0);
	pthread_mutex_lock(&srv->act_mu);
	srv->active++;
	pthread_mutex_unlock(&srv->act_mu);
	return r;
}

static void access_log(struct srv_req *r, struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
	        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	char host[64] = "-";
	struct timespec t1;
	struct st_serve_access a;

	if (ci && ci->client_addr)
		(void)getnameinfo(ci->client_addr,
		                  ci->client_addr->sa_family == AF_INET6
		                          ? sizeof(struct sockaddr_in6)
		                          : sizeof(struct sockaddr_in),
		                  host, sizeof(host), NULL, 0, NI_NUMERICHOST);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	a = (struct st_serve_access){
	        .remote = host,
	        .user = r->user[0] ? r->user : "-",
	        .method = r->method ? r->method : "-",
	        .uri = r->uri ? r->uri : "-",
	        .status = r->status,
	        .bytes_in = r->bytes_in,
	        .bytes_out = r->bytes_out,
	        .ms = (double)(t1.tv_sec - r->t0.tv_sec) * 1e3 +
	              (double)(t1.tv_nsec - r->t0.tv_nsec) / 1e6,
	};
	r->srv->opts.log(&a, r->srv->opts.log_ctx);
}

void srv_on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
	struct st_server *srv = cls;
	struct srv_req *r = *con_cls;

	if (!r)
		return;
	(void)toe;
	if (r->up) { /* the body never ended: keep what came, unless the session was this one's */
		st_serve_up_abort(&r->up->sm);
		if (r->up_owned || r->up_broken)
			srv_upload_remove(srv, r->up);
		else
			srv_upload_release(srv, r->up);
	}
	if (srv->opts.log)
		access_log(r, conn);
	st_buf_release(&r->buf);
	free(r->uri);
	free(r);
	*con_cls = NULL;
	pthread_mutex_lock(&srv->act_mu);
	srv->active--;
	pthread_cond_broadcast(&srv->act_cv);
	pthread_mutex_unlock(&srv->act_mu);
}

ST_PRINTF(2, 0) void srv_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	st_log(ST_LOG_DEBUG, "serve: %s", msg);
}
