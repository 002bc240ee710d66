/* layer/layer-create.c: the one pass that makes a layer. A tree walk (layer-walk.c) feeds
 * entries to libarchive's PAX writer; its output is hashed (diffID) and handed to a compressor,
 * whose output is hashed (digest) and streamed into the caller's sink. With threads != 1 the
 * hashing and compressing run on a stage thread, so the walk never waits for SHA-256. Nothing
 * is written twice and nothing touches the disk except the sink. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layer/archive-api.h"
#include "layer/layer-walk.h"
#include "strata/store.h"
#include "util/cleanup.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

static int emit_out(void *ctx, const void *p, size_t len, struct st_error *err)
{
	struct layer_writer *w = ctx;

	/* uncompressed: the blob is the tar, so its digest is the diffID (one hash, not two) */
	if (!w->out_is_tar)
		st_hasher_update(&w->out_hash, p, len);
	w->out_size += len;
	return w->sink->write(w->sink->ctx, p, len, err);
}

/* Hashes tar bytes and hands them to the compressor; runs on the stage thread if there is one. */
static int consume_tar(struct layer_writer *w, const void *p, size_t len, struct st_error *err)
{
	st_hasher_update(&w->tar_hash, p, len);
	w->tar_size += len;
	return w->comp->write(w->comp, p, len, err);
}

/* ---- the stage thread: a ring of LAYER_STAGE_N buffers from the walk to the hasher ---- */

static void *stage_main(void *arg)
{
	struct layer_writer *w = arg;
	struct layer_stage *st = &w->stage;

	pthread_mutex_lock(&st->lock);
	for (;;) {
		size_t i;
		int rc;

		while (!st->n_full && !st->eof && !st->cancel)
			pthread_cond_wait(&st->cond, &st->lock);
		if (st->cancel || !st->n_full)
			break;
		i = st->head;
		pthread_mutex_unlock(&st->lock);
		rc = consume_tar(w, st->buf[i], st->len[i], &st->err);
		pthread_mutex_lock(&st->lock);
		if (rc < 0) {
			st->rc = rc;
			pthread_cond_broadcast(&st->cond);
			break;
		}
		st->head = (st->head + 1) % LAYER_STAGE_N;
		st->n_full--;
		pthread_cond_broadcast(&st->cond);
	}
	pthread_mutex_unlock(&st->lock);
	return NULL;
}

/* The stage thread's error, moved to the caller's st_error. */
static int stage_error(struct layer_writer *w)
{
	if (w->err)
		*w->err = w->stage.err;
	return w->stage.rc;
}

static int stage_start(struct layer_writer *w)
{
	struct layer_stage *st = &w->stage;
	int e;

	for (size_t i = 0; i < LAYER_STAGE_N; i++) {
		st->buf[i] = malloc(LAYER_STAGE_BUF);
		if (!st->buf[i])
			return st_error_set(w->err, ST_ENOMEM, "out of memory");
	}
	pthread_mutex_init(&st->lock, NULL);
	pthread_cond_init(&st->cond, NULL);
	st->inited = true;
	e = pthread_create(&st->thread, NULL, stage_main, w);
	if (e)
		return st_error_errno(w->err, e, "layer: pthread_create");
	st->started = true;
	return 0;
}

/* Waits until the buffer after the full ones is free and makes it the one being filled. */
static int stage_next(struct layer_writer *w)
{
	struct layer_stage *st = &w->stage;
	int rc;

	pthread_mutex_lock(&st->lock);
	while (st->n_full == LAYER_STAGE_N && st->rc == 0)
		pthread_cond_wait(&st->cond, &st->lock);
	rc = st->rc;
	st->fill = (st->head + st->n_full) % LAYER_STAGE_N;
	pthread_mutex_unlock(&st->lock);
	st->fill_len = 0;
	st->filling = rc == 0;
	return rc < 0 ? stage_error(w) : 0;
}

static void stage_push(struct layer_stage *st)
{
	pthread_mutex_lock(&st->lock);
	st->len[st->fill] = st->fill_len;
	st->n_full++;
	st->filling = false;
	pthread_cond_broadcast(&st->cond);
	pthread_mutex_unlock(&st->lock);
}

