/* layer/compress-gzip.c: parallel gzip as pigz does it. The input is cut into fixed blocks of
 * ST_LAYER_GZIP_BLOCK bytes; each is raw-deflated on its own (primed with the previous 32 KiB
 * as dictionary) and ended by a sync flush, the last by Z_FINISH; the block CRCs are joined
 * with crc32_combine. The result is exactly one gzip member whose bytes depend only on the
 * input and the level, never on the number of threads or on scheduling.
 *
 * A block whose bytes are spread flat over all 256 values (compressed files, encrypted data:
 * deflate cannot shrink them, and spends as long failing to as it spends on text) is written as
 * stored blocks instead (level 0: a copy). The test is integer-only, so every machine decides
 * alike: 256 * sum(count[b]^2) <= FLAT_NUM/FLAT_DEN * n^2, the chance that two bytes of the
 * block are equal, relative to uniform bytes (1 + 256/n for random data, ~10 for text). */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "layer/layer-internal.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

#define DICT_LEN 32768
#define MAX_THREADS 64

/* The default level 4 with zlib's lazy matching but shorter hash chains (deflateTune: good 4,
 * lazy 4, nice 32, chain 8 instead of 16): 11% less deflate time for 0.9% more bytes on the
 * Debian minbase rootfs, 3% larger than pigz -6 (docs/internals/layer.md). */
#define TUNED_LEVEL 4
#define TUNE_GOOD 4
#define TUNE_LAZY 4
#define TUNE_NICE 32
#define TUNE_CHAIN 8

/* A block is flat when its collision index is at most 1.04 times uniform's (see above). */
#define FLAT_NUM 104
#define FLAT_DEN 100

enum job_state { JOB_FREE, JOB_FILLING, JOB_PENDING, JOB_RUNNING, JOB_DONE };

struct gz_job {
	enum job_state state;
	bool last;
	int level;         /* the stream's level (each block may go stored instead) */
	bool tuned;        /* deflateTune the stream (level TUNED_LEVEL) */
	unsigned char *in; /* ST_LAYER_GZIP_BLOCK bytes */
	size_t in_len;
	unsigned char dict[DICT_LEN];
	size_t dict_len;
	unsigned char *out;
	size_t out_len, out_cap;
	uLong crc;
	int rc; /* 0, or -ST_ENOMEM / -ST_EINVALID from the worker */
};

struct gz {
	struct layer_compressor base;
	int level;
	unsigned n_threads; /* worker threads; 0 = compress inline */
	pthread_t threads[MAX_THREADS];
	unsigned n_started;
	pthread_mutex_t lock;
	pthread_cond_t work; /* a job became pending, or stop */
	pthread_cond_t done; /* a job became done */
	bool stop;
	struct gz_job *jobs; /* ring of n_jobs, in input order from `head` */
	size_t n_jobs, head, n_used;
	uLong crc;
	uint64_t total;
	bool header_done;
	z_stream inline_zs; /* for n_threads == 0 */
	bool inline_init;
};

