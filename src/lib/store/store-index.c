/* store-index.c: the root index.json, which holds the store's images and their names. One entry
 * per name (org.opencontainers.image.ref.name holds the full normalised reference), plus
 * entries without a name for untagged images. Every change is read-modify-write under an
 * exclusive flock of locks/index and lands by atomic rename, so readers need no lock. */
#include "store/store-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>

#include "store/descriptor-json.h"
#include "util/cleanup.h"
#include "util/fs.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

struct entries {
	struct st_descriptor *d;
	size_t n;
};

static void entries_release(struct entries *e)
{
	st_store_entries_free(e->d, e->n);
	e->d = NULL;
	e->n = 0;
}

void st_store_entries_free(struct st_descriptor *d, size_t n)
{
	for (size_t i = 0; i < n; i++)
		st_descriptor_release(&d[i]);
	free(d);
}

static int copy_entries(const struct st_descriptor *d, size_t n, struct entries *out,
                        struct st_error *err)
{
	struct entries e = {calloc(n + 1, sizeof(*e.d)), 0};

	if (!e.d)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	for (; e.n < n; e.n++) {
		if (st_descriptor_copy(&e.d[e.n], &d[e.n], err) < 0) {
			entries_release(&e);
			return -ST_ENOMEM;
		}
	}
	*out = e;
	return 0;
}

static int parse_index(struct st_store *s, const struct st_buf *raw, struct entries *out,
                       struct st_error *err);

/* index.json's entries: a copy of the handle's cache when the file holds the bytes it was
 * parsed from (a build reads the index three times), else parsed, and cached. */
static int read_index(struct st_store *s, struct entries *out, struct st_error *err)
{
	cleanup_buf struct st_buf raw = ST_BUF_INIT;
	struct entries cached = {0};
	char *copy;
	bool hit;
	int rc;

	rc = st_read_file_at(s->root_fd, "index.json", &raw, ST_MAX_INDEX_SIZE, err);
	if (rc < 0)
		return st_error_wrap(err, "store '%s'", s->root);
	pthread_mutex_lock(&s->lock);
	hit = s->index_cache_raw && s->index_cache_len == raw.len &&
	      memcmp(s->index_cache_raw, raw.data, raw.len) == 0;
	if (hit)
		rc = copy_entries(s->index_cache, s->n_index_cache, out, err);
	pthread_mutex_unlock(&s->lock);
	if (hit)
		return rc;
	rc = parse_index(s, &raw, out, err);
	if (rc < 0)
		return rc;
	copy = malloc(raw.len + 1);
	if (!copy || copy_entries(out->d, out->n, &cached, NULL) < 0) {
		free(copy); /* the cache is only a cache */
		return 0;
	}
	memcpy(copy, raw.data, raw.len);
	pthread_mutex_lock(&s->lock);
	st_store_entries_free(s->index_cache, s->n_index_cache);
	free(s->index_cache_raw);
	s->index_cache = cached.d;
	s->n_index_cache = cached.n;
	s->index_cache_raw = copy;
	s->index_cache_len = raw.len;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static int parse_index(struct st_store *s, const struct st_buf *raw, struct entries *out,
                       struct st_error *err)
{
	cleanup_json json_t *j = NULL;
	struct entries e = {0};
	json_t *manifests, *m;
	size_t i;
	int rc;

	rc = st_json_parse(raw->data, raw->len, "index.json", &j, err);
	if (rc < 0)
		return st_error_wrap(err, "store '%s'", s->root);
	if (!json_is_object(j))
		return st_error_set(err, ST_EINVALID, "store '%s': index.json is not an object",
		                    s->root);
	rc = st_json_get_arr(j, "manifests", false, "index.json", &manifests, err);
	if (rc < 0)
		return rc;
	if (!manifests) {
		*out = e;
		return 0;
	}
	e.d = calloc(json_array_size(manifests) + 1, sizeof(*e.d));
	if (!e.d)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	json_array_foreach(manifests, i, m)
	{
		char what[48];
		(void)snprintf(what, sizeof(what), "index.json manifests[%zu]", i);
		rc = st_descriptor_from_json(m, what, &e.d[e.n], err);
		if (rc < 0) {
			entries_release(&e);
			return st_error_wrap(err, "store '%s'", s->root);
		}
		e.n++;
	}
	*out = e;
	return 0;
}

static int write_index(struct st_store *s, const struct entries *e, struct st_error *err)
{
	cleanup_json json_t *j = json_object();
	cleanup_buf struct st_buf out = ST_BUF_INIT;
	json_t *arr = json_array();
	int rc;

	if (!j || st_json_set_new(j, "manifests", arr, err) < 0)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	if ((rc = st_json_set_str(j, "mediaType", ST_MT_OCI_INDEX, err)) < 0 ||
	    (rc = st_json_set_new(j, "schemaVersion", json_integer(2), err)) < 0)
		return rc;
	for (size_t i = 0; i < e->n; i++) {
		json_t *m;
		rc = st_descriptor_to_json(&e->d[i], &m, err);
		if (rc < 0)
			return rc;
		if (json_array_append_new(arr, m) != 0)
			return st_error_set(err, ST_ENOMEM, "out of memory");
	}
	rc = st_json_dump(j, &out, err);
	if (rc < 0)
		return rc;
	return st_write_file_atomic(s->root_fd, "index.json", s->tmp_fd, out.data, out.len, 0644,
	                            err);
}

int st_store_list(struct st_store *s, struct st_descriptor **out, size_t *out_n,
                  struct st_error *err)
{
	struct entries e;
	int rc = read_index(s, &e, err);

	if (rc < 0)
		return rc;
	*out = e.d;
	*out_n = e.n;
	return 0;
}

/* Runs fn on the entries under the index lock and writes them back when fn returns > 0. */
typedef int (*edit_fn)(struct entries *e, void *arg, struct st_error *err);

static int edit_index(struct st_store *s, edit_fn fn, void *arg, struct st_error *err)
{
	struct entries e = {0};
	int rc;

	rc = st_store_lease(s, err);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&s->index_lock);
	while (flock(s->index_lock_fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			rc = st_error_sys(err, "lock '%s/index.json'", s->root);
			goto out;
		}
	}
	rc = read_index(s, &e, err);
	if (rc == 0)
		rc = fn(&e, arg, err);
	if (rc > 0) {
		int wrc = write_index(s, &e, err);
		if (wrc < 0)
			rc = wrc;
	}
	(void)flock(s->index_lock_fd, LOCK_UN);
	entries_release(&e);
out:
	pthread_mutex_unlock(&s->index_lock);
	st_store_unlease(s);
	return rc;
}

