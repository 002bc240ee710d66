/* layer/layer-read.c: the input side of apply. A producer thread reads the layer, detects gzip /
 * zstd / plain tar by magic, decompresses (ISA-L's inflate for gzip: three times zlib's speed)
 * and enforces the uncompressed-size limit; the applying thread takes the tar bytes from a ring
 * of buffers. A hasher thread computes the blob digest and the diffID from the same buffers (the
 * input ring and the tar ring), so that no thread carries inflate and both SHA-256 passes:
 * without SHA-NI those were 2/3 of the producer's time and made it the longest thread. A slot is
 * reused only when every consumer of it is done: no byte is copied for hashing. */
#include <assert.h>
#include <errno.h>
#include <isa-l/igzip_lib.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "layer/layer-read.h"

#include "util/banned.h"

static int read_in(struct layer_reader *r, unsigned char *p, size_t cap, size_t *out)
{
	for (;;) {
		ssize_t n = read(r->fd, p, cap);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return st_error_sys(&r->perr, "read layer");
		r->in_size += (uint64_t)n;
		*out = (size_t)n;
		return 0;
	}
}

/* The next input slot, once the hasher is done with the bytes it held; NULL when stopped. */
static unsigned char *in_slot(struct layer_reader *r)
{
	unsigned char *p = NULL;

	pthread_mutex_lock(&r->lock);
	while (r->n_in_put - r->n_in_hashed == LAYER_NIN && !r->stop)
		pthread_cond_wait(&r->space_cv, &r->lock);
	if (!r->stop)
		p = r->in[r->n_in_put % LAYER_NIN].p;
	pthread_mutex_unlock(&r->lock);
	return p;
}

/* Hands the input slot just read (len bytes) to the hasher; the producer keeps inflating from
 * it, which only reads it too. */
static void in_publish(struct layer_reader *r, size_t len)
{
	/* without a hasher the producer keeps reading into one slot */
	if (len == 0 || !r->hash)
		return;
	pthread_mutex_lock(&r->lock);
	r->in[r->n_in_put % LAYER_NIN].len = len;
	r->n_in_put++;
	pthread_cond_broadcast(&r->data_cv);
	pthread_mutex_unlock(&r->lock);
}

/* Reads the next compressed chunk into a free input slot: *next, *avail (0 at the end, and when
 * stopped: the release that stops us reads no result). */
static int read_compressed(struct layer_reader *r, const unsigned char **next, size_t *avail)
{
	unsigned char *p = in_slot(r);
	int rc;

	*avail = 0;
	if (!p)
		return 0;
	rc = read_in(r, p, LAYER_IN_CAP, avail);
	if (rc == 0)
		in_publish(r, *avail);
	*next = p;
	return rc;
}

/* Waits for a free tar buffer (taken by the applying thread and hashed); NULL when stopped. */
static struct layer_rbuf *get_free(struct layer_reader *r)
{
	struct layer_rbuf *b = NULL;

	pthread_mutex_lock(&r->lock);
	for (;;) {
		uint64_t low =
		        r->hash && r->n_tar_hashed < r->n_taken ? r->n_tar_hashed : r->n_taken;
		if (r->stop || r->n_put - low < LAYER_NBUF)
			break;
		pthread_cond_wait(&r->space_cv, &r->lock);
	}
	if (!r->stop)
		b = &r->bufs[r->n_put % LAYER_NBUF];
	pthread_mutex_unlock(&r->lock);
	if (b)
		b->len = 0;
	return b;
}

static int put_filled(struct layer_reader *r, struct layer_rbuf *b)
{
	if (b->len == 0)
		return 0;
	r->tar_size += b->len;
	if (r->tar_size > r->max_bytes)
		return st_error_set(&r->perr, ST_ELIMIT,
		                    "layer is larger than the limit of %llu bytes uncompressed",
		                    (unsigned long long)r->max_bytes);
	pthread_mutex_lock(&r->lock);
	r->n_put++;
	pthread_cond_broadcast(&r->data_cv);
	pthread_mutex_unlock(&r->lock);
	return 0;
}

