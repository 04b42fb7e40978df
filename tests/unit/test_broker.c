/*
 * test_broker.c - the broker's decisions that need no server (lib/broker.c):
 * a fresh token is handed out with no lock, no request and no libcurl; a
 * stale one is renewed (the endpoints point at a closed port, so an attempt
 * shows as SCAUTH_ENETWORK and the stored record must survive it); the app
 * slot's remembered 429 fails fast with no request; invalidate drops only the
 * matching access token; API paths that would leave api_url are refused;
 * logout erases locally whatever the server did.  Server round trips are in
 * tests/bats/broker.bats.  No real secret is used.
 */
#include "internal.h"
#include "store.h"
#include "testutil.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Port 9 (discard) on loopback: nothing listens, a connect fails at once. */
#define DEAD "https://127.0.0.1:9"

struct fx {
	char base[64];
	char state[128];
	char conf[128];
	scauth_ctx *ctx;
	struct sbuf trace;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	FILE *fp;

	assert_non_null(f);
	snprintf(f->base, sizeof(f->base), "/tmp/test_broker.XXXXXX");
	assert_non_null(mkdtemp(f->base));
	snprintf(f->state, sizeof(f->state), "%s/state", f->base);
	snprintf(f->conf, sizeof(f->conf), "%s/config", f->base);
	assert_non_null(fp = fopen(f->conf, "w"));
	fprintf(fp, "client_id = unit-client\nclient_secret = unit-not-a-secret\n"
	    "authorize_url = " DEAD "/authorize\ntoken_url = " DEAD "/oauth/token\n"
	    "signout_url = " DEAD "/sign-out\napi_url = " DEAD "\ntimeout = 5\n");
	fclose(fp);
	chmod(f->conf, 0600);
	assert_int_equal(scauth_ctx_new(&f->ctx, SCAUTH_CTX_NO_ENV), 0);
	assert_int_equal(scauth_ctx_setopt(f->ctx, SCAUTH_OPT_HOME, f->base), 0);
	assert_int_equal(scauth_ctx_setopt(f->ctx, SCAUTH_OPT_STATE_DIR, f->state), 0);
	assert_int_equal(scauth_ctx_setopt(f->ctx, SCAUTH_OPT_CONFIG_FILE, f->conf), 0);
	assert_int_equal(scauth_ctx_setopt(f->ctx, SCAUTH_OPT_PROFILE, "unit"), 0);
	if (scauth_ctx_load(f->ctx) != 0)
		fail_msg("scauth_ctx_load: %s", scauth_errmsg(f->ctx));
	tu_trace(f->ctx, &f->trace);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	scauth_ctx_free(f->ctx);
	tu_rmrf(f->base);
	sbuf_free(&f->trace);
	free(f);
	return 0;
}

/* Stores a record straight into the slot (no lock: the tests watch for the lock file). */
static void
plant(struct fx *f, enum scauth_grant g, const char *access, const char *refresh,
    time_t expires_at, time_t retry_at)
{
	struct scauth_token *t = record_new();

	t->access = access ? sstrdup(access) : NULL;
	t->refresh = refresh ? sstrdup(refresh) : NULL;
	t->expires_at = expires_at;
	/* An hour-long token, as SoundCloud issues them. */
	t->obtained_at = expires_at != 0 ? expires_at - 3600 : now();
	t->retry_at = retry_at;
	t->urn = sstrdup("soundcloud:users:5");
	if (store_save(f->ctx, g, t) != 0)
		fail_msg("store_save: %s", scauth_errmsg(f->ctx));
	scauth_token_free(t);
}

static struct scauth_token *
stored(struct fx *f, enum scauth_grant g)
{
	struct scauth_token *t = NULL;

	if (store_load(f->ctx, g, &t) != 0)
		fail_msg("store_load: %s", scauth_errmsg(f->ctx));
	return t;
}

static int
lock_exists(const struct fx *f)
{
	char path[256];
	struct stat st;

	snprintf(path, sizeof(path), "%s/unit.lock", f->state);
	return stat(path, &st) == 0;
}

