/* cmd-images.c: `strata images`, `inspect` and `history`: what the store holds, rendered like
 * the docker CLI renders it. */
#include "cmd.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "strata/strata.h"
#include "util/json.h"

struct row {
	char repo[300], tag[140], id[80], digest[80], created[40];
	int64_t created_at;
	uint64_t size;
};

static int64_t parse_time(const char *s)
{
	struct tm tm = {0};

	if (!s || !strptime(s, "%Y-%m-%dT%H:%M:%S", &tm))
		return 0;
	return (int64_t)timegm(&tm);
}

/* "3 minutes ago", as Docker's units.HumanDuration */
static void ago(int64_t t, char *out, size_t len)
{
	int64_t d = (int64_t)time(NULL) - t;

	if (!t)
		snprintf(out, len, "N/A");
	else if (d < 1)
		snprintf(out, len, "Less than a second ago");
	else if (d < 60)
		snprintf(out, len, "%lld seconds ago", (long long)d);
	else if (d < 3600)
		snprintf(out, len, "%lld minute%s ago", (long long)(d / 60), d < 120 ? "" : "s");
	else if (d < 86400 * 2)
		snprintf(out, len, "%lld hour%s ago", (long long)(d / 3600), d < 7200 ? "" : "s");
	else if (d < 86400 * 14)
		snprintf(out, len, "%lld days ago", (long long)(d / 86400));
	else if (d < 86400 * 60)
		snprintf(out, len, "%lld weeks ago", (long long)(d / 86400 / 7));
	else if (d < 86400 * 365 * 2)
		snprintf(out, len, "%lld months ago", (long long)(d / 86400 / 30));
	else
		snprintf(out, len, "%lld years ago", (long long)(d / 86400 / 365));
}

static void human_size(uint64_t n, char *out, size_t len)
{
	static const char *const u[] = {"B", "kB", "MB", "GB", "TB"};
	double v = (double)n;
	size_t i = 0;

	while (v >= 1000 && i < 4) {
		v /= 1000;
		i++;
	}
	snprintf(out, len, i ? "%.3g%s" : "%.0f%s", v, u[i]);
}

static void split_name(const char *name, struct row *r)
{
	struct st_ref ref;
	struct st_buf b = ST_BUF_INIT;

	snprintf(r->repo, sizeof(r->repo), "<none>");
	snprintf(r->tag, sizeof(r->tag), "<none>");
	if (!name || st_ref_parse(name, &ref, NULL) < 0)
		return;
	if (st_ref_familiar(&ref, ST_REF_FORMAT_NO_TAG | ST_REF_FORMAT_NO_DIGEST, &b, NULL) == 0)
		snprintf(r->repo, sizeof(r->repo), "%s", b.data);
	if (ref.tag)
		snprintf(r->tag, sizeof(r->tag), "%s", ref.tag);
	st_buf_release(&b);
	st_ref_release(&ref);
}

static int fill_row(struct st_store *s, const struct st_descriptor *d, struct row *r,
                    struct st_error *err)
{
	struct st_image img;
	int rc = st_image_load(s, d, NULL, &img, err);

	if (rc < 0)
		return rc;
	split_name(st_descriptor_annotation(d, ST_ANNOT_REF_NAME), r);
	st_digest_str(&img.manifest.config.digest, r->id);
	st_digest_str(&d->digest, r->digest);
	r->created_at = parse_time(img.config.created);
	ago(r->created_at, r->created, sizeof(r->created));
	r->size = img.manifest.config.size;
	for (size_t i = 0; i < img.manifest.n_layers; i++)
		r->size += img.manifest.layers[i].size;
	st_image_release(&img);
	return 0;
}

static int print_json(const struct row *rows, size_t n)
{
	json_t *arr = json_array();
	struct st_buf b = ST_BUF_INIT;

	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:I}", "Repository",
		                                     rows[i].repo, "Tag", rows[i].tag, "ID",
		                                     rows[i].id, "Digest", rows[i].digest,
		                                     "CreatedSince", rows[i].created, "CreatedAt",
		                                     (json_int_t)rows[i].created_at, "Size",
		                                     (json_int_t)rows[i].size));
	st_json_dump(arr, &b, NULL);
	puts(b.data);
	st_buf_release(&b);
	json_decref(arr);
	return 0;
}

