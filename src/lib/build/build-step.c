/* build-step.c: one instruction of a stage. Its cache key is sha256 over the parent's key, the
 * instruction keyword, its arguments and flags after expansion, and what else can change the
 * result (the ARGs a RUN sees, the content of what a COPY selects); see docs/internals/build.md.
 * A key found in the cache (build-cache.c) names the intermediate image (manifest and config
 * blobs) the step made before, which becomes the new state without running anything. A step
 * that runs writes its upper directory as a layer and adopts it as the layer's snapshot. */
#include "build/build-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "strata/archive.h"
#include "util/cleanup.h"
#include "util/fs.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

static bool is_proxy_arg(const char *kv)
{
	static const char *const names[] = {"HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY",
	                                    "ALL_PROXY"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t n = strlen(names[i]);
		if (strncasecmp(kv, names[i], n) == 0 && (kv[n] == '=' || kv[n] == '\0'))
			return true;
	}
	return false;
}

static void hash_str(struct st_hasher *h, const char *s)
{
	st_hasher_update(h, s, strlen(s) + 1);
}

static const char *flag_value(const struct st_df_eval_instr *ei, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < ei->flags.n; i++)
		if (strncmp(ei->flags.v[i], name, n) == 0 && ei->flags.v[i][n] == '=')
			return ei->flags.v[i] + n + 1;
	return NULL;
}

/* ---- COPY and ADD ---- */

struct copy_src {
	char *view;          /* mounted view of a stage or image (--from), else NULL */
	struct bstate other; /* the image named by --from, when not a stage */
};

int build_from_state(struct bctx *b, int stage, const char *name, struct bstate *img,
                     const struct bstate **out)
{
	int ref = build_stage_ref(b, name, stage);
	struct st_image i;
	int rc;

	if (ref >= 0) {
		*out = &b->stages[ref];
		return 0;
	}
	/* a stage of this name defined later: a forward reference, and with the other side
	 * pointing back, a cycle; either way not an image to pull */
	ref = build_stage_ref(b, name, (int)b->ev->n_stages);
	if (ref >= 0)
		return st_error_set(
		        b->err, ST_EINVALID,
		        "stage %d (\"%s\") comes after this one (stage %d): stages can only use "
		        "earlier stages, so a cycle cannot form",
		        ref + 1, name, stage + 1);
	rc = build_open_image(b, name, &i);
	if (rc < 0)
		return st_error_wrap(b->err, "not a stage and not an image");
	build_state_take_image(img, &i);
	*out = img;
	return 0;
}

/* ADD <url>: the registry module owns HTTP. A step keeps what it downloaded (ctx, a
 * fetch_cache; memfds): an unpinned URL is downloaded for the key, and the copy then takes
 * those very bytes instead of a second download, which could also hold other content. */
struct fetched {
	char *url;
	int fd;
	int64_t mtime;
};

struct fetch_cache {
	struct fetched *v;
	size_t n;
};

static void fetch_cache_release(struct fetch_cache *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->v[i].url);
		(void)close(c->v[i].fd);
	}
	free(c->v);
	*c = (struct fetch_cache){0};
}

static int copy_fetched(const struct fetched *f, int fd, int64_t *out_mtime, struct st_error *err)
{
	cleanup_free unsigned char *buf = malloc(1 << 20);
	off_t off = 0;
	ssize_t n;

	if (!buf)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	while ((n = pread(f->fd, buf, 1 << 20, off)) > 0) {
		int rc = st_write_all(fd, buf, (size_t)n, err);
		if (rc < 0)
			return rc;
		off += n;
	}
	if (n < 0)
		return st_error_sys(err, "read the download of %s", f->url);
	*out_mtime = f->mtime;
	return 0;
}

