/*
 * test_json.c - the parsers of server answers: token replies, the error body
 * shapes SoundCloud has used (RFC 6749, the legacy wrapper, the 429 body),
 * /me, and hostile input (truncation, trailing data, nesting bombs, NUL).
 */
#include "testutil.h"
#include "internal.h"

static int
token(const char *body, struct token_reply *tr, char *why)
{
	return json_token_reply(body, strlen(body), tr, why, 160);
}

static void
token_reply_full(void **state)
{
	struct token_reply tr;
	char why[160];

	assert_int_equal(token("{\"access_token\":\"A-1.b_c\",\"expires_in\":3599,"
	    "\"refresh_token\":\"R2\",\"scope\":\"non-expiring\",\"token_type\":\"bearer\","
	    "\"unknown\":{\"nested\":[1,2,3]}}", &tr, why), SCAUTH_OK);
	assert_string_equal(tr.access, "A-1.b_c");
	assert_string_equal(tr.refresh, "R2");
	assert_string_equal(tr.scope, "non-expiring");
	assert_int_equal(tr.expires_in, 3599);
	token_reply_free(&tr);
}

static void
token_reply_optional_fields(void **state)
{
	struct token_reply tr;
	char why[160];

	/* Minimal: no refresh token, no expiry, no type. */
	assert_int_equal(token("{\"access_token\":\"A\"}", &tr, why), SCAUTH_OK);
	assert_null(tr.refresh);
	assert_null(tr.scope);
	assert_int_equal(tr.expires_in, -1);
	token_reply_free(&tr);
	/* token_type is case-insensitive; nulls mean absent; expires_in may be quoted. */
	assert_int_equal(token("{\"access_token\":\"A\",\"token_type\":\"Bearer\","
	    "\"refresh_token\":null,\"scope\":null,\"expires_in\":\"60\"}", &tr, why), SCAUTH_OK);
	assert_null(tr.refresh);
	assert_int_equal(tr.expires_in, 60);
	token_reply_free(&tr);
	assert_int_equal(token("{\"access_token\":\"A\",\"token_type\":\"BEARER\",\"scope\":\"a b\"}",
	    &tr, why), SCAUTH_OK);
	assert_string_equal(tr.scope, "a b");
	token_reply_free(&tr);
	/* White space around the value is fine. */
	assert_int_equal(token("  \n{\"access_token\":\"A\"}\n\t ", &tr, why), SCAUTH_OK);
	token_reply_free(&tr);
}

static void
token_reply_refused(void **state)
{
	static const struct {
		const char *body;
		const char *why;
	} bad[] = {
		{ "", "empty body" },
		{ "{\"access_token\": \"abc\", \"expires_in\": 3", "invalid JSON (truncated)" },
		{ "{\"access_token\":\"A\"} garbage", NULL },  /* strict mode: unexpected character */
		{ "{\"access_token\":12345}", "access_token is not a valid token string" },
		{ "{\"access_token\":\"\"}", "access_token is not a valid token string" },
		{ "{\"access_token\":\"has space\"}", "access_token is not a valid token string" },
		{ "{\"access_token\":\"A\\u0000B\"}", "access_token is not a valid token string" },
		{ "{\"access_token\":\"A\\n\"}", "access_token is not a valid token string" },
		{ "{\"expires_in\":3600}", "no access_token in the answer" },
		{ "[\"access_token\"]", "answer is not a JSON object" },
		{ "\"access_token\"", "answer is not a JSON object" },
		{ "hello", NULL },
		{ "{\"access_token\":\"A\",\"token_type\":\"mac\"}", "unsupported token_type 'mac'" },
		{ "{\"access_token\":\"A\",\"token_type\":5}", "token_type is not a string" },
		{ "{\"access_token\":\"A\",\"expires_in\":-5}", NULL },
		{ "{\"access_token\":\"A\",\"expires_in\":1.5}", NULL },
		{ "{\"access_token\":\"A\",\"expires_in\":\"soon\"}", NULL },
		{ "{\"access_token\":\"A\",\"refresh_token\":[]}", NULL },
		{ "{\"access_token\":\"A\",\"scope\":\"a\\tb\"}", "scope is not printable text" },
		{ "{'access_token':'A'}", NULL },
		{ "{\"access_token\":\"A\",}", NULL },
	};
	struct token_reply tr;
	char why[160];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		why[0] = '\0';
		if (token(bad[i].body, &tr, why) != SCAUTH_EPROTO)
			fail_msg("accepted: %s", bad[i].body);
		if (bad[i].why != NULL && strcmp(why, bad[i].why) != 0)
			fail_msg("%s: why '%s', want '%s'", bad[i].body, why, bad[i].why);
		assert_null(tr.access);
		assert_null(tr.refresh);
	}
	/* An embedded NUL in the body itself. */
	assert_int_equal(json_token_reply("{\"access_token\":\"A\"}\0", 21, &tr, why, sizeof(why)),
	    SCAUTH_EPROTO);
}