/* Plain tar: the bytes go straight into the tar ring, and the digest is the diffID. */
static int pump_plain(struct layer_reader *r, const unsigned char *first, size_t first_len)
{
	for (;;) {
		struct layer_rbuf *b = get_free(r);
		int rc;

		if (!b)
			return 0;
		if (first_len) {
			memcpy(b->p, first, first_len);
			b->len = first_len;
			first_len = 0;
		} else {
			rc = read_in(r, b->p, LAYER_RBUF_CAP, &b->len);
			if (rc < 0)
				return rc;
			if (b->len == 0)
				return 0;
		}
		rc = put_filled(r, b);
		if (rc < 0)
			return rc;
	}
}

/* Reads the next input chunk when the current one is used up; *eof when the input is
 * exhausted. */
static int refill(struct layer_reader *r, const unsigned char **next, size_t *avail, bool *eof)
{
	int rc;

	if (*avail)
		return 0;
	rc = read_compressed(r, next, avail);
	*eof = rc == 0 && *avail == 0;
	return rc;
}

static int pump_gzip(struct layer_reader *r, const unsigned char *first, size_t first_len)
{
	struct inflate_state st;
	struct layer_rbuf *b = NULL;
	const unsigned char *next = first;
	size_t avail = first_len;
	bool eof = false, member_done = false;
	int rc;

	isal_inflate_init(&st);
	st.crc_flag = ISAL_GZIP;
	for (;;) {
		rc = refill(r, &next, &avail, &eof);
		if (rc < 0)
			return rc;
		if (eof)
			break;
		if (member_done) {
			/* another gzip member follows (RFC 1952 allows several) */
			isal_inflate_reset(&st);
			st.crc_flag = ISAL_GZIP;
			member_done = false;
		}
		if (!b) {
			b = get_free(r);
			if (!b)
				return 0;
		}
		st.next_in = (uint8_t *)(uintptr_t)next;
		st.avail_in = (uint32_t)avail;
		st.next_out = b->p + b->len;
		st.avail_out = (uint32_t)(LAYER_RBUF_CAP - b->len);
		rc = isal_inflate(&st);
		if (rc < 0)
			return st_error_set(&r->perr, ST_EINVALID,
			                    "gzip: corrupt data (isal error %d) near input offset "
			                    "%llu",
			                    rc, (unsigned long long)r->in_size);
		next = st.next_in;
		avail = st.avail_in;
		b->len = LAYER_RBUF_CAP - st.avail_out;
		member_done = st.block_state == ISAL_BLOCK_FINISH;
		if (b->len == LAYER_RBUF_CAP || member_done) {
			rc = put_filled(r, b);
			if (rc < 0)
				return rc;
			b = NULL;
		}
	}
	if (!member_done)
		return st_error_set(&r->perr, ST_EINVALID, "gzip: unexpected end of data");
	return b ? put_filled(r, b) : 0;
}

static int pump_zstd(struct layer_reader *r, const unsigned char *first, size_t first_len)
{
	ZSTD_DCtx *d = ZSTD_createDCtx();
	ZSTD_inBuffer ib = {first, first_len, 0};
	size_t left = 1;
	bool eof = false, out_full = false;
	int rc = 0;

	if (!d)
		return st_error_set(&r->perr, ST_ENOMEM, "zstd: out of memory");
	/* a window past 128 MiB is refused: it would be a memory bomb */
	(void)ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, 27);
	while (rc == 0) {
		struct layer_rbuf *b;
		ZSTD_outBuffer ob;
		/* a full output buffer may leave decoded bytes inside zstd: flush before reading */
		if (ib.pos == ib.size && !out_full) {
			const unsigned char *next = NULL;
			rc = read_compressed(r, &next, &ib.size);
			ib.src = next;
			ib.pos = 0;
			eof = rc == 0 && ib.size == 0;
			if (rc < 0 || eof)
				break;
		}
		b = get_free(r);
		if (!b)
			break;
		ob = (ZSTD_outBuffer){b->p, LAYER_RBUF_CAP, 0};
		left = ZSTD_decompressStream(d, &ob, &ib);
		if (ZSTD_isError(left)) {
			rc = st_error_set(&r->perr, ST_EINVALID, "zstd: %s",
			                  ZSTD_getErrorName(left));
			break;
		}
		b->len = ob.pos;
		out_full = ob.pos == ob.size;
		rc = put_filled(r, b);
	}
	ZSTD_freeDCtx(d);
	if (rc == 0 && eof && left != 0)
		rc = st_error_set(&r->perr, ST_EINVALID, "zstd: unexpected end of data");
	return rc;
}

