/*
 * test_oauth.c - http.c and oauth.c against the sandbox over real TLS: the
 * three grants exactly as SoundCloud wants them on the wire, /me, sign-out,
 * and every fault the sandbox can play mapped to the right error and message
 * without a crash.
 */
#include "testutil.h"
#include "internal.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define CLIENT_ID "test-client"
#define CLIENT_SECRET "s3cret+/:%&="     /* characters that need encoding */

static struct tu_sandbox sb;
static char *home;
static char redirect[64];
static char trace[65536];

static void
collect_trace(void *arg, const char *line)
{
	size_t n = strlen(trace);

	snprintf(trace + n, sizeof(trace) - n, "%s\n", line);
}

static int
group_setup(void **state)
{
	char json[512];

	tu_sandbox_start(&sb);
	home = tu_tmpdir();
	snprintf(redirect, sizeof(redirect), "http://127.0.0.1:%d/callback", 40000 + getpid() % 20000);
	snprintf(json, sizeof(json), "{\"client_id\":\"%s\",\"client_secret\":\"%s\","
	    "\"redirect_uris\":[\"%s\"]}", CLIENT_ID, CLIENT_SECRET, redirect);
	assert_int_equal(tu_sandbox_ctl(&sb, "POST", "/_sandbox/clients", json, NULL, 0), 0);
	return 0;
}

static int
group_teardown(void **state)
{
	tu_sandbox_stop(&sb);
	tu_rmrf(home);
	free(home);
	return 0;
}

static int
reset(void **state)
{
	tu_sandbox_ctl(&sb, "POST", "/_sandbox/reset", "{}", NULL, 0);
	trace[0] = '\0';
	return 0;
}

static scauth_ctx *
ctx_with(const char *timeout, const char *secret)
{
	scauth_ctx *ctx = tu_ctx(home, "config", sb.config, "client_id", CLIENT_ID,
	    "client_secret", secret, "redirect_uri", redirect, "timeout", timeout, NULL);

	scauth_ctx_set_trace(ctx, collect_trace, NULL);
	return ctx;
}

static scauth_ctx *
sandbox_ctx(void)
{
	return ctx_with("5", CLIENT_SECRET);
}

static void
fault(const char *json)
{
	char out[512];

	assert_int_equal(tu_sandbox_ctl(&sb, "POST", "/_sandbox/fault", json, out, sizeof(out)), 0);
	if (strstr(out, "\"ok\":true") == NULL)
		fail_msg("fault refused: %s", out);
}

static void
stats(char *out, size_t len)
{
	assert_int_equal(tu_sandbox_ctl(&sb, "GET", "/_sandbox/stats", NULL, out, len), 0);
}

/* The value of "key": in the last request logged (searching from the end). */
static const char *
last_request_field(const char *json, const char *key)
{
	static char val[256];
	char pat[64];
	const char *p = NULL, *q, *e;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	for (q = json; (q = strstr(q, pat)) != NULL; q++)
		p = q;
	if (p == NULL)
		return "";
	p += strlen(pat);
	e = strpbrk(p, *p == '[' ? "]" : ",}");
	snprintf(val, sizeof(val), "%.*s", (int)(e - p + (*p == '[')), p);
	return val;
}

/* No secret of the test may reach a trace line or an error message. */
static void
assert_no_secrets(scauth_ctx *ctx, const struct scauth_token *t)
{
	assert_null(strstr(trace, "s3cret"));
	assert_null(strstr(scauth_errmsg(ctx), "s3cret"));
	if (t != NULL) {
		assert_null(strstr(trace, t->access));
		if (t->refresh != NULL)
			assert_null(strstr(trace, t->refresh));
	}
}

