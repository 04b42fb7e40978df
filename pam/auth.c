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
	struct scauth_login_ui *lui; /* its timeout_sec is the time left after the prompt */
	struct screen screen;
	int limit;              /* seconds to wait for the login, all told */
	int status;             /* the PAM result of a failed step; PAM_SUCCESS if none */
	const char *address;    /* mode=relay: relay_url as shown, and the code (the library's) */
	const char *code;
};

/*
 * What the person reads before acting, in one PAM_TEXT_INFO message of at
 * most MSG_MAX bytes: a line that says what to do, the URL in short lines,
 * and the instruction (with the time left, when there is a limit).  A short
 * prompt follows it, in a message of its own: lightdm-gtk-greeter shows a
 * prompt's text only as the entry's placeholder, which is hidden while the
 * entry has the focus, but shows info messages; sshd puts the info messages
 * in front of the next prompt; login(1) and su print both.  On a text
 * terminal a QR code comes first, in messages of its own, when it fits the
 * screen with that text and the prompt's line; the first line says when it
 * did not.
 */
static int
screen_text(struct auth_ui *ui, const char *url, const char *then)
{
	const struct call *c = ui->c;
	char block[MSG_MAX], text[MSG_MAX + 1];
	const char *head;
	int lines, shown = 0, n, r;

	if ((lines = url_block(url, block, sizeof(block))) < 0)
		goto too_long;
	/* The head, the URL, the instruction, the prompt, and login(1)'s "login: NAME" above. */
	if (c->o.qr && ui->screen.tty &&
	    (r = show_qr(c, &ui->screen, url, lines + 4, &shown)) != PAM_SUCCESS)
		return r;
	head = shown ? "Scan the code, or open this address:" :
	    c->o.qr && ui->screen.tty ? "Log in to SoundCloud (no room for the QR code here):" :
	    "Log in to SoundCloud on this or another device:";
	n = snprintf(text, sizeof(text), "%s\n%s\n%s", head, block, then);
	if (n < 0 || (size_t)n >= sizeof(text))
		goto too_long;
	return converse(c->pamh, PAM_TEXT_INFO, text, NULL);
 too_long:
	pam_syslog(c->pamh, LOG_ERR, "the authorize URL is too long to show (%zu bytes)",
	    strlen(url));
	return PAM_SERVICE_ERR;
}

/*
 * Listening: the URL goes out, then a short prompt, which is what sshd
 * needs to show anything and what lets LightDM's greeter start the session
 * by itself.  The prompt blocks (a conversation is one call), while the
 * listener is bound already: a browser's redirect that comes meanwhile
 * waits in the listen queue, and is taken at once after Enter.  Enter
 * before the login is done just goes on waiting, for the time that is left.
 */
static int
ui_prompt_listen(struct auth_ui *ui, const char *url)
{
	const struct call *c = ui->c;
	char *text = NULL, *answer = NULL, then[96];
	time_t deadline = time(NULL) + ui->limit;
	long left;
	int r;

	snprintf(then, sizeof(then), "Press Enter here after logging in (waiting up to %d s).",
	    ui->limit);
	if ((r = screen_text(ui, url, then)) != PAM_SUCCESS)
		goto out;
	if ((r = converse(c->pamh, PAM_PROMPT_ECHO_ON, "Press Enter after logging in: ",
	    &answer)) != PAM_SUCCESS) {
		pam_syslog(c->pamh, LOG_NOTICE, "%s: no answer to the prompt: %s", c->fn,
		    pam_strerror(c->pamh, r));
		goto out;
	}
	left = (long)(deadline - time(NULL));
	ui->lui->timeout_sec = left > 0 ? (int)left : 1;
	if (!(ui->flags & PAM_SILENT) && left > 0) {
		if (asprintf(&text, "Waiting for the SoundCloud login (%ld s left)...", left) < 0) {
			text = NULL;
			r = PAM_BUF_ERR;
			goto out;
		}
		r = converse(c->pamh, PAM_TEXT_INFO, text, NULL);
	}
 out:
	answer_free(answer);
	free(text);
	return r;
}

/* Shows the authorize URL: with a prompt when listening; the paste prompt shows it else. */
static int
ui_show_url(void *arg, const char *url, int paste)
{
	struct auth_ui *ui = arg;

	ui->status = paste ? PAM_SUCCESS : ui_prompt_listen(ui, url);
	return ui->status == PAM_SUCCESS ? 0 : SCAUTH_ESYSTEM;
}

