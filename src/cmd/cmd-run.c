/* cmd-run.c: `strata run`, `create`, `start` and `bundle`: Docker's `run` options parsed into
 * struct st_run_opts. Exit statuses as Docker's: the command's own, 125 when the runtime fails,
 * 126 when the command cannot be invoked, 127 when it is not found. */
#include "cmd.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "strata/strata.h"

#define EXIT_RUNTIME 125

struct run_cli {
	struct st_run_opts o;
	struct st_strv env, cap_add, cap_drop;
	struct st_mount_spec *mounts;
	size_t n_mounts;
	bool detach;
};

static void run_cli_release(struct run_cli *r)
{
	st_strv_release(&r->env);
	st_strv_release(&r->cap_add);
	st_strv_release(&r->cap_drop);
	for (size_t i = 0; i < r->n_mounts; i++)
		st_mount_spec_release(&r->mounts[i]);
	free(r->mounts);
}

static const char run_usage[] =
        "usage: strata run [OPTIONS] IMAGE [COMMAND [ARG...]]\n\n"
        "Runs a command in a new container (Docker's options and semantics).\n"
        "  -d, --detach             run in the background; print the container ID\n"
        "  -i, --interactive        keep standard input attached\n"
        "  -t, --tty                allocate a pseudo-terminal\n"
        "      --rm                 remove the container when it exits\n"
        "      --name NAME          name the container\n"
        "  -e, --env K[=V]          set an environment variable\n"
        "      --env-file FILE      read variables from FILE\n"
        "  -w, --workdir DIR        working directory (created when missing)\n"
        "  -u, --user USER[:GROUP]  user, by name or number\n"
        "      --entrypoint CMD     replace the image's entrypoint (\"\" clears it)\n"
        "  -h, --hostname NAME      host name (default: the short ID)\n"
        "      --network none|host  network namespace (default none, with lo up)\n"
        "      --privileged         all capabilities, no seccomp, no masked paths\n"
        "      --cap-add CAP, --cap-drop CAP\n"
        "      --security-opt no-new-privileges | seccomp=PROFILE|unconfined\n"
        "  -v, --volume SRC:DST[:ro]  bind a host path (created if missing) or a volume\n"
        "      --mount type=bind|tmpfs|volume,source=..,target=..[,readonly]\n"
        "      --tmpfs DST[:OPTS]   mount a tmpfs\n"
        "      --read-only          read-only root file system\n"
        "      --init               run a small reaper as PID 1\n"
        "  -m, --memory SIZE, --pids-limit N, --cpus N   resource limits (cgroups)\n"
        "      --runtime crun|runc  hand the container to an OCI runtime\n";

enum {
	OPT_RM = 256,
	OPT_NAME,
	OPT_ENV_FILE,
	OPT_ENTRYPOINT,
	OPT_NETWORK,
	OPT_PRIVILEGED,
	OPT_CAP_ADD,
	OPT_CAP_DROP,
	OPT_SECOPT,
	OPT_MOUNT,
	OPT_TMPFS,
	OPT_READ_ONLY,
	OPT_INIT,
	OPT_PIDS,
	OPT_CPUS,
	OPT_RUNTIME,
	OPT_HELP,
};

