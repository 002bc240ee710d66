/* run-copy.h: tree copies between directory fds that never follow symlinks. */
#ifndef ST_RUN_COPY_H
#define ST_RUN_COPY_H

#include "strata/common.h"

/* Copies src_dir/src (any type; a directory with its contents) to dst_dir/dst, replacing a
 * non-directory there and merging into a directory. */
int ctr_copy_entry(int src_dir, const char *src, int dst_dir, const char *dst, int depth,
                   struct st_error *err);
/* Copies the entries of one directory into another. */
int ctr_copy_contents(int src_dirfd, int dst_dirfd, struct st_error *err);

#endif
