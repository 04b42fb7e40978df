/*
 * protocol.c - the git credential protocol verbs: get, store and erase, as
 * small as git's builtin/credential-store.c; credential.c parses what git sends.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "helper.h"

/*
 * Loads the context and returns the host= that git sends for api_url, with
 * *err the result of the load.  When the configuration does not load, that
 * of the default api_url: a request for SoundCloud's host is where a broken
 * configuration gets reported, and every other host hears nothing, so that a
 * helper configured for every host does not complain on each push elsewhere.
 */
static const char *
our_host(struct cmd *cmd, int *err)
{
	if ((*err = ctx_open(cmd)) < 0)
		return SOUNDCLOUD_HOST;
	return scauth_ctx_api_host(cmd->ctx);
}

/*
 * Loads the context for a request that git sent us.  Returns 1 when the
 * request is for api_url's host, 0 when it is not ours (say nothing), or a
 * negative error for one that would have been ours.
 */
static int
request_is_ours(struct cmd *cmd, const struct credential *c)
{
	const char *host;
	int r;

	if (c->protocol == NULL || strcmp(c->protocol, "https") != 0 || c->host == NULL)
		return 0;
	host = our_host(cmd, &r);
	/* Host names ignore case; git sends the host as the URL spelled it. */
	if (host == NULL || strcasecmp(c->host, host) != 0)
		return 0;
	return r < 0 ? r : 1;
}

/*
 * Reads and parses the request.  Returns 1 when c holds it; else 0 with
 * *status the exit status.  A request that cannot be read or parsed (git
 * never sends one) is dropped, and no token is handed out for it.  Why is
 * said only when what was read of it names protocol=https and our host: a
 * helper configured for every host must stay silent for a foreign host, even
 * when a hostile server there made git pass on a header too long to read.
 */
static int
read_request(struct cmd *cmd, struct cred_buf *in, struct credential *c, int *status)
{
	const char *host;
	int r, err;

	*status = 0;
	if ((r = cred_read_fd(STDIN_FILENO, in)) == CRED_OK)
		r = cred_parse(c, in->p, in->len);
	if (r == CRED_OK)
		return 1;
	if (r == CRED_EIO) {
		fprintf(stderr, PROG ": reading the request: %s\n", strerror(errno));
		*status = EX_FAILURE;
		return 0;
	}
	if (r == CRED_ENOMEM) {
		fprintf(stderr, PROG ": request dropped: %s\n", cred_strerror(r));
		*status = EX_FAILURE;
		return 0;
	}
	if (!cred_names(in->p, in->len, "protocol", "https", 0) ||
	    (host = our_host(cmd, &err)) == NULL || !cred_names(in->p, in->len, "host", host, 1))
		return 0;
	if (c->lineno > 0)
		fprintf(stderr, PROG ": request dropped: line %u: %s\n", c->lineno,
		    cred_strerror(r));
	else
		fprintf(stderr, PROG ": request dropped: %s\n", cred_strerror(r));
	*status = EX_USAGE;
	return 0;
}

/* The username= we answer: the permalink when it is one we can send, else "oauth". */
static const char *
answer_username(const scauth_token *t)
{
	const char *p = scauth_token_permalink(t);

	if (!nonempty(p) || strpbrk(p, "\r\n") != NULL)
		return "oauth";
	return p;
}

/* A request naming another user is not for our token. */
static int
username_matches(const struct credential *c, const scauth_token *t)
{
	if (c->username == NULL || *c->username == '\0')
		return 1;
	return strcmp(c->username, answer_username(t)) == 0 || strcmp(c->username, "oauth") == 0;
}

