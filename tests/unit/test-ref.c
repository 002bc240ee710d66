/* test-ref.c: reference parsing and normalisation; the cases are those of distribution/reference's
 * reference_test.go and normalize_test.go, with the results ParseNormalizedNamed gives. */
#include "unit.h"

#include "strata/ref.h"

#define FF64 "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
#define DBCC "dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c"
#define HEX64 "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a"

struct good_case {
	const char *input;
	const char *full;     /* st_ref_format(0) */
	const char *domain;   /* expected domain */
	const char *path;     /* expected path */
	const char *familiar; /* st_ref_familiar(0) */
};

static const struct good_case good[] = {
        {"busybox", "docker.io/library/busybox:latest", "docker.io", "library/busybox",
         "busybox:latest"},
        {"busybox:1.36", "docker.io/library/busybox:1.36", "docker.io", "library/busybox",
         "busybox:1.36"},
        {"localhost:5000/a/b:t", "localhost:5000/a/b:t", "localhost:5000", "a/b",
         "localhost:5000/a/b:t"},
        {"localhost/foo", "localhost/foo:latest", "localhost", "foo", "localhost/foo:latest"},
        {"test_com", "docker.io/library/test_com:latest", "docker.io", "library/test_com",
         "test_com:latest"},
        {"test.com:tag", "docker.io/library/test.com:tag", "docker.io", "library/test.com",
         "test.com:tag"},
        {"test.com:5000", "docker.io/library/test.com:5000", "docker.io", "library/test.com",
         "test.com:5000"},
        {"test.com/repo:tag", "test.com/repo:tag", "test.com", "repo", "test.com/repo:tag"},
        {"test:5000/repo", "test:5000/repo:latest", "test:5000", "repo", "test:5000/repo:latest"},
        {"test:5000/repo@sha256:" FF64, "test:5000/repo@sha256:" FF64, "test:5000", "repo",
         "test:5000/repo@sha256:" FF64},
        {"test:5000/repo:tag@sha256:" FF64, "test:5000/repo:tag@sha256:" FF64, "test:5000", "repo",
         "test:5000/repo:tag@sha256:" FF64},
        {"lowercase:Uppercase", "docker.io/library/lowercase:Uppercase", "docker.io",
         "library/lowercase", "lowercase:Uppercase"},
        {"sub-dom1.foo.com/bar/baz/quux:some-long-tag",
         "sub-dom1.foo.com/bar/baz/quux:some-long-tag", "sub-dom1.foo.com", "bar/baz/quux",
         "sub-dom1.foo.com/bar/baz/quux:some-long-tag"},
        {"b.gcr.io/test.example.com/my-app:test.example.com",
         "b.gcr.io/test.example.com/my-app:test.example.com", "b.gcr.io", "test.example.com/my-app",
         "b.gcr.io/test.example.com/my-app:test.example.com"},
        {"xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com",
         "myimage", "xn--n3h.com/myimage:xn--n3h.com"},
        {"foo_bar.com:8080", "docker.io/library/foo_bar.com:8080", "docker.io",
         "library/foo_bar.com", "foo_bar.com:8080"},
        {"foo/foo_bar.com:8080", "docker.io/foo/foo_bar.com:8080", "docker.io", "foo/foo_bar.com",
         "foo/foo_bar.com:8080"},
        {"192.168.1.1", "docker.io/library/192.168.1.1:latest", "docker.io", "library/192.168.1.1",
         "192.168.1.1:latest"},
        {"192.168.1.1:5000/repo:5050", "192.168.1.1:5000/repo:5050", "192.168.1.1:5000", "repo",
         "192.168.1.1:5000/repo:5050"},
        {"[2001:db8::1]/repo", "[2001:db8::1]/repo:latest", "[2001:db8::1]", "repo",
         "[2001:db8::1]/repo:latest"},
        {"[2001:db8:1:2:3:4:5:6]/repo:tag", "[2001:db8:1:2:3:4:5:6]/repo:tag",
         "[2001:db8:1:2:3:4:5:6]", "repo", "[2001:db8:1:2:3:4:5:6]/repo:tag"},
        {"[::1]:5000/repo", "[::1]:5000/repo:latest", "[::1]:5000", "repo",
         "[::1]:5000/repo:latest"},
        {"index.docker.io/fooo/bar", "docker.io/fooo/bar:latest", "docker.io", "fooo/bar",
         "fooo/bar:latest"},
        {"index.docker.io/debian", "docker.io/library/debian:latest", "docker.io", "library/debian",
         "debian:latest"},
        {"docker.io/foo", "docker.io/library/foo:latest", "docker.io", "library/foo", "foo:latest"},
        {"library/ubuntu", "docker.io/library/ubuntu:latest", "docker.io", "library/ubuntu",
         "ubuntu:latest"},
        {"docker.io/library/foo/bar", "docker.io/library/foo/bar:latest", "docker.io",
         "library/foo/bar", "library/foo/bar:latest"},
        {"other/library", "docker.io/other/library:latest", "docker.io", "other/library",
         "other/library:latest"},
        {"Foo/bar", "Foo/bar:latest", "Foo", "bar", "Foo/bar:latest"},
        {"DOCKER/docker", "DOCKER/docker:latest", "DOCKER", "docker", "DOCKER/docker:latest"},
        {"127.0.0.1:8000/private/moonbase", "127.0.0.1:8000/private/moonbase:latest",
         "127.0.0.1:8000", "private/moonbase", "127.0.0.1:8000/private/moonbase:latest"},
        {"ubuntu-12.04-base", "docker.io/library/ubuntu-12.04-base:latest", "docker.io",
         "library/ubuntu-12.04-base", "ubuntu-12.04-base:latest"},
        {"docker.io/" HEX64, "docker.io/library/" HEX64 ":latest", "docker.io", "library/" HEX64,
         HEX64 ":latest"},
        {"dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9",
         "docker.io/library/dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9:latest",
         "docker.io", "library/dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9",
         "dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9:latest"},
        {"redis@sha256:" DBCC, "docker.io/library/redis@sha256:" DBCC, "docker.io", "library/redis",
         "redis@sha256:" DBCC},
        {"busybox:latest@sha256:" DBCC, "docker.io/library/busybox:latest@sha256:" DBCC,
         "docker.io", "library/busybox", "busybox:latest@sha256:" DBCC},
        {"dmcgowan/myapp@sha256:" DBCC, "docker.io/dmcgowan/myapp@sha256:" DBCC, "docker.io",
         "dmcgowan/myapp", "dmcgowan/myapp@sha256:" DBCC},
        {"docker---rules/docker", "docker.io/docker---rules/docker:latest", "docker.io",
         "docker---rules/docker", "docker---rules/docker:latest"},
        {"dock__er/docker", "docker.io/dock__er/docker:latest", "docker.io", "dock__er/docker",
         "dock__er/docker:latest"},
        {"d/docker", "docker.io/d/docker:latest", "docker.io", "d/docker", "d/docker:latest"},
        {"thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
         "docker.io/library/"
         "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev:latest",
         "docker.io", "library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
         "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev:latest"},
        {"[fc00:1:2:3:4:5:6:7]:5000/library/debian",
         "[fc00:1:2:3:4:5:6:7]:5000/library/debian:latest", "[fc00:1:2:3:4:5:6:7]:5000",
         "library/debian", "[fc00:1:2:3:4:5:6:7]:5000/library/debian:latest"},
        /* Docker would show "a.b/c:latest", which parses as domain a.b: the domain stays */
        {"docker.io/a.b/c", "docker.io/a.b/c:latest", "docker.io", "a.b/c",
         "docker.io/a.b/c:latest"},
        {"index.docker.io/localhost/x", "docker.io/localhost/x:latest", "docker.io", "localhost/x",
         "docker.io/localhost/x:latest"},
        /* a 64-hex string is a tag here: ParseNormalizedNamed knows no bare digests */
        {"sha256:" DBCC, "docker.io/library/sha256:" DBCC, "docker.io", "library/sha256",
         "sha256:" DBCC},
};