static int
curl_mapped(void)
{
	char line[512];
	FILE *fp = fopen("/proc/self/maps", "r");
	int found = 0;

	assert_non_null(fp);
	while (!found && fgets(line, sizeof(line), fp) != NULL)
		found = strstr(line, "libcurl") != NULL;
	fclose(fp);
	return found;
}

static void
has(const char *text, const char *piece)
{
	if (strstr(text, piece) == NULL)
		fail_msg("\"%s\" lacks \"%s\"", text, piece);
}

/* Runs first: no test before it may have loaded libcurl into this process. */
static void
test_fresh_is_free(void **state)
{
	struct fx *f = *state;
	scauth_token *t = NULL;

	plant(f, SCAUTH_GRANT_USER, "fresh-access", "some-refresh", now() + 3600, 0);
	assert_int_equal(scauth_token_get(f->ctx, SCAUTH_GRANT_USER, &t), 0);
	assert_string_equal(scauth_token_access(t), "fresh-access");
	assert_string_equal(scauth_token_urn(t), "soundcloud:users:5");
	has(sbuf_str(&f->trace), "cache hit");
	/* No lock, no network library. */
	assert_false(lock_exists(f));
	assert_null(f->ctx->curl);
	assert_false(curl_mapped());
	scauth_token_free(t);

	/* Unknown expiry counts as fresh: the API's 401 will say otherwise. */
	plant(f, SCAUTH_GRANT_USER, "no-expiry", "some-refresh", 0, 0);
	assert_int_equal(scauth_token_get(f->ctx, SCAUTH_GRANT_USER, &t), 0);
	assert_string_equal(scauth_token_access(t), "no-expiry");
	scauth_token_free(t);
	assert_false(curl_mapped());
}

static void
test_not_logged_in(void **state)
{
	struct fx *f = *state;
	scauth_token *t = (scauth_token *)(uintptr_t)1;
	struct stat st;

	assert_int_equal(scauth_token_get(f->ctx, SCAUTH_GRANT_USER, &t), SCAUTH_ELOGIN);
	assert_null(t);
	has(scauth_errmsg(f->ctx), "log in");
	assert_int_equal(scauth_token_peek(f->ctx, SCAUTH_GRANT_USER, &t), SCAUTH_ELOGIN);
	/* Asking created nothing. */
	assert_int_equal(stat(f->state, &st), -1);
}

static void
test_margin(void **state)
{
	struct fx *f = *state;
	scauth_token *t = NULL;
	struct scauth_token *s;

	/* 100 s left, margin 300 s: stale, so a refresh is tried (and fails: no server). */
	plant(f, SCAUTH_GRANT_USER, "soon-expired", "the-refresh", now() + 100, 0);
	assert_int_equal(scauth_token_get(f->ctx, SCAUTH_GRANT_USER, &t), SCAUTH_ENETWORK);
	assert_null(t);
	has(sbuf_str(&f->trace), "refresh");
	/* A failed request keeps the stored grant as it was. */
	s = stored(f, SCAUTH_GRANT_USER);
	assert_string_equal(s->access, "soon-expired");
	assert_string_equal(s->refresh, "the-refresh");
	scauth_token_free(s);

	f->ctx->refresh_margin = 0;
	assert_int_equal(scauth_token_get(f->ctx, SCAUTH_GRANT_USER, &t), 0);
	assert_string_equal(scauth_token_access(t), "soon-expired");
	scauth_token_free(t);
}

/* A margin longer than the token's life counts only half the life. */
static void
test_margin_capped_by_lifetime(void **state)
{
	struct fx *f = *state;
	scauth_token *t = NULL;
	struct scauth_token *s = record_new();

	/* A 60 s token with the default 300 s margin: fresh for its first 30 s. */
	s->access = sstrdup("short-lived");
	s->refresh = sstrdup("the-refresh");
	s->obtained_at = now();
	s->expires_at = now() + 60;
	assert_int_equal(store_save(f->ctx, SCAUTH_GRANT_USER, s), 0);
	assert_int_equal(scauth_token_get(f->ctx, SCAUTH_GRANT_USER, &t), 0);
	assert_string_equal(scauth_token_access(t), "short-lived");
	scauth_token_free(t);
	/* 20 s of 60 left: stale, a refresh is tried (no server here). */
	s->obtained_at = now() - 40;
	s->expires_at = now() + 20;
	assert_int_equal(store_save(f->ctx, SCAUTH_GRANT_USER, s), 0);
	assert_int_equal(scauth_token_get(f->ctx, SCAUTH_GRANT_USER, &t), SCAUTH_ENETWORK);
	scauth_token_free(s);
}

