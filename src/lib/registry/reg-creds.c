/* reg-creds.c: credentials in Docker's config.json ("auths", "credHelpers", "credsStore"), and
 * Docker's credential helper protocol (`docker-credential-<name> get|store|erase`, JSON on
 * stdout, the server URL on stdin), so that logins made by docker, podman or skopeo just work. */
#include "registry/registry-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fs.h"
#include "util/json.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

#define MAX_AUTH_FILE (4u << 20)
#define MAX_HELPER_OUT (1u << 20)

extern char **environ;

void st_reg_cred_release(struct st_reg_cred *c)
{
	free(c->username);
	free(c->secret);
	free(c->identity_token);
	free(c->helper);
	memset(c, 0, sizeof(*c));
}

/* Docker's ConvertToHostname: scheme and path dropped; Docker Hub's aliases are one host. */
static bool same_host(const char *key, const char *domain)
{
	size_t n;
	bool hub_key, hub_dom;

	if (st_str_has_prefix(key, "https://"))
		key += 8;
	else if (st_str_has_prefix(key, "http://"))
		key += 7;
	n = strcspn(key, "/");
	hub_key = (n == 9 && strncmp(key, "docker.io", 9) == 0) ||
	          (n == 15 && strncmp(key, "index.docker.io", 15) == 0) ||
	          (n == 20 && strncmp(key, "registry-1.docker.io", 20) == 0);
	hub_dom = strcmp(domain, "docker.io") == 0;
	if (hub_key || hub_dom)
		return hub_key && hub_dom;
	return strlen(domain) == n && strncmp(key, domain, n) == 0;
}

static int dup_into(char **dst, const char *p, size_t n, struct st_error *err)
{
	*dst = st_strndup(p, n);
	return *dst ? 0 : st_error_set(err, ST_ENOMEM, "out of memory");
}

/* An "auths" entry: "auth" (base64 of user:password) or username/password, "identitytoken". */
static int parse_auth_entry(json_t *e, const char *key, struct st_reg_cred *out,
                            struct st_error *err)
{
	cleanup_buf struct st_buf dec = ST_BUF_INIT;
	const char *auth = NULL, *user = NULL, *pass = NULL, *idt = NULL;
	const char *colon;
	int rc;

	if (!json_is_object(e))
		return st_error_set(err, ST_EINVALID, "auths.%s: not an object", key);
	if ((rc = st_json_get_str(e, "auth", false, key, &auth, err)) < 0 ||
	    (rc = st_json_get_str(e, "username", false, key, &user, err)) < 0 ||
	    (rc = st_json_get_str(e, "password", false, key, &pass, err)) < 0 ||
	    (rc = st_json_get_str(e, "identitytoken", false, key, &idt, err)) < 0)
		return rc;
	if (auth && *auth) {
		rc = st_reg_base64_decode(auth, strlen(auth), &dec, err);
		if (rc < 0)
			return st_error_wrap(err, "auths.%s.auth", key);
		colon = memchr(dec.data, ':', dec.len);
		if (!colon)
			return st_error_set(err, ST_EINVALID,
			                    "auths.%s.auth: no ':' in user:password", key);
		if (dup_into(&out->username, dec.data, (size_t)(colon - dec.data), err) < 0 ||
		    dup_into(&out->secret, colon + 1, dec.len - (size_t)(colon - dec.data) - 1,
		             err) < 0)
			return -ST_ENOMEM;
	} else if (user && pass) {
		if (dup_into(&out->username, user, strlen(user), err) < 0 ||
		    dup_into(&out->secret, pass, strlen(pass), err) < 0)
			return -ST_ENOMEM;
	}
	if (idt && *idt && dup_into(&out->identity_token, idt, strlen(idt), err) < 0)
		return -ST_ENOMEM;
	return out->username || out->identity_token ? 0 : -ST_ENOTFOUND;
}

static const char *helper_for(json_t *root, const char *domain)
{
	json_t *helpers = json_object_get(root, "credHelpers");
	json_t *store = json_object_get(root, "credsStore");
	const char *key;
	json_t *v;

	if (json_is_object(helpers))
		json_object_foreach(helpers, key,
		                    v) if (json_is_string(v) && same_host(key, domain) &&
		                           *json_string_value(v)) return json_string_value(v);
	return json_is_string(store) && *json_string_value(store) ? json_string_value(store) : NULL;
}

int st_reg_creds_parse(const char *text, size_t len, const char *domain, struct st_reg_cred *out,
                       struct st_error *err)
{
	cleanup_json json_t *root = NULL;
	struct st_reg_cred c = {0};
	json_t *auths, *v;
	const char *key, *helper;
	int rc = st_json_parse(text, len, "config.json", &root, err);

