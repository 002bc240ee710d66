/* build-copy-owner.c: --chown (names resolved through the target's /etc/passwd and /etc/group,
 * as BuildKit does) and --chmod (octal, or symbolic as chmod(1) and BuildKit accept it). */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "build/build-copy-internal.h"
#include "util/cleanup.h"
#include "util/fs.h"

#include "util/banned.h"

#define MAX_ID_FILE (16u << 20)

static bool all_digits(const char *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static int parse_id(const char *s, size_t len, uint32_t *out)
{
	uint64_t v = 0;

	if (!all_digits(s, len) || len > 10)
		return -1;
	for (size_t i = 0; i < len; i++)
		v = v * 10 + (uint64_t)(s[i] - '0');
	if (v > UINT32_MAX - 1)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* Reads etc/<file> of the target (resolved inside it). */
static int read_id_file(const struct copy_plan *p, const char *file, struct st_buf *out,
                        struct st_error *err)
{
	struct open_how how = {.flags = O_RDONLY | O_CLOEXEC,
	                       .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
	cleanup_fd int fd = -1;

	if (p->target_fd < 0)
		return st_error_set(err, ST_ENOTFOUND, "no %s in the target (scratch)", file);
	fd = (int)syscall(SYS_openat2, p->target_fd, file, &how, sizeof(how));
	if (fd < 0)
		return st_error_sys(err, "open %s of the target", file);
	return st_read_all(fd, out, MAX_ID_FILE, err);
}

/* Finds `name` in a passwd/group file: fields[2] and fields[3] of its line (gid is optional). */
static int lookup_name(const struct st_buf *file, const char *name, size_t nlen, uint32_t *id,
                       uint32_t *gid)
{
	const char *line = file->data;

	while (*line) {
		size_t len = strcspn(line, "\n");
		const char *f[5] = {line};
		size_t nf = 1;
		for (size_t i = 0; i < len && nf < 5; i++)
			if (line[i] == ':')
				f[nf++] = line + i + 1;
		if (nf >= 3 && (size_t)(f[1] - 1 - line) == nlen && memcmp(line, name, nlen) == 0) {
			size_t l2 = (size_t)((nf > 3 ? f[3] - 1 : line + len) - f[2]);
			if (parse_id(f[2], l2, id) < 0)
				return -1;
			if (gid && nf > 3) {
				size_t l3 = (size_t)((nf > 4 ? f[4] - 1 : line + len) - f[3]);
				if (parse_id(f[3], l3, gid) < 0)
					return -1;
			}
			return 1;
		}
		line += len;
		if (*line == '\n')
			line++;
	}
	return 0;
}

static int resolve_name(struct copy_plan *p, const char *file, const char *name, size_t len,
                        uint32_t *id, uint32_t *gid, struct st_error *err)
{
	cleanup_buf struct st_buf data = ST_BUF_INIT;
	int rc = read_id_file(p, file, &data, err);

	if (rc < 0) {
		char cause[sizeof(err->msg)] = "";
		if (err)
			(void)snprintf(cause, sizeof(cause), "%s", err->msg);
		return copy_fail(p, (enum st_errc) - rc, NULL, err,
		                 "--chown: unable to find %s '%.*s': %s",
		                 file[4] == 'p' ? "user" : "group", (int)len, name, cause);
	}
	rc = lookup_name(&data, name, len, id, gid);
	if (rc <= 0)
		return copy_fail(p, ST_ENOTFOUND, NULL, err, "--chown: %s '%.*s' %s in %s",
		                 file[4] == 'p' ? "user" : "group", (int)len, name,
		                 rc < 0 ? "has a bad entry" : "not found", file);
	return 0;
}

int copy_parse_chown(struct copy_plan *p, struct st_error *err)
{
	const char *spec = p->r->chown;
	const char *colon;
	size_t ulen;
	int rc;

	if (!spec)
		return 0;
	colon = strchr(spec, ':');
	ulen = colon ? (size_t)(colon - spec) : strlen(spec);
	if (ulen == 0 || (colon && colon[1] == '\0'))
		return copy_fail(p, ST_EINVALID, NULL, err, "--chown=%s: expected user[:group]",
		                 spec);
	/* a numeric user without a group uses the same number as its group (Docker's documented
	 * rule); a name takes its primary group from /etc/passwd */
	if (parse_id(spec, ulen, &p->uid) == 0) {
		p->gid = p->uid;
	} else {
		rc = resolve_name(p, "etc/passwd", spec, ulen, &p->uid, &p->gid, err);
		if (rc < 0)
			return rc;
	}
	if (colon && parse_id(colon + 1, strlen(colon + 1), &p->gid) < 0) {
		rc = resolve_name(p, "etc/group", colon + 1, strlen(colon + 1), &p->gid, NULL, err);
		if (rc < 0)
			return rc;
	}
	p->own_set = true;
	return 0;
}

void copy_owner(const struct copy_plan *p, const struct stat *st, uint32_t *uid, uint32_t *gid)
{
	if (p->own_set) {
		*uid = p->uid;
		*gid = p->gid;
	} else if (p->r->from_context) {
		/* context files belong to root in the image, whoever owns them on the host */
		*uid = 0;
		*gid = 0;
	} else {
		*uid = st->st_uid;
		*gid = st->st_gid;
	}
}

/* ---- --chmod ---- */

static mode_t who_mask(unsigned who)
{
	mode_t m = 0;

	if (who & 1)
		m |= 04700;
	if (who & 2)
		m |= 02070;
	if (who & 4)
		m |= 01007;
	return m;
}

static mode_t copy_bits(mode_t mode, char c)
{
	mode_t b = c == 'u' ? (mode >> 6) & 7 : c == 'g' ? (mode >> 3) & 7 : mode & 7;

	return b | b << 3 | b << 6;
}

/* Parses one "+rwx" / "=u" action at *s; returns the permission bits or (mode_t)-1. */
static mode_t action_perms(const char **s, mode_t mode, bool is_dir)
{
	mode_t perms = 0;
	const char *c = *s;

	if (*c == 'u' || *c == 'g' || *c == 'o') {
		*s = c + 1;
		return copy_bits(mode, *c);
	}
	for (; *c && strchr("rwxXst", *c); c++) {
		switch (*c) {
		case 'r':
			perms |= 0444;
			break;
		case 'w':
			perms |= 0222;
			break;
		case 'x':
			perms |= 0111;
			break;
		case 'X':
			perms |= (is_dir || (mode & 0111)) ? 0111 : 0;
			break;
		case 's':
			perms |= 06000;
			break;
		default:
			perms |= 01000;
			break;
		}
	}
	*s = c;
	return perms;
}

/* chmod(1) symbolic modes without umask: "u+x,go=r". -1 for a malformed spec. */
static int apply_symbolic(const char *spec, mode_t mode, bool is_dir, mode_t *out)
{
	const char *c = spec;

	while (*c) {
		unsigned who = 0;
		for (; *c && strchr("ugoa", *c); c++)
			who |= *c == 'u' ? 1u : *c == 'g' ? 2u : *c == 'o' ? 4u : 7u;
		if (who == 0)
			who = 7;
		if (!*c || !strchr("+-=", *c))
			return -1;
		while (*c && strchr("+-=", *c)) {
			char op = *c++;
			mode_t perms = action_perms(&c, mode, is_dir) & who_mask(who);
			if (op == '+')
				mode |= perms;
			else if (op == '-')
				mode &= ~perms;
			else
				mode = (mode & ~who_mask(who)) | perms;
		}
		if (*c == ',')
			c++;
		else if (*c)
			return -1;
	}
	*out = mode & 07777;
	return 0;
}

int copy_parse_chmod(struct copy_plan *p, struct st_error *err)
{
	const char *s = p->r->chmod;
	size_t len;
	mode_t m;

	if (!s)
		return 0;
	len = strlen(s);
	p->chmod.set = true;
	if (len > 0 && len <= 5 && strspn(s, "01234567") == len) {
		m = 0;
		for (size_t i = 0; i < len; i++)
			m = m * 8 + (mode_t)(s[i] - '0');
		if (m > 07777)
			return copy_fail(p, ST_EINVALID, NULL, err, "--chmod=%s: invalid mode", s);
		p->chmod.octal = m;
		return 0;
	}
	if (apply_symbolic(s, 0, false, &m) < 0)
		return copy_fail(p, ST_EINVALID, NULL, err, "--chmod=%s: invalid mode", s);
	p->chmod.symbolic = true;
	p->chmod.spec = s;
	return 0;
}

mode_t copy_mode(const struct copy_plan *p, mode_t st_mode)
{
	mode_t m = st_mode & 07777;

	if (!p->chmod.set || S_ISLNK(st_mode))
		return m;
	if (!p->chmod.symbolic)
		return p->chmod.octal;
	if (apply_symbolic(p->chmod.spec, m, S_ISDIR(st_mode), &m) < 0)
		return st_mode & 07777; /* validated by copy_parse_chmod */
	return m;
}
