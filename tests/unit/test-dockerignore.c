/* test-dockerignore.c: .dockerignore parsing and matching with Docker's semantics (Go
 * filepath.Match plus "**", "!" exceptions, last match wins, parents match children), the
 * walker's pruning, and <Dockerfile>.dockerignore taking precedence. */
#include "unit.h"

#include <sys/stat.h>

#include "strata/dockerfile.h"

struct match_case {
	const char *patterns;
	const char *path;
	bool excluded;
};

static const struct match_case match_cases[] = {
        {"*.md", "README.md", true},
        {"*.md", "docs/README.md", false},
        {"**/*.md", "docs/a/README.md", true},
        {"**/*.md", "README.md", true},
        {"docs", "docs/a/b.txt", true},
        {"/docs/", "docs", true},
        {"./build", "build/x.o", true},
        {"a/*/c", "a/b/c", true},
        {"a/*/c", "a/b/x/c", false},
        {"a/**/c", "a/b/x/c", true},
        {"a/**", "a/b", true},
        {"a?c", "abc", true},
        {"a?c", "a/c", false},
        {"[a-c]x", "bx", true},
        {"[^a-c]x", "dx", true},
        {"[^a-c]x", "ax", false},
        {"\\*x", "*x", true},
        {"\\*x", "ax", false},
        {"*\n!keep.md", "keep.md", false},
        {"*\n!keep.md", "other.md", true},
        {"*.md\n!keep.md\nkeep.md", "keep.md", true},
        {"# comment\n\n  spaced.txt  ", "spaced.txt", true},
        {"#x", "#x", false},
        {"logs/**\n!logs/keep/**", "logs/keep/a", false},
        {"foo**", "foobar/x", true},
        {"**/node_modules", "a/b/node_modules/x", true},
        {"*", ".", false},
        {"a/../b", "b", true},
};

static struct st_dockerignore *parse_ok(const char *s)
{
	struct st_error err = ST_ERROR_INIT;
	struct st_dockerignore *di = NULL;

	if (st_dockerignore_parse(s, strlen(s), ".dockerignore", &di, &err) != 0)
		fail_msg("parse \"%s\": %s", s, err.msg);
	return di;
}

static void matches_with_docker_semantics(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
		struct st_dockerignore *di = parse_ok(match_cases[i].patterns);
		if (st_dockerignore_match(di, match_cases[i].path) != match_cases[i].excluded)
			fail_msg("case %zu: \"%s\" against \"%s\" should be %s", i,
			         match_cases[i].path, match_cases[i].patterns,
			         match_cases[i].excluded ? "excluded" : "kept");
		st_dockerignore_free(di);
	}
}

static void rejects_bad_patterns_naming_the_line(void **state)
{
	static const char *const bad[][2] = {
	        {"ok\n[abc\n", ".dockerignore:2: syntax error in pattern"},
	        {"!\n", ".dockerignore:1: illegal exclusion pattern: \"!\""},
	        {"a\\", "syntax error in pattern"},
	        {"[]a]", "syntax error in pattern"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct st_error err = ST_ERROR_INIT;
		struct st_dockerignore *di = NULL;
		assert_int_equal(st_dockerignore_parse(bad[i][0], strlen(bad[i][0]),
		                                       ".dockerignore", &di, &err),
		                 -ST_EINVALID);
		if (!strstr(err.msg, bad[i][1]))
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err.msg, bad[i][1]);
	}
}

static void knows_when_an_exception_may_reinclude(void **state)
{
	struct st_dockerignore *di = parse_ok("vendor\nbuild\n!build/keep/*.txt\n!*/docs");

	(void)state;
	assert_false(st_dockerignore_may_include_below(di, "vendor/lib"));
	assert_true(st_dockerignore_may_include_below(di, "build"));
	assert_true(st_dockerignore_may_include_below(di, "build/keep"));
	assert_false(st_dockerignore_may_include_below(di, "build/other"));
	assert_true(st_dockerignore_may_include_below(di, "vendor"));
	st_dockerignore_free(di);
}

struct seen {
	char list[2048];
};

static int record(void *ctx, const char *rel, bool is_dir, struct st_error *err)
{
	struct seen *s = ctx;
	size_t n = strlen(s->list);

	(void)err;
	(void)snprintf(s->list + n, sizeof(s->list) - n, "%s%s ", rel, is_dir ? "/" : "");
	return 0;
}

static void walker_prunes_and_reincludes(void **state)
{
	char *dir = unit_mkdtemp(), p[512];
	static const char *const files[] = {"a.txt",        "skip/x",        "skip/y/z",  "keep/1",
	                                    "logs/old.log", "logs/keep.log", "Dockerfile"};
	static const char *const dirs[] = {"skip", "skip/y", "keep", "logs"};
	struct st_dockerignore *di = parse_ok("skip\nlogs\n!logs/keep.log\nDockerfile");
	struct seen s = {{0}};
	struct st_error err = ST_ERROR_INIT;

	(void)state;
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		(void)snprintf(p, sizeof(p), "%s/%s", dir, dirs[i]);
		assert_int_equal(mkdir(p, 0755), 0);
	}
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		(void)snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
		unit_write_file(p, "x", 1);
	}
	assert_int_equal(st_dockerignore_walk(di, dir, record, &s, &err), 0);
	assert_string_equal(s.list, "a.txt keep/ keep/1 logs/ logs/keep.log ");
	st_dockerignore_free(di);
	unit_rmtree(dir);
	free(dir);
}

static void dockerfile_specific_ignore_file_wins(void **state)
{
	char *dir = unit_mkdtemp(), p[512], df[512];
	struct st_error err = ST_ERROR_INIT;
	char *found = NULL;

	(void)state;
	(void)snprintf(df, sizeof(df), "%s/build.Dockerfile", dir);
	assert_int_equal(st_dockerignore_locate(dir, df, &found, &err), 0);
	assert_null(found);
	(void)snprintf(p, sizeof(p), "%s/.dockerignore", dir);
	unit_write_file(p, "x", 1);
	assert_int_equal(st_dockerignore_locate(dir, df, &found, &err), 0);
	assert_string_equal(found, p);
	free(found);
	(void)snprintf(p, sizeof(p), "%s/build.Dockerfile.dockerignore", dir);
	unit_write_file(p, "y", 1);
	assert_int_equal(st_dockerignore_locate(dir, df, &found, &err), 0);
	assert_string_equal(found, p);
	free(found);
	unit_rmtree(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(matches_with_docker_semantics),
	        cmocka_unit_test(rejects_bad_patterns_naming_the_line),
	        cmocka_unit_test(knows_when_an_exception_may_reinclude),
	        cmocka_unit_test(walker_prunes_and_reincludes),
	        cmocka_unit_test(dockerfile_specific_ignore_file_wins),
	};
	return cmocka_run_group_tests_name("dockerignore", tests, NULL, NULL);
}
