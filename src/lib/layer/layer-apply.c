/* layer/layer-apply.c: applies a layer tar onto a directory. Every path is cleaned (no "..",
 * leading "/" dropped), its parent resolved inside the root with openat2(RESOLVE_IN_ROOT), and
 * the last component handled with *at() calls that never follow it. Whiteouts delete (flat
 * form) or become overlay whiteouts (overlay form). */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "layer/archive-api.h"
#include "layer/layer-apply.h"
#include "layer/layer-read.h"
#include "util/cleanup.h"

#include "util/banned.h"

#define LAYER_APPLY_THREADS_MAX 4

/* Cleans `in` into out: components split on '/', "" and "." dropped, ".." refused. */
static int clean_path(struct applier *ap, const char *in, struct st_buf *out)
{
	size_t len = strlen(in);
	int rc;

	st_buf_reset(out);
	if (len > ap->lim.max_path_len)
		return st_error_set(ap->err, ST_ELIMIT,
		                    "entry '%.64s...': path longer than the limit of %zu bytes", in,
		                    ap->lim.max_path_len);
	for (const char *p = in; *p;) {
		const char *end = strchr(p, '/');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return st_error_set(ap->err, ST_EINVALID,
			                    "entry '%s': '..' components are refused", ap->name);
		if (n && !(n == 1 && p[0] == '.')) {
			rc = out->len ? st_buf_addch(out, '/', ap->err) : 0;
			if (rc == 0)
				rc = st_buf_add(out, p, n, ap->err);
			if (rc < 0)
				return rc;
		}
		p += n + (end != NULL);
	}
	return 0;
}

static void drop_parent(struct applier *ap)
{
	layer_dir_unref(ap->dir);
	ap->dir = NULL;
	ap->parent_fd = -1;
	ap->cache_valid = false;
}

/* Opens the parent directory; when it does not resolve, a queued file may be one of its
 * components (or missing yet): it is resolved again, or created, once they are all written. */
static int resolve_parent(struct applier *ap, const char *parent, bool create)
{
	int fd = layer_openat2(ap->root_fd, parent, O_PATH | O_DIRECTORY, 0);
	int rc;

	if (fd >= 0)
		return fd;
	rc = applier_barrier(ap);
	if (rc < 0)
		return rc;
	return layer_open_dir(ap->root_fd, parent, create, ap->name, ap->err);
}

/* Splits ap->path into parent and base and opens the parent (cached between entries). */
static int open_parent(struct applier *ap, bool create)
{
	char *slash = strrchr(ap->path.data, '/');
	const char *parent = slash ? ap->path.data : "";
	int fd, rc;

	ap->base = slash ? slash + 1 : ap->path.data;
	if (slash)
		*slash = '\0';
	if (ap->cache_valid && strcmp(ap->cached_parent.data, parent) == 0) {
		if (slash)
			*slash = '/';
		return 0;
	}
	drop_parent(ap);
	fd = resolve_parent(ap, parent, create);
	st_buf_reset(&ap->cached_parent);
	rc = fd >= 0 ? st_buf_adds(&ap->cached_parent, parent, ap->err) : fd;
	if (slash)
		*slash = '/';
	if (fd >= 0 && rc < 0)
		(void)close(fd);
	if (rc == 0)
		rc = layer_dir_new(fd, &ap->dir, ap->err);
	if (rc < 0)
		return rc;
	ap->parent_fd = ap->dir->fd;
	ap->cache_valid = true;
	return 0;
}

static int add_dirtime(struct applier *ap, struct timespec mtime)
{
	struct dirtime *d;

	if (ap->n_dirs == ap->cap_dirs) {
		size_t cap = ap->cap_dirs ? ap->cap_dirs * 2 : 64;
		d = realloc(ap->dirs, cap * sizeof(*d));
		if (!d)
			return st_error_set(ap->err, ST_ENOMEM, "out of memory");
		ap->dirs = d;
		ap->cap_dirs = cap;
	}
	d = &ap->dirs[ap->n_dirs];
	d->path = strdup(ap->path.data);
	if (!d->path)
		return st_error_set(ap->err, ST_ENOMEM, "out of memory");
	d->mtime = mtime;
	ap->n_dirs++;
	return 0;
}

/* Does applying m to the existing directory st change what files created in it get (its
 * mode and setgid bit, its group, inherited xattrs)? Then queued files go first. */
static bool dir_meta_changes(const struct stat *st, const struct layer_meta *m)
{
	if ((st->st_mode & 07777) != m->mode || m->n_xattrs)
		return true;
	return m->chown && (st->st_uid != m->uid || st->st_gid != m->gid);
}

