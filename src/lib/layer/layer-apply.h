/* layer/layer-apply.h: shared by layer-apply.c (entries) and layer-apply-fs.c (confined path
 * resolution, path sets, removal). */
#ifndef ST_LAYER_APPLY_H
#define ST_LAYER_APPLY_H

#include <stdint.h>

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

#endif
