/*
 * test_secret.c - secret buffers: growth, caps, steal, reset, constant-time
 * comparison.
 */
#include "testutil.h"
#include "internal.h"

static void
grows_and_keeps_contents(void **state)
{
	struct sbuf b = SBUF_INIT(0);
	char chunk[100];
	int i;

	memset(chunk, 'x', sizeof(chunk));
	for (i = 0; i < 1000; i++)
		assert_int_equal(sbuf_add(&b, chunk, sizeof(chunk)), SCAUTH_OK);
	assert_int_equal(b.len, 100000);
	assert_int_equal(strlen(sbuf_str(&b)), 100000);
	assert_true(b.cap > b.len);
	sbuf_free(&b);
	assert_null(b.p);
	assert_string_equal(sbuf_str(&b), "");
}

static void
cap_is_enforced(void **state)
{
	struct sbuf b = SBUF_INIT(10);

	assert_int_equal(sbuf_addstr(&b, "0123456789"), SCAUTH_OK);
	assert_int_equal(sbuf_addch(&b, 'x'), SCAUTH_EPROTO);
	assert_string_equal(sbuf_str(&b), "0123456789");
	assert_int_equal(sbuf_addf(&b, "%d", 1), SCAUTH_EPROTO);
	sbuf_free(&b);
}

static void
addf_formats_in_place(void **state)
{
	struct sbuf b = SBUF_INIT(0);

	assert_int_equal(sbuf_addf(&b, "%s=%d", "a", 42), SCAUTH_OK);
	assert_int_equal(sbuf_addf(&b, "&%s", "b"), SCAUTH_OK);
	assert_string_equal(sbuf_str(&b), "a=42&b");
	assert_int_equal(b.len, 6);
	sbuf_free(&b);
}

static void
reset_wipes_and_keeps_allocation(void **state)
{
	struct sbuf b = SBUF_INIT(0);
	char *p;
	size_t i, cap;

	assert_int_equal(sbuf_addstr(&b, "secret-token-value"), SCAUTH_OK);
	p = b.p;
	cap = b.cap;
	sbuf_reset(&b);
	assert_ptr_equal(b.p, p);
	assert_int_equal(b.len, 0);
	for (i = 0; i < cap; i++)
		assert_int_equal(p[i], 0);
	sbuf_free(&b);
}

static void
steal_transfers(void **state)
{
	struct sbuf b = SBUF_INIT(0);
	char *s;

	assert_int_equal(sbuf_addstr(&b, "abc"), SCAUTH_OK);
	s = sbuf_steal(&b);
	assert_string_equal(s, "abc");
	assert_null(b.p);
	assert_int_equal(b.len, 0);
	sfree(s);
	s = sbuf_steal(&b);     /* empty buffer: an empty string, not NULL */
	assert_string_equal(s, "");
	sfree(s);
}

static void
ct_streq_compares(void **state)
{
	assert_true(ct_streq("abc", "abc"));
	assert_false(ct_streq("abc", "abd"));
	assert_false(ct_streq("abc", "ab"));
	assert_false(ct_streq("", "a"));
	assert_true(ct_streq("", ""));
	assert_false(ct_streq(NULL, "a"));
	assert_false(ct_streq(NULL, NULL));
}

static void
sstrdup_copies(void **state)
{
	char *s = sstrdup("token");

	assert_string_equal(s, "token");
	sfree(s);
	sfree(NULL);
	assert_null(sstrdup(NULL));
	s = sstrndup("abcdef", 3);
	assert_string_equal(s, "abc");
	sfree(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(grows_and_keeps_contents),
		cmocka_unit_test(cap_is_enforced),
		cmocka_unit_test(addf_formats_in_place),
		cmocka_unit_test(reset_wipes_and_keeps_allocation),
		cmocka_unit_test(steal_transfers),
		cmocka_unit_test(ct_streq_compares),
		cmocka_unit_test(sstrdup_copies),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
