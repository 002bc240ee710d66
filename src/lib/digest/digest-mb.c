/* digest-mb.c: SHA-256 streams (FIPS 180-4) whose whole blocks go either through OpenSSL's block
 * function, one stream at a time, or eight streams at once through the multi-buffer code of
 * digest-mb-x86.inc: AVX2, and AVX2 with AVX-512VL's rotates and ternary logic where the CPU has
 * them (chosen at run time; the file is built for the baseline x86-64, each function with its
 * own target attribute). On CPUs with SHA extensions OpenSSL's one stream is faster than eight
 * lanes: the multi-buffer code is then not used. */
#define OPENSSL_SUPPRESS_DEPRECATED /* SHA256_Update: the block function on a raw state */
#include "digest/digest-mb.h"

#include <openssl/sha.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>
#define HAVE_X86_MB 1
#endif

#include "util/banned.h"

static const uint32_t k256[64] = {
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2};

static const uint32_t iv256[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                  0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

/* n whole blocks into h through OpenSSL (its assembly: AVX2, or SHA-NI where there is one) */
static void blocks_one(uint32_t h[8], const unsigned char *p, size_t n)
{
	SHA256_CTX c;

	if (!n)
		return;
	memset(&c, 0, sizeof(c));
	memcpy(c.h, h, sizeof(c.h));
	c.md_len = SHA256_DIGEST_LENGTH;
	/* with no partial block pending, Update hands whole blocks straight to the block function
	 */
	(void)SHA256_Update(&c, p, n * 64);
	memcpy(h, c.h, sizeof(c.h));
}

void st_digest_stream_init(struct st_digest_stream *s)
{
	memcpy(s->h, iv256, sizeof(iv256));
	s->len = 0;
	s->n_buf = 0;
}

void st_digest_stream_update(struct st_digest_stream *s, const void *p, size_t len)
{
	const unsigned char *b = p;

	s->len += len;
	if (s->n_buf) {
		size_t take = 64 - s->n_buf < len ? 64 - s->n_buf : len;
		memcpy(s->buf + s->n_buf, b, take);
		s->n_buf += (unsigned)take;
		b += take;
		len -= take;
		if (s->n_buf < 64)
			return;
		blocks_one(s->h, s->buf, 1);
		s->n_buf = 0;
	}
	blocks_one(s->h, b, len / 64);
	b += len / 64 * 64;
	len %= 64;
	memcpy(s->buf, b, len);
	s->n_buf = (unsigned)len;
}

void st_digest_stream_final(struct st_digest_stream *s, struct st_digest *out)
{
	uint64_t bits = s->len * 8;
	unsigned n = s->n_buf;

	s->buf[n++] = 0x80;
	if (n > 56) {
		memset(s->buf + n, 0, 64 - n);
		blocks_one(s->h, s->buf, 1);
		n = 0;
	}
	memset(s->buf + n, 0, 56 - n);
	for (int i = 0; i < 8; i++)
		s->buf[56 + i] = (unsigned char)(bits >> (56 - 8 * i));
	blocks_one(s->h, s->buf, 1);
	memset(out, 0, sizeof(*out));
	out->alg = ST_DIGEST_SHA256;
	for (int i = 0; i < 8; i++)
		for (int j = 0; j < 4; j++)
			out->bytes[4 * i + j] = (unsigned char)(s->h[i] >> (24 - 8 * j));
	s->n_buf = 0;
}

#ifdef HAVE_X86_MB
/* AVX2: rotates from two shifts, the boolean functions from and/xor */
#define MB_FN mb_avx2
#define MB_TARGET __attribute__((target("avx2")))
#define ROR(x, n) _mm256_or_si256(_mm256_srli_epi32((x), (n)), _mm256_slli_epi32((x), 32 - (n)))
#define XOR3(x, y, z) _mm256_xor_si256(_mm256_xor_si256((x), (y)), (z))
#define CH(e, f, g) _mm256_xor_si256(_mm256_and_si256((e), (f)), _mm256_andnot_si256((e), (g)))
#define MAJ(a, b, c)                                \
	_mm256_or_si256(_mm256_and_si256((a), (b)), \
	                _mm256_and_si256(_mm256_or_si256((a), (b)), (c)))
#include "digest-mb-x86.inc"
#undef MB_FN
#undef MB_TARGET
#undef ROR
#undef XOR3
#undef CH
#undef MAJ

/* AVX-512VL on ymm registers: one-instruction rotates and three-input boolean functions */
#define MB_FN mb_avx512vl
#define MB_TARGET __attribute__((target("avx2,avx512f,avx512vl")))
#define ROR(x, n) _mm256_ror_epi32((x), (n))
#define XOR3(x, y, z) _mm256_ternarylogic_epi32((x), (y), (z), 0x96)
#define CH(e, f, g) _mm256_ternarylogic_epi32((e), (f), (g), 0xca)
#define MAJ(a, b, c) _mm256_ternarylogic_epi32((a), (b), (c), 0xe8)
#include "digest-mb-x86.inc"
#undef MB_FN
#undef MB_TARGET
#undef ROR
#undef XOR3
#undef CH
#undef MAJ
#endif

enum st_digest_mb_impl st_digest_mb_best(void)
{
	static int best = -1; /* racy first call: every thread computes the same value */
	int b = __atomic_load_n(&best, __ATOMIC_RELAXED);

	if (b >= 0)
		return (enum st_digest_mb_impl)b;
	b = ST_DIGEST_MB_SCALAR;
#ifdef HAVE_X86_MB
	unsigned eax, ebx = 0, ecx, edx;

	__builtin_cpu_init();
	/* with SHA extensions (CPUID.7.0:EBX bit 29), OpenSSL's one stream outruns eight lanes;
	 * clang 14 has no "sha" for __builtin_cpu_supports */
	if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) && (ebx & (1u << 29)))
		b = ST_DIGEST_MB_SCALAR;
	else if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl"))
		b = ST_DIGEST_MB_AVX512VL;
	else if (__builtin_cpu_supports("avx2"))
		b = ST_DIGEST_MB_AVX2;