static int make_dir(struct applier *ap, bool over_whiteout)
{
	cleanup_fd int fd = -1;
	struct layer_meta m;
	struct stat st;
	int rc;

	if (ap->path.len == 0) {
		/* the layer's "./": metadata of the root itself */
		fd = openat(ap->root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0 && fstat(fd, &st) < 0)
			return st_error_sys(ap->err, "entry '%s': stat", ap->name);
	} else {
		rc = applier_clear_target(ap, true, &st);
		if (rc < 0)
			return rc;
		if (!S_ISDIR(st.st_mode) && mkdirat(ap->parent_fd, ap->base, 0700) < 0)
			return st_error_sys(ap->err, "entry '%s': mkdir", ap->name);
		fd = openat(ap->parent_fd, ap->base,
		            O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0)
		return st_error_sys(ap->err, "entry '%s': open directory", ap->name);
	rc = applier_meta(ap, &m);
	if (rc == 0 && S_ISDIR(st.st_mode) && dir_meta_changes(&st, &m))
		rc = applier_barrier(ap);
	if (rc == 0)
		rc = layer_meta_apply(&m, fd, -1, NULL, ap->name, ap->err);
	/* overlay form: a directory re-created over a whiteout of this layer hides the lower
	 * one's content */
	if (rc == 0 && over_whiteout && fsetxattr(fd, "trusted.overlay.opaque", "y", 1, 0) < 0)
		rc = st_error_sys(ap->err, "entry '%s': set trusted.overlay.opaque", ap->name);
	return rc < 0 ? rc : add_dirtime(ap, m.mtime);
}

static int make_link(struct applier *ap)
{
	const char *target = archive_entry_hardlink(ap->e);
	cleanup_fd int tfd = -1;
	const char *tbase;
	char *slash;
	struct stat st;
	int rc;

	rc = clean_path(ap, target, &ap->link);
	if (rc < 0)
		return rc;
	if (ap->link.len == 0 || strcmp(ap->link.data, ap->path.data) == 0)
		return st_error_set(ap->err, ST_EINVALID, "entry '%s': hardlink to '%s' refused",
		                    ap->name, target);
	slash = strrchr(ap->link.data, '/');
	if (slash)
		*slash = '\0';
	tbase = slash ? slash + 1 : ap->link.data;
	tfd = layer_openat2(ap->root_fd, slash ? ap->link.data : "", O_PATH | O_DIRECTORY, 0);
	if (tfd < 0) {
		/* as for a parent: a queued file may be a component */
		rc = applier_barrier(ap);
		if (rc < 0)
			return rc;
		tfd = layer_open_dir(ap->root_fd, slash ? ap->link.data : "", false, ap->name,
		                     ap->err);
		if (tfd < 0)
			return tfd;
	}
	/* the target may be a queued file, not written yet */
	rc = applier_settle(ap, tfd, tbase);
	if (rc == 0)
		rc = applier_clear_target(ap, false, &st);
	if (rc < 0)
		return rc;
	/* flags 0: a symlink target is linked itself, never followed */
	if (linkat(tfd, tbase, ap->parent_fd, ap->base, 0) < 0)
		return st_error_sys(ap->err, "entry '%s': hardlink to '%s'", ap->name, target);
	return 0;
}

static int make_special(struct applier *ap, unsigned type)
{
	struct layer_meta m;
	struct stat st;
	dev_t dev = 0;
	int rc = applier_clear_target(ap, false, &st);

	if (rc < 0)
		return rc;
	if (type == AE_IFLNK) {
		const char *t = archive_entry_symlink(ap->e);
		if (!t || strlen(t) > ap->lim.max_path_len)
			return st_error_set(ap->err, ST_EINVALID,
			                    "entry '%s': missing or overlong symlink target",
			                    ap->name);
		if (symlinkat(t, ap->parent_fd, ap->base) < 0)
			return st_error_sys(ap->err, "entry '%s': symlink", ap->name);
		/* the new link may sit on the path of the cached parent */
		ap->cache_valid = false;
	} else {
		if (type == AE_IFCHR || type == AE_IFBLK)
			dev = makedev((unsigned)archive_entry_rdevmajor(ap->e),
			              (unsigned)archive_entry_rdevminor(ap->e));
		if (mknodat(ap->parent_fd, ap->base, (mode_t)type | 0600, dev) < 0)
			return st_error_sys(ap->err, "entry '%s': mknod", ap->name);
	}
	rc = applier_meta(ap, &m);
	return rc < 0 ? rc : layer_meta_apply(&m, -1, ap->parent_fd, ap->base, ap->name, ap->err);
}

/* ---- whiteouts ---- */

/* ".wh..wh..opq": the parent hides everything of lower layers. */
static int opaque(struct applier *ap)
{
	cleanup_fd int fd = openat(ap->parent_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cleanup_dir DIR *d = NULL;
	struct dirent *de;
	size_t plen;
	int rc = 0;

	if (fd < 0)
		return st_error_sys(ap->err, "entry '%s': open directory", ap->name);
	if (ap->o->mode == ST_LAYER_APPLY_OVERLAY) {
		if (fsetxattr(fd, "trusted.overlay.opaque", "y", 1, 0) < 0)
			return st_error_sys(ap->err, "entry '%s': set trusted.overlay.opaque",
			                    ap->name);
		return 0;
	}
	/* flat: remove what lower layers put here, keep what this layer already made */
	d = fdopendir(fd);
	if (!d)
		return st_error_sys(ap->err, "entry '%s': opendir", ap->name);
	fd = -1; /* owned by d now */
	st_buf_reset(&ap->link);
	plen = (size_t)(ap->base - ap->path.data);
	rc = st_buf_add(&ap->link, ap->path.data, plen, ap->err);
	for (errno = 0; rc == 0 && (de = readdir(d)); errno = 0) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		st_buf_setlen(&ap->link, plen);
		rc = st_buf_adds(&ap->link, de->d_name, ap->err);
		if (rc == 0 && !(layer_pathset_get(&ap->seen, ap->link.data) & LAYER_PATH_CREATED))
			rc = layer_rmtree_at(dirfd(d), de->d_name, ap->err);
	}
	ap->cache_valid = false;
	return rc;
}

static int whiteout(struct applier *ap)
{
	const char *name = ap->base + strlen(LAYER_WH_PREFIX);
	size_t plen = (size_t)(ap->base - ap->path.data);
	int rc;

	if (strcmp(ap->base, LAYER_WH_OPAQUE) == 0)
		return opaque(ap);
	if (!*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
	    st_str_has_prefix(name, LAYER_WH_PREFIX))
		return st_error_set(ap->err, ST_EINVALID, "entry '%s': invalid whiteout", ap->name);
	st_buf_reset(&ap->link);
	rc = st_buf_add(&ap->link, ap->path.data, plen, ap->err);
	if (rc == 0)
		rc = st_buf_adds(&ap->link, name, ap->err);
	if (rc < 0)
		return rc;
	/* image-spec: a whiteout hides only lower layers, never entries of its own layer */
	if (layer_pathset_get(&ap->seen, ap->link.data) & LAYER_PATH_CREATED)
		return 0;
	rc = layer_rmtree_at(ap->parent_fd, name, ap->err);
	ap->cache_valid = false;
	if (rc < 0 || ap->o->mode != ST_LAYER_APPLY_OVERLAY)
		return rc;
	if (mknodat(ap->parent_fd, name, S_IFCHR | 0600, makedev(0, 0)) < 0)
		return st_error_sys(ap->err, "entry '%s': mknod whiteout", ap->name);
	return layer_pathset_add(&ap->seen, ap->link.data, LAYER_PATH_WHITEOUT, ap->err);
}

/* Flat form: a whiteout whose parent does not exist (or is no directory) has nothing to hide. */
static bool parent_missing(struct applier *ap)
{
	char *slash = strrchr(ap->path.data, '/');
	int fd;

	if (!slash)
		return false;
	*slash = '\0';
	fd = layer_openat2(ap->root_fd, ap->path.data, O_PATH | O_DIRECTORY, 0);
	*slash = '/';
	if (fd >= 0)
		(void)close(fd);
	return fd == -ENOENT || fd == -ENOTDIR;
}

/* ---- entries ---- */

static int dispatch(struct applier *ap, unsigned type, unsigned char prev)
{
	if (archive_entry_hardlink(ap->e))
		return make_link(ap);
	switch (type) {
	case AE_IFREG:
		return applier_make_file(ap);
	case AE_IFDIR:
		return make_dir(ap, (prev & LAYER_PATH_WHITEOUT) != 0);
	case AE_IFLNK:
	case AE_IFCHR:
	case AE_IFBLK:
	case AE_IFIFO:
		return make_special(ap, type);
	default:
		return st_error_set(ap->err, ST_EUNSUPPORTED, "entry '%s': unsupported type 0%o",
		                    ap->name, type);
	}
}

static int apply_entry(struct applier *ap)
{
	unsigned type = archive_entry_filetype(ap->e);
	bool is_wh;
	unsigned char prev;
	int rc;

	/* a queued file failed: that entry comes first, stop */
	if (ap->pool && layer_pool_failed(ap->pool))
		return applier_barrier(ap);
	ap->name = archive_entry_pathname(ap->e);
	if (!ap->name)
		return st_error_set(ap->err, ST_EINVALID, "entry %llu: no usable path",
		                    (unsigned long long)ap->n_entries);
	if (++ap->n_entries > ap->lim.max_entries)
		return st_error_set(ap->err, ST_ELIMIT, "entry '%s': more than %llu entries",
		                    ap->name, (unsigned long long)ap->lim.max_entries);
	rc = clean_path(ap, ap->name, &ap->path);
	if (rc < 0)
		return rc;
	if (ap->path.len == 0) {
		if (type == AE_IFDIR && !archive_entry_hardlink(ap->e))
			return make_dir(ap, false);
		return st_error_set(ap->err, ST_EINVALID, "entry '%s' would replace the root",
		                    ap->name);
	}
	is_wh = st_str_has_prefix(strrchr(ap->path.data, '/') ? strrchr(ap->path.data, '/') + 1
	                                                      : ap->path.data,
	                          LAYER_WH_PREFIX);
	/* whiteouts remove trees, which may hold queued files */
	rc = is_wh ? applier_barrier(ap) : 0;
	if (rc < 0)
		return rc;
	if (is_wh && ap->o->mode == ST_LAYER_APPLY_FLAT && parent_missing(ap))
		return 0;
	rc = open_parent(ap, true);
	if (rc < 0)
		return rc;
	if (is_wh)
		return whiteout(ap);
	prev = layer_pathset_get(&ap->seen, ap->path.data);
	rc = dispatch(ap, type, prev);
	if (rc == 0)
		rc = layer_pathset_add(&ap->seen, ap->path.data, LAYER_PATH_CREATED, ap->err);
	return rc;
}

/* Directory times last: creating entries inside a directory changes its mtime. */
static void set_dirtimes(struct applier *ap)
{
	for (size_t i = ap->n_dirs; i-- > 0;) {
		struct timespec ts[2] = {ap->dirs[i].mtime, ap->dirs[i].mtime};
		int fd = layer_openat2(ap->root_fd, ap->dirs[i].path, O_RDONLY | O_DIRECTORY,
		                       RESOLVE_NO_SYMLINKS);
		/* a directory removed or replaced later in the layer is simply gone */
		if (fd < 0)
			continue;
		(void)futimens(fd, ts);
		(void)close(fd);
	}
}

static la_ssize_t read_cb(struct archive *a, void *ctx, const void **buf)
{
	(void)a;
	return layer_reader_next(ctx, buf);
}

/* A libarchive failure, blamed on the reader when the reader failed first. */
static int tar_error(struct applier *ap, struct layer_reader *r)
{
	if (layer_reader_error(r, ap->err) < 0)
		return -(int)ap->err->code;
	return st_error_set(ap->err, ST_EINVALID, "tar: %s", archive_error_string(ap->a));
}

static int run(struct applier *ap, struct layer_reader *r)
{
	int rc = 0, brc;

	ap->a = archive_read_new();
	ap->e = archive_entry_new();
	if (!ap->a || !ap->e)
		return st_error_set(ap->err, ST_ENOMEM, "libarchive: out of memory");
	/* tar only: no other format's parser is exposed to layer content */
	if (archive_read_support_format_tar(ap->a) != ARCHIVE_OK ||
	    archive_read_open(ap->a, r, NULL, read_cb, NULL) != ARCHIVE_OK)
		return tar_error(ap, r);
	for (;;) {
		int h = archive_read_next_header2(ap->a, ap->e);
		if (h == ARCHIVE_EOF)
			break;
		if (h != ARCHIVE_OK && h != ARCHIVE_WARN) {
			rc = tar_error(ap, r);
			break;
		}
		rc = apply_entry(ap);
		/* a reader failure (limit, corrupt gzip) explains a short read best */
		if (rc < 0 && layer_reader_error(r, NULL) < 0)
			rc = tar_error(ap, r);
		if (rc < 0)
			break;
	}
	/* queued files come before the entry that stopped the loop: their error, if any, is the
	 * one a single thread would have met first */
	brc = applier_barrier(ap);
	if (brc < 0)
		return brc;
	if (rc < 0)
		return rc;
	rc = layer_reader_finish(r, ap->err);
	if (rc < 0)
		return rc;
	set_dirtimes(ap);
	return 0;
}

static void applier_release(struct applier *ap)
{
	layer_pool_free(ap->pool);
	if (ap->a)
		archive_read_free(ap->a);
	archive_entry_free(ap->e);
	drop_parent(ap);
	st_buf_release(&ap->path);
	st_buf_release(&ap->link);
	st_buf_release(&ap->cached_parent);
	layer_pathset_release(&ap->seen);
	layer_pathset_release(&ap->pending);
	st_buf_release(&ap->key);
	free(ap->xa);
	for (size_t i = 0; i < ap->n_dirs; i++)
		free(ap->dirs[i].path);
	free(ap->dirs);
}

static void set_limits(struct st_layer_limits *l, const struct st_layer_limits *in)
{
	l->max_bytes = in->max_bytes ? in->max_bytes : 64ULL << 30;
	l->max_entries = in->max_entries ? in->max_entries : 4ULL << 20;
	l->max_path_len = in->max_path_len ? in->max_path_len : 4096;
	l->max_xattr_size = in->max_xattr_size ? in->max_xattr_size : 1 << 20;
}

/* Files are created by this many threads (1: by the applying thread itself). */
static unsigned default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 2 ? 1 : n > LAYER_APPLY_THREADS_MAX ? LAYER_APPLY_THREADS_MAX : (unsigned)n;
}

