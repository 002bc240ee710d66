/* layer/layer-read.h: the decompressing, hashing reader thread of apply (layer-read.c). */
#ifndef ST_LAYER_READ_H
#define ST_LAYER_READ_H

#include <pthread.h>
#include <sys/types.h>

#include "layer/layer-internal.h"
#include "strata/digest.h"

#define LAYER_NBUF 4
#define LAYER_RBUF_CAP (1024 * 1024)

struct layer_rbuf {
	unsigned char *p;
	size_t len;
};

struct layer_reader {
	int fd;
	uint64_t max_bytes;
	enum st_layer_compression compression;
	struct st_hasher in_hash, tar_hash; /* producer-owned until it is done */
	uint64_t in_size, tar_size;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct layer_rbuf bufs[LAYER_NBUF]; /* filled ring: head .. head + count */
	size_t head, count;
	int held; /* index the consumer holds, or -1 */
	bool done, stop, started, inited;
	int prc;              /* producer's result */
	struct st_error perr; /* producer's error */
};

/* Starts the producer on fd (borrowed). Release even on failure. */
int layer_reader_start(struct layer_reader *r, int fd, uint64_t max_bytes, struct st_error *err);
/* The next chunk of tar bytes (valid until the next call): > 0 bytes, 0 at the end, -1 on a
 * producer error (see layer_reader_error). */
ssize_t layer_reader_next(struct layer_reader *r, const void **out);
/* The producer's error, if any, copied into err. */
int layer_reader_error(struct layer_reader *r, struct st_error *err);
/* Reads to the end of the input (so that both digests cover all of it). */
int layer_reader_finish(struct layer_reader *r, struct st_error *err);
void layer_reader_release(struct layer_reader *r);

#endif
