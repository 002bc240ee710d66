/* dockerfile-check.c: the instruction checks BuildKit applies after parsing
 * (instructions/parse.go and bflag.go): argument counts, the flags each instruction accepts
 * and their values, FROM ... AS names, HEALTHCHECK types and durations, SHELL in JSON form,
 * ONBUILD triggers, and that only ARG comes before the first FROM. */
#include <stdlib.h>
#include <string.h>

#include "build/dockerfile-internal.h"
#include "util/cleanup.h"

#include "util/banned.h"

enum flag_kind { F_STRING, F_BOOL, F_LIST, F_DURATION, F_INT };

struct flag_spec {
	enum st_df_cmd cmd;
	const char *name;
	enum flag_kind kind;
};

static const struct flag_spec flag_specs[] = {
        {ST_DF_FROM, "platform", F_STRING},
        {ST_DF_RUN, "mount", F_LIST},
        {ST_DF_RUN, "network", F_STRING},
        {ST_DF_RUN, "security", F_STRING},
        {ST_DF_COPY, "from", F_STRING},
        {ST_DF_COPY, "chown", F_STRING},
        {ST_DF_COPY, "chmod", F_STRING},
        {ST_DF_COPY, "link", F_BOOL},
        {ST_DF_COPY, "parents", F_BOOL},
        {ST_DF_COPY, "exclude", F_LIST},
        {ST_DF_ADD, "chown", F_STRING},
        {ST_DF_ADD, "chmod", F_STRING},
        {ST_DF_ADD, "link", F_BOOL},
        {ST_DF_ADD, "keep-git-dir", F_BOOL},
        {ST_DF_ADD, "checksum", F_STRING},
        {ST_DF_ADD, "exclude", F_LIST},
        {ST_DF_ADD, "unpack", F_BOOL},
        {ST_DF_HEALTHCHECK, "interval", F_DURATION},
        {ST_DF_HEALTHCHECK, "timeout", F_DURATION},
        {ST_DF_HEALTHCHECK, "start-period", F_DURATION},
        {ST_DF_HEALTHCHECK, "start-interval", F_DURATION},
        {ST_DF_HEALTHCHECK, "retries", F_INT},
};
#define N_SPECS (sizeof(flag_specs) / sizeof(flag_specs[0]))

struct check {
	const struct st_dockerfile *df;
	int line;
	struct st_error *err;
};

static int bad(struct check *ck, const char *fmt, ...) ST_PRINTF(2, 3);
static int bad(struct check *ck, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return df_error_at(ck->err, ST_EINVALID, ck->df->name, ck->line, "%s", msg);
}

static const char *upper(enum st_df_cmd cmd, char buf[16])
{
	const char *n = st_df_cmd_name(cmd);
	size_t i;

	for (i = 0; i < 15 && n[i]; i++)
		buf[i] = (char)(n[i] - 'a' + 'A');
	buf[i] = '\0';
	return buf;
}

/* Go's time.ParseDuration, returning nanoseconds (saturating); false when malformed. */
static bool parse_duration(const char *s, double *ns)
{
	static const struct {
		const char *u;
		double mul;
	} units[] = {{"ns", 1},   {"us", 1e3}, {"\xC2\xB5s", 1e3}, {"\xCE\xBCs", 1e3},
	             {"ms", 1e6}, {"s", 1e9},  {"m", 60e9},        {"h", 3600e9}};
	double total = 0, v, frac;
	bool neg = false, any;

	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	if (strcmp(s, "0") == 0) {
		*ns = 0;
		return true;
	}
	if (!*s)
		return false;
	while (*s) {
		any = false;
		for (v = 0; *s >= '0' && *s <= '9'; s++, any = true)
			v = v * 10 + (*s - '0');
		if (*s == '.') {
			s++;
			for (frac = 0.1; *s >= '0' && *s <= '9'; s++, frac /= 10, any = true)
				v += (*s - '0') * frac;
		}
		if (!any)
			return false;
		size_t k, best = 0, best_len = 0;
		for (k = 0; k < sizeof(units) / sizeof(units[0]); k++) {
			size_t l = strlen(units[k].u);
			if (strncmp(s, units[k].u, l) == 0 && l > best_len) {
				best = k;
				best_len = l;
			}
		}
		if (!best_len)
			return false;
		total += v * units[best].mul;
		s += best_len;
	}
	*ns = neg ? -total : total;
	return true;
}

