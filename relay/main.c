/*
 * main.c - soundcloud-auth-relay: one CGI request, one answer.  A request
 * for redirect_uri's path is SoundCloud's redirect (the callback); anything
 * else is the form where the person enters the kiosk's code.  Only this file
 * knows what each outcome means to the person; request.c reads, respond.c
 * writes, db.c asks the database.
 */
#include "relay.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TITLE "Kiosk login"

/* What a status word of scauth_pairing_open or _callback comes to. */
struct outcome {
	const char *word;
	int status;
	const char *text;
	const char *headers;
};

static const struct outcome form_outcomes[] = {
	{ "unknown", 404, "No kiosk is waiting for this code. Check the code on the kiosk's "
	    "screen and enter it again.", NULL },
	{ "expired", 410, "This code has expired. Start the login at the kiosk again.", NULL },
	/* Opened once: a second phone never gets the pairing's state. */
	{ "used", 410, "This code was already used. Start again at the kiosk for a new one.",
	    NULL },
	{ "throttled", 429, "Too many wrong codes. Wait a few minutes, then try again.",
	    "Retry-After: 60\r\n" },
};

static const struct outcome callback_outcomes[] = {
	{ "unknown", 404, "This login is not known: it may have ended at the kiosk. Start again "
	    "there.", NULL },
	{ "expired", 410, "This login has expired. Start again at the kiosk.", NULL },
	{ "used", 410, "This login has been finished already.", NULL },
	{ "invalid", 400, "The redirect carries neither a code nor an error.", NULL },
};

static const char db_down[] = "The login service cannot reach its database. Nothing has "
    "changed; try again in a minute.";

static const char *
cgi_env(void *arg, const char *name)
{
	(void)arg;
	return getenv(name);
}

static const struct outcome *
find_outcome(const struct outcome *o, size_t n, const char *word)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(o[i].word, word) == 0)
			return &o[i];
	return NULL;
}

/* Answers a status word; the form again where another code may be tried. */
static void
answer(const char *kind, const struct outcome *o, size_t n, const char *word, const char *action)
{
	const struct outcome *hit = find_outcome(o, n, word);

	if (hit == NULL) {
		relay_log("%s: 500 unexpected status from the database", kind);
		relay_page(500, TITLE, "The login service gave an unexpected answer.", NULL, NULL);
		return;
	}
	relay_log("%s: %d %s", kind, hit->status, hit->word);
	relay_page(hit->status, TITLE, hit->text, hit->status == 404 ? action : NULL,
	    hit->headers);
}

/* "&name=value", percent-encoded. */
static int
add_param(struct sbuf *u, const char *name, const char *value)
{
	int r;

	if ((r = sbuf_addf(u, "&%s=", name)) != 0)
		return r;
	return url_escape(u, value, 0);
}

/* The authorize URL of this pairing: built here, from the config and the pairing only. */
static int
authorize_url(const struct relay_conf *c, const struct relay_pairing *p, struct sbuf *u)
{
	const char *scope = *p->scope != '\0' ? p->scope : c->scope;
	int r;

	r = sbuf_addstr(u, c->authorize_url);
	if (r == 0)
		r = sbuf_addstr(u, strchr(c->authorize_url, '?') != NULL ? "&" : "?");
	if (r == 0)
		r = sbuf_addstr(u, "response_type=code");
	if (r == 0)
		r = add_param(u, "client_id", c->client_id);
	if (r == 0)
		r = add_param(u, "redirect_uri", c->redirect_uri);
	if (r == 0)
		r = add_param(u, "code_challenge", p->challenge);
	if (r == 0)
		r = sbuf_addstr(u, "&code_challenge_method=S256");
	if (r == 0)
		r = add_param(u, "state", p->state);
	if (r == 0 && *scope != '\0')
		r = add_param(u, "scope", scope);
	return r;
}

static void
serve_code(const struct relay_conf *c, const struct relay_req *req)
{
	struct relay_pairing p;
	struct sbuf u = SBUF_INIT(RELAY_QUERY_MAX * 2);

	if (relay_db_open(c, req->code, req->addr, &p) != 0) {
		relay_log("form: 503 database unavailable");
		relay_page(503, TITLE, db_down, NULL, NULL);
		return;
	}
	if (strcmp(p.status, "ok") != 0)
		answer("form", form_outcomes, ARRAY_SIZE(form_outcomes), p.status, req->path);
	else if (authorize_url(c, &p, &u) != 0) {
		relay_log("form: 500 authorize URL too long");
		relay_page(500, TITLE, "The login could not be started here.", NULL, NULL);
	} else {
		relay_log("form: 303 ok");
		relay_redirect(sbuf_str(&u));
	}
	sbuf_free(&u);
	relay_pairing_free(&p);
}

