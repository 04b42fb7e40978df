/*
 * listen.c - the redirect listener of a login and the parser of what
 * arrives on it.
 *
 * The browser brings the authorization code back to redirect_uri: a plain
 * HTTP GET on a loopback (or kiosk LAN) port.  Anything may connect there:
 * other local programs, web pages probing ports, browsers that preconnect a
 * spare socket and never send a byte on it.  So the listener trusts nothing
 * but the state: every connection is read under a byte cap and a deadline of
 * its own, all of them in one poll loop so that an idle one cannot hold up
 * the real redirect, and a request without our state gets an error page while
 * the wait goes on.  Idle connections cannot starve the redirect either: when
 * every slot is taken, the connection that has been silent the longest is
 * dropped for the newcomer, the accept queue is drained on every turn (so a
 * browser's SYN is not dropped while idle peers hold the backlog), and a
 * newcomer's request, usually there as soon as it connects, is read at once.
 *
 * The browser is not given the authorize URL, whose state any local user can
 * read on its command line in /proc, but a one-time start address on this
 * listener that redirects to it and sets a cookie.  Whoever opens that
 * address second ends the login, and once it was opened, a callback without
 * the cookie ends it too: someone who read the state elsewhere cannot slip
 * their own account's code in.  callback_parse() is pure and fuzzed
 * (tests/fuzz/fuzz_callback.c).
 */
#include "internal.h"
#include "login.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CONN_MAX        32    /* connections read at once; more evict the idlest */
#define CONN_MS         5000  /* time one connection has to send its request head */
#define ACCEPT_BATCH    (CONN_MAX / 2) /* accepts per turn, so a newcomer is read before it can be evicted */
#define LISTEN_BACKLOG  128
#define CB_ERROR_MAX    64    /* an OAuth error code */
#define CB_DESC_MAX     200   /* the part of an error_description we repeat */
#define CB_VALUE_MAX    512   /* state and iss */
#define TRACE_PATH_MAX  64
#define PAGE_MAX        4096  /* one answer, head and page */
#define POLL_MAX_MS     60000 /* longest single poll(); the loop re-checks the deadline */

/* ------------------------------------------------------------------------ */
/* The parser. */

/* RFC 9110 tchar: what a header field name is made of. */
static int
is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Visible ASCII: no space, no control, no byte >= 0x80. */
static int
visible(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
	}
	return 1;
}

/*
 * Returns the length of the request head up to and including the blank line
 * that ends it, or 0 when it has not arrived in p[0..len).  Bare LF line ends
 * are accepted as RFC 9112 2.2 allows; scanning starts at from (a previous
 * length) so that a client trickling bytes costs linear time.
 */
