/* run-spawn.c: the parent's side of a container: clone into new namespaces, cgroups, the start
 * handshake (the child waits for "go" once its cgroups are set; the CLOEXEC error pipe tells
 * whether exec happened), supervision (signal forwarding, the pty relay, exit status) and the
 * end (state, cgroups, --rm). */
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "run/run-internal.h"
#include "util/cleanup.h"
#include "util/fs.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};

static void supervised_set(sigset_t *set)
{
	(void)sigemptyset(set);
	(void)sigaddset(set, SIGCHLD);
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		(void)sigaddset(set, forwarded[i]);
}

static int open_pty(int user_fd, int *out_master, char *slave, size_t len, struct st_error *err)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	struct winsize ws;

	if (m < 0)
		return st_error_sys(err, "open a pseudo-terminal");
	if (grantpt(m) < 0 || unlockpt(m) < 0 || ptsname_r(m, slave, len) != 0) {
		(void)close(m);
		return st_error_sys(err, "set up the pseudo-terminal");
	}
	if (user_fd >= 0 && ioctl(user_fd, TIOCGWINSZ, &ws) == 0)
		(void)ioctl(m, TIOCSWINSZ, &ws);
	*out_master = m;
	return 0;
}

/* The namespaces' first process is a grandchild: fork (safe in a threaded caller, unlike a raw
 * clone), unshare, fork again for PID 1. The middle process stays to wait for it (so the
 * container's PDEATHSIG chain reaches us) and exits with its status. */
static void middle(struct st_container *c, const struct st_run_io *io, const char *console,
                   struct ctr_seccomp *sc, int sync_fd, int err_fd, int pid_fd)
{
	unsigned long flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC;
	struct st_error err = ST_ERROR_INIT;
	int status;
	pid_t pid;

	(void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (c->spec.network == ST_NET_NONE)
		flags |= CLONE_NEWNET;
	if (unshare((int)flags) < 0) {
		(void)st_error_sys(&err, "create the container's namespaces");
		ctr_report_error(err_fd, CTR_EXIT_SETUP, &err);
		_exit(CTR_EXIT_SETUP);
	}
	pid = fork();
	if (pid == 0) {
		struct ctr_child_args a = {c, io, console, sc, sync_fd, err_fd};
		(void)close(pid_fd);
		ctr_child_main(&a);
	}
	if (pid < 0) {
		(void)st_error_sys(&err, "fork the container's init");
		ctr_report_error(err_fd, CTR_EXIT_SETUP, &err);
		_exit(CTR_EXIT_SETUP);
	}
	(void)st_write_all(pid_fd, &pid, sizeof(pid), NULL);
	(void)close(pid_fd);
	(void)close(sync_fd);
	(void)close(err_fd);
	(void)close_range(3, ~0U, 0);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			_exit(CTR_EXIT_SETUP);
	_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

static int read_pid(int fd, pid_t *out, struct st_error *err)
{
	ssize_t n;

	do
		n = read(fd, out, sizeof(*out));
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(*out))
		return st_error_set(err, ST_ESYS, "the container did not start");
	return 0;
}

static int start_child(struct st_container *c, const struct st_run_io *io, const char *console,
                       struct ctr_seccomp *sc, struct ctr_proc *p, struct st_error *err)
{
	int sync[2], errp[2], pidp[2];
	int rc;

	if (pipe2(sync, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 || pipe2(pidp, O_CLOEXEC) < 0)
		return st_error_sys(err, "pipe");
	p->waiter = fork();
	if (p->waiter == 0) {
		(void)close(sync[1]);
		(void)close(errp[0]);
		(void)close(pidp[0]);
		middle(c, io, console, sc, sync[0], errp[1], pidp[1]);
	}
	(void)close(sync[0]);
	(void)close(errp[1]);
	(void)close(pidp[1]);
	if (p->waiter < 0)
		rc = st_error_sys(err, "fork");
	else
		rc = read_pid(pidp[0], &p->pid, err);
	if (rc == 0)
		rc = ctr_cgroup_attach(&p->cg, p->pid, err);
	if (rc == 0 && write(sync[1], "g", 1) != 1)
		rc = st_error_sys(err, "start the container");
	(void)close(sync[1]);
	(void)close(pidp[0]);
	/* the error pipe: a message, or EOF when the command execs (or setup died silently) */
	if (p->waiter > 0) {
		int rc2 = ctr_read_error(errp[0], &p->setup_status, rc == 0 ? err : NULL);
		if (rc == 0)
			rc = rc2;
	}
	(void)close(errp[0]);
	if (rc < 0 && p->waiter > 0) {
		(void)kill(p->waiter, SIGKILL);
		(void)waitpid(p->waiter, NULL, 0);
	}
	return rc;
}

int ctr_spawn(struct st_container *c, const struct st_run_io *io, struct ctr_proc *out,
              struct st_error *err)
{
	struct ctr_seccomp *sc = NULL;
	struct ctr_proc p = {.pid = -1, .waiter = -1, .master = -1, .setup_status = CTR_EXIT_SETUP};
	char slave[128] = "";
	const char *prof = c->spec.seccomp ? c->spec.seccomp : CTR_SECCOMP_DEFAULT;
	int rc = 0;

