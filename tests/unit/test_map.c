/*
 * test_map.c - the map file of pam_soundcloud: the strict parser (syntax,
 * caps, file:line errors), the matching rules, and the file checks of
 * map_load (owner, mode, links, directories others may write).
 */
#include "testutil.h"
#include "map.h"

#include <limits.h>

static char *dir;

static int
setup(void **state)
{
	dir = tu_tmpdir();
	return 0;
}

static int
teardown(void **state)
{
	tu_rmrf(dir);
	free(dir);
	return 0;
}

/* Parses text; returns the result, with *mp set on success. */
static int
parse(const char *text, struct map **mp, char *err)
{
	err[0] = '\0';
	return map_parse(text, strlen(text), "test.map", mp, err, MAP_ERRLEN);
}

static void
assert_refused(const char *text, const char *why)
{
	struct map *m = NULL;
	char err[MAP_ERRLEN];

	assert_int_equal(parse(text, &m, err), SCAUTH_ECONFIG);
	assert_null(m);
	if (strstr(err, why) == NULL)
		fail_msg("for %s: expected \"%s\" in \"%s\"", text, why, err);
}

static void
test_rules_and_comments(void **state)
{
	struct map *m = NULL;
	char err[MAP_ERRLEN];

	assert_int_equal(parse("# who may log in\n"
	    "\n"
	    "soundcloud:users:1001   alice   # Alice's account\n"
	    "\tbob-sc\tbob\n"
	    "* guest\n"
	    "   \n"
	    "soundcloud:users:7 carol", &m, err), 0);
	assert_int_equal(map_rules(m), 4);
	assert_true(map_has_user(m, "alice"));
	assert_true(map_has_user(m, "guest"));
	assert_false(map_has_user(m, "root"));
	assert_false(map_has_user(m, "alic"));

	/* urn rules match on the urn, whatever the permalink. */
	assert_true(map_allows(m, "soundcloud:users:1001", "anything", "alice"));
	assert_true(map_allows(m, "soundcloud:users:1001", NULL, "alice"));
	assert_false(map_allows(m, "soundcloud:users:10010", NULL, "alice"));
	assert_false(map_allows(m, "soundcloud:users:100", NULL, "alice"));
	/* Rules are per user. */
	assert_false(map_allows(m, "soundcloud:users:1001", NULL, "bob"));
	/* Permalink rules match on the permalink, exactly. */
	assert_true(map_allows(m, "soundcloud:users:5", "bob-sc", "bob"));
	assert_false(map_allows(m, "soundcloud:users:5", "Bob-sc", "bob"));
	assert_false(map_allows(m, "soundcloud:users:5", NULL, "bob"));
	/* '*' lets any account in, as that user only. */
	assert_true(map_allows(m, "soundcloud:users:99", "whoever", "guest"));
	assert_false(map_allows(m, "soundcloud:users:99", "whoever", "root"));
	/* The last line needs no newline. */
	assert_true(map_allows(m, "soundcloud:users:7", NULL, "carol"));
	map_free(m);
}

static void
test_unknown_identity_never_allowed(void **state)
{
	struct map *m = NULL;
	char err[MAP_ERRLEN];

	assert_int_equal(parse("* guest\nbob-sc bob\n", &m, err), 0);
	/* No urn, or one of the wrong form, is not an identity, even for '*'. */
	assert_false(map_allows(m, NULL, "bob-sc", "guest"));
	assert_false(map_allows(m, "", "bob-sc", "guest"));
	assert_false(map_allows(m, "soundcloud:users:", NULL, "guest"));
	assert_false(map_allows(m, "soundcloud:tracks:5", NULL, "guest"));
	assert_false(map_allows(m, "soundcloud:users:5 ", NULL, "guest"));
	/* A permalink from the server with characters a rule cannot have never matches. */
	assert_false(map_allows(m, "soundcloud:users:5", "bob-sc\n", "bob"));
	assert_false(map_allows(m, NULL, NULL, NULL));
	assert_false(map_allows(NULL, "soundcloud:users:5", NULL, "guest"));
	assert_false(map_has_user(NULL, "guest"));
	map_free(m);
}

