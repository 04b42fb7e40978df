/*
 * fuzz_config.c - libFuzzer target: the INI parser of configuration files,
 * for a profile and without one.
 */
#include "internal.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
check(void *arg, const char *key, const char *value, int in_profile, int lineno)
{
	(void)arg;
	(void)in_profile;
	/* Only known keys reach the callback, and values are single lines. */
	if (cfg_key_index(key) < 0 || strchr(value, '\n') != NULL || lineno < 1)
		__builtin_trap();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[200];

	(void)config_parse((const char *)data, size, "work", check, NULL, err, sizeof(err));
	(void)config_parse((const char *)data, size, NULL, check, NULL, err, sizeof(err));
	return 0;
}