static const struct option run_opts[] = {
        {"detach", no_argument, NULL, 'd'},
        {"interactive", no_argument, NULL, 'i'},
        {"tty", no_argument, NULL, 't'},
        {"rm", no_argument, NULL, OPT_RM},
        {"name", required_argument, NULL, OPT_NAME},
        {"env", required_argument, NULL, 'e'},
        {"env-file", required_argument, NULL, OPT_ENV_FILE},
        {"workdir", required_argument, NULL, 'w'},
        {"user", required_argument, NULL, 'u'},
        {"entrypoint", required_argument, NULL, OPT_ENTRYPOINT},
        {"hostname", required_argument, NULL, 'h'},
        {"network", required_argument, NULL, OPT_NETWORK},
        {"net", required_argument, NULL, OPT_NETWORK},
        {"privileged", no_argument, NULL, OPT_PRIVILEGED},
        {"cap-add", required_argument, NULL, OPT_CAP_ADD},
        {"cap-drop", required_argument, NULL, OPT_CAP_DROP},
        {"security-opt", required_argument, NULL, OPT_SECOPT},
        {"volume", required_argument, NULL, 'v'},
        {"mount", required_argument, NULL, OPT_MOUNT},
        {"tmpfs", required_argument, NULL, OPT_TMPFS},
        {"read-only", no_argument, NULL, OPT_READ_ONLY},
        {"init", no_argument, NULL, OPT_INIT},
        {"memory", required_argument, NULL, 'm'},
        {"pids-limit", required_argument, NULL, OPT_PIDS},
        {"cpus", required_argument, NULL, OPT_CPUS},
        {"runtime", required_argument, NULL, OPT_RUNTIME},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
};

static int add_mount(struct run_cli *r, int c, const char *arg, struct st_error *err)
{
	struct st_mount_spec m;
	struct st_mount_spec *nv;
	int rc;

	if (c == 'v')
		rc = st_mount_parse_volume(arg, &m, err);
	else if (c == OPT_MOUNT)
		rc = st_mount_parse_mount(arg, &m, err);
	else
		rc = st_mount_parse_tmpfs(arg, &m, err);
	if (rc < 0)
		return rc;
	nv = realloc(r->mounts, (r->n_mounts + 1) * sizeof(*nv));
	if (!nv) {
		st_mount_spec_release(&m);
		return st_error_set(err, ST_ENOMEM, "out of memory");
	}
	r->mounts = nv;
	r->mounts[r->n_mounts++] = m;
	return 0;
}

