/*
 * test_record.c - the stored record format (lib/record.c): round trips,
 * forward compatibility, every malformation we could think of, the caps, and
 * values that would forge lines.  The fake tokens here are not secrets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ACCESS  "ACCESS-7f3a9c-token"
#define REFRESH "REFRESH-b41e-token"

static struct scauth_token *
full_record(void)
{
	struct scauth_token *t = record_new();

	assert_non_null(t);
	t->access = sstrdup(ACCESS);
	t->refresh = sstrdup(REFRESH);
	t->expires_at = 1735693200;
	t->obtained_at = 1735689600;
	t->retry_at = 1735690000;
	t->scope = sstrdup("non-expiring *");
	t->urn = sstrdup("soundcloud:users:1001");
	t->permalink = sstrdup("test-user");
	t->username = sstrdup("Test User \xc3\xa9");     /* UTF-8 and a space */
	t->obtained_by = sstrdup("kiosk-3.example");
	return t;
}

static struct scauth_token *
parse_ok(const char *text, size_t len)
{
	struct scauth_token *t = NULL;
	char why[200] = "";

	if (record_parse_why(text, len, &t, why, sizeof(why)) != 0)
		fail_msg("record refused: %s", why);
	assert_non_null(t);
	return t;
}

/* Parses text, expects SCAUTH_ECORRUPT, returns the reason in why. */
static void
parse_bad(const char *text, size_t len, char *why, size_t whylen)
{
	struct scauth_token *t = (struct scauth_token *)(uintptr_t)1;
	int r;

	r = record_parse_why(text, len, &t, why, whylen);
	assert_int_equal(r, SCAUTH_ECORRUPT);
	assert_null(t);
	assert_true(why[0] != '\0');
	/* The reason must never quote the record: it holds tokens. */
	assert_null(strstr(why, ACCESS));
	assert_null(strstr(why, REFRESH));
	assert_null(strstr(why, "SECRETVALUE"));
}

static void
test_round_trip_full(void **state)
{
	struct sbuf b = SBUF_INIT(MAX_RECORD);
	struct scauth_token *t = full_record(), *u;

	(void)state;
	assert_int_equal(record_serialize(t, &b), 0);
	assert_true(strncmp(sbuf_str(&b), "scauth-token 1\n", 15) == 0);
	u = parse_ok(b.p, b.len);
	assert_string_equal(u->access, ACCESS);
	assert_string_equal(u->refresh, REFRESH);
	assert_int_equal(u->expires_at, 1735693200);
	assert_int_equal(u->obtained_at, 1735689600);
	assert_int_equal(u->retry_at, 1735690000);
	assert_string_equal(u->scope, "non-expiring *");
	assert_string_equal(u->urn, "soundcloud:users:1001");
	assert_string_equal(u->permalink, "test-user");
	assert_string_equal(u->username, "Test User \xc3\xa9");
	assert_string_equal(u->obtained_by, "kiosk-3.example");
	scauth_token_free(u);
	scauth_token_free(t);
	sbuf_free(&b);
}

/* A caller's label survives the store and obeys its rules. */
static void
test_label(void **state)
{
	struct sbuf b = SBUF_INIT(MAX_RECORD);
	struct scauth_token *t = full_record(), *u;
	char longer[130];

	(void)state;
	assert_null(scauth_token_label(t));
	assert_int_equal(scauth_token_set_label(t, "0123abcdef"), SCAUTH_OK);
	assert_int_equal(record_serialize(t, &b), 0);
	assert_non_null(strstr(sbuf_str(&b), "\nlabel 0123abcdef\n"));
	u = parse_ok(b.p, b.len);
	assert_string_equal(scauth_token_label(u), "0123abcdef");
	/* Refused: empty, spaces, control characters, longer than 128. */
	assert_int_equal(scauth_token_set_label(u, ""), SCAUTH_EINVAL);
	assert_int_equal(scauth_token_set_label(u, "a b"), SCAUTH_EINVAL);
	assert_int_equal(scauth_token_set_label(u, "a\nb"), SCAUTH_EINVAL);
	memset(longer, 'x', 129);
	longer[129] = '\0';
	assert_int_equal(scauth_token_set_label(u, longer), SCAUTH_EINVAL);
	longer[128] = '\0';
	assert_int_equal(scauth_token_set_label(u, longer), SCAUTH_OK);
	/* A refused label leaves the old one; NULL clears it. */
	assert_int_equal(strlen(scauth_token_label(u)), 128);
	assert_int_equal(scauth_token_set_label(u, NULL), SCAUTH_OK);
	assert_null(scauth_token_label(u));
	scauth_token_free(u);
	scauth_token_free(t);
	sbuf_free(&b);
}

