/* include/strata/store.h: the content-addressed store. Its root is an OCI image layout
 * (oci-layout, index.json, blobs/<alg>/<hex>) that other OCI tools read directly, plus Strata's
 * own directories (tmp/, locks). Blobs become visible under a digest only once their bytes are
 * verified and synced; tags live in index.json as org.opencontainers.image.ref.name. */
#ifndef ST_STORE_H
#define ST_STORE_H

#include <stdbool.h>

#include "strata/buf.h"
#include "strata/common.h"
#include "strata/digest.h"

struct st_store; /* opaque */

/* OCI media types Strata names. */
#define ST_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define ST_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define ST_MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define ST_MT_OCI_LAYER "application/vnd.oci.image.layer.v1.tar"
#define ST_MT_OCI_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define ST_MT_OCI_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define ST_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define ST_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define ST_MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define ST_MT_DOCKER_LAYER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define ST_MT_DOCKER_LAYER "application/vnd.docker.image.rootfs.diff.tar"

#define ST_ANNOT_REF_NAME "org.opencontainers.image.ref.name"
#define ST_ANNOT_CREATED "org.opencontainers.image.created"

struct st_annotation {
	char *key;
	char *value;
};

/* An OCI content descriptor. Strings are owned (malloc'd); release with
 * st_descriptor_release(). */
struct st_descriptor {
	char *media_type;
	struct st_digest digest;
	uint64_t size;
	char *artifact_type; /* optional */
	/* platform, for entries of an index (optional) */
	char *os, *arch, *variant;
	size_t n_annotations;
	struct st_annotation *annotations;
};

ST_API void st_descriptor_release(struct st_descriptor *d);
ST_API int st_descriptor_copy(struct st_descriptor *dst, const struct st_descriptor *src,
                              struct st_error *err);
/* Borrowed value of an annotation, or NULL. */
ST_API const char *st_descriptor_annotation(const struct st_descriptor *d, const char *key);
/* Sets (value != NULL) or removes (value == NULL) an annotation. */
ST_API int st_descriptor_set_annotation(struct st_descriptor *d, const char *key, const char *value,
                                        struct st_error *err);

/* ---- opening ---- */

/* Opens, creating if needed, the layout at `root`. Free *out with st_store_free(). */
ST_API int st_store_open(const char *root, struct st_store **out, struct st_error *err);
ST_API void st_store_free(struct st_store *store); /* NULL is a no-op */
ST_API const char *st_store_root(const struct st_store *store);
/* An O_PATH-free directory fd of the root (borrowed), for modules that keep their own
 * directories under it (snapshots/, containers/, cache/). */
ST_API int st_store_root_fd(const struct st_store *store);

/* ---- blobs ---- */

struct st_blob_writer; /* a blob being written into tmp/ */

/* Starts a blob. Holds the store's writer lease until freed (gc waits for it). */
ST_API int st_blob_writer_new(struct st_store *store, struct st_blob_writer **out,
                              struct st_error *err);

enum st_blob_writer_open_flags {
	/* No lease while the bytes stream in (an unnamed temporary is invisible to gc): commit
	 * takes it once the bytes are verified and fsynced, and holds it until the writer is
	 * freed, so the caller can record its reference (a link, a tag) before gc may look.
	 * For long-lived writers (a registry's upload sessions), which would otherwise keep gc
	 * waiting for as long as a client keeps an upload open. */
	ST_BLOB_WRITER_OPEN_LEASE_AT_COMMIT = 1 << 0,
	/* Bytes go to disk with O_DIRECT where the file system allows it (else buffered, as
	 * without the flag): no copy into the page cache, no writeback at the commit. A write
	 * from a 4096-aligned buffer while nothing is staged goes out as it is (its 4096-multiple
	 * prefix); other bytes are staged in an aligned 512 KiB buffer first. For large uploads
	 * that are not read back at once (a registry's). */
	ST_BLOB_WRITER_OPEN_DIRECT = 1 << 1,
};
/* st_blob_writer_new with flags (enum st_blob_writer_open_flags). */
ST_API int st_blob_writer_open(struct st_store *store, unsigned flags, struct st_blob_writer **out,
                               struct st_error *err);
