/* layer/compress-gzip.c: parallel gzip as pigz does it. The input is cut into fixed blocks of
 * ST_LAYER_GZIP_BLOCK bytes; each is deflated on its own by libdeflate (a whole buffer at a
 * time, no dictionary) and, but for the last, made continuable by layer_deflate_unfinish: its
 * final bit cleared and an empty stored block appended, which is what a sync flush writes. The
 * block CRCs are joined with crc32_combine. The result is exactly one gzip member whose bytes
 * depend only on the input, the level and libdeflate's version, never on the number of threads
 * or on scheduling (libdeflate's compressor has no CPU-dependent choices; only its checksums
 * are dispatched on CPU features).
 *
 * A block whose bytes are spread flat over all 256 values (compressed files, encrypted data:
 * deflate cannot shrink them, and spends as long failing to as it spends on text) is written as
 * stored blocks instead. The test is integer-only, so every machine decides alike:
 * 256 * sum(count[b]^2) <= FLAT_NUM/FLAT_DEN * n^2, the chance that two bytes of the block are
 * equal, relative to uniform bytes (1 + 256/n for random data, ~10 for text). */
#include <errno.h>
#include <libdeflate.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "layer/layer-internal.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

#define MAX_THREADS 64
#define STORED_MAX 65535 /* bytes in one stored deflate block */
#define UNFINISH_ROOM 5  /* what layer_deflate_unfinish may add */

/* A block is flat when its collision index is at most 1.04 times uniform's (see above). */
#define FLAT_NUM 104
#define FLAT_DEN 100

enum job_state { JOB_FREE, JOB_FILLING, JOB_PENDING, JOB_RUNNING, JOB_DONE };

struct gz_job {
	enum job_state state;
	bool last;
	unsigned char *in; /* ST_LAYER_GZIP_BLOCK bytes */
	size_t in_len;
	unsigned char *out;
	size_t out_len, out_cap;
	uint32_t crc;
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
	struct libdeflate_compressor *inline_c; /* for n_threads == 0 */
};

/* Makes room for `need` bytes of output. */
static int reserve_out(struct gz_job *j, size_t need)
{
	unsigned char *p;

	if (j->out_cap >= need)
		return 0;
	p = realloc(j->out, need);
	if (!p)
		return -ST_ENOMEM;
	j->out = p;
	j->out_cap = need;
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

/* The block as stored deflate blocks (a copy with a 5-byte header per 64 KiB); the last
 * block of the stream carries the final bit. Always at least one block, so an empty last
 * block still ends the stream. */
static int store_job(struct gz_job *j)
{
	size_t n = j->in_len, off = 0;
	unsigned char *o;

	if (reserve_out(j, n + (n / STORED_MAX + 1) * 5) < 0)
		return -ST_ENOMEM;
	o = j->out;
	do {
		size_t k = n - off < STORED_MAX ? n - off : STORED_MAX;
		*o++ = j->last && off + k == n ? 1 : 0; /* BFINAL, BTYPE 00, then byte-aligned */
		*o++ = (unsigned char)k;
		*o++ = (unsigned char)(k >> 8);
		*o++ = (unsigned char)~k;
		*o++ = (unsigned char)(~k >> 8);
		memcpy(o, j->in + off, k);
		o += k;
		off += k;
	} while (off < n);
	j->out_len = (size_t)(o - j->out);
	return 0;
}

/* Compresses one block with c; touches only the job. */
static int deflate_job(struct libdeflate_compressor *c, struct gz_job *j)
{
	size_t bound;

	j->crc = (uint32_t)libdeflate_crc32(0, j->in, j->in_len);
	if (j->in_len == 0 || flat_block(j->in, j->in_len))
		return store_job(j);
	bound = libdeflate_deflate_compress_bound(c, j->in_len) + UNFINISH_ROOM;
	if (reserve_out(j, bound) < 0)
		return -ST_ENOMEM;
	j->out_len = libdeflate_deflate_compress(c, j->in, j->in_len, j->out, bound);
	if (j->out_len == 0)
		return -ST_EINVALID;
	return j->last ? 0 : layer_deflate_unfinish(j->out, &j->out_len, j->out_cap);
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
	struct libdeflate_compressor *c = libdeflate_alloc_compressor(g->level);
	int init_rc = c ? 0 : -ST_ENOMEM;

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
		j->rc = init_rc < 0 ? init_rc : deflate_job(c, j);
		pthread_mutex_lock(&g->lock);
		j->state = JOB_DONE;
		pthread_cond_broadcast(&g->done);
	}
	pthread_mutex_unlock(&g->lock);
	libdeflate_free_compressor(c);
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
		j->rc = deflate_job(g->inline_c, j);
		j->state = JOB_DONE;
		return drain(g, false, err);
	}
	pthread_mutex_lock(&g->lock);
	j->state = JOB_PENDING;
	pthread_cond_signal(&g->work);
	pthread_mutex_unlock(&g->lock);
	return drain(g, false, err);
}

/* Starts a new filling job, waiting for a free slot. */
static int start_job(struct gz *g, struct gz_job **out, struct st_error *err)
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
	j->in_len = 0;
	j->last = false;
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
			rc = start_job(g, &j, err);
			if (rc < 0)
				return rc;
		} else if (j->in_len == ST_LAYER_GZIP_BLOCK) {
			/* more input follows, so this full block is not the last */
			struct gz_job *next;
			rc = submit(g, j, err);
			if (rc < 0)
				return rc;
			rc = start_job(g, &next, err);
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
		rc = start_job(g, &j, err);
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
	libdeflate_free_compressor(g->inline_c);
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
	(void)snprintf(g->base.name, sizeof(g->base.name), "gzip/libdeflate-%s/block-%d/flat-%d",
	               LIBDEFLATE_VERSION_STRING, ST_LAYER_GZIP_BLOCK, FLAT_NUM);
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
		g->inline_c = libdeflate_alloc_compressor(level);
		if (!g->inline_c) {
			gz_free(&g->base);
			return st_error_set(err, ST_ENOMEM, "gzip: out of memory");
		}
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
