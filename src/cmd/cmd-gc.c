/* cmd-gc.c: `strata gc` and `strata fsck`: the store's mark-and-sweep and its consistency
 * check. */
#include "cmd.h"

#include <stdio.h>

#include "strata/strata.h"

static const char gc_usage[] = "usage: strata gc\n\n"
                               "Removes every blob that no image, snapshot or cache entry "
                               "references,\nand reports the bytes freed.\n";

int cmd_gc(int argc, char **argv)
{
	struct st_error err = ST_ERROR_INIT;
	struct st_gc_stats stats;
	struct st_store *s = NULL;
	int rc;

	if (cmd_wants_help(argc, argv, gc_usage))
		return 0;
	if (argc > 1)
		return cmd_usage_error("gc", "unexpected argument '%s'", argv[1]);
	if (cmd_open_store(&s))
		return 1;
	rc = st_strata_register(s, &err);
	if (rc == 0)
		rc = st_store_gc(s, &stats, &err);
	st_store_free(s);
	if (rc < 0)
		return cmd_fail(&err, "gc");
	printf("removed %llu blobs, %llu temporary files; %.1f MB freed\n",
	       (unsigned long long)stats.blobs_removed, (unsigned long long)stats.tmp_removed,
	       (double)stats.bytes_freed / 1e6);
	return 0;
}

static const char fsck_usage[] = "usage: strata fsck\n\n"
                                 "Re-hashes every blob and checks every reference from the "
                                 "store's images down.\nPrints each problem; exits 1 if there is "
                                 "any.\n";

static void report(const char *problem, void *ctx)
{
	(void)ctx;
	printf("%s\n", problem);
}

int cmd_fsck(int argc, char **argv)
{
	struct st_error err = ST_ERROR_INIT;
	struct st_store *s = NULL;
	int rc;

	if (cmd_wants_help(argc, argv, fsck_usage))
		return 0;
	if (argc > 1)
		return cmd_usage_error("fsck", "unexpected argument '%s'", argv[1]);
	if (cmd_open_store(&s))
		return 1;
	rc = st_strata_register(s, &err);
	if (rc == 0)
		rc = st_store_fsck(s, report, NULL, &err);
	st_store_free(s);
	if (rc < 0)
		return cmd_fail(&err, "fsck");
	if (rc > 0) {
		fprintf(stderr, "strata: fsck: %d problem%s in '%s'\n", rc, rc == 1 ? "" : "s",
		        g_opt.root);
		return 1;
	}
	return 0;
}
