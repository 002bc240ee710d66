/* export.c: `strata build --output`, BuildKit's exporters over what the store already has: the
 * oci and docker forms are st_archive_save, local is the image unpacked (archive_apply_image),
 * tar is that tree written by the layer writer. Everything is written beside dest and renamed
 * into place when complete, so a failed build or export leaves dest as it was. */
#include "strata/archive.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive/archive-internal.h"
#include "strata/image.h"
#include "strata/ref.h"
#include "util/cleanup.h"
#include "util/fs.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

struct st_export {
	enum st_export_type type;
	enum st_layer_compression compression; /* of plain-tar layers (oci, docker) */
	bool dir;                              /* the result is a directory (local, tar=false) */
	bool merge;                            /* local onto an existing directory */
	char *dest;                            /* NULL: write to fd */
	char *name;                            /* name= */
	char *tmp;   /* the temporary beside dest; removed unless renamed */
	int fd;      /* the temporary file, or the caller's fd (dest "-") */
	bool own_fd; /* fd is the temporary's */
};

/* ---- parsing ---- */

static const struct {
	const char *name;
	enum st_export_type type;
} types[] = {{"oci", ST_EXPORT_OCI},
             {"docker", ST_EXPORT_DOCKER},
             {"local", ST_EXPORT_LOCAL},
             {"tar", ST_EXPORT_TAR}};

