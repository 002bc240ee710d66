/* include/strata/snapshot.h: layers extracted once, in overlay form, under
 * snapshots/<chainID>/, shared by every image and container that stacks them. A snapshot is kept
 * while an image of index.json has its chain or a holder (a container, a build) holds it; gc
 * removes the rest. */
#ifndef ST_SNAPSHOT_H
#define ST_SNAPSHOT_H

#include "strata/common.h"
#include "strata/image.h"
#include "strata/store.h"

/* The snapshots of one image, bottom layer first. */
struct st_snapshot_chain {
	size_t n;
	char **dirs; /* absolute paths of snapshots/<chainID> (overlay lower dirs) */
	struct st_digest *chain_ids;
};

/* Makes sure every layer of img is extracted (each at most once, whatever the number of
 * processes doing the same at once) and fills *out. A layer whose blob is missing or does not
 * match its digest is -ST_ENOTFOUND / -ST_EDIGEST naming it, and no snapshot of it stays. */
ST_API int st_snapshot_prepare(struct st_store *store, const struct st_image *img,
                               struct st_snapshot_chain *out, struct st_error *err);
ST_API void st_snapshot_chain_release(struct st_snapshot_chain *c);
/* Makes the snapshot of one layer (chain ID chain_id, the image's diffID diff_id) from fd
 * instead of the layer's blob, unless it exists: its bytes as they come (a pipe fed while the
 * blob downloads), checked against the layer's digest and diffID before it is renamed into
 * place, as st_snapshot_prepare checks. May run in threads of its own; the caller holds the
 * store's lease (st_store_lease) throughout. */
ST_API int st_snapshot_extract_fd(struct st_store *store, const struct st_descriptor *layer,
                                  const struct st_digest *diff_id, const struct st_digest *chain_id,
                                  int fd, struct st_error *err);

/* Drops the overlay bookkeeping xattrs (all trusted.overlay.* but opaque) of the tree at dir,
 * a container's upper directory, so that it can serve as a lower one. */
ST_API int st_snapshot_scrub(const char *dir, struct st_error *err);

enum st_snapshot_adopt_flags {
	/* dir has no overlay bookkeeping to drop: made without overlayfs (a COPY), or scrubbed */
	ST_SNAPSHOT_ADOPT_CLEAN = 1 << 0,
};

/* Makes `dir`, a directory in overlay form on the store's file system (a build step's or a
 * container's upper directory), the snapshot of `chain_id` without copying: it is scrubbed
 * (st_snapshot_scrub; not with ST_SNAPSHOT_ADOPT_CLEAN) and renamed into place. When that
 * snapshot exists already, dir is removed instead. */
ST_API int st_snapshot_adopt(struct st_store *store, const struct st_digest *chain_id,
                             const char *dir, unsigned flags, struct st_error *err);

/* Holds the snapshots of a chain for `holder` (a container ID, a build ID: [a-z0-9-], at most
 * 64), so that gc keeps them even when no image names them. Holding again replaces. */
ST_API int st_snapshot_hold(struct st_store *store, const char *holder,
                            const struct st_snapshot_chain *chain, struct st_error *err);
/* Drops a holder's hold (a missing hold is success). */
ST_API int st_snapshot_unhold(struct st_store *store, const char *holder, struct st_error *err);

/* An overlay of snapshots (or any directories) for st_overlay_mount. */
struct st_overlay {
	const char *const *lowers; /* top first */
	size_t n_lowers;
	const char *upper, *work; /* NULL: a read-only overlay */
	bool volatile_upper;      /* no syncs for the upper (a container removed at its end) */
	/* where short symlinks to the lowers are made on kernels without fsconfig(lowerdir+)
	 * (< 6.8): a directory of the caller's, created when needed */
	const char *link_dir;
};

/* Mounts the overlay at target with redirect_dir=off,metacopy=off (and index=off with an
 * upper), so an upper directory stays a plain diff; one lower without an upper is a read-only
 * bind. STRATA_OVERLAY_MOUNT=legacy forces the mount(2) path. */
ST_API int st_overlay_mount(const struct st_overlay *o, const char *target, struct st_error *err);

/* Registers gc's snapshot sweeper: snapshots of no image of index.json and no holder go. */
ST_API int st_snapshot_register_gc(struct st_store *store, struct st_error *err);

#endif
