/* cmd-tag.c: `strata tag`, `rmi`, `image prune` and `import`: naming, removing and creating
 * images. */
#include "cmd.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "strata/strata.h"

/* The full normalised name of a reference given on the command line, into out. */
static int full_name(const char *s, struct st_buf *out, struct st_error *err)
{
	struct st_ref r;
	int rc = st_ref_parse(s, &r, err);

	if (rc < 0)
		return rc;
	if (r.has_digest) {
		st_ref_release(&r);
		return st_error_set(err, ST_EINVALID, "'%s': a name to set cannot hold a digest",
		                    s);
	}
	rc = st_ref_format(&r, 0, out, err);
	st_ref_release(&r);
	return rc;
}

static const char tag_usage[] = "usage: strata tag SOURCE_IMAGE TARGET_IMAGE[:TAG]\n\n"
                                "Gives the image SOURCE_IMAGE names another name.\n";

int cmd_tag(int argc, char **argv)
{
	struct st_error err = ST_ERROR_INIT;
	struct st_buf name = ST_BUF_INIT;
	struct st_store *s = NULL;
	struct st_descriptor d;
	int rc;

	if (cmd_wants_help(argc, argv, tag_usage))
		return 0;
	if (argc != 3)
		return cmd_usage_error("tag", "needs SOURCE_IMAGE and TARGET_IMAGE");
	if (full_name(argv[2], &name, &err) < 0)
		return cmd_fail(&err, "tag");
	if (cmd_open_store(&s)) {
		st_buf_release(&name);
		return 1;
	}
	rc = st_image_lookup(s, argv[1], &d, &err);
	if (rc == 0) {
		(void)st_descriptor_set_annotation(&d, ST_ANNOT_REF_NAME, NULL, NULL);
		rc = st_store_tag(s, name.data, &d, &err);
		st_descriptor_release(&d);
	}
	st_buf_release(&name);
	st_store_free(s);
	return rc < 0 ? cmd_fail(&err, "tag") : 0;
}

