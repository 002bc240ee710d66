/* fuzz-ref.c: st_ref_parse on arbitrary bytes. Invariants: a reference that parses formats
 * (full and familiar forms) to strings that parse again to the same reference; a failure
 * always explains itself. */
#include "fuzz.h"
#include <stdlib.h>
#include <string.h>

#include "strata/ref.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void reparses_to(const struct st_ref *r, const char *s)
{
	struct st_ref again;
	int rc = st_ref_parse(s, &again, NULL);

	FUZZ_CHECK(rc == 0);
	FUZZ_CHECK(st_ref_equal(r, &again));
	st_ref_release(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct st_error err = ST_ERROR_INIT;
	struct st_buf full = ST_BUF_INIT, fam = ST_BUF_INIT;
	struct st_ref r;
	char *s;

	if (size > 4096 || memchr(data, '\0', size))
		return 0;
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (st_ref_parse(s, &r, &err) == 0) {
		FUZZ_CHECK(st_ref_format(&r, 0, &full, NULL) == 0);
		FUZZ_CHECK(st_ref_familiar(&r, 0, &fam, NULL) == 0);
		reparses_to(&r, full.data);
		reparses_to(&r, fam.data);
		st_ref_release(&r);
	} else {
		FUZZ_CHECK(err.msg[0] != '\0');
	}
	(void)st_ref_valid_repository(s, NULL);
	st_buf_release(&full);
	st_buf_release(&fam);
	free(s);
	return 0;
}
