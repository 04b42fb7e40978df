/*
 * auth.c - pam_sm_authenticate: the OAuth login (Authorization Code + PKCE)
 * through the PAM conversation, driven by the library's login driver, then
 * the map decides whether that SoundCloud identity may log in as PAM_USER.
 * pam_sm_setcred has nothing to do.
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

#include "map.h"
#include "module.h"

/* What a library error means for pam_authenticate, by its class. */
static const int auth_by_kind[] = {
	[SCAUTH_KIND_NONE] = PAM_SUCCESS,
	[SCAUTH_KIND_LOGIN] = PAM_AUTH_ERR,       /* this login failed */
	[SCAUTH_KIND_DENIED] = PAM_AUTH_ERR,
	[SCAUTH_KIND_INPUT] = PAM_AUTH_ERR,       /* a pasted answer that is no redirect */
	[SCAUTH_KIND_UNAVAILABLE] = PAM_AUTHINFO_UNAVAIL,
	[SCAUTH_KIND_TEMPORARY] = PAM_AUTHINFO_UNAVAIL, /* rate limited */
	[SCAUTH_KIND_CONFIG] = PAM_SERVICE_ERR,
	[SCAUTH_KIND_MISSING] = PAM_SERVICE_ERR,
	[SCAUTH_KIND_LOCAL] = PAM_SERVICE_ERR,
};

static int
auth_status(int err)
{
	enum scauth_err_kind k = scauth_err_kind(err);

	/* PAM has codes of its own for these two. */
	if (err == SCAUTH_ENOMEM)
		return PAM_BUF_ERR;
	if (err == SCAUTH_ESYSTEM)
		return PAM_SYSTEM_ERR;
	return (size_t)k < sizeof(auth_by_kind) / sizeof(auth_by_kind[0]) ? auth_by_kind[k] :
	    PAM_SERVICE_ERR;
}

/* Words for the person at the kiosk after a failed login step. */
static void
tell_failure(const struct call *c, int flags, int err)
{
	const char *text;

	switch (auth_status(err)) {
	case PAM_AUTHINFO_UNAVAIL:
		text = "SoundCloud cannot be reached right now; please try again later.";
		break;
	case PAM_SERVICE_ERR:
	case PAM_SYSTEM_ERR:
	case PAM_BUF_ERR:
		text = "SoundCloud login is not working on this machine; "
		    "please tell its administrator.";
		break;
	default:
		text = err == SCAUTH_ESTATE ? "That address does not belong to this login." :
		    err == SCAUTH_EDENIED ? "The login was not allowed at SoundCloud." :
		    "The SoundCloud login did not succeed; please try again.";
		break;
	}
	tell(c, flags, "%s", text);
}

/* What the login driver's callbacks share. */
struct auth_ui {
	const struct call *c;
	int flags;
	scauth_ctx *ctx;
	int status;             /* the PAM result of a failed step; PAM_SUCCESS if none */
};

/* Shows the authorize URL, and its QR code with "qr". */
static int
ui_show_url(void *arg, const char *url, int paste)
{
	struct auth_ui *ui = arg;
	const struct call *c = ui->c;
	char *text = NULL, *qr = NULL;
	int r;

	(void)paste;
	if (asprintf(&text, "Log in to SoundCloud: %s", url) < 0) {
		text = NULL;
		r = PAM_BUF_ERR;
		goto out;
	}
	if ((r = converse(c->pamh, PAM_TEXT_INFO, text, NULL)) != PAM_SUCCESS)
		goto out;
	if (c->o.qr) {
		if ((r = scauth_qr_render(url, &qr)) != 0) {
			pam_syslog(c->pamh, LOG_WARNING, "no QR code: %s", scauth_strerror(r));
			r = PAM_SUCCESS;
			goto out;
		}
		r = converse(c->pamh, PAM_TEXT_INFO, qr, NULL);
	}
 out:
	free(text);
	free(qr);
	ui->status = r;
	return r == PAM_SUCCESS ? 0 : SCAUTH_ESYSTEM;
}