/* The exact bytes: other releases and people with cat read them. */
static void
test_golden(void **state)
{
	static const char want[] =
	    "scauth-token 1\n"
	    "access_token " ACCESS "\n"
	    "refresh_token " REFRESH "\n"
	    "expires_at 1735693200\n"
	    "obtained_at 1735689600\n"
	    "retry_at 1735690000\n"
	    "scope non-expiring *\n"
	    "urn soundcloud:users:1001\n"
	    "permalink test-user\n"
	    "username Test User \xc3\xa9\n"
	    "obtained_by kiosk-3.example\n";
	struct sbuf b = SBUF_INIT(MAX_RECORD);
	struct scauth_token *t = full_record();

	(void)state;
	assert_int_equal(record_serialize(t, &b), 0);
	assert_string_equal(sbuf_str(&b), want);
	scauth_token_free(t);
	sbuf_free(&b);
}

/* Unset fields are left out and come back unset. */
static void
test_round_trip_minimal(void **state)
{
	struct sbuf b = SBUF_INIT(MAX_RECORD);
	struct scauth_token *t = record_new(), *u;

	(void)state;
	t->refresh = sstrdup(REFRESH);
	assert_int_equal(record_serialize(t, &b), 0);
	assert_string_equal(sbuf_str(&b), "scauth-token 1\nrefresh_token " REFRESH "\n");
	u = parse_ok(b.p, b.len);
	assert_null(u->access);
	assert_string_equal(u->refresh, REFRESH);
	assert_int_equal(u->expires_at, 0);
	assert_null(u->scope);
	assert_string_equal(scauth_token_scope(u), "");
	assert_null(scauth_token_access(u));
	assert_true(scauth_token_renewable(u));
	scauth_token_free(u);

	/* A record with nothing but the version line is valid (an app slot's 429 ...). */
	u = parse_ok("scauth-token 1\n", 15);
	assert_null(u->access);
	assert_false(scauth_token_renewable(u));
	scauth_token_free(u);
	scauth_token_free(t);
	sbuf_free(&b);
}

static void
test_empty_scope_kept(void **state)
{
	struct sbuf b = SBUF_INIT(MAX_RECORD);
	struct scauth_token *t = record_new(), *u;

	(void)state;
	t->access = sstrdup(ACCESS);
	t->scope = sstrdup("");
	assert_int_equal(record_serialize(t, &b), 0);
	u = parse_ok(b.p, b.len);
	assert_non_null(u->scope);
	assert_string_equal(u->scope, "");
	scauth_token_free(u);
	scauth_token_free(t);
	sbuf_free(&b);
}

/* A newer release may add keys, in any place; they are skipped. */
static void
test_unknown_keys(void **state)
{
	static const char text[] =
	    "scauth-token 1\n"
	    "token_type bearer\n"
	    "access_token " ACCESS "\n"
	    "x2 anything at all, even = and spaces\n"
	    "refresh_token " REFRESH "\n"
	    "future_key \n"
	    "expires_at 42\n";
	struct scauth_token *t;

	(void)state;
	t = parse_ok(text, sizeof(text) - 1);
	assert_string_equal(t->access, ACCESS);
	assert_string_equal(t->refresh, REFRESH);
	assert_int_equal(t->expires_at, 42);
	scauth_token_free(t);
}

