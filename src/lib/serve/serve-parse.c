/* serve-parse.c: the pure parts of the registry server: the request router, Range and
 * Content-Range, and the upload state machine. No I/O, so the fuzzers drive them directly. */
#include "serve/serve-internal.h"

#include <string.h>

#include "util/banned.h"

static bool tail_is(const char *s, size_t len, const char *suffix, size_t *out_head)
{
	size_t n = strlen(suffix);

	if (len < n || memcmp(s + len - n, suffix, n) != 0)
		return false;
	*out_head = len - n;
	return true;
}

/* Splits "<head>/<seg>/<last>" of s[0..len): the last two segments. */
static bool last_two(const char *s, size_t len, struct st_str *seg, struct st_str *last,
                     size_t *out_head)
{
	const char *l = memrchr(s, '/', len);
	const char *p;

	if (!l)
		return false;
	p = memrchr(s, '/', (size_t)(l - s));
	if (!p)
		return false;
	seg->p = p + 1;
	seg->len = (size_t)(l - p - 1);
	last->p = l + 1;
	last->len = len - (size_t)(l + 1 - s);
	*out_head = (size_t)(p - s);
	return true;
}

static bool str_is(struct st_str s, const char *lit)
{
	return s.len == strlen(lit) && memcmp(s.p, lit, s.len) == 0;
}

static int fault(struct st_serve_route *r, enum srv_fault f, struct st_error *err, const char *what)
{
	r->fault = f;
	return st_error_set(err, ST_EINVALID, "%s", what);
}

static int set_name(struct st_serve_route *r, const char *s, size_t len, struct st_error *err)
{
	if (len == 0 || len > ST_REF_MAX_PATH)
		return fault(r, SRV_FAULT_NAME, err, "repository name is empty or too long");
	memcpy(r->name, s, len);
	r->name[len] = '\0';
	if (st_ref_valid_repository(r->name, err) < 0) {
		r->fault = SRV_FAULT_NAME;
		return -ST_EINVALID;
	}
	return 0;
}

static int set_ref(struct st_serve_route *r, struct st_str ref, bool digest_only,
                   struct st_error *err)
{
	if (ref.len == 0 || ref.len > ST_DIGEST_STR_MAX)
		return fault(r, digest_only ? SRV_FAULT_DIGEST : SRV_FAULT_TAG, err,
		             "reference is empty or too long");
	memcpy(r->ref, ref.p, ref.len);
	r->ref[ref.len] = '\0';
	if (digest_only || memchr(ref.p, ':', ref.len)) {
		if (st_digest_parse(ref.p, ref.len, &r->digest, err) < 0) {
			r->fault = SRV_FAULT_DIGEST;
			return -ST_EINVALID;
		}
		r->is_digest = true;
		return 0;
	}
	if (!st_ref_valid_tag(r->ref))
		return fault(r, SRV_FAULT_TAG, err, "invalid tag");
	return 0;
}

static int set_upload(struct st_serve_route *r, struct st_str id, struct st_error *err)
{
	if (id.len != SRV_UPLOAD_ID_LEN || strspn(id.p, "0123456789abcdef") < id.len)
		return fault(r, SRV_FAULT_UPLOAD, err, "unknown upload id");
	memcpy(r->ref, id.p, id.len);
	r->ref[id.len] = '\0';
	return 0;
}

static int route_tail(const char *s, size_t len, struct st_serve_route *r, struct st_error *err)
{
	struct st_str seg, last;
	size_t head;
	int rc;

	if (tail_is(s, len, "/tags/list", &head)) {
		r->kind = SRV_TAGS;
		return set_name(r, s, head, err);
	}
	if (tail_is(s, len, "/blobs/uploads/", &head) || tail_is(s, len, "/blobs/uploads", &head)) {
		r->kind = SRV_UPLOAD_NEW;
		return set_name(r, s, head, err);
	}
	if (!last_two(s, len, &seg, &last, &head))
		return fault(r, SRV_FAULT_PATH, err, "no such endpoint");
	if (str_is(seg, "uploads") && tail_is(s, head, "/blobs", &head)) {
		r->kind = SRV_UPLOAD;
		rc = set_name(r, s, head, err);
		return rc < 0 ? rc : set_upload(r, last, err);
	}
	if (str_is(seg, "blobs"))
		r->kind = SRV_BLOB;
	else if (str_is(seg, "manifests"))
		r->kind = SRV_MANIFEST;
	else if (str_is(seg, "referrers"))
		r->kind = SRV_REFERRERS;
	else
		return fault(r, SRV_FAULT_PATH, err, "no such endpoint");
	rc = set_name(r, s, head, err);
	return rc < 0 ? rc : set_ref(r, last, r->kind != SRV_MANIFEST, err);
}

