/* build-heredoc.c: `COPY <<EOF /dst` (and ADD): every heredoc of the instruction becomes a file
 * named by its delimiter in a fresh directory of the build, which is then the step's source
 * root, so the key and the copy treat it as any context file (content digest, never times). */
#include "build/build-internal.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fs.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

/* The file of one heredoc: its body as the evaluator made it (tabs stripped for <<-,
 * variables expanded unless the delimiter was quoted). */
static int write_one(struct bctx *b, int dfd, const struct st_df_heredoc *hd, const char *data,
                     const char *where)
{
	cleanup_fd int fd = -1;
	int rc;

	if (!*hd->name || strchr(hd->name, '/') || strcmp(hd->name, ".") == 0 ||
	    strcmp(hd->name, "..") == 0)
		return st_error_set(b->err, ST_EINVALID, "%s: heredoc name '%s' is not a file name",
		                    where, hd->name);
	fd = openat(dfd, hd->name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0664);
	if (fd < 0)
		return st_error_sys(b->err, "%s: heredoc '%s'", where, hd->name);
	rc = st_write_all(fd, data, strlen(data), b->err);
	if (rc == 0 && fchmod(fd, 0664) < 0) /* not the umask's */
		rc = st_error_sys(b->err, "chmod heredoc '%s'", hd->name);
	return rc;
}

int build_heredoc_srcs(struct bctx *b, const struct st_df_eval_instr *ei, const char *where,
                       char **out_dir, struct st_strv *out_args)
{
	const struct st_df_instr *in = ei->instr;
	cleanup_fd int dfd = -1;
	size_t k = 0;
	int rc = build_fresh_dir(b, "heredoc", out_dir);

	if (rc < 0)
		return rc;
	dfd = open(*out_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return st_error_sys(b->err, "open '%s'", *out_dir);
	for (size_t i = 0; i < ei->args.n && rc == 0; i++) {
		const char *a = ei->args.v[i];
		if (i + 1 == ei->args.n) {
			rc = st_strv_push(out_args, a, strlen(a), b->err);
			break;
		}
		if (strncmp(a, "<<", 2) != 0 || k >= in->n_heredocs || k >= ei->heredocs.n)
			return st_error_set(b->err, ST_EUNSUPPORTED,
			                    "%s: %s: heredocs and other sources in one instruction",
			                    where, a);
		rc = write_one(b, dfd, &in->heredocs[k], ei->heredocs.v[k], where);
		if (rc == 0)
			rc = st_strv_push(out_args, in->heredocs[k].name,
			                  strlen(in->heredocs[k].name), b->err);
		k++;
	}
	return rc;
}
