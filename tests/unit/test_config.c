/*
 * test_config.c - configuration: the INI parser, precedence of sources,
 * profiles, secrets and the permission rules for files that hold them.
 */
#include "testutil.h"
#include "internal.h"

static char *home;

static int
setup(void **state)
{
	home = tu_tmpdir();
	return 0;
}

static int
teardown(void **state)
{
	tu_rmrf(home);
	free(home);
	return 0;
}

static char *
path_in_home(const char *rel)
{
	static char buf[4096];

	snprintf(buf, sizeof(buf), "%s/%s", home, rel);
	return buf;
}

/* A context reading the environment (unlike tu_ctx), with HOME at our temp home. */
static int
load_env_ctx(scauth_ctx **ctxp, const char *profile, const char *config)
{
	scauth_ctx *ctx;

	assert_int_equal(scauth_ctx_new(&ctx, 0), SCAUTH_OK);
	setenv("HOME", home, 1);
	unsetenv("XDG_CONFIG_HOME");
	unsetenv("XDG_STATE_HOME");
	if (profile != NULL)
		assert_int_equal(scauth_ctx_setopt(ctx, SCAUTH_OPT_PROFILE, profile), SCAUTH_OK);
	if (config != NULL)
		assert_int_equal(scauth_ctx_setopt(ctx, SCAUTH_OPT_CONFIG_FILE, config), SCAUTH_OK);
	*ctxp = ctx;
	return scauth_ctx_load(ctx);
}

static void
clear_env(void)
{
	unsetenv("SOUNDCLOUD_CLIENT_ID");
	unsetenv("SOUNDCLOUD_CLIENT_SECRET");
	unsetenv("SOUNDCLOUD_AUTH_PROFILE");
	unsetenv("SOUNDCLOUD_AUTH_CONFIG");
	unsetenv("SOUNDCLOUD_AUTH_API_URL");
	unsetenv("SOUNDCLOUD_AUTH_TIMEOUT");
}

static void
defaults(void **state)
{
	scauth_ctx *ctx;

	clear_env();
	assert_int_equal(load_env_ctx(&ctx, NULL, NULL), SCAUTH_OK);
	assert_string_equal(scauth_ctx_get(ctx, "profile"), "default");
	assert_string_equal(scauth_ctx_get(ctx, "api_url"), "https://api.soundcloud.com");
	assert_string_equal(scauth_ctx_get(ctx, "token_url"),
	    "https://secure.soundcloud.com/oauth/token");
	assert_string_equal(scauth_ctx_get(ctx, "authorize_url"),
	    "https://secure.soundcloud.com/authorize");
	assert_string_equal(scauth_ctx_get(ctx, "signout_url"),
	    "https://secure.soundcloud.com/sign-out");
	assert_string_equal(scauth_ctx_get(ctx, "redirect_uri"), "http://127.0.0.1:8765/callback");
	assert_string_equal(scauth_ctx_get(ctx, "refresh_margin"), "300");
	assert_string_equal(scauth_ctx_get(ctx, "timeout"), "30");
	assert_string_equal(scauth_ctx_get(ctx, "store"), "file");
	assert_string_equal(scauth_ctx_get(ctx, "scope"), "");
	assert_null(scauth_ctx_get(ctx, "client_id"));
	assert_null(scauth_ctx_get(ctx, "issuer"));
	assert_string_equal(scauth_ctx_api_host(ctx), "api.soundcloud.com");
	assert_string_equal(scauth_ctx_get(ctx, "state_dir"),
	    path_in_home(".local/state/soundcloud-auth"));
	scauth_ctx_free(ctx);
}