/* Runs /authorize like a browser would (no redirect followed) and returns the code. */
static char *
authorize(scauth_ctx *ctx, const char *verifier)
{
	struct sbuf url = SBUF_INIT(0), code = SBUF_INIT(0);
	struct http_req req;
	struct http_resp resp;
	char challenge[44], state[STATE_LEN + 1];
	const char *q;

	assert_int_equal(pkce_challenge(ctx, verifier, challenge), SCAUTH_OK);
	assert_int_equal(random_state(ctx, state), SCAUTH_OK);
	sbuf_addf(&url, "%s/authorize?client_id=%s&response_type=code&code_challenge=%s"
	    "&code_challenge_method=S256&state=%s&redirect_uri=", sb.url, CLIENT_ID, challenge, state);
	url_escape(&url, redirect, 1);
	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.url = sbuf_str(&url);
	req.accept = "text/html";
	assert_int_equal(http_do(ctx, &req, &resp), SCAUTH_OK);
	assert_int_equal(resp.status, 302);
	assert_non_null(resp.location);
	assert_non_null(q = strchr(resp.location, '?'));
	assert_int_equal(query_get(q + 1, strlen(q + 1), "code", &code), 1);
	http_resp_free(&resp);
	sbuf_free(&url);
	return sbuf_steal(&code);
}

static void
client_credentials_on_the_wire(void **state)
{
	scauth_ctx *ctx = sandbox_ctx();
	struct scauth_token *t;
	time_t retry = 0;
	char st[65536];

	assert_int_equal(oauth_client_credentials(ctx, &t, &retry), SCAUTH_OK);
	assert_non_null(t->access);
	assert_non_null(t->refresh);    /* SoundCloud issues one; the sandbox too */
	assert_true(t->expires_at > now() + 3000);
	stats(st, sizeof(st));
	assert_int_equal(tu_json_num(st, "client_credentials"), 1);
	/* Basic auth only, over the urlencoded secret; nothing but grant_type in the body. */
	assert_string_equal(last_request_field(st, "auth"), "\"basic\"");
	assert_string_equal(last_request_field(st, "body_keys"), "[\"grant_type\"]");
	assert_non_null(strstr(trace, "POST https://127.0.0.1:"));
	assert_non_null(strstr(trace, "/oauth/token -> 200"));
	assert_no_secrets(ctx, t);
	scauth_token_free(t);
	scauth_ctx_free(ctx);
}

static void
code_refresh_me_signout(void **state)
{
	scauth_ctx *ctx = sandbox_ctx();
	struct scauth_token *t, *t2, *t3;
	char verifier[PKCE_VERIFIER_LEN + 1], st[65536];
	char *code;

	assert_int_equal(pkce_verifier(ctx, verifier), SCAUTH_OK);
	code = authorize(ctx, verifier);
	assert_int_equal(oauth_code(ctx, code, verifier, &t), SCAUTH_OK);
	stats(st, sizeof(st));
	assert_string_equal(last_request_field(st, "auth"), "\"body\"");
	assert_non_null(strstr(last_request_field(st, "body_keys"), "\"code_verifier\""));
	assert_non_null(strstr(last_request_field(st, "body_keys"), "\"redirect_uri\""));
	assert_non_null(strstr(last_request_field(st, "body_keys"), "\"client_secret\""));
	sfree(code);

	assert_int_equal(oauth_me(ctx, t), SCAUTH_OK);
	assert_string_equal(t->urn, "soundcloud:users:1001");
	assert_string_equal(t->permalink, "test-user");
	assert_string_equal(t->username, "Test User");

	/* Refresh rotates; the spent refresh token is refused afterwards. */
	assert_int_equal(oauth_refresh(ctx, t->refresh, &t2, NULL), SCAUTH_OK);
	assert_string_not_equal(t2->refresh, t->refresh);
	assert_string_not_equal(t2->access, t->access);
	stats(st, sizeof(st));
	assert_string_equal(last_request_field(st, "auth"), "\"body\"");
	assert_int_equal(oauth_refresh(ctx, t->refresh, &t3, NULL), SCAUTH_EGRANT);
	assert_non_null(strstr(scauth_errmsg(ctx), "invalid_grant"));
	assert_no_secrets(ctx, t);
	assert_no_secrets(ctx, t2);

	/* Reuse revoked the chain (RFC 9700): start a new one for sign-out. */
	assert_int_equal(pkce_verifier(ctx, verifier), SCAUTH_OK);
	code = authorize(ctx, verifier);
	assert_int_equal(oauth_code(ctx, code, verifier, &t3), SCAUTH_OK);
	sfree(code);
	assert_int_equal(oauth_signout(ctx, t3->access), SCAUTH_OK);
	stats(st, sizeof(st));
	assert_int_equal(tu_json_num(st, "signout"), 1);
	assert_int_equal(oauth_me(ctx, t3), SCAUTH_ETOKEN);
	scauth_token_free(t);
	scauth_token_free(t2);
	scauth_token_free(t3);
	scauth_ctx_free(ctx);
}

