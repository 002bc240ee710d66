/* include/strata/layer.h: image layers. Creating a deterministic (PAX) tar of a filesystem diff,
 * compressed and hashed in the same pass, and applying a layer safely onto a directory. */
#ifndef ST_LAYER_H
#define ST_LAYER_H

#include <stdbool.h>

#include "strata/buf.h"
#include "strata/common.h"
#include "strata/digest.h"

/* ---- sinks: where the bytes of a layer go ---- */

/* A byte sink. write() consumes all len bytes or fails (returning -ST_E...). */
struct st_layer_sink {
	int (*write)(void *ctx, const void *p, size_t len, struct st_error *err);
	void *ctx;
};

/* A sink appending to a buffer (borrowed; its `max` caps growth). */
ST_API void st_layer_sink_buf(struct st_buf *buf, struct st_layer_sink *out);
/* A sink writing to a file descriptor (borrowed; short writes are retried). */
ST_API void st_layer_sink_fd(int *fd, struct st_layer_sink *out);

/* ---- creating a layer ---- */

enum st_layer_compression {
	ST_LAYER_COMPRESS_GZIP = 0, /* default: OCI tar+gzip */
	ST_LAYER_COMPRESS_ZSTD,     /* OCI tar+zstd */
	ST_LAYER_COMPRESS_NONE,     /* OCI tar */
};

/* Descriptor annotations recording how a layer was compressed, so that the same tree gives the
 * same digest again (set them from st_layer_result.compressor and .level). */
#define ST_ANNOT_LAYER_COMPRESSOR "io.strata.layer.compressor"
#define ST_ANNOT_LAYER_LEVEL "io.strata.layer.level"

/* Block size of the parallel gzip writer. Part of the output format: changing it changes the
 * compressed digest (so it is recorded in the compressor annotation). */
#define ST_LAYER_GZIP_BLOCK (128 * 1024)
/* Default gzip level (libdeflate's): on the minbase rootfs 1.3% larger than pigz -6 in under
 * half its time (docs/internals/layer.md has the measurements). */
#define ST_LAYER_GZIP_DEFAULT_LEVEL 4

struct st_layer_create_opts {
	enum st_layer_compression compression;
	int level;        /* 0: default (gzip ST_LAYER_GZIP_DEFAULT_LEVEL, zstd 3) */
	unsigned threads; /* 0: default (2). The output never depends on it. */
	/* When set, every mtime later than source_date_epoch is clamped to it. */
	bool has_epoch;
	int64_t source_date_epoch;
};

struct st_layer_result {
	struct st_digest diff_id; /* sha256 of the uncompressed tar */
	struct st_digest digest;  /* sha256 of the bytes written to the sink */
	uint64_t size;            /* bytes written to the sink */
	uint64_t tar_size;        /* bytes of the uncompressed tar */
	uint64_t n_entries;       /* tar entries, whiteouts included */
	const char *media_type;   /* static: ST_MT_OCI_LAYER{,_GZIP,_ZSTD} string */
	char compressor[64];      /* e.g. "gzip/zlib-1.2.13/block-131072", "zstd/1.5.4", "none" */
	int level;                /* effective level (0 for none) */
};

/* Writes the layer of an overlayfs upper directory, which already is the diff: a 0/0 character
 * device becomes the whiteout ".wh.<name>", a directory with trusted.overlay.opaque=y (or
 * user.overlay.opaque=y) is followed by ".wh..wh..opq"; trusted.overlay.* and user.overlay.*
 * xattrs are never written. The upper must come from an overlay mounted with
 * redirect_dir=off,metacopy=off,index=off. Streams into `sink` and fills *out.
 * Codes: -ST_ENOTFOUND (no such dir), -ST_ESYS, -ST_ENOMEM, -ST_EINVALID, or the sink's. */
ST_API int st_layer_create_from_upper(const char *upper, const struct st_layer_create_opts *opts,
                                      const struct st_layer_sink *sink, struct st_layer_result *out,
                                      struct st_error *err);
