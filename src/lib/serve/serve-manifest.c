/* serve-manifest.c: manifests (by tag and by digest, byte for byte as pushed), tags lists and
 * the referrers API. A manifest is accepted only when it parses and every blob and manifest it
 * names is held by the repository; it lands as a blob, a revision link and (by tag) the store
 * name <name>/<repo>:<tag>, all under the store's lease so gc never sees half of it. */
#include "serve/serve-http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strata/image.h"
#include "util/cleanup.h"
#include "util/json.h"

#include "util/banned.h"

static enum MHD_Result manifest_unknown(struct srv_req *r)
{
	return srv_error(r, MHD_HTTP_NOT_FOUND, "MANIFEST_UNKNOWN", "manifest unknown to registry");
}

/* Resolves the route's reference to a digest and media type (malloc'd, may be NULL). */
static int resolve(struct srv_req *r, struct st_digest *d, char **mt)
{
	cleanup_buf struct st_buf name = ST_BUF_INIT;
	struct st_descriptor desc = {0};
	int rc;

	if (r->route.is_digest) {
		if (!srv_repo_holds(r->srv, r->route.name, &r->route.digest, true))
			return -ST_ENOTFOUND;
		*d = r->route.digest;
		*mt = srv_link_media_type(r->srv->repos_fd, r->route.name, d);
		return 0;
	}
	rc = srv_store_name(r->srv, r->route.name, r->route.ref, &name, NULL);
	if (rc == 0)
		rc = st_store_resolve(r->srv->store, name.data, &desc, NULL);
	if (rc < 0)
		return rc;
	*d = desc.digest;
	*mt = desc.media_type ? strdup(desc.media_type) : NULL;
	st_descriptor_release(&desc);
	return 0;
}

enum MHD_Result srv_manifest_get(struct srv_req *r, bool head)
{
	cleanup_buf struct st_buf raw = ST_BUF_INIT;
	cleanup_free char *mt = NULL;
	struct MHD_Response *resp;
	enum st_manifest_kind kind;
	struct st_digest d;
	char ds[ST_DIGEST_STR_MAX];

	if (resolve(r, &d, &mt) < 0 ||
	    st_store_read_blob(r->srv->store, &d, ST_MAX_MANIFEST_SIZE, &raw, NULL) < 0)
		return manifest_unknown(r);
	if (st_manifest_detect(raw.data, raw.len, mt, &kind, NULL) == 0) {
		free(mt);
		mt = strdup(st_manifest_kind_media_type(kind));
	}
	resp = MHD_create_response_from_buffer(raw.len, raw.data, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	st_digest_str(&d, ds);
	(void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	                              mt ? mt : ST_MT_OCI_MANIFEST);
	(void)MHD_add_response_header(resp, "Docker-Content-Digest", ds);
	(void)MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, ds);
	r->bytes_out = head ? 0 : raw.len;
	return srv_send(r, MHD_HTTP_OK, resp);
}

static bool foreign_layer(const char *mt)
{
	return mt && (strcmp(mt, ST_MT_DOCKER_LAYER_FOREIGN) == 0 ||
	              st_str_has_prefix(mt, "application/vnd.oci.image.layer.nondistributable."));
}

/* What a pushed manifest names: refs to check, and its subject. */
struct pushed {
	enum st_manifest_kind kind;
	struct st_manifest m;
	struct st_index ix;
	const struct st_descriptor *subject;
};

static void pushed_release(struct pushed *p)
{
	if (st_manifest_kind_is_index(p->kind))
		st_index_release(&p->ix);
	else if (p->kind)
		st_manifest_release(&p->m);
}

static int parse_pushed(struct srv_req *r, struct pushed *p, struct st_error *err)
{
	const char *ct = srv_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
	enum st_manifest_kind kind;
	int rc;

	if (ct && !st_manifest_kind_of(ct))
		ct = NULL;
	rc = st_manifest_detect(r->buf.data, r->buf.len, ct, &kind, err);
	if (rc < 0)
		return rc;
	if (st_manifest_kind_is_index(kind)) {
		rc = st_index_parse(r->buf.data, r->buf.len, ct, &p->ix, err);
		p->subject = rc == 0 ? p->ix.subject : NULL;
	} else {
		rc = st_manifest_parse(r->buf.data, r->buf.len, ct, &p->m, err);
		p->subject = rc == 0 ? p->m.subject : NULL;
	}
	if (rc == 0)
		p->kind = kind;
	return rc;
}

/* The first descriptor the repository lacks, or NULL. */
static const struct st_descriptor *missing_ref(struct srv_req *r, const struct pushed *p)
{
	const char *repo = r->route.name;

	if (st_manifest_kind_is_index(p->kind)) {
		for (size_t i = 0; i < p->ix.n_manifests; i++)
			if (!srv_repo_holds(r->srv, repo, &p->ix.manifests[i].digest, false))
				return &p->ix.manifests[i];
		return NULL;
	}
	if (!srv_repo_holds(r->srv, repo, &p->m.config.digest, false))
		return &p->m.config;
	for (size_t i = 0; i < p->m.n_layers; i++)
		if (!foreign_layer(p->m.layers[i].media_type) &&
		    !srv_repo_holds(r->srv, repo, &p->m.layers[i].digest, false))
			return &p->m.layers[i];
	return NULL;
}

