/* run-bundle.c: OCI runtime bundles (runtime-spec 1.0 config.json) for crun and runc: the same
 * process, mounts, namespaces, capabilities, masked paths, seccomp rules and resources as the
 * built-in runtime. `strata bundle` unpacks a flat rootfs; `run --runtime` hands the container's
 * mounted overlay to the runtime from a private mount namespace. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "run/run-internal.h"
#include "strata/archive.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/json.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

static json_t *str_array(const char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++)
		(void)json_array_append_new(a, json_string(v[i]));
	return a;
}

static json_t *caps_array(uint64_t caps)
{
	json_t *a = json_array();

	for (int i = 0; a && i < 64; i++)
		if (caps & (1ull << i) && st_cap_name(i))
			(void)json_array_append_new(a, json_string(st_cap_name(i)));
	return a;
}

static json_t *mount_obj(const char *dst, const char *type, const char *src, const char *opts)
{
	json_t *o = json_pack("{s:s,s:s,s:s,s:[]}", "destination", dst, "type", type, "source", src,
	                      "options");
	json_t *a = o ? json_object_get(o, "options") : NULL;

	for (const char *p = opts; a && *p;) {
		size_t len = strcspn(p, ",");
		(void)json_array_append_new(a, json_stringn(p, len));
		p += len + (p[len] ? 1 : 0);
	}
	return o;
}

static int add_mounts(const struct ctr_spec *sp, const char *etc_dir, const char *vol_dir,
                      json_t *a, struct st_error *err)
{
	char src[4200];

	json_array_append_new(a, mount_obj("/proc", "proc", "proc", "nosuid,noexec,nodev"));
	json_array_append_new(
	        a, mount_obj("/dev", "tmpfs", "tmpfs", "nosuid,strictatime,mode=755,size=65536k"));
	json_array_append_new(a,
	                      mount_obj("/dev/pts", "devpts", "devpts",
	                                "nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5"));
	json_array_append_new(a, mount_obj("/dev/shm", "tmpfs", "shm",
	                                   "nosuid,noexec,nodev,mode=1777,size=65536k"));
	json_array_append_new(a,
	                      mount_obj("/dev/mqueue", "mqueue", "mqueue", "nosuid,noexec,nodev"));
	json_array_append_new(
	        a, mount_obj("/sys", "sysfs", "sysfs",
	                     sp->privileged ? "nosuid,noexec,nodev" : "nosuid,noexec,nodev,ro"));
	static const char *const etc[] = {"hosts", "hostname", "resolv.conf"};
	for (size_t i = 0; i < 3; i++) {
		char dst[64];
		(void)snprintf(src, sizeof(src), "%s/%s", etc_dir, etc[i]);
		(void)snprintf(dst, sizeof(dst), "/etc/%s", etc[i]);
		json_array_append_new(a, mount_obj(dst, "bind", src, "rbind,rprivate"));
	}
	for (size_t i = 0; i < sp->n_mounts; i++) {
		const struct st_mount_spec *m = &sp->mounts[i];
		const char *ro = m->readonly ? ",ro" : "";
		char opts[512];
		if (m->type == ST_MOUNT_TMPFS) {
			(void)snprintf(opts, sizeof(opts), "nosuid,nodev,noexec%s%s%s", ro,
			               m->options ? "," : "", m->options ? m->options : "");
			json_array_append_new(a, mount_obj(m->target, "tmpfs", "tmpfs", opts));
			continue;
		}
		if (m->type == ST_MOUNT_VOLUME) {
			(void)snprintf(src, sizeof(src), "%s/%zu", vol_dir, i);
			if (st_mkdir_p(AT_FDCWD, src, 0755, err) < 0)
				return -ST_ESYS;
		}
		(void)snprintf(opts, sizeof(opts), "rbind,rprivate%s", ro);
		json_array_append_new(a,
		                      mount_obj(m->target, "bind",
		                                m->type == ST_MOUNT_BIND ? m->source : src, opts));
	}
	return 0;
}

static json_t *seccomp_json(const struct ctr_spec *sp, struct st_error *err)
{
	const char *path = sp->seccomp ? sp->seccomp : CTR_SECCOMP_DEFAULT;
	cleanup_buf struct st_buf text = ST_BUF_INIT;
	cleanup_json json_t *doc = NULL;
	struct st_seccomp_profile p = {0};
	json_t *out, *calls, *src;

	if (sp->privileged || strcmp(path, "unconfined") == 0)
		return json_null();
	if (st_read_file_at(AT_FDCWD, path, &text, 4u << 20, err) < 0 ||
	    st_seccomp_parse(text.data, text.len, &p, err) < 0 ||
	    st_json_parse(text.data, text.len, "seccomp profile", &doc, err) < 0) {
		st_seccomp_profile_release(&p);
		return NULL;
	}
	out = json_pack("{s:O?,s:O?,s:[sss],s:[]}", "defaultAction",
	                json_object_get(doc, "defaultAction"), "defaultErrnoRet",
	                json_object_get(doc, "defaultErrnoRet"), "architectures",
	                "SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "syscalls");
	calls = out ? json_object_get(out, "syscalls") : NULL;
	src = json_object_get(doc, "syscalls");
	for (size_t i = 0; calls && i < p.n_rules; i++) {
		json_t *r = json_array_get(src, i);
		if (!st_seccomp_rule_applies(&p.rules[i], sp->caps, "amd64", 0xffffffff))
			continue;
		(void)json_array_append_new(calls,
		                            json_pack("{s:O,s:O,s:O?,s:O?}", "names",
		                                      json_object_get(r, "names"), "action",
		                                      json_object_get(r, "action"), "errnoRet",
		                                      json_object_get(r, "errnoRet"), "args",
		                                      json_object_get(r, "args")));
	}
	st_seccomp_profile_release(&p);
	return out;
}

static json_t *resources_json(const struct ctr_spec *sp)
{
	json_t *r = json_object();

	if (r && sp->memory)
		(void)json_object_set_new(r, "memory",
		                          json_pack("{s:I}", "limit", (json_int_t)sp->memory));
	if (r && sp->pids_limit)
		(void)json_object_set_new(r, "pids",
		                          json_pack("{s:I}", "limit", (json_int_t)sp->pids_limit));
	if (r && sp->cpus_milli)
		(void)json_object_set_new(r, "cpu",
		                          json_pack("{s:I,s:I}", "quota",
		                                    (json_int_t)sp->cpus_milli * 100, "period",
		                                    (json_int_t)100000));
	return r;
}

static json_t *namespaces_json(const struct ctr_spec *sp)
{
	json_t *a = json_pack("[{s:s},{s:s},{s:s},{s:s}]", "type", "pid", "type", "ipc", "type",
	                      "uts", "type", "mount");

	if (a && sp->network == ST_NET_NONE)
		(void)json_array_append_new(a, json_pack("{s:s}", "type", "network"));
	return a;
}

/* The process part: user resolved through the root's /etc/passwd and /etc/group. */
static json_t *process_json(const struct ctr_spec *sp, int root_fd, bool tty, struct st_error *err)
{
	cleanup_buf struct st_buf pw = ST_BUF_INIT, gr = ST_BUF_INIT, home = ST_BUF_INIT;
	struct st_exec_user u;
	cleanup_fd int pfd = ctr_open_in_root(root_fd, "/etc/passwd", O_RDONLY, NULL);
	cleanup_fd int gfd = ctr_open_in_root(root_fd, "/etc/group", O_RDONLY, NULL);
	json_t *p, *env, *gids;
	uint64_t caps = sp->privileged ? st_caps_all() : sp->caps;

	if (pfd >= 0)
		(void)st_read_all(pfd, &pw, 16 << 20, NULL);
	if (gfd >= 0)
		(void)st_read_all(gfd, &gr, 16 << 20, NULL);
	if (st_run_resolve_user(sp->user, pfd >= 0 ? pw.data : NULL, gfd >= 0 ? gr.data : NULL, &u,
	                        err) < 0)
		return NULL;
	env = str_array((const char *const *)sp->env.v, sp->env.n);
	for (size_t i = 0; i < sp->env.n; i++)
		if (strncmp(sp->env.v[i], "HOME=", 5) == 0)
			st_buf_adds(&home, "set", NULL);
	if (env && !home.len && st_buf_addf(&home, err, "HOME=%s", u.home) == 0)
		(void)json_array_append_new(env, json_string(home.data));
	gids = json_array();
	for (size_t i = 0; gids && i < u.n_groups; i++)
		(void)json_array_append_new(gids, json_integer(u.groups[i]));
	p = json_pack("{s:b,s:{s:i,s:i,s:o},s:o,s:o,s:s,s:b,s:{s:o,s:o,s:o}}", "terminal", tty,
	              "user", "uid", (int)u.uid, "gid", (int)u.gid, "additionalGids", gids, "args",
	              str_array((const char *const *)sp->args.v, sp->args.n), "env", env, "cwd",
	              sp->workdir, "noNewPrivileges", sp->no_new_privs, "capabilities", "bounding",
	              caps_array(caps), "effective", caps_array(u.uid == 0 ? caps : 0), "permitted",
	              caps_array(u.uid == 0 ? caps : 0));
	if (!p)
		(void)st_error_set(err, ST_ENOMEM, "config.json: out of memory");
	return p;
}

