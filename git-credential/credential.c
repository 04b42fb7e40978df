/*
 * credential.c - reads the request git sends a credential helper and writes
 * the answer, following git-credential(1) strictly.
 *
 * The reader is the helper's attack surface: anything that can write to its
 * stdin (a hostile URL smuggled through a tool, a fuzzer) ends up here, and a
 * mistake means handing the token to the wrong host.  So it is strict where
 * git is lenient: a line over the limit, a NUL or CR anywhere, a line without
 * '=' or a second value for a single-valued key drops the whole request.
 * No libscauth here (see credential.h).
 */
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "credential.h"

#define READ_CHUNK_MIN 4096

static void
wipe_free(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

static void
list_clear(struct cred_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		wipe_free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

void
cred_clear(struct credential *c)
{
	wipe_free(c->protocol);
	wipe_free(c->host);
	wipe_free(c->path);
	wipe_free(c->username);
	wipe_free(c->password);
	wipe_free(c->password_expiry_utc);
	wipe_free(c->oauth_refresh_token);
	wipe_free(c->authtype);
	wipe_free(c->credential);
	list_clear(&c->capability);
	list_clear(&c->wwwauth);
	list_clear(&c->state);
	memset(c, 0, sizeof(*c));
}

/*
 * The keys we understand.  Everything else is ignored, as git-credential(1)
 * asks, so that a newer git can add attributes.
 */
static const struct cred_key {
	const char *name;
	size_t off;         /* of a char * or a struct cred_list in struct credential */
	int list;
} cred_keys[] = {
	{ "protocol", offsetof(struct credential, protocol), 0 },
	{ "host", offsetof(struct credential, host), 0 },
	{ "path", offsetof(struct credential, path), 0 },
	{ "username", offsetof(struct credential, username), 0 },
	{ "password", offsetof(struct credential, password), 0 },
	{ "password_expiry_utc", offsetof(struct credential, password_expiry_utc), 0 },
	{ "oauth_refresh_token", offsetof(struct credential, oauth_refresh_token), 0 },
	{ "authtype", offsetof(struct credential, authtype), 0 },
	{ "credential", offsetof(struct credential, credential), 0 },
	{ "capability[]", offsetof(struct credential, capability), 1 },
	{ "wwwauth[]", offsetof(struct credential, wwwauth), 1 },
	{ "state[]", offsetof(struct credential, state), 1 },
};

static const struct cred_key *
find_key(const char *key, size_t n)
{
	size_t i;

	for (i = 0; i < sizeof(cred_keys) / sizeof(cred_keys[0]); i++) {
		if (strlen(cred_keys[i].name) == n && memcmp(cred_keys[i].name, key, n) == 0)
			return &cred_keys[i];
	}
	return NULL;
}

/* strndup() without reading past n: the request buffer has no terminating NUL. */
static char *
dupmem(const char *p, size_t n)
{
	char *s;

	if ((s = malloc(n + 1)) == NULL)
		return NULL;
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

static int
list_add(struct cred_list *l, const char *value, size_t n)
{
	char **v;
	char *copy;

	/* git-credential(1): an empty value clears the list. */
	if (n == 0) {
		list_clear(l);
		return CRED_OK;
	}
	if (l->n >= CRED_MAX_VALUES)
		return CRED_EMANY;
	if ((copy = dupmem(value, n)) == NULL)
		return CRED_ENOMEM;
	if ((v = realloc(l->v, (l->n + 1) * sizeof(*v))) == NULL) {
		wipe_free(copy);
		return CRED_ENOMEM;
	}
	v[l->n++] = copy;
	l->v = v;
	return CRED_OK;
}

static int
parse_line(struct credential *c, const char *line, size_t n)
{
	const struct cred_key *k;
	const char *eq;
	char **field;

	/*
	 * A NUL would cut a value short where C reads it and not where git
	 * wrote it; a CR is what CVE-2020-5260 and CVE-2024-52006 smuggled
	 * through tools that treat it as a line end.  git never sends either.
	 */
	if (memchr(line, '\0', n) != NULL || memchr(line, '\r', n) != NULL)
		return CRED_ECHAR;
	if ((eq = memchr(line, '=', n)) == NULL || eq == line)
		return CRED_ESYNTAX;
	if ((k = find_key(line, (size_t)(eq - line))) == NULL)
		return CRED_OK;
	eq++;
	n -= (size_t)(eq - line);
	if (k->list)
		return list_add((struct cred_list *)((char *)c + k->off), eq, n);

	/*
	 * git's own reader lets the last value win.  We refuse instead: git
	 * never repeats a key, so a second host= (or protocol=, password=...)
	 * means someone injected lines into the request, and "last wins" is
	 * exactly what such an injection counts on to redirect the token.
	 */
	field = (char **)((char *)c + k->off);
	if (*field != NULL)
		return CRED_EDUP;
	if ((*field = dupmem(eq, n)) == NULL)
		return CRED_ENOMEM;
	return CRED_OK;
}

int
cred_parse(struct credential *c, const char *buf, size_t len)
{
	const char *line, *nl;
	size_t pos = 0, n;
	unsigned lineno = 0;
	int r = CRED_OK;

	if (len > CRED_MAX_REQUEST) {
		r = CRED_EBIG;
		goto out;
	}
	while (pos < len) {
		line = buf + pos;
		nl = memchr(line, '\n', len - pos);
		n = nl != NULL ? (size_t)(nl - line) : len - pos;
		lineno++;
		/* The limit counts the newline, also for a last line without one. */
		if (n + 1 > CRED_MAX_LINE) {
			r = CRED_ELONG;
			goto out;
		}
		if (n == 0)
			break;
		if ((r = parse_line(c, line, n)) < 0)
			goto out;
		pos += n + (nl != NULL);
	}
 out:
	if (r < 0) {
		cred_clear(c);
		c->lineno = lineno;
	}
	return r;
}

int
cred_names(const char *buf, size_t len, const char *key, const char *value, int nocase)
{
	size_t klen = strlen(key), vlen = strlen(value), pos = 0, n, vn;
	const char *line, *nl, *v;

	while (pos < len) {
		line = buf + pos;
		nl = memchr(line, '\n', len - pos);
		n = nl != NULL ? (size_t)(nl - line) : len - pos;
		if (n == 0)
			break;
		if (n > klen && memcmp(line, key, klen) == 0 && line[klen] == '=') {
			v = line + klen + 1;
			for (vn = 0; vn < n - klen - 1 && v[vn] != '\0' && v[vn] != '\r'; vn++)
				;
			if (vn == vlen && (nocase ? strncasecmp(v, value, vn) :
			    strncmp(v, value, vn)) == 0)
				return 1;
		}
		pos += n + (nl != NULL);
	}
	return 0;
}

int
cred_has_capability(const struct credential *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->capability.n; i++) {
		if (strcmp(c->capability.v[i], name) == 0)
			return 1;
	}
	return 0;
}

void
cred_buf_free(struct cred_buf *b)
{
	if (b->p != NULL) {
		explicit_bzero(b->p, b->cap);
		free(b->p);
	}
	b->p = NULL;
	b->len = b->cap = 0;
}

/* Grows without realloc(), which could leave a copy of a secret behind unwiped. */
static int
buf_grow(struct cred_buf *b)
{
	size_t ncap;
	char *np;

	ncap = b->cap == 0 ? READ_CHUNK_MIN : b->cap * 2;
	if (ncap > CRED_MAX_REQUEST + 1)
		ncap = CRED_MAX_REQUEST + 1;
	if ((np = malloc(ncap)) == NULL)
		return CRED_ENOMEM;
	if (b->p != NULL) {
		memcpy(np, b->p, b->len);
		explicit_bzero(b->p, b->cap);
		free(b->p);
	}
	b->p = np;
	b->cap = ncap;
	return CRED_OK;
}

/*
 * An overlong line ends the request where it starts: what one read() happened
 * to bring in after it is dropped, so that what the caller sees of a dropped
 * request does not depend on how the pipe was chunked.
 */
static int
cut_long(struct cred_buf *b, size_t linestart)
{
	explicit_bzero(b->p + linestart, b->len - linestart);
	b->len = linestart;
	return CRED_ELONG;
}

int
cred_read_fd(int fd, struct cred_buf *b)
{
	struct pollfd pfd;
	size_t linestart = 0, i;
	const char *nl;
	ssize_t got;
	int r;

	for (;;) {
		if (b->len == b->cap && (r = buf_grow(b)) < 0)
			return r;
		got = read(fd, b->p + b->len, b->cap - b->len);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				pfd.fd = fd;
				pfd.events = POLLIN;
				if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
					return CRED_EIO;
				continue;
			}
			return CRED_EIO;
		}
		if (got == 0)
			return CRED_OK;
		i = b->len;
		b->len += (size_t)got;
		/* Stop at the blank line: a person typing to us sends no EOF. */
		while (i < b->len && (nl = memchr(b->p + i, '\n', b->len - i)) != NULL) {
			i = (size_t)(nl - b->p);
			if (i - linestart + 1 > CRED_MAX_LINE)
				return cut_long(b, linestart);
			if (i == linestart) {
				explicit_bzero(b->p + i + 1, b->len - i - 1);
				b->len = i + 1;
				return CRED_OK;
			}
			linestart = ++i;
		}
		/* Give up on an overlong line at once rather than reading it all. */
		if (b->len - linestart + 1 > CRED_MAX_LINE)
			return cut_long(b, linestart);
		if (b->len > CRED_MAX_REQUEST)
			return CRED_EBIG;
	}
}