static int fetch_url(void *ctx, const char *url, int fd, int64_t *out_mtime, struct st_error *err)
{
	struct fetch_cache *c = ctx;
	struct fetched *v, f;
	int rc;

	for (size_t i = 0; c && i < c->n; i++)
		if (strcmp(c->v[i].url, url) == 0)
			return copy_fetched(&c->v[i], fd, out_mtime, err);
	rc = st_http_fetch(url, fd, out_mtime, err);
	if (rc < 0 || !c)
		return rc;
	/* only a cache: when it cannot keep the download, the copy downloads again */
	f = (struct fetched){strdup(url), fcntl(fd, F_DUPFD_CLOEXEC, 0), *out_mtime};
	v = f.url && f.fd >= 0 ? realloc(c->v, (c->n + 1) * sizeof(*v)) : NULL;
	if (!v) {
		free(f.url);
		if (f.fd >= 0)
			(void)close(f.fd);
		return 0;
	}
	c->v = v;
	c->v[c->n++] = f;
	return 0;
}

static void copy_req(struct bctx *b, const struct bstate *st, const struct st_df_eval_instr *ei,
                     const char *src_root, const char *target_root, const char *where,
                     struct build_copy_req *r)
{
	const char *wd = st->cfg.working_dir && *st->cfg.working_dir ? st->cfg.working_dir : "/";

	memset(r, 0, sizeof(*r));
	r->is_add = ei->instr->cmd == ST_DF_ADD;
	r->srcs = (const char *const *)ei->args.v;
	r->n_srcs = ei->args.n ? ei->args.n - 1 : 0;
	r->dest = ei->args.n ? ei->args.v[ei->args.n - 1] : "";
	r->workdir = wd;
	r->src_root = src_root;
	r->from_context = !flag_value(ei, "--from");
	r->ignore = r->from_context ? b->ignore : NULL;
	r->target_root = target_root;
	r->chown = flag_value(ei, "--chown");
	r->chmod = flag_value(ei, "--chmod");
	r->checksum = flag_value(ei, "--checksum");
	for (size_t i = 0; i < ei->flags.n; i++) {
		if (strcmp(ei->flags.v[i], "--link") == 0 ||
		    strcmp(ei->flags.v[i], "--link=true") == 0)
			r->link = true;
		if (strcmp(ei->flags.v[i], "--parents") == 0 ||
		    strcmp(ei->flags.v[i], "--parents=true") == 0)
			r->parents = true;
		if (strcmp(ei->flags.v[i], "--keep-git-dir") == 0 ||
		    strcmp(ei->flags.v[i], "--keep-git-dir=true") == 0)
			r->keep_git_dir = true;
	}
	r->memo = b->memo;
	r->fetch = fetch_url;
	r->where = where;
}

static char *created_by(const struct st_df_eval_instr *ei, bool buildkit)
{
	struct st_buf s = ST_BUF_INIT;
	const char *orig = ei->instr->original;

	(void)st_buf_adds(&s, orig, NULL);
	if (buildkit)
		(void)st_buf_adds(&s, " # buildkit", NULL);
	return st_buf_detach(&s, NULL);
}

/* ---- one step ---- */

/* What else a RUN's result depends on: the build args it sees (proxy args aside, as Docker),
 * the network, --add-host, its heredocs and what its bind mounts hold. */
static int run_key(struct bctx *b, const struct bstate *st, int stage,
                   const struct st_df_eval_instr *ei, struct build_key *k, struct st_error *err)
{
	int rc = 0;

	for (size_t i = 0; i < st->args.n && rc == 0; i++) {
		const char *kv = st->args.v[i];
		if (!kv || is_proxy_arg(kv))
			continue;
		rc = build_key_item(k, err, "arg %.*s", (int)strcspn(kv, "="), kv);
		if (rc == 0)
			hash_str(&k->item, kv);
	}
	if (rc == 0)
		rc = build_key_item(k, err, "network");
	if (rc == 0)
		hash_str(&k->item, b->o->network_none ? "net=none" : "net=host");
	if (rc == 0 && b->o->n_add_hosts)
		rc = build_key_item(k, err, "add-hosts");
	for (size_t i = 0; i < b->o->n_add_hosts && rc == 0; i++)
		hash_str(&k->item, b->o->add_hosts[i]);
	if (rc == 0 && ei->instr->n_heredocs)
		rc = build_key_item(k, err, "heredoc");
	for (size_t i = 0; i < ei->instr->n_heredocs && rc == 0; i++)
		hash_str(&k->item, ei->instr->heredocs[i].content);
	return rc == 0 ? build_run_key_mounts(b, stage, ei, k) : rc;
}

