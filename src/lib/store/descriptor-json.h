/* store/descriptor-json.h: OCI descriptors to and from JSON (image-spec descriptor.md), shared
 * by index.json handling here and by the image module's manifests and indexes. */
#ifndef ST_DESCRIPTOR_JSON_H
#define ST_DESCRIPTOR_JSON_H

#include "strata/store.h"
#include "util/json.h"

/* Reads a descriptor object; `what` names it in errors ("manifest.layers[2]"). Validates the
 * digest, the size and the media type's grammar (RFC 6838). *out untouched on failure. */
int st_descriptor_from_json(const json_t *j, const char *what, struct st_descriptor *out,
                            struct st_error *err);
/* Builds the JSON object of a descriptor (platform included when os/arch are set). */
int st_descriptor_to_json(const struct st_descriptor *d, json_t **out, struct st_error *err);
/* True when s is a valid media type per RFC 6838 (type "/" subtype, restricted names). */
bool st_media_type_valid(const char *s);

#endif
