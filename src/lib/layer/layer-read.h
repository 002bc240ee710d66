/* layer/layer-read.h: the decompressing reader of apply and its hasher thread (layer-read.c). */
#ifndef ST_LAYER_READ_H
#define ST_LAYER_READ_H

#include <pthread.h>
#include <sys/types.h>

#include "layer/layer-internal.h"
#include "strata/digest.h"

#define LAYER_NBUF 8
#define LAYER_RBUF_CAP (1024 * 1024)
#define LAYER_NIN 4
#define LAYER_IN_CAP (256 * 1024)

struct layer_rbuf {
	unsigned char *p;
	size_t len;
};

/* Two rings, each slot free again only when all its consumers are done with it:
 *   tar:   producer fills; the applying thread (n_taken) and the hasher (n_tar_hashed) read;
 *   input: producer reads compressed bytes into it and inflates from it; the hasher
 *          (n_in_hashed) hashes them.
 * Counters only grow; slot i of a ring is i % its size. */
struct layer_reader {
	int fd;
	uint64_t max_bytes;
	enum st_layer_compression compression;
	struct st_hasher in_hash, tar_hash; /* hasher-thread-owned until hash_done */
	uint64_t in_size, tar_size;         /* producer-owned */
	pthread_t thread, hasher;
	pthread_mutex_t lock;
	pthread_cond_t data_cv;  /* producer -> consumers: a buffer, the end, stop */
	pthread_cond_t space_cv; /* consumers -> producer: a slot released; the hasher's end */
	struct layer_rbuf bufs[LAYER_NBUF];
	struct layer_rbuf in[LAYER_NIN];
	uint64_t n_put, n_taken, n_tar_hashed; /* tar ring */
	uint64_t n_in_put, n_in_hashed;        /* input ring */
	bool hash; /* false: no hasher thread, no digests (the caller wants none) */
	bool held; /* the applying thread holds slot n_taken */
	bool done, stop, hash_done, started, hasher_started, inited;
	int prc;              /* producer's result */
	struct st_error perr; /* producer's error */
};

/* Starts the producer, and the hasher when `hash`, on fd (borrowed). Release even on failure. */
int layer_reader_start(struct layer_reader *r, int fd, uint64_t max_bytes, bool hash,
                       struct st_error *err);
/* The next chunk of tar bytes (valid until the next call): > 0 bytes, 0 at the end, -1 on a
 * producer error (see layer_reader_error). */
ssize_t layer_reader_next(struct layer_reader *r, const void **out);
/* The producer's error, if any, copied into err. */
int layer_reader_error(struct layer_reader *r, struct st_error *err);
/* Reads to the end of the input and waits for the hasher, so that both digests cover all of
 * it. */
int layer_reader_finish(struct layer_reader *r, struct st_error *err);
/* After a successful layer_reader_finish of a hashing reader: the blob digest (of the input as
 * read) and the diffID (of the tar). */
void layer_reader_digests(struct layer_reader *r, struct st_digest *digest,
                          struct st_digest *diff_id);
void layer_reader_release(struct layer_reader *r);

#endif
