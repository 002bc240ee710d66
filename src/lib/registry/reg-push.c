/* reg-push.c: `push`: every blob HEADed first and skipped when the registry has it, mounted from
 * another repository of the registry when it is known to live there, else uploaded (one PUT, or
 * PATCH chunks past the chunk size). The blobs of the image (of every manifest of an index, each
 * once) go up in parallel, `parallel` at once, each thread on its own connection, the largest
 * first; manifests go last, an index after the manifests it names. A manifest with a `subject` is
 * listed under the referrers tag schema when the registry has no referrers API. */
#include "registry/reg-curl.h"

#include <stdlib.h>
#include <string.h>

#include "strata/archive.h"
#include "strata/image.h"
#include "strata/ref.h"
#include "util/cleanup.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

struct blob_job {
	struct st_descriptor desc;
	enum st_reg_kind kind;
};

/* A manifest or index to put once the blobs are up. */
struct doc {
	struct st_descriptor desc;
	struct st_buf body;
	char *reference; /* tag, or digest */
};

struct push {
	struct st_reg_client *c;
	struct st_store *store;
	const char *repo; /* destination path */
	const char *domain;
	char *repo_name; /* "domain/path" */
	struct blob_job *blobs;
	size_t n_blobs;
	struct doc *docs;
	size_t n_docs;
	/* the parallel upload: jobs taken in `order`; the first failure stops the others */
	size_t *order;
	atomic_size_t next;
	atomic_bool stop;
	pthread_mutex_t lock;
	int rc;
	struct st_error err;
};

static void push_release(struct push *p)
{
	for (size_t i = 0; i < p->n_blobs; i++)
		st_descriptor_release(&p->blobs[i].desc);
	for (size_t i = 0; i < p->n_docs; i++) {
		st_descriptor_release(&p->docs[i].desc);
		st_buf_release(&p->docs[i].body);
		free(p->docs[i].reference);
	}
	free(p->blobs);
	free(p->docs);
	free(p->order);
	free(p->repo_name);
}

/* One request of this push, on handle h (NULL: the client's), with push (and pull) scope. */
static int request(struct push *p, CURL *h, struct st_reg_req *rq, struct st_reg_resp *rs,
                   const char *scope_extra, struct st_error *err)
{
	cleanup_buf struct st_buf scope = ST_BUF_INIT;

	if (st_reg_scope(p->repo, "pull,push", &scope, err) < 0 ||
	    (scope_extra && st_buf_addf(&scope, err, " %s", scope_extra) < 0))
		return -ST_ENOMEM;
	rq->scope = scope.data;
	rq->repo = p->repo;
	rq->cancel = &p->stop;
	return st_reg_do_on(p->c, h, rq, rs, err);
}

static int blob_exists(struct push *p, CURL *h, const char *dg, bool *out, struct st_error *err)
{
	cleanup_buf struct st_buf url = ST_BUF_INIT;
	struct st_reg_req rq = ST_REG_REQ_INIT;
	struct st_reg_resp rs = {0};
	int rc;

	if (st_buf_addf(&url, err, "/v2/%s/blobs/%s", p->repo, dg) < 0)
		return -ST_ENOMEM;
	rq.method = "HEAD";
	rq.url = url.data;
	rq.what = dg;
	rc = request(p, h, &rq, &rs, NULL, err);
	if (rc == 0 && rs.status != 200 && rs.status != 404)
		rc = st_reg_status_error(p->c, &rq, &rs, err);
	*out = rs.status == 200;
	st_reg_resp_release(&rs);
	return rc;
}

/* POST an upload session (a mount attempt when `from` is set): 201 mounted, 202 Location. */
static int start_upload(struct push *p, CURL *h, const char *dg, const char *from, bool *mounted,
                        char **location, struct st_error *err)
{
	cleanup_buf struct st_buf url = ST_BUF_INIT, extra = ST_BUF_INIT;
	struct st_reg_req rq = ST_REG_REQ_INIT;
	struct st_reg_resp rs = {0};
	int rc;

	if (st_buf_addf(&url, err, "/v2/%s/blobs/uploads/", p->repo) < 0 ||
	    (from && (st_buf_addf(&url, err, "?mount=%s&from=%s", dg, from) < 0 ||
	              st_reg_scope(from, "pull", &extra, err) < 0)))
		return -ST_ENOMEM;
	rq.method = "POST";
	rq.url = url.data;
	rq.what = dg;
	rc = request(p, h, &rq, &rs, from ? extra.data : NULL, err);
	*mounted = rc == 0 && rs.status == 201 && from;
	if (rc == 0 && !*mounted && rs.status != 202)
		rc = st_reg_status_error(p->c, &rq, &rs, err);
	if (rc == 0 && !*mounted) {
		if (!rs.location)
			rc = st_error_set(err, ST_ENET, "registry %s: upload of %s: no Location",
			                  p->domain, dg);
		else
			*location = take_ptr(&rs.location);
	}
	st_reg_resp_release(&rs);
	return rc;
}

