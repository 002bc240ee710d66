/* run-ctl.c: controlling a running container from another process: kill, stop (StopSignal
 * then SIGKILL), wait (blocks on the monitor's lock, so no polling and no stale answer) and
 * logs. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "run/run-internal.h"
#include "util/cleanup.h"
#include "util/fs.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

static int running_pid(struct st_container *c, pid_t *out, struct st_error *err)
{
	struct ctr_state st;
	int rc = ctr_state_read(c, &st, err);

	if (rc < 0)
		return rc;
	if (!ctr_is_running(c) || st.status != ST_CTR_RUNNING || st.pid <= 0)
		return st_error_set(err, ST_EINVALID, "container %.12s is not running", c->spec.id);
	*out = st.pid;
	return 0;
}

int st_container_kill(struct st_container *c, int sig, struct st_error *err)
{
	pid_t pid = 0;
	int rc = running_pid(c, &pid, err);

	if (rc < 0)
		return rc;
	if (kill(pid, sig) < 0 && errno != ESRCH)
		return st_error_sys(err, "kill container %.12s", c->spec.id);
	return 0;
}

int st_container_stop(struct st_container *c, int timeout_s, struct st_error *err)
{
	cleanup_fd int pfd = -1;
	pid_t pid = 0;
	int rc = running_pid(c, &pid, err);

	if (rc == -ST_EINVALID)
		return 0; /* docker stop of a stopped container succeeds */
	if (rc < 0)
		return rc;
	pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (kill(pid, c->spec.stop_signal) < 0 && errno != ESRCH)
		return st_error_sys(err, "signal container %.12s", c->spec.id);
	if (pfd >= 0 && timeout_s > 0) {
		struct pollfd f = {pfd, POLLIN, 0};
		int r;
		do
			r = poll(&f, 1, timeout_s * 1000);
		while (r < 0 && errno == EINTR);
		if (r == 0)
			(void)kill(pid, SIGKILL);
	} else {
		(void)kill(pid, SIGKILL);
	}
	return st_container_wait(c, NULL, err);
}

int st_container_wait(struct st_container *c, int *out_status, struct st_error *err)
{
	cleanup_fd int fd = openat(c->dirfd, "lock", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct ctr_state st;
	int rc;

	while (fd >= 0 && flock(fd, LOCK_SH) < 0)
		if (errno != EINTR)
			return st_error_sys(err, "wait for container %.12s", c->spec.id);
	rc = ctr_state_read(c, &st, err);
	if (rc < 0)
		return rc;
	if (out_status)
		*out_status = st.status == ST_CTR_RUNNING ? 128 + SIGKILL : st.exit_code;
	return 0;
}

static int copy_new(int in, int out, struct st_error *err)
{
	char buf[65536];

	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		int rc;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return st_error_sys(err, "read the log");
		if (n == 0)
			return 0;
		rc = st_write_all(out, buf, (size_t)n, err);
		if (rc < 0)
			return rc;
	}
}

int st_container_logs(struct st_container *c, int fd, bool follow, struct st_error *err)
{
	cleanup_fd int in = openat(c->dirfd, "log", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	int rc;

	if (in < 0)
		return errno == ENOENT ? 0 : st_error_sys(err, "open the log of %.12s", c->spec.id);
	for (;;) {
		bool running = follow && ctr_is_running(c);
		rc = copy_new(in, fd, err);
		if (rc < 0 || !running)
			return rc;
		(void)poll(NULL, 0, 50);
	}
}
