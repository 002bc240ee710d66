/* dockerignore.c: .dockerignore files as Docker and BuildKit read them (moby/patternmatcher
 * and its ignorefile reader): Go filepath.Match syntax plus "**", "!" exceptions where the last
 * matching pattern wins, a pattern matching a parent directory matching everything below it,
 * and a directory walker that does not descend where no exception can re-include anything. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build/dockerfile-internal.h"
#include "util/cleanup.h"

#include "util/banned.h"

#define WALK_MAX_DEPTH 256

enum match_type { M_EXACT, M_PREFIX, M_SUFFIX, M_REGEXP };
enum tok_kind { T_LIT, T_ANY, T_STAR, T_DSTAR_DIR, T_DSTAR_END, T_CLASS };

struct tok {
	enum tok_kind kind;
	uint32_t r;      /* T_LIT */
	const char *cls; /* T_CLASS: the bytes between '[' and ']' */
	size_t cls_len;
};

struct pattern {
	char *text; /* cleaned, without the '!' */
	bool exclusion;
	enum match_type type;
	struct tok *toks;
	size_t n_toks;
};

struct st_dockerignore {
	struct pattern *pats;
	size_t n;
	bool exclusions;
};

/* ---- filepath.Clean (Unix) ---- */

static char *clean_path(const char *p, size_t len)
{
	char *out = malloc(len + 2);
	size_t w = 0, r = 0, dotdot = 0;
	bool rooted = len > 0 && p[0] == '/';

	if (!out)
		return NULL;
	if (rooted) {
		out[w++] = '/';
		r = dotdot = 1;
	}
	while (r < len) {
		if (p[r] == '/') {
			r++;
		} else if (p[r] == '.' && (r + 1 == len || p[r + 1] == '/')) {
			r++;
		} else if (p[r] == '.' && p[r + 1] == '.' && (r + 2 == len || p[r + 2] == '/')) {
			r += 2;
			if (w > dotdot) {
				w--;
				while (w > dotdot && out[w] != '/')
					w--;
			} else if (!rooted) {
				if (w > 0)
					out[w++] = '/';
				out[w++] = '.';
				out[w++] = '.';
				dotdot = w;
			}
		} else {
			if ((rooted && w != 1) || (!rooted && w != 0))
				out[w++] = '/';
			for (; r < len && p[r] != '/'; r++)
				out[w++] = p[r];
		}
	}
	if (w == 0)
		out[w++] = '.';
	out[w] = '\0';
	return out;
}

/* ---- filepath.Match syntax check ---- */

/* Checks one [...] class starting after '['; returns the index after ']' or 0 if malformed. */
static size_t check_class(const char *p, size_t len, size_t i)
{
	size_t nrange = 0;

	if (i < len && p[i] == '^')
		i++;
	for (;;) {
		if (i < len && p[i] == ']' && nrange > 0)
			return i + 1;
		for (int side = 0; side < 2; side++) {
			if (i >= len || p[i] == '-' || p[i] == ']')
				return 0;
			if (p[i] == '\\' && ++i >= len)
				return 0;
			i++;
			while (i < len && ((unsigned char)p[i] & 0xC0) == 0x80)
				i++;
			if (side == 0 && !(i < len && p[i] == '-'))
				break;
			if (side == 0)
				i++;
		}
		nrange++;
	}
}

static bool valid_glob(const char *p, size_t len)
{
	for (size_t i = 0; i < len;) {
		if (p[i] == '\\') {
			if (i + 1 >= len)
				return false;
			i += 2;
		} else if (p[i] == '[') {
			i = check_class(p, len, i + 1);
			if (!i)
				return false;
		} else {
			i++;
		}
	}
	return true;
}

/* ---- compile (patternmatcher's Pattern.compile) ---- */

