/* util/fs.h: file-system helpers on directory fds: mkdir -p, whole-file reads with a ceiling,
 * atomic file replacement, short-write loops. */
#ifndef ST_UTIL_FS_H
#define ST_UTIL_FS_H

#include <stdbool.h>
#include <sys/types.h>

#include "strata/buf.h"
#include "strata/common.h"

/* mkdir -p of path (relative to dirfd, or absolute) with mode; existing dirs are fine. */
int st_mkdir_p(int dirfd, const char *path, mode_t mode, struct st_error *err);
/* Writes all of p[0..len), looping on short writes and EINTR. */
int st_write_all(int fd, const void *p, size_t len, struct st_error *err);
/* Reads fd to EOF into out (at most max bytes, 0 = unlimited: -ST_ELIMIT past it). */
int st_read_all(int fd, struct st_buf *out, size_t max, struct st_error *err);
/* Reads a whole file relative to dirfd. */
int st_read_file_at(int dirfd, const char *path, struct st_buf *out, size_t max,
                    struct st_error *err);
/* Atomically replaces dirfd/path with data: write to a temporary in tmpdirfd (same file system),
 * fsync, rename over, fsync dirfd. */
int st_write_file_atomic(int dirfd, const char *path, int tmpdirfd, const void *data, size_t len,
                         mode_t mode, struct st_error *err);
/* Replaces dirfd/path with data without fsync, for caches whose readers detect a torn file
 * themselves. The data is written over `path.spare` (the previous version's file, kept), which
 * is then exchanged with path (RENAME_EXCHANGE): no blocks are freed and no file is renamed
 * over another, both of which cost milliseconds on ext4. Readers of path see the old or the new
 * version whole; after a crash, or with two writers at once, it may be damaged. */
int st_write_file_replace(int dirfd, const char *path, const void *data, size_t len, mode_t mode,
                          struct st_error *err);
/* Removes a file written by st_write_file_replace and its spare; missing ones are success. */
int st_remove_replaced_file(int dirfd, const char *path, struct st_error *err);
/* rm -rf of dirfd/name without following symlinks; a missing entry is success. */
int st_rm_rf_at(int dirfd, const char *name, struct st_error *err);
/* Opens a directory relative to dirfd (O_DIRECTORY|O_CLOEXEC|O_NOFOLLOW). */
int st_open_dir_at(int dirfd, const char *path, struct st_error *err);
/* The names in the directory dirfd (".", ".." left out), sorted by strcmp, appended to out. The
 * fd is duplicated, not consumed, and read from its start. */
int st_list_dir(int dirfd, struct st_strv *out, struct st_error *err);
/* Marks the directory dirfd as the top of unrelated directory trees for ext2/3/4's inode
 * allocator (FS_TOPDIR_FL, `chattr +T`): each directory made in it then goes to a block group
 * of its own choice (Orlov's spread) rather than beside its parent. Best effort: other file
 * systems do not have the flag, and an error changes nothing. See docs/internals/build.md. */
void st_dir_spread(int dirfd);
/* A random lowercase hex string of 2*nbytes chars into out (NUL-terminated). */
int st_random_hex(char *out, size_t nbytes, struct st_error *err);

#endif