static int oci_config(const struct ctr_spec *sp, const char *root_path, const char *etc_dir,
                      const char *vol_dir, bool tty, struct st_buf *out, struct st_error *err)
{
	cleanup_fd int root_fd = open(root_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	cleanup_json json_t *cfg = NULL;
	json_t *proc, *sc, *linux_;
	int rc;

	if (root_fd < 0)
		return st_error_sys(err, "open '%s'", root_path);
	proc = process_json(sp, root_fd, tty, err);
	sc = proc ? seccomp_json(sp, err) : NULL;
	if (!proc || !sc) {
		json_decref(proc);
		return err && err->code ? -(int)err->code : -ST_ENOMEM;
	}
	linux_ = json_pack("{s:o,s:o,s:o,s:o}", "namespaces", namespaces_json(sp), "resources",
	                   resources_json(sp), "maskedPaths",
	                   sp->privileged ? json_array()
	                                  : str_array(ctr_masked_paths, ctr_n_masked_paths),
	                   "readonlyPaths",
	                   sp->privileged ? json_array()
	                                  : str_array(ctr_readonly_paths, ctr_n_readonly_paths));
	if (linux_ && !json_is_null(sc))
		(void)json_object_set_new(linux_, "seccomp", sc);
	else
		json_decref(sc);
	cfg = json_pack("{s:s,s:o,s:{s:s,s:b},s:s,s:[],s:o}", "ociVersion", "1.0.2", "process",
	                proc, "root", "path", root_path, "readonly", sp->read_only, "hostname",
	                sp->hostname, "mounts", "linux", linux_);
	if (!cfg)
		return st_error_set(err, ST_ENOMEM, "config.json: out of memory");
	rc = add_mounts(sp, etc_dir, vol_dir, json_object_get(cfg, "mounts"), err);
	if (rc == 0)
		rc = st_json_dump(cfg, out, err);
	return rc;
}

/* ---- run --runtime ---- */

static void oci_child(struct st_container *c, const struct st_run_io *io, const char *bundle)
{
	struct st_error err = ST_ERROR_INIT;
	cleanup_buf struct st_buf cfg = ST_BUF_INIT, merged = ST_BUF_INIT, vol = ST_BUF_INIT;
	cleanup_fd int bfd = -1;
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	int rc = 0;

	(void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		rc = st_error_sys(&err, "private mount namespace");
	/* crun 1.8 refuses the hybrid cgroup layout; without the v2 mount it sees pure v1 */
	if (rc == 0 && strcmp(c->spec.runtime, "crun") == 0)
		(void)umount2("/sys/fs/cgroup/unified", MNT_DETACH);
	if (rc == 0)
		rc = st_buf_addf(&merged, &err, "%s/merged", c->dir);
	if (rc == 0)
		rc = st_buf_addf(&vol, &err, "%s/volumes", c->dir);
	if (rc == 0)
		rc = ctr_mount_overlay(c, merged.data, true, &err);
	if (rc == 0)
		rc = oci_config(&c->spec, merged.data, c->dir, vol.data, io->tty, &cfg, &err);
	if (rc == 0)
		rc = st_mkdir_p(AT_FDCWD, bundle, 0700, &err);
	if (rc == 0)
		bfd = st_open_dir_at(AT_FDCWD, bundle, &err);
	if (rc == 0 && bfd >= 0)
		rc = st_write_file_atomic(bfd, "config.json", bfd, cfg.data, cfg.len, 0600, &err);
	if (rc < 0 || bfd < 0) {
		(void)st_write_all(2, err.msg, strlen(err.msg), NULL);
		(void)st_write_all(2, "\n", 1, NULL);
		_exit(CTR_EXIT_SETUP);
	}
	(void)dup2(io->in_fd >= 0 ? io->in_fd : null, 0);
	(void)dup2(io->out_fd >= 0 ? io->out_fd : null, 1);
	(void)dup2(io->err_fd >= 0 ? io->err_fd : null, 2);
	execlp(c->spec.runtime, c->spec.runtime, "run", "--bundle", bundle, c->spec.id,
	       (char *)NULL);
	_exit(CTR_EXIT_NOTFOUND);
}

int ctr_run_oci(struct st_container *c, const struct st_run_io *io, int *out_status,
                struct st_error *err)
{
	cleanup_buf struct st_buf bundle = ST_BUF_INIT;
	int status, rc;
	pid_t pid;

	if (strcmp(c->spec.runtime, "crun") != 0 && strcmp(c->spec.runtime, "runc") != 0)
		return st_error_set(err, ST_EINVALID, "unknown runtime '%s' (crun or runc)",
		                    c->spec.runtime);
	rc = st_buf_addf(&bundle, err, "%s/bundle", c->dir);
	if (rc < 0)
		return rc;
	pid = fork();
	if (pid == 0)
		oci_child(c, io, bundle.data);
	if (pid < 0)
		return st_error_sys(err, "fork");
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return st_error_sys(err, "wait for %s", c->spec.runtime);
	*out_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	return 0;
}

/* ---- strata bundle ---- */

static int bundle_files(const struct ctr_spec *sp, const char *dir, struct st_error *err)
{
	cleanup_buf struct st_buf h = ST_BUF_INIT;
	cleanup_fd int dfd = st_open_dir_at(AT_FDCWD, dir, err);
	int rc = dfd < 0 ? dfd : 0;

	if (rc == 0)
		rc = st_buf_addf(&h, err,
		                 "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost "
		                 "ip6-loopback\n127.0.1.1\t%s\n",
		                 sp->hostname);
	if (rc == 0)
		rc = st_write_file_atomic(dfd, "hosts", dfd, h.data, h.len, 0644, err);
	st_buf_reset(&h);
	if (rc == 0)
		rc = st_buf_addf(&h, err, "%s\n", sp->hostname);
	if (rc == 0)
		rc = st_write_file_atomic(dfd, "hostname", dfd, h.data, h.len, 0644, err);
	if (rc == 0)
		rc = st_write_file_atomic(dfd, "resolv.conf", dfd, "", 0, 0644, err);
	/* the mount points, in the flat root */
	for (size_t i = 0; rc == 0 && i < 3; i++) {
		static const char *const f[] = {"rootfs/etc/hosts", "rootfs/etc/hostname",
		                                "rootfs/etc/resolv.conf"};
		int fd;
		rc = st_mkdir_p(dfd, "rootfs/etc", 0755, err);
		fd = rc == 0 ? openat(dfd, f[i], O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644)
		             : -1;
		if (fd >= 0)
			(void)close(fd);
	}
	return rc;
}

int st_bundle_write(struct st_store *s, const struct st_run_opts *o, const char *dir,
                    struct st_error *err)
{
	struct ctr_spec sp = {0};
	struct st_image img;
	cleanup_buf struct st_buf root = ST_BUF_INIT, cfg = ST_BUF_INIT, vol = ST_BUF_INIT;
	cleanup_fd int dfd = -1;
	int rc = st_random_hex(sp.id, 32, err);

	if (rc == 0)
		rc = ctr_load_image(s, o->image, &img, err);
	if (rc < 0)
		return rc;
	{
		char id[ST_DIGEST_STR_MAX], mf[ST_DIGEST_STR_MAX];
		st_digest_str(&img.manifest.config.digest, id);
		st_digest_str(&img.desc.digest, mf);
		rc = ctr_fill_spec(&sp, o, &img.config, id, mf, err);
	}
	if (rc == 0)
		rc = st_mkdir_p(AT_FDCWD, dir, 0755, err);
	if (rc == 0)
		rc = st_buf_addf(&root, err, "%s/rootfs", dir);
	if (rc == 0)
		rc = st_buf_addf(&vol, err, "%s/volumes", dir);
	if (rc == 0)
		rc = st_unpack(s, &img, root.data, err);
	if (rc == 0)
		rc = bundle_files(&sp, dir, err);
	if (rc == 0)
		rc = oci_config(&sp, root.data, dir, vol.data, o->tty, &cfg, err);
	if (rc == 0)
		dfd = st_open_dir_at(AT_FDCWD, dir, err);
	if (rc == 0 && dfd >= 0)
		rc = st_write_file_atomic(dfd, "config.json", dfd, cfg.data, cfg.len, 0644, err);
	st_image_release(&img);
	ctr_spec_release(&sp);
	return rc < 0 ? rc : (dfd < 0 ? dfd : 0);
}