static void
wrong_verifier_and_wrong_secret(void **state)
{
	scauth_ctx *ctx = sandbox_ctx(), *bad;
	struct scauth_token *t;
	char verifier[PKCE_VERIFIER_LEN + 1], other[PKCE_VERIFIER_LEN + 1];
	char *code;
	time_t retry;

	assert_int_equal(pkce_verifier(ctx, verifier), SCAUTH_OK);
	assert_int_equal(pkce_verifier(ctx, other), SCAUTH_OK);
	code = authorize(ctx, verifier);
	assert_int_equal(oauth_code(ctx, code, other, &t), SCAUTH_EGRANT);
	assert_null(t);
	sfree(code);
	/* A code is single-use: replaying a redeemed one is refused. */
	code = authorize(ctx, verifier);
	assert_int_equal(oauth_code(ctx, code, verifier, &t), SCAUTH_OK);
	scauth_token_free(t);
	assert_int_equal(oauth_code(ctx, code, verifier, &t), SCAUTH_EGRANT);
	sfree(code);

	bad = ctx_with("5", "wrong-secret");
	assert_int_equal(oauth_client_credentials(bad, &t, &retry), SCAUTH_ECLIENT);
	assert_non_null(strstr(scauth_errmsg(bad), "invalid_client"));
	assert_non_null(strstr(scauth_errmsg(bad), "HTTP 401"));
	assert_non_null(strstr(scauth_errmsg(bad), "it asks for Basic authentication"));
	scauth_ctx_free(bad);
	scauth_ctx_free(ctx);
}

struct fault_case {
	const char *fault;      /* JSON for /_sandbox/fault on the token endpoint */
	int code;
	const char *msg;        /* a part of scauth_errmsg() */
};

