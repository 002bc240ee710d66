/* dockerfile-util.c: shared pieces of the Dockerfile front end: the arena that owns a parsed
 * file, Go-compatible UTF-8 decoding and Unicode classes, Go's strconv.Quote, keyword table and
 * "did you mean" suggestions, string vectors and environments. */
#include "build/dockerfile-internal.h"

#include <locale.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wctype.h>

#include "util/banned.h" /* last: it poisons names the system headers use */

/* ---- arena ---- */

struct df_chunk {
	struct df_chunk *next;
	size_t used, cap;
	_Alignas(16) unsigned char data[];
};

struct st_df_arena {
	struct df_chunk *head;
};

struct st_df_arena *df_arena_new(void)
{
	return calloc(1, sizeof(struct st_df_arena));
}

void df_arena_free(struct st_df_arena *a)
{
	struct df_chunk *c, *next;

	if (!a)
		return;
	for (c = a->head; c; c = next) {
		next = c->next;
		free(c);
	}
	free(a);
}

void *df_arena_alloc(struct st_df_arena *a, size_t size)
{
	struct df_chunk *c = a->head;
	size_t need = (size + 15) & ~(size_t)15, cap;
	void *p;

	if (size > SIZE_MAX / 2)
		return NULL;
	if (!c || c->cap - c->used < need) {
		cap = need > 32768 ? need : 32768;
		c = malloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->used = 0;
		c->cap = cap;
		c->next = a->head;
		a->head = c;
	}
	p = c->data + c->used;
	c->used += need;
	memset(p, 0, need);
	return p;
}

char *df_arena_strndup(struct st_df_arena *a, const char *s, size_t len)
{
	char *p = df_arena_alloc(a, len + 1);

	if (!p)
		return NULL;
	if (len)
		memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

int df_vec_pushn(struct df_vec *vec, const char *s, size_t len, struct st_error *err)
{
	const char **nv;
	size_t *nl, ncap;

	if (!s)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	if (vec->n == vec->cap) {
		ncap = vec->cap ? vec->cap * 2 : 8;
		nv = realloc(vec->v, ncap * sizeof(*nv));
		if (!nv)
			return st_error_set(err, ST_ENOMEM, "out of memory");
		vec->v = nv;
		nl = realloc(vec->lens, ncap * sizeof(*nl));
		if (!nl)
			return st_error_set(err, ST_ENOMEM, "out of memory");
		vec->lens = nl;
		vec->cap = ncap;
	}
	vec->lens[vec->n] = len;
	vec->v[vec->n++] = s;
	return 0;
}

int df_vec_push(struct df_vec *vec, const char *s, struct st_error *err)
{
	return df_vec_pushn(vec, s, s ? strlen(s) : 0, err);
}

void df_vec_release(struct df_vec *vec)
{
	free(vec->v);
	free(vec->lens);
	vec->v = NULL;
	vec->lens = NULL;
	vec->n = vec->cap = 0;
}

int df_vec_finish(struct df_vec *vec, struct st_df_arena *a, const char ***out, const size_t **lens,
                  size_t *n, struct st_error *err)
{
	const char **p = NULL;
	size_t *l = NULL;

	if (vec->n) {
		p = df_arena_alloc(a, vec->n * sizeof(*p));
		l = lens ? df_arena_alloc(a, vec->n * sizeof(*l)) : NULL;
		if (!p || (lens && !l))
			return st_error_set(err, ST_ENOMEM, "out of memory");
		memcpy(p, vec->v, vec->n * sizeof(*p));
		if (l)
			memcpy(l, vec->lens, vec->n * sizeof(*l));
	}
	*out = p;
	if (lens)
		*lens = l;
	*n = vec->n;
	df_vec_release(vec);
	return 0;
}

/* ---- runes ---- */

size_t df_utf8_decode(const char *s, size_t len, uint32_t *r)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t c = p[0], min;
	size_t n;

	if (c < 0x80) {
		*r = c;
		return 1;
	}
	if (c >= 0xC2 && c <= 0xDF) {
		n = 2;
		c &= 0x1F;
		min = 0x80;
	} else if (c >= 0xE0 && c <= 0xEF) {
		n = 3;
		c &= 0x0F;
		min = 0x800;
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4;
		c &= 0x07;
		min = 0x10000;
	} else {
		*r = DF_RUNE_ERROR;
		return 1;
	}
	if (len < n) {
		*r = DF_RUNE_ERROR;
		return 1;
	}
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xC0) != 0x80) {
			*r = DF_RUNE_ERROR;
			return 1;
		}
		c = (c << 6) | (p[i] & 0x3F);
	}
	if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) {
		*r = DF_RUNE_ERROR;
		return 1;
	}
	*r = c;
	return n;
}

