/*
 * encode.c - base64, percent-encoding and query strings.
 *
 * These run over secrets (the client secret in a Basic header, codes in a
 * callback), so results go into wiped memory, and over untrusted input (the
 * callback query), so decoding is strict: a bad escape or an encoded NUL is
 * an error rather than something to guess about.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

static const char b64std[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *
b64_encode(const void *in, size_t n, int url)
{
	const unsigned char *s = in;
	const char *alpha = url ? b64url : b64std;
	size_t i, o = 0;
	char *out;

	if (n > (SIZE_MAX - 1) / 4 * 3 - 3)
		return NULL;
	if ((out = malloc((n + 2) / 3 * 4 + 1)) == NULL)
		return NULL;
	for (i = 0; i + 2 < n; i += 3) {
		out[o++] = alpha[s[i] >> 2];
		out[o++] = alpha[((s[i] & 3) << 4) | (s[i + 1] >> 4)];
		out[o++] = alpha[((s[i + 1] & 15) << 2) | (s[i + 2] >> 6)];
		out[o++] = alpha[s[i + 2] & 63];
	}
	if (i < n) {
		out[o++] = alpha[s[i] >> 2];
		if (i + 1 < n) {
			out[o++] = alpha[((s[i] & 3) << 4) | (s[i + 1] >> 4)];
			out[o++] = alpha[(s[i + 1] & 15) << 2];
		} else
			out[o++] = alpha[(s[i] & 3) << 4];
		/* RFC 7636 and the base64url we send never carry padding. */
		if (!url) {
			while (o % 4 != 0)
				out[o++] = '=';
		}
	}
	out[o] = '\0';
	return out;
}

/* RFC 3986 unreserved characters: never escaped. */
static int
unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
}

int
url_escape(struct sbuf *out, const char *s, int form)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;
	char esc[3];
	int r;

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (unreserved(*p))
			r = sbuf_addch(out, (char)*p);
		else if (form && *p == ' ')
			r = sbuf_addch(out, '+');
		else {
			esc[0] = '%';
			esc[1] = hex[*p >> 4];
			esc[2] = hex[*p & 15];
			r = sbuf_add(out, esc, 3);
		}
		if (r != 0)
			return r;
	}
	return SCAUTH_OK;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
url_unescape(struct sbuf *out, const char *s, size_t n, int form)
{
	size_t i;
	int hi, lo, r;
	char c;

	for (i = 0; i < n; i++) {
		c = s[i];
		if (c == '\0')
			return SCAUTH_EINVAL;
		if (c == '%') {
			if (n - i < 3)
				return SCAUTH_EINVAL;
			if ((hi = hexval(s[i + 1])) < 0 || (lo = hexval(s[i + 2])) < 0)
				return SCAUTH_EINVAL;
			c = (char)(hi << 4 | lo);
			if (c == '\0')
				return SCAUTH_EINVAL;
			i += 2;
		} else if (form && c == '+')
			c = ' ';
		if ((r = sbuf_addch(out, c)) != 0)
			return r;
	}
	return SCAUTH_OK;
}

int
query_get(const char *query, size_t n, const char *key, struct sbuf *out)
{
	size_t klen = strlen(key), i = 0, end, eq;
	struct sbuf name = SBUF_INIT(256);
	int found = 0, r = SCAUTH_OK;

	sbuf_reset(out);
	while (i < n) {
		for (end = i; end < n && query[end] != '&'; end++)
			;
		for (eq = i; eq < end && query[eq] != '='; eq++)
			;
		/* Names are compared decoded: "st%61te" is "state". */
		sbuf_reset(&name);
		if ((r = url_unescape(&name, query + i, eq - i, 1)) != 0)
			goto out;
		if (name.len == klen && memcmp(sbuf_str(&name), key, klen) == 0) {
			if (found) {
				/* Two values for one key: which one is real? Refuse. */
				r = SCAUTH_EINVAL;
				goto out;
			}
			found = 1;
			if (eq < end &&
			    (r = url_unescape(out, query + eq + 1, end - eq - 1, 1)) != 0)
				goto out;
		}
		i = end + 1;
	}
	r = found;
 out:
	sbuf_free(&name);
	if (r < 0)
		sbuf_reset(out);
	return r;
}
