/* test-store.c: blobs (verified, atomic, deduplicated), index.json tags, gc and fsck. */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "strata/store.h"

struct fixture {
	char *dir;
	struct st_store *s;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	f->dir = unit_mkdtemp();
	assert_int_equal(st_store_open(f->dir, &f->s, NULL), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	st_store_free(f->s);
	unit_rmtree(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static int count_files(const char *dir, const char *sub)
{
	char cmd[600];
	FILE *p;
	int n = -1;

	snprintf(cmd, sizeof(cmd), "ls -A '%s/%s' | wc -l", dir, sub);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_int_equal(fscanf(p, "%d", &n), 1);
	pclose(p);
	return n;
}

static void open_creates_an_oci_layout(void **state)
{
	struct fixture *f = *state;
	char path[600];
	struct stat st;

	snprintf(path, sizeof(path), "%s/oci-layout", f->dir);
	assert_int_equal(stat(path, &st), 0);
	snprintf(path, sizeof(path), "%s/index.json", f->dir);
	assert_int_equal(stat(path, &st), 0);
	snprintf(path, sizeof(path), "%s/blobs/sha256", f->dir);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
}

/* tmp/, where builds and extractions make their trees, has them spread by ext4's allocator
 * (chattr +T) where the file system can. */
static void open_marks_tmp_as_a_top_directory(void **state)
{
	struct fixture *f = *state;
	char path[600];

	if (!unit_can_topdir(f->dir))
		skip(); /* not ext2/3/4, or not allowed to set the flag */
	snprintf(path, sizeof(path), "%s/tmp", f->dir);
	assert_int_equal(unit_topdir_flag(path), 1);
	snprintf(path, sizeof(path), "%s/blobs", f->dir);
	assert_int_equal(unit_topdir_flag(path), 0);
}

static void put_stores_once_under_the_sha256sum_name(void **state)
{
	struct fixture *f = *state;
	struct st_digest d, d2;
	char hex[ST_DIGEST_HEX_MAX + 1], cmd[700], out[100] = {0};
	FILE *p;

	assert_int_equal(st_store_put_blob(f->s, "hello\n", 6, NULL, &d, NULL), 0);
	assert_int_equal(st_store_put_blob(f->s, "hello\n", 6, NULL, &d2, NULL), 0);
	assert_true(st_digest_equal(&d, &d2));
	assert_int_equal(count_files(f->dir, "blobs/sha256"), 1);
	assert_int_equal(count_files(f->dir, "tmp"), 0);
	st_digest_hex(&d, hex);
	snprintf(cmd, sizeof(cmd), "sha256sum '%s/blobs/sha256/%s' | cut -c1-64", f->dir, hex);
	p = popen(cmd, "r");
	assert_non_null(fgets(out, sizeof(out), p));
	pclose(p);
	out[64] = '\0';
	assert_string_equal(out, hex);
	/* printf 'hello\n' | sha256sum */
	assert_string_equal(hex,
	                    "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03");
}

static void wrong_expected_digest_stores_nothing(void **state)
{
	struct fixture *f = *state;
	struct st_error err = ST_ERROR_INIT;
	struct st_digest want;

	assert_int_equal(st_digest_of(ST_DIGEST_SHA256, "abc", 3, &want, NULL), 0);
	assert_int_equal(st_store_put_blob(f->s, "abd", 3, &want, NULL, &err), -ST_EDIGEST);
	assert_non_null(strstr(err.msg, "does not match"));
	assert_false(st_store_has_blob(f->s, &want));
	assert_int_equal(count_files(f->dir, "blobs/sha256"), 0);
	assert_int_equal(count_files(f->dir, "tmp"), 0);
}

static void abandoned_writer_leaves_nothing(void **state)
{
	struct fixture *f = *state;
	struct st_blob_writer *w;

	assert_int_equal(st_blob_writer_new(f->s, &w, NULL), 0);
	assert_int_equal(st_blob_writer_write(w, "partial", 7, NULL), 0);
	st_blob_writer_free(w);
	assert_int_equal(count_files(f->dir, "blobs/sha256"), 0);
	assert_int_equal(count_files(f->dir, "tmp"), 0);
}

/* A trusted writer takes its caller's digest (the caller hashed the bytes on their way) and
 * refuses to finish without one; trust is only possible before the first write. */
static void trusted_writer_takes_the_callers_digest(void **state)
{
	struct fixture *f = *state;
	struct st_error err = ST_ERROR_INIT;
	struct st_blob_writer *w;
	struct st_digest want, got;
	struct st_buf back = ST_BUF_INIT;

	assert_int_equal(st_digest_of(ST_DIGEST_SHA256, "layer", 5, &want, NULL), 0);
	assert_int_equal(st_blob_writer_new(f->s, &w, NULL), 0);
	st_blob_writer_trust(w);
	assert_int_equal(st_blob_writer_write(w, "layer", 5, NULL), 0);
	assert_true(st_blob_writer_size(w) == 5);
	assert_int_equal(st_blob_writer_commit(w, &want, &got, NULL), 0);
	st_blob_writer_free(w);
	assert_true(st_digest_equal(&want, &got));
	assert_int_equal(st_store_read_blob(f->s, &want, 100, &back, NULL), 0);
	assert_int_equal(back.len, 5);
	st_buf_release(&back);

	assert_int_equal(st_blob_writer_new(f->s, &w, NULL), 0);
	st_blob_writer_trust(w);
	assert_int_equal(st_blob_writer_write(w, "other", 5, NULL), 0);
	assert_int_equal(st_blob_writer_commit(w, NULL, NULL, &err), -ST_EINVALID);
	st_blob_writer_free(w);

	/* too late after a write: the writer hashes and verifies as usual */
	assert_int_equal(st_blob_writer_new(f->s, &w, NULL), 0);
	assert_int_equal(st_blob_writer_write(w, "abd", 3, NULL), 0);
	st_blob_writer_trust(w);
	assert_int_equal(st_digest_of(ST_DIGEST_SHA256, "abc", 3, &want, NULL), 0);
	assert_int_equal(st_blob_writer_commit(w, &want, NULL, &err), -ST_EDIGEST);
	st_blob_writer_free(w);
	assert_int_equal(count_files(f->dir, "tmp"), 0);
}

static void seal_verifies_and_commit_then_publishes(void **state)
{
	struct fixture *f = *state;
	struct st_error err = ST_ERROR_INIT;
	struct st_blob_writer *good, *bad;
	struct st_digest want_good, want_bad, got;

	assert_int_equal(st_digest_of(ST_DIGEST_SHA256, "good", 4, &want_good, NULL), 0);
	assert_int_equal(st_digest_of(ST_DIGEST_SHA256, "abc", 3, &want_bad, NULL), 0);
	assert_int_equal(st_blob_writer_new(f->s, &good, NULL), 0);
	assert_int_equal(st_blob_writer_new(f->s, &bad, NULL), 0);
	assert_int_equal(st_blob_writer_write(good, "good", 4, NULL), 0);
	assert_int_equal(st_blob_writer_write(bad, "abd", 3, NULL), 0);
	/* sealed: verified, not yet visible */
	assert_int_equal(st_blob_writer_seal(good, &want_good, NULL), 0);
	assert_false(st_store_has_blob(f->s, &want_good));
	assert_int_equal(st_blob_writer_size(good), 4);
	assert_int_equal(st_blob_writer_seal(bad, &want_bad, &err), -ST_EDIGEST);
	assert_non_null(strstr(err.msg, "does not match"));
	/* a blob that failed can only be freed */
	assert_int_equal(st_blob_writer_commit(bad, NULL, NULL, &err), -ST_EINVALID);
	assert_int_equal(st_blob_writer_seal(good, NULL, &err), -ST_EINVALID);
	assert_int_equal(st_blob_writer_commit(good, &want_bad, NULL, &err), -ST_EDIGEST);
	st_blob_writer_free(good);
	st_blob_writer_free(bad);
	assert_int_equal(count_files(f->dir, "blobs/sha256"), 0);
	assert_int_equal(count_files(f->dir, "tmp"), 0);

	assert_int_equal(st_blob_writer_new(f->s, &good, NULL), 0);
	assert_int_equal(st_blob_writer_write(good, "good", 4, NULL), 0);
	assert_int_equal(st_blob_writer_seal(good, &want_good, NULL), 0);
	assert_int_equal(st_blob_writer_commit(good, NULL, &got, NULL), 0);
	st_blob_writer_free(good);
	assert_true(st_digest_equal(&got, &want_good));
	assert_true(st_store_has_blob(f->s, &want_good));
}

static void read_verifies_content(void **state)
{
	struct fixture *f = *state;
	struct st_error err = ST_ERROR_INIT;
	struct st_buf b = ST_BUF_INIT;
	struct st_digest d;
	char path[700], hex[ST_DIGEST_HEX_MAX + 1];

	assert_int_equal(st_store_put_blob(f->s, "content", 7, NULL, &d, NULL), 0);
	assert_int_equal(st_store_read_blob(f->s, &d, 0, &b, NULL), 0);
	assert_string_equal(b.data, "content");
	st_digest_hex(&d, hex);
	snprintf(path, sizeof(path), "%s/blobs/sha256/%s", f->dir, hex);
	chmod(path, 0644);
	unit_write_file(path, "tampered", 8);
	assert_int_equal(st_store_read_blob(f->s, &d, 0, &b, &err), -ST_EDIGEST);
	assert_string_equal(b.data, "content"); /* untouched on failure */
	assert_int_equal(st_store_read_blob(f->s, &d, 3, &b, &err), -ST_ELIMIT);
	st_buf_release(&b);
}

static void make_desc(struct st_descriptor *d, const char *content)
{
	memset(d, 0, sizeof(*d));
	d->media_type = (char *)ST_MT_OCI_MANIFEST;
	d->size = strlen(content);
	assert_int_equal(st_digest_of(ST_DIGEST_SHA256, content, d->size, &d->digest, NULL), 0);
}

static void tags_move_and_leave_dangling_images(void **state)
{
	struct fixture *f = *state;
	struct st_descriptor a, b, got, *list;
	size_t n;

	make_desc(&a, "{\"a\":1}");
	make_desc(&b, "{\"b\":2}");
	assert_int_equal(st_store_tag(f->s, "docker.io/library/x:1", &a, NULL), 0);
	assert_int_equal(st_store_tag(f->s, "docker.io/library/x:2", &a, NULL), 0);
	assert_int_equal(st_store_resolve(f->s, "docker.io/library/x:1", &got, NULL), 0);
	assert_true(st_digest_equal(&got.digest, &a.digest));
	st_descriptor_release(&got);
	/* moving x:1 keeps a (still named x:2) */
	assert_int_equal(st_store_tag(f->s, "docker.io/library/x:1", &b, NULL), 0);
	assert_int_equal(st_store_list(f->s, &list, &n, NULL), 0);
	assert_int_equal(n, 2);
	st_store_entries_free(list, n);
	/* moving x:2 too leaves a untagged */
	assert_int_equal(st_store_tag(f->s, "docker.io/library/x:2", &b, NULL), 0);
	assert_int_equal(st_store_list(f->s, &list, &n, NULL), 0);
	assert_int_equal(n, 3);
	int untagged = 0;
	for (size_t i = 0; i < n; i++)
		if (!st_descriptor_annotation(&list[i], ST_ANNOT_REF_NAME)) {
			untagged++;
			assert_true(st_digest_equal(&list[i].digest, &a.digest));
		}
	assert_int_equal(untagged, 1);
	st_store_entries_free(list, n);
	assert_int_equal(st_store_prune_untagged(f->s, NULL), 1);
	assert_int_equal(st_store_untag(f->s, "docker.io/library/x:2", NULL), 0);
	assert_int_equal(st_store_untag(f->s, "docker.io/library/x:2", NULL), -ST_ENOTFOUND);
	assert_int_equal(st_store_resolve(f->s, "docker.io/library/x:2", &got, NULL),
	                 -ST_ENOTFOUND);
}

static int expand_children(struct st_store *s, struct st_gc *gc, const struct st_digest *d,
                           const char *mt, void *ctx, struct st_error *err)
{
	struct st_buf b = ST_BUF_INIT;
	int rc;

	(void)ctx;
	if (strcmp(mt, ST_MT_OCI_MANIFEST) != 0)
		return 0;
	rc = st_store_read_blob(s, d, 0, &b, err);
	if (rc < 0)
		return rc;
	/* test format: the manifest's bytes are one child digest string */
	struct st_digest child;
	rc = st_digest_parse(b.data, b.len, &child, err);
	if (rc == 0)
		rc = st_gc_mark(gc, &child, "application/octet-stream", err);
	st_buf_release(&b);
	return rc;
}

static void report_count(const char *problem, void *ctx)
{
	(void)problem;
	(*(int *)ctx)++;
}

static void gc_keeps_reachable_and_sweeps_the_rest(void **state)
{
	struct fixture *f = *state;
	struct st_descriptor m = {0};
	struct st_digest child, orphan;
	struct st_gc_stats stats;
	char childs[ST_DIGEST_STR_MAX];
	int problems = 0;

	assert_int_equal(st_store_add_gc_expander(f->s, expand_children, NULL, NULL), 0);
	assert_int_equal(st_store_put_blob(f->s, "layer", 5, NULL, &child, NULL), 0);
	assert_int_equal(st_store_put_blob(f->s, "orphan", 6, NULL, &orphan, NULL), 0);
	st_digest_str(&child, childs);
	m.media_type = (char *)ST_MT_OCI_MANIFEST;
	m.size = strlen(childs);
	assert_int_equal(st_store_put_blob(f->s, childs, m.size, NULL, &m.digest, NULL), 0);
	assert_int_equal(st_store_tag(f->s, "docker.io/library/y:latest", &m, NULL), 0);
	assert_int_equal(st_store_gc(f->s, &stats, NULL), 0);
	assert_int_equal(stats.blobs_removed, 1);
	assert_int_equal(stats.bytes_freed, 6);
	assert_true(st_store_has_blob(f->s, &child));
	assert_false(st_store_has_blob(f->s, &orphan));
	assert_int_equal(st_store_fsck(f->s, report_count, &problems, NULL), 0);
	/* a missing child is a problem fsck names */
	assert_int_equal(st_store_delete_blob(f->s, &child, NULL), 0);
	assert_int_equal(st_store_fsck(f->s, report_count, &problems, NULL), 1);
	assert_int_equal(problems, 1);
	assert_int_equal(st_store_untag(f->s, "docker.io/library/y:latest", NULL), 0);
	assert_int_equal(st_store_gc(f->s, &stats, NULL), 0);
	assert_int_equal(count_files(f->dir, "blobs/sha256"), 0);
}

static void fsck_names_an_edited_blob(void **state)
{
	struct fixture *f = *state;
	struct st_digest d;
	char path[700], hex[ST_DIGEST_HEX_MAX + 1];
	int problems = 0;

	assert_int_equal(st_store_put_blob(f->s, "x", 1, NULL, &d, NULL), 0);
	assert_int_equal(st_store_fsck(f->s, report_count, &problems, NULL), 0);
	st_digest_hex(&d, hex);
	snprintf(path, sizeof(path), "%s/blobs/sha256/%s", f->dir, hex);
	chmod(path, 0644);
	unit_write_file(path, "y", 1);
	assert_int_equal(st_store_fsck(f->s, report_count, &problems, NULL), 1);
}

/* ---- leases: gc is not starved, and writers that lease at commit do not hold it back ---- */

struct race {
	struct st_store *gc_store, *late;
	struct st_digest orphan; /* swept by gc while it holds the lease exclusively */
	atomic_int gc_done, late_got_lease, late_saw_gc_done;
};

static void *run_gc(void *arg)
{
	struct race *r = arg;

	assert_int_equal(st_store_gc(r->gc_store, NULL, NULL), 0);
	atomic_store(&r->gc_done, 1);
	return NULL;
}

static void *late_lease(void *arg)
{
	struct race *r = arg;

	assert_int_equal(st_store_lease(r->late, NULL), 0);
	atomic_store(&r->late_saw_gc_done, !st_store_has_blob(r->late, &r->orphan));
	atomic_store(&r->late_got_lease, 1);
	st_store_unlease(r->late);
	return NULL;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* true once gc holds the turnstile, i.e. waits for the leases already taken */
static bool gc_is_queued(const char *dir)
{
	char path[600];
	int fd, rc;

	snprintf(path, sizeof(path), "%s/locks/gc-queue", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	rc = flock(fd, LOCK_SH | LOCK_NB);
	close(fd);
	return rc < 0 && errno == EWOULDBLOCK;
}

static void a_lease_taken_while_gc_waits_waits_for_gc(void **state)
{
	struct fixture *f = *state;
	struct race r = {0};
	pthread_t g, l;
	int i;

	assert_int_equal(st_store_open(f->dir, &r.gc_store, NULL), 0);
	assert_int_equal(st_store_open(f->dir, &r.late, NULL), 0);
	assert_int_equal(st_store_put_blob(f->s, "orphan", 6, NULL, &r.orphan, NULL), 0);
	assert_int_equal(st_store_lease(f->s, NULL), 0);
	assert_int_equal(pthread_create(&g, NULL, run_gc, &r), 0);
	for (i = 0; i < 500 && !gc_is_queued(f->dir); i++)
		sleep_ms(10);
	assert_true(i < 500);
	assert_int_equal(atomic_load(&r.gc_done), 0); /* the first lease still holds it back */
	/* a writer coming now would overlap the first one and, with a bare flock, get in ahead
	 * of gc: with a stream of such writers gc would never run */
	assert_int_equal(pthread_create(&l, NULL, late_lease, &r), 0);
	sleep_ms(200);
	assert_int_equal(atomic_load(&r.late_got_lease), 0);
	st_store_unlease(f->s);
	assert_int_equal(pthread_join(g, NULL), 0);
	assert_int_equal(pthread_join(l, NULL), 0);
	assert_int_equal(atomic_load(&r.late_got_lease), 1);
	assert_int_equal(atomic_load(&r.late_saw_gc_done), 1);
	st_store_free(r.gc_store);
	st_store_free(r.late);
}

static void a_writer_leasing_at_commit_lets_gc_run(void **state)
{
	struct fixture *f = *state;
	struct st_store *other;
	struct st_blob_writer *w;
	struct st_gc_stats stats;
	struct st_digest d, want;

	assert_int_equal(st_digest_of(ST_DIGEST_SHA256, "streamed", 8, &want, NULL), 0);
	assert_int_equal(st_store_open(f->dir, &other, NULL), 0);
	assert_int_equal(st_blob_writer_open(f->s, ST_BLOB_WRITER_OPEN_LEASE_AT_COMMIT, &w, NULL),
	                 0);
	assert_int_equal(st_blob_writer_write(w, "stream", 6, NULL), 0);
	/* would wait for the writer forever if it held the lease */
	assert_int_equal(st_store_gc(other, &stats, NULL), 0);
	assert_int_equal(stats.tmp_removed, 0);
	assert_int_equal(st_blob_writer_write(w, "ed", 2, NULL), 0);
	assert_int_equal(st_blob_writer_commit(w, &want, &d, NULL), 0);
	assert_true(st_digest_equal(&d, &want));
	assert_true(st_store_has_blob(f->s, &d));
	st_blob_writer_free(w);
	st_store_free(other);
}

/* Commits the writer of data[0..len) and checks that the store gives those bytes back. */
static void commit_and_read_back(struct fixture *f, struct st_blob_writer *w, const char *data,
                                 size_t len)
{
	struct st_digest want, got;
	struct st_buf back = ST_BUF_INIT;

	assert_int_equal(st_digest_of(ST_DIGEST_SHA256, data, len, &want, NULL), 0);
	assert_int_equal(st_blob_writer_size(w), len);
	assert_int_equal(st_blob_writer_commit(w, &want, &got, NULL), 0);
	assert_true(st_digest_equal(&want, &got));
	st_blob_writer_free(w);
	assert_int_equal(st_store_read_blob(f->s, &want, 0, &back, NULL), 0);
	assert_int_equal(back.len, len);
	assert_memory_equal(back.data, data, len);
	st_buf_release(&back);
}

/* O_DIRECT in 512 KiB chunks, an unaligned tail written buffered at the commit: the blob is
 * the bytes given, whatever the cut of the writes. */
static void a_direct_writer_stores_the_bytes_given(void **state)
{
	struct fixture *f = *state;
	size_t len = (3u << 19) + 4097; /* three chunks and an unaligned tail */
	char *data = malloc(len);
	struct st_blob_writer *w;
	size_t off = 0, step = 1;

	assert_non_null(data);
	for (size_t i = 0; i < len; i++)
		data[i] = (char)(i * 131 + (i >> 9));
	assert_int_equal(st_blob_writer_open(f->s, ST_BLOB_WRITER_OPEN_DIRECT, &w, NULL), 0);
	while (off < len) { /* writes of growing, unaligned sizes */
		size_t n = step < len - off ? step : len - off;
		assert_int_equal(st_blob_writer_write(w, data + off, n, NULL), 0);
		off += n;
		step = step * 3 + 7;
	}
	commit_and_read_back(f, w, data, len);
	free(data);
}

/* A caller's 4096-aligned buffer goes to disk without staging, also its aligned prefix when its
 * length is not a multiple of 4096; pieces staged before it keep their place. */
static void a_direct_writer_takes_aligned_buffers_as_they_are(void **state)
{
	struct fixture *f = *state;
	/* (offset, length) of the writes: aligned whole, aligned with a tail, staged, an aligned
	 * buffer after staged bytes, the rest */
	static const size_t cut[][2] = {{0, 512u << 10},
	                                {512u << 10, 12288 + 100},
	                                {(512u << 10) + 12388, 5000},
	                                {(512u << 10) + 17388, 8192},
	                                {(512u << 10) + 25580, 700000}};
	size_t len = (512u << 10) + 25580 + 700000;
	char *data = NULL, *piece = NULL;
	struct st_blob_writer *w;

	assert_int_equal(posix_memalign((void **)&data, 4096, len), 0);
	assert_int_equal(posix_memalign((void **)&piece, 4096, 1u << 20), 0);
	for (size_t i = 0; i < len; i++)
		data[i] = (char)(i * 151 + (i >> 11));
	assert_int_equal(st_blob_writer_open(f->s, ST_BLOB_WRITER_OPEN_DIRECT, &w, NULL), 0);
	for (size_t i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
		memcpy(piece, data + cut[i][0], cut[i][1]); /* every write from an aligned buffer */
		assert_int_equal(st_blob_writer_write(w, piece, cut[i][1], NULL), 0);
	}
	commit_and_read_back(f, w, data, len);
	free(piece);
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(open_creates_an_oci_layout, setup, teardown),
	        cmocka_unit_test_setup_teardown(open_marks_tmp_as_a_top_directory, setup, teardown),
	        cmocka_unit_test_setup_teardown(put_stores_once_under_the_sha256sum_name, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(wrong_expected_digest_stores_nothing, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(abandoned_writer_leaves_nothing, setup, teardown),
	        cmocka_unit_test_setup_teardown(seal_verifies_and_commit_then_publishes, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(read_verifies_content, setup, teardown),
	        cmocka_unit_test_setup_teardown(trusted_writer_takes_the_callers_digest, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(tags_move_and_leave_dangling_images, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(gc_keeps_reachable_and_sweeps_the_rest, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(fsck_names_an_edited_blob, setup, teardown),
	        cmocka_unit_test_setup_teardown(a_lease_taken_while_gc_waits_waits_for_gc, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(a_writer_leasing_at_commit_lets_gc_run, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(a_direct_writer_takes_aligned_buffers_as_they_are,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(a_direct_writer_stores_the_bytes_given, setup,
	                                        teardown),
	};
	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
