/* include/strata/run.h: containers. A container is its image's snapshots stacked as overlayfs
 * lower directories under a per-container init layer and a private scratch (upper) layer, run in
 * new mount, PID, UTS, IPC (and network) namespaces with Docker's defaults: capabilities, seccomp
 * profile, masked /proc paths, Entrypoint/Cmd/Env/User merge. State lives in
 * <store>/containers/<id>/. */
#ifndef ST_RUN_H
#define ST_RUN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "strata/buf.h"
#include "strata/common.h"
#include "strata/image.h"
#include "strata/store.h"

/* ---- options ---- */

enum st_mount_type { ST_MOUNT_BIND = 0, ST_MOUNT_TMPFS, ST_MOUNT_VOLUME };

/* One -v, --mount or --tmpfs. Strings are owned. */
struct st_mount_spec {
	enum st_mount_type type;
	char *source;  /* bind: absolute host path; volume: name (NULL: anonymous); tmpfs: NULL */
	char *target;  /* absolute path in the container */
	char *options; /* tmpfs: mount data such as "size=64m,mode=1777"; else NULL */
	bool readonly;
	bool create_source; /* -v creates a missing host directory; --mount refuses it */
};

/* Parses `-v SRC:DST[:ro|rw]` (SRC absolute: bind; else a volume name) or `-v DST` (anonymous
 * volume). -ST_EINVALID naming the part. */
ST_API int st_mount_parse_volume(const char *s, struct st_mount_spec *out, struct st_error *err);
/* Parses `--mount type=bind|tmpfs|volume,source=..,target=..[,readonly][,tmpfs-size=..]
 * [,tmpfs-mode=..]` (src, dst, destination, ro accepted as Docker does). */
ST_API int st_mount_parse_mount(const char *s, struct st_mount_spec *out, struct st_error *err);
/* Parses `--tmpfs DST[:OPTIONS]`. */
ST_API int st_mount_parse_tmpfs(const char *s, struct st_mount_spec *out, struct st_error *err);
ST_API void st_mount_spec_release(struct st_mount_spec *m);

/* Parses a byte size as Docker: "512", "64k", "100m", "1g" (binary units, b/k/m/g suffix, case
 * insensitive). */
ST_API int st_run_parse_size(const char *s, int64_t *out, struct st_error *err);
/* Parses --cpus ("1.5") into thousandths of a CPU. */
ST_API int st_run_parse_cpus(const char *s, int64_t *out_milli, struct st_error *err);
/* A signal by name ("SIGTERM", "TERM", "term") or number; -ST_EINVALID. */
ST_API int st_run_parse_signal(const char *s, int *out, struct st_error *err);

enum st_network_mode { ST_NET_NONE = 0, ST_NET_HOST };

/* What `strata run` / `create` take. Strings and lists are borrowed. */
struct st_run_opts {
	const char *image;      /* as typed: name, ID, digest */
	const char *name;       /* NULL: none */
	const char *entrypoint; /* --entrypoint (with has_entrypoint); "" clears it */
	bool has_entrypoint;
	const char *const *args; /* COMMAND [ARG...] after the image */
	size_t n_args;
	const char *const *env; /* --env-file lines then -e, in order: "K=V" or "K" (from host) */
	size_t n_env;
	const char *workdir;  /* -w */
	const char *user;     /* -u user[:group] */
	const char *hostname; /* NULL: the short ID */
	enum st_network_mode network;
	bool privileged, read_only, init, tty, interactive, no_new_privs, auto_remove;
	const char *const *cap_add; /* "NET_ADMIN", "CAP_NET_ADMIN", "ALL" */
	size_t n_cap_add;
	const char *const *cap_drop;
	size_t n_cap_drop;
	const struct st_mount_spec *mounts;
	size_t n_mounts;
	int64_t memory;      /* bytes, 0: no limit */
	int64_t pids_limit;  /* 0: no limit */
	int64_t cpus_milli;  /* thousandths of a CPU, 0: no limit */
	const char *seccomp; /* profile path; NULL: the default; "unconfined": none */
	const char *runtime; /* NULL: built in; "crun", "runc": hand the bundle to that runtime */
	/* directories stacked above the image's layers, bottom first: a build step's layer not
	 * yet a snapshot (st_snapshot_scrub'd). Left unchanged while the container exists. */
	const char *const *top_lowers;
	size_t n_top_lowers;
};