static void
precedence_of_sources(void **state)
{
	char cfgdir[4096], explicit[4096];
	scauth_ctx *ctx;

	clear_env();
	snprintf(cfgdir, sizeof(cfgdir), "%s/.config/soundcloud-auth", home);
	tu_mkdir(cfgdir, 0700);
	tu_write(path_in_home(".config/soundcloud-auth/config"),
	    "# user config\n"
	    "client_id = from-user-file\n"
	    "scope = user-scope\n"
	    "timeout = 11\n"
	    "redirect_uri = http://127.0.0.1:9000/cb\n"
	    "[profile work]\n"
	    "client_id = work-user-file\n", 0600);
	snprintf(explicit, sizeof(explicit), "%s/explicit.conf", home);
	tu_write(explicit, "scope = explicit-scope\ntimeout = 12\n", 0600);

	/* User file only. */
	assert_int_equal(load_env_ctx(&ctx, NULL, NULL), SCAUTH_OK);
	assert_string_equal(scauth_ctx_get(ctx, "client_id"), "from-user-file");
	assert_string_equal(scauth_ctx_get(ctx, "redirect_uri"), "http://127.0.0.1:9000/cb");
	scauth_ctx_free(ctx);

	/* A profile section wins over the top level of its file. */
	assert_int_equal(load_env_ctx(&ctx, "work", NULL), SCAUTH_OK);
	assert_string_equal(scauth_ctx_get(ctx, "client_id"), "work-user-file");
	assert_string_equal(scauth_ctx_get(ctx, "scope"), "user-scope");
	scauth_ctx_free(ctx);

	/* --config wins over the user file, per key. */
	assert_int_equal(load_env_ctx(&ctx, NULL, explicit), SCAUTH_OK);
	assert_string_equal(scauth_ctx_get(ctx, "scope"), "explicit-scope");
	assert_string_equal(scauth_ctx_get(ctx, "timeout"), "12");
	assert_string_equal(scauth_ctx_get(ctx, "client_id"), "from-user-file");
	scauth_ctx_free(ctx);

	/* The environment wins over files; SOUNDCLOUD_AUTH_CONFIG names the file. */
	setenv("SOUNDCLOUD_CLIENT_ID", "from-env", 1);
	setenv("SOUNDCLOUD_AUTH_TIMEOUT", "13", 1);
	setenv("SOUNDCLOUD_AUTH_CONFIG", explicit, 1);
	assert_int_equal(load_env_ctx(&ctx, "work", NULL), SCAUTH_OK);
	assert_string_equal(scauth_ctx_get(ctx, "client_id"), "from-env");
	assert_string_equal(scauth_ctx_get(ctx, "timeout"), "13");
	assert_string_equal(scauth_ctx_get(ctx, "scope"), "explicit-scope");
	scauth_ctx_free(ctx);

	/* The command line wins over everything. */
	assert_int_equal(scauth_ctx_new(&ctx, 0), SCAUTH_OK);
	assert_int_equal(scauth_ctx_set(ctx, "timeout", "14"), SCAUTH_OK);
	assert_int_equal(scauth_ctx_load(ctx), SCAUTH_OK);
	assert_string_equal(scauth_ctx_get(ctx, "timeout"), "14");
	scauth_ctx_free(ctx);

	/* SOUNDCLOUD_AUTH_PROFILE picks the profile. */
	unsetenv("SOUNDCLOUD_CLIENT_ID");
	unsetenv("SOUNDCLOUD_AUTH_CONFIG");
	setenv("SOUNDCLOUD_AUTH_PROFILE", "work", 1);
	assert_int_equal(load_env_ctx(&ctx, NULL, NULL), SCAUTH_OK);
	assert_string_equal(scauth_ctx_get(ctx, "profile"), "work");
	assert_string_equal(scauth_ctx_get(ctx, "client_id"), "work-user-file");
	scauth_ctx_free(ctx);
	clear_env();
}

static void
no_env_ignores_environment(void **state)
{
	scauth_ctx *ctx;

	setenv("SOUNDCLOUD_CLIENT_ID", "from-env", 1);
	setenv("SOUNDCLOUD_AUTH_API_URL", "https://evil.example", 1);
	ctx = tu_ctx(home, NULL);
	assert_null(scauth_ctx_get(ctx, "client_id"));
	assert_string_equal(scauth_ctx_get(ctx, "api_url"), "https://api.soundcloud.com");
	scauth_ctx_free(ctx);
	clear_env();
}