static const struct {
	const char *name;
	const char *text;
	size_t len;             /* 0: strlen(text) */
	const char *why;        /* a piece the reason must hold, or NULL */
} corrupt[] = {
	{ "empty", "", 0, "empty" },
	{ "version only, no newline", "scauth-token 1", 0, "truncated" },
	{ "other version", "scauth-token 2\naccess_token " ACCESS "\n", 0, "version 2" },
	{ "huge version", "scauth-token 99999999999999999999\n", 0, NULL },
	{ "no version number", "scauth-token\n", 0, "first line" },
	{ "version with space", "scauth-token \n", 0, NULL },
	{ "version not a number", "scauth-token one\n", 0, NULL },
	{ "version trailing blank", "scauth-token 1 \n", 0, NULL },
	{ "version negative", "scauth-token -1\n", 0, NULL },
	{ "other magic", "soundcloud-token 1\n", 0, "first line" },
	{ "no version line", "access_token " ACCESS "\n", 0, "first line" },
	{ "leading blank line", "\nscauth-token 1\n", 0, "first line" },
	{ "truncated last line", "scauth-token 1\naccess_token " ACCESS, 0, "truncated" },
	{ "CRLF", "scauth-token 1\r\naccess_token " ACCESS "\r\n", 0, "CR" },
	{ "NUL inside", "scauth-token 1\naccess_token AB\0CD\n", 34, "NUL" },
	{ "empty line", "scauth-token 1\n\naccess_token " ACCESS "\n", 0, "line 2" },
	{ "key without value", "scauth-token 1\naccess_token\n", 0, "line 2" },
	{ "empty token", "scauth-token 1\naccess_token \n", 0, "access_token" },
	{ "space in token", "scauth-token 1\naccess_token AB CD\n", 0, "access_token" },
	{ "tab in token", "scauth-token 1\nrefresh_token AB\tCD\n", 0, "refresh_token" },
	{ "control in token", "scauth-token 1\naccess_token AB\x01" "CD\n", 0, NULL },
	{ "DEL in token", "scauth-token 1\naccess_token AB\x7f\n", 0, NULL },
	{ "8-bit in token", "scauth-token 1\naccess_token AB\xc3\xa9\n", 0, NULL },
	{ "tab in username", "scauth-token 1\nusername a\tb\n", 0, "username" },
	{ "DEL in urn", "scauth-token 1\nurn a\x7f\n", 0, "urn" },
	{ "negative time", "scauth-token 1\nexpires_at -5\n", 0, "expires_at" },
	{ "plus sign", "scauth-token 1\nexpires_at +5\n", 0, "expires_at" },
	{ "hex time", "scauth-token 1\nexpires_at 0x10\n", 0, "expires_at" },
	{ "trailing letters", "scauth-token 1\nobtained_at 12a\n", 0, "obtained_at" },
	{ "empty time", "scauth-token 1\nretry_at \n", 0, "retry_at" },
	{ "blank before time", "scauth-token 1\nexpires_at  5\n", 0, "expires_at" },
	{ "blank after time", "scauth-token 1\nexpires_at 5 \n", 0, "expires_at" },
	{ "fraction", "scauth-token 1\nexpires_at 5.5\n", 0, "expires_at" },
	{ "20 digits", "scauth-token 1\nexpires_at 99999999999999999999\n", 0, "expires_at" },
	{ "INT64_MAX + 1", "scauth-token 1\nexpires_at 9223372036854775808\n", 0, "expires_at" },
	{ "duplicate key", "scauth-token 1\naccess_token AB\naccess_token CD\n", 0, "twice" },
	{ "duplicate time", "scauth-token 1\nexpires_at 1\nexpires_at 1\n", 0, "twice" },
	{ "upper-case key", "scauth-token 1\nAccess_Token AB\n", 0, "key" },
	{ "leading blank", "scauth-token 1\n access_token AB\n", 0, "key" },
	{ "dash in key", "scauth-token 1\naccess-token AB\n", 0, "key" },
	{ "long key", "scauth-token 1\naaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa x\n", 0, "key" },
	{ "secret-looking line", "scauth-token 1\nSECRETVALUE\n", 0, "line 2" },
	{ "flag 2", "scauth-token 1\nrefresh_held 2\n", 0, "refresh_held is not 0 or 1" },
	{ "flag as a time", "scauth-token 1\nrefresh_held 1700000000\n", 0, "refresh_held" },
	{ "empty flag", "scauth-token 1\nrefresh_held \n", 0, "refresh_held" },
	{ "duplicate flag", "scauth-token 1\nrefresh_held 1\nrefresh_held 1\n", 0, "twice" },
};

static void
test_corrupt(void **state)
{
	char why[200];
	size_t i, len;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(corrupt); i++) {
		len = corrupt[i].len ? corrupt[i].len : strlen(corrupt[i].text);
		why[0] = '\0';
		print_message("# %s\n", corrupt[i].name);
		parse_bad(corrupt[i].text, len, why, sizeof(why));
		if (corrupt[i].why != NULL && strstr(why, corrupt[i].why) == NULL)
			fail_msg("%s: reason \"%s\" lacks \"%s\"", corrupt[i].name, why,
			    corrupt[i].why);
	}
}

