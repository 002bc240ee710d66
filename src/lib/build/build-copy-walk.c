/* build-copy-walk.c: the one walk of a COPY source that both the cache key and the copy follow:
 * sorted names, no symlink followed below the source path, .dockerignore (context-relative) and
 * --exclude (relative to the source) applied, the layer's mode and owner computed per entry. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "build/build-copy-internal.h"
#include "util/cleanup.h"
#include "util/fs.h"

#include "util/banned.h"

struct walker {
	struct copy_plan *p;
	const struct copy_unit *u;
	copy_visit_fn fn;
	void *ctx;
	struct st_buf src, dst;
	struct st_error *err;
};

bool copy_walk_skipped(const struct copy_plan *p, const struct copy_unit *u, const char *rel,
                       bool is_dir)
{
	size_t ul = strlen(u->src);

	if (p->r->from_context && p->r->ignore && st_dockerignore_match(p->r->ignore, rel) &&
	    !(is_dir && st_dockerignore_may_include_below(p->r->ignore, rel)))
		return true;
	if (!p->excl)
		return false;
	rel += ul + (ul > 0);
	return st_dockerignore_match(p->excl, rel) &&
	       !(is_dir && st_dockerignore_may_include_below(p->excl, rel));
}

static int visit(struct walker *w, int dirfd, const char *name, const struct stat *st, bool top,
                 int depth);

static int visit_children(struct walker *w, int dirfd, const char *name, int depth)
{
	cleanup_fd int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct st_strv names = ST_STRV_INIT;
	size_t sl = w->src.len, dl = w->dst.len;
	int rc;

	if (fd < 0)
		return st_error_sys(w->err, "open directory '%s'", w->src.data);
	if (depth > COPY_MAX_DEPTH)
		return st_error_set(w->err, ST_ELIMIT, "'%s': directories nested too deep",
		                    w->src.data);
	rc = st_list_dir(fd, &names, w->err);
	for (size_t i = 0; rc == 0 && i < names.n; i++) {
		struct stat st;
		if ((sl && (rc = st_buf_addch(&w->src, '/', w->err)) < 0) ||
		    (rc = st_buf_adds(&w->src, names.v[i], w->err)) < 0 ||
		    (dl && (rc = st_buf_addch(&w->dst, '/', w->err)) < 0) ||
		    (rc = st_buf_adds(&w->dst, names.v[i], w->err)) < 0)
			break;
		if (fstatat(fd, names.v[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
			rc = st_error_sys(w->err, "stat '%s'", w->src.data);
		else if (!copy_walk_skipped(w->p, w->u, w->src.data, S_ISDIR(st.st_mode)))
			rc = visit(w, fd, names.v[i], &st, false, depth + 1);
		st_buf_setlen(&w->src, sl);
		st_buf_setlen(&w->dst, dl);
	}
	st_strv_release(&names);
	return rc;
}

static int visit(struct walker *w, int dirfd, const char *name, const struct stat *st, bool top,
                 int depth)
{
	struct copy_ent e = {w->src.data, w->dst.data, dirfd, name, st, 0, 0, 0, false, false};
	int rc;

	if (S_ISSOCK(st->st_mode))
		return 0; /* sockets do not go into layers */
	e.mode = copy_mode(w->p, st->st_mode);
	copy_owner(w->p, st, &e.uid, &e.gid);
	e.keep_meta = top && w->u->keep_meta;
	rc = w->fn(w->ctx, &e, w->err);
	if (rc < 0 || !S_ISDIR(st->st_mode))
		return rc;
	rc = visit_children(w, dirfd, name, depth);
	if (rc < 0)
		return rc;
	e.src = w->src.data;
	e.dst = w->dst.data;
	e.post = true;
	return w->fn(w->ctx, &e, w->err);
}

int copy_walk_unit(struct copy_plan *p, const struct copy_unit *u, copy_visit_fn fn, void *ctx,
                   struct st_error *err)
{
	struct walker w = {p, u, fn, ctx, ST_BUF_INIT, ST_BUF_INIT, err};
	const char *slash = strrchr(u->src, '/');
	cleanup_free char *parent = st_strndup(u->src, slash ? (size_t)(slash - u->src) : 0);
	const char *name = slash ? slash + 1 : *u->src ? u->src : ".";
	cleanup_fd int pfd = -1;
	struct stat st;
	int rc;

	if (!parent)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	pfd = copy_open_beneath(p->src_fd, parent, O_PATH | O_DIRECTORY);
	if (pfd < 0)
		return copy_fail(p, errno == ENOENT ? ST_ENOTFOUND : ST_ESYS, u->src, err,
		                 "open parent directory: %s", strerror(errno));
	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return copy_fail(p, errno == ENOENT ? ST_ENOTFOUND : ST_ESYS, u->src, err,
		                 "stat: %s", strerror(errno));
	rc = st_buf_adds(&w.src, u->src, err);
	if (rc == 0)
		rc = st_buf_adds(&w.dst, u->dst, err);
	if (rc == 0)
		rc = visit(&w, pfd, name, &st, true, 0);
	st_buf_release(&w.src);
	st_buf_release(&w.dst);
	return rc;
}
