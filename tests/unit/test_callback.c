/*
 * test_callback.c - the redirect request parser and the judging of a
 * callback (lib/listen.c): what a browser sends is taken, anything else is
 * refused or told apart (another path), and a callback counts only with our
 * state and, when an issuer is configured, its iss.  Inputs the fuzzer found
 * stay here as regressions.
 */
#include "testutil.h"
#include "internal.h"
#include "login.h"

#define CB "/callback"

static int
parse(const char *req, struct callback *cb)
{
	return callback_parse(req, strlen(req), CB, cb);
}

static void
test_parse_good(void **state)
{
	struct callback cb;

	assert_int_equal(parse("GET /callback?code=abc123&state=S-t_a.te~ HTTP/1.1\r\n"
	    "Host: 127.0.0.1:8765\r\nUser-Agent: Mozilla/5.0 (X11)\r\n"
	    "Accept: text/html,*/*;q=0.8\r\n\r\n", &cb), 1);
	assert_string_equal(cb.code, "abc123");
	assert_string_equal(cb.state, "S-t_a.te~");
	assert_null(cb.error);
	assert_null(cb.error_description);
	assert_null(cb.iss);
	callback_free(&cb);
	assert_null(cb.code);

	/* HTTP/1.0, bare LF line ends, percent and form decoding, iss. */
	assert_int_equal(parse("GET /callback?state=st&code=a%2Fb%3D&iss=https%3A%2F%2Fi.test"
	    " HTTP/1.0\nHost: x\n\n", &cb), 1);
	assert_string_equal(cb.code, "a/b=");
	assert_string_equal(cb.iss, "https://i.test");
	callback_free(&cb);

	/* Parameter names are decoded too; unknown ones are ignored. */
	assert_int_equal(parse("GET /callback?x=1&st%61te=s&code=c&&y HTTP/1.1\r\n\r\n", &cb), 1);
	assert_string_equal(cb.state, "s");
	assert_string_equal(cb.code, "c");
	callback_free(&cb);

	/* What follows the head is no concern of the parser. */
	assert_int_equal(parse("GET /callback?code=c&state=s HTTP/1.1\r\n\r\n\x01garbage", &cb), 1);
	callback_free(&cb);

	/* No query at all: a callback with nothing in it. */
	assert_int_equal(parse("GET /callback HTTP/1.1\r\n\r\n", &cb), 1);
	assert_null(cb.code);
	assert_null(cb.state);
	callback_free(&cb);
}

static void
test_parse_error(void **state)
{
	struct callback cb;
	char req[1024], desc[400];

	assert_int_equal(parse("GET /callback?error=access_denied&error_description=The+user+"
	    "%3Cb%3Edenied%3C%2Fb%3E+access&state=s HTTP/1.1\r\n\r\n", &cb), 1);
	assert_string_equal(cb.error, "access_denied");
	assert_string_equal(cb.error_description, "The user <b>denied</b> access");
	assert_null(cb.code);
	callback_free(&cb);

	/* Control characters and non-ASCII in a description become '?'. */
	assert_int_equal(parse("GET /callback?error=e&error_description=a%0Ab%1B%C3%A9&state=s"
	    " HTTP/1.1\r\n\r\n", &cb), 1);
	assert_string_equal(cb.error_description, "a?b???");
	callback_free(&cb);

	/* A long description is cut to what is worth repeating. */
	memset(desc, 'd', 300);
	desc[300] = '\0';
	snprintf(req, sizeof(req), "GET /callback?error=e&error_description=%s HTTP/1.1\r\n\r\n",
	    desc);
	assert_int_equal(parse(req, &cb), 1);
	assert_int_equal(strlen(cb.error_description), 200);
	callback_free(&cb);

	/* An empty description is none. */
	assert_int_equal(parse("GET /callback?error=e&error_description= HTTP/1.1\r\n\r\n", &cb), 1);
	assert_null(cb.error_description);
	callback_free(&cb);
}

static void
test_parse_other_path(void **state)
{
	static const char *const reqs[] = {
		"GET /favicon.ico HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.1\r\n\r\n",
		"GET /callbackX?code=c&state=s HTTP/1.1\r\n\r\n",
		"GET /callback/?code=c&state=s HTTP/1.1\r\n\r\n",
		"GET /Callback?code=c&state=s HTTP/1.1\r\n\r\n",
		"GET /callbac?code=c&state=s HTTP/1.1\r\n\r\n",
		/* Not parsed, so a malformed query there does not matter. */
		"GET /other?state=a&state=b HTTP/1.1\r\n\r\n",
	};
	struct callback cb;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(reqs); i++) {
		assert_int_equal(parse(reqs[i], &cb), 0);
		assert_null(cb.code);
		assert_null(cb.state);
	}
}

