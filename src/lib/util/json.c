/* json.c: jansson behind the project's error conventions. Canonical output is what makes the
 * same image give the same digest: keys sorted, no spaces, no escaping beyond what JSON needs. */
#include "util/json.h"

#include <string.h>

#include "util/banned.h" /* last: it poisons names the system headers use */

int st_json_parse(const char *p, size_t len, const char *what, json_t **out, struct st_error *err)
{
	json_error_t jerr;
	json_t *j = json_loadb(p, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);

	if (!j)
		return st_error_set(err, ST_EINVALID, "%s: invalid JSON at line %d column %d: %s",
		                    what, jerr.line, jerr.column, jerr.text);
	*out = j;
	return 0;
}

static int dump_cb(const char *buffer, size_t size, void *data)
{
	return st_buf_add(data, buffer, size, NULL) < 0 ? -1 : 0;
}

int st_json_dump(const json_t *j, struct st_buf *out, struct st_error *err)
{
	if (json_dump_callback(j, dump_cb, out, JSON_COMPACT | JSON_SORT_KEYS) != 0)
		return st_error_set(err, ST_ENOMEM, "out of memory encoding JSON");
	return 0;
}

static int wrong_type(const char *what, const char *key, const char *want, struct st_error *err)
{
	return st_error_set(err, ST_EINVALID, "%s: field \"%s\" must be %s", what, key, want);
}

static int missing(const char *what, const char *key, struct st_error *err)
{
	return st_error_set(err, ST_EINVALID, "%s: required field \"%s\" is missing", what, key);
}

int st_json_get_str(const json_t *obj, const char *key, bool required, const char *what,
                    const char **out, struct st_error *err)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (!v || json_is_null(v))
		return required ? missing(what, key, err) : 0;
	if (!json_is_string(v))
		return wrong_type(what, key, "a string", err);
	*out = json_string_value(v);
	return 0;
}

int st_json_get_u64(const json_t *obj, const char *key, bool required, const char *what,
                    uint64_t *out, struct st_error *err)
{
	json_t *v = json_object_get(obj, key);

	*out = 0;
	if (!v || json_is_null(v))
		return required ? missing(what, key, err) : 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return wrong_type(what, key, "a non-negative integer", err);
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int get_typed(const json_t *obj, const char *key, bool required, const char *what,
                     json_type type, json_t **out, struct st_error *err)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (!v || json_is_null(v))
		return required ? missing(what, key, err) : 0;
	if (json_typeof(v) != type)
		return wrong_type(what, key, type == JSON_OBJECT ? "an object" : "an array", err);
	*out = v;
	return 0;
}

int st_json_get_obj(const json_t *obj, const char *key, bool required, const char *what,
                    json_t **out, struct st_error *err)
{
	return get_typed(obj, key, required, what, JSON_OBJECT, out, err);
}

int st_json_get_arr(const json_t *obj, const char *key, bool required, const char *what,
                    json_t **out, struct st_error *err)
{
	return get_typed(obj, key, required, what, JSON_ARRAY, out, err);
}

int st_json_set_new(json_t *obj, const char *key, json_t *val, struct st_error *err)
{
	if (!val || json_object_set_new(obj, key, val) != 0)
		return st_error_set(err, ST_ENOMEM, "out of memory building JSON");
	return 0;
}

int st_json_set_str(json_t *obj, const char *key, const char *val, struct st_error *err)
{
	return st_json_set_new(obj, key, json_string(val), err);
}
