/*
 * test_json.c - the parsers of server answers: token replies, the error body
 * shapes SoundCloud has used (RFC 6749, the legacy wrapper, the 429 body),
 * /me, and hostile input (truncation, trailing data, nesting bombs, NUL);
 * the strict check run before json-c, and the wipe of json-c's scratch buffer.
 */
#include "testutil.h"
#include "internal.h"

#include <json.h>

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
		{ "{\"access_token\":\"A\"} garbage", "invalid JSON (trailing data after the JSON value)" },
		{ "{\"access_token\":\"A\"}\f", "invalid JSON (trailing data after the JSON value)" },
		{ "{\"access_token\":12345}", "access_token is not a valid token string" },
		{ "{\"access_token\":\"\"}", "access_token is not a valid token string" },
		{ "{\"access_token\":\"has space\"}", "access_token is not a valid token string" },
		{ "{\"access_token\":\"A\\u0000B\"}", "access_token is not a valid token string" },
		{ "{\"access_token\":\"A\\n\"}", "access_token is not a valid token string" },
		{ "{\"expires_in\":3600}", "no access_token in the answer" },
		{ "[\"access_token\"]", "answer is not a JSON object" },
		{ "\"access_token\"", "answer is not a JSON object" },
		{ "hello", "invalid JSON (unexpected character at offset 0)" },
		{ "{\"access_token\":\"A\",\"token_type\":\"mac\"}", "unsupported token_type 'mac'" },
		{ "{\"access_token\":\"A\",\"token_type\":5}", "token_type is not a string" },
		{ "{\"access_token\":\"A\",\"expires_in\":-5}", NULL },
		{ "{\"access_token\":\"A\",\"expires_in\":1.5}", NULL },
		{ "{\"access_token\":\"A\",\"expires_in\":\"soon\"}", NULL },
		{ "{\"access_token\":\"A\",\"refresh_token\":[]}", NULL },
		{ "{\"access_token\":\"A\",\"scope\":\"a\\tb\"}", "scope is not printable text" },
		{ "{'access_token':'A'}", NULL },
		{ "{\"access_token\":\"A\",}", NULL },
		/* Names json-c would make collide, freeing the first value unwiped. */
		{ "{\"access_token\":\"SECRET1\",\"access_token\":\"x\"}",
		  "invalid JSON (duplicate member name at offset 26)" },
		{ "{\"access_token\\u0000zz\":\"SECRET\",\"access_token\":\"real\"}",
		  "invalid JSON (NUL in a member name at offset 14)" },
		{ "{\"access_token\":\"A\",\"access\\u005ftoken\":\"B\"}",
		  "invalid JSON (duplicate member name at offset 20)" },
		{ "{\"access_token\":\"A\",\"refresh_token\":\"R\",\"refresh_token\":\"S\"}",
		  "invalid JSON (duplicate member name at offset 40)" },
		{ "{\"x\":1,\"access_token\":\"A\",\"x\":2}",
		  "invalid JSON (duplicate member name at offset 26)" },
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

/* Nests n containers, objects or arrays, around inner. */
static char *
nested(int n, int objects, const char *inner)
{
	char *b = malloc((size_t)n * 6 + strlen(inner) + 1), *p = b;
	int i;

	for (i = 0; i < n; i++)
		p += sprintf(p, "%s", objects ? "{\"k\":" : "[");
	p += sprintf(p, "%s", inner);
	for (i = 0; i < n; i++)
		*p++ = objects ? '}' : ']';
	*p = '\0';
	return b;
}

/*
 * How many members json-c itself, with our flags and depth, keeps of the
 * object s: -1 when it does not parse s to an object.
 */
static int
json_c_members(const char *s)
{
	struct json_tokener *tok = json_tokener_new_ex(MAX_JSON_DEPTH);
	struct json_object *o;
	int n = -1;

	json_tokener_set_flags(tok, JSON_PARSE_FLAGS);
	o = json_tokener_parse_ex(tok, s, (int)strlen(s));
	if (o != NULL && json_tokener_get_error(tok) == json_tokener_success &&
	    json_object_get_type(o) == json_type_object)
		n = json_object_object_length(o);
	json_object_put(o);
	json_tokener_free(tok);
	return n;
}

