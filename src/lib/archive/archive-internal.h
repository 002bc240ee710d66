/* archive/archive-internal.h: what the archive module's files share: layout reads (load.c,
 * layout.c), an image's layers applied onto a directory (unpack, build outputs) and a save into
 * a directory (build outputs). */
#ifndef ST_ARCHIVE_INTERNAL_H
#define ST_ARCHIVE_INTERNAL_H

#include "strata/archive.h"

/* Opens path of the layout at dirfd read-only: beneath it only, never through a symlink. */
int st_archive_open_in(int dirfd, const char *path, struct st_error *err);
#include "strata/image.h"

/* Applies every layer of img, in flat form (whiteouts delete), onto the existing directory
 * `dir`, checking each layer's digest and diffID. Not transactional: callers apply into a
 * temporary directory. */
int archive_apply_image(struct st_store *store, const struct st_image *img, const char *dir,
                        struct st_error *err);

/* st_archive_save into the existing empty directory `dir` (BuildKit's tar=false form). */
int archive_save_dir(struct st_store *store, const struct st_save_image *images, size_t n,
                     enum st_archive_format format, const char *dir, struct st_error *err);

#endif
