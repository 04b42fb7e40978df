/*
 * test_encode.c - base64 (RFC 4648 vectors), percent-encoding, query
 * strings and the URL subset that configuration may use.
 */
#include "testutil.h"
#include "internal.h"

static void
check_b64(const char *in, const char *std, const char *url)
{
	char *s = b64_encode(in, strlen(in), 0), *u = b64_encode(in, strlen(in), 1);

	assert_string_equal(s, std);
	assert_string_equal(u, url);
	sfree(s);
	sfree(u);
}

static void
base64_rfc4648_vectors(void **state)
{
	check_b64("", "", "");
	check_b64("f", "Zg==", "Zg");
	check_b64("fo", "Zm8=", "Zm8");
	check_b64("foo", "Zm9v", "Zm9v");
	check_b64("foob", "Zm9vYg==", "Zm9vYg");
	check_b64("fooba", "Zm9vYmE=", "Zm9vYmE");
	check_b64("foobar", "Zm9vYmFy", "Zm9vYmFy");
	/* The alphabets differ in the last two characters. */
	check_b64("\xfb\xff\xbf", "+/+/", "-_-_");
}

static void
escape(const char *in, int form, const char *want)
{
	struct sbuf b = SBUF_INIT(0);

	assert_int_equal(url_escape(&b, in, form), SCAUTH_OK);
	assert_string_equal(sbuf_str(&b), want);
	sbuf_free(&b);
}

static void
percent_encoding(void **state)
{
	escape("abc-._~XYZ019", 0, "abc-._~XYZ019");
	escape("a b", 0, "a%20b");
	escape("a b", 1, "a+b");
	escape("a+b&c=d/e:f%", 1, "a%2Bb%26c%3Dd%2Fe%3Af%25");
	escape("http://127.0.0.1:8765/callback", 1, "http%3A%2F%2F127.0.0.1%3A8765%2Fcallback");
	escape("\xc3\xa9", 1, "%C3%A9");
}

static int
unescape(const char *in, int form, struct sbuf *b)
{
	sbuf_reset(b);
	return url_unescape(b, in, strlen(in), form);
}

static void
percent_decoding(void **state)
{
	struct sbuf b = SBUF_INIT(0);

	assert_int_equal(unescape("a%20b+c", 1, &b), SCAUTH_OK);
	assert_string_equal(sbuf_str(&b), "a b c");
	assert_int_equal(unescape("a+c", 0, &b), SCAUTH_OK);
	assert_string_equal(sbuf_str(&b), "a+c");
	assert_int_equal(unescape("%2b%2B", 1, &b), SCAUTH_OK);
	assert_string_equal(sbuf_str(&b), "++");
	/* Broken escapes and encoded NUL are refused, not guessed at. */
	assert_int_equal(unescape("%", 1, &b), SCAUTH_EINVAL);
	assert_int_equal(unescape("%4", 1, &b), SCAUTH_EINVAL);
	assert_int_equal(unescape("ab%", 1, &b), SCAUTH_EINVAL);
	assert_int_equal(unescape("%zz", 1, &b), SCAUTH_EINVAL);
	assert_int_equal(unescape("a%00b", 1, &b), SCAUTH_EINVAL);
	sbuf_free(&b);
}

static int
qget(const char *q, const char *key, struct sbuf *out)
{
	return query_get(q, strlen(q), key, out);
}

static void
query_strings(void **state)
{
	struct sbuf v = SBUF_INIT(0);

	assert_int_equal(qget("code=abc&state=xyz", "state", &v), 1);
	assert_string_equal(sbuf_str(&v), "xyz");
	assert_int_equal(qget("code=abc&state=xyz", "code", &v), 1);
	assert_string_equal(sbuf_str(&v), "abc");
	assert_int_equal(qget("code=abc", "state", &v), 0);
	assert_int_equal(qget("", "state", &v), 0);
	/* Names are decoded before they are compared. */
	assert_int_equal(qget("st%61te=1", "state", &v), 1);
	assert_string_equal(sbuf_str(&v), "1");
	/* A key present twice is ambiguous: refused. */
	assert_int_equal(qget("state=a&state=b", "state", &v), SCAUTH_EINVAL);
	assert_string_equal(sbuf_str(&v), "");
	assert_int_equal(qget("state=a&st%61te=b", "state", &v), SCAUTH_EINVAL);
	/* Empty values, keys without '=', values with '='. */
	assert_int_equal(qget("state=&x", "state", &v), 1);
	assert_string_equal(sbuf_str(&v), "");
	assert_int_equal(qget("x&state", "state", &v), 1);
	assert_int_equal(qget("a=b=c", "a", &v), 1);
	assert_string_equal(sbuf_str(&v), "b=c");
	assert_int_equal(qget("error_description=The+user%20said+no", "error_description", &v), 1);
	assert_string_equal(sbuf_str(&v), "The user said no");
	assert_int_equal(qget("code=%zz", "code", &v), SCAUTH_EINVAL);
	assert_int_equal(qget("&&&code=1&&", "code", &v), 1);
	sbuf_free(&v);
}

static void
urls_accepted(void **state)
{
	struct url u;

	assert_int_equal(url_parse("https://API.SoundCloud.com", &u), SCAUTH_OK);
	assert_string_equal(u.scheme, "https");
	assert_string_equal(u.host, "api.soundcloud.com");
	assert_null(u.port);
	assert_string_equal(u.path, "/");
	assert_null(u.query);
	url_free(&u);

	assert_int_equal(url_parse("http://127.0.0.1:8765/callback?x=1", &u), SCAUTH_OK);
	assert_string_equal(u.scheme, "http");
	assert_string_equal(u.host, "127.0.0.1");
	assert_string_equal(u.port, "8765");
	assert_string_equal(u.path, "/callback");
	assert_string_equal(u.query, "x=1");
	url_free(&u);

	assert_int_equal(url_parse("https://[::1]:443/a/b/", &u), SCAUTH_OK);
	assert_string_equal(u.host, "::1");
	assert_true(u.ipv6);
	assert_string_equal(u.path, "/a/b/");
	url_free(&u);
}

static void
urls_refused(void **state)
{
	static const char *const bad[] = {
		"ftp://example.com/", "https//example.com", "https://", "https://user:pw@host/",
		"https://host:0/", "https://host:65536/", "https://host:123456/", "https://host:/",
		"https://host/a b", "https://host/#frag", "https://ho st/", "https://[zz]/",
		"https://[::1/", "https://host\\evil/", "https://host/\x01", "example.com",
		"https://host:8a/",
	};
	struct url u;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		if (url_parse(bad[i], &u) != SCAUTH_EINVAL)
			fail_msg("accepted: %s", bad[i]);
	}
	assert_int_equal(url_parse(NULL, &u), SCAUTH_EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(base64_rfc4648_vectors),
		cmocka_unit_test(percent_encoding),
		cmocka_unit_test(percent_decoding),
		cmocka_unit_test(query_strings),
		cmocka_unit_test(urls_accepted),
		cmocka_unit_test(urls_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
