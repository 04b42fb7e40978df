/*
 * cmd_fleet.c - `git-credential-soundcloud fleet init [--new-key]`: prepare
 * the shared database of a fleet (store = postgres) from any one of its
 * machines, or from all of them: it is idempotent.
 *
 * --new-key first writes a new random seal key to seal_key_file, and never
 * over an existing file: a key in use seals every record of the fleet, and
 * losing it means every machine logs in again.
 */
#include <stdio.h>
#include <string.h>

#include "helper.h"

int
cmd_fleet(struct cmd *cmd, int argc, char **argv)
{
	unsigned flags = 0;
	int i, r;

	if (argc < 2 || strcmp(argv[1], "init") != 0)
		return usage_error("fleet: %s", argc < 2 ? "no subcommand given (init)" :
		    "unknown subcommand");
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--new-key") != 0)
			return usage_error("fleet init: unknown argument '%s'", argv[i]);
		flags |= SCAUTH_FLEET_NEW_KEY;
	}
	if ((r = ctx_open(cmd)) < 0 || (r = scauth_fleet_init(cmd->ctx, flags)) < 0)
		return fail(cmd, r, "fleet init");
	if (flags & SCAUTH_FLEET_NEW_KEY)
		printf("fleet init: wrote a new seal key to %s; copy it to every machine of "
		    "the fleet (mode 0600)\n", scauth_ctx_get(cmd->ctx, "seal_key_file"));
	printf("fleet init: the database is ready\n");
	return 0;
}