/* Detects the format from the first read and decompresses to the end. */
static int pump(struct layer_reader *r)
{
	unsigned char *in = in_slot(r); /* the first slot: free unless already stopped */
	size_t n = 0;
	int rc;

	if (!in)
		return 0;
	rc = read_in(r, in, LAYER_IN_CAP, &n);
	if (rc < 0)
		return rc;
	if (n >= 2 && in[0] == 0x1f && in[1] == 0x8b) {
		r->compression = ST_LAYER_COMPRESS_GZIP;
		in_publish(r, n);
		return pump_gzip(r, in, n);
	}
	if (n >= 4 && in[0] == 0x28 && in[1] == 0xb5 && in[2] == 0x2f && in[3] == 0xfd) {
		r->compression = ST_LAYER_COMPRESS_ZSTD;
		in_publish(r, n);
		return pump_zstd(r, in, n);
	}
	r->compression = ST_LAYER_COMPRESS_NONE;
	return pump_plain(r, in, n);
}

static void *producer(void *arg)
{
	struct layer_reader *r = arg;
	int rc = pump(r);

	pthread_mutex_lock(&r->lock);
	r->done = true;
	r->prc = rc;
	pthread_cond_broadcast(&r->data_cv);
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

/* The hasher: input slots into the blob digest, tar buffers into the diffID, each in order,
 * until the producer is done and everything it put is hashed. */
static void *hasher(void *arg)
{
	struct layer_reader *r = arg;

	pthread_mutex_lock(&r->lock);
	while (!r->stop) {
		struct st_hasher *h;
		struct layer_rbuf b;
		uint64_t *n;
		if (r->n_in_hashed < r->n_in_put) {
			h = &r->in_hash;
			b = r->in[r->n_in_hashed % LAYER_NIN];
			n = &r->n_in_hashed;
		} else if (r->n_tar_hashed < r->n_put) {
			h = &r->tar_hash;
			b = r->bufs[r->n_tar_hashed % LAYER_NBUF];
			n = &r->n_tar_hashed;
		} else if (r->done) {
			break;
		} else {
			pthread_cond_wait(&r->data_cv, &r->lock);
			continue;
		}
		pthread_mutex_unlock(&r->lock);
		st_hasher_update(h, b.p, b.len);
		pthread_mutex_lock(&r->lock);
		(*n)++;
		pthread_cond_broadcast(&r->space_cv);
	}
	r->hash_done = true;
	pthread_cond_broadcast(&r->space_cv);
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

static int alloc_bufs(struct layer_rbuf *v, size_t n, size_t cap, struct st_error *err)
{
	for (size_t i = 0; i < n; i++) {
		v[i].p = malloc(cap);
		if (!v[i].p)
			return st_error_set(err, ST_ENOMEM, "out of memory");
	}
	return 0;
}

int layer_reader_start(struct layer_reader *r, int fd, uint64_t max_bytes, bool hash,
                       struct st_error *err)
{
	int e;

	memset(r, 0, sizeof(*r));
	r->fd = fd;
	r->max_bytes = max_bytes;
	r->hash = hash;
	r->hash_done = !hash;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->data_cv, NULL);
	pthread_cond_init(&r->space_cv, NULL);
	r->inited = true;
	e = alloc_bufs(r->bufs, LAYER_NBUF, LAYER_RBUF_CAP, err);
	if (e == 0)
		e = alloc_bufs(r->in, LAYER_NIN, LAYER_IN_CAP, err);
	if (e == 0 && hash)
		e = st_hasher_init(&r->in_hash, ST_DIGEST_SHA256, err);
	if (e == 0 && hash)
		e = st_hasher_init(&r->tar_hash, ST_DIGEST_SHA256, err);
	if (e < 0)
		return e;
	if (hash) {
		e = pthread_create(&r->hasher, NULL, hasher, r);
		if (e)
			return st_error_errno(err, e, "pthread_create");
		r->hasher_started = true;
	}
	e = pthread_create(&r->thread, NULL, producer, r);
	if (e)
		return st_error_errno(err, e, "pthread_create");
	r->started = true;
	return 0;
}

ssize_t layer_reader_next(struct layer_reader *r, const void **out)
{
	ssize_t n = 0;

	pthread_mutex_lock(&r->lock);
	if (r->held) {
		r->n_taken++;
		r->held = false;
		pthread_cond_broadcast(&r->space_cv);
	}
	while (r->n_taken == r->n_put && !r->done)
		pthread_cond_wait(&r->data_cv, &r->lock);
	if (r->n_taken < r->n_put) {
		const struct layer_rbuf *b = &r->bufs[r->n_taken % LAYER_NBUF];
		r->held = true;
		*out = b->p;
		n = (ssize_t)b->len;
	} else if (r->prc < 0) {
		n = -1;
	}
	pthread_mutex_unlock(&r->lock);
	return n;
}

int layer_reader_error(struct layer_reader *r, struct st_error *err)
{
	int rc;

	pthread_mutex_lock(&r->lock);
	rc = r->done ? r->prc : 0;
	pthread_mutex_unlock(&r->lock);
	if (rc < 0 && err)
		*err = r->perr;
	return rc;
}

int layer_reader_finish(struct layer_reader *r, struct st_error *err)
{
	const void *p;
	ssize_t n;
	int rc;

	while ((n = layer_reader_next(r, &p)) > 0)
		;
	rc = layer_reader_error(r, err);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&r->lock);
	while (!r->hash_done)
		pthread_cond_wait(&r->space_cv, &r->lock);
	pthread_mutex_unlock(&r->lock);
	return 0;
}

