/* snapshot.c: each layer extracted once, in overlay form, under snapshots/<chainID hex>/. A
 * layer is extracted into snapshots/.tmp-*, checked against both its blob digest and the
 * config's diffID, and renamed into place under a per-chain flock, so every snapshot in place is
 * complete and verified and no two processes extract the same one. Holders (containers,
 * builds) list the chains they use in snapshots/.holds/<holder>; gc keeps what an image of
 * index.json or a holder uses and removes the rest. */
#include "strata/snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "strata/layer.h"
#include "util/cleanup.h"
#include "util/fs.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

#define SNAP_DIR "snapshots"

void st_snapshot_chain_release(struct st_snapshot_chain *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		free(c->dirs[i]);
	free(c->dirs);
	free(c->chain_ids);
	memset(c, 0, sizeof(*c));
}

/* snapshots/ with .locks and .holds; each snapshot is a tree of its own, placed apart by the
 * file system's inode allocator (st_dir_spread). */
static int snap_dirs(struct st_store *s, struct st_error *err)
{
	int fd = st_store_root_fd(s);
	int rc = st_mkdir_p(fd, SNAP_DIR "/.locks", 0700, err);
	cleanup_fd int sfd = -1;

	if (rc == 0)
		rc = st_mkdir_p(fd, SNAP_DIR "/.holds", 0700, err);
	if (rc == 0)
		sfd = openat(fd, SNAP_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sfd >= 0)
		st_dir_spread(sfd);
	return rc;
}

static int lock_chain(struct st_store *s, const char *hex, int *out_fd, struct st_error *err)
{
	char path[200];
	int fd;

	(void)snprintf(path, sizeof(path), SNAP_DIR "/.locks/%s", hex);
	fd = openat(st_store_root_fd(s), path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return st_error_sys(err, "open snapshot lock %s", hex);
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			(void)close(fd);
			return st_error_sys(err, "lock snapshot %s", hex);
		}
	}
	*out_fd = fd;
	return 0;
}

/* Extracts layer `d`, read from fd (its blob, or its bytes as they download), into a temporary
 * directory, verifies it, renames it to `final`. */
static int extract_verified(struct st_store *s, const struct st_descriptor *d,
                            const struct st_digest *diff_id, int fd, const char *final,
                            struct st_error *err)
{
	struct st_layer_apply_opts ao = {.mode = ST_LAYER_APPLY_OVERLAY};
	struct st_layer_apply_stats stats;
	char rnd[17], tmp[4200], dg[ST_DIGEST_STR_MAX];
	int rc;

	rc = st_random_hex(rnd, 8, err);
	if (rc < 0)
		return rc;
	(void)snprintf(tmp, sizeof(tmp), "%s/" SNAP_DIR "/.tmp-%s", st_store_root(s), rnd);
	rc = st_layer_extract_new(tmp, fd, &ao, &stats, err);
	st_digest_str(&d->digest, dg);
	if (rc < 0)
		return st_error_wrap(err, "layer %s", dg);
	if (!st_digest_equal(&stats.digest, &d->digest))
		rc = st_error_set(err, ST_EDIGEST, "layer %s: content does not match its digest",
		                  dg);
	else if (!st_digest_equal(&stats.diff_id, diff_id))
		rc = st_error_set(
		        err, ST_EDIGEST,
		        "layer %s: uncompressed content does not match the config's diffID", dg);
	else if (rename(tmp, final) < 0)
		rc = st_error_sys(err, "rename snapshot into '%s'", final);
	if (rc < 0)
		(void)st_layer_remove_tree(tmp, NULL);
	return rc;
}

/* Makes the snapshot of `chain` unless it exists, from fd, or when fd < 0 from the layer's
 * blob; its path in *out_dir unless out_dir is NULL. */
