/* layer/layer-compress.c: compresses a layer that was kept as a plain tar (a build's layers,
 * compressed when the image leaves the machine: push, OCI export). The compressors' output
 * depends only on the tar bytes and the level (layer-internal.h), so the blob is byte-identical
 * to the one st_layer_create_* would have written compressed in the first place. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "layer/layer-internal.h"
#include "strata/store.h"
#include "util/cleanup.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

enum { READ_CHUNK = 1024 * 1024 };

struct compress_out {
	const struct st_layer_sink *sink;
	struct st_hasher hash;
	uint64_t size;
};

static int emit(void *ctx, const void *p, size_t len, struct st_error *err)
{
	struct compress_out *o = ctx;

	st_hasher_update(&o->hash, p, len);
	o->size += len;
	return o->sink->write(o->sink->ctx, p, len, err);
}

int layer_compressor_for(const struct st_layer_create_opts *o, const struct layer_emit *out,
                         struct layer_compressor **c, int *level, const char **media_type,
                         struct st_error *err)
{
	unsigned threads = o->threads ? o->threads : 2;

	switch (o->compression) {
	case ST_LAYER_COMPRESS_GZIP:
		*level = o->level ? o->level : ST_LAYER_GZIP_DEFAULT_LEVEL;
		*media_type = ST_MT_OCI_LAYER_GZIP;
		return layer_gzip_new(*level, threads, out, c, err);
	case ST_LAYER_COMPRESS_ZSTD:
		*level = o->level ? o->level : 3;
		*media_type = ST_MT_OCI_LAYER_ZSTD;
		return layer_zstd_new(*level, threads, out, c, err);
	case ST_LAYER_COMPRESS_NONE:
		*level = 0;
		*media_type = ST_MT_OCI_LAYER;
		return layer_none_new(out, c, err);
	}
	return st_error_set(err, ST_EINVALID, "unknown compression %d", (int)o->compression);
}

int st_layer_compress_fd(int fd, const struct st_layer_create_opts *opts,
                         const struct st_layer_sink *sink, struct st_layer_result *out,
                         struct st_error *err)
{
	static const struct st_layer_create_opts defaults = {0};
	struct compress_out o = {.sink = sink};
	const struct layer_emit em = {emit, &o};
	cleanup_compressor struct layer_compressor *c = NULL;
	cleanup_free unsigned char *buf = NULL;
	const char *media_type = NULL;
	uint64_t in_size = 0;
	int level = 0;
	int rc;

	if (!opts)
		opts = &defaults;
	if (opts->compression != ST_LAYER_COMPRESS_GZIP &&
	    opts->compression != ST_LAYER_COMPRESS_ZSTD)
		return st_error_set(err, ST_EINVALID,
		                    "compress a layer: compression must be gzip or zstd");
	rc = st_hasher_init(&o.hash, ST_DIGEST_SHA256, err);
	if (rc < 0)
		return rc;
	rc = layer_compressor_for(opts, &em, &c, &level, &media_type, err);
	if (rc == 0 && !(buf = malloc(READ_CHUNK)))
		rc = st_error_set(err, ST_ENOMEM, "out of memory");
	while (rc == 0) {
		ssize_t n = read(fd, buf, READ_CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = st_error_sys(err, "read layer");
			break;
		}
		if (n == 0)
			break;
		in_size += (uint64_t)n;
		rc = c->write(c, buf, (size_t)n, err);
	}
	if (rc == 0)
		rc = c->finish(c, err);
	if (rc == 0) {
		struct st_layer_result r = {0};

		st_hasher_final(&o.hash, &r.digest);
		r.size = o.size;
		r.tar_size = in_size;
		r.media_type = media_type;
		(void)snprintf(r.compressor, sizeof(r.compressor), "%s", c->name);
		r.level = level;
		*out = r;
	}
	st_hasher_release(&o.hash);
	return rc;
}
