/* build-progress.c: plain and tty renderings of the build's events (see build-progress.h). The
 * library calls build_progress_event one event at a time (stages run in threads, their events
 * are serialised); the tty ticker thread shares the lock. */
#include "build-progress.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define TAIL 3 /* output lines shown under a running step */

struct progress_step {
	int id;
	char *stage; /* steps of one stage run in order: a new one ends the one before */
	char *title; /* "[stage 2/5] RUN ..." */
	double start;
	char *tail[TAIL];
	int n_tail;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int build_progress_parse(const char *s, enum build_progress_mode *out)
{
	if (strcmp(s, "auto") == 0)
		*out = PROGRESS_AUTO;
	else if (strcmp(s, "plain") == 0)
		*out = PROGRESS_PLAIN;
	else if (strcmp(s, "tty") == 0)
		*out = PROGRESS_TTY;
	else if (strcmp(s, "quiet") == 0)
		*out = PROGRESS_QUIET;
	else
		return -1;
	return 0;
}

/* ---- plain ---- */

static void plain_event(FILE *f, const struct st_build_event *ev)
{
	switch (ev->kind) {
	case ST_BUILD_STEP:
		fprintf(f, "#%d [%s %d/%d] %s\n", ev->id, ev->stage, ev->step, ev->n_steps,
		        ev->text);
		break;
	case ST_BUILD_CACHED:
		fprintf(f, "#%d CACHED\n", ev->id);
		break;
	case ST_BUILD_DONE:
		fprintf(f, "#%d DONE %.2fs\n", ev->id, ev->seconds);
		break;
	case ST_BUILD_OUTPUT:
		fprintf(f, "#%d %.*s", ev->id, (int)ev->len, ev->data);
		if (ev->len && ev->data[ev->len - 1] != '\n')
			fputc('\n', f);
		break;
	case ST_BUILD_EXPLAIN:
		fprintf(f, "#%d rebuilt because %s\n", ev->id, ev->text);
		break;
	case ST_BUILD_WARNING:
		if (ev->id)
			fprintf(f, "#%d WARNING: %s\n", ev->id, ev->text);
		else
			fprintf(f, "WARNING: %s\n", ev->text);
		break;
	case ST_BUILD_PHASE:
		fprintf(f, "#%d %s\n", ev->id, ev->text);
		break;
	}
}

/* ---- tty ---- */

/* Prints at most `width` columns of s (bytes; control characters as spaces). */
static void put_cut(FILE *f, const char *s, size_t len, int width)
{
	for (size_t i = 0; i < len && (int)i < width; i++)
		fputc((unsigned char)s[i] < 0x20 ? ' ' : s[i], f);
}

static void erase_live(struct build_progress *p)
{
	for (; p->drawn > 0; p->drawn--)
		fputs("\033[1A\033[2K", p->out);
	fputc('\r', p->out);
}

static void draw_live(struct build_progress *p)
{
	double t = now();
	char head[32];

	for (size_t i = 0; i < p->n_steps; i++) {
		struct progress_step *s = &p->steps[i];
		int n = snprintf(head, sizeof(head), "#%d ", s->id);
		char timer[32];
		int tn = snprintf(timer, sizeof(timer), " %.1fs", t - s->start);
		fputs(head, p->out);
		put_cut(p->out, s->title, strlen(s->title), p->width - n - tn);
		fprintf(p->out, "\033[36m%s\033[0m\n", timer);
		p->drawn++;
		for (int k = s->n_tail > TAIL ? s->n_tail - TAIL : 0; k < s->n_tail; k++) {
			const char *l = s->tail[k % TAIL];
			fputs("\033[2m  > ", p->out);
			put_cut(p->out, l, strlen(l), p->width - 5);
			fputs("\033[0m\n", p->out);
			p->drawn++;
		}
	}
	fflush(p->out);
}

/* A line above the live region, for good: "#<id> <what><text><suffix>". */
static void put_line(struct build_progress *p, int id, const char *what, const char *text,
                     const char *suffix)
{
	char head[64];
	int n = id ? snprintf(head, sizeof(head), "#%d %s", id, what)
	           : snprintf(head, sizeof(head), "%s", what);

	fputs(head, p->out);
	put_cut(p->out, text, strlen(text), p->width - n - (int)strlen(suffix));
	fprintf(p->out, "%s\n", suffix);
}

static void step_free(struct progress_step *s)
{
	free(s->stage);
	free(s->title);
	for (int k = 0; k < TAIL; k++)
		free(s->tail[k]);
}

/* Ends step i: its line goes above the live region with how it ended. */
static void end_step(struct build_progress *p, size_t i, const char *how)
{
	put_line(p, p->steps[i].id, "", p->steps[i].title, how);
	step_free(&p->steps[i]);
	memmove(&p->steps[i], &p->steps[i + 1], (p->n_steps - i - 1) * sizeof(*p->steps));
	p->n_steps--;
}

static struct progress_step *find(struct build_progress *p, int id, size_t *at)
{
	for (size_t i = 0; i < p->n_steps; i++) {
		if (p->steps[i].id == id) {
			if (at)
				*at = i;
			return &p->steps[i];
		}
	}
	return NULL;
}

static void start_step(struct build_progress *p, const struct st_build_event *ev)
{
	char title[4096];
	struct progress_step s = {.id = ev->id, .start = now()};

	/* the step before it in the same stage has ended (ARG and FROM send no DONE) */
	for (size_t i = 0; i < p->n_steps; i++)
		if (strcmp(p->steps[i].stage, ev->stage) == 0)
			end_step(p, i--, "");
	(void)snprintf(title, sizeof(title), "[%s %d/%d] %s", ev->stage, ev->step, ev->n_steps,
	               ev->text);
	if (p->n_steps == p->cap_steps) {
		size_t cap = p->cap_steps ? 2 * p->cap_steps : 8;
		struct progress_step *v = realloc(p->steps, cap * sizeof(*v));
		if (!v)
			return;
		p->steps = v;
		p->cap_steps = cap;
	}
	s.stage = strdup(ev->stage);
	s.title = strdup(title);
	if (!s.stage || !s.title) {
		step_free(&s);
		return;
	}
	p->steps[p->n_steps++] = s;
}

static void add_output(struct progress_step *s, const char *data, size_t len)
{
	char *l;

	while (len && (data[len - 1] == '\n' || data[len - 1] == '\r'))
		len--;
	l = malloc(len + 1);
	if (!l)
		return;
	memcpy(l, data, len);
	l[len] = '\0';
	free(s->tail[s->n_tail % TAIL]);
	s->tail[s->n_tail % TAIL] = l;
	s->n_tail++;
}

static void tty_event(struct build_progress *p, const struct st_build_event *ev)
{
	struct progress_step *s;
	char how[64];
	size_t at;

	erase_live(p);
	switch (ev->kind) {
	case ST_BUILD_STEP:
		start_step(p, ev);
		break;
	case ST_BUILD_CACHED:
	case ST_BUILD_DONE:
		if (!find(p, ev->id, &at))
			break;
		if (ev->kind == ST_BUILD_CACHED)
			(void)snprintf(how, sizeof(how), " \033[34mCACHED\033[0m");
		else
			(void)snprintf(how, sizeof(how), " \033[32mDONE %.1fs\033[0m", ev->seconds);
		end_step(p, at, how);
		break;
	case ST_BUILD_OUTPUT:
		s = find(p, ev->id, NULL);
		if (s)
			add_output(s, ev->data, ev->len);
		break;
	case ST_BUILD_EXPLAIN:
		put_line(p, ev->id, "rebuilt because ", ev->text, "");
		break;
	case ST_BUILD_WARNING:
		put_line(p, ev->id, "WARNING: ", ev->text, "");
		break;
	case ST_BUILD_PHASE:
		put_line(p, ev->id, "", ev->text, "");
		break;
	}
	draw_live(p);
}

static void *ticker(void *arg)
{
	struct build_progress *p = arg;
	const struct timespec tick = {0, 100 * 1000 * 1000};

	for (;;) {
		nanosleep(&tick, NULL);
		pthread_mutex_lock(&p->lock);
		if (p->stop) {
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		if (p->n_steps) {
			erase_live(p);
			draw_live(p);
		}
		pthread_mutex_unlock(&p->lock);
	}
}

void build_progress_start(struct build_progress *p, enum build_progress_mode mode, FILE *out)
{
	struct winsize ws;

	memset(p, 0, sizeof(*p));
	p->out = out;
	if (mode == PROGRESS_AUTO)
		mode = isatty(fileno(out)) ? PROGRESS_TTY : PROGRESS_PLAIN;
	p->mode = mode;
	p->width = 80;
	if (ioctl(fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
		p->width = ws.ws_col;
	pthread_mutex_init(&p->lock, NULL);
	p->t0 = now();
	if (mode == PROGRESS_TTY) {
		sigset_t all, old;
		/* the ticker takes no signal: they belong to the main thread and the runtime */
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &old);
		p->ticking = pthread_create(&p->ticker, NULL, ticker, p) == 0;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
}

void build_progress_event(const struct st_build_event *ev, void *ctx)
{
	struct build_progress *p = ctx;

	pthread_mutex_lock(&p->lock);
	if (p->mode == PROGRESS_PLAIN)
		plain_event(p->out, ev);
	else if (p->mode == PROGRESS_TTY)
		tty_event(p, ev);
	pthread_mutex_unlock(&p->lock);
}

void build_progress_finish(struct build_progress *p, bool ok)
{
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_mutex_unlock(&p->lock);
	if (p->ticking)
		pthread_join(p->ticker, NULL);
	if (p->mode == PROGRESS_TTY) {
		erase_live(p);
		while (p->n_steps)
			end_step(p, 0, "");
		if (ok)
			fprintf(p->out, "built in %.1fs\n", now() - p->t0);
		fflush(p->out);
	}
	free(p->steps);
	pthread_mutex_destroy(&p->lock);
}
