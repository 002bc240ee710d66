/* unpack.c: an image's flattened root filesystem, and the comparison of two trees that
 * `strata image diff` prints. */
#include "strata/archive.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "archive/archive-internal.h"
#include "strata/image.h"
#include "util/cleanup.h"
#include "util/fs.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

int archive_apply_image(struct st_store *s, const struct st_image *img, const char *dir,
                        struct st_error *err)
{
	struct st_layer_apply_opts ao = {.mode = ST_LAYER_APPLY_FLAT};
	int rc = 0;

	for (size_t i = 0; i < img->manifest.n_layers && rc == 0; i++) {
		const struct st_descriptor *l = &img->manifest.layers[i];
		struct st_layer_apply_stats stats;
		cleanup_fd int fd = -1;
		char dg[ST_DIGEST_STR_MAX];
		st_digest_str(&l->digest, dg);
		rc = st_store_open_blob(s, &l->digest, &fd, err);
		if (rc == 0)
			rc = st_layer_apply(dir, fd, &ao, &stats, err);
		if (rc == 0 && !st_digest_equal(&stats.digest, &l->digest))
			rc = st_error_set(err, ST_EDIGEST,
			                  "layer %s: content does not match its digest", dg);
		else if (rc == 0 && i < img->config.n_diff_ids &&
		         !st_digest_equal(&stats.diff_id, &img->config.diff_ids[i]))
			rc = st_error_set(
			        err, ST_EDIGEST,
			        "layer %s: uncompressed content does not match the config's "
			        "diffID",
			        dg);
		else if (rc < 0)
			rc = st_error_wrap(err, "layer %s", dg);
	}
	return rc;
}

int st_unpack(struct st_store *s, const struct st_image *img, const char *dest,
              struct st_error *err)
{
	struct st_buf tmp = ST_BUF_INIT;
	char rnd[17];
	struct stat st;
	int rc;

	if (lstat(dest, &st) == 0)
		return st_error_set(err, ST_EEXIST, "'%s' already exists", dest);
	rc = st_random_hex(rnd, 8, err);
	if (rc == 0)
		rc = st_buf_addf(&tmp, err, "%s.unpack-%s", dest, rnd);
	if (rc == 0 && mkdir(tmp.data, 0755) < 0)
		rc = st_error_sys(err, "mkdir '%s'", tmp.data);
	if (rc < 0) {
		st_buf_release(&tmp);
		return rc;
	}
	rc = archive_apply_image(s, img, tmp.data, err);
	if (rc == 0 && rename(tmp.data, dest) < 0)
		rc = st_error_sys(err, "rename into '%s'", dest);
	if (rc < 0)
		(void)st_layer_remove_tree(tmp.data, NULL);
	st_buf_release(&tmp);
	return rc;
}

/* ---- tree diff ---- */

/* The sorted entries of dirfd; none for fd < 0 (a side of the diff that lacks the directory). */
static int list_dir(int fd, struct st_strv *out, struct st_error *err)
{
	return fd < 0 ? 0 : st_list_dir(fd, out, err);
}

static bool same_xattrs(int pa, int pb, const char *name)
{
	char pathA[64], pathB[64], la[4096], lb[4096];
	ssize_t na, nb;

	(void)snprintf(pathA, sizeof(pathA), "/proc/self/fd/%d", pa);
	(void)snprintf(pathB, sizeof(pathB), "/proc/self/fd/%d", pb);
	/* listxattr on the parent-relative path through /proc keeps symlinks unfollowed */
	{
		char fa[4200], fb[4200];
		(void)snprintf(fa, sizeof(fa), "%s/%s", pathA, name);
		(void)snprintf(fb, sizeof(fb), "%s/%s", pathB, name);
		na = llistxattr(fa, la, sizeof(la));
		nb = llistxattr(fb, lb, sizeof(lb));
		if (na != nb || (na > 0 && memcmp(la, lb, (size_t)na) != 0))
			return false;
		for (ssize_t off = 0; off < na; off += (ssize_t)strlen(la + off) + 1) {
			char va[4096], vb[4096];
			ssize_t a = lgetxattr(fa, la + off, va, sizeof(va));
			ssize_t b = lgetxattr(fb, la + off, vb, sizeof(vb));
			if (a != b || (a > 0 && memcmp(va, vb, (size_t)a) != 0))
				return false;
		}
	}
	return true;
}

