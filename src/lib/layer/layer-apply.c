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

struct dirtime {
	char *path;
	struct timespec mtime;
};

struct applier {
	int root_fd;
	const struct st_layer_apply_opts *o;
	struct st_layer_limits lim;
	bool chown;
	struct st_error *err;
	struct archive *a;
	struct archive_entry *e;
	const char *name;            /* the entry's name as the tar gives it, for messages */
	struct st_buf path, link;    /* cleaned paths of the entry and of its link target */
	char *base;                  /* last component of path (inside path.data) */
	int parent_fd;               /* O_PATH fd of the entry's parent */
	struct st_buf cached_parent; /* the parent path parent_fd resolves, when valid */
	bool cache_valid;
	struct layer_pathset seen;
	struct dirtime *dirs;
	size_t n_dirs, cap_dirs;
	uint64_t n_entries;
};

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
	if (ap->parent_fd >= 0)
		(void)close(ap->parent_fd);
	ap->parent_fd = -1;
	ap->cache_valid = false;
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
	fd = layer_open_dir(ap->root_fd, parent, create, ap->name, ap->err);
	st_buf_reset(&ap->cached_parent);
	rc = fd >= 0 ? st_buf_adds(&ap->cached_parent, parent, ap->err) : fd;
	if (slash)
		*slash = '/';
	if (fd >= 0)
		ap->parent_fd = fd;
	if (rc < 0)
		return rc;
	ap->cache_valid = true;
	return 0;
}