static void good_references_normalise_as_docker(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct st_error err = ST_ERROR_INIT;
		struct st_ref r, again;
		cleanup_buf struct st_buf full = ST_BUF_INIT;
		cleanup_buf struct st_buf fam = ST_BUF_INIT;

		if (st_ref_parse(good[i].input, &r, &err) != 0)
			fail_msg("'%s': %s", good[i].input, err.msg);
		assert_string_equal(r.domain, good[i].domain);
		assert_string_equal(r.path, good[i].path);
		assert_int_equal(st_ref_format(&r, 0, &full, NULL), 0);
		assert_string_equal(full.data, good[i].full);
		assert_int_equal(st_ref_familiar(&r, 0, &fam, NULL), 0);
		assert_string_equal(fam.data, good[i].familiar);
		/* the full and the familiar forms parse back to the same reference */
		assert_int_equal(st_ref_parse(full.data, &again, NULL), 0);
		assert_true(st_ref_equal(&r, &again));
		st_ref_release(&again);
		assert_int_equal(st_ref_parse(fam.data, &again, NULL), 0);
		assert_true(st_ref_equal(&r, &again));
		st_ref_release(&again);
		st_ref_release(&r);
	}
}

struct bad_case {
	const char *input;
	int code;
	const char *msg; /* a substring of the message */
};

