/* fuzz-digest.c: st_digest_parse on arbitrary bytes. Invariant: a digest that parses formats
 * back to exactly its input. */
#include "fuzz.h"
#include <string.h>

#include "strata/digest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct st_error err = ST_ERROR_INIT;
	struct st_digest d;
	char s[ST_DIGEST_STR_MAX];

	if (st_digest_parse((const char *)data, size, &d, &err) == 0) {
		st_digest_str(&d, s);
		FUZZ_CHECK(strlen(s) == size && memcmp(s, data, size) == 0);
	} else {
		FUZZ_CHECK(err.msg[0] != '\0');
	}
	return 0;
}
