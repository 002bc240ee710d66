/* cmd-archive.c: `strata save` and `strata load`. */
#include "cmd.h"

#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "strata/strata.h"

static const char save_usage[] =
        "usage: strata save [-o FILE] [--format docker-archive|oci-archive] IMAGE...\n\n"
        "Writes the images, with their names, to one tar (stdout unless -o). docker-archive\n"
        "(the default, as docker save) carries manifest.json and an OCI layout; oci-archive\n"
        "only the layout.\n";

static int resolve_all(struct st_store *s, char **specs, int n, struct st_save_image *out,
                       struct st_error *err)
{
	for (int i = 0; i < n; i++) {
		struct st_buf full = ST_BUF_INIT;
		struct st_ref r;
		int rc = st_image_lookup(s, specs[i], &out[i].desc, err);
		if (rc < 0)
			return st_error_wrap(err, "'%s'", specs[i]);
		/* the name goes with the image only when the user named it by name */
		if (st_ref_parse(specs[i], &r, NULL) == 0) {
			if (!r.has_digest && st_ref_format(&r, 0, &full, NULL) == 0 &&
			    st_descriptor_annotation(&out[i].desc, ST_ANNOT_REF_NAME))
				out[i].name = st_buf_detach(&full, NULL);
			st_ref_release(&r);
		}
		st_buf_release(&full);
		(void)st_descriptor_set_annotation(&out[i].desc, ST_ANNOT_REF_NAME, NULL, NULL);
	}
	return 0;
}

int cmd_save(int argc, char **argv)
{
	static const struct option opts[] = {{"output", required_argument, NULL, 'o'},
	                                     {"format", required_argument, NULL, 'f'},
	                                     {NULL, 0, NULL, 0}};
	enum st_archive_format fmt = ST_ARCHIVE_DOCKER;
	struct st_error err = ST_ERROR_INIT;
	struct st_save_image *imgs;
	struct st_store *s = NULL;
	const char *out = NULL;
	char *tmp = NULL;
	int c, n, fd = 1, rc;

	if (cmd_wants_help(argc, argv, save_usage))
		return 0;
	while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		if (c == 'o')
			out = optarg;
		else if (c == 'f' && strcmp(optarg, "oci-archive") == 0)
			fmt = ST_ARCHIVE_OCI;
		else if (c == 'f' && strcmp(optarg, "docker-archive") == 0)
			fmt = ST_ARCHIVE_DOCKER;
		else
			return cmd_usage_error("save", "bad option");
	}
	n = argc - optind;
	if (n < 1)
		return cmd_usage_error("save", "needs at least one image");
	if (!out && isatty(1))
		return cmd_usage_error("save",
		                       "refusing to write an archive to a terminal; use -o");
	imgs = calloc((size_t)n, sizeof(*imgs));
	if (!imgs || cmd_open_store(&s)) {
		free(imgs);
		return 1;
	}
	rc = resolve_all(s, argv + optind, n, imgs, &err);
	if (rc == 0 && out) {
		/* written beside the target and renamed: a failed save leaves no half archive */
		if (asprintf(&tmp, "%s.tmp-XXXXXX", out) < 0 || (fd = mkstemp(tmp)) < 0)
			rc = st_error_sys(&err, "create '%s'", out);
	}
	if (rc == 0)
		rc = st_archive_save(s, imgs, (size_t)n, fmt, fd, &err);
	if (out && fd >= 0 && fd != 1) {
		if (rc == 0 && (fchmod(fd, 0644) < 0 || fsync(fd) < 0 || rename(tmp, out) < 0))
			rc = st_error_sys(&err, "write '%s'", out);
		close(fd);
		if (rc < 0)
			unlink(tmp);
	}
	for (int i = 0; i < n; i++) {
		st_descriptor_release(&imgs[i].desc);
		free((char *)imgs[i].name);
	}
	free(imgs);
	free(tmp);
	st_store_free(s);
	return rc < 0 ? cmd_fail(&err, "save") : 0;
}

static void loaded(const struct st_descriptor *d, const char *name, void *ctx)
{
	struct st_store *s = ctx;
	struct st_digest id;
	char ids[ST_DIGEST_STR_MAX];

	if (name) {
		printf("Loaded image: %s\n", name);
		return;
	}
	if (st_image_id(s, d, &id, NULL) == 0) {
		st_digest_str(&id, ids);
		printf("Loaded image ID: %s\n", ids);
	}
}

static const char load_usage[] =
        "usage: strata load [-i PATH] [--name REPOSITORY]\n\n"
        "Loads every image of a docker-archive, an oci-archive (a file, or stdin without -i)\n"
        "or an OCI image layout directory, with their names. --name gives the repository of\n"
        "images named only by a tag (as skopeo writes layouts).\n";

int cmd_load(int argc, char **argv)
{
	static const struct option opts[] = {{"input", required_argument, NULL, 'i'},
	                                     {"name", required_argument, NULL, 'n'},
	                                     {NULL, 0, NULL, 0}};
	struct st_error err = ST_ERROR_INIT;
	struct st_store *s = NULL;
	struct st_buf repo = ST_BUF_INIT;
	const char *in = NULL;
	int c, rc = 0;

	if (cmd_wants_help(argc, argv, load_usage))
		return 0;
	while ((c = getopt_long(argc, argv, "i:q", opts, NULL)) != -1) {
		if (c == 'i') {
			in = optarg;
		} else if (c == 'n') {
			struct st_ref r;
			if (st_ref_parse(optarg, &r, &err) < 0)
				return cmd_fail(&err, "load --name");
			rc = st_ref_repo_name(&r, &repo, &err);
			st_ref_release(&r);
		} else if (c != 'q') {
			return cmd_usage_error("load", "bad option");
		}
	}
	if (optind < argc)
		return cmd_usage_error("load", "unexpected argument '%s'", argv[optind]);
	if (!in && isatty(0))
		return cmd_usage_error("load", "no archive: use -i PATH or pipe one in");
	if (rc == 0 && cmd_open_store(&s) == 0) {
		rc = st_archive_load(s, in, 0, repo.len ? repo.data : NULL, loaded, s, &err);
		st_store_free(s);
	} else if (rc == 0) {
		rc = 1;
	}
	st_buf_release(&repo);
	if (rc < 0)
		return cmd_fail(&err, "load");
	return rc;
}