/* The layer links an image manifest relies on were written without a sync (serve-repo.c):
 * they become durable before the manifest does. An index's children are manifests, whose
 * links are durable already. */
static int sync_layer_links(struct srv_req *r, const struct pushed *p, struct st_error *err)
{
	int rc;

	if (st_manifest_kind_is_index(p->kind))
		return 0;
	rc = srv_link_sync(r->srv->repos_fd, r->route.name, SRV_LINK_LAYER, &p->m.config.digest,
	                   err);
	for (size_t i = 0; i < p->m.n_layers && rc == 0; i++)
		rc = srv_link_sync(r->srv->repos_fd, r->route.name, SRV_LINK_LAYER,
		                   &p->m.layers[i].digest, err);
	return rc;
}

/* Blob, revision link, referrer record, tag: under the lease, so gc sees all or none. */
static int land(struct srv_req *r, const struct pushed *p, const struct st_digest *d,
                struct st_error *err)
{
	struct st_server *srv = r->srv;
	cleanup_buf struct st_buf name = ST_BUF_INIT;
	struct st_descriptor desc = {.media_type = (char *)st_manifest_kind_media_type(p->kind),
	                             .digest = *d,
	                             .size = r->buf.len};
	int rc = sync_layer_links(r, p, err);

	if (rc < 0)
		return rc;
	pthread_mutex_lock(&srv->write_mu);
	rc = st_store_lease(srv->store, err);
	if (rc == 0) {
		rc = st_store_put_blob(srv->store, r->buf.data, r->buf.len, d, NULL, err);
		if (rc == 0)
			rc = srv_link_write(srv->repos_fd, r->route.name, SRV_LINK_MANIFEST, d,
			                    desc.media_type, err);
		if (rc == 0 && p->subject)
			rc = srv_referrer_add(srv->repos_fd, r->route.name, &p->subject->digest, d,
			                      err);
		if (rc == 0 && !r->route.is_digest &&
		    (rc = srv_store_name(srv, r->route.name, r->route.ref, &name, err)) == 0)
			rc = st_store_tag(srv->store, name.data, &desc, err);
		st_store_unlease(srv->store);
	}
	pthread_mutex_unlock(&srv->write_mu);
	return rc;
}

static enum MHD_Result created(struct srv_req *r, const struct pushed *p, const struct st_digest *d)
{
	cleanup_buf struct st_buf loc = ST_BUF_INIT;
	struct MHD_Response *resp =
	        MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	char ds[ST_DIGEST_STR_MAX], ss[ST_DIGEST_STR_MAX];

	st_digest_str(d, ds);
	if (!resp || st_buf_addf(&loc, NULL, "/v2/%s/manifests/%s", r->route.name, ds) < 0) {
		if (resp)
			MHD_destroy_response(resp);
		return MHD_NO;
	}
	(void)MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, loc.data);
	(void)MHD_add_response_header(resp, "Docker-Content-Digest", ds);
	if (p->subject) {
		st_digest_str(&p->subject->digest, ss);
		(void)MHD_add_response_header(resp, "OCI-Subject", ss);
	}
	return srv_send(r, MHD_HTTP_CREATED, resp);
}

enum MHD_Result srv_manifest_put(struct srv_req *r)
{
	struct st_error err = ST_ERROR_INIT;
	struct pushed p = {0};
	const struct st_descriptor *miss;
	enum MHD_Result ret;
	struct st_digest d;
	char msg[ST_DIGEST_STR_MAX + 64];

