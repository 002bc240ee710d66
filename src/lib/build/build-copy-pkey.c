/* build-copy-pkey.c: the cache key of a COPY source directory hashed on several threads.
 *
 * A cached build's time was mostly the walk of its context: an lstat, a memo lookup and an item
 * hash for every file, one after the other. Here the directories are tasks: a worker lists one,
 * stats its entries, hashes each entry's key item (key_entry, the same bytes the sequential
 * walk feeds) and queues the subdirectories. The items land in a tree of sorted entry lists,
 * which the caller then adds to the key in the walk's order, so the key is the sequential
 * walk's. Anything unusual (an error, a socket, depth or fd limits) makes the caller redo the
 * unit with the sequential walk, which also gives the exact error and its order. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "build/build-copy-internal.h"
#include "util/cleanup.h"
#include "util/fs.h"

#include "util/banned.h"

#define PKEY_MAX_THREADS 4
/* past this many entries the tree of items costs more memory than it saves time */
#define PKEY_MAX_ENTRIES (1u << 20)

struct pdir;

struct pent {
	char *dst;             /* upper-relative: the item's label */
	struct st_digest item; /* the item's digest */
	struct pdir *sub;      /* a directory's entries (NULL: not a directory) */
};

struct pdir {
	struct pent *v;
	size_t n;
};

struct ptask {
	char *src; /* src_root-relative directory */
	char *dst;
	int depth;
	struct pdir *out;
	struct ptask *next;
};

struct pwalk {
	const struct copy_plan *p;
	const struct copy_unit *u;
	copy_item_fn item;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct ptask *head, *tail; /* directories still to list */
	int busy;                  /* workers listing one */
	size_t n_ent;              /* entries kept so far */
	atomic_bool failed;
};

static void pdir_free(struct pdir *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++) {
		free(d->v[i].dst);
		pdir_free(d->v[i].sub);
	}
	free(d->v);
	free(d);
}

static void task_free(struct ptask *t)
{
	free(t->src);
	free(t->dst);
	free(t);
}

static char *join(const char *a, const char *b)
{
	struct st_buf out = ST_BUF_INIT;

	if (copy_join(&out, a, b, NULL) < 0) {
		st_buf_release(&out);
		return NULL;
	}
	return st_buf_detach(&out, NULL);
}

/* Queues the directory src (upper-relative dst) for a worker; takes src. */
static int push(struct pwalk *w, char *src, const char *dst, int depth, struct pdir *out)
{
	struct ptask *t = calloc(1, sizeof(*t));

	if (!t || !src) {
		free(t);
		free(src);
		return -1;
	}
	*t = (struct ptask){src, strdup(dst), depth, out, NULL};
	if (!t->dst) {
		task_free(t);
		return -1;
	}
	pthread_mutex_lock(&w->lock);
	if (w->tail)
		w->tail->next = t;
	else
		w->head = t;
	w->tail = t;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	return 0;
}

/* One entry of a listed directory: stat, filter, item, and a task for a directory. 1 when kept,
 * 0 when skipped (.dockerignore, --exclude), -1 for anything the sequential walk should see. */
static int entry(struct pwalk *w, const struct ptask *t, int fd, const char *name, struct pent *pe,
                 struct st_buf *link)
{
	char *src = join(t->src, name);
	struct st_error err = ST_ERROR_INIT;
	struct copy_ent e;
	struct stat st;

