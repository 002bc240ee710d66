/* reg-follow.c: a layer extracted while it downloads. The fetcher tells a follower about its
 * blob writer and each write; a pump thread splices the bytes from the writer's temporary file
 * (reopened, so with an offset of its own) into a pipe as they arrive, and an extracting thread
 * makes the layer's snapshot from that pipe (st_snapshot_extract_fd), which checks the layer's
 * digest and diffID before it renames the snapshot into place, as always. A download that
 * restarts from zero or fails breaks the pipe: the extraction fails, quietly, and the pull
 * extracts the layer from its blob afterwards. */
#include "registry/registry-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "strata/snapshot.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

#define PUMP_MAX (1u << 20)
#define PUMP_BATCH (256u << 10)

enum follow_state { FOLLOW_WAIT = 0, FOLLOW_RUN, FOLLOW_DONE, FOLLOW_BROKEN };

struct st_reg_follow {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	enum follow_state state;
	const struct st_blob_writer *w; /* the writer followed */
	uint64_t size;                  /* bytes it holds, as the pump knows */
	uint64_t told;                  /* the fetcher's last report (fetcher thread only) */
	int src, pipe_r, pipe_w;
	pthread_t pump, extract;
	bool started;
	struct st_store *store;
	struct st_descriptor layer;
	struct st_digest diff_id, chain_id;
	int rc; /* the extraction's */
	struct st_error err;
};

int st_reg_follow_new(struct st_store *store, const struct st_descriptor *layer,
                      const struct st_digest *diff_id, const struct st_digest *chain_id,
                      struct st_reg_follow **out, struct st_error *err)
{
	struct st_reg_follow *f = calloc(1, sizeof(*f));

	if (!f || st_descriptor_copy(&f->layer, layer, err) < 0) {
		free(f);
		return st_error_set(err, ST_ENOMEM, "out of memory");
	}
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	f->src = f->pipe_r = f->pipe_w = -1;
	f->store = store;
	f->diff_id = *diff_id;
	f->chain_id = *chain_id;
	*out = f;
	return 0;
}

static void set_state(struct st_reg_follow *f, enum follow_state s)
{
	pthread_mutex_lock(&f->lock);
	if (f->state != FOLLOW_BROKEN && f->state != FOLLOW_DONE)
		f->state = s;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

/* Moves the bytes to the pipe as they come; closes it at the end (early when broken). */
static void *pump(void *arg)
{
	struct st_reg_follow *f = arg;
	loff_t off = 0;
	sigset_t pipe_sig;

	/* a reader that gave up makes splice fail with EPIPE, not kill the process */
	sigemptyset(&pipe_sig);
	sigaddset(&pipe_sig, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_sig, NULL);
	for (;;) {
		uint64_t avail;
		ssize_t n;

		pthread_mutex_lock(&f->lock);
		while (f->state == FOLLOW_RUN && (uint64_t)off >= f->size)
			pthread_cond_wait(&f->cond, &f->lock);
		avail = f->size - (uint64_t)off;
		if (f->state == FOLLOW_BROKEN || (f->state == FOLLOW_DONE && avail == 0)) {
			pthread_mutex_unlock(&f->lock);
			break;
		}
		pthread_mutex_unlock(&f->lock);
		n = splice(f->src, &off, f->pipe_w, NULL, avail < PUMP_MAX ? avail : PUMP_MAX,
		           SPLICE_F_MOVE);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* EPIPE: the extraction stopped */
	}
	(void)close(f->pipe_w);
	f->pipe_w = -1;
	return NULL;
}

static void *extract(void *arg)
{
	struct st_reg_follow *f = arg;

	f->rc = st_snapshot_extract_fd(f->store, &f->layer, &f->diff_id, &f->chain_id, f->pipe_r,
	                               &f->err);
	/* the pump sees EPIPE if the extraction stopped early */
	(void)close(f->pipe_r);
	f->pipe_r = -1;
	return NULL;
}

void st_reg_follow_attach(struct st_reg_follow *f, const struct st_blob_writer *w)
{
	int fds[2];

	if (!f || f->state == FOLLOW_BROKEN || f->w == w)
		return;
	if (f->w) { /* a new writer: the download started over */
		st_reg_follow_break(f);
		return;
	}
	f->w = w;
	if (st_blob_writer_reopen(w, &f->src, NULL) < 0 || pipe2(fds, O_CLOEXEC) < 0) {
		f->state = FOLLOW_BROKEN;
		return;
	}
	f->pipe_r = fds[0];
	f->pipe_w = fds[1];
	(void)fcntl(f->pipe_w, F_SETPIPE_SZ, (int)PUMP_MAX); /* fewer wake-ups; best effort */
	f->size = f->told = st_blob_writer_size(w);
	f->state = FOLLOW_RUN;
	if (pthread_create(&f->extract, NULL, extract, f) != 0) {
		f->state = FOLLOW_BROKEN;
		return;
	}
	if (pthread_create(&f->pump, NULL, pump, f) != 0) {
		f->state = FOLLOW_BROKEN;
		(void)close(f->pipe_w); /* the extraction reads a short stream and stops */
		f->pipe_w = -1;
		pthread_join(f->extract, NULL);
		return;
	}
	f->started = true;
}

void st_reg_follow_grow(struct st_reg_follow *f, uint64_t size)
{
	/* curl hands over 16 KiB at a time: wake the pump per PUMP_BATCH, not per write */
	if (!f || size - f->told < PUMP_BATCH)
		return;
	f->told = size;
	pthread_mutex_lock(&f->lock);
	f->size = size;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

void st_reg_follow_done(struct st_reg_follow *f, uint64_t size)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	f->size = size;
	pthread_mutex_unlock(&f->lock);
	set_state(f, FOLLOW_DONE);
}

void st_reg_follow_break(struct st_reg_follow *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	f->state = FOLLOW_BROKEN;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

int st_reg_follow_free(struct st_reg_follow *f)
{
	int rc = -ST_ENOTFOUND;

	if (!f)
		return rc;
	if (f->state == FOLLOW_RUN || f->state == FOLLOW_WAIT)
		st_reg_follow_break(f); /* the fetch ended without committing the blob */
	if (f->started) {
		char dg[ST_DIGEST_STR_MAX];
		pthread_join(f->pump, NULL);
		pthread_join(f->extract, NULL);
		rc = f->rc;
		st_digest_str(&f->layer.digest, dg);
		if (rc < 0)
			st_log(ST_LOG_DEBUG, "layer %s: not extracted during its download (%s)", dg,
			       f->err.msg);
		else
			st_log(ST_LOG_DEBUG, "layer %s: extracted during its download", dg);
	}
	if (f->src >= 0)
		(void)close(f->src);
	pthread_mutex_destroy(&f->lock);
	pthread_cond_destroy(&f->cond);
	st_descriptor_release(&f->layer);
	free(f);
	return rc;
}
