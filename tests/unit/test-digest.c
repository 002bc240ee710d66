/* test-digest.c: digest parsing per the image spec and hashing; expected values come from
 * sha256sum/sha512sum. */
#include "unit.h"

#include <pthread.h>

#include "digest/digest-mb.h"
#include "strata/digest.h"

#define EMPTY "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define ABC "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define ABC512                                                                                     \
	"sha512:"                                                                                  \
	"ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23" \
	"a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
#define MEG_OF_ZEROS "sha256:d29751f2649b32ff572b5e0a9f541ea660a50f94ff0beedfb0b692b924cc8025"

static void hashes_match_coreutils(void **state)
{
	struct st_digest d;
	char s[ST_DIGEST_STR_MAX];

	(void)state;
	assert_int_equal(st_digest_of(ST_DIGEST_SHA256, "", 0, &d, NULL), 0);
	st_digest_str(&d, s);
	assert_string_equal(s, EMPTY);
	assert_int_equal(st_digest_of(ST_DIGEST_SHA256, "abc", 3, &d, NULL), 0);
	st_digest_str(&d, s);
	assert_string_equal(s, ABC);
	assert_int_equal(st_digest_of(ST_DIGEST_SHA512, "abc", 3, &d, NULL), 0);
	st_digest_str(&d, s);
	assert_string_equal(s, ABC512);
}

static void streaming_equals_one_shot(void **state)
{
	struct st_hasher h;
	struct st_digest d, want;
	static char zeros[1000000];

	(void)state;
	assert_int_equal(st_hasher_init(&h, ST_DIGEST_SHA256, NULL), 0);
	for (size_t off = 0; off < sizeof(zeros); off += 4096) {
		size_t n = sizeof(zeros) - off < 4096 ? sizeof(zeros) - off : 4096;
		st_hasher_update(&h, zeros + off, n);
	}
	assert_true(h.len == sizeof(zeros));
	st_hasher_final(&h, &d);
	assert_int_equal(st_digest_parse_str(MEG_OF_ZEROS, &want, NULL), 0);
	assert_true(st_digest_equal(&d, &want));
	assert_true(st_digest_check(&want, zeros, sizeof(zeros)));
	assert_false(st_digest_check(&want, zeros, sizeof(zeros) - 1));
}

/* final_reset gives each hash as a fresh hasher would, and the context goes on */
static void final_reset_starts_over(void **state)
{
	struct st_hasher h;
	struct st_digest a, b, c, want_abc, want_x;

	(void)state;
	assert_int_equal(st_digest_of(ST_DIGEST_SHA256, "abc", 3, &want_abc, NULL), 0);
	assert_int_equal(st_digest_of(ST_DIGEST_SHA256, "x", 1, &want_x, NULL), 0);
	assert_int_equal(st_hasher_init(&h, ST_DIGEST_SHA256, NULL), 0);
	st_hasher_update(&h, "abc", 3);
	st_hasher_final_reset(&h, &a);
	assert_true(h.len == 0);
	st_hasher_update(&h, "x", 1);
	st_hasher_final_reset(&h, &b);
	st_hasher_update(&h, "ab", 2);
	st_hasher_update(&h, "c", 1);
	st_hasher_final(&h, &c);
	assert_true(st_digest_equal(&a, &want_abc));
	assert_true(st_digest_equal(&b, &want_x));
	assert_true(st_digest_equal(&c, &want_abc));
}

static void parse_round_trips(void **state)
{
	static const char *const good[] = {EMPTY, ABC, ABC512};
	struct st_digest d;
	char s[ST_DIGEST_STR_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(st_digest_parse_str(good[i], &d, NULL), 0);
		st_digest_str(&d, s);
		assert_string_equal(s, good[i]);
	}
}