static int stage_add(struct layer_writer *w, const unsigned char *p, size_t len)
{
	struct layer_stage *st = &w->stage;

	while (len) {
		size_t n;
		int rc;

		if (!st->filling) {
			rc = stage_next(w);
			if (rc < 0)
				return rc;
		}
		n = LAYER_STAGE_BUF - st->fill_len;
		n = n < len ? n : len;
		memcpy(st->buf[st->fill] + st->fill_len, p, n);
		st->fill_len += n;
		p += n;
		len -= n;
		if (st->fill_len == LAYER_STAGE_BUF)
			stage_push(st);
	}
	return 0;
}

/* Sends the last buffer, lets the thread drain the ring and joins it (cancel: drops the rest). */
static int stage_stop(struct layer_writer *w, bool cancel)
{
	struct layer_stage *st = &w->stage;

	if (!st->started)
		return 0;
	if (!cancel && st->filling && st->fill_len)
		stage_push(st);
	pthread_mutex_lock(&st->lock);
	st->eof = true;
	st->cancel = cancel;
	pthread_cond_broadcast(&st->cond);
	pthread_mutex_unlock(&st->lock);
	pthread_join(st->thread, NULL);
	st->started = false;
	return st->rc < 0 ? stage_error(w) : 0;
}

static void stage_release(struct layer_stage *st)
{
	if (st->inited) {
		pthread_cond_destroy(&st->cond);
		pthread_mutex_destroy(&st->lock);
	}
	for (size_t i = 0; i < LAYER_STAGE_N; i++)
		free(st->buf[i]);
}

static la_ssize_t tar_write_cb(struct archive *a, void *ctx, const void *p, size_t len)
{
	struct layer_writer *w = ctx;
	int rc;

	(void)a;
	if (w->discard)
		return (la_ssize_t)len;
	rc = w->stage.inited ? stage_add(w, p, len) : consume_tar(w, p, len, w->err);
	if (rc < 0) {
		w->cb_rc = rc;
		return -1;
	}
	return (la_ssize_t)len;
}

/* Turns a libarchive failure into an st_error, preferring an error our callback recorded. */
int layer_archive_error(struct layer_writer *w, const char *what)
{
	if (w->cb_rc < 0)
		return w->cb_rc;
	return st_error_set(w->err, ST_EINVALID, "%s: %s", what, archive_error_string(w->a));
}

static int open_archive(struct layer_writer *w)
{
	w->a = archive_write_new();
	w->entry = archive_entry_new();
	if (!w->a || !w->entry)
		return st_error_set(w->err, ST_ENOMEM, "libarchive: out of memory");
	/* restricted pax: ustar headers, plus a pax extended header only where ustar cannot
	 * express an entry (long names, xattrs, large ids), as Go's archive/tar writes */
	if (archive_write_set_format_pax_restricted(w->a) != ARCHIVE_OK ||
	    archive_write_set_format_option(w->a, "pax", "xattrheader", "SCHILY") != ARCHIVE_OK ||
	    archive_write_add_filter_none(w->a) != ARCHIVE_OK)
		return layer_archive_error(w, "libarchive setup");
	if (archive_write_open2(w->a, w, NULL, tar_write_cb, NULL, NULL) != ARCHIVE_OK)
		return layer_archive_error(w, "libarchive open");
	return 0;
}

static int new_compressor(struct layer_writer *w, const struct st_layer_create_opts *o, int *level,
                          const char **media_type)
{
	const struct layer_emit out = {emit_out, w};

	/* uncompressed: the blob is the tar, its digest the diffID */
	w->out_is_tar = o->compression == ST_LAYER_COMPRESS_NONE;
	return layer_compressor_for(o, &out, &w->comp, level, media_type, w->err);
}

static void writer_release(struct layer_writer *w)
{
	/* archive_write_free flushes an unfinished archive through tar_write_cb: on a failed
	 * create that must not reach the stage, whose buffers go next */
	w->discard = true;
	if (w->a)
		archive_write_free(w->a);
	w->a = NULL;
	(void)stage_stop(w, true);
	stage_release(&w->stage);
	archive_entry_free(w->entry);
	layer_compressor_free(&w->comp);
	st_hasher_release(&w->tar_hash);
	st_hasher_release(&w->out_hash);
	layer_links_release(&w->links);
	st_buf_release(&w->rel);
	st_buf_release(&w->abs_new);
	st_buf_release(&w->abs_old);
	free(w->iobuf);
}

