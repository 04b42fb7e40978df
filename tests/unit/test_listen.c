/*
 * test_listen.c - the login flow of lib/login.c and lib/listen.c through
 * the public API: the authorize URL, a real listener on a free loopback port
 * with a forked child playing the browser (forged, stray, malformed, silent
 * and flooding clients before the real redirect), paste, and whole logins
 * against the sandbox.  The child writes each answer it got to a pipe; the
 * parent asserts on them after the wait.  Codes never reach the output.
 */
#include "testutil.h"
#include "internal.h"
#include "login.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>

/* lib/listen.c: connections read at once, and how long one may take. */
#define CONN_MAX 32
#define CONN_MS 5000

#define CODE "the-code_0123456789.~"

struct opts {
	const char *issuer;
	const char *origin;     /* scheme://host before ":port"; NULL: http://127.0.0.1 */
	const char *path;       /* NULL: /callback */
	int no_listen;
	const char *scope;
	const char *authorize_url;
};

struct browser {
	pid_t pid;
	int fd;
	char *answers;
	size_t len;
	size_t pos;
};

struct fixture {
	const struct opts *o;
	char *home;
	int port;
	char redirect[256];
	scauth_ctx *ctx;
	scauth_login *lg;
	char state[STATE_LEN + 1];
	char trace[32768];
	size_t tracelen;
	struct tu_sandbox sb;
	/* What a test that fails half-way leaves for teardown to end and free. */
	struct browser br;      /* a browser (fd -1 when none), maybe with a process group */
	char *real;             /* the real redirect's request */
	struct listen_stats st; /* what the listener did (login_listen_tune()) */
};

static void
on_trace(void *arg, const char *line)
{
	struct fixture *f = arg;
	size_t n = strlen(line);

	if (f->tracelen + n + 2 < sizeof(f->trace)) {
		memcpy(f->trace + f->tracelen, line, n);
		f->tracelen += n;
		f->trace[f->tracelen++] = '\n';
		f->trace[f->tracelen] = '\0';
	}
}

static int
free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

/* Copies the value of key in the authorize URL's query into buf. */
static int
url_param(const char *url, const char *key, char *buf, size_t size)
{
	const char *q = strchr(url, '?'), *p, *e;
	size_t klen = strlen(key), n;

	for (p = q; p != NULL; p = strchr(p + 1, '&')) {
		if (strncmp(p + 1, key, klen) == 0 && p[1 + klen] == '=') {
			p += klen + 2;
			e = p + strcspn(p, "&");
			n = (size_t)(e - p);
			if (n >= size)
				return -1;
			memcpy(buf, p, n);
			buf[n] = '\0';
			return 0;
		}
	}
	return -1;
}

static void
make_ctx(struct fixture *f)
{
	const struct opts *o = f->o;

	snprintf(f->redirect, sizeof(f->redirect), "%s:%d%s",
	    o->origin != NULL ? o->origin : "http://127.0.0.1", f->port,
	    o->path != NULL ? o->path : "/callback");
	if (f->sb.pid > 0) {
		f->ctx = tu_ctx(f->home, "config", f->sb.config, "client_id", "test-client",
		    "client_secret", "test-secret", "redirect_uri", f->redirect,
		    "issuer", o->issuer, NULL);
	} else {
		f->ctx = tu_ctx(f->home, "client_id", "test-client", "redirect_uri", f->redirect,
		    "issuer", o->issuer, "scope", o->scope,
		    "authorize_url", o->authorize_url, NULL);
	}
	scauth_ctx_set_trace(f->ctx, on_trace, f);
}

static void
begin(struct fixture *f)
{
	int r;

	if ((r = scauth_login_begin(f->ctx, &f->lg)) != 0)
		fail_msg("begin: %s: %s", scauth_strerror(r), scauth_errmsg(f->ctx));
	assert_int_equal(url_param(scauth_login_url(f->lg), "state", f->state, sizeof(f->state)), 0);
	if (!f->o->no_listen && (r = scauth_login_listen(f->ctx, f->lg)) != 0)
		fail_msg("listen: %s: %s", scauth_strerror(r), scauth_errmsg(f->ctx));
}

static const struct opts plain;

/* A fixture for the options in *state (plain ones when none), with a home and a free port. */
static struct fixture *
fixture_new(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->o = *state != NULL ? *state : &plain;
	f->home = tu_tmpdir();
	f->port = free_port();
	f->br.fd = -1;
	return f;
}

/* Gives f its context and a begun login, and hands it to the test. */
static int
fixture_begin(void **state, struct fixture *f)
{
	make_ctx(f);
	begin(f);
	*state = f;
	return 0;
}

static int
setup(void **state)
{
	return fixture_begin(state, fixture_new(state));
}

static int
setup_sandbox(void **state)
{
	struct fixture *f = fixture_new(state);
	char json[512];

	tu_sandbox_start(&f->sb);
	snprintf(json, sizeof(json), "{\"client_id\":\"test-client\",\"client_secret\":"
	    "\"test-secret\",\"redirect_uris\":[\"http://127.0.0.1:%d/callback\"]}", f->port);
	assert_int_equal(tu_sandbox_ctl(&f->sb, "POST", "/_sandbox/clients", json, NULL, 0), 0);
	return fixture_begin(state, f);
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	/* A test that failed while its browser ran: end it and what it started, then reap it. */
	if (f->br.pid > 0) {
		kill(-f->br.pid, SIGKILL);
		kill(f->br.pid, SIGKILL);
		waitpid(f->br.pid, NULL, 0);
	}
	if (f->br.fd >= 0)
		close(f->br.fd);
	free(f->br.answers);
	free(f->real);
	scauth_login_free(f->lg);
	scauth_ctx_free(f->ctx);
	if (f->sb.pid > 0)
		tu_sandbox_stop(&f->sb);
	tu_rmrf(f->home);
	free(f->home);
	free(f);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* The browser: a child process. */

static int
dial(int family, int port)
{
	struct sockaddr_in a4 = { .sin_family = AF_INET };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6 };
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (family == AF_INET) {
		a4.sin_port = htons((uint16_t)port);
		a4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (connect(fd, (struct sockaddr *)&a4, sizeof(a4)) == 0)
			return fd;
	} else {
		a6.sin6_port = htons((uint16_t)port);
		a6.sin6_addr = in6addr_loopback;
		if (connect(fd, (struct sockaddr *)&a6, sizeof(a6)) == 0)
			return fd;
	}
	close(fd);
	return -1;
}

/* Reads until EOF, within 10 s; returns the length or -1. */
static ssize_t
read_all(int fd, char *buf, size_t cap)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	size_t n = 0;
	ssize_t k;

	for (;;) {
		if (poll(&p, 1, 10000) != 1)
			return -1;
		if ((k = read(fd, buf + n, cap - n - 1)) < 0)
			return -1;
		if (k == 0)
			break;
		n += (size_t)k;
		if (n + 1 == cap)
			break;
	}
	buf[n] = '\0';
	return (ssize_t)n;
}

/* One request on a new connection; the answer, length first, goes to out. */
static void
browse(int out, int family, int port, const char *req, size_t len)
{
	static char resp[65536];
	ssize_t n = -1;
	int fd;

	if ((fd = dial(family, port)) >= 0) {
		if (write(fd, req, len) == (ssize_t)len)
			n = read_all(fd, resp, sizeof(resp));
		close(fd);
	}
	dprintf(out, "%zd\n", n);
	if (n > 0 && write(out, resp, (size_t)n) != n)
		_exit(3);
}

/* Runs script(out, arg) in a child; its answers are read back with browser_end(). */
static void
browser_start(struct browser *b, void (*script)(int, void *), void *arg)
{
	int p[2];

	memset(b, 0, sizeof(*b));
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	b->pid = fork();
	assert_true(b->pid >= 0);
	if (b->pid == 0) {
		close(p[0]);
		script(p[1], arg);
		_exit(0);
	}
	close(p[1]);
	b->fd = p[0];
}

