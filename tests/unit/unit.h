/* unit.h: what every cmocka test file includes first (cmocka needs these headers before it). */
#ifndef ST_UNIT_H
#define ST_UNIT_H
// clang-format off
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
// clang-format on
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Makes a fresh temporary directory for a test group; returns a malloc'd path. */
char *unit_mkdtemp(void);
/* rm -rf of a directory made by unit_mkdtemp (no symlink following). */
void unit_rmtree(const char *path);
/* Writes a file with the given content; asserts on failure. */
void unit_write_file(const char *path, const void *data, size_t len);

/* FS_TOPDIR_FL (`chattr +T`) of the directory at path: 1 set, 0 not, -1 when the file system
 * keeps no such flags. */
int unit_topdir_flag(const char *path);
/* Whether directories in dir can carry FS_TOPDIR_FL (ext2/3/4, and allowed to set it): a probe
 * directory made and removed there says. */
int unit_can_topdir(const char *dir);

#endif
