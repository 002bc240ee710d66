/* image-store.c: images in the store: verified reads of manifests and configs (an index
 * resolved to one platform), writing a config and manifest, chain IDs, and the gc expander
 * that tells gc what a manifest or index references. */
#include "image/image-internal.h"

#include <stdio.h>
#include <string.h>

#include "util/banned.h"

#define MAX_INDEX_DEPTH 4

/* sha256(prev + " " + diff) */
static int chain_step(const struct st_digest *prev, const struct st_digest *diff,
                      struct st_digest *out, struct st_error *err)
{
	char a[ST_DIGEST_STR_MAX], b[ST_DIGEST_STR_MAX];
	cleanup_buf struct st_buf s = ST_BUF_INIT;
	int rc;

	st_digest_str(prev, a);
	st_digest_str(diff, b);
	if ((rc = st_buf_addf(&s, err, "%s %s", a, b)) < 0)
		return rc;
	return st_digest_of(ST_DIGEST_SHA256, s.data, s.len, out, err);
}

int st_image_chain_ids(const struct st_digest *diff_ids, size_t n, struct st_digest *out,
                       struct st_error *err)
{
	int rc;

	for (size_t i = 0; i < n; i++) {
		if (i == 0)
			out[0] = diff_ids[0];
		else if ((rc = chain_step(&out[i - 1], &diff_ids[i], &out[i], err)) < 0)
			return rc;
	}
	return 0;
}

int st_image_chain_id(const struct st_digest *diff_ids, size_t n, struct st_digest *out,
                      struct st_error *err)
{
	struct st_digest acc;
	int rc;

	if (n == 0)
		return st_error_set(err, ST_EINVALID, "chain ID of no layers");
	acc = diff_ids[0];
	for (size_t i = 1; i < n; i++)
		if ((rc = chain_step(&acc, &diff_ids[i], &acc, err)) < 0)
			return rc;
	*out = acc;
	return 0;
}

int st_image_read(struct st_store *store, const struct st_descriptor *d, size_t max,
                  struct st_buf *out, struct st_error *err)
{
	cleanup_buf struct st_buf data = ST_BUF_INIT;
	char dg[ST_DIGEST_STR_MAX];
	int rc;

	st_digest_str(&d->digest, dg);
	if (d->size > max)
		return st_error_set(err, ST_ELIMIT, "%s: %s of %llu bytes is over the limit of %zu",
		                    dg, d->media_type ? d->media_type : "blob",
		                    (unsigned long long)d->size, max);
	/* one byte more than the descriptor says, to notice a blob that is too long */
	rc = st_store_read_blob(store, &d->digest, (size_t)d->size + 1, &data, err);
	if (rc == -ST_ELIMIT)
		return st_error_set(err, ST_EDIGEST,
		                    "%s: blob is larger than its descriptor's %llu bytes", dg,
		                    (unsigned long long)d->size);
	if (rc < 0)
		return rc;
	if (data.len != d->size)
		return st_error_set(err, ST_EDIGEST,
		                    "%s: blob has %zu bytes, its descriptor says %llu", dg,
		                    data.len, (unsigned long long)d->size);
	st_buf_swap(out, &data);
	return 0;
}

static int load_manifest(struct st_store *store, const struct st_descriptor *desc,
                         const struct st_platform *platform, int depth, struct st_image *img,
                         struct st_error *err);

static int load_from_index(struct st_store *store, const struct st_descriptor *desc,
                           const struct st_buf *raw, const struct st_platform *platform, int depth,
                           struct st_image *img, struct st_error *err)
{
	struct st_index ix;
	char dg[ST_DIGEST_STR_MAX];
	int rc, pick;

