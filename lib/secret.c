/*
 * secret.c - buffers and strings that may hold secrets.
 *
 * Tokens, the client secret, the PKCE verifier and authorization codes only
 * ever live in memory from here: every growth copies and wipes the old block,
 * and every reset or free wipes what was written, so that a secret does not
 * outlive its use in freed heap memory (or in a core dump taken later).
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
scauth_wipe(void *p, size_t n)
{
	if (p != NULL && n > 0)
		explicit_bzero(p, n);
}

static size_t
sbuf_max(const struct sbuf *b)
{
	return b->max ? b->max : MAX_API_RESPONSE;
}

/* Makes room for n more bytes plus a NUL. */
static int
sbuf_reserve(struct sbuf *b, size_t n)
{
	size_t need, cap;
	char *p;

	if (n > sbuf_max(b) - b->len)
		return SCAUTH_EPROTO;
	need = b->len + n + 1;
	if (need <= b->cap)
		return SCAUTH_OK;
	cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap *= 2;
	/* Not realloc(): the old block must be wiped before it is freed. */
	if ((p = malloc(cap)) == NULL)
		return SCAUTH_ENOMEM;
	if (b->p != NULL) {
		memcpy(p, b->p, b->len + 1);
		scauth_wipe(b->p, b->cap);
		free(b->p);
	} else
		p[0] = '\0';
	b->p = p;
	b->cap = cap;
	return SCAUTH_OK;
}

int
sbuf_add(struct sbuf *b, const void *data, size_t n)
{
	int r;

	if ((r = sbuf_reserve(b, n)) != 0)
		return r;
	if (n > 0)
		memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return SCAUTH_OK;
}

int
sbuf_addstr(struct sbuf *b, const char *s)
{
	return sbuf_add(b, s, strlen(s));
}

int
sbuf_addch(struct sbuf *b, char c)
{
	return sbuf_add(b, &c, 1);
}

int
sbuf_addf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n, r;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return SCAUTH_EINTERNAL;
	if ((r = sbuf_reserve(b, (size_t)n)) != 0)
		return r;
	/* Formatted straight into the buffer: no stack copy of a secret. */
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return SCAUTH_OK;
}

const char *
sbuf_str(const struct sbuf *b)
{
	return b->p != NULL ? b->p : "";
}

void
sbuf_reset(struct sbuf *b)
{
	if (b->p != NULL)
		scauth_wipe(b->p, b->cap);
	b->len = 0;
}

void
sbuf_free(struct sbuf *b)
{
	if (b->p != NULL) {
		scauth_wipe(b->p, b->cap);
		free(b->p);
	}
	b->p = NULL;
	b->len = b->cap = 0;
}

char *
sbuf_steal(struct sbuf *b)
{
	char *s;

	if (b->p == NULL)
		return sstrdup("");
	/* Whatever lies past the string was wiped on growth or is unused. */
	scauth_wipe(b->p + b->len, b->cap - b->len);
	s = b->p;
	b->p = NULL;
	b->len = b->cap = 0;
	return s;
}

char *
sstrndup(const char *s, size_t n)
{
	char *p;

	if ((p = malloc(n + 1)) == NULL)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
sstrdup(const char *s)
{
	return s != NULL ? sstrndup(s, strlen(s)) : NULL;
}

void
sfree(char *s)
{
	if (s == NULL)
		return;
	scauth_wipe(s, strlen(s));
	free(s);
}

int
scauth_ct_streq(const char *a, const char *b)
{
	return ct_streq(a, b);
}

int
ct_streq(const char *a, const char *b)
{
	size_t la, lb, i;
	unsigned char d = 0;

	if (a == NULL || b == NULL)
		return 0;
	la = strlen(a);
	lb = strlen(b);
	if (la != lb)
		return 0;
	for (i = 0; i < la; i++)
		d |= (unsigned char)a[i] ^ (unsigned char)b[i];
	return d == 0;
}
