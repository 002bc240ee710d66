/* cmd-build.c: `strata build` and `strata builder prune`. Progress is printed in BuildKit's
 * plain style: a line per step start, then CACHED or DONE with the time, RUN output
 * prefixed. */
#include "cmd.h"

#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "build-progress.h"
#include "strata/strata.h"
#include "util/fs.h"

static const char build_usage[] =
        "usage: strata build [OPTIONS] CONTEXT\n\n"
        "CONTEXT is a directory, or - for a tar (plain, gzip, bzip2, xz, zstd) on stdin; a\n"
        "plain Dockerfile on stdin builds with an empty context.\n\n"
        "  -t, --tag NAME[:TAG]        name the image (several allowed)\n"
        "  -f, --file FILE             the Dockerfile (default CONTEXT/Dockerfile; - for stdin;\n"
        "                              with CONTEXT -, a path inside the tar)\n"
        "      --build-arg K[=V]       set a build argument (K alone: from the environment)\n"
        "      --target STAGE          build up to this stage\n"
        "      --no-cache              run every step\n"
        "      --explain               say why each step that runs is not cached (default:\n"
        "                              the first one only)\n"
        "      --pull                  pull every base image again (else only when missing)\n"
        "      --label K=V             add a label to the image\n"
        "      --network host|none     RUN's network (default host, as BuildKit)\n"
        "      --secret id=ID,src=FILE a file for RUN --mount=type=secret (or env=VAR)\n"
        "      --ssh default           forward $SSH_AUTH_SOCK to RUN --mount=type=ssh\n"
        "      --add-host NAME:IP      a line of RUN's /etc/hosts\n"
        "      --progress auto|plain|tty|quiet\n"
        "                              tty: running steps live at the bottom; auto: tty on a\n"
        "                              terminal, else plain (BuildKit's lines)\n"
        "  -q, --quiet                 print only the image ID\n"
        "      --iidfile FILE          write the image ID to FILE\n"
        "  -o, --output type=T,dest=D  also write the image out: T is oci or docker (an image\n"
        "                              archive; tar=false: a directory), local (its root\n"
        "                              filesystem into directory D) or tar (that as a tar);\n"
        "                              dest=- for stdout; -o DIR means type=local, -o - tar.\n"
        "                              The image is stored and tagged as without it\n"
        "      --compression gzip|zstd|uncompressed\n"
        "                              compression of the layers in the store (default\n"
        "                              uncompressed: push and --output type=oci|docker\n"
        "                              compress them, gzip unless compression= says)\n"
        "      --reproducible          SOURCE_DATE_EPOCH, or 0 when it is unset\n"
        "      --platform P            the host platform only\n"
        "      --cache-to type=local,dest=DIR[,mode=min|max][,tag=T][,ignore-error=true]\n"
        "                              export the build cache as an OCI layout (mode=min,\n"
        "                              the default: the final image's steps; max: all stages)\n"
        "      --cache-from type=local,src=DIR[,tag=T]\n"
        "                              take steps from such a layout (several allowed; a\n"
        "                              missing one is a warning)\n";

struct build_args {
	struct st_build_opts o;
	const char **tags, **bargs, **labels, **secrets, **hosts;
	struct st_build_cache_spec *cache_to, *cache_from;
	const char *iidfile;
	struct st_export_opts output;
	bool quiet, reproducible, has_output;
	enum build_progress_mode progress;
};

static int parse_cache(struct build_args *a, bool to, const char *spec)
{
	struct st_error err = ST_ERROR_INIT;
	struct st_build_cache_spec *c =
	        to ? &a->cache_to[a->o.n_cache_to] : &a->cache_from[a->o.n_cache_from];

	if (st_build_cache_spec_parse(spec, to, c, &err) < 0)
		return cmd_usage_error("build", "--cache-%s '%s': %s", to ? "to" : "from", spec,
		                       err.msg);
	if (to)
		a->o.n_cache_to++;
	else
		a->o.n_cache_from++;
	return 0;
}

