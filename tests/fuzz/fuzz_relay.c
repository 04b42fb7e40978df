/*
 * fuzz_relay.c - libFuzzer target over the relay's request parsing
 * (relay/request.c) and its config (relay/conf.c): what any phone, and any
 * web server's idea of CGI, may hand soundcloud-auth-relay.  Beyond memory
 * safety it checks what main.c relies on: a refusal has a status and a
 * sentence, an accepted code is 8 characters of the alphabet, an accepted
 * callback has a state and exactly one of a code and an error, the address
 * the throttle counts is an IPv4 address or an IPv6 /64 (the last 64 bits 0).
 *
 * The first byte picks what the rest is:
 *   0  a query string or form body: relay_params_check, and the code read
 *      from it as the form does
 *   1  CGI variables, "NAME=VALUE" lines up to a blank line, then a body
 *   2  a config file
 *
 *   tests/fuzz/run 60 relay
 */
#include "relay.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define VARS_MAX 16

struct vars {
	char *name[VARS_MAX];
	char *value[VARS_MAX];
	size_t n;
};

static const char *
vars_get(void *arg, const char *name)
{
	struct vars *v = arg;
	size_t i;

	for (i = 0; i < v->n; i++)
		if (strcmp(v->name[i], name) == 0)
			return v->value[i];
	return NULL;
}

/* n bytes as a string: strndup() may look past them for a NUL (and ASan says so). */
static char *
copy(const char *p, size_t n)
{
	char *s;

	if ((s = malloc(n + 1)) == NULL)
		abort();
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

/* Splits "NAME=VALUE\n" lines (NUL-free: a variable cannot hold one) up to a blank line. */
static size_t
vars_parse(const char *p, size_t n, struct vars *v)
{
	const char *nl, *eq, *start = p, *end = p + n;

	memset(v, 0, sizeof(*v));
	while (p < end && v->n < VARS_MAX) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		if (nl == p) {
			p++;
			break;
		}
		if ((eq = memchr(p, '=', (size_t)(nl - p))) != NULL &&
		    memchr(p, '\0', (size_t)(nl - p)) == NULL) {
			v->name[v->n] = copy(p, (size_t)(eq - p));
			v->value[v->n] = copy(eq + 1, (size_t)(nl - eq - 1));
			v->n++;
		}
		p = nl < end ? nl + 1 : end;
	}
	return (size_t)(p - start);
}

static void
vars_free(struct vars *v)
{
	size_t i;

	for (i = 0; i < v->n; i++) {
		free(v->name[i]);
		free(v->value[i]);
	}
}

static void
check_refusal(const struct relay_refusal *no)
{
	if (no->why == NULL || no->status < 400 || no->status > 599)
		abort();
}

static void
check_code(const char *code)
{
	if (code == NULL)
		return;
	if (strlen(code) != RELAY_CODE_LEN ||
	    strspn(code, "23456789BCDFGHJKLMNPQRSTVWXZ") != RELAY_CODE_LEN)
		abort();
}

/* An IPv4 address, or an IPv6 /64 prefix: "PREFIX/64" with the interface's 64 bits 0. */
static void
check_addr(const char *addr)
{
	struct in_addr v4;
	struct in6_addr v6;
	char buf[RELAY_ADDR_MAX + 1];
	size_t n = strlen(addr);
	int i;

	if (inet_pton(AF_INET, addr, &v4) == 1)
		return;
	if (n < 4 || n > RELAY_ADDR_MAX || strcmp(addr + n - 3, "/64") != 0)
		abort();
	memcpy(buf, addr, n - 3);
	buf[n - 3] = '\0';
	if (inet_pton(AF_INET6, buf, &v6) != 1 || IN6_IS_ADDR_V4MAPPED(&v6))
		abort();
	for (i = 8; i < 16; i++)
		if (v6.s6_addr[i] != 0)
			abort();
}

static void
fuzz_request(const char *p, size_t n)
{
	struct relay_req req;
	struct relay_refusal no;
	struct vars v;
	size_t used, len;

	used = vars_parse(p, n, &v);
	if (relay_req_parse(vars_get, &v, "/kiosk/callback", &req, &no) != 0) {
		check_refusal(&no);
		goto out;
	}
	check_addr(req.addr);
	if (req.kind == REQ_CALLBACK && (req.cb.state == NULL ||
	    (req.cb.code == NULL) == (req.cb.error == NULL) || req.code != NULL))
		abort();
	if (req.method == METHOD_POST) {
		if (relay_req_body_len(vars_get, &v, &len, &no) != 0) {
			check_refusal(&no);
			goto out;
		}
		if (len > RELAY_BODY_MAX)
			abort();
		if (len > n - used)
			len = n - used;
		if (relay_req_body(&req, p + used, len, &no) != 0)
			check_refusal(&no);
		else if (req.code == NULL)
			abort();
	}
	check_code(req.code);
 out:
	relay_req_free(&req);
	vars_free(&v);
}

static void
fuzz_params(const char *p, size_t n)
{
	char code[RELAY_CODE_LEN + 1], *s;

	(void)relay_params_check(p, n);
	s = copy(p, n);
	if (relay_code_normalise(s, code) == 0)
		check_code(code);
	free(s);
}

static void
fuzz_conf(const char *p, size_t n)
{
	struct relay_conf c;
	char err[256];

	if (relay_conf_parse(p, n, &c, err, sizeof(err)) != 0) {
		if (err[0] == '\0')
			abort();
		return;
	}
	if (c.postgres == NULL || c.client_id == NULL || c.callback_path == NULL ||
	    c.authorize_url == NULL || c.scope == NULL || c.callback_path[0] != '/')
		abort();
	relay_conf_free(&c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data + 1;

	if (size == 0)
		return 0;
	switch (data[0]) {
	case 0: fuzz_params(p, size - 1); break;
	case 1: fuzz_request(p, size - 1); break;
	case 2: fuzz_conf(p, size - 1); break;
	default: break;
	}
	return 0;
}