static void print_table(const struct row *rows, size_t n, bool quiet, bool digests)
{
	if (!quiet)
		printf(digests ? "%-40s %-16s %-72s %-14s %-18s %s\n"
		               : "%-40s %-16s %.0s%-14s %-18s %s\n",
		       "REPOSITORY", "TAG", "DIGEST", "IMAGE ID", "CREATED", "SIZE");
	for (size_t i = 0; i < n; i++) {
		char size[32];
		bool dup = false;
		if (quiet) {
			for (size_t k = 0; k < i; k++)
				dup = dup || strcmp(rows[k].id, rows[i].id) == 0;
			if (!dup)
				printf("%.12s\n", rows[i].id + 7);
			continue;
		}
		human_size(rows[i].size, size, sizeof(size));
		printf(digests ? "%-40s %-16s %-72s %-14.12s %-18s %s\n"
		               : "%-40s %-16s %.0s%-14.12s %-18s %s\n",
		       rows[i].repo, rows[i].tag, rows[i].digest, rows[i].id + 7, rows[i].created,
		       size);
	}
}

static int cmp_rows(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	if (x->created_at != y->created_at)
		return x->created_at < y->created_at ? 1 : -1;
	return strcmp(x->repo, y->repo);
}

static const char images_usage[] =
        "usage: strata images [-q] [--digests] [--format table|json]\n\n"
        "Lists the store's images: repository, tag, image ID (config digest), created, size\n"
        "(compressed layers and config). Untagged images show as <none>.\n";

int cmd_images(int argc, char **argv)
{
	static const struct option opts[] = {{"quiet", no_argument, NULL, 'q'},
	                                     {"digests", no_argument, NULL, 'd'},
	                                     {"format", required_argument, NULL, 'f'},
	                                     {NULL, 0, NULL, 0}};
	struct st_error err = ST_ERROR_INIT;
	struct st_descriptor *d = NULL;
	struct st_store *s = NULL;
	bool quiet = false, digests = false, json = false;
	struct row *rows;
	size_t n = 0, nr = 0;
	int c, rc;

	if (cmd_wants_help(argc, argv, images_usage))
		return 0;
	while ((c = getopt_long(argc, argv, "qf:", opts, NULL)) != -1) {
		if (c == 'q')
			quiet = true;
		else if (c == 'd')
			digests = true;
		else if (c == 'f' && (strcmp(optarg, "json") == 0 || strcmp(optarg, "table") == 0))
			json = strcmp(optarg, "json") == 0;
		else
			return cmd_usage_error("images", "bad option");
	}
	if (optind < argc)
		return cmd_usage_error("images", "unexpected argument '%s'", argv[optind]);
	if (cmd_open_store(&s))
		return 1;
	rc = st_store_list(s, &d, &n, &err);
	if (rc < 0) {
		st_store_free(s);
		return cmd_fail(&err, "images");
	}
	rows = calloc(n + 1, sizeof(*rows));
	for (size_t i = 0; rows && i < n; i++) {
		struct st_error e2 = ST_ERROR_INIT;
		if (fill_row(s, &d[i], &rows[nr], &e2) == 0)
			nr++;
		else
			fprintf(stderr, "strata: warning: %s\n", e2.msg);
	}
	if (rows) {
		qsort(rows, nr, sizeof(*rows), cmp_rows);
		if (json)
			print_json(rows, nr);
		else
			print_table(rows, nr, quiet, digests);
	}
	free(rows);
	st_store_entries_free(d, n);
	st_store_free(s);
	return rows ? 0 : 1;
}

/* ---- inspect ---- */

static json_t *load_json_blob(struct st_store *s, const struct st_descriptor *d, size_t max,
                              struct st_error *err)
{
	struct st_buf b = ST_BUF_INIT;
	json_t *j = NULL;

	if (st_image_read(s, d, max, &b, err) == 0)
		(void)st_json_parse(b.data, b.len, "blob", &j, err);
	st_buf_release(&b);
	return j;
}

static json_t *names_of(struct st_store *s, const struct st_digest *dg)
{
	struct st_descriptor *d = NULL;
	json_t *arr = json_array();
	size_t n = 0;

	if (st_store_list(s, &d, &n, NULL) < 0)
		return arr;
	for (size_t i = 0; i < n; i++) {
		const char *nm = st_descriptor_annotation(&d[i], ST_ANNOT_REF_NAME);
		if (nm && st_digest_equal(&d[i].digest, dg))
			json_array_append_new(arr, json_string(nm));
	}
	st_store_entries_free(d, n);
	return arr;
}

