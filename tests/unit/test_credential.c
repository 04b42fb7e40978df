/*
 * test_credential.c - the git-credential(1) reader and writer of the helper
 * (git-credential/credential.c): limits, forbidden bytes, key[] lists,
 * unknown and repeated keys, the end of a request, reading from a pipe.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "credential.h"

/* Parses a NUL-free literal. */
static int
parse_str(struct credential *c, const char *s)
{
	return cred_parse(c, s, strlen(s));
}

/* A request of one attribute whose line, newline included, is total bytes long. */
static char *
line_of(const char *key, size_t total, int newline, size_t *len)
{
	size_t klen = strlen(key);
	char *p;

	assert_true(total > klen + 1);
	p = malloc(total + 32);
	assert_non_null(p);
	memcpy(p, key, klen);
	p[klen] = '=';
	memset(p + klen + 1, 'a', total - klen - 2);
	*len = total - 1;
	if (newline)
		p[(*len)++] = '\n';
	return p;
}

static void
test_basic(void **state)
{
	struct credential c = { 0 };

	(void)state;
	assert_int_equal(parse_str(&c, "protocol=https\nhost=api.soundcloud.com\n"
	    "path=a/b\nusername=u\npassword=p\n"), CRED_OK);
	assert_string_equal(c.protocol, "https");
	assert_string_equal(c.host, "api.soundcloud.com");
	assert_string_equal(c.path, "a/b");
	assert_string_equal(c.username, "u");
	assert_string_equal(c.password, "p");
	assert_null(c.authtype);
	assert_null(c.credential);
	assert_int_equal(c.capability.n, 0);
	cred_clear(&c);
	assert_null(c.host);
}

static void
test_all_single_keys(void **state)
{
	struct credential c = { 0 };

	(void)state;
	assert_int_equal(parse_str(&c, "password_expiry_utc=1700000000\n"
	    "oauth_refresh_token=r\nauthtype=Bearer\ncredential=xyz\n"), CRED_OK);
	assert_string_equal(c.password_expiry_utc, "1700000000");
	assert_string_equal(c.oauth_refresh_token, "r");
	assert_string_equal(c.authtype, "Bearer");
	assert_string_equal(c.credential, "xyz");
	cred_clear(&c);
}

static void
test_empty_request(void **state)
{
	struct credential c = { 0 };

	(void)state;
	assert_int_equal(cred_parse(&c, "", 0), CRED_OK);
	assert_null(c.protocol);
	assert_int_equal(parse_str(&c, "\nhost=x\n"), CRED_OK);
	assert_null(c.host);
	cred_clear(&c);
}

static void
test_value_keeps_equals_and_spaces(void **state)
{
	struct credential c = { 0 };

	(void)state;
	assert_int_equal(parse_str(&c, "path= a=b=c \nhost=\n"), CRED_OK);
	assert_string_equal(c.path, " a=b=c ");
	assert_string_equal(c.host, "");
	cred_clear(&c);
}

static void
test_eof_without_newline(void **state)
{
	struct credential c = { 0 };

	(void)state;
	assert_int_equal(parse_str(&c, "protocol=https\nhost=example.com"), CRED_OK);
	assert_string_equal(c.host, "example.com");
	cred_clear(&c);
}

static void
test_blank_line_stops(void **state)
{
	struct credential c = { 0 };

	(void)state;
	/* Whatever follows the blank line, even garbage, is not read. */
	assert_int_equal(parse_str(&c, "protocol=https\nhost=a\n\nhost=evil\nno equals\n"),
	    CRED_OK);
	assert_string_equal(c.host, "a");
	cred_clear(&c);
}

static void
test_unknown_keys_ignored(void **state)
{
	struct credential c = { 0 };

	(void)state;
	assert_int_equal(parse_str(&c, "url=https://x\nfuture=1\nfuture=2\nfoo[]=a\n"
	    "HOST=upper\nhost =space\nhost=real\n"), CRED_OK);
	assert_string_equal(c.host, "real");
	cred_clear(&c);
}