/* ---- pure helpers (Docker's rules; unit tested) ---- */

/* The process arguments Docker runs: an --entrypoint replaces the image's Entrypoint and
 * discards its Cmd ("" leaves no entrypoint); COMMAND replaces Cmd. Empty: -ST_EINVALID. */
ST_API int st_run_merge_args(const struct st_image_config *img, const struct st_run_opts *o,
                             struct st_strv *out, struct st_error *err);
/* The environment: the image's Env, then each of o->env ("K=V" sets, "K" copies the host's K
 * when set), with PATH defaulted when missing and HOSTNAME (and TERM=xterm with a tty) first,
 * as Docker. */
ST_API int st_run_merge_env(const struct st_image_config *img, const struct st_run_opts *o,
                            const char *hostname, struct st_strv *out, struct st_error *err);
/* Parses a --env-file's text: one K=V or K per line; blank lines and '#' comments skipped. */
ST_API int st_run_parse_env_file(const char *text, struct st_strv *out, struct st_error *err);

/* A user resolved as runc does: by name or number through passwd/group text. */
struct st_exec_user {
	uid_t uid;
	gid_t gid;
	size_t n_groups;
	gid_t groups[64]; /* supplementary groups (when no group is named) */
	char home[256];
};

/* Resolves "user[:group]" ("" is root). passwd / group may be NULL (no such file). A name not
 * found is -ST_ENOTFOUND ("unable to find user alice: no matching entries in passwd file"); a
 * number not found is fine (gid 0 for a user, home "/"). */
ST_API int st_run_resolve_user(const char *spec, const char *passwd, const char *group,
                               struct st_exec_user *out, struct st_error *err);

/* Capabilities as a bit mask (bit n = capability n). */
ST_API uint64_t st_caps_default(void); /* Docker's 14 */
ST_API uint64_t st_caps_all(void);     /* every capability this kernel knows */
/* Capability number by name ("NET_ADMIN", "CAP_NET_ADMIN", any case), or -ST_EINVALID. */
ST_API int st_cap_from_name(const char *name, struct st_error *err);
ST_API const char *st_cap_name(int cap); /* "CAP_CHOWN"; NULL when unknown */
/* Docker's set for the options: default or all (privileged), then --cap-add, --cap-drop
 * ("ALL" allowed in both). */
ST_API int st_caps_for(const struct st_run_opts *o, uint64_t *out, struct st_error *err);

/* ---- seccomp profiles (Docker's JSON format, e.g. /usr/share/containers/seccomp.json) ---- */

/* Actions are the kernel's SECCOMP_RET_* values (what libseccomp's SCMP_ACT_* expand to). */
struct st_seccomp_arg {
	unsigned index;
	uint64_t value, value_two;
	int op; /* 1 NE, 2 LT, 3 LE, 4 EQ, 5 GE, 6 GT, 7 MASKED_EQ (libseccomp's scmp_compare) */
};
struct st_seccomp_rule {
	struct st_strv names;
	uint32_t action;
	size_t n_args;
	struct st_seccomp_arg args[6];
	uint64_t caps_include, caps_exclude;           /* "includes"/"excludes": {"caps": [...]} */
	struct st_strv arches_include, arches_exclude; /* Docker's names: "amd64", "arm64" */
	uint32_t min_kernel;                           /* includes.minKernel as major<<16|minor */
};
struct st_seccomp_profile {
	uint32_t default_action;
	size_t n_rules;
	struct st_seccomp_rule *rules;
};
/* Parses a profile; unknown actions, operators and capabilities are -ST_EINVALID naming the
 * field ("syscalls[3].action"). */