static size_t
head_end(const char *p, size_t len, size_t from)
{
	size_t i;

	for (i = from > 3 ? from - 3 : 0; i < len; i++) {
		if (p[i] != '\n')
			continue;
		if (i + 1 < len && p[i + 1] == '\n')
			return i + 2;
		if (i + 2 < len && p[i + 1] == '\r' && p[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

/* "GET SP origin-form SP HTTP/1.x": only what a browser sends for a redirect. */
static int
request_line(const char *l, size_t n, const char **target, size_t *tlen)
{
	const char *sp, *version;
	size_t vlen;

	if (n < 4 || memcmp(l, "GET ", 4) != 0)
		return SCAUTH_EINVAL;
	if ((sp = memchr(l + 4, ' ', n - 4)) == NULL)
		return SCAUTH_EINVAL;
	version = sp + 1;
	vlen = (size_t)(l + n - version);
	if (vlen != 8 || (memcmp(version, "HTTP/1.1", 8) != 0 && memcmp(version, "HTTP/1.0", 8) != 0))
		return SCAUTH_EINVAL;
	*target = l + 4;
	*tlen = (size_t)(sp - *target);
	/* Fragments never reach a server; a '#' means this is no browser's redirect. */
	if (*tlen == 0 || **target != '/' || !visible(*target, *tlen) ||
	    memchr(*target, '#', *tlen) != NULL)
		return SCAUTH_EINVAL;
	return 0;
}

/* "name: value" with a token name; no controls but HTAB; no obsolete line folding. */
static int
header_line(const char *l, size_t n)
{
	size_t i = 0;

	while (i < n && is_tchar((unsigned char)l[i]))
		i++;
	if (i == 0 || i == n || l[i] != ':')
		return SCAUTH_EINVAL;
	for (i++; i < n; i++) {
		if (((unsigned char)l[i] < 0x20 && l[i] != '\t') || (unsigned char)l[i] == 0x7f)
			return SCAUTH_EINVAL;
	}
	return 0;
}

/* RFC 6749 4.1.2.1: error is %x20-21 / %x23-5B / %x5D-7E. */
static int
error_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > CB_ERROR_MAX)
		return 0;
	for (; *s; s++) {
		if (*s < 0x20 || *s > 0x7e || *s == '"' || *s == '\\')
			return 0;
	}
	return 1;
}

/* Makes an error_description safe to repeat: printable ASCII, capped. */
static void
sanitise(char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		if (i == CB_DESC_MAX) {
			s[i] = '\0';
			break;
		}
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			s[i] = '?';
	}
}

void
callback_free(struct callback *cb)
{
	if (cb == NULL)
		return;
	sfree(cb->code);
	sfree(cb->state);
	sfree(cb->error);
	sfree(cb->error_description);
	sfree(cb->iss);
	memset(cb, 0, sizeof(*cb));
}

int
callback_parse_query(const char *query, size_t n, struct callback *out)
{
	static const char *const keys[] = { "code", "state", "error", "error_description", "iss" };
	char **fields[] = { &out->code, &out->state, &out->error, &out->error_description, &out->iss };
	struct sbuf v = SBUF_INIT(MAX_CALLBACK_REQUEST);
	size_t i;
	int r = SCAUTH_EINTERNAL;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < ARRAY_SIZE(keys); i++) {
		sbuf_free(&v);
		v = (struct sbuf)SBUF_INIT(MAX_CALLBACK_REQUEST);
		if ((r = query_get(query, n, keys[i], &v)) < 0) {
			if (r != SCAUTH_ENOMEM)
				r = SCAUTH_EINVAL;
			goto out;
		}
		/* An empty value is as good as none for a description, malformed otherwise. */
		if (r == 0 || (v.len == 0 && fields[i] == &out->error_description))
			continue;
		if (v.len == 0 || strlen(sbuf_str(&v)) != v.len) {
			r = SCAUTH_EINVAL;
			goto out;
		}
		if ((*fields[i] = sbuf_steal(&v)) == NULL) {
			r = SCAUTH_ENOMEM;
			goto out;
		}
	}
	r = SCAUTH_EINVAL;
	if (out->code != NULL &&
	    (strlen(out->code) > MAX_TOKEN_LEN || !visible(out->code, strlen(out->code))))
		goto out;
	if (out->state != NULL &&
	    (strlen(out->state) > CB_VALUE_MAX || !visible(out->state, strlen(out->state))))
		goto out;
	if (out->iss != NULL &&
	    (strlen(out->iss) > CB_VALUE_MAX || !visible(out->iss, strlen(out->iss))))
		goto out;
	if (out->error != NULL && !error_valid(out->error))
		goto out;
	if (out->error_description != NULL)
		sanitise(out->error_description);
	r = 0;
 out:
	sbuf_free(&v);
	if (r != 0)
		callback_free(out);
	return r;
}

