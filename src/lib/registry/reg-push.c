/* reg-push.c: `push`: every blob HEADed first and skipped when the registry has it, mounted from
 * another repository of the registry when it is known to live there, else uploaded (one PUT, or
 * PATCH chunks past the chunk size); manifests last, an index after the manifests it names. */
#include "registry/registry-internal.h"

#include <stdlib.h>
#include <string.h>

#include "strata/archive.h"
#include "strata/image.h"
#include "strata/ref.h"
#include "util/cleanup.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

struct push {
	struct st_reg_client *c;
	struct st_store *store;
	const char *repo; /* destination path */
	const char *domain;
	char *repo_name; /* "domain/path" */
};

static int request(struct push *p, struct st_reg_req *rq, struct st_reg_resp *rs,
                   const char *scope_extra, struct st_error *err)
{
	cleanup_buf struct st_buf scope = ST_BUF_INIT;

	if (st_reg_scope(p->repo, "pull,push", &scope, err) < 0 ||
	    (scope_extra && st_buf_addf(&scope, err, " %s", scope_extra) < 0))
		return -ST_ENOMEM;
	rq->scope = scope.data;
	rq->repo = p->repo;
	return st_reg_do(p->c, rq, rs, err);
}

static int blob_exists(struct push *p, const char *dg, bool *out, struct st_error *err)
{
	cleanup_buf struct st_buf url = ST_BUF_INIT;
	struct st_reg_req rq = ST_REG_REQ_INIT;
	struct st_reg_resp rs = {0};
	int rc;

	if (st_buf_addf(&url, err, "/v2/%s/blobs/%s", p->repo, dg) < 0)
		return -ST_ENOMEM;
	rq.method = "HEAD";
	rq.url = url.data;
	rq.what = dg;
	rc = request(p, &rq, &rs, NULL, err);
	if (rc == 0 && rs.status != 200 && rs.status != 404)
		rc = st_reg_status_error(p->c, &rq, &rs, err);
	*out = rs.status == 200;
	st_reg_resp_release(&rs);
	return rc;
}

/* POST an upload session (a mount attempt when `from` is set): 201 mounted, 202 Location. */
static int start_upload(struct push *p, const char *dg, const char *from, bool *mounted,
                        char **location, struct st_error *err)
{
	cleanup_buf struct st_buf url = ST_BUF_INIT, extra = ST_BUF_INIT;
	struct st_reg_req rq = ST_REG_REQ_INIT;
	struct st_reg_resp rs = {0};
	int rc;

	if (st_buf_addf(&url, err, "/v2/%s/blobs/uploads/", p->repo) < 0 ||
	    (from && (st_buf_addf(&url, err, "?mount=%s&from=%s", dg, from) < 0 ||
	              st_reg_scope(from, "pull", &extra, err) < 0)))
		return -ST_ENOMEM;
	rq.method = "POST";
	rq.url = url.data;
	rq.what = dg;
	rc = request(p, &rq, &rs, from ? extra.data : NULL, err);
	*mounted = rc == 0 && rs.status == 201 && from;
	if (rc == 0 && !*mounted && rs.status != 202)
		rc = st_reg_status_error(p->c, &rq, &rs, err);
	if (rc == 0 && !*mounted) {
		if (!rs.location)
			rc = st_error_set(err, ST_ENET, "registry %s: upload of %s: no Location",
			                  p->domain, dg);
		else
			*location = take_ptr(&rs.location);
	}
	st_reg_resp_release(&rs);
	return rc;
}

/* Sends fd[off..off+len) to the upload at *location; PUT (with `query`) or PATCH. */
static int send_part(struct push *p, const struct st_descriptor *d, enum st_reg_kind kind, int fd,
                     uint64_t off, uint64_t len, const char *query, char **location,
                     struct st_error *err)
{
	cleanup_buf struct st_buf url = ST_BUF_INIT;
	struct st_reg_req rq = ST_REG_REQ_INIT;
	struct st_reg_resp rs = {0};
	char dg[ST_DIGEST_STR_MAX], range[48];
	bool put = query != NULL;
	int rc;

	st_digest_str(&d->digest, dg);
	if (st_reg_upload_url("", *location, query, &url, err) < 0)
		return -ST_ENOMEM;
	rq.method = put ? "PUT" : "PATCH";
	rq.url = url.data;
	rq.what = dg;
	rq.body_fd = fd;
	rq.fd_offset = off;
	rq.fd_len = len;
	rq.digest = &d->digest;
	rq.kind = kind;
	rq.content_type = "application/octet-stream";
	if (!put && len > 0) {
		snprintf(range, sizeof(range), "%llu-%llu", (unsigned long long)off,
		         (unsigned long long)(off + len - 1));
		rq.content_range = range;
	}
	rc = request(p, &rq, &rs, NULL, err);
	if (rc == 0 && rs.status != (put ? 201 : 202))
		rc = st_reg_status_error(p->c, &rq, &rs, err);
	if (rc == 0 && !put && rs.location) {
		free(*location);
		*location = take_ptr(&rs.location);
	}
	st_reg_resp_release(&rs);
	return rc;
}

