/* test-layer-pool.c: apply with file threads (threads > 1) against apply on one thread: layers
 * written by Python's tarfile (many files, xattrs, owners, setuid and setgid modes, ns mtimes,
 * hardlinks, symlinks, whiteouts, opaque dirs, duplicates, type changes, a file larger than the
 * pool takes) give identical trees; the orderings the pool must keep; a failing worker fails the
 * apply naming the earliest failed entry, and extract_new leaves nothing behind; the pool's
 * fds stay bounded. */
#include "unit.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "layer-util.h"

/* "gen TAR SEED lower|upper": a generated layer (upper goes on top of lower of the same seed).
 * "make TAR SPEC...": as layer_py's, plus X:name:xattr-name (a file "x" with that xattr).
 * "tree DIR [nodirtimes]": one sorted line per path with everything apply sets (mtimes in ns;
 * nodirtimes: not those of directories, which entries without a directory entry change). */
static const char pool_py1[] =
        "import hashlib, io, os, random, stat, sys, tarfile\n"
        "def add(t, name, ty=tarfile.REGTYPE, data=None, mode=0o644, link='', xa=None,\n"
        "        uid=0, gid=0, mtime=1000.5):\n"
        "    m = tarfile.TarInfo(name); m.type = ty; m.mode = mode; m.uid = uid; m.gid = gid\n"
        "    m.mtime = mtime; m.linkname = link\n"
        "    if xa: m.pax_headers = {'SCHILY.xattr.' + k: v for k, v in xa.items()}\n"
        "    if data is None: t.addfile(m)\n"
        "    else: m.size = len(data); t.addfile(m, io.BytesIO(data))\n"
        "def gen(path, seed, kind):\n"
        "    R = random.Random(seed); L = random.Random(seed)\n"
        "    dirs = ['d%02d' % i for i in range(24)] + ['d%02d/sub' % i for i in range(8)]\n"
        "    files = [(d, 'f%03d' % j) for d in dirs for j in range(L.randrange(4, 40))]\n"
        "    T = lambda: 1000000 + R.randrange(10 ** 6) + R.randrange(1, 10 ** 6) / 1e6\n"
        "    owners = [(0, 0), (1000, 1000), (65534, 50)]\n"
        "    modes = [0o644, 0o755, 0o600, 0o4755, 0o2711, 0o444]\n"
        "    def content(): return os.urandom(R.choice([0, 1, 100, 4096, 20000, 70000]))\n"
        "    with tarfile.open(path, 'w', format=tarfile.PAX_FORMAT) as t:\n"
        "        add(t, '.', tarfile.DIRTYPE, mode=0o755, mtime=T())\n"
        "        for d in dirs:\n"
        "            add(t, d, tarfile.DIRTYPE, mode=0o2775 if d == 'd05' else 0o755,\n"
        "                gid=50 if d == 'd05' else 0, mtime=T())\n"
        "        if kind == 'lower':\n"
        "            for i, (d, f) in enumerate(files):\n"
        "                o = R.choice(owners)\n"
        "                xa = {'user.k': 'v%d' % i} if R.random() < 0.1 else None\n"
        "                add(t, d + '/' + f, data=content(), mode=R.choice(modes), uid=o[0],\n"
        "                    gid=o[1], xa=xa, mtime=T())\n"
        "                if R.random() < 0.04:\n"
        "                    a = R.choice(files[:i + 1])\n"
        "                    add(t, d + '/h' + f, tarfile.LNKTYPE, link=a[0] + '/' + a[1])\n"
        "                if R.random() < 0.03:\n"
        "                    add(t, d + '/s' + f, tarfile.SYMTYPE, link='../' + f, mtime=T())\n"
        "            add(t, 'd01/big', data=os.urandom(5 << 20), mode=0o640, mtime=T())\n"
        "            add(t, 'd02/fifo', tarfile.FIFOTYPE, mode=0o600, mtime=T())\n"
        "            add(t, 'd03', tarfile.DIRTYPE, mode=0o750, uid=1000, mtime=T())\n"
        "            return\n"
        "        for i in range(300):\n"
        "            d = R.choice(dirs)\n"
        "            add(t, d + '/n%03d' % i, data=content(), mode=R.choice(modes), mtime=T())\n"
        "        for i, (d, f) in enumerate(R.sample(files, 60)):\n"
        "            r = R.randrange(7)\n"
        "            if r == 0: add(t, d + '/.wh.' + f)\n"
        "            elif r == 1: add(t, d + '/' + f, data=b'again %d' % i, mtime=T())\n"
        "            elif r == 2: add(t, d + '/' + f, tarfile.DIRTYPE, mode=0o711, mtime=T())\n"
        "            elif r == 3: add(t, d + '/l' + f, tarfile.LNKTYPE, link=d + '/' + f)\n"
        "            elif r == 4: add(t, d + '/' + f, tarfile.SYMTYPE, link='x', mtime=T())\n"
        "            elif r == 5: add(t, d + '/q' + f, data=b'q'); add(t, d + '/' + f,\n"
        "                             tarfile.LNKTYPE, link=d + '/q' + f)\n"
        "            else: add(t, d + '/' + f, data=content(), xa={'user.n': 'u'}, mtime=T())\n"
        "        add(t, 'd06/.wh..wh..opq')\n"
        "        add(t, '.wh.d07')\n"
        "        add(t, 'd08', data=b'a file now', mtime=T())\n"
        "        add(t, 'd09', tarfile.DIRTYPE, mode=0o700, uid=1000, gid=1000, mtime=T())\n"
        "        for i in range(100):\n"
        "            add(t, 'd09/m%03d' % i, data=content(), mtime=T())\n";