/* Sends fd[off..off+len) to the upload at *location; PUT (with `query`) or PATCH. */
static int send_part(struct push *p, CURL *h, const struct blob_job *b, int fd, uint64_t off,
                     uint64_t len, const char *query, char **location, struct st_error *err)
{
	cleanup_buf struct st_buf url = ST_BUF_INIT;
	struct st_reg_req rq = ST_REG_REQ_INIT;
	struct st_reg_resp rs = {0};
	char dg[ST_DIGEST_STR_MAX], range[48];
	bool put = query != NULL;
	int rc;

	st_digest_str(&b->desc.digest, dg);
	if (st_reg_upload_url("", *location, query, &url, err) < 0)
		return -ST_ENOMEM;
	rq.method = put ? "PUT" : "PATCH";
	rq.url = url.data;
	rq.what = dg;
	rq.body_fd = fd;
	rq.fd_offset = off;
	rq.fd_len = len;
	rq.digest = &b->desc.digest;
	rq.kind = b->kind;
	rq.content_type = "application/octet-stream";
	if (!put && len > 0) {
		snprintf(range, sizeof(range), "%llu-%llu", (unsigned long long)off,
		         (unsigned long long)(off + len - 1));
		rq.content_range = range;
	}
	rc = request(p, h, &rq, &rs, NULL, err);
	if (rc == 0 && rs.status != (put ? 201 : 202))
		rc = st_reg_status_error(p->c, &rq, &rs, err);
	if (rc == 0 && !put && rs.location) {
		free(*location);
		*location = take_ptr(&rs.location);
	}
	st_reg_resp_release(&rs);
	return rc;
}

static int upload(struct push *p, CURL *h, const struct blob_job *b, char **location,
                  struct st_error *err)
{
	cleanup_fd int fd = -1;
	cleanup_buf struct st_buf q = ST_BUF_INIT;
	uint64_t chunk = st_reg_client_conf(p->c)->chunk_size, off = 0, size = b->desc.size;
	char dg[ST_DIGEST_STR_MAX];
	int rc = st_store_open_blob(p->store, &b->desc.digest, &fd, err);

	if (rc < 0)
		return rc;
	st_digest_str(&b->desc.digest, dg);
	if (st_buf_adds(&q, "digest=", err) < 0 || st_reg_urlencode(dg, &q, err) < 0)
		return -ST_ENOMEM;
	if (size <= chunk)
		return send_part(p, h, b, fd, 0, size, q.data, location, err);
	for (; off < size; off += chunk) {
		uint64_t len = size - off < chunk ? size - off : chunk;
		rc = send_part(p, h, b, fd, off, len, NULL, location, err);
		if (rc < 0)
			return rc;
	}
	return send_part(p, h, b, fd, 0, 0, q.data, location, err);
}

static int push_blob(struct push *p, CURL *h, const struct blob_job *b, struct st_error *err)
{
	cleanup_buf struct st_buf from = ST_BUF_INIT;
	cleanup_free char *location = NULL;
	const struct st_descriptor *d = &b->desc;
	char dg[ST_DIGEST_STR_MAX];
	bool have = false, mounted = false;
	int rc;

	st_digest_str(&d->digest, dg);
	rc = blob_exists(p, h, dg, &have, err);
	if (rc < 0)
		return rc;
	if (have) {
		st_reg_report(p->c, ST_REG_EXISTS, b->kind, &d->digest, d->size, d->size);
		st_reg_sources_add(p->store, &d->digest, p->repo_name);
		return 0;
	}
	if (st_reg_sources_find(p->store, &d->digest, p->domain, p->repo, &from, NULL) < 0)
		st_buf_reset(&from);
	rc = start_upload(p, h, dg, from.len ? from.data : NULL, &mounted, &location, err);
	if (rc == 0 && !mounted) {
		st_reg_report(p->c, ST_REG_UPLOADING, b->kind, &d->digest, 0, d->size);
		rc = upload(p, h, b, &location, err);
	}
	if (rc < 0)
		return rc;
	st_reg_report(p->c, mounted ? ST_REG_MOUNTED : ST_REG_DONE, b->kind, &d->digest, d->size,
	              d->size);
	st_reg_sources_add(p->store, &d->digest, p->repo_name);
	return 0;
}

