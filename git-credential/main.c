/*
 * main.c - git-credential-soundcloud: dispatch of the verbs, global options,
 * and the one mapping from the library's classes of errors to exit codes.
 *
 * The helper is a thin layer over libscauth, split by concern as curl's
 * src/tool_*.c are: protocol.c speaks the git-credential(1) protocol (get,
 * store, erase), login.c and commands.c are the commands for people and
 * scripts (login, logout; token, header, status, api), terminal.c is the
 * terminal (hidden input, signals, the browser), credential.c the protocol's
 * parser.  The cached `get` is the hot path (git runs it for every
 * request): it reads the request with read(2), answers with one write(2),
 * and touches no network library, no locale and no stdio on stdout.  The
 * token only ever goes to stdout, and every buffer that held a secret (the
 * token, a pasted code, the request git sent) is wiped.  Exit codes follow
 * sysexits(3), see exit_by_kind below.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sysexits.h>
#include <unistd.h>

#include "helper.h"

struct verb {
	const char *name;
	int (*fn)(struct cmd *cmd, int argc, char **argv);
};

/*
 * Exit codes by the library's class of the error (also in the man page).
 * Indexed by enum scauth_err_kind.
 */
static const int exit_by_kind[] = {
	[SCAUTH_KIND_NONE] = 0,
	[SCAUTH_KIND_LOGIN] = EX_NOPERM,          /* 77: login required */
	[SCAUTH_KIND_DENIED] = EX_NOPERM,
	[SCAUTH_KIND_UNAVAILABLE] = EX_UNAVAILABLE, /* 69: server or network unavailable */
	[SCAUTH_KIND_MISSING] = EX_UNAVAILABLE,   /* a support library is missing */
	[SCAUTH_KIND_TEMPORARY] = EX_TEMPFAIL,    /* 75: try again later; stored tokens intact */
	[SCAUTH_KIND_CONFIG] = EX_CONFIG,         /* 78: configuration of the app or the machine */
	[SCAUTH_KIND_INPUT] = EX_USAGE,           /* 64: bad argument (an API path, a profile) */
	[SCAUTH_KIND_LOCAL] = EX_FAILURE,
};

static const char usage_text[] =
"usage: " PROG " [--profile NAME] [--config FILE] COMMAND [ARGS]\n"
"\n"
"git credential helper; enable it with\n"
"  git config --global credential.https://api.soundcloud.com.helper soundcloud\n"
"  get | store | erase       the git credential protocol (stdin to stdout)\n"
"\n"
"commands:\n"
"  login [--no-browser] [--paste | --relay] [--timeout SECONDS]\n"
"                            log in with the browser (Authorization Code + PKCE),\n"
"                            or with a phone through relay_url (--relay)\n"
"  logout                    sign out at SoundCloud and erase the local tokens\n"
"  token [--client-credentials]\n"
"                            print a valid access token\n"
"  header [--client-credentials]\n"
"                            print \"Authorization: OAuth TOKEN\" for curl -H @-\n"
"  status [--json]           who is logged in and until when; never a secret\n"
"  api [-X METHOD] [-d BODY|@FILE|@-] [-H 'Content-Type: TYPE'] [--client-credentials] PATH\n"
"                            one API call; the answer's body goes to stdout\n"
"  fleet init [--new-key]    prepare the fleet's database (store = postgres)\n"
"\n"
"exit status: 0 ok, 1 the API answered an error status or another failure,\n"
"64 usage, 69 server or network unavailable, 75 temporary failure (rate limit, lock),\n"
"77 login required, 78 configuration error\n";

int
exit_status(int err)
{
	enum scauth_err_kind k;

	if (err >= 0)
		return 0;
	k = scauth_err_kind(err);
	return (size_t)k < sizeof(exit_by_kind) / sizeof(exit_by_kind[0]) ? exit_by_kind[k] :
	    EX_FAILURE;
}

/* One line saying what was wrong and where to look; returns EX_USAGE. */
int
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
int
fail(struct cmd *cmd, int err, const char *what)
{
	const char *msg = cmd->why;
	char safe[4 * MAX_SHOWN];
	int status = exit_status(err);

	if (msg == NULL)
		msg = cmd->ctx != NULL ? scauth_errmsg(cmd->ctx) : cmd->loaderr;
	if (msg == NULL || *msg == '\0')
		msg = scauth_strerror(err);
	/* A detail may quote a server (a database's error message): never raw. */
	msg = scauth_text_display(msg, 0, safe, sizeof(safe));
	if (what != NULL)
		fprintf(stderr, PROG ": %s: %s\n", what, msg);
	else
		fprintf(stderr, PROG ": %s\n", msg);
	if (status == EX_NOPERM)
		login_hint(cmd);
	cmd->why = NULL;
	return status;
}

int
nonempty(const char *s)
{
	return s != NULL && *s != '\0';
}

const char *
shown(const char *s, char *buf, size_t len)
{
	return scauth_text_display(nonempty(s) ? s : "?", 0, buf, len);
}

static void
trace_line(void *arg, const char *line)
{
	/* A line may quote a database (a refresher's host name): escaped, like fail(). */
	char safe[4 * 512 + 4];

	(void)arg;
	fprintf(stderr, "soundcloud-auth: %s\n", scauth_text_display(line, 0, safe, sizeof(safe)));
}

/*
 * Creates and loads the context once; store needs one only to judge a
 * dropped request.  cmd->ctx is set only when the load succeeded, so that
 * nothing runs on a half-loaded context; the library's reason for a failure
 * is kept in cmd->loaderr for fail().
 */
int
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
int
out_write(const char *buf, size_t len)
{
	if (cred_write_all(STDOUT_FILENO, buf, len) < 0) {
		fprintf(stderr, PROG ": writing to stdout: %s\n", strerror(errno));
		return EX_FAILURE;
	}
	return 0;
}

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
	{ "fleet", cmd_fleet },
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
