/* dockerfile-parse.c: the Dockerfile scanner (BuildKit's parser.Parse): physical lines, parser
 * directives, comments, line continuation with the escape character (across comment and blank
 * lines, and at end of file), heredoc bodies, and the line ranges of each instruction. */
#include <stdlib.h>
#include <string.h>

#include "build/dockerfile-internal.h"
#include "util/cleanup.h"

#include "util/banned.h"

struct scan {
	const char *data;
	size_t len, pos;
	int line; /* lines consumed so far */
};

/* scanLines: the next line with its '\n' (the last one may lack it). */
static bool next_line(struct scan *sc, struct st_str *out)
{
	const char *nl;

	if (sc->pos >= sc->len)
		return false;
	nl = memchr(sc->data + sc->pos, '\n', sc->len - sc->pos);
	out->p = sc->data + sc->pos;
	out->len = nl ? (size_t)(nl - out->p) + 1 : sc->len - sc->pos;
	sc->pos += out->len;
	return true;
}

static struct st_str trim_newline(struct st_str s)
{
	while (s.len && (s.p[s.len - 1] == '\n' || s.p[s.len - 1] == '\r'))
		s.len--;
	return s;
}

static bool is_comment(struct st_str s)
{
	s = df_trim_left_space(s);
	return s.len && s.p[0] == '#';
}

/* RE2's \s */
static bool re_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

struct directives {
	bool done, seen[3];
	char escape;
};

static const char *const directive_names[] = {"syntax", "escape", "check"};

/* ^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$ */
static bool match_directive(struct st_str s, struct st_str *key, struct st_str *val)
{
	size_t i = 1, end;

	if (!s.len || s.p[0] != '#')
		return false;
	while (i < s.len && re_space(s.p[i]))
		i++;
	if (i >= s.len || !is_alpha(s.p[i]))
		return false;
	key->p = s.p + i;
	while (i < s.len && (is_alpha(s.p[i]) || (s.p[i] >= '0' && s.p[i] <= '9')))
		i++;
	key->len = (size_t)(s.p + i - key->p);
	while (i < s.len && re_space(s.p[i]))
		i++;
	if (i >= s.len || s.p[i] != '=')
		return false;
	i++;
	if (i >= s.len)
		return false;
	end = s.len;
	while (end > i && re_space(s.p[end - 1]))
		end--;
	if (end == i) {
		/* only white space: the lazy group still takes its last character */
		*val = (struct st_str){s.p + s.len - 1, 1};
		return true;
	}
	while (i < end && re_space(s.p[i]))
		i++;
	*val = (struct st_str){s.p + i, end - i};
	return true;
}

struct parser {
	struct df_ctx cx;
	struct st_dockerfile *df;
	struct scan sc;
	struct directives dir;
	struct df_vec comments;
	struct st_df_instr *instrs;
	size_t n_instrs, cap_instrs;
	struct st_df_directive dirs[3];
	size_t n_dirs;
	struct st_df_warning *warns;
	size_t n_warns, cap_warns;
};

static int nomem(struct st_error *err)
{
	return st_error_set(err, ST_ENOMEM, "out of memory parsing a Dockerfile");
}

/* possibleParserDirective; returns 1 when the line was a directive. */
static int directive(struct parser *ps, struct st_str line, int lineno, struct st_error *err)
{
	struct st_str key, val;
	size_t k;

	if (ps->dir.done)
		return 0;
	if (!match_directive(line, &key, &val)) {
		ps->dir.done = true;
		return 0;
	}
	for (k = 0; k < 3; k++)
		if (strlen(directive_names[k]) == key.len &&
		    strncasecmp(directive_names[k], key.p, key.len) == 0)
			break;
	if (k == 3) {
		ps->dir.done = true;
		return 0;
	}
	if (ps->dir.seen[k])
		return df_error_at(err, ST_EINVALID, ps->cx.name, lineno,
		                   "only one %s parser directive can be used", directive_names[k]);
	ps->dir.seen[k] = true;
	if (k == 1) {
		if (val.len != 1 || (val.p[0] != '`' && val.p[0] != '\\'))
			return df_error_at(err, ST_EINVALID, ps->cx.name, lineno,
			                   "invalid escape token '%.*s' does not match ` or \\",
			                   (int)(val.len > 64 ? 64 : val.len), val.p);
		ps->dir.escape = val.p[0];
		ps->cx.escape = val.p[0];
	}
	ps->dirs[ps->n_dirs].name = directive_names[k];
	ps->dirs[ps->n_dirs].value = df_arena_strndup(ps->cx.arena, val.p, val.len);
	ps->dirs[ps->n_dirs++].line = lineno;
	return ps->dirs[ps->n_dirs - 1].value ? 1 : nomem(err);
}

