/* layer/deflate-scan.c: the block structure of a raw deflate stream (RFC 1951), found by
 * decoding its Huffman codes without producing output, and the surgery that turns a complete
 * stream into one that another can follow (what zlib's Z_SYNC_FLUSH writes).
 *
 * libdeflate compresses a whole buffer at a time and always ends it with a final block; it
 * cannot flush. The parallel gzip writer needs every block but the last to end byte-aligned
 * and unfinished, so that the blocks join into one stream: the scan finds the last block's
 * header (to clear its BFINAL bit) and the bit after its end-of-block code (where the empty
 * stored block of a sync flush goes). Same idea as zlib's examples/gzappend.c, which finds the
 * last block with inflate(Z_BLOCK). */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "layer/layer-internal.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

#define MAX_BITS 15
#define LIT_FAST 10 /* lookup bits of the literal/length table */
#define DIST_FAST 8 /* lookup bits of the distance table */

/* A canonical Huffman code: a table for codes of at most `fast` bits, and the counts and
 * symbols in canonical order for the longer ones (decoded bit by bit, as zlib's puff does).
 * A table entry is symbol | code length << 16 | extra bits << 24 (the length or distance
 * extra bits that follow the code, skipped with it); 0: a longer code, or none. */
struct huff {
	unsigned fast;
	const uint8_t *extra; /* extra bits of symbols base.. (NULL: none) */
	unsigned base;
	uint32_t table[1u << LIT_FAST];
	uint16_t count[MAX_BITS + 1];
	uint16_t symbol[288];
};

/* A bit reader: 56 or more bits in `buf` after a refill; past the end it feeds zero bytes and
 * counts them, so that a position beyond the input is seen (pos > end) rather than read. */
struct bits {
	const unsigned char *p, *cur, *lim;
	uint64_t buf;
	unsigned cnt;
	uint64_t fake; /* zero bytes fed past lim */
};

static inline void refill(struct bits *b)
{
	if (b->lim - b->cur >= 8) {
		uint64_t v;
		memcpy(&v, b->cur, sizeof(v));
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
		v = __builtin_bswap64(v);
#endif
		b->buf |= v << b->cnt;
		b->cur += (63 - b->cnt) >> 3;
		b->cnt |= 56;
		return;
	}
	while (b->cnt <= 56) {
		uint64_t byte = 0;
		if (b->cur < b->lim)
			byte = *b->cur++;
		else
			b->fake++;
		b->buf |= byte << b->cnt;
		b->cnt += 8;
	}
}

/* Bits consumed so far. */
static inline uint64_t pos_of(const struct bits *b)
{
	return ((uint64_t)(b->cur - b->p) + b->fake) * 8 - b->cnt;
}

static inline bool past_end(const struct bits *b)
{
	return pos_of(b) > (uint64_t)(b->lim - b->p) * 8;
}

static inline void drop(struct bits *b, unsigned n)
{
	b->buf >>= n;
	b->cnt -= n;
}

/* The next n (<= 32) bits, least significant first; -1 past the end. */
static int take(struct bits *b, unsigned n, uint32_t *v)
{
	refill(b);
	*v = (uint32_t)(b->buf & ((1ull << n) - 1));
	drop(b, n);
	return past_end(b) ? -1 : 0;
}

static unsigned reverse(unsigned code, unsigned len)
{
	unsigned r = 0;

	for (unsigned i = 0; i < len; i++, code >>= 1)
		r = r << 1 | (code & 1);
	return r;
}

/* Builds h from n code lengths; symbols from `base` on carry extra[s - base] extra bits.
 * -1 when the lengths over-subscribe the code; an incomplete code is accepted (a lone distance
 * code is legal) and its unused codes fail at decoding. */
