/* layer/layer-apply-pool.c: worker threads that create regular files for apply. The applying
 * thread keeps every structural operation (directories, links, whiteouts, removals) in tar
 * order and hands files, their content copied, to the workers; it waits for them (a barrier)
 * before anything that could touch a queued file (see layer-apply-file.c). Why: creating an
 * inode is most of an apply's time, all of it in the kernel, and on a file system without a
 * journal ext4 scans past recently deleted inodes on every create; two threads in different
 * directories do that on two cores. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layer/layer-apply.h"
#include "util/cleanup.h"

#include "util/banned.h"

#define POOL_MAX_THREADS 16
#define POOL_MAX_BYTES (32u << 20) /* content and names held by queued jobs */
#define POOL_MAX_JOBS 4096
#define POOL_MAX_DIRS 64    /* directories with queued jobs */
#define POOL_MAX_HANDLES 64 /* directory handles (fds) held by queued jobs */

/* ---- directory handles ---- */

int layer_dir_new(int fd, struct layer_dir **out, struct st_error *err)
{
	struct layer_dir *d = calloc(1, sizeof(*d));
	struct stat st;

	if (!d) {
		(void)close(fd);
		return st_error_set(err, ST_ENOMEM, "out of memory");
	}
	if (fstat(fd, &st) < 0) {
		int rc = st_error_sys(err, "stat directory");
		(void)close(fd);
		free(d);
		return rc;
	}
	d->fd = fd;
	d->dev = st.st_dev;
	d->ino = st.st_ino;
	atomic_init(&d->refs, 1);
	*out = d;
	return 0;
}

struct layer_dir *layer_dir_ref(struct layer_dir *d)
{
	atomic_fetch_add(&d->refs, 1);
	return d;
}

void layer_dir_unref(struct layer_dir *d)
{
	if (d && atomic_fetch_sub(&d->refs, 1) == 1) {
		(void)close(d->fd);
		free(d);
	}
}

void layer_file_free(struct layer_file *f)
{
	if (f) {
		layer_dir_unref(f->dir);
		free(f);
	}
}

