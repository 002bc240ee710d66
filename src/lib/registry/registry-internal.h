/* registry/registry-internal.h: what the registry client's files share: the client config, the
 * WWW-Authenticate parser, URL and scope building, the retry policy, credentials, and the HTTP
 * client (the only libcurl user). */
#ifndef ST_REGISTRY_INTERNAL_H
#define ST_REGISTRY_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include "strata/buf.h"
#include "strata/registry.h"

/* ---- client config (registries.conf) ---- */

struct st_reg_conf {
	struct st_strv insecure; /* hosts ("host" or "host:port") where plain HTTP is allowed */
	unsigned retries;        /* attempts after the first */
	unsigned backoff_ms;     /* first delay; doubles per attempt */
	unsigned max_backoff_ms;
	unsigned timeout_s;  /* connect timeout, and a transfer stalled this long fails */
	unsigned parallel;   /* blob transfers at once */
	uint64_t chunk_size; /* uploads larger than this go in PATCH chunks of this size */
};

void st_reg_conf_init(struct st_reg_conf *c);
void st_reg_conf_release(struct st_reg_conf *c);
/* Parses the text of a config file (lines "key value...", '#' comments). -ST_EINVALID naming
 * the line. */
int st_reg_conf_parse(struct st_reg_conf *c, const char *text, size_t len, struct st_error *err);
/* Loads path (NULL: $STRATA_CONFIG, else /etc/strata/registries.conf); missing is empty. */
int st_reg_conf_load(struct st_reg_conf *c, const char *path, struct st_error *err);
/* True when plain HTTP and unverified TLS are allowed for `domain` by default: localhost,
 * 127.0.0.0/8, ::1 (as Docker) and the hosts the config lists. */
bool st_reg_conf_insecure(const struct st_reg_conf *c, const char *domain);

/* ---- WWW-Authenticate (RFC 7235) ---- */

struct st_reg_param {
	char *name; /* lowercased */
	char *value;
};
struct st_reg_challenge {
	char *scheme;  /* lowercased: "bearer", "basic" */
	char *token68; /* for schemes that carry one instead of parameters, else NULL */
	size_t n_params;
	struct st_reg_param *params;
};

#define ST_REG_MAX_CHALLENGES 16
#define ST_REG_MAX_PARAMS 32

/* Parses a header value into challenges. -ST_EINVALID naming the offset. */
int st_reg_www_auth_parse(const char *s, size_t len, struct st_reg_challenge **out, size_t *out_n,
                          struct st_error *err);
void st_reg_challenges_free(struct st_reg_challenge *c, size_t n);
/* A parameter's value (name compared case-insensitively), or NULL. */
const char *st_reg_challenge_param(const struct st_reg_challenge *c, const char *name);
/* Writes challenges back as a header value (every value a quoted-string). */
int st_reg_www_auth_format(const struct st_reg_challenge *c, size_t n, struct st_buf *out,
                           struct st_error *err);

/* ---- URLs and scopes ---- */

/* The host the API lives on: docker.io is registry-1.docker.io, others themselves. */
const char *st_reg_api_host(const char *domain);
/* The key of config.json's "auths" for a domain: docker.io is "https://index.docker.io/v1/". */
const char *st_reg_auth_key(const char *domain);
/* Appends "<base>/v2/<repo>/<kind>/<ref>" (kind "manifests", "blobs"); ref NULL: no last part
 * ("<base>/v2/<repo>/blobs/uploads/" is kind "blobs/uploads/", ref NULL). */
int st_reg_url(const char *base, const char *repo, const char *kind, const char *ref,
               struct st_buf *out, struct st_error *err);
/* Resolves an upload Location (absolute, or relative to base) and appends query parameters
 * ("digest=sha256:..."), with '?' or '&' as needed. */
int st_reg_upload_url(const char *base, const char *location, const char *query, struct st_buf *out,
                      struct st_error *err);
/* Appends "repository:<repo>:<actions>". */
int st_reg_scope(const char *repo, const char *actions, struct st_buf *out, struct st_error *err);
/* The token endpoint URL of a Bearer challenge: realm?service=...&scope=...&scope=... (each
 * value URL-encoded). -ST_EAUTH when the challenge has no realm, -ST_EINVALID for a realm that
 * is not http(s). */
int st_reg_token_url(const struct st_reg_challenge *c, const char *const *scopes, size_t n,
                     struct st_buf *out, struct st_error *err);
