/* run-internal.h: what the runtime's files share: the persisted container spec, its state, the
 * child's setup steps and the helpers for paths inside a container root. */
#ifndef ST_RUN_INTERNAL_H
#define ST_RUN_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "strata/run.h"

#define CTR_DIR "containers"
/* What a --rm container loses at exit lives on a tmpfs (one rm -rf there instead of ~20 ext4
 * unlinks); its scratch layer and log stay on disk under CTR_SCRATCH_DIR/<id>. */
#define CTR_VOLATILE_BASE "/dev/shm/strata-run"
#define CTR_SCRATCH_DIR CTR_DIR "/.scratch"
#define CTR_DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define CTR_SECCOMP_DEFAULT "/usr/share/containers/seccomp.json"
#define CTR_MAX_LAYERS 500 /* overlayfs's limit of lower directories */

/* The container's configuration, resolved at create time and kept in containers/<id>/spec.json.
 */
struct ctr_spec {
	char id[65];
	char *name, *image, *image_id, *manifest_digest;
	struct st_strv args, env;
	char *workdir, *user, *hostname, *seccomp, *runtime;
	enum st_network_mode network;
	bool privileged, read_only, init, tty, interactive, no_new_privs, auto_remove;
	uint64_t caps;
	size_t n_mounts;
	struct st_mount_spec *mounts;
	int64_t memory, pids_limit, cpus_milli, created;
	int stop_signal;
	struct st_strv lowers; /* snapshot directories, bottom layer first */
};

struct ctr_state {
	enum st_ctr_status status;
	pid_t pid;
	int exit_code;
	int64_t started, finished;
};

struct st_container {
	struct st_store *store; /* borrowed */
	char *dir;              /* <root>/containers/<id> */
	char *upper;            /* <dir>/upper */
	int dirfd;
	struct ctr_spec spec;
};

/* ---- run-state.c ---- */
void ctr_spec_release(struct ctr_spec *sp);
int ctr_spec_save(struct st_container *c, struct st_error *err);
int ctr_state_read(struct st_container *c, struct ctr_state *out, struct st_error *err);
int ctr_state_write(struct st_container *c, const struct ctr_state *st, struct st_error *err);
/* True while a monitor holds containers/<id>/lock. */
bool ctr_is_running(struct st_container *c);
/* Takes the monitor lock (exclusive, non-blocking): -ST_EBUSY when running. */
int ctr_lock_monitor(struct st_container *c, int *out_fd, struct st_error *err);
int ctr_new(struct st_store *s, const char *id, struct st_container **out, struct st_error *err);
/* For the volatile layout (known, or containers/<id> links to it): c->dir becomes the tmpfs
 * directory and c->upper the scratch layer on disk, so no path handed out has a symlink. */
int ctr_use_volatile_paths(struct st_container *c, bool known, struct st_error *err);
/* Removes containers/<id> and, for the volatile layout, its tmpfs and scratch directories. */
int ctr_remove_dirs(struct st_container *c, struct st_error *err);
int ctr_name_claim(struct st_store *s, const char *name, const char *id, struct st_error *err);
void ctr_name_release(struct st_store *s, const char *name);
int64_t ctr_now(void);

/* ---- run-create.c ---- */
/* The image's merged view read from its lower directories (bottom first), for lookups. */
struct img_view {
	const struct st_strv *lowers;
	int fds[CTR_MAX_LAYERS];
	size_t n;
};
int ctr_view_open(struct img_view *v, const struct st_strv *lowers, struct st_error *err);
void ctr_view_close(struct img_view *v);
/* lstat of rel (no leading '/', no symlinks among its parents) as the merged view shows it;
 * *layer is the index (top first) it was found in. -1 when absent (or whited out). */
int ctr_view_stat(const struct img_view *v, const char *rel, struct stat *st, size_t *layer);
int ctr_load_image(struct st_store *s, const char *spec, struct st_image *img,
                   struct st_error *err);
/* Fills a spec (its id already set) from the options and an image config. */
int ctr_fill_spec(struct ctr_spec *sp, const struct st_run_opts *o,
                  const struct st_image_config *cfg, const char *image_id, const char *manifest,
                  struct st_error *err);
/* The init layer: mount points the runtime needs, created where the image lacks them. */
int ctr_make_init_layer(struct st_container *c, const struct st_strv *volumes,
                        struct st_error *err);
/* containers/<id>/{hosts,hostname,resolv.conf}. */
int ctr_write_etc_files(struct st_container *c, struct st_error *err);

/* ---- run-rootfs.c (in the child, after the namespaces exist) ---- */
/* Docker's masked and read-only paths, shared by the runtime and the bundle writer. */
extern const char *const ctr_masked_paths[];
extern const size_t ctr_n_masked_paths;
extern const char *const ctr_readonly_paths[];
extern const size_t ctr_n_readonly_paths;
/* Mounts the overlay (init and snapshots as lowers) at `target`. Upper/work may be NULL for a
 * read-only stack whose top lower is `extra_top` (export, cp of a stopped container). */
