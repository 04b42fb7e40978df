/*
 * session.c - pam_sm_open_session hands the login over to the user's own
 * store, written as the user (runas.c); pam_sm_close_session with "wipe"
 * signs out and erases it.
 */
#include <errno.h>
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
#include "runas.h"

/*
 * How long a child working as the user may take: its HTTP requests (a
 * refresh and the sign-out, each within the configured timeout), and slack.
 */
static int
child_timeout(const scauth_ctx *ctx)
{
	return 2 * scauth_ctx_timeout(ctx) + CHILD_SLACK;
}

struct handoff {
	scauth_ctx *ctx;        /* the user's store, loaded before the switch */
	const scauth_token *tok;
};

/* As the user: the login goes into their store. */
static int
handoff_save(void *arg, char *msg, size_t msglen)
{
	struct handoff *h = arg;
	int r;

	if ((r = scauth_token_save(h->ctx, SCAUTH_GRANT_USER, h->tok)) != 0)
		snprintf(msg, msglen, "%s", scauth_errmsg(h->ctx));
	return r;
}

static void
marker_cleanup(pam_handle_t *pamh, void *data, int error_status)
{
	char *label = data;

	scauth_wipe(label, strlen(label));
	free(label);
}

/*
 * Marks the transaction as one whose session got the login labelled so ("" for
 * none), for close_session: it wipes only what its own session handed over.
 */
static int
session_mark(const struct call *c, const char *label)
{
	char *copy;
	int r;

	if ((copy = strdup(label != NULL ? label : "")) == NULL)
		return PAM_BUF_ERR;
	if ((r = pam_set_data(c->pamh, DATA_SESSION, copy, marker_cleanup)) != PAM_SUCCESS) {
		marker_cleanup(c->pamh, copy, 0);
		pam_syslog(c->pamh, LOG_ERR, "pam_set_data: %s", pam_strerror(c->pamh, r));
	}
	return r;
}

struct wipe {
	scauth_ctx *ctx;        /* the user's store, loaded before the switch */
	const char *label;      /* of the login this session handed over; "" if none */
};

/* Results of wipe_logout() besides 0 and a local error (a negative SCAUTH_E*). */
#define WIPE_NOTHING 1          /* nothing was stored */
#define WIPE_LOCAL_ONLY 2       /* erased here, but the server sign-out failed */
#define WIPE_OTHER 3            /* the store holds another session's login now */

/*
 * As the user: sign out at the server, and erase locally whatever the server
 * said.  A login labelled for another transaction is that session's (it
 * replaced ours in the store while this one was open): it stays.  One without
 * a label was made in the session (a tool's own login) and goes, as a kiosk
 * should keep nothing.
 */
static int
wipe_logout(void *arg, char *msg, size_t msglen)
{
	struct wipe *w = arg;
	scauth_token *tok = NULL;
	const char *label;
	int r, e;

	if ((r = scauth_token_peek(w->ctx, SCAUTH_GRANT_USER, &tok)) == SCAUTH_ELOGIN)
		return WIPE_NOTHING;
	label = r == 0 ? scauth_token_label(tok) : NULL;
	if (label != NULL && *w->label != '\0' && !scauth_ct_streq(label, w->label)) {
		scauth_token_free(tok);
		return WIPE_OTHER;
	}
	scauth_token_free(tok);
	if ((r = scauth_logout(w->ctx)) == 0)
		return 0;
	snprintf(msg, msglen, "%s: %s", scauth_strerror(r), scauth_errmsg(w->ctx));
	/* scauth_logout() erased locally unless the error is a local one; make sure. */
	if ((e = scauth_token_erase(w->ctx, SCAUTH_GRANT_USER)) != 0) {
		snprintf(msg, msglen, "%s: %s", scauth_strerror(e), scauth_errmsg(w->ctx));
		return e;
	}
	return WIPE_LOCAL_ONLY;
}

