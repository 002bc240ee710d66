/* build-copy-plan.c: Docker's source and destination rules for COPY and ADD, turned into a plan:
 * the sources a step selects (globs, .dockerignore, --exclude, --parents), where each lands in the
 * upper directory (trailing slash, WORKDIR, an existing directory or symlink in the target) and
 * the directories the destination needs. Nothing is written here. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "build/build-copy-internal.h"
#include "util/cleanup.h"
#include "util/fs.h"

#include "util/banned.h"

/* A source entry as selected, before it is placed. */
struct match {
	char *written; /* cleaned, as written (globs expanded): its base name names a copied file */
	char *resolved;
	char *parents; /* --parents: the path kept under the destination */
	bool is_dir, is_reg, is_url;
};

struct matches {
	struct match *v;
	size_t n, cap;
};

static void matches_release(struct matches *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->v[i].written);
		free(m->v[i].resolved);
		free(m->v[i].parents);
	}
	free(m->v);
}

int copy_fail(const struct copy_plan *p, enum st_errc code, const char *src, struct st_error *err,
              const char *fmt, ...)
{
	char msg[sizeof(err->msg)];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return st_error_set(err, code, "%s%s%s%s%s: %s", p->r->where ? p->r->where : "",
	                    p->r->where ? ": " : "", p->cmd, src ? " " : "", src ? src : "", msg);
}

bool copy_is_url(const char *s)
{
	return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0;
}

static bool ignored(const struct copy_plan *p, const char *rel, bool is_dir)
{
	if (!p->r->from_context || !p->r->ignore || !*rel)
		return false;
	if (!st_dockerignore_match(p->r->ignore, rel))
		return false;
	return !(is_dir && st_dockerignore_may_include_below(p->r->ignore, rel));
}

static int push_unit(struct copy_plan *p, const struct copy_unit *u, struct st_error *err)
{
	if (p->n_u == p->cap_u) {
		size_t cap = p->cap_u ? 2 * p->cap_u : 8;
		struct copy_unit *v = realloc(p->u, cap * sizeof(*v));
		if (!v)
			return st_error_set(err, ST_ENOMEM, "out of memory");
		p->u = v;
		p->cap_u = cap;
	}
	p->u[p->n_u++] = *u;
	return 0;
}

/* --parents: the path kept under the destination is the source's, or its part after a "/./"
 * pivot; the components before the pivot are literal, so the same count is stripped from a
 * match. */
static char *parents_path(const char *src, const char *written)
{
	const char *piv = NULL, *s = src, *w = written;
	cleanup_buf struct st_buf pre = ST_BUF_INIT;
	size_t k = 0;

	while ((s = strstr(s, "/./")) != NULL)
		piv = s++;
	if (piv) {
		char *head = st_strndup(src, (size_t)(piv - src));
		int rc = head ? copy_clean(head, &pre, NULL) : -ST_ENOMEM;
		free(head);
		if (rc < 0)
			return NULL;
		for (const char *c = pre.data; *c; c++)
			k += *c == '/';
		k += pre.len > 0;
	}
	for (; k > 0 && *w; k--) {
		w += strcspn(w, "/");
		w += *w == '/';
	}
	return strdup(w);
}

static int push_match(struct matches *ms, const struct match *m, struct st_error *err)
{
	if (ms->n == ms->cap) {
		size_t cap = ms->cap ? 2 * ms->cap : 8;
		struct match *v = realloc(ms->v, cap * sizeof(*v));
		if (!v)
			return st_error_set(err, ST_ENOMEM, "out of memory");
		ms->v = v;
		ms->cap = cap;
	}
	ms->v[ms->n++] = *m;
	if (!m->written || !m->resolved || !m->parents)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	return 0;
}