int ctr_mount_overlay(struct st_container *c, const char *target, bool with_upper,
                      struct st_error *err);
/* The whole root: overlay, /proc, /sys, /dev, /etc files, user mounts, masks, pivot_root.
 * `console` is the pty slave path or NULL. */
int ctr_setup_rootfs(struct st_container *c, const char *console, struct st_error *err);

/* ---- run-caps.c ---- */
int ctr_apply_caps(uint64_t caps, bool keep_for_nonroot, struct st_error *err);
int ctr_drop_bounding(uint64_t caps, struct st_error *err);

/* ---- run-seccomp.c ---- */
struct ctr_seccomp; /* a compiled filter */
/* Reads and compiles a profile for a capability set; cache_dirfd (the store's root, or -1)
 * keeps compiled programs under cache/seccomp/. */
int ctr_seccomp_prepare(const char *profile_path, uint64_t caps, int cache_dirfd,
                        struct ctr_seccomp **out, struct st_error *err);
int ctr_seccomp_load(struct ctr_seccomp *f, struct st_error *err);
void ctr_seccomp_free(struct ctr_seccomp *f);

/* ---- run-cgroup.c ---- */
struct ctr_cgroup {
	int version; /* 0: none, 1, 2 */
	char paths[3][256];
	int n_paths;
};
int ctr_cgroup_create(struct st_container *c, struct ctr_cgroup *out, struct st_error *err);
int ctr_cgroup_attach(const struct ctr_cgroup *cg, pid_t pid, struct st_error *err);
void ctr_cgroup_destroy(const struct ctr_cgroup *cg);
/* Joins the container's cgroups (exec): best effort. */
void ctr_cgroup_join_of(pid_t target, pid_t pid);

/* ---- run-spawn.c ---- */
struct ctr_proc {
	pid_t pid;        /* the container's PID 1 (host PID) */
	pid_t waiter;     /* our child that waits for it and exits with its status */
	int master;       /* pty master or -1 */
	int setup_status; /* on a failed spawn: 125, 126 or 127 */
	struct ctr_cgroup cg;
};
/* Clones the container's init into new namespaces and waits until its command runs.
 * Exec failures are -ST_ENOTFOUND (no such file) / -ST_EUNSUPPORTED (not executable). */
int ctr_spawn(struct st_container *c, const struct st_run_io *io, struct ctr_proc *out,
              struct st_error *err);
/* Waits for pid, forwarding signals and copying the pty; returns the exit status. */
int ctr_supervise(struct ctr_proc *p, const struct st_run_io *io, bool forward);
/* Marks the container exited, removes cgroups, removes it when auto_remove. */
void ctr_finish(struct st_container *c, struct ctr_proc *p, int status);

/* ---- run-child.c ---- */
struct ctr_child_args {
	struct st_container *c;
	const struct st_run_io *io;
	const char *console; /* pty slave path or NULL */
	struct ctr_seccomp *seccomp;
	int sync_fd;  /* reads one byte before exec */
	int error_fd; /* writes "code:message" on failure (CLOEXEC) */
};
/* Never returns. */
void ctr_child_main(const struct ctr_child_args *a) __attribute__((noreturn));
/* Resolves user, then switches ids, drops capabilities, loads seccomp and execs args with env
 * in the current root. Used by the container's init and by exec. */
struct ctr_exec {
	const char *const *args;
	const char *const *env;
	const char *user, *workdir;
	uint64_t caps;
	bool privileged, nnp;
	struct ctr_seccomp *seccomp;
};
/* Never returns on success; on failure *status is 125, 126 or 127. */
int ctr_exec_process(const struct ctr_exec *x, int *status, struct st_error *err);
/* --init: PID 1 forks the command, forwards signals to it, reaps every child, and exits with
 * the command's status. Never returns. */
void ctr_reaper(pid_t child) __attribute__((noreturn));
/* Exit statuses of setup failures, as Docker's: the runtime, the command not executable, the
 * command not found. */
#define CTR_EXIT_SETUP 125
#define CTR_EXIT_NOEXEC 126
#define CTR_EXIT_NOTFOUND 127
/* Writes a failure to the error pipe as "<status> <code> <message>". */
void ctr_report_error(int fd, int status, const struct st_error *err);
/* Reads what ctr_report_error wrote: 0 on EOF (the command runs), else -code with *status. */
int ctr_read_error(int fd, int *status, struct st_error *err);

/* ---- helpers in run-rootfs.c ---- */
/* Opens path (absolute, in the container) under root_fd, resolving in the root only. */
int ctr_open_in_root(int root_fd, const char *path, int flags, struct st_error *err);
/* Builds the OCI-ish joined command line for ps. */
int ctr_join_args(const struct st_strv *args, struct st_buf *out, struct st_error *err);

/* ---- run-bundle.c ---- */
/* Runs the container through crun/runc on a bundle in containers/<id>/bundle. */
int ctr_run_oci(struct st_container *c, const struct st_run_io *io, int *out_status,
                struct st_error *err);

#endif