size_t df_utf8_encode(uint32_t r, char out[4])
{
	if (r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF))
		r = DF_RUNE_ERROR;
	if (r < 0x80) {
		out[0] = (char)r;
		return 1;
	}
	if (r < 0x800) {
		out[0] = (char)(0xC0 | (r >> 6));
		out[1] = (char)(0x80 | (r & 0x3F));
		return 2;
	}
	if (r < 0x10000) {
		out[0] = (char)(0xE0 | (r >> 12));
		out[1] = (char)(0x80 | ((r >> 6) & 0x3F));
		out[2] = (char)(0x80 | (r & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | (r >> 18));
	out[1] = (char)(0x80 | ((r >> 12) & 0x3F));
	out[2] = (char)(0x80 | ((r >> 6) & 0x3F));
	out[3] = (char)(0x80 | (r & 0x3F));
	return 4;
}

int df_buf_add_rune(struct st_buf *b, uint32_t r, struct st_error *err)
{
	char enc[4];
	size_t n = df_utf8_encode(r, enc);

	return st_buf_add(b, enc, n, err);
}

bool df_go_isspace(uint32_t r)
{
	switch (r) {
	case '\t':
	case '\n':
	case '\v':
	case '\f':
	case '\r':
	case ' ':
	case 0x85:
	case 0xA0:
	case 0x1680:
	case 0x2028:
	case 0x2029:
	case 0x202F:
	case 0x205F:
	case 0x3000:
		return true;
	default:
		return r >= 0x2000 && r <= 0x200A;
	}
}

/* Go's tables are not available in C; glibc's C.UTF-8 classes agree with them for letters and
 * graphic characters in practice. NEEDSWORK: non-ASCII decimal digits count as letters here,
 * where Go counts them as digits (only matters for "$<digit>" positional parameters). */
static locale_t utf8_locale;
static pthread_once_t utf8_once = PTHREAD_ONCE_INIT;

static void utf8_locale_init(void)
{
	utf8_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	if (!utf8_locale)
		utf8_locale = newlocale(LC_CTYPE_MASK, "en_US.UTF-8", (locale_t)0);
}

static locale_t get_utf8_locale(void)
{
	(void)pthread_once(&utf8_once, utf8_locale_init);
	return utf8_locale;
}

bool df_go_isletter(uint32_t r)
{
	locale_t loc;

	if (r < 0x80)
		return (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z');
	if (r == 0xAA || r == 0xB5 || r == 0xBA)
		return true;
	if (r < 0xC0 || r == 0xD7 || r == 0xF7 || r == DF_RUNE_ERROR)
		return false;
	loc = get_utf8_locale();
	if (!loc)
		return !df_go_isspace(r);
	return iswalpha_l((wint_t)r, loc) != 0;
}

bool df_go_isdigit(uint32_t r)
{
	return r >= '0' && r <= '9';
}

static bool is_format_or_private(uint32_t r)
{
	static const uint32_t ranges[][2] = {
	        {0x00AD, 0x00AD},   {0x0600, 0x0605},    {0x061C, 0x061C},   {0x06DD, 0x06DD},
	        {0x070F, 0x070F},   {0x0890, 0x0891},    {0x08E2, 0x08E2},   {0x180E, 0x180E},
	        {0x200B, 0x200F},   {0x202A, 0x202E},    {0x2060, 0x206F},   {0xD800, 0xF8FF},
	        {0xFDD0, 0xFDEF},   {0xFEFF, 0xFEFF},    {0xFFF9, 0xFFFB},   {0x110BD, 0x110BD},
	        {0x110CD, 0x110CD}, {0x13430, 0x1343F},  {0x1BCA0, 0x1BCA3}, {0x1D173, 0x1D17A},
	        {0xE0001, 0xE007F}, {0xF0000, 0x10FFFF},
	};

	if ((r & 0xFFFE) == 0xFFFE)
		return true;
	for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++)
		if (r >= ranges[i][0] && r <= ranges[i][1])
			return true;
	return false;
}

bool df_go_isprint(uint32_t r)
{
	locale_t loc;

	if (r < 0x80)
		return r >= 0x20 && r < 0x7F;
	if (r < 0xA1)
		return false;
	if (r <= 0xFF)
		return r != 0xAD;
	if (df_go_isspace(r) || is_format_or_private(r))
		return false;
	loc = get_utf8_locale();
	if (!loc)
		return true;
	return iswgraph_l((wint_t)r, loc) != 0;
}

struct st_str df_trim_left_space(struct st_str s)
{
	uint32_t r;
	size_t w;

	while (s.len) {
		w = df_utf8_decode(s.p, s.len, &r);
		if (!df_go_isspace(r))
			break;
		s.p += w;
		s.len -= w;
	}
	return s;
}

struct st_str df_trim_space(struct st_str s)
{
	uint32_t r;
	size_t i, w, end = 0;

	s = df_trim_left_space(s);
	for (i = 0; i < s.len; i += w) {
		w = df_utf8_decode(s.p + i, s.len - i, &r);
		if (!df_go_isspace(r))
			end = i + w;
	}
	s.len = end;
	return s;
}

/* ---- strconv.Quote ---- */

int st_df_quote(const char *s, size_t len, struct st_buf *out, struct st_error *err)
{
	static const char hex[] = "0123456789abcdef";
	char tmp[12];
	uint32_t r;
	size_t i, w;
	int rc = st_buf_addch(out, '"', err);

	for (i = 0; i < len && rc == 0; i += w) {
		w = df_utf8_decode(s + i, len - i, &r);
		if (r == DF_RUNE_ERROR && w == 1) {
			unsigned char c = (unsigned char)s[i];
			tmp[0] = '\\';
			tmp[1] = 'x';
			tmp[2] = hex[c >> 4];
			tmp[3] = hex[c & 15];
			rc = st_buf_add(out, tmp, 4, err);
			continue;
		}
		if (r == '"' || r == '\\') {
			tmp[0] = '\\';
			tmp[1] = (char)r;
			rc = st_buf_add(out, tmp, 2, err);
		} else if (df_go_isprint(r)) {
			rc = st_buf_add(out, s + i, w, err);
		} else {
			switch (r) {
			case '\a':
				rc = st_buf_adds(out, "\\a", err);
				break;
			case '\b':
				rc = st_buf_adds(out, "\\b", err);
				break;
			case '\f':
				rc = st_buf_adds(out, "\\f", err);
				break;
			case '\n':
				rc = st_buf_adds(out, "\\n", err);
				break;
			case '\r':
				rc = st_buf_adds(out, "\\r", err);
				break;
			case '\t':
				rc = st_buf_adds(out, "\\t", err);
				break;
			case '\v':
				rc = st_buf_adds(out, "\\v", err);
				break;
			default:
				if (r < ' ' || r == 0x7F)
					rc = st_buf_addf(out, err, "\\x%02x", (unsigned)r);
				else if (r < 0x10000)
					rc = st_buf_addf(out, err, "\\u%04x", (unsigned)r);
				else
					rc = st_buf_addf(out, err, "\\U%08x", (unsigned)r);
			}
		}
	}
	return rc < 0 ? rc : st_buf_addch(out, '"', err);
}

int st_df_to_utf8(const char *s, size_t len, struct st_buf *out, struct st_error *err)
{
	uint32_t r;
	size_t w;
	int rc = 0;

	for (size_t i = 0; i < len && rc == 0; i += w) {
		w = df_utf8_decode(s + i, len - i, &r);
		rc = r == DF_RUNE_ERROR && w == 1 ? df_buf_add_rune(out, r, err)
		                                  : st_buf_add(out, s + i, w, err);
	}
	return rc;
}

/* ---- keywords ---- */

static const char *const cmd_names[] = {
        [ST_DF_UNKNOWN] = "",        [ST_DF_ADD] = "add",
        [ST_DF_ARG] = "arg",         [ST_DF_CMD] = "cmd",
        [ST_DF_COPY] = "copy",       [ST_DF_ENTRYPOINT] = "entrypoint",
        [ST_DF_ENV] = "env",         [ST_DF_EXPOSE] = "expose",
        [ST_DF_FROM] = "from",       [ST_DF_HEALTHCHECK] = "healthcheck",
        [ST_DF_LABEL] = "label",     [ST_DF_MAINTAINER] = "maintainer",
        [ST_DF_ONBUILD] = "onbuild", [ST_DF_RUN] = "run",
        [ST_DF_SHELL] = "shell",     [ST_DF_STOPSIGNAL] = "stopsignal",
        [ST_DF_USER] = "user",       [ST_DF_VOLUME] = "volume",
        [ST_DF_WORKDIR] = "workdir",
};
#define N_CMDS (sizeof(cmd_names) / sizeof(cmd_names[0]))

const char *st_df_cmd_name(enum st_df_cmd cmd)
{
	return (size_t)cmd < N_CMDS ? cmd_names[cmd] : "";
}

enum st_df_cmd st_df_cmd_lookup(const char *keyword, size_t len)
{
	for (size_t i = 1; i < N_CMDS; i++)
		if (strlen(cmd_names[i]) == len && strncasecmp(cmd_names[i], keyword, len) == 0)
			return (enum st_df_cmd)i;
	return ST_DF_UNKNOWN;
}

static size_t edit_distance(const char *a, size_t la, const char *b, size_t lb)
{
	size_t prev[16], cur[16];

	if (lb >= 16)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			char ca = a[i - 1], cb = b[j - 1];
			size_t sub = prev[j - 1] + ((ca | 0x20) == (cb | 0x20) ? 0 : 1);
			size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
			cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
		}
		memcpy(prev, cur, sizeof(prev));
	}
	return prev[lb];
}

