/* shell-pattern.c: the patterns of ${V#p}, ${V%p} and ${V/p/r}. BuildKit turns them into Go
 * regular expressions ("*" is ".*" or ".*?", "?" is ".") and relies on leftmost-first (Perl)
 * matching; this is the same search done directly, with a failure memo so that no pattern
 * takes more than tokens x runes steps. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build/dockerfile-internal.h"
#include "util/cleanup.h"

#include "util/banned.h"

#define MAX_TOKENS 4096
#define MAX_MEMO_BITS ((size_t)1 << 27)

enum tok_kind { TOK_LIT, TOK_ANY, TOK_STAR };

struct tok {
	enum tok_kind kind;
	uint32_t r;
};

struct runes {
	uint32_t *r;
	size_t *off; /* byte offset of rune i in the source; off[n] = length */
	size_t n;
};

struct matcher {
	const struct tok *t;
	size_t nt;
	const struct runes *v;
	bool greedy;
	unsigned char *failed; /* bit (ti * (n + 1) + i): tokens ti.. cannot match at rune i */
};

static int decode_runes(const char *s, size_t len, struct runes *out)
{
	size_t i, w;

	out->r = malloc((len + 1) * sizeof(*out->r));
	out->off = malloc((len + 1) * sizeof(*out->off));
	out->n = 0;
	if (!out->r || !out->off)
		return -ST_ENOMEM;
	for (i = 0; i < len; i += w) {
		w = df_utf8_decode(s + i, len - i, &out->r[out->n]);
		out->off[out->n++] = i;
	}
	out->off[out->n] = len;
	return 0;
}

static void free_runes(struct runes *rs)
{
	free(rs->r);
	free(rs->off);
}

static int set_msg(char *msg, size_t msglen, int code, const char *fmt, ...) ST_PRINTF(4, 5);
static int set_msg(char *msg, size_t msglen, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, msglen, fmt, ap);
	va_end(ap);
	return -code;
}

/* convertShellPatternToRegex, minus the regex. */
static int compile(const struct runes *p, struct tok **out, size_t *nt, char *msg, size_t msglen,
                   const char *pattern)
{
	struct tok *t;
	size_t n = 0;

	if (p->n > MAX_TOKENS)
		return set_msg(msg, msglen, ST_ELIMIT, "pattern longer than %d characters",
		               MAX_TOKENS);
	t = malloc((p->n + 1) * sizeof(*t));
	if (!t)
		return set_msg(msg, msglen, ST_ENOMEM, "out of memory");
	for (size_t i = 0; i < p->n; i++) {
		uint32_t c = p->r[i];
		if (c == '*' || c == '?') {
			t[n++] = (struct tok){c == '*' ? TOK_STAR : TOK_ANY, 0};
			continue;
		}
		if (c == '\\') {
			/* \} and \/ are escapes of the ${} syntax, not of the pattern */
			if (i + 1 < p->n && (p->r[i + 1] == '}' || p->r[i + 1] == '/'))
				continue;
			if (i + 1 >= p->n ||
			    (p->r[i + 1] != '*' && p->r[i + 1] != '?' && p->r[i + 1] != '\\')) {
				char e[5] = {0};
				if (i + 1 < p->n)
					(void)df_utf8_encode(p->r[i + 1], e);
				free(t);
				return set_msg(
				        msg, msglen, ST_EINVALID,
				        "invalid pattern (%s) in substitution: invalid escape "
				        "'\\%s'",
				        pattern, e);
			}
			c = p->r[++i];
		}
		t[n++] = (struct tok){TOK_LIT, c};
	}
	*out = t;
	*nt = n;
	return 0;
}

static bool memo_get(const struct matcher *m, size_t ti, size_t i)
{
	size_t bit = ti * (m->v->n + 1) + i;

	return m->failed[bit / 8] & (1u << (bit % 8));
}

static void memo_set(struct matcher *m, size_t ti, size_t i)
{
	size_t bit = ti * (m->v->n + 1) + i;

	m->failed[bit / 8] |= (unsigned char)(1u << (bit % 8));
}

