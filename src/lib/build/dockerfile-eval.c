/* dockerfile-eval.c: ARG and ENV scoping across stages as BuildKit's dockerfile2llb applies
 * them: global ARGs (before the first FROM) are seen by FROM lines only unless a stage
 * re-declares them; --build-arg overrides defaults; TARGET and BUILD platform ARGs are
 * predefined; ENV wins over ARG, and a stage built FROM an earlier stage inherits its ENV (not
 * its ARGs). The result is every instruction's arguments expanded with what was in scope. */
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "build/dockerfile-internal.h"
#include "util/cleanup.h"

#include "util/banned.h"

static const char *const proxy_args[] = {"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy",
                                         "FTP_PROXY",  "ftp_proxy",  "NO_PROXY",    "no_proxy",
                                         "ALL_PROXY",  "all_proxy"};

struct ev {
	const struct st_dockerfile *df;
	const struct st_df_eval_opts *opts;
	struct st_df_eval *out;
	struct st_error *err;
};

static void host_platform(char *buf, size_t len)
{
	struct utsname u;
	const char *arch = "amd64";

	if (uname(&u) == 0) {
		if (strcmp(u.machine, "aarch64") == 0 || strcmp(u.machine, "arm64") == 0)
			arch = "arm64";
		else if (strncmp(u.machine, "armv7", 5) == 0)
			arch = "arm/v7";
		else if (strncmp(u.machine, "armv6", 5) == 0)
			arch = "arm/v6";
		else if (strcmp(u.machine, "i686") == 0 || strcmp(u.machine, "i386") == 0)
			arch = "386";
		else if (strcmp(u.machine, "x86_64") != 0)
			arch = u.machine;
	}
	(void)snprintf(buf, len, "linux/%.40s", arch);
}

/* Sets PREFIXPLATFORM, PREFIXOS, PREFIXARCH, PREFIXVARIANT from "os/arch[/variant]". */
static int set_platform(struct st_df_env *env, const char *prefix, const char *plat,
                        struct st_error *err)
{
	char name[32], host[64], os[64] = "", arch[64] = "", variant[64] = "";
	const char *p = plat ? plat : (host_platform(host, sizeof(host)), host);
	int rc;

	if (sscanf(p, "%63[^/]/%63[^/]/%63s", os, arch, variant) < 2)
		return st_error_set(err, ST_EINVALID, "platform \"%s\": expected os/arch[/variant]",
		                    p);
	(void)snprintf(name, sizeof(name), "%sPLATFORM", prefix);
	rc = st_df_env_set(env, name, p, err);
	(void)snprintf(name, sizeof(name), "%sOS", prefix);
	if (rc == 0)
		rc = st_df_env_set(env, name, os, err);
	(void)snprintf(name, sizeof(name), "%sARCH", prefix);
	if (rc == 0)
		rc = st_df_env_set(env, name, arch, err);
	(void)snprintf(name, sizeof(name), "%sVARIANT", prefix);
	if (rc == 0)
		rc = st_df_env_set(env, name, variant, err);
	return rc;
}

static int expand(struct ev *ev, const struct st_df_env *scope, const char *word, int line,
                  struct st_buf *out)
{
	struct st_shlex lx = {ev->df->escape, 0, st_df_env_lookup, (void *)scope};
	int rc;

	st_buf_reset(out);
	rc = st_shlex_word(&lx, word, strlen(word), out, ev->err);
	if (rc < 0)
		return st_error_wrap(ev->err, "%s:%d", ev->df->name, line);
	return 0;
}

/* What an instruction's expansion sees: the stage's ARGs, then ENV on top. */
static int scope_of(const struct st_df_stage *st, struct st_df_env *scope, struct st_error *err)
{
	int rc = st_df_env_copy(scope, &st->args, err);

	return rc < 0 ? rc : st_df_env_copy(scope, &st->env, err);
}

/* ARG name[=default] words; `globals` supplies values for re-declared global ARGs. */
static int declare_args(struct ev *ev, const struct st_df_instr *in, struct st_df_env *target,
                        const struct st_df_env *scope_env, const struct st_df_env *globals,
                        struct st_strv *expanded)
{
	cleanup_buf struct st_buf v = ST_BUF_INIT;
	const struct st_df_env *ba = ev->opts ? ev->opts->build_args : NULL;
	int rc = 0;

