/* build-copy-memo.c: the content-hash memo of context files, as git's index: (dev, inode, size,
 * mtime, ctime) -> sha256, read once, written back atomically. A file whose ctime is not older
 * than the clock at hashing time is "racy" (a change in the same clock tick would keep every
 * stat field) and is not remembered. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "build/build-copy-internal.h"
#include "util/cleanup.h"
#include "util/fs.h"

#include "util/banned.h"

/* 16 bytes of magic, the records, then the CRC-32 of all before it (8 bytes, little endian):
 * the file is written without fsync (a cache), and a torn one is detected and ignored */
#define MEMO_MAGIC "strata-hashmemo2"
#define MEMO_MAGIC_LEN 16
#define MEMO_TRAILER_LEN 8
#define MEMO_REC_LEN (7 * 8 + 32)
#define MEMO_MAX_FILE ((size_t)1 << 30)
#define MEMO_KEEP_UNUSED ((size_t)1 << 20) /* past this, only entries used this run are kept */
#define HASH_BUF (256 * 1024)

struct memo_ent {
	uint64_t k[7]; /* dev, ino, size, mtime s, ns, ctime s, ns; k[1] == 0 marks a free slot */
	unsigned char sha[32];
	bool used;
};

struct build_hash_memo {
	char *path;
	pthread_mutex_t lock;
	struct memo_ent *v;
	size_t n, cap;
	bool dirty;
	uint64_t hits, misses;
};

static void stat_key(const struct stat *st, uint64_t k[7])
{
	k[0] = st->st_dev;
	k[1] = st->st_ino ? st->st_ino : 1;
	k[2] = (uint64_t)st->st_size;
	k[3] = (uint64_t)st->st_mtim.tv_sec;
	k[4] = (uint64_t)st->st_mtim.tv_nsec;
	k[5] = (uint64_t)st->st_ctim.tv_sec;
	k[6] = (uint64_t)st->st_ctim.tv_nsec;
}

static size_t slot(const struct build_hash_memo *m, const uint64_t k[7])
{
	uint64_t h = (k[0] * 0x9E3779B97F4A7C15ULL) ^ (k[1] * 0xC2B2AE3D27D4EB4FULL);

	h ^= h >> 29;
	return (size_t)h & (m->cap - 1);
}

/* The slot of (dev, ino), or the free slot where it would go. */
static struct memo_ent *find(struct build_hash_memo *m, const uint64_t k[7])
{
	size_t i = slot(m, k);

	while (m->v[i].k[1] != 0 && (m->v[i].k[0] != k[0] || m->v[i].k[1] != k[1]))
		i = (i + 1) & (m->cap - 1);
	return &m->v[i];
}

