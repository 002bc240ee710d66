/* test-layer-apply.c: applying layers made by Python's tarfile (a reference writer): OCI
 * whiteout rules in flat and overlay form, and a malicious set (escapes of every kind, bombs,
 * duplicates, bad whiteouts) that must be refused or neutralised with a canary file outside
 * the root untouched. */
#include "unit.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "layer-util.h"

struct env {
	char *dir, *root, *outside, *canary, *tar;
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	e->dir = unit_mkdtemp();
	if (!e->dir)
		return -1;
	e->root = lu_path(e->dir, "root");
	e->outside = lu_path(e->dir, "outside");
	e->canary = lu_path(e->outside, "canary");
	e->tar = lu_path(e->dir, "layer.tar");
	if (mkdir(e->root, 0755) < 0 || mkdir(e->outside, 0755) < 0)
		return -1;
	unit_write_file(e->canary, "canary", 6);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	unit_rmtree(e->dir);
	free(e->dir), free(e->root), free(e->outside), free(e->canary), free(e->tar);
	free(e);
	return 0;
}

/* Makes e->tar from specs (see layer-util.h), NULL-terminated; gz when `gz`. */
static void make_tar(struct env *e, int gz, ...)
{
	const char *argv[64] = {"python3", "-c", layer_py, "make", e->tar};
	size_t n = 5;
	va_list ap;
	const char *s;

	if (gz)
		argv[n++] = "gz";
	va_start(ap, gz);
	while ((s = va_arg(ap, const char *)) && n < 62)
		argv[n++] = s;
	va_end(ap);
	argv[n] = NULL;
	assert_int_equal(lu_run(argv, NULL), 0);
}

static int apply(struct env *e, enum st_layer_apply_mode mode, const struct st_layer_limits *lim,
                 struct st_error *err)
{
	struct st_layer_apply_opts o = {.mode = mode};
	int fd = open(e->tar, O_RDONLY | O_CLOEXEC);
	int rc;

	assert_true(fd >= 0);
	if (lim)
		o.limits = *lim;
	rc = st_layer_apply(e->root, fd, &o, NULL, err);
	close(fd);
	return rc;
}

static void apply_ok(struct env *e, enum st_layer_apply_mode mode)
{
	struct st_error err = ST_ERROR_INIT;

	if (apply(e, mode, NULL, &err) < 0)
		fail_msg("apply: %s", err.msg);
}

static char *slurp_in(const char *dir, const char *name)
{
	char *p = lu_path(dir, name), *s = lu_slurp(p);

	free(p);
	return s;
}

static bool exists_in(const char *dir, const char *name)
{
	struct stat st;
	char *p = lu_path(dir, name);
	bool r = lstat(p, &st) == 0;

	free(p);
	return r;
}

/* The canary holds "canary", has one link, and is alone in outside/. */
static void assert_canary(struct env *e)
{
	struct stat st;
	char *s = lu_slurp(e->canary);
	DIR *d = opendir(e->outside);
	struct dirent *de;
	int n = 0;

	assert_non_null(s);
	assert_string_equal(s, "canary");
	free(s);
	assert_int_equal(lstat(e->canary, &st), 0);
	assert_int_equal(st.st_nlink, 1);
	assert_non_null(d);
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	assert_int_equal(n, 1);
}

/* ---- OCI rules ---- */

static void whiteouts_delete_lower_files_and_opaque_dirs_hide_lower_content(void **state)
{
	struct env *e = *state;
	char *s;

	make_tar(e, 0, "d:a", "f:a/x:x", "f:a/y:y", "d:b", "f:b/old:o", "f:c:c", NULL);
	apply_ok(e, ST_LAYER_APPLY_FLAT);
	make_tar(e, 1, "f:a/.wh.x", "d:b", "f:b/.wh..wh..opq", "f:b/new:n", "f:.wh.c",
	         "f:.wh.never-existed", "f:nodir/.wh.x", NULL);
	apply_ok(e, ST_LAYER_APPLY_FLAT);
	assert_false(exists_in(e->root, "a/x"));
	assert_true(exists_in(e->root, "a/y"));
	assert_false(exists_in(e->root, "b/old"));
	assert_true(exists_in(e->root, "b/new"));
	assert_false(exists_in(e->root, "c"));
	assert_false(exists_in(e->root, "a/.wh.x"));
	assert_false(exists_in(e->root, "b/.wh..wh..opq"));
	assert_false(exists_in(e->root, "nodir"));
	/* opaque marker after an entry of the same layer keeps that entry */
	make_tar(e, 0, "d:b", "f:b/mine:m", "f:b/.wh..wh..opq", NULL);
	apply_ok(e, ST_LAYER_APPLY_FLAT);
	assert_true(exists_in(e->root, "b/mine"));
	assert_false(exists_in(e->root, "b/new"));
	s = slurp_in(e->root, "a/y");
	assert_string_equal(s, "y");
	free(s);
}

