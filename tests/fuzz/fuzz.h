/* fuzz.h: the invariant check of the fuzz targets. Unlike assert() it is evaluated in every
 * build (release builds define NDEBUG, and several checks have side effects). */
#ifndef ST_FUZZ_H
#define ST_FUZZ_H

#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(c)                                                                         \
	do {                                                                                  \
		if (!(c)) {                                                                   \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
			abort();                                                              \
		}                                                                             \
	} while (0)

#endif
