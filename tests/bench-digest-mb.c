/* bench-digest-mb.c: SHA-256 throughput of 1, 2, 4 and 8 streams, in MB/s of all streams
 * together: OpenSSL one stream after another, the multi-buffer code (each implementation this
 * CPU runs) and the pool with one producer thread a stream copying 64 KiB at a time (as
 * libmicrohttpd hands an upload's bytes) into the buffers the pool lends. Run by
 * bench/digest-mb.sh. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "digest/digest-mb.h"
#include "strata/digest.h"

#define STREAM_LEN (16u << 20)
#define WRITE_LEN (64u << 10)

static unsigned char *buf[ST_DIGEST_MB_LANES];
static volatile unsigned char sink;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double openssl_mbs(unsigned k)
{
	double t = now();

	for (unsigned i = 0; i < k; i++) {
		struct st_digest d;
		if (st_digest_of(ST_DIGEST_SHA256, buf[i], STREAM_LEN, &d, NULL) < 0)
			exit(1);
		sink ^= d.bytes[0];
	}
	return (double)k * STREAM_LEN / 1e6 / (now() - t);
}

static double mb_mbs(enum st_digest_mb_impl impl, unsigned k)
{
	struct st_digest_stream ctx[ST_DIGEST_MB_LANES], *s[ST_DIGEST_MB_LANES];
	const unsigned char *p[ST_DIGEST_MB_LANES];
	double t = now();

	for (unsigned i = 0; i < k; i++) {
		st_digest_stream_init(&ctx[i]);
		s[i] = &ctx[i];
	}
	for (size_t off = 0; off < STREAM_LEN; off += WRITE_LEN) {
		for (unsigned i = 0; i < k; i++)
			p[i] = buf[i] + off;
		st_digest_mb_blocks(impl, s, p, k, WRITE_LEN / 64);
	}
	for (unsigned i = 0; i < k; i++) {
		struct st_digest d;
		st_digest_stream_final(&ctx[i], &d);
		sink ^= d.bytes[0];
	}
	return (double)k * STREAM_LEN / 1e6 / (now() - t);
}

struct prod {
	struct st_digest_pool *pool;
	const unsigned char *p;
};

static void *produce(void *arg)
{
	struct prod *pr = arg;
	struct st_digest_pool_stream *s;
	struct st_digest d;

	if (st_digest_pool_open(pr->pool, &s, NULL) < 0)
		exit(1);
	/* as an upload: WRITE_LEN at a time copied into a lent buffer, handed over when full */
	for (size_t off = 0; off < STREAM_LEN; off += ST_DIGEST_POOL_BUF) {
		size_t n = STREAM_LEN - off < ST_DIGEST_POOL_BUF ? STREAM_LEN - off
		                                                 : ST_DIGEST_POOL_BUF;
		unsigned char *b = st_digest_pool_buffer(s);
		if (!b)
			exit(1);
		for (size_t k = 0; k < n; k += WRITE_LEN)
			memcpy(b + k, pr->p + off + k, n - k < WRITE_LEN ? n - k : WRITE_LEN);
		st_digest_pool_submit(s, b, n);
	}
	st_digest_pool_final(s, &d);
	sink ^= d.bytes[0];
	st_digest_pool_close(s);
	return NULL;
}

static double pool_mbs(unsigned k, double *cpu)
{
	struct st_digest_pool *pool;
	struct prod pr[ST_DIGEST_MB_LANES];
	pthread_t t[ST_DIGEST_MB_LANES];
	struct timespec c0, c1;
	double t0;

	if (st_digest_pool_new(0, &pool, NULL) < 0)
		exit(1);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
	t0 = now();
	for (unsigned i = 0; i < k; i++) {
		pr[i] = (struct prod){pool, buf[i]};
		pthread_create(&t[i], NULL, produce, &pr[i]);
	}
	for (unsigned i = 0; i < k; i++)
		pthread_join(t[i], NULL);
	t0 = now() - t0;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
	*cpu = (double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) / 1e9;
	st_digest_pool_free(pool);
	return (double)k * STREAM_LEN / 1e6 / t0;
}

int main(int argc, char **argv)
{
	static const unsigned ks[] = {1, 2, 3, 4, 8};
	int reps = argc > 1 ? atoi(argv[1]) : 3;
	enum st_digest_mb_impl best = st_digest_mb_best();

	for (unsigned i = 0; i < ST_DIGEST_MB_LANES; i++) {
		buf[i] = malloc(STREAM_LEN);
		if (!buf[i])
			return 1;
		for (size_t j = 0; j < STREAM_LEN; j++)
			buf[i][j] = (unsigned char)(j * 131 + i);
	}
	printf("best: %s; MB/s of all streams together (best of %d), pool: wall MB/s and CPU "
	       "s/GB\n",
	       st_digest_mb_impl_name(best), reps);
	printf("%-8s %9s %9s %9s %9s %12s\n", "streams", "openssl", "avx2", "avx512vl", "pool",
	       "pool cpu");
	for (size_t x = 0; x < sizeof(ks) / sizeof(ks[0]); x++) {
		unsigned k = ks[x];
		double o = 0, a = 0, v = 0, pl = 0, pc = 1e9;
		for (int r = 0; r < reps; r++) {
			double cpu, m;
			m = openssl_mbs(k);
			o = m > o ? m : o;
			if (best >= ST_DIGEST_MB_AVX2 && (m = mb_mbs(ST_DIGEST_MB_AVX2, k)) > a)
				a = m;
			if (best >= ST_DIGEST_MB_AVX512VL &&
			    (m = mb_mbs(ST_DIGEST_MB_AVX512VL, k)) > v)
				v = m;
			m = pool_mbs(k, &cpu);
			pl = m > pl ? m : pl;
			cpu = cpu / ((double)k * STREAM_LEN / 1e9);
			pc = cpu < pc ? cpu : pc;
		}
		printf("%-8u %9.0f %9.0f %9.0f %9.0f %12.2f\n", k, o, a, v, pl, pc);
	}
	return sink == 255 ? 0 : 0;
}