/* (two strings: C17 compilers need not take string literals over 4095 bytes) */
static const char pool_py2[] =
        "def tree(root, dirtimes):\n"
        "    out, ino = [], {}\n"
        "    for dp, dn, fn in os.walk(root):\n"
        "        for n in sorted(dn + fn):\n"
        "            p = os.path.join(dp, n); r = os.path.relpath(p, root); st = os.lstat(p)\n"
        "            x = ''\n"
        "            if stat.S_ISREG(st.st_mode):\n"
        "                x = hashlib.sha256(open(p, 'rb').read()).hexdigest()[:16]\n"
        "                x += ' size=%d links=%d first=%s' % (st.st_size, st.st_nlink,\n"
        "                                                     ino.setdefault(st.st_ino, r))\n"
        "            elif stat.S_ISLNK(st.st_mode): x = '->' + os.readlink(p)\n"
        "            xs = sorted(os.listxattr(p, follow_symlinks=False))\n"
        "            x += ' ' + ' '.join('%s=%s' % (k, os.getxattr(p, k, follow_symlinks=False))\n"
        "                                for k in xs)\n"
        "            t = st.st_mtime_ns if dirtimes or not stat.S_ISDIR(st.st_mode) else '-'\n"
        "            out.append('%s %o %d:%d %s %s' % (r, st.st_mode, st.st_uid, st.st_gid, t, "
        "x))\n"
        "    print('\\n'.join(sorted(out)))\n"
        "def make(path, specs):\n"
        "    with tarfile.open(path, 'w', format=tarfile.PAX_FORMAT) as t:\n"
        "        for s in specs:\n"
        "            ty, name, arg = (s.split(':', 2) + [''])[:3]\n"
        "            if ty == 'f': add(t, name, data=arg.encode())\n"
        "            elif ty == 'd': add(t, name, tarfile.DIRTYPE, mode=0o755)\n"
        "            elif ty == 'l': add(t, name, tarfile.SYMTYPE, link=arg)\n"
        "            elif ty == 'h': add(t, name, tarfile.LNKTYPE, link=arg)\n"
        "            elif ty == 'X': add(t, name, data=b'x', xa={arg: 'v'})\n"
        "if sys.argv[1] == 'gen': gen(sys.argv[2], int(sys.argv[3]), sys.argv[4])\n"
        "elif sys.argv[1] == 'tree': tree(sys.argv[2], len(sys.argv) == 3)\n"
        "else: make(sys.argv[2], sys.argv[3:])\n";