static bool changed(int pa, int pb, const char *name, const struct stat *a, const struct stat *b)
{
	if ((a->st_mode & S_IFMT) != (b->st_mode & S_IFMT) || a->st_mode != b->st_mode ||
	    a->st_uid != b->st_uid || a->st_gid != b->st_gid || a->st_rdev != b->st_rdev)
		return true;
	if (!S_ISDIR(a->st_mode) && a->st_size != b->st_size)
		return true;
	if (a->st_mtim.tv_sec != b->st_mtim.tv_sec || a->st_mtim.tv_nsec != b->st_mtim.tv_nsec)
		return true;
	if (S_ISLNK(a->st_mode)) {
		char ta[4097], tb[4097];
		ssize_t na = readlinkat(pa, name, ta, sizeof(ta) - 1);
		ssize_t nb = readlinkat(pb, name, tb, sizeof(tb) - 1);
		if (na != nb || (na > 0 && memcmp(ta, tb, (size_t)na) != 0))
			return true;
	}
	return !same_xattrs(pa, pb, name);
}

struct walk {
	st_change_fn cb;
	void *ctx;
	char path[4200];
};

static int walk_dirs(struct walk *w, int fa, int fb, struct st_error *err);

static int compare_entry(struct walk *w, int fa, int fb, const char *name, struct st_error *err)
{
	struct stat sa, sb;
	bool ina = fa >= 0 && fstatat(fa, name, &sa, AT_SYMLINK_NOFOLLOW) == 0;
	bool inb = fb >= 0 && fstatat(fb, name, &sb, AT_SYMLINK_NOFOLLOW) == 0;
	size_t len = strlen(w->path);
	int rc = 0;

	if (len + strlen(name) + 2 > sizeof(w->path))
		return st_error_set(err, ST_ELIMIT, "path too long: %s/%s", w->path, name);
	(void)snprintf(w->path + len, sizeof(w->path) - len, "/%s", name);
	if (ina && !inb)
		w->cb(ST_CHANGE_DELETE, w->path, w->ctx);
	else if (!ina && inb)
		w->cb(ST_CHANGE_ADD, w->path, w->ctx);
	else if (ina && inb) {
		if (changed(fa, fb, name, &sa, &sb))
			w->cb(ST_CHANGE_MODIFY, w->path, w->ctx);
		if (S_ISDIR(sa.st_mode) && S_ISDIR(sb.st_mode)) {
			int ca = openat(fa, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
			int cb = openat(fb, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
			if (ca < 0 || cb < 0)
				rc = st_error_sys(err, "open '%s'", w->path);
			else
				rc = walk_dirs(w, ca, cb, err);
			if (ca >= 0)
				(void)close(ca);
			if (cb >= 0)
				(void)close(cb);
		}
	}
	w->path[len] = '\0';
	return rc;
}

static int walk_dirs(struct walk *w, int fa, int fb, struct st_error *err)
{
	struct st_strv na = ST_STRV_INIT, nb = ST_STRV_INIT;
	size_t i = 0, j = 0;
	int rc = list_dir(fa, &na, err);

	if (rc < 0)
		return rc;
	rc = list_dir(fb, &nb, err);
	if (rc < 0) {
		st_strv_release(&na);
		return rc;
	}
	/* merge the two sorted lists */
	while (rc == 0 && (i < na.n || j < nb.n)) {
		int c = i >= na.n ? 1 : j >= nb.n ? -1 : strcmp(na.v[i], nb.v[j]);
		const char *name = c <= 0 ? na.v[i] : nb.v[j];
		rc = compare_entry(w, fa, fb, name, err);
		if (c <= 0)
			i++;
		if (c >= 0)
			j++;
	}
	st_strv_release(&na);
	st_strv_release(&nb);
	return rc;
}

int st_tree_diff(const char *old_root, const char *new_root, st_change_fn cb, void *ctx,
                 struct st_error *err)
{
	struct walk w = {.cb = cb, .ctx = ctx};
	cleanup_fd int fa = st_open_dir_at(AT_FDCWD, old_root, err);
	cleanup_fd int fb = -1;

	if (fa < 0)
		return fa;
	fb = st_open_dir_at(AT_FDCWD, new_root, err);
	if (fb < 0)
		return fb;
	return walk_dirs(&w, fa, fb, err);
}
