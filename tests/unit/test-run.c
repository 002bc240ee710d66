/* test-run.c: the runtime's pure parts: Docker's Entrypoint/Cmd/Env merge, runc's user and group
 * resolution, option parsing (-v, --mount, --tmpfs, sizes, --cpus, signals, env files),
 * capability sets and seccomp profiles. */
#include "unit.h"

#include <signal.h>

#include "strata/run.h"

static const char passwd[] = "root:x:0:0:root:/root:/bin/sh\n"
                             "# a comment\n"
                             "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
                             "alice:x:1000:1000:alice:/home/alice:/bin/sh\n"
                             "broken line\n"
                             "bob:x:1001:1001::/home/bob:/bin/sh\n";
static const char group[] = "root:x:0:\nstaff:x:50:alice,bob\nalice:x:1000:\nwheel:x:10:bob\n";

static char *joined(const struct st_strv *v)
{
	static char buf[1024];
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < v->n; i++)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s%s", i ? "|" : "",
		                        v->v[i]);
	return buf;
}

static void config_with(struct st_image_config *c, const char *const *ep, size_t nep,
                        const char *const *cmd, size_t ncmd)
{
	struct st_error err = ST_ERROR_INIT;

	assert_int_equal(st_image_config_init(c, "linux", "amd64", NULL, &err), 0);
	if (ep)
		assert_int_equal(st_image_config_set_entrypoint(c, ep, nep, &err), 0);
	if (cmd)
		assert_int_equal(st_image_config_set_cmd(c, cmd, ncmd, &err), 0);
}

static void merge_args_follows_docker(void **state)
{
	static const char *const ep[] = {"echo", "ep"};
	static const char *const cmd[] = {"default"};
	static const char *const user[] = {"x", "y"};
	static const struct {
		bool img_ep, img_cmd, has_ep;
		const char *ep;
		size_t n_args;
		const char *want; /* NULL: error */
	} cases[] = {
	        {true, true, false, NULL, 0, "echo|ep|default"},
	        {true, true, false, NULL, 2, "echo|ep|x|y"},
	        {false, true, false, NULL, 0, "default"},
	        {false, true, false, NULL, 2, "x|y"},
	        {true, true, true, "", 2, "x|y"},
	        {true, true, true, "", 0, NULL}, /* --entrypoint "" drops Cmd too */
	        {true, true, true, "sh", 0, "sh"},
	        {true, true, true, "sh", 2, "sh|x|y"},
	        {false, false, false, NULL, 0, NULL},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct st_image_config c;
		struct st_run_opts o = {0};
		struct st_strv out = ST_STRV_INIT;
		struct st_error err = ST_ERROR_INIT;
		int rc;

		config_with(&c, cases[i].img_ep ? ep : NULL, 2, cases[i].img_cmd ? cmd : NULL, 1);
		o.has_entrypoint = cases[i].has_ep;
		o.entrypoint = cases[i].ep;
		o.args = user;
		o.n_args = cases[i].n_args;
		rc = st_run_merge_args(&c, &o, &out, &err);
		if (cases[i].want) {
			assert_int_equal(rc, 0);
			assert_string_equal(joined(&out), cases[i].want);
		} else {
			assert_int_equal(rc, -ST_EINVALID);
			assert_non_null(strstr(err.msg, "no command"));
		}
		st_strv_release(&out);
		st_image_config_release(&c);
	}
}

static void merge_env_follows_docker(void **state)
{
	static const char *const img_env[] = {"PATH=/img/bin", "FOO=img", "BAR=b"};
	static const char *const user_env[] = {"FOO=cli", "NEW=1", "UNIT_HOST_VAR",
	                                       "UNIT_UNSET_VAR", "NEW=2"};
	struct st_image_config c;
	struct st_run_opts o = {.env = user_env, .n_env = 5, .tty = true};
	struct st_strv out = ST_STRV_INIT;
	struct st_error err = ST_ERROR_INIT;

	(void)state;
	setenv("UNIT_HOST_VAR", "fromhost", 1);
	unsetenv("UNIT_UNSET_VAR");
	config_with(&c, NULL, 0, NULL, 0);
	assert_int_equal(st_image_config_set_env(&c, img_env, 3, &err), 0);
	assert_int_equal(st_run_merge_env(&c, &o, "abc", &out, &err), 0);
	assert_string_equal(joined(&out), "PATH=/img/bin|HOSTNAME=abc|TERM=xterm|FOO=cli|NEW=2|"
	                                  "UNIT_HOST_VAR=fromhost|BAR=b");
	st_strv_release(&out);
	st_image_config_release(&c);

	/* no PATH in the image: Docker's default */
	config_with(&c, NULL, 0, NULL, 0);
	o.n_env = 0;
	o.tty = false;
	assert_int_equal(st_run_merge_env(&c, &o, "h", &out, &err), 0);
	assert_string_equal(joined(&out),
	                    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin|"
	                    "HOSTNAME=h");
	st_strv_release(&out);
	st_image_config_release(&c);
}