static char pool_py[sizeof(pool_py1) + sizeof(pool_py2)];

struct env {
	char *dir, *tar, *lower, *upper, *listing;
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	(void)snprintf(pool_py, sizeof(pool_py), "%s%s", pool_py1, pool_py2);
	e->dir = unit_mkdtemp();
	if (!e->dir)
		return -1;
	e->tar = lu_path(e->dir, "layer.tar");
	e->lower = lu_path(e->dir, "lower.tar");
	e->upper = lu_path(e->dir, "upper.tar");
	e->listing = lu_path(e->dir, "listing");
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	unit_rmtree(e->dir);
	free(e->dir), free(e->tar), free(e->lower), free(e->upper), free(e->listing);
	free(e);
	return 0;
}

/* Makes e->tar from pool_py "make" specs, NULL-terminated. */
static void make_tar(struct env *e, ...)
{
	const char *argv[400] = {"python3", "-c", pool_py, "make", e->tar};
	size_t n = 5;
	va_list ap;
	const char *s;

	va_start(ap, e);
	while ((s = va_arg(ap, const char *)) && n < 398)
		argv[n++] = s;
	va_end(ap);
	argv[n] = NULL;
	assert_int_equal(lu_run(argv, NULL), 0);
}

static int apply(const char *root, const char *tar, unsigned threads, struct st_error *err)
{
	struct st_layer_apply_opts o = {.threads = threads};
	int fd = open(tar, O_RDONLY | O_CLOEXEC);
	int root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	assert_true(fd >= 0);
	assert_true(root_fd >= 0);
	/* the _fd form: its return code is the failing call's own, not err's */
	rc = st_layer_apply_fd(root_fd, fd, &o, NULL, err);
	close(fd);
	close(root_fd);
	return rc;
}

static void apply_ok(const char *root, const char *tar, unsigned threads)
{
	struct st_error err = ST_ERROR_INIT;

	if (apply(root, tar, threads, &err) < 0)
		fail_msg("apply (%u threads): %s", threads, err.msg);
}

/* A fresh root under the test's directory. */
static char *new_root(struct env *e, const char *name)
{
	char *p = lu_path(e->dir, name);

	assert_int_equal(mkdir(p, 0755), 0);
	return p;
}

static char *tree_of(struct env *e, const char *root, bool dirtimes)
{
	const char *argv[] = {
	        "python3", "-c", pool_py, "tree", root, dirtimes ? NULL : "nodirtimes", NULL};

	assert_int_equal(lu_run(argv, e->listing), 0);
	return lu_slurp(e->listing);
}

static char *slurp_in(const char *dir, const char *name)
{
	char *p = lu_path(dir, name), *s = lu_slurp(p);

	free(p);
	return s;
}

static void assert_content(const char *root, const char *name, const char *want)
{
	char *s = slurp_in(root, name);

	if (!s)
		fail_msg("%s: missing", name);
	assert_string_equal(s, want);
	free(s);
}

static bool exists_in(const char *dir, const char *name)
{
	struct stat st;
	char *p = lu_path(dir, name);
	bool r = lstat(p, &st) == 0;

	free(p);
	return r;
}