static void
test_lists_accumulate(void **state)
{
	struct credential c = { 0 };

	(void)state;
	assert_int_equal(parse_str(&c, "capability[]=authtype\nwwwauth[]=Basic realm=x\n"
	    "capability[]=state\nwwwauth[]=Bearer\nstate[]=s1\n"), CRED_OK);
	assert_int_equal(c.capability.n, 2);
	assert_string_equal(c.capability.v[0], "authtype");
	assert_string_equal(c.capability.v[1], "state");
	assert_int_equal(c.wwwauth.n, 2);
	assert_string_equal(c.wwwauth.v[0], "Basic realm=x");
	assert_string_equal(c.wwwauth.v[1], "Bearer");
	assert_int_equal(c.state.n, 1);
	assert_true(cred_has_capability(&c, "authtype"));
	assert_true(cred_has_capability(&c, "state"));
	assert_false(cred_has_capability(&c, "auth"));
	cred_clear(&c);
	assert_int_equal(c.capability.n, 0);
	assert_null(c.capability.v);
}

static void
test_list_empty_value_resets(void **state)
{
	struct credential c = { 0 };

	(void)state;
	assert_int_equal(parse_str(&c, "capability[]=authtype\ncapability[]=\n"
	    "capability[]=state\n"), CRED_OK);
	assert_int_equal(c.capability.n, 1);
	assert_string_equal(c.capability.v[0], "state");
	assert_false(cred_has_capability(&c, "authtype"));
	cred_clear(&c);
}

static void
test_list_cap(void **state)
{
	struct credential c = { 0 };
	char *req;
	size_t i, len = 0;

	(void)state;
	req = malloc((CRED_MAX_VALUES + 1) * 16);
	assert_non_null(req);
	for (i = 0; i < CRED_MAX_VALUES; i++)
		len += (size_t)sprintf(req + len, "wwwauth[]=v%zu\n", i);
	assert_int_equal(cred_parse(&c, req, len), CRED_OK);
	assert_int_equal(c.wwwauth.n, CRED_MAX_VALUES);
	cred_clear(&c);
	len += (size_t)sprintf(req + len, "wwwauth[]=one-too-many\n");
	assert_int_equal(cred_parse(&c, req, len), CRED_EMANY);
	assert_int_equal(c.lineno, CRED_MAX_VALUES + 1);
	assert_int_equal(c.wwwauth.n, 0);
	free(req);
}

/* A second host= is an injection: git never repeats a key. */
static void
test_duplicate_single_keys_rejected(void **state)
{
	static const char *const keys[] = {
		"protocol", "host", "path", "username", "password", "password_expiry_utc",
		"oauth_refresh_token", "authtype", "credential",
	};
	struct credential c = { 0 };
	char req[200];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		snprintf(req, sizeof(req), "x-first=1\n%s=one\n%s=two\n", keys[i], keys[i]);
		assert_int_equal(parse_str(&c, req), CRED_EDUP);
		assert_int_equal(c.lineno, 3);
		assert_null(c.protocol);
		assert_null(c.host);
	}
	/* Same value twice is no excuse. */
	assert_int_equal(parse_str(&c, "host=a\nhost=a\n"), CRED_EDUP);
	/* Even an empty first value counts as given. */
	assert_int_equal(parse_str(&c, "host=\nhost=evil\n"), CRED_EDUP);
}

static void
test_nul_rejected(void **state)
{
	static const char req[] = "protocol=https\nhost=api.sound\0cloud.com\n";
	static const char key[] = "ho\0st=x\n";
	static const char after_blank[] = "host=x\n\n\0";
	struct credential c = { 0 };

	(void)state;
	assert_int_equal(cred_parse(&c, req, sizeof(req) - 1), CRED_ECHAR);
	assert_int_equal(c.lineno, 2);
	assert_null(c.protocol);
	assert_int_equal(cred_parse(&c, key, sizeof(key) - 1), CRED_ECHAR);
	/* Past the end of the request nothing is looked at. */
	assert_int_equal(cred_parse(&c, after_blank, sizeof(after_blank) - 1), CRED_OK);
	cred_clear(&c);
}

