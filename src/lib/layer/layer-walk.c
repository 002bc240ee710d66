/* layer/layer-walk.c: walks a tree (or two, for a diff) in sorted order and writes one PAX
 * entry per changed path: numeric ids, empty uname/gname, mtime only (whole seconds, clamped to
 * SOURCE_DATE_EPOCH), no atime/ctime, sparse, ACL or file-flag records, hardlinks by inode. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "layer/archive-api.h"
#include "layer/layer-walk.h"
#include "util/cleanup.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

struct xattr {
	char *name;
	char *value;
	size_t len;
};

struct xattrs {
	struct xattr *v;
	size_t n;
	bool opaque;
};

bool layer_xattr_skipped(const char *name)
{
	/* overlay's private state must never travel in a layer (the upper root carries
	 * trusted.overlay.uuid and impure); ACLs are not part of the OCI layer format; the
	 * host's SELinux label is not the image's */
	return st_str_has_prefix(name, "trusted.overlay.") ||
	       st_str_has_prefix(name, "user.overlay.") ||
	       st_str_has_prefix(name, "system.posix_acl_") ||
	       strcmp(name, "security.selinux") == 0;
}

static void xattrs_release(struct xattrs *x)
{
	for (size_t i = 0; i < x->n; i++) {
		free(x->v[i].name);
		free(x->v[i].value);
	}
	free(x->v);
	memset(x, 0, sizeof(*x));
}
#define cleanup_xattrs __attribute__((cleanup(xattrs_release)))

static int xattr_cmp(const void *a, const void *b)
{
	return strcmp(((const struct xattr *)a)->name, ((const struct xattr *)b)->name);
}

static bool is_overlay_flag(const char *name, const char *what)
{
	return (st_str_has_prefix(name, "trusted.overlay.") && strcmp(name + 16, what) == 0) ||
	       (st_str_has_prefix(name, "user.overlay.") && strcmp(name + 13, what) == 0);
}

/* Reads one xattr value of path into *x (takes a copy of name). */
static int read_value(const char *path, const char *name, struct xattr *x, struct st_error *err)
{
	ssize_t n = lgetxattr(path, name, NULL, 0);

	if (n < 0)
		return st_error_sys(err, "getxattr '%s' %s", path, name);
	x->name = strdup(name);
	x->value = malloc((size_t)n + 1);
	if (!x->name || !x->value)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	n = lgetxattr(path, name, x->value, (size_t)n);
	if (n < 0)
		return st_error_sys(err, "getxattr '%s' %s", path, name);
	x->len = (size_t)n;
	return 0;
}

/* The xattrs of path that a layer carries, sorted by name; notes the overlay opaque flag. */
static int read_xattrs(const char *path, bool upper, struct xattrs *out, struct st_error *err)
{
	cleanup_free char *names = NULL;
	ssize_t len = llistxattr(path, NULL, 0);
	size_t count = 0;
	int rc;

	if (len < 0 && (errno == ENOTSUP || errno == ENODATA))
		return 0;
	if (len <= 0)
		return len < 0 ? st_error_sys(err, "listxattr '%s'", path) : 0;
	names = malloc((size_t)len);
	if (!names)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	len = llistxattr(path, names, (size_t)len);
	if (len < 0)
		return st_error_sys(err, "listxattr '%s'", path);
	for (ssize_t i = 0; i < len; i += (ssize_t)strlen(names + i) + 1)
		count++;
	out->v = calloc(count, sizeof(*out->v));
	if (!out->v)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	for (ssize_t i = 0; i < len; i += (ssize_t)strlen(names + i) + 1) {
		const char *name = names + i;
		if (upper &&
		    (is_overlay_flag(name, "metacopy") || is_overlay_flag(name, "redirect")))
			return st_error_set(err, ST_EUNSUPPORTED,
			                    "'%s' has %s: the overlay must be mounted with "
			                    "metacopy=off,redirect_dir=off",
			                    path, name);
		if (upper && is_overlay_flag(name, "opaque")) {
			char v[2] = {0};
			out->opaque =
			        out->opaque || (lgetxattr(path, name, v, 2) == 1 && v[0] == 'y');
		}
		if (layer_xattr_skipped(name))
			continue;
		rc = read_value(path, name, &out->v[out->n], err);
		out->n += rc == 0 || out->v[out->n].name;
		if (rc < 0)
			return rc;
	}
	if (out->n)
		qsort(out->v, out->n, sizeof(*out->v), xattr_cmp);
	return 0;
}

