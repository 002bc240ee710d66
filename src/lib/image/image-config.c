/* image-config.c: image configs (image-spec config.md; Docker's image JSON is the same
 * document with more fields). The JSON document is the truth and the struct a parsed view of
 * it: a setter edits a copy of the document, re-parses the view and swaps both in, so that
 * unknown fields survive and a failed edit changes nothing. */
#include "image/image-internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

/* ---- JSON to view ---- */

static int dup_str(const json_t *obj, const char *key, const char *what, char **out,
                   struct st_error *err)
{
	const char *s;
	int rc = st_json_get_str(obj, key, false, what, &s, err);

	if (rc < 0)
		return rc;
	if (s && !(*out = strdup(s)))
		return st_error_set(err, ST_ENOMEM, "out of memory");
	return 0;
}

/* An array of strings (null or absent: v stays NULL). */
static int strv_field(const json_t *obj, const char *key, const char *what, struct st_strv *out,
                      struct st_error *err)
{
	json_t *arr;
	size_t n;
	int rc = st_json_get_arr(obj, key, false, what, &arr, err);

	if (rc < 0 || !arr)
		return rc;
	n = json_array_size(arr);
	out->v = calloc(n + 1, sizeof(*out->v));
	if (!out->v)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		json_t *s = json_array_get(arr, i);
		if (!json_is_string(s))
			return st_error_set(err, ST_EINVALID, "%s.%s[%zu]: must be a string", what,
			                    key, i);
		out->v[i] = strdup(json_string_value(s));
		if (!out->v[i])
			return st_error_set(err, ST_ENOMEM, "out of memory");
		out->n++;
	}
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The keys of an object ("ExposedPorts", "Volumes"), sorted. */
static int keys_field(const json_t *obj, const char *key, const char *what, struct st_strv *out,
                      struct st_error *err)
{
	const char *k;
	json_t *o, *v;
	int rc = st_json_get_obj(obj, key, false, what, &o, err);

	if (rc < 0 || !o)
		return rc;
	out->v = calloc(json_object_size(o) + 1, sizeof(*out->v));
	if (!out->v)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	json_object_foreach(o, k, v)
	{
		out->v[out->n] = strdup(k);
		if (!out->v[out->n])
			return st_error_set(err, ST_ENOMEM, "out of memory");
		out->n++;
	}
	qsort(out->v, out->n, sizeof(*out->v), cmp_str);
	return 0;
}

static int int_field(const json_t *obj, const char *key, const char *what, int64_t *out,
                     struct st_error *err)
{
	json_t *v = json_object_get(obj, key);

	*out = 0;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v))
		return st_error_set(err, ST_EINVALID, "%s: field \"%s\" must be an integer", what,
		                    key);
	*out = (int64_t)json_integer_value(v);
	return 0;
}

static int bool_field(const json_t *obj, const char *key, const char *what, bool *out,
                      struct st_error *err)
{
	json_t *v = json_object_get(obj, key);

	*out = false;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return st_error_set(err, ST_EINVALID, "%s: field \"%s\" must be true or false",
		                    what, key);
	*out = json_is_true(v);
	return 0;
}

static void healthcheck_free(struct st_healthcheck *hc)
{
	if (!hc)
		return;
	st_strv_release(&hc->test);
	free(hc);
}

static int healthcheck_field(const json_t *cfg, struct st_image_config *c, struct st_error *err)
{
	const char *what = "config.config.Healthcheck";
	struct st_healthcheck *hc;
	json_t *o;
	int rc = st_json_get_obj(cfg, "Healthcheck", false, "config.config", &o, err);

	if (rc < 0 || !o)
		return rc;
	hc = calloc(1, sizeof(*hc));
	if (!hc)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	c->healthcheck = hc;
	if ((rc = strv_field(o, "Test", what, &hc->test, err)) < 0 ||
	    (rc = int_field(o, "Interval", what, &hc->interval, err)) < 0 ||
	    (rc = int_field(o, "Timeout", what, &hc->timeout, err)) < 0 ||
	    (rc = int_field(o, "StartPeriod", what, &hc->start_period, err)) < 0 ||
	    (rc = int_field(o, "StartInterval", what, &hc->start_interval, err)) < 0 ||
	    (rc = int_field(o, "Retries", what, &hc->retries, err)) < 0)
		return rc;
	return 0;
}

