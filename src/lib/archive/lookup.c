/* lookup.c: what a user typed to an image of the store, resolved in the docker CLI's order:
 * a full digest (manifest or image ID), a reference name, then a unique image-ID prefix. */
#include "strata/archive.h"

#include <stdlib.h>
#include <string.h>

#include "strata/image.h"
#include "strata/ref.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

int st_image_id(struct st_store *s, const struct st_descriptor *desc, struct st_digest *out,
                struct st_error *err)
{
	struct st_image img;
	int rc = st_image_load(s, desc, NULL, &img, err);

	if (rc < 0)
		return rc;
	*out = img.manifest.config.digest;
	st_image_release(&img);
	return 0;
}

static bool is_hex(const char *s, size_t *len)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
			return false;
	*len = n;
	return n > 0 && n <= 64;
}

/* Finds the entry whose manifest digest or image ID starts with hex[0..len). */
static int by_hex(struct st_store *s, const struct st_descriptor *d, size_t n, const char *hex,
                  size_t len, struct st_descriptor *out, struct st_error *err)
{
	const struct st_descriptor *found = NULL;
	char h[ST_DIGEST_HEX_MAX + 1];

	for (size_t i = 0; i < n; i++) {
		struct st_digest id;
		bool match = false;
		st_digest_hex(&d[i].digest, h);
		/* a manifest digest matches only in full, as `docker image inspect sha256:...` */
		if (len == 64 && memcmp(h, hex, 64) == 0)
			match = true;
		if (!match && st_image_id(s, &d[i], &id, NULL) == 0) {
			st_digest_hex(&id, h);
			match = memcmp(h, hex, len) == 0;
		}
		if (!match)
			continue;
		if (found && !st_digest_equal(&found->digest, &d[i].digest))
			return st_error_set(err, ST_EINVALID,
			                    "image ID prefix '%.*s' is ambiguous: it names several "
			                    "images",
			                    (int)len, hex);
		found = &d[i];
	}
	if (!found)
		return -ST_ENOTFOUND;
	return st_descriptor_copy(out, found, err);
}

static int by_ref(const struct st_ref *r, const struct st_descriptor *d, size_t n,
                  struct st_descriptor *out, struct st_error *err)
{
	struct st_buf name = ST_BUF_INIT;
	int rc = -ST_ENOTFOUND;

	if (st_ref_format(r, ST_REF_FORMAT_NO_DIGEST, &name, err) < 0)
		return -ST_ENOMEM;
	for (size_t i = 0; i < n && rc == -ST_ENOTFOUND; i++) {
		const char *nm = st_descriptor_annotation(&d[i], ST_ANNOT_REF_NAME);
		if (r->has_digest) {
			/* name@digest: the digest decides; the name must be a repository of it
			 * unless the image is only known by digest */
			if (st_digest_equal(&d[i].digest, &r->digest))
				rc = st_descriptor_copy(out, &d[i], err);
		} else if (nm && strcmp(nm, name.data) == 0) {
			rc = st_descriptor_copy(out, &d[i], err);
		}
	}
	st_buf_release(&name);
	return rc;
}

int st_image_lookup(struct st_store *s, const char *spec, struct st_descriptor *out,
                    struct st_error *err)
{
	struct st_descriptor *d = NULL;
	struct st_ref r = {0};
	size_t n = 0, len;
	int rc;

	rc = st_store_list(s, &d, &n, err);
	if (rc < 0)
		return rc;
	if (strncmp(spec, "sha256:", 7) == 0 && is_hex(spec + 7, &len) && len == 64) {
		rc = by_hex(s, d, n, spec + 7, 64, out, err);
		goto done;
	}
	rc = st_ref_parse(spec, &r, err);
	if (rc == 0)
		rc = by_ref(&r, d, n, out, err);
	if (rc == -ST_ENOTFOUND || rc == -ST_EINVALID) {
		int prc = is_hex(spec, &len) ? by_hex(s, d, n, spec, len, out, err) : -ST_ENOTFOUND;
		if (prc != -ST_ENOTFOUND || rc == -ST_ENOTFOUND)
			rc = prc;
	}
done:
	if (rc == -ST_ENOTFOUND)
		st_error_set(err, ST_ENOTFOUND, "no such image: %s", spec);
	st_ref_release(&r);
	st_store_entries_free(d, n);
	return rc;
}

int st_image_open(struct st_store *s, const char *spec, const struct st_platform *platform,
                  struct st_image *out, struct st_error *err)
{
	struct st_descriptor d;
	int rc = st_image_lookup(s, spec, &d, err);

	if (rc < 0)
		return rc;
	rc = st_image_load(s, &d, platform, out, err);
	st_descriptor_release(&d);
	return rc < 0 ? st_error_wrap(err, "image '%s'", spec) : 0;
}
