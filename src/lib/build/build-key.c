/* build-key.c: step keys made of named items, their records and the explanation of a miss. */
#include "build/build-key.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fs.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

#define REC_MAX ((size_t)64 << 20)

int build_key_init(struct build_key *k, bool record, struct st_error *err)
{
	memset(k, 0, sizeof(*k));
	k->label = (struct st_buf)ST_BUF_INIT;
	k->rec = (struct st_buf)ST_BUF_INIT;
	k->record = record;
	if (st_hasher_init(&k->key, ST_DIGEST_SHA256, err) < 0)
		return -ST_ENOMEM;
	if (st_hasher_init(&k->item, ST_DIGEST_SHA256, err) < 0) {
		st_hasher_release(&k->key);
		return -ST_ENOMEM;
	}
	st_hasher_update(&k->key, "strata-build-v2", 16);
	return 0;
}

/* The label in a record line: bytes that would break the line format become \xHH. */
static int add_escaped(struct st_buf *out, const char *s, size_t n)
{
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f || c == '\\')
			rc = st_buf_addf(out, NULL, "\\x%02x", c);
		else
			rc = st_buf_add(out, &s[i], 1, NULL);
	}
	return rc;
}

static void add_closed(struct build_key *k, const struct st_digest *d)
{
	char hex[ST_DIGEST_HEX_MAX + 1];

	/* the raw label goes into the key (escaping could make two labels one) */
	st_hasher_update(&k->key, k->label.data, k->label.len + 1);
	st_hasher_update(&k->key, d->bytes, 32);
	if (!k->record)
		return;
	st_digest_hex(d, hex);
	/* the record is advisory: a failed append only weakens the explanation */
	if (st_buf_addf(&k->rec, NULL, "%s ", hex) == 0 &&
	    add_escaped(&k->rec, k->label.data, k->label.len) == 0)
		(void)st_buf_add(&k->rec, "\n", 1, NULL);
}

static void close_item(struct build_key *k)
{
	struct st_digest d;

	if (!k->open)
		return;
	st_hasher_final_reset(&k->item, &d);
	k->open = false;
	add_closed(k, &d);
}

int build_key_item(struct build_key *k, struct st_error *err, const char *fmt, ...)
{
	va_list ap;
	int rc;

	close_item(k);
	st_buf_reset(&k->label);
	va_start(ap, fmt);
	rc = st_buf_vaddf(&k->label, err, fmt, ap);
	va_end(ap);
	k->open = rc == 0;
	return rc;
}

int build_key_item_str(struct build_key *k, const char *prefix, const char *s, struct st_error *err)
{
	int rc;

	close_item(k);
	st_buf_reset(&k->label);
	rc = st_buf_adds(&k->label, prefix, err);
	if (rc == 0)
		rc = st_buf_adds(&k->label, s, err);
	k->open = rc == 0;
	return rc;
}

int build_key_add_item(struct build_key *k, const char *prefix, const char *s,
                       const struct st_digest *item, struct st_error *err)
{
	int rc = build_key_item_str(k, prefix, s, err);

	if (rc < 0)
		return rc;
	k->open = false;
	add_closed(k, item);
	return 0;
}

void build_key_final(struct build_key *k, struct st_digest *out)
{
	close_item(k);
	st_hasher_final(&k->key, out);
	st_hasher_release(&k->item);
}

void build_key_release(struct build_key *k)
{
	st_hasher_release(&k->item);
	k->open = false;
	st_hasher_release(&k->key);
	st_buf_release(&k->label);
	st_buf_release(&k->rec);
}

