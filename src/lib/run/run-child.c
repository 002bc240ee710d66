/* run-child.c: the container's first process, in its new namespaces: standard streams, the
 * root (run-rootfs.c), hostname and loopback, then the user, capabilities, seccomp and exec, in
 * runc's order (seccomp before setuid unless no_new_privs is asked for, since loading it then
 * needs CAP_SYS_ADMIN). Failures go back to the parent through the error pipe. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "run/run-internal.h"
#include "util/cleanup.h"
#include "util/fs.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

void ctr_report_error(int fd, int status, const struct st_error *err)
{
	char buf[600];
	int n = snprintf(buf, sizeof(buf), "%d %d %s", status, (int)err->code, err->msg);

	if (fd >= 0 && n > 0)
		(void)st_write_all(fd, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1,
		                   NULL);
}

int ctr_read_error(int fd, int *status, struct st_error *err)
{
	char buf[600];
	size_t len = 0;
	int st = 0, code = 0, off = 0;

	for (;;) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == sizeof(buf) - 1)
			break;
	}
	if (len == 0)
		return 0;
	buf[len] = '\0';
	if (sscanf(buf, "%d %d %n", &st, &code, &off) < 2 || code <= 0)
		return st_error_set(err, ST_ESYS, "container setup failed: %s", buf);
	*status = st;
	return st_error_set(err, (enum st_errc)code, "%s", buf + off);
}

/* ---- the command ---- */

static bool is_exec_file(const char *path, int *why)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		*why = errno;
		return false;
	}
	if (S_ISDIR(st.st_mode) || access(path, X_OK) < 0) {
		*why = EACCES;
		return false;
	}
	return true;
}

static const char *env_get(const char *const *env, const char *key)
{
	size_t kl = strlen(key);

	for (; env && *env; env++)
		if (strncmp(*env, key, kl) == 0 && (*env)[kl] == '=')
			return *env + kl + 1;
	return NULL;
}

/* The program to run: a path as given, else found in the container's PATH (Docker resolves
 * with the container's environment, not the runtime's). */
static int find_program(const char *name, const char *const *env, struct st_buf *out, int *status,
                        struct st_error *err)
{
	const char *path = env_get(env, "PATH");
	int why = ENOENT;

	*status = CTR_EXIT_NOTFOUND;
	if (strchr(name, '/')) {
		if (is_exec_file(name, &why))
			return st_buf_adds(out, name, err);
		if (why == EACCES)
			*status = CTR_EXIT_NOEXEC;
		return st_error_errno(err, why, "exec: \"%s\"", name);
	}
	for (const char *p = path ? path : ""; name[0] && *p;) {
		size_t len = strcspn(p, ":");
		int w = ENOENT;
		st_buf_reset(out);
		if (st_buf_addf(out, err, "%.*s/%s", (int)len, len ? p : ".", name) < 0)
			return -ST_ENOMEM;
		if (is_exec_file(out->data, &w))
			return 0;
		if (w == EACCES)
			why = EACCES;
		p += len + (p[len] ? 1 : 0);
	}
	if (why == EACCES) {
		*status = CTR_EXIT_NOEXEC;
		return st_error_errno(err, EACCES, "exec: \"%s\"", name);
	}
	return st_error_set(err, ST_ENOTFOUND, "exec: \"%s\": executable file not found in $PATH",
	                    name);
}

static int resolve_user(const char *spec, struct st_exec_user *u, struct st_error *err)
{
	cleanup_buf struct st_buf pw = ST_BUF_INIT, gr = ST_BUF_INIT;
	bool has_pw = st_read_file_at(AT_FDCWD, "/etc/passwd", &pw, 16 << 20, NULL) == 0;
	bool has_gr = st_read_file_at(AT_FDCWD, "/etc/group", &gr, 16 << 20, NULL) == 0;

	return st_run_resolve_user(spec, has_pw ? pw.data : NULL, has_gr ? gr.data : NULL, u, err);
}

