/*
 * test_dl.c - the network libraries in a threaded application: threads that
 * each make their own context, some with SCAUTH_CTX_NO_ENV and some without,
 * load libcrypto (a PKCE challenge), libcurl (a request to a closed port)
 * and libpq (a connection to it) at the same moment, round after round.
 * Afterwards environ must be the application's own array with its own
 * variables, never a filtered copy, and each library must have been loaded
 * once for the process.  Meanwhile each request must have read the
 * environment it was meant to: the application has https_proxy set, so a
 * context without the flag goes to the proxy and one with it never does,
 * whatever another thread's shield is doing at that moment.
 */
#include "testutil.h"
#include "internal.h"
#include "fleet.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

#define THREADS 4
#define ROUNDS  1000

extern char **environ;

static char *home;
static int closed_port, proxy_port;
static pthread_barrier_t barrier;
static int failures;
static char why[256];

static void
failed(const char *what, long who, int r)
{
	if (__atomic_fetch_add(&failures, 1, __ATOMIC_SEQ_CST) == 0)
		snprintf(why, sizeof(why), "thread %ld: %s: %d", who, what, r);
}

/* One round's work in one thread: each of the three libraries, in a fresh context. */
static void
round_trip(long who)
{
	static const char verifier[] = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
	char challenge[64], url[64], conninfo[128], port[32];
	struct http_req req = { .method = "GET", .url = url };
	struct http_resp resp;
	scauth_ctx *ctx = NULL;
	int r;

	snprintf(url, sizeof(url), "https://127.0.0.1:%d/me", closed_port);
	snprintf(conninfo, sizeof(conninfo), "host=127.0.0.1 port=%d dbname=scauth user=scauth",
	    closed_port);
	if ((r = scauth_ctx_new(&ctx, who % 2 == 0 ? SCAUTH_CTX_NO_ENV : 0)) != 0 ||
	    (r = scauth_ctx_setopt(ctx, SCAUTH_OPT_HOME, home)) != 0 ||
	    (r = scauth_ctx_set(ctx, "postgres", conninfo)) != 0 ||
	    (r = scauth_ctx_set(ctx, "timeout", "5")) != 0 ||
	    (r = scauth_ctx_load(ctx)) != 0) {
		failed("context", who, r);
		goto out;
	}
	if ((r = pkce_challenge(ctx, verifier, challenge)) != 0 ||
	    strcmp(challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM") != 0)
		failed("pkce_challenge", who, r);
	if ((r = http_do(ctx, &req, &resp)) != SCAUTH_ENETWORK)
		failed("http_do to a closed port", who, r);
	/* curl names the port it failed to reach: the proxy's, or the server's. */
	snprintf(port, sizeof(port), " port %d ", who % 2 == 0 ? closed_port : proxy_port);
	if (r == SCAUTH_ENETWORK && strstr(scauth_errmsg(ctx), port) == NULL)
		failed(who % 2 == 0 ? "a NO_ENV request went to the proxy" :
		    "a request did not see the application's https_proxy", who, r);
	http_resp_free(&resp);
	if ((r = pg_connect(ctx)) != SCAUTH_ESTORE)
		failed("pg_connect to a closed port", who, r);
out:
	scauth_ctx_free(ctx);
}

static void *
worker(void *arg)
{
	long who = (long)arg;
	int i;

	for (i = 0; i < ROUNDS; i++) {
		pthread_barrier_wait(&barrier);
		round_trip(who);
		pthread_barrier_wait(&barrier);
	}
	return NULL;
}

/* A port on 127.0.0.1 that is bound (nobody else gets it) and refuses connections. */
static int
reserve_port(int *fd)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((*fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0);
	assert_int_equal(bind(*fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(*fd, (struct sockaddr *)&a, &len), 0);
	return ntohs(a.sin_port);
}

static void
threads_keep_the_application_environment(void **state)
{
	pthread_t t[THREADS];
	char **app;
	const char *v;
	long i;
	char proxy[64];
	int r, fd, proxy_fd, bad_rounds = 0;

	home = tu_tmpdir();
	closed_port = reserve_port(&fd);
	proxy_port = reserve_port(&proxy_fd);
	snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", proxy_port);
	/* What the application has: its own variables, and one the shield hides. */
	assert_int_equal(setenv("SCAUTH_TEST_MARKER", "mine", 1), 0);
	assert_int_equal(setenv("SSLKEYLOGFILE", "/nonexistent/keylog", 1), 0);
	assert_int_equal(setenv("PGCONNECT_TIMEOUT", "5", 1), 0);
	assert_int_equal(setenv("https_proxy", proxy, 1), 0);
	assert_int_equal(unsetenv("no_proxy"), 0);
	assert_int_equal(unsetenv("NO_PROXY"), 0);
	app = environ;
	assert_int_equal(pthread_barrier_init(&barrier, NULL, THREADS + 1), 0);
	for (i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, worker, (void *)i), 0);
	for (r = 0; r < ROUNDS; r++) {
		pthread_barrier_wait(&barrier);
		pthread_barrier_wait(&barrier);
		/* Between rounds nobody is loading: the application's array must be back. */
		if (environ != app || (v = getenv("SCAUTH_TEST_MARKER")) == NULL ||
		    strcmp(v, "mine") != 0 || getenv("SSLKEYLOGFILE") == NULL) {
			bad_rounds++;
			environ = app;  /* so that the next round starts clean */
		}
	}
	for (i = 0; i < THREADS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	pthread_barrier_destroy(&barrier);
	close(fd);
	close(proxy_fd);
	assert_int_equal(unsetenv("https_proxy"), 0);
	tu_rmrf(home);
	free(home);
	if (failures > 0)
		fail_msg("%d calls failed, first: %s", failures, why);
	if (bad_rounds > 0)
		fail_msg("%d of %d rounds left environ pointing at a filtered copy", bad_rounds,
		    ROUNDS);
	assert_string_equal(getenv("SSLKEYLOGFILE"), "/nonexistent/keylog");
	/* Once for the process, however many contexts and threads asked. */
	assert_int_equal(dl_load_count(DL_CRYPTO), 1);
	assert_int_equal(dl_load_count(DL_CURL), 1);
	assert_int_equal(dl_load_count(DL_PQ), 1);
}

/* A database that takes the connection and never answers: libpq waits for its connect timeout. */
static int silent_port;

static void *
slow_connect(void *arg)
{
	char conninfo[128];
	scauth_ctx *ctx = NULL;

	(void)arg;
	snprintf(conninfo, sizeof(conninfo), "host=127.0.0.1 port=%d dbname=scauth user=scauth "
	    "sslmode=disable", silent_port);
	if (scauth_ctx_new(&ctx, SCAUTH_CTX_NO_ENV) == 0 &&
	    scauth_ctx_setopt(ctx, SCAUTH_OPT_HOME, home) == 0 &&
	    scauth_ctx_set(ctx, "postgres", conninfo) == 0 &&
	    scauth_ctx_set(ctx, "postgres_connect_timeout", "2") == 0 &&
	    scauth_ctx_load(ctx) == 0)
		(void)pg_connect(ctx);
	scauth_ctx_free(ctx);
	return NULL;
}

/*
 * A thread whose database connection hangs holds the environment lock (its
 * shield) for the connect timeout: a loaded library must not wait for it in
 * another thread's new context.
 */
static void
a_slow_connect_does_not_hold_up_a_loaded_library(void **state)
{
	static const char verifier[] = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	char challenge[64];
	scauth_ctx *ctx = NULL;
	pthread_t t;
	long long t0;
	int fd;

	home = tu_tmpdir();
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	silent_port = ntohs(a.sin_port);
	assert_int_equal(scauth_ctx_new(&ctx, SCAUTH_CTX_NO_ENV), 0);
	assert_int_equal(scauth_ctx_setopt(ctx, SCAUTH_OPT_HOME, home), 0);
	assert_int_equal(scauth_ctx_load(ctx), 0);
	/* Loaded for the process before the slow connection starts. */
	assert_int_equal(pkce_challenge(ctx, verifier, challenge), 0);
	scauth_ctx_free(ctx);
	ctx = NULL;
	assert_int_equal(pthread_create(&t, NULL, slow_connect, NULL), 0);
	usleep(300 * 1000);
	assert_int_equal(scauth_ctx_new(&ctx, SCAUTH_CTX_NO_ENV), 0);
	assert_int_equal(scauth_ctx_setopt(ctx, SCAUTH_OPT_HOME, home), 0);
	assert_int_equal(scauth_ctx_load(ctx), 0);
	t0 = mono_ms();
	assert_int_equal(pkce_challenge(ctx, verifier, challenge), 0);
	if (mono_ms() - t0 > 1000)
		fail_msg("a SHA-256 in a new context waited %lld ms for another thread's connect",
		    mono_ms() - t0);
	scauth_ctx_free(ctx);
	assert_int_equal(pthread_join(t, NULL), 0);
	close(fd);
	tu_rmrf(home);
	free(home);
}

/*
 * A program that exits while a shield is on (another thread's NO_ENV
 * connect, here the main thread's own) has environ on the filtered copy
 * until its very end: the library's destructor must leave the copy alone.
 * This destructor runs after the library's (a lower priority runs later)
 * and reads environ as exit's last steps would; a freed copy has lost its
 * first entries to the allocator (ASan: a use after free).
 */
static char **exit_environ, *exit_first;
static char exit_home[4200];

__attribute__((destructor(101))) static void
environ_after_the_library(void)
{
	size_t i;

	if (exit_environ == NULL)
		return;
	if (environ != exit_environ || environ[0] != exit_first)
		_exit(3);
	for (i = 0; environ[i] != NULL; i++)
		if (strcmp(environ[i], exit_home) == 0)
			_exit(0);
	_exit(4);
}

static void
an_exit_with_a_shield_on_leaves_environ_whole(void **state)
{
	struct env_shield sh;
	scauth_ctx *ctx = NULL;
	pid_t pid;
	int status;

	(void)state;
	home = tu_tmpdir();
	assert_true((pid = fork()) >= 0);
	if (pid == 0) {
		if (scauth_ctx_new(&ctx, SCAUTH_CTX_NO_ENV) != 0 ||
		    scauth_ctx_setopt(ctx, SCAUTH_OPT_HOME, home) != 0 ||
		    scauth_ctx_load(ctx) != 0 || dl_shield_on(ctx, &sh) != 0)
			_exit(2);
		snprintf(exit_home, sizeof(exit_home), "HOME=%s", home);
		exit_first = environ[0];
		exit_environ = environ;
		exit(1);        /* the destructors decide: 0 only when environ is whole */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("environ after the library's destructor: %s %d (2: no shield, 3: the "
		    "copy was freed, 4: its HOME entry was)", WIFEXITED(status) ? "exit" :
		    "signal", WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	tu_rmrf(home);
	free(home);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(threads_keep_the_application_environment),
		cmocka_unit_test(a_slow_connect_does_not_hold_up_a_loaded_library),
		cmocka_unit_test(an_exit_with_a_shield_on_leaves_environ_whole),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
