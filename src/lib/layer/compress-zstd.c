/* layer/compress-zstd.c: zstd through ZSTD_compressStream2 with worker threads. zstd's
 * multi-threaded mode gives the same bytes for any nbWorkers >= 1 (but not for 0), so one
 * worker is the floor and the output never depends on the thread count. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "layer/layer-internal.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

#define OUT_CAP (256 * 1024)

struct zs {
	struct layer_compressor base;
	ZSTD_CCtx *cctx;
	unsigned char *out;
};

static int zs_run(struct zs *z, ZSTD_inBuffer *in, ZSTD_EndDirective mode, struct st_error *err)
{
	for (;;) {
		ZSTD_outBuffer ob = {z->out, OUT_CAP, 0};
		size_t left = ZSTD_compressStream2(z->cctx, &ob, in, mode);
		int rc;

		if (ZSTD_isError(left))
			return st_error_set(err, ST_EINVALID, "zstd: %s", ZSTD_getErrorName(left));
		if (ob.pos) {
			rc = z->base.out.fn(z->base.out.ctx, z->out, ob.pos, err);
			if (rc < 0)
				return rc;
		}
		if (mode == ZSTD_e_end ? left == 0 : in->pos == in->size)
			return 0;
	}
}

static int zs_write(struct layer_compressor *c, const void *p, size_t len, struct st_error *err)
{
	ZSTD_inBuffer in = {p, len, 0};

	return zs_run((struct zs *)c, &in, ZSTD_e_continue, err);
}

static int zs_finish(struct layer_compressor *c, struct st_error *err)
{
	ZSTD_inBuffer in = {NULL, 0, 0};

	return zs_run((struct zs *)c, &in, ZSTD_e_end, err);
}

static void zs_free(struct layer_compressor *c)
{
	struct zs *z = (struct zs *)c;

	ZSTD_freeCCtx(z->cctx);
	free(z->out);
	free(z);
}

int layer_zstd_new(int level, unsigned threads, const struct layer_emit *out,
                   struct layer_compressor **res, struct st_error *err)
{
	struct zs *z;
	size_t r;

	if (level < 1 || level > ZSTD_maxCLevel())
		return st_error_set(err, ST_EINVALID, "zstd level %d out of range 1-%d", level,
		                    ZSTD_maxCLevel());
	z = calloc(1, sizeof(*z));
	if (!z)
		return st_error_set(err, ST_ENOMEM, "zstd: out of memory");
	z->base.write = zs_write;
	z->base.finish = zs_finish;
	z->base.free = zs_free;
	z->base.out = *out;
	z->base.level = level;
	(void)snprintf(z->base.name, sizeof(z->base.name), "zstd/%s/mt", ZSTD_versionString());
	z->cctx = ZSTD_createCCtx();
	z->out = malloc(OUT_CAP);
	if (!z->cctx || !z->out) {
		zs_free(&z->base);
		return st_error_set(err, ST_ENOMEM, "zstd: out of memory");
	}
	r = ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_compressionLevel, level);
	if (!ZSTD_isError(r))
		r = ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_checksumFlag, 1);
	if (!ZSTD_isError(r))
		r = ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_nbWorkers, threads ? (int)threads : 1);
	if (ZSTD_isError(r)) {
		zs_free(&z->base);
		return st_error_set(err, ST_EUNSUPPORTED, "zstd: %s", ZSTD_getErrorName(r));
	}
	*res = &z->base;
	return 0;
}