/* Collects what config_parse reports, as "key=value|" strings. */
static int
collect(void *arg, const char *key, const char *value, int in_profile, int lineno)
{
	char *out = arg;
	size_t n = strlen(out);

	snprintf(out + n, 1024 - n, "%s%s=%s|", in_profile > 0 ? "P:" : in_profile < 0 ? "O:" : "",
	    key, value);
	return 0;
}

static int
parse(const char *text, const char *profile, char *out, char *err)
{
	out[0] = '\0';
	return config_parse(text, strlen(text), profile, collect, out, err, 200);
}

static void
parser_values(void **state)
{
	char out[1024], err[200];

	/* Values keep inner '=' and spaces, lose the surrounding blanks. */
	assert_int_equal(parse("client_secret = a=b==c\n", NULL, out, err), 0);
	assert_string_equal(out, "client_secret=a=b==c|");
	assert_int_equal(parse("  scope   =   non-expiring   x  \r\n", NULL, out, err), 0);
	assert_string_equal(out, "scope=non-expiring   x|");
	assert_int_equal(parse("scope = \"  padded  \"\n", NULL, out, err), 0);
	assert_string_equal(out, "scope=  padded  |");
	assert_int_equal(parse("scope =\n", NULL, out, err), 0);
	assert_string_equal(out, "scope=|");
	/* Comments and blank lines; '#' inside a value is kept. */
	assert_int_equal(parse("# c\n; c\n\n\t\nclient_id = a#b\n", NULL, out, err), 0);
	assert_string_equal(out, "client_id=a#b|");
	/* No newline at the end of the file. */
	assert_int_equal(parse("timeout = 5", NULL, out, err), 0);
	assert_string_equal(out, "timeout=5|");
}

static void
parser_profiles(void **state)
{
	char out[1024], err[200];
	const char *text =
	    "client_id = top\n"
	    "[profile a]\n"
	    "client_id = in-a\n"
	    "[ profile  b ]\n"
	    "client_id = in-b\n";

	/* Other profiles' lines are reported as such (-1): the caller skips them. */
	assert_int_equal(parse(text, "a", out, err), 0);
	assert_string_equal(out, "client_id=top|P:client_id=in-a|O:client_id=in-b|");
	assert_int_equal(parse(text, "b", out, err), 0);
	assert_string_equal(out, "client_id=top|O:client_id=in-a|P:client_id=in-b|");
	assert_int_equal(parse(text, "c", out, err), 0);
	assert_string_equal(out, "client_id=top|O:client_id=in-a|O:client_id=in-b|");
}

static void
parser_errors(void **state)
{
	char out[1024], err[200], big[5000];

	assert_int_equal(parse("client_id = x\nbogus = 1\n", NULL, out, err), SCAUTH_ECONFIG);
	assert_string_equal(err, "line 2: unknown key 'bogus'");
	/* A line that is not key = value may hold a secret: it is never quoted. */
	assert_int_equal(parse("client_secret: Zm9vYmFy==\n", NULL, out, err), SCAUTH_ECONFIG);
	assert_null(strstr(err, "Zm9v"));
	assert_string_equal(err,
	    "line 1: expected 'key = value' with a key of lower-case letters and '_'");
	assert_int_equal(parse("no equals sign\n", NULL, out, err), SCAUTH_ECONFIG);
	assert_string_equal(err, "line 1: expected 'key = value'");
	assert_int_equal(parse("[profile a\n", NULL, out, err), SCAUTH_ECONFIG);
	assert_int_equal(parse("[section]\n", NULL, out, err), SCAUTH_ECONFIG);
	assert_int_equal(parse("[profile ../x]\n", NULL, out, err), SCAUTH_ECONFIG);
	assert_int_equal(parse("[profile]\n", NULL, out, err), SCAUTH_ECONFIG);
	assert_int_equal(config_parse("a\0b = c\n", 8, NULL, collect, out, err, 200),
	    SCAUTH_ECONFIG);
	assert_string_equal(err, "line 1: NUL byte");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "scope = ", 8);
	assert_int_equal(parse(big, NULL, out, err), SCAUTH_ECONFIG);
	assert_string_equal(err, "line 1: longer than 4096 bytes");
}

