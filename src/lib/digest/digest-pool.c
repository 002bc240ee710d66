/* digest-pool.c: one hasher thread for the SHA-256 streams of concurrent producers (a registry's
 * uploads). A producer fills buffers the pool lends and hands them over whole into its stream's
 * queue (no copy; a hashed buffer is lent again). The thread takes the streams that have bytes
 * queued, up to eight, and hashes their whole blocks together in the lanes of the multi-buffer
 * code (digest-mb.c), partial blocks through the scalar path. It waits for enough streams to
 * fill the lanes, or for a queue to grow, before it starts a round.
 *
 * While fewer streams are busy than the multi-buffer code needs to pay off, a producer hashes
 * its own bytes at once on its thread, as a lone st_hasher would (no copy, no hand-over). Each
 * queue is bounded: a producer waits while its queue is over the limit. Ordering: a stream's
 * bytes are hashed in the order written, because a producer hashes inline only when its queue
 * is empty and the thread is not working on it (busy), and the thread takes a stream only when
 * no producer is hashing it. A producer that would wait (its queue full, or its final) runs a
 * round itself, on any streams ready, rather than sleep. */
#include "digest/digest-mb.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "util/banned.h"

#define DEFAULT_LIMIT (1u << 20)
/* blocks per lane in one multi-buffer call, so that the lanes regroup often */
#define ROUND_BLOCKS 256
/* a stream counts as busy for this long after its last write */
#define ACTIVE_NS (100 * 1000000LL)
/* the thread starts a round with fewer lanes than it wants after this long */
#define GATHER_NS (2 * 1000000L)

/* A lent buffer: this header, then the data ST_DIGEST_POOL_BUF_ALIGN bytes into the allocation
 * (so it stays aligned). Queued once submitted; back to its stream's spares once hashed. */
struct chunk {
	struct chunk *next;
	size_t len, off;
	unsigned char *data;
};

/* hashed lent buffers a stream keeps for its producer; more are freed */
#define MAX_SPARES 2

struct st_digest_pool_stream {
	struct st_digest_pool *pool;
	struct st_digest_pool_stream *prev, *next;
	struct st_digest_stream ctx;
	struct chunk *head, *tail;
	struct chunk *spares; /* lent buffers hashed, for st_digest_pool_buffer */
	unsigned n_spares;
	size_t queued;
	long long last_write; /* ns, CLOCK_MONOTONIC */
	bool busy;            /* ctx is being hashed (by the thread, or inline by the producer) */
	bool draining;        /* final waits for the queue */
};

struct st_digest_pool {
	pthread_mutex_t mu;
	pthread_cond_t work_cv;  /* the thread waits for bytes */
	pthread_cond_t drain_cv; /* producers wait for their queues */
	pthread_t thread;
	struct st_digest_pool_stream *first, *last;
	size_t limit;
	enum st_digest_mb_impl impl;
	unsigned min_lanes;
	bool started, stop;
	struct st_digest_pool_stats stats;
};

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void unlink_stream(struct st_digest_pool *pool, struct st_digest_pool_stream *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		pool->first = s->next;
	if (s->next)
		s->next->prev = s->prev;
	else
		pool->last = s->prev;
	s->prev = s->next = NULL;
}

static void append_stream(struct st_digest_pool *pool, struct st_digest_pool_stream *s)
{
	s->prev = pool->last;
	s->next = NULL;
	if (pool->last)
		pool->last->next = s;
	else
		pool->first = s;
	pool->last = s;
}

/* A hashed chunk becomes a spare of its stream (under the lock). */
static void chunk_done(struct st_digest_pool_stream *s, struct chunk *c)
{
	if (s->n_spares < MAX_SPARES) {
		c->next = s->spares;
		s->spares = c;
		s->n_spares++;
	} else {
		free(c);
	}
}

/* One round over the head chunks of n streams (not under the lock: the thread owns their ctx,
 * and a producer only appends behind the head). */
static void hash_round(struct st_digest_pool *pool, struct st_digest_pool_stream *const *lane,
                       struct chunk *const *c, unsigned n, struct st_digest_pool_stats *st)
{
	struct st_digest_stream *ms[ST_DIGEST_MB_LANES];
	const unsigned char *mp[ST_DIGEST_MB_LANES];
	unsigned idx[ST_DIGEST_MB_LANES], m = 0;
	size_t nb = ROUND_BLOCKS;