	for (size_t i = 0; i < in->n_args && rc == 0; i++) {
		const char *w = in->args[i], *eq = strchr(w, '=');
		cleanup_free char *name = st_strndup(w, eq ? (size_t)(eq - w) : strlen(w));
		const char *val = NULL;
		if (!name)
			return st_error_set(ev->err, ST_ENOMEM, "out of memory");
		if (eq) {
			rc = expand(ev, scope_env ? scope_env : target, eq + 1, in->start_line, &v);
			val = v.data;
		}
		if (rc == 0 && st_df_env_get(ba, name, strlen(name)))
			val = st_df_env_get(ba, name, strlen(name));
		else if (rc == 0 && !eq && globals)
			val = st_df_env_get(globals, name, strlen(name));
		if (rc == 0 && val)
			rc = st_df_env_set(target, name, val, ev->err);
		if (rc == 0)
			rc = st_strv_push(expanded, w, eq ? (size_t)(eq - w) : strlen(w), ev->err);
		if (rc == 0 && val) {
			size_t k = expanded->n - 1;
			cleanup_buf struct st_buf kv = ST_BUF_INIT;
			rc = st_buf_addf(&kv, ev->err, "%s=%s", expanded->v[k], val);
			if (rc == 0) {
				free(expanded->v[k]);
				expanded->v[k] = st_buf_detach(&kv, NULL);
			}
		}
	}
	return rc;
}

static bool expands_flag(const char *f)
{
	static const char *const names[] = {
	        "--from=", "--chown=", "--chmod=", "--platform=", "--checksum=", "--exclude="};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (st_str_has_prefix(f, names[i]))
			return true;
	return false;
}

static int eval_flags(struct ev *ev, const struct st_df_instr *in, const struct st_df_env *scope,
                      struct st_strv *out)
{
	cleanup_buf struct st_buf v = ST_BUF_INIT;
	int rc = 0;

	for (size_t i = 0; i < in->n_flags && rc == 0; i++) {
		const char *f = in->flags[i], *eq = strchr(f, '=');
		if (!expands_flag(f)) {
			rc = st_strv_push(out, f, strlen(f), ev->err);
			continue;
		}
		rc = expand(ev, scope, eq + 1, in->start_line, &v);
		if (rc == 0) {
			cleanup_buf struct st_buf kv = ST_BUF_INIT;
			rc = st_buf_add(&kv, f, (size_t)(eq + 1 - f), ev->err);
			if (rc == 0)
				rc = st_buf_add(&kv, v.data, v.len, ev->err);
			if (rc == 0)
				rc = st_strv_push(out, kv.data, kv.len, ev->err);
		}
	}
	return rc;
}