static const struct flag_spec *find_spec(enum st_df_cmd cmd, const char *name, size_t len)
{
	for (size_t i = 0; i < N_SPECS; i++)
		if (flag_specs[i].cmd == cmd && strlen(flag_specs[i].name) == len &&
		    memcmp(flag_specs[i].name, name, len) == 0)
			return &flag_specs[i];
	return NULL;
}

static const char *suggest_flag(enum st_df_cmd cmd, const char *name, size_t len)
{
	for (size_t i = 0; i < N_SPECS; i++) {
		const char *n = flag_specs[i].name;
		size_t nl = strlen(n), same = 0;
		if (flag_specs[i].cmd != cmd || (nl > len ? nl - len : len - nl) > 2)
			continue;
		for (size_t k = 0; k < nl && k < len; k++)
			same += n[k] == name[k];
		if (same + 2 >= nl && same + 2 >= len)
			return n;
	}
	return NULL;
}

static int check_flag_value(struct check *ck, const struct flag_spec *sp, const char *v,
                            bool has_value)
{
	double ns;
	char *end;
	long n;

	switch (sp->kind) {
	case F_BOOL:
		if (has_value && strcasecmp(v, "true") != 0 && strcasecmp(v, "false") != 0)
			return bad(ck, "expecting boolean value for flag %s, not: %s", sp->name, v);
		return 0;
	case F_DURATION:
		if (!has_value)
			return bad(ck, "missing a value on flag: --%s", sp->name);
		if (!parse_duration(v, &ns))
			return bad(ck, "invalid duration \"%s\" for --%s", v, sp->name);
		if (ns != 0 && ns < 1e6)
			return bad(ck, "--%s %s cannot be less than 1ms", sp->name, v);
		return 0;
	case F_INT:
		if (!has_value)
			return bad(ck, "missing a value on flag: --%s", sp->name);
		n = strtol(v, &end, 10);
		if (!*v || *end)
			return bad(ck, "invalid number \"%s\" for --%s", v, sp->name);
		if (n < 0)
			return bad(ck, "--%s cannot be negative", sp->name);
		return 0;
	default:
		return has_value ? 0 : bad(ck, "missing a value on flag: --%s", sp->name);
	}
}

