/* layer/layer-apply-file.c: regular files of apply, and the rules that keep the file pool
 * invisible. With threads > 1 a file up to LAYER_POOL_FILE_MAX bytes is read into memory and
 * queued to a worker (layer-apply-pool.c); everything else stays on the applying thread, in tar
 * order. The applying thread waits for the queued files (a barrier) before anything a queued
 * file could change or be changed by:
 *  - any entry, hardlink target included, at a (directory inode, name) with a queued file;
 *  - removing a directory (a replaced one, a whiteout, an opaque marker): it may hold one;
 *  - a parent path that does not resolve (a queued file may be a component, or missing);
 *  - an existing directory whose owner, mode or xattrs change (its mode and setgid bit decide
 *    whether and with which group files are created in it);
 *  - the end (directory times, digests), and any failure (the earliest entry's error wins).
 * Workers only ever create the name they were given in the directory fd they were given, so
 * the tree, and the error of a failed apply, do not depend on the number of threads. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layer/layer-apply.h"
#include "util/cleanup.h"

#include "util/banned.h"

/* Larger files are streamed by the applying thread: no copy, and they are few. */
#define LAYER_POOL_FILE_MAX (4u << 20)

static struct timespec entry_mtime(struct archive_entry *e)
{
	struct timespec ts = {0, 0};

	if (archive_entry_mtime_is_set(e)) {
		ts.tv_sec = archive_entry_mtime(e);
		ts.tv_nsec = archive_entry_mtime_nsec(e);
	}
	return ts;
}

int applier_meta(struct applier *ap, struct layer_meta *m)
{
	const char *name;
	const void *value;
	size_t size, total = 0;
	unsigned type = archive_entry_filetype(ap->e);

	memset(m, 0, sizeof(*m));
	m->mode = archive_entry_perm(ap->e);
	m->uid = (uid_t)archive_entry_uid(ap->e);
	m->gid = (gid_t)archive_entry_gid(ap->e);
	m->chown = ap->chown;
	m->is_link = type == AE_IFLNK;
	m->set_times = type != AE_IFDIR;
	m->mtime = entry_mtime(ap->e);
	ap->n_xa = 0;
	if (archive_entry_xattr_reset(ap->e) == 0)
		return 0;
	while (archive_entry_xattr_next(ap->e, &name, &value, &size) == ARCHIVE_OK) {
		total += size + strlen(name);
		if (total > ap->lim.max_xattr_size)
			return st_error_set(ap->err, ST_ELIMIT,
			                    "entry '%s': xattrs larger than the limit of %zu bytes",
			                    ap->name, ap->lim.max_xattr_size);
		/* overlay's own xattrs would redirect or hide lower layers: never applied */
		if (layer_xattr_skipped(name))
			continue;
		if (ap->n_xa == ap->cap_xa) {
			size_t cap = ap->cap_xa ? ap->cap_xa * 2 : 8;
			struct layer_xattr *v = realloc(ap->xa, cap * sizeof(*v));
			if (!v)
				return st_error_set(ap->err, ST_ENOMEM, "out of memory");
			ap->xa = v;
			ap->cap_xa = cap;
		}
		ap->xa[ap->n_xa++] = (struct layer_xattr){name, value, size};
	}
	m->xattrs = ap->xa;
	m->n_xattrs = ap->n_xa;
	return 0;
}

/* ---- barriers ---- */

int applier_barrier(struct applier *ap)
{
	int rc;

	if (!ap->pool)
		return 0;
	rc = layer_pool_barrier(ap->pool, ap->err);
	if (ap->pending.n)
		layer_pathset_release(&ap->pending);
	return rc;
}

/* "dev:ino/base": a name in a directory, whatever path (symlinks included) led there. */
static int make_key(struct applier *ap, dev_t dev, ino_t ino, const char *base)
{
	st_buf_reset(&ap->key);
	return st_buf_addf(&ap->key, ap->err, "%llx:%llx/%s", (unsigned long long)dev,
	                   (unsigned long long)ino, base);
}