static int inner_from_json(const json_t *cfg, struct st_image_config *c, struct st_error *err)
{
	const char *what = "config.config";
	json_t *labels;
	int rc;

	if ((rc = dup_str(cfg, "User", what, &c->user, err)) < 0 ||
	    (rc = keys_field(cfg, "ExposedPorts", what, &c->exposed_ports, err)) < 0 ||
	    (rc = strv_field(cfg, "Env", what, &c->env, err)) < 0 ||
	    (rc = strv_field(cfg, "Entrypoint", what, &c->entrypoint, err)) < 0 ||
	    (rc = strv_field(cfg, "Cmd", what, &c->cmd, err)) < 0 ||
	    (rc = keys_field(cfg, "Volumes", what, &c->volumes, err)) < 0 ||
	    (rc = dup_str(cfg, "WorkingDir", what, &c->working_dir, err)) < 0 ||
	    (rc = dup_str(cfg, "StopSignal", what, &c->stop_signal, err)) < 0 ||
	    (rc = strv_field(cfg, "Shell", what, &c->shell, err)) < 0 ||
	    (rc = strv_field(cfg, "OnBuild", what, &c->on_build, err)) < 0 ||
	    (rc = bool_field(cfg, "ArgsEscaped", what, &c->args_escaped, err)) < 0 ||
	    (rc = healthcheck_field(cfg, c, err)) < 0 ||
	    (rc = st_json_get_obj(cfg, "Labels", false, what, &labels, err)) < 0)
		return rc;
	if (labels)
		return st_annotations_from_json(labels, "config.config.Labels", &c->n_labels,
		                                &c->labels, err);
	return 0;
}

static int rootfs_from_json(const json_t *doc, struct st_image_config *c, struct st_error *err)
{
	const char *type;
	json_t *rootfs, *ids;
	int rc;

	if ((rc = st_json_get_obj(doc, "rootfs", true, "config", &rootfs, err)) < 0 ||
	    (rc = st_json_get_str(rootfs, "type", true, "config.rootfs", &type, err)) < 0 ||
	    (rc = st_json_get_arr(rootfs, "diff_ids", true, "config.rootfs", &ids, err)) < 0)
		return rc;
	if (strcmp(type, "layers") != 0)
		return st_error_set(err, ST_EINVALID,
		                    "config.rootfs.type: \"%s\" is not \"layers\"", type);
	c->diff_ids = calloc(json_array_size(ids) + 1, sizeof(*c->diff_ids));
	if (!c->diff_ids)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	for (size_t i = 0; i < json_array_size(ids); i++) {
		json_t *s = json_array_get(ids, i);
		if (!json_is_string(s))
			return st_error_set(err, ST_EINVALID,
			                    "config.rootfs.diff_ids[%zu]: must be a string", i);
		rc = st_digest_parse_str(json_string_value(s), &c->diff_ids[i], err);
		if (rc < 0)
			return st_error_wrap(err, "config.rootfs.diff_ids[%zu]", i);
		c->n_diff_ids++;
	}
	return 0;
}

static void history_free(size_t n, struct st_history *h)
{
	for (size_t i = 0; i < n; i++) {
		free(h[i].created);
		free(h[i].created_by);
		free(h[i].author);
		free(h[i].comment);
	}
	free(h);
}