static int
load_file_ctx(scauth_ctx **ctxp, const char *content, mode_t mode, unsigned flags)
{
	char path[4096];
	scauth_ctx *ctx;

	snprintf(path, sizeof(path), "%s/conf", home);
	tu_write(path, content, mode);
	assert_int_equal(scauth_ctx_new(&ctx, flags | SCAUTH_CTX_NO_ENV), SCAUTH_OK);
	assert_int_equal(scauth_ctx_setopt(ctx, SCAUTH_OPT_HOME, home), SCAUTH_OK);
	assert_int_equal(scauth_ctx_setopt(ctx, SCAUTH_OPT_CONFIG_FILE, path), SCAUTH_OK);
	*ctxp = ctx;
	return scauth_ctx_load(ctx);
}

static void
file_permissions(void **state)
{
	scauth_ctx *ctx;
	const char *secret;

	/* A secret in a file others can read: refused, with the fix. */
	assert_int_equal(load_file_ctx(&ctx, "client_secret = s3cr3t\n", 0644, 0), SCAUTH_EUNSAFE);
	assert_non_null(strstr(scauth_errmsg(ctx), "chmod 600"));
	assert_null(strstr(scauth_errmsg(ctx), "s3cr3t"));
	scauth_ctx_free(ctx);
	/* Another profile's secret in a readable file: refused all the same. */
	assert_int_equal(load_file_ctx(&ctx, "client_id = x\n[profile other]\nclient_secret = s\n",
	    0644, 0), SCAUTH_EUNSAFE);
	scauth_ctx_free(ctx);
	/* The same file without the secret is fine at 0644. */
	assert_int_equal(load_file_ctx(&ctx, "client_id = x\n", 0644, 0), SCAUTH_OK);
	scauth_ctx_free(ctx);
	/* Writable by others: refused whatever it holds. */
	assert_int_equal(load_file_ctx(&ctx, "client_id = x\n", 0664, 0), SCAUTH_EUNSAFE);
	assert_non_null(strstr(scauth_errmsg(ctx), "writable by group or other"));
	scauth_ctx_free(ctx);
	/* 0600 with the secret: used. */
	assert_int_equal(load_file_ctx(&ctx, "client_secret = s3cr3t\n", 0600, 0), SCAUTH_OK);
	assert_int_equal(config_client_secret(ctx, &secret), SCAUTH_OK);
	assert_string_equal(secret, "s3cr3t");
	assert_null(scauth_ctx_get(ctx, "client_secret"));      /* never handed out */
	scauth_ctx_free(ctx);
	/* An explicitly named file that is missing is an error. */
	assert_int_equal(scauth_ctx_new(&ctx, SCAUTH_CTX_NO_ENV), SCAUTH_OK);
	assert_int_equal(scauth_ctx_setopt(ctx, SCAUTH_OPT_HOME, home), SCAUTH_OK);
	assert_int_equal(scauth_ctx_setopt(ctx, SCAUTH_OPT_CONFIG_FILE, "/nonexistent/x"), SCAUTH_OK);
	assert_int_equal(scauth_ctx_load(ctx), SCAUTH_ECONFIG);
	assert_non_null(strstr(scauth_errmsg(ctx), "/nonexistent/x"));
	scauth_ctx_free(ctx);
}

