/*
 * request.c - the CGI request (RFC 3875), read strictly: a method we serve,
 * a path and an address of plain characters, a query or form body within
 * its cap, every parameter well percent-encoded and none twice.  What the
 * relay cannot read exactly is refused with a status that says why, never
 * guessed at.  Pure and bounded: the fuzz target (tests/fuzz/fuzz_relay.c)
 * drives it with made-up variables and bodies.
 */
#include "relay.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>


static int
refuse(struct relay_refusal *no, int status, const char *why)
{
	no->status = status;
	no->why = why;
	return -1;
}

/* Printable ASCII without blanks: what a path or an address may hold. */
static int
plain(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
	return 1;
}

static const char *
var(relay_getenv_fn *env, void *arg, const char *name)
{
	const char *v = env(arg, name);

	return v != NULL ? v : "";
}

int
relay_params_check(const char *q, size_t n)
{
	struct sbuf names[RELAY_PARAMS_MAX], value = SBUF_INIT(RELAY_QUERY_MAX);
	size_t i = 0, end, eq, count = 0, k;
	int r = SCAUTH_EINVAL;

	for (k = 0; k < RELAY_PARAMS_MAX; k++)
		names[k] = (struct sbuf)SBUF_INIT(RELAY_QUERY_MAX);
	if (n == 0) {
		r = 0;
		goto out;
	}
	if (n > RELAY_QUERY_MAX)
		goto out;
	while (i <= n) {
		for (end = i; end < n && q[end] != '&'; end++)
			;
		for (eq = i; eq < end && q[eq] != '='; eq++)
			;
		/* An empty name (also "&&" or a trailing '&') is nobody's parameter. */
		if (eq == i || count == RELAY_PARAMS_MAX)
			goto out;
		if (url_unescape(&names[count], q + i, eq - i, 1) != 0 || names[count].len == 0)
			goto out;
		sbuf_reset(&value);
		if (eq < end && url_unescape(&value, q + eq + 1, end - eq - 1, 1) != 0)
			goto out;
		/* Two values for one name: which one is meant?  Neither. */
		for (k = 0; k < count; k++)
			if (strcmp(sbuf_str(&names[k]), sbuf_str(&names[count])) == 0)
				goto out;
		count++;
		i = end + 1;
	}
	r = 0;
 out:
	for (k = 0; k < RELAY_PARAMS_MAX; k++)
		sbuf_free(&names[k]);
	sbuf_free(&value);
	return r;
}

int
relay_code_normalise(const char *typed, char out[RELAY_CODE_LEN + 1])
{
	size_t n = 0;
	int c;

	out[0] = '\0';
	if (strlen(typed) > RELAY_CODE_RAW_MAX)
		return SCAUTH_EINVAL;
	for (; *typed != '\0'; typed++) {
		/* As shown (XXXX-XXXX), or as typed on a phone that adds blanks. */
		if (*typed == '-' || *typed == ' ')
			continue;
		c = toupper((unsigned char)*typed);
		/* Kiosks show only the letter of these look-alikes: a person may type either. */
		c = c == '2' ? 'Z' : c == '5' ? 'S' : c == '8' ? 'B' : c;
		if (strchr(PAIR_CODE_ALPHABET, c) == NULL || n == RELAY_CODE_LEN)
			goto bad;
		out[n++] = (char)c;
	}
	if (n != RELAY_CODE_LEN)
		goto bad;
	out[n] = '\0';
	return 0;
 bad:
	scauth_wipe(out, RELAY_CODE_LEN + 1);
	return SCAUTH_EINVAL;
}

/* The code of a query or form: 0 with req->code set or left NULL (none), or the refusal. */
static int
take_code(struct relay_req *req, const char *q, size_t n, int required,
    struct relay_refusal *no)
{
	struct sbuf v = SBUF_INIT(RELAY_QUERY_MAX);
	char code[RELAY_CODE_LEN + 1];
	int r;

	if (relay_params_check(q, n) != 0) {
		r = refuse(no, 400, "The request is malformed: a parameter is badly encoded, "
		    "repeated, or one too many.");
		goto out;
	}
	if ((r = query_get(q, n, "code", &v)) < 0) {
		r = refuse(no, r == SCAUTH_ENOMEM ? 500 : 400, "The request is malformed.");
		goto out;
	}
	if (r == 0) {
		r = required ? refuse(no, 400, "Enter the code that the kiosk shows.") : 0;
		goto out;
	}
	if (relay_code_normalise(sbuf_str(&v), code) != 0) {
		r = refuse(no, 400, "That is not a kiosk code: a code has 8 letters and digits, "
		    "like KQ7M-3XHB.");
		goto out;
	}
	if ((req->code = sstrdup(code)) == NULL) {
		r = refuse(no, 500, "Out of memory.");
		goto out;
	}
	r = 0;
 out:
	scauth_wipe(code, sizeof(code));
	sbuf_free(&v);
	return r;
}

/* SoundCloud's redirect: a state, and a code or an error. */
static int
take_callback(struct relay_req *req, const char *q, size_t n, struct relay_refusal *no)
{
	if (relay_params_check(q, n) != 0 || callback_parse_query(q, n, &req->cb) != 0)
		return refuse(no, 400, "The redirect is malformed: a parameter is badly encoded, "
		    "repeated, or too long.");
	if (req->cb.state == NULL || (req->cb.code == NULL) == (req->cb.error == NULL)) {
		callback_free(&req->cb);
		return refuse(no, 400, "The redirect carries no state, or not exactly one of a "
		    "code and an error.");
	}
	return 0;
}

