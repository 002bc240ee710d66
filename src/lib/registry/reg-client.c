/* reg-client.c: the HTTP client of one registry: scheme discovery (HTTPS, and plain HTTP where
 * allowed, as Docker), one request with auth and retries, and errors that name the registry,
 * the repository and the registry's own error code. */
#include "registry/reg-curl.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "strata/ref.h"
#include "util/cleanup.h"
#include "util/json.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

#define DEFAULT_MAX_BODY (64u << 10)

void st_reg_curl_common(struct st_reg_client *c, CURL *h)
{
	curl_easy_setopt(h, CURLOPT_USERAGENT, "strata/0.1");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)c->conf.timeout_s);
	/* a transfer that moves less than 1 byte/s for timeout_s seconds has stalled */
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)c->conf.timeout_s);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, c->verify ? 1L : 0L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, c->verify ? 2L : 0L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_SHARE, c->share);
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, NULL);
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *ctx)
{
	struct st_reg_client *c = ctx;

	(void)h;
	(void)access;
	pthread_mutex_lock(&c->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *ctx)
{
	struct st_reg_client *c = ctx;

	(void)h;
	pthread_mutex_unlock(&c->share_locks[data]);
}

int st_reg_client_new(const char *domain, const struct st_registry_opts *opts,
                      struct st_reg_client **out, struct st_error *err)
{
	struct st_reg_client *c;
	int rc = st_curl_load(err);

	if (rc < 0)
		return rc;
	c = calloc(1, sizeof(*c));
	if (!c)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	pthread_mutex_init(&c->auth_lock, NULL);
	pthread_mutex_init(&c->base_lock, NULL);
	pthread_mutex_init(&c->report_lock, NULL);
	for (size_t i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&c->share_locks[i], NULL);
	st_reg_conf_init(&c->conf);
	if (opts)
		c->opts = *opts;
	c->domain = strdup(domain);
	c->easy = curl_easy_init();
	c->share = curl_share_init();
	if (!c->domain || !c->easy || !c->share) {
		st_reg_client_free(c);
		return st_error_set(err, ST_ENOMEM, "out of memory");
	}
	curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	rc = st_reg_conf_load(&c->conf, c->opts.config_file, err);
	if (rc < 0) {
		st_reg_client_free(c);
		return rc;
	}
	c->insecure =
	        c->opts.tls_verify == ST_TLS_NO_VERIFY ||
	        (c->opts.tls_verify == ST_TLS_DEFAULT && st_reg_conf_insecure(&c->conf, domain));
	c->verify = !c->insecure;
	if (c->opts.username) {
		c->cred.username = strdup(c->opts.username);
		c->cred.secret = strdup(c->opts.password ? c->opts.password : "");
		c->have_cred = c->cred.username && c->cred.secret;
	} else {
		rc = st_reg_creds_lookup(&c->opts, domain, &c->cred, err);
		if (rc < 0 && rc != -ST_ENOTFOUND) {
			st_reg_client_free(c);
			return rc;
		}
		c->have_cred = rc == 0;
	}
	*out = c;
	return 0;
}

void st_reg_client_free(struct st_reg_client *c)
{
	if (!c)
		return;
	st_reg_conf_release(&c->conf);
	st_reg_cred_release(&c->cred);
	st_reg_challenges_free(c->bearer, c->n_bearer);
	for (size_t i = 0; i < c->n_tokens; i++) {
		free(c->tokens[i].scope);
		free(c->tokens[i].token);
	}
	free(c->tokens);
	free(c->refresh_token);
	curl_easy_cleanup(c->easy);
	curl_share_cleanup(c->share);
	pthread_mutex_destroy(&c->auth_lock);
	pthread_mutex_destroy(&c->base_lock);
	pthread_mutex_destroy(&c->report_lock);
	for (size_t i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&c->share_locks[i]);
	free(c->domain);
	free(c->base);
	free(c);
}

const struct st_reg_conf *st_reg_client_conf(const struct st_reg_client *c)
{
	return &c->conf;
}

const char *st_reg_client_domain(const struct st_reg_client *c)
{
	return c->domain;
}

const struct st_registry_opts *st_reg_client_opts(const struct st_reg_client *c)
{
	return &c->opts;
}

void st_reg_report(struct st_reg_client *c, enum st_reg_state state, enum st_reg_kind kind,
                   const struct st_digest *d, uint64_t done, uint64_t total)
{
	struct st_reg_progress p = {state, kind, *d, done, total};

	if (!c->opts.progress)
		return;
	pthread_mutex_lock(&c->report_lock);
	c->opts.progress(&p, c->opts.progress_ctx);
	pthread_mutex_unlock(&c->report_lock);
}

void st_reg_resp_release(struct st_reg_resp *r)
{
	st_buf_release(&r->body);
	free(r->location);
	free(r->content_type);
	free(r->docker_digest);
	free(r->oci_subject);
	memset(r, 0, sizeof(*r));
}

/* ---- one attempt ---- */

struct body_src {
	const struct st_reg_req *rq;
	uint64_t pos;
	struct st_reg_client *c;
};

static size_t read_body(char *p, size_t size, size_t n, void *ctx)
{
	struct body_src *b = ctx;
	const struct st_reg_req *rq = b->rq;
	uint64_t total = rq->body ? rq->body_len : rq->fd_len;
	size_t want = size * n;
	ssize_t got;

	if (b->pos >= total)
		return 0;
	if (want > total - b->pos)
		want = (size_t)(total - b->pos);
	if (rq->cancel && atomic_load(rq->cancel))
		return CURL_READFUNC_ABORT;
	if (rq->body) {
		memcpy(p, (const char *)rq->body + b->pos, want);
		got = (ssize_t)want;
	} else {
		got = pread(rq->body_fd, p, want, (off_t)(rq->fd_offset + b->pos));
		if (got <= 0)
			return CURL_READFUNC_ABORT;
	}
	b->pos += (uint64_t)got;
	if (rq->digest && rq->kind != ST_REG_BLOB_MANIFEST)
		st_reg_report(b->c, ST_REG_UPLOADING, rq->kind, rq->digest, rq->fd_offset + b->pos,
		              0);
	return (size_t)got;
}

static int seek_body(void *ctx, curl_off_t off, int origin)
{
	struct body_src *b = ctx;

	if (origin != SEEK_SET || off < 0)
		return CURL_SEEKFUNC_CANTSEEK;
	b->pos = (uint64_t)off;
	return CURL_SEEKFUNC_OK;
}

static size_t write_resp(char *p, size_t size, size_t n, void *ctx)
{
	struct st_buf *b = ctx;

	/* a body past the cap fails the transfer: registries' answers are small */
	return st_buf_add(b, p, size * n, NULL) < 0 ? 0 : size * n;
}

static char *header_dup(CURL *h, const char *name, bool strip_params)
{
	const char *v = st_reg_curl_header(h, name);

	if (!v)
		return NULL;
	return st_strndup(v, strip_params ? strcspn(v, "; ") : strlen(v));
}

static int add_header(struct curl_slist **hdrs, const char *name, const char *v)
{
	char line[512];
	struct curl_slist *n;

	if ((size_t)snprintf(line, sizeof(line), "%s:%s%s", name, *v ? " " : "", v) >= sizeof(line))
		return -1;
	n = curl_slist_append(*hdrs, line);
	if (!n)
		return -1;
	*hdrs = n;
	return 0;
}

static void set_method(CURL *h, const struct st_reg_req *rq, struct body_src *src)
{
	bool has_body = rq->body || rq->body_fd >= 0;

	if (strcmp(rq->method, "HEAD") == 0) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (has_body) {
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		/* large reads: fewer callbacks and syscalls for layer uploads */
		curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, 2L << 20);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE,
		                 (curl_off_t)(rq->body ? rq->body_len : rq->fd_len));
		curl_easy_setopt(h, CURLOPT_READFUNCTION, read_body);
		curl_easy_setopt(h, CURLOPT_READDATA, src);
		curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, seek_body);
		curl_easy_setopt(h, CURLOPT_SEEKDATA, src);
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
	} else if (strcmp(rq->method, "POST") == 0) {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
	} else if (strcmp(rq->method, "GET") != 0) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
	}
	/* registries may redirect blob GETs to storage; never follow on writes */
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, strcmp(rq->method, "GET") == 0 ? 1L : 0L);
}