static int prepare_one(struct st_store *s, const struct st_descriptor *d,
                       const struct st_digest *diff_id, const struct st_digest *chain, int fd,
                       char **out_dir, struct st_error *err)
{
	char hex[ST_DIGEST_HEX_MAX + 1], path[4200];
	cleanup_fd int lock = -1, blob = -1;
	struct stat st;
	int rc = 0;

	st_digest_hex(chain, hex);
	(void)snprintf(path, sizeof(path), "%s/" SNAP_DIR "/%s", st_store_root(s), hex);
	if (stat(path, &st) < 0) {
		rc = lock_chain(s, hex, &lock, err);
		/* the one that held the lock before us may have made it */
		if (rc == 0 && stat(path, &st) < 0) {
			if (fd < 0 && (rc = st_store_open_blob(s, &d->digest, &blob, err)) == 0)
				fd = blob;
			if (rc == 0)
				rc = extract_verified(s, d, diff_id, fd, path, err);
		}
	}
	if (rc < 0 || !out_dir)
		return rc;
	*out_dir = strdup(path);
	return *out_dir ? 0 : st_error_set(err, ST_ENOMEM, "out of memory");
}

int st_snapshot_prepare(struct st_store *s, const struct st_image *img,
                        struct st_snapshot_chain *out, struct st_error *err)
{
	struct st_snapshot_chain c = {0};
	size_t n = img->manifest.n_layers;
	int rc;

	if (n != img->config.n_diff_ids)
		return st_error_set(err, ST_EINVALID,
		                    "image has %zu layers but its config %zu diffIDs", n,
		                    img->config.n_diff_ids);
	c.dirs = calloc(n + 1, sizeof(*c.dirs));
	c.chain_ids = calloc(n + 1, sizeof(*c.chain_ids));
	if (!c.dirs || !c.chain_ids) {
		st_snapshot_chain_release(&c);
		return st_error_set(err, ST_ENOMEM, "out of memory");
	}
	rc = n ? st_image_chain_ids(img->config.diff_ids, n, c.chain_ids, err) : 0;
	if (rc == 0)
		rc = snap_dirs(s, err);
	if (rc == 0)
		rc = st_store_lease(s, err);
	if (rc < 0) {
		st_snapshot_chain_release(&c);
		return rc;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		rc = prepare_one(s, &img->manifest.layers[i], &img->config.diff_ids[i],
		                 &c.chain_ids[i], -1, &c.dirs[i], err);
		if (rc == 0)
			c.n++;
	}
	st_store_unlease(s);
	if (rc < 0) {
		st_snapshot_chain_release(&c);
		return rc;
	}
	*out = c;
	return 0;
}

int st_snapshot_extract_fd(struct st_store *s, const struct st_descriptor *layer,
                           const struct st_digest *diff_id, const struct st_digest *chain_id,
                           int fd, struct st_error *err)
{
	int rc = snap_dirs(s, err);

	return rc < 0 ? rc : prepare_one(s, layer, diff_id, chain_id, fd, NULL, err);
}

static bool valid_holder(const char *h)
{
	size_t n = 0;

	for (; h[n]; n++)
		if (!((h[n] >= 'a' && h[n] <= 'z') || (h[n] >= '0' && h[n] <= '9') || h[n] == '-'))
			return false;
	return n > 0 && n <= 64;
}

int st_snapshot_hold(struct st_store *s, const char *holder, const struct st_snapshot_chain *chain,
                     struct st_error *err)
{
	struct st_buf b = ST_BUF_INIT;
	char hex[ST_DIGEST_HEX_MAX + 1], path[128];
	cleanup_fd int dfd = -1;
	int rc;

	if (!valid_holder(holder))
		return st_error_set(err, ST_EINVALID, "invalid snapshot holder name '%s'", holder);
	rc = snap_dirs(s, err);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < chain->n && rc == 0; i++) {
		st_digest_hex(&chain->chain_ids[i], hex);
		rc = st_buf_addf(&b, err, "%s\n", hex);
	}
	dfd = st_open_dir_at(st_store_root_fd(s), SNAP_DIR "/.holds", err);
	(void)snprintf(path, sizeof(path), "%s", holder);
	if (rc == 0 && dfd >= 0)
		rc = st_write_file_atomic(dfd, path, dfd, b.data, b.len, 0600, err);
	st_buf_release(&b);
	return dfd < 0 ? dfd : rc;
}