	for (unsigned i = 0; i < n; i++) {
		struct st_digest_stream *ctx = &lane[i]->ctx;
		size_t left = c[i]->len - c[i]->off;
		if (ctx->n_buf) { /* complete the partial block first */
			size_t take = 64 - ctx->n_buf < left ? 64 - ctx->n_buf : left;
			st_digest_stream_update(ctx, c[i]->data + c[i]->off, take);
			c[i]->off += take;
			left -= take;
		}
		if (ctx->n_buf == 0 && left >= 64) {
			idx[m++] = i;
			if (left / 64 < nb)
				nb = left / 64;
		}
	}
	if (m >= pool->min_lanes) {
		for (unsigned j = 0; j < m; j++) {
			ms[j] = &lane[idx[j]]->ctx;
			mp[j] = c[idx[j]]->data + c[idx[j]]->off;
			c[idx[j]]->off += nb * 64;
		}
		st_digest_mb_blocks(pool->impl, ms, mp, m, nb);
		st->mb_rounds++;
		st->mb_lanes += m;
		st->mb_bytes += (uint64_t)m * nb * 64;
	}
	for (unsigned i = 0; i < n; i++) {
		size_t left = c[i]->len - c[i]->off;
		/* the rest of the chunk when the lanes were not worth it, else a tail under a block
		 */
		if (left && (m < pool->min_lanes || left < 64)) {
			st_digest_stream_update(&lane[i]->ctx, c[i]->data + c[i]->off, left);
			c[i]->off = c[i]->len;
		}
	}
}

/* Whether the thread should start a round now with the n ready streams (under the lock). */
static bool worth_a_round(struct st_digest_pool *pool, unsigned n, bool waited)
{
	if (n >= pool->min_lanes || n >= ST_DIGEST_MB_LANES || pool->stop || waited)
		return n > 0;
	for (struct st_digest_pool_stream *s = pool->first; s; s = s->next)
		if (s->head && !s->busy && (s->draining || s->queued >= pool->limit / 4))
			return true;
	return false;
}

static unsigned pick(struct st_digest_pool *pool, struct st_digest_pool_stream **lane,
                     struct chunk **c)
{
	unsigned n = 0;

	for (struct st_digest_pool_stream *s = pool->first; s && n < ST_DIGEST_MB_LANES;
	     s = s->next)
		if (s->head && !s->busy) {
			lane[n] = s;
			c[n++] = s->head;
		}
	return n;
}

/* One round on n picked streams: entered and left with the lock held. */
static void run_round(struct st_digest_pool *pool, struct st_digest_pool_stream **lane,
                      struct chunk **c, unsigned n)
{
	struct st_digest_pool_stats st = {0};

	for (unsigned i = 0; i < n; i++)
		lane[i]->busy = true;
	pthread_mutex_unlock(&pool->mu);
	hash_round(pool, lane, c, n, &st);
	pthread_mutex_lock(&pool->mu);
	pool->stats.mb_rounds += st.mb_rounds;
	pool->stats.mb_lanes += st.mb_lanes;
	pool->stats.mb_bytes += st.mb_bytes;
	for (unsigned i = 0; i < n; i++) {
		struct st_digest_pool_stream *s = lane[i];
		s->busy = false;
		if (c[i]->off == c[i]->len) {
			s->head = c[i]->next;
			if (!s->head)
				s->tail = NULL;
			s->queued -= c[i]->len;
			chunk_done(s, c[i]);
		}
		/* to the back of the line: more than eight streams take turns */
		unlink_stream(pool, s);
		append_stream(pool, s);
	}
	pthread_cond_broadcast(&pool->drain_cv);
	/* a round run by a producer: the thread may have found these streams busy and gone to
	 * sleep with no wake-up to come (their producers append without one to a queue that is not
	 * empty, and wait for it while too few streams are ready for their own round) */
	pthread_cond_signal(&pool->work_cv);
}

/* A producer that would wait for the thread runs a round itself when there is a full one to run
 * (enough streams for the lanes): the hashing then gets the producers' share of the CPU too,
 * not one thread's. Lock held. */
