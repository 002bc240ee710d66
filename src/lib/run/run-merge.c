/* run-merge.c: Docker's merge of the image config with `run` options (Entrypoint/Cmd, Env) and
 * runc's resolution of "user[:group]" through /etc/passwd and /etc/group. Pure functions. */
#include <stdlib.h>
#include <string.h>

#include "run/run-internal.h"
#include "util/cleanup.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

static int push_all(struct st_strv *out, char *const *v, size_t n, struct st_error *err)
{
	for (size_t i = 0; i < n; i++) {
		int rc = st_strv_push(out, v[i], strlen(v[i]), err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int st_run_merge_args(const struct st_image_config *img, const struct st_run_opts *o,
                      struct st_strv *out, struct st_error *err)
{
	struct st_strv v = ST_STRV_INIT;
	int rc = 0;

	/* moby daemon/create.go merge(): an --entrypoint (even "") discards the image's Cmd */
	if (o->has_entrypoint) {
		if (o->entrypoint && o->entrypoint[0])
			rc = st_strv_push(&v, o->entrypoint, strlen(o->entrypoint), err);
	} else if (img) {
		rc = push_all(&v, img->entrypoint.v, img->entrypoint.n, err);
	}
	if (rc == 0 && o->n_args > 0) {
		for (size_t i = 0; i < o->n_args && rc == 0; i++)
			rc = st_strv_push(&v, o->args[i], strlen(o->args[i]), err);
	} else if (rc == 0 && !o->has_entrypoint && img) {
		rc = push_all(&v, img->cmd.v, img->cmd.n, err);
	}
	if (rc == 0 && v.n == 0)
		rc = st_error_set(err, ST_EINVALID,
		                  "no command specified: the image has no Entrypoint or Cmd");
	if (rc < 0) {
		st_strv_release(&v);
		return rc;
	}
	st_strv_release(out);
	*out = v;
	return 0;
}

static size_t key_len(const char *kv)
{
	const char *eq = strchr(kv, '=');

	return eq ? (size_t)(eq - kv) : strlen(kv);
}

static ssize_t env_find(const struct st_strv *v, const char *kv, size_t klen)
{
	for (size_t i = 0; i < v->n; i++)
		if (key_len(v->v[i]) == klen && strncmp(v->v[i], kv, klen) == 0)
			return (ssize_t)i;
	return -1;
}

/* moby's ReplaceOrAppendEnvValues for one "K=V". */
static int env_set(struct st_strv *v, const char *kv, struct st_error *err)
{
	ssize_t i = env_find(v, kv, key_len(kv));
	char *copy;

	if (i < 0)
		return st_strv_push(v, kv, strlen(kv), err);
	copy = strdup(kv);
	if (!copy)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	free(v->v[i]);
	v->v[i] = copy;
	return 0;
}

/* The user's variables: "K" takes the host's value, or is dropped when the host has none. */
static int user_env(const struct st_run_opts *o, struct st_strv *out, struct st_error *err)
{
	int rc = 0;

	for (size_t i = 0; i < o->n_env && rc == 0; i++) {
		const char *e = o->env[i];
		const char *host;

		if (e[0] == '\0' || e[0] == '=')
			return st_error_set(err, ST_EINVALID, "invalid environment variable '%s'",
			                    e);
		if (strchr(e, '=')) {
			rc = st_strv_push(out, e, strlen(e), err);
			continue;
		}
		host = getenv(e);
		if (host) {
			cleanup_buf struct st_buf b = ST_BUF_INIT;
			rc = st_buf_addf(&b, err, "%s=%s", e, host);
			if (rc == 0)
				rc = st_strv_push(out, b.data, b.len, err);
		}
	}
	return rc;
}

int st_run_merge_env(const struct st_image_config *img, const struct st_run_opts *o,
                     const char *hostname, struct st_strv *out, struct st_error *err)
{
	struct st_strv v = ST_STRV_INIT, user = ST_STRV_INIT;
	cleanup_buf struct st_buf b = ST_BUF_INIT;
	int rc = st_strv_push(&v, CTR_DEFAULT_PATH, strlen(CTR_DEFAULT_PATH), err);

	if (rc == 0)
		rc = st_buf_addf(&b, err, "HOSTNAME=%s", hostname);
	if (rc == 0)
		rc = st_strv_push(&v, b.data, b.len, err);
	if (rc == 0 && o->tty)
		rc = st_strv_push(&v, "TERM=xterm", 10, err);
	if (rc == 0)
		rc = user_env(o, &user, err);
	/* moby merge(): the image's variables the user did not set come after the user's */
	for (size_t i = 0; rc == 0 && img && i < img->env.n; i++) {
		const char *e = img->env.v[i];
		if (env_find(&user, e, key_len(e)) < 0)
			rc = st_strv_push(&user, e, strlen(e), err);
	}
	for (size_t i = 0; rc == 0 && i < user.n; i++)
		rc = strchr(user.v[i], '=') ? env_set(&v, user.v[i], err) : 0;
	st_strv_release(&user);
	if (rc < 0) {
		st_strv_release(&v);
		return rc;
	}
	st_strv_release(out);
	*out = v;
	return 0;
}

/* ---- users and groups (runc libcontainer/user GetExecUser) ---- */

/* Splits line into at most n ':' fields (pointers into line, which is modified). */
static size_t split_fields(char *line, char **f, size_t n)
{
	size_t k = 0;

	f[k++] = line;
	for (char *p = line; *p && k < n; p++) {
		if (*p == ':') {
			*p = '\0';
			f[k++] = p + 1;
		}
	}
	return k;
}

static bool parse_id(const char *s, uint32_t *out)
{
	uint64_t v;

	if (st_parse_u64(s, &v) < 0 || v > 0x7fffffff)
		return false;
	*out = (uint32_t)v;
	return true;
}

/* Calls fn on each line of text (a copy). Returns the first non-zero fn result. */
static int each_line(const char *text, int (*fn)(char *line, void *ctx), void *ctx)
{
	const char *p = text;

	while (p && *p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char line[4096];
		int r;

		if (len < sizeof(line)) {
			memcpy(line, p, len);
			line[len] = '\0';
			r = line[0] && line[0] != '#' ? fn(line, ctx) : 0;
			if (r)
				return r;
		}
		p = nl ? nl + 1 : NULL;
	}
	return 0;
}

struct user_q {
	const char *name; /* NULL: match uid */
	uint32_t uid;
	bool found;
	char matched[256];
	struct st_exec_user *u;
};

static int user_line(char *line, void *ctx)
{
	struct user_q *q = ctx;
	char *f[7];
	uint32_t uid, gid;

	if (split_fields(line, f, 7) < 7 || !parse_id(f[2], &uid) || !parse_id(f[3], &gid))
		return 0;
	if (q->name ? strcmp(f[0], q->name) != 0 : uid != q->uid)
		return 0;
	q->found = true;
	(void)snprintf(q->matched, sizeof(q->matched), "%s", f[0]);
	q->u->uid = uid;
	q->u->gid = gid;
	(void)snprintf(q->u->home, sizeof(q->u->home), "%s", f[5]);
	return 1;
}

struct group_q {
	const char *name; /* explicit group by name, or NULL */
	bool numeric;
	uint32_t gid;
	const char *member; /* implicit: groups listing this user */
	bool found;
	struct st_exec_user *u;
};

static int group_line(char *line, void *ctx)
{
	struct group_q *q = ctx;
	char *f[4];
	uint32_t gid;

	size_t nf = split_fields(line, f, 4);

	if (nf < 3 || !parse_id(f[2], &gid))
		return 0;
	if (q->member) {
		char *save = NULL;
		if (nf < 4)
			return 0;
		for (char *m = strtok_r(f[3], ",", &save); m; m = strtok_r(NULL, ",", &save)) {
			if (strcmp(m, q->member) == 0 && q->u->n_groups < 64) {
				q->u->groups[q->u->n_groups++] = gid;
				break;
			}
		}
		return 0;
	}
	if (q->numeric ? gid != q->gid : strcmp(f[0], q->name) != 0)
		return 0;
	q->found = true;
	q->u->gid = gid;
	return 1;
}

static int resolve_group(const char *garg, const char *group, const char *matched,
                         struct st_exec_user *u, struct st_error *err)
{
	struct group_q gq = {.u = u};

	if (!garg[0]) {
		gq.member = matched;
		if (group)
			(void)each_line(group, group_line, &gq);
		return 0;
	}
	gq.numeric = parse_id(garg, &gq.gid);
	gq.name = garg;
	if (group)
		(void)each_line(group, group_line, &gq);
	if (gq.found)
		return 0;
	if (!gq.numeric)
		return st_error_set(err, ST_ENOTFOUND,
		                    "unable to find group %s: no matching entries in group file",
		                    garg);
	u->gid = gq.gid;
	return 0;
}

int st_run_resolve_user(const char *spec, const char *passwd, const char *group,
                        struct st_exec_user *out, struct st_error *err)
{
	struct st_exec_user u = {.uid = 0, .gid = 0, .home = "/"};
	struct user_q q = {.u = &u};
	char uarg[256] = "", garg[256] = "";
	const char *colon = strchr(spec, ':');
	size_t ulen = colon ? (size_t)(colon - spec) : strlen(spec);
	uint32_t num = 0;
	bool numeric;
	int rc;

	if (ulen >= sizeof(uarg) || (colon && strlen(colon + 1) >= sizeof(garg)))
		return st_error_set(err, ST_EINVALID, "user '%s' is too long", spec);
	memcpy(uarg, spec, ulen);
	if (colon)
		memcpy(garg, colon + 1, strlen(colon + 1) + 1);
	numeric = uarg[0] && parse_id(uarg, &num);
	if (uarg[0] && !numeric)
		q.name = uarg;
	q.uid = numeric ? num : 0;
	if (passwd)
		(void)each_line(passwd, user_line, &q);
	if (!q.found && uarg[0]) {
		if (!numeric)
			return st_error_set(
			        err, ST_ENOTFOUND,
			        "unable to find user %s: no matching entries in passwd file", uarg);
		u.uid = num;
	}
	if (garg[0] || q.found) {
		rc = resolve_group(garg, group, q.found ? q.matched : "", &u, err);
		if (rc < 0)
			return rc;
	}
	*out = u;
	return 0;
}
