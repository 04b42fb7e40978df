/*
 * login.c - the Authorization Code login with PKCE (RFC 7636, RFC 8252).
 *
 * A login is one verifier and one state: begin makes them and the authorize
 * URL; the code comes back either to the listener on redirect_uri (listen.c),
 * or pasted by a person, or through the relay and the fleet's database from a
 * person's phone (pair.c); finish trades it for tokens and asks /me who logged
 * in.  redirect_uri is checked here once, so that listen and paste can trust
 * its parts.  Nothing here is stored: the caller decides with
 * scauth_token_save().
 */
#include "internal.h"
#include "login.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define MAX_AUTHORIZE_URL 8192  /* the URL we build from configured values */
#define PASTE_MAX         MAX_CALLBACK_REQUEST

#define START_PREFIX      "/soundcloud-auth-start-"
#define COOKIE_PREFIX     "scauth_login_"

struct scauth_login {
	char *verifier;                 /* secret */
	char *code;                     /* secret; NULL until the redirect came */
	char state[STATE_LEN + 1];
	char *url;                      /* the authorize URL */
	struct url redirect;            /* redirect_uri in parts */
	int fd;                         /* the listener; -1 when none */
	char *start_url;                /* the one-time start address; NULL until listening */
	char start_path[sizeof(START_PREFIX) + STATE_LEN];
	char cookie_name[sizeof(COOKIE_PREFIX) + 6];
	char cookie[STATE_LEN + 1];     /* proves the callback came from that browser */
	int started;                    /* the start address was opened */
	int conn_ms;                    /* tests: login_listen_tune() */
	struct listen_stats *stats;
	struct login_page page;         /* the browser's page; removed when the login ends */
	int relay;                      /* paired with a phone: the code comes from the relay */
	struct pairing pair;
};

/* "localhost" and the names under it (RFC 6761 6.3), in any case. */
static int
is_localhost(const char *host)
{
	size_t n = strlen(host);

	if (n > 0 && host[n - 1] == '.')
		n--;            /* the absolute form, "localhost." */
	return (n == 9 && strncasecmp(host, "localhost", 9) == 0) ||
	    (n > 10 && strncasecmp(host + n - 10, ".localhost", 10) == 0);
}

/*
 * http://host:port/path is what a loopback or kiosk listener can serve; the
 * port must be explicit, since 80 would need root and is never meant.  An
 * https redirect_uri cannot be served by our plain listener, but it is fine
 * for paste mode (a page that shows the code), so it may omit the port.
 */
static int
redirect_check(scauth_ctx *ctx, const char *uri, struct url *u)
{
	memset(u, 0, sizeof(*u));
	if (uri == NULL || *uri == '\0')
		return ctx_err(ctx, SCAUTH_ECONFIG, "redirect_uri is not set");
	if (url_parse(uri, u) != 0)
		return ctx_err(ctx, SCAUTH_ECONFIG,
		    "redirect_uri %s is not an http(s)://host:port/path URL", uri);
	/*
	 * RFC 8252 8.3: a name may resolve to more than the address we listen on.
	 * Browsers try ::1 first for localhost, and any local user may bind
	 * [::1]:port and take the redirect with its code and state.
	 */
	if (strcmp(u->scheme, "http") == 0 && is_localhost(u->host))
		return ctx_err(ctx, SCAUTH_ECONFIG, "redirect_uri %s names localhost, which "
		    "may resolve to ::1 as well as 127.0.0.1; use http://127.0.0.1:%s%s (RFC 8252 "
		    "8.3) and register that URI", uri, u->port != NULL ? u->port : "8765", u->path);
	/* url_parse() took care that a port given is 1..65535. */
	if (u->port == NULL && strcmp(u->scheme, "http") == 0)
		return ctx_err(ctx, SCAUTH_ECONFIG, "redirect_uri %s needs an explicit "
		    "port, such as http://127.0.0.1:8765/callback", uri);
	return 0;
}

