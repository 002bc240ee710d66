/* store-gc.c: mark and sweep. Roots come from index.json and from every module that registered
 * a root source; expanders registered by the modules that understand manifests descend from a
 * marked blob to its children. gc holds the lease lock exclusively, so it never runs while a
 * writer (which holds it shared from its first blob to its tag) is between the two. fsck reuses
 * the mark phase to find missing blobs and re-hashes every blob. */
#include "store/store-internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fs.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

struct work {
	struct st_digest d;
	char *media_type;
};

struct st_gc {
	struct st_digest *set; /* open addressing; alg == 0 marks a free slot */
	size_t cap, n;
	struct work *stack;
	size_t n_stack, cap_stack;
	/* fsck: report missing blobs and expander failures instead of skipping them */
	st_fsck_report_fn report;
	void *report_ctx;
	int problems;
};

static size_t slot_of(const struct st_digest *d, size_t cap)
{
	uint64_t h;

	memcpy(&h, d->bytes, sizeof(h)); /* the digest is already uniformly distributed */
	return (size_t)(h & (cap - 1));
}

static bool set_insert(struct st_gc *gc, const struct st_digest *d, struct st_error *err, int *rc)
{
	size_t i;

	*rc = 0;
	if ((gc->n + 1) * 2 > gc->cap) {
		size_t ncap = gc->cap ? gc->cap * 2 : 1024;
		struct st_digest *ns = calloc(ncap, sizeof(*ns));
		if (!ns) {
			*rc = st_error_set(err, ST_ENOMEM, "out of memory marking blobs");
			return false;
		}
		for (size_t k = 0; k < gc->cap; k++) {
			if (!gc->set[k].alg)
				continue;
			i = slot_of(&gc->set[k], ncap);
			while (ns[i].alg)
				i = (i + 1) & (ncap - 1);
			ns[i] = gc->set[k];
		}
		free(gc->set);
		gc->set = ns;
		gc->cap = ncap;
	}
	for (i = slot_of(d, gc->cap); gc->set[i].alg; i = (i + 1) & (gc->cap - 1))
		if (st_digest_equal(&gc->set[i], d))
			return false;
	gc->set[i] = *d;
	gc->n++;
	return true;
}

bool st_gc_is_marked(const struct st_gc *gc, const struct st_digest *d)
{
	if (!gc->cap)
		return false;
	for (size_t i = slot_of(d, gc->cap); gc->set[i].alg; i = (i + 1) & (gc->cap - 1))
		if (st_digest_equal(&gc->set[i], d))
			return true;
	return false;
}

int st_gc_mark(struct st_gc *gc, const struct st_digest *d, const char *media_type,
               struct st_error *err)
{
	struct work *w;
	int rc;

	if (!set_insert(gc, d, err, &rc))
		return rc;
	if (!media_type)
		return 0;
	if (gc->n_stack == gc->cap_stack) {
		size_t ncap = gc->cap_stack ? gc->cap_stack * 2 : 64;
		w = realloc(gc->stack, ncap * sizeof(*w));
		if (!w)
			return st_error_set(err, ST_ENOMEM, "out of memory marking blobs");
		gc->stack = w;
		gc->cap_stack = ncap;
	}
	w = &gc->stack[gc->n_stack];
	w->d = *d;
	w->media_type = strdup(media_type);
	if (!w->media_type)
		return st_error_set(err, ST_ENOMEM, "out of memory marking blobs");
	gc->n_stack++;
	return 0;
}

static void gc_release(struct st_gc *gc)
{
	for (size_t i = 0; i < gc->n_stack; i++)
		free(gc->stack[i].media_type);
	free(gc->stack);
	free(gc->set);
}

static void problem(struct st_gc *gc, const char *fmt, ...) ST_PRINTF(2, 3);

static void problem(struct st_gc *gc, const char *fmt, ...)
{
	char msg[700];
	va_list ap;

	gc->problems++;
	if (!gc->report)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	gc->report(msg, gc->report_ctx);
}

/* Pops marked blobs and hands each to the expanders until the work list is empty. */
static int drain(struct st_store *s, struct st_gc *gc, struct st_error *err)
{
	while (gc->n_stack) {
		struct work w = gc->stack[--gc->n_stack];
		char name[ST_DIGEST_STR_MAX];
		int rc = 0;

		st_digest_str(&w.d, name);
		if (!st_store_has_blob(s, &w.d)) {
			if (gc->report)
				problem(gc, "missing blob %s (%s)", name, w.media_type);
			free(w.media_type);
			continue;
		}
		for (size_t i = 0; i < s->n_expanders && rc == 0; i++) {
			struct st_error e2 = ST_ERROR_INIT;
			rc = s->expanders[i].fn(s, gc, &w.d, w.media_type, s->expanders[i].ctx,
			                        &e2);
			if (rc < 0 && e2.code == ST_ENOMEM) {
				free(w.media_type);
				*err = e2;
				return rc;
			}
			if (rc < 0) {
				/* a broken manifest must not stop gc from keeping the rest; fsck
				 * reports it */
				problem(gc, "%s", e2.msg);
				rc = 0;
			}
		}
		free(w.media_type);
	}
	return 0;
}

