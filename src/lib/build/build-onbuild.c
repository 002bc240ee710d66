/* build-onbuild.c: ONBUILD triggers of a base image run right after the FROM that uses it, as
 * in Docker, and the new image has none of them. The triggers are spliced into the Dockerfile's
 * text after that FROM line and the whole is parsed and evaluated again, so a trigger sees the
 * stage's ARGs and ENV exactly as a written instruction would; messages about a trigger name
 * the FROM's line, and the lines after it keep their numbers. */
#include "build/build-internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h" /* last: it poisons names the system headers use */

struct splice {
	int line;            /* the FROM's last line in the original text */
	struct st_strv trig; /* its base image's triggers */
};

static int from_instr(const struct bctx *b, int stage)
{
	for (size_t k = 0; k < b->ev->n_instrs; k++)
		if (b->ev->instrs[k].stage == stage && b->ev->instrs[k].instr->cmd == ST_DF_FROM)
			return (int)k;
	return -1;
}

/* Checks a trigger as Docker does: no FROM, ONBUILD or MAINTAINER. */
static int check_trigger(struct bctx *b, int line, const char *base, const char *t)
{
	static const char *const bad[] = {"FROM", "ONBUILD", "MAINTAINER"};
	size_t n = strcspn(t, " \t");

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (n == strlen(bad[i]) && strncasecmp(t, bad[i], n) == 0)
			return st_error_set(b->err, ST_EINVALID,
			                    "%s:%d: FROM %s: %s is not allowed as an ONBUILD "
			                    "trigger",
			                    b->df->name, line, base, bad[i]);
	return 0;
}

/* The triggers of every needed stage's base image, in line order. Bases that cannot be opened
 * are left to the FROM step, which reports them; the others are kept for it (opening an image
 * twice was a tenth of a fully cached build), so triggers and FROM see the same image. */
static int collect(struct bctx *b, struct splice *sp, size_t *n_sp)
{
	int rc = 0;

	*n_sp = 0;
	for (size_t i = 0; i < b->ev->n_stages && rc == 0; i++) {
		const struct st_df_stage *sd = &b->ev->stages[i];
		struct st_image *img = &b->stages[i].base;
		int k = from_instr(b, (int)i);
		if (!b->needed[i] || sd->base_stage >= 0 || k < 0 ||
		    strcasecmp(sd->base, "scratch") == 0)
			continue;
		if (build_open_image(b, sd->base, img) < 0) {
			if (b->err)
				*b->err = (struct st_error)ST_ERROR_INIT;
			continue;
		}
		b->stages[i].base_open = true;
		sp[*n_sp].line = b->ev->instrs[k].instr->end_line;
		for (size_t t = 0; img->config.on_build.v && t < img->config.on_build.n && rc == 0;
		     t++) {
			const char *trig = img->config.on_build.v[t];
			rc = check_trigger(b, b->ev->instrs[k].instr->start_line, sd->base, trig);
			if (rc == 0)
				rc = st_strv_push(&sp[*n_sp].trig, trig, strlen(trig), b->err);
		}
		if (sp[*n_sp].trig.n)
			(*n_sp)++;
		else
			st_strv_release(&sp[*n_sp].trig);
	}
	return rc;
}

static int count_lines(const char *s)
{
	int n = 1;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* The original text with every splice's triggers after its line. */
static int splice_text(struct bctx *b, const struct splice *sp, size_t n_sp, struct st_buf *out)
{
	const char *p = b->text.data, *end = p + b->text.len;
	size_t next = 0;
	int line = 1, rc = 0;

	while (p < end && rc == 0) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		rc = st_buf_add(out, p, len, b->err);
		if (rc == 0)
			rc = st_buf_add(out, "\n", 1, b->err);
		for (; rc == 0 && next < n_sp && sp[next].line == line; next++)
			for (size_t t = 0; t < sp[next].trig.n && rc == 0; t++)
				rc = st_buf_addf(out, b->err, "%s\n", sp[next].trig.v[t]);
		p += len + (nl ? 1 : 0);
		line++;
	}
	return rc;
}

/* Maps a line of the spliced text back: a trigger's line is its FROM's. */
static int original_line(const struct splice *sp, size_t n_sp, int l)
{
	int off = 0;

	for (size_t i = 0; i < n_sp; i++) {
		int n = 0;
		for (size_t t = 0; t < sp[i].trig.n; t++)
			n += count_lines(sp[i].trig.v[t]);
		if (l <= sp[i].line + off)
			break;
		if (l <= sp[i].line + off + n)
			return sp[i].line;
		off += n;
	}
	return l - off;
}

static int reparse(struct bctx *b, const struct splice *sp, size_t n_sp)
{
	struct st_buf text = ST_BUF_INIT;
	struct st_df_eval_opts eo = {.build_args = &b->bargs};
	struct st_dockerfile *df = NULL;
	struct st_df_eval *ev = NULL;
	int rc = splice_text(b, sp, n_sp, &text);

	if (rc == 0)
		rc = st_dockerfile_parse(text.data, text.len, b->dfname, 0, &df, b->err);
	if (rc == 0)
		rc = st_df_eval_run(df, &eo, &ev, b->err);
	st_buf_release(&text);
	if (rc < 0 || ev->n_stages != b->ev->n_stages) {
		st_df_eval_free(ev);
		st_dockerfile_free(df);
		return rc < 0 ? rc
		              : st_error_set(b->err, ST_EINVALID,
		                             "%s: ONBUILD trigger adds a stage", b->df->name);
	}
	/* the arena's instructions are ours: give them the original text's line numbers */
	for (size_t k = 0; k < df->n_instrs; k++) {
		struct st_df_instr *in = (struct st_df_instr *)&df->instrs[k];
		int span = in->end_line - in->start_line;
		in->start_line = original_line(sp, n_sp, in->start_line);
		in->end_line = in->start_line + span;
	}
	st_df_eval_free(b->ev);
	st_dockerfile_free(b->df);
	b->ev = ev;
	b->df = df;
	return 0;
}

int build_onbuild(struct bctx *b)
{
	struct splice *sp = calloc(b->ev->n_stages, sizeof(*sp));
	size_t n_sp = 0;
	int rc;

	if (!sp)
		return st_error_set(b->err, ST_ENOMEM, "out of memory");
	rc = collect(b, sp, &n_sp);
	if (rc == 0 && n_sp)
		rc = reparse(b, sp, n_sp);
	for (size_t i = 0; i < b->ev->n_stages; i++)
		st_strv_release(&sp[i].trig);
	free(sp);
	return rc;
}
