/* reg-auth.c: Docker's registry auth: Basic, and Bearer tokens from the token server a 401's
 * WWW-Authenticate challenge names (realm, service, scope), cached per scope while valid, with
 * OAuth2 refresh tokens (config.json's identitytoken, or one the token server handed out). */
#include "registry/reg-curl.h"

#include <stdlib.h>
#include <string.h>

#include "util/cleanup.h"
#include "util/json.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

#define MAX_TOKEN_RESPONSE (1u << 20)
#define MAX_SCOPES 8

static size_t to_buf(char *p, size_t size, size_t n, void *ctx)
{
	struct st_buf *b = ctx;

	return st_buf_add(b, p, size * n, NULL) < 0 ? 0 : size * n;
}

const char *st_reg_curl_header(CURL *h, const char *name)
{
	struct curl_header *hv = NULL;

	if (curl_easy_header(h, name, 0, CURLH_HEADER, -1, &hv) != CURLHE_OK || !hv)
		return NULL;
	return hv->value;
}

static int basic_header(struct st_reg_client *c, struct curl_slist **hdrs, struct st_error *err)
{
	cleanup_buf struct st_buf up = ST_BUF_INIT, h = ST_BUF_INIT;
	struct curl_slist *n;

	if (!c->have_cred || !c->cred.username)
		return 0;
	if (st_buf_addf(&up, err, "%s:%s", c->cred.username, c->cred.secret ? c->cred.secret : "") <
	            0 ||
	    st_buf_adds(&h, "Authorization: Basic ", err) < 0 ||
	    st_reg_base64_encode(up.data, up.len, &h, err) < 0)
		return -ST_ENOMEM;
	n = curl_slist_append(*hdrs, h.data);
	if (!n)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	*hdrs = n;
	return 0;
}

static const char *cached_token(struct st_reg_client *c, const char *scope)
{
	time_t now = time(NULL);

	for (size_t i = 0; i < c->n_tokens; i++)
		if (strcmp(c->tokens[i].scope, scope) == 0 && c->tokens[i].expires > now)
			return c->tokens[i].token;
	return NULL;
}

static void drop_token(struct st_reg_client *c, const char *scope)
{
	for (size_t i = 0; i < c->n_tokens; i++)
		if (strcmp(c->tokens[i].scope, scope) == 0)
			c->tokens[i].expires = 0;
}

static int keep_token(struct st_reg_client *c, const char *scope, const char *token,
                      uint64_t expires_in, struct st_error *err)
{
	struct st_reg_token *v = realloc(c->tokens, (c->n_tokens + 1) * sizeof(*v));
	char *s = strdup(scope), *t = strdup(token);

	if (v)
		c->tokens = v;
	if (!v || !s || !t) {
		free(s);
		free(t);
		return st_error_set(err, ST_ENOMEM, "out of memory");
	}
	/* token spec: a lifetime under 60 s is taken as 60 s; keep a margin for clock and RTT */
	if (expires_in < 60)
		expires_in = 60;
	v[c->n_tokens].scope = s;
	v[c->n_tokens].token = t;
	v[c->n_tokens++].expires = time(NULL) + (time_t)expires_in - 10;
	return 0;
}

/* The token endpoint's answer: {"token"|"access_token", "expires_in", "refresh_token"}. */
static int parse_token(struct st_reg_client *c, const struct st_buf *body, const char **tok,
                       uint64_t *expires_in, json_t **out, struct st_error *err)
{
	const char *t = NULL, *at = NULL, *rt = NULL;
	json_t *j = NULL;
	int rc = st_json_parse(body->data, body->len, "token response", &j, err);

	if (rc < 0)
		return rc;
	if ((rc = st_json_get_str(j, "token", false, "token response", &t, err)) < 0 ||
	    (rc = st_json_get_str(j, "access_token", false, "token response", &at, err)) < 0 ||
	    (rc = st_json_get_str(j, "refresh_token", false, "token response", &rt, err)) < 0 ||
	    (rc = st_json_get_u64(j, "expires_in", false, "token response", expires_in, err)) < 0) {
		json_decref(j);
		return rc;
	}
	*tok = t && *t ? t : at;
	if (!*tok || !**tok) {
		json_decref(j);
		return st_error_set(err, ST_EAUTH, "registry %s: token response holds no token",
		                    c->domain);
	}
	if (rt && *rt) {
		free(c->refresh_token);
		c->refresh_token = strdup(rt);
	}
	*out = j;
	return 0;
}

