/* build-run.c: RUN. The step runs in a container of the run module stacked on the state's
 * snapshots, with a fresh scratch layer that becomes the step's layer. RUN --mount gives cache
 * directories kept across builds under cache/mounts/ (never in a layer), binds from the
 * context or another stage, and tmpfs. The build args in scope reach the command's
 * environment unless an ENV of the same name wins, as in Docker. */
#include "build/build-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "strata/run.h"
#include "util/cleanup.h"
#include "util/fs.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

#define TAIL_LINES 10

struct mounts {
	struct st_mount_spec *v;
	size_t n;
	int locks[16];
	size_t n_locks;
	char *views[8]; /* stage views mounted for binds */
	size_t n_views;
	char ssh_target[1024]; /* where an ssh mount put the agent's socket */
};

static void mounts_release(struct mounts *m)
{
	for (size_t i = 0; i < m->n; i++)
		st_mount_spec_release(&m->v[i]);
	free(m->v);
	for (size_t i = 0; i < m->n_locks; i++)
		(void)close(m->locks[i]);
	for (size_t i = 0; i < m->n_views; i++)
		build_unmount_view(m->views[i]);
}

/* key=value fields of one --mount */
struct mfields {
	char type[16], target[1024], source[1024], id[256], from[256], sharing[16], size[32];
	bool rw, ro;
	long uid, gid, mode;
};

/* copies src[0..len) into dst[cap], cut to fit */
static void setf(char *dst, size_t cap, const char *src, size_t len)
{
	if (len >= cap)
		len = cap - 1;
	memcpy(dst, src, len);
	dst[len] = '\0';
}

static int parse_fields(const char *spec, struct mfields *f, const char *where,
                        struct st_error *err)
{
	const char *p = spec;

	memset(f, 0, sizeof(*f));
	setf(f->type, sizeof(f->type), "bind", 4);
	setf(f->sharing, sizeof(f->sharing), "shared", 6);
	f->mode = 0755;
	while (*p) {
		size_t len = strcspn(p, ","), kl, vl;
		const char *eq = memchr(p, '=', len), *v;
		char num[32];
		kl = eq ? (size_t)(eq - p) : len;
		v = eq ? eq + 1 : "";
		vl = eq ? len - kl - 1 : 0;
		setf(num, sizeof(num), v, vl);
#define KEY(s) (kl == strlen(s) && strncmp(p, s, kl) == 0)
		if (KEY("type"))
			setf(f->type, sizeof(f->type), v, vl);
		else if (KEY("target") || KEY("dst") || KEY("destination"))
			setf(f->target, sizeof(f->target), v, vl);
		else if (KEY("source") || KEY("src"))
			setf(f->source, sizeof(f->source), v, vl);
		else if (KEY("id"))
			setf(f->id, sizeof(f->id), v, vl);
		else if (KEY("from"))
			setf(f->from, sizeof(f->from), v, vl);
		else if (KEY("sharing"))
			setf(f->sharing, sizeof(f->sharing), v, vl);
		else if (KEY("size"))
			setf(f->size, sizeof(f->size), v, vl);
		else if (KEY("rw") || KEY("readwrite"))
			f->rw = !eq || strcmp(num, "true") == 0;
		else if (KEY("ro") || KEY("readonly"))
			f->ro = !eq || strcmp(num, "true") == 0;
		else if (KEY("uid"))
			f->uid = strtol(num, NULL, 10);
		else if (KEY("gid"))
			f->gid = strtol(num, NULL, 10);
		else if (KEY("mode"))
			f->mode = strtol(num, NULL, 8);
		else if (!KEY("required"))
			return st_error_set(err, ST_EINVALID, "%s: --mount: unknown key \"%.*s\"",
			                    where, (int)kl, p);
#undef KEY
		p += len;
		if (*p == ',')
			p++;
	}
	if (strcmp(f->type, "secret") == 0 && !f->id[0] && f->target[0])
		setf(f->id, sizeof(f->id), strrchr(f->target, '/') + 1,
		     strlen(strrchr(f->target, '/') + 1));
	if (strcmp(f->type, "secret") == 0 && !f->target[0] && f->id[0])
		(void)snprintf(f->target, sizeof(f->target), "/run/secrets/%s", f->id);
	if (strcmp(f->type, "ssh") == 0 && !f->target[0])
		setf(f->target, sizeof(f->target), "/run/buildkit/ssh_agent.0", 25);
	if (!f->target[0])
		return st_error_set(err, ST_EINVALID, "%s: --mount=%s: target is required", where,
		                    spec);
	return 0;
}