/* Writes the layer that turns tree `old` into tree `new_root` (added, changed, deleted paths,
 * deletions as whiteouts). old == NULL means an empty tree (the layer is all of new_root).
 * A regular file counts as changed when its type, mode, owner, size, mtime or xattrs differ. */
ST_API int st_layer_create_from_diff(const char *old, const char *new_root,
                                     const struct st_layer_create_opts *opts,
                                     const struct st_layer_sink *sink, struct st_layer_result *out,
                                     struct st_error *err);

/* Compresses a layer kept as a plain tar, read from fd to its end, into `sink` with
 * opts->compression (gzip or zstd), level and threads as for creating. The bytes equal those
 * st_layer_create_* writes for the same tree compressed at once. out->diff_id is not computed
 * (the caller has it: the digest of the tar) and n_entries is 0; the other fields are set. */
ST_API int st_layer_compress_fd(int fd, const struct st_layer_create_opts *opts,
                                const struct st_layer_sink *sink, struct st_layer_result *out,
                                struct st_error *err);

/* ---- applying a layer ---- */

enum st_layer_apply_mode {
	/* Whiteouts delete (the root filesystem of `umoci unpack`). */
	ST_LAYER_APPLY_FLAT = 0,
	/* Overlay lower-directory form (snapshots): ".wh.x" becomes a 0/0 character device "x",
	 * ".wh..wh..opq" the xattr trusted.overlay.opaque=y on its directory. */
	ST_LAYER_APPLY_OVERLAY,
};

/* Limits against tar and decompression bombs. 0 in a field means its default. */
struct st_layer_limits {
	uint64_t max_bytes;    /* uncompressed tar bytes; default 64 GiB */
	uint64_t max_entries;  /* default 4 Mi */
	size_t max_path_len;   /* bytes of an entry path or link target; default 4096 */
	size_t max_xattr_size; /* bytes of all xattr values of one entry; default 1 MiB */
};

struct st_layer_apply_opts {
	enum st_layer_apply_mode mode;
	struct st_layer_limits limits;
	/* Apply uid/gid from the tar. Default (false): only when running as root. */
	bool force_owner;
	/* Do not chown even as root. */
	bool no_owner;
	/* Threads that create regular files: 0 = default (the online CPUs, at most 4), 1 = all on
	 * the applying thread. The resulting tree, and the error of a failed apply, never depend
	 * on it. */
	unsigned threads;
};

struct st_layer_apply_stats {
	struct st_digest digest;  /* sha256 of the input bytes as read (compressed blob) */
	struct st_digest diff_id; /* sha256 of the uncompressed tar */
	uint64_t tar_size;
	uint64_t n_entries;
	enum st_layer_compression compression; /* detected */
};

/* Applies the layer read from layer_fd (gzip, zstd or plain tar, detected) onto the directory
 * root_fd. No path outside the root is ever created, changed or followed: every path resolves
 * with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS). Entries with ".." components, bad
 * whiteouts or links out of the tree are refused naming the entry (-ST_EINVALID); limits give
 * -ST_ELIMIT. Not transactional: on failure the root holds a partial layer (use
 * st_layer_extract_new() for an all-or-nothing result). stats may be NULL, and then no digest
 * is computed (a caller that checks the layer's digests passes stats). */
ST_API int st_layer_apply_fd(int root_fd, int layer_fd, const struct st_layer_apply_opts *opts,
                             struct st_layer_apply_stats *stats, struct st_error *err);
/* As st_layer_apply_fd with a root path. */
ST_API int st_layer_apply(const char *root, int layer_fd, const struct st_layer_apply_opts *opts,
                          struct st_layer_apply_stats *stats, struct st_error *err);
/* Extracts into a new temporary directory next to `dest` and renames it to `dest` only when
 * complete; on failure the temporary tree is removed. -ST_EEXIST if dest exists. */
ST_API int st_layer_extract_new(const char *dest, int layer_fd,
                                const struct st_layer_apply_opts *opts,
                                struct st_layer_apply_stats *stats, struct st_error *err);
/* rm -rf that never follows symlinks (the tree may come from an untrusted layer). ENOENT is
 * success. */
ST_API int st_layer_remove_tree(const char *path, struct st_error *err);

#endif
