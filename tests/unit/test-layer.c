/* test-layer.c: creating layers. Output checked by reference tools (gzip -t, zstd -t,
 * sha256sum, Python's tarfile in streaming mode), determinism across runs, thread counts and
 * SOURCE_DATE_EPOCH, overlay upper dirs and two-tree diffs. */
#include "unit.h"

#include <errno.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>

#include "layer-util.h"

struct env {
	char *dir;
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	e->dir = unit_mkdtemp();
	*state = e;
	return e->dir ? 0 : -1;
}

static int teardown(void **state)
{
	struct env *e = *state;

	unit_rmtree(e->dir);
	free(e->dir);
	free(e);
	return 0;
}

static void put(const char *dir, const char *name, const char *content)
{
	char *p = lu_path(dir, name);

	unit_write_file(p, content, strlen(content));
	free(p);
}

/* A tree exercising every entry kind; mtimes set from `mtime`. */
static void make_tree(const char *root, time_t mtime)
{
	char *p;
	size_t big_len = 3 * ST_LAYER_GZIP_BLOCK + 12345;
	char *big = malloc(big_len);
	uint32_t x = 12345;

	assert_int_equal(mkdir(root, 0755), 0);
	for (size_t i = 0; i < big_len; i++) {
		x = x * 1103515245u + 12345u; /* compressible but not trivially */
		big[i] = (char)('a' + ((x >> 16) % 7));
	}
	p = lu_path(root, "big");
	unit_write_file(p, big, big_len);
	free(p);
	p = lu_path(root, "exact");
	unit_write_file(p, big, 2 * ST_LAYER_GZIP_BLOCK);
	free(p);
	/* bytes spread over all values: the gzip writer stores such blocks (flat-104), between
	 * blocks it deflates */
	for (size_t i = 0; i < big_len; i++) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		big[i] = (char)(x >> 24);
	}
	p = lu_path(root, "noise");
	unit_write_file(p, big, big_len);
	free(p);
	free(big);
	put(root, "hello", "hello world\n");
	p = lu_path(root, "dir");
	assert_int_equal(mkdir(p, 0755), 0);
	free(p);
	put(root, "dir/inner", "inner\n");
	p = lu_path(root, "dir/link-to-inner");
	assert_int_equal(symlink("inner", p), 0);
	free(p);
	{
		char *a = lu_path(root, "hello"), *b = lu_path(root, "zz-hardlink");
		assert_int_equal(link(a, b), 0);
		free(a);
		free(b);
	}
	p = lu_path(root, "fifo");
	assert_int_equal(mkfifo(p, 0600), 0);
	free(p);
	put(root, "suid", "#!/bin/sh\n");
	p = lu_path(root, "suid");
	assert_int_equal(chmod(p, 04755), 0);
	assert_int_equal(setxattr(p, "user.test", "value", 5, 0), 0);
	free(p);
	p = lu_path(root, "sticky");
	assert_int_equal(mkdir(p, 0755), 0);
	assert_int_equal(chmod(p, 01777), 0);
	free(p);
	{
		const char *argv[] = {"find", root, "-exec", "touch", "-h",
		                      "-d",   NULL, "{}",    "+",     NULL};
		char at[32];
		(void)snprintf(at, sizeof(at), "@%lld", (long long)mtime);
		argv[6] = at;
		assert_int_equal(lu_run(argv, NULL), 0);
	}
}

static void create_to_file(const char *old, const char *tree, bool upper,
                           const struct st_layer_create_opts *o, const char *out,
                           struct st_layer_result *r)
{
	struct st_error err = ST_ERROR_INIT;
	struct st_layer_sink sink;
	int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int rc;

	assert_true(fd >= 0);
	st_layer_sink_fd(&fd, &sink);
	rc = upper ? st_layer_create_from_upper(tree, o, &sink, r, &err)
	           : st_layer_create_from_diff(old, tree, o, &sink, r, &err);
	if (rc < 0)
		fail_msg("create: %s", err.msg);
	close(fd);
}

static char *py_list(const char *dir, const char *tar)
{
	char *out = lu_path(dir, "list.txt");
	const char *argv[] = {"python3", "-c", layer_py, "list", tar, NULL};
	char *s;

	assert_int_equal(lu_run(argv, out), 0);
	s = lu_slurp(out);
	free(out);
	return s;
}

