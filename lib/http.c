/*
 * http.c - one HTTPS request over libcurl, with every safety on.
 *
 * https only, certificate and host verification always on (an extra CA file
 * may be added, never verification turned off), no redirects followed (a
 * token endpoint that redirects is misbehaving, and following would send the
 * request body somewhere else), connect and total timeouts, a cap on the
 * answer, CURLOPT_NOSIGNAL so that a PAM module inside a daemon does not get
 * signals raised on it.  The easy handle is kept on the context so that a
 * login's token request and /me share one TLS connection.
 *
 * Secret hygiene: request bodies are passed by pointer (CURLOPT_POSTFIELDS,
 * not COPYPOSTFIELDS), header lists are wiped before they are freed and the
 * answer goes straight into a wiped buffer.  libcurl's own transfer buffers
 * are beyond our reach.
 */
#include "internal.h"
#include "dl.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Where Debian and its kind keep the trust store, for a libcurl built without a default. */
#define SYSTEM_CA_FILE "/etc/ssl/certs/ca-certificates.crt"

struct xfer {
	struct http_resp *resp;
	int too_big;
	int oom;
};

static size_t
on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb;
	int r;

	if ((r = sbuf_add(&x->resp->body, data, n)) != 0) {
		if (r == SCAUTH_ENOMEM)
			x->oom = 1;
		else
			x->too_big = 1;
		return 0;       /* makes libcurl stop with CURLE_WRITE_ERROR */
	}
	return n;
}

/* Copies a header's value, trimmed, if the line is "name: value". */
static int
header_value(const char *line, size_t n, const char *name, char **out)
{
	size_t nl = strlen(name), s, e;

	if (n <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
		return 0;
	for (s = nl + 1; s < n && (line[s] == ' ' || line[s] == '\t'); s++)
		;
	for (e = n; e > s && isspace((unsigned char)line[e - 1]); e--)
		;
	free(*out);
	*out = strndup(line + s, e - s);
	return 1;
}

static size_t
on_header(char *line, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	struct http_resp *r = x->resp;
	size_t n = size * nmemb;
	char *v = NULL;

	/* A new status line (after a 100 Continue): forget the previous headers. */
	if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
		free(r->content_type);
		free(r->www_authenticate);
		free(r->location);
		r->content_type = r->www_authenticate = r->location = NULL;
		r->retry_after = -1;
		return n;
	}
	if (header_value(line, n, "Content-Type", &r->content_type) ||
	    header_value(line, n, "WWW-Authenticate", &r->www_authenticate) ||
	    header_value(line, n, "Location", &r->location))
		return n;
	if (header_value(line, n, "Retry-After", &v)) {
		/* Only the delta-seconds form; an HTTP date is rare enough to back off blindly. */
		char *end;
		long secs = v != NULL ? strtol(v, &end, 10) : -1;
		if (v != NULL && *v != '\0' && *end == '\0' && secs >= 0 && secs <= 7 * 86400)
			r->retry_after = secs;
		free(v);
	}
	return n;
}

/* Uploads come only from CURLOPT_POSTFIELDS: never let libcurl read stdin. */
static size_t
no_read(char *buf, size_t size, size_t nmemb, void *arg)
{
	return CURL_READFUNC_ABORT;
}

static void
wipe_slist(const struct curl_fns *c, struct curl_slist *l)
{
	struct curl_slist *p;

	for (p = l; p != NULL; p = p->next)
		scauth_wipe(p->data, strlen(p->data));
	c->slist_free_all(l);
}

static int
add_header(const struct curl_fns *c, struct curl_slist **l, const char *name, const char *value)
{
	struct sbuf h = SBUF_INIT(MAX_TOKEN_LEN * 2);
	struct curl_slist *n;
	int r;

	if ((r = sbuf_addf(&h, "%s: %s", name, value)) != 0)
		return r;
	n = c->slist_append(*l, sbuf_str(&h));
	sbuf_free(&h);
	if (n == NULL)
		return SCAUTH_ENOMEM;
	*l = n;
	return SCAUTH_OK;
}

