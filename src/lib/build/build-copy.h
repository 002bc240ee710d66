/* build/build-copy.h: COPY and ADD of `strata build`: which files a step selects (Docker's
 * source and destination rules), the cache digest of what it will copy, and writing that into
 * a fresh directory that becomes the step's layer. The caller (build.c) owns stages, snapshots
 * and the cache; this file only knows files. */
#ifndef ST_BUILD_COPY_H
#define ST_BUILD_COPY_H

#include <stdbool.h>

#include "build/build-key.h"
#include "strata/digest.h"
#include "strata/dockerfile.h"

/* (dev, inode, size, mtime, ctime) -> content digest of context files, kept across builds in
 * the store (as git's index does), so an unchanged file is never read again to hash it. */
struct build_hash_memo;
int build_hash_memo_open(const char *path, struct build_hash_memo **out, struct st_error *err);
/* Writes the memo back (atomically) if it changed, then frees it. NULL is a no-op. */
int build_hash_memo_close(struct build_hash_memo *m, struct st_error *err);
/* Files whose digest came from the memo (hits) and files read to hash them (misses) since open:
 * for --progress and tests. The memo is safe to share between threads (parallel stages). */
void build_hash_memo_stats(struct build_hash_memo *m, uint64_t *hits, uint64_t *misses);

/* Downloads url into fd for ADD <url>; set by the caller (the registry module owns HTTP).
 * *out_mtime gets the Last-Modified time (0 when absent). */
typedef int (*build_fetch_fn)(void *ctx, const char *url, int fd, int64_t *out_mtime,
                              struct st_error *err);

struct build_copy_req {
	bool is_add;
	const char *const *srcs; /* sources after expansion, as written (globs allowed) */
	size_t n_srcs;
	const char *dest;    /* after expansion; relative to workdir unless absolute */
	const char *workdir; /* the stage's WORKDIR ("/" when unset) */
	/* where sources come from: the context directory, or (--from) the root filesystem of a
	 * stage or image (a read-only merged view the caller mounted) */
	const char *src_root;
	bool from_context; /* sources outside src_root are refused (symlinks too) */
	const struct st_dockerignore *ignore; /* context only; may be NULL */
	/* the target's root filesystem (read-only merged view), NULL for scratch: where an
	 * existing directory or symlink at dest decides the rules, and /etc/passwd and
	 * /etc/group resolve --chown names */
	const char *target_root;
	const char *chown;           /* --chown=user[:group], NULL when absent */
	const char *chmod;           /* --chmod=octal (or symbolic as BuildKit), NULL when absent */
	const char *const *excludes; /* --exclude patterns */
	size_t n_excludes;
	bool parents; /* --parents */
	bool link;    /* --link: the result must not depend on the target (no target lookups) */
	bool keep_git_dir;
	const char *checksum; /* ADD --checksum=sha256:... for URLs */
	build_fetch_fn fetch;
	void *fetch_ctx;
	struct build_hash_memo *memo; /* may be NULL */
	/* threads listing and hashing a source directory for the key: 0 one per CPU (at most
	 * 4), 1 the caller's alone; the key never depends on it */
	unsigned key_threads;
	/* file:line for messages ("Dockerfile:7") */
	const char *where;
};

/* Adds to the key everything that decides what the step will write (items "copy", then per
 * source "unit DST" / "add SRC" / "url URL" and per file "file DST"): for every selected file its
 * destination path, type, mode, uid/gid as they will be in the layer, symlink target and
 * content digest (not mtime, not ctime), plus the destination and flags. -ST_ENOTFOUND naming
 * the source ("Dockerfile:7: COPY src/missing: no such file or directory in the context"),
 * -ST_EINVALID for a source outside the context. */
int build_copy_key(const struct build_copy_req *r, struct build_key *key, struct st_error *err);

/* Writes the step's result into `upper` (an empty directory): the copied files, with the parent
 * directories the destination needs (those that exist in the target keep its mode and
 * owner). The directory is then turned into a layer by st_layer_create_from_upper. */
int build_copy_exec(const struct build_copy_req *r, const char *upper, struct st_error *err);

#endif
