/* image-manifest.c: image manifests and indexes, OCI (image-spec manifest.md, image-index.md)
 * and Docker (manifest v2 schema 2, manifest list): detection, parsing with validation, and
 * canonical writing. Parsed documents keep the digest of the bytes they came in. */
#include "image/image-internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/descriptor-json.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

/* ---- small shared helpers ---- */

void st_annotations_free(size_t n, struct st_annotation *a)
{
	for (size_t i = 0; i < n; i++) {
		free(a[i].key);
		free(a[i].value);
	}
	free(a);
}

int st_annotations_set(size_t *n, struct st_annotation **a, const char *key, const char *value,
                       struct st_error *err)
{
	/* st_descriptor already implements set/replace/remove on such a list: borrow it */
	struct st_descriptor d = {0};
	int rc;

	d.n_annotations = *n;
	d.annotations = *a;
	rc = st_descriptor_set_annotation(&d, key, value, err);
	*n = d.n_annotations;
	*a = d.annotations;
	return rc;
}

int st_annotations_from_json(const json_t *j, const char *what, size_t *n, struct st_annotation **a,
                             struct st_error *err)
{
	const char *key;
	json_t *v;
	int rc;

	if (!json_is_object(j))
		return st_error_set(err, ST_EINVALID, "%s: must be an object of strings", what);
	json_object_foreach((json_t *)j, key, v)
	{
		if (!json_is_string(v))
			return st_error_set(err, ST_EINVALID,
			                    "%s: value of \"%s\" must be a string", what, key);
		rc = st_annotations_set(n, a, key, json_string_value(v), err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int st_annotations_to_json(size_t n, const struct st_annotation *a, json_t **out,
                           struct st_error *err)
{
	cleanup_json json_t *j = json_object();
	int rc;

	if (!j)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		if ((rc = st_json_set_str(j, a[i].key, a[i].value, err)) < 0)
			return rc;
	*out = take_ptr(&j);
	return 0;
}

void st_descriptors_free(size_t n, struct st_descriptor *d)
{
	for (size_t i = 0; i < n; i++)
		st_descriptor_release(&d[i]);
	free(d);
}

int st_descriptors_append(size_t *n, struct st_descriptor **arr, const struct st_descriptor *d,
                          struct st_error *err)
{
	struct st_descriptor *na = realloc(*arr, (*n + 1) * sizeof(*na));
	int rc;

	if (!na)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	*arr = na;
	rc = st_descriptor_copy(&na[*n], d, err);
	if (rc < 0)
		return rc;
	(*n)++;
	return 0;
}

/* ---- kinds and detection ---- */

static const struct {
	const char *mt;
	enum st_manifest_kind kind;
} kinds[] = {
        {ST_MT_OCI_MANIFEST, ST_KIND_OCI_MANIFEST},
        {ST_MT_DOCKER_MANIFEST, ST_KIND_DOCKER_MANIFEST},
        {ST_MT_OCI_INDEX, ST_KIND_OCI_INDEX},
        {ST_MT_DOCKER_LIST, ST_KIND_DOCKER_LIST},
};

enum st_manifest_kind st_manifest_kind_of(const char *media_type)
{
	for (size_t i = 0; media_type && i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(media_type, kinds[i].mt) == 0)
			return kinds[i].kind;
	return ST_KIND_NONE;
}

const char *st_manifest_kind_media_type(enum st_manifest_kind kind)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (kinds[i].kind == kind)
			return kinds[i].mt;
	return NULL;
}

bool st_manifest_kind_is_index(enum st_manifest_kind kind)
{
	return kind == ST_KIND_OCI_INDEX || kind == ST_KIND_DOCKER_LIST;
}

bool st_media_type_is_layer(const char *mt)
{
	static const char *const layers[] = {
	        ST_MT_OCI_LAYER,    ST_MT_OCI_LAYER_GZIP,    ST_MT_OCI_LAYER_ZSTD,
	        ST_MT_OCI_LAYER_ND, ST_MT_OCI_LAYER_ND_GZIP, ST_MT_OCI_LAYER_ND_ZSTD,
	        ST_MT_DOCKER_LAYER, ST_MT_DOCKER_LAYER_GZIP, ST_MT_DOCKER_LAYER_FOREIGN,
	};

	for (size_t i = 0; mt && i < sizeof(layers) / sizeof(layers[0]); i++)
		if (strcmp(mt, layers[i]) == 0)
			return true;
	return false;
}

bool st_media_type_is_config(const char *mt)
{
	return mt && (strcmp(mt, ST_MT_OCI_CONFIG) == 0 || strcmp(mt, ST_MT_DOCKER_CONFIG) == 0);
}

static bool is_schema1(const char *mt)
{
	return mt && (strcmp(mt, ST_MT_DOCKER_MANIFEST_V1) == 0 ||
	              strcmp(mt, ST_MT_DOCKER_MANIFEST_V1_SIGNED) == 0);
}

static int schema1_refused(struct st_error *err)
{
	return st_error_set(err, ST_EUNSUPPORTED,
	                    "Docker image manifest schema 1 is not supported (deprecated since "
	                    "2017): pull or push the image with a schema 2 or OCI manifest");
}

/* Kind of an already parsed document; see st_manifest_detect. */
static int detect_json(const json_t *j, const char *hint, enum st_manifest_kind *out,
                       struct st_error *err)
{
	const char *mt;
	json_t *sv;
	enum st_manifest_kind kind;
	int rc;

	if (!json_is_object(j))
		return st_error_set(err, ST_EINVALID, "manifest: must be a JSON object");
	sv = json_object_get(j, "schemaVersion");
	if (is_schema1(hint) || (json_is_integer(sv) && json_integer_value(sv) == 1) ||
	    json_object_get(j, "fsLayers"))
		return schema1_refused(err);
	rc = st_json_get_str(j, "mediaType", false, "manifest", &mt, err);
	if (rc < 0)
		return rc;
	if (is_schema1(mt))
		return schema1_refused(err);
	if (mt) {
		kind = st_manifest_kind_of(mt);
		if (kind == ST_KIND_NONE)
			return st_error_set(err, ST_EUNSUPPORTED,
			                    "manifest: unsupported media type \"%s\"", mt);
		if (hint && st_manifest_kind_of(hint) != ST_KIND_NONE && strcmp(hint, mt) != 0)
			return st_error_set(err, ST_EINVALID,
			                    "manifest: mediaType \"%s\" does not match the "
			                    "descriptor's \"%s\"",
			                    mt, hint);
	} else if (hint && st_manifest_kind_of(hint) != ST_KIND_NONE) {
		kind = st_manifest_kind_of(hint);
	} else if (json_object_get(j, "manifests")) {
		kind = ST_KIND_OCI_INDEX;
	} else if (json_object_get(j, "config") || json_object_get(j, "layers")) {
		kind = ST_KIND_OCI_MANIFEST;
	} else if (hint) {
		return st_error_set(err, ST_EUNSUPPORTED, "manifest: unsupported media type \"%s\"",
		                    hint);
	} else {
		return st_error_set(err, ST_EINVALID,
		                    "manifest: neither a manifest nor an index (no mediaType, "
		                    "config, layers or manifests)");
	}
	*out = kind;
	return 0;
}

int st_manifest_detect(const void *p, size_t len, const char *media_type,
                       enum st_manifest_kind *out, struct st_error *err)
{
	cleanup_json json_t *j = NULL;
	int rc = st_json_parse(p, len, "manifest", &j, err);

	return rc < 0 ? rc : detect_json(j, media_type, out, err);
}

/* ---- parsing: what manifests and indexes share ---- */

struct common {
	char *artifact_type;
	struct st_descriptor *subject;
	size_t n_annotations;
	struct st_annotation *annotations;
};

static void common_release(struct common *c)
{
	free(c->artifact_type);
	if (c->subject)
		st_descriptor_release(c->subject);
	free(c->subject);
	st_annotations_free(c->n_annotations, c->annotations);
	memset(c, 0, sizeof(*c));
}

static int parse_common(const json_t *j, const char *what, struct common *c, struct st_error *err)
{
	char path[ST_WHAT_MAX];
	const char *at;
	json_t *v;
	uint64_t sv;
	int rc;

	rc = st_json_get_u64(j, "schemaVersion", true, what, &sv, err);
	if (rc < 0)
		return rc;
	if (sv != 2)
		return st_error_set(err, ST_EINVALID, "%s: schemaVersion %llu is not 2", what,
		                    (unsigned long long)sv);
	if ((rc = st_json_get_str(j, "artifactType", false, what, &at, err)) < 0)
		return rc;
	if (at && !st_media_type_valid(at))
		return st_error_set(err, ST_EINVALID, "%s.artifactType: invalid media type \"%s\"",
		                    what, at);
	if (at && !(c->artifact_type = strdup(at)))
		return st_error_set(err, ST_ENOMEM, "out of memory");
	v = json_object_get(j, "subject");
	if (v && !json_is_null(v)) {
		(void)snprintf(path, sizeof(path), "%s.subject", what);
		c->subject = calloc(1, sizeof(*c->subject));
		if (!c->subject)
			return st_error_set(err, ST_ENOMEM, "out of memory");
		if ((rc = st_descriptor_from_json(v, path, c->subject, err)) < 0)
			return rc;
	}
	v = json_object_get(j, "annotations");
	if (v && !json_is_null(v)) {
		(void)snprintf(path, sizeof(path), "%s.annotations", what);
		rc = st_annotations_from_json(v, path, &c->n_annotations, &c->annotations, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int parse_descriptors(const json_t *j, const char *key, bool required, const char *what,
                             size_t *n, struct st_descriptor **out, struct st_error *err)
{
	char path[ST_WHAT_MAX];
	json_t *arr;
	size_t count;
	int rc;

	rc = st_json_get_arr(j, key, required, what, &arr, err);
	if (rc < 0 || !arr)
		return rc;
	count = json_array_size(arr);
	if (count == 0)
		return 0;
	*out = calloc(count, sizeof(**out));
	if (!*out)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	for (size_t i = 0; i < count; i++) {
		(void)snprintf(path, sizeof(path), "%s.%s[%zu]", what, key, i);
		rc = st_descriptor_from_json(json_array_get(arr, i), path, &(*out)[i], err);
		if (rc < 0)
			return rc;
		(*n)++;
	}
	return 0;
}

/* Parses bytes, detects their kind, checks it is one of want_a/want_b and digests them. */
static int parse_doc(const void *p, size_t len, const char *hint, const char *what, bool want_index,
                     json_t **out_json, enum st_manifest_kind *kind, struct st_digest *digest,
                     struct st_error *err)
{
	cleanup_json json_t *j = NULL;
	int rc;

	if ((rc = st_json_parse(p, len, what, &j, err)) < 0 ||
	    (rc = detect_json(j, hint, kind, err)) < 0)
		return rc;
	if (st_manifest_kind_is_index(*kind) != want_index)
		return st_error_set(err, ST_EINVALID, "%s: is an image %s, not an image %s", what,
		                    want_index ? "manifest" : "index",
		                    want_index ? "index" : "manifest");
	rc = st_digest_of(ST_DIGEST_SHA256, p, len, digest, err);
	if (rc < 0)
		return rc;
	*out_json = take_ptr(&j);
	return 0;
}

/* ---- manifests ---- */

void st_manifest_init(struct st_manifest *m, enum st_manifest_kind kind)
{
	memset(m, 0, sizeof(*m));
	m->kind = kind;
}

void st_manifest_release(struct st_manifest *m)
{
	struct common c;

	if (!m)
		return;
	c = (struct common){m->artifact_type, m->subject, m->n_annotations, m->annotations};
	common_release(&c);
	st_descriptor_release(&m->config);
	st_descriptors_free(m->n_layers, m->layers);
	memset(m, 0, sizeof(*m));
}

int st_manifest_parse(const void *p, size_t len, const char *media_type, struct st_manifest *out,
                      struct st_error *err)
{
	cleanup_json json_t *j = NULL;
	struct st_manifest m;
	struct common c = {0};
	json_t *cfg;
	int rc;

	st_manifest_init(&m, ST_KIND_NONE);
	rc = parse_doc(p, len, media_type, "manifest", false, &j, &m.kind, &m.digest, err);
	if (rc < 0)
		return rc;
	m.size = len;
	rc = parse_common(j, "manifest", &c, err);
	m.artifact_type = c.artifact_type;
	m.subject = c.subject;
	m.n_annotations = c.n_annotations;
	m.annotations = c.annotations;
	if (rc < 0)
		goto fail;
	cfg = json_object_get(j, "config");
	if (!cfg || json_is_null(cfg)) {
		rc = st_error_set(err, ST_EINVALID,
		                  "manifest: required field \"config\" is missing");
		goto fail;
	}
	if ((rc = st_descriptor_from_json(cfg, "manifest.config", &m.config, err)) < 0 ||
	    (rc = parse_descriptors(j, "layers", true, "manifest", &m.n_layers, &m.layers, err)) <
	            0)
		goto fail;
	*out = m;
	return 0;
fail:
	st_manifest_release(&m);
	return rc;
}

int st_manifest_set_config(struct st_manifest *m, const struct st_descriptor *d,
                           struct st_error *err)
{
	struct st_descriptor copy;
	int rc = st_descriptor_copy(&copy, d, err);

	if (rc < 0)
		return rc;
	st_descriptor_release(&m->config);
	m->config = copy;
	return 0;
}

int st_manifest_add_layer(struct st_manifest *m, const struct st_descriptor *d,
                          struct st_error *err)
{
	return st_descriptors_append(&m->n_layers, &m->layers, d, err);
}

int st_manifest_set_annotation(struct st_manifest *m, const char *key, const char *value,
                               struct st_error *err)
{
	return st_annotations_set(&m->n_annotations, &m->annotations, key, value, err);
}

int st_manifest_check_image(const struct st_manifest *m, struct st_error *err)
{
	char dg[ST_DIGEST_STR_MAX];

	st_digest_str(&m->digest, dg);
	if (!st_media_type_is_config(m->config.media_type))
		return st_error_set(err, ST_EUNSUPPORTED,
		                    "manifest %s: config media type \"%s\" is not an image config "
		                    "(an artifact?)",
		                    dg, m->config.media_type);
	for (size_t i = 0; i < m->n_layers; i++)
		if (!st_media_type_is_layer(m->layers[i].media_type))
			return st_error_set(
			        err, ST_EUNSUPPORTED,
			        "manifest %s: layers[%zu]: unsupported media type \"%s\"", dg, i,
			        m->layers[i].media_type);
	return 0;
}

static int descriptors_to_json(size_t n, const struct st_descriptor *d, json_t **out,
                               struct st_error *err)
{
	cleanup_json json_t *arr = json_array();
	json_t *one;
	int rc;

	if (!arr)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		if ((rc = st_descriptor_to_json(&d[i], &one, err)) < 0)
			return rc;
		if (json_array_append_new(arr, one) != 0)
			return st_error_set(err, ST_ENOMEM, "out of memory");
	}
	*out = take_ptr(&arr);
	return 0;
}

/* The fields manifests and indexes share, in a new object. */
static int common_to_json(enum st_manifest_kind kind, const struct common *c, json_t **out,
                          struct st_error *err)
{
	cleanup_json json_t *j = json_object();
	json_t *v;
	int rc;

	if (!j)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	if ((rc = st_json_set_new(j, "schemaVersion", json_integer(2), err)) < 0 ||
	    (rc = st_json_set_str(j, "mediaType", st_manifest_kind_media_type(kind), err)) < 0)
		return rc;
	if (c->artifact_type &&
	    (rc = st_json_set_str(j, "artifactType", c->artifact_type, err)) < 0)
		return rc;
	if (c->subject) {
		if ((rc = st_descriptor_to_json(c->subject, &v, err)) < 0 ||
		    (rc = st_json_set_new(j, "subject", v, err)) < 0)
			return rc;
	}
	if (c->n_annotations) {
		if ((rc = st_annotations_to_json(c->n_annotations, c->annotations, &v, err)) < 0 ||
		    (rc = st_json_set_new(j, "annotations", v, err)) < 0)
			return rc;
	}
	*out = take_ptr(&j);
	return 0;
}

/* Dumps j canonically, appending to out, and records the digest and size of those bytes. */
static int dump_identity(const json_t *j, struct st_buf *out, struct st_digest *digest,
                         uint64_t *size, struct st_error *err)
{
	size_t start = out->len;
	int rc = st_json_dump(j, out, err);

	if (rc < 0)
		return rc;
	rc = st_digest_of(ST_DIGEST_SHA256, out->data + start, out->len - start, digest, err);
	if (rc < 0)
		return rc;
	*size = out->len - start;
	return 0;
}

int st_manifest_dump(struct st_manifest *m, struct st_buf *out, struct st_error *err)
{
	struct common c = {m->artifact_type, m->subject, m->n_annotations, m->annotations};
	cleanup_json json_t *j = NULL;
	json_t *v;
	int rc;

	if (m->kind != ST_KIND_OCI_MANIFEST && m->kind != ST_KIND_DOCKER_MANIFEST)
		return st_error_set(err, ST_EINVALID, "manifest: no manifest kind set");
	if (!m->config.media_type)
		return st_error_set(err, ST_EINVALID, "manifest: no config descriptor set");
	if ((rc = common_to_json(m->kind, &c, &j, err)) < 0 ||
	    (rc = st_descriptor_to_json(&m->config, &v, err)) < 0 ||
	    (rc = st_json_set_new(j, "config", v, err)) < 0 ||
	    (rc = descriptors_to_json(m->n_layers, m->layers, &v, err)) < 0 ||
	    (rc = st_json_set_new(j, "layers", v, err)) < 0)
		return rc;
	return dump_identity(j, out, &m->digest, &m->size, err);
}

/* ---- indexes ---- */

void st_index_init(struct st_index *ix, enum st_manifest_kind kind)
{
	memset(ix, 0, sizeof(*ix));
	ix->kind = kind;
}

void st_index_release(struct st_index *ix)
{
	struct common c;

	if (!ix)
		return;
	c = (struct common){ix->artifact_type, ix->subject, ix->n_annotations, ix->annotations};
	common_release(&c);
	st_descriptors_free(ix->n_manifests, ix->manifests);
	memset(ix, 0, sizeof(*ix));
}

int st_index_parse(const void *p, size_t len, const char *media_type, struct st_index *out,
                   struct st_error *err)
{
	cleanup_json json_t *j = NULL;
	struct st_index ix;
	struct common c = {0};
	int rc;

	st_index_init(&ix, ST_KIND_NONE);
	rc = parse_doc(p, len, media_type, "index", true, &j, &ix.kind, &ix.digest, err);
	if (rc < 0)
		return rc;
	ix.size = len;
	rc = parse_common(j, "index", &c, err);
	ix.artifact_type = c.artifact_type;
	ix.subject = c.subject;
	ix.n_annotations = c.n_annotations;
	ix.annotations = c.annotations;
	if (rc < 0)
		goto fail;
	rc = parse_descriptors(j, "manifests", true, "index", &ix.n_manifests, &ix.manifests, err);
	if (rc < 0)
		goto fail;
	*out = ix;
	return 0;
fail:
	st_index_release(&ix);
	return rc;
}

int st_index_add_manifest(struct st_index *ix, const struct st_descriptor *d, struct st_error *err)
{
	return st_descriptors_append(&ix->n_manifests, &ix->manifests, d, err);
}

int st_index_set_annotation(struct st_index *ix, const char *key, const char *value,
                            struct st_error *err)
{
	return st_annotations_set(&ix->n_annotations, &ix->annotations, key, value, err);
}

int st_index_dump(struct st_index *ix, struct st_buf *out, struct st_error *err)
{
	struct common c = {ix->artifact_type, ix->subject, ix->n_annotations, ix->annotations};
	cleanup_json json_t *j = NULL;
	json_t *v;
	int rc;

	if (!st_manifest_kind_is_index(ix->kind))
		return st_error_set(err, ST_EINVALID, "index: no index kind set");
	if ((rc = common_to_json(ix->kind, &c, &j, err)) < 0 ||
	    (rc = descriptors_to_json(ix->n_manifests, ix->manifests, &v, err)) < 0 ||
	    (rc = st_json_set_new(j, "manifests", v, err)) < 0)
		return rc;
	return dump_identity(j, out, &ix->digest, &ix->size, err);
}
