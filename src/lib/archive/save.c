/* save.c: images to one tar (or, for build outputs with tar=false, a directory): an OCI image
 * layout (oci-archive), plus Docker's manifest.json for docker-archive (the layout `docker save`
 * writes since Docker 25, which podman, skopeo and older Docker read through manifest.json).
 * Entries are in a fixed order with fixed metadata, so the same images give the same bytes. */
#include "strata/archive.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive/archive-internal.h"
#include "layer/archive-api.h"
#include "store/descriptor-json.h"
#include "strata/image.h"
#include "strata/ref.h"
#include "util/cleanup.h"
#include "util/json.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

struct saver {
	struct st_store *store;
	struct archive *a;
	const char *dir;           /* archive_save_dir: entries are written under it */
	struct st_digest *written; /* blobs already in the archive */
	size_t n_written, cap_written;
};

static int arch_err(struct saver *sv, struct st_error *err, const char *what)
{
	return st_error_set(err, ST_ESYS, "write archive: %s: %s", what,
	                    archive_error_string(sv->a) ? archive_error_string(sv->a) : "error");
}

static int add_header(struct saver *sv, const char *name, int64_t size, bool dir,
                      struct st_error *err)
{
	struct archive_entry *e = archive_entry_new();
	char path[4096];
	int r;

	if (!e)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	if (sv->dir &&
	    (size_t)snprintf(path, sizeof(path), "%s/%s", sv->dir, name) >= sizeof(path)) {
		archive_entry_free(e);
		return st_error_set(err, ST_ELIMIT, "path too long: %s/%s", sv->dir, name);
	}
	archive_entry_set_pathname(e, sv->dir ? path : name);
	archive_entry_set_filetype(e, dir ? AE_IFDIR : AE_IFREG);
	archive_entry_set_perm(e, dir ? 0755 : 0644);
	archive_entry_set_size(e, dir ? 0 : size);
	archive_entry_set_mtime(e, 0, 0);
	r = archive_write_header(sv->a, e);
	archive_entry_free(e);
	return r == ARCHIVE_OK ? 0 : arch_err(sv, err, name);
}

static int add_bytes(struct saver *sv, const char *name, const void *p, size_t len,
                     struct st_error *err)
{
	int rc = add_header(sv, name, (int64_t)len, false, err);

	if (rc < 0)
		return rc;
	if (len && archive_write_data(sv->a, p, len) != (la_ssize_t)len)
		return arch_err(sv, err, name);
	return 0;
}

static bool already(struct saver *sv, const struct st_digest *d)
{
	for (size_t i = 0; i < sv->n_written; i++)
		if (st_digest_equal(&sv->written[i], d))
			return true;
	return false;
}

static int add_blob(struct saver *sv, const struct st_digest *d, struct st_error *err)
{
	char name[ST_DIGEST_STR_MAX + 16], hex[ST_DIGEST_HEX_MAX + 1];
	static char buf[1 << 17];
	cleanup_fd int fd = -1;
	struct stat st;
	ssize_t n;
	int rc;

	if (already(sv, d))
		return 0;
	if (sv->n_written == sv->cap_written) {
		size_t nc = sv->cap_written ? sv->cap_written * 2 : 16;
		struct st_digest *nw = realloc(sv->written, nc * sizeof(*nw));
		if (!nw)
			return st_error_set(err, ST_ENOMEM, "out of memory");
		sv->written = nw;
		sv->cap_written = nc;
	}
	sv->written[sv->n_written++] = *d;
	rc = st_store_open_blob(sv->store, d, &fd, err);
	if (rc < 0)
		return rc;
	if (fstat(fd, &st) < 0)
		return st_error_sys(err, "stat blob");
	st_digest_hex(d, hex);
	(void)snprintf(name, sizeof(name), "blobs/%s/%s", st_digest_alg_name(d->alg), hex);
	rc = add_header(sv, name, st.st_size, false, err);
	if (rc < 0)
		return rc;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (archive_write_data(sv->a, buf, (size_t)n) != n)
			return arch_err(sv, err, name);
	if (n < 0)
		return st_error_sys(err, "read blob %s", hex);
	return 0;
}

/* Adds the manifest, its config and layers; *cfg (may be NULL) gets the config descriptor's
 * digest and layers' digests for manifest.json. */
static int add_manifest_blobs(struct saver *sv, const struct st_descriptor *desc,
                              struct st_manifest *out, struct st_error *err)
{
	struct st_buf raw = ST_BUF_INIT;
	int rc;

	rc = st_image_read(sv->store, desc, ST_MAX_MANIFEST_SIZE, &raw, err);
	if (rc == 0)
		rc = st_manifest_parse(raw.data, raw.len, desc->media_type, out, err);
	st_buf_release(&raw);
	if (rc < 0)
		return rc;
	rc = add_blob(sv, &out->config.digest, err);
	for (size_t i = 0; i < out->n_layers && rc == 0; i++)
		rc = add_blob(sv, &out->layers[i].digest, err);
	if (rc == 0)
		rc = add_blob(sv, &desc->digest, err);
	if (rc < 0)
		st_manifest_release(out);
	return rc;
}

