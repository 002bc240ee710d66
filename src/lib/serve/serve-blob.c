/* serve-blob.c: blobs and uploads. GET streams the blob file (sendfile without TLS) with
 * Range; uploads stream into a session's blob writer, in order (Content-Range must start at
 * the session's offset, else 416), and the final PUT commits only a matching digest. */
#include "serve/serve-http.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"

#include "util/banned.h"

static enum MHD_Result blob_unknown(struct srv_req *r)
{
	return srv_error(r, MHD_HTTP_NOT_FOUND, "BLOB_UNKNOWN", "blob unknown to registry");
}

enum MHD_Result srv_blob_get(struct srv_req *r, bool head)
{
	struct st_server *srv = r->srv;
	struct MHD_Response *resp;
	char ds[ST_DIGEST_STR_MAX], cr[96];
	uint64_t start = 0, len;
	struct stat st;
	int fd = -1, rr;

	if (!srv_repo_holds(srv, r->route.name, &r->route.digest, false) ||
	    st_store_open_blob(srv->store, &r->route.digest, &fd, NULL) < 0)
		return blob_unknown(r);
	if (fstat(fd, &st) < 0) {
		(void)close(fd);
		return blob_unknown(r);
	}
	len = (uint64_t)st.st_size;
	rr = st_serve_parse_range(srv_header(r, MHD_HTTP_HEADER_RANGE), len, &start, &len);
	if (rr < 0) {
		(void)close(fd);
		resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
		snprintf(cr, sizeof(cr), "bytes */%llu", (unsigned long long)st.st_size);
		if (resp)
			(void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
		return srv_send(r, MHD_HTTP_RANGE_NOT_SATISFIABLE, resp);
	}
	resp = MHD_create_response_from_fd_at_offset64(len, fd, start); /* owns fd */
	if (!resp) {
		(void)close(fd);
		return MHD_NO;
	}
	st_digest_str(&r->route.digest, ds);
	(void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	                              "application/octet-stream");
	(void)MHD_add_response_header(resp, "Docker-Content-Digest", ds);
	(void)MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
	(void)MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, ds);
	if (rr > 0) {
		snprintf(cr, sizeof(cr), "bytes %llu-%llu/%llu", (unsigned long long)start,
		         (unsigned long long)(start + len - 1), (unsigned long long)st.st_size);
		(void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
	}
	r->bytes_out = head ? 0 : len;
	return srv_send(r, rr > 0 ? MHD_HTTP_PARTIAL_CONTENT : MHD_HTTP_OK, resp);
}

enum MHD_Result srv_blob_delete(struct srv_req *r)
{
	struct st_server *srv = r->srv;
	int rc;

	if (!srv->opts.enable_delete)
		return srv_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "UNSUPPORTED",
		                 "deletes are disabled (--enable-delete)");
	pthread_mutex_lock(&srv->write_mu);
	rc = srv_link_remove(srv->repos_fd, r->route.name, SRV_LINK_LAYER, &r->route.digest, NULL);
	pthread_mutex_unlock(&srv->write_mu);
	if (rc < 0)
		return blob_unknown(r);
	return srv_send_empty(r, MHD_HTTP_ACCEPTED);
}

/* Location, Range and Docker-Upload-UUID of a session. */
static enum MHD_Result session_reply_at(struct srv_req *r, unsigned status, const char *repo,
                                        const char *id, uint64_t off)
{
	cleanup_buf struct st_buf loc = ST_BUF_INIT;
	struct MHD_Response *resp =
	        MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	char range[64];

	if (!resp || st_buf_addf(&loc, NULL, "/v2/%s/blobs/uploads/%s", repo, id) < 0) {
		if (resp)
			MHD_destroy_response(resp);
		return MHD_NO;
	}
	snprintf(range, sizeof(range), "0-%llu", (unsigned long long)(off ? off - 1 : 0));
	(void)MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, loc.data);
	(void)MHD_add_response_header(resp, MHD_HTTP_HEADER_RANGE, range);
	(void)MHD_add_response_header(resp, "Docker-Upload-UUID", id);
	return srv_send(r, status, resp);
}

static enum MHD_Result session_reply(struct srv_req *r, unsigned status, struct srv_upload *up)
{
	return session_reply_at(r, status, up->repo, up->id, up->sm.offset);
}

static enum MHD_Result blob_created(struct srv_req *r, const struct st_digest *d)
{
	cleanup_buf struct st_buf loc = ST_BUF_INIT;
	struct MHD_Response *resp =
	        MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	char ds[ST_DIGEST_STR_MAX];

