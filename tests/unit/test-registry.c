/* test-registry.c: the registry client's pure parts: WWW-Authenticate parsing, scopes and URLs,
 * the retry policy, base64 (RFC 4648 vectors), config.json credentials and registries.conf. */
#include "unit.h"

#include "registry/registry-internal.h"
#include "strata/ref.h"

/* ---- WWW-Authenticate ---- */

struct auth_case {
	const char *header;
	size_t n;            /* challenges */
	const char *scheme;  /* of the first */
	const char *realm;   /* param of the first, or NULL */
	const char *service; /* param of the first, or NULL */
	const char *scope;   /* param of the first, or NULL */
	const char *token68; /* of the first, or NULL */
};

static const struct auth_case good_auth[] = {
        {"Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
         "scope=\"repository:library/busybox:pull\"",
         1, "bearer", "https://auth.docker.io/token", "registry.docker.io",
         "repository:library/busybox:pull", NULL},
        {"Basic realm=\"Registry Realm\"", 1, "basic", "Registry Realm", NULL, NULL, NULL},
        {"BEARER Realm=x, Service = \"s\"", 1, "bearer", "x", "s", NULL, NULL},
        {"Basic realm=\"a\", Bearer realm=\"b\",service=\"c\"", 2, "basic", "a", NULL, NULL, NULL},
        {"Bearer realm=\"a\\\"q\\\\b\"", 1, "bearer", "a\"q\\b", NULL, NULL, NULL},
        {"Negotiate abc123==", 1, "negotiate", NULL, NULL, NULL, "abc123=="},
        {"Basic", 1, "basic", NULL, NULL, NULL, NULL},
        {" , Bearer realm=\"r\",, scope=\"repository:a:pull,push\"", 1, "bearer", "r", NULL,
         "repository:a:pull,push", NULL},
        {"Bearer realm=\"r\",error=\"insufficient_scope\"", 1, "bearer", "r", NULL, NULL, NULL},
};

static const char *const bad_auth[] = {
        "",
        "   ",
        "Bearer realm=\"unterminated",
        "Bearer realm=\"a\",=b",
        "Bearer realm=\"a\" service=\"b\"",
        "=realm",
        "Bearer realm=\"a\x01\"",
        "B@d realm=x",
};

static void www_auth_parses_challenges(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(good_auth) / sizeof(good_auth[0]); i++) {
		const struct auth_case *tc = &good_auth[i];
		struct st_reg_challenge *c = NULL;
		struct st_error err = ST_ERROR_INIT;
		size_t n = 0;
		int rc = st_reg_www_auth_parse(tc->header, strlen(tc->header), &c, &n, &err);

		if (rc != 0)
			fail_msg("case %zu '%s': %s", i, tc->header, err.msg);
		assert_int_equal(n, tc->n);
		assert_string_equal(c[0].scheme, tc->scheme);
		if (tc->realm)
			assert_string_equal(st_reg_challenge_param(&c[0], "realm"), tc->realm);
		if (tc->service)
			assert_string_equal(st_reg_challenge_param(&c[0], "SERVICE"), tc->service);
		if (tc->scope)
			assert_string_equal(st_reg_challenge_param(&c[0], "scope"), tc->scope);
		if (tc->token68)
			assert_string_equal(c[0].token68, tc->token68);
		else
			assert_null(c[0].token68);
		st_reg_challenges_free(c, n);
	}
}

static void www_auth_rejects_malformed_headers(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_auth) / sizeof(bad_auth[0]); i++) {
		struct st_reg_challenge *c = NULL;
		struct st_error err = ST_ERROR_INIT;
		size_t n = 0;
		int rc = st_reg_www_auth_parse(bad_auth[i], strlen(bad_auth[i]), &c, &n, &err);

		if (rc != -ST_EINVALID)
			fail_msg("case %zu '%s' gave %d", i, bad_auth[i], rc);
		assert_non_null(strstr(err.msg, "WWW-Authenticate"));
	}
}

static void www_auth_second_challenge_is_bearer(void **state)
{
	const char *h = "Basic realm=\"a\", Bearer realm=\"b\",service=\"c\"";
	struct st_reg_challenge *c = NULL;
	struct st_buf out = ST_BUF_INIT;
	size_t n = 0;

	(void)state;
	assert_int_equal(st_reg_www_auth_parse(h, strlen(h), &c, &n, NULL), 0);
	assert_string_equal(c[1].scheme, "bearer");
	assert_string_equal(st_reg_challenge_param(&c[1], "realm"), "b");
	assert_string_equal(st_reg_challenge_param(&c[1], "service"), "c");
	assert_null(st_reg_challenge_param(&c[0], "service"));
	assert_int_equal(st_reg_www_auth_format(c, n, &out, NULL), 0);
	assert_string_equal(out.data, "basic realm=\"a\", bearer realm=\"b\",service=\"c\"");
	st_buf_release(&out);
	st_reg_challenges_free(c, n);
}

