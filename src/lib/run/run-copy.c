/* run-copy.c: copying trees between directory fds without following symlinks (the trees may
 * come from an untrusted image): regular files, directories, symlinks, device nodes and fifos,
 * with mode, owner and times. Used for `cp` and to seed new volumes from the image. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run/run-copy.h"
#include "util/cleanup.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

static int copy_attrs(int dst_dir, const char *name, const struct stat *st, bool is_link,
                      struct st_error *err)
{
	struct timespec ts[2] = {st->st_atim, st->st_mtim};
	int flags = is_link ? AT_SYMLINK_NOFOLLOW : 0;

	if (fchownat(dst_dir, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0 &&
	    errno != EPERM)
		return st_error_sys(err, "chown '%s'", name);
	if (!is_link && fchmodat(dst_dir, name, st->st_mode & 07777, 0) < 0)
		return st_error_sys(err, "chmod '%s'", name);
	if (utimensat(dst_dir, name, ts, flags) < 0)
		return st_error_sys(err, "set times of '%s'", name);
	return 0;
}

static int copy_file(int src_dir, const char *src, int dst_dir, const char *dst,
                     const struct stat *st, struct st_error *err)
{
	cleanup_fd int in = openat(src_dir, src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	cleanup_fd int out = -1;
	off_t left = st->st_size;

	if (in < 0)
		return st_error_sys(err, "open '%s'", src);
	(void)unlinkat(dst_dir, dst, 0);
	out = openat(dst_dir, dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (out < 0)
		return st_error_sys(err, "create '%s'", dst);
	while (left > 0) {
		ssize_t n = sendfile(out, in, NULL, (size_t)(left > (1 << 30) ? (1 << 30) : left));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return st_error_sys(err, "copy '%s'", src);
		if (n == 0)
			break;
		left -= n;
	}
	return 0;
}

static int copy_dir_contents(int src, int dst, int depth, struct st_error *err);

int ctr_copy_entry(int src_dir, const char *src, int dst_dir, const char *dst, int depth,
                   struct st_error *err)
{
	struct stat st;
	char target[4096];
	ssize_t n;
	int rc = 0;

	if (depth > 256)
		return st_error_set(err, ST_ELIMIT, "copy: tree deeper than 256 levels at '%s'",
		                    src);
	if (fstatat(src_dir, src, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return st_error_sys(err, "stat '%s'", src);
	if (S_ISDIR(st.st_mode)) {
		cleanup_fd int sfd = -1, dfd = -1;
		if (mkdirat(dst_dir, dst, 0700) < 0 && errno != EEXIST)
			return st_error_sys(err, "mkdir '%s'", dst);
		sfd = openat(src_dir, src, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		dfd = openat(dst_dir, dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (sfd < 0 || dfd < 0)
			return st_error_sys(err, "open directory '%s'", sfd < 0 ? src : dst);
		rc = copy_dir_contents(sfd, dfd, depth + 1, err);
	} else if (S_ISREG(st.st_mode)) {
		rc = copy_file(src_dir, src, dst_dir, dst, &st, err);
	} else if (S_ISLNK(st.st_mode)) {
		n = readlinkat(src_dir, src, target, sizeof(target) - 1);
		if (n < 0)
			return st_error_sys(err, "readlink '%s'", src);
		target[n] = '\0';
		(void)unlinkat(dst_dir, dst, 0);
		if (symlinkat(target, dst_dir, dst) < 0)
			return st_error_sys(err, "symlink '%s'", dst);
	} else {
		(void)unlinkat(dst_dir, dst, 0);
		if (mknodat(dst_dir, dst, st.st_mode, st.st_rdev) < 0)
			return st_error_sys(err, "mknod '%s'", dst);
	}
	if (rc == 0)
		rc = copy_attrs(dst_dir, dst, &st, S_ISLNK(st.st_mode), err);
	return rc;
}

static int copy_dir_contents(int src, int dst, int depth, struct st_error *err)
{
	int dup_fd = fcntl(src, F_DUPFD_CLOEXEC, 3);
	cleanup_dir DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
	struct dirent *e;
	int rc = 0;

	if (!d) {
		if (dup_fd >= 0)
			(void)close(dup_fd);
		return st_error_sys(err, "read directory");
	}
	while (rc == 0 && (e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		rc = ctr_copy_entry(src, e->d_name, dst, e->d_name, depth, err);
	}
	return rc;
}

int ctr_copy_contents(int src_dirfd, int dst_dirfd, struct st_error *err)
{
	return copy_dir_contents(src_dirfd, dst_dirfd, 0, err);
}