/* Removes whatever is at base unless it is a directory and keep_dir. */
static int clear_target(struct applier *ap, bool keep_dir, bool *was_dir)
{
	struct stat st;
	int rc;

	*was_dir = false;
	if (fstatat(ap->parent_fd, ap->base, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : st_error_sys(ap->err, "entry '%s': stat", ap->name);
	*was_dir = S_ISDIR(st.st_mode);
	if (*was_dir && keep_dir)
		return 0;
	if (!*was_dir) {
		if (unlinkat(ap->parent_fd, ap->base, 0) < 0)
			return st_error_sys(ap->err, "entry '%s': unlink", ap->name);
		return 0;
	}
	rc = layer_rmtree_at(ap->parent_fd, ap->base, ap->err);
	/* the removed tree may hold the cached parent of later entries */
	ap->cache_valid = false;
	return rc < 0 ? st_error_wrap(ap->err, "entry '%s'", ap->name) : 0;
}

static int proc_path(struct applier *ap, char *buf, size_t len)
{
	int n = snprintf(buf, len, "/proc/self/fd/%d/%s", ap->parent_fd, ap->base);

	if (n < 0 || (size_t)n >= len)
		return st_error_set(ap->err, ST_ELIMIT, "entry '%s': name too long", ap->name);
	return 0;
}

/* Sets the entry's xattrs on fd, or (fd < 0) on base through its parent without following. */
static int set_xattrs(struct applier *ap, int fd)
{
	const char *name;
	const void *value;
	size_t size, total = 0;
	char path[4200];
	int rc;

	if (archive_entry_xattr_reset(ap->e) == 0)
		return 0;
	if (fd < 0) {
		rc = proc_path(ap, path, sizeof(path));
		if (rc < 0)
			return rc;
	}
	while (archive_entry_xattr_next(ap->e, &name, &value, &size) == ARCHIVE_OK) {
		total += size + strlen(name);
		if (total > ap->lim.max_xattr_size)
			return st_error_set(ap->err, ST_ELIMIT,
			                    "entry '%s': xattrs larger than the limit of %zu bytes",
			                    ap->name, ap->lim.max_xattr_size);
		/* overlay's own xattrs would redirect or hide lower layers: never applied */
		if (layer_xattr_skipped(name))
			continue;
		if ((fd >= 0 ? fsetxattr(fd, name, value, size, 0)
		             : lsetxattr(path, name, value, size, 0)) < 0)
			return st_error_sys(ap->err, "entry '%s': set xattr %s", ap->name, name);
	}
	return 0;
}

static struct timespec entry_mtime(struct archive_entry *e)
{
	struct timespec ts = {0, 0};

	if (archive_entry_mtime_is_set(e)) {
		ts.tv_sec = archive_entry_mtime(e);
		ts.tv_nsec = archive_entry_mtime_nsec(e);
	}
	return ts;
}

/* Owner, mode, xattrs and (unless a directory) times, in the order that keeps setuid bits and
 * security.capability: chown clears both. */
static int set_meta(struct applier *ap, int fd, bool is_link)
{
	struct timespec ts[2];
	mode_t mode = archive_entry_perm(ap->e);
	uid_t uid = (uid_t)archive_entry_uid(ap->e);
	gid_t gid = (gid_t)archive_entry_gid(ap->e);
	int rc;

	if (ap->chown &&
	    (fd >= 0 ? fchown(fd, uid, gid)
	             : fchownat(ap->parent_fd, ap->base, uid, gid, AT_SYMLINK_NOFOLLOW)) < 0)
		return st_error_sys(ap->err, "entry '%s': chown %u:%u", ap->name, uid, gid);
	if (!is_link &&
	    (fd >= 0 ? fchmod(fd, mode) : fchmodat(ap->parent_fd, ap->base, mode, 0)) < 0)
		return st_error_sys(ap->err, "entry '%s': chmod", ap->name);
	rc = set_xattrs(ap, fd);
	if (rc < 0 || archive_entry_filetype(ap->e) == AE_IFDIR)
		return rc;
	ts[1] = entry_mtime(ap->e);
	ts[0] = ts[1];
	if ((fd >= 0 ? futimens(fd, ts)
	             : utimensat(ap->parent_fd, ap->base, ts, AT_SYMLINK_NOFOLLOW)) < 0)
		return st_error_sys(ap->err, "entry '%s': set times", ap->name);
	return 0;
}

static int write_data(struct applier *ap, int fd)
{
	const void *buf;
	size_t size;
	la_int64_t offset, end = 0;
	int r;

	while ((r = archive_read_data_block(ap->a, &buf, &size, &offset)) == ARCHIVE_OK) {
		const char *p = buf;
		while (size) {
			ssize_t n = pwrite(fd, p, size, offset);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return st_error_sys(ap->err, "entry '%s': write", ap->name);
			p += n;
			size -= (size_t)n;
			offset += n;
		}
		end = offset;
	}
	if (r != ARCHIVE_EOF)
		return st_error_set(ap->err, ST_EINVALID, "entry '%s': %s", ap->name,
		                    archive_error_string(ap->a));
	/* sparse entries end in a hole */
	if (end < archive_entry_size(ap->e) && ftruncate(fd, archive_entry_size(ap->e)) < 0)
		return st_error_sys(ap->err, "entry '%s': truncate", ap->name);
	return 0;
}

static int make_file(struct applier *ap)
{
	cleanup_fd int fd = -1;
	bool was_dir;
	int rc = clear_target(ap, false, &was_dir);

	if (rc < 0)
		return rc;
	fd = openat(ap->parent_fd, ap->base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	            0600);
	if (fd < 0)
		return st_error_sys(ap->err, "entry '%s': create", ap->name);
	rc = write_data(ap, fd);
	if (rc < 0)
		return rc;
	return set_meta(ap, fd, false);
}

static int add_dirtime(struct applier *ap)
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
	d->mtime = entry_mtime(ap->e);
	ap->n_dirs++;
	return 0;
}

static int make_dir(struct applier *ap, bool over_whiteout)
{
	cleanup_fd int fd = -1;
	bool was_dir;
	int rc;

	if (ap->path.len == 0) {
		/* the layer's "./": metadata of the root itself */
		fd = openat(ap->root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	} else {
		rc = clear_target(ap, true, &was_dir);
		if (rc < 0)
			return rc;
		if (!was_dir && mkdirat(ap->parent_fd, ap->base, 0700) < 0)
			return st_error_sys(ap->err, "entry '%s': mkdir", ap->name);
		fd = openat(ap->parent_fd, ap->base,
		            O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0)
		return st_error_sys(ap->err, "entry '%s': open directory", ap->name);
	rc = set_meta(ap, fd, false);
	/* overlay form: a directory re-created over a whiteout of this layer hides the lower
	 * one's content */
	if (rc == 0 && over_whiteout && fsetxattr(fd, "trusted.overlay.opaque", "y", 1, 0) < 0)
		rc = st_error_sys(ap->err, "entry '%s': set trusted.overlay.opaque", ap->name);
	return rc < 0 ? rc : add_dirtime(ap);
}

static int make_link(struct applier *ap)
{
	const char *target = archive_entry_hardlink(ap->e);
	cleanup_fd int tfd = -1;
	char *slash;
	bool was_dir;
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
	tfd = layer_open_dir(ap->root_fd, slash ? ap->link.data : "", false, ap->name, ap->err);
	if (tfd < 0)
		return tfd;
	rc = clear_target(ap, false, &was_dir);
	if (rc < 0)
		return rc;
	/* flags 0: a symlink target is linked itself, never followed */
	if (linkat(tfd, slash ? slash + 1 : ap->link.data, ap->parent_fd, ap->base, 0) < 0)
		return st_error_sys(ap->err, "entry '%s': hardlink to '%s'", ap->name, target);
	return 0;
}

static int make_special(struct applier *ap, unsigned type)
{
	dev_t dev = 0;
	bool was_dir;
	int rc = clear_target(ap, false, &was_dir);

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
	return set_meta(ap, -1, type == AE_IFLNK);
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
		return make_file(ap);
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
	int rc;

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
		if (h != ARCHIVE_OK && h != ARCHIVE_WARN)
			return tar_error(ap, r);
		rc = apply_entry(ap);
		if (rc < 0) {
			/* a reader failure (limit, corrupt gzip) explains a short read best */
			if (layer_reader_error(r, NULL) < 0)
				return tar_error(ap, r);
			return rc;
		}
	}
	rc = layer_reader_finish(r, ap->err);
	if (rc < 0)
		return rc;
	set_dirtimes(ap);
	return 0;
}

static void applier_release(struct applier *ap)
{
	if (ap->a)
		archive_read_free(ap->a);
	archive_entry_free(ap->e);
	drop_parent(ap);
	st_buf_release(&ap->path);
	st_buf_release(&ap->link);
	st_buf_release(&ap->cached_parent);
	layer_pathset_release(&ap->seen);
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
	rc = layer_reader_start(&r, layer_fd, ap.lim.max_bytes, err);
	if (rc == 0)
		rc = run(&ap, &r);
	if (rc == 0 && stats) {
		struct st_layer_apply_stats s = {0};
		st_hasher_final(&r.in_hash, &s.digest);
		st_hasher_final(&r.tar_hash, &s.diff_id);
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
