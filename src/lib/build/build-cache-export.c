/* build-cache-export.c: --cache-to and --cache-from type=local: the build cache as an OCI image
 * layout directory, as BuildKit's local cache exporter keeps it. The layout's index.json names
 * (by `tag`, default "latest") a *cache index*: an OCI image index whose entries are the
 * intermediate images of the steps, each annotated with its step key (io.strata.build.key).
 * Export opens the directory as a store, so blobs arrive through the store's verified writer
 * and index.json changes by atomic rename; import copies a hit's blobs through
 * st_layout_copy_image, verified, all or nothing. See docs/internals/build.md. */
#include "build/build-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "strata/archive.h"
#include "strata/ref.h"
#include "util/cleanup.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

#define ANNOT_CACHE "io.strata.build.cache"
#define ANNOT_KEY "io.strata.build.key"
#define CACHE_VERSION "v1"

/* ---- --cache-to / --cache-from specs ---- */

static int set_str(char **dst, const char *v, size_t len, struct st_error *err)
{
	free(*dst);
	*dst = st_strndup(v, len);
	return *dst ? 0 : st_error_set(err, ST_ENOMEM, "out of memory");
}

static bool is(const char *k, size_t klen, const char *want)
{
	return klen == strlen(want) && memcmp(k, want, klen) == 0;
}

/* One KEY=VALUE field of a spec. */
static int spec_field(struct st_build_cache_spec *c, bool to, const char *k, size_t klen,
                      const char *v, size_t vlen, bool *typed, struct st_error *err)
{
	if (is(k, klen, "type")) {
		*typed = true;
		if (vlen == 5 && memcmp(v, "local", 5) == 0)
			return 0;
		return st_error_set(err, ST_EUNSUPPORTED,
		                    "type=%.*s: only type=local (a directory) is supported",
		                    (int)vlen, v);
	}
	if (is(k, klen, to ? "dest" : "src"))
		return vlen ? set_str(&c->dir, v, vlen, err)
		            : st_error_set(err, ST_EINVALID, "%s= is empty", to ? "dest" : "src");
	if (is(k, klen, "tag")) {
		int rc = set_str(&c->tag, v, vlen, err);
		if (rc == 0 && !st_ref_valid_tag(c->tag))
			rc = st_error_set(err, ST_EINVALID, "tag=%s: not a valid tag", c->tag);
		return rc;
	}
	if (to && is(k, klen, "mode")) {
		if (vlen == 3 && memcmp(v, "min", 3) == 0)
			c->mode = ST_BUILD_CACHE_MIN;
		else if (vlen == 3 && memcmp(v, "max", 3) == 0)
			c->mode = ST_BUILD_CACHE_MAX;
		else
			return st_error_set(err, ST_EINVALID, "mode=%.*s: must be min or max",
			                    (int)vlen, v);
		return 0;
	}
	if (to && is(k, klen, "ignore-error")) {
		if (vlen == 4 && memcmp(v, "true", 4) == 0)
			c->ignore_error = true;
		else if (vlen == 5 && memcmp(v, "false", 5) == 0)
			c->ignore_error = false;
		else
			return st_error_set(err, ST_EINVALID,
			                    "ignore-error=%.*s: must be true or false", (int)vlen,
			                    v);
		return 0;
	}
	return st_error_set(err, ST_EINVALID, "unknown key \"%.*s\" for --cache-%s", (int)klen, k,
	                    to ? "to" : "from");
}

int st_build_cache_spec_parse(const char *spec, bool to, struct st_build_cache_spec *out,
                              struct st_error *err)
{
	struct st_build_cache_spec c = {0};
	const char *p = spec;
	bool typed = false;
	int rc = 0;

	while (rc == 0 && *p) {
		size_t len = strcspn(p, ",");
		const char *eq = memchr(p, '=', len);
		if (!eq)
			rc = st_error_set(err, ST_EINVALID,
			                  "\"%.*s\" is not KEY=VALUE (a registry reference: only "
			                  "type=local is supported)",
			                  (int)len, p);
		else
			rc = spec_field(&c, to, p, (size_t)(eq - p), eq + 1,
			                len - (size_t)(eq - p) - 1, &typed, err);
		p += len + (p[len] == ',');
	}
	if (rc == 0 && !typed)
		rc = st_error_set(err, ST_EINVALID, "type= is missing (type=local)");
	if (rc == 0 && !c.dir)
		rc = st_error_set(err, ST_EINVALID, "%s=DIR is missing", to ? "dest" : "src");
	if (rc == 0 && !c.tag)
		rc = set_str(&c.tag, "latest", 6, err);
	if (rc < 0) {
		st_build_cache_spec_release(&c);
		return rc;
	}
	*out = c;
	return 0;
}

