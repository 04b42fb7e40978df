/*
 * login.c - the login and logout commands: the library's login driver with
 * the helper's words and terminal, then the store.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "helper.h"

/* What the login driver's callbacks share. */
struct login_ui {
	struct cmd *cmd;
	const struct login_opts *lo;
	pid_t browser;
};

const char *
or_unknown(const char *s)
{
	return nonempty(s) ? s : "?";
}

/* The URL alone on its stderr line (a script can pick it up). */
static int
ui_show_url(void *arg, const char *url, int paste)
{
	struct login_ui *ui = arg;

	fprintf(stderr, "Open this address in a browser to log in to SoundCloud:\n%s\n", url);
	if (paste)
		show_qr(url);
	if (!paste)
		fprintf(stderr, "Waiting for the browser to come back to %s ...\n",
		    or_unknown(scauth_ctx_get(ui->cmd->ctx, "redirect_uri")));
	return 0;
}

/*
 * --relay: what to do on the phone, on one line of its own (a script can
 * pick it up), and a QR code of the address with the code on a terminal.
 * The wait is on the database: nothing to press here.
 */
static int
ui_show_pairing(void *arg, const char *address, const char *code, const char *link)
{
	struct login_ui *ui = arg;

	fprintf(stderr, "On your phone open %s and enter %s\n", address, code);
	if (isatty(STDERR_FILENO))
		show_qr(link);
	fprintf(stderr, "Waiting for the login on the phone (up to %d s) ...\n", ui->lo->timeout);
	return 0;
}

/*
 * Reads the pasted redirect URL or code: from stdin when it is not a
 * terminal and may be used (a script feeds it), else from the terminal.
 */
static int
ui_ask_paste(void *arg, const char *url, char *buf, size_t size)
{
	struct login_ui *ui = arg;
	struct cmd *cmd = ui->cmd;
	int fd = -1, own = 0;
	ssize_t n;

	(void)url;
	if (ui->lo->stdin_ok && !isatty(STDIN_FILENO)) {
		fd = STDIN_FILENO;
	} else if ((fd = open_tty()) >= 0) {
		own = 1;
	} else if (ui->lo->stdin_ok) {
		fd = STDIN_FILENO;
	} else {
		cmd->why = "no terminal to paste the redirect URL into";
		return SCAUTH_ELOGIN;
	}
	n = read_hidden_line(fd, "Paste the address the browser was sent to, "
	    "or the code (input hidden): ", buf, size);
	if (own)
		close(fd);
	if (n == -2) {
		cmd->why = "pasted text too long";
		return SCAUTH_EINVAL;
	}
	if (n < 0) {
		cmd->why = "cannot read the pasted redirect URL";
		return SCAUTH_ESYSTEM;
	}
	if (strspn(buf, " \t\r") == (size_t)n) {
		cmd->why = "nothing was pasted";
		return SCAUTH_ELOGIN;
	}
	return 0;
}

/*
 * The browser, on the page that forwards to the start address (or on the
 * authorize URL for a paste): its command line, which every local user can
 * read, carries nothing that another user could log in with.
 */
static void
ui_start_browser(void *arg, const char *address)
{
	struct login_ui *ui = arg;

	guard_page(address);
	ui->browser = open_browser(address);
}

static void
ui_step_failed(void *arg, enum scauth_login_step step, int err)
{
	struct login_ui *ui = arg;
	static char why[768];

	if (step == SCAUTH_STEP_BROWSER) {
		fprintf(stderr, PROG ": no browser started (%s); open the address above\n",
		    scauth_errmsg(ui->cmd->ctx));
		return;
	}
	if (step != SCAUTH_STEP_LISTEN)
		return;
	if (err == SCAUTH_EUNAVAIL) {
		snprintf(why, sizeof(why), "%s; another program may hold redirect_uri's port and "
		    "would get the browser's redirect: stop it, or log in with --paste",
		    scauth_errmsg(ui->cmd->ctx));
		ui->cmd->why = why;
		return;
	}
	fprintf(stderr, PROG ": cannot wait for the browser (%s); "
	    "paste the address it shows instead\n", scauth_errmsg(ui->cmd->ctx));
}

/* Says so when the new login is another account than the one stored before. */
static void
warn_if_other_account(const char *before, const scauth_token *t)
{
	const char *now = scauth_token_urn(t);
	char was[MAX_SHOWN], link[MAX_SHOWN];

	if (nonempty(before) && nonempty(now) && strcmp(before, now) != 0)
		fprintf(stderr, PROG ": warning: this is another SoundCloud account than the one "
		    "logged in before (%s); it replaces it. If you did not mean to log in as %s, "
		    "run '" PROG " logout'.\n", shown(before, was, sizeof(was)),
		    shown(scauth_token_permalink(t), link, sizeof(link)));
}

/*
 * The whole login (the library's driver, with our words and terminal), then
 * the store.  *out receives the new token.
 */
