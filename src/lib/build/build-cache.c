/* build-cache.c: the build cache as gc sees it: every entry of cache/build/ names an
 * intermediate image whose manifest (and so config and layers) gc must keep; `builder prune`
 * drops them all. */
#include "build/build-internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fs.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

static int open_cache(struct st_store *s, DIR **out, struct st_error *err)
{
	int fd = openat(st_store_root_fd(s), "cache/build", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	*out = NULL;
	if (fd < 0)
		return errno == ENOENT
		               ? 0
		               : st_error_sys(err, "open '%s/cache/build'", st_store_root(s));
	*out = fdopendir(fd);
	if (!*out) {
		(void)close(fd);
		return st_error_sys(err, "open '%s/cache/build'", st_store_root(s));
	}
	return 0;
}

static int mark_roots(struct st_store *s, struct st_gc *gc, void *ctx, struct st_error *err)
{
	cleanup_dir DIR *d = NULL;
	struct dirent *e;
	int rc = open_cache(s, &d, err);

	(void)ctx;
	while (rc == 0 && d && (e = readdir(d))) {
		struct st_buf line = ST_BUF_INIT;
		struct st_digest dg;
		if (e->d_name[0] == '.')
			continue;
		if (st_read_file_at(dirfd(d), e->d_name, &line, 4096, NULL) == 0 &&
		    st_digest_parse(line.data, strcspn(line.data, " "), &dg, NULL) == 0)
			rc = st_gc_mark(gc, &dg, ST_MT_OCI_MANIFEST, err);
		st_buf_release(&line);
	}
	return rc;
}

int st_build_register_gc(struct st_store *s, struct st_error *err)
{
	return st_store_add_gc_root(s, mark_roots, NULL, err);
}

int st_build_prune(struct st_store *s, uint64_t *out_entries, struct st_error *err)
{
	cleanup_dir DIR *d = NULL;
	struct dirent *e;
	uint64_t n = 0;
	int rc;

	rc = st_store_lease(s, err);
	if (rc < 0)
		return rc;
	rc = open_cache(s, &d, err);
	while (rc == 0 && d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) < 0 && errno != ENOENT)
			rc = st_error_sys(err, "remove cache entry %s", e->d_name);
		else
			n++;
	}
	/* the content-hash memo is a cache too */
	if (rc == 0 && unlinkat(st_store_root_fd(s), "cache/hash-memo", 0) < 0 && errno != ENOENT)
		rc = st_error_sys(err, "remove '%s/cache/hash-memo'", st_store_root(s));
	st_store_unlease(s);
	if (rc == 0 && out_entries)
		*out_entries = n;
	return rc;
}