void st_build_cache_spec_release(struct st_build_cache_spec *c)
{
	free(c->dir);
	free(c->tag);
	c->dir = c->tag = NULL;
}

/* ---- the steps this build reached ---- */

int build_cache_record(struct bctx *b, const struct st_digest *key, int stage)
{
	struct build_cache_recs *r = b->recs;
	int rc = 0;

	if (!b->o->n_cache_to)
		return 0;
	if (b->sync)
		pthread_mutex_lock(&b->sync->lock);
	if (r->n == r->cap) {
		size_t nc = r->cap ? r->cap * 2 : 32;
		struct build_cache_rec *nr = realloc(r->v, nc * sizeof(*nr));
		if (nr) {
			r->v = nr;
			r->cap = nc;
		} else {
			rc = st_error_set(b->err, ST_ENOMEM, "out of memory");
		}
	}
	if (rc == 0)
		r->v[r->n++] = (struct build_cache_rec){.key = *key, .stage = stage};
	if (b->sync)
		pthread_mutex_unlock(&b->sync->lock);
	return rc;
}

/* ---- the cache index ---- */

static const char *index_annotation(const struct st_index *ix, const char *key)
{
	for (size_t i = 0; i < ix->n_annotations; i++)
		if (strcmp(ix->annotations[i].key, key) == 0)
			return ix->annotations[i].value;
	return NULL;
}

/* Parses a cache index and the step key of each entry into keys (malloc'd, n_manifests). */
static int parse_cache_index(const struct st_buf *raw, const char *media_type, const char *what,
                             struct st_index *ix, struct st_digest **keys, struct st_error *err)
{
	const char *v;
	int rc = st_index_parse(raw->data, raw->len, media_type, ix, err);

	if (rc < 0)
		return st_error_wrap(err, "%s", what);
	v = index_annotation(ix, ANNOT_CACHE);
	if (!v || strcmp(v, CACHE_VERSION) != 0)
		rc = st_error_set(err, ST_EINVALID, "%s: not a strata build cache (%s is %s%s%s)",
		                  what, ANNOT_CACHE, v ? "\"" : "absent", v ? v : "",
		                  v ? "\", want \"" CACHE_VERSION "\"" : "");
	*keys = rc == 0 ? calloc(ix->n_manifests + 1, sizeof(**keys)) : NULL;
	if (rc == 0 && !*keys)
		rc = st_error_set(err, ST_ENOMEM, "out of memory");
	for (size_t i = 0; rc == 0 && i < ix->n_manifests; i++) {
		const struct st_descriptor *d = &ix->manifests[i];
		const char *k = st_descriptor_annotation(d, ANNOT_KEY);
		if (!k || st_digest_parse(k, strlen(k), &(*keys)[i], NULL) < 0 ||
		    strcmp(d->media_type, ST_MT_OCI_MANIFEST) != 0)
			rc = st_error_set(
			        err, ST_EINVALID,
			        "%s: manifests[%zu]: want an OCI image manifest with a %s "
			        "digest annotation",
			        what, i, ANNOT_KEY);
	}
	if (rc < 0) {
		free(*keys);
		*keys = NULL;
		st_index_release(ix);
	}
	return rc;
}

/* ---- --cache-from ---- */

struct build_cache_src {
	const char *dir;
	int dirfd;
	struct st_index ix;
	struct st_digest *keys; /* keys[i]: the step key of ix.manifests[i] */
};

__attribute__((format(printf, 2, 3))) static void warn(struct bctx *b, const char *fmt, ...)
{
	char msg[900];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	build_event(b, ST_BUILD_WARNING, -1, 0, 0, msg, 0);
}

/* The descriptor index.json names `tag`; 0, or 1 when there is none (warned). */
static int find_tag(struct bctx *b, const struct st_build_cache_spec *c, int dirfd,
                    struct st_descriptor *out)
{
	struct st_descriptor *e = NULL;
	size_t n = 0;
	int rc = st_layout_list(dirfd, &e, &n, b->err);

	if (rc == -ST_ENOTFOUND) {
		warn(b, "cache-from '%s': no index.json (not an OCI layout), building without it",
		     c->dir);
		return 1;
	}
	if (rc < 0)
		return st_error_wrap(b->err, "cache-from '%s'", c->dir);
	rc = 1;
	for (size_t i = 0; i < n && rc == 1; i++) {
		const char *name = st_descriptor_annotation(&e[i], ST_ANNOT_REF_NAME);
		if (name && strcmp(name, c->tag) == 0)
			rc = st_descriptor_copy(out, &e[i], b->err);
	}
	st_store_entries_free(e, n);
	if (rc == 1)
		warn(b, "cache-from '%s': no cache tagged \"%s\", building without it", c->dir,
		     c->tag);
	return rc;
}

