/* archive/archive-internal.h: what load.c and layout.c share. */
#ifndef ST_ARCHIVE_INTERNAL_H
#define ST_ARCHIVE_INTERNAL_H

#include "strata/archive.h"

/* Opens path of the layout at dirfd read-only: beneath it only, never through a symlink. */
int st_archive_open_in(int dirfd, const char *path, struct st_error *err);

#endif