int
callback_parse(const char *req, size_t len, const char *expect_path, struct callback *out)
{
	const char *line, *eol, *target = NULL, *q;
	size_t end, n, tlen = 0, plen;
	int r = SCAUTH_EINVAL, first = 1;

	memset(out, 0, sizeof(*out));
	if (req == NULL || expect_path == NULL)
		goto out;
	if ((end = head_end(req, len, 0)) == 0 || end > MAX_CALLBACK_REQUEST)
		goto out;
	if (memchr(req, '\0', end) != NULL)
		goto out;
	for (line = req; line < req + end; line = eol + 1) {
		eol = memchr(line, '\n', (size_t)(req + end - line));
		n = (size_t)(eol - line);
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (memchr(line, '\r', n) != NULL)
			goto out;
		if (n == 0)
			break;          /* the blank line */
		if (first) {
			if (request_line(line, n, &target, &tlen) != 0)
				goto out;
			first = 0;
		} else if (header_line(line, n) != 0)
			goto out;
	}
	if (target == NULL)
		goto out;               /* a blank line before any request line */

	q = memchr(target, '?', tlen);
	plen = q != NULL ? (size_t)(q - target) : tlen;
	if (plen != strlen(expect_path) || memcmp(target, expect_path, plen) != 0) {
		r = 0;
		goto out;
	}
	if (q == NULL)
		r = callback_parse_query("", 0, out);
	else
		r = callback_parse_query(q + 1, (size_t)(target + tlen - q - 1), out);
	if (r == 0)
		r = 1;
 out:
	return r;
}

/* ------------------------------------------------------------------------ */
/* Judging a callback. */

int
callback_check(scauth_ctx *ctx, const struct callback *cb, const char *state)
{
	const char *issuer = ctx->cfg[CFG_ISSUER];
	const char *desc = cb->error_description;
	int code;

	if (!ct_streq(cb->state, state))
		return ctx_err(ctx, SCAUTH_ESTATE,
		    "callback: the state does not match: this login link is stale or forged");
	/* RFC 9207 2.4: checked before anything else is believed, error responses included. */
	if (issuer != NULL && *issuer != '\0' && cb->iss != NULL && strcmp(cb->iss, issuer) != 0)
		return ctx_err(ctx, SCAUTH_ESTATE,
		    "callback: iss is not the configured issuer %s (RFC 9207)", issuer);
	if (cb->error != NULL) {
		code = strcmp(cb->error, "access_denied") == 0 ? SCAUTH_EDENIED :
		    oauth_error_code(cb->error);
		return ctx_err(ctx, code, "login refused by SoundCloud: %s%s%s", cb->error,
		    desc != NULL ? ": " : "", desc != NULL ? desc : "");
	}
	if (cb->code == NULL)
		return ctx_err(ctx, SCAUTH_EPROTO, "callback: the redirect carries neither code nor error");
	return 0;
}

/* ------------------------------------------------------------------------ */
/* The listener. */

struct conn {
	int fd;
	long long deadline;     /* monotonic ms */
	long long active;       /* when it connected or last sent a byte */
	struct sbuf head;       /* holds the code: a secret */
};

/* What a connection came to. */
enum {
	SERVE_MORE = 1,         /* keep reading */
	SERVE_DONE = 2,         /* answered or dropped; the wait goes on */
};

int
html_escape(struct sbuf *b, const char *s)
{
	int r = 0;

	for (; *s != '\0' && r == 0; s++) {
		switch (*s) {
		case '&': r = sbuf_addstr(b, "&amp;"); break;
		case '<': r = sbuf_addstr(b, "&lt;"); break;
		case '>': r = sbuf_addstr(b, "&gt;"); break;
		case '"': r = sbuf_addstr(b, "&quot;"); break;
		case '\'': r = sbuf_addstr(b, "&#39;"); break;
		default: r = sbuf_addch(b, *s); break;
		}
	}
	return r;
}

static const char *
reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 302: return "Found";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 431: return "Request Header Fields Too Large";
	default: return "Error";
	}
}

/*
 * Sends all of msg and ends our side.  The answers are far smaller than a
 * fresh socket's send buffer, so a send that would block means a peer not
 * worth waiting for.  Unread bytes at close() make the kernel reset the
 * connection, and the answer with it: they are drained, up to the cap.
 */