static void one_and_many_threads_make_identical_trees(void **state)
{
	struct env *e = *state;
	const char *lo[] = {"python3", "-c", pool_py, "gen", e->lower, "7", "lower", NULL};
	const char *up[] = {"python3", "-c", pool_py, "gen", e->upper, "7", "upper", NULL};
	char *one = new_root(e, "one"), *want, *got;
	char name[32];

	assert_int_equal(lu_run(lo, NULL), 0);
	assert_int_equal(lu_run(up, NULL), 0);
	apply_ok(one, e->lower, 1);
	apply_ok(one, e->upper, 1);
	want = tree_of(e, one, true);
	assert_non_null(want);
	assert_true(strlen(want) > 30000); /* a thousand paths or so */
	/* two and four threads, each applied a few times: a race would show as a difference */
	for (unsigned i = 0; i < 4; i++) {
		unsigned threads = i % 2 ? 4 : 2;
		char *root;
		(void)snprintf(name, sizeof(name), "many-%u", i);
		root = new_root(e, name);
		apply_ok(root, e->lower, threads);
		apply_ok(root, e->upper, threads);
		got = tree_of(e, root, true);
		assert_non_null(got);
		if (strcmp(want, got) != 0)
			fail_msg("%u threads: the tree differs from the one-thread tree", threads);
		free(got);
		unit_rmtree(root);
		free(root);
	}
	free(want);
	free(one);
}

/* Entries that touch a file the pool may still hold: each must see the state a single thread
 * would. 200 files first keep the workers busy. */
static void duplicates_hardlinks_whiteouts_and_type_changes_keep_tar_order(void **state)
{
	struct env *e = *state;
	const char *argv[400] = {"python3", "-c", pool_py, "make", e->tar};
	char specs[200][32];
	size_t n = 5;
	char *roots[2], *trees[2];
	struct stat a, b;

	/* the lower layer: what whiteouts and the opaque marker remove */
	make_tar(e, "d:low", "f:low/a:a", "d:op", "f:op/old:old", "f:gone:g", NULL);
	for (size_t i = 0; i < 200; i++) {
		(void)snprintf(specs[i], sizeof(specs[i]), "f:q%zu/f%zu:%zu", i % 3, i, i);
		argv[n++] = specs[i];
	}
	{
		const char *tail[] = {"f:q0/dup:first",
		                      "f:q0/t:old",
		                      "h:q0/hl:q0/t",
		                      "f:q0/t:new",
		                      "f:q0/dup:second",
		                      "f:q1/w:kept",
		                      "f:q1/.wh.w",
		                      "f:low/new:n",
		                      "f:.wh.low",
		                      "f:op/n1:n1",
		                      "f:op/.wh..wh..opq",
		                      "f:x:file",
		                      "d:x",
		                      "f:x/in:in",
		                      "d:y",
		                      "f:y/in:in",
		                      "f:y:file",
		                      "d:real",
		                      "l:alias:real",
		                      "f:real/f:one",
		                      "f:alias/f:two",
		                      "f:real/g:G",
		                      "h:real/hg:alias/g",
		                      "f:.wh.gone",
		                      "f:gone:back",
		                      NULL};
		for (size_t i = 0; tail[i]; i++)
			argv[n++] = tail[i];
	}
	argv[n] = NULL;
	for (int k = 0; k < 2; k++) {
		roots[k] = new_root(e, k ? "four" : "one");
		apply_ok(roots[k], e->tar, 1); /* the lower layer, made above */
	}
	assert_int_equal(lu_run(argv, NULL), 0);
	for (int k = 0; k < 2; k++) {
		apply_ok(roots[k], e->tar, k ? 4 : 1);
		assert_content(roots[k], "q0/dup", "second");
		assert_content(roots[k], "q0/hl", "old"); /* the link kept the first t */
		assert_content(roots[k], "q0/t", "new");
		assert_content(roots[k], "q1/w", "kept"); /* a whiteout spares its own layer */
		assert_false(exists_in(roots[k], "low"));
		assert_content(roots[k], "op/n1", "n1");
		assert_false(exists_in(roots[k], "op/old"));
		assert_content(roots[k], "x/in", "in");
		assert_content(roots[k], "y", "file");
		assert_content(roots[k], "real/f", "two"); /* the same file through a symlink */
		assert_content(roots[k], "gone", "back");
		assert_content(roots[k], "q1/f199", "199");
		{
			char *p = lu_path(roots[k], "real/g"), *q = lu_path(roots[k], "real/hg");
			assert_int_equal(lstat(p, &a), 0);
			assert_int_equal(lstat(q, &b), 0);
			assert_int_equal(a.st_ino, b.st_ino);
			free(p), free(q);
		}
		trees[k] = tree_of(e, roots[k], false);
		assert_non_null(trees[k]);
	}
	assert_string_equal(trees[0], trees[1]);
	for (int k = 0; k < 2; k++)
		free(roots[k]), free(trees[k]);
}

