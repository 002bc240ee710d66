/* registry/reg-curl.h: the parts of the HTTP client that speak libcurl, shared by the request
 * loop (reg-client.c), token auth (reg-auth.c) and the parallel blob fetcher (reg-fetch.c). */
#ifndef ST_REG_CURL_H
#define ST_REG_CURL_H

#include <pthread.h>

#include "registry/curl-api.h"

#include "registry/registry-internal.h"

struct st_reg_token {
	char *scope;
	char *token;
	time_t expires;
};

enum st_reg_auth_mode { ST_AUTH_UNKNOWN = 0, ST_AUTH_NONE, ST_AUTH_BASIC, ST_AUTH_BEARER };

/* A client may serve several threads at once (push uploads blobs in parallel, each thread on its
 * own easy handle): the auth state is behind auth_lock, the scheme discovery behind base_lock,
 * progress callbacks are serialised by report_lock, and the share handle locks per data kind. */
struct st_reg_client {
	struct st_reg_conf conf;
	struct st_registry_opts opts;
	char *domain;
	char *base; /* "https://host" or "http://host", once known */
	bool insecure;
	bool verify;
	struct st_reg_cred cred;
	bool have_cred;
	CURL *easy; /* the calling thread's requests; keeps its connection alive */
	CURLSH *share;
	pthread_mutex_t auth_lock, base_lock, report_lock;
	pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
	/* under auth_lock: */
	enum st_reg_auth_mode auth;
	struct st_reg_challenge *bearer; /* the last Bearer challenge (realm, service) */
	size_t n_bearer;
	struct st_reg_token *tokens;
	size_t n_tokens;
	char *refresh_token; /* from the token server, when it gave one */
};

/* Applies the options every request shares (TLS, timeouts, share handle, user agent). */
void st_reg_curl_common(struct st_reg_client *c, CURL *h);
/* One request as st_reg_do, on easy handle h (a worker thread's own; NULL: the client's). */
int st_reg_do_on(struct st_reg_client *c, CURL *h, const struct st_reg_req *rq,
                 struct st_reg_resp *rs, struct st_error *err);
/* Appends the Authorization header the client would send for `scope` (getting a token when
 * needed) to *hdrs. */
int st_reg_auth_header(struct st_reg_client *c, const char *scope, struct curl_slist **hdrs,
                       struct st_error *err);
/* Learns from a 401 response's WWW-Authenticate header (on handle h): the auth mode, and for
 * Bearer the challenge (dropping cached tokens of `scope` when the server refused them).
 * Returns 1 when retrying with fresh auth may help, 0 when not, or -ST_E... */
int st_reg_auth_learn(struct st_reg_client *c, CURL *h, const char *scope, struct st_error *err);
/* The value of response header `name` of the last request on h (borrowed), or NULL. */
const char *st_reg_curl_header(CURL *h, const char *name);

#endif