int build_key_slot(const char *root, const char *context, const char *dockerfile, int stage,
                   int step, struct st_buf *out, struct st_error *err)
{
	struct st_hasher h;
	struct st_digest d;
	char hex[ST_DIGEST_HEX_MAX + 1], num[32];
	cleanup_free char *abs = realpath(context, NULL);
	int rc = st_hasher_init(&h, ST_DIGEST_SHA256, err);

	if (rc < 0)
		return rc;
	st_hasher_update(&h, abs ? abs : context, strlen(abs ? abs : context) + 1);
	st_hasher_update(&h, dockerfile, strlen(dockerfile) + 1);
	(void)snprintf(num, sizeof(num), "%d/%d", stage, step);
	st_hasher_update(&h, num, strlen(num) + 1);
	st_hasher_final(&h, &d);
	st_digest_hex(&d, hex);
	return st_buf_addf(out, err, "%s/cache/explain/%s", root, hex);
}

static int key_line(const struct st_digest *key, char *line, size_t n)
{
	char hex[ST_DIGEST_HEX_MAX + 1];

	st_digest_hex(key, hex);
	return snprintf(line, n, "key %s\n", hex);
}

int build_key_save(const char *slot, const struct st_digest *key, const struct st_buf *rec,
                   struct st_error *err)
{
	char line[80], have[80] = "", tmp[4200];
	cleanup_fd int fd = open(slot, O_RDONLY | O_CLOEXEC);
	int n = key_line(key, line, sizeof(line)), rc;

	if (fd >= 0 && read(fd, have, (size_t)n) == n && memcmp(have, line, (size_t)n) == 0)
		return 0;
	(void)snprintf(tmp, sizeof(tmp), "%s", slot);
	*strrchr(tmp, '/') = '\0';
	rc = st_mkdir_p(AT_FDCWD, tmp, 0700, err);
	if (rc < 0)
		return rc;
	(void)snprintf(tmp, sizeof(tmp), "%s.%d.tmp", slot, (int)gettid());
	cleanup_fd int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (out < 0)
		return st_error_sys(err, "create '%s'", tmp);
	/* no fsync: a record lost in a crash only makes one explanation vaguer */
	rc = st_write_all(out, line, (size_t)n, err);
	if (rc == 0)
		rc = st_write_all(out, rec->data, rec->len, err);
	if (rc == 0 && rename(tmp, slot) < 0)
		rc = st_error_sys(err, "rename '%s'", tmp);
	if (rc < 0)
		(void)unlink(tmp);
	return rc;
}

/* ---- comparing two records ---- */

struct item {
	const char *hex; /* 64 chars */
	const char *label;
	size_t len;
};

struct items {
	struct item *v;
	size_t n;
};

/* Splits a record (after its "key" line, if any) into items, in place. */
static int parse_rec(char *text, struct items *out)
{
	size_t cap = 0;

	out->v = NULL;
	out->n = 0;
	if (strncmp(text, "key ", 4) == 0)
		text = strchr(text, '\n') ? strchr(text, '\n') + 1 : text + strlen(text);
	for (char *line = text, *nl; *line; line = nl + 1) {
		nl = strchr(line, '\n');
		if (!nl)
			break;
		*nl = '\0';
		if (nl - line < 66 || line[64] != ' ')
			continue;
		if (out->n == cap) {
			cap = cap ? 2 * cap : 64;
			struct item *v = realloc(out->v, cap * sizeof(*v));
			if (!v)
				return -ST_ENOMEM;
			out->v = v;
		}
		out->v[out->n++] = (struct item){line, line + 65, (size_t)(nl - line - 65)};
	}
	return 0;
}

static int by_label(const void *pa, const void *pb)
{
	const struct item *a = pa, *b = pb;
	int c = strcmp(a->label, b->label);

	return c ? c : memcmp(a->hex, b->hex, 64);
}

/* Importance of a label: lower first. */
static int rank(const char *label)
{
	static const char *const order[] = {"parent",  "instruction", "flags",   "arg ",
	                                    "network", "add-hosts",   "heredoc", "mount ",
	                                    "copy",    "unit ",       "url ",    "add "};
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		if (st_str_has_prefix(label, order[i]))
			return (int)i;
	return 100;
}

struct change {
	const char *label;
	const char *how; /* "changed", "added", "removed" */
};

