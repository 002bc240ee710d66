/* test-dockerfile.c: the Dockerfile parser (every instruction and flag, directives, comments,
 * continuation, heredocs, line ranges), its error messages, the instruction checks, and ARG/ENV
 * scoping across stages. Expected dumps are written by hand in BuildKit's format. */
#include "unit.h"

#include "strata/dockerfile.h"

struct dump_case {
	const char *in;
	const char *dump;
};

static const struct dump_case dump_cases[] = {
        {"FROM alpine:3.19 AS build\n", "(from \"alpine:3.19\" \"AS\" \"build\")\n"},
        {"FROM --platform=$BUILDPLATFORM golang AS b\n",
         "(from [\"--platform=$BUILDPLATFORM\"] \"golang\" \"AS\" \"b\")\n"},
        {"from x\nrUn echo hi\n", "(from \"x\")\n(run \"echo hi\")\n"},
        {"RUN [\"sh\", \"-c\", \"echo\"]\n", "(run \"sh\" \"-c\" \"echo\")\n"},
        {"RUN --mount=type=cache,target=/root/.cache --network=none --security=insecure make\n",
         "(run [\"--mount=type=cache,target=/root/.cache\" \"--network=none\" "
         "\"--security=insecure\"] \"make\")\n"},
        {"CMD [\"a\", 1\n", "(cmd \"[\\\"a\\\", 1\")\n"},
        {"LABEL a=b \"c d\"=\"e f\"\n",
         "(label \"a\" \"b\" \"=\" \"\\\"c d\\\"\" \"\\\"e f\\\"\" \"=\")\n"},
        {"MAINTAINER Jo <jo@x>\n", "(maintainer \"Jo <jo@x>\")\n"},
        {"EXPOSE 80/tcp 443\n", "(expose \"80/tcp\" \"443\")\n"},
        {"ENV A=1 B=\"2 3\"\nENV C 4 5\n",
         "(env \"A\" \"1\" \"=\" \"B\" \"\\\"2 3\\\"\" \"=\")\n(env \"C\" \"4 5\" \"\")\n"},
        {"ADD --chown=1:1 --chmod=755 --link --keep-git-dir=true --checksum=sha256:ab "
         "--exclude=*.md a /b\n",
         "(add [\"--chown=1:1\" \"--chmod=755\" \"--link\" \"--keep-git-dir=true\" "
         "\"--checksum=sha256:ab\" \"--exclude=*.md\"] \"a\" \"/b\")\n"},
        {"COPY --from=build --parents --exclude=x --link=false [\"a b\", \"/c\"]\n",
         "(copy [\"--from=build\" \"--parents\" \"--exclude=x\" \"--link=false\"] \"a b\" "
         "\"/c\")\n"},
        {"ENTRYPOINT [\"/bin/app\"]\n", "(entrypoint \"/bin/app\")\n"},
        {"VOLUME [\"/a\", \"/b\"]\nVOLUME /c /d\n",
         "(volume \"/a\" \"/b\")\n(volume \"/c\" \"/d\")\n"},
        {"USER app:app\nWORKDIR /src\n", "(user \"app:app\")\n(workdir \"/src\")\n"},
        {"ARG V=1 W\n", "(arg \"V=1\" \"W\")\n"},
        {"ONBUILD RUN make\n", "(onbuild (run \"make\"))\n"},
        {"STOPSIGNAL SIGTERM\n", "(stopsignal \"SIGTERM\")\n"},
        {"HEALTHCHECK --interval=30s --timeout=3s --start-period=5s --start-interval=1s "
         "--retries=3 CMD curl -f http://x/\n",
         "(healthcheck [\"--interval=30s\" \"--timeout=3s\" \"--start-period=5s\" "
         "\"--start-interval=1s\" \"--retries=3\"] \"CMD\" \"curl -f http://x/\")\n"},
        {"HEALTHCHECK NONE\n", "(healthcheck \"NONE\")\n"},
        {"SHELL [\"/bin/bash\", \"-c\"]\n", "(shell \"/bin/bash\" \"-c\")\n"},
        {"\xEF\xBB\xBF"
         "FROM a\r\nRUN b \\\r\n  c\r\n",
         "(from \"a\")\n(run \"b   c\")\n"},
        {"# escape=`\nFROM a\nRUN dir c:\\ `\n  x\n", "(from \"a\")\n(run \"dir c:\\\\   x\")\n"},
        {"FROM a\nRUN x \\\n# comment\n\n  y\n", "(from \"a\")\n(run \"x   y\")\n"},
        {"FROM a\nRUN x \\", "(from \"a\")\n(run \"x\")\n"},
        {"FROM a\nRUN <<EOF\necho hi\nEOF\n", "(from \"a\")\n(run \"<<EOF\")\n"},
        {"CMD [\"\\u00e9\", \"\\ud83d\\ude00\", \"\\ud800\"]\n",
         "(cmd \"é\" \"😀\" \"\xEF\xBF\xBD\")\n"},
        {"RUN a\x01\x7f\n", "(run \"a\\x01\\x7f\")\n"},
};

