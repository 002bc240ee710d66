/* reg-login.c: `login` checks credentials against the registry (the /v2/ endpoint with Basic
 * auth, or a token from its token server) before storing them; `logout` removes them. */
#include "registry/registry-internal.h"

#include <string.h>

#include "strata/ref.h"

#include "util/banned.h" /* last: it poisons names the system headers use */

static const char *normal_domain(const char *registry)
{
	/* "docker.io", "index.docker.io", "https://index.docker.io/v1/" are Docker Hub */
	if (st_str_has_prefix(registry, "https://"))
		registry += 8;
	else if (st_str_has_prefix(registry, "http://"))
		registry += 7;
	if (st_str_has_prefix(registry, "index.docker.io") ||
	    st_str_has_prefix(registry, "registry-1.docker.io"))
		return ST_REF_DEFAULT_DOMAIN;
	return registry;
}

static int domain_of(const char *registry, char *domain, struct st_error *err)
{
	const char *d = normal_domain(registry);
	size_t n = strcspn(d, "/");

	if (n == 0 || n >= 256)
		return st_error_set(err, ST_EINVALID, "bad registry name '%s'", registry);
	memcpy(domain, d, n);
	domain[n] = '\0';
	return 0;
}

int st_registry_login(const char *registry, const char *username, const char *password,
                      const struct st_registry_opts *opts, struct st_error *err)
{
	struct st_registry_opts o = opts ? *opts : (struct st_registry_opts){0};
	struct st_reg_client *c = NULL;
	char domain[256];
	int rc = domain_of(registry, domain, err);

	if (rc < 0)
		return rc;
	if (!username || !*username)
		return st_error_set(err, ST_EINVALID, "login to %s: a user name is needed", domain);
	o.username = username;
	o.password = password ? password : "";
	rc = st_reg_client_new(domain, &o, &c, err);
	if (rc == 0)
		rc = st_reg_client_check(c, err);
	st_reg_client_free(c);
	if (rc < 0)
		return rc;
	return st_reg_creds_store(opts, domain, username, o.password, err);
}

int st_registry_logout(const char *registry, const struct st_registry_opts *opts,
                       struct st_error *err)
{
	char domain[256];
	int rc = domain_of(registry, domain, err);

	if (rc < 0)
		return rc;
	return st_reg_creds_store(opts, domain, NULL, NULL, err);
}