static void env_file_skips_comments_and_blank_lines(void **state)
{
	struct st_strv out = ST_STRV_INIT;
	struct st_error err = ST_ERROR_INIT;

	(void)state;
	assert_int_equal(st_run_parse_env_file("# c\nA=1\n\n  B=two words\r\nC\n", &out, &err), 0);
	assert_string_equal(joined(&out), "A=1|B=two words|C");
	assert_int_equal(st_run_parse_env_file("=x\n", &out, &err), -ST_EINVALID);
	assert_int_equal(out.n, 3); /* unchanged on failure */
	st_strv_release(&out);
}

static void resolve_user_as_runc(void **state)
{
	static const struct {
		const char *spec;
		int rc;
		unsigned uid, gid;
		const char *home;
		size_t n_groups;
		unsigned g0, g1;
	} cases[] = {
	        {"", 0, 0, 0, "/root", 0, 0, 0},
	        {"alice", 0, 1000, 1000, "/home/alice", 1, 50, 0},
	        {"1000", 0, 1000, 1000, "/home/alice", 1, 50, 0},
	        {"bob", 0, 1001, 1001, "/home/bob", 2, 50, 10},
	        {"alice:staff", 0, 1000, 50, "/home/alice", 0, 0, 0},
	        {"alice:10", 0, 1000, 10, "/home/alice", 0, 0, 0},
	        {"alice:4000", 0, 1000, 4000, "/home/alice", 0, 0, 0},
	        {"4242", 0, 4242, 0, "/", 0, 0, 0},
	        {"4242:50", 0, 4242, 50, "/", 0, 0, 0},
	        {"nobodyx", -ST_ENOTFOUND, 0, 0, "", 0, 0, 0},
	        {"alice:nogroup", -ST_ENOTFOUND, 0, 0, "", 0, 0, 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct st_exec_user u;
		struct st_error err = ST_ERROR_INIT;
		int rc = st_run_resolve_user(cases[i].spec, passwd, group, &u, &err);

		assert_int_equal(rc, cases[i].rc);
		if (rc < 0) {
			assert_non_null(strstr(err.msg, "unable to find"));
			continue;
		}
		assert_int_equal(u.uid, cases[i].uid);
		assert_int_equal(u.gid, cases[i].gid);
		assert_string_equal(u.home, cases[i].home);
		assert_int_equal(u.n_groups, cases[i].n_groups);
		if (u.n_groups > 0)
			assert_int_equal(u.groups[0], cases[i].g0);
		if (u.n_groups > 1)
			assert_int_equal(u.groups[1], cases[i].g1);
	}
}

static void resolve_user_without_files(void **state)
{
	struct st_exec_user u;
	struct st_error err = ST_ERROR_INIT;

	(void)state;
	assert_int_equal(st_run_resolve_user("7:8", NULL, NULL, &u, &err), 0);
	assert_int_equal(u.uid, 7);
	assert_int_equal(u.gid, 8);
	assert_string_equal(u.home, "/");
	assert_int_equal(st_run_resolve_user("root", NULL, NULL, &u, &err), -ST_ENOTFOUND);
}

static void mount_options_parse(void **state)
{
	struct st_mount_spec m;
	struct st_error err = ST_ERROR_INIT;

	(void)state;
	assert_int_equal(st_mount_parse_volume("/h:/c:ro", &m, &err), 0);
	assert_int_equal(m.type, ST_MOUNT_BIND);
	assert_string_equal(m.source, "/h");
	assert_string_equal(m.target, "/c");
	assert_true(m.readonly && m.create_source);
	st_mount_spec_release(&m);
	assert_int_equal(st_mount_parse_volume("data:/c", &m, &err), 0);
	assert_int_equal(m.type, ST_MOUNT_VOLUME);
	assert_string_equal(m.source, "data");
	st_mount_spec_release(&m);
	assert_int_equal(st_mount_parse_volume("/anon", &m, &err), 0);
	assert_null(m.source);
	st_mount_spec_release(&m);
	assert_int_equal(st_mount_parse_volume("/h:c", &m, &err), -ST_EINVALID);
	assert_int_equal(st_mount_parse_volume("/h:/c:xx", &m, &err), -ST_EINVALID);

	assert_int_equal(st_mount_parse_mount("type=bind,src=/a,dst=/b,readonly", &m, &err), 0);
	assert_true(m.type == ST_MOUNT_BIND && m.readonly && !m.create_source);
	assert_string_equal(m.source, "/a");
	st_mount_spec_release(&m);
	assert_int_equal(st_mount_parse_mount("type=tmpfs,target=/t,tmpfs-size=1m", &m, &err), 0);
	assert_string_equal(m.options, "size=1m");
	st_mount_spec_release(&m);
	assert_int_equal(st_mount_parse_mount("source=/a,target=/b", &m, &err), -ST_EINVALID);
	assert_int_equal(st_mount_parse_mount("type=nfs,target=/b", &m, &err), -ST_EINVALID);
	assert_int_equal(st_mount_parse_mount("type=bind,source=rel,target=/b", &m, &err),
	                 -ST_EINVALID);

	assert_int_equal(st_mount_parse_tmpfs("/run:rw,size=64m", &m, &err), 0);
	assert_string_equal(m.target, "/run");
	assert_string_equal(m.options, "rw,size=64m");
	st_mount_spec_release(&m);
	assert_int_equal(st_mount_parse_tmpfs("/", &m, &err), -ST_EINVALID);
}

static void sizes_cpus_and_signals_parse(void **state)
{
	struct st_error err = ST_ERROR_INIT;
	int64_t v = 0;
	int sig = 0;

	(void)state;
	assert_int_equal(st_run_parse_size("64m", &v, &err), 0);
	assert_int_equal(v, 64 << 20);
	assert_int_equal(st_run_parse_size("1G", &v, &err), 0);
	assert_int_equal(v, 1ll << 30);
	assert_int_equal(st_run_parse_size("512", &v, &err), 0);
	assert_int_equal(v, 512);
	assert_int_equal(st_run_parse_size("12x", &v, &err), -ST_EINVALID);
	assert_int_equal(st_run_parse_size("m", &v, &err), -ST_EINVALID);
	assert_int_equal(st_run_parse_cpus("1.5", &v, &err), 0);
	assert_int_equal(v, 1500);
	assert_int_equal(st_run_parse_cpus(".25", &v, &err), 0);
	assert_int_equal(v, 250);
	assert_int_equal(st_run_parse_cpus("0", &v, &err), -ST_EINVALID);
	assert_int_equal(st_run_parse_cpus("1.0001", &v, &err), -ST_EINVALID);
	assert_int_equal(st_run_parse_signal("SIGTERM", &sig, &err), 0);
	assert_int_equal(sig, SIGTERM);
	assert_int_equal(st_run_parse_signal("usr1", &sig, &err), 0);
	assert_int_equal(sig, SIGUSR1);
	assert_int_equal(st_run_parse_signal("9", &sig, &err), 0);
	assert_int_equal(sig, 9);
	assert_int_equal(st_run_parse_signal("SIGNOPE", &sig, &err), -ST_EINVALID);
}

static void capability_sets(void **state)
{
	static const char *const add[] = {"NET_ADMIN", "cap_sys_ptrace"};
	static const char *const drop[] = {"CHOWN"};
	static const char *const all[] = {"ALL"};
	static const char *const raw[] = {"NET_RAW"};
	struct st_error err = ST_ERROR_INIT;
	struct st_run_opts o = {0};
	uint64_t caps;

	(void)state;
	/* Docker's default set: 0xa80425fb, as `docker run busybox grep CapBnd /proc/self/status`
	 */
	assert_int_equal(st_caps_default(), 0xa80425fbull);
	assert_int_equal(st_cap_from_name("CAP_SYS_ADMIN", &err), 21);
	assert_int_equal(st_cap_from_name("sys_admin", &err), 21);
	assert_int_equal(st_cap_from_name("NOPE", &err), -ST_EINVALID);
	assert_string_equal(st_cap_name(0), "CAP_CHOWN");
	o.cap_add = add;
	o.n_cap_add = 2;
	o.cap_drop = drop;
	o.n_cap_drop = 1;
	assert_int_equal(st_caps_for(&o, &caps, &err), 0);
	assert_int_equal(caps, (0xa80425fbull | 1ull << 12 | 1ull << 19) & ~1ull);
	o.cap_drop = all;
	o.cap_add = raw;
	o.n_cap_add = 1;
	assert_int_equal(st_caps_for(&o, &caps, &err), 0);
	assert_int_equal(caps, 1ull << 13);
	o.n_cap_add = o.n_cap_drop = 0;
	o.privileged = true;
	assert_int_equal(st_caps_for(&o, &caps, &err), 0);
	assert_int_equal(caps, st_caps_all());
}

static const char profile[] =
        "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":38,\"syscalls\":["
        "{\"names\":[\"read\",\"write\"],\"action\":\"SCMP_ACT_ALLOW\",\"args\":null},"
        "{\"names\":[\"personality\"],\"action\":\"SCMP_ACT_ALLOW\","
        "\"args\":[{\"index\":0,\"value\":8,\"valueTwo\":0,\"op\":\"SCMP_CMP_EQ\"}]},"
        "{\"names\":[\"chroot\"],\"action\":\"SCMP_ACT_ALLOW\",\"includes\":{\"caps\":"
        "[\"CAP_SYS_CHROOT\"]}},"
        "{\"names\":[\"bpf\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":1,\"excludes\":"
        "{\"caps\":[\"CAP_SYS_ADMIN\"]}},"
        "{\"names\":[\"arch_prctl\"],\"action\":\"SCMP_ACT_ALLOW\",\"includes\":{\"arches\":"
        "[\"amd64\"],\"minKernel\":\"4.8\"}}]}";

static void seccomp_profile_parses_and_filters(void **state)
{
	struct st_seccomp_profile p;
	struct st_error err = ST_ERROR_INIT;
	uint64_t def = st_caps_default();

	(void)state;
	assert_int_equal(st_seccomp_parse(profile, strlen(profile), &p, &err), 0);
	assert_int_equal(p.default_action, 0x00050000u | 38); /* SECCOMP_RET_ERRNO | ENOSYS */
	assert_int_equal(p.n_rules, 5);
	assert_int_equal(p.rules[0].names.n, 2);
	assert_int_equal(p.rules[0].action, 0x7fff0000u); /* SECCOMP_RET_ALLOW */
	assert_int_equal(p.rules[1].n_args, 1);
	assert_int_equal(p.rules[1].args[0].value, 8);
	assert_int_equal(p.rules[1].args[0].op, 4);
	assert_int_equal(p.rules[3].action, 0x00050000u | 1);
	assert_true(st_seccomp_rule_applies(&p.rules[2], def, "amd64", 6 << 16));
	assert_false(st_seccomp_rule_applies(&p.rules[2], 0, "amd64", 6 << 16));
	assert_true(st_seccomp_rule_applies(&p.rules[3], def, "amd64", 6 << 16));
	assert_false(st_seccomp_rule_applies(&p.rules[3], def | 1ull << 21, "amd64", 6 << 16));
	assert_true(st_seccomp_rule_applies(&p.rules[4], def, "amd64", 6 << 16));
	assert_false(st_seccomp_rule_applies(&p.rules[4], def, "arm64", 6 << 16));
	assert_false(st_seccomp_rule_applies(&p.rules[4], def, "amd64", 4 << 16 | 7));
	st_seccomp_profile_release(&p);
}

static void seccomp_profile_errors_name_the_field(void **state)
{
	static const char *const bad[] = {
	        "{\"defaultAction\":\"SCMP_ACT_NOPE\"}",
	        "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"x\"],"
	        "\"action\":\"BAD\"}]}",
	        "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"x\"],"
	        "\"action\":\"SCMP_ACT_ALLOW\",\"args\":[{\"index\":0,\"op\":\"SCMP_CMP_WAT\"}]}]}",
	        "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"x\"],"
	        "\"action\":\"SCMP_ACT_ALLOW\",\"includes\":{\"caps\":[\"CAP_NOPE\"]}}]}",
	        "[1,2]",
	};
	struct st_seccomp_profile p;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct st_error err = ST_ERROR_INIT;
		assert_int_equal(st_seccomp_parse(bad[i], strlen(bad[i]), &p, &err), -ST_EINVALID);
		assert_true(err.msg[0] != '\0');
	}
}

