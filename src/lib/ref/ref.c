/* ref.c: image references parsed as distribution/reference's ParseNormalizedNamed (what the
 * Docker CLI uses), by hand instead of with its regular expressions. The grammar:
 *   reference := name [ ":" tag ] [ "@" digest ]
 *   name      := [domain "/"] path-component ["/" path-component]*
 *   domain    := host [":" port];  host := domain-name | "[" ipv6 "]"
 *   path-component := [a-z0-9]+ (separator [a-z0-9]+)*;  separator := "." | "_" | "__" | "-"+
 *   tag       := [\w][\w.-]{0,127} */
#include "strata/ref.h"

#include <stdlib.h>
#include <string.h>

#include "util/cleanup.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

#define LEGACY_DOMAIN "index.docker.io"
#define OFFICIAL_PREFIX "library/"
#define BAD "invalid reference format: "

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool is_word(char c)
{
	return is_alnum(c) || c == '_';
}

static bool is_upper(char c)
{
	return c >= 'A' && c <= 'Z';
}

static bool has_upper(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (is_upper(s[i]))
			return true;
	return false;
}

static bool is_hex64(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!((s[i] >= 'a' && s[i] <= 'f') || (s[i] >= '0' && s[i] <= '9')))
			return false;
	return i == 64;
}

/* A separator run between two alphanumeric runs: ".", "_", "__" or one or more "-". */
static bool valid_separator(const char *s, size_t len)
{
	if (len == 1)
		return s[0] == '.' || s[0] == '_' || s[0] == '-';
	if (len == 2 && s[0] == '_' && s[1] == '_')
		return true;
	for (size_t i = 0; i < len; i++)
		if (s[i] != '-')
			return false;
	return true;
}

static bool valid_component(const char *s, size_t len)
{
	size_t i = 0;

	if (len == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[len - 1]))
		return false;
	while (i < len) {
		size_t start = i;
		if (is_lower_alnum(s[i])) {
			while (i < len && is_lower_alnum(s[i]))
				i++;
			continue;
		}
		while (i < len && !is_lower_alnum(s[i])) {
			if (s[i] != '.' && s[i] != '_' && s[i] != '-')
				return false;
			i++;
		}
		if (!valid_separator(s + start, i - start))
			return false;
	}
	return true;
}

/* Checks the path s[0..len): components separated by '/'. */
static int check_path(const char *s, size_t len, struct st_error *err)
{
	size_t start = 0;

	if (len == 0)
		return st_error_set(err, ST_EINVALID,
		                    BAD "repository name must have at least one component");
	if (has_upper(s, len))
		return st_error_set(err, ST_EINVALID,
		                    BAD "repository name (%.*s) must be lowercase", (int)len, s);
	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != '/')
			continue;
		if (i == start)
			return st_error_set(err, ST_EINVALID,
			                    BAD
			                    "repository name (%.*s) has an empty path component",
			                    (int)len, s);
		if (!valid_component(s + start, i - start))
			return st_error_set(err, ST_EINVALID,
			                    BAD "repository name component (%.*s) is invalid: "
			                        "use [a-z0-9] joined by '.', '_', '__' or '-'",
			                    (int)(i - start), s + start);
		start = i + 1;
	}
	if (len > ST_REF_MAX_PATH)
		return st_error_set(err, ST_EINVALID,
		                    BAD "repository name must not be more than %d characters",
		                    ST_REF_MAX_PATH);
	return 0;
}

/* domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9] */
static bool valid_domain_name(const char *s, size_t len)
{
	size_t start = 0;

	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != '.') {
			if (!is_alnum(s[i]) && s[i] != '-')
				return false;
			continue;
		}
		if (i == start || s[start] == '-' || s[i - 1] == '-')
			return false;
		start = i + 1;
	}
	return len > 0;
}