/* Opens one source into *src: 0, 1 when it is missing (warned and skipped), < 0 when bad. */
static int open_src(struct bctx *b, const struct st_build_cache_spec *c,
                    struct build_cache_src *src)
{
	cleanup_buf struct st_buf raw = ST_BUF_INIT;
	cleanup_fd int fd = open(c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct st_descriptor d = {0};
	char what[600];
	int rc;

	if (fd < 0 && errno == ENOENT) {
		warn(b, "cache-from '%s': not found, building without it", c->dir);
		return 1;
	}
	if (fd < 0)
		return st_error_sys(b->err, "cache-from '%s'", c->dir);
	rc = find_tag(b, c, fd, &d);
	if (rc != 0)
		return rc;
	(void)snprintf(what, sizeof(what), "cache-from '%s': tag \"%s\"", c->dir, c->tag);
	rc = st_layout_read_blob(fd, &d, ST_MAX_MANIFEST_SIZE, &raw, b->err);
	if (rc == -ST_ENOTFOUND) {
		/* another export replaced it under us, or the layout lost it */
		warn(b, "%s: the cache index is missing, building without it", what);
		st_descriptor_release(&d);
		return 1;
	}
	if (rc < 0)
		(void)st_error_wrap(b->err, "%s", what);
	else
		rc = parse_cache_index(&raw, d.media_type, what, &src->ix, &src->keys, b->err);
	st_descriptor_release(&d);
	if (rc < 0)
		return rc;
	src->dir = c->dir;
	src->dirfd = take_fd(&fd);
	return 0;
}

int build_cache_import_open(struct bctx *b)
{
	char msg[700];

	if (b->o->no_cache || !b->o->n_cache_from)
		return 0;
	b->srcs = calloc(b->o->n_cache_from, sizeof(*b->srcs));
	if (!b->srcs)
		return st_error_set(b->err, ST_ENOMEM, "out of memory");
	for (size_t i = 0; i < b->o->n_cache_from; i++) {
		struct build_cache_src *src = &b->srcs[b->n_srcs];
		int rc = open_src(b, &b->o->cache_from[i], src);
		if (rc < 0)
			return rc;
		if (rc == 1)
			continue;
		b->n_srcs++;
		(void)snprintf(msg, sizeof(msg), "importing cache from %s (%zu steps)", src->dir,
		               src->ix.n_manifests);
		build_event(b, ST_BUILD_PHASE, -1, 0, 0, msg, 0);
	}
	return 0;
}

void build_cache_import_close(struct bctx *b)
{
	for (size_t i = 0; i < b->n_srcs; i++) {
		(void)close(b->srcs[i].dirfd);
		st_index_release(&b->srcs[i].ix);
		free(b->srcs[i].keys);
	}
	free(b->srcs);
	b->srcs = NULL;
	b->n_srcs = 0;
}

int build_cache_import(struct bctx *b, const struct st_digest *key)
{
	for (size_t s = 0; s < b->n_srcs; s++) {
		struct build_cache_src *src = &b->srcs[s];
		for (size_t i = 0; i < src->ix.n_manifests; i++) {
			int rc;
			if (!st_digest_equal(&src->keys[i], key))
				continue;
			rc = st_layout_copy_image(b->s, src->dirfd, &src->ix.manifests[i], NULL,
			                          b->err);
			if (rc < 0)
				return st_error_wrap(b->err, "cache-from '%s'", src->dir);
			rc = build_cache_entry_put(b, key, &src->ix.manifests[i]);
			return rc < 0 ? rc : 1;
		}
	}
	return 0;
}

/* ---- --cache-to ---- */

struct entry {
	char key[ST_DIGEST_STR_MAX];
	struct st_descriptor d;
};

struct entries {
	struct entry *v;
	size_t n, cap;
};

static void entries_release(struct entries *e)
{
	for (size_t i = 0; i < e->n; i++)
		st_descriptor_release(&e->v[i].d);
	free(e->v);
}

static bool entries_has(const struct entries *e, const char *key)
{
	for (size_t i = 0; i < e->n; i++)
		if (strcmp(e->v[i].key, key) == 0)
			return true;
	return false;
}

/* Appends key -> *d, taking d's contents (d is left empty). */
static int entries_take(struct entries *e, const char *key, struct st_descriptor *d,
                        struct st_error *err)
{
	if (e->n == e->cap) {
		size_t nc = e->cap ? e->cap * 2 : 32;
		struct entry *nv = realloc(e->v, nc * sizeof(*nv));
		if (!nv)
			return st_error_set(err, ST_ENOMEM, "out of memory");
		e->v = nv;
		e->cap = nc;
	}
	(void)snprintf(e->v[e->n].key, sizeof(e->v[e->n].key), "%s", key);
	e->v[e->n].d = *d;
	memset(d, 0, sizeof(*d));
	e->n++;
	return 0;
}

static int by_key(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->key, ((const struct entry *)b)->key);
}