static int build(struct huff *h, const uint8_t *lens, unsigned n, unsigned fast,
                 const uint8_t *extra, unsigned base, unsigned n_extra)
{
	uint16_t offs[MAX_BITS + 2], next[MAX_BITS + 1];
	int left = 1;
	unsigned code = 0;

	memset(h->count, 0, sizeof(h->count));
	memset(h->table, 0, sizeof(h->table[0]) << fast);
	h->fast = fast;
	h->extra = extra;
	h->base = base;
	for (unsigned s = 0; s < n; s++)
		h->count[lens[s]]++;
	for (unsigned len = 1; len <= MAX_BITS; len++) {
		left = (left << 1) - h->count[len];
		if (left < 0)
			return -1;
	}
	h->count[0] = 0; /* unused symbols take no code */
	offs[1] = 0;
	for (unsigned len = 1; len <= MAX_BITS; len++)
		offs[len + 1] = (uint16_t)(offs[len] + h->count[len]);
	/* the first code of each length (RFC 1951, 3.2.2) */
	for (unsigned len = 1; len <= MAX_BITS; len++) {
		code = (code + h->count[len - 1]) << 1;
		next[len] = (uint16_t)code;
	}
	for (unsigned s = 0; s < n; s++) {
		unsigned len = lens[s], c, x;
		if (!len)
			continue;
		h->symbol[offs[len]++] = (uint16_t)s;
		c = next[len]++;
		x = extra && s >= base && s - base < n_extra ? extra[s - base] : 0;
		if (len <= fast)
			for (unsigned i = reverse(c, len); i < (1u << fast); i += 1u << len)
				h->table[i] = (uint32_t)(s | len << 16 | x << 24);
	}
	return 0;
}

/* Decodes one symbol bit by bit (puff's decode) from the low bits of buf: codes longer than
 * the table's. Sets *used to the bits of the code and its extra bits. */
static int decode_slow(uint64_t buf, const struct huff *h, unsigned *used)
{
	int code = 0, first = 0, index = 0;

	for (unsigned len = 1; len <= MAX_BITS; len++, buf >>= 1) {
		code |= (int)(buf & 1);
		int count = h->count[len];
		if (code - count < first) {
			int s = h->symbol[index + (code - first)];
			*used = len +
			        (h->extra && s >= (int)h->base ? h->extra[s - (int)h->base] : 0);
			return s;
		}
		index += count;
		first = (first + count) << 1;
		code <<= 1;
	}
	return -1;
}

/* One symbol from the low bits of buf (at least 28 valid), and the bits it takes with its
 * extra bits. */
static inline int decode(uint64_t buf, const struct huff *h, unsigned *used)
{
	uint32_t e = h->table[buf & ((1u << h->fast) - 1)];

	if (!e)
		return decode_slow(buf, h, used);
	*used = (e >> 16 & 0xff) + (e >> 24);
	return (int)(e & 0xffff);
}