/* record_parse (no reason wanted) agrees with record_parse_why. */
static void
test_parse_without_why(void **state)
{
	struct scauth_token *t = NULL;

	(void)state;
	assert_int_equal(record_parse("scauth-token 2\n", 15, &t), SCAUTH_ECORRUPT);
	assert_null(t);
	assert_int_equal(record_parse(NULL, 0, &t), SCAUTH_ECORRUPT);
	assert_int_equal(record_parse("scauth-token 1\nexpires_at 7\n", 28, &t), 0);
	assert_int_equal(t->expires_at, 7);
	scauth_token_free(t);
}

/* Builds "scauth-token 1\n" padded with an unknown key to exactly len bytes. */
static char *
padded(size_t len)
{
	char *s = malloc(len + 1);
	size_t head = strlen("scauth-token 1\npad ");

	assert_non_null(s);
	memcpy(s, "scauth-token 1\npad ", head);
	memset(s + head, 'x', len - head - 1);
	s[len - 1] = '\n';
	s[len] = '\0';
	return s;
}

static void
test_caps(void **state)
{
	struct scauth_token *t = NULL;
	char why[200], *s, tok[MAX_TOKEN_LEN + 64];
	int n;

	(void)state;
	s = padded(MAX_RECORD);
	t = parse_ok(s, MAX_RECORD);
	scauth_token_free(t);
	free(s);

	s = padded(MAX_RECORD + 1);
	parse_bad(s, MAX_RECORD + 1, why, sizeof(why));
	assert_non_null(strstr(why, "larger"));
	free(s);

	/* A token of MAX_TOKEN_LEN is fine, one byte more is not. */
	n = snprintf(tok, sizeof(tok), "scauth-token 1\naccess_token %0*d\n", MAX_TOKEN_LEN, 0);
	t = parse_ok(tok, (size_t)n);
	assert_int_equal(strlen(t->access), MAX_TOKEN_LEN);
	scauth_token_free(t);
	n = snprintf(tok, sizeof(tok), "scauth-token 1\naccess_token %0*d\n",
	    MAX_TOKEN_LEN + 1, 0);
	parse_bad(tok, (size_t)n, why, sizeof(why));
}

/* Values that would forge lines, or not read back, are refused on the way out. */
static void
test_serialize_refuses(void **state)
{
	static const struct {
		size_t off;
		const char *value;
	} bad[] = {
		{ offsetof(struct scauth_token, access), "AB\nrefresh_token forged" },
		{ offsetof(struct scauth_token, access), "AB CD" },
		{ offsetof(struct scauth_token, access), "" },
		{ offsetof(struct scauth_token, refresh), "AB\r" },
		{ offsetof(struct scauth_token, scope), "a\nb" },
		{ offsetof(struct scauth_token, urn), "a\rb" },
		{ offsetof(struct scauth_token, permalink), "a\tb" },
		{ offsetof(struct scauth_token, username), "evil\nexpires_at 1" },
	};
	struct sbuf b = SBUF_INIT(MAX_RECORD);
	struct scauth_token *t;
	char **field, big[MAX_TOKEN_LEN + 2];
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		t = full_record();
		field = (char **)(void *)((char *)t + bad[i].off);
		sfree(*field);
		*field = sstrdup(bad[i].value);
		assert_int_equal(record_serialize(t, &b), SCAUTH_EINVAL);
		assert_int_equal(b.len, 0);     /* nothing half-written is left */
		scauth_token_free(t);
	}

	t = full_record();
	t->expires_at = -1;
	assert_int_equal(record_serialize(t, &b), SCAUTH_EINVAL);
	scauth_token_free(t);

	t = full_record();
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	sfree(t->access);
	t->access = sstrdup(big);
	assert_int_equal(record_serialize(t, &b), SCAUTH_EINVAL);
	scauth_token_free(t);

	assert_int_equal(record_serialize(NULL, &b), SCAUTH_EINVAL);
	sbuf_free(&b);
}

/* A record over MAX_RECORD is refused even when out would take it. */
static void
test_serialize_cap(void **state)
{
	struct sbuf b = SBUF_INIT(4 * MAX_RECORD);
	struct scauth_token *t = record_new();
	char *s;

	(void)state;
	s = malloc(MAX_RECORD);
	memset(s, 'u', MAX_RECORD - 1);
	s[MAX_RECORD - 1] = '\0';
	t->username = s;        /* over MAX_TEXT_LEN too, but the record cap comes first */
	assert_int_equal(record_serialize(t, &b), SCAUTH_EINVAL);
	scauth_token_free(t);
	sbuf_free(&b);
}

