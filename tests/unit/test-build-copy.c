/* test-build-copy.c: COPY and ADD against temporary context, target and upper directories: a
 * table of Docker's source and destination rules compared as a dump of the upper tree, refusals
 * of escapes, the cache key (stable under touch, changed by content, mode or owner), the hash memo
 * (an unchanged file is not read again), ADD of archives made by GNU tar and of URLs through a
 * fake fetcher. */
#include "unit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "build/build-copy-internal.h"
#include "build/build-copy.h"
#include "strata/dockerfile.h"
#include "util/fs.h"

struct env {
	char *dir, *ctx, *target, *upper, *memo;
	struct st_dockerignore *ignore;
};

static char *path_of(const char *a, const char *b)
{
	char *p = NULL;

	assert_true(asprintf(&p, "%s/%s", a, b) > 0);
	return p;
}

static void mkfile(const char *root, const char *rel, const char *content, mode_t mode)
{
	char *p = path_of(root, rel);

	unit_write_file(p, content, strlen(content));
	assert_int_equal(chmod(p, mode), 0);
	free(p);
}

static void mkdirm(const char *root, const char *rel, mode_t mode)
{
	char *p = path_of(root, rel);

	assert_int_equal(mkdir(p, mode), 0);
	assert_int_equal(chmod(p, mode), 0);
	free(p);
}

static void mklink(const char *root, const char *rel, const char *target)
{
	char *p = path_of(root, rel);

	assert_int_equal(symlink(target, p), 0);
	free(p);
}

