/* build-copy.c: COPY and ADD: the cache key of what a step will write (paths, types, modes and
 * owners as in the layer, content digests through the memo, never times) and the copy into the
 * step's upper directory. Both follow the same plan and walk (build-copy-plan.c, -walk.c). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build/build-copy-internal.h"
#include "util/cleanup.h"
#include "util/fs.h"

#include "util/banned.h"

#define COPY_BUF (1024 * 1024)

/* ---- key ---- */

static void h_str(struct st_hasher *h, const char *s)
{
	st_hasher_update(h, s, strlen(s) + 1);
}

static void h_num(struct st_hasher *h, uint64_t v)
{
	unsigned char b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (8 * i));
	st_hasher_update(h, b, sizeof(b));
}

struct keyer {
	struct copy_plan *p;
	struct build_key *key;
	struct st_hasher *h; /* the key's open item */
	struct st_buf link;
};

static int key_reg(const struct copy_plan *p, struct st_hasher *h, const struct copy_ent *e,
                   struct st_error *err)
{
	cleanup_fd int fd = -1;
	struct st_digest d;
	int rc;

	/* the walk's lstat is the memo's key: an unchanged file is not even opened */
	if (copy_hash_memo_get(p->r->memo, e->st, &d)) {
		h_num(h, (uint64_t)e->st->st_size);
		st_hasher_update(h, d.bytes, 32);
		return 0;
	}
	fd = openat(e->src_dirfd, e->name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return st_error_sys(err, "open '%s'", e->src);
	rc = copy_hash_file(p->r->memo, fd, e->st, &d, err);
	if (rc < 0)
		return st_error_wrap(err, "hash '%s'", e->src);
	h_num(h, (uint64_t)e->st->st_size);
	st_hasher_update(h, d.bytes, 32);
	return 0;
}

int copy_read_link(int dirfd, const char *name, struct st_buf *out, struct st_error *err)
{
	ssize_t n;
	int rc = st_buf_grow(out, PATH_MAX, err);

	if (rc < 0)
		return rc;
	n = readlinkat(dirfd, name, out->data, PATH_MAX);
	if (n < 0)
		return st_error_sys(err, "readlink '%s'", name);
	if (n >= PATH_MAX)
		return st_error_set(err, ST_ELIMIT, "readlink '%s': target too long", name);
	st_buf_setlen(out, (size_t)n);
	return 0;
}

/* The bytes of an entry's item ("file <dst>"): path, type, mode, owner, content. */
static int key_entry(const struct copy_plan *p, struct st_hasher *h, const struct copy_ent *e,
                     struct st_buf *link, struct st_error *err)
{
	int rc;

	h_str(h, "e");
	h_str(h, e->dst);
	h_num(h, e->st->st_mode & S_IFMT);
	if (e->keep_meta) {
		h_str(h, "keep");
	} else {
		h_num(h, e->mode);
		h_num(h, e->uid);
		h_num(h, e->gid);
	}
	if (S_ISREG(e->st->st_mode))
		return key_reg(p, h, e, err);
	if (S_ISLNK(e->st->st_mode)) {
		rc = copy_read_link(e->src_dirfd, e->name, link, err);
		if (rc == 0)
			h_str(h, link->data);
		return rc;
	}
	if (S_ISCHR(e->st->st_mode) || S_ISBLK(e->st->st_mode))
		h_num(h, e->st->st_rdev);
	return 0;
}

static int key_visit(void *ctx, const struct copy_ent *e, struct st_error *err)
{
	struct keyer *k = ctx;
	int rc;

	if (e->post)
		return 0;
	rc = build_key_item_str(k->key, "file ", e->dst, err);
	return rc < 0 ? rc : key_entry(k->p, k->h, e, &k->link, err);
}

/* key_entry on a hasher of its own, for copy_key_walk_par's workers */
static int key_item(const struct copy_plan *p, const struct copy_ent *e, struct st_buf *link,
                    struct st_digest *out, struct st_error *err)
{
	struct st_hasher h;
	int rc = st_hasher_init(&h, ST_DIGEST_SHA256, err);

	if (rc == 0)
		rc = key_entry(p, &h, e, link, err);
	if (rc == 0)
		st_hasher_final(&h, out);
	st_hasher_release(&h);
	return rc;
}

static int key_add(struct copy_plan *p, const struct copy_unit *u, struct st_hasher *h,
                   struct st_error *err)
{
	cleanup_fd int fd = copy_open_beneath(p->src_fd, u->src, O_RDONLY);
	struct st_digest d;
	struct stat st;
	uint32_t uid, gid;
	int rc;

