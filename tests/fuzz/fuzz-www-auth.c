/* fuzz-www-auth.c: st_reg_www_auth_parse on arbitrary bytes (any server's WWW-Authenticate).
 * Invariants: a header that parses formats to one that parses again to the same challenges; a
 * failure always explains itself; the token URL of a Bearer challenge never crashes. */
#include "fuzz.h"
#include <stdlib.h>
#include <string.h>

#include "registry/registry-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool same(const struct st_reg_challenge *a, size_t na, const struct st_reg_challenge *b,
                 size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++) {
		if (strcmp(a[i].scheme, b[i].scheme) != 0 || a[i].n_params != b[i].n_params ||
		    !a[i].token68 != !b[i].token68 ||
		    (a[i].token68 && strcmp(a[i].token68, b[i].token68) != 0))
			return false;
		for (size_t j = 0; j < a[i].n_params; j++)
			if (strcmp(a[i].params[j].name, b[i].params[j].name) != 0 ||
			    strcmp(a[i].params[j].value, b[i].params[j].value) != 0)
				return false;
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct st_error err = ST_ERROR_INIT;
	struct st_reg_challenge *c = NULL, *again = NULL;
	struct st_buf out = ST_BUF_INIT, url = ST_BUF_INIT;
	const char *scope = "repository:a/b:pull";
	size_t n = 0, n2 = 0;

	if (size > 8192)
		return 0;
	if (st_reg_www_auth_parse((const char *)data, size, &c, &n, &err) < 0) {
		FUZZ_CHECK(err.msg[0] != '\0');
		return 0;
	}
	FUZZ_CHECK(n > 0 && n <= ST_REG_MAX_CHALLENGES);
	FUZZ_CHECK(st_reg_www_auth_format(c, n, &out, NULL) == 0);
	FUZZ_CHECK(st_reg_www_auth_parse(out.data, out.len, &again, &n2, NULL) == 0);
	FUZZ_CHECK(same(c, n, again, n2));
	(void)st_reg_token_url(&c[0], &scope, 1, &url, NULL);
	st_reg_challenges_free(c, n);
	st_reg_challenges_free(again, n2);
	st_buf_release(&out);
	st_buf_release(&url);
	return 0;
}