static int add_match(struct copy_plan *p, struct matches *ms, const char *written, const char *src,
                     bool from_glob, struct st_error *err)
{
	cleanup_buf struct st_buf res = ST_BUF_INIT;
	struct copy_resolved cr;
	struct match m;
	int rc;

	rc = copy_resolve(p->src_fd, written, p->r->from_context ? CR_STRICT : CR_SCOPED, true,
	                  &res, &cr, err);
	if (rc < 0)
		return copy_fail(p, (enum st_errc) - rc, src, err, "%s", err ? err->msg : "");
	if (!cr.exists || ignored(p, res.data, S_ISDIR(cr.st.st_mode))) {
		if (from_glob)
			return 0;
		return copy_fail(p, ST_ENOTFOUND, src, err, "no such file or directory in %s",
		                 p->r->from_context
		                         ? "the build context (or excluded by .dockerignore)"
		                         : "the source");
	}
	if (p->excl && from_glob && st_dockerignore_match(p->excl, written))
		return 0;
	m.written = strdup(written);
	m.resolved = st_buf_detach(&res, NULL);
	m.parents = p->r->parents ? parents_path(src, written) : strdup("");
	m.is_dir = S_ISDIR(cr.st.st_mode);
	m.is_reg = S_ISREG(cr.st.st_mode);
	m.is_url = false;
	return push_match(ms, &m, err);
}