static void
serve_callback(const struct relay_conf *c, const struct relay_req *req)
{
	struct sbuf text = SBUF_INIT(1024);
	char status[16];

	if (relay_db_callback(c, &req->cb, status, sizeof(status)) != 0) {
		relay_log("callback: 503 database unavailable");
		relay_page(503, TITLE, db_down, NULL, NULL);
		return;
	}
	if (strcmp(status, "ok") != 0) {
		answer("callback", callback_outcomes, ARRAY_SIZE(callback_outcomes), status, NULL);
		return;
	}
	if (req->cb.code != NULL) {
		relay_log("callback: 200 ok");
		relay_page(200, TITLE, "Logged in. Go back to the kiosk.", NULL, NULL);
		return;
	}
	/* error is RFC 6749's charset, the description made printable (lib/listen.c). */
	relay_log("callback: 200 error");
	if (sbuf_addf(&text, "SoundCloud did not log you in (%s%s%s). The kiosk has been told; "
	    "start again there.", req->cb.error, req->cb.error_description != NULL ? ": " : "",
	    req->cb.error_description != NULL ? req->cb.error_description : "") != 0)
		sbuf_addstr(&text, "SoundCloud did not log you in. The kiosk has been told.");
	relay_page(200, TITLE, sbuf_str(&text), NULL, NULL);
	sbuf_free(&text);
}

/* A POST's body: exactly CONTENT_LENGTH bytes of stdin. */
static int
read_body(struct relay_req *req, struct relay_refusal *no)
{
	char body[RELAY_BODY_MAX];
	size_t len, got = 0;
	ssize_t n;
	int r;

	if ((r = relay_req_body_len(cgi_env, NULL, &len, no)) != 0)
		return r;
	while (got < len) {
		n = read(STDIN_FILENO, body + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			no->status = 400;
			no->why = "The form ended early.";
			r = -1;
			goto out;
		}
		got += (size_t)n;
	}
	r = relay_req_body(req, body, len, no);
 out:
	scauth_wipe(body, sizeof(body));
	return r;
}

/* A request the relay does not serve; the form again where a typo was the trouble. */
static void
refused(const struct relay_req *req, const struct relay_refusal *no)
{
	const char *allow = NULL, *action = NULL;

	if (no->status == 405)
		allow = req->kind == REQ_CALLBACK ? "Allow: GET\r\n" : "Allow: GET, POST\r\n";
	if (req->kind == REQ_FORM && no->status == 400 && req->path[0] != '\0')
		action = req->path;
	relay_log("%s: %d refused", req->kind == REQ_CALLBACK ? "callback" : "form", no->status);
	relay_page(no->status, TITLE, no->why, action, allow);
}

static void
serve(const struct relay_conf *c)
{
	struct relay_req req;
	struct relay_refusal no;

	if (relay_req_parse(cgi_env, NULL, c->callback_path, &req, &no) != 0 ||
	    (req.method == METHOD_POST && read_body(&req, &no) != 0))
		refused(&req, &no);
	else if (req.kind == REQ_CALLBACK)
		serve_callback(c, &req);
	else if (req.code != NULL)
		serve_code(c, &req);
	else
		relay_page(200, TITLE, "Enter the code that the kiosk shows, like KQ7M-3XHB.",
		    req.path, NULL);
	relay_req_free(&req);
}

int
main(int argc, char **argv)
{
	struct relay_conf c;
	const char *path = getenv("SOUNDCLOUD_AUTH_RELAY_CONFIG");
	char err[512];

	/* A query without '=' may come as arguments too (RFC 3875 4.4): the query is read. */
	(void)argc;
	(void)argv;
	if (getenv("GATEWAY_INTERFACE") == NULL) {
		fprintf(stderr, "soundcloud-auth-relay: a CGI program: a web server runs it "
		    "(see soundcloud-auth-relay(8))\n");
		return 64;
	}
	if (path == NULL || *path == '\0')
		path = RELAY_CONFIG_DEFAULT;
	if (relay_conf_load(path, &c, err, sizeof(err)) != 0 ||
	    relay_db_check(&c, err, sizeof(err)) != 0) {
		relay_log("config: %s", err);
		relay_page(500, TITLE, "The login relay is not set up correctly; its log says why.",
		    NULL, NULL);
	} else
		serve(&c);
	relay_conf_free(&c);
	return 0;
}