static const char *name_of(const struct st_descriptor *d)
{
	return st_descriptor_annotation(d, ST_ANNOT_REF_NAME);
}

static void remove_at(struct entries *e, size_t i)
{
	st_descriptor_release(&e->d[i]);
	memmove(&e->d[i], &e->d[i + 1], (e->n - i - 1) * sizeof(*e->d));
	e->n--;
}

static bool digest_present(const struct entries *e, const struct st_digest *d)
{
	for (size_t i = 0; i < e->n; i++)
		if (st_digest_equal(&e->d[i].digest, d))
			return true;
	return false;
}

static int append(struct entries *e, const struct st_descriptor *desc, const char *name,
                  struct st_error *err)
{
	struct st_descriptor *nd = realloc(e->d, (e->n + 1) * sizeof(*nd));
	struct st_descriptor copy;
	int rc;

	if (!nd)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	e->d = nd;
	rc = st_descriptor_copy(&copy, desc, err);
	if (rc < 0)
		return rc;
	/* the ref name belongs to the index entry, not to whatever desc carried */
	rc = st_descriptor_set_annotation(&copy, ST_ANNOT_REF_NAME, name, err);
	if (rc < 0) {
		st_descriptor_release(&copy);
		return rc;
	}
	e->d[e->n++] = copy;
	return 0;
}

struct tag_arg {
	const char *name;
	const struct st_descriptor *desc;
};

static bool digest_elsewhere(const struct entries *e, size_t skip, const struct st_digest *d)
{
	for (size_t i = 0; i < e->n; i++)
		if (i != skip && st_digest_equal(&e->d[i].digest, d))
			return true;
	return false;
}

