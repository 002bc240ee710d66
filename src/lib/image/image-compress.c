/* image-compress.c: an image's plain-tar layers compressed for leaving the machine. A build
 * keeps its layers as plain tar, as Docker's and containers-storage's local stores do (no
 * compression on the build's critical path); push and OCI export hand registries and files
 * gzip (or zstd) layers, as `docker push` does. Each layer is compressed once per algorithm:
 * the compressed blob goes to the store and a record under compressed/<alg>/<tar hex> names
 * it ("<digest> <size> <level> <compressor>"), so a re-push costs a lookup; gc keeps a sibling
 * for as long as its tar is kept. The layer compressors are deterministic, so the sibling is
 * the blob a build with --compression gzip would have made, and the converted manifest is the
 * same on every machine with the same compressor (recorded in the descriptor annotations). */
#include "image/image-internal.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "strata/layer.h"
#include "util/fs.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

#define SIBLINGS_DIR "compressed"
#define MAX_INDEX_CHILDREN 4096

static const char *alg_name(enum st_layer_compression c)
{
	return c == ST_LAYER_COMPRESS_ZSTD ? "zstd" : "gzip";
}

static bool is_tar_layer(const char *media_type)
{
	return media_type &&
	       (!strcmp(media_type, ST_MT_OCI_LAYER) || !strcmp(media_type, ST_MT_DOCKER_LAYER));
}

static const char *compressed_type(const char *tar_type, enum st_layer_compression c)
{
	if (!strcmp(tar_type, ST_MT_DOCKER_LAYER))
		return c == ST_LAYER_COMPRESS_ZSTD ? NULL : ST_MT_DOCKER_LAYER_GZIP;
	return c == ST_LAYER_COMPRESS_ZSTD ? ST_MT_OCI_LAYER_ZSTD : ST_MT_OCI_LAYER_GZIP;
}

static int record_path(const struct st_digest *tar, enum st_layer_compression c, struct st_buf *out,
                       struct st_error *err)
{
	char dg[ST_DIGEST_STR_MAX];

	st_digest_str(tar, dg);
	return st_buf_addf(out, err, SIBLINGS_DIR "/%s/%s", alg_name(c), strchr(dg, ':') + 1);
}

/* A sibling recorded earlier and still in the store, as a layer descriptor; 1 when found. */
static int sibling_lookup(struct st_store *store, const struct st_descriptor *tar,
                          enum st_layer_compression c, const char *media_type,
                          struct st_descriptor *out, struct st_error *err)
{
	cleanup_buf struct st_buf path = ST_BUF_INIT;
	cleanup_buf struct st_buf rec = ST_BUF_INIT;
	char dg[ST_DIGEST_STR_MAX + 1], comp[65], lvl[16];
	struct st_digest d;
	unsigned long long size;
	uint64_t have;
	int level;

	if (record_path(&tar->digest, c, &path, err) < 0)
		return -ST_ENOMEM;
	if (st_read_file_at(st_store_root_fd(store), path.data, &rec, 512, NULL) < 0)
		return 0; /* none (or unreadable: made again) */
	if (sscanf(rec.data, "%72s %llu %d %64s", dg, &size, &level, comp) != 4 ||
	    st_digest_parse_str(dg, &d, NULL) < 0 ||
	    st_store_stat_blob(store, &d, &have, NULL) < 0 || have != size)
		return 0; /* stale: gc took the blob, or a torn record */
	if (st_descriptor_copy(out, tar, err) < 0)
		return -ST_ENOMEM;
	free(out->media_type);
	out->media_type = strdup(media_type);
	out->digest = d;
	out->size = size;
	(void)snprintf(lvl, sizeof(lvl), "%d", level);
	if (!out->media_type ||
	    st_descriptor_set_annotation(out, ST_ANNOT_LAYER_COMPRESSOR, comp, err) < 0 ||
	    st_descriptor_set_annotation(out, ST_ANNOT_LAYER_LEVEL, lvl, err) < 0) {
		st_descriptor_release(out);
		return st_error_set(err, ST_ENOMEM, "out of memory");
	}
	return 1;
}

static int blob_sink(void *ctx, const void *p, size_t len, struct st_error *err)
{
	return st_blob_writer_write(ctx, p, len, err);
}

/* Compresses the tar layer into the store and records it. */
static int sibling_make(struct st_store *store, const struct st_descriptor *tar,
                        enum st_layer_compression c, struct st_error *err)
{
	const struct st_layer_create_opts o = {.compression = c};
	cleanup_buf struct st_buf path = ST_BUF_INIT;
	cleanup_buf struct st_buf rec = ST_BUF_INIT;
	struct st_blob_writer *w = NULL;
	struct st_layer_sink sink = {blob_sink, NULL};
	struct st_layer_result res;
	char dg[ST_DIGEST_STR_MAX];
	int fd = -1;
	int rc;