ST_API int st_seccomp_parse(const char *json, size_t len, struct st_seccomp_profile *out,
                            struct st_error *err);
ST_API void st_seccomp_profile_release(struct st_seccomp_profile *p);
/* Whether a rule applies to a process with capabilities `caps` on `arch` ("amd64") under a
 * kernel of version `kernel` (major<<16|minor). */
ST_API bool st_seccomp_rule_applies(const struct st_seccomp_rule *r, uint64_t caps,
                                    const char *arch, uint32_t kernel);

/* ---- containers ---- */

enum st_ctr_status { ST_CTR_CREATED = 0, ST_CTR_RUNNING, ST_CTR_EXITED };

/* What `ps` and `inspect` show. Strings are owned; release with st_container_info_release. */
struct st_container_info {
	char id[65];
	char *name;
	char *image;                        /* as the user named it */
	char *image_id;                     /* "sha256:..." */
	char *command;                      /* the merged arguments joined by spaces */
	int64_t created, started, finished; /* unix seconds; 0 when never */
	enum st_ctr_status status;
	pid_t pid;       /* host pid of the container's PID 1 while running */
	int exit_code;   /* while exited: 0..255 (128+n for signal n) */
	char *upper_dir; /* the scratch layer (containers/<id>/upper) */
};
ST_API void st_container_info_release(struct st_container_info *i);
ST_API const char *st_ctr_status_name(enum st_ctr_status s);

struct st_container; /* opaque: a container's config and paths */

/* Creates a container: looks the image up, extracts missing layers (snapshots held for the
 * container), merges Docker's configuration, makes containers/<id>/ with the init layer and an
 * empty scratch layer. Nothing runs yet. A name in use is -ST_EEXIST; an unknown image
 * -ST_ENOTFOUND; a missing --mount bind source -ST_ENOTFOUND; nothing is left on failure. */
ST_API int st_container_create(struct st_store *s, const struct st_run_opts *o,
                               struct st_container **out, struct st_error *err);
/* As st_container_create from an image already loaded (o->image may be NULL): builds' RUN
 * steps, whose intermediate images are not tagged. */
ST_API int st_container_create_image(struct st_store *s, const struct st_run_opts *o,
                                     const struct st_image *img, struct st_container **out,
                                     struct st_error *err);
/* The scratch layer's directory (borrowed). */
ST_API const char *st_container_upper_dir(const struct st_container *c);
/* Opens by ID, unique ID prefix or name. -ST_ENOTFOUND, -ST_EINVALID (ambiguous prefix). */
ST_API int st_container_open(struct st_store *s, const char *spec, struct st_container **out,
                             struct st_error *err);
ST_API void st_container_free(struct st_container *c);
ST_API const char *st_container_id(const struct st_container *c);
ST_API bool st_container_auto_remove(const struct st_container *c);
ST_API bool st_container_tty(const struct st_container *c);
/* Current state (the running state is checked, not trusted from the file). */
ST_API int st_container_inspect(struct st_container *c, struct st_container_info *out,
                                struct st_error *err);
/* Every container, newest first; `all` false keeps only running ones. */
ST_API int st_container_list(struct st_store *s, bool all, struct st_container_info **out,
                             size_t *out_n, struct st_error *err);
ST_API void st_container_list_free(struct st_container_info *v, size_t n);

/* Where the container's standard streams go. */
struct st_run_io {
	int in_fd, out_fd, err_fd; /* -1: /dev/null */
	bool tty;                  /* a pty: in_fd/out_fd are the user's terminal */
	/* -1, or the caller handles signals itself (nothing is forwarded) and makes this fd
	 * readable to have the container killed (a build cancelled by Ctrl-C) */
	int cancel_fd;
};