/* ---- the blobs, in parallel ---- */

/* Takes jobs until none is left or one failed; h NULL is the client's own handle. */
static void run_jobs(struct push *p, CURL *h)
{
	struct st_error err = ST_ERROR_INIT;

	while (!atomic_load(&p->stop)) {
		size_t i = atomic_fetch_add(&p->next, 1);
		int rc;

		if (i >= p->n_blobs)
			return;
		rc = push_blob(p, h, &p->blobs[p->order[i]], &err);
		if (rc < 0) {
			pthread_mutex_lock(&p->lock);
			if (p->rc == 0) { /* the first failure; the others were cancelled by it */
				p->rc = rc;
				p->err = err;
			}
			atomic_store(&p->stop, true);
			pthread_mutex_unlock(&p->lock);
			return;
		}
	}
}

static void *worker(void *arg)
{
	struct push *p = arg;
	CURL *h = curl_easy_init();

	if (h)
		run_jobs(p, h);
	curl_easy_cleanup(h);
	return NULL;
}

/* Largest first: the longest upload starts at once, small ones fill in beside it. */
static int make_order(struct push *p, struct st_error *err)
{
	p->order = calloc(p->n_blobs ? p->n_blobs : 1, sizeof(*p->order));
	if (!p->order)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	for (size_t i = 0; i < p->n_blobs; i++) {
		size_t j = i;
		for (; j > 0 && p->blobs[p->order[j - 1]].desc.size < p->blobs[i].desc.size; j--)
			p->order[j] = p->order[j - 1];
		p->order[j] = i;
	}
	return 0;
}

static int push_blobs(struct push *p, struct st_error *err)
{
	pthread_t threads[64];
	size_t want = st_reg_client_conf(p->c)->parallel, n_threads = 0;
	int rc = make_order(p, err);

	if (rc < 0)
		return rc;
	for (size_t i = 0; i < p->n_blobs; i++)
		st_reg_report(p->c, ST_REG_WAITING, p->blobs[i].kind, &p->blobs[i].desc.digest, 0,
		              p->blobs[i].desc.size);
	if (want > p->n_blobs)
		want = p->n_blobs;
	/* this thread is one of the `want` */
	for (; n_threads + 1 < want && n_threads < sizeof(threads) / sizeof(threads[0]);
	     n_threads++)
		if (pthread_create(&threads[n_threads], NULL, worker, p) != 0)
			break; /* fewer threads: the jobs still all run */
	run_jobs(p, NULL);
	for (size_t i = 0; i < n_threads; i++)
		pthread_join(threads[i], NULL);
	if (p->rc < 0 && err)
		*err = p->err;
	return p->rc;
}

/* ---- manifests ---- */

static int add_blob(struct push *p, const struct st_descriptor *d, enum st_reg_kind kind,
                    struct st_error *err)
{
	struct blob_job *v;

	for (size_t i = 0; i < p->n_blobs; i++)
		if (st_digest_equal(&p->blobs[i].desc.digest, &d->digest))
			return 0;
	v = realloc(p->blobs, (p->n_blobs + 1) * sizeof(*v));
	if (!v)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	p->blobs = v;
	v[p->n_blobs].kind = kind;
	if (st_descriptor_copy(&v[p->n_blobs].desc, d, err) < 0)
		return -ST_ENOMEM;
	p->n_blobs++;
	return 0;
}

/* Keeps a document to put under `reference` after the blobs (body taken). */
static int add_doc(struct push *p, const struct st_descriptor *d, struct st_buf *body,
                   const char *reference, struct st_error *err)
{
	struct doc *v = realloc(p->docs, (p->n_docs + 1) * sizeof(*v));

	if (!v)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	p->docs = v;
	memset(&v[p->n_docs], 0, sizeof(v[p->n_docs]));
	v[p->n_docs].body = (struct st_buf)ST_BUF_INIT;
	if (st_descriptor_copy(&v[p->n_docs].desc, d, err) < 0 ||
	    !(v[p->n_docs].reference = strdup(reference))) {
		st_descriptor_release(&v[p->n_docs].desc);
		return st_error_set(err, ST_ENOMEM, "out of memory");
	}
	st_buf_swap(&v[p->n_docs].body, body);
	p->n_docs++;
	return 0;
}

