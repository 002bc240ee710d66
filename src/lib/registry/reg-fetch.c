/* reg-fetch.c: blobs downloaded in parallel (one curl multi handle, one thread) straight into
 * store blob writers, each checked against its descriptor's digest and size before it becomes
 * visible. A transfer cut short is resumed with a Range request from the bytes already written;
 * a server that ignores Range restarts the blob. */
#include "registry/reg-curl.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/cleanup.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

enum xstate { X_WAIT = 0, X_RUN, X_DONE };

struct xfer {
	struct fetcher *f;
	const struct st_reg_fetch *blob;
	CURL *h;
	struct curl_slist *hdrs;
	struct st_blob_writer *w;
	enum xstate state;
	bool checked; /* status of this attempt looked at */
	bool ok;      /* this attempt streams blob bytes */
	bool auth_retried;
	unsigned attempts;
	long long wake_ms;
	uint64_t last_report;
	struct st_buf errbody;
	struct st_error err;
	int rc; /* a failure decided inside a callback */
};

struct fetcher {
	struct st_reg_client *c;
	struct st_store *store;
	const char *repo;
	CURLM *multi;
	struct xfer *x;
	size_t n, running, done;
	uint64_t fetched;
};

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "bytes S-E/T" of a 206 must start where we are. */
static bool range_starts_at(CURL *h, uint64_t at)
{
	const char *v = st_reg_curl_header(h, "Content-Range");
	char num[24];
	size_t n;
	uint64_t s;

	if (!v || !st_str_has_prefix(v, "bytes "))
		return false;
	v += 6;
	n = strcspn(v, "-");
	if (n == 0 || n >= sizeof(num))
		return false;
	memcpy(num, v, n);
	num[n] = '\0';
	return st_parse_u64(num, &s) == 0 && s == at;
}

/* Looks at the status once per attempt, before the first body byte. */
static int check_status(struct xfer *x)
{
	long status = 0;
	uint64_t have = st_blob_writer_size(x->w);

	x->checked = true;
	curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
	if (status == 206 && range_starts_at(x->h, have)) {
		x->ok = true;
	} else if (status == 200) {
		x->ok = true;
		if (have > 0) {
			/* the server ignored Range: start the blob over */
			st_reg_follow_break(x->blob->follow);
			st_blob_writer_free(x->w);
			x->w = NULL;
			x->rc = st_blob_writer_new(x->f->store, &x->w, &x->err);
			if (x->rc < 0)
				return -1;
		}
	}
	return 0;
}

static size_t on_data(char *p, size_t size, size_t n, void *ctx)
{
	struct xfer *x = ctx;
	size_t len = size * n;
	uint64_t have;
	char dg[ST_DIGEST_STR_MAX];

	if (!x->checked && check_status(x) < 0)
		return 0;
	if (!x->ok)
		return st_buf_add(&x->errbody, p, len, NULL) < 0 ? 0 : len;
	have = st_blob_writer_size(x->w);
	if (have + len > x->blob->desc.size) {
		st_digest_str(&x->blob->desc.digest, dg);
		x->rc = st_error_set(&x->err, ST_EDIGEST,
		                     "blob %s: the registry sent more than its %llu bytes", dg,
		                     (unsigned long long)x->blob->desc.size);
		return 0;
	}
	x->rc = st_blob_writer_write(x->w, p, len, &x->err);
	if (x->rc < 0)
		return 0;
	x->f->fetched += len;
	have += len;
	st_reg_follow_grow(x->blob->follow, have);
	if (have - x->last_report >= (256u << 10) || have == x->blob->desc.size) {
		x->last_report = have;
		st_reg_report(x->f->c, ST_REG_DOWNLOADING, x->blob->kind, &x->blob->desc.digest,
		              have, x->blob->desc.size);
	}
	return len;
}