/* The form of an OAuth2 refresh-token grant (Docker token spec, oauth.md). */
static int refresh_form(struct st_reg_client *c, const char *refresh, char **scopes, size_t n,
                        struct st_buf *form, struct st_error *err)
{
	const char *service = st_reg_challenge_param(&c->bearer[0], "service");

	if (st_buf_adds(form, "grant_type=refresh_token&client_id=strata&refresh_token=", err) <
	            0 ||
	    st_reg_urlencode(refresh, form, err) < 0)
		return -ST_ENOMEM;
	if (service &&
	    (st_buf_adds(form, "&service=", err) < 0 || st_reg_urlencode(service, form, err) < 0))
		return -ST_ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (st_buf_adds(form, "&scope=", err) < 0 ||
		    st_reg_urlencode(scopes[i], form, err) < 0)
			return -ST_ENOMEM;
	return 0;
}

static size_t split_scopes(char *s, char **v)
{
	size_t n = 0;
	char *save = NULL;

	for (char *w = strtok_r(s, " ", &save); w && n < MAX_SCOPES; w = strtok_r(NULL, " ", &save))
		v[n++] = w;
	return n;
}

static int token_request(struct st_reg_client *c, CURL *h, char **scopes, size_t n,
                         struct st_buf *url, struct st_buf *form, struct st_error *err)
{
	const char *refresh = c->cred.identity_token ? c->cred.identity_token : c->refresh_token;
	const char *realm = st_reg_challenge_param(&c->bearer[0], "realm");

	st_reg_curl_common(c, h);
	if (refresh && realm) {
		/* POST to the realm itself with the refresh token */
		if (st_buf_adds(url, realm, err) < 0 ||
		    refresh_form(c, refresh, scopes, n, form, err))
			return -ST_ENOMEM;
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, form->data);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)form->len);
	} else {
		int rc = st_reg_token_url(&c->bearer[0], (const char *const *)scopes, n, url, err);
		if (rc < 0)
			return rc;
		if (c->have_cred && c->cred.username) {
			curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
			curl_easy_setopt(h, CURLOPT_USERNAME, c->cred.username);
			curl_easy_setopt(h, CURLOPT_PASSWORD, c->cred.secret ? c->cred.secret : "");
		}
	}
	curl_easy_setopt(h, CURLOPT_URL, url->data);
	return 0;
}

/* Gets a token for `scope` (space-separated scopes) from the token server. */
static int fetch_token(struct st_reg_client *c, const char *scope, const char **out,
                       struct st_error *err)
{
	cleanup_free char *copy = strdup(scope ? scope : "");
	cleanup_buf struct st_buf url = ST_BUF_INIT, form = ST_BUF_INIT, body = ST_BUF_INIT;
	cleanup_json json_t *j = NULL;
	char *scopes[MAX_SCOPES];
	const char *tok = NULL;
	uint64_t expires_in = 0;
	long status = 0;
	CURL *h = curl_easy_init();
	CURLcode cc;
	size_t n;
	int rc;

	if (!h || !copy) {
		curl_easy_cleanup(h);
		return st_error_set(err, ST_ENOMEM, "out of memory");
	}
	n = split_scopes(copy, scopes);
	body.max = MAX_TOKEN_RESPONSE;
	rc = token_request(c, h, scopes, n, &url, &form, err);
	if (rc == 0) {
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, to_buf);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
		cc = curl_easy_perform(h);
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		if (cc != CURLE_OK)
			rc = st_error_set(err, ST_ENET, "registry %s: token server %s: %s",
			                  c->domain, url.data, curl_easy_strerror(cc));
	}
	curl_easy_cleanup(h);
	if (rc < 0)
		return rc;
	if ((status == 401 || status == 403) && c->have_cred && c->cred.username)
		return st_error_set(
		        err, ST_EAUTH,
		        "registry %s: the token server refused the credentials of user %s "
		        "(HTTP %ld)",
		        c->domain, c->cred.username, status);
	if (status == 401 || status == 403)
		return st_error_set(err, ST_EAUTH,
		                    "registry %s: the token server refused anonymous access (HTTP "
		                    "%ld); log in with 'strata login %s'",
		                    c->domain, status, c->domain);
	if (status != 200)
		return st_error_set(err, ST_ENET, "registry %s: token server answered HTTP %ld",
		                    c->domain, status);
	rc = parse_token(c, &body, &tok, &expires_in, &j, err);
	if (rc < 0)
		return rc;
	rc = keep_token(c, scope ? scope : "", tok, expires_in, err);
	if (rc < 0)
		return rc;
	*out = c->tokens[c->n_tokens - 1].token;
	return 0;
}