static void help_or_wait(struct st_digest_pool *pool)
{
	struct st_digest_pool_stream *lane[ST_DIGEST_MB_LANES];
	struct chunk *c[ST_DIGEST_MB_LANES];
	unsigned n = pick(pool, lane, c);

	if (n >= pool->min_lanes)
		run_round(pool, lane, c, n);
	else
		pthread_cond_wait(&pool->drain_cv, &pool->mu);
}

static void *hasher_main(void *arg)
{
	struct st_digest_pool *pool = arg;
	struct st_digest_pool_stream *lane[ST_DIGEST_MB_LANES];
	struct chunk *c[ST_DIGEST_MB_LANES];
	bool waited = false;

	pthread_mutex_lock(&pool->mu);
	for (;;) {
		unsigned n = pick(pool, lane, c);
		if (!worth_a_round(pool, n, waited)) {
			if (pool->stop)
				break;
			if (n == 0) {
				pthread_cond_wait(&pool->work_cv, &pool->mu);
			} else {
				struct timespec until;
				clock_gettime(CLOCK_REALTIME, &until);
				until.tv_nsec += GATHER_NS;
				if (until.tv_nsec >= 1000000000L) {
					until.tv_sec++;
					until.tv_nsec -= 1000000000L;
				}
				waited = pthread_cond_timedwait(&pool->work_cv, &pool->mu,
				                                &until) == ETIMEDOUT;
			}
			continue;
		}
		waited = false;
		run_round(pool, lane, c, n);
	}
	pthread_mutex_unlock(&pool->mu);
	return NULL;
}

void st_digest_pool_get_stats(struct st_digest_pool *pool, struct st_digest_pool_stats *out)
{
	pthread_mutex_lock(&pool->mu);
	*out = pool->stats;
	pthread_mutex_unlock(&pool->mu);
}

int st_digest_pool_new(size_t limit, struct st_digest_pool **out, struct st_error *err)
{
	struct st_digest_pool *pool = calloc(1, sizeof(*pool));
	sigset_t all, old;
	int e;

	if (!pool)
		return st_error_set(err, ST_ENOMEM, "out of memory for a hasher pool");
	pthread_mutex_init(&pool->mu, NULL);
	pthread_cond_init(&pool->work_cv, NULL);
	pthread_cond_init(&pool->drain_cv, NULL);
	pool->limit = limit ? limit : DEFAULT_LIMIT;
	pool->impl = st_digest_mb_best();
	pool->min_lanes = st_digest_mb_min_lanes(pool->impl);
	if (pool->impl != ST_DIGEST_MB_SCALAR) {
		/* the thread takes no signals: they stay with the threads that handle them */
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		e = pthread_create(&pool->thread, NULL, hasher_main, pool);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (e) {
			st_digest_pool_free(pool);
			errno = e;
			return st_error_sys(err, "start the hasher thread");
		}
		pool->started = true;
	}
	*out = pool;
	return 0;
}

void st_digest_pool_free(struct st_digest_pool *pool)
{
	if (!pool)
		return;
	if (pool->started) {
		pthread_mutex_lock(&pool->mu);
		pool->stop = true;
		pthread_cond_signal(&pool->work_cv);
		pthread_mutex_unlock(&pool->mu);
		pthread_join(pool->thread, NULL);
	}
	while (pool->first)
		st_digest_pool_close(pool->first);
	pthread_cond_destroy(&pool->drain_cv);
	pthread_cond_destroy(&pool->work_cv);
	pthread_mutex_destroy(&pool->mu);
	free(pool);
}

int st_digest_pool_open(struct st_digest_pool *pool, struct st_digest_pool_stream **out,
                        struct st_error *err)
{
	struct st_digest_pool_stream *s = calloc(1, sizeof(*s));

	if (!s)
		return st_error_set(err, ST_ENOMEM, "out of memory for a hash stream");
	s->pool = pool;
	st_digest_stream_init(&s->ctx);
	pthread_mutex_lock(&pool->mu);
	append_stream(pool, s);
	pthread_mutex_unlock(&pool->mu);
	*out = s;
	return 0;
}

/* Whether a producer should hash its bytes itself (under the lock): the other streams busy
 * now or lately leave too few lanes for the multi-buffer code. */
static bool hash_inline(struct st_digest_pool *pool, struct st_digest_pool_stream *self,
                        long long now)
{
	unsigned others = 0;

	if (self->head || self->busy)
		return false;
	for (struct st_digest_pool_stream *s = pool->first; s; s = s->next)
		if (s != self && (s->head || s->busy || now - s->last_write < ACTIVE_NS))
			if (++others + 1 >= pool->min_lanes)
				return false;
	return true;
}

