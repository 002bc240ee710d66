/* include/strata/strata.h: the whole public API of libstrata, and the one call that wires the
 * modules' gc roots, expanders and sweepers into a store. */
#ifndef ST_STRATA_H
#define ST_STRATA_H

#include "strata/archive.h"
#include "strata/buf.h"
#include "strata/build.h"
#include "strata/common.h"
#include "strata/digest.h"
#include "strata/dockerfile.h"
#include "strata/image.h"
#include "strata/layer.h"
#include "strata/ref.h"
#include "strata/registry.h"
#include "strata/run.h"
#include "strata/serve.h"
#include "strata/snapshot.h"
#include "strata/store.h"

/* Registers every module's garbage-collection hooks (manifest expanders, snapshot and cache
 * roots, snapshot sweeper) on an open store. Call once per handle before gc or fsck. */
ST_API int st_strata_register(struct st_store *store, struct st_error *err);

#endif