static void dumps_every_instruction_and_flag_as_buildkit(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(dump_cases) / sizeof(dump_cases[0]); i++) {
		struct st_error err = ST_ERROR_INIT;
		struct st_dockerfile *df = NULL;
		struct st_buf out = ST_BUF_INIT;
		int rc = st_dockerfile_parse(dump_cases[i].in, strlen(dump_cases[i].in),
		                             "Dockerfile", 0, &df, &err);
		if (rc != 0)
			fail_msg("case %zu: %s", i, err.msg);
		assert_int_equal(st_dockerfile_dump(df, &out, &err), 0);
		if (strcmp(out.data, dump_cases[i].dump) != 0)
			fail_msg("case %zu:\n got: %s want: %s", i, out.data, dump_cases[i].dump);
		st_buf_release(&out);
		st_dockerfile_free(df);
	}
}

struct err_case {
	const char *in;
	int code;
	const char *msg;
};

static const struct err_case err_cases[] = {
        {"FROM a\n\n\n\n\n\nCOPPY . /\n", ST_EINVALID,
         "Dockerfile:7: unknown instruction \"COPPY\" (did you mean COPY?)"},
        {"FROM a\nFOOBARBAZ x\n", ST_EINVALID, "Dockerfile:2: unknown instruction \"FOOBARBAZ\""},
        {"FROM a\n\nRUN <<EOF\necho\n", ST_EINVALID,
         "Dockerfile:3: unterminated heredoc <<EOF started here"},
        {"CMD [\"a\", [\"b\"]]\n", ST_EINVALID,
         "Dockerfile:1: when using JSON array syntax, arrays must be comprised of strings only"},
        {"FROM a\nENV PATH\n", ST_EINVALID, "Dockerfile:2: ENV must have two arguments"},
        {"FROM a\nENV a=1 b\n", ST_EINVALID,
         "Dockerfile:2: Syntax error - can't find = in \"b\". Must be of the form: name=value"},
        {"# escape=\\\n# escape=`\nFROM a\n", ST_EINVALID,
         "Dockerfile:2: only one escape parser directive can be used"},
        {"# escape=x\nFROM a\n", ST_EINVALID,
         "Dockerfile:1: invalid escape token 'x' does not match ` or \\"},
        {"", ST_EINVALID, "Dockerfile: file with no instructions"},
        {"# just a comment\n\n", ST_EINVALID, "file with no instructions"},
        {"ONBUILD ONBUILD ONBUILD ONBUILD ONBUILD ONBUILD ONBUILD ONBUILD ONBUILD RUN x\n",
         ST_ELIMIT, "ONBUILD nested deeper than 8 levels"},
        {"FROM a\nRUN a\0b\n", ST_EINVALID, "Dockerfile:2: NUL byte"},
};

