/*
 * test_policy.c - the policies that both front ends take from the library's
 * public API instead of keeping copies: the classes of the error codes,
 * freshness, the timeout setting, profile names, constant-time comparison
 * and UTC times for messages.
 */
#include "testutil.h"

#include "internal.h"

/* Every code has a class; the classes are what the front ends' tables are made of. */
static void
test_err_kind(void **state)
{
	static const struct {
		int err;
		enum scauth_err_kind kind;
	} want[] = {
		{ SCAUTH_OK, SCAUTH_KIND_NONE },
		{ SCAUTH_ELOGIN, SCAUTH_KIND_LOGIN },
		{ SCAUTH_EGRANT, SCAUTH_KIND_LOGIN },
		{ SCAUTH_ETOKEN, SCAUTH_KIND_LOGIN },
		{ SCAUTH_ECORRUPT, SCAUTH_KIND_LOGIN },
		{ SCAUTH_EDENIED, SCAUTH_KIND_DENIED },
		{ SCAUTH_ESTATE, SCAUTH_KIND_DENIED },
		{ SCAUTH_EUNAVAIL, SCAUTH_KIND_UNAVAILABLE },
		{ SCAUTH_ENETWORK, SCAUTH_KIND_UNAVAILABLE },
		{ SCAUTH_ETLS, SCAUTH_KIND_UNAVAILABLE },
		{ SCAUTH_ETIMEOUT, SCAUTH_KIND_UNAVAILABLE },
		{ SCAUTH_EPROTO, SCAUTH_KIND_UNAVAILABLE },
		{ SCAUTH_ERATELIMIT, SCAUTH_KIND_TEMPORARY },
		{ SCAUTH_ELOCKED, SCAUTH_KIND_TEMPORARY },
		{ SCAUTH_ESTORE, SCAUTH_KIND_TEMPORARY },
		{ SCAUTH_ECONFIG, SCAUTH_KIND_CONFIG },
		{ SCAUTH_EUNSAFE, SCAUTH_KIND_CONFIG },
		{ SCAUTH_ECLIENT, SCAUTH_KIND_CONFIG },
		{ SCAUTH_EREQUEST, SCAUTH_KIND_CONFIG },
		{ SCAUTH_ENOLIB, SCAUTH_KIND_MISSING },
		{ SCAUTH_EINVAL, SCAUTH_KIND_INPUT },
		{ SCAUTH_EINTERNAL, SCAUTH_KIND_LOCAL },
		{ SCAUTH_ENOMEM, SCAUTH_KIND_LOCAL },
		{ SCAUTH_ESYSTEM, SCAUTH_KIND_LOCAL },
		{ SCAUTH_EHTTP, SCAUTH_KIND_LOCAL },
		{ -999, SCAUTH_KIND_LOCAL },
	};
	size_t i;
	int e;

	for (i = 0; i < ARRAY_SIZE(want); i++)
		assert_int_equal(scauth_err_kind(want[i].err), want[i].kind);
	/* No code without a name, and so without a class of its own choosing. */
	for (e = SCAUTH_EHTTP; e <= SCAUTH_OK; e++)
		assert_string_not_equal(scauth_strerror(e), "unknown error");
}

static void
test_fresh(void **state)
{
	char *home = tu_tmpdir();
	scauth_ctx *ctx = tu_ctx(home, "refresh_margin", "60", NULL);
	struct scauth_token *t = record_new();

	assert_non_null(t);
	assert_false(scauth_token_fresh(ctx, t));          /* no access token */
	t->access = sstrdup("a");
	assert_true(scauth_token_fresh(ctx, t));           /* no expiry: used until a 401 */
	t->obtained_at = now();
	t->expires_at = now() + 3600;
	assert_true(scauth_token_fresh(ctx, t));
	t->expires_at = now() + 30;                         /* inside the margin */
	assert_false(scauth_token_fresh(ctx, t));
	assert_int_equal(scauth_token_fresh_until(ctx, t), t->expires_at - 60);
	assert_false(scauth_token_fresh(NULL, NULL));
	scauth_token_free(t);
	scauth_ctx_free(ctx);
	tu_rmrf(home);
	free(home);
}

static void
test_timeout(void **state)
{
	char *home = tu_tmpdir();
	scauth_ctx *ctx = NULL;

	assert_int_equal(scauth_ctx_new(&ctx, SCAUTH_CTX_NO_ENV), 0);
	assert_int_equal(scauth_ctx_timeout(ctx), 0);       /* not loaded */
	scauth_ctx_free(ctx);
	ctx = tu_ctx(home, NULL);
	assert_int_equal(scauth_ctx_timeout(ctx), 30);
	scauth_ctx_free(ctx);
	ctx = tu_ctx(home, "timeout", "600", NULL);
	assert_int_equal(scauth_ctx_timeout(ctx), 600);
	scauth_ctx_free(ctx);
	assert_int_equal(scauth_ctx_new(&ctx, SCAUTH_CTX_NO_ENV), 0);
	assert_int_equal(scauth_ctx_setopt(ctx, SCAUTH_OPT_HOME, home), 0);
	assert_int_equal(scauth_ctx_set(ctx, "timeout", "601"), 0);
	assert_int_equal(scauth_ctx_load(ctx), SCAUTH_ECONFIG);
	scauth_ctx_free(ctx);
	assert_int_equal(scauth_ctx_timeout(NULL), 0);
	tu_rmrf(home);
	free(home);
}

static void
test_profile_valid(void **state)
{
	assert_true(scauth_profile_valid("default"));
	assert_true(scauth_profile_valid("work-2.a_b"));
	assert_true(scauth_profile_valid("x123456789x123456789x123456789x123456789x123456789x123456789xxx"));
	assert_false(scauth_profile_valid("x123456789x123456789x123456789x123456789x123456789x123456789xxxx1"));
	assert_false(scauth_profile_valid(""));
	assert_false(scauth_profile_valid(NULL));
	assert_false(scauth_profile_valid(".hidden"));
	assert_false(scauth_profile_valid("a/b"));
	assert_false(scauth_profile_valid("../x"));
	assert_false(scauth_profile_valid("a b"));
}

static void
test_ct_streq(void **state)
{
	assert_true(scauth_ct_streq("0123abcd", "0123abcd"));
	assert_false(scauth_ct_streq("0123abcd", "0123abce"));
	assert_false(scauth_ct_streq("0123abcd", "0123abc"));
	assert_true(scauth_ct_streq("", ""));
	assert_false(scauth_ct_streq(NULL, ""));
	assert_false(scauth_ct_streq(NULL, NULL));
}

static void
test_format_utc(void **state)
{
	char buf[64];

	scauth_format_utc(0, buf, sizeof(buf));
	assert_string_equal(buf, "1970-01-01 00:00:00 UTC");
	scauth_format_utc(1738324800, buf, sizeof(buf));
	assert_string_equal(buf, "2025-01-31 12:00:00 UTC");
	scauth_format_utc(1738324800, buf, 8);          /* does not fit: the number, cut */
	assert_string_equal(buf, "1738324");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_err_kind),
		cmocka_unit_test(test_fresh),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_profile_valid),
		cmocka_unit_test(test_ct_streq),
		cmocka_unit_test(test_format_utc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
