/* dockerfile-args.c: BuildKit's per-instruction line parsers (parser/line_parsers.go and
 * split_command.go): keyword and flags, shell form vs JSON form with the fallback when the JSON is
 * not valid, ENV/LABEL name-value pairs, ARG words, HEALTHCHECK, ONBUILD, and the heredoc
 * openers of a line. */
#include <stdlib.h>
#include <string.h>

#include "build/dockerfile-internal.h"
#include "util/cleanup.h"

#include "util/banned.h"

static int nomem(struct st_error *err)
{
	return st_error_set(err, ST_ENOMEM, "out of memory parsing a Dockerfile");
}

static int push_copy(struct df_ctx *cx, struct df_vec *v, const char *s, size_t len,
                     struct st_error *err)
{
	const char *p = df_arena_strndup(cx->arena, s, len);

	return p ? df_vec_pushn(v, p, len, err) : nomem(err);
}

/* ---- flags (extractBuilderFlags) ---- */

/* Go reads flag text byte by byte into runes, so a byte >= 0x80 becomes U+0080..U+00FF and
 * 0x85 and 0xA0 count as white space. Kept for fidelity. */
static bool latin1_space(unsigned char c)
{
	return df_go_isspace(c);
}

static int flag_add_byte(struct st_buf *w, unsigned char c, struct st_error *err)
{
	return df_buf_add_rune(w, c, err);
}

enum { IN_SPACES, IN_WORD, IN_QUOTE };

static int flag_word_end(struct df_ctx *cx, struct df_vec *flags, struct st_buf *w, bool blank_ok,
                         struct st_error *err)
{
	if (blank_ok || w->len)
		return push_copy(cx, flags, w->data, w->len, err);
	return 0;
}

/* Splits leading "--flag" words off s; *rest is what follows them. */
static int extract_flags(struct df_ctx *cx, struct st_str s, struct st_str *rest,
                         struct df_vec *flags, struct st_error *err)
{
	cleanup_buf struct st_buf w = ST_BUF_INIT;
	const unsigned char *p = (const unsigned char *)s.p;
	int phase = IN_SPACES, rc = 0;
	unsigned char quote = 0, ch = 0;
	bool blank_ok = false;

	*rest = (struct st_str){s.p + s.len, 0};
	for (size_t pos = 0; pos <= s.len && rc == 0; pos++) {
		if (pos != s.len)
			ch = p[pos];
		if (phase == IN_SPACES) {
			if (pos == s.len)
				break;
			if (latin1_space(ch))
				continue;
			if (ch != '-' || pos + 1 == s.len || p[pos + 1] != '-') {
				*rest = (struct st_str){s.p + pos, s.len - pos};
				return 0;
			}
			phase = IN_WORD;
		}
		if (pos == s.len) {
			if (!(w.len == 2 && memcmp(w.data, "--", 2) == 0))
				rc = flag_word_end(cx, flags, &w, blank_ok, err);
			break;
		}
		if (phase == IN_WORD) {
			if (latin1_space(ch)) {
				phase = IN_SPACES;
				if (w.len == 2 && memcmp(w.data, "--", 2) == 0) {
					*rest = (struct st_str){s.p + pos, s.len - pos};
					return 0;
				}
				rc = flag_word_end(cx, flags, &w, blank_ok, err);
				st_buf_reset(&w);
				blank_ok = false;
				continue;
			}
			if (ch == '\'' || ch == '"') {
				quote = ch;
				blank_ok = true;
				phase = IN_QUOTE;
				continue;
			}
			if (ch == '\\') {
				if (pos + 1 == s.len)
					continue;
				ch = p[++pos];
			}
			rc = flag_add_byte(&w, ch, err);
			continue;
		}
		if (ch == quote) {
			phase = IN_WORD;
			continue;
		}
		if (ch == '\\') {
			if (pos + 1 == s.len) {
				phase = IN_WORD;
				continue;
			}
			ch = p[++pos];
		}
		rc = flag_add_byte(&w, ch, err);
	}
	return rc;
}