	if (parse_pushed(r, &p, &err) < 0)
		return srv_error(r, MHD_HTTP_BAD_REQUEST, "MANIFEST_INVALID", err.msg);
	if (st_digest_of(r->route.is_digest ? r->route.digest.alg : ST_DIGEST_SHA256, r->buf.data,
	                 r->buf.len, &d, &err) < 0) {
		pushed_release(&p);
		return srv_internal(r, &err);
	}
	if (r->route.is_digest && !st_digest_equal(&d, &r->route.digest)) {
		pushed_release(&p);
		return srv_error(r, MHD_HTTP_BAD_REQUEST, "DIGEST_INVALID",
		                 "manifest does not match the digest of the URL");
	}
	miss = missing_ref(r, &p);
	if (miss) {
		st_digest_str(&miss->digest, msg);
		ret = srv_error(r, MHD_HTTP_BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN", msg);
	} else if (land(r, &p, &d, &err) < 0) {
		ret = srv_internal(r, &err);
	} else {
		ret = created(r, &p, &d);
	}
	pushed_release(&p);
	return ret;
}

/* Removes every tag of the repository that names d. */
static void untag_digest(struct srv_req *r, const struct st_digest *d)
{
	struct st_strv tags = ST_STRV_INIT;

	if (srv_tags_list(r->srv, r->route.name, &tags, NULL) < 0)
		return;
	for (size_t i = 0; i < tags.n; i++) {
		cleanup_buf struct st_buf name = ST_BUF_INIT;
		struct st_descriptor desc = {0};
		if (srv_store_name(r->srv, r->route.name, tags.v[i], &name, NULL) < 0 ||
		    st_store_resolve(r->srv->store, name.data, &desc, NULL) < 0)
			continue;
		if (st_digest_equal(&desc.digest, d))
			(void)st_store_untag(r->srv->store, name.data, NULL);
		st_descriptor_release(&desc);
	}
	st_strv_release(&tags);
}

enum MHD_Result srv_manifest_delete(struct srv_req *r)
{
	struct st_server *srv = r->srv;
	cleanup_buf struct st_buf name = ST_BUF_INIT;
	int rc;

	if (!srv->opts.enable_delete)
		return srv_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "UNSUPPORTED",
		                 "deletes are disabled (--enable-delete)");
	pthread_mutex_lock(&srv->write_mu);
	if (r->route.is_digest) {
		rc = srv_repo_holds(srv, r->route.name, &r->route.digest, true) ? 0 : -ST_ENOTFOUND;
		if (rc == 0) {
			(void)srv_link_remove(srv->repos_fd, r->route.name, SRV_LINK_MANIFEST,
			                      &r->route.digest, NULL);
			untag_digest(r, &r->route.digest);
		}
	} else {
		rc = srv_store_name(srv, r->route.name, r->route.ref, &name, NULL);
		if (rc == 0)
			rc = st_store_untag(srv->store, name.data, NULL);
	}
	pthread_mutex_unlock(&srv->write_mu);
	if (rc < 0)
		return manifest_unknown(r);
	return srv_send_empty(r, MHD_HTTP_ACCEPTED);
}

/* The page of tags after `last`, at most n; *more when some remain. */
static int tags_page(struct srv_req *r, const struct st_strv *tags, json_t *arr, bool *more,
                     const char **last_out)
{
	const char *last = srv_query(r, "last"), *ns = srv_query(r, "n");
	uint64_t n = UINT64_MAX;
	size_t i = 0, taken = 0;

	if (ns && st_parse_u64(ns, &n) < 0)
		return -ST_EINVALID;
	while (last && i < tags->n && strcmp(tags->v[i], last) <= 0)
		i++;
	for (; i < tags->n && taken < n; i++, taken++) {
		if (json_array_append_new(arr, json_string(tags->v[i])) < 0)
			return -ST_ENOMEM;
		*last_out = tags->v[i];
	}
	*more = i < tags->n && taken > 0;
	return 0;
}

enum MHD_Result srv_tags_get(struct srv_req *r)
{
	struct st_error err = ST_ERROR_INIT;
	struct st_strv tags = ST_STRV_INIT;
	cleanup_json json_t *arr = json_array();
	cleanup_json json_t *doc = NULL;
	cleanup_buf struct st_buf body = ST_BUF_INIT;
	cleanup_buf struct st_buf link = ST_BUF_INIT;
	struct MHD_Response *resp;
	const char *last = NULL;
	bool more = false;
	int rc = srv_tags_list(r->srv, r->route.name, &tags, &err);

	if (rc < 0)
		return srv_internal(r, &err);
	if (tags.n == 0 && !srv_repo_exists(r->srv, r->route.name)) {
		st_strv_release(&tags);
		return srv_error(r, MHD_HTTP_NOT_FOUND, "NAME_UNKNOWN",
		                 "repository name not known to registry");
	}
	rc = arr ? tags_page(r, &tags, arr, &more, &last) : -ST_ENOMEM;
	if (rc == 0 && more)
		rc = st_buf_addf(&link, NULL, "</v2/%s/tags/list?n=%s&last=%s>; rel=\"next\"",
		                 r->route.name, srv_query(r, "n"), last);
	st_strv_release(&tags);
	if (rc == -ST_EINVALID)
		return srv_error(r, MHD_HTTP_BAD_REQUEST, "UNSUPPORTED", "bad n");
	doc = rc == 0 ? json_pack("{s:s,s:O}", "name", r->route.name, "tags", arr) : NULL;
	if (!doc || st_json_dump(doc, &body, NULL) < 0)
		return MHD_NO;
	resp = MHD_create_response_from_buffer(body.len, body.data, MHD_RESPMEM_MUST_COPY);
	if (resp && more)
		(void)MHD_add_response_header(resp, MHD_HTTP_HEADER_LINK, link.data);
	if (resp)
		(void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
		                              "application/json");
	r->bytes_out = body.len;
	return srv_send(r, MHD_HTTP_OK, resp);
}
