/* serve/serve-internal.h: the registry server's internals. The pure parts (router, Range and
 * Content-Range, the upload state machine) are exported to the unit tests and fuzzers. */
#ifndef ST_SERVE_INTERNAL_H
#define ST_SERVE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include "digest/digest-mb.h"
#include "strata/buf.h"
#include "strata/digest.h"
#include "strata/ref.h"
#include "strata/serve.h"
#include "strata/store.h"

/* ---- router (serve-parse.c) ---- */

enum srv_kind {
	SRV_BASE = 1,   /* /v2/ */
	SRV_BLOB,       /* /v2/<name>/blobs/<digest> */
	SRV_UPLOAD_NEW, /* /v2/<name>/blobs/uploads/ */
	SRV_UPLOAD,     /* /v2/<name>/blobs/uploads/<id> */
	SRV_MANIFEST,   /* /v2/<name>/manifests/<tag|digest> */
	SRV_TAGS,       /* /v2/<name>/tags/list */
	SRV_REFERRERS,  /* /v2/<name>/referrers/<digest> */
};

/* What is wrong with a path that looks like an API path. */
enum srv_fault {
	SRV_FAULT_NONE = 0,
	SRV_FAULT_PATH,   /* no such endpoint: 404 */
	SRV_FAULT_NAME,   /* NAME_INVALID */
	SRV_FAULT_DIGEST, /* DIGEST_INVALID (or UNSUPPORTED algorithm) */
	SRV_FAULT_TAG,    /* MANIFEST_INVALID / MANIFEST_UNKNOWN */
	SRV_FAULT_UPLOAD, /* BLOB_UPLOAD_UNKNOWN: not an id this server makes */
};

#define SRV_UPLOAD_ID_LEN 32

struct st_serve_route {
	enum srv_kind kind;
	enum srv_fault fault;
	char name[ST_REF_MAX_PATH + 1];
	char ref[ST_DIGEST_STR_MAX + 1]; /* tag, digest string or upload id */
	bool is_digest;
	struct st_digest digest;
};

/* Parses a request path (without the query). 0, or -ST_EINVALID with out->fault set; out is
 * always written. Names are checked against the spec's grammar, so a routed name never holds
 * "..", "//" or a leading '/'. */
int st_serve_route_parse(const char *path, struct st_serve_route *out, struct st_error *err);

/* Content-Range of a PATCH: "<start>-<end>" (inclusive, no unit, as the spec writes it).
 * -ST_EINVALID. */
int st_serve_parse_content_range(const char *s, uint64_t *out_start, uint64_t *out_end);
/* Range of a GET for a blob of `size` bytes: "bytes=a-b", "bytes=a-", "bytes=-n" (one range).
 * 1 with [*start, *start + *len) for a satisfiable range, 0 when the header is to be ignored
 * (absent, another unit, several ranges), -ST_EINVALID when unsatisfiable (416). */
int st_serve_parse_range(const char *s, uint64_t size, uint64_t *out_start, uint64_t *out_len);

/* ---- upload state machine (serve-parse.c) ---- */

enum srv_verdict {
	SRV_UP_OK = 0,
	SRV_UP_INVALID,   /* malformed Content-Range: 400 BLOB_UPLOAD_INVALID */
	SRV_UP_RANGE,     /* chunk not at the current offset: 416 */
	SRV_UP_TOO_LARGE, /* past the chunk's declared end or the size cap: 413 SIZE_INVALID */
	SRV_UP_SHORT,     /* body shorter than Content-Range / Content-Length: 400 SIZE_INVALID */
	SRV_UP_BUSY,      /* a chunk is already in progress */
};

struct srv_upload_sm {
	uint64_t offset; /* bytes received in order */
	uint64_t max;    /* size cap of the blob */
	uint64_t expect; /* bytes the current chunk declares, UINT64_MAX: unknown */
	uint64_t got;    /* bytes of the current chunk */
	bool in_chunk;
};

/* Opens a chunk. content_range may be NULL (append at the offset); content_length is
 * UINT64_MAX when unknown (chunked transfer). */
enum srv_verdict st_serve_up_begin(struct srv_upload_sm *sm, const char *content_range,
                                   uint64_t content_length);
/* Before writing len more bytes of the chunk; on SRV_UP_OK the offset has advanced. */
enum srv_verdict st_serve_up_data(struct srv_upload_sm *sm, uint64_t len);
/* The body ended: closes the chunk; SRV_UP_SHORT when fewer bytes came than declared. */
enum srv_verdict st_serve_up_end(struct srv_upload_sm *sm);
/* The connection died mid-chunk: keeps what was received (GET shows it; the client resumes). */
void st_serve_up_abort(struct srv_upload_sm *sm);

/* ---- the server ---- */