static int inspect_one(struct st_store *s, const char *spec, json_t *out, struct st_error *err)
{
	struct st_descriptor d;
	struct st_image img;
	char id[ST_DIGEST_STR_MAX], dg[ST_DIGEST_STR_MAX];
	json_t *o, *m, *cfg;
	int rc;

	rc = st_image_lookup(s, spec, &d, err);
	if (rc < 0)
		return rc;
	rc = st_image_load(s, &d, NULL, &img, err);
	if (rc < 0) {
		st_descriptor_release(&d);
		return rc;
	}
	st_digest_str(&img.manifest.config.digest, id);
	st_digest_str(&img.desc.digest, dg);
	m = load_json_blob(s, &img.desc, ST_MAX_MANIFEST_SIZE, err);
	cfg = load_json_blob(s, &img.manifest.config, ST_MAX_CONFIG_SIZE, err);
	o = json_pack("{s:s,s:s,s:s,s:o,s:o*,s:o*}", "Id", id, "Digest", dg, "MediaType",
	              img.desc.media_type, "RepoTags", names_of(s, &d.digest), "Manifest", m,
	              "Config", cfg);
	if (!o || !m || !cfg)
		rc = err->msg[0] ? -ST_EINVALID : st_error_set(err, ST_ENOMEM, "out of memory");
	else
		json_array_append_new(out, o);
	st_image_release(&img);
	st_descriptor_release(&d);
	return rc;
}

static const char inspect_usage[] =
        "usage: strata inspect IMAGE...\n\n"
        "Prints a JSON array with, for each image, its ID, manifest digest, names, manifest\n"
        "and config.\n";

int cmd_inspect(int argc, char **argv)
{
	struct st_error err = ST_ERROR_INIT;
	struct st_store *s = NULL;
	json_t *out = json_array();
	struct st_buf b = ST_BUF_INIT;
	int rc = 0;

	if (cmd_wants_help(argc, argv, inspect_usage))
		return 0;
	if (argc < 2)
		return cmd_usage_error("inspect", "needs at least one image");
	if (cmd_open_store(&s))
		return 1;
	for (int i = 1; i < argc && rc == 0; i++)
		if (inspect_one(s, argv[i], out, &err) < 0)
			rc = cmd_fail(&err, "inspect '%s'", argv[i]);
	if (rc == 0 && json_dumpb(out, NULL, 0, 0) > 0) {
		char *txt = json_dumps(out, JSON_INDENT(4) | JSON_PRESERVE_ORDER);
		if (txt)
			puts(txt);
		free(txt);
	}
	st_buf_release(&b);
	json_decref(out);
	st_store_free(s);
	return rc;
}

/* ---- history ---- */

static const char history_usage[] =
        "usage: strata history [--no-trunc] IMAGE\n\n"
        "Shows the image's history, newest first: created, created by, layer size, comment.\n";

int cmd_history(int argc, char **argv)
{
	static const struct option opts[] = {{"no-trunc", no_argument, NULL, 'n'},
	                                     {NULL, 0, NULL, 0}};
	struct st_error err = ST_ERROR_INIT;
	struct st_store *s = NULL;
	struct st_image img;
	bool trunc = true;
	size_t layer;
	int c;

	if (cmd_wants_help(argc, argv, history_usage))
		return 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'n')
			return cmd_usage_error("history", "bad option");
		trunc = false;
	}
	if (optind != argc - 1)
		return cmd_usage_error("history", "needs exactly one image");
	if (cmd_open_store(&s))
		return 1;
	if (st_image_open(s, argv[optind], NULL, &img, &err) < 0) {
		st_store_free(s);
		return cmd_fail(&err, "history '%s'", argv[optind]);
	}
	printf("%-18s %-46s %-10s %s\n", "CREATED", "CREATED BY", "SIZE", "COMMENT");
	layer = img.manifest.n_layers;
	for (size_t i = img.config.n_history; i-- > 0;) {
		const struct st_history *h = &img.config.history[i];
		char when[40], size[32] = "0B";
		const char *by = h->created_by ? h->created_by : "";
		ago(parse_time(h->created), when, sizeof(when));
		if (!h->empty_layer && layer > 0)
			human_size(img.manifest.layers[--layer].size, size, sizeof(size));
		if (trunc && strlen(by) > 45)
			printf("%-18s %-.42s... %-10s %s\n", when, by, size,
			       h->comment ? h->comment : "");
		else
			printf("%-18s %-46s %-10s %s\n", when, by, size,
			       h->comment ? h->comment : "");
	}
	st_image_release(&img);
	st_store_free(s);
	return 0;
}