/* The redirect URL or the bare code, through an echo-off prompt. */
static int
ui_ask_paste(void *arg, const char *url, char *buf, size_t size)
{
	struct auth_ui *ui = arg;
	const struct call *c = ui->c;
	char *prompt = NULL, *answer = NULL;
	int r;

	if (asprintf(&prompt, "Open %s and paste the address you are sent to (or the code): ",
	    url) < 0) {
		prompt = NULL;
		ui->status = PAM_BUF_ERR;
		r = SCAUTH_ENOMEM;
		goto out;
	}
	if ((ui->status = converse(c->pamh, PAM_PROMPT_ECHO_OFF, prompt, &answer)) !=
	    PAM_SUCCESS) {
		pam_syslog(c->pamh, LOG_NOTICE, "%s: no answer to the prompt: %s", c->fn,
		    pam_strerror(c->pamh, ui->status));
		r = SCAUTH_ESYSTEM;
		goto out;
	}
	if (strlen(answer) >= size) {
		/* As the library says of one that is too long to take. */
		pam_syslog(c->pamh, LOG_NOTICE, "the pasted answer: %s: paste: the input is "
		    "too long", scauth_strerror(SCAUTH_EINVAL));
		tell_failure(c, ui->flags, SCAUTH_EINVAL);
		ui->status = auth_status(SCAUTH_EINVAL);
		r = SCAUTH_EINVAL;
		goto out;
	}
	memcpy(buf, answer, strlen(answer) + 1);
	r = 0;
 out:
	answer_free(answer);
	free(prompt);
	return r;
}

/* Logs a failed step, tells the person what they can act on, and sets the PAM result. */
static void
ui_step_failed(void *arg, enum scauth_login_step step, int e)
{
	struct auth_ui *ui = arg;
	const struct call *c = ui->c;

	switch (step) {
	case SCAUTH_STEP_BEGIN:
		log_lib(c, LOG_ERR, "starting the login", ui->ctx, e);
		ui->status = auth_status(e) == PAM_BUF_ERR ? PAM_BUF_ERR : PAM_SERVICE_ERR;
		break;
	case SCAUTH_STEP_LISTEN:
		/* A busy port: whoever holds it would get the redirect.  Never a paste then. */
		if (e == SCAUTH_EUNAVAIL) {
			log_lib(c, LOG_ERR, "cannot listen for the redirect", ui->ctx, e);
			tell(c, ui->flags, "SoundCloud login unavailable: %s.",
			    scauth_errmsg(ui->ctx));
			ui->status = PAM_AUTHINFO_UNAVAIL;
			break;
		}
		log_lib(c, LOG_WARNING, "cannot listen for the redirect; asking for it instead",
		    ui->ctx, e);
		break;
	case SCAUTH_STEP_SHOW:
		break;          /* the conversation failed: ui->status says how */
	case SCAUTH_STEP_WAIT:
		log_lib(c, LOG_NOTICE, "waiting for the redirect", ui->ctx, e);
		if (e == SCAUTH_ETIMEOUT) {
			tell(c, ui->flags, "No SoundCloud login arrived within %d seconds.",
			    c->o.timeout);
			ui->status = PAM_AUTH_ERR;
		} else {
			tell_failure(c, ui->flags, e);
			ui->status = auth_status(e);
		}
		break;
	case SCAUTH_STEP_PASTE:
		if (ui->status != PAM_SUCCESS)
			break;  /* the prompt failed, or said so itself */
		log_lib(c, LOG_NOTICE, "the pasted answer", ui->ctx, e);
		tell_failure(c, ui->flags, e);
		ui->status = auth_status(e);
		break;
	case SCAUTH_STEP_FINISH:
		log_lib(c, LOG_ERR, "exchanging the code", ui->ctx, e);
		tell_failure(c, ui->flags, e);
		ui->status = auth_status(e);
		break;
	}
}

