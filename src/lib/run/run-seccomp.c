/* run-seccomp.c: Docker's seccomp profile format (moby profiles/seccomp, the one
 * containers-common ships as /usr/share/containers/seccomp.json): parsing, the rules that apply
 * for a capability set and architecture, and compiling them with libseccomp (the module's only
 * libseccomp user). */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "run/run-internal.h"
#include "strata/digest.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/json.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

#define MAX_PROFILE_SIZE (4u << 20)

void st_seccomp_profile_release(struct st_seccomp_profile *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n_rules; i++) {
		st_strv_release(&p->rules[i].names);
		st_strv_release(&p->rules[i].arches_include);
		st_strv_release(&p->rules[i].arches_exclude);
	}
	free(p->rules);
	memset(p, 0, sizeof(*p));
}

static int parse_action(const char *s, int64_t errno_ret, uint32_t *out)
{
	if (strcmp(s, "SCMP_ACT_ALLOW") == 0)
		*out = SCMP_ACT_ALLOW;
	else if (strcmp(s, "SCMP_ACT_ERRNO") == 0)
		*out = SCMP_ACT_ERRNO((uint32_t)(errno_ret > 0 ? errno_ret : EPERM));
	else if (strcmp(s, "SCMP_ACT_KILL") == 0 || strcmp(s, "SCMP_ACT_KILL_THREAD") == 0)
		*out = SCMP_ACT_KILL;
	else if (strcmp(s, "SCMP_ACT_KILL_PROCESS") == 0)
		*out = SCMP_ACT_KILL_PROCESS;
	else if (strcmp(s, "SCMP_ACT_TRAP") == 0)
		*out = SCMP_ACT_TRAP;
	else if (strcmp(s, "SCMP_ACT_TRACE") == 0)
		*out = SCMP_ACT_TRACE((uint32_t)(errno_ret > 0 ? errno_ret : EPERM));
	else if (strcmp(s, "SCMP_ACT_LOG") == 0)
		*out = SCMP_ACT_LOG;
	else
		return -1;
	return 0;
}

static int parse_op(const char *s)
{
	static const char *const ops[] = {"",
	                                  "SCMP_CMP_NE",
	                                  "SCMP_CMP_LT",
	                                  "SCMP_CMP_LE",
	                                  "SCMP_CMP_EQ",
	                                  "SCMP_CMP_GE",
	                                  "SCMP_CMP_GT",
	                                  "SCMP_CMP_MASKED_EQ"};

	for (int i = 1; i < 8; i++)
		if (strcmp(s, ops[i]) == 0)
			return i;
	return -1;
}