static void parse_rejects_bad_digests(void **state)
{
	static const struct {
		const char *in;
		int rc;
		const char *msg;
	} cases[] = {
	        {"", -ST_EINVALID, "missing ':'"},
	        {"sha256", -ST_EINVALID, "missing ':'"},
	        {"sha256:", -ST_EINVALID, "invalid digest"},
	        {"sha256:abc", -ST_EINVALID, "needs 64 hex digits, not 3"},
	        {"SHA256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	         -ST_EINVALID, "invalid digest"},
	        {"sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
	         -ST_EINVALID, "offset 7"},
	        {"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85g",
	         -ST_EINVALID, "offset 70"},
	        {"md5:d41d8cd98f00b204e9800998ecf8427e", -ST_EUNSUPPORTED, "unsupported"},
	        {"sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564", -ST_EUNSUPPORTED,
	         "unsupported"},
	        {"sha256::x", -ST_EINVALID, "invalid digest"},
	        {"-sha256:x", -ST_EINVALID, "invalid digest"},
	};
	struct st_digest d;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct st_error err = ST_ERROR_INIT;
		int rc = st_digest_parse_str(cases[i].in, &d, &err);
		if (rc != cases[i].rc || !strstr(err.msg, cases[i].msg))
			fail_msg("'%s': rc %d msg '%s'", cases[i].in, rc, err.msg);
	}
}

/* ---- multi-buffer SHA-256 and the hasher pool, against OpenSSL's one-shot ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rnd(void)
{
	/* xorshift64*: reproducible, so a failure names its inputs by the seed */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static unsigned char *random_bytes(size_t len)
{
	unsigned char *p = malloc(len ? len : 1);

	assert_non_null(p);
	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)(rnd() >> 56);
	return p;
}

static void want_openssl(const unsigned char *p, size_t len, const struct st_digest *got)
{
	struct st_digest want;

	assert_int_equal(st_digest_of(ST_DIGEST_SHA256, p, len, &want, NULL), 0);
	if (!st_digest_equal(&want, got)) {
		char a[ST_DIGEST_STR_MAX], b[ST_DIGEST_STR_MAX];
		st_digest_str(&want, a);
		st_digest_str(got, b);
		fail_msg("%zu bytes: want %s, got %s", len, a, b);
	}
}

/* the scalar stream: edge lengths one-shot, then random update sizes */
static void stream_matches_openssl(void **state)
{
	static const size_t lens[] = {0,   1,   55,  56,  57,   63,   64,   65,      119,
	                              120, 127, 128, 129, 1000, 4095, 4096, 1 << 20, 3000001};
	unsigned char *p = random_bytes(3000001);
	struct st_digest_stream s;
	struct st_digest got;

	(void)state;
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		st_digest_stream_init(&s);
		st_digest_stream_update(&s, p, lens[i]);
		st_digest_stream_final(&s, &got);
		want_openssl(p, lens[i], &got);
	}
	for (int round = 0; round < 200; round++) {
		size_t len = rnd() % (round < 150 ? 5000 : 3000001), off = 0;
		st_digest_stream_init(&s);
		while (off < len) {
			size_t n = rnd() % (round % 2 ? 200 : 70000);
			n = n > len - off ? len - off : n;
			st_digest_stream_update(&s, p + off, n);
			off += n;
		}
		st_digest_stream_final(&s, &got);
		want_openssl(p, len, &got);
	}
	free(p);
}

/* every implementation this CPU runs, any lane count, lanes at different places in their
 * streams, with scalar heads and tails around the multi-buffer blocks */
static void mb_blocks_match_openssl(void **state)
{
	enum { MAXLEN = 1 << 16 };
	unsigned char *buf[ST_DIGEST_MB_LANES];
	struct st_digest_stream ctx[ST_DIGEST_MB_LANES], *s[ST_DIGEST_MB_LANES];
	const unsigned char *p[ST_DIGEST_MB_LANES];
	size_t head[ST_DIGEST_MB_LANES], tail[ST_DIGEST_MB_LANES];

	(void)state;
	for (unsigned i = 0; i < ST_DIGEST_MB_LANES; i++)
		buf[i] = random_bytes(3 * MAXLEN);
	print_message("# multi-buffer: best here is %s\n",
	              st_digest_mb_impl_name(st_digest_mb_best()));
	for (int impl = ST_DIGEST_MB_SCALAR; impl <= (int)st_digest_mb_best(); impl++) {
		for (int round = 0; round < 300; round++) {
			unsigned n = 1 + (unsigned)(rnd() % ST_DIGEST_MB_LANES);
			size_t nb = round < 20 ? (size_t)round : rnd() % (MAXLEN / 64);
			for (unsigned i = 0; i < n; i++) {
				head[i] = (rnd() % (MAXLEN / 64)) * 64; /* whole blocks: n_buf 0 */
				tail[i] = rnd() % (round % 3 ? 200 : MAXLEN);
				st_digest_stream_init(&ctx[i]);
				st_digest_stream_update(&ctx[i], buf[i], head[i]);
				s[i] = &ctx[i];
				p[i] = buf[i] + head[i];
			}
			st_digest_mb_blocks((enum st_digest_mb_impl)impl, s, p, n, nb);
			for (unsigned i = 0; i < n; i++) {
				struct st_digest got;
				size_t len = head[i] + nb * 64;
				assert_true(ctx[i].len == len);
				st_digest_stream_update(&ctx[i], buf[i] + len, tail[i]);
				st_digest_stream_final(&ctx[i], &got);
				want_openssl(buf[i], len + tail[i], &got);
			}
		}
	}
	for (unsigned i = 0; i < ST_DIGEST_MB_LANES; i++)
		free(buf[i]);
}

