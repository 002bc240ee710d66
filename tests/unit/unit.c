/* unit.c: the few helpers unit tests share: temporary directories and files, inode flags. */
#include "unit.h"

#include <fcntl.h>
#include <ftw.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

char *unit_mkdtemp(void)
{
	const char *tmp = getenv("TMPDIR");
	char *path = NULL;

	if (asprintf(&path, "%s/strata-unit-XXXXXX", tmp && *tmp ? tmp : "/tmp") < 0)
		return NULL;
	if (!mkdtemp(path)) {
		free(path);
		return NULL;
	}
	return path;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void unit_rmtree(const char *path)
{
	if (path)
		(void)nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS);
}

void unit_write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

int unit_topdir_flag(const char *path)
{
	int flags = 0, fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	assert_true(fd >= 0);
	if (ioctl(fd, FS_IOC_GETFLAGS, &flags) < 0)
		flags = -1;
	close(fd);
	return flags < 0 ? -1 : (flags & FS_TOPDIR_FL) != 0;
}

int unit_can_topdir(const char *dir)
{
	char path[4200];
	int flags = 0, fd, ok;

	snprintf(path, sizeof(path), "%s/topdir-probe", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	if (ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0) {
		flags |= FS_TOPDIR_FL;
		(void)ioctl(fd, FS_IOC_SETFLAGS, &flags);
	}
	close(fd);
	ok = unit_topdir_flag(path) == 1;
	assert_int_equal(rmdir(path), 0);
	return ok;
}
