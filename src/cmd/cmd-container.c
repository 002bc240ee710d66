/* cmd-container.c: the container verbs after `run`: ps, rm, stop, kill, wait, logs, diff,
 * commit, exec, cp and export. */
#include "cmd.h"

#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "strata/strata.h"

static void ago(int64_t t, char *out, size_t len)
{
	int64_t d = (int64_t)time(NULL) - t;

	if (d < 60)
		(void)snprintf(out, len, "%lld seconds", (long long)d);
	else if (d < 3600)
		(void)snprintf(out, len, "%lld minutes", (long long)(d / 60));
	else if (d < 86400)
		(void)snprintf(out, len, "%lld hours", (long long)(d / 3600));
	else
		(void)snprintf(out, len, "%lld days", (long long)(d / 86400));
}

static void print_row(const struct st_container_info *i)
{
	char created[48], status[128], when[48], cmd[40];

	ago(i->created, created, sizeof(created));
	if (i->status == ST_CTR_RUNNING) {
		ago(i->started, when, sizeof(when));
		(void)snprintf(status, sizeof(status), "Up %s", when);
	} else if (i->status == ST_CTR_EXITED) {
		ago(i->finished, when, sizeof(when));
		(void)snprintf(status, sizeof(status), "Exited (%d) %s ago", i->exit_code, when);
	} else {
		(void)snprintf(status, sizeof(status), "Created");
	}
	(void)snprintf(cmd, sizeof(cmd), "\"%.19s%s\"", i->command,
	               strlen(i->command) > 19 ? "…" : "");
	printf("%-12.12s   %-20s %-22s %-14s %-26s %s\n", i->id, i->image, cmd, created, status,
	       i->name ? i->name : "");
}

static const char ps_usage[] = "usage: strata ps [-a] [-q]\n\n"
                               "Lists running containers (-a: all of them; -q: IDs only).\n";

int cmd_ps(int argc, char **argv)
{
	struct st_error err = ST_ERROR_INIT;
	struct st_store *s = NULL;
	struct st_container_info *v = NULL;
	bool all = false, quiet = false;
	size_t n = 0;
	int c;

	if (cmd_wants_help(argc, argv, ps_usage))
		return 0;
	while ((c = getopt(argc, argv, "aq")) != -1) {
		if (c == 'a')
			all = true;
		else if (c == 'q')
			quiet = true;
		else
			return cmd_usage_error("ps", "bad option");
	}
	if (cmd_open_store(&s))
		return 1;
	if (st_container_list(s, all, &v, &n, &err) < 0) {
		st_store_free(s);
		return cmd_fail(&err, "ps");
	}
	if (!quiet)
		printf("%-12s   %-20s %-22s %-14s %-26s %s\n", "CONTAINER ID", "IMAGE", "COMMAND",
		       "CREATED", "STATUS", "NAMES");
	for (size_t i = 0; i < n; i++) {
		if (quiet)
			printf("%.12s\n", v[i].id);
		else
			print_row(&v[i]);
	}
	st_container_list_free(v, n);
	st_store_free(s);
	return 0;
}

/* Calls fn on each container named in argv[first..]; reports failures, returns 1 if any. */
typedef int (*each_fn)(struct st_container *c, const char *name, void *ctx, struct st_error *err);

static int each_container(int argc, char **argv, int first, const char *verb, each_fn fn, void *ctx)
{
	struct st_error err = ST_ERROR_INIT;
	struct st_store *s = NULL;
	int ret = 0;

	if (first >= argc)
		return cmd_usage_error(verb, "needs a CONTAINER");
	if (cmd_open_store(&s))
		return 1;
	for (int i = first; i < argc; i++) {
		struct st_container *c = NULL;
		if (st_container_open(s, argv[i], &c, &err) < 0 || fn(c, argv[i], ctx, &err) < 0)
			ret = cmd_fail(&err, "%s '%s'", verb, argv[i]);
		st_container_free(c);
	}
	st_store_free(s);
	return ret;
}

static int rm_one(struct st_container *c, const char *name, void *ctx, struct st_error *err)
{
	int rc = st_container_remove(c, *(bool *)ctx, err);

	if (rc == 0)
		printf("%s\n", name);
	return rc;
}

static const char rm_usage[] = "usage: strata rm [-f] CONTAINER...\n\n"
                               "Removes containers and their scratch layers (-f: running ones "
                               "too, killed first).\n";

int cmd_rm(int argc, char **argv)
{
	bool force = false;
	int c;

	if (cmd_wants_help(argc, argv, rm_usage))
		return 0;
	while ((c = getopt(argc, argv, "f")) != -1) {
		if (c != 'f')
			return cmd_usage_error("rm", "bad option");
		force = true;
	}
	return each_container(argc, argv, optind, "rm", rm_one, &force);
}

static int stop_one(struct st_container *c, const char *name, void *ctx, struct st_error *err)
{
	int rc = st_container_stop(c, *(int *)ctx, err);

	if (rc == 0)
		printf("%s\n", name);
	return rc;
}

static const char stop_usage[] =
        "usage: strata stop [-t SECONDS] CONTAINER...\n\n"
        "Sends the image's StopSignal (SIGTERM by default), then SIGKILL after -t (10) seconds.\n";

