/*
 * test_pkce.c - PKCE per RFC 7636 (its Appendix B vector), random verifiers
 * and states.
 */
#include "testutil.h"
#include "internal.h"

static scauth_ctx *
ctx_new(void)
{
	scauth_ctx *ctx;

	assert_int_equal(scauth_ctx_new(&ctx, SCAUTH_CTX_NO_ENV), SCAUTH_OK);
	return ctx;
}

static void
rfc7636_appendix_b(void **state)
{
	scauth_ctx *ctx = ctx_new();
	char challenge[44];

	assert_int_equal(pkce_challenge(ctx, "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
	    challenge), SCAUTH_OK);
	assert_string_equal(challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
	scauth_ctx_free(ctx);
}

static void
verifiers_are_valid_and_distinct(void **state)
{
	scauth_ctx *ctx = ctx_new();
	char v[PKCE_VERIFIER_LEN + 1], prev[PKCE_VERIFIER_LEN + 1] = "", c[44], s[STATE_LEN + 1];
	int i;

	for (i = 0; i < 100; i++) {
		assert_int_equal(pkce_verifier(ctx, v), SCAUTH_OK);
		assert_int_equal(strlen(v), 43);
		assert_true(pkce_verifier_valid(v));
		assert_string_not_equal(v, prev);
		strcpy(prev, v);
		assert_int_equal(pkce_challenge(ctx, v, c), SCAUTH_OK);
		assert_int_equal(strlen(c), 43);
		assert_null(strchr(c, '='));
		assert_int_equal(random_state(ctx, s), SCAUTH_OK);
		assert_int_equal(strlen(s), 43);    /* 256 bits, well over 128 */
	}
	scauth_ctx_free(ctx);
}

static void
verifier_rules(void **state)
{
	char longv[130];
	scauth_ctx *ctx = ctx_new();
	char c[44];

	assert_false(pkce_verifier_valid("short"));
	memset(longv, 'a', 129);
	longv[129] = '\0';
	assert_false(pkce_verifier_valid(longv));
	longv[128] = '\0';
	assert_true(pkce_verifier_valid(longv));
	longv[42] = '\0';
	assert_false(pkce_verifier_valid(longv));
	assert_false(pkce_verifier_valid("abcdefghijabcdefghijabcdefghijabcdefghij+/="));
	assert_true(pkce_verifier_valid("abcdefghijabcdefghijabcdefghijabcdefghij-._~"));
	assert_int_equal(pkce_challenge(ctx, "not valid", c), SCAUTH_EINVAL);
	scauth_ctx_free(ctx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rfc7636_appendix_b),
		cmocka_unit_test(verifiers_are_valid_and_distinct),
		cmocka_unit_test(verifier_rules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
