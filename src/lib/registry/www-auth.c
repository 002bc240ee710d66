/* www-auth.c: the WWW-Authenticate header (RFC 7235 section 4.1) parsed into challenges:
 * `Bearer realm="https://auth",service="reg",scope="repository:a:pull", Basic realm="x"`. The
 * input is untrusted (any server may answer), so the parser bounds counts and lengths. */
#include "registry/registry-internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/banned.h" /* last: it poisons names the system headers use */

struct lexer {
	const char *s;
	size_t len, pos;
};

static bool is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool is_token68_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("-._~+/", c) != NULL);
}

static char peek(const struct lexer *l)
{
	return l->pos < l->len ? l->s[l->pos] : '\0';
}

static void skip_ows(struct lexer *l)
{
	while (l->pos < l->len && (l->s[l->pos] == ' ' || l->s[l->pos] == '\t'))
		l->pos++;
}

/* Skips white space and list commas (RFC 7230 #rule allows empty elements). */
static void skip_list_sep(struct lexer *l)
{
	while (l->pos < l->len &&
	       (l->s[l->pos] == ' ' || l->s[l->pos] == '\t' || l->s[l->pos] == ','))
		l->pos++;
}

static size_t token_len(const struct lexer *l, size_t at)
{
	size_t n = 0;

	while (at + n < l->len && is_tchar(l->s[at + n]))
		n++;
	return n;
}

static char *lower_dup(const char *p, size_t n)
{
	char *s = st_strndup(p, n);

	for (size_t i = 0; s && i < n; i++)
		if (s[i] >= 'A' && s[i] <= 'Z')
			s[i] = (char)(s[i] - 'A' + 'a');
	return s;
}

static int bad(const struct lexer *l, struct st_error *err, const char *why)
{
	return st_error_set(err, ST_EINVALID, "WWW-Authenticate: %s at offset %zu", why, l->pos);
}

/* quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE, unescaped into a new string. */
static int quoted_string(struct lexer *l, char **out, struct st_error *err)
{
	cleanup_buf struct st_buf v = ST_BUF_INIT;

	l->pos++; /* the opening quote */
	for (;;) {
		unsigned char c = (unsigned char)peek(l);
		if (l->pos >= l->len)
			return bad(l, err, "unterminated quoted-string");
		if (c == '"')
			break;
		if (c == '\\') {
			l->pos++;
			if (l->pos >= l->len)
				return bad(l, err, "unterminated quoted-pair");
			c = (unsigned char)l->s[l->pos];
		}
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return bad(l, err, "control character in quoted-string");
		if (st_buf_addch(&v, (char)c, err) < 0)
			return -ST_ENOMEM;
		l->pos++;
	}
	l->pos++;
	*out = st_buf_detach(&v, NULL);
	return *out ? 0 : st_error_set(err, ST_ENOMEM, "out of memory");
}

/* True when the input at the cursor is `token BWS "="` that is not token68 padding. */
static bool at_param(const struct lexer *l)
{
	struct lexer t = *l;
	size_t n = token_len(&t, t.pos);

	if (n == 0)
		return false;
	t.pos += n;
	skip_ows(&t);
	if (peek(&t) != '=')
		return false;
	t.pos++;
	skip_ows(&t);
	/* "abc=" and "abc==" are token68 padding, not a parameter */
	return peek(&t) == '"' || is_tchar(peek(&t));
}

/* token68 is the whole rest of the challenge: 1*token68char *"=" then OWS and ',' or end. */
static size_t token68_len(const struct lexer *l)
{
	struct lexer t = *l;
	size_t n = 0;

	while (t.pos < t.len && is_token68_char(t.s[t.pos]))
		t.pos++, n++;
	if (n == 0)
		return 0;
	while (peek(&t) == '=')
		t.pos++;
	n = t.pos - l->pos;
	skip_ows(&t);
	return (t.pos >= t.len || peek(&t) == ',') ? n : 0;
}

static int add_param(struct st_reg_challenge *c, char *name, char *value, const struct lexer *l,
                     struct st_error *err)
{
	struct st_reg_param *p;

	if (c->n_params >= ST_REG_MAX_PARAMS) {
		free(name);
		free(value);
		return bad(l, err, "too many parameters");
	}
	p = realloc(c->params, (c->n_params + 1) * sizeof(*p));
	if (!p) {
		free(name);
		free(value);
		return st_error_set(err, ST_ENOMEM, "out of memory");
	}
	c->params = p;
	p[c->n_params].name = name;
	p[c->n_params++].value = value;
	return 0;
}

static int param(struct lexer *l, struct st_reg_challenge *c, struct st_error *err)
{
	size_t n = token_len(l, l->pos);
	char *name = lower_dup(l->s + l->pos, n), *value = NULL;
	int rc;

	if (!name)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	l->pos += n;
	skip_ows(l);
	l->pos++; /* '=' (at_param checked) */
	skip_ows(l);
	if (peek(l) == '"') {
		rc = quoted_string(l, &value, err);
		if (rc < 0) {
			free(name);
			return rc;
		}
	} else {
		n = token_len(l, l->pos);
		if (n == 0) {
			free(name);
			return bad(l, err, "parameter value must be a token or a quoted-string");
		}
		value = st_strndup(l->s + l->pos, n);
		l->pos += n;
	}
	if (!value) {
		free(name);
		return st_error_set(err, ST_ENOMEM, "out of memory");
	}
	return add_param(c, name, value, l, err);
}