static void
validator_cases(void **state)
{
	static const struct {
		const char *in;
		int r;                  /* json_validate()'s answer */
		const char *why;        /* for -1 */
		size_t longest;         /* for 0 */
	} cases[] = {
		{ "{}", 0, NULL, 0 },
		{ " \t\r\n{ \"k\" : [ ] }\r\n", 0, NULL, 1 },
		{ "{\"a-long-key\":\"v\"}", 0, NULL, 10 },
		/* Escapes count as the bytes they decode to. */
		{ "{\"k\":\"a\\nb\"}", 0, NULL, 3 },
		{ "{\"k\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"}", 0, NULL, 8 },
		{ "{\"k\":\"\\u0041\"}", 0, NULL, 1 },
		{ "{\"k\":\"\\u00e9\"}", 0, NULL, 2 },
		{ "{\"k\":\"\\u20AC\"}", 0, NULL, 3 },
		{ "{\"k\":\"\\ud83d\\ude00\"}", 0, NULL, 4 },
		{ "{\"k\":\"\\u0000\"}", 0, NULL, 1 },
		{ "{\"k\":\"\xc3\xa9\x7f\"}", 0, NULL, 3 },
		/* Numbers and literals take json-c's buffer too. */
		{ "{\"k\":-12.5e+3}", 0, NULL, 8 },
		{ "{\"k\":0,\"l\":-0,\"m\":0.5,\"n\":1E2,\"o\":1e-2}", 0, NULL, 4 },
		{ "{\"k\":false}", 0, NULL, 6 },
		{ "{\"k\":[true,null]}", 0, NULL, 5 },
		{ "{\"k\":18446744073709551615,\"l\":-9223372036854775808}", 0, NULL, 20 },
		{ "{\"k\":1e400}", 0, NULL, 5 },
		/* Valid JSON, but not an object. */
		{ "[1]", 1, NULL, 0 },
		{ "\"access_token\"", 1, NULL, 0 },
		{ "1", 1, NULL, 0 },
		{ " null ", 1, NULL, 0 },
		/* Truncated anywhere. */
		{ "", -1, "truncated", 0 },
		{ "  ", -1, "truncated", 0 },
		{ "{", -1, "truncated", 0 },
		{ "{\"a", -1, "truncated", 0 },
		{ "{\"a\":", -1, "truncated", 0 },
		{ "{\"a\":1", -1, "truncated", 0 },
		{ "{\"a\":\"abc", -1, "truncated", 0 },
		{ "{\"a\":\"\\u12", -1, "truncated", 0 },
		{ "{\"a\":\"\\ud800", -1, "truncated", 0 },
		{ "{\"a\":tru", -1, "truncated", 0 },
		{ "{\"a\":-", -1, "truncated", 0 },
		/* Trailing data. */
		{ "{\"a\":1}x", -1, "trailing data after the JSON value", 0 },
		{ "{\"a\":1}{\"b\":2}", -1, "trailing data after the JSON value", 0 },
		{ "{\"a\":1} \f", -1, "trailing data after the JSON value", 0 },
		/* White space is space, tab, LF and CR only. */
		{ "\f{\"a\":1}", -1, "unexpected character at offset 0", 0 },
		{ "{\"a\":\v1}", -1, "unexpected character at offset 5", 0 },
		{ "\xc2\xa0{}", -1, "unexpected character at offset 0", 0 },
		/* Numbers per the RFC. */
		{ "{\"a\":01}", -1, "unexpected character at offset 6", 0 },
		{ "{\"a\":-01}", -1, "unexpected character at offset 7", 0 },
		{ "{\"a\":1.}", -1, "unexpected character at offset 7", 0 },
		{ "{\"a\":.5}", -1, "unexpected character at offset 5", 0 },
		{ "{\"a\":-}", -1, "unexpected character at offset 6", 0 },
		{ "{\"a\":+1}", -1, "unexpected character at offset 5", 0 },
		{ "{\"a\":1e}", -1, "unexpected character at offset 7", 0 },
		{ "{\"a\":1e+}", -1, "unexpected character at offset 8", 0 },
		{ "{\"a\":0x10}", -1, "unexpected character at offset 6", 0 },
		{ "{\"a\":NaN}", -1, "unexpected character at offset 5", 0 },
		{ "{\"a\":Infinity}", -1, "unexpected character at offset 5", 0 },
		{ "{\"a\":-Infinity}", -1, "unexpected character at offset 6", 0 },
		{ "{\"a\":18446744073709551616}", -1, "integer out of range at offset 5", 0 },
		{ "{\"a\":-9223372036854775809}", -1, "integer out of range at offset 5", 0 },
		/* Literals, keys, separators. */
		{ "{\"a\":True}", -1, "unexpected character at offset 5", 0 },
		{ "{\"a\":nul}", -1, "unexpected character at offset 8", 0 },
		{ "{'a':1}", -1, "unexpected character at offset 1", 0 },
		{ "{a:1}", -1, "unexpected character at offset 1", 0 },
		{ "{\"a\" 1}", -1, "unexpected character at offset 5", 0 },
		{ "{\"a\":1,}", -1, "unexpected character at offset 7", 0 },
		{ "{,}", -1, "unexpected character at offset 1", 0 },
		{ "{\"a\":[1,]}", -1, "unexpected character at offset 8", 0 },
		{ "{\"a\":[1 2]}", -1, "unexpected character at offset 8", 0 },
		{ "{\"a\":1 /* c */}", -1, "unexpected character at offset 7", 0 },
		/* Strings. */
		{ "{\"a\":\"\x01\"}", -1, "control character in a string at offset 6", 0 },
		{ "{\"a\":\"\t\"}", -1, "control character in a string at offset 6", 0 },
		{ "{\"a\":\"\\x\"}", -1, "invalid escape at offset 7", 0 },
		{ "{\"a\":\"\\U0041\"}", -1, "invalid escape at offset 7", 0 },
		{ "{\"a\":\"\\u12g4\"}", -1, "invalid escape at offset 10", 0 },
		{ "{\"a\":\"\\ud800\"}", -1, "unpaired surrogate at offset 12", 0 },
		{ "{\"a\":\"\\ud800x\"}", -1, "unpaired surrogate at offset 12", 0 },
		{ "{\"a\":\"\\ud800\\n\"}", -1, "unpaired surrogate at offset 13", 0 },
		{ "{\"a\":\"\\ud800\\u0041\"}", -1, "unpaired surrogate at offset 18", 0 },
		{ "{\"a\":\"\\udc00\"}", -1, "unpaired surrogate at offset 12", 0 },
		{ "{\"\\udfff\":1}", -1, "unpaired surrogate at offset 8", 0 },
	};
	char why[80];
	size_t i, longest;
	int r;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		why[0] = '\0';
		longest = 99;
		r = json_validate(cases[i].in, strlen(cases[i].in), &longest, why, sizeof(why));
		if (r != cases[i].r)
			fail_msg("%s: %d (%s), want %d", cases[i].in, r, why, cases[i].r);
		if (r < 0 && strcmp(why, cases[i].why) != 0)
			fail_msg("%s: why '%s', want '%s'", cases[i].in, why, cases[i].why);
		if (r == 0 && longest != cases[i].longest)
			fail_msg("%s: longest %zu, want %zu", cases[i].in, longest, cases[i].longest);
		/* Never laxer than json-c. */
		if (r == 0 && json_c_members(cases[i].in) < 0)
			fail_msg("%s: json-c refuses it", cases[i].in);
	}
	/* A NUL is never text, in a string or out of one. */
	assert_int_equal(json_validate("{\"a\":\"\0\"}", 9, &longest, why, sizeof(why)), -1);
	assert_string_equal(why, "control character in a string at offset 6");
	assert_int_equal(json_validate("{}\0", 3, &longest, why, sizeof(why)), -1);
	assert_string_equal(why, "trailing data after the JSON value");
}

