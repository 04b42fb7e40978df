/*
 * oauth.c - SoundCloud's token endpoint, sign-out, /me and plain API calls.
 *
 * The three grants are sent exactly as SoundCloud documents them in its API
 * guide: authorization_code and refresh_token carry the
 * client id and secret in the form body; client_credentials carries them only
 * in an "Authorization: Basic" header over the form-urlencoded id and secret
 * (RFC 6749 2.3.1), never both ways in one request.  Every answer that is not
 * a well-formed success becomes one SCAUTH_E* code with a message naming the
 * endpoint, the status and the server's error and description.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_EXPIRES_IN 3600  /* SoundCloud's tokens live an hour when it does not say */
#define DEFAULT_BACKOFF    60    /* a 429 with neither reset_time nor Retry-After */
#define MAX_BACKOFF        (12 * 3600)  /* SoundCloud's longest window; a wilder date is wrong */
#define MAX_FORM_BODY      (64 * 1024)  /* a token request we build */

static int
is_json(const struct http_resp *resp)
{
	const char *ct = resp->content_type;

	/* Servers are sloppy with Content-Type; trust the body's first byte as well. */
	if (ct != NULL && strncasecmp(ct, "application/json", 16) == 0)
		return 1;
	return resp->body.len > 0 && (resp->body.p[0] == '{' || resp->body.p[0] == '[');
}

/*
 * Turns a non-2xx answer into an error.  what names the endpoint for the
 * message; retry_at (may be NULL) receives when to try again after a 429.
 */
static int
server_error(scauth_ctx *ctx, const char *what, const struct http_resp *resp, time_t *retry_at)
{
	struct oauth_error oe;
	char when[40], scheme[64] = "";
	int code, json;
	time_t until;

	json = is_json(resp) && json_oauth_error(sbuf_str(&resp->body), resp->body.len, &oe);
	if (resp->status >= 300 && resp->status < 400)
		return ctx_err(ctx, SCAUTH_EPROTO, "%s redirected (HTTP %ld); redirects are not followed",
		    what, resp->status);
	if (resp->status == 429 || (json && oauth_error_code(oe.error) == SCAUTH_ERATELIMIT)) {
		if (json && oe.reset_time > now())
			until = oe.reset_time;
		else if (resp->retry_after >= 0)
			until = now() + resp->retry_after;
		else
			until = now() + DEFAULT_BACKOFF;
		if (until > now() + MAX_BACKOFF)
			until = now() + MAX_BACKOFF;
		if (retry_at != NULL)
			*retry_at = until;
		format_utc(until, when, sizeof(when));
		return ctx_err(ctx, SCAUTH_ERATELIMIT, "%s: rate limited by the server until %s",
		    what, when);
	}
	if (!json) {
		/* A CDN outage page, a proxy's HTML: the service is not there. */
		return ctx_err(ctx, SCAUTH_EUNAVAIL, "%s answered HTTP %ld without a JSON body",
		    what, resp->status);
	}
	if (resp->status >= 500)
		code = SCAUTH_EUNAVAIL;
	else if (oe.error[0] != '\0')
		code = oauth_error_code(oe.error);
	else if (resp->status == 401)
		code = SCAUTH_ETOKEN;
	else
		code = SCAUTH_EHTTP;
	/* The challenge's scheme says which credentials the server wanted (RFC 6749 5.2). */
	if (resp->www_authenticate != NULL)
		snprintf(scheme, sizeof(scheme), "; it asks for %.*s authentication",
		    (int)strcspn(resp->www_authenticate, " ,"), resp->www_authenticate);
	return ctx_err(ctx, code, "%s: HTTP %ld%s%s%s%s%s%s", what, resp->status,
	    oe.error[0] ? " " : "", oe.error, oe.description[0] ? " (" : "", oe.description,
	    oe.description[0] ? ")" : "", scheme);
}

/* Adds "&name=value" (form-encoded) to a request body. */
static int
form_add(struct sbuf *b, const char *name, const char *value)
{
	int r;

	if ((b->len > 0 && (r = sbuf_addch(b, '&')) != 0) ||
	    (r = url_escape(b, name, 1)) != 0 || (r = sbuf_addch(b, '=')) != 0 ||
	    (r = url_escape(b, value, 1)) != 0)
		return r;
	return SCAUTH_OK;
}

/* A request we could not build is our side's problem, not a malformed answer. */
static int
build_error(scauth_ctx *ctx, int r)
{
	if (r == SCAUTH_EPROTO)
		return ctx_err(ctx, SCAUTH_ECONFIG, "token request too large: the client id, "
		    "secret or code is implausibly long");
	return r;
}

static int
need_client_id(scauth_ctx *ctx)
{
	if (ctx->cfg[CFG_CLIENT_ID] == NULL)
		return ctx_err(ctx, SCAUTH_ECONFIG,
		    "no client_id: set it in the config or SOUNDCLOUD_CLIENT_ID");
	return SCAUTH_OK;
}

