/* shell-lex.c: BuildKit's word expansion (frontend/dockerfile/shell/lex.go), rune for rune:
 * quotes, the escape character, $V and ${V...} with -, +, ?, #, %, / modifiers, and field
 * splitting. The Go original reads runes through text/scanner, so invalid UTF-8 becomes U+FFFD
 * and a leading BOM is dropped; this file does the same. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build/dockerfile-internal.h"
#include "util/cleanup.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

#define EOF_RUNE (-1)

struct sw {
	const struct st_shlex *lx;
	const char *s;
	size_t len, pos;
	bool raw_escapes;
	int depth;
	char msg[256]; /* the innermost failure, wrapped once at the top */
	enum st_errc code;
};

struct words {
	struct st_strv *out; /* NULL: the caller does not want fields */
	struct st_buf buf;
	bool in_word;
};

static int32_t peek(const struct sw *sw)
{
	uint32_t r;

	if (sw->pos >= sw->len)
		return EOF_RUNE;
	(void)df_utf8_decode(sw->s + sw->pos, sw->len - sw->pos, &r);
	return (int32_t)r;
}

static int32_t next(struct sw *sw)
{
	uint32_t r;

	if (sw->pos >= sw->len)
		return EOF_RUNE;
	sw->pos += df_utf8_decode(sw->s + sw->pos, sw->len - sw->pos, &r);
	return (int32_t)r;
}

static int fail(struct sw *sw, enum st_errc code, const char *fmt, ...) ST_PRINTF(3, 4);
static int fail(struct sw *sw, enum st_errc code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(sw->msg, sizeof(sw->msg), fmt, ap);
	va_end(ap);
	sw->code = code;
	return -(int)code;
}

static int nomem(struct sw *sw)
{
	return fail(sw, ST_ENOMEM, "out of memory");
}

static int add_rune(struct st_buf *b, int32_t r)
{
	return df_buf_add_rune(b, (uint32_t)r, NULL);
}

/* ---- field splitting (wordsStruct) ---- */

static int words_flush(struct words *w)
{
	if (w->buf.len && st_strv_push(w->out, w->buf.data, w->buf.len, NULL) < 0)
		return -ST_ENOMEM;
	st_buf_reset(&w->buf);
	w->in_word = false;
	return 0;
}

static int words_add_raw_char(struct words *w, int32_t ch)
{
	if (!w->out)
		return 0;
	w->in_word = true;
	return add_rune(&w->buf, ch);
}

static int words_add_char(struct words *w, int32_t ch)
{
	if (!w->out)
		return 0;
	if (df_go_isspace((uint32_t)ch)) {
		if (w->in_word && w->buf.len)
			return words_flush(w);
		return 0;
	}
	return words_add_raw_char(w, ch);
}

static int words_add_string(struct words *w, const char *s, size_t len)
{
	uint32_t r;
	size_t i, n;
	int rc = 0;

	for (i = 0; w->out && i < len && rc == 0; i += n) {
		n = df_utf8_decode(s + i, len - i, &r);
		rc = words_add_char(w, (int32_t)r);
	}
	return rc;
}

static int words_add_raw_string(struct words *w, const char *s, size_t len)
{
	if (!w->out)
		return 0;
	w->in_word = true;
	return st_buf_add(&w->buf, s, len, NULL);
}

/* ---- the lexer ---- */

static int process_stop_on(struct sw *sw, int32_t stop, bool raw_escapes, struct st_buf *result,
                           struct st_strv *fields);
static int process_dollar(struct sw *sw, struct st_buf *out);

static int process_single_quote(struct sw *sw, struct st_buf *out)
{
	bool raw = sw->lx->flags & ST_SHLEX_RAW_QUOTES;
	int32_t ch = next(sw);

	if (raw && add_rune(out, ch) < 0)
		return nomem(sw);
	for (;;) {
		ch = next(sw);
		if (ch == EOF_RUNE)
			return fail(sw, ST_EINVALID,
			            "unexpected end of statement while looking "
			            "for matching single-quote");
		if (ch == '\'' && !raw)
			return 0;
		if (add_rune(out, ch) < 0)
			return nomem(sw);
		if (ch == '\'')
			return 0;
	}
}

