/* run-opts.c: parsing of `run` options with Docker's syntax: -v, --mount, --tmpfs, sizes,
 * --cpus, signal names, --env-file. Pure functions. */
#include <ctype.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "run/run-internal.h"
#include "util/cleanup.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

void st_mount_spec_release(struct st_mount_spec *m)
{
	if (!m)
		return;
	free(m->source);
	free(m->target);
	free(m->options);
	memset(m, 0, sizeof(*m));
}

static int set_str(char **dst, const char *s, size_t len, struct st_error *err)
{
	char *p = st_strndup(s, len);

	if (!p)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	free(*dst);
	*dst = p;
	return 0;
}

static int check_target(const struct st_mount_spec *m, const char *what, struct st_error *err)
{
	if (!m->target || m->target[0] != '/')
		return st_error_set(err, ST_EINVALID,
		                    "%s: the container path must be absolute, not '%s'", what,
		                    m->target ? m->target : "");
	if (strcmp(m->target, "/") == 0)
		return st_error_set(err, ST_EINVALID, "%s: cannot mount over '/'", what);
	return 0;
}

int st_mount_parse_volume(const char *s, struct st_mount_spec *out, struct st_error *err)
{
	struct st_mount_spec m = {0};
	const char *c1 = strchr(s, ':');
	const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	int rc;

	m.type = ST_MOUNT_VOLUME;
	if (!c1) {
		rc = set_str(&m.target, s, strlen(s), err);
	} else {
		m.type = s[0] == '/' ? ST_MOUNT_BIND : ST_MOUNT_VOLUME;
		m.create_source = true;
		rc = set_str(&m.source, s, (size_t)(c1 - s), err);
		if (rc == 0)
			rc = set_str(&m.target, c1 + 1, c2 ? (size_t)(c2 - c1 - 1) : strlen(c1 + 1),
			             err);
		if (rc == 0 && c2) {
			if (strcmp(c2 + 1, "ro") == 0)
				m.readonly = true;
			else if (strcmp(c2 + 1, "rw") != 0)
				rc = st_error_set(err, ST_EINVALID,
				                  "-v '%s': unknown option '%s' (ro or rw)", s,
				                  c2 + 1);
		}
		if (rc == 0 && !m.source[0])
			rc = st_error_set(err, ST_EINVALID, "-v '%s': empty source", s);
	}
	if (rc == 0)
		rc = check_target(&m, "-v", err);
	if (rc < 0) {
		st_mount_spec_release(&m);
		return rc;
	}
	*out = m;
	return 0;
}

static int mount_kv(struct st_mount_spec *m, const char *k, size_t klen, const char *v,
                    struct st_buf *tmpfs_opts, struct st_error *err)
{
	size_t vlen = strlen(v);

#define KEY(x) (klen == strlen(x) && strncmp(k, x, klen) == 0)
	if (KEY("type")) {
		if (strcmp(v, "bind") == 0)
			m->type = ST_MOUNT_BIND;
		else if (strcmp(v, "tmpfs") == 0)
			m->type = ST_MOUNT_TMPFS;
		else if (strcmp(v, "volume") == 0)
			m->type = ST_MOUNT_VOLUME;
		else
			return st_error_set(err, ST_EINVALID,
			                    "--mount: unknown type '%s' (bind, tmpfs, volume)", v);
		return 0;
	}
	if (KEY("source") || KEY("src"))
		return set_str(&m->source, v, vlen, err);
	if (KEY("target") || KEY("dst") || KEY("destination"))
		return set_str(&m->target, v, vlen, err);
	if (KEY("readonly") || KEY("ro")) {
		m->readonly = !(strcmp(v, "false") == 0 || strcmp(v, "0") == 0);
		return 0;
	}
	if (KEY("tmpfs-size"))
		return st_buf_addf(tmpfs_opts, err, "%ssize=%s", tmpfs_opts->len ? "," : "", v);
	if (KEY("tmpfs-mode"))
		return st_buf_addf(tmpfs_opts, err, "%smode=%s", tmpfs_opts->len ? "," : "", v);
	if (KEY("bind-propagation") || KEY("consistency"))
		return 0;
#undef KEY
	return st_error_set(err, ST_EINVALID, "--mount: unknown key '%.*s'", (int)klen, k);
}