static int start(struct fetcher *f, struct xfer *x, struct st_error *err)
{
	cleanup_buf struct st_buf url = ST_BUF_INIT, scope = ST_BUF_INIT;
	char dg[ST_DIGEST_STR_MAX], range[48];
	uint64_t have;
	int rc;

	if (!x->w && (rc = st_blob_writer_new(f->store, &x->w, err)) < 0)
		return rc;
	st_reg_follow_attach(x->blob->follow, x->w);
	have = st_blob_writer_size(x->w);
	st_digest_str(&x->blob->desc.digest, dg);
	curl_slist_free_all(x->hdrs);
	x->hdrs = NULL;
	if (st_reg_url(f->c->base, f->repo, "blobs", dg, &url, err) < 0 ||
	    st_reg_scope(f->repo, "pull", &scope, err) < 0)
		return -ST_ENOMEM;
	rc = st_reg_auth_header(f->c, scope.data, &x->hdrs, err);
	if (rc < 0)
		return rc;
	if (!x->h && !(x->h = curl_easy_init()))
		return st_error_set(err, ST_ENOMEM, "out of memory");
	curl_easy_reset(x->h);
	st_reg_curl_common(f->c, x->h);
	curl_easy_setopt(x->h, CURLOPT_URL, url.data);
	curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, x->hdrs);
	curl_easy_setopt(x->h, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->h, CURLOPT_PRIVATE, x);
	if (have > 0) {
		snprintf(range, sizeof(range), "%llu-", (unsigned long long)have);
		curl_easy_setopt(x->h, CURLOPT_RANGE, range);
	}
	x->checked = x->ok = false;
	st_buf_release(&x->errbody);
	st_buf_init(&x->errbody, 64u << 10);
	if (curl_multi_add_handle(f->multi, x->h) != CURLM_OK)
		return st_error_set(err, ST_ENOMEM, "curl: cannot add a transfer");
	x->state = X_RUN;
	f->running++;
	st_reg_report(f->c, ST_REG_DOWNLOADING, x->blob->kind, &x->blob->desc.digest, have,
	              x->blob->desc.size);
	return 0;
}

static int commit(struct fetcher *f, struct xfer *x, struct st_error *err)
{
	struct st_buf name = ST_BUF_INIT;
	int rc = st_blob_writer_commit(x->w, &x->blob->desc.digest, NULL, err);

	if (rc < 0) {
		st_reg_follow_break(x->blob->follow);
		return st_error_wrap(err, "registry %s, repository %s", f->c->domain, f->repo);
	}
	st_reg_follow_done(x->blob->follow, x->blob->desc.size);
	st_blob_writer_free(x->w);
	x->w = NULL;
	x->state = X_DONE;
	f->done++;
	if (st_buf_addf(&name, NULL, "%s/%s", f->c->domain, f->repo) == 0)
		st_reg_sources_add(f->store, &x->blob->desc.digest, name.data);
	st_buf_release(&name);
	st_reg_report(f->c, ST_REG_VERIFIED, x->blob->kind, &x->blob->desc.digest,
	              x->blob->desc.size, x->blob->desc.size);
	return 0;
}

/* A finished attempt: commit, schedule a retry, or fail. */
static int finished(struct fetcher *f, struct xfer *x, CURLcode cc, struct st_error *err)
{
	struct st_reg_req rq = ST_REG_REQ_INIT;
	struct st_reg_resp rs = {0};
	char dg[ST_DIGEST_STR_MAX];
	long status = 0, delay;
	int rc;

	curl_multi_remove_handle(f->multi, x->h);
	f->running--;
	x->state = X_WAIT;
	curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
	if (x->rc < 0) {
		*err = x->err;
		return x->rc;
	}
	if (cc == CURLE_OK && x->ok) {
		if (st_blob_writer_size(x->w) == x->blob->desc.size)
			return commit(f, x, err);
		cc = CURLE_PARTIAL_FILE; /* a short body: resume it */
	}
	if (cc == CURLE_OK && status == 401 && !x->auth_retried) {
		x->auth_retried = true;
		if (st_reg_auth_learn(f->c, x->h, NULL, err) > 0)
			return 0;
	}
	delay = st_reg_retry_delay(&f->c->conf, ++x->attempts, cc == CURLE_OK ? status : 0,
	                           st_reg_curl_header(x->h, "Retry-After"), time(NULL));
	if (delay >= 0) {
		x->wake_ms = now_ms() + delay;
		st_reg_report(f->c, ST_REG_RETRYING, x->blob->kind, &x->blob->desc.digest,
		              st_blob_writer_size(x->w), x->blob->desc.size);
		return 0;
	}
	st_digest_str(&x->blob->desc.digest, dg);
	if (cc != CURLE_OK)
		return st_error_set(err, ST_ENET, "registry %s, repository %s: blob %s: %s",
		                    f->c->domain, f->repo, dg, curl_easy_strerror(cc));
	rq.method = "GET";
	rq.repo = f->repo;
	rq.what = dg;
	rs.status = status;
	rs.body = x->errbody;
	rc = st_reg_status_error(f->c, &rq, &rs, err);
	return rc;
}

