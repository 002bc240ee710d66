/* test-error.c: struct st_error: codes, errno mapping, wrapping and truncation. */
#include "unit.h"

#include <errno.h>

#include "strata/common.h"

static void set_returns_negative_code_and_message(void **state)
{
	struct st_error err = ST_ERROR_INIT;

	(void)state;
	assert_int_equal(st_error_set(&err, ST_EINVALID, "bad %s", "thing"), -ST_EINVALID);
	assert_int_equal(err.code, ST_EINVALID);
	assert_string_equal(err.msg, "bad thing");
}

static void sys_maps_enoent_and_appends_strerror(void **state)
{
	struct st_error err = ST_ERROR_INIT;

	(void)state;
	errno = ENOENT;
	assert_int_equal(st_error_sys(&err, "open '%s'", "/x"), -ST_ENOTFOUND);
	assert_int_equal(err.sys_errno, ENOENT);
	assert_string_equal(err.msg, "open '/x': No such file or directory");
	errno = EACCES;
	assert_int_equal(st_error_sys(&err, "open"), -ST_ESYS);
}

static void wrap_prefixes_context_and_keeps_code(void **state)
{
	struct st_error err = ST_ERROR_INIT;

	(void)state;
	st_error_set(&err, ST_EDIGEST, "content does not match");
	assert_int_equal(st_error_wrap(&err, "layer %s", "ab12"), -ST_EDIGEST);
	assert_string_equal(err.msg, "layer ab12: content does not match");
}

static void wrap_truncates_without_overflow(void **state)
{
	struct st_error err = ST_ERROR_INIT;
	char big[2000];

	(void)state;
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	st_error_set(&err, ST_EINVALID, "%s", big);
	assert_int_equal(strlen(err.msg), sizeof(err.msg) - 1);
	st_error_wrap(&err, "%s", big);
	assert_int_equal(strlen(err.msg), sizeof(err.msg) - 1);
}

static void null_err_is_allowed(void **state)
{
	(void)state;
	assert_int_equal(st_error_set(NULL, ST_ENOMEM, "x"), -ST_ENOMEM);
	errno = EEXIST;
	assert_int_equal(st_error_sys(NULL, "x"), -ST_EEXIST);
	assert_string_equal(st_errc_name(ST_EDIGEST), "digest mismatch");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(set_returns_negative_code_and_message),
	        cmocka_unit_test(sys_maps_enoent_and_appends_strerror),
	        cmocka_unit_test(wrap_prefixes_context_and_keeps_code),
	        cmocka_unit_test(wrap_truncates_without_overflow),
	        cmocka_unit_test(null_err_is_allowed),
	};
	return cmocka_run_group_tests_name("error", tests, NULL, NULL);
}