static void
browser_end(struct browser *b)
{
	char buf[65536];
	ssize_t k;
	int status;

	while ((k = read(b->fd, buf, sizeof(buf))) > 0) {
		b->answers = realloc(b->answers, b->len + (size_t)k + 1);
		assert_non_null(b->answers);
		memcpy(b->answers + b->len, buf, (size_t)k);
		b->len += (size_t)k;
		b->answers[b->len] = '\0';
	}
	close(b->fd);
	b->fd = -1;
	assert_int_equal(waitpid(b->pid, &status, 0), b->pid);
	b->pid = 0;     /* reaped: nothing for teardown to end */
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/*
 * The browser runs script(arg) while the login waits up to timeout_sec;
 * returns what the wait returned, once the browser is done.
 */
static int
browse_wait(struct fixture *f, struct browser *b, void (*script)(int, void *), void *arg,
    int timeout_sec)
{
	int r;

	browser_start(b, script, arg);
	r = scauth_login_wait(f->ctx, f->lg, timeout_sec);
	browser_end(b);
	return r;
}

/* The next answer as it came, copied into buf; its status (0 when none came). */
static int
raw_answer(struct browser *b, char *buf, size_t size)
{
	long n;
	char *nl;
	int status = 0;

	assert_true(b->pos < b->len);
	n = strtol(b->answers + b->pos, &nl, 10);
	assert_true(*nl == '\n');
	b->pos = (size_t)(nl + 1 - b->answers);
	buf[0] = '\0';
	if (n <= 0)
		return 0;
	assert_true((size_t)n < size && b->pos + (size_t)n <= b->len);
	memcpy(buf, b->answers + b->pos, (size_t)n);
	buf[n] = '\0';
	b->pos += (size_t)n;
	assert_int_equal(sscanf(buf, "HTTP/1.1 %d ", &status), 1);
	return status;
}

/* The next answer, a page of the listener's: its status (0 when none came), a copy in buf. */
static int
answer(struct browser *b, char *buf, size_t size)
{
	int status = raw_answer(b, buf, size);

	if (status == 0)
		return 0;
	/* Every answer is a page that closes and must not be cached. */
	assert_non_null(strstr(buf, "\r\nConnection: close\r\n"));
	assert_non_null(strstr(buf, "\r\nCache-Control: no-store\r\n"));
	assert_non_null(strstr(buf, "\r\n\r\n<!DOCTYPE html>"));
	return status;
}

static void
browser_free(struct browser *b)
{
	free(b->answers);
	b->answers = NULL;
}

/* A list of whole requests, sent one after the other. */
struct requests {
	int family;
	int port;
	char *req[8];
};

static void
send_requests(int out, void *arg)
{
	const struct requests *r = arg;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(r->req) && r->req[i] != NULL; i++)
		browse(out, r->family, r->port, r->req[i], strlen(r->req[i]));
}

static char *
request(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	assert_true(vasprintf(&s, fmt, ap) > 0);
	va_end(ap);
	return s;
}

static void
assert_no_code_in_trace(const struct fixture *f)
{
	assert_null(strstr(f->trace, CODE));
	assert_null(strstr(f->trace, "code="));
	assert_null(strstr(f->trace, f->state));
}

/* The redirect that ends a login well (a format for our state). */
#define REAL_REDIRECT "GET /callback?code=" CODE "&state=%s HTTP/1.1\r\n\r\n"

/* The browser sends rq's requests while the login waits up to 30 s; they are freed after. */
static int
wait_requests(struct fixture *f, struct browser *b, struct requests *rq)
{
	int r = browse_wait(f, b, send_requests, rq, 30);
	size_t i;

	for (i = 0; i < ARRAY_SIZE(rq->req) && rq->req[i] != NULL; i++) {
		free(rq->req[i]);
		rq->req[i] = NULL;
	}
	return r;
}

/* The same with one request, made from fmt, over family. */
static int PRINTF(4, 5)
wait_request(struct fixture *f, struct browser *b, int family, const char *fmt, ...)
{
	struct requests rq = { family, f->port, { NULL } };
	va_list ap;

	va_start(ap, fmt);
	assert_true(vasprintf(&rq.req[0], fmt, ap) > 0);
	va_end(ap);
	return wait_requests(f, b, &rq);
}

/* The listener's page says the login went well, and the login holds the code. */
static void
assert_got_code(const struct fixture *f, struct browser *b)
{
	char page[8192];

	assert_int_equal(answer(b, page, sizeof(page)), 200);
	assert_string_equal(login_code(f->lg), CODE);
}

/* ------------------------------------------------------------------------ */
/* The listener. */

static void
test_wait_forged_then_real(void **state)
{
	struct fixture *f = *state;
	struct requests rq = { AF_INET, f->port, { NULL } };
	struct browser b;
	char page[8192];

	rq.req[0] = request("GET /callback?code=forged&state=%.42sX HTTP/1.1\r\nHost: x\r\n\r\n",
	    f->state);
	rq.req[1] = request("GET /favicon.ico HTTP/1.1\r\nHost: x\r\n\r\n");
	rq.req[2] = request("GET /callback?code=forged HTTP/1.1\r\nHost: x\r\n\r\n");
	rq.req[3] = request("GET /callback?code=" CODE "&state=%s HTTP/1.1\r\nHost: x\r\n"
	    "User-Agent: test\r\n\r\n", f->state);
	assert_int_equal(wait_requests(f, &b, &rq), 0);

	assert_int_equal(answer(&b, page, sizeof(page)), 400);
	assert_non_null(strstr(page, "stale or forged"));
	assert_int_equal(answer(&b, page, sizeof(page)), 404);
	assert_int_equal(answer(&b, page, sizeof(page)), 400);
	assert_non_null(strstr(page, "stale or forged"));
	assert_int_equal(answer(&b, page, sizeof(page)), 200);
	assert_non_null(strstr(page, "Logged in to SoundCloud - you can close this tab"));
	assert_null(strstr(page, CODE));

	/* The code of the matching request, not the forged one, was kept. */
	assert_string_equal(login_code(f->lg), CODE);
	assert_non_null(strstr(f->trace, "callback: GET /callback -> 200\n"));
	assert_non_null(strstr(f->trace, "callback: GET /favicon.ico -> 404\n"));
	assert_no_code_in_trace(f);
	/* A second wait after success has nothing left to do. */
	assert_int_equal(scauth_login_wait(f->ctx, f->lg, 1), 0);
	/* The port is free again: a late favicon request is refused, not left hanging. */
	assert_int_equal(dial(AF_INET, f->port), -1);
	assert_int_equal(errno, ECONNREFUSED);
	browser_free(&b);
}

static void
test_wait_denied(void **state)
{
	struct fixture *f = *state;
	struct browser b;
	char page[8192];

	assert_int_equal(wait_request(f, &b, AF_INET, "GET /callback?error=access_denied&"
	    "error_description=The+user+%%3Cb%%3Edenied%%3C%%2Fb%%3E+access&state=%s HTTP/1.1"
	    "\r\n\r\n", f->state), SCAUTH_EDENIED);
	assert_string_equal(scauth_errmsg(f->ctx),
	    "login refused by SoundCloud: access_denied: The user <b>denied</b> access");
	assert_int_equal(answer(&b, page, sizeof(page)), 400);
	/* The description is shown, escaped: it is the server's text, not our markup. */
	assert_non_null(strstr(page, "access_denied: The user &lt;b&gt;denied&lt;/b&gt; access"));
	assert_null(strstr(page, "<b>denied"));
	assert_null(login_code(f->lg));
	browser_free(&b);
}

static void
test_wait_malformed(void **state)
{
	struct fixture *f = *state;
	struct requests rq = { AF_INET, f->port, { NULL } };
	struct browser b;
	char page[8192], *big;

	big = malloc(MAX_CALLBACK_REQUEST + 100);
	assert_non_null(big);
	memset(big, 'x', MAX_CALLBACK_REQUEST + 99);
	big[MAX_CALLBACK_REQUEST + 99] = '\0';
	rq.req[0] = request("POST /callback?code=c&state=%s HTTP/1.1\r\n\r\n", f->state);
	rq.req[1] = request("GET /callback?code=c&state=%s HTTP/1.1\r\nX: %s\r\n\r\n", f->state,
	    big);
	rq.req[2] = request("GET /callback?code=c&state=%s&state=%s HTTP/1.1\r\n\r\n", f->state,
	    f->state);
	rq.req[3] = request("GET /callback?state=%s HTTP/1.1\r\n\r\n", f->state);
	/* A redirect with our state but neither code nor error ends the login. */
	assert_int_equal(wait_requests(f, &b, &rq), SCAUTH_EPROTO);
	assert_int_equal(answer(&b, page, sizeof(page)), 400);
	assert_int_equal(answer(&b, page, sizeof(page)), 431);
	assert_int_equal(answer(&b, page, sizeof(page)), 400);
	assert_int_equal(answer(&b, page, sizeof(page)), 400);
	assert_non_null(strstr(page, "neither a code nor an error"));
	assert_non_null(strstr(f->trace, "callback: malformed request -> 400\n"));
	assert_non_null(strstr(f->trace, "-> 431\n"));
	browser_free(&b);
	free(big);
}