	if (rc < 0)
		return rc;
	if (!json_is_object(root))
		return st_error_set(err, ST_EINVALID, "config.json: not an object");
	helper = helper_for(root, domain);
	if (helper) {
		if (strchr(helper, '/'))
			return st_error_set(err, ST_EINVALID, "config.json: bad helper name '%s'",
			                    helper);
		if (dup_into(&out->helper, helper, strlen(helper), err) < 0)
			return -ST_ENOMEM;
		return 0;
	}
	auths = json_object_get(root, "auths");
	if (!json_is_object(auths))
		return -ST_ENOTFOUND;
	json_object_foreach(auths, key, v)
	{
		if (!same_host(key, domain))
			continue;
		rc = parse_auth_entry(v, key, &c, err);
		if (rc == 0) {
			*out = c;
			return 0;
		}
		st_reg_cred_release(&c);
		if (rc != -ST_ENOTFOUND)
			return rc;
	}
	return -ST_ENOTFOUND;
}

int st_reg_auth_path(const struct st_registry_opts *opts, struct st_buf *out, struct st_error *err)
{
	const char *dir = getenv("DOCKER_CONFIG"), *home = getenv("HOME");

	if (opts && opts->auth_file)
		return st_buf_adds(out, opts->auth_file, err);
	if (dir && *dir)
		return st_buf_addf(out, err, "%s/config.json", dir);
	if (!home || !*home)
		return st_error_set(err, ST_ENOTFOUND, "neither DOCKER_CONFIG nor HOME is set");
	return st_buf_addf(out, err, "%s/.docker/config.json", home);
}

/* Runs docker-credential-<helper> <verb>, writing `in` to its stdin and reading its stdout. */
static int run_helper(const char *helper, const char *verb, const char *in, struct st_buf *out,
                      struct st_error *err)
{
	cleanup_buf struct st_buf prog = ST_BUF_INIT;
	posix_spawn_file_actions_t fa;
	int inp[2] = {-1, -1}, outp[2] = {-1, -1}, status = 0, rc;
	pid_t pid;
	char *argv[3];

