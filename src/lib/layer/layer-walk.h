/* layer/layer-walk.h: the state of one layer being written, shared by layer-create.c (the
 * pipeline) and layer-walk.c (the tree walk and the tar entries). */
#ifndef ST_LAYER_WALK_H
#define ST_LAYER_WALK_H

#include <pthread.h>
#include <sys/types.h>

#include "layer/layer-internal.h"
#include "strata/buf.h"
#include "strata/digest.h"

#define LAYER_IOBUF (1024 * 1024)
#define LAYER_MAX_DEPTH 512
#define LAYER_STAGE_BUF (1024 * 1024)
#define LAYER_STAGE_N 4

struct archive;
struct archive_entry;

/* Inodes already written, so that later paths become hardlinks to the first. */
struct layer_link {
	dev_t dev;
	ino_t ino;
	char *path; /* NULL: empty slot */
};
struct layer_links {
	struct layer_link *v;
	size_t cap, n;
};
void layer_links_release(struct layer_links *l);

/* The hand-off from the walk (which fills buf[fill]) to the thread that hashes and compresses
 * (which consumes the n_full buffers from head). */
struct layer_stage {
	pthread_t thread;
	bool inited, started;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* a buffer was filled or consumed, or the stage stops */
	unsigned char *buf[LAYER_STAGE_N];
	size_t len[LAYER_STAGE_N];
	size_t head, n_full;   /* under lock */
	size_t fill, fill_len; /* the walk's side */
	bool filling;          /* the walk's side: buf[fill] is being filled */
	bool eof, cancel;      /* under lock */
	int rc;                /* the thread's failure, with err */
	struct st_error err;
};

struct layer_writer {
	const struct st_layer_create_opts *opts;
	const struct st_layer_sink *sink;
	struct st_error *err;
	bool upper; /* input is an overlay upper dir */
	struct archive *a;
	struct archive_entry *entry;
	struct layer_compressor *comp;
	struct st_hasher tar_hash, out_hash;
	uint64_t tar_size, out_size, n_entries;
	int cb_rc;             /* error of a libarchive callback */
	bool discard;          /* tearing down: callbacks drop what libarchive still flushes */
	struct st_buf rel;     /* path in the tar of the current entry */
	struct st_buf abs_new; /* its path on disk, in the new tree */
	struct st_buf abs_old; /* and in the old tree (diff mode) */
	struct layer_links links;
	unsigned char *iobuf;
	bool out_is_tar; /* no compression: digest = diffID */
	struct layer_stage stage;
};

/* Writes the entries below directory new_fd (the layer root when depth is 0). old_fd is the
 * same directory in the old tree, or -1. */
int layer_walk_dir(struct layer_writer *w, int new_fd, int old_fd, int depth);
int layer_archive_error(struct layer_writer *w, const char *what);

#endif