static void reports_errors_with_file_line_and_quoted_text(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++) {
		struct st_error err = ST_ERROR_INIT;
		struct st_dockerfile *df = NULL;
		size_t len = strlen(err_cases[i].in);
		int rc;
		if (strstr(err_cases[i].msg, "NUL"))
			len = 13;
		rc = st_dockerfile_parse(err_cases[i].in, len, "Dockerfile", 0, &df, &err);
		if (rc != -err_cases[i].code || !strstr(err.msg, err_cases[i].msg))
			fail_msg("case %zu: rc %d, msg \"%s\", want \"%s\"", i, rc, err.msg,
			         err_cases[i].msg);
		assert_null(df);
	}
}

static void caps_physical_line_length_and_says_so(void **state)
{
	size_t n = ST_DF_MAX_LINE + 10;
	char *big = malloc(n + 8);
	struct st_error err = ST_ERROR_INIT;
	struct st_dockerfile *df = NULL;

	(void)state;
	memcpy(big, "RUN ", 4);
	memset(big + 4, 'x', n - 4);
	assert_int_equal(st_dockerfile_parse(big, n, "Dockerfile", 0, &df, &err), -ST_ELIMIT);
	assert_non_null(strstr(err.msg, "Dockerfile:1: line longer than 65535 bytes"));
	free(big);
}

static struct st_dockerfile *parse_ok(const char *in)
{
	struct st_error err = ST_ERROR_INIT;
	struct st_dockerfile *df = NULL;

	if (st_dockerfile_parse(in, strlen(in), "Dockerfile", 0, &df, &err) != 0)
		fail_msg("parse: %s", err.msg);
	return df;
}

static void keeps_heredoc_bodies_lines_and_quoting(void **state)
{
	struct st_dockerfile *df = parse_ok("FROM a\n"
	                                    "RUN <<EOF cat <<-'END' > f\n"
	                                    "echo $HOME\n"
	                                    "EOF\n"
	                                    "\tliteral $X\n"
	                                    "\tEND\n"
	                                    "COPY 3<<\"EOT\" /dst\n"
	                                    "x\n"
	                                    "EOT\n");
	const struct st_df_instr *run, *copy;

	(void)state;
	assert_int_equal(df->n_instrs, 3);
	run = &df->instrs[1];
	assert_int_equal(run->start_line, 2);
	assert_int_equal(run->end_line, 6);
	assert_int_equal(run->n_heredocs, 2);
	assert_string_equal(run->heredocs[0].name, "EOF");
	assert_string_equal(run->heredocs[0].content, "echo $HOME\n");
	assert_true(run->heredocs[0].expand);
	assert_false(run->heredocs[0].chomp);
	assert_string_equal(run->heredocs[1].name, "END");
	assert_string_equal(run->heredocs[1].content, "\tliteral $X\n");
	assert_false(run->heredocs[1].expand);
	assert_true(run->heredocs[1].chomp);
	copy = &df->instrs[2];
	assert_int_equal(copy->n_heredocs, 1);
	assert_int_equal(copy->heredocs[0].fd, 3);
	assert_false(copy->heredocs[0].expand);
	assert_int_equal(copy->start_line, 7);
	assert_int_equal(copy->end_line, 9);
	st_dockerfile_free(df);
}

static void json_form_has_no_heredocs_and_comments_attach(void **state)
{
	struct st_dockerfile *df = parse_ok("# syntax=docker/dockerfile:1\n"
	                                    "# check=skip=all\n"
	                                    "# the base\n"
	                                    "# image\n"
	                                    "FROM a\n"
	                                    "RUN [\"cat\", \"<<EOF\"]\n");
	struct st_buf js = ST_BUF_INIT;

	(void)state;
	assert_int_equal(df->n_directives, 2);
	assert_string_equal(df->directives[0].name, "syntax");
	assert_string_equal(df->directives[0].value, "docker/dockerfile:1");
	assert_string_equal(df->directives[1].value, "skip=all");
	assert_int_equal(df->instrs[0].n_comments, 2);
	assert_string_equal(df->instrs[0].comments[0], "the base");
	assert_true(df->instrs[1].json);
	assert_int_equal(df->instrs[1].n_heredocs, 0);
	assert_int_equal(st_dockerfile_to_json(df, &js, NULL), 0);
	assert_non_null(strstr(js.data, "\"start_line\":5"));
	assert_non_null(strstr(js.data, "\"comments\":[\"the base\",\"image\"]"));
	assert_non_null(strstr(js.data, "\"name\":\"syntax\""));
	st_buf_release(&js);
	st_dockerfile_free(df);
}

