/* build-config.c: Docker's dispatchers for the instructions that only change the image config
 * (moby/buildkit frontend/dockerfile/dockerfile2llb/convert.go). Shell forms run through the
 * config's SHELL, default ["/bin/sh", "-c"]; ENTRYPOINT drops an inherited CMD unless a CMD
 * came earlier in the same stage. */
#include "build/build-config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/banned.h" /* last: it poisons names the system headers use */

static int fail(const struct st_dockerfile *df, const struct st_df_instr *in, struct st_error *err,
                const char *what, const char *value)
{
	return st_error_set(err, ST_EINVALID, "%s:%d: %s: %s \"%s\"",
	                    df && df->name ? df->name : "Dockerfile", in->start_line,
	                    st_df_cmd_name(in->cmd), what, value);
}

/* The command vector of CMD/ENTRYPOINT/HEALTHCHECK CMD: exec form as is, shell form through the
 * config's SHELL. */
static int command_of(const struct st_image_config *c, const struct st_df_instr *in,
                      const char *const *args, size_t n, struct st_strv *out, struct st_error *err)
{
	static const char *const default_shell[] = {"/bin/sh", "-c"};
	int rc;

	if (in->json) {
		for (size_t i = 0; i < n; i++)
			if ((rc = st_strv_push(out, args[i], strlen(args[i]), err)) < 0)
				return rc;
		return 0;
	}
	if (c->shell.v) {
		for (size_t i = 0; i < c->shell.n; i++)
			if ((rc = st_strv_push(out, c->shell.v[i], strlen(c->shell.v[i]), err)) < 0)
				return rc;
	} else {
		for (size_t i = 0; i < 2; i++)
			if ((rc = st_strv_push(out, default_shell[i], strlen(default_shell[i]),
			                       err)) < 0)
				return rc;
	}
	return n ? st_strv_push(out, args[0], strlen(args[0]), err) : 0;
}

static int set_command(struct st_image_config *c, const struct st_df_instr *in,
                       const struct st_strv *args, bool entrypoint, struct st_config_state *state,
                       struct st_error *err)
{
	struct st_strv v = ST_STRV_INIT;
	int rc = command_of(c, in, (const char *const *)args->v, args->n, &v, err);

	if (rc == 0 && entrypoint) {
		rc = st_image_config_set_entrypoint(c, (const char *const *)v.v, v.n, err);
		if (rc == 0 && !state->cmd_set)
			rc = st_image_config_set_cmd(c, NULL, 0, err);
	} else if (rc == 0) {
		rc = st_image_config_set_cmd(c, (const char *const *)v.v, v.n, err);
		state->cmd_set = true;
	}
	st_strv_release(&v);
	return rc;
}

/* path.Join(base, p) with Clean, for a relative WORKDIR */
static int join_workdir(const char *base, const char *p, char **out)
{
	struct st_buf b = ST_BUF_INIT;
	char *segs[512];
	size_t n = 0;
	char *tmp, *s, *save = NULL;

	if (st_buf_addf(&b, NULL, "%s/%s", p[0] == '/' ? "" : (base ? base : ""), p) < 0)
		return -ST_ENOMEM;
	tmp = st_buf_detach(&b, NULL);
	if (!tmp)
		return -ST_ENOMEM;
	for (s = strtok_r(tmp, "/", &save); s; s = strtok_r(NULL, "/", &save)) {
		if (strcmp(s, ".") == 0)
			continue;
		if (strcmp(s, "..") == 0) {
			if (n)
				n--;
			continue;
		}
		if (n < sizeof(segs) / sizeof(segs[0]))
			segs[n++] = s;
	}
	for (size_t i = 0; i < n; i++)
		if (st_buf_addf(&b, NULL, "/%s", segs[i]) < 0) {
			free(tmp);
			return -ST_ENOMEM;
		}
	if (n == 0 && st_buf_addch(&b, '/', NULL) < 0) {
		free(tmp);
		return -ST_ENOMEM;
	}
	free(tmp);
	*out = st_buf_detach(&b, NULL);
	return *out ? 0 : -ST_ENOMEM;
}

int st_parse_duration(const char *s, int64_t *out)
{
	static const struct {
		const char *unit;
		int64_t ns;
	} units[] = {
	        {"ns", 1},           {"us", 1000},         {"µs", 1000},          {"ms", 1000000},
	        {"s", 1000000000LL}, {"m", 60000000000LL}, {"h", 3600000000000LL}};
	int64_t total = 0;

	if (!*s)
		return -ST_EINVALID;
	if (strcmp(s, "0") == 0) {
		*out = 0;
		return 0;
	}
	while (*s) {
		double v = 0, frac = 0.1;
		bool digits = false;
		size_t best = 0, bl = 0;
		for (; *s >= '0' && *s <= '9'; s++, digits = true)
			v = v * 10 + (*s - '0');
		if (*s == '.')
			for (s++; *s >= '0' && *s <= '9'; s++, frac /= 10, digits = true)
				v += (*s - '0') * frac;
		if (!digits)
			return -ST_EINVALID;
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			size_t l = strlen(units[i].unit);
			if (strncmp(s, units[i].unit, l) == 0 && l > bl) {
				best = i;
				bl = l;
			}
		}
		if (!bl)
			return -ST_EINVALID;
		s += bl;
		total += (int64_t)(v * (double)units[best].ns);
	}
	*out = total;
	return 0;
}