/* ---- scopes and URLs ---- */

static void token_url_encodes_service_and_scopes(void **state)
{
	const char *h = "Bearer realm=\"https://auth.example/token?x=1\",service=\"reg example\"";
	const char *scopes[] = {"repository:a/b:pull,push", "repository:c:pull"};
	struct st_reg_challenge *c = NULL;
	struct st_buf out = ST_BUF_INIT, sc = ST_BUF_INIT;
	size_t n = 0;

	(void)state;
	assert_int_equal(st_reg_www_auth_parse(h, strlen(h), &c, &n, NULL), 0);
	assert_int_equal(st_reg_token_url(c, scopes, 2, &out, NULL), 0);
	assert_string_equal(out.data, "https://auth.example/token?x=1&service=reg%20example"
	                              "&scope=repository%3Aa%2Fb%3Apull%2Cpush"
	                              "&scope=repository%3Ac%3Apull");
	assert_int_equal(st_reg_scope("library/busybox", "pull", &sc, NULL), 0);
	assert_string_equal(sc.data, "repository:library/busybox:pull");
	st_buf_release(&out);
	st_buf_release(&sc);
	st_reg_challenges_free(c, n);
}

static void token_url_refuses_a_missing_or_odd_realm(void **state)
{
	const char *h1 = "Bearer service=\"x\"", *h2 = "Bearer realm=\"file:///etc/passwd\"";
	struct st_reg_challenge *c = NULL;
	struct st_buf out = ST_BUF_INIT;
	size_t n = 0;

	(void)state;
	assert_int_equal(st_reg_www_auth_parse(h1, strlen(h1), &c, &n, NULL), 0);
	assert_int_equal(st_reg_token_url(c, NULL, 0, &out, NULL), -ST_EAUTH);
	st_reg_challenges_free(c, n);
	assert_int_equal(st_reg_www_auth_parse(h2, strlen(h2), &c, &n, NULL), 0);
	assert_int_equal(st_reg_token_url(c, NULL, 0, &out, NULL), -ST_EINVALID);
	st_reg_challenges_free(c, n);
	st_buf_release(&out);
}

static void urls_are_built_as_the_distribution_spec_says(void **state)
{
	struct st_buf u = ST_BUF_INIT;

	(void)state;
	assert_string_equal(st_reg_api_host("docker.io"), "registry-1.docker.io");
	assert_string_equal(st_reg_api_host("quay.io"), "quay.io");
	assert_string_equal(st_reg_auth_key("docker.io"), "https://index.docker.io/v1/");
	assert_int_equal(st_reg_url("https://h:5000", "a/b", "manifests", "v1", &u, NULL), 0);
	assert_string_equal(u.data, "https://h:5000/v2/a/b/manifests/v1");
	st_buf_reset(&u);
	assert_int_equal(st_reg_url("http://h", "a", "blobs/uploads/", NULL, &u, NULL), 0);
	assert_string_equal(u.data, "http://h/v2/a/blobs/uploads/");
	st_buf_reset(&u);
	assert_int_equal(st_reg_upload_url("http://h", "/v2/a/blobs/uploads/u1?_state=x",
	                                   "digest=sha256%3Aab", &u, NULL),
	                 0);
	assert_string_equal(u.data, "http://h/v2/a/blobs/uploads/u1?_state=x&digest=sha256%3Aab");
	st_buf_reset(&u);
	assert_int_equal(st_reg_upload_url("http://h", "https://s3/up", "digest=d", &u, NULL), 0);
	assert_string_equal(u.data, "https://s3/up?digest=d");
	st_buf_reset(&u);
	assert_int_equal(st_reg_upload_url("http://h", "up", NULL, &u, NULL), -ST_ENET);
	st_buf_release(&u);
}

/* ---- referrers tag schema ---- */

