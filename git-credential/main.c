/*
 * main.c - git-credential-soundcloud: the git credential helper and the
 * command line for people and scripts, a thin layer over libscauth.
 *
 * get/store/erase speak the git-credential(1) protocol on stdin and stdout;
 * login, logout, token, header, status and api are for people and scripts.
 * The cached `get` is the hot path (git runs it for every request): it reads
 * the request with read(2), answers with one write(2), and touches no
 * network library, no locale and no stdio on stdout.  The token only ever
 * goes to stdout, and every buffer that held a secret (the token, a pasted
 * code, the request git sent) is wiped.  Exit codes follow sysexits(3), see
 * exit_map below.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "scauth.h"
#include "credential.h"

#define PROG "git-credential-soundcloud"

/* Named caps and defaults. */
#define MAX_ANSWER        (16 * 1024)        /* the get answer: the token twice, small fields */
#define MAX_PASTE         8192               /* a pasted redirect URL or code, as the listener's */
#define MAX_API_BODY      (16 * 1024 * 1024) /* a request body given to `api -d` */
#define MAX_METHOD        16
#define DEFAULT_TIMEOUT   300                /* seconds a login waits for the browser */
#define MAX_TIMEOUT       86400
#define MAX_LOADERR       512                /* the library's message for a failed load */
#define SOUNDCLOUD_HOST   "api.soundcloud.com"  /* the default api_url's host */

/* Exit status 1: the API answered with an error status, and other failures. */
#define EX_FAILURE 1

/*
 * The one mapping from library errors to exit codes (also in the man page).
 * Anything not listed is EX_FAILURE.
 */
static const struct {
	int err;
	int status;
} exit_map[] = {
	{ SCAUTH_EINVAL, EX_USAGE },            /* 64: bad argument (an API path, a profile) */
	{ SCAUTH_ELOGIN, EX_NOPERM },           /* 77: login required */
	{ SCAUTH_EGRANT, EX_NOPERM },
	{ SCAUTH_ETOKEN, EX_NOPERM },
	{ SCAUTH_EDENIED, EX_NOPERM },
	{ SCAUTH_ESTATE, EX_NOPERM },
	{ SCAUTH_EUNAVAIL, EX_UNAVAILABLE },    /* 69: server or network unavailable */
	{ SCAUTH_ENETWORK, EX_UNAVAILABLE },
	{ SCAUTH_ETLS, EX_UNAVAILABLE },
	{ SCAUTH_ETIMEOUT, EX_UNAVAILABLE },
	{ SCAUTH_EPROTO, EX_UNAVAILABLE },
	{ SCAUTH_ENOLIB, EX_UNAVAILABLE },
	{ SCAUTH_ECORRUPT, EX_NOPERM },         /* a login rewrites an unreadable record */
	{ SCAUTH_ERATELIMIT, EX_TEMPFAIL },     /* 75: try again later */
	{ SCAUTH_ELOCKED, EX_TEMPFAIL },
	{ SCAUTH_ESTORE, EX_TEMPFAIL },         /* disk full, read-only: the old tokens are intact */
	{ SCAUTH_ECONFIG, EX_CONFIG },          /* 78: configuration of the app or the machine */
	{ SCAUTH_EUNSAFE, EX_CONFIG },
	{ SCAUTH_ECLIENT, EX_CONFIG },
	{ SCAUTH_EREQUEST, EX_CONFIG },
};

struct cmd {
	const char *profile;        /* --profile */
	const char *config;         /* --config */
	scauth_ctx *ctx;            /* loaded on first use; NULL while it does not load */
	const char *why;            /* a message of ours that overrides the library's */
	char loaderr[MAX_LOADERR];  /* why the context did not load, "" if it did */
};

struct verb {
	const char *name;
	int (*fn)(struct cmd *cmd, int argc, char **argv);
};

static const char usage_text[] =
"usage: " PROG " [--profile NAME] [--config FILE] COMMAND [ARGS]\n"
"\n"
"git credential helper; enable it with\n"
"  git config --global credential.https://api.soundcloud.com.helper soundcloud\n"
"  get | store | erase       the git credential protocol (stdin to stdout)\n"
"\n"
"commands:\n"
"  login [--no-browser] [--paste] [--timeout SECONDS]\n"
"                            log in with the browser (Authorization Code + PKCE)\n"
"  logout                    sign out at SoundCloud and erase the local tokens\n"
"  token [--client-credentials]\n"
"                            print a valid access token\n"
"  header [--client-credentials]\n"
"                            print \"Authorization: OAuth TOKEN\" for curl -H @-\n"
"  status [--json]           who is logged in and until when; never a secret\n"
"  api [-X METHOD] [-d BODY|@FILE|@-] [-H 'Content-Type: TYPE'] [--client-credentials] PATH\n"
"                            one API call; the answer's body goes to stdout\n"
"\n"
"exit status: 0 ok, 1 the API answered an error status or another failure,\n"
"64 usage, 69 server or network unavailable, 75 temporary failure (rate limit, lock),\n"
"77 login required, 78 configuration error\n";