static void
test_cr_rejected(void **state)
{
	struct credential c = { 0 };

	(void)state;
	assert_int_equal(parse_str(&c, "host=a\rhost=b\n"), CRED_ECHAR);
	/* A CRLF line end is a CR in the value too: git never sends one. */
	assert_int_equal(parse_str(&c, "protocol=https\r\n"), CRED_ECHAR);
	assert_int_equal(parse_str(&c, "\r\n"), CRED_ECHAR);
	assert_int_equal(parse_str(&c, "future\r=1\n"), CRED_ECHAR);
	assert_int_equal(parse_str(&c, "host=x\n\n\r"), CRED_OK);
	cred_clear(&c);
}

static void
test_syntax(void **state)
{
	struct credential c = { 0 };

	(void)state;
	assert_int_equal(parse_str(&c, "protocol=https\nhost\n"), CRED_ESYNTAX);
	assert_int_equal(c.lineno, 2);
	assert_int_equal(parse_str(&c, "=value\n"), CRED_ESYNTAX);
	assert_int_equal(parse_str(&c, " \n"), CRED_ESYNTAX);
	assert_int_equal(parse_str(&c, "host=a\nlast-without-equals"), CRED_ESYNTAX);
}

/* 65535 bytes with the newline pass; one more drops the request. */
static void
test_line_limit(void **state)
{
	struct credential c = { 0 };
	size_t len;
	char *p;

	(void)state;
	p = line_of("path", CRED_MAX_LINE, 1, &len);
	assert_int_equal(len, CRED_MAX_LINE);
	assert_int_equal(cred_parse(&c, p, len), CRED_OK);
	assert_int_equal(strlen(c.path), CRED_MAX_LINE - strlen("path=\n"));
	cred_clear(&c);
	free(p);

	p = line_of("path", CRED_MAX_LINE + 1, 1, &len);
	assert_int_equal(cred_parse(&c, p, len), CRED_ELONG);
	assert_null(c.path);
	free(p);

	/* Without its newline the last line is held to the same limit. */
	p = line_of("path", CRED_MAX_LINE, 0, &len);
	assert_int_equal(len, CRED_MAX_LINE - 1);
	assert_int_equal(cred_parse(&c, p, len), CRED_OK);
	cred_clear(&c);
	free(p);
	p = line_of("path", CRED_MAX_LINE + 1, 0, &len);
	assert_int_equal(cred_parse(&c, p, len), CRED_ELONG);
	free(p);

	/* An unknown key gets no pass either. */
	p = line_of("x-future", CRED_MAX_LINE + 1, 1, &len);
	assert_int_equal(cred_parse(&c, p, len), CRED_ELONG);
	free(p);
}

/* An overlong line anywhere drops what was parsed before it too. */
static void
test_long_line_drops_everything(void **state)
{
	struct credential c = { 0 };
	size_t len, n;
	char *p, *req;

	(void)state;
	p = line_of("wwwauth[]", 200 * 1024, 1, &len);
	req = malloc(len + 64);
	assert_non_null(req);
	n = (size_t)sprintf(req, "protocol=https\nhost=h\npassword=secret\n");
	memcpy(req + n, p, len);
	assert_int_equal(cred_parse(&c, req, n + len), CRED_ELONG);
	assert_int_equal(c.lineno, 4);
	assert_null(c.host);
	assert_null(c.password);
	free(req);
	free(p);
}

static void
test_request_cap(void **state)
{
	struct credential c = { 0 };
	char *p;

	(void)state;
	p = malloc(CRED_MAX_REQUEST + 1);
	assert_non_null(p);
	memset(p, '\n', CRED_MAX_REQUEST + 1);
	assert_int_equal(cred_parse(&c, p, CRED_MAX_REQUEST + 1), CRED_EBIG);
	assert_int_equal(cred_parse(&c, p, CRED_MAX_REQUEST), CRED_OK);
	free(p);
}

