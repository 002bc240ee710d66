/* build-stages.c: the stages of a build as a graph. A stage uses the stages its FROM and its
 * --from / --mount from= name; the target needs the closure of that. Every needed stage gets a
 * thread that waits until the stages it uses are built, then runs its instructions in order
 * (at most max_running stages at once); independent stages so overlap, as in BuildKit. A stage
 * works on its own copy of the builder (its own error, its own directory under the build's
 * tmp); the copies share the store, the caches (safe across processes, so across threads) and
 * struct bsync. The first failure wins: the other stages stop before their next step, and its
 * error is the build's. */
#include "build/build-internal.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fs.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

enum { WAITING, RUNNING, BUILT, FAILED = -1 };

bool build_cancelled(struct bctx *b)
{
	bool f;

	if (!b->sync)
		return false;
	pthread_mutex_lock(&b->sync->lock);
	f = b->sync->failed;
	pthread_mutex_unlock(&b->sync->lock);
	return f;
}

bool build_first_miss(struct bctx *b)
{
	bool first;

	if (b->o->explain || !b->sync)
		return true;
	pthread_mutex_lock(&b->sync->lock);
	first = !b->sync->explained;
	b->sync->explained = true;
	pthread_mutex_unlock(&b->sync->lock);
	return first;
}

static int copy_layers(struct st_manifest *dst, const struct st_manifest *src, struct st_error *err)
{
	int rc = 0;

	st_manifest_init(dst, ST_KIND_OCI_MANIFEST);
	for (size_t i = 0; i < src->n_layers && rc == 0; i++)
		rc = st_manifest_add_layer(dst, &src->layers[i], err);
	return rc;
}

static void key_of(const char *what, const struct st_digest *d, struct st_digest *out)
{
	struct st_hasher h;

	if (st_hasher_init(&h, ST_DIGEST_SHA256, NULL) < 0)
		return;
	st_hasher_update(&h, "strata-build-v1\0", 16);
	st_hasher_update(&h, what, strlen(what) + 1);
	if (d)
		st_hasher_update(&h, d->bytes, st_digest_size(d->alg));
	st_hasher_final(&h, out);
}

static int from_line(const struct bctx *b, int stage)
{
	for (size_t k = 0; k < b->ev->n_instrs; k++)
		if (b->ev->instrs[k].stage == stage && b->ev->instrs[k].instr->cmd == ST_DF_FROM)
			return b->ev->instrs[k].instr->start_line;
	return 0;
}

/* FROM: the state a stage starts from. */
static int stage_base(struct bctx *b, int i, struct bstate *st)
{
	const struct st_df_stage *sd = &b->ev->stages[i];
	struct st_platform host;
	struct st_image img;
	int rc;

	if (sd->base_stage >= 0) {
		const struct bstate *p = &b->stages[sd->base_stage];
		st->key = p->key;
		rc = st_image_config_copy(&st->cfg, &p->cfg, b->err);
		return rc < 0 ? rc : copy_layers(&st->man, &p->man, b->err);
	}
	if (strcasecmp(sd->base, "scratch") == 0) {
		st_platform_host(&host);
		key_of("scratch", NULL, &st->key);
		st_manifest_init(&st->man, ST_KIND_OCI_MANIFEST);
		return st_image_config_init(&st->cfg, host.os, host.arch,
		                            host.variant[0] ? host.variant : NULL, b->err);
	}
	if (st->base_open) { /* opened for its ONBUILD triggers (build-onbuild.c) */
		img = st->base;
		st->base_open = false;
	} else if (build_open_image(b, sd->base, &img) < 0) {
		return st_error_wrap(b->err, "%s:%d: FROM %s", b->df->name, from_line(b, i),
		                     sd->base);
	}
	key_of("from", &img.desc.digest, &st->key);
	rc = st_image_config_copy(&st->cfg, &img.config, b->err);
	if (rc == 0)
		rc = copy_layers(&st->man, &img.manifest, b->err);
	st_image_release(&img);
	return rc;
}