static char upper_names[N_CMDS][16];
static pthread_once_t upper_once = PTHREAD_ONCE_INIT;

static void upper_init(void)
{
	for (size_t i = 1; i < N_CMDS; i++)
		for (size_t j = 0; cmd_names[i][j] && j < 15; j++)
			upper_names[i][j] = (char)(cmd_names[i][j] - 'a' + 'A');
}

const char *df_suggest_keyword(const char *word, size_t len)
{
	size_t best = SIZE_MAX, best_i = 0, d, max;

	if (len > 64)
		return NULL;
	(void)pthread_once(&upper_once, upper_init);
	for (size_t i = 1; i < N_CMDS; i++) {
		d = edit_distance(word, len, cmd_names[i], strlen(cmd_names[i]));
		if (d < best) {
			best = d;
			best_i = i;
		}
	}
	/* BuildKit suggests within a distance of about a third of the word */
	max = len / 3 > 2 ? 2 : (len / 3 ? len / 3 : 1);
	return best <= max ? upper_names[best_i] : NULL;
}

int df_error_at(struct st_error *err, enum st_errc code, const char *name, int line,
                const char *fmt, ...)
{
	char msg[sizeof(err->msg)];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		return st_error_set(err, code, "%s:%d: %s", name ? name : "Dockerfile", line, msg);
	return st_error_set(err, code, "%s: %s", name ? name : "Dockerfile", msg);
}