/* trimContinuationCharacter: ([^e])e[ \t]*$ or ^e[ \t]*$ */
static bool trim_continuation(struct st_str *s, char e)
{
	size_t q = s->len;

	while (q && (s->p[q - 1] == ' ' || s->p[q - 1] == '\t'))
		q--;
	if (!q || s->p[q - 1] != e)
		return false;
	if (q == 1) {
		s->len = 0;
		return true;
	}
	if (s->p[q - 2] == e)
		return false;
	s->len = q - 1;
	return true;
}

static int check_physical(struct parser *ps, struct st_str line, int lineno, struct st_error *err)
{
	if (trim_newline(line).len > ST_DF_MAX_LINE)
		return df_error_at(err, ST_ELIMIT, ps->cx.name, lineno,
		                   "line longer than %u bytes (BuildKit's limit)", ST_DF_MAX_LINE);
	if (memchr(line.p, '\0', line.len))
		return df_error_at(err, ST_EINVALID, ps->cx.name, lineno,
		                   "NUL byte in the Dockerfile");
	return 0;
}

static int add_warning(struct parser *ps, const char *text, size_t len, int lineno,
                       struct st_error *err)
{
	struct st_df_warning *nw;
	cleanup_buf struct st_buf b = ST_BUF_INIT;

	if (ps->n_warns == ps->cap_warns) {
		size_t ncap = ps->cap_warns ? ps->cap_warns * 2 : 4;
		nw = realloc(ps->warns, ncap * sizeof(*nw));
		if (!nw)
			return nomem(err);
		ps->warns = nw;
		ps->cap_warns = ncap;
	}
	if (st_buf_addf(&b, err, "Empty continuation line found in: %.*s",
	                (int)(len > 200 ? 200 : len), text) < 0)
		return -ST_ENOMEM;
	ps->warns[ps->n_warns].msg = df_arena_strndup(ps->cx.arena, b.data, b.len);
	ps->warns[ps->n_warns++].line = lineno;
	return ps->warns[ps->n_warns - 1].msg ? 0 : nomem(err);
}

/* Appends continuation lines to *logical until one does not end with the escape character. */
static int read_continuation(struct parser *ps, struct st_buf *logical, bool *eol,
                             struct st_error *err)
{
	struct st_str raw, s;
	bool empty_seen = false;
	int rc;

	while (!*eol && next_line(&ps->sc, &raw)) {
		rc = check_physical(ps, raw, ps->sc.line + 1, err);
		if (rc < 0)
			return rc;
		s = trim_newline(raw);
		rc = directive(ps, s, ps->sc.line + 1, err);
		if (rc < 0)
			return rc;
		ps->sc.line++;
		if (is_comment(raw))
			continue;
		if (df_trim_left_space(s).len == 0) {
			empty_seen = true;
			continue;
		}
		*eol = !trim_continuation(&s, ps->cx.escape);
		rc = st_buf_add(logical, s.p, s.len, err);
		if (rc == -ST_ELIMIT)
			return df_error_at(err, ST_ELIMIT, ps->cx.name, ps->sc.line,
			                   "instruction longer than %u bytes", ST_DF_MAX_LOGICAL);
		if (rc < 0)
			return rc;
	}
	return empty_seen ? add_warning(ps, logical->data, logical->len, ps->sc.line, err) : 0;
}

static bool can_contain_heredoc(const struct st_df_instr *in)
{
	if (in->cmd == ST_DF_ONBUILD && in->sub)
		in = in->sub;
	return (in->cmd == ST_DF_ADD || in->cmd == ST_DF_COPY || in->cmd == ST_DF_RUN) && !in->json;
}

