/* build/build-copy-internal.h: what the COPY/ADD files share: the plan (which sources go where,
 * with which owner and mode), confined path resolution, Go filepath.Match for one name, and the
 * walk that both the cache key and the copy follow so that they cannot disagree. */
#ifndef ST_BUILD_COPY_INTERNAL_H
#define ST_BUILD_COPY_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "build/build-copy.h"
#include "strata/buf.h"

#define COPY_MAX_LINKS 40
#define COPY_MAX_DEPTH 1024

enum copy_kind {
	CU_PATH, /* a file or directory of src_root */
	CU_ADD,  /* ADD of a local regular file: a tar archive is extracted, else copied */
	CU_URL,  /* ADD of an http(s) URL */
};

struct copy_unit {
	enum copy_kind kind;
	char *src;      /* src_root-relative resolved path ("" is the root), or the URL */
	char *dst;      /* upper-relative destination ("" is the root) */
	char *dst_dir;  /* ADD of a local file: where an archive is extracted */
	bool is_dir;    /* CU_PATH: a directory whose contents go into dst */
	bool keep_meta; /* dst exists as a directory (in the target or made for the dest):
	                 * the copy keeps its metadata instead of the source directory's */
};

/* A directory the destination needs, created before the copy. */
struct copy_dir {
	char *path; /* upper-relative */
	mode_t mode;
	uint32_t uid, gid;
	struct timespec mtime;
	bool from_target; /* exists in the target: keeps its metadata and mtime */
};

struct copy_chmod {
	bool set;
	bool symbolic;
	mode_t octal;
	const char *spec; /* symbolic: "u+x,go=r" */
};

struct copy_plan {
	const struct build_copy_req *r;
	int src_fd;    /* src_root (O_PATH directory) */
	int target_fd; /* target_root (O_PATH directory) or -1 */
	struct copy_unit *u;
	size_t n_u, cap_u;
	struct copy_dir *dirs;
	size_t n_dirs, cap_dirs;
	bool own_set; /* --chown given */
	uint32_t uid, gid;
	struct copy_chmod chmod;
	struct st_dockerignore *excl; /* --exclude */
	const char *cmd;              /* "COPY" or "ADD" */
};

/* build-copy-plan.c */
int copy_plan_make(const struct build_copy_req *r, struct copy_plan *p, struct st_error *err);
void copy_plan_release(struct copy_plan *p);
/* "Dockerfile:7: COPY src: " style prefix, then fmt. */
int copy_fail(const struct copy_plan *p, enum st_errc code, const char *src, struct st_error *err,
              const char *fmt, ...) ST_PRINTF(5, 6);
/* build-copy-owner.c: --chown and --chmod into the plan. */
int copy_parse_chown(struct copy_plan *p, struct st_error *err);
int copy_parse_chmod(struct copy_plan *p, struct st_error *err);
/* The mode an entry gets in the layer (with --chmod applied). */
mode_t copy_mode(const struct copy_plan *p, mode_t st_mode);
/* The owner an entry gets in the layer. */
void copy_owner(const struct copy_plan *p, const struct stat *st, uint32_t *uid, uint32_t *gid);
bool copy_is_url(const char *s);

/* build-copy-path.c */
enum copy_resolve_mode {
	CR_STRICT, /* the context: ".." above the root and absolute symlinks are refused */
	CR_SCOPED, /* a root filesystem: absolute symlinks and ".." stay inside (chroot) */
};
struct copy_resolved {
	bool exists;
	struct stat st; /* valid when exists */
};
/* Resolves `path` (relative to root_fd, "" or "/" for the root) component by component, following
 * symlinks (the last one too when follow_last), into out (no leading slash, "" for the root). A
 * missing component ends the walk with res->exists false and the rest appended. -ST_EINVALID when
 * CR_STRICT and the path leaves the root (the message names the symlink). */
int copy_resolve(int root_fd, const char *path, enum copy_resolve_mode mode, bool follow_last,
                 struct st_buf *out, struct copy_resolved *res, struct st_error *err);
/* filepath.Clean of an absolute or relative path, no leading "/" in the result (a leading ".."
 * stays, so a caller can refuse it); "" for the root or ".". */
int copy_clean(const char *path, struct st_buf *out, struct st_error *err);
/* Go filepath.Match of a single name (no '/'); -1 for a malformed pattern. */
int copy_match_name(const char *pattern, const char *name);
bool copy_has_meta(const char *s);
/* openat2(fd, path, flags, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS). */
int copy_open_beneath(int fd, const char *path, int flags);
/* "a/b" + "c" (either may be ""). */
int copy_join(struct st_buf *out, const char *a, const char *b, struct st_error *err);