static void
test_parse_bad(void **state)
{
	static const char *const reqs[] = {
		"",
		"\r\n\r\n",
		"GET /callback?code=c&state=s\r\n\r\n",                 /* no HTTP version */
		"GET /callback?code=c&state=s HTTP/2.0\r\n\r\n",
		"GET /callback?code=c&state=s HTTP/1.1 \r\n\r\n",
		"GET /callback?code=c&state=s http/1.1\r\n\r\n",
		"POST /callback?code=c&state=s HTTP/1.1\r\n\r\n",
		"HEAD /callback?code=c&state=s HTTP/1.1\r\n\r\n",
		"get /callback?code=c&state=s HTTP/1.1\r\n\r\n",
		" GET /callback?code=c&state=s HTTP/1.1\r\n\r\n",
		"GET  /callback?code=c&state=s HTTP/1.1\r\n\r\n",
		"GET http://127.0.0.1:8765/callback?code=c&state=s HTTP/1.1\r\n\r\n",
		"GET * HTTP/1.1\r\n\r\n",
		"GET /callback?code=c&state=s#frag HTTP/1.1\r\n\r\n",
		"GET /callback?code=c&state=a&state=b HTTP/1.1\r\n\r\n",     /* duplicate state */
		"GET /callback?code=c&code=d&state=s HTTP/1.1\r\n\r\n",
		"GET /callback?code=c%00d&state=s HTTP/1.1\r\n\r\n",         /* %00 */
		"GET /callback?code=c&state=s%00 HTTP/1.1\r\n\r\n",
		"GET /callback?code=c%zz&state=s HTTP/1.1\r\n\r\n",
		"GET /callback?code=c%4&state=s HTTP/1.1\r\n\r\n",
		"GET /callback?code=&state=s HTTP/1.1\r\n\r\n",              /* empty code */
		"GET /callback?code&state=s HTTP/1.1\r\n\r\n",
		"GET /callback?code=a+b&state=s HTTP/1.1\r\n\r\n",           /* space in a code */
		"GET /callback?code=a%7Fb&state=s HTTP/1.1\r\n\r\n",
		"GET /callback?code=c&state=%0A HTTP/1.1\r\n\r\n",
		"GET /callback?code=c&state= HTTP/1.1\r\n\r\n",
		"GET /callback?error=a%22b&state=s HTTP/1.1\r\n\r\n",       /* '"' in error */
		"GET /callback?error=&state=s HTTP/1.1\r\n\r\n",
		"GET /callback?code=c&state=s HTTP/1.1\r\n",                /* no blank line */
		"GET /callback?code=c&state=s HTTP/1.1\r\nHost: x\r\n",
		"GET /callback?code=c&state=s HTTP/1.1\r\nHost x\r\n\r\n",  /* no colon */
		"GET /callback?code=c&state=s HTTP/1.1\r\n: x\r\n\r\n",
		"GET /callback?code=c&state=s HTTP/1.1\r\nHo st: x\r\n\r\n",
		"GET /callback?code=c&state=s HTTP/1.1\r\nA: b\r\n c\r\n\r\n", /* folding */
		"GET /callback?code=c&state=s HTTP/1.1\r\nA: b\rc\r\n\r\n",  /* bare CR */
		"GET /callback?code=c&state=s HTTP/1.1\r\nA: b\x01\r\n\r\n",
		"GET /call\200back?code=c&state=s HTTP/1.1\r\n\r\n",        /* garbage bytes */
		"GET /callback?code=c\x7f&state=s HTTP/1.1\r\n\r\n",
		"\x16\x03\x01\x02\x01\x01\x01\xfc\x03\x03\r\n\r\n",       /* a TLS hello */
	};
	struct callback cb;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(reqs); i++) {
		if (parse(reqs[i], &cb) != SCAUTH_EINVAL)
			fail_msg("accepted bad request #%zu", i);
		assert_null(cb.code);
		assert_null(cb.state);
	}
}

static void
test_parse_nul_and_len(void **state)
{
	static const char nul[] = "GET /callback?code=c&state=s HTTP/1.1\r\nA: \0b\r\n\r\n";
	static const char ok[] = "GET /callback?code=c&state=s HTTP/1.1\r\n\r\n";
	struct callback cb;

	assert_int_equal(callback_parse(nul, sizeof(nul) - 1, CB, &cb), SCAUTH_EINVAL);
	/* The blank line lies beyond len: not arrived yet. */
	assert_int_equal(callback_parse(ok, sizeof(ok) - 3, CB, &cb), SCAUTH_EINVAL);
	assert_int_equal(callback_parse(ok, sizeof(ok) - 1, CB, &cb), 1);
	callback_free(&cb);
	assert_int_equal(callback_parse(NULL, 0, CB, &cb), SCAUTH_EINVAL);
}

