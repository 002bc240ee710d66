/* build-cache.c: the build cache: every entry of cache/build/ maps a step key to the
 * intermediate image (manifest, and so config and layers) the step made; gc keeps them and
 * `builder prune` drops them all. A key missing here may come from a --cache-from source
 * (build-cache-export.c). COPY's target-free keys live beside them in cache/copy-key/. */
#include "build/build-internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "strata/image.h"
#include "util/cleanup.h"
#include "util/fs.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

static int open_cache(struct st_store *s, DIR **out, struct st_error *err)
{
	int fd = openat(st_store_root_fd(s), "cache/build", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	*out = NULL;
	if (fd < 0)
		return errno == ENOENT
		               ? 0
		               : st_error_sys(err, "open '%s/cache/build'", st_store_root(s));
	*out = fdopendir(fd);
	if (!*out) {
		(void)close(fd);
		return st_error_sys(err, "open '%s/cache/build'", st_store_root(s));
	}
	return 0;
}

static int mark_roots(struct st_store *s, struct st_gc *gc, void *ctx, struct st_error *err)
{
	cleanup_dir DIR *d = NULL;
	struct dirent *e;
	int rc = open_cache(s, &d, err);

	(void)ctx;
	while (rc == 0 && d && (e = readdir(d))) {
		struct st_buf line = ST_BUF_INIT;
		struct st_digest dg;
		if (e->d_name[0] == '.')
			continue;
		if (st_read_file_at(dirfd(d), e->d_name, &line, 4096, NULL) == 0 &&
		    st_digest_parse(line.data, strcspn(line.data, " "), &dg, NULL) == 0)
			rc = st_gc_mark(gc, &dg, ST_MT_OCI_MANIFEST, err);
		st_buf_release(&line);
	}
	return rc;
}

int st_build_register_gc(struct st_store *s, struct st_error *err)
{
	return st_store_add_gc_root(s, mark_roots, NULL, err);
}

int st_build_prune(struct st_store *s, uint64_t *out_entries, struct st_error *err)
{
	cleanup_dir DIR *d = NULL;
	struct dirent *e;
	uint64_t n = 0;
	int rc;

	rc = st_store_lease(s, err);
	if (rc < 0)
		return rc;
	rc = open_cache(s, &d, err);
	while (rc == 0 && d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) < 0 && errno != ENOENT)
			rc = st_error_sys(err, "remove cache entry %s", e->d_name);
		else
			n++;
	}
	if (rc == 0)
		rc = st_rm_rf_at(st_store_root_fd(s), "cache/copy-key", err);
	if (rc == 0)
		rc = st_rm_rf_at(st_store_root_fd(s), "cache/explain", err);
	/* the content-hash memo is a cache too */
	if (rc == 0)
		rc = st_remove_replaced_file(st_store_root_fd(s), "cache/hash-memo", err);
	st_store_unlease(s);
	if (rc == 0 && out_entries)
		*out_entries = n;
	return rc;
}

/* ---- entries: cache/build/<key hex>[.zstd|.tar] holds "<manifest digest> <size>\n" ----
 * The compression is not in the key (it changes no file of the result), but a step's layers
 * have one: an entry per compression, so that builds asking for gzip and for zstd or
 * uncompressed layers each find their own. */

static int entry_name(const struct bctx *b, const struct st_digest *key, char *out)
{
	char hex[ST_DIGEST_HEX_MAX + 1];
	enum st_layer_compression c = b->o->layer.compression;

	st_digest_hex(key, hex);
	return snprintf(out, 128, "cache/build/%s%s", hex,
	                c == ST_LAYER_COMPRESS_ZSTD   ? ".zstd"
	                : c == ST_LAYER_COMPRESS_NONE ? ".tar"
	                                              : "") < 128
	               ? 0
	               : -ST_ELIMIT;
}

int build_cache_entry(struct bctx *b, const struct st_digest *key, struct st_descriptor *out)
{
	struct st_buf line = ST_BUF_INIT;
	char name[128], *sp, *end = NULL;
	int rc = entry_name(b, key, name);

	memset(out, 0, sizeof(*out));
	if (rc == 0)
		rc = st_read_file_at(st_store_root_fd(b->s), name, &line, 4096, NULL);
	sp = rc == 0 ? strchr(line.data, ' ') : NULL;
	if (rc == 0 && sp)
		end = strchr(sp + 1, '\n');
	if (end)
		*end = '\0';
	/* a torn or foreign entry is a miss */
	if (!sp || st_digest_parse(line.data, (size_t)(sp - line.data), &out->digest, NULL) < 0 ||
	    st_parse_u64(sp + 1, &out->size) < 0)
		rc = -ST_ENOTFOUND;
	st_buf_release(&line);
	if (rc < 0)
		return rc;
	out->media_type = strdup(ST_MT_OCI_MANIFEST);
	return out->media_type ? 0 : st_error_set(b->err, ST_ENOMEM, "out of memory");
}

int build_cache_entry_put(struct bctx *b, const struct st_digest *key,
                          const struct st_descriptor *d)
{
	struct st_buf line = ST_BUF_INIT;
	char name[128], dg[ST_DIGEST_STR_MAX];
	int rc = entry_name(b, key, name), dirfd = -1;

	st_digest_str(&d->digest, dg);
	if (rc == 0)
		rc = st_buf_addf(&line, b->err, "%s %llu\n", dg, (unsigned long long)d->size);
	if (rc == 0)
		rc = st_mkdir_p(st_store_root_fd(b->s), "cache/build", 0700, b->err);
	if (rc == 0)
		rc = dirfd = st_open_dir_at(st_store_root_fd(b->s), "cache/build", b->err);
	if (rc >= 0)
		rc = st_write_file_atomic(dirfd, strrchr(name, '/') + 1, dirfd, line.data, line.len,
		                          0600, b->err);
	if (dirfd >= 0)
		(void)close(dirfd);
	st_buf_release(&line);
	return rc < 0 ? rc : 0;
}