static void gzip_layer_is_one_member_and_digests_match_reference_tools(void **state)
{
	struct env *e = *state;
	char *tree = lu_path(e->dir, "tree"), *gz = lu_path(e->dir, "l.tgz");
	char *tar = lu_path(e->dir, "l.tar"), *tmp = lu_path(e->dir, "sum");
	struct st_layer_create_opts o = {0};
	struct st_layer_result r;
	char got[ST_DIGEST_STR_MAX], want[ST_DIGEST_STR_MAX];
	const char *gzip_t[] = {"gzip", "-t", gz, NULL};
	const char *gzip_dc[] = {"gzip", "-dc", gz, NULL};
	char *list;
	struct stat st;

	make_tree(tree, 1700000000);
	create_to_file(NULL, tree, false, &o, gz, &r);
	assert_int_equal(lu_run(gzip_t, NULL), 0);
	lu_sha256sum(gz, tmp, want);
	st_digest_str(&r.digest, got);
	assert_string_equal(got, want);
	assert_int_equal(stat(gz, &st), 0);
	assert_int_equal((uint64_t)st.st_size, r.size);
	assert_int_equal(lu_run(gzip_dc, tar), 0);
	lu_sha256sum(tar, tmp, want);
	st_digest_str(&r.diff_id, got);
	assert_string_equal(got, want);
	assert_string_equal(r.media_type, "application/vnd.oci.image.layer.v1.tar+gzip");
	assert_non_null(strstr(r.compressor, "gzip/libdeflate-"));
	assert_non_null(strstr(r.compressor, "/flat-104"));
	assert_int_equal(r.level, ST_LAYER_GZIP_DEFAULT_LEVEL);

	/* Python's streaming reader: one gzip member, sorted names, numeric ids only */
	list = py_list(e->dir, gz);
	assert_non_null(list);
	assert_non_null(strstr(list, "big|0|0o644|0|0|||1700000000|405561||\n"));
	assert_non_null(strstr(list, "dir|5|0o755|0|0|||1700000000|0||\n"));
	assert_non_null(strstr(list, "dir/link-to-inner|2|0o777|0|0|||1700000000|0|inner|\n"));
	assert_non_null(strstr(list, "fifo|6|0o600|"));
	assert_non_null(strstr(list, "noise|0|0o644|0|0|||1700000000|405561||\n"));
	assert_non_null(strstr(list, "sticky|5|0o1777|"));
	assert_non_null(
	        strstr(list, "suid|0|0o4755|0|0|||1700000000|10||SCHILY.xattr.user.test\n"));
	assert_non_null(strstr(list, "zz-hardlink|1|0o644|0|0|||1700000000|0|hello|\n"));
	assert_null(strstr(list, "atime"));
	assert_null(strstr(list, "ctime"));
	assert_null(strstr(list, "LIBARCHIVE"));
	assert_true(strstr(list, "big|") < strstr(list, "dir|"));
	assert_true(strstr(list, "dir/inner|") < strstr(list, "exact|"));
	free(list);
	free(tree), free(gz), free(tar), free(tmp);
}

static void output_is_identical_for_any_thread_count_and_run(void **state)
{
	struct env *e = *state;
	char *tree = lu_path(e->dir, "tree");
	char *outs[3] = {lu_path(e->dir, "a"), lu_path(e->dir, "b"), lu_path(e->dir, "c")};
	const enum st_layer_compression comps[] = {ST_LAYER_COMPRESS_GZIP, ST_LAYER_COMPRESS_ZSTD};
	struct st_layer_result r[3];

	make_tree(tree, 1700000000);
	for (size_t c = 0; c < 2; c++) {
		for (unsigned t = 0; t < 3; t++) {
			struct st_layer_create_opts o = {.compression = comps[c], .threads = t + 1};
			create_to_file(NULL, tree, false, &o, outs[t], &r[t]);
		}
		for (int t = 1; t < 3; t++) {
			const char *cmp[] = {"cmp", outs[0], outs[t], NULL};
			assert_int_equal(lu_run(cmp, NULL), 0);
			assert_true(st_digest_equal(&r[0].digest, &r[t].digest));
			assert_true(st_digest_equal(&r[0].diff_id, &r[t].diff_id));
		}
		if (comps[c] == ST_LAYER_COMPRESS_ZSTD) {
			const char *zt[] = {"zstd", "-q", "-t", outs[0], NULL};
			assert_int_equal(lu_run(zt, NULL), 0);
			assert_string_equal(r[0].media_type,
			                    "application/vnd.oci.image.layer.v1.tar+zstd");
		}
	}
	for (int i = 0; i < 3; i++)
		free(outs[i]);
	free(tree);
}

