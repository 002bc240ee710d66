/* util/json.h: the project's one door to jansson: parsing with limits and positioned errors,
 * canonical output (sorted keys, no insignificant white space), and typed field getters whose
 * errors name the field. Other modules include this, never <jansson.h> directly. */
#ifndef ST_UTIL_JSON_H
#define ST_UTIL_JSON_H

#include <jansson.h>
#include <stdbool.h>

#include "strata/buf.h"
#include "strata/common.h"
#include "util/cleanup.h"

static inline void st_json_cleanup_fn(json_t **j)
{
	json_decref(*j);
}
#define cleanup_json __attribute__((cleanup(st_json_cleanup_fn)))

/* Parses p[0..len) (which must be one JSON value; depth is capped by jansson at 2048).
 * `what` names the document in errors ("manifest sha256:..."). -ST_EINVALID. */
int st_json_parse(const char *p, size_t len, const char *what, json_t **out, struct st_error *err);
/* Canonical encoding: sorted keys, compact, UTF-8 unescaped, "/" unescaped. Appends to out. */
int st_json_dump(const json_t *j, struct st_buf *out, struct st_error *err);

/* Typed getters. `what` names the object for errors ("config"). A missing optional field gives
 * *out = NULL / 0 and returns 0; a wrong type is -ST_EINVALID naming "what.key". */
int st_json_get_str(const json_t *obj, const char *key, bool required, const char *what,
                    const char **out, struct st_error *err);
int st_json_get_u64(const json_t *obj, const char *key, bool required, const char *what,
                    uint64_t *out, struct st_error *err);
int st_json_get_obj(const json_t *obj, const char *key, bool required, const char *what,
                    json_t **out, struct st_error *err);
int st_json_get_arr(const json_t *obj, const char *key, bool required, const char *what,
                    json_t **out, struct st_error *err);
/* Sets obj[key] to a new string; -ST_ENOMEM. */
int st_json_set_str(json_t *obj, const char *key, const char *val, struct st_error *err);
/* obj[key] = val, taking val's reference (val may be NULL after a failed allocation). */
int st_json_set_new(json_t *obj, const char *key, json_t *val, struct st_error *err);

#endif