/* Lock held: waits while s's queue is over the limit; then whether its producer hashes inline
 * (s is then busy until hash_here). */
static bool admit(struct st_digest_pool *pool, struct st_digest_pool_stream *s)
{
	while (s->queued >= pool->limit)
		help_or_wait(pool);
	s->last_write = now_ns();
	if (!hash_inline(pool, s, s->last_write))
		return false;
	s->busy = true;
	return true;
}

/* Lock held (dropped while hashing): the producer hashes its bytes itself. */
static void hash_here(struct st_digest_pool *pool, struct st_digest_pool_stream *s, const void *p,
                      size_t len)
{
	pthread_mutex_unlock(&pool->mu);
	st_digest_stream_update(&s->ctx, p, len);
	pthread_mutex_lock(&pool->mu);
	s->busy = false;
	pool->stats.inline_bytes += len;
}

/* Lock held: c to the back of s's queue. */
static void enqueue(struct st_digest_pool *pool, struct st_digest_pool_stream *s, struct chunk *c)
{
	/* wake the thread when a stream becomes ready or a queue passes the mark it acts on */
	bool wake =
	        !s->head || (s->queued < pool->limit / 4 && s->queued + c->len >= pool->limit / 4);

	c->next = NULL;
	if (s->tail)
		s->tail->next = c;
	else
		s->head = c;
	s->tail = c;
	s->queued += c->len;
	pool->stats.queued_bytes += c->len;
	if (wake)
		pthread_cond_signal(&pool->work_cv);
}

_Static_assert(sizeof(struct chunk) <= ST_DIGEST_POOL_BUF_ALIGN, "a lent buffer's header fits");

void *st_digest_pool_buffer(struct st_digest_pool_stream *s)
{
	struct st_digest_pool *pool = s->pool;
	struct chunk *c;
	void *m;

	pthread_mutex_lock(&pool->mu);
	c = s->spares;
	if (c) {
		s->spares = c->next;
		s->n_spares--;
	}
	pthread_mutex_unlock(&pool->mu);
	if (c)
		return c->data;
	if (posix_memalign(&m, ST_DIGEST_POOL_BUF_ALIGN,
	                   ST_DIGEST_POOL_BUF_ALIGN + ST_DIGEST_POOL_BUF) != 0)
		return NULL;
	c = m;
	c->data = (unsigned char *)m + ST_DIGEST_POOL_BUF_ALIGN;
	return c->data;
}

void st_digest_pool_submit(struct st_digest_pool_stream *s, void *buf, size_t len)
{
	struct st_digest_pool *pool = s->pool;
	struct chunk *c = (struct chunk *)(void *)((unsigned char *)buf - ST_DIGEST_POOL_BUF_ALIGN);

	c->len = len;
	c->off = 0;
	pthread_mutex_lock(&pool->mu);
	if (len == 0) {
		chunk_done(s, c);
	} else if (admit(pool, s)) {
		hash_here(pool, s, c->data, len);
		chunk_done(s, c);
	} else {
		enqueue(pool, s, c);
	}
	pthread_mutex_unlock(&pool->mu);
}

void st_digest_pool_final(struct st_digest_pool_stream *s, struct st_digest *out)
{
	struct st_digest_pool *pool = s->pool;

	pthread_mutex_lock(&pool->mu);
	s->draining = true;
	pthread_cond_signal(&pool->work_cv);
	while (s->head || s->busy)
		help_or_wait(pool);
	s->draining = false;
	pthread_mutex_unlock(&pool->mu);
	st_digest_stream_final(&s->ctx, out);
}

void st_digest_pool_close(struct st_digest_pool_stream *s)
{
	struct st_digest_pool *pool;
	struct chunk *c;

	if (!s)
		return;
	pool = s->pool;
	pthread_mutex_lock(&pool->mu);
	while (s->busy) /* the thread lets go after its round */
		pthread_cond_wait(&pool->drain_cv, &pool->mu);
	unlink_stream(pool, s);
	pthread_mutex_unlock(&pool->mu);
	while ((c = s->head)) {
		s->head = c->next;
		free(c);
	}
	while ((c = s->spares)) {
		s->spares = c->next;
		free(c);
	}
	free(s);
}