/* ---- parseWords: quote-aware split that keeps quotes and escapes ---- */

static int parse_words(struct df_ctx *cx, struct st_str s, struct df_vec *out, struct st_error *err)
{
	cleanup_buf struct st_buf w = ST_BUF_INIT;
	int phase = IN_SPACES, rc = 0;
	uint32_t ch = 0, quote = 0;
	bool blank_ok = false;
	size_t pos = 0, cw = 0;

	for (pos = 0; pos <= s.len && rc == 0; pos += cw) {
		if (pos != s.len)
			cw = df_utf8_decode(s.p + pos, s.len - pos, &ch);
		if (phase == IN_SPACES) {
			if (pos == s.len)
				break;
			if (df_go_isspace(ch))
				continue;
			phase = IN_WORD;
		}
		if (pos == s.len) {
			if (blank_ok || w.len)
				rc = push_copy(cx, out, w.data, w.len, err);
			break;
		}
		if (phase == IN_WORD) {
			if (df_go_isspace(ch)) {
				phase = IN_SPACES;
				if (blank_ok || w.len)
					rc = push_copy(cx, out, w.data, w.len, err);
				st_buf_reset(&w);
				blank_ok = false;
				continue;
			}
			if (ch == '\'' || ch == '"') {
				quote = ch;
				blank_ok = true;
				phase = IN_QUOTE;
			}
			if (ch == (uint32_t)cx->escape) {
				if (pos + cw == s.len)
					continue; /* an escape at the end is dropped */
				rc = df_buf_add_rune(&w, ch, err);
				pos += cw;
				cw = df_utf8_decode(s.p + pos, s.len - pos, &ch);
			}
			if (rc == 0)
				rc = df_buf_add_rune(&w, ch, err);
			continue;
		}
		if (ch == quote)
			phase = IN_WORD;
		if (ch == (uint32_t)cx->escape && quote != '\'') {
			if (pos + cw == s.len) {
				phase = IN_WORD;
				continue;
			}
			pos += cw;
			rc = df_buf_add_rune(&w, ch, err);
			cw = df_utf8_decode(s.p + pos, s.len - pos, &ch);
		}
		if (rc == 0)
			rc = df_buf_add_rune(&w, ch, err);
	}
	return rc;
}

/* Returns JSON_OK (out filled, *json set), JSON_SYNTAX (out untouched) or an error. */
static int try_json(struct df_ctx *cx, struct st_str rest, struct df_node_out *out,
                    struct st_error *err)
{
	struct df_vec tmp = {0};
	int rc;

	rest = df_trim_left_space(rest);
	if (!rest.len || rest.p[0] != '[')
		return JSON_SYNTAX;
	rc = df_json_string_array(cx, rest, &tmp, err);
	for (size_t i = 0; rc == JSON_OK && i < tmp.n; i++)
		if (df_vec_pushn(&out->args, tmp.v[i], tmp.lens[i], err) < 0)
			rc = -ST_ENOMEM;
	if (rc == JSON_OK) {
		df_vec_release(&tmp);
		out->json = true;
		return JSON_OK;
	}
	df_vec_release(&tmp);
	if (rc == JSON_NOT_STRINGS)
		return df_error_at(err, ST_EINVALID, cx->name, cx->line,
		                   "when using JSON array syntax, arrays must be comprised of "
		                   "strings only");
	return rc;
}

/* ---- dispatch targets ---- */

static int split_ws(struct df_ctx *cx, struct st_str s, struct df_vec *out, struct st_error *err)
{
	size_t i = 0, start;
	int rc = 0;

	if (!s.len)
		return 0;
	while (rc == 0) {
		start = i;
		while (i < s.len && !df_is_ws_class(s.p[i]))
			i++;
		rc = push_copy(cx, out, s.p + start, i - start, err);
		if (i >= s.len)
			break;
		while (i < s.len && df_is_ws_class(s.p[i]))
			i++;
	}
	return rc;
}