/* ------------------------------------------------------------------------ */
/* Errors and messages. */

static int
exit_status(int err)
{
	size_t i;

	if (err >= 0)
		return 0;
	for (i = 0; i < sizeof(exit_map) / sizeof(exit_map[0]); i++) {
		if (exit_map[i].err == err)
			return exit_map[i].status;
	}
	return EX_FAILURE;
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One line saying what was wrong and where to look; returns EX_USAGE. */
static int
usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("; see '" PROG " --help'\n", stderr);
	return EX_USAGE;
}

/* Prints the hint for a login, naming the profile when one was chosen. */
static void
login_hint(const struct cmd *cmd)
{
	if (cmd->profile != NULL)
		fprintf(stderr, PROG ": run '" PROG " --profile %s login' to log in\n",
		    cmd->profile);
	else
		fputs(PROG ": run '" PROG " login' to log in\n", stderr);
}

/*
 * Reports a failure as "git-credential-soundcloud: [what: ]message" with a
 * hint where one helps, and returns the exit status for it.
 */
static int
fail(struct cmd *cmd, int err, const char *what)
{
	const char *msg = cmd->why;
	int status = exit_status(err);

	if (msg == NULL)
		msg = cmd->ctx != NULL ? scauth_errmsg(cmd->ctx) : cmd->loaderr;
	if (msg == NULL || *msg == '\0')
		msg = scauth_strerror(err);
	if (what != NULL)
		fprintf(stderr, PROG ": %s: %s\n", what, msg);
	else
		fprintf(stderr, PROG ": %s\n", msg);
	if (status == EX_NOPERM)
		login_hint(cmd);
	cmd->why = NULL;
	return status;
}

static int
nonempty(const char *s)
{
	return s != NULL && *s != '\0';
}

static void
trace_line(void *arg, const char *line)
{
	(void)arg;
	fprintf(stderr, "soundcloud-auth: %s\n", line);
}

/*
 * Creates and loads the context once; store needs one only to judge a
 * dropped request.  cmd->ctx is set only when the load succeeded, so that
 * nothing runs on a half-loaded context; the library's reason for a failure
 * is kept in cmd->loaderr for fail().
 */
static int
ctx_open(struct cmd *cmd)
{
	scauth_ctx *ctx = NULL;
	const char *trace;
	int r;

	if (cmd->ctx != NULL)
		return SCAUTH_OK;
	cmd->loaderr[0] = '\0';
	if ((r = scauth_ctx_new(&ctx, 0)) < 0)
		goto out;
	if (cmd->config != NULL &&
	    (r = scauth_ctx_setopt(ctx, SCAUTH_OPT_CONFIG_FILE, cmd->config)) < 0)
		goto out;
	if (cmd->profile != NULL &&
	    (r = scauth_ctx_setopt(ctx, SCAUTH_OPT_PROFILE, cmd->profile)) < 0)
		goto out;
	trace = getenv("SOUNDCLOUD_AUTH_TRACE");
	if (nonempty(trace) && strcmp(trace, "0") != 0)
		scauth_ctx_set_trace(ctx, trace_line, NULL);
	if ((r = scauth_ctx_load(ctx)) < 0)
		goto out;
	cmd->ctx = ctx;
	ctx = NULL;     /* transferred */
 out:
	if (ctx != NULL) {
		snprintf(cmd->loaderr, sizeof(cmd->loaderr), "%s", scauth_errmsg(ctx));
		scauth_ctx_free(ctx);
	}
	return r;
}

/* Writes a whole buffer to stdout; reports a failure (EPIPE...) on stderr. */
static int
out_write(const char *buf, size_t len)
{
	if (cred_write_all(STDOUT_FILENO, buf, len) < 0) {
		fprintf(stderr, PROG ": writing to stdout: %s\n", strerror(errno));
		return EX_FAILURE;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Talking to a person: the browser, the terminal. */

/*
 * A boolean as git's git_parse_maybe_bool() reads it: "" is false; true, yes,
 * on and false, no, off in any case; else an int (strtoimax base 0, with an
 * optional k, m or g unit) is true when not 0.  -1 for anything else.
 */
static int
git_parse_bool(const char *v)
{
	static const char *const yes[] = { "true", "yes", "on" };
	static const char *const no[] = { "false", "no", "off" };
	long long n, unit = 1;
	char *end;
	size_t i;

	if (*v == '\0')
		return 0;
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(v, yes[i]) == 0)
			return 1;
		if (strcasecmp(v, no[i]) == 0)
			return 0;
	}
	errno = 0;
	n = strtoll(v, &end, 0);
	if (errno != 0 || end == v)
		return -1;
	if (*end != '\0') {
		if (end[1] != '\0' || strchr("kKmMgG", *end) == NULL)
			return -1;
		unit = tolower((unsigned char)*end) == 'k' ? 1024 :
		    tolower((unsigned char)*end) == 'm' ? 1024 * 1024 : 1024 * 1024 * 1024;
	}
	/* git wants the value, units applied, to fit an int. */
	if (n > INT_MAX / unit || n < -(INT_MAX / unit))
		return -1;
	return n != 0;
}

