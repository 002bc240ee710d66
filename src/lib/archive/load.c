/* load.c: images into the store from a docker-archive, an oci-archive or an OCI image layout
 * directory. An archive is first extracted by the layer module's safe extractor into the
 * store's tmp/; every blob is then streamed through the store's verifying writer, so nothing
 * whose bytes do not match its digest is ever stored. Names come from Docker's RepoTags, the
 * io.containerd.image.name annotation, or a full reference in ref.name. */
#include "archive/archive-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/descriptor-json.h"
#include "strata/image.h"
#include "strata/ref.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/json.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

#define MAX_ARCHIVE_JSON (16u << 20)

struct loader {
	struct st_store *store;
	int dirfd; /* the layout */
	const char *repo;
	json_t *docker; /* manifest.json, or NULL */
	st_load_fn cb;
	void *ctx;
};

/* Streams the file at path into the store; verifies it against expected when given. */
static int copy_file(struct loader *l, const char *path, const struct st_digest *expected,
                     struct st_digest *out, uint64_t *out_size, unsigned char *magic,
                     struct st_error *err)
{
	static char buf[1 << 17];
	struct st_blob_writer *w = NULL;
	cleanup_fd int fd = st_archive_open_in(l->dirfd, path, err);
	bool first = true;
	ssize_t n;
	int rc;

	if (fd < 0)
		return fd;
	rc = st_blob_writer_new(l->store, &w, err);
	while (rc == 0 && (n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			rc = st_error_sys(err, "read archive entry '%s'", path);
			break;
		}
		if (first && magic)
			memcpy(magic, buf, n >= 4 ? 4 : (size_t)n);
		first = false;
		rc = st_blob_writer_write(w, buf, (size_t)n, err);
	}
	if (rc == 0 && out_size)
		*out_size = st_blob_writer_size(w);
	if (rc == 0)
		rc = st_blob_writer_commit(w, expected, out, err);
	st_blob_writer_free(w);
	return rc;
}

static int copy_desc(struct loader *l, const struct st_descriptor *d, struct st_error *err)
{
	char path[ST_DIGEST_STR_MAX + 16], hex[ST_DIGEST_HEX_MAX + 1];
	uint64_t size = 0;
	int rc;

	st_digest_hex(&d->digest, hex);
	(void)snprintf(path, sizeof(path), "blobs/%s/%s", st_digest_alg_name(d->digest.alg), hex);
	rc = copy_file(l, path, &d->digest, NULL, &size, NULL, err);
	if (rc == 0 && size != d->size)
		rc = st_error_set(err, ST_EINVALID, "blob %s:%s: size %llu, descriptor says %llu",
		                  st_digest_alg_name(d->digest.alg), hex, (unsigned long long)size,
		                  (unsigned long long)d->size);
	return rc;
}

static int read_in(struct loader *l, const char *path, struct st_buf *out, struct st_error *err)
{
	cleanup_fd int fd = st_archive_open_in(l->dirfd, path, err);
	int rc;

	if (fd < 0)
		return fd;
	rc = st_read_all(fd, out, MAX_ARCHIVE_JSON, err);
	return rc < 0 ? st_error_wrap(err, "archive entry '%s'", path) : 0;
}

static int copy_index(struct loader *l, const struct st_descriptor *d, struct st_digest *config,
                      struct st_error *err)
{
	struct st_buf raw = ST_BUF_INIT;
	char path[ST_DIGEST_STR_MAX + 16], hex[ST_DIGEST_HEX_MAX + 1];
	struct st_index ix;
	struct st_platform host;
	int rc, best;

