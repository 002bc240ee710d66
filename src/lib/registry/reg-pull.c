/* reg-pull.c: `pull`: resolve a reference to a manifest or index, choose the platform, fetch
 * the config and the missing layers in parallel (the largest layers extracted while they
 * download, reg-follow.c), then write the manifests (a manifest lands in the store only once its
 * blobs are there) and the tag. */
#include "registry/registry-internal.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "strata/image.h"
#include "strata/ref.h"
#include "strata/snapshot.h"
#include "util/cleanup.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

#define ACCEPT_MANIFESTS \
	ST_MT_OCI_INDEX ", " ST_MT_OCI_MANIFEST ", " ST_MT_DOCKER_LIST ", " ST_MT_DOCKER_MANIFEST

struct pull {
	struct st_reg_client *c;
	struct st_store *store;
	const char *repo;
	/* manifests to write once their blobs are in: bytes and descriptors */
	struct st_buf *docs;
	struct st_descriptor *doc_desc;
	size_t n_docs;
	struct st_reg_fetch *blobs;
	size_t n_blobs;
	bool artifact; /* the last manifest taken is an artifact (no image config) */
};

/* Waits for the layers extracted during the download (their failures are quiet: unpack makes
 * what is missing from the blobs, and reports). */
static void follow_end(struct pull *p)
{
	for (size_t i = 0; i < p->n_blobs; i++) {
		(void)st_reg_follow_free(p->blobs[i].follow);
		p->blobs[i].follow = NULL;
	}
}

static void pull_release(struct pull *p)
{
	follow_end(p);
	for (size_t i = 0; i < p->n_docs; i++) {
		st_buf_release(&p->docs[i]);
		st_descriptor_release(&p->doc_desc[i]);
	}
	for (size_t i = 0; i < p->n_blobs; i++)
		st_descriptor_release(&p->blobs[i].desc);
	free(p->docs);
	free(p->doc_desc);
	free(p->blobs);
}

void st_pull_result_release(struct st_pull_result *r)
{
	st_descriptor_release(&r->desc);
	free(r->name);
	memset(r, 0, sizeof(*r));
}

/* Checks the bytes against the digest the caller expects, or the one the registry claims. */
static int verify_doc(struct pull *p, const struct st_buf *body, const struct st_digest *want,
                      const char *claimed, const char *what, struct st_digest *out,
                      struct st_error *err)
{
	struct st_digest got, cl;
	char a[ST_DIGEST_STR_MAX], b[ST_DIGEST_STR_MAX];
	int rc =
	        st_digest_of(want ? want->alg : ST_DIGEST_SHA256, body->data, body->len, &got, err);

	if (rc < 0)
		return rc;
	if (!want && claimed && st_digest_parse_str(claimed, &cl, NULL) == 0) {
		if (cl.alg != got.alg && st_digest_of(cl.alg, body->data, body->len, &got, err) < 0)
			return -ST_ENOMEM;
		want = &cl;
	}
	if (want && !st_digest_equal(want, &got)) {
		st_digest_str(want, a);
		st_digest_str(&got, b);
		return st_error_set(err, ST_EDIGEST,
		                    "registry %s, repository %s: %s: content is %s, not %s",
		                    st_reg_client_domain(p->c), p->repo, what, b, a);
	}
	*out = got;
	return 0;
}

/* GETs a manifest or index by tag or digest; *kind, *digest describe what came. */
static int get_doc(struct pull *p, const char *reference, const struct st_digest *want,
                   struct st_buf *out, enum st_manifest_kind *kind, struct st_digest *digest,
                   struct st_error *err)
{
	cleanup_buf struct st_buf url = ST_BUF_INIT, scope = ST_BUF_INIT, what = ST_BUF_INIT;
	struct st_reg_req rq = ST_REG_REQ_INIT;
	struct st_reg_resp rs = {0};
	int rc;

	if (st_buf_addf(&url, err, "/v2/%s/manifests/%s", p->repo, reference) < 0 ||
	    st_reg_scope(p->repo, "pull", &scope, err) < 0 ||
	    st_buf_addf(&what, err, "manifest %s", reference) < 0)
		return -ST_ENOMEM;
	rq.method = "GET";
	rq.url = url.data;
	rq.scope = scope.data;
	rq.accept = ACCEPT_MANIFESTS;
	rq.max_body = ST_MAX_MANIFEST_SIZE;
	rq.repo = p->repo;
	rq.what = what.data;
	rc = st_reg_do(p->c, &rq, &rs, err);
	if (rc == 0 && rs.status != 200)
		rc = st_reg_status_error(p->c, &rq, &rs, err);
	if (rc == 0)
		rc = verify_doc(p, &rs.body, want, rs.docker_digest, what.data, digest, err);
	if (rc == 0 &&
	    (rc = st_manifest_detect(rs.body.data, rs.body.len, rs.content_type, kind, err)) < 0)
		rc = st_error_wrap(err, "registry %s, repository %s: %s",
		                   st_reg_client_domain(p->c), p->repo, what.data);
	if (rc == 0)
		st_buf_swap(out, &rs.body);
	st_reg_resp_release(&rs);
	return rc;
}