static int history_from_json(const json_t *doc, struct st_image_config *c, struct st_error *err)
{
	char what[ST_WHAT_MAX];
	json_t *arr;
	int rc = st_json_get_arr(doc, "history", false, "config", &arr, err);

	if (rc < 0 || !arr)
		return rc;
	c->history = calloc(json_array_size(arr) + 1, sizeof(*c->history));
	if (!c->history)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	for (size_t i = 0; i < json_array_size(arr); i++) {
		json_t *o = json_array_get(arr, i);
		struct st_history *h = &c->history[i];
		(void)snprintf(what, sizeof(what), "config.history[%zu]", i);
		if (!json_is_object(o))
			return st_error_set(err, ST_EINVALID, "%s: must be an object", what);
		c->n_history++;
		if ((rc = dup_str(o, "created", what, &h->created, err)) < 0 ||
		    (rc = dup_str(o, "created_by", what, &h->created_by, err)) < 0 ||
		    (rc = dup_str(o, "author", what, &h->author, err)) < 0 ||
		    (rc = dup_str(o, "comment", what, &h->comment, err)) < 0 ||
		    (rc = bool_field(o, "empty_layer", what, &h->empty_layer, err)) < 0)
			return rc;
	}
	return 0;
}

/* Builds the view of doc into *out (taking a reference to doc). */
static int config_from_json(json_t *doc, struct st_image_config *out, struct st_error *err)
{
	struct st_image_config c = {0};
	json_t *cfg;
	int rc;

	if (!json_is_object(doc))
		return st_error_set(err, ST_EINVALID, "config: must be a JSON object");
	c.priv = json_incref(doc);
	if ((rc = dup_str(doc, "created", "config", &c.created, err)) < 0 ||
	    (rc = dup_str(doc, "author", "config", &c.author, err)) < 0 ||
	    (rc = dup_str(doc, "architecture", "config", &c.architecture, err)) < 0 ||
	    (rc = dup_str(doc, "os", "config", &c.os, err)) < 0 ||
	    (rc = dup_str(doc, "variant", "config", &c.variant, err)) < 0 ||
	    (rc = st_json_get_obj(doc, "config", false, "config", &cfg, err)) < 0 ||
	    (cfg && (rc = inner_from_json(cfg, &c, err)) < 0) ||
	    (rc = rootfs_from_json(doc, &c, err)) < 0 || (rc = history_from_json(doc, &c, err)) < 0)
		goto fail;
	if (!c.architecture || !c.os) {
		rc = st_error_set(err, ST_EINVALID, "config: required field \"%s\" is missing",
		                  c.os ? "architecture" : "os");
		goto fail;
	}
	*out = c;
	return 0;
fail:
	st_image_config_release(&c);
	return rc;
}

int st_image_config_parse(const void *p, size_t len, struct st_image_config *out,
                          struct st_error *err)
{
	cleanup_json json_t *doc = NULL;
	int rc = st_json_parse(p, len, "config", &doc, err);

	return rc < 0 ? rc : config_from_json(doc, out, err);
}

void st_image_config_release(struct st_image_config *c)
{
	if (!c)
		return;
	free(c->created);
	free(c->author);
	free(c->architecture);
	free(c->os);
	free(c->variant);
	free(c->user);
	st_strv_release(&c->exposed_ports);
	st_strv_release(&c->env);
	st_strv_release(&c->entrypoint);
	st_strv_release(&c->cmd);
	st_strv_release(&c->shell);
	st_strv_release(&c->on_build);
	st_strv_release(&c->volumes);
	free(c->working_dir);
	st_annotations_free(c->n_labels, c->labels);
	free(c->stop_signal);
	healthcheck_free(c->healthcheck);
	free(c->diff_ids);
	history_free(c->n_history, c->history);
	json_decref(c->priv);
	memset(c, 0, sizeof(*c));
}

int st_image_config_copy(struct st_image_config *dst, const struct st_image_config *src,
                         struct st_error *err)
{
	cleanup_json json_t *doc = json_deep_copy(src->priv);

	if (!doc)
		return st_error_set(err, ST_ENOMEM, "out of memory copying a config");
	return config_from_json(doc, dst, err);
}

