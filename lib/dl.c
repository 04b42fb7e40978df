/*
 * dl.c - libcurl, libcrypto, libpq, json-c and libkeyutils, loaded when first
 * needed (libsecret too: secret_service.c).  A cached get maps none of them.
 *
 * A process that only hands out a cached token never maps them: linked in,
 * they cost a git credential helper several milliseconds and megabytes on
 * every start, and libpq is needed only with store = postgres: a machine
 * without it works as before with the other stores.  Each is loaded and
 * initialised once per process (its initialisation is process-wide anyway:
 * curl_global_init, OpenSSL's configuration) and stays: they are opened
 * RTLD_NODELETE, because unloading libcurl or OpenSSL from a process that
 * may use them again is not safe.  A context keeps a pointer to the tables.
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
 *
 * environ is one per process, so the swap is too: every swap and its
 * restore happen under env_lock held for writing, and every load, so that
 * two threads cannot interleave their swaps (the second would save the
 * first's filtered copy as "the application's" and put it back last) and
 * a load in one thread never reads another thread's filtered copy.  Work
 * of a context without the flag that reads the environment (a libpq
 * connection, a request that looks for its proxy) holds it for reading, so
 * that it reads the application's variables, not a filtered copy.
 *
 * Some readers take no lock at all: libcurl's resolver thread (the C
 * library's resolver reads RES_OPTIONS and LOCALDOMAIN), and the
 * application's own threads.  One of them may still be walking a filtered
 * copy after the swap back, so a copy is never freed: one array serves
 * every shield, overwritten in place, and its last slot is never written,
 * so that a reader always meets a NULL.  When the environment outgrows it,
 * a new one (at least twice as large) takes its place and the old one is
 * kept, as is the "HOME=" string of an earlier home: what the process keeps
 * is bounded by a few times its largest environment and one string per
 * home it connected for, and freed when this copy of the library goes.
 */
#include "internal.h"
#include "dl.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CURL_SYM(f, n) { n, offsetof(struct curl_fns, f) }
static const struct dl_sym curl_syms[] = {
	CURL_SYM(global_init, "curl_global_init"),
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
	PQ_SYM(notifies, "PQnotifies"),
};

#define JSON_SYM(f) { "json_" #f, offsetof(struct json_fns, f) }
static const struct dl_sym json_syms[] = {
	JSON_SYM(object_array_get_idx),
	JSON_SYM(object_array_length),
	JSON_SYM(object_get_int64),
	JSON_SYM(object_get_object),
	JSON_SYM(object_get_string),
	JSON_SYM(object_get_string_len),
	JSON_SYM(object_get_type),
	JSON_SYM(object_object_get_ex),
	JSON_SYM(object_put),
	JSON_SYM(tokener_error_desc),
	JSON_SYM(tokener_free),
	JSON_SYM(tokener_get_error),
	JSON_SYM(tokener_new_ex),
	JSON_SYM(tokener_parse_ex),
	JSON_SYM(tokener_reset),
	JSON_SYM(tokener_set_flags),
};

#define KEYUTILS_SYM(f, n) { n, offsetof(struct keyutils_fns, f) }
static const struct dl_sym keyutils_syms[] = {
	KEYUTILS_SYM(add_key, "add_key"),
	KEYUTILS_SYM(describe_alloc, "keyctl_describe_alloc"),
	KEYUTILS_SYM(invalidate, "keyctl_invalidate"),
	KEYUTILS_SYM(read_alloc, "keyctl_read_alloc"),
	KEYUTILS_SYM(search, "keyctl_search"),
	KEYUTILS_SYM(setperm, "keyctl_setperm"),
	KEYUTILS_SYM(unlink, "keyctl_unlink"),
	KEYUTILS_SYM(update, "keyctl_update"),
};

extern char **environ;

static pthread_rwlock_t env_lock = PTHREAD_RWLOCK_INITIALIZER;

/* The process's libraries, filled once under env_lock held for writing. */
static struct curl_fns curl_tab;
static struct crypto_fns crypto_tab;
static struct pq_fns pq_tab;
static struct json_fns json_tab;
static struct keyutils_fns keyutils_tab;
static void *handle[DL_NLIBS];
static unsigned loads[DL_NLIBS];