static void
token_endpoint_faults(void **state)
{
	static const struct fault_case cases[] = {
		{ "{\"endpoint\":\"token\",\"kind\":\"500\"}", SCAUTH_EUNAVAIL, "HTTP 500" },
		{ "{\"endpoint\":\"token\",\"kind\":\"502\",\"html\":true}", SCAUTH_EUNAVAIL,
		  "HTTP 502 without a JSON body" },
		{ "{\"endpoint\":\"token\",\"kind\":\"503\",\"html\":true}", SCAUTH_EUNAVAIL,
		  "HTTP 503 without a JSON body" },
		{ "{\"endpoint\":\"token\",\"kind\":\"403html\"}", SCAUTH_EUNAVAIL,
		  "HTTP 403 without a JSON body" },
		{ "{\"endpoint\":\"token\",\"kind\":\"malformed\"}", SCAUTH_EPROTO, "truncated" },
		{ "{\"endpoint\":\"token\",\"kind\":\"trailing\"}", SCAUTH_EPROTO, "invalid JSON" },
		{ "{\"endpoint\":\"token\",\"kind\":\"wrongtype\"}", SCAUTH_EPROTO,
		  "access_token is not a valid token string" },
		{ "{\"endpoint\":\"token\",\"kind\":\"deep\"}", SCAUTH_EPROTO, "" },
		{ "{\"endpoint\":\"token\",\"kind\":\"notjson\"}", SCAUTH_EPROTO, "invalid JSON" },
		{ "{\"endpoint\":\"token\",\"kind\":\"empty\"}", SCAUTH_EPROTO, "empty body" },
		{ "{\"endpoint\":\"token\",\"kind\":\"noaccess\"}", SCAUTH_EPROTO, "no access_token" },
		{ "{\"endpoint\":\"token\",\"kind\":\"huge\"}", SCAUTH_EPROTO, "larger than 65536 bytes" },
		{ "{\"endpoint\":\"token\",\"kind\":\"redirect\"}", SCAUTH_EPROTO, "not followed" },
		{ "{\"endpoint\":\"token\",\"kind\":\"legacy_invalid_grant\"}", SCAUTH_EGRANT,
		  "invalid_grant" },
	};
	scauth_ctx *ctx = sandbox_ctx();
	struct scauth_token *t;
	time_t retry;
	size_t i;
	int r;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		fault(cases[i].fault);
		r = oauth_client_credentials(ctx, &t, &retry);
		if (r != cases[i].code || strstr(scauth_errmsg(ctx), cases[i].msg) == NULL)
			fail_msg("%s: got %s (%s), want %s (%s)", cases[i].fault, scauth_strerror(r),
			    scauth_errmsg(ctx), scauth_strerror(cases[i].code), cases[i].msg);
		assert_null(t);
		assert_no_secrets(ctx, NULL);
	}
	/* And the endpoint still works afterwards. */
	assert_int_equal(oauth_client_credentials(ctx, &t, &retry), SCAUTH_OK);
	scauth_token_free(t);
	scauth_ctx_free(ctx);

	/*
	 * A connection closed without an answer.  On a fresh context: libcurl
	 * silently retries a request whose reused connection turns out dead.
	 */
	ctx = sandbox_ctx();
	fault("{\"endpoint\":\"token\",\"kind\":\"close\"}");
	assert_int_equal(oauth_client_credentials(ctx, &t, &retry), SCAUTH_ENETWORK);
	assert_non_null(strstr(scauth_errmsg(ctx), "/oauth/token"));
	scauth_ctx_free(ctx);
}

static void
rate_limits(void **state)
{
	scauth_ctx *ctx = sandbox_ctx();
	struct scauth_token *t;
	time_t retry, t0 = now();

	/* SoundCloud's body: reset_time wins. */
	fault("{\"endpoint\":\"token\",\"kind\":\"429\",\"reset_in\":1200}");
	assert_int_equal(oauth_client_credentials(ctx, &t, &retry), SCAUTH_ERATELIMIT);
	assert_true(retry >= t0 + 1195 && retry <= now() + 1205);
	assert_non_null(strstr(scauth_errmsg(ctx), "rate limited by the server until"));
	/* Retry-After when the body has no reset time. */
	fault("{\"endpoint\":\"token\",\"kind\":\"429\",\"body\":\"rate_limit_exceeded\","
	    "\"retry_after\":90}");
	assert_int_equal(oauth_client_credentials(ctx, &t, &retry), SCAUTH_ERATELIMIT);
	assert_true(retry >= t0 + 89 && retry <= now() + 91);
	/* Neither: back off a minute. */
	fault("{\"endpoint\":\"token\",\"kind\":\"429\",\"body\":\"Rate Limit Exceeded\"}");
	assert_int_equal(oauth_client_credentials(ctx, &t, &retry), SCAUTH_ERATELIMIT);
	assert_true(retry >= t0 + 59 && retry <= now() + 61);
	/* A refresh that is rate limited reports the reset time as well. */
	assert_int_equal(oauth_client_credentials(ctx, &t, &retry), SCAUTH_OK);
	fault("{\"endpoint\":\"token\",\"kind\":\"429\",\"reset_in\":600}");
	{
		struct scauth_token *t2;

		assert_int_equal(oauth_refresh(ctx, t->refresh, &t2, &retry), SCAUTH_ERATELIMIT);
		assert_true(retry >= t0 + 595 && retry <= now() + 605);
		scauth_token_free(t);
	}
	/* A CDN's HTML 429 is still a rate limit. */
	fault("{\"endpoint\":\"token\",\"kind\":\"429\",\"html\":true}");
	assert_int_equal(oauth_client_credentials(ctx, &t, &retry), SCAUTH_ERATELIMIT);
	scauth_ctx_free(ctx);
}