static int
map_curl_error(scauth_ctx *ctx, const struct curl_fns *c, CURLcode cc, const struct xfer *x,
    const char *errbuf, const char *url)
{
	const char *why = errbuf[0] != '\0' ? errbuf : c->easy_strerror(cc);

	if (x->oom)
		return SCAUTH_ENOMEM;
	switch (cc) {
	case CURLE_OPERATION_TIMEDOUT:
		return ctx_err(ctx, SCAUTH_ETIMEOUT, "%s: no answer in time (%s)", url, why);
	case CURLE_WRITE_ERROR:
	case CURLE_FILESIZE_EXCEEDED:
		if (x->too_big || cc == CURLE_FILESIZE_EXCEEDED)
			return ctx_err(ctx, SCAUTH_EPROTO, "%s: answer larger than %zu bytes", url,
			    x->resp->body.max);
		break;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_ENGINE_INITFAILED:
		return ctx_err(ctx, SCAUTH_ETLS, "%s: %s", url, why);
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		return ctx_err(ctx, SCAUTH_ECONFIG, "%s: %s", url, why);
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_HTTP2:
	case CURLE_BAD_CONTENT_ENCODING:
		return ctx_err(ctx, SCAUTH_EPROTO, "%s: %s", url, why);
	default:
		break;
	}
	return ctx_err(ctx, SCAUTH_ENETWORK, "%s: %s", url, why);
}

static long
elapsed_ms(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (long)((t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000);
}

static void
set_defaults(scauth_ctx *ctx, const struct curl_fns *c, CURL *h, struct xfer *x, char *errbuf)
{
	long timeout_ms = ctx->timeout * 1000L;

	c->easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
	c->easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "https");
	c->easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	c->easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	c->easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	c->easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (ctx->cfg[CFG_CA_FILE] != NULL)
		c->easy_setopt(h, CURLOPT_CAINFO, ctx->cfg[CFG_CA_FILE]);
	c->easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	c->easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 10000 ? timeout_ms : 10000L);
	c->easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	c->easy_setopt(h, CURLOPT_USERAGENT, "soundcloud-auth/" SCAUTH_VERSION);
	c->easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	c->easy_setopt(h, CURLOPT_WRITEDATA, x);
	c->easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	c->easy_setopt(h, CURLOPT_HEADERDATA, x);
	c->easy_setopt(h, CURLOPT_READFUNCTION, no_read);
	c->easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	c->easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x->resp->body.max);
	/*
	 * The caller's environment is not ours to trust in a PAM module: options
	 * that override what libcurl and OpenSSL would take from it per request.
	 * An empty CURLOPT_PROXY means no proxy whatever *_proxy says; explicit
	 * CA locations keep OpenSSL from its default paths, which SSL_CERT_FILE
	 * and SSL_CERT_DIR may move.
	 */
	if (ctx->flags & SCAUTH_CTX_NO_ENV) {
		c->easy_setopt(h, CURLOPT_PROXY, "");
		c->easy_setopt(h, CURLOPT_NOPROXY, "*");
		if (ctx->cfg[CFG_CA_FILE] == NULL) {
			const char *cafile = NULL, *capath = NULL;

			/* libcurl's built-in defaults (7.84), read before CAINFO is set. */
			c->easy_getinfo(h, CURLINFO_CAINFO, &cafile);
			c->easy_getinfo(h, CURLINFO_CAPATH, &capath);
			if (cafile == NULL && capath == NULL)
				cafile = SYSTEM_CA_FILE;
			if (cafile != NULL)
				c->easy_setopt(h, CURLOPT_CAINFO, cafile);
			if (capath != NULL)
				c->easy_setopt(h, CURLOPT_CAPATH, capath);
		}
	}
}