/* BuildKit gives every stage a PATH when its base has none (system.DefaultPathEnv). */
static int default_path(struct bstate *st, struct st_error *err)
{
	for (size_t k = 0; st->cfg.env.v && k < st->cfg.env.n; k++)
		if (st_str_has_prefix(st->cfg.env.v[k], "PATH="))
			return 0;
	return st_image_config_setenv(
	        &st->cfg, "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	        err);
}

static int build_stage(struct bctx *b, int i)
{
	struct bstate *st = &b->stages[i];
	int n_steps = 0, step = 0, rc;

	for (size_t k = 0; k < b->ev->n_instrs; k++)
		if (b->ev->instrs[k].stage == i)
			n_steps++;
	build_event(b, ST_BUILD_STEP, i, 1, n_steps, b->ev->stages[i].base, 0);
	rc = stage_base(b, i, st);
	st->base_key = st->key;
	if (rc == 0)
		rc = default_path(st, b->err);
	/* ONBUILD triggers of a base image were spliced after the FROM (build_onbuild); the new
	 * image has none of them. An earlier stage's triggers stay, as BuildKit keeps them. */
	if (rc == 0 && b->ev->stages[i].base_stage < 0 && st->cfg.on_build.n)
		rc = st_image_config_clear_on_build(&st->cfg, b->err);
	for (size_t k = 0; k < b->ev->n_instrs && rc == 0; k++) {
		const struct st_df_eval_instr *ei = &b->ev->instrs[k];
		if (ei->stage != i || ei->instr->cmd == ST_DF_FROM)
			continue;
		if (build_cancelled(b)) { /* another stage failed: its error is the build's */
			rc = st_error_set(b->err, ST_EINVALID, "stopped: another stage failed");
			break;
		}
		step++;
		rc = build_step(b, st, i, ei, step + 1, n_steps);
	}
	/* the last layer written (or the one a failed step ran on: its step's entry is kept) */
	struct st_error jerr = ST_ERROR_INIT;
	int jrc = build_layer_join(b, st, rc == 0 ? b->err : &jerr);
	if (rc == 0)
		rc = jrc;
	st->built = rc == 0;
	return rc;
}

/* The stages stage i uses: its FROM stage and those its --from and --mount from= name.
 * Returns how many were written to out (at most max; a stage is listed once per use). */
static size_t stage_uses(const struct bctx *b, int i, int *out, size_t max)
{
	size_t n = 0;

	if (b->ev->stages[i].base_stage >= 0 && n < max)
		out[n++] = b->ev->stages[i].base_stage;
	for (size_t k = 0; k < b->ev->n_instrs; k++) {
		const struct st_df_eval_instr *ei = &b->ev->instrs[k];
		if (ei->stage != i)
			continue;
		for (size_t f = 0; f < ei->flags.n && n < max; f++) {
			const char *v = NULL;
			char name[256];
			int ref;
			if (st_str_has_prefix(ei->flags.v[f], "--from="))
				v = ei->flags.v[f] + 7;
			else if (st_str_has_prefix(ei->flags.v[f], "--mount=") &&
			         strstr(ei->flags.v[f], "from="))
				v = strstr(ei->flags.v[f], "from=") + 5;
			if (!v)
				continue;
			size_t len = strcspn(v, ",");
			(void)snprintf(name, sizeof(name), "%.*s", (int)(len < 255 ? len : 255), v);
			ref = build_stage_ref(b, name, i);
			if (ref >= 0)
				out[n++] = ref;
		}
	}
	return n;
}

#define MAX_USES 64

void build_mark_needed(struct bctx *b, int i)
{
	int uses[MAX_USES];
	size_t n;

	if (b->needed[i])
		return;
	b->needed[i] = true;
	n = stage_uses(b, i, uses, MAX_USES);
	for (size_t k = 0; k < n; k++)
		build_mark_needed(b, uses[k]);
}

struct stage_thread {
	struct bctx *parent;
	struct bctx b; /* this stage's copy */
	struct st_error err;
	pthread_t th;
	int stage;
	bool started;
};

/* Waits until every stage `st` uses is built and a slot is free; false when one failed. */
static bool wait_turn(struct stage_thread *t)
{
	struct bsync *y = t->parent->sync;
	int uses[MAX_USES];
	size_t n = stage_uses(t->parent, t->stage, uses, MAX_USES);
	bool ready = false;

	pthread_mutex_lock(&y->lock);
	while (!y->failed && !ready) {
		ready = y->running < y->max_running;
		for (size_t k = 0; k < n && ready; k++)
			ready = y->state[uses[k]] == BUILT;
		if (!ready)
			pthread_cond_wait(&y->cond, &y->lock);
	}
	if (ready) {
		y->running++;
		y->state[t->stage] = RUNNING;
	}
	pthread_mutex_unlock(&y->lock);
	return ready;
}

static void *stage_main(void *arg)
{
	struct stage_thread *t = arg;
	struct bsync *y = t->parent->sync;
	struct st_buf dir = ST_BUF_INIT;
	int rc;

	if (!wait_turn(t)) {
		pthread_mutex_lock(&y->lock);
		goto out;
	}
	rc = st_buf_addf(&dir, &t->err, "%s/s%d", t->parent->tmp, t->stage);
	if (rc == 0 && mkdir(dir.data, 0700) < 0)
		rc = st_error_sys(&t->err, "mkdir '%s'", dir.data);
	if (rc == 0) {
		t->b.tmp = dir.data;
		rc = build_stage(&t->b, t->stage);
		t->b.tmp = NULL;
	}
	st_buf_release(&dir);
	pthread_mutex_lock(&y->lock);
	y->running--;
	y->state[t->stage] = rc == 0 ? BUILT : FAILED;
	if (rc < 0 && !y->failed) {
		y->failed = true;
		*t->parent->err = t->err;
	}
out: /* under y->lock */
	y->exited++;
	pthread_cond_broadcast(&y->cond);
	pthread_mutex_unlock(&y->lock);
	(void)eventfd_write(y->exit_fd, 1);
	return NULL;
}

/* While the stages run, the calling thread takes SIGINT, SIGTERM and SIGHUP (the stage threads
 * block every signal, and RUN supervisors of a build take none): the build is marked failed, so
 * no stage starts another step, and the cancel eventfd becomes readable, on which every running
 * RUN's supervisor kills its container (PID 1 would ignore a signal it has no handler for). The
 * steps fail, views are unmounted, nothing is tagged. It sleeps in poll() on a signalfd and on
 * the eventfd every stage thread bumps as it returns, so the build ends the moment its last
 * stage does (a timed wait cost a fully cached build up to its tick). */
static void on_signal(struct bctx *b, int sig)
{
	struct bsync *y = b->sync;

	pthread_mutex_lock(&y->lock);
	if (!y->failed) {
		y->failed = true;
		(void)st_error_set(b->err, ST_EINVALID, "interrupted by %s", strsignal(sig));
		pthread_cond_broadcast(&y->cond);
	}
	pthread_mutex_unlock(&y->lock);
	(void)eventfd_write(y->cancel_fd, 1); /* running RUNs kill their containers */
}

static void wait_stages(struct bctx *b, int n_started)
{
	static const int stops[] = {SIGINT, SIGTERM, SIGHUP};
	struct bsync *y = b->sync;
	sigset_t set, old;
	bool done = false;
	int sfd;

	(void)sigemptyset(&set);
	for (size_t i = 0; i < sizeof(stops) / sizeof(stops[0]); i++)
		(void)sigaddset(&set, stops[i]);
	(void)pthread_sigmask(SIG_BLOCK, &set, &old);
	sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	pthread_mutex_lock(&y->lock);
	done = y->exited == n_started; /* none started, or all ended already */
	pthread_mutex_unlock(&y->lock);
	while (!done) {
		struct pollfd p[2] = {{.fd = y->exit_fd, .events = POLLIN},
		                      {.fd = sfd, .events = POLLIN}};
		struct signalfd_siginfo si;
		eventfd_t n;

		/* without a signalfd (out of descriptors) signals wait until the stages end */
		if (poll(p, sfd < 0 ? 1 : 2, -1) < 0 && errno != EINTR)
			break;
		if (p[0].revents & POLLIN)
			(void)eventfd_read(y->exit_fd, &n);
		if (sfd >= 0 && (p[1].revents & POLLIN) && read(sfd, &si, sizeof(si)) == sizeof(si))
			on_signal(b, (int)si.ssi_signo);
		pthread_mutex_lock(&y->lock);
		done = y->exited == n_started;
		pthread_mutex_unlock(&y->lock);
	}
	if (sfd >= 0)
		(void)close(sfd);
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static int parallelism(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	/* stages mostly wait on RUN children and disk: two at least, even on one core */
	return n < 2 ? 2 : n > 16 ? 16 : (int)n;
}

static void sync_free(struct bsync *y)
{
	if (!y)
		return;
	pthread_cond_destroy(&y->cond);
	pthread_mutex_destroy(&y->pull_lock);
	pthread_mutex_destroy(&y->lock);
	if (y->cancel_fd >= 0)
		(void)close(y->cancel_fd);
	if (y->exit_fd >= 0)
		(void)close(y->exit_fd);
	free(y->state);
	free(y);
}

static struct bsync *sync_new(int n_stages)
{
	struct bsync *y = calloc(1, sizeof(*y));

	if (!y)
		return NULL;
	y->state = calloc((size_t)n_stages, sizeof(*y->state));
	if (!y->state) {
		free(y);
		return NULL;
	}
	y->max_running = parallelism();
	pthread_mutex_init(&y->lock, NULL);
	pthread_mutex_init(&y->pull_lock, NULL);
	pthread_cond_init(&y->cond, NULL);
	y->cancel_fd = eventfd(0, EFD_CLOEXEC);
	y->exit_fd = eventfd(0, EFD_CLOEXEC);
	if (y->cancel_fd < 0 || y->exit_fd < 0) {
		sync_free(y); /* closes whichever opened */
		return NULL;
	}
	return y;
}

/* Starts a thread for every needed stage; false when one could not start (the others are
 * told to stop). */
static bool start_all(struct bctx *b, int target, struct stage_thread *t)
{
	sigset_t all, old;
	bool ok = true;

	/* stage threads start with signals blocked: a RUN's supervisor takes the ones it forwards
	 * through its own signalfd, and nothing else should land in a builder thread */
	(void)sigfillset(&all);
	(void)pthread_sigmask(SIG_BLOCK, &all, &old);
	for (int i = 0; i <= target && ok; i++) {
		if (!b->needed[i])
			continue;
		t[i] = (struct stage_thread){
		        .parent = b, .b = *b, .err = ST_ERROR_INIT, .stage = i};
		t[i].b.err = &t[i].err;
		t[i].started = pthread_create(&t[i].th, NULL, stage_main, &t[i]) == 0;
		ok = t[i].started;
	}
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!ok) {
		pthread_mutex_lock(&b->sync->lock);
		if (!b->sync->failed)
			(void)st_error_set(b->err, ST_ENOMEM, "cannot start a thread");
		b->sync->failed = true;
		pthread_cond_broadcast(&b->sync->cond);
		pthread_mutex_unlock(&b->sync->lock);
	}
	return ok;
}

int build_stages(struct bctx *b, int target)
{
	struct stage_thread *t = calloc((size_t)target + 1, sizeof(*t));
	int rc = 0, n_started = 0;

	b->sync = t ? sync_new(target + 1) : NULL;
	if (!b->sync) {
		free(t);
		return st_error_set(b->err, ST_ENOMEM, "out of memory");
	}
	(void)start_all(b, target, t);
	for (int i = 0; i <= target; i++)
		n_started += t[i].started;
	wait_stages(b, n_started);
	for (int i = 0; i <= target; i++)
		if (t[i].started)
			(void)pthread_join(t[i].th, NULL);
	if (b->sync->failed)
		rc = -(int)b->err->code;
	else if (b->sync->state[target] != BUILT) /* cannot happen: the target is needed */
		rc = st_error_set(b->err, ST_EINVALID, "stage %d was not built", target + 1);
	sync_free(b->sync);
	b->sync = NULL;
	free(t);
	return rc;
}
