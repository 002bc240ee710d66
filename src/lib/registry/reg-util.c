/* reg-util.c: the registry client's pure helpers: its config file, URL and scope building, the
 * retry policy, base64, and the record of which repositories hold which blobs (for mounts). */
#include "registry/registry-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "strata/ref.h"
#include "strata/store.h"
#include "util/cleanup.h"
#include "util/fs.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

#define MAX_CONF_SIZE (1u << 20)

/* ---- config ---- */

void st_reg_conf_init(struct st_reg_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->retries = 4;
	c->backoff_ms = 250;
	c->max_backoff_ms = 8000;
	c->timeout_s = 30;
	c->parallel = 6;
	c->chunk_size = 64u << 20;
}

void st_reg_conf_release(struct st_reg_conf *c)
{
	st_strv_release(&c->insecure);
}

static int parse_size(const char *s, uint64_t *out)
{
	char num[32];
	size_t n = strlen(s);
	uint64_t mult = 1;

	if (n == 0 || n >= sizeof(num))
		return -1;
	if (strchr("KMG", s[n - 1])) {
		mult = s[n - 1] == 'K' ? 1u << 10 : s[n - 1] == 'M' ? 1u << 20 : 1u << 30;
		n--;
	}
	memcpy(num, s, n);
	num[n] = '\0';
	if (st_parse_u64(num, out) < 0 || *out > UINT64_MAX / mult)
		return -1;
	*out *= mult;
	return 0;
}

static int set_uint(const char *v, unsigned lo, unsigned hi, unsigned *out)
{
	uint64_t x;

	if (st_parse_u64(v, &x) < 0 || x < lo || x > hi)
		return -1;
	*out = (unsigned)x;
	return 0;
}

/* One "key value..." line, split into words in place. */
static int conf_line(struct st_reg_conf *c, char *line, size_t lineno, struct st_error *err)
{
	char *words[64], *save = NULL;
	size_t n = 0;
	int rc = 0;

	for (char *w = strtok_r(line, " \t\r", &save); w && n < 64;
	     w = strtok_r(NULL, " \t\r", &save))
		words[n++] = w;
	if (n == 0)
		return 0;
	if (strcmp(words[0], "insecure") == 0) {
		for (size_t i = 1; i < n && rc == 0; i++)
			rc = st_strv_push(&c->insecure, words[i], strlen(words[i]), err);
		return rc;
	}
	if (n != 2)
		rc = -1;
	else if (strcmp(words[0], "retries") == 0)
		rc = set_uint(words[1], 0, 100, &c->retries);
	else if (strcmp(words[0], "backoff-ms") == 0)
		rc = set_uint(words[1], 0, 600000, &c->backoff_ms);
	else if (strcmp(words[0], "max-backoff-ms") == 0)
		rc = set_uint(words[1], 0, 600000, &c->max_backoff_ms);
	else if (strcmp(words[0], "timeout") == 0)
		rc = set_uint(words[1], 1, 86400, &c->timeout_s);
	else if (strcmp(words[0], "parallel") == 0)
		rc = set_uint(words[1], 1, 64, &c->parallel);
	else if (strcmp(words[0], "chunk-size") == 0)
		rc = parse_size(words[1], &c->chunk_size) < 0 || c->chunk_size < 4096 ? -1 : 0;
	else
		return st_error_set(err, ST_EINVALID, "line %zu: unknown key '%s'", lineno,
		                    words[0]);
	if (rc < 0)
		return st_error_set(err, ST_EINVALID, "line %zu: bad value for '%s'", lineno,
		                    words[0]);
	return 0;
}