int
login_flow(struct cmd *cmd, const struct login_opts *lo, scauth_token **out)
{
	struct login_ui ui = { cmd, lo, -1 };
	const struct scauth_login_ui lui = {
		.size = sizeof(lui),
		.arg = &ui,
		.paste = lo->paste,
		.timeout_sec = lo->timeout,
		.show_url = ui_show_url,
		.ask_paste = ui_ask_paste,
		.step_failed = ui_step_failed,
		/* No page is written for a browser that will not be started. */
		.start_browser = !lo->no_browser && browser_available() ? ui_start_browser : NULL,
		.relay = lo->relay,
		.show_pairing = ui_show_pairing,
		.stopped = lo->relay ? wait_stopped : NULL,
	};
	scauth_token *t = NULL, *before = NULL;
	char *before_urn = NULL, name[MAX_SHOWN], link[MAX_SHOWN], urn[MAX_SHOWN];
	int r;

	*out = NULL;
	/*
	 * A store that could not keep the new grant (a locked keyring) is found
	 * before SoundCloud issues one: afterwards it would be lost, or put
	 * beside the grant that the locked keyring still holds.
	 */
	if ((r = scauth_token_storable(cmd->ctx, SCAUTH_GRANT_USER)) < 0)
		goto out;
	if (scauth_token_peek(cmd->ctx, SCAUTH_GRANT_USER, &before) == 0 &&
	    nonempty(scauth_token_urn(before)))
		before_urn = strdup(scauth_token_urn(before));
	scauth_token_free(before);
	if (lo->relay)
		guard_wait();
	r = scauth_login_run(cmd->ctx, &lui, &t);
	unguard_page();         /* the library removed the page, or the pairing */
	if (r < 0)
		goto out;
	if ((r = scauth_token_save(cmd->ctx, SCAUTH_GRANT_USER, t)) < 0)
		goto out;
	fprintf(stderr, "Logged in as %s (%s, %s)\n",
	    shown(scauth_token_username(t), name, sizeof(name)),
	    shown(scauth_token_permalink(t), link, sizeof(link)),
	    shown(scauth_token_urn(t), urn, sizeof(urn)));
	warn_if_other_account(before_urn, t);
	*out = t;
	t = NULL;       /* transferred */
 out:
	free(before_urn);
	reap_browser(ui.browser);
	scauth_token_free(t);
	return r;
}

/* Parses a whole number of seconds in [1, MAX_TIMEOUT]; -1 otherwise. */
static int
parse_seconds(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 1 || v > MAX_TIMEOUT)
		return -1;
	return (int)v;
}

int
cmd_login(struct cmd *cmd, int argc, char **argv)
{
	struct login_opts lo = { 0, 0, DEFAULT_TIMEOUT, 1, 0 };
	scauth_token *t = NULL;
	const char *arg;
	int i, r;

	for (i = 1; i < argc; i++) {
		arg = argv[i];
		if (strcmp(arg, "--paste") == 0) {
			lo.paste = 1;
		} else if (strcmp(arg, "--no-browser") == 0) {
			lo.no_browser = 1;
		} else if (strcmp(arg, "--relay") == 0) {
			lo.relay = 1;
		} else if (strcmp(arg, "--timeout") == 0 || strncmp(arg, "--timeout=", 10) == 0) {
			if (arg[9] == '=')
				arg += 10;
			else if (++i < argc)
				arg = argv[i];
			else
				return usage_error("--timeout needs a number of seconds");
			if ((lo.timeout = parse_seconds(arg)) < 0)
				return usage_error("--timeout wants 1 to %d seconds, not '%s'",
				    MAX_TIMEOUT, arg);
		} else {
			return usage_error("login: unknown option '%s'", arg);
		}
	}
	if (lo.relay && lo.paste)
		return usage_error("login: --relay and --paste exclude each other");
	if ((r = ctx_open(cmd)) < 0 || (r = login_flow(cmd, &lo, &t)) < 0)
		return fail(cmd, r, "login");
	scauth_token_free(t);
	return 0;
}

int
cmd_logout(struct cmd *cmd, int argc, char **argv)
{
	const char *msg;
	int r;

	if (argc > 1)
		return usage_error("logout: unknown argument '%s'", argv[1]);
	if ((r = ctx_open(cmd)) < 0)
		return fail(cmd, r, NULL);
	r = scauth_logout(cmd->ctx);
	if (r == SCAUTH_OK) {
		fputs("Logged out.\n", stderr);
		return 0;
	}
	if (r == SCAUTH_ELOGIN) {
		fputs("Not logged in.\n", stderr);
		return 0;
	}
	/* The library erased locally whatever the server said. */
	if (exit_status(r) == EX_UNAVAILABLE) {
		msg = scauth_errmsg(cmd->ctx);
		fprintf(stderr, PROG ": local tokens erased, but SoundCloud could not be told: "
		    "%s\n", nonempty(msg) ? msg : scauth_strerror(r));
		return EX_UNAVAILABLE;
	}
	return fail(cmd, r, "logout");
}
