/*
 * fuzz_json.c - libFuzzer target: every parser of server answers (token
 * reply, error body, /me) over the same bytes.  They must reject or accept
 * without crashing, leaking or reading out of bounds.
 */
#include "internal.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct token_reply tr;
	struct oauth_error oe;
	struct me_reply me;
	char why[160];
	const char *body = (const char *)data;

	if (json_token_reply(body, size, &tr, why, sizeof(why)) == SCAUTH_OK) {
		/* What was accepted must satisfy the rules the rest relies on. */
		if (tr.access == NULL || strlen(tr.access) == 0 || strlen(tr.access) > MAX_TOKEN_LEN)
			__builtin_trap();
		token_reply_free(&tr);
	}
	if (json_oauth_error(body, size, &oe)) {
		if (strlen(oe.error) >= sizeof(oe.error) || strlen(oe.description) >= sizeof(oe.description))
			__builtin_trap();
		(void)oauth_error_code(oe.error);
	}
	if (json_me_reply(body, size, &me, why, sizeof(why)) == SCAUTH_OK) {
		if (me.urn == NULL || strncmp(me.urn, "soundcloud:users:", 17) != 0)
			__builtin_trap();
		me_reply_free(&me);
	}
	return 0;
}
