/* run-rootfs.c: the container's root, built by its init process inside the new mount namespace
 * (so every mount dies with the namespace and none can leak to the host): the overlay stack,
 * /proc with Docker's masked and read-only paths, a read-only /sys, a tmpfs /dev with the
 * standard nodes, the /etc files, user mounts and volumes, then pivot_root. Targets inside the
 * root resolve with openat2(RESOLVE_IN_ROOT), so an image's symlink cannot point a mount at the
 * host. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "run/run-copy.h"
#include "run/run-internal.h"
#include "strata/snapshot.h"
#include "util/cleanup.h"
#include "util/fs.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

/* moby oci/defaults.go; run-bundle.c writes the same lists into config.json */
const char *const ctr_masked_paths[] = {
        "/proc/asound",
        "/proc/acpi",
        "/proc/kcore",
        "/proc/keys",
        "/proc/latency_stats",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/proc/sched_debug",
        "/proc/scsi",
        "/sys/firmware",
        "/sys/devices/virtual/powercap",
};
const size_t ctr_n_masked_paths = sizeof(ctr_masked_paths) / sizeof(ctr_masked_paths[0]);
const char *const ctr_readonly_paths[] = {
        "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};
const size_t ctr_n_readonly_paths = sizeof(ctr_readonly_paths) / sizeof(ctr_readonly_paths[0]);

int ctr_open_in_root(int root_fd, const char *path, int flags, struct st_error *err)
{
	struct open_how how = {
	        .flags = (uint64_t)(flags | O_CLOEXEC),
	        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	int fd = (int)syscall(SYS_openat2, root_fd, path, &how, sizeof(how));

	if (fd < 0)
		return st_error_sys(err, "open '%s' in the container", path);
	return fd;
}

/* ---- the overlay ---- */

/* The lower directories, top first: [upper (read-only view)], init, snapshots top..bottom. */
static int lower_list(struct st_container *c, bool with_upper, struct st_strv *out,
                      struct st_error *err)
{
	cleanup_buf struct st_buf p = ST_BUF_INIT;
	int rc = 0;

	if (!with_upper) {
		rc = st_buf_addf(&p, err, "%s/upper", c->dir);
		if (rc == 0)
			rc = st_strv_push(out, p.data, p.len, err);
		st_buf_reset(&p);
	}
	if (rc == 0)
		rc = st_buf_addf(&p, err, "%s/init", c->dir);
	if (rc == 0)
		rc = st_strv_push(out, p.data, p.len, err);
	for (size_t i = c->spec.lowers.n; rc == 0 && i-- > 0;)
		rc = st_strv_push(out, c->spec.lowers.v[i], strlen(c->spec.lowers.v[i]), err);
	return rc;
}

int ctr_mount_overlay(struct st_container *c, const char *target, bool with_upper,
                      struct st_error *err)
{
	struct st_strv lowers = ST_STRV_INIT;
	cleanup_buf struct st_buf up = ST_BUF_INIT, work = ST_BUF_INIT, links = ST_BUF_INIT;
	int rc = lower_list(c, with_upper, &lowers, err);

	if (rc == 0)
		rc = st_buf_addf(&links, err, "%s/l", c->dir);
	if (rc == 0 && with_upper)
		rc = st_buf_addf(&up, err, "%s/upper", c->dir);
	if (rc == 0 && with_upper)
		rc = st_buf_addf(&work, err, "%s/work", c->dir);
	if (rc == 0) {
		struct st_overlay o = {.lowers = (const char *const *)lowers.v,
		                       .n_lowers = lowers.n,
		                       .upper = with_upper ? up.data : NULL,
		                       .work = with_upper ? work.data : NULL,
		                       .volatile_upper = c->spec.auto_remove,
		                       .link_dir = links.data};
		rc = st_overlay_mount(&o, target, err);
	}
	st_strv_release(&lowers);
	return rc;
}

/* ---- mounts inside the root ---- */

/* mount(2) onto `path` inside the root at root_fd, through its /proc/self/fd magic link. */
static int mount_in(int root_fd, const char *path, const char *src, const char *fstype,
                    unsigned long flags, const char *data, struct st_error *err)
{
	char fdpath[64];
	cleanup_fd int fd = ctr_open_in_root(root_fd, path, O_PATH, err);

	if (fd < 0)
		return fd;
	(void)snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);
	if (mount(src, fdpath, fstype, flags, data) < 0)
		return st_error_sys(err, "mount %s on '%s'",
		                    fstype ? fstype : (src ? src : "(remount)"), path);
	return 0;
}

static int remount_ro(int root_fd, const char *path, unsigned long extra, struct st_error *err)
{
	return mount_in(root_fd, path, NULL, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | extra, NULL,
	                err);
}

static int bind_in(int root_fd, const char *path, const char *src, bool ro, struct st_error *err)
{
	int rc = mount_in(root_fd, path, src, NULL, MS_BIND | MS_REC, NULL, err);

	if (rc == 0 && ro)
		rc = remount_ro(root_fd, path, 0, err);
	return rc;
}

static int make_dev(const char *merged, const char *console, struct st_error *err)
{
	static const struct {
		const char *name;
		unsigned maj, min;
	} nodes[] = {{"null", 1, 3},   {"zero", 1, 5},    {"full", 1, 7},
	             {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}};
	static const char *const links[][2] = {
	        {"/proc/self/fd", "fd"},       {"/proc/self/fd/0", "stdin"},
	        {"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"},
	        {"/proc/kcore", "core"},       {"pts/ptmx", "ptmx"},
	};
	char p[4200];
	cleanup_fd int dfd = -1;

	(void)snprintf(p, sizeof(p), "%s/dev", merged);
	if (mount("tmpfs", p, "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k") < 0)
		return st_error_sys(err, "mount tmpfs on /dev");
	dfd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return st_error_sys(err, "open /dev");
	for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++)
		if (mknodat(dfd, nodes[i].name, S_IFCHR | 0666,
		            makedev(nodes[i].maj, nodes[i].min)) < 0)
			return st_error_sys(err, "mknod /dev/%s", nodes[i].name);
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++)
		if (symlinkat(links[i][0], dfd, links[i][1]) < 0)
			return st_error_sys(err, "symlink /dev/%s", links[i][1]);
	if (mkdirat(dfd, "pts", 0755) < 0 || mkdirat(dfd, "shm", 01777) < 0 ||
	    mkdirat(dfd, "mqueue", 0755) < 0)
		return st_error_sys(err, "mkdir in /dev");
	(void)snprintf(p, sizeof(p), "%s/dev/pts", merged);
	if (mount("devpts", p, "devpts", MS_NOSUID | MS_NOEXEC,
	          "newinstance,ptmxmode=0666,mode=0620,gid=5") < 0)
		return st_error_sys(err, "mount devpts");
	(void)snprintf(p, sizeof(p), "%s/dev/shm", merged);
	if (mount("shm", p, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k") < 0)
		return st_error_sys(err, "mount /dev/shm");
	(void)snprintf(p, sizeof(p), "%s/dev/mqueue", merged);
	if (mount("mqueue", p, "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		return st_error_sys(err, "mount /dev/mqueue");
	if (console) {
		int fd = openat(dfd, "console", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0)
			return st_error_sys(err, "create /dev/console");
		(void)close(fd);
		(void)snprintf(p, sizeof(p), "%s/dev/console", merged);
		if (mount(console, p, NULL, MS_BIND, NULL) < 0)
			return st_error_sys(err, "bind the terminal on /dev/console");
	}
	return 0;
}

static int mask_paths(int root_fd, struct st_error *err)
{
	struct st_error ignored;

	for (size_t i = 0; i < ctr_n_masked_paths; i++) {
		cleanup_fd int fd =
		        ctr_open_in_root(root_fd, ctr_masked_paths[i], O_PATH, &ignored);
		struct stat st;
		int rc;

		if (fd < 0 || fstat(fd, &st) < 0)
			continue; /* not on this kernel */
		if (S_ISDIR(st.st_mode))
			rc = mount_in(root_fd, ctr_masked_paths[i], "tmpfs", "tmpfs", MS_RDONLY,
			              NULL, err);
		else
			rc = mount_in(root_fd, ctr_masked_paths[i], "/dev/null", NULL, MS_BIND,
			              NULL, err);
		if (rc < 0)
			return rc;
	}
	for (size_t i = 0; i < ctr_n_readonly_paths; i++) {
		cleanup_fd int fd =
		        ctr_open_in_root(root_fd, ctr_readonly_paths[i], O_PATH, &ignored);
		char fdpath[64];

		if (fd < 0)
			continue;
		(void)snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);
		if (mount(fdpath, fdpath, NULL, MS_BIND | MS_REC, NULL) < 0 ||
		    remount_ro(root_fd, ctr_readonly_paths[i], MS_NOSUID | MS_NODEV | MS_NOEXEC,
		               err) < 0)
			return st_error_sys(err, "read-only '%s'", ctr_readonly_paths[i]);
	}
	return 0;
}

/* Splits "rw,noexec,size=64m" into mount flags and the data the file system reads. */
static int tmpfs_options(const char *opts, unsigned long *flags, struct st_buf *data,
                         struct st_error *err)
{
	static const struct {
		const char *word;
		unsigned long set, clear;
	} words[] = {{"ro", MS_RDONLY, 0},   {"rw", 0, MS_RDONLY},     {"noexec", MS_NOEXEC, 0},
	             {"exec", 0, MS_NOEXEC}, {"nosuid", MS_NOSUID, 0}, {"suid", 0, MS_NOSUID},
	             {"nodev", MS_NODEV, 0}, {"dev", 0, MS_NODEV}};
	const char *p = opts ? opts : "";
	int rc = 0;

	while (*p && rc == 0) {
		size_t len = strcspn(p, ",");
		bool known = false;
		for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
			if (strlen(words[i].word) == len && strncmp(p, words[i].word, len) == 0) {
				*flags = (*flags | words[i].set) & ~words[i].clear;
				known = true;
			}
		}
		if (!known && len)
			rc = st_buf_addf(data, err, "%s%.*s", data->len ? "," : "", (int)len, p);
		p += len + (p[len] ? 1 : 0);
	}
	return rc;
}

/* The directory behind a volume: a named one under <root>/volumes/<name>/_data, an anonymous
 * one under the container. A new volume starts with the image's content at the target. */
static int volume_dir(struct st_container *c, size_t idx, int root_fd, struct st_buf *out,
                      struct st_error *err)
{
	const struct st_mount_spec *m = &c->spec.mounts[idx];
	struct st_error ignored;
	cleanup_fd int dst = -1, src = -1;
	struct stat st;
	int rc;

	if (m->source)
		rc = st_buf_addf(out, err, "%s/volumes/%s/_data", st_store_root(c->store),
		                 m->source);
	else
		rc = st_buf_addf(out, err, "%s/volumes/%zu", c->dir, idx);
	if (rc < 0)
		return rc;
	if (stat(out->data, &st) == 0)
		return 0;
	rc = st_mkdir_p(AT_FDCWD, out->data, 0755, err);
	if (rc < 0)
		return rc;
	src = ctr_open_in_root(root_fd, m->target, O_RDONLY | O_DIRECTORY, &ignored);
	dst = open(out->data, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (src < 0 || dst < 0)
		return 0;
	if (fstat(src, &st) == 0 &&
	    (fchmod(dst, st.st_mode & 07777) < 0 || fchown(dst, st.st_uid, st.st_gid) < 0))
		return st_error_sys(err, "volume '%s'", out->data);
	return ctr_copy_contents(src, dst, err);
}

static int user_mount(struct st_container *c, size_t idx, int root_fd, struct st_error *err)
{
	const struct st_mount_spec *m = &c->spec.mounts[idx];
	cleanup_buf struct st_buf data = ST_BUF_INIT, vol = ST_BUF_INIT;
	unsigned long flags = MS_NOSUID | MS_NODEV | MS_NOEXEC;
	int rc;

	switch (m->type) {
	case ST_MOUNT_BIND:
		return bind_in(root_fd, m->target, m->source, m->readonly, err);
	case ST_MOUNT_VOLUME:
		rc = volume_dir(c, idx, root_fd, &vol, err);
		return rc < 0 ? rc : bind_in(root_fd, m->target, vol.data, m->readonly, err);
	case ST_MOUNT_TMPFS:
		if (m->readonly)
			flags |= MS_RDONLY;
		rc = tmpfs_options(m->options, &flags, &data, err);
		return rc < 0 ? rc
		              : mount_in(root_fd, m->target, "tmpfs", "tmpfs", flags,
		                         data.len ? data.data : NULL, err);
	}
	return st_error_set(err, ST_EINVALID, "unknown mount type");
}

static size_t depth(const char *p)
{
	size_t n = 0;

	for (; *p; p++)
		n += *p == '/';
	return n;
}

static int user_mounts(struct st_container *c, int root_fd, struct st_error *err)
{
	size_t max = 0;

	/* parents before children, as Docker sorts its mounts */
	for (size_t i = 0; i < c->spec.n_mounts; i++)
		if (depth(c->spec.mounts[i].target) > max)
			max = depth(c->spec.mounts[i].target);
	for (size_t d = 0; d <= max; d++) {
		for (size_t i = 0; i < c->spec.n_mounts; i++) {
			int rc;
			if (depth(c->spec.mounts[i].target) != d)
				continue;
			rc = user_mount(c, i, root_fd, err);
			if (rc < 0)
				return st_error_wrap(err, "mount '%s'", c->spec.mounts[i].target);
		}
	}
	return 0;
}

static int etc_files(struct st_container *c, int root_fd, struct st_error *err)
{
	static const char *const names[][2] = {{"hosts", "/etc/hosts"},
	                                       {"hostname", "/etc/hostname"},
	                                       {"resolv.conf", "/etc/resolv.conf"}};
	char src[4200];

	for (size_t i = 0; i < 3; i++) {
		int rc;
		(void)snprintf(src, sizeof(src), "%s/%s", c->dir, names[i][0]);
		rc = bind_in(root_fd, names[i][1], src, false, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int pivot(const char *merged, bool read_only, struct st_error *err)
{
	if (chdir(merged) < 0)
		return st_error_sys(err, "chdir '%s'", merged);
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return st_error_sys(err, "pivot_root");
	if (umount2(".", MNT_DETACH) < 0)
		return st_error_sys(err, "detach the old root");
	if (chdir("/") < 0)
		return st_error_sys(err, "chdir /");
	if (read_only && mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
		return st_error_sys(err, "remount / read-only");
	return 0;
}

static int kernel_fs(struct st_container *c, int root_fd, struct st_error *err)
{
	unsigned long sysflags = MS_NOSUID | MS_NODEV | MS_NOEXEC;
	int rc = mount_in(root_fd, "/proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL,
	                  err);

	if (!c->spec.privileged)
		sysflags |= MS_RDONLY;
	if (rc == 0)
		rc = mount_in(root_fd, "/sys", "sysfs", "sysfs", sysflags, NULL, err);
	return rc;
}

int ctr_setup_rootfs(struct st_container *c, const char *console, struct st_error *err)
{
	cleanup_buf struct st_buf merged = ST_BUF_INIT;
	cleanup_fd int root_fd = -1;
	int rc = st_buf_addf(&merged, err, "%s/merged", c->dir);

	if (rc < 0)
		return rc;
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return st_error_sys(err, "make / private");
	rc = ctr_mount_overlay(c, merged.data, true, err);
	if (rc < 0)
		return rc;
	root_fd = open(merged.data, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0)
		return st_error_sys(err, "open '%s'", merged.data);
	rc = kernel_fs(c, root_fd, err);
	if (rc == 0)
		rc = make_dev(merged.data, console, err);
	if (rc == 0)
		rc = etc_files(c, root_fd, err);
	if (rc == 0)
		rc = user_mounts(c, root_fd, err);
	if (rc == 0 && !c->spec.privileged)
		rc = mask_paths(root_fd, err);
	if (rc == 0)
		rc = pivot(merged.data, c->spec.read_only, err);
	return rc;
}