static void run(const char *const argv[])
{
	pid_t pid = fork();
	int status = 0;

	assert_true(pid >= 0);
	if (pid == 0) {
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void make_context(struct env *e)
{
	static const char *const ign[] = {"ign.txt", "sub/deep/skip*"};
	struct st_error err = {0};
	char *p;

	mkdirm(e->dir, "outside", 0755);
	mkfile(e->dir, "outside/x", "secret", 0644);
	mkfile(e->ctx, "a.txt", "A", 0644);
	mkfile(e->ctx, "b.txt", "B", 0600);
	mkfile(e->ctx, "exec.sh", "S", 0755);
	mkfile(e->ctx, "ign.txt", "I", 0644);
	mkdirm(e->ctx, "sub", 0750);
	mkfile(e->ctx, "sub/c.txt", "C", 0640);
	mkdirm(e->ctx, "sub/deep", 0755);
	mkfile(e->ctx, "sub/deep/d.txt", "D", 0644);
	mkfile(e->ctx, "sub/deep/skip.txt", "K", 0644);
	mklink(e->ctx, "sub/link", "c.txt");
	mklink(e->ctx, "linkdir", "sub");
	mklink(e->ctx, "out", "../outside");
	mklink(e->ctx, "abs", "/etc");
	mklink(e->ctx, "sub/up", "../../outside/x");
	/* archives for ADD */
	mkdirm(e->dir, "arch", 0755);
	mkdirm(e->dir, "arch/in", 0755);
	mkfile(e->dir, "arch/in/f.txt", "T", 0644);
	p = path_of(e->dir, "arch");
	{
		static const char *const comp[][2] = {{"t.tar", NULL},
		                                      {"t.tar.gz", "-z"},
		                                      {"t.tar.xz", "-J"},
		                                      {"t.tgz.bz2", "-j"},
		                                      {"t.tar.zst", "--zstd"}};
		for (size_t i = 0; i < sizeof(comp) / sizeof(comp[0]); i++) {
			char *out = path_of(e->ctx, comp[i][0]);
			const char *argv[] = {"tar",
			                      "-C",
			                      p,
			                      "--owner=0",
			                      "--group=0",
			                      "-c",
			                      "-f",
			                      out,
			                      comp[i][1] ? comp[i][1] : "in",
			                      comp[i][1] ? "in" : NULL,
			                      NULL};
			run(argv);
			free(out);
		}
	}
	free(p);
	mkfile(e->ctx, "fake.tar.gz", "not an archive", 0644);
	assert_int_equal(st_dockerignore_new(ign, 2, &e->ignore, &err), 0);
}

static void make_target(struct env *e)
{
	char *p;

	mkdirm(e->target, "etc", 0755);
	mkfile(e->target, "etc/passwd",
	       "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n", 0644);
	mkfile(e->target, "etc/group", "root:x:0:\nstaff:x:50:app\n", 0644);
	mkdirm(e->target, "existing", 0700);
	p = path_of(e->target, "existing");
	assert_int_equal(chown(p, 5, 6), 0);
	free(p);
	mklink(e->target, "lnk", "/existing");
	mkfile(e->target, "owned", "O", 0640);
	p = path_of(e->target, "owned");
	assert_int_equal(chown(p, 5, 6), 0);
	free(p);
	mklink(e->target, "abslink", "/etc/group");
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	e->dir = unit_mkdtemp();
	e->ctx = path_of(e->dir, "ctx");
	e->target = path_of(e->dir, "target");
	e->upper = path_of(e->dir, "upper");
	e->memo = path_of(e->dir, "memo");
	if (mkdir(e->ctx, 0755) < 0 || mkdir(e->target, 0755) < 0)
		return -1;
	make_context(e);
	make_target(e);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	unit_rmtree(e->dir);
	st_dockerignore_free(e->ignore);
	free(e->dir), free(e->ctx), free(e->target), free(e->upper), free(e->memo);
	free(e);
	return 0;
}

/* ---- dump of the upper tree: "path type+mode uid:gid content;" sorted ---- */

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void dump_dir(const char *root, const char *rel, char *out, size_t cap)
{
	char *dir = *rel ? path_of(root, rel) : strdup(root);
	DIR *d = opendir(dir);
	char *names[256] = {0};
	size_t n = 0;
	struct dirent *de;

	assert_non_null(d);
	while ((de = readdir(d)) && n < 256)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			names[n++] = strdup(de->d_name);
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n; i++) {
		char *r = *rel ? path_of(rel, names[i]) : strdup(names[i]);
		char *full = path_of(root, r);
		char line[512], content[128] = "";
		struct stat st;
		assert_int_equal(lstat(full, &st), 0);
		if (S_ISREG(st.st_mode)) {
			int fd = open(full, O_RDONLY);
			ssize_t k = read(fd, content, sizeof(content) - 1);
			content[k > 0 ? k : 0] = '\0';
			close(fd);
		} else if (S_ISLNK(st.st_mode)) {
			content[0] = '>';
			ssize_t k = readlink(full, content + 1, sizeof(content) - 2);
			content[k > 0 ? k + 1 : 1] = '\0';
		}
		snprintf(line, sizeof(line), "%s %c%o %u:%u%s%s;", r,
		         S_ISDIR(st.st_mode)   ? 'd'
		         : S_ISLNK(st.st_mode) ? 'l'
		                               : 'f',
		         S_ISLNK(st.st_mode) ? 0 : st.st_mode & 07777, st.st_uid, st.st_gid,
		         *content ? " " : "", content);
		strncat(out, line, cap - strlen(out) - 1);
		if (S_ISDIR(st.st_mode))
			dump_dir(root, r, out, cap);
		free(r), free(full), free(names[i]);
	}
	free(dir);
}

/* ---- the table ---- */

struct copy_case {
	const char *name;
	const char *srcs[3];
	const char *dest;
	const char *workdir;
	const char *chown, *chmod;
	const char *excl; /* --exclude patterns, "|"-separated */
	bool parents, link, add;
	int rc;
	const char *expect; /* dump, or a substring of the error message when rc < 0 */
};

// clang-format off
static const struct copy_case cases[] = {
	{"file into slash dest", {"a.txt"}, "/dst/", NULL, NULL, NULL, NULL, false, false, false, 0,
	  "dst d755 0:0;dst/a.txt f644 0:0 A;"},
	{"file to file", {"a.txt"}, "/dst/new.txt", NULL, NULL, NULL, NULL, false, false, false, 0,
	  "dst d755 0:0;dst/new.txt f644 0:0 A;"},
	{"workdir-relative", {"b.txt"}, "rel.txt", "/w", NULL, NULL, NULL, false, false, false, 0,
	  "w d755 0:0;w/rel.txt f600 0:0 B;"},
	{"dot is the workdir", {"exec.sh"}, ".", "/w/x", NULL, NULL, NULL, false, false, false, 0,
	  "w d755 0:0;w/x d755 0:0;w/x/exec.sh f755 0:0 S;"},
	{"directory contents, new dest takes its mode", {"sub"}, "/s", NULL, NULL, NULL, NULL, false, false, false, 0,
	  "s d750 0:0;s/c.txt f640 0:0 C;s/deep d755 0:0;s/deep/d.txt f644 0:0 D;"
	  "s/link l0 0:0 >c.txt;s/up l0 0:0 >../../outside/x;"},
	{"directory into slash dest", {"sub/deep/"}, "/s2/", NULL, NULL, NULL, NULL, false, false, false, 0,
	  "s2 d755 0:0;s2/d.txt f644 0:0 D;"},
	{"glob, .dockerignore applies", {"*.txt"}, "/g/", NULL, NULL, NULL, NULL, false, false, false, 0,
	  "g d755 0:0;g/a.txt f644 0:0 A;g/b.txt f600 0:0 B;"},
	{"glob in a directory component", {"s?b/*/d.txt"}, "/g/", NULL, NULL, NULL, NULL, false, false, false, 0,
	  "g d755 0:0;g/d.txt f644 0:0 D;"},
	{"glob matching nothing", {"*.none"}, "/g/", NULL, NULL, NULL, NULL, false, false, false, 0,
	  "g d755 0:0;"},
	{"several sources need a directory", {"a.txt", "b.txt"}, "/x", NULL, NULL, NULL, NULL, false, false, false, -ST_EINVALID,
	  "must be a directory and end with a /"},
	{"several sources into a directory", {"a.txt", "sub/c.txt"}, "/x/", NULL, NULL, NULL, NULL, false, false, false, 0,
	  "x d755 0:0;x/a.txt f644 0:0 A;x/c.txt f640 0:0 C;"},
	{"existing directory in the target", {"a.txt"}, "/existing", NULL, NULL, NULL, NULL, false, false, false, 0,
	  "existing d700 5:6;existing/a.txt f644 0:0 A;"},
	{"symlink in the target is followed inside it", {"a.txt"}, "/lnk/", NULL, NULL, NULL, NULL, false, false, false, 0,
	  "existing d700 5:6;existing/a.txt f644 0:0 A;"},
	{"--link does not look at the target", {"a.txt"}, "/existing", NULL, NULL, NULL, NULL, false, true, false, 0,
	  "existing f644 0:0 A;"},
	{"source symlink is followed", {"sub/link"}, "/x", NULL, NULL, NULL, NULL, false, false, false, 0,
	  "x f640 0:0 C;"},
	{"source symlink to a directory", {"linkdir/deep"}, "/x", NULL, NULL, NULL, NULL, false, false, false, 0,
	  "x d755 0:0;x/d.txt f644 0:0 D;"},
	{"missing source", {"nope.txt"}, "/x", NULL, NULL, NULL, NULL, false, false, false, -ST_ENOTFOUND,
	  "COPY nope.txt: no such file"},
	{"ignored source", {"ign.txt"}, "/x", NULL, NULL, NULL, NULL, false, false, false, -ST_ENOTFOUND,
	  "dockerignore"},
	{"dot-dot escape", {"../outside/x"}, "/x", NULL, NULL, NULL, NULL, false, false, false, -ST_EINVALID,
	  "outside the build context"},
	{"symlink escape", {"out/x"}, "/x", NULL, NULL, NULL, NULL, false, false, false, -ST_EINVALID,
	  "symlink 'out' points outside"},
	{"absolute symlink escape", {"abs/passwd"}, "/x", NULL, NULL, NULL, NULL, false, false, false, -ST_EINVALID,
	  "points outside the build context"},
	{"escape as the last component", {"sub/up"}, "/x", NULL, NULL, NULL, NULL, false, false, false, -ST_EINVALID,
	  "sub/up"},
	{"chown by name", {"a.txt"}, "/o/", NULL, "app", NULL, NULL, false, false, false, 0,
	  "o d755 1000:1001;o/a.txt f644 1000:1001 A;"},
	{"chown user:group names", {"a.txt"}, "/o/", NULL, "app:staff", NULL, NULL, false, false, false, 0,
	  "o d755 1000:50;o/a.txt f644 1000:50 A;"},
	{"chown numeric", {"sub/deep"}, "/o", NULL, "7", NULL, NULL, false, false, false, 0,
	  "o d755 7:7;o/d.txt f644 7:7 D;"},
	{"chown unknown user", {"a.txt"}, "/o/", NULL, "nobody", NULL, NULL, false, false, false, -ST_ENOTFOUND,
	  "user 'nobody' not found"},
	{"chmod octal", {"b.txt"}, "/m/", NULL, NULL, "751", NULL, false, false, false, 0,
	  "m d755 0:0;m/b.txt f751 0:0 B;"},
	{"chmod symbolic", {"sub/deep", "exec.sh"}, "/m/", NULL, NULL, "go-rx,u+w", NULL, false, false, false, 0,
	  "m d755 0:0;m/d.txt f600 0:0 D;m/exec.sh f700 0:0 S;"},
	{"chmod invalid", {"a.txt"}, "/m/", NULL, NULL, "9z", NULL, false, false, false, -ST_EINVALID,
	  "--chmod=9z"},
	{"exclude", {"sub"}, "/e", NULL, NULL, NULL, "*.txt", false, false, false, 0,
	  "e d750 0:0;e/deep d755 0:0;e/deep/d.txt f644 0:0 D;e/link l0 0:0 >c.txt;"
	  "e/up l0 0:0 >../../outside/x;"},
	{"exclude a directory", {"sub"}, "/e", NULL, NULL, NULL, "deep", false, false, false, 0,
	  "e d750 0:0;e/c.txt f640 0:0 C;e/link l0 0:0 >c.txt;e/up l0 0:0 >../../outside/x;"},
	{"context root, symlinks inside kept", {"."}, "/all/", NULL, NULL, NULL, "t.*|*.gz", false, false, false, 0,
	  "all d755 0:0;all/a.txt f644 0:0 A;all/abs l0 0:0 >/etc;all/b.txt f600 0:0 B;"
	  "all/exec.sh f755 0:0 S;all/linkdir l0 0:0 >sub;all/out l0 0:0 >../outside;"
	  "all/sub d750 0:0;all/sub/c.txt f640 0:0 C;all/sub/deep d755 0:0;"
	  "all/sub/deep/d.txt f644 0:0 D;all/sub/link l0 0:0 >c.txt;"
	  "all/sub/up l0 0:0 >../../outside/x;"},
	{"parents", {"sub/c.txt", "sub/deep/d.txt"}, "/p/", NULL, NULL, NULL, NULL, true, false, false, 0,
	  "p d755 0:0;p/sub d755 0:0;p/sub/c.txt f640 0:0 C;p/sub/deep d755 0:0;"
	  "p/sub/deep/d.txt f644 0:0 D;"},
	{"parents with a pivot", {"sub/./deep/*.txt"}, "/p/", NULL, NULL, NULL, NULL, true, false, false, 0,
	  "p d755 0:0;p/deep d755 0:0;p/deep/d.txt f644 0:0 D;"},
	{"COPY of a URL", {"http://example.com/x"}, "/u/", NULL, NULL, NULL, NULL, false, false, false, -ST_EINVALID,
	  "URL"},
	{"ADD of a non-archive", {"fake.tar.gz"}, "/y/", NULL, NULL, NULL, NULL, false, false, true, 0,
	  "y d755 0:0;y/fake.tar.gz f644 0:0 not an archive;"},
	{"ADD of a plain file", {"a.txt"}, "/y", NULL, NULL, NULL, NULL, false, false, true, 0,
	  "y f644 0:0 A;"},
};
// clang-format on

static void fill_req(struct env *e, const struct copy_case *c, struct build_copy_req *r,
                     char **excl)
{
	size_t n = 0;

	while (n < 3 && c->srcs[n])
		n++;
	*r = (struct build_copy_req){0};
	r->is_add = c->add;
	r->srcs = c->srcs;
	r->n_srcs = n;
	r->dest = c->dest;
	r->workdir = c->workdir ? c->workdir : "/";
	r->src_root = e->ctx;
	r->from_context = true;
	r->ignore = e->ignore;
	r->target_root = e->target;
	r->chown = c->chown;
	r->chmod = c->chmod;
	r->excludes = (const char *const *)excl;
	r->n_excludes = 0;
	if (c->excl) {
		static char buf[64];
		char *bar;
		snprintf(buf, sizeof(buf), "%s", c->excl);
		excl[r->n_excludes++] = buf;
		if ((bar = strchr(buf, '|')) != NULL) {
			*bar = '\0';
			excl[r->n_excludes++] = bar + 1;
		}
	}
	r->parents = c->parents;
	r->link = c->link;
	r->where = "Dockerfile:3";
}

static void fresh_upper(struct env *e)
{
	unit_rmtree(e->upper);
	assert_int_equal(mkdir(e->upper, 0755), 0);
}

static void exec_and_dump(struct env *e, const struct build_copy_req *r, int want_rc,
                          const char *expect, const char *name)
{
	struct st_error err = {0};
	char dump[4096] = "";
	int rc;

	fresh_upper(e);
	rc = build_copy_exec(r, e->upper, &err);
	if (rc != want_rc)
		fail_msg("%s: rc %d (%s), want %d", name, rc, err.msg, want_rc);
	if (rc < 0) {
		if (!strstr(err.msg, expect))
			fail_msg("%s: message '%s' lacks '%s'", name, err.msg, expect);
		return;
	}
	dump_dir(e->upper, "", dump, sizeof(dump));
	if (strcmp(dump, expect) != 0)
		fail_msg("%s:\n got  %s\n want %s", name, dump, expect);
}

static void copy_rules(void **state)
{
	struct env *e = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct copy_case *c = &cases[i];
		struct build_copy_req r;
		struct build_key k;
		struct st_error err = {0};
		char *excl[2];
		fill_req(e, c, &r, excl);
		exec_and_dump(e, &r, c->rc, c->expect, c->name);
		/* the key agrees with execution on what is an error */
		assert_int_equal(build_key_init(&k, false, &err), 0);
		if (build_copy_key(&r, &k, &err) != c->rc)
			fail_msg("%s: key rc differs: %s", c->name, err.msg);
		build_key_release(&k);
	}
}