	st_digest_hex(&d->digest, hex);
	(void)snprintf(path, sizeof(path), "blobs/%s/%s", st_digest_alg_name(d->digest.alg), hex);
	rc = read_in(l, path, &raw, err);
	if (rc == 0)
		rc = st_index_parse(raw.data, raw.len, d->media_type, &ix, err);
	st_buf_release(&raw);
	if (rc < 0)
		return rc;
	st_platform_host(&host);
	best = st_index_select(&ix, &host, NULL);
	for (size_t i = 0; i < ix.n_manifests && rc == 0; i++) {
		char p2[ST_DIGEST_STR_MAX + 16];
		st_digest_hex(&ix.manifests[i].digest, hex);
		(void)snprintf(p2, sizeof(p2), "blobs/%s/%s",
		               st_digest_alg_name(ix.manifests[i].digest.alg), hex);
		/* an archive may hold only some platforms of an index (skopeo, docker save) */
		if (faccessat(l->dirfd, p2, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		rc = st_layout_copy_image(l->store, l->dirfd, &ix.manifests[i],
		                          (int)i == best ? config : NULL, err);
	}
	if (rc == 0)
		rc = copy_desc(l, d, err);
	st_index_release(&ix);
	return rc;
}

/* The store name of an index.json entry, or NULL (untagged); malloc'd into *out. */
static int entry_name(struct loader *l, const struct st_descriptor *d, char **out,
                      struct st_error *err)
{
	const char *full = st_descriptor_annotation(d, "io.containerd.image.name");
	const char *rn = st_descriptor_annotation(d, ST_ANNOT_REF_NAME);
	struct st_buf b = ST_BUF_INIT;
	struct st_ref r;
	int rc = 0;

	*out = NULL;
	if (!full && rn && !strchr(rn, '/') && !strchr(rn, ':') && st_ref_valid_tag(rn)) {
		/* a bare tag, as skopeo writes into layouts */
		if (!l->repo)
			return 0;
		rc = st_buf_addf(&b, err, "%s:%s", l->repo, rn);
		full = b.data;
	} else if (!full) {
		full = rn;
	}
	if (rc == 0 && full) {
		rc = st_ref_parse(full, &r, err);
		if (rc < 0) {
			st_buf_release(&b);
			return st_error_wrap(err, "image name");
		}
		st_buf_reset(&b);
		rc = st_ref_format(&r, ST_REF_FORMAT_NO_DIGEST, &b, err);
		if (rc == 0 && r.tag)
			*out = st_buf_detach(&b, NULL);
		st_ref_release(&r);
	}
	st_buf_release(&b);
	return rc;
}

static int tag_one(struct loader *l, const struct st_descriptor *d, const char *name,
                   struct st_error *err)
{
	struct st_descriptor clean;
	int rc = st_descriptor_copy(&clean, d, err);

	if (rc < 0)
		return rc;
	/* index.json annotations of the archive describe the archive's entry, not the image */
	while (clean.n_annotations)
		(void)st_descriptor_set_annotation(&clean, clean.annotations[0].key, NULL, NULL);
	rc = st_store_tag(l->store, name, &clean, err);
	if (rc == 0 && l->cb)
		l->cb(&clean, name, l->ctx);
	st_descriptor_release(&clean);
	return rc;
}

/* Docker's RepoTags of the manifest.json entry whose Config is the config digest. */
static int docker_names(struct loader *l, const struct st_digest *config,
                        const struct st_descriptor *d, struct st_error *err)
{
	char hex[ST_DIGEST_HEX_MAX + 1];
	json_t *e, *tags, *t;
	size_t i, k;
	int rc = 0, tagged = 0;

	st_digest_hex(config, hex);
	json_array_foreach(l->docker, i, e)
	{
		const char *cfg = json_string_value(json_object_get(e, "Config"));
		if (!cfg || !strstr(cfg, hex))
			continue;
		tags = json_object_get(e, "RepoTags");
		json_array_foreach(tags, k, t)
		{
			struct st_ref r;
			struct st_buf b = ST_BUF_INIT;
			if (!json_is_string(t))
				continue;
			rc = st_ref_parse(json_string_value(t), &r, err);
			if (rc < 0)
				return st_error_wrap(err, "manifest.json RepoTags");
			rc = st_ref_format(&r, ST_REF_FORMAT_NO_DIGEST, &b, err);
			if (rc == 0)
				rc = tag_one(l, d, b.data, err);
			st_buf_release(&b);
			st_ref_release(&r);
			if (rc < 0)
				return rc;
			tagged++;
		}
	}
	return tagged;
}

static int load_layout(struct loader *l, struct st_error *err)
{
	struct st_descriptor *entries = NULL;
	size_t n = 0;
	int rc = st_layout_list(l->dirfd, &entries, &n, err);

	for (size_t i = 0; i < n && rc == 0; i++) {
		const struct st_descriptor *d = &entries[i];
		struct st_digest config = {0};
		enum st_manifest_kind k = st_manifest_kind_of(d->media_type);
		char *name = NULL;
		rc = st_manifest_kind_is_index(k)
		             ? copy_index(l, d, &config, err)
		             : st_layout_copy_image(l->store, l->dirfd, d, &config, err);
		if (rc == 0)
			rc = entry_name(l, d, &name, err);
		if (rc == 0 && l->docker && config.alg) {
			rc = docker_names(l, &config, d, err);
			if (rc > 0 && !name)
				rc = 0; /* named through RepoTags */
			else if (rc >= 0)
				rc = tag_one(l, d, name, err);
		} else if (rc == 0) {
			rc = tag_one(l, d, name, err);
		}
		free(name);
	}
	st_store_entries_free(entries, n);
	return rc < 0 ? rc : 0;
}

static const char *layer_type(const unsigned char *magic)
{
	if (magic[0] == 0x1f && magic[1] == 0x8b)
		return ST_MT_DOCKER_LAYER_GZIP;
	if (magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd)
		return ST_MT_OCI_LAYER_ZSTD;
	return ST_MT_DOCKER_LAYER;
}

/* A classic `docker save` entry (manifest.json only): config and layer files become blobs and
 * a Docker schema 2 manifest is written for them. */
static int load_docker_entry(struct loader *l, const json_t *e, size_t idx, struct st_error *err)
{
	char what[48];
	const char *cfg;
	json_t *layers, *lj;
	struct st_manifest m;
	struct st_descriptor d = {0}, out = {0};
	struct st_buf raw = ST_BUF_INIT;
	size_t i;
	int rc;

	(void)snprintf(what, sizeof(what), "manifest.json[%zu]", idx);
	if ((rc = st_json_get_str(e, "Config", true, what, &cfg, err)) < 0 ||
	    (rc = st_json_get_arr(e, "Layers", true, what, &layers, err)) < 0)
		return rc;
	st_manifest_init(&m, ST_KIND_DOCKER_MANIFEST);
	d.media_type = (char *)ST_MT_DOCKER_CONFIG;
	rc = copy_file(l, cfg, NULL, &d.digest, &d.size, NULL, err);
	if (rc == 0)
		rc = st_manifest_set_config(&m, &d, err);
	json_array_foreach(layers, i, lj)
	{
		unsigned char magic[4] = {0};
		if (rc < 0)
			break;
		if (!json_is_string(lj)) {
			rc = st_error_set(err, ST_EINVALID, "%s: Layers[%zu] must be a string",
			                  what, i);
			break;
		}
		rc = copy_file(l, json_string_value(lj), NULL, &d.digest, &d.size, magic, err);
		d.media_type = (char *)layer_type(magic);
		if (rc == 0)
			rc = st_manifest_add_layer(&m, &d, err);
	}
	if (rc == 0)
		rc = st_manifest_dump(&m, &raw, err);
	if (rc == 0)
		rc = st_store_put_blob(l->store, raw.data, raw.len, NULL, &out.digest, err);
	if (rc == 0) {
		out.media_type = (char *)ST_MT_DOCKER_MANIFEST;
		out.size = raw.len;
		rc = docker_names(l, &m.config.digest, &out, err);
		if (rc == 0)
			rc = tag_one(l, &out, NULL, err);
	}
	st_buf_release(&raw);
	st_manifest_release(&m);
	return rc < 0 ? rc : 0;
}

static int load_dir(struct loader *l, struct st_error *err)
{
	struct st_buf raw = ST_BUF_INIT;
	bool has_index = faccessat(l->dirfd, "index.json", F_OK, AT_SYMLINK_NOFOLLOW) == 0;
	bool has_docker = faccessat(l->dirfd, "manifest.json", F_OK, AT_SYMLINK_NOFOLLOW) == 0;
	json_t *e;
	size_t i;
	int rc = 0;

	if (!has_index && !has_docker)
		return st_error_set(
		        err, ST_EINVALID,
		        "not an image archive or layout: no index.json or manifest.json");
	if (has_docker) {
		rc = read_in(l, "manifest.json", &raw, err);
		if (rc == 0)
			rc = st_json_parse(raw.data, raw.len, "manifest.json", &l->docker, err);
		st_buf_release(&raw);
		if (rc == 0 && !json_is_array(l->docker))
			rc = st_error_set(err, ST_EINVALID, "manifest.json: must be an array");
		if (rc < 0)
			return rc;
	}
	if (has_index)
		return load_layout(l, err);
	json_array_foreach(l->docker, i, e)
	{
		rc = load_docker_entry(l, e, i, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int st_archive_load(struct st_store *s, const char *path, int fd, const char *repo, st_load_fn cb,
                    void *ctx, struct st_error *err)
{
	struct loader l = {.store = s, .dirfd = -1, .repo = repo, .cb = cb, .ctx = ctx};
	struct st_layer_apply_opts ao = {.mode = ST_LAYER_APPLY_FLAT, .no_owner = true};
	struct st_buf tmp = ST_BUF_INIT;
	cleanup_fd int own = -1;
	struct stat st;
	char rnd[17];
	int rc;

	if (path && stat(path, &st) < 0)
		return st_error_sys(err, "'%s'", path);
	rc = st_store_lease(s, err);
	if (rc < 0)
		return rc;
	if (path && S_ISDIR(st.st_mode)) {
		rc = l.dirfd = st_open_dir_at(AT_FDCWD, path, err);
	} else {
		if (path) {
			own = open(path, O_RDONLY | O_CLOEXEC);
			if (own < 0)
				rc = st_error_sys(err, "open '%s'", path);
			fd = own;
		}
		if (rc == 0)
			rc = st_random_hex(rnd, 8, err);
		if (rc == 0)
			rc = st_buf_addf(&tmp, err, "%s/tmp/load-%s", st_store_root(s), rnd);
		if (rc == 0)
			rc = st_layer_extract_new(tmp.data, fd, &ao, NULL, err);
		if (rc == 0)
			rc = l.dirfd = st_open_dir_at(AT_FDCWD, tmp.data, err);
	}
	if (rc >= 0)
		rc = load_dir(&l, err);
	if (rc < 0 && path)
		st_error_wrap(err, "load '%s'", path);
	if (l.dirfd >= 0)
		(void)close(l.dirfd);
	if (tmp.len)
		(void)st_layer_remove_tree(tmp.data, NULL);
	st_buf_release(&tmp);
	json_decref(l.docker);
	st_store_unlease(s);
	return rc < 0 ? rc : 0;
}
