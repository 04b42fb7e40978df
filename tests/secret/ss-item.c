/*
 * ss-item - the library's Secret Service items (lib/secret_service.c) from
 * the command line, for the tests:
 *
 *   ss-item store PROFILE GRANT LABEL    the item's secret from stdin
 *   ss-item lookup PROFILE GRANT         the secret to stdout; exit 1 when absent
 *   ss-item clear PROFILE GRANT
 *
 * SS_ITEM_TIMEOUT bounds each call (seconds, default 5).  A library error
 * exits with its code negated (8 for SCAUTH_ESTORE), its message on stderr.
 */
#include "internal.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int
fail(scauth_ctx *ctx, int r)
{
	fprintf(stderr, "ss-item: %s: %s\n", scauth_strerror(r), scauth_errmsg(ctx));
	return -r;
}

int
main(int argc, char **argv)
{
	struct sbuf data = SBUF_INIT(MAX_RECORD);
	scauth_ctx *ctx = NULL;
	const char *t = getenv("SS_ITEM_TIMEOUT");
	char buf[4096];
	ssize_t n;
	int r, rc = 2;

	if (argc < 4 || scauth_ctx_new(&ctx, 0) != 0) {
		fprintf(stderr, "usage: ss-item store|lookup|clear PROFILE GRANT [LABEL]\n");
		return 2;
	}
	ctx->timeout = t != NULL ? atol(t) : 5;
	if (strcmp(argv[1], "store") == 0 && argc == 5) {
		while ((n = read(0, buf, sizeof(buf))) > 0)
			if (sbuf_add(&data, buf, (size_t)n) != 0)
				goto out;
		r = ss_store(ctx, argv[2], argv[3], argv[4], sbuf_str(&data), data.len);
		rc = r == 0 ? 0 : fail(ctx, r);
	} else if (strcmp(argv[1], "lookup") == 0 && argc == 4) {
		r = ss_lookup(ctx, argv[2], argv[3], &data);
		if (r == 1)
			rc = fwrite(data.p, 1, data.len, stdout) == data.len ? 0 : 2;
		else
			rc = r == 0 ? 1 : fail(ctx, r);
	} else if (strcmp(argv[1], "clear") == 0 && argc == 4) {
		r = ss_clear(ctx, argv[2], argv[3]);
		rc = r == 0 ? 0 : fail(ctx, r);
	} else {
		fprintf(stderr, "usage: ss-item store|lookup|clear PROFILE GRANT [LABEL]\n");
	}
out:
	sbuf_free(&data);
	scauth_ctx_free(ctx);
	return rc;
}