static int push_mount(struct mounts *m, enum st_mount_type type, const char *src,
                      const char *target, const char *options, bool ro, struct st_error *err)
{
	struct st_mount_spec *nv = realloc(m->v, (m->n + 1) * sizeof(*nv));
	struct st_mount_spec *ms;

	if (!nv)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	m->v = nv;
	ms = &m->v[m->n];
	memset(ms, 0, sizeof(*ms));
	ms->type = type;
	ms->readonly = ro;
	ms->source = src ? strdup(src) : NULL;
	ms->target = strdup(target);
	ms->options = options ? strdup(options) : NULL;
	if ((src && !ms->source) || !ms->target || (options && !ms->options)) {
		st_mount_spec_release(ms);
		return st_error_set(err, ST_ENOMEM, "out of memory");
	}
	m->n++;
	return 0;
}

/* Writes the string data as dir/name. */
static int write_in(const char *dir, const char *name, const char *data, mode_t mode,
                    struct st_error *err)
{
	int fd = st_open_dir_at(AT_FDCWD, dir, err), rc;

	if (fd < 0)
		return fd;
	rc = st_write_file_atomic(fd, name, fd, data, strlen(data), mode, err);
	(void)close(fd);
	return rc;
}

/* The value of key k in a "k=v,k2=v2" spec, copied into out[cap]; false when absent. */
static bool spec_value(const char *spec, const char *k, char *out, size_t cap)
{
	size_t kl = strlen(k);

	for (const char *p = spec; *p;) {
		size_t len = strcspn(p, ",");
		if (len > kl && strncmp(p, k, kl) == 0 && p[kl] == '=') {
			setf(out, cap, p + kl + 1, len - kl - 1);
			return true;
		}
		p += len + (p[len] == ',');
	}
	return false;
}

/* A secret mount: the file (or a file holding the environment variable) --secret gave for the
 * id, bound read-only. A secret the build was not given is skipped unless required. */
static int secret_mount(struct bctx *b, const struct mfields *f, bool required, struct mounts *m,
                        const char *where)
{
	char id[256], src[1024], var[256], *path = NULL;
	int rc = 0;

	for (size_t i = 0; i < b->o->n_secrets; i++) {
		const char *sp = b->o->secrets[i];
		if (!spec_value(sp, "id", id, sizeof(id)) || strcmp(id, f->id) != 0)
			continue;
		if (spec_value(sp, "src", src, sizeof(src)) ||
		    spec_value(sp, "source", src, sizeof(src)))
			return push_mount(m, ST_MOUNT_BIND, src, f->target, NULL, true, b->err);
		if (!spec_value(sp, "env", var, sizeof(var)) || !getenv(var))
			break;
		rc = build_fresh_dir(b, "secret", &path);
		if (rc == 0)
			rc = write_in(path, "s", getenv(var), 0400, b->err);
		if (rc == 0) {
			char file[1100];
			(void)snprintf(file, sizeof(file), "%s/s", path);
			rc = push_mount(m, ST_MOUNT_BIND, file, f->target, NULL, true, b->err);
		}
		free(path);
		return rc;
	}
	if (required)
		return st_error_set(
		        b->err, ST_ENOTFOUND,
		        "%s: secret \"%s\" is required but was not given (--secret id=%s,src=FILE)",
		        where, f->id, f->id);
	return 0;
}

/* A cache mount: cache/mounts/<sha256 of id>, made once with uid/gid/mode; sharing=locked
 * holds an exclusive lock for the step. */
