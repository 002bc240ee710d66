/* run-cgroup.c: --memory, --pids-limit and --cpus. cgroup v2 when /sys/fs/cgroup is a unified
 * hierarchy whose root offers the controllers, else cgroup v1 (memory, pids, cpu mounted under
 * /sys/fs/cgroup/<controller>); a clear error when neither can. Each container gets
 * strata/<id> in each hierarchy, made only when it has a limit (no cost otherwise). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "run/run-internal.h"
#include "util/cleanup.h"
#include "util/fs.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

#define CG_ROOT "/sys/fs/cgroup"
#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

static int write_file(const char *dir, const char *name, const char *val, struct st_error *err)
{
	char path[400];
	cleanup_fd int fd = -1;

	(void)snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return st_error_sys(err, "cgroup: open '%s'", path);
	if (write(fd, val, strlen(val)) < 0)
		return st_error_sys(err, "cgroup: write '%s' to '%s'", val, path);
	return 0;
}

static bool has_word(const char *list, const char *w)
{
	size_t n = strlen(w);

	for (const char *p = strstr(list, w); p; p = strstr(p + 1, w))
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\n' || p[n] == '\0'))
			return true;
	return false;
}

static bool v2_usable(const struct ctr_spec *sp)
{
	struct statfs fs;
	cleanup_buf struct st_buf ctl = ST_BUF_INIT;

	if (statfs(CG_ROOT, &fs) < 0 || fs.f_type != CGROUP2_SUPER_MAGIC)
		return false;
	if (st_read_file_at(AT_FDCWD, CG_ROOT "/cgroup.controllers", &ctl, 4096, NULL) < 0)
		return false;
	return (!sp->memory || has_word(ctl.data, "memory")) &&
	       (!sp->pids_limit || has_word(ctl.data, "pids")) &&
	       (!sp->cpus_milli || has_word(ctl.data, "cpu"));
}

static int v2_create(const struct ctr_spec *sp, struct ctr_cgroup *cg, struct st_error *err)
{
	char v[64], *dir = cg->paths[0];
	int rc;

	(void)write_file(CG_ROOT, "cgroup.subtree_control", "+memory +pids +cpu", NULL);
	rc = st_mkdir_p(AT_FDCWD, CG_ROOT "/strata", 0755, err);
	if (rc == 0)
		rc = write_file(CG_ROOT "/strata", "cgroup.subtree_control", "+memory +pids +cpu",
		                err);
	(void)snprintf(dir, sizeof(cg->paths[0]), CG_ROOT "/strata/%s", sp->id);
	if (rc == 0 && mkdir(dir, 0755) < 0 && errno != EEXIST)
		rc = st_error_sys(err, "cgroup: mkdir '%s'", dir);
	if (rc < 0)
		return rc;
	cg->version = 2;
	cg->n_paths = 1;
	if (sp->memory) {
		(void)snprintf(v, sizeof(v), "%lld", (long long)sp->memory);
		rc = write_file(dir, "memory.max", v, err);
	}
	if (rc == 0 && sp->pids_limit) {
		(void)snprintf(v, sizeof(v), "%lld", (long long)sp->pids_limit);
		rc = write_file(dir, "pids.max", v, err);
	}
	if (rc == 0 && sp->cpus_milli) {
		(void)snprintf(v, sizeof(v), "%lld 100000", (long long)sp->cpus_milli * 100);
		rc = write_file(dir, "cpu.max", v, err);
	}
	return rc;
}

static int v1_dir(struct ctr_cgroup *cg, const char *ctrl, const char *id, char **out,
                  struct st_error *err)
{
	char base[128];
	struct stat st;
	int rc;

	(void)snprintf(base, sizeof(base), CG_ROOT "/%s", ctrl);
	if (stat(base, &st) < 0)
		return st_error_set(
		        err, ST_EUNSUPPORTED,
		        "cgroup: neither cgroup v2 nor the cgroup v1 '%s' controller is "
		        "available for this limit",
		        ctrl);
	*out = cg->paths[cg->n_paths++];
	(void)snprintf(*out, sizeof(cg->paths[0]), "%s/strata/%s", base, id);
	rc = st_mkdir_p(AT_FDCWD, *out, 0755, err);
	return rc;
}

static int v1_create(const struct ctr_spec *sp, struct ctr_cgroup *cg, struct st_error *err)
{
	char v[64], *dir = NULL;
	int rc = 0;

	cg->version = 1;
	if (sp->memory) {
		rc = v1_dir(cg, "memory", sp->id, &dir, err);
		(void)snprintf(v, sizeof(v), "%lld", (long long)sp->memory);
		if (rc == 0)
			rc = write_file(dir, "memory.limit_in_bytes", v, err);
	}
	if (rc == 0 && sp->pids_limit) {
		rc = v1_dir(cg, "pids", sp->id, &dir, err);
		(void)snprintf(v, sizeof(v), "%lld", (long long)sp->pids_limit);
		if (rc == 0)
			rc = write_file(dir, "pids.max", v, err);
	}
	if (rc == 0 && sp->cpus_milli) {
		rc = v1_dir(cg, "cpu", sp->id, &dir, err);
		(void)snprintf(v, sizeof(v), "%lld", (long long)sp->cpus_milli * 100);
		if (rc == 0)
			rc = write_file(dir, "cpu.cfs_period_us", "100000", err);
		if (rc == 0)
			rc = write_file(dir, "cpu.cfs_quota_us", v, err);
	}
	return rc;
}

int ctr_cgroup_create(struct st_container *c, struct ctr_cgroup *out, struct st_error *err)
{
	const struct ctr_spec *sp = &c->spec;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!sp->memory && !sp->pids_limit && !sp->cpus_milli)
		return 0;
	rc = v2_usable(sp) ? v2_create(sp, out, err) : v1_create(sp, out, err);
	if (rc < 0) {
		ctr_cgroup_destroy(out);
		memset(out, 0, sizeof(*out));
	}
	return rc;
}

int ctr_cgroup_attach(const struct ctr_cgroup *cg, pid_t pid, struct st_error *err)
{
	char v[32];

	(void)snprintf(v, sizeof(v), "%d", (int)pid);
	for (int i = 0; i < cg->n_paths; i++) {
		int rc = write_file(cg->paths[i], "cgroup.procs", v, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

void ctr_cgroup_destroy(const struct ctr_cgroup *cg)
{
	for (int i = 0; i < cg->n_paths; i++) {
		/* the last processes of the pid namespace may still be leaving */
		for (int t = 0; t < 200 && rmdir(cg->paths[i]) < 0 && errno == EBUSY; t++)
			(void)usleep(5000);
	}
}

void ctr_cgroup_join_of(pid_t target, pid_t pid)
{
	char path[64], line[512], dir[600], v[32];
	cleanup_file FILE *f = NULL;

	(void)snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)target);
	f = fopen(path, "re");
	(void)snprintf(v, sizeof(v), "%d", (int)pid);
	while (f && fgets(line, sizeof(line), f)) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2 || !strstr(c2, "/strata/"))
			continue;
		c2[strcspn(c2, "\n")] = '\0';
		*c2 = '\0';
		if (c1[1] == '\0')
			(void)snprintf(dir, sizeof(dir), CG_ROOT "%s", c2 + 1);
		else
			(void)snprintf(dir, sizeof(dir), CG_ROOT "/%s%s", c1 + 1, c2 + 1);
		(void)write_file(dir, "cgroup.procs", v, NULL);
	}
}
