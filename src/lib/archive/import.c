/* import.c: a root filesystem (directory or tarball) becomes a one-layer image. A tarball is
 * first extracted by the layer module's safe extractor into the store's tmp/, so a corrupt or
 * hostile archive fails before anything is stored, and the layer written from the directory is
 * deterministic whatever order or metadata the tarball had. */
#include "strata/archive.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "build/build-config.h"
#include "strata/dockerfile.h"
#include "strata/image.h"
#include "util/cleanup.h"
#include "util/fs.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

static int sink_write(void *ctx, const void *p, size_t len, struct st_error *err)
{
	return st_blob_writer_write(ctx, p, len, err);
}

static void rfc3339(int64_t secs, char out[32])
{
	time_t t = (time_t)secs;
	struct tm tm;

	gmtime_r(&t, &tm);
	(void)strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Writes the layer of directory `dir` into the store; *out describes it. */
static int write_layer(struct st_store *s, const char *dir, const struct st_layer_create_opts *lo,
                       struct st_descriptor *out, struct st_digest *diff_id, struct st_error *err)
{
	struct st_blob_writer *w = NULL;
	struct st_layer_sink sink;
	struct st_layer_result res;
	struct st_descriptor d = {0};
	char level[16];
	int rc;

	rc = st_blob_writer_new(s, &w, err);
	if (rc < 0)
		return rc;
	st_blob_writer_trust(w); /* layer creation hashes its output */
	sink.write = sink_write;
	sink.ctx = w;
	rc = st_layer_create_from_diff(NULL, dir, lo, &sink, &res, err);
	if (rc == 0)
		rc = st_blob_writer_commit(w, &res.digest, NULL, err);
	st_blob_writer_free(w);
	if (rc < 0)
		return rc;
	d.digest = res.digest;
	d.size = res.size;
	d.media_type = strdup(res.media_type);
	(void)snprintf(level, sizeof(level), "%d", res.level);
	if (!d.media_type ||
	    st_descriptor_set_annotation(&d, ST_ANNOT_LAYER_COMPRESSOR, res.compressor, err) < 0 ||
	    st_descriptor_set_annotation(&d, ST_ANNOT_LAYER_LEVEL, level, err) < 0) {
		st_descriptor_release(&d);
		return st_error_set(err, ST_ENOMEM, "out of memory");
	}
	*out = d;
	*diff_id = res.diff_id;
	return 0;
}

static int apply_changes(struct st_image_config *c, const char *const *changes, size_t n,
                         struct st_error *err)
{
	struct st_buf text = ST_BUF_INIT;
	struct st_dockerfile *df = NULL;
	struct st_df_eval *ev = NULL;
	struct st_config_state state = {0};
	int rc;

	if (!n)
		return 0;
	rc = st_buf_adds(&text, "FROM scratch\n", err);
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (strchr(changes[i], '\n'))
			rc = st_error_set(err, ST_EINVALID, "--change \"%s\": one instruction only",
			                  changes[i]);
		else
			rc = st_buf_addf(&text, err, "%s\n", changes[i]);
	}
	if (rc == 0)
		rc = st_dockerfile_parse(text.data, text.len, "--change", 0, &df, err);
	if (rc == 0)
		rc = st_dockerfile_validate(df, err);
	if (rc == 0)
		rc = st_df_eval_run(df, NULL, &ev, err);
	for (size_t i = 1; rc == 0 && i < ev->n_instrs; i++) {
		const struct st_df_eval_instr *ei = &ev->instrs[i];
		switch (ei->instr->cmd) {
		case ST_DF_CMD:
		case ST_DF_ENTRYPOINT:
		case ST_DF_ENV:
		case ST_DF_EXPOSE:
		case ST_DF_HEALTHCHECK:
		case ST_DF_LABEL:
		case ST_DF_ONBUILD:
		case ST_DF_STOPSIGNAL:
		case ST_DF_USER:
		case ST_DF_VOLUME:
		case ST_DF_WORKDIR:
			rc = st_config_apply_instr(c, df, ei, &state, err);
			break;
		default:
			rc = st_error_set(err, ST_EINVALID,
			                  "--change \"%s\": %s is not a change import can make",
			                  changes[i - 1], ei->instr->keyword);
		}
	}
	st_df_eval_free(ev);
	st_dockerfile_free(df);
	st_buf_release(&text);
	return rc;
}