static int compile(struct pattern *pt)
{
	const char *p = pt->text;
	size_t len = strlen(p), n = 0, w;
	enum match_type type = M_EXACT;
	uint32_t r;

	pt->toks = calloc(len + 1, sizeof(*pt->toks));
	if (!pt->toks)
		return -ST_ENOMEM;
	for (size_t i = 0, k = 0; i < len; k++) {
		struct tok *t = &pt->toks[n++];
		if (p[i] == '*' && i + 1 < len && p[i + 1] == '*') {
			i += 2;
			if (i < len && p[i] == '/')
				i++;
			if (i >= len) {
				t->kind = T_DSTAR_END;
				type = type == M_EXACT ? M_PREFIX : M_REGEXP;
			} else {
				t->kind = T_DSTAR_DIR;
				type = M_REGEXP;
			}
			if (k == 0)
				type = M_SUFFIX;
		} else if (p[i] == '*' || p[i] == '?') {
			t->kind = p[i++] == '*' ? T_STAR : T_ANY;
			type = M_REGEXP;
		} else if (p[i] == '\\' && i + 1 < len) {
			w = df_utf8_decode(p + i + 1, len - i - 1, &r);
			*t = (struct tok){T_LIT, r, NULL, 0};
			i += 1 + w;
			type = M_REGEXP;
		} else if (p[i] == '[') {
			size_t end = check_class(p, len, i + 1);
			*t = (struct tok){T_CLASS, 0, p + i + 1, end - i - 2};
			i = end;
			type = M_REGEXP;
		} else {
			w = df_utf8_decode(p + i, len - i, &r);
			*t = (struct tok){T_LIT, r, NULL, 0};
			i += w;
		}
	}
	pt->n_toks = n;
	pt->type = type;
	return 0;
}

/* ---- matching ---- */

static bool class_match(const struct tok *t, uint32_t c)
{
	const char *p = t->cls;
	size_t len = t->cls_len, i = 0, w;
	bool neg = false, hit = false;
	uint32_t lo, hi;

	if (i < len && p[i] == '^') {
		neg = true;
		i++;
	}
	while (i < len) {
		if (p[i] == '\\')
			i++;
		w = df_utf8_decode(p + i, len - i, &lo);
		i += w;
		hi = lo;
		if (i < len && p[i] == '-') {
			i++;
			if (p[i] == '\\')
				i++;
			w = df_utf8_decode(p + i, len - i, &hi);
			i += w;
		}
		hit |= lo <= c && c <= hi;
	}
	return hit != neg;
}

struct mstate {
	const struct pattern *pt;
	const char *s;
	size_t len;
	unsigned char *failed; /* (tok, byte offset) pairs known not to match */
};

static bool memo(struct mstate *m, size_t ti, size_t i, bool set)
{
	size_t bit = ti * (m->len + 1) + i;

	if (set)
		m->failed[bit / 8] |= (unsigned char)(1u << (bit % 8));
	return m->failed[bit / 8] & (1u << (bit % 8));
}

static bool match_from(struct mstate *m, size_t ti, size_t i)
{
	const struct tok *t;
	uint32_t r;
	size_t w, j;
	bool ok = false;

	if (ti == m->pt->n_toks)
		return i == m->len;
	if (memo(m, ti, i, false))
		return false;
	t = &m->pt->toks[ti];
	w = i < m->len ? df_utf8_decode(m->s + i, m->len - i, &r) : 0;
	switch (t->kind) {
	case T_LIT:
		ok = w && r == t->r && match_from(m, ti + 1, i + w);
		break;
	case T_ANY:
		ok = w && r != '/' && match_from(m, ti + 1, i + w);
		break;
	case T_CLASS:
		ok = w && class_match(t, r) && match_from(m, ti + 1, i + w);
		break;
	case T_STAR: /* [^/]* */
		for (j = i;; j += w) {
			if (match_from(m, ti + 1, j)) {
				ok = true;
				break;
			}
			if (j >= m->len || m->s[j] == '/')
				break;
			w = df_utf8_decode(m->s + j, m->len - j, &r);
		}
		break;
	case T_DSTAR_DIR: /* the regexp (.*SLASH)? */
		ok = match_from(m, ti + 1, i);
		for (j = i; !ok && j < m->len && m->s[j] != '\n'; j++)
			if (m->s[j] == '/' && match_from(m, ti + 1, j + 1))
				ok = true;
		break;
	case T_DSTAR_END: /* .* */
		ok = !memchr(m->s + i, '\n', m->len - i) && ti + 1 == m->pt->n_toks;
		break;
	}
	if (!ok)
		(void)memo(m, ti, i, true);
	return ok;
}