static void
root_config_checks_directories(void **state)
{
	char dir[1024], path[4096];
	scauth_ctx *ctx;

	snprintf(dir, sizeof(dir), "%s/open", home);
	tu_mkdir(dir, 0777);
	snprintf(path, sizeof(path), "%s/conf", dir);
	tu_write(path, "client_id = x\n", 0644);
	assert_int_equal(scauth_ctx_new(&ctx, SCAUTH_CTX_NO_ENV | SCAUTH_CTX_ROOT_CONFIG),
	    SCAUTH_OK);
	assert_int_equal(scauth_ctx_setopt(ctx, SCAUTH_OPT_HOME, home), SCAUTH_OK);
	assert_int_equal(scauth_ctx_setopt(ctx, SCAUTH_OPT_CONFIG_FILE, path), SCAUTH_OK);
	assert_int_equal(scauth_ctx_load(ctx), SCAUTH_EUNSAFE);
	assert_non_null(strstr(scauth_errmsg(ctx), "writable by others"));
	scauth_ctx_free(ctx);
	chmod(dir, 0755);
	assert_int_equal(scauth_ctx_new(&ctx, SCAUTH_CTX_NO_ENV | SCAUTH_CTX_ROOT_CONFIG),
	    SCAUTH_OK);
	assert_int_equal(scauth_ctx_setopt(ctx, SCAUTH_OPT_HOME, home), SCAUTH_OK);
	assert_int_equal(scauth_ctx_setopt(ctx, SCAUTH_OPT_CONFIG_FILE, path), SCAUTH_OK);
	assert_int_equal(scauth_ctx_load(ctx), SCAUTH_OK);
	scauth_ctx_free(ctx);
}

static void
secret_file(void **state)
{
	char sf[1024], conf[4096];
	scauth_ctx *ctx;
	const char *secret;

	snprintf(sf, sizeof(sf), "%s/secret", home);
	snprintf(conf, sizeof(conf), "client_secret_file = %s\n", sf);
	tu_write(sf, "from-file\n", 0640);      /* group-readable is allowed */
	assert_int_equal(load_file_ctx(&ctx, conf, 0644, 0), SCAUTH_OK);
	assert_int_equal(config_client_secret(ctx, &secret), SCAUTH_OK);
	assert_string_equal(secret, "from-file");
	scauth_ctx_free(ctx);

	tu_write(sf, "from-file\n", 0644);      /* world-readable is not */
	assert_int_equal(load_file_ctx(&ctx, conf, 0644, 0), SCAUTH_OK);
	assert_int_equal(config_client_secret(ctx, &secret), SCAUTH_EUNSAFE);
	scauth_ctx_free(ctx);

	tu_write(sf, "two words\n", 0600);
	assert_int_equal(load_file_ctx(&ctx, conf, 0644, 0), SCAUTH_OK);
	assert_int_equal(config_client_secret(ctx, &secret), SCAUTH_ECONFIG);
	scauth_ctx_free(ctx);

	tu_write(sf, "\n", 0600);
	assert_int_equal(load_file_ctx(&ctx, conf, 0644, 0), SCAUTH_OK);
	assert_int_equal(config_client_secret(ctx, &secret), SCAUTH_ECONFIG);
	assert_non_null(strstr(scauth_errmsg(ctx), "empty"));
	scauth_ctx_free(ctx);

	/* Both in one place is ambiguous. */
	tu_write(sf, "from-file\n", 0600);
	snprintf(conf, sizeof(conf), "client_secret_file = %s\nclient_secret = inline\n", sf);
	assert_int_equal(load_file_ctx(&ctx, conf, 0600, 0), SCAUTH_OK);
	assert_int_equal(config_client_secret(ctx, &secret), SCAUTH_ECONFIG);
	scauth_ctx_free(ctx);

	/* No secret at all: a clear error naming the ways to give one. */
	assert_int_equal(load_file_ctx(&ctx, "client_id = x\n", 0600, 0), SCAUTH_OK);
	assert_int_equal(config_client_secret(ctx, &secret), SCAUTH_ECONFIG);
	assert_non_null(strstr(scauth_errmsg(ctx), "client_secret_file"));
	scauth_ctx_free(ctx);
}

static void
secret_never_from_command_line(void **state)
{
	scauth_ctx *ctx;

	assert_int_equal(scauth_ctx_new(&ctx, 0), SCAUTH_OK);
	assert_int_equal(scauth_ctx_set(ctx, "client_secret", "x"), SCAUTH_EINVAL);
	assert_int_equal(scauth_ctx_set(ctx, "no_such_key", "x"), SCAUTH_EINVAL);
	scauth_ctx_free(ctx);
}