/* 50,000 lines of unknown keys are skipped, not stored. */
static void
test_many_lines(void **state)
{
	struct credential c = { 0 };
	char *req;
	size_t len = 0, i;

	(void)state;
	req = malloc(50000 * 8 + 64);
	assert_non_null(req);
	for (i = 0; i < 50000; i++) {
		memcpy(req + len, "x-junk=\n", 8);
		len += 8;
	}
	len += (size_t)sprintf(req + len, "host=late\n");
	assert_int_equal(cred_parse(&c, req, len), CRED_OK);
	assert_string_equal(c.host, "late");
	cred_clear(&c);
	free(req);
}

/* Binary noise must fail cleanly, never crash or half-parse. */
static void
test_binary(void **state)
{
	struct credential c = { 0 };
	unsigned char buf[4096];
	uint32_t x = 12345;
	size_t i;
	int round, r;

	(void)state;
	for (round = 0; round < 200; round++) {
		for (i = 0; i < sizeof(buf); i++) {
			x = x * 1103515245u + 12345u;
			buf[i] = (unsigned char)(x >> 16);
		}
		r = cred_parse(&c, (const char *)buf, sizeof(buf));
		assert_true(r == CRED_OK || r == CRED_ECHAR || r == CRED_ESYNTAX ||
		    r == CRED_EDUP || r == CRED_EMANY);
		if (r != CRED_OK)
			assert_null(c.host);
		cred_clear(&c);
	}
}

static void
test_reuse_after_clear(void **state)
{
	struct credential c = { 0 };

	(void)state;
	assert_int_equal(parse_str(&c, "host=a\n"), CRED_OK);
	cred_clear(&c);
	assert_int_equal(parse_str(&c, "host=b\n"), CRED_OK);
	assert_string_equal(c.host, "b");
	cred_clear(&c);
}

/* What a dropped request named, for the helper to decide whether to say why. */
static void
test_names(void **state)
{
	static const char req[] = "protocol=https\nhost=API.example:443\nwwwauth[]=x\0y\n"
	    "host=b\rc\nx=1\n\nhost=after-blank\n";
	size_t len = sizeof(req) - 1;
	char *big;
	size_t blen;

	(void)state;
	assert_int_equal(cred_names(req, len, "protocol", "https", 0), 1);
	assert_int_equal(cred_names(req, len, "protocol", "HTTPS", 0), 0);
	assert_int_equal(cred_names(req, len, "protocol", "http", 0), 0);
	assert_int_equal(cred_names(req, len, "host", "api.example:443", 1), 1);
	assert_int_equal(cred_names(req, len, "host", "api.example:443", 0), 0);
	assert_int_equal(cred_names(req, len, "host", "api.example", 1), 0);
	/* A value ends at the CR that got the request dropped; "b" alone is named. */
	assert_int_equal(cred_names(req, len, "host", "b", 0), 1);
	assert_int_equal(cred_names(req, len, "host", "b\rc", 0), 0);
	/* Nothing after the blank line, nor a key that only starts the same. */
	assert_int_equal(cred_names(req, len, "host", "after-blank", 0), 0);
	assert_int_equal(cred_names(req, len, "hos", "t=API.example:443", 1), 0);
	assert_int_equal(cred_names(req, len, "x", "1", 0), 1);
	/* The last line may be cut short (the reader gave up on it). */
	assert_int_equal(cred_names("protocol=https\nhost=h", 21, "host", "h", 0), 1);
	assert_int_equal(cred_names("protocol=https\nhost=h", 20, "host", "h", 0), 0);
	assert_int_equal(cred_names(NULL, 0, "host", "h", 0), 0);
	assert_int_equal(cred_names("host=", 5, "host", "", 0), 1);
	/* Lines of any length: this only looks, the limits were enforced by the reader. */
	big = line_of("wwwauth[]", 200000, 1, &blen);
	memcpy(big + blen, "host=h\n", 7);
	assert_int_equal(cred_names(big, blen + 7, "host", "h", 0), 1);
	free(big);
}

/* ------------------------------------------------------------------------ */
/* Reading from a descriptor. */

/* Feeds data to the reader through a pipe from a child; returns cred_read_fd()'s result. */
static int
read_through_pipe(const char *data, size_t len, int close_after, struct cred_buf *b)
{
	int fds[2], r, st;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		signal(SIGPIPE, SIG_IGN);
		(void)cred_write_all(fds[1], data, len);
		/* Keep the pipe open: the reader must stop at the blank line on its own. */
		if (!close_after)
			pause();
		_exit(0);
	}
	close(fds[1]);
	r = cred_read_fd(fds[0], b);
	close(fds[0]);
	if (!close_after)
		kill(pid, SIGTERM);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return r;
}