static int cache_mount(struct bctx *b, const struct mfields *f, struct mounts *m)
{
	char hex[ST_DIGEST_HEX_MAX + 1], rel[200];
	const char *id = f->id[0] ? f->id : f->target;
	struct st_buf path = ST_BUF_INIT;
	struct st_digest d;
	struct stat st;
	int rc;

	rc = st_digest_of(ST_DIGEST_SHA256, id, strlen(id), &d, b->err);
	if (rc < 0)
		return rc;
	st_digest_hex(&d, hex);
	(void)snprintf(rel, sizeof(rel), "cache/mounts/%s", hex);
	rc = st_mkdir_p(st_store_root_fd(b->s), "cache/mounts", 0700, b->err);
	if (rc == 0)
		rc = st_buf_addf(&path, b->err, "%s/%s", st_store_root(b->s), rel);
	if (rc == 0 && stat(path.data, &st) < 0) {
		if (mkdir(path.data, (mode_t)f->mode) < 0 && errno != EEXIST)
			rc = st_error_sys(b->err, "mkdir '%s'", path.data);
		else if (chown(path.data, (uid_t)f->uid, (gid_t)f->gid) < 0 ||
		         chmod(path.data, (mode_t)f->mode) < 0)
			rc = st_error_sys(b->err, "set owner of '%s'", path.data);
	}
	if (rc == 0 && strcmp(f->sharing, "locked") == 0 && m->n_locks < 16) {
		int fd = open(path.data, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0 || flock(fd, LOCK_EX) < 0)
			rc = st_error_sys(b->err, "lock cache mount '%s'", id);
		if (fd >= 0)
			m->locks[m->n_locks++] = fd;
	}
	if (rc == 0)
		rc = push_mount(m, ST_MOUNT_BIND, path.data, f->target, NULL, false, b->err);
	st_buf_release(&path);
	return rc;
}

/* A bind mount from the context, or from a stage or image (from=). */
static int bind_mount(struct bctx *b, int stage, const struct mfields *f, struct mounts *m,
                      const char *where)
{
	struct st_buf src = ST_BUF_INIT;
	const char *root = b->context;
	int rc = 0;

	if (f->from[0]) {
		struct bstate img = {0};
		const struct bstate *from = NULL;
		if (m->n_views >= 8)
			return st_error_set(b->err, ST_ELIMIT,
			                    "%s: more than 8 --mount from=", where);
		rc = build_from_state(b, stage, f->from, &img, &from);
		if (rc == 0)
			rc = build_mount_view(b, from, &m->views[m->n_views]);
		st_image_config_release(&img.cfg);
		st_manifest_release(&img.man);
		if (rc < 0)
			return st_error_wrap(b->err, "%s: --mount from=%s", where, f->from);
		root = m->views[m->n_views++];
	}
	if (strstr(f->source, ".."))
		return st_error_set(b->err, ST_EINVALID, "%s: --mount source \"%s\" leaves the %s",
		                    where, f->source, f->from[0] ? "stage" : "context");
	rc = st_buf_addf(&src, b->err, "%s/%s", root, f->source);
	if (rc == 0)
		rc = push_mount(m, ST_MOUNT_BIND, src.data, f->target, NULL, !f->rw, b->err);
	st_buf_release(&src);
	return rc;
}

static int run_mounts(struct bctx *b, int stage, const struct st_df_eval_instr *ei,
                      struct mounts *m, const char *where)
{
	int rc = 0;