struct slow {
	int port;
	int nsilent;
	const char *real;
};

/*
 * Opens idle connections (one of them with half a request), then sends the
 * real redirect; then checks that every idle one was closed by the listener.
 * Writes the real answer, then one line per idle connection: "closed" or not.
 */
static void
slow_clients(int out, void *arg)
{
	const struct slow *s = arg;
	int fds[CONN_MAX + 1];
	char buf[64];
	int i;

	for (i = 0; i < s->nsilent; i++) {
		if ((fds[i] = dial(AF_INET, s->port)) < 0)
			_exit(4);
	}
	if (write(fds[0], "GET /callback?code=slow", 23) != 23)
		_exit(5);
	browse(out, AF_INET, s->port, s->real, strlen(s->real));
	for (i = 0; i < s->nsilent; i++) {
		struct pollfd p = { .fd = fds[i], .events = POLLIN };
		int closed = poll(&p, 1, 10000) == 1 && read(fds[i], buf, sizeof(buf)) <= 0;

		dprintf(out, "%s\n", closed ? "closed" : "open");
		close(fds[i]);
	}
}

static long long
ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * A connection's deadline in the tests that must never see one pass: the
 * real redirect must come through idle clients without waiting for any of
 * them to expire, and with this deadline, however slow a loaded machine is,
 * waiting would show as the login's timeout, never as a pass.
 */
#define NEVER_MS (10 * 60 * 1000)
#define SAFETY_SEC 300  /* the login's timeout: a safety net, never what a test measures */

/* s's idle clients, then the real redirect, while the login waits: it gets the redirect. */
static void
wait_past_idle(struct fixture *f, struct browser *b, struct slow *s)
{
	s->real = f->real = request(REAL_REDIRECT, f->state);
	login_listen_tune(f->lg, NEVER_MS, &f->st);
	browser_start(b, slow_clients, s);
	assert_int_equal(scauth_login_wait(f->ctx, f->lg, SAFETY_SEC), 0);
	/* Served while every idle one was still within its own deadline. */
	assert_int_equal(f->st.expired, 0);
	browser_end(b);
}

static void
test_wait_silent_clients(void **state)
{
	struct fixture *f = *state;
	struct slow s = { f->port, 3, NULL };
	struct browser *b = &f->br;     /* teardown's, should an assertion fail */
	char page[8192];
	int i;

	wait_past_idle(f, b, &s);
	assert_int_equal(answer(b, page, sizeof(page)), 200);
	for (i = 0; i < s.nsilent; i++) {
		assert_true(b->pos + 7 <= b->len);
		assert_memory_equal(b->answers + b->pos, "closed\n", 7);
		b->pos += 7;
	}
	assert_string_equal(login_code(f->lg), CODE);
	browser_free(b);
}

/*
 * As many idle clients as the listener reads at once: the real one comes
 * through at once, in the place of the idlest, not after the idle ones expire.
 */
static void
test_wait_flood(void **state)
{
	struct fixture *f = *state;
	struct slow s = { f->port, CONN_MAX, NULL };
	struct browser *b = &f->br;     /* teardown's, should an assertion fail */

	wait_past_idle(f, b, &s);
	assert_got_code(f, b);
	assert_non_null(strstr(f->trace, "dropping the idlest"));
}

#define FLOODERS 64
#define FLOOD_DROPS CONN_MAX    /* flooders dropped for newcomers before the real one comes */
#define FLOOD_WAIT_MS 120000    /* a safety net: the flood never got going */

/*
 * FLOODERS clients that each connect, send one byte and wait; dropped, they
 * connect again at once.  Once the listener has dropped FLOOD_DROPS of them
 * (it is full and evicting, since no deadline passes in these tests), a byte
 * goes to ready.  Runs until killed, and dies with its parent.
 */
static void
flood(int port, int ready)
{
	struct pollfd p[FLOODERS];
	struct sockaddr_in a = { .sin_family = AF_INET };
	int sent[FLOODERS], i, drops = 0;
	char buf[256];

	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (i = 0; i < FLOODERS; i++)
		p[i].fd = -1;
	for (;;) {
		for (i = 0; i < FLOODERS; i++) {
			if (p[i].fd != -1)
				continue;
			p[i].fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
			if (p[i].fd < 0)
				_exit(6);
			(void)connect(p[i].fd, (struct sockaddr *)&a, sizeof(a));
			p[i].events = POLLOUT;
			sent[i] = 0;
		}
		if (poll(p, FLOODERS, -1) < 0)
			continue;
		for (i = 0; i < FLOODERS; i++) {
			if (p[i].revents == 0)
				continue;
			if (!sent[i] && (p[i].revents & POLLOUT) && !(p[i].revents & (POLLERR | POLLHUP))) {
				if (send(p[i].fd, "G", 1, MSG_NOSIGNAL) == 1) {
					sent[i] = 1;
					p[i].events = POLLIN;
					continue;
				}
			} else if (sent[i] && (p[i].revents & POLLIN) &&
			    recv(p[i].fd, buf, sizeof(buf), 0) > 0) {
				continue;       /* an answer: read on until the close */
			}
			/* Dropped after its byte: the listener made room for a newcomer. */
			if (sent[i] && ++drops == FLOOD_DROPS && write(ready, "x", 1) != 1)
				_exit(9);
			close(p[i].fd);
			p[i].fd = -1;
		}
	}
}

/*
 * The flood starts; once the listener is full and evicting, the real
 * redirect comes while the flood goes on.  A browser retries a request on
 * a connection that was dropped before any answer, and so does this one
 * (a newcomer may be dropped before its request arrives on a loaded
 * machine).  Writes the answer, then the number of tries.
 */
static void
flood_then_real(int out, void *arg)
{
	const struct slow *s = arg;
	static char resp[65536];
	struct pollfd p = { .events = POLLIN };
	int ready[2], fd, tries = 0;
	ssize_t n = -1;
	pid_t flooder;
	char x;

	/* A process group of its own, so that teardown ends the flooder with it. */
	(void)setpgid(0, 0);
	if (pipe2(ready, O_CLOEXEC) != 0 || (flooder = fork()) < 0)
		_exit(7);
	if (flooder == 0) {
		close(ready[0]);
		flood(s->port, ready[1]);
	}
	close(ready[1]);
	p.fd = ready[0];
	if (poll(&p, 1, FLOOD_WAIT_MS) != 1 || read(ready[0], &x, 1) != 1)
		_exit(8);
	while (n <= 0 && tries < 1000) {
		tries++;
		if ((fd = dial(AF_INET, s->port)) < 0)
			continue;
		if (write(fd, s->real, strlen(s->real)) == (ssize_t)strlen(s->real))
			n = read_all(fd, resp, sizeof(resp));
		close(fd);
	}
	dprintf(out, "%zd\n", n);
	if (n > 0 && write(out, resp, (size_t)n) != n)
		_exit(3);
	dprintf(out, "%d\n", tries);
	kill(flooder, SIGKILL);
	waitpid(flooder, NULL, 0);
}

/*
 * Clients that each send one byte and wait, and connect again when dropped,
 * more of them than the listener holds at once: the real redirect still gets
 * through, by the listener dropping the idlest for it, never by waiting for
 * a deadline.  Nothing here is timed: the real redirect is sent once the
 * flooders saw the listener full and evicting, the connections' deadline is
 * beyond the test, and the listener's own counts are what is asserted, so
 * that a loaded machine makes the test slower, never wrong.
 */
static void
test_wait_flood_reconnecting(void **state)
{
	struct fixture *f = *state;
	struct slow s = { f->port, FLOODERS, NULL };
	struct browser *b = &f->br;     /* teardown's, should an assertion fail */
	char page[8192], *end;
	long tries;

	s.real = f->real = request(REAL_REDIRECT, f->state);
	login_listen_tune(f->lg, NEVER_MS, &f->st);
	browser_start(b, flood_then_real, &s);
	assert_int_equal(scauth_login_wait(f->ctx, f->lg, SAFETY_SEC), 0);
	browser_end(b);
	assert_int_equal(answer(b, page, sizeof(page)), 200);
	tries = strtol(b->answers + b->pos, &end, 10);
	assert_true(end > b->answers + b->pos && *end == '\n' && tries >= 1);
	assert_string_equal(login_code(f->lg), CODE);
	/* Full and evicting before the real one came; no connection ever reached its deadline. */
	assert_true(f->st.evicted >= FLOOD_DROPS);
	assert_true(f->st.accepted > CONN_MAX);
	assert_int_equal(f->st.expired, 0);
	assert_non_null(strstr(f->trace, "dropping the idlest"));
}