static int healthcheck(struct st_image_config *c, const struct st_dockerfile *df,
                       const struct st_df_eval_instr *ei, struct st_error *err)
{
	const struct st_df_instr *in = ei->instr;
	struct st_healthcheck hc = {0};
	int rc;

	if (ei->args.n == 0)
		return fail(df, in, err, "missing type", "");
	if (strcasecmp(ei->args.v[0], "NONE") == 0) {
		rc = st_strv_push(&hc.test, "NONE", 4, err);
	} else {
		const char *kind = in->json ? "CMD" : "CMD-SHELL";
		rc = st_strv_push(&hc.test, kind, strlen(kind), err);
		for (size_t i = 1; i < ei->args.n && rc == 0; i++)
			rc = st_strv_push(&hc.test, ei->args.v[i], strlen(ei->args.v[i]), err);
	}
	for (size_t i = 0; i < ei->flags.n && rc == 0; i++) {
		const char *f = ei->flags.v[i], *eq = strchr(f, '=');
		int64_t *dst = NULL, v;
		if (!eq)
			return fail(df, in, err, "flag needs a value", f);
		if (strncmp(f, "--interval=", 11) == 0)
			dst = &hc.interval;
		else if (strncmp(f, "--timeout=", 10) == 0)
			dst = &hc.timeout;
		else if (strncmp(f, "--start-period=", 15) == 0)
			dst = &hc.start_period;
		else if (strncmp(f, "--start-interval=", 17) == 0)
			dst = &hc.start_interval;
		if (dst) {
			if (st_parse_duration(eq + 1, &v) < 0)
				rc = fail(df, in, err, "invalid duration", eq + 1);
			else
				*dst = v;
		} else if (strncmp(f, "--retries=", 10) == 0) {
			uint64_t r;
			if (st_parse_u64(eq + 1, &r) < 0 || r > 1000000)
				rc = fail(df, in, err, "invalid retries", eq + 1);
			else
				hc.retries = (int64_t)r;
		} else {
			rc = fail(df, in, err, "unknown flag", f);
		}
	}
	if (rc == 0)
		rc = st_image_config_set_healthcheck(c, &hc, err);
	st_strv_release(&hc.test);
	return rc;
}

static int pairs(struct st_image_config *c, const struct st_df_eval_instr *ei, bool env,
                 struct st_error *err)
{
	int rc = 0;

	/* st_df_eval_run gives (key, value) pairs, expanded */
	for (size_t i = 0; i + 1 < ei->args.n && rc == 0; i += 2) {
		if (env)
			rc = st_image_config_setenv(c, ei->args.v[i], ei->args.v[i + 1], err);
		else
			rc = st_image_config_set_label(c, ei->args.v[i], ei->args.v[i + 1], err);
	}
	return rc;
}

static int onbuild(struct st_image_config *c, const struct st_df_instr *in, struct st_error *err)
{
	const char *t = in->original;

	/* the trigger is the line after the ONBUILD keyword, as Docker stores it */
	while (*t == ' ' || *t == '\t')
		t++;
	t += strlen(in->keyword);
	while (*t == ' ' || *t == '\t')
		t++;
	return st_image_config_add_on_build(c, t, err);
}

int st_config_apply_instr(struct st_image_config *c, const struct st_dockerfile *df,
                          const struct st_df_eval_instr *ei, struct st_config_state *state,
                          struct st_error *err)
{
	const struct st_df_instr *in = ei->instr;
	const char *a0 = ei->args.n ? ei->args.v[0] : "";
	char *wd = NULL;
	int rc = 0;

	switch (in->cmd) {
	case ST_DF_ENV:
		return pairs(c, ei, true, err);
	case ST_DF_LABEL:
		return pairs(c, ei, false, err);
	case ST_DF_CMD:
		return set_command(c, in, &ei->args, false, state, err);
	case ST_DF_ENTRYPOINT:
		return set_command(c, in, &ei->args, true, state, err);
	case ST_DF_WORKDIR:
		if (join_workdir(c->working_dir, a0, &wd) < 0)
			return st_error_set(err, ST_ENOMEM, "out of memory");
		rc = st_image_config_set_working_dir(c, wd, err);
		free(wd);
		return rc;
	case ST_DF_USER:
		return st_image_config_set_user(c, a0, err);
	case ST_DF_STOPSIGNAL:
		return st_image_config_set_stop_signal(c, a0, err);
	case ST_DF_MAINTAINER:
		return st_image_config_set_author(c, a0, err);
	case ST_DF_SHELL:
		return st_image_config_set_shell(c, (const char *const *)ei->args.v, ei->args.n,
		                                 err);
	case ST_DF_EXPOSE:
		for (size_t i = 0; i < ei->args.n && rc == 0; i++)
			rc = st_image_config_add_exposed_port(c, ei->args.v[i], err);
		return rc;
	case ST_DF_VOLUME:
		for (size_t i = 0; i < ei->args.n && rc == 0; i++)
			if (ei->args.v[i][0])
				rc = st_image_config_add_volume(c, ei->args.v[i], err);
		return rc;
	case ST_DF_HEALTHCHECK:
		return healthcheck(c, df, ei, err);
	case ST_DF_ONBUILD:
		return onbuild(c, in, err);
	default:
		return 0;
	}
}