/* build-copy-walk.c: both the key and the copy visit every entry through this. */
struct copy_ent {
	const char *src; /* src_root-relative */
	const char *dst; /* upper-relative */
	int src_dirfd;   /* the entry's parent directory in the source */
	const char *name;
	const struct stat *st;
	mode_t mode; /* as in the layer */
	uint32_t uid, gid;
	bool keep_meta; /* a directory whose metadata is not the source's */
	bool post;      /* a directory, visited again after its children */
};
typedef int (*copy_visit_fn)(void *ctx, const struct copy_ent *e, struct st_error *err);
int copy_walk_unit(struct copy_plan *p, const struct copy_unit *u, copy_visit_fn fn, void *ctx,
                   struct st_error *err);
/* Whether the walk leaves out the src_root-relative rel: .dockerignore for context paths,
 * --exclude for paths below the unit's source. */
bool copy_walk_skipped(const struct copy_plan *p, const struct copy_unit *u, const char *rel,
                       bool is_dir);

/* build-copy-pkey.c */
struct build_key;
/* The key item of one entry (build-copy.c): its digest into *out; link is scratch space. */
typedef int (*copy_item_fn)(const struct copy_plan *p, const struct copy_ent *e,
                            struct st_buf *link, struct st_digest *out, struct st_error *err);
/* Adds the items of the unit u, a directory, to key as the sequential walk with key_visit
 * would, its entries listed and hashed on several threads. 1 when done; 0 when the caller must
 * walk u itself (not a directory, one CPU, or anything the walk would report). */
int copy_key_walk_par(const struct copy_plan *p, const struct copy_unit *u, copy_item_fn item,
                      struct build_key *key, struct st_error *err);

/* build-copy-memo.c */
/* The content digest of the regular file fd (with stat st), from the memo when its stat key is
 * unchanged. m may be NULL. */
int copy_hash_file(struct build_hash_memo *m, int fd, const struct stat *st, struct st_digest *out,
                   struct st_error *err);
/* The content digest of the file with stat st when the memo has it (nothing is opened). */
bool copy_hash_memo_get(struct build_hash_memo *m, const struct stat *st, struct st_digest *out);
/* The digest of all bytes of fd read to EOF. */
int copy_hash_fd(int fd, struct st_digest *out, struct st_error *err);

/* build-copy-add.c */
/* Whether fd (rewound afterwards) holds a tar archive, plain or compressed, as Docker decides. */
int copy_is_archive(int fd, bool *out, struct st_error *err);
/* Extracts the archive fd (plain, gzip, bzip2, xz or zstd tar) onto the directory dir_fd
 * through st_layer_apply_fd, which confines every entry to it. */
int copy_extract_archive(int fd, int dir_fd, struct st_error *err);
/* ADD of a local file: extracted at u->dst_dir when it is a tar archive, else copied to u->dst. */
int copy_add_exec(const struct copy_plan *p, const struct copy_unit *u, int upper_fd,
                  struct st_error *err);
/* ADD <url>: key and execution. */
int copy_url_key(const struct copy_plan *p, const struct copy_unit *u, struct st_hasher *h,
                 struct st_error *err);
int copy_url_exec(const struct copy_plan *p, const struct copy_unit *u, int upper_fd,
                  struct st_error *err);
/* The file name ADD gives a URL's download ("" when the URL has none). */
int copy_url_name(const char *url, struct st_buf *out, struct st_error *err);

/* build-copy.c */
struct copy_file_meta {
	mode_t mode;
	uint32_t uid, gid;
	struct timespec mtime; /* tv_nsec UTIME_OMIT: leave it */
};
/* Writes src (read to EOF) as dfd/name, replacing a non-directory there. *buf is a lazily
 * allocated bounce buffer the caller frees. */
int copy_write_file(int dfd, const char *name, int src, const struct copy_file_meta *m,
                    unsigned char **buf, struct st_error *err);
/* As copy_write_file at the upper-relative dst, whose parent exists. */
int copy_write_at(int upper_fd, const char *dst, int src, const struct copy_file_meta *m,
                  struct st_error *err);
int copy_read_link(int dirfd, const char *name, struct st_buf *out, struct st_error *err);
/* Opens (creating as 0755 root when missing) the upper-relative directory `path`; components
 * made by this COPY are never symlinks followed. */
int copy_open_dst_dir(int upper_fd, const char *path, struct st_error *err);
/* Sets owner, mode (after chown, which clears set-id bits) and times of name in dfd. */
int copy_set_meta(int dfd, const char *name, bool is_link, mode_t mode, uint32_t uid, uint32_t gid,
                  const struct timespec *mtime, struct st_error *err);

#endif
