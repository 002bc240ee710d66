/* fs.c: file-system helpers. Everything is relative to a directory fd and O_CLOEXEC. */
#include "util/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

void st_dir_spread(int dirfd)
{
	int flags = 0; /* the kernel reads and writes an int, whatever the ioctl's name says */

	if (ioctl(dirfd, FS_IOC_GETFLAGS, &flags) < 0 || (flags & FS_TOPDIR_FL))
		return;
	flags |= FS_TOPDIR_FL;
	(void)ioctl(dirfd, FS_IOC_SETFLAGS, &flags);
}

int st_mkdir_p(int dirfd, const char *path, mode_t mode, struct st_error *err)
{
	char buf[4096];
	size_t len = strlen(path);

	if (len >= sizeof(buf))
		return st_error_set(err, ST_EINVALID, "path too long: %.64s...", path);
	memcpy(buf, path, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdirat(dirfd, buf, mode) < 0 && errno != EEXIST)
			return st_error_sys(err, "mkdir '%s'", buf);
		if (i < len)
			buf[i] = '/';
	}
	return 0;
}

int st_write_all(int fd, const void *p, size_t len, struct st_error *err)
{
	const char *c = p;

	while (len) {
		ssize_t n = write(fd, c, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return st_error_sys(err, "write");
		}
		c += n;
		len -= (size_t)n;
	}
	return 0;
}

int st_read_all(int fd, struct st_buf *out, size_t max, struct st_error *err)
{
	size_t old_max = out->max;
	int rc = 0;

	out->max = max;
	for (;;) {
		ssize_t n;
		rc = st_buf_grow(out, 65536, NULL);
		if (rc == -ST_ELIMIT) {
			/* room for the last bytes up to the ceiling, then one probe for more */
			size_t room = max - out->len;
			char probe;
			if (room) {
				rc = st_buf_grow(out, room, err);
				if (rc < 0)
					break;
				n = read(fd, out->data + out->len, room);
			} else {
				n = read(fd, &probe, 1);
				if (n > 0) {
					rc = st_error_set(err, ST_ELIMIT,
					                  "data larger than the limit of %zu bytes",
					                  max);
					break;
				}
			}
		} else if (rc < 0) {
			rc = st_error_set(err, ST_ENOMEM, "out of memory reading a file");
			break;
		} else {
			n = read(fd, out->data + out->len, out->cap - out->len - 1);
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = st_error_sys(err, "read");
			break;
		}
		if (n == 0) {
			rc = 0;
			break;
		}
		out->len += (size_t)n;
		out->data[out->len] = '\0';
	}
	out->max = old_max;
	return rc;
}

int st_read_file_at(int dirfd, const char *path, struct st_buf *out, size_t max,
                    struct st_error *err)
{
	cleanup_fd int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return st_error_sys(err, "open '%s'", path);
	rc = st_read_all(fd, out, max, err);
	if (rc < 0)
		return st_error_wrap(err, "'%s'", path);
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int st_list_dir(int dirfd, struct st_strv *out, struct st_error *err)
{
	/* getdents64 straight into a buffer on the stack: no DIR (a 32 KiB allocation and a dup
	 * per directory), which was a fifth of a cached build's context walk */
	union {
		struct dirent64 align;
		char b[16384];
	} buf;
	size_t first = out->n;
	ssize_t n;
	int rc;

	if (lseek(dirfd, 0, SEEK_SET) < 0)
		return st_error_sys(err, "read directory");
	while ((n = getdents64(dirfd, buf.b, sizeof(buf.b))) > 0) {
		for (ssize_t off = 0; off < n;) {
			const struct dirent64 *e = (const struct dirent64 *)(buf.b + off);
			off += e->d_reclen;
			if (e->d_name[0] == '.' &&
			    (e->d_name[1] == '\0' || (e->d_name[1] == '.' && e->d_name[2] == '\0')))
				continue;
			rc = st_strv_push(out, e->d_name, strlen(e->d_name), err);
			if (rc < 0)
				return rc;
		}
	}
	if (n < 0)
		return st_error_sys(err, "read directory");
	if (out->n > first)
		qsort(out->v + first, out->n - first, sizeof(*out->v), cmp_names);
	return 0;
}

int st_random_hex(char *out, size_t nbytes, struct st_error *err)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char raw[32];