int st_image_config_dump(const struct st_image_config *c, struct st_buf *out, struct st_error *err)
{
	return st_json_dump(c->priv, out, err);
}

int st_image_config_init(struct st_image_config *c, const char *os, const char *arch,
                         const char *variant, struct st_error *err)
{
	cleanup_json json_t *doc =
	        json_pack("{s:s, s:s, s:{s:s, s:[]}, s:{}}", "architecture", arch, "os", os,
	                  "rootfs", "type", "layers", "diff_ids", "config");
	int rc;

	if (!doc)
		return st_error_set(err, ST_ENOMEM, "out of memory building a config");
	if (variant && (rc = st_json_set_str(doc, "variant", variant, err)) < 0)
		return rc;
	return config_from_json(doc, c, err);
}

/* ---- edits ---- */

static int edit_begin(const struct st_image_config *c, json_t **doc, struct st_error *err)
{
	*doc = json_deep_copy(c->priv);
	return *doc ? 0 : st_error_set(err, ST_ENOMEM, "out of memory editing a config");
}

static int edit_finish(struct st_image_config *c, json_t *doc, struct st_error *err)
{
	struct st_image_config view;
	int rc = config_from_json(doc, &view, err);

	if (rc < 0)
		return rc;
	st_image_config_release(c);
	*c = view;
	return 0;
}

/* doc["config"], created as {} when absent or null. */
static json_t *inner(json_t *doc)
{
	json_t *cfg = json_object_get(doc, "config");

	if (json_is_object(cfg))
		return cfg;
	cfg = json_object();
	if (!cfg || json_object_set_new(doc, "config", cfg) != 0)
		return NULL;
	return cfg;
}

/* obj[key] = val (taken), or deletes obj[key] when val is NULL and `remove`. */
static int put(json_t *obj, const char *key, json_t *val, bool remove, struct st_error *err)
{
	if (!obj) {
		json_decref(val);
		return st_error_set(err, ST_ENOMEM, "out of memory editing a config");
	}
	if (remove) {
		(void)json_object_del(obj, key);
		return 0;
	}
	return st_json_set_new(obj, key, val, err);
}

static int set_str(struct st_image_config *c, bool in_config, const char *key, const char *value,
                   struct st_error *err)
{
	cleanup_json json_t *doc = NULL;
	int rc;

	if ((rc = edit_begin(c, &doc, err)) < 0 ||
	    (rc = put(in_config ? inner(doc) : doc, key, value ? json_string(value) : NULL, !value,
	              err)) < 0)
		return rc;
	return edit_finish(c, doc, err);
}

static json_t *strv_json(const char *const *v, size_t n)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < n; i++)
		if (json_array_append_new(arr, json_string(v[i])) != 0) {
			json_decref(arr);
			return NULL;
		}
	return arr;
}

static int set_strv(struct st_image_config *c, const char *key, const char *const *v, size_t n,
                    struct st_error *err)
{
	cleanup_json json_t *doc = NULL;
	int rc;

	if ((rc = edit_begin(c, &doc, err)) < 0 ||
	    (rc = put(inner(doc), key, v ? strv_json(v, n) : NULL, !v, err)) < 0)
		return rc;
	return edit_finish(c, doc, err);
}

/* Appends a string to doc.config[key] (an array, created if needed). */
static int append_str(struct st_image_config *c, const char *key, const char *value,
                      struct st_error *err)
{
	cleanup_json json_t *doc = NULL;
	json_t *cfg, *arr;
	int rc;

	if ((rc = edit_begin(c, &doc, err)) < 0)
		return rc;
	cfg = inner(doc);
	arr = cfg ? json_object_get(cfg, key) : NULL;
	if (!json_is_array(arr) && (rc = put(cfg, key, arr = json_array(), false, err)) < 0)
		return rc;
	if (json_array_append_new(arr, json_string(value)) != 0)
		return st_error_set(err, ST_ENOMEM, "out of memory editing a config");
	return edit_finish(c, doc, err);
}

