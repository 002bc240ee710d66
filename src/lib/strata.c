/* strata.c: wires the modules together where the store needs to know about them: gc and fsck
 * learn from each module what it references. */
#include "strata/strata.h"

#include "strata/build.h"
#include "strata/image.h"
#include "strata/snapshot.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

int st_strata_register(struct st_store *store, struct st_error *err)
{
	int rc = st_image_register_gc(store, err);

	if (rc == 0)
		rc = st_snapshot_register_gc(store, err);
	if (rc == 0)
		rc = st_build_register_gc(store, err);
	rc = rc ? rc : st_serve_register_gc(store, err);
	return rc;
}
