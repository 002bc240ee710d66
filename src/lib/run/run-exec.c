/* run-exec.c: `exec`: a new process in a running container. The caller joins the container's
 * PID namespace (which applies to its children only) and forks; the child joins the mount, UTS,
 * IPC and network namespaces and the cgroups, then goes through the same user, capability and
 * seccomp steps as the container's own command. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "run/run-internal.h"
#include "util/cleanup.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

static int open_ns(pid_t pid, const char *ns, struct st_error *err)
{
	char p[64];
	int fd;

	(void)snprintf(p, sizeof(p), "/proc/%d/ns/%s", (int)pid, ns);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return st_error_sys(err, "open %s", p);
	return fd;
}

struct exec_child {
	struct st_container *c;
	const struct st_exec_opts *o;
	const struct st_run_io *io;
	const char *console;
	int ns[4]; /* mnt uts ipc net */
	struct ctr_seccomp *sc;
	int error_fd;
	pid_t target;
};

static int child_stdio(const struct exec_child *x, struct st_error *err)
{
	int fds[3] = {x->io->in_fd, x->io->out_fd, x->io->err_fd};
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (x->console) {
		int t = -1;
		if (setsid() < 0 || (t = open(x->console, O_RDWR | O_CLOEXEC)) < 0 ||
		    ioctl(t, TIOCSCTTY, 0) < 0)
			return st_error_sys(err, "terminal");
		fds[0] = fds[1] = fds[2] = t;
	}
	for (int i = 0; i < 3; i++)
		fds[i] = fcntl(fds[i] >= 0 ? fds[i] : null, F_DUPFD_CLOEXEC, 10);
	for (int i = 0; i < 3; i++)
		if (fds[i] < 0 || dup2(fds[i], i) < 0)
			return st_error_sys(err, "standard streams");
	return 0;
}

static void exec_child_main(const struct exec_child *x)
{
	static const int types[4] = {CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWNET};
	const struct ctr_spec *sp = &x->c->spec;
	struct st_error err = ST_ERROR_INIT;
	struct st_strv env = ST_STRV_INIT;
	int status = CTR_EXIT_SETUP, rc;

	(void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	ctr_cgroup_join_of(x->target, getpid());
	rc = child_stdio(x, &err);
	for (int i = 0; rc == 0 && i < 4; i++)
		if (x->ns[i] >= 0 && setns(x->ns[i], types[i]) < 0)
			rc = st_error_sys(&err, "join the container's namespaces");
	for (size_t i = 0; rc == 0 && i < sp->env.n; i++)
		rc = st_strv_push(&env, sp->env.v[i], strlen(sp->env.v[i]), &err);
	for (size_t i = 0; rc == 0 && i < x->o->n_env; i++)
		rc = st_strv_push(&env, x->o->env[i], strlen(x->o->env[i]), &err);
	if (rc == 0) {
		struct ctr_exec e = {
		        .args = x->o->args,
		        .env = (const char *const *)env.v,
		        .user = x->o->user ? x->o->user : sp->user,
		        .workdir = x->o->workdir ? x->o->workdir : sp->workdir,
		        .caps = x->o->privileged ? st_caps_all() : sp->caps,
		        .privileged = x->o->privileged || sp->privileged,
		        .nnp = sp->no_new_privs,
		        .seccomp = x->sc,
		};
		(void)ctr_exec_process(&e, &status, &err);
	}
	ctr_report_error(x->error_fd, status, &err);
	_exit(status);
}

static int prepare(struct st_container *c, const struct st_exec_opts *o, struct exec_child *x,
                   pid_t *target, struct st_error *err)
{
	static const char *const names[4] = {"mnt", "uts", "ipc", "net"};
	struct ctr_state st;
	const char *prof = c->spec.seccomp ? c->spec.seccomp : CTR_SECCOMP_DEFAULT;
	int rc = ctr_state_read(c, &st, err);

	if (rc < 0)
		return rc;
	if (!ctr_is_running(c) || st.status != ST_CTR_RUNNING)
		return st_error_set(err, ST_EINVALID, "container %.12s is not running", c->spec.id);
	if (o->n_args == 0)
		return st_error_set(err, ST_EINVALID, "exec: no command");
	*target = st.pid;
	x->target = st.pid;
	for (int i = 0; i < 4; i++) {
		x->ns[i] = (i == 3 && c->spec.network == ST_NET_HOST)
		                   ? -1
		                   : open_ns(st.pid, names[i], err);
		if (x->ns[i] < 0 && !(i == 3 && c->spec.network == ST_NET_HOST))
			return x->ns[i];
	}
	if (!o->privileged && !c->spec.privileged && strcmp(prof, "unconfined") != 0)
		rc = ctr_seccomp_prepare(prof, c->spec.caps, st_store_root_fd(c->store), &x->sc,
		                         err);
	return rc;
}

static int spawn_exec(struct exec_child *x, pid_t target, pid_t *out, int *status,
                      struct st_error *err)
{
	cleanup_fd int pidns = open_ns(target, "pid", err);
	int errp[2], rc;
	pid_t pid;

	if (pidns < 0)
		return pidns;
	if (setns(pidns, CLONE_NEWPID) < 0)
		return st_error_sys(err, "join the container's PID namespace");
	if (pipe2(errp, O_CLOEXEC) < 0)
		return st_error_sys(err, "pipe");
	x->error_fd = errp[1];
	pid = fork();
	if (pid == 0) {
		(void)close(errp[0]);
		exec_child_main(x);
	}
	(void)close(errp[1]);
	if (pid < 0) {
		(void)close(errp[0]);
		return st_error_sys(err, "fork");
	}
	rc = ctr_read_error(errp[0], status, err);
	(void)close(errp[0]);
	if (rc < 0) {
		(void)waitpid(pid, NULL, 0);
		return rc;
	}
	*out = pid;
	return 0;
}

int st_container_exec(struct st_container *c, const struct st_exec_opts *o,
                      const struct st_run_io *io, int *out_status, struct st_error *err)
{
	struct exec_child x = {.c = c, .o = o, .io = io, .ns = {-1, -1, -1, -1}, .error_fd = -1};
	struct ctr_proc p = {.pid = -1, .waiter = -1, .master = -1};
	char slave[128];
	sigset_t set, old;
	pid_t target = 0;
	int rc = prepare(c, o, &x, &target, err);

	*out_status = CTR_EXIT_SETUP;
	if (rc == 0 && io->tty) {
		p.master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (p.master < 0 || grantpt(p.master) < 0 || unlockpt(p.master) < 0 ||
		    ptsname_r(p.master, slave, sizeof(slave)) != 0)
			rc = st_error_sys(err, "pseudo-terminal");
		x.console = slave;
	}
	(void)sigemptyset(&set);
	(void)sigaddset(&set, SIGCHLD);
	(void)sigaddset(&set, SIGINT);
	(void)sigaddset(&set, SIGTERM);
	(void)sigaddset(&set, SIGHUP);
	(void)sigaddset(&set, SIGWINCH);
	(void)sigprocmask(SIG_BLOCK, &set, &old);
	if (rc == 0)
		rc = spawn_exec(&x, target, &p.pid, out_status, err);
	p.waiter = p.pid;
	if (rc == 0)
		*out_status = ctr_supervise(&p, io, true);
	(void)sigprocmask(SIG_SETMASK, &old, NULL);
	for (int i = 0; i < 4; i++)
		if (x.ns[i] >= 0)
			(void)close(x.ns[i]);
	if (p.master >= 0)
		(void)close(p.master);
	ctr_seccomp_free(x.sc);
	return rc;
}