static int parse_build(int argc, char **argv, struct build_args *a)
{
	static const struct option opts[] = {{"tag", required_argument, NULL, 't'},
	                                     {"file", required_argument, NULL, 'f'},
	                                     {"build-arg", required_argument, NULL, 'a'},
	                                     {"target", required_argument, NULL, 'T'},
	                                     {"no-cache", no_argument, NULL, 'n'},
	                                     {"label", required_argument, NULL, 'l'},
	                                     {"network", required_argument, NULL, 'N'},
	                                     {"progress", required_argument, NULL, 'p'},
	                                     {"quiet", no_argument, NULL, 'q'},
	                                     {"iidfile", required_argument, NULL, 'i'},
	                                     {"compression", required_argument, NULL, 'z'},
	                                     {"reproducible", no_argument, NULL, 'r'},
	                                     {"platform", required_argument, NULL, 'P'},
	                                     {"pull", no_argument, NULL, 'u'},
	                                     {"secret", required_argument, NULL, 's'},
	                                     {"ssh", required_argument, NULL, 'S'},
	                                     {"add-host", required_argument, NULL, 'H'},
	                                     {"explain", no_argument, NULL, 'x'},
	                                     {"cache-to", required_argument, NULL, 'C'},
	                                     {"cache-from", required_argument, NULL, 'F'},
	                                     {"output", required_argument, NULL, 'o'},
	                                     {NULL, 0, NULL, 0}};
	struct st_platform host, want;
	struct st_error err = ST_ERROR_INIT;
	int c;

	/* layers stay plain tar in the store, as Docker's and containers-storage's local stores
	 * keep them; push and --output type=oci|docker compress them (docs/internals/build.md) */
	a->o.layer.compression = ST_LAYER_COMPRESS_NONE;
	while ((c = getopt_long(argc, argv, "t:f:qo:", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			a->tags[a->o.n_tags++] = optarg;
			break;
		case 'f':
			a->o.dockerfile = optarg;
			break;
		case 'a':
			a->bargs[a->o.n_build_args++] = optarg;
			break;
		case 'T':
			a->o.target = optarg;
			break;
		case 'n':
			a->o.no_cache = true;
			break;
		case 'x':
			a->o.explain = true;
			break;
		case 'u':
			a->o.pull = true;
			break;
		case 's':
			a->secrets[a->o.n_secrets++] = optarg;
			break;
		case 'S':
			if (strcmp(optarg, "default") != 0 || !getenv("SSH_AUTH_SOCK"))
				return cmd_usage_error("build", "--ssh: only \"default\" "
				                                "(with SSH_AUTH_SOCK set)");
			a->o.ssh_sock = getenv("SSH_AUTH_SOCK");
			break;
		case 'H':
			a->hosts[a->o.n_add_hosts++] = optarg;
			break;
		case 'C':
		case 'F':
			if (parse_cache(a, c == 'C', optarg))
				return 2;
			break;
		case 'l':
			a->labels[a->o.n_labels++] = optarg;
			break;
		case 'N':
			if (strcmp(optarg, "none") != 0 && strcmp(optarg, "host") != 0 &&
			    strcmp(optarg, "default") != 0)
				return cmd_usage_error("build", "--network must be host or none");
			a->o.network_none = strcmp(optarg, "none") == 0;
			break;
		case 'p':
			if (build_progress_parse(optarg, &a->progress) < 0)
				return cmd_usage_error(
				        "build", "--progress must be auto, plain, tty or quiet");
			break;
		case 'q':
			a->quiet = true;
			break;
		case 'i':
			a->iidfile = optarg;
			break;
		case 'o':
			if (a->has_output)
				return cmd_usage_error("build", "only one --output");
			if (st_export_parse(optarg, &a->output, &err) < 0)
				return cmd_usage_error("build", "--output %s: %s", optarg, err.msg);
			a->has_output = true;
			break;
		case 'z':
			/* BuildKit's names: compression=gzip|zstd|uncompressed */
			if (strcmp(optarg, "zstd") == 0)
				a->o.layer.compression = ST_LAYER_COMPRESS_ZSTD;
			else if (strcmp(optarg, "gzip") == 0)
				a->o.layer.compression = ST_LAYER_COMPRESS_GZIP;
			else if (strcmp(optarg, "uncompressed") == 0)
				a->o.layer.compression = ST_LAYER_COMPRESS_NONE;
			else
				return cmd_usage_error(
				        "build",
				        "--compression must be gzip, zstd or uncompressed");
			break;
		case 'r':
			a->reproducible = true;
			break;
		case 'P':
			st_platform_host(&host);
			if (st_platform_parse(optarg, &want, NULL) < 0 ||
			    st_platform_rank(&host, want.os, want.arch, want.variant) != 0)
				return cmd_usage_error("build",
				                       "--platform %s: only the host platform "
				                       "(%s/%s) can be built here",
				                       optarg, host.os, host.arch);
			break;
		default:
			return cmd_usage_error("build", "bad option");
		}
	}
	if (optind != argc - 1)
		return cmd_usage_error("build", "needs exactly one CONTEXT (a directory or -)");
	a->o.context = argv[optind];
	if (strcmp(a->o.context, "-") == 0) {
		if (a->o.dockerfile && strcmp(a->o.dockerfile, "-") == 0)
			return cmd_usage_error("build",
			                       "-f - and context - cannot both read stdin");
		a->o.context = NULL; /* a tar on stdin */
		a->o.context_tar_fd = 0;
	}
	if (a->has_output && a->quiet && strcmp(a->output.dest, "-") == 0)
		return cmd_usage_error("build", "-q prints the image ID on stdout, where "
		                                "--output dest=- writes the tar");
	return 0;
}

static int read_stdin_dockerfile(struct build_args *a, struct st_buf *buf, struct st_error *err)
{
	if (!a->o.dockerfile || strcmp(a->o.dockerfile, "-") != 0)
		return 0;
	if (st_read_all(0, buf, 32u << 20, err) < 0)
		return -1;
	a->o.dockerfile = NULL;
	a->o.dockerfile_data = buf->data;
	a->o.dockerfile_len = buf->len;
	return 0;
}

static void epoch(struct build_args *a)
{
	const char *e = getenv("SOURCE_DATE_EPOCH");
	uint64_t v;

	if (e && *e && st_parse_u64(e, &v) == 0) {
		a->o.layer.has_epoch = true;
		a->o.layer.source_date_epoch = (int64_t)v;
	} else if (a->reproducible) {
		a->o.layer.has_epoch = true;
		a->o.layer.source_date_epoch = 0;
	}
}

int cmd_build(int argc, char **argv)
{
	struct build_args a = {0};
	struct st_error err = ST_ERROR_INIT;
	struct st_buf df = ST_BUF_INIT;
	struct build_progress p;
	struct st_store *s = NULL;
	struct st_export *x = NULL;
	struct st_descriptor out;
	struct st_digest id;
	char ids[ST_DIGEST_STR_MAX];
	int rc;

	if (cmd_wants_help(argc, argv, build_usage))
		return 0;
	a.tags = calloc((size_t)argc, sizeof(char *));
	a.bargs = calloc((size_t)argc, sizeof(char *));
	a.labels = calloc((size_t)argc, sizeof(char *));
	a.secrets = calloc((size_t)argc, sizeof(char *));
	a.hosts = calloc((size_t)argc, sizeof(char *));
	a.cache_to = calloc((size_t)argc, sizeof(*a.cache_to));
	a.cache_from = calloc((size_t)argc, sizeof(*a.cache_from));
	rc = a.tags && a.bargs && a.labels && a.secrets && a.hosts && a.cache_to && a.cache_from
	             ? parse_build(argc, argv, &a)
	             : 1;
	a.o.cache_to = a.cache_to;
	a.o.cache_from = a.cache_from;
	a.o.secrets = a.secrets;
	a.o.add_hosts = a.hosts;
	a.o.tags = a.tags;
	a.o.build_args = a.bargs;
	a.o.labels = a.labels;
	build_progress_start(&p, a.quiet ? PROGRESS_QUIET : a.progress, stderr);
	a.o.progress = build_progress_event;
	a.o.progress_ctx = &p;
	epoch(&a);
	if (rc == 0 && read_stdin_dockerfile(&a, &df, &err) < 0)
		rc = cmd_fail(&err, "build: read the Dockerfile from stdin");
	/* a bad or unwritable destination fails before the build */
	if (rc == 0 && a.has_output && st_export_open(&a.output, 1, &x, &err) < 0)
		rc = cmd_fail(&err, "build --output");
	if (rc == 0 && cmd_open_store(&s))
		rc = 1;
	if (rc == 0 && st_build(s, &a.o, &out, &err) < 0) {
		build_progress_finish(&p, false);
		rc = cmd_fail(&err, "build");
	} else {
		build_progress_finish(&p, rc == 0);
	}
	if (rc == 0 && st_image_id(s, &out, &id, &err) < 0)
		rc = cmd_fail(&err, "build");
	if (rc == 0 && x && st_export_write(x, s, &out, a.o.tags, a.o.n_tags, &err) < 0) {
		rc = cmd_fail(&err, "build");
		st_descriptor_release(&out);
	}
	if (rc == 0) {
		st_digest_str(&id, ids);
		if (a.quiet)
			printf("%s\n", ids);
		else
			fprintf(stderr, "writing image %s done\n", ids);
		for (size_t i = 0; !a.quiet && i < a.o.n_tags; i++)
			fprintf(stderr, "naming to %s done\n", a.o.tags[i]);
		if (x && !a.quiet)
			fprintf(stderr, "exporting to %s done\n", a.output.dest);
		if (a.iidfile) {
			FILE *f = fopen(a.iidfile, "w");
			if (!f || fprintf(f, "%s", ids) < 0 || fclose(f) != 0)
				rc = 1;
		}
		st_descriptor_release(&out);
	}
	st_export_free(x);
	st_export_opts_release(&a.output);
	st_store_free(s);
	st_buf_release(&df);
	free(a.tags);
	free(a.bargs);
	free(a.labels);
	free(a.secrets);
	free(a.hosts);
	for (size_t i = 0; i < a.o.n_cache_to; i++)
		st_build_cache_spec_release(&a.cache_to[i]);
	for (size_t i = 0; i < a.o.n_cache_from; i++)
		st_build_cache_spec_release(&a.cache_from[i]);
	free(a.cache_to);
	free(a.cache_from);
	return rc;
}

static const char builder_usage[] = "usage: strata builder prune\n\n"
                                    "Drops the build cache; the blobs only it used go with the "
                                    "gc that follows.\n";

int cmd_builder(int argc, char **argv)
{
	struct st_error err = ST_ERROR_INIT;
	struct st_gc_stats stats = {0};
	struct st_store *s = NULL;
	uint64_t n = 0;
	int rc;

	if (cmd_wants_help(argc, argv, builder_usage))
		return 0;
	if (argc != 2 || strcmp(argv[1], "prune") != 0)
		return cmd_usage_error("builder", "the one subcommand is prune");
	if (cmd_open_store(&s))
		return 1;
	rc = st_build_prune(s, &n, &err);
	if (rc == 0)
		rc = st_strata_register(s, &err);
	if (rc == 0)
		rc = st_store_gc(s, &stats, &err);
	st_store_free(s);
	if (rc < 0)
		return cmd_fail(&err, "builder prune");
	printf("Deleted %llu build cache entries\nTotal reclaimed space: %.1f MB\n",
	       (unsigned long long)n, (double)stats.bytes_freed / 1e6);
	return 0;
}