static void
send_all(int fd, const char *p, size_t len)
{
	char drain[512];
	size_t off = 0, drained = 0;
	ssize_t k;

	while (off < len) {
		k = send(fd, p + off, len - off, MSG_NOSIGNAL);
		if (k == -1 && errno == EINTR)
			continue;
		if (k <= 0)
			return;
		off += (size_t)k;
	}
	shutdown(fd, SHUT_WR);
	while (drained < MAX_CALLBACK_REQUEST &&
	    (k = recv(fd, drain, sizeof(drain), MSG_DONTWAIT)) > 0)
		drained += (size_t)k;
	scauth_wipe(drain, sizeof(drain));
}

/*
 * Answers with a small page that loads nothing (its policy says so), then
 * closes.  detail is HTML already (escaped by the caller).  The page is far
 * smaller than a fresh socket's send buffer, so a send that would block means
 * a peer not worth waiting for.
 */
static void
reply(int fd, int status, const char *title, const char *detail)
{
	struct sbuf page = SBUF_INIT(PAGE_MAX), msg = SBUF_INIT(PAGE_MAX);

	if (sbuf_addf(&page, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	    "<title>SoundCloud login</title><style>body{font-family:sans-serif;"
	    "max-width:36em;margin:3em auto;padding:0 1em}</style></head>\n"
	    "<body><h1>%s</h1>\n<p>%s</p></body></html>\n", title, detail) != 0)
		goto out;
	if (sbuf_addf(&msg, "HTTP/1.1 %d %s\r\nContent-Type: text/html; charset=utf-8\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\nCache-Control: no-store\r\n"
	    "Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'\r\n"
	    "Referrer-Policy: no-referrer\r\nX-Content-Type-Options: nosniff\r\n\r\n",
	    status, reason(status), page.len) != 0 || sbuf_add(&msg, page.p, page.len) != 0)
		goto out;
	send_all(fd, msg.p, msg.len);
 out:
	sbuf_free(&page);
	sbuf_free(&msg);
}

static void
conn_close(struct conn *c)
{
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	sbuf_free(&c->head);
}

/*
 * The start address's answer: to the authorize URL, with the cookie that the
 * callback must bring back.  HttpOnly (no script reads it), SameSite=Lax (a
 * top-level redirect from SoundCloud still carries it), no caching.
 */
static int
reply_start(scauth_ctx *ctx, int fd, const struct listen_login *ll, int timeout_sec)
{
	struct sbuf msg = SBUF_INIT(MAX_CALLBACK_REQUEST * 2);
	int r;

	if ((r = sbuf_addf(&msg, "HTTP/1.1 302 Found\r\nLocation: %s\r\n"
	    "Set-Cookie: %s=%s; Path=/; Max-Age=%d; HttpOnly; SameSite=Lax\r\n"
	    "Content-Length: 0\r\nConnection: close\r\nCache-Control: no-store\r\n"
	    "Referrer-Policy: no-referrer\r\n\r\n", ll->authorize_url, ll->cookie_name,
	    ll->cookie, timeout_sec)) != 0) {
		r = ctx_err(ctx, r == SCAUTH_ENOMEM ? r : SCAUTH_EINTERNAL,
		    "callback: the start answer does not fit");
		goto out;
	}
	send_all(fd, msg.p, msg.len);
	r = 0;
 out:
	sbuf_free(&msg);
	return r;
}

int
head_has_cookie(const char *head, size_t len, const char *name, const char *value)
{
	const char *line, *eol, *end = head + len, *p, *e, *eq;
	size_t nlen = strlen(name), n;
	int found = 0;

	for (line = head; line < end; line = eol + 1) {
		if ((eol = memchr(line, '\n', (size_t)(end - line))) == NULL)
			break;
		n = (size_t)(eol - line);
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (n < 7 || strncasecmp(line, "Cookie:", 7) != 0)
			continue;
		/* "a=b; c=d": each pair, trimmed. */
		for (p = line + 7; p < line + n; p = e + 1) {
			while (p < line + n && (*p == ' ' || *p == '\t'))
				p++;
			if ((e = memchr(p, ';', (size_t)(line + n - p))) == NULL)
				e = line + n;
			eq = memchr(p, '=', (size_t)(e - p));
			if (eq != NULL && (size_t)(eq - p) == nlen && memcmp(p, name, nlen) == 0) {
				const char *v = eq + 1, *ve = e;
				char buf[CB_VALUE_MAX + 1];

				while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
					ve--;
				if ((size_t)(ve - v) <= CB_VALUE_MAX) {
					memcpy(buf, v, (size_t)(ve - v));
					buf[ve - v] = '\0';
					found |= ct_streq(buf, value);
					scauth_wipe(buf, sizeof(buf));
				}
			}
		}
	}
	return found;
}

