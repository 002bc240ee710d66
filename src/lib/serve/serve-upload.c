/* serve-upload.c: upload sessions. Each session owns a store handle, a blob writer and a stream
 * of the server's hasher pool: the bytes go to an unnamed O_TMPFILE and, once written, to the
 * pool (which hashes concurrent uploads together, digest-pool.c), and become a blob only when
 * the final PUT's digest matches the hash of exactly the bytes written. The writer takes the
 * store's lease only at the commit (the temporary is invisible to gc), so an open session never
 * holds gc back; the lease covers the naming of the blob and the writing of its link. A session
 * idle past opts.upload_idle is dropped, and a stopped server drops them all, which leaves nothing
 * behind (the kernel frees an unlinked inode). */
#include "serve/serve-internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/fs.h"

#include "util/banned.h"

#define SRV_MAX_BLOB_SIZE (UINT64_C(1) << 40) /* 1 TiB */

static void upload_free(struct srv_upload *up)
{
	if (!up)
		return;
	if (up->buf)
		st_digest_pool_submit(up->hs, up->buf, 0);
	st_digest_pool_close(up->hs);
	st_blob_writer_free(up->w);
	st_store_free(up->store);
	free(up);
}

/* Drops idle sessions; called with up_mu held. */
static void expire_locked(struct st_server *srv, time_t now)
{
	for (size_t i = 0; i < srv->n_ups_max; i++) {
		struct srv_upload *up = srv->ups[i];
		if (up && !up->busy && now - up->last_used > (time_t)srv->opts.upload_idle) {
			srv->ups[i] = NULL;
			upload_free(up);
		}
	}
}

static int slot_locked(struct st_server *srv)
{
	for (size_t i = 0; i < srv->n_ups_max; i++)
		if (!srv->ups[i])
			return (int)i;
	return -1;
}

int srv_upload_create(struct st_server *srv, const char *repo, struct srv_upload **out,
                      struct st_error *err)
{
	struct srv_upload *up = calloc(1, sizeof(*up));
	int rc, slot;

	if (!up)
		return st_error_set(err, ST_ENOMEM, "upload session");
	rc = st_random_hex(up->id, SRV_UPLOAD_ID_LEN / 2, err);
	if (rc == 0)
		rc = st_store_open(st_store_root(srv->store), &up->store, err);
	if (rc == 0)
		rc = st_blob_writer_open(
		        up->store, ST_BLOB_WRITER_OPEN_LEASE_AT_COMMIT | ST_BLOB_WRITER_OPEN_DIRECT,
		        &up->w, err);
	if (rc == 0) {
		st_blob_writer_trust(up->w); /* up->hs hashes what is written */
		rc = st_digest_pool_open(srv->hashers, &up->hs, err);
	}
	if (rc < 0) {
		upload_free(up);
		return rc;
	}
	snprintf(up->repo, sizeof(up->repo), "%s", repo);
	up->sm.max = SRV_MAX_BLOB_SIZE;
	up->busy = true;
	up->last_used = time(NULL);
	pthread_mutex_lock(&srv->up_mu);
	expire_locked(srv, up->last_used);
	slot = srv->stopped ? -1 : slot_locked(srv);
	if (slot >= 0)
		srv->ups[slot] = up;
	pthread_mutex_unlock(&srv->up_mu);
	if (slot < 0) {
		upload_free(up);
		return st_error_set(err, ST_ELIMIT, "too many uploads in progress");
	}
	*out = up;
	return 0;
}

/* The session `id` of `repo`, or NULL; under up_mu. */
static struct srv_upload *find_locked(struct st_server *srv, const char *repo, const char *id)
{
	for (size_t i = 0; i < srv->n_ups_max; i++) {
		struct srv_upload *up = srv->ups[i];
		if (up && strcmp(up->id, id) == 0 && strcmp(up->repo, repo) == 0)
			return up;
	}
	return NULL;
}

int srv_upload_acquire(struct st_server *srv, const char *repo, const char *id,
                       struct srv_upload **out)
{
	struct srv_upload *up;
	int rc = -ST_ENOTFOUND;