int st_snapshot_unhold(struct st_store *s, const char *holder, struct st_error *err)
{
	char path[200];

	if (!valid_holder(holder))
		return st_error_set(err, ST_EINVALID, "invalid snapshot holder name '%s'", holder);
	(void)snprintf(path, sizeof(path), SNAP_DIR "/.holds/%s", holder);
	if (unlinkat(st_store_root_fd(s), path, 0) < 0 && errno != ENOENT)
		return st_error_sys(err, "remove snapshot hold '%s'", holder);
	return 0;
}

/* ---- gc ---- */

struct keep {
	struct st_digest *d;
	size_t n, cap;
};

static int keep_add(struct keep *k, const struct st_digest *d, struct st_error *err)
{
	if (k->n == k->cap) {
		size_t nc = k->cap ? k->cap * 2 : 64;
		struct st_digest *nd = realloc(k->d, nc * sizeof(*nd));
		if (!nd)
			return st_error_set(err, ST_ENOMEM, "out of memory");
		k->d = nd;
		k->cap = nc;
	}
	k->d[k->n++] = *d;
	return 0;
}

static bool keep_has(const struct keep *k, const char *hex)
{
	char h[ST_DIGEST_HEX_MAX + 1];

	for (size_t i = 0; i < k->n; i++) {
		st_digest_hex(&k->d[i], h);
		if (strcmp(h, hex) == 0)
			return true;
	}
	return false;
}

/* The chains of every image of index.json (an image that cannot be loaded keeps nothing). */
static int keep_images(struct st_store *s, struct keep *k, struct st_error *err)
{
	struct st_descriptor *d = NULL;
	size_t n = 0;
	int rc = st_store_list(s, &d, &n, err);

	for (size_t i = 0; i < n && rc == 0; i++) {
		struct st_image img;
		struct st_digest *ids;
		if (st_image_load(s, &d[i], NULL, &img, NULL) < 0)
			continue;
		ids = calloc(img.config.n_diff_ids + 1, sizeof(*ids));
		if (!ids)
			rc = st_error_set(err, ST_ENOMEM, "out of memory");
		else if (img.config.n_diff_ids &&
		         st_image_chain_ids(img.config.diff_ids, img.config.n_diff_ids, ids, err) <
		                 0)
			rc = -ST_ENOMEM;
		for (size_t j = 0; rc == 0 && j < img.config.n_diff_ids; j++)
			rc = keep_add(k, &ids[j], err);
		free(ids);
		st_image_release(&img);
	}
	st_store_entries_free(d, n);
	return rc;
}

static int keep_holds(struct st_store *s, struct keep *k, struct st_error *err)
{
	int fd =
	        openat(st_store_root_fd(s), SNAP_DIR "/.holds", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cleanup_dir DIR *dir = NULL;
	struct dirent *e;
	int rc = 0;

	if (fd < 0)
		return errno == ENOENT ? 0 : st_error_sys(err, "open snapshot holds");
	dir = fdopendir(fd);
	if (!dir) {
		(void)close(fd);
		return st_error_sys(err, "open snapshot holds");
	}
	while (rc == 0 && (e = readdir(dir))) {
		struct st_buf b = ST_BUF_INIT;
		char *line, *save = NULL;
		if (e->d_name[0] == '.')
			continue;
		if (st_read_file_at(dirfd(dir), e->d_name, &b, 1 << 20, NULL) < 0) {
			st_buf_release(&b);
			continue;
		}
		for (line = strtok_r(b.data, "\n", &save); line && rc == 0;
		     line = strtok_r(NULL, "\n", &save)) {
			char full[ST_DIGEST_STR_MAX + 8];
			struct st_digest d;
			(void)snprintf(full, sizeof(full), "sha256:%.64s", line);
			if (st_digest_parse_str(full, &d, NULL) == 0)
				rc = keep_add(k, &d, err);
		}
		st_buf_release(&b);
	}
	return rc;
}

static uint64_t tree_size(int parent, const char *name)
{
	struct stat st;
	uint64_t total = 0;
	cleanup_dir DIR *d = NULL;
	struct dirent *e;
	int fd;

	if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	if (!S_ISDIR(st.st_mode))
		return (uint64_t)st.st_blocks * 512;
	fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			(void)close(fd);
		return 0;
	}
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			total += tree_size(dirfd(d), e->d_name);
	return total;
}

