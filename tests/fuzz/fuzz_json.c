/*
 * fuzz_json.c - libFuzzer target: every parser of server answers (token
 * reply, error body, /me) over the same bytes.  They must reject or accept
 * without crashing, leaking or reading out of bounds.  And the strict check
 * run before json-c must never be laxer than json-c: an object it takes,
 * json-c (strict, as deep as we let it) parses to the end.
 */
#include "internal.h"

#include <json.h>
#include <stdint.h>
#include <string.h>

static void
json_c_agrees(const char *body, size_t size)
{
	struct json_tokener *tok;
	struct json_object *o;
	char why[80];
	size_t longest;

	if (size > INT32_MAX || json_validate(body, size, &longest, why, sizeof(why)) != 0)
		return;
	if ((tok = json_tokener_new_ex(MAX_JSON_DEPTH)) == NULL)
		return;
	json_tokener_set_flags(tok, JSON_PARSE_FLAGS);
	o = json_tokener_parse_ex(tok, body, (int)size);
	if (o == NULL || json_tokener_get_error(tok) != json_tokener_success ||
	    json_object_get_type(o) != json_type_object || json_tokener_get_parse_end(tok) != size)
		__builtin_trap();
	json_object_put(o);
	json_tokener_free(tok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct token_reply tr;
	struct oauth_error oe;
	struct me_reply me;
	char why[160];
	const char *body = (const char *)data;

	json_c_agrees(body, size);
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