static int make_image(struct st_store *s, const struct st_descriptor *layer,
                      const struct st_digest *diff_id, const struct st_import_opts *opts,
                      struct st_descriptor *out, struct st_error *err)
{
	struct st_image_config c;
	struct st_platform host;
	struct st_manifest m;
	struct st_history h = {0};
	char created[32];
	int rc;

	st_platform_host(&host);
	rfc3339(opts->layer.has_epoch ? opts->layer.source_date_epoch : (int64_t)time(NULL),
	        created);
	rc = st_image_config_init(&c, host.os, host.arch, host.variant[0] ? host.variant : NULL,
	                          err);
	if (rc < 0)
		return rc;
	st_manifest_init(&m, ST_KIND_OCI_MANIFEST);
	h.created = created;
	h.created_by = (char *)"strata import";
	h.comment = (char *)opts->message;
	if ((rc = st_image_config_set_created(&c, created, err)) == 0 &&
	    (rc = st_image_config_add_layer(&c, diff_id, &h, err)) == 0 &&
	    (rc = apply_changes(&c, opts->changes, opts->n_changes, err)) == 0 &&
	    (rc = st_manifest_add_layer(&m, layer, err)) == 0)
		rc = st_image_write(s, &c, &m, out, err);
	st_manifest_release(&m);
	st_image_config_release(&c);
	return rc;
}

/* Extracts the tarball at path (or fd) into a fresh directory under tmp/; *out_dir is its
 * path. */
static int extract_tar(struct st_store *s, const char *path, int fd, char **out_dir,
                       struct st_error *err)
{
	struct st_layer_apply_opts ao = {.mode = ST_LAYER_APPLY_FLAT};
	struct st_buf dir = ST_BUF_INIT;
	cleanup_fd int own = -1;
	char rnd[17];
	int rc;

	if (path) {
		own = open(path, O_RDONLY | O_CLOEXEC);
		if (own < 0)
			return st_error_sys(err, "open '%s'", path);
		fd = own;
	}
	rc = st_random_hex(rnd, 8, err);
	if (rc == 0)
		rc = st_buf_addf(&dir, err, "%s/tmp/import-%s", st_store_root(s), rnd);
	if (rc == 0)
		rc = st_layer_extract_new(dir.data, fd, &ao, NULL, err);
	if (rc < 0) {
		st_buf_release(&dir);
		return path ? st_error_wrap(err, "'%s'", path) : rc;
	}
	*out_dir = st_buf_detach(&dir, NULL);
	return 0;
}

int st_import(struct st_store *s, const char *path, int fd, const struct st_import_opts *opts,
              struct st_descriptor *out, struct st_error *err)
{
	struct st_descriptor layer = {0}, img = {0};
	struct st_digest diff_id;
	cleanup_free char *tmpdir = NULL;
	const char *src = path;
	struct stat st;
	int rc;

	if (path && stat(path, &st) < 0)
		return st_error_sys(err, "'%s'", path);
	rc = st_store_lease(s, err);
	if (rc < 0)
		return rc;
	if (!path || !S_ISDIR(st.st_mode)) {
		rc = extract_tar(s, path, fd, &tmpdir, err);
		src = tmpdir;
	}
	if (rc == 0)
		rc = write_layer(s, src, &opts->layer, &layer, &diff_id, err);
	if (rc == 0)
		rc = make_image(s, &layer, &diff_id, opts, &img, err);
	if (rc == 0)
		rc = st_store_tag(s, NULL, &img, err);
	if (tmpdir)
		(void)st_layer_remove_tree(tmpdir, NULL);
	st_store_unlease(s);
	st_descriptor_release(&layer);
	if (rc < 0) {
		st_descriptor_release(&img);
		return rc;
	}
	*out = img;
	return 0;
}
