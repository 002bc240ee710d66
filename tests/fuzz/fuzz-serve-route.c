/* fuzz-serve-route.c: the registry server's router on any path. Invariants: a routed name is
 * valid by the spec's grammar (so never "..", "//" or a leading '/'), a routed digest
 * re-formats to the text it came from, an upload id is 32 lowercase hex. */
#include "fuzz.h"
#include <stdlib.h>
#include <string.h>

#include "serve/serve-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct st_serve_route r;
	char *path = malloc(size + 1);

	if (!path)
		return 0;
	memcpy(path, data, size);
	path[size] = '\0';
	if (st_serve_route_parse(path, &r, NULL) == 0 && r.kind != SRV_BASE) {
		FUZZ_CHECK(st_ref_valid_repository(r.name, NULL) == 0);
		FUZZ_CHECK(!strstr(r.name, "..") && !strstr(r.name, "//") && r.name[0] != '/');
		if (r.is_digest) {
			char ds[ST_DIGEST_STR_MAX];
			st_digest_str(&r.digest, ds);
			FUZZ_CHECK(strcmp(ds, r.ref) == 0);
		}
		if (r.kind == SRV_UPLOAD)
			FUZZ_CHECK(strlen(r.ref) == SRV_UPLOAD_ID_LEN &&
			           strspn(r.ref, "0123456789abcdef") == SRV_UPLOAD_ID_LEN);
		if (r.kind == SRV_MANIFEST && !r.is_digest)
			FUZZ_CHECK(st_ref_valid_tag(r.ref));
	}
	free(path);
	return 0;
}