/* Adds key to the object doc.config[obj_key] (value {}), as ExposedPorts and Volumes hold. */
static int add_key(json_t *doc, const char *obj_key, const char *key, struct st_error *err)
{
	json_t *cfg = inner(doc);
	json_t *obj = cfg ? json_object_get(cfg, obj_key) : NULL;
	int rc;

	if (!json_is_object(obj) && (rc = put(cfg, obj_key, obj = json_object(), false, err)) < 0)
		return rc;
	return st_json_set_new(obj, key, json_object(), err);
}

int st_image_config_set_created(struct st_image_config *c, const char *v, struct st_error *err)
{
	return set_str(c, false, "created", v, err);
}

int st_image_config_set_author(struct st_image_config *c, const char *v, struct st_error *err)
{
	return set_str(c, false, "author", v, err);
}

int st_image_config_set_platform(struct st_image_config *c, const char *os, const char *arch,
                                 const char *variant, struct st_error *err)
{
	cleanup_json json_t *doc = NULL;
	int rc;

	if (!os || !arch)
		return st_error_set(err, ST_EINVALID, "config: os and architecture are required");
	if ((rc = edit_begin(c, &doc, err)) < 0 || (rc = st_json_set_str(doc, "os", os, err)) < 0 ||
	    (rc = st_json_set_str(doc, "architecture", arch, err)) < 0 ||
	    (rc = put(doc, "variant", variant ? json_string(variant) : NULL, !variant, err)) < 0)
		return rc;
	return edit_finish(c, doc, err);
}

int st_image_config_set_user(struct st_image_config *c, const char *v, struct st_error *err)
{
	return set_str(c, true, "User", v, err);
}

int st_image_config_set_working_dir(struct st_image_config *c, const char *v, struct st_error *err)
{
	return set_str(c, true, "WorkingDir", v, err);
}

int st_image_config_set_stop_signal(struct st_image_config *c, const char *v, struct st_error *err)
{
	return set_str(c, true, "StopSignal", v, err);
}

int st_image_config_set_env(struct st_image_config *c, const char *const *v, size_t n,
                            struct st_error *err)
{
	return set_strv(c, "Env", v, n, err);
}

int st_image_config_set_entrypoint(struct st_image_config *c, const char *const *v, size_t n,
                                   struct st_error *err)
{
	return set_strv(c, "Entrypoint", v, n, err);
}

int st_image_config_set_cmd(struct st_image_config *c, const char *const *v, size_t n,
                            struct st_error *err)
{
	return set_strv(c, "Cmd", v, n, err);
}

int st_image_config_set_shell(struct st_image_config *c, const char *const *v, size_t n,
                              struct st_error *err)
{
	return set_strv(c, "Shell", v, n, err);
}

int st_image_config_add_on_build(struct st_image_config *c, const char *trigger,
                                 struct st_error *err)
{
	return append_str(c, "OnBuild", trigger, err);
}

int st_image_config_clear_on_build(struct st_image_config *c, struct st_error *err)
{
	return set_strv(c, "OnBuild", NULL, 0, err);
}

int st_image_config_setenv(struct st_image_config *c, const char *name, const char *value,
                           struct st_error *err)
{
	cleanup_buf struct st_buf kv = ST_BUF_INIT;
	cleanup_json json_t *doc = NULL;
	size_t nlen = strlen(name), i;
	json_t *cfg, *env;
	int rc;