static int upload(struct push *p, const struct st_descriptor *d, enum st_reg_kind kind,
                  char **location, struct st_error *err)
{
	cleanup_fd int fd = -1;
	cleanup_buf struct st_buf q = ST_BUF_INIT;
	uint64_t chunk = st_reg_client_conf(p->c)->chunk_size, off = 0;
	char dg[ST_DIGEST_STR_MAX];
	int rc = st_store_open_blob(p->store, &d->digest, &fd, err);

	if (rc < 0)
		return rc;
	st_digest_str(&d->digest, dg);
	if (st_buf_adds(&q, "digest=", err) < 0 || st_reg_urlencode(dg, &q, err) < 0)
		return -ST_ENOMEM;
	if (d->size <= chunk)
		return send_part(p, d, kind, fd, 0, d->size, q.data, location, err);
	for (; off < d->size; off += chunk) {
		uint64_t len = d->size - off < chunk ? d->size - off : chunk;
		rc = send_part(p, d, kind, fd, off, len, NULL, location, err);
		if (rc < 0)
			return rc;
	}
	return send_part(p, d, kind, fd, 0, 0, q.data, location, err);
}

static int push_blob(struct push *p, const struct st_descriptor *d, enum st_reg_kind kind,
                     struct st_error *err)
{
	cleanup_buf struct st_buf from = ST_BUF_INIT;
	cleanup_free char *location = NULL;
	char dg[ST_DIGEST_STR_MAX];
	bool have = false, mounted = false;
	int rc;

	st_digest_str(&d->digest, dg);
	st_reg_report(p->c, ST_REG_WAITING, kind, &d->digest, 0, d->size);
	rc = blob_exists(p, dg, &have, err);
	if (rc < 0)
		return rc;
	if (have) {
		st_reg_report(p->c, ST_REG_EXISTS, kind, &d->digest, d->size, d->size);
		st_reg_sources_add(p->store, &d->digest, p->repo_name);
		return 0;
	}
	if (st_reg_sources_find(p->store, &d->digest, p->domain, p->repo, &from, NULL) < 0)
		st_buf_reset(&from);
	rc = start_upload(p, dg, from.len ? from.data : NULL, &mounted, &location, err);
	if (rc == 0 && !mounted) {
		st_reg_report(p->c, ST_REG_UPLOADING, kind, &d->digest, 0, d->size);
		rc = upload(p, d, kind, &location, err);
	}
	if (rc < 0)
		return rc;
	st_reg_report(p->c, mounted ? ST_REG_MOUNTED : ST_REG_DONE, kind, &d->digest, d->size,
	              d->size);
	st_reg_sources_add(p->store, &d->digest, p->repo_name);
	return 0;
}

/* PUT of a manifest or index under `reference` (a tag or its digest). */
static int put_doc(struct push *p, const struct st_descriptor *d, const struct st_buf *body,
                   const char *reference, struct st_error *err)
{
	cleanup_buf struct st_buf url = ST_BUF_INIT;
	struct st_reg_req rq = ST_REG_REQ_INIT;
	struct st_reg_resp rs = {0};
	struct st_digest got;
	char dg[ST_DIGEST_STR_MAX];
	int rc;

	st_digest_str(&d->digest, dg);
	if (st_buf_addf(&url, err, "/v2/%s/manifests/%s", p->repo, reference) < 0)
		return -ST_ENOMEM;
	rq.method = "PUT";
	rq.url = url.data;
	rq.what = dg;
	rq.body = body->data;
	rq.body_len = body->len;
	rq.content_type = d->media_type;
	rc = request(p, &rq, &rs, NULL, err);
	if (rc == 0 && rs.status != 201)
		rc = st_reg_status_error(p->c, &rq, &rs, err);
	if (rc == 0 && rs.docker_digest && st_digest_parse_str(rs.docker_digest, &got, NULL) == 0 &&
	    !st_digest_equal(&got, &d->digest))
		rc = st_error_set(err, ST_EDIGEST, "registry %s: manifest %s stored as %s",
		                  p->domain, dg, rs.docker_digest);
	if (rc == 0)
		st_reg_report(p->c, ST_REG_DONE, ST_REG_BLOB_MANIFEST, &d->digest, d->size,
		              d->size);
	st_reg_resp_release(&rs);
	return rc;
}

/* The blobs of one manifest, then the manifest itself. */
static int push_manifest(struct push *p, const struct st_descriptor *d, const char *reference,
                         struct st_error *err)
{
	cleanup_buf struct st_buf body = ST_BUF_INIT;
	struct st_manifest m;
	int rc = st_image_read(p->store, d, ST_MAX_MANIFEST_SIZE, &body, err);

