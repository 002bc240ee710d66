/* include/strata/registry.h: the registry client. Pull and push of images over the OCI
 * Distribution spec (v1.1) with Docker's token auth, credentials from Docker's config.json (and
 * its credential helpers), and a small config file for insecure registries and client limits. */
#ifndef ST_REGISTRY_H
#define ST_REGISTRY_H

#include <stdbool.h>

#include "strata/common.h"
#include "strata/digest.h"
#include "strata/image.h"
#include "strata/store.h"

enum st_tls_verify {
	ST_TLS_DEFAULT = 0, /* verify, except for localhost and the config's insecure registries */
	ST_TLS_VERIFY,      /* always verify, never fall back to plain HTTP */
	ST_TLS_NO_VERIFY,   /* --tls-verify=false: accept any certificate, allow plain HTTP */
};

/* What happens to one blob or manifest during a pull or push. */
enum st_reg_state {
	ST_REG_WAITING = 0, /* queued */
	ST_REG_EXISTS,      /* already there (in the store, or in the registry): nothing moved */
	ST_REG_MOUNTED,     /* cross-repository mount: the registry copied it, no bytes sent */
	ST_REG_DOWNLOADING, /* bytes arriving (done/total) */
	ST_REG_UPLOADING,   /* bytes leaving (done/total) */
	ST_REG_RETRYING,    /* a transfer failed and waits for its next attempt */
	ST_REG_VERIFIED,    /* downloaded and committed to the store under its digest */
	ST_REG_DONE,        /* uploaded */
};

enum st_reg_kind { ST_REG_BLOB_LAYER = 0, ST_REG_BLOB_CONFIG, ST_REG_BLOB_MANIFEST };

struct st_reg_progress {
	enum st_reg_state state;
	enum st_reg_kind kind;
	struct st_digest digest;
	uint64_t done;  /* bytes moved so far */
	uint64_t total; /* the descriptor's size */
};
/* Never called twice at once, but a push may call it from its upload threads (a pull calls it
 * on the thread that called pull); must not call back into the client. */
typedef void (*st_reg_progress_fn)(const struct st_reg_progress *p, void *ctx);

struct st_registry_opts {
	enum st_tls_verify tls_verify;
	const struct st_platform *platform; /* pull: NULL is the host's */
	bool all_platforms;                 /* pull: every manifest of an index, and the index */
	bool no_unpack;                     /* pull: leave the layers unextracted (no snapshots) */
	/* push: plain-tar layers (a build's) are compressed with this before they leave, as
	 * `docker push` does (st_image_compress): gzip (the zero default) or zstd;
	 * ST_LAYER_COMPRESS_NONE pushes every layer as stored. */
	enum st_layer_compression push_compression;
	/* Docker's config.json; NULL: $DOCKER_CONFIG/config.json, else ~/.docker/config.json */
	const char *auth_file;
	/* Strata's client config (docs/internals/registry.md); NULL: $STRATA_CONFIG, else
	 * /etc/strata/registries.conf. A missing file is an empty config. */
	const char *config_file;
	/* Explicit credentials; override config.json when set. */
	const char *username, *password;
	st_reg_progress_fn progress;
	void *progress_ctx;
};

/* The outcome of a pull. Release with st_pull_result_release(). */
struct st_pull_result {
	struct st_descriptor desc; /* what index.json now holds (manifest, or index) */
	struct st_digest digest;   /* what the reference resolved to in the registry */
	char *name;                /* full name given to the image, NULL when pulled by digest */
	uint64_t bytes_fetched;    /* blob bytes downloaded (0 when everything was present) */
};
ST_API void st_pull_result_release(struct st_pull_result *r);

/* Pulls `ref` (normalised as Docker does) into the store: the manifest (an index resolved to
 * opts->platform, or all of it with all_platforms), the config and the missing layers in
 * parallel, every byte verified against its digest before it is visible; an interrupted blob is
 * resumed with a Range request. Tags the result unless pulled by digest alone, then extracts the
 * image's snapshots (st_snapshot_prepare; the platform's image of an index) unless no_unpack or
 * the manifest is an artifact (its config no image config: a signature, an SBOM), which is kept
 * byte for byte and not extracted.
 * -ST_EAUTH (401/403), -ST_ENOTFOUND (no such repository, tag or platform), -ST_EDIGEST naming
 * the blob, -ST_EUNSUPPORTED (Docker schema 1, unknown media type), -ST_ENET. Messages name the
 * registry and the repository. */
ST_API int st_registry_pull(struct st_store *store, const char *ref,
                            const struct st_registry_opts *opts, struct st_pull_result *out,
                            struct st_error *err);

/* Pushes the image `src` names (st_image_lookup's syntax) to `dest` (a reference; NULL: the
 * name src gives). Every blob is HEADed first and skipped when present, mounted from another
 * repository of the same registry when it is known to live there, else uploaded (monolithic, or
 * in chunks past the config's chunk size); the blobs go in parallel (the config's `parallel`
 * at once); manifests go last, byte for byte, an index after its manifests. A manifest with a
 * subject is added to the subject's referrers tag (sha256-<hex>) when the registry has no
 * referrers API. Plain-tar layers are compressed first (opts->push_compression), which gives a
 * manifest of its own (same config): *out_digest (may be NULL) gets the digest of the manifest
 * (or index) pushed. */
ST_API int st_registry_push(struct st_store *store, const char *src, const char *dest,
                            const struct st_registry_opts *opts, struct st_digest *out_digest,
                            struct st_error *err);

/* Checks the credentials against `registry` ("docker.io", "host:port") and stores them in
 * config.json (through the credential helper config.json names, if any). -ST_EAUTH when the
 * registry refuses them. */
ST_API int st_registry_login(const char *registry, const char *username, const char *password,
                             const struct st_registry_opts *opts, struct st_error *err);
/* Removes stored credentials: -ST_ENOTFOUND when there were none. */
ST_API int st_registry_logout(const char *registry, const struct st_registry_opts *opts,
                              struct st_error *err);

ST_API int st_http_fetch(const char *url, int fd, int64_t *out_mtime, struct st_error *err);

#endif