/* --from: a root filesystem, where absolute symlinks stay inside and owners are kept. */
static void copy_from_root(void **state)
{
	struct env *e = *state;
	static const char *const s1[] = {"/owned"}, *const s2[] = {"abslink"};
	static const char *const s3[] = {"../../etc/passwd"};
	struct build_copy_req r = {.srcs = s1,
	                           .n_srcs = 1,
	                           .dest = "/f",
	                           .workdir = "/",
	                           .src_root = e->target,
	                           .target_root = NULL};

	exec_and_dump(e, &r, 0, "f f640 5:6 O;", "from keeps owner");
	r.srcs = s2;
	exec_and_dump(e, &r, 0, "f f644 0:0 root:x:0:\nstaff:x:50:app\n;", "from abs symlink");
	r.srcs = s3;
	r.dest = "/g";
	exec_and_dump(
	        e, &r, 0,
	        "g f644 0:0 root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n;",
	        "from dot-dot stays in the root");
	r.srcs = s1;
	r.chown = "1:2";
	exec_and_dump(e, &r, 0, "g f640 1:2 O;", "from with chown");
}

/* ---- key ---- */

static void key_of(struct build_copy_req *r, struct st_digest *out)
{
	struct build_key k;
	struct st_error err = {0};

	assert_int_equal(build_key_init(&k, false, &err), 0);
	if (build_copy_key(r, &k, &err) != 0)
		fail_msg("key: %s", err.msg);
	build_key_final(&k, out);
	build_key_release(&k);
}