/* The step's key (build-key.h): items "parent", "instruction", "flags"; for RUN "arg NAME" per
 * build arg it sees, "network", "add-hosts", "heredoc" and the bind mounts' sources; for COPY and
 * ADD what the sources hold. rec, when given, gets the record of the items. */
static int step_key(struct bctx *b, const struct bstate *st, int stage,
                    const struct st_df_eval_instr *ei, const struct build_copy_req *copy,
                    struct st_digest *out, struct st_buf *rec, struct st_error *err)
{
	struct build_key k;
	int rc = build_key_init(&k, rec != NULL, err);

	if (rc == 0)
		rc = build_key_item(&k, err, "parent");
	if (rc == 0) {
		st_hasher_update(&k.item, st->key.bytes, 32);
		rc = build_key_item(&k, err, "instruction");
	}
	if (rc == 0) {
		hash_str(&k.item, st_df_cmd_name(ei->instr->cmd));
		hash_str(&k.item, ei->instr->json ? "json" : "shell");
		for (size_t i = 0; i < ei->args.n; i++)
			hash_str(&k.item, ei->args.v[i]);
		/* ONBUILD has its trigger in `sub`, not in args: the text is what it records */
		if (ei->instr->cmd == ST_DF_ONBUILD)
			hash_str(&k.item, ei->instr->original);
		rc = build_key_item(&k, err, "flags");
	}
	for (size_t i = 0; rc == 0 && i < ei->flags.n; i++)
		hash_str(&k.item, ei->flags.v[i]);
	if (rc == 0 && ei->instr->cmd == ST_DF_RUN)
		rc = run_key(b, st, stage, ei, &k, err);
	if (copy && rc == 0)
		rc = build_copy_key(copy, &k, err);
	if (rc == 0) {
		build_key_final(&k, out);
		if (rec)
			st_buf_swap(rec, &k.rec);
	}
	build_key_release(&k);
	return rc;
}

static int track_arg(struct bstate *st, const struct st_df_eval_instr *ei, struct st_error *err)
{
	int rc = 0;

	for (size_t i = 0; i < ei->args.n && rc == 0; i++) {
		const char *kv = ei->args.v[i];
		size_t nl = strcspn(kv, "=");
		/* a re-declared ARG replaces the old value */
		for (size_t k = 0; k < st->args.n; k++) {
			if (strncmp(st->args.v[k], kv, nl) == 0 &&
			    (st->args.v[k][nl] == '=' || st->args.v[k][nl] == '\0')) {
				free(st->args.v[k]);
				st->args.v[k] = st->args.v[--st->args.n];
				st->args.v[st->args.n] = NULL;
				break;
			}
		}
		if (strchr(kv, '='))
			rc = st_strv_push(&st->args, kv, strlen(kv), err);
	}
	return rc;
}

void build_state_take_image(struct bstate *st, struct st_image *img)
{
	st_image_config_release(&st->cfg);
	st_manifest_release(&st->man);
	st->cfg = img->config;
	st->man = img->manifest;
	memset(&img->config, 0, sizeof(img->config));
	memset(&img->manifest, 0, sizeof(img->manifest));
	st_image_release(img);
}

int build_state_chain(const struct bstate *st, struct st_digest *out, struct st_error *err)
{
	size_t n = st->cfg.n_diff_ids;
	struct st_digest *ids = n ? calloc(n, sizeof(*ids)) : NULL;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	out->alg = ST_DIGEST_SHA256;
	if (n && !ids)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	if (n)
		rc = st_image_chain_ids(st->cfg.diff_ids, n, ids, err);
	if (n && rc == 0)
		*out = ids[n - 1];
	free(ids);
	return rc;
}

