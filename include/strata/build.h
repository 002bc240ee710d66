/* include/strata/build.h: `strata build`: a Dockerfile and a context become an image. Each
 * filesystem-changing instruction makes one layer; every step has a cache key (its parent's
 * key and everything that can change its result), and a step whose key is in the cache is not
 * run again. See docs/internals/build.md for the key format. */
#ifndef ST_BUILD_H
#define ST_BUILD_H

#include <stdbool.h>

#include "strata/common.h"
#include "strata/layer.h"
#include "strata/registry.h"
#include "strata/store.h"

enum st_build_event_kind {
	ST_BUILD_STEP,    /* a step starts (text: "[stage 2/5] RUN ...") */
	ST_BUILD_CACHED,  /* the step was found in the cache */
	ST_BUILD_DONE,    /* the step ran; seconds */
	ST_BUILD_OUTPUT,  /* output of a RUN step (data, len) */
	ST_BUILD_EXPLAIN, /* why the first re-executed step's key changed (text) */
	ST_BUILD_WARNING,
	ST_BUILD_PHASE, /* work outside the steps starts (text: "exporting cache to DIR") */
};

struct st_build_event {
	enum st_build_event_kind kind;
	int id;            /* the step's number in this build (BuildKit's #N); stages interleave */
	const char *stage; /* stage name or its index as text */
	int step, n_steps; /* 1-based within the stage */
	const char *text;
	const char *data;
	size_t len;
	double seconds;
};

typedef void (*st_build_progress_fn)(const struct st_build_event *ev, void *ctx);

/* A build cache exported to (--cache-to) or imported from (--cache-from) a directory: an OCI
 * image layout whose `tag` names an image index of the steps' intermediate images, each
 * annotated with its step key (docs/internals/build.md). */
enum st_build_cache_mode {
	ST_BUILD_CACHE_MIN =
	        0,          /* the steps of the final image's stages only (BuildKit's default) */
	ST_BUILD_CACHE_MAX, /* every step of every stage built */
};

struct st_build_cache_spec {
	char *dir;                     /* dest= (to) or src= (from) */
	char *tag;                     /* tag=, default "latest" */
	enum st_build_cache_mode mode; /* mode=min|max (to) */
	bool ignore_error;             /* ignore-error=true (to): a failed export is a warning */
};

/* Parses BuildKit's CSV form: "type=local,dest=DIR[,mode=min|max][,tag=T][,ignore-error=B]"
 * (to) or "type=local,src=DIR[,tag=T]" (from). Another type is -ST_EUNSUPPORTED, an unknown
 * or misplaced key -ST_EINVALID naming it. Release *out with st_build_cache_spec_release(). */
ST_API int st_build_cache_spec_parse(const char *spec, bool to, struct st_build_cache_spec *out,
                                     struct st_error *err);
ST_API void st_build_cache_spec_release(struct st_build_cache_spec *c);

struct st_build_opts {
	const char *context; /* the context directory; NULL: a stream read from context_tar_fd */
	/* with context NULL: a tar (plain, gzip, bzip2, xz, zstd), as `docker build -`; a stream
	 * that is no archive is the Dockerfile, with an empty context */
	int context_tar_fd;
	/* path; NULL: <context>/Dockerfile. With a context from a tar: a path inside it */
	const char *dockerfile;
	/* the Dockerfile's bytes instead of reading `dockerfile` (-f -); name used in messages */
	const char *dockerfile_data;
	size_t dockerfile_len;
	const char *const *tags; /* names to give the image (as typed; normalised here) */
	size_t n_tags;
	const char *const *build_args; /* "K=V", or "K" to take K from the environment */
	size_t n_build_args;
	const char *target; /* stage name; NULL: the last stage */
	bool no_cache;
	/* explain every step that runs (ST_BUILD_EXPLAIN); without it only the build's first */
	bool explain;
	/* --pull: pull every base image again; without it an image is pulled only when missing */
	bool pull;
	const struct st_registry_opts *registry; /* for those pulls; NULL: the defaults */
	const char *const *labels;               /* "K=V" added to the final config */
	size_t n_labels;
	bool network_none; /* RUN without network (default: host's, as BuildKit's OCI worker) */
	/* --secret "id=ID,src=PATH" (or "id=ID,env=VAR"): files RUN --mount=type=secret binds;
	 * never in a layer, never in a key (only the mount's spec is) */
	const char *const *secrets;
	size_t n_secrets;
	const char *ssh_sock; /* --ssh default: the agent socket RUN --mount=type=ssh binds */
	const char *const *add_hosts; /* --add-host "NAME:IP": /etc/hosts of RUN */
	size_t n_add_hosts;
	struct st_layer_create_opts layer; /* compression; has_epoch/source_date_epoch */
	/* --cache-to / --cache-from type=local (st_build_cache_spec_parse) */
	const struct st_build_cache_spec *cache_to;
	size_t n_cache_to;
	const struct st_build_cache_spec *cache_from;
	size_t n_cache_from;
	st_build_progress_fn progress;
	void *progress_ctx;
};

/* Builds; *out is the image's manifest descriptor (the image is tagged with every tag, or kept
 * untagged without any). Errors name the Dockerfile and line; a failing RUN gives its exit code
 * and last output lines. Nothing is tagged when the build fails. */
ST_API int st_build(struct st_store *store, const struct st_build_opts *opts,
                    struct st_descriptor *out, struct st_error *err);

/* Drops the whole build cache (the blobs go with the next gc, or at once with gc = true). */
ST_API int st_build_prune(struct st_store *store, uint64_t *out_entries, struct st_error *err);

/* Registers the build cache as a gc root source. */
ST_API int st_build_register_gc(struct st_store *store, struct st_error *err);

#endif
