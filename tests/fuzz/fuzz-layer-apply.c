/* fuzz-layer-apply.c: st_layer_apply_fd on arbitrary bytes (plain, gzip or zstd tar) into a
 * fresh temporary root, in both forms. Invariant: nothing outside the root changes; a canary
 * file next to the root keeps its content and its directory holds nothing else. */
#include "fuzz.h"
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "strata/layer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char base[4096];
static char outside[4200], canary[4300];

static void init_once(void)
{
	const char *tmp = getenv("TMPDIR");

	if (base[0])
		return;
	(void)snprintf(base, sizeof(base), "%s/fuzz-layer-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	FUZZ_CHECK(mkdtemp(base));
	(void)snprintf(outside, sizeof(outside), "%s/outside", base);
	(void)snprintf(canary, sizeof(canary), "%s/canary", outside);
	FUZZ_CHECK(mkdir(outside, 0755) == 0);
	int fd = open(canary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	FUZZ_CHECK(fd >= 0 && write(fd, "canary", 6) == 6);
	close(fd);
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	FUZZ_CHECK(d);
	while ((de = readdir(d)))
		n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
	closedir(d);
	return n;
}

static void check_outside(void)
{
	char buf[16] = {0};
	struct stat st;
	int fd = open(canary, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	FUZZ_CHECK(fd >= 0);
	FUZZ_CHECK(read(fd, buf, sizeof(buf)) == 6 && memcmp(buf, "canary", 6) == 0);
	FUZZ_CHECK(fstat(fd, &st) == 0 && st.st_nlink == 1 && S_ISREG(st.st_mode));
	close(fd);
	FUZZ_CHECK(count_entries(outside) == 1);
	FUZZ_CHECK(count_entries(base) == 1); /* outside/ only: each root is removed after use */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct st_layer_apply_opts o = {0};
	struct st_error err = ST_ERROR_INIT;
	char root[4200];
	int fd;

	init_once();
	o.limits.max_bytes = 16 << 20;
	o.limits.max_entries = 2000;
	for (int mode = 0; mode < 2; mode++) {
		o.mode = mode ? ST_LAYER_APPLY_OVERLAY : ST_LAYER_APPLY_FLAT;
		(void)snprintf(root, sizeof(root), "%s/root-XXXXXX", base);
		FUZZ_CHECK(mkdtemp(root));
		fd = memfd_create("layer", MFD_CLOEXEC);
		FUZZ_CHECK(fd >= 0);
		FUZZ_CHECK(size == 0 || write(fd, data, size) == (ssize_t)size);
		FUZZ_CHECK(lseek(fd, 0, SEEK_SET) == 0);
		if (st_layer_apply(root, fd, &o, NULL, &err) < 0)
			FUZZ_CHECK(err.msg[0] != '\0');
		close(fd);
		FUZZ_CHECK(st_layer_remove_tree(root, &err) == 0);
		check_outside();
	}
	return 0;
}