static void
test_read_stops_at_blank_line(void **state)
{
	static const char req[] = "protocol=https\nhost=h\n\nignored=1\n";
	struct cred_buf b = { 0 };

	(void)state;
	assert_int_equal(read_through_pipe(req, sizeof(req) - 1, 0, &b), CRED_OK);
	assert_int_equal(b.len, strlen("protocol=https\nhost=h\n\n"));
	assert_memory_equal(b.p, req, b.len);
	cred_buf_free(&b);
	assert_null(b.p);

	assert_int_equal(read_through_pipe("\n", 1, 0, &b), CRED_OK);
	assert_int_equal(b.len, 1);
	cred_buf_free(&b);
}

/* What one read(2) brought after the blank line is consumed from fd, and wiped. */
static void
test_read_drops_rest_of_chunk(void **state)
{
	static const char req[] = "protocol=https\n\nsecret=after-the-blank-line\n";
	struct cred_buf b = { 0 };
	size_t i;
	int fd;

	(void)state;
	fd = memfd_create("req", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(cred_write_all(fd, req, sizeof(req) - 1), CRED_OK);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(cred_read_fd(fd, &b), CRED_OK);
	assert_int_equal(b.len, strlen("protocol=https\n\n"));
	/* Gone from fd: a file's offset says so... */
	assert_int_equal(lseek(fd, 0, SEEK_CUR), (off_t)(sizeof(req) - 1));
	/* ...and not kept in the buffer either. */
	for (i = b.len; i < sizeof(req) - 1; i++)
		assert_int_equal(b.p[i], '\0');
	cred_buf_free(&b);
	close(fd);
}

static void
test_read_until_eof(void **state)
{
	static const char req[] = "protocol=https\nhost=h";
	struct cred_buf b = { 0 };

	(void)state;
	assert_int_equal(read_through_pipe(req, sizeof(req) - 1, 1, &b), CRED_OK);
	assert_int_equal(b.len, sizeof(req) - 1);
	cred_buf_free(&b);
	assert_int_equal(read_through_pipe("", 0, 1, &b), CRED_OK);
	assert_int_equal(b.len, 0);
	cred_buf_free(&b);
}

/* A long line is refused without waiting for the rest of it. */
static void
test_read_long_line(void **state)
{
	struct cred_buf b = { 0 };
	size_t len;
	char *p;

	(void)state;
	p = line_of("path", CRED_MAX_LINE, 1, &len);
	assert_int_equal(read_through_pipe(p, len, 1, &b), CRED_OK);
	assert_int_equal(b.len, CRED_MAX_LINE);
	cred_buf_free(&b);
	free(p);

	p = line_of("path", CRED_MAX_LINE + 1, 0, &len);
	assert_int_equal(read_through_pipe(p, len, 0, &b), CRED_ELONG);
	cred_buf_free(&b);
	free(p);

	p = line_of("path", 200 * 1024, 1, &len);
	assert_int_equal(read_through_pipe(p, len, 0, &b), CRED_ELONG);
	cred_buf_free(&b);
	free(p);
}

/*
 * The request ends where an overlong line starts, however much came in with
 * it: lines after it in the same read (a host= naming us) are not kept.
 */
static void
test_read_long_line_cut(void **state)
{
	static const char head[] = "protocol=https\nhost=evil.example\nwwwauth[]=";
	static const char tail[] = "\nhost=api.soundcloud.com\n\n";
	struct cred_buf b = { 0 };
	size_t len = sizeof(head) - 1 + 80 * 1024 + sizeof(tail) - 1, i;
	char *p = malloc(len);
	int fd;

	(void)state;
	assert_non_null(p);
	memcpy(p, head, sizeof(head) - 1);
	memset(p + sizeof(head) - 1, 'x', 80 * 1024);
	memcpy(p + len - (sizeof(tail) - 1), tail, sizeof(tail) - 1);
	/* A file: one read() brings it all, as a pipe can under load. */
	fd = memfd_create("req", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(cred_write_all(fd, p, len), CRED_OK);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(cred_read_fd(fd, &b), CRED_ELONG);
	assert_int_equal(b.len, strlen("protocol=https\nhost=evil.example\n"));
	assert_false(cred_names(b.p, b.len, "host", "api.soundcloud.com", 1));
	assert_true(cred_names(b.p, b.len, "host", "evil.example", 1));
	for (i = b.len; i < b.cap && i < len; i++)
		assert_int_equal(b.p[i], '\0');
	cred_buf_free(&b);
	close(fd);
	free(p);
}

static void
test_read_request_cap(void **state)
{
	struct cred_buf b = { 0 };
	size_t len = CRED_MAX_REQUEST + 4096, i;
	char *p;

	(void)state;
	p = malloc(len);
	assert_non_null(p);
	for (i = 0; i < len; i += 8)
		memcpy(p + i, "x-junk=\n", 8);
	assert_int_equal(read_through_pipe(p, len, 0, &b), CRED_EBIG);
	assert_true(b.len <= CRED_MAX_REQUEST + 1);
	cred_buf_free(&b);
	free(p);
}

static void
test_read_error(void **state)
{
	struct cred_buf b = { 0 };
	int fd;

	(void)state;
	/* A write-only descriptor cannot be read. */
	fd = open("/dev/null", O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(cred_read_fd(fd, &b), CRED_EIO);
	close(fd);
	cred_buf_free(&b);
}

/* ------------------------------------------------------------------------ */
/* Writing. */

static void
test_put(void **state)
{
	char buf[64];
	struct cred_out o = { buf, 0, sizeof(buf) };

	(void)state;
	assert_int_equal(cred_put(&o, "username", "u"), CRED_OK);
	assert_int_equal(cred_put(&o, "password", "a=b"), CRED_OK);
	assert_int_equal(cred_put(&o, "path", ""), CRED_OK);
	assert_int_equal(o.len, strlen("username=u\npassword=a=b\npath=\n"));
	assert_memory_equal(buf, "username=u\npassword=a=b\npath=\n", o.len);
}

static void
test_put_refuses_injection(void **state)
{
	char buf[64];
	struct cred_out o = { buf, 0, sizeof(buf) };

	(void)state;
	assert_int_equal(cred_put(&o, "password", "tok\nhost=evil"), CRED_EVALUE);
	assert_int_equal(cred_put(&o, "password", "tok\r"), CRED_EVALUE);
	assert_int_equal(cred_put(&o, "pass=word", "x"), CRED_EVALUE);
	assert_int_equal(cred_put(&o, "pass\nword", "x"), CRED_EVALUE);
	assert_int_equal(cred_put(&o, "", "x"), CRED_EVALUE);
	assert_int_equal(o.len, 0);
}

static void
test_put_space(void **state)
{
	char buf[16];
	struct cred_out o = { buf, 0, sizeof(buf) };

	(void)state;
	assert_int_equal(cred_put(&o, "a", "123456789012"), CRED_OK);   /* 15 bytes */
	assert_int_equal(cred_put(&o, "b", ""), CRED_ESPACE);
	assert_int_equal(o.len, 15);
	o.len = 0;
	assert_int_equal(cred_put(&o, "a", "1234567890123"), CRED_OK);  /* exactly 16 */
	assert_int_equal(o.len, 16);
}

static void
test_put_line_limit(void **state)
{
	struct cred_out o;
	char *big, *value;

	(void)state;
	big = malloc(2 * CRED_MAX_LINE);
	value = malloc(CRED_MAX_LINE + 1);
	assert_non_null(big);
	assert_non_null(value);
	o.p = big;
	o.len = 0;
	o.cap = 2 * CRED_MAX_LINE;
	memset(value, 'v', CRED_MAX_LINE - 3);
	value[CRED_MAX_LINE - 3] = '\0';            /* "k=" + value + "\n" = 65535 */
	assert_int_equal(cred_put(&o, "k", value), CRED_OK);
	value[CRED_MAX_LINE - 3] = 'v';
	value[CRED_MAX_LINE - 2] = '\0';
	assert_int_equal(cred_put(&o, "k", value), CRED_EVALUE);
	free(value);
	free(big);
}

/* What the writer writes, the reader reads back unchanged. */
static void
test_round_trip(void **state)
{
	char buf[256];
	struct cred_out o = { buf, 0, sizeof(buf) };
	struct credential c = { 0 };

	(void)state;
	assert_int_equal(cred_put(&o, "capability[]", "authtype"), CRED_OK);
	assert_int_equal(cred_put(&o, "username", "test-user"), CRED_OK);
	assert_int_equal(cred_put(&o, "password", "2-123-abc"), CRED_OK);
	assert_int_equal(cred_put(&o, "password_expiry_utc", "1700000000"), CRED_OK);
	assert_int_equal(cred_put(&o, "authtype", "OAuth"), CRED_OK);
	assert_int_equal(cred_put(&o, "credential", "2-123-abc"), CRED_OK);
	assert_int_equal(cred_parse(&c, buf, o.len), CRED_OK);
	assert_true(cred_has_capability(&c, "authtype"));
	assert_string_equal(c.username, "test-user");
	assert_string_equal(c.password, "2-123-abc");
	assert_string_equal(c.password_expiry_utc, "1700000000");
	assert_string_equal(c.authtype, "OAuth");
	assert_string_equal(c.credential, "2-123-abc");
	cred_clear(&c);
}

static void
test_write_all(void **state)
{
	char got[32];
	int fds[2];

	(void)state;
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(cred_write_all(fds[1], "password=x\n", 11), CRED_OK);
	close(fds[1]);
	assert_int_equal(read(fds[0], got, sizeof(got)), 11);
	assert_memory_equal(got, "password=x\n", 11);
	close(fds[0]);

	/* A reader that went away is an error, not a crash. */
	assert_int_equal(pipe(fds), 0);
	close(fds[0]);
	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(cred_write_all(fds[1], "x", 1), CRED_EIO);
	assert_int_equal(errno, EPIPE);
	signal(SIGPIPE, SIG_DFL);
	close(fds[1]);
}

static void
test_strerror(void **state)
{
	int e;

	(void)state;
	for (e = CRED_OK; e >= CRED_ESPACE; e--)
		assert_string_not_equal(cred_strerror(e), "unknown error");
	assert_string_equal(cred_strerror(-100), "unknown error");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_all_single_keys),
		cmocka_unit_test(test_empty_request),
		cmocka_unit_test(test_value_keeps_equals_and_spaces),
		cmocka_unit_test(test_eof_without_newline),
		cmocka_unit_test(test_blank_line_stops),
		cmocka_unit_test(test_unknown_keys_ignored),
		cmocka_unit_test(test_lists_accumulate),
		cmocka_unit_test(test_list_empty_value_resets),
		cmocka_unit_test(test_list_cap),
		cmocka_unit_test(test_duplicate_single_keys_rejected),
		cmocka_unit_test(test_nul_rejected),
		cmocka_unit_test(test_cr_rejected),
		cmocka_unit_test(test_syntax),
		cmocka_unit_test(test_line_limit),
		cmocka_unit_test(test_long_line_drops_everything),
		cmocka_unit_test(test_request_cap),
		cmocka_unit_test(test_many_lines),
		cmocka_unit_test(test_binary),
		cmocka_unit_test(test_reuse_after_clear),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_read_stops_at_blank_line),
		cmocka_unit_test(test_read_drops_rest_of_chunk),
		cmocka_unit_test(test_read_until_eof),
		cmocka_unit_test(test_read_long_line),
		cmocka_unit_test(test_read_long_line_cut),
		cmocka_unit_test(test_read_request_cap),
		cmocka_unit_test(test_read_error),
		cmocka_unit_test(test_put),
		cmocka_unit_test(test_put_refuses_injection),
		cmocka_unit_test(test_put_space),
		cmocka_unit_test(test_put_line_limit),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_write_all),
		cmocka_unit_test(test_strerror),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