static int add_blob(struct pull *p, const struct st_descriptor *d, enum st_reg_kind kind,
                    struct st_error *err)
{
	struct st_reg_fetch *v;

	for (size_t i = 0; i < p->n_blobs; i++)
		if (st_digest_equal(&p->blobs[i].desc.digest, &d->digest))
			return 0;
	if (st_store_has_blob(p->store, &d->digest)) {
		st_reg_report(p->c, ST_REG_EXISTS, kind, &d->digest, d->size, d->size);
		return 0;
	}
	v = realloc(p->blobs, (p->n_blobs + 1) * sizeof(*v));
	if (!v)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	p->blobs = v;
	v[p->n_blobs].kind = kind;
	v[p->n_blobs].follow = NULL;
	if (st_descriptor_copy(&v[p->n_blobs].desc, d, err) < 0)
		return -ST_ENOMEM;
	p->n_blobs++;
	return 0;
}

/* Keeps a document to write later. */
static int keep_doc(struct pull *p, struct st_buf *body, const struct st_descriptor *d,
                    struct st_error *err)
{
	struct st_buf *docs = realloc(p->docs, (p->n_docs + 1) * sizeof(*docs));
	struct st_descriptor *dd;

	if (docs)
		p->docs = docs;
	dd = docs ? realloc(p->doc_desc, (p->n_docs + 1) * sizeof(*dd)) : NULL;
	if (!dd)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	p->doc_desc = dd;
	if (st_descriptor_copy(&dd[p->n_docs], d, err) < 0)
		return -ST_ENOMEM;
	docs[p->n_docs] = (struct st_buf)ST_BUF_INIT;
	st_buf_swap(&docs[p->n_docs], body);
	p->n_docs++;
	return 0;
}

/* A manifest: queue its config and layers, keep its bytes. */
static int take_manifest(struct pull *p, struct st_buf *body, const struct st_descriptor *d,
                         struct st_error *err)
{
	struct st_manifest m;
	char dg[ST_DIGEST_STR_MAX];
	int rc = st_manifest_parse(body->data, body->len, d->media_type, &m, err);

	st_digest_str(&d->digest, dg);
	if (rc < 0)
		return st_error_wrap(err, "registry %s, repository %s: manifest %s",
		                     st_reg_client_domain(p->c), p->repo, dg);
	p->artifact = !st_media_type_is_config(m.config.media_type);
	rc = add_blob(p, &m.config, ST_REG_BLOB_CONFIG, err);
	for (size_t i = 0; rc == 0 && i < m.n_layers; i++)
		rc = add_blob(p, &m.layers[i], ST_REG_BLOB_LAYER, err);
	st_manifest_release(&m);
	return rc < 0 ? rc : keep_doc(p, body, d, err);
}

/* A manifest an index names: from the store if there, else from the registry. */
static int child_manifest(struct pull *p, const struct st_descriptor *d, struct st_error *err)
{
	cleanup_buf struct st_buf body = ST_BUF_INIT;
	enum st_manifest_kind kind;
	struct st_digest got;
	char dg[ST_DIGEST_STR_MAX];
	int rc;

	st_digest_str(&d->digest, dg);
	if (st_manifest_kind_is_index(st_manifest_kind_of(d->media_type)))
		return st_error_set(err, ST_EUNSUPPORTED,
		                    "registry %s, repository %s: index %s nests an index",
		                    st_reg_client_domain(p->c), p->repo, dg);
	if (st_store_read_blob(p->store, &d->digest, ST_MAX_MANIFEST_SIZE, &body, NULL) < 0) {
		rc = get_doc(p, dg, &d->digest, &body, &kind, &got, err);
		if (rc < 0)
			return rc;
	}
	return take_manifest(p, &body, d, err);
}

