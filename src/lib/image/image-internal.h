/* image/image-internal.h: helpers the image module's files share: annotation lists,
 * descriptor arrays and string lists to and from JSON. */
#ifndef ST_IMAGE_INTERNAL_H
#define ST_IMAGE_INTERNAL_H

#include "strata/image.h"
#include "util/json.h"

/* Room for a field path in error messages ("config.rootfs.diff_ids[12]"). */
#define ST_WHAT_MAX 96

void st_annotations_free(size_t n, struct st_annotation *a);
int st_annotations_set(size_t *n, struct st_annotation **a, const char *key, const char *value,
                       struct st_error *err);
int st_annotations_from_json(const json_t *j, const char *what, size_t *n, struct st_annotation **a,
                             struct st_error *err);
int st_annotations_to_json(size_t n, const struct st_annotation *a, json_t **out,
                           struct st_error *err);

void st_descriptors_free(size_t n, struct st_descriptor *d);
/* Appends a copy of d to (*arr, *n). */
int st_descriptors_append(size_t *n, struct st_descriptor **arr, const struct st_descriptor *d,
                          struct st_error *err);

/* gc's expander and sweeper for compressed siblings of tar layers (image-compress.c). */
int image_register_sibling_gc(struct st_store *store, struct st_error *err);

#endif