/* A head of exactly MAX_CALLBACK_REQUEST bytes is taken, one more is not. */
static void
test_parse_cap(void **state)
{
	static const char start[] = "GET /callback?code=c&state=s HTTP/1.1\r\nX: ";
	struct callback cb;
	char *req;
	size_t n;

	req = malloc(MAX_CALLBACK_REQUEST + 2);
	assert_non_null(req);
	for (n = MAX_CALLBACK_REQUEST; n <= MAX_CALLBACK_REQUEST + 1; n++) {
		memcpy(req, start, sizeof(start) - 1);
		memset(req + sizeof(start) - 1, 'x', n - (sizeof(start) - 1) - 4);
		memcpy(req + n - 4, "\r\n\r\n", 4);
		req[n] = '\0';
		assert_int_equal(strlen(req), n);
		assert_int_equal(callback_parse(req, n, CB, &cb),
		    n == MAX_CALLBACK_REQUEST ? 1 : SCAUTH_EINVAL);
		callback_free(&cb);
	}
	free(req);
}

/* Values over their caps: a code longer than any token, a state or iss over 512. */
static void
test_parse_value_caps(void **state)
{
	struct callback cb;
	char *req, *big;

	big = malloc(MAX_TOKEN_LEN + 2);
	req = malloc(MAX_CALLBACK_REQUEST);
	assert_non_null(big);
	assert_non_null(req);
	memset(big, 'c', MAX_TOKEN_LEN + 1);
	big[MAX_TOKEN_LEN] = '\0';
	snprintf(req, MAX_CALLBACK_REQUEST, "GET /callback?code=%s&state=s HTTP/1.1\r\n\r\n", big);
	assert_int_equal(parse(req, &cb), 1);
	assert_int_equal(strlen(cb.code), MAX_TOKEN_LEN);
	callback_free(&cb);
	big[MAX_TOKEN_LEN] = 'c';
	big[MAX_TOKEN_LEN + 1] = '\0';
	snprintf(req, MAX_CALLBACK_REQUEST, "GET /callback?code=%s&state=s HTTP/1.1\r\n\r\n", big);
	assert_int_equal(parse(req, &cb), SCAUTH_EINVAL);
	big[513] = '\0';
	snprintf(req, MAX_CALLBACK_REQUEST, "GET /callback?code=c&state=%s HTTP/1.1\r\n\r\n", big);
	assert_int_equal(parse(req, &cb), SCAUTH_EINVAL);
	snprintf(req, MAX_CALLBACK_REQUEST, "GET /callback?code=c&iss=%s HTTP/1.1\r\n\r\n", big);
	assert_int_equal(parse(req, &cb), SCAUTH_EINVAL);
	big[65] = '\0';
	snprintf(req, MAX_CALLBACK_REQUEST, "GET /callback?error=%s HTTP/1.1\r\n\r\n", big);
	assert_int_equal(parse(req, &cb), SCAUTH_EINVAL);
	big[64] = '\0';
	snprintf(req, MAX_CALLBACK_REQUEST, "GET /callback?error=%s HTTP/1.1\r\n\r\n", big);
	assert_int_equal(parse(req, &cb), 1);
	callback_free(&cb);
	free(big);
	free(req);
}

static void
test_parse_query(void **state)
{
	struct callback cb;

	assert_int_equal(callback_parse_query("code=c&state=s", 14, &cb), 0);
	assert_string_equal(cb.code, "c");
	callback_free(&cb);
	/* n bounds the query: what lies past it is not read. */
	assert_int_equal(callback_parse_query("code=c&state=s&state=t", 14, &cb), 0);
	assert_string_equal(cb.state, "s");
	callback_free(&cb);
	assert_int_equal(callback_parse_query("code=c&state=s&state=t", 22, &cb), SCAUTH_EINVAL);
	assert_int_equal(callback_parse_query("", 0, &cb), 0);
	assert_null(cb.code);
}

/* ------------------------------------------------------------------------ */
/* Judging. */

struct fixture {
	char *home;
	scauth_ctx *ctx;        /* no issuer */
	scauth_ctx *ictx;       /* issuer https://issuer.test */
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	f->home = tu_tmpdir();
	f->ctx = tu_ctx(f->home, "client_id", "cid", NULL);
	f->ictx = tu_ctx(f->home, "client_id", "cid", "issuer", "https://issuer.test", NULL);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	scauth_ctx_free(f->ctx);
	scauth_ctx_free(f->ictx);
	tu_rmrf(f->home);
	free(f->home);
	free(f);
	return 0;
}