/* Appends "&key=value" (no '&' when first), the value percent-encoded. */
static int
add_param(struct sbuf *b, int first, const char *key, const char *value)
{
	int r;

	if ((r = sbuf_addf(b, "%s%s=", first ? "" : "&", key)) != 0)
		return r;
	return url_escape(b, value, 0);
}

int
scauth_login_begin(scauth_ctx *ctx, scauth_login **out)
{
	struct scauth_login *lg = NULL;
	struct sbuf url = SBUF_INIT(MAX_AUTHORIZE_URL);
	struct url authz = { 0 };
	char verifier[PKCE_VERIFIER_LEN + 1] = "", challenge[44] = "";
	const char *client_id, *scope, *authorize_url;
	int r;

	if (out == NULL)
		return ctx_err(ctx, SCAUTH_EINVAL, "no place for the result");
	*out = NULL;
	if (!ctx->loaded) {
		r = ctx_err(ctx, SCAUTH_EINVAL, "the context is not loaded");
		goto out;
	}
	client_id = ctx->cfg[CFG_CLIENT_ID];
	scope = ctx->cfg[CFG_SCOPE];
	authorize_url = ctx->cfg[CFG_AUTHORIZE_URL];
	if (client_id == NULL || *client_id == '\0') {
		r = ctx_err(ctx, SCAUTH_ECONFIG,
		    "client_id is not set (config key client_id or SOUNDCLOUD_CLIENT_ID)");
		goto out;
	}
	if (authorize_url == NULL || url_parse(authorize_url, &authz) != 0 ||
	    strcmp(authz.scheme, "https") != 0) {
		r = ctx_err(ctx, SCAUTH_ECONFIG, "authorize_url is not an https URL");
		goto out;
	}
	if ((lg = calloc(1, sizeof(*lg))) == NULL) {
		r = ctx_err(ctx, SCAUTH_ENOMEM, "out of memory");
		goto out;
	}
	lg->fd = -1;
	if ((r = redirect_check(ctx, ctx->cfg[CFG_REDIRECT_URI], &lg->redirect)) != 0)
		goto out;
	if ((r = pkce_verifier(ctx, verifier)) != 0 ||
	    (r = pkce_challenge(ctx, verifier, challenge)) != 0 ||
	    (r = random_state(ctx, lg->state)) != 0)
		goto out;
	if ((lg->verifier = sstrdup(verifier)) == NULL) {
		r = ctx_err(ctx, SCAUTH_ENOMEM, "out of memory");
		goto out;
	}
	if ((r = sbuf_addstr(&url, authorize_url)) != 0 ||
	    (r = sbuf_addch(&url, authz.query != NULL ? '&' : '?')) != 0 ||
	    (r = add_param(&url, 1, "client_id", client_id)) != 0 ||
	    (r = add_param(&url, 0, "redirect_uri", ctx->cfg[CFG_REDIRECT_URI])) != 0 ||
	    (r = add_param(&url, 0, "response_type", "code")) != 0 ||
	    (r = add_param(&url, 0, "code_challenge", challenge)) != 0 ||
	    (r = add_param(&url, 0, "code_challenge_method", "S256")) != 0 ||
	    (r = add_param(&url, 0, "state", lg->state)) != 0 ||
	    (scope != NULL && *scope != '\0' && (r = add_param(&url, 0, "scope", scope)) != 0)) {
		r = r == SCAUTH_ENOMEM ? ctx_err(ctx, r, "out of memory") :
		    ctx_err(ctx, SCAUTH_ECONFIG, "the authorize URL would be too long");
		goto out;
	}
	if ((lg->url = sbuf_steal(&url)) == NULL) {
		r = ctx_err(ctx, SCAUTH_ENOMEM, "out of memory");
		goto out;
	}
	*out = lg;
	lg = NULL;      /* transferred */
	r = 0;
 out:
	scauth_wipe(verifier, sizeof(verifier));
	url_free(&authz);
	sbuf_free(&url);
	scauth_login_free(lg);
	return r;
}