void layer_reader_digests(struct layer_reader *r, struct st_digest *digest,
                          struct st_digest *diff_id)
{
	assert(r->hash);
	st_hasher_final(&r->tar_hash, diff_id);
	/* plain tar: the input is the tar, hashed once */
	if (r->compression == ST_LAYER_COMPRESS_NONE)
		*digest = *diff_id;
	else
		st_hasher_final(&r->in_hash, digest);
}

void layer_reader_release(struct layer_reader *r)
{
	if (!r->inited)
		return;
	pthread_mutex_lock(&r->lock);
	r->stop = true;
	pthread_cond_broadcast(&r->data_cv);
	pthread_cond_broadcast(&r->space_cv);
	pthread_mutex_unlock(&r->lock);
	if (r->started)
		pthread_join(r->thread, NULL);
	if (r->hasher_started)
		pthread_join(r->hasher, NULL);
	for (int i = 0; i < LAYER_NBUF; i++)
		free(r->bufs[i].p);
	for (int i = 0; i < LAYER_NIN; i++)
		free(r->in[i].p);
	st_hasher_release(&r->in_hash);
	st_hasher_release(&r->tar_hash);
	pthread_cond_destroy(&r->data_cv);
	pthread_cond_destroy(&r->space_cv);
	pthread_mutex_destroy(&r->lock);
	r->inited = false;
}