ST_API int st_blob_writer_write(struct st_blob_writer *w, const void *p, size_t len,
                                struct st_error *err);
/* Before the first write: the caller hashes every byte it writes, on its way (as layer creation
 * does), and gives that digest to seal or commit, which take it instead of hashing the same
 * bytes a second time. Only for producers in this process; bytes from outside (a file, the
 * network) are always hashed by the writer. */
ST_API void st_blob_writer_trust(struct st_blob_writer *w);
/* Bytes written so far. */
ST_API uint64_t st_blob_writer_size(const struct st_blob_writer *w);
/* A new read-only descriptor (its own offset) of the blob being written: the bytes written so
 * far and those to come, for a reader that follows the writer (a layer extracted while it
 * downloads). They are unverified until commit: the reader checks what it read itself. */
ST_API int st_blob_writer_reopen(const struct st_blob_writer *w, int *out_fd, struct st_error *err);
/* Verifies (if expected != NULL: -ST_EDIGEST naming both digests), fsyncs and renames the blob
 * into place. An existing blob of that digest is success. *out_digest (may be NULL) gets the
 * digest. After commit the writer can only be freed. */
ST_API int st_blob_writer_commit(struct st_blob_writer *w, const struct st_digest *expected,
                                 struct st_digest *out_digest, struct st_error *err);
/* Finishes and verifies the blob (if expected != NULL: -ST_EDIGEST naming both digests) without
 * making it visible; commit then only syncs and links it. Lets a caller verify several blobs
 * before any of them becomes visible. A blob that fails can only be freed. */
ST_API int st_blob_writer_seal(struct st_blob_writer *w, const struct st_digest *expected,
                               struct st_error *err);
/* Frees; an uncommitted blob's temporary file is removed. NULL is a no-op. */
ST_API void st_blob_writer_free(struct st_blob_writer *w);

/* Convenience: a whole buffer as one blob. */
ST_API int st_store_put_blob(struct st_store *store, const void *p, size_t len,
                             const struct st_digest *expected, struct st_digest *out_digest,
                             struct st_error *err);
/* Reads a blob into *out (at most max bytes, 0 = no limit) and verifies its digest:
 * -ST_ENOTFOUND, -ST_EDIGEST, -ST_ELIMIT. *out is untouched on failure. */
ST_API int st_store_read_blob(struct st_store *store, const struct st_digest *d, size_t max,
                              struct st_buf *out, struct st_error *err);
/* Opens a blob for reading (O_RDONLY|O_CLOEXEC); the caller verifies if it needs to. */
ST_API int st_store_open_blob(struct st_store *store, const struct st_digest *d, int *out_fd,
                              struct st_error *err);
ST_API int st_store_stat_blob(struct st_store *store, const struct st_digest *d, uint64_t *out_size,
                              struct st_error *err);
ST_API bool st_store_has_blob(struct st_store *store, const struct st_digest *d);
ST_API int st_store_delete_blob(struct st_store *store, const struct st_digest *d,
                                struct st_error *err);
/* Appends the blob's path to out. */
ST_API int st_store_blob_path(struct st_store *store, const struct st_digest *d, struct st_buf *out,
                              struct st_error *err);

/* ---- images and tags: the root index.json ---- */

/* The manifests of index.json, in file order. Free with st_store_entries_free(). The
 * ref name, if any, is an annotation of each descriptor. */
ST_API int st_store_list(struct st_store *store, struct st_descriptor **out, size_t *out_n,
                         struct st_error *err);