static int parse_maybe_json(struct df_ctx *cx, struct st_str rest, struct df_node_out *out,
                            struct st_error *err)
{
	int rc;

	if (!rest.len)
		return 0;
	rc = try_json(cx, rest, out, err);
	if (rc != JSON_SYNTAX)
		return rc;
	return push_copy(cx, &out->args, rest.p, rest.len, err);
}

static int parse_maybe_json_list(struct df_ctx *cx, struct st_str rest, struct df_node_out *out,
                                 struct st_error *err)
{
	int rc = try_json(cx, rest, out, err);

	if (rc != JSON_SYNTAX)
		return rc;
	return split_ws(cx, rest, &out->args, err);
}

static const char *find_eq(const char *s)
{
	return strchr(s, '=');
}

static int parse_name_val(struct df_ctx *cx, struct st_str rest, const char *key,
                          struct df_node_out *out, struct st_error *err)
{
	struct df_vec words = {0};
	cleanup_buf struct st_buf q = ST_BUF_INIT;
	const char *eq;
	size_t i = 0;
	int rc = parse_words(cx, rest, &words, err);

	if (rc < 0 || words.n == 0)
		goto out;
	if (!find_eq(words.v[0])) {
		/* legacy "KEY name value": split the raw text once */
		while (i < rest.len && !df_is_ws_class(rest.p[i]))
			i++;
		if (i == rest.len) {
			rc = df_error_at(err, ST_EINVALID, cx->name, cx->line,
			                 "%s must have two arguments", key);
			goto out;
		}
		rc = push_copy(cx, &out->args, rest.p, i, err);
		while (rc == 0 && i < rest.len && df_is_ws_class(rest.p[i]))
			i++;
		if (rc == 0)
			rc = push_copy(cx, &out->args, rest.p + i, rest.len - i, err);
		if (rc == 0)
			rc = push_copy(cx, &out->args, "", 0, err);
		goto out;
	}
	for (i = 0; i < words.n && rc == 0; i++) {
		eq = find_eq(words.v[i]);
		if (!eq) {
			(void)st_df_quote(words.v[i], strlen(words.v[i]), &q, NULL);
			rc = df_error_at(err, ST_EINVALID, cx->name, cx->line,
			                 "Syntax error - can't find = in %s. Must be of the form: "
			                 "name=value",
			                 q.data);
			break;
		}
		rc = push_copy(cx, &out->args, words.v[i], (size_t)(eq - words.v[i]), err);
		if (rc == 0)
			rc = df_vec_push(&out->args, eq + 1, err);
		if (rc == 0)
			rc = push_copy(cx, &out->args, "=", 1, err);
	}
out:
	df_vec_release(&words);
	return rc;
}

static int parse_health(struct df_ctx *cx, struct st_str rest, struct df_node_out *out,
                        struct st_error *err)
{
	const unsigned char *p = (const unsigned char *)rest.p;
	size_t sep = 0, nxt;
	int rc;

	while (sep < rest.len && !latin1_space(p[sep]))
		sep++;
	for (nxt = sep; nxt < rest.len && latin1_space(p[nxt]);)
		nxt++;
	if (sep == 0)
		return 0;
	rc = push_copy(cx, &out->args, rest.p, sep, err);
	if (rc < 0)
		return rc;
	return parse_maybe_json(cx, (struct st_str){rest.p + nxt, rest.len - nxt}, out, err);
}

static int parse_onbuild(struct df_ctx *cx, struct st_str rest, struct df_node_out *out,
                         struct st_error *err)
{
	struct st_df_instr *sub;
	int rc;

	if (!rest.len)
		return 0;
	if (cx->depth >= ST_DF_MAX_NESTING)
		return df_error_at(err, ST_ELIMIT, cx->name, cx->line,
		                   "ONBUILD nested deeper than %d levels", ST_DF_MAX_NESTING);
	sub = df_arena_alloc(cx->arena, sizeof(*sub));
	if (!sub)
		return nomem(err);
	cx->depth++;
	rc = df_instr_from_line(cx, rest.p, rest.len, sub, err);
	cx->depth--;
	if (rc < 0)
		return rc;
	out->sub = sub;
	return 0;
}