/*
 * Member names that json-c makes collide (it keeps the last value and frees
 * the other unwiped) are refused in the top-level object, compared as they
 * decode; a name holding U+0000 (json-c cuts it there) anywhere.
 */
static void
validator_member_names(void **state)
{
	static const struct {
		const char *in;
		const char *why;        /* NULL: taken */
	} cases[] = {
		/* The same name, however spelt: json-c sees 1 member where we see 2. */
		{ "{\"a\":1,\"a\":2}", "duplicate member name at offset 7" },
		{ "{\"a\":1, \"b\":{}, \"a\":{\"c\":2}}", "duplicate member name at offset 16" },
		{ "{\"\":1,\"\":2}", "duplicate member name at offset 6" },
		{ "{\"a_b\":1,\"a\\u005fb\":2}", "duplicate member name at offset 9" },
		{ "{\"a_b\":1,\"a\\u005Fb\":2}", "duplicate member name at offset 9" },
		{ "{\"/\\n\\\"\":1,\"\\/\\u000a\\u0022\":2}", "duplicate member name at offset 11" },
		{ "{\"\xc3\xa9\":1,\"\\u00e9\":2}", "duplicate member name at offset 8" },
		{ "{\"\xe2\x82\xac\":1,\"\\u20ac\":2}", "duplicate member name at offset 9" },
		{ "{\"\xf0\x9f\x98\x80\":1,\"\\ud83d\\ude00\":2}", "duplicate member name at offset 10" },
		/* Cut at the NUL by json-c, so "a\u0000b" is "a" to it; refused at any depth. */
		{ "{\"a\\u0000b\":1,\"a\":2}", "NUL in a member name at offset 3" },
		{ "{\"\\u0000\":1}", "NUL in a member name at offset 2" },
		{ "{\"k\":{\"x\\u0000\":1}}", "NUL in a member name at offset 8" },
		{ "{\"k\":[{\"\\u0000\":1}]}", "NUL in a member name at offset 8" },
		/* Names alike but not the same, and NUL in values: taken. */
		{ "{\"a\":1,\"A\":2,\"a \":3,\"\\u0061b\":4,\"b\":5,\"\\u00e8\":6,\"\\u00e9\":7}", NULL },
		{ "{\"access_token\":\"A\",\"access_token_\":\"B\",\"refresh_token\":\"R\"}", NULL },
		{ "{\"a\":\"\\u0000\",\"b\":[\"\\u0000\"]}", NULL },
		/*
		 * Repeated names in nested objects: taken, as json-c takes them (it
		 * keeps the last).  No secret lives there, and the wipe of what is
		 * kept is unchanged.
		 */
		{ "{\"x\":{\"k\":1,\"k\":2},\"y\":[{\"k\":\"v\",\"k\":\"w\"}],\"k\":0}", NULL },
		{ "{\"x\":{\"x\":{\"x\":1,\"x\":2}}}", NULL },
	};
	char why[80], want[80], *b, *p;
	size_t i, longest;
	int r;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		why[0] = '\0';
		r = json_validate(cases[i].in, strlen(cases[i].in), &longest, why, sizeof(why));
		if (cases[i].why == NULL && r != 0)
			fail_msg("%s: refused (%s)", cases[i].in, why);
		if (cases[i].why != NULL && (r != -1 || strcmp(why, cases[i].why) != 0))
			fail_msg("%s: %d, why '%s', want '%s'", cases[i].in, r, why, cases[i].why);
		if (r == 0 && json_c_members(cases[i].in) < 0)
			fail_msg("%s: json-c refuses it", cases[i].in);
	}
	/* What is refused as a duplicate is what json-c folds: it keeps one member of two. */
	assert_int_equal(json_c_members("{\"a_b\":1,\"a\\u005fb\":2}"), 1);
	assert_int_equal(json_c_members("{\"\xf0\x9f\x98\x80\":1,\"\\ud83d\\ude00\":2}"), 1);
	assert_int_equal(json_c_members("{\"/\\n\\\"\":1,\"\\/\\u000a\\u0022\":2}"), 1);
	assert_int_equal(json_c_members("{\"a\\u0000b\":1,\"a\":2}"), 1);
	assert_int_equal(json_c_members("{\"\\u00e8\":6,\"\\u00e9\":7}"), 2);

	/* At most MAX_JSON_MEMBERS top-level members; nested ones are not counted. */
	b = malloc(MAX_JSON_MEMBERS * 32 + 64);
	p = b + sprintf(b, "{\"n\":{");
	for (i = 0; i < 2 * MAX_JSON_MEMBERS; i++)
		p += sprintf(p, "%s\"%zu\":0", i > 0 ? "," : "", i);
	p += sprintf(p, "}");
	for (i = 1; i < MAX_JSON_MEMBERS; i++)
		p += sprintf(p, ",\"%zu\":0", i);
	strcpy(p, "}");
	assert_int_equal(json_validate(b, strlen(b), &longest, why, sizeof(why)), 0);
	assert_int_equal(json_c_members(b), MAX_JSON_MEMBERS);
	sprintf(p, ",\"x\":0}");
	assert_int_equal(json_validate(b, strlen(b), &longest, why, sizeof(why)), -1);
	snprintf(want, sizeof(want), "too many top-level members at offset %zu", (size_t)(p - b) + 1);
	assert_string_equal(why, want);
	free(b);
}