/* Posts a token request and turns the answer into a new record. */
static int
token_post(scauth_ctx *ctx, const char *grant, const struct sbuf *body, const char *basic,
    struct scauth_token **out, time_t *retry_at)
{
	struct http_req req;
	struct http_resp resp;
	struct token_reply tr;
	struct scauth_token *t = NULL;
	char why[160], what[64];
	int r;

	memset(&tr, 0, sizeof(tr));
	snprintf(what, sizeof(what), "token endpoint (%s)", grant);
	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.url = ctx->cfg[CFG_TOKEN_URL];
	req.authorization = basic;
	req.content_type = "application/x-www-form-urlencoded";
	req.body = sbuf_str(body);
	req.bodylen = body->len;
	req.max_body = MAX_TOKEN_RESPONSE;
	if ((r = http_do(ctx, &req, &resp)) != 0)
		return r;
	if (resp.status < 200 || resp.status > 299) {
		r = server_error(ctx, what, &resp, retry_at);
		goto out;
	}
	if ((r = json_token_reply(sbuf_str(&resp.body), resp.body.len, &tr, why, sizeof(why))) != 0) {
		r = ctx_err(ctx, r, "%s: %s", what, why);
		goto out;
	}
	if ((t = record_new()) == NULL) {
		r = SCAUTH_ENOMEM;
		goto out;
	}
	t->access = tr.access;
	t->refresh = tr.refresh;
	t->scope = tr.scope;
	tr.access = tr.refresh = tr.scope = NULL;       /* transferred */
	t->obtained_at = now();
	t->expires_at = t->obtained_at + (tr.expires_in >= 0 ? tr.expires_in : DEFAULT_EXPIRES_IN);
	*out = t;
	ctx_trace(ctx, "token: %s grant issued a token for %ld s%s", grant,
	    (long)(t->expires_at - t->obtained_at), t->refresh ? " with a refresh token" : "");
	r = SCAUTH_OK;
 out:
	token_reply_free(&tr);
	http_resp_free(&resp);
	return r;
}

int
oauth_code(scauth_ctx *ctx, const char *code, const char *verifier, struct scauth_token **out)
{
	struct sbuf body = SBUF_INIT(MAX_FORM_BODY);
	const char *secret;
	int r;

	*out = NULL;
	if ((r = need_client_id(ctx)) != 0 || (r = config_client_secret(ctx, &secret)) != 0)
		return r;
	if ((r = form_add(&body, "grant_type", "authorization_code")) != 0 ||
	    (r = form_add(&body, "code", code)) != 0 ||
	    (r = form_add(&body, "code_verifier", verifier)) != 0 ||
	    (r = form_add(&body, "redirect_uri", ctx->cfg[CFG_REDIRECT_URI])) != 0 ||
	    (r = form_add(&body, "client_id", ctx->cfg[CFG_CLIENT_ID])) != 0 ||
	    (r = form_add(&body, "client_secret", secret)) != 0) {
		r = build_error(ctx, r);
		goto out;
	}
	r = token_post(ctx, "authorization_code", &body, NULL, out, NULL);
 out:
	sbuf_free(&body);
	return r;
}

int
oauth_refresh(scauth_ctx *ctx, const char *refresh, struct scauth_token **out, time_t *retry_at)
{
	struct sbuf body = SBUF_INIT(MAX_FORM_BODY);
	const char *secret;
	int r;

	*out = NULL;
	if ((r = need_client_id(ctx)) != 0 || (r = config_client_secret(ctx, &secret)) != 0)
		return r;
	if ((r = form_add(&body, "grant_type", "refresh_token")) != 0 ||
	    (r = form_add(&body, "refresh_token", refresh)) != 0 ||
	    (r = form_add(&body, "client_id", ctx->cfg[CFG_CLIENT_ID])) != 0 ||
	    (r = form_add(&body, "client_secret", secret)) != 0) {
		r = build_error(ctx, r);
		goto out;
	}
	r = token_post(ctx, "refresh_token", &body, NULL, out, retry_at);
 out:
	sbuf_free(&body);
	return r;
}

int
oauth_client_credentials(scauth_ctx *ctx, struct scauth_token **out, time_t *retry_at)
{
	struct sbuf pair = SBUF_INIT(MAX_FORM_BODY), basic = SBUF_INIT(MAX_FORM_BODY * 2);
	struct sbuf body = SBUF_INIT(64);
	const char *secret;
	char *b64 = NULL;
	int r;

	*out = NULL;
	*retry_at = 0;
	if ((r = need_client_id(ctx)) != 0 || (r = config_client_secret(ctx, &secret)) != 0)
		return r;
	/* RFC 6749 2.3.1: form-urlencode each part, then base64 "id:secret". */
	if ((r = url_escape(&pair, ctx->cfg[CFG_CLIENT_ID], 1)) != 0 ||
	    (r = sbuf_addch(&pair, ':')) != 0 || (r = url_escape(&pair, secret, 1)) != 0) {
		r = build_error(ctx, r);
		goto out;
	}
	if ((b64 = b64_encode(sbuf_str(&pair), pair.len, 0)) == NULL) {
		r = SCAUTH_ENOMEM;
		goto out;
	}
	if ((r = sbuf_addf(&basic, "Basic %s", b64)) != 0 ||
	    (r = form_add(&body, "grant_type", "client_credentials")) != 0)
		goto out;
	r = token_post(ctx, "client_credentials", &body, sbuf_str(&basic), out, retry_at);
 out:
	sfree(b64);
	sbuf_free(&pair);
	sbuf_free(&basic);
	sbuf_free(&body);
	return r;
}