static int describe(const struct change *c, size_t n_files, bool first_step, struct st_buf *why)
{
	const char *l = c->label;

	if (strcmp(l, "parent") == 0)
		return st_buf_adds(
		        why, first_step ? "the base image changed" : "the step before it changed",
		        NULL);
	if (strcmp(l, "instruction") == 0)
		return st_buf_adds(why, "the instruction changed", NULL);
	if (strcmp(l, "flags") == 0)
		return st_buf_adds(why, "its flags changed", NULL);
	if (st_str_has_prefix(l, "arg "))
		return st_buf_addf(why, NULL, "build arg %s %s", l + 4,
		                   strcmp(c->how, "changed") == 0 ? "changed"
		                   : strcmp(c->how, "added") == 0 ? "was set"
		                                                  : "was unset");
	if (st_str_has_prefix(l, "file ")) {
		int rc = st_buf_addf(why, NULL, "file %s%s %s", l[5] == '/' ? "" : "/", l + 5,
		                     c->how);
		if (rc == 0 && n_files > 1)
			rc = st_buf_addf(why, NULL, " (and %zu more file%s)", n_files - 1,
			                 n_files > 2 ? "s" : "");
		return rc;
	}
	if (st_str_has_prefix(l, "mount "))
		return st_buf_addf(why, NULL, "the content of the bind mount at %s changed", l + 6);
	if (st_str_has_prefix(l, "url "))
		return st_buf_addf(why, NULL, "the content at %s changed", l + 4);
	if (st_str_has_prefix(l, "add "))
		return st_buf_addf(why, NULL, "the archive added at %s changed", l + 4);
	return st_buf_addf(why, NULL, "%s %s", l, c->how);
}

/* Walks the two sorted lists; keeps the most important change and counts changed files. */
static void compare(const struct items *a, const struct items *b, struct change *best,
                    size_t *n_files)
{
	size_t i = 0, j = 0;

	while (i < a->n || j < b->n) {
		struct change c;
		int cmp = i == a->n ? 1 : j == b->n ? -1 : strcmp(a->v[i].label, b->v[j].label);
		if (cmp == 0 && memcmp(a->v[i].hex, b->v[j].hex, 64) == 0) {
			i++, j++;
			continue;
		}
		c.label = cmp > 0 ? b->v[j].label : a->v[i].label;
		c.how = cmp == 0 ? "changed" : cmp < 0 ? "removed" : "added";
		i += cmp <= 0;
		j += cmp >= 0;
		*n_files += st_str_has_prefix(c.label, "file ");
		if (!best->label || rank(c.label) < rank(best->label))
			*best = c;
	}
}

int build_key_explain(const char *slot, const struct st_buf *rec, bool first_step,
                      struct st_buf *why, struct st_error *err)
{
	struct st_buf old = ST_BUF_INIT, now = ST_BUF_INIT;
	struct items a = {0}, b = {0};
	struct change best = {0};
	size_t n_files = 0;
	int rc;

	if (st_read_file_at(AT_FDCWD, slot, &old, REC_MAX, NULL) < 0) {
		st_buf_release(&old);
		return st_buf_adds(why, "no earlier build of this step is recorded", err);
	}
	rc = st_buf_add(&now, rec->data, rec->len, err);
	if (rc == 0 && (parse_rec(old.data, &a) < 0 || parse_rec(now.data, &b) < 0))
		rc = st_error_set(err, ST_ENOMEM, "out of memory");
	if (rc == 0) {
		qsort(a.v, a.n, sizeof(*a.v), by_label);
		qsort(b.v, b.n, sizeof(*b.v), by_label);
		compare(&a, &b, &best, &n_files);
		rc = best.label ? describe(&best, n_files, first_step, why)
		                : st_buf_adds(why,
		                              "its recorded inputs are the same (a cache entry "
		                              "was pruned or its blobs are gone)",
		                              err);
	}
	free(a.v);
	free(b.v);
	st_buf_release(&old);
	st_buf_release(&now);
	return rc;
}