static int stage_from(struct ev *ev, const struct st_df_instr *in, struct st_df_eval_instr *ei)
{
	struct st_df_eval *out = ev->out;
	cleanup_buf struct st_buf v = ST_BUF_INIT;
	struct st_df_stage *ns, *st;
	int rc;

	ns = realloc(out->stages, (out->n_stages + 1) * sizeof(*ns));
	if (!ns)
		return st_error_set(ev->err, ST_ENOMEM, "out of memory");
	out->stages = ns;
	st = &out->stages[out->n_stages++];
	memset(st, 0, sizeof(*st));
	st->base_stage = -1;
	if (in->n_args < 1)
		return df_error_at(ev->err, ST_EINVALID, ev->df->name, in->start_line,
		                   "FROM requires either one or three arguments");
	rc = eval_flags(ev, in, &out->globals, &ei->flags);
	for (size_t i = 0; rc == 0 && i < ei->flags.n; i++)
		if (st_str_has_prefix(ei->flags.v[i], "--platform=") &&
		    !(st->platform = strdup(ei->flags.v[i] + 11)))
			rc = st_error_set(ev->err, ST_ENOMEM, "out of memory");
	if (rc == 0)
		rc = expand(ev, &out->globals, in->args[0], in->start_line, &v);
	if (rc == 0 && !(st->base = strdup(v.data)))
		rc = st_error_set(ev->err, ST_ENOMEM, "out of memory");
	if (rc == 0 && in->n_args >= 3 && !(st->name = strdup(in->args[2])))
		rc = st_error_set(ev->err, ST_ENOMEM, "out of memory");
	for (char *p = st->name; p && *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
	for (size_t i = 0; rc == 0 && i + 1 < out->n_stages; i++)
		if (out->stages[i].name && strcasecmp(out->stages[i].name, st->base) == 0)
			st->base_stage = (int)i;
	if (rc == 0 && st->base_stage >= 0)
		rc = st_df_env_copy(&st->env, &out->stages[st->base_stage].env, ev->err);
	for (size_t i = 0; rc == 0 && i < in->n_args; i++)
		rc = st_strv_push(&ei->args, i ? in->args[i] : v.data,
		                  strlen(i ? in->args[i] : v.data), ev->err);
	return rc;
}

/* COPY/ADD heredoc bodies: <<- strips leading tabs (BuildKit's parser does, before any
 * expansion), an unquoted delimiter expands variables with quotes left alone. */
static int heredoc_bodies(struct ev *ev, const struct st_df_env *scope,
                          const struct st_df_instr *in, struct st_df_eval_instr *ei)
{
	const struct st_shlex lx = {'\\', ST_SHLEX_SKIP_QUOTES, st_df_env_lookup, (void *)scope};
	cleanup_buf struct st_buf body = ST_BUF_INIT;
	cleanup_buf struct st_buf out = ST_BUF_INIT;
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < in->n_heredocs; i++) {
		const struct st_df_heredoc *hd = &in->heredocs[i];
		const char *s = hd->content;

		st_buf_reset(&body);
		st_buf_reset(&out);
		while (*s && rc == 0) {
			size_t n;

			if (hd->chomp)
				s += strspn(s, "\t");
			n = strcspn(s, "\n");
			n += s[n] == '\n';
			rc = st_buf_add(&body, s, n, ev->err);
			s += n;
		}
		if (rc == 0 && hd->expand) {
			rc = st_shlex_word(&lx, body.data ? body.data : "", body.len, &out,
			                   ev->err);
			if (rc < 0)
				rc = st_error_wrap(ev->err, "%s:%d: heredoc %s", ev->df->name,
				                   in->start_line, hd->name);
		}
		if (rc == 0 && hd->expand)
			rc = st_strv_push(&ei->heredocs, out.data ? out.data : "", out.len,
			                  ev->err);
		else if (rc == 0)
			rc = st_strv_push(&ei->heredocs, body.data ? body.data : "", body.len,
			                  ev->err);
	}
	return rc;
}

static int stage_instr(struct ev *ev, struct st_df_stage *st, const struct st_df_instr *in,
                       struct st_df_eval_instr *ei)
{
	cleanup_buf struct st_buf k = ST_BUF_INIT;
	cleanup_buf struct st_buf v = ST_BUF_INIT;
	struct st_df_env scope = ST_DF_ENV_INIT;
	int rc = scope_of(st, &scope, ev->err);

	switch (rc == 0 ? in->cmd : ST_DF_UNKNOWN) {
	case ST_DF_ARG:
		rc = declare_args(ev, in, &st->args, &scope, &ev->out->globals, &ei->args);
		break;
	case ST_DF_ENV:
	case ST_DF_LABEL:
		for (size_t i = 0; rc == 0 && i + 1 < in->n_args; i += 3) {
			rc = expand(ev, &scope, in->args[i], in->start_line, &k);
			if (rc == 0)
				rc = expand(ev, &scope, in->args[i + 1], in->start_line, &v);
			if (rc == 0 && in->cmd == ST_DF_ENV)
				rc = st_df_env_set(&st->env, k.data, v.data, ev->err);
			if (rc == 0)
				rc = st_strv_push(&ei->args, k.data, k.len, ev->err);
			if (rc == 0)
				rc = st_strv_push(&ei->args, v.data, v.len, ev->err);
		}
		break;
	case ST_DF_ADD:
	case ST_DF_COPY:
	case ST_DF_EXPOSE:
	case ST_DF_USER:
	case ST_DF_WORKDIR:
	case ST_DF_VOLUME:
	case ST_DF_STOPSIGNAL:
		for (size_t i = 0; rc == 0 && i < in->n_args; i++) {
			rc = expand(ev, &scope, in->args[i], in->start_line, &v);
			if (rc == 0)
				rc = st_strv_push(&ei->args, v.data, v.len, ev->err);
		}
		if (rc == 0 && (in->cmd == ST_DF_COPY || in->cmd == ST_DF_ADD))
			rc = heredoc_bodies(ev, &scope, in, ei);
		break;
	default:
		for (size_t i = 0; rc == 0 && i < in->n_args; i++)
			rc = st_strv_push(&ei->args, in->args[i], in->arg_lens[i], ev->err);
	}
	if (rc == 0)
		rc = eval_flags(ev, in, &scope, &ei->flags);
	st_df_env_release(&scope);
	return rc;
}