static int sweep(struct st_store *s, struct st_gc *gc, void *ctx, uint64_t *freed,
                 struct st_error *err)
{
	struct keep k = {0};
	cleanup_dir DIR *dir = NULL;
	struct dirent *e;
	int fd, rc;

	(void)gc;
	(void)ctx;
	fd = openat(st_store_root_fd(s), SNAP_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0
		                       : st_error_sys(err, "open '%s/snapshots'", st_store_root(s));
	dir = fdopendir(fd);
	if (!dir) {
		(void)close(fd);
		return st_error_sys(err, "open '%s/snapshots'", st_store_root(s));
	}
	rc = keep_images(s, &k, err);
	if (rc == 0)
		rc = keep_holds(s, &k, err);
	while (rc == 0 && (e = readdir(dir))) {
		bool stale_tmp = strncmp(e->d_name, ".tmp-", 5) == 0;
		if (!stale_tmp && (e->d_name[0] == '.' || keep_has(&k, e->d_name)))
			continue;
		/* gc holds the lease exclusively: no extraction is in flight */
		*freed += tree_size(dirfd(dir), e->d_name);
		rc = st_rm_rf_at(dirfd(dir), e->d_name, err);
	}
	free(k.d);
	return rc;
}

int st_snapshot_register_gc(struct st_store *s, struct st_error *err)
{
	return st_store_add_gc_sweeper(s, sweep, NULL, err);
}

/* ---- adopting an upper directory ---- */

/* Drops trusted.overlay.* xattrs but opaque (origin, impure, uuid, nlink are the upper's own
 * bookkeeping and mean nothing, or worse, in a lower layer). */
static int scrub_xattrs(int parent, const char *name, int depth, struct st_error *err)
{
	char list[4096];
	struct stat st;
	ssize_t n;
	int fd;

	if (depth > 512)
		return st_error_set(err, ST_ELIMIT, "directory tree deeper than 512 levels");
	if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return st_error_sys(err, "stat '%s'", name);
	if (S_ISLNK(st.st_mode))
		return 0;
	fd = openat(parent, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return 0; /* devices and fifos that cannot be opened carry no overlay xattrs */
	n = flistxattr(fd, list, sizeof(list));
	for (ssize_t off = 0; n > 0 && off < n; off += (ssize_t)strlen(list + off) + 1)
		if (st_str_has_prefix(list + off, "trusted.overlay.") &&
		    strcmp(list + off, "trusted.overlay.opaque") != 0)
			(void)fremovexattr(fd, list + off);
	if (S_ISDIR(st.st_mode)) {
		DIR *d = fdopendir(fd);
		struct dirent *e;
		int rc = 0;
		if (!d) {
			(void)close(fd);
			return st_error_sys(err, "open '%s'", name);
		}
		while (rc == 0 && (e = readdir(d)))
			if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
				rc = scrub_xattrs(dirfd(d), e->d_name, depth + 1, err);
		closedir(d);
		return rc;
	}
	(void)close(fd);
	return 0;
}

int st_snapshot_scrub(const char *dir, struct st_error *err)
{
	return scrub_xattrs(AT_FDCWD, dir, 0, err);
}

int st_snapshot_adopt(struct st_store *s, const struct st_digest *chain_id, const char *dir,
                      unsigned flags, struct st_error *err)
{
	char hex[ST_DIGEST_HEX_MAX + 1], path[4200];
	cleanup_fd int lock = -1;
	struct stat st;
	int rc;

	st_digest_hex(chain_id, hex);
	(void)snprintf(path, sizeof(path), "%s/" SNAP_DIR "/%s", st_store_root(s), hex);
	rc = snap_dirs(s, err);
	if (rc == 0 && !(flags & ST_SNAPSHOT_ADOPT_CLEAN))
		rc = scrub_xattrs(AT_FDCWD, dir, 0, err);
	if (rc == 0)
		rc = lock_chain(s, hex, &lock, err);
	if (rc < 0)
		return rc;
	if (stat(path, &st) == 0)
		return st_layer_remove_tree(dir, err);
	if (rename(dir, path) < 0)
		return st_error_sys(err, "rename '%s' into the snapshots", dir);
	return 0;
}
