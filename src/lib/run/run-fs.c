/* run-fs.c: the scratch layer and the container's file system from outside: diff (A/C/D as
 * `docker diff`), commit (the upper directory is already the layer), export and cp. A stopped
 * container's tree is seen through an overlay mounted in a private mount namespace of a child
 * process (read-only, with the scratch layer as the top lower); a running one through
 * /proc/<pid>/root. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "run/run-copy.h"
#include "run/run-internal.h"
#include "strata/archive.h"
#include "strata/layer.h"
#include "util/cleanup.h"
#include "util/fs.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

/* ---- diff ---- */

struct change {
	char kind;
	char *path;
};

struct diff_walk {
	struct img_view view; /* init layer + image */
	struct change *v;
	size_t n, cap;
};

static int add_change(struct diff_walk *w, char kind, const char *rel, struct st_error *err)
{
	char *p;

	if (w->n == w->cap) {
		size_t ncap = w->cap ? w->cap * 2 : 64;
		struct change *nv = realloc(w->v, ncap * sizeof(*nv));
		if (!nv)
			return st_error_set(err, ST_ENOMEM, "out of memory");
		w->v = nv;
		w->cap = ncap;
	}
	p = malloc(strlen(rel) + 2);
	if (!p)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	p[0] = '/';
	memcpy(p + 1, rel, strlen(rel) + 1);
	w->v[w->n].kind = kind;
	w->v[w->n++].path = p;
	return 0;
}

static int walk_upper(struct diff_walk *w, int dfd, const char *prefix, int depth,
                      struct st_error *err)
{
	int dup_fd = fcntl(dfd, F_DUPFD_CLOEXEC, 3);
	cleanup_dir DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
	struct dirent *e;
	int rc = 0;

