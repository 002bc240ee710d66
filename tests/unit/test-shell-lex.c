/* test-shell-lex.c: word expansion as BuildKit's shell lexer does it: every ${} modifier,
 * quotes and escapes (both escape characters), field splitting, the lexer's raw and skip modes,
 * error messages and the nesting limit. Expectations follow POSIX sh where BuildKit does. */
#include "unit.h"

#include "strata/dockerfile.h"

struct lex_case {
	const char *in;
	const char *want; /* NULL: must fail */
	const char *err;  /* substring of the error when want is NULL */
};

static const char *const env_pairs[][2] = {
        {"FILE", "archive.tar.gz"}, {"PATHV", "/usr/local/bin"}, {"EMPTY", ""}, {"SP", "a  b"},
        {"HOME", "/root"},
};

static struct st_df_env make_env(void)
{
	struct st_df_env env = ST_DF_ENV_INIT;

	for (size_t i = 0; i < sizeof(env_pairs) / sizeof(env_pairs[0]); i++)
		assert_int_equal(st_df_env_set(&env, env_pairs[i][0], env_pairs[i][1], NULL), 0);
	return env;
}

static const struct lex_case word_cases[] = {
        {"${FILE#*.}", "tar.gz", NULL},
        {"${FILE##*.}", "gz", NULL},
        {"${FILE%.*}", "archive.tar", NULL},
        {"${FILE%%.*}", "archive", NULL},
        {"${FILE/a/A}", "Archive.tar.gz", NULL},
        {"${FILE//a/A}", "Archive.tAr.gz", NULL},
        {"${PATHV//\\//:}", ":usr:local:bin", NULL},
        {"${FILE#arch}", "ive.tar.gz", NULL},
        {"${FILE%\\*}", "archive.tar.gz", NULL},
        {"${FILE/?r/X}", "Xchive.tar.gz", NULL},
        {"${UNSET:-d}|${EMPTY:-d}|${EMPTY-d}", "d|d|", NULL},
        {"${HOME:+x}|${EMPTY:+x}|${EMPTY+x}|${UNSET+x}", "x||x|", NULL},
        {"${HOME?}|${HOME:?}", "/root|/root", NULL},
        {"${UNSET?}", NULL, "UNSET: is not allowed to be unset"},
        {"${EMPTY:?}", NULL, "EMPTY: is not allowed to be empty"},
        {"${VERSION:?VERSION is required}", NULL,
         "failed to process \"${VERSION:?VERSION is required}\": VERSION: VERSION is required"},
        {"${FILE:#x}", NULL, "unsupported modifier (:#) in substitution"},
        {"${FILE", NULL, "unsupported modifier"},
        {"${FILE:-x", NULL, "syntax error: missing '}'"},
        {"${FILE/x", NULL, "syntax error: missing '/' in ${}"},
        {"${}", NULL, "syntax error: bad substitution"},
        {"'unterminated", NULL, "looking for matching single-quote"},
        {"\"unterminated", NULL, "looking for matching double-quote"},
        {"'$HOME'\"$HOME\"\\$HOME", "$HOME/root$HOME", NULL},
        {"\"a\\\"b\\c\"", "a\"b\\c", NULL},
        {"$SP", "a  b", NULL},
        {"${FILE%.t*}", "archive", NULL},
        {"${FILE%%a*}", "", NULL},
        {"$1$@x", "x", NULL},
        {"\xEF\xBB\xBFok", "ok", NULL},
        {"bad\xFFutf8", "bad\xEF\xBF\xBDutf8", NULL},
};

static void expands_every_modifier_and_quote(void **state)
{
	struct st_df_env env = make_env();
	struct st_shlex lx = {'\\', 0, st_df_env_lookup, &env};

	(void)state;
	for (size_t i = 0; i < sizeof(word_cases) / sizeof(word_cases[0]); i++) {
		struct st_error err = ST_ERROR_INIT;
		struct st_buf out = ST_BUF_INIT;
		int rc = st_shlex_word(&lx, word_cases[i].in, strlen(word_cases[i].in), &out, &err);
		if (word_cases[i].want && (rc != 0 || strcmp(out.data, word_cases[i].want) != 0))
			fail_msg("case %zu %s: rc %d got \"%s\" want \"%s\" (%s)", i,
			         word_cases[i].in, rc, out.data, word_cases[i].want, err.msg);
		if (!word_cases[i].want &&
		    (rc != -ST_EINVALID || !strstr(err.msg, word_cases[i].err)))
			fail_msg("case %zu %s: rc %d msg \"%s\" want \"%s\"", i, word_cases[i].in,
			         rc, err.msg, word_cases[i].err);
		st_buf_release(&out);
	}
	st_df_env_release(&env);
}