int
cred_put(struct cred_out *o, const char *key, const char *value)
{
	size_t klen, vlen;

	klen = strlen(key);
	vlen = strlen(value);
	if (klen == 0 || strpbrk(key, "=\r\n") != NULL || strpbrk(value, "\r\n") != NULL)
		return CRED_EVALUE;
	if (klen + vlen + 2 > CRED_MAX_LINE)
		return CRED_EVALUE;
	if (o->cap - o->len < klen + vlen + 2)
		return CRED_ESPACE;
	memcpy(o->p + o->len, key, klen);
	o->p[o->len + klen] = '=';
	memcpy(o->p + o->len + klen + 1, value, vlen);
	o->p[o->len + klen + 1 + vlen] = '\n';
	o->len += klen + vlen + 2;
	return CRED_OK;
}

int
cred_write_all(int fd, const char *buf, size_t len)
{
	struct pollfd pfd;
	ssize_t n;

	while (len > 0) {
		n = write(fd, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				pfd.fd = fd;
				pfd.events = POLLOUT;
				if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
					return CRED_EIO;
				continue;
			}
			return CRED_EIO;
		}
		buf += n;
		len -= (size_t)n;
	}
	return CRED_OK;
}

const char *
cred_strerror(int err)
{
	switch (err) {
	case CRED_OK:
		return "success";
	case CRED_ENOMEM:
		return "out of memory";
	case CRED_ELONG:
		return "line longer than 65535 bytes";
	case CRED_EBIG:
		return "request too large";
	case CRED_ECHAR:
		return "NUL or CR in a line";
	case CRED_ESYNTAX:
		return "line is not key=value";
	case CRED_EDUP:
		return "attribute given twice";
	case CRED_EMANY:
		return "too many values for one attribute";
	case CRED_EIO:
		return "read or write failed";
	case CRED_EVALUE:
		return "value cannot be sent";
	case CRED_ESPACE:
		return "answer too large";
	}
	return "unknown error";
}
