/* build/build-internal.h: the builder's state, shared by build.c (stages, the final image),
 * build-step.c (one instruction: key, cache, execution) and build-run.c (RUN). */
#ifndef ST_BUILD_INTERNAL_H
#define ST_BUILD_INTERNAL_H

#include <pthread.h>

#include "build/build-config.h"
#include "build/build-copy.h"
#include "strata/build.h"
#include "strata/dockerfile.h"
#include "strata/image.h"
#include "strata/layer.h"
#include "strata/snapshot.h"

/* A stage's state after some of its instructions: the image so far and its cache key. */
struct bstate {
	struct st_image_config cfg;
	struct st_manifest man;
	struct st_digest key;
	struct st_digest base_key; /* the key of the stage's FROM */
	struct st_config_state cst;
	struct st_strv args;  /* ARGs in scope, "K=V" (RUN sees them; ENV wins) */
	struct st_image base; /* the FROM image, opened by build_onbuild for the FROM step */
	bool base_open;
	bool built;
};

/* What the threads of parallel stages share (build-stages.c). */
struct bsync {
	pthread_mutex_t lock; /* the fields below and the progress callback */
	pthread_cond_t cond;
	pthread_mutex_t pull_lock; /* one pull at a time: the same base is pulled once */
	int *state;                /* per stage: 0 waiting, 1 running, 2 built, -1 failed */
	int running, max_running;
	int exited;    /* stage threads that have returned */
	int cancel_fd; /* an eventfd, readable once the build is interrupted: RUNs kill */
	int exit_fd;   /* an eventfd a stage thread bumps as it returns: wakes the waiter */
	int next_id;
	bool failed;
	bool explained; /* the first step that ran was explained */
};

/* A step this build reached (ran or found cached): what --cache-to exports. */
struct build_cache_rec {
	struct st_digest key;
	int stage;
};

/* The steps reached, in the order they were (stages append under sync->lock). */
struct build_cache_recs {
	struct build_cache_rec *v;
	size_t n, cap;
};

struct build_cache_src; /* a --cache-from source (build-cache-export.c) */

/* A step's layer being written on a thread of its own while the stage goes on (build-layer.c):
 * its directory is the top lower of the state until build_layer_join. */
struct build_pending {
	bool active, threaded;
	pthread_t th;
	const struct bstate *st; /* the state it is the top layer of */
	struct st_store *s;
	const struct st_layer_create_opts *opts;
	char *upper; /* the step's directory: the layer's content, then its snapshot */
	char *created_by;
	struct st_digest key; /* the step's key: its cache entry waits for the layer */
	int stage;
	int rc; /* the thread's result */
	struct st_error err;
	struct st_layer_result res;
};

struct bctx {
	struct st_store *s;
	const struct st_build_opts *o;
	struct st_dockerfile *df;
	struct st_df_eval *ev;
	struct st_dockerignore *ignore;
	struct build_hash_memo *memo;
	struct bstate *stages;
	bool *needed;
	struct bsync *sync;     /* NULL until the stages run */
	int cur_id;             /* the running step's event id */
	char *tmp;              /* <root>/tmp/build-<rnd>[/s<stage>]: views and uppers */
	const char *context;    /* the context directory: o->context, or context_dir */
	char *context_dir;      /* a context from a stream, extracted under tmp */
	bool context_tar;       /* read the Dockerfile and .dockerignore inside the context */
	bool dockerfile_read;   /* text already holds the Dockerfile (it was the stream) */
	char created[32];       /* history/config time of this build */
	char dfname[256];       /* the Dockerfile's name in messages */
	int n_dirs;             /* counter for fresh directories under tmp */
	struct st_strv *pulled; /* names pulled by this build (--pull pulls each once) */
	struct st_buf text;     /* the Dockerfile as read */
	struct st_df_env bargs; /* --build-arg values */
	struct build_cache_recs *recs; /* the steps reached (shared by the stages) */
	struct build_cache_src *srcs;  /* --cache-from sources that were found (read-only) */
	size_t n_srcs;
	struct build_pending pending; /* this stage's layer being written, if any */
	struct st_error *err;
};

/* A context read from o->context_tar_fd (build-context.c): a tar extracted into a fresh
 * directory under tmp (sets context, context_tar), or else the Dockerfile (into text). */
int build_context_from_tar(struct bctx *b);
/* Reads `path` of the context, resolved inside it (symlinks cannot leave it). -ST_ENOTFOUND
 * when missing, -ST_EINVALID when no regular file. */
int build_context_read(struct bctx *b, const char *path, struct st_buf *out, size_t max);

/* Runs instruction ei of the stage on *st (FROM excluded). */
int build_step(struct bctx *b, struct bstate *st, int stage, const struct st_df_eval_instr *ei,
               int step, int n_steps);

/* A fresh empty directory under the build's tmp; *out is malloc'd. */
int build_fresh_dir(struct bctx *b, const char *what, char **out);

/* Mounts the root filesystem of an image state read-only at a fresh directory (an empty
 * directory for no layers); *out_dir is malloc'd. build_unmount_view undoes it. */
int build_mount_view(struct bctx *b, const struct bstate *st, char **out_dir);
void build_unmount_view(char *dir);

/* Opens the image `name` (FROM, --from, RUN --mount from=): from the store, pulled through the
 * registry client when it is missing there, or pulled again first with --pull (once a build). */
