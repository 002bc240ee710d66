/* run-state.c: containers on disk. containers/<id>/spec.json is the configuration resolved at
 * create time, state.json what happened since (written by the monitor), `lock` is held
 * exclusively by the monitor while the container runs (so "running" is never a stale claim), and
 * containers/.names/<name> is a symlink to the ID (claimed atomically by symlinkat). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "run/run-internal.h"
#include "strata/snapshot.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/json.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

#define MAX_SPEC_SIZE (1u << 20)

int64_t ctr_now(void)
{
	return (int64_t)time(NULL);
}

void ctr_spec_release(struct ctr_spec *sp)
{
	free(sp->name);
	free(sp->image);
	free(sp->image_id);
	free(sp->manifest_digest);
	st_strv_release(&sp->args);
	st_strv_release(&sp->env);
	free(sp->workdir);
	free(sp->user);
	free(sp->hostname);
	free(sp->seccomp);
	free(sp->runtime);
	for (size_t i = 0; i < sp->n_mounts; i++)
		st_mount_spec_release(&sp->mounts[i]);
	free(sp->mounts);
	st_strv_release(&sp->lowers);
	memset(sp, 0, sizeof(*sp));
}

void st_container_free(struct st_container *c)
{
	if (!c)
		return;
	ctr_spec_release(&c->spec);
	if (c->dirfd >= 0)
		(void)close(c->dirfd);
	free(c->dir);
	free(c->upper);
	free(c);
}

const char *st_container_id(const struct st_container *c)
{
	return c->spec.id;
}

bool st_container_auto_remove(const struct st_container *c)
{
	return c->spec.auto_remove;
}

bool st_container_tty(const struct st_container *c)
{
	return c->spec.tty;
}

const char *st_ctr_status_name(enum st_ctr_status s)
{
	switch (s) {
	case ST_CTR_CREATED:
		return "created";
	case ST_CTR_RUNNING:
		return "running";
	case ST_CTR_EXITED:
		return "exited";
	}
	return "unknown";
}

/* Writes dirfd/name through a temporary and rename; no fsync: container state is not worth a
 * disk flush on every start (a crash loses the container anyway). */
static int write_state_file(int dirfd, const char *name, const struct st_buf *b,
                            struct st_error *err)
{
	char tmp[64];
	cleanup_fd int fd = -1;
	int rc;