int st_reg_conf_parse(struct st_reg_conf *c, const char *text, size_t len, struct st_error *err)
{
	cleanup_free char *copy = st_strndup(text, len);
	char *line, *next;
	size_t lineno = 0;
	int rc;

	if (!copy)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	for (line = copy; line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		if (strchr(line, '#'))
			*strchr(line, '#') = '\0';
		rc = conf_line(c, line, lineno, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int st_reg_conf_load(struct st_reg_conf *c, const char *path, struct st_error *err)
{
	cleanup_buf struct st_buf text = ST_BUF_INIT;
	int rc;

	if (!path)
		path = getenv("STRATA_CONFIG");
	if (!path || !*path)
		path = "/etc/strata/registries.conf";
	rc = st_read_file_at(AT_FDCWD, path, &text, MAX_CONF_SIZE, err);
	if (rc == -ST_ENOTFOUND)
		return 0;
	if (rc < 0)
		return rc;
	rc = st_reg_conf_parse(c, text.data, text.len, err);
	return rc < 0 ? st_error_wrap(err, "%s", path) : 0;
}

/* The host part of "host", "host:port", "[v6]:port". */
static size_t host_len(const char *domain)
{
	const char *colon;

	if (domain[0] == '[') {
		colon = strchr(domain, ']');
		return colon ? (size_t)(colon - domain) + 1 : strlen(domain);
	}
	colon = strchr(domain, ':');
	return colon ? (size_t)(colon - domain) : strlen(domain);
}

bool st_reg_conf_insecure(const struct st_reg_conf *c, const char *domain)
{
	size_t hl = host_len(domain);

	/* Docker allows plain HTTP to localhost and 127.0.0.0/8 out of the box */
	if ((hl == 9 && strncmp(domain, "localhost", 9) == 0) ||
	    (hl == 5 && strncmp(domain, "[::1]", 5) == 0) || strncmp(domain, "127.", 4) == 0)
		return true;
	for (size_t i = 0; c && i < c->insecure.n; i++) {
		const char *e = c->insecure.v[i];
		if (strcmp(e, domain) == 0 || (strlen(e) == hl && strncmp(e, domain, hl) == 0))
			return true;
	}
	return false;
}

/* ---- URLs ---- */

const char *st_reg_api_host(const char *domain)
{
	return strcmp(domain, ST_REF_DEFAULT_DOMAIN) == 0 ? "registry-1.docker.io" : domain;
}

const char *st_reg_auth_key(const char *domain)
{
	return strcmp(domain, ST_REF_DEFAULT_DOMAIN) == 0 ? "https://index.docker.io/v1/" : domain;
}

int st_reg_url(const char *base, const char *repo, const char *kind, const char *ref,
               struct st_buf *out, struct st_error *err)
{
	if (ref)
		return st_buf_addf(out, err, "%s/v2/%s/%s/%s", base, repo, kind, ref);
	return st_buf_addf(out, err, "%s/v2/%s/%s", base, repo, kind);
}

int st_reg_upload_url(const char *base, const char *location, const char *query, struct st_buf *out,
                      struct st_error *err)
{
	int rc;

	if (st_str_has_prefix(location, "http://") || st_str_has_prefix(location, "https://"))
		rc = st_buf_adds(out, location, err);
	else if (location[0] == '/')
		rc = st_buf_addf(out, err, "%s%s", base, location);
	else
		return st_error_set(err, ST_ENET, "upload location '%s' is not a URL", location);
	if (rc < 0 || !query)
		return rc;
	return st_buf_addf(out, err, "%c%s", strchr(location, '?') ? '&' : '?', query);
}

int st_reg_scope(const char *repo, const char *actions, struct st_buf *out, struct st_error *err)
{
	return st_buf_addf(out, err, "repository:%s:%s", repo, actions);
}

int st_reg_urlencode(const char *s, struct st_buf *out, struct st_error *err)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		int rc;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr("-._~", ch))
			rc = st_buf_addch(out, (char)ch, err);
		else
			rc = st_buf_addf(out, err, "%%%c%c", hex[ch >> 4], hex[ch & 15]);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int st_reg_token_url(const struct st_reg_challenge *c, const char *const *scopes, size_t n,
                     struct st_buf *out, struct st_error *err)
{
	const char *realm = st_reg_challenge_param(c, "realm");
	const char *service = st_reg_challenge_param(c, "service");
	char sep;

	if (!realm || !*realm)
		return st_error_set(err, ST_EAUTH, "Bearer challenge without a realm");
	if (!st_str_has_prefix(realm, "https://") && !st_str_has_prefix(realm, "http://"))
		return st_error_set(err, ST_EINVALID, "token realm '%s' is not an http(s) URL",
		                    realm);
	if (st_buf_adds(out, realm, err) < 0)
		return -ST_ENOMEM;
	sep = strchr(realm, '?') ? '&' : '?';
	if (service) {
		if (st_buf_addf(out, err, "%cservice=", sep) < 0 ||
		    st_reg_urlencode(service, out, err) < 0)
			return -ST_ENOMEM;
		sep = '&';
	}
	for (size_t i = 0; i < n; i++) {
		if (st_buf_addf(out, err, "%cscope=", sep) < 0 ||
		    st_reg_urlencode(scopes[i], out, err) < 0)
			return -ST_ENOMEM;
		sep = '&';
	}
	return 0;
}

/* ---- retries ---- */

static long retry_after_ms(const char *v, time_t now)
{
	uint64_t secs;
	struct tm tm;
	const char *end;

	if (st_parse_u64(v, &secs) == 0)
		return secs > 3600 ? 3600000L : (long)secs * 1000;
	memset(&tm, 0, sizeof(tm));
	end = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (!end || *end)
		return -1;
	secs = (uint64_t)(timegm(&tm) > now ? timegm(&tm) - now : 0);
	return secs > 3600 ? 3600000L : (long)secs * 1000;
}

long st_reg_retry_delay(const struct st_reg_conf *c, unsigned attempt, long status,
                        const char *retry_after, time_t now)
{
	long delay;

	if (attempt == 0 || attempt > c->retries)
		return -1;
	/* connection errors and timeouts (0), 408, 429 and 5xx other than 501/505 are transient */
	if (!(status == 0 || status == 408 || status == 429 ||
	      (status >= 500 && status <= 599 && status != 501 && status != 505)))
		return -1;
	delay = (long)c->backoff_ms;
	for (unsigned i = 1; i < attempt && delay < (long)c->max_backoff_ms; i++)
		delay *= 2;
	if (delay > (long)c->max_backoff_ms)
		delay = (long)c->max_backoff_ms;
	if (retry_after && (status == 429 || status == 503)) {
		long ra = retry_after_ms(retry_after, now);
		if (ra >= 0)
			delay = ra;
	}
	return delay;
}

/* ---- base64 ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int st_reg_base64_encode(const void *p, size_t len, struct st_buf *out, struct st_error *err)
{
	const unsigned char *s = p;

	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)s[i] << 16;
		char q[4];
		if (i + 1 < len)
			v |= (unsigned)s[i + 1] << 8;
		if (i + 2 < len)
			v |= s[i + 2];
		q[0] = b64[(v >> 18) & 63];
		q[1] = b64[(v >> 12) & 63];
		q[2] = i + 1 < len ? b64[(v >> 6) & 63] : '=';
		q[3] = i + 2 < len ? b64[v & 63] : '=';
		if (st_buf_add(out, q, 4, err) < 0)
			return -ST_ENOMEM;
	}
	return 0;
}

static int b64val(char c)
{
	const char *p = c ? strchr(b64, c) : NULL;

	return p ? (int)(p - b64) : -1;
}

int st_reg_base64_decode(const char *s, size_t len, struct st_buf *out, struct st_error *err)
{
	if (len % 4)
		return st_error_set(err, ST_EINVALID, "base64: length %zu is not a multiple of 4",
		                    len);
	for (size_t i = 0; i < len; i += 4) {
		int v[4], pad = 0;
		unsigned char o[3];
		for (int k = 0; k < 4; k++) {
			bool last = i + 4 == len;
			if (last && s[i + k] == '=' && k >= 2 && (k == 3 || s[i + 3] == '=')) {
				v[k] = 0;
				pad++;
				continue;
			}
			v[k] = b64val(s[i + k]);
			if (v[k] < 0 || pad)
				return st_error_set(err, ST_EINVALID,
				                    "base64: bad character at %zu", i + (size_t)k);
		}
		o[0] = (unsigned char)(v[0] << 2 | v[1] >> 4);
		o[1] = (unsigned char)((v[1] & 15) << 4 | v[2] >> 2);
		o[2] = (unsigned char)((v[2] & 3) << 6 | v[3]);
		if (st_buf_add(out, o, (size_t)(3 - pad), err) < 0)
			return -ST_ENOMEM;
	}
	return 0;
}

/* ---- blob sources: registry/sources/<hex> holds "domain/path" lines ---- */

static int sources_dir(struct st_store *store, struct st_error *err)
{
	int rc = st_mkdir_p(st_store_root_fd(store), "registry/sources", 0755, err);

	return rc < 0 ? rc : st_open_dir_at(st_store_root_fd(store), "registry/sources", err);
}

void st_reg_sources_add(struct st_store *store, const struct st_digest *d, const char *repo_name)
{
	cleanup_fd int dfd = sources_dir(store, NULL);
	cleanup_fd int fd = -1;
	cleanup_buf struct st_buf cur = ST_BUF_INIT;
	char hex[ST_DIGEST_HEX_MAX + 1];
	size_t n = strlen(repo_name);

	if (dfd < 0)
		return;
	st_digest_hex(d, hex);
	if (st_read_file_at(dfd, hex, &cur, 1u << 20, NULL) == 0)
		for (const char *l = cur.data; l && *l;
		     l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
			if (strncmp(l, repo_name, n) == 0 && l[n] == '\n')
				return;
	/* O_APPEND writes of one short line are atomic enough for a hint */
	fd = openat(dfd, hex, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return;
	cur.len = 0;
	if (st_buf_addf(&cur, NULL, "%s\n", repo_name) == 0)
		(void)st_write_all(fd, cur.data, cur.len, NULL);
}

int st_reg_sources_find(struct st_store *store, const struct st_digest *d, const char *domain,
                        const char *path, struct st_buf *out, struct st_error *err)
{
	cleanup_fd int dfd = sources_dir(store, NULL);
	cleanup_buf struct st_buf cur = ST_BUF_INIT;
	char hex[ST_DIGEST_HEX_MAX + 1];
	size_t dl = strlen(domain);

	st_digest_hex(d, hex);
	if (dfd < 0 || st_read_file_at(dfd, hex, &cur, 1u << 20, NULL) < 0)
		return -ST_ENOTFOUND;
	for (char *l = cur.data, *next; l && *l; l = next) {
		next = strchr(l, '\n');
		if (next)
			*next++ = '\0';
		if (strncmp(l, domain, dl) == 0 && l[dl] == '/' && strcmp(l + dl + 1, path) != 0 &&
		    st_ref_valid_repository(l + dl + 1, NULL) == 0)
			return st_buf_adds(out, l + dl + 1, err);
	}
	return -ST_ENOTFOUND;
}