PAM_SM_API int
pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct call c;
	struct handoff h = { NULL, NULL };
	char msg[RUNAS_MSGLEN], env[sizeof(ENV_PROFILE) + MAX_PROFILE + 2], shown_urn[SHOWN_MAX];
	int r, e;

	if ((r = call_init(&c, pamh, "session", GROUP_SESSION, argc, argv)) != PAM_SUCCESS)
		goto out;
	if ((h.tok = this_login(&c, 1)) == NULL) {
		pam_syslog(pamh, c.o.debug ? LOG_DEBUG : LOG_INFO,
		    "session: no SoundCloud login of %s to hand over", c.user);
		r = PAM_IGNORE;
		goto out;
	}
	/* Loaded here (as root: the config may be root's alone), written as the user. */
	if ((e = user_ctx(&c, &h.ctx)) != 0) {
		r = PAM_SESSION_ERR;
		goto out;
	}
	if ((e = runas(c.user, c.pw->pw_uid, c.pw->pw_gid, child_timeout(h.ctx), handoff_save,
	    &h, msg, sizeof(msg))) != 0) {
		pam_syslog(pamh, LOG_ERR, "session: cannot store the SoundCloud login for %s: "
		    "%s: %s", c.user, scauth_strerror(e), msg);
		r = PAM_SESSION_ERR;
		goto out;
	}
	pam_syslog(pamh, LOG_INFO, "session: SoundCloud login of %s stored for %s in %s",
	    scauth_text_display(scauth_token_urn(h.tok) ? scauth_token_urn(h.tok) : "?", 0,
	    shown_urn, sizeof(shown_urn)), c.user,
	    scauth_ctx_get(h.ctx, "store") ? scauth_ctx_get(h.ctx, "store") : "the store");
	if ((r = session_mark(&c, scauth_token_label(h.tok))) != PAM_SUCCESS)
		goto out;
	if (c.o.profile != NULL) {
		snprintf(env, sizeof(env), "%s=%s", ENV_PROFILE, c.o.profile);
		if ((e = pam_putenv(pamh, env)) != PAM_SUCCESS)
			pam_syslog(pamh, LOG_ERR, "pam_putenv: %s", pam_strerror(pamh, e));
	}
	r = PAM_SUCCESS;
 out:
	/* The login is in the user's store now, or will not get there: wipe it here. */
	if (h.tok != NULL)
		forget_login(&c);
	scauth_ctx_free(h.ctx);
	return r;
}

/*
 * Only a session that this module opened in this transaction is its to close:
 * anything else (a password login in a mixed stack, another session of the
 * same user) is PAM_IGNORE, and its tokens are not touched.  With "wipe": a
 * kiosk leaves nothing behind.  The server being unreachable does not fail
 * the logout (the tokens are erased here all the same, and the failed
 * sign-out is logged); only a local erase that failed does.
 */
PAM_SM_API int
pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct call c;
	struct wipe w = { NULL, NULL };
	const void *data = NULL;
	char msg[RUNAS_MSGLEN];
	int r, e;

	if ((r = call_init(&c, pamh, "session", GROUP_SESSION, argc, argv)) != PAM_SUCCESS)
		goto out;
	if (pam_get_data(pamh, DATA_SESSION, &data) != PAM_SUCCESS || data == NULL) {
		if (c.o.debug)
			pam_syslog(pamh, LOG_DEBUG, "session: no session of %s opened by this "
			    "module here; nothing to close", c.user);
		r = PAM_IGNORE;
		goto out;
	}
	if (!c.o.wipe) {
		r = PAM_SUCCESS;
		goto out;
	}
	w.label = data;
	if ((e = user_ctx(&c, &w.ctx)) != 0) {
		r = PAM_SESSION_ERR;
		goto out;
	}
	e = runas(c.user, c.pw->pw_uid, c.pw->pw_gid, child_timeout(w.ctx), wipe_logout, &w, msg,
	    sizeof(msg));
	switch (e) {
	case 0:
		pam_syslog(pamh, LOG_INFO, "session: signed out and erased the SoundCloud "
		    "login of %s", c.user);
		r = PAM_SUCCESS;
		break;
	case WIPE_NOTHING:
		if (c.o.debug)
			pam_syslog(pamh, LOG_DEBUG, "session: no SoundCloud login of %s to wipe",
			    c.user);
		r = PAM_SUCCESS;
		break;
	case WIPE_LOCAL_ONLY:
		pam_syslog(pamh, LOG_WARNING, "session: erased the SoundCloud login of %s, but "
		    "the sign-out at the server failed: %s", c.user, msg);
		r = PAM_SUCCESS;
		break;
	case WIPE_OTHER:
		pam_syslog(pamh, LOG_NOTICE, "session: the SoundCloud login in the store of %s "
		    "is another session's now; left alone", c.user);
		r = PAM_SUCCESS;
		break;
	default:
		pam_syslog(pamh, LOG_ERR, "session: cannot erase the SoundCloud login of %s: "
		    "%s: %s", c.user, scauth_strerror(e), msg);
		r = PAM_SESSION_ERR;
		break;
	}
	/* Closed: a second close in this transaction has nothing left to wipe. */
	if (r == PAM_SUCCESS)
		pam_set_data(pamh, DATA_SESSION, NULL, NULL);
 out:
	scauth_ctx_free(w.ctx);
	return r;
}
