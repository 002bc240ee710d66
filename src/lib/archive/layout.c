/* layout.c: reading an OCI image layout directory (an unpacked archive, a cache export, another
 * store's root) and copying its images into the store. Files are opened beneath the layout
 * only, never through a symlink; every blob is verified against its descriptor's digest and
 * size, and an image's blobs become visible together, once all of them are verified. */
#include "archive/archive-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "store/descriptor-json.h"
#include "strata/image.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/json.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

#define MAX_LAYOUT_INDEX (16u << 20)

int st_archive_open_in(int dirfd, const char *path, struct st_error *err)
{
	struct open_how how = {.flags = O_RDONLY | O_CLOEXEC,
	                       .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
	                                  RESOLVE_NO_MAGICLINKS};
	long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));

	if (fd < 0)
		return st_error_sys(err, "layout entry '%s'", path);
	return (int)fd;
}

static void blob_path(const struct st_digest *d, char *out, size_t len)
{
	char hex[ST_DIGEST_HEX_MAX + 1];

	st_digest_hex(d, hex);
	(void)snprintf(out, len, "blobs/%s/%s", st_digest_alg_name(d->alg), hex);
}

int st_layout_list(int dirfd, struct st_descriptor **out, size_t *out_n, struct st_error *err)
{
	cleanup_buf struct st_buf raw = ST_BUF_INIT;
	cleanup_json json_t *j = NULL;
	cleanup_fd int fd = st_archive_open_in(dirfd, "index.json", err);
	struct st_descriptor *d = NULL;
	json_t *manifests = NULL, *m;
	size_t i, n = 0;
	int rc;

	if (fd < 0)
		return fd;
	rc = st_read_all(fd, &raw, MAX_LAYOUT_INDEX, err);
	if (rc == 0)
		rc = st_json_parse(raw.data, raw.len, "index.json", &j, err);
	if (rc == 0)
		rc = st_json_get_arr(j, "manifests", true, "index.json", &manifests, err);
	if (rc < 0)
		return rc;
	d = calloc(json_array_size(manifests) + 1, sizeof(*d));
	if (!d)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	json_array_foreach(manifests, i, m)
	{
		char what[48];
		(void)snprintf(what, sizeof(what), "index.json manifests[%zu]", i);
		rc = st_descriptor_from_json(m, what, &d[n], err);
		if (rc < 0) {
			st_store_entries_free(d, n);
			return rc;
		}
		n++;
	}
	*out = d;
	*out_n = n;
	return 0;
}

int st_layout_read_blob(int dirfd, const struct st_descriptor *d, size_t max, struct st_buf *out,
                        struct st_error *err)
{
	cleanup_buf struct st_buf data = ST_BUF_INIT;
	char path[ST_DIGEST_STR_MAX + 16], name[ST_DIGEST_STR_MAX];
	cleanup_fd int fd = -1;
	int rc;

	blob_path(&d->digest, path, sizeof(path));
	st_digest_str(&d->digest, name);
	fd = st_archive_open_in(dirfd, path, err);
	if (fd < 0)
		return fd;
	rc = st_read_all(fd, &data, max, err);
	if (rc < 0)
		return st_error_wrap(err, "blob %s", name);
	if (data.len != d->size)
		return st_error_set(err, ST_EINVALID, "blob %s: size %zu, descriptor says %llu",
		                    name, data.len, (unsigned long long)d->size);
	if (!st_digest_check(&d->digest, data.data, data.len))
		return st_error_set(err, ST_EDIGEST, "blob %s: content does not match its digest",
		                    name);
	st_buf_swap(out, &data);
	return 0;
}

/* ---- copying an image: every missing blob sealed first, then all committed ---- */

struct staged {
	struct st_blob_writer **w;
	size_t n;
};

static void staged_release(struct staged *sg)
{
	for (size_t i = 0; i < sg->n; i++)
		st_blob_writer_free(sg->w[i]);
	free(sg->w);
	sg->w = NULL;
	sg->n = 0;
}

static int stream_in(int dirfd, const char *path, struct st_blob_writer *w, struct st_error *err)
{
	static char buf[1 << 17];
	cleanup_fd int fd = st_archive_open_in(dirfd, path, err);
	ssize_t n;
	int rc = 0;

	if (fd < 0)
		return fd;
	while (rc == 0 && (n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0)
			return st_error_sys(err, "read layout entry '%s'", path);
		rc = st_blob_writer_write(w, buf, (size_t)n, err);
	}
	return rc;
}

/* Streams the blob d (from mem when given, else from the layout) into a writer of the store
 * and seals it there: verified, not yet visible. A blob the store has is left alone. */
static int stage(struct st_store *s, int dirfd, const struct st_descriptor *d, const void *mem,
                 struct staged *sg, struct st_error *err)
{
	char path[ST_DIGEST_STR_MAX + 16], name[ST_DIGEST_STR_MAX];
	struct st_blob_writer *w = NULL, **nw;
	int rc;

	if (st_store_has_blob(s, &d->digest))
		return 0;
	nw = realloc(sg->w, (sg->n + 1) * sizeof(*nw));
	if (!nw)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	sg->w = nw;
	blob_path(&d->digest, path, sizeof(path));
	st_digest_str(&d->digest, name);
	rc = st_blob_writer_new(s, &w, err);
	if (rc < 0)
		return rc;
	sg->w[sg->n++] = w;
	rc = mem ? st_blob_writer_write(w, mem, (size_t)d->size, err)
	         : stream_in(dirfd, path, w, err);
	if (rc == 0 && st_blob_writer_size(w) != d->size)
		return st_error_set(err, ST_EINVALID, "blob %s: size %llu, descriptor says %llu",
		                    name, (unsigned long long)st_blob_writer_size(w),
		                    (unsigned long long)d->size);
	if (rc == 0)
		rc = st_blob_writer_seal(w, &d->digest, err);
	return rc;
}

int st_layout_copy_image(struct st_store *s, int dirfd, const struct st_descriptor *desc,
                         struct st_digest *out_config, struct st_error *err)
{
	cleanup_buf struct st_buf raw = ST_BUF_INIT;
	struct staged sg = {0};
	struct st_manifest m = {0};
	int rc;

	rc = st_layout_read_blob(dirfd, desc, ST_MAX_MANIFEST_SIZE, &raw, err);
	if (rc == 0)
		rc = st_manifest_parse(raw.data, raw.len, desc->media_type, &m, err);
	if (rc < 0)
		return rc;
	rc = st_store_lease(s, err);
	if (rc < 0) {
		st_manifest_release(&m);
		return rc;
	}
	for (size_t i = 0; i < m.n_layers && rc == 0; i++)
		rc = stage(s, dirfd, &m.layers[i], NULL, &sg, err);
	if (rc == 0)
		rc = stage(s, dirfd, &m.config, NULL, &sg, err);
	if (rc == 0)
		rc = stage(s, dirfd, desc, raw.data, &sg, err);
	/* every blob is verified: now they become visible, the manifest last */
	for (size_t i = 0; i < sg.n && rc == 0; i++)
		rc = st_blob_writer_commit(sg.w[i], NULL, NULL, err);
	if (rc == 0 && out_config)
		*out_config = m.config.digest;
	staged_release(&sg);
	st_manifest_release(&m);
	st_store_unlease(s);
	return rc;
}
