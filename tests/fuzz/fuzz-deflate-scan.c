/* fuzz-deflate-scan.c: the deflate block scanner of the gzip writer on any bytes. Invariants:
 * a stream it accepts ends inside the input, after its last block's header; unfinishing it
 * stays inside the five bytes of room and leaves no complete stream (the last block lost its
 * final bit, and nothing follows the stored marker). */
#include "fuzz.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "layer/layer-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct layer_deflate_shape s, again;
	unsigned char *p;
	size_t len = size;

	if (layer_deflate_scan(data, size, &s) != 0)
		return 0;
	FUZZ_CHECK(s.end_bit <= (uint64_t)size * 8);
	FUZZ_CHECK(s.last_block_bit + 3 <= s.end_bit);
	p = malloc(size + 5);
	if (!p)
		return 0;
	memcpy(p, data, size);
	FUZZ_CHECK(layer_deflate_unfinish(p, &len, size + 5) == 0);
	FUZZ_CHECK(len <= size + 5 && len >= (s.end_bit + 7) / 8 + 4);
	FUZZ_CHECK(memcmp(p + len - 4, "\x00\x00\xff\xff", 4) == 0);
	FUZZ_CHECK(layer_deflate_scan(p, len, &again) != 0);
	free(p);
	return 0;
}