static bool valid_domain(const char *s, size_t len)
{
	size_t host_len;

	if (len > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', len);
		if (!close || close == s + 1)
			return false;
		for (const char *p = s + 1; p < close; p++)
			if (!is_hex(*p) && *p != ':')
				return false;
		host_len = (size_t)(close - s) + 1;
	} else {
		const char *colon = memchr(s, ':', len);
		host_len = colon ? (size_t)(colon - s) : len;
		if (!valid_domain_name(s, host_len))
			return false;
	}
	if (host_len == len)
		return true;
	if (s[host_len] != ':' || host_len + 1 == len)
		return false;
	for (size_t i = host_len + 1; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

bool st_ref_valid_tag(const char *tag)
{
	size_t len = strlen(tag);

	if (len == 0 || len > ST_REF_MAX_TAG || !is_word(tag[0]))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!is_word(tag[i]) && tag[i] != '.' && tag[i] != '-')
			return false;
	return true;
}

int st_ref_valid_repository(const char *name, struct st_error *err)
{
	return check_path(name, strlen(name), err);
}

void st_ref_release(struct st_ref *r)
{
	if (!r)
		return;
	free(r->domain);
	free(r->path);
	free(r->tag);
	memset(r, 0, sizeof(*r));
}

/* Splits s into domain and remainder as splitDockerDomain does; *rem is malloc'd. */
static int split_domain(const char *s, char **domain, char **rem, struct st_error *err)
{
	const char *slash = strchr(s, '/');
	const char *d = ST_REF_DEFAULT_DOMAIN;
	const char *r = s;
	size_t dlen = strlen(d);
	cleanup_free char *dom = NULL, *out = NULL;

	if (slash) {
		size_t n = (size_t)(slash - s);
		bool is_domain = (n == 9 && memcmp(s, "localhost", 9) == 0) || memchr(s, '.', n) ||
		                 memchr(s, ':', n) || has_upper(s, n);
		if (n == strlen(LEGACY_DOMAIN) && memcmp(s, LEGACY_DOMAIN, n) == 0) {
			r = slash + 1;
		} else if (is_domain) {
			d = s;
			dlen = n;
			r = slash + 1;
		}
	}
	dom = st_strndup(d, dlen);
	/* official images: docker.io/busybox is docker.io/library/busybox */
	if (dlen == strlen(ST_REF_DEFAULT_DOMAIN) && memcmp(d, ST_REF_DEFAULT_DOMAIN, dlen) == 0 &&
	    !strchr(r, '/')) {
		size_t n = strlen(r);
		out = malloc(strlen(OFFICIAL_PREFIX) + n + 1);
		if (out) {
			memcpy(out, OFFICIAL_PREFIX, strlen(OFFICIAL_PREFIX));
			memcpy(out + strlen(OFFICIAL_PREFIX), r, n + 1);
		}
	} else {
		out = strdup(r);
	}
	if (!dom || !out)
		return st_error_set(err, ST_ENOMEM, "out of memory parsing a reference");
	*domain = take_ptr(&dom);
	*rem = take_ptr(&out);
	return 0;
}

/* Parses "path[:tag][@digest]" into r (domain already set). */
static int parse_remainder(const char *rem, struct st_ref *r, struct st_error *err)
{
	size_t path_len = strcspn(rem, ":@");
	const char *p = rem + path_len;
	int rc;

	rc = check_path(rem, path_len, err);
	if (rc < 0)
		return rc;
	r->path = st_strndup(rem, path_len);
	if (!r->path)
		return st_error_set(err, ST_ENOMEM, "out of memory parsing a reference");
	if (*p == ':') {
		size_t tag_len = strcspn(p + 1, "@");
		r->tag = st_strndup(p + 1, tag_len);
		if (!r->tag)
			return st_error_set(err, ST_ENOMEM, "out of memory parsing a reference");
		if (!st_ref_valid_tag(r->tag))
			return st_error_set(err, ST_EINVALID,
			                    BAD
			                    "tag (%s) is invalid: use up to 128 of [A-Za-z0-9_.-], "
			                    "not starting with '.' or '-'",
			                    r->tag);
		p += 1 + tag_len;
	}
	if (*p == '@') {
		rc = st_digest_parse_str(p + 1, &r->digest, err);
		if (rc < 0)
			return st_error_wrap(err, BAD "digest");
		r->has_digest = true;
	}
	return 0;
}

int st_ref_parse(const char *s, struct st_ref *out, struct st_error *err)
{
	struct st_ref r = {0};
	cleanup_free char *rem = NULL;
	int rc;

	if (!*s || *s == ':' || *s == '@')
		return st_error_set(err, ST_EINVALID,
		                    BAD "repository name must have at least one component");
	if (is_hex64(s))
		return st_error_set(
		        err, ST_EINVALID,
		        "invalid repository name (%s), cannot specify 64-byte hexadecimal "
		        "strings",
		        s);
	rc = split_domain(s, &r.domain, &rem, err);
	if (rc < 0)
		return rc;
	if (!valid_domain(r.domain, strlen(r.domain))) {
		rc = st_error_set(err, ST_EINVALID, BAD "domain (%s) is not a valid host[:port]",
		                  r.domain);
		goto fail;
	}
	rc = parse_remainder(rem, &r, err);
	if (rc < 0)
		goto fail;
	if (!r.tag && !r.has_digest) {
		r.tag = strdup(ST_REF_DEFAULT_TAG);
		if (!r.tag) {
			rc = st_error_set(err, ST_ENOMEM, "out of memory parsing a reference");
			goto fail;
		}
	}
	*out = r;
	return 0;
fail:
	st_ref_release(&r);
	return rc;
}

int st_ref_copy(struct st_ref *dst, const struct st_ref *src, struct st_error *err)
{
	struct st_ref r = {0};

	r.domain = strdup(src->domain);
	r.path = strdup(src->path);
	r.tag = src->tag ? strdup(src->tag) : NULL;
	r.has_digest = src->has_digest;
	r.digest = src->digest;
	if (!r.domain || !r.path || (src->tag && !r.tag)) {
		st_ref_release(&r);
		return st_error_set(err, ST_ENOMEM, "out of memory copying a reference");
	}
	*dst = r;
	return 0;
}

int st_ref_set_tag(struct st_ref *r, const char *tag, struct st_error *err)
{
	char *t = NULL;

	if (tag) {
		if (!st_ref_valid_tag(tag))
			return st_error_set(err, ST_EINVALID, BAD "tag (%s) is invalid", tag);
		t = strdup(tag);
		if (!t)
			return st_error_set(err, ST_ENOMEM, "out of memory");
	}
	free(r->tag);
	r->tag = t;
	return 0;
}

static bool str_eq_opt(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

bool st_ref_equal(const struct st_ref *a, const struct st_ref *b)
{
	return str_eq_opt(a->domain, b->domain) && str_eq_opt(a->path, b->path) &&
	       str_eq_opt(a->tag, b->tag) && a->has_digest == b->has_digest &&
	       (!a->has_digest || st_digest_equal(&a->digest, &b->digest));
}

static int add_suffix(const struct st_ref *r, unsigned flags, struct st_buf *out,
                      struct st_error *err)
{
	char dg[ST_DIGEST_STR_MAX];
	int rc;

	if (r->tag && !(flags & ST_REF_FORMAT_NO_TAG)) {
		if ((rc = st_buf_addch(out, ':', err)) < 0 ||
		    (rc = st_buf_adds(out, r->tag, err)) < 0)
			return rc;
	}
	if (r->has_digest && !(flags & ST_REF_FORMAT_NO_DIGEST)) {
		st_digest_str(&r->digest, dg);
		if ((rc = st_buf_addch(out, '@', err)) < 0 || (rc = st_buf_adds(out, dg, err)) < 0)
			return rc;
	}
	return 0;
}

int st_ref_repo_name(const struct st_ref *r, struct st_buf *out, struct st_error *err)
{
	return st_buf_addf(out, err, "%s/%s", r->domain, r->path);
}

int st_ref_format(const struct st_ref *r, unsigned flags, struct st_buf *out, struct st_error *err)
{
	int rc = st_ref_repo_name(r, out, err);

	return rc < 0 ? rc : add_suffix(r, flags, out, err);
}

int st_ref_familiar(const struct st_ref *r, unsigned flags, struct st_buf *out,
                    struct st_error *err)
{
	const char *path = r->path;
	size_t first = strcspn(path, "/");
	/* Docker drops docker.io even when the first path component would then read as a
	 * domain ("docker.io/a.b/c" would become "a.b/c", another image): keep it there */
	bool looks_like_domain =
	        memchr(path, '.', first) || (first == 9 && memcmp(path, "localhost", 9) == 0);
	int rc;

	if (strcmp(r->domain, ST_REF_DEFAULT_DOMAIN) != 0 || (path[first] && looks_like_domain)) {
		rc = st_ref_repo_name(r, out, err);
	} else {
		/* "library/x" is shown as "x", but "library/x/y" stays as it is */
		if (st_str_has_prefix(path, OFFICIAL_PREFIX) &&
		    !strchr(path + strlen(OFFICIAL_PREFIX), '/'))
			path += strlen(OFFICIAL_PREFIX);
		rc = st_buf_adds(out, path, err);
	}
	return rc < 0 ? rc : add_suffix(r, flags, out, err);
}
