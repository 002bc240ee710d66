/* build/build-config.h: the config-changing Dockerfile instructions (ENV, LABEL, CMD,
 * ENTRYPOINT, WORKDIR, USER, EXPOSE, VOLUME, STOPSIGNAL, SHELL, HEALTHCHECK, ONBUILD,
 * MAINTAINER) applied to an image config exactly as Docker's builder does. Shared by
 * `strata build` and `strata import --change`. */
#ifndef ST_BUILD_CONFIG_H
#define ST_BUILD_CONFIG_H

#include <stdbool.h>

#include "strata/dockerfile.h"
#include "strata/image.h"

struct st_config_state {
	bool cmd_set; /* a CMD in this stage: a later ENTRYPOINT then keeps it */
};

/* Applies one evaluated instruction (arguments already expanded by st_df_eval_run) to c.
 * Instructions that change no config (ARG, RUN, COPY, ADD, FROM) are a no-op. -ST_EINVALID
 * naming file:line for a bad value (a duration, a port). */
int st_config_apply_instr(struct st_image_config *c, const struct st_dockerfile *df,
                          const struct st_df_eval_instr *ei, struct st_config_state *state,
                          struct st_error *err);

/* Parses a Go duration ("1m30s", "500ms", "2h") into nanoseconds. */
int st_parse_duration(const char *s, int64_t *out);

#endif
