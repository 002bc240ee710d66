/* build.c: `strata build`: the Dockerfile is parsed and evaluated (ARG/ENV scoping), the stages
 * the target needs are built in order, each instruction by build_step() with its cache key,
 * and the last state becomes the image. Every build works in its own <root>/tmp/build-*
 * directory and holds the store's lease, so gc never takes what it is writing. */
#include "build/build-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "strata/archive.h"
#include "strata/ref.h"
#include "util/cleanup.h"
#include "util/fs.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

static void emit(struct bctx *b, struct st_build_event *ev)
{
	if (!b->o->progress)
		return;
	if (b->sync)
		pthread_mutex_lock(&b->sync->lock);
	if (ev->kind == ST_BUILD_STEP || ev->kind == ST_BUILD_PHASE)
		b->cur_id = b->sync ? ++b->sync->next_id : b->cur_id + 1;
	ev->id = b->cur_id;
	b->o->progress(ev, b->o->progress_ctx);
	if (b->sync)
		pthread_mutex_unlock(&b->sync->lock);
}

void build_event(struct bctx *b, enum st_build_event_kind kind, int stage, int step, int n_steps,
                 const char *text, double seconds)
{
	struct st_build_event ev = {
	        .kind = kind, .step = step, .n_steps = n_steps, .text = text, .seconds = seconds};
	char idx[16];

	if (stage >= 0 && (size_t)stage < b->ev->n_stages && b->ev->stages[stage].name) {
		ev.stage = b->ev->stages[stage].name;
	} else {
		(void)snprintf(idx, sizeof(idx), "%d", stage + 1);
		ev.stage = idx;
	}
	emit(b, &ev);
}

void build_output(struct bctx *b, const char *data, size_t len)
{
	struct st_build_event ev = {.kind = ST_BUILD_OUTPUT, .data = data, .len = len};

	emit(b, &ev);
}

int build_fresh_dir(struct bctx *b, const char *what, char **out)
{
	struct st_buf p = ST_BUF_INIT;
	int rc = st_buf_addf(&p, b->err, "%s/%s-%d", b->tmp, what, ++b->n_dirs);

	if (rc == 0 && mkdir(p.data, 0755) < 0)
		rc = st_error_sys(b->err, "mkdir '%s'", p.data);
	if (rc < 0) {
		st_buf_release(&p);
		return rc;
	}
	*out = st_buf_detach(&p, NULL);
	return 0;
}

int build_stage_ref(const struct bctx *b, const char *name, int before)
{
	char *end;
	long idx = strtol(name, &end, 10);

	if (*name && !*end && idx >= 0 && idx < before)
		return (int)idx;
	for (int i = 0; i < before; i++)
		if (b->ev->stages[i].name && strcasecmp(b->ev->stages[i].name, name) == 0)
			return i;
	return -1;
}

static void state_release(struct bstate *st)
{
	st_image_config_release(&st->cfg);
	st_manifest_release(&st->man);
	st_strv_release(&st->args);
	if (st->base_open)
		st_image_release(&st->base);
}

/* A name the registry client can pull: a reference, not an image ID or a digest. */
static bool pullable(const char *name)
{
	struct st_ref r;
	size_t n = strspn(name, "0123456789abcdef");

	if (st_str_has_prefix(name, "sha256:") || (n >= 12 && name[n] == '\0'))
		return false;
	if (st_ref_parse(name, &r, NULL) < 0)
		return false;
	st_ref_release(&r);
	return true;
}

/* Pulls `name` once a build; stages pull one at a time, so two stages on one base pull it once. */
static int pull(struct bctx *b, const char *name)
{
	struct st_registry_opts def = {0};
	struct st_pull_result res = {0};
	char what[600];
	int rc = 0;

	if (b->sync) {
		pthread_mutex_lock(&b->sync->pull_lock);
		if (build_cancelled(b)) {
			rc = st_error_set(b->err, ST_EINVALID, "stopped: another stage failed");
			goto out;
		}
	}
	for (size_t i = 0; i < b->pulled->n; i++)
		if (strcmp(b->pulled->v[i], name) == 0)
			goto out;
	(void)snprintf(what, sizeof(what), "pulling %s", name);
	build_event(b, ST_BUILD_WARNING, -1, 0, 0, what, 0);
	rc = st_registry_pull(b->s, name, b->o->registry ? b->o->registry : &def, &res, b->err);
	st_pull_result_release(&res);
	if (rc < 0)
		(void)st_error_wrap(b->err, "pull '%s'", name);
	else
		rc = st_strv_push(b->pulled, name, strlen(name), b->err);
out:
	if (b->sync)
		pthread_mutex_unlock(&b->sync->pull_lock);
	return rc;
}

