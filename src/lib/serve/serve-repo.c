/* serve-repo.c: what each registry repository holds, kept as Distribution keeps it: links under
 * <root>/repositories/<repo>/_layers/<alg>/<hex>/link (blobs pushed or mounted there) and
 * _manifests/revisions/<alg>/<hex>/link (manifests, the link's second line their media type),
 * and _referrers/<alg>/<subject-hex>/<digest> for the referrers API. The bytes live once in the
 * store's blobs/. Links are gc roots (st_serve_register_gc); tags are the store's index.json. */
#include "serve/serve-internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "strata/image.h"
#include "util/cleanup.h"
#include "util/fs.h"

#include "util/banned.h"

#define REPOS_DIR "repositories"
#define WALK_MAX_DEPTH 130 /* a 255-character name has at most 128 components */

int srv_repos_open(struct st_store *store, struct st_error *err)
{
	int rc = st_mkdir_p(st_store_root_fd(store), REPOS_DIR, 0755, err);

	if (rc < 0)
		return rc;
	return st_open_dir_at(st_store_root_fd(store), REPOS_DIR, err);
}

static int link_dir(struct st_buf *out, const char *repo, enum srv_link kind,
                    const struct st_digest *d)
{
	char hex[ST_DIGEST_HEX_MAX + 1];

	st_digest_hex(d, hex);
	return st_buf_addf(out, NULL, "%s/%s/%s/%s", repo,
	                   kind == SRV_LINK_LAYER ? "_layers" : "_manifests/revisions",
	                   st_digest_alg_name(d->alg), hex);
}

/* Writes dir/name with data through a temporary and rename, so readers see all or nothing;
 * `durable`: the data reaches the disk before the rename. */
static int write_small(int dirfd, const char *dir, const char *name, const char *data, bool durable,
                       struct st_error *err)
{
	cleanup_buf struct st_buf tmp = ST_BUF_INIT;
	cleanup_buf struct st_buf dst = ST_BUF_INIT;
	cleanup_fd int fd = -1;
	char rnd[17];
	int rc = st_mkdir_p(dirfd, dir, 0755, err);

	if (rc < 0 || (rc = st_random_hex(rnd, 8, err)) < 0)
		return rc;
	if (st_buf_addf(&tmp, err, "%s/.tmp-%s", dir, rnd) < 0 ||
	    st_buf_addf(&dst, err, "%s/%s", dir, name) < 0)
		return -ST_ENOMEM;
	fd = openat(dirfd, tmp.data, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return st_error_sys(err, "create '%s'", tmp.data);
	rc = st_write_all(fd, data, strlen(data), err);
	if (rc == 0 && durable && fdatasync(fd) < 0)
		rc = st_error_sys(err, "fdatasync '%s'", tmp.data);
	if (rc == 0 && renameat(dirfd, tmp.data, dirfd, dst.data) < 0)
		rc = st_error_sys(err, "rename to '%s'", dst.data);
	if (rc < 0)
		(void)unlinkat(dirfd, tmp.data, 0);
	return rc;
}

int srv_link_write(int repos_fd, const char *repo, enum srv_link kind, const struct st_digest *d,
                   const char *media_type, struct st_error *err)
{
	cleanup_buf struct st_buf dir = ST_BUF_INIT;
	cleanup_buf struct st_buf body = ST_BUF_INIT;
	char ds[ST_DIGEST_STR_MAX];

	st_digest_str(d, ds);
	if (link_dir(&dir, repo, kind, d) < 0 ||
	    st_buf_addf(&body, err, "%s\n%s\n", ds, media_type ? media_type : "") < 0)
		return st_error_set(err, ST_ENOMEM, "link path");
	/* A layer link is not synced here: the blob it names is (st_blob_writer_commit), and
	 * nothing needs the link to outlive a crash until a manifest names the blob, which is when
	 * srv_link_sync makes it durable. Its content is its path's digest again, so readers and
	 * gc go by the path alone. A manifest link is durable at once: pushed by digest, it is
	 * the manifest's only gc root, and its media type (line 2) is what gc descends with. */
	return write_small(repos_fd, dir.data, "link", body.data, kind == SRV_LINK_MANIFEST, err);
}

int srv_link_sync(int repos_fd, const char *repo, enum srv_link kind, const struct st_digest *d,
                  struct st_error *err)
{
	cleanup_buf struct st_buf p = ST_BUF_INIT;
	cleanup_fd int fd = -1;