static const uint8_t len_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                      2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const uint8_t dist_extra[30] = {0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
                                       6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

static int build_lit(struct huff *h, const uint8_t *lens, unsigned n)
{
	return build(h, lens, n, LIT_FAST, len_extra, 257, 29);
}

static int build_dist(struct huff *h, const uint8_t *lens, unsigned n)
{
	return build(h, lens, n, DIST_FAST, dist_extra, 0, 30);
}

/* Walks the symbols of a Huffman block up to its end-of-block code: after a refill the
 * buffer holds 56 bits, enough for a length code, its extra bits, a distance code and its
 * extra bits (15 + 5 + 15 + 13). The reader is a local copy, kept in registers. */
static int codes(struct bits *b, const struct huff *lit, const struct huff *dist)
{
	struct bits r = *b;
	int rc = -1;

	for (;;) {
		unsigned used;
		int s;
		if (r.fake && past_end(&r)) /* zeros fed past the input would decode forever */
			break;
		refill(&r);
		s = decode(r.buf, lit, &used);
		if (s < 0)
			break;
		drop(&r, used);
		if (s < 256)
			continue;
		if (s == 256) {
			rc = r.fake && past_end(&r) ? -1 : 0;
			break;
		}
		if (s > 285)
			break;
		s = decode(r.buf, dist, &used);
		if (s < 0 || s >= 30)
			break;
		drop(&r, used);
	}
	*b = r;
	return rc;
}

/* Skips n bytes of a stored block (the reader is byte-aligned). */
static int skip_bytes(struct bits *b, uint32_t n)
{
	uint64_t at = pos_of(b) / 8 + n;

	if (at > (uint64_t)(b->lim - b->p))
		return -1;
	b->cur = b->p + at;
	b->buf = 0;
	b->cnt = 0;
	b->fake = 0;
	return 0;
}

static int fixed_block(struct bits *b)
{
	struct huff l, d; /* built for each fixed block: rare (small inputs), and no shared state */
	uint8_t lens[288];

	memset(lens, 8, 144);
	memset(lens + 144, 9, 112);
	memset(lens + 256, 7, 24);
	memset(lens + 280, 8, 8);
	if (build_lit(&l, lens, 288) < 0)
		return -1;
	memset(lens, 5, 30);
	if (build_dist(&d, lens, 30) < 0)
		return -1;
	return codes(b, &l, &d);
}

static int dynamic_block(struct bits *b)
{
	static const uint8_t order[19] = {16, 17, 18, 0, 8,  7, 9,  6, 10, 5,
	                                  11, 4,  12, 3, 13, 2, 14, 1, 15};
	struct huff l, d;
	uint8_t lens[320] = {0};
	uint32_t nlen, ndist, ncode, v;
	unsigned i = 0;

	if (take(b, 5, &nlen) < 0 || take(b, 5, &ndist) < 0 || take(b, 4, &ncode) < 0)
		return -1;
	nlen += 257;
	ndist += 1;
	ncode += 4;
	if (nlen > 286 || ndist > 30)
		return -1;
	for (unsigned k = 0; k < ncode; k++) {
		if (take(b, 3, &v) < 0)
			return -1;
		lens[order[k]] = (uint8_t)v;
	}
	if (build(&l, lens, 19, 7, NULL, 0, 0) < 0)
		return -1;
	memset(lens, 0, sizeof(lens));
	while (i < nlen + ndist) {
		unsigned rep, used;
		uint8_t val = 0;
		int s;
		refill(b);
		s = decode(b->buf, &l, &used);
		if (s < 0)
			return -1;
		drop(b, used);
		if (past_end(b))
			return -1;
		if (s < 16) {
			lens[i++] = (uint8_t)s;
			continue;
		}
		if (s == 16) {
			if (i == 0 || take(b, 2, &v) < 0)
				return -1;
			val = lens[i - 1];
			rep = 3 + v;
		} else if (s == 17) {
			if (take(b, 3, &v) < 0)
				return -1;
			rep = 3 + v;
		} else {
			if (take(b, 7, &v) < 0)
				return -1;
			rep = 11 + v;
		}
		if (i + rep > nlen + ndist)
			return -1;
		while (rep--)
			lens[i++] = val;
	}
	if (lens[256] == 0) /* no end-of-block code: the block could never end */
		return -1;
	if (build_lit(&l, lens, nlen) < 0 || build_dist(&d, lens + nlen, ndist) < 0)
		return -1;
	return codes(b, &l, &d);
}

int layer_deflate_scan(const void *p, size_t len, struct layer_deflate_shape *out)
{
	struct bits b = {.p = p, .cur = p, .lim = (const unsigned char *)p + len};

	for (;;) {
		uint64_t hdr = pos_of(&b);
		uint32_t final, type, v;
		int rc;

		if (take(&b, 1, &final) < 0 || take(&b, 2, &type) < 0)
			return -ST_EINVALID;
		if (type == 0) {
			drop(&b, b.cnt & 7); /* to the byte boundary */
			if (take(&b, 32, &v) < 0 || (v & 0xffff) != (~v >> 16 & 0xffff))
				return -ST_EINVALID;
			rc = skip_bytes(&b, v & 0xffff);
		} else if (type == 1) {
			rc = fixed_block(&b);
		} else if (type == 2) {
			rc = dynamic_block(&b);
		} else {
			rc = -1;
		}
		if (rc < 0)
			return -ST_EINVALID;
		if (final) {
			out->last_block_bit = hdr;
			out->end_bit = pos_of(&b);
			return 0;
		}
	}
}

int layer_deflate_unfinish(unsigned char *p, size_t *len, size_t cap)
{
	struct layer_deflate_shape s;
	uint64_t hdr;
	size_t n;

	if (layer_deflate_scan(p, *len, &s) < 0)
		return -ST_EINVALID;
	/* an empty stored block from end_bit: three zero header bits, zeros to the byte boundary,
	 * then LEN 0000 and NLEN ffff */
	hdr = s.end_bit + 3;
	n = (size_t)((hdr + 7) >> 3);
	if (n + 4 > cap)
		return -ST_ELIMIT;
	p[s.last_block_bit >> 3] &= (unsigned char)~(1u << (s.last_block_bit & 7));
	if (s.end_bit & 7)
		p[s.end_bit >> 3] &= (unsigned char)((1u << (s.end_bit & 7)) - 1);
	for (size_t i = (size_t)((s.end_bit + 7) >> 3); i < n; i++)
		p[i] = 0;
	memcpy(p + n, "\x00\x00\xff\xff", 4);
	*len = n + 4;
	return 0;
}