int st_mount_parse_mount(const char *s, struct st_mount_spec *out, struct st_error *err)
{
	struct st_mount_spec m = {.type = ST_MOUNT_VOLUME};
	cleanup_buf struct st_buf tmpfs_opts = ST_BUF_INIT;
	const char *p = s;
	bool typed = false;
	int rc = 0;

	while (*p && rc == 0) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		cleanup_free char *item = st_strndup(p, len);
		char *eq;

		if (!item)
			return st_error_set(err, ST_ENOMEM, "out of memory");
		eq = strchr(item, '=');
		if (eq)
			*eq = '\0';
		typed |= strcmp(item, "type") == 0;
		rc = mount_kv(&m, item, strlen(item), eq ? eq + 1 : "true", &tmpfs_opts, err);
		p += len + (end ? 1 : 0);
	}
	if (rc == 0 && !typed)
		rc = st_error_set(err, ST_EINVALID, "--mount '%s': type= is required", s);
	if (rc == 0 && m.type == ST_MOUNT_BIND && (!m.source || m.source[0] != '/'))
		rc = st_error_set(err, ST_EINVALID,
		                  "--mount '%s': a bind source must be an absolute path", s);
	if (rc == 0 && m.type == ST_MOUNT_TMPFS && m.source)
		rc = st_error_set(err, ST_EINVALID, "--mount '%s': tmpfs takes no source", s);
	if (rc == 0 && tmpfs_opts.len)
		rc = set_str(&m.options, tmpfs_opts.data, tmpfs_opts.len, err);
	if (rc == 0)
		rc = check_target(&m, "--mount", err);
	if (rc < 0) {
		st_mount_spec_release(&m);
		return rc;
	}
	*out = m;
	return 0;
}

int st_mount_parse_tmpfs(const char *s, struct st_mount_spec *out, struct st_error *err)
{
	struct st_mount_spec m = {.type = ST_MOUNT_TMPFS};
	const char *colon = strchr(s, ':');
	int rc = set_str(&m.target, s, colon ? (size_t)(colon - s) : strlen(s), err);

	if (rc == 0 && colon && colon[1])
		rc = set_str(&m.options, colon + 1, strlen(colon + 1), err);
	if (rc == 0)
		rc = check_target(&m, "--tmpfs", err);
	if (rc < 0) {
		st_mount_spec_release(&m);
		return rc;
	}
	*out = m;
	return 0;
}

int st_run_parse_size(const char *s, int64_t *out, struct st_error *err)
{
	size_t len = strlen(s);
	uint64_t v, mul = 1;
	char num[32];

	if (len == 0 || len >= sizeof(num))
		return st_error_set(err, ST_EINVALID, "invalid size '%s'", s);
	memcpy(num, s, len + 1);
	switch (tolower((unsigned char)num[len - 1])) {
	case 'b':
		num[--len] = '\0';
		break;
	case 'k':
		mul = 1024;
		num[--len] = '\0';
		break;
	case 'm':
		mul = 1024 * 1024;
		num[--len] = '\0';
		break;
	case 'g':
		mul = 1024ull * 1024 * 1024;
		num[--len] = '\0';
		break;
	default:
		break;
	}
	if (st_parse_u64(num, &v) < 0 || v == 0 || v > (uint64_t)INT64_MAX / mul)
		return st_error_set(err, ST_EINVALID,
		                    "invalid size '%s' (a number with an optional b, k, m or g)",
		                    s);
	*out = (int64_t)(v * mul);
	return 0;
}

