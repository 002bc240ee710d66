/* include/strata/image.h: OCI image manifests, indexes and configs (and Docker schema 2
 * manifests and manifest lists): parsing with validation, canonical writing, platform
 * selection, chain IDs, loading a verified image from the store, and gc's view of manifests.
 * Received JSON is never re-serialised: its identity is the digest of the bytes it came in. */
#ifndef ST_IMAGE_H
#define ST_IMAGE_H

#include <stdbool.h>

#include "strata/buf.h"
#include "strata/common.h"
#include "strata/digest.h"
#include "strata/layer.h"
#include "strata/store.h"

#define ST_MAX_MANIFEST_SIZE (4u << 20) /* manifests and indexes */
#define ST_MAX_CONFIG_SIZE (8u << 20)   /* image configs (long histories) */

#define ST_MT_DOCKER_MANIFEST_V1 "application/vnd.docker.distribution.manifest.v1+json"
#define ST_MT_DOCKER_MANIFEST_V1_SIGNED "application/vnd.docker.distribution.manifest.v1+prettyjws"
#define ST_MT_DOCKER_LAYER_FOREIGN "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
#define ST_MT_OCI_LAYER_ND "application/vnd.oci.image.layer.nondistributable.v1.tar"
#define ST_MT_OCI_LAYER_ND_GZIP "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
#define ST_MT_OCI_LAYER_ND_ZSTD "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"

/* What a manifest-like document is. */
enum st_manifest_kind {
	ST_KIND_NONE = 0,
	ST_KIND_OCI_MANIFEST,
	ST_KIND_DOCKER_MANIFEST, /* Docker image manifest v2, schema 2 */
	ST_KIND_OCI_INDEX,
	ST_KIND_DOCKER_LIST, /* Docker manifest list */
};

/* The kind a media type names; ST_KIND_NONE for anything else (configs, layers, schema 1). */
ST_API enum st_manifest_kind st_manifest_kind_of(const char *media_type);
ST_API const char *st_manifest_kind_media_type(enum st_manifest_kind kind);
ST_API bool st_manifest_kind_is_index(enum st_manifest_kind kind);
/* True for the layer media types Strata can unpack (OCI and Docker tar, gzip, zstd, foreign and
 * non-distributable). */
ST_API bool st_media_type_is_layer(const char *media_type);
/* True for the two image config media types. */
ST_API bool st_media_type_is_config(const char *media_type);

/* Tells what p[0..len) is: by its "mediaType" field, else by `media_type` (the descriptor's or
 * Content-Type's, may be NULL), else by its structure ("manifests" is an index, "config" or
 * "layers" a manifest). A field that contradicts `media_type` is -ST_EINVALID; Docker schema 1
 * and unknown types are -ST_EUNSUPPORTED. */
ST_API int st_manifest_detect(const void *p, size_t len, const char *media_type,
                              enum st_manifest_kind *out, struct st_error *err);

/* ---- manifests ---- */

struct st_manifest {
	enum st_manifest_kind kind; /* ST_KIND_OCI_MANIFEST or ST_KIND_DOCKER_MANIFEST */
	char *artifact_type;        /* optional */
	struct st_descriptor config;
	size_t n_layers;
	struct st_descriptor *layers;
	struct st_descriptor *subject; /* optional */
	size_t n_annotations;
	struct st_annotation *annotations;
	/* identity: the digest and length of the bytes parsed, or of the last st_manifest_dump */
	struct st_digest digest;
	uint64_t size;
};

/* An empty manifest of `kind` to build on. */
ST_API void st_manifest_init(struct st_manifest *m, enum st_manifest_kind kind);
/* Parses and validates (schemaVersion 2, descriptors' media types, digests and sizes, field
 * types; errors name the field: "manifest.layers[1]: field \"size\" must be ..."). An index is
 * -ST_EINVALID. *out is written only on success. */
ST_API int st_manifest_parse(const void *p, size_t len, const char *media_type,
                             struct st_manifest *out, struct st_error *err);
