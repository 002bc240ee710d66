/* layer/layer-apply.h: shared by the files of apply: layer-apply.c (entries, whiteouts),
 * layer-apply-file.c (regular files, inline or through the pool), layer-apply-pool.c (the worker
 * threads) and layer-apply-fs.c (confined path resolution, path sets, metadata, removal). */
#ifndef ST_LAYER_APPLY_H
#define ST_LAYER_APPLY_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "layer/archive-api.h"
#include "layer/layer-internal.h"

/* A set of canonical paths ("a/b", "" for the root) with a flag byte each. */
#define LAYER_PATH_CREATED 1  /* created or replaced by this layer */
#define LAYER_PATH_WHITEOUT 2 /* overlay form: whiteout device made by this layer */

struct layer_pathset {
	struct layer_pathent {
		char *path;
		unsigned char flags;
	} * v;
	size_t cap, n;
};
void layer_pathset_release(struct layer_pathset *s);
int layer_pathset_add(struct layer_pathset *s, const char *path, unsigned char flags,
                      struct st_error *err);
unsigned char layer_pathset_get(const struct layer_pathset *s, const char *path);

/* openat2(root_fd, path, flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS [| extra]). Returns the
 * fd or -errno; never follows anything out of root_fd. */
int layer_openat2(int root_fd, const char *path, int flags, uint64_t extra_resolve);
/* Opens (O_PATH) the directory `path` under the root, creating missing components as 0755
 * directories when `create`. Returns the fd or a -ST_E... code with err set. */
int layer_open_dir(int root_fd, const char *path, bool create, const char *entry,
                   struct st_error *err);

/* ---- metadata ---- */

struct layer_xattr {
	const char *name;
	const void *value;
	size_t size;
};

/* What apply sets on an entry once it exists. */
struct layer_meta {
	mode_t mode; /* permission bits with setuid/setgid/sticky */
	uid_t uid;
	gid_t gid;
	bool chown;     /* set uid/gid */
	bool is_link;   /* a symlink: no chmod */
	bool set_times; /* false for directories, whose times are set last */
	struct timespec mtime;
	const struct layer_xattr *xattrs; /* the ones to set (skipped names already left out) */
	size_t n_xattrs;
};

/* Applies m in the order chown, chmod (chown clears setuid), xattrs (chown and chmod clear
 * security.capability), times: on fd, or (fd < 0) on `base` in parent_fd without following it.
 * `entry` names the entry in messages. */
int layer_meta_apply(const struct layer_meta *m, int fd, int parent_fd, const char *base,
                     const char *entry, struct st_error *err);

/* ---- the file pool ---- */

/* A directory entries are created in: the applying thread's cached parent, shared with the file
 * jobs queued in it (they hold references, so it outlives the cache). */
struct layer_dir {
	int fd; /* O_PATH */
	dev_t dev;
	ino_t ino;
	atomic_uint refs;
	unsigned queued; /* jobs queued in it through this handle (pool lock) */
};
/* Wraps fd (taken, closed on failure). */
int layer_dir_new(int fd, struct layer_dir **out, struct st_error *err);
struct layer_dir *layer_dir_ref(struct layer_dir *d);
void layer_dir_unref(struct layer_dir *d); /* NULL is a no-op */

/* A regular file with its whole content in memory: the pool's unit of work. One allocation
 * holds the struct, the strings, the xattrs and the data. */
struct layer_file {
	struct layer_file *next;
	uint64_t seq;          /* entry number: the earliest failure is the one reported */
	struct layer_dir *dir; /* a reference */
	const char *name;      /* the entry's name, for messages */
	const char *base;      /* the last component, created in dir */
	struct layer_meta meta;
	unsigned char *data;
	size_t len;
	size_t charge; /* bytes counted against the pool's budget */
	unsigned slot; /* the pool's entry for dir */
};
void layer_file_free(struct layer_file *f); /* drops the dir reference; NULL is a no-op */

struct layer_pool;
/* Starts n worker threads that create, write and finish regular files. */
int layer_pool_new(unsigned n, struct layer_pool **out, struct st_error *err);
/* Queues f (taken), waiting while the pool holds too many bytes, jobs or directories. Jobs in
 * one directory (by inode) run on one worker in order: creates in a directory serialise on its
 * lock in the kernel anyway, and workers in different directories do not wait on each other. */
void layer_pool_submit(struct layer_pool *p, struct layer_file *f);
/* Has a job failed? (then the apply stops; the barrier tells which) */
bool layer_pool_failed(struct layer_pool *p);
/* Waits until no job is queued or running. Returns 0, or the error of the earliest entry that
 * failed (err filled). */
int layer_pool_barrier(struct layer_pool *p, struct st_error *err);
/* Drops queued jobs, joins the workers. NULL is a no-op. */
void layer_pool_free(struct layer_pool *p);

/* ---- the applier (layer-apply.c, layer-apply-file.c) ---- */

struct dirtime {
	char *path;
	struct timespec mtime;
};

struct applier {
	int root_fd;
	const struct st_layer_apply_opts *o;
	struct st_layer_limits lim;
	bool chown;
	struct st_error *err;
	struct archive *a;
	struct archive_entry *e;
	const char *name;            /* the entry's name as the tar gives it, for messages */
	struct st_buf path, link;    /* cleaned paths of the entry and of its link target */
	char *base;                  /* last component of path (inside path.data) */
	int parent_fd;               /* dir->fd: O_PATH fd of the entry's parent */
	struct layer_dir *dir;       /* the cached parent */
	struct st_buf cached_parent; /* the parent path dir resolves, when valid */
	bool cache_valid;
	struct layer_pathset seen;
	struct dirtime *dirs;
	size_t n_dirs, cap_dirs;
	uint64_t n_entries;
	struct layer_xattr *xa; /* the entry's xattrs (borrowed from e) */
	size_t n_xa, cap_xa;
	/* pool mode (threads > 1) */
	unsigned threads;
	struct layer_pool *pool;      /* started with the first pooled file */
	struct layer_pathset pending; /* "dev:ino/base" of files queued since the last barrier */
	struct st_buf key;
};

/* The entry's metadata, its xattrs borrowed from ap->e (valid until the next entry). */
int applier_meta(struct applier *ap, struct layer_meta *m);
/* Regular file entry (parent open, path not a whiteout). */
int applier_make_file(struct applier *ap);
/* Waits for every queued file (pool mode; a no-op otherwise). Returns a worker's error. */
int applier_barrier(struct applier *ap);
/* Barrier if a queued file may be at `base` in directory fd `dir_fd` (about to be replaced,
 * removed or linked to). */
int applier_settle(struct applier *ap, int dir_fd, const char *base);
/* Removes whatever is at base unless it is a directory and keep_dir; *st gets what was there
 * (st_mode 0 if nothing). */
int applier_clear_target(struct applier *ap, bool keep_dir, struct stat *st);

#endif