/* SCRIPT_NAME and PATH_INFO: the path as requested. */
static int
take_path(relay_getenv_fn *env, void *arg, struct relay_req *req, struct relay_refusal *no)
{
	const char *script = var(env, arg, "SCRIPT_NAME"), *info = var(env, arg, "PATH_INFO");
	size_t sn = strlen(script), in = strlen(info);

	if (sn + in == 0 || sn + in > RELAY_PATH_MAX)
		return refuse(no, 400, "The address is empty or too long.");
	if (!plain(script, sn) || !plain(info, in) || memchr(script, '?', sn) != NULL ||
	    memchr(info, '?', in) != NULL)
		return refuse(no, 400, "The address holds characters the relay does not serve.");
	memcpy(req->path, script, sn);
	memcpy(req->path + sn, info, in);
	req->path[sn + in] = '\0';
	/*
	 * The path is the form's action: "//host" or "/\host" (a browser reads
	 * '\' as '/') would post the code to another host; the refusal shows
	 * no form.
	 */
	if (strchr(req->path, '\\') != NULL || strstr(req->path, "//") != NULL) {
		req->path[0] = '\0';
		return refuse(no, 400, "The address holds characters the relay does not serve.");
	}
	return 0;
}

/*
 * One host commonly holds a whole IPv6 /64 (SLAAC, privacy addresses): the
 * throttle counts that, or a guesser would have 2^64 addresses to guess
 * from.  An IPv4 address counts as it is (a mapped one too).
 */
int
relay_addr_normalise(const char *addr, char out[RELAY_ADDR_MAX + 1])
{
	struct in_addr v4;
	struct in6_addr v6;
	char buf[INET6_ADDRSTRLEN];

	if (inet_pton(AF_INET, addr, &v4) == 1)
		return inet_ntop(AF_INET, &v4, out, RELAY_ADDR_MAX + 1) != NULL ? 0 : -1;
	if (inet_pton(AF_INET6, addr, &v6) != 1)
		return -1;
	if (IN6_IS_ADDR_V4MAPPED(&v6)) {
		memcpy(&v4, v6.s6_addr + 12, sizeof(v4));
		return inet_ntop(AF_INET, &v4, out, RELAY_ADDR_MAX + 1) != NULL ? 0 : -1;
	}
	memset(v6.s6_addr + 8, 0, 8);
	if (inet_ntop(AF_INET6, &v6, buf, sizeof(buf)) == NULL)
		return -1;
	return snprintf(out, RELAY_ADDR_MAX + 1, "%s/64", buf) < RELAY_ADDR_MAX + 1 ? 0 : -1;
}

int
relay_req_parse(relay_getenv_fn *env, void *arg, const char *callback_path,
    struct relay_req *out, struct relay_refusal *no)
{
	const char *method = var(env, arg, "REQUEST_METHOD"), *addr, *q;
	size_t n;
	int r;

	memset(out, 0, sizeof(*out));
	no->status = 0;
	no->why = NULL;
	if ((r = take_path(env, arg, out, no)) != 0)
		return r;
	out->kind = strcmp(out->path, callback_path) == 0 ? REQ_CALLBACK : REQ_FORM;
	if (strcmp(method, "GET") == 0)
		out->method = METHOD_GET;
	else if (strcmp(method, "POST") == 0 && out->kind == REQ_FORM)
		out->method = METHOD_POST;
	else
		return refuse(no, 405, "The relay does not serve this method here.");
	/* Set by the web server: the throttle counts wrong codes by it. */
	addr = var(env, arg, "REMOTE_ADDR");
	n = strlen(addr);
	if (n == 0 || n > RELAY_ADDR_MAX || !plain(addr, n) ||
	    strspn(addr, "0123456789abcdefABCDEF.:") != n ||
	    relay_addr_normalise(addr, out->addr) != 0)
		return refuse(no, 500, "The web server did not say who is asking (REMOTE_ADDR).");
	q = var(env, arg, "QUERY_STRING");
	if ((n = strlen(q)) > RELAY_QUERY_MAX)
		return refuse(no, 414, "The address is too long.");
	if (out->method == METHOD_POST)
		return n == 0 ? 0 : refuse(no, 400, "A form is sent in its body, not in the address.");
	if (out->kind == REQ_CALLBACK)
		return take_callback(out, q, n, no);
	return take_code(out, q, n, 0, no);
}

int
relay_req_body_len(relay_getenv_fn *env, void *arg, size_t *len, struct relay_refusal *no)
{
	static const char form[] = "application/x-www-form-urlencoded";
	const char *type = var(env, arg, "CONTENT_TYPE"), *cl = var(env, arg, "CONTENT_LENGTH");
	size_t i;

	*len = 0;
	if (strncasecmp(type, form, sizeof(form) - 1) != 0 ||
	    (type[sizeof(form) - 1] != '\0' && type[sizeof(form) - 1] != ';' &&
	    type[sizeof(form) - 1] != ' '))
		return refuse(no, 415, "The relay takes a form (application/x-www-form-urlencoded).");
	if (*cl == '\0')
		return refuse(no, 411, "The form came without its length.");
	for (i = 0; cl[i] != '\0'; i++) {
		if (!isdigit((unsigned char)cl[i]))
			return refuse(no, 400, "The form's length is malformed.");
		if (i == 6 || (*len = *len * 10 + (size_t)(cl[i] - '0')) > RELAY_BODY_MAX)
			return refuse(no, 413, "The form is too large.");
	}
	return 0;
}

int
relay_req_body(struct relay_req *req, const char *body, size_t n, struct relay_refusal *no)
{
	if (n > RELAY_BODY_MAX || memchr(body, '\0', n) != NULL)
		return refuse(no, 400, "The form is malformed.");
	return take_code(req, body, n, 1, no);
}

void
relay_req_free(struct relay_req *req)
{
	sfree(req->code);
	req->code = NULL;
	callback_free(&req->cb);
}