const char *
scauth_login_url(const scauth_login *lg)
{
	return lg != NULL ? lg->url : NULL;
}

/*
 * The start address: redirect_uri's origin and a path of its own with a
 * random part, so that a page in the browser cannot guess it and spend it.
 * It carries no secret: any local user may read it on the browser's command
 * line, which is why it works once.
 */
static int
make_start(scauth_ctx *ctx, scauth_login *lg)
{
	const struct url *u = &lg->redirect;
	struct sbuf b = SBUF_INIT(MAX_AUTHORIZE_URL);
	char nonce[STATE_LEN + 1];
	int r;

	if ((r = random_state(ctx, nonce)) != 0 || (r = random_state(ctx, lg->cookie)) != 0)
		goto out;
	snprintf(lg->start_path, sizeof(lg->start_path), START_PREFIX "%.22s", nonce);
	/* Cookies go by host, not port: two logins on one host keep theirs apart. */
	snprintf(lg->cookie_name, sizeof(lg->cookie_name), COOKIE_PREFIX "%s", u->port);
	if ((r = sbuf_addf(&b, "%s://%s%s%s:%s%s", u->scheme, u->ipv6 ? "[" : "", u->host,
	    u->ipv6 ? "]" : "", u->port, lg->start_path)) != 0) {
		r = ctx_err(ctx, r == SCAUTH_ENOMEM ? r : SCAUTH_ECONFIG,
		    "the start address would be too long");
		goto out;
	}
	if ((lg->start_url = sbuf_steal(&b)) == NULL)
		r = ctx_err(ctx, SCAUTH_ENOMEM, "out of memory");
 out:
	scauth_wipe(nonce, sizeof(nonce));
	sbuf_free(&b);
	return r;
}

int
scauth_login_listen(scauth_ctx *ctx, scauth_login *lg)
{
	int r;

	if (lg == NULL)
		return ctx_err(ctx, SCAUTH_EINVAL, "no login");
	if (lg->fd != -1 || lg->code != NULL)
		return 0;
	/*
	 * ESYSTEM like any other reason the listener cannot run, so that front
	 * ends fall back to paste, which is what an https redirect_uri is for.
	 */
	if (strcmp(lg->redirect.scheme, "http") != 0)
		return ctx_err(ctx, SCAUTH_ESYSTEM, "cannot listen on %s: an https redirect_uri "
		    "cannot be served here; paste the redirect instead", lg->redirect.host);
	if (lg->start_url == NULL && (r = make_start(ctx, lg)) != 0)
		return r;
	return listener_open(ctx, &lg->redirect, &lg->fd);
}

const char *
scauth_login_start_url(const scauth_login *lg)
{
	return lg != NULL && lg->fd != -1 ? lg->start_url : NULL;
}

int
scauth_login_page(scauth_ctx *ctx, scauth_login *lg, const char **address)
{
	int r;

	if (address == NULL)
		return ctx_err(ctx, SCAUTH_EINVAL, "no place for the result");
	*address = NULL;
	if (lg == NULL || lg->fd == -1 || lg->start_url == NULL)
		return ctx_err(ctx, SCAUTH_EINVAL, "not listening (scauth_login_listen first)");
	if (lg->page.url[0] == '\0' &&
	    (r = login_page_write(ctx, lg->start_url, &lg->page)) != 0)
		return r;
	*address = lg->page.url;
	return 0;
}

/*
 * The relay's callback goes to redirect_uri (the relay's own, registered at
 * SoundCloud), so the exchange at finish names it as it is: nothing else
 * changes for a login that a phone completes.
 */
int
scauth_login_pair(scauth_ctx *ctx, scauth_login *lg)
{
	char challenge[44] = "";
	int r;

	if (lg == NULL)
		return ctx_err(ctx, SCAUTH_EINVAL, "login: no login");
	if (lg->relay)
		return 0;
	if ((r = pkce_challenge(ctx, lg->verifier, challenge)) != 0)
		return r;
	if ((r = pairing_create(ctx, &lg->pair, lg->state, challenge)) != 0)
		return r;
	lg->relay = 1;
	return 0;
}