	for (size_t i = 0; i < ei->flags.n && rc == 0; i++) {
		struct mfields f;
		if (!st_str_has_prefix(ei->flags.v[i], "--mount="))
			continue;
		rc = parse_fields(ei->flags.v[i] + 8, &f, where, b->err);
		if (rc < 0)
			break;
		if (strcmp(f.type, "cache") == 0) {
			rc = cache_mount(b, &f, m);
		} else if (strcmp(f.type, "bind") == 0) {
			rc = bind_mount(b, stage, &f, m, where);
		} else if (strcmp(f.type, "secret") == 0) {
			rc = secret_mount(b, &f, strstr(ei->flags.v[i], "required=true") != NULL, m,
			                  where);
		} else if (strcmp(f.type, "ssh") == 0) {
			if (!b->o->ssh_sock)
				rc = st_error_set(b->err, ST_ENOTFOUND,
				                  "%s: RUN --mount=type=ssh needs --ssh default "
				                  "(with SSH_AUTH_SOCK set)",
				                  where);
			else
				rc = push_mount(m, ST_MOUNT_BIND, b->o->ssh_sock, f.target, NULL,
				                false, b->err);
			if (rc == 0)
				setf(m->ssh_target, sizeof(m->ssh_target), f.target,
				     strlen(f.target));
		} else if (strcmp(f.type, "tmpfs") == 0) {
			char opt[64];
			(void)snprintf(opt, sizeof(opt), "%s%s", f.size[0] ? "size=" : "", f.size);
			rc = push_mount(m, ST_MOUNT_TMPFS, NULL, f.target, f.size[0] ? opt : NULL,
			                false, b->err);
		} else {
			rc = st_error_set(b->err, ST_EUNSUPPORTED,
			                  "%s: RUN --mount=type=%s is not supported", where,
			                  f.type);
		}
	}
	return rc;
}

/* What a bind mount's source holds goes into the RUN's key: the chain ID of a stage or image
 * (from=), else the context files below `source` as COPY would hash them. */
static int key_bind(struct bctx *b, int stage, const struct mfields *f, struct build_key *key,
                    const char *where)
{
	struct bstate img = {0};
	const struct bstate *from = NULL;
	const char *src[1] = {f->source[0] ? f->source : "."};
	struct build_copy_req r = {.srcs = src, .n_srcs = 1, .dest = "/", .workdir = "/"};
	struct st_digest top;
	int rc;

	if (f->from[0]) {
		rc = build_from_state(b, stage, f->from, &img, &from);
		if (rc == 0)
			rc = build_state_chain(from, &top, b->err);
		if (rc == 0)
			st_hasher_update(&key->item, top.bytes, 32);
		st_image_config_release(&img.cfg);
		st_manifest_release(&img.man);
		return rc < 0 ? st_error_wrap(b->err, "%s: --mount from=%s", where, f->from) : 0;
	}
	r.src_root = b->context;
	r.from_context = true;
	r.ignore = b->ignore;
	r.memo = b->memo;
	r.where = where;
	return build_copy_key(&r, key, b->err);
}

int build_run_key_mounts(struct bctx *b, int stage, const struct st_df_eval_instr *ei,
                         struct build_key *key)
{
	char where[300];
	int rc = 0;

	(void)snprintf(where, sizeof(where), "%s:%d", b->df->name, ei->instr->start_line);
	for (size_t i = 0; i < ei->flags.n && rc == 0; i++) {
		struct mfields f;
		if (!st_str_has_prefix(ei->flags.v[i], "--mount="))
			continue;
		rc = parse_fields(ei->flags.v[i] + 8, &f, where, b->err);
		if (rc == 0 && strcmp(f.type, "bind") == 0)
			rc = build_key_item(key, b->err, "mount %s", f.target);
		if (rc == 0 && strcmp(f.type, "bind") == 0) {
			st_hasher_update(&key->item, "bind", 5);
			rc = key_bind(b, stage, &f, key, where);
		}
	}
	return rc;
}