	pthread_mutex_lock(&srv->up_mu);
	up = find_locked(srv, repo, id);
	if (up && up->busy) {
		rc = -ST_EBUSY;
	} else if (up) {
		up->busy = true;
		*out = up;
		rc = 0;
	}
	pthread_mutex_unlock(&srv->up_mu);
	return rc;
}

int srv_upload_offset(struct st_server *srv, const char *repo, const char *id, uint64_t *out)
{
	struct srv_upload *up;

	pthread_mutex_lock(&srv->up_mu);
	up = find_locked(srv, repo, id);
	if (up)
		*out = __atomic_load_n(&up->sm.offset, __ATOMIC_ACQUIRE);
	pthread_mutex_unlock(&srv->up_mu);
	return up ? 0 : -ST_ENOTFOUND;
}

void srv_upload_release(struct st_server *srv, struct srv_upload *up)
{
	pthread_mutex_lock(&srv->up_mu);
	up->busy = false;
	up->last_used = time(NULL);
	pthread_mutex_unlock(&srv->up_mu);
}

void srv_upload_remove(struct st_server *srv, struct srv_upload *up)
{
	pthread_mutex_lock(&srv->up_mu);
	for (size_t i = 0; i < srv->n_ups_max; i++)
		if (srv->ups[i] == up)
			srv->ups[i] = NULL;
	pthread_mutex_unlock(&srv->up_mu);
	upload_free(up);
}

/* The gathered bytes to the file (O_DIRECT straight from the aligned buffer) and then the
 * buffer itself to the hasher: no copy on either side. Only bytes in the file are hashed; a
 * failed write ends the session. */
static int flush(struct srv_upload *up, struct st_error *err)
{
	int rc = up->fill ? st_blob_writer_write(up->w, up->buf, up->fill, err) : 0;

	st_digest_pool_submit(up->hs, up->buf, rc < 0 ? 0 : up->fill);
	up->buf = NULL;
	up->fill = 0;
	return rc;
}

int srv_upload_write(struct srv_upload *up, const void *p, size_t len, struct st_error *err)
{
	const unsigned char *q = p;

	while (len > 0) {
		size_t n;
		if (!up->buf && !(up->buf = st_digest_pool_buffer(up->hs)))
			return st_error_set(err, ST_ENOMEM, "out of memory for an upload");
		n = ST_DIGEST_POOL_BUF - up->fill < len ? ST_DIGEST_POOL_BUF - up->fill : len;
		memcpy(up->buf + up->fill, q, n);
		up->fill += n;
		q += n;
		len -= n;
		if (up->fill == ST_DIGEST_POOL_BUF) {
			int rc = flush(up, err);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

static int mismatch(const struct st_digest *want, const struct st_digest *got, struct st_error *err)
{
	char ws[ST_DIGEST_STR_MAX], gs[ST_DIGEST_STR_MAX];

	st_digest_str(want, ws);
	st_digest_str(got, gs);
	return st_error_set(err, ST_EDIGEST, "blob %s: content does not match its digest (got %s)",
	                    ws, gs);
}

int srv_upload_commit(struct st_server *srv, struct srv_upload *up, const struct st_digest *d,
                      struct st_error *err)
{
	struct st_digest got;
	int rc = up->buf ? flush(up, err) : 0;

	/* waits for the pool to hash the last bytes written; the trusted writer takes the digest
	 * only once it is the client's */
	st_digest_pool_final(up->hs, &got);
	if (rc == 0)
		rc = st_digest_equal(d, &got) ? 0 : mismatch(d, &got, err);
	/* the commit takes the session's lease, kept until the writer is freed: gc cannot run
	 * between the blob and its link */
	if (rc == 0)
		rc = st_blob_writer_commit(up->w, &got, NULL, err);
	if (rc == 0)
		rc = srv_link_write(srv->repos_fd, up->repo, SRV_LINK_LAYER, d, NULL, err);
	srv_upload_remove(srv, up);
	return rc;
}

void srv_upload_free_all(struct st_server *srv)
{
	pthread_mutex_lock(&srv->up_mu);
	for (size_t i = 0; i < srv->n_ups_max; i++) {
		upload_free(srv->ups[i]);
		srv->ups[i] = NULL;
	}
	pthread_mutex_unlock(&srv->up_mu);
}