static int process_double_quote(struct sw *sw, struct st_buf *out)
{
	bool raw = sw->lx->flags & ST_SHLEX_RAW_QUOTES;
	int32_t ch = next(sw), p;
	int rc;

	if (raw && add_rune(out, ch) < 0)
		return nomem(sw);
	for (;;) {
		p = peek(sw);
		if (p == EOF_RUNE)
			return fail(sw, ST_EINVALID,
			            "unexpected end of statement while looking "
			            "for matching double-quote");
		if (p == '"') {
			ch = next(sw);
			if (raw && add_rune(out, ch) < 0)
				return nomem(sw);
			return 0;
		}
		if (p == '$') {
			rc = process_dollar(sw, out);
			if (rc < 0)
				return rc;
			continue;
		}
		ch = next(sw);
		if (ch == sw->lx->escape) {
			if (sw->raw_escapes && add_rune(out, ch) < 0)
				return nomem(sw);
			p = peek(sw);
			if (p == EOF_RUNE)
				continue; /* a trailing escape is dropped */
			if (p == '"' || p == '$' || p == sw->lx->escape)
				ch = next(sw);
		}
		if (add_rune(out, ch) < 0)
			return nomem(sw);
	}
}

static bool is_special_param(int32_t ch)
{
	return ch == '@' || ch == '*' || ch == '#' || ch == '?' || ch == '-' || ch == '$' ||
	       ch == '!' || ch == '0';
}

static int process_name(struct sw *sw, struct st_buf *name)
{
	int32_t ch;

	while ((ch = peek(sw)) != EOF_RUNE) {
		if (name->len == 0 && df_go_isdigit((uint32_t)ch)) {
			while ((ch = peek(sw)) != EOF_RUNE && df_go_isdigit((uint32_t)ch))
				if (add_rune(name, next(sw)) < 0)
					return nomem(sw);
			return 0;
		}
		if (name->len == 0 && is_special_param(ch))
			return add_rune(name, next(sw)) < 0 ? nomem(sw) : 0;
		if (!df_go_isletter((uint32_t)ch) && !df_go_isdigit((uint32_t)ch) && ch != '_')
			break;
		if (add_rune(name, next(sw)) < 0)
			return nomem(sw);
	}
	return 0;
}

static bool get_env(struct sw *sw, const struct st_buf *name, const char **value)
{
	*value = "";
	if (!sw->lx->lookup)
		return false;
	if (sw->lx->lookup(sw->lx->lookup_ctx, name->data, name->len, value))
		return true;
	*value = "";
	return false;
}

static int modifier_result(struct sw *sw, int32_t ch, bool null_is_unset, const char *chs,
                           const struct st_buf *name, struct st_buf *word, struct st_buf *out)
{
	const char *value;
	bool set = get_env(sw, name, &value);
	bool empty = !set || (null_is_unset && value[0] == '\0');
	bool greedy = false;
	const char *pat = word->data;
	size_t plen = word->len;
	int rc;

	if ((sw->lx->flags & ST_SHLEX_SKIP_UNSET) && !set)
		return st_buf_addf(out, NULL, "${%s%s%s}", name->data, chs, word->data) < 0
		               ? nomem(sw)
		               : 0;
	switch (ch) {
	case '-':
		rc = empty ? st_buf_add(out, word->data, word->len, NULL)
		           : st_buf_adds(out, value, NULL);
		return rc < 0 ? nomem(sw) : 0;
	case '+':
		rc = empty ? 0 : st_buf_add(out, word->data, word->len, NULL);
		return rc < 0 ? nomem(sw) : 0;
	case '?':
		if (!set)
			return fail(sw, ST_EINVALID, "%s: %s", name->data,
			            word->len ? word->data : "is not allowed to be unset");
		if (null_is_unset && value[0] == '\0')
			return fail(sw, ST_EINVALID, "%s: %s", name->data,
			            word->len ? word->data : "is not allowed to be empty");
		return st_buf_adds(out, value, NULL) < 0 ? nomem(sw) : 0;
	case '%':
	case '#':
		if (plen && pat[0] == (char)ch) {
			greedy = true;
			pat++;
			plen--;
		}
		rc = df_shell_pattern_trim(pat, plen, value, strlen(value), ch == '%', greedy, out,
		                           sw->msg, sizeof(sw->msg));
		if (rc < 0)
			sw->code = (enum st_errc) - rc;
		return rc;
	default:
		return fail(sw, ST_EINVALID, "unsupported modifier (%s) in substitution", chs);
	}
}

static int process_modifier(struct sw *sw, int32_t ch, const struct st_buf *name,
                            struct st_buf *out)
{
	cleanup_buf struct st_buf word = ST_BUF_INIT;
	char chs[16];
	size_t n = df_utf8_encode(ch < 0 ? DF_RUNE_ERROR : (uint32_t)ch, chs);
	bool null_is_unset = false, raw;
	int rc;