	st_digest_str(&tar->digest, dg);
	rc = st_store_open_blob(store, &tar->digest, &fd, err);
	if (rc == 0)
		rc = st_blob_writer_new(store, &w, err);
	if (rc == 0) {
		st_blob_writer_trust(w); /* st_layer_compress_fd hashes what it writes */
		sink.ctx = w;
		rc = st_layer_compress_fd(fd, &o, &sink, &res, err);
	}
	if (rc == 0 && res.tar_size != tar->size)
		rc = st_error_set(err, ST_EDIGEST,
		                  "layer %s: %" PRIu64 " bytes read, %" PRIu64 " expected", dg,
		                  res.tar_size, tar->size);
	if (rc == 0)
		rc = st_blob_writer_commit(w, &res.digest, NULL, err);
	st_blob_writer_free(w);
	if (fd >= 0)
		(void)close(fd);
	fd = -1;
	if (rc < 0)
		return st_error_wrap(err, "compress layer %s", dg);
	st_digest_str(&res.digest, dg);
	if (st_buf_addf(&path, err, SIBLINGS_DIR "/%s", alg_name(c)) < 0 ||
	    st_buf_addf(&rec, err, "%s %" PRIu64 " %d %s\n", dg, res.size, res.level,
	                res.compressor) < 0)
		return -ST_ENOMEM;
	rc = st_mkdir_p(st_store_root_fd(store), path.data, 0755, err);
	if (rc == 0 && (fd = st_open_dir_at(st_store_root_fd(store), path.data, err)) < 0)
		rc = fd;
	if (rc == 0) {
		/* the temporary lives beside the record: gc's sweep removes a stray one */
		st_digest_str(&tar->digest, dg);
		rc = st_write_file_atomic(fd, strchr(dg, ':') + 1, fd, rec.data, rec.len, 0644,
		                          err);
		(void)close(fd);
	}
	return rc;
}

static int compress_layer(struct st_store *store, struct st_descriptor *l,
                          enum st_layer_compression c, bool *changed, struct st_error *err)
{
	const char *mt;
	struct st_descriptor sib = {0};
	char dg[ST_DIGEST_STR_MAX];
	int rc;

	if (!is_tar_layer(l->media_type))
		return 0;
	if (!(mt = compressed_type(l->media_type, c))) {
		st_digest_str(&l->digest, dg);
		return st_error_set(err, ST_EUNSUPPORTED,
		                    "layer %s: a Docker schema 2 manifest has no zstd layers "
		                    "(use gzip)",
		                    dg);
	}
	rc = sibling_lookup(store, l, c, mt, &sib, err);
	if (rc == 0 && (rc = sibling_make(store, l, c, err)) == 0) {
		rc = sibling_lookup(store, l, c, mt, &sib, err);
		if (rc == 0) {
			st_digest_str(&l->digest, dg);
			rc = st_error_set(err, ST_ENOTFOUND,
			                  "layer %s: its compressed copy vanished", dg);
		}
	}
	if (rc < 0)
		return rc;
	st_descriptor_release(l);
	*l = sib;
	*changed = true;
	return 0;
}

static int put_doc(struct st_store *store, const struct st_buf *body, const char *media_type,
                   const struct st_descriptor *like, struct st_descriptor *out,
                   struct st_error *err)
{
	struct st_descriptor d = {0};
	int rc;

	if (st_descriptor_copy(&d, like, err) < 0)
		return -ST_ENOMEM;
	free(d.media_type);
	d.media_type = strdup(media_type);
	if (!d.media_type) {
		st_descriptor_release(&d);
		return st_error_set(err, ST_ENOMEM, "out of memory");
	}
	d.size = body->len;
	rc = st_store_put_blob(store, body->data, body->len, NULL, &d.digest, err);
	if (rc < 0) {
		st_descriptor_release(&d);
		return rc;
	}
	*out = d;
	return 0;
}

static int compress_manifest(struct st_store *store, const struct st_descriptor *in,
                             enum st_layer_compression c, struct st_descriptor *out,
                             struct st_error *err)
{
	cleanup_buf struct st_buf body = ST_BUF_INIT;
	struct st_manifest m;
	bool changed = false;
	int rc = st_image_read(store, in, ST_MAX_MANIFEST_SIZE, &body, err);

	if (rc < 0 || (rc = st_manifest_parse(body.data, body.len, in->media_type, &m, err)) < 0)
		return rc;
	for (size_t i = 0; rc == 0 && i < m.n_layers; i++)
		rc = compress_layer(store, &m.layers[i], c, &changed, err);
	if (rc == 0 && changed) {
		st_buf_reset(&body);
		rc = st_manifest_dump(&m, &body, err);
		if (rc == 0)
			rc = put_doc(store, &body, in->media_type, in, out, err);
	} else if (rc == 0) {
		rc = st_descriptor_copy(out, in, err);
	}
	st_manifest_release(&m);
	return rc;
}