/* Were the layers a cached step added (those past the parent's) made with the compression this
 * build asks for? A cache made with --compression zstd must not hand gzip layers to a gzip
 * build's neighbour asking for zstd, and the other way round. */
static bool same_compression(const struct bctx *b, const struct st_manifest *parent,
                             const struct st_manifest *m)
{
	const char *want = b->o->layer.compression == ST_LAYER_COMPRESS_ZSTD ? ST_MT_OCI_LAYER_ZSTD
	                   : b->o->layer.compression == ST_LAYER_COMPRESS_NONE
	                           ? ST_MT_OCI_LAYER
	                           : ST_MT_OCI_LAYER_GZIP;

	for (size_t i = parent->n_layers; i < m->n_layers; i++)
		if (!m->layers[i].media_type || strcmp(m->layers[i].media_type, want) != 0)
			return false;
	return true;
}

/* The intermediate image of a local entry into *st: 1, or 0 when there is none, its blobs are
 * gone (gc, corruption) or its new layers have another compression: a miss, not an error;
 * < 0 when st's pending layer fails. */
static int load_entry(struct bctx *b, const struct st_digest *key, struct bstate *st)
{
	struct st_descriptor d;
	struct st_image img;
	int rc = build_cache_entry(b, key, &d);

	if (rc == 0)
		rc = st_image_load(b->s, &d, NULL, &img, NULL);
	st_descriptor_release(&d);
	if (rc < 0)
		return 0;
	/* the state is about to be replaced: the layer still being written goes in first, its
	 * step gets its cache entry */
	rc = build_layer_join(b, st, b->err);
	if (rc < 0) {
		st_image_release(&img);
		return rc;
	}
	if (!same_compression(b, &st->man, &img.manifest)) {
		st_image_release(&img);
		return 0;
	}
	build_state_take_image(st, &img);
	return 1;
}

int build_cache_get(struct bctx *b, const struct st_digest *key, struct bstate *st)
{
	int rc;

	if (b->o->no_cache)
		return 0;
	rc = load_entry(b, key, st);
	if (rc != 0)
		return rc;
	/* not here: a --cache-from source may have it; its blobs come in and make an entry (which
	 * is still a miss when the source's layers have another compression) */
	rc = build_cache_import(b, key);
	if (rc <= 0)
		return rc;
	return load_entry(b, key, st);
}

int build_cache_put(struct bctx *b, const struct st_digest *key, struct bstate *st)
{
	struct st_descriptor d = {0};
	int rc = st_image_write(b->s, &st->cfg, &st->man, &d, b->err);

	if (rc == 0)
		rc = build_cache_entry_put(b, key, &d);
	st_descriptor_release(&d);
	return rc;
}

/* ---- COPY's target-free keys: cache/copy-key/<fast key> holds the step's full key ---- */

static int fast_name(const struct st_digest *fast, char *out)
{
	char hex[ST_DIGEST_HEX_MAX + 1];

	st_digest_hex(fast, hex);
	return snprintf(out, 128, "cache/copy-key/%s", hex) < 128 ? 0 : -ST_ELIMIT;
}

int build_fast_key_get(struct bctx *b, const struct st_digest *fast, struct st_digest *out)
{
	struct st_buf data = ST_BUF_INIT;
	char name[128];
	int rc = fast_name(fast, name);

	if (rc == 0)
		rc = st_read_file_at(st_store_root_fd(b->s), name, &data, 64, NULL);
	if (rc == 0 && data.len != 32)
		rc = -ST_EINVALID; /* a torn or foreign entry is a miss */
	if (rc == 0) {
		out->alg = ST_DIGEST_SHA256;
		memcpy(out->bytes, data.data, 32);
	}
	st_buf_release(&data);
	return rc == 0 ? 1 : 0;
}

/* Only a cache: no fsync (a torn entry is a miss), written under a temporary name and renamed. */
int build_fast_key_put(struct bctx *b, const struct st_digest *fast, const struct st_digest *key)
{
	char name[128], tmp[160], rnd[17];
	cleanup_fd int fd = -1;
	int rc = fast_name(fast, name);

	if (rc == 0)
		rc = st_random_hex(rnd, 8, b->err);
	if (rc == 0)
		rc = st_mkdir_p(st_store_root_fd(b->s), "cache/copy-key", 0700, b->err);
	if (rc < 0)
		return rc;
	(void)snprintf(tmp, sizeof(tmp), "%s.tmp-%s", name, rnd);
	fd = openat(st_store_root_fd(b->s), tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return st_error_sys(b->err, "create '%s'", tmp);
	rc = st_write_all(fd, key->bytes, 32, b->err);
	if (rc == 0 && renameat(st_store_root_fd(b->s), tmp, st_store_root_fd(b->s), name) < 0)
		rc = st_error_sys(b->err, "rename '%s'", tmp);
	if (rc < 0)
		(void)unlinkat(st_store_root_fd(b->s), tmp, 0);
	return rc;
}
