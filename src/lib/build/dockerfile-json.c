/* dockerfile-json.c: the JSON (exec) form of CMD, RUN, COPY and friends, decoded as Go's
 * encoding/json decodes into []interface{}: the first value only, full syntax check (iterative,
 * so nesting cannot exhaust the stack), invalid UTF-8 and lone surrogates as U+FFFD. */
#include <stdlib.h>
#include <string.h>

#include "build/dockerfile-internal.h"
#include "util/cleanup.h"

#include "util/banned.h"

#define JSON_MAX_DEPTH 10000 /* Go's encoding/json nesting limit */

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

static void json_ws(struct st_str s, size_t *pos)
{
	while (*pos < s.len &&
	       (s.p[*pos] == ' ' || s.p[*pos] == '\t' || s.p[*pos] == '\n' || s.p[*pos] == '\r'))
		(*pos)++;
}

static int hex4(const char *p, size_t avail, uint32_t *out)
{
	uint32_t v = 0;

	if (avail < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (uint32_t)(c - '0');
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			v |= (uint32_t)((c | 0x20) - 'a' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

/* A JSON string at s[*pos] == '"', decoded as Go does (bad UTF-8 and lone surrogates become
 * U+FFFD) into out when out is not NULL. Returns JSON_SYNTAX or 0; -ST_ENOMEM. */
static int json_string(struct st_str s, size_t *pos, struct st_buf *out)
{
	size_t i = *pos + 1, w;
	uint32_t r, r2;
	unsigned char c;

	while (i < s.len) {
		c = (unsigned char)s.p[i];
		if (c == '"') {
			*pos = i + 1;
			return 0;
		}
		if (c < 0x20)
			return JSON_SYNTAX;
		if (c != '\\') {
			w = df_utf8_decode(s.p + i, s.len - i, &r);
			if (out && df_buf_add_rune(out, r, NULL) < 0)
				return -ST_ENOMEM;
			i += w;
			continue;
		}
		if (i + 1 >= s.len)
			return JSON_SYNTAX;
		c = (unsigned char)s.p[i + 1];
		i += 2;
		switch (c) {
		case '"':
		case '\\':
		case '/':
			r = c;
			break;
		case 'b':
			r = '\b';
			break;
		case 'f':
			r = '\f';
			break;
		case 'n':
			r = '\n';
			break;
		case 'r':
			r = '\r';
			break;
		case 't':
			r = '\t';
			break;
		case 'u':
			if (hex4(s.p + i, s.len - i, &r) < 0)
				return JSON_SYNTAX;
			i += 4;
			if (r >= 0xD800 && r < 0xE000) {
				if (r < 0xDC00 && i + 6 <= s.len && s.p[i] == '\\' &&
				    s.p[i + 1] == 'u' && hex4(s.p + i + 2, 4, &r2) == 0 &&
				    r2 >= 0xDC00 && r2 < 0xE000) {
					r = 0x10000 + ((r - 0xD800) << 10) + (r2 - 0xDC00);
					i += 6;
				} else {
					r = DF_RUNE_ERROR;
				}
			}
			break;
		default:
			return JSON_SYNTAX;
		}
		if (out && df_buf_add_rune(out, r, NULL) < 0)
			return -ST_ENOMEM;
	}
	return JSON_SYNTAX;
}

static int json_number(struct st_str s, size_t *pos)
{
	size_t i = *pos, d;

	if (i < s.len && s.p[i] == '-')
		i++;
	if (i >= s.len)
		return JSON_SYNTAX;
	if (s.p[i] == '0') {
		i++;
	} else if (s.p[i] >= '1' && s.p[i] <= '9') {
		while (i < s.len && s.p[i] >= '0' && s.p[i] <= '9')
			i++;
	} else {
		return JSON_SYNTAX;
	}
	if (i < s.len && s.p[i] == '.') {
		for (d = ++i; i < s.len && s.p[i] >= '0' && s.p[i] <= '9';)
			i++;
		if (i == d)
			return JSON_SYNTAX;
	}
	if (i < s.len && (s.p[i] == 'e' || s.p[i] == 'E')) {
		i++;
		if (i < s.len && (s.p[i] == '+' || s.p[i] == '-'))
			i++;
		for (d = i; i < s.len && s.p[i] >= '0' && s.p[i] <= '9';)
			i++;
		if (i == d)
			return JSON_SYNTAX;
	}
	*pos = i;
	return 0;
}

static int json_scalar(struct st_str s, size_t *pos)
{
	static const char *const lits[] = {"true", "false", "null"};
	char c = s.p[*pos];

	if (c == '"')
		return json_string(s, pos, NULL);
	for (size_t k = 0; k < 3; k++) {
		size_t n = strlen(lits[k]);
		if (s.len - *pos >= n && memcmp(s.p + *pos, lits[k], n) == 0) {
			*pos += n;
			return 0;
		}
	}
	return json_number(s, pos);
}

/* Skips one JSON value (iteratively, so deep nesting cannot exhaust the stack). */
/* `"key" :` of an object member, at *pos (white space before it already skipped). */
static int json_member_key(struct st_str s, size_t *pos)
{
	int rc;

	if (*pos >= s.len || s.p[*pos] != '"')
		return JSON_SYNTAX;
	rc = json_string(s, pos, NULL);
	if (rc)
		return rc;
	json_ws(s, pos);
	if (*pos >= s.len || s.p[*pos] != ':')
		return JSON_SYNTAX;
	(*pos)++;
	return 0;
}

static int json_skip(struct st_str s, size_t *pos, int depth0)
{
	cleanup_free char *stack = malloc(JSON_MAX_DEPTH);
	int depth = 0, rc;
	bool need_value = true;

	if (!stack)
		return -ST_ENOMEM;
	for (;;) {
		json_ws(s, pos);
		if (*pos >= s.len)
			return JSON_SYNTAX;
		if (need_value) {
			char c = s.p[*pos];
			if (c == '[' || c == '{') {
				if (depth + depth0 >= JSON_MAX_DEPTH)
					return JSON_SYNTAX;
				stack[depth++] = c;
				(*pos)++;
				json_ws(s, pos);
				if (*pos < s.len && s.p[*pos] == (c == '[' ? ']' : '}')) {
					(*pos)++;
					depth--;
					need_value = false;
					if (depth == 0)
						return 0;
					continue;
				}
				if (c == '{') {
					rc = json_member_key(s, pos);
					if (rc)
						return rc;
				}
				continue;
			}
			rc = json_scalar(s, pos);
			if (rc)
				return rc;
			need_value = false;
			if (depth == 0)
				return 0;
			continue;
		}
		if (s.p[*pos] == ',') {
			(*pos)++;
			if (stack[depth - 1] == '{') {
				json_ws(s, pos);
				rc = json_member_key(s, pos);
				if (rc)
					return rc;
			}
			need_value = true;
			continue;
		}
		if (s.p[*pos] != (stack[depth - 1] == '[' ? ']' : '}'))
			return JSON_SYNTAX;
		(*pos)++;
		if (--depth == 0)
			return 0;
	}
}

/* parseJSON: s starts with '['. Decodes the first JSON value (trailing text is ignored, as
 * Go's json.Decoder does) into strings. */
int df_json_string_array(struct df_ctx *cx, struct st_str s, struct df_vec *out,
                         struct st_error *err)
{
	cleanup_buf struct st_buf str = ST_BUF_INIT;
	size_t pos = 1;
	bool strings_only = true;
	int rc;

	json_ws(s, &pos);
	if (pos < s.len && s.p[pos] == ']')
		return JSON_OK;
	for (;;) {
		json_ws(s, &pos);
		if (pos >= s.len)
			return JSON_SYNTAX;
		if (s.p[pos] == '"') {
			st_buf_reset(&str);
			rc = json_string(s, &pos, &str);
			if (rc == 0 && strings_only)
				rc = push_copy(cx, out, str.data, str.len, err);
		} else {
			strings_only = false;
			rc = json_skip(s, &pos, 1);
		}
		if (rc)
			return rc < 0 ? nomem(err) : rc;
		json_ws(s, &pos);
		if (pos >= s.len)
			return JSON_SYNTAX;
		if (s.p[pos] == ']')
			return strings_only ? JSON_OK : JSON_NOT_STRINGS;
		if (s.p[pos] != ',')
			return JSON_SYNTAX;
		pos++;
	}
}