/* The path of a request that callback_parse() accepted, for the trace (never the query). */
static void
trace_path(const struct sbuf *head, char *buf, size_t size)
{
	const char *p = head->p + 4;
	size_t n = strcspn(p, "? ");

	if (n >= size)
		n = size - 1;
	memcpy(buf, p, n);
	buf[n] = '\0';
}

/*
 * The start address: once it redirects and sets the cookie; opened again, by
 * whoever it is, it ends the login, since either visit may be a local user
 * who read it in /proc.  0 ends the login, SERVE_DONE goes on.
 */
static int
conn_start(scauth_ctx *ctx, struct conn *c, struct listen_login *ll, int timeout_sec)
{
	int r;

	if (ll->started) {
		reply(c->fd, 400, "Login stopped",
		    "This login address was opened twice, so someone else may have opened it. "
		    "The login was stopped; start it again.");
		ctx_trace(ctx, "callback: start address opened again -> 400, login stopped");
		return ctx_err(ctx, SCAUTH_ESTATE, "the login's start address was opened twice: "
		    "someone else may have opened it; the login was stopped, start it again");
	}
	if ((r = reply_start(ctx, c->fd, ll, timeout_sec)) != 0)
		return r;
	ll->started = 1;
	ctx_trace(ctx, "callback: start address -> 302 to the authorize URL");
	return SERVE_DONE;
}

/* Answers a complete request head; 0 or an error ends the login, SERVE_DONE goes on. */
static int
conn_answer(scauth_ctx *ctx, struct conn *c, struct listen_login *ll, int timeout_sec,
    struct callback *out)
{
	const char *path = ll->path, *state = ll->state;
	struct callback cb = { 0 };
	struct sbuf detail = SBUF_INIT(PAGE_MAX);
	char shown[TRACE_PATH_MAX + 1];
	int r;