/* --add-host: an /etc/hosts with localhost and the given names, bound read-only. */
static int hosts_mount(struct bctx *b, struct mounts *m)
{
	struct st_buf text = ST_BUF_INIT, file = ST_BUF_INIT;
	char *dir = NULL;
	int rc = st_buf_adds(
	        &text, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n", b->err);

	for (size_t i = 0; i < b->o->n_add_hosts && rc == 0; i++) {
		const char *h = b->o->add_hosts[i], *colon = strchr(h, ':');
		if (!colon || colon == h || !colon[1])
			rc = st_error_set(b->err, ST_EINVALID, "--add-host \"%s\": want NAME:IP",
			                  h);
		else
			rc = st_buf_addf(&text, b->err, "%s\t%.*s\n", colon + 1, (int)(colon - h),
			                 h);
	}
	if (rc == 0)
		rc = build_fresh_dir(b, "hosts", &dir);
	if (rc == 0)
		rc = st_buf_addf(&file, b->err, "%s/hosts", dir);
	if (rc == 0)
		rc = write_in(dir, "hosts", text.data, 0644, b->err);
	if (rc == 0)
		rc = push_mount(m, ST_MOUNT_BIND, file.data, "/etc/hosts", NULL, true, b->err);
	free(dir);
	st_buf_release(&text);
	st_buf_release(&file);
	return rc;
}

/* ---- output ---- */

struct reader {
	struct bctx *b;
	int fd, stage;
	char tail[TAIL_LINES][256];
	int n_tail;
};

static void keep_line(struct reader *r, const char *p, size_t len)
{
	int i = r->n_tail % TAIL_LINES;

	(void)snprintf(r->tail[i], sizeof(r->tail[i]), "%.*s", (int)(len > 255 ? 255 : len), p);
	r->n_tail++;
}

static void *read_output(void *arg)
{
	struct reader *r = arg;
	char buf[8192], line[4096];
	size_t ll = 0;
	ssize_t n;

	while ((n = read(r->fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] != '\n' && ll < sizeof(line) - 1) {
				line[ll++] = buf[i];
				continue;
			}
			if (buf[i] != '\n')
				continue; /* a line longer than the buffer is cut */
			keep_line(r, line, ll);
			build_output(r->b, line, ll);
			ll = 0;
		}
	}
	if (ll) {
		keep_line(r, line, ll);
		build_output(r->b, line, ll);
	}
	return NULL;
}

static void tail_text(const struct reader *r, struct st_buf *out)
{
	int first = r->n_tail > TAIL_LINES ? r->n_tail - TAIL_LINES : 0;

	for (int i = first; i < r->n_tail; i++)
		(void)st_buf_addf(out, NULL, "\n  > %s", r->tail[i % TAIL_LINES]);
}

/* ---- the command ---- */

/* The process arguments: exec form as is; shell form, or a heredoc script, through SHELL. */
static int command(const struct bstate *st, const struct st_df_eval_instr *ei, struct st_strv *out,
                   struct st_error *err)
{
	const struct st_df_instr *in = ei->instr;
	const char *cmd = ei->args.n ? ei->args.v[0] : "";
	int rc = 0;

	if (in->json) {
		for (size_t i = 0; i < ei->args.n && rc == 0; i++)
			rc = st_strv_push(out, ei->args.v[i], strlen(ei->args.v[i]), err);
		return rc;
	}
	if (st->cfg.shell.v && st->cfg.shell.n) {
		for (size_t i = 0; i < st->cfg.shell.n && rc == 0; i++)
			rc = st_strv_push(out, st->cfg.shell.v[i], strlen(st->cfg.shell.v[i]), err);
	} else {
		rc = st_strv_push(out, "/bin/sh", 7, err);
		if (rc == 0)
			rc = st_strv_push(out, "-c", 2, err);
	}
	/* RUN <<EOF: the heredoc is the script */
	if (in->n_heredocs && st_str_has_prefix(cmd, "<<"))
		cmd = in->heredocs[0].content;
	return rc < 0 ? rc : st_strv_push(out, cmd, strlen(cmd), err);
}

/* Build args reach RUN's environment, unless the config's Env sets the same name. */
static int arg_env(const struct bstate *st, struct st_strv *out, struct st_error *err)
{
	int rc = 0;

	for (size_t i = 0; i < st->args.n && rc == 0; i++) {
		const char *kv = st->args.v[i];
		size_t nl = strcspn(kv, "=");
		bool in_env = false;
		for (size_t k = 0; st->cfg.env.v && k < st->cfg.env.n; k++)
			if (strncmp(st->cfg.env.v[k], kv, nl) == 0 && st->cfg.env.v[k][nl] == '=')
				in_env = true;
		if (!in_env)
			rc = st_strv_push(out, kv, strlen(kv), err);
	}
	return rc;
}

