/*
 * dl.c - libcurl, libcrypto and libpq, loaded when first needed (libsecret
 * too: secret_service.c).
 *
 * A process that only hands out a cached token never maps them: linked in,
 * they cost a git credential helper several milliseconds and megabytes on
 * every start, and libpq is needed only with store = postgres: a machine
 * without it works as before with the other stores.  The handles live in
 * the context (no global state); the libraries are opened RTLD_NODELETE,
 * because unloading libcurl or OpenSSL from a process that may use them
 * again is not safe.
 *
 * Both read the environment with plain getenv(): libcurl's OpenSSL backend
 * opens SSLKEYLOGFILE for appending TLS secrets in curl_global_init(), and
 * OpenSSL reads OPENSSL_CONF, OPENSSL_ia32cap and friends when it loads and
 * initialises.  In a PAM module the environment is the caller's (su's user
 * chose it), so with SCAUTH_CTX_NO_ENV the loading and initialisation run
 * with environ pointing at a copy that lacks every such variable; the
 * application's own array is never modified and is back in place when
 * dl_curl() returns.  What libcurl reads later, per request (proxies, CA
 * locations), http.c overrides with explicit options.  libpq reads its PG*
 * variables at each connection: pg.c connects inside the same shield.
 */
#include "internal.h"
#include "dl.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
	CRYPTO_SYM(init, "OPENSSL_init_crypto"),
	CRYPTO_SYM(digest, "EVP_Digest"),
	CRYPTO_SYM(sha256, "EVP_sha256"),
	CRYPTO_SYM(aes_256_gcm, "EVP_aes_256_gcm"),
	CRYPTO_SYM(cipher_new, "EVP_CIPHER_CTX_new"),
	CRYPTO_SYM(cipher_free, "EVP_CIPHER_CTX_free"),
	CRYPTO_SYM(cipher_ctrl, "EVP_CIPHER_CTX_ctrl"),
	CRYPTO_SYM(encrypt_init, "EVP_EncryptInit_ex"),
	CRYPTO_SYM(encrypt_update, "EVP_EncryptUpdate"),
	CRYPTO_SYM(encrypt_final, "EVP_EncryptFinal_ex"),
	CRYPTO_SYM(decrypt_init, "EVP_DecryptInit_ex"),
	CRYPTO_SYM(decrypt_update, "EVP_DecryptUpdate"),
	CRYPTO_SYM(decrypt_final, "EVP_DecryptFinal_ex"),
};

#define PQ_SYM(f, n) { n, offsetof(struct pq_fns, f) }
static const struct dl_sym pq_syms[] = {
	PQ_SYM(connectdb_params, "PQconnectdbParams"),
	PQ_SYM(ping_params, "PQpingParams"),
	PQ_SYM(status, "PQstatus"),
	PQ_SYM(error_message, "PQerrorMessage"),
	PQ_SYM(finish, "PQfinish"),
	PQ_SYM(exec, "PQexec"),
	PQ_SYM(exec_params, "PQexecParams"),
	PQ_SYM(result_status, "PQresultStatus"),
	PQ_SYM(result_error_field, "PQresultErrorField"),
	PQ_SYM(result_error_message, "PQresultErrorMessage"),
	PQ_SYM(clear, "PQclear"),
	PQ_SYM(ntuples, "PQntuples"),
	PQ_SYM(getvalue, "PQgetvalue"),
	PQ_SYM(getlength, "PQgetlength"),
	PQ_SYM(getisnull, "PQgetisnull"),
	PQ_SYM(transaction_status, "PQtransactionStatus"),
	PQ_SYM(conninfo_parse, "PQconninfoParse"),
	PQ_SYM(conninfo_free, "PQconninfoFree"),
	PQ_SYM(needs_password, "PQconnectionNeedsPassword"),
	PQ_SYM(freemem, "PQfreemem"),
	PQ_SYM(set_notice_processor, "PQsetNoticeProcessor"),
	PQ_SYM(send_query_params, "PQsendQueryParams"),
	PQ_SYM(socket, "PQsocket"),
	PQ_SYM(consume_input, "PQconsumeInput"),
	PQ_SYM(is_busy, "PQisBusy"),
	PQ_SYM(get_result, "PQgetResult"),
	PQ_SYM(host, "PQhost"),
	PQ_SYM(port, "PQport"),
	PQ_SYM(db, "PQdb"),
};

extern char **environ;

/*
 * 1 if the environment entry "NAME=value" is one that libcurl, libpq or a
 * library below them may read: SSLKEYLOGFILE, CURL_*, OPENSSL_*, SSL_CERT_*,
 * QLOGDIR, GNUTLS_*, every *_proxy / *_PROXY (http_proxy, HTTPS_PROXY,
 * ALL_PROXY, NO_PROXY ...), and libpq's PG* (PGHOST, PGSSLMODE, PGOPTIONS,
 * PGSERVICEFILE ...) with what GSSAPI and LDAP read under it (KRB5*, LDAP*).
 */
static int
network_var(const char *e)
{
	static const char *const prefixes[] = {
		"SSLKEYLOGFILE=", "QLOGDIR=", "CURL_", "OPENSSL_", "SSL_CERT_", "GNUTLS_",
		"PG", "KRB5", "LDAP",
	};
	const char *eq = strchr(e, '=');
	size_t i, n;

	if (eq == NULL)
		return 0;
	for (i = 0; i < ARRAY_SIZE(prefixes); i++)
		if (strncmp(e, prefixes[i], strlen(prefixes[i])) == 0)
			return 1;
	n = (size_t)(eq - e);
	return n >= 6 && strncasecmp(eq - 6, "_proxy", 6) == 0;
}