	if (link_dir(&p, repo, kind, d) < 0 || st_buf_adds(&p, "/link", NULL) < 0)
		return st_error_set(err, ST_ENOMEM, "link path");
	fd = openat(repos_fd, p.data, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? 0 : st_error_sys(err, "open '%s'", p.data);
	if (fdatasync(fd) < 0)
		return st_error_sys(err, "fdatasync '%s'", p.data);
	return 0;
}

bool srv_link_exists(int repos_fd, const char *repo, enum srv_link kind, const struct st_digest *d)
{
	cleanup_buf struct st_buf p = ST_BUF_INIT;

	if (link_dir(&p, repo, kind, d) < 0 || st_buf_adds(&p, "/link", NULL) < 0)
		return false;
	return faccessat(repos_fd, p.data, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

int srv_link_remove(int repos_fd, const char *repo, enum srv_link kind, const struct st_digest *d,
                    struct st_error *err)
{
	cleanup_buf struct st_buf p = ST_BUF_INIT;

	if (link_dir(&p, repo, kind, d) < 0)
		return st_error_set(err, ST_ENOMEM, "link path");
	if (faccessat(repos_fd, p.data, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
		return st_error_sys(err, "link '%s'", p.data);
	return st_rm_rf_at(repos_fd, p.data, err);
}

static char *read_link_media_type(int dirfd, const char *path)
{
	cleanup_buf struct st_buf b = ST_BUF_INIT;
	char *nl, *mt;

	if (st_read_file_at(dirfd, path, &b, 4096, NULL) < 0)
		return NULL;
	nl = strchr(b.data, '\n');
	if (!nl || nl[1] == '\n' || nl[1] == '\0')
		return NULL;
	mt = nl + 1;
	mt[strcspn(mt, "\n")] = '\0';
	return strdup(mt);
}

char *srv_link_media_type(int repos_fd, const char *repo, const struct st_digest *d)
{
	cleanup_buf struct st_buf p = ST_BUF_INIT;

	if (link_dir(&p, repo, SRV_LINK_MANIFEST, d) < 0 || st_buf_adds(&p, "/link", NULL) < 0)
		return NULL;
	return read_link_media_type(repos_fd, p.data);
}

int srv_referrer_add(int repos_fd, const char *repo, const struct st_digest *subject,
                     const struct st_digest *d, struct st_error *err)
{
	cleanup_buf struct st_buf dir = ST_BUF_INIT;
	char hex[ST_DIGEST_HEX_MAX + 1], ds[ST_DIGEST_STR_MAX];

	st_digest_hex(subject, hex);
	st_digest_str(d, ds);
	if (st_buf_addf(&dir, err, "%s/_referrers/%s/%s", repo, st_digest_alg_name(subject->alg),
	                hex) < 0)
		return -ST_ENOMEM;
	return write_small(repos_fd, dir.data, ds, "", true, err);
}

int srv_referrers_list(int repos_fd, const char *repo, const struct st_digest *subject,
                       struct st_digest **out, size_t *out_n, struct st_error *err)
{
	cleanup_buf struct st_buf dir = ST_BUF_INIT;
	cleanup_free struct st_digest *v = NULL;
	cleanup_dir DIR *dp = NULL;
	char hex[ST_DIGEST_HEX_MAX + 1];
	size_t n = 0, cap = 0;
	struct dirent *e;
	int fd;

	st_digest_hex(subject, hex);
	if (st_buf_addf(&dir, err, "%s/_referrers/%s/%s", repo, st_digest_alg_name(subject->alg),
	                hex) < 0)
		return -ST_ENOMEM;
	fd = openat(repos_fd, dir.data, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno != ENOENT)
		return st_error_sys(err, "open '%s'", dir.data);
	if (fd >= 0 && !(dp = fdopendir(fd))) {
		(void)close(fd);
		return st_error_sys(err, "fdopendir '%s'", dir.data);
	}
	while (dp && (e = readdir(dp))) {
		struct st_digest d;
		if (st_digest_parse_str(e->d_name, &d, NULL) < 0 ||
		    !srv_link_exists(repos_fd, repo, SRV_LINK_MANIFEST, &d))
			continue;
		if (n == cap) {
			size_t nc = cap ? 2 * cap : 8;
			struct st_digest *nv = realloc(v, nc * sizeof(*nv));
			if (!nv)
				return st_error_set(err, ST_ENOMEM, "referrers");
			v = nv;
			cap = nc;
		}
		v[n++] = d;
	}
	*out = take_ptr(&v);
	*out_n = n;
	return 0;
}

int srv_store_name(const struct st_server *srv, const char *repo, const char *tag,
                   struct st_buf *out, struct st_error *err)
{
	return st_buf_addf(out, err, "%s/%s%s%s", srv->name, repo, tag ? ":" : "", tag ? tag : "");
}

bool srv_repo_exists(struct st_server *srv, const char *repo)
{
	cleanup_buf struct st_buf p = ST_BUF_INIT;
	struct st_strv tags = ST_STRV_INIT;
	bool found;

	if (st_buf_addf(&p, NULL, "%s/_layers", repo) == 0 &&
	    faccessat(srv->repos_fd, p.data, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return true;
	st_buf_reset(&p);
	if (st_buf_addf(&p, NULL, "%s/_manifests", repo) == 0 &&
	    faccessat(srv->repos_fd, p.data, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return true;
	found = srv_tags_list(srv, repo, &tags, NULL) == 0 && tags.n > 0;
	st_strv_release(&tags);
	return found;
}

static bool desc_holds(struct st_store *s, const struct st_descriptor *desc,
                       const struct st_digest *d, int depth);

static bool index_holds(struct st_store *s, const struct st_buf *raw, const char *mt,
                        const struct st_digest *d, int depth)
{
	struct st_index ix;
	bool found = false;

	if (st_index_parse(raw->data, raw->len, mt, &ix, NULL) < 0)
		return false;
	for (size_t i = 0; i < ix.n_manifests && !found; i++)
		found = depth < 2 && desc_holds(s, &ix.manifests[i], d, depth + 1);
	st_index_release(&ix);
	return found;
}

static bool manifest_holds(const struct st_buf *raw, const char *mt, const struct st_digest *d)
{
	struct st_manifest m;
	bool found;

	if (st_manifest_parse(raw->data, raw->len, mt, &m, NULL) < 0)
		return false;
	found = st_digest_equal(&m.config.digest, d);
	for (size_t i = 0; i < m.n_layers && !found; i++)
		found = st_digest_equal(&m.layers[i].digest, d);
	st_manifest_release(&m);
	return found;
}

/* True when the image (or index) desc names, or anything below it, is d. */
static bool desc_holds(struct st_store *s, const struct st_descriptor *desc,
                       const struct st_digest *d, int depth)
{
	cleanup_buf struct st_buf raw = ST_BUF_INIT;
	enum st_manifest_kind kind;

	if (st_digest_equal(&desc->digest, d))
		return true;
	if (st_store_read_blob(s, &desc->digest, ST_MAX_MANIFEST_SIZE, &raw, NULL) < 0 ||
	    st_manifest_detect(raw.data, raw.len, desc->media_type, &kind, NULL) < 0)
		return false;
	if (st_manifest_kind_is_index(kind))
		return index_holds(s, &raw, desc->media_type, d, depth);
	return manifest_holds(&raw, desc->media_type, d);
}

/* Images published by `strata tag X <name>/<repo>:T` have no links: walk the repo's tags. */
static bool tags_hold(struct st_server *srv, const char *repo, const struct st_digest *d)
{
	cleanup_buf struct st_buf prefix = ST_BUF_INIT;
	struct st_descriptor *ents = NULL;
	size_t n = 0;
	bool found = false;

	if (srv_store_name(srv, repo, "", &prefix, NULL) < 0 ||
	    st_store_list(srv->store, &ents, &n, NULL) < 0)
		return false;
	for (size_t i = 0; i < n && !found; i++) {
		const char *nm = st_descriptor_annotation(&ents[i], ST_ANNOT_REF_NAME);
		if (nm && st_str_has_prefix(nm, prefix.data) && !strchr(nm + prefix.len, '/'))
			found = desc_holds(srv->store, &ents[i], d, 0);
	}
	st_store_entries_free(ents, n);
	return found;
}

bool srv_repo_holds(struct st_server *srv, const char *repo, const struct st_digest *d,
                    bool manifest)
{
	if (srv_link_exists(srv->repos_fd, repo, manifest ? SRV_LINK_MANIFEST : SRV_LINK_LAYER, d))
		return true;
	if (!manifest && srv_link_exists(srv->repos_fd, repo, SRV_LINK_MANIFEST, d))
		return true;
	return tags_hold(srv, repo, d);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int srv_tags_list(struct st_server *srv, const char *repo, struct st_strv *out,
                  struct st_error *err)
{
	cleanup_buf struct st_buf prefix = ST_BUF_INIT;
	struct st_strv tags = ST_STRV_INIT;
	struct st_descriptor *ents = NULL;
	size_t n = 0;
	int rc = srv_store_name(srv, repo, "", &prefix, err);

	if (rc < 0 || (rc = st_store_list(srv->store, &ents, &n, err)) < 0)
		return rc;
	for (size_t i = 0; i < n && rc == 0; i++) {
		const char *nm = st_descriptor_annotation(&ents[i], ST_ANNOT_REF_NAME);
		if (!nm || !st_str_has_prefix(nm, prefix.data) ||
		    !st_ref_valid_tag(nm + prefix.len))
			continue;
		rc = st_strv_push(&tags, nm + prefix.len, strlen(nm + prefix.len), err);
	}
	st_store_entries_free(ents, n);
	if (rc < 0) {
		st_strv_release(&tags);
		return rc;
	}
	if (tags.n > 1)
		qsort(tags.v, tags.n, sizeof(*tags.v), cmp_str);
	*out = tags;
	return 0;
}

/* ---- gc root: every link of every repository ---- */

static int mark_links(struct st_gc *gc, int base_fd, const char *alg_dir_path, bool manifests,
                      struct st_error *err)
{
	cleanup_dir DIR *algs = NULL;
	struct dirent *a;
	int fd = openat(base_fd, alg_dir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return errno == ENOENT ? 0 : st_error_sys(err, "open '%s'", alg_dir_path);
	algs = fdopendir(fd);
	if (!algs) {
		(void)close(fd);
		return st_error_sys(err, "fdopendir '%s'", alg_dir_path);
	}
	while ((a = readdir(algs))) {
		cleanup_dir DIR *hexes = NULL;
		struct dirent *h;
		int hfd;
		if (a->d_name[0] == '.')
			continue;
		hfd = openat(dirfd(algs), a->d_name,
		             O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (hfd < 0 || !(hexes = fdopendir(hfd))) {
			if (hfd >= 0)
				(void)close(hfd);
			continue;
		}
		while ((h = readdir(hexes))) {
			cleanup_buf struct st_buf ds = ST_BUF_INIT;
			cleanup_buf struct st_buf path = ST_BUF_INIT;
			cleanup_free char *mt = NULL;
			struct st_digest d;
			int rc;
			if (h->d_name[0] == '.' ||
			    st_buf_addf(&ds, NULL, "%s:%s", a->d_name, h->d_name) < 0 ||
			    st_digest_parse_str(ds.data, &d, NULL) < 0)
				continue;
			if (manifests && st_buf_addf(&path, NULL, "%s/link", h->d_name) == 0)
				mt = read_link_media_type(dirfd(hexes), path.data);
			rc = st_gc_mark(gc, &d, mt, err);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

static int walk_repos(struct st_gc *gc, int base_fd, int depth, struct st_error *err)
{
	cleanup_dir DIR *dp = NULL;
	struct dirent *e;
	int rc = 0;
	int fd = openat(base_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || !(dp = fdopendir(fd))) {
		if (fd >= 0)
			(void)close(fd);
		return st_error_sys(err, "open repositories directory");
	}
	while (rc == 0 && (e = readdir(dp))) {
		cleanup_fd int sub = -1;
		if (e->d_name[0] == '.')
			continue;
		if (strcmp(e->d_name, "_layers") == 0) {
			rc = mark_links(gc, dirfd(dp), "_layers", false, err);
			continue;
		}
		if (strcmp(e->d_name, "_manifests") == 0) {
			rc = mark_links(gc, dirfd(dp), "_manifests/revisions", true, err);
			continue;
		}
		if (e->d_name[0] == '_' || depth >= WALK_MAX_DEPTH)
			continue;
		sub = openat(dirfd(dp), e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (sub >= 0)
			rc = walk_repos(gc, sub, depth + 1, err);
	}
	return rc;
}

static int gc_root(struct st_store *store, struct st_gc *gc, void *ctx, struct st_error *err)
{
	cleanup_fd int fd = openat(st_store_root_fd(store), REPOS_DIR,
	                           O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);

	(void)ctx;
	if (fd < 0)
		return errno == ENOENT ? 0 : st_error_sys(err, "open '%s'", REPOS_DIR);
	return walk_repos(gc, fd, 0, err);
}

int st_serve_register_gc(struct st_store *store, struct st_error *err)
{
	return st_store_add_gc_root(store, gc_root, NULL, err);
}