static void
nesting_bomb(void **state)
{
	struct token_reply tr;
	struct oauth_error oe;
	char why[160];
	size_t n = 100000, i;
	char *b = malloc(2 * n + 1);

	for (i = 0; i < n; i++) {
		b[i] = '[';
		b[n + i] = ']';
	}
	b[2 * n] = '\0';
	assert_int_equal(token(b, &tr, why), SCAUTH_EPROTO);
	assert_non_null(strstr(why, "invalid JSON"));
	assert_int_equal(json_oauth_error(b, strlen(b), &oe), 0);
	free(b);
}

static void
long_token_capped(void **state)
{
	struct token_reply tr;
	char why[160], *b = malloc(MAX_TOKEN_LEN + 64);

	strcpy(b, "{\"access_token\":\"");
	memset(b + strlen(b), 'a', MAX_TOKEN_LEN + 1);
	strcpy(b + 17 + MAX_TOKEN_LEN + 1, "\"}");
	assert_int_equal(token(b, &tr, why), SCAUTH_EPROTO);
	free(b);
}

static int
error_body(const char *body, struct oauth_error *oe)
{
	return json_oauth_error(body, strlen(body), oe);
}

static void
error_bodies(void **state)
{
	struct oauth_error oe;

	assert_int_equal(error_body("{\"error\":\"invalid_grant\"}", &oe), 1);
	assert_string_equal(oe.error, "invalid_grant");
	assert_string_equal(oe.description, "");
	assert_int_equal(oauth_error_code(oe.error), SCAUTH_EGRANT);

	assert_int_equal(error_body("{\"error\":\"invalid_client\",\"error_description\":"
	    "\"Client authentication failed\"}", &oe), 1);
	assert_int_equal(oauth_error_code(oe.error), SCAUTH_ECLIENT);
	assert_string_equal(oe.description, "Client authentication failed");

	/* SoundCloud's legacy wrapper (#169). */
	assert_int_equal(error_body("{\"code\":401,\"message\":\"invalid_grant\",\"status\":"
	    "\"401 - Unauthorized\",\"errors\":[{\"error_message\":\"invalid_grant\"}],"
	    "\"error_code\":\"invalid_grant\"}", &oe), 1);
	assert_string_equal(oe.error, "invalid_grant");
	assert_int_equal(oauth_error_code(oe.error), SCAUTH_EGRANT);
	assert_int_equal(oe.reset_time, 0);

	/* The 429 body with reset_time. */
	assert_int_equal(error_body("{\"errors\":[{\"meta\":{\"rate_limit\":{\"bucket\":\"by-ip\","
	    "\"max_nr_of_requests\":30,\"time_window\":\"PT1H\",\"name\":"
	    "\"client-credentials-exchange\"},\"remaining_requests\":0,\"reset_time\":"
	    "\"2015/06/01 09:49:40 +0000\"}}]}", &oe), 1);
	assert_int_equal(oe.reset_time, 1433152180);
	assert_int_equal(oauth_error_code(oe.error), SCAUTH_ERATELIMIT);

	/* The other rate-limit spellings (#517, #529). */
	assert_int_equal(error_body("{\"error\":\"rate_limit_exceeded\"}", &oe), 1);
	assert_int_equal(oauth_error_code(oe.error), SCAUTH_ERATELIMIT);
	assert_int_equal(error_body("{\"error\":\"Rate Limit Exceeded\"}", &oe), 1);
	assert_int_equal(oauth_error_code(oe.error), SCAUTH_ERATELIMIT);

	/* API errors. */
	assert_int_equal(error_body("{\"code\":404,\"message\":\"Not Found\",\"link\":\"x\"}", &oe), 1);
	assert_string_equal(oe.error, "");
	assert_string_equal(oe.description, "Not Found");

	/* Descriptions are sanitised for messages and pages. */
	assert_int_equal(error_body("{\"error\":\"access_denied\",\"error_description\":"
	    "\"a\\nb\\u001bc\"}", &oe), 1);
	assert_string_equal(oe.description, "a?b?c");

	/* Not error bodies. */
	assert_int_equal(error_body("<html>503</html>", &oe), 0);
	assert_int_equal(error_body("{}", &oe), 0);
	assert_int_equal(error_body("{\"error\":5}", &oe), 0);
	assert_int_equal(oauth_error_code("something_new"), SCAUTH_EREQUEST);
}