static int drain(struct fetcher *f, struct st_error *err)
{
	CURLMsg *m;
	int left, rc;

	while ((m = curl_multi_info_read(f->multi, &left))) {
		struct xfer *x = NULL;
		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
		rc = finished(f, x, m->data.result, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Starts what may start; returns the milliseconds until the next retry is due (or 1000). */
static int schedule(struct fetcher *f, long *wait, struct st_error *err)
{
	long long now = now_ms();
	int rc;

	*wait = 1000;
	for (size_t i = 0; i < f->n && f->running < f->c->conf.parallel; i++) {
		struct xfer *x = &f->x[i];
		if (x->state != X_WAIT)
			continue;
		if (x->wake_ms > now) {
			if (x->wake_ms - now < *wait)
				*wait = (long)(x->wake_ms - now);
			continue;
		}
		rc = start(f, x, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int run(struct fetcher *f, struct st_error *err)
{
	int still = 0, rc;
	long wait;

	while (f->done < f->n) {
		rc = schedule(f, &wait, err);
		if (rc < 0)
			return rc;
		if (curl_multi_perform(f->multi, &still) != CURLM_OK)
			return st_error_set(err, ST_ENET, "curl multi failed");
		rc = drain(f, err);
		if (rc < 0)
			return rc;
		if (f->done < f->n &&
		    curl_multi_poll(f->multi, NULL, 0, (int)(f->running ? 200 : wait), NULL) !=
		            CURLM_OK)
			return st_error_set(err, ST_ENET, "curl multi poll failed");
	}
	return 0;
}

int st_reg_fetch_blobs(struct st_reg_client *c, struct st_store *store, const char *repo,
                       const struct st_reg_fetch *blobs, size_t n, uint64_t *fetched,
                       struct st_error *err)
{
	struct fetcher f = {c, store, repo, NULL, NULL, n, 0, 0, 0};
	int rc;

	if (n == 0)
		return 0;
	f.multi = curl_multi_init();
	f.x = calloc(n, sizeof(*f.x));
	if (!f.multi || !f.x) {
		curl_multi_cleanup(f.multi);
		free(f.x);
		return st_error_set(err, ST_ENOMEM, "out of memory");
	}
	curl_multi_setopt(f.multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)c->conf.parallel);
	for (size_t i = 0; i < n; i++) {
		f.x[i].f = &f;
		f.x[i].blob = &blobs[i];
		st_reg_report(c, ST_REG_WAITING, blobs[i].kind, &blobs[i].desc.digest, 0,
		              blobs[i].desc.size);
	}
	rc = run(&f, err);
	for (size_t i = 0; i < n; i++) {
		if (f.x[i].state == X_RUN)
			curl_multi_remove_handle(f.multi, f.x[i].h);
		curl_easy_cleanup(f.x[i].h);
		curl_slist_free_all(f.x[i].hdrs);
		st_blob_writer_free(f.x[i].w);
		st_buf_release(&f.x[i].errbody);
	}
	curl_multi_cleanup(f.multi);
	free(f.x);
	*fetched += f.fetched;
	return rc;
}
