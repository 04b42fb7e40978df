/*
 * noenv-token.c - a test tool: scauth_token_get() for the user grant in a
 * context made with SCAUTH_CTX_NO_ENV, as the PAM module makes its own, so
 * that the suite can show what the caller's environment can and cannot
 * change.  Prints "ok" or the error; never the token.
 * Usage: noenv-token CONFIG_FILE STATE_DIR HOME
 */
#include <stdio.h>

#include <scauth.h>

int
main(int argc, char **argv)
{
	scauth_ctx *ctx = NULL;
	scauth_token *t = NULL;
	int r;

	if (argc != 4) {
		fprintf(stderr, "usage: noenv-token CONFIG_FILE STATE_DIR HOME\n");
		return 2;
	}
	if ((r = scauth_ctx_new(&ctx, SCAUTH_CTX_NO_ENV)) != SCAUTH_OK) {
		fprintf(stderr, "noenv-token: %s\n", scauth_strerror(r));
		return 1;
	}
	if ((r = scauth_ctx_setopt(ctx, SCAUTH_OPT_CONFIG_FILE, argv[1])) == SCAUTH_OK &&
	    (r = scauth_ctx_setopt(ctx, SCAUTH_OPT_STATE_DIR, argv[2])) == SCAUTH_OK &&
	    (r = scauth_ctx_setopt(ctx, SCAUTH_OPT_HOME, argv[3])) == SCAUTH_OK &&
	    (r = scauth_ctx_load(ctx)) == SCAUTH_OK)
		r = scauth_token_get(ctx, SCAUTH_GRANT_USER, &t);
	if (r == SCAUTH_OK)
		puts("ok");
	else
		fprintf(stderr, "noenv-token: %s: %s\n", scauth_strerror(r), scauth_errmsg(ctx));
	scauth_token_free(t);
	scauth_ctx_free(ctx);
	return r == SCAUTH_OK ? 0 : 1;
}