static void warns_about_empty_continuation_lines(void **state)
{
	struct st_dockerfile *df = parse_ok("FROM a\nRUN x \\\n\n y\n");

	(void)state;
	assert_int_equal(df->n_warnings, 1);
	assert_non_null(strstr(df->warnings[0].msg, "Empty continuation line"));
	assert_int_equal(df->instrs[1].end_line, 4);
	st_dockerfile_free(df);
}

static void unknown_instructions_kept_on_request(void **state)
{
	struct st_error err = ST_ERROR_INIT;
	struct st_dockerfile *df = NULL;
	struct st_buf out = ST_BUF_INIT;

	(void)state;
	assert_int_equal(st_dockerfile_parse("FROM a\nFOO bar\n", 15, "D",
	                                     ST_DF_PARSE_ALLOW_UNKNOWN, &df, &err),
	                 0);
	assert_int_equal(st_dockerfile_dump(df, &out, &err), 0);
	assert_string_equal(out.data, "(from \"a\")\n(foo \"\")\n");
	assert_int_equal(st_dockerfile_validate(df, &err), -ST_EINVALID);
	assert_non_null(strstr(err.msg, "D:2: unknown instruction \"FOO\""));
	st_buf_release(&out);
	st_dockerfile_free(df);
}

static const struct err_case check_cases[] = {
        {"FROM a\nCOPY --frmo=b x y\n", ST_EINVALID,
         "Dockerfile:2: unknown flag: --frmo for COPY (did you mean --from?)"},
        {"FROM a\nRUN --chown=1 x\n", ST_EINVALID, "unknown flag: --chown for RUN"},
        {"FROM a\nCOPY --from=a --from=b x y\n", ST_EINVALID, "duplicate flag specified: --from"},
        {"FROM a\nCOPY --link=maybe x y\n", ST_EINVALID, "expecting boolean value for flag link"},
        {"FROM a\nHEALTHCHECK --interval=5 CMD x\n", ST_EINVALID, "invalid duration \"5\""},
        {"FROM a\nHEALTHCHECK --timeout=1us CMD x\n", ST_EINVALID, "cannot be less than 1ms"},
        {"FROM a\nHEALTHCHECK --retries=-1 CMD x\n", ST_EINVALID, "--retries cannot be negative"},
        {"FROM a\nHEALTHCHECK PING x\n", ST_EINVALID, "unknown type \"PING\" in HEALTHCHECK"},
        {"FROM a\nHEALTHCHECK CMD\n", ST_EINVALID, "missing command after HEALTHCHECK CMD"},
        {"FROM a\nHEALTHCHECK NONE x\n", ST_EINVALID, "HEALTHCHECK NONE takes no arguments"},
        {"FROM a b\n", ST_EINVALID, "FROM requires either one or three arguments"},
        {"FROM a TO b\n", ST_EINVALID, "expected \"AS\""},
        {"FROM a AS 1x\n", ST_EINVALID, "invalid name for build stage: \"1x\""},
        {"FROM a AS x\nFROM b AS X\n", ST_EINVALID, "Dockerfile:2: duplicate stage name"},
        {"FROM a\nSHELL sh -c\n", ST_EINVALID, "SHELL requires the arguments to be in JSON form"},
        {"FROM a\nONBUILD ONBUILD RUN x\n", ST_EINVALID, "Chaining ONBUILD"},
        {"FROM a\nONBUILD FROM b\n", ST_EINVALID, "FROM isn't allowed as an ONBUILD trigger"},
        {"RUN x\nFROM a\n", ST_EINVALID, "Dockerfile:1: no build stage in current context"},
        {"FROM a\nCOPY x\n", ST_EINVALID, "COPY requires at least two arguments"},
        {"FROM a\nWORKDIR\n", ST_EINVALID, "WORKDIR requires exactly one argument"},
        {"FROM a\nEXPOSE\n", ST_EINVALID, "EXPOSE requires at least one argument"},
        {"FROM a\nENV =x\n", ST_EINVALID, "ENV names can not be blank"},
        {"FROM a\nVOLUME [\"\"]\n", ST_EINVALID, "VOLUME specified can not be an empty string"},
};

