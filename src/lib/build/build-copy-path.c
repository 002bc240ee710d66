/* build-copy-path.c: paths for COPY and ADD: filepath.Clean, resolution of a path inside a root
 * (the context refuses to be left, a root filesystem is a chroot), and Go's filepath.Match for
 * one name, as BuildKit's wildcard sources use it. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "build/build-copy-internal.h"
#include "build/dockerfile-internal.h"
#include "util/cleanup.h"

#include "util/banned.h"

int copy_join(struct st_buf *out, const char *a, const char *b, struct st_error *err)
{
	int rc = 0;

	st_buf_reset(out);
	if (*a)
		rc = st_buf_adds(out, a, err);
	if (rc == 0 && *a && *b)
		rc = st_buf_addch(out, '/', err);
	if (rc == 0 && *b)
		rc = st_buf_adds(out, b, err);
	return rc;
}

int copy_clean(const char *path, struct st_buf *out, struct st_error *err)
{
	bool rooted = path[0] == '/';
	const char *p = path;
	int rc = 0;

	st_buf_reset(out);
	while (*p && rc == 0) {
		size_t n = strcspn(p, "/");
		if ((n == 1 && p[0] == '.') || n == 0) {
			/* skip */
		} else if (n == 2 && p[0] == '.' && p[1] == '.') {
			char *slash = strrchr(out->data, '/');
			const char *last = slash ? slash + 1 : out->data;
			if (out->len > 0 && strcmp(last, "..") != 0)
				st_buf_setlen(out, slash ? (size_t)(slash - out->data) : 0);
			else if (!rooted)
				rc = out->len ? st_buf_adds(out, "/..", err)
				              : st_buf_adds(out, "..", err);
		} else {
			if (out->len)
				rc = st_buf_addch(out, '/', err);
			if (rc == 0)
				rc = st_buf_add(out, p, n, err);
		}
		p += n;
		if (*p == '/')
			p++;
	}
	return rc;
}