/* Appends s percent-encoded (unreserved characters kept). */
int st_reg_urlencode(const char *s, struct st_buf *out, struct st_error *err);

/* ---- retry policy ---- */

/* How long to wait before attempt `attempt` (1 = the first retry) after a failure: `status` is
 * the HTTP status (0 for a connection error or timeout), `retry_after` the header (NULL when
 * absent; seconds or an HTTP date, relative to `now`). Returns milliseconds, or -1 when the
 * failure is not worth retrying (4xx other than 408/429) or attempts are used up. */
long st_reg_retry_delay(const struct st_reg_conf *c, unsigned attempt, long status,
                        const char *retry_after, time_t now);

/* ---- base64 (RFC 4648, with padding) ---- */
int st_reg_base64_encode(const void *p, size_t len, struct st_buf *out, struct st_error *err);
/* -ST_EINVALID for anything but canonical padded base64. */
int st_reg_base64_decode(const char *s, size_t len, struct st_buf *out, struct st_error *err);

/* ---- credentials (Docker's config.json and credential helpers) ---- */

struct st_reg_cred {
	char *username;
	char *secret;         /* password, or NULL */
	char *identity_token; /* an OAuth2 refresh token (Docker's "identitytoken"), or NULL */
	char *helper; /* the credential helper that applies ("pass", "secretservice"), or NULL */
};
void st_reg_cred_release(struct st_reg_cred *c);

/* Finds the credentials config.json text gives for `domain`: credHelpers[domain] or credsStore
 * name a helper (out->helper set, nothing else), else auths (keys compared as Docker does:
 * scheme and path dropped). -ST_ENOTFOUND when there are none. */
int st_reg_creds_parse(const char *json, size_t len, const char *domain, struct st_reg_cred *out,
                       struct st_error *err);
/* The config.json path (opts->auth_file, $DOCKER_CONFIG/config.json, ~/.docker/config.json). */
int st_reg_auth_path(const struct st_registry_opts *opts, struct st_buf *out, struct st_error *err);
/* Looks credentials up (running docker-credential-<helper> get when a helper applies).
 * -ST_ENOTFOUND when there are none. */
int st_reg_creds_lookup(const struct st_registry_opts *opts, const char *domain,
                        struct st_reg_cred *out, struct st_error *err);
/* Stores or erases (username == NULL) the credentials of a domain. */
int st_reg_creds_store(const struct st_registry_opts *opts, const char *domain,
                       const char *username, const char *password, struct st_error *err);

/* ---- the HTTP client ---- */

struct st_reg_client;

int st_reg_client_new(const char *domain, const struct st_registry_opts *opts,
                      struct st_reg_client **out, struct st_error *err);
void st_reg_client_free(struct st_reg_client *c);
const struct st_reg_conf *st_reg_client_conf(const struct st_reg_client *c);
const char *st_reg_client_domain(const struct st_reg_client *c);
const struct st_registry_opts *st_reg_client_opts(const struct st_reg_client *c);
/* Makes sure the credentials of the client are good: /v2/ with auth; -ST_EAUTH. */
int st_reg_client_check(struct st_reg_client *c, struct st_error *err);

struct st_reg_resp {
	long status;
	struct st_buf body;  /* capped at the request's max_body */
	char *location;      /* Location */
	char *content_type;  /* Content-Type (parameters dropped) */
	char *docker_digest; /* Docker-Content-Digest */
	char *oci_subject;   /* OCI-Subject: the registry took a pushed manifest's subject */
	uint64_t content_length;
};
void st_reg_resp_release(struct st_reg_resp *r);

struct st_reg_req {
	const char *method; /* GET HEAD POST PUT PATCH DELETE */
	const char *url;    /* absolute, or a path under the client's base ("/v2/...") */
	const char *scope;  /* token scope(s) the request needs, space-separated; NULL: none */
	const char *accept; /* Accept header, or NULL */
	const char *content_type;
	const char *content_range; /* PATCH: "start-end" */
	/* body: a buffer, or `len` bytes of fd from `offset` */
	const void *body;
	size_t body_len;
	int body_fd;
	uint64_t fd_offset, fd_len;
	size_t max_body; /* 0: 64 KiB */
	/* repository and object, for error messages */
	const char *repo, *what;
	enum st_reg_kind kind;
	const struct st_digest *digest; /* progress of an upload */
	/* when set (another upload failed), a body upload stops and nothing is retried */
	const atomic_bool *cancel;
};
#define ST_REG_REQ_INIT       \
	{                     \
		.body_fd = -1 \
	}

