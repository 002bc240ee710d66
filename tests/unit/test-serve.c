/* test-serve.c: the registry server's pure parts: router, Range, Content-Range, the upload
 * state machine, base64; and its gc root (links keep blobs, nothing else does). */
#include "unit.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "serve/serve-internal.h"
#include "strata/strata.h"

#define D64 "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static void router_table(void **state)
{
	static const struct {
		const char *path;
		int rc;
		enum srv_kind kind;
		enum srv_fault fault;
		const char *name, *ref;
	} cases[] = {
	        {"/v2/", 0, SRV_BASE, 0, "", ""},
	        {"/v2", 0, SRV_BASE, 0, "", ""},
	        {"/v2/a/b/tags/list", 0, SRV_TAGS, 0, "a/b", ""},
	        {"/v2/a/blobs/uploads/", 0, SRV_UPLOAD_NEW, 0, "a", ""},
	        {"/v2/a/blobs/uploads", 0, SRV_UPLOAD_NEW, 0, "a", ""},
	        {"/v2/x/blobs/uploads/0123456789abcdef0123456789abcdef", 0, SRV_UPLOAD, 0, "x",
	         "0123456789abcdef0123456789abcdef"},
	        {"/v2/x/blobs/" D64, 0, SRV_BLOB, 0, "x", D64},
	        {"/v2/x/y/manifests/latest", 0, SRV_MANIFEST, 0, "x/y", "latest"},
	        {"/v2/x/manifests/" D64, 0, SRV_MANIFEST, 0, "x", D64},
	        {"/v2/blobs/blobs/" D64, 0, SRV_BLOB, 0, "blobs", D64},
	        {"/v2/x/referrers/" D64, 0, SRV_REFERRERS, 0, "x", D64},
	        {"/v2/X/tags/list", -ST_EINVALID, SRV_TAGS, SRV_FAULT_NAME, NULL, NULL},
	        {"/v2/../etc/tags/list", -ST_EINVALID, SRV_TAGS, SRV_FAULT_NAME, NULL, NULL},
	        {"/v2/a//b/tags/list", -ST_EINVALID, SRV_TAGS, SRV_FAULT_NAME, NULL, NULL},
	        {"/v2//tags/list", -ST_EINVALID, SRV_TAGS, SRV_FAULT_NAME, NULL, NULL},
	        {"/v2/x/blobs/sha256:abc", -ST_EINVALID, SRV_BLOB, SRV_FAULT_DIGEST, NULL, NULL},
	        {"/v2/x/manifests/-bad", -ST_EINVALID, SRV_MANIFEST, SRV_FAULT_TAG, NULL, NULL},
	        {"/v2/x/blobs/uploads/../../x", -ST_EINVALID, 0, SRV_FAULT_PATH, NULL, NULL},
	        {"/v2/x/blobs/uploads/ABC", -ST_EINVALID, SRV_UPLOAD, SRV_FAULT_UPLOAD, NULL, NULL},
	        {"/v2/x/other/thing", -ST_EINVALID, 0, SRV_FAULT_PATH, NULL, NULL},
	        {"/v3/", -ST_EINVALID, 0, SRV_FAULT_PATH, NULL, NULL},
	        {"/v2/x", -ST_EINVALID, 0, SRV_FAULT_PATH, NULL, NULL},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct st_serve_route r;
		struct st_error err = ST_ERROR_INIT;
		int rc = st_serve_route_parse(cases[i].path, &r, &err);
		if (rc != cases[i].rc || (rc == 0 && r.kind != cases[i].kind) ||
		    r.fault != cases[i].fault)
			fail_msg("%s: rc %d kind %d fault %d", cases[i].path, rc, r.kind, r.fault);
		if (cases[i].name) {
			assert_string_equal(r.name, cases[i].name);
			assert_string_equal(r.ref, cases[i].ref);
		}
	}
}