	st_digest_str(d, ds);
	if (!resp || st_buf_addf(&loc, NULL, "/v2/%s/blobs/%s", r->route.name, ds) < 0) {
		if (resp)
			MHD_destroy_response(resp);
		return MHD_NO;
	}
	(void)MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, loc.data);
	(void)MHD_add_response_header(resp, "Docker-Content-Digest", ds);
	return srv_send(r, MHD_HTTP_CREATED, resp);
}

/* POST ?mount=<digest>&from=<repo>: 201 when `from` holds the blob (a link is written), else
 * 0 to fall back to a session. */
static int try_mount(struct srv_req *r, enum MHD_Result *ret)
{
	struct st_server *srv = r->srv;
	const char *mount = srv_query(r, "mount"), *from = srv_query(r, "from");
	struct st_digest d;
	int rc;

	if (!mount || st_digest_parse_str(mount, &d, NULL) < 0) {
		if (!mount)
			return 0;
		*ret = srv_error(r, MHD_HTTP_BAD_REQUEST, "DIGEST_INVALID", "bad mount digest");
		return 1;
	}
	if (!from || st_ref_valid_repository(from, NULL) < 0 ||
	    !srv_repo_holds(srv, from, &d, false) || !st_store_has_blob(srv->store, &d))
		return 0;
	pthread_mutex_lock(&srv->write_mu);
	rc = st_store_lease(srv->store, NULL);
	if (rc == 0) {
		/* under the lease: gc cannot take the blob between the check and the link */
		rc = st_store_has_blob(srv->store, &d)
		             ? srv_link_write(srv->repos_fd, r->route.name, SRV_LINK_LAYER, &d,
		                              NULL, NULL)
		             : -ST_ENOTFOUND;
		st_store_unlease(srv->store);
	}
	pthread_mutex_unlock(&srv->write_mu);
	if (rc < 0)
		return 0;
	*ret = blob_created(r, &d);
	return 1;
}

static enum MHD_Result verdict_error(struct srv_req *r, enum srv_verdict v)
{
	switch (v) {
	case SRV_UP_RANGE:
		return srv_error(r, MHD_HTTP_RANGE_NOT_SATISFIABLE, "BLOB_UPLOAD_INVALID",
		                 "chunk does not start at the upload's offset");
	case SRV_UP_TOO_LARGE:
		return srv_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "SIZE_INVALID",
		                 "more bytes than declared");
	case SRV_UP_SHORT:
		return srv_error(r, MHD_HTTP_BAD_REQUEST, "SIZE_INVALID",
		                 "fewer bytes than declared");
	case SRV_UP_BUSY:
		return srv_error(r, MHD_HTTP_RANGE_NOT_SATISFIABLE, "BLOB_UPLOAD_INVALID",
		                 "another request is writing this upload");
	default:
		return srv_error(r, MHD_HTTP_BAD_REQUEST, "BLOB_UPLOAD_INVALID",
		                 "malformed Content-Range or Content-Length");
	}
}

/* Opens the body of a POST, PATCH or PUT into a session. */
static enum MHD_Result open_chunk(struct srv_req *r)
{
	const char *crange = NULL;
	enum srv_verdict v;

	if (strcmp(r->method, "PATCH") == 0)
		crange = srv_header(r, MHD_HTTP_HEADER_CONTENT_RANGE);
	v = st_serve_up_begin(&r->up->sm, crange, srv_content_length(r));
	if (v != SRV_UP_OK) {
		struct srv_upload *up = r->up;
		r->up = NULL;
		if (r->up_owned)
			srv_upload_remove(r->srv, up);
		else
			srv_upload_release(r->srv, up);
		return verdict_error(r, v);
	}
	r->body = BODY_UPLOAD;
	return MHD_YES;
}

enum MHD_Result srv_upload_begin(struct srv_req *r)
{
	struct st_error err = ST_ERROR_INIT;
	enum MHD_Result ret;
	int rc;

