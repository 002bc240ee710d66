/* layer/layer-internal.h: what the files of the layer module share: the compressor plug point
 * (a struct of function pointers, one per format) and the safe-path helpers of apply. */
#ifndef ST_LAYER_INTERNAL_H
#define ST_LAYER_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
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
/* The shape of a complete raw deflate stream (RFC 1951): the bit offset of its last block's
 * header, and the bit just past that block's end. layer_deflate_scan: 0, or -ST_EINVALID when
 * p[0..len) does not start with one valid stream. */
struct layer_deflate_shape {
	uint64_t last_block_bit, end_bit;
};
int layer_deflate_scan(const void *p, size_t len, struct layer_deflate_shape *out);
/* Makes the complete stream in p[0..*len) one that another stream can continue, as zlib's
 * Z_SYNC_FLUSH ends one: its last block loses BFINAL and an empty stored block follows it, so
 * the stream ends byte-aligned. Needs 5 bytes of room past *len (cap); -ST_EINVALID when p
 * is not a stream, -ST_ELIMIT without the room. */
int layer_deflate_unfinish(unsigned char *p, size_t *len, size_t cap);

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
