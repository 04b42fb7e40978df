/*
 * testutil.h - helpers shared by the cmocka unit tests: temporary homes,
 * files with given modes, contexts with settings, and a sandbox server
 * started from C (node tests/sandbox/server.js) with its control API driven
 * through the curl command line (JSON on stdin, never in argv).
 *
 * Tests run from the top of the tree (tests/run does cd there).
 */
#ifndef SCAUTH_TESTUTIL_H
#define SCAUTH_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "scauth.h"

static inline char *
tu_tmpdir(void)
{
	char tmpl[] = "/tmp/scauth-test.XXXXXX";
	char *d = mkdtemp(tmpl);

	assert_non_null(d);
	return strdup(d);
}

static inline void
tu_write(const char *path, const char *content, mode_t mode)
{
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static inline void
tu_mkdir(const char *path, mode_t mode)
{
	char buf[4096], *p;

	snprintf(buf, sizeof(buf), "%s", path);
	for (p = buf + 1; *p != '\0'; p++)
		if (*p == '/') {
			*p = '\0';
			mkdir(buf, 0700);
			*p = '/';
		}
	mkdir(buf, mode);
	chmod(buf, mode);
}

static inline int
tu_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static inline void
tu_rmrf(const char *path)
{
	if (path != NULL)
		nftw(path, tu_rm, 16, FTW_DEPTH | FTW_PHYS);
}

/*
 * A loaded context whose home is `home` (no user config there unless the
 * test writes one), the environment ignored, and "key", "value" pairs set as
 * if from the command line; NULL ends the list.  client_secret pairs go to a
 * 0600 secret file, since the command line refuses secrets.
 */
static inline scauth_ctx *
tu_ctx_v(const char *home, unsigned flags, va_list ap)
{
	scauth_ctx *ctx;
	const char *k, *v;
	char path[4096];

	assert_int_equal(scauth_ctx_new(&ctx, flags | SCAUTH_CTX_NO_ENV), SCAUTH_OK);
	assert_int_equal(scauth_ctx_setopt(ctx, SCAUTH_OPT_HOME, home), SCAUTH_OK);
	while ((k = va_arg(ap, const char *)) != NULL) {
		v = va_arg(ap, const char *);
		if (strcmp(k, "client_secret") == 0) {
			snprintf(path, sizeof(path), "%s/client-secret", home);
			tu_write(path, v, 0600);
			assert_int_equal(scauth_ctx_set(ctx, "client_secret_file", path), SCAUTH_OK);
		} else if (strcmp(k, "profile") == 0)
			assert_int_equal(scauth_ctx_setopt(ctx, SCAUTH_OPT_PROFILE, v), SCAUTH_OK);
		else if (strcmp(k, "state_dir") == 0)
			assert_int_equal(scauth_ctx_setopt(ctx, SCAUTH_OPT_STATE_DIR, v), SCAUTH_OK);
		else if (strcmp(k, "config") == 0)
			assert_int_equal(scauth_ctx_setopt(ctx, SCAUTH_OPT_CONFIG_FILE, v), SCAUTH_OK);
		else
			assert_int_equal(scauth_ctx_set(ctx, k, v), SCAUTH_OK);
	}
	return ctx;
}

static inline scauth_ctx *
tu_ctx(const char *home, ...)
{
	scauth_ctx *ctx;
	va_list ap;
	int r;

	va_start(ap, home);
	ctx = tu_ctx_v(home, 0, ap);
	va_end(ap);
	r = scauth_ctx_load(ctx);
	if (r != SCAUTH_OK)
		fail_msg("scauth_ctx_load: %s: %s", scauth_strerror(r), scauth_errmsg(ctx));
	return ctx;
}

/* ------------------------------------------------------------------------ */
/* The sandbox, from C. */

struct tu_sandbox {
	pid_t pid;
	char *dir;
	int port;
	char url[64];
	char ca[4200];
	char config[4200];
};

/* Reads one line from fd with a deadline in ms; returns its length or -1. */
static inline int
tu_readline(int fd, char *buf, size_t len, int ms)
{
	size_t n = 0;
	struct pollfd p = { .fd = fd, .events = POLLIN };

	while (n + 1 < len) {
		if (poll(&p, 1, ms) <= 0)
			return -1;
		if (read(fd, buf + n, 1) != 1)
			return -1;
		if (buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = '\0';
	return (int)n;
}

static inline void
tu_sandbox_start(struct tu_sandbox *sb)
{
	char line[128], parent[32];
	int out[2];

	memset(sb, 0, sizeof(*sb));
	sb->dir = tu_tmpdir();
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	snprintf(parent, sizeof(parent), "%d", (int)getpid());
	sb->pid = fork();
	assert_true(sb->pid >= 0);
	if (sb->pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(out[1], 1);
		dup2(null, 2);
		execlp("node", "node", "tests/sandbox/server.js", "--dir", sb->dir,
		    "--watch-pid", parent, (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	if (tu_readline(out[0], line, sizeof(line), 20000) < 0 ||
	    sscanf(line, "READY %d", &sb->port) != 1)
		fail_msg("sandbox did not start (is node installed? run from the top of the tree)");
	close(out[0]);
	snprintf(sb->url, sizeof(sb->url), "https://127.0.0.1:%d", sb->port);
	snprintf(sb->ca, sizeof(sb->ca), "%s/ca.pem", sb->dir);
	snprintf(sb->config, sizeof(sb->config), "%s/config", sb->dir);
}

static inline void
tu_sandbox_stop(struct tu_sandbox *sb)
{
	if (sb->pid > 0) {
		kill(sb->pid, SIGTERM);
		waitpid(sb->pid, NULL, 0);
		sb->pid = 0;
	}
	tu_rmrf(sb->dir);
	free(sb->dir);
	sb->dir = NULL;
}

/*
 * Calls the control API: METHOD /_sandbox/PATH with json (may be NULL) on
 * curl's stdin; the answer goes to out.  Returns curl's exit status.
 */
static inline int
tu_sandbox_ctl(const struct tu_sandbox *sb, const char *method, const char *path,
    const char *json, char *out, size_t outlen)
{
	char url[256];
	int in[2], res[2], status;
	size_t n = 0;
	ssize_t got;
	pid_t pid;

	snprintf(url, sizeof(url), "%s%s", sb->url, path);
	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(res, O_CLOEXEC), 0);
	if ((pid = fork()) == 0) {
		dup2(in[0], 0);
		dup2(res[1], 1);
		execlp("curl", "curl", "-sS", "--cacert", sb->ca, "-X", method, "-H",
		    "Content-Type: application/json", "--data-binary", "@-", url, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(res[1]);
	if (json != NULL)
		assert_int_equal(write(in[1], json, strlen(json)), (ssize_t)strlen(json));
	close(in[1]);
	/* Drain everything even when the caller wants nothing, or curl fails writing. */
	for (;;) {
		char scratch[4096];

		if (out != NULL && n + 1 < outlen)
			got = read(res[0], out + n, outlen - n - 1);
		else
			got = read(res[0], scratch, sizeof(scratch));
		if (got <= 0)
			break;
		if (out != NULL && n + 1 < outlen)
			n += (size_t)got;
	}
	if (out != NULL)
		out[n] = '\0';
	close(res[0]);
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Pulls the number after "key": in a JSON text (first occurrence); -1 if absent. */
static inline long
tu_json_num(const char *json, const char *key)
{
	char pat[128];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	if ((p = strstr(json, pat)) == NULL)
		return -1;
	return strtol(p + strlen(pat), NULL, 10);
}

/* ------------------------------------------------------------------------ */
/* A context's trace, for the tests that include internal.h (before this header). */

#ifdef SCAUTH_INTERNAL_H
static inline void
tu_trace_line(void *arg, const char *line)
{
	struct sbuf *b = arg;

	sbuf_addstr(b, line);
	sbuf_addch(b, '\n');
}

/* ctx's trace lines go to b, a line each, up to 64 KiB. */
static inline void
tu_trace(scauth_ctx *ctx, struct sbuf *b)
{
	b->max = 64 * 1024;
	scauth_ctx_set_trace(ctx, tu_trace_line, b);
}
#endif

#endif /* SCAUTH_TESTUTIL_H */