	(void)snprintf(tmp, sizeof(tmp), ".%s.tmp", name);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return st_error_sys(err, "create %s", tmp);
	rc = st_write_all(fd, b->data, b->len, err);
	if (rc == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
		rc = st_error_sys(err, "rename %s", name);
	return rc;
}

static json_t *strv_json(const struct st_strv *v)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < v->n; i++)
		if (json_array_append_new(a, json_string(v->v[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

static json_t *mounts_json(const struct ctr_spec *sp)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < sp->n_mounts; i++) {
		const struct st_mount_spec *m = &sp->mounts[i];
		json_t *o = json_pack("{s:i,s:s?,s:s,s:s?,s:b,s:b}", "type", (int)m->type, "source",
		                      m->source, "target", m->target, "options", m->options,
		                      "readonly", m->readonly, "create", m->create_source);
		if (!o || json_array_append_new(a, o) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

int ctr_spec_save(struct st_container *c, struct st_error *err)
{
	const struct ctr_spec *sp = &c->spec;
	cleanup_buf struct st_buf b = ST_BUF_INIT;
	cleanup_json json_t *o = json_pack(
	        "{s:s,s:s?,s:s,s:s?,s:s?,s:o,s:o,s:s,s:s,s:s,s:s?,s:s?,s:i,s:b,s:b,s:b,s:b,s:b,s:b,"
	        "s:b,s:I,s:o,s:I,s:I,s:I,s:I,s:i,s:o}",
	        "id", sp->id, "name", sp->name, "image", sp->image, "image_id", sp->image_id,
	        "manifest", sp->manifest_digest, "args", strv_json(&sp->args), "env",
	        strv_json(&sp->env), "workdir", sp->workdir, "user", sp->user, "hostname",
	        sp->hostname, "seccomp", sp->seccomp, "runtime", sp->runtime, "network",
	        (int)sp->network, "privileged", sp->privileged, "read_only", sp->read_only, "init",
	        sp->init, "tty", sp->tty, "interactive", sp->interactive, "no_new_privs",
	        sp->no_new_privs, "auto_remove", sp->auto_remove, "caps", (json_int_t)sp->caps,
	        "mounts", mounts_json(sp), "memory", (json_int_t)sp->memory, "pids_limit",
	        (json_int_t)sp->pids_limit, "cpus_milli", (json_int_t)sp->cpus_milli, "created",
	        (json_int_t)sp->created, "stop_signal", sp->stop_signal, "lowers",
	        strv_json(&sp->lowers));
	int rc;

	if (!o)
		return st_error_set(err, ST_ENOMEM, "container spec: out of memory");
	rc = st_json_dump(o, &b, err);
	return rc < 0 ? rc : write_state_file(c->dirfd, "spec.json", &b, err);
}

static int strv_from(const json_t *a, struct st_strv *out, struct st_error *err)
{
	size_t i;
	json_t *v;

	json_array_foreach(a, i, v)
	{
		int rc = st_strv_push(out, json_string_value(v) ? json_string_value(v) : "",
		                      json_string_length(v), err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static char *dup_or_null(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? strdup(s) : NULL;
}

static int mounts_from(const json_t *a, struct ctr_spec *sp, struct st_error *err)
{
	size_t i;
	json_t *v;

	sp->mounts = calloc(json_array_size(a) + 1, sizeof(*sp->mounts));
	if (!sp->mounts)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	json_array_foreach(a, i, v)
	{
		struct st_mount_spec *m = &sp->mounts[sp->n_mounts++];
		m->type = (enum st_mount_type)json_integer_value(json_object_get(v, "type"));
		m->source = dup_or_null(v, "source");
		m->target = dup_or_null(v, "target");
		m->options = dup_or_null(v, "options");
		m->readonly = json_is_true(json_object_get(v, "readonly"));
		m->create_source = json_is_true(json_object_get(v, "create"));
		if (!m->target)
			return st_error_set(err, ST_EINVALID,
			                    "container spec: mount without target");
	}
	return 0;
}

static int spec_from(const json_t *o, struct ctr_spec *sp, struct st_error *err)
{
	const char *id = json_string_value(json_object_get(o, "id"));
	int rc;

	if (!id || strlen(id) != 64 || !json_is_array(json_object_get(o, "args")))
		return st_error_set(err, ST_EINVALID, "container spec: bad id or args");
	memcpy(sp->id, id, 65);
	sp->name = dup_or_null(o, "name");
	sp->image = dup_or_null(o, "image");
	sp->image_id = dup_or_null(o, "image_id");
	sp->manifest_digest = dup_or_null(o, "manifest");
	sp->workdir = dup_or_null(o, "workdir");
	sp->user = dup_or_null(o, "user");
	sp->hostname = dup_or_null(o, "hostname");
	sp->seccomp = dup_or_null(o, "seccomp");
	sp->runtime = dup_or_null(o, "runtime");
	sp->network = (enum st_network_mode)json_integer_value(json_object_get(o, "network"));
#define FLAG(f) sp->f = json_is_true(json_object_get(o, #f))
	FLAG(privileged);
	FLAG(read_only);
	FLAG(init);
	FLAG(tty);
	FLAG(interactive);
	FLAG(no_new_privs);
	FLAG(auto_remove);
#undef FLAG
	sp->caps = (uint64_t)json_integer_value(json_object_get(o, "caps"));
	sp->memory = (int64_t)json_integer_value(json_object_get(o, "memory"));
	sp->pids_limit = (int64_t)json_integer_value(json_object_get(o, "pids_limit"));
	sp->cpus_milli = (int64_t)json_integer_value(json_object_get(o, "cpus_milli"));
	sp->created = (int64_t)json_integer_value(json_object_get(o, "created"));
	sp->stop_signal = (int)json_integer_value(json_object_get(o, "stop_signal"));
	if (!sp->image || !sp->workdir || !sp->user || !sp->hostname)
		return st_error_set(err, ST_EINVALID, "container spec: missing fields");
	rc = strv_from(json_object_get(o, "args"), &sp->args, err);
	if (rc == 0)
		rc = strv_from(json_object_get(o, "env"), &sp->env, err);
	if (rc == 0)
		rc = strv_from(json_object_get(o, "lowers"), &sp->lowers, err);
	if (rc == 0)
		rc = mounts_from(json_object_get(o, "mounts"), sp, err);
	return rc;
}

int ctr_new(struct st_store *s, const char *id, struct st_container **out, struct st_error *err)
{
	struct st_container *c = calloc(1, sizeof(*c));
	cleanup_buf struct st_buf path = ST_BUF_INIT;
	int rc;

	if (!c)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	c->dirfd = -1;
	c->store = s;
	rc = st_buf_addf(&path, err, "%s/" CTR_DIR "/%s", st_store_root(s), id);
	if (rc == 0) {
		c->dir = st_buf_detach(&path, NULL);
		rc = c->dir ? st_buf_addf(&path, err, "%s/upper", c->dir)
		            : st_error_set(err, ST_ENOMEM, "out of memory");
	}
	if (rc == 0) {
		c->upper = st_buf_detach(&path, NULL);
		if (!c->upper)
			rc = st_error_set(err, ST_ENOMEM, "out of memory");
	}
	if (rc < 0) {
		st_container_free(c);
		return rc;
	}
	memcpy(c->spec.id, id, 64);
	*out = c;
	return 0;
}

int ctr_use_volatile_paths(struct st_container *c, bool known, struct st_error *err)
{
	cleanup_buf struct st_buf dir = ST_BUF_INIT, upper = ST_BUF_INIT;
	char link[sizeof(CTR_VOLATILE_BASE) + 80];
	ssize_t n = readlink(c->dir, link, sizeof(link) - 1);

	if (!known && (n < 0 || (size_t)n != sizeof(CTR_VOLATILE_BASE) + 64 ||
	               strncmp(link, CTR_VOLATILE_BASE "/", sizeof(CTR_VOLATILE_BASE)) != 0))
		return 0; /* the classic layout */
	if (st_buf_addf(&dir, err, CTR_VOLATILE_BASE "/%s", c->spec.id) < 0 ||
	    st_buf_addf(&upper, err, "%s/" CTR_SCRATCH_DIR "/%s/upper", st_store_root(c->store),
	                c->spec.id) < 0)
		return -ST_ENOMEM;
	free(c->dir);
	free(c->upper);
	c->dir = st_buf_detach(&dir, NULL);
	c->upper = st_buf_detach(&upper, NULL);
	if (!c->dir || !c->upper)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	return 0;
}

static int load(struct st_store *s, const char *id, struct st_container **out, struct st_error *err)
{
	struct st_container *c = NULL;
	cleanup_buf struct st_buf text = ST_BUF_INIT;
	cleanup_json json_t *o = NULL;
	struct ctr_spec sp = {0};
	int rc = ctr_new(s, id, &c, err);

	if (rc < 0)
		return rc;
	c->dirfd = open(c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c->dirfd < 0)
		rc = st_error_sys(err, "container %s", id);
	if (rc == 0)
		rc = ctr_use_volatile_paths(c, false, err);
	if (rc == 0)
		rc = st_read_file_at(c->dirfd, "spec.json", &text, MAX_SPEC_SIZE, err);
	if (rc == 0)
		rc = st_json_parse(text.data, text.len, "container spec", &o, err);
	if (rc == 0)
		rc = spec_from(o, &sp, err);
	if (rc < 0) {
		ctr_spec_release(&sp);
		st_container_free(c);
		return rc;
	}
	ctr_spec_release(&c->spec);
	c->spec = sp;
	*out = c;
	return 0;
}

static bool is_id(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
			return false;
	return n == 64;
}

static int by_prefix(struct st_store *s, const char *spec, char *out_id, struct st_error *err)
{
	cleanup_dir DIR *d = NULL;
	struct dirent *e;
	size_t n = strlen(spec), found = 0;
	int fd = openat(st_store_root_fd(s), CTR_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0)
		d = fdopendir(fd);
	if (!d) {
		if (fd >= 0)
			(void)close(fd);
		return st_error_set(err, ST_ENOTFOUND, "no such container: %s", spec);
	}
	while ((e = readdir(d))) {
		if (n && is_id(e->d_name) && strncmp(e->d_name, spec, n) == 0) {
			if (found++)
				return st_error_set(err, ST_EINVALID,
				                    "container ID prefix '%s' is ambiguous", spec);
			memcpy(out_id, e->d_name, 65);
		}
	}
	return found ? 0 : st_error_set(err, ST_ENOTFOUND, "no such container: %s", spec);
}

int st_container_open(struct st_store *s, const char *spec, struct st_container **out,
                      struct st_error *err)
{
	char id[65] = "", path[600];
	ssize_t n;

	if (!spec[0] || strchr(spec, '/'))
		return st_error_set(err, ST_ENOTFOUND, "no such container: '%s'", spec);
	(void)snprintf(path, sizeof(path), CTR_DIR "/.names/%s", spec);
	n = readlinkat(st_store_root_fd(s), path, id, sizeof(id) - 1);
	if (n == 64) {
		id[64] = '\0';
	} else {
		int rc = by_prefix(s, spec, id, err);
		if (rc < 0)
			return rc;
	}
	return load(s, id, out, err);
}

int ctr_name_claim(struct st_store *s, const char *name, const char *id, struct st_error *err)
{
	char path[600];
	int rc = st_mkdir_p(st_store_root_fd(s), CTR_DIR "/.names", 0700, err);

	if (rc < 0)
		return rc;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') ||
		      ((*p == '_' || *p == '.' || *p == '-') && p != name)))
			return st_error_set(
			        err, ST_EINVALID,
			        "invalid container name '%s' ([a-zA-Z0-9][a-zA-Z0-9_.-]*)", name);
	if (strlen(name) > 128)
		return st_error_set(err, ST_EINVALID, "container name '%s' is too long", name);
	(void)snprintf(path, sizeof(path), CTR_DIR "/.names/%s", name);
	if (symlinkat(id, st_store_root_fd(s), path) < 0) {
		if (errno == EEXIST)
			return st_error_set(err, ST_EEXIST,
			                    "the container name '%s' is already in use", name);
		return st_error_sys(err, "claim name '%s'", name);
	}
	return 0;
}

void ctr_name_release(struct st_store *s, const char *name)
{
	char path[600];

	(void)snprintf(path, sizeof(path), CTR_DIR "/.names/%s", name);
	(void)unlinkat(st_store_root_fd(s), path, 0);
}

/* ---- state ---- */

int ctr_state_read(struct st_container *c, struct ctr_state *out, struct st_error *err)
{
	cleanup_buf struct st_buf text = ST_BUF_INIT;
	cleanup_json json_t *o = NULL;
	struct ctr_state st = {0};
	int rc = st_read_file_at(c->dirfd, "state.json", &text, 65536, err);

	if (rc == -ST_ENOTFOUND) {
		*out = st;
		return 0;
	}
	if (rc == 0)
		rc = st_json_parse(text.data, text.len, "container state", &o, err);
	if (rc < 0)
		return rc;
	st.status = (enum st_ctr_status)json_integer_value(json_object_get(o, "status"));
	st.pid = (pid_t)json_integer_value(json_object_get(o, "pid"));
	st.exit_code = (int)json_integer_value(json_object_get(o, "exit_code"));
	st.started = (int64_t)json_integer_value(json_object_get(o, "started"));
	st.finished = (int64_t)json_integer_value(json_object_get(o, "finished"));
	*out = st;
	return 0;
}

int ctr_state_write(struct st_container *c, const struct ctr_state *st, struct st_error *err)
{
	cleanup_buf struct st_buf b = ST_BUF_INIT;
	cleanup_json json_t *o =
	        json_pack("{s:i,s:i,s:i,s:I,s:I}", "status", (int)st->status, "pid", (int)st->pid,
	                  "exit_code", st->exit_code, "started", (json_int_t)st->started,
	                  "finished", (json_int_t)st->finished);
	int rc;

	if (!o)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	rc = st_json_dump(o, &b, err);
	return rc < 0 ? rc : write_state_file(c->dirfd, "state.json", &b, err);
}

bool ctr_is_running(struct st_container *c)
{
	cleanup_fd int fd = openat(c->dirfd, "lock", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return false;
	if (flock(fd, LOCK_SH | LOCK_NB) < 0)
		return errno == EWOULDBLOCK;
	return false;
}

int ctr_lock_monitor(struct st_container *c, int *out_fd, struct st_error *err)
{
	int fd = openat(c->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

	if (fd < 0)
		return st_error_sys(err, "container %.12s: lock", c->spec.id);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		(void)close(fd);
		if (e == EWOULDBLOCK)
			return st_error_set(err, ST_EBUSY, "container %.12s is already running",
			                    c->spec.id);
		return st_error_errno(err, e, "container %.12s: lock", c->spec.id);
	}
	*out_fd = fd;
	return 0;
}

int ctr_join_args(const struct st_strv *args, struct st_buf *out, struct st_error *err)
{
	int rc = 0;

	for (size_t i = 0; i < args->n && rc == 0; i++)
		rc = st_buf_addf(out, err, "%s%s", i ? " " : "", args->v[i]);
	return rc;
}

void st_container_info_release(struct st_container_info *i)
{
	if (!i)
		return;
	free(i->name);
	free(i->image);
	free(i->image_id);
	free(i->command);
	free(i->upper_dir);
	memset(i, 0, sizeof(*i));
}

int st_container_inspect(struct st_container *c, struct st_container_info *out,
                         struct st_error *err)
{
	struct st_container_info i = {0};
	cleanup_buf struct st_buf cmd = ST_BUF_INIT, up = ST_BUF_INIT;
	struct ctr_state st;
	int rc = ctr_state_read(c, &st, err);

	if (rc == 0)
		rc = ctr_join_args(&c->spec.args, &cmd, err);
	if (rc == 0)
		rc = st_buf_addf(&up, err, "%s/upper", c->dir);
	if (rc < 0)
		return rc;
	/* a monitor killed without a word: its container died with it (PDEATHSIG) */
	if (st.status == ST_CTR_RUNNING && !ctr_is_running(c)) {
		st.status = ST_CTR_EXITED;
		st.exit_code = 128 + SIGKILL;
	}
	memcpy(i.id, c->spec.id, 65);
	i.name = c->spec.name ? strdup(c->spec.name) : NULL;
	i.image = strdup(c->spec.image);
	i.image_id = c->spec.image_id ? strdup(c->spec.image_id) : NULL;
	i.command = st_buf_detach(&cmd, NULL);
	i.upper_dir = st_buf_detach(&up, NULL);
	i.created = c->spec.created;
	i.started = st.started;
	i.finished = st.finished;
	i.status = st.status;
	i.pid = st.status == ST_CTR_RUNNING ? st.pid : 0;
	i.exit_code = st.exit_code;
	if (!i.image || !i.command || !i.upper_dir) {
		st_container_info_release(&i);
		return st_error_set(err, ST_ENOMEM, "out of memory");
	}
	*out = i;
	return 0;
}

void st_container_list_free(struct st_container_info *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		st_container_info_release(&v[i]);
	free(v);
}

static int cmp_created(const void *a, const void *b)
{
	const struct st_container_info *x = a, *y = b;

	if (x->created != y->created)
		return x->created < y->created ? 1 : -1;
	return strcmp(x->id, y->id);
}

static int list_one(struct st_store *s, const char *id, bool all, struct st_container_info **v,
                    size_t *n, size_t *cap, struct st_error *err)
{
	struct st_container *c = NULL;
	struct st_container_info info;
	int rc;

	if (load(s, id, &c, NULL) < 0)
		return 0; /* being created or removed right now */
	rc = st_container_inspect(c, &info, err);
	st_container_free(c);
	if (rc < 0 || (!all && info.status != ST_CTR_RUNNING)) {
		if (rc == 0)
			st_container_info_release(&info);
		return rc;
	}
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		struct st_container_info *nv = realloc(*v, ncap * sizeof(*nv));
		if (!nv) {
			st_container_info_release(&info);
			return st_error_set(err, ST_ENOMEM, "out of memory");
		}
		*v = nv;
		*cap = ncap;
	}
	(*v)[(*n)++] = info;
	return 0;
}

int st_container_list(struct st_store *s, bool all, struct st_container_info **out, size_t *out_n,
                      struct st_error *err)
{
	struct st_container_info *v = NULL;
	size_t n = 0, cap = 0;
	cleanup_dir DIR *d = NULL;
	struct dirent *e;
	int rc = 0, fd = openat(st_store_root_fd(s), CTR_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0)
		d = fdopendir(fd);
	else if (errno != ENOENT)
		return st_error_sys(err, "open " CTR_DIR);
	while (d && rc == 0 && (e = readdir(d)))
		if (is_id(e->d_name))
			rc = list_one(s, e->d_name, all, &v, &n, &cap, err);
	if (rc < 0) {
		st_container_list_free(v, n);
		return rc;
	}
	if (n)
		qsort(v, n, sizeof(*v), cmp_created);
	*out = v;
	*out_n = n;
	return 0;
}

/* ---- removal ---- */

int ctr_remove_dirs(struct st_container *c, struct st_error *err)
{
	char vdir[sizeof(CTR_VOLATILE_BASE) + 80], scratch[128], link[128];
	int root = st_store_root_fd(c->store);
	int rc;

	/* the volatile layout: containers/<id> is a symlink, removed last so that a crash in
	 * between leaves the container listed (and removable) rather than orphaned files */
	(void)snprintf(vdir, sizeof(vdir), CTR_VOLATILE_BASE "/%s", c->spec.id);
	(void)snprintf(scratch, sizeof(scratch), CTR_SCRATCH_DIR "/%s", c->spec.id);
	(void)snprintf(link, sizeof(link), CTR_DIR "/%s", c->spec.id);
	rc = st_rm_rf_at(AT_FDCWD, vdir, err);
	if (rc == 0)
		rc = st_rm_rf_at(root, scratch, err);
	if (rc == 0)
		rc = st_rm_rf_at(root, link, err);
	return rc;
}

int st_container_remove(struct st_container *c, bool force, struct st_error *err)
{
	int lock = -1, rc;

	if (ctr_is_running(c)) {
		if (!force)
			return st_error_set(err, ST_EBUSY,
			                    "container %.12s is running: stop it first, or use -f",
			                    c->spec.id);
		rc = st_container_kill(c, SIGKILL, err);
		if (rc == 0)
			rc = st_container_wait(c, NULL, err);
		if (rc < 0)
			return rc;
	}
	/* a start racing with us finds the lock taken, and a removed directory */
	rc = ctr_lock_monitor(c, &lock, err);
	if (rc < 0)
		return rc;
	if (c->spec.name)
		ctr_name_release(c->store, c->spec.name);
	(void)st_snapshot_unhold(c->store, c->spec.id, NULL);
	rc = ctr_remove_dirs(c, err);
	(void)close(lock);
	return rc;
}
