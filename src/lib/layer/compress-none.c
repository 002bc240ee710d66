/* layer/compress-none.c: the identity compressor, for uncompressed (OCI tar) layers. */
#include <stdio.h>
#include <stdlib.h>

#include "layer/layer-internal.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

static int none_write(struct layer_compressor *c, const void *p, size_t len, struct st_error *err)
{
	return c->out.fn(c->out.ctx, p, len, err);
}

static int none_finish(struct layer_compressor *c, struct st_error *err)
{
	(void)c;
	(void)err;
	return 0;
}

static void none_free(struct layer_compressor *c)
{
	free(c);
}

int layer_none_new(const struct layer_emit *out, struct layer_compressor **res,
                   struct st_error *err)
{
	struct layer_compressor *c = calloc(1, sizeof(*c));

	if (!c)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	c->write = none_write;
	c->finish = none_finish;
	c->free = none_free;
	c->out = *out;
	(void)snprintf(c->name, sizeof(c->name), "none");
	*res = c;
	return 0;
}