static int check_flags(struct check *ck, const struct st_df_instr *in)
{
	const struct flag_spec *seen[N_SPECS + 1];
	size_t n_seen = 0;
	char kw[16];
	int rc;

	for (size_t i = 0; i < in->n_flags; i++) {
		const char *f = in->flags[i], *eq, *name, *hint;
		const struct flag_spec *sp;
		size_t len;

		if (strncmp(f, "--", 2) != 0)
			return bad(ck, "arg should start with -- : %s", f);
		name = f + 2;
		eq = strchr(name, '=');
		len = eq ? (size_t)(eq - name) : strlen(name);
		sp = find_spec(in->cmd, name, len);
		if (!sp) {
			hint = suggest_flag(in->cmd, name, len);
			if (hint)
				return bad(ck, "unknown flag: %.*s for %s (did you mean --%s?)",
				           (int)(len + 2), f, upper(in->cmd, kw), hint);
			return bad(ck, "unknown flag: %.*s for %s", (int)(len + 2), f,
			           upper(in->cmd, kw));
		}
		for (size_t k = 0; k < n_seen; k++)
			if (seen[k] == sp && sp->kind != F_LIST)
				return bad(ck, "duplicate flag specified: --%s", sp->name);
		if (n_seen < N_SPECS)
			seen[n_seen++] = sp;
		rc = check_flag_value(ck, sp, eq ? eq + 1 : "", eq != NULL);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static bool valid_stage_name(const char *s)
{
	if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
		return false;
	for (s++; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.'))
			return false;
	return true;
}

static int check_health(struct check *ck, const struct st_df_instr *in)
{
	const char *typ;

	if (in->n_args == 0)
		return bad(ck, "HEALTHCHECK requires at least one argument");
	typ = in->args[0];
	if (strcasecmp(typ, "NONE") == 0)
		return in->n_args > 1 ? bad(ck, "HEALTHCHECK NONE takes no arguments") : 0;
	if (strcasecmp(typ, "CMD") != 0)
		return bad(ck, "unknown type \"%s\" in HEALTHCHECK (try CMD)", typ);
	if (in->n_args < 2 || (in->n_args == 2 && !in->args[1][0] && !in->json))
		return bad(ck, "missing command after HEALTHCHECK CMD");
	return 0;
}

static int check_counts(struct check *ck, const struct st_df_instr *in)
{
	char kw[16];
	const char *K = upper(in->cmd, kw);

	switch (in->cmd) {
	case ST_DF_FROM:
		if (in->n_args != 1 && in->n_args != 3)
			return bad(ck, "FROM requires either one or three arguments");
		if (in->n_args == 3 && strcasecmp(in->args[1], "AS") != 0)
			return bad(ck, "FROM: expected \"AS\" before the stage name, found \"%s\"",
			           in->args[1]);
		if (in->n_args == 3 && !valid_stage_name(in->args[2]))
			return bad(ck,
			           "invalid name for build stage: \"%s\", name can't start with a "
			           "number or contain symbols",
			           in->args[2]);
		return 0;
	case ST_DF_ENV:
	case ST_DF_LABEL:
		if (!in->n_args)
			return bad(ck, "%s requires at least one argument", K);
		for (size_t i = 0; i < in->n_args; i += 3)
			if (!in->args[i][0])
				return bad(ck, "%s names can not be blank", K);
		return 0;
	case ST_DF_ARG:
	case ST_DF_EXPOSE:
	case ST_DF_RUN:
	case ST_DF_SHELL:
		if (!in->n_args)
			return bad(ck, "%s requires at least one argument", K);
		if (in->cmd == ST_DF_SHELL && !in->json)
			return bad(ck, "SHELL requires the arguments to be in JSON form");
		for (size_t i = 0; in->cmd == ST_DF_ARG && i < in->n_args; i++)
			if (in->args[i][0] == '=' || !in->args[i][0])
				return bad(ck, "ARG names can not be blank");
		return 0;
	case ST_DF_VOLUME:
		if (!in->n_args)
			return bad(ck, "VOLUME requires at least one argument");
		for (size_t i = 0; i < in->n_args; i++)
			if (!in->args[i][0])
				return bad(ck, "VOLUME specified can not be an empty string");
		return 0;
	case ST_DF_ADD:
	case ST_DF_COPY:
		if (in->n_args < 2)
			return bad(ck,
			           "%s requires at least two arguments, but only %s provided. "
			           "Destination could not be determined",
			           K, in->n_args ? "one was" : "none were");
		return 0;
	case ST_DF_MAINTAINER:
	case ST_DF_STOPSIGNAL:
	case ST_DF_USER:
	case ST_DF_WORKDIR:
		return in->n_args == 1 ? 0 : bad(ck, "%s requires exactly one argument", K);
	case ST_DF_HEALTHCHECK:
		return check_health(ck, in);
	case ST_DF_ONBUILD:
		if (!in->sub)
			return bad(ck, "ONBUILD requires at least one argument");
		if (in->sub->cmd == ST_DF_ONBUILD)
			return bad(ck, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
		if (in->sub->cmd == ST_DF_FROM || in->sub->cmd == ST_DF_MAINTAINER)
			return bad(ck, "%s isn't allowed as an ONBUILD trigger",
			           upper(in->sub->cmd, kw));
		return 0;
	default:
		return 0;
	}
}

static int check_instr(struct check *ck, const struct st_df_instr *in)
{
	int rc;

	if (in->cmd == ST_DF_UNKNOWN) {
		const char *hint = df_suggest_keyword(in->keyword, strlen(in->keyword));
		if (hint)
			return bad(ck, "unknown instruction \"%s\" (did you mean %s?)", in->keyword,
			           hint);
		return bad(ck, "unknown instruction \"%s\"", in->keyword);
	}
	rc = check_flags(ck, in);
	if (rc == 0)
		rc = check_counts(ck, in);
	if (rc == 0 && in->sub)
		rc = check_instr(ck, in->sub);
	return rc;
}

int st_dockerfile_validate(const struct st_dockerfile *df, struct st_error *err)
{
	struct check ck = {df, 0, err};
	bool seen_from = false;
	int rc;

	for (size_t i = 0; i < df->n_instrs; i++) {
		const struct st_df_instr *in = &df->instrs[i];
		ck.line = in->start_line;
		rc = check_instr(&ck, in);
		if (rc < 0)
			return rc;
		if (!seen_from && in->cmd != ST_DF_FROM && in->cmd != ST_DF_ARG)
			return bad(&ck,
			           "no build stage in current context (%s before the first FROM)",
			           in->keyword);
		seen_from |= in->cmd == ST_DF_FROM;
		for (size_t j = 0; in->cmd == ST_DF_FROM && in->n_args == 3 && j < i; j++) {
			const struct st_df_instr *p = &df->instrs[j];
			if (p->cmd == ST_DF_FROM && p->n_args == 3 &&
			    strcasecmp(p->args[2], in->args[2]) == 0)
				return bad(&ck, "duplicate stage name \"%s\" (first at line %d)",
				           in->args[2], p->start_line);
		}
	}
	return 0;
}