static int mark_all(struct st_store *s, struct st_gc *gc, struct st_error *err)
{
	struct st_descriptor *d = NULL;
	size_t n = 0;
	int rc;

	rc = st_store_list(s, &d, &n, err);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = st_gc_mark(gc, &d[i].digest, d[i].media_type, err);
	st_store_entries_free(d, n);
	if (rc == 0)
		rc = drain(s, gc, err);
	for (size_t i = 0; i < s->n_roots && rc == 0; i++) {
		rc = s->roots[i].fn(s, gc, s->roots[i].ctx, err);
		if (rc == 0)
			rc = drain(s, gc, err);
	}
	return rc;
}

#define ADD_HOOK(arr, n, type, fnv, ctxv)                                     \
	do {                                                                  \
		type *na = realloc((arr), ((n) + 1) * sizeof(type));          \
		if (!na)                                                      \
			return st_error_set(err, ST_ENOMEM, "out of memory"); \
		(arr) = na;                                                   \
		(arr)[(n)].fn = (fnv);                                        \
		(arr)[(n)].ctx = (ctxv);                                      \
		(n)++;                                                        \
	} while (0)

int st_store_add_gc_root(struct st_store *s, st_gc_root_fn fn, void *ctx, struct st_error *err)
{
	ADD_HOOK(s->roots, s->n_roots, struct gc_root, fn, ctx);
	return 0;
}

int st_store_add_gc_expander(struct st_store *s, st_gc_expand_fn fn, void *ctx,
                             struct st_error *err)
{
	for (size_t i = 0; i < s->n_expanders; i++)
		if (s->expanders[i].fn == fn && s->expanders[i].ctx == ctx)
			return 0;
	ADD_HOOK(s->expanders, s->n_expanders, struct gc_expander, fn, ctx);
	return 0;
}

int st_store_add_gc_sweeper(struct st_store *s, st_gc_sweep_fn fn, void *ctx, struct st_error *err)
{
	ADD_HOOK(s->sweepers, s->n_sweepers, struct gc_sweeper, fn, ctx);
	return 0;
}

static bool is_hex_name(const char *s, size_t want)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
			return false;
	return n == want;
}

/* A DIR over a dup of dirfd, rewound (the dup shares its offset with the store's fd). */
static int open_dup_dir(int dirfd, const char *what, DIR **out, struct st_error *err)
{
	int fd = dup(dirfd);

	if (fd < 0 || !(*out = fdopendir(fd))) {
		if (fd >= 0)
			(void)close(fd);
		return st_error_sys(err, "open '%s'", what);
	}
	rewinddir(*out);
	return 0;
}

static int sweep_dir(struct st_store *s, struct st_gc *gc, enum st_digest_alg alg,
                     struct st_gc_stats *stats, struct st_error *err)
{
	int fd = st_store_blobs_dir(s, alg, err);
	cleanup_dir DIR *d = NULL;
	struct dirent *e;

	if (fd < 0)
		return fd;
	fd = open_dup_dir(fd, "blobs", &d, err);
	if (fd < 0)
		return fd;
	while ((e = readdir(d))) {
		struct st_digest dg;
		struct stat st;
		if (!is_hex_name(e->d_name, 2 * st_digest_size(alg)))
			continue;
		char full[300];
		(void)snprintf(full, sizeof(full), "%s:%s", st_digest_alg_name(alg), e->d_name);
		if (st_digest_parse_str(full, &dg, NULL) < 0)
			continue;
		if (st_gc_is_marked(gc, &dg))
			continue;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) < 0)
			return st_error_sys(err, "remove blob %s:%s", st_digest_alg_name(alg),
			                    e->d_name);
		stats->blobs_removed++;
		stats->bytes_freed += (uint64_t)st.st_size;
	}
	return 0;
}

/* A blob writer that takes the lease only at commit may be alive while gc runs: it keeps its
 * named temporary file locked (store.c), the lock dies with it. */
static bool tmp_file_is_debris(int dirfd, const char *name)
{
	cleanup_fd int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);

	if (fd < 0)
		return errno != ENOENT;
	return st_store_flock(fd, LOCK_EX | LOCK_NB) == 0;
}

static int sweep_tmp(struct st_store *s, struct st_gc_stats *stats, struct st_error *err)
{
	cleanup_dir DIR *d = NULL;
	struct dirent *e;
	int rc = open_dup_dir(s->tmp_fd, "tmp", &d, err);

	if (rc < 0)
		return rc;
	/* with the lease held exclusively no leased writer is alive: what is here is debris, but
	 * for the locked files of writers that lease only at commit */
	while ((e = readdir(d))) {
		struct stat st;
		if (e->d_name[0] == '.')
			continue;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			/* half-extracted trees of killed imports and loads */
			if (st_rm_rf_at(dirfd(d), e->d_name, NULL) == 0)
				stats->tmp_removed++;
			continue;
		}
		if (!tmp_file_is_debris(dirfd(d), e->d_name))
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) == 0) {
			stats->tmp_removed++;
			stats->bytes_freed += (uint64_t)st.st_size;
		}
	}
	return 0;
}