/* Applies e->tar with 1 and with 4 threads into fresh roots: both fail with the same code and
 * message, which names `entry`. */
static void assert_same_failure(struct env *e, const char *entry)
{
	struct st_error err1 = ST_ERROR_INIT, err4 = ST_ERROR_INIT;
	char *r1 = new_root(e, "one"), *r4 = new_root(e, "four");
	char want[64];

	int rc1 = apply(r1, e->tar, 1, &err1), rc4 = apply(r4, e->tar, 4, &err4);

	assert_true(rc1 < 0);
	assert_int_equal(rc4, rc1);
	assert_int_equal(rc1, -(int)err1.code);
	(void)snprintf(want, sizeof(want), "entry '%s'", entry);
	if (!strstr(err1.msg, want) || !strstr(err4.msg, want))
		fail_msg("want %s: one thread: %s; four: %s", want, err1.msg, err4.msg);
	assert_string_equal(err4.msg, err1.msg);
	assert_int_equal(err4.code, err1.code);
	unit_rmtree(r1), unit_rmtree(r4);
	free(r1), free(r4);
}

/* A file whose xattr cannot be set fails in a worker. d0/bad1 waits behind 200 files of its
 * directory on one worker while d1/bad2, later in the tar, fails first on another; then the
 * applying thread fails on "../escape" before any worker: the earliest entry is reported. */
static void a_failing_worker_fails_the_apply_naming_the_earliest_entry(void **state)
{
	struct env *e = *state;
	/* (directories first: making a missing parent waits for the pool) */
	const char *argv[400] = {"python3", "-c", pool_py, "make", e->tar, "d:d0", "d:d1"};
	char specs[200][32];
	size_t n = 7;

	for (size_t i = 0; i < 200; i++) {
		(void)snprintf(specs[i], sizeof(specs[i]), "f:d0/f%zu:%zu", i, i);
		argv[n++] = specs[i];
	}
	argv[n++] = "X:d0/bad1:bogus.x";
	argv[n++] = "X:d1/bad2:bogus.y";
	argv[n++] = "f:../escape:x";
	argv[n] = NULL;
	assert_int_equal(lu_run(argv, NULL), 0);
	assert_same_failure(e, "d0/bad1");
	/* the applying thread fails while bad1 still waits: bad1 is reported */
	argv[n - 2] = argv[n - 1];
	argv[n - 1] = NULL;
	assert_int_equal(lu_run(argv, NULL), 0);
	assert_same_failure(e, "d0/bad1");
	/* a queued file taken for a directory: refused as on one thread, not made a directory */
	make_tar(e, "f:d/f1:1", "f:d/f2:2", "f:d/file:x", "f:d/file/sub:y", NULL);
	assert_same_failure(e, "d/file/sub");
}

/* Counts this process's open fds until told to stop; keeps the maximum. */
struct fd_watch {
	atomic_bool stop;
	int max;
};

static void *watch_fds(void *arg)
{
	struct fd_watch *w = arg;

	while (!atomic_load(&w->stop)) {
		DIR *d = opendir("/proc/self/fd");
		int n = 0;
		if (!d)
			break;
		while (readdir(d))
			n++;
		closedir(d);
		if (n > w->max)
			w->max = n;
	}
	return NULL;
}

/* "d/a/x<i>" then "d/y<i>", 1,000 times: each change of parent is a new directory handle (an
 * fd) for the jobs queued in it. Queued jobs hold at most 64 of them (without the bound they
 * held ~250 here, until the limit of 256 open files stopped them), and the apply succeeds. */