int
dl_shield_on(scauth_ctx *ctx, struct env_shield *sh)
{
	size_t n = 0, i, k = 0;

	sh->saved = NULL;
	sh->filtered = NULL;
	sh->home = NULL;
	if (!(ctx->flags & SCAUTH_CTX_NO_ENV) || environ == NULL)
		return 0;
	while (environ[n] != NULL)
		n++;
	if ((sh->filtered = calloc(n + 2, sizeof(*sh->filtered))) == NULL)
		return ctx_err(ctx, SCAUTH_ENOMEM, "out of memory");
	for (i = 0; i < n; i++)
		if (!network_var(environ[i]) && strncmp(environ[i], "HOME=", 5) != 0)
			sh->filtered[k++] = environ[i];
	/* libpq finds .pgpass, its service file and root.crt under HOME: ours, not the caller's. */
	if (ctx->home != NULL) {
		if (asprintf(&sh->home, "HOME=%s", ctx->home) < 0) {
			sh->home = NULL;
			free(sh->filtered);
			sh->filtered = NULL;
			return ctx_err(ctx, SCAUTH_ENOMEM, "out of memory");
		}
		sh->filtered[k++] = sh->home;
	}
	sh->saved = environ;
	environ = sh->filtered;
	return 0;
}

void
dl_shield_off(struct env_shield *sh)
{
	if (sh->saved == NULL)
		return;
	/* Unless the loaded code replaced environ itself (setenv): then it is its own. */
	if (environ == sh->filtered) {
		environ = sh->saved;
		free(sh->filtered);
		free(sh->home);
	}
	sh->saved = sh->filtered = NULL;
	sh->home = NULL;
}

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
	struct env_shield sh = { NULL, NULL, NULL };
	struct curl_fns *fns = NULL;
	curl_version_info_data *vi;
	int r;

	*out = NULL;
	if (ctx->curl != NULL) {
		*out = ctx->curl;
		return SCAUTH_OK;
	}
	if ((fns = calloc(1, sizeof(*fns))) == NULL)
		return SCAUTH_ENOMEM;
	if ((r = dl_shield_on(ctx, &sh)) != 0)
		goto out;
	if ((r = dl_load(ctx, names, curl_syms, ARRAY_SIZE(curl_syms), &ctx->curl_handle,
	    fns)) != 0)
		goto out;
	vi = fns->version_info(CURLVERSION_NOW);
	/* CURLOPT_PROTOCOLS_STR and a reliable CURLOPT_NOSIGNAL need 7.85. */
	if (vi == NULL || vi->version_num < 0x075500 || !(vi->features & CURL_VERSION_SSL)) {
		r = ctx_err(ctx, SCAUTH_ENOLIB, "libcurl 7.85 or later with TLS is needed");
		goto out;
	}
	/* Reference counted and thread-safe since 7.84; balanced in dl_release(). */
	if (fns->global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		r = ctx_err(ctx, SCAUTH_ENOLIB, "libcurl failed to initialise");
		goto out;
	}
	ctx->curl = fns;
	fns = NULL;     /* transferred */
	*out = ctx->curl;
	r = SCAUTH_OK;
 out:
	dl_shield_off(&sh);
	if (fns != NULL) {
		if (ctx->curl_handle != NULL)
			dlclose(ctx->curl_handle);
		ctx->curl_handle = NULL;
		free(fns);
	}
	return r;
}

int
dl_crypto(scauth_ctx *ctx, const struct crypto_fns **out)
{
	static const char *const names[] = { "libcrypto.so.3", "libcrypto.so", NULL };
	struct env_shield sh;
	struct crypto_fns *fns;
	int r;

	*out = NULL;
	if (ctx->crypto == NULL) {
		if ((fns = calloc(1, sizeof(*fns))) == NULL)
			return SCAUTH_ENOMEM;
		if ((r = dl_shield_on(ctx, &sh)) == 0) {
			r = dl_load(ctx, names, crypto_syms, ARRAY_SIZE(crypto_syms),
			    &ctx->crypto_handle, fns);
			/*
			 * OpenSSL reads its configuration (OPENSSL_CONF, and the
			 * providers it names) once, at first use: make that now,
			 * while the caller's variables are out of sight, not at
			 * the first digest after the shield is gone.
			 */
			if (r == 0 && fns->init(OPENSSL_INIT_LOAD_CONFIG, NULL) != 1)
				r = ctx_err(ctx, SCAUTH_ENOLIB, "libcrypto failed to initialise");
			dl_shield_off(&sh);
		}
		if (r != 0) {
			free(fns);
			return r;
		}
		ctx->crypto = fns;
	}
	*out = ctx->crypto;
	return SCAUTH_OK;
}

int
dl_pq(scauth_ctx *ctx, const struct pq_fns **out)
{
	static const char *const names[] = { "libpq.so.5", "libpq.so", NULL };
	struct env_shield sh;
	struct pq_fns *fns;
	int r;

	*out = NULL;
	if (ctx->pq == NULL) {
		if ((fns = calloc(1, sizeof(*fns))) == NULL)
			return SCAUTH_ENOMEM;
		if ((r = dl_shield_on(ctx, &sh)) == 0) {
			r = dl_load(ctx, names, pq_syms, ARRAY_SIZE(pq_syms), &ctx->pq_handle, fns);
			dl_shield_off(&sh);
		}
		if (r != 0) {
			free(fns);
			return r;
		}
		ctx->pq = fns;
	}
	*out = ctx->pq;
	return SCAUTH_OK;
}

void
dl_release(scauth_ctx *ctx)
{
	/* The connection first: its library goes below. */
	pg_release(ctx);
	free(ctx->pq);
	ctx->pq = NULL;
	if (ctx->pq_handle != NULL) {
		dlclose(ctx->pq_handle);
		ctx->pq_handle = NULL;
	}
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