ST_API void st_store_entries_free(struct st_descriptor *d, size_t n);
/* Points `name` (a full normalised reference such as docker.io/library/busybox:latest) at
 * desc. An image that loses its last name stays in index.json untagged. name == NULL adds
 * desc untagged unless it is already present. Atomic under the index lock. */
ST_API int st_store_tag(struct st_store *store, const char *name, const struct st_descriptor *desc,
                        struct st_error *err);
/* Removes a name (-ST_ENOTFOUND if absent); the image stays untagged if it loses its last. */
ST_API int st_store_untag(struct st_store *store, const char *name, struct st_error *err);
/* Removes every untagged entry from index.json; returns how many. */
ST_API int st_store_prune_untagged(struct st_store *store, struct st_error *err);
/* Removes every entry (tagged or not) whose digest is d; returns how many. */
ST_API int st_store_remove_image(struct st_store *store, const struct st_digest *d,
                                 struct st_error *err);
/* Looks a name up: -ST_ENOTFOUND. */
ST_API int st_store_resolve(struct st_store *store, const char *name, struct st_descriptor *out,
                            struct st_error *err);

/* ---- leases and garbage collection ---- */

/* Writers hold a shared lease from their first blob until their tag is written; gc takes the
 * lease exclusively. Leases nest within one store handle. The lease is fair to gc: once gc
 * waits, new leases wait behind it (so a stream of overlapping writers cannot starve gc), hence
 * a thread that holds a lease must never wait for a lease on another handle of the same
 * store. */
ST_API int st_store_lease(struct st_store *store, struct st_error *err);
ST_API void st_store_unlease(struct st_store *store);

struct st_gc; /* a mark phase in progress */

/* Marks a descriptor reachable; gc descends into it through the registered expanders. */
ST_API int st_gc_mark(struct st_gc *gc, const struct st_digest *d, const char *media_type,
                      struct st_error *err);
ST_API bool st_gc_is_marked(const struct st_gc *gc, const struct st_digest *d);

/* A root source: marks everything some module holds (tags, snapshots, build cache, uploads). */
typedef int (*st_gc_root_fn)(struct st_store *store, struct st_gc *gc, void *ctx,
                             struct st_error *err);
/* An expander: given a marked blob of a media type it understands (a manifest, an index),
 * marks its children. Returns 0 when it does not know the media type. */
typedef int (*st_gc_expand_fn)(struct st_store *store, struct st_gc *gc, const struct st_digest *d,
                               const char *media_type, void *ctx, struct st_error *err);
/* Sweep hook: after blobs are swept, modules with their own directories (snapshots) sweep
 * what is no longer referenced. */
typedef int (*st_gc_sweep_fn)(struct st_store *store, struct st_gc *gc, void *ctx, uint64_t *freed,
                              struct st_error *err);

ST_API int st_store_add_gc_root(struct st_store *store, st_gc_root_fn fn, void *ctx,
                                struct st_error *err);
ST_API int st_store_add_gc_expander(struct st_store *store, st_gc_expand_fn fn, void *ctx,
                                    struct st_error *err);
ST_API int st_store_add_gc_sweeper(struct st_store *store, st_gc_sweep_fn fn, void *ctx,
                                   struct st_error *err);

struct st_gc_stats {
	uint64_t blobs_removed;
	uint64_t bytes_freed;
	uint64_t tmp_removed; /* stale temporary files of dead writers */
};
/* Mark from every root (index.json entries are always roots), sweep the rest. */
ST_API int st_store_gc(struct st_store *store, struct st_gc_stats *stats, struct st_error *err);

/* ---- fsck ---- */
typedef void (*st_fsck_report_fn)(const char *problem, void *ctx);
/* Re-hashes every blob, checks every reference from index.json down (through the expanders'
 * knowledge of manifests), reports each problem; returns the number of problems (>= 0). */
ST_API int st_store_fsck(struct st_store *store, st_fsck_report_fn report, void *ctx,
                         struct st_error *err);

#endif