	chs[n] = '\0';
	if (ch == ':') {
		null_is_unset = true;
		ch = next(sw);
		n += df_utf8_encode(ch < 0 ? DF_RUNE_ERROR : (uint32_t)ch, chs + n);
		chs[n] = '\0';
	}
	raw = ch == '#' || ch == '%';
	if (null_is_unset && raw)
		return fail(sw, ST_EINVALID, "unsupported modifier (%s) in substitution", chs);
	rc = process_stop_on(sw, '}', raw, &word, NULL);
	if (rc < 0) {
		if (peek(sw) == EOF_RUNE && sw->code == ST_EINVALID)
			return fail(sw, ST_EINVALID, "syntax error: missing '}'");
		return rc;
	}
	return modifier_result(sw, ch, null_is_unset, chs, name, &word, out);
}

static int process_replace(struct sw *sw, const struct st_buf *name, struct st_buf *out)
{
	cleanup_buf struct st_buf pattern = ST_BUF_INIT;
	cleanup_buf struct st_buf repl = ST_BUF_INIT;
	bool all = peek(sw) == '/';
	const char *value;
	bool set;
	int rc;

	if (all)
		(void)next(sw);
	rc = process_stop_on(sw, '/', true, &pattern, NULL);
	if (rc < 0) {
		if (peek(sw) == EOF_RUNE && sw->code == ST_EINVALID)
			return fail(sw, ST_EINVALID, "syntax error: missing '/' in ${}");
		return rc;
	}
	rc = process_stop_on(sw, '}', true, &repl, NULL);
	if (rc < 0) {
		if (peek(sw) == EOF_RUNE && sw->code == ST_EINVALID)
			return fail(sw, ST_EINVALID, "syntax error: missing '}'");
		return rc;
	}
	set = get_env(sw, name, &value);
	if ((sw->lx->flags & ST_SHLEX_SKIP_UNSET) && !set)
		return st_buf_addf(out, NULL, "${%s/%s/%s}", name->data, pattern.data, repl.data) <
		                       0
		               ? nomem(sw)
		               : 0;
	rc = df_shell_pattern_replace(pattern.data, pattern.len, value, strlen(value), repl.data,
	                              repl.len, all, out, sw->msg, sizeof(sw->msg));
	if (rc < 0)
		sw->code = (enum st_errc) - rc;
	return rc;
}

static int process_braced(struct sw *sw, struct st_buf *out)
{
	cleanup_buf struct st_buf name = ST_BUF_INIT;
	const char *value;
	int32_t ch = peek(sw);
	char chs[8];
	size_t n;
	int rc;

	if (ch == EOF_RUNE)
		return fail(sw, ST_EINVALID, "syntax error: missing '}'");
	if (ch == '{' || ch == '}' || ch == ':')
		return fail(sw, ST_EINVALID, "syntax error: bad substitution");
	rc = process_name(sw, &name);
	if (rc < 0)
		return rc;
	ch = next(sw);
	switch (ch) {
	case '}':
		if (!get_env(sw, &name, &value) && (sw->lx->flags & ST_SHLEX_SKIP_UNSET))
			return st_buf_addf(out, NULL, "${%s}", name.data) < 0 ? nomem(sw) : 0;
		return st_buf_adds(out, value, NULL) < 0 ? nomem(sw) : 0;
	case ':':
	case '+':
	case '-':
	case '?':
	case '#':
	case '%':
		return process_modifier(sw, ch, &name, out);
	case '/':
		return process_replace(sw, &name, out);
	default:
		n = df_utf8_encode(ch < 0 ? DF_RUNE_ERROR : (uint32_t)ch, chs);
		chs[n] = '\0';
		return fail(sw, ST_EINVALID, "unsupported modifier (%s) in substitution", chs);
	}
}

static int process_dollar(struct sw *sw, struct st_buf *out)
{
	cleanup_buf struct st_buf name = ST_BUF_INIT;
	const char *value;
	int rc;

	(void)next(sw);
	if (peek(sw) != '{') {
		rc = process_name(sw, &name);
		if (rc < 0)
			return rc;
		if (name.len == 0)
			return st_buf_addch(out, '$', NULL) < 0 ? nomem(sw) : 0;
		if (!get_env(sw, &name, &value) && (sw->lx->flags & ST_SHLEX_SKIP_UNSET))
			return st_buf_addf(out, NULL, "$%s", name.data) < 0 ? nomem(sw) : 0;
		return st_buf_adds(out, value, NULL) < 0 ? nomem(sw) : 0;
	}
	(void)next(sw);
	if (sw->depth >= ST_SHLEX_MAX_DEPTH)
		return fail(sw, ST_ELIMIT, "${...} nested deeper than %d levels",
		            ST_SHLEX_MAX_DEPTH);
	sw->depth++;
	rc = process_braced(sw, out);
	sw->depth--;
	return rc;
}