	if (!d)
		return st_error_sys(err, "read the scratch layer");
	if (depth > 512)
		return st_error_set(err, ST_ELIMIT, "scratch layer deeper than 512 levels");
	while (rc == 0 && (e = readdir(d))) {
		char rel[4096];
		struct stat st, below;
		size_t layer;
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		(void)snprintf(rel, sizeof(rel), "%s%s%s", prefix, prefix[0] ? "/" : "", e->d_name);
		if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return st_error_sys(err, "stat '%s'", rel);
		if (S_ISCHR(st.st_mode) && st.st_rdev == 0) {
			rc = add_change(w, 'D', rel, err);
			continue;
		}
		rc = add_change(w, ctr_view_stat(&w->view, rel, &below, &layer) == 0 ? 'C' : 'A',
		                rel, err);
		if (rc == 0 && S_ISDIR(st.st_mode)) {
			cleanup_fd int sub = openat(
			        dfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			rc = sub < 0 ? st_error_sys(err, "open '%s'", rel)
			             : walk_upper(w, sub, rel, depth + 1, err);
		}
	}
	return rc;
}

static int cmp_change(const void *a, const void *b)
{
	return strcmp(((const struct change *)a)->path, ((const struct change *)b)->path);
}

int st_container_diff(struct st_container *c, st_diff_fn fn, void *ctx, struct st_error *err)
{
	struct diff_walk w = {0};
	struct st_strv lowers = ST_STRV_INIT;
	cleanup_buf struct st_buf init = ST_BUF_INIT;
	cleanup_fd int up = openat(c->dirfd, "upper", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = up < 0 ? st_error_sys(err, "open the scratch layer") : 0;

	for (size_t i = 0; rc == 0 && i < c->spec.lowers.n; i++)
		rc = st_strv_push(&lowers, c->spec.lowers.v[i], strlen(c->spec.lowers.v[i]), err);
	if (rc == 0)
		rc = st_buf_addf(&init, err, "%s/init", c->dir);
	if (rc == 0)
		rc = st_strv_push(&lowers, init.data, init.len, err);
	if (rc == 0)
		rc = ctr_view_open(&w.view, &lowers, err);
	if (rc == 0)
		rc = walk_upper(&w, up, "", 0, err);
	ctr_view_close(&w.view);
	if (rc == 0 && w.n)
		qsort(w.v, w.n, sizeof(*w.v), cmp_change);
	for (size_t i = 0; rc == 0 && i < w.n; i++)
		rc = fn(w.v[i].kind, w.v[i].path, ctx, err);
	for (size_t i = 0; i < w.n; i++)
		free(w.v[i].path);
	free(w.v);
	st_strv_release(&lowers);
	return rc;
}

/* ---- commit ---- */

static int blob_sink_write(void *ctx, const void *p, size_t len, struct st_error *err)
{
	return st_blob_writer_write(ctx, p, len, err);
}

static int write_layer(struct st_container *c, struct st_layer_result *res, struct st_error *err)
{
	struct st_blob_writer *w = NULL;
	struct st_layer_create_opts lo = {0};
	struct st_layer_sink sink = {blob_sink_write, NULL};
	cleanup_buf struct st_buf up = ST_BUF_INIT;
	int rc = st_buf_addf(&up, err, "%s/upper", c->dir);

	if (rc == 0)
		rc = st_blob_writer_new(c->store, &w, err);
	if (rc == 0) /* layer creation hashes its output */
		st_blob_writer_trust(w);
	sink.ctx = w;
	if (rc == 0)
		rc = st_layer_create_from_upper(up.data, &lo, &sink, res, err);
	if (rc == 0)
		rc = st_blob_writer_commit(w, &res->digest, NULL, err);
	st_blob_writer_free(w);
	return rc;
}

static void rfc3339_now(char *out, size_t len)
{
	time_t t = time(NULL);
	struct tm tm;

	(void)gmtime_r(&t, &tm);
	(void)strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int new_config(struct st_container *c, const struct st_image *img,
                      const struct st_commit_opts *o, const struct st_layer_result *res,
                      struct st_image_config *cfg, struct st_error *err)
{
	cleanup_buf struct st_buf by = ST_BUF_INIT, cmd = ST_BUF_INIT;
	char now[32];
	struct st_history h = {0};
	int rc = st_image_config_copy(cfg, &img->config, err);

	rfc3339_now(now, sizeof(now));
	if (rc == 0)
		rc = ctr_join_args(&c->spec.args, &cmd, err);
	if (rc == 0)
		rc = st_buf_addf(&by, err, "%s", cmd.data);
	h.created = now;
	h.created_by = by.data;
	h.author = o && o->author ? (char *)o->author : NULL;
	h.comment = o && o->message ? (char *)o->message : NULL;
	if (rc == 0)
		rc = st_image_config_set_created(cfg, now, err);
	if (rc == 0 && o && o->author)
		rc = st_image_config_set_author(cfg, o->author, err);
	if (rc == 0)
		rc = st_image_config_add_layer(cfg, &res->diff_id, &h, err);
	return rc;
}

static int commit_image(struct st_container *c, const struct st_commit_opts *o,
                        const struct st_layer_result *res, struct st_descriptor *out,
                        struct st_error *err)
{
	struct st_image img;
	struct st_image_config cfg = {0};
	struct st_manifest m;
	struct st_descriptor layer = {0};
	int rc;

	if (!c->spec.manifest_digest)
		return st_error_set(err, ST_EUNSUPPORTED,
		                    "container %.12s has no image to commit on", c->spec.id);
	rc = ctr_load_image(c->store, c->spec.manifest_digest, &img, err);
	if (rc < 0)
		return rc;
	st_manifest_init(&m, img.manifest.kind);
	rc = new_config(c, &img, o, res, &cfg, err);
	for (size_t i = 0; rc == 0 && i < img.manifest.n_layers; i++)
		rc = st_manifest_add_layer(&m, &img.manifest.layers[i], err);
	layer.media_type =
	        (char *)(img.manifest.kind == ST_KIND_DOCKER_MANIFEST ? ST_MT_DOCKER_LAYER_GZIP
	                                                              : res->media_type);
	layer.digest = res->digest;
	layer.size = res->size;
	if (rc == 0)
		rc = st_manifest_add_layer(&m, &layer, err);
	if (rc == 0)
		rc = st_image_write(c->store, &cfg, &m, out, err);
	if (rc == 0)
		rc = st_store_tag(c->store, NULL, out, err);
	st_manifest_release(&m);
	st_image_config_release(&cfg);
	st_image_release(&img);
	return rc;
}

int st_container_commit(struct st_container *c, const struct st_commit_opts *o,
                        struct st_descriptor *out, struct st_error *err)
{
	struct st_layer_result res;
	int rc = st_store_lease(c->store, err);

	if (rc < 0)
		return rc;
	rc = write_layer(c, &res, err);
	if (rc == 0)
		rc = commit_image(c, o, &res, out, err);
	st_store_unlease(c->store);
	return rc;
}

/* ---- export and cp ---- */

typedef int (*tree_fn)(struct st_container *c, int root_fd, void *ctx, struct st_error *err);

/* Runs fn on the container's root: /proc/<pid>/root while it runs, else an overlay mounted
 * in a child's private mount namespace (read-only unless `rw`, which holds the monitor lock so
 * no start races the write). */
static int with_tree(struct st_container *c, bool rw, tree_fn fn, void *ctx, struct st_error *err)
{
	struct ctr_state st;
	cleanup_fd int lock = -1;
	int errp[2], status = 0, rc = ctr_state_read(c, &st, err);
	pid_t pid;

	if (rc < 0)
		return rc;
	if (ctr_is_running(c) && st.status == ST_CTR_RUNNING) {
		char p[64];
		cleanup_fd int root = -1;
		(void)snprintf(p, sizeof(p), "/proc/%d/root", (int)st.pid);
		root = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (root < 0)
			return st_error_sys(err, "container %.12s: root", c->spec.id);
		return fn(c, root, ctx, err);
	}
	if (rw && (rc = ctr_lock_monitor(c, &lock, err)) < 0)
		return rc;
	if (pipe2(errp, O_CLOEXEC) < 0)
		return st_error_sys(err, "pipe");
	pid = fork();
	if (pid == 0) {
		cleanup_buf struct st_buf merged = ST_BUF_INIT;
		cleanup_fd int root = -1;
		(void)close(errp[0]);
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		if (unshare(CLONE_NEWNS) < 0 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			rc = st_error_sys(err, "private mount namespace");
		if (rc == 0)
			rc = st_buf_addf(&merged, err, "%s/merged", c->dir);
		if (rc == 0)
			rc = ctr_mount_overlay(c, merged.data, rw, err);
		if (rc == 0 && (root = open(merged.data, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
			rc = st_error_sys(err, "open '%s'", merged.data);
		if (rc == 0)
			rc = fn(c, root, ctx, err);
		if (rc < 0)
			ctr_report_error(errp[1], 1, err);
		_exit(rc < 0 ? 1 : 0);
	}
	(void)close(errp[1]);
	if (pid < 0) {
		(void)close(errp[0]);
		return st_error_sys(err, "fork");
	}
	rc = ctr_read_error(errp[0], &status, err);
	(void)close(errp[0]);
	(void)waitpid(pid, &status, 0);
	if (rc == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		rc = st_error_set(err, ST_ESYS, "container %.12s: the helper process failed",
		                  c->spec.id);
	return rc;
}

static int fd_sink_write(void *ctx, const void *p, size_t len, struct st_error *err)
{
	return st_write_all(*(int *)ctx, p, len, err);
}

static int export_fn(struct st_container *c, int root_fd, void *ctx, struct st_error *err)
{
	struct st_layer_create_opts lo = {.compression = ST_LAYER_COMPRESS_NONE};
	struct st_layer_sink sink = {fd_sink_write, ctx};
	struct st_layer_result res;
	char p[64];

	(void)c;
	(void)snprintf(p, sizeof(p), "/proc/self/fd/%d", root_fd);
	return st_layer_create_from_diff(NULL, p, &lo, &sink, &res, err);
}

int st_container_export(struct st_container *c, int fd, struct st_error *err)
{
	return with_tree(c, false, export_fn, &fd, err);
}

struct cp_args {
	const char *ctr_path, *host_path;
};

/* Splits an absolute container path into the parent (opened in the root) and the base name. */
static int open_parent(int root_fd, const char *path, char *base, size_t blen, struct st_error *err)
{
	char copy[4096], dir[4096];

	(void)snprintf(copy, sizeof(copy), "%s", path);
	while (strlen(copy) > 1 && copy[strlen(copy) - 1] == '/')
		copy[strlen(copy) - 1] = '\0';
	(void)snprintf(base, blen, "%s", basename(copy));
	(void)snprintf(dir, sizeof(dir), "%s", copy);
	return ctr_open_in_root(root_fd, dirname(dir), O_RDONLY | O_DIRECTORY, err);
}

static int cp_out_fn(struct st_container *c, int root_fd, void *ctx, struct st_error *err)
{
	const struct cp_args *a = ctx;
	char base[256], hbase[256];
	cleanup_fd int src = open_parent(root_fd, a->ctr_path, base, sizeof(base), err);
	cleanup_fd int dst = -1;
	struct stat st;

	(void)c;
	if (src < 0)
		return src;
	if (stat(a->host_path, &st) == 0 && S_ISDIR(st.st_mode)) {
		dst = open(a->host_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		(void)snprintf(hbase, sizeof(hbase), "%s", base);
	} else {
		char d[4096];
		(void)snprintf(d, sizeof(d), "%s", a->host_path);
		(void)snprintf(hbase, sizeof(hbase), "%s", basename(d));
		(void)snprintf(d, sizeof(d), "%s", a->host_path);
		dst = open(dirname(d), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (dst < 0)
		return st_error_sys(err, "destination '%s'", a->host_path);
	if (strcmp(base, "/") == 0 || strcmp(base, ".") == 0)
		return ctr_copy_contents(src, dst, err);
	return ctr_copy_entry(src, base, dst, hbase, 0, err);
}

static int cp_in_fn(struct st_container *c, int root_fd, void *ctx, struct st_error *err)
{
	const struct cp_args *a = ctx;
	char base[256], hbase[256], hdir[4096];
	cleanup_fd int dst = ctr_open_in_root(root_fd, a->ctr_path, O_RDONLY | O_DIRECTORY, NULL);
	cleanup_fd int src = -1;

	(void)c;
	(void)snprintf(hdir, sizeof(hdir), "%s", a->host_path);
	(void)snprintf(hbase, sizeof(hbase), "%s", basename(hdir));
	(void)snprintf(hdir, sizeof(hdir), "%s", a->host_path);
	src = open(dirname(hdir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (src < 0)
		return st_error_sys(err, "source '%s'", a->host_path);
	if (dst >= 0)
		return ctr_copy_entry(src, hbase, dst, hbase, 0, err);
	dst = open_parent(root_fd, a->ctr_path, base, sizeof(base), err);
	if (dst < 0)
		return dst;
	return ctr_copy_entry(src, hbase, dst, base, 0, err);
}

int st_container_copy_out(struct st_container *c, const char *ctr_path, const char *host_path,
                          struct st_error *err)
{
	struct cp_args a = {ctr_path, host_path};

	if (ctr_path[0] != '/')
		return st_error_set(err, ST_EINVALID, "cp: container path '%s' must be absolute",
		                    ctr_path);
	return with_tree(c, false, cp_out_fn, &a, err);
}

int st_container_copy_in(struct st_container *c, const char *host_path, const char *ctr_path,
                         struct st_error *err)
{
	struct cp_args a = {ctr_path, host_path};
	struct stat st;

	if (ctr_path[0] != '/')
		return st_error_set(err, ST_EINVALID, "cp: container path '%s' must be absolute",
		                    ctr_path);
	if (lstat(host_path, &st) < 0)
		return st_error_sys(err, "cp: '%s'", host_path);
	return with_tree(c, true, cp_in_fn, &a, err);
}