	st_digest_str(&desc->digest, dg);
	if (depth >= MAX_INDEX_DEPTH)
		return st_error_set(err, ST_ELIMIT, "index %s: indexes nested too deeply", dg);
	rc = st_index_parse(raw->data, raw->len, desc->media_type, &ix, err);
	if (rc < 0)
		return st_error_wrap(err, "%s", dg);
	pick = st_index_select(&ix, platform, err);
	if (pick < 0) {
		st_index_release(&ix);
		return st_error_wrap(err, "index %s", dg);
	}
	if (!img->from_index) {
		img->from_index = true;
		img->index_digest = desc->digest;
	}
	rc = load_manifest(store, &ix.manifests[pick], platform, depth + 1, img, err);
	st_index_release(&ix);
	return rc;
}

static int load_config(struct st_store *store, struct st_image *img, struct st_error *err)
{
	cleanup_buf struct st_buf raw = ST_BUF_INIT;
	char dg[ST_DIGEST_STR_MAX];
	int rc;

	st_digest_str(&img->manifest.config.digest, dg);
	if ((rc = st_image_read(store, &img->manifest.config, ST_MAX_CONFIG_SIZE, &raw, err)) < 0)
		return st_error_wrap(err, "config");
	if ((rc = st_image_config_parse(raw.data, raw.len, &img->config, err)) < 0)
		return st_error_wrap(err, "%s", dg);
	if (img->config.n_diff_ids != img->manifest.n_layers)
		return st_error_set(err, ST_EINVALID,
		                    "config %s has %zu diff_ids but its manifest has %zu layers",
		                    dg, img->config.n_diff_ids, img->manifest.n_layers);
	return 0;
}

static int load_manifest(struct st_store *store, const struct st_descriptor *desc,
                         const struct st_platform *platform, int depth, struct st_image *img,
                         struct st_error *err)
{
	cleanup_buf struct st_buf raw = ST_BUF_INIT;
	enum st_manifest_kind kind;
	char dg[ST_DIGEST_STR_MAX];
	int rc;

	st_digest_str(&desc->digest, dg);
	if ((rc = st_image_read(store, desc, ST_MAX_MANIFEST_SIZE, &raw, err)) < 0)
		return st_error_wrap(err, "manifest");
	if ((rc = st_manifest_detect(raw.data, raw.len, desc->media_type, &kind, err)) < 0)
		return st_error_wrap(err, "%s", dg);
	if (st_manifest_kind_is_index(kind))
		return load_from_index(store, desc, &raw, platform, depth, img, err);
	if ((rc = st_manifest_parse(raw.data, raw.len, desc->media_type, &img->manifest, err)) < 0)
		return st_error_wrap(err, "%s", dg);
	if ((rc = st_manifest_check_image(&img->manifest, err)) < 0 ||
	    (rc = st_descriptor_copy(&img->desc, desc, err)) < 0)
		return rc;
	if (!img->desc.media_type || !st_manifest_kind_of(img->desc.media_type)) {
		char *mt = strdup(st_manifest_kind_media_type(kind));
		if (!mt)
			return st_error_set(err, ST_ENOMEM, "out of memory");
		free(img->desc.media_type);
		img->desc.media_type = mt;
	}
	return load_config(store, img, err);
}

void st_image_release(struct st_image *img)
{
	if (!img)
		return;
	st_descriptor_release(&img->desc);
	st_manifest_release(&img->manifest);
	st_image_config_release(&img->config);
	memset(img, 0, sizeof(*img));
}

int st_image_load(struct st_store *store, const struct st_descriptor *desc,
                  const struct st_platform *platform, struct st_image *out, struct st_error *err)
{
	struct st_image img = {0};
	int rc = load_manifest(store, desc, platform, 0, &img, err);

	if (rc < 0) {
		st_image_release(&img);
		return rc;
	}
	*out = img;
	return 0;
}

int st_image_write(struct st_store *store, const struct st_image_config *config,
                   struct st_manifest *m, struct st_descriptor *out, struct st_error *err)
{
	cleanup_buf struct st_buf cfg = ST_BUF_INIT;
	cleanup_buf struct st_buf man = ST_BUF_INIT;
	struct st_descriptor cd = {0}, md = {0};
	int rc;