static int build_headers(struct st_reg_client *c, const struct st_reg_req *rq,
                         struct curl_slist **hdrs, struct st_error *err)
{
	if ((rq->accept && add_header(hdrs, "Accept", rq->accept) < 0) ||
	    (rq->content_type && add_header(hdrs, "Content-Type", rq->content_type) < 0) ||
	    (rq->content_range && add_header(hdrs, "Content-Range", rq->content_range) < 0) ||
	    add_header(hdrs, "Expect", "") < 0)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	return st_reg_auth_header(c, rq->scope, hdrs, err);
}

/* One attempt: *cc gets curl's result; the response is filled when a status came back. */
static int attempt(struct st_reg_client *c, CURL *h, const char *url, const struct st_reg_req *rq,
                   struct st_reg_resp *rs, CURLcode *cc, struct st_error *err)
{
	struct curl_slist *hdrs = NULL;
	struct body_src src = {rq, 0, c};
	curl_off_t cl = -1;
	int rc;

	st_reg_resp_release(rs);
	st_buf_init(&rs->body, rq->max_body ? rq->max_body : DEFAULT_MAX_BODY);
	rc = build_headers(c, rq, &hdrs, err);
	if (rc < 0) {
		curl_slist_free_all(hdrs);
		return rc;
	}
	curl_easy_reset(h);
	st_reg_curl_common(c, h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_resp);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &rs->body);
	set_method(h, rq, &src);
	*cc = curl_easy_perform(h);
	curl_slist_free_all(hdrs);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &rs->status);
	if (*cc != CURLE_OK && rs->status == 0)
		return 0;
	rs->location = header_dup(h, "Location", false);
	rs->content_type = header_dup(h, "Content-Type", true);
	rs->docker_digest = header_dup(h, "Docker-Content-Digest", false);
	rs->oci_subject = header_dup(h, "OCI-Subject", false);
	curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
	rs->content_length = cl > 0 ? (uint64_t)cl : 0;
	return 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Is the registry on this machine (localhost, 127.0.0.0/8, [::1])? */
