/*
 * fuzz_callback.c - libFuzzer target over callback_parse(), the parser of the
 * one request that anything on the machine (or the kiosk's LAN) may send to
 * the login listener.  Beyond memory safety it checks what the listener
 * relies on: a failed parse leaves nothing behind, and what a good one keeps
 * is within its caps and free of control characters.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Ilib \
 *     $(pkg-config --cflags json-c) \
 *     tests/fuzz/fuzz_callback.c lib/listen.c lib/encode.c lib/secret.c \
 *     lib/error.c lib/json.c -ljson-c -o fuzz_callback
 *   ./fuzz_callback -max_total_time=60 tests/fuzz/corpus/callback
 */
#include "internal.h"
#include "login.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
printable(const char *s, int space_ok)
{
	for (; s != NULL && *s != '\0'; s++) {
		if (*s < (space_ok ? 0x20 : 0x21) || *s > 0x7e)
			abort();
	}
}

static void
invariants(int r, const struct callback *cb)
{
	if (r != 1) {
		/* Nothing kept from a request that is not ours or not good. */
		if (cb->code != NULL || cb->state != NULL || cb->error != NULL ||
		    cb->error_description != NULL || cb->iss != NULL)
			abort();
		return;
	}
	if (cb->code != NULL && (*cb->code == '\0' || strlen(cb->code) > MAX_TOKEN_LEN))
		abort();
	if (cb->error_description != NULL && strlen(cb->error_description) > 200)
		abort();
	printable(cb->code, 0);
	printable(cb->state, 0);
	printable(cb->iss, 0);
	printable(cb->error, 1);
	printable(cb->error_description, 1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct callback cb;
	int r;

	/* data is not NUL-terminated: an over-read past size is a finding. */
	r = callback_parse((const char *)data, size, "/callback", &cb);
	if (r != 1 && r != 0 && r != SCAUTH_EINVAL && r != SCAUTH_ENOMEM)
		abort();
	invariants(r, &cb);
	callback_free(&cb);

	/* The same bytes as a pasted query. */
	r = callback_parse_query((const char *)data, size, &cb);
	if (r != 0 && r != SCAUTH_EINVAL && r != SCAUTH_ENOMEM)
		abort();
	invariants(r == 0 ? 1 : r, &cb);
	callback_free(&cb);
	return 0;
}