static int exec_container(struct bctx *b, const struct st_image *img,
                          const struct st_df_eval_instr *ei, const struct st_run_opts *ro,
                          const char *upper, struct st_error *err)
{
	struct reader r = {.b = b, .stage = ei->stage};
	struct st_container *c = NULL;
	struct st_buf tail = ST_BUF_INIT;
	pthread_t th;
	int pfd[2], status = 0, rc;

	rc = st_container_create_image(b->s, ro, img, &c, err);
	if (rc < 0)
		return rc;
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		st_container_remove(c, true, NULL);
		st_container_free(c);
		return st_error_sys(err, "pipe");
	}
	r.fd = pfd[0];
	/* the runtime waits for its child through a signalfd: SIGCHLD and the forwarded
	 * signals must not land in the reader thread, so it starts with them all blocked */
	sigset_t all, old;
	sigfillset(&all);
	(void)pthread_sigmask(SIG_BLOCK, &all, &old);
	int trc = pthread_create(&th, NULL, read_output, &r);
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (trc != 0) {
		(void)close(pfd[0]);
		(void)close(pfd[1]);
		st_container_remove(c, true, NULL);
		st_container_free(c);
		return st_error_set(err, ST_ENOMEM, "cannot start a thread");
	}
	/* the build's main thread takes the signals and cancels through the eventfd */
	struct st_run_io io = {.in_fd = -1,
	                       .out_fd = pfd[1],
	                       .err_fd = pfd[1],
	                       .cancel_fd = b->sync ? b->sync->cancel_fd : -1};
	rc = st_container_run(c, &io, &status, err);
	(void)close(pfd[1]);
	(void)pthread_join(th, NULL);
	(void)close(pfd[0]);
	if (rc == 0 && status != 0) {
		tail_text(&r, &tail);
		rc = st_error_set(err, ST_EINVALID, "%s:%d: %s: exit code %d%s", b->df->name,
		                  ei->instr->start_line, ei->instr->original, status, tail.data);
	}
	/* the scratch layer is the step's diff: take it before the container goes */
	if (rc == 0 && rename(st_container_upper_dir(c), upper) < 0)
		rc = st_error_sys(err, "take the scratch layer of the RUN container");
	st_container_remove(c, true, NULL);
	st_container_free(c);
	st_buf_release(&tail);
	return rc;
}

int build_run_exec(struct bctx *b, const struct bstate *st, const struct st_df_eval_instr *ei,
                   const char *upper, struct st_error *err)
{
	struct st_strv args = ST_STRV_INIT, env = ST_STRV_INIT;
	struct st_run_opts ro = {0};
	struct st_image img = {0};
	struct mounts m = {0};
	char where[300];
	int rc;

	(void)snprintf(where, sizeof(where), "%s:%d", b->df->name, ei->instr->start_line);
	img.manifest = st->man;
	img.config = st->cfg;
	rc = command(st, ei, &args, err);
	if (rc == 0)
		rc = arg_env(st, &env, err);
	if (rc == 0)
		rc = run_mounts(b, ei->stage, ei, &m, where);
	if (rc == 0 && m.ssh_target[0]) {
		char kv[1100];
		(void)snprintf(kv, sizeof(kv), "SSH_AUTH_SOCK=%s", m.ssh_target);
		rc = st_strv_push(&env, kv, strlen(kv), err);
	}
	if (rc == 0 && b->o->n_add_hosts)
		rc = hosts_mount(b, &m);
	if (rc == 0) {
		/* the previous step's layer, still being written, is the top of the rootfs */
		const char *top = build_layer_pending_dir(b, st);
		ro.top_lowers = top ? &top : NULL;
		ro.n_top_lowers = top ? 1 : 0;
		ro.has_entrypoint = true;
		ro.entrypoint = "";
		ro.args = (const char *const *)args.v;
		ro.n_args = args.n;
		ro.env = (const char *const *)env.v;
		ro.n_env = env.n;
		ro.network = b->o->network_none ? ST_NET_NONE : ST_NET_HOST;
		ro.mounts = m.v;
		ro.n_mounts = m.n;
		rc = exec_container(b, &img, ei, &ro, upper, err);
	}
	mounts_release(&m);
	st_strv_release(&args);
	st_strv_release(&env);
	return rc;
}
