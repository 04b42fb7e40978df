/*
 * ctx.c - the context object: options, command-line settings, loading.
 */
#include "internal.h"
#include "store.h"
#include "fleet.h"

#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

int
scauth_ctx_new(scauth_ctx **ctxp, unsigned flags)
{
	scauth_ctx *ctx;

	*ctxp = NULL;
	if ((ctx = calloc(1, sizeof(*ctx))) == NULL)
		return SCAUTH_ENOMEM;
	/*
	 * A set-user-ID (or -group, or file-capability) process runs with an
	 * environment its caller chose: it is treated as NO_ENV, whatever the
	 * flags say, so that neither we nor libcurl nor OpenSSL read it.
	 */
	if (getauxval(AT_SECURE) != 0)
		flags |= SCAUTH_CTX_NO_ENV;
	ctx->flags = flags;
	*ctxp = ctx;
	return SCAUTH_OK;
}

int
scauth_ctx_setopt(scauth_ctx *ctx, enum scauth_opt opt, const char *value)
{
	char *copy = NULL;

	if (ctx->loaded || opt < SCAUTH_OPT_CONFIG_FILE || opt > SCAUTH_OPT_HOME)
		return ctx_err(ctx, SCAUTH_EINVAL, "option cannot be set now");
	if (value != NULL && (copy = strdup(value)) == NULL)
		return SCAUTH_ENOMEM;
	free(ctx->opt[opt]);
	ctx->opt[opt] = copy;
	return SCAUTH_OK;
}

int
scauth_ctx_set(scauth_ctx *ctx, const char *key, const char *value)
{
	int k = cfg_key_index(key);
	char *copy = NULL;

	if (ctx->loaded)
		return ctx_err(ctx, SCAUTH_EINVAL, "settings cannot change after loading");
	if (k < 0)
		return ctx_err(ctx, SCAUTH_EINVAL, "unknown setting '%.40s'", key);
	if (k == CFG_CLIENT_SECRET)
		return ctx_err(ctx, SCAUTH_EINVAL,
		    "client_secret is never taken from the command line; use client_secret_file");
	if (value != NULL && (copy = sstrdup(value)) == NULL)
		return SCAUTH_ENOMEM;
	sfree(ctx->cli[k]);
	ctx->cli[k] = copy;
	return SCAUTH_OK;
}

void
scauth_ctx_set_trace(scauth_ctx *ctx, scauth_trace_fn *fn, void *arg)
{
	ctx->trace = fn;
	ctx->trace_arg = arg;
}

/* Frees what config_load() resolved. */
static void
unload(scauth_ctx *ctx)
{
	size_t i;

	for (i = 0; i < CFG_NKEYS; i++) {
		sfree(ctx->cfg[i]);
		ctx->cfg[i] = NULL;
	}
	sfree(ctx->secret);
	free(ctx->profile);
	free(ctx->state_dir);
	free(ctx->home);
	free(ctx->api_host);
	ctx->secret = ctx->profile = ctx->state_dir = ctx->home = ctx->api_host = NULL;
}

/*
 * The modules that read keys of their own check them when the context is
 * loaded, whatever the store, so that a bad value is said at once and not
 * at the first use; each reads them again when it needs them.
 */
static int
configure_modules(scauth_ctx *ctx)
{
	static int (*const configure[])(scauth_ctx *ctx) = { pg_configure, keyring_configure };
	size_t i;
	int r;

	for (i = 0; i < ARRAY_SIZE(configure); i++)
		if ((r = configure[i](ctx)) != 0)
			return r;
	return SCAUTH_OK;
}

int
scauth_ctx_load(scauth_ctx *ctx)
{
	int r;

	if (ctx->loaded)
		return ctx_err(ctx, SCAUTH_EINVAL, "context already loaded");
	ctx_clear_err(ctx);
	if ((r = config_load(ctx)) != 0 || (r = configure_modules(ctx)) != 0) {
		/* Leave nothing half-resolved behind: a retry starts clean. */
		unload(ctx);
		return r;
	}
	ctx->loaded = 1;
	return SCAUTH_OK;
}

const char *
scauth_ctx_get(const scauth_ctx *ctx, const char *key)
{
	int k;

	if (!ctx->loaded)
		return NULL;
	if (strcmp(key, "profile") == 0)
		return ctx->profile;
	if (strcmp(key, "state_dir") == 0)
		return ctx->state_dir;
	if ((k = cfg_key_index(key)) < 0 || k == CFG_CLIENT_SECRET)
		return NULL;
	return ctx->cfg[k];
}

int
scauth_ctx_timeout(const scauth_ctx *ctx)
{
	return ctx != NULL && ctx->loaded ? (int)ctx->timeout : 0;
}

const char *
scauth_ctx_api_host(const scauth_ctx *ctx)
{
	return ctx->loaded ? ctx->api_host : NULL;
}

const char *
scauth_ctx_store_where(const scauth_ctx *ctx, char *buf, size_t len)
{
	if (buf == NULL || len == 0)
		return buf;
	buf[0] = '\0';
	if (ctx != NULL && ctx->loaded)
		store_describe(ctx, NULL, buf, len);
	return buf;
}

void
scauth_ctx_free(scauth_ctx *ctx)
{
	size_t i;

	if (ctx == NULL)
		return;
	store_release(ctx);
	dl_release(ctx);
	for (i = 0; i < ARRAY_SIZE(ctx->opt); i++)
		free(ctx->opt[i]);
	for (i = 0; i < CFG_NKEYS; i++)
		sfree(ctx->cli[i]);
	unload(ctx);
	scauth_wipe(ctx, sizeof(*ctx));
	free(ctx);
}