static bool pattern_match(const struct pattern *pt, const char *s, size_t len)
{
	const char *text = pt->text;
	size_t tl = strlen(text);
	struct mstate m = {pt, s, len, NULL};
	bool ok;

	switch (pt->type) {
	case M_EXACT:
		return tl == len && memcmp(text, s, len) == 0;
	case M_PREFIX:
		return len >= tl - 2 && memcmp(s, text, tl - 2) == 0;
	case M_SUFFIX:
		text += 2;
		tl -= 2;
		if (len >= tl && memcmp(s + len - tl, text, tl) == 0)
			return true;
		return tl && text[0] == '/' && len == tl - 1 && memcmp(s, text + 1, len) == 0;
	case M_REGEXP:
		break;
	}
	m.failed = calloc(((pt->n_toks + 1) * (len + 1)) / 8 + 1, 1);
	if (!m.failed)
		return false; /* NEEDSWORK: allocation failure reads as "no match" */
	ok = match_from(&m, 0, 0);
	free(m.failed);
	return ok;
}

/* ---- construction ---- */

void st_dockerignore_free(struct st_dockerignore *di)
{
	if (!di)
		return;
	for (size_t i = 0; i < di->n; i++) {
		free(di->pats[i].text);
		free(di->pats[i].toks);
	}
	free(di->pats);
	free(di);
}

static int add_pattern(struct st_dockerignore *di, const char *p, size_t len, int line,
                       const char *name, struct st_error *err)
{
	struct st_str s = df_trim_space((struct st_str){p, len});
	struct pattern *pt;
	char *c;

	if (!s.len)
		return 0;
	if (di->n >= ST_DOCKERIGNORE_MAX_PATTERNS)
		return st_error_set(err, ST_ELIMIT, "%s: more than %d patterns", name,
		                    ST_DOCKERIGNORE_MAX_PATTERNS);
	c = clean_path(s.p, s.len);
	if (!c)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	pt = &di->pats[di->n];
	memset(pt, 0, sizeof(*pt));
	if (c[0] == '!') {
		if (!c[1]) {
			free(c);
			return df_error_at(err, ST_EINVALID, name, line,
			                   "illegal exclusion pattern: \"!\"");
		}
		memmove(c, c + 1, strlen(c));
		pt->exclusion = true;
		di->exclusions = true;
	}
	pt->text = c;
	if (!valid_glob(c, strlen(c))) {
		int rc = df_error_at(err, ST_EINVALID, name, line, "syntax error in pattern \"%s\"",
		                     c);
		free(c);
		return rc;
	}
	if (compile(pt) < 0) {
		free(c);
		return st_error_set(err, ST_ENOMEM, "out of memory");
	}
	di->n++;
	return 0;
}

int st_dockerignore_new(const char *const *patterns, size_t n, struct st_dockerignore **out,
                        struct st_error *err)
{
	struct st_dockerignore *di = calloc(1, sizeof(*di));
	int rc = 0;

