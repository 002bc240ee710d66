/* test-build-cache.c: the --cache-to / --cache-from specs (BuildKit's CSV form). The build
 * cache's export and import themselves run in tests/integration/55-build-cache-export.sh. */
#include "unit.h"

#include "strata/build.h"

struct spec_case {
	const char *spec;
	bool to;
	int rc;
	const char *dir, *tag, *msg; /* msg: a part of the error */
	enum st_build_cache_mode mode;
	bool ignore_error;
};

static const struct spec_case cases[] = {
        {"type=local,dest=/c", true, 0, "/c", "latest", NULL, ST_BUILD_CACHE_MIN, false},
        {"dest=/c,type=local,mode=max", true, 0, "/c", "latest", NULL, ST_BUILD_CACHE_MAX, false},
        {"type=local,dest=/c,mode=min,tag=v2,ignore-error=true", true, 0, "/c", "v2", NULL,
         ST_BUILD_CACHE_MIN, true},
        {"type=local,src=/c", false, 0, "/c", "latest", NULL, ST_BUILD_CACHE_MIN, false},
        {"type=local,src=/c,tag=main", false, 0, "/c", "main", NULL, ST_BUILD_CACHE_MIN, false},
        {"type=registry,ref=r/x:cache", true, -ST_EUNSUPPORTED, NULL, NULL, "only type=local",
         ST_BUILD_CACHE_MIN, false},
        {"type=gha", false, -ST_EUNSUPPORTED, NULL, NULL, "type=gha", ST_BUILD_CACHE_MIN, false},
        {"r/x:cache", false, -ST_EINVALID, NULL, NULL, "not KEY=VALUE", ST_BUILD_CACHE_MIN, false},
        {"type=local", true, -ST_EINVALID, NULL, NULL, "dest=DIR is missing", ST_BUILD_CACHE_MIN,
         false},
        {"type=local", false, -ST_EINVALID, NULL, NULL, "src=DIR is missing", ST_BUILD_CACHE_MIN,
         false},
        {"dest=/c", true, -ST_EINVALID, NULL, NULL, "type= is missing", ST_BUILD_CACHE_MIN, false},
        {"type=local,dest=", true, -ST_EINVALID, NULL, NULL, "dest= is empty", ST_BUILD_CACHE_MIN,
         false},
        {"type=local,src=/c", true, -ST_EINVALID, NULL, NULL, "unknown key \"src\" for --cache-to",
         ST_BUILD_CACHE_MIN, false},
        {"type=local,dest=/c", false, -ST_EINVALID, NULL, NULL, "\"dest\" for --cache-from",
         ST_BUILD_CACHE_MIN, false},
        {"type=local,src=/c,mode=max", false, -ST_EINVALID, NULL, NULL, "\"mode\"",
         ST_BUILD_CACHE_MIN, false},
        {"type=local,dest=/c,mode=all", true, -ST_EINVALID, NULL, NULL, "min or max",
         ST_BUILD_CACHE_MIN, false},
        {"type=local,dest=/c,tag=a:b", true, -ST_EINVALID, NULL, NULL, "not a valid tag",
         ST_BUILD_CACHE_MIN, false},
        {"type=local,dest=/c,ignore-error=1", true, -ST_EINVALID, NULL, NULL, "true or false",
         ST_BUILD_CACHE_MIN, false},
};

static void specs_parse_as_buildkit_writes_them(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct spec_case *c = &cases[i];
		struct st_build_cache_spec s = {0};
		struct st_error err = ST_ERROR_INIT;
		int rc = st_build_cache_spec_parse(c->spec, c->to, &s, &err);
		if (rc != c->rc)
			fail_msg("%s: rc %d, want %d (%s)", c->spec, rc, c->rc, err.msg);
		if (rc < 0) {
			if (!strstr(err.msg, c->msg))
				fail_msg("%s: error \"%s\" lacks \"%s\"", c->spec, err.msg, c->msg);
			assert_null(s.dir);
			continue;
		}
		assert_string_equal(s.dir, c->dir);
		assert_string_equal(s.tag, c->tag);
		assert_int_equal(s.mode, c->mode);
		assert_int_equal(s.ignore_error, c->ignore_error);
		st_build_cache_spec_release(&s);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(specs_parse_as_buildkit_writes_them),
	};
	return cmocka_run_group_tests_name("build-cache", tests, NULL, NULL);
}