static int
answer(struct cmd *cmd, const struct credential *c, const scauth_token *t)
{
	char buf[MAX_ANSWER], expiry[32];
	struct cred_out o = { buf, 0, sizeof(buf) };
	const char *token = scauth_token_access(t);
	int authtype = cred_has_capability(c, "authtype");
	time_t exp = scauth_token_expires(t), due = scauth_token_fresh_until(cmd->ctx, t);
	int r = CRED_OK, status;

	expiry[0] = '\0';
	if (exp > 0) {
		/*
		 * Git drops a password when the library would stop handing it
		 * out (the margin as the library counts it) and asks again:
		 * then we refresh.  A token that is due as soon as it is
		 * issued (it lives less than a margin set on purpose) keeps
		 * its real expiry, or git would throw it away at once.
		 */
		if (due > time(NULL))
			exp = due;
		snprintf(expiry, sizeof(expiry), "%lld", (long long)exp);
	}
	if (authtype)
		r = cred_put(&o, "capability[]", "authtype");
	if (r == CRED_OK)
		r = cred_put(&o, "username", answer_username(t));
	if (r == CRED_OK)
		r = cred_put(&o, "password", token != NULL ? token : "");
	if (r == CRED_OK && expiry[0] != '\0')
		r = cred_put(&o, "password_expiry_utc", expiry);
	/* git 2.46+ uses these and ignores the password; older git the reverse. */
	if (r == CRED_OK && authtype)
		r = cred_put(&o, "authtype", "OAuth");
	if (r == CRED_OK && authtype)
		r = cred_put(&o, "credential", token != NULL ? token : "");
	if (token == NULL || r != CRED_OK) {
		fprintf(stderr, PROG ": the stored token cannot be handed to git\n");
		status = EX_FAILURE;
	} else {
		status = out_write(buf, o.len);
	}
	scauth_wipe(buf, sizeof(buf));
	return status;
}

int
cmd_get(struct cmd *cmd, int argc, char **argv)
{
	struct cred_buf in = { 0 };
	struct credential c = { 0 };
	struct login_opts lo = { 0, 0, DEFAULT_TIMEOUT, 0, 0 };
	scauth_token *t = NULL;
	int r, status = 0;

	(void)argv;
	if (argc > 1)
		return usage_error("get takes no arguments");
	if (!read_request(cmd, &in, &c, &status))
		goto out;
	if ((r = request_is_ours(cmd, &c)) <= 0) {
		if (r < 0)
			status = fail(cmd, r, NULL);
		goto out;
	}
	r = scauth_token_get(cmd->ctx, SCAUTH_GRANT_USER, &t);
	if (r == SCAUTH_ELOGIN) {
		/* Not logged in and nobody to ask: git goes on to its next helper. */
		if (!person_can_answer())
			goto out;
		r = login_flow(cmd, &lo, &t);
	}
	if (r < 0) {
		status = fail(cmd, r, NULL);
		goto out;
	}
	if (username_matches(&c, t))
		status = answer(cmd, &c, t);
 out:
	scauth_token_free(t);
	cred_clear(&c);
	cred_buf_free(&in);
	return status;
}

/* Our token is stored already; a foreign one is none of our business. */
int
cmd_store(struct cmd *cmd, int argc, char **argv)
{
	struct cred_buf in = { 0 };
	struct credential c = { 0 };
	int status;

	(void)argv;
	if (argc > 1)
		return usage_error("store takes no arguments");
	(void)read_request(cmd, &in, &c, &status);
	cred_clear(&c);
	cred_buf_free(&in);
	return status;
}

/*
 * git erases a credential the server refused (a 401).  Dropping just that
 * access token makes the next get refresh it; a token that is not the
 * stored one is ignored by the library.
 */
int
cmd_erase(struct cmd *cmd, int argc, char **argv)
{
	struct cred_buf in = { 0 };
	struct credential c = { 0 };
	int r = SCAUTH_OK, status;

	(void)argv;
	if (argc > 1)
		return usage_error("erase takes no arguments");
	if (!read_request(cmd, &in, &c, &status))
		goto out;
	if ((r = request_is_ours(cmd, &c)) <= 0)
		goto done;
	r = SCAUTH_OK;
	if (c.password != NULL && *c.password != '\0')
		r = scauth_token_invalidate(cmd->ctx, SCAUTH_GRANT_USER, c.password);
	if (r == SCAUTH_OK && c.credential != NULL && *c.credential != '\0')
		r = scauth_token_invalidate(cmd->ctx, SCAUTH_GRANT_USER, c.credential);
 done:
	if (r < 0 && r != SCAUTH_ELOGIN)
		status = fail(cmd, r, NULL);
 out:
	cred_clear(&c);
	cred_buf_free(&in);
	return status;
}