static int read_heredocs(struct parser *ps, struct st_df_instr *in, int start, struct st_error *err)
{
	cleanup_buf struct st_buf body = ST_BUF_INIT;
	struct st_df_heredoc *hs;
	struct st_str raw, t;
	size_t n;
	int rc = df_heredocs_from_line(&ps->cx, in->original, strlen(in->original), &hs, &n, err);

	st_buf_init(&body, ST_DF_MAX_FILE);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		bool done = false;
		st_buf_reset(&body);
		while (!done && next_line(&ps->sc, &raw)) {
			ps->sc.line++;
			t = trim_newline(raw);
			if (hs[i].chomp)
				while (t.len && t.p[0] == '\t')
					t.p++, t.len--;
			done = t.len == strlen(hs[i].name) && memcmp(t.p, hs[i].name, t.len) == 0;
			if (!done && memchr(raw.p, '\0', raw.len))
				return df_error_at(err, ST_EINVALID, ps->cx.name, ps->sc.line,
				                   "NUL byte in the Dockerfile");
			if (!done && st_buf_add(&body, raw.p, raw.len, err) < 0)
				return -ST_ENOMEM;
		}
		if (!done)
			return df_error_at(err, ST_EINVALID, ps->cx.name, start,
			                   "unterminated heredoc <<%s%s started here",
			                   hs[i].chomp ? "-" : "", hs[i].name);
		hs[i].content = df_arena_strndup(ps->cx.arena, body.data, body.len);
		if (!hs[i].content)
			return nomem(err);
	}
	if (rc == 0) {
		in->heredocs = hs;
		in->n_heredocs = n;
	}
	return rc;
}

static int push_instr(struct parser *ps, const struct st_df_instr *in, struct st_error *err)
{
	struct st_df_instr *ni;

	if (ps->n_instrs == ps->cap_instrs) {
		size_t ncap = ps->cap_instrs ? ps->cap_instrs * 2 : 64;
		ni = realloc(ps->instrs, ncap * sizeof(*ni));
		if (!ni)
			return nomem(err);
		ps->instrs = ni;
		ps->cap_instrs = ncap;
	}
	ps->instrs[ps->n_instrs++] = *in;
	return 0;
}

/* One instruction starting at the first line `first` (already trimmed and directive-checked). */
static int parse_instruction(struct parser *ps, struct st_str first, bool eol,
                             struct st_buf *logical, struct st_error *err)
{
	struct st_df_instr in;
	int start = ps->sc.line, rc;

	memset(&in, 0, sizeof(in));
	st_buf_reset(logical);
	rc = st_buf_add(logical, first.p, first.len, err);
	if (rc == 0)
		rc = read_continuation(ps, logical, &eol, err);
	if (rc < 0)
		return rc;
	ps->cx.line = start;
	rc = df_instr_from_line(&ps->cx, logical->data, logical->len, &in, err);
	if (rc < 0)
		return rc;
	if (can_contain_heredoc(&in) && strstr(logical->data, "<<")) {
		rc = read_heredocs(ps, &in, start, err);
		if (rc < 0)
			return rc;
	}
	in.start_line = start;
	in.end_line = ps->sc.line;
	rc = df_vec_finish(&ps->comments, ps->cx.arena, &in.comments, NULL, &in.n_comments, err);
	return rc < 0 ? rc : push_instr(ps, &in, err);
}

static int note_comment(struct parser *ps, struct st_str raw, struct st_error *err)
{
	struct st_str c;

	if (!is_comment(raw))
		return 0;
	/* BuildKit trims from the second byte of the untrimmed line */
	c = df_trim_space((struct st_str){raw.p + 1, raw.len - 1});
	if (!c.len) {
		ps->comments.n = 0;
		return 0;
	}
	return df_vec_push(&ps->comments, df_arena_strndup(ps->cx.arena, c.p, c.len), err);
}