static void
validation(void **state)
{
	static const char *const bad[] = {
		"timeout = 0\n", "timeout = 601\n", "timeout = 5s\n", "refresh_margin = -1\n",
		"store = disk\n", "keyring = thread\n", "api_url = http://api.soundcloud.com\n",
		"token_url = https://user@host/\n", "redirect_uri = ftp://x/\n",
		"client_id = has space\n", "relay_url = login.example.org/kiosk\n",
		"relay_url = https://u@login.example.org/kiosk\n",
		"relay_url = http://login.example.org/kiosk\n",
		"relay_url = http://127.0.0.2/kiosk\n",
	};
	scauth_ctx *ctx;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		if (load_file_ctx(&ctx, bad[i], 0600, 0) != SCAUTH_ECONFIG)
			fail_msg("accepted: %s", bad[i]);
		assert_true(strlen(scauth_errmsg(ctx)) > 0);
		scauth_ctx_free(ctx);
	}
	assert_int_equal(load_file_ctx(&ctx, "api_url = https://[::1]:8443/\n", 0600, 0),
	    SCAUTH_OK);
	assert_string_equal(scauth_ctx_api_host(ctx), "[::1]:8443");
	scauth_ctx_free(ctx);
	assert_int_equal(load_file_ctx(&ctx, "api_url = https://127.0.0.1:4443\nstore = keyring\n"
	    "keyring = session\n", 0600, 0), SCAUTH_OK);
	assert_string_equal(scauth_ctx_api_host(ctx), "127.0.0.1:4443");
	scauth_ctx_free(ctx);
	/* The postgres store's own check (its configure hook), when the context is loaded. */
	assert_int_equal(load_file_ctx(&ctx, "store = postgres\nseal_key_file = /k\n", 0600, 0),
	    SCAUTH_ECONFIG);
	assert_non_null(strstr(scauth_errmsg(ctx), "store = postgres needs postgres"));
	scauth_ctx_free(ctx);
	assert_int_equal(load_file_ctx(&ctx, "store = postgres\npostgres = dbname=x\n", 0600, 0),
	    SCAUTH_ECONFIG);
	assert_non_null(strstr(scauth_errmsg(ctx), "needs seal_key_file"));
	scauth_ctx_free(ctx);
	assert_int_equal(load_file_ctx(&ctx, "store = postgres\npostgres = dbname=x\n"
	    "seal_key_file = /k\n", 0600, 0), SCAUTH_OK);
	scauth_ctx_free(ctx);
	assert_int_equal(load_file_ctx(&ctx, "relay_url = https://login.example.org/kiosk\n",
	    0600, 0), SCAUTH_OK);
	assert_string_equal(scauth_ctx_get(ctx, "relay_url"), "https://login.example.org/kiosk");
	scauth_ctx_free(ctx);
	/* http for a relay on this machine only (tests, demos). */
	assert_int_equal(load_file_ctx(&ctx, "relay_url = http://127.0.0.1:8080/kiosk\n",
	    0600, 0), SCAUTH_OK);
	scauth_ctx_free(ctx);
	assert_int_equal(load_file_ctx(&ctx, "relay_url = http://localhost/kiosk\n", 0600, 0),
	    SCAUTH_OK);
	scauth_ctx_free(ctx);
	assert_int_equal(load_file_ctx(&ctx, "relay_url = http://login.example.org/kiosk\n",
	    0600, 0), SCAUTH_ECONFIG);
	assert_non_null(strstr(scauth_errmsg(ctx), "relay_url: 'http://login.example.org/kiosk' "
	    "is not https"));
	scauth_ctx_free(ctx);
}