static bool is_loopback(const char *domain)
{
	size_t hl = strcspn(domain, "/");
	const char *colon = domain[0] == '[' ? NULL : memchr(domain, ':', hl);

	if (colon)
		hl = (size_t)(colon - domain);
	else if (domain[0] == '[')
		hl = strcspn(domain, "]") + 1;
	return (hl == 9 && strncmp(domain, "localhost", 9) == 0) ||
	       (hl == 5 && strncmp(domain, "[::1]", 5) == 0) || strncmp(domain, "127.", 4) == 0;
}

/* Did this /v2/ answer come from a registry (not, say, an HTTPS server refusing plain HTTP)? */
static bool registry_answer(long status)
{
	return status == 200 || status == 401;
}

/* Tries HTTPS, then plain HTTP where allowed: the first that answers /v2/ is the base. The
 * answer also tells whether the registry wants auth. A registry on this machine is tried over
 * plain HTTP first (Docker's default there), which saves a TLS setup (CA bundle load and a
 * refused handshake, ~3 ms); HTTPS follows when that is not a registry's answer. */
static int discover(struct st_reg_client *c, struct st_error *err)
{
	static const char *const https_first[] = {"https", "http"};
	static const char *const http_first[] = {"http", "https"};
	const bool local = c->insecure && is_loopback(c->domain);
	const char *const *schemes = local ? http_first : https_first;
	struct st_reg_resp rs = {0};
	struct st_reg_req rq = ST_REG_REQ_INIT;
	cleanup_buf struct st_buf url = ST_BUF_INIT;
	CURLcode cc = CURLE_OK;
	const char *host = st_reg_api_host(c->domain);
	unsigned attempt_no = 0;
	long delay, http_status = 0;

	rq.method = "GET";
	for (;;) {
		http_status = 0;
		for (size_t i = 0; i < (c->insecure ? 2u : 1u); i++) {
			st_buf_reset(&url);
			if (st_buf_addf(&url, err, "%s://%s/v2/", schemes[i], host) < 0)
				return -ST_ENOMEM;
			if (attempt(c, c->easy, url.data, &rq, &rs, &cc, err) < 0)
				return -ST_ENOMEM;
			if (local && i == 0 && rs.status != 0 && !registry_answer(rs.status)) {
				http_status = rs.status;
				continue;
			}
			if (rs.status == 0 && http_status) {
				/* HTTPS is not there either: the plain HTTP server is the one */
				st_buf_reset(&url);
				if (st_buf_addf(&url, err, "http://%s/v2/", host) < 0)
					return -ST_ENOMEM;
				rs.status = http_status;
			}
			if (rs.status != 0) {
				c->base = st_strndup(url.data, url.len - 4);
				if (rs.status == 401) {
					st_reg_auth_learn(c, c->easy, NULL, NULL);
				} else {
					pthread_mutex_lock(&c->auth_lock);
					c->auth = ST_AUTH_NONE;
					pthread_mutex_unlock(&c->auth_lock);
				}
				st_reg_resp_release(&rs);
				return c->base ? 0 : st_error_set(err, ST_ENOMEM, "out of memory");
			}
		}
		st_reg_resp_release(&rs);
		delay = st_reg_retry_delay(&c->conf, ++attempt_no, 0, NULL, time(NULL));
		if (delay < 0)
			return st_error_set(
			        err, ST_ENET, "registry %s: %s%s", c->domain,
			        curl_easy_strerror(cc),
			        c->insecure ? ""
			                    : " (plain HTTP is not tried: list the registry as "
			                      "insecure, or use --tls-verify=false)");
		sleep_ms(delay);
	}
}

