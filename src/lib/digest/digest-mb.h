/* digest-mb.h (internal): SHA-256 streams hashed one at a time through OpenSSL's block function or
 * up to eight at once in the lanes of one AVX2 register (multi-buffer), and a pool that hashes
 * the streams of concurrent producers together on one thread. */
#ifndef ST_DIGEST_MB_H
#define ST_DIGEST_MB_H

#include <stddef.h>
#include <stdint.h>

#include "strata/digest.h"

#define ST_DIGEST_MB_LANES 8

/* One SHA-256 stream: the chaining state between whole blocks and the bytes of a partial one. */
struct st_digest_stream {
	uint32_t h[8];
	uint64_t len; /* bytes fed */
	unsigned char buf[64];
	unsigned n_buf; /* bytes in buf (< 64) */
};

enum st_digest_mb_impl {
	ST_DIGEST_MB_SCALAR = 0, /* one stream after another (OpenSSL's block function) */
	ST_DIGEST_MB_AVX2 = 1,
	ST_DIGEST_MB_AVX512VL = 2, /* AVX2 code with AVX-512VL rotates and ternary logic */
};

void st_digest_stream_init(struct st_digest_stream *s);
void st_digest_stream_update(struct st_digest_stream *s, const void *p, size_t len);
/* SHA-256 of everything fed; s must be initialised again before reuse. */
void st_digest_stream_final(struct st_digest_stream *s, struct st_digest *out);

/* The best implementation this CPU runs. */
enum st_digest_mb_impl st_digest_mb_best(void);
const char *st_digest_mb_impl_name(enum st_digest_mb_impl impl);
/* Hashes n_blocks whole 64-byte blocks of p[i] into s[i], for n_lanes (1..8) streams, each with
 * no partial block pending (n_buf == 0). impl must be one the CPU runs (<= st_digest_mb_best()). */
void st_digest_mb_blocks(enum st_digest_mb_impl impl, struct st_digest_stream *const s[],
                         const unsigned char *const p[], unsigned n_lanes, size_t n_blocks);
/* How many streams the multi-buffer code needs to beat hashing them one after another. */
unsigned st_digest_mb_min_lanes(enum st_digest_mb_impl impl);

/* ---- the pool: one hasher thread for the streams of many producers ---- */

struct st_digest_pool;
struct st_digest_pool_stream;

/* limit: the bytes a stream may have queued before its producer waits (0: 1 MiB). */
int st_digest_pool_new(size_t limit, struct st_digest_pool **out, struct st_error *err);
/* Every stream must be closed first. NULL is a no-op. */
void st_digest_pool_free(struct st_digest_pool *pool);
int st_digest_pool_open(struct st_digest_pool *pool, struct st_digest_pool_stream **out,
                        struct st_error *err);
/* A producer fills buffers the pool lends and hands them back whole, so its bytes are never
 * copied: each ST_DIGEST_POOL_BUF bytes, aligned to ST_DIGEST_POOL_BUF_ALIGN (fit for O_DIRECT).
 * st_digest_pool_buffer lends one (a hashed one again, or a new one; NULL when out of memory).
 * st_digest_pool_submit hands it back with its first len bytes to hash after the stream's
 * earlier ones: hashed at once on the caller's thread when few streams are busy, else queued
 * for the hasher (waiting while the queue is over the limit); len 0 only gives it back. The
 * caller must not touch a buffer once submitted, and submits every buffer before the close.
 * One producer per stream at a time. */
#define ST_DIGEST_POOL_BUF ((size_t)512 << 10)
#define ST_DIGEST_POOL_BUF_ALIGN ((size_t)4096)
void *st_digest_pool_buffer(struct st_digest_pool_stream *s);
void st_digest_pool_submit(struct st_digest_pool_stream *s, void *buf, size_t len);
/* Waits until every byte written is hashed; the SHA-256 of them all. Then only close. */
void st_digest_pool_final(struct st_digest_pool_stream *s, struct st_digest *out);
struct st_digest_pool_stats {
	uint64_t inline_bytes; /* hashed by their producers */
	uint64_t queued_bytes; /* handed to the thread */
	uint64_t mb_bytes;     /* of those, hashed in multi-buffer rounds */
	uint64_t mb_rounds, mb_lanes;
};
void st_digest_pool_get_stats(struct st_digest_pool *pool, struct st_digest_pool_stats *out);
/* Drops the stream and what it has queued (NULL is a no-op). */
void st_digest_pool_close(struct st_digest_pool_stream *s);

#endif