static void validate_applies_buildkit_instruction_checks(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(check_cases) / sizeof(check_cases[0]); i++) {
		struct st_error err = ST_ERROR_INIT;
		struct st_dockerfile *df = parse_ok(check_cases[i].in);
		int rc = st_dockerfile_validate(df, &err);
		if (rc != -check_cases[i].code || !strstr(err.msg, check_cases[i].msg))
			fail_msg("case %zu: rc %d, msg \"%s\", want \"%s\"", i, rc, err.msg,
			         check_cases[i].msg);
		st_dockerfile_free(df);
	}
	{
		struct st_error err = ST_ERROR_INIT;
		struct st_dockerfile *df = parse_ok(
		        "ARG V=1\nFROM a:$V AS base\nCOPY --from=base --chown=1 --link a b\n"
		        "HEALTHCHECK --interval=1m30s --retries=0 CMD [\"x\"]\nONBUILD RUN y\n");
		assert_int_equal(st_dockerfile_validate(df, &err), 0);
		st_dockerfile_free(df);
	}
}

static const char scoping_df[] = "ARG VERSION=1.0\n"
                                 "ARG REG=docker.io\n"
                                 "FROM $REG/alpine:$VERSION AS base\n"
                                 "RUN echo $VERSION\n"
                                 "ENV HOME=/root NAME=base\n"
                                 "ARG NAME=arg\n"
                                 "LABEL v=$VERSION n=$NAME\n"
                                 "ARG VERSION\n"
                                 "ARG TARGETARCH\n"
                                 "WORKDIR /src/$VERSION/$TARGETARCH\n"
                                 "FROM base AS second\n"
                                 "ARG EXTRA=x\n"
                                 "USER $NAME:$EXTRA\n"
                                 "FROM scratch\n"
                                 "COPY --from=base --chown=$NAME a$HOME b\n";

static void scopes_arg_and_env_across_stages(void **state)
{
	struct st_dockerfile *df = parse_ok(scoping_df);
	struct st_df_env ba = ST_DF_ENV_INIT;
	struct st_df_eval_opts opts = {&ba, "linux/arm64/v8", "linux/amd64"};
	struct st_error err = ST_ERROR_INIT;
	struct st_df_eval *ev = NULL;

	(void)state;
	assert_int_equal(st_df_env_set(&ba, "VERSION", "2.0", &err), 0);
	assert_int_equal(st_df_env_set(&ba, "HTTP_PROXY", "http://p:3128", &err), 0);
	assert_int_equal(st_df_eval_run(df, &opts, &ev, &err), 0);
	assert_int_equal(ev->n_stages, 3);
	/* global ARG with a --build-arg override, used in FROM */
	assert_string_equal(ev->stages[0].base, "docker.io/alpine:2.0");
	assert_string_equal(ev->stages[0].name, "base");
	/* RUN is not expanded by the front end */
	assert_string_equal(ev->instrs[3].args.v[0], "echo $VERSION");
	/* the global ARG is not visible before it is re-declared; ENV wins over ARG */
	assert_string_equal(ev->instrs[6].args.v[1], "");
	assert_string_equal(ev->instrs[6].args.v[3], "base");
	/* re-declared global ARG takes the overridden value; TARGETARCH is predefined */
	assert_string_equal(ev->instrs[9].args.v[0], "/src/2.0/arm64");
	/* ENV is inherited by a stage built FROM base, ARGs are not */
	assert_int_equal(ev->stages[1].base_stage, 0);
	assert_string_equal(ev->instrs[12].args.v[0], "base:x");
	assert_null(st_df_env_get(&ev->stages[1].args, "VERSION", 7));
	/* a stage from scratch has neither */
	assert_int_equal(ev->stages[2].base_stage, -1);
	assert_string_equal(ev->instrs[14].args.v[0], "a");
	assert_string_equal(ev->instrs[14].flags.v[1], "--chown=");
	/* proxy ARGs reach RUN without a declaration */
	assert_string_equal(st_df_env_get(&ev->stages[0].run_env, "HTTP_PROXY", 10),
	                    "http://p:3128");
	assert_string_equal(st_df_env_get(&ev->globals, "BUILDARCH", 9), "amd64");
	assert_string_equal(st_df_env_get(&ev->globals, "TARGETVARIANT", 13), "v8");
	st_df_eval_free(ev);
	st_df_env_release(&ba);
	st_dockerfile_free(df);
}