int st_serve_route_parse(const char *path, struct st_serve_route *out, struct st_error *err)
{
	memset(out, 0, sizeof(*out));
	if (strcmp(path, "/v2") == 0 || strcmp(path, "/v2/") == 0) {
		out->kind = SRV_BASE;
		return 0;
	}
	if (strncmp(path, "/v2/", 4) != 0)
		return fault(out, SRV_FAULT_PATH, err, "no such endpoint");
	return route_tail(path + 4, strlen(path + 4), out, err);
}

/* A decimal uint64 from s[0..len): digits only, no overflow. */
static bool parse_u64_n(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 20)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned)(s[i] - '0');
		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

int st_serve_parse_content_range(const char *s, uint64_t *out_start, uint64_t *out_end)
{
	const char *dash = strchr(s, '-');
	uint64_t a, b;

	if (!dash || !parse_u64_n(s, (size_t)(dash - s), &a) ||
	    !parse_u64_n(dash + 1, strlen(dash + 1), &b) || b < a)
		return -ST_EINVALID;
	*out_start = a;
	*out_end = b;
	return 0;
}

int st_serve_parse_range(const char *s, uint64_t size, uint64_t *out_start, uint64_t *out_len)
{
	const char *spec, *dash;
	uint64_t a = 0, b = 0;
	bool has_a, has_b;

	if (!s || strncmp(s, "bytes=", 6) != 0 || strchr(s, ','))
		return 0;
	spec = s + 6;
	dash = strchr(spec, '-');
	if (!dash)
		return 0;
	has_a = dash > spec;
	has_b = dash[1] != '\0';
	if ((has_a && !parse_u64_n(spec, (size_t)(dash - spec), &a)) ||
	    (has_b && !parse_u64_n(dash + 1, strlen(dash + 1), &b)) || (!has_a && !has_b))
		return 0; /* RFC 9110: an invalid Range is ignored */
	if (has_a && has_b && b < a)
		return 0;
	if (!has_a) { /* suffix: the last b bytes */
		if (b == 0 || size == 0)
			return -ST_EINVALID;
		a = b >= size ? 0 : size - b;
		b = size - 1;
	} else if (!has_b || b >= size) {
		b = size - 1;
	}
	if (a >= size)
		return -ST_EINVALID;
	*out_start = a;
	*out_len = b - a + 1;
	return 1;
}

enum srv_verdict st_serve_up_begin(struct srv_upload_sm *sm, const char *content_range,
                                   uint64_t content_length)
{
	uint64_t a, b;

	if (sm->in_chunk)
		return SRV_UP_BUSY;
	sm->expect = content_length;
	if (content_range) {
		if (st_serve_parse_content_range(content_range, &a, &b) < 0)
			return SRV_UP_INVALID;
		if (a != sm->offset)
			return SRV_UP_RANGE;
		if (content_length != UINT64_MAX && content_length != b - a + 1)
			return SRV_UP_INVALID;
		sm->expect = b - a + 1;
	}
	if (sm->expect != UINT64_MAX && sm->expect > sm->max - sm->offset)
		return SRV_UP_TOO_LARGE;
	sm->got = 0;
	sm->in_chunk = true;
	return SRV_UP_OK;
}

enum srv_verdict st_serve_up_data(struct srv_upload_sm *sm, uint64_t len)
{
	if (!sm->in_chunk)
		return SRV_UP_INVALID;
	if ((sm->expect != UINT64_MAX && len > sm->expect - sm->got) || len > sm->max - sm->offset)
		return SRV_UP_TOO_LARGE;
	sm->got += len;
	/* a status request reads the offset of a busy session from another thread */
	__atomic_store_n(&sm->offset, sm->offset + len, __ATOMIC_RELEASE);
	return SRV_UP_OK;
}

enum srv_verdict st_serve_up_end(struct srv_upload_sm *sm)
{
	if (!sm->in_chunk)
		return SRV_UP_INVALID;
	sm->in_chunk = false;
	if (sm->expect != UINT64_MAX && sm->got != sm->expect)
		return SRV_UP_SHORT;
	return SRV_UP_OK;
}

void st_serve_up_abort(struct srv_upload_sm *sm)
{
	sm->in_chunk = false;
}