	if (st_buf_addf(&prog, err, "docker-credential-%s", helper) < 0)
		return -ST_ENOMEM;
	if (pipe2(inp, O_CLOEXEC) < 0)
		return st_error_sys(err, "pipe");
	if (pipe2(outp, O_CLOEXEC) < 0) {
		rc = st_error_sys(err, "pipe");
		close(inp[0]), close(inp[1]);
		return rc;
	}
	argv[0] = prog.data, argv[1] = (char *)verb, argv[2] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, inp[0], 0);
	posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
	rc = posix_spawnp(&pid, prog.data, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(inp[0]), close(outp[1]);
	if (rc != 0) {
		close(inp[1]), close(outp[0]);
		return st_error_errno(err, rc, "credential helper %s", prog.data);
	}
	{
		void (*old)(int) = signal(SIGPIPE, SIG_IGN);
		(void)st_write_all(inp[1], in, strlen(in), NULL);
		close(inp[1]);
		signal(SIGPIPE, old);
	}
	rc = st_read_all(outp[0], out, MAX_HELPER_OUT, err);
	close(outp[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (rc < 0)
		return rc;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		if (strstr(out->data, "credentials not found"))
			return -ST_ENOTFOUND;
		return st_error_set(err, ST_EAUTH, "credential helper %s %s failed: %.200s",
		                    prog.data, verb, out->data);
	}
	return 0;
}

static int helper_get(const char *helper, const char *domain, struct st_reg_cred *out,
                      struct st_error *err)
{
	cleanup_buf struct st_buf res = ST_BUF_INIT;
	cleanup_json json_t *j = NULL;
	const char *user = NULL, *secret = NULL;
	int rc = run_helper(helper, "get", st_reg_auth_key(domain), &res, err);

	if (rc < 0)
		return rc;
	if ((rc = st_json_parse(res.data, res.len, "credential helper output", &j, err)) < 0 ||
	    (rc = st_json_get_str(j, "Username", false, "helper", &user, err)) < 0 ||
	    (rc = st_json_get_str(j, "Secret", true, "helper", &secret, err)) < 0)
		return rc;
	/* Docker: the user "<token>" means Secret is an identity (refresh) token */
	if (user && strcmp(user, "<token>") == 0)
		return dup_into(&out->identity_token, secret, strlen(secret), err);
	if (dup_into(&out->username, user ? user : "", user ? strlen(user) : 0, err) < 0 ||
	    dup_into(&out->secret, secret, strlen(secret), err) < 0)
		return -ST_ENOMEM;
	return 0;
}

int st_reg_creds_lookup(const struct st_registry_opts *opts, const char *domain,
                        struct st_reg_cred *out, struct st_error *err)
{
	cleanup_buf struct st_buf path = ST_BUF_INIT;
	cleanup_buf struct st_buf text = ST_BUF_INIT;
	struct st_reg_cred c = {0};
	int rc = st_reg_auth_path(opts, &path, NULL);

	if (rc < 0)
		return -ST_ENOTFOUND;
	rc = st_read_file_at(AT_FDCWD, path.data, &text, MAX_AUTH_FILE, err);
	if (rc < 0)
		return rc == -ST_ENOTFOUND ? rc : st_error_wrap(err, "credentials");
	rc = st_reg_creds_parse(text.data, text.len, domain, &c, err);
	if (rc == 0 && c.helper) {
		char *helper = take_ptr(&c.helper);
		rc = helper_get(helper, domain, &c, err);
		free(helper);
	}
	if (rc < 0) {
		st_reg_cred_release(&c);
		return rc == -ST_ENOTFOUND ? rc : st_error_wrap(err, "%s", path.data);
	}
	*out = c;
	return 0;
}

/* Sets or removes auths[key] in the document; with a helper the entry is left empty. */
static int edit_auths(json_t *root, const char *domain, const char *user, const char *pass,
                      bool via_helper, struct st_error *err)
{
	cleanup_buf struct st_buf up = ST_BUF_INIT, enc = ST_BUF_INIT;
	json_t *auths = json_object_get(root, "auths"), *e;
	const char *key;
	void *tmp;
	bool found = false;

	if (!json_is_object(auths)) {
		if (!user)
			return -ST_ENOTFOUND;
		if (st_json_set_new(root, "auths", json_object(), err) < 0)
			return -ST_ENOMEM;
		auths = json_object_get(root, "auths");
	}
	json_object_foreach_safe(auths, tmp, key, e)
	{
		if (same_host(key, domain)) {
			json_object_del(auths, key);
			found = true;
		}
	}
	if (!user)
		return found ? 0 : -ST_ENOTFOUND;
	e = json_object();
	if (st_json_set_new(auths, st_reg_auth_key(domain), e, err) < 0)
		return -ST_ENOMEM;
	if (via_helper)
		return 0;
	if (st_buf_addf(&up, err, "%s:%s", user, pass) < 0 ||
	    st_reg_base64_encode(up.data, up.len, &enc, err) < 0)
		return -ST_ENOMEM;
	return st_json_set_str(e, "auth", enc.data, err);
}

static int write_config(const char *path, json_t *root, struct st_error *err)
{
	cleanup_buf struct st_buf out = ST_BUF_INIT;
	cleanup_free char *dir = st_strndup(path, strlen(path));
	cleanup_fd int dfd = -1;
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	char *slash;
	int rc;

	if (!dir)
		return st_error_set(err, ST_ENOMEM, "out of memory");
	slash = strrchr(dir, '/');
	if (slash && slash != dir)
		*slash = '\0';
	else if (slash)
		dir[1] = '\0';
	else
		dir[0] = '.', dir[1] = '\0';
	if ((rc = st_mkdir_p(AT_FDCWD, dir, 0700, err)) < 0)
		return rc;
	dfd = st_open_dir_at(AT_FDCWD, dir, err);
	if (dfd < 0)
		return dfd;
	if (st_json_dump(root, &out, err) < 0 || st_buf_addch(&out, '\n', err) < 0)
		return -ST_ENOMEM;
	return st_write_file_atomic(dfd, base, dfd, out.data, out.len, 0600, err);
}

int st_reg_creds_store(const struct st_registry_opts *opts, const char *domain,
                       const char *username, const char *password, struct st_error *err)
{
	cleanup_buf struct st_buf path = ST_BUF_INIT, text = ST_BUF_INIT, io = ST_BUF_INIT;
	cleanup_json json_t *root = NULL;
	const char *helper;
	int rc;

	if ((rc = st_reg_auth_path(opts, &path, err)) < 0)
		return rc;
	rc = st_read_file_at(AT_FDCWD, path.data, &text, MAX_AUTH_FILE, err);
	if (rc < 0 && rc != -ST_ENOTFOUND)
		return rc;
	if (rc < 0 && !username)
		return st_error_set(err, ST_ENOTFOUND, "not logged in to %s", domain);
	if (rc == 0 && (rc = st_json_parse(text.data, text.len, path.data, &root, err)) < 0)
		return rc;
	rc = 0;
	if (!root && !(root = json_object()))
		return st_error_set(err, ST_ENOMEM, "out of memory");
	if (!json_is_object(root))
		return st_error_set(err, ST_EINVALID, "%s: not an object", path.data);
	helper = helper_for(root, domain);
	if (helper && username) {
		cleanup_json json_t *msg =
		        json_pack("{s:s,s:s,s:s}", "ServerURL", st_reg_auth_key(domain), "Username",
		                  username, "Secret", password);
		if (!msg || st_json_dump(msg, &io, err) < 0)
			return st_error_set(err, ST_ENOMEM, "out of memory");
		rc = run_helper(helper, "store", io.data, &text, err);
	} else if (helper) {
		rc = run_helper(helper, "erase", st_reg_auth_key(domain), &text, err);
	}
	if (rc < 0)
		return rc;
	rc = edit_auths(root, domain, username, password, helper != NULL, err);
	if (rc == -ST_ENOTFOUND && helper)
		return 0; /* erased from the helper; config.json had no entry */
	if (rc < 0)
		return rc == -ST_ENOTFOUND
		               ? st_error_set(err, ST_ENOTFOUND, "not logged in to %s", domain)
		               : rc;
	return write_config(path.data, root, err);
}