static int parse_lines(struct parser *ps, struct st_error *err)
{
	cleanup_buf struct st_buf logical = ST_BUF_INIT;
	struct st_str raw, s;
	bool eol;
	int rc;

	st_buf_init(&logical, ST_DF_MAX_LOGICAL);
	while (next_line(&ps->sc, &raw)) {
		rc = check_physical(ps, raw, ps->sc.line + 1, err);
		if (rc == 0 && ps->sc.line == 0 && raw.len >= 3 &&
		    memcmp(raw.p, "\xEF\xBB\xBF", 3) == 0)
			raw.p += 3, raw.len -= 3;
		if (rc == 0)
			rc = note_comment(ps, raw, err);
		s = df_trim_left_space(trim_newline(raw));
		if (rc == 0)
			rc = directive(ps, s, ps->sc.line + 1, err);
		if (rc < 0)
			return rc;
		if (rc == 1 && ps->comments.n)
			ps->comments.n--; /* a directive is not a comment */
		ps->sc.line++;
		if (is_comment(s))
			s.len = 0;
		eol = !trim_continuation(&s, ps->cx.escape);
		if (eol && s.len == 0)
			continue;
		rc = parse_instruction(ps, s, eol, &logical, err);
		if (rc < 0)
			return rc;
	}
	if (!ps->n_instrs)
		return df_error_at(err, ST_EINVALID, ps->cx.name, 0, "file with no instructions");
	return 0;
}

static int finish(struct parser *ps, struct st_dockerfile *df, struct st_error *err)
{
	struct st_df_instr *in = NULL;
	struct st_df_directive *d = NULL;
	struct st_df_warning *w = NULL;

	if (ps->n_instrs && !(in = df_arena_alloc(ps->cx.arena, ps->n_instrs * sizeof(*in))))
		return nomem(err);
	if (ps->n_dirs && !(d = df_arena_alloc(ps->cx.arena, ps->n_dirs * sizeof(*d))))
		return nomem(err);
	if (ps->n_warns && !(w = df_arena_alloc(ps->cx.arena, ps->n_warns * sizeof(*w))))
		return nomem(err);
	if (in)
		memcpy(in, ps->instrs, ps->n_instrs * sizeof(*in));
	if (d)
		memcpy(d, ps->dirs, ps->n_dirs * sizeof(*d));
	if (w)
		memcpy(w, ps->warns, ps->n_warns * sizeof(*w));
	df->instrs = in;
	df->n_instrs = ps->n_instrs;
	df->directives = d;
	df->n_directives = ps->n_dirs;
	df->warnings = w;
	df->n_warnings = ps->n_warns;
	df->escape = ps->cx.escape;
	return 0;
}

int st_dockerfile_parse(const char *data, size_t len, const char *name, unsigned flags,
                        struct st_dockerfile **out, struct st_error *err)
{
	struct parser ps;
	struct st_dockerfile *df;
	int rc;

	if (!name)
		name = "Dockerfile";
	if (len > ST_DF_MAX_FILE)
		return df_error_at(err, ST_ELIMIT, name, 0, "larger than %u bytes", ST_DF_MAX_FILE);
	df = calloc(1, sizeof(*df));
	if (!df)
		return nomem(err);
	memset(&ps, 0, sizeof(ps));
	df->arena = df_arena_new();
	df->name = df->arena ? df_arena_strndup(df->arena, name, strlen(name)) : NULL;
	if (!df->name) {
		st_dockerfile_free(df);
		return nomem(err);
	}
	ps.cx = (struct df_ctx){df->arena, '\\', flags, 0, 0, df->name};
	ps.sc = (struct scan){data ? data : "", data ? len : 0, 0, 0};
	ps.dir.escape = '\\';
	ps.df = df;
	rc = parse_lines(&ps, err);
	if (rc == 0)
		rc = finish(&ps, df, err);
	free(ps.instrs);
	free(ps.warns);
	df_vec_release(&ps.comments);
	if (rc < 0) {
		st_dockerfile_free(df);
		return rc;
	}
	*out = df;
	return 0;
}

void st_dockerfile_free(struct st_dockerfile *df)
{
	if (!df)
		return;
	df_arena_free(df->arena);
	free(df);
}