static void
reset_times(void **state)
{
	assert_int_equal(parse_reset_time("2015/06/01 09:49:40 +0000"), 1433152180);
	assert_int_equal(parse_reset_time("2015/06/01 11:49:40 +0200"), 1433152180);
	assert_int_equal(parse_reset_time("2015/06/01 08:49:40 -0100"), 1433152180);
	assert_int_equal(parse_reset_time("2015-06-01 09:49:40 +0000"), 0);
	assert_int_equal(parse_reset_time("2015/06/01 09:49:40"), 0);
	assert_int_equal(parse_reset_time("2015/06/01 09:49:40 +00"), 0);
	assert_int_equal(parse_reset_time(""), 0);
}

static int
me(const char *body, struct me_reply *m, char *why)
{
	return json_me_reply(body, strlen(body), m, why, 160);
}

static void
me_replies(void **state)
{
	struct me_reply m;
	char why[160];

	assert_int_equal(me("{\"kind\":\"user\",\"id\":7,\"urn\":\"soundcloud:users:7\","
	    "\"username\":\"DJ Seven\",\"permalink\":\"dj-seven\",\"full_name\":\"\"}", &m, why),
	    SCAUTH_OK);
	assert_string_equal(m.urn, "soundcloud:users:7");
	assert_string_equal(m.permalink, "dj-seven");
	assert_string_equal(m.username, "DJ Seven");
	me_reply_free(&m);
	assert_int_equal(me("{\"urn\":\"soundcloud:users:7\"}", &m, why), SCAUTH_OK);
	assert_null(m.permalink);
	me_reply_free(&m);
	assert_int_equal(me("{\"id\":7}", &m, why), SCAUTH_EPROTO);
	assert_int_equal(me("{\"urn\":\"soundcloud:tracks:7\"}", &m, why), SCAUTH_EPROTO);
	assert_int_equal(me("{\"urn\":\"soundcloud:users:\"}", &m, why), SCAUTH_EPROTO);
	assert_int_equal(me("{\"urn\":\"soundcloud:users:7x\"}", &m, why), SCAUTH_EPROTO);
	assert_int_equal(me("{\"urn\":\"soundcloud:users:7\",\"permalink\":\"a b\"}", &m, why),
	    SCAUTH_EPROTO);
	assert_int_equal(me("[]", &m, why), SCAUTH_EPROTO);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(token_reply_full),
		cmocka_unit_test(token_reply_optional_fields),
		cmocka_unit_test(token_reply_refused),
		cmocka_unit_test(nesting_bomb),
		cmocka_unit_test(long_token_capped),
		cmocka_unit_test(error_bodies),
		cmocka_unit_test(reset_times),
		cmocka_unit_test(me_replies),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
