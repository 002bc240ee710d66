/* digest.c: OCI digests (image-spec descriptor.md "Digests") and streaming SHA-256/512 over
 * OpenSSL's SHA functions, whose assembly picks SHA-NI or AVX2 by CPUID at load time. Not EVP:
 * its first fetch initialises the provider machinery (about 1.5 ms, a tenth of a fully cached
 * build), and each context costs a fetch-free but still heavy init; the digests are the same
 * code underneath. */
#define OPENSSL_SUPPRESS_DEPRECATED /* SHA256_Init & co: deprecated in 3.0, not removed */
#include "strata/digest.h"

#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h" /* last: it poisons names the system headers use */

size_t st_digest_size(enum st_digest_alg alg)
{
	return alg == ST_DIGEST_SHA512 ? 64 : 32;
}

const char *st_digest_alg_name(enum st_digest_alg alg)
{
	return alg == ST_DIGEST_SHA512 ? "sha512" : "sha256";
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* image-spec: algorithm ::= algorithm-component (algorithm-separator algorithm-component)*,
 * algorithm-component ::= [a-z0-9]+, algorithm-separator ::= [+._-],
 * encoded ::= [a-zA-Z0-9=_-]+ */
static bool valid_algorithm(const char *s, size_t len)
{
	bool need_comp = true;

	if (!len)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
			need_comp = false;
		} else if (c == '+' || c == '.' || c == '_' || c == '-') {
			if (need_comp)
				return false;
			need_comp = true;
		} else {
			return false;
		}
	}
	return !need_comp;
}

static bool valid_encoded(const char *s, size_t len)
{
	if (!len)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '=' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

int st_digest_parse(const char *s, size_t len, struct st_digest *out, struct st_error *err)
{
	const char *colon = memchr(s, ':', len);
	struct st_digest d = {0};
	size_t alen, elen, want;
	const char *enc;
	int shown = len > 80 ? 80 : (int)len;

	if (!colon)
		return st_error_set(err, ST_EINVALID, "invalid digest \"%.*s%s\": missing ':'",
		                    shown, s, len > 80 ? "..." : "");
	alen = (size_t)(colon - s);
	enc = colon + 1;
	elen = len - alen - 1;
	if (!valid_algorithm(s, alen) || !valid_encoded(enc, elen))
		return st_error_set(err, ST_EINVALID, "invalid digest \"%.*s%s\"", shown, s,
		                    len > 80 ? "..." : "");
	if (alen == 6 && memcmp(s, "sha256", 6) == 0)
		d.alg = ST_DIGEST_SHA256;
	else if (alen == 6 && memcmp(s, "sha512", 6) == 0)
		d.alg = ST_DIGEST_SHA512;
	else
		return st_error_set(err, ST_EUNSUPPORTED,
		                    "unsupported digest algorithm \"%.*s\" (sha256 and sha512 are)",
		                    alen > 40 ? 40 : (int)alen, s);
	want = 2 * st_digest_size(d.alg);
	if (elen != want)
		return st_error_set(err, ST_EINVALID,
		                    "invalid digest \"%.*s%s\": %s needs %zu hex digits, not %zu",
		                    shown, s, len > 80 ? "..." : "", st_digest_alg_name(d.alg),
		                    want, elen);
	for (size_t i = 0; i < elen; i += 2) {
		int hi = hexval(enc[i]), lo = hexval(enc[i + 1]);
		if (hi < 0 || lo < 0)
			return st_error_set(
			        err, ST_EINVALID,
			        "invalid digest \"%.*s%s\": offset %zu: not a lowercase hex digit",
			        shown, s, len > 80 ? "..." : "", alen + 1 + i + (hi < 0 ? 0 : 1));
		d.bytes[i / 2] = (unsigned char)(hi << 4 | lo);
	}
	*out = d;
	return 0;
}

int st_digest_parse_str(const char *s, struct st_digest *out, struct st_error *err)
{
	return st_digest_parse(s, strlen(s), out, err);
}

void st_digest_hex(const struct st_digest *d, char *hex)
{
	static const char digits[] = "0123456789abcdef";
	size_t n = st_digest_size(d->alg);

	for (size_t i = 0; i < n; i++) {
		hex[2 * i] = digits[d->bytes[i] >> 4];
		hex[2 * i + 1] = digits[d->bytes[i] & 15];
	}
	hex[2 * n] = '\0';
}

void st_digest_str(const struct st_digest *d, char *out)
{
	memcpy(out, st_digest_alg_name(d->alg), 6);
	out[6] = ':';
	st_digest_hex(d, out + 7);
}

bool st_digest_equal(const struct st_digest *a, const struct st_digest *b)
{
	return a->alg == b->alg && memcmp(a->bytes, b->bytes, st_digest_size(a->alg)) == 0;
}

union sha_ctx {
	SHA256_CTX s256;
	SHA512_CTX s512;
};

static void ctx_start(union sha_ctx *c, enum st_digest_alg alg)
{
	if (alg == ST_DIGEST_SHA512)
		(void)SHA512_Init(&c->s512);
	else
		(void)SHA256_Init(&c->s256);
}

int st_hasher_init(struct st_hasher *h, enum st_digest_alg alg, struct st_error *err)
{
	union sha_ctx *c = malloc(sizeof(*c));

	if (!c)
		return st_error_set(err, ST_ENOMEM, "out of memory for a hash context");
	ctx_start(c, alg);
	h->ctx = c;
	h->alg = alg;
	h->len = 0;
	return 0;
}

void st_hasher_update(struct st_hasher *h, const void *p, size_t len)
{
	union sha_ctx *c = h->ctx;

	if (h->alg == ST_DIGEST_SHA512)
		(void)SHA512_Update(&c->s512, p, len);
	else
		(void)SHA256_Update(&c->s256, p, len);
	h->len += len;
}

static void finish(struct st_hasher *h, struct st_digest *out)
{
	union sha_ctx *c = h->ctx;

	memset(out, 0, sizeof(*out));
	out->alg = h->alg;
	if (h->alg == ST_DIGEST_SHA512)
		(void)SHA512_Final(out->bytes, &c->s512);
	else
		(void)SHA256_Final(out->bytes, &c->s256);
}

void st_hasher_final(struct st_hasher *h, struct st_digest *out)
{
	finish(h, out);
	st_hasher_release(h);
}

void st_hasher_final_reset(struct st_hasher *h, struct st_digest *out)
{
	finish(h, out);
	ctx_start(h->ctx, h->alg);
	h->len = 0;
}

void st_hasher_release(struct st_hasher *h)
{
	free(h->ctx);
	h->ctx = NULL;
}

int st_digest_of(enum st_digest_alg alg, const void *p, size_t len, struct st_digest *out,
                 struct st_error *err)
{
	struct st_hasher h;
	int rc = st_hasher_init(&h, alg, err);

	if (rc < 0)
		return rc;
	st_hasher_update(&h, p, len);
	st_hasher_final(&h, out);
	return 0;
}

bool st_digest_check(const struct st_digest *d, const void *p, size_t len)
{
	struct st_digest got;

	if (st_digest_of(d->alg, p, len, &got, NULL) < 0)
		return false;
	return st_digest_equal(d, &got);
}