/*
 * GIT_TERMINAL_PROMPT read as git's git_env_bool() reads it, so that "" and
 * "00" say no here as they do to git.  A value git cannot read makes git die
 * before it would prompt: no prompt either.
 */
static int
git_prompt_allowed(void)
{
	const char *v = getenv("GIT_TERMINAL_PROMPT");

	return v == NULL || git_parse_bool(v) == 1;
}

static int
have_display(void)
{
	return nonempty(getenv("DISPLAY")) || nonempty(getenv("WAYLAND_DISPLAY"));
}

static int
open_tty(void)
{
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);

	if (fd >= 0 && !isatty(fd)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* Whether a login started from `get` has someone to answer it. */
static int
person_can_answer(void)
{
	int fd;

	if (!git_prompt_allowed())
		return 0;
	if (have_display())
		return 1;
	if ((fd = open_tty()) < 0)
		return 0;
	close(fd);
	return 1;
}

/*
 * Removes every SOUNDCLOUD_* variable from the environment: the browser needs
 * none of them, and SOUNDCLOUD_CLIENT_SECRET would otherwise sit in its
 * /proc/PID/environ (and its children's) for as long as it runs.  Edits the
 * array in place rather than calling unsetenv(), which may allocate: this
 * runs in the child between fork() and exec().
 */
static void
drop_our_environment(void)
{
	char **src, **dst;

	if (environ == NULL)
		return;
	for (src = dst = environ; *src != NULL; src++) {
		if (strncmp(*src, "SOUNDCLOUD_", 11) != 0)
			*dst++ = *src;
	}
	*dst = NULL;
}

/*
 * Starts $BROWSER (a shell command that may hold arguments; the URL is its
 * last one) or xdg-open when a display is present, and does not wait for it.
 * Its stdin and stdout are /dev/null: under `get` our stdout is git's pipe.
 * Returns the child's pid, or -1 when none was started.
 */
static pid_t
open_browser(const char *url)
{
	const char *browser = getenv("BROWSER");
	pid_t pid;
	int fd;

	if (!nonempty(browser) && !have_display())
		return -1;
	if ((pid = fork()) < 0) {
		fprintf(stderr, PROG ": cannot start a browser: %s\n", strerror(errno));
		return -1;
	}
	if (pid > 0)
		return pid;
	/*
	 * A session of its own: Ctrl-C on the terminal while we wait for the
	 * redirect stops the login, not the browser the person is using.
	 */
	(void)setsid();
	/* A browser holding git's stdout would keep git waiting until it exits. */
	if ((fd = open("/dev/null", O_RDWR)) < 0 ||
	    dup2(fd, STDIN_FILENO) < 0 || dup2(fd, STDOUT_FILENO) < 0)
		_exit(127);
	/* Neither the listener's socket nor anything else of ours goes along. */
	closefrom(STDERR_FILENO + 1);
	drop_our_environment();
	if (nonempty(browser))
		execl("/bin/sh", "sh", "-c", "exec $BROWSER \"$1\"", "sh", url, (char *)NULL);
	else
		execlp("xdg-open", "xdg-open", url, (char *)NULL);
	_exit(127);
}

/* Reaps the browser if it is done; a browser still running is left alone. */
static void
reap_browser(pid_t pid)
{
	if (pid > 0)
		(void)waitpid(pid, NULL, WNOHANG);
}

static void
show_qr(const char *url)
{
	char *qr = NULL;

	/* Without libqrencode there is simply no QR code. */
	if (scauth_qr_render(url, &qr) == SCAUTH_OK) {
		fputs(qr, stderr);
		free(qr);
	}
}

/*
 * Signals that end or stop us while echo is off.  As readpassphrase(3) does,
 * each is caught only to restore the terminal first and is then delivered
 * again with the disposition it had; one that was ignored (nohup ignores
 * SIGHUP) is left ignored.
 */
static const int hidden_sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP, SIGTTIN, SIGTTOU };
#define NHIDDEN_SIGS (sizeof(hidden_sigs) / sizeof(hidden_sigs[0]))

/* The signal that interrupted a hidden read. */
static volatile sig_atomic_t got_signal;

static void
on_signal(int sig)
{
	got_signal = sig;
}

static void
catch_signals(struct sigaction *old, int *caught)
{
	struct sigaction sa;
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;      /* no SA_RESTART: read() must return */
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < NHIDDEN_SIGS; i++) {
		caught[i] = sigaction(hidden_sigs[i], NULL, &old[i]) == 0 &&
		    old[i].sa_handler != SIG_IGN &&
		    sigaction(hidden_sigs[i], &sa, NULL) == 0;
	}
}

static void
release_signals(const struct sigaction *old, const int *caught)
{
	size_t i;

	for (i = 0; i < NHIDDEN_SIGS; i++) {
		if (caught[i])
			(void)sigaction(hidden_sigs[i], &old[i], NULL);
	}
}

/*
 * Reads up to a newline into buf (NUL-terminated, newline dropped).  Returns
 * the length, -1 on error or once a caught signal arrived (also one that came
 * before the read: it is not left waiting for Enter), -2 when the line does
 * not fit.
 */
