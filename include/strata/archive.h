/* include/strata/archive.h: images in and out of the store as files: `import` of a root
 * filesystem (tarball or directory) as a one-layer image, `save` of images to an oci-archive or
 * docker-archive, `load` of either (or of an OCI image layout directory), and name lookup of
 * images the way the docker CLI resolves them. */
#ifndef ST_ARCHIVE_H
#define ST_ARCHIVE_H

#include "strata/common.h"
#include "strata/layer.h"
#include "strata/store.h"

/* ---- finding an image ---- */

/* Resolves what a user typed to an image of the store, as Docker does: a name
 * ("busybox" = docker.io/library/busybox:latest), name@digest, a manifest digest, or an image
 * ID (the config digest, "sha256:..." or a unique hex prefix of it). *out is the manifest's
 * descriptor from index.json. -ST_ENOTFOUND, -ST_EINVALID (ambiguous prefix, bad reference). */
ST_API int st_image_lookup(struct st_store *store, const char *spec, struct st_descriptor *out,
                           struct st_error *err);
struct st_image;
struct st_platform;
/* st_image_lookup then st_image_load: the image a user named, loaded and verified (an index
 * resolved for `platform`, NULL: the host). Release *out with st_image_release(). */
ST_API int st_image_open(struct st_store *store, const char *spec,
                         const struct st_platform *platform, struct st_image *out,
                         struct st_error *err);
/* The image ID (config digest) of the image `desc` names (an index resolved for the host). */
ST_API int st_image_id(struct st_store *store, const struct st_descriptor *desc,
                       struct st_digest *out, struct st_error *err);

/* ---- import ---- */

struct st_import_opts {
	/* Dockerfile instructions applied to the config, as `docker import --change`: CMD,
	 * ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME,
	 * WORKDIR. */
	const char *const *changes;
	size_t n_changes;
	const char *message; /* history comment */
	struct st_layer_create_opts layer;
};

/* Makes a one-layer image from a root filesystem: `path` is a directory, or a tar file (plain,
 * gzip or zstd), or NULL to read a tar from `fd`. A tar is extracted (safely, with limits) into
 * a temporary directory of the store first, so a corrupt or malicious tarball changes nothing.
 * The image is added untagged; *out describes its manifest. */
ST_API int st_import(struct st_store *store, const char *path, int fd,
                     const struct st_import_opts *opts, struct st_descriptor *out,
                     struct st_error *err);

/* ---- filesystems of images ---- */

/* Writes the image's flattened root filesystem (whiteouts applied, as `umoci unpack`'s
 * rootfs) to `dest`, which must not exist: it is built in a temporary directory beside it and
 * renamed when complete, so a failure leaves nothing. Ownership is kept when running as root. */
ST_API int st_unpack(struct st_store *store, const struct st_image *img, const char *dest,
                     struct st_error *err);

enum st_change_kind { ST_CHANGE_ADD = 'A', ST_CHANGE_MODIFY = 'C', ST_CHANGE_DELETE = 'D' };
typedef void (*st_change_fn)(enum st_change_kind kind, const char *path, void *ctx);

/* Compares two root filesystems as `docker diff` does (type, mode, owner, size, mtime,
 * symlink target, xattrs; not contents): paths only in `new_root` are A, only in `old_root` D,
 * in both but different C. A deleted or added directory is reported, not its contents. Paths
 * are absolute ("/etc/passwd") and come in sorted order. */
ST_API int st_tree_diff(const char *old_root, const char *new_root, st_change_fn cb, void *ctx,
                        struct st_error *err);

/* ---- save and load ---- */

enum st_archive_format {
	ST_ARCHIVE_OCI = 0, /* oci-archive: a tar of an OCI image layout */
	ST_ARCHIVE_DOCKER,  /* docker-archive: manifest.json + OCI layout, as `docker save` 25+ */
};

struct st_save_image {
	struct st_descriptor desc; /* manifest (or index) descriptor, as in index.json */
	const char *name;          /* full normalised reference, or NULL */
};

/* Writes the images to fd as one tar. Blobs shared by several images go in once. */
ST_API int st_archive_save(struct st_store *store, const struct st_save_image *images, size_t n,
                           enum st_archive_format format, int fd, struct st_error *err);

/* Called for each image loaded: its descriptor and name (NULL when untagged). */
typedef void (*st_load_fn)(const struct st_descriptor *desc, const char *name, void *ctx);