static void
profile_names(void **state)
{
	scauth_ctx *ctx;

	assert_true(profile_valid("default"));
	assert_true(profile_valid("work-2.a_b"));
	assert_false(profile_valid(""));
	assert_false(profile_valid(".hidden"));
	assert_false(profile_valid("a/b"));
	assert_false(profile_valid("a b"));
	assert_false(profile_valid("x123456789x123456789x123456789x123456789x123456789x123456789xxxxx"));
	assert_int_equal(scauth_ctx_new(&ctx, SCAUTH_CTX_NO_ENV), SCAUTH_OK);
	assert_int_equal(scauth_ctx_setopt(ctx, SCAUTH_OPT_HOME, home), SCAUTH_OK);
	assert_int_equal(scauth_ctx_setopt(ctx, SCAUTH_OPT_PROFILE, "../etc"), SCAUTH_OK);
	assert_int_equal(scauth_ctx_load(ctx), SCAUTH_ECONFIG);
	scauth_ctx_free(ctx);
}

static void
xdg_directories(void **state)
{
	scauth_ctx *ctx;
	char dir[4096];

	clear_env();
	snprintf(dir, sizeof(dir), "%s/xdgconf/soundcloud-auth", home);
	tu_mkdir(dir, 0700);
	strcat(dir, "/config");
	tu_write(dir, "client_id = from-xdg\n", 0600);
	snprintf(dir, sizeof(dir), "%s/xdgconf", home);
	assert_int_equal(scauth_ctx_new(&ctx, 0), SCAUTH_OK);
	setenv("HOME", home, 1);
	setenv("XDG_CONFIG_HOME", dir, 1);
	setenv("XDG_STATE_HOME", "/var/lib/elsewhere", 1);
	assert_int_equal(scauth_ctx_load(ctx), SCAUTH_OK);
	assert_string_equal(scauth_ctx_get(ctx, "client_id"), "from-xdg");
	assert_string_equal(scauth_ctx_get(ctx, "state_dir"), "/var/lib/elsewhere/soundcloud-auth");
	scauth_ctx_free(ctx);
	/*
	 * The keyring is one per user: its lock must not move with
	 * XDG_STATE_HOME, or two processes could refresh the same key at once.
	 */
	assert_int_equal(scauth_ctx_new(&ctx, 0), SCAUTH_OK);
	setenv("SOUNDCLOUD_AUTH_STORE", "keyring", 1);
	assert_int_equal(scauth_ctx_load(ctx), SCAUTH_OK);
	assert_string_equal(scauth_ctx_get(ctx, "state_dir"),
	    path_in_home(".local/state/soundcloud-auth"));
	unsetenv("SOUNDCLOUD_AUTH_STORE");
	scauth_ctx_free(ctx);
	/* Relative XDG values are invalid and ignored, as the spec says. */
	assert_int_equal(scauth_ctx_new(&ctx, 0), SCAUTH_OK);
	setenv("XDG_STATE_HOME", "relative/dir", 1);
	assert_int_equal(scauth_ctx_load(ctx), SCAUTH_OK);
	assert_string_equal(scauth_ctx_get(ctx, "state_dir"),
	    path_in_home(".local/state/soundcloud-auth"));
	scauth_ctx_free(ctx);
	unsetenv("XDG_CONFIG_HOME");
	unsetenv("XDG_STATE_HOME");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(precedence_of_sources, setup, teardown),
		cmocka_unit_test_setup_teardown(no_env_ignores_environment, setup, teardown),
		cmocka_unit_test(parser_values),
		cmocka_unit_test(parser_profiles),
		cmocka_unit_test(parser_errors),
		cmocka_unit_test_setup_teardown(file_permissions, setup, teardown),
		cmocka_unit_test_setup_teardown(root_config_checks_directories, setup, teardown),
		cmocka_unit_test_setup_teardown(secret_file, setup, teardown),
		cmocka_unit_test(secret_never_from_command_line),
		cmocka_unit_test_setup_teardown(validation, setup, teardown),
		cmocka_unit_test_setup_teardown(profile_names, setup, teardown),
		cmocka_unit_test_setup_teardown(xdg_directories, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