#endif
	__atomic_store_n(&best, b, __ATOMIC_RELAXED);
	return (enum st_digest_mb_impl)b;
}

const char *st_digest_mb_impl_name(enum st_digest_mb_impl impl)
{
	return impl == ST_DIGEST_MB_AVX512VL ? "avx512vl"
	       : impl == ST_DIGEST_MB_AVX2   ? "avx2"
	                                     : "scalar";
}

unsigned st_digest_mb_min_lanes(enum st_digest_mb_impl impl)
{
	/* measured (bench/digest-mb.sh): from 3 lanes (AVX-512VL) or 4 (AVX2) the multi-buffer
	 * code beats OpenSSL hashing the streams one after another */
	return impl == ST_DIGEST_MB_AVX512VL ? 3 : impl == ST_DIGEST_MB_AVX2 ? 4 : UINT32_MAX;
}

void st_digest_mb_blocks(enum st_digest_mb_impl impl, struct st_digest_stream *const s[],
                         const unsigned char *const p[], unsigned n_lanes, size_t n_blocks)
{
#ifdef HAVE_X86_MB
	if (impl != ST_DIGEST_MB_SCALAR && n_lanes > 1) {
		uint32_t spare[ST_DIGEST_MB_LANES - 1][8];
		uint32_t *st[ST_DIGEST_MB_LANES];
		const unsigned char *q[ST_DIGEST_MB_LANES];

		for (unsigned i = 0; i < ST_DIGEST_MB_LANES; i++) {
			/* an idle lane hashes lane 0's bytes into a spare state */
			st[i] = i < n_lanes ? s[i]->h : spare[i - n_lanes];
			q[i] = i < n_lanes ? p[i] : p[0];
		}
		for (unsigned i = n_lanes; i < ST_DIGEST_MB_LANES; i++)
			memcpy(st[i], iv256, sizeof(iv256));
		if (impl == ST_DIGEST_MB_AVX512VL)
			mb_avx512vl(st, q, n_blocks);
		else
			mb_avx2(st, q, n_blocks);
		for (unsigned i = 0; i < n_lanes; i++)
			s[i]->len += n_blocks * 64;
		return;
	}
#else
	(void)impl;
#endif
	for (unsigned i = 0; i < n_lanes; i++) {
		blocks_one(s[i]->h, p[i], n_blocks);
		s[i]->len += n_blocks * 64;
	}
}