int st_layer_apply_fd(int root_fd, int layer_fd, const struct st_layer_apply_opts *opts,
                      struct st_layer_apply_stats *stats, struct st_error *err)
{
	static const struct st_layer_apply_opts defaults = {0};
	struct applier ap = {0};
	struct layer_reader r;
	int rc;

	ap.o = opts ? opts : &defaults;
	ap.root_fd = root_fd;
	ap.err = err;
	ap.parent_fd = -1;
	ap.chown = ap.o->force_owner || (!ap.o->no_owner && geteuid() == 0);
	set_limits(&ap.lim, &ap.o->limits);
	st_buf_init(&ap.path, 0);
	st_buf_init(&ap.link, 0);
	st_buf_init(&ap.cached_parent, 0);
	st_buf_init(&ap.key, 0);
	ap.threads = ap.o->threads ? ap.o->threads : default_threads();
	/* no stats, no digests: callers that pass none (import, load, COPY/ADD of an archive)
	 * check nothing against them, so the two SHA-256 passes are skipped */
	rc = layer_reader_start(&r, layer_fd, ap.lim.max_bytes, stats != NULL, err);
	if (rc == 0)
		rc = run(&ap, &r);
	if (rc == 0 && stats) {
		struct st_layer_apply_stats s = {0};
		layer_reader_digests(&r, &s.digest, &s.diff_id);
		s.tar_size = r.tar_size;
		s.n_entries = ap.n_entries;
		s.compression = r.compression;
		*stats = s;
	}
	applier_release(&ap);
	layer_reader_release(&r);
	return rc;
}