static int take_index(struct pull *p, struct st_buf *body, const struct st_descriptor *d,
                      const struct st_registry_opts *o, struct st_error *err)
{
	struct st_index ix;
	int rc = st_index_parse(body->data, body->len, d->media_type, &ix, err), sel;

	if (rc < 0)
		return st_error_wrap(err, "registry %s, repository %s: index",
		                     st_reg_client_domain(p->c), p->repo);
	if (o && o->all_platforms) {
		for (size_t i = 0; rc == 0 && i < ix.n_manifests; i++)
			rc = child_manifest(p, &ix.manifests[i], err);
		if (rc == 0)
			rc = keep_doc(p, body, d, err);
	} else {
		sel = st_index_select(&ix, o ? o->platform : NULL, err);
		rc = sel < 0 ? st_error_wrap(err, "registry %s, repository %s",
		                             st_reg_client_domain(p->c), p->repo)
		             : child_manifest(p, &ix.manifests[sel], err);
	}
	st_index_release(&ix);
	return rc;
}

/* Writes the kept documents (children before the index that names them). */
static int write_docs(struct pull *p, struct st_error *err)
{
	for (size_t i = 0; i < p->n_docs; i++) {
		int rc = st_store_put_blob(p->store, p->docs[i].data, p->docs[i].len,
		                           &p->doc_desc[i].digest, NULL, err);
		if (rc < 0)
			return rc;
		st_reg_report(p->c, ST_REG_VERIFIED, ST_REG_BLOB_MANIFEST, &p->doc_desc[i].digest,
		              p->doc_desc[i].size, p->doc_desc[i].size);
	}
	return 0;
}

static int tag(struct pull *p, const struct st_ref *r, struct st_pull_result *out,
               struct st_error *err)
{
	cleanup_buf struct st_buf name = ST_BUF_INIT;
	const struct st_descriptor *top = &p->doc_desc[p->n_docs - 1];
	int rc;

	if (r->tag && st_ref_format(r, ST_REF_FORMAT_NO_DIGEST, &name, err) < 0)
		return -ST_ENOMEM;
	rc = st_store_tag(p->store, r->tag ? name.data : NULL, top, err);
	if (rc < 0)
		return rc;
	if (st_descriptor_copy(&out->desc, top, err) < 0)
		return -ST_ENOMEM;
	out->name = r->tag ? st_buf_detach(&name, NULL) : NULL;
	return 0;
}

/* ---- layers extracted while they download ---- */