static void the_installed_default_profile_parses(void **state)
{
	FILE *f = fopen("/usr/share/containers/seccomp.json", "re");
	struct st_seccomp_profile p;
	struct st_error err = ST_ERROR_INIT;
	char *buf;
	size_t n;

	(void)state;
	if (!f)
		skip();
	buf = malloc(1 << 20);
	assert_non_null(buf);
	n = fread(buf, 1, 1 << 20, f);
	fclose(f);
	assert_int_equal(st_seccomp_parse(buf, n, &p, &err), 0);
	assert_true(p.n_rules > 10);
	st_seccomp_profile_release(&p);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(merge_args_follows_docker),
	        cmocka_unit_test(merge_env_follows_docker),
	        cmocka_unit_test(env_file_skips_comments_and_blank_lines),
	        cmocka_unit_test(resolve_user_as_runc),
	        cmocka_unit_test(resolve_user_without_files),
	        cmocka_unit_test(mount_options_parse),
	        cmocka_unit_test(sizes_cpus_and_signals_parse),
	        cmocka_unit_test(capability_sets),
	        cmocka_unit_test(seccomp_profile_parses_and_filters),
	        cmocka_unit_test(seccomp_profile_errors_name_the_field),
	        cmocka_unit_test(the_installed_default_profile_parses),
	};
	return cmocka_run_group_tests_name("run", tests, NULL, NULL);
}