static bool xattrs_equal(const struct xattrs *a, const struct xattrs *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		if (strcmp(a->v[i].name, b->v[i].name) != 0 || a->v[i].len != b->v[i].len ||
		    memcmp(a->v[i].value, b->v[i].value, a->v[i].len) != 0)
			return false;
	}
	return true;
}

/* ---- hardlinks ---- */

void layer_links_release(struct layer_links *l)
{
	for (size_t i = 0; i < l->cap; i++)
		free(l->v[i].path);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static size_t link_slot(const struct layer_links *l, dev_t dev, ino_t ino)
{
	size_t h = ((size_t)ino * 0x9E3779B97F4A7C15ULL) ^ (size_t)dev;
	size_t i = h & (l->cap - 1);

	while (l->v[i].path && !(l->v[i].dev == dev && l->v[i].ino == ino))
		i = (i + 1) & (l->cap - 1);
	return i;
}

static int links_grow(struct layer_links *l, struct st_error *err)
{
	struct layer_links n = {0};

	n.cap = l->cap ? l->cap * 2 : 64;
	n.v = calloc(n.cap, sizeof(*n.v));
	if (!n.v)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	for (size_t i = 0; i < l->cap; i++) {
		if (l->v[i].path)
			n.v[link_slot(&n, l->v[i].dev, l->v[i].ino)] = l->v[i];
	}
	n.n = l->n;
	free(l->v);
	*l = n;
	return 0;
}

/* The first path written for st's inode, or NULL after recording `path` as that first. */
static int link_lookup(struct layer_links *l, const struct stat *st, const char *path,
                       const char **out, struct st_error *err)
{
	size_t i;
	int rc;

	*out = NULL;
	if (2 * (l->n + 1) > l->cap) {
		rc = links_grow(l, err);
		if (rc < 0)
			return rc;
	}
	i = link_slot(l, st->st_dev, st->st_ino);
	if (l->v[i].path) {
		*out = l->v[i].path;
		return 0;
	}
	l->v[i].path = strdup(path);
	if (!l->v[i].path)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	l->v[i].dev = st->st_dev;
	l->v[i].ino = st->st_ino;
	l->n++;
	return 0;
}

/* ---- entries ---- */

static int64_t clamp_mtime(const struct layer_writer *w, int64_t t)
{
	if (w->opts->has_epoch && t > w->opts->source_date_epoch)
		return w->opts->source_date_epoch;
	return t;
}

static int write_header(struct layer_writer *w)
{
	if (archive_write_header(w->a, w->entry) != ARCHIVE_OK)
		return layer_archive_error(w, w->rel.data);
	w->n_entries++;
	return 0;
}

static int copy_data(struct layer_writer *w, int dir_fd, const char *name, uint64_t size)
{
	cleanup_fd int fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return st_error_sys(w->err, "open '%s'", w->abs_new.data);
	while (size) {
		size_t want = size < LAYER_IOBUF ? (size_t)size : LAYER_IOBUF;
		ssize_t n = read(fd, w->iobuf, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return st_error_sys(w->err, "read '%s'", w->abs_new.data);
		if (n == 0)
			return st_error_set(w->err, ST_EINVALID, "'%s' shrank while being read",
			                    w->abs_new.data);
		if (archive_write_data(w->a, w->iobuf, (size_t)n) != n)
			return layer_archive_error(w, w->rel.data);
		size -= (uint64_t)n;
	}
	return 0;
}

/* Fills w->entry for the file w->rel with stat st; sets *data when its content follows. */
static int fill_entry(struct layer_writer *w, int dir_fd, const char *name, const struct stat *st,
                      bool *data)
{
	struct archive_entry *e = w->entry;
	const char *first = NULL;
	int rc;

	*data = false;
	archive_entry_set_mode(e, st->st_mode);
	archive_entry_set_uid(e, st->st_uid);
	archive_entry_set_gid(e, st->st_gid);
	archive_entry_set_mtime(e, clamp_mtime(w, st->st_mtim.tv_sec), 0);
	if (!S_ISDIR(st->st_mode) && st->st_nlink > 1) {
		rc = link_lookup(&w->links, st, w->rel.data, &first, w->err);
		if (rc < 0)
			return rc;
		if (first) {
			archive_entry_copy_hardlink(e, first);
			archive_entry_set_size(e, 0);
			return 0;
		}
	}
	if (S_ISREG(st->st_mode)) {
		archive_entry_set_size(e, st->st_size);
		*data = st->st_size > 0;
	} else if (S_ISLNK(st->st_mode)) {
		char target[4097];
		ssize_t n = readlinkat(dir_fd, name, target, sizeof(target) - 1);
		if (n < 0)
			return st_error_sys(w->err, "readlink '%s'", w->abs_new.data);
		target[n] = '\0';
		archive_entry_copy_symlink(e, target);
	} else if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) {
		archive_entry_set_rdevmajor(e, major(st->st_rdev));
		archive_entry_set_rdevminor(e, minor(st->st_rdev));
	}
	return 0;
}

static int emit_entry(struct layer_writer *w, int dir_fd, const char *name, const struct stat *st,
                      const struct xattrs *xa)
{
	size_t rel_len = w->rel.len;
	bool data = false;
	int rc;

	archive_entry_clear(w->entry);
	if (S_ISDIR(st->st_mode)) {
		rc = st_buf_addch(&w->rel, '/', w->err);
		if (rc < 0)
			return rc;
	}
	archive_entry_copy_pathname(w->entry, w->rel.data);
	st_buf_setlen(&w->rel, rel_len);
	rc = fill_entry(w, dir_fd, name, st, &data);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < xa->n && !archive_entry_hardlink(w->entry); i++)
		archive_entry_xattr_add_entry(w->entry, xa->v[i].name, xa->v[i].value,
		                              xa->v[i].len);
	rc = write_header(w);
	if (rc < 0 || !data)
		return rc;
	return copy_data(w, dir_fd, name, (uint64_t)st->st_size);
}