static void
test_expired_without_refresh(void **state)
{
	struct fx *f = *state;
	scauth_token *t = NULL;

	plant(f, SCAUTH_GRANT_USER, "old-access", NULL, now() - 10, 0);
	assert_int_equal(scauth_token_get(f->ctx, SCAUTH_GRANT_USER, &t), SCAUTH_ELOGIN);
	has(scauth_errmsg(f->ctx), "no refresh token");
	/* peek still shows it, expired. */
	assert_int_equal(scauth_token_peek(f->ctx, SCAUTH_GRANT_USER, &t), 0);
	assert_string_equal(scauth_token_access(t), "old-access");
	assert_false(scauth_token_renewable(t));
	scauth_token_free(t);
}

static void
test_corrupt_reported(void **state)
{
	struct fx *f = *state;
	scauth_token *t = NULL;
	char path[256];
	int fd;

	plant(f, SCAUTH_GRANT_USER, "x", "y", 0, 0);
	snprintf(path, sizeof(path), "%s/unit.user", f->state);
	assert_true((fd = open(path, O_WRONLY | O_TRUNC)) >= 0);
	assert_int_equal(write(fd, "scauth-token 3\n", 15), 15);
	close(fd);
	assert_int_equal(scauth_token_get(f->ctx, SCAUTH_GRANT_USER, &t), SCAUTH_ECORRUPT);
	has(scauth_errmsg(f->ctx), path);
}

static void
test_invalidate(void **state)
{
	struct fx *f = *state;
	struct scauth_token *s;

	/* Nothing stored: nothing to do. */
	assert_int_equal(scauth_token_invalidate(f->ctx, SCAUTH_GRANT_USER, "whatever"), 0);

	plant(f, SCAUTH_GRANT_USER, "current-access", "current-refresh", now() + 3600, 0);
	/* Another token (an old one, someone else's): ignored. */
	assert_int_equal(scauth_token_invalidate(f->ctx, SCAUTH_GRANT_USER, "other"), 0);
	assert_int_equal(scauth_token_invalidate(f->ctx, SCAUTH_GRANT_USER, "current-acces"), 0);
	assert_int_equal(scauth_token_invalidate(f->ctx, SCAUTH_GRANT_USER, "current-accessX"), 0);
	s = stored(f, SCAUTH_GRANT_USER);
	assert_string_equal(s->access, "current-access");
	scauth_token_free(s);
	assert_false(lock_exists(f));   /* a foreign token costs no lock */

	assert_int_equal(scauth_token_invalidate(f->ctx, SCAUTH_GRANT_USER, "current-access"), 0);
	s = stored(f, SCAUTH_GRANT_USER);
	assert_null(s->access);
	assert_string_equal(s->refresh, "current-refresh");    /* the next get refreshes */
	assert_string_equal(s->urn, "soundcloud:users:5");
	scauth_token_free(s);
	has(sbuf_str(&f->trace), "invalidated");

	/* NULL drops whatever is stored; the app slot is separate. */
	plant(f, SCAUTH_GRANT_USER, "again", "r", now() + 3600, 0);
	plant(f, SCAUTH_GRANT_APP, "app-access", "r", now() + 3600, 0);
	assert_int_equal(scauth_token_invalidate(f->ctx, SCAUTH_GRANT_USER, NULL), 0);
	s = stored(f, SCAUTH_GRANT_USER);
	assert_null(s->access);
	scauth_token_free(s);
	s = stored(f, SCAUTH_GRANT_APP);
	assert_string_equal(s->access, "app-access");
	scauth_token_free(s);
}