	if (config->n_diff_ids != m->n_layers)
		return st_error_set(err, ST_EINVALID,
		                    "image: config has %zu diff_ids but the manifest %zu layers",
		                    config->n_diff_ids, m->n_layers);
	if ((rc = st_image_config_dump(config, &cfg, err)) < 0 ||
	    (rc = st_store_put_blob(store, cfg.data, cfg.len, NULL, &cd.digest, err)) < 0)
		return rc;
	cd.size = cfg.len;
	cd.media_type = (char *)(m->kind == ST_KIND_DOCKER_MANIFEST ? ST_MT_DOCKER_CONFIG
	                                                            : ST_MT_OCI_CONFIG);
	/* st_manifest_set_config copies, so the borrowed media type above is never freed */
	if ((rc = st_manifest_set_config(m, &cd, err)) < 0 ||
	    (rc = st_manifest_dump(m, &man, err)) < 0 ||
	    (rc = st_store_put_blob(store, man.data, man.len, &m->digest, NULL, err)) < 0)
		return rc;
	md.media_type = strdup(st_manifest_kind_media_type(m->kind));
	if (!md.media_type)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	md.digest = m->digest;
	md.size = m->size;
	*out = md;
	return 0;
}

/* ---- gc ---- */

static int mark(struct st_gc *gc, const struct st_descriptor *d, struct st_error *err)
{
	return st_gc_mark(gc, &d->digest, d->media_type, err);
}

/* Marks d[0..n) and the subject. A subject the store lacks is no problem: a referrer (a
 * signature, an SBOM) may be pulled or pushed without the manifest it refers to. */
static int mark_all(struct st_store *store, struct st_gc *gc, size_t n,
                    const struct st_descriptor *d, const struct st_descriptor *subject,
                    struct st_error *err)
{
	int rc;

	for (size_t i = 0; i < n; i++)
		if ((rc = mark(gc, &d[i], err)) < 0)
			return rc;
	if (!subject || !st_store_has_blob(store, &subject->digest))
		return 0;
	return mark(gc, subject, err);
}

static int gc_expand(struct st_store *store, struct st_gc *gc, const struct st_digest *d,
                     const char *media_type, void *ctx, struct st_error *err)
{
	cleanup_buf struct st_buf raw = ST_BUF_INIT;
	enum st_manifest_kind kind = st_manifest_kind_of(media_type);
	char dg[ST_DIGEST_STR_MAX];
	int rc;

	(void)ctx;
	if (kind == ST_KIND_NONE)
		return 0;
	st_digest_str(d, dg);
	rc = st_store_read_blob(store, d, ST_MAX_MANIFEST_SIZE, &raw, err);
	if (rc == -ST_ENOTFOUND) {
		/* nothing below a missing manifest can be found either; fsck reports it */
		st_log(ST_LOG_DEBUG, "gc: manifest %s is missing", dg);
		return 0;
	}
	if (rc < 0)
		return st_error_wrap(err, "gc: manifest %s", dg);
	if (st_manifest_kind_is_index(kind)) {
		struct st_index ix;
		if ((rc = st_index_parse(raw.data, raw.len, media_type, &ix, err)) < 0)
			return st_error_wrap(err, "gc: %s", dg);
		rc = mark_all(store, gc, ix.n_manifests, ix.manifests, ix.subject, err);
		st_index_release(&ix);
	} else {
		struct st_manifest m;
		if ((rc = st_manifest_parse(raw.data, raw.len, media_type, &m, err)) < 0)
			return st_error_wrap(err, "gc: %s", dg);
		rc = mark(gc, &m.config, err);
		if (rc >= 0)
			rc = mark_all(store, gc, m.n_layers, m.layers, m.subject, err);
		st_manifest_release(&m);
	}
	return rc < 0 ? rc : 0;
}

int st_image_register_gc(struct st_store *store, struct st_error *err)
{
	int rc = st_store_add_gc_expander(store, gc_expand, NULL, err);

	return rc < 0 ? rc : image_register_sibling_gc(store, err);
}