static int parse_bool(const char *v, bool *out)
{
	/* Go's strconv.ParseBool, which BuildKit uses */
	static const char *const yes[] = {"1", "t", "T", "true", "TRUE", "True"};
	static const char *const no[] = {"0", "f", "F", "false", "FALSE", "False"};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcmp(v, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcmp(v, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

static int set_str(char **slot, const char *v, struct st_error *err)
{
	char *d = strdup(v);

	if (!d)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	free(*slot);
	*slot = d;
	return 0;
}

/* One "key=value" field (NUL-terminated in place). */
static int parse_field(char *f, struct st_export_opts *o, bool *tar, struct st_error *err)
{
	char *eq = strchr(f, '=');
	const char *v;

	if (!eq)
		return st_error_set(err, ST_EINVALID, "'%s' is not KEY=VALUE", f);
	*eq = '\0';
	v = eq + 1;
	if (strcmp(f, "type") == 0) {
		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			if (strcmp(v, types[i].name) == 0)
				o->type = types[i].type;
		if (o->type == 0)
			return st_error_set(err, ST_EINVALID,
			                    "unknown type \"%s\" (oci, docker, local or tar)", v);
		return 0;
	}
	if (strcmp(f, "dest") == 0)
		return *v ? set_str(&o->dest, v, err) : 0;
	if (strcmp(f, "name") == 0)
		return set_str(&o->name, v, err);
	if (strcmp(f, "compression") == 0) {
		if (strcmp(v, "gzip") == 0)
			o->compression = ST_LAYER_COMPRESS_GZIP;
		else if (strcmp(v, "zstd") == 0)
			o->compression = ST_LAYER_COMPRESS_ZSTD;
		else if (strcmp(v, "uncompressed") == 0)
			o->compression = ST_LAYER_COMPRESS_NONE;
		else
			return st_error_set(err, ST_EINVALID,
			                    "compression=%s: want gzip, zstd or uncompressed", v);
		return 0;
	}
	if (strcmp(f, "tar") == 0) {
		if (parse_bool(v, tar) < 0)
			return st_error_set(err, ST_EINVALID, "tar=%s: want true or false", v);
		o->dir = !*tar;
		return 0;
	}
	return st_error_set(err, ST_EINVALID,
	                    "unknown key \"%s\" (type, dest, name, tar, compression)", f);
}

static int check_opts(const struct st_export_opts *o, bool tar_given, struct st_error *err)
{
	if (o->type == 0)
		return st_error_set(err, ST_EINVALID,
		                    "type= is required (oci, docker, local or tar)");
	if (!o->dest)
		return st_error_set(
		        err, ST_EINVALID,
		        "dest= is required (a path, or - for stdout with the tar forms)");
	if (tar_given && o->type != ST_EXPORT_OCI && o->type != ST_EXPORT_DOCKER)
		return st_error_set(err, ST_EINVALID, "tar= applies to type=oci and type=docker");
	if (o->name && o->type != ST_EXPORT_OCI && o->type != ST_EXPORT_DOCKER)
		return st_error_set(err, ST_EINVALID, "name= applies to type=oci and type=docker");
	if (strcmp(o->dest, "-") == 0 && (o->type == ST_EXPORT_LOCAL || o->dir))
		return st_error_set(err, ST_EINVALID,
		                    "dest=- writes a tar: not with type=local or tar=false");
	return 0;
}

int st_export_parse(const char *spec, struct st_export_opts *out, struct st_error *err)
{
	struct st_export_opts o = {0};
	cleanup_free char *copy = NULL;
	bool tar = true, tar_given = false;
	int rc = 0;

	/* buildx: a bare value is a directory for the local exporter, "-" a tar on stdout */
	if (!strchr(spec, '=') && !strchr(spec, ',')) {
		if (!*spec)
			return st_error_set(err, ST_EINVALID, "empty --output");
		o.type = strcmp(spec, "-") == 0 ? ST_EXPORT_TAR : ST_EXPORT_LOCAL;
		rc = set_str(&o.dest, spec, err);
		if (rc == 0)
			*out = o;
		return rc;
	}
	copy = strdup(spec);
	if (!copy)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	for (char *f = copy, *next; f && rc == 0; f = next) {
		next = strchr(f, ',');
		if (next)
			*next++ = '\0';
		tar_given = tar_given || st_str_has_prefix(f, "tar=");
		rc = parse_field(f, &o, &tar, err);
	}
	if (rc == 0)
		rc = check_opts(&o, tar_given, err);
	if (rc < 0) {
		st_export_opts_release(&o);
		return rc;
	}
	*out = o;
	return 0;
}

void st_export_opts_release(struct st_export_opts *o)
{
	free(o->dest);
	free(o->name);
	o->dest = o->name = NULL;
}

/* ---- the destination ---- */

void st_export_free(struct st_export *x)
{
	if (!x)
		return;
	if (x->own_fd && x->fd >= 0)
		(void)close(x->fd);
	if (x->tmp && x->dir)
		(void)st_layer_remove_tree(x->tmp, NULL);
	else if (x->tmp)
		(void)unlink(x->tmp);
	free(x->tmp);
	free(x->dest);
	free(x->name);
	free(x);
}

static int is_empty_dir(const char *path, bool *out, struct st_error *err)
{
	struct st_strv names = ST_STRV_INIT;
	cleanup_fd int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return st_error_sys(err, "open '%s'", path);
	rc = st_list_dir(fd, &names, err);
	*out = names.n == 0;
	st_strv_release(&names);
	return rc;
}

/* Checks dest and makes the temporary beside it (the directory must exist and be writable). */
static int prepare_path(struct st_export *x, struct st_error *err)
{
	struct stat st;
	bool exists = stat(x->dest, &st) == 0, empty = true;

	if (!exists && errno != ENOENT)
		return st_error_sys(err, "'%s'", x->dest);
	if (exists && x->dir && !S_ISDIR(st.st_mode))
		return st_error_set(err, ST_EINVALID, "'%s' exists and is not a directory",
		                    x->dest);
	if (exists && !x->dir && S_ISDIR(st.st_mode))
		return st_error_set(err, ST_EINVALID, "'%s' is a directory; a tar goes to a file",
		                    x->dest);
	/* an image layout is written whole: onto nothing or an empty directory (rename) */
	if (exists && x->dir && x->type != ST_EXPORT_LOCAL) {
		int rc = is_empty_dir(x->dest, &empty, err);
		if (rc < 0)
			return rc;
		if (!empty)
			return st_error_set(err, ST_EEXIST,
			                    "'%s' is not empty: an image layout goes to a new or "
			                    "empty directory",
			                    x->dest);
	}
	x->merge = exists && x->type == ST_EXPORT_LOCAL;
	if (asprintf(&x->tmp, "%s.tmp-XXXXXX", x->dest) < 0) {
		x->tmp = NULL;
		return st_error_set(err, ST_ENOMEM, "out of memory");
	}
	if (x->dir ? !mkdtemp(x->tmp) : (x->fd = mkstemp(x->tmp)) < 0) {
		int rc = st_error_sys(err, "cannot write '%s'", x->dest);
		free(x->tmp);
		x->tmp = NULL;
		return rc;
	}
	x->own_fd = !x->dir;
	/* mkdtemp and mkstemp make 0700 and 0600; the result is an ordinary file or tree */
	if ((x->dir ? chmod(x->tmp, 0755) : fchmod(x->fd, 0644)) < 0)
		return st_error_sys(err, "chmod '%s'", x->tmp);
	return 0;
}

int st_export_open(const struct st_export_opts *o, int fd, struct st_export **out,
                   struct st_error *err)
{
	struct st_export *x = calloc(1, sizeof(*x));
	int rc = 0;

	if (!x)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	x->type = o->type;
	x->compression = o->compression;
	x->dir = o->type == ST_EXPORT_LOCAL || o->dir;
	x->fd = -1;
	if (o->name && !(x->name = strdup(o->name)))
		rc = st_error_set(err, ST_ENOMEM, "out of memory");
	if (rc == 0 && strcmp(o->dest, "-") == 0) {
		x->fd = fd;
		if (isatty(fd))
			rc = st_error_set(err, ST_EINVALID,
			                  "dest=-: refusing to write a tar to a terminal");
	} else if (rc == 0) {
		x->dest = strdup(o->dest);
		/* "out/" names the directory out: the temporary goes beside it, not inside */
		for (size_t n = x->dest ? strlen(x->dest) : 0; n > 1 && x->dest[n - 1] == '/'; n--)
			x->dest[n - 1] = '\0';
		rc = x->dest ? prepare_path(x, err) : st_error_set(err, ST_ENOMEM, "out of memory");
	}
	if (rc < 0) {
		st_export_free(x);
		return rc;
	}
	*out = x;
	return 0;
}

/* ---- writing ---- */

/* The archive's images: one per name (as containerd's exporter), or one without a name. */
static int archive_images(const struct st_export *x, const struct st_descriptor *desc,
                          const char *const *names, size_t n, struct st_save_image **out,
                          size_t *n_out, struct st_error *err)
{
	struct st_save_image *v;
	int rc = 0;

	if (x->name) {
		names = (const char *const *)&x->name;
		n = 1;
	}
	v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	for (size_t i = 0; i < (n ? n : 1) && rc == 0; i++) {
		v[i].desc = *desc; /* borrowed: st_archive_save only reads it */
		if (n) {
			struct st_buf full = ST_BUF_INIT;
			struct st_ref r;
			rc = st_ref_parse(names[i], &r, err);
			if (rc == 0) {
				rc = st_ref_format(&r, ST_REF_FORMAT_NO_DIGEST, &full, err);
				st_ref_release(&r);
			}
			v[i].name = rc == 0 ? st_buf_detach(&full, NULL) : NULL;
			st_buf_release(&full);
			if (rc < 0)
				rc = st_error_wrap(err, "name '%s'", names[i]);
		}
	}
	*out = v;
	*n_out = n ? n : 1;
	return rc;
}

static int write_archive(struct st_export *x, struct st_store *s, const struct st_descriptor *desc,
                         const char *const *names, size_t n_names, struct st_error *err)
{
	enum st_archive_format f = x->type == ST_EXPORT_OCI ? ST_ARCHIVE_OCI : ST_ARCHIVE_DOCKER;
	struct st_save_image *imgs = NULL;
	size_t n = 0;
	int rc = archive_images(x, desc, names, n_names, &imgs, &n, err);

	if (rc == 0 && x->dir)
		rc = archive_save_dir(s, imgs, n, f, x->tmp, err);
	else if (rc == 0)
		rc = st_archive_save(s, imgs, n, f, x->fd, err);
	for (size_t i = 0; imgs && i < n; i++)
		free((char *)imgs[i].name);
	free(imgs);
	return rc;
}

/* The root filesystem as one tar: unpacked into the store's tmp/, then written by the layer
 * writer uncompressed (numeric owners, whole-second mtimes, hardlinks kept). */
static int write_rootfs_tar(struct st_export *x, struct st_store *s, const struct st_image *img,
                            struct st_error *err)
{
	struct st_layer_create_opts lo = {.compression = ST_LAYER_COMPRESS_NONE};
	struct st_layer_result res;
	struct st_layer_sink sink;
	cleanup_free char *root = NULL;
	char rnd[17];
	int rc = st_random_hex(rnd, 8, err);

	if (rc < 0)
		return rc;
	if (asprintf(&root, "%s/tmp/export-%s", st_store_root(s), rnd) < 0) {
		root = NULL;
		return st_error_set(err, ST_ENOMEM, "out of memory");
	}
	if (mkdir(root, 0700) < 0)
		return st_error_sys(err, "mkdir '%s'", root);
	rc = archive_apply_image(s, img, root, err);
	st_layer_sink_fd(&x->fd, &sink);
	if (rc == 0)
		rc = st_layer_create_from_diff(NULL, root, &lo, &sink, &res, err);
	(void)st_layer_remove_tree(root, NULL);
	return rc;
}

static int write_image(struct st_export *x, struct st_store *s, const struct st_descriptor *desc,
                       const char *const *names, size_t n_names, struct st_error *err)
{
	struct st_image img;
	int rc;

	if ((x->type == ST_EXPORT_OCI || x->type == ST_EXPORT_DOCKER) &&
	    x->compression != ST_LAYER_COMPRESS_NONE) {
		struct st_descriptor sent = {0};

		/* under the caller's lease: the compressed manifest is referenced by nothing */
		rc = st_image_compress(s, desc, x->compression, &sent, err);
		if (rc == 0)
			rc = write_archive(x, s, &sent, names, n_names, err);
		st_descriptor_release(&sent);
		return rc;
	}
	if (x->type == ST_EXPORT_OCI || x->type == ST_EXPORT_DOCKER)
		return write_archive(x, s, desc, names, n_names, err);
	rc = st_image_load(s, desc, NULL, &img, err);
	if (rc < 0)
		return rc;
	if (x->type == ST_EXPORT_LOCAL)
		rc = archive_apply_image(s, &img, x->tmp, err);
	else
		rc = write_rootfs_tar(x, s, &img, err);
	st_image_release(&img);
	return rc;
}

/* ---- type=local onto an existing directory ---- */

static int merge_dir(int from, int to, struct st_error *err);

/* A directory of the image over one of dest: merged, then given the image's metadata. */
static int merge_subdir(int from, int to, const char *name, const struct stat *sf,
                        struct st_error *err)
{
	struct timespec ts[2] = {sf->st_mtim, sf->st_mtim};
	cleanup_fd int f = st_open_dir_at(from, name, err);
	cleanup_fd int t = -1;
	int rc;

	if (f < 0)
		return f;
	t = st_open_dir_at(to, name, err);
	if (t < 0)
		return t;
	rc = merge_dir(f, t, err);
	if (rc == 0 && geteuid() == 0 && fchown(t, sf->st_uid, sf->st_gid) < 0)
		rc = st_error_sys(err, "chown '%s'", name);
	if (rc == 0 && (fchmod(t, sf->st_mode & 07777) < 0 || futimens(t, ts) < 0))
		rc = st_error_sys(err, "set the metadata of '%s'", name);
	return rc < 0 ? st_error_wrap(err, "%s", name) : 0;
}

/* Moves every entry of `from` into `to`, as BuildKit's local exporter merges: an entry of the
 * image replaces the one of the same path (a non-directory atomically, by rename), two
 * directories merge, and what only `to` has is kept. Symlinks are never followed. */
static int merge_dir(int from, int to, struct st_error *err)
{
	struct st_strv names = ST_STRV_INIT;
	int rc = st_list_dir(from, &names, err);

	for (size_t i = 0; i < names.n && rc == 0; i++) {
		const char *n = names.v[i];
		struct stat sf, st;
		bool have;
		if (fstatat(from, n, &sf, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = st_error_sys(err, "stat '%s'", n);
			break;
		}
		have = fstatat(to, n, &st, AT_SYMLINK_NOFOLLOW) == 0;
		if (have && S_ISDIR(sf.st_mode) && S_ISDIR(st.st_mode)) {
			rc = merge_subdir(from, to, n, &sf, err);
			continue;
		}
		if (have && (S_ISDIR(sf.st_mode) || S_ISDIR(st.st_mode)))
			rc = st_rm_rf_at(to, n, err);
		if (rc == 0 && renameat(from, n, to, n) < 0)
			rc = st_error_sys(err, "move '%s' into place", n);
	}
	st_strv_release(&names);
	return rc;
}

static int merge_into(const char *from, const char *to, struct st_error *err)
{
	cleanup_fd int f = st_open_dir_at(AT_FDCWD, from, err);
	cleanup_fd int t = -1;

	if (f < 0)
		return f;
	t = open(to, O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* dest may be a symlink to one */
	if (t < 0)
		return st_error_sys(err, "open '%s'", to);
	return merge_dir(f, t, err);
}

/* Puts the finished temporary at dest. */
static int commit(struct st_export *x, struct st_error *err)
{
	int rc = 0;

	if (!x->tmp)
		return 0;
	if (x->merge)
		rc = merge_into(x->tmp, x->dest, err);
	else if (!x->dir && fsync(x->fd) < 0)
		rc = st_error_sys(err, "write '%s'", x->dest);
	else if (rename(x->tmp, x->dest) < 0)
		rc = st_error_sys(err, "rename '%s' to '%s'", x->tmp, x->dest);
	if (rc == 0 && !x->merge) {
		free(x->tmp);
		x->tmp = NULL;
	}
	return rc;
}

int st_export_write(struct st_export *x, struct st_store *s, const struct st_descriptor *desc,
                    const char *const *names, size_t n_names, struct st_error *err)
{
	int rc = st_store_lease(s, err); /* gc keeps the image and the tmp/ tree meanwhile */

	if (rc < 0)
		return rc;
	rc = write_image(x, s, desc, names, n_names, err);
	if (rc == 0)
		rc = commit(x, err);
	st_store_unlease(s);
	if (rc < 0)
		return st_error_wrap(err, "output to '%s'", x->dest ? x->dest : "-");
	return 0;
}