ST_API void st_manifest_release(struct st_manifest *m);
/* Copies d in as the config / appends a copy of d to the layers. */
ST_API int st_manifest_set_config(struct st_manifest *m, const struct st_descriptor *d,
                                  struct st_error *err);
ST_API int st_manifest_add_layer(struct st_manifest *m, const struct st_descriptor *d,
                                 struct st_error *err);
/* Sets (value != NULL) or removes an annotation. */
ST_API int st_manifest_set_annotation(struct st_manifest *m, const char *key, const char *value,
                                      struct st_error *err);
/* Writes m canonically (sorted keys, compact) to out and sets m->digest and m->size. */
ST_API int st_manifest_dump(struct st_manifest *m, struct st_buf *out, struct st_error *err);
/* Checks that m describes a runnable image: an image config media type and layers of known
 * media types. -ST_EUNSUPPORTED (an artifact, an unknown layer type). */
ST_API int st_manifest_check_image(const struct st_manifest *m, struct st_error *err);

/* ---- indexes (OCI image index, Docker manifest list) ---- */

struct st_index {
	enum st_manifest_kind kind; /* ST_KIND_OCI_INDEX or ST_KIND_DOCKER_LIST */
	char *artifact_type;
	size_t n_manifests;
	struct st_descriptor *manifests; /* platform in os/arch/variant */
	struct st_descriptor *subject;
	size_t n_annotations;
	struct st_annotation *annotations;
	struct st_digest digest;
	uint64_t size;
};

ST_API void st_index_init(struct st_index *ix, enum st_manifest_kind kind);
ST_API int st_index_parse(const void *p, size_t len, const char *media_type, struct st_index *out,
                          struct st_error *err);
ST_API void st_index_release(struct st_index *ix);
ST_API int st_index_add_manifest(struct st_index *ix, const struct st_descriptor *d,
                                 struct st_error *err);
ST_API int st_index_set_annotation(struct st_index *ix, const char *key, const char *value,
                                   struct st_error *err);
ST_API int st_index_dump(struct st_index *ix, struct st_buf *out, struct st_error *err);

/* ---- platforms (containerd's platforms.Only semantics) ---- */

struct st_platform {
	char os[32];
	char arch[32];
	char variant[16];
};

/* The platform this binary runs on (linux/amd64 on x86-64). */
ST_API void st_platform_host(struct st_platform *out);
/* Parses "os/arch[/variant]" and normalises it (x86_64 is amd64, aarch64 is arm64, arm64/v8 is
 * arm64, armhf is arm/v7, ...). -ST_EINVALID. */
ST_API int st_platform_parse(const char *s, struct st_platform *out, struct st_error *err);
/* Formats "os/arch[/variant]" into out[80]. */
ST_API void st_platform_str(const struct st_platform *p, char *out);
/* How well (os, arch, variant) suits `want`: 0 is an exact match, larger numbers are worse but
 * compatible (amd64/v3 runs v2, v1 and 386; arm/v7 runs v6 and v5; arm64 runs arm/v8..v5);
 * -1 when it cannot run. Both sides are normalised first. */
ST_API int st_platform_rank(const struct st_platform *want, const char *os, const char *arch,
                            const char *variant);
/* The entry of ix best suiting want (NULL: the host), entries without a platform last and
 * the first of equals winning, as containerd. Returns its position, or -ST_ENOTFOUND naming
 * the platforms on offer. */
ST_API int st_index_select(const struct st_index *ix, const struct st_platform *want,
                           struct st_error *err);

/* ---- image configs ---- */

/* Lists of strings are struct st_strv (strata/buf.h): v is NULL when the field is absent or
 * null, else v[n] == NULL. */

struct st_healthcheck {
	struct st_strv test; /* ["CMD", ...], ["CMD-SHELL", cmd], ["NONE"] */
	int64_t interval, timeout, start_period, start_interval; /* nanoseconds, 0 = inherit */
	int64_t retries;
};

struct st_history {
	char *created, *created_by, *author, *comment; /* each optional */
	bool empty_layer;
};