int st_layer_apply(const char *root, int layer_fd, const struct st_layer_apply_opts *opts,
                   struct st_layer_apply_stats *stats, struct st_error *err)
{
	cleanup_fd int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return st_error_sys(err, "open '%s'", root);
	rc = st_layer_apply_fd(fd, layer_fd, opts, stats, err);
	return rc < 0 ? st_error_wrap(err, "apply onto '%s'", root) : 0;
}

int st_layer_extract_new(const char *dest, int layer_fd, const struct st_layer_apply_opts *opts,
                         struct st_layer_apply_stats *stats, struct st_error *err)
{
	struct stat st;
	cleanup_free char *tmp = NULL;
	int rc;

	if (lstat(dest, &st) == 0)
		return st_error_set(err, ST_EEXIST, "extract into '%s': it exists", dest);
	if (asprintf(&tmp, "%s.tmp-XXXXXX", dest) < 0)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	if (!mkdtemp(tmp))
		return st_error_sys(err, "mkdtemp '%s'", tmp);
	rc = chmod(tmp, 0755) < 0 ? st_error_sys(err, "chmod '%s'", tmp) : 0;
	if (rc == 0)
		rc = st_layer_apply(tmp, layer_fd, opts, stats, err);
	if (rc == 0 && renameat2(AT_FDCWD, tmp, AT_FDCWD, dest, RENAME_NOREPLACE) < 0)
		rc = st_error_sys(err, "rename '%s' to '%s'", tmp, dest);
	if (rc < 0)
		(void)st_layer_remove_tree(tmp, NULL);
	return rc;
}