static ssize_t
read_line(int fd, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t n;
	char *nl;

	for (;;) {
		if (got_signal)
			return -1;
		if (len + 1 >= size)
			return -2;
		n = read(fd, buf + len, size - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		if ((nl = memchr(buf + len, '\n', (size_t)n)) != NULL) {
			len = (size_t)(nl - buf);
			break;
		}
		len += (size_t)n;
	}
	buf[len] = '\0';
	return (ssize_t)len;
}

/* Writes the prompt, giving up once a caught signal arrived (cred_write_all() retries). */
static void
write_prompt(int fd, const char *prompt)
{
	size_t len = strlen(prompt);
	ssize_t n;

	while (len > 0 && !got_signal) {
		if ((n = write(fd, prompt, len)) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		prompt += n;
		len -= (size_t)n;
	}
}

/*
 * Reads one line from fd into buf (NUL-terminated, newline dropped).  On a
 * terminal, echo goes off first and then the prompt is shown, so that
 * nothing typed after the prompt is echoed: a code is a secret.  Ctrl-Z (or
 * a background read or write) restores the terminal and stops us; once
 * continued, echo goes off again and the line starts over.  Returns its
 * length, -1 on error or interruption (after restoring the terminal and
 * re-raising the signal), -2 when the line does not fit.
 */
static ssize_t
read_hidden_line(int fd, const char *prompt, char *buf, size_t size)
{
	struct sigaction old[NHIDDEN_SIGS];
	int caught[NHIDDEN_SIGS], hidden, sig;
	struct termios saved, quiet;
	ssize_t r;

	for (;;) {
		got_signal = 0;
		catch_signals(old, caught);
		hidden = 0;
		if (isatty(fd) && tcgetattr(fd, &saved) == 0) {
			quiet = saved;
			quiet.c_lflag &= ~(tcflag_t)ECHO;
			quiet.c_lflag |= ECHONL;
			hidden = tcsetattr(fd, TCSAFLUSH, &quiet) == 0;
			write_prompt(fd, prompt);
		}
		r = read_line(fd, buf, size);
		if (hidden)
			(void)tcsetattr(fd, TCSAFLUSH, &saved);
		release_signals(old, caught);
		if (r < 0)
			scauth_wipe(buf, size);
		if ((sig = got_signal) == 0)
			break;
		/* Now with the terminal as it was: die, or stop until continued. */
		raise(sig);
		if (sig != SIGTSTP && sig != SIGTTIN && sig != SIGTTOU)
			break;
	}
	return r;
}

struct login_opts {
	int paste;          /* --paste: no listener */
	int no_browser;
	int timeout;
	int stdin_ok;       /* a paste may come from stdin (not under get: it is git's) */
};

/*
 * Reads the pasted redirect URL or code: from stdin when it is not a
 * terminal and may be used (a script feeds it), else from the terminal.
 */
static int
paste_code(struct cmd *cmd, scauth_login *lg, const struct login_opts *lo)
{
	char buf[MAX_PASTE + 2];
	int fd = -1, own = 0, r;
	ssize_t n;

	if (lo->stdin_ok && !isatty(STDIN_FILENO)) {
		fd = STDIN_FILENO;
	} else if ((fd = open_tty()) >= 0) {
		own = 1;
	} else if (lo->stdin_ok) {
		fd = STDIN_FILENO;
	} else {
		cmd->why = "no terminal to paste the redirect URL into";
		return SCAUTH_ELOGIN;
	}
	n = read_hidden_line(fd, "Paste the address the browser was sent to, "
	    "or the code (input hidden): ", buf, sizeof(buf));
	if (own)
		close(fd);
	if (n == -2) {
		cmd->why = "pasted text too long";
		r = SCAUTH_EINVAL;
	} else if (n < 0) {
		cmd->why = "cannot read the pasted redirect URL";
		r = SCAUTH_ESYSTEM;
	} else if (strspn(buf, " \t\r") == (size_t)n) {
		cmd->why = "nothing was pasted";
		r = SCAUTH_ELOGIN;
	} else {
		r = scauth_login_paste(cmd->ctx, lg, buf);
	}
	scauth_wipe(buf, sizeof(buf));
	return r;
}

static const char *
or_unknown(const char *s)
{
	return nonempty(s) ? s : "?";
}

/*
 * The whole login: listener (else paste), URL on its own stderr line,
 * browser, wait, code exchange, /me, store.  *out receives the new token.
 */
static int
login_flow(struct cmd *cmd, const struct login_opts *lo, scauth_token **out)
{
	scauth_login *lg = NULL;
	scauth_token *t = NULL;
	const char *url;
	pid_t browser = -1;
	int paste = lo->paste, r;

	*out = NULL;
	if ((r = scauth_login_begin(cmd->ctx, &lg)) < 0)
		goto out;
	if (!paste && scauth_login_listen(cmd->ctx, lg) < 0) {
		fprintf(stderr, PROG ": cannot wait for the browser (%s); "
		    "paste the address it shows instead\n", scauth_errmsg(cmd->ctx));
		paste = 1;
	}
	url = scauth_login_url(lg);
	/* The URL alone on its line, so that a script can pick it up. */
	fprintf(stderr, "Open this address in a browser to log in to SoundCloud:\n%s\n", url);
	if (paste)
		show_qr(url);
	if (!lo->no_browser)
		browser = open_browser(url);
	if (!paste) {
		fprintf(stderr, "Waiting for the browser to come back to %s ...\n",
		    or_unknown(scauth_ctx_get(cmd->ctx, "redirect_uri")));
		r = scauth_login_wait(cmd->ctx, lg, lo->timeout);
	} else {
		r = paste_code(cmd, lg, lo);
	}
	if (r < 0)
		goto out;
	if ((r = scauth_login_finish(cmd->ctx, lg, &t)) < 0)
		goto out;
	if ((r = scauth_token_save(cmd->ctx, SCAUTH_GRANT_USER, t)) < 0)
		goto out;
	fprintf(stderr, "Logged in as %s (%s, %s)\n", or_unknown(scauth_token_username(t)),
	    or_unknown(scauth_token_permalink(t)), or_unknown(scauth_token_urn(t)));
	*out = t;
	t = NULL;       /* transferred */
 out:
	reap_browser(browser);
	scauth_token_free(t);
	scauth_login_free(lg);
	return r;
}

/* ------------------------------------------------------------------------ */
/* The git credential protocol: get, store, erase. */

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

static int
cmd_get(struct cmd *cmd, int argc, char **argv)
{
	struct cred_buf in = { 0 };
	struct credential c = { 0 };
	struct login_opts lo = { 0, 0, DEFAULT_TIMEOUT, 0 };
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
static int
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
static int
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

/* ------------------------------------------------------------------------ */
/* Commands for people and scripts. */

static int
want_help(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
			return 1;
		if (strcmp(argv[i], "--") == 0)
			break;
	}
	return 0;
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

static int
cmd_login(struct cmd *cmd, int argc, char **argv)
{
	struct login_opts lo = { 0, 0, DEFAULT_TIMEOUT, 1 };
	scauth_token *t = NULL;
	const char *arg;
	int i, r;

	for (i = 1; i < argc; i++) {
		arg = argv[i];
		if (strcmp(arg, "--paste") == 0) {
			lo.paste = 1;
		} else if (strcmp(arg, "--no-browser") == 0) {
			lo.no_browser = 1;
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
	if ((r = ctx_open(cmd)) < 0 || (r = login_flow(cmd, &lo, &t)) < 0)
		return fail(cmd, r, "login");
	scauth_token_free(t);
	return 0;
}

static int
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

/* Parses [--client-credentials]; returns the grant, or -1 after a usage message. */
static int
parse_grant(int argc, char **argv)
{
	int grant = SCAUTH_GRANT_USER, i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--client-credentials") != 0) {
			usage_error("unknown argument '%s'", argv[i]);
			return -1;
		}
		grant = SCAUTH_GRANT_APP;
	}
	return grant;
}

/* Prints prefix, the token and a newline on stdout in one write. */
static int
print_token(struct cmd *cmd, int argc, char **argv, const char *prefix)
{
	char buf[MAX_ANSWER];
	scauth_token *t = NULL;
	const char *token;
	int grant, r, status;
	size_t plen, tlen;

	if ((grant = parse_grant(argc, argv)) < 0)
		return EX_USAGE;
	if ((r = ctx_open(cmd)) < 0 ||
	    (r = scauth_token_get(cmd->ctx, (enum scauth_grant)grant, &t)) < 0)
		return fail(cmd, r, NULL);
	token = scauth_token_access(t);
	plen = strlen(prefix);
	tlen = token != NULL ? strlen(token) : 0;
	if (tlen == 0 || plen + tlen + 1 > sizeof(buf)) {
		fputs(PROG ": no usable access token\n", stderr);
		status = EX_FAILURE;
	} else {
		memcpy(buf, prefix, plen);
		memcpy(buf + plen, token, tlen);
		buf[plen + tlen] = '\n';
		status = out_write(buf, plen + tlen + 1);
	}
	scauth_wipe(buf, sizeof(buf));
	scauth_token_free(t);
	return status;
}

static int
cmd_token(struct cmd *cmd, int argc, char **argv)
{
	return print_token(cmd, argc, argv, "");
}

static int
cmd_header(struct cmd *cmd, int argc, char **argv)
{
	return print_token(cmd, argc, argv, "Authorization: OAuth ");
}

/* "2025-01-31 12:00:00 UTC" */
static void
format_utc(char *buf, size_t size, time_t t)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(buf, size, "%lld", (long long)t);
}

/* "in 58 min", "3 h 2 min ago" */
static void
format_relative(char *buf, size_t size, long long secs)
{
	long long a = secs < 0 ? -secs : secs;
	const char *pre = secs < 0 ? "" : "in ", *post = secs < 0 ? " ago" : "";

	if (a < 60)
		snprintf(buf, size, "%s%lld s%s", pre, a, post);
	else if (a < 3600)
		snprintf(buf, size, "%s%lld min%s", pre, a / 60, post);
	else if (a < 2 * 86400)
		snprintf(buf, size, "%s%lld h %lld min%s", pre, a / 3600, a % 3600 / 60, post);
	else
		snprintf(buf, size, "%s%lld days%s", pre, a / 86400, post);
}

/* What status knows about one grant, without the network. */
struct grant_info {
	int present;
	int has_access;     /* an access token is held (not dropped) */
	int fresh;          /* ... and not yet due for a refresh */
	int renewable;
	time_t expires;
	const char *urn, *permalink, *username, *scope;
};

static void
grant_info(struct cmd *cmd, const scauth_token *t, struct grant_info *gi)
{
	memset(gi, 0, sizeof(*gi));
	if (t == NULL)
		return;
	gi->present = 1;
	gi->has_access = scauth_token_access(t) != NULL;
	gi->expires = scauth_token_expires(t);
	gi->fresh = gi->has_access &&
	    (gi->expires == 0 || scauth_token_fresh_until(cmd->ctx, t) > time(NULL));
	gi->renewable = scauth_token_renewable(t);
	gi->urn = scauth_token_urn(t);
	gi->permalink = scauth_token_permalink(t);
	gi->username = scauth_token_username(t);
	gi->scope = scauth_token_scope(t);
}

static void
print_grant_text(const char *label, const struct grant_info *gi)
{
	char when[64], rel[64];

	if (!gi->present) {
		printf("%-9s %s\n", label, strcmp(label, "user:") == 0 ? "not logged in" : "none");
		return;
	}
	if (gi->urn != NULL || gi->permalink != NULL || gi->username != NULL)
		printf("%-9s %s (%s, %s)\n", label, or_unknown(gi->username),
		    or_unknown(gi->permalink), or_unknown(gi->urn));
	else
		printf("%-9s %s\n", label, "token held");
	if (!gi->has_access) {
		printf("  token:  dropped, the next use %s\n",
		    gi->renewable ? "refreshes it" : "needs a new grant");
	} else if (gi->expires == 0) {
		printf("  token:  held, expiry unknown\n");
	} else {
		format_utc(when, sizeof(when), gi->expires);
		format_relative(rel, sizeof(rel), (long long)(gi->expires - time(NULL)));
		printf("  token:  %s %s (%s)\n", gi->fresh ? "valid until" :
		    gi->expires > time(NULL) ? "due for refresh, expires" : "expired", when, rel);
	}
	printf("  renew:  %s\n", gi->renewable ? "yes, a refresh token is held" : "no");
	if (nonempty(gi->scope))
		printf("  scope:  %s\n", gi->scope);
}

/* Writes s as a JSON string (or null): UTF-8 passes, controls are escaped. */
static void
json_string(const char *s)
{
	const unsigned char *p;

	if (s == NULL) {
		fputs("null", stdout);
		return;
	}
	putchar('"');
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

static void
print_grant_json(const struct grant_info *gi)
{
	char when[32];
	struct tm tm;

	if (!gi->present) {
		fputs("null", stdout);
		return;
	}
	fputs("{\"urn\":", stdout);
	json_string(gi->urn);
	fputs(",\"permalink\":", stdout);
	json_string(gi->permalink);
	fputs(",\"username\":", stdout);
	json_string(gi->username);
	fputs(",\"scope\":", stdout);
	json_string(gi->scope);
	printf(",\"access_token\":\"%s\"", !gi->has_access ? "dropped" :
	    gi->fresh ? "valid" : "expired");
	if (gi->expires > 0 && gmtime_r(&gi->expires, &tm) != NULL &&
	    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) > 0)
		printf(",\"expires_at\":\"%s\",\"expires_in\":%lld", when,
		    (long long)(gi->expires - time(NULL)));
	else
		fputs(",\"expires_at\":null,\"expires_in\":null", stdout);
	printf(",\"renewable\":%s}", gi->renewable ? "true" : "false");
}

/*
 * Logged in means a user grant that can still hand out a token without a
 * login: a fresh access token or a refresh token.  Exit 0 then, 77 if not.
 */
static int
cmd_status(struct cmd *cmd, int argc, char **argv)
{
	scauth_token *user = NULL, *app = NULL;
	struct grant_info ui, ai;
	const char *store;
	char where[4200];
	int json = 0, i, r, logged_in, file_store, status;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") != 0)
			return usage_error("status: unknown argument '%s'", argv[i]);
		json = 1;
	}
	if ((r = ctx_open(cmd)) < 0)
		return fail(cmd, r, NULL);
	if ((r = scauth_token_peek(cmd->ctx, SCAUTH_GRANT_USER, &user)) < 0 && r != SCAUTH_ELOGIN)
		return fail(cmd, r, "user grant");
	if ((r = scauth_token_peek(cmd->ctx, SCAUTH_GRANT_APP, &app)) < 0 && r != SCAUTH_ELOGIN) {
		scauth_token_free(user);
		return fail(cmd, r, "app grant");
	}
	grant_info(cmd, user, &ui);
	grant_info(cmd, app, &ai);
	store = scauth_ctx_get(cmd->ctx, "store");
	file_store = store != NULL && strcmp(store, "file") == 0;
	logged_in = ui.present && (ui.fresh || ui.renewable);
	if (json) {
		fputs("{\"profile\":", stdout);
		json_string(scauth_ctx_get(cmd->ctx, "profile"));
		fputs(",\"store\":", stdout);
		json_string(scauth_ctx_get(cmd->ctx, "store"));
		fputs(",\"state_dir\":", stdout);
		json_string(file_store ? scauth_ctx_get(cmd->ctx, "state_dir") : NULL);
		printf(",\"logged_in\":%s,\"user\":", logged_in ? "true" : "false");
		print_grant_json(&ui);
		fputs(",\"app\":", stdout);
		print_grant_json(&ai);
		fputs("}\n", stdout);
	} else {
		printf("%-9s %s\n", "profile:", or_unknown(scauth_ctx_get(cmd->ctx, "profile")));
		if (file_store)
			printf("%-9s file in %s\n", "store:",
			    or_unknown(scauth_ctx_get(cmd->ctx, "state_dir")));
		else
			printf("%-9s %s: %s\n", "store:", or_unknown(store),
			    scauth_ctx_store_where(cmd->ctx, where, sizeof(where)));
		print_grant_text("user:", &ui);
		print_grant_text("app:", &ai);
	}
	scauth_token_free(user);
	scauth_token_free(app);
	status = logged_in ? 0 : EX_NOPERM;
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, PROG ": writing to stdout: %s\n", strerror(errno));
		status = EX_FAILURE;
	}
	return status;
}