static int auth_header(struct st_reg_client *c, const char *scope, struct curl_slist **hdrs,
                       struct st_error *err)
{
	cleanup_buf struct st_buf h = ST_BUF_INIT;
	struct curl_slist *n;
	const char *tok;
	int rc;

	if (c->auth == ST_AUTH_BASIC)
		return basic_header(c, hdrs, err);
	if (c->auth != ST_AUTH_BEARER || c->n_bearer == 0)
		return 0;
	tok = cached_token(c, scope ? scope : "");
	if (!tok && (rc = fetch_token(c, scope, &tok, err)) < 0)
		return rc;
	if (st_buf_addf(&h, err, "Authorization: Bearer %s", tok) < 0)
		return -ST_ENOMEM;
	n = curl_slist_append(*hdrs, h.data);
	if (!n)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	*hdrs = n;
	return 0;
}

/* Collects the challenges of every WWW-Authenticate header of the last response. */
static int challenges_of(CURL *h, struct st_reg_challenge **out, size_t *out_n)
{
	struct curl_header *hv = NULL;
	size_t i = 0, amount = 1;

	for (; i < amount && i < ST_REG_MAX_CHALLENGES; i++) {
		if (curl_easy_header(h, "WWW-Authenticate", i, CURLH_HEADER, -1, &hv) != CURLHE_OK)
			return -ST_ENOTFOUND;
		amount = hv->amount;
		/* the first header that parses wins; Bearer is preferred below */
		if (st_reg_www_auth_parse(hv->value, strlen(hv->value), out, out_n, NULL) == 0) {
			for (size_t k = 0; k < *out_n; k++)
				if (strcmp((*out)[k].scheme, "bearer") == 0)
					return 0;
			if (i + 1 >= amount)
				return 0;
			st_reg_challenges_free(*out, *out_n);
		}
	}
	return -ST_ENOTFOUND;
}

static int auth_learn(struct st_reg_client *c, CURL *h, const char *scope)
{
	struct st_reg_challenge *ch = NULL;
	size_t n = 0;
	enum st_reg_auth_mode before = c->auth;

	if (challenges_of(h, &ch, &n) < 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(ch[i].scheme, "bearer") != 0)
			continue;
		/* keep only the Bearer challenge: its realm and service are what tokens need */
		st_reg_challenges_free(c->bearer, c->n_bearer);
		if (i > 0) {
			struct st_reg_challenge t = ch[0];
			ch[0] = ch[i];
			ch[i] = t;
		}
		c->bearer = ch;
		c->n_bearer = n;
		c->auth = ST_AUTH_BEARER;
		drop_token(c, scope ? scope : "");
		return 1;
	}
	for (size_t i = 0; i < n; i++)
		if (strcmp(ch[i].scheme, "basic") == 0)
			c->auth = ST_AUTH_BASIC;
	st_reg_challenges_free(ch, n);
	/* Basic helps only if we have credentials we have not sent yet */
	return c->auth == ST_AUTH_BASIC && before != ST_AUTH_BASIC && c->have_cred;
}

/* The auth state is shared by the threads of a push: one at a time in it (a token request
 * included, so that threads needing the same token wait for it rather than ask again). */
int st_reg_auth_header(struct st_reg_client *c, const char *scope, struct curl_slist **hdrs,
                       struct st_error *err)
{
	int rc;

	pthread_mutex_lock(&c->auth_lock);
	rc = auth_header(c, scope, hdrs, err);
	pthread_mutex_unlock(&c->auth_lock);
	return rc;
}

int st_reg_auth_learn(struct st_reg_client *c, CURL *h, const char *scope, struct st_error *err)
{
	int rc;

	(void)err;
	pthread_mutex_lock(&c->auth_lock);
	rc = auth_learn(c, h, scope);
	pthread_mutex_unlock(&c->auth_lock);
	return rc;
}
