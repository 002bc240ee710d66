/* fuzz-serve-upload.c: the upload state machine driven by a script of chunks: each op is a
 * kind byte, then a Content-Range (or none), a Content-Length and data sizes. A model tracks
 * what must hold: the offset only moves by bytes accepted in an open chunk, never past the cap,
 * and a chunk that does not start at the offset is never opened. */
#include "fuzz.h"
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "serve/serve-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t take(const uint8_t **p, size_t *left, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i<n && * left> 0; i++, (*p)++, (*left)--)
		v = (v << 8) | **p;
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct srv_upload_sm sm = {.max = 1u << 20};
	const uint8_t *p = data;
	size_t left = size;

	while (left > 0) {
		unsigned op = (unsigned)take(&p, &left, 1) % 4;
		uint64_t before = sm.offset, x = take(&p, &left, 3), y = take(&p, &left, 3);
		char cr[48];
		enum srv_verdict v;
		switch (op) {
		case 0: /* PATCH with Content-Range */
			snprintf(cr, sizeof(cr), "%" PRIu64 "-%" PRIu64, x, x + y);
			v = st_serve_up_begin(&sm, cr, (y & 1) ? UINT64_MAX : y + 1);
			if (v == SRV_UP_OK)
				FUZZ_CHECK(x == before);
			if (x != before && !sm.in_chunk)
				FUZZ_CHECK(v != SRV_UP_OK);
			break;
		case 1: /* streamed PATCH */
			v = st_serve_up_begin(&sm, NULL, (x & 1) ? UINT64_MAX : y);
			break;
		case 2: /* data */
			v = st_serve_up_data(&sm, y);
			FUZZ_CHECK(v == SRV_UP_OK ? sm.offset == before + y : sm.offset == before);
			break;
		default:
			if (x & 1)
				st_serve_up_abort(&sm);
			else
				(void)st_serve_up_end(&sm);
			FUZZ_CHECK(!sm.in_chunk);
			break;
		}
		FUZZ_CHECK(sm.offset <= sm.max);
		FUZZ_CHECK(!sm.in_chunk || sm.expect == UINT64_MAX || sm.got <= sm.expect);
		if (op != 2)
			FUZZ_CHECK(sm.offset == before);
	}
	return 0;
}