/* Reads all of fd into *out (malloc'd), at most MAX_API_BODY bytes. */
static int
read_all(int fd, char **out, size_t *outlen)
{
	size_t len = 0, cap = 0;
	char *p = NULL, *np;
	ssize_t n;

	*out = NULL;
	*outlen = 0;
	for (;;) {
		if (len == cap) {
			if (cap >= MAX_API_BODY + 1) {
				free(p);
				errno = EFBIG;
				return -1;
			}
			cap = cap == 0 ? 4096 : cap * 2;
			if (cap > MAX_API_BODY + 1)
				cap = MAX_API_BODY + 1;
			if ((np = realloc(p, cap)) == NULL) {
				free(p);
				return -1;
			}
			p = np;
		}
		n = read(fd, p + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(p);
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > MAX_API_BODY) {
			free(p);
			errno = EFBIG;
			return -1;
		}
	}
	*out = p;
	*outlen = len;
	return 0;
}

/* -d BODY, -d @FILE, -d @- */
static int
load_body(const char *arg, char **body, size_t *len)
{
	int fd, r;

	*body = NULL;
	*len = 0;
	if (arg[0] != '@') {
		if ((*body = strdup(arg)) == NULL)
			return -1;
		*len = strlen(arg);
		return 0;
	}
	if (strcmp(arg, "@-") == 0)
		return read_all(STDIN_FILENO, body, len);
	if ((fd = open(arg + 1, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
		return -1;
	r = read_all(fd, body, len);
	close(fd);
	return r;
}

static int
valid_method(const char *m)
{
	size_t n = strlen(m), i;

	if (n == 0 || n > MAX_METHOD)
		return 0;
	for (i = 0; i < n; i++) {
		if (!isupper((unsigned char)m[i]))
			return 0;
	}
	return 1;
}

/* -H 'Content-Type: TYPE': returns TYPE, or NULL for any other header. */
static const char *
content_type_header(const char *h)
{
	static const char name[] = "content-type:";

	if (strncasecmp(h, name, sizeof(name) - 1) != 0)
		return NULL;
	h += sizeof(name) - 1;
	h += strspn(h, " \t");
	return *h != '\0' && strpbrk(h, "\r\n") == NULL ? h : NULL;
}

/*
 * One API call.  The answer's body goes to stdout whatever the status; a
 * status other than 2xx is also reported on stderr and exits 1.
 */
static int
cmd_api(struct cmd *cmd, int argc, char **argv)
{
	const char *method = NULL, *data = NULL, *ctype = NULL, *path = NULL, *arg;
	enum scauth_grant grant = SCAUTH_GRANT_USER;
	scauth_response *resp = NULL;
	const char *rbody;
	char *body = NULL;
	size_t blen = 0, rlen = 0;
	long code;
	int i, r, status = 0, opts = 1;

	for (i = 1; i < argc; i++) {
		arg = argv[i];
		if (opts && strcmp(arg, "--") == 0) {
			opts = 0;
		} else if (opts && strcmp(arg, "--client-credentials") == 0) {
			grant = SCAUTH_GRANT_APP;
		} else if (opts && (strcmp(arg, "-X") == 0 || strcmp(arg, "-d") == 0 ||
		    strcmp(arg, "-H") == 0)) {
			if (i + 1 >= argc)
				return usage_error("api: %s needs a value", arg);
			if (arg[1] == 'X')
				method = argv[++i];
			else if (arg[1] == 'd' && data == NULL)
				data = argv[++i];
			else if (arg[1] == 'd')
				return usage_error("api: -d given twice");
			else if ((ctype = content_type_header(argv[++i])) == NULL)
				return usage_error("api: -H sets 'Content-Type: TYPE' only, "
				    "not '%s'", argv[i]);
		} else if (opts && arg[0] == '-' && arg[1] != '\0') {
			return usage_error("api: unknown option '%s'", arg);
		} else if (path == NULL) {
			path = arg;
		} else {
			return usage_error("api: one PATH only, not also '%s'", arg);
		}
	}
	if (path == NULL)
		return usage_error("api: PATH missing (like /me)");
	/* The token goes to api_url's origin only: a full URL is refused. */
	if (path[0] != '/')
		return usage_error("api: PATH must start with '/' (relative to api_url), not '%s'",
		    path);
	if (method == NULL)
		method = data != NULL ? "POST" : "GET";
	if (!valid_method(method))
		return usage_error("api: '%s' is not an HTTP method", method);
	if (data != NULL && load_body(data, &body, &blen) < 0) {
		fprintf(stderr, PROG ": api: reading the body from %s: %s\n", data,
		    strerror(errno));
		return EX_FAILURE;
	}
	if ((r = ctx_open(cmd)) < 0 || (r = scauth_api_request(cmd->ctx, grant, method, path,
	    body, blen, ctype, &resp)) < 0) {
		status = fail(cmd, r, NULL);
		goto out;
	}
	code = scauth_response_status(resp);
	rbody = scauth_response_body(resp, &rlen);
	if (rlen > 0 && (status = out_write(rbody, rlen)) != 0)
		goto out;
	if (code < 200 || code > 299) {
		fprintf(stderr, PROG ": HTTP %ld\n", code);
		status = EX_FAILURE;
	}
 out:
	scauth_response_free(resp);
	free(body);
	return status;
}

/* ------------------------------------------------------------------------ */

static const struct verb verbs[] = {
	{ "get", cmd_get },
	{ "store", cmd_store },
	{ "erase", cmd_erase },
	{ "login", cmd_login },
	{ "logout", cmd_logout },
	{ "token", cmd_token },
	{ "header", cmd_header },
	{ "status", cmd_status },
	{ "api", cmd_api },
};

/* Keeps a crash from writing the token into a core file. */
static void
no_core_dumps(void)
{
	struct rlimit rl = { 0, 0 };

	(void)setrlimit(RLIMIT_CORE, &rl);
#if !defined(__SANITIZE_ADDRESS__)
	/* Not under ASan: LeakSanitizer needs to ptrace the process. */
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
#endif
}

/*
 * gitcredentials(7): a helper should silently ignore an operation it does not
 * know, so that a future git can add one.  What looks like one (a lowercase
 * word) from git, whose stdin is never a terminal, is ignored unread; a
 * person at a terminal gets the usage error.
 */
static int
future_git_operation(const char *verb)
{
	return *verb != '\0' && strspn(verb, "abcdefghijklmnopqrstuvwxyz") == strlen(verb) &&
	    !isatty(STDIN_FILENO);
}

/* Matches "--name VALUE" and "--name=VALUE"; advances *ip past what it used. */
static int
global_option(int argc, char **argv, int *ip, const char *name, const char **value)
{
	const char *arg = argv[*ip];
	size_t n = strlen(name);

	if (strncmp(arg, name, n) != 0)
		return 0;
	if (arg[n] == '=') {
		*value = arg + n + 1;
		return 1;
	}
	if (arg[n] != '\0')
		return 0;
	if (*ip + 1 >= argc) {
		*value = NULL;
		return 1;
	}
	*value = argv[++*ip];
	return 1;
}

int
main(int argc, char **argv)
{
	struct cmd cmd = { NULL, NULL, NULL, NULL, "" };
	const char *value;
	size_t v;
	int i, status;

	no_core_dumps();
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			fputs(usage_text, stdout);
			return 0;
		} else if (strcmp(argv[i], "--version") == 0) {
			puts(PROG " " SCAUTH_VERSION);
			return 0;
		} else if (global_option(argc, argv, &i, "--profile", &value)) {
			if (!nonempty(value))
				return usage_error("--profile needs a name");
			cmd.profile = value;
		} else if (global_option(argc, argv, &i, "--config", &value)) {
			if (!nonempty(value))
				return usage_error("--config needs a file");
			cmd.config = value;
		} else {
			return usage_error("unknown option '%s'", argv[i]);
		}
	}
	if (i >= argc)
		return usage_error("no command given");
	for (v = 0; v < sizeof(verbs) / sizeof(verbs[0]); v++) {
		if (strcmp(argv[i], verbs[v].name) == 0)
			break;
	}
	if (v == sizeof(verbs) / sizeof(verbs[0])) {
		if (future_git_operation(argv[i]))
			return 0;
		return usage_error("unknown command '%s'", argv[i]);
	}
	if (want_help(argc - i, argv + i)) {
		fputs(usage_text, stdout);
		return 0;
	}
	status = verbs[v].fn(&cmd, argc - i, argv + i);
	scauth_ctx_free(cmd.ctx);
	return status;
}