/* BuildKit's ExpandRaw: the body of an unquoted heredoc has its variables expanded with what
 * is in scope at that line, quotes stay as written, '\\' escapes; a quoted delimiter keeps the
 * body as is; <<- strips tabs first. */
static void expands_copy_heredoc_bodies_as_buildkit(void **state)
{
	static const char src[] = "FROM scratch\n"
	                          "ARG V=one\n"
	                          "ENV W=two\n"
	                          "COPY <<EOF <<'RAW' /d/\n"
	                          "a $V \"${W}\" '$V' \\$V ${NOPE:-dflt}\n"
	                          "EOF\n"
	                          "b $V\n"
	                          "RAW\n"
	                          "ENV W=three\n"
	                          "ADD <<-T /t\n"
	                          "\t$W\n"
	                          "T\n";
	struct st_dockerfile *df = parse_ok(src);
	struct st_error err = ST_ERROR_INIT;
	struct st_df_eval *ev = NULL;

	(void)state;
	assert_int_equal(st_df_eval_run(df, NULL, &ev, &err), 0);
	assert_int_equal(ev->instrs[3].heredocs.n, 2);
	assert_string_equal(ev->instrs[3].heredocs.v[0], "a one \"two\" 'one' $V dflt\n");
	assert_string_equal(ev->instrs[3].heredocs.v[1], "b $V\n");
	assert_int_equal(ev->instrs[5].heredocs.n, 1);
	assert_string_equal(ev->instrs[5].heredocs.v[0], "three\n");
	st_df_eval_free(ev);
	st_dockerfile_free(df);
}

static void eval_reports_expansion_errors_with_line(void **state)
{
	struct st_dockerfile *df =
	        parse_ok("FROM a\nARG VERSION\nWORKDIR ${VERSION:?is required}\n");
	struct st_error err = ST_ERROR_INIT;
	struct st_df_eval *ev = NULL;

	(void)state;
	assert_int_equal(st_df_eval_run(df, NULL, &ev, &err), -ST_EINVALID);
	assert_non_null(strstr(err.msg, "Dockerfile:3: "));
	assert_non_null(strstr(err.msg, "VERSION: is required"));
	st_dockerfile_free(df);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(dumps_every_instruction_and_flag_as_buildkit),
	        cmocka_unit_test(reports_errors_with_file_line_and_quoted_text),
	        cmocka_unit_test(caps_physical_line_length_and_says_so),
	        cmocka_unit_test(keeps_heredoc_bodies_lines_and_quoting),
	        cmocka_unit_test(json_form_has_no_heredocs_and_comments_attach),
	        cmocka_unit_test(warns_about_empty_continuation_lines),
	        cmocka_unit_test(unknown_instructions_kept_on_request),
	        cmocka_unit_test(validate_applies_buildkit_instruction_checks),
	        cmocka_unit_test(scopes_arg_and_env_across_stages),
	        cmocka_unit_test(expands_copy_heredoc_bodies_as_buildkit),
	        cmocka_unit_test(eval_reports_expansion_errors_with_line),
	};
	return cmocka_run_group_tests_name("dockerfile", tests, NULL, NULL);
}