/* Creates, fills and finishes one file: exactly what the applying thread does inline. */
static int file_run(const struct layer_file *f, struct st_error *err)
{
	cleanup_fd int fd = openat(f->dir->fd, f->base,
	                           O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0)
		return st_error_sys(err, "entry '%s': create", f->name);
	for (size_t off = 0; off < f->len;) {
		ssize_t n = write(fd, f->data + off, f->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return st_error_sys(err, "entry '%s': write", f->name);
		off += (size_t)n;
	}
	return layer_meta_apply(&f->meta, fd, -1, NULL, f->name, err);
}

/* ---- the pool ---- */

struct worker {
	struct layer_pool *p;
	pthread_t thread;
	pthread_cond_t work;
	struct layer_file *head, *tail;
	unsigned queued; /* jobs queued or running on it */
};

/* A directory with queued jobs, by identity: the same directory reached again (after a
 * subdirectory's entries, or through another path) stays on its worker, so two workers never
 * wait on one directory's lock. */
struct pool_dir {
	dev_t dev;
	ino_t ino;
	unsigned worker;
	unsigned jobs; /* 0: the slot is free */
};

struct layer_pool {
	pthread_mutex_t lock;
	pthread_cond_t idle; /* a job finished: room, or maybe a barrier's end */
	struct worker w[POOL_MAX_THREADS];
	unsigned n, n_started;
	struct pool_dir dirs[POOL_MAX_DIRS];
	size_t bytes;
	unsigned jobs, handles;
	bool stop;
	atomic_bool failed;
	uint64_t fail_seq;    /* the earliest failed entry */
	struct st_error ferr; /* and its error */
};

static struct layer_file *pop(struct worker *w)
{
	struct layer_file *f = w->head;

	w->head = f->next;
	if (!w->head)
		w->tail = NULL;
	return f;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct layer_pool *p = w->p;
	struct st_error err = ST_ERROR_INIT;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct layer_file *f;
		bool skip;
		int rc = 0;

		while (!w->head && !p->stop)
			pthread_cond_wait(&w->work, &p->lock);
		if (p->stop)
			break;
		f = pop(w);
		/* after a failure only earlier entries still run: the one reported is the
		 * earliest, as if the layer had been applied in one thread */
		skip = atomic_load(&p->failed) && f->seq > p->fail_seq;
		pthread_mutex_unlock(&p->lock);
		if (!skip)
			rc = file_run(f, &err);
		pthread_mutex_lock(&p->lock);
		if (rc < 0 && (!atomic_load(&p->failed) || f->seq < p->fail_seq)) {
			p->fail_seq = f->seq;
			p->ferr = err;
			atomic_store(&p->failed, true);
		}
		p->bytes -= f->charge;
		p->jobs--;
		w->queued--;
		p->dirs[f->slot].jobs--;
		if (--f->dir->queued == 0)
			p->handles--;
		pthread_cond_broadcast(&p->idle);
		pthread_mutex_unlock(&p->lock);
		layer_file_free(f);
		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

void layer_pool_free(struct layer_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	for (unsigned i = 0; i < p->n_started; i++)
		pthread_cond_signal(&p->w[i].work);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->n_started; i++)
		(void)pthread_join(p->w[i].thread, NULL);
	for (unsigned i = 0; i < p->n; i++) {
		while (p->w[i].head)
			layer_file_free(pop(&p->w[i]));
		pthread_cond_destroy(&p->w[i].work);
	}
	pthread_cond_destroy(&p->idle);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

int layer_pool_new(unsigned n, struct layer_pool **out, struct st_error *err)
{
	struct layer_pool *p = calloc(1, sizeof(*p));

	if (!p)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	p->n = n < 1 ? 1 : n > POOL_MAX_THREADS ? POOL_MAX_THREADS : n;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->idle, NULL);
	atomic_init(&p->failed, false);
	for (unsigned i = 0; i < p->n; i++) {
		p->w[i].p = p;
		pthread_cond_init(&p->w[i].work, NULL);
	}
	for (unsigned i = 0; i < p->n; i++) {
		int e = pthread_create(&p->w[i].thread, NULL, worker_main, &p->w[i]);
		if (e) {
			layer_pool_free(p);
			return st_error_errno(err, e, "apply: start a file thread");
		}
		p->n_started++;
	}
	*out = p;
	return 0;
}

/* The slot of f's directory: the one it already has, or a free one (-1: none free). */
static int find_slot(const struct layer_pool *p, const struct layer_file *f)
{
	int free_slot = -1;

	for (int i = 0; i < POOL_MAX_DIRS; i++) {
		const struct pool_dir *d = &p->dirs[i];
		if (d->jobs && d->dev == f->dir->dev && d->ino == f->dir->ino)
			return i;
		if (!d->jobs && free_slot < 0)
			free_slot = i;
	}
	return free_slot;
}

static bool must_wait(const struct layer_pool *p, const struct layer_file *f, int slot)
{
	if (slot < 0 || p->jobs >= POOL_MAX_JOBS)
		return true;
	/* the same directory reached by many paths or runs: one fd per handle */
	if (!f->dir->queued && p->handles >= POOL_MAX_HANDLES)
		return true;
	return p->jobs && p->bytes + f->charge > POOL_MAX_BYTES;
}

void layer_pool_submit(struct layer_pool *p, struct layer_file *f)
{
	struct pool_dir *d;
	struct worker *w;
	int slot;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		slot = find_slot(p, f);
		if (!must_wait(p, f, slot))
			break;
		pthread_cond_wait(&p->idle, &p->lock);
	}
	d = &p->dirs[slot];
	if (!d->jobs) {
		/* a directory with nothing queued goes to the least busy worker */
		d->dev = f->dir->dev;
		d->ino = f->dir->ino;
		d->worker = 0;
		for (unsigned i = 1; i < p->n; i++) {
			if (p->w[i].queued < p->w[d->worker].queued)
				d->worker = i;
		}
	}
	d->jobs++;
	if (f->dir->queued++ == 0)
		p->handles++;
	f->slot = (unsigned)slot;
	w = &p->w[d->worker];
	f->next = NULL;
	if (w->tail)
		w->tail->next = f;
	else
		w->head = f;
	w->tail = f;
	w->queued++;
	p->jobs++;
	p->bytes += f->charge;
	pthread_cond_signal(&w->work);
	pthread_mutex_unlock(&p->lock);
}

bool layer_pool_failed(struct layer_pool *p)
{
	return atomic_load(&p->failed);
}

int layer_pool_barrier(struct layer_pool *p, struct st_error *err)
{
	int rc = 0;

	pthread_mutex_lock(&p->lock);
	while (p->jobs)
		pthread_cond_wait(&p->idle, &p->lock);
	if (atomic_load(&p->failed)) {
		if (err)
			*err = p->ferr;
		rc = -(int)p->ferr.code;
	}
	pthread_mutex_unlock(&p->lock);
	return rc;
}
