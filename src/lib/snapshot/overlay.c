/* overlay.c: mounting an overlay of snapshots, for containers (run) and build views. Always
 * redirect_dir=off and metacopy=off (an upper directory is then a plain diff, what layer
 * creation reads), index=off with an upper. Kernel >= 6.8 takes one fsconfig(lowerdir+) per
 * lower, with no option string to outgrow; older kernels get mount(2) with each lower named by a
 * short symlink in link_dir, as Docker's overlay2 does. One read-only lower is a read-only bind
 * (overlayfs wants two lowers without an upper). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "strata/snapshot.h"
#include "util/cleanup.h"
#include "util/fs.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

static int overlay_log(int fsfd, const char *what, struct st_error *err)
{
	char msg[300];
	int e = errno;
	ssize_t n = read(fsfd, msg, sizeof(msg) - 1);

	if (n > 2) {
		msg[n] = '\0';
		msg[strcspn(msg, "\n")] = '\0';
		return st_error_errno(err, e, "overlay %s (%s)", what, msg + 2);
	}
	return st_error_errno(err, e, "overlay %s", what);
}

static int set_str(int fsfd, const char *k, const char *v, struct st_error *err)
{
	if (fsconfig(fsfd, FSCONFIG_SET_STRING, k, v, 0) < 0)
		return overlay_log(fsfd, k, err);
	return 0;
}

static int mount_fsconfig(const struct st_overlay *o, const char *target, struct st_error *err)
{
	cleanup_fd int fsfd = fsopen("overlay", FSOPEN_CLOEXEC);
	cleanup_fd int mfd = -1;
	int rc = 0;

	if (fsfd < 0)
		return -ST_EUNSUPPORTED;
	if (fsconfig(fsfd, FSCONFIG_SET_STRING, "lowerdir+", o->lowers[0], 0) < 0)
		return errno == EINVAL ? -ST_EUNSUPPORTED : overlay_log(fsfd, "lowerdir+", err);
	for (size_t i = 1; i < o->n_lowers && rc == 0; i++)
		rc = set_str(fsfd, "lowerdir+", o->lowers[i], err);
	if (rc == 0 && o->upper)
		rc = set_str(fsfd, "upperdir", o->upper, err);
	if (rc == 0 && o->upper)
		rc = set_str(fsfd, "workdir", o->work, err);
	if (rc == 0)
		rc = set_str(fsfd, "redirect_dir", "off", err);
	if (rc == 0)
		rc = set_str(fsfd, "metacopy", "off", err);
	if (rc == 0 && o->upper)
		rc = set_str(fsfd, "index", "off", err);
	if (rc == 0 && o->upper && o->volatile_upper &&
	    fsconfig(fsfd, FSCONFIG_SET_FLAG, "volatile", NULL, 0) < 0)
		rc = overlay_log(fsfd, "volatile", err);
	if (rc == 0 && fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		rc = overlay_log(fsfd, "create", err);
	if (rc < 0)
		return rc;
	mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, o->upper ? 0 : MOUNT_ATTR_RDONLY);
	if (mfd < 0)
		return st_error_sys(err, "overlay fsmount");
	if (move_mount(mfd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return st_error_sys(err, "move the overlay to '%s'", target);
	return 0;
}

static int mount_legacy(const struct st_overlay *o, const char *target, struct st_error *err)
{
	cleanup_buf struct st_buf opts = ST_BUF_INIT;
	cleanup_fd int cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	cleanup_fd int lfd = -1;
	int rc = 0;

	if (!o->link_dir)
		return st_error_set(err, ST_EUNSUPPORTED,
		                    "overlay: this kernel has no lowerdir+ and no link directory "
		                    "was given");
	/* opened by path: the directory must be reached through this mount namespace's mounts,
	 * or overlayfs cannot resolve the names from the cwd */
	rc = st_mkdir_p(AT_FDCWD, o->link_dir, 0700, err);
	if (rc == 0)
		lfd = st_open_dir_at(AT_FDCWD, o->link_dir, err);
	if (lfd < 0)
		return rc < 0 ? rc : lfd;
	rc = st_buf_adds(&opts, "lowerdir=", err);
	for (size_t i = 0; i < o->n_lowers && rc == 0; i++) {
		char name[24];
		(void)snprintf(name, sizeof(name), "%zx", i);
		(void)unlinkat(lfd, name, 0);
		if (symlinkat(o->lowers[i], lfd, name) < 0)
			return st_error_sys(err, "overlay: symlink %s/%s", o->link_dir, name);
		rc = st_buf_addf(&opts, err, "%s%s", i ? ":" : "", name);
	}
	if (rc == 0 && o->upper)
		rc = st_buf_addf(&opts, err, ",upperdir=%s,workdir=%s,index=off", o->upper,
		                 o->work);
	if (rc == 0 && o->upper && o->volatile_upper)
		rc = st_buf_adds(&opts, ",volatile", err);
	if (rc == 0)
		rc = st_buf_adds(&opts, ",redirect_dir=off,metacopy=off", err);
	if (rc < 0)
		return rc;
	if (opts.len >= 4000)
		return st_error_set(err, ST_ELIMIT,
		                    "overlay: %zu layers do not fit a mount option string",
		                    o->n_lowers);
	if (fchdir(lfd) < 0)
		return st_error_sys(err, "chdir %s", o->link_dir);
	rc = mount("overlay", target, "overlay", o->upper ? 0 : MS_RDONLY, opts.data);
	if (rc < 0)
		rc = st_error_sys(err, "mount overlay of %zu layers at '%s'", o->n_lowers, target);
	if (cwd >= 0)
		(void)fchdir(cwd);
	return rc;
}

int st_overlay_mount(const struct st_overlay *o, const char *target, struct st_error *err)
{
	const char *mode = getenv("STRATA_OVERLAY_MOUNT");
	int rc;

	if (o->n_lowers == 0)
		return st_error_set(err, ST_EINVALID, "overlay: no lower directory");
	if (o->upper && !o->work)
		return st_error_set(err, ST_EINVALID,
		                    "overlay: an upper directory needs a work one");
	if (!o->upper && o->n_lowers == 1) {
		if (mount(o->lowers[0], target, NULL, MS_BIND, NULL) < 0)
			return st_error_sys(err, "bind '%s'", o->lowers[0]);
		if (mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0) {
			rc = st_error_sys(err, "bind '%s' read-only", o->lowers[0]);
			(void)umount2(target, MNT_DETACH);
			return rc;
		}
		return 0;
	}
	rc = mode && strcmp(mode, "legacy") == 0 ? -ST_EUNSUPPORTED
	                                         : mount_fsconfig(o, target, err);
	if (rc == -ST_EUNSUPPORTED)
		rc = mount_legacy(o, target, err);
	return rc;
}