/* After the scheme: a token68 or a comma-separated list of parameters, up to the next scheme. */
static int challenge_body(struct lexer *l, struct st_reg_challenge *c, struct st_error *err)
{
	size_t n;
	int rc;

	skip_ows(l);
	if (!at_param(l)) {
		n = token68_len(l);
		if (n > 0) {
			c->token68 = st_strndup(l->s + l->pos, n);
			if (!c->token68)
				return st_error_set(err, ST_ENOMEM, "out of memory");
			l->pos += n;
		}
		return 0;
	}
	for (;;) {
		rc = param(l, c, err);
		if (rc < 0)
			return rc;
		skip_ows(l);
		if (l->pos >= l->len)
			return 0;
		if (peek(l) != ',')
			return bad(l, err, "expected ',' after a parameter");
		skip_list_sep(l);
		if (!at_param(l))
			return 0; /* the next challenge's scheme, or the end */
	}
}

void st_reg_challenges_free(struct st_reg_challenge *c, size_t n)
{
	for (size_t i = 0; c && i < n; i++) {
		for (size_t j = 0; j < c[i].n_params; j++) {
			free(c[i].params[j].name);
			free(c[i].params[j].value);
		}
		free(c[i].params);
		free(c[i].scheme);
		free(c[i].token68);
	}
	free(c);
}

static int next_challenge(struct lexer *l, struct st_reg_challenge **v, size_t *n,
                          struct st_error *err)
{
	struct st_reg_challenge *grown;
	size_t tl = token_len(l, l->pos);

	if (tl == 0)
		return bad(l, err, "expected an auth-scheme");
	if (*n >= ST_REG_MAX_CHALLENGES)
		return bad(l, err, "too many challenges");
	grown = realloc(*v, (*n + 1) * sizeof(**v));
	if (!grown)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	*v = grown;
	memset(&grown[*n], 0, sizeof(grown[*n]));
	grown[*n].scheme = lower_dup(l->s + l->pos, tl);
	(*n)++;
	if (!grown[*n - 1].scheme)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	l->pos += tl;
	if (l->pos < l->len && l->s[l->pos] != ' ' && l->s[l->pos] != '\t' && l->s[l->pos] != ',')
		return bad(l, err, "unexpected character after the auth-scheme");
	return challenge_body(l, &grown[*n - 1], err);
}

int st_reg_www_auth_parse(const char *s, size_t len, struct st_reg_challenge **out, size_t *out_n,
                          struct st_error *err)
{
	struct lexer l = {s, len, 0};
	struct st_reg_challenge *v = NULL;
	size_t n = 0;
	int rc;

	for (;;) {
		skip_list_sep(&l);
		if (l.pos >= l.len)
			break;
		rc = next_challenge(&l, &v, &n, err);
		if (rc < 0) {
			st_reg_challenges_free(v, n);
			return rc;
		}
	}
	if (n == 0)
		return st_error_set(err, ST_EINVALID, "WWW-Authenticate: no challenge");
	*out = v;
	*out_n = n;
	return 0;
}

const char *st_reg_challenge_param(const struct st_reg_challenge *c, const char *name)
{
	for (size_t i = 0; i < c->n_params; i++)
		if (strcasecmp(c->params[i].name, name) == 0)
			return c->params[i].value;
	return NULL;
}

static int add_quoted(struct st_buf *out, const char *v, struct st_error *err)
{
	if (st_buf_addch(out, '"', err) < 0)
		return -ST_ENOMEM;
	for (; *v; v++)
		if ((*v == '"' || *v == '\\') && st_buf_addch(out, '\\', err) < 0)
			return -ST_ENOMEM;
		else if (st_buf_addch(out, *v, err) < 0)
			return -ST_ENOMEM;
	return st_buf_addch(out, '"', err);
}

int st_reg_www_auth_format(const struct st_reg_challenge *c, size_t n, struct st_buf *out,
                           struct st_error *err)
{
	for (size_t i = 0; i < n; i++) {
		if (st_buf_addf(out, err, "%s%s", i ? ", " : "", c[i].scheme) < 0)
			return -ST_ENOMEM;
		if (c[i].token68 && st_buf_addf(out, err, " %s", c[i].token68) < 0)
			return -ST_ENOMEM;
		for (size_t j = 0; j < c[i].n_params; j++) {
			if (st_buf_addf(out, err, "%s%s=", j ? "," : " ", c[i].params[j].name) <
			            0 ||
			    add_quoted(out, c[i].params[j].value, err) < 0)
				return -ST_ENOMEM;
		}
	}
	return 0;
}