static int dispatch(struct df_ctx *cx, enum st_df_cmd cmd, struct st_str rest,
                    struct df_node_out *out, struct st_error *err)
{
	switch (cmd) {
	case ST_DF_ADD:
	case ST_DF_COPY:
	case ST_DF_VOLUME:
		return parse_maybe_json_list(cx, rest, out, err);
	case ST_DF_ARG:
		return parse_words(cx, rest, &out->args, err);
	case ST_DF_CMD:
	case ST_DF_ENTRYPOINT:
	case ST_DF_RUN:
	case ST_DF_SHELL:
		return parse_maybe_json(cx, rest, out, err);
	case ST_DF_ENV:
		return parse_name_val(cx, rest, "ENV", out, err);
	case ST_DF_LABEL:
		return parse_name_val(cx, rest, "LABEL", out, err);
	case ST_DF_EXPOSE:
	case ST_DF_FROM:
		return split_ws(cx, rest, &out->args, err);
	case ST_DF_HEALTHCHECK:
		return parse_health(cx, rest, out, err);
	case ST_DF_ONBUILD:
		return parse_onbuild(cx, rest, out, err);
	case ST_DF_MAINTAINER:
	case ST_DF_STOPSIGNAL:
	case ST_DF_USER:
	case ST_DF_WORKDIR:
		return rest.len ? push_copy(cx, &out->args, rest.p, rest.len, err) : 0;
	case ST_DF_UNKNOWN:
		/* parseIgnore: BuildKit keeps one empty argument */
		return push_copy(cx, &out->args, "", 0, err);
	}
	return 0;
}

static int unknown_instruction(struct df_ctx *cx, struct st_str kw, struct st_error *err)
{
	cleanup_buf struct st_buf q = ST_BUF_INIT;
	const char *hint = df_suggest_keyword(kw.p, kw.len);

	(void)st_df_quote(kw.p, kw.len > 100 ? 100 : kw.len, &q, NULL);
	if (hint)
		return df_error_at(err, ST_EINVALID, cx->name, cx->line,
		                   "unknown instruction %s (did you mean %s?)", q.data, hint);
	return df_error_at(err, ST_EINVALID, cx->name, cx->line, "unknown instruction %s", q.data);
}

int df_instr_from_line(struct df_ctx *cx, const char *line, size_t len, struct st_df_instr *out,
                       struct st_error *err)
{
	struct st_str s = df_trim_space((struct st_str){line, len}), kw, rest = {"", 0};
	struct df_node_out node = {{0}, false, NULL};
	struct df_vec flags = {0};
	size_t i = 0;
	int rc = 0;

	while (i < s.len && !df_is_ws_class(s.p[i]))
		i++;
	kw = (struct st_str){s.p, i};
	while (i < s.len && df_is_ws_class(s.p[i]))
		i++;
	if (i > kw.len)
		rc = extract_flags(cx, (struct st_str){s.p + i, s.len - i}, &rest, &flags, err);
	rest = df_trim_space(rest);
	out->cmd = st_df_cmd_lookup(kw.p, kw.len);
	if (rc == 0 && out->cmd == ST_DF_UNKNOWN && !(cx->flags & ST_DF_PARSE_ALLOW_UNKNOWN))
		rc = unknown_instruction(cx, kw, err);
	if (rc == 0)
		rc = dispatch(cx, out->cmd, rest, &node, err);
	out->keyword = df_arena_strndup(cx->arena, kw.p, kw.len);
	out->original = df_arena_strndup(cx->arena, line, len);
	if (rc == 0 && (!out->keyword || !out->original))
		rc = nomem(err);
	if (rc == 0)
		rc = df_vec_finish(&flags, cx->arena, &out->flags, NULL, &out->n_flags, err);
	if (rc == 0)
		rc = df_vec_finish(&node.args, cx->arena, &out->args, &out->arg_lens, &out->n_args,
		                   err);
	out->json = node.json;
	out->sub = node.sub;
	df_vec_release(&flags);
	df_vec_release(&node.args);
	return rc;
}

