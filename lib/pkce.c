/*
 * pkce.c - randomness, PKCE (RFC 7636) and the state parameter.
 *
 * The verifier is 32 bytes from getrandom(2) in base64url: 43 characters, the
 * shortest RFC 7636 allows, carrying 256 bits.  The challenge is S256 only;
 * "plain" would send the verifier itself through the browser.
 */
#include "internal.h"
#include "dl.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

int
random_bytes(scauth_ctx *ctx, void *buf, size_t n)
{
	unsigned char *p = buf;
	ssize_t got;

	while (n > 0) {
		/* Blocks only until the pool is first initialised, never after. */
		if ((got = getrandom(p, n, 0)) < 0) {
			if (errno == EINTR)
				continue;
			return ctx_errno(ctx, SCAUTH_ESYSTEM, "getrandom");
		}
		p += got;
		n -= (size_t)got;
	}
	return SCAUTH_OK;
}

/* 32 random bytes as 43 characters of base64url. */
static int
random_b64(scauth_ctx *ctx, char *out)
{
	unsigned char raw[32];
	char *enc;
	int r;

	if ((r = random_bytes(ctx, raw, sizeof(raw))) != 0)
		return r;
	enc = b64_encode(raw, sizeof(raw), 1);
	scauth_wipe(raw, sizeof(raw));
	if (enc == NULL)
		return SCAUTH_ENOMEM;
	memcpy(out, enc, 44);   /* 43 characters and the NUL */
	sfree(enc);
	return SCAUTH_OK;
}

int
pkce_verifier(scauth_ctx *ctx, char *out)
{
	return random_b64(ctx, out);
}

int
random_state(scauth_ctx *ctx, char *out)
{
	return random_b64(ctx, out);
}

int
pkce_verifier_valid(const char *v)
{
	size_t i, n = strlen(v);

	if (n < 43 || n > 128)
		return 0;
	for (i = 0; i < n; i++) {
		char c = v[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~'))
			return 0;
	}
	return 1;
}

int
pkce_challenge(scauth_ctx *ctx, const char *verifier, char *out)
{
	const struct crypto_fns *c;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char *enc;
	int r;

	if (!pkce_verifier_valid(verifier))
		return ctx_err(ctx, SCAUTH_EINVAL, "PKCE verifier is not 43-128 unreserved characters");
	if ((r = dl_crypto(ctx, &c)) != 0)
		return r;
	if (c->digest(verifier, strlen(verifier), md, &mdlen, c->sha256(), NULL) != 1 ||
	    mdlen != 32)
		return ctx_err(ctx, SCAUTH_EINTERNAL, "SHA-256 failed");
	enc = b64_encode(md, mdlen, 1);
	scauth_wipe(md, sizeof(md));
	if (enc == NULL)
		return SCAUTH_ENOMEM;
	memcpy(out, enc, 44);
	sfree(enc);
	return SCAUTH_OK;
}
