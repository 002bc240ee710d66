/* build-copy-add.c: what ADD does beyond COPY: a local tar archive (plain, gzip, bzip2, xz or
 * zstd) is extracted through the layer module's confined apply, and an http(s) URL is downloaded
 * through the caller's fetch callback (mode 0600, Last-Modified as mtime, --checksum checked).
 * libarchive is used here only to decompress (the tar parser exposed to the archive is layer's). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "build/build-copy-internal.h"
#include "layer/archive-api.h"
#include "strata/layer.h"
#include "util/cleanup.h"
#include "util/fs.h"

#include "util/banned.h"

/* NEEDSWORK: downloads are held in a memfd (RAM or swap) until copied into the layer. */
#define TAR_BLOCK 512
#define FEED_BUF (256 * 1024)

/* A reader that decompresses whatever Docker's ADD accepts; format "raw" yields the bytes. */
static struct archive *open_decompressor(int fd)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;

	if (!a)
		return NULL;
	/* ARCHIVE_WARN means an external program would be used; none of these needs one here */
	(void)archive_read_support_filter_gzip(a);
	(void)archive_read_support_filter_bzip2(a);
	(void)archive_read_support_filter_xz(a);
	(void)archive_read_support_filter_zstd(a);
	if (archive_read_support_format_raw(a) != ARCHIVE_OK ||
	    archive_read_open_fd(a, fd, 64 * 1024) != ARCHIVE_OK ||
	    archive_read_next_header(a, &e) != ARCHIVE_OK) {
		archive_read_free(a);
		return NULL;
	}
	return a;
}

/* Go's archive/tar accepts a header whose checksum matches as unsigned or signed bytes. */
static bool tar_header_ok(const unsigned char *b)
{
	uint64_t stored = 0, us = 0;
	int64_t ss = 0;
	size_t i = 148;
	bool zero = true;

	for (size_t j = 0; j < TAR_BLOCK; j++)
		zero = zero && b[j] == 0;
	if (zero)
		return false;
	while (i < 156 && (b[i] == ' ' || b[i] == 0))
		i++;
	if (i == 156)
		return false;
	for (; i < 156 && b[i] >= '0' && b[i] <= '7'; i++)
		stored = stored * 8 + (uint64_t)(b[i] - '0');
	for (size_t j = 0; j < TAR_BLOCK; j++) {
		unsigned char c = j >= 148 && j < 156 ? ' ' : b[j];
		us += c;
		ss += (signed char)c;
	}
	return stored == us || (int64_t)stored == ss;
}