/* ---- ADD ---- */

static void add_archives(void **state)
{
	struct env *e = *state;
	static const char *const names[] = {"t.tar", "t.tar.gz", "t.tar.xz", "t.tgz.bz2",
	                                    "t.tar.zst"};

	for (size_t i = 0; i < 5; i++) {
		const char *srcs[] = {names[i]};
		struct build_copy_req r = {.is_add = true,
		                           .srcs = srcs,
		                           .n_srcs = 1,
		                           .dest = "/x",
		                           .workdir = "/",
		                           .src_root = e->ctx,
		                           .from_context = true,
		                           .target_root = e->target};
		exec_and_dump(e, &r, 0, "x d755 0:0;x/in d755 0:0;x/in/f.txt f644 0:0 T;",
		              names[i]);
		r.chown = "app";
		exec_and_dump(e, &r, 0,
		              "x d755 1000:1001;x/in d755 1000:1001;x/in/f.txt f644 1000:1001 T;",
		              names[i]);
	}
}

struct fake_fetch {
	int calls;
	const char *body;
};

static int fake_fetch(void *ctx, const char *url, int fd, int64_t *out_mtime, struct st_error *err)
{
	struct fake_fetch *f = ctx;

	(void)err;
	f->calls++;
	if (strstr(url, "missing"))
		return st_error_set(err, ST_ENET, "HTTP 404");
	assert_int_equal(write(fd, f->body, strlen(f->body)), (ssize_t)strlen(f->body));
	*out_mtime = 1000000;
	return 0;
}