static int env_file(struct run_cli *r, const char *path, struct st_error *err)
{
	FILE *f = fopen(path, "re");
	struct st_buf b = ST_BUF_INIT;
	char chunk[4096];
	size_t n;
	int rc = 0;

	if (!f)
		return st_error_sys(err, "env file '%s'", path);
	while (rc == 0 && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		rc = st_buf_add(&b, chunk, n, err);
	(void)fclose(f);
	if (rc == 0)
		rc = st_run_parse_env_file(b.data, &r->env, err);
	st_buf_release(&b);
	return rc;
}

static int security_opt(struct run_cli *r, const char *arg, struct st_error *err)
{
	if (strcmp(arg, "no-new-privileges") == 0 || strcmp(arg, "no-new-privileges:true") == 0 ||
	    strcmp(arg, "no-new-privileges=true") == 0)
		r->o.no_new_privs = true;
	else if (strncmp(arg, "seccomp=", 8) == 0 || strncmp(arg, "seccomp:", 8) == 0)
		r->o.seccomp = arg + 8;
	else if (strncmp(arg, "label", 5) == 0 || strncmp(arg, "apparmor", 8) == 0)
		return 0; /* no LSM here */
	else
		return st_error_set(err, ST_EINVALID, "--security-opt: unknown option '%s'", arg);
	return 0;
}

static int one_opt(struct run_cli *r, int c, const char *arg, struct st_error *err)
{
	switch (c) {
	case 'd':
		r->detach = true;
		return 0;
	case 'i':
		r->o.interactive = true;
		return 0;
	case 't':
		r->o.tty = true;
		return 0;
	case OPT_RM:
		r->o.auto_remove = true;
		return 0;
	case OPT_NAME:
		r->o.name = arg;
		return 0;
	case 'e':
		return st_strv_push(&r->env, arg, strlen(arg), err);
	case OPT_ENV_FILE:
		return env_file(r, arg, err);
	case 'w':
		r->o.workdir = arg;
		return 0;
	case 'u':
		r->o.user = arg;
		return 0;
	case OPT_ENTRYPOINT:
		r->o.entrypoint = arg;
		r->o.has_entrypoint = true;
		return 0;
	case 'h':
		r->o.hostname = arg;
		return 0;
	case OPT_NETWORK:
		if (strcmp(arg, "none") == 0)
			r->o.network = ST_NET_NONE;
		else if (strcmp(arg, "host") == 0)
			r->o.network = ST_NET_HOST;
		else
			return st_error_set(err, ST_EINVALID, "--network: '%s' (none or host)",
			                    arg);
		return 0;
	case OPT_PRIVILEGED:
		r->o.privileged = true;
		return 0;
	case OPT_CAP_ADD:
		return st_strv_push(&r->cap_add, arg, strlen(arg), err);
	case OPT_CAP_DROP:
		return st_strv_push(&r->cap_drop, arg, strlen(arg), err);
	case OPT_SECOPT:
		return security_opt(r, arg, err);
	case 'v':
	case OPT_MOUNT:
	case OPT_TMPFS:
		return add_mount(r, c, arg, err);
	case OPT_READ_ONLY:
		r->o.read_only = true;
		return 0;
	case OPT_INIT:
		r->o.init = true;
		return 0;
	case 'm':
		return st_run_parse_size(arg, &r->o.memory, err);
	case OPT_PIDS: {
		uint64_t v;
		if (st_parse_u64(arg, &v) < 0 || v == 0 || v > INT32_MAX)
			return st_error_set(err, ST_EINVALID, "--pids-limit: '%s'", arg);
		r->o.pids_limit = (int64_t)v;
		return 0;
	}
	case OPT_CPUS:
		return st_run_parse_cpus(arg, &r->o.cpus_milli, err);
	case OPT_RUNTIME:
		r->o.runtime = arg;
		return 0;
	default:
		return st_error_set(err, ST_EINVALID, "bad option");
	}
}

/* Parses options up to IMAGE; returns the index of IMAGE, 0 after --help, or -1. */
static int parse_run(int argc, char **argv, struct run_cli *r, const char *verb, const char *usage)
{
	struct st_error err = ST_ERROR_INIT;
	int c;

	while ((c = getopt_long(argc, argv, "+dite:w:u:h:v:m:", run_opts, NULL)) != -1) {
		if (c == OPT_HELP) {
			fputs(usage, stdout);
			return 0;
		}
		if (c == '?')
			return -1;
		if (one_opt(r, c, optarg, &err) < 0) {
			fprintf(stderr, "strata %s: %s\n", verb, err.msg);
			return -1;
		}
	}
	if (optind >= argc) {
		(void)cmd_usage_error(verb, "needs an IMAGE");
		return -1;
	}
	r->o.image = argv[optind];
	r->o.env = (const char *const *)r->env.v;
	r->o.n_env = r->env.n;
	r->o.cap_add = (const char *const *)r->cap_add.v;
	r->o.n_cap_add = r->cap_add.n;
	r->o.cap_drop = (const char *const *)r->cap_drop.v;
	r->o.n_cap_drop = r->cap_drop.n;
	r->o.mounts = r->mounts;
	r->o.n_mounts = r->n_mounts;
	return optind;
}

static int exit_for(int rc, int status)
{
	if (rc == 0)
		return status;
	return status >= 126 && status <= 127 ? status : EXIT_RUNTIME;
}

static int run_container(struct st_store *s, struct st_container *c, bool detach, bool interactive)
{
	struct st_error err = ST_ERROR_INIT;
	struct st_run_io io = {interactive ? 0 : -1, 1, 2, st_container_tty(c), -1};
	int status = EXIT_RUNTIME, rc;

	(void)s;
	if (detach) {
		rc = st_container_start(c, &err);
		if (rc == 0) {
			printf("%s\n", st_container_id(c));
			status = 0;
		}
	} else {
		rc = st_container_run(c, &io, &status, &err);
	}
	if (rc < 0) {
		(void)cmd_fail(&err, "run");
		/* a container that never started leaves nothing behind */
		(void)st_container_remove(c, true, NULL);
	}
	return exit_for(rc, status);
}

static int create_from(int argc, char **argv, bool start, bool *detach_out, struct st_store **s,
                       struct st_container **c, struct run_cli *r, const char *verb)
{
	struct st_error err = ST_ERROR_INIT;
	int idx = parse_run(argc, argv, r, verb, run_usage);

	if (idx <= 0)
		return idx == 0 ? 0 : EXIT_RUNTIME;
	r->o.args = (const char *const *)argv + idx + 1;
	r->o.n_args = (size_t)(argc - idx - 1);
	*detach_out = r->detach || !start;
	if (r->detach && r->o.runtime)
		return cmd_usage_error(verb, "-d works with the built-in runtime only"),
		       EXIT_RUNTIME;
	if (cmd_open_store(s))
		return EXIT_RUNTIME;
	if (st_container_create(*s, &r->o, c, &err) < 0)
		return cmd_fail(&err, "%s", verb), EXIT_RUNTIME;
	return -1;
}

int cmd_run(int argc, char **argv)
{
	struct run_cli r = {0};
	struct st_store *s = NULL;
	struct st_container *c = NULL;
	bool detach = false;
	int ret = create_from(argc, argv, true, &detach, &s, &c, &r, "run");

	if (ret < 0)
		ret = run_container(s, c, r.detach, r.o.interactive);
	st_container_free(c);
	st_store_free(s);
	run_cli_release(&r);
	return ret;
}

int cmd_create(int argc, char **argv)
{
	struct run_cli r = {0};
	struct st_store *s = NULL;
	struct st_container *c = NULL;
	bool detach = false;
	int ret = create_from(argc, argv, false, &detach, &s, &c, &r, "create");

	if (ret < 0) {
		printf("%s\n", st_container_id(c));
		ret = 0;
	}
	st_container_free(c);
	st_store_free(s);
	run_cli_release(&r);
	return ret;
}

static const char start_usage[] = "usage: strata start CONTAINER...\n\n"
                                  "Starts stopped containers in the background.\n";

int cmd_start(int argc, char **argv)
{
	struct st_error err = ST_ERROR_INIT;
	struct st_store *s = NULL;
	int ret = 0;

	if (cmd_wants_help(argc, argv, start_usage))
		return 0;
	if (argc < 2)
		return cmd_usage_error("start", "needs a CONTAINER");
	if (cmd_open_store(&s))
		return 1;
	for (int i = 1; i < argc; i++) {
		struct st_container *c = NULL;
		if (st_container_open(s, argv[i], &c, &err) < 0 || st_container_start(c, &err) < 0)
			ret = cmd_fail(&err, "start '%s'", argv[i]);
		else
			printf("%s\n", argv[i]);
		st_container_free(c);
	}
	st_store_free(s);
	return ret;
}

static const char bundle_usage[] =
        "usage: strata bundle [RUN OPTIONS] IMAGE DIR [COMMAND [ARG...]]\n\n"
        "Writes an OCI runtime bundle (DIR/config.json and DIR/rootfs) that crun and runc run.\n";

int cmd_bundle(int argc, char **argv)
{
	struct st_error err = ST_ERROR_INIT;
	struct run_cli r = {0};
	struct st_store *s = NULL;
	int idx = parse_run(argc, argv, &r, "bundle", bundle_usage), ret = 0;

	if (idx <= 0) {
		run_cli_release(&r);
		return idx == 0 ? 0 : 2;
	}
	if (idx + 1 >= argc) {
		run_cli_release(&r);
		return cmd_usage_error("bundle", "needs IMAGE and DIR");
	}
	r.o.args = (const char *const *)argv + idx + 2;
	r.o.n_args = (size_t)(argc - idx - 2);
	if (cmd_open_store(&s)) {
		run_cli_release(&r);
		return 1;
	}
	if (st_bundle_write(s, &r.o, argv[idx + 1], &err) < 0)
		ret = cmd_fail(&err, "bundle");
	st_store_free(s);
	run_cli_release(&r);
	return ret;
}