/* A COPY's key without mounting anything: the step's key over the context sources alone
 * (resolved as on scratch; with --from, none), then the chain IDs of the target and of the
 * --from source, which fix everything the full key reads from them. cache/copy-key maps it to
 * the full key. 1 when made; 0 when this COPY needs the full key (ADD, a source the plan cannot
 * place without the target, --chown by name, ...). */
static int fast_key(struct bctx *b, const struct bstate *st, const struct st_df_eval_instr *ei,
                    const struct bstate *src, const char *where, struct st_digest *out)
{
	struct st_error e2 = ST_ERROR_INIT;
	struct build_copy_req r;
	struct st_digest k0, top, stop = {.alg = ST_DIGEST_SHA256};
	struct st_hasher h;
	const char *wd = st->cfg.working_dir ? st->cfg.working_dir : "";

	if (ei->instr->cmd != ST_DF_COPY || b->o->no_cache || ei->instr->n_heredocs)
		return 0;
	copy_req(b, st, ei, b->context, NULL, where, &r);
	if (build_state_chain(st, &top, &e2) < 0 ||
	    (src && build_state_chain(src, &stop, &e2) < 0) ||
	    step_key(b, st, -1, ei, src ? NULL : &r, &k0, NULL, &e2) < 0 ||
	    st_hasher_init(&h, ST_DIGEST_SHA256, &e2) < 0)
		return 0;
	st_hasher_update(&h, "strata-build-v1\0copy-fast\0", 26);
	st_hasher_update(&h, k0.bytes, 32);
	st_hasher_update(&h, top.bytes, 32);
	st_hasher_update(&h, stop.bytes, 32);
	st_hasher_update(&h, wd, strlen(wd) + 1);
	st_hasher_final(&h, out);
	return 1;
}

/* A COPY's files written on a thread while its key is hashed (build_copy_exec and
 * build_copy_key only read the request; the memo has its lock). */
struct copy_job {
	const struct build_copy_req *r;
	const char *upper;
	pthread_t th;
	bool started;
	int rc;
	struct st_error err;
};

static void *copy_main(void *arg)
{
	struct copy_job *j = arg;

	j->rc = build_copy_exec(j->r, j->upper, &j->err);
	return NULL;
}

/* With --no-cache a COPY runs whatever its key is: its files are copied (into *upper, made
 * here) while the key is hashed, on the two cores hashing and copying each want. */
static void copy_start(struct bctx *b, const struct st_df_eval_instr *ei,
                       const struct build_copy_req *r, char **upper, struct copy_job *j)
{
	if (!b->o->no_cache || ei->instr->cmd != ST_DF_COPY ||
	    build_fresh_dir(b, "copy", upper) < 0)
		return;
	*j = (struct copy_job){.r = r, .upper = *upper, .err = ST_ERROR_INIT};
	j->started = pthread_create(&j->th, NULL, copy_main, j) == 0;
}

/* Waits for the copy thread; 1 when it made the files, 0 when there was none, < 0 (into
 * b->err, unless rc already failed) when it failed. */
static int copy_finish(struct bctx *b, struct copy_job *j, int rc)
{
	if (!j->started)
		return 0;
	(void)pthread_join(j->th, NULL);
	j->started = false;
	if (j->rc < 0 && rc == 0)
		*b->err = j->err;
	return j->rc < 0 ? j->rc : 1;
}

static int run_copy(struct bctx *b, struct bstate *st, int stage, const struct st_df_eval_instr *ei,
                    struct st_digest *key, bool *hit, struct st_buf *rec)
{
	struct copy_src cs = {0};
	const struct bstate *src = NULL;
	struct build_copy_req r;
	struct st_digest fast;
	char *target = NULL, *upper = NULL, *by = NULL, *hdir = NULL;
	struct st_strv hargs = ST_STRV_INIT;
	const char *from = flag_value(ei, "--from");
	struct copy_job job = {0};
	struct fetch_cache fetched = {0};
	char where[300];
	bool have_fast = false;
	int rc = 0, copied = 0;