const char *
scauth_login_pair_code(const scauth_login *lg)
{
	return lg != NULL && lg->relay ? lg->pair.shown : NULL;
}

const char *
scauth_login_pair_address(const scauth_login *lg)
{
	return lg != NULL && lg->relay ? lg->pair.address : NULL;
}

const char *
scauth_login_pair_link(const scauth_login *lg)
{
	return lg != NULL && lg->relay ? lg->pair.link : NULL;
}

void
scauth_login_unpair(scauth_ctx *ctx, scauth_login *lg)
{
	if (ctx != NULL && lg != NULL && lg->relay)
		pairing_drop(ctx, &lg->pair, lg->state);
}

int
scauth_login_wait(scauth_ctx *ctx, scauth_login *lg, int timeout_sec)
{
	struct listen_login ll = { 0 };
	struct callback cb = { 0 };
	int r;

	if (lg == NULL) {
		r = ctx_err(ctx, SCAUTH_EINVAL, "no login");
		goto out;
	}
	if (lg->code != NULL) {
		r = 0;
		goto out;
	}
	if (lg->relay) {
		r = timeout_sec > 0 ? pairing_wait(ctx, &lg->pair, lg->state, timeout_sec, &lg->code) :
		    ctx_err(ctx, SCAUTH_EINVAL, "login: the timeout must be positive");
		goto out;
	}
	if (lg->fd == -1) {
		r = ctx_err(ctx, SCAUTH_EINVAL, "not listening (scauth_login_listen first)");
		goto out;
	}
	if (timeout_sec <= 0) {
		r = ctx_err(ctx, SCAUTH_EINVAL, "the timeout must be positive");
		goto out;
	}
	ll.path = lg->redirect.path;
	ll.state = lg->state;
	ll.start_path = lg->start_path;
	ll.authorize_url = lg->url;
	ll.cookie_name = lg->cookie_name;
	ll.cookie = lg->cookie;
	ll.started = lg->started;
	ll.conn_ms = lg->conn_ms;
	ll.stats = lg->stats;
	r = listener_wait(ctx, lg->fd, &ll, timeout_sec, &cb);
	lg->started = ll.started;       /* a later wait must not hand it out again */
	if (r != 0)
		goto out;
	lg->code = cb.code;
	cb.code = NULL; /* transferred */
	/* Served its purpose: later requests (a favicon) are refused at once, not left hanging. */
	close(lg->fd);
	lg->fd = -1;
	login_page_remove(&lg->page);
 out:
	callback_free(&cb);
	return r;
}

/* What a redirect URL (or its query) looks like, as opposed to a bare code. */
static int
looks_like_url(const char *s, size_t n)
{
	return n > 0 && (s[0] == '/' || s[0] == '?' || memmem(s, n, "://", 3) != NULL ||
	    memmem(s, n, "code=", 5) != NULL || memmem(s, n, "state=", 6) != NULL ||
	    memmem(s, n, "error=", 6) != NULL);
}

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/*
 * A pasted URL is judged by its state alone: its scheme, host and path are
 * whatever the browser showed and prove nothing, while the state does (and
 * PKCE binds the code to this login anyway).  A bare code has no state: a
 * person copied it from a page of ours or SoundCloud's, and only the holder
 * of the verifier can spend it.
 */