	if (fd < 0 || fstat(fd, &st) < 0)
		return copy_fail(p, ST_ESYS, u->src, err, "open: %s", strerror(errno));
	rc = copy_hash_file(p->r->memo, fd, &st, &d, err);
	if (rc < 0)
		return rc;
	/* an archive or not is decided by the content, which the digest covers */
	copy_owner(p, &st, &uid, &gid);
	h_str(h, u->dst_dir);
	h_num(h, copy_mode(p, st.st_mode));
	h_num(h, uid);
	h_num(h, gid);
	h_num(h, p->own_set);
	st_hasher_update(h, d.bytes, 32);
	return 0;
}

static void key_head(const struct copy_plan *p, struct st_hasher *h)
{
	h_str(h, "strata-copy-v1");
	h_str(h, p->cmd);
	h_num(h, p->r->link);
	h_num(h, p->r->parents);
	for (size_t i = 0; i < p->n_dirs; i++) {
		const struct copy_dir *d = &p->dirs[i];
		h_str(h, "d");
		h_str(h, d->path);
		h_num(h, d->mode);
		h_num(h, d->uid);
		h_num(h, d->gid);
		h_num(h, d->from_target);
	}
}

int build_copy_key(const struct build_copy_req *r, struct build_key *key, struct st_error *err)
{
	struct copy_plan p;
	struct st_hasher *h = &key->item;
	struct keyer k = {&p, key, h, ST_BUF_INIT};
	int rc = copy_plan_make(r, &p, err);

	if (rc == 0)
		rc = build_key_item(key, err, "copy");
	if (rc < 0) {
		copy_plan_release(&p);
		return rc;
	}
	key_head(&p, h);
	for (size_t i = 0; rc == 0 && i < p.n_u; i++) {
		const struct copy_unit *u = &p.u[i];
		rc = build_key_item(key, err, "%s %s",
		                    u->kind == CU_PATH  ? "unit"
		                    : u->kind == CU_ADD ? "add"
		                                        : "url",
		                    u->kind == CU_PATH ? u->dst : u->src);
		if (rc < 0)
			break;
		h_str(h, "u");
		h_str(h, u->dst);
		h_num(h, u->kind);
		h_num(h, u->is_dir);
		if (u->kind == CU_PATH) {
			rc = copy_key_walk_par(&p, u, key_item, key, err);
			if (rc == 0)
				rc = copy_walk_unit(&p, u, key_visit, &k, err);
			rc = rc < 0 ? rc : 0;
		} else if (u->kind == CU_ADD)
			rc = key_add(&p, u, h, err);
		else
			rc = copy_url_key(&p, u, h, err);
	}
	st_buf_release(&k.link);
	copy_plan_release(&p);
	return rc;
}

/* ---- writing into the upper directory ---- */

int copy_open_dst_dir(int upper_fd, const char *path, struct st_error *err)
{
	cleanup_fd int fd = copy_open_beneath(upper_fd, path, O_PATH | O_DIRECTORY);
	const char *s = path;

	if (fd >= 0 || errno != ENOENT)
		return fd >= 0 ? take_fd(&fd) : st_error_sys(err, "open '/%s' in the layer", path);
	fd = copy_open_beneath(upper_fd, "", O_PATH | O_DIRECTORY);
	while (fd >= 0 && *s) {
		size_t n = strcspn(s, "/");
		cleanup_free char *c = st_strndup(s, n);
		int nfd;
		if (!c)
			return st_error_set(err, ST_ENOMEM, "out of memory");
		if (mkdirat(fd, c, 0755) < 0 && errno != EEXIST)
			return st_error_sys(err, "mkdir '/%s' in the layer", path);
		nfd = copy_open_beneath(fd, c, O_PATH | O_DIRECTORY);
		(void)close(fd);
		fd = nfd;
		s += n;
		s += *s == '/';
	}
	if (fd < 0)
		return st_error_sys(err, "open '/%s' in the layer", path);
	return take_fd(&fd);
}

int copy_set_meta(int dfd, const char *name, bool is_link, mode_t mode, uint32_t uid, uint32_t gid,
                  const struct timespec *mtime, struct st_error *err)
{
	if (fchownat(dfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
		return st_error_sys(err, "chown '%s'", name);
	/* after chown, which clears set-id bits */
	if (!is_link && fchmodat(dfd, name, mode, 0) < 0)
		return st_error_sys(err, "chmod '%s'", name);
	if (mtime && mtime->tv_nsec != UTIME_OMIT) {
		struct timespec ts[2] = {*mtime, *mtime};
		if (utimensat(dfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
			return st_error_sys(err, "set times of '%s'", name);
	}
	return 0;
}

/* Removes what a path held for an entry of another type; 1 when a directory is there and a
 * directory is wanted. */
static int make_room(int dfd, const char *name, bool want_dir, struct st_error *err)
{
	struct stat st;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : st_error_sys(err, "stat '%s'", name);
	if (S_ISDIR(st.st_mode)) {
		if (want_dir)
			return 1;
		return st_error_set(err, ST_EEXIST, "cannot overwrite directory '%s' with a file",
		                    name);
	}
	if (unlinkat(dfd, name, 0) < 0)
		return st_error_sys(err, "replace '%s'", name);
	return 0;
}

static int copy_data(int src, int dst, unsigned char **buf, struct st_error *err)
{
	uint64_t done = 0;
	ssize_t n;

	for (;;) {
		n = copy_file_range(src, NULL, dst, NULL, 1u << 30, 0);
		if (n == 0)
			return 0;
		if (n > 0) {
			done += (uint64_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (done > 0 || (errno != EXDEV && errno != EINVAL && errno != ENOSYS &&
		                 errno != EOPNOTSUPP && errno != EPERM))
			return st_error_sys(err, "copy");
		break;
	}
	if (!*buf && !(*buf = malloc(COPY_BUF)))
		return st_error_set(err, ST_ENOMEM, "out of memory");
	while ((n = read(src, *buf, COPY_BUF)) != 0) {
		int rc;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return st_error_sys(err, "read");
		rc = st_write_all(dst, *buf, (size_t)n, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int copy_write_file(int dfd, const char *name, int src, const struct copy_file_meta *m,
                    unsigned char **buf, struct st_error *err)
{
	cleanup_fd int fd = -1;
	struct timespec ts[2] = {m->mtime, m->mtime};
	int rc = make_room(dfd, name, false, err);

	if (rc < 0)
		return rc;
	fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return st_error_sys(err, "create '%s'", name);
	rc = copy_data(src, fd, buf, err);
	if (rc < 0)
		return st_error_wrap(err, "'%s'", name);
	if (fchown(fd, m->uid, m->gid) < 0 || fchmod(fd, m->mode) < 0)
		return st_error_sys(err, "set owner and mode of '%s'", name);
	if (m->mtime.tv_nsec != UTIME_OMIT && futimens(fd, ts) < 0)
		return st_error_sys(err, "set times of '%s'", name);
	return 0;
}

struct execer {
	struct copy_plan *p;
	int upper_fd;
	int pfd; /* the last parent directory, cached: entries of a directory come together */
	struct st_buf ppath, link;
	unsigned char *buf;
};

static int exec_parent(struct execer *x, const char *dst, const char **name, struct st_error *err)
{
	const char *slash = strrchr(dst, '/');
	size_t len = slash ? (size_t)(slash - dst) : 0;
	int rc;

	*name = slash ? slash + 1 : dst;
	if (x->pfd >= 0 && x->ppath.len == len && memcmp(x->ppath.data, dst, len) == 0)
		return x->pfd;
	if (x->pfd >= 0)
		(void)close(x->pfd);
	x->pfd = -1;
	st_buf_reset(&x->ppath);
	rc = st_buf_add(&x->ppath, dst, len, err);
	if (rc < 0)
		return rc;
	x->pfd = copy_open_beneath(x->upper_fd, x->ppath.data, O_PATH | O_DIRECTORY);
	if (x->pfd < 0)
		return st_error_sys(err, "open '/%s' in the layer", x->ppath.data);
	return x->pfd;
}

int copy_write_at(int upper_fd, const char *dst, int src, const struct copy_file_meta *m,
                  struct st_error *err)
{
	struct execer x = {NULL, upper_fd, -1, ST_BUF_INIT, ST_BUF_INIT, NULL};
	const char *name;
	int rc = exec_parent(&x, dst, &name, err);

	if (rc >= 0)
		rc = copy_write_file(x.pfd, name, src, m, &x.buf, err);
	if (x.pfd >= 0)
		(void)close(x.pfd);
	st_buf_release(&x.ppath);
	free(x.buf);
	return rc < 0 ? rc : 0;
}

static int exec_special(struct execer *x, int dfd, const char *name, const struct copy_ent *e,
                        struct st_error *err)
{
	int rc = make_room(dfd, name, false, err);

	if (rc < 0)
		return rc;
	if (S_ISLNK(e->st->st_mode)) {
		rc = copy_read_link(e->src_dirfd, e->name, &x->link, err);
		if (rc < 0)
			return rc;
		if (symlinkat(x->link.data, dfd, name) < 0)
			return st_error_sys(err, "symlink '%s'", e->dst);
	} else if (mknodat(dfd, name, (e->st->st_mode & S_IFMT) | 0600, e->st->st_rdev) < 0) {
		return st_error_sys(err, "mknod '%s'", e->dst);
	}
	return copy_set_meta(dfd, name, S_ISLNK(e->st->st_mode), e->mode, e->uid, e->gid,
	                     &e->st->st_mtim, err);
}

static int exec_visit(void *ctx, const struct copy_ent *e, struct st_error *err)
{
	struct execer *x = ctx;
	const char *name;
	int dfd, rc;

	if (!*e->dst)
		return 0; /* the root of the layer keeps its metadata */
	dfd = exec_parent(x, e->dst, &name, err);
	if (dfd < 0)
		return dfd;
	if (S_ISDIR(e->st->st_mode)) {
		if (e->post)
			return e->keep_meta ? 0
			                    : copy_set_meta(dfd, name, false, e->mode, e->uid,
			                                    e->gid, &e->st->st_mtim, err);
		rc = make_room(dfd, name, true, err);
		if (rc == 0 && mkdirat(dfd, name, 0700) < 0)
			rc = st_error_sys(err, "mkdir '%s'", e->dst);
		return rc < 0 ? rc : 0;
	}
	if (S_ISREG(e->st->st_mode)) {
		struct copy_file_meta m = {e->mode, e->uid, e->gid, e->st->st_mtim};
		cleanup_fd int src =
		        openat(e->src_dirfd, e->name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (src < 0)
			return st_error_sys(err, "open '%s'", e->src);
		return copy_write_file(dfd, name, src, &m, &x->buf, err);
	}
	return exec_special(x, dfd, name, e, err);
}

/* The destination's directories: those of the target keep their metadata (an overlay copy-up
 * would), new ones are 0755 and owned by --chown's user, as BuildKit's MkdirAll makes them. */
static int exec_dirs(struct execer *x, bool times, struct st_error *err)
{
	for (size_t i = 0; i < x->p->n_dirs; i++) {
		const struct copy_dir *d = &x->p->dirs[i];
		const char *name;
		int dfd = exec_parent(x, d->path, &name, err), rc;
		if (dfd < 0)
			return dfd;
		if (times) {
			if (d->from_target && (rc = copy_set_meta(dfd, name, false, d->mode, d->uid,
			                                          d->gid, &d->mtime, err)) < 0)
				return rc;
			continue;
		}
		rc = make_room(dfd, name, true, err);
		if (rc == 0 && mkdirat(dfd, name, 0755) < 0)
			return st_error_sys(err, "mkdir '/%s' in the layer", d->path);
		if (rc < 0 ||
		    (rc = copy_set_meta(dfd, name, false, d->mode, d->uid, d->gid, NULL, err)) < 0)
			return rc;
	}
	return 0;
}

int build_copy_exec(const struct build_copy_req *r, const char *upper, struct st_error *err)
{
	struct copy_plan p;
	struct execer x = {&p, -1, -1, ST_BUF_INIT, ST_BUF_INIT, NULL};
	int rc = copy_plan_make(r, &p, err);

	if (rc < 0)
		return rc;
	x.upper_fd = open(upper, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (x.upper_fd < 0)
		rc = st_error_sys(err, "open '%s'", upper);
	if (rc == 0)
		rc = exec_dirs(&x, false, err);
	for (size_t i = 0; rc == 0 && i < p.n_u; i++) {
		const struct copy_unit *u = &p.u[i];
		if (u->kind == CU_PATH)
			rc = copy_walk_unit(&p, u, exec_visit, &x, err);
		else if (u->kind == CU_ADD)
			rc = copy_add_exec(&p, u, x.upper_fd, err);
		else
			rc = copy_url_exec(&p, u, x.upper_fd, err);
	}
	if (rc == 0)
		rc = exec_dirs(&x, true, err);
	if (x.pfd >= 0)
		(void)close(x.pfd);
	if (x.upper_fd >= 0)
		(void)close(x.upper_fd);
	st_buf_release(&x.ppath);
	st_buf_release(&x.link);
	free(x.buf);
	copy_plan_release(&p);
	return rc;
}