static void
test_permalink_cannot_pose_as_urn(void **state)
{
	struct map *m = NULL;
	char err[MAP_ERRLEN];

	assert_int_equal(parse("soundcloud:users:1 alice\n", &m, err), 0);
	/* A server answer whose permalink looks like the urn of the rule does not match it. */
	assert_false(map_allows(m, "soundcloud:users:2", "soundcloud:users:1", "alice"));
	map_free(m);
}

static void
test_empty_map(void **state)
{
	struct map *m = NULL;
	char err[MAP_ERRLEN];

	assert_int_equal(parse("", &m, err), 0);
	assert_int_equal(map_rules(m), 0);
	assert_false(map_allows(m, "soundcloud:users:1", NULL, "alice"));
	map_free(m);
	assert_int_equal(parse("# nothing yet\n\n", &m, err), 0);
	assert_int_equal(map_rules(m), 0);
	map_free(m);
}

static void
test_syntax_errors(void **state)
{
	assert_refused("alice\n", "test.map:1: expected two fields");
	assert_refused("# ok\n* alice bob\n", "test.map:2: expected two fields");
	assert_refused("* *\n", "'*' is not allowed as the local user");
	assert_refused("soundcloud:users:x alice\n", "is not a urn");
	assert_refused("soundcloud:users: alice\n", "is not a urn");
	assert_refused("soundcloud:users:012 alice\n", "is not a urn");
	assert_refused("soundcloud:users:123456789012345678901 alice\n", "is not a urn");
	assert_refused("soundcloud:tracks:1 alice\n", "is not a urn");
	assert_refused("bob.sc alice\n", "is not a urn");
	assert_refused("bob/sc alice\n", "is not a urn");
	assert_refused("** alice\n", "is not a urn");
	assert_refused("bob -alice\n", "not a valid user name");
	assert_refused("bob al:ice\n", "not a valid user name");
	assert_refused("bob al$ice\n", "not a valid user name");
	assert_refused("bob alice\r\n", "control character 0x0d (DOS line ending?)");
	assert_refused("bob al\x01" "ice\n", "test.map:1: control character 0x01");
	assert_refused("b\xc3\xb6" "b alice\n", "non-ASCII");
}

static void
test_accepted_names(void **state)
{
	struct map *m = NULL;
	char err[MAP_ERRLEN];

	/* Machine accounts end in '$'; dots and dashes inside names; non-ASCII in comments. */
	assert_int_equal(parse("bob_sc-2 host$\n* first.last # B\xc3\xb6rje\n"
	    "soundcloud:users:0 zero\n", &m, err), 0);
	assert_true(map_allows(m, "soundcloud:users:3", "bob_sc-2", "host$"));
	assert_true(map_allows(m, "soundcloud:users:3", NULL, "first.last"));
	assert_true(map_allows(m, "soundcloud:users:0", NULL, "zero"));
	map_free(m);
}