static int grow(struct build_hash_memo *m, struct st_error *err)
{
	struct build_hash_memo old = *m;

	if (m->cap && (m->n + 1) * 4 < m->cap * 3)
		return 0;
	m->cap = m->cap ? m->cap * 2 : 1024;
	m->v = calloc(m->cap, sizeof(*m->v));
	if (!m->v) {
		m->v = old.v;
		m->cap = old.cap;
		return st_error_set(err, ST_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < old.cap; i++)
		if (old.v[i].k[1] != 0)
			*find(m, old.v[i].k) = old.v[i];
	free(old.v);
	return 0;
}

static int insert(struct build_hash_memo *m, const uint64_t k[7], const unsigned char *sha,
                  bool used, struct st_error *err)
{
	struct memo_ent *e;
	int rc = grow(m, err);

	if (rc < 0)
		return rc;
	e = find(m, k);
	if (e->k[1] == 0)
		m->n++;
	memcpy(e->k, k, sizeof(e->k));
	memcpy(e->sha, sha, 32);
	e->used = used;
	return 0;
}

static uint64_t crc_of(const void *p, size_t len)
{
	uLong c = crc32(0L, Z_NULL, 0);

	/* zlib takes uInt lengths: the memo is capped at 1 GiB, and fed in pieces anyway */
	for (const unsigned char *q = p; len;) {
		uInt n = len > (1u << 30) ? 1u << 30 : (uInt)len;
		c = crc32(c, q, n);
		q += n;
		len -= n;
	}
	return (uint64_t)c;
}

static uint64_t get_le64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static int load(struct build_hash_memo *m, const struct st_buf *b, struct st_error *err)
{
	const unsigned char *p = (const unsigned char *)b->data + MEMO_MAGIC_LEN;
	size_t n;

	/* a memo of another format or a torn one is only a cache: start afresh */
	if (b->len < MEMO_MAGIC_LEN + MEMO_TRAILER_LEN ||
	    memcmp(b->data, MEMO_MAGIC, MEMO_MAGIC_LEN) != 0 ||
	    (b->len - MEMO_MAGIC_LEN - MEMO_TRAILER_LEN) % MEMO_REC_LEN != 0 ||
	    get_le64((const unsigned char *)b->data + b->len - MEMO_TRAILER_LEN) !=
	            crc_of(b->data, b->len - MEMO_TRAILER_LEN))
		return 0;
	n = (b->len - MEMO_MAGIC_LEN - MEMO_TRAILER_LEN) / MEMO_REC_LEN;
	/* sized once for what is read and a fifth more, not doubled and rehashed on the way */
	m->cap = 1024;
	while ((n + n / 5 + 1) * 4 >= m->cap * 3)
		m->cap *= 2;
	m->v = calloc(m->cap, sizeof(*m->v));
	if (!m->v)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++, p += MEMO_REC_LEN) {
		uint64_t k[7];
		int rc;
		memcpy(k, p, sizeof(k));
		if (k[1] == 0)
			continue;
		rc = insert(m, k, p + sizeof(k), false, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int build_hash_memo_open(const char *path, struct build_hash_memo **out, struct st_error *err)
{
	struct build_hash_memo *m = calloc(1, sizeof(*m));
	cleanup_buf struct st_buf b = ST_BUF_INIT;
	int rc;

	if (!m || !(m->path = strdup(path))) {
		free(m);
		return st_error_set(err, ST_ENOMEM, "out of memory");
	}
	pthread_mutex_init(&m->lock, NULL);
	rc = st_read_file_at(AT_FDCWD, path, &b, MEMO_MAX_FILE, err);
	if (rc == -ST_ENOTFOUND || rc == -ST_ELIMIT)
		rc = 0;
	else if (rc == 0)
		rc = load(m, &b, err);
	if (rc < 0) {
		pthread_mutex_destroy(&m->lock);
		free(m->v);
		free(m->path);
		free(m);
		return rc;
	}
	*out = m;
	return 0;
}

static int save(struct build_hash_memo *m, struct st_error *err)
{
	cleanup_buf struct st_buf b = ST_BUF_INIT;
	const char *slash = strrchr(m->path, '/');
	cleanup_free char *dir = slash ? st_strndup(m->path, (size_t)(slash - m->path + 1)) : NULL;
	cleanup_fd int dfd = -1;
	bool all = m->n <= MEMO_KEEP_UNUSED;
	int rc = st_buf_add(&b, MEMO_MAGIC, MEMO_MAGIC_LEN, err);

	for (size_t i = 0; rc == 0 && i < m->cap; i++) {
		const struct memo_ent *e = &m->v[i];
		if (e->k[1] == 0 || (!all && !e->used))
			continue;
		rc = st_buf_add(&b, e->k, sizeof(e->k), err);
		if (rc == 0)
			rc = st_buf_add(&b, e->sha, 32, err);
	}
	if (rc == 0) {
		uint64_t crc = crc_of(b.data, b.len);
		unsigned char t[MEMO_TRAILER_LEN];
		for (int i = 0; i < MEMO_TRAILER_LEN; i++)
			t[i] = (unsigned char)(crc >> (8 * i));
		rc = st_buf_add(&b, t, sizeof(t), err);
	}
	if (rc < 0)
		return rc;
	if (slash && !dir)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	dfd = open(dir ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return st_error_sys(err, "open directory of '%s'", m->path);
	/* no fsync: a lost update costs a re-hash, a torn file fails the CRC */
	return st_write_file_replace(dfd, slash ? slash + 1 : m->path, b.data, b.len, 0644, err);
}

int build_hash_memo_close(struct build_hash_memo *m, struct st_error *err)
{
	int rc = 0;

	if (!m)
		return 0;
	if (m->dirty)
		rc = save(m, err);
	pthread_mutex_destroy(&m->lock);
	free(m->v);
	free(m->path);
	free(m);
	return rc;
}

void build_hash_memo_stats(struct build_hash_memo *m, uint64_t *hits, uint64_t *misses)
{
	pthread_mutex_lock(&m->lock);
	*hits = m->hits;
	*misses = m->misses;
	pthread_mutex_unlock(&m->lock);
}

int copy_hash_fd(int fd, struct st_digest *out, struct st_error *err)
{
	cleanup_free unsigned char *buf = malloc(HASH_BUF);
	struct st_hasher h = {0};
	ssize_t n;
	int rc;

	if (!buf)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	rc = st_hasher_init(&h, ST_DIGEST_SHA256, err);
	if (rc < 0)
		return rc;
	while ((n = read(fd, buf, HASH_BUF)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = st_error_sys(err, "read");
			st_hasher_release(&h);
			return rc;
		}
		st_hasher_update(&h, buf, (size_t)n);
	}
	st_hasher_final(&h, out);
	return 0;
}

static bool lookup(struct build_hash_memo *m, const uint64_t k[7], struct st_digest *out)
{
	struct memo_ent *e;
	bool hit = false;

	pthread_mutex_lock(&m->lock);
	if (m->cap) {
		e = find(m, k);
		if (e->k[1] != 0 && memcmp(e->k, k, sizeof(e->k)) == 0) {
			out->alg = ST_DIGEST_SHA256;
			memcpy(out->bytes, e->sha, 32);
			e->used = true;
			m->hits++;
			hit = true;
		}
	}
	pthread_mutex_unlock(&m->lock);
	return hit;
}

bool copy_hash_memo_get(struct build_hash_memo *m, const struct stat *st, struct st_digest *out)
{
	uint64_t k[7];

	if (!m)
		return false;
	stat_key(st, k);
	return lookup(m, k, out);
}

int copy_hash_file(struct build_hash_memo *m, int fd, const struct stat *st, struct st_digest *out,
                   struct st_error *err)
{
	uint64_t k[7], k2[7];
	struct timespec now;
	struct stat st2;
	int rc;

	stat_key(st, k);
	if (m && lookup(m, k, out))
		return 0;
	if (clock_gettime(CLOCK_REALTIME_COARSE, &now) < 0)
		now = (struct timespec){0, 0};
	rc = copy_hash_fd(fd, out, err);
	if (rc < 0 || !m)
		return rc;
	if (fstat(fd, &st2) < 0)
		return st_error_sys(err, "stat");
	stat_key(&st2, k2);
	pthread_mutex_lock(&m->lock);
	m->misses++;
	if (memcmp(k, k2, sizeof(k)) == 0 &&
	    (st->st_ctim.tv_sec < now.tv_sec ||
	     (st->st_ctim.tv_sec == now.tv_sec && st->st_ctim.tv_nsec < now.tv_nsec))) {
		rc = insert(m, k, out->bytes, true, err);
		m->dirty = true;
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
}