/* The parsed view of an image config (image-spec config.md). The JSON document is the truth:
 * fields Strata does not know survive the setters and st_image_config_dump. Release with
 * st_image_config_release(); change only through the setters. */
struct st_image_config {
	char *created, *author, *architecture, *os, *variant;
	/* "config" */
	char *user;
	struct st_strv exposed_ports; /* keys of ExposedPorts, sorted: "80/tcp" */
	struct st_strv env, entrypoint, cmd, shell, on_build;
	struct st_strv volumes; /* keys of Volumes, sorted */
	char *working_dir;
	size_t n_labels;
	struct st_annotation *labels;
	char *stop_signal;
	struct st_healthcheck *healthcheck; /* NULL when absent */
	bool args_escaped;
	/* "rootfs" (type "layers") */
	size_t n_diff_ids;
	struct st_digest *diff_ids;
	size_t n_history;
	struct st_history *history;
	void *priv; /* the JSON document */
};

/* Parses and validates; errors name the field ("config.config.Env[2]: must be a string"). */
ST_API int st_image_config_parse(const void *p, size_t len, struct st_image_config *out,
                                 struct st_error *err);
/* A new config of no layers: architecture, os (variant may be NULL), rootfs, empty config. */
ST_API int st_image_config_init(struct st_image_config *c, const char *os, const char *arch,
                                const char *variant, struct st_error *err);
ST_API void st_image_config_release(struct st_image_config *c);
ST_API int st_image_config_copy(struct st_image_config *dst, const struct st_image_config *src,
                                struct st_error *err);
/* Canonical JSON (sorted keys, compact); the same config always gives the same bytes. */
ST_API int st_image_config_dump(const struct st_image_config *c, struct st_buf *out,
                                struct st_error *err);

/* Setters: each is all or nothing (on failure the config is unchanged). A NULL string or list
 * removes the field. */
ST_API int st_image_config_set_created(struct st_image_config *c, const char *rfc3339,
                                       struct st_error *err);
ST_API int st_image_config_set_author(struct st_image_config *c, const char *author,
                                      struct st_error *err);
ST_API int st_image_config_set_platform(struct st_image_config *c, const char *os, const char *arch,
                                        const char *variant, struct st_error *err);
ST_API int st_image_config_set_user(struct st_image_config *c, const char *user,
                                    struct st_error *err);
ST_API int st_image_config_set_working_dir(struct st_image_config *c, const char *dir,
                                           struct st_error *err);
ST_API int st_image_config_set_stop_signal(struct st_image_config *c, const char *sig,
                                           struct st_error *err);
ST_API int st_image_config_set_env(struct st_image_config *c, const char *const *v, size_t n,
                                   struct st_error *err);
/* Sets one variable: replaces "name=..." in Env or appends "name=value" (Docker's ENV). */
ST_API int st_image_config_setenv(struct st_image_config *c, const char *name, const char *value,
                                  struct st_error *err);
ST_API int st_image_config_set_entrypoint(struct st_image_config *c, const char *const *v, size_t n,
                                          struct st_error *err);
ST_API int st_image_config_set_cmd(struct st_image_config *c, const char *const *v, size_t n,
                                   struct st_error *err);
ST_API int st_image_config_set_shell(struct st_image_config *c, const char *const *v, size_t n,
                                     struct st_error *err);
ST_API int st_image_config_add_on_build(struct st_image_config *c, const char *trigger,
                                        struct st_error *err);
/* Removes every ONBUILD trigger (an image built FROM this one ran them). */
ST_API int st_image_config_clear_on_build(struct st_image_config *c, struct st_error *err);
/* Adds a port ("80", "80/tcp", "53/udp"; no protocol means tcp, as Docker). */
ST_API int st_image_config_add_exposed_port(struct st_image_config *c, const char *port,
                                            struct st_error *err);
ST_API int st_image_config_add_volume(struct st_image_config *c, const char *path,
                                      struct st_error *err);