/* ------------------------------------------------------------------------ */
/* The one-time start address. */

/* The start flow of a browser: what it does, in order. */
struct start_flow {
	int port;
	const char *start_path;
	const char *callback;   /* the request line's target, with our state */
	int visits;             /* of the start address */
	int cookie;             /* 1: bring back the cookie; 0: none; -1: a wrong value */
};

/* One request on a new connection; the raw answer (length first) goes to out, and to buf. */
static ssize_t
browse_raw(int out, int port, const char *req, char *buf, size_t cap)
{
	ssize_t n = -1;
	int fd;

	if ((fd = dial(AF_INET, port)) >= 0) {
		if (write(fd, req, strlen(req)) == (ssize_t)strlen(req))
			n = read_all(fd, buf, cap);
		close(fd);
	}
	dprintf(out, "%zd\n", n);
	if (n > 0 && write(out, buf, (size_t)n) != n)
		_exit(3);
	return n;
}

static void
start_then_callback(int out, void *arg)
{
	const struct start_flow *sf = arg;
	static char buf[65536];
	char req[4096], cookie[256] = "";
	const char *sc;
	int i;

	for (i = 0; i < sf->visits; i++) {
		snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", sf->start_path);
		if (browse_raw(out, sf->port, req, buf, sizeof(buf)) <= 0)
			continue;
		if (i == 0 && (sc = strstr(buf, "\r\nSet-Cookie: ")) != NULL)
			snprintf(cookie, sizeof(cookie), "%.*s", (int)strcspn(sc + 14, ";\r"),
			    sc + 14);
	}
	if (sf->callback == NULL)
		return;
	if (sf->cookie == -1 && strchr(cookie, '=') != NULL)
		strcpy(strchr(cookie, '=') + 1, "forged-cookie-value");
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n%s%s%s\r\n", sf->callback,
	    sf->cookie != 0 ? "Cookie: other=1; " : "", sf->cookie != 0 ? cookie : "",
	    sf->cookie != 0 ? "\r\n" : "");
	browse_raw(out, sf->port, req, buf, sizeof(buf));
}


/* The start address's path (from scauth_login_start_url()), into buf. */
static void
start_path(struct fixture *f, char *buf, size_t size)
{
	const char *u = scauth_login_start_url(f->lg), *p;
	char origin[128];

	assert_non_null(u);
	snprintf(origin, sizeof(origin), "http://127.0.0.1:%d/", f->port);
	assert_true(strncmp(u, origin, strlen(origin)) == 0);
	p = u + strlen(origin) - 1;
	assert_true(strlen(p) < size);
	strcpy(buf, p);
}

/* sf opens the start address, then brings back our code and state; returns the callback to free. */
static char *
start_then_code(struct fixture *f, struct start_flow *sf, char *path, size_t size)
{
	char *cb = request("/callback?code=" CODE "&state=%s", f->state);

	start_path(f, path, size);
	sf->start_path = path;
	sf->callback = cb;
	return cb;
}

/*
 * The browser gets the start address, which carries nothing of the login:
 * it redirects to the authorize URL and sets a cookie, which the callback
 * brings back.
 */
static void
test_start_address(void **state)
{
	struct fixture *f = *state;
	struct start_flow sf = { f->port, NULL, NULL, 1, 1 };
	struct browser b;
	char page[65536], path[256], loc[8192], *cb;

	cb = start_then_code(f, &sf, path, sizeof(path));
	/* Nothing of the authorize URL, the state least of all, is in it. */
	assert_null(strstr(scauth_login_start_url(f->lg), f->state));
	assert_null(strstr(scauth_login_start_url(f->lg), "state"));
	assert_null(strstr(scauth_login_start_url(f->lg), "?"));
	assert_int_equal(browse_wait(f, &b, start_then_callback, &sf, 30), 0);
	assert_int_equal(raw_answer(&b, page, sizeof(page)), 302);
	snprintf(loc, sizeof(loc), "\r\nLocation: %s\r\n", scauth_login_url(f->lg));
	assert_non_null(strstr(page, loc));
	assert_non_null(strstr(page, "\r\nCache-Control: no-store\r\n"));
	assert_non_null(strstr(page, "; HttpOnly; SameSite=Lax\r\n"));
	assert_got_code(f, &b);
	assert_no_code_in_trace(f);
	/* Done: no start address any more. */
	assert_null(scauth_login_start_url(f->lg));
	browser_free(&b);
	free(cb);
}

/* sf's browser is refused: the login stops, saying why, with no code; the last page into page. */
static void
start_refused(struct fixture *f, struct start_flow *sf, const char *why, char *page, size_t size)
{
	struct browser b;

	assert_int_equal(browse_wait(f, &b, start_then_callback, sf, 30), SCAUTH_ESTATE);
	assert_non_null(strstr(scauth_errmsg(f->ctx), why));
	assert_int_equal(raw_answer(&b, page, size), 302);
	assert_int_equal(answer(&b, page, size), 400);
	assert_null(login_code(f->lg));
	browser_free(&b);
}

/* Opened twice, by whoever: the login stops (one of the two read it in /proc). */
static void
test_start_address_twice(void **state)
{
	struct fixture *f = *state;
	struct start_flow sf = { f->port, NULL, NULL, 2, 1 };
	char page[65536], path[256];

	start_path(f, path, sizeof(path));
	sf.start_path = path;
	start_refused(f, &sf, "opened twice", page, sizeof(page));
	assert_non_null(strstr(page, "opened twice"));
}

/*
 * Once the start address was opened, the right state without its cookie (or
 * with another value) is someone else's browser: the login stops, no code is
 * kept.
 */
static void
test_start_address_cookie(void **state)
{
	struct fixture *f = *state;
	struct start_flow sf = { f->port, NULL, NULL, 1, 0 };
	char page[65536], path[256], *cb;
	int round;

	for (round = 0; round < 2; round++) {
		if (round == 1) {
			/* A new login for the second round. */
			scauth_login_free(f->lg);
			f->lg = NULL;
			begin(f);
		}
		cb = start_then_code(f, &sf, path, sizeof(path));
		sf.cookie = round == 0 ? 0 : -1;
		start_refused(f, &sf, "did not come from the browser", page, sizeof(page));
		free(cb);
	}
}

static void
test_wait_timeout(void **state)
{
	struct fixture *f = *state;
	long long t0 = ms();

	assert_int_equal(scauth_login_wait(f->ctx, f->lg, 1), SCAUTH_ETIMEOUT);
	assert_string_equal(scauth_errmsg(f->ctx), "no answer from the browser within 1 s");
	assert_true(ms() - t0 >= 1000);
	assert_int_equal(scauth_login_wait(f->ctx, f->lg, 0), SCAUTH_EINVAL);
	assert_null(login_code(f->lg));
}

static struct opts no_listen = { .no_listen = 1 };

static void
test_listen_port_in_use(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_in a = { .sin_family = AF_INET };
	char want[128];
	int fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	a.sin_port = htons((uint16_t)f->port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 1), 0);
	assert_int_equal(scauth_login_listen(f->ctx, f->lg), SCAUTH_ESYSTEM);
	snprintf(want, sizeof(want), "cannot listen on 127.0.0.1:%d: Address already in use",
	    f->port);
	assert_string_equal(scauth_errmsg(f->ctx), want);
	/* Not listening: nothing to wait on. */
	assert_int_equal(scauth_login_wait(f->ctx, f->lg, 1), SCAUTH_EINVAL);
	close(fd);
	/* Free again: it works, and listening twice is harmless. */
	assert_int_equal(scauth_login_listen(f->ctx, f->lg), 0);
	assert_int_equal(scauth_login_listen(f->ctx, f->lg), 0);
}

/*
 * RFC 8252 8.3: localhost may resolve to ::1 as well as 127.0.0.1, and
 * browsers try ::1 first, where any local user may listen.  Refused with a
 * configuration error that names the address to use instead.
 */
