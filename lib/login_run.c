/*
 * login_run.c - the login driver: the sequence of the step calls of login.c
 * (begin, listen, show the URL, start the browser on its page, wait or ask
 * for a paste, finish; or pair with a phone through the relay and wait on
 * the database), written once for every front end, which brings only the
 * words and the terminal.  The browser's page goes with the login
 * (scauth_login_free()), and a pairing with a failed login, whichever way
 * it ends.
 */
#include "internal.h"
#include "login.h"

#include <stddef.h>
#include <string.h>

/* Seconds a confirmed wait looks for the phone's login before it asks again. */
#define CONFIRM_GRACE 3

static void
step_failed(const struct scauth_login_ui *ui, enum scauth_login_step step, int err)
{
	if (ui->step_failed != NULL)
		ui->step_failed(ui->arg, step, err);
}

/* The members before step_failed are the first release's, all required. */
#define UI_SIZE_MIN offsetof(struct scauth_login_ui, step_failed)

/*
 * The caller's callbacks, as far as its size covers them; members past it
 * (added by a later release than the caller's) are NULL.  A phone login
 * (relay) needs show_pairing, any other show_url and ask_paste.
 */
static int
ui_copy(scauth_ctx *ctx, const struct scauth_login_ui *from, struct scauth_login_ui *to)
{
	memset(to, 0, sizeof(*to));
	if (from == NULL)
		return ctx_err(ctx, SCAUTH_EINVAL, "no callbacks");
	if (from->size < UI_SIZE_MIN)
		return ctx_err(ctx, SCAUTH_EINVAL, "struct scauth_login_ui: size is %zu; set it to "
		    "sizeof(struct scauth_login_ui)", from->size);
	memcpy(to, from, from->size < sizeof(*to) ? from->size : sizeof(*to));
	if (to->relay ? to->show_pairing == NULL : to->show_url == NULL || to->ask_paste == NULL)
		return ctx_err(ctx, SCAUTH_EINVAL, to->relay ? "no show_pairing callback" :
		    "no show_url or ask_paste callback");
	return 0;
}

/*
 * The browser's way: listen, show the URL, start the browser, then wait for
 * the redirect or ask for a paste.  *step is the step that failed.
 */
static int
browser_steps(scauth_ctx *ctx, const struct scauth_login_ui *ui, scauth_login *lg,
    enum scauth_login_step *step)
{
	char buf[SCAUTH_PASTE_MAX + 2];
	const char *url;
	int paste = ui->paste, r;

	/*
	 * Listen before the URL is shown, so that the redirect cannot come too
	 * early.  A port that cannot be bound ends the login: whoever holds it
	 * would get the browser's redirect.  Only an https redirect_uri, which
	 * no listener here can serve, means a paste.
	 */
	if (!paste && (r = scauth_login_listen(ctx, lg)) != 0) {
		if (r == SCAUTH_ESYSTEM && strcmp(login_redirect_scheme(lg), "http") == 0) {
			*step = SCAUTH_STEP_LISTEN;
			return SCAUTH_EUNAVAIL;
		}
		step_failed(ui, SCAUTH_STEP_LISTEN, r);
		paste = 1;
	}
	url = scauth_login_url(lg);
	*step = SCAUTH_STEP_SHOW;
	if ((r = ui->show_url(ui->arg, url, paste)) != 0)
		return r;
	/*
	 * A browser's command line is in /proc for every local user to read: it
	 * gets the address of a page only we can read, which forwards to the
	 * start address.  Without that page no browser is started (the person
	 * has the URL); a paste has no listener to race, so it gets the URL.
	 */
	if (ui->start_browser != NULL && paste) {
		ui->start_browser(ui->arg, url);
	} else if (ui->start_browser != NULL) {
		const char *page = NULL;
		int e;

		if ((e = scauth_login_page(ctx, lg, &page)) == 0)
			ui->start_browser(ui->arg, page);
		else
			step_failed(ui, SCAUTH_STEP_BROWSER, e);
	}
	if (!paste) {
		*step = SCAUTH_STEP_WAIT;
		return scauth_login_wait(ctx, lg, ui->timeout_sec);
	}
	*step = SCAUTH_STEP_PASTE;
	buf[0] = '\0';
	if ((r = ui->ask_paste(ui->arg, url, buf, sizeof(buf))) == 0) {
		buf[sizeof(buf) - 1] = '\0';
		r = scauth_login_paste(ctx, lg, buf);
	}
	scauth_wipe(buf, sizeof(buf));
	return r;
}

/*
 * Waits for the phone: on the database alone, or, when the front end drives
 * the wait by prompts, a short look after each answer and the question again
 * (with the time left) while the login has not come.
 */
static int
relay_wait(scauth_ctx *ctx, const struct scauth_login_ui *ui, scauth_login *lg)
{
	long long deadline = mono_ms() + ui->timeout_sec * 1000LL;
	int again = 0, left, r;

	if (ui->confirm == NULL)
		return scauth_login_wait(ctx, lg, ui->timeout_sec);
	for (;;) {
		if ((left = (int)((deadline - mono_ms() + 999) / 1000)) <= 0)
			return ctx_err(ctx, SCAUTH_ETIMEOUT, "no login from the phone arrived "
			    "within %d s", ui->timeout_sec);
		if ((r = ui->confirm(ui->arg, left, again)) != 0)
			return r;
		left = (int)((deadline - mono_ms() + 999) / 1000);
		r = scauth_login_wait(ctx, lg, left < 1 ? 1 : left < CONFIRM_GRACE ? left :
		    CONFIRM_GRACE);
		if (r != SCAUTH_ETIMEOUT)
			return r;
		again = 1;
	}
}

/* The phone's way: pair through the database, show the code, wait. */
static int
relay_steps(scauth_ctx *ctx, const struct scauth_login_ui *ui, scauth_login *lg,
    enum scauth_login_step *step)
{
	int r;

	*step = SCAUTH_STEP_PAIR;
	if ((r = scauth_login_pair(ctx, lg)) != 0)
		return r;
	*step = SCAUTH_STEP_SHOW;
	if ((r = ui->show_pairing(ui->arg, scauth_login_pair_address(lg),
	    scauth_login_pair_code(lg), scauth_login_pair_link(lg))) != 0)
		return r;
	*step = SCAUTH_STEP_WAIT;
	login_pair_stopped(lg, ui->stopped, ui->arg);
	return relay_wait(ctx, ui, lg);
}

int
scauth_login_run(scauth_ctx *ctx, const struct scauth_login_ui *caller_ui, scauth_token **out)
{
	struct scauth_login_ui copy, *ui = &copy;
	scauth_login *lg = NULL;
	enum scauth_login_step step;
	int r;

	if (out != NULL)
		*out = NULL;
	if (ctx == NULL)
		return SCAUTH_EINVAL;
	if (out == NULL)
		return ctx_err(ctx, SCAUTH_EINVAL, "no place for the result");
	if ((r = ui_copy(ctx, caller_ui, ui)) != 0)
		return r;
	step = SCAUTH_STEP_BEGIN;
	if ((r = scauth_login_begin(ctx, &lg)) != 0)
		goto out;
	if ((r = ui->relay ? relay_steps(ctx, ui, lg, &step) :
	    browser_steps(ctx, ui, lg, &step)) != 0)
		goto out;
	step = SCAUTH_STEP_FINISH;
	r = scauth_login_finish(ctx, lg, out);
out:
	if (r != 0) {
		step_failed(ui, step, r);
		/* A code given up on must not log anyone in later. */
		scauth_login_unpair(ctx, lg);
	}
	scauth_login_free(lg);
	return r;
}