/* The end (rune index) of the first match of tokens ti.. at rune i in priority order, or -1. */
static ssize_t match_at(struct matcher *m, size_t ti, size_t i)
{
	const struct runes *v = m->v;
	ssize_t e = -1;
	size_t max = 0;

	if (ti == m->nt)
		return (ssize_t)i;
	if (memo_get(m, ti, i))
		return -1;
	switch (m->t[ti].kind) {
	case TOK_LIT:
		if (i < v->n && v->r[i] == m->t[ti].r)
			e = match_at(m, ti + 1, i + 1);
		break;
	case TOK_ANY:
		if (i < v->n && v->r[i] != '\n')
			e = match_at(m, ti + 1, i + 1);
		break;
	case TOK_STAR:
		while (i + max < v->n && v->r[i + max] != '\n')
			max++;
		for (size_t k = 0; k <= max && e < 0; k++)
			e = match_at(m, ti + 1, i + (m->greedy ? max - k : k));
		break;
	}
	if (e < 0)
		memo_set(m, ti, i);
	return e;
}

struct prepared {
	struct runes pat, val;
	struct tok *toks;
	size_t nt;
	struct matcher m;
};

static void release(struct prepared *p)
{
	free_runes(&p->pat);
	free_runes(&p->val);
	free(p->toks);
	free(p->m.failed);
}

static int prepare(struct prepared *p, const char *pattern, size_t plen, const char *value,
                   size_t vlen, bool greedy, char *msg, size_t msglen)
{
	cleanup_free char *pz = st_strndup(pattern, plen);
	size_t bits;
	int rc;

	memset(p, 0, sizeof(*p));
	if (!pz || decode_runes(pattern, plen, &p->pat) < 0 ||
	    decode_runes(value, vlen, &p->val) < 0)
		return set_msg(msg, msglen, ST_ENOMEM, "out of memory");
	rc = compile(&p->pat, &p->toks, &p->nt, msg, msglen, pz);
	if (rc < 0)
		return rc;
	bits = (p->nt + 1) * (p->val.n + 1);
	if (bits > MAX_MEMO_BITS)
		return set_msg(msg, msglen, ST_ELIMIT, "pattern too complex for a %zu-byte value",
		               vlen);
	p->m = (struct matcher){p->toks, p->nt, &p->val, greedy, calloc(bits / 8 + 1, 1)};
	if (!p->m.failed)
		return set_msg(msg, msglen, ST_ENOMEM, "out of memory");
	return 0;
}

/* reversePattern: reverse runes but keep "\x" pairs in order. */
static void reverse_pattern(struct runes *p)
{
	uint32_t *out = malloc((p->n + 1) * sizeof(*out));
	size_t last = p->n ? p->n - 1 : 0;

	if (!out || !p->n) {
		free(out);
		return;
	}
	for (size_t i = 0; i <= last;) {
		size_t o = last - i;
		if (p->r[i] == '\\' && i != last) {
			out[o - 1] = '\\';
			out[o] = p->r[i + 1];
			i += 2;
		} else {
			out[o] = p->r[i];
			i++;
		}
	}
	memcpy(p->r, out, p->n * sizeof(*out));
	free(out);
}

static void reverse_runes(struct runes *v)
{
	for (size_t i = 0, j = v->n; i + 1 < j; i++, j--) {
		uint32_t t = v->r[i];
		v->r[i] = v->r[j - 1];
		v->r[j - 1] = t;
	}
}

static int encode_pattern(const struct runes *p, struct st_buf *b)
{
	for (size_t i = 0; i < p->n; i++)
		if (df_buf_add_rune(b, p->r[i], NULL) < 0)
			return -ST_ENOMEM;
	return 0;
}

int df_shell_pattern_trim(const char *pattern, size_t plen, const char *value, size_t vlen,
                          bool suffix, bool greedy, struct st_buf *out, char *msg, size_t msglen)
{
	cleanup_buf struct st_buf rp = ST_BUF_INIT;
	struct runes pr = {0};
	struct prepared p;
	ssize_t e;
	int rc;

	if (!suffix) {
		rc = prepare(&p, pattern, plen, value, vlen, greedy, msg, msglen);
		if (rc == 0) {
			e = match_at(&p.m, 0, 0);
			rc = st_buf_add(out, value + (e >= 0 ? p.val.off[e] : 0),
			                vlen - (e >= 0 ? p.val.off[e] : 0), NULL);
		}
		release(&p);
		return rc;
	}
	/* trimSuffix: reverse the pattern and the value (as runes), trim a prefix, reverse back */
	if (decode_runes(pattern, plen, &pr) < 0) {
		free_runes(&pr);
		return set_msg(msg, msglen, ST_ENOMEM, "out of memory");
	}
	reverse_pattern(&pr);
	rc = encode_pattern(&pr, &rp);
	free_runes(&pr);
	if (rc < 0)
		return set_msg(msg, msglen, ST_ENOMEM, "out of memory");
	rc = prepare(&p, rp.data, rp.len, value, vlen, greedy, msg, msglen);
	if (rc == 0) {
		reverse_runes(&p.val);
		e = match_at(&p.m, 0, 0);
		for (size_t i = p.val.n; i-- > (e >= 0 ? (size_t)e : 0) && rc == 0;)
			rc = df_buf_add_rune(out, p.val.r[i], NULL);
	}
	release(&p);
	return rc;
}