static void
test_begin_localhost(void **state)
{
	static const char *const uris[] = {
		"http://localhost:8765/cb", "http://LocalHost:8765/cb", "http://localhost.:8765/cb",
		"http://kiosk.localhost:8765/cb",
	};
	char *home = tu_tmpdir();
	scauth_login *lg = NULL;
	scauth_ctx *ctx;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(uris); i++) {
		ctx = tu_ctx(home, "client_id", "c", "redirect_uri", uris[i], NULL);
		assert_int_equal(scauth_login_begin(ctx, &lg), SCAUTH_ECONFIG);
		assert_null(lg);
		assert_non_null(strstr(scauth_errmsg(ctx), "use http://127.0.0.1:8765/cb"));
		assert_non_null(strstr(scauth_errmsg(ctx), "RFC 8252"));
		scauth_ctx_free(ctx);
	}
	/* A name that merely contains the word is another host. */
	ctx = tu_ctx(home, "client_id", "c", "redirect_uri", "http://notlocalhost:8765/cb", NULL);
	assert_int_equal(scauth_login_begin(ctx, &lg), 0);
	scauth_login_free(lg);
	scauth_ctx_free(ctx);
	tu_rmrf(home);
	free(home);
}

static struct opts ipv6 = { .origin = "http://[::1]", .no_listen = 1 };

static void
test_listen_ipv6(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_in6 a = { .sin6_family = AF_INET6 };
	struct browser b;
	int fd, have6;

	/* Whether this machine has ::1 at all decides what listen must say. */
	fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	a.sin6_addr = in6addr_loopback;
	have6 = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	if (fd >= 0)
		close(fd);
	if (!have6) {
		assert_int_equal(scauth_login_listen(f->ctx, f->lg), SCAUTH_ESYSTEM);
		assert_non_null(strstr(scauth_errmsg(f->ctx), "cannot listen on [::1]:"));
		return;
	}
	assert_int_equal(scauth_login_listen(f->ctx, f->lg), 0);
	assert_non_null(strstr(f->trace, "login: listening on [::1]:"));
	assert_int_equal(wait_request(f, &b, AF_INET6, REAL_REDIRECT, f->state), 0);
	assert_got_code(f, &b);
	browser_free(&b);
}

static struct opts https_redirect = {
	.origin = "https://kiosk.example", .path = "/done", .no_listen = 1
};

/* An https redirect_uri is for paste mode: listen says why it cannot, paste works. */
static void
test_listen_https(void **state)
{
	struct fixture *f = *state;
	char input[256];

	assert_int_equal(scauth_login_listen(f->ctx, f->lg), SCAUTH_ESYSTEM);
	assert_non_null(strstr(scauth_errmsg(f->ctx), "https redirect_uri"));
	snprintf(input, sizeof(input), "https://kiosk.example:%d/done?code=" CODE "&state=%s",
	    f->port, f->state);
	assert_int_equal(scauth_login_paste(f->ctx, f->lg, input), 0);
	assert_string_equal(login_code(f->lg), CODE);
}

static struct opts with_issuer = { .issuer = "https://issuer.test" };

static void
test_wait_iss(void **state)
{
	struct fixture *f = *state;
	struct browser b;
	char page[8192];

	/* A wrong iss with the right state ends the login: a mix-up (RFC 9207). */
	assert_int_equal(wait_request(f, &b, AF_INET, "GET /callback?code=c&state=%s&iss="
	    "https%%3A%%2F%%2Fevil.test HTTP/1.1\r\n\r\n", f->state), SCAUTH_ESTATE);
	assert_non_null(strstr(scauth_errmsg(f->ctx), "RFC 9207"));
	assert_int_equal(answer(&b, page, sizeof(page)), 400);
	assert_non_null(strstr(page, "issuer"));
	assert_null(login_code(f->lg));
	browser_free(&b);

	assert_int_equal(wait_request(f, &b, AF_INET, "GET /callback?code=" CODE "&state=%s&iss="
	    "https%%3A%%2F%%2Fissuer.test HTTP/1.1\r\n\r\n", f->state), 0);
	assert_got_code(f, &b);
	browser_free(&b);
}

/* Without an issuer configured, iss is not looked at. */
static void
test_wait_iss_ignored(void **state)
{
	struct fixture *f = *state;
	struct browser b;
	char page[8192];

	assert_int_equal(wait_request(f, &b, AF_INET, "GET /callback?code=" CODE "&state=%s&iss="
	    "https%%3A%%2F%%2Fany.test HTTP/1.1\r\n\r\n", f->state), 0);
	assert_int_equal(answer(&b, page, sizeof(page)), 200);
	browser_free(&b);
}

/* ------------------------------------------------------------------------ */
/* The authorize URL. */

static void
b64url(const unsigned char *in, size_t n, char *out)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned long v;
	size_t i, o = 0;

	for (i = 0; i < n; i += 3) {
		v = (unsigned long)in[i] << 16 | (i + 1 < n ? (unsigned long)in[i + 1] << 8 : 0) |
		    (i + 2 < n ? in[i + 2] : 0);
		out[o++] = a[v >> 18 & 63];
		out[o++] = a[v >> 12 & 63];
		if (i + 1 < n)
			out[o++] = a[v >> 6 & 63];
		if (i + 2 < n)
			out[o++] = a[v & 63];
	}
	out[o] = '\0';
}

static int
b64url_alphabet(const char *s)
{
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
	    strlen(s);
}

static void
test_begin_url(void **state)
{
	struct fixture *f = *state;
	const char *url = scauth_login_url(f->lg), *p;
	unsigned char *(*sha256)(const unsigned char *, size_t, unsigned char *);
	unsigned char md[32];
	char want[512], value[256], expect[64];
	const char *keys[] = { "client_id", "redirect_uri", "response_type", "code_challenge",
		"code_challenge_method", "state" };
	scauth_login *other;
	void *h;
	size_t i, n;

	/* Exactly these parameters, in this order, values percent-encoded. */
	snprintf(want, sizeof(want), "https://secure.soundcloud.com/authorize?client_id=test-client"
	    "&redirect_uri=http%%3A%%2F%%2F127.0.0.1%%3A%d%%2Fcallback&response_type=code"
	    "&code_challenge=", f->port);
	assert_memory_equal(url, want, strlen(want));
	for (p = strchr(url, '?'), n = 0; p != NULL; p = strchr(p + 1, '&'))
		n++;
	assert_int_equal(n, ARRAY_SIZE(keys));
	for (i = 0; i < ARRAY_SIZE(keys); i++)
		assert_int_equal(url_param(url, keys[i], value, sizeof(value)), 0);
	assert_int_equal(url_param(url, "scope", value, sizeof(value)), -1);
	assert_int_equal(url_param(url, "code_challenge_method", value, sizeof(value)), 0);
	assert_string_equal(value, "S256");

	/* 256 bits of state in base64url. */
	assert_int_equal(strlen(f->state), STATE_LEN);
	assert_true(b64url_alphabet(f->state));

	/* The challenge is BASE64URL(SHA256(verifier)), computed here with libcrypto. */
	assert_int_equal(strlen(login_verifier(f->lg)), PKCE_VERIFIER_LEN);
	assert_true(b64url_alphabet(login_verifier(f->lg)));
	h = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL);
	assert_non_null(h);
	*(void **)&sha256 = dlsym(h, "SHA256");
	assert_non_null(sha256);
	sha256((const unsigned char *)login_verifier(f->lg), PKCE_VERIFIER_LEN, md);
	b64url(md, sizeof(md), expect);
	assert_int_equal(url_param(url, "code_challenge", value, sizeof(value)), 0);
	assert_string_equal(value, expect);
	dlclose(h);

	/* Each login is new. */
	assert_int_equal(scauth_login_begin(f->ctx, &other), 0);
	assert_int_equal(url_param(scauth_login_url(other), "state", value, sizeof(value)), 0);
	assert_string_not_equal(value, f->state);
	assert_string_not_equal(login_verifier(other), login_verifier(f->lg));
	scauth_login_free(other);
}

static struct opts scoped = {
	.scope = "non-expiring read&write", .no_listen = 1,
	.authorize_url = "https://auth.test:8443/authorize?tenant=a%20b"
};

static void
test_begin_scope(void **state)
{
	/* A configured query stays, ours follows with '&'. */
	static const char want[] = "https://auth.test:8443/authorize?tenant=a%20b&client_id=";
	struct fixture *f = *state;
	const char *url = scauth_login_url(f->lg);
	char value[256];

	assert_memory_equal(url, want, sizeof(want) - 1);
	assert_int_equal(url_param(url, "scope", value, sizeof(value)), 0);
	assert_string_equal(value, "non-expiring%20read%26write");
	/* scope is last, and nothing follows it. */
	assert_non_null(strstr(url, "&state="));
	assert_true(strstr(url, "&scope=") > strstr(url, "&state="));
}

