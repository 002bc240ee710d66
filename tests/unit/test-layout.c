/* test-layout.c: copying an image out of an OCI image layout directory (here another store's
 * root) into a store: verified blob by blob, all or nothing, never through a symlink. */
#include "unit.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "strata/archive.h"
#include "strata/image.h"

struct fixture {
	char *dir;
	struct st_store *src, *dst;
	struct st_descriptor man; /* the image in src */
	struct st_digest layers[2], config;
};

static void put(struct st_store *s, const char *content, struct st_digest *out)
{
	assert_int_equal(st_store_put_blob(s, content, strlen(content), NULL, out, NULL), 0);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct st_descriptor d = {0};
	struct st_manifest m;
	struct st_buf raw = ST_BUF_INIT;
	char path[600];

	f->dir = unit_mkdtemp();
	snprintf(path, sizeof(path), "%s/src", f->dir);
	assert_int_equal(st_store_open(path, &f->src, NULL), 0);
	snprintf(path, sizeof(path), "%s/dst", f->dir);
	assert_int_equal(st_store_open(path, &f->dst, NULL), 0);
	st_manifest_init(&m, ST_KIND_OCI_MANIFEST);
	put(f->src, "{\"config\":{}}", &f->config);
	d.media_type = (char *)ST_MT_OCI_CONFIG;
	d.digest = f->config;
	d.size = 13;
	assert_int_equal(st_manifest_set_config(&m, &d, NULL), 0);
	put(f->src, "layer number one", &f->layers[0]);
	put(f->src, "layer number two", &f->layers[1]);
	d.media_type = (char *)ST_MT_OCI_LAYER;
	d.size = 16;
	for (int i = 0; i < 2; i++) {
		d.digest = f->layers[i];
		assert_int_equal(st_manifest_add_layer(&m, &d, NULL), 0);
	}
	assert_int_equal(st_manifest_dump(&m, &raw, NULL), 0);
	put(f->src, raw.data, &f->man.digest);
	f->man.size = raw.len;
	f->man.media_type = (char *)ST_MT_OCI_MANIFEST;
	st_buf_release(&raw);
	st_manifest_release(&m);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	st_store_free(f->src);
	st_store_free(f->dst);
	unit_rmtree(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static void src_blob_path(struct fixture *f, const struct st_digest *d, char *out, size_t len)
{
	char hex[ST_DIGEST_HEX_MAX + 1];

	st_digest_hex(d, hex);
	snprintf(out, len, "%s/src/blobs/sha256/%s", f->dir, hex);
}

static bool dst_is_empty(struct fixture *f)
{
	return !st_store_has_blob(f->dst, &f->man.digest) &&
	       !st_store_has_blob(f->dst, &f->config) &&
	       !st_store_has_blob(f->dst, &f->layers[0]) &&
	       !st_store_has_blob(f->dst, &f->layers[1]);
}

static void copy_brings_every_blob(void **state)
{
	struct fixture *f = *state;
	struct st_digest cfg;

	assert_int_equal(
	        st_layout_copy_image(f->dst, st_store_root_fd(f->src), &f->man, &cfg, NULL), 0);
	assert_true(st_digest_equal(&cfg, &f->config));
	assert_true(st_store_has_blob(f->dst, &f->config));
	assert_true(st_store_has_blob(f->dst, &f->layers[0]));
	assert_true(st_store_has_blob(f->dst, &f->layers[1]));
	assert_true(st_store_has_blob(f->dst, &f->man.digest));
	/* again: everything is there, nothing is read */
	assert_int_equal(
	        st_layout_copy_image(f->dst, st_store_root_fd(f->src), &f->man, NULL, NULL), 0);
}

static void a_tampered_layer_leaves_nothing(void **state)
{
	struct fixture *f = *state;
	struct st_error err = ST_ERROR_INIT;
	char path[700], want[ST_DIGEST_STR_MAX];

	src_blob_path(f, &f->layers[1], path, sizeof(path));
	chmod(path, 0644);
	unit_write_file(path, "layer number 2!!", 16); /* same size, other bytes */
	assert_int_equal(
	        st_layout_copy_image(f->dst, st_store_root_fd(f->src), &f->man, NULL, &err),
	        -ST_EDIGEST);
	st_digest_str(&f->layers[1], want);
	assert_non_null(strstr(err.msg, want));
	/* layer one was fine, but it is not visible either */
	assert_true(dst_is_empty(f));
}

static void a_wrong_size_or_a_symlink_is_refused(void **state)
{
	struct fixture *f = *state;
	struct st_error err = ST_ERROR_INIT;
	struct st_descriptor d = f->man;
	char path[700];

	d.size++;
	assert_int_equal(st_layout_copy_image(f->dst, st_store_root_fd(f->src), &d, NULL, &err),
	                 -ST_EINVALID);
	assert_non_null(strstr(err.msg, "descriptor says"));
	src_blob_path(f, &f->layers[0], path, sizeof(path));
	assert_int_equal(unlink(path), 0);
	assert_int_equal(symlink("/etc/passwd", path), 0);
	assert_true(st_layout_copy_image(f->dst, st_store_root_fd(f->src), &f->man, NULL, &err) <
	            0);
	assert_non_null(strstr(err.msg, "layout entry 'blobs/sha256/"));
	assert_true(dst_is_empty(f));
}

static void list_reads_index_json(void **state)
{
	struct fixture *f = *state;
	struct st_error err = ST_ERROR_INIT;
	struct st_descriptor *e = NULL;
	size_t n = 9;
	char path[700];
	int fd;

	assert_int_equal(st_store_tag(f->src, "latest", &f->man, NULL), 0);
	assert_int_equal(st_layout_list(st_store_root_fd(f->src), &e, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_string_equal(st_descriptor_annotation(&e[0], ST_ANNOT_REF_NAME), "latest");
	st_store_entries_free(e, n);
	snprintf(path, sizeof(path), "%s/dst", f->dir);
	fd = open(path, O_RDONLY | O_DIRECTORY);
	snprintf(path, sizeof(path), "%s/dst/index.json", f->dir);
	unlink(path);
	assert_int_equal(st_layout_list(fd, &e, &n, &err), -ST_ENOTFOUND);
	unit_write_file(path, "{\"manifests\":[", 14);
	assert_int_equal(st_layout_list(fd, &e, &n, &err), -ST_EINVALID);
	assert_non_null(strstr(err.msg, "index.json"));
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(copy_brings_every_blob, setup, teardown),
	        cmocka_unit_test_setup_teardown(a_tampered_layer_leaves_nothing, setup, teardown),
	        cmocka_unit_test_setup_teardown(a_wrong_size_or_a_symlink_is_refused, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(list_reads_index_json, setup, teardown),
	};
	return cmocka_run_group_tests_name("layout", tests, NULL, NULL);
}