static void splits_fields_where_buildkit_splits(void **state)
{
	struct st_df_env env = make_env();
	struct st_shlex lx = {'\\', 0, st_df_env_lookup, &env};
	struct st_strv w = ST_STRV_INIT;
	const char *in = "x$SP \"$SP\" '' y\\ z ${UNSET:-p q}";

	(void)state;
	assert_int_equal(st_shlex_words(&lx, in, strlen(in), &w, NULL), 0);
	assert_int_equal(w.n, 6);
	assert_string_equal(w.v[0], "xa");
	assert_string_equal(w.v[1], "b");
	assert_string_equal(w.v[2], "a  b");
	assert_string_equal(w.v[3], "y z");
	assert_string_equal(w.v[4], "p");
	assert_string_equal(w.v[5], "q");
	st_strv_release(&w);
	st_df_env_release(&env);
}

static void honours_backtick_escape_and_raw_modes(void **state)
{
	struct st_df_env env = make_env();
	struct st_shlex lx = {'`', 0, st_df_env_lookup, &env};
	struct st_buf out = ST_BUF_INIT;

	(void)state;
	assert_int_equal(st_shlex_word(&lx, "c:\\dir`$HOME", 12, &out, NULL), 0);
	assert_string_equal(out.data, "c:\\dir$HOME");
	st_buf_reset(&out);
	lx = (struct st_shlex){'\\', ST_SHLEX_RAW_QUOTES | ST_SHLEX_RAW_ESCAPES, st_df_env_lookup,
	                       &env};
	assert_int_equal(st_shlex_word(&lx, "'a'\"b\"\\c", 9, &out, NULL), 0);
	assert_string_equal(out.data, "'a'\"b\"\\c");
	st_buf_reset(&out);
	lx = (struct st_shlex){'\\', ST_SHLEX_SKIP_UNSET, st_df_env_lookup, &env};
	assert_int_equal(st_shlex_word(&lx, "$NOPE ${NOPE} ${NOPE:-x} $HOME", 30, &out, NULL), 0);
	assert_string_equal(out.data, "$NOPE ${NOPE} ${NOPE:-x} /root");
	st_buf_reset(&out);
	lx = (struct st_shlex){'\\', ST_SHLEX_SKIP_QUOTES, st_df_env_lookup, &env};
	assert_int_equal(st_shlex_word(&lx, "'$HOME'", 7, &out, NULL), 0);
	assert_string_equal(out.data, "'/root'");
	st_buf_release(&out);
	st_df_env_release(&env);
}

static void limits_nesting_and_says_so(void **state)
{
	struct st_shlex lx = {'\\', 0, NULL, NULL};
	struct st_error err = ST_ERROR_INIT;
	struct st_buf in = ST_BUF_INIT, out = ST_BUF_INIT;

	(void)state;
	for (int i = 0; i < ST_SHLEX_MAX_DEPTH + 1; i++)
		assert_int_equal(st_buf_adds(&in, "${A:-", NULL), 0);
	for (int i = 0; i < ST_SHLEX_MAX_DEPTH + 1; i++)
		assert_int_equal(st_buf_addch(&in, '}', NULL), 0);
	assert_int_equal(st_shlex_word(&lx, in.data, in.len, &out, &err), -ST_ELIMIT);
	assert_non_null(strstr(err.msg, "nested deeper than 64 levels"));
	st_buf_release(&in);
	st_buf_release(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(expands_every_modifier_and_quote),
	        cmocka_unit_test(splits_fields_where_buildkit_splits),
	        cmocka_unit_test(honours_backtick_escape_and_raw_modes),
	        cmocka_unit_test(limits_nesting_and_says_so),
	};
	return cmocka_run_group_tests_name("shell-lex", tests, NULL, NULL);
}