static int switch_user(const struct st_exec_user *u, struct st_error *err)
{
	if (setgroups(u->n_groups, u->groups) < 0)
		return st_error_sys(err, "setgroups");
	if (setresgid(u->gid, u->gid, u->gid) < 0)
		return st_error_sys(err, "setgid %u", (unsigned)u->gid);
	if (setresuid(u->uid, u->uid, u->uid) < 0)
		return st_error_sys(err, "setuid %u", (unsigned)u->uid);
	return 0;
}

static int with_home(const char *const *env, const char *home, struct st_strv *out,
                     struct st_error *err)
{
	int rc = 0;

	for (; env && *env && rc == 0; env++)
		rc = st_strv_push(out, *env, strlen(*env), err);
	if (rc == 0 && !env_get((const char *const *)out->v, "HOME")) {
		cleanup_buf struct st_buf b = ST_BUF_INIT;
		rc = st_buf_addf(&b, err, "HOME=%s", home);
		if (rc == 0)
			rc = st_strv_push(out, b.data, b.len, err);
	}
	return rc;
}

static int enter_workdir(const char *dir, struct st_error *err)
{
	/* Docker creates a missing working directory */
	if (chdir(dir) == 0)
		return 0;
	if (errno != ENOENT)
		return st_error_sys(err, "working directory '%s'", dir);
	if (st_mkdir_p(AT_FDCWD, dir, 0755, err) < 0 || chdir(dir) < 0)
		return st_error_sys(err, "working directory '%s'", dir);
	return 0;
}

static int restrict_process(const struct ctr_exec *x, const struct st_exec_user *u,
                            struct st_error *err)
{
	int rc = 0;

	if (!x->privileged)
		rc = ctr_drop_bounding(x->caps, err);
	if (rc == 0 && x->seccomp && !x->nnp)
		rc = ctr_seccomp_load(x->seccomp, err);
	if (rc == 0)
		rc = switch_user(u, err);
	if (rc == 0 && !x->privileged)
		rc = ctr_apply_caps(x->caps, false, err);
	if (rc == 0 && x->nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		rc = st_error_sys(err, "no_new_privs");
	if (rc == 0 && x->seccomp && x->nnp)
		rc = ctr_seccomp_load(x->seccomp, err);
	return rc;
}

int ctr_exec_process(const struct ctr_exec *x, int *status, struct st_error *err)
{
	struct st_exec_user u;
	struct st_strv env = ST_STRV_INIT;
	cleanup_buf struct st_buf prog = ST_BUF_INIT;
	int rc;

	*status = CTR_EXIT_SETUP;
	rc = resolve_user(x->user, &u, err);
	if (rc == 0)
		rc = enter_workdir(x->workdir, err);
	if (rc == 0)
		rc = with_home(x->env, u.home, &env, err);
	if (rc == 0)
		rc = find_program(x->args[0], (const char *const *)env.v, &prog, status, err);
	if (rc == 0) {
		*status = CTR_EXIT_SETUP;
		/* no descriptor of the runtime reaches the command */
		(void)close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
		rc = restrict_process(x, &u, err);
	}
	if (rc == 0) {
		execve(prog.data, (char *const *)x->args, env.v);
		*status = errno == ENOENT ? CTR_EXIT_NOTFOUND : CTR_EXIT_NOEXEC;
		rc = st_error_sys(err, "exec \"%s\"", x->args[0]);
	}
	st_strv_release(&env);
	return rc;
}

/* ---- --init ---- */

void ctr_reaper(pid_t child)
{
	sigset_t all;
	int status = 0, code = CTR_EXIT_SETUP;

	(void)sigfillset(&all);
	(void)sigprocmask(SIG_BLOCK, &all, NULL);
	for (;;) {
		siginfo_t si;
		pid_t p;
		int sig = sigwaitinfo(&all, &si);

		if (sig < 0)
			continue;
		if (sig != SIGCHLD) {
			(void)kill(child, sig);
			continue;
		}
		while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
			if (p != child)
				continue;
			code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
			_exit(code);
		}
	}
}

