/* layer-util.h: helpers of the layer tests: running reference tools (python3 tarfile, gzip,
 * sha256sum) and building trees. Header-only so that each test-layer*.c stays one file. */
#ifndef ST_LAYER_UTIL_H
#define ST_LAYER_UTIL_H

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "strata/layer.h"

extern char **environ;

/* Python helper. "list TAR": one line per entry "name|type|mode|uid|gid|uname|gname|mtime|size|
 * linkname|paxkeys" (tarfile streaming mode r|*, so several gzip members would fail).
 * "make TAR [gz] SPEC...": writes a PAX tar; SPEC is type:name[:arg]:
 * f file (arg content), F file of arg zero bytes, d dir, l symlink, h hardlink, c 0/0 char dev. */
static const char layer_py[] =
        "import sys, tarfile, io\n"
        "def lst(p):\n"
        "    with tarfile.open(p, 'r|*') as t:\n"
        "        for m in t:\n"
        "            keys = ','.join(sorted(m.pax_headers.keys()))\n"
        "            print('|'.join(str(x) for x in [m.name, m.type.decode(), oct(m.mode), m.uid,\n"
        "                  m.gid, m.uname, m.gname, int(m.mtime), m.size, m.linkname, keys]))\n"
        "def mk(p, gz, specs):\n"
        "    with tarfile.open(p, 'w:gz' if gz else 'w', format=tarfile.PAX_FORMAT) as t:\n"
        "        for s in specs:\n"
        "            ty, name, arg = (s.split(':', 2) + [''])[:3]\n"
        "            m = tarfile.TarInfo(name); m.mtime = 1000; m.mode = 0o644\n"
        "            data = None\n"
        "            if ty == 'f': data = arg.encode(); m.size = len(data)\n"
        "            elif ty == 'F': m.size = int(arg); data = b'\\0' * m.size\n"
        "            elif ty == 'd': m.type = tarfile.DIRTYPE; m.mode = 0o755\n"
        "            elif ty == 'l': m.type = tarfile.SYMTYPE; m.linkname = arg\n"
        "            elif ty == 'h': m.type = tarfile.LNKTYPE; m.linkname = arg\n"
        "            elif ty == 'c': m.type = tarfile.CHRTYPE; m.devmajor = 0; m.devminor = 0\n"
        "            t.addfile(m, io.BytesIO(data) if data is not None else None)\n"
        "if sys.argv[1] == 'list': lst(sys.argv[2])\n"
        "else:\n"
        "    gz = len(sys.argv) > 3 and sys.argv[3] == 'gz'\n"
        "    mk(sys.argv[2], gz, sys.argv[4 if gz else 3:])\n";

/* Runs argv; stdout goes to out_path when not NULL. Returns the exit status (-1: not run). */
static inline int lu_run(const char *const *argv, const char *out_path)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int status = -1;

	posix_spawn_file_actions_init(&fa);
	if (out_path)
		posix_spawn_file_actions_addopen(&fa, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC,
		                                 0644);
	if (posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return -1;
	}
	posix_spawn_file_actions_destroy(&fa);
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/* Reads a whole (small) file into a malloc'd NUL-terminated string. */
static inline char *lu_slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0;

	if (!f)
		return NULL;
	if (getdelim(&buf, &len, '\0', f) < 0) {
		free(buf);
		buf = strdup("");
	}
	fclose(f);
	return buf;
}

/* "sha256:" + the first field of `sha256sum FILE`'s output. */
static inline void lu_sha256sum(const char *file, const char *tmp_out, char *out)
{
	const char *argv[] = {"sha256sum", file, NULL};
	char *s;

	assert_int_equal(lu_run(argv, tmp_out), 0);
	s = lu_slurp(tmp_out);
	assert_non_null(s);
	(void)snprintf(out, ST_DIGEST_STR_MAX, "sha256:%.64s", s);
	free(s);
}

static inline char *lu_path(const char *dir, const char *name)
{
	char *p = NULL;

	assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
	return p;
}

#endif