	if (r->route.kind == SRV_UPLOAD) {
		rc = srv_upload_acquire(r->srv, r->route.name, r->route.ref, &r->up);
		if (rc == -ST_EBUSY)
			return verdict_error(r, SRV_UP_BUSY);
		if (rc < 0)
			return srv_error(r, MHD_HTTP_NOT_FOUND, "BLOB_UPLOAD_UNKNOWN",
			                 "upload unknown to registry");
		return open_chunk(r);
	}
	if (srv_query(r, "mount") && !r->want_mount) {
		r->want_mount = true;
		r->body = BODY_DISCARD;
		return MHD_YES;
	}
	if (r->want_mount && try_mount(r, &ret))
		return ret;
	rc = srv_upload_create(r->srv, r->route.name, &r->up, &err);
	if (rc < 0)
		return srv_internal(r, &err);
	r->up_owned = srv_query(r, "digest") != NULL;
	return open_chunk(r);
}

void srv_upload_data(struct srv_req *r, const char *p, size_t len)
{
	enum srv_verdict v;

	if (r->fault != SRV_UP_OK || r->up_broken)
		return;
	v = st_serve_up_data(&r->up->sm, len);
	if (v != SRV_UP_OK) {
		r->fault = v;
		r->up_broken = true;
		return;
	}
	if (srv_upload_write(r->up, p, len, NULL) < 0)
		r->up_broken = true;
}

/* PUT (or monolithic POST): the digest must match the bytes, then the blob is linked. */
static enum MHD_Result complete(struct srv_req *r, struct srv_upload *up)
{
	struct st_error err = ST_ERROR_INIT;
	const char *ds = srv_query(r, "digest");
	struct st_digest d;
	int rc;

	if (!ds || st_digest_parse_str(ds, &d, NULL) < 0) {
		srv_upload_release(r->srv, up);
		return srv_error(r, MHD_HTTP_BAD_REQUEST, "DIGEST_INVALID",
		                 ds ? "malformed digest" : "missing ?digest=");
	}
	rc = srv_upload_commit(r->srv, up, &d, &err); /* removes the session */
	if (rc == -ST_EDIGEST)
		return srv_error(r, MHD_HTTP_BAD_REQUEST, "DIGEST_INVALID", err.msg);
	if (rc < 0)
		return srv_internal(r, &err);
	return blob_created(r, &d);
}

enum MHD_Result srv_upload_finish(struct srv_req *r)
{
	struct srv_upload *up = r->up;
	enum MHD_Result ret;
	enum srv_verdict v;

	if (r->want_mount) { /* a session when the mount cannot be done */
		ret = srv_upload_begin(r);
		if (!r->up || r->status)
			return ret;
		up = r->up;
		(void)st_serve_up_end(&up->sm);
		r->up = NULL;
		ret = session_reply(r, MHD_HTTP_ACCEPTED, up);
		srv_upload_release(r->srv, up);
		return ret;
	}
	if (!up)
		return srv_error(r, MHD_HTTP_BAD_REQUEST, "BLOB_UPLOAD_INVALID", "no upload");
	r->up = NULL;
	v = r->fault != SRV_UP_OK ? r->fault : st_serve_up_end(&up->sm);
	if (r->up_broken || v != SRV_UP_OK) {
		srv_upload_remove(r->srv, up);
		return v != SRV_UP_OK ? verdict_error(r, v)
		                      : srv_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "UNKNOWN",
		                                  "cannot write the upload");
	}
	if (strcmp(r->method, "PUT") == 0 || r->up_owned)
		return complete(r, up);
	ret = session_reply(r, MHD_HTTP_ACCEPTED, up);
	srv_upload_release(r->srv, up);
	return ret;
}

/* GET of a session: the bytes it holds so far, also while another request writes into it (a
 * client that lost its connection mid-PATCH asks where to resume before the server has noticed
 * the loss). */
enum MHD_Result srv_upload_status(struct srv_req *r)
{
	uint64_t off;

	if (srv_upload_offset(r->srv, r->route.name, r->route.ref, &off) < 0)
		return srv_error(r, MHD_HTTP_NOT_FOUND, "BLOB_UPLOAD_UNKNOWN",
		                 "upload unknown to registry");
	return session_reply_at(r, MHD_HTTP_NO_CONTENT, r->route.name, r->route.ref, off);
}

enum MHD_Result srv_upload_cancel(struct srv_req *r)
{
	struct srv_upload *up;
	int rc = srv_upload_acquire(r->srv, r->route.name, r->route.ref, &up);

	if (rc < 0)
		return srv_error(r, MHD_HTTP_NOT_FOUND, "BLOB_UPLOAD_UNKNOWN",
		                 "upload unknown to registry");
	srv_upload_remove(r->srv, up);
	return srv_send_empty(r, MHD_HTTP_NO_CONTENT);
}
