/* run-caps.c: capabilities: names, Docker's default set (moby oci/caps/defaults.go), --cap-add
 * and --cap-drop, and applying a set with raw prctl/capset (as moby's oci.SetCapabilities: root
 * gets the set as bounding, effective and permitted; other users only as bounding). */
#include <ctype.h>
#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "run/run-internal.h"
#include "util/cleanup.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

static const char *const cap_names[] = {
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_DAC_READ_SEARCH",
        "CAP_FOWNER",
        "CAP_FSETID",
        "CAP_KILL",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETPCAP",
        "CAP_LINUX_IMMUTABLE",
        "CAP_NET_BIND_SERVICE",
        "CAP_NET_BROADCAST",
        "CAP_NET_ADMIN",
        "CAP_NET_RAW",
        "CAP_IPC_LOCK",
        "CAP_IPC_OWNER",
        "CAP_SYS_MODULE",
        "CAP_SYS_RAWIO",
        "CAP_SYS_CHROOT",
        "CAP_SYS_PTRACE",
        "CAP_SYS_PACCT",
        "CAP_SYS_ADMIN",
        "CAP_SYS_BOOT",
        "CAP_SYS_NICE",
        "CAP_SYS_RESOURCE",
        "CAP_SYS_TIME",
        "CAP_SYS_TTY_CONFIG",
        "CAP_MKNOD",
        "CAP_LEASE",
        "CAP_AUDIT_WRITE",
        "CAP_AUDIT_CONTROL",
        "CAP_SETFCAP",
        "CAP_MAC_OVERRIDE",
        "CAP_MAC_ADMIN",
        "CAP_SYSLOG",
        "CAP_WAKE_ALARM",
        "CAP_BLOCK_SUSPEND",
        "CAP_AUDIT_READ",
        "CAP_PERFMON",
        "CAP_BPF",
        "CAP_CHECKPOINT_RESTORE",
};
#define N_CAP_NAMES ((int)(sizeof(cap_names) / sizeof(cap_names[0])))

static int last_cap(void)
{
	static int last = -1;
	cleanup_file FILE *f = NULL;

	if (last >= 0)
		return last;
	last = N_CAP_NAMES - 1;
	f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	if (f && fscanf(f, "%d", &last) != 1)
		last = N_CAP_NAMES - 1;
	if (last > 63)
		last = 63;
	return last;
}

uint64_t st_caps_default(void)
{
	static const int def[] = {
	        CAP_CHOWN,   CAP_DAC_OVERRIDE, CAP_FSETID,           CAP_FOWNER,
	        CAP_MKNOD,   CAP_NET_RAW,      CAP_SETGID,           CAP_SETUID,
	        CAP_SETFCAP, CAP_SETPCAP,      CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT,
	        CAP_KILL,    CAP_AUDIT_WRITE,
	};
	uint64_t m = 0;

	for (size_t i = 0; i < sizeof(def) / sizeof(def[0]); i++)
		m |= 1ull << def[i];
	return m;
}

uint64_t st_caps_all(void)
{
	int last = last_cap();

	return last >= 63 ? ~0ull : (1ull << (last + 1)) - 1;
}

const char *st_cap_name(int cap)
{
	return cap >= 0 && cap < N_CAP_NAMES ? cap_names[cap] : NULL;
}

int st_cap_from_name(const char *name, struct st_error *err)
{
	const char *n = strncasecmp(name, "CAP_", 4) == 0 ? name + 4 : name;

	for (int i = 0; i < N_CAP_NAMES; i++)
		if (strcasecmp(cap_names[i] + 4, n) == 0)
			return i;
	return st_error_set(err, ST_EINVALID, "unknown capability '%s'", name);
}

static int apply_list(const char *const *v, size_t n, bool add, uint64_t *caps,
                      struct st_error *err)
{
	for (size_t i = 0; i < n; i++) {
		int cap;

		if (strcasecmp(v[i], "ALL") == 0) {
			*caps = add ? st_caps_all() : 0;
			continue;
		}
		cap = st_cap_from_name(v[i], err);
		if (cap < 0)
			return cap;
		if (add)
			*caps |= 1ull << cap;
		else
			*caps &= ~(1ull << cap);
	}
	return 0;
}

int st_caps_for(const struct st_run_opts *o, uint64_t *out, struct st_error *err)
{
	uint64_t caps = o->privileged ? st_caps_all() : st_caps_default();
	int rc;

	/* moby TweakCapabilities: drops apply after adds, except "--cap-drop ALL --cap-add X" */
	rc = apply_list(o->cap_add, o->n_cap_add, true, &caps, err);
	if (rc == 0)
		rc = apply_list(o->cap_drop, o->n_cap_drop, false, &caps, err);
	for (size_t i = 0; rc == 0 && i < o->n_cap_drop; i++) {
		if (strcasecmp(o->cap_drop[i], "ALL") == 0) {
			caps = 0;
			rc = apply_list(o->cap_add, o->n_cap_add, true, &caps, err);
			break;
		}
	}
	if (rc < 0)
		return rc;
	*out = caps & st_caps_all();
	return 0;
}

int ctr_drop_bounding(uint64_t caps, struct st_error *err)
{
	int last = last_cap();

	for (int c = 0; c <= last; c++) {
		if (caps & (1ull << c))
			continue;
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
			return st_error_sys(err, "drop capability %s from the bounding set",
			                    st_cap_name(c) ? st_cap_name(c) : "?");
	}
	return 0;
}

int ctr_apply_caps(uint64_t caps, bool keep_for_nonroot, struct st_error *err)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];
	uint64_t set = (getuid() == 0 || keep_for_nonroot) ? caps : 0;

	memset(d, 0, sizeof(d));
	d[0].effective = d[0].permitted = (uint32_t)set;
	d[1].effective = d[1].permitted = (uint32_t)(set >> 32);
	(void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	if (syscall(SYS_capset, &h, d) < 0)
		return st_error_sys(err, "capset");
	return 0;
}