static const struct bad_case bad[] = {
        {"", ST_EINVALID, "at least one component"},
        {":justtag", ST_EINVALID, "at least one component"},
        {"@sha256:" FF64, ST_EINVALID, "at least one component"},
        {"repo@sha256:ffffffffffffffffffffffffffffffffff", ST_EINVALID, "digest"},
        {"validname@invaliddigest:" FF64, ST_EUNSUPPORTED, "digest"},
        {"Uppercase:tag", ST_EINVALID, "(library/Uppercase) must be lowercase"},
        {"UPPER/Case", ST_EINVALID, "repository name (Case) must be lowercase"},
        {"test:5000/Uppercase/lowercase:tag", ST_EINVALID, "must be lowercase"},
        {"docker/Docker", ST_EINVALID, "must be lowercase"},
        {"docker.io/docker/Docker", ST_EINVALID, "must be lowercase"},
        {"a//b", ST_EINVALID, "(a//b) has an empty path component"},
        {"docker///docker", ST_EINVALID, "empty path component"},
        {"docker.io/docker///docker", ST_EINVALID, "empty path component"},
        {"docker/", ST_EINVALID, "empty path component"},
        {"aa/asdf$$^/aa", ST_EINVALID, "component (asdf$$^) is invalid"},
        {"https://github.com/docker/docker", ST_EINVALID, "domain (https:) is not a valid"},
        {"-docker", ST_EINVALID, "component (-docker)"},
        {"-docker/docker", ST_EINVALID, "component (-docker)"},
        {"-docker.io/docker/docker", ST_EINVALID, "domain (-docker.io)"},
        {"docker-/docker", ST_EINVALID, "component (docker-)"},
        {"-docker-/docker", ST_EINVALID, "invalid"},
        {"____/____", ST_EINVALID, "component (____)"},
        {"_docker/_docker", ST_EINVALID, "invalid"},
        {"dock..er/docker", ST_EINVALID, "domain (dock..er)"},
        {"x/dock..er", ST_EINVALID, "component (dock..er)"},
        {"dock_.er/docker", ST_EINVALID, "invalid"},
        {"dock-.er/docker", ST_EINVALID, "invalid"},
        {"[fc00::1]", ST_EINVALID, "invalid"},
        {"[fc00::1]:5000", ST_EINVALID, "invalid"},
        {"[2001:db8::1]:tag", ST_EINVALID, "invalid"},
        {"fc00::1:5000/debian", ST_EINVALID, "domain (fc00::1:5000)"},
        {"[fe80::1%eth0]:5000/debian", ST_EINVALID, "domain"},
        {"[fe80::1%@invalidzone]:5000/repo", ST_EINVALID, "domain"},
        {"[2001:db8:3:4::192.0.2.33]:5000/debian", ST_EINVALID, "domain"},
        {"localhost:port/repo", ST_EINVALID, "domain (localhost:port)"},
        {"example.com:/repo", ST_EINVALID, "domain (example.com:)"},
        {HEX64, ST_EINVALID, "cannot specify 64-byte hexadecimal strings"},
        {"busybox:-tag", ST_EINVALID, "tag (-tag) is invalid"},
        {"busybox:.tag", ST_EINVALID, "tag (.tag) is invalid"},
        {"busybox:", ST_EINVALID, "tag () is invalid"},
        {"busybox:a:b", ST_EINVALID, "tag (a:b) is invalid"},
        {"busybox:t@sha256:XYZ", ST_EINVALID, "digest"},
        {"busybox@sha256:" FF64 "@x", ST_EINVALID, "digest"},
        {"busybox@sha256:" FF64 ":x", ST_EINVALID, "digest"},
        {"busy box", ST_EINVALID, "component (busy box)"},
        {"this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_"
         "namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_"
         "its_"
         "lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_"
         "than_"
         "255/docker",
         ST_EINVALID, "not be more than 255 characters"},
        /* Go's regexp would accept this one with an empty domain; we refuse it */
        {"a_b.com/foo", ST_EINVALID, "domain (a_b.com)"},
};