	if (rc < 0)
		return rc;
	rc = st_manifest_parse(body.data, body.len, d->media_type, &m, err);
	if (rc < 0)
		return rc;
	rc = push_blob(p, &m.config, ST_REG_BLOB_CONFIG, err);
	for (size_t i = 0; rc == 0 && i < m.n_layers; i++)
		rc = push_blob(p, &m.layers[i], ST_REG_BLOB_LAYER, err);
	st_manifest_release(&m);
	return rc < 0 ? rc : put_doc(p, d, &body, reference, err);
}

static int push_index(struct push *p, const struct st_descriptor *d, const char *reference,
                      struct st_error *err)
{
	cleanup_buf struct st_buf body = ST_BUF_INIT;
	struct st_index ix;
	char dg[ST_DIGEST_STR_MAX];
	int rc = st_image_read(p->store, d, ST_MAX_MANIFEST_SIZE, &body, err);

	if (rc < 0 || (rc = st_index_parse(body.data, body.len, d->media_type, &ix, err)) < 0)
		return rc;
	for (size_t i = 0; rc == 0 && i < ix.n_manifests; i++) {
		st_digest_str(&ix.manifests[i].digest, dg);
		if (!st_store_has_blob(p->store, &ix.manifests[i].digest))
			rc = st_error_set(err, ST_ENOTFOUND,
			                  "the index names manifest %s, which is not in the store "
			                  "(pull it with --all-platforms first)",
			                  dg);
		else
			rc = push_manifest(p, &ix.manifests[i], dg, err);
	}
	st_index_release(&ix);
	return rc < 0 ? rc : put_doc(p, d, &body, reference, err);
}

/* True when the registry's tag already names exactly this digest: then every blob is there. */
static bool already_there(struct push *p, const struct st_descriptor *d, const char *reference)
{
	cleanup_buf struct st_buf url = ST_BUF_INIT;
	struct st_reg_req rq = ST_REG_REQ_INIT;
	struct st_reg_resp rs = {0};
	struct st_digest got;
	bool same;

	if (st_buf_addf(&url, NULL, "/v2/%s/manifests/%s", p->repo, reference) < 0)
		return false;
	rq.method = "HEAD";
	rq.url = url.data;
	rq.accept = d->media_type;
	same = request(p, &rq, &rs, NULL, NULL) == 0 && rs.status == 200 && rs.docker_digest &&
	       st_digest_parse_str(rs.docker_digest, &got, NULL) == 0 &&
	       st_digest_equal(&got, &d->digest);
	st_reg_resp_release(&rs);
	return same;
}

static int push_desc(struct push *p, const struct st_descriptor *d, const char *reference,
                     struct st_error *err)
{
	if (already_there(p, d, reference)) {
		st_reg_report(p->c, ST_REG_EXISTS, ST_REG_BLOB_MANIFEST, &d->digest, d->size,
		              d->size);
		return 0;
	}
	if (st_manifest_kind_is_index(st_manifest_kind_of(d->media_type)))
		return push_index(p, d, reference, err);
	return push_manifest(p, d, reference, err);
}

int st_registry_push(struct st_store *store, const char *src, const char *dest,
                     const struct st_registry_opts *opts, struct st_digest *out_digest,
                     struct st_error *err)
{
	struct push p = {0};
	struct st_descriptor d = {0};
	struct st_ref r;
	char ref[ST_DIGEST_STR_MAX];
	int rc = st_ref_parse(dest ? dest : src, &r, err);

	if (rc < 0)
		return rc;
	rc = st_image_lookup(store, src, &d, err);
	if (rc == -ST_ENOTFOUND && err && !err->msg[0])
		st_error_set(err, ST_ENOTFOUND, "no image '%s' in the store", src);
	if (rc == 0 && r.has_digest && !st_digest_equal(&r.digest, &d.digest))
		rc = st_error_set(err, ST_EINVALID, "destination digest does not match the image");
	if (rc == 0)
		rc = st_reg_client_new(r.domain, opts, &p.c, err);
	if (rc == 0) {
		p.store = store;
		p.repo = r.path;
		p.domain = r.domain;
		p.repo_name = malloc(strlen(r.domain) + strlen(r.path) + 2);
		if (!p.repo_name)
			rc = st_error_set(err, ST_ENOMEM, "out of memory");
	}
	if (rc == 0) {
		snprintf(p.repo_name, strlen(r.domain) + strlen(r.path) + 2, "%s/%s", r.domain,
		         r.path);
		st_digest_str(&d.digest, ref);
		rc = push_desc(&p, &d, r.tag ? r.tag : ref, err);
	}
	if (rc == 0 && out_digest)
		*out_digest = d.digest;
	free(p.repo_name);
	st_reg_client_free(p.c);
	st_descriptor_release(&d);
	st_ref_release(&r);
	return rc;
}