int cmd_stop(int argc, char **argv)
{
	static const struct option lo[] = {{"time", required_argument, NULL, 't'},
	                                   {NULL, 0, NULL, 0}};
	uint64_t t = 10;
	int timeout, c;

	if (cmd_wants_help(argc, argv, stop_usage))
		return 0;
	while ((c = getopt_long(argc, argv, "t:", lo, NULL)) != -1) {
		if (c != 't' || st_parse_u64(optarg, &t) < 0 || t > 86400)
			return cmd_usage_error("stop", "bad option");
	}
	timeout = (int)t;
	return each_container(argc, argv, optind, "stop", stop_one, &timeout);
}

static int kill_one(struct st_container *c, const char *name, void *ctx, struct st_error *err)
{
	int rc = st_container_kill(c, *(int *)ctx, err);

	if (rc == 0)
		printf("%s\n", name);
	return rc;
}

static const char kill_usage[] = "usage: strata kill [-s SIGNAL] CONTAINER...\n\n"
                                 "Sends a signal (default SIGKILL) to the container's PID 1.\n";

int cmd_kill(int argc, char **argv)
{
	static const struct option lo[] = {{"signal", required_argument, NULL, 's'},
	                                   {NULL, 0, NULL, 0}};
	struct st_error err = ST_ERROR_INIT;
	int sig = SIGKILL, c;

	if (cmd_wants_help(argc, argv, kill_usage))
		return 0;
	while ((c = getopt_long(argc, argv, "s:", lo, NULL)) != -1) {
		if (c != 's')
			return cmd_usage_error("kill", "bad option");
		if (st_run_parse_signal(optarg, &sig, &err) < 0)
			return cmd_usage_error("kill", "%s", err.msg);
	}
	return each_container(argc, argv, optind, "kill", kill_one, &sig);
}

static int wait_one(struct st_container *c, const char *name, void *ctx, struct st_error *err)
{
	int status = 0, rc = st_container_wait(c, &status, err);

	(void)name;
	(void)ctx;
	if (rc == 0)
		printf("%d\n", status);
	return rc;
}

static const char wait_usage[] = "usage: strata wait CONTAINER...\n\n"
                                 "Waits for containers to stop; prints their exit codes.\n";

int cmd_wait(int argc, char **argv)
{
	if (cmd_wants_help(argc, argv, wait_usage))
		return 0;
	return each_container(argc, argv, 1, "wait", wait_one, NULL);
}

static int logs_one(struct st_container *c, const char *name, void *ctx, struct st_error *err)
{
	(void)name;
	(void)fflush(stdout);
	return st_container_logs(c, 1, *(bool *)ctx, err);
}

static const char logs_usage[] = "usage: strata logs [-f] CONTAINER\n\n"
                                 "Shows the output of a detached container (-f: follow it).\n";

int cmd_logs(int argc, char **argv)
{
	static const struct option lo[] = {{"follow", no_argument, NULL, 'f'}, {NULL, 0, NULL, 0}};
	bool follow = false;
	int c;

	if (cmd_wants_help(argc, argv, logs_usage))
		return 0;
	while ((c = getopt_long(argc, argv, "f", lo, NULL)) != -1) {
		if (c != 'f')
			return cmd_usage_error("logs", "bad option");
		follow = true;
	}
	return each_container(argc, argv, optind, "logs", logs_one, &follow);
}

static int diff_print(char kind, const char *path, void *ctx, struct st_error *err)
{
	(void)ctx;
	(void)err;
	printf("%c %s\n", kind, path);
	return 0;
}

static int diff_one(struct st_container *c, const char *name, void *ctx, struct st_error *err)
{
	(void)name;
	(void)ctx;
	return st_container_diff(c, diff_print, NULL, err);
}

static const char diff_usage[] = "usage: strata diff CONTAINER\n\n"
                                 "Lists the changes of the container's scratch layer: A added, C "
                                 "changed, D deleted.\n";

int cmd_diff(int argc, char **argv)
{
	if (cmd_wants_help(argc, argv, diff_usage))
		return 0;
	return each_container(argc, argv, 1, "diff", diff_one, NULL);
}

static int export_one(struct st_container *c, const char *name, void *ctx, struct st_error *err)
{
	const char *out = ctx;
	int fd = out ? open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : 1;
	int rc;

	(void)name;
	if (fd < 0)
		return st_error_sys(err, "create '%s'", out);
	if (!out && isatty(1))
		return st_error_set(err, ST_EINVALID,
		                    "refusing to write a tar to a terminal (-o FILE)");
	rc = st_container_export(c, fd, err);
	if (out)
		(void)close(fd);
	return rc;
}

static const char export_usage[] = "usage: strata export [-o FILE] CONTAINER\n\n"
                                   "Writes the container's file system as a tar.\n";

int cmd_export(int argc, char **argv)
{
	const char *out = NULL;
	int c;

	if (cmd_wants_help(argc, argv, export_usage))
		return 0;
	while ((c = getopt(argc, argv, "o:")) != -1) {
		if (c != 'o')
			return cmd_usage_error("export", "bad option");
		out = optarg;
	}
	if (argc - optind != 1)
		return cmd_usage_error("export", "needs one CONTAINER");
	return each_container(argc, argv, optind, "export", export_one, (void *)out);
}