int
scauth_login_paste(scauth_ctx *ctx, scauth_login *lg, const char *input)
{
	struct callback cb = { 0 };
	const char *s, *e, *q, *hash;
	size_t n, i;
	char *code = NULL;
	int r;

	if (lg == NULL || input == NULL) {
		r = ctx_err(ctx, SCAUTH_EINVAL, "paste: no login or no input");
		goto out;
	}
	for (s = input; is_space(*s); s++)
		;
	for (e = s + strlen(s); e > s && is_space(e[-1]); e--)
		;
	n = (size_t)(e - s);
	if (n == 0) {
		r = ctx_err(ctx, SCAUTH_EINVAL, "paste: nothing was pasted");
		goto out;
	}
	if (n > PASTE_MAX) {
		r = ctx_err(ctx, SCAUTH_EINVAL, "paste: the input is too long");
		goto out;
	}
	if (looks_like_url(s, n)) {
		if ((q = memchr(s, '?', n)) != NULL)
			q++;
		else if (memchr(s, '=', n) != NULL && memmem(s, n, "://", 3) == NULL)
			q = s;  /* just the query, "code=..&state=.." */
		else {
			r = ctx_err(ctx, SCAUTH_EINVAL, "paste: the URL carries no code and state");
			goto out;
		}
		if ((hash = memchr(q, '#', (size_t)(e - q))) != NULL)
			e = hash;
		if ((r = callback_parse_query(q, (size_t)(e - q), &cb)) != 0) {
			r = r == SCAUTH_ENOMEM ? ctx_err(ctx, r, "paste: out of memory") :
			    ctx_err(ctx, SCAUTH_EINVAL, "paste: the redirect URL is malformed");
			goto out;
		}
		if ((r = callback_check(ctx, &cb, lg->state)) != 0)
			goto out;
		code = cb.code;
		cb.code = NULL;
	} else {
		for (i = 0; i < n; i++) {
			if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
				break;
		}
		if (i < n || n > MAX_TOKEN_LEN) {
			r = ctx_err(ctx, SCAUTH_EINVAL,
			    "paste: that is neither the redirect URL nor an authorization code");
			goto out;
		}
		if ((code = sstrndup(s, n)) == NULL) {
			r = ctx_err(ctx, SCAUTH_ENOMEM, "paste: out of memory");
			goto out;
		}
	}
	sfree(lg->code);
	lg->code = code;
	code = NULL;    /* transferred */
	r = 0;
 out:
	sfree(code);
	callback_free(&cb);
	return r;
}

int
scauth_login_finish(scauth_ctx *ctx, scauth_login *lg, scauth_token **out)
{
	struct scauth_token *tok = NULL;
	int r;

	if (out == NULL)
		return ctx_err(ctx, SCAUTH_EINVAL, "no place for the result");
	*out = NULL;
	if (lg == NULL || lg->code == NULL) {
		r = ctx_err(ctx, SCAUTH_EINVAL, "no authorization code yet");
		goto out;
	}
	r = oauth_code(ctx, lg->code, lg->verifier, &tok);
	/* A code is spent by its first exchange, whatever came of it. */
	sfree(lg->code);
	lg->code = NULL;
	if (r != 0)
		goto out;
	/* Without an identity the login is not done: PAM decides on it. */
	if ((r = oauth_me(ctx, tok)) != 0)
		goto out;
	*out = tok;
	tok = NULL;     /* transferred */
 out:
	scauth_token_free(tok);
	return r;
}

void
scauth_login_free(scauth_login *lg)
{
	if (lg == NULL)
		return;
	if (lg->fd != -1)
		close(lg->fd);
	login_page_remove(&lg->page);
	pairing_free(&lg->pair);
	sfree(lg->verifier);
	sfree(lg->code);
	sfree(lg->url);
	free(lg->start_url);
	url_free(&lg->redirect);
	scauth_wipe(lg, sizeof(*lg));
	free(lg);
}

void
login_pair_stopped(scauth_login *lg, int (*stopped)(void *), void *arg)
{
	lg->pair.stopped = stopped;
	lg->pair.stopped_arg = arg;
}

void
login_listen_tune(scauth_login *lg, int conn_ms, struct listen_stats *stats)
{
	lg->conn_ms = conn_ms;
	lg->stats = stats;
}

const char *
login_redirect_scheme(const scauth_login *lg)
{
	return lg->redirect.scheme;
}

const char *
login_verifier(const scauth_login *lg)
{
	return lg->verifier;
}

const char *
login_code(const scauth_login *lg)
{
	return lg->code;
}
