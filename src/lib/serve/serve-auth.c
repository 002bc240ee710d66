/* serve-auth.c: Basic auth against an htpasswd file of bcrypt hashes ($2y$, as `htpasswd -B`
 * writes), checked with crypt_rn(3) from libxcrypt. A bcrypt check costs milliseconds, so the
 * SHA-256 of credentials already accepted is cached (clients send them on every request). */
#include "serve/serve-internal.h"

#include <crypt.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/cleanup.h"
#include "util/fs.h"

#include "util/banned.h"

#define AUTH_CACHE 64
#define AUTH_MAX_FILE (1u << 20)

struct htuser {
	char *name;
	char *hash;
};

struct srv_auth {
	struct htuser *users;
	size_t n_users;
	pthread_mutex_t mu;
	struct st_digest cache[AUTH_CACHE];
	size_t cache_user[AUTH_CACHE];
	size_t n_cache, next;
};

static int b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int st_serve_base64_decode(const char *s, size_t len, struct st_buf *out, struct st_error *err)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t pad = 0;

	for (size_t i = 0; i < len; i++) {
		int v;
		if (s[i] == '=') {
			pad++;
			continue;
		}
		v = b64val(s[i]);
		if (v < 0 || pad > 0)
			return st_error_set(err, ST_EINVALID, "base64: bad character at %zu", i);
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (st_buf_addch(out, (char)((acc >> bits) & 0xff), err) < 0)
				return -ST_ENOMEM;
		}
	}
	if (pad > 2 || (len % 4) != 0)
		return st_error_set(err, ST_EINVALID, "base64: bad length");
	return 0;
}

static int parse_line(struct srv_auth *a, char *line, struct st_error *err)
{
	char *colon = strchr(line, ':');
	struct htuser *nu;

	if (!colon || line[0] == '#')
		return 0;
	*colon = '\0';
	if (strncmp(colon + 1, "$2", 2) != 0)
		return st_error_set(err, ST_EUNSUPPORTED,
		                    "htpasswd: user '%s': only bcrypt hashes (htpasswd -B)", line);
	nu = realloc(a->users, (a->n_users + 1) * sizeof(*nu));
	if (!nu)
		return st_error_set(err, ST_ENOMEM, "htpasswd");
	a->users = nu;
	nu[a->n_users].name = strdup(line);
	nu[a->n_users].hash = strdup(colon + 1);
	a->n_users++;
	if (!nu[a->n_users - 1].name || !nu[a->n_users - 1].hash)
		return st_error_set(err, ST_ENOMEM, "htpasswd");
	return 0;
}

int srv_auth_load(const char *path, struct srv_auth **out, struct st_error *err)
{
	cleanup_buf struct st_buf text = ST_BUF_INIT;
	struct srv_auth *a;
	char *line, *save = NULL;
	int rc = st_read_file_at(AT_FDCWD, path, &text, AUTH_MAX_FILE, err);

	if (rc < 0)
		return st_error_wrap(err, "htpasswd");
	a = calloc(1, sizeof(*a));
	if (!a)
		return st_error_set(err, ST_ENOMEM, "htpasswd");
	pthread_mutex_init(&a->mu, NULL);
	for (line = strtok_r(text.data, "\r\n", &save); line && rc == 0;
	     line = strtok_r(NULL, "\r\n", &save))
		rc = parse_line(a, line, err);
	if (rc == 0 && a->n_users == 0)
		rc = st_error_set(err, ST_EINVALID, "htpasswd '%s': no users", path);
	if (rc < 0) {
		srv_auth_free(a);
		return rc;
	}
	*out = a;
	return 0;
}

void srv_auth_free(struct srv_auth *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->n_users; i++) {
		free(a->users[i].name);
		free(a->users[i].hash);
	}
	free(a->users);
	pthread_mutex_destroy(&a->mu);
	free(a);
}

static bool cached(struct srv_auth *a, const struct st_digest *key, size_t *user)
{
	bool hit = false;

	pthread_mutex_lock(&a->mu);
	for (size_t i = 0; i < a->n_cache && !hit; i++) {
		hit = st_digest_equal(&a->cache[i], key);
		if (hit)
			*user = a->cache_user[i];
	}
	pthread_mutex_unlock(&a->mu);
	return hit;
}

static void remember(struct srv_auth *a, const struct st_digest *key, size_t user)
{
	pthread_mutex_lock(&a->mu);
	a->cache[a->next] = *key;
	a->cache_user[a->next] = user;
	a->next = (a->next + 1) % AUTH_CACHE;
	if (a->n_cache < AUTH_CACHE)
		a->n_cache++;
	pthread_mutex_unlock(&a->mu);
}

/* bcrypt: the hash of the password with the stored salt must equal the stored hash. */
static bool bcrypt_ok(const char *hash, const char *password)
{
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	const char *h;
	bool ok = false;
	size_t n;

	if (!cd)
		return false;
	/* crypt_rn (libxcrypt) rather than crypt_r: NULL on failure instead of a "*" string, and
	 * ASan's crypt_r interceptor jumps to NULL when libcrypt is a library's dependency */
	h = crypt_rn(password, hash, cd, (int)sizeof(*cd));
	n = strlen(hash);
	if (h && strlen(h) == n) {
		unsigned diff = 0;
		for (size_t i = 0; i < n; i++)
			diff |= (unsigned)(h[i] ^ hash[i]);
		ok = diff == 0;
	}
	free(cd);
	return ok;
}

int srv_auth_check(struct srv_auth *a, const char *header, char *user, size_t user_len)
{
	cleanup_buf struct st_buf cred = ST_BUF_INIT;
	struct st_digest key;
	char *colon;
	size_t u;

	if (!header || strncasecmp(header, "Basic ", 6) != 0)
		return -ST_EAUTH;
	header += 6;
	header += strspn(header, " ");
	cred.max = 4096;
	if (st_serve_base64_decode(header, strlen(header), &cred, NULL) < 0 ||
	    memchr(cred.data, '\0', cred.len) || !(colon = strchr(cred.data, ':')))
		return -ST_EAUTH;
	if (st_digest_of(ST_DIGEST_SHA256, cred.data, cred.len, &key, NULL) < 0)
		return -ST_EAUTH;
	*colon = '\0';
	if (!cached(a, &key, &u)) {
		for (u = 0; u < a->n_users; u++)
			if (strcmp(a->users[u].name, cred.data) == 0)
				break;
		if (u == a->n_users || !bcrypt_ok(a->users[u].hash, colon + 1))
			return -ST_EAUTH;
		remember(a, &key, u);
	}
	snprintf(user, user_len, "%s", a->users[u].name);
	return 0;
}