/* Writes the whiteout `prefix` + `name` in the current directory (w->rel is its path plus '/').
 * st, when known (an overlay whiteout device), gives owner, permissions and mtime. */
static int emit_whiteout(struct layer_writer *w, const char *prefix, const char *name,
                         const struct stat *st)
{
	size_t rel_len = w->rel.len;
	int rc;

	archive_entry_clear(w->entry);
	rc = st_buf_adds(&w->rel, prefix, w->err);
	if (rc == 0)
		rc = st_buf_adds(&w->rel, name, w->err);
	if (rc < 0)
		return rc;
	archive_entry_copy_pathname(w->entry, w->rel.data);
	archive_entry_set_filetype(w->entry, AE_IFREG);
	archive_entry_set_perm(w->entry, st ? st->st_mode & 07777 : 0);
	archive_entry_set_uid(w->entry, st ? st->st_uid : 0);
	archive_entry_set_gid(w->entry, st ? st->st_gid : 0);
	archive_entry_set_mtime(w->entry, st ? clamp_mtime(w, st->st_mtim.tv_sec) : 0, 0);
	archive_entry_set_size(w->entry, 0);
	rc = write_header(w);
	st_buf_setlen(&w->rel, rel_len);
	return rc;
}

/* ---- walking ---- */

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