static void alternating_directories_stay_within_the_open_file_limit(void **state)
{
	struct env *e = *state;
	const size_t n_files = 2000;
	const char **argv = calloc(n_files + 8, sizeof(*argv));
	char(*specs)[24] = calloc(n_files, sizeof(*specs));
	char *root = new_root(e, "root");
	struct rlimit old, low;
	struct fd_watch watch = {.max = 0};
	pthread_t watcher;
	struct st_error err = ST_ERROR_INIT;
	DIR *d;
	size_t n = 0, found = 0;
	int rc;

	assert_non_null(argv);
	assert_non_null(specs);
	{
		const char *head[] = {"python3", "-c", pool_py, "make", e->tar, "d:d", "d:d/a"};
		for (size_t i = 0; i < sizeof(head) / sizeof(head[0]); i++)
			argv[n++] = head[i];
	}
	for (size_t i = 0; i < n_files; i++) {
		(void)snprintf(specs[i], sizeof(specs[i]), i % 2 ? "f:d/y%zu:y" : "f:d/a/x%zu:x",
		               i);
		argv[n++] = specs[i];
	}
	assert_int_equal(lu_run(argv, NULL), 0);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = 256;
	if (old.rlim_cur < 256 || old.rlim_max < 256)
		skip();
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	atomic_init(&watch.stop, false);
	assert_int_equal(pthread_create(&watcher, NULL, watch_fds, &watch), 0);
	rc = apply(root, e->tar, 4, &err);
	atomic_store(&watch.stop, true);
	assert_int_equal(pthread_join(watcher, NULL), 0);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	if (rc < 0)
		fail_msg("apply: %s", err.msg);
	if (watch.max > 64 + 40)
		fail_msg("%d fds open at once", watch.max);
	{
		char *p = lu_path(root, "d/a");
		d = opendir(p);
		free(p);
	}
	assert_non_null(d);
	while (readdir(d))
		found++;
	closedir(d);
	assert_int_equal(found, n_files / 2 + 2); /* and . and .. */
	free(argv), free(specs), free(root);
}

static void extract_new_removes_what_a_failed_pooled_apply_made(void **state)
{
	struct env *e = *state;
	struct st_layer_apply_opts o = {.threads = 4};
	struct st_error err = ST_ERROR_INIT;
	const char *argv[400] = {"python3", "-c", pool_py, "make", e->tar};
	char specs[300][32];
	char *dest = lu_path(e->dir, "new");
	size_t n = 5;
	DIR *d;
	struct dirent *de;
	int fd;

	for (size_t i = 0; i < 300; i++) {
		if (i == 200)
			(void)snprintf(specs[i], sizeof(specs[i]), "X:d0/bad:bogus.x");
		else
			(void)snprintf(specs[i], sizeof(specs[i]), "f:d%zu/f%zu:%zu", i % 5, i, i);
		argv[n++] = specs[i];
	}
	argv[n] = NULL;
	assert_int_equal(lu_run(argv, NULL), 0);
	fd = open(e->tar, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_true(st_layer_extract_new(dest, fd, &o, NULL, &err) < 0);
	close(fd);
	assert_non_null(strstr(err.msg, "'d0/bad'"));
	assert_false(exists_in(e->dir, "new"));
	d = opendir(e->dir);
	assert_non_null(d);
	while ((de = readdir(d)))
		assert_null(strstr(de->d_name, ".tmp-"));
	closedir(d);
	free(dest);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
	        T(one_and_many_threads_make_identical_trees),
	        T(duplicates_hardlinks_whiteouts_and_type_changes_keep_tar_order),
	        T(a_failing_worker_fails_the_apply_naming_the_earliest_entry),
	        T(alternating_directories_stay_within_the_open_file_limit),
	        T(extract_new_removes_what_a_failed_pooled_apply_made),
	};
#undef T
	return cmocka_run_group_tests_name("layer-pool", tests, NULL, NULL);
}