struct srv_upload {
	char id[SRV_UPLOAD_ID_LEN + 1];
	char repo[ST_REF_MAX_PATH + 1];
	struct st_store *store;   /* own handle: its lease keeps gc out while the upload lives */
	struct st_blob_writer *w; /* trusted: hs hashes what it writes */
	struct st_digest_pool_stream *hs;
	unsigned char *buf; /* lent by hs: bytes gathered for the writer and the hasher */
	size_t fill;        /* bytes in buf */
	struct srv_upload_sm sm;
	time_t last_used;
	bool busy;
};

struct srv_auth; /* serve-auth.c */

struct st_server {
	struct st_store *store; /* borrowed; reads, and writes under write_mu */
	struct st_serve_opts opts;
	char *name; /* store domain */
	struct srv_auth *auth;
	void *daemon; /* struct MHD_Daemon */
	struct st_buf cert, key;
	int repos_fd; /* <root>/repositories */
	pthread_mutex_t write_mu;
	pthread_mutex_t up_mu;
	struct srv_upload **ups;
	size_t n_ups_max;
	struct st_digest_pool *hashers; /* hashes concurrent uploads together */
	pthread_mutex_t act_mu;
	pthread_cond_t act_cv;
	unsigned active;
	unsigned port;
	bool stopped;
};

/* serve-upload.c: sessions. */
int srv_upload_create(struct st_server *srv, const char *repo, struct srv_upload **out,
                      struct st_error *err);
/* The bytes a session holds so far, also while a request writes into it (busy). */
int srv_upload_offset(struct st_server *srv, const char *repo, const char *id, uint64_t *out);
/* Finds a session of repo and marks it busy: -ST_ENOTFOUND, -ST_EBUSY. */
int srv_upload_acquire(struct st_server *srv, const char *repo, const char *id,
                       struct srv_upload **out);
void srv_upload_release(struct st_server *srv, struct srv_upload *up);
/* Removes (and discards, unless committed) an acquired session. */
void srv_upload_remove(struct st_server *srv, struct srv_upload *up);
/* Writes into the session's blob and hashes what was written. */
int srv_upload_write(struct srv_upload *up, const void *p, size_t len, struct st_error *err);
/* Verifies, commits and links the blob into its repository; removes the session. */
int srv_upload_commit(struct st_server *srv, struct srv_upload *up, const struct st_digest *d,
                      struct st_error *err);
void srv_upload_free_all(struct st_server *srv);

/* serve-repo.c: the per-repository records under <root>/repositories. */
enum srv_link { SRV_LINK_LAYER, SRV_LINK_MANIFEST };
int srv_repos_open(struct st_store *store, struct st_error *err);
int srv_link_write(int repos_fd, const char *repo, enum srv_link kind, const struct st_digest *d,
                   const char *media_type, struct st_error *err);
bool srv_link_exists(int repos_fd, const char *repo, enum srv_link kind, const struct st_digest *d);
/* Makes an existing link durable (layer links are written without a sync); no link is 0. */
int srv_link_sync(int repos_fd, const char *repo, enum srv_link kind, const struct st_digest *d,
                  struct st_error *err);
int srv_link_remove(int repos_fd, const char *repo, enum srv_link kind, const struct st_digest *d,
                    struct st_error *err);
/* The media type a manifest link records (malloc'd), or NULL. */
char *srv_link_media_type(int repos_fd, const char *repo, const struct st_digest *d);
int srv_referrer_add(int repos_fd, const char *repo, const struct st_digest *subject,
                     const struct st_digest *d, struct st_error *err);
/* Lists referrer digests of subject (malloc'd array). */
int srv_referrers_list(int repos_fd, const char *repo, const struct st_digest *subject,
                       struct st_digest **out, size_t *out_n, struct st_error *err);
bool srv_repo_exists(struct st_server *srv, const char *repo);
/* True when repo holds digest: a link, or reachable from one of its tags. */
bool srv_repo_holds(struct st_server *srv, const char *repo, const struct st_digest *d,
                    bool manifest);
/* Sorted tags of repo (their store names are <name>/<repo>:<tag>). */
int srv_tags_list(struct st_server *srv, const char *repo, struct st_strv *out,
                  struct st_error *err);
/* Appends "<name>/<repo>:<tag>" (tag may be NULL). */
int srv_store_name(const struct st_server *srv, const char *repo, const char *tag,
                   struct st_buf *out, struct st_error *err);

/* serve-auth.c */
int srv_auth_load(const char *path, struct srv_auth **out, struct st_error *err);
void srv_auth_free(struct srv_auth *a);
/* Checks an Authorization header value: 0 and the user in user[64], -ST_EAUTH. */
int srv_auth_check(struct srv_auth *a, const char *header, char *user, size_t user_len);
/* Base64 (RFC 4648, padded) decode into out; -ST_EINVALID. */
int st_serve_base64_decode(const char *s, size_t len, struct st_buf *out, struct st_error *err);

#endif