/* Go's Regexp.Expand for a regexp without groups: $0 / ${0} is the match, $$ is "$", other
 * names are empty, a malformed reference is a literal "$". */
static int expand_repl(const char *t, size_t tl, const char *m, size_t ml, struct st_buf *out)
{
	size_t i = 0, j, start, end;
	uint32_t r;
	bool brace;
	long num;

	while (i < tl) {
		if (t[i] != '$') {
			if (st_buf_addch(out, t[i++], NULL) < 0)
				return -ST_ENOMEM;
			continue;
		}
		if (i + 1 < tl && t[i + 1] == '$') {
			if (st_buf_addch(out, '$', NULL) < 0)
				return -ST_ENOMEM;
			i += 2;
			continue;
		}
		brace = i + 1 < tl && t[i + 1] == '{';
		start = j = i + (brace ? 2 : 1);
		while (j < tl) {
			size_t w = df_utf8_decode(t + j, tl - j, &r);
			if (!df_go_isletter(r) && !df_go_isdigit(r) && r != '_')
				break;
			j += w;
		}
		end = j;
		if (end == start || (brace && (j >= tl || t[j] != '}'))) {
			if (st_buf_addch(out, '$', NULL) < 0)
				return -ST_ENOMEM;
			i++;
			continue;
		}
		i = brace ? j + 1 : j;
		num = 0;
		for (j = start; j < end; j++) {
			if (t[j] < '0' || t[j] > '9' || num >= 100000000) {
				num = -1;
				break;
			}
			num = num * 10 + (t[j] - '0');
		}
		if (num == 0 && st_buf_add(out, m, ml, NULL) < 0)
			return -ST_ENOMEM;
	}
	return 0;
}

static bool find_from(struct matcher *m, size_t from, size_t *a, size_t *b)
{
	ssize_t e;

	for (size_t s = from; s <= m->v->n; s++) {
		e = match_at(m, 0, s);
		if (e >= 0) {
			*a = s;
			*b = (size_t)e;
			return true;
		}
	}
	return false;
}

static int replace_all(struct prepared *p, const char *value, size_t vlen, const char *repl,
                       size_t rlen, struct st_buf *out)
{
	const size_t *off = p->val.off;
	size_t last = 0, sp = 0, a, b;

	while (sp <= p->val.n && find_from(&p->m, sp, &a, &b)) {
		if (st_buf_add(out, value + off[last], off[a] - off[last], NULL) < 0)
			return -ST_ENOMEM;
		/* an empty match right after a match is not replaced (Go's ReplaceAll) */
		if ((b > last || a == 0) &&
		    expand_repl(repl, rlen, value + off[a], off[b] - off[a], out) < 0)
			return -ST_ENOMEM;
		last = b;
		sp = b > sp ? b : sp + 1;
	}
	return st_buf_add(out, value + off[last], vlen - off[last], NULL) < 0 ? -ST_ENOMEM : 0;
}

int df_shell_pattern_replace(const char *pattern, size_t plen, const char *value, size_t vlen,
                             const char *repl, size_t rlen, bool all, struct st_buf *out, char *msg,
                             size_t msglen)
{
	struct prepared p;
	size_t a, b;
	int rc = prepare(&p, pattern, plen, value, vlen, true, msg, msglen);

	if (rc == 0 && all) {
		rc = replace_all(&p, value, vlen, repl, rlen, out);
	} else if (rc == 0 && find_from(&p.m, 0, &a, &b)) {
		if (st_buf_add(out, value, p.val.off[a], NULL) < 0 ||
		    st_buf_add(out, repl, rlen, NULL) < 0 ||
		    st_buf_add(out, value + p.val.off[b], vlen - p.val.off[b], NULL) < 0)
			rc = -ST_ENOMEM;
	} else if (rc == 0) {
		rc = st_buf_add(out, value, vlen, NULL) < 0 ? -ST_ENOMEM : 0;
	}
	if (rc == -ST_ENOMEM)
		(void)set_msg(msg, msglen, ST_ENOMEM, "out of memory");
	release(&p);
	return rc;
}
