/*
 * stage.c - the login of a transaction, and its parked copy in a root-only
 * staging store (stagedir, one slot per uid) for a session opened by another
 * process (sshd forks).  The copy is labelled with a random nonce that goes
 * into the PAM environment (which sshd carries from its auth child back to
 * the process that opens the session); only a transaction holding that nonce
 * takes it.  The uid alone would hand one person's login to another's
 * session when several people log in as one local user.
 */
#include <sys/random.h>

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <security/pam_ext.h>
#include <security/pam_modules.h>
#include <security/pam_modutil.h>

#include "module.h"

/* The staging slot of the user: profile "uid-N" in stagedir. */
static int
stage_ctx(const struct call *c, scauth_ctx **out)
{
	char profile[32];

	snprintf(profile, sizeof(profile), "uid-%u", (unsigned)c->pw->pw_uid);
	return ctx_new(c, profile, c->o.stagedir, c->o.stagedir, out);
}

/* A fresh nonce for this transaction's staged login: 128 random bits in hex. */
int
nonce_new(char nonce[NONCE_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char rnd[NONCE_BYTES];
	ssize_t n;
	size_t i;

	while ((n = getrandom(rnd, sizeof(rnd), 0)) < 0 && errno == EINTR)
		;
	if (n != (ssize_t)sizeof(rnd))
		return -1;
	for (i = 0; i < NONCE_BYTES; i++) {
		nonce[2 * i] = hex[rnd[i] >> 4];
		nonce[2 * i + 1] = hex[rnd[i] & 0x0f];
	}
	nonce[NONCE_LEN] = '\0';
	scauth_wipe(rnd, sizeof(rnd));
	return 0;
}

/* 1 if s has the form of a nonce (so that nothing else is ever compared with one). */
static int
nonce_ok(const char *s)
{
	size_t i;

	for (i = 0; i < NONCE_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[NONCE_LEN] == '\0';
}

/*
 * This transaction's nonce: copied out of the PAM environment.  With spend,
 * also removed there: the session spends it, and it must not reach the
 * environment of the user's session.  Account leaves it, since sshd exports
 * its auth child's PAM environment after account, for the session that
 * another process opens.  1 with nonce set, 0 when there is none.
 */
int
stage_nonce(const struct call *c, char nonce[NONCE_LEN + 1], int spend)
{
	const char *v = pam_getenv(c->pamh, ENV_STAGE);
	int ok, r;

	nonce[0] = '\0';
	if (v == NULL)
		return 0;
	if ((ok = nonce_ok(v)))
		memcpy(nonce, v, NONCE_LEN + 1);
	else
		pam_syslog(c->pamh, LOG_NOTICE, "%s: a malformed %s; ignored", c->fn, ENV_STAGE);
	if ((spend || !ok) && (r = pam_putenv(c->pamh, ENV_STAGE)) != PAM_SUCCESS)
		pam_syslog(c->pamh, LOG_ERR, "pam_putenv: %s", pam_strerror(c->pamh, r));
	return ok;
}

/*
 * Signs out at SoundCloud whatever the store of ctx holds, and erases it: a
 * grant that nobody will ever use must not stay live at the server.
 */
static void
signout_ctx(const struct call *c, scauth_ctx *ctx, const char *why)
{
	int e;

	if ((e = scauth_logout(ctx)) == 0) {
		pam_syslog(c->pamh, LOG_NOTICE, "%s: signed out the SoundCloud login of %s (%s)",
		    c->fn, c->user, why);
		return;
	}
	log_lib(c, LOG_WARNING, why, ctx, e);
	/* scauth_logout() erases unless the error is a local one; make sure. */
	if ((e = scauth_token_erase(ctx, SCAUTH_GRANT_USER)) != 0)
		log_lib(c, LOG_ERR, "erasing the stage", ctx, e);
}

/*
 * Signs out a login held in memory (one that auth made and that no session
 * will get).  The sign-out works on a store, so the login goes through a
 * scratch slot of the stage of its own (root-only, like the stage, and named
 * by a fresh nonce, so that concurrent transactions never share it).
 */
void
signout_login(const struct call *c, const scauth_token *tok, const char *why)
{
	scauth_ctx *ctx = NULL;
	char profile[8 + NONCE_LEN], lock[PATH_MAX];
	char nonce[NONCE_LEN + 1];
	int e;

	if (tok == NULL)
		return;
	if (nonce_new(nonce) != 0) {
		pam_syslog(c->pamh, LOG_ERR, "getrandom: %s", strerror(errno));
		return;
	}
	snprintf(profile, sizeof(profile), "void-%s", nonce);
	if ((e = ctx_new(c, profile, c->o.stagedir, c->o.stagedir, &ctx)) != 0)
		goto out;
	if ((e = scauth_token_save(ctx, SCAUTH_GRANT_USER, tok)) != 0) {
		log_lib(c, geteuid() == 0 ? LOG_ERR : LOG_NOTICE,
		    "cannot sign out the SoundCloud login", ctx, e);
		goto out;
	}
	signout_ctx(c, ctx, why);
 out:
	scauth_ctx_free(ctx);
	/*
	 * The file store leaves the slot's lock file behind ("PROFILE.lock"); one
	 * a sign-out would pile up in /run.  Nobody else knows this slot's name.
	 */
	if (snprintf(lock, sizeof(lock), "%s/%s.lock", c->o.stagedir, profile) <
	    (int)sizeof(lock) && unlink(lock) != 0 && errno != ENOENT)
		pam_syslog(c->pamh, LOG_WARNING, "%s: %s", lock, strerror(errno));
	scauth_wipe(nonce, sizeof(nonce));
}

/*
 * A new login of the user supersedes the one parked for them, whichever
 * transaction made it: its session never came (the greeter restarted the
 * conversation, the program gave up), so it is signed out.
 */
void
stage_supersede(const struct call *c, const char *why)
{
	scauth_ctx *ctx = NULL;
	scauth_token *tok = NULL;
	int e;

	if (stage_ctx(c, &ctx) != 0)
		goto out;
	if ((e = scauth_token_peek(ctx, SCAUTH_GRANT_USER, &tok)) != 0) {
		if (e != SCAUTH_ELOGIN)
			log_lib(c, LOG_ERR, "reading the stage", ctx, e);
		goto out;
	}
	signout_ctx(c, ctx, why);
 out:
	scauth_token_free(tok);
	scauth_ctx_free(ctx);
}

/* Parks the login (labelled with its nonce) for a session in another process. */
int
stage_save(const struct call *c, const scauth_token *tok)
{
	scauth_ctx *ctx = NULL;
	scauth_token *old = NULL;
	int r;

	/*
	 * A failure does not fail the login: only a session opened by another
	 * process needs the stage.  Without root (a screen locker) that is the
	 * rule rather than a fault, hence the quieter log line.  The slot of the
	 * uid is replaced, so parked logins stay bounded to one a user; what it
	 * held (a login of another transaction since this one began) is signed
	 * out first.
	 */
	if ((r = stage_ctx(c, &ctx)) != 0)
		goto out;
	if (scauth_token_peek(ctx, SCAUTH_GRANT_USER, &old) == 0)
		signout_ctx(c, ctx, "replaced by a newer login");
	if ((r = scauth_token_save(ctx, SCAUTH_GRANT_USER, tok)) != 0)
		log_lib(c, geteuid() == 0 ? LOG_ERR : LOG_DEBUG,
		    "cannot stage the login for the session", ctx, r);
 out:
	scauth_token_free(old);
	scauth_ctx_free(ctx);
	return r;
}

/*
 * Takes this transaction's staged login: 0 when the uid's slot holds a fresh
 * login labelled with nonce (in *out unless out is NULL; erased from the
 * stage unless keep), 1 when not.  A slot with another label is another
 * transaction's: it is left alone, unless it is stale, which makes it
 * nobody's: it is signed out.
 */
int
stage_take(const struct call *c, const char *nonce, scauth_token **out, int keep)
{
	scauth_ctx *ctx = NULL;
	scauth_token *tok = NULL;
	const char *label;
	time_t t, obtained;
	int r, e;

	if (out != NULL)
		*out = NULL;
	if (stage_ctx(c, &ctx) != 0) {
		r = 1;
		goto out;
	}
	if ((e = scauth_token_peek(ctx, SCAUTH_GRANT_USER, &tok)) != 0) {
		if (e != SCAUTH_ELOGIN)
			log_lib(c, LOG_ERR, "reading the stage", ctx, e);
		r = 1;
		goto out;
	}
	t = time(NULL);
	obtained = scauth_token_obtained(tok);
	if (obtained < t - STAGE_MAX_AGE || obtained > t + STAGE_MAX_SKEW) {
		pam_syslog(c->pamh, LOG_NOTICE,
		    "%s: the staged login of %s is %ld seconds old; ignored and erased",
		    c->fn, c->user, (long)(t - obtained));
		signout_ctx(c, ctx, "too old to hand over");
		r = 1;
		goto out;
	}
	label = scauth_token_label(tok);
	if (label == NULL || !nonce_ok(label) || !scauth_ct_streq(label, nonce)) {
		/* Worth a line when this transaction's session goes without its login. */
		if (out != NULL || c->o.debug)
			pam_syslog(c->pamh, out != NULL ? LOG_NOTICE : LOG_DEBUG,
			    "%s: the staged login of %s is another transaction's (a newer "
			    "login replaced this one's); left alone", c->fn, c->user);
		r = 1;
		goto out;
	}
	/* Single-use: it leaves the stage now, whatever this transaction does next. */
	if (!keep && (e = scauth_token_erase(ctx, SCAUTH_GRANT_USER)) != 0)
		log_lib(c, LOG_ERR, "erasing the stage", ctx, e);
	if (out != NULL) {
		*out = tok;
		tok = NULL;     /* transferred */
	}
	r = 0;
 out:
	scauth_token_free(tok);
	scauth_ctx_free(ctx);
	return r;
}

void
token_cleanup(pam_handle_t *pamh, void *data, int error_status)
{
	scauth_token_free(data);
}

/* Drops the login of this transaction (wiped by token_cleanup). */
void
forget_login(const struct call *c)
{
	pam_set_data(c->pamh, DATA_TOKEN, NULL, NULL);
}

/*
 * The login of this transaction, owned by pamh, or NULL.  When auth ran in
 * this process, pam_get_data() has it; else the stage may, in the slot that
 * carries this transaction's nonce, and it is kept with pam_set_data() for
 * the calls after it.  With take (session open) the parked copy and the
 * nonce are used up; without (account) both stay, for a session that
 * another process opens (sshd runs auth and account in its auth child).
 */
const scauth_token *
this_login(const struct call *c, int take)
{
	const void *data = NULL;
	scauth_token *tok = NULL;
	char nonce[NONCE_LEN + 1];
	int have, r;

	have = stage_nonce(c, nonce, take);
	if (pam_get_data(c->pamh, DATA_TOKEN, &data) == PAM_SUCCESS && data != NULL) {
		/* Handed over here: the parked copy of the same grant just goes. */
		if (have && take)
			stage_take(c, nonce, NULL, 0);
		goto out;
	}
	data = NULL;
	if (!have || stage_take(c, nonce, &tok, !take) != 0)
		goto out;
	if ((r = pam_set_data(c->pamh, DATA_TOKEN, tok, token_cleanup)) != PAM_SUCCESS) {
		pam_syslog(c->pamh, LOG_ERR, "pam_set_data: %s", pam_strerror(c->pamh, r));
		scauth_token_free(tok);
		goto out;
	}
	data = tok;     /* transferred to pamh */
 out:
	scauth_wipe(nonce, sizeof(nonce));
	return data;
}

/*
 * Refuses this transaction's login for good (account said no): signed out
 * at SoundCloud, its parked copy and nonce gone, and dropped here.
 */
void
drop_login(const struct call *c, const char *why)
{
	const void *data = NULL;
	char nonce[NONCE_LEN + 1];

	if (pam_get_data(c->pamh, DATA_TOKEN, &data) == PAM_SUCCESS && data != NULL)
		signout_login(c, data, why);
	if (stage_nonce(c, nonce, 1))
		stage_take(c, nonce, NULL, 0);
	scauth_wipe(nonce, sizeof(nonce));
	forget_login(c);
}
