/* cmd-dockerfile.c: `strata dockerfile parse|expand`: print a Dockerfile's AST (BuildKit's dump
 * format or JSON) and expand words as BuildKit does, one-shot or as a JSON-lines service. */
#include "cmd.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strata/dockerfile.h"
#include "util/cleanup.h"
#include "util/json.h"

#include "util/banned.h"

static const char parse_usage[] =
        "usage: strata dockerfile parse [--format dump|json] [--strict] [--allow-unknown] FILE\n\n"
        "Parses FILE ('-' for stdin) and prints its AST: 'dump' is BuildKit's AST.Dump() format,\n"
        "'json' keeps lines, flags, heredocs and comments. --strict also applies BuildKit's\n"
        "instruction checks (argument counts, known flags). Exit 1 on a parse error.\n";

static const char expand_usage[] =
        "usage: strata dockerfile expand [--env NAME=VALUE]... [--escape C] [--words] WORD\n"
        "       strata dockerfile expand --json-lines\n\n"
        "Expands WORD as BuildKit does ($V, ${V:-x}, quotes, escapes) and prints the result, or "
        "one\n"
        "field per line with --words. --json-lines reads one request a line from stdin,\n"
        "{\"op\":\"word\"|\"words\",\"input\":\"...\",\"env\":[[\"K\",\"V\"],...]}, and answers\n"
        "{\"result\":\"...\"}, {\"words\":[...]} or {\"error\":\"...\"} on one line each.\n";

static const char usage[] = "usage: strata dockerfile parse|expand ...\n\n"
                            "'strata dockerfile parse --help' and 'strata dockerfile expand "
                            "--help' show the options.\n";

static int read_input(const char *path, struct st_buf *out, struct st_error *err)
{
	cleanup_file FILE *f = strcmp(path, "-") == 0 ? NULL : fopen(path, "rbe");
	FILE *in = strcmp(path, "-") == 0 ? stdin : f;
	char chunk[65536];
	size_t n;
	int rc;

	if (!in)
		return st_error_sys(err, "open '%s'", path);
	st_buf_init(out, ST_DF_MAX_FILE + 1);
	while ((n = fread(chunk, 1, sizeof(chunk), in)) > 0) {
		rc = st_buf_add(out, chunk, n, err);
		if (rc < 0)
			return st_error_wrap(err, "%s", path);
	}
	if (ferror(in))
		return st_error_errno(err, EIO, "read '%s'", path);
	return 0;
}

static int parse_main(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"format", required_argument, NULL, 'f'},
	        {"strict", no_argument, NULL, 's'},
	        {"allow-unknown", no_argument, NULL, 'u'},
	        {NULL, 0, NULL, 0},
	};
	struct st_error err = ST_ERROR_INIT;
	cleanup_buf struct st_buf data = ST_BUF_INIT;
	cleanup_buf struct st_buf out = ST_BUF_INIT;
	struct st_dockerfile *df = NULL;
	const char *format = "dump";
	bool strict = false;
	unsigned flags = 0;
	int c, rc;

	if (cmd_wants_help(argc, argv, parse_usage))
		return 0;
	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		if (c == 'f')
			format = optarg;
		else if (c == 's')
			strict = true;
		else if (c == 'u')
			flags |= ST_DF_PARSE_ALLOW_UNKNOWN;
		else
			return cmd_usage_error("dockerfile parse", "unknown option");
	}
	if (strcmp(format, "dump") != 0 && strcmp(format, "json") != 0)
		return cmd_usage_error("dockerfile parse", "unknown format '%s'", format);
	if (optind + 1 != argc)
		return cmd_usage_error("dockerfile parse", "expected one FILE");
	if (read_input(argv[optind], &data, &err) < 0)
		return cmd_fail(&err, NULL);
	rc = st_dockerfile_parse(data.data, data.len, argv[optind], flags, &df, &err);
	if (rc == 0 && strict)
		rc = st_dockerfile_validate(df, &err);
	if (rc == 0)
		rc = strcmp(format, "dump") == 0 ? st_dockerfile_dump(df, &out, &err)
		                                 : st_dockerfile_to_json(df, &out, &err);
	st_dockerfile_free(df);
	if (rc < 0)
		return cmd_fail(&err, NULL);
	if (strcmp(format, "json") == 0 && st_buf_addch(&out, '\n', &err) < 0)
		return cmd_fail(&err, NULL);
	if (fwrite(out.data, 1, out.len, stdout) != out.len || fflush(stdout) != 0)
		return 1;
	return 0;
}

static int add_env_arg(struct st_df_env *env, const char *arg, struct st_error *err)
{
	const char *eq = strchr(arg, '=');
	cleanup_free char *name = eq ? strndup(arg, (size_t)(eq - arg)) : strdup(arg);

	if (!name)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	return st_df_env_set(env, name, eq ? eq + 1 : "", err);
}

static json_t *json_utf8(const char *s, size_t len)
{
	cleanup_buf struct st_buf b = ST_BUF_INIT;

	if (st_df_to_utf8(s, len, &b, NULL) < 0)
		return NULL;
	return json_stringn(b.data, b.len);
}

