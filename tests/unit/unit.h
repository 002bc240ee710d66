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

#endif
