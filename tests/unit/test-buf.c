/* test-buf.c: st_buf growth, ceiling, detach; st_parse_u64; st_write_file_replace and its removal.
 */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "strata/buf.h"
#include "util/fs.h"

static void empty_buffer_is_a_valid_empty_string(void **state)
{
	struct st_buf b = ST_BUF_INIT;

	(void)state;
	assert_non_null(b.data);
	assert_string_equal(b.data, "");
	st_buf_release(&b);
}

static void add_and_addf_append(void **state)
{
	cleanup_buf struct st_buf b = ST_BUF_INIT;

	(void)state;
	assert_int_equal(st_buf_adds(&b, "abc", NULL), 0);
	assert_int_equal(st_buf_addf(&b, NULL, "-%d-%s", 42, "x"), 0);
	assert_string_equal(b.data, "abc-42-x");
	assert_int_equal(b.len, 8);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(st_buf_addch(&b, 'z', NULL), 0);
	assert_int_equal(b.len, 1008);
	st_buf_reset(&b);
	assert_string_equal(b.data, "");
}

static void max_caps_growth(void **state)
{
	struct st_buf b;
	struct st_error err = ST_ERROR_INIT;

	(void)state;
	st_buf_init(&b, 4);
	assert_int_equal(st_buf_adds(&b, "abcd", &err), 0);
	assert_int_equal(st_buf_adds(&b, "e", &err), -ST_ELIMIT);
	assert_string_equal(b.data, "abcd");
	assert_non_null(strstr(err.msg, "limit of 4 bytes"));
	st_buf_release(&b);
}

static void detach_gives_ownership(void **state)
{
	struct st_buf b = ST_BUF_INIT;
	size_t len;
	char *p;

	(void)state;
	p = st_buf_detach(&b, &len);
	assert_string_equal(p, "");
	free(p);
	st_buf_adds(&b, "hello", NULL);
	p = st_buf_detach(&b, &len);
	assert_int_equal(len, 5);
	assert_string_equal(p, "hello");
	assert_int_equal(b.len, 0);
	free(p);
}

static void parse_u64_accepts_only_plain_decimal(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(st_parse_u64("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(st_parse_u64("18446744073709551615", &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(st_parse_u64("18446744073709551616", &v), -ST_EINVALID);
	assert_int_equal(st_parse_u64("", &v), -ST_EINVALID);
	assert_int_equal(st_parse_u64("-1", &v), -ST_EINVALID);
	assert_int_equal(st_parse_u64(" 1", &v), -ST_EINVALID);
	assert_int_equal(st_parse_u64("12a", &v), -ST_EINVALID);
}

static void read_all(int dfd, const char *name, struct st_buf *out)
{
	struct st_error err = ST_ERROR_INIT;

	st_buf_reset(out);
	assert_int_equal(st_read_file_at(dfd, name, out, 1 << 20, &err), 0);
}

/* the new version is exchanged with the old, which stays as the spare and is rewritten in place
 * next time (same inode), shorter content truncates it */
static void write_file_replace_keeps_a_spare(void **state)
{
	char dir[] = "/tmp/strata-test-replace-XXXXXX";
	struct st_error err = ST_ERROR_INIT;
	cleanup_buf struct st_buf b = ST_BUF_INIT;
	struct stat live, spare, live2;
	int dfd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(dfd >= 0);
	assert_int_equal(st_write_file_replace(dfd, "f", "first version", 13, 0644, &err), 0);
	read_all(dfd, "f", &b);
	assert_string_equal(b.data, "first version");
	assert_int_equal(fstatat(dfd, "f", &live, 0), 0);
	assert_int_equal(st_write_file_replace(dfd, "f", "second, longer version", 22, 0644, &err),
	                 0);
	read_all(dfd, "f", &b);
	assert_string_equal(b.data, "second, longer version");
	assert_int_equal(fstatat(dfd, "f.spare", &spare, 0), 0);
	assert_int_equal(spare.st_ino, live.st_ino); /* the old file is the spare now */
	assert_int_equal(fstatat(dfd, "f", &live2, 0), 0);
	assert_int_equal(st_write_file_replace(dfd, "f", "third", 5, 0644, &err), 0);
	read_all(dfd, "f", &b);
	assert_string_equal(b.data, "third");
	assert_int_equal(fstatat(dfd, "f", &live, 0), 0);
	assert_int_equal(live.st_ino, spare.st_ino); /* rewritten in place, no new inode */
	assert_int_equal(live.st_size, 5);
	assert_int_equal(fstatat(dfd, "f.spare", &spare, 0), 0);
	assert_int_equal(spare.st_ino, live2.st_ino);
	/* a symlink planted as the spare is not followed */
	assert_int_equal(unlinkat(dfd, "f.spare", 0), 0);
	assert_int_equal(symlinkat("/etc/passwd", dfd, "f.spare"), 0);
	assert_true(st_write_file_replace(dfd, "f", "x", 1, 0644, &err) < 0);
	assert_int_equal(err.sys_errno, ELOOP);
	read_all(dfd, "f", &b);
	assert_string_equal(b.data, "third");
	/* both go, and removing them again is no error */
	assert_int_equal(st_remove_replaced_file(dfd, "f", &err), 0);
	assert_true(fstatat(dfd, "f", &live, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT);
	assert_true(fstatat(dfd, "f.spare", &spare, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT);
	assert_int_equal(st_remove_replaced_file(dfd, "f", &err), 0);
	(void)close(dfd);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(empty_buffer_is_a_valid_empty_string),
	        cmocka_unit_test(add_and_addf_append),
	        cmocka_unit_test(max_caps_growth),
	        cmocka_unit_test(detach_gives_ownership),
	        cmocka_unit_test(parse_u64_accepts_only_plain_decimal),
	        cmocka_unit_test(write_file_replace_keeps_a_spare),
	};
	return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