/* Answers one JSON-lines request; the answer object is always set unless out of memory. */
static json_t *answer(const char *line, size_t len, char escape)
{
	struct st_error err = ST_ERROR_INIT;
	struct st_df_env env = ST_DF_ENV_INIT;
	struct st_shlex lx = {escape, 0, st_df_env_lookup, &env};
	cleanup_buf struct st_buf res = ST_BUF_INIT;
	struct st_strv words = ST_STRV_INIT;
	cleanup_json json_t *req = NULL;
	json_t *envj = NULL, *in, *out = NULL, *arr;
	const char *op = NULL;
	int rc = st_json_parse(line, len, "request", &req, &err);

	if (rc == 0)
		rc = st_json_get_str(req, "op", true, "request", &op, &err);
	if (rc == 0)
		rc = st_json_get_arr(req, "env", false, "request", &envj, &err);
	in = rc == 0 ? json_object_get(req, "input") : NULL;
	if (rc == 0 && !json_is_string(in))
		rc = st_error_set(&err, ST_EINVALID, "request: field \"input\" must be a string");
	for (size_t i = 0; rc == 0 && envj && i < json_array_size(envj); i++) {
		json_t *kv = json_array_get(envj, i);
		if (!json_is_array(kv) || json_array_size(kv) != 2 ||
		    !json_is_string(json_array_get(kv, 0)) ||
		    !json_is_string(json_array_get(kv, 1)))
			rc = st_error_set(&err, ST_EINVALID,
			                  "request: env[%zu] must be [name, value]", i);
		else
			rc = st_df_env_set(&env, json_string_value(json_array_get(kv, 0)),
			                   json_string_value(json_array_get(kv, 1)), &err);
	}
	if (rc == 0 && strcmp(op, "word") == 0) {
		rc = st_shlex_word(&lx, json_string_value(in), json_string_length(in), &res, &err);
		if (rc == 0)
			out = json_pack("{s:o}", "result", json_utf8(res.data, res.len));
	} else if (rc == 0 && strcmp(op, "words") == 0) {
		rc = st_shlex_words(&lx, json_string_value(in), json_string_length(in), &words,
		                    &err);
		arr = rc == 0 ? json_array() : NULL;
		for (size_t i = 0; arr && i < words.n; i++)
			json_array_append_new(arr, json_utf8(words.v[i], strlen(words.v[i])));
		if (rc == 0)
			out = json_pack("{s:o}", "words", arr);
	} else if (rc == 0) {
		rc = st_error_set(&err, ST_EINVALID, "request: unknown op \"%s\"", op);
	}
	if (rc < 0)
		out = json_pack("{s:o}", "error", json_utf8(err.msg, strlen(err.msg)));
	st_strv_release(&words);
	st_df_env_release(&env);
	return out;
}

static int json_lines(char escape)
{
	cleanup_free char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	while ((n = getline(&line, &cap, stdin)) >= 0) {
		cleanup_buf struct st_buf out = ST_BUF_INIT;
		json_t *a;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			n--;
		if (n == 0)
			continue;
		a = answer(line, (size_t)n, escape);
		if (!a || st_json_dump(a, &out, NULL) < 0 || st_buf_addch(&out, '\n', NULL) < 0) {
			json_decref(a);
			fputs("strata: out of memory\n", stderr);
			return 1;
		}
		json_decref(a);
		if (fwrite(out.data, 1, out.len, stdout) != out.len || fflush(stdout) != 0)
			return 1;
	}
	return 0;
}

static int expand_print(const struct st_shlex *lx, const char *word, bool split)
{
	struct st_error err = ST_ERROR_INIT;
	cleanup_buf struct st_buf res = ST_BUF_INIT;
	struct st_strv words = ST_STRV_INIT;
	int rc;

	if (!split) {
		rc = st_shlex_word(lx, word, strlen(word), &res, &err);
		if (rc == 0)
			printf("%s\n", res.data);
	} else {
		rc = st_shlex_words(lx, word, strlen(word), &words, &err);
		for (size_t i = 0; rc == 0 && i < words.n; i++)
			printf("%s\n", words.v[i]);
		st_strv_release(&words);
	}
	return rc < 0 ? cmd_fail(&err, NULL) : 0;
}

static int expand_main(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"env", required_argument, NULL, 'e'},
	        {"words", no_argument, NULL, 'w'},
	        {"escape", required_argument, NULL, 'c'},
	        {"json-lines", no_argument, NULL, 'j'},
	        {NULL, 0, NULL, 0},
	};
	struct st_error err = ST_ERROR_INIT;
	struct st_df_env env = ST_DF_ENV_INIT;
	struct st_shlex lx = {'\\', 0, st_df_env_lookup, &env};
	bool split = false, jl = false;
	int c, rc = 0;

	if (cmd_wants_help(argc, argv, expand_usage))
		return 0;
	while (rc == 0 && (c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		if (c == 'e' && add_env_arg(&env, optarg, &err) < 0)
			rc = cmd_fail(&err, NULL);
		else if (c == 'w')
			split = true;
		else if (c == 'j')
			jl = true;
		else if (c == 'c' &&
		         (strlen(optarg) != 1 || (optarg[0] != '\\' && optarg[0] != '`')))
			rc = cmd_usage_error("dockerfile expand", "--escape must be \\ or `");
		else if (c == 'c')
			lx.escape = optarg[0];
		else if (c != 'e')
			rc = cmd_usage_error("dockerfile expand", "unknown option");
	}
	if (rc == 0 && jl && optind != argc)
		rc = cmd_usage_error("dockerfile expand", "--json-lines takes no WORD");
	else if (rc == 0 && !jl && optind + 1 != argc)
		rc = cmd_usage_error("dockerfile expand", "expected one WORD");
	if (rc == 0)
		rc = jl ? json_lines(lx.escape) : expand_print(&lx, argv[optind], split);
	st_df_env_release(&env);
	return rc;
}

int cmd_dockerfile(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	optind = 0;
	if (strcmp(argv[1], "parse") == 0)
		return parse_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "expand") == 0)
		return expand_main(argc - 1, argv + 1);
	return cmd_usage_error("dockerfile", "unknown subcommand '%s'", argv[1]);
}
