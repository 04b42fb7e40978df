/*
 * login_run.c - the login driver: the sequence of the step calls of login.c
 * (begin, listen, show the URL, wait or ask for a paste, finish), written
 * once for every front end, which brings only the words and the terminal.
 */
#include "internal.h"

#include <string.h>

static void
step_failed(const struct scauth_login_ui *ui, enum scauth_login_step step, int err)
{
	if (ui->step_failed != NULL)
		ui->step_failed(ui->arg, step, err);
}

int
scauth_login_run(scauth_ctx *ctx, const struct scauth_login_ui *ui, scauth_token **out)
{
	char buf[SCAUTH_PASTE_MAX + 2];
	scauth_login *lg = NULL;
	enum scauth_login_step step;
	const char *url;
	int paste, r;

	if (out != NULL)
		*out = NULL;
	if (ctx == NULL)
		return SCAUTH_EINVAL;
	if (out == NULL || ui == NULL || ui->show_url == NULL || ui->ask_paste == NULL)
		return ctx_err(ctx, SCAUTH_EINVAL, "login: no place for the result or no callbacks");
	paste = ui->paste;
	step = SCAUTH_STEP_BEGIN;
	if ((r = scauth_login_begin(ctx, &lg)) != 0)
		goto out;
	/*
	 * Listen before the URL is shown, so that the redirect cannot come too
	 * early.  A port that cannot be bound ends the login: whoever holds it
	 * would get the browser's redirect.  Only an https redirect_uri, which
	 * no listener here can serve, means a paste.
	 */
	if (!paste && (r = scauth_login_listen(ctx, lg)) != 0) {
		if (r == SCAUTH_ESYSTEM && strcmp(login_redirect_scheme(lg), "http") == 0) {
			step = SCAUTH_STEP_LISTEN;
			r = SCAUTH_EUNAVAIL;
			goto out;
		}
		step_failed(ui, SCAUTH_STEP_LISTEN, r);
		paste = 1;
	}
	url = scauth_login_url(lg);
	step = SCAUTH_STEP_SHOW;
	if ((r = ui->show_url(ui->arg, url, paste)) != 0)
		goto out;
	/* A browser's command line is in /proc: it gets the start address, without the state. */
	if (ui->start_browser != NULL) {
		const char *start = scauth_login_start_url(lg);

		ui->start_browser(ui->arg, start != NULL ? start : url);
	}
	if (!paste) {
		step = SCAUTH_STEP_WAIT;
		r = scauth_login_wait(ctx, lg, ui->timeout_sec);
	} else {
		step = SCAUTH_STEP_PASTE;
		buf[0] = '\0';
		if ((r = ui->ask_paste(ui->arg, url, buf, sizeof(buf))) == 0) {
			buf[sizeof(buf) - 1] = '\0';
			r = scauth_login_paste(ctx, lg, buf);
		}
		scauth_wipe(buf, sizeof(buf));
	}
	if (r != 0)
		goto out;
	step = SCAUTH_STEP_FINISH;
	r = scauth_login_finish(ctx, lg, out);
out:
	if (r != 0)
		step_failed(ui, step, r);
	scauth_login_free(lg);
	return r;
}
