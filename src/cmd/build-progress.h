/* build-progress.h: how `strata build` shows its steps. plain: BuildKit's plain lines (a line
 * per step start, CACHED or DONE with the time, RUN output prefixed with the step's #N). tty: the
 * finished steps scroll by as one line each, the running ones stay at the bottom with a live
 * timer and their last output lines, redrawn ten times a second. auto: tty on a terminal. */
#ifndef STRATA_CMD_BUILD_PROGRESS_H
#define STRATA_CMD_BUILD_PROGRESS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>

#include "strata/build.h"

enum build_progress_mode { PROGRESS_AUTO, PROGRESS_PLAIN, PROGRESS_TTY, PROGRESS_QUIET };

struct progress_step;

struct build_progress {
	enum build_progress_mode mode; /* after start: plain, tty or quiet */
	FILE *out;
	pthread_mutex_t lock;
	pthread_t ticker;
	bool ticking, stop;
	struct progress_step *steps; /* the running ones (tty) */
	size_t n_steps, cap_steps;
	int drawn; /* lines of the live region on the screen */
	int width;
	double t0;
};

/* Parses --progress; -1 for an unknown value. */
int build_progress_parse(const char *s, enum build_progress_mode *out);
/* Starts rendering to out (a tty renderer starts its ticker). */
void build_progress_start(struct build_progress *p, enum build_progress_mode mode, FILE *out);
/* The st_build_opts.progress callback (ctx: the struct build_progress). */
void build_progress_event(const struct st_build_event *ev, void *ctx);
/* Stops the ticker and leaves the screen with the last state of every step (ok: the build
 * succeeded, say how long it took). */
void build_progress_finish(struct build_progress *p, bool ok);

#endif