/* Appends s as a JSON string literal. */
static int
json_quote(struct sbuf *b, const char *s)
{
	int r = sbuf_addch(b, '"');

	for (; r == 0 && *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			r = sbuf_addf(b, "\\%c", c);
		else if (c < 0x20)
			r = sbuf_addf(b, "\\u%04x", c);
		else
			r = sbuf_addch(b, (char)c);
	}
	return r != 0 ? r : sbuf_addch(b, '"');
}

static int
oauth_header(const char *access, struct sbuf *h)
{
	/* SoundCloud's documented scheme; it accepts Bearer too, "OAuth" is the original. */
	return sbuf_addf(h, "OAuth %s", access);
}

int
oauth_signout(scauth_ctx *ctx, const char *access)
{
	struct sbuf body = SBUF_INIT(MAX_TOKEN_LEN * 2);
	struct http_req req;
	struct http_resp resp;
	int r;

	if ((r = sbuf_addstr(&body, "{\"access_token\":")) != 0 ||
	    (r = json_quote(&body, access)) != 0 || (r = sbuf_addch(&body, '}')) != 0)
		goto out;
	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.url = ctx->cfg[CFG_SIGNOUT_URL];
	req.content_type = "application/json";
	req.body = sbuf_str(&body);
	req.bodylen = body.len;
	req.max_body = MAX_ERROR_BODY;
	if ((r = http_do(ctx, &req, &resp)) != 0)
		goto out;
	if (resp.status < 200 || resp.status > 299)
		r = server_error(ctx, "sign-out", &resp, NULL);
	http_resp_free(&resp);
 out:
	sbuf_free(&body);
	return r;
}

int
api_call(scauth_ctx *ctx, const char *access, const char *method, const char *path,
    const char *body, size_t bodylen, const char *content_type, struct http_resp *resp)
{
	struct sbuf url = SBUF_INIT(8192), auth = SBUF_INIT(MAX_TOKEN_LEN + 16);
	const char *base = ctx->cfg[CFG_API_URL], *p;
	struct http_req req;
	size_t blen = strlen(base);
	int r;

	memset(resp, 0, sizeof(*resp));
	/* The token goes only to api_url's origin: "//host/..." would leave it. */
	if (path == NULL || path[0] != '/' || path[1] == '/')
		return ctx_err(ctx, SCAUTH_EINVAL, "API path must be \"/...\" relative to api_url");
	for (p = path; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f || *p == '#')
			return ctx_err(ctx, SCAUTH_EINVAL,
			    "API path holds a space, control character or '#'; percent-encode it");
	while (blen > 0 && base[blen - 1] == '/')
		blen--;
	if ((r = sbuf_add(&url, base, blen)) != 0 || (r = sbuf_addstr(&url, path)) != 0) {
		r = r == SCAUTH_EPROTO ? ctx_err(ctx, SCAUTH_EINVAL, "API path too long") : r;
		goto out;
	}
	if ((r = oauth_header(access, &auth)) != 0)
		goto out;
	memset(&req, 0, sizeof(req));
	req.method = method;
	req.url = sbuf_str(&url);
	req.authorization = sbuf_str(&auth);
	req.body = body;
	req.bodylen = bodylen;
	req.content_type = body != NULL ? (content_type ? content_type : "application/json") : NULL;
	req.max_body = MAX_API_RESPONSE;
	r = http_do(ctx, &req, resp);
 out:
	sbuf_free(&url);
	sbuf_free(&auth);
	return r;
}

int
oauth_me(scauth_ctx *ctx, struct scauth_token *t)
{
	struct http_resp resp;
	struct me_reply me;
	char why[160];
	int r;

	if ((r = api_call(ctx, t->access, "GET", "/me", NULL, 0, NULL, &resp)) != 0)
		return r;
	if (resp.status < 200 || resp.status > 299) {
		r = server_error(ctx, "/me", &resp, NULL);
		goto out;
	}
	if ((r = json_me_reply(sbuf_str(&resp.body), resp.body.len, &me, why, sizeof(why))) != 0) {
		r = ctx_err(ctx, r, "%s", why);
		goto out;
	}
	free(t->urn);
	free(t->permalink);
	free(t->username);
	t->urn = me.urn;
	t->permalink = me.permalink;
	t->username = me.username;      /* transferred */
	r = SCAUTH_OK;
 out:
	http_resp_free(&resp);
	return r;
}