	pe->dst = join(t->dst, name);
	if (!src || !pe->dst || fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		goto fail;
	if (copy_walk_skipped(w->p, w->u, src, S_ISDIR(st.st_mode))) {
		free(src);
		free(pe->dst);
		pe->dst = NULL;
		return 0;
	}
	if (S_ISSOCK(st.st_mode))
		goto fail; /* left out of layers: rare enough for the sequential walk */
	e = (struct copy_ent){src, pe->dst, fd, name, &st, 0, 0, 0, false, false};
	e.mode = copy_mode(w->p, st.st_mode);
	copy_owner(w->p, &st, &e.uid, &e.gid);
	if (w->item(w->p, &e, link, &pe->item, &err) < 0)
		goto fail;
	if (!S_ISDIR(st.st_mode)) {
		free(src);
		return 1;
	}
	pe->sub = calloc(1, sizeof(*pe->sub));
	if (pe->sub && push(w, src, pe->dst, t->depth + 1, pe->sub) == 0)
		return 1;
	free(pe->sub); /* push freed src */
	pe->sub = NULL;
	src = NULL;
fail:
	free(src);
	free(pe->dst);
	pe->dst = NULL;
	return -1;
}

/* Lists the task's directory into t->out. */
static int list(struct pwalk *w, const struct ptask *t, struct st_buf *link)
{
	cleanup_fd int fd = -1;
	struct st_strv names = ST_STRV_INIT;
	struct pdir *d = t->out;
	int rc = -1;

	if (t->depth > COPY_MAX_DEPTH)
		return -1;
	fd = copy_open_beneath(w->p->src_fd, t->src, O_RDONLY | O_DIRECTORY);
	if (fd < 0 || st_list_dir(fd, &names, NULL) < 0)
		goto out;
	pthread_mutex_lock(&w->lock);
	w->n_ent += names.n;
	rc = w->n_ent > PKEY_MAX_ENTRIES ? -1 : 0;
	pthread_mutex_unlock(&w->lock);
	if (rc == 0 && names.n) {
		d->v = calloc(names.n, sizeof(*d->v));
		rc = d->v ? 0 : -1;
	}
	for (size_t i = 0; rc == 0 && i < names.n && !atomic_load(&w->failed); i++) {
		int r = entry(w, t, fd, names.v[i], &d->v[d->n], link);
		if (r < 0)
			rc = -1;
		d->n += r == 1;
	}
out:
	st_strv_release(&names);
	return rc;
}

static void *worker(void *arg)
{
	struct pwalk *w = arg;
	struct st_buf link = ST_BUF_INIT;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct ptask *t;
		int rc;
		while (!w->head && w->busy > 0 && !atomic_load(&w->failed))
			pthread_cond_wait(&w->cond, &w->lock);
		if (!w->head || atomic_load(&w->failed))
			break;
		t = w->head;
		w->head = t->next;
		if (!w->head)
			w->tail = NULL;
		w->busy++;
		pthread_mutex_unlock(&w->lock);
		rc = list(w, t, &link);
		task_free(t);
		pthread_mutex_lock(&w->lock);
		w->busy--;
		if (rc < 0)
			atomic_store(&w->failed, true);
		if (rc < 0 || (!w->head && w->busy == 0))
			pthread_cond_broadcast(&w->cond);
	}
	pthread_mutex_unlock(&w->lock);
	st_buf_release(&link);
	return NULL;
}

static int replay(struct build_key *k, const struct pdir *d, struct st_error *err)
{
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < d->n; i++) {
		rc = build_key_add_item(k, "file ", d->v[i].dst, &d->v[i].item, err);
		if (rc == 0 && d->v[i].sub)
			rc = replay(k, d->v[i].sub, err);
	}
	return rc;
}

static unsigned n_workers(unsigned want)
{
	long n = want ? (long)want : sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > PKEY_MAX_THREADS ? PKEY_MAX_THREADS : (unsigned)n;
}

/* Lists and hashes the tree below the root entry on n workers (the caller is one). */
static int run_workers(struct pwalk *w, unsigned n)
{
	pthread_t th[PKEY_MAX_THREADS];
	unsigned started = 0;

	for (unsigned i = 1; i < n; i++)
		if (pthread_create(&th[started], NULL, worker, w) == 0)
			started++;
	(void)worker(w);
	for (unsigned i = 0; i < started; i++)
		(void)pthread_join(th[i], NULL);
	while (w->head) {
		struct ptask *t = w->head;
		w->head = t->next;
		task_free(t);
	}
	return atomic_load(&w->failed) ? -1 : 0;
}

int copy_key_walk_par(const struct copy_plan *p, const struct copy_unit *u, copy_item_fn item,
                      struct build_key *key, struct st_error *err)
{
	struct pwalk w = {.p = p,
	                  .u = u,
	                  .item = item,
	                  .lock = PTHREAD_MUTEX_INITIALIZER,
	                  .cond = PTHREAD_COND_INITIALIZER};
	const char *slash = strrchr(u->src, '/');
	cleanup_free char *parent = st_strndup(u->src, slash ? (size_t)(slash - u->src) : 0);
	const char *name = slash ? slash + 1 : *u->src ? u->src : ".";
	struct st_error e2 = ST_ERROR_INIT;
	struct st_buf link = ST_BUF_INIT;
	struct pdir *root = calloc(1, sizeof(*root));
	struct st_digest top;
	struct copy_ent e;
	cleanup_fd int pfd = -1;
	struct stat st;
	unsigned n = n_workers(p->r->key_threads);
	int rc = 0;

	if (n < 2 || !parent || !root)
		goto out;
	pfd = copy_open_beneath(p->src_fd, parent, O_PATH | O_DIRECTORY);
	if (pfd < 0 || fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
		goto out;
	e = (struct copy_ent){u->src, u->dst, pfd, name, &st, 0, 0, 0, u->keep_meta, false};
	e.mode = copy_mode(p, st.st_mode);
	copy_owner(p, &st, &e.uid, &e.gid);
	if (item(p, &e, &link, &top, &e2) < 0 || push(&w, strdup(u->src), u->dst, 0, root) < 0)
		goto out;
	if (run_workers(&w, n) < 0)
		goto out; /* rc 0: the sequential walk says why */
	rc = build_key_add_item(key, "file ", u->dst, &top, err);
	if (rc == 0)
		rc = replay(key, root, err);
	rc = rc < 0 ? rc : 1;
out:
	st_buf_release(&link);
	pdir_free(root);
	return rc;
}
