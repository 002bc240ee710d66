/* include/strata/ref.h: image references (registry/repository[:tag][@digest]) parsed and
 * normalised exactly as Docker does (distribution/reference's ParseNormalizedNamed). */
#ifndef ST_REF_H
#define ST_REF_H

#include <stdbool.h>

#include "strata/buf.h"
#include "strata/common.h"
#include "strata/digest.h"

#define ST_REF_DEFAULT_DOMAIN "docker.io"
#define ST_REF_DEFAULT_TAG "latest"
/* Longest repository path (the part after the domain), as distribution/reference. */
#define ST_REF_MAX_PATH 255
#define ST_REF_MAX_TAG 128

/* A normalised reference. Strings are owned (malloc'd); release with st_ref_release(). */
struct st_ref {
	char *domain; /* "docker.io", "localhost:5000", "[::1]:5000" */
	char *path;   /* "library/busybox" */
	char *tag;    /* "latest"; NULL when only a digest was given */
	bool has_digest;
	struct st_digest digest;
};

/* Parses and normalises s as Docker does: "busybox" is docker.io/library/busybox:latest, a
 * first component is a domain when it contains '.' or ':', is "localhost" or has uppercase
 * letters; index.docker.io is docker.io; a reference with neither tag nor digest gets tag
 * "latest"; a tag and a digest are both kept. -ST_EINVALID with a message naming the offending
 * part ("repository name (Case) must be lowercase"), -ST_EUNSUPPORTED for a digest algorithm
 * other than sha256/sha512, -ST_ENOMEM. *out is written only on success. */
ST_API int st_ref_parse(const char *s, struct st_ref *out, struct st_error *err);
ST_API void st_ref_release(struct st_ref *r); /* NULL and zeroed structs are no-ops */
ST_API int st_ref_copy(struct st_ref *dst, const struct st_ref *src, struct st_error *err);
/* Replaces the tag (tag == NULL removes it); -ST_EINVALID for a malformed tag. */
ST_API int st_ref_set_tag(struct st_ref *r, const char *tag, struct st_error *err);
ST_API bool st_ref_equal(const struct st_ref *a, const struct st_ref *b);

enum st_ref_format_flags {
	ST_REF_FORMAT_NO_TAG = 1 << 0,    /* leave ":tag" out */
	ST_REF_FORMAT_NO_DIGEST = 1 << 1, /* leave "@digest" out */
};

/* Appends the full form "domain/path[:tag][@digest]" to out (the names of index.json use
 * ST_REF_FORMAT_NO_DIGEST). -ST_ENOMEM. */
ST_API int st_ref_format(const struct st_ref *r, unsigned flags, struct st_buf *out,
                         struct st_error *err);
/* Appends Docker's familiar form: docker.io and a lone "library/" dropped
 * ("busybox:latest", "user/app:1", "localhost:5000/a/b:t"). */
ST_API int st_ref_familiar(const struct st_ref *r, unsigned flags, struct st_buf *out,
                           struct st_error *err);
/* Appends "domain/path" ("docker.io/library/busybox"). */
ST_API int st_ref_repo_name(const struct st_ref *r, struct st_buf *out, struct st_error *err);

/* Checks a bare repository name as the distribution spec's <name> (path components of
 * [a-z0-9]+ joined by '.', '_', '__' or '-'+, separated by '/', at most 255 characters, no
 * domain handling). -ST_EINVALID naming the fault. */
ST_API int st_ref_valid_repository(const char *name, struct st_error *err);
/* True for a tag of the grammar [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}. */
ST_API bool st_ref_valid_tag(const char *tag);

#endif
