/* main.c: the `strata` front end: global options, then dispatch to one function per verb.
 * The verbs only parse, call libstrata and print. */
#include "cmd.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "strata/buf.h"
#include "strata/store.h"

struct cmd_global g_opt = {.prog = "strata"};

static const struct cmd commands[] = {
#include "cmd-table.inc"
        {"version", cmd_version, "show the version"},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: strata [--root DIR] [-v] COMMAND [ARGS...]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n'strata COMMAND --help' shows a command's options.\n"
	           "The store is --root, else $STRATA_ROOT, else /var/lib/strata (root) or\n"
	           "$XDG_DATA_HOME/strata.\n");
}

int cmd_fail(const struct st_error *err, const char *what, ...)
{
	va_list ap;

	fputs("strata: ", stderr);
	if (what) {
		va_start(ap, what);
		vfprintf(stderr, what, ap);
		va_end(ap);
		fputs(": ", stderr);
	}
	fprintf(stderr, "%s\n", err->msg[0] ? err->msg : st_errc_name(err->code));
	return 1;
}

int cmd_usage_error(const char *verb, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "strata %s: ", verb);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'strata %s --help'.\n", verb);
	return 2;
}

bool cmd_wants_help(int argc, char **argv, const char *usage_text)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			fputs(usage_text, stdout);
			return true;
		}
	}
	return false;
}

static char *default_root(void)
{
	const char *env = getenv("STRATA_ROOT");
	struct st_buf b = ST_BUF_INIT;

	if (env && *env)
		return strdup(env);
	if (geteuid() == 0)
		return strdup("/var/lib/strata");
	env = getenv("XDG_DATA_HOME");
	if (env && *env) {
		if (st_buf_addf(&b, NULL, "%s/strata", env) < 0)
			return NULL;
	} else {
		env = getenv("HOME");
		if (st_buf_addf(&b, NULL, "%s/.local/share/strata", env ? env : "/tmp") < 0)
			return NULL;
	}
	return st_buf_detach(&b, NULL);
}

int cmd_open_store(struct st_store **out)
{
	struct st_error err = ST_ERROR_INIT;

	if (st_store_open(g_opt.root, out, &err) < 0)
		return cmd_fail(&err, "store '%s'", g_opt.root);
	return 0;
}

static void log_to_stderr(enum st_log_level level, const char *msg, void *ctx)
{
	(void)ctx;
	if (level == ST_LOG_DEBUG && g_opt.verbose < 1)
		return;
	fprintf(stderr, "%s%s\n", level == ST_LOG_WARN ? "strata: warning: " : "", msg);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"root", required_argument, NULL, 'r'},
	        {"verbose", no_argument, NULL, 'v'},
	        {"help", no_argument, NULL, 'h'},
	        {"version", no_argument, NULL, 'V'},
	        {NULL, 0, NULL, 0},
	};
	char *root_alloc = NULL;
	int c, rc;

	/* '+': stop at the first non-option, the verb */
	while ((c = getopt_long(argc, argv, "+vh", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			g_opt.root = optarg;
			break;
		case 'v':
			g_opt.verbose++;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			return cmd_version(1, argv);
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	if (!g_opt.root) {
		root_alloc = default_root();
		if (!root_alloc) {
			fputs("strata: out of memory\n", stderr);
			return 1;
		}
		g_opt.root = root_alloc;
	}
	st_log_set_handler(log_to_stderr, NULL);
	argc -= optind;
	argv += optind;
	optind = 0; /* verbs run getopt again from the start */
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[0], commands[i].name) == 0) {
			rc = commands[i].fn(argc, argv);
			free(root_alloc);
			return rc;
		}
	}
	fprintf(stderr, "strata: unknown command '%s'\nTry 'strata --help'.\n", argv[0]);
	free(root_alloc);
	return 2;
}