/* A manifest: its config and layers to upload, itself to put under `reference`. */
static int add_manifest(struct push *p, const struct st_descriptor *d, const char *reference,
                        struct st_error *err)
{
	cleanup_buf struct st_buf body = ST_BUF_INIT;
	struct st_manifest m;
	int rc = st_image_read(p->store, d, ST_MAX_MANIFEST_SIZE, &body, err);

	if (rc < 0)
		return rc;
	rc = st_manifest_parse(body.data, body.len, d->media_type, &m, err);
	if (rc < 0)
		return rc;
	rc = add_blob(p, &m.config, ST_REG_BLOB_CONFIG, err);
	for (size_t i = 0; rc == 0 && i < m.n_layers; i++)
		rc = add_blob(p, &m.layers[i], ST_REG_BLOB_LAYER, err);
	st_manifest_release(&m);
	return rc < 0 ? rc : add_doc(p, d, &body, reference, err);
}

/* An index: every manifest it names (by digest), then itself under `reference`. */
static int add_index(struct push *p, const struct st_descriptor *d, const char *reference,
                     struct st_error *err)
{
	cleanup_buf struct st_buf body = ST_BUF_INIT;
	struct st_index ix;
	char dg[ST_DIGEST_STR_MAX];
	int rc = st_image_read(p->store, d, ST_MAX_MANIFEST_SIZE, &body, err);

	if (rc < 0 || (rc = st_index_parse(body.data, body.len, d->media_type, &ix, err)) < 0)
		return rc;
	for (size_t i = 0; rc == 0 && i < ix.n_manifests; i++) {
		st_digest_str(&ix.manifests[i].digest, dg);
		if (!st_store_has_blob(p->store, &ix.manifests[i].digest))
			rc = st_error_set(err, ST_ENOTFOUND,
			                  "the index names manifest %s, which is not in the store "
			                  "(pull it with --all-platforms first)",
			                  dg);
		else if (st_manifest_kind_is_index(st_manifest_kind_of(ix.manifests[i].media_type)))
			rc = st_error_set(err, ST_EUNSUPPORTED,
			                  "the index names index %s: nested "
			                  "indexes are not pushed",
			                  dg);
		else
			rc = add_manifest(p, &ix.manifests[i], dg, err);
	}
	st_index_release(&ix);
	return rc < 0 ? rc : add_doc(p, d, &body, reference, err);
}

/* PUT of a manifest or index; then its subject's referrers list when the registry did not take
 * the subject itself. */
static int put_doc(struct push *p, const struct doc *doc, struct st_error *err)
{
	cleanup_buf struct st_buf url = ST_BUF_INIT;
	const struct st_descriptor *d = &doc->desc;
	struct st_reg_req rq = ST_REG_REQ_INIT;
	struct st_reg_resp rs = {0};
	struct st_digest got;
	char dg[ST_DIGEST_STR_MAX];
	int rc;

	st_digest_str(&d->digest, dg);
	if (st_buf_addf(&url, err, "/v2/%s/manifests/%s", p->repo, doc->reference) < 0)
		return -ST_ENOMEM;
	rq.method = "PUT";
	rq.url = url.data;
	rq.what = dg;
	rq.body = doc->body.data;
	rq.body_len = doc->body.len;
	rq.content_type = d->media_type;
	rc = request(p, NULL, &rq, &rs, NULL, err);
	if (rc == 0 && rs.status != 201)
		rc = st_reg_status_error(p->c, &rq, &rs, err);
	if (rc == 0 && rs.docker_digest && st_digest_parse_str(rs.docker_digest, &got, NULL) == 0 &&
	    !st_digest_equal(&got, &d->digest))
		rc = st_error_set(err, ST_EDIGEST, "registry %s: manifest %s stored as %s",
		                  p->domain, dg, rs.docker_digest);
	if (rc == 0)
		rc = st_reg_referrers_note(p->c, p->repo, d, &doc->body, rs.oci_subject != NULL,
		                           err);
	if (rc == 0)
		st_reg_report(p->c, ST_REG_DONE, ST_REG_BLOB_MANIFEST, &d->digest, d->size,
		              d->size);
	st_reg_resp_release(&rs);
	return rc;
}

