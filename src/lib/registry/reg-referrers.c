/* reg-referrers.c: the referrers of a subject on registries without the referrers API
 * (distribution-spec v1.1, "Pushing Manifests with Subject" and "Referrers Tag Schema"). A
 * registry that takes a manifest's subject answers its PUT with OCI-Subject; when that header is
 * missing, the client keeps the subject's referrers list itself: an OCI image index under the tag
 * "<alg>-<encoded>", pulled (404: an empty one), the pushed manifest's descriptor appended unless
 * already there, and pushed back. */
#include "registry/reg-curl.h"

#include <stdlib.h>
#include <string.h>

#include "strata/image.h"
#include "util/cleanup.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

static bool tag_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '_' || ch == '.' || ch == '-';
}

void st_reg_referrers_tag(const struct st_digest *subject, char out[ST_DIGEST_STR_MAX])
{
	char hex[ST_DIGEST_HEX_MAX + 1];
	const char *alg = st_digest_alg_name(subject->alg);
	size_t n = 0;

	st_digest_hex(subject, hex);
	for (size_t i = 0; i < 32 && alg[i]; i++)
		out[n++] = tag_char(alg[i]) ? alg[i] : '-';
	out[n++] = '-';
	for (size_t i = 0; i < 64 && hex[i]; i++)
		out[n++] = tag_char(hex[i]) ? hex[i] : '-';
	out[n] = '\0';
}

/* The descriptor a referrers list holds for d (artifactType: the document's, else for an image
 * manifest its config's media type; its annotations), and d's subject; *has_subject false when
 * it has none. */
static int referrer_of(const struct st_descriptor *d, const struct st_buf *body,
                       struct st_descriptor *out, struct st_digest *subject, bool *has_subject,
                       struct st_error *err)
{
	struct st_descriptor tmp = {0};
	const struct st_descriptor *subj;
	const char *at;
	size_t n_ann;
	const struct st_annotation *ann;
	struct st_manifest m = {0};
	struct st_index ix = {0};
	bool is_index = st_manifest_kind_is_index(st_manifest_kind_of(d->media_type));
	int rc = is_index ? st_index_parse(body->data, body->len, d->media_type, &ix, err)
	                  : st_manifest_parse(body->data, body->len, d->media_type, &m, err);

	if (rc < 0)
		return rc;
	subj = is_index ? ix.subject : m.subject;
	at = is_index ? ix.artifact_type
	              : (m.artifact_type ? m.artifact_type : m.config.media_type);
	n_ann = is_index ? ix.n_annotations : m.n_annotations;
	ann = is_index ? ix.annotations : m.annotations;
	*has_subject = subj != NULL;
	if (subj) {
		*subject = subj->digest;
		tmp.media_type = d->media_type;
		tmp.digest = d->digest;
		tmp.size = d->size;
		tmp.artifact_type = (char *)at;
		tmp.n_annotations = n_ann;
		tmp.annotations = (struct st_annotation *)ann;
		rc = st_descriptor_copy(out, &tmp, err);
	}
	st_index_release(&ix);
	st_manifest_release(&m);
	return rc;
}

/* GET of the referrers list under `tag`: an empty OCI index on 404. */
static int get_list(struct st_reg_client *c, const char *repo, const char *tag, const char *scope,
                    struct st_index *out, struct st_error *err)
{
	cleanup_buf struct st_buf url = ST_BUF_INIT;
	struct st_reg_req rq = ST_REG_REQ_INIT;
	struct st_reg_resp rs = {0};
	enum st_manifest_kind kind = ST_KIND_NONE;
	int rc;

	if (st_buf_addf(&url, err, "/v2/%s/manifests/%s", repo, tag) < 0)
		return -ST_ENOMEM;
	rq.method = "GET";
	rq.url = url.data;
	rq.scope = scope;
	/* every kind, so that a tag holding something else is seen as such (a registry answers
	 * 404 for a manifest whose type the Accept header leaves out) */
	rq.accept = ST_MT_OCI_INDEX ", " ST_MT_OCI_MANIFEST ", " ST_MT_DOCKER_LIST
	                            ", " ST_MT_DOCKER_MANIFEST;
	rq.max_body = ST_MAX_MANIFEST_SIZE;
	rq.repo = repo;
	rq.what = tag;
	rc = st_reg_do(c, &rq, &rs, err);
	if (rc == 0 && rs.status == 404) {
		st_index_init(out, ST_KIND_OCI_INDEX);
	} else if (rc == 0 && rs.status != 200) {
		rc = st_reg_status_error(c, &rq, &rs, err);
	} else if (rc == 0) {
		if (st_manifest_detect(rs.body.data, rs.body.len, rs.content_type, &kind, NULL) <
		            0 ||
		    kind != ST_KIND_OCI_INDEX ||
		    st_index_parse(rs.body.data, rs.body.len, ST_MT_OCI_INDEX, out, NULL) < 0)
			rc = st_error_set(err, ST_EINVALID,
			                  "registry %s, repository %s: tag %s is not an OCI image "
			                  "index, so it is no referrers list: left as it is",
			                  c->domain, repo, tag);
	}
	st_reg_resp_release(&rs);
	return rc;
}

static int put_list(struct st_reg_client *c, const char *repo, const char *tag, const char *scope,
                    struct st_index *ix, struct st_error *err)
{
	cleanup_buf struct st_buf url = ST_BUF_INIT, body = ST_BUF_INIT;
	struct st_reg_req rq = ST_REG_REQ_INIT;
	struct st_reg_resp rs = {0};
	int rc;

	if (st_buf_addf(&url, err, "/v2/%s/manifests/%s", repo, tag) < 0)
		return -ST_ENOMEM;
	rc = st_index_dump(ix, &body, err);
	if (rc < 0)
		return rc;
	rq.method = "PUT";
	rq.url = url.data;
	rq.scope = scope;
	rq.body = body.data;
	rq.body_len = body.len;
	rq.content_type = ST_MT_OCI_INDEX;
	rq.repo = repo;
	rq.what = tag;
	rc = st_reg_do(c, &rq, &rs, err);
	if (rc == 0 && rs.status != 201)
		rc = st_reg_status_error(c, &rq, &rs, err);
	st_reg_resp_release(&rs);
	return rc;
}

int st_reg_referrers_note(struct st_reg_client *c, const char *repo, const struct st_descriptor *d,
                          const struct st_buf *body, bool took_subject, struct st_error *err)
{
	cleanup_buf struct st_buf scope = ST_BUF_INIT;
	struct st_descriptor ref = {0};
	struct st_digest subject;
	struct st_index ix = {0};
	char tag[ST_DIGEST_STR_MAX];
	bool has_subject = false, listed = false;
	int rc;

	if (took_subject)
		return 0;
	rc = referrer_of(d, body, &ref, &subject, &has_subject, err);
	if (rc < 0 || !has_subject)
		return rc;
	st_reg_referrers_tag(&subject, tag);
	rc = st_reg_scope(repo, "pull,push", &scope, err);
	if (rc == 0)
		rc = get_list(c, repo, tag, scope.data, &ix, err);
	for (size_t i = 0; rc == 0 && i < ix.n_manifests; i++)
		listed = listed || st_digest_equal(&ix.manifests[i].digest, &d->digest);
	if (rc == 0 && !listed && (rc = st_index_add_manifest(&ix, &ref, err)) == 0)
		rc = put_list(c, repo, tag, scope.data, &ix, err);
	st_index_release(&ix);
	st_descriptor_release(&ref);
	return rc;
}
