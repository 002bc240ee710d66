/* serve-referrers.c: GET /v2/<name>/referrers/<digest>: an OCI image index of the manifests
 * pushed to the repository with that subject, optionally filtered by ?artifactType=. */
#include "serve/serve-http.h"

#include <stdlib.h>
#include <string.h>

#include "strata/image.h"
#include "util/cleanup.h"
#include "util/json.h"

#include "util/banned.h"

static json_t *annotations_json(const struct st_annotation *a, size_t n)
{
	json_t *o = json_object();

	for (size_t i = 0; o && i < n; i++)
		if (json_object_set_new(o, a[i].key, json_string(a[i].value)) < 0) {
			json_decref(o);
			return NULL;
		}
	return o;
}

/* The descriptor of referrer d, or NULL when it is unreadable or filtered out. */
static json_t *describe(struct st_server *srv, const struct st_digest *d, const char *filter)
{
	cleanup_buf struct st_buf raw = ST_BUF_INIT;
	enum st_manifest_kind kind;
	struct st_manifest m = {0};
	struct st_index ix = {0};
	const char *at = NULL;
	const struct st_annotation *ann = NULL;
	size_t n_ann = 0;
	char ds[ST_DIGEST_STR_MAX];
	json_t *j = NULL;

	if (st_store_read_blob(srv->store, d, ST_MAX_MANIFEST_SIZE, &raw, NULL) < 0 ||
	    st_manifest_detect(raw.data, raw.len, NULL, &kind, NULL) < 0)
		return NULL;
	if (st_manifest_kind_is_index(kind)) {
		if (st_index_parse(raw.data, raw.len, NULL, &ix, NULL) < 0)
			return NULL;
		at = ix.artifact_type;
		ann = ix.annotations;
		n_ann = ix.n_annotations;
	} else {
		if (st_manifest_parse(raw.data, raw.len, NULL, &m, NULL) < 0)
			return NULL;
		/* image-spec: without artifactType, the config's media type is the artifact type */
		at = m.artifact_type ? m.artifact_type : m.config.media_type;
		ann = m.annotations;
		n_ann = m.n_annotations;
	}
	st_digest_str(d, ds);
	if (!filter || (at && strcmp(at, filter) == 0)) {
		j = json_pack("{s:s,s:s,s:I}", "mediaType", st_manifest_kind_media_type(kind),
		              "digest", ds, "size", (json_int_t)raw.len);
		if (j && at)
			(void)json_object_set_new(j, "artifactType", json_string(at));
		if (j && n_ann)
			(void)json_object_set_new(j, "annotations", annotations_json(ann, n_ann));
	}
	if (st_manifest_kind_is_index(kind))
		st_index_release(&ix);
	else
		st_manifest_release(&m);
	return j;
}

static int cmp_digest(const void *a, const void *b)
{
	const struct st_digest *x = a, *y = b;

	return memcmp(x->bytes, y->bytes, sizeof(x->bytes));
}

enum MHD_Result srv_referrers_get(struct srv_req *r)
{
	struct st_error err = ST_ERROR_INIT;
	cleanup_free struct st_digest *ds = NULL;
	cleanup_json json_t *arr = json_array();
	cleanup_json json_t *doc = NULL;
	cleanup_buf struct st_buf body = ST_BUF_INIT;
	const char *filter = srv_query(r, "artifactType");
	struct MHD_Response *resp;
	size_t n = 0;

	if (srv_referrers_list(r->srv->repos_fd, r->route.name, &r->route.digest, &ds, &n, &err) <
	    0)
		return srv_internal(r, &err);
	if (n > 1)
		qsort(ds, n, sizeof(*ds), cmp_digest);
	for (size_t i = 0; arr && i < n; i++) {
		json_t *j = describe(r->srv, &ds[i], filter);
		if (j && json_array_append_new(arr, j) < 0)
			return MHD_NO;
	}
	doc = arr ? json_pack("{s:i,s:s,s:O}", "schemaVersion", 2, "mediaType", ST_MT_OCI_INDEX,
	                      "manifests", arr)
	          : NULL;
	if (!doc || st_json_dump(doc, &body, NULL) < 0)
		return MHD_NO;
	resp = MHD_create_response_from_buffer(body.len, body.data, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	(void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ST_MT_OCI_INDEX);
	if (filter)
		(void)MHD_add_response_header(resp, "OCI-Filters-Applied", "artifactType");
	r->bytes_out = body.len;
	return srv_send(r, MHD_HTTP_OK, resp);
}