static int add_index_blobs(struct saver *sv, const struct st_descriptor *desc, struct st_error *err)
{
	struct st_buf raw = ST_BUF_INIT;
	struct st_index ix;
	int rc;

	rc = st_image_read(sv->store, desc, ST_MAX_MANIFEST_SIZE, &raw, err);
	if (rc == 0)
		rc = st_index_parse(raw.data, raw.len, desc->media_type, &ix, err);
	st_buf_release(&raw);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < ix.n_manifests && rc == 0; i++) {
		struct st_manifest m;
		/* platforms that were never pulled are not in the store: leave them out */
		if (!st_store_has_blob(sv->store, &ix.manifests[i].digest))
			continue;
		rc = add_manifest_blobs(sv, &ix.manifests[i], &m, err);
		if (rc == 0)
			st_manifest_release(&m);
	}
	if (rc == 0)
		rc = add_blob(sv, &desc->digest, err);
	st_index_release(&ix);
	return rc;
}

/* The entry of manifest.json whose Config is `config`, or NULL. */
static json_t *find_docker_entry(json_t *list, const char *config)
{
	for (size_t i = 0; i < json_array_size(list); i++) {
		json_t *c = json_object_get(json_array_get(list, i), "Config");
		if (json_is_string(c) && strcmp(json_string_value(c), config) == 0)
			return json_array_get(list, i);
	}
	return NULL;
}

/* A new manifest.json entry for im (its config and layers); *out_tags is its RepoTags. */
static int new_docker_entry(const struct st_image *im, const char *config, json_t *list,
                            json_t **out_tags, struct st_error *err)
{
	json_t *e = json_object(), *tags = json_array(), *layers = json_array();
	char p[ST_DIGEST_STR_MAX + 16], hex[ST_DIGEST_HEX_MAX + 1];
	int rc;

	if (!e || !tags || !layers || json_array_append_new(list, e) != 0) {
		json_decref(tags);
		json_decref(layers);
		return st_error_set(err, ST_ENOMEM, "out of memory");
	}
	if ((rc = st_json_set_new(e, "RepoTags", tags, err)) < 0 ||
	    (rc = st_json_set_new(e, "Layers", layers, err)) < 0 ||
	    (rc = st_json_set_str(e, "Config", config, err)) < 0)
		return rc;
	for (size_t i = 0; i < im->manifest.n_layers; i++) {
		st_digest_hex(&im->manifest.layers[i].digest, hex);
		(void)snprintf(p, sizeof(p), "blobs/sha256/%s", hex);
		if (json_array_append_new(layers, json_string(p)) != 0)
			return st_error_set(err, ST_ENOMEM, "out of memory");
	}
	*out_tags = tags;
	return 0;
}

/* The manifest.json entry of one image (docker-archive). Names of the same image share one
 * entry, as `docker save` writes them. */
static int docker_entry(struct saver *sv, const struct st_save_image *img, json_t *list,
                        struct st_error *err)
{
	struct st_image im;
	json_t *e, *tags = NULL;
	char p[ST_DIGEST_STR_MAX + 16], hex[ST_DIGEST_HEX_MAX + 1];
	int rc = st_image_load(sv->store, &img->desc, NULL, &im, err);

	if (rc < 0)
		return rc;
	st_digest_hex(&im.manifest.config.digest, hex);
	(void)snprintf(p, sizeof(p), "blobs/sha256/%s", hex);
	e = find_docker_entry(list, p);
	if (e)
		tags = json_object_get(e, "RepoTags");
	else
		rc = new_docker_entry(&im, p, list, &tags, err);
	if (rc == 0 && img->name) {
		struct st_ref r;
		struct st_buf fam = ST_BUF_INIT;
		if (st_ref_parse(img->name, &r, NULL) == 0) {
			if (st_ref_familiar(&r, ST_REF_FORMAT_NO_DIGEST, &fam, err) == 0 &&
			    json_array_append_new(tags, json_string(fam.data)) != 0)
				rc = st_error_set(err, ST_ENOMEM, "out of memory");
			st_ref_release(&r);
		}
		st_buf_release(&fam);
	}
	st_image_release(&im);
	return rc;
}

