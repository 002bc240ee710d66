/* unit.c: the few helpers unit tests share: temporary directories and files. */
#include "unit.h"

#include <fcntl.h>
#include <ftw.h>
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
