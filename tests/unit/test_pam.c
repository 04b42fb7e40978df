/*
 * test_pam.c - pam_soundcloud.so through libpamtest (and, where a test must
 * act between two PAM calls of one transaction, libpam's own calls, as a
 * login program makes them), against a sandbox started from C: paste and
 * listen logins, forged states, the map, an unreachable server, the timeout,
 * the session hand-off (same handle, and through the stage with the
 * transaction's nonce carried in the PAM environment as sshd carries it), the
 * environment it sets, the wipe of only what the session handed over, the
 * account check, option and config refusals, nothing printed on stdout; and
 * runas(), the switch to the user, with the application's SIGCHLD handling
 * and signal state in the way, and a child that never finishes.
 *
 * libpamtest needs libpam_wrapper preloaded, and the kiosk user comes from
 * nss_wrapper (our own uid, a home in the test directory), so main()
 * re-executes the binary with both preloaded when they are not yet.  All
 * service files are written before that: pam_wrapper copies them at start.
 */
#include "frontend.h"
#include "testutil.h"
#include "runas.h"

#include <dirent.h>
#include <limits.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/sysmacros.h>

#include <pty.h>

#include <libpamtest.h>
#include <security/pam_appl.h>

#define KIOSK "kiosk"
#define PROFILE "kiosk"
#define MAX_MSGS 8
#define MSG_LEN 8192
#define ENV_STAGE "SOUNDCLOUD_AUTH_STAGE"
#define NONCE_LEN 32

static char *dir;               /* TEST_PAM_DIR */
/*
 * The kiosk user's ids: ours, unless we are root, since no map may let a
 * SoundCloud account in as uid 0: then a spare uid, switched to for real.
 */
#define SPARE_ID 4242
#define KIOSK_UID ((unsigned)(geteuid() != 0 ? geteuid() : SPARE_ID))
#define KIOSK_GID ((unsigned)(geteuid() != 0 ? getegid() : SPARE_ID))
static struct tu_sandbox sb;
static char client_secret[33];
static int redirect_port;

/* ------------------------------------------------------------------------ */
/* Paths and files. */

static const char *
path(const char *rel)
{
	static char buf[8][PATH_MAX];
	static int i;

	i = (i + 1) % 8;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, rel);
	return buf[i];
}

static int
exists(const char *p)
{
	struct stat st;

	return lstat(p, &st) == 0;
}

static const char *
store_file(void)
{
	return path("home/.local/state/soundcloud-auth/" PROFILE ".user");
}

static const char *
stage_file(void)
{
	static char buf[PATH_MAX];

	snprintf(buf, sizeof(buf), "%s/stage/uid-%u.user", dir, KIOSK_UID);
	return buf;
}

/* Reads a whole (small) file into buf; returns its length, -1 if there is none. */
static ssize_t
slurp(const char *p, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	if ((fd = open(p, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	assert_true(n >= 0);
	buf[n] = '\0';
	return n;
}

/* The value of a "key value" line of a record file, or "" (the label, never a token). */
static void
record_field(const char *file, const char *key, char *out, size_t len)
{
	char text[16384], *line, *save = NULL;
	size_t klen = strlen(key);

	out[0] = '\0';
	if (slurp(file, text, sizeof(text)) < 0)
		return;
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save))
		if (strncmp(line, key, klen) == 0 && line[klen] == ' ')
			snprintf(out, len, "%s", line + klen + 1);
	scauth_wipe(text, sizeof(text));
}

/* The module's config: the sandbox (or a dead port), the client. */
static void
write_config(int dead_port)
{
	char text[8192], sbconf[4096];
	int fd;
	ssize_t n;

	fd = open(sb.config, O_RDONLY);
	assert_true(fd >= 0);
	n = read(fd, sbconf, sizeof(sbconf) - 1);
	close(fd);
	assert_true(n > 0);
	sbconf[n] = '\0';
	if (dead_port)
		snprintf(text, sizeof(text),
		    "authorize_url = https://127.0.0.1:%d/authorize\n"
		    "token_url = https://127.0.0.1:%d/oauth/token\n"
		    "signout_url = https://127.0.0.1:%d/sign-out\n"
		    "api_url = https://127.0.0.1:%d\nca_file = %s\n", dead_port, dead_port,
		    dead_port, dead_port, sb.ca);
	else
		snprintf(text, sizeof(text), "%s", sbconf);
	snprintf(text + strlen(text), sizeof(text) - strlen(text),
	    "client_id = pamtest\nclient_secret = %s\n"
	    "redirect_uri = http://127.0.0.1:%d/callback\n", client_secret, redirect_port);
	tu_write(path("conf"), text, 0600);
}

static void
write_map(const char *text)
{
	tu_write(path("map"), text, 0644);
}

static int
free_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int s, port;

	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s >= 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	close(s);
	return port;
}

/* ------------------------------------------------------------------------ */
/* The person at the kiosk: a conversation function. */

enum answer { ANSWER_REDIRECT, ANSWER_FORGED, ANSWER_TEXT };

struct person {
	enum answer answer;     /* paste mode */
	const char *text;       /* ANSWER_TEXT */
	int browse;             /* listen mode: start the browser on the URL */
	int forge_first;        /* ... after a forged request to the listener */
	pid_t browser;
	int forged_fd;          /* where the browser child reports the forged answer */
	char info[MAX_MSGS][MSG_LEN];
	int ninfo;
	char err[MAX_MSGS][MSG_LEN];
	int nerr;
	int nprompt;
	char prompt[MAX_MSGS][MSG_LEN];
	int nprompts;
	char screen[MSG_LEN];   /* the latest message with a URL: what the person reads */
	size_t longest;         /* bytes of the longest message */
};

/* Runs argv with stdout into out (NUL-terminated); returns the exit status. */
static int
capture(const char *const argv[], char *out, size_t outlen)
{
	int fds[2], status, i;
	size_t n = 0;
	ssize_t got;
	pid_t pid;

	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	if ((pid = fork()) == 0) {
		char *av[32];

		for (i = 0; i < 31 && argv[i] != NULL; i++)
			av[i] = strdup(argv[i]);
		av[i] = NULL;
		dup2(fds[1], 1);
		execvp(av[0], av);
		_exit(127);
	}
	close(fds[1]);
	while (n + 1 < outlen && (got = read(fds[0], out + n, outlen - n - 1)) > 0)
		n += (size_t)got;
	out[n] = '\0';
	close(fds[0]);
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Where the sandbox sends the browser after the authorize URL: code and state. */
static void
redirect_for(const char *url, char *loc, size_t len)
{
	const char *argv[] = { "curl", "-sS", "--noproxy", "*", "--cacert", sb.ca, "--max-time",
		"10", "-o", "/dev/null", "-w", "%{redirect_url}", url, NULL };

	assert_int_equal(capture(argv, loc, len), 0);
	assert_true(strncmp(loc, "http://127.0.0.1:", 17) == 0);
}

/* A forged callback to the listener; returns the HTTP status it got. */
static int
forged_request(void)
{
	struct sockaddr_in a;
	char req[256], resp[64];
	ssize_t n;
	int s, status = -1;

	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)redirect_port);
	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)) != 0)
		return -1;
	snprintf(req, sizeof(req), "GET /callback?code=forged&state=forged HTTP/1.1\r\n"
	    "Host: 127.0.0.1:%d\r\nConnection: close\r\n\r\n", redirect_port);
	if (write(s, req, strlen(req)) == (ssize_t)strlen(req) &&
	    (n = read(s, resp, sizeof(resp) - 1)) > 12) {
		resp[n] = '\0';
		sscanf(resp, "HTTP/1.%*d %d", &status);
	}
	close(s);
	return status;
}

