/* descriptor.c: OCI content descriptors: ownership helpers and JSON (image-spec
 * descriptor.md). */
#include "store/descriptor-json.h"

#include <stdlib.h>
#include <string.h>

#include "util/banned.h" /* last: it poisons names the system headers use */

void st_descriptor_release(struct st_descriptor *d)
{
	if (!d)
		return;
	free(d->media_type);
	free(d->artifact_type);
	free(d->os);
	free(d->arch);
	free(d->variant);
	for (size_t i = 0; i < d->n_annotations; i++) {
		free(d->annotations[i].key);
		free(d->annotations[i].value);
	}
	free(d->annotations);
	memset(d, 0, sizeof(*d));
}

static int dup_opt(char **dst, const char *src, struct st_error *err)
{
	*dst = NULL;
	if (!src)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : st_error_set(err, ST_ENOMEM, "out of memory copying a descriptor");
}

int st_descriptor_copy(struct st_descriptor *dst, const struct st_descriptor *src,
                       struct st_error *err)
{
	struct st_descriptor d = {0};
	int rc;

	d.digest = src->digest;
	d.size = src->size;
	if ((rc = dup_opt(&d.media_type, src->media_type, err)) < 0 ||
	    (rc = dup_opt(&d.artifact_type, src->artifact_type, err)) < 0 ||
	    (rc = dup_opt(&d.os, src->os, err)) < 0 ||
	    (rc = dup_opt(&d.arch, src->arch, err)) < 0 ||
	    (rc = dup_opt(&d.variant, src->variant, err)) < 0)
		goto fail;
	for (size_t i = 0; i < src->n_annotations; i++) {
		rc = st_descriptor_set_annotation(&d, src->annotations[i].key,
		                                  src->annotations[i].value, err);
		if (rc < 0)
			goto fail;
	}
	*dst = d;
	return 0;
fail:
	st_descriptor_release(&d);
	return rc;
}

const char *st_descriptor_annotation(const struct st_descriptor *d, const char *key)
{
	for (size_t i = 0; i < d->n_annotations; i++)
		if (strcmp(d->annotations[i].key, key) == 0)
			return d->annotations[i].value;
	return NULL;
}

int st_descriptor_set_annotation(struct st_descriptor *d, const char *key, const char *value,
                                 struct st_error *err)
{
	struct st_annotation *a;
	char *k, *v;

	for (size_t i = 0; i < d->n_annotations; i++) {
		if (strcmp(d->annotations[i].key, key) != 0)
			continue;
		if (!value) {
			free(d->annotations[i].key);
			free(d->annotations[i].value);
			d->annotations[i] = d->annotations[--d->n_annotations];
			return 0;
		}
		v = strdup(value);
		if (!v)
			return st_error_set(err, ST_ENOMEM, "out of memory");
		free(d->annotations[i].value);
		d->annotations[i].value = v;
		return 0;
	}
	if (!value)
		return 0;
	a = realloc(d->annotations, (d->n_annotations + 1) * sizeof(*a));
	if (!a)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	d->annotations = a;
	k = strdup(key);
	v = strdup(value);
	if (!k || !v) {
		free(k);
		free(v);
		return st_error_set(err, ST_ENOMEM, "out of memory");
	}
	a[d->n_annotations].key = k;
	a[d->n_annotations].value = v;
	d->n_annotations++;
	return 0;
}

/* RFC 6838 restricted-name: 1*127 restricted-name-chars, first alphanumeric. */
static bool restricted_name(const char *s, size_t len)
{
	if (len == 0 || len > 127)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		bool alnum =
		        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (i == 0 && !alnum)
			return false;
		if (!alnum && !strchr("!#$&-^_.+", c))
			return false;
	}
	return true;
}

bool st_media_type_valid(const char *s)
{
	const char *slash = strchr(s, '/');
	const char *end;

	if (!slash)
		return false;
	/* parameters (";charset=...") are allowed by RFC 6838; only the type/subtype is checked */
	end = strchr(slash, ';');
	if (!end)
		end = s + strlen(s);
	return restricted_name(s, (size_t)(slash - s)) &&
	       restricted_name(slash + 1, (size_t)(end - slash - 1));
}

static int platform_from_json(const json_t *p, const char *what, struct st_descriptor *d,
                              struct st_error *err)
{
	const char *os, *arch, *variant;
	int rc;