static void add_url(void **state)
{
	struct env *e = *state;
	struct fake_fetch f = {0, "downloaded"};
	static const char *const srcs[] = {"https://example.com/dl/file%2Ebin?x=1"};
	static const char *const bad[] = {"https://example.com/missing"};
	struct build_copy_req r = {.is_add = true,
	                           .srcs = srcs,
	                           .n_srcs = 1,
	                           .dest = "/u/",
	                           .workdir = "/",
	                           .src_root = e->ctx,
	                           .from_context = true,
	                           .target_root = e->target,
	                           .fetch = fake_fetch,
	                           .fetch_ctx = &f};
	struct st_error err = {0};
	char *p = NULL;
	struct stat st;

	exec_and_dump(e, &r, 0, "u d755 0:0;u/file.bin f600 0:0 downloaded;", "url");
	p = path_of(e->upper, "u/file.bin");
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mtime, 1000000);
	free(p);
	/* sha256("downloaded") */
	r.checksum = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
	exec_and_dump(e, &r, -ST_EDIGEST, "checksum mismatch", "url bad checksum");
	{
		struct st_digest d;
		char want[ST_DIGEST_STR_MAX];
		struct st_digest k0, k1;
		int calls;
		assert_int_equal(st_digest_of(ST_DIGEST_SHA256, "downloaded", 10, &d, &err), 0);
		st_digest_str(&d, want);
		r.checksum = want;
		exec_and_dump(e, &r, 0, "u d755 0:0;u/file.bin f600 0:0 downloaded;",
		              "url checksum");
		/* a pinned checksum keys without downloading; otherwise the content decides */
		calls = f.calls;
		key_of(&r, &k0);
		assert_int_equal(f.calls, calls);
		r.checksum = NULL;
		key_of(&r, &k0);
		assert_int_equal(f.calls, calls + 1);
		f.body = "other";
		key_of(&r, &k1);
		assert_false(st_digest_equal(&k0, &k1));
	}
	r.checksum = NULL;
	r.srcs = bad;
	exec_and_dump(e, &r, -ST_ENET, "HTTP 404", "url 404");
	r.fetch = NULL;
	exec_and_dump(e, &r, -ST_EUNSUPPORTED, "downloader", "url without fetch");
	(void)err;
}

