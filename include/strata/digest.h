/* include/strata/digest.h: content digests as the OCI image spec defines them
 * ("algorithm:encoded"), and streaming hashing (OpenSSL EVP, SHA-NI where the CPU has it). */
#ifndef ST_DIGEST_H
#define ST_DIGEST_H

#include <stdbool.h>

#include "strata/common.h"

enum st_digest_alg { ST_DIGEST_SHA256 = 1, ST_DIGEST_SHA512 = 2 };

#define ST_DIGEST_MAX_BYTES 64
#define ST_DIGEST_HEX_MAX (2 * ST_DIGEST_MAX_BYTES)
/* "sha512:" + 128 hex + NUL */
#define ST_DIGEST_STR_MAX (7 + ST_DIGEST_HEX_MAX + 1)

struct st_digest {
	enum st_digest_alg alg;
	unsigned char bytes[ST_DIGEST_MAX_BYTES];
};

/* Parses "sha256:<64 lowercase hex>" or "sha512:<128 lowercase hex>" from s[0..len).
 * -ST_EINVALID for a malformed digest, -ST_EUNSUPPORTED for a well-formed one of another
 * registered-looking algorithm. The message quotes the input and the offset at fault. */
ST_API int st_digest_parse(const char *s, size_t len, struct st_digest *out, struct st_error *err);
/* As st_digest_parse for a NUL-terminated string. */
ST_API int st_digest_parse_str(const char *s, struct st_digest *out, struct st_error *err);
ST_API size_t st_digest_size(enum st_digest_alg alg); /* bytes: 32 or 64 */
ST_API const char *st_digest_alg_name(enum st_digest_alg alg);
/* Writes the lowercase hex of d (NUL-terminated) into hex[ST_DIGEST_HEX_MAX + 1]. */
ST_API void st_digest_hex(const struct st_digest *d, char *hex);
/* Writes "alg:hex" into out[ST_DIGEST_STR_MAX]. */
ST_API void st_digest_str(const struct st_digest *d, char *out);
ST_API bool st_digest_equal(const struct st_digest *a, const struct st_digest *b);
/* One-shot digest of a buffer. -ST_ENOMEM or -ST_ESYS if OpenSSL fails. */
ST_API int st_digest_of(enum st_digest_alg alg, const void *p, size_t len, struct st_digest *out,
                        struct st_error *err);
/* True when p[0..len) hashes to d. */
ST_API bool st_digest_check(const struct st_digest *d, const void *p, size_t len);

/* Streaming hasher. Caller-allocated; init before use, release after (release of a
 * zero-initialised or finished hasher is a no-op). */
struct st_hasher {
	void *ctx; /* OpenSSL SHA256_CTX or SHA512_CTX */
	enum st_digest_alg alg;
	uint64_t len; /* bytes fed so far */
};

ST_API int st_hasher_init(struct st_hasher *h, enum st_digest_alg alg, struct st_error *err);
ST_API void st_hasher_update(struct st_hasher *h, const void *p, size_t len);
/* Finishes into *out and releases the context. */
ST_API void st_hasher_final(struct st_hasher *h, struct st_digest *out);
/* Finishes into *out and starts over with the same context: for many small hashes in a row
 * (a fresh context costs more than hashing a hundred bytes). */
ST_API void st_hasher_final_reset(struct st_hasher *h, struct st_digest *out);
ST_API void st_hasher_release(struct st_hasher *h);

#endif