/* The lease exclusively, through the turnstile (see st_store_lease): while gc waits for the
 * writers already in, new ones queue behind it. */
static int lock_exclusive(struct st_store *s, int *out_fd, struct st_error *err)
{
	cleanup_fd int queue = openat(s->root_fd, "locks/gc-queue",
	                              O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	cleanup_fd int fd = openat(s->root_fd, "locks/gc", O_RDWR | O_CLOEXEC | O_NOFOLLOW);

	if (queue < 0)
		return st_error_sys(err, "open '%s/locks/gc-queue'", s->root);
	if (fd < 0)
		return st_error_sys(err, "open '%s/locks/gc'", s->root);
	if (st_store_flock(queue, LOCK_EX) < 0)
		return st_error_sys(err, "lock '%s' for gc", s->root);
	if (st_store_flock(fd, LOCK_EX) < 0)
		return st_error_sys(err, "lock '%s' for gc", s->root);
	*out_fd = take_fd(&fd);
	return 0; /* closing `queue` lets the writers queue on locks/gc itself */
}

int st_store_gc(struct st_store *s, struct st_gc_stats *stats, struct st_error *err)
{
	struct st_gc gc = {0};
	struct st_gc_stats st = {0};
	cleanup_fd int lock = -1;
	int rc;

	if (s->lease_depth > 0)
		return st_error_set(err, ST_EBUSY, "gc while this process holds a lease");
	rc = lock_exclusive(s, &lock, err);
	if (rc < 0)
		return rc;
	rc = mark_all(s, &gc, err);
	if (rc == 0)
		rc = sweep_dir(s, &gc, ST_DIGEST_SHA256, &st, err);
	if (rc == 0 && faccessat(s->root_fd, "blobs/sha512", F_OK, 0) == 0)
		rc = sweep_dir(s, &gc, ST_DIGEST_SHA512, &st, err);
	if (rc == 0)
		rc = sweep_tmp(s, &st, err);
	for (size_t i = 0; i < s->n_sweepers && rc == 0; i++)
		rc = s->sweepers[i].fn(s, &gc, s->sweepers[i].ctx, &st.bytes_freed, err);
	gc_release(&gc);
	if (rc == 0 && stats)
		*stats = st;
	return rc;
}

/* ---- fsck ---- */

static int rehash_blob(int dirfd, const char *name, enum st_digest_alg alg, struct st_gc *gc,
                       struct st_error *err)
{
	cleanup_fd int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	char want[ST_DIGEST_STR_MAX], got[ST_DIGEST_STR_MAX];
	static char buf[1 << 17];
	struct st_hasher h;
	struct st_digest d;
	ssize_t n;
	int rc;

	(void)snprintf(want, sizeof(want), "%s:%s", st_digest_alg_name(alg), name);
	if (fd < 0) {
		problem(gc, "blob %s: cannot open: %s", want, strerror(errno));
		return 0;
	}
	rc = st_hasher_init(&h, alg, err);
	if (rc < 0)
		return rc;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		st_hasher_update(&h, buf, (size_t)n);
	st_hasher_final(&h, &d);
	if (n < 0) {
		problem(gc, "blob %s: read error: %s", want, strerror(errno));
		return 0;
	}
	st_digest_str(&d, got);
	if (strcmp(got, want) != 0)
		problem(gc, "blob %s: content does not match its digest (content is %s)", want,
		        got);
	return 0;
}

static int fsck_blobs(struct st_store *s, enum st_digest_alg alg, struct st_gc *gc,
                      struct st_error *err)
{
	int fd = st_store_blobs_dir(s, alg, err);
	cleanup_dir DIR *d = NULL;
	struct dirent *e;
	int rc;

	if (fd < 0)
		return fd;
	fd = open_dup_dir(fd, "blobs", &d, err);
	if (fd < 0)
		return fd;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (!is_hex_name(e->d_name, 2 * st_digest_size(alg))) {
			problem(gc, "blobs/%s/%s: not a valid digest name", st_digest_alg_name(alg),
			        e->d_name);
			continue;
		}
		rc = rehash_blob(dirfd(d), e->d_name, alg, gc, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int st_store_fsck(struct st_store *s, st_fsck_report_fn report, void *ctx, struct st_error *err)
{
	struct st_gc gc = {.report = report, .report_ctx = ctx};
	int rc;

	rc = fsck_blobs(s, ST_DIGEST_SHA256, &gc, err);
	if (rc == 0 && faccessat(s->root_fd, "blobs/sha512", F_OK, 0) == 0)
		rc = fsck_blobs(s, ST_DIGEST_SHA512, &gc, err);
	if (rc == 0)
		rc = mark_all(s, &gc, err);
	gc_release(&gc);
	return rc < 0 ? rc : gc.problems;
}
