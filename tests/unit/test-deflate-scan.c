/* test-deflate-scan.c: the deflate block scanner against zlib. For streams of every block kind
 * (stored, fixed, dynamic; one block and many; from zlib and from libdeflate) the last block's
 * header and the stream's end are where zlib's inflate(Z_BLOCK) finds them (zlib's
 * examples/gzappend.c way); an unfinished stream followed by another inflates to both inputs
 * in one stream; damaged and truncated streams are refused, never overrun. */
#include "unit.h"

#include <libdeflate.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "layer/layer-internal.h"

/* Text-like bytes with repeats (dynamic blocks), some noise, and a run of zeros. */
static unsigned char *sample(size_t n, unsigned seed)
{
	static const char *words[] = {"layer ",    "digest ", "overlay ",   "snapshot ",
	                              "manifest ", "\n",      "0123456789", "tar "};
	unsigned char *p = malloc(n);
	size_t i = 0;

	assert_non_null(p);
	srand(seed);
	while (i < n) {
		int r = rand() % 16;
		if (r < 10) {
			const char *w = words[rand() % 8];
			for (size_t k = 0; w[k] && i < n; k++)
				p[i++] = (unsigned char)w[k];
		} else if (r < 14) {
			p[i++] = (unsigned char)rand();
		} else {
			for (int k = 0; k < 40 && i < n; k++)
				p[i++] = 0;
		}
	}
	return p;
}

/* A complete raw deflate stream of p from zlib; mem 1 makes many small blocks. */
static unsigned char *zlib_raw(const unsigned char *p, size_t n, int level, int strategy, int mem,
                               size_t *out_len)
{
	z_stream z = {0};
	size_t cap = n + n / 8 + 1024;
	unsigned char *o = malloc(cap);

	assert_non_null(o);
	assert_int_equal(deflateInit2(&z, level, Z_DEFLATED, -15, mem, strategy), Z_OK);
	z.next_in = (unsigned char *)p;
	z.avail_in = (uInt)n;
	z.next_out = o;
	z.avail_out = (uInt)cap;
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	*out_len = cap - z.avail_out;
	deflateEnd(&z);
	return o;
}

static unsigned char *libdeflate_raw(const unsigned char *p, size_t n, int level, size_t *out_len)
{
	struct libdeflate_compressor *c = libdeflate_alloc_compressor(level);
	size_t cap = libdeflate_deflate_compress_bound(c, n) + 5;
	unsigned char *o = malloc(cap);

	assert_non_null(o);
	*out_len = libdeflate_deflate_compress(c, p, n, o, cap);
	assert_true(*out_len > 0);
	libdeflate_free_compressor(c);
	return o;
}

/* zlib's answer: the bit where the last block starts and the bit after the stream. inflate
 * with Z_BLOCK returns after each end-of-block code (data_type 128, plus 64 when that block
 * was the last), before it skips to the byte boundary that ends a stream. */
static void zlib_shape(const unsigned char *s, size_t len, uint64_t *last, uint64_t *end)
{
	unsigned char out[65536];
	z_stream z = {0};
	uint64_t boundary = 0, final_end = UINT64_MAX;
	int rc;

	assert_int_equal(inflateInit2(&z, -15), Z_OK);
	z.next_in = (unsigned char *)s;
	z.avail_in = (uInt)len;
	do {
		z.next_out = out;
		z.avail_out = sizeof(out);
		rc = inflate(&z, Z_BLOCK);
		assert_true(rc == Z_OK || rc == Z_STREAM_END);
		uint64_t at = (uint64_t)(len - z.avail_in) * 8 - (uint64_t)(z.data_type & 7);
		if ((z.data_type & 192) == 128)
			boundary = at; /* the next block's header starts here */
		else if ((z.data_type & 192) == 192 && final_end == UINT64_MAX)
			final_end = at;
	} while (rc != Z_STREAM_END);
	assert_true(final_end != UINT64_MAX);
	*last = boundary;
	*end = final_end;
	inflateEnd(&z);
}

static void check_shape(const unsigned char *s, size_t len)
{
	struct layer_deflate_shape got;
	uint64_t last, end;

	zlib_shape(s, len, &last, &end);
	assert_int_equal(layer_deflate_scan(s, len, &got), 0);
	assert_int_equal(got.last_block_bit, last);
	assert_int_equal(got.end_bit, end);
	assert_int_equal((end + 7) / 8, len);
}

