/* test-buf.c: st_buf growth, ceiling, detach; st_parse_u64. */
#include "unit.h"

#include "strata/buf.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(empty_buffer_is_a_valid_empty_string),
	        cmocka_unit_test(add_and_addf_append),
	        cmocka_unit_test(max_caps_growth),
	        cmocka_unit_test(detach_gives_ownership),
	        cmocka_unit_test(parse_u64_accepts_only_plain_decimal),
	};
	return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