/* True when the registry's tag already names exactly this digest: then every blob is there. */
static bool already_there(struct push *p, const struct st_descriptor *d, const char *reference)
{
	cleanup_buf struct st_buf url = ST_BUF_INIT;
	struct st_reg_req rq = ST_REG_REQ_INIT;
	struct st_reg_resp rs = {0};
	struct st_digest got;
	bool same;

	if (st_buf_addf(&url, NULL, "/v2/%s/manifests/%s", p->repo, reference) < 0)
		return false;
	rq.method = "HEAD";
	rq.url = url.data;
	rq.accept = d->media_type;
	same = request(p, NULL, &rq, &rs, NULL, NULL) == 0 && rs.status == 200 &&
	       rs.docker_digest && st_digest_parse_str(rs.docker_digest, &got, NULL) == 0 &&
	       st_digest_equal(&got, &d->digest);
	st_reg_resp_release(&rs);
	return same;
}

static int push_desc(struct push *p, const struct st_descriptor *d, const char *reference,
                     struct st_error *err)
{
	int rc;

	if (already_there(p, d, reference)) {
		st_reg_report(p->c, ST_REG_EXISTS, ST_REG_BLOB_MANIFEST, &d->digest, d->size,
		              d->size);
		return 0;
	}
	if (st_manifest_kind_is_index(st_manifest_kind_of(d->media_type)))
		rc = add_index(p, d, reference, err);
	else
		rc = add_manifest(p, d, reference, err);
	if (rc == 0)
		rc = push_blobs(p, err);
	for (size_t i = 0; rc == 0 && i < p->n_docs; i++)
		rc = put_doc(p, &p->docs[i], err);
	return rc;
}

/* The manifest to send: the image with its plain-tar layers compressed, unless told not to. */
static int to_send(struct st_store *store, const struct st_descriptor *d,
                   const struct st_registry_opts *opts, struct st_descriptor *out,
                   struct st_error *err)
{
	if (opts && opts->push_compression == ST_LAYER_COMPRESS_NONE)
		return st_descriptor_copy(out, d, err);
	return st_image_compress(store, d, opts ? opts->push_compression : ST_LAYER_COMPRESS_GZIP,
	                         out, err);
}

int st_registry_push(struct st_store *store, const char *src, const char *dest,
                     const struct st_registry_opts *opts, struct st_digest *out_digest,
                     struct st_error *err)
{
	struct push p = {0};
	struct st_descriptor local = {0}, d = {0};
	struct st_ref r;
	char ref[ST_DIGEST_STR_MAX];
	bool leased = false;
	int rc = st_ref_parse(dest ? dest : src, &r, err);

	if (rc < 0)
		return rc;
	pthread_mutex_init(&p.lock, NULL);
	rc = st_image_lookup(store, src, &local, err);
	if (rc == -ST_ENOTFOUND && err && !err->msg[0])
		st_error_set(err, ST_ENOTFOUND, "no image '%s' in the store", src);
	/* the compressed manifest is referenced by nothing in the store: gc waits for the push */
	if (rc == 0 && (rc = st_store_lease(store, err)) == 0)
		leased = true;
	if (rc == 0)
		rc = to_send(store, &local, opts, &d, err);
	if (rc == 0 && r.has_digest && !st_digest_equal(&r.digest, &d.digest))
		rc = st_error_set(err, ST_EINVALID, "destination digest does not match the image");
	if (rc == 0)
		rc = st_reg_client_new(r.domain, opts, &p.c, err);
	if (rc == 0) {
		p.store = store;
		p.repo = r.path;
		p.domain = r.domain;
		p.repo_name = malloc(strlen(r.domain) + strlen(r.path) + 2);
		if (!p.repo_name)
			rc = st_error_set(err, ST_ENOMEM, "out of memory");
	}
	if (rc == 0) {
		snprintf(p.repo_name, strlen(r.domain) + strlen(r.path) + 2, "%s/%s", r.domain,
		         r.path);
		st_digest_str(&d.digest, ref);
		rc = push_desc(&p, &d, r.tag ? r.tag : ref, err);
	}
	if (rc == 0 && out_digest)
		*out_digest = d.digest;
	push_release(&p);
	pthread_mutex_destroy(&p.lock);
	st_reg_client_free(p.c);
	if (leased)
		st_store_unlease(store);
	st_descriptor_release(&d);
	st_descriptor_release(&local);
	st_ref_release(&r);
	return rc;
}
