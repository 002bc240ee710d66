/* test-digest.c: digest parsing per the image spec and hashing; expected values come from
 * sha256sum/sha512sum. */
#include "unit.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(hashes_match_coreutils),
	        cmocka_unit_test(streaming_equals_one_shot),
	        cmocka_unit_test(final_reset_starts_over),
	        cmocka_unit_test(parse_round_trips),
	        cmocka_unit_test(parse_rejects_bad_digests),
	};
	return cmocka_run_group_tests_name("digest", tests, NULL, NULL);
}