int build_open_image(struct bctx *b, const char *name, struct st_image *out)
{
	bool can_pull = pullable(name);
	int rc;

	if (b->o->pull && can_pull) {
		rc = pull(b, name);
		if (rc < 0)
			return rc;
	}
	rc = st_image_open(b->s, name, NULL, out, b->err);
	if (rc == -ST_ENOTFOUND && can_pull && !b->o->pull) {
		rc = pull(b, name);
		if (rc == 0)
			rc = st_image_open(b->s, name, NULL, out, b->err);
	}
	return rc;
}

static int target_stage(struct bctx *b, int *out)
{
	if (b->ev->n_stages == 0)
		return st_error_set(b->err, ST_EINVALID, "%s: no FROM instruction", b->df->name);
	if (!b->o->target) {
		*out = (int)b->ev->n_stages - 1;
		return 0;
	}
	for (size_t i = 0; i < b->ev->n_stages; i++) {
		if (b->ev->stages[i].name && strcasecmp(b->ev->stages[i].name, b->o->target) == 0) {
			*out = (int)i;
			return 0;
		}
	}
	return st_error_set(b->err, ST_ENOTFOUND, "target stage \"%s\" could not be found",
	                    b->o->target);
}

static int read_dockerfile(struct bctx *b, struct st_buf *out)
{
	struct st_buf path = ST_BUF_INIT;
	const char *base;
	int rc;

	(void)snprintf(b->dfname, sizeof(b->dfname), "Dockerfile");
	if (b->dockerfile_read)
		return 0;
	if (b->o->dockerfile_data)
		return st_buf_add(out, b->o->dockerfile_data, b->o->dockerfile_len, b->err);
	if (b->context_tar)
		rc = st_buf_adds(&path, b->o->dockerfile ? b->o->dockerfile : "Dockerfile", b->err);
	else if (b->o->dockerfile)
		rc = st_buf_adds(&path, b->o->dockerfile, b->err);
	else
		rc = st_buf_addf(&path, b->err, "%s/Dockerfile", b->context);
	if (rc == 0 && b->context_tar)
		rc = build_context_read(b, path.data, out, ST_DF_MAX_FILE);
	else if (rc == 0)
		rc = st_read_file_at(AT_FDCWD, path.data, out, ST_DF_MAX_FILE, b->err);
	base = strrchr(path.data, '/') ? strrchr(path.data, '/') + 1 : path.data;
	if (*base)
		(void)snprintf(b->dfname, sizeof(b->dfname), "%s", base);
	st_buf_release(&path);
	return rc;
}

static int build_args_env(struct bctx *b, struct st_df_env *env)
{
	int rc = 0;

	for (size_t i = 0; i < b->o->n_build_args && rc == 0; i++) {
		const char *a = b->o->build_args[i], *eq = strchr(a, '=');
		char *name = st_strndup(a, eq ? (size_t)(eq - a) : strlen(a));
		const char *val;
		if (!name)
			return st_error_set(b->err, ST_ENOMEM, "out of memory");
		val = eq ? eq + 1 : getenv(name);
		/* "--build-arg K" without a value takes K from the environment, if set */
		if (val)
			rc = st_df_env_set(env, name, val, b->err);
		free(name);
	}
	return rc;
}

/* The .dockerignore of a context from a tar: <Dockerfile>.dockerignore, else .dockerignore,
 * as st_dockerignore_locate() picks them in a directory, read inside the context. */
static int read_tar_ignore(struct bctx *b, struct st_buf *data, char **path)
{
	const char *df = b->o->dockerfile;

	for (int i = df ? 0 : 1; i < 2; i++) {
		struct st_buf p = ST_BUF_INIT;
		int rc = i == 0 ? st_buf_addf(&p, b->err, "%s.dockerignore", df)
		                : st_buf_adds(&p, ".dockerignore", b->err);
		if (rc == 0)
			rc = build_context_read(b, p.data, data, 16u << 20);
		if (rc == 0) {
			*path = st_buf_detach(&p, NULL);
			return *path ? 0 : st_error_set(b->err, ST_ENOMEM, "out of memory");
		}
		st_buf_release(&p);
		st_buf_reset(data);
		if (rc != -ST_ENOTFOUND && rc != -ST_EINVALID)
			return rc;
	}
	return 0;
}