static void
test_begin_config(void **state)
{
	char *home = tu_tmpdir();
	scauth_login *lg = (scauth_login *)&home;      /* must be NULLed */
	scauth_ctx *ctx;

	ctx = tu_ctx(home, NULL);
	assert_int_equal(scauth_login_begin(ctx, &lg), SCAUTH_ECONFIG);
	assert_null(lg);
	assert_non_null(strstr(scauth_errmsg(ctx), "client_id"));
	scauth_ctx_free(ctx);

	ctx = tu_ctx(home, "client_id", "c", "redirect_uri", "http://127.0.0.1/callback", NULL);
	assert_int_equal(scauth_login_begin(ctx, &lg), SCAUTH_ECONFIG);
	assert_non_null(strstr(scauth_errmsg(ctx), "explicit port"));
	scauth_ctx_free(ctx);

	/* An https redirect_uri may leave out its port: it is for paste mode. */
	ctx = tu_ctx(home, "client_id", "c", "redirect_uri", "https://example.test/cb", NULL);
	assert_int_equal(scauth_login_begin(ctx, &lg), 0);
	assert_int_equal(scauth_login_listen(ctx, lg), SCAUTH_ESYSTEM);
	scauth_login_free(lg);
	scauth_ctx_free(ctx);

	/* An unloaded context is refused. */
	assert_int_equal(scauth_ctx_new(&ctx, 0), 0);
	assert_int_equal(scauth_login_begin(ctx, &lg), SCAUTH_EINVAL);
	scauth_ctx_free(ctx);
	tu_rmrf(home);
	free(home);
}

/* ------------------------------------------------------------------------ */
/* Paste. */

/* Pastes before + state + after; state NULL means ours. */
static int
paste(struct fixture *f, const char *before, const char *st, const char *after)
{
	char input[1024];

	snprintf(input, sizeof(input), "%s%s%s", before, st != NULL ? st : f->state, after);
	return scauth_login_paste(f->ctx, f->lg, input);
}

static void
test_paste(void **state)
{
	struct fixture *f = *state;
	char wrong[STATE_LEN + 1], *big;

	/* The whole redirect URL, as the address bar shows it. */
	assert_int_equal(paste(f, "  http://127.0.0.1:8765/callback?code=" CODE "&state=", NULL,
	    "\n"), 0);
	assert_string_equal(login_code(f->lg), CODE);
	/* Its path need not match: the state is the proof. */
	assert_int_equal(paste(f, "http://elsewhere.test/x?state=", NULL, "&code=c1#frag"), 0);
	assert_string_equal(login_code(f->lg), "c1");
	assert_int_equal(paste(f, "/callback?code=c2&state=", NULL, ""), 0);
	assert_string_equal(login_code(f->lg), "c2");
	assert_int_equal(paste(f, "?code=c3&state=", NULL, ""), 0);
	assert_string_equal(login_code(f->lg), "c3");
	assert_int_equal(paste(f, "code=c4&state=", NULL, ""), 0);
	assert_string_equal(login_code(f->lg), "c4");

	/* A bare code, white space around it ignored. */
	assert_int_equal(scauth_login_paste(f->ctx, f->lg, "\t bare-Code_1.~ \r\n"), 0);
	assert_string_equal(login_code(f->lg), "bare-Code_1.~");

	/* Wrong or missing state: refused, and the code held so far stays. */
	memcpy(wrong, f->state, sizeof(wrong));
	wrong[STATE_LEN - 1] = wrong[STATE_LEN - 1] == 'A' ? 'B' : 'A';
	assert_int_equal(paste(f, "http://127.0.0.1:8765/callback?code=evil&state=", wrong, ""),
	    SCAUTH_ESTATE);
	assert_int_equal(paste(f, "http://127.0.0.1:8765/callback?code=evil", "", ""),
	    SCAUTH_ESTATE);
	wrong[20] = '\0';
	assert_int_equal(paste(f, "code=evil&state=", wrong, ""), SCAUTH_ESTATE);
	assert_string_equal(login_code(f->lg), "bare-Code_1.~");

	/* An error on the redirect is reported as such. */
	assert_int_equal(paste(f, "http://127.0.0.1:8765/callback?error=access_denied&"
	    "error_description=No+thanks&state=", NULL, ""), SCAUTH_EDENIED);
	assert_string_equal(scauth_errmsg(f->ctx),
	    "login refused by SoundCloud: access_denied: No thanks");

	/* Garbage. */
	assert_int_equal(scauth_login_paste(f->ctx, f->lg, ""), SCAUTH_EINVAL);
	assert_int_equal(scauth_login_paste(f->ctx, f->lg, " \n\t "), SCAUTH_EINVAL);
	assert_int_equal(scauth_login_paste(f->ctx, f->lg, "two words"), SCAUTH_EINVAL);
	assert_int_equal(scauth_login_paste(f->ctx, f->lg, "ctl\x01"), SCAUTH_EINVAL);
	assert_int_equal(scauth_login_paste(f->ctx, f->lg, "caf\xc3\xa9"), SCAUTH_EINVAL);
	assert_int_equal(scauth_login_paste(f->ctx, f->lg, "http://127.0.0.1:8765/callback"),
	    SCAUTH_EINVAL);
	assert_int_equal(paste(f, "http://h/cb?code=a%00b&state=", NULL, ""), SCAUTH_EINVAL);
	assert_int_equal(paste(f, "http://h/cb?code=a&code=b&state=", NULL, ""), SCAUTH_EINVAL);
	assert_int_equal(scauth_login_paste(f->ctx, f->lg, NULL), SCAUTH_EINVAL);
	assert_string_equal(login_code(f->lg), "bare-Code_1.~");
	big = malloc(MAX_TOKEN_LEN + 2);
	assert_non_null(big);
	memset(big, 'c', MAX_TOKEN_LEN + 1);
	big[MAX_TOKEN_LEN + 1] = '\0';
	assert_int_equal(scauth_login_paste(f->ctx, f->lg, big), SCAUTH_EINVAL);
	big[MAX_TOKEN_LEN] = '\0';
	assert_int_equal(scauth_login_paste(f->ctx, f->lg, big), 0);
	free(big);
	assert_int_equal(strlen(login_code(f->lg)), MAX_TOKEN_LEN);
}

static void
test_finish_without_code(void **state)
{
	struct fixture *f = *state;
	scauth_token *tok = (scauth_token *)f;  /* must be NULLed */

	assert_int_equal(scauth_login_finish(f->ctx, f->lg, &tok), SCAUTH_EINVAL);
	assert_null(tok);
	assert_non_null(strstr(scauth_errmsg(f->ctx), "no authorization code"));
	scauth_login_free(NULL);
}

/* ------------------------------------------------------------------------ */
/* Whole logins against the sandbox. */

struct via {
	const char *ca;
	const char *url;
	int port;
};

