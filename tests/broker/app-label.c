/*
 * app-label.c - a test tool: the label of the app grant through the public
 * API, in a context made from the environment as git-credential-soundcloud
 * makes its own.  "set LABEL" labels the stored app grant (as a program of
 * someone else's would: peek, set the label, save); "get" renews the grant
 * if it is stale (scauth_token_get) and prints its label, or "-" when none.
 * Never prints a token.
 * Usage: app-label set LABEL | app-label get
 */
#include <stdio.h>
#include <string.h>

#include <scauth.h>

static int
label_set(scauth_ctx *ctx, const char *label)
{
	scauth_token *t = NULL;
	int r;

	if ((r = scauth_token_peek(ctx, SCAUTH_GRANT_APP, &t)) == SCAUTH_OK &&
	    (r = scauth_token_set_label(t, label)) == SCAUTH_OK)
		r = scauth_token_save(ctx, SCAUTH_GRANT_APP, t);
	scauth_token_free(t);
	return r;
}

static int
label_get(scauth_ctx *ctx)
{
	scauth_token *t = NULL;
	const char *label;
	int r;

	if ((r = scauth_token_get(ctx, SCAUTH_GRANT_APP, &t)) == SCAUTH_OK) {
		label = scauth_token_label(t);
		puts(label != NULL ? label : "-");
	}
	scauth_token_free(t);
	return r;
}

int
main(int argc, char **argv)
{
	scauth_ctx *ctx = NULL;
	int r;

	if (!((argc == 3 && strcmp(argv[1], "set") == 0) ||
	    (argc == 2 && strcmp(argv[1], "get") == 0))) {
		fprintf(stderr, "usage: app-label set LABEL | app-label get\n");
		return 2;
	}
	if ((r = scauth_ctx_new(&ctx, 0)) != SCAUTH_OK) {
		fprintf(stderr, "app-label: %s\n", scauth_strerror(r));
		return 1;
	}
	if ((r = scauth_ctx_load(ctx)) == SCAUTH_OK)
		r = argc == 3 ? label_set(ctx, argv[2]) : label_get(ctx);
	if (r != SCAUTH_OK)
		fprintf(stderr, "app-label: %s: %s\n", scauth_strerror(r), scauth_errmsg(ctx));
	scauth_ctx_free(ctx);
	return r == SCAUTH_OK ? 0 : 1;
}