struct producer {
	struct st_digest_pool *pool;
	unsigned char *p;
	size_t len, max_update;
	bool cancel; /* close before the end, as an abandoned upload does */
	pthread_barrier_t *start;
	uint64_t seed;
	struct st_digest got;
};

static void *produce(void *arg)
{
	struct producer *pr = arg;
	struct st_digest_pool_stream *s = NULL;
	uint64_t x = pr->seed;
	size_t off = 0;

	if (st_digest_pool_open(pr->pool, &s, NULL) < 0)
		return "open";
	pthread_barrier_wait(pr->start);
	while (off < pr->len) {
		unsigned char *b;
		size_t n;
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		n = 1 + x % pr->max_update;
		n = n > pr->len - off ? pr->len - off : n;
		b = st_digest_pool_buffer(s);
		if (!b || (uintptr_t)b % ST_DIGEST_POOL_BUF_ALIGN)
			return "buffer";
		n = n > ST_DIGEST_POOL_BUF ? ST_DIGEST_POOL_BUF : n;
		memcpy(b, pr->p + off, n);
		/* now and then one given back unused */
		st_digest_pool_submit(s, b, x % 11 == 0 ? 0 : n);
		if (x % 11 == 0)
			continue;
		off += n;
		if (pr->cancel && off > pr->len / 2)
			break;
	}
	if (!pr->cancel)
		st_digest_pool_final(s, &pr->got);
	st_digest_pool_close(s);
	return NULL;
}

/* streams of uneven lengths and update sizes from concurrent producers, a small queue limit (the
 * producers wait for the thread), some closed halfway; every digest is OpenSSL's */
static void pool_matches_openssl(void **state)
{
	enum { N = 12 };
	struct producer pr[N];
	pthread_t t[N];
	struct st_digest_pool_stats st;

	(void)state;
	for (int rep = 0; rep < 6; rep++) {
		struct st_digest_pool *pool = NULL;
		unsigned n = 1 + (unsigned)(rnd() % N);
		pthread_barrier_t start;
		assert_int_equal(st_digest_pool_new(rep % 2 ? 64 << 10 : 0, &pool, NULL), 0);
		pthread_barrier_init(&start, NULL, n);
		for (unsigned i = 0; i < n; i++) {
			pr[i] = (struct producer){
			        .pool = pool,
			        .len = rep == 0 && i == 0 ? 0 : rnd() % (4 << 20),
			        .max_update = i % 3 == 0 ? 100 : 1 + rnd() % (256 << 10),
			        .cancel = i % 5 == 4,
			        .seed = rnd() | 1,
			        .start = &start};
			pr[i].p = random_bytes(pr[i].len);
		}
		for (unsigned i = 0; i < n; i++)
			assert_int_equal(pthread_create(&t[i], NULL, produce, &pr[i]), 0);
		for (unsigned i = 0; i < n; i++) {
			void *res = NULL;
			assert_int_equal(pthread_join(t[i], &res), 0);
			assert_null(res);
			if (!pr[i].cancel)
				want_openssl(pr[i].p, pr[i].len, &pr[i].got);
			free(pr[i].p);
		}
		pthread_barrier_destroy(&start);
		st_digest_pool_get_stats(pool, &st);
		print_message("# pool of %u: %llu bytes inline, %llu queued, %llu in %llu "
		              "multi-buffer rounds (%.1f lanes)\n",
		              n, (unsigned long long)st.inline_bytes,
		              (unsigned long long)st.queued_bytes, (unsigned long long)st.mb_bytes,
		              (unsigned long long)st.mb_rounds,
		              st.mb_rounds ? (double)st.mb_lanes / (double)st.mb_rounds : 0.0);
		st_digest_pool_free(pool);
	}
}