static void
test_app_rate_limited(void **state)
{
	struct fx *f = *state;
	scauth_token *t = NULL;
	struct scauth_token *s;
	char when[64];
	struct tm tm;
	time_t until = now() + 3600;

	/* A remembered 429: no request (that would be SCAUTH_ENETWORK), no lock. */
	plant(f, SCAUTH_GRANT_APP, NULL, NULL, 0, until);
	assert_int_equal(scauth_token_get(f->ctx, SCAUTH_GRANT_APP, &t), SCAUTH_ERATELIMIT);
	assert_null(t);
	gmtime_r(&until, &tm);
	strftime(when, sizeof(when), "until %Y-%m-%d %H:%M:%S UTC", &tm);
	has(scauth_errmsg(f->ctx), when);
	assert_false(lock_exists(f));

	/* An expired app token with its refresh token: still no request until then. */
	plant(f, SCAUTH_GRANT_APP, "app-old", "app-refresh", now() - 5, until);
	assert_int_equal(scauth_token_get(f->ctx, SCAUTH_GRANT_APP, &t), SCAUTH_ERATELIMIT);

	/* A fresh app token is handed out whatever the 429 said. */
	plant(f, SCAUTH_GRANT_APP, "app-fresh", "app-refresh", now() + 3600, until);
	assert_int_equal(scauth_token_get(f->ctx, SCAUTH_GRANT_APP, &t), 0);
	assert_string_equal(scauth_token_access(t), "app-fresh");
	scauth_token_free(t);

	/* Past the reset time a request is made again. */
	plant(f, SCAUTH_GRANT_APP, NULL, NULL, 0, now() - 1);
	assert_int_equal(scauth_token_get(f->ctx, SCAUTH_GRANT_APP, &t), SCAUTH_ENETWORK);
	has(sbuf_str(&f->trace), "client credentials");
	s = stored(f, SCAUTH_GRANT_APP);
	assert_null(s->access);
	scauth_token_free(s);

	/* No app slot at all: a client-credentials exchange is tried. */
	assert_int_equal(scauth_token_erase(f->ctx, SCAUTH_GRANT_APP), 0);
	sbuf_reset(&f->trace);
	assert_int_equal(scauth_token_get(f->ctx, SCAUTH_GRANT_APP, &t), SCAUTH_ENETWORK);
	has(sbuf_str(&f->trace), "client credentials");
}

static void
test_save_erase(void **state)
{
	struct fx *f = *state;
	struct scauth_token *t = record_new();
	scauth_token *u = NULL;

	t->access = sstrdup("saved-access");
	t->refresh = sstrdup("saved-refresh");
	t->expires_at = now() + 3600;
	t->username = sstrdup("Some One");
	assert_int_equal(scauth_token_save(f->ctx, SCAUTH_GRANT_USER, t), 0);
	assert_int_equal(scauth_token_peek(f->ctx, SCAUTH_GRANT_USER, &u), 0);
	assert_string_equal(scauth_token_access(u), "saved-access");
	assert_string_equal(scauth_token_username(u), "Some One");
	scauth_token_free(u);
	assert_int_equal(scauth_token_erase(f->ctx, SCAUTH_GRANT_USER), 0);
	assert_int_equal(scauth_token_peek(f->ctx, SCAUTH_GRANT_USER, &u), SCAUTH_ELOGIN);
	assert_int_equal(scauth_token_erase(f->ctx, SCAUTH_GRANT_USER), 0);
	assert_int_equal(scauth_token_save(f->ctx, SCAUTH_GRANT_USER, NULL), SCAUTH_EINVAL);

	/* Values that would forge record lines are refused, and nothing is written. */
	sfree(t->username);
	t->username = sstrdup("Evil\nrefresh_token forged");
	assert_int_equal(scauth_token_save(f->ctx, SCAUTH_GRANT_USER, t), SCAUTH_EINVAL);
	assert_int_equal(scauth_token_peek(f->ctx, SCAUTH_GRANT_USER, &u), SCAUTH_ELOGIN);
	scauth_token_free(t);
}