struct names {
	char **v;
	size_t n, cap;
};

static void names_release(struct names *n)
{
	for (size_t i = 0; i < n->n; i++)
		free(n->v[i]);
	free(n->v);
}
#define cleanup_names __attribute__((cleanup(names_release)))

/* The sorted entry names of directory fd (without . and ..). */
static int list_dir(int fd, const char *path, struct names *out, struct st_error *err)
{
	cleanup_dir DIR *d = NULL;
	int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;

	if (dfd < 0)
		return st_error_sys(err, "open '%s'", path);
	d = fdopendir(dfd);
	if (!d) {
		(void)close(dfd);
		return st_error_sys(err, "opendir '%s'", path);
	}
	for (errno = 0; (de = readdir(d)); errno = 0) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (out->n == out->cap) {
			size_t cap = out->cap ? out->cap * 2 : 16;
			char **v = realloc(out->v, cap * sizeof(*v));
			if (!v)
				return st_error_set(err, ST_ENOMEM, "out of memory");
			out->v = v;
			out->cap = cap;
		}
		out->v[out->n] = strdup(de->d_name);
		if (!out->v[out->n])
			return st_error_set(err, ST_ENOMEM, "out of memory");
		out->n++;
	}
	if (errno)
		return st_error_sys(err, "readdir '%s'", path);
	if (out->n)
		qsort(out->v, out->n, sizeof(*out->v), name_cmp);
	return 0;
}

/* True when new and old (same file type) differ in anything a layer records. */
static bool changed(const struct stat *n, const struct stat *o, int new_fd, int old_fd,
                    const char *name)
{
	char a[4097], b[4097];
	ssize_t la, lb;

	if (n->st_mode != o->st_mode || n->st_uid != o->st_uid || n->st_gid != o->st_gid ||
	    n->st_mtim.tv_sec != o->st_mtim.tv_sec || n->st_mtim.tv_nsec != o->st_mtim.tv_nsec)
		return true;
	if (S_ISREG(n->st_mode))
		return n->st_size != o->st_size;
	if (S_ISCHR(n->st_mode) || S_ISBLK(n->st_mode))
		return n->st_rdev != o->st_rdev;
	if (!S_ISLNK(n->st_mode))
		return false;
	la = readlinkat(new_fd, name, a, sizeof(a));
	lb = readlinkat(old_fd, name, b, sizeof(b));
	return la != lb || la < 0 || memcmp(a, b, (size_t)la) != 0;
}

