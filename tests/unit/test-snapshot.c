/* test-snapshot.c: snapshots are extracted once, verified, shared, held and swept. */
#include "unit.h"

#include <sys/stat.h>
#include <unistd.h>

#include "strata/strata.h"

struct fx {
	char *dir;
	struct st_store *s;
	struct st_descriptor img;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct st_import_opts io = {0};
	char path[600];

	f->dir = unit_mkdtemp();
	snprintf(path, sizeof(path), "%s/src", f->dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/src/hello", f->dir);
	unit_write_file(path, "hello\n", 6);
	snprintf(path, sizeof(path), "%s/root", f->dir);
	assert_int_equal(st_store_open(path, &f->s, NULL), 0);
	assert_int_equal(st_strata_register(f->s, NULL), 0);
	snprintf(path, sizeof(path), "%s/src", f->dir);
	assert_int_equal(st_import(f->s, path, -1, &io, &f->img, NULL), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	st_descriptor_release(&f->img);
	st_store_free(f->s);
	unit_rmtree(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static void prepare(struct fx *f, struct st_snapshot_chain *c, int want_rc)
{
	struct st_error err = ST_ERROR_INIT;
	struct st_image img;

	assert_int_equal(st_image_load(f->s, &f->img, NULL, &img, NULL), 0);
	assert_int_equal(st_snapshot_prepare(f->s, &img, c, &err), want_rc);
	st_image_release(&img);
}

static void extracts_once_and_shares(void **state)
{
	struct fx *f = *state;
	struct st_snapshot_chain c1, c2;
	char path[700];
	struct stat a, b;

	prepare(f, &c1, 0);
	assert_int_equal(c1.n, 1);
	snprintf(path, sizeof(path), "%s/hello", c1.dirs[0]);
	assert_int_equal(stat(path, &a), 0);
	prepare(f, &c2, 0);
	assert_string_equal(c1.dirs[0], c2.dirs[0]);
	assert_int_equal(stat(path, &b), 0);
	assert_true(a.st_ino == b.st_ino); /* not extracted again */
	/* each snapshot's tree is placed apart by ext4's allocator, where the fs can */
	snprintf(path, sizeof(path), "%s/root/snapshots", f->dir);
	if (unit_can_topdir(f->dir))
		assert_int_equal(unit_topdir_flag(path), 1);
	st_snapshot_chain_release(&c1);
	st_snapshot_chain_release(&c2);
}

static void gc_keeps_held_and_sweeps_unreferenced(void **state)
{
	struct fx *f = *state;
	struct st_snapshot_chain c;
	struct st_gc_stats stats;
	struct stat st;

	prepare(f, &c, 0);
	assert_int_equal(st_snapshot_hold(f->s, "ctr-1", &c, NULL), 0);
	assert_int_equal(st_store_remove_image(f->s, &f->img.digest, NULL), 1);
	assert_int_equal(st_store_gc(f->s, &stats, NULL), 0);
	assert_int_equal(stat(c.dirs[0], &st), 0); /* held */
	assert_int_equal(st_snapshot_unhold(f->s, "ctr-1", NULL), 0);
	assert_int_equal(st_store_gc(f->s, &stats, NULL), 0);
	assert_int_equal(stat(c.dirs[0], &st), -1); /* swept */
	assert_int_equal(st_snapshot_hold(f->s, "../x", &c, NULL), -ST_EINVALID);
	st_snapshot_chain_release(&c);
}

static void a_corrupt_layer_leaves_no_snapshot(void **state)
{
	struct fx *f = *state;
	struct st_snapshot_chain c = {0};
	struct st_image img;
	struct st_buf path = ST_BUF_INIT;
	char cmd[800];

	assert_int_equal(st_image_load(f->s, &f->img, NULL, &img, NULL), 0);
	assert_int_equal(st_store_blob_path(f->s, &img.manifest.layers[0].digest, &path, NULL), 0);
	snprintf(cmd, sizeof(cmd), "chmod u+w '%s' && printf x >> '%s'", path.data, path.data);
	assert_int_equal(system(cmd), 0);
	assert_true(st_snapshot_prepare(f->s, &img, &c, NULL) < 0);
	snprintf(cmd, sizeof(cmd), "[ -z \"$(ls '%s/root/snapshots')\" ]", f->dir);
	assert_int_equal(system(cmd), 0);
	st_image_release(&img);
	st_buf_release(&path);
}

/* The same tar compressed otherwise: a valid layer with the right diffID but another digest. It
 * is refused naming the manifest's digest, and no snapshot appears. */
static void a_layer_with_another_digest_is_refused_naming_it(void **state)
{
	struct fx *f = *state;
	struct st_snapshot_chain c = {0};
	struct st_error err = ST_ERROR_INIT;
	struct st_image img;
	struct st_buf path = ST_BUF_INIT;
	char cmd[1800], dg[ST_DIGEST_STR_MAX];

	assert_int_equal(st_image_load(f->s, &f->img, NULL, &img, NULL), 0);
	assert_int_equal(st_store_blob_path(f->s, &img.manifest.layers[0].digest, &path, NULL), 0);
	snprintf(cmd, sizeof(cmd),
	         "set -e; gzip -dc '%s' | gzip -9 > '%s.new'; chmod u+w '%s'; mv '%s.new' '%s'",
	         path.data, path.data, path.data, path.data, path.data);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(st_snapshot_prepare(f->s, &img, &c, &err), -ST_EDIGEST);
	st_digest_str(&img.manifest.layers[0].digest, dg);
	assert_non_null(strstr(err.msg, dg));
	assert_non_null(strstr(err.msg, "does not match its digest"));
	snprintf(cmd, sizeof(cmd), "[ -z \"$(ls '%s/root/snapshots')\" ]", f->dir);
	assert_int_equal(system(cmd), 0);
	st_image_release(&img);
	st_buf_release(&path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(extracts_once_and_shares, setup, teardown),
	        cmocka_unit_test_setup_teardown(gc_keeps_held_and_sweeps_unreferenced, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(a_corrupt_layer_leaves_no_snapshot, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(a_layer_with_another_digest_is_refused_naming_it,
	                                        setup, teardown),
	};
	return cmocka_run_group_tests_name("snapshot", tests, NULL, NULL);
}