static int special_char(struct sw *sw, int32_t ch, struct st_buf *result, struct words *w)
{
	cleanup_buf struct st_buf tmp = ST_BUF_INIT;
	int rc;

	if (ch == '$')
		rc = process_dollar(sw, &tmp);
	else if (ch == '\'')
		rc = process_single_quote(sw, &tmp);
	else
		rc = process_double_quote(sw, &tmp);
	if (rc < 0)
		return rc;
	if (st_buf_add(result, tmp.data, tmp.len, NULL) < 0)
		return nomem(sw);
	rc = ch == '$' ? words_add_string(w, tmp.data, tmp.len)
	               : words_add_raw_string(w, tmp.data, tmp.len);
	return rc < 0 ? nomem(sw) : 0;
}

static int plain_char(struct sw *sw, struct st_buf *result, struct words *w)
{
	int32_t ch = next(sw);

	if (ch == sw->lx->escape) {
		if (sw->raw_escapes && (words_add_raw_char(w, ch) < 0 || add_rune(result, ch) < 0))
			return nomem(sw);
		ch = next(sw);
		if (ch == EOF_RUNE)
			return 1; /* a trailing escape ends the word */
		if (words_add_raw_char(w, ch) < 0)
			return nomem(sw);
	} else if (words_add_char(w, ch) < 0) {
		return nomem(sw);
	}
	return add_rune(result, ch) < 0 ? nomem(sw) : 0;
}

static int process_stop_on(struct sw *sw, int32_t stop, bool raw_escapes, struct st_buf *result,
                           struct st_strv *fields)
{
	struct words w = {fields, ST_BUF_INIT, false};
	bool saved = sw->raw_escapes, quotes = !(sw->lx->flags & ST_SHLEX_SKIP_QUOTES);
	int32_t ch;
	int rc = 0;

	sw->raw_escapes = raw_escapes;
	while ((ch = peek(sw)) != EOF_RUNE) {
		if (stop != EOF_RUNE && ch == stop) {
			(void)next(sw);
			rc = fields ? words_flush(&w) : 0;
			goto out;
		}
		if (ch == '$' || (quotes && (ch == '\'' || ch == '"')))
			rc = special_char(sw, ch, result, &w);
		else
			rc = plain_char(sw, result, &w);
		if (rc < 0)
			goto out;
		if (rc > 0)
			break;
	}
	rc = 0;
	if (stop != EOF_RUNE) {
		rc = fail(sw, ST_EINVALID,
		          "unexpected end of statement while looking for matching %c", (char)stop);
		goto out;
	}
	if (fields && words_flush(&w) < 0)
		rc = nomem(sw);
out:
	sw->raw_escapes = saved;
	st_buf_release(&w.buf);
	return rc;
}

static int run(const struct st_shlex *lx, const char *in, size_t len, struct st_buf *out,
               struct st_strv *fields, struct st_error *err)
{
	cleanup_buf struct st_buf result = ST_BUF_INIT;
	cleanup_buf struct st_buf quoted = ST_BUF_INIT;
	struct sw sw = {lx, in, len, 0, false, 0, {0}, ST_OK};
	int rc;

	if (len >= 3 && memcmp(in, "\xEF\xBB\xBF", 3) == 0)
		sw.pos = 3; /* text/scanner drops a leading BOM */
	rc = process_stop_on(&sw, EOF_RUNE, lx->flags & ST_SHLEX_RAW_ESCAPES, &result, fields);
	if (rc < 0) {
		if (sw.code == ST_ENOMEM)
			return st_error_set(err, ST_ENOMEM, "out of memory expanding a word");
		(void)st_df_quote(in, len > 200 ? 200 : len, &quoted, NULL);
		return st_error_set(err, sw.code, "failed to process %s: %s", quoted.data, sw.msg);
	}
	if (out)
		return st_buf_add(out, result.data, result.len, err);
	return 0;
}

int st_shlex_word(const struct st_shlex *lx, const char *in, size_t len, struct st_buf *out,
                  struct st_error *err)
{
	return run(lx, in, len, out, NULL, err);
}

int st_shlex_words(const struct st_shlex *lx, const char *in, size_t len, struct st_strv *out,
                   struct st_error *err)
{
	struct st_strv fields = ST_STRV_INIT;
	int rc = run(lx, in, len, NULL, &fields, err);

	for (size_t i = 0; rc == 0 && i < fields.n; i++)
		rc = st_strv_push(out, fields.v[i], strlen(fields.v[i]), err);
	st_strv_release(&fields);
	return rc;
}
