/* layer/layer-apply-fs.c: filesystem primitives of apply that never leave the target root:
 * openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) on directory fds, creation of missing parents
 * one confined step at a time, metadata set through fds or without following the last
 * component, and a removal that never follows symlinks. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "layer/layer-apply.h"
#include "util/cleanup.h"

#include "util/banned.h"

/* ---- path sets ---- */

static size_t hash_str(const char *s)
{
	size_t h = 1469598103934665603ULL; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static size_t slot_of(const struct layer_pathset *s, const char *path)
{
	size_t i = hash_str(path) & (s->cap - 1);

	while (s->v[i].path && strcmp(s->v[i].path, path) != 0)
		i = (i + 1) & (s->cap - 1);
	return i;
}

void layer_pathset_release(struct layer_pathset *s)
{
	for (size_t i = 0; i < s->cap; i++)
		free(s->v[i].path);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static int pathset_grow(struct layer_pathset *s, struct st_error *err)
{
	struct layer_pathset n = {0};

	n.cap = s->cap ? s->cap * 2 : 256;
	n.v = calloc(n.cap, sizeof(*n.v));
	if (!n.v)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	for (size_t i = 0; i < s->cap; i++) {
		if (s->v[i].path)
			n.v[slot_of(&n, s->v[i].path)] = s->v[i];
	}
	n.n = s->n;
	free(s->v);
	*s = n;
	return 0;
}

int layer_pathset_add(struct layer_pathset *s, const char *path, unsigned char flags,
                      struct st_error *err)
{
	size_t i;
	int rc;

	if (2 * (s->n + 1) > s->cap) {
		rc = pathset_grow(s, err);
		if (rc < 0)
			return rc;
	}
	i = slot_of(s, path);
	if (!s->v[i].path) {
		s->v[i].path = strdup(path);
		if (!s->v[i].path)
			return st_error_set(err, ST_ENOMEM, "out of memory");
		s->n++;
	}
	s->v[i].flags = flags;
	return 0;
}

unsigned char layer_pathset_get(const struct layer_pathset *s, const char *path)
{
	if (!s->cap)
		return 0;
	return s->v[slot_of(s, path)].flags;
}

/* ---- confined resolution ---- */

int layer_openat2(int root_fd, const char *path, int flags, uint64_t extra_resolve)
{
	struct open_how how = {0};
	long fd;

	how.flags = (uint64_t)(flags | O_CLOEXEC);
	how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | extra_resolve;
	do {
		fd = syscall(SYS_openat2, root_fd, *path ? path : ".", &how, sizeof(how));
	} while (fd < 0 && errno == EAGAIN);
	return fd < 0 ? -errno : (int)fd;
}

/* Creates the missing components of `path` one by one, each resolved again from the root. */
static int create_dirs(int root_fd, const char *path, const char *entry, struct st_error *err)
{
	cleanup_free char *p = strdup(path);
	size_t len = strlen(path);

	if (!p)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	for (size_t i = 0; i <= len; i++) {
		cleanup_fd int pfd = -1;
		int fd;
		char *slash;
		const char *name;

		if (p[i] != '/' && p[i] != '\0')
			continue;
		p[i] = '\0';
		fd = layer_openat2(root_fd, p, O_PATH | O_DIRECTORY, 0);
		if (fd >= 0) {
			(void)close(fd);
			p[i] = i < len ? '/' : '\0';
			continue;
		}
		if (fd != -ENOENT)
			return st_error_errno(err, -fd, "entry '%s': parent '%s'", entry, p);
		slash = strrchr(p, '/');
		name = slash ? slash + 1 : p;
		if (slash)
			*slash = '\0';
		pfd = layer_openat2(root_fd, slash ? p : "", O_PATH | O_DIRECTORY, 0);
		if (slash)
			*slash = '/';
		if (pfd < 0)
			return st_error_errno(err, -pfd, "entry '%s': parent '%s'", entry, p);
		if (mkdirat(pfd, name, 0755) < 0 && errno != EEXIST)
			return st_error_sys(err, "entry '%s': mkdir '%s'", entry, p);
		p[i] = i < len ? '/' : '\0';
	}
	return 0;
}

int layer_open_dir(int root_fd, const char *path, bool create, const char *entry,
                   struct st_error *err)
{
	int fd = layer_openat2(root_fd, path, O_PATH | O_DIRECTORY, 0);
	int rc;

	if (fd >= 0)
		return fd;
	if (fd == -ENOENT && create) {
		rc = create_dirs(root_fd, path, entry, err);
		if (rc < 0)
			return rc;
		fd = layer_openat2(root_fd, path, O_PATH | O_DIRECTORY, 0);
		if (fd >= 0)
			return fd;
	}
	if (fd == -ENOTDIR)
		return st_error_set(err, ST_EINVALID,
		                    "entry '%s': a component of '%s' is not a "
		                    "directory",
		                    entry, path);
	return st_error_errno(err, -fd, "entry '%s': open parent '%s'", entry, path);
}

/* ---- removal ---- */

static int rmtree_children(int dir_fd, int depth, struct st_error *err)
{
	cleanup_dir DIR *d = NULL;
	int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	int rc = 0;

	if (fd < 0)
		return st_error_sys(err, "open directory to remove");
	d = fdopendir(fd);
	if (!d) {
		(void)close(fd);
		return st_error_sys(err, "opendir");
	}
	/* unlinking while reading is fine for readdir: each name is returned at most once */
	for (errno = 0; rc == 0 && (de = readdir(d)); errno = 0) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN) {
			if (unlinkat(dir_fd, de->d_name, 0) < 0 && errno != ENOENT)
				rc = st_error_sys(err, "unlink '%s'", de->d_name);
			continue;
		}
		rc = depth > 4096 ? st_error_set(err, ST_ELIMIT, "tree too deep to remove")
		                  : layer_rmtree_at(dir_fd, de->d_name, err);
	}
	if (rc == 0 && errno)
		rc = st_error_sys(err, "readdir");
	return rc;
}