/* ---- heredocs ---- */

static size_t count_quotes(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\'' || *s == '"';
	return n;
}

/* heredocFromMatch: *found false when word is not a heredoc opener. */
static int heredoc_from_word(struct df_ctx *cx, const char *word, struct st_df_heredoc *h,
                             bool *found, struct st_error *err)
{
	struct st_shlex lx = {'\\', ST_SHLEX_SKIP_UNSET, NULL, NULL};
	struct st_strv plain = ST_STRV_INIT, raw = ST_STRV_INIT;
	const char *p = word, *rest;
	uint64_t fd = 0;
	bool overflow = false;
	int rc;

	*found = false;
	while (*p >= '0' && *p <= '9') {
		if (fd > (UINT64_MAX - 9) / 10)
			overflow = true;
		fd = fd * 10 + (uint64_t)(*p++ - '0');
	}
	if (p[0] != '<' || p[1] != '<')
		return 0;
	h->chomp = p[2] == '-';
	rest = p + 2 + h->chomp;
	if (!*rest || strchr(rest, '<'))
		return 0;
	rc = st_shlex_words(&lx, rest, strlen(rest), &plain, err);
	if (rc == 0 && plain.n == 1) {
		lx.flags |= ST_SHLEX_RAW_QUOTES;
		rc = st_shlex_words(&lx, rest, strlen(rest), &raw, err);
		if (rc == 0 && raw.n != plain.n)
			rc = df_error_at(err, ST_EINVALID, cx->name, cx->line,
			                 "internal lexing of heredoc produced inconsistent "
			                 "results: %s",
			                 rest);
		if (rc == 0) {
			h->name = df_arena_strndup(cx->arena, plain.v[0], strlen(plain.v[0]));
			h->expand = count_quotes(plain.v[0]) == count_quotes(raw.v[0]);
			/* strconv.ParseUint saturates on overflow, and BuildKit keeps the value */
			h->fd = overflow ? UINT64_MAX : fd;
			*found = true;
			rc = h->name ? 0 : nomem(err);
		}
	} else if (rc < 0) {
		rc = st_error_wrap(err, "%s:%d", cx->name, cx->line);
	}
	st_strv_release(&plain);
	st_strv_release(&raw);
	return rc;
}

int df_heredocs_from_line(struct df_ctx *cx, const char *line, size_t len,
                          struct st_df_heredoc **out, size_t *n, struct st_error *err)
{
	struct st_shlex lx = {
	        '\\', ST_SHLEX_RAW_QUOTES | ST_SHLEX_RAW_ESCAPES | ST_SHLEX_SKIP_UNSET, NULL, NULL};
	struct st_strv words = ST_STRV_INIT;
	struct st_df_heredoc *hs = NULL, h;
	size_t count = 0;
	bool found;
	int rc = 0;

	*out = NULL;
	*n = 0;
	/* BuildKit ignores a lexing failure here: the line simply has no heredocs */
	if (st_shlex_words(&lx, line, len, &words, NULL) < 0) {
		st_strv_release(&words);
		return 0;
	}
	for (size_t i = 0; i < words.n && rc == 0; i++) {
		memset(&h, 0, sizeof(h));
		rc = heredoc_from_word(cx, words.v[i], &h, &found, err);
		if (rc < 0 || !found)
			continue;
		if (!hs) {
			hs = df_arena_alloc(cx->arena, words.n * sizeof(*hs));
			if (!hs) {
				rc = nomem(err);
				break;
			}
		}
		hs[count++] = h;
	}
	st_strv_release(&words);
	if (rc == 0) {
		*out = hs;
		*n = count;
	}
	return rc;
}
