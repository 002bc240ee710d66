/* cmd.h: what the CLI verbs share: the global options, the dispatch entry type, and the helpers
 * that report errors once and exit codes (1 for errors, 2 for usage). */
#ifndef ST_CMD_H
#define ST_CMD_H

#include <stdbool.h>

#include "strata/common.h"

struct st_store;

struct cmd_global {
	const char *root; /* --root, STRATA_ROOT, or the default */
	int verbose;
	const char *prog; /* "strata" */
};

extern struct cmd_global g_opt;

struct cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

/* Prints "strata: <what>: <err.msg>" (or "strata: <err.msg>" when what is NULL) to stderr and
 * returns 1. */
int cmd_fail(const struct st_error *err, const char *what, ...) ST_PRINTF(2, 3);
/* Prints "strata <verb>: <msg>" and a hint to use --help; returns 2. */
int cmd_usage_error(const char *verb, const char *fmt, ...) ST_PRINTF(2, 3);
/* True when argv holds -h or --help before a "--"; prints usage to stdout. */
bool cmd_wants_help(int argc, char **argv, const char *usage);
/* Opens the store at g_opt.root (creating it). Prints the error and returns 1 on failure. */
int cmd_open_store(struct st_store **out);

/* One function per verb, each in its own cmd-<verb>.c. */
int cmd_version(int argc, char **argv);
#include "cmd-list.h"

#endif
