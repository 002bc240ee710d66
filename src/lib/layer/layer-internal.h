/* layer/layer-internal.h: what the files of the layer module share: the compressor plug point
 * (a struct of function pointers, one per format) and the safe-path helpers of apply. */
#ifndef ST_LAYER_INTERNAL_H
#define ST_LAYER_INTERNAL_H

#include <stdbool.h>
#include <sys/types.h>

#include "strata/layer.h"

/* Where a compressor sends its output. */
struct layer_emit {
	int (*fn)(void *ctx, const void *p, size_t len, struct st_error *err);
	void *ctx;
};

/* A streaming compressor: write() the uncompressed bytes, finish() once, then free(). Every
 * implementation embeds this struct first. The output must depend only on the input bytes and
 * the level, never on the thread count or on how the input is split into write() calls. */
struct layer_compressor {
	int (*write)(struct layer_compressor *c, const void *p, size_t len, struct st_error *err);
	int (*finish)(struct layer_compressor *c, struct st_error *err);
	void (*free)(struct layer_compressor *c);
	struct layer_emit out;
	char name[64]; /* for the compressor annotation */
	int level;
};

int layer_gzip_new(int level, unsigned threads, const struct layer_emit *out,
                   struct layer_compressor **res, struct st_error *err);
int layer_zstd_new(int level, unsigned threads, const struct layer_emit *out,
                   struct layer_compressor **res, struct st_error *err);
int layer_none_new(const struct layer_emit *out, struct layer_compressor **res,
                   struct st_error *err);
/* The compressor opts asks for (default levels filled in), with its level and media type. */
int layer_compressor_for(const struct st_layer_create_opts *o, const struct layer_emit *out,
                         struct layer_compressor **c, int *level, const char **media_type,
                         struct st_error *err);

static inline void layer_compressor_free(struct layer_compressor **c)
{
	if (*c)
		(*c)->free(*c);
}
#define cleanup_compressor __attribute__((cleanup(layer_compressor_free)))

/* image-spec: whiteout prefix and the opaque marker */
#define LAYER_WH_PREFIX ".wh."
#define LAYER_WH_OPAQUE ".wh..wh..opq"

/* Is this xattr one that never enters or leaves a layer (overlay private state, ACLs, the host's
 * SELinux label)? */
bool layer_xattr_skipped(const char *name);

/* rm -rf of parent_fd/name without following symlinks. ENOENT is success. */
int layer_rmtree_at(int parent_fd, const char *name, struct st_error *err);

#endif