ST_API int st_image_config_set_label(struct st_image_config *c, const char *key, const char *value,
                                     struct st_error *err);
ST_API int st_image_config_set_healthcheck(struct st_image_config *c,
                                           const struct st_healthcheck *hc, struct st_error *err);
ST_API int st_image_config_set_args_escaped(struct st_image_config *c, bool on,
                                            struct st_error *err);
/* Appends a layer's diffID and, if h != NULL, its history entry (empty_layer is ignored). */
ST_API int st_image_config_add_layer(struct st_image_config *c, const struct st_digest *diff_id,
                                     const struct st_history *h, struct st_error *err);
/* Appends a history entry as it is (empty_layer true for steps that made no layer). */
ST_API int st_image_config_add_history(struct st_image_config *c, const struct st_history *h,
                                       struct st_error *err);

/* ---- chain IDs (image-spec config.md) ---- */

/* ChainID(L0) = DiffID(L0); ChainID(L0..n) = sha256(ChainID(L0..n-1) + " " + DiffID(Ln)).
 * Writes the chain ID of the whole stack of n >= 1 layers. */
ST_API int st_image_chain_id(const struct st_digest *diff_ids, size_t n, struct st_digest *out,
                             struct st_error *err);
/* Writes the chain ID of every prefix: out[i] = ChainID(L0..i); out has n entries. */
ST_API int st_image_chain_ids(const struct st_digest *diff_ids, size_t n, struct st_digest *out,
                              struct st_error *err);

/* ---- the store ---- */

/* Reads the blob d names, at most `max` bytes (-ST_ELIMIT if d->size is larger), and checks
 * its digest and size: -ST_EDIGEST naming the blob, -ST_ENOTFOUND. */
ST_API int st_image_read(struct st_store *store, const struct st_descriptor *d, size_t max,
                         struct st_buf *out, struct st_error *err);

/* An image loaded and verified: its manifest (an index resolved to one platform) and config. */
struct st_image {
	struct st_descriptor desc; /* the manifest's descriptor */
	struct st_manifest manifest;
	struct st_image_config config;
	bool from_index;
	struct st_digest index_digest; /* the index desc named, when from_index */
};

/* Reads the manifest or index `desc` names; an index is resolved for `platform` (NULL: the
 * host). Then reads the config, checking every digest and size, that the manifest is an image
 * (not an artifact) and that config and manifest agree on the number of layers. */
ST_API int st_image_load(struct st_store *store, const struct st_descriptor *desc,
                         const struct st_platform *platform, struct st_image *out,
                         struct st_error *err);
ST_API void st_image_release(struct st_image *img);

/* Writes config and manifest as blobs: the config goes in as m's config descriptor, the
 * manifest (canonical) is described in *out (media type, digest, size). m's layers must
 * already be in the store and match the config's diff_ids in number. */
ST_API int st_image_write(struct st_store *store, const struct st_image_config *config,
                          struct st_manifest *m, struct st_descriptor *out, struct st_error *err);

/* The image `in` (a manifest, or an index and the manifests of it in the store) with every
 * plain-tar layer replaced by its compressed copy (gzip or zstd, at the layer module's default
 * level): what push and OCI export send, as `docker push` compresses what a build kept plain.
 * A layer is compressed once per algorithm; the copy stays in the store (gc keeps it while its
 * tar is kept), so a re-push only looks it up. Layers already compressed, the config and the
 * annotations stay as they are, so the config digest (the image ID) is the same. *out is a copy
 * of *in when no layer needed it; else the new manifest (index) is written to the store,
 * referenced by nothing: the caller holds a lease (st_store_lease) until it is done with it. */
ST_API int st_image_compress(struct st_store *store, const struct st_descriptor *in,
                             enum st_layer_compression c, struct st_descriptor *out,
                             struct st_error *err);

/* Registers gc's expander for manifests and indexes: a marked manifest marks its config,
 * layers and subject; a marked index its manifests and subject. */
ST_API int st_image_register_gc(struct st_store *store, struct st_error *err);

#endif