static int do_tag(struct entries *e, void *argp, struct st_error *err)
{
	struct tag_arg *a = argp;
	int rc;

	if (!a->name) {
		if (digest_present(e, &a->desc->digest))
			return 0;
		rc = append(e, a->desc, NULL, err);
		return rc < 0 ? rc : 1;
	}
	for (size_t i = 0; i < e->n; i++) {
		const char *n = name_of(&e->d[i]);
		if (!n || strcmp(n, a->name) != 0)
			continue;
		if (st_digest_equal(&e->d[i].digest, &a->desc->digest))
			return 0;
		/* the image whose tag moves stays, untagged, if this was its last name
		 * (Docker's dangling image) */
		if (digest_elsewhere(e, i, &e->d[i].digest))
			remove_at(e, i);
		else if ((rc = st_descriptor_set_annotation(&e->d[i], ST_ANNOT_REF_NAME, NULL,
		                                            err)) < 0)
			return rc;
		break;
	}
	/* an untagged entry of the same image takes the name instead of a second entry */
	for (size_t i = 0; i < e->n; i++) {
		if (name_of(&e->d[i]) || !st_digest_equal(&e->d[i].digest, &a->desc->digest))
			continue;
		rc = st_descriptor_set_annotation(&e->d[i], ST_ANNOT_REF_NAME, a->name, err);
		return rc < 0 ? rc : 1;
	}
	rc = append(e, a->desc, a->name, err);
	return rc < 0 ? rc : 1;
}

int st_store_tag(struct st_store *s, const char *name, const struct st_descriptor *desc,
                 struct st_error *err)
{
	struct tag_arg a = {name, desc};
	int rc = edit_index(s, do_tag, &a, err);

	return rc < 0 ? rc : 0;
}

static int do_untag(struct entries *e, void *argp, struct st_error *err)
{
	const char *name = argp;

	for (size_t i = 0; i < e->n; i++) {
		const char *n = name_of(&e->d[i]);
		if (n && strcmp(n, name) == 0) {
			remove_at(e, i);
			return 1;
		}
	}
	return st_error_set(err, ST_ENOTFOUND, "no image named '%s'", name);
}

int st_store_untag(struct st_store *s, const char *name, struct st_error *err)
{
	int rc = edit_index(s, do_untag, (void *)name, err);

	return rc < 0 ? rc : 0;
}

static int do_prune(struct entries *e, void *argp, struct st_error *err)
{
	int *count = argp;

	(void)err;
	for (size_t i = e->n; i-- > 0;) {
		if (!name_of(&e->d[i])) {
			remove_at(e, i);
			(*count)++;
		}
	}
	return *count > 0;
}

int st_store_prune_untagged(struct st_store *s, struct st_error *err)
{
	int count = 0;
	int rc = edit_index(s, do_prune, &count, err);

	return rc < 0 ? rc : count;
}

struct remove_arg {
	const struct st_digest *d;
	int count;
};

static int do_remove(struct entries *e, void *argp, struct st_error *err)
{
	struct remove_arg *a = argp;

	(void)err;
	for (size_t i = e->n; i-- > 0;) {
		if (st_digest_equal(&e->d[i].digest, a->d)) {
			remove_at(e, i);
			a->count++;
		}
	}
	return a->count > 0;
}

int st_store_remove_image(struct st_store *s, const struct st_digest *d, struct st_error *err)
{
	struct remove_arg a = {d, 0};
	int rc = edit_index(s, do_remove, &a, err);

	return rc < 0 ? rc : a.count;
}

int st_store_resolve(struct st_store *s, const char *name, struct st_descriptor *out,
                     struct st_error *err)
{
	struct entries e;
	int rc = read_index(s, &e, err);

	if (rc < 0)
		return rc;
	rc = st_error_set(err, ST_ENOTFOUND, "no image named '%s'", name);
	for (size_t i = 0; i < e.n; i++) {
		const char *n = name_of(&e.d[i]);
		if (n && strcmp(n, name) == 0) {
			rc = st_descriptor_copy(out, &e.d[i], err);
			break;
		}
	}
	entries_release(&e);
	return rc;
}