/* The browser, in a child: it must not block the module, which waits for it. */
static void
start_browser(struct person *p, const char *url)
{
	int fds[2] = { -1, -1 };

	if (p->forge_first)
		assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	p->browser = fork();
	assert_true(p->browser >= 0);
	if (p->browser == 0) {
		if (fds[1] >= 0) {
			int st = forged_request();

			if (write(fds[1], &st, sizeof(st)) != sizeof(st))
				_exit(126);
		}
		setenv("SANDBOX_CA", sb.ca, 1);
		execl("tests/lib/browser", "browser", url, (char *)NULL);
		_exit(127);
	}
	if (fds[1] >= 0) {
		close(fds[1]);
		p->forged_fd = fds[0];
	}
}

/*
 * The URL of a screen text: from "https://" on, its lines joined up to the
 * first line that holds a space (the prompt's own line).
 */
static void
url_from(const char *text, char *url, size_t size)
{
	const char *s = strstr(text, "https://"), *nl;
	size_t o = 0;

	assert_non_null(s);
	for (; *s != '\0' && *s != ' ' && o + 1 < size; s++) {
		if (*s == '\n') {
			nl = strchr(s + 1, '\n');
			if (nl == NULL || memchr(s + 1, ' ', (size_t)(nl - s - 1)) != NULL ||
			    nl == s + 1)
				break;
			continue;
		}
		url[o++] = *s;
	}
	url[o] = '\0';
}

static int
person_conv(int n, const struct pam_message **msg, struct pam_response **resp, void *arg)
{
	struct person *p = arg;
	struct pam_response *r;
	char loc[4096], url[4096];
	int i;

	if ((r = calloc((size_t)n, sizeof(*r))) == NULL)
		return PAM_BUF_ERR;
	for (i = 0; i < n; i++) {
		/* LightDM passes at most 1024 bytes; the module promises 1000. */
		assert_true(strlen(msg[i]->msg) <= 1000);
		if (strlen(msg[i]->msg) > p->longest)
			p->longest = strlen(msg[i]->msg);
		switch (msg[i]->msg_style) {
		case PAM_TEXT_INFO:
			if (p->ninfo < MAX_MSGS)
				snprintf(p->info[p->ninfo++], MSG_LEN, "%s", msg[i]->msg);
			/* The URL comes in a message of its own, before the short prompt. */
			if (strstr(msg[i]->msg, "https://") != NULL)
				snprintf(p->screen, sizeof(p->screen), "%s", msg[i]->msg);
			break;
		case PAM_PROMPT_ECHO_ON:
			/* Listening: the URL comes with a prompt; Enter once the browser is off. */
			p->nprompt++;
			if (p->nprompts < MAX_MSGS)
				snprintf(p->prompt[p->nprompts++], MSG_LEN, "%s", msg[i]->msg);
			url_from(p->screen, url, sizeof(url));
			if (p->browse)
				start_browser(p, url);
			r[i].resp = strdup("");
			break;
		case PAM_ERROR_MSG:
			if (p->nerr < MAX_MSGS)
				snprintf(p->err[p->nerr++], MSG_LEN, "%s", msg[i]->msg);
			break;
		case PAM_PROMPT_ECHO_OFF:
			p->nprompt++;
			if (p->nprompts < MAX_MSGS)
				snprintf(p->prompt[p->nprompts++], MSG_LEN, "%s", msg[i]->msg);
			url_from(p->screen, url, sizeof(url));
			if (p->answer == ANSWER_TEXT)
				snprintf(loc, sizeof(loc), "%s", p->text);
			else
				redirect_for(url, loc, sizeof(loc));
			if (p->answer == ANSWER_FORGED) {
				char *st = strstr(loc, "state=");

				assert_non_null(st);
				memcpy(st + 6, "forged", 6);
			}
			r[i].resp = strdup(loc);
			scauth_wipe(loc, sizeof(loc));
			break;
		default:
			free(r);
			return PAM_CONV_ERR;
		}
	}
	*resp = r;
	return PAM_SUCCESS;
}

static int
browser_done(struct person *p)
{
	int status = -1;

	if (p->browser > 0)
		waitpid(p->browser, &status, 0);
	p->browser = 0;
	return status;
}

static int
has_msg(char m[][MSG_LEN], int n, const char *what)
{
	int i;

	for (i = 0; i < n; i++)
		if (strstr(m[i], what) != NULL)
			return 1;
	return 0;
}

/*
 * Runs the cases for user with the person answering; fails the test with the
 * case that went wrong.  Checks that nothing reached stdout meanwhile.
 */
static void
run_cases(const char *service, const char *user, struct person *p,
    struct pam_testcase *cases, size_t ncases)
{
	enum pamtest_err perr;
	const struct pam_testcase *bad;
	struct stat st;
	int saved, fd;