static int compress_index(struct st_store *store, const struct st_descriptor *in,
                          enum st_layer_compression c, struct st_descriptor *out,
                          struct st_error *err)
{
	cleanup_buf struct st_buf body = ST_BUF_INIT;
	struct st_index ix;
	bool changed = false;
	int rc = st_image_read(store, in, ST_MAX_MANIFEST_SIZE, &body, err);

	if (rc < 0 || (rc = st_index_parse(body.data, body.len, in->media_type, &ix, err)) < 0)
		return rc;
	if (ix.n_manifests > MAX_INDEX_CHILDREN)
		rc = st_error_set(err, ST_ELIMIT, "index with %zu manifests", ix.n_manifests);
	for (size_t i = 0; rc == 0 && i < ix.n_manifests; i++) {
		struct st_descriptor *e = &ix.manifests[i];
		struct st_descriptor conv = {0};

		/* entries not pulled (other platforms) stay as they are */
		if (st_manifest_kind_is_index(st_manifest_kind_of(e->media_type)) ||
		    !st_store_has_blob(store, &e->digest))
			continue;
		rc = compress_manifest(store, e, c, &conv, err);
		if (rc == 0 && !st_digest_equal(&conv.digest, &e->digest)) {
			e->digest = conv.digest;
			e->size = conv.size;
			changed = true;
		}
		st_descriptor_release(&conv);
	}
	if (rc == 0 && changed) {
		st_buf_reset(&body);
		rc = st_index_dump(&ix, &body, err);
		if (rc == 0)
			rc = put_doc(store, &body, in->media_type, in, out, err);
	} else if (rc == 0) {
		rc = st_descriptor_copy(out, in, err);
	}
	st_index_release(&ix);
	return rc;
}

int st_image_compress(struct st_store *store, const struct st_descriptor *in,
                      enum st_layer_compression c, struct st_descriptor *out, struct st_error *err)
{
	enum st_manifest_kind kind = st_manifest_kind_of(in->media_type);

	if (c != ST_LAYER_COMPRESS_GZIP && c != ST_LAYER_COMPRESS_ZSTD)
		return st_error_set(err, ST_EINVALID, "compress an image: gzip or zstd");
	if (kind == ST_KIND_NONE)
		return st_error_set(err, ST_EINVALID, "compress an image: '%s' is no manifest",
		                    in->media_type ? in->media_type : "");
	if (st_manifest_kind_is_index(kind))
		return compress_index(store, in, c, out, err);
	return compress_manifest(store, in, c, out, err);
}

/* ---- gc: a marked tar layer marks its compressed siblings; records of swept tars go ---- */

static int gc_expand_siblings(struct st_store *store, struct st_gc *gc, const struct st_digest *d,
                              const char *media_type, void *ctx, struct st_error *err)
{
	static const enum st_layer_compression algs[] = {ST_LAYER_COMPRESS_GZIP,
	                                                 ST_LAYER_COMPRESS_ZSTD};
	struct st_descriptor tar = {.digest = *d, .media_type = (char *)media_type};

	(void)ctx;
	if (!is_tar_layer(media_type))
		return 0;
	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
		struct st_descriptor sib = {0};
		const char *mt = compressed_type(media_type, algs[i]);
		int rc;

		if (!mt)
			continue;
		/* the size check of the lookup needs the tar's descriptor only for copying */
		rc = sibling_lookup(store, &tar, algs[i], mt, &sib, err);
		if (rc < 0)
			return rc;
		if (rc == 1) {
			rc = st_gc_mark(gc, &sib.digest, sib.media_type, err);
			st_descriptor_release(&sib);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

static int gc_sweep_records(struct st_store *store, struct st_gc *gc, void *ctx, uint64_t *freed,
                            struct st_error *err)
{
	static const char *const algs[] = {"gzip", "zstd"};

	(void)ctx;
	(void)freed;
	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
		struct st_strv names = ST_STRV_INIT;
		char path[sizeof(SIBLINGS_DIR) + 8];
		int dfd;

		(void)snprintf(path, sizeof(path), SIBLINGS_DIR "/%s", algs[i]);
		dfd = openat(st_store_root_fd(store), path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			continue;
		if (st_list_dir(dfd, &names, err) < 0) {
			(void)close(dfd);
			return -ST_ENOMEM;
		}
		for (size_t j = 0; j < names.n; j++) {
			char dg[ST_DIGEST_STR_MAX];
			struct st_digest d;

			(void)snprintf(dg, sizeof(dg), "sha256:%s", names.v[j]);
			/* a record of a tar gc did not keep, or a leftover temporary */
			if (st_digest_parse_str(dg, &d, NULL) < 0 || !st_gc_is_marked(gc, &d))
				(void)unlinkat(dfd, names.v[j], 0);
		}
		st_strv_release(&names);
		(void)close(dfd);
	}
	return 0;
}

int image_register_sibling_gc(struct st_store *store, struct st_error *err)
{
	int rc = st_store_add_gc_expander(store, gc_expand_siblings, NULL, err);

	return rc < 0 ? rc : st_store_add_gc_sweeper(store, gc_sweep_records, NULL, err);
}