static void whiteout_then_recreation_and_type_changes_follow_the_spec(void **state)
{
	struct env *e = *state;
	char *s;
	struct stat st;

	make_tar(e, 0, "f:x:old", "d:d", "f:d/in:in", "f:f:file", NULL);
	apply_ok(e, ST_LAYER_APPLY_FLAT);
	/* x deleted and re-created; d (dir) becomes a file; f (file) becomes a dir */
	make_tar(e, 0, "f:.wh.x", "f:x:new", "f:d:now-a-file", "d:f", "f:f/sub:s", NULL);
	apply_ok(e, ST_LAYER_APPLY_FLAT);
	s = slurp_in(e->root, "x");
	assert_string_equal(s, "new");
	free(s);
	s = slurp_in(e->root, "d");
	assert_string_equal(s, "now-a-file");
	free(s);
	s = slurp_in(e->root, "f/sub");
	assert_string_equal(s, "s");
	free(s);
	/* a whiteout after an entry of its own layer does not hide it */
	make_tar(e, 0, "f:y:y", "f:.wh.y", NULL);
	apply_ok(e, ST_LAYER_APPLY_FLAT);
	assert_true(exists_in(e->root, "y"));
	/* and back: dir f becomes a file again */
	make_tar(e, 0, "f:f:file-again", NULL);
	apply_ok(e, ST_LAYER_APPLY_FLAT);
	{
		char *p = lu_path(e->root, "f");
		assert_int_equal(lstat(p, &st), 0);
		assert_true(S_ISREG(st.st_mode));
		free(p);
	}
}

static void overlay_form_makes_whiteout_devices_and_opaque_xattrs(void **state)
{
	struct env *e = *state;
	struct stat st;
	char v[4] = {0};
	char *p;

	if (geteuid() != 0)
		skip();
	make_tar(e, 0, "d:a", "f:a/.wh.gone", "d:o", "f:o/.wh..wh..opq", "f:o/f:f", "f:.wh.re",
	         "d:re", "f:re/in:i", NULL);
	apply_ok(e, ST_LAYER_APPLY_OVERLAY);
	p = lu_path(e->root, "a/gone");
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISCHR(st.st_mode));
	assert_int_equal(st.st_rdev, makedev(0, 0));
	free(p);
	assert_false(exists_in(e->root, "a/.wh.gone"));
	p = lu_path(e->root, "o");
	assert_int_equal(getxattr(p, "trusted.overlay.opaque", v, sizeof(v)), 1);
	assert_int_equal(v[0], 'y');
	free(p);
	assert_true(exists_in(e->root, "o/f"));
	/* a directory re-created over its whiteout hides the lower one: opaque */
	p = lu_path(e->root, "re");
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(getxattr(p, "trusted.overlay.opaque", v, sizeof(v)), 1);
	free(p);
}