/* Follows the authorize URL with curl, then brings the redirect to the listener. */
static void
via_sandbox(int out, void *arg)
{
	const struct via *v = arg;
	char loc[8192], req[8400], prefix[64];
	int p[2], status;
	ssize_t n;
	pid_t pid;

	if (pipe(p) != 0)
		_exit(6);
	if ((pid = fork()) == 0) {
		dup2(p[1], 1);
		execlp("curl", "curl", "-sS", "--cacert", v->ca, "-o", "/dev/null",
		    "-w", "%{redirect_url}", v->url, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	n = read_all(p[0], loc, sizeof(loc));
	close(p[0]);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		_exit(7);
	snprintf(prefix, sizeof(prefix), "http://127.0.0.1:%d/", v->port);
	if (n <= 0 || strncmp(loc, prefix, strlen(prefix)) != 0)
		_exit(8);
	n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n",
	    loc + strlen(prefix) - 1, v->port);
	browse(out, AF_INET, v->port, req, (size_t)n);
	explicit_bzero(loc, sizeof(loc));
	explicit_bzero(req, sizeof(req));
}

/* The sandbox answers with a fault from now on: json says where and which. */
static void
sandbox_fault(struct fixture *f, const char *json)
{
	assert_int_equal(tu_sandbox_ctl(&f->sb, "POST", "/_sandbox/fault", json, NULL, 0), 0);
}

static int
sandbox_wait(struct fixture *f, struct browser *b)
{
	struct via v = { f->sb.ca, scauth_login_url(f->lg), f->port };
	int r;

	r = browse_wait(f, b, via_sandbox, &v, 30);
	return r;
}

static void
test_sandbox_login(void **state)
{
	struct fixture *f = *state;
	scauth_token *tok = NULL;
	struct browser b;
	char page[8192];
	int r;

	assert_int_equal(sandbox_wait(f, &b), 0);
	assert_int_equal(answer(&b, page, sizeof(page)), 200);
	assert_non_null(login_code(f->lg));
	if ((r = scauth_login_finish(f->ctx, f->lg, &tok)) != 0)
		fail_msg("finish: %s: %s", scauth_strerror(r), scauth_errmsg(f->ctx));
	assert_non_null(scauth_token_access(tok));
	assert_true(scauth_token_renewable(tok));
	assert_string_equal(scauth_token_urn(tok), "soundcloud:users:1001");
	assert_string_equal(scauth_token_permalink(tok), "test-user");
	scauth_token_free(tok);
	tok = NULL;
	/* The code is spent: it is gone from the login. */
	assert_null(login_code(f->lg));
	assert_int_equal(scauth_login_finish(f->ctx, f->lg, &tok), SCAUTH_EINVAL);
	assert_null(tok);
	assert_no_code_in_trace(f);
	browser_free(&b);
}

static void
test_sandbox_denied(void **state)
{
	struct fixture *f = *state;
	struct browser b;
	char page[8192];

	sandbox_fault(f, "{\"endpoint\":\"authorize\",\"kind\":\"deny\"}");
	assert_int_equal(sandbox_wait(f, &b), SCAUTH_EDENIED);
	assert_string_equal(scauth_errmsg(f->ctx),
	    "login refused by SoundCloud: access_denied: The user denied access");
	assert_int_equal(answer(&b, page, sizeof(page)), 400);
	assert_non_null(strstr(page, "The user denied access"));
	browser_free(&b);
}

static struct opts sandbox_issuer = { .issuer = "https://secure.soundcloud.com" };

static void
test_sandbox_iss(void **state)
{
	struct fixture *f = *state;
	struct browser b;
	char page[8192];

	sandbox_fault(f, "{\"endpoint\":\"authorize\",\"kind\":\"iss\",\"value\":"
	    "\"https://mix-up.test\"}");
	assert_int_equal(sandbox_wait(f, &b), SCAUTH_ESTATE);
	assert_int_equal(answer(&b, page, sizeof(page)), 400);
	assert_null(login_code(f->lg));
	browser_free(&b);
}

/* ------------------------------------------------------------------------ */
/* The login driver, scauth_login_run(). */

struct run_ui {
	struct fixture *f;
	struct browser b;
	int browsing;
	int shown, paste_shown, asked;
	int steps[SCAUTH_STEP_PAIR + 1]; /* errors by step */
	int fail_show, fail_paste;
	char url[8192];
	char started[8192];             /* what start_browser was given */
	char page[8192];                /* what the page there said */
	char modes[32];                 /* "FILE DIR OURS": the page's and its directory's modes */
};

/* Notes the URL shown, and starts no browser. */
static int
run_show_only(void *arg, const char *url, int paste)
{
	struct run_ui *u = arg;

	u->shown++;
	snprintf(u->url, sizeof(u->url), "%s", url);
	return 0;
}

static int
run_show(void *arg, const char *url, int paste)
{
	struct run_ui *u = arg;
	struct via v = { u->f->sb.ca, url, u->f->port };

	u->shown++;
	u->paste_shown = paste;
	snprintf(u->url, sizeof(u->url), "%s", url);
	if (u->fail_show)
		return SCAUTH_ESYSTEM;
	if (!paste) {
		browser_start(&u->b, via_sandbox, &v);
		u->browsing = 1;
	}
	return 0;
}

/* Plays the person: follows the URL with curl and pastes where it was sent. */
static int
run_paste(void *arg, const char *url, char *buf, size_t size)
{
	struct run_ui *u = arg;
	char cmd[8400];
	FILE *p;
	size_t n;

	u->asked++;
	if (u->fail_paste)
		return SCAUTH_ELOGIN;
	snprintf(cmd, sizeof(cmd), "curl -sS --cacert '%s' -o /dev/null -w '%%{redirect_url}' "
	    "'%s'", u->f->sb.ca, url);
	assert_non_null(p = popen(cmd, "r"));
	n = fread(buf, 1, size - 1, p);
	buf[n] = '\0';
	assert_int_equal(pclose(p), 0);
	return n > 0 ? 0 : SCAUTH_ESYSTEM;
}

static void
run_failed(void *arg, enum scauth_login_step step, int err)
{
	struct run_ui *u = arg;

	assert_true(step >= SCAUTH_STEP_BEGIN && step <= SCAUTH_STEP_PAIR);
	u->steps[step] = err;
}

static int
run(struct fixture *f, struct run_ui *u, int paste, scauth_token **tok)
{
	const struct scauth_login_ui ui = {
		.size = sizeof(ui), .arg = u, .paste = paste, .timeout_sec = 30,
		.show_url = run_show, .ask_paste = run_paste, .step_failed = run_failed,
	};
	int r;

	u->f = f;
	r = scauth_login_run(f->ctx, &ui, tok);
	if (u->browsing)
		browser_end(&u->b);
	return r;
}

static int
run_pairing(void *arg, const char *address, const char *code, const char *link)
{
	struct run_ui *u = arg;

	u->shown++;
	return 0;
}

/*
 * A phone login without relay_url, or without postgres, stops at the pairing
 * with a configuration error, before anything is shown or any library but
 * libcrypto is needed; without show_pairing it does not start.
 */
static void
test_run_relay_config(struct fixture *f)
{
	struct run_ui u = { .f = f };
	struct scauth_login_ui ui = {
		.size = sizeof(ui), .arg = &u, .relay = 1, .timeout_sec = 5, .step_failed = run_failed,
	};
	scauth_token *tok = NULL;

	assert_int_equal(scauth_login_run(f->ctx, &ui, &tok), SCAUTH_EINVAL);
	ui.show_pairing = run_pairing;
	assert_int_equal(scauth_login_run(f->ctx, &ui, &tok), SCAUTH_ECONFIG);
	assert_int_equal(u.steps[SCAUTH_STEP_PAIR], SCAUTH_ECONFIG);
	assert_non_null(strstr(scauth_errmsg(f->ctx), "relay_url: not set"));
	assert_int_equal(u.shown, 0);
	assert_null(tok);
}

static void
test_run_listen(void **state)
{
	struct fixture *f = *state;
	struct run_ui u = { 0 };
	scauth_token *tok = NULL;
	char page[8192];

	if (run(f, &u, 0, &tok) != 0)
		fail_msg("run: %s", scauth_errmsg(f->ctx));
	assert_int_equal(u.shown, 1);
	assert_int_equal(u.paste_shown, 0);
	assert_int_equal(u.asked, 0);
	assert_int_equal(answer(&u.b, page, sizeof(page)), 200);
	assert_string_equal(scauth_token_urn(tok), "soundcloud:users:1001");
	assert_non_null(strstr(u.url, "code_challenge_method=S256"));
	assert_no_code_in_trace(f);
	browser_free(&u.b);
	scauth_token_free(tok);
}

/*
 * A listener that cannot be had (the port is taken) ends the login with an
 * error naming the address and port, never a paste: whoever holds the port
 * would get the browser's redirect.
 */
static void
test_run_port_taken(void **state)
{
	struct fixture *f = *state;
	struct run_ui u = { 0 };
	scauth_token *tok = NULL;
	scauth_login *hold = NULL;
	char want[128];

	assert_int_equal(scauth_login_begin(f->ctx, &hold), 0);
	assert_int_equal(scauth_login_listen(f->ctx, hold), 0);
	assert_int_equal(run(f, &u, 0, &tok), SCAUTH_EUNAVAIL);
	assert_null(tok);
	assert_int_equal(u.steps[SCAUTH_STEP_LISTEN], SCAUTH_EUNAVAIL);
	snprintf(want, sizeof(want), "cannot listen on 127.0.0.1:%d: Address already in use",
	    f->port);
	assert_string_equal(scauth_errmsg(f->ctx), want);
	assert_int_equal(u.shown, 0);
	assert_int_equal(u.asked, 0);
	scauth_login_free(hold);
}

/* Notes the address and, as a browser would, what the page there says. */
static void
run_start_browser(void *arg, const char *address)
{
	struct run_ui *u = arg;
	struct stat st, dst;
	char dir[4096], *slash;
	ssize_t n;
	int fd;

	snprintf(u->started, sizeof(u->started), "%s", address);
	if (strncmp(address, "file://", 7) != 0)
		return;
	snprintf(dir, sizeof(dir), "%s", address + 7);
	if ((slash = strrchr(dir, '/')) != NULL)
		*slash = '\0';
	if ((fd = open(address + 7, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return;
	n = read(fd, u->page, sizeof(u->page) - 1);
	u->page[n > 0 ? n : 0] = '\0';
	if (fstat(fd, &st) == 0 && lstat(dir, &dst) == 0)
		snprintf(u->modes, sizeof(u->modes), "%o %o %d", (unsigned)(st.st_mode & 07777),
		    (unsigned)(dst.st_mode & 07777), st.st_uid == getuid() && dst.st_uid == getuid());
	close(fd);
}

/*
 * The browser the driver starts gets the file:// address of a page that only
 * we can read and that forwards to the start address; nothing on its command
 * line carries the state or the start address, and the page goes with the
 * login.  The context ignores the environment (as PAM's does), so the page is
 * in a directory of its own under /tmp, whatever XDG_RUNTIME_DIR says; the
 * bats suite of the helper covers $XDG_RUNTIME_DIR/soundcloud-auth.
 */
/*
 * struct scauth_login_ui's size: none is refused before anything happens; a
 * caller of the first release (its size ends before step_failed) gets no
 * call of the members its size does not cover.
 */
static void
test_run_ui_size(void **state)
{
	struct fixture *f = *state;
	struct run_ui u = { 0 };
	struct scauth_login_ui ui = {
		.size = 0, .arg = &u, .paste = 0, .timeout_sec = 1,
		.show_url = run_show_only, .ask_paste = run_paste, .step_failed = run_failed,
		.start_browser = run_start_browser,
	};
	scauth_token *tok = NULL;

	u.f = f;
	assert_int_equal(scauth_login_run(f->ctx, &ui, &tok), SCAUTH_EINVAL);
	assert_non_null(strstr(scauth_errmsg(f->ctx), "sizeof(struct scauth_login_ui)"));
	assert_int_equal(u.shown, 0);
	ui.size = offsetof(struct scauth_login_ui, step_failed);
	assert_int_equal(scauth_login_run(f->ctx, &ui, &tok), SCAUTH_ETIMEOUT);
	assert_int_equal(u.shown, 1);
	assert_string_equal(u.started, "");
	assert_null(tok);
}

static void
test_run_start_browser(void **state)
{
	struct fixture *f = *state;
	struct run_ui u = { 0 };
	const struct scauth_login_ui ui = {
		.size = sizeof(ui), .arg = &u, .paste = 0, .timeout_sec = 1,
		.show_url = run_show_only, .ask_paste = run_paste, .step_failed = run_failed,
		.start_browser = run_start_browser,
	};
	scauth_token *tok = NULL;
	char origin[64], refresh[256], *run = tu_tmpdir();
	const char *prefix = "file:///tmp/soundcloud-auth-login-";
	struct stat st;

	assert_int_equal(chmod(run, 0700), 0);
	assert_int_equal(setenv("XDG_RUNTIME_DIR", run, 1), 0);
	u.f = f;
	assert_int_equal(scauth_login_run(f->ctx, &ui, &tok), SCAUTH_ETIMEOUT);
	unsetenv("XDG_RUNTIME_DIR");
	tu_rmrf(run);
	free(run);
	if (strncmp(u.started, prefix, strlen(prefix)) != 0)
		fail_msg("the browser got %s", u.started);
	assert_null(strstr(u.started, "soundcloud-auth-start-"));
	assert_null(strstr(u.started, "state"));
	assert_non_null(strstr(u.url, "state="));
	/* 0600 in a 0700 directory, both ours; it refreshes to the start address. */
	assert_string_equal(u.modes, "600 700 1");
	snprintf(origin, sizeof(origin), "http://127.0.0.1:%d/soundcloud-auth-start-", f->port);
	snprintf(refresh, sizeof(refresh), "<meta http-equiv=\"refresh\" content=\"0; url=%s",
	    origin);
	assert_non_null(strstr(u.page, refresh));
	assert_null(strstr(u.page, "<script"));
	/* Gone with the login, directory too. */
	assert_int_equal(lstat(u.started + 7, &st), -1);
	*strrchr(u.started, '/') = '\0';
	assert_int_equal(lstat(u.started + 7, &st), -1);
}

/* A callback's error ends the login with it, and names its step. */
static void
test_run_failures(void **state)
{
	struct fixture *f = *state;
	struct run_ui u = { 0 };
	scauth_token *tok = NULL;

	u.fail_paste = 1;
	assert_int_equal(run(f, &u, 1, &tok), SCAUTH_ELOGIN);
	assert_null(tok);
	assert_int_equal(u.steps[SCAUTH_STEP_PASTE], SCAUTH_ELOGIN);
	assert_int_equal(u.steps[SCAUTH_STEP_FINISH], 0);

	memset(&u, 0, sizeof(u));
	u.fail_show = 1;
	assert_int_equal(run(f, &u, 1, &tok), SCAUTH_ESYSTEM);
	assert_int_equal(u.steps[SCAUTH_STEP_SHOW], SCAUTH_ESYSTEM);
	assert_int_equal(u.asked, 0);

	/* The token endpoint fails: the finish step says so. */
	memset(&u, 0, sizeof(u));
	sandbox_fault(f, "{\"endpoint\":\"token\",\"kind\":\"503\"}");
	assert_int_equal(run(f, &u, 1, &tok), SCAUTH_EUNAVAIL);
	assert_int_equal(u.steps[SCAUTH_STEP_FINISH], SCAUTH_EUNAVAIL);
	assert_null(tok);

	assert_int_equal(scauth_login_run(f->ctx, NULL, &tok), SCAUTH_EINVAL);
	assert_int_equal(scauth_login_run(NULL, NULL, &tok), SCAUTH_EINVAL);
	test_run_relay_config(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_wait_forged_then_real, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_denied, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_silent_clients, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_flood, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_flood_reconnecting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_start_address, setup, teardown),
		cmocka_unit_test_setup_teardown(test_start_address_twice, setup, teardown),
		cmocka_unit_test_setup_teardown(test_start_address_cookie, setup, teardown),
		cmocka_unit_test_prestate_setup_teardown(test_listen_port_in_use, setup, teardown,
		    (void *)&no_listen),
		cmocka_unit_test(test_begin_localhost),
		cmocka_unit_test_prestate_setup_teardown(test_listen_ipv6, setup, teardown,
		    (void *)&ipv6),
		cmocka_unit_test_prestate_setup_teardown(test_listen_https, setup, teardown,
		    (void *)&https_redirect),
		cmocka_unit_test_prestate_setup_teardown(test_wait_iss, setup, teardown,
		    (void *)&with_issuer),
		cmocka_unit_test_setup_teardown(test_wait_iss_ignored, setup, teardown),
		cmocka_unit_test_prestate_setup_teardown(test_begin_url, setup, teardown,
		    (void *)&no_listen),
		cmocka_unit_test_prestate_setup_teardown(test_begin_scope, setup, teardown,
		    (void *)&scoped),
		cmocka_unit_test(test_begin_config),
		cmocka_unit_test_prestate_setup_teardown(test_paste, setup, teardown,
		    (void *)&no_listen),
		cmocka_unit_test_prestate_setup_teardown(test_finish_without_code, setup, teardown,
		    (void *)&no_listen),
		cmocka_unit_test_setup_teardown(test_sandbox_login, setup_sandbox, teardown),
		cmocka_unit_test_setup_teardown(test_sandbox_denied, setup_sandbox, teardown),
		cmocka_unit_test_prestate_setup_teardown(test_sandbox_iss, setup_sandbox, teardown,
		    (void *)&sandbox_issuer),
		cmocka_unit_test_prestate_setup_teardown(test_run_listen, setup_sandbox, teardown,
		    (void *)&no_listen),
		cmocka_unit_test_prestate_setup_teardown(test_run_ui_size, setup_sandbox, teardown,
		    (void *)&no_listen),
		cmocka_unit_test_prestate_setup_teardown(test_run_start_browser, setup_sandbox,
		    teardown, (void *)&no_listen),
		cmocka_unit_test_prestate_setup_teardown(test_run_port_taken, setup_sandbox,
		    teardown, (void *)&no_listen),
		cmocka_unit_test_prestate_setup_teardown(test_run_failures, setup_sandbox, teardown,
		    (void *)&no_listen),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