int copy_is_archive(int fd, bool *out, struct st_error *err)
{
	unsigned char b[TAR_BLOCK];
	struct archive *a = open_decompressor(fd);
	size_t got = 0;

	*out = false;
	while (a && got < TAR_BLOCK) {
		la_ssize_t n = archive_read_data(a, b + got, TAR_BLOCK - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (a)
		archive_read_free(a);
	*out = got == TAR_BLOCK && tar_header_ok(b);
	if (lseek(fd, 0, SEEK_SET) < 0)
		return st_error_sys(err, "seek");
	return 0;
}

struct feeder {
	struct archive *a;
	int out;
	int rc;
	struct st_error err;
};

static void *feed(void *arg)
{
	struct feeder *f = arg;
	cleanup_free char *buf = malloc(FEED_BUF);
	la_ssize_t n;

	if (!buf) {
		f->rc = st_error_set(&f->err, ST_ENOMEM, "out of memory");
		goto done;
	}
	while ((n = archive_read_data(f->a, buf, FEED_BUF)) > 0) {
		for (la_ssize_t off = 0; off < n;) {
			ssize_t w = send(f->out, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				/* the applier stopped reading: its error explains it */
				f->rc = st_error_sys(&f->err, "feed archive");
				goto done;
			}
			off += w;
		}
	}
	if (n < 0)
		f->rc = st_error_set(&f->err, ST_EINVALID, "decompress: %s",
		                     archive_error_string(f->a));
done:
	(void)close(f->out);
	f->out = -1;
	return NULL;
}

int copy_extract_archive(int fd, int dir_fd, struct st_error *err)
{
	struct st_layer_apply_opts opts = {.mode = ST_LAYER_APPLY_FLAT};
	struct feeder f = {open_decompressor(fd), -1, 0, ST_ERROR_INIT};
	int sv[2], rc;
	pthread_t t;

	if (!f.a)
		return st_error_set(err, ST_EINVALID, "cannot read the archive");
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		archive_read_free(f.a);
		return st_error_sys(err, "socketpair");
	}
	f.out = sv[1];
	rc = pthread_create(&t, NULL, feed, &f);
	if (rc != 0) {
		(void)close(sv[0]);
		(void)close(sv[1]);
		archive_read_free(f.a);
		return st_error_errno(err, rc, "start decompressor");
	}
	rc = st_layer_apply_fd(dir_fd, sv[0], &opts, NULL, err);
	(void)close(sv[0]);
	(void)pthread_join(t, NULL);
	archive_read_free(f.a);
	if (f.rc < 0 && (rc == 0 || f.err.code != ST_ESYS)) {
		if (err)
			*err = f.err;
		return f.rc;
	}
	return rc;
}

/* --chown on an extracted archive: every entry below dfd (set-id bits restored after chown). */
static int chown_tree(int dfd, uint32_t uid, uint32_t gid, int depth, struct st_error *err)
{
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cleanup_dir DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;
	int rc = 0;

	if (!d) {
		rc = st_error_sys(err, "open extracted directory");
		if (fd >= 0)
			(void)close(fd);
		return rc;
	}
	if (depth > COPY_MAX_DEPTH)
		return st_error_set(err, ST_ELIMIT, "archive nested too deep");
	while (rc == 0 && (errno = 0, e = readdir(d)) != NULL) {
		struct stat st;
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return st_error_sys(err, "stat '%s'", e->d_name);
		rc = copy_set_meta(fd, e->d_name, S_ISLNK(st.st_mode), st.st_mode & 07777, uid, gid,
		                   NULL, err);
		if (rc == 0 && S_ISDIR(st.st_mode)) {
			cleanup_fd int c = openat(fd, e->d_name,
			                          O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			rc = c < 0 ? st_error_sys(err, "open '%s'", e->d_name)
			           : chown_tree(c, uid, gid, depth + 1, err);
		}
	}
	return rc;
}

static int add_archive(const struct copy_plan *p, const struct copy_unit *u, int fd, int upper_fd,
                       struct st_error *err)
{
	cleanup_fd int pfd = copy_open_dst_dir(upper_fd, u->dst_dir, err);
	cleanup_fd int dfd = -1;
	int rc;

	if (pfd < 0)
		return pfd;
	dfd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return st_error_sys(err, "open '/%s' in the layer", u->dst_dir);
	if (p->own_set && *u->dst_dir &&
	    fchownat(dfd, "", p->uid, p->gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return st_error_sys(err, "chown '/%s'", u->dst_dir);
	rc = copy_extract_archive(fd, dfd, err);
	if (rc == 0 && p->own_set)
		rc = chown_tree(dfd, p->uid, p->gid, 0, err);
	if (rc < 0)
		return copy_fail(p, (enum st_errc) - rc, u->src, err, "extract: %s",
		                 err ? err->msg : "");
	return 0;
}

int copy_add_exec(const struct copy_plan *p, const struct copy_unit *u, int upper_fd,
                  struct st_error *err)
{
	cleanup_fd int fd = copy_open_beneath(p->src_fd, u->src, O_RDONLY);
	struct copy_file_meta m;
	struct stat st;
	bool is_archive;
	int rc;

	if (fd < 0 || fstat(fd, &st) < 0)
		return copy_fail(p, ST_ESYS, u->src, err, "open: %s", strerror(errno));
	rc = copy_is_archive(fd, &is_archive, err);
	if (rc < 0)
		return rc;
	if (is_archive)
		return add_archive(p, u, fd, upper_fd, err);
	m.mode = copy_mode(p, st.st_mode);
	copy_owner(p, &st, &m.uid, &m.gid);
	m.mtime = st.st_mtim;
	return copy_write_at(upper_fd, u->dst, fd, &m, err);
}

/* ---- ADD <url> ---- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* BuildKit names a download path.Base of the URL's (unescaped) path, else "download". */
int copy_url_name(const char *url, struct st_buf *out, struct st_error *err)
{
	const char *s = strstr(url, "://");
	const char *path, *end, *base;
	int rc = 0;

	st_buf_reset(out);
	s = s ? s + 3 : url;
	path = s + strcspn(s, "/?#");
	end = path + strcspn(path, "?#");
	while (end > path && end[-1] == '/')
		end--;
	base = end;
	while (base > path && base[-1] != '/')
		base--;
	for (const char *c = base; c < end && rc == 0; c++) {
		if (*c == '%' && end - c >= 3 && hexval(c[1]) >= 0 && hexval(c[2]) >= 0) {
			rc = st_buf_addch(out, (char)(hexval(c[1]) * 16 + hexval(c[2])), err);
			c += 2;
		} else {
			rc = st_buf_addch(out, *c, err);
		}
	}
	if (rc == 0 && (out->len == 0 || strcmp(out->data, ".") == 0 || strchr(out->data, '/'))) {
		st_buf_reset(out);
		rc = st_buf_adds(out, "download", err);
	}
	return rc;
}

static int fetch_into(const struct copy_plan *p, const struct copy_unit *u, int fd, int64_t *mtime,
                      struct st_digest *got, struct st_error *err)
{
	int rc;

	if (!p->r->fetch)
		return copy_fail(p, ST_EUNSUPPORTED, u->src, err, "no downloader for URLs");
	*mtime = 0;
	rc = p->r->fetch(p->r->fetch_ctx, u->src, fd, mtime, err);
	if (rc < 0)
		return copy_fail(p, (enum st_errc) - rc, u->src, err, "%s", err ? err->msg : "");
	if (lseek(fd, 0, SEEK_SET) < 0)
		return st_error_sys(err, "seek");
	rc = copy_hash_fd(fd, got, err);
	if (rc < 0)
		return rc;
	if (!p->r->checksum)
		return lseek(fd, 0, SEEK_SET) < 0 ? st_error_sys(err, "seek") : 0;
	{
		struct st_digest want;
		char a[ST_DIGEST_STR_MAX], b[ST_DIGEST_STR_MAX];
		rc = st_digest_parse_str(p->r->checksum, &want, err);
		if (rc < 0)
			return copy_fail(p, ST_EINVALID, u->src, err, "--checksum: %s",
			                 err ? err->msg : "");
		if (want.alg != ST_DIGEST_SHA256)
			return copy_fail(p, ST_EUNSUPPORTED, u->src, err,
			                 "--checksum: only sha256 is supported");
		if (!st_digest_equal(&want, got)) {
			st_digest_str(&want, a);
			st_digest_str(got, b);
			return copy_fail(p, ST_EDIGEST, u->src, err,
			                 "checksum mismatch: expected %s, got %s", a, b);
		}
	}
	return lseek(fd, 0, SEEK_SET) < 0 ? st_error_sys(err, "seek") : 0;
}

static void url_meta(const struct copy_plan *p, struct copy_file_meta *m)
{
	struct stat st = {.st_mode = S_IFREG | 0600};

	m->mode = copy_mode(p, st.st_mode);
	copy_owner(p, &st, &m->uid, &m->gid);
}

int copy_url_key(const struct copy_plan *p, const struct copy_unit *u, struct st_hasher *h,
                 struct st_error *err)
{
	cleanup_fd int fd = -1;
	struct copy_file_meta m;
	struct st_digest d;
	int64_t mtime;
	int rc;

	url_meta(p, &m);
	st_hasher_update(h, u->src, strlen(u->src) + 1);
	st_hasher_update(h, &m.mode, sizeof(m.mode));
	st_hasher_update(h, &m.uid, sizeof(m.uid));
	st_hasher_update(h, &m.gid, sizeof(m.gid));
	if (p->r->checksum) {
		/* the content is pinned: no need to download to know it */
		st_hasher_update(h, p->r->checksum, strlen(p->r->checksum) + 1);
		return 0;
	}
	fd = memfd_create("strata-add", MFD_CLOEXEC);
	if (fd < 0)
		return st_error_sys(err, "memfd_create");
	rc = fetch_into(p, u, fd, &mtime, &d, err);
	if (rc == 0)
		st_hasher_update(h, d.bytes, 32);
	return rc;
}

int copy_url_exec(const struct copy_plan *p, const struct copy_unit *u, int upper_fd,
                  struct st_error *err)
{
	cleanup_fd int fd = -1;
	struct copy_file_meta m;
	struct st_digest d;
	int64_t mtime;
	int rc;

	url_meta(p, &m);
	fd = memfd_create("strata-add", MFD_CLOEXEC);
	if (fd < 0)
		return st_error_sys(err, "memfd_create");
	rc = fetch_into(p, u, fd, &mtime, &d, err);
	if (rc < 0)
		return rc;
	m.mtime = (struct timespec){mtime, 0};
	if (mtime <= 0)
		m.mtime.tv_nsec = UTIME_OMIT;
	return copy_write_at(upper_fd, u->dst, fd, &m, err);
}
