/* build-context.c: a context given as a stream (`strata build -`, as `docker build -`): a tar
 * (plain, gzip, bzip2, xz or zstd) is extracted into a directory of the build's private tmp
 * through ADD's extraction (the layer module's confined apply); a stream that is no archive is
 * the Dockerfile, with an empty context, as the docker CLI decides. The Dockerfile and
 * .dockerignore of such a context are read inside it, symlinks resolved in its root. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "build/build-copy-internal.h"
#include "build/build-internal.h"
#include "util/cleanup.h"
#include "util/fs.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

#define SPOOL_BUF (256 * 1024)

/* A copy of the stream in an unnamed file of the build's tmp, read from its start: telling a
 * tar from a Dockerfile needs to read ahead and rewind. */
static int spool(struct bctx *b, int in, int *out)
{
	cleanup_free char *buf = malloc(SPOOL_BUF);
	cleanup_fd int fd = open(b->tmp, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	ssize_t n;

	if (!buf)
		return st_error_set(b->err, ST_ENOMEM, "out of memory");
	if (fd < 0)
		return st_error_sys(b->err, "create a temporary file in '%s'", b->tmp);
	while ((n = read(in, buf, SPOOL_BUF)) != 0) {
		int rc;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return st_error_sys(b->err, "read the context from stdin");
		rc = st_write_all(fd, buf, (size_t)n, b->err);
		if (rc < 0)
			return rc;
	}
	if (lseek(fd, 0, SEEK_SET) < 0)
		return st_error_sys(b->err, "seek");
	*out = take_fd(&fd);
	return 0;
}

int build_context_from_tar(struct bctx *b)
{
	struct stat st;
	cleanup_fd int fd = -1;
	cleanup_fd int dir_fd = -1;
	bool archive;
	int in = b->o->context_tar_fd, rc;

	if (b->o->dockerfile_data)
		return st_error_set(b->err, ST_EINVALID,
		                    "the context and the Dockerfile cannot both come from stdin");
	/* a file redirected in is read where it is; a pipe is spooled */
	if (fstat(in, &st) == 0 && S_ISREG(st.st_mode) && lseek(in, 0, SEEK_CUR) == 0) {
		fd = fcntl(in, F_DUPFD_CLOEXEC, 3);
		if (fd < 0)
			return st_error_sys(b->err, "read the context from stdin");
	} else {
		rc = spool(b, in, &fd);
		if (rc < 0)
			return rc;
	}
	rc = copy_is_archive(fd, &archive, b->err);
	if (rc < 0)
		return rc;
	rc = build_fresh_dir(b, "context", &b->context_dir);
	if (rc < 0)
		return rc;
	b->context = b->context_dir;
	b->context_tar = true;
	if (!archive) {
		if (b->o->dockerfile)
			return st_error_set(b->err, ST_EINVALID,
			                    "the context on stdin is not a tar archive, so -f "
			                    "cannot name a file inside it");
		b->context_tar = false; /* the Dockerfile is the stream: empty context */
		b->dockerfile_read = true;
		return st_read_all(fd, &b->text, ST_DF_MAX_FILE, b->err);
	}
	dir_fd = st_open_dir_at(AT_FDCWD, b->context_dir, b->err);
	if (dir_fd < 0)
		return dir_fd;
	rc = copy_extract_archive(fd, dir_fd, b->err);
	return rc < 0 ? st_error_wrap(b->err, "context from stdin") : 0;
}

int build_context_read(struct bctx *b, const char *path, struct st_buf *out, size_t max)
{
	struct open_how how = {.flags = O_RDONLY | O_CLOEXEC,
	                       .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
	cleanup_fd int root = st_open_dir_at(AT_FDCWD, b->context, b->err);
	cleanup_fd int fd = -1;
	struct stat st;

	if (root < 0)
		return root;
	fd = (int)syscall(SYS_openat2, root, path, &how, sizeof(how));
	if (fd < 0)
		return st_error_sys(b->err, "open '%s' in the context", path);
	if (fstat(fd, &st) < 0)
		return st_error_sys(b->err, "stat '%s' in the context", path);
	if (!S_ISREG(st.st_mode))
		return st_error_set(b->err, ST_EINVALID, "'%s' in the context is not a file", path);
	return st_read_all(fd, out, max, b->err);
}