static void range_table(void **state)
{
	static const struct {
		const char *h;
		uint64_t size;
		int rc;
		uint64_t start, len;
	} cases[] = {
	        {"bytes=0-9", 100, 1, 0, 10},
	        {"bytes=90-", 100, 1, 90, 10},
	        {"bytes=-5", 100, 1, 95, 5},
	        {"bytes=-500", 100, 1, 0, 100},
	        {"bytes=50-500", 100, 1, 50, 50},
	        {"bytes=100-", 100, -ST_EINVALID, 0, 0},
	        {"bytes=-0", 100, -ST_EINVALID, 0, 0},
	        {"bytes=5-2", 100, 0, 0, 0},
	        {"bytes=0-1,5-6", 100, 0, 0, 0},
	        {"items=0-1", 100, 0, 0, 0},
	        {"bytes=x-1", 100, 0, 0, 0},
	        {"bytes=-", 100, 0, 0, 0},
	        {NULL, 100, 0, 0, 0},
	        {"bytes=0-", 0, -ST_EINVALID, 0, 0},
	        {"bytes=99999999999999999999-", 100, 0, 0, 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t a = 0, n = 0;
		int rc = st_serve_parse_range(cases[i].h, cases[i].size, &a, &n);
		if (rc != cases[i].rc || (rc == 1 && (a != cases[i].start || n != cases[i].len)))
			fail_msg("%s: rc %d %llu+%llu", cases[i].h ? cases[i].h : "(null)", rc,
			         (unsigned long long)a, (unsigned long long)n);
	}
}

static void content_range_table(void **state)
{
	uint64_t a, b;

	(void)state;
	assert_int_equal(st_serve_parse_content_range("0-99", &a, &b), 0);
	assert_true(a == 0 && b == 99);
	assert_int_equal(st_serve_parse_content_range("100-100", &a, &b), 0);
	assert_int_equal(st_serve_parse_content_range("5-4", &a, &b), -ST_EINVALID);
	assert_int_equal(st_serve_parse_content_range("bytes 0-9", &a, &b), -ST_EINVALID);
	assert_int_equal(st_serve_parse_content_range("0-", &a, &b), -ST_EINVALID);
	assert_int_equal(st_serve_parse_content_range("-9", &a, &b), -ST_EINVALID);
	assert_int_equal(st_serve_parse_content_range("1-2-3", &a, &b), -ST_EINVALID);
	assert_int_equal(st_serve_parse_content_range("18446744073709551616-1", &a, &b),
	                 -ST_EINVALID);
}

static void upload_chunks_in_order_only(void **state)
{
	struct srv_upload_sm sm = {.max = 1000};

	(void)state;
	assert_int_equal(st_serve_up_begin(&sm, "0-9", 10), SRV_UP_OK);
	assert_int_equal(st_serve_up_begin(&sm, NULL, 1), SRV_UP_BUSY);
	assert_int_equal(st_serve_up_data(&sm, 6), SRV_UP_OK);
	assert_int_equal(st_serve_up_data(&sm, 5), SRV_UP_TOO_LARGE);
	assert_int_equal(st_serve_up_data(&sm, 4), SRV_UP_OK);
	assert_int_equal(st_serve_up_end(&sm), SRV_UP_OK);
	assert_int_equal(sm.offset, 10);
	assert_int_equal(st_serve_up_begin(&sm, "0-9", 10), SRV_UP_RANGE);
	assert_int_equal(st_serve_up_begin(&sm, "11-20", 10), SRV_UP_RANGE);
	assert_int_equal(st_serve_up_begin(&sm, "10-19", 5), SRV_UP_INVALID);
	assert_int_equal(st_serve_up_begin(&sm, "x", 5), SRV_UP_INVALID);
	assert_int_equal(st_serve_up_begin(&sm, "10-2000", UINT64_MAX), SRV_UP_TOO_LARGE);
	/* a streamed chunk of unknown length, cut short: the offset keeps what came */
	assert_int_equal(st_serve_up_begin(&sm, NULL, UINT64_MAX), SRV_UP_OK);
	assert_int_equal(st_serve_up_data(&sm, 7), SRV_UP_OK);
	st_serve_up_abort(&sm);
	assert_int_equal(sm.offset, 17);
	assert_int_equal(st_serve_up_begin(&sm, "17-19", 3), SRV_UP_OK);
	assert_int_equal(st_serve_up_data(&sm, 2), SRV_UP_OK);
	assert_int_equal(st_serve_up_end(&sm), SRV_UP_SHORT);
	assert_int_equal(st_serve_up_end(&sm), SRV_UP_INVALID);
}

static void base64_vectors(void **state)
{
	/* RFC 4648 section 10 */
	static const char *const enc[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
	                                  "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	static const char *const dec[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};

	(void)state;
	for (size_t i = 0; i < 7; i++) {
		struct st_buf b = ST_BUF_INIT;
		assert_int_equal(st_serve_base64_decode(enc[i], strlen(enc[i]), &b, NULL), 0);
		assert_string_equal(b.data, dec[i]);
		st_buf_release(&b);
	}
	struct st_buf b = ST_BUF_INIT;
	assert_int_equal(st_serve_base64_decode("Zm9", 3, &b, NULL), -ST_EINVALID);
	assert_int_equal(st_serve_base64_decode("Z=9v", 4, &b, NULL), -ST_EINVALID);
	assert_int_equal(st_serve_base64_decode("Zm!v", 4, &b, NULL), -ST_EINVALID);
	st_buf_release(&b);
}

static void gc_keeps_linked_blobs_only(void **state)
{
	char *root = unit_mkdtemp();
	struct st_store *s = NULL;
	struct st_gc_stats stats;
	struct st_digest kept, gone;
	int fd;

	(void)state;
	assert_int_equal(st_store_open(root, &s, NULL), 0);
	assert_int_equal(st_strata_register(s, NULL), 0);
	assert_int_equal(st_store_put_blob(s, "kept", 4, NULL, &kept, NULL), 0);
	assert_int_equal(st_store_put_blob(s, "gone", 4, NULL, &gone, NULL), 0);
	fd = srv_repos_open(s, NULL);
	assert_true(fd >= 0);
	assert_int_equal(srv_link_write(fd, "a/b", SRV_LINK_LAYER, &kept, NULL, NULL), 0);
	assert_true(srv_link_exists(fd, "a/b", SRV_LINK_LAYER, &kept));
	assert_false(srv_link_exists(fd, "a", SRV_LINK_LAYER, &kept));
	assert_int_equal(st_store_gc(s, &stats, NULL), 0);
	assert_true(st_store_has_blob(s, &kept));
	assert_false(st_store_has_blob(s, &gone));
	assert_int_equal(srv_link_remove(fd, "a/b", SRV_LINK_LAYER, &kept, NULL), 0);
	assert_int_equal(srv_link_remove(fd, "a/b", SRV_LINK_LAYER, &kept, NULL), -ST_ENOTFOUND);
	assert_int_equal(st_store_gc(s, &stats, NULL), 0);
	assert_false(st_store_has_blob(s, &kept));
	close(fd);
	st_store_free(s);
	unit_rmtree(root);
	free(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(router_table),
	        cmocka_unit_test(range_table),
	        cmocka_unit_test(content_range_table),
	        cmocka_unit_test(upload_chunks_in_order_only),
	        cmocka_unit_test(base64_vectors),
	        cmocka_unit_test(gc_keeps_linked_blobs_only),
	};
	return cmocka_run_group_tests_name("serve", tests, NULL, NULL);
}