PAM_SM_API int
pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct call c;
	struct map *map = NULL;
	scauth_ctx *ctx = NULL;
	scauth_token *tok = NULL;
	struct auth_ui ui = { NULL, 0, NULL, PAM_SUCCESS };
	struct scauth_login_ui lui = {
		.arg = &ui,
		.show_url = ui_show_url,
		.ask_paste = ui_ask_paste,
		.step_failed = ui_step_failed,
	};
	char err[MAP_ERRLEN] = "", nonce[NONCE_LEN + 1] = "";
	char env[sizeof(ENV_STAGE) + NONCE_LEN + 1] = "";
	const char *urn, *permalink;
	int r, e = 0;

	if ((r = call_init(&c, pamh, "auth", GROUP_AUTH, argc, argv)) != PAM_SUCCESS)
		goto out;
	/*
	 * A new attempt in this transaction: what an earlier one left here (its
	 * login, its parked copy) is void.  Other transactions' parked logins
	 * are theirs and stay; a successful login replaces the uid's slot.
	 */
	if (stage_nonce(&c, nonce))
		stage_take(&c, nonce, NULL);
	forget_login(&c);
	if (nonce_new(nonce) != 0) {
		pam_syslog(pamh, LOG_ERR, "getrandom: %s", strerror(errno));
		r = PAM_SYSTEM_ERR;
		goto out;
	}
	/* The map first: a broken one should fail before anyone goes through a login. */
	if ((e = map_load(c.o.map, &map, err, sizeof(err))) != 0) {
		pam_syslog(pamh, e == MAP_MISSING ? LOG_NOTICE : LOG_ERR, "%s%s", err,
		    e == MAP_MISSING ? ": no SoundCloud account may log in" : "");
		r = e == MAP_MISSING ? PAM_AUTH_ERR : e == SCAUTH_ENOMEM ? PAM_BUF_ERR :
		    PAM_SERVICE_ERR;
		goto out;
	}
	if (!map_has_user(map, c.user)) {
		pam_syslog(pamh, LOG_NOTICE, "%s: no rule for %s", c.o.map, c.user);
		tell(&c, flags, "No SoundCloud account may log in as %s.", c.user);
		r = PAM_AUTH_ERR;
		goto out;
	}
	if ((e = ctx_new(&c, c.o.profile, NULL, NULL, &ctx)) != 0) {
		r = auth_status(e) == PAM_BUF_ERR ? PAM_BUF_ERR : PAM_SERVICE_ERR;
		goto out;
	}
	ui.c = &c;
	ui.flags = flags;
	ui.ctx = ctx;
	ui.status = PAM_SUCCESS;
	lui.paste = c.o.mode == MODE_PASTE;
	lui.timeout_sec = c.o.timeout;
	if ((e = scauth_login_run(ctx, &lui, &tok)) != 0) {
		r = ui.status != PAM_SUCCESS ? ui.status : auth_status(e);
		goto out;
	}
	urn = scauth_token_urn(tok);
	permalink = scauth_token_permalink(tok);
	if (!map_allows(map, urn, permalink, c.user)) {
		pam_syslog(pamh, LOG_NOTICE,
		    "SoundCloud account %.64s (%.64s) may not log in as %s",
		    urn != NULL ? urn : "?", permalink != NULL ? permalink : "?", c.user);
		tell(&c, flags, "This SoundCloud account may not log in as %s", c.user);
		r = PAM_AUTH_ERR;
		goto out;
	}
	pam_syslog(pamh, LOG_INFO, "SoundCloud account %.64s (%.64s) logged in as %s", urn,
	    permalink != NULL ? permalink : "?", c.user);
	/* The label binds the parked login to this transaction's nonce. */
	if ((e = scauth_token_set_label(tok, nonce)) != 0) {
		pam_syslog(pamh, LOG_ERR, "labelling the login: %s", scauth_strerror(e));
		r = e == SCAUTH_ENOMEM ? PAM_BUF_ERR : PAM_SERVICE_ERR;
		goto out;
	}
	snprintf(env, sizeof(env), "%s=%s", ENV_STAGE, nonce);
	if (stage_save(&c, tok) == 0 && (e = pam_putenv(pamh, env)) != PAM_SUCCESS) {
		/* Nobody could ever claim it: take it back at once. */
		pam_syslog(pamh, LOG_ERR, "pam_putenv: %s; the login is not staged",
		    pam_strerror(pamh, e));
		stage_take(&c, nonce, NULL);
	}
	if ((r = pam_set_data(pamh, DATA_TOKEN, tok, token_cleanup)) != PAM_SUCCESS) {
		pam_syslog(pamh, LOG_ERR, "pam_set_data: %s", pam_strerror(pamh, r));
		goto out;
	}
	tok = NULL;     /* transferred to pamh */
	r = PAM_SUCCESS;
 out:
	scauth_wipe(nonce, sizeof(nonce));
	scauth_wipe(env, sizeof(env));
	scauth_token_free(tok);
	scauth_ctx_free(ctx);
	map_free(map);
	return r;
}

/*
 * Credentials are handed over at session open, where the user's store is
 * known, so there is nothing to do here.  PAM_SUCCESS rather than PAM_IGNORE:
 * login programs (login, sshd, display managers) fail the whole login when
 * pam_setcred() fails, and a stack in which every module ignored fails; with
 * this module alone in the auth stack, an ignore would undo the login that it
 * has just allowed.
 */
PAM_SM_API int
pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	return PAM_SUCCESS;
}