/* The filtered copy and what it outgrew, under env_lock held for writing. */
struct kept {
	struct kept *next;
	void *p;
};
static char **env_copy;
static size_t env_copy_slots;
static char *home_entry;
static struct kept *kept;

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

/*
 * What the shields kept goes with this copy of the library: at the exit of
 * a program linked with it, and when a program unloads the module that
 * holds it (pam_end() unloads pam_soundcloud.so, and the next pam_start()
 * loads a new copy with its own), which would otherwise leave it
 * unreachable.  Unless a shield is still on: a program that exits while
 * another of its threads connects has environ on the copy until the end.
 */
__attribute__((destructor)) static void
kept_free(void)
{
	struct kept *k;

	if (env_copy != NULL && __atomic_load_n(&environ, __ATOMIC_ACQUIRE) == env_copy)
		return;
	while ((k = kept) != NULL) {
		kept = k->next;
		free(k->p);
		free(k);
	}
	free(env_copy);
	env_copy = NULL;
	env_copy_slots = 0;
	free(home_entry);
	home_entry = NULL;
}

/* Keeps p allocated for the life of this copy of the library (see above); 0, or -1 without memory. */
static int
keep(void *p)
{
	struct kept *k;

	if (p == NULL)
		return 0;
	if ((k = malloc(sizeof(*k))) == NULL)
		return -1;
	k->p = p;
	k->next = kept;
	kept = k;
	return 0;
}

/*
 * Makes env_copy hold at least need entries and a NULL after them, and its
 * last slot one that is never written; home_entry "HOME=home".  Under
 * env_lock held for writing.
 */
static int
copy_room(size_t need, const char *home)
{
	char **a, *h;
	size_t slots;

	if (need + 2 > env_copy_slots) {
		slots = env_copy_slots * 2 > need + 2 ? env_copy_slots * 2 : need + 2;
		if (slots < 64)
			slots = 64;
		if ((a = calloc(slots, sizeof(*a))) == NULL || keep(env_copy) != 0) {
			free(a);
			return -1;
		}
		env_copy = a;
		env_copy_slots = slots;
	}
	if (home != NULL && (home_entry == NULL || strcmp(home_entry + 5, home) != 0)) {
		if (asprintf(&h, "HOME=%s", home) < 0)
			return -1;
		if (keep(home_entry) != 0) {
			free(h);
			return -1;
		}
		home_entry = h;
	}
	return 0;
}

/* The shield, under env_lock: for writing when it swaps or when exclusive. */
static int
shield_on(scauth_ctx *ctx, struct env_shield *sh, int exclusive)
{
	int swap = ctx != NULL && (ctx->flags & SCAUTH_CTX_NO_ENV) != 0;
	size_t n = 0, i, k = 0;
	int e;

	sh->saved = NULL;
	sh->locked = 0;
	e = swap || exclusive ? pthread_rwlock_wrlock(&env_lock) : pthread_rwlock_rdlock(&env_lock);
	if (e != 0)
		return ctx_err(ctx, SCAUTH_EINTERNAL, "the environment lock: %s", strerror(e));
	sh->locked = 1;
	if (!swap || environ == NULL)
		return 0;
	while (environ[n] != NULL)
		n++;
	if (copy_room(n + 1, ctx->home) != 0) {
		dl_shield_off(sh);
		return ctx_err(ctx, SCAUTH_ENOMEM, "out of memory");
	}
	/*
	 * Entry by entry, each a single pointer store, into an array that a
	 * reader without the lock may be walking: it sees old or new entries,
	 * all of them live strings, and a NULL before the end.
	 */
	for (i = 0; i < n; i++)
		if (!network_var(environ[i]) && strncmp(environ[i], "HOME=", 5) != 0)
			__atomic_store_n(&env_copy[k++], environ[i], __ATOMIC_RELAXED);
	/* libpq finds .pgpass, its service file and root.crt under HOME: ours, not the caller's. */
	if (ctx->home != NULL)
		__atomic_store_n(&env_copy[k++], home_entry, __ATOMIC_RELAXED);
	__atomic_store_n(&env_copy[k], NULL, __ATOMIC_RELEASE);
	sh->saved = environ;
	__atomic_store_n(&environ, env_copy, __ATOMIC_RELEASE);
	return 0;
}