	if (ll->start_path != NULL &&
	    (r = callback_parse(c->head.p, c->head.len, ll->start_path, &cb)) != 0) {
		callback_free(&cb);
		if (r == 1) {
			r = conn_start(ctx, c, ll, timeout_sec);
			goto out;
		}
		if (r == SCAUTH_ENOMEM) {
			r = ctx_err(ctx, r, "callback: out of memory");
			goto out;
		}
	}
	if ((r = callback_parse(c->head.p, c->head.len, path, &cb)) < 0) {
		if (r == SCAUTH_ENOMEM) {
			r = ctx_err(ctx, r, "callback: out of memory");
			goto out;
		}
		reply(c->fd, 400, "Bad request", "This is not a login redirect.");
		ctx_trace(ctx, "callback: malformed request -> 400");
		r = SERVE_DONE;
		goto out;
	}
	trace_path(&c->head, shown, sizeof(shown));
	if (r == 0) {
		/* The browser's favicon request and anything else that is not the redirect. */
		reply(c->fd, 404, "Not found", "Nothing here.");
		ctx_trace(ctx, "callback: GET %s -> 404", shown);
		r = SERVE_DONE;
		goto out;
	}
	/* Not ours: answer and go on, so that a forged request cannot end or spoil the login. */
	if (!ct_streq(cb.state, state)) {
		reply(c->fd, 400, "Login link not accepted",
		    "This login link is stale or forged.  If you started a login, "
		    "open the newest link it showed.");
		ctx_trace(ctx, "callback: GET %s -> 400 (wrong state)", shown);
		r = SERVE_DONE;
		goto out;
	}
	/* Our state, but not the browser that opened the start address: stop. */
	if (ll->started && !head_has_cookie(c->head.p, c->head.len, ll->cookie_name, ll->cookie)) {
		reply(c->fd, 400, "Login stopped",
		    "This answer did not come from the browser that started the login. "
		    "The login was stopped; start it again.");
		ctx_trace(ctx, "callback: GET %s -> 400 (not the browser that started)", shown);
		r = ctx_err(ctx, SCAUTH_ESTATE, "callback: the redirect did not come from the "
		    "browser that opened the login's start address; the login was stopped");
		goto out;
	}
	if ((r = callback_check(ctx, &cb, state)) == 0) {
		reply(c->fd, 200, "Logged in to SoundCloud - you can close this tab",
		    "The login goes on where you started it.");
		ctx_trace(ctx, "callback: GET %s -> 200", shown);
		*out = cb;      /* transferred */
		memset(&cb, 0, sizeof(cb));
		goto out;
	}
	if (cb.error != NULL) {
		if (sbuf_addstr(&detail, "SoundCloud answered: ") != 0 ||
		    html_escape(&detail, cb.error) != 0 ||
		    (cb.error_description != NULL && (sbuf_addstr(&detail, ": ") != 0 ||
		    html_escape(&detail, cb.error_description) != 0)))
			sbuf_reset(&detail);
		reply(c->fd, 400, "Login failed", sbuf_str(&detail));
	} else if (r == SCAUTH_ESTATE) {
		reply(c->fd, 400, "Login failed",
		    "The answer came from another server than the configured issuer.");
	} else {
		reply(c->fd, 400, "Login failed", "The redirect carried neither a code nor an error.");
	}
	ctx_trace(ctx, "callback: GET %s -> 400 (%s)", shown, scauth_strerror(r));
 out:
	sbuf_free(&detail);
	callback_free(&cb);
	return r;
}

/* Reads what has arrived on c; 0 or an error ends the login. */
static int
conn_serve(scauth_ctx *ctx, struct conn *c, struct listen_login *ll, int timeout_sec,
    struct callback *out)
{
	char chunk[1024];
	size_t room = MAX_CALLBACK_REQUEST - c->head.len, old = c->head.len;
	ssize_t k;
	int r;

	k = recv(c->fd, chunk, room < sizeof(chunk) ? room : sizeof(chunk), 0);
	if (k == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
		r = SERVE_MORE;
		goto out;
	}
	if (k <= 0) {
		r = SERVE_DONE;         /* gone before a whole request: nobody to answer */
		goto out;
	}
	c->active = mono_ms();
	if (sbuf_add(&c->head, chunk, (size_t)k) != 0) {
		r = ctx_err(ctx, SCAUTH_ENOMEM, "callback: out of memory");
		goto out;
	}
	if (head_end(c->head.p, c->head.len, old) == 0) {
		r = SERVE_MORE;
		if (c->head.len == MAX_CALLBACK_REQUEST) {
			reply(c->fd, 431, "Request too large", "The request head is too large.");
			ctx_trace(ctx, "callback: request head over %d bytes -> 431",
			    MAX_CALLBACK_REQUEST);
			r = SERVE_DONE;
		}
		goto out;
	}
	r = conn_answer(ctx, c, ll, timeout_sec, out);
 out:
	scauth_wipe(chunk, sizeof(chunk));
	return r;
}

