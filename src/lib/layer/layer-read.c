/* layer/layer-read.c: the input side of apply. A thread reads the layer, detects gzip / zstd /
 * plain tar by magic, decompresses (ISA-L's inflate for gzip: three times zlib's speed), hashes
 * both the input (blob digest) and the tar (diffID) and enforces the uncompressed-size limit;
 * the applying thread takes the tar bytes from a small ring of buffers. */
#include <errno.h>
#include <isa-l/igzip_lib.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "layer/layer-read.h"

#include "util/banned.h"

#define IN_CAP (256 * 1024)

static int read_in(struct layer_reader *r, unsigned char *p, size_t cap, size_t *out)
{
	for (;;) {
		ssize_t n = read(r->fd, p, cap);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return st_error_sys(&r->perr, "read layer");
		st_hasher_update(&r->in_hash, p, (size_t)n);
		r->in_size += (uint64_t)n;
		*out = (size_t)n;
		return 0;
	}
}

/* Waits for a free buffer; NULL when the consumer stopped. */
static struct layer_rbuf *get_free(struct layer_reader *r)
{
	struct layer_rbuf *b = NULL;

	pthread_mutex_lock(&r->lock);
	while (r->count == LAYER_NBUF && !r->stop)
		pthread_cond_wait(&r->cond, &r->lock);
	if (!r->stop)
		b = &r->bufs[(r->head + r->count) % LAYER_NBUF];
	pthread_mutex_unlock(&r->lock);
	if (b)
		b->len = 0;
	return b;
}

static int put_filled(struct layer_reader *r, struct layer_rbuf *b)
{
	if (b->len == 0)
		return 0;
	st_hasher_update(&r->tar_hash, b->p, b->len);
	r->tar_size += b->len;
	if (r->tar_size > r->max_bytes)
		return st_error_set(&r->perr, ST_ELIMIT,
		                    "layer is larger than the limit of %llu bytes uncompressed",
		                    (unsigned long long)r->max_bytes);
	pthread_mutex_lock(&r->lock);
	r->count++;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	return 0;
}

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

/* Refills in[] when empty; *eof when the input is exhausted. */
static int refill(struct layer_reader *r, unsigned char *in, const unsigned char **next,
                  size_t *avail, bool *eof)
{
	int rc;

	if (*avail)
		return 0;
	rc = read_in(r, in, IN_CAP, avail);
	*next = in;
	*eof = rc == 0 && *avail == 0;
	return rc;
}

static int pump_gzip(struct layer_reader *r, unsigned char *in, size_t in_len)
{
	struct inflate_state st;
	struct layer_rbuf *b = NULL;
	const unsigned char *next = in;
	size_t avail = in_len;
	bool eof = false, member_done = false;
	int rc;

	isal_inflate_init(&st);
	st.crc_flag = ISAL_GZIP;
	for (;;) {
		rc = refill(r, in, &next, &avail, &eof);
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

static int pump_zstd(struct layer_reader *r, unsigned char *in, size_t in_len)
{
	ZSTD_DCtx *d = ZSTD_createDCtx();
	ZSTD_inBuffer ib = {in, in_len, 0};
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
			rc = read_in(r, in, IN_CAP, &ib.size);
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

static void *producer(void *arg)
{
	struct layer_reader *r = arg;
	unsigned char *in = malloc(IN_CAP);
	size_t n = 0;
	int rc;

	rc = in ? read_in(r, in, IN_CAP, &n) : st_error_set(&r->perr, ST_ENOMEM, "out of memory");
	if (rc == 0 && n >= 2 && in[0] == 0x1f && in[1] == 0x8b) {
		r->compression = ST_LAYER_COMPRESS_GZIP;
		rc = pump_gzip(r, in, n);
	} else if (rc == 0 && n >= 4 && in[0] == 0x28 && in[1] == 0xb5 && in[2] == 0x2f &&
	           in[3] == 0xfd) {
		r->compression = ST_LAYER_COMPRESS_ZSTD;
		rc = pump_zstd(r, in, n);
	} else if (rc == 0) {
		r->compression = ST_LAYER_COMPRESS_NONE;
		rc = pump_plain(r, in, n);
	}
	free(in);
	pthread_mutex_lock(&r->lock);
	r->done = true;
	r->prc = rc;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

int layer_reader_start(struct layer_reader *r, int fd, uint64_t max_bytes, struct st_error *err)
{
	int e;

	memset(r, 0, sizeof(*r));
	r->fd = fd;
	r->max_bytes = max_bytes;
	r->held = -1;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	r->inited = true;
	for (int i = 0; i < LAYER_NBUF; i++) {
		r->bufs[i].p = malloc(LAYER_RBUF_CAP);
		if (!r->bufs[i].p)
			return st_error_set(err, ST_ENOMEM, "out of memory");
	}
	e = st_hasher_init(&r->in_hash, ST_DIGEST_SHA256, err);
	if (e == 0)
		e = st_hasher_init(&r->tar_hash, ST_DIGEST_SHA256, err);
	if (e < 0)
		return e;
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
	if (r->held >= 0) {
		r->head = (r->head + 1) % LAYER_NBUF;
		r->count--;
		r->held = -1;
		pthread_cond_broadcast(&r->cond);
	}
	while (r->count == 0 && !r->done)
		pthread_cond_wait(&r->cond, &r->lock);
	if (r->count) {
		r->held = (int)r->head;
		*out = r->bufs[r->head].p;
		n = (ssize_t)r->bufs[r->head].len;
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

	while ((n = layer_reader_next(r, &p)) > 0)
		;
	return layer_reader_error(r, err);
}

void layer_reader_release(struct layer_reader *r)
{
	if (!r->inited)
		return;
	pthread_mutex_lock(&r->lock);
	r->stop = true;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	if (r->started)
		pthread_join(r->thread, NULL);
	for (int i = 0; i < LAYER_NBUF; i++)
		free(r->bufs[i].p);
	st_hasher_release(&r->in_hash);
	st_hasher_release(&r->tar_hash);
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->lock);
	r->inited = false;
}