	if (di)
		di->pats = calloc(n ? n : 1, sizeof(*di->pats));
	if (!di || !di->pats) {
		st_dockerignore_free(di);
		return st_error_set(err, ST_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = add_pattern(di, patterns[i], strlen(patterns[i]), (int)i + 1, "patterns", err);
	if (rc < 0) {
		st_dockerignore_free(di);
		return rc;
	}
	*out = di;
	return 0;
}

/* ignorefile.ReadAll: one line to one pattern, "/" and "./" prefixes made relative. */
static int read_line(struct st_buf *b, struct st_str line, int lineno)
{
	struct st_str s;
	bool invert;
	char *c;
	int rc;

	if (lineno == 1 && line.len >= 3 && memcmp(line.p, "\xEF\xBB\xBF", 3) == 0)
		line.p += 3, line.len -= 3;
	if (line.len && line.p[0] == '#')
		return 0;
	s = df_trim_space(line);
	if (!s.len)
		return 0;
	invert = s.p[0] == '!';
	if (invert)
		s = df_trim_space((struct st_str){s.p + 1, s.len - 1});
	st_buf_reset(b);
	if (invert && st_buf_addch(b, '!', NULL) < 0)
		return -ST_ENOMEM;
	if (s.len) {
		c = clean_path(s.p, s.len);
		if (!c)
			return -ST_ENOMEM;
		rc = st_buf_adds(b, c[0] == '/' && c[1] ? c + 1 : c, NULL);
		free(c);
		if (rc < 0)
			return rc;
	}
	return 1;
}

int st_dockerignore_parse(const char *data, size_t len, const char *name,
                          struct st_dockerignore **out, struct st_error *err)
{
	cleanup_buf struct st_buf b = ST_BUF_INIT;
	struct st_dockerignore *di = calloc(1, sizeof(*di));
	size_t pos = 0, lines = 1, cap;
	int lineno = 0, rc = 0;

	if (!name)
		name = ".dockerignore";
	for (size_t i = 0; i < len; i++)
		lines += data[i] == '\n';
	cap = lines < ST_DOCKERIGNORE_MAX_PATTERNS ? lines : ST_DOCKERIGNORE_MAX_PATTERNS;
	if (di)
		di->pats = calloc(cap + 1, sizeof(*di->pats));
	if (!di || !di->pats) {
		st_dockerignore_free(di);
		return st_error_set(err, ST_ENOMEM, "out of memory");
	}
	while (pos < len && rc == 0) {
		const char *nl = memchr(data + pos, '\n', len - pos);
		struct st_str line = {data + pos, nl ? (size_t)(nl - data - pos) : len - pos};
		pos += line.len + (nl ? 1 : 0);
		if (line.len && line.p[line.len - 1] == '\r')
			line.len--;
		rc = read_line(&b, line, ++lineno);
		if (rc == 1)
			rc = add_pattern(di, b.data, b.len, lineno, name, err);
		else if (rc < 0)
			rc = st_error_set(err, ST_ENOMEM, "out of memory");
	}
	if (rc < 0) {
		st_dockerignore_free(di);
		return rc;
	}
	*out = di;
	return 0;
}

size_t st_dockerignore_count(const struct st_dockerignore *di)
{
	return di ? di->n : 0;
}

/* MatchesOrParentMatches */
bool st_dockerignore_match(const struct st_dockerignore *di, const char *path)
{
	cleanup_free char *file = clean_path(path, strlen(path));
	bool matched = false, m;
	size_t len;

	if (!di || !file || strcmp(file, ".") == 0)
		return false;
	len = strlen(file);
	for (size_t i = 0; i < di->n; i++) {
		const struct pattern *pt = &di->pats[i];
		if (pt->exclusion != matched)
			continue;
		m = pattern_match(pt, file, len);
		for (size_t k = 0; !m && k < len; k++)
			if (file[k] == '/')
				m = pattern_match(pt, file, k);
		if (m)
			matched = !pt->exclusion;
	}
	return matched;
}

/* Could exception pt match a path strictly below dir? Conservative: true when unsure. */
static bool may_match_below(const struct pattern *pt, const char *dir)
{
	const char *p = pt->text, *d = dir;

	for (;;) {
		const char *pe = strchr(p, '/'), *de = strchr(d, '/');
		size_t pl = pe ? (size_t)(pe - p) : strlen(p),
		       dl = de ? (size_t)(de - d) : strlen(d);
		struct pattern comp = {0};
		cleanup_free char *ctext = st_strndup(p, pl);
		bool ok;

		if (!ctext || strstr(ctext, "**"))
			return true;
		comp.text = ctext;
		if (compile(&comp) < 0)
			return true;
		ok = pattern_match(&comp, d, dl);
		free(comp.toks);
		if (!ok)
			return false;
		if (!de)
			return pe != NULL; /* dir consumed: the pattern must go deeper */
		if (!pe)
			return false;
		p = pe + 1;
		d = de + 1;
	}
}

bool st_dockerignore_may_include_below(const struct st_dockerignore *di, const char *dir)
{
	cleanup_free char *d = clean_path(dir, strlen(dir));

	if (!di || !d)
		return true;
	for (size_t i = 0; i < di->n; i++)
		if (di->pats[i].exclusion && may_match_below(&di->pats[i], d))
			return true;
	return false;
}

int st_dockerignore_locate(const char *context_dir, const char *dockerfile_path, char **out,
                           struct st_error *err)
{
	cleanup_buf struct st_buf b = ST_BUF_INIT;
	struct stat st;
	int rc;

	*out = NULL;
	if (dockerfile_path) {
		rc = st_buf_addf(&b, err, "%s.dockerignore", dockerfile_path);
		if (rc < 0)
			return rc;
		if (stat(b.data, &st) == 0 && S_ISREG(st.st_mode)) {
			*out = st_buf_detach(&b, NULL);
			return *out ? 0 : st_error_set(err, ST_ENOMEM, "out of memory");
		}
		st_buf_reset(&b);
	}
	rc = st_buf_addf(&b, err, "%s/.dockerignore", context_dir);
	if (rc < 0)
		return rc;
	if (stat(b.data, &st) == 0 && S_ISREG(st.st_mode)) {
		*out = st_buf_detach(&b, NULL);
		return *out ? 0 : st_error_set(err, ST_ENOMEM, "out of memory");
	}
	if (errno != ENOENT && errno != ENOTDIR)
		return st_error_sys(err, "stat '%s'", b.data);
	return 0;
}

/* ---- walker ---- */

struct level {
	const struct level *parent;
	const char *rel;
	bool emitted;
};

struct walk {
	const struct st_dockerignore *di;
	st_dockerignore_walk_fn fn;
	void *ctx;
	struct st_error *err;
};

/* Reports the excluded ancestors of an entry an exception re-included, outermost first. */
static int emit_ancestors(struct walk *w, struct level *lv)
{
	int rc;

	if (!lv || lv->emitted || !lv->rel[0])
		return 0;
	rc = emit_ancestors(w, (struct level *)lv->parent);
	if (rc == 0)
		rc = w->fn(w->ctx, lv->rel, true, w->err);
	lv->emitted = true;
	return rc;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int walk_dir(struct walk *w, int fd, struct level *lv, int depth);

static int walk_entry(struct walk *w, int dirfd, struct level *lv, const char *name, int depth)
{
	cleanup_buf struct st_buf rel = ST_BUF_INIT;
	struct stat st;
	bool excluded, is_dir;
	struct level child;
	int rc, fd;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return st_error_sys(w->err, "stat '%s/%s'", lv->rel, name);
	is_dir = S_ISDIR(st.st_mode);
	rc = lv->rel[0] ? st_buf_addf(&rel, w->err, "%s/%s", lv->rel, name)
	                : st_buf_adds(&rel, name, w->err);
	if (rc < 0)
		return rc;
	excluded = st_dockerignore_match(w->di, rel.data);
	if (!excluded) {
		rc = emit_ancestors(w, lv);
		if (rc == 0)
			rc = w->fn(w->ctx, rel.data, is_dir, w->err);
		if (rc != 0)
			return rc;
	}
	if (!is_dir || (excluded && !st_dockerignore_may_include_below(w->di, rel.data)))
		return 0;
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return st_error_sys(w->err, "open '%s'", rel.data);
	child = (struct level){lv, rel.data, !excluded};
	return walk_dir(w, fd, &child, depth + 1);
}

static int walk_dir(struct walk *w, int fd, struct level *lv, int depth)
{
	cleanup_dir DIR *d = fdopendir(fd);
	char **names = NULL, **nn;
	size_t n = 0, cap = 0;
	struct dirent *e;
	int rc = 0;

	if (!d) {
		(void)close(fd);
		return st_error_sys(w->err, "opendir '%s'", lv->rel[0] ? lv->rel : ".");
	}
	if (depth > WALK_MAX_DEPTH)
		return st_error_set(w->err, ST_ELIMIT, "'%s': directories nested deeper than %d",
		                    lv->rel, WALK_MAX_DEPTH);
	while (rc == 0 && (e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			nn = realloc(names, cap * sizeof(*nn));
			if (!nn)
				rc = st_error_set(w->err, ST_ENOMEM, "out of memory");
			else
				names = nn;
		}
		if (rc == 0 && !(names[n++] = strdup(e->d_name)))
			rc = st_error_set(w->err, ST_ENOMEM, "out of memory");
	}
	if (rc == 0 && n)
		qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = walk_entry(w, dirfd(d), lv, names[i], depth);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

int st_dockerignore_walk(const struct st_dockerignore *di, const char *root,
                         st_dockerignore_walk_fn fn, void *ctx, struct st_error *err)
{
	struct walk w = {di, fn, ctx, err};
	struct level top = {NULL, "", true};
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return st_error_sys(err, "open '%s'", root);
	return walk_dir(&w, fd, &top, 0);
}