/* producers that outrun the thread (a queue limit of one write) run rounds themselves; a round
 * run by a producer must wake the thread, which may have gone to sleep finding those streams
 * busy (an upload hung this way in the serve benchmark) */
static void pool_waiting_producers_never_hang(void **state)
{
	enum { N = 4 };
	struct producer pr[N];
	pthread_t t[N];
	unsigned char *p = random_bytes(2 << 20);

	(void)state;
	for (int rep = 0; rep < 30; rep++) {
		struct st_digest_pool *pool = NULL;
		pthread_barrier_t start;
		assert_int_equal(st_digest_pool_new(64 << 10, &pool, NULL), 0);
		pthread_barrier_init(&start, NULL, N);
		for (unsigned i = 0; i < N; i++) {
			pr[i] = (struct producer){.pool = pool,
			                          .p = p,
			                          .len = (2 << 20) - i * 4096,
			                          .max_update = 65255,
			                          .seed = rnd() | 1,
			                          .start = &start};
			assert_int_equal(pthread_create(&t[i], NULL, produce, &pr[i]), 0);
		}
		for (unsigned i = 0; i < N; i++) {
			void *res = NULL;
			assert_int_equal(pthread_join(t[i], &res), 0);
			assert_null(res);
			want_openssl(p, pr[i].len, &pr[i].got);
		}
		pthread_barrier_destroy(&start);
		st_digest_pool_free(pool);
	}
	free(p);
}

/* a lent buffer comes back once hashed: a lone stream hashes it inline and lends it again */
static void pool_lends_hashed_buffers_again(void **state)
{
	struct st_digest_pool *pool = NULL;
	struct st_digest_pool_stream *s = NULL;
	unsigned char *p = random_bytes(2 * ST_DIGEST_POOL_BUF), *b, *again;
	struct st_digest got;

	(void)state;
	assert_int_equal(st_digest_pool_new(0, &pool, NULL), 0);
	assert_int_equal(st_digest_pool_open(pool, &s, NULL), 0);
	b = st_digest_pool_buffer(s);
	assert_non_null(b);
	memcpy(b, p, ST_DIGEST_POOL_BUF);
	st_digest_pool_submit(s, b, ST_DIGEST_POOL_BUF);
	again = st_digest_pool_buffer(s);
	assert_ptr_equal(again, b);
	memcpy(again, p + ST_DIGEST_POOL_BUF, 1000);
	st_digest_pool_submit(s, again, 1000);
	st_digest_pool_final(s, &got);
	want_openssl(p, ST_DIGEST_POOL_BUF + 1000, &got);
	st_digest_pool_close(s);
	st_digest_pool_free(pool);
	free(p);
}

/* streams left open when the pool goes, with bytes queued: freed, no hang */
static void pool_free_drops_open_streams(void **state)
{
	struct st_digest_pool *pool = NULL;
	struct st_digest_pool_stream *s[8];
	unsigned char *p = random_bytes(1 << 20);

	(void)state;
	assert_int_equal(st_digest_pool_new(0, &pool, NULL), 0);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(st_digest_pool_open(pool, &s[i], NULL), 0);
		for (int k = 0; k < 2; k++) {
			unsigned char *b = st_digest_pool_buffer(s[i]);
			assert_non_null(b);
			memcpy(b, p, ST_DIGEST_POOL_BUF);
			st_digest_pool_submit(s[i], b, ST_DIGEST_POOL_BUF);
		}
	}
	st_digest_pool_free(pool);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(hashes_match_coreutils),
	        cmocka_unit_test(streaming_equals_one_shot),
	        cmocka_unit_test(final_reset_starts_over),
	        cmocka_unit_test(stream_matches_openssl),
	        cmocka_unit_test(mb_blocks_match_openssl),
	        cmocka_unit_test(pool_matches_openssl),
	        cmocka_unit_test(pool_waiting_producers_never_hang),
	        cmocka_unit_test(pool_lends_hashed_buffers_again),
	        cmocka_unit_test(pool_free_drops_open_streams),
	        cmocka_unit_test(parse_round_trips),
	        cmocka_unit_test(parse_rejects_bad_digests),
	};
	return cmocka_run_group_tests_name("digest", tests, NULL, NULL);
}
