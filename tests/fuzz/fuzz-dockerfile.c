/* fuzz-dockerfile.c: st_dockerfile_parse on arbitrary bytes. Invariants: a refusal always says
 * why; an accepted file dumps, converts to JSON and validates without crashing, its line
 * ranges are ordered and within the file, and parsing is deterministic (same dump twice). */
#include "fuzz.h"
#include <string.h>

#include "strata/dockerfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t count_lines(const uint8_t *data, size_t size)
{
	size_t n = 0;

	for (size_t i = 0; i < size; i++)
		n += data[i] == '\n';
	return n + 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct st_error err = ST_ERROR_INIT;
	struct st_dockerfile *df = NULL, *again = NULL;
	struct st_buf a = ST_BUF_INIT, b = ST_BUF_INIT, js = ST_BUF_INIT;
	size_t lines = count_lines(data, size);

	if (st_dockerfile_parse((const char *)data, size, "Dockerfile", 0, &df, &err) < 0) {
		FUZZ_CHECK(err.msg[0] != '\0' && df == NULL);
		return 0;
	}
	for (size_t i = 0; i < df->n_instrs; i++) {
		FUZZ_CHECK(df->instrs[i].start_line >= 1);
		FUZZ_CHECK(df->instrs[i].start_line <= df->instrs[i].end_line);
		FUZZ_CHECK((size_t)df->instrs[i].end_line <= lines);
		FUZZ_CHECK(i == 0 || df->instrs[i].start_line > df->instrs[i - 1].end_line);
	}
	FUZZ_CHECK(st_dockerfile_dump(df, &a, &err) == 0);
	FUZZ_CHECK(st_dockerfile_to_json(df, &js, &err) == 0);
	(void)st_dockerfile_validate(df, &err);
	FUZZ_CHECK(st_dockerfile_parse((const char *)data, size, "Dockerfile", 0, &again, &err) ==
	           0);
	FUZZ_CHECK(st_dockerfile_dump(again, &b, &err) == 0);
	FUZZ_CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
	st_buf_release(&a);
	st_buf_release(&b);
	st_buf_release(&js);
	st_dockerfile_free(again);
	st_dockerfile_free(df);
	return 0;
}