static void hardlinks_symlinks_modes_and_owners_are_kept(void **state)
{
	struct env *e = *state;
	struct stat a, b;
	char *p, *q, buf[64];
	ssize_t n;

	make_tar(e, 0, "f:file:data", "h:hl:file", "l:sym:/etc/passwd", "d:dir", NULL);
	apply_ok(e, ST_LAYER_APPLY_FLAT);
	p = lu_path(e->root, "file");
	q = lu_path(e->root, "hl");
	assert_int_equal(lstat(p, &a), 0);
	assert_int_equal(lstat(q, &b), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	assert_int_equal(a.st_mode & 07777, 0644);
	assert_int_equal(a.st_mtime, 1000);
	free(p), free(q);
	p = lu_path(e->root, "sym");
	n = readlink(p, buf, sizeof(buf));
	assert_int_equal(n, 11);
	assert_memory_equal(buf, "/etc/passwd", 11);
	free(p);
	p = lu_path(e->root, "dir");
	assert_int_equal(lstat(p, &a), 0);
	assert_int_equal(a.st_mode & 07777, 0755);
	assert_int_equal(a.st_mtime, 1000); /* directory times are set last */
	free(p);
}

/* ---- malicious layers ---- */

static void dotdot_components_are_refused_naming_the_entry(void **state)
{
	struct env *e = *state;
	struct st_error err = ST_ERROR_INIT;

	make_tar(e, 0, "f:../outside/canary:pwned", NULL);
	assert_int_equal(apply(e, ST_LAYER_APPLY_FLAT, NULL, &err), -ST_EINVALID);
	assert_non_null(strstr(err.msg, "'../outside/canary'"));
	make_tar(e, 0, "f:a/../../outside/canary:pwned", NULL);
	assert_int_equal(apply(e, ST_LAYER_APPLY_FLAT, NULL, &err), -ST_EINVALID);
	make_tar(e, 0, "h:hl:../outside/canary", NULL);
	assert_int_equal(apply(e, ST_LAYER_APPLY_FLAT, NULL, &err), -ST_EINVALID);
	make_tar(e, 0, "f:../.wh.canary", NULL);
	assert_int_equal(apply(e, ST_LAYER_APPLY_FLAT, NULL, &err), -ST_EINVALID);
	assert_canary(e);
}

static void absolute_paths_land_inside_the_root(void **state)
{
	struct env *e = *state;
	char *inside = NULL;

	make_tar(e, 0, NULL);
	{
		/* the canary's absolute path, as an entry name */
		const char *argv[] = {"python3", "-c", layer_py, "make", e->tar, NULL, NULL};
		char spec[4200];
		(void)snprintf(spec, sizeof(spec), "f:%s:pwned", e->canary);
		argv[5] = spec;
		assert_int_equal(lu_run(argv, NULL), 0);
	}
	apply_ok(e, ST_LAYER_APPLY_FLAT);
	assert_true(asprintf(&inside, "%s%s", e->root, e->canary) > 0);
	{
		char *s = lu_slurp(inside);
		assert_non_null(s);
		assert_string_equal(s, "pwned");
		free(s);
	}
	free(inside);
	assert_canary(e);
}

static void symlink_escapes_are_followed_only_inside_the_root(void **state)
{
	struct env *e = *state;
	struct st_error err = ST_ERROR_INIT;
	char rel[64], spec1[4200], spec2[4200];

	/* relative escape, then an entry through it */
	(void)snprintf(rel, sizeof(rel), "l:esc:../outside");
	make_tar(e, 0, rel, "f:esc/canary:pwned", "d:esc/newdir", NULL);
	(void)apply(e, ST_LAYER_APPLY_FLAT, NULL, &err);
	assert_canary(e);
	/* absolute escape: the link is created, but resolves inside the root */
	(void)snprintf(spec1, sizeof(spec1), "l:abs:%s", e->outside);
	make_tar(e, 0, spec1, "f:abs/canary:pwned", NULL);
	(void)apply(e, ST_LAYER_APPLY_FLAT, NULL, &err);
	assert_canary(e);
	/* a symlink to the canary, then a hardlink to it and a file written over it */
	(void)snprintf(spec2, sizeof(spec2), "l:lnk:%s", e->canary);
	make_tar(e, 0, spec2, "h:hl:lnk", "f:lnk:pwned", NULL);
	apply_ok(e, ST_LAYER_APPLY_FLAT);
	assert_canary(e);
	/* a hardlink through an escaping directory symlink finds nothing outside */
	make_tar(e, 0, "l:up:..", "h:hl2:up/outside/canary", NULL);
	assert_true(apply(e, ST_LAYER_APPLY_FLAT, NULL, &err) < 0);
	assert_non_null(strstr(err.msg, "'hl2'"));
	assert_canary(e);
}

static void whiteouts_of_dotdot_or_root_are_refused(void **state)
{
	struct env *e = *state;
	struct st_error err = ST_ERROR_INIT;
	const char *bad[] = {"f:.wh..", "f:.wh...", "f:.wh.", "f:a/.wh..", "f:.wh..wh.x"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		make_tar(e, 0, "d:a", bad[i], NULL);
		assert_int_equal(apply(e, ST_LAYER_APPLY_FLAT, NULL, &err), -ST_EINVALID);
		assert_non_null(strstr(err.msg, "invalid whiteout"));
		assert_true(exists_in(e->root, "a"));
	}
	/* the root itself can be neither replaced nor linked */
	make_tar(e, 0, "f:.:x", NULL);
	assert_int_equal(apply(e, ST_LAYER_APPLY_FLAT, NULL, &err), -ST_EINVALID);
	make_tar(e, 0, "h:x:.", NULL);
	assert_int_equal(apply(e, ST_LAYER_APPLY_FLAT, NULL, &err), -ST_EINVALID);
	assert_canary(e);
}

static void bombs_hit_the_limits(void **state)
{
	struct env *e = *state;
	struct st_error err = ST_ERROR_INIT;
	struct st_layer_limits lim = {.max_bytes = 1 << 20};
	char longname[600];

	/* a gzip bomb: 32 MiB of zeros in a few KiB */
	make_tar(e, 1, "F:zeros:33554432", NULL);
	assert_int_equal(apply(e, ST_LAYER_APPLY_FLAT, &lim, &err), -ST_ELIMIT);
	assert_non_null(strstr(err.msg, "limit"));
	lim = (struct st_layer_limits){.max_entries = 3};
	make_tar(e, 0, "f:1:", "f:2:", "f:3:", "f:4:", NULL);
	assert_int_equal(apply(e, ST_LAYER_APPLY_FLAT, &lim, &err), -ST_ELIMIT);
	assert_non_null(strstr(err.msg, "'4'"));
	lim = (struct st_layer_limits){.max_path_len = 100};
	memset(longname, 'n', sizeof(longname));
	memcpy(longname, "f:", 2);
	longname[sizeof(longname) - 1] = '\0';
	make_tar(e, 0, longname, NULL);
	assert_int_equal(apply(e, ST_LAYER_APPLY_FLAT, &lim, &err), -ST_ELIMIT);
	assert_canary(e);
}

static void duplicate_entries_last_one_wins(void **state)
{
	struct env *e = *state;
	char *s;
	struct stat st;
	char *p;

	make_tar(e, 0, "f:f:first", "f:f:second", "d:d", "f:d/in:x", "f:d:file-now", "d:e", "d:e",
	         NULL);
	apply_ok(e, ST_LAYER_APPLY_FLAT);
	s = slurp_in(e->root, "f");
	assert_string_equal(s, "second");
	free(s);
	s = slurp_in(e->root, "d");
	assert_string_equal(s, "file-now");
	free(s);
	p = lu_path(e->root, "e");
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	free(p);
	assert_canary(e);
}

static void garbage_and_truncated_layers_fail_cleanly(void **state)
{
	struct env *e = *state;
	struct st_error err = ST_ERROR_INIT;
	struct stat st;
	int fd;

	unit_write_file(e->tar, "\x1f\x8b\x08\x00garbage-that-is-not-deflate", 31);
	assert_true(apply(e, ST_LAYER_APPLY_FLAT, NULL, &err) < 0);
	assert_non_null(strstr(err.msg, "gzip"));
	make_tar(e, 1, "F:big:1000000", NULL);
	assert_int_equal(stat(e->tar, &st), 0);
	assert_int_equal(truncate(e->tar, st.st_size / 2), 0);
	assert_true(apply(e, ST_LAYER_APPLY_FLAT, NULL, &err) < 0);
	/* extract_new leaves nothing behind on failure */
	{
		struct st_layer_apply_opts o = {0};
		char *dest = lu_path(e->dir, "new");
		fd = open(e->tar, O_RDONLY | O_CLOEXEC);
		assert_true(st_layer_extract_new(dest, fd, &o, NULL, &err) < 0);
		close(fd);
		assert_int_equal(lstat(dest, &st), -1);
		{
			DIR *d = opendir(e->dir);
			struct dirent *de;
			while ((de = readdir(d)))
				assert_null(strstr(de->d_name, ".tmp-"));
			closedir(d);
		}
		free(dest);
	}
	assert_canary(e);
}

/* ---- digests ---- */

/* Applies `file` into a fresh directory with `threads`; its stats must give sha256sum's digest
 * of the file and of `tar`. */
static void assert_digests(struct env *e, const char *file, const char *tar, unsigned threads,
                           enum st_layer_compression want)
{
	struct st_layer_apply_opts o = {.threads = threads};
	struct st_layer_apply_stats s;
	struct st_error err = ST_ERROR_INIT;
	char *dest = lu_path(e->dir, "dest"), *sum = lu_path(e->dir, "sum");
	char want_digest[ST_DIGEST_STR_MAX], want_diff[ST_DIGEST_STR_MAX], got[ST_DIGEST_STR_MAX];
	int fd = open(file, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	if (st_layer_extract_new(dest, fd, &o, &s, &err) < 0)
		fail_msg("%s: %s", file, err.msg);
	close(fd);
	lu_sha256sum(file, sum, want_digest);
	lu_sha256sum(tar, sum, want_diff);
	st_digest_str(&s.digest, got);
	assert_string_equal(got, want_digest);
	st_digest_str(&s.diff_id, got);
	assert_string_equal(got, want_diff);
	assert_int_equal(s.compression, want);
	unit_rmtree(dest);
	free(dest), free(sum);
}

/* The digest and the diffID are hashed off the reading thread from the buffers it passes on:
 * for every format, with both rings wrapping many times (random bytes do not compress), they
 * are sha256sum's. */
static void digests_match_sha256sum_for_every_format(void **state)
{
	struct env *e = *state;
	const char *script =
	        "set -e; cd \"$1\"; mkdir t; head -c 7000000 /dev/urandom > t/random;"
	        "head -c 9000000 /dev/zero > t/zeros; echo hi > t/small;"
	        "tar -C t -cf l.tar .; gzip -c l.tar > l.tgz; zstd -q -c l.tar > l.zst;"
	        "head -c 5000000 l.tar | gzip -1 > l2.tgz; tail -c +5000001 l.tar | gzip >> l2.tgz";
	const char *argv[] = {"sh", "-c", script, "sh", e->dir, NULL};
	const char *names[] = {"l.tar", "l.tgz", "l2.tgz", "l.zst"};
	const enum st_layer_compression kinds[] = {ST_LAYER_COMPRESS_NONE, ST_LAYER_COMPRESS_GZIP,
	                                           ST_LAYER_COMPRESS_GZIP, ST_LAYER_COMPRESS_ZSTD};
	char *tar = lu_path(e->dir, "l.tar");

	assert_int_equal(lu_run(argv, NULL), 0);
	for (size_t i = 0; i < 4; i++) {
		char *file = lu_path(e->dir, names[i]);
		assert_digests(e, file, tar, 0, kinds[i]);
		assert_digests(e, file, tar, 1, kinds[i]);
		free(file);
	}
	free(tar);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
	        T(whiteouts_delete_lower_files_and_opaque_dirs_hide_lower_content),
	        T(whiteout_then_recreation_and_type_changes_follow_the_spec),
	        T(overlay_form_makes_whiteout_devices_and_opaque_xattrs),
	        T(hardlinks_symlinks_modes_and_owners_are_kept),
	        T(dotdot_components_are_refused_naming_the_entry),
	        T(absolute_paths_land_inside_the_root),
	        T(symlink_escapes_are_followed_only_inside_the_root),
	        T(whiteouts_of_dotdot_or_root_are_refused),
	        T(bombs_hit_the_limits),
	        T(duplicate_entries_last_one_wins),
	        T(garbage_and_truncated_layers_fail_cleanly),
	        T(digests_match_sha256sum_for_every_format),
	};
#undef T
	return cmocka_run_group_tests_name("layer-apply", tests, NULL, NULL);
}
