/* run-create.c: `create`: the image looked up and its layers extracted (held for the
 * container), Docker's configuration merge, and containers/<id>/ with an empty scratch layer,
 * the /etc files, and the init layer: the mount points the runtime needs, made only where the
 * image lacks them (resolving the image's own symlinks, so /lib -> usr/lib stays a link). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "run/run-internal.h"
#include "strata/archive.h"
#include "strata/snapshot.h"
#include "util/cleanup.h"
#include "util/fs.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

/* ---- the image's merged view, read from its lower directories ---- */

int ctr_view_open(struct img_view *v, const struct st_strv *lowers, struct st_error *err)
{
	v->lowers = lowers;
	v->n = 0;
	for (size_t i = lowers->n; i-- > 0;) {
		int fd = open(lowers->v[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return st_error_sys(err, "open snapshot '%s'", lowers->v[i]);
		v->fds[v->n++] = fd; /* top first */
	}
	return 0;
}

void ctr_view_close(struct img_view *v)
{
	for (size_t i = 0; i < v->n; i++)
		(void)close(v->fds[i]);
	v->n = 0;
}

static bool is_whiteout(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && st->st_rdev == 0;
}

static bool is_opaque(const struct img_view *v, size_t layer, const char *rel)
{
	char path[4200], val[4];
	const char *dir = v->lowers->v[v->lowers->n - 1 - layer];

	(void)snprintf(path, sizeof(path), "%s/%s", dir, rel);
	return lgetxattr(path, "trusted.overlay.opaque", val, sizeof(val)) == 1 && val[0] == 'y';
}

/* Whether a proper prefix of rel hides the lower layers in layer i. */
static bool parent_hides(const struct img_view *v, size_t i, const char *rel)
{
	char p[4096];
	struct stat st;

	for (const char *s = strchr(rel, '/'); s; s = strchr(s + 1, '/')) {
		(void)snprintf(p, sizeof(p), "%.*s", (int)(s - rel), rel);
		if (fstatat(v->fds[i], p, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return false;
		if (!S_ISDIR(st.st_mode) || is_opaque(v, i, p))
			return true;
	}
	return false;
}

/* lstat of rel (relative, no symlinks among its parents) in the image; the layer index found
 * in goes to *layer. -1 when absent. */
int ctr_view_stat(const struct img_view *v, const char *rel, struct stat *st, size_t *layer)
{
	if (!rel[0])
		return fstat(v->fds[0], st) == 0 ? (int)(*layer = 0) : -1;
	for (size_t i = 0; i < v->n; i++) {
		if (fstatat(v->fds[i], rel, st, AT_SYMLINK_NOFOLLOW) == 0) {
			*layer = i;
			return is_whiteout(st) ? -1 : 0;
		}
		if (parent_hides(v, i, rel))
			return -1;
	}
	return -1;
}

/* The image path `path` with every symlink of the image resolved (inside its root), as
 * relative path without a leading '/' into out. */
static int view_resolve(const struct img_view *v, const char *path, struct st_buf *out,
                        struct st_error *err)
{
	cleanup_buf struct st_buf rem = ST_BUF_INIT, res = ST_BUF_INIT;
	int links = 0, rc = st_buf_adds(&rem, path, err);

	while (rc == 0 && rem.len) {
		char *slash = strchr(rem.data, '/');
		size_t clen = slash ? (size_t)(slash - rem.data) : rem.len;
		char comp[256], target[4096];
		struct stat st;
		size_t layer, old = res.len;
		ssize_t tl;

		if (clen >= sizeof(comp))
			return st_error_set(err, ST_EINVALID, "path '%s': component too long",
			                    path);
		memcpy(comp, rem.data, clen);
		comp[clen] = '\0';
		memmove(rem.data, rem.data + clen + (slash ? 1 : 0),
		        rem.len - clen - (slash ? 1 : 0) + 1);
		rem.len -= clen + (slash ? 1 : 0);
		if (!comp[0] || strcmp(comp, ".") == 0)
			continue;
		if (strcmp(comp, "..") == 0) {
			char *last = strrchr(res.data, '/');
			st_buf_setlen(&res, last ? (size_t)(last - res.data) : 0);
			continue;
		}
		rc = st_buf_addf(&res, err, "%s%s", res.len ? "/" : "", comp);
		if (rc < 0 || ctr_view_stat(v, res.data, &st, &layer) < 0 || !S_ISLNK(st.st_mode))
			continue;
		if (++links > 40)
			return st_error_set(err, ST_EINVALID, "path '%s': too many symlinks", path);
		tl = readlinkat(v->fds[layer], res.data, target, sizeof(target) - 1);
		if (tl < 0)
			return st_error_sys(err, "readlink '%s' in the image", res.data);
		target[tl] = '\0';
		st_buf_setlen(&res, target[0] == '/' ? 0 : old);
		if (!target[0] || target[0] == '/')
			st_buf_setlen(&res, 0);
		{
			cleanup_buf struct st_buf n = ST_BUF_INIT;
			rc = st_buf_addf(&n, err, "%s/%s", target, rem.data);
			if (rc == 0)
				st_buf_swap(&n, &rem);
		}
	}
	if (rc == 0)
		st_buf_swap(out, &res);
	return rc;
}

/* Makes rel (resolved) exist in the merged view: created in the init layer, with parents that
 * copy the image's directory attributes, unless the image has it with the right type. */
static int ensure_path(const struct img_view *v, int init_fd, const char *rel, bool dir,
                       struct st_error *err)
{
	struct stat st;
	size_t layer;
	char p[4096];
	int fd;

	if (ctr_view_stat(v, rel, &st, &layer) == 0 &&
	    (dir ? S_ISDIR(st.st_mode) : !S_ISDIR(st.st_mode)))
		return 0;
	for (const char *s = strchr(rel, '/'); s; s = strchr(s + 1, '/')) {
		mode_t mode = 0755;
		uid_t uid = 0;
		gid_t gid = 0;
		(void)snprintf(p, sizeof(p), "%.*s", (int)(s - rel), rel);
		if (ctr_view_stat(v, p, &st, &layer) == 0 && S_ISDIR(st.st_mode)) {
			mode = st.st_mode & 07777;
			uid = st.st_uid;
			gid = st.st_gid;
		}
		if (mkdirat(init_fd, p, mode) < 0) {
			if (errno == EEXIST)
				continue;
			return st_error_sys(err, "init layer: mkdir '%s'", p);
		}
		if (fchmodat(init_fd, p, mode, 0) < 0 || fchownat(init_fd, p, uid, gid, 0) < 0)
			return st_error_sys(err, "init layer: '%s'", p);
	}
	if (dir) {
		if (mkdirat(init_fd, rel, 0755) < 0 && errno != EEXIST)
			return st_error_sys(err, "init layer: mkdir '%s'", rel);
		return 0;
	}
	fd = openat(init_fd, rel, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return st_error_sys(err, "init layer: create '%s'", rel);
	(void)close(fd);
	return 0;
}

static int ensure(const struct img_view *v, int init_fd, const char *path, bool dir,
                  struct st_error *err)
{
	cleanup_buf struct st_buf rel = ST_BUF_INIT;
	int rc = view_resolve(v, path, &rel, err);

	if (rc == 0 && rel.len == 0)
		return 0;
	if (rc == 0)
		rc = ensure_path(v, init_fd, rel.data, dir, err);
	return rc < 0 ? st_error_wrap(err, "mount point '%s'", path) : 0;
}

static bool source_is_dir(const struct st_mount_spec *m)
{
	struct stat st;

	if (m->type != ST_MOUNT_BIND)
		return true;
	return stat(m->source, &st) < 0 || S_ISDIR(st.st_mode);
}

int ctr_make_init_layer(struct st_container *c, const struct st_strv *volumes, struct st_error *err)
{
	static const char *const dirs[] = {"/proc", "/sys", "/dev"};
	static const char *const files[] = {"/etc/hosts", "/etc/hostname", "/etc/resolv.conf"};
	struct img_view v = {0};
	cleanup_fd int init_fd = openat(c->dirfd, "init", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = init_fd < 0 ? st_error_sys(err, "open init layer") : 0;

	if (rc == 0)
		rc = ctr_view_open(&v, &c->spec.lowers, err);
	for (size_t i = 0; rc == 0 && i < 3; i++)
		rc = ensure(&v, init_fd, dirs[i], true, err);
	for (size_t i = 0; rc == 0 && i < 3; i++)
		rc = ensure(&v, init_fd, files[i], false, err);
	for (size_t i = 0; rc == 0 && i < c->spec.n_mounts; i++)
		rc = ensure(&v, init_fd, c->spec.mounts[i].target,
		            source_is_dir(&c->spec.mounts[i]), err);
	for (size_t i = 0; rc == 0 && volumes && i < volumes->n; i++)
		rc = ensure(&v, init_fd, volumes->v[i], true, err);
	ctr_view_close(&v);
	return rc;
}

/* ---- /etc files ---- */

static int write_small(int dirfd, const char *name, const struct st_buf *b, struct st_error *err)
{
	cleanup_fd int fd =
	        openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);

	if (fd < 0)
		return st_error_sys(err, "create %s", name);
	return st_write_all(fd, b->data, b->len, err);
}

static int resolv_conf(const struct ctr_spec *sp, struct st_buf *out, struct st_error *err)
{
	cleanup_buf struct st_buf host = ST_BUF_INIT;
	const char *p;
	int rc = st_read_file_at(AT_FDCWD, "/etc/resolv.conf", &host, 1 << 20, NULL);

	if (rc < 0)
		return 0;
	if (sp->network == ST_NET_HOST)
		return st_buf_add(out, host.data, host.len, err);
	/* Docker: the host's nameservers on the loopback are unreachable from the container */
	for (p = host.data; *p && rc == 0;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) + 1 : strlen(p);
		bool loop = strncmp(p, "nameserver 127.", 15) == 0 ||
		            strncmp(p, "nameserver ::1", 14) == 0;
		if (!loop)
			rc = st_buf_add(out, p, len, err);
		p += len;
	}
	return rc;
}

int ctr_write_etc_files(struct st_container *c, struct st_error *err)
{
	cleanup_buf struct st_buf hosts = ST_BUF_INIT, name = ST_BUF_INIT, resolv = ST_BUF_INIT;
	int rc = 0;

	if (c->spec.network == ST_NET_HOST)
		(void)st_read_file_at(AT_FDCWD, "/etc/hosts", &hosts, 1 << 20, NULL);
	if (hosts.len == 0)
		rc = st_buf_addf(&hosts, err,
		                 "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
		                 "127.0.1.1\t%s\n",
		                 c->spec.hostname);
	if (rc == 0)
		rc = st_buf_addf(&name, err, "%s\n", c->spec.hostname);
	if (rc == 0)
		rc = resolv_conf(&c->spec, &resolv, err);
	if (rc == 0)
		rc = write_small(c->dirfd, "hosts", &hosts, err);
	if (rc == 0)
		rc = write_small(c->dirfd, "hostname", &name, err);
	if (rc == 0)
		rc = write_small(c->dirfd, "resolv.conf", &resolv, err);
	return rc;
}

/* ---- create ---- */

static int check_mounts(const struct st_run_opts *o, struct st_error *err)
{
	struct stat st;

	for (size_t i = 0; i < o->n_mounts; i++) {
		const struct st_mount_spec *m = &o->mounts[i];
		if (m->type != ST_MOUNT_BIND || stat(m->source, &st) == 0)
			continue;
		if (errno != ENOENT || !m->create_source)
			return st_error_sys(err, "bind source path '%s'", m->source);
		/* -v creates a missing host directory, as Docker does */
		if (st_mkdir_p(AT_FDCWD, m->source, 0755, err) < 0)
			return st_error_wrap(err, "-v");
	}
	return 0;
}

static int copy_mounts(struct ctr_spec *sp, const struct st_run_opts *o,
                       const struct st_image_config *cfg, struct st_error *err)
{
	size_t n = o->n_mounts + cfg->volumes.n;

	sp->mounts = calloc(n + 1, sizeof(*sp->mounts));
	if (!sp->mounts)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	for (size_t i = 0; i < o->n_mounts; i++) {
		const struct st_mount_spec *m = &o->mounts[i];
		struct st_mount_spec *d = &sp->mounts[sp->n_mounts++];
		*d = *m;
		d->source = m->source ? strdup(m->source) : NULL;
		d->target = strdup(m->target);
		d->options = m->options ? strdup(m->options) : NULL;
		if (!d->target || (m->source && !d->source) || (m->options && !d->options))
			return st_error_set(err, ST_ENOMEM, "out of memory");
	}
	/* the image's VOLUMEs not covered by a mount become anonymous volumes */
	for (size_t i = 0; i < cfg->volumes.n; i++) {
		bool covered = false;
		for (size_t j = 0; j < o->n_mounts; j++)
			covered |= strcmp(o->mounts[j].target, cfg->volumes.v[i]) == 0;
		if (covered || cfg->volumes.v[i][0] != '/')
			continue;
		sp->mounts[sp->n_mounts].type = ST_MOUNT_VOLUME;
		sp->mounts[sp->n_mounts].target = strdup(cfg->volumes.v[i]);
		if (!sp->mounts[sp->n_mounts++].target)
			return st_error_set(err, ST_ENOMEM, "out of memory");
	}
	return 0;
}

static char *xstrdup(const char *s, int *rc, struct st_error *err)
{
	char *p = s ? strdup(s) : NULL;

	if (s && !p && *rc == 0)
		*rc = st_error_set(err, ST_ENOMEM, "out of memory");
	return p;
}

int ctr_fill_spec(struct ctr_spec *sp, const struct st_run_opts *o,
                  const struct st_image_config *cfg, const char *image_id, const char *manifest,
                  struct st_error *err)
{
	char hn[13];
	int rc = 0;

	memcpy(hn, sp->id, 12);
	hn[12] = '\0';
	sp->image = xstrdup(o->image ? o->image : "(build)", &rc, err);
	sp->image_id = xstrdup(image_id, &rc, err);
	sp->manifest_digest = xstrdup(manifest, &rc, err);
	sp->name = xstrdup(o->name, &rc, err);
	sp->hostname = xstrdup(o->hostname ? o->hostname : hn, &rc, err);
	sp->user = xstrdup(o->user ? o->user : (cfg->user ? cfg->user : ""), &rc, err);
	sp->workdir = xstrdup(
	        o->workdir ? o->workdir
	                   : (cfg->working_dir && cfg->working_dir[0] ? cfg->working_dir : "/"),
	        &rc, err);
	sp->seccomp = xstrdup(o->seccomp, &rc, err);
	sp->runtime = xstrdup(o->runtime, &rc, err);
	if (rc == 0 && sp->workdir[0] != '/')
		rc = st_error_set(
		        err, ST_EINVALID,
		        "the working directory '%s' is invalid: it must be an absolute path",
		        sp->workdir);
	sp->network = o->network;
	sp->privileged = o->privileged;
	sp->read_only = o->read_only;
	sp->init = o->init;
	sp->tty = o->tty;
	sp->interactive = o->interactive;
	sp->no_new_privs = o->no_new_privs;
	sp->auto_remove = o->auto_remove;
	sp->memory = o->memory;
	sp->pids_limit = o->pids_limit;
	sp->cpus_milli = o->cpus_milli;
	sp->created = ctr_now();
	sp->stop_signal = SIGTERM;
	if (rc == 0 && cfg->stop_signal)
		rc = st_run_parse_signal(cfg->stop_signal, &sp->stop_signal, err);
	if (rc == 0)
		rc = st_caps_for(o, &sp->caps, err);
	if (rc == 0)
		rc = st_run_merge_args(cfg, o, &sp->args, err);
	if (rc == 0)
		rc = st_run_merge_env(cfg, o, sp->hostname, &sp->env, err);
	if (rc == 0)
		rc = copy_mounts(sp, o, cfg, err);
	return rc;
}

int ctr_load_image(struct st_store *s, const char *spec, struct st_image *img, struct st_error *err)
{
	struct st_descriptor d;
	int rc = st_image_lookup(s, spec, &d, err);

	if (rc == -ST_ENOTFOUND)
		return st_error_set(err, ST_ENOTFOUND, "no such image: %s", spec);
	if (rc < 0)
		return rc;
	rc = st_image_load(s, &d, NULL, img, err);
	st_descriptor_release(&d);
	return rc;
}

/* Is the volatile directory usable: a directory of ours that nobody else can write to? It is
 * created in a world-writable tmpfs, so anything else found there is refused. */
static bool volatile_base_ok(void)
{
	struct stat st;
	cleanup_fd int fd = -1;

	if (mkdir(CTR_VOLATILE_BASE, 0700) < 0 && errno != EEXIST)
		return false;
	fd = open(CTR_VOLATILE_BASE, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return fd >= 0 && fstat(fd, &st) == 0 && st.st_uid == geteuid() && (st.st_mode & 0077) == 0;
}

/* A --rm container without anonymous volumes keeps what dies with it on a tmpfs (see
 * make_volatile_dirs); its scratch layer and log stay on the store's disk. */
static bool wants_volatile(const struct ctr_spec *sp)
{
	if (!sp->auto_remove || getenv("STRATA_RUN_NO_TMPFS"))
		return false;
	for (size_t i = 0; i < sp->n_mounts; i++)
		if (sp->mounts[i].type == ST_MOUNT_VOLUME && !sp->mounts[i].source)
			return false;
	return volatile_base_ok();
}

/* Makes the directory name (below root) that holds one directory per container, and has
 * each of those placed apart by the file system's inode allocator (st_dir_spread): a
 * container's files then do not land among inodes freed moments ago. */
static int spread_dir(int root, const char *name, struct st_error *err)
{
	cleanup_fd int fd = -1;
	int rc = st_mkdir_p(root, name, 0700, err);

	if (rc < 0)
		return rc;
	fd = openat(root, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0)
		st_dir_spread(fd);
	return 0;
}

/* containers/<id> -> CTR_VOLATILE_BASE/<id>, whose upper, work and log are symlinks into
 * containers/.scratch/<id>/ (overlayfs follows them; upper and work share the disk's fs). */
static int make_volatile_dirs(struct st_container *c, struct st_error *err)
{
	static const char *const disk[] = {"upper", "work"};
	static const char *const links[] = {"upper", "work", "log"};
	char vdir[sizeof(CTR_VOLATILE_BASE) + 80], path[PATH_MAX];
	int root = st_store_root_fd(c->store);
	cleanup_fd int sfd = -1;
	int rc;

	(void)snprintf(vdir, sizeof(vdir), CTR_VOLATILE_BASE "/%s", c->spec.id);
	(void)snprintf(path, sizeof(path), CTR_SCRATCH_DIR "/%s", c->spec.id);
	rc = spread_dir(root, CTR_SCRATCH_DIR, err);
	if (rc == 0)
		rc = st_mkdir_p(root, path, 0700, err);
	if (rc < 0)
		return rc;
	sfd = openat(root, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sfd < 0)
		return st_error_sys(err, "open %s", path);
	for (size_t i = 0; i < 2; i++)
		if (mkdirat(sfd, disk[i], 0755) < 0)
			return st_error_sys(err, "create %s/%s", path, disk[i]);
	if (mkdir(vdir, 0700) < 0)
		return st_error_sys(err, "create '%s'", vdir);
	if (symlinkat(vdir, AT_FDCWD, c->dir) < 0)
		return st_error_sys(err, "create '%s'", c->dir);
	c->dirfd = open(vdir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (c->dirfd < 0)
		return st_error_sys(err, "open '%s'", vdir);
	for (size_t i = 0; i < 3; i++) {
		(void)snprintf(path, sizeof(path), "%s/" CTR_SCRATCH_DIR "/%s/%s",
		               st_store_root(c->store), c->spec.id, links[i]);
		if (symlinkat(path, c->dirfd, links[i]) < 0)
			return st_error_sys(err, "create %s/%s", vdir, links[i]);
	}
	return ctr_use_volatile_paths(c, true, err);
}

static int make_dirs(struct st_container *c, struct st_error *err)
{
	static const char *const sub[] = {"upper", "work", "merged", "init"};
	int rc = spread_dir(st_store_root_fd(c->store), CTR_DIR, err);

	if (rc == 0 && wants_volatile(&c->spec)) {
		rc = make_volatile_dirs(c, err);
		for (size_t i = 2; rc == 0 && i < 4; i++)
			if (mkdirat(c->dirfd, sub[i], 0755) < 0)
				rc = st_error_sys(err, "create %s/%s", c->dir, sub[i]);
		return rc;
	}
	if (rc == 0 && mkdir(c->dir, 0700) < 0)
		rc = st_error_sys(err, "create '%s'", c->dir);
	if (rc < 0)
		return rc;
	c->dirfd = open(c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c->dirfd < 0)
		return st_error_sys(err, "open '%s'", c->dir);
	for (size_t i = 0; i < 4; i++)
		if (mkdirat(c->dirfd, sub[i], 0755) < 0)
			return st_error_sys(err, "create %s/%s", c->dir, sub[i]);
	return 0;
}

static int fill_from_image(struct ctr_spec *sp, const struct st_run_opts *o,
                           const struct st_image *img, struct st_error *err)
{
	char id[ST_DIGEST_STR_MAX], mf[ST_DIGEST_STR_MAX];

	st_digest_str(&img->manifest.config.digest, id);
	st_digest_str(&img->desc.digest, mf);
	return ctr_fill_spec(sp, o, &img->config, id, mf, err);
}

/* The container's directories, init layer, /etc files and spec, once its lowers are known. */
static int finish_create(struct st_container *c, struct st_error *err)
{
	int rc = make_dirs(c, err);

	if (rc == 0)
		rc = ctr_make_init_layer(c, NULL, err);
	if (rc == 0)
		rc = ctr_write_etc_files(c, err);
	if (rc == 0)
		rc = ctr_spec_save(c, err);
	return rc;
}

static int populate(struct st_container *c, const struct st_run_opts *o, const struct st_image *img,
                    struct st_error *err)
{
	struct st_snapshot_chain chain = {0};
	int rc = fill_from_image(&c->spec, o, img, err);

	if (rc == 0 && img->manifest.n_layers + o->n_top_lowers > CTR_MAX_LAYERS - 1)
		rc = st_error_set(err, ST_ELIMIT,
		                  "image has %zu layers; overlayfs stacks at most %d",
		                  img->manifest.n_layers + o->n_top_lowers, CTR_MAX_LAYERS - 1);
	if (rc == 0)
		rc = st_snapshot_prepare(c->store, img, &chain, err);
	if (rc < 0)
		return rc;
	rc = st_snapshot_hold(c->store, c->spec.id, &chain, err);
	for (size_t i = 0; rc == 0 && i < chain.n; i++)
		rc = st_strv_push(&c->spec.lowers, chain.dirs[i], strlen(chain.dirs[i]), err);
	for (size_t i = 0; rc == 0 && i < o->n_top_lowers; i++)
		rc = st_strv_push(&c->spec.lowers, o->top_lowers[i], strlen(o->top_lowers[i]), err);
	st_snapshot_chain_release(&chain);
	return rc < 0 ? rc : finish_create(c, err);
}

/* Hands the container out, or undoes everything on failure. */
static int created(struct st_store *s, struct st_container *c, const struct st_run_opts *o,
                   bool named, int rc, struct st_container **out)
{
	if (rc < 0) {
		if (named)
			ctr_name_release(s, o->name);
		if (c) {
			(void)st_snapshot_unhold(s, c->spec.id, NULL);
			(void)ctr_remove_dirs(c, NULL);
		}
		st_container_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

int st_container_create(struct st_store *s, const struct st_run_opts *o, struct st_container **out,
                        struct st_error *err)
{
	struct st_image img;
	int rc = check_mounts(o, err);

	if (rc == 0)
		rc = ctr_load_image(s, o->image, &img, err);
	if (rc < 0)
		return rc;
	rc = st_container_create_image(s, o, &img, out, err);
	st_image_release(&img);
	return rc;
}

int st_container_create_image(struct st_store *s, const struct st_run_opts *o,
                              const struct st_image *img, struct st_container **out,
                              struct st_error *err)
{
	struct st_container *c = NULL;
	char id[65];
	bool named = false;
	int rc = st_random_hex(id, 32, err);

	if (rc == 0)
		rc = check_mounts(o, err);
	if (rc == 0)
		rc = ctr_new(s, id, &c, err);
	if (rc == 0 && o->name) {
		rc = ctr_name_claim(s, o->name, id, err);
		named = rc == 0;
	}
	if (rc == 0)
		rc = populate(c, o, img, err);
	return created(s, c, o, named, rc, out);
}

const char *st_container_upper_dir(const struct st_container *c)
{
	return c->upper;
}
