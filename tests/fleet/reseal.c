/*
 * reseal.c - a test tool: what a fleet machine running altered code could
 * write, since every machine holds the seal key: it opens a sealed record
 * (hex on stdin, as psql's encode(record, 'hex') gives it), sets its
 * obtained_by to HOST as given (any bytes), and prints the record sealed
 * again, in hex, for the same slot, row VERSION and fleet (FLEET_ID in hex,
 * as encode(record, 'hex') gives the id row).  The suite shows with it that
 * status escapes what it shows.  Never prints a token.
 * Usage: reseal KEY_FILE SLOT VERSION FLEET_ID HOST
 */
#include "internal.h"
#include "fleet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
unhex(const char *s, size_t n, struct sbuf *out)
{
	static const char digits[] = "0123456789abcdef";
	const char *hi, *lo;
	size_t i;

	for (i = 0; i + 1 < n; i += 2) {
		if ((hi = strchr(digits, s[i])) == NULL || (lo = strchr(digits, s[i + 1])) == NULL ||
		    sbuf_addch(out, (char)((hi - digits) << 4 | (lo - digits))) != 0)
			return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	unsigned char key[SEAL_KEY_LEN];
	struct seal_aad aad = { 0 };
	struct sbuf fleet = { 0 };
	struct sbuf in = { 0 }, bin = { 0 }, plain = { 0 }, text = { 0 }, sealed = { 0 };
	struct scauth_token *t = NULL;
	scauth_ctx *ctx = NULL;
	char chunk[4096];
	size_t n, i;
	int r = 1;

	if (argc != 6) {
		fprintf(stderr, "usage: reseal KEY_FILE SLOT VERSION FLEET_ID HOST\n");
		return 2;
	}
	if (unhex(argv[4], strlen(argv[4]), &fleet) != 0 || fleet.len != SEAL_FLEET_ID_LEN) {
		fprintf(stderr, "reseal: FLEET_ID is not %d bytes in hex\n", SEAL_FLEET_ID_LEN);
		goto out;
	}
	aad.slot = argv[2];
	aad.fleet = (const unsigned char *)fleet.p;
	aad.version = strtoll(argv[3], NULL, 10);
	while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
		if (sbuf_add(&in, chunk, n) != 0)
			goto out;
	while (in.len > 0 && (in.p[in.len - 1] == '\n' || in.p[in.len - 1] == '\r'))
		in.len--;
	if (scauth_ctx_new(&ctx, 0) != 0 || seal_key_load(ctx, argv[1], key) != 0 ||
	    unhex(in.p, in.len, &bin) != 0 ||
	    unseal(ctx, key, &aad, bin.p, bin.len, &plain) != 0 ||
	    record_parse(plain.p, plain.len, &t) != 0) {
		fprintf(stderr, "reseal: cannot open the record: %s\n", scauth_errmsg(ctx));
		goto out;
	}
	sfree(t->obtained_by);
	if ((t->obtained_by = sstrdup(argv[5])) == NULL ||
	    record_serialize(t, &text) != 0 ||
	    seal(ctx, key, &aad, text.p, text.len, &sealed) != 0) {
		fprintf(stderr, "reseal: cannot seal: %s\n", scauth_errmsg(ctx));
		goto out;
	}
	for (i = 0; i < sealed.len; i++)
		printf("%02x", (unsigned char)sealed.p[i]);
	putchar('\n');
	r = 0;
out:
	scauth_wipe(key, sizeof(key));
	scauth_token_free(t);
	sbuf_free(&fleet);
	sbuf_free(&in);
	sbuf_free(&bin);
	sbuf_free(&plain);
	sbuf_free(&text);
	sbuf_free(&sealed);
	scauth_ctx_free(ctx);
	return r;
}
