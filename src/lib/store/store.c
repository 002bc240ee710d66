/* store.c: opening the store and its blobs. A blob is written to an unnamed O_TMPFILE in tmp/,
 * hashed as it streams, verified, fsynced and then linked under its digest: it is never visible
 * under a name its bytes do not match, and a writer killed at any point leaves nothing behind
 * (the kernel frees an unlinked inode). Where O_TMPFILE is missing, a named temporary file and
 * rename() do the same job and gc removes the leftovers of dead writers. */
#include "store/store-internal.h"

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

static const char oci_layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
static const char empty_index[] =
        "{\"manifests\":[],\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
        "\"schemaVersion\":2}";

static int ensure_file(struct st_store *s, const char *name, const char *content,
                       struct st_error *err)
{
	if (faccessat(s->root_fd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return 0;
	if (errno != ENOENT)
		return st_error_sys(err, "'%s/%s'", s->root, name);
	return st_write_file_atomic(s->root_fd, name, s->tmp_fd, content, strlen(content), 0644,
	                            err);
}

static int open_lock(struct st_store *s, const char *name, struct st_error *err)
{
	int fd = openat(s->root_fd, name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

	if (fd < 0)
		return st_error_sys(err, "open lock '%s/%s'", s->root, name);
	return fd;
}

int st_store_open(const char *root, struct st_store **out, struct st_error *err)
{
	struct st_store *s;
	int rc;

	s = calloc(1, sizeof(*s));
	if (!s)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	s->root_fd = s->blobs_fd = s->blobs512_fd = s->tmp_fd = -1;
	s->lease_fd = s->queue_fd = s->index_lock_fd = -1;
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->index_lock, NULL);
	s->root = strdup(root);
	if (!s->root) {
		rc = st_error_set(err, ST_ENOMEM, "out of memory");
		goto fail;
	}
	rc = st_mkdir_p(AT_FDCWD, root, 0711, err);
	if (rc < 0)
		goto fail;
	rc = s->root_fd = st_open_dir_at(AT_FDCWD, root, err);
	if (rc < 0)
		goto fail;
	if ((rc = st_mkdir_p(s->root_fd, "blobs/sha256", 0755, err)) < 0 ||
	    (rc = st_mkdir_p(s->root_fd, "tmp", 0700, err)) < 0 ||
	    (rc = st_mkdir_p(s->root_fd, "locks", 0700, err)) < 0)
		goto fail;
	if ((rc = s->blobs_fd = st_open_dir_at(s->root_fd, "blobs/sha256", err)) < 0 ||
	    (rc = s->tmp_fd = st_open_dir_at(s->root_fd, "tmp", err)) < 0 ||
	    (rc = s->lease_fd = open_lock(s, "locks/gc", err)) < 0 ||
	    (rc = s->queue_fd = open_lock(s, "locks/gc-queue", err)) < 0 ||
	    (rc = s->index_lock_fd = open_lock(s, "locks/index", err)) < 0)
		goto fail;
	st_dir_spread(s->tmp_fd); /* builds and extractions make their trees in tmp/ */
	if ((rc = ensure_file(s, "oci-layout", oci_layout, err)) < 0 ||
	    (rc = ensure_file(s, "index.json", empty_index, err)) < 0)
		goto fail;
	*out = s;
	return 0;
fail:
	st_store_free(s);
	return rc;
}

void st_store_free(struct st_store *s)
{
	if (!s)
		return;
	if (s->lease_depth > 0 && s->lease_fd >= 0)
		(void)flock(s->lease_fd, LOCK_UN);
	int fds[] = {s->root_fd,  s->blobs_fd, s->blobs512_fd,  s->tmp_fd,
	             s->lease_fd, s->queue_fd, s->index_lock_fd};
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] >= 0)
			(void)close(fds[i]);
	st_store_entries_free(s->index_cache, s->n_index_cache);
	free(s->index_cache_raw);
	free(s->roots);
	free(s->expanders);
	free(s->sweepers);
	free(s->root);
	pthread_mutex_destroy(&s->index_lock);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

const char *st_store_root(const struct st_store *s)
{
	return s->root;
}

int st_store_root_fd(const struct st_store *s)
{
	return s->root_fd;
}

int st_store_blobs_dir(struct st_store *s, enum st_digest_alg alg, struct st_error *err)
{
	int rc;

	if (alg == ST_DIGEST_SHA256)
		return s->blobs_fd;
	pthread_mutex_lock(&s->lock);
	if (s->blobs512_fd < 0) {
		rc = st_mkdir_p(s->root_fd, "blobs/sha512", 0755, err);
		if (rc == 0)
			rc = st_open_dir_at(s->root_fd, "blobs/sha512", err);
		if (rc >= 0)
			s->blobs512_fd = rc;
	}
	rc = s->blobs512_fd >= 0 ? s->blobs512_fd : rc;
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* ---- leases ---- */

int st_store_flock(int fd, int op)
{
	int rc;

	do
		rc = flock(fd, op);
	while (rc < 0 && errno == EINTR);
	return rc;
}

/* flock() grants a shared lock while others hold it shared, even with an exclusive waiter, so
 * overlapping writers could keep gc out forever. The turnstile queues them: a writer passes
 * locks/gc-queue (shared, held for an instant) on its way to locks/gc; gc holds the turnstile
 * exclusively while it waits for the writers already in, so those that come later wait for gc
 * instead of overtaking it. */
int st_store_lease(struct st_store *s, struct st_error *err)
{
	int rc = 0, e = 0;

	/* threads of this process share the count; only the first one in takes the flocks */
	pthread_mutex_lock(&s->lock);
	if (s->lease_depth == 0) {
		rc = st_store_flock(s->queue_fd, LOCK_SH);
		if (rc == 0) {
			rc = st_store_flock(s->lease_fd, LOCK_SH);
			e = errno;
			(void)st_store_flock(s->queue_fd, LOCK_UN);
		} else {
			e = errno;
		}
	}
	if (rc == 0)
		s->lease_depth++;
	pthread_mutex_unlock(&s->lock);
	return rc < 0 ? st_error_errno(err, e, "lock store '%s'", s->root) : 0;
}

void st_store_unlease(struct st_store *s)
{
	pthread_mutex_lock(&s->lock);
	if (s->lease_depth > 0 && --s->lease_depth == 0)
		(void)flock(s->lease_fd, LOCK_UN);
	pthread_mutex_unlock(&s->lock);
}

/* ---- blob writer ---- */

/* Writeback is started every WRITEBACK_STEP bytes (sync_file_range), so the disk writes while
 * the bytes still arrive and the fsync of the commit waits only for the tail. */
#define WRITEBACK_STEP (8u << 20)
/* ST_BLOB_WRITER_OPEN_DIRECT: chunks staged in an aligned buffer, written with O_DIRECT */
#define DIRECT_CHUNK (512u << 10)
#define DIRECT_ALIGN 4096u

struct st_blob_writer {
	struct st_store *store;
	int fd;
	char tmpname[40]; /* non-empty when a named temporary file is used */
	struct st_hasher hasher;
	uint64_t writeback_from; /* bytes before this offset have had writeback started */
	bool direct;             /* the temporary is open with O_DIRECT */
	char *dbuf;              /* O_DIRECT staging (DIRECT_CHUNK bytes), allocated when needed */
	size_t dlen;             /* bytes staged in dbuf */
	uint64_t size;           /* bytes written */
	struct st_digest got;    /* once sealed */
	bool sealed, committed;
	bool trusted;         /* the caller hashes what it writes (st_blob_writer_trust) */
	bool leased;          /* holds the store's lease (released when freed) */
	bool lease_at_commit; /* ST_BLOB_WRITER_OPEN_LEASE_AT_COMMIT */
};

static int writer_open_tmp(struct st_blob_writer *w, struct st_error *err)
{
	int rc;

	w->fd = openat(w->store->tmp_fd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0444);
	if (w->fd >= 0)
		return 0;
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		return st_error_sys(err, "create temporary blob in '%s/tmp'", w->store->root);
	memcpy(w->tmpname, "blob-", 5);
	rc = st_random_hex(w->tmpname + 5, 16, err);
	if (rc < 0)
		return rc;
	w->fd = openat(w->store->tmp_fd, w->tmpname, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
	if (w->fd < 0)
		return st_error_sys(err, "create '%s/tmp/%s'", w->store->root, w->tmpname);
	/* gc removes what is in tmp/ but files locked by a live writer (a writer without the
	 * lease may be alive while gc runs) */
	if (st_store_flock(w->fd, LOCK_EX | LOCK_NB) < 0)
		return st_error_sys(err, "lock '%s/tmp/%s'", w->store->root, w->tmpname);
	return 0;
}

/* O_DIRECT on the temporary when the file system takes it; else the writer stays buffered. */
static void direct_begin(struct st_blob_writer *w)
{
	int fl = fcntl(w->fd, F_GETFL);

	w->direct = fl >= 0 && fcntl(w->fd, F_SETFL, fl | O_DIRECT) == 0;
}

/* Leaves O_DIRECT for good: for the unaligned tail at the commit, or when a direct write is
 * refused (EINVAL: a file system that takes the flag but not the writes) or short. */
static int leave_direct(struct st_blob_writer *w, struct st_error *err)
{
	int fl = fcntl(w->fd, F_GETFL);

	if (fl < 0 || fcntl(w->fd, F_SETFL, fl & ~O_DIRECT) < 0)
		return st_error_sys(err, "temporary blob in '%s/tmp': clear O_DIRECT",
		                    w->store->root);
	w->direct = false;
	return 0;
}

/* Leaves O_DIRECT and writes what is staged. */
static int direct_end(struct st_blob_writer *w, struct st_error *err)
{
	int rc = leave_direct(w, err);

	if (rc == 0 && w->dlen)
		rc = st_write_all(w->fd, w->dbuf, w->dlen, err);
	free(w->dbuf);
	w->dbuf = NULL;
	w->dlen = 0;
	return rc;
}

/* One O_DIRECT write of n bytes from p (aligned, at an aligned offset). 1 when written; 0 when
 * the file system wrote less or refused, and the rest of p went buffered (the writer stays
 * buffered); <0 on an error. */
static int direct_put(struct st_blob_writer *w, const char *p, size_t n, struct st_error *err)
{
	ssize_t k;
	int rc;

	do
		k = write(w->fd, p, n);
	while (k < 0 && errno == EINTR);
	if (k == (ssize_t)n)
		return 1;
	if (k < 0 && errno != EINVAL)
		return st_error_sys(err, "write");
	k = k > 0 ? k : 0;
	rc = leave_direct(w, err);
	if (rc == 0)
		rc = st_write_all(w->fd, p + k, n - (size_t)k, err);
	return rc < 0 ? rc : 0;
}

static int direct_write(struct st_blob_writer *w, const char *p, size_t len, struct st_error *err)
{
	int rc;

	/* a caller's aligned buffer goes to disk as it is, when nothing is staged before it */
	if (w->dlen == 0 && (uintptr_t)p % DIRECT_ALIGN == 0 && len >= DIRECT_ALIGN) {
		size_t n = len - len % DIRECT_ALIGN;
		rc = direct_put(w, p, n, err);
		if (rc <= 0)
			return rc < 0 ? rc : st_write_all(w->fd, p + n, len - n, err);
		p += n;
		len -= n;
	}
	if (len && !w->dbuf) {
		void *m = NULL;
		if (posix_memalign(&m, DIRECT_ALIGN, DIRECT_CHUNK) != 0)
			return st_error_set(err, ST_ENOMEM, "out of memory for a blob buffer");
		w->dbuf = m;
	}
	while (len > 0) {
		size_t n = DIRECT_CHUNK - w->dlen < len ? DIRECT_CHUNK - w->dlen : len;
		memcpy(w->dbuf + w->dlen, p, n);
		w->dlen += n;
		p += n;
		len -= n;
		if (w->dlen < DIRECT_CHUNK)
			continue;
		w->dlen = 0;
		rc = direct_put(w, w->dbuf, DIRECT_CHUNK, err);
		if (rc <= 0)
			return rc < 0 ? rc : st_write_all(w->fd, p, len, err);
	}
	return 0;
}

int st_blob_writer_open(struct st_store *s, unsigned flags, struct st_blob_writer **out,
                        struct st_error *err)
{
	struct st_blob_writer *w = calloc(1, sizeof(*w));
	int rc = 0;

	if (!w)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	w->store = s;
	w->fd = -1;
	w->lease_at_commit = flags & ST_BLOB_WRITER_OPEN_LEASE_AT_COMMIT;
	if (!w->lease_at_commit) {
		rc = st_store_lease(s, err);
		w->leased = rc == 0;
	}
	if (rc == 0)
		rc = st_hasher_init(&w->hasher, ST_DIGEST_SHA256, err);
	if (rc == 0)
		rc = writer_open_tmp(w, err);
	if (rc == 0 && (flags & ST_BLOB_WRITER_OPEN_DIRECT))
		direct_begin(w);
	if (rc < 0) {
		st_blob_writer_free(w);
		return rc;
	}
	*out = w;
	return 0;
}

int st_blob_writer_new(struct st_store *s, struct st_blob_writer **out, struct st_error *err)
{
	return st_blob_writer_open(s, 0, out, err);
}

int st_blob_writer_write(struct st_blob_writer *w, const void *p, size_t len, struct st_error *err)
{
	int rc;

	if (w->committed || w->fd < 0)
		return st_error_set(err, ST_EINVALID, "write to a finished blob writer");
	rc = w->direct ? direct_write(w, p, len, err) : st_write_all(w->fd, p, len, err);
	if (rc < 0)
		return st_error_wrap(err, "write temporary blob in '%s/tmp'", w->store->root);
	if (!w->trusted)
		st_hasher_update(&w->hasher, p, len);
	w->size += len;
	if (!w->direct && w->size - w->writeback_from >= WRITEBACK_STEP) {
		/* advisory: a file system without it just writes back later */
		(void)sync_file_range(w->fd, (off_t)w->writeback_from,
		                      (off_t)(w->size - w->writeback_from), SYNC_FILE_RANGE_WRITE);
		w->writeback_from = w->size;
	}
	return 0;
}

void st_blob_writer_trust(struct st_blob_writer *w)
{
	if (w->size == 0 && !w->sealed)
		w->trusted = true;
}

uint64_t st_blob_writer_size(const struct st_blob_writer *w)
{
	return w->size;
}

int st_blob_writer_reopen(const struct st_blob_writer *w, int *out_fd, struct st_error *err)
{
	char path[40];
	int fd;

	if (w->fd < 0)
		return st_error_set(err, ST_EINVALID, "reopen of a finished blob writer");
	(void)snprintf(path, sizeof(path), "/proc/self/fd/%d", w->fd);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return st_error_sys(err, "reopen temporary blob in '%s/tmp'", w->store->root);
	*out_fd = fd;
	return 0;
}

static int link_into_place(struct st_blob_writer *w, const char *hex, struct st_error *err)
{
	char proc[64];

	if (w->tmpname[0]) {
		/* rename() would replace an existing blob; link() keeps it, which is the point:
		 * readers of the existing blob never see a file swapped under them */
		if (linkat(w->store->tmp_fd, w->tmpname, w->store->blobs_fd, hex, 0) < 0 &&
		    errno != EEXIST)
			return st_error_sys(err, "link blob sha256:%s", hex);
		(void)unlinkat(w->store->tmp_fd, w->tmpname, 0);
		w->tmpname[0] = '\0';
		return 0;
	}
	(void)snprintf(proc, sizeof(proc), "/proc/self/fd/%d", w->fd);
	if (linkat(AT_FDCWD, proc, w->store->blobs_fd, hex, AT_SYMLINK_FOLLOW) < 0 &&
	    errno != EEXIST)
		return st_error_sys(err, "link blob sha256:%s into '%s/blobs/sha256'", hex,
		                    w->store->root);
	return 0;
}

/* Names a verified blob: fsync (before the lease when the writer takes it only now, so gc
 * never waits for a disk flush of a large blob), lease, link, fsync of the directory. */
static int name_blob(struct st_blob_writer *w, const struct st_digest *got, const char *hex,
                     struct st_error *err)
{
	bool synced = false;
	int rc;

	if (w->lease_at_commit && !st_store_has_blob(w->store, got)) {
		if (fsync(w->fd) < 0)
			return st_error_sys(err, "fsync blob sha256:%s", hex);
		synced = true;
	}
	if (!w->leased) {
		rc = st_store_lease(w->store, err);
		if (rc < 0)
			return rc;
		w->leased = true;
	}
	/* under the lease: an existing blob stays until the caller's reference is written */
	if (st_store_has_blob(w->store, got))
		return 0;
	if (!synced && fsync(w->fd) < 0)
		return st_error_sys(err, "fsync blob sha256:%s", hex);
	rc = link_into_place(w, hex, err);
	if (rc < 0)
		return rc;
	if (fsync(w->store->blobs_fd) < 0)
		return st_error_sys(err, "fsync '%s/blobs/sha256'", w->store->root);
	return 0;
}

static int mismatch(const struct st_digest *expected, const struct st_digest *got,
                    struct st_error *err)
{
	char want[ST_DIGEST_STR_MAX], hex[ST_DIGEST_HEX_MAX + 1];

	st_digest_str(expected, want);
	st_digest_hex(got, hex);
	return st_error_set(err, ST_EDIGEST,
	                    "blob %s: content does not match its digest (got sha256:%s)", want,
	                    hex);
}

int st_blob_writer_seal(struct st_blob_writer *w, const struct st_digest *expected,
                        struct st_error *err)
{
	if (w->sealed || w->committed || w->fd < 0)
		return st_error_set(err, ST_EINVALID, "seal of a finished blob writer");
	if (w->trusted && !expected)
		return st_error_set(err, ST_EINVALID, "a trusted blob writer needs its digest");
	if (w->direct && direct_end(w, err) < 0)
		return st_error_wrap(err, "write temporary blob in '%s/tmp'", w->store->root);
	if (w->trusted) {
		st_hasher_release(&w->hasher);
		w->got = *expected;
	} else {
		st_hasher_final(&w->hasher, &w->got);
	}
	w->sealed = true;
	if (expected && !st_digest_equal(expected, &w->got)) {
		w->committed = true; /* a blob that failed verification can only be freed */
		return mismatch(expected, &w->got, err);
	}
	return 0;
}

int st_blob_writer_commit(struct st_blob_writer *w, const struct st_digest *expected,
                          struct st_digest *out_digest, struct st_error *err)
{
	char hex[ST_DIGEST_HEX_MAX + 1];
	int rc;

	if (w->committed || w->fd < 0)
		return st_error_set(err, ST_EINVALID, "commit of a finished blob writer");
	if (!w->sealed) {
		rc = st_blob_writer_seal(w, expected, err);
		if (rc < 0)
			return rc;
	} else if (expected && !st_digest_equal(expected, &w->got)) {
		w->committed = true;
		return mismatch(expected, &w->got, err);
	}
	w->committed = true;
	st_digest_hex(&w->got, hex);
	rc = name_blob(w, &w->got, hex, err);
	if (rc < 0)
		return rc;
	if (out_digest)
		*out_digest = w->got;
	return 0;
}

void st_blob_writer_free(struct st_blob_writer *w)
{
	if (!w)
		return;
	if (w->fd >= 0)
		(void)close(w->fd);
	if (w->tmpname[0])
		(void)unlinkat(w->store->tmp_fd, w->tmpname, 0);
	st_hasher_release(&w->hasher);
	free(w->dbuf);
	if (w->leased)
		st_store_unlease(w->store);
	free(w);
}

int st_store_put_blob(struct st_store *s, const void *p, size_t len,
                      const struct st_digest *expected, struct st_digest *out_digest,
                      struct st_error *err)
{
	struct st_blob_writer *w = NULL;
	struct st_digest own = {0};
	const struct st_digest *d = expected ? expected : &own;
	int rc;

	/* in memory, the digest comes first: a blob the store has is not written again (a cached
	 * build puts its image's config and manifest back every time) */
	if (!expected && (rc = st_digest_of(ST_DIGEST_SHA256, p, len, &own, err)) < 0)
		return rc;
	if (st_store_has_blob(s, d)) {
		if (expected && !st_digest_check(expected, p, len)) {
			char want[ST_DIGEST_STR_MAX];
			st_digest_str(expected, want);
			return st_error_set(err, ST_EDIGEST,
			                    "blob %s: content does not match its digest", want);
		}
		if (out_digest)
			*out_digest = *d;
		return 0;
	}
	rc = st_blob_writer_new(s, &w, err);
	if (rc == 0 && !expected)
		st_blob_writer_trust(w); /* hashed above */
	if (rc == 0)
		rc = st_blob_writer_write(w, p, len, err);
	if (rc == 0)
		rc = st_blob_writer_commit(w, d, out_digest, err);
	st_blob_writer_free(w);
	return rc;
}

/* ---- reading ---- */

static int blob_name(struct st_store *s, const struct st_digest *d, int *dirfd, char *hex,
                     struct st_error *err)
{
	int fd = st_store_blobs_dir(s, d->alg, err);

	if (fd < 0)
		return fd;
	*dirfd = fd;
	st_digest_hex(d, hex);
	return 0;
}

int st_store_open_blob(struct st_store *s, const struct st_digest *d, int *out_fd,
                       struct st_error *err)
{
	char hex[ST_DIGEST_HEX_MAX + 1];
	int dirfd, fd, rc;

	rc = blob_name(s, d, &dirfd, hex, err);
	if (rc < 0)
		return rc;
	fd = openat(dirfd, hex, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return st_error_set(err, ST_ENOTFOUND, "blob %s:%s not found",
			                    st_digest_alg_name(d->alg), hex);
		return st_error_sys(err, "open blob %s:%s", st_digest_alg_name(d->alg), hex);
	}
	*out_fd = fd;
	return 0;
}

int st_store_read_blob(struct st_store *s, const struct st_digest *d, size_t max,
                       struct st_buf *out, struct st_error *err)
{
	cleanup_buf struct st_buf data = ST_BUF_INIT;
	cleanup_fd int fd = -1;
	char name[ST_DIGEST_STR_MAX];
	int rc;

	rc = st_store_open_blob(s, d, &fd, err);
	if (rc < 0)
		return rc;
	st_digest_str(d, name);
	rc = st_read_all(fd, &data, max, err);
	if (rc < 0)
		return st_error_wrap(err, "blob %s", name);
	if (!st_digest_check(d, data.data, data.len))
		return st_error_set(err, ST_EDIGEST, "blob %s: content does not match its digest",
		                    name);
	st_buf_swap(out, &data);
	return 0;
}

int st_store_stat_blob(struct st_store *s, const struct st_digest *d, uint64_t *out_size,
                       struct st_error *err)
{
	char hex[ST_DIGEST_HEX_MAX + 1];
	struct stat st;
	int dirfd, rc;

	rc = blob_name(s, d, &dirfd, hex, err);
	if (rc < 0)
		return rc;
	if (fstatat(dirfd, hex, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return st_error_set(err, ST_ENOTFOUND, "blob %s:%s not found",
			                    st_digest_alg_name(d->alg), hex);
		return st_error_sys(err, "stat blob %s:%s", st_digest_alg_name(d->alg), hex);
	}
	if (!S_ISREG(st.st_mode))
		return st_error_set(err, ST_EINVALID, "blob %s:%s is not a regular file",
		                    st_digest_alg_name(d->alg), hex);
	if (out_size)
		*out_size = (uint64_t)st.st_size;
	return 0;
}

bool st_store_has_blob(struct st_store *s, const struct st_digest *d)
{
	return st_store_stat_blob(s, d, NULL, NULL) == 0;
}

int st_store_delete_blob(struct st_store *s, const struct st_digest *d, struct st_error *err)
{
	char hex[ST_DIGEST_HEX_MAX + 1];
	int dirfd, rc;

	rc = blob_name(s, d, &dirfd, hex, err);
	if (rc < 0)
		return rc;
	if (unlinkat(dirfd, hex, 0) < 0) {
		if (errno == ENOENT)
			return st_error_set(err, ST_ENOTFOUND, "blob %s:%s not found",
			                    st_digest_alg_name(d->alg), hex);
		return st_error_sys(err, "delete blob %s:%s", st_digest_alg_name(d->alg), hex);
	}
	return 0;
}

int st_store_blob_path(struct st_store *s, const struct st_digest *d, struct st_buf *out,
                       struct st_error *err)
{
	char hex[ST_DIGEST_HEX_MAX + 1];

	st_digest_hex(d, hex);
	return st_buf_addf(out, err, "%s/blobs/%s/%s", s->root, st_digest_alg_name(d->alg), hex);
}