static int dup_opt(char **dst, const char *v, struct st_error *err)
{
	if (!v || !*v)
		return 0;
	*dst = strdup(v);
	return *dst ? 0 : st_error_set(err, ST_ENOMEM, "out of memory");
}

/* One step: its intermediate image into dst, and its entry of the cache index. */
static int export_step(struct bctx *b, struct st_store *dst, const struct st_digest *key,
                       struct entries *out)
{
	struct st_descriptor d;
	struct st_image img;
	char ks[ST_DIGEST_STR_MAX];
	int rc;

	st_digest_str(key, ks);
	if (entries_has(out, ks))
		return 0;
	rc = build_cache_entry(b, key, &d);
	if (rc == -ST_ENOTFOUND)
		return st_error_set(b->err, ST_ENOTFOUND,
		                    "step %s: no cache entry (pruned during the build?)", ks);
	if (rc < 0)
		return rc;
	rc = st_image_load(b->s, &d, NULL, &img, b->err);
	if (rc == 0) {
		rc = st_layout_copy_image(dst, st_store_root_fd(b->s), &d, NULL, b->err);
		/* the platform lets skopeo and umoci pick an entry of the index */
		if (rc == 0)
			rc = dup_opt(&d.os, img.config.os, b->err);
		if (rc == 0)
			rc = dup_opt(&d.arch, img.config.architecture, b->err);
		if (rc == 0)
			rc = dup_opt(&d.variant, img.config.variant, b->err);
		st_image_release(&img);
	}
	if (rc == 0)
		rc = st_descriptor_set_annotation(&d, ANNOT_KEY, ks, b->err);
	if (rc == 0)
		rc = entries_take(out, ks, &d, b->err);
	st_descriptor_release(&d);
	return rc;
}

/* The entries of the cache index dst has under tag that this export does not replace, if
 * their manifests are there: a re-export adds to the cache. An unreadable old index is
 * replaced (warned). *old gets its digest. */
static int old_entries(struct bctx *b, struct st_store *dst, const struct st_build_cache_spec *c,
                       struct st_descriptor *old, struct entries *out)
{
	struct st_error e2 = ST_ERROR_INIT;
	cleanup_buf struct st_buf raw = ST_BUF_INIT;
	struct st_digest *keys = NULL;
	struct st_index ix;
	char what[600];
	int rc = st_store_resolve(dst, c->tag, old, b->err);

	if (rc == -ST_ENOTFOUND)
		return 0;
	if (rc < 0)
		return rc;
	(void)snprintf(what, sizeof(what), "tag \"%s\"", c->tag);
	rc = st_store_read_blob(dst, &old->digest, ST_MAX_MANIFEST_SIZE, &raw, &e2);
	if (rc == 0)
		rc = parse_cache_index(&raw, old->media_type, what, &ix, &keys, &e2);
	if (rc < 0) {
		warn(b, "cache-to '%s': replacing the unreadable cache index: %s", c->dir, e2.msg);
		return 0;
	}
	for (size_t i = 0; rc == 0 && i < ix.n_manifests; i++) {
		struct st_descriptor d;
		char ks[ST_DIGEST_STR_MAX];
		st_digest_str(&keys[i], ks);
		if (entries_has(out, ks) || !st_store_has_blob(dst, &ix.manifests[i].digest))
			continue;
		rc = st_descriptor_copy(&d, &ix.manifests[i], b->err);
		if (rc == 0)
			rc = entries_take(out, ks, &d, b->err);
		st_descriptor_release(&d);
	}
	st_index_release(&ix);
	free(keys);
	return rc;
}

/* Writes the cache index (entries sorted by key: the same cache, the same digest) and points
 * tag at it. */
static int publish(struct bctx *b, struct st_store *dst, const char *tag, struct entries *e,
                   struct st_digest *out)
{
	cleanup_buf struct st_buf raw = ST_BUF_INIT;
	struct st_descriptor d = {.media_type = (char *)ST_MT_OCI_INDEX};
	struct st_index ix;
	int rc;