static void
validator_depth(void **state)
{
	char why[80], *b, *in, *in2;
	size_t longest;

	/* At the limit, with values in the innermost: taken, by json-c too. */
	b = nested(MAX_JSON_NESTING - 1, 1, "{\"k\":\"v\"}");
	assert_int_equal(json_validate(b, strlen(b), &longest, why, sizeof(why)), 0);
	assert_true(json_c_members(b) >= 0);
	free(b);
	in = nested(MAX_JSON_NESTING - 2, 0, "[1,\"s\",true]");
	b = malloc(strlen(in) + 8);
	sprintf(b, "{\"k\":%s}", in);
	assert_int_equal(json_validate(b, strlen(b), &longest, why, sizeof(why)), 0);
	assert_true(json_c_members(b) >= 0);
	free(b);
	free(in);
	/* One over, even empty. */
	b = nested(MAX_JSON_NESTING, 1, "{}");
	assert_int_equal(json_validate(b, strlen(b), &longest, why, sizeof(why)), -1);
	assert_string_equal(why, "nesting too deep");
	/* ... which json-c would still take: the check is the stricter. */
	assert_true(json_c_members(b) >= 0);
	free(b);
	in2 = nested(MAX_JSON_NESTING - 1, 0, "[]");
	b = malloc(strlen(in2) + 8);
	sprintf(b, "{\"k\":%s}", in2);
	assert_int_equal(json_validate(b, strlen(b), &longest, why, sizeof(why)), -1);
	assert_string_equal(why, "nesting too deep");
	free(b);
	free(in2);
	/* Where json-c's own cap is. */
	b = nested(MAX_JSON_NESTING, 1, "{\"k\":1}");
	assert_true(json_c_members(b) < 0);
	free(b);
}