static int enter_dir(struct layer_writer *w, int new_fd, int old_fd, const char *name, bool has_old,
                     int depth)
{
	cleanup_fd int nfd = -1;
	cleanup_fd int ofd = -1;
	size_t rel_len = w->rel.len;
	int rc;

	if (depth >= LAYER_MAX_DEPTH)
		return st_error_set(w->err, ST_ELIMIT, "'%s': directories nested deeper than %d",
		                    w->abs_new.data, LAYER_MAX_DEPTH);
	nfd = openat(new_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (nfd < 0)
		return st_error_sys(w->err, "open '%s'", w->abs_new.data);
	if (has_old) {
		ofd = openat(old_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (ofd < 0)
			return st_error_sys(w->err, "open '%s'", w->abs_old.data);
	}
	rc = st_buf_addch(&w->rel, '/', w->err);
	if (rc == 0)
		rc = layer_walk_dir(w, nfd, ofd, depth + 1);
	st_buf_setlen(&w->rel, rel_len);
	return rc;
}

/* One name of the new tree: w->rel and w->abs_* already name it. */
static int walk_child(struct layer_writer *w, int new_fd, int old_fd, const char *name, int depth)
{
	cleanup_xattrs struct xattrs xn = {0};
	cleanup_xattrs struct xattrs xo = {0};
	struct stat st, ost;
	bool in_old = false, emit = true;
	int rc;

	if (fstatat(new_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return st_error_sys(w->err, "stat '%s'", w->abs_new.data);
	/* overlayfs: a 0/0 character device is a whiteout (and never a hardlink source) */
	if (w->upper && S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) {
		/* w->rel names the device itself; the whiteout goes beside it */
		size_t rel_len = w->rel.len;
		st_buf_setlen(&w->rel, rel_len - strlen(name));
		rc = emit_whiteout(w, LAYER_WH_PREFIX, name, &st);
		st_buf_setlen(&w->rel, rel_len);
		return rc;
	}
	if (S_ISSOCK(st.st_mode))
		return 0; /* tar cannot carry sockets (GNU tar skips them too) */
	rc = read_xattrs(w->abs_new.data, w->upper, &xn, w->err);
	if (rc < 0)
		return rc;
	if (old_fd >= 0 && fstatat(old_fd, name, &ost, AT_SYMLINK_NOFOLLOW) == 0)
		in_old = (ost.st_mode & S_IFMT) == (st.st_mode & S_IFMT);
	if (in_old) {
		rc = read_xattrs(w->abs_old.data, false, &xo, w->err);
		if (rc < 0)
			return rc;
		emit = changed(&st, &ost, new_fd, old_fd, name) || !xattrs_equal(&xn, &xo);
	}
	if (emit) {
		rc = emit_entry(w, new_fd, name, &st, &xn);
		if (rc < 0)
			return rc;
	}
	if (!S_ISDIR(st.st_mode))
		return 0;
	if (xn.opaque) {
		size_t rel_len = w->rel.len;
		rc = st_buf_addch(&w->rel, '/', w->err);
		if (rc == 0)
			rc = emit_whiteout(w, "", LAYER_WH_OPAQUE, NULL);
		st_buf_setlen(&w->rel, rel_len);
		if (rc < 0)
			return rc;
	}
	return enter_dir(w, new_fd, old_fd, name, in_old, depth);
}

static int set_child_paths(struct layer_writer *w, const char *name)
{
	int rc = st_buf_adds(&w->rel, name, w->err);

	if (rc == 0)
		rc = st_buf_addch(&w->abs_new, '/', w->err);
	if (rc == 0)
		rc = st_buf_adds(&w->abs_new, name, w->err);
	if (rc == 0 && w->abs_old.len)
		rc = st_buf_addch(&w->abs_old, '/', w->err);
	if (rc == 0 && w->abs_old.len)
		rc = st_buf_adds(&w->abs_old, name, w->err);
	return rc;
}

int layer_walk_dir(struct layer_writer *w, int new_fd, int old_fd, int depth)
{
	cleanup_names struct names nn = {0};
	cleanup_names struct names on = {0};
	size_t rel_len = w->rel.len, new_len = w->abs_new.len, old_len = w->abs_old.len;
	size_t i = 0, j = 0;
	int rc;

	rc = list_dir(new_fd, w->abs_new.data, &nn, w->err);
	if (rc == 0 && old_fd >= 0)
		rc = list_dir(old_fd, w->abs_old.data, &on, w->err);
	while (rc == 0 && (i < nn.n || j < on.n)) {
		int cmp = i == nn.n ? 1 : j == on.n ? -1 : strcmp(nn.v[i], on.v[j]);
		if (cmp > 0) {
			/* only in the old tree: deleted */
			rc = emit_whiteout(w, LAYER_WH_PREFIX, on.v[j++], NULL);
			continue;
		}
		rc = set_child_paths(w, nn.v[i]);
		if (rc == 0)
			rc = walk_child(w, new_fd, cmp == 0 ? old_fd : -1, nn.v[i], depth);
		st_buf_setlen(&w->rel, rel_len);
		st_buf_setlen(&w->abs_new, new_len);
		st_buf_setlen(&w->abs_old, old_len);
		i++;
		j += cmp == 0;
	}
	return rc;
}