static int deflater_init(z_stream *zs, int level)
{
	memset(zs, 0, sizeof(*zs));
	return deflateInit2(zs, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK ? 0
	                                                                               : -ST_ENOMEM;
}

static int grow_out(struct gz_job *j)
{
	size_t cap = j->out_cap ? j->out_cap * 2 : j->in_len + j->in_len / 8 + 1024;
	unsigned char *p = realloc(j->out, cap);

	if (!p)
		return -ST_ENOMEM;
	j->out = p;
	j->out_cap = cap;
	return 0;
}

/* Are the block's bytes spread flat over all values (incompressible by deflate)? */
static bool flat_block(const unsigned char *p, size_t n)
{
	uint32_t count[256] = {0};
	uint64_t sum = 0;

	if (n < 4096)
		return false;
	for (size_t i = 0; i < n; i++)
		count[p[i]]++;
	for (int b = 0; b < 256; b++)
		sum += (uint64_t)count[b] * count[b];
	return 256 * sum * FLAT_DEN <= (uint64_t)n * n * FLAT_NUM;
}

/* Compresses one block with zs; touches only the job. */
static int deflate_job(z_stream *zs, struct gz_job *j)
{
	int flush = j->last ? Z_FINISH : Z_SYNC_FLUSH;
	bool stored = flat_block(j->in, j->in_len);
	int zrc;

	/* deflateReset keeps the level the last deflateParams set and restores its parameters; a
	 * reset stream takes new parameters without flushing anything. The tuning comes after. */
	if (deflateReset(zs) != Z_OK ||
	    deflateParams(zs, stored ? 0 : j->level, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ST_EINVALID;
	if (!stored && j->tuned &&
	    deflateTune(zs, TUNE_GOOD, TUNE_LAZY, TUNE_NICE, TUNE_CHAIN) != Z_OK)
		return -ST_EINVALID;
	if (j->dict_len && deflateSetDictionary(zs, j->dict, (uInt)j->dict_len) != Z_OK)
		return -ST_EINVALID;
	j->crc = crc32(0L, j->in, (uInt)j->in_len);
	j->out_len = 0;
	zs->next_in = j->in;
	zs->avail_in = (uInt)j->in_len;
	for (;;) {
		if (j->out_len == j->out_cap && grow_out(j) < 0)
			return -ST_ENOMEM;
		zs->next_out = j->out + j->out_len;
		zs->avail_out = (uInt)(j->out_cap - j->out_len);
		zrc = deflate(zs, flush);
		j->out_len = j->out_cap - zs->avail_out;
		if (zrc == Z_STREAM_END)
			return 0;
		if (zrc != Z_OK && zrc != Z_BUF_ERROR)
			return -ST_EINVALID;
		/* a sync flush is complete when deflate leaves output space unused */
		if (flush == Z_SYNC_FLUSH && zs->avail_in == 0 && zs->avail_out != 0)
			return 0;
	}
}

static struct gz_job *next_pending(struct gz *g)
{
	for (size_t i = 0; i < g->n_used; i++) {
		struct gz_job *j = &g->jobs[(g->head + i) % g->n_jobs];
		if (j->state == JOB_PENDING)
			return j;
	}
	return NULL;
}

static void *worker(void *arg)
{
	struct gz *g = arg;
	z_stream zs;
	int init_rc = deflater_init(&zs, g->level);

	pthread_mutex_lock(&g->lock);
	for (;;) {
		struct gz_job *j = next_pending(g);
		if (!j) {
			if (g->stop)
				break;
			pthread_cond_wait(&g->work, &g->lock);
			continue;
		}
		j->state = JOB_RUNNING;
		pthread_mutex_unlock(&g->lock);
		j->rc = init_rc < 0 ? init_rc : deflate_job(&zs, j);
		pthread_mutex_lock(&g->lock);
		j->state = JOB_DONE;
		pthread_cond_broadcast(&g->done);
	}
	pthread_mutex_unlock(&g->lock);
	if (init_rc == 0)
		deflateEnd(&zs);
	return NULL;
}

static int emit_header(struct gz *g, struct st_error *err)
{
	/* RFC 1952: no name, mtime 0, XFL 0, OS 3 (Unix): what `gzip -n` and pigz write */
	static const unsigned char hdr[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};

	g->header_done = true;
	return g->base.out.fn(g->base.out.ctx, hdr, sizeof(hdr), err);
}

/* Emits the head job (which must be done) and frees its slot. Called without the lock held
 * for the sink write; the slot is only reused by the main thread. */
static int emit_head(struct gz *g, struct st_error *err)
{
	struct gz_job *j = &g->jobs[g->head];
	int rc;

	if (j->rc < 0)
		return st_error_set(err, (enum st_errc) - j->rc,
		                    "gzip: deflate of block at offset %llu failed",
		                    (unsigned long long)g->total);
	if (!g->header_done) {
		rc = emit_header(g, err);
		if (rc < 0)
			return rc;
	}
	rc = g->base.out.fn(g->base.out.ctx, j->out, j->out_len, err);
	if (rc < 0)
		return rc;
	g->crc = crc32_combine(g->crc, j->crc, (z_off_t)j->in_len);
	g->total += j->in_len;
	pthread_mutex_lock(&g->lock);
	j->state = JOB_FREE;
	g->head = (g->head + 1) % g->n_jobs;
	g->n_used--;
	pthread_mutex_unlock(&g->lock);
	return 0;
}

/* Emits finished jobs from the head; waits for the head when `wait`. */
static int drain(struct gz *g, bool wait, struct st_error *err)
{
	for (;;) {
		enum job_state state = JOB_FREE;
		int rc;

		pthread_mutex_lock(&g->lock);
		if (g->n_used) {
			state = g->jobs[g->head].state;
			while (wait && state != JOB_DONE && state != JOB_FILLING) {
				pthread_cond_wait(&g->done, &g->lock);
				state = g->jobs[g->head].state;
			}
		}
		pthread_mutex_unlock(&g->lock);
		if (state != JOB_DONE)
			return 0;
		rc = emit_head(g, err);
		if (rc < 0)
			return rc;
		if (wait)
			return 0;
	}
}

static struct gz_job *filling_job(struct gz *g)
{
	struct gz_job *j;

	if (!g->n_used)
		return NULL;
	j = &g->jobs[(g->head + g->n_used - 1) % g->n_jobs];
	return j->state == JOB_FILLING ? j : NULL;
}

/* Hands the filling job to the workers (or compresses it inline). */
static int submit(struct gz *g, struct gz_job *j, struct st_error *err)
{
	if (g->n_threads == 0) {
		j->rc = deflate_job(&g->inline_zs, j);
		j->state = JOB_DONE;
		return drain(g, false, err);
	}
	pthread_mutex_lock(&g->lock);
	j->state = JOB_PENDING;
	pthread_cond_signal(&g->work);
	pthread_mutex_unlock(&g->lock);
	return drain(g, false, err);
}

/* Starts a new filling job after `prev` (NULL at the start), waiting for a free slot. */
static int start_job(struct gz *g, const struct gz_job *prev, struct gz_job **out,
                     struct st_error *err)
{
	struct gz_job *j;
	int rc;

	while (g->n_used == g->n_jobs) {
		rc = drain(g, true, err);
		if (rc < 0)
			return rc;
	}
	j = &g->jobs[(g->head + g->n_used) % g->n_jobs];
	if (!j->in) {
		j->in = malloc(ST_LAYER_GZIP_BLOCK);
		if (!j->in)
			return st_error_set(err, ST_ENOMEM, "gzip: out of memory");
	}
	/* the dictionary is the tail of the previous block (pigz's default); inline, prev may be
	 * this very slot, so copy before resetting it */
	if (prev) {
		size_t n = prev->in_len < DICT_LEN ? prev->in_len : DICT_LEN;
		memmove(j->dict, prev->in + prev->in_len - n, n);
		j->dict_len = n;
	} else {
		j->dict_len = 0;
	}
	j->in_len = 0;
	j->last = false;
	j->level = g->level;
	j->tuned = g->level == TUNED_LEVEL;
	j->rc = 0;
	pthread_mutex_lock(&g->lock);
	j->state = JOB_FILLING;
	g->n_used++;
	pthread_mutex_unlock(&g->lock);
	*out = j;
	return 0;
}

static int gz_write(struct layer_compressor *c, const void *p, size_t len, struct st_error *err)
{
	struct gz *g = (struct gz *)c;
	const unsigned char *s = p;
	int rc;

	while (len) {
		struct gz_job *j = filling_job(g);
		size_t n;

		if (!j) {
			rc = start_job(g, NULL, &j, err);
			if (rc < 0)
				return rc;
		} else if (j->in_len == ST_LAYER_GZIP_BLOCK) {
			/* more input follows, so this full block is not the last */
			struct gz_job *next;
			rc = submit(g, j, err);
			if (rc < 0)
				return rc;
			rc = start_job(g, j, &next, err);
			if (rc < 0)
				return rc;
			j = next;
		}
		n = ST_LAYER_GZIP_BLOCK - j->in_len;
		n = n < len ? n : len;
		memcpy(j->in + j->in_len, s, n);
		j->in_len += n;
		s += n;
		len -= n;
	}
	return 0;
}

static int gz_finish(struct layer_compressor *c, struct st_error *err)
{
	struct gz *g = (struct gz *)c;
	struct gz_job *j = filling_job(g);
	unsigned char trailer[8];
	int rc;

	if (!j) {
		rc = start_job(g, NULL, &j, err);
		if (rc < 0)
			return rc;
	}
	j->last = true;
	rc = submit(g, j, err);
	while (rc == 0 && g->n_used)
		rc = drain(g, true, err);
	if (rc < 0)
		return rc;
	for (int i = 0; i < 4; i++) {
		trailer[i] = (unsigned char)(g->crc >> (8 * i));
		trailer[4 + i] = (unsigned char)(g->total >> (8 * i)); /* ISIZE: length mod 2^32 */
	}
	return g->base.out.fn(g->base.out.ctx, trailer, sizeof(trailer), err);
}

static void gz_free(struct layer_compressor *c)
{
	struct gz *g = (struct gz *)c;

	pthread_mutex_lock(&g->lock);
	g->stop = true;
	/* jobs not yet compressed are dropped: a failed stream is abandoned */
	for (size_t i = 0; i < g->n_used; i++) {
		struct gz_job *j = &g->jobs[(g->head + i) % g->n_jobs];
		if (j->state == JOB_PENDING || j->state == JOB_FILLING)
			j->state = JOB_DONE;
	}
	pthread_cond_broadcast(&g->work);
	pthread_mutex_unlock(&g->lock);
	for (unsigned i = 0; i < g->n_started; i++)
		pthread_join(g->threads[i], NULL);
	for (size_t i = 0; g->jobs && i < g->n_jobs; i++) {
		free(g->jobs[i].in);
		free(g->jobs[i].out);
	}
	free(g->jobs);
	if (g->inline_init)
		deflateEnd(&g->inline_zs);
	pthread_cond_destroy(&g->work);
	pthread_cond_destroy(&g->done);
	pthread_mutex_destroy(&g->lock);
	free(g);
}

int layer_gzip_new(int level, unsigned threads, const struct layer_emit *out,
                   struct layer_compressor **res, struct st_error *err)
{
	struct gz *g;

	if (level < 1 || level > 9)
		return st_error_set(err, ST_EINVALID, "gzip level %d out of range 1-9", level);
	g = calloc(1, sizeof(*g));
	if (!g)
		return st_error_set(err, ST_ENOMEM, "gzip: out of memory");
	g->base.write = gz_write;
	g->base.finish = gz_finish;
	g->base.free = gz_free;
	g->base.out = *out;
	g->base.level = level;
	if (level == TUNED_LEVEL)
		(void)snprintf(g->base.name, sizeof(g->base.name),
		               "gzip/zlib-%s/block-%d/tune-%d-%d-%d-%d/flat-%d", zlibVersion(),
		               ST_LAYER_GZIP_BLOCK, TUNE_GOOD, TUNE_LAZY, TUNE_NICE, TUNE_CHAIN,
		               FLAT_NUM);
	else
		(void)snprintf(g->base.name, sizeof(g->base.name), "gzip/zlib-%s/block-%d/flat-%d",
		               zlibVersion(), ST_LAYER_GZIP_BLOCK, FLAT_NUM);
	g->level = level;
	g->crc = crc32(0L, Z_NULL, 0);
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->work, NULL);
	pthread_cond_init(&g->done, NULL);
	g->n_threads = threads <= 1 ? 0 : (threads > MAX_THREADS ? MAX_THREADS : threads);
	g->n_jobs = g->n_threads ? 2 * (size_t)g->n_threads + 2 : 1;
	g->jobs = calloc(g->n_jobs, sizeof(*g->jobs));
	if (!g->jobs) {
		gz_free(&g->base);
		return st_error_set(err, ST_ENOMEM, "gzip: out of memory");
	}
	if (g->n_threads == 0) {
		if (deflater_init(&g->inline_zs, level) < 0) {
			gz_free(&g->base);
			return st_error_set(err, ST_ENOMEM, "gzip: deflateInit2 failed");
		}
		g->inline_init = true;
	}
	for (unsigned i = 0; i < g->n_threads; i++) {
		int e = pthread_create(&g->threads[i], NULL, worker, g);
		if (e) {
			gz_free(&g->base);
			return st_error_errno(err, e, "gzip: pthread_create");
		}
		g->n_started++;
	}
	*res = &g->base;
	return 0;
}