/* ---- environments ---- */

static ssize_t env_find(const struct st_df_env *env, const char *name, size_t len)
{
	for (size_t i = env->n; i-- > 0;)
		if (strlen(env->names[i]) == len && memcmp(env->names[i], name, len) == 0)
			return (ssize_t)i;
	return -1;
}

int st_df_env_set(struct st_df_env *env, const char *name, const char *value, struct st_error *err)
{
	ssize_t i = env_find(env, name, strlen(name));
	char *v = strdup(value ? value : ""), *k;
	char **nn, **nv;
	size_t ncap;

	if (!v)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	if (i >= 0) {
		free(env->values[i]);
		env->values[i] = v;
		return 0;
	}
	if (env->n == env->cap) {
		ncap = env->cap ? env->cap * 2 : 8;
		nn = realloc(env->names, ncap * sizeof(*nn));
		if (nn)
			env->names = nn;
		nv = nn ? realloc(env->values, ncap * sizeof(*nv)) : NULL;
		if (!nv) {
			free(v);
			return st_error_set(err, ST_ENOMEM, "out of memory");
		}
		env->values = nv;
		env->cap = ncap;
	}
	k = strdup(name);
	if (!k) {
		free(v);
		return st_error_set(err, ST_ENOMEM, "out of memory");
	}
	env->names[env->n] = k;
	env->values[env->n++] = v;
	return 0;
}

const char *st_df_env_get(const struct st_df_env *env, const char *name, size_t len)
{
	ssize_t i = env ? env_find(env, name, len) : -1;

	return i >= 0 ? env->values[i] : NULL;
}

int st_df_env_copy(struct st_df_env *dst, const struct st_df_env *src, struct st_error *err)
{
	int rc;

	for (size_t i = 0; src && i < src->n; i++) {
		rc = st_df_env_set(dst, src->names[i], src->values[i], err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

void st_df_env_release(struct st_df_env *env)
{
	for (size_t i = 0; i < env->n; i++) {
		free(env->names[i]);
		free(env->values[i]);
	}
	free(env->names);
	free(env->values);
	env->names = env->values = NULL;
	env->n = env->cap = 0;
}

bool st_df_env_lookup(void *ctx, const char *name, size_t name_len, const char **value)
{
	const char *v = st_df_env_get(ctx, name, name_len);

	if (!v)
		return false;
	*value = v;
	return true;
}