	if (!c->spec.privileged && strcmp(prof, "unconfined") != 0)
		rc = ctr_seccomp_prepare(prof, c->spec.caps, st_store_root_fd(c->store), &sc, err);
	if (rc == 0 && io->tty)
		rc = open_pty(io->in_fd, &p.master, slave, sizeof(slave), err);
	if (rc == 0)
		rc = ctr_cgroup_create(c, &p.cg, err);
	if (rc == 0)
		rc = start_child(c, io, io->tty ? slave : NULL, sc, &p, err);
	ctr_seccomp_free(sc);
	if (rc < 0) {
		ctr_cgroup_destroy(&p.cg);
		if (p.master >= 0)
			(void)close(p.master);
		out->setup_status = p.setup_status;
		return rc;
	}
	*out = p;
	return 0;
}

/* ---- supervision ---- */

static void copy_some(int from, int to, bool *open_)
{
	char buf[16384];
	ssize_t n = read(from, buf, sizeof(buf));

	if (n <= 0) {
		*open_ = false;
		return;
	}
	(void)st_write_all(to, buf, (size_t)n, NULL);
}

static int exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return CTR_EXIT_SETUP;
}

/* A forwarded signal or SIGWINCH arrived (the child's end comes through its pidfd). */
static void on_signal(int sfd, struct ctr_proc *p, const struct st_run_io *io, bool forward)
{
	struct signalfd_siginfo si;
	struct winsize ws;

	if (read(sfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return;
	if (si.ssi_signo == SIGWINCH) {
		if (p->master >= 0 && io->in_fd >= 0 && ioctl(io->in_fd, TIOCGWINSZ, &ws) == 0)
			(void)ioctl(p->master, TIOCSWINSZ, &ws);
		return;
	}
	if (forward && si.ssi_signo != SIGCHLD)
		(void)kill(p->pid, (int)si.ssi_signo);
}

/* Waits for the waiter process through a pidfd, not SIGCHLD: SIGCHLD is one signal for the
 * whole process, and two containers supervised by two threads (parallel build stages) would
 * take each other's. Forwarded signals still come through a signalfd. Without pidfds (kernel
 * < 5.3) it polls waitpid every 50 ms. */
int ctr_supervise(struct ctr_proc *p, const struct st_run_io *io, bool forward)
{
	sigset_t set;
	cleanup_fd int sfd = -1;
	cleanup_fd int pidfd = -1;
	bool in_open = p->master >= 0 && io->in_fd >= 0, out_open = p->master >= 0;
	bool cancelled = false;
	int status = -1, st;

	supervised_set(&set);
	(void)sigdelset(&set, SIGCHLD);
	/* with a cancel fd the caller takes the signals (they stay pending for it) */
	if (io->cancel_fd < 0)
		sfd = signalfd(-1, &set, SFD_CLOEXEC);
	pidfd = (int)syscall(SYS_pidfd_open, p->waiter, 0);
	while (status < 0) {
		struct pollfd fds[5] = {{sfd, POLLIN, 0},
		                        {out_open ? p->master : -1, POLLIN, 0},
		                        {in_open ? io->in_fd : -1, POLLIN, 0},
		                        {pidfd, POLLIN, 0},
		                        {cancelled ? -1 : io->cancel_fd, POLLIN, 0}};
		if (poll(fds, 5, pidfd < 0 ? 50 : -1) < 0 && errno != EINTR)
			break;
		if (fds[4].revents & POLLIN) { /* PID 1 ignores what it has no handler for */
			(void)kill(p->pid, SIGKILL);
			cancelled = true;
		}
		if ((pidfd < 0 || fds[3].revents) &&
		    waitpid(p->waiter, &st, WNOHANG) == p->waiter) {
			status = exit_code(st);
			break;
		}
		if (fds[0].revents & POLLIN)
			on_signal(sfd, p, io, forward);
		if (fds[1].revents & (POLLIN | POLLHUP | POLLERR))
			copy_some(p->master, io->out_fd, &out_open);
		if (fds[2].revents & (POLLIN | POLLHUP | POLLERR)) {
			copy_some(io->in_fd, p->master, &in_open);
			if (!in_open)
				(void)st_write_all(p->master, "\x04", 1, NULL);
		}
	}
	/* what the command wrote just before it ended */
	while (out_open && p->master >= 0) {
		struct pollfd f = {p->master, POLLIN, 0};
		if (poll(&f, 1, 0) <= 0)
			break;
		copy_some(p->master, io->out_fd, &out_open);
	}
	return status;
}

void ctr_finish(struct st_container *c, struct ctr_proc *p, int status)
{
	struct ctr_state st = {0};

	(void)ctr_state_read(c, &st, NULL);
	st.status = ST_CTR_EXITED;
	st.exit_code = status;
	st.finished = ctr_now();
	(void)ctr_state_write(c, &st, NULL);
	ctr_cgroup_destroy(&p->cg);
	if (p->master >= 0)
		(void)close(p->master);
	p->master = -1;
}

static int mark_running(struct st_container *c, pid_t pid, struct st_error *err)
{
	struct ctr_state st = {.status = ST_CTR_RUNNING, .pid = pid, .started = ctr_now()};

	return ctr_state_write(c, &st, err);
}

/* Puts the user's terminal in raw mode for a -t session; restores it at the end. */
static bool raw_terminal(int fd, struct termios *saved)
{
	struct termios t;

	if (fd < 0 || !isatty(fd) || tcgetattr(fd, saved) < 0)
		return false;
	t = *saved;
	cfmakeraw(&t);
	return tcsetattr(fd, TCSANOW, &t) == 0;
}

static int run_locked(struct st_container *c, const struct st_run_io *io, int *out_status,
                      struct st_error *err)
{
	struct ctr_proc p = {.pid = -1, .master = -1};
	sigset_t set, old;
	struct termios saved;
	bool raw = false;
	int rc;

	supervised_set(&set);
	(void)sigprocmask(SIG_BLOCK, &set, &old);
	rc = ctr_spawn(c, io, &p, err);
	if (rc < 0) {
		(void)sigprocmask(SIG_SETMASK, &old, NULL);
		*out_status = p.setup_status;
		return rc;
	}
	rc = mark_running(c, p.pid, err);
	if (io->tty)
		raw = raw_terminal(io->in_fd, &saved);
	*out_status = ctr_supervise(&p, io, true);
	if (raw)
		(void)tcsetattr(io->in_fd, TCSANOW, &saved);
	ctr_finish(c, &p, *out_status);
	(void)sigprocmask(SIG_SETMASK, &old, NULL);
	return rc;
}

int st_container_run(struct st_container *c, const struct st_run_io *io, int *out_status,
                     struct st_error *err)
{
	int lock = -1, rc;

	*out_status = CTR_EXIT_SETUP;
	rc = ctr_lock_monitor(c, &lock, err);
	if (rc < 0)
		return rc;
	if (c->spec.runtime)
		rc = ctr_run_oci(c, io, out_status, err);
	else
		rc = run_locked(c, io, out_status, err);
	(void)close(lock);
	if (c->spec.auto_remove) {
		struct st_error ignored;
		(void)st_container_remove(c, true, &ignored);
	}
	return rc;
}

/* ---- detached: the monitor ---- */

static void monitor_main(struct st_container *c, int report)
{
	struct st_error err = ST_ERROR_INIT;
	struct ctr_proc p = {.pid = -1, .master = -1};
	struct st_run_io io = {-1, -1, -1, c->spec.tty, -1};
	sigset_t all;
	int lock = -1, null = open("/dev/null", O_RDWR | O_CLOEXEC), status;
	int logfd = openat(c->dirfd, "log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

	if (null >= 0) {
		(void)dup2(null, 0);
		(void)dup2(null, 1);
		(void)dup2(null, 2);
	}
	io.out_fd = io.err_fd = logfd;
	(void)sigfillset(&all);
	(void)sigdelset(&all, SIGKILL);
	(void)sigprocmask(SIG_BLOCK, &all, NULL);
	if (logfd < 0)
		(void)st_error_sys(&err, "open the log");
	if (logfd < 0 || ctr_lock_monitor(c, &lock, &err) < 0) {
		ctr_report_error(report, CTR_EXIT_SETUP, &err);
		_exit(1);
	}
	if (ctr_spawn(c, &io, &p, &err) < 0) {
		ctr_report_error(report, p.setup_status, &err);
		_exit(1);
	}
	if (mark_running(c, p.pid, &err) < 0)
		ctr_report_error(report, CTR_EXIT_SETUP, &err);
	(void)close(report);
	status = ctr_supervise(&p, &io, false);
	ctr_finish(c, &p, status);
	(void)close(lock);
	if (c->spec.auto_remove)
		(void)st_container_remove(c, true, &err);
	_exit(0);
}

int st_container_start(struct st_container *c, struct st_error *err)
{
	int rep[2], status = 0, st = 0;
	pid_t pid;
	int rc;

	if (c->spec.runtime)
		return st_error_set(err, ST_EUNSUPPORTED,
		                    "detached containers run with the built-in runtime only");
	if (ctr_is_running(c))
		return st_error_set(err, ST_EBUSY, "container %.12s is already running",
		                    c->spec.id);
	if (pipe2(rep, O_CLOEXEC) < 0)
		return st_error_sys(err, "pipe");
	pid = fork();
	if (pid == 0) {
		(void)close(rep[0]);
		(void)setsid();
		if (fork() == 0)
			monitor_main(c, rep[1]);
		_exit(0);
	}
	(void)close(rep[1]);
	if (pid < 0) {
		(void)close(rep[0]);
		return st_error_sys(err, "fork the monitor");
	}
	(void)waitpid(pid, &status, 0);
	rc = ctr_read_error(rep[0], &st, err);
	(void)close(rep[0]);
	return rc;
}