int
dl_shield_on(scauth_ctx *ctx, struct env_shield *sh)
{
	return shield_on(ctx, sh, 0);
}

void
dl_shield_off(struct env_shield *sh)
{
	if (sh->saved != NULL) {
		/*
		 * The application's own array, whatever happened meanwhile: a
		 * setenv() by the loaded code made an array of its own from the
		 * filtered copy, which must not become the application's.
		 */
		__atomic_store_n(&environ, sh->saved, __ATOMIC_RELEASE);
	}
	sh->saved = NULL;
	if (sh->locked)
		pthread_rwlock_unlock(&env_lock);
	sh->locked = 0;
}

/* Opens the first of names that loads and resolves syms into table; no lock. */
static int
load_syms(scauth_ctx *ctx, const char *const *names, const struct dl_sym *syms, size_t nsyms,
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

/*
 * For a library a backend keeps itself (libsecret): its constructors read
 * the environment, the application's, so it loads under the lock held for
 * reading (no swap), never while another thread has environ swapped.
 */
int
dl_load(scauth_ctx *ctx, const char *const *names, const struct dl_sym *syms, size_t nsyms,
    void **handlep, void *table)
{
	struct env_shield sh = { NULL, 0 };
	int r;

	if ((r = pthread_rwlock_rdlock(&env_lock)) != 0)
		return ctx_err(ctx, SCAUTH_EINTERNAL, "the environment lock: %s", strerror(r));
	sh.locked = 1;
	r = load_syms(ctx, names, syms, nsyms, handlep, table);
	dl_shield_off(&sh);
	return r;
}

static int
init_curl(scauth_ctx *ctx, void *table)
{
	struct curl_fns *fns = table;
	curl_version_info_data *vi = fns->version_info(CURLVERSION_NOW);

	/* CURLOPT_PROTOCOLS_STR and a reliable CURLOPT_NOSIGNAL need 7.85. */
	if (vi == NULL || vi->version_num < 0x075500 || !(vi->features & CURL_VERSION_SSL))
		return ctx_err(ctx, SCAUTH_ENOLIB, "libcurl 7.85 or later with TLS is needed");
	/* Once per process, never cleaned up: the library stays mapped. */
	if (fns->global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return ctx_err(ctx, SCAUTH_ENOLIB, "libcurl failed to initialise");
	return 0;
}

static int
init_crypto(scauth_ctx *ctx, void *table)
{
	struct crypto_fns *fns = table;

	/*
	 * OpenSSL reads its configuration (OPENSSL_CONF, and the providers it
	 * names) once, at first use: make that now, while the caller's
	 * variables are out of sight, not at the first digest after the
	 * shield is gone.
	 */
	if (fns->init(OPENSSL_INIT_LOAD_CONFIG, NULL) != 1)
		return ctx_err(ctx, SCAUTH_ENOLIB, "libcrypto failed to initialise");
	return 0;
}

static const struct lib {
	const char *const *names;
	const struct dl_sym *syms;
	size_t nsyms;
	void *table;
	size_t size;
	int (*init)(scauth_ctx *ctx, void *table);
} libs[DL_NLIBS] = {
	[DL_CURL] = { (const char *const[]){ "libcurl.so.4", "libcurl.so", NULL },
	    curl_syms, ARRAY_SIZE(curl_syms), &curl_tab, sizeof(curl_tab), init_curl },
	[DL_CRYPTO] = { (const char *const[]){ "libcrypto.so.3", "libcrypto.so", NULL },
	    crypto_syms, ARRAY_SIZE(crypto_syms), &crypto_tab, sizeof(crypto_tab), init_crypto },
	[DL_PQ] = { (const char *const[]){ "libpq.so.5", "libpq.so", NULL },
	    pq_syms, ARRAY_SIZE(pq_syms), &pq_tab, sizeof(pq_tab), NULL },
	/* Debian 12 has json-c 5, Debian 13 json-c 5 too: one soname. */
	[DL_JSON] = { (const char *const[]){ "libjson-c.so.5", "libjson-c.so", NULL },
	    json_syms, ARRAY_SIZE(json_syms), &json_tab, sizeof(json_tab), NULL },
	[DL_KEYUTILS] = { (const char *const[]){ "libkeyutils.so.1", "libkeyutils.so", NULL },
	    keyutils_syms, ARRAY_SIZE(keyutils_syms), &keyutils_tab, sizeof(keyutils_tab),
	    NULL },
};

/*
 * Loads and initialises library which for the process, unless that is done:
 * under env_lock held for writing, shielded under SCAUTH_CTX_NO_ENV.  A
 * failure leaves it unloaded, so that a later call tries again (and says why
 * in its own context).
 */
static int
dl_once(scauth_ctx *ctx, enum dl_lib which)
{
	const struct lib *l = &libs[which];
	struct env_shield sh;
	void *h = NULL;
	int r;

	/*
	 * Loaded already: no lock, which another thread may hold for as long
	 * as a database connection takes to time out (pg_connect's shield).
	 * The table was filled before the handle was published.
	 */
	if (__atomic_load_n(&handle[which], __ATOMIC_ACQUIRE) != NULL)
		return 0;
	if ((r = shield_on(ctx, &sh, 1)) != 0)
		return r;
	if (handle[which] == NULL) {
		r = load_syms(ctx, l->names, l->syms, l->nsyms, &h, l->table);
		if (r == 0 && l->init != NULL && (r = l->init(ctx, l->table)) != 0)
			dlclose(h);
		if (r == 0) {
			__atomic_store_n(&handle[which], h, __ATOMIC_RELEASE);
			loads[which]++;
		} else {
			memset(l->table, 0, l->size);
		}
	}
	dl_shield_off(&sh);
	return r;
}

unsigned
dl_load_count(enum dl_lib which)
{
	struct env_shield sh = { NULL, 0 };
	unsigned n;

	if (pthread_rwlock_rdlock(&env_lock) != 0)
		return 0;
	sh.locked = 1;
	n = loads[which];
	dl_shield_off(&sh);
	return n;
}

int
dl_curl(scauth_ctx *ctx, const struct curl_fns **out)
{
	int r;

	*out = NULL;
	if (ctx->curl == NULL) {
		if ((r = dl_once(ctx, DL_CURL)) != 0)
			return r;
		ctx->curl = &curl_tab;
	}
	*out = ctx->curl;
	return SCAUTH_OK;
}

int
dl_crypto(scauth_ctx *ctx, const struct crypto_fns **out)
{
	int r;

	*out = NULL;
	if (ctx->crypto == NULL) {
		if ((r = dl_once(ctx, DL_CRYPTO)) != 0)
			return r;
		ctx->crypto = &crypto_tab;
	}
	*out = ctx->crypto;
	return SCAUTH_OK;
}

int
dl_pq(scauth_ctx *ctx, const struct pq_fns **out)
{
	int r;

	*out = NULL;
	if ((r = dl_once(ctx, DL_PQ)) != 0)
		return r;
	*out = &pq_tab;
	return SCAUTH_OK;
}

int
dl_json(const struct json_fns **out)
{
	int r;

	*out = NULL;
	if ((r = dl_once(NULL, DL_JSON)) != 0)
		return r;
	*out = &json_tab;
	return SCAUTH_OK;
}

int
dl_keyutils(scauth_ctx *ctx, const struct keyutils_fns **out)
{
	int r;

	*out = NULL;
	if ((r = dl_once(ctx, DL_KEYUTILS)) != 0)
		return r;
	*out = &keyutils_tab;
	return SCAUTH_OK;
}

void
dl_on_release(scauth_ctx *ctx, void (*release)(scauth_ctx *ctx))
{
	size_t i;

	/* DL_NRELEASE is more than the users there are (pg.c, secret_service.c). */
	for (i = 0; i < DL_NRELEASE; i++) {
		if (ctx->release[i] == release)
			return;
		if (ctx->release[i] == NULL) {
			ctx->release[i] = release;
			return;
		}
	}
}

void
dl_release(scauth_ctx *ctx)
{
	size_t i;

	/* The users' connections first, while the libraries' tables are still set. */
	for (i = 0; i < DL_NRELEASE && ctx->release[i] != NULL; i++)
		ctx->release[i](ctx);
	memset(ctx->release, 0, sizeof(ctx->release));
	if (ctx->curl != NULL && ctx->easy != NULL)
		ctx->curl->easy_cleanup(ctx->easy);
	ctx->easy = NULL;
	ctx->curl = NULL;
	ctx->crypto = NULL;
}