int st_reg_client_check(struct st_reg_client *c, struct st_error *err)
{
	struct st_reg_req rq = ST_REG_REQ_INIT;
	struct st_reg_resp rs = {0};
	int rc;

	rq.method = "GET";
	rq.url = "/v2/";
	rq.what = "/v2/";
	rc = st_reg_do(c, &rq, &rs, err);
	if (rc == 0 && rs.status != 200)
		rc = st_reg_status_error(c, &rq, &rs, err);
	st_reg_resp_release(&rs);
	return rc;
}

static int full_url(struct st_reg_client *c, const char *u, struct st_buf *out,
                    struct st_error *err)
{
	if (u[0] == '/')
		return st_buf_addf(out, err, "%s%s", c->base, u);
	return st_buf_adds(out, u, err);
}

/* The base URL, found once (by whichever thread asks first). */
static int ensure_base(struct st_reg_client *c, struct st_error *err)
{
	int rc = 0;

	pthread_mutex_lock(&c->base_lock);
	if (!c->base)
		rc = discover(c, err);
	pthread_mutex_unlock(&c->base_lock);
	return rc;
}

static bool cancelled(const struct st_reg_req *rq)
{
	return rq->cancel && atomic_load(rq->cancel);
}

int st_reg_do(struct st_reg_client *c, const struct st_reg_req *rq, struct st_reg_resp *rs,
              struct st_error *err)
{
	return st_reg_do_on(c, NULL, rq, rs, err);
}