/* The redirect URL or the bare code, through an echo-off prompt. */
static int
ui_ask_paste(void *arg, const char *url, char *buf, size_t size)
{
	struct auth_ui *ui = arg;
	const struct call *c = ui->c;
	char *answer = NULL;
	int r;

	if ((ui->status = screen_text(ui, url,
	    "Then paste the address you are sent to (or the code).")) != PAM_SUCCESS) {
		r = SCAUTH_ESYSTEM;
		goto out;
	}
	if ((ui->status = converse(c->pamh, PAM_PROMPT_ECHO_OFF, "Paste the address or code: ",
	    &answer)) != PAM_SUCCESS) {
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
	return r;
}

/*
 * mode=relay: what to do on the phone, in one short line (lightdm-gtk-greeter
 * shows only the latest message), after a QR code of relay_url with the
 * code on a text terminal when it fits with that line, the prompt and
 * login(1)'s line.
 */
static int
ui_show_pairing(void *arg, const char *address, const char *code, const char *link)
{
	struct auth_ui *ui = arg;
	const struct call *c = ui->c;
	char text[MSG_MAX + 1];
	int shown = 0, n;

	ui->address = address;
	ui->code = code;
	if (c->o.qr && ui->screen.tty &&
	    (ui->status = show_qr(c, &ui->screen, link, 3, &shown)) != PAM_SUCCESS)
		return SCAUTH_ESYSTEM;
	n = snprintf(text, sizeof(text), "On your phone open %s and enter %s", address, code);
	ui->status = n > 0 && (size_t)n < sizeof(text) ?
	    converse(c->pamh, PAM_TEXT_INFO, text, NULL) : PAM_SERVICE_ERR;
	return ui->status == PAM_SUCCESS ? 0 : SCAUTH_ESYSTEM;
}

/*
 * mode=relay: the prompt that the wait is driven by.  Answered before the
 * phone is done, the line comes again after the time left, in one message
 * of two lines (each fits a console's 80 columns).
 */
static int
ui_confirm(void *arg, int left, int again)
{
	struct auth_ui *ui = arg;
	const struct call *c = ui->c;
	char text[MSG_MAX + 1], *answer = NULL;

	if (again) {
		snprintf(text, sizeof(text), "Not logged in yet (%d s left).\nOn your phone open %s "
		    "and enter %s", left, ui->address, ui->code);
		if ((ui->status = converse(c->pamh, PAM_TEXT_INFO, text, NULL)) != PAM_SUCCESS)
			return SCAUTH_ESYSTEM;
	}
	if ((ui->status = converse(c->pamh, PAM_PROMPT_ECHO_ON, "Press Enter when you have "
	    "logged in on your phone: ", &answer)) != PAM_SUCCESS) {
		pam_syslog(c->pamh, LOG_NOTICE, "%s: no answer to the prompt: %s", c->fn,
		    pam_strerror(c->pamh, ui->status));
		return SCAUTH_ESYSTEM;
	}
	answer_free(answer);
	return 0;
}

/* mode=relay: what the person reads when the wait for the phone failed. */
static void
tell_relay_failure(const struct call *c, int flags, const scauth_ctx *ctx, int err)
{
	if (err == SCAUTH_ELOGIN)
		tell(c, flags, "The code has expired; please start again for a new one.");
	else if (scauth_err_kind(err) == SCAUTH_KIND_DENIED)
		tell(c, flags, "The login was not allowed at SoundCloud (%s).", scauth_errmsg(ctx));
	else if (err == SCAUTH_ESTORE)
		tell(c, flags, "The phone login service cannot be reached right now; please try "
		    "again later.");
	else
		tell_failure(c, flags, err);
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
	case SCAUTH_STEP_PAIR:
		log_lib(c, LOG_ERR, "pairing with a phone", ui->ctx, e);
		tell_relay_failure(c, ui->flags, ui->ctx, e);
		ui->status = auth_status(e);
		break;
	case SCAUTH_STEP_WAIT:
		if (ui->status != PAM_SUCCESS)
			break;  /* the prompt failed */
		log_lib(c, LOG_NOTICE, c->o.mode == MODE_RELAY ? "waiting for the phone" :
		    "waiting for the redirect", ui->ctx, e);
		if (e == SCAUTH_ETIMEOUT) {
			tell(c, ui->flags, "No SoundCloud login arrived within %d seconds.",
			    ui->limit);
			ui->status = PAM_AUTH_ERR;
		} else if (c->o.mode == MODE_RELAY) {
			tell_relay_failure(c, ui->flags, ui->ctx, e);
			ui->status = auth_status(e);
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
	case SCAUTH_STEP_BROWSER:
		break;          /* the module starts no browser */
	}
}

PAM_SM_API int
pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct call c;
	struct map *map = NULL;
	scauth_ctx *ctx = NULL;
	scauth_token *tok = NULL;
	struct auth_ui ui;
	struct scauth_login_ui lui = {
		.size = sizeof(lui),
		.arg = &ui,
		.show_url = ui_show_url,
		.ask_paste = ui_ask_paste,
		.step_failed = ui_step_failed,
		.show_pairing = ui_show_pairing,
		.confirm = ui_confirm,
	};
	char err[MAP_ERRLEN] = "", nonce[NONCE_LEN + 1] = "";
	char env[sizeof(ENV_STAGE) + NONCE_LEN + 1] = "";
	const char *urn, *permalink;
	char shown_urn[SHOWN_MAX], shown_link[SHOWN_MAX];
	const void *data = NULL;
	int r, e = 0;

	memset(&ui, 0, sizeof(ui));
	if ((r = call_init(&c, pamh, "auth", GROUP_AUTH, argc, argv)) != PAM_SUCCESS) {
		/* As an unmapped user below: a stranger learns no local user names. */
		if (r == PAM_USER_UNKNOWN)
			tell(&c, flags, "%s", GENERIC_REFUSAL);
		goto out;
	}
	/*
	 * A new attempt of this user: a login parked for them earlier, in this
	 * transaction or another, whose session never came (the greeter
	 * restarted the conversation, the program gave up), is void: signed
	 * out.  Logins of one user are one at a time, as the stage's slot is.
	 */
	stage_nonce(&c, nonce, 1);
	if (pam_get_data(pamh, DATA_TOKEN, &data) == PAM_SUCCESS && data != NULL)
		signout_login(&c, data, "superseded by a new login in the same transaction");
	forget_login(&c);
	stage_supersede(&c, "superseded by a new login of the user");
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
		pam_syslog(pamh, LOG_NOTICE, "%s: no rule for %s (the screen says what it says "
		    "for an unknown user)", c.o.map, c.user);
		tell(&c, flags, "%s", GENERIC_REFUSAL);
		r = PAM_USER_UNKNOWN;
		goto out;
	}
	if ((e = ctx_new(&c, c.o.profile, NULL, NULL, &ctx)) != 0) {
		r = auth_status(e) == PAM_BUF_ERR ? PAM_BUF_ERR : PAM_SERVICE_ERR;
		goto out;
	}
	ui.c = &c;
	ui.flags = flags;
	ui.ctx = ctx;
	ui.lui = &lui;
	ui.status = PAM_SUCCESS;
	ui.limit = wait_limit(&c, c.o.timeout);
	screen_get(&c, &ui.screen);
	lui.paste = c.o.mode == MODE_PASTE;
	lui.relay = c.o.mode == MODE_RELAY;
	lui.timeout_sec = ui.limit;
	if ((e = scauth_login_run(ctx, &lui, &tok)) != 0) {
		r = ui.status != PAM_SUCCESS ? ui.status : auth_status(e);
		goto out;
	}
	urn = scauth_token_urn(tok);
	permalink = scauth_token_permalink(tok);
	/* Names from the network reach the screen and the log escaped, and short. */
	scauth_text_display(urn != NULL ? urn : "?", 0, shown_urn, sizeof(shown_urn));
	scauth_text_display(permalink != NULL ? permalink : "?", 0, shown_link,
	    sizeof(shown_link));
	if (!map_allows(map, urn, permalink, c.user)) {
		pam_syslog(pamh, LOG_NOTICE, "SoundCloud account %s (%s) may not log in as %s",
		    shown_urn, shown_link, c.user);
		tell(&c, flags, "This SoundCloud account (%s) may not log in as %s", shown_link,
		    c.user);
		signout_login(&c, tok, "refused by the map");
		r = PAM_AUTH_ERR;
		goto out;
	}
	pam_syslog(pamh, LOG_INFO, "SoundCloud account %s (%s) logged in as %s", shown_urn,
	    shown_link, c.user);
	/* The label binds the parked login to this transaction's nonce. */
	if ((e = scauth_token_set_label(tok, nonce)) != 0) {
		pam_syslog(pamh, LOG_ERR, "labelling the login: %s", scauth_strerror(e));
		r = e == SCAUTH_ENOMEM ? PAM_BUF_ERR : PAM_SERVICE_ERR;
		signout_login(&c, tok, "not handed over");
		goto out;
	}
	snprintf(env, sizeof(env), "%s=%s", ENV_STAGE, nonce);
	if (stage_save(&c, tok) == 0 && (e = pam_putenv(pamh, env)) != PAM_SUCCESS) {
		/* Nobody could ever claim it: take it back at once. */
		pam_syslog(pamh, LOG_ERR, "pam_putenv: %s; the login is not staged",
		    pam_strerror(pamh, e));
		stage_take(&c, nonce, NULL, 0);
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