/* Runs the container in the foreground: the calling process is the monitor. Signals it gets
 * (INT, TERM, HUP, QUIT, USR1, USR2, WINCH) are forwarded, unless io->cancel_fd is set. *out_status
 * is the exit status of the container's PID 1 (128+n for a signal). Setup failures are errors whose
 * code tells which: a missing executable -ST_ENOTFOUND, one not executable -ST_EUNSUPPORTED. The
 * container is removed afterwards when it was created with auto_remove. */
ST_API int st_container_run(struct st_container *c, const struct st_run_io *io, int *out_status,
                            struct st_error *err);
/* Starts the container detached: a monitor process keeps its output in containers/<id>/log and
 * its exit status; returns once the command is running (or failed to start). */
ST_API int st_container_start(struct st_container *c, struct st_error *err);
/* Sends sig to PID 1. Not running: -ST_EINVALID. */
ST_API int st_container_kill(struct st_container *c, int sig, struct st_error *err);
/* The image's StopSignal (default SIGTERM), then SIGKILL after timeout_s; waits for the exit. */
ST_API int st_container_stop(struct st_container *c, int timeout_s, struct st_error *err);
/* Blocks until the container is not running; *out_status is its exit code. */
ST_API int st_container_wait(struct st_container *c, int *out_status, struct st_error *err);
/* Copies the log to fd; with follow, until the container stops. */
ST_API int st_container_logs(struct st_container *c, int fd, bool follow, struct st_error *err);
/* Removes the container (a running one only with force: killed first), its scratch layer and
 * its snapshot hold. */
ST_API int st_container_remove(struct st_container *c, bool force, struct st_error *err);

/* Runs a command in a running container (its namespaces, root, cgroup, capabilities, seccomp).
 */
struct st_exec_opts {
	const char *const *args;
	size_t n_args;
	const char *const *env; /* extra K=V */
	size_t n_env;
	const char *user; /* NULL: the container's */
	const char *workdir;
	bool tty;
	bool privileged;
};
ST_API int st_container_exec(struct st_container *c, const struct st_exec_opts *o,
                             const struct st_run_io *io, int *out_status, struct st_error *err);

/* ---- the scratch layer ---- */

/* One change of `diff`: 'A', 'C' or 'D' and the absolute path. */
typedef int (*st_diff_fn)(char kind, const char *path, void *ctx, struct st_error *err);
/* Reports the scratch layer's changes as `docker diff` does, sorted by path. */
ST_API int st_container_diff(struct st_container *c, st_diff_fn fn, void *ctx,
                             struct st_error *err);

struct st_commit_opts {
	const char *author, *message;
};
/* Turns the scratch layer into a new layer on top of the image (history entry, config with the
 * container's changes); *out describes the new manifest (untagged: the caller tags it). */
ST_API int st_container_commit(struct st_container *c, const struct st_commit_opts *o,
                               struct st_descriptor *out, struct st_error *err);
/* Writes the container's file system (image + init + scratch layers) as a tar to fd. */
ST_API int st_container_export(struct st_container *c, int fd, struct st_error *err);
/* Copies between the container's file system and the host, as `docker cp`: a file or a tree.
 * Container paths resolve inside its root only. */
ST_API int st_container_copy_out(struct st_container *c, const char *ctr_path,
                                 const char *host_path, struct st_error *err);
ST_API int st_container_copy_in(struct st_container *c, const char *host_path, const char *ctr_path,
                                struct st_error *err);

/* ---- OCI runtime bundles ---- */

/* Writes an OCI runtime bundle for the image and options: DIR/config.json (runtime-spec 1.0:
 * process, root, mounts, namespaces, capabilities, masked paths, seccomp, cgroup resources),
 * DIR/rootfs (the image unpacked flat) and the /etc files it binds. crun and runc run it. */
ST_API int st_bundle_write(struct st_store *s, const struct st_run_opts *o, const char *dir,
                           struct st_error *err);

#endif