static void referrers_tag_is_alg_dash_encoded(void **state)
{
	static const char hex256[] =
	        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
	char s[ST_DIGEST_STR_MAX], tag[ST_DIGEST_STR_MAX], want[ST_DIGEST_STR_MAX];
	struct st_digest d;

	(void)state;
	/* the spec's examples: sha256 whole, sha512's encoded part cut to 64 characters */
	snprintf(s, sizeof(s), "sha256:%s", hex256);
	assert_int_equal(st_digest_parse_str(s, &d, NULL), 0);
	st_reg_referrers_tag(&d, tag);
	snprintf(want, sizeof(want), "sha256-%s", hex256);
	assert_string_equal(tag, want);
	snprintf(s, sizeof(s), "sha512:%s%s", hex256, hex256);
	assert_int_equal(st_digest_parse_str(s, &d, NULL), 0);
	st_reg_referrers_tag(&d, tag);
	snprintf(want, sizeof(want), "sha512-%s", hex256);
	assert_string_equal(tag, want);
	assert_true(st_ref_valid_tag(tag));
}

/* ---- retries ---- */

static void retry_policy_backs_off_and_honours_retry_after(void **state)
{
	struct st_reg_conf c;
	time_t now = 1700000000; /* Tue, 14 Nov 2023 22:13:20 GMT */

	(void)state;
	st_reg_conf_init(&c);
	c.retries = 3;
	c.backoff_ms = 100;
	c.max_backoff_ms = 250;
	assert_int_equal(st_reg_retry_delay(&c, 1, 0, NULL, now), 100);
	assert_int_equal(st_reg_retry_delay(&c, 2, 503, NULL, now), 200);
	assert_int_equal(st_reg_retry_delay(&c, 3, 502, NULL, now), 250); /* capped */
	assert_int_equal(st_reg_retry_delay(&c, 4, 502, NULL, now), -1);  /* used up */
	assert_int_equal(st_reg_retry_delay(&c, 1, 404, NULL, now), -1);
	assert_int_equal(st_reg_retry_delay(&c, 1, 401, NULL, now), -1);
	assert_int_equal(st_reg_retry_delay(&c, 1, 501, NULL, now), -1);
	assert_int_equal(st_reg_retry_delay(&c, 1, 408, NULL, now), 100);
	assert_int_equal(st_reg_retry_delay(&c, 1, 429, "3", now), 3000);
	assert_int_equal(st_reg_retry_delay(&c, 1, 429, "Tue, 14 Nov 2023 22:13:25 GMT", now),
	                 5000);
	assert_int_equal(st_reg_retry_delay(&c, 1, 429, "soon", now), 100);
	assert_int_equal(st_reg_retry_delay(&c, 1, 500, "7", now), 100); /* only 429/503 */
	assert_int_equal(st_reg_retry_delay(&c, 0, 500, NULL, now), -1);
	st_reg_conf_release(&c);
}

/* ---- base64 ---- */