int applier_settle(struct applier *ap, int dir_fd, const char *base)
{
	struct stat st;
	int rc;

	if (!ap->pool || ap->pending.n == 0)
		return 0;
	if (ap->dir && dir_fd == ap->dir->fd) {
		st.st_dev = ap->dir->dev;
		st.st_ino = ap->dir->ino;
	} else if (fstat(dir_fd, &st) < 0) {
		return st_error_sys(ap->err, "entry '%s': stat directory", ap->name);
	}
	rc = make_key(ap, st.st_dev, st.st_ino, base);
	if (rc < 0)
		return rc;
	return layer_pathset_get(&ap->pending, ap->key.data) ? applier_barrier(ap) : 0;
}

int applier_clear_target(struct applier *ap, bool keep_dir, struct stat *st)
{
	int rc = applier_settle(ap, ap->parent_fd, ap->base);

	if (rc < 0)
		return rc;
	if (fstatat(ap->parent_fd, ap->base, st, AT_SYMLINK_NOFOLLOW) < 0) {
		st->st_mode = 0;
		return errno == ENOENT ? 0 : st_error_sys(ap->err, "entry '%s': stat", ap->name);
	}
	if (S_ISDIR(st->st_mode) && keep_dir)
		return 0;
	if (!S_ISDIR(st->st_mode)) {
		if (unlinkat(ap->parent_fd, ap->base, 0) < 0)
			return st_error_sys(ap->err, "entry '%s': unlink", ap->name);
		return 0;
	}
	/* the tree may hold queued files */
	rc = applier_barrier(ap);
	if (rc < 0)
		return rc;
	rc = layer_rmtree_at(ap->parent_fd, ap->base, ap->err);
	/* the removed tree may hold the cached parent of later entries */
	ap->cache_valid = false;
	return rc < 0 ? st_error_wrap(ap->err, "entry '%s'", ap->name) : 0;
}

/* ---- on the applying thread ---- */

static int write_data(struct applier *ap, int fd)
{
	const void *buf;
	size_t size;
	la_int64_t offset, end = 0;
	int r;

	while ((r = archive_read_data_block(ap->a, &buf, &size, &offset)) == ARCHIVE_OK) {
		const char *p = buf;
		while (size) {
			ssize_t n = pwrite(fd, p, size, offset);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return st_error_sys(ap->err, "entry '%s': write", ap->name);
			p += n;
			size -= (size_t)n;
			offset += n;
		}
		end = offset;
	}
	if (r != ARCHIVE_EOF)
		return st_error_set(ap->err, ST_EINVALID, "entry '%s': %s", ap->name,
		                    archive_error_string(ap->a));
	/* sparse entries end in a hole */
	if (end < archive_entry_size(ap->e) && ftruncate(fd, archive_entry_size(ap->e)) < 0)
		return st_error_sys(ap->err, "entry '%s': truncate", ap->name);
	return 0;
}

static int file_inline(struct applier *ap)
{
	cleanup_fd int fd = -1;
	struct layer_meta m;
	int rc;

	fd = openat(ap->parent_fd, ap->base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	            0600);
	if (fd < 0)
		return st_error_sys(ap->err, "entry '%s': create", ap->name);
	rc = write_data(ap, fd);
	if (rc == 0)
		rc = applier_meta(ap, &m);
	return rc < 0 ? rc : layer_meta_apply(&m, fd, -1, NULL, ap->name, ap->err);
}

/* ---- through the pool ---- */

