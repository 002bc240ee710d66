/* build-layer.c: a step's layer. The directory a COPY or RUN wrote is written as a layer (tar,
 * SHA-256, blob: st_layer_create_from_upper) on a thread of its own, while the stage goes on:
 * a RUN right after it runs with that directory as its top lower, since nothing but the chain
 * ID of the new layer is missing to stack it. Whatever needs the state whole (any other step,
 * a cache hit that replaces the state, the stage's end) joins it first: the layer and its
 * history entry join the state, the directory becomes the snapshot of its chain ID, and the
 * step's cache entry is written. See docs/internals/build.md, "Layers and snapshots". */
#include "build/build-internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strata/archive.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

static int sink_write(void *ctx, const void *p, size_t len, struct st_error *err)
{
	return st_blob_writer_write(ctx, p, len, err);
}

/* The layer of upper into a blob of the store. */
static int write_layer(struct st_store *s, const struct st_layer_create_opts *o, const char *upper,
                       struct st_layer_result *res, struct st_error *err)
{
	struct st_blob_writer *w = NULL;
	struct st_layer_sink sink = {sink_write, NULL};
	int rc = st_blob_writer_new(s, &w, err);

	if (rc == 0) /* layer creation hashes its output */
		st_blob_writer_trust(w);
	sink.ctx = w;
	if (rc == 0)
		rc = st_layer_create_from_upper(upper, o, &sink, res, err);
	if (rc == 0)
		rc = st_blob_writer_commit(w, &res->digest, NULL, err);
	st_blob_writer_free(w);
	return rc;
}

static void *layer_main(void *arg)
{
	struct build_pending *p = arg;

	p->rc = write_layer(p->s, p->opts, p->upper, &p->res, &p->err);
	return NULL;
}

/* Adds the written layer to st, with its history entry, and adopts upper as its snapshot. */
static int add_to_state(struct bctx *b, struct bstate *st, const struct build_pending *p,
                        struct st_error *err)
{
	const struct st_layer_result *res = &p->res;
	struct st_history h = {.created = b->created, .created_by = p->created_by};
	struct st_descriptor d = {0};
	struct st_digest *ids = NULL;
	char level[16];
	int rc;

	d.media_type = (char *)res->media_type;
	d.digest = res->digest;
	d.size = res->size;
	(void)snprintf(level, sizeof(level), "%d", res->level);
	rc = st_descriptor_set_annotation(&d, ST_ANNOT_LAYER_COMPRESSOR, res->compressor, err);
	if (rc == 0)
		rc = st_descriptor_set_annotation(&d, ST_ANNOT_LAYER_LEVEL, level, err);
	if (rc == 0)
		rc = st_manifest_add_layer(&st->man, &d, err);
	if (rc == 0)
		rc = st_image_config_add_layer(&st->cfg, &res->diff_id, &h, err);
	d.media_type = NULL;
	st_descriptor_release(&d);
	ids = rc == 0 ? calloc(st->cfg.n_diff_ids, sizeof(*ids)) : NULL;
	if (rc == 0 && !ids)
		rc = st_error_set(err, ST_ENOMEM, "out of memory");
	if (rc == 0)
		rc = st_image_chain_ids(st->cfg.diff_ids, st->cfg.n_diff_ids, ids, err);
	if (rc == 0)
		rc = st_snapshot_adopt(b->s, &ids[st->cfg.n_diff_ids - 1], p->upper,
		                       ST_SNAPSHOT_ADOPT_CLEAN, err);
	free(ids);
	return rc;
}

static void pending_clear(struct build_pending *p)
{
	free(p->upper);
	free(p->created_by);
	memset(p, 0, sizeof(*p));
}

int build_layer_join(struct bctx *b, struct bstate *st, struct st_error *err)
{
	struct build_pending *p = &b->pending;
	struct st_error *saved = b->err;
	int rc;

	if (!p->active)
		return 0;
	if (p->threaded)
		(void)pthread_join(p->th, NULL);
	rc = p->rc;
	if (rc < 0)
		*err = p->err;
	if (rc == 0)
		rc = add_to_state(b, st, p, err);
	/* the step's cache entry, now that its image is whole (the cache reports into b->err) */
	b->err = err;
	if (rc == 0)
		rc = build_cache_put(b, &p->key, st);
	if (rc == 0)
		rc = build_cache_record(b, &p->key, p->stage);
	b->err = saved;
	if (rc < 0 && p->upper) /* not adopted: a failed step leaves nothing */
		(void)st_layer_remove_tree(p->upper, NULL);
	pending_clear(p);
	return rc;
}

int build_layer_start(struct bctx *b, struct bstate *st, char **upper, bool clean,
                      const char *created_by, const struct st_digest *key, int stage)
{
	struct build_pending *p = &b->pending;
	int rc = build_layer_join(b, st, b->err);

	if (rc == 0 && !clean) /* the container's bookkeeping must go before it is a lower */
		rc = st_snapshot_scrub(*upper, b->err);
	if (rc < 0) {
		(void)st_layer_remove_tree(*upper, NULL);
		free(*upper);
		*upper = NULL;
		return rc;
	}
	memset(p, 0, sizeof(*p));
	p->upper = *upper;
	*upper = NULL;
	p->created_by = strdup(created_by);
	p->key = *key;
	p->stage = stage;
	p->st = st;
	p->s = b->s;
	p->opts = &b->o->layer;
	p->active = true;
	if (!p->created_by) {
		p->rc = st_error_set(&p->err, ST_ENOMEM, "out of memory");
		return build_layer_join(b, st, b->err);
	}
	/* with layer threads (the default), the next step need not wait for this one's layer */
	if (b->o->layer.threads != 1)
		p->threaded = pthread_create(&p->th, NULL, layer_main, p) == 0;
	if (!p->threaded) {
		p->rc = write_layer(p->s, p->opts, p->upper, &p->res, &p->err);
		return build_layer_join(b, st, b->err);
	}
	return 0;
}

const char *build_layer_pending_dir(const struct bctx *b, const struct bstate *st)
{
	return b->pending.active && b->pending.st == st ? b->pending.upper : NULL;
}