/* The names in the source directory `dir`, sorted (none when it is not a directory). */
static int list_dir(struct copy_plan *p, const char *dir, struct st_strv *out, struct st_error *err)
{
	cleanup_buf struct st_buf res = ST_BUF_INIT;
	struct copy_resolved cr;
	int fd, rc;

	rc = copy_resolve(p->src_fd, dir, p->r->from_context ? CR_STRICT : CR_SCOPED, true, &res,
	                  &cr, err);
	if (rc < 0 || !cr.exists || !S_ISDIR(cr.st.st_mode))
		return rc;
	fd = copy_open_beneath(p->src_fd, res.data, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return st_error_sys(err, "open directory '%s'", res.data);
	rc = st_list_dir(fd, out, err);
	(void)close(fd);
	return rc < 0 ? st_error_wrap(err, "'%s'", res.data) : 0;
}

/* Whether a glob may descend into path: a directory that resolves inside the root. */
static bool is_dir(struct copy_plan *p, const char *path)
{
	cleanup_buf struct st_buf res = ST_BUF_INIT;
	struct copy_resolved cr;

	return copy_resolve(p->src_fd, path, p->r->from_context ? CR_STRICT : CR_SCOPED, true, &res,
	                    &cr, NULL) == 0 &&
	       cr.exists && S_ISDIR(cr.st.st_mode);
}

/* filepath.Glob: each component with a wildcard is matched against a directory listing. */
static int glob_expand(struct copy_plan *p, struct matches *ms, const char *src, const char *prefix,
                       const char *pat, int depth, struct st_error *err)
{
	size_t n = strcspn(pat, "/");
	const char *tail = pat + n + (pat[n] == '/');
	cleanup_free char *comp = st_strndup(pat, n);
	cleanup_buf struct st_buf w = ST_BUF_INIT;
	struct st_strv names = ST_STRV_INIT;
	int rc;

	if (!comp)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	if (depth > COPY_MAX_DEPTH)
		return copy_fail(p, ST_ELIMIT, src, err, "pattern too deep");
	if (!copy_has_meta(comp)) {
		rc = copy_join(&w, prefix, comp, err);
		if (rc == 0)
			rc = *tail ? glob_expand(p, ms, src, w.data, tail, depth + 1, err)
			           : add_match(p, ms, w.data, src, true, err);
		return rc;
	}
	rc = list_dir(p, prefix, &names, err);
	for (size_t i = 0; rc == 0 && i < names.n; i++) {
		int m = copy_match_name(comp, names.v[i]);
		if (m < 0)
			rc = copy_fail(p, ST_EINVALID, src, err, "syntax error in pattern");
		else if (m == 1 && (rc = copy_join(&w, prefix, names.v[i], err)) == 0)
			rc = !*tail ? add_match(p, ms, w.data, src, true, err)
			     : is_dir(p, w.data)
			             ? glob_expand(p, ms, src, w.data, tail, depth + 1, err)
			             : 0;
	}
	st_strv_release(&names);
	return rc;
}

static int select_source(struct copy_plan *p, struct matches *ms, const char *src,
                         struct st_error *err)
{
	cleanup_buf struct st_buf c = ST_BUF_INIT;
	struct match m = {0};
	int rc;

	if (copy_is_url(src)) {
		if (!p->r->is_add)
			return copy_fail(p, ST_EINVALID, src, err,
			                 "source can't be a URL for COPY");
		m.written = strdup(src);
		m.resolved = strdup(src);
		m.parents = strdup("");
		m.is_url = true;
		return push_match(ms, &m, err);
	}
	if (strncmp(src, "git@", 4) == 0 || strncmp(src, "git://", 6) == 0)
		return copy_fail(p, ST_EUNSUPPORTED, src, err, "git sources are not supported");
	/* a root filesystem is a chroot: ".." stops at its root */
	rc = p->r->from_context ? copy_clean(src, &c, err) : st_buf_addf(&c, err, "/%s", src);
	if (rc == 0 && !p->r->from_context) {
		cleanup_buf struct st_buf t = ST_BUF_INIT;
		rc = copy_clean(c.data, &t, err);
		st_buf_swap(&c, &t);
	}
	if (rc < 0)
		return rc;
	if (strcmp(c.data, "..") == 0 || strncmp(c.data, "../", 3) == 0)
		return copy_fail(p, ST_EINVALID, src, err, "path outside the build context");
	if (copy_has_meta(c.data))
		return glob_expand(p, ms, src, "", c.data, 0, err);
	return add_match(p, ms, c.data, src, false, err);
}

/* ---- destination ---- */

struct dest {
	struct st_buf path; /* resolved, upper-relative */
	bool dir;           /* sources go inside it */
};

static bool dest_dir_form(const char *dest)
{
	size_t len = strlen(dest);

	return dest[len - 1] == '/' || strcmp(dest, ".") == 0 || strcmp(dest, "..") == 0 ||
	       (len >= 2 && strcmp(dest + len - 2, "/.") == 0) ||
	       (len >= 3 && strcmp(dest + len - 3, "/..") == 0);
}

static int resolve_dest(struct copy_plan *p, size_t n_matches, struct dest *d, struct st_error *err)
{
	const char *dest = p->r->dest, *wd = p->r->workdir ? p->r->workdir : "/";
	cleanup_buf struct st_buf abs = ST_BUF_INIT;
	struct copy_resolved cr = {0};
	bool form;
	int rc;

	if (!*dest)
		return copy_fail(p, ST_EINVALID, NULL, err, "empty destination");
	form = dest_dir_form(dest);
	if (p->r->n_srcs > 1 && !form)
		return copy_fail(
		        p, ST_EINVALID, NULL, err,
		        "When using %s with more than one source file, the destination must "
		        "be a directory and end with a /",
		        p->cmd);
	rc = st_buf_addf(&abs, err, "/%s/%s", dest[0] == '/' ? "" : wd, dest);
	if (rc == 0 && p->target_fd >= 0 && !p->r->link)
		rc = copy_resolve(p->target_fd, abs.data, CR_SCOPED, true, &d->path, &cr, err);
	else if (rc == 0)
		rc = copy_clean(abs.data, &d->path, err);
	if (rc < 0)
		return rc;
	d->dir = form || n_matches > 1 || p->r->parents || (cr.exists && S_ISDIR(cr.st.st_mode));
	return 0;
}

/* True when the target has a directory at path (never with --link). */
static int target_dir(const struct copy_plan *p, const char *path, struct stat *st,
                      struct st_error *err)
{
	if (p->target_fd < 0 || p->r->link)
		return 0;
	if (fstatat(p->target_fd, *path ? path : ".", st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		return st_error_sys(err, "stat '/%s' in the target", path);
	}
	if (S_ISDIR(st->st_mode))
		return 1;
	/* a symlink deeper than the resolved destination is shadowed by a directory */
	if (S_ISLNK(st->st_mode))
		return 0;
	return copy_fail(p, ST_EINVALID, NULL, err, "cannot copy to non-directory: /%s", path);
}

static int add_dir(struct copy_plan *p, const char *path, struct st_error *err)
{
	struct copy_dir d = {NULL, 0755, 0, 0, {0, UTIME_OMIT}, false};
	struct stat st;
	int rc;

	for (size_t i = p->n_dirs; i > 0; i--)
		if (strcmp(p->dirs[i - 1].path, path) == 0)
			return 0;
	rc = target_dir(p, path, &st, err);
	if (rc < 0)
		return rc;
	if (rc == 1)
		d = (struct copy_dir){NULL,      st.st_mode & 07777, st.st_uid,
		                      st.st_gid, st.st_mtim,         true};
	else if (p->own_set)
		d.uid = p->uid, d.gid = p->gid;
	if (p->n_dirs == p->cap_dirs) {
		size_t cap = p->cap_dirs ? 2 * p->cap_dirs : 8;
		struct copy_dir *v = realloc(p->dirs, cap * sizeof(*v));
		if (!v)
			return st_error_set(err, ST_ENOMEM, "out of memory");
		p->dirs = v;
		p->cap_dirs = cap;
	}
	d.path = strdup(path);
	if (!d.path)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	p->dirs[p->n_dirs++] = d;
	return 0;
}

/* Adds path and its parents (upper-relative; "" is the root, which is never listed). */
static int add_dirs(struct copy_plan *p, const char *path, bool self, struct st_error *err)
{
	cleanup_buf struct st_buf pre = ST_BUF_INIT;
	const char *s = path;
	int rc = 0;

	while (*s && rc == 0) {
		s += strcspn(s, "/");
		if (!*s && !self)
			break;
		st_buf_reset(&pre);
		rc = st_buf_add(&pre, path, (size_t)(s - path), err);
		if (rc == 0)
			rc = add_dir(p, pre.data, err);
		s += *s == '/';
	}
	return rc;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

static int place_dir(struct copy_plan *p, const struct match *m, const struct dest *d,
                     struct copy_unit *u, struct st_error *err)
{
	cleanup_buf struct st_buf dst = ST_BUF_INIT;
	struct stat st;
	int rc = copy_join(&dst, d->path.data, p->r->parents ? m->parents : "", err);

	if (rc < 0)
		return rc;
	rc = target_dir(p, dst.data, &st, err);
	if (rc < 0)
		return rc;
	/* BuildKit keeps the metadata of a destination directory that exists or that the
	 * destination made (a trailing slash); a new one takes the source directory's */
	u->keep_meta = rc == 1 || (d->dir && !p->r->parents);
	rc = add_dirs(p, dst.data, u->keep_meta, err);
	u->kind = CU_PATH;
	u->is_dir = true;
	u->dst = st_buf_detach(&dst, NULL);
	return rc;
}

static int place_file(struct copy_plan *p, const struct match *m, const struct dest *d,
                      struct copy_unit *u, struct st_error *err)
{
	cleanup_buf struct st_buf name = ST_BUF_INIT;
	cleanup_buf struct st_buf dst = ST_BUF_INIT;
	int rc;

	if (m->is_url)
		rc = copy_url_name(m->written, &name, err);
	else
		rc = st_buf_adds(&name, p->r->parents ? m->parents : base_name(m->written), err);
	if (rc < 0)
		return rc;
	if (d->dir && name.len == 0)
		return copy_fail(p, ST_EINVALID, m->written, err, "cannot determine a file name");
	rc = d->dir ? copy_join(&dst, d->path.data, name.data, err)
	            : st_buf_adds(&dst, d->path.data, err);
	if (rc == 0)
		rc = add_dirs(p, dst.data, false, err);
	if (rc < 0)
		return rc;
	u->kind = m->is_url ? CU_URL : p->r->is_add && m->is_reg ? CU_ADD : CU_PATH;
	u->dst = st_buf_detach(&dst, NULL);
	if (u->kind == CU_ADD && !(u->dst_dir = strdup(d->path.data)))
		return st_error_set(err, ST_ENOMEM, "out of memory");
	return 0;
}

static int place(struct copy_plan *p, const struct matches *ms, const struct dest *d,
                 struct st_error *err)
{
	int rc = 0;

	/* the destination directory is made first (BuildKit's ensureDstPath) */
	if (d->dir)
		rc = add_dirs(p, d->path.data, true, err);
	for (size_t i = 0; rc == 0 && i < ms->n; i++) {
		struct copy_unit u = {0};
		u.src = strdup(ms->v[i].resolved);
		if (!u.src)
			return st_error_set(err, ST_ENOMEM, "out of memory");
		rc = push_unit(p, &u, err);
		if (rc < 0) {
			free(u.src);
			return rc;
		}
		if (ms->v[i].is_dir)
			rc = place_dir(p, &ms->v[i], d, &p->u[p->n_u - 1], err);
		else
			rc = place_file(p, &ms->v[i], d, &p->u[p->n_u - 1], err);
	}
	return rc;
}

static int open_root(const char *path, const char *what, struct st_error *err)
{
	int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return st_error_sys(err, "open %s '%s'", what, path);
	return fd;
}

static int plan_open(const struct build_copy_req *r, struct copy_plan *p, struct st_error *err)
{
	int rc;

	if (!r->dest || r->n_srcs == 0)
		return copy_fail(p, ST_EINVALID, NULL, err, "needs a source and a destination");
	if (r->src_root && (p->src_fd = open_root(r->src_root, "source root", err)) < 0)
		return p->src_fd;
	if (r->target_root && (p->target_fd = open_root(r->target_root, "target root", err)) < 0)
		return p->target_fd;
	rc = copy_parse_chown(p, err);
	if (rc == 0)
		rc = copy_parse_chmod(p, err);
	if (rc == 0 && r->n_excludes > 0)
		rc = st_dockerignore_new(r->excludes, r->n_excludes, &p->excl, err);
	return rc;
}

int copy_plan_make(const struct build_copy_req *r, struct copy_plan *p, struct st_error *err)
{
	struct matches ms = {0};
	struct dest d = {ST_BUF_INIT, false};
	int rc;

	*p = (struct copy_plan){.r = r, .src_fd = -1, .target_fd = -1};
	p->cmd = r->is_add ? "ADD" : "COPY";
	rc = plan_open(r, p, err);
	for (size_t i = 0; rc == 0 && i < r->n_srcs; i++) {
		if (!copy_is_url(r->srcs[i]) && p->src_fd < 0)
			rc = copy_fail(p, ST_EINVALID, r->srcs[i], err, "no source root");
		else
			rc = select_source(p, &ms, r->srcs[i], err);
	}
	if (rc == 0)
		rc = resolve_dest(p, ms.n, &d, err);
	if (rc == 0)
		rc = place(p, &ms, &d, err);
	matches_release(&ms);
	st_buf_release(&d.path);
	if (rc < 0)
		copy_plan_release(p);
	return rc;
}

void copy_plan_release(struct copy_plan *p)
{
	for (size_t i = 0; i < p->n_u; i++) {
		free(p->u[i].src);
		free(p->u[i].dst);
		free(p->u[i].dst_dir);
	}
	free(p->u);
	for (size_t i = 0; i < p->n_dirs; i++)
		free(p->dirs[i].path);
	free(p->dirs);
	st_dockerignore_free(p->excl);
	if (p->src_fd >= 0)
		(void)close(p->src_fd);
	if (p->target_fd >= 0)
		(void)close(p->target_fd);
	*p = (struct copy_plan){.src_fd = -1, .target_fd = -1};
}