static int load_ignore(struct bctx *b)
{
	struct st_buf data = ST_BUF_INIT;
	char *path = NULL;
	int rc;

	if (b->context_tar)
		rc = read_tar_ignore(b, &data, &path);
	else
		rc = st_dockerignore_locate(b->context, b->o->dockerfile, &path, b->err);
	if (rc < 0 || !path) {
		st_buf_release(&data);
		return rc;
	}
	if (!b->context_tar)
		rc = st_read_file_at(AT_FDCWD, path, &data, 16u << 20, b->err);
	if (rc == 0)
		rc = st_dockerignore_parse(data.data, data.len, path, &b->ignore, b->err);
	st_buf_release(&data);
	free(path);
	return rc;
}

/* <root>/tmp/build-<rnd>: this build's private directory, removed at its end. */
static int make_tmp(struct bctx *b)
{
	struct st_buf p = ST_BUF_INIT;
	char rnd[17];
	int rc = st_random_hex(rnd, 8, b->err);

	if (rc == 0)
		rc = st_buf_addf(&p, b->err, "%s/tmp/build-%s", st_store_root(b->s), rnd);
	if (rc == 0 && mkdir(p.data, 0700) < 0)
		rc = st_error_sys(b->err, "mkdir '%s'", p.data);
	if (rc == 0)
		b->tmp = st_buf_detach(&p, NULL);
	st_buf_release(&p);
	return rc;
}

