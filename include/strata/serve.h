/* include/strata/serve.h: `strata serve`, an OCI Distribution (v1.1) registry over the store.
 * Registry repository R is the store's name <host>/R (host "localhost" unless opts.name says
 * otherwise); each repository keeps links to the blobs and manifests pushed to it. */
#ifndef ST_SERVE_H
#define ST_SERVE_H

#include <stdbool.h>

#include "strata/common.h"
#include "strata/store.h"

/* One finished request, for the access log. Strings are borrowed for the call. */
struct st_serve_access {
	const char *remote; /* "127.0.0.1" */
	const char *user;   /* "-" when anonymous */
	const char *method;
	const char *uri; /* path and query as received */
	unsigned status; /* 0 when the connection died before a response */
	uint64_t bytes_in, bytes_out;
	double ms; /* from the request line to the end of the response */
};
typedef void (*st_serve_log_fn)(const struct st_serve_access *a, void *ctx);

struct st_serve_opts {
	const char *addr; /* "HOST:PORT" ("[::1]:5000"); NULL: 127.0.0.1:5000; port 0 picks one */
	const char *name; /* the store names' domain; NULL: "localhost" */
	const char *tls_cert; /* PEM files; both or neither */
	const char *tls_key;
	const char *htpasswd; /* bcrypt htpasswd file: Basic auth required; NULL: no auth */
	bool anonymous_read;  /* with htpasswd: GET/HEAD need no credentials */
	bool read_only;       /* every write is 403 DENIED */
	bool enable_delete;   /* DELETE of blobs and manifests; else 405 UNSUPPORTED */
	unsigned threads;     /* 0: four per CPU */
	unsigned max_uploads; /* upload sessions open at once; 0: 256 (then 429) */
	unsigned upload_idle; /* seconds before an idle upload session is dropped; 0: 600 */
	st_serve_log_fn log;  /* access log; may be NULL */
	void *log_ctx;
};

struct st_server; /* opaque */

/* Starts serving `store` (borrowed: it must outlive the server) on threads of its own.
 * -ST_EINVALID (bad address, unreadable htpasswd or certificate), -ST_ESYS (bind). Free with
 * st_serve_free(). */
ST_API int st_serve_start(struct st_store *store, const struct st_serve_opts *opts,
                          struct st_server **out, struct st_error *err);
/* The port the server listens on (useful with port 0). */
ST_API unsigned st_serve_port(const struct st_server *srv);
/* Graceful stop: stops accepting, lets requests in flight finish for up to grace_ms, then
 * closes every connection. Upload sessions not completed are discarded: an upload is either
 * committed whole (verified) or leaves nothing. Idempotent. */
ST_API void st_serve_stop(struct st_server *srv, unsigned grace_ms);
ST_API void st_serve_free(struct st_server *srv); /* stops first if needed; NULL is a no-op */

/* Registers the registry's gc root: every blob and manifest linked from a repository
 * (<root>/repositories/<repo>/_layers, _manifests/revisions) stays while the link does. */
ST_API int st_serve_register_gc(struct st_store *store, struct st_error *err);

#endif