	(void)snprintf(where, sizeof(where), "%s:%d", b->df->name, ei->instr->start_line);
	if (from)
		rc = build_from_state(b, stage, from, &cs.other, &src);
	if (rc < 0)
		(void)st_error_wrap(b->err, "--from=%s", from);
	if (rc == 0)
		have_fast = fast_key(b, st, ei, src, where, &fast) == 1;
	if (have_fast && build_fast_key_get(b, &fast, key) == 1) {
		rc = build_cache_get(b, key, st);
		*hit = rc == 1;
		if (rc != 0) {
			rc = rc < 0 ? rc : 0;
			goto out;
		}
	}
	if (rc == 0 && from)
		rc = build_mount_view(b, src, &cs.view);
	if (rc == 0)
		rc = build_mount_view(b, st, &target);
	if (rc == 0 && ei->instr->n_heredocs)
		rc = build_heredoc_srcs(b, ei, where, &hdir, &hargs);
	if (rc == 0) {
		copy_req(b, st, ei, from ? cs.view : b->context, target, where, &r);
		r.fetch_ctx = &fetched;
		if (hdir) {
			r.srcs = (const char *const *)hargs.v;
			r.n_srcs = hargs.n - 1;
			r.src_root = hdir;
			r.from_context = true;
			r.ignore = NULL;
		}
		copy_start(b, ei, &r, &upper, &job);
		rc = step_key(b, st, stage, ei, &r, key, rec, b->err);
		copied = copy_finish(b, &job, rc);
		if (rc == 0 && copied < 0)
			rc = copied;
	}
	if (rc == 0)
		rc = build_cache_get(b, key, st);
	*hit = rc == 1;
	rc = rc < 0 ? rc : 0;
	if (rc == 0 && !*hit && copied == 0) {
		if (!upper)
			rc = build_fresh_dir(b, "copy", &upper);
		if (rc == 0)
			rc = build_copy_exec(&r, upper, b->err);
	}
	if (rc == 0 && !*hit) {
		by = created_by(ei, true);
		/* COPY writes plain files; ADD's archives may carry overlay xattrs */
		if (rc == 0)
			rc = build_layer_start(b, st, &upper, ei->instr->cmd == ST_DF_COPY,
			                       by ? by : "COPY", key, stage);
	}
	if (rc == 0 && have_fast)
		rc = build_fast_key_put(b, &fast, key);
	if (rc < 0 && upper)
		(void)st_layer_remove_tree(upper, NULL);
out:
	free(upper);
	free(by);
	if (hdir)
		(void)st_layer_remove_tree(hdir, NULL);
	free(hdir);
	st_strv_release(&hargs);
	build_unmount_view(target);
	build_unmount_view(cs.view);
	fetch_cache_release(&fetched);
	st_image_config_release(&cs.other.cfg);
	st_manifest_release(&cs.other.man);
	return rc;
}

static int run_run(struct bctx *b, struct bstate *st, int stage, const struct st_df_eval_instr *ei,
                   struct st_digest *key, bool *hit, struct st_buf *rec)
{
	char *upper = NULL, *by = NULL;
	int rc = step_key(b, st, stage, ei, NULL, key, rec, b->err);

	if (rc == 0)
		rc = build_cache_get(b, key, st);
	*hit = rc == 1;
	if (rc != 0)
		return rc < 0 ? rc : 0;
	rc = build_fresh_dir(b, "run", &upper);
	if (rc == 0) /* on the state and its pending layer, if any */
		rc = build_run_exec(b, st, ei, upper, b->err);
	by = created_by(ei, true);
	if (rc == 0)
		rc = build_layer_start(b, st, &upper, false, by ? by : "RUN", key, stage);
	if (rc < 0 && upper)
		(void)st_layer_remove_tree(upper, NULL);
	free(upper);
	free(by);
	return rc;
}