static void
test_api_paths(void **state)
{
	static const char *bad[] = {
		"//evil.example/steal", "https://evil.example/", "me", "", "/me\r\nX: y", "/a b",
	};
	struct fx *f = *state;
	scauth_response *r = (scauth_response *)(uintptr_t)1;
	size_t i;

	plant(f, SCAUTH_GRANT_USER, "fresh-access", "r", now() + 3600, 0);
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(scauth_api_request(f->ctx, SCAUTH_GRANT_USER, "GET", bad[i], NULL,
		    0, NULL, &r), SCAUTH_EINVAL);
		assert_null(r);
	}
	assert_int_equal(scauth_api_request(f->ctx, SCAUTH_GRANT_USER, "GET", NULL, NULL, 0,
	    NULL, &r), SCAUTH_EINVAL);
	assert_int_equal(scauth_api_request(f->ctx, SCAUTH_GRANT_USER, NULL, "/me", NULL, 0,
	    NULL, &r), SCAUTH_EINVAL);
	/* A good path with no server: the network error comes back. */
	assert_int_equal(scauth_api_request(f->ctx, SCAUTH_GRANT_USER, "GET", "/me", NULL, 0,
	    NULL, &r), SCAUTH_ENETWORK);
	assert_null(r);
	assert_int_equal(scauth_response_status(NULL), 0);
	scauth_response_free(NULL);
}

static void
test_logout_offline(void **state)
{
	struct fx *f = *state;
	scauth_token *t = NULL;

	/* Nothing stored: nothing to do. */
	assert_int_equal(scauth_logout(f->ctx), 0);
	/* The server cannot be reached: the local copy goes all the same, the error comes back. */
	plant(f, SCAUTH_GRANT_USER, "fresh-access", "r", now() + 3600, 0);
	plant(f, SCAUTH_GRANT_APP, "app-access", "r", now() + 3600, 0);
	assert_int_equal(scauth_logout(f->ctx), SCAUTH_ENETWORK);
	assert_int_equal(scauth_token_peek(f->ctx, SCAUTH_GRANT_USER, &t), SCAUTH_ELOGIN);
	/* The app's own token is not the user's to sign out. */
	assert_int_equal(scauth_token_peek(f->ctx, SCAUTH_GRANT_APP, &t), 0);
	scauth_token_free(t);
	/* An expired token that cannot be refreshed: signed out with, erased. */
	plant(f, SCAUTH_GRANT_USER, "old-access", "r", now() - 10, 0);
	assert_int_equal(scauth_logout(f->ctx), SCAUTH_ENETWORK);
	assert_int_equal(scauth_token_peek(f->ctx, SCAUTH_GRANT_USER, &t), SCAUTH_ELOGIN);
}

static void
test_bad_args(void **state)
{
	struct fx *f = *state;
	scauth_token *t = NULL;
	scauth_ctx *unloaded = NULL;

	assert_int_equal(scauth_token_get(f->ctx, (enum scauth_grant)7, &t), SCAUTH_EINVAL);
	assert_int_equal(scauth_token_get(f->ctx, SCAUTH_GRANT_USER, NULL), SCAUTH_EINVAL);
	assert_int_equal(scauth_token_get(NULL, SCAUTH_GRANT_USER, &t), SCAUTH_EINVAL);
	assert_int_equal(scauth_ctx_new(&unloaded, 0), 0);
	assert_int_equal(scauth_token_get(unloaded, SCAUTH_GRANT_USER, &t), SCAUTH_EINVAL);
	has(scauth_errmsg(unloaded), "not loaded");
	assert_int_equal(scauth_logout(unloaded), SCAUTH_EINVAL);
	assert_int_equal(scauth_token_storable(unloaded, SCAUTH_GRANT_USER), SCAUTH_EINVAL);
	assert_int_equal(scauth_token_storable(NULL, SCAUTH_GRANT_USER), SCAUTH_EINVAL);
	assert_int_equal(scauth_token_storable(f->ctx, (enum scauth_grant)7), SCAUTH_EINVAL);
	/* The file store is always ready: a login there checks nothing more. */
	assert_int_equal(scauth_token_storable(f->ctx, SCAUTH_GRANT_USER), 0);
	scauth_ctx_free(unloaded);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fresh_is_free, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_logged_in, setup, teardown),
		cmocka_unit_test_setup_teardown(test_margin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_margin_capped_by_lifetime, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expired_without_refresh, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalidate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_app_rate_limited, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_erase, setup, teardown),
		cmocka_unit_test_setup_teardown(test_api_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_logout_offline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_args, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