static int64_t json_int(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

static int str_list(const json_t *arr, const char *what, struct st_strv *out, struct st_error *err)
{
	size_t i;
	json_t *v;

	if (!arr || json_is_null(arr))
		return 0;
	if (!json_is_array(arr))
		return st_error_set(err, ST_EINVALID, "%s: must be an array", what);
	json_array_foreach(arr, i, v)
	{
		int rc;

		if (!json_is_string(v))
			return st_error_set(err, ST_EINVALID, "%s[%zu]: must be a string", what, i);
		rc = st_strv_push(out, json_string_value(v), json_string_length(v), err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int caps_mask(const json_t *filt, const char *what, uint64_t *out, struct st_error *err)
{
	json_t *caps = filt ? json_object_get(filt, "caps") : NULL;
	size_t i;
	json_t *v;

	if (!caps || json_is_null(caps))
		return 0;
	if (!json_is_array(caps))
		return st_error_set(err, ST_EINVALID, "%s.caps: must be an array", what);
	json_array_foreach(caps, i, v)
	{
		int c = json_is_string(v) ? st_cap_from_name(json_string_value(v), NULL) : -1;
		if (c < 0)
			return st_error_set(err, ST_EINVALID, "%s.caps[%zu]: unknown capability",
			                    what, i);
		*out |= 1ull << c;
	}
	return 0;
}

static int parse_args(const json_t *args, const char *what, struct st_seccomp_rule *r,
                      struct st_error *err)
{
	size_t i;
	json_t *a;

	if (!args || json_is_null(args))
		return 0;
	if (!json_is_array(args) || json_array_size(args) > 6)
		return st_error_set(err, ST_EINVALID, "%s.args: must be an array of at most 6",
		                    what);
	json_array_foreach(args, i, a)
	{
		const char *op = json_string_value(json_object_get(a, "op"));
		int o = op ? parse_op(op) : -1;
		int64_t idx = json_int(a, "index");

		if (o < 0 || idx < 0 || idx > 5)
			return st_error_set(err, ST_EINVALID, "%s.args[%zu]: bad op or index", what,
			                    i);
		r->args[i].index = (unsigned)idx;
		r->args[i].op = o;
		r->args[i].value = (uint64_t)json_int(a, "value");
		r->args[i].value_two = (uint64_t)json_int(a, "valueTwo");
		r->n_args++;
	}
	return 0;
}

static uint32_t parse_kernel(const char *s)
{
	unsigned maj = 0, min = 0;

	if (!s || sscanf(s, "%u.%u", &maj, &min) < 1)
		return 0;
	return maj << 16 | (min & 0xffff);
}

static int parse_rule(const json_t *o, size_t idx, struct st_seccomp_rule *r, struct st_error *err)
{
	const char *action = json_string_value(json_object_get(o, "action"));
	json_t *inc = json_object_get(o, "includes"), *exc = json_object_get(o, "excludes");
	char what[64];
	int rc;

	(void)snprintf(what, sizeof(what), "syscalls[%zu]", idx);
	if (!json_is_object(o))
		return st_error_set(err, ST_EINVALID, "%s: must be an object", what);
	if (!action || parse_action(action, json_int(o, "errnoRet"), &r->action) < 0)
		return st_error_set(err, ST_EINVALID, "%s.action: unknown action '%s'", what,
		                    action ? action : "");
	rc = str_list(json_object_get(o, "names"), what, &r->names, err);
	if (rc == 0 && json_is_string(json_object_get(o, "name")))
		rc = st_strv_push(&r->names, json_string_value(json_object_get(o, "name")),
		                  json_string_length(json_object_get(o, "name")), err);
	if (rc == 0)
		rc = parse_args(json_object_get(o, "args"), what, r, err);
	if (rc == 0)
		rc = caps_mask(inc, what, &r->caps_include, err);
	if (rc == 0)
		rc = caps_mask(exc, what, &r->caps_exclude, err);
	if (rc == 0 && inc)
		rc = str_list(json_object_get(inc, "arches"), what, &r->arches_include, err);
	if (rc == 0 && exc)
		rc = str_list(json_object_get(exc, "arches"), what, &r->arches_exclude, err);
	if (rc == 0 && inc)
		r->min_kernel = parse_kernel(json_string_value(json_object_get(inc, "minKernel")));
	return rc;
}

int st_seccomp_parse(const char *json, size_t len, struct st_seccomp_profile *out,
                     struct st_error *err)
{
	struct st_seccomp_profile p = {0};
	cleanup_json json_t *root = NULL;
	const char *def;
	json_t *calls;
	int rc = st_json_parse(json, len, "seccomp profile", &root, err);

	if (rc < 0)
		return rc;
	def = json_string_value(json_object_get(root, "defaultAction"));
	if (!def || parse_action(def, json_int(root, "defaultErrnoRet"), &p.default_action) < 0)
		return st_error_set(err, ST_EINVALID, "seccomp profile: bad defaultAction");
	calls = json_object_get(root, "syscalls");
	if (calls && !json_is_array(calls))
		return st_error_set(err, ST_EINVALID, "seccomp profile: syscalls must be an array");
	if (calls && json_array_size(calls)) {
		p.rules = calloc(json_array_size(calls), sizeof(*p.rules));
		if (!p.rules)
			return st_error_set(err, ST_ENOMEM, "out of memory");
	}
	for (size_t i = 0; calls && i < json_array_size(calls); i++) {
		rc = parse_rule(json_array_get(calls, i), i, &p.rules[i], err);
		p.n_rules++;
		if (rc < 0) {
			st_seccomp_profile_release(&p);
			return st_error_wrap(err, "seccomp profile");
		}
	}
	*out = p;
	return 0;
}

static bool in_list(const struct st_strv *v, const char *s)
{
	for (size_t i = 0; i < v->n; i++)
		if (strcmp(v->v[i], s) == 0)
			return true;
	return false;
}

bool st_seccomp_rule_applies(const struct st_seccomp_rule *r, uint64_t caps, const char *arch,
                             uint32_t kernel)
{
	if (r->arches_include.n && !in_list(&r->arches_include, arch))
		return false;
	if (r->arches_exclude.n && in_list(&r->arches_exclude, arch))
		return false;
	if (r->caps_include && (caps & r->caps_include) != r->caps_include)
		return false;
	if (r->caps_exclude && (caps & r->caps_exclude))
		return false;
	if (r->min_kernel && kernel < r->min_kernel)
		return false;
	return true;
}

/* ---- compiling ---- */

/* A compiled filter: classic BPF, loaded with seccomp(2) by the container's init. Compiling
 * the default profile with libseccomp takes ~10 ms, so programs are cached in
 * <store>/cache/seccomp/<sha256 of profile, capabilities and architecture>. */
struct ctr_seccomp {
	struct sock_filter *prog;
	size_t n;
};

static int add_rule(scmp_filter_ctx ctx, const struct st_seccomp_rule *r, uint32_t def,
                    struct st_error *err)
{
	struct scmp_arg_cmp cmp[6];

	if (r->action == def)
		return 0;
	for (size_t i = 0; i < r->n_args; i++) {
		cmp[i].arg = r->args[i].index;
		cmp[i].op = (enum scmp_compare)r->args[i].op;
		cmp[i].datum_a = r->args[i].value;
		cmp[i].datum_b = r->args[i].value_two;
	}
	for (size_t i = 0; i < r->names.n; i++) {
		int nr = seccomp_syscall_resolve_name(r->names.v[i]);
		int rc;

		if (nr == __NR_SCMP_ERROR)
			continue; /* unknown to this libseccomp: Docker skips it too */
		rc = seccomp_rule_add_array(ctx, r->action, nr, (unsigned)r->n_args, cmp);
		if (rc < 0 && rc != -EEXIST)
			return st_error_errno(err, -rc, "seccomp rule for %s", r->names.v[i]);
	}
	return 0;
}

static const char *native_arch(void)
{
#if defined(__x86_64__)
	return "amd64";
#elif defined(__aarch64__)
	return "arm64";
#else
	return "unknown";
#endif
}

static uint32_t kernel_version(void)
{
	struct utsname u;

	return uname(&u) == 0 ? parse_kernel(u.release) : 0;
}

static int compile(const struct st_seccomp_profile *p, uint64_t caps, scmp_filter_ctx ctx,
                   struct st_error *err)
{
	uint32_t kv = kernel_version();
	int rc;

	/* Docker's archMap: x86-64 processes may also make i386 and x32 system calls */
#if defined(__x86_64__)
	(void)seccomp_arch_add(ctx, SCMP_ARCH_X86);
	(void)seccomp_arch_add(ctx, SCMP_ARCH_X32);
#endif
	/* runc: the filter must not set no_new_privs by itself; the caller decides */
	rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
	if (rc < 0)
		return st_error_errno(err, -rc, "seccomp attribute");
	for (size_t i = 0; i < p->n_rules; i++) {
		if (!st_seccomp_rule_applies(&p->rules[i], caps, native_arch(), kv))
			continue;
		rc = add_rule(ctx, &p->rules[i], p->default_action, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int export_bpf(scmp_filter_ctx ctx, struct st_buf *out, struct st_error *err)
{
	cleanup_fd int fd = memfd_create("seccomp-bpf", MFD_CLOEXEC);
	int rc;

	if (fd < 0)
		return st_error_sys(err, "memfd");
	rc = seccomp_export_bpf(ctx, fd);
	if (rc < 0)
		return st_error_errno(err, -rc, "export the seccomp filter");
	if (lseek(fd, 0, SEEK_SET) < 0)
		return st_error_sys(err, "seek");
	return st_read_all(fd, out, 1u << 20, err);
}

static int compile_profile(const struct st_buf *text, const char *path, uint64_t caps,
                           struct st_buf *out, struct st_error *err)
{
	struct st_seccomp_profile p = {0};
	scmp_filter_ctx ctx;
	int rc = st_seccomp_parse(text->data, text->len, &p, err);

	if (rc < 0)
		return st_error_wrap(err, "'%s'", path);
	ctx = seccomp_init(p.default_action);
	rc = ctx ? compile(&p, caps, ctx, err) : st_error_set(err, ST_ESYS, "seccomp_init failed");
	if (rc == 0)
		rc = export_bpf(ctx, out, err);
	if (ctx)
		seccomp_release(ctx);
	st_seccomp_profile_release(&p);
	return rc < 0 ? st_error_wrap(err, "'%s'", path) : 0;
}

static void cache_name(const struct st_buf *text, uint64_t caps, char *out, size_t len)
{
	struct st_hasher h = {0};
	struct st_digest d;
	char hex[ST_DIGEST_HEX_MAX + 1] = "none";
	char ver[32];

	(void)snprintf(ver, sizeof(ver), "%u.%u.%u", SCMP_VER_MAJOR, SCMP_VER_MINOR,
	               SCMP_VER_MICRO);
	if (st_hasher_init(&h, ST_DIGEST_SHA256, NULL) == 0) {
		st_hasher_update(&h, text->data, text->len);
		st_hasher_update(&h, &caps, sizeof(caps));
		st_hasher_update(&h, native_arch(), strlen(native_arch()));
		st_hasher_update(&h, ver, strlen(ver));
		st_hasher_final(&h, &d);
		st_digest_hex(&d, hex);
	}
	st_hasher_release(&h);
	(void)snprintf(out, len, "cache/seccomp/%s", hex);
}

int ctr_seccomp_prepare(const char *profile_path, uint64_t caps, int cache_dirfd,
                        struct ctr_seccomp **out, struct st_error *err)
{
	cleanup_buf struct st_buf text = ST_BUF_INIT, bpf = ST_BUF_INIT;
	struct ctr_seccomp *f;
	char name[128];
	int rc = st_read_file_at(AT_FDCWD, profile_path, &text, MAX_PROFILE_SIZE, err);

	if (rc < 0)
		return st_error_wrap(err, "seccomp profile");
	cache_name(&text, caps, name, sizeof(name));
	if (cache_dirfd < 0 || st_read_file_at(cache_dirfd, name, &bpf, 1u << 20, NULL) < 0 ||
	    bpf.len % sizeof(struct sock_filter) != 0 || bpf.len == 0) {
		st_buf_reset(&bpf);
		rc = compile_profile(&text, profile_path, caps, &bpf, err);
		if (rc < 0)
			return rc;
		if (cache_dirfd >= 0 && st_mkdir_p(cache_dirfd, "cache/seccomp", 0700, NULL) == 0)
			(void)st_write_file_atomic(cache_dirfd, name, cache_dirfd, bpf.data,
			                           bpf.len, 0600, NULL);
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	f->n = bpf.len / sizeof(struct sock_filter);
	f->prog = (struct sock_filter *)(void *)st_buf_detach(&bpf, NULL);
	if (!f->prog) {
		free(f);
		return st_error_set(err, ST_ENOMEM, "out of memory");
	}
	*out = f;
	return 0;
}

int ctr_seccomp_load(struct ctr_seccomp *f, struct st_error *err)
{
	struct sock_fprog prog = {(unsigned short)f->n, f->prog};

	if (f->n > 0xffff)
		return st_error_set(err, ST_ELIMIT, "seccomp filter of %zu instructions", f->n);
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
		return st_error_sys(err, "load the seccomp filter");
	return 0;
}

void ctr_seccomp_free(struct ctr_seccomp *f)
{
	if (!f)
		return;
	free(f->prog);
	free(f);
}