/* Copies the content into f->data (holes, if any, as zeros). */
static int read_content(struct applier *ap, struct layer_file *f)
{
	const void *buf;
	size_t size, end = 0;
	la_int64_t offset;
	int r;

	while ((r = archive_read_data_block(ap->a, &buf, &size, &offset)) == ARCHIVE_OK) {
		if (offset < 0 || (uint64_t)offset > f->len || size > f->len - (size_t)offset)
			return st_error_set(ap->err, ST_EINVALID,
			                    "entry '%s': data beyond its size", ap->name);
		if ((size_t)offset > end)
			memset(f->data + end, 0, (size_t)offset - end);
		memcpy(f->data + offset, buf, size);
		if ((size_t)offset + size > end)
			end = (size_t)offset + size;
	}
	if (r != ARCHIVE_EOF)
		return st_error_set(ap->err, ST_EINVALID, "entry '%s': %s", ap->name,
		                    archive_error_string(ap->a));
	memset(f->data + end, 0, f->len - end);
	return 0;
}

/* One allocation: the struct, the xattr array, then names, values and content. */
static int file_new(struct applier *ap, const struct layer_meta *m, struct layer_file **out)
{
	size_t len = (size_t)archive_entry_size(ap->e);
	size_t n_name = strlen(ap->name) + 1, n_base = strlen(ap->base) + 1;
	size_t total = sizeof(struct layer_file) + m->n_xattrs * sizeof(struct layer_xattr) +
	               n_name + n_base + len;
	struct layer_xattr *xa;
	struct layer_file *f;
	char *p;

	for (size_t i = 0; i < m->n_xattrs; i++)
		total += strlen(m->xattrs[i].name) + 1 + m->xattrs[i].size;
	f = malloc(total);
	if (!f)
		return st_error_set(ap->err, ST_ENOMEM, "entry '%s': out of memory", ap->name);
	memset(f, 0, sizeof(*f));
	xa = (struct layer_xattr *)(f + 1);
	p = (char *)(xa + m->n_xattrs);
	f->meta = *m;
	f->meta.xattrs = xa;
	for (size_t i = 0; i < m->n_xattrs; i++) {
		size_t n = strlen(m->xattrs[i].name) + 1;
		xa[i].name = memcpy(p, m->xattrs[i].name, n);
		p += n;
		xa[i].value =
		        m->xattrs[i].size ? memcpy(p, m->xattrs[i].value, m->xattrs[i].size) : p;
		xa[i].size = m->xattrs[i].size;
		p += m->xattrs[i].size;
	}
	f->name = memcpy(p, ap->name, n_name);
	p += n_name;
	f->base = memcpy(p, ap->base, n_base);
	p += n_base;
	f->data = (unsigned char *)p;
	f->len = len;
	f->charge = total;
	f->seq = ap->n_entries;
	*out = f;
	return 0;
}

static int file_queued(struct applier *ap)
{
	struct layer_file *f = NULL;
	struct layer_meta m;
	int rc = applier_meta(ap, &m);

	if (rc == 0)
		rc = file_new(ap, &m, &f);
	if (rc == 0)
		rc = read_content(ap, f);
	if (rc == 0 && !ap->pool)
		rc = layer_pool_new(ap->threads, &ap->pool, ap->err);
	if (rc == 0)
		rc = make_key(ap, ap->dir->dev, ap->dir->ino, ap->base);
	if (rc == 0)
		rc = layer_pathset_add(&ap->pending, ap->key.data, 1, ap->err);
	if (rc < 0) {
		free(f);
		return rc;
	}
	f->dir = layer_dir_ref(ap->dir);
	layer_pool_submit(ap->pool, f);
	return 0;
}

int applier_make_file(struct applier *ap)
{
	struct stat st;
	la_int64_t size = archive_entry_size(ap->e);
	int rc = applier_clear_target(ap, false, &st);

	if (rc < 0)
		return rc;
	if (ap->threads > 1 && size >= 0 && (uint64_t)size <= LAYER_POOL_FILE_MAX &&
	    archive_entry_sparse_count(ap->e) == 0)
		return file_queued(ap);
	return file_inline(ap);
}