/* Whether any 8 bytes of the canary are in buf[0..n). */
static int
holds_canary(const char *buf, size_t n, const char *canary)
{
	size_t i, len = strlen(canary);

	for (i = 0; i + 8 <= len; i++)
		if (memmem(buf, n, canary + i, 8) != NULL)
			return 1;
	return 0;
}

/* Wipes the strings of a flat object, then puts it: no canary left in freed memory. */
static void
put_wiped(struct json_object *o)
{
	json_object_object_foreach(o, key, val) {
		(void)key;
		if (json_object_get_type(val) == json_type_string)
			memset((char *)(uintptr_t)json_object_get_string(val), 0,
			    (size_t)json_object_get_string_len(val));
	}
	json_object_put(o);
}

/* Copies tmpl to dst with each @ replaced by the canary. */
static void
with_canary(char *dst, const char *tmpl, const char *canary)
{
	for (; *tmpl != '\0'; tmpl++)
		if (*tmpl == '@')
			dst = stpcpy(dst, canary);
		else
			*dst++ = *tmpl;
	*dst = '\0';
}

/*
 * json-c's scratch buffer no longer holds a token after a parse.  The test
 * looks at tok->pb, which the library must not: json-c still publishes it,
 * and nothing else shows that buffer.  Without the fill after the parse in
 * json_parse_wiped() this fails.
 */
static void
scratch_buffer_wiped(void **state)
{
	static const char *bodies[] = {
		/* Long enough to make the buffer grow; escapes decode shorter. */
		"{\"access_token\":\"@\",\"token_type\":\"bearer\",\"expires_in\":3600}",
		"{\"k\":\"a\\u0041\\n\\ud83d\\ude00\",\"access_token\":\"@\"}",
		/* The token is not the longest string: the fill still covers it. */
		"{\"access_token\":\"@\",\"other\":\"@-and-more-to-be-longer\"}",
	};
	char canary[1200], body[4096], why[160];
	struct json_tokener *tok;
	struct json_object *o;
	struct token_reply tr;
	size_t i;

	for (i = 0; i < sizeof(canary) - 1; i++)
		canary[i] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-._"[
		    (i * 7 + i / 65) % 65];
	canary[sizeof(canary) - 1] = '\0';
	for (i = 0; i < ARRAY_SIZE(bodies); i++) {
		with_canary(body, bodies[i], canary);
		tok = json_tokener_new_ex(MAX_JSON_DEPTH);
		o = json_parse_wiped(tok, body, strlen(body), "answer", why, sizeof(why));
		assert_non_null(o);
		assert_false(holds_canary(tok->pb->buf, (size_t)tok->pb->size, canary));
		put_wiped(o);
		json_tokener_free(tok);
		/* And the parsers built on it still read the token. */
		assert_int_equal(json_token_reply(body, strlen(body), &tr, why, sizeof(why)), SCAUTH_OK);
		assert_string_equal(tr.access, canary);
		token_reply_free(&tr);
	}
	/* A body refused is never given to json-c. */
	with_canary(body, "{\"access_token\":\"@\"", canary);
	tok = json_tokener_new_ex(MAX_JSON_DEPTH);
	assert_null(json_parse_wiped(tok, body, strlen(body), "answer", why, sizeof(why)));
	assert_string_equal(why, "invalid JSON (truncated)");
	assert_false(holds_canary(tok->pb->buf, (size_t)tok->pb->size, canary));
	json_tokener_free(tok);
}

