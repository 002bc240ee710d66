/* test-build-key.c: step keys made of named items: the key depends on every label and byte (and
 * not on how labels print), records are kept per slot, and an explanation names the most
 * important change with the number of changed files. */
#include "unit.h"

#include <sys/stat.h>
#include <unistd.h>

#include "build/build-key.h"

struct item {
	const char *label, *data;
};

static void key_of(const struct item *v, size_t n, struct st_digest *out, struct st_buf *rec)
{
	struct build_key k;
	struct st_error err = {0};

	assert_int_equal(build_key_init(&k, rec != NULL, &err), 0);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(build_key_item(&k, &err, "%s", v[i].label), 0);
		st_hasher_update(&k.item, v[i].data, strlen(v[i].data));
	}
	build_key_final(&k, out);
	if (rec)
		st_buf_swap(rec, &k.rec);
	build_key_release(&k);
}

static void key_items(void **state)
{
	(void)state;
	static const struct item a[] = {{"parent", "p"}, {"file /x", "1"}},
	                         b[] = {{"parent", "p"}, {"file /y", "1"}},
	                         c[] = {{"parent", "p"}, {"file /x", "2"}},
	                         /* one label escapes like the other in the record */
	        d1[] = {{"parent", "p"}, {"file /a\tb", "1"}},
	                         d2[] = {{"parent", "p"}, {"file /a\\x09b", "1"}};
	struct st_digest ka, ka2, kb, kc, kd1, kd2;
	struct st_buf rec = ST_BUF_INIT;

	key_of(a, 2, &ka, &rec);
	key_of(a, 2, &ka2, NULL);
	key_of(b, 2, &kb, NULL);
	key_of(c, 2, &kc, NULL);
	key_of(d1, 2, &kd1, NULL);
	key_of(d2, 2, &kd2, NULL);
	assert_memory_equal(ka.bytes, ka2.bytes, 32);
	assert_memory_not_equal(ka.bytes, kb.bytes, 32);
	assert_memory_not_equal(ka.bytes, kc.bytes, 32);
	assert_memory_not_equal(kd1.bytes, kd2.bytes, 32);
	/* one line per item: 64 hex digits, a space, the label */
	assert_int_equal(rec.len, 2 * 65 + strlen("parent\n") + strlen("file /x\n"));
	assert_non_null(strstr(rec.data, " parent\n"));
	assert_non_null(strstr(rec.data, " file /x\n"));
	st_buf_release(&rec);
}

static char *explain(const char *dir, const struct item *old, size_t n_old, const struct item *now,
                     size_t n_now, bool first_step)
{
	struct st_error err = {0};
	struct st_buf slot = ST_BUF_INIT, rec = ST_BUF_INIT, why = ST_BUF_INIT;
	struct st_digest k;

	assert_int_equal(build_key_slot(dir, dir, "Dockerfile", 1, 3, &slot, &err), 0);
	unlink(slot.data);
	if (old) {
		key_of(old, n_old, &k, &rec);
		assert_int_equal(build_key_save(slot.data, &k, &rec, &err), 0);
		st_buf_reset(&rec);
	}
	key_of(now, n_now, &k, &rec);
	assert_int_equal(build_key_explain(slot.data, &rec, first_step, &why, &err), 0);
	st_buf_release(&slot);
	st_buf_release(&rec);
	return st_buf_detach(&why, NULL);
}

static void explanations(void **state)
{
	(void)state;
	char *dir = unit_mkdtemp(), *why;
	static const struct item base[] = {{"parent", "p"},  {"instruction", "COPY . /"},
	                                   {"arg V", "V=1"}, {"file /a", "1"},
	                                   {"file /b", "1"}, {"file /c", "1"}},
	                         files[] = {{"parent", "p"},  {"instruction", "COPY . /"},
	                                    {"arg V", "V=1"}, {"file /a", "1"},
	                                    {"file /b", "2"}, {"file /d", "1"}},
	                         arg[] = {{"parent", "p"},  {"instruction", "COPY . /"},
	                                  {"arg V", "V=2"}, {"file /a", "2"},
	                                  {"file /b", "1"}, {"file /c", "1"}},
	                         parent[] = {{"parent", "q"}, {"instruction", "COPY . /"}};

	why = explain(dir, NULL, 0, base, 6, false);
	assert_string_equal(why, "no earlier build of this step is recorded");
	free(why);
	/* /b changed, /c removed, /d added: the first by label, and the count */
	why = explain(dir, base, 6, files, 6, false);
	assert_string_equal(why, "file /b changed (and 2 more files)");
	free(why);
	/* an arg ranks above a file */
	why = explain(dir, base, 6, arg, 6, false);
	assert_string_equal(why, "build arg V changed");
	free(why);
	why = explain(dir, base, 6, parent, 2, true);
	assert_string_equal(why, "the base image changed");
	free(why);
	why = explain(dir, base, 6, base, 6, false);
	assert_non_null(strstr(why, "recorded inputs are the same"));
	free(why);
	unit_rmtree(dir);
	free(dir);
}

/* A slot that already holds the key is not rewritten; another key replaces the record. */
static void save_once(void **state)
{
	(void)state;
	char *dir = unit_mkdtemp();
	static const struct item a[] = {{"parent", "p"}}, b[] = {{"parent", "q"}};
	struct st_error err = {0};
	struct st_buf slot = ST_BUF_INIT, rec = ST_BUF_INIT, text = ST_BUF_INIT;
	struct st_digest ka, kb;
	char hex[ST_DIGEST_HEX_MAX + 1];
	struct stat st1, st2;

	assert_int_equal(build_key_slot(dir, "/nonexistent/ctx", "Dockerfile", 0, 2, &slot, &err),
	                 0);
	key_of(a, 1, &ka, &rec);
	assert_int_equal(build_key_save(slot.data, &ka, &rec, &err), 0);
	assert_int_equal(stat(slot.data, &st1), 0);
	assert_int_equal(build_key_save(slot.data, &ka, &rec, &err), 0);
	assert_int_equal(stat(slot.data, &st2), 0);
	assert_int_equal(st1.st_ino, st2.st_ino);
	st_buf_reset(&rec);
	key_of(b, 1, &kb, &rec);
	assert_int_equal(build_key_save(slot.data, &kb, &rec, &err), 0);
	FILE *f = fopen(slot.data, "r");
	char line[200];
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	st_digest_hex(&kb, hex);
	assert_int_equal(strncmp(line, "key ", 4), 0);
	assert_int_equal(strncmp(line + 4, hex, 64), 0);
	st_buf_release(&slot);
	st_buf_release(&rec);
	st_buf_release(&text);
	unit_rmtree(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(key_items),
	        cmocka_unit_test(explanations),
	        cmocka_unit_test(save_once),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