static void
test_nul_and_caps(void **state)
{
	struct map *m = NULL;
	char err[MAP_ERRLEN], *big;
	const char with_nul[] = "* alice\n* bo\0b\n";
	size_t n;

	assert_int_equal(map_parse(with_nul, sizeof(with_nul) - 1, "t", &m, err, sizeof(err)),
	    SCAUTH_ECONFIG);
	assert_non_null(strstr(err, "t:2: NUL byte"));
	assert_null(m);

	/* A line at the cap is fine, one byte more is not. */
	big = malloc(MAP_MAX_FILE + 2);
	assert_non_null(big);
	memset(big, ' ', MAP_MAX_LINE);
	memcpy(big, "* alice", 7);
	big[MAP_MAX_LINE] = '\n';
	assert_int_equal(map_parse(big, MAP_MAX_LINE + 1, "t", &m, err, sizeof(err)), 0);
	map_free(m);
	m = NULL;
	memset(big, ' ', MAP_MAX_LINE + 1);
	memcpy(big, "* alice", 7);
	assert_int_equal(map_parse(big, MAP_MAX_LINE + 1, "t", &m, err, sizeof(err)),
	    SCAUTH_ECONFIG);
	assert_non_null(strstr(err, "t:1: longer than"));

	/* A permalink or a user name over its cap. */
	memset(big, 'a', MAP_MAX_PERMALINK + 1);
	memcpy(big + MAP_MAX_PERMALINK + 1, " alice", 7);
	assert_int_equal(parse(big, &m, err), SCAUTH_ECONFIG);
	n = (size_t)snprintf(big, MAP_MAX_FILE, "* ");
	memset(big + n, 'u', MAP_MAX_USER + 1);
	big[n + MAP_MAX_USER + 1] = '\0';
	assert_int_equal(parse(big, &m, err), SCAUTH_ECONFIG);
	assert_non_null(strstr(err, "not a valid user name"));
	big[n + MAP_MAX_USER] = '\0';
	assert_int_equal(parse(big, &m, err), 0);
	map_free(m);
	m = NULL;

	/* The whole file has a cap too. */
	memset(big, '#', MAP_MAX_FILE + 1);
	for (n = 1000; n < MAP_MAX_FILE + 1; n += 1000)
		big[n] = '\n';
	assert_int_equal(map_parse(big, MAP_MAX_FILE, "t", &m, err, sizeof(err)), 0);
	map_free(m);
	m = NULL;
	assert_int_equal(map_parse(big, MAP_MAX_FILE + 1, "t", &m, err, sizeof(err)),
	    SCAUTH_ECONFIG);
	assert_non_null(strstr(err, "larger than"));
	free(big);
}

static void
test_error_without_buffer(void **state)
{
	struct map *m = NULL;

	assert_int_equal(map_parse("x", 1, "t", &m, NULL, 0), SCAUTH_ECONFIG);
	assert_null(m);
}

/* ------------------------------------------------------------------------ */
/* map_load: the file checks. */

static void
load_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

static void
test_load_good_file(void **state)
{
	char path[PATH_MAX], err[MAP_ERRLEN];
	struct map *m = NULL;

	load_path(path, sizeof(path), "map");
	tu_write(path, "soundcloud:users:1 alice\n", 0644);
	assert_int_equal(map_load(path, &m, err, sizeof(err)), 0);
	assert_true(map_allows(m, "soundcloud:users:1", NULL, "alice"));
	map_free(m);
}

/* No rule may map to uid 0: the map is refused when read, naming the line. */
static void
test_load_refuses_uid0(void **state)
{
	char path[PATH_MAX], err[MAP_ERRLEN];
	struct map *m = (struct map *)1;

	load_path(path, sizeof(path), "map");
	tu_write(path, "# kiosk\n* alice\n* root\n", 0644);
	assert_int_equal(map_load(path, &m, err, sizeof(err)), SCAUTH_ECONFIG);
	assert_null(m);
	assert_non_null(strstr(err, ":3: 'root' has uid 0"));
	/* The parser alone (no user database) takes it: the rule is refused where users are known. */
	assert_int_equal(map_parse("* root\n", 7, "text", &m, err, sizeof(err)), 0);
	map_free(m);
}

static void
test_load_missing_file(void **state)
{
	char path[PATH_MAX], err[MAP_ERRLEN];
	struct map *m = (struct map *)1;

	load_path(path, sizeof(path), "absent");
	assert_int_equal(map_load(path, &m, err, sizeof(err)), MAP_MISSING);
	assert_null(m);
	assert_non_null(strstr(err, "no such file"));
}