int st_run_parse_cpus(const char *s, int64_t *out_milli, struct st_error *err)
{
	const char *dot = strchr(s, '.');
	char ip[24] = "", fp[4] = "000";
	uint64_t i = 0, f = 0;
	size_t ilen = dot ? (size_t)(dot - s) : strlen(s);
	size_t flen = dot ? strlen(dot + 1) : 0;

	if (ilen >= sizeof(ip) || flen > 3 || (ilen == 0 && flen == 0))
		return st_error_set(err, ST_EINVALID, "invalid --cpus '%s'", s);
	memcpy(ip, s, ilen);
	if (flen)
		memcpy(fp, dot + 1, flen);
	if ((ilen && st_parse_u64(ip, &i) < 0) || st_parse_u64(fp, &f) < 0 || i > 1000000 ||
	    i * 1000 + f == 0)
		return st_error_set(err, ST_EINVALID, "invalid --cpus '%s' (e.g. 1.5)", s);
	*out_milli = (int64_t)(i * 1000 + f);
	return 0;
}

static const struct {
	const char *name;
	int sig;
} signals[] = {
        {"HUP", SIGHUP},       {"INT", SIGINT},   {"QUIT", SIGQUIT},   {"ILL", SIGILL},
        {"TRAP", SIGTRAP},     {"ABRT", SIGABRT}, {"BUS", SIGBUS},     {"FPE", SIGFPE},
        {"KILL", SIGKILL},     {"USR1", SIGUSR1}, {"SEGV", SIGSEGV},   {"USR2", SIGUSR2},
        {"PIPE", SIGPIPE},     {"ALRM", SIGALRM}, {"TERM", SIGTERM},   {"CHLD", SIGCHLD},
        {"CONT", SIGCONT},     {"STOP", SIGSTOP}, {"TSTP", SIGTSTP},   {"TTIN", SIGTTIN},
        {"TTOU", SIGTTOU},     {"URG", SIGURG},   {"XCPU", SIGXCPU},   {"XFSZ", SIGXFSZ},
        {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH}, {"IO", SIGIO},
        {"PWR", SIGPWR},       {"SYS", SIGSYS},
};

int st_run_parse_signal(const char *s, int *out, struct st_error *err)
{
	const char *n = s;
	uint64_t v;

	if (st_parse_u64(s, &v) == 0) {
		if (v == 0 || v > 64)
			return st_error_set(err, ST_EINVALID, "invalid signal '%s'", s);
		*out = (int)v;
		return 0;
	}
	if (strncasecmp(n, "SIG", 3) == 0)
		n += 3;
	for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++) {
		if (strcasecmp(n, signals[i].name) == 0) {
			*out = signals[i].sig;
			return 0;
		}
	}
	return st_error_set(err, ST_EINVALID, "invalid signal '%s'", s);
}

int st_run_parse_env_file(const char *text, struct st_strv *out, struct st_error *err)
{
	struct st_strv v = ST_STRV_INIT;
	const char *p = text;
	int rc = 0;

	while (*p && rc == 0) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		const char *q = p;

		while (q < p + len && (*q == ' ' || *q == '\t'))
			q++;
		if (len && p[len - 1] == '\r')
			len--;
		if (q < p + len && *q != '#') {
			if (*q == '=')
				rc = st_error_set(err, ST_EINVALID,
				                  "env file: variable without a name: '%.*s'",
				                  (int)(p + len - q), q);
			else
				rc = st_strv_push(&v, q, (size_t)(p + len - q), err);
		}
		p += (nl ? (size_t)(nl - p) + 1 : strlen(p));
	}
	if (rc < 0) {
		st_strv_release(&v);
		return rc;
	}
	for (size_t i = 0; i < v.n; i++) {
		rc = st_strv_push(out, v.v[i], strlen(v.v[i]), err);
		if (rc < 0)
			break;
	}
	st_strv_release(&v);
	return rc;
}
