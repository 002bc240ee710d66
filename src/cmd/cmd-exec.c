/* cmd-exec.c: `strata exec`, `cp` and `commit`: working with a container's processes and
 * files. */
#include "cmd.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strata/strata.h"

static const char exec_usage[] =
        "usage: strata exec [-i] [-t] [-u USER] [-w DIR] [-e K=V] [--privileged] CONTAINER "
        "COMMAND [ARG...]\n\n"
        "Runs a command in a running container.\n";

int cmd_exec(int argc, char **argv)
{
	static const struct option lo[] = {
	        {"interactive", no_argument, NULL, 'i'}, {"tty", no_argument, NULL, 't'},
	        {"user", required_argument, NULL, 'u'},  {"workdir", required_argument, NULL, 'w'},
	        {"env", required_argument, NULL, 'e'},   {"privileged", no_argument, NULL, 'P'},
	        {"help", no_argument, NULL, 'H'},        {NULL, 0, NULL, 0}};
	struct st_error err = ST_ERROR_INIT;
	struct st_exec_opts o = {0};
	struct st_strv env = ST_STRV_INIT;
	struct st_run_io io = {-1, 1, 2, false, -1};
	struct st_store *s = NULL;
	struct st_container *ct = NULL;
	int c, status = 125;

	while ((c = getopt_long(argc, argv, "+itu:w:e:", lo, NULL)) != -1) {
		switch (c) {
		case 'i':
			io.in_fd = 0;
			break;
		case 't':
			io.tty = o.tty = true;
			break;
		case 'u':
			o.user = optarg;
			break;
		case 'w':
			o.workdir = optarg;
			break;
		case 'e':
			if (st_strv_push(&env, optarg, strlen(optarg), &err) < 0)
				return cmd_fail(&err, "exec");
			break;
		case 'P':
			o.privileged = true;
			break;
		case 'H':
			fputs(exec_usage, stdout);
			return 0;
		default:
			return cmd_usage_error("exec", "bad option");
		}
	}
	if (argc - optind < 2) {
		st_strv_release(&env);
		return cmd_usage_error("exec", "needs CONTAINER and COMMAND");
	}
	o.args = (const char *const *)argv + optind + 1;
	o.n_args = (size_t)(argc - optind - 1);
	o.env = (const char *const *)env.v;
	o.n_env = env.n;
	if (cmd_open_store(&s) == 0) {
		if (st_container_open(s, argv[optind], &ct, &err) < 0 ||
		    st_container_exec(ct, &o, &io, &status, &err) < 0) {
			(void)cmd_fail(&err, "exec");
			if (status < 126)
				status = 125;
		}
	}
	st_container_free(ct);
	st_store_free(s);
	st_strv_release(&env);
	return status;
}

static const char cp_usage[] = "usage: strata cp CONTAINER:SRC_PATH DEST_PATH\n"
                               "       strata cp SRC_PATH CONTAINER:DEST_PATH\n\n"
                               "Copies files or trees between a container and the host.\n";

int cmd_cp(int argc, char **argv)
{
	struct st_error err = ST_ERROR_INIT;
	struct st_store *s = NULL;
	struct st_container *c = NULL;
	char *a, *b, *colon;
	bool out;
	int rc;

	if (cmd_wants_help(argc, argv, cp_usage))
		return 0;
	if (argc != 3)
		return cmd_usage_error("cp", "needs a source and a destination");
	a = argv[1];
	b = argv[2];
	out = strchr(a, ':') && a[0] != '/' && a[0] != '.';
	if (!out && !(strchr(b, ':') && b[0] != '/' && b[0] != '.'))
		return cmd_usage_error("cp", "one side must be CONTAINER:PATH");
	colon = strchr(out ? a : b, ':');
	*colon = '\0';
	if (cmd_open_store(&s))
		return 1;
	rc = st_container_open(s, out ? a : b, &c, &err);
	if (rc == 0)
		rc = out ? st_container_copy_out(c, colon + 1, b, &err)
		         : st_container_copy_in(c, a, colon + 1, &err);
	st_container_free(c);
	st_store_free(s);
	return rc < 0 ? cmd_fail(&err, "cp") : 0;
}

static const char commit_usage[] =
        "usage: strata commit [-a AUTHOR] [-m MESSAGE] CONTAINER [REPOSITORY[:TAG]]\n\n"
        "Makes an image of the container: its scratch layer becomes a new layer on its image.\n";

static int tag_image(struct st_store *s, const char *name, const struct st_descriptor *d,
                     struct st_error *err)
{
	struct st_buf full = ST_BUF_INIT;
	struct st_ref r;
	int rc = st_ref_parse(name, &r, err);

	if (rc < 0)
		return rc;
	rc = st_ref_format(&r, 0, &full, err);
	if (rc == 0)
		rc = st_store_tag(s, full.data, d, err);
	st_ref_release(&r);
	st_buf_release(&full);
	return rc;
}

int cmd_commit(int argc, char **argv)
{
	static const struct option lo[] = {{"author", required_argument, NULL, 'a'},
	                                   {"message", required_argument, NULL, 'm'},
	                                   {NULL, 0, NULL, 0}};
	struct st_error err = ST_ERROR_INIT;
	struct st_commit_opts o = {0};
	struct st_store *s = NULL;
	struct st_container *c = NULL;
	struct st_descriptor d = {0};
	struct st_digest id;
	char idstr[ST_DIGEST_STR_MAX];
	int opt, rc;

	if (cmd_wants_help(argc, argv, commit_usage))
		return 0;
	while ((opt = getopt_long(argc, argv, "a:m:", lo, NULL)) != -1) {
		if (opt == 'a')
			o.author = optarg;
		else if (opt == 'm')
			o.message = optarg;
		else
			return cmd_usage_error("commit", "bad option");
	}
	if (argc - optind < 1 || argc - optind > 2)
		return cmd_usage_error("commit", "needs CONTAINER [REPOSITORY[:TAG]]");
	if (cmd_open_store(&s))
		return 1;
	rc = st_container_open(s, argv[optind], &c, &err);
	if (rc == 0)
		rc = st_container_commit(c, &o, &d, &err);
	if (rc == 0 && argc - optind == 2)
		rc = tag_image(s, argv[optind + 1], &d, &err);
	if (rc == 0)
		rc = st_image_id(s, &d, &id, &err);
	if (rc == 0) {
		st_digest_str(&id, idstr);
		printf("%s\n", idstr);
	}
	st_descriptor_release(&d);
	st_container_free(c);
	st_store_free(s);
	return rc < 0 ? cmd_fail(&err, "commit") : 0;
}