static void
test_load_unsafe_modes(void **state)
{
	char path[PATH_MAX], err[MAP_ERRLEN];
	struct map *m = NULL;

	load_path(path, sizeof(path), "map");
	tu_write(path, "* alice\n", 0664);
	assert_int_equal(map_load(path, &m, err, sizeof(err)), SCAUTH_EUNSAFE);
	assert_non_null(strstr(err, "writable by group or other"));
	tu_write(path, "* alice\n", 0646);
	assert_int_equal(map_load(path, &m, err, sizeof(err)), SCAUTH_EUNSAFE);
	/* Readable by all is fine: the map holds no secret. */
	tu_write(path, "* alice\n", 0444);
	assert_int_equal(map_load(path, &m, err, sizeof(err)), 0);
	map_free(m);
}

static void
test_load_refuses_links_and_dirs(void **state)
{
	char path[PATH_MAX + 8], link[PATH_MAX], sub[PATH_MAX], err[MAP_ERRLEN];
	struct map *m = NULL;

	load_path(path, sizeof(path), "map");
	load_path(link, sizeof(link), "link");
	tu_write(path, "* alice\n", 0644);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(map_load(link, &m, err, sizeof(err)), SCAUTH_EUNSAFE);
	assert_non_null(strstr(err, "symbolic link"));
	assert_null(m);
	/* A directory is not a map. */
	assert_int_equal(map_load(dir, &m, err, sizeof(err)), SCAUTH_ECONFIG);
	assert_non_null(strstr(err, "not a regular file"));
	/* A directory others may write could swap the file. */
	load_path(sub, sizeof(sub), "open");
	tu_mkdir(sub, 0777);
	snprintf(path, sizeof(path), "%s/map", sub);
	tu_write(path, "* alice\n", 0644);
	assert_int_equal(map_load(path, &m, err, sizeof(err)), SCAUTH_EUNSAFE);
	assert_non_null(strstr(err, "may be written by others"));
	/* ... unless it is sticky and root's, as /tmp is. */
	if (geteuid() == 0) {
		assert_int_equal(chmod(sub, 01777), 0);
		assert_int_equal(map_load(path, &m, err, sizeof(err)), 0);
		map_free(m);
	}
}

static void
test_load_other_owner(void **state)
{
	char path[PATH_MAX], err[MAP_ERRLEN];
	struct map *m = NULL;

	if (geteuid() != 0)
		skip();   /* only root can give a file away */
	load_path(path, sizeof(path), "map");
	tu_write(path, "* alice\n", 0644);
	assert_int_equal(chown(path, 65534, 65534), 0);
	assert_int_equal(map_load(path, &m, err, sizeof(err)), SCAUTH_EUNSAFE);
	assert_non_null(strstr(err, "owned by uid 65534"));
}

static void
test_load_size_cap(void **state)
{
	char path[PATH_MAX], err[MAP_ERRLEN], *big;
	struct map *m = NULL;
	size_t i;

	load_path(path, sizeof(path), "big");
	big = malloc(MAP_MAX_FILE + 2);
	assert_non_null(big);
	for (i = 0; i < MAP_MAX_FILE + 1; i++)
		big[i] = i % 100 == 99 ? '\n' : '#';
	big[MAP_MAX_FILE + 1] = '\0';
	tu_write(path, big, 0644);
	assert_int_equal(map_load(path, &m, err, sizeof(err)), SCAUTH_ECONFIG);
	assert_non_null(strstr(err, "larger than"));
	big[MAP_MAX_FILE] = '\0';
	tu_write(path, big, 0644);
	assert_int_equal(map_load(path, &m, err, sizeof(err)), 0);
	map_free(m);
	free(big);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rules_and_comments),
		cmocka_unit_test(test_unknown_identity_never_allowed),
		cmocka_unit_test(test_permalink_cannot_pose_as_urn),
		cmocka_unit_test(test_empty_map),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_accepted_names),
		cmocka_unit_test(test_nul_and_caps),
		cmocka_unit_test(test_error_without_buffer),
		cmocka_unit_test_setup_teardown(test_load_good_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_missing_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_unsafe_modes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_refuses_links_and_dirs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_other_owner, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_size_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_refuses_uid0, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