static void shapes_match_zlib_for_every_block_kind(void **state)
{
	static const size_t sizes[] = {0, 1, 100, 5000, 131072, 300000};
	(void)state;

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		unsigned char *p = sample(sizes[i], (unsigned)i + 1), *s;
		size_t len;

		s = zlib_raw(p, sizes[i], 0, Z_DEFAULT_STRATEGY, 8, &len); /* stored */
		check_shape(s, len);
		free(s);
		s = zlib_raw(p, sizes[i], 6, Z_FIXED, 8, &len);
		check_shape(s, len);
		free(s);
		s = zlib_raw(p, sizes[i], 6, Z_DEFAULT_STRATEGY, 1, &len); /* many dynamic blocks */
		check_shape(s, len);
		free(s);
		s = zlib_raw(p, sizes[i], 9, Z_HUFFMAN_ONLY, 8, &len);
		check_shape(s, len);
		free(s);
		for (int level = 1; level <= 12; level += 3) {
			s = libdeflate_raw(p, sizes[i], level, &len);
			check_shape(s, len);
			free(s);
		}
		free(p);
	}
}

/* unfinish(A) + B, inflated as one raw stream, gives a ‖ b */
static void unfinished_stream_continues_into_the_next(void **state)
{
	const size_t na = 200000, nb = 70000;
	unsigned char *a = sample(na, 7), *b = sample(nb, 8), *out = malloc(na + nb + 1);
	(void)state;

	assert_non_null(out);
	for (int kind = 0; kind < 3; kind++) {
		size_t la, lb;
		unsigned char *sa = kind == 0   ? libdeflate_raw(a, na, 6, &la)
		                    : kind == 1 ? zlib_raw(a, na, 6, Z_FIXED, 8, &la)
		                                : zlib_raw(a, na, 0, Z_DEFAULT_STRATEGY, 8, &la);
		unsigned char *sb = libdeflate_raw(b, nb, 1, &lb);
		unsigned char *joined = malloc(la + 5 + lb);
		size_t lj = la;
		z_stream z = {0};

		assert_non_null(joined);
		memcpy(joined, sa, la);
		assert_int_equal(layer_deflate_unfinish(joined, &lj, la + 5), 0);
		/* the end is byte-aligned, as after a sync flush */
		assert_memory_equal(joined + lj - 4, "\x00\x00\xff\xff", 4);
		memcpy(joined + lj, sb, lb);
		assert_int_equal(inflateInit2(&z, -15), Z_OK);
		z.next_in = joined;
		z.avail_in = (uInt)(lj + lb);
		z.next_out = out;
		z.avail_out = (uInt)(na + nb + 1);
		assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
		assert_int_equal(z.total_out, na + nb);
		assert_int_equal(z.avail_in, 0);
		assert_memory_equal(out, a, na);
		assert_memory_equal(out + na, b, nb);
		inflateEnd(&z);
		free(joined), free(sa), free(sb);
	}
	free(a), free(b), free(out);
}

static void damaged_streams_are_refused(void **state)
{
	const size_t n = 50000;
	unsigned char *p = sample(n, 3), *s;
	struct layer_deflate_shape sh;
	size_t len, cap;
	(void)state;

	s = libdeflate_raw(p, n, 6, &len);
	/* every truncation is refused (the end-of-block code is missing) */
	for (size_t cut = 0; cut < len; cut += 1 + cut / 50)
		assert_int_equal(layer_deflate_scan(s, cut, &sh), -ST_EINVALID);
	/* block type 3 is reserved */
	assert_int_equal(layer_deflate_scan("\x07", 1, &sh), -ST_EINVALID);
	/* a stored block whose NLEN is not ~LEN */
	assert_int_equal(layer_deflate_scan("\x01\x05\x00\xfa\xf0hello", 10, &sh), -ST_EINVALID);
	assert_int_equal(layer_deflate_scan("\x01\x05\x00\xfa\xffhello", 10, &sh), 0);
	assert_int_equal(sh.end_bit, 80);
	/* flipped bits: refused or scanned, never read past the buffer (ASan watches) */
	for (size_t i = 0; i < len * 8; i += 7) {
		unsigned char *d = malloc(len);
		assert_non_null(d);
		memcpy(d, s, len);
		d[i / 8] ^= (unsigned char)(1u << (i % 8));
		if (layer_deflate_scan(d, len, &sh) == 0)
			assert_true(sh.end_bit <= (uint64_t)len * 8);
		free(d);
	}
	/* unfinish needs its five bytes of room */
	cap = len + 3;
	assert_int_equal(layer_deflate_unfinish(s, &len, cap), -ST_ELIMIT);
	free(s), free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(shapes_match_zlib_for_every_block_kind),
	        cmocka_unit_test(unfinished_stream_continues_into_the_next),
	        cmocka_unit_test(damaged_streams_are_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