int
http_do(scauth_ctx *ctx, const struct http_req *req, struct http_resp *resp)
{
	const struct curl_fns *c;
	struct curl_slist *hdrs = NULL;
	struct xfer x;
	struct env_shield sh = { NULL, 0 };
	struct timespec t0;
	char errbuf[CURL_ERROR_SIZE], where[512];
	CURLcode cc;
	CURL *h;
	int r;

	memset(resp, 0, sizeof(*resp));
	resp->retry_after = -1;
	resp->body.max = req->max_body ? req->max_body : MAX_API_RESPONSE;
	/* Messages and traces show the URL without its query (a share link's secret_token). */
	snprintf(where, sizeof(where), "%.*s%s", (int)strcspn(req->url, "?"), req->url,
	    strchr(req->url, '?') != NULL ? "?..." : "");
	if (strncasecmp(req->url, "https://", 8) != 0)
		return ctx_err(ctx, SCAUTH_ECONFIG, "%s: only https URLs are allowed", where);
	if ((r = dl_curl(ctx, &c)) != 0)
		return r;
	if (ctx->easy == NULL && (ctx->easy = c->easy_init()) == NULL)
		return ctx_err(ctx, SCAUTH_ENOMEM, "cannot create a libcurl handle");
	h = ctx->easy;
	/*
	 * Every request starts from a clean handle: options of the previous one
	 * (a POST's body size, its method) must not leak into this one.  A reset
	 * keeps the connection cache, so the TLS session is still reused.
	 */
	c->easy_reset(h);

	memset(&x, 0, sizeof(x));
	x.resp = resp;
	errbuf[0] = '\0';
	set_defaults(ctx, c, h, &x, errbuf);
	c->easy_setopt(h, CURLOPT_URL, req->url);
	/* No 100-continue round trip: our bodies are small. */
	if ((hdrs = c->slist_append(NULL, "Expect:")) == NULL) {
		r = SCAUTH_ENOMEM;
		goto out;
	}
	if ((r = add_header(c, &hdrs, "Accept", req->accept ? req->accept : "application/json")) != 0)
		goto out;
	if (req->authorization != NULL &&
	    (r = add_header(c, &hdrs, "Authorization", req->authorization)) != 0)
		goto out;
	if (req->body != NULL && req->content_type != NULL &&
	    (r = add_header(c, &hdrs, "Content-Type", req->content_type)) != 0)
		goto out;
	c->easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);

	if (strcmp(req->method, "GET") == 0 && req->body == NULL)
		c->easy_setopt(h, CURLOPT_HTTPGET, 1L);
	else {
		if (strcmp(req->method, "POST") != 0)
			c->easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
		if (req->body != NULL || strcmp(req->method, "POST") == 0) {
			c->easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->bodylen);
			c->easy_setopt(h, CURLOPT_POSTFIELDS, req->body != NULL ? req->body : "");
		}
		if (strcmp(req->method, "HEAD") == 0)
			c->easy_setopt(h, CURLOPT_NOBODY, 1L);
	}

	/*
	 * Without NO_ENV libcurl looks for a proxy in the environment at each
	 * request: under the environment lock held for reading, so that what
	 * it reads is the application's, never another thread's filtered copy.
	 */
	if (!(ctx->flags & SCAUTH_CTX_NO_ENV) && (r = dl_shield_on(ctx, &sh)) != 0)
		goto out;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cc = c->easy_perform(h);
	resp->ms = elapsed_ms(&t0);
	dl_shield_off(&sh);
	if (cc != CURLE_OK) {
		r = map_curl_error(ctx, c, cc, &x, errbuf, where);
		ctx_trace(ctx, "http %s %s -> failed: %s (%ld ms)", req->method, where,
		    scauth_strerror(r), resp->ms);
		goto out;
	}
	c->easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
	ctx_trace(ctx, "http %s %s -> %ld (%ld ms)", req->method, where, resp->status,
	    resp->ms);
	r = SCAUTH_OK;
 out:
	/* Drop every pointer into our memory before it goes away; keep the connection. */
	c->easy_reset(h);
	if (hdrs != NULL)
		wipe_slist(c, hdrs);
	if (r != SCAUTH_OK)
		http_resp_free(resp);
	return r;
}

void
http_resp_free(struct http_resp *resp)
{
	sbuf_free(&resp->body);
	free(resp->content_type);
	free(resp->www_authenticate);
	free(resp->location);
	resp->content_type = resp->www_authenticate = resp->location = NULL;
}