	if (nlen == 0 || strchr(name, '='))
		return st_error_set(err, ST_EINVALID, "environment variable name \"%s\" is invalid",
		                    name);
	if (value && (rc = st_buf_addf(&kv, err, "%s=%s", name, value)) < 0)
		return rc;
	if ((rc = edit_begin(c, &doc, err)) < 0)
		return rc;
	cfg = inner(doc);
	env = cfg ? json_object_get(cfg, "Env") : NULL;
	if (!json_is_array(env) && (rc = put(cfg, "Env", env = json_array(), false, err)) < 0)
		return rc;
	for (i = 0; i < json_array_size(env); i++) {
		const char *s = json_string_value(json_array_get(env, i));
		if (s && strncmp(s, name, nlen) == 0 && s[nlen] == '=')
			break;
	}
	if (!value)
		rc = i < json_array_size(env) ? json_array_remove(env, i) : 0;
	else if (i < json_array_size(env))
		rc = json_array_set_new(env, i, json_string(kv.data));
	else
		rc = json_array_append_new(env, json_string(kv.data));
	if (rc != 0)
		return st_error_set(err, ST_ENOMEM, "out of memory editing a config");
	return edit_finish(c, doc, err);
}

static int parse_port(const char *s, size_t len, unsigned *out)
{
	unsigned v = 0;

	if (len == 0 || len > 5)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -1;
	*out = v;
	return 0;
}

int st_image_config_add_exposed_port(struct st_image_config *c, const char *port,
                                     struct st_error *err)
{
	cleanup_json json_t *doc = NULL;
	const char *slash = strchr(port, '/');
	const char *proto = slash ? slash + 1 : "tcp";
	size_t plen = slash ? (size_t)(slash - port) : strlen(port);
	const char *dash = memchr(port, '-', plen);
	unsigned lo, hi;
	char key[32];
	int rc;

	/* Docker: "80", "80/udp", "8000-8010/tcp" (a range adds each port) */
	if (parse_port(port, dash ? (size_t)(dash - port) : plen, &lo) < 0 ||
	    (dash && parse_port(dash + 1, plen - (size_t)(dash + 1 - port), &hi) < 0) ||
	    (strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0 && strcmp(proto, "sctp") != 0))
		return st_error_set(err, ST_EINVALID,
		                    "port \"%s\" is invalid: expected PORT[-PORT][/tcp|udp|sctp]",
		                    port);
	if (!dash)
		hi = lo;
	if (hi < lo)
		return st_error_set(err, ST_EINVALID, "port range \"%s\" is backwards", port);
	if ((rc = edit_begin(c, &doc, err)) < 0)
		return rc;
	for (unsigned p = lo; p <= hi; p++) {
		(void)snprintf(key, sizeof(key), "%u/%s", p, proto);
		if ((rc = add_key(doc, "ExposedPorts", key, err)) < 0)
			return rc;
	}
	return edit_finish(c, doc, err);
}

int st_image_config_add_volume(struct st_image_config *c, const char *path, struct st_error *err)
{
	cleanup_json json_t *doc = NULL;
	int rc;

	if (!*path)
		return st_error_set(err, ST_EINVALID, "volume path is empty");
	if ((rc = edit_begin(c, &doc, err)) < 0 || (rc = add_key(doc, "Volumes", path, err)) < 0)
		return rc;
	return edit_finish(c, doc, err);
}

int st_image_config_set_label(struct st_image_config *c, const char *key, const char *value,
                              struct st_error *err)
{
	cleanup_json json_t *doc = NULL;
	json_t *cfg, *labels;
	int rc;

	if ((rc = edit_begin(c, &doc, err)) < 0)
		return rc;
	cfg = inner(doc);
	labels = cfg ? json_object_get(cfg, "Labels") : NULL;
	if (!json_is_object(labels) &&
	    (rc = put(cfg, "Labels", labels = json_object(), false, err)) < 0)
		return rc;
	if ((rc = put(labels, key, value ? json_string(value) : NULL, !value, err)) < 0)
		return rc;
	return edit_finish(c, doc, err);
}