int st_reg_do_on(struct st_reg_client *c, CURL *h, const struct st_reg_req *rq,
                 struct st_reg_resp *rs, struct st_error *err)
{
	cleanup_buf struct st_buf url = ST_BUF_INIT;
	bool auth_retried = false;
	unsigned attempt_no = 0;
	CURLcode cc = CURLE_OK;
	long delay;
	int rc = ensure_base(c, err);

	if (rc < 0)
		return rc;
	if (!h)
		h = c->easy;
	if (full_url(c, rq->url, &url, err) < 0)
		return -ST_ENOMEM;
	for (;;) {
		rc = attempt(c, h, url.data, rq, rs, &cc, err);
		if (rc < 0)
			return rc;
		if (cancelled(rq))
			return st_error_set(err, ST_ENET, "registry %s: %s %s: cancelled",
			                    c->domain, rq->method, rq->what ? rq->what : url.data);
		if (rs->status == 401 && !auth_retried) {
			auth_retried = true;
			if (st_reg_auth_learn(c, h, rq->scope, err) > 0)
				continue;
		}
		if (cc == CURLE_OK && rs->status < 500 && rs->status != 429 && rs->status != 408)
			return 0;
		delay = st_reg_retry_delay(&c->conf, ++attempt_no, cc == CURLE_OK ? rs->status : 0,
		                           st_reg_curl_header(h, "Retry-After"), time(NULL));
		if (delay < 0)
			break;
		if (rq->digest)
			st_reg_report(c, ST_REG_RETRYING, rq->kind, rq->digest, 0, 0);
		sleep_ms(delay);
	}
	if (cc != CURLE_OK)
		return st_error_set(err, ST_ENET, "registry %s, repository %s: %s %s: %s",
		                    c->domain, rq->repo ? rq->repo : "-", rq->method,
		                    rq->what ? rq->what : url.data, curl_easy_strerror(cc));
	return 0;
}

/* The first {"errors": [{"code", "message"}]} entry of a registry's error body. */
static void registry_error(const struct st_buf *body, char *out, size_t len)
{
	cleanup_json json_t *j = NULL;
	json_t *e;
	const char *code, *msg;

	out[0] = '\0';
	if (body->len == 0 || st_json_parse(body->data, body->len, "error", &j, NULL) < 0)
		return;
	e = json_array_get(json_object_get(j, "errors"), 0);
	code = json_string_value(json_object_get(e, "code"));
	msg = json_string_value(json_object_get(e, "message"));
	if (code)
		snprintf(out, len, " %s%s%.200s", code, msg ? ": " : "", msg ? msg : "");
}

int st_reg_status_error(struct st_reg_client *c, const struct st_reg_req *rq,
                        const struct st_reg_resp *rs, struct st_error *err)
{
	char detail[256];
	const char *repo = rq->repo ? rq->repo : "-", *what = rq->what ? rq->what : rq->url;

	registry_error(&rs->body, detail, sizeof(detail));
	if (rs->status == 401 || rs->status == 403) {
		if (c->have_cred && c->cred.username)
			return st_error_set(
			        err, ST_EAUTH,
			        "registry %s, repository %s: %s: access denied for user "
			        "'%s' (HTTP %ld%s)",
			        c->domain, repo, what, c->cred.username, rs->status, detail);
		return st_error_set(err, ST_EAUTH,
		                    "registry %s, repository %s: %s: authentication required (HTTP "
		                    "%ld%s); log in with 'strata login %s'",
		                    c->domain, repo, what, rs->status, detail, c->domain);
	}
	if (rs->status == 404)
		return st_error_set(err, ST_ENOTFOUND,
		                    "registry %s, repository %s: %s: not found (HTTP 404%s)",
		                    c->domain, repo, what, detail);
	return st_error_set(err, ST_ENET, "registry %s, repository %s: %s %s: HTTP %ld%s",
	                    c->domain, repo, rq->method, what, rs->status, detail);
}