/* ---- the container's first process ---- */

static int setup_stdio(const struct ctr_child_args *a, struct st_error *err)
{
	int fds[3] = {a->io->in_fd, a->io->out_fd, a->io->err_fd};
	int high[3];
	cleanup_fd int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (a->console) {
		int t;
		if (setsid() < 0)
			return st_error_sys(err, "setsid");
		t = open(a->console, O_RDWR | O_CLOEXEC);
		if (t < 0 || ioctl(t, TIOCSCTTY, 0) < 0)
			return st_error_sys(err, "terminal '%s'", a->console);
		fds[0] = fds[1] = fds[2] = t;
	}
	for (int i = 0; i < 3; i++) {
		high[i] = fcntl(fds[i] >= 0 ? fds[i] : null, F_DUPFD_CLOEXEC, 10);
		if (high[i] < 0)
			return st_error_sys(err, "dup standard stream %d", i);
	}
	for (int i = 0; i < 3; i++)
		if (dup2(high[i], i) < 0)
			return st_error_sys(err, "dup2 standard stream %d", i);
	return 0;
}

static int loopback_up(struct st_error *err)
{
	struct ifreq ifr;
	cleanup_fd int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, "lo", 3);
	if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return st_error_sys(err, "loopback");
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		return st_error_sys(err, "bring lo up");
	return 0;
}

static int wait_go(int fd, struct st_error *err)
{
	char b;
	ssize_t n;

	do
		n = read(fd, &b, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		return st_error_set(err, ST_ESYS, "the runtime went away before the start");
	(void)close(fd);
	return 0;
}

static int setup(const struct ctr_child_args *a, struct st_error *err)
{
	const struct ctr_spec *sp = &a->c->spec;
	int rc = setup_stdio(a, err);

	if (rc == 0)
		rc = ctr_setup_rootfs(a->c, a->console, err);
	if (rc == 0 && sethostname(sp->hostname, strlen(sp->hostname)) < 0)
		rc = st_error_sys(err, "sethostname '%s'", sp->hostname);
	if (rc == 0 && sp->network == ST_NET_NONE)
		rc = loopback_up(err);
	if (rc == 0)
		rc = wait_go(a->sync_fd, err);
	return rc;
}

void ctr_child_main(const struct ctr_child_args *a)
{
	struct st_error err = ST_ERROR_INIT;
	const struct ctr_spec *sp = &a->c->spec;
	struct ctr_exec x = {
	        .args = (const char *const *)sp->args.v,
	        .env = (const char *const *)sp->env.v,
	        .user = sp->user,
	        .workdir = sp->workdir,
	        .caps = sp->caps,
	        .privileged = sp->privileged,
	        .nnp = sp->no_new_privs,
	        .seccomp = a->seccomp,
	};
	sigset_t none;
	int status = CTR_EXIT_SETUP;
	pid_t pid;

	(void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	(void)sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	umask(0);
	if (setup(a, &err) < 0)
		goto fail;
	umask(022);
	if (sp->init) {
		sigset_t all;
		(void)sigfillset(&all);
		/* blocked before the fork: an early SIGCHLD must stay pending for the reaper */
		(void)sigprocmask(SIG_BLOCK, &all, NULL);
		pid = fork();
		if (pid < 0) {
			(void)st_error_sys(&err, "fork the command");
			goto fail;
		}
		if (pid > 0) {
			/* PID 1 never execs: nothing of the runtime may stay open in it */
			(void)close_range(3, ~0U, 0);
			if (!sp->privileged) {
				(void)ctr_drop_bounding(sp->caps, NULL);
				(void)ctr_apply_caps(sp->caps, false, NULL);
			}
			ctr_reaper(pid);
		}
		(void)sigprocmask(SIG_SETMASK, &none, NULL);
	}
	(void)ctr_exec_process(&x, &status, &err);
fail:
	ctr_report_error(a->error_fd, status, &err);
	_exit(status);
}
