/*
 * test_text.c - scauth_text_display(): what a name from the network looks
 * like on a terminal, in a log and in JSON.
 */
#include "testutil.h"
#include "internal.h"

struct vec {
	const char *in;
	const char *text;       /* for a terminal or a log */
	const char *json;       /* SCAUTH_TEXT_JSON */
};

static const struct vec vecs[] = {
	{ "plain-ascii 0.9_~", "plain-ascii 0.9_~", "plain-ascii 0.9_~" },
	{ "", "", "" },
	{ "\x1b[31mred", "\\x1b[31mred", "\\u001b[31mred" },
	{ "a\rb\nc\td", "a\\x0db\\x0ac\\x09d", "a\\u000db\\u000ac\\u0009d" },
	{ "del\x7f", "del\\x7f", "del\\u007f" },
	{ "\xc2\x9b" "31m", "\\u009b31m", "\\u009b31m" },              /* C1 CSI */
	{ "\xc2\x80\xc2\x9f", "\\u0080\\u009f", "\\u0080\\u009f" },
	{ "abc\xe2\x80\xae" "fed", "abc\\u202efed", "abc\\u202efed" },  /* RLO */
	{ "\xe2\x81\xa6x\xe2\x81\xa9", "\\u2066x\\u2069", "\\u2066x\\u2069" }, /* LRI, PDI */
	{ "\xe2\x80\xaa\xe2\x80\xad", "\\u202a\\u202d", "\\u202a\\u202d" },
	{ "\xd8\x9c\xe2\x80\x8e\xe2\x80\x8f", "\\u061c\\u200e\\u200f", "\\u061c\\u200e\\u200f" },
	{ "l1\xe2\x80\xa8l2\xe2\x80\xa9", "l1\\u2028l2\\u2029", "l1\\u2028l2\\u2029" },
	{ "\xef\xbb\xbf" "bom", "\\ufeffbom", "\\ufeffbom" },
	{ "\xc3\x28", "\\xc3(", "\\ufffd(" },                           /* invalid 2-byte */
	{ "\xc0\xaf", "\\xc0\\xaf", "\\ufffd\\ufffd" },                 /* overlong '/' */
	{ "\xe0\x80\xaf", "\\xe0\\x80\\xaf", "\\ufffd\\ufffd\\ufffd" }, /* overlong, 3 bytes */
	{ "\xed\xa0\x80", "\\xed\\xa0\\x80", "\\ufffd\\ufffd\\ufffd" }, /* lone surrogate */
	{ "\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80", "\\ufffd\\ufffd\\ufffd\\ufffd" }, /* > U+10FFFF */
	{ "\xff\xfe", "\\xff\\xfe", "\\ufffd\\ufffd" },
	{ "cut\xe2\x80", "cut\\xe2\\x80", "cut\\ufffd\\ufffd" },         /* truncated character */
	{ "Zo\xc3\xab", "Zo\xc3\xab", "Zo\xc3\xab" },                   /* Zoë */
	{ "\xc3\xa9\xe6\x97\xa5\xe6\x9c\xac", "\xc3\xa9\xe6\x97\xa5\xe6\x9c\xac",
	  "\xc3\xa9\xe6\x97\xa5\xe6\x9c\xac" },                           /* é, CJK */
	{ "\xf0\x9f\x8e\xb5\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x92\xbb",
	  "\xf0\x9f\x8e\xb5\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x92\xbb",
	  "\xf0\x9f\x8e\xb5\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x92\xbb" }, /* emoji, a ZWJ sequence */
	{ "\xc2\xa0\xc2\xa9", "\xc2\xa0\xc2\xa9", "\xc2\xa0\xc2\xa9" },  /* U+00A0, U+00A9: not C1 */
	{ "back\\slash", "back\\\\slash", "back\\\\slash" },
	{ "\\x1b", "\\\\x1b", "\\\\x1b" },       /* a literal escape cannot pass for one */
	{ "say \"hi\"", "say \"hi\"", "say \\\"hi\\\"" },
};

static void
vectors(void **state)
{
	char buf[256];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(vecs); i++) {
		if (strcmp(scauth_text_display(vecs[i].in, 0, buf, sizeof(buf)), vecs[i].text) != 0)
			fail_msg("vector %zu (text): got \"%s\", want \"%s\"", i, buf, vecs[i].text);
		if (strcmp(scauth_text_display(vecs[i].in, SCAUTH_TEXT_JSON, buf, sizeof(buf)),
		    vecs[i].json) != 0)
			fail_msg("vector %zu (json): got \"%s\", want \"%s\"", i, buf, vecs[i].json);
	}
	assert_string_equal(scauth_text_display(NULL, 0, buf, sizeof(buf)), "");
}

/* No byte that a terminal acts on survives, whatever comes in. */
static void
every_byte_pair(void **state)
{
	unsigned char in[3] = { 0, 0, 0 };
	char buf[64];
	const unsigned char *p;
	int a, b;

	for (a = 1; a < 256; a++)
		for (b = 0; b < 256; b++) {
			in[0] = (unsigned char)a;
			in[1] = (unsigned char)b;
			scauth_text_display((const char *)in, 0, buf, sizeof(buf));
			for (p = (const unsigned char *)buf; *p != '\0'; p++)
				if (*p < 0x20 || *p == 0x7f || (p[0] == 0xc2 && p[1] >= 0x80 &&
				    p[1] <= 0x9f))
					fail_msg("%02x %02x gave a raw control", a, b);
		}
}

/* Output is bounded: cut after a whole piece, with "...". */
static void
bounded(void **state)
{
	char buf[16], big[1024 * 6 + 1], in[1025];

	assert_string_equal(scauth_text_display("0123456789abcde", 0, buf, sizeof(buf)),
	    "0123456789abcde");
	assert_string_equal(scauth_text_display("0123456789abcdef", 0, buf, sizeof(buf)),
	    "0123456789ab...");
	/* An escape is never cut in half, nor a character. */
	assert_string_equal(scauth_text_display("0123456789\x1b\x1b", 0, buf, sizeof(buf)),
	    "0123456789...");
	assert_string_equal(scauth_text_display("0123456789a\xe6\x97\xa5\xe6\x9c\xac", 0, buf,
	    sizeof(buf)), "0123456789a...");
	assert_string_equal(scauth_text_display("abcdef", 0, buf, 4), "...");
	assert_string_equal(scauth_text_display("abc", 0, buf, 4), "abc");
	assert_string_equal(scauth_text_display("abcdef", 0, buf, 2), "");
	buf[0] = 'x';
	scauth_text_display("abc", 0, buf, 0);
	assert_int_equal(buf[0], 'x');
	/* The documented size always fits: the worst case, 6 bytes for each. */
	memset(in, 0x1b, sizeof(in) - 1);
	in[sizeof(in) - 1] = '\0';
	scauth_text_display(in, SCAUTH_TEXT_JSON, big, sizeof(big));
	assert_int_equal(strlen(big), 6 * 1024);
	assert_null(strstr(big, "..."));
	memset(in, 0xff, sizeof(in) - 1);
	scauth_text_display(in, SCAUTH_TEXT_JSON, big, sizeof(big));
	assert_int_equal(strlen(big), 6 * 1024);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(vectors),
		cmocka_unit_test(every_byte_pair),
		cmocka_unit_test(bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