static void
timeouts(void **state)
{
	scauth_ctx *ctx = ctx_with("1", CLIENT_SECRET);
	struct scauth_token *t;
	time_t retry;

	fault("{\"endpoint\":\"token\",\"kind\":\"slow\",\"delay_ms\":3000}");
	assert_int_equal(oauth_client_credentials(ctx, &t, &retry), SCAUTH_ETIMEOUT);
	assert_non_null(strstr(scauth_errmsg(ctx), "no answer in time"));
	fault("{\"endpoint\":\"token\",\"kind\":\"hang\",\"max_ms\":3000}");
	assert_int_equal(oauth_client_credentials(ctx, &t, &retry), SCAUTH_ETIMEOUT);
	scauth_ctx_free(ctx);
}

static void
tls_is_verified(void **state)
{
	scauth_ctx *ctx;
	struct scauth_token *t;
	char tok[128];
	time_t retry;

	/* Same endpoints, but without the test CA: the system store does not trust it. */
	snprintf(tok, sizeof(tok), "%s/oauth/token", sb.url);
	ctx = tu_ctx(home, "client_id", CLIENT_ID, "client_secret", CLIENT_SECRET, "token_url", tok,
	    NULL);
	assert_int_equal(oauth_client_credentials(ctx, &t, &retry), SCAUTH_ETLS);
	scauth_ctx_free(ctx);
	/* The certificate is for 127.0.0.1 and localhost; another name must fail too. */
	snprintf(tok, sizeof(tok), "https://127.0.0.2:%d/oauth/token", sb.port);
	ctx = tu_ctx(home, "config", sb.config, "client_id", CLIENT_ID, "client_secret",
	    CLIENT_SECRET, "token_url", tok, NULL);
	{
		int r = oauth_client_credentials(ctx, &t, &retry);
		/* 127.0.0.2 is loopback on Linux, but nothing listens there: either way no token. */
		assert_true(r == SCAUTH_ETLS || r == SCAUTH_ENETWORK);
	}
	scauth_ctx_free(ctx);
}

static void
unreachable(void **state)
{
	scauth_ctx *ctx;
	struct scauth_token *t;
	time_t retry;
	int fd, port;
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	char tok[128];

	/* A port that was just free: nothing listens there. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	snprintf(tok, sizeof(tok), "https://127.0.0.1:%d/oauth/token", port);
	ctx = tu_ctx(home, "config", sb.config, "client_id", CLIENT_ID, "client_secret",
	    CLIENT_SECRET, "token_url", tok, NULL);
	assert_int_equal(oauth_client_credentials(ctx, &t, &retry), SCAUTH_ENETWORK);
	assert_non_null(strstr(scauth_errmsg(ctx), tok));
	scauth_ctx_free(ctx);
}

static void
api_paths(void **state)
{
	scauth_ctx *ctx = sandbox_ctx();
	struct scauth_token *t;
	struct http_resp resp;
	time_t retry;

	assert_int_equal(oauth_client_credentials(ctx, &t, &retry), SCAUTH_OK);
	assert_int_equal(api_call(ctx, t->access, "GET", "/tracks?q=x", NULL, 0, NULL, &resp),
	    SCAUTH_OK);
	assert_int_equal(resp.status, 200);
	assert_non_null(strstr(sbuf_str(&resp.body), "\"path\":\"/tracks\""));
	http_resp_free(&resp);
	assert_int_equal(api_call(ctx, t->access, "POST", "/playlists", "{\"a\":1}", 7, NULL, &resp),
	    SCAUTH_OK);
	assert_non_null(strstr(sbuf_str(&resp.body), "\"body_bytes\":7"));
	http_resp_free(&resp);
	/* Only paths: the token never goes to another origin. */
	assert_int_equal(api_call(ctx, t->access, "GET", "https://evil.example/", NULL, 0, NULL,
	    &resp), SCAUTH_EINVAL);
	assert_int_equal(api_call(ctx, t->access, "GET", "/a b", NULL, 0, NULL, &resp),
	    SCAUTH_EINVAL);
	assert_int_equal(api_call(ctx, t->access, "GET", "/a\r\nX: y", NULL, 0, NULL, &resp),
	    SCAUTH_EINVAL);
	/* A revoked token gets a 401 that the caller sees. */
	assert_int_equal(tu_sandbox_ctl(&sb, "POST", "/_sandbox/revoke", "{\"what\":\"access\"}",
	    NULL, 0), 0);
	assert_int_equal(api_call(ctx, t->access, "GET", "/me", NULL, 0, NULL, &resp), SCAUTH_OK);
	assert_int_equal(resp.status, 401);
	http_resp_free(&resp);
	assert_no_secrets(ctx, t);
	scauth_token_free(t);
	scauth_ctx_free(ctx);
}

