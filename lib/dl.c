/*
 * dl.c - libcurl and libcrypto, loaded when first needed (libsecret too:
 * secret_service.c).
 *
 * A process that only hands out a cached token never maps them: linked in,
 * they cost a git credential helper several milliseconds and megabytes on
 * every start.  The handles live in the context (no global state); the
 * libraries are opened RTLD_NODELETE, because unloading libcurl or OpenSSL
 * from a process that may use them again is not safe.
 */
#include "internal.h"
#include "dl.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#define CURL_SYM(f, n) { n, offsetof(struct curl_fns, f) }
static const struct dl_sym curl_syms[] = {
	CURL_SYM(global_init, "curl_global_init"),
	CURL_SYM(global_cleanup, "curl_global_cleanup"),
	CURL_SYM(easy_init, "curl_easy_init"),
	CURL_SYM(easy_reset, "curl_easy_reset"),
	CURL_SYM(easy_setopt, "curl_easy_setopt"),
	CURL_SYM(easy_perform, "curl_easy_perform"),
	CURL_SYM(easy_getinfo, "curl_easy_getinfo"),
	CURL_SYM(easy_cleanup, "curl_easy_cleanup"),
	CURL_SYM(easy_strerror, "curl_easy_strerror"),
	CURL_SYM(slist_append, "curl_slist_append"),
	CURL_SYM(slist_free_all, "curl_slist_free_all"),
	CURL_SYM(version_info, "curl_version_info"),
};

#define CRYPTO_SYM(f, n) { n, offsetof(struct crypto_fns, f) }
static const struct dl_sym crypto_syms[] = {
	CRYPTO_SYM(digest, "EVP_Digest"),
	CRYPTO_SYM(sha256, "EVP_sha256"),
};

int
dl_load(scauth_ctx *ctx, const char *const *names, const struct dl_sym *syms, size_t nsyms,
    void **handlep, void *table)
{
	void *h = NULL, *f;
	size_t i;

	for (i = 0; names[i] != NULL && h == NULL; i++)
		h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
	if (h == NULL)
		return ctx_err(ctx, SCAUTH_ENOLIB, "cannot load %s (install it)", names[0]);
	for (i = 0; i < nsyms; i++) {
		if ((f = dlsym(h, syms[i].name)) == NULL) {
			dlclose(h);
			return ctx_err(ctx, SCAUTH_ENOLIB, "%s lacks %s (too old?)", names[0],
			    syms[i].name);
		}
		memcpy((char *)table + syms[i].offset, &f, sizeof(f));
	}
	*handlep = h;
	return SCAUTH_OK;
}

int
dl_curl(scauth_ctx *ctx, const struct curl_fns **out)
{
	static const char *const names[] = { "libcurl.so.4", "libcurl.so", NULL };
	struct curl_fns *fns;
	curl_version_info_data *vi;
	int r;

	*out = NULL;
	if (ctx->curl == NULL) {
		if ((fns = calloc(1, sizeof(*fns))) == NULL)
			return SCAUTH_ENOMEM;
		if ((r = dl_load(ctx, names, curl_syms, ARRAY_SIZE(curl_syms), &ctx->curl_handle,
		    fns)) != 0) {
			free(fns);
			return r;
		}
		vi = fns->version_info(CURLVERSION_NOW);
		/* CURLOPT_PROTOCOLS_STR and a reliable CURLOPT_NOSIGNAL need 7.85. */
		if (vi == NULL || vi->version_num < 0x075500 || !(vi->features & CURL_VERSION_SSL)) {
			dlclose(ctx->curl_handle);
			ctx->curl_handle = NULL;
			free(fns);
			return ctx_err(ctx, SCAUTH_ENOLIB, "libcurl 7.85 or later with TLS is needed");
		}
		/* Reference counted and thread-safe since 7.84; balanced in dl_release(). */
		if (fns->global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			dlclose(ctx->curl_handle);
			ctx->curl_handle = NULL;
			free(fns);
			return ctx_err(ctx, SCAUTH_ENOLIB, "libcurl failed to initialise");
		}
		ctx->curl = fns;
	}
	*out = ctx->curl;
	return SCAUTH_OK;
}

int
dl_crypto(scauth_ctx *ctx, const struct crypto_fns **out)
{
	static const char *const names[] = { "libcrypto.so.3", "libcrypto.so", NULL };
	struct crypto_fns *fns;
	int r;

	*out = NULL;
	if (ctx->crypto == NULL) {
		if ((fns = calloc(1, sizeof(*fns))) == NULL)
			return SCAUTH_ENOMEM;
		if ((r = dl_load(ctx, names, crypto_syms, ARRAY_SIZE(crypto_syms),
		    &ctx->crypto_handle, fns)) != 0) {
			free(fns);
			return r;
		}
		ctx->crypto = fns;
	}
	*out = ctx->crypto;
	return SCAUTH_OK;
}

void
dl_release(scauth_ctx *ctx)
{
	if (ctx->curl != NULL) {
		if (ctx->easy != NULL)
			ctx->curl->easy_cleanup(ctx->easy);
		ctx->easy = NULL;
		ctx->curl->global_cleanup();
		free(ctx->curl);
		ctx->curl = NULL;
	}
	if (ctx->curl_handle != NULL) {
		dlclose(ctx->curl_handle);
		ctx->curl_handle = NULL;
	}
	ss_release(ctx);
	free(ctx->crypto);
	ctx->crypto = NULL;
	if (ctx->crypto_handle != NULL) {
		dlclose(ctx->crypto_handle);
		ctx->crypto_handle = NULL;
	}
}