	fflush(stdout);
	saved = dup(1);
	fd = open(path("stdout"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(saved >= 0 && fd >= 0);
	dup2(fd, 1);
	perr = _pamtest_conv(service, user, person_conv, p, cases, ncases, NULL);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	close(fd);
	if (perr == PAMTEST_ERR_CASE) {
		bad = _pamtest_failed_case(cases, ncases);
		fail_msg("%s: operation %d returned %d (%s), expected %d; errors: %s", service,
		    bad->pam_operation, bad->op_rv, pam_strerror(NULL, bad->op_rv),
		    bad->expected_rv, p->nerr > 0 ? p->err[0] : "none");
	}
	assert_int_equal(perr, PAMTEST_ERR_OK);
	assert_int_equal(stat(path("stdout"), &st), 0);
	assert_int_equal(st.st_size, 0);
}

#define RUN(service, user, p, ...) do { \
		struct pam_testcase cases_[] = { __VA_ARGS__ }; \
		run_cases(service, user, p, cases_, ARRAY_LEN(cases_)); \
	} while (0)
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/*
 * One transaction driven call by call, as a login program drives it: the
 * test can look at the store, the stage and the PAM environment, or change
 * the map, between two calls of the same handle.
 */
struct txn {
	pam_handle_t *ph;
	struct pam_conv conv;
	const char *service;
};

static void
txn_start(struct txn *t, const char *service, const char *user, struct person *p)
{
	t->conv.conv = person_conv;
	t->conv.appdata_ptr = p;
	t->service = service;
	assert_int_equal(pam_start(service, user, &t->conv, &t->ph), PAM_SUCCESS);
}

/* One PAM call that must return want, and print nothing on stdout. */
static void
txn_op(struct txn *t, enum pamtest_ops op, int want)
{
	struct person *p = t->conv.appdata_ptr;
	struct stat st;
	int saved, fd, rv;

	fflush(stdout);
	saved = dup(1);
	fd = open(path("stdout"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(saved >= 0 && fd >= 0);
	dup2(fd, 1);
	switch (op) {
	case PAMTEST_AUTHENTICATE:
		rv = pam_authenticate(t->ph, 0);
		break;
	case PAMTEST_SETCRED:
		rv = pam_setcred(t->ph, PAM_ESTABLISH_CRED);
		break;
	case PAMTEST_ACCOUNT:
		rv = pam_acct_mgmt(t->ph, 0);
		break;
	case PAMTEST_OPEN_SESSION:
		rv = pam_open_session(t->ph, 0);
		break;
	case PAMTEST_CLOSE_SESSION:
		rv = pam_close_session(t->ph, 0);
		break;
	default:
		rv = -1;
		break;
	}
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	close(fd);
	if (rv != want)
		fail_msg("%s: operation %d returned %d (%s), expected %d; errors: %s", t->service,
		    op, rv, pam_strerror(t->ph, rv), want, p->nerr > 0 ? p->err[0] : "none");
	assert_int_equal(stat(path("stdout"), &st), 0);
	assert_int_equal(st.st_size, 0);
}

static void
txn_end(struct txn *t)
{
	assert_int_equal(pam_end(t->ph, PAM_SUCCESS), PAM_SUCCESS);
	t->ph = NULL;
}

/* The nonce this transaction's auth put into the PAM environment: 32 hex digits. */
static void
txn_nonce(struct txn *t, char nonce[NONCE_LEN + 1])
{
	const char *v = pam_getenv(t->ph, ENV_STAGE);
	size_t i;

	assert_non_null(v);
	assert_int_equal(strlen(v), NONCE_LEN);
	for (i = 0; i < NONCE_LEN; i++)
		assert_non_null(strchr("0123456789abcdef", v[i]));
	memcpy(nonce, v, NONCE_LEN + 1);
}

/* A new transaction that carries nonce in its PAM environment, as sshd's monitor does. */
static void
txn_start_with(struct txn *t, const char *service, struct person *p, const char *nonce)
{
	char env[sizeof(ENV_STAGE) + NONCE_LEN + 1];

	txn_start(t, service, KIOSK, p);
	snprintf(env, sizeof(env), "%s=%s", ENV_STAGE, nonce);
	assert_int_equal(pam_putenv(t->ph, env), PAM_SUCCESS);
}

/* ------------------------------------------------------------------------ */
/* Fixtures. */

static int
setup(void **state)
{
	const char *rm[] = { "rm", "-rf", path("home/.local"), path("stage"), NULL };
	char out[16];

	assert_int_equal(capture(rm, out, sizeof(out)), 0);
	write_config(0);
	write_map("* " KIOSK "\n");
	tu_sandbox_ctl(&sb, "POST", "/_sandbox/reset", "{}", NULL, 0);
	return 0;
}

static long
stat_count(const char *key)
{
	char json[65536];

	assert_int_equal(tu_sandbox_ctl(&sb, "GET", "/_sandbox/stats", NULL, json, sizeof(json)),
	    0);
	return tu_json_num(json, key);
}

/* ------------------------------------------------------------------------ */
/* Tests. */

static void
test_paste_whole_session(void **state)
{
	struct person p = { .answer = ANSWER_REDIRECT };
	struct txn t;
	struct stat st;
	char **env;
	int i, found = 0;

	(void)state;
	txn_start(&t, "paste", KIOSK, &p);
	txn_op(&t, PAMTEST_AUTHENTICATE, PAM_SUCCESS);
	txn_op(&t, PAMTEST_SETCRED, PAM_SUCCESS);
	txn_op(&t, PAMTEST_ACCOUNT, PAM_SUCCESS);
	txn_op(&t, PAMTEST_OPEN_SESSION, PAM_SUCCESS);
	assert_int_equal(p.nprompt, 1);
	assert_true(has_msg(p.info, p.ninfo, "Log in to SoundCloud on this or another "
	    "device:\nhttps://127.0.0.1:"));
	assert_true(has_msg(p.info, p.ninfo, "Then paste the address you are sent to (or the "
	    "code)."));
	assert_true(has_msg(p.prompt, p.nprompts, "Paste the address or code: "));
	/* The session's store: the user's, 0600 in a 0700 directory, and the profile set. */
	assert_int_equal(lstat(store_file(), &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_uid, KIOSK_UID);
	assert_int_equal(stat(path("home/.local/state/soundcloud-auth"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	/* The session's environment: the profile, and no stage nonce (it is spent). */
	env = pam_getenvlist(t.ph);
	for (i = 0; env != NULL && env[i] != NULL; i++) {
		if (strcmp(env[i], "SOUNDCLOUD_AUTH_PROFILE=" PROFILE) == 0)
			found = 1;
		assert_true(strncmp(env[i], ENV_STAGE "=", sizeof(ENV_STAGE)) != 0);
	}
	pamtest_free_env(env);
	assert_true(found);
	assert_false(exists(stage_file()));
	assert_int_equal(stat_count("authorization_code"), 1);

	/* The logout, on the handle of the login (as every login program does it): wipe. */
	txn_op(&t, PAMTEST_CLOSE_SESSION, PAM_SUCCESS);
	txn_end(&t);
	assert_false(exists(store_file()));
	assert_int_equal(stat_count("signout"), 1);
}

static void
test_listen(void **state)
{
	struct person p = { .browse = 1 };

	(void)state;
	RUN("listen", KIOSK, &p,
	    pam_test(PAMTEST_AUTHENTICATE, PAM_SUCCESS),
	    pam_test(PAMTEST_OPEN_SESSION, PAM_SUCCESS));
	assert_int_equal(browser_done(&p), 0);
	/*
	 * One message with the URL and the time left (what a greeter shows), then one short
	 * prompt, which sshd needs to show anything and LightDM's greeter to go on by itself.
	 */
	assert_int_equal(p.nprompt, 1);
	assert_true(has_msg(p.info, p.ninfo, "Press Enter here after logging in (waiting up to "));
	assert_true(has_msg(p.prompt, p.nprompts, "Press Enter after logging in: "));
	assert_true(strlen(p.prompt[0]) < 40);
	assert_true(exists(store_file()));
}

static void
test_listen_forged_state_first(void **state)
{
	struct person p = { .browse = 1, .forge_first = 1, .forged_fd = -1 };
	int forged = 0;

	(void)state;
	RUN("listen", KIOSK, &p, pam_test(PAMTEST_AUTHENTICATE, PAM_SUCCESS));
	assert_int_equal(browser_done(&p), 0);
	assert_int_equal(read(p.forged_fd, &forged, sizeof(forged)), (ssize_t)sizeof(forged));
	close(p.forged_fd);
	assert_true(forged >= 400 && forged < 500);
	assert_int_equal(stat_count("authorization_code"), 1);
}

static void
test_paste_forged_state(void **state)
{
	struct person p = { .answer = ANSWER_FORGED };

	(void)state;
	RUN("paste", KIOSK, &p, pam_test(PAMTEST_AUTHENTICATE, PAM_AUTH_ERR));
	assert_true(has_msg(p.err, p.nerr, "That address does not belong to this login."));
	assert_int_equal(stat_count("authorization_code"), 0);
	assert_false(exists(stage_file()));
}

static void
test_identity_outside_map(void **state)
{
	struct person p = { .answer = ANSWER_REDIRECT };

	(void)state;
	write_map("soundcloud:users:42 " KIOSK "\nnot-the-one " KIOSK "\n");
	RUN("paste", KIOSK, &p, pam_test(PAMTEST_AUTHENTICATE, PAM_AUTH_ERR));
	assert_true(has_msg(p.err, p.nerr, "This SoundCloud account (test-user) may not log in as " KIOSK));
	assert_false(exists(stage_file()));
}

static void
test_unreachable(void **state)
{
	struct person p = { .answer = ANSWER_TEXT, .text = "some-code" };

	(void)state;
	write_config(free_port());
	RUN("paste", KIOSK, &p, pam_test(PAMTEST_AUTHENTICATE, PAM_AUTHINFO_UNAVAIL));
	assert_true(has_msg(p.err, p.nerr, "SoundCloud cannot be reached"));
}

static void
test_timeout(void **state)
{
	struct person p = { .browse = 0 };
	time_t t0 = time(NULL);

	(void)state;
	RUN("timeout", KIOSK, &p, pam_test(PAMTEST_AUTHENTICATE, PAM_AUTH_ERR));
	assert_true(has_msg(p.err, p.nerr, "No SoundCloud login arrived within 1 seconds."));
	assert_true(time(NULL) - t0 < 30);
}

static void
test_qr(void **state)
{
	struct person p = { .answer = ANSWER_REDIRECT };
	struct winsize ws = { .ws_row = 100, .ws_col = 200 };
	struct txn t;
	char name[64];
	int m, sl, i, blocks = 0;

	(void)state;
	/* A terminal large enough for the code and the URL under it. */
	assert_int_equal(openpty(&m, &sl, name, NULL, &ws), 0);
	txn_start(&t, "qr", KIOSK, &p);
	assert_int_equal(pam_set_item(t.ph, PAM_TTY, name), PAM_SUCCESS);
	txn_op(&t, PAMTEST_AUTHENTICATE, PAM_SUCCESS);
	txn_end(&t);
	close(m);
	close(sl);
	assert_true(p.ninfo >= 2);
	for (i = 0; i < p.ninfo; i++)
		if (strstr(p.info[i], "\xe2\x96\x80") != NULL ||   /* U+2580 upper half */
		    strstr(p.info[i], "\xe2\x96\x84") != NULL ||   /* U+2584 lower half */
		    strstr(p.info[i], "\xe2\x96\x88") != NULL)     /* U+2588 full block */
			blocks++;
	assert_true(blocks >= 2);       /* a code of 5 KB, in messages of at most 1000 bytes */
	assert_true(has_msg(p.info, p.ninfo, "Scan the code, or open this address:"));

	/* An 80x24 console: the URL only, and the screen says why. */
	p = (struct person){ .answer = ANSWER_REDIRECT };
	txn_start(&t, "qr", KIOSK, &p);
	assert_int_equal(pam_set_item(t.ph, PAM_TTY, "tty63"), PAM_SUCCESS);
	txn_op(&t, PAMTEST_AUTHENTICATE, PAM_SUCCESS);
	txn_end(&t);
	assert_int_equal(p.ninfo, 1);     /* the URL's message, no code */
	assert_true(has_msg(p.info, p.ninfo, "no room for the QR code here"));

	/* A graphical greeter (LightDM sets the display): never a code. */
	p = (struct person){ .answer = ANSWER_REDIRECT };
	txn_start(&t, "qr", KIOSK, &p);
	assert_int_equal(pam_set_item(t.ph, PAM_TTY, ":0"), PAM_SUCCESS);
	txn_op(&t, PAMTEST_AUTHENTICATE, PAM_SUCCESS);
	txn_end(&t);
	assert_int_equal(p.ninfo, 1);
	assert_true(has_msg(p.info, p.ninfo, "Log in to SoundCloud on this or another"));
	assert_true(p.longest <= 1000);
}

/*
 * Auth in one process, account and session in another (sshd): the stage
 * carries the login, but only to the transaction that holds its nonce.
 */
static void
test_stage_between_transactions(void **state)
{
	struct person p = { .answer = ANSWER_REDIRECT };
	struct txn t;
	struct stat st;
	char nonce[NONCE_LEN + 1], wrong[NONCE_LEN + 1], label[128];
	char before[16384], after[16384];
	ssize_t n;

	(void)state;
	txn_start(&t, "paste", KIOSK, &p);
	txn_op(&t, PAMTEST_AUTHENTICATE, PAM_SUCCESS);
	txn_nonce(&t, nonce);
	txn_end(&t);
	assert_int_equal(lstat(stage_file(), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	record_field(stage_file(), "label", label, sizeof(label));
	assert_string_equal(label, nonce);
	assert_false(exists(store_file()));
	assert_true((n = slurp(stage_file(), before, sizeof(before))) > 0);

	/* Without the nonce (a password login of the same user, say): nothing, stage untouched. */
	txn_start(&t, "permit", KIOSK, &p);
	txn_op(&t, PAMTEST_ACCOUNT, PAM_SUCCESS);
	txn_op(&t, PAMTEST_OPEN_SESSION, PAM_SUCCESS);
	txn_op(&t, PAMTEST_CLOSE_SESSION, PAM_SUCCESS);
	txn_end(&t);
	RUN("paste", KIOSK, &p, pam_test(PAMTEST_OPEN_SESSION, PAM_PERM_DENIED));
	assert_false(exists(store_file()));
	assert_int_equal(slurp(stage_file(), after, sizeof(after)), n);
	assert_memory_equal(before, after, (size_t)n);

	/* With another transaction's nonce: the same. */
	memcpy(wrong, nonce, sizeof(wrong));
	wrong[7] = wrong[7] == 'a' ? 'b' : 'a';
	txn_start_with(&t, "permit", &p, wrong);
	txn_op(&t, PAMTEST_ACCOUNT, PAM_SUCCESS);
	txn_op(&t, PAMTEST_OPEN_SESSION, PAM_SUCCESS);
	assert_null(pam_getenv(t.ph, ENV_STAGE));
	txn_end(&t);
	assert_false(exists(store_file()));
	assert_int_equal(slurp(stage_file(), after, sizeof(after)), n);
	assert_memory_equal(before, after, (size_t)n);
	scauth_wipe(before, sizeof(before));
	scauth_wipe(after, sizeof(after));

	/* With its own nonce, as sshd brings it from the auth child: account, session, wipe. */
	txn_start_with(&t, "paste", &p, nonce);
	txn_op(&t, PAMTEST_ACCOUNT, PAM_SUCCESS);
	/* Account checks without consuming: sshd runs it in the auth child, the session not. */
	assert_true(exists(stage_file()));
	assert_non_null(pam_getenv(t.ph, ENV_STAGE));
	txn_op(&t, PAMTEST_OPEN_SESSION, PAM_SUCCESS);
	assert_false(exists(stage_file()));      /* taken by the session */
	assert_null(pam_getenv(t.ph, ENV_STAGE)); /* not for the user's session */
	assert_true(exists(store_file()));
	txn_op(&t, PAMTEST_CLOSE_SESSION, PAM_SUCCESS);
	txn_end(&t);
	assert_false(exists(store_file()));
	assert_int_equal(stat_count("signout"), 1);

	/* Taken once: the same nonce again finds nothing to hand over. */
	txn_start_with(&t, "permit", &p, nonce);
	txn_op(&t, PAMTEST_OPEN_SESSION, PAM_SUCCESS);
	txn_end(&t);
	assert_false(exists(store_file()));
}

/* The map is read again by account; an account it refuses leaves nothing parked. */
static void
test_account_follows_map(void **state)
{
	struct person p = { .answer = ANSWER_REDIRECT };
	struct txn t;
	char nonce[NONCE_LEN + 1];

	(void)state;
	RUN("paste", KIOSK, &p,
	    pam_test(PAMTEST_AUTHENTICATE, PAM_SUCCESS),
	    pam_test(PAMTEST_ACCOUNT, PAM_SUCCESS));
	/* The account check left the parked copy for a session (of another process). */
	assert_true(exists(stage_file()));
	assert_int_equal(stat_count("signout"), 0);
	write_map("test-user " KIOSK "\n");
	/* No session came for it: the user's next login signs it out. */
	RUN("paste", KIOSK, &p,
	    pam_test(PAMTEST_AUTHENTICATE, PAM_SUCCESS),
	    pam_test(PAMTEST_ACCOUNT, PAM_SUCCESS));
	assert_int_equal(stat_count("signout"), 1);

	/* The map changes between auth and account: refused, and no session gets the login. */
	write_map("* " KIOSK "\n");
	txn_start(&t, "paste", KIOSK, &p);
	txn_op(&t, PAMTEST_AUTHENTICATE, PAM_SUCCESS);
	assert_true(exists(stage_file()));
	write_map("other-user " KIOSK "\n");
	txn_op(&t, PAMTEST_ACCOUNT, PAM_PERM_DENIED);
	assert_true(has_msg(p.err, p.nerr, "may not log in as " KIOSK));
	assert_false(exists(stage_file()));
	/* The one before (superseded) and the refused one are signed out. */
	assert_int_equal(stat_count("signout"), 3);
	txn_op(&t, PAMTEST_OPEN_SESSION, PAM_PERM_DENIED);      /* our PAM_IGNORE, alone */
	txn_end(&t);
	assert_false(exists(store_file()));

	/* The same across processes: the refusal erases the parked login. */
	write_map("* " KIOSK "\n");
	txn_start(&t, "paste", KIOSK, &p);
	txn_op(&t, PAMTEST_AUTHENTICATE, PAM_SUCCESS);
	txn_nonce(&t, nonce);
	txn_end(&t);
	assert_true(exists(stage_file()));
	write_map("other-user " KIOSK "\n");
	txn_start_with(&t, "paste", &p, nonce);
	txn_op(&t, PAMTEST_ACCOUNT, PAM_PERM_DENIED);
	txn_end(&t);
	assert_false(exists(stage_file()));
	assert_false(exists(store_file()));
	assert_int_equal(stat_count("signout"), 4);
}

static void
test_no_login_defers(void **state)
{
	struct person p = { .answer = ANSWER_REDIRECT };

	(void)state;
	RUN("permit", KIOSK, &p,
	    pam_test(PAMTEST_ACCOUNT, PAM_SUCCESS),
	    pam_test(PAMTEST_OPEN_SESSION, PAM_SUCCESS),
	    pam_test(PAMTEST_CLOSE_SESSION, PAM_SUCCESS));
	assert_false(exists(store_file()));
	/* Alone, PAM_IGNORE is no success. */
	RUN("alone", KIOSK, &p, pam_test(PAMTEST_ACCOUNT, PAM_PERM_DENIED));
}

static void
test_close_without_wipe_keeps(void **state)
{
	struct person p = { .answer = ANSWER_REDIRECT };

	(void)state;
	RUN("nowipe", KIOSK, &p,
	    pam_test(PAMTEST_AUTHENTICATE, PAM_SUCCESS),
	    pam_test(PAMTEST_OPEN_SESSION, PAM_SUCCESS),
	    pam_test(PAMTEST_CLOSE_SESSION, PAM_SUCCESS));
	assert_true(exists(store_file()));
	assert_int_equal(stat_count("signout"), 0);
	/* A close of a session that the module did not open is not its business. */
	RUN("nowipe", KIOSK, &p, pam_test(PAMTEST_CLOSE_SESSION, PAM_PERM_DENIED));
}

/*
 * wipe signs out only what this session handed over: not the tokens of a
 * password login's user (their own CLI login), not with a close on another
 * handle.
 */
static void
test_wipe_only_own_session(void **state)
{
	struct person p = { .answer = ANSWER_REDIRECT };
	struct txn t;

	(void)state;
	/* The user's own tokens, from an earlier session that kept them. */
	RUN("nowipe", KIOSK, &p,
	    pam_test(PAMTEST_AUTHENTICATE, PAM_SUCCESS),
	    pam_test(PAMTEST_OPEN_SESSION, PAM_SUCCESS));
	assert_true(exists(store_file()));
	/* A password login (pam_permit here) in the mixed stack, then its logout. */
	txn_start(&t, "permit", KIOSK, &p);
	txn_op(&t, PAMTEST_ACCOUNT, PAM_SUCCESS);
	txn_op(&t, PAMTEST_OPEN_SESSION, PAM_SUCCESS);
	txn_op(&t, PAMTEST_CLOSE_SESSION, PAM_SUCCESS);
	txn_end(&t);
	/* A close on a handle that opened nothing (the module alone ignores it). */
	RUN("paste", KIOSK, &p, pam_test(PAMTEST_CLOSE_SESSION, PAM_PERM_DENIED));
	assert_true(exists(store_file()));
	assert_int_equal(stat_count("signout"), 0);
}

/*
 * Two sessions of one local user (two people as guest): the second replaces
 * the store; the first one's logout must not sign out the second's tokens.
 */
static void
test_wipe_two_sessions(void **state)
{
	struct person pa = { .answer = ANSWER_REDIRECT }, pb = { .answer = ANSWER_REDIRECT };
	struct txn a, b;
	char na[NONCE_LEN + 1], nb[NONCE_LEN + 1], label[128];

	(void)state;
	txn_start(&a, "paste", KIOSK, &pa);
	txn_op(&a, PAMTEST_AUTHENTICATE, PAM_SUCCESS);
	txn_nonce(&a, na);
	txn_op(&a, PAMTEST_OPEN_SESSION, PAM_SUCCESS);
	record_field(store_file(), "label", label, sizeof(label));
	assert_string_equal(label, na);
	txn_start(&b, "paste", KIOSK, &pb);
	txn_op(&b, PAMTEST_AUTHENTICATE, PAM_SUCCESS);
	txn_nonce(&b, nb);
	txn_op(&b, PAMTEST_OPEN_SESSION, PAM_SUCCESS);
	record_field(store_file(), "label", label, sizeof(label));
	assert_string_equal(label, nb);
	/* A logs out: B's tokens stay. */
	txn_op(&a, PAMTEST_CLOSE_SESSION, PAM_SUCCESS);
	txn_end(&a);
	assert_true(exists(store_file()));
	assert_int_equal(stat_count("signout"), 0);
	/* B logs out: gone. */
	txn_op(&b, PAMTEST_CLOSE_SESSION, PAM_SUCCESS);
	txn_end(&b);
	assert_false(exists(store_file()));
	assert_int_equal(stat_count("signout"), 1);
}

static void
test_refusals(void **state)
{
	struct person p = { .answer = ANSWER_REDIRECT };

	(void)state;
	RUN("badopt", KIOSK, &p, pam_test(PAMTEST_AUTHENTICATE, PAM_SERVICE_ERR));
	RUN("misplaced", KIOSK, &p, pam_test(PAMTEST_AUTHENTICATE, PAM_SERVICE_ERR));
	RUN("paste", "no-such-user", &p, pam_test(PAMTEST_AUTHENTICATE, PAM_USER_UNKNOWN));
	assert_int_equal(chmod(path("conf"), 0620), 0);
	RUN("paste", KIOSK, &p, pam_test(PAMTEST_AUTHENTICATE, PAM_SERVICE_ERR));
	assert_int_equal(chmod(path("conf"), 0600), 0);
	assert_int_equal(chmod(path("map"), 0666), 0);
	RUN("paste", KIOSK, &p, pam_test(PAMTEST_AUTHENTICATE, PAM_SERVICE_ERR));
	/* A rule to uid 0, under any name: the map is refused. */
	write_map("* " KIOSK "\ntest-user toor\n");
	RUN("paste", KIOSK, &p, pam_test(PAMTEST_AUTHENTICATE, PAM_SERVICE_ERR));
	assert_int_equal(unlink(path("map")), 0);
	RUN("paste", KIOSK, &p, pam_test(PAMTEST_AUTHENTICATE, PAM_AUTH_ERR));
	assert_int_equal(p.nprompt, 0);
	assert_int_equal(stat_count("authorize"), 0);
}

/* ------------------------------------------------------------------------ */
/* runas(): the switch to the user. */

static int
report_ids(void *arg, char *msg, size_t msglen)
{
	uid_t r, e, s;

	snprintf(msg, msglen, "from pid %d", (int)getpid());
	if (getresuid(&r, &e, &s) != 0 || r != e || e != s)
		return -100;
	return (int)e;
}

static int
vanish(void *arg, char *msg, size_t msglen)
{
	_exit(3);
}

/* Reports what of the application's signal state and traceability reached the child. */
static int
report_isolation(void *arg, char *msg, size_t msglen)
{
	struct sigaction sa;
	sigset_t mask;
	int bad = 0, sig = 0;

	if (sigaction(SIGUSR1, NULL, &sa) != 0 || sa.sa_handler != SIG_DFL)
		bad |= 1;
	if (sigaction(SIGTERM, NULL, &sa) != 0 || sa.sa_handler != SIG_DFL)
		bad |= 2;
	if (sigprocmask(SIG_SETMASK, NULL, &mask) != 0 || sigismember(&mask, SIGUSR2) ||
	    sigismember(&mask, SIGINT))
		bad |= 4;
	if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0)
		bad |= 8;
	if (prctl(PR_GET_PDEATHSIG, &sig, 0, 0, 0) != 0 || sig != SIGKILL)
		bad |= 16;
	snprintf(msg, msglen, "isolation %d", bad);
	return bad;
}

/* Waits for ever: a sign-out that never ends. */
static int
stall(void *arg, char *msg, size_t msglen)
{
	for (;;)
		pause();
	return 0;
}

/* The children of this process, as /proc shows them (zombies included). */
static int
count_children(void)
{
	char p[300], line[256];
	struct dirent *d;
	DIR *proc = opendir("/proc");
	FILE *f;
	int n = 0, ppid;

	assert_non_null(proc);
	while ((d = readdir(proc)) != NULL) {
		if (d->d_name[0] < '1' || d->d_name[0] > '9')
			continue;
		snprintf(p, sizeof(p), "/proc/%s/status", d->d_name);
		if ((f = fopen(p, "re")) == NULL)
			continue;
		while (fgets(line, sizeof(line), f) != NULL)
			if (sscanf(line, "PPid: %d", &ppid) == 1 && ppid == (int)getpid())
				n++;
		fclose(f);
	}
	closedir(proc);
	return n;
}

static int reaped;

static void
on_usr1(int sig)
{
}

static void
reap_all(int sig)
{
	while (waitpid(-1, NULL, WNOHANG) > 0)
		reaped++;
}

static void
test_runas_self(void **state)
{
	char msg[RUNAS_MSGLEN], want[64];

	(void)state;
	assert_int_equal(runas(KIOSK, geteuid(), getegid(), 30, report_ids, NULL, msg,
	    sizeof(msg)), (int)geteuid());
	/* In-process: the same pid. */
	snprintf(want, sizeof(want), "from pid %d", (int)getpid());
	assert_string_equal(msg, want);
}

static void
test_runas_switch(void **state)
{
	struct sigaction sa, now;
	char msg[RUNAS_MSGLEN], self[64];

	(void)state;
	if (geteuid() != 0) {
		assert_int_equal(runas("nobody", 65534, 65534, 30, report_ids, NULL, msg,
		    sizeof(msg)), SCAUTH_ESYSTEM);
		assert_non_null(strstr(msg, "without root"));
		return;
	}
	/* An application that reaps every child in its handler must not steal ours. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = reap_all;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGCHLD, &sa, NULL), 0);
	assert_int_equal(runas("nobody", 65534, 65534, 30, report_ids, NULL, msg, sizeof(msg)),
	    65534);
	snprintf(self, sizeof(self), "from pid %d", (int)getpid());
	assert_string_not_equal(msg, self);
	assert_int_equal(sigaction(SIGCHLD, NULL, &now), 0);
	assert_ptr_equal(now.sa_handler, reap_all);
	/* ... nor one that ignores children (they would be reaped by the kernel). */
	sa.sa_handler = SIG_IGN;
	assert_int_equal(sigaction(SIGCHLD, &sa, NULL), 0);
	assert_int_equal(runas("nobody", 65534, 65534, 30, report_ids, NULL, msg, sizeof(msg)),
	    65534);
	assert_int_equal(sigaction(SIGCHLD, NULL, &now), 0);
	assert_ptr_equal(now.sa_handler, SIG_IGN);
	/* A child that leaves without a result is an error, not a success. */
	assert_int_equal(runas("nobody", 65534, 65534, 30, vanish, NULL, msg, sizeof(msg)),
	    SCAUTH_ESYSTEM);
	assert_non_null(strstr(msg, "gave no result"));
	sa.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &sa, NULL);
}

/*
 * The child as the user starts without the application's handlers and
 * blocked signals, may not be traced or dumped by that user, and dies with
 * its parent.
 */
static void
test_runas_isolated(void **state)
{
	struct sigaction sa, old_usr1, old_term;
	sigset_t block, old_mask;
	char msg[RUNAS_MSGLEN];

	(void)state;
	if (geteuid() != 0)
		return;         /* without root runas() never forks (see test_runas_switch) */
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_usr1;
	assert_int_equal(sigaction(SIGUSR1, &sa, &old_usr1), 0);
	sa.sa_handler = SIG_IGN;
	assert_int_equal(sigaction(SIGTERM, &sa, &old_term), 0);
	sigemptyset(&block);
	sigaddset(&block, SIGUSR2);
	sigaddset(&block, SIGINT);
	assert_int_equal(sigprocmask(SIG_BLOCK, &block, &old_mask), 0);
	assert_int_equal(runas("nobody", 65534, 65534, 30, report_isolation, NULL, msg,
	    sizeof(msg)), 0);
	assert_string_equal(msg, "isolation 0");
	sigprocmask(SIG_SETMASK, &old_mask, NULL);
	sigaction(SIGUSR1, &old_usr1, NULL);
	sigaction(SIGTERM, &old_term, NULL);
}

static pid_t reaped_pids[16];

static void
reap_and_note(int sig)
{
	int e = errno;
	pid_t p;

	while ((p = waitpid(-1, NULL, WNOHANG)) > 0) {
		if (reaped < (int)(sizeof(reaped_pids) / sizeof(reaped_pids[0])))
			reaped_pids[reaped] = p;
		reaped++;
	}
	errno = e;
}

/* The state letter of a process in /proc (R, S, Z ...), or 0 when it is gone. */
static char
proc_state(pid_t pid)
{
	char p[64], buf[512], *rp;
	ssize_t n;
	int fd;

	snprintf(p, sizeof(p), "/proc/%d/stat", (int)pid);
	if ((fd = open(p, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return (rp = strrchr(buf, ')')) != NULL && rp[1] == ' ' ? rp[2] : 0;
}

/* 1 if the application's process catches SIGCHLD, as /proc shows it to anyone. */
static int
catches_sigchld(pid_t pid)
{
	char p[64], line[256];
	unsigned long long mask = 0;
	FILE *f;
	int found = 0;

	snprintf(p, sizeof(p), "/proc/%d/status", (int)pid);
	if ((f = fopen(p, "re")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "SigCgt: %llx", &mask) == 1)
			found = 1;
	fclose(f);
	return found ? (int)((mask >> (SIGCHLD - 1)) & 1) : -1;
}

/*
 * As the user, while the application's own child ends: reports whether the
 * application still caught SIGCHLD, and whether its child was reaped (gone
 * from /proc) rather than left a zombie.
 */
static int
watch_app_child(void *arg, char *msg, size_t msglen)
{
	pid_t app_child = *(pid_t *)arg;
	int i, caught = catches_sigchld(getppid()), bad = 0;
	char st = 0;

	/* Until the application's child has ended (bounded), then until it is reaped. */
	for (i = 0; i < 1000 && (st = proc_state(app_child)) != 0 && st != 'Z'; i++)
		usleep(10000);
	for (i = 0; i < 300 && (st = proc_state(app_child)) == 'Z'; i++)
		usleep(10000);
	if (caught != 1)
		bad |= 1;
	if (st != 0)
		bad |= 2;
	snprintf(msg, msglen, "sigchld caught %d, app child state %c", caught, st ? st : '-');
	return bad;
}

/*
 * An application with its own reaper keeps it while the work as the user
 * runs: a child of its own that ends meanwhile is reaped by its handler, not
 * left a zombie because SIGCHLD was switched to the default.
 */
static void
test_runas_keeps_sigchld(void **state)
{
	struct sigaction sa, old, now;
	char msg[RUNAS_MSGLEN];
	pid_t app_child;
	int i, found = 0;

	(void)state;
	if (geteuid() != 0)
		return;         /* without root runas() never forks */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = reap_and_note;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	assert_int_equal(sigaction(SIGCHLD, &sa, &old), 0);
	reaped = 0;
	if ((app_child = fork()) == 0) {
		usleep(200000);
		_exit(0);
	}
	assert_true(app_child > 0);
	assert_int_equal(runas("nobody", 65534, 65534, 30, watch_app_child, &app_child, msg,
	    sizeof(msg)), 0);
	assert_string_equal(msg, "sigchld caught 1, app child state -");
	/* The handler reaped it: nothing left to wait for. */
	assert_int_equal(waitpid(app_child, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
	for (i = 0; i < reaped && i < (int)(sizeof(reaped_pids) / sizeof(reaped_pids[0])); i++)
		found |= reaped_pids[i] == app_child;
	assert_true(found);
	assert_int_equal(sigaction(SIGCHLD, NULL, &now), 0);
	assert_ptr_equal(now.sa_handler, reap_and_note);
	sigaction(SIGCHLD, &old, NULL);
}

/* What the application holds open, by identity (a descriptor number may be reused). */
struct app_fds {
	struct stat held[2];
};

/*
 * As the user: counts the descriptors that are one of the application's
 * files, and the pipes; stdin and stdout must be /dev/null.
 */
static int
report_fds(void *arg, char *msg, size_t msglen)
{
	const struct app_fds *app = arg;
	struct stat st;
	int fd, i, inherited = 0, fifos = 0, null_std = 0;

	for (fd = 0; fd < 2; fd++)
		if (fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 &&
		    minor(st.st_rdev) == 3)
			null_std++;
	for (fd = 3; fd < 4096; fd++) {
		if (fstat(fd, &st) != 0)
			continue;
		if (S_ISFIFO(st.st_mode))
			fifos++;
		for (i = 0; i < 2; i++)
			if (st.st_dev == app->held[i].st_dev && st.st_ino == app->held[i].st_ino)
				inherited++;
	}
	snprintf(msg, msglen, "%d inherited, %d pipe, %d of stdin/stdout on /dev/null",
	    inherited, fifos, null_std);
	return 0;
}

/*
 * The application's descriptors (a root-only file, a socket, at low and high
 * numbers) do not reach the child that becomes the user: only the result
 * pipe does.
 */
static void
test_runas_closes_fds(void **state)
{
	struct app_fds app;
	char msg[RUNAS_MSGLEN];
	int secret, sock, high;

	(void)state;
	if (geteuid() != 0)
		return;         /* without root runas() never forks */
	assert_true((secret = open(path("root-only"), O_RDWR | O_CREAT | O_TRUNC, 0600)) >= 0);
	assert_true((sock = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	assert_true((high = fcntl(secret, F_DUPFD, 1000)) >= 1000);
	assert_int_equal(fstat(secret, &app.held[0]), 0);
	assert_int_equal(fstat(sock, &app.held[1]), 0);
	assert_int_equal(runas("nobody", 65534, 65534, 30, report_fds, &app, msg, sizeof(msg)),
	    0);
	assert_string_equal(msg, "0 inherited, 1 pipe, 2 of stdin/stdout on /dev/null");
	close(high);
	close(sock);
	close(secret);
	unlink(path("root-only"));
}

/* A child that never finishes is killed at the deadline and reaped; the call fails. */
static void
test_runas_deadline(void **state)
{
	char msg[RUNAS_MSGLEN];
	time_t t0;
	int before;

	(void)state;
	if (geteuid() != 0)
		return;         /* as above */
	before = count_children();
	t0 = time(NULL);
	assert_int_equal(runas("nobody", 65534, 65534, 1, stall, NULL, msg, sizeof(msg)),
	    SCAUTH_ETIMEOUT);
	assert_non_null(strstr(msg, "did not finish within 1 seconds"));
	assert_true(time(NULL) - t0 < 20);
	/* It is gone: killed and reaped, not left a zombie. */
	assert_int_equal(count_children(), before);
}

/* ------------------------------------------------------------------------ */
/* Set-up of the whole run. */

/* Finds the directory of a loaded library whose file name contains name. */
static int
loaded_lib(const char *name, char *out, size_t len)
{
	char line[PATH_MAX + 128], *p;
	FILE *f = fopen("/proc/self/maps", "r");
	int found = 0;

	if (f == NULL)
		return 0;
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		if ((p = strchr(line, '/')) == NULL || strstr(p, name) == NULL)
			continue;
		p[strcspn(p, "\n")] = '\0';
		snprintf(out, len, "%s", p);
		found = 1;
	}
	fclose(f);
	return found;
}

static void
find_wrapper(const char *libpam, const char *name, char *out, size_t len)
{
	const char *slash = strrchr(libpam, '/');
	int dlen = slash != NULL ? (int)(slash - libpam) : 0;

	snprintf(out, len, "%.*s/%s", dlen, libpam, name);
	if (access(out, R_OK) != 0) {
		fprintf(stderr, "test_pam: %s not found next to libpam (install %s)\n", out,
		    strstr(name, "nss") ? "libnss-wrapper" : "libpam-wrapper");
		exit(1);
	}
}

static void
service(const char *name, const char *text)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/services/%s", dir, name);
	tu_write(p, text, 0644);
}

/* Writes everything pam_wrapper and nss_wrapper read at start, then re-executes. */
static void
reexec_wrapped(void)
{
	char libpam[PATH_MAX], pamw[PATH_MAX], nssw[PATH_MAX], asan[PATH_MAX];
	char preload[4 * PATH_MAX], mod[PATH_MAX], permit[PATH_MAX], exe[PATH_MAX];
	char args[3 * PATH_MAX], text[16 * PATH_MAX];
	char *d = tu_tmpdir();
	ssize_t n;

	dir = d;
	if (!loaded_lib("libpam.so", libpam, sizeof(libpam))) {
		fprintf(stderr, "test_pam: libpam is not loaded?\n");
		exit(1);
	}
	find_wrapper(libpam, "libpam_wrapper.so", pamw, sizeof(pamw));
	find_wrapper(libpam, "libnss_wrapper.so", nssw, sizeof(nssw));
	find_wrapper(libpam, "security/pam_permit.so", permit, sizeof(permit));
	preload[0] = '\0';
	if (loaded_lib("libasan.so", asan, sizeof(asan)))
		snprintf(preload, sizeof(preload), "%s:", asan);
	snprintf(preload + strlen(preload), sizeof(preload) - strlen(preload), "%s:%s", pamw,
	    nssw);

	/* The module next to this binary's build directory: BUILD/tests/test_pam. */
	if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) < 0)
		exit(1);
	exe[n] = '\0';
	snprintf(mod, sizeof(mod), "%s", exe);
	*strrchr(mod, '/') = '\0';
	*strrchr(mod, '/') = '\0';
	snprintf(mod + strlen(mod), sizeof(mod) - strlen(mod), "/pam_soundcloud.so");

	tu_mkdir(path("services"), 0755);
	tu_mkdir(path("home"), 0700);
	if (geteuid() == 0 && (chown(path("home"), KIOSK_UID, KIOSK_GID) != 0 ||
	    chmod(dir, 0755) != 0)) {
		perror("test_pam: the kiosk's home");
		exit(1);
	}
	tu_mkdir(path("roothome"), 0700);
	snprintf(text, sizeof(text), KIOSK ":x:%u:%u:Kiosk:%s:/bin/sh\n"
	    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
	    KIOSK_UID, KIOSK_GID, path("home"));
	if (geteuid() == 0)
		snprintf(text + strlen(text), sizeof(text) - strlen(text),
		    "root:x:0:0:root:%s:/bin/sh\n", path("roothome"));
	/* Another name of uid 0, which no map rule may name either. */
	snprintf(text + strlen(text), sizeof(text) - strlen(text),
	    "toor:x:0:0:root:/nonexistent:/bin/sh\n");
	tu_write(path("passwd"), text, 0644);
	snprintf(text, sizeof(text), "kiosk:x:%u:\nnogroup:x:65534:\n", KIOSK_GID);
	tu_write(path("group"), text, 0644);

	snprintf(args, sizeof(args), "config=%s stagedir=%s", path("conf"), path("stage"));
#define LINE(kind, extra) kind " required %s %s " extra "\n"
	snprintf(text, sizeof(text),
	    LINE("auth", "map=%s mode=paste profile=" PROFILE)
	    LINE("account", "map=%s")
	    LINE("session", "profile=" PROFILE " wipe"),
	    mod, args, path("map"), mod, args, path("map"), mod, args);
	service("paste", text);
	snprintf(text, sizeof(text),
	    LINE("auth", "map=%s mode=listen timeout=30")
	    LINE("session", "profile=" PROFILE),
	    mod, args, path("map"), mod, args);
	service("listen", text);
	snprintf(text, sizeof(text), LINE("auth", "map=%s timeout=1"), mod, args, path("map"));
	service("timeout", text);
	snprintf(text, sizeof(text), LINE("auth", "map=%s mode=paste qr"), mod, args, path("map"));
	service("qr", text);
	snprintf(text, sizeof(text), LINE("auth", "map=%s colour=blue"), mod, args, path("map"));
	service("badopt", text);
	snprintf(text, sizeof(text), LINE("auth", "map=%s wipe"), mod, args, path("map"));
	service("misplaced", text);
	snprintf(text, sizeof(text),
	    "account required %s\n" LINE("account", "map=%s")
	    "session required %s\n" LINE("session", "profile=" PROFILE " wipe"),
	    permit, mod, args, path("map"), permit, mod, args);
	service("permit", text);
	snprintf(text, sizeof(text), LINE("account", "map=%s"), mod, args, path("map"));
	service("alone", text);
	snprintf(text, sizeof(text),
	    LINE("auth", "map=%s mode=paste profile=" PROFILE)
	    LINE("session", "profile=" PROFILE),
	    mod, args, path("map"), mod, args);
	service("nowipe", text);
#undef LINE

	setenv("LD_PRELOAD", preload, 1);
	setenv("PAM_WRAPPER", "1", 1);
	setenv("PAM_WRAPPER_SERVICE_DIR", path("services"), 1);
	/* Sanitizers refuse RTLD_DEEPBIND; pam_wrapper 1.1.4 reads the second name. */
	setenv("PAM_WRAPPER_DISABLE_DEEPBIND", "1", 1);
	setenv("UID_WRAPPER_DISABLE_DEEPBIND", "1", 1);
	setenv("NSS_WRAPPER_DISABLE_DEEPBIND", "1", 1);
	setenv("NSS_WRAPPER_PASSWD", path("passwd"), 1);
	setenv("NSS_WRAPPER_GROUP", path("group"), 1);
	setenv("TEST_PAM_DIR", dir, 1);
	execl("/proc/self/exe", exe, (char *)NULL);
	perror("test_pam: exec");
	exit(1);
}

static int
group_setup(void **state)
{
	char json[512], rnd[16];
	int fd, i;

	fd = open("/dev/urandom", O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, rnd, sizeof(rnd)), (ssize_t)sizeof(rnd));
	close(fd);
	for (i = 0; i < 16; i++)
		snprintf(client_secret + 2 * i, 3, "%02x", (unsigned char)rnd[i]);
	redirect_port = free_port();
	tu_sandbox_start(&sb);
	/* The kiosk user's sign-out at logout reads the CA. */
	if (geteuid() == 0) {
		assert_int_equal(chmod(sb.dir, 0755), 0);
		assert_int_equal(chmod(sb.ca, 0644), 0);
	}
	snprintf(json, sizeof(json), "{\"client_id\":\"pamtest\",\"client_secret\":\"%s\","
	    "\"redirect_uris\":[\"http://127.0.0.1:%d/callback\"]}", client_secret,
	    redirect_port);
	assert_int_equal(tu_sandbox_ctl(&sb, "POST", "/_sandbox/clients", json, NULL, 0), 0);
	return 0;
}

static int
group_teardown(void **state)
{
	tu_sandbox_stop(&sb);
	tu_rmrf(dir);
	return 0;
}

int
main(void)
{
	const char *wrapped = getenv("PAM_WRAPPER");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_paste_whole_session, setup),
		cmocka_unit_test_setup(test_listen, setup),
		cmocka_unit_test_setup(test_listen_forged_state_first, setup),
		cmocka_unit_test_setup(test_paste_forged_state, setup),
		cmocka_unit_test_setup(test_identity_outside_map, setup),
		cmocka_unit_test_setup(test_unreachable, setup),
		cmocka_unit_test_setup(test_timeout, setup),
		cmocka_unit_test_setup(test_qr, setup),
		cmocka_unit_test_setup(test_stage_between_transactions, setup),
		cmocka_unit_test_setup(test_account_follows_map, setup),
		cmocka_unit_test_setup(test_no_login_defers, setup),
		cmocka_unit_test_setup(test_close_without_wipe_keeps, setup),
		cmocka_unit_test_setup(test_wipe_only_own_session, setup),
		cmocka_unit_test_setup(test_wipe_two_sessions, setup),
		cmocka_unit_test_setup(test_refusals, setup),
		cmocka_unit_test(test_runas_self),
		cmocka_unit_test(test_runas_switch),
		cmocka_unit_test(test_runas_isolated),
		cmocka_unit_test(test_runas_deadline),
		cmocka_unit_test(test_runas_keeps_sigchld),
		cmocka_unit_test(test_runas_closes_fds),
	};

	if (wrapped == NULL || strcmp(wrapped, "1") != 0 || getenv("TEST_PAM_DIR") == NULL)
		reexec_wrapped();
	dir = getenv("TEST_PAM_DIR");
	/* The wrappers are loaded now; the programs we start (node, curl) need none of them. */
	unsetenv("LD_PRELOAD");
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