int build_open_image(struct bctx *b, const char *name, struct st_image *out);

/* Splices the ONBUILD triggers of the needed stages' base images after their FROM lines and
 * parses and evaluates the Dockerfile again (build-onbuild.c). */
int build_onbuild(struct bctx *b);

/* The stage a --from names (by name or index), or -1 when it names an image. */
int build_stage_ref(const struct bctx *b, const char *name, int before);

/* Takes *upper, the directory the step `key` of the stage wrote on st, as st's next layer:
 * written on a thread while the stage goes on (the layer threads of o->layer allowing), then
 * by build_layer_join added to st with its history entry, made the snapshot of its chain ID
 * and recorded as key's cache entry. clean: no overlay bookkeeping in it (COPY), else it is
 * scrubbed first. The previous pending layer is joined first. On failure *upper is removed. */
int build_layer_start(struct bctx *b, struct bstate *st, char **upper, bool clean,
                      const char *created_by, const struct st_digest *key, int stage);
/* Finishes the stage's pending layer into st (nothing pending: 0); every step but a RUN does
 * this first, as does a cache hit before it replaces st and the stage at its end. Errors go to
 * err (not b->err: a failed stage keeps its first error). */
int build_layer_join(struct bctx *b, struct bstate *st, struct st_error *err);
/* The directory of st's pending layer (its top lower until joined), or NULL. */
const char *build_layer_pending_dir(const struct bctx *b, const struct bstate *st);

/* Runs a RUN instruction on st with upper as the scratch layer. */
int build_run_exec(struct bctx *b, const struct bstate *st, const struct st_df_eval_instr *ei,
                   const char *upper, struct st_error *err);

/* The cache (build-cache.c): get loads the intermediate image of key into *st and returns 1 on
 * a hit (from cache/build/, else imported from a --cache-from source), 0 on a miss, < 0 when
 * an import fails; put records st as key's result. */
int build_cache_get(struct bctx *b, const struct st_digest *key, struct bstate *st);
int build_cache_put(struct bctx *b, const struct st_digest *key, struct bstate *st);
/* The manifest descriptor of key's local entry (-ST_ENOTFOUND); release *out. */
int build_cache_entry(struct bctx *b, const struct st_digest *key, struct st_descriptor *out);
int build_cache_entry_put(struct bctx *b, const struct st_digest *key,
                          const struct st_descriptor *d);

/* --cache-from / --cache-to (build-cache-export.c). open reads every source's cache index (a
 * missing source is a warning); import copies key's intermediate image from the first source
 * that has it into the store and makes its local entry: 1, 0 when no source has key, < 0 when
 * the source is bad; record notes a step reached; export writes the --cache-to layouts. */
int build_cache_import_open(struct bctx *b);
int build_cache_import(struct bctx *b, const struct st_digest *key);
void build_cache_import_close(struct bctx *b);
int build_cache_record(struct bctx *b, const struct st_digest *key, int stage);
int build_cache_export(struct bctx *b, int target);

/* COPY's target-free key (build-cache.c): fast -> the step's full key. get returns 1 on a hit. */
int build_fast_key_get(struct bctx *b, const struct st_digest *fast, struct st_digest *out);
int build_fast_key_put(struct bctx *b, const struct st_digest *fast, const struct st_digest *key);

/* COPY <<EOF: writes the instruction's heredocs as files of a fresh directory (*out_dir,
 * malloc'd) and gives the arguments with every "<<EOF" replaced by its file name. */
int build_heredoc_srcs(struct bctx *b, const struct st_df_eval_instr *ei, const char *where,
                       char **out_dir, struct st_strv *out_args);

/* The state `name` (--from=, --mount from=) names before `stage`: a stage (*out points into
 * b->stages), or an image opened into *img (released by the caller). */
int build_from_state(struct bctx *b, int stage, const char *name, struct bstate *img,
                     const struct bstate **out);
/* Moves an image's config and manifest into st (replacing what it held) and releases img. */
void build_state_take_image(struct bstate *st, struct st_image *img);
/* The chain ID of a state's top layer (all zero for none): it fixes its whole filesystem. */
int build_state_chain(const struct bstate *st, struct st_digest *out, struct st_error *err);
/* Feeds a RUN's key with what its bind mounts' sources hold (build-run.c). */
int build_run_key_mounts(struct bctx *b, int stage, const struct st_df_eval_instr *ei,
                         struct build_key *key);

/* Reports an event through the progress callback (one at a time: stages run in threads). A
 * step event starts a new event id; the events after it carry it. */
void build_event(struct bctx *b, enum st_build_event_kind kind, int stage, int step, int n_steps,
                 const char *text, double seconds);
/* RUN output of the running step. */
void build_output(struct bctx *b, const char *data, size_t len);

/* Marks in b->needed the stages `target` needs: its FROM chain and every --from it names. */
void build_mark_needed(struct bctx *b, int target);
/* Builds the needed stages up to target, each in its own thread once the stages it uses are
 * built (build-stages.c); the first failure stops the others between steps. */
int build_stages(struct bctx *b, int target);
/* True for the first step of the build that runs (for every one with --explain). */
bool build_first_miss(struct bctx *b);
/* True once a stage of this build failed: the others stop at their next step. */
bool build_cancelled(struct bctx *b);

#endif