static void bad_references_name_the_offending_part(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct st_error err = ST_ERROR_INIT;
		struct st_ref r = {0};

		if (st_ref_parse(bad[i].input, &r, &err) != -bad[i].code)
			fail_msg("'%s': want code %d, got %d (%s)", bad[i].input, bad[i].code,
			         err.code, err.msg);
		assert_int_equal(err.code, bad[i].code);
		if (!strstr(err.msg, bad[i].msg))
			fail_msg("'%s': message '%s' lacks '%s'", bad[i].input, err.msg,
			         bad[i].msg);
		assert_null(r.domain); /* untouched on failure */
	}
}

static char *repeat(const char *s, int n, const char *tail)
{
	size_t len = strlen(s), tl = strlen(tail);
	char *out = malloc(len * (size_t)n + tl + 1);

	assert_non_null(out);
	for (int i = 0; i < n; i++)
		memcpy(out + len * (size_t)i, s, len);
	memcpy(out + len * (size_t)n, tail, tl + 1);
	return out;
}

static void path_length_limit_is_255(void **state)
{
	char *ok = repeat("a/", 127, "a:tag-puts-this-over-max");
	char *too_long = repeat("a/", 128, "a:tag");
	char *tag128 = repeat("t", 128, "");
	char *tag129 = repeat("t", 129, "");
	struct st_ref r;
	struct st_error err = ST_ERROR_INIT;

	(void)state;
	assert_int_equal(st_ref_parse(ok, &r, &err), 0);
	assert_int_equal(strlen(r.path), 255);
	assert_string_equal(r.tag, "tag-puts-this-over-max");
	st_ref_release(&r);
	assert_int_equal(st_ref_parse(too_long, &r, &err), -ST_EINVALID);
	assert_non_null(strstr(err.msg, "255"));
	assert_true(st_ref_valid_tag(tag128));
	assert_false(st_ref_valid_tag(tag129));
	free(ok);
	free(too_long);
	free(tag128);
	free(tag129);
}

