/*
 * fuzz_map.c - libFuzzer target: the map file parser of pam_soundcloud, and
 * the matching of a parsed map against identities taken from the input.
 */
#include "map.h"

#include "scauth.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct map *m = NULL;
	char err[MAP_ERRLEN];
	int r;

	r = map_parse((const char *)data, size, "fuzz.map", &m, err, sizeof(err));
	/* Exactly one of: a map, or an error with a message naming the file. */
	if ((r == 0) != (m != NULL) || (r != 0 && r != SCAUTH_ECONFIG && r != SCAUTH_ENOMEM) ||
	    (r == SCAUTH_ECONFIG && strncmp(err, "fuzz.map", 8) != 0))
		__builtin_trap();
	if (m != NULL) {
		/* Nothing is allowed without a valid urn, whatever the rules. */
		if (map_allows(m, NULL, "test-user", "alice") ||
		    map_allows(m, "", NULL, "alice") ||
		    map_allows(m, "soundcloud:users:", "x", "alice"))
			__builtin_trap();
		(void)map_allows(m, "soundcloud:users:1001", "test-user", "alice");
		(void)map_has_user(m, "alice");
		if (map_rules(m) > size)
			__builtin_trap();
	}
	map_free(m);
	return 0;
}