	if (!json_is_object(p))
		return st_error_set(err, ST_EINVALID, "%s: field \"platform\" must be an object",
		                    what);
	if ((rc = st_json_get_str(p, "os", true, what, &os, err)) < 0 ||
	    (rc = st_json_get_str(p, "architecture", true, what, &arch, err)) < 0 ||
	    (rc = st_json_get_str(p, "variant", false, what, &variant, err)) < 0)
		return rc;
	if ((rc = dup_opt(&d->os, os, err)) < 0 || (rc = dup_opt(&d->arch, arch, err)) < 0 ||
	    (rc = dup_opt(&d->variant, variant, err)) < 0)
		return rc;
	return 0;
}

static int annotations_from_json(const json_t *a, const char *what, struct st_descriptor *d,
                                 struct st_error *err)
{
	const char *key;
	json_t *v;
	int rc;

	if (!json_is_object(a))
		return st_error_set(err, ST_EINVALID, "%s: field \"annotations\" must be an object",
		                    what);
	json_object_foreach((json_t *)a, key, v)
	{
		if (!json_is_string(v))
			return st_error_set(err, ST_EINVALID,
			                    "%s: annotation \"%s\" must be a string", what, key);
		rc = st_descriptor_set_annotation(d, key, json_string_value(v), err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int st_descriptor_from_json(const json_t *j, const char *what, struct st_descriptor *out,
                            struct st_error *err)
{
	struct st_descriptor d = {0};
	const char *mt, *dg, *at;
	json_t *p, *a, *size;
	int rc;

	if (!json_is_object(j))
		return st_error_set(err, ST_EINVALID, "%s: descriptor must be an object", what);
	if ((rc = st_json_get_str(j, "mediaType", true, what, &mt, err)) < 0 ||
	    (rc = st_json_get_str(j, "digest", true, what, &dg, err)) < 0 ||
	    (rc = st_json_get_str(j, "artifactType", false, what, &at, err)) < 0)
		return rc;
	size = json_object_get(j, "size");
	if (!size)
		return st_error_set(err, ST_EINVALID, "%s: required field \"size\" is missing",
		                    what);
	if (!json_is_integer(size) || json_integer_value(size) < 0)
		return st_error_set(err, ST_EINVALID,
		                    "%s: field \"size\" must be a non-negative integer", what);
	if (!st_media_type_valid(mt))
		return st_error_set(err, ST_EINVALID, "%s: invalid media type \"%s\"", what, mt);
	rc = st_digest_parse_str(dg, &d.digest, err);
	if (rc < 0)
		return st_error_wrap(err, "%s", what);
	d.size = (uint64_t)json_integer_value(size);
	if ((rc = dup_opt(&d.media_type, mt, err)) < 0 ||
	    (rc = dup_opt(&d.artifact_type, at, err)) < 0)
		goto fail;
	p = json_object_get(j, "platform");
	if (p && (rc = platform_from_json(p, what, &d, err)) < 0)
		goto fail;
	a = json_object_get(j, "annotations");
	if (a && !json_is_null(a) && (rc = annotations_from_json(a, what, &d, err)) < 0)
		goto fail;
	*out = d;
	return 0;
fail:
	st_descriptor_release(&d);
	return rc;
}

int st_descriptor_to_json(const struct st_descriptor *d, json_t **out, struct st_error *err)
{
	cleanup_json json_t *j = json_object();
	char dg[ST_DIGEST_STR_MAX];
	int rc;

	if (!j)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	st_digest_str(&d->digest, dg);
	if ((rc = st_json_set_str(j, "mediaType", d->media_type, err)) < 0 ||
	    (rc = st_json_set_str(j, "digest", dg, err)) < 0 ||
	    (rc = st_json_set_new(j, "size", json_integer((json_int_t)d->size), err)) < 0)
		return rc;
	if (d->artifact_type &&
	    (rc = st_json_set_str(j, "artifactType", d->artifact_type, err)) < 0)
		return rc;
	if (d->os && d->arch) {
		json_t *p = json_object();
		if ((rc = st_json_set_new(j, "platform", p, err)) < 0 ||
		    (rc = st_json_set_str(p, "architecture", d->arch, err)) < 0 ||
		    (rc = st_json_set_str(p, "os", d->os, err)) < 0)
			return rc;
		if (d->variant && (rc = st_json_set_str(p, "variant", d->variant, err)) < 0)
			return rc;
	}
	if (d->n_annotations) {
		json_t *a = json_object();
		if ((rc = st_json_set_new(j, "annotations", a, err)) < 0)
			return rc;
		for (size_t i = 0; i < d->n_annotations; i++)
			if ((rc = st_json_set_str(a, d->annotations[i].key, d->annotations[i].value,
			                          err)) < 0)
				return rc;
	}
	*out = take_ptr(&j);
	return 0;
}