static void base64_matches_rfc4648_vectors(void **state)
{
	static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	static const char *const enc[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
	                                  "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	static const char *const bad[] = {"Zg=", "Z===", "Zm9v!A==", "Zg==Zg==", "=Zg="};

	(void)state;
	for (size_t i = 0; i < 7; i++) {
		struct st_buf e = ST_BUF_INIT, d = ST_BUF_INIT;
		assert_int_equal(st_reg_base64_encode(plain[i], strlen(plain[i]), &e, NULL), 0);
		assert_string_equal(e.data, enc[i]);
		assert_int_equal(st_reg_base64_decode(enc[i], strlen(enc[i]), &d, NULL), 0);
		assert_string_equal(d.data, plain[i]);
		st_buf_release(&e);
		st_buf_release(&d);
	}
	for (size_t i = 0; i < 5; i++) {
		struct st_buf d = ST_BUF_INIT;
		assert_int_equal(st_reg_base64_decode(bad[i], strlen(bad[i]), &d, NULL),
		                 -ST_EINVALID);
		st_buf_release(&d);
	}
}

/* ---- config.json ---- */

static int creds(const char *json, const char *domain, struct st_reg_cred *c)
{
	struct st_error err = ST_ERROR_INIT;

	memset(c, 0, sizeof(*c));
	return st_reg_creds_parse(json, strlen(json), domain, c, &err);
}

static void config_json_auths_are_found_as_docker_finds_them(void **state)
{
	/* "YWxpY2U6czNjcjp0" is base64("alice:s3cr:t"): the password keeps its colon */
	const char *j = "{\"auths\":{\"https://index.docker.io/v1/\":{\"auth\":\"dTpw\"},"
	                "\"http://reg.example:5000/v2/\":{\"auth\":\"YWxpY2U6czNjcjp0\"},"
	                "\"other.example\":{\"username\":\"bob\",\"password\":\"pw\","
	                "\"identitytoken\":\"rt\"}}}";
	struct st_reg_cred c;

	(void)state;
	assert_int_equal(creds(j, "docker.io", &c), 0);
	assert_string_equal(c.username, "u");
	assert_string_equal(c.secret, "p");
	st_reg_cred_release(&c);
	assert_int_equal(creds(j, "reg.example:5000", &c), 0);
	assert_string_equal(c.username, "alice");
	assert_string_equal(c.secret, "s3cr:t");
	st_reg_cred_release(&c);
	assert_int_equal(creds(j, "other.example", &c), 0);
	assert_string_equal(c.username, "bob");
	assert_string_equal(c.identity_token, "rt");
	st_reg_cred_release(&c);
	assert_int_equal(creds(j, "reg.example", &c), -ST_ENOTFOUND);
	assert_int_equal(creds(j, "index.docker.io.evil", &c), -ST_ENOTFOUND);
}

static void config_json_helpers_win_over_auths(void **state)
{
	const char *j = "{\"auths\":{\"a.example\":{\"auth\":\"dTpw\"}},"
	                "\"credHelpers\":{\"a.example\":\"pass\"},\"credsStore\":\"desktop\"}";
	const char *bad = "{\"auths\":{\"a.example\":{\"auth\":\"not base64!\"}}}";
	struct st_reg_cred c;

	(void)state;
	assert_int_equal(creds(j, "a.example", &c), 0);
	assert_string_equal(c.helper, "pass");
	assert_null(c.username);
	st_reg_cred_release(&c);
	assert_int_equal(creds(j, "b.example", &c), 0);
	assert_string_equal(c.helper, "desktop");
	st_reg_cred_release(&c);
	assert_int_equal(creds(bad, "a.example", &c), -ST_EINVALID);
	assert_int_equal(creds("[1]", "a.example", &c), -ST_EINVALID);
	assert_int_equal(creds("{}", "a.example", &c), -ST_ENOTFOUND);
}

/* ---- registries.conf ---- */

static void registries_conf_parses_and_names_bad_lines(void **state)
{
	const char *text = "# comment\ninsecure reg.lan:5000 build.lan\nretries 2\n"
	                   "timeout 9 # trailing\nchunk-size 8M\nparallel 3\n";
	struct st_reg_conf c;
	struct st_error err = ST_ERROR_INIT;

	(void)state;
	st_reg_conf_init(&c);
	assert_int_equal(st_reg_conf_parse(&c, text, strlen(text), &err), 0);
	assert_int_equal(c.retries, 2);
	assert_int_equal(c.timeout_s, 9);
	assert_int_equal(c.parallel, 3);
	assert_true(c.chunk_size == 8u << 20);
	assert_true(st_reg_conf_insecure(&c, "reg.lan:5000"));
	assert_false(st_reg_conf_insecure(&c, "reg.lan:5001"));
	assert_true(st_reg_conf_insecure(&c, "build.lan:443"));
	assert_true(st_reg_conf_insecure(&c, "localhost:5000"));
	assert_true(st_reg_conf_insecure(&c, "127.0.0.1:80"));
	assert_true(st_reg_conf_insecure(&c, "[::1]:5000"));
	assert_false(st_reg_conf_insecure(&c, "localhost.evil.example"));
	assert_false(st_reg_conf_insecure(&c, "docker.io"));
	assert_int_equal(st_reg_conf_parse(&c, "retries 2\nbogus 1\n", 18, &err), -ST_EINVALID);
	assert_non_null(strstr(err.msg, "line 2"));
	assert_int_equal(st_reg_conf_parse(&c, "parallel 0", 10, &err), -ST_EINVALID);
	assert_int_equal(st_reg_conf_parse(&c, "chunk-size 1K", 13, &err), -ST_EINVALID);
	st_reg_conf_release(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(www_auth_parses_challenges),
	        cmocka_unit_test(www_auth_rejects_malformed_headers),
	        cmocka_unit_test(www_auth_second_challenge_is_bearer),
	        cmocka_unit_test(token_url_encodes_service_and_scopes),
	        cmocka_unit_test(token_url_refuses_a_missing_or_odd_realm),
	        cmocka_unit_test(urls_are_built_as_the_distribution_spec_says),
	        cmocka_unit_test(referrers_tag_is_alg_dash_encoded),
	        cmocka_unit_test(retry_policy_backs_off_and_honours_retry_after),
	        cmocka_unit_test(base64_matches_rfc4648_vectors),
	        cmocka_unit_test(config_json_auths_are_found_as_docker_finds_them),
	        cmocka_unit_test(config_json_helpers_win_over_auths),
	        cmocka_unit_test(registries_conf_parses_and_names_bad_lines),
	};
	return cmocka_run_group_tests_name("registry", tests, NULL, NULL);
}