static int setup(struct bctx *b)
{
	struct st_df_eval_opts eo = {0};
	struct st_buf p = ST_BUF_INIT;
	time_t now = time(NULL);
	struct tm tm;
	int rc;

	b->context = b->o->context;
	rc = make_tmp(b);
	if (rc == 0 && !b->o->context)
		rc = build_context_from_tar(b);
	if (rc == 0)
		rc = read_dockerfile(b, &b->text);
	if (rc == 0)
		rc = st_dockerfile_parse(b->text.data, b->text.len, b->dfname, 0, &b->df, b->err);
	if (rc == 0)
		rc = build_args_env(b, &b->bargs);
	eo.build_args = &b->bargs;
	if (rc == 0)
		rc = st_df_eval_run(b->df, &eo, &b->ev, b->err);
	if (rc == 0)
		rc = load_ignore(b);
	if (rc == 0)
		rc = st_buf_addf(&p, b->err, "%s/cache", st_store_root(b->s));
	if (rc == 0)
		rc = st_mkdir_p(AT_FDCWD, p.data, 0700, b->err);
	if (rc == 0)
		rc = st_buf_adds(&p, "/hash-memo", b->err);
	if (rc == 0)
		rc = build_hash_memo_open(p.data, &b->memo, b->err);
	st_buf_release(&p);
	if (b->o->layer.has_epoch && b->o->layer.source_date_epoch < (int64_t)now)
		now = (time_t)b->o->layer.source_date_epoch;
	gmtime_r(&now, &tm);
	(void)strftime(b->created, sizeof(b->created), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return rc;
}

static int add_labels(struct bctx *b, struct st_image_config *cfg)
{
	int rc = 0;

	for (size_t i = 0; i < b->o->n_labels && rc == 0; i++) {
		const char *l = b->o->labels[i], *eq = strchr(l, '=');
		char *k = st_strndup(l, eq ? (size_t)(eq - l) : strlen(l));
		if (!k)
			return st_error_set(b->err, ST_ENOMEM, "out of memory");
		rc = st_image_config_set_label(cfg, k, eq ? eq + 1 : "", b->err);
		free(k);
	}
	return rc;
}

static int finish(struct bctx *b, struct bstate *st, struct st_descriptor *out)
{
	struct st_buf name = ST_BUF_INIT;
	int rc = add_labels(b, &st->cfg);

	if (rc == 0)
		rc = st_image_write(b->s, &st->cfg, &st->man, out, b->err);
	if (rc == 0 && b->o->n_tags == 0)
		rc = st_store_tag(b->s, NULL, out, b->err);
	for (size_t i = 0; i < b->o->n_tags && rc == 0; i++) {
		struct st_ref r;
		st_buf_reset(&name);
		rc = st_ref_parse(b->o->tags[i], &r, b->err);
		if (rc == 0) {
			rc = st_ref_format(&r, ST_REF_FORMAT_NO_DIGEST, &name, b->err);
			st_ref_release(&r);
		}
		if (rc == 0)
			rc = st_store_tag(b->s, name.data, out, b->err);
	}
	st_buf_release(&name);
	return rc;
}

/* Checks the tags before any work, so a bad one fails at once. */
static int check_tags(struct bctx *b)
{
	for (size_t i = 0; i < b->o->n_tags; i++) {
		struct st_ref r;
		int rc = st_ref_parse(b->o->tags[i], &r, b->err);
		if (rc < 0)
			return st_error_wrap(b->err, "tag '%s'", b->o->tags[i]);
		st_ref_release(&r);
	}
	return 0;
}

int st_build(struct st_store *s, const struct st_build_opts *o, struct st_descriptor *out,
             struct st_error *err)
{
	struct st_strv pulled = ST_STRV_INIT;
	struct build_cache_recs recs = {0};
	struct bctx b = {.s = s,
	                 .recs = &recs,
	                 .o = o,
	                 .err = err,
	                 .pulled = &pulled,
	                 .text = ST_BUF_INIT,
	                 .bargs = ST_DF_ENV_INIT};
	int target = 0, rc;

	rc = check_tags(&b);
	if (rc == 0)
		rc = st_store_lease(s, err);
	if (rc < 0)
		return rc;
	rc = setup(&b);
	if (rc == 0)
		rc = target_stage(&b, &target);
	if (rc == 0)
		rc = build_cache_import_open(&b);
	if (rc == 0) {
		b.stages = calloc(b.ev->n_stages, sizeof(*b.stages));
		b.needed = calloc(b.ev->n_stages, sizeof(*b.needed));
		if (!b.stages || !b.needed)
			rc = st_error_set(err, ST_ENOMEM, "out of memory");
	}
	if (rc == 0) {
		build_mark_needed(&b, target);
		rc = build_onbuild(&b);
	}
	if (rc == 0) { /* a trigger's --from may need more stages */
		memset(b.needed, 0, b.ev->n_stages * sizeof(*b.needed));
		build_mark_needed(&b, target);
		rc = build_stages(&b, target);
	}
	/* before anything is tagged: a failed export fails the build */
	if (rc == 0)
		rc = build_cache_export(&b, target);
	if (rc == 0)
		rc = finish(&b, &b.stages[target], out);
	for (size_t i = 0; b.stages && i < b.ev->n_stages; i++)
		state_release(&b.stages[i]);
	free(b.stages);
	free(b.needed);
	st_strv_release(&pulled);
	free(recs.v);
	build_cache_import_close(&b);
	st_buf_release(&b.text);
	st_df_env_release(&b.bargs);
	if (b.memo) {
		struct st_error e2 = ST_ERROR_INIT;
		(void)build_hash_memo_close(b.memo, &e2);
	}
	if (b.tmp)
		(void)st_layer_remove_tree(b.tmp, NULL);
	free(b.tmp);
	free(b.context_dir);
	st_dockerignore_free(b.ignore);
	st_df_eval_free(b.ev);
	st_dockerfile_free(b.df);
	st_store_unlease(s);
	return rc;
}

/* ---- read-only views of a state's root filesystem ---- */

int build_mount_view(struct bctx *b, const struct bstate *st, char **out_dir)
{
	struct st_snapshot_chain chain = {0};
	struct st_image img = {0};
	const char **lowers = NULL;
	char *dir = NULL, *links = NULL;
	int rc;

	if (build_layer_pending_dir(b, st)) /* callers join first: the view would miss it */
		return st_error_set(b->err, ST_EINVALID, "view of a state whose layer is pending");
	rc = build_fresh_dir(b, "view", &dir);
	if (rc < 0 || st->man.n_layers == 0) {
		*out_dir = dir;
		return rc;
	}
	img.manifest = st->man;
	img.config = st->cfg;
	rc = st_snapshot_prepare(b->s, &img, &chain, b->err);
	if (rc == 0)
		lowers = calloc(chain.n, sizeof(*lowers));
	if (rc == 0 && !lowers)
		rc = st_error_set(b->err, ST_ENOMEM, "out of memory");
	if (rc == 0)
		rc = build_fresh_dir(b, "links", &links);
	if (rc == 0) {
		struct st_overlay o = {.lowers = lowers, .n_lowers = chain.n, .link_dir = links};
		for (size_t i = 0; i < chain.n; i++) /* top first */
			lowers[i] = chain.dirs[chain.n - 1 - i];
		rc = st_overlay_mount(&o, dir, b->err);
	}
	free(lowers);
	free(links);
	st_snapshot_chain_release(&chain);
	if (rc < 0) {
		(void)rmdir(dir);
		free(dir);
		return rc;
	}
	*out_dir = dir;
	return 0;
}

void build_unmount_view(char *dir)
{
	if (!dir)
		return;
	(void)umount2(dir, MNT_DETACH);
	(void)rmdir(dir);
	free(dir);
}