/*
 * One handle serves every request of a context: a request without a body
 * after a POST must not inherit its method or body size (libcurl would then
 * read the "body" from stdin, and hang on a terminal).
 */
static void
no_leftovers_between_requests(void **state)
{
	scauth_ctx *ctx = sandbox_ctx();
	struct scauth_token *t;
	struct http_resp resp;
	time_t retry;
	int in[2], saved;

	assert_int_equal(oauth_client_credentials(ctx, &t, &retry), SCAUTH_OK);
	/* stdin: a pipe with data that stays open, as a terminal would. */
	assert_int_equal(pipe(in), 0);
	assert_int_equal(write(in[1], "stdin-data-that-must-not-be-sent", 32), 32);
	saved = dup(0);
	dup2(in[0], 0);
	assert_int_equal(api_call(ctx, t->access, "POST", "/playlists", "{\"title\":\"x\"}", 13,
	    NULL, &resp), SCAUTH_OK);
	assert_non_null(strstr(sbuf_str(&resp.body), "\"body_bytes\":13"));
	http_resp_free(&resp);
	assert_int_equal(api_call(ctx, t->access, "DELETE", "/likes/tracks/1", NULL, 0, NULL,
	    &resp), SCAUTH_OK);
	assert_int_equal(resp.status, 200);
	assert_non_null(strstr(sbuf_str(&resp.body), "\"method\":\"DELETE\""));
	assert_non_null(strstr(sbuf_str(&resp.body), "\"body_bytes\":0"));
	http_resp_free(&resp);
	assert_int_equal(api_call(ctx, t->access, "GET", "/tracks", NULL, 0, NULL, &resp),
	    SCAUTH_OK);
	assert_non_null(strstr(sbuf_str(&resp.body), "\"method\":\"GET\""));
	http_resp_free(&resp);
	dup2(saved, 0);
	close(saved);
	close(in[0]);
	close(in[1]);
	scauth_token_free(t);
	scauth_ctx_free(ctx);
}

static void
http_only_https(void **state)
{
	scauth_ctx *ctx = sandbox_ctx();
	struct http_req req;
	struct http_resp resp;

	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.url = "http://127.0.0.1:1/";
	assert_int_equal(http_do(ctx, &req, &resp), SCAUTH_ECONFIG);
	scauth_ctx_free(ctx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(client_credentials_on_the_wire, reset),
		cmocka_unit_test_setup(code_refresh_me_signout, reset),
		cmocka_unit_test_setup(wrong_verifier_and_wrong_secret, reset),
		cmocka_unit_test_setup(token_endpoint_faults, reset),
		cmocka_unit_test_setup(rate_limits, reset),
		cmocka_unit_test_setup(timeouts, reset),
		cmocka_unit_test_setup(tls_is_verified, reset),
		cmocka_unit_test_setup(unreachable, reset),
		cmocka_unit_test_setup(api_paths, reset),
		cmocka_unit_test_setup(no_leftovers_between_requests, reset),
		cmocka_unit_test_setup(http_only_https, reset),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