int copy_open_beneath(int fd, const char *path, int flags)
{
	struct open_how how = {
	        .flags = (uint64_t)flags | O_CLOEXEC,
	        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	long r;

	do
		r = syscall(SYS_openat2, fd, *path ? path : ".", &how, sizeof(how));
	while (r < 0 && errno == EAGAIN);
	return (int)r;
}

/* Splits the first component off *rest. */
static struct st_str next_comp(const char **rest)
{
	struct st_str c;

	while (**rest == '/')
		(*rest)++;
	c.p = *rest;
	c.len = strcspn(*rest, "/");
	*rest += c.len;
	return c;
}

struct resolver {
	int root_fd;
	enum copy_resolve_mode mode;
	struct st_buf cur, rest, cand, link;
	char last_link[256]; /* for messages: the symlink that led out */
	int n_links;
	struct st_error *err;
};

static int follow(struct resolver *rv, const char *tail)
{
	struct st_buf *l = &rv->link;
	ssize_t n;
	int rc;

	if (++rv->n_links > COPY_MAX_LINKS)
		return st_error_errno(rv->err, ELOOP, "'%s'", rv->cand.data);
	rc = st_buf_grow(l, 4096, rv->err);
	if (rc < 0)
		return rc;
	n = readlinkat(rv->root_fd, rv->cand.data, l->data, 4096);
	if (n < 0)
		return st_error_sys(rv->err, "readlink '%s'", rv->cand.data);
	st_buf_setlen(l, (size_t)n);
	if (l->data[0] == '/') {
		if (rv->mode == CR_STRICT)
			return st_error_set(rv->err, ST_EINVALID,
			                    "symlink '%s' points outside the build context (%s)",
			                    rv->cand.data, l->data);
		st_buf_reset(&rv->cur);
	}
	(void)snprintf(rv->last_link, sizeof(rv->last_link), "%s", rv->cand.data);
	if (*tail &&
	    ((rc = st_buf_addch(l, '/', rv->err)) < 0 || (rc = st_buf_adds(l, tail, rv->err)) < 0))
		return rc;
	st_buf_swap(&rv->rest, l);
	return 0;
}

static int resolve_loop(struct resolver *rv, bool follow_last, struct copy_resolved *res)
{
	const char *p = rv->rest.data;
	int rc;

	for (;;) {
		struct st_str c = next_comp(&p);
		if (c.len == 0)
			return 0;
		if (c.len == 1 && c.p[0] == '.')
			continue;
		if (c.len == 2 && c.p[0] == '.' && c.p[1] == '.') {
			char *slash = strrchr(rv->cur.data, '/');
			if (rv->cur.len == 0 && rv->mode == CR_STRICT)
				return st_error_set(rv->err, ST_EINVALID,
				                    "symlink '%s' points outside the build context",
				                    rv->last_link);
			st_buf_setlen(&rv->cur, slash ? (size_t)(slash - rv->cur.data) : 0);
			continue;
		}
		st_buf_reset(&rv->cand);
		if ((rv->cur.len &&
		     (rc = st_buf_addf(&rv->cand, rv->err, "%s/", rv->cur.data)) < 0) ||
		    (rc = st_buf_add(&rv->cand, c.p, c.len, rv->err)) < 0)
			return rc;
		if (fstatat(rv->root_fd, rv->cand.data, &res->st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT && errno != ENOTDIR)
				return st_error_sys(rv->err, "stat '%s'", rv->cand.data);
			res->exists = false;
			st_buf_swap(&rv->cur, &rv->cand);
			if (*p)
				return st_buf_adds(&rv->cur, p, rv->err);
			return 0;
		}
		while (*p == '/')
			p++;
		if (S_ISLNK(res->st.st_mode) && (*p || follow_last)) {
			rc = follow(rv, p);
			if (rc < 0)
				return rc;
			p = rv->rest.data;
			continue;
		}
		st_buf_swap(&rv->cur, &rv->cand);
	}
}

int copy_resolve(int root_fd, const char *path, enum copy_resolve_mode mode, bool follow_last,
                 struct st_buf *out, struct copy_resolved *res, struct st_error *err)
{
	struct resolver rv = {root_fd,     mode, ST_BUF_INIT, ST_BUF_INIT, ST_BUF_INIT,
	                      ST_BUF_INIT, "",   0,           err};
	int rc;

	res->exists = true;
	if (fstatat(root_fd, "", &res->st, AT_EMPTY_PATH) < 0)
		return st_error_sys(err, "stat root");
	rc = st_buf_adds(&rv.rest, path, err);
	if (rc == 0)
		rc = resolve_loop(&rv, follow_last, res);
	if (rc == 0) {
		rc = copy_clean(rv.cur.data, out, err);
		if (rc == 0 && res->exists && out->len == 0 &&
		    fstatat(root_fd, "", &res->st, AT_EMPTY_PATH) < 0)
			rc = st_error_sys(err, "stat root");
	}
	st_buf_release(&rv.cur);
	st_buf_release(&rv.rest);
	st_buf_release(&rv.cand);
	st_buf_release(&rv.link);
	return rc;
}

/* ---- Go filepath.Match for one name ---- */

bool copy_has_meta(const char *s)
{
	return strpbrk(s, "*?[\\") != NULL;
}

struct chunk {
	const char *p;
	size_t len;
};

static void scan_chunk(const char **pat, bool *star, struct chunk *c)
{
	const char *p = *pat;
	bool inrange = false;
	size_t i;

	*star = false;
	while (*p == '*') {
		p++;
		*star = true;
	}
	for (i = 0; p[i]; i++) {
		if (p[i] == '\\' && p[i + 1])
			i++;
		else if (p[i] == '[')
			inrange = true;
		else if (p[i] == ']')
			inrange = false;
		else if (p[i] == '*' && !inrange)
			break;
	}
	c->p = p;
	c->len = i;
	*pat = p + i;
}

/* One (possibly escaped) rune of a class; -1 for a bad pattern. */
static int get_esc(struct chunk *c, uint32_t *r)
{
	size_t n;

	if (c->len == 0 || c->p[0] == '-' || c->p[0] == ']')
		return -1;
	if (c->p[0] == '\\') {
		c->p++, c->len--;
		if (c->len == 0)
			return -1;
	}
	n = df_utf8_decode(c->p, c->len, r);
	if (*r == DF_RUNE_ERROR && n == 1)
		return -1;
	c->p += n, c->len -= n;
	return c->len == 0 ? -1 : 0;
}

static int match_class(struct chunk *c, uint32_t r, bool *failed)
{
	bool negated = false, match = false;
	int nrange = 0;

	c->p++, c->len--;
	if (c->len > 0 && c->p[0] == '^') {
		negated = true;
		c->p++, c->len--;
	}
	for (;;) {
		uint32_t lo, hi;
		if (c->len > 0 && c->p[0] == ']' && nrange > 0) {
			c->p++, c->len--;
			break;
		}
		if (get_esc(c, &lo) < 0)
			return -1;
		hi = lo;
		if (c->p[0] == '-') {
			c->p++, c->len--;
			if (get_esc(c, &hi) < 0)
				return -1;
		}
		if (lo <= r && r <= hi)
			match = true;
		nrange++;
	}
	if (match == negated)
		*failed = true;
	return 0;
}

/* matchChunk: on a match sets *rest past the matched part of s. -1 for a bad pattern. */
static int match_chunk(struct chunk c, const char *s, const char **rest)
{
	size_t slen = strlen(s);
	bool failed = false;

	while (c.len > 0) {
		uint32_t r = 0;
		size_t n;
		if (!failed && slen == 0)
			failed = true;
		switch (c.p[0]) {
		case '[':
			if (!failed) {
				n = df_utf8_decode(s, slen, &r);
				s += n, slen -= n;
			}
			if (match_class(&c, r, &failed) < 0)
				return -1;
			break;
		case '?':
			if (!failed) {
				failed = s[0] == '/';
				n = df_utf8_decode(s, slen, &r);
				s += n, slen -= n;
			}
			c.p++, c.len--;
			break;
		default:
			if (c.p[0] == '\\') {
				c.p++, c.len--;
				if (c.len == 0)
					return -1;
			}
			if (!failed) {
				failed = c.p[0] != s[0];
				s++, slen--;
			}
			c.p++, c.len--;
		}
	}
	if (failed)
		return 0;
	*rest = s;
	return 1;
}

/* The rest of the pattern must still be valid when the match fails. */
static int check_rest(const char *pat)
{
	while (*pat) {
		bool star;
		struct chunk c;
		const char *t;
		scan_chunk(&pat, &star, &c);
		if (match_chunk(c, "", &t) < 0)
			return -1;
	}
	return 0;
}

static int star_retry(struct chunk c, const char *pat, const char **name)
{
	const char *s = *name;

	for (size_t i = 0; s[i] && s[i] != '/'; i++) {
		const char *t;
		int m = match_chunk(c, s + i + 1, &t);
		if (m < 0)
			return -1;
		if (m == 1) {
			if (!*pat && *t)
				continue;
			*name = t;
			return 1;
		}
	}
	return 0;
}

int copy_match_name(const char *pat, const char *name)
{
	while (*pat) {
		bool star;
		struct chunk c;
		const char *t;
		int m;
		scan_chunk(&pat, &star, &c);
		if (star && c.len == 0)
			return strchr(name, '/') == NULL;
		m = match_chunk(c, name, &t);
		if (m < 0)
			return -1;
		if (m == 1 && (!*t || *pat)) {
			name = t;
			continue;
		}
		if (star) {
			m = star_retry(c, pat, &name);
			if (m != 0) {
				if (m < 0)
					return -1;
				continue;
			}
		}
		return check_rest(pat) < 0 ? -1 : 0;
	}
	return *name == '\0';
}
