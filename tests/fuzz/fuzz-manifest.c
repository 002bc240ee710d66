/* fuzz-manifest.c: the manifest, index and config parsers on arbitrary bytes. Invariants: no
 * crash or leak; whatever parses dumps canonically, and the canonical bytes parse again and
 * dump to the same bytes. */
#include "fuzz.h"
#include <string.h>

#include "strata/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_manifest(const char *p, size_t len)
{
	struct st_buf a = ST_BUF_INIT, b = ST_BUF_INIT;
	struct st_manifest m, again;

	if (st_manifest_parse(p, len, NULL, &m, NULL) < 0)
		return;
	(void)st_manifest_check_image(&m, NULL);
	FUZZ_CHECK(st_manifest_dump(&m, &a, NULL) == 0);
	FUZZ_CHECK(st_manifest_parse(a.data, a.len, NULL, &again, NULL) == 0);
	FUZZ_CHECK(st_manifest_dump(&again, &b, NULL) == 0);
	FUZZ_CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
	st_manifest_release(&again);
	st_manifest_release(&m);
	st_buf_release(&a);
	st_buf_release(&b);
}

static void check_index(const char *p, size_t len)
{
	struct st_buf a = ST_BUF_INIT, b = ST_BUF_INIT;
	struct st_index ix, again;

	if (st_index_parse(p, len, NULL, &ix, NULL) < 0)
		return;
	(void)st_index_select(&ix, NULL, NULL);
	FUZZ_CHECK(st_index_dump(&ix, &a, NULL) == 0);
	FUZZ_CHECK(st_index_parse(a.data, a.len, NULL, &again, NULL) == 0);
	FUZZ_CHECK(st_index_dump(&again, &b, NULL) == 0);
	FUZZ_CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
	st_index_release(&again);
	st_index_release(&ix);
	st_buf_release(&a);
	st_buf_release(&b);
}

static void check_config(const char *p, size_t len)
{
	struct st_buf a = ST_BUF_INIT, b = ST_BUF_INIT;
	struct st_image_config c, again;
	struct st_digest d;

	if (st_image_config_parse(p, len, &c, NULL) < 0)
		return;
	if (c.n_diff_ids > 0)
		FUZZ_CHECK(st_image_chain_id(c.diff_ids, c.n_diff_ids, &d, NULL) == 0);
	FUZZ_CHECK(st_image_config_dump(&c, &a, NULL) == 0);
	FUZZ_CHECK(st_image_config_parse(a.data, a.len, &again, NULL) == 0);
	FUZZ_CHECK(st_image_config_dump(&again, &b, NULL) == 0);
	FUZZ_CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
	st_image_config_release(&again);
	st_image_config_release(&c);
	st_buf_release(&a);
	st_buf_release(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	enum st_manifest_kind kind;
	struct st_error err = ST_ERROR_INIT;

	if (size > ST_MAX_MANIFEST_SIZE)
		return 0;
	if (st_manifest_detect(p, size, NULL, &kind, &err) < 0)
		FUZZ_CHECK(err.msg[0] != '\0');
	check_manifest(p, size);
	check_index(p, size);
	check_config(p, size);
	return 0;
}
