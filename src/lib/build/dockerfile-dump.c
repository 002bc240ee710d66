/* dockerfile-dump.c: the two printed forms of a parsed Dockerfile: BuildKit's AST.Dump()
 * s-expressions (what BuildKit's parser tests compare) and a JSON document that keeps
 * everything the AST has (lines, flags, heredocs, comments, directives). */
#include <string.h>

#include "build/dockerfile-internal.h"
#include "util/json.h"

#include "util/banned.h"

static int dump_node(const struct st_df_instr *in, struct st_buf *out, struct st_error *err)
{
	int rc = 0;

	for (const char *k = in->keyword; *k && rc == 0; k++)
		rc = st_buf_addch(out, (char)(*k >= 'A' && *k <= 'Z' ? *k + 32 : *k), err);
	if (rc == 0 && in->n_flags) {
		rc = st_buf_adds(out, " [", err);
		for (size_t i = 0; i < in->n_flags && rc == 0; i++) {
			if (i)
				rc = st_buf_addch(out, ' ', err);
			if (rc == 0)
				rc = st_df_quote(in->flags[i], strlen(in->flags[i]), out, err);
		}
		if (rc == 0)
			rc = st_buf_addch(out, ']', err);
	}
	for (size_t i = 0; i < in->n_args && rc == 0; i++) {
		rc = st_buf_addch(out, ' ', err);
		if (rc == 0)
			rc = st_df_quote(in->args[i], in->arg_lens[i], out, err);
	}
	if (rc == 0 && in->sub) {
		rc = st_buf_adds(out, " (", err);
		if (rc == 0)
			rc = dump_node(in->sub, out, err);
		if (rc == 0)
			rc = st_buf_addch(out, ')', err);
	}
	return rc;
}

int st_dockerfile_dump(const struct st_dockerfile *df, struct st_buf *out, struct st_error *err)
{
	int rc = 0;

	for (size_t i = 0; i < df->n_instrs && rc == 0; i++) {
		rc = st_buf_addch(out, '(', err);
		if (rc == 0)
			rc = dump_node(&df->instrs[i], out, err);
		if (rc == 0)
			rc = st_buf_adds(out, ")\n", err);
	}
	return rc;
}

/* A JSON string; bytes that are not UTF-8 become U+FFFD (JSON text must be UTF-8). */
static json_t *jstrn(const char *s, size_t len)
{
	struct st_buf b = ST_BUF_INIT;
	size_t w;
	uint32_t r;
	json_t *j;

	j = json_stringn(s, len);
	if (!j) {
		for (size_t i = 0; i < len; i += w) {
			w = df_utf8_decode(s + i, len - i, &r);
			if (df_buf_add_rune(&b, r, NULL) < 0) {
				st_buf_release(&b);
				return NULL;
			}
		}
		j = json_stringn(b.data, b.len);
		st_buf_release(&b);
	}
	return j;
}

static json_t *jstr(const char *s)
{
	return jstrn(s, strlen(s));
}

static json_t *str_array(const char *const *v, const size_t *lens, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++) {
		if (json_array_append_new(a, jstrn(v[i], lens ? lens[i] : strlen(v[i]))) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *heredocs_json(const struct st_df_instr *in)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < in->n_heredocs; i++) {
		const struct st_df_heredoc *h = &in->heredocs[i];
		json_t *o = json_pack("{s:o, s:o, s:I, s:b, s:b}", "name", jstr(h->name), "content",
		                      jstr(h->content), "fd", (json_int_t)h->fd, "expand",
		                      h->expand, "chomp", h->chomp);
		if (!o || json_array_append_new(a, o) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *instr_json(const struct st_df_instr *in)
{
	json_t *o = json_pack("{s:o, s:s, s:o, s:o, s:o, s:b, s:i, s:i}", "keyword",
	                      jstr(in->keyword), "cmd", st_df_cmd_name(in->cmd), "original",
	                      jstr(in->original), "flags", str_array(in->flags, NULL, in->n_flags),
	                      "args", str_array(in->args, in->arg_lens, in->n_args), "json",
	                      in->json, "start_line", in->start_line, "end_line", in->end_line);

	if (o && in->n_heredocs && json_object_set_new(o, "heredocs", heredocs_json(in)) < 0)
		goto fail;
	if (o && in->n_comments &&
	    json_object_set_new(o, "comments", str_array(in->comments, NULL, in->n_comments)) < 0)
		goto fail;
	if (o && in->sub && json_object_set_new(o, "sub", instr_json(in->sub)) < 0)
		goto fail;
	return o;
fail:
	json_decref(o);
	return NULL;
}

int st_dockerfile_to_json(const struct st_dockerfile *df, struct st_buf *out, struct st_error *err)
{
	cleanup_json json_t *root = NULL;
	json_t *instrs = json_array(), *dirs = json_array(), *warns = json_array();
	char esc[2] = {df->escape, '\0'};
	bool ok = instrs && dirs && warns;

	for (size_t i = 0; ok && i < df->n_instrs; i++)
		ok = json_array_append_new(instrs, instr_json(&df->instrs[i])) == 0;
	for (size_t i = 0; ok && i < df->n_directives; i++)
		ok = json_array_append_new(dirs, json_pack("{s:s, s:o, s:i}", "name",
		                                           df->directives[i].name, "value",
		                                           jstr(df->directives[i].value), "line",
		                                           df->directives[i].line)) == 0;
	for (size_t i = 0; ok && i < df->n_warnings; i++)
		ok = json_array_append_new(warns, json_pack("{s:o, s:i}", "message",
		                                            jstr(df->warnings[i].msg), "line",
		                                            df->warnings[i].line)) == 0;
	if (ok)
		root = json_pack("{s:o, s:s, s:o, s:o, s:o}", "name", jstr(df->name), "escape", esc,
		                 "directives", dirs, "instructions", instrs, "warnings", warns);
	else {
		json_decref(instrs);
		json_decref(dirs);
		json_decref(warns);
	}
	if (!root)
		return st_error_set(err, ST_ENOMEM, "out of memory encoding a Dockerfile as JSON");
	return st_json_dump(root, out, err);
}