static int count_names(struct st_store *s, const struct st_digest *dg)
{
	struct st_descriptor *d = NULL;
	size_t n = 0;
	int count = 0;

	if (st_store_list(s, &d, &n, NULL) < 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (st_digest_equal(&d[i].digest, dg) &&
		    st_descriptor_annotation(&d[i], ST_ANNOT_REF_NAME))
			count++;
	st_store_entries_free(d, n);
	return count;
}

/* rmi of one argument: a name is untagged; an ID or digest removes the image (with -f when
 * several names point at it, as Docker). */
static int rmi_one(struct st_store *s, const char *spec, bool force, struct st_error *err)
{
	struct st_buf name = ST_BUF_INIT;
	struct st_descriptor d;
	char dg[ST_DIGEST_STR_MAX];
	int rc;

	if (full_name(spec, &name, NULL) == 0 && st_store_untag(s, name.data, NULL) == 0) {
		printf("Untagged: %s\n", name.data);
		st_buf_release(&name);
		return 0;
	}
	st_buf_release(&name);
	rc = st_image_lookup(s, spec, &d, err);
	if (rc < 0)
		return rc;
	if (!force && count_names(s, &d.digest) > 1) {
		st_descriptor_release(&d);
		return st_error_set(err, ST_EINVALID,
		                    "image '%s' has several names; remove them by name, or use -f",
		                    spec);
	}
	rc = st_store_remove_image(s, &d.digest, err);
	st_digest_str(&d.digest, dg);
	st_descriptor_release(&d);
	if (rc < 0)
		return rc;
	printf("Deleted: %s\n", dg);
	return 0;
}

static const char rmi_usage[] =
        "usage: strata rmi [-f] IMAGE...\n\n"
        "Removes names; an image ID or digest removes the image with all its names (-f when it\n"
        "has several). Blobs are freed by the next 'strata gc'.\n";

int cmd_rmi(int argc, char **argv)
{
	struct st_error err = ST_ERROR_INIT;
	struct st_store *s = NULL;
	bool force = false;
	int c, ret = 0;

	if (cmd_wants_help(argc, argv, rmi_usage))
		return 0;
	while ((c = getopt(argc, argv, "f")) != -1) {
		if (c != 'f')
			return cmd_usage_error("rmi", "bad option");
		force = true;
	}
	if (optind >= argc)
		return cmd_usage_error("rmi", "needs at least one image");
	if (cmd_open_store(&s))
		return 1;
	for (int i = optind; i < argc; i++)
		if (rmi_one(s, argv[i], force, &err) < 0)
			ret = cmd_fail(&err, "rmi '%s'", argv[i]);
	st_store_free(s);
	return ret;
}

static const char image_usage[] =
        "usage: strata image prune\n"
        "       strata image diff IMAGE_A IMAGE_B\n\n"
        "prune: removes untagged images and frees the blobs nothing else uses.\n"
        "diff:  lists the paths that differ between the images' root filesystems, as\n"
        "       docker diff does: A added in B, C changed, D deleted.\n";

static int image_prune(void)
{
	struct st_error err = ST_ERROR_INIT;
	struct st_gc_stats stats = {0};
	struct st_store *s = NULL;
	int n;

	if (cmd_open_store(&s))
		return 1;
	n = st_store_prune_untagged(s, &err);
	if (n >= 0 && st_strata_register(s, &err) == 0 && st_store_gc(s, &stats, &err) == 0) {
		printf("Deleted %d untagged image%s\nTotal reclaimed space: %.1f MB\n", n,
		       n == 1 ? "" : "s", (double)stats.bytes_freed / 1e6);
		st_store_free(s);
		return 0;
	}
	st_store_free(s);
	return cmd_fail(&err, "image prune");
}

static void print_change(enum st_change_kind kind, const char *path, void *ctx)
{
	(void)ctx;
	printf("%c %s\n", (char)kind, path);
}

/* Unpacks IMAGE into dir (a fresh path under the store's tmp/). */
static int unpack_to(struct st_store *s, const char *spec, const char *dir, struct st_error *err)
{
	struct st_image img;
	int rc = st_image_open(s, spec, NULL, &img, err);

	if (rc < 0)
		return rc;
	rc = st_unpack(s, &img, dir, err);
	st_image_release(&img);
	return rc < 0 ? st_error_wrap(err, "'%s'", spec) : 0;
}

static int image_diff(const char *a, const char *b)
{
	struct st_error err = ST_ERROR_INIT;
	struct st_store *s = NULL;
	char *da = NULL, *db = NULL;
	int rc;

	if (cmd_open_store(&s))
		return 1;
	if (asprintf(&da, "%s/tmp/diff-a-%d", st_store_root(s), (int)getpid()) < 0 ||
	    asprintf(&db, "%s/tmp/diff-b-%d", st_store_root(s), (int)getpid()) < 0) {
		st_store_free(s);
		return 1;
	}
	rc = st_store_lease(s, &err);
	if (rc == 0)
		rc = unpack_to(s, a, da, &err);
	if (rc == 0)
		rc = unpack_to(s, b, db, &err);
	if (rc == 0)
		rc = st_tree_diff(da, db, print_change, NULL, &err);
	(void)st_layer_remove_tree(da, NULL);
	(void)st_layer_remove_tree(db, NULL);
	st_store_unlease(s);
	st_store_free(s);
	free(da);
	free(db);
	return rc < 0 ? cmd_fail(&err, "image diff") : 0;
}

int cmd_image(int argc, char **argv)
{
	if (cmd_wants_help(argc, argv, image_usage))
		return 0;
	if (argc < 2)
		return cmd_usage_error("image", "needs a subcommand");
	if (strcmp(argv[1], "prune") == 0 && argc == 2)
		return image_prune();
	if (strcmp(argv[1], "diff") == 0 && argc == 4)
		return image_diff(argv[2], argv[3]);
	return cmd_usage_error("image", "unknown subcommand or wrong arguments");
}

static const char unpack_usage[] =
        "usage: strata unpack IMAGE DIR\n\n"
        "Writes the image's flattened root filesystem to DIR (which must not exist), as\n"
        "umoci unpack's rootfs.\n";

int cmd_unpack(int argc, char **argv)
{
	struct st_error err = ST_ERROR_INIT;
	struct st_store *s = NULL;
	int rc;

	if (cmd_wants_help(argc, argv, unpack_usage))
		return 0;
	if (argc != 3)
		return cmd_usage_error("unpack", "needs IMAGE and DIR");
	if (cmd_open_store(&s))
		return 1;
	rc = unpack_to(s, argv[1], argv[2], &err);
	st_store_free(s);
	return rc < 0 ? cmd_fail(&err, "unpack") : 0;
}

static const char import_usage[] =
        "usage: strata import [-c INSTRUCTION]... [-m MESSAGE] [--compression gzip|zstd|none]\n"
        "                     SOURCE [NAME[:TAG]]\n\n"
        "Makes a one-layer image of a root filesystem. SOURCE is a directory, a tarball\n"
        "(plain, gzip or zstd) or - for a tarball on stdin. -c/--change applies a Dockerfile\n"
        "instruction to the config (CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL,\n"
        "ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR). Prints the image ID.\n";

static int parse_compression(const char *s, enum st_layer_compression *out)
{
	if (strcmp(s, "gzip") == 0)
		*out = ST_LAYER_COMPRESS_GZIP;
	else if (strcmp(s, "zstd") == 0)
		*out = ST_LAYER_COMPRESS_ZSTD;
	else if (strcmp(s, "none") == 0)
		*out = ST_LAYER_COMPRESS_NONE;
	else
		return -1;
	return 0;
}

static void epoch_from_env(struct st_layer_create_opts *lo)
{
	const char *e = getenv("SOURCE_DATE_EPOCH");
	uint64_t v;

	if (e && *e && st_parse_u64(e, &v) == 0) {
		lo->has_epoch = true;
		lo->source_date_epoch = (int64_t)v;
	}
}

int cmd_import(int argc, char **argv)
{
	static const struct option opts[] = {{"change", required_argument, NULL, 'c'},
	                                     {"message", required_argument, NULL, 'm'},
	                                     {"compression", required_argument, NULL, 'z'},
	                                     {NULL, 0, NULL, 0}};
	struct st_import_opts io = {0};
	struct st_error err = ST_ERROR_INIT;
	struct st_buf name = ST_BUF_INIT;
	struct st_store *s = NULL;
	struct st_descriptor d;
	struct st_digest id;
	const char **changes = calloc((size_t)argc + 1, sizeof(*changes));
	char ids[ST_DIGEST_STR_MAX];
	const char *src;
	int c, rc;

	if (!changes || cmd_wants_help(argc, argv, import_usage)) {
		free(changes);
		return changes ? 0 : 1;
	}
	io.changes = changes;
	while ((c = getopt_long(argc, argv, "c:m:", opts, NULL)) != -1) {
		if (c == 'c')
			changes[io.n_changes++] = optarg;
		else if (c == 'm')
			io.message = optarg;
		else if (c != 'z' || parse_compression(optarg, &io.layer.compression) < 0) {
			free(changes);
			return cmd_usage_error("import", "bad option");
		}
	}
	if (optind >= argc || argc - optind > 2) {
		free(changes);
		return cmd_usage_error("import", "needs SOURCE and optionally NAME[:TAG]");
	}
	epoch_from_env(&io.layer);
	src = argv[optind];
	rc = optind + 1 < argc ? full_name(argv[optind + 1], &name, &err) : 0;
	if (rc == 0 && cmd_open_store(&s) == 0) {
		rc = st_import(s, strcmp(src, "-") == 0 ? NULL : src, 0, &io, &d, &err);
		if (rc == 0 && name.len)
			rc = st_store_tag(s, name.data, &d, &err);
		if (rc == 0)
			rc = st_image_id(s, &d, &id, &err);
		if (rc == 0) {
			st_digest_str(&id, ids);
			printf("%s\n", ids);
		}
		if (rc == 0)
			st_descriptor_release(&d);
		st_store_free(s);
	} else if (rc == 0) {
		rc = -1;
		err.msg[0] = '\0';
	}
	free(changes);
	st_buf_release(&name);
	if (rc < 0)
		return err.msg[0] ? cmd_fail(&err, "import '%s'", src) : 1;
	return 0;
}