static int writer_run(struct layer_writer *w, const char *old, const char *new_root)
{
	cleanup_fd int new_fd = -1;
	cleanup_fd int old_fd = -1;
	int rc;

	new_fd = open(new_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (new_fd < 0)
		return st_error_sys(w->err, "open '%s'", new_root);
	if (old) {
		old_fd = open(old, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (old_fd < 0)
			return st_error_sys(w->err, "open '%s'", old);
	}
	rc = st_buf_adds(&w->abs_new, new_root, w->err);
	if (rc == 0 && old)
		rc = st_buf_adds(&w->abs_old, old, w->err);
	if (rc < 0)
		return rc;
	w->iobuf = malloc(LAYER_IOBUF);
	if (!w->iobuf)
		return st_error_set(w->err, ST_ENOMEM, "out of memory");
	if (w->opts->threads != 1) {
		rc = stage_start(w);
		if (rc < 0)
			return rc;
	}
	rc = open_archive(w);
	if (rc < 0)
		return rc;
	rc = layer_walk_dir(w, new_fd, old_fd, 0);
	if (rc < 0)
		return rc;
	if (archive_write_close(w->a) != ARCHIVE_OK)
		return layer_archive_error(w, "tar close");
	rc = stage_stop(w, false);
	if (rc < 0)
		return rc;
	return w->comp->finish(w->comp, w->err);
}

static int create(const char *old, const char *new_root, bool upper,
                  const struct st_layer_create_opts *opts, const struct st_layer_sink *sink,
                  struct st_layer_result *out, struct st_error *err)
{
	static const struct st_layer_create_opts defaults = {0};
	struct layer_writer w = {0};
	const char *media_type = NULL;
	int level = 0;
	int rc;

	w.opts = opts ? opts : &defaults;
	w.sink = sink;
	w.err = err;
	w.upper = upper;
	st_buf_init(&w.rel, 0);
	st_buf_init(&w.abs_new, 0);
	st_buf_init(&w.abs_old, 0);
	rc = st_hasher_init(&w.tar_hash, ST_DIGEST_SHA256, err);
	if (rc == 0)
		rc = st_hasher_init(&w.out_hash, ST_DIGEST_SHA256, err);
	if (rc == 0)
		rc = new_compressor(&w, w.opts, &level, &media_type);
	if (rc == 0)
		rc = writer_run(&w, old, new_root);
	if (rc == 0) {
		struct st_layer_result r = {0};
		st_hasher_final(&w.tar_hash, &r.diff_id);
		st_hasher_final(&w.out_hash, &r.digest);
		if (w.out_is_tar)
			r.digest = r.diff_id;
		r.size = w.out_size;
		r.tar_size = w.tar_size;
		r.n_entries = w.n_entries;
		r.media_type = media_type;
		(void)snprintf(r.compressor, sizeof(r.compressor), "%s", w.comp->name);
		r.level = level;
		*out = r;
	}
	writer_release(&w);
	return rc;
}

int st_layer_create_from_upper(const char *upper, const struct st_layer_create_opts *opts,
                               const struct st_layer_sink *sink, struct st_layer_result *out,
                               struct st_error *err)
{
	return create(NULL, upper, true, opts, sink, out, err);
}

int st_layer_create_from_diff(const char *old, const char *new_root,
                              const struct st_layer_create_opts *opts,
                              const struct st_layer_sink *sink, struct st_layer_result *out,
                              struct st_error *err)
{
	return create(old, new_root, false, opts, sink, out, err);
}

/* ---- sinks ---- */

static int buf_sink_write(void *ctx, const void *p, size_t len, struct st_error *err)
{
	return st_buf_add(ctx, p, len, err);
}

void st_layer_sink_buf(struct st_buf *buf, struct st_layer_sink *out)
{
	out->write = buf_sink_write;
	out->ctx = buf;
}

static int fd_sink_write(void *ctx, const void *p, size_t len, struct st_error *err)
{
	const int *fd = ctx;
	const char *s = p;

	while (len) {
		ssize_t n = write(*fd, s, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return st_error_sys(err, "write layer");
		s += n;
		len -= (size_t)n;
	}
	return 0;
}

void st_layer_sink_fd(int *fd, struct st_layer_sink *out)
{
	out->write = fd_sink_write;
	out->ctx = fd;
}