static void
test_dup_and_accessors(void **state)
{
	struct scauth_token *t = full_record(), *d;

	(void)state;
	d = record_dup(t);
	assert_non_null(d);
	assert_ptr_not_equal(d->access, t->access);
	assert_string_equal(scauth_token_access(d), ACCESS);
	assert_int_equal(scauth_token_expires(d), 1735693200);
	assert_int_equal(scauth_token_obtained(d), 1735689600);
	assert_string_equal(scauth_token_scope(d), "non-expiring *");
	assert_string_equal(scauth_token_urn(d), "soundcloud:users:1001");
	assert_string_equal(scauth_token_permalink(d), "test-user");
	assert_string_equal(scauth_token_username(d), "Test User \xc3\xa9");
	assert_string_equal(scauth_token_obtained_by(d), "kiosk-3.example");
	assert_int_equal(d->retry_at, t->retry_at);
	assert_true(scauth_token_renewable(d));
	scauth_token_free(t);   /* d must not share anything with t */
	assert_string_equal(d->refresh, REFRESH);
	scauth_token_free(d);

	assert_null(scauth_token_access(NULL));
	assert_null(scauth_token_obtained_by(NULL));
	assert_int_equal(scauth_token_expires(NULL), 0);
	assert_string_equal(scauth_token_scope(NULL), "");
	assert_false(scauth_token_renewable(NULL));
	scauth_token_free(NULL);
}

/*
 * A copy of a record held elsewhere: the refresh token leaves, a flag says
 * the store keeps it (renewable, written and read back as "refresh_held 1",
 * copied by record_dup), and the refill of a copy given back clears it.
 */
static void
test_reduce_and_refill(void **state)
{
	struct scauth_token *t = full_record(), *whole = full_record(), *d = NULL, *back = NULL;
	struct sbuf out = SBUF_INIT(MAX_RECORD);

	(void)state;
	record_reduce(t, 1);
	assert_null(t->refresh);
	assert_string_equal(t->access, ACCESS);
	assert_int_equal(t->refresh_held, 1);
	assert_true(scauth_token_renewable(t));
	assert_int_equal(record_serialize(t, &out), 0);
	assert_non_null(strstr(sbuf_str(&out), "\nrefresh_held 1\n"));
	assert_null(strstr(sbuf_str(&out), REFRESH));
	assert_int_equal(record_parse(out.p, out.len, &back), 0);
	assert_int_equal(back->refresh_held, 1);
	assert_true(scauth_token_renewable(back));
	assert_non_null(d = record_dup(back));
	assert_int_equal(d->refresh_held, 1);
	/* "0" reads as unset, and is not written back. */
	scauth_token_free(back);
	back = NULL;
	assert_int_equal(record_parse("scauth-token 1\nrefresh_held 0\n", 30, &back), 0);
	assert_int_equal(back->refresh_held, 0);
	assert_false(scauth_token_renewable(back));
	assert_int_equal(record_serialize(back, &out), 0);
	assert_null(strstr(sbuf_str(&out), "refresh_held"));

	assert_int_equal(record_refill(d, whole), 0);
	assert_string_equal(d->refresh, REFRESH);
	assert_int_equal(d->refresh_held, 0);
	/* Reduced without the access token too. */
	record_reduce(whole, 0);
	assert_null(whole->access);
	assert_null(whole->refresh);
	assert_true(scauth_token_renewable(whole));
	scauth_token_free(t);
	scauth_token_free(whole);
	scauth_token_free(d);
	scauth_token_free(back);
	sbuf_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_full),
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_label),
		cmocka_unit_test(test_round_trip_minimal),
		cmocka_unit_test(test_empty_scope_kept),
		cmocka_unit_test(test_unknown_keys),
		cmocka_unit_test(test_corrupt),
		cmocka_unit_test(test_parse_without_why),
		cmocka_unit_test(test_caps),
		cmocka_unit_test(test_serialize_refuses),
		cmocka_unit_test(test_serialize_cap),
		cmocka_unit_test(test_dup_and_accessors),
		cmocka_unit_test(test_reduce_and_refill),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
