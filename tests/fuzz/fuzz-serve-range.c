/* fuzz-serve-range.c: Range and Content-Range headers. The first 8 bytes are the blob size.
 * Invariants: a satisfiable range lies inside the blob and is not empty; a Content-Range
 * parses to start <= end and formats back to its own text. */
#include "fuzz.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/serve-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t blob = 0, a, n, e;
	char *h;

	if (size < 8)
		return 0;
	memcpy(&blob, data, 8);
	blob %= UINT64_C(1) << 50;
	h = malloc(size - 8 + 1);
	if (!h)
		return 0;
	memcpy(h, data + 8, size - 8);
	h[size - 8] = '\0';
	if (st_serve_parse_range(h, blob, &a, &n) == 1)
		FUZZ_CHECK(n > 0 && a < blob && n <= blob - a);
	if (st_serve_parse_content_range(h, &a, &e) == 0) {
		char back[48];
		FUZZ_CHECK(a <= e);
		snprintf(back, sizeof(back), "%" PRIu64 "-%" PRIu64, a, e);
		FUZZ_CHECK(strcmp(back, h) == 0 || h[0] == '0' || strstr(h, "-0"));
	}
	free(h);
	return 0;
}
