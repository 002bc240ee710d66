/* fuzz-digest-mb.c: multi-buffer SHA-256 against OpenSSL's one-shot. The input's first byte picks
 * the lane count; lane i hashes the rest of the input from offset i: whole blocks through the
 * scalar path, then through every multi-buffer implementation the CPU runs, then the tail in
 * pieces whose sizes come from the input. Invariant: every lane's digest is OpenSSL's. */
#include "fuzz.h"
#include <string.h>

#include "digest/digest-mb.h"
#include "strata/digest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void one_impl(enum st_digest_mb_impl impl, const uint8_t *msg, size_t len, unsigned n)
{
	struct st_digest_stream ctx[ST_DIGEST_MB_LANES], *s[ST_DIGEST_MB_LANES];
	const unsigned char *p[ST_DIGEST_MB_LANES];
	size_t off[ST_DIGEST_MB_LANES], nb = SIZE_MAX;

	for (unsigned i = 0; i < n; i++) {
		size_t avail = len - i, head = 64 * (size_t)(msg[i] % 4);
		head = head > avail / 64 * 64 ? avail / 64 * 64 : head;
		st_digest_stream_init(&ctx[i]);
		st_digest_stream_update(&ctx[i], msg + i, head);
		off[i] = i + head;
		nb = (len - off[i]) / 64 < nb ? (len - off[i]) / 64 : nb;
		s[i] = &ctx[i];
	}
	for (unsigned i = 0; i < n; i++)
		p[i] = msg + off[i];
	st_digest_mb_blocks(impl, s, p, n, nb);
	for (unsigned i = 0; i < n; i++) {
		struct st_digest got, want;
		size_t o = off[i] + nb * 64, k = 0;
		while (o < len) {
			size_t piece = 1 + (size_t)msg[k++ % len] * 3;
			piece = piece > len - o ? len - o : piece;
			st_digest_stream_update(&ctx[i], msg + o, piece);
			o += piece;
		}
		st_digest_stream_final(&ctx[i], &got);
		FUZZ_CHECK(ctx[i].n_buf == 0);
		FUZZ_CHECK(st_digest_of(ST_DIGEST_SHA256, msg + i, len - i, &want, NULL) == 0);
		FUZZ_CHECK(st_digest_equal(&got, &want));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned n;

	if (size < 1)
		return 0;
	n = 1 + data[0] % ST_DIGEST_MB_LANES;
	if (size - 1 < n)
		return 0;
	for (int impl = ST_DIGEST_MB_SCALAR; impl <= (int)st_digest_mb_best(); impl++)
		one_impl((enum st_digest_mb_impl)impl, data + 1, size - 1, n);
	return 0;
}