/* Loads every image of a docker-archive, an oci-archive (path is a tar, or NULL to read fd) or
 * an OCI image layout directory, with its names: Docker's RepoTags, an
 * io.containerd.image.name annotation, or a full reference in ref.name. A bare tag in ref.name
 * (as skopeo writes) makes the image untagged unless `repo` names the repository. Every blob is
 * verified on the way in. */
ST_API int st_archive_load(struct st_store *store, const char *path, int fd, const char *repo,
                           st_load_fn cb, void *ctx, struct st_error *err);

/* ---- OCI image layout directories ---- */

/* The entries of the index.json of the layout directory dirfd, in file order (free with
 * st_store_entries_free()). -ST_ENOTFOUND when it has no index.json. Like every read below, it
 * opens files beneath dirfd only, never through a symlink. */
ST_API int st_layout_list(int dirfd, struct st_descriptor **out, size_t *out_n,
                          struct st_error *err);
/* Reads the blob d of the layout (at most max bytes) and checks its size and digest:
 * -ST_ENOTFOUND, -ST_EINVALID (size), -ST_EDIGEST, -ST_ELIMIT. *out is untouched on failure. */
ST_API int st_layout_read_blob(int dirfd, const struct st_descriptor *d, size_t max,
                               struct st_buf *out, struct st_error *err);
/* Copies the image manifest desc names, its config and layers, from the layout dirfd into the
 * store. Blobs the store has are not read; the others are verified (size, digest: -ST_EDIGEST
 * naming it) and become visible only once all of them are, so a bad blob leaves nothing. A
 * store's root is such a layout too (st_store_root_fd), so this also copies between stores.
 * *out_config (may be NULL) gets the config digest. */
ST_API int st_layout_copy_image(struct st_store *store, int dirfd, const struct st_descriptor *desc,
                                struct st_digest *out_config, struct st_error *err);

/* ---- build outputs (`strata build --output`, as BuildKit's exporters) ---- */

enum st_export_type {
	ST_EXPORT_OCI = 1, /* an oci-archive; tar=false: that OCI image layout as a directory */
	ST_EXPORT_DOCKER,  /* a docker-archive (`docker load`, `podman load`); tar=false: a dir */
	ST_EXPORT_LOCAL,   /* the flattened root filesystem written into a directory */
	ST_EXPORT_TAR,     /* that root filesystem as one tar */
};

struct st_export_opts {
	enum st_export_type type;
	char *dest; /* a path, or "-": the fd given to st_export_open (the tar forms only) */
	char *name; /* name=: the image's name in an archive instead of the build's tags */
	bool dir;   /* tar=false (oci and docker) */
	/* compression= (oci and docker): plain-tar layers are compressed with this (gzip, the
	 * zero default, or zstd; ST_LAYER_COMPRESS_NONE: layers as stored), as BuildKit does */
	enum st_layer_compression compression;
};

/* Parses an --output value as docker buildx does:
 * "type=T,dest=PATH[,name=N][,tar=BOOL][,compression=gzip|zstd|uncompressed]", a
 * bare PATH (type=local) or "-" (type=tar to stdout). -ST_EINVALID names the bad part (an
 * unknown type or key, a missing dest). Release *out with st_export_opts_release(). */
ST_API int st_export_parse(const char *spec, struct st_export_opts *out, struct st_error *err);
ST_API void st_export_opts_release(struct st_export_opts *o);

struct st_export; /* an output being prepared: nothing is at dest until st_export_write */

/* Checks the destination and creates the temporary file or directory beside it, so a bad or
 * unwritable dest fails before any build work. dest "-" writes to `fd` (borrowed; never a
 * terminal). Free *out with st_export_free(). -ST_EINVALID, -ST_ENOTFOUND, -ST_ESYS. */
ST_API int st_export_open(const struct st_export_opts *o, int fd, struct st_export **out,
                          struct st_error *err);
/* Writes the image `desc` names; `names` (as typed, e.g. the -t tags) name it in the archive
 * forms. The result is renamed to dest only when complete: a file replaces dest, a
 * directory appears at dest, or (type=local onto an existing directory) is merged into it as
 * BuildKit does (entries of the image replace those of the same path, directories merge,
 * everything else is kept). Call once. */
ST_API int st_export_write(struct st_export *x, struct st_store *store,
                           const struct st_descriptor *desc, const char *const *names,
                           size_t n_names, struct st_error *err);
/* Removes what an unfinished output left beside dest. NULL is a no-op. */
ST_API void st_export_free(struct st_export *x);

#endif