static void copy_key(void **state)
{
	struct env *e = *state;
	static const char *const srcs[] = {"."};
	struct build_copy_req r = {.srcs = srcs,
	                           .n_srcs = 1,
	                           .dest = "/app/",
	                           .workdir = "/",
	                           .src_root = e->ctx,
	                           .from_context = true,
	                           .ignore = e->ignore,
	                           .target_root = e->target};
	struct st_digest k0, k1;
	struct timespec ts[2] = {{12345, 0}, {12345, 0}};
	char *a = path_of(e->ctx, "a.txt"), *ign = path_of(e->ctx, "ign.txt");

	key_of(&r, &k0);
	key_of(&r, &k1);
	assert_true(st_digest_equal(&k0, &k1));
	/* touch: same key */
	assert_int_equal(utimensat(AT_FDCWD, a, ts, 0), 0);
	key_of(&r, &k1);
	assert_true(st_digest_equal(&k0, &k1));
	/* an ignored file does not count */
	unit_write_file(ign, "changed", 7);
	key_of(&r, &k1);
	assert_true(st_digest_equal(&k0, &k1));
	/* content, mode, owner and destination do */
	unit_write_file(a, "Z", 1);
	key_of(&r, &k1);
	assert_false(st_digest_equal(&k0, &k1));
	unit_write_file(a, "A", 1);
	key_of(&r, &k1);
	assert_true(st_digest_equal(&k0, &k1));
	assert_int_equal(chmod(a, 0664), 0);
	key_of(&r, &k1);
	assert_false(st_digest_equal(&k0, &k1));
	assert_int_equal(chmod(a, 0644), 0);
	r.chown = "app";
	key_of(&r, &k1);
	assert_false(st_digest_equal(&k0, &k1));
	r.chown = NULL;
	r.dest = "/app2/";
	key_of(&r, &k1);
	assert_false(st_digest_equal(&k0, &k1));
	r.dest = "/app/";
	key_of(&r, &k1);
	assert_true(st_digest_equal(&k0, &k1));
	free(a), free(ign);
}

/* The key and its record with the walk on `threads` threads. */
static void key_rec(struct build_copy_req *r, unsigned threads, struct st_digest *out, char **rec)
{
	struct build_key k;
	struct st_error err = {0};
	int rc;

	r->key_threads = threads;
	assert_int_equal(build_key_init(&k, true, &err), 0);
	rc = build_copy_key(r, &k, &err);
	if (rc != 0)
		fail_msg("key (%u threads): %d %s", threads, rc, err.msg);
	build_key_final(&k, out);
	*rec = strdup(k.rec.data);
	assert_non_null(*rec);
	build_key_release(&k);
}

/* The directory walk on several threads gives the one-thread key and record, item by item,
 * with ignored paths, excludes, symlinks, empty directories and a socket (which sends the
 * parallel walk back to the sequential one). */