static int
check(scauth_ctx *ctx, const char *query, const char *st)
{
	struct callback cb;
	int r;

	assert_int_equal(callback_parse_query(query, strlen(query), &cb), 0);
	r = callback_check(ctx, &cb, st);
	callback_free(&cb);
	return r;
}

static void
test_check_state(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(check(f->ctx, "code=c&state=right", "right"), 0);
	assert_int_equal(check(f->ctx, "code=c&state=wrong", "right"), SCAUTH_ESTATE);
	assert_non_null(strstr(scauth_errmsg(f->ctx), "stale or forged"));
	assert_int_equal(check(f->ctx, "code=c&state=righ", "right"), SCAUTH_ESTATE);
	assert_int_equal(check(f->ctx, "code=c", "right"), SCAUTH_ESTATE);
	/* A wrong state wins over an error: a forged error must not end a login. */
	assert_int_equal(check(f->ctx, "error=access_denied&state=x", "right"), SCAUTH_ESTATE);
	assert_int_equal(check(f->ctx, "state=right", "right"), SCAUTH_EPROTO);
}

static void
test_check_error(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(check(f->ctx, "error=access_denied&error_description=The+user+denied+access"
	    "&state=s", "s"), SCAUTH_EDENIED);
	assert_string_equal(scauth_errmsg(f->ctx),
	    "login refused by SoundCloud: access_denied: The user denied access");
	assert_int_equal(check(f->ctx, "error=access_denied&state=s", "s"), SCAUTH_EDENIED);
	assert_string_equal(scauth_errmsg(f->ctx), "login refused by SoundCloud: access_denied");
	assert_int_equal(check(f->ctx, "error=invalid_scope&state=s", "s"), SCAUTH_EREQUEST);
	assert_int_equal(check(f->ctx, "error=server_error&state=s", "s"), SCAUTH_EUNAVAIL);
	assert_int_equal(check(f->ctx, "error=unauthorized_client&state=s", "s"), SCAUTH_EDENIED);
	assert_int_equal(check(f->ctx, "error=something_new&state=s", "s"), SCAUTH_EREQUEST);
	/* An error with a code is still an error. */
	assert_int_equal(check(f->ctx, "error=access_denied&code=c&state=s", "s"), SCAUTH_EDENIED);
}

static void
test_check_iss(void **state)
{
	struct fixture *f = *state;

	/* Without an issuer configured, iss is ignored. */
	assert_int_equal(check(f->ctx, "code=c&state=s&iss=https%3A%2F%2Fevil.test", "s"), 0);
	/* With one, iss must equal it when present (RFC 9207). */
	assert_int_equal(check(f->ictx, "code=c&state=s&iss=https%3A%2F%2Fissuer.test", "s"), 0);
	assert_int_equal(check(f->ictx, "code=c&state=s", "s"), 0);
	assert_int_equal(check(f->ictx, "code=c&state=s&iss=https%3A%2F%2Fevil.test", "s"),
	    SCAUTH_ESTATE);
	assert_non_null(strstr(scauth_errmsg(f->ictx), "RFC 9207"));
	assert_int_equal(check(f->ictx, "code=c&state=s&iss=https%3A%2F%2Fissuer.test%2F", "s"),
	    SCAUTH_ESTATE);
	/* Checked before an error is believed. */
	assert_int_equal(check(f->ictx, "error=access_denied&state=s&iss=https%3A%2F%2Fevil.test",
	    "s"), SCAUTH_ESTATE);
}

/* Line ends at the edges of the head. */
static void
test_parse_edges(void **state)
{
	/* The request line may be the blank line's only neighbour: no header at all. */
	static const char a[] = "GET / HTTP/1.1\n\n";
	/* A blank line made of LF CR LF right after the request line. */
	static const char b[] = "GET /callback HTTP/1.0\n\r\n";
	/* Nothing but line ends. */
	static const char c[] = "\n\r\n";
	/* A percent sign at the very end of the query. */
	static const char d[] = "GET /callback?% HTTP/1.1\r\n\r\n";
	struct callback cb;

	assert_int_equal(callback_parse(a, sizeof(a) - 1, CB, &cb), 0);
	assert_int_equal(callback_parse(b, sizeof(b) - 1, CB, &cb), 1);
	callback_free(&cb);
	assert_int_equal(callback_parse(c, sizeof(c) - 1, CB, &cb), SCAUTH_EINVAL);
	assert_int_equal(callback_parse(d, sizeof(d) - 1, CB, &cb), SCAUTH_EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_error),
		cmocka_unit_test(test_parse_other_path),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_parse_nul_and_len),
		cmocka_unit_test(test_parse_cap),
		cmocka_unit_test(test_parse_value_caps),
		cmocka_unit_test(test_parse_query),
		cmocka_unit_test(test_parse_edges),
		cmocka_unit_test_setup_teardown(test_check_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_iss, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
