/*
 * token.c - a program that links libscauth: it gets a valid access token for
 * the logged-in user (refreshing it if needed), asks the API who that is
 * (GET /me), and prints who.  Build it against an installed library with
 *
 *   cc token.c $(pkg-config --cflags --libs libscauth) -o token
 *
 * and log in first with `git-credential-soundcloud login`.  It never prints
 * the token.  Usage: token [--profile NAME]
 */
#include <stdio.h>
#include <string.h>

#include <scauth.h>

int
main(int argc, char **argv)
{
	scauth_ctx *ctx = NULL;
	scauth_token *t = NULL;
	scauth_response *me = NULL;
	const char *who;
	int r, status = 1;

	if ((r = scauth_ctx_new(&ctx, 0)) != SCAUTH_OK) {
		fprintf(stderr, "token: %s\n", scauth_strerror(r));
		return 1;
	}
	if (argc == 3 && strcmp(argv[1], "--profile") == 0)
		r = scauth_ctx_setopt(ctx, SCAUTH_OPT_PROFILE, argv[2]);
	else if (argc != 1) {
		fprintf(stderr, "usage: token [--profile NAME]\n");
		goto out;
	}
	if (r != SCAUTH_OK || (r = scauth_ctx_load(ctx)) != SCAUTH_OK ||
	    (r = scauth_token_get(ctx, SCAUTH_GRANT_USER, &t)) != SCAUTH_OK ||
	    (r = scauth_api_request(ctx, SCAUTH_GRANT_USER, "GET", "/me", NULL, 0, NULL,
	    &me)) != SCAUTH_OK) {
		fprintf(stderr, "token: %s: %s\n", scauth_strerror(r), scauth_errmsg(ctx));
		goto out;
	}
	if (scauth_response_status(me) != 200) {
		fprintf(stderr, "token: GET /me answered HTTP %ld\n", scauth_response_status(me));
		goto out;
	}
	/* The identity the login recorded from /me; the call just proved the token works. */
	who = scauth_token_username(t) != NULL ? scauth_token_username(t) : "?";
	printf("%s (%s, %s)\n", who,
	    scauth_token_permalink(t) != NULL ? scauth_token_permalink(t) : "?",
	    scauth_token_urn(t) != NULL ? scauth_token_urn(t) : "?");
	status = 0;
out:
	scauth_response_free(me);
	scauth_token_free(t);
	scauth_ctx_free(ctx);
	return status;
}