static int healthcheck_json(const struct st_healthcheck *hc, json_t **out, struct st_error *err)
{
	cleanup_json json_t *o = json_object();
	const struct {
		const char *k;
		int64_t v;
	} f[] = {{"Interval", hc->interval},
	         {"Timeout", hc->timeout},
	         {"StartPeriod", hc->start_period},
	         {"StartInterval", hc->start_interval},
	         {"Retries", hc->retries}};
	int rc;

	if (!o)
		return st_error_set(err, ST_ENOMEM, "out of memory editing a config");
	rc = st_json_set_new(o, "Test", strv_json((const char *const *)hc->test.v, hc->test.n),
	                     err);
	if (rc < 0)
		return rc;
	/* zero means "inherit" and is left out, as Docker does */
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		if (f[i].v && (rc = st_json_set_new(o, f[i].k, json_integer(f[i].v), err)) < 0)
			return rc;
	*out = take_ptr(&o);
	return 0;
}

int st_image_config_set_healthcheck(struct st_image_config *c, const struct st_healthcheck *hc,
                                    struct st_error *err)
{
	cleanup_json json_t *doc = NULL;
	json_t *o = NULL;
	int rc;

	if (hc && (rc = healthcheck_json(hc, &o, err)) < 0)
		return rc;
	if ((rc = edit_begin(c, &doc, err)) < 0) {
		json_decref(o);
		return rc;
	}
	if ((rc = put(inner(doc), "Healthcheck", o, !hc, err)) < 0)
		return rc;
	return edit_finish(c, doc, err);
}

int st_image_config_set_args_escaped(struct st_image_config *c, bool on, struct st_error *err)
{
	cleanup_json json_t *doc = NULL;
	int rc;

	if ((rc = edit_begin(c, &doc, err)) < 0 ||
	    (rc = put(inner(doc), "ArgsEscaped", on ? json_true() : NULL, !on, err)) < 0)
		return rc;
	return edit_finish(c, doc, err);
}

static int history_json(const struct st_history *h, bool empty, json_t **out, struct st_error *err)
{
	cleanup_json json_t *o = json_object();
	const struct {
		const char *k, *v;
	} f[] = {{"created", h->created},
	         {"created_by", h->created_by},
	         {"author", h->author},
	         {"comment", h->comment}};
	int rc;

	if (!o)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		if (f[i].v && (rc = st_json_set_str(o, f[i].k, f[i].v, err)) < 0)
			return rc;
	if (empty && (rc = st_json_set_new(o, "empty_layer", json_true(), err)) < 0)
		return rc;
	*out = take_ptr(&o);
	return 0;
}

static int append_history(json_t *doc, const struct st_history *h, bool empty, struct st_error *err)
{
	json_t *arr = json_object_get(doc, "history");
	json_t *o = NULL;
	int rc;

	if (!json_is_array(arr) && (rc = put(doc, "history", arr = json_array(), false, err)) < 0)
		return rc;
	if ((rc = history_json(h, empty, &o, err)) < 0)
		return rc;
	if (json_array_append_new(arr, o) != 0)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	return 0;
}

int st_image_config_add_layer(struct st_image_config *c, const struct st_digest *diff_id,
                              const struct st_history *h, struct st_error *err)
{
	cleanup_json json_t *doc = NULL;
	char dg[ST_DIGEST_STR_MAX];
	json_t *rootfs, *ids;
	int rc;

	if ((rc = edit_begin(c, &doc, err)) < 0)
		return rc;
	rootfs = json_object_get(doc, "rootfs");
	ids = json_object_get(rootfs, "diff_ids");
	st_digest_str(diff_id, dg);
	if (json_array_append_new(ids, json_string(dg)) != 0)
		return st_error_set(err, ST_ENOMEM, "out of memory editing a config");
	if (h && (rc = append_history(doc, h, false, err)) < 0)
		return rc;
	return edit_finish(c, doc, err);
}

int st_image_config_add_history(struct st_image_config *c, const struct st_history *h,
                                struct st_error *err)
{
	cleanup_json json_t *doc = NULL;
	int rc;

	if ((rc = edit_begin(c, &doc, err)) < 0 ||
	    (rc = append_history(doc, h, h->empty_layer, err)) < 0)
		return rc;
	return edit_finish(c, doc, err);
}