static int index_entry(const struct st_save_image *img, json_t *manifests, struct st_error *err)
{
	struct st_descriptor d;
	json_t *j;
	int rc = st_descriptor_copy(&d, &img->desc, err);

	if (rc < 0)
		return rc;
	(void)st_descriptor_set_annotation(&d, ST_ANNOT_REF_NAME, NULL, err);
	if (img->name) {
		/* as Docker and containerd: the full name in io.containerd.image.name, the tag in
		 * ref.name (what `skopeo ... oci-archive:FILE:TAG` looks up) */
		struct st_ref r;
		if (st_ref_parse(img->name, &r, NULL) == 0) {
			rc = st_descriptor_set_annotation(&d, "io.containerd.image.name", img->name,
			                                  err);
			if (rc == 0 && r.tag)
				rc = st_descriptor_set_annotation(&d, ST_ANNOT_REF_NAME, r.tag,
				                                  err);
			st_ref_release(&r);
		}
	}
	if (rc == 0)
		rc = st_descriptor_to_json(&d, &j, err);
	if (rc == 0 && json_array_append_new(manifests, j) != 0)
		rc = st_error_set(err, ST_ENOMEM, "out of memory");
	st_descriptor_release(&d);
	return rc;
}

static int add_json(struct saver *sv, const char *name, const json_t *j, struct st_error *err)
{
	struct st_buf b = ST_BUF_INIT;
	int rc = st_json_dump(j, &b, err);

	if (rc == 0)
		rc = add_bytes(sv, name, b.data, b.len, err);
	st_buf_release(&b);
	return rc;
}

static int save_all(struct saver *sv, const struct st_save_image *images, size_t n,
                    enum st_archive_format format, struct st_error *err)
{
	cleanup_json json_t *index = json_object();
	cleanup_json json_t *dm = json_array();
	json_t *manifests = json_array();
	int rc;

	if (!index || !dm || st_json_set_new(index, "manifests", manifests, err) < 0)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	if ((rc = st_json_set_new(index, "schemaVersion", json_integer(2), err)) < 0 ||
	    (rc = st_json_set_str(index, "mediaType", ST_MT_OCI_INDEX, err)) < 0)
		return rc;
	if ((rc = add_bytes(sv, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", 30, err)) < 0 ||
	    (rc = add_header(sv, "blobs", 0, true, err)) < 0 ||
	    (rc = add_header(sv, "blobs/sha256", 0, true, err)) < 0)
		return rc;
	for (size_t i = 0; i < n && rc == 0; i++) {
		enum st_manifest_kind k = st_manifest_kind_of(images[i].desc.media_type);
		if (st_manifest_kind_is_index(k)) {
			rc = add_index_blobs(sv, &images[i].desc, err);
		} else {
			struct st_manifest m;
			rc = add_manifest_blobs(sv, &images[i].desc, &m, err);
			if (rc == 0)
				st_manifest_release(&m);
		}
		if (rc == 0)
			rc = index_entry(&images[i], manifests, err);
		if (rc == 0 && format == ST_ARCHIVE_DOCKER)
			rc = docker_entry(sv, &images[i], dm, err);
	}
	if (rc == 0)
		rc = add_json(sv, "index.json", index, err);
	if (rc == 0 && format == ST_ARCHIVE_DOCKER)
		rc = add_json(sv, "manifest.json", dm, err);
	return rc;
}

/* Writes every entry through sv->a (opened by the caller) and closes it. */
static int save_with(struct saver *sv, const struct st_save_image *images, size_t n,
                     enum st_archive_format format, struct st_error *err)
{
	int rc = save_all(sv, images, n, format, err);

	if (archive_write_close(sv->a) != ARCHIVE_OK && rc == 0)
		rc = arch_err(sv, err, "close");
	archive_write_free(sv->a);
	free(sv->written);
	return rc;
}

int st_archive_save(struct st_store *s, const struct st_save_image *images, size_t n,
                    enum st_archive_format format, int fd, struct st_error *err)
{
	struct saver sv = {.store = s};
	int rc;

	sv.a = archive_write_new();
	if (!sv.a)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	/* ustar: every name here is short, and Docker's and Go's readers all take it */
	if (archive_write_set_format_ustar(sv.a) != ARCHIVE_OK ||
	    archive_write_add_filter_none(sv.a) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(sv.a, 1) != ARCHIVE_OK ||
	    archive_write_open_fd(sv.a, fd) != ARCHIVE_OK) {
		rc = arch_err(&sv, err, "open");
		archive_write_free(sv.a);
		return rc;
	}
	return save_with(&sv, images, n, format, err);
}

int archive_save_dir(struct st_store *s, const struct st_save_image *images, size_t n,
                     enum st_archive_format format, const char *dir, struct st_error *err)
{
	struct saver sv = {.store = s, .dir = dir};
	int rc;

	/* the same entries, written to disk by libarchive: every name is ours, never a link */
	sv.a = archive_write_disk_new();
	if (!sv.a)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	if (archive_write_disk_set_options(sv.a,
	                                   ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
	                                           ARCHIVE_EXTRACT_SECURE_SYMLINKS) != ARCHIVE_OK) {
		rc = arch_err(&sv, err, "open");
		archive_write_free(sv.a);
		return rc;
	}
	return save_with(&sv, images, n, format, err);
}