	if (e->n)
		qsort(e->v, e->n, sizeof(*e->v), by_key);
	st_index_init(&ix, ST_KIND_OCI_INDEX);
	rc = st_index_set_annotation(&ix, ANNOT_CACHE, CACHE_VERSION, b->err);
	for (size_t i = 0; i < e->n && rc == 0; i++)
		rc = st_index_add_manifest(&ix, &e->v[i].d, b->err);
	if (rc == 0)
		rc = st_index_dump(&ix, &raw, b->err);
	if (rc == 0)
		rc = st_store_put_blob(dst, raw.data, raw.len, NULL, &d.digest, b->err);
	d.size = raw.len;
	if (rc == 0)
		rc = st_store_tag(dst, tag, &d, b->err);
	if (rc == 0)
		*out = d.digest;
	st_index_release(&ix);
	return rc;
}

/* The old cache index, replaced: its index.json entry (left untagged) and its blob, unless
 * another tag still names it. */
static int drop_old(struct bctx *b, struct st_store *dst, const struct st_digest *old,
                    const struct st_digest *now)
{
	struct st_descriptor *e = NULL;
	size_t n = 0;
	bool used = st_digest_equal(old, now);
	int rc = st_store_prune_untagged(dst, b->err);

	if (rc >= 0)
		rc = st_store_list(dst, &e, &n, b->err);
	for (size_t i = 0; rc >= 0 && i < n; i++)
		used = used || st_digest_equal(&e[i].digest, old);
	st_store_entries_free(e, n);
	/* a blob left behind is only garbage: its removal failing is not the export failing */
	if (rc >= 0 && !used)
		(void)st_store_delete_blob(dst, old, NULL);
	return rc < 0 ? rc : 0;
}

/* The stages mode=min exports: the target and the stages it is built FROM. */
static bool in_final_chain(const struct bctx *b, int stage, int target)
{
	for (int s = target; s >= 0; s = b->ev->stages[s].base_stage)
		if (s == stage)
			return true;
	return false;
}

static int same_as_store(struct bctx *b, const char *dir)
{
	struct stat a, s;

	if (stat(dir, &a) < 0 || fstat(st_store_root_fd(b->s), &s) < 0)
		return 0;
	if (a.st_dev == s.st_dev && a.st_ino == s.st_ino)
		return st_error_set(b->err, ST_EINVALID, "'%s' is the store itself", dir);
	return 0;
}

static int export_one(struct bctx *b, const struct st_build_cache_spec *c, int target)
{
	struct st_descriptor old = {0};
	struct st_digest now;
	struct entries e = {0};
	struct st_store *dst = NULL;
	char msg[700];
	size_t n = 0;
	int rc;

	for (size_t i = 0; i < b->recs->n; i++)
		n += c->mode == ST_BUILD_CACHE_MAX ||
		     in_final_chain(b, b->recs->v[i].stage, target);
	(void)snprintf(msg, sizeof(msg), "exporting cache to %s (mode=%s, %zu steps)", c->dir,
	               c->mode == ST_BUILD_CACHE_MAX ? "max" : "min", n);
	build_event(b, ST_BUILD_PHASE, -1, 0, 0, msg, 0);
	rc = same_as_store(b, c->dir);
	if (rc == 0)
		rc = st_store_open(c->dir, &dst, b->err);
	for (size_t i = 0; rc == 0 && i < b->recs->n; i++)
		if (c->mode == ST_BUILD_CACHE_MAX || in_final_chain(b, b->recs->v[i].stage, target))
			rc = export_step(b, dst, &b->recs->v[i].key, &e);
	if (rc == 0)
		rc = old_entries(b, dst, c, &old, &e);
	if (rc == 0)
		rc = publish(b, dst, c->tag, &e, &now);
	if (rc == 0 && old.media_type)
		rc = drop_old(b, dst, &old.digest, &now);
	st_descriptor_release(&old);
	entries_release(&e);
	st_store_free(dst);
	return rc < 0 ? st_error_wrap(b->err, "cache-to '%s'", c->dir) : 0;
}

int build_cache_export(struct bctx *b, int target)
{
	for (size_t i = 0; i < b->o->n_cache_to; i++) {
		const struct st_build_cache_spec *c = &b->o->cache_to[i];
		int rc = export_one(b, c, target);
		if (rc < 0 && !c->ignore_error)
			return rc;
		if (rc < 0)
			warn(b, "%s (ignore-error=true)", b->err->msg);
	}
	return 0;
}