/*
 * What the wipe relies on in json-c: once the buffer has taken n bytes of
 * filler, it takes any token of fewer bytes in place (no realloc, which would
 * free an unwiped copy), and the filler overwrites all that token wrote.
 */
static void
scratch_buffer_reused(void **state)
{
	static const size_t sizes[] = { 1, 31, 32, 33, 100, 255, 256, 257, 1000, 5000 };
	struct json_tokener *tok;
	struct json_object *o;
	char *body, *buf;
	size_t i, n;
	int size;

	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		n = sizes[i];
		tok = json_tokener_new_ex(MAX_JSON_DEPTH);
		json_scratch_fill(tok, n + 1);
		buf = tok->pb->buf;
		size = tok->pb->size;
		body = malloc(n + 16);
		sprintf(body, "{\"k\":\"");
		memset(body + 6, 'S', n);
		strcpy(body + 6 + n, "\"}");
		json_tokener_set_flags(tok, JSON_PARSE_FLAGS);
		assert_non_null(o = json_tokener_parse_ex(tok, body, (int)strlen(body)));
		put_wiped(o);
		assert_ptr_equal(tok->pb->buf, buf);
		assert_int_equal(tok->pb->size, size);
		assert_non_null(memchr(tok->pb->buf, 'S', n));
		json_scratch_fill(tok, n + 1);
		assert_ptr_equal(tok->pb->buf, buf);
		/* All the token wrote: its n bytes and a NUL. */
		assert_null(memchr(tok->pb->buf, 'S', n + 1));
		memset(body, 0, n + 16);
		free(body);
		json_tokener_free(tok);
	}
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
	assert_int_equal(error_body("{\"error\":\"invalid_grant\",\"error\":\"x\"}", &oe), 0);
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
	/* A /me over the cap is refused before json-c spends memory on it. */
	{
		size_t n = MAX_ME_BODY + 1;
		char *big = malloc(n + 1);

		assert_non_null(big);
		memset(big, ' ', n);
		memcpy(big, "{\"urn\":\"soundcloud:users:7\"}", 28);
		big[n] = '\0';
		assert_int_equal(json_me_reply(big, n, &m, why, sizeof(why)), SCAUTH_EPROTO);
		assert_non_null(strstr(why, "over 1024 KiB"));
		/* One byte less, and the same body is read. */
		assert_int_equal(json_me_reply(big, n - 1, &m, why, sizeof(why)), SCAUTH_OK);
		me_reply_free(&m);
		free(big);
	}
	/* Names beyond ASCII, raw and escaped (json-c 0.18's strict mode refused them). */
	assert_int_equal(me("{\"urn\":\"soundcloud:users:7\",\"username\":\"Zo\xc3\xab \xe2\x99\xab\","
	    "\"full_name\":\"\\u00e9\\ud83c\\udfb5\"}", &m, why), SCAUTH_OK);
	assert_string_equal(m.username, "Zo\xc3\xab \xe2\x99\xab");
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
	assert_int_equal(me("{\"urn\":\"soundcloud:users:7\",\"urn\":\"soundcloud:users:8\"}", &m,
	    why), SCAUTH_EPROTO);
	assert_string_equal(why, "invalid JSON (duplicate member name at offset 28)");
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
		cmocka_unit_test(validator_cases),
		cmocka_unit_test(validator_member_names),
		cmocka_unit_test(validator_depth),
		cmocka_unit_test(scratch_buffer_wiped),
		cmocka_unit_test(scratch_buffer_reused),
		cmocka_unit_test(error_bodies),
		cmocka_unit_test(reset_times),
		cmocka_unit_test(me_replies),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