int
listener_open(scauth_ctx *ctx, const struct url *u, int *fdp)
{
	struct addrinfo hints, *res = NULL, *ai;
	const char *host = u->host;
	char shown[300];
	int fd = -1, one = 1, saved = EADDRNOTAVAIL, r;

	*fdp = -1;
	snprintf(shown, sizeof(shown), "%s%s%s:%s", u->ipv6 ? "[" : "", host, u->ipv6 ? "]" : "",
	    u->port != NULL ? u->port : "");
	if (u->port == NULL) {
		r = ctx_err(ctx, SCAUTH_ECONFIG, "cannot listen on %s: redirect_uri has no port", shown);
		goto out;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = u->ipv6 ? AF_INET6 : AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | (u->ipv6 ? AI_NUMERICHOST : 0);
	if ((r = getaddrinfo(host, u->port, &hints, &res)) != 0) {
		if (r == EAI_SYSTEM)
			r = ctx_errno(ctx, SCAUTH_ESYSTEM, "cannot listen on %s", shown);
		else
			r = ctx_err(ctx, SCAUTH_ESYSTEM, "cannot listen on %s: %s", shown,
			    gai_strerror(r));
		res = NULL;
		goto out;
	}
	for (ai = res; ai != NULL && fd == -1; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
		    ai->ai_protocol);
		if (fd == -1) {
			saved = errno;
			continue;
		}
		/* Rebinding right after a previous login, while its port is in TIME_WAIT. */
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (ai->ai_family == AF_INET6)
			(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, LISTEN_BACKLOG) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	if (fd == -1) {
		errno = saved;
		r = ctx_errno(ctx, SCAUTH_ESYSTEM, "cannot listen on %s", shown);
		goto out;
	}
	ctx_trace(ctx, "login: listening on %s", shown);
	*fdp = fd;
	r = 0;
 out:
	if (res != NULL)
		freeaddrinfo(res);
	return r;
}

/* One wait for the browser's callback: the listening socket and its connections. */
struct waiter {
	scauth_ctx *ctx;
	int lfd;
	struct listen_login *ll;
	int timeout_sec;
	struct callback *out;
	struct conn conns[CONN_MAX];
	size_t nconn;
	int paused;             /* out of descriptors: no accept until one closes */
	size_t evicted;
	int conn_ms;
	struct listen_stats *st;
};

/* Closes connection i; the last one takes its place. */
static void
conn_drop(struct waiter *w, size_t i)
{
	conn_close(&w->conns[i]);
	w->conns[i] = w->conns[--w->nconn];
	w->paused = 0;
}

/* Closes the connections silent past their deadline; returns when to wake next. */
static long long
conns_expire(struct waiter *w, long long t, long long wake)
{
	size_t i;

	for (i = w->nconn; i-- > 0;) {
		if (w->conns[i].deadline <= t) {
			ctx_trace(w->ctx, "callback: no request within %d ms -> closed",
			    w->conn_ms);
			w->st->expired++;
			conn_drop(w, i);
		} else if (w->conns[i].deadline < wake)
			wake = w->conns[i].deadline;
	}
	return wake;
}

/* The poll set: every connection, then the listening socket unless paused. */
static size_t
poll_set(const struct waiter *w, struct pollfd *pfd)
{
	size_t n;

	for (n = 0; n < w->nconn; n++) {
		pfd[n].fd = w->conns[n].fd;
		pfd[n].events = POLLIN;
		pfd[n].revents = 0;
	}
	if (!w->paused) {
		pfd[n].fd = w->lfd;
		pfd[n].events = POLLIN;
		pfd[n].revents = 0;
		n++;
	}
	return n;
}

/* Serves connection i: 0 or an error ends the wait, SERVE_* goes on. */
static int
serve(struct waiter *w, size_t i)
{
	int r;

	r = conn_serve(w->ctx, &w->conns[i], w->ll, w->timeout_sec, w->out);
	if (r == SERVE_DONE)
		conn_drop(w, i);
	return r;
}

/* Serves the connections poll found ready. */
static int
serve_ready(struct waiter *w, const struct pollfd *pfd)
{
	size_t i;
	int r;

	/* Downwards, so that moving the last connection into a freed slot skips nothing. */
	for (i = w->nconn; i-- > 0;)
		if (pfd[i].revents != 0 && (r = serve(w, i)) <= 0)
			return r;
	return 1;
}

/* Full: the one silent the longest makes room. */
static void
make_room(struct waiter *w)
{
	size_t i, idlest;

	for (i = 1, idlest = 0; i < w->nconn; i++)
		if (w->conns[i].active < w->conns[idlest].active)
			idlest = i;
	conn_close(&w->conns[idlest]);
	w->conns[idlest] = w->conns[--w->nconn];
	w->st->evicted++;
	if (!w->evicted++)
		ctx_trace(w->ctx, "callback: all %d connections busy -> dropping the idlest",
		    CONN_MAX);
}

/* accept4 failed: 1 to go on (retry later, or paused), or an error. */
static int
accept_failed(struct waiter *w)
{
	if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
		/* Out of descriptors: wait for ours to close, if any. */
		if (w->nconn == 0)
			return ctx_errno(w->ctx, SCAUTH_ESYSTEM, "callback: accept");
		w->paused = 1;
	} else if (errno == EBADF || errno == EINVAL || errno == ENOTSOCK)
		return ctx_errno(w->ctx, SCAUTH_ESYSTEM, "callback: accept");
	return 1;       /* EAGAIN, or an error that accept(2) says to retry */
}