int layer_rmtree_at(int parent_fd, const char *name, struct st_error *err)
{
	cleanup_fd int fd = -1;
	struct stat st;
	int rc;

	if (fstatat(parent_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : st_error_sys(err, "stat '%s'", name);
	if (!S_ISDIR(st.st_mode)) {
		if (unlinkat(parent_fd, name, 0) < 0 && errno != ENOENT)
			return st_error_sys(err, "unlink '%s'", name);
		return 0;
	}
	fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == EACCES && fchmodat(parent_fd, name, 0700, 0) == 0)
		fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return st_error_sys(err, "open '%s'", name);
	rc = rmtree_children(fd, 0, err);
	if (rc < 0)
		return rc;
	if (unlinkat(parent_fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return st_error_sys(err, "rmdir '%s'", name);
	return 0;
}

int st_layer_remove_tree(const char *path, struct st_error *err)
{
	cleanup_free char *copy = strdup(path);
	cleanup_fd int pfd = -1;
	char *slash;
	int rc;

	if (!copy)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	slash = strrchr(copy, '/');
	if (slash && slash[1] == '\0')
		return st_error_set(err, ST_EINVALID, "remove '%s': path ends in '/'", path);
	if (slash)
		*slash = '\0';
	pfd = open(slash ? (*copy ? copy : "/") : ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (pfd < 0)
		return errno == ENOENT ? 0 : st_error_sys(err, "open parent of '%s'", path);
	rc = layer_rmtree_at(pfd, slash ? slash + 1 : copy, err);
	return rc < 0 ? st_error_wrap(err, "remove '%s'", path) : 0;
}

/* ---- metadata ---- */

int layer_meta_apply(const struct layer_meta *m, int fd, int parent_fd, const char *base,
                     const char *entry, struct st_error *err)
{
	struct timespec ts[2];
	char path[4200];

	if (m->chown &&
	    (fd >= 0 ? fchown(fd, m->uid, m->gid)
	             : fchownat(parent_fd, base, m->uid, m->gid, AT_SYMLINK_NOFOLLOW)) < 0)
		return st_error_sys(err, "entry '%s': chown %u:%u", entry, m->uid, m->gid);
	if (!m->is_link &&
	    (fd >= 0 ? fchmod(fd, m->mode) : fchmodat(parent_fd, base, m->mode, 0)) < 0)
		return st_error_sys(err, "entry '%s': chmod", entry);
	if (m->n_xattrs && fd < 0) {
		/* no lsetxattrat(): the magic link of the parent, then one component not followed
		 */
		int n = snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", parent_fd, base);
		if (n < 0 || (size_t)n >= sizeof(path))
			return st_error_set(err, ST_ELIMIT, "entry '%s': name too long", entry);
	}
	for (size_t i = 0; i < m->n_xattrs; i++) {
		const struct layer_xattr *x = &m->xattrs[i];
		if ((fd >= 0 ? fsetxattr(fd, x->name, x->value, x->size, 0)
		             : lsetxattr(path, x->name, x->value, x->size, 0)) < 0)
			return st_error_sys(err, "entry '%s': set xattr %s", entry, x->name);
	}
	if (!m->set_times)
		return 0;
	ts[0] = ts[1] = m->mtime;
	if ((fd >= 0 ? futimens(fd, ts) : utimensat(parent_fd, base, ts, AT_SYMLINK_NOFOLLOW)) < 0)
		return st_error_sys(err, "entry '%s': set times", entry);
	return 0;
}