static void tag_and_digest_are_both_kept(void **state)
{
	struct st_ref r;
	struct st_digest want;
	cleanup_buf struct st_buf b = ST_BUF_INIT;

	(void)state;
	assert_int_equal(st_ref_parse("busybox:1.36@sha256:" DBCC, &r, NULL), 0);
	assert_string_equal(r.tag, "1.36");
	assert_true(r.has_digest);
	assert_int_equal(st_digest_parse_str("sha256:" DBCC, &want, NULL), 0);
	assert_true(st_digest_equal(&r.digest, &want));
	assert_int_equal(st_ref_format(&r, ST_REF_FORMAT_NO_DIGEST, &b, NULL), 0);
	assert_string_equal(b.data, "docker.io/library/busybox:1.36");
	st_buf_reset(&b);
	assert_int_equal(st_ref_format(&r, ST_REF_FORMAT_NO_TAG, &b, NULL), 0);
	assert_string_equal(b.data, "docker.io/library/busybox@sha256:" DBCC);
	st_buf_reset(&b);
	assert_int_equal(st_ref_repo_name(&r, &b, NULL), 0);
	assert_string_equal(b.data, "docker.io/library/busybox");
	st_ref_release(&r);

	/* a digest alone gets no default tag */
	assert_int_equal(st_ref_parse("busybox@sha256:" DBCC, &r, NULL), 0);
	assert_null(r.tag);
	assert_true(r.has_digest);
	st_ref_release(&r);
}

static void set_tag_and_copy(void **state)
{
	struct st_ref r, c;
	struct st_error err = ST_ERROR_INIT;
	cleanup_buf struct st_buf b = ST_BUF_INIT;

	(void)state;
	assert_int_equal(st_ref_parse("example.com/x/y:1", &r, NULL), 0);
	assert_int_equal(st_ref_set_tag(&r, "-bad", &err), -ST_EINVALID);
	assert_string_equal(r.tag, "1");
	assert_int_equal(st_ref_set_tag(&r, "2.0", NULL), 0);
	assert_int_equal(st_ref_copy(&c, &r, NULL), 0);
	assert_true(st_ref_equal(&r, &c));
	assert_int_equal(st_ref_set_tag(&c, NULL, NULL), 0);
	assert_false(st_ref_equal(&r, &c));
	assert_int_equal(st_ref_format(&c, 0, &b, NULL), 0);
	assert_string_equal(b.data, "example.com/x/y");
	st_ref_release(&r);
	st_ref_release(&c);
	st_ref_release(NULL);
}

static void bare_repository_names(void **state)
{
	static const char *const valid[] = {
	        "library/busybox", "a", "a/b/c", "foo.bar/baz", "a__b", "a---b", "x-y.z_w/q1",
	};
	static const char *const invalid[] = {
	        "",     "/a",    "a/", "a//b", "A",   "library/Busybox",
	        "a..b", "a___b", "-a", "a-",   "a:b", "localhost:5000/a",
	        "a@b",
	};
	char *long_ok = repeat("a/", 127, "a");
	char *long_bad = repeat("a/", 128, "a");
	struct st_error err = ST_ERROR_INIT;

	(void)state;
	for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++)
		assert_int_equal(st_ref_valid_repository(valid[i], &err), 0);
	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		if (st_ref_valid_repository(invalid[i], &err) != -ST_EINVALID)
			fail_msg("'%s' was accepted", invalid[i]);
	}
	assert_int_equal(st_ref_valid_repository(long_ok, &err), 0);
	assert_int_equal(st_ref_valid_repository(long_bad, &err), -ST_EINVALID);
	free(long_ok);
	free(long_bad);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(good_references_normalise_as_docker),
	        cmocka_unit_test(bad_references_name_the_offending_part),
	        cmocka_unit_test(path_length_limit_is_255),
	        cmocka_unit_test(tag_and_digest_are_both_kept),
	        cmocka_unit_test(set_tag_and_copy),
	        cmocka_unit_test(bare_repository_names),
	};
	return cmocka_run_group_tests_name("ref", tests, NULL, NULL);
}
