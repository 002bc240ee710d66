/* tests/tools/layer-tool.c: drives the layer module from the shell (benchmarks, manual checks)
 * until the CLI has import/unpack verbs.
 *   layer-tool create [-u] [-o OLD] [-c gzip|zstd|none] [-l LEVEL] [-t THREADS] [-e EPOCH]
 *                     DIR OUT|-
 *   layer-tool apply [-O] [-n] [-t THREADS] LAYER DIR  (-O: overlay form, -n: DIR must not exist,
 *                                                     -t: threads creating files) */
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "strata/layer.h"

static int usage(void)
{
	fprintf(stderr, "usage: layer-tool create [-u] [-o OLD] [-c gzip|zstd|none] [-l LEVEL] "
	                "[-t THREADS] [-e EPOCH] DIR OUT|-\n"
	                "       layer-tool apply [-O] [-n] [-t THREADS] LAYER DIR\n");
	return 2;
}

static int create(int argc, char **argv)
{
	struct st_layer_create_opts o = {0};
	struct st_layer_result r;
	struct st_error err = ST_ERROR_INIT;
	struct st_layer_sink sink;
	const char *old = NULL;
	char d1[ST_DIGEST_STR_MAX], d2[ST_DIGEST_STR_MAX];
	bool upper = false;
	int fd, c, rc;

	while ((c = getopt(argc, argv, "uo:c:l:t:e:")) != -1) {
		switch (c) {
		case 'u':
			upper = true;
			break;
		case 'o':
			old = optarg;
			break;
		case 'c':
			o.compression = strcmp(optarg, "zstd") == 0   ? ST_LAYER_COMPRESS_ZSTD
			                : strcmp(optarg, "none") == 0 ? ST_LAYER_COMPRESS_NONE
			                                              : ST_LAYER_COMPRESS_GZIP;
			break;
		case 'l':
			o.level = (int)strtol(optarg, NULL, 10);
			break;
		case 't':
			o.threads = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'e':
			o.has_epoch = true;
			o.source_date_epoch = strtoll(optarg, NULL, 10);
			break;
		default:
			return usage();
		}
	}
	if (argc - optind != 2)
		return usage();
	fd = strcmp(argv[optind + 1], "-") == 0
	             ? 1
	             : open(argv[optind + 1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		perror(argv[optind + 1]);
		return 1;
	}
	st_layer_sink_fd(&fd, &sink);
	rc = upper ? st_layer_create_from_upper(argv[optind], &o, &sink, &r, &err)
	           : st_layer_create_from_diff(old, argv[optind], &o, &sink, &r, &err);
	if (fd != 1)
		close(fd);
	if (rc < 0) {
		fprintf(stderr, "layer-tool: create: %s\n", err.msg);
		return 1;
	}
	st_digest_str(&r.digest, d1);
	st_digest_str(&r.diff_id, d2);
	fprintf(stderr,
	        "digest %s\ndiff_id %s\nsize %llu\ntar_size %llu\nentries %llu\n"
	        "media_type %s\ncompressor %s\nlevel %d\n",
	        d1, d2, (unsigned long long)r.size, (unsigned long long)r.tar_size,
	        (unsigned long long)r.n_entries, r.media_type, r.compressor, r.level);
	return 0;
}

static int apply(int argc, char **argv)
{
	struct st_layer_apply_opts o = {0};
	struct st_layer_apply_stats s;
	struct st_error err = ST_ERROR_INIT;
	char d1[ST_DIGEST_STR_MAX], d2[ST_DIGEST_STR_MAX];
	bool fresh = false;
	int fd, c, rc;

	while ((c = getopt(argc, argv, "Ont:")) != -1) {
		switch (c) {
		case 'O':
			o.mode = ST_LAYER_APPLY_OVERLAY;
			break;
		case 't':
			o.threads = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'n':
			fresh = true;
			break;
		default:
			return usage();
		}
	}
	if (argc - optind != 2)
		return usage();
	fd = strcmp(argv[optind], "-") == 0 ? 0 : open(argv[optind], O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		perror(argv[optind]);
		return 1;
	}
	rc = fresh ? st_layer_extract_new(argv[optind + 1], fd, &o, &s, &err)
	           : st_layer_apply(argv[optind + 1], fd, &o, &s, &err);
	if (fd)
		close(fd);
	if (rc < 0) {
		fprintf(stderr, "layer-tool: apply: %s\n", err.msg);
		return 1;
	}
	st_digest_str(&s.digest, d1);
	st_digest_str(&s.diff_id, d2);
	fprintf(stderr, "digest %s\ndiff_id %s\ntar_size %llu\nentries %llu\n", d1, d2,
	        (unsigned long long)s.tar_size, (unsigned long long)s.n_entries);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	if (strcmp(argv[1], "create") == 0)
		return create(argc - 1, argv + 1);
	if (strcmp(argv[1], "apply") == 0)
		return apply(argc - 1, argv + 1);
	return usage();
}