/* One request with auth (Bearer tokens per scope, Basic), retries (st_reg_retry_delay) and
 * scheme fallback. A response of any status is success: callers judge the status, and
 * st_reg_status_error turns an unexpected one into a message. */
int st_reg_do(struct st_reg_client *c, const struct st_reg_req *rq, struct st_reg_resp *rs,
              struct st_error *err);
/* The error an unexpected status means: -ST_EAUTH (401/403), -ST_ENOTFOUND (404), -ST_ENET,
 * naming the registry, the repository and the object, with the registry's error code. */
int st_reg_status_error(struct st_reg_client *c, const struct st_reg_req *rq,
                        const struct st_reg_resp *rs, struct st_error *err);
void st_reg_report(struct st_reg_client *c, enum st_reg_state state, enum st_reg_kind kind,
                   const struct st_digest *d, uint64_t done, uint64_t total);

/* ---- layers extracted while they download (reg-follow.c) ---- */

struct st_reg_follow;
/* A follower that will make the snapshot of `layer` (diffID, chain ID) from its download. */
int st_reg_follow_new(struct st_store *store, const struct st_descriptor *layer,
                      const struct st_digest *diff_id, const struct st_digest *chain_id,
                      struct st_reg_follow **out, struct st_error *err);
/* The fetcher's side (NULL f is a no-op): the blob writer exists (the extraction starts; a
 * second writer means the download started over, which breaks the follower), it holds `size`
 * bytes, it was committed, or the download failed. */
void st_reg_follow_attach(struct st_reg_follow *f, const struct st_blob_writer *w);
void st_reg_follow_grow(struct st_reg_follow *f, uint64_t size);
void st_reg_follow_done(struct st_reg_follow *f, uint64_t size);
void st_reg_follow_break(struct st_reg_follow *f);
/* Waits for the extraction (breaking it first if the blob was not committed) and frees: 0 when
 * the snapshot was made, else why not (-ST_ENOTFOUND: never started). */
int st_reg_follow_free(struct st_reg_follow *f);

/* A blob to download into the store. */
struct st_reg_fetch {
	struct st_descriptor desc;
	enum st_reg_kind kind;
	struct st_reg_follow *follow; /* a layer extracted as it downloads, or NULL */
};
/* Downloads the blobs in parallel (at most conf.parallel at once) into the store, each
 * verified against its digest and size, resuming with Range after an interruption. Adds the
 * bytes moved to *fetched. On failure the first error is returned; blobs that completed stay. */
int st_reg_fetch_blobs(struct st_reg_client *c, struct st_store *store, const char *repo,
                       const struct st_reg_fetch *blobs, size_t n, uint64_t *fetched,
                       struct st_error *err);

/* ---- referrers (distribution-spec v1.1) ---- */

/* The referrers tag schema's tag of a subject digest: "<alg>-<encoded>", the algorithm cut to 32
 * and the encoded part to 64 characters, characters a tag cannot hold as '-'. */
void st_reg_referrers_tag(const struct st_digest *subject, char out[ST_DIGEST_STR_MAX]);
/* After a manifest or index `d` (bytes `body`) was put to `repo`: when it has a subject and the
 * registry did not take it (`took_subject`: no OCI-Subject header in its answer, so no referrers
 * API), adds d's descriptor (with its artifactType and annotations) to the image index under the
 * subject's referrers tag, unless already there. A tag that holds something else than an OCI
 * index is -ST_EINVALID and left alone. */
int st_reg_referrers_note(struct st_reg_client *c, const char *repo, const struct st_descriptor *d,
                          const struct st_buf *body, bool took_subject, struct st_error *err);

/* ---- where blobs are known to live (for cross-repository mounts) ---- */

/* Records that blob d lives in repository `repo_name` ("domain/path"); best effort. */
void st_reg_sources_add(struct st_store *store, const struct st_digest *d, const char *repo_name);
/* A repository path of `domain` other than `path` known to hold d, into out; -ST_ENOTFOUND. */
int st_reg_sources_find(struct st_store *store, const struct st_digest *d, const char *domain,
                        const char *path, struct st_buf *out, struct st_error *err);

#endif