static int run_config(struct bctx *b, struct bstate *st, const struct st_df_eval_instr *ei,
                      struct st_digest *key, bool *hit, struct st_buf *rec)
{
	struct st_history h = {.created = b->created, .empty_layer = true};
	int rc = step_key(b, st, -1, ei, NULL, key, rec, b->err);

	if (rc == 0)
		rc = build_cache_get(b, key, st);
	*hit = rc == 1;
	if (rc != 0)
		return rc < 0 ? rc : 0;
	rc = st_config_apply_instr(&st->cfg, b->df, ei, &st->cst, b->err);
	h.created_by = created_by(ei, false);
	if (rc == 0)
		rc = st_image_config_add_history(&st->cfg, &h, b->err);
	free(h.created_by);
	return rc;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Keeps the step's key record for the next build and, for the first step of this build that
 * ran (every one with --explain), says what changed since the record kept there. A record is
 * advisory: failing to keep one does not fail the build. */
static void note_key(struct bctx *b, const struct bstate *st, int stage, int step,
                     const struct st_digest *key, bool hit, const struct st_buf *rec)
{
	struct st_buf slot = ST_BUF_INIT, why = ST_BUF_INIT;
	bool explain = !hit && !b->o->no_cache && build_first_miss(b);

	if (build_key_slot(st_store_root(b->s), b->context_dir ? "-" : b->context, b->dfname, stage,
	                   step, &slot, NULL) < 0)
		goto out;
	/* the parent is the FROM's until a step with a key ran (ARG steps have none) */
	if (explain && build_key_explain(slot.data, rec, st_digest_equal(&st->key, &st->base_key),
	                                 &why, NULL) == 0)
		build_event(b, ST_BUILD_EXPLAIN, stage, step, 0, why.data, 0);
	(void)build_key_save(slot.data, key, rec, NULL);
out:
	st_buf_release(&slot);
	st_buf_release(&why);
}

int build_step(struct bctx *b, struct bstate *st, int stage, const struct st_df_eval_instr *ei,
               int step, int n_steps)
{
	struct st_buf rec = ST_BUF_INIT;
	struct st_digest key;
	double t0 = now_s();
	bool hit = false;
	int rc;

	build_event(b, ST_BUILD_STEP, stage, step, n_steps, ei->instr->original, 0);
	/* a RUN runs on the previous step's layer while it is written; the others need it whole */
	if (ei->instr->cmd != ST_DF_RUN && ei->instr->cmd != ST_DF_ARG) {
		rc = build_layer_join(b, st, b->err);
		if (rc < 0)
			return rc;
	}
	switch (ei->instr->cmd) {
	case ST_DF_ARG:
		/* ARG changes no image; what it declares reaches the keys of the RUNs after it */
		return track_arg(st, ei, b->err);
	case ST_DF_COPY:
	case ST_DF_ADD:
		rc = run_copy(b, st, stage, ei, &key, &hit, &rec);
		break;
	case ST_DF_RUN:
		rc = run_run(b, st, stage, ei, &key, &hit, &rec);
		break;
	default:
		rc = run_config(b, st, ei, &key, &hit, &rec);
	}
	/* a step whose layer is still being written gets its entry when it is joined */
	if (rc == 0 && !hit && !b->pending.active)
		rc = build_cache_put(b, &key, st);
	if (rc == 0 && !b->pending.active)
		rc = build_cache_record(b, &key, stage);
	if (rc == 0 && rec.len) /* empty after a hit of COPY's target-free key */
		note_key(b, st, stage, step, &key, hit, &rec);
	st_buf_release(&rec);
	if (rc < 0)
		return rc;
	st->key = key;
	build_event(b, hit ? ST_BUILD_CACHED : ST_BUILD_DONE, stage, step, n_steps,
	            ei->instr->original, now_s() - t0);
	return 0;
}