/* Accepts up to ACCEPT_BATCH connections, each served at once. */
static int
accept_batch(struct waiter *w)
{
	struct conn *c;
	size_t batch;
	int fd, r;

	for (batch = 0; batch < ACCEPT_BATCH; batch++) {
		if ((fd = accept4(w->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) == -1)
			return accept_failed(w);
		if (w->nconn == CONN_MAX)
			make_room(w);
		c = &w->conns[w->nconn++];
		c->fd = fd;
		c->active = mono_ms();
		c->deadline = c->active + w->conn_ms;
		w->st->accepted++;
		c->head = (struct sbuf)SBUF_INIT(MAX_CALLBACK_REQUEST);
		/* A browser sends its request with the connection: answer it now. */
		if ((r = serve(w, w->nconn - 1)) <= 0)
			return r;
	}
	return 1;
}

/* One round: expire, poll, serve, accept.  1 goes on; 0 or an error ends the wait. */
static int
wait_round(struct waiter *w, long long deadline)
{
	struct pollfd pfd[CONN_MAX + 1];
	long long t, wake;
	size_t npfd;
	int accepting, r;

	t = mono_ms();
	if (t >= deadline)
		return ctx_err(w->ctx, SCAUTH_ETIMEOUT, "no answer from the browser within %d s",
		    w->timeout_sec);
	wake = conns_expire(w, t, deadline);
	accepting = !w->paused;
	npfd = poll_set(w, pfd);
	if (wake - t > POLL_MAX_MS)
		wake = t + POLL_MAX_MS;
	if (poll(pfd, npfd, (int)(wake - t)) == -1)
		return errno == EINTR ? 1 : ctx_errno(w->ctx, SCAUTH_ESYSTEM, "callback: poll");
	if ((r = serve_ready(w, pfd)) <= 0)
		return r;
	if (!accepting || pfd[npfd - 1].revents == 0)
		return 1;
	return accept_batch(w);
}

int
listener_wait(scauth_ctx *ctx, int lfd, struct listen_login *ll, int timeout_sec,
    struct callback *out)
{
	struct listen_stats unused = { 0 };
	struct waiter w;
	long long deadline;
	size_t i;
	int r;

	memset(out, 0, sizeof(*out));
	memset(&w, 0, sizeof(w));
	w.ctx = ctx;
	w.lfd = lfd;
	w.ll = ll;
	w.timeout_sec = timeout_sec;
	w.out = out;
	w.st = ll->stats != NULL ? ll->stats : &unused;
	w.conn_ms = ll->conn_ms > 0 ? ll->conn_ms : CONN_MS;
	deadline = mono_ms() + (long long)timeout_sec * 1000;
	while ((r = wait_round(&w, deadline)) > 0)
		;
	for (i = 0; i < w.nconn; i++)
		conn_close(&w.conns[i]);
	return r;
}