static int run_env(struct ev *ev, struct st_df_stage *st)
{
	const struct st_df_env *ba = ev->opts ? ev->opts->build_args : NULL;
	const char *v;
	int rc = scope_of(st, &st->run_env, ev->err);

	for (size_t i = 0; rc == 0 && i < sizeof(proxy_args) / sizeof(proxy_args[0]); i++) {
		const char *n = proxy_args[i];
		v = st_df_env_get(ba, n, strlen(n));
		if (v && !st_df_env_get(&st->run_env, n, strlen(n)))
			rc = st_df_env_set(&st->run_env, n, v, ev->err);
	}
	return rc;
}

static int walk(struct ev *ev)
{
	const struct st_dockerfile *df = ev->df;
	struct st_df_eval *out = ev->out;
	int rc = 0;

	out->instrs = calloc(df->n_instrs ? df->n_instrs : 1, sizeof(*out->instrs));
	if (!out->instrs)
		return st_error_set(ev->err, ST_ENOMEM, "out of memory");
	out->n_instrs = df->n_instrs;
	rc = set_platform(&out->globals, "TARGET", ev->opts ? ev->opts->target_platform : NULL,
	                  ev->err);
	if (rc == 0)
		rc = set_platform(&out->globals, "BUILD",
		                  ev->opts ? ev->opts->build_platform : NULL, ev->err);
	for (size_t i = 0; rc == 0 && i < df->n_instrs; i++) {
		const struct st_df_instr *in = &df->instrs[i];
		struct st_df_eval_instr *ei = &out->instrs[i];
		ei->instr = in;
		ei->stage = (int)out->n_stages - (in->cmd == ST_DF_FROM ? 0 : 1);
		if (in->cmd == ST_DF_FROM)
			rc = stage_from(ev, in, ei);
		else if (out->n_stages == 0 && in->cmd == ST_DF_ARG)
			rc = declare_args(ev, in, &out->globals, NULL, NULL, &ei->args);
		else if (out->n_stages == 0)
			rc = df_error_at(ev->err, ST_EINVALID, df->name, in->start_line,
			                 "no build stage in current context (%s before the first "
			                 "FROM)",
			                 in->keyword);
		else
			rc = stage_instr(ev, &out->stages[out->n_stages - 1], in, ei);
	}
	for (size_t s = 0; rc == 0 && s < out->n_stages; s++)
		rc = run_env(ev, &out->stages[s]);
	return rc;
}

int st_df_eval_run(const struct st_dockerfile *df, const struct st_df_eval_opts *opts,
                   struct st_df_eval **out, struct st_error *err)
{
	struct st_df_eval *e = calloc(1, sizeof(*e));
	struct ev ev = {df, opts, e, err};
	int rc;

	if (!e)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	rc = walk(&ev);
	if (rc < 0) {
		st_df_eval_free(e);
		return rc;
	}
	*out = e;
	return 0;
}

void st_df_eval_free(struct st_df_eval *ev)
{
	if (!ev)
		return;
	st_df_env_release(&ev->globals);
	for (size_t i = 0; i < ev->n_stages; i++) {
		struct st_df_stage *st = &ev->stages[i];
		free(st->name);
		free(st->base);
		free(st->platform);
		st_df_env_release(&st->env);
		st_df_env_release(&st->args);
		st_df_env_release(&st->run_env);
	}
	for (size_t i = 0; i < ev->n_instrs; i++) {
		st_strv_release(&ev->instrs[i].args);
		st_strv_release(&ev->instrs[i].flags);
		st_strv_release(&ev->instrs[i].heredocs);
	}
	free(ev->stages);
	free(ev->instrs);
	free(ev);
}