	if (nbytes > sizeof(raw))
		nbytes = sizeof(raw);
	if (getrandom(raw, nbytes, 0) != (ssize_t)nbytes)
		return st_error_sys(err, "getrandom");
	for (size_t i = 0; i < nbytes; i++) {
		out[2 * i] = digits[raw[i] >> 4];
		out[2 * i + 1] = digits[raw[i] & 15];
	}
	out[2 * nbytes] = '\0';
	return 0;
}

int st_write_file_atomic(int dirfd, const char *path, int tmpdirfd, const void *data, size_t len,
                         mode_t mode, struct st_error *err)
{
	char tmp[64] = "atomic-";
	cleanup_fd int fd = -1;
	int rc;

	rc = st_random_hex(tmp + 7, 12, err);
	if (rc < 0)
		return rc;
	fd = openat(tmpdirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return st_error_sys(err, "create temporary file for '%s'", path);
	rc = st_write_all(fd, data, len, err);
	if (rc == 0 && fsync(fd) < 0)
		rc = st_error_sys(err, "fsync");
	if (rc == 0 && renameat(tmpdirfd, tmp, dirfd, path) < 0)
		rc = st_error_sys(err, "rename into '%s'", path);
	if (rc < 0) {
		(void)unlinkat(tmpdirfd, tmp, 0);
		return st_error_wrap(err, "write '%s'", path);
	}
	if (fsync(dirfd) < 0)
		return st_error_sys(err, "fsync directory of '%s'", path);
	return 0;
}

int st_write_file_replace(int dirfd, const char *path, const void *data, size_t len, mode_t mode,
                          struct st_error *err)
{
	char spare[4096];
	cleanup_fd int fd = -1;
	int rc;

	if (snprintf(spare, sizeof(spare), "%s.spare", path) >= (int)sizeof(spare))
		return st_error_set(err, ST_EINVALID, "path too long: %.64s...", path);
	fd = openat(dirfd, spare, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return st_error_sys(err, "open '%s'", spare);
	rc = st_write_all(fd, data, len, err);
	if (rc == 0 && ftruncate(fd, (off_t)len) < 0)
		rc = st_error_sys(err, "truncate '%s'", spare);
	if (rc < 0)
		return st_error_wrap(err, "write '%s'", path);
	/* the spare becomes the file, the old file the next spare: nothing is freed (a freed
	 * block costs ~2.5 ms here) and nothing is renamed over (ext4 flushes such a file) */
	if (renameat2(dirfd, spare, dirfd, path, RENAME_EXCHANGE) == 0)
		return 0;
	if ((errno == ENOENT || errno == EINVAL) && renameat(dirfd, spare, dirfd, path) == 0)
		return 0; /* the first version (or a file system without exchange) */
	return st_error_sys(err, "rename '%s' to '%s'", spare, path);
}

int st_remove_replaced_file(int dirfd, const char *path, struct st_error *err)
{
	char spare[4096];

	if (snprintf(spare, sizeof(spare), "%s.spare", path) >= (int)sizeof(spare))
		return st_error_set(err, ST_EINVALID, "path too long: %.64s...", path);
	if (unlinkat(dirfd, path, 0) < 0 && errno != ENOENT)
		return st_error_sys(err, "remove '%s'", path);
	if (unlinkat(dirfd, spare, 0) < 0 && errno != ENOENT)
		return st_error_sys(err, "remove '%s'", spare);
	return 0;
}

int st_open_dir_at(int dirfd, const char *path, struct st_error *err)
{
	int fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return st_error_sys(err, "open directory '%s'", path);
	return fd;
}

static int rm_rf_fd(int dfd, struct st_error *err)
{
	cleanup_dir DIR *d = fdopendir(dfd);
	struct dirent *e;
	int rc = 0;

	if (!d) {
		(void)close(dfd);
		return st_error_sys(err, "fdopendir");
	}
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		rc = st_rm_rf_at(dirfd(d), e->d_name, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int st_rm_rf_at(int dirfd, const char *name, struct st_error *err)
{
	struct stat st;
	int fd, rc;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : st_error_sys(err, "stat '%s'", name);
	if (!S_ISDIR(st.st_mode)) {
		if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
			return st_error_sys(err, "remove '%s'", name);
		return 0;
	}
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return st_error_sys(err, "open '%s'", name);
	rc = rm_rf_fd(fd, err);
	if (rc < 0)
		return st_error_wrap(err, "'%s'", name);
	if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return st_error_sys(err, "remove directory '%s'", name);
	return 0;
}