/* Is snapshots/<chain hex> there already? */
static bool have_snapshot(struct pull *p, const struct st_digest *chain)
{
	char path[ST_DIGEST_HEX_MAX + 16];

	memcpy(path, "snapshots/", 10);
	st_digest_hex(chain, path + 10);
	return faccessat(st_store_root_fd(p->store), path, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

/* Followers for the `room` largest layers of manifest m still to download whose snapshots are
 * missing. */
static int follow_largest(struct pull *p, const struct st_manifest *m,
                          const struct st_image_config *cfg, const struct st_digest *chains,
                          size_t room, struct st_error *err)
{
	for (; room > 0; room--) {
		struct st_reg_fetch *best = NULL;
		size_t li = 0;
		for (size_t i = 0; i < p->n_blobs; i++) {
			struct st_reg_fetch *b = &p->blobs[i];
			size_t k = 0;
			if (b->kind != ST_REG_BLOB_LAYER || b->follow ||
			    (best && b->desc.size <= best->desc.size))
				continue;
			while (k < m->n_layers &&
			       !st_digest_equal(&m->layers[k].digest, &b->desc.digest))
				k++;
			if (k < m->n_layers && !have_snapshot(p, &chains[k])) {
				best = b;
				li = k;
			}
		}
		if (!best)
			return 0;
		if (st_reg_follow_new(p->store, &m->layers[li], &cfg->diff_ids[li], &chains[li],
		                      &best->follow, err) < 0)
			return -ST_ENOMEM;
	}
	return 0;
}

/* Moves the config to the front of p->blobs and downloads it alone; *done: 1 when it did. */
static int fetch_config_first(struct pull *p, uint64_t *fetched, size_t *done, struct st_error *err)
{
	struct st_reg_fetch t;
	size_t i = 0;

	while (i < p->n_blobs && p->blobs[i].kind != ST_REG_BLOB_CONFIG)
		i++;
	if (i == p->n_blobs)
		return 0; /* in the store already */
	t = p->blobs[i];
	p->blobs[i] = p->blobs[0];
	p->blobs[0] = t;
	*done = 1;
	return st_reg_fetch_blobs(p->c, p->store, p->repo, p->blobs, 1, fetched, err);
}

/* When the pulled image is to be unpacked: its config first (the snapshots are named by chain
 * IDs, made of its diffIDs), then followers for its largest missing layers, as many as there are
 * processors (up to 4). Anything unusual (no config, layers and diffIDs that disagree) is left to
 * unpack, which reports it. *done: how many blobs at the front of p->blobs are fetched. */
static int plan_follow(struct pull *p, const struct st_registry_opts *o, uint64_t *fetched,
                       size_t *done, struct st_error *err)
{
	cleanup_buf struct st_buf raw = ST_BUF_INIT;
	cleanup_free struct st_digest *chains = NULL;
	struct st_image_config cfg = {0};
	struct st_manifest m;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	size_t room = ncpu < 1 ? 1 : ncpu > 4 ? 4 : (size_t)ncpu;
	int rc;

	*done = 0;
	if ((o && (o->no_unpack || o->all_platforms)) || p->artifact || p->n_docs == 0 ||
	    st_manifest_parse(p->docs[p->n_docs - 1].data, p->docs[p->n_docs - 1].len,
	                      p->doc_desc[p->n_docs - 1].media_type, &m, NULL) < 0)
		return 0;
	rc = fetch_config_first(p, fetched, done, err);
	chains = calloc(m.n_layers + 1, sizeof(*chains));
	if (rc == 0 && chains && m.n_layers > 0 &&
	    st_store_read_blob(p->store, &m.config.digest, ST_MAX_CONFIG_SIZE, &raw, NULL) == 0 &&
	    st_image_config_parse(raw.data, raw.len, &cfg, NULL) == 0 &&
	    cfg.n_diff_ids == m.n_layers &&
	    st_image_chain_ids(cfg.diff_ids, m.n_layers, chains, NULL) == 0)
		rc = follow_largest(p, &m, &cfg, chains, room, err);
	st_image_config_release(&cfg);
	st_manifest_release(&m);
	return rc;
}

static int pull_ref(struct pull *p, const struct st_ref *r, const struct st_registry_opts *o,
                    struct st_pull_result *out, struct st_error *err)
{
	cleanup_buf struct st_buf body = ST_BUF_INIT;
	struct st_descriptor d = {0};
	enum st_manifest_kind kind;
	char ref[ST_DIGEST_STR_MAX];
	size_t done = 0;
	int rc;

	if (r->has_digest)
		st_digest_str(&r->digest, ref);
	rc = get_doc(p, r->has_digest ? ref : r->tag, r->has_digest ? &r->digest : NULL, &body,
	             &kind, &out->digest, err);
	if (rc < 0)
		return rc;
	d.media_type = (char *)st_manifest_kind_media_type(kind);
	d.digest = out->digest;
	d.size = body.len;
	rc = st_manifest_kind_is_index(kind) ? take_index(p, &body, &d, o, err)
	                                     : take_manifest(p, &body, &d, err);
	if (st_manifest_kind_is_index(kind))
		p->artifact = false; /* the index's platform manifest decides, when unpacked */
	if (rc == 0)
		rc = plan_follow(p, o, &out->bytes_fetched, &done, err);
	if (rc == 0)
		rc = st_reg_fetch_blobs(p->c, p->store, p->repo, p->blobs + done, p->n_blobs - done,
		                        &out->bytes_fetched, err);
	follow_end(p);
	if (rc == 0)
		rc = write_docs(p, err);
	return rc < 0 ? rc : tag(p, r, out, err);
}

/* Extracts the pulled image's layers once, so that the first run finds them ready. */
static int unpack(struct st_store *store, const struct st_descriptor *d,
                  const struct st_registry_opts *o, struct st_error *err)
{
	struct st_snapshot_chain chain = {0};
	struct st_image img;
	int rc = st_image_load(store, d, o ? o->platform : NULL, &img, err);

	if (rc == -ST_ENOTFOUND && o && o->all_platforms)
		return 0; /* an index without the host's platform: nothing to run here */
	if (rc < 0)
		return rc;
	rc = st_snapshot_prepare(store, &img, &chain, err);
	st_snapshot_chain_release(&chain);
	st_image_release(&img);
	return rc;
}

int st_registry_pull(struct st_store *store, const char *refstr,
                     const struct st_registry_opts *opts, struct st_pull_result *out,
                     struct st_error *err)
{
	struct st_pull_result res = {0};
	struct pull p = {0};
	struct st_ref r;
	int rc = st_ref_parse(refstr, &r, err);

	if (rc < 0)
		return rc;
	p.store = store;
	p.repo = r.path;
	rc = st_reg_client_new(r.domain, opts, &p.c, err);
	if (rc == 0 && (rc = st_store_lease(store, err)) == 0) {
		rc = pull_ref(&p, &r, opts, &res, err);
		/* an artifact (a signature, an SBOM) is kept as it came: nothing to extract */
		if (rc == 0 && !(opts && opts->no_unpack) && !p.artifact)
			rc = unpack(store, &res.desc, opts, err);
		st_store_unlease(store);
	}
	pull_release(&p);
	st_reg_client_free(p.c);
	st_ref_release(&r);
	if (rc < 0) {
		st_pull_result_release(&res);
		return rc;
	}
	*out = res;
	return 0;
}