static void key_threads_agree(void **state)
{
	struct env *e = *state;
	static const char *const ign[] = {"t/d1*/skip*", "t/d3"};
	static const char *const srcs[] = {"t"}, *const excl[] = {"*/e2/*.log"};
	struct st_dockerignore *ignore = NULL;
	struct st_error err = {0};
	struct build_copy_req r = {.srcs = srcs,
	                           .n_srcs = 1,
	                           .dest = "/app/",
	                           .workdir = "/",
	                           .from_context = true,
	                           .target_root = e->target,
	                           .excludes = excl,
	                           .n_excludes = 1};
	char *root = path_of(e->dir, "ptree"), rel[64], *rec1, *recn, *sock;
	struct st_digest k1, kn;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	mkdirm(root, "", 0755);
	mkdirm(root, "t", 0755);
	for (int d = 0; d < 6; d++) {
		(void)snprintf(rel, sizeof(rel), "t/d%d", d);
		mkdirm(root, rel, 0755);
		for (int s = 0; s < 4; s++) {
			(void)snprintf(rel, sizeof(rel), "t/d%d/e%d", d, s);
			mkdirm(root, rel, s == 3 ? 0700 : 0755);
			for (int f = 0; f < (s == 3 ? 0 : 5); f++) {
				(void)snprintf(rel, sizeof(rel), "t/d%d/e%d/f%d.%s", d, s, f,
				               f == 4 ? "log" : "txt");
				mkfile(root, rel, rel, f == 1 ? 0755 : 0644);
			}
		}
		(void)snprintf(rel, sizeof(rel), "t/d%d/skip.txt", d);
		mkfile(root, rel, "s", 0644);
		(void)snprintf(rel, sizeof(rel), "t/d%d/link", d);
		mklink(root, rel, "e0/f0.txt");
	}
	assert_int_equal(st_dockerignore_new(ign, 2, &ignore, &err), 0);
	r.src_root = root;
	r.ignore = ignore;
	key_rec(&r, 1, &k1, &rec1);
	assert_non_null(strstr(rec1, "file app/d0/e0/f0.txt"));
	assert_null(strstr(rec1, "d1/skip.txt")); /* .dockerignore */
	assert_non_null(strstr(rec1, "d2/skip.txt"));
	assert_null(strstr(rec1, "app/d3"));    /* an ignored directory */
	assert_null(strstr(rec1, "e2/f4.log")); /* --exclude */
	assert_non_null(strstr(rec1, "e1/f4.log"));
	for (unsigned t = 2; t <= 4; t++) {
		key_rec(&r, t, &kn, &recn);
		assert_string_equal(recn, rec1);
		assert_true(st_digest_equal(&kn, &k1));
		free(recn);
	}
	/* a socket: left out by both walks (the parallel one hands over to the sequential) */
	sock = path_of(root, "t/d4/e0/sock");
	assert_true(strlen(sock) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, sock, strlen(sock) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	key_rec(&r, 3, &kn, &recn);
	assert_string_equal(recn, rec1);
	assert_true(st_digest_equal(&kn, &k1));
	free(recn);
	(void)close(fd);
	(void)unlink(sock);
	/* a change deep in the tree changes both alike */
	(void)snprintf(rel, sizeof(rel), "t/d5/e1/f2.txt");
	mkfile(root, rel, "changed", 0644);
	free(rec1);
	key_rec(&r, 1, &k1, &rec1);
	key_rec(&r, 4, &kn, &recn);
	assert_string_equal(recn, rec1);
	assert_true(st_digest_equal(&kn, &k1));
	free(rec1), free(recn), free(sock), free(root);
	st_dockerignore_free(ignore);
}

static void wait_coarse_tick(void)
{
	struct timespec ts = {0, 30 * 1000 * 1000};

	nanosleep(&ts, NULL);
}

static void memo_counts(struct env *e, struct build_copy_req *r, struct st_digest *k,
                        uint64_t *hits, uint64_t *misses)
{
	struct build_hash_memo *m = NULL;
	struct st_error err = {0};

	assert_int_equal(build_hash_memo_open(e->memo, &m, &err), 0);
	r->memo = m;
	key_of(r, k);
	build_hash_memo_stats(m, hits, misses);
	assert_int_equal(build_hash_memo_close(m, &err), 0);
	r->memo = NULL;
}

static void hash_memo(void **state)
{
	struct env *e = *state;
	static const char *const srcs[] = {"sub"};
	struct build_copy_req r = {.srcs = srcs,
	                           .n_srcs = 1,
	                           .dest = "/s",
	                           .workdir = "/",
	                           .src_root = e->ctx,
	                           .from_context = true,
	                           .ignore = e->ignore};
	struct st_digest k0, k1, k2;
	uint64_t hits, misses;
	char *c = path_of(e->ctx, "sub/c.txt");
	struct timespec ts[2] = {{99999, 0}, {99999, 0}};

	(void)unlink(e->memo);
	wait_coarse_tick();
	memo_counts(e, &r, &k0, &hits, &misses);
	assert_int_equal(hits, 0);
	assert_int_equal(misses, 2); /* c.txt, deep/d.txt (skip.txt is ignored) */
	memo_counts(e, &r, &k1, &hits, &misses);
	assert_int_equal(hits, 2);
	assert_int_equal(misses, 0);
	assert_true(st_digest_equal(&k0, &k1));
	/* a change is seen (new ctime), a racy entry is not remembered */
	unit_write_file(c, "X", 1);
	memo_counts(e, &r, &k2, &hits, &misses);
	assert_int_equal(hits, 1);
	assert_int_equal(misses, 1);
	assert_false(st_digest_equal(&k0, &k2));
	wait_coarse_tick();
	memo_counts(e, &r, &k2, &hits, &misses);
	memo_counts(e, &r, &k2, &hits, &misses);
	assert_int_equal(hits, 2);
	/* touch back to the old content: same key as before, memo or not */
	unit_write_file(c, "C", 1);
	assert_int_equal(utimensat(AT_FDCWD, c, ts, 0), 0);
	wait_coarse_tick();
	memo_counts(e, &r, &k2, &hits, &misses);
	assert_true(st_digest_equal(&k0, &k2));
	/* a torn memo file is only a cache */
	unit_write_file(e->memo, "garbage", 7);
	memo_counts(e, &r, &k2, &hits, &misses);
	assert_true(st_digest_equal(&k0, &k2));
	assert_int_equal(hits, 0);
	/* it is written without fsync: one wrong byte of a remembered digest (a crash's damage)
	 * fails its checksum, so the file is hashed again instead of trusted */
	memo_counts(e, &r, &k2, &hits, &misses);
	assert_int_equal(hits, 2);
	{
		struct st_buf b = ST_BUF_INIT;
		assert_int_equal(st_read_file_at(AT_FDCWD, e->memo, &b, 1 << 20, NULL), 0);
		assert_true(b.len > 16 + 88);
		b.data[16 + 88 - 1] ^= 1; /* the last byte of the first record's sha256 */
		unit_write_file(e->memo, b.data, b.len);
		st_buf_release(&b);
	}
	memo_counts(e, &r, &k2, &hits, &misses);
	assert_int_equal(hits, 0);
	assert_int_equal(misses, 2);
	assert_true(st_digest_equal(&k0, &k2));
	free(c);
}

/* Go's filepath.Match, as BuildKit's wildcard sources use it. */
static void match_name(void **state)
{
	static const struct {
		const char *pat, *name;
		int want;
	} t[] = {
	        {"*", "abc", 1},
	        {"*", ".hidden", 1},
	        {"a*c", "abbbc", 1},
	        {"a*c", "abd", 0},
	        {"a?c", "abc", 1},
	        {"a?c",
	         "a\xc3\xa9"
	         "c",
	         1},
	        {"[a-c]x", "bx", 1},
	        {"[^a-c]x", "bx", 0},
	        {"[^a-c]x", "dx", 1},
	        {"\\*", "*", 1},
	        {"\\*", "a", 0},
	        {"[", "a", -1},
	        {"a[", "a", -1},
	        {"[]a]", "]", -1},
	        {"*x", "xxx", 1},
	        {"[\\]]", "]", 1},
	        {"a*b*c", "axxbyyc", 1},
	        {"ab[", "x", -1},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (copy_match_name(t[i].pat, t[i].name) != t[i].want)
			fail_msg("Match(%s, %s) != %d", t[i].pat, t[i].name, t[i].want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(copy_rules),   cmocka_unit_test(copy_from_root),
	        cmocka_unit_test(add_archives), cmocka_unit_test(add_url),
	        cmocka_unit_test(copy_key),     cmocka_unit_test(key_threads_agree),
	        cmocka_unit_test(hash_memo),    cmocka_unit_test(match_name),
	};
	return cmocka_run_group_tests_name("build-copy", tests, setup, teardown);
}