/* A layer kept as plain tar and compressed later (push, export) is byte for byte the layer
 * created compressed at once, for gzip and zstd and any thread count. */
static void compressing_a_plain_layer_later_gives_the_same_blob(void **state)
{
	struct env *e = *state;
	char *tree = lu_path(e->dir, "tree");
	char *plain = lu_path(e->dir, "plain.tar"), *direct = lu_path(e->dir, "direct");
	char *later = lu_path(e->dir, "later");
	const enum st_layer_compression comps[] = {ST_LAYER_COMPRESS_GZIP, ST_LAYER_COMPRESS_ZSTD};
	struct st_layer_create_opts none = {.compression = ST_LAYER_COMPRESS_NONE};
	struct st_layer_result rp, rd, rl;
	struct st_error err = ST_ERROR_INIT;

	make_tree(tree, 1700000000);
	create_to_file(NULL, tree, false, &none, plain, &rp);
	assert_true(st_digest_equal(&rp.digest, &rp.diff_id));
	for (size_t c = 0; c < 2; c++) {
		for (unsigned t = 1; t <= 2; t++) {
			struct st_layer_create_opts o = {.compression = comps[c], .threads = t};
			const char *cmp[] = {"cmp", direct, later, NULL};
			struct st_layer_sink sink;
			int in = open(plain, O_RDONLY | O_CLOEXEC);
			int out = open(later, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

			create_to_file(NULL, tree, false, &o, direct, &rd);
			assert_true(in >= 0 && out >= 0);
			st_layer_sink_fd(&out, &sink);
			if (st_layer_compress_fd(in, &o, &sink, &rl, &err) < 0)
				fail_msg("compress: %s", err.msg);
			close(in), close(out);
			assert_int_equal(lu_run(cmp, NULL), 0);
			assert_true(st_digest_equal(&rd.digest, &rl.digest));
			assert_int_equal(rd.size, rl.size);
			assert_int_equal(rl.tar_size, rp.size);
			assert_string_equal(rd.media_type, rl.media_type);
			assert_string_equal(rd.compressor, rl.compressor);
			assert_int_equal(rd.level, rl.level);
		}
	}
	/* "compressing" into a plain tar is refused, not a silent copy */
	{
		struct st_layer_sink sink;
		int in = open(plain, O_RDONLY | O_CLOEXEC), out = open(later, O_WRONLY | O_CLOEXEC);

		st_layer_sink_fd(&out, &sink);
		assert_int_equal(st_layer_compress_fd(in, &none, &sink, &rl, &err), -ST_EINVALID);
		close(in), close(out);
	}
	free(tree), free(plain), free(direct), free(later);
}

static void source_date_epoch_makes_later_mtimes_irrelevant(void **state)
{
	struct env *e = *state;
	char *t1 = lu_path(e->dir, "t1"), *t2 = lu_path(e->dir, "t2");
	char *out = lu_path(e->dir, "out");
	struct st_layer_create_opts o = {.has_epoch = true, .source_date_epoch = 1600000000};
	struct st_layer_create_opts plain = {0};
	struct st_layer_result a, b;

	make_tree(t1, 1700000000);
	make_tree(t2, 1750000000);
	create_to_file(NULL, t1, false, &o, out, &a);
	create_to_file(NULL, t2, false, &o, out, &b);
	assert_true(st_digest_equal(&a.digest, &b.digest));
	assert_true(st_digest_equal(&a.diff_id, &b.diff_id));
	/* without the epoch the mtimes show */
	create_to_file(NULL, t1, false, &plain, out, &a);
	create_to_file(NULL, t2, false, &plain, out, &b);
	assert_false(st_digest_equal(&a.diff_id, &b.diff_id));
	free(t1), free(t2), free(out);
}

static void upper_dir_whiteouts_become_wh_entries_and_overlay_xattrs_stay_out(void **state)
{
	struct env *e = *state;
	char *up = lu_path(e->dir, "upper"), *out = lu_path(e->dir, "u.tar");
	struct st_layer_create_opts o = {.compression = ST_LAYER_COMPRESS_NONE};
	struct st_layer_result r;
	char *p, *q, *list;

	if (geteuid() != 0)
		skip();
	assert_int_equal(mkdir(up, 0755), 0);
	assert_int_equal(setxattr(up, "trusted.overlay.impure", "y", 1, 0), 0);
	p = lu_path(up, "gone");
	assert_int_equal(mknod(p, S_IFCHR | 0000, makedev(0, 0)), 0);
	q = lu_path(up, "gone2"); /* the kernel makes whiteouts hardlinks of one inode */
	assert_int_equal(link(p, q), 0);
	free(p), free(q);
	p = lu_path(up, "op");
	assert_int_equal(mkdir(p, 0755), 0);
	assert_int_equal(setxattr(p, "trusted.overlay.opaque", "y", 1, 0), 0);
	free(p);
	put(up, "op/f", "f\n");
	put(up, "keep", "k\n");
	p = lu_path(up, "d");
	assert_int_equal(mkdir(p, 0755), 0);
	free(p);
	p = lu_path(up, "d/x"); /* a whiteout below the top: named beside it, d/.wh.x */
	assert_int_equal(mknod(p, S_IFCHR | 0000, makedev(0, 0)), 0);
	free(p);
	p = lu_path(up, "keep");
	assert_int_equal(setxattr(p, "trusted.overlay.origin", "xyz", 3, 0), 0);
	assert_int_equal(setxattr(p, "security.capability",
	                          "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
	                          "\x00\x00\x00\x00",
	                          20, 0),
	                 0);
	free(p);
	create_to_file(NULL, up, true, &o, out, &r);
	assert_true(st_digest_equal(&r.digest, &r.diff_id));
	list = py_list(e->dir, out);
	assert_non_null(strstr(list, ".wh.gone|0|0o0|0|0|||"));
	assert_non_null(strstr(list, ".wh.gone2|0|0o0|0|0|||"));
	assert_non_null(strstr(list, "keep|0|0o644|0|0|||"));
	assert_non_null(strstr(list, "|SCHILY.xattr.security.capability\n"));
	assert_non_null(strstr(list, "op|5|"));
	assert_non_null(strstr(list, "op/.wh..wh..opq|0|"));
	assert_true(strstr(list, "op|5|") < strstr(list, "op/.wh..wh..opq|"));
	assert_true(strstr(list, "op/.wh..wh..opq|") < strstr(list, "op/f|"));
	assert_null(strstr(list, "overlay"));
	assert_null(strstr(list, "gone|3"));
	assert_non_null(strstr(list, "\nd/.wh.x|0|"));
	assert_null(strstr(list, ".wh.gone.wh."));
	assert_null(strstr(list, "gone.wh."));
	assert_null(strstr(list, "x.wh.x"));
	free(list), free(up), free(out);
}

static void upper_dir_with_metacopy_is_refused(void **state)
{
	struct env *e = *state;
	char *up = lu_path(e->dir, "upper"), *p;
	struct st_layer_create_opts o = {0};
	struct st_error err = ST_ERROR_INIT;
	struct st_buf buf = ST_BUF_INIT;
	struct st_layer_sink sink;
	struct st_layer_result r;

	if (geteuid() != 0)
		skip();
	assert_int_equal(mkdir(up, 0755), 0);
	put(up, "meta", "");
	p = lu_path(up, "meta");
	assert_int_equal(setxattr(p, "trusted.overlay.metacopy", "", 0, 0), 0);
	st_layer_sink_buf(&buf, &sink);
	assert_int_equal(st_layer_create_from_upper(up, &o, &sink, &r, &err), -ST_EUNSUPPORTED);
	assert_non_null(strstr(err.msg, "metacopy=off"));
	st_buf_release(&buf);
	free(p), free(up);
}

static void diff_of_two_trees_has_changes_and_whiteouts_only(void **state)
{
	struct env *e = *state;
	char *old = lu_path(e->dir, "old"), *nw = lu_path(e->dir, "new");
	char *out = lu_path(e->dir, "d.tar"), *p, *list;
	struct st_layer_create_opts o = {.compression = ST_LAYER_COMPRESS_NONE};
	struct st_layer_result r;
	const char *cp[] = {"cp", "-a", old, nw, NULL};

	make_tree(old, 1700000000);
	put(old, "dir/gone-file", "x");
	p = lu_path(old, "gone-dir");
	assert_int_equal(mkdir(p, 0755), 0);
	free(p);
	put(old, "gone-dir/a", "a");
	assert_int_equal(lu_run(cp, NULL), 0);
	p = lu_path(nw, "dir/gone-file");
	assert_int_equal(unlink(p), 0);
	free(p);
	{
		const char *rm[] = {"rm", "-rf", NULL, NULL};
		p = lu_path(nw, "gone-dir");
		rm[2] = p;
		assert_int_equal(lu_run(rm, NULL), 0);
		free(p);
	}
	put(nw, "hello", "changed content\n");
	put(nw, "added", "new\n");
	create_to_file(old, nw, false, &o, out, &r);
	list = py_list(e->dir, out);
	assert_non_null(strstr(list, "added|0|"));
	assert_non_null(strstr(list, "dir/.wh.gone-file|0|"));
	assert_non_null(strstr(list, ".wh.gone-dir|0|"));
	/* hello changed; its hardlink twin zz-hardlink too (same inode): hardlinked in-layer */
	assert_non_null(strstr(list, "hello|0|"));
	assert_non_null(strstr(list, "zz-hardlink|1|"));
	assert_null(strstr(list, "big|"));
	assert_null(strstr(list, "dir/inner|"));
	assert_null(strstr(list, "gone-dir/a"));
	free(list), free(old), free(nw), free(out);
}

static void layer_applied_gives_back_the_tree(void **state)
{
	struct env *e = *state;
	char *tree = lu_path(e->dir, "tree"), *back = lu_path(e->dir, "back");
	char *out = lu_path(e->dir, "l.tgz");
	char *l1 = lu_path(e->dir, "f1"), *l2 = lu_path(e->dir, "f2");
	struct st_layer_create_opts o = {0};
	struct st_layer_apply_opts ao = {0};
	struct st_error err = ST_ERROR_INIT;
	struct st_layer_result r;
	struct st_layer_apply_stats s;
	int fd;

	make_tree(tree, 1700000000);
	create_to_file(NULL, tree, false, &o, out, &r);
	fd = open(out, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	if (st_layer_extract_new(back, fd, &ao, &s, &err) < 0)
		fail_msg("%s", err.msg);
	close(fd);
	assert_true(st_digest_equal(&s.digest, &r.digest));
	assert_true(st_digest_equal(&s.diff_id, &r.diff_id));
	assert_int_equal(s.compression, ST_LAYER_COMPRESS_GZIP);
	{
		const char *f1[] = {
		        "sh",
		        "-c",
		        "cd \"$1\" && find . -mindepth 1 -printf '%p %y %m %U %G %s %T@ "
		        "%l %n\\n' | sort",
		        "sh",
		        tree,
		        NULL};
		const char *f2[] = {
		        "sh",
		        "-c",
		        "cd \"$1\" && find . -mindepth 1 -printf '%p %y %m %U %G %s %T@ "
		        "%l %n\\n' | sort",
		        "sh",
		        back,
		        NULL};
		const char *cmp[] = {"cmp", l1, l2, NULL};
		const char *gx[] = {"getfattr", "-n", "user.test", "--only-values", NULL, NULL};
		char *sp = lu_path(back, "suid"), *v;
		assert_int_equal(lu_run(f1, l1), 0);
		assert_int_equal(lu_run(f2, l2), 0);
		assert_int_equal(lu_run(cmp, NULL), 0);
		gx[4] = sp;
		if (lu_run(gx, l1) == 0) {
			v = lu_slurp(l1);
			assert_string_equal(v, "value");
			free(v);
		}
		free(sp);
	}
	free(tree), free(back), free(out), free(l1), free(l2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(
	                gzip_layer_is_one_member_and_digests_match_reference_tools, setup,
	                teardown),
	        cmocka_unit_test_setup_teardown(output_is_identical_for_any_thread_count_and_run,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(compressing_a_plain_layer_later_gives_the_same_blob,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(source_date_epoch_makes_later_mtimes_irrelevant,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(
	                upper_dir_whiteouts_become_wh_entries_and_overlay_xattrs_stay_out, setup,
	                teardown),
	        cmocka_unit_test_setup_teardown(upper_dir_with_metacopy_is_refused, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(diff_of_two_trees_has_changes_and_whiteouts_only,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(layer_applied_gives_back_the_tree, setup, teardown),
	};
	return cmocka_run_group_tests_name("layer", tests, NULL, NULL);
}
