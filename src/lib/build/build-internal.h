/* build/build-internal.h: the builder's state, shared by build.c (stages, the final image),
 * build-step.c (one instruction: key, cache, execution) and build-run.c (RUN). */
#ifndef ST_BUILD_INTERNAL_H
#define ST_BUILD_INTERNAL_H

#include "build/build-config.h"
#include "build/build-copy.h"
#include "strata/build.h"
#include "strata/dockerfile.h"
#include "strata/image.h"
#include "strata/snapshot.h"

/* A stage's state after some of its instructions: the image so far and its cache key. */
struct bstate {
	struct st_image_config cfg;
	struct st_manifest man;
	struct st_digest key;
	struct st_config_state cst;
	struct st_strv args; /* ARGs in scope, "K=V" (RUN sees them; ENV wins) */
	bool built;
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
	char *tmp;              /* <root>/tmp/build-<rnd>: views and uppers of this build */
	const char *context;    /* the context directory: o->context, or context_dir */
	char *context_dir;      /* a context from a stream, extracted under tmp */
	bool context_tar;       /* read the Dockerfile and .dockerignore inside the context */
	bool dockerfile_read;   /* text already holds the Dockerfile (it was the stream) */
	char created[32];       /* history/config time of this build */
	char dfname[256];       /* the Dockerfile's name in messages */
	int n_dirs;             /* counter for fresh directories under tmp */
	bool miss;              /* a step ran: explain only the first */
	struct st_strv pulled;  /* names pulled by this build (--pull pulls each once) */
	struct st_buf text;     /* the Dockerfile as read */
	struct st_df_env bargs; /* --build-arg values */
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

/* Runs a RUN instruction on st with upper as the scratch layer. */
int build_run_exec(struct bctx *b, const struct bstate *st, const struct st_df_eval_instr *ei,
                   const char *upper, struct st_error *err);

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
/* The chain ID of a state's top layer (all zero for none): it fixes its whole filesystem. */
int build_state_chain(const struct bstate *st, struct st_digest *out, struct st_error *err);
/* Feeds a RUN's key with what its bind mounts' sources hold (build-run.c). */
int build_run_key_mounts(struct bctx *b, int stage, const struct st_df_eval_instr *ei,
                         struct st_hasher *h);

/* Reports an event through the progress callback. */
void build_event(struct bctx *b, enum st_build_event_kind kind, int stage, int step, int n_steps,
                 const char *text, double seconds);

#endif
