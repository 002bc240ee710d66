/* store/store-internal.h: the store handle, shared by the store's own files. */
#ifndef ST_STORE_INTERNAL_H
#define ST_STORE_INTERNAL_H

#include <pthread.h>

#include "strata/store.h"

#define ST_MAX_INDEX_SIZE (64u << 20)

struct gc_root {
	st_gc_root_fn fn;
	void *ctx;
};
struct gc_expander {
	st_gc_expand_fn fn;
	void *ctx;
};
struct gc_sweeper {
	st_gc_sweep_fn fn;
	void *ctx;
};

struct st_store {
	char *root;
	int root_fd;
	int blobs_fd;    /* blobs/sha256 */
	int blobs512_fd; /* blobs/sha512, -1 until needed */
	int tmp_fd;
	/* Threads of one process share a store handle: flock() on one descriptor does not exclude
	 * them from each other, so `lock` guards lease_depth and blobs512_fd and index_lock
	 * orders the threads' index.json edits before the flock orders the processes'. */
	pthread_mutex_t lock;
	pthread_mutex_t index_lock;
	int lease_fd; /* locks/gc: shared = lease, exclusive = gc */
	int queue_fd; /* locks/gc-queue: the turnstile that queues new leases behind gc */
	int lease_depth;
	int index_lock_fd; /* locks/index: exclusive while index.json is rewritten */
	/* The last index.json parsed and its bytes (reading is cheap, parsing is not). Guarded
	 * by `lock`. */
	struct st_descriptor *index_cache;
	size_t n_index_cache;
	char *index_cache_raw;
	size_t index_cache_len;
	struct gc_root *roots;
	size_t n_roots;
	struct gc_expander *expanders;
	size_t n_expanders;
	struct gc_sweeper *sweepers;
	size_t n_sweepers;
};

int st_store_blobs_dir(struct st_store *s, enum st_digest_alg alg, struct st_error *err);
/* flock(fd, op), retried on EINTR. */
int st_store_flock(int fd, int op);

#endif
