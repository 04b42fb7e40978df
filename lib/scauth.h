/*
 * scauth.h - libscauth, the one public interface of soundcloud-auth.
 *
 * libscauth hands out valid SoundCloud access tokens: it runs the OAuth 2.1
 * flows (Authorization Code with PKCE, Client Credentials), refreshes with
 * single-use rotating refresh tokens under a cross-process lock, caches and
 * stores tokens safely (in a file, the kernel keyring, the desktop's Secret
 * Service or a fleet's PostgreSQL database: the `store` key) and recovers
 * from 401s.
 * Front ends (the git credential helper, the PAM module) are thin layers over
 * this header.
 *
 * Conventions:
 *  - Every function that can fail returns 0 (SCAUTH_OK) or a negative
 *    SCAUTH_E* code.  scauth_strerror() names the code; scauth_errmsg() gives
 *    the detail of the last failure on a context.  No message ever holds a
 *    token, secret, code or verifier.
 *  - Out-pointers are set to NULL on entry and only set on success; the
 *    caller owns what they point to and frees it with the matching _free().
 *  - Strings returned by accessors are owned by the object they come from and
 *    live as long as it does.  Accessors that return a secret say so: do not
 *    copy those strings without wiping the copy.
 *  - The library never prints, never exits, never reads the terminal and
 *    keeps no global state but the network libraries it loaded; one context
 *    must not be used by two threads at once, distinct contexts may.
 *  - libcurl, libcrypto and json-c (libpq for store = postgres, libkeyutils
 *    for store = keyring) are loaded on first use, so that work needing no
 *    network (a cached token, status) does not pay for loading them.  Each is loaded and initialised once per
 *    process, by the first context that needs it, under a process-wide lock,
 *    and stays loaded until the process ends.
 */
#ifndef SCAUTH_H
#define SCAUTH_H

#include <stddef.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(SCAUTH_BUILDING) && defined(__GNUC__)
#define SCAUTH_API __attribute__((visibility("default")))
#else
#define SCAUTH_API
#endif

#define SCAUTH_VERSION "0.1.0"

/* Error codes.  Keep scauth_strerror() in step. */
enum scauth_err {
	SCAUTH_OK = 0,
	SCAUTH_EINTERNAL = -1,     /* a bug: an impossible state was reached */
	SCAUTH_ENOMEM = -2,        /* out of memory */
	SCAUTH_EINVAL = -3,        /* invalid argument or input from the caller */
	SCAUTH_ECONFIG = -4,       /* configuration missing, malformed or unsafe */
	SCAUTH_ESYSTEM = -5,       /* an operating system call failed */
	SCAUTH_EUNSAFE = -6,       /* store or file with a wrong owner, mode or a link */
	SCAUTH_ECORRUPT = -7,      /* stored record unreadable */
	SCAUTH_ESTORE = -8,        /* could not write the store; previous contents kept */
	SCAUTH_ELOGIN = -9,        /* no usable grant: a login is required */
	SCAUTH_ELOCKED = -10,      /* timed out waiting for another process's refresh */
	SCAUTH_ERATELIMIT = -11,   /* rate limited by the server; try again later */
	SCAUTH_EGRANT = -12,       /* invalid_grant: code, verifier or refresh token refused */
	SCAUTH_ECLIENT = -13,      /* invalid_client: client id or secret refused */
	SCAUTH_EREQUEST = -14,     /* invalid_request, unsupported_grant_type, invalid_scope ... */
	SCAUTH_EDENIED = -15,      /* access_denied, unauthorized_client */
	SCAUTH_ETOKEN = -16,       /* the API refused the access token (401) */
	SCAUTH_EUNAVAIL = -17,     /* server error or unavailable (5xx, 403/429 from a CDN, HTML) */
	SCAUTH_ENETWORK = -18,     /* could not reach the server */
	SCAUTH_ETLS = -19,         /* TLS failure, certificate not trusted */
	SCAUTH_ETIMEOUT = -20,     /* no answer in time */
	SCAUTH_EPROTO = -21,       /* malformed or oversized answer, unexpected redirect */
	SCAUTH_ESTATE = -22,       /* authorization callback with a wrong state or issuer */
	SCAUTH_ENOLIB = -23,       /* a library needed for this (libcurl, libcrypto, libqrencode) is missing */
	/*
	 * The token endpoint answered an error status with no OAuth error in it
	 * (login, refresh, client credentials).  scauth_api_request() never
	 * returns it: the API's statuses are in its response.
	 */
	SCAUTH_EHTTP = -24,
};

/* Returns a static, human-readable name for an error code; never NULL. */
SCAUTH_API const char *scauth_strerror(int err);

/*
 * What a failure means for whoever has to act on it: the one classification
 * of the error codes, so that a front end maps classes (to exit codes, to PAM
 * results) and a new code is sorted into its class once.
 */
enum scauth_err_kind {
	SCAUTH_KIND_NONE = 0,      /* SCAUTH_OK */
	SCAUTH_KIND_LOGIN,         /* a login is needed: none, revoked, refused token, unreadable record */
	SCAUTH_KIND_DENIED,        /* this login was refused: denied, wrong state */
	SCAUTH_KIND_UNAVAILABLE,   /* the server or the network failed, or answered nonsense */
	SCAUTH_KIND_TEMPORARY,     /* try again later: rate limited, lock held, store not writable */
	SCAUTH_KIND_CONFIG,        /* configuration of the app or the machine, an unsafe file */
	SCAUTH_KIND_MISSING,       /* a library this needs is not installed */
	SCAUTH_KIND_INPUT,         /* the caller's argument or a person's input is invalid */
	SCAUTH_KIND_LOCAL,         /* out of memory, a system call, a bug, an API error status */
};

/* The class of err; SCAUTH_KIND_LOCAL for a code this version does not know. */
SCAUTH_API enum scauth_err_kind scauth_err_kind(int err);

/* The two grant slots of a profile. */
enum scauth_grant {
	SCAUTH_GRANT_USER = 0,     /* a person's login (Authorization Code + PKCE) */
	SCAUTH_GRANT_APP = 1,      /* the application's own token (Client Credentials) */
};

/* ------------------------------------------------------------------------ */
/* Context: configuration, store and network state of one profile. */

typedef struct scauth_ctx scauth_ctx;

/*
 * Flags for scauth_ctx_new().
 *
 * SCAUTH_CTX_NO_ENV: no environment variable is read, by the library or by
 * libcurl, OpenSSL and libpq on its behalf: they are loaded and initialised,
 * and libpq connects, with the variables they read (SSLKEYLOGFILE, CURL_*,
 * OPENSSL_*, SSL_CERT_*, every *_proxy, PG*, KRB5*, LDAP*) hidden and HOME
 * set to the context's home, and requests set no proxy and explicit CA
 * locations.  The application's environment is left as it was, but while a
 * library loads or libpq connects, environ points at the filtered copy.
 * Those swaps happen under one process-wide lock, which every load, every
 * libpq connection and every request of a context without the flag (libcurl
 * looks for its proxy then) of the library takes, so that threads with
 * contexts of their own (with the flag or without) never interleave them,
 * never read a filtered copy by mistake, and environ is always the
 * application's own array again when the call returns; a NO_ENV connection
 * to the database holds the lock while it connects (at most its connect
 * timeout).  The application's own threads do not take that lock: one that
 * reads the environment meanwhile may see the filtered copy (it is never
 * freed, so the read is safe), and none may change the environment while
 * another thread loads a library or connects with this flag.  A library's
 * one-time initialisation (libcurl's reading of SSLKEYLOGFILE, OpenSSL's
 * configuration) is done by the first context that loads it: in a process
 * that mixes contexts with and without the flag, make the first use one
 * with the flag to keep the caller's variables from every context.  A
 * process running with AT_SECURE (set-user-ID, set-group-ID, file
 * capabilities) always gets this flag, since its environment is its caller's.
 */
#define SCAUTH_CTX_NO_ENV      0x1u /* ignore the environment and the user's config (PAM) */
#define SCAUTH_CTX_ROOT_CONFIG 0x2u /* config files must be root-owned, not group/other-writable */

/* Options for scauth_ctx_setopt(); each must be set before scauth_ctx_load(). */
enum scauth_opt {
	SCAUTH_OPT_CONFIG_FILE = 1, /* the --config file (default $SOUNDCLOUD_AUTH_CONFIG) */
	SCAUTH_OPT_PROFILE,         /* profile name (default $SOUNDCLOUD_AUTH_PROFILE, else "default") */
	SCAUTH_OPT_STATE_DIR,       /* store directory (default $XDG_STATE_HOME/soundcloud-auth) */
	SCAUTH_OPT_HOME,            /* home directory for the XDG defaults (default $HOME, else passwd) */
};

/*
 * Allocates an unloaded context.  Returns SCAUTH_OK or SCAUTH_ENOMEM; *ctxp
 * owns the context, free it with scauth_ctx_free().
 */
SCAUTH_API int scauth_ctx_new(scauth_ctx **ctxp, unsigned flags);

/* Sets an option (copied).  NULL restores the default.  SCAUTH_EINVAL after load. */
SCAUTH_API int scauth_ctx_setopt(scauth_ctx *ctx, enum scauth_opt opt, const char *value);

/*
 * Sets one configuration key as given on a command line; it wins over every
 * other source.  client_secret is refused (SCAUTH_EINVAL): secrets never come
 * from argv.
 */
SCAUTH_API int scauth_ctx_set(scauth_ctx *ctx, const char *key, const char *value);

/*
 * Receives one line per traced event (HTTP request: method, URL, status,
 * milliseconds; broker decisions: cache hit, lock wait, refresh).  Lines never
 * hold a secret and have no trailing newline.
 */
typedef void scauth_trace_fn(void *arg, const char *line);
SCAUTH_API void scauth_ctx_set_trace(scauth_ctx *ctx, scauth_trace_fn *fn, void *arg);

/*
 * Resolves the configuration: command line, environment, --config file,
 * $XDG_CONFIG_HOME/soundcloud-auth/config, /etc/soundcloud-auth.conf; first
 * found wins per key, a [profile NAME] section wins over the top level of the
 * same file.  Returns SCAUTH_OK or SCAUTH_ECONFIG (detail in scauth_errmsg()).
 */
SCAUTH_API int scauth_ctx_load(scauth_ctx *ctx);

/*
 * Returns the resolved value of a non-secret configuration key ("api_url",
 * "redirect_uri", "profile", "store", ...), or NULL when unset or secret.
 * Owned by the context.
 */
SCAUTH_API const char *scauth_ctx_get(const scauth_ctx *ctx, const char *key);

/*
 * Returns "host" or "host:port" of api_url exactly as git sends host= for it,
 * or NULL if api_url is not a valid https URL.  Owned by the context.
 */
SCAUTH_API const char *scauth_ctx_api_host(const scauth_ctx *ctx);

/*
 * Writes where the loaded context's tokens live, for people ("the Secret
 * Service (...)", a directory, a keyring), into buf; never a secret.
 * Returns buf ("" when the context is not loaded).
 */
SCAUTH_API const char *scauth_ctx_store_where(const scauth_ctx *ctx, char *buf, size_t len);

/*
 * Returns a message for the last failure on this context ("what: why"), or
 * "" if none.  Never holds a secret.  Valid until the next call on ctx.
 */
SCAUTH_API const char *scauth_errmsg(const scauth_ctx *ctx);

/*
 * The resolved timeout setting: seconds one HTTP request may take (1-600,
 * default 30).  0 before scauth_ctx_load().
 */
SCAUTH_API int scauth_ctx_timeout(const scauth_ctx *ctx);

/* 1 if name is a valid profile name: 1-64 of [A-Za-z0-9._-], not starting with '.'. */
SCAUTH_API int scauth_profile_valid(const char *name);

/* Wipes and frees the context.  NULL is allowed. */
SCAUTH_API void scauth_ctx_free(scauth_ctx *ctx);

/* ------------------------------------------------------------------------ */
/* Tokens. */

typedef struct scauth_token scauth_token;

/* The access token: a secret, owned by t.  NULL if it was invalidated. */
SCAUTH_API const char *scauth_token_access(const scauth_token *t);
/* Absolute expiry of the access token (0 if unknown). */
SCAUTH_API time_t scauth_token_expires(const scauth_token *t);
/* When the access token was obtained. */
SCAUTH_API time_t scauth_token_obtained(const scauth_token *t);
/*
 * The host that obtained it (a login or a refresh), where the store keeps
 * that (store = postgres: which machine of the fleet); NULL otherwise.
 */
SCAUTH_API const char *scauth_token_obtained_by(const scauth_token *t);
/*
 * Until when ctx hands t out without renewing it: the expiry minus
 * refresh_margin (the default margin counts at most half the token's life).
 * 0 when the expiry is unknown.
 */
SCAUTH_API time_t scauth_token_fresh_until(const scauth_ctx *ctx, const scauth_token *t);
/*
 * 1 if scauth_token_get() would hand t out as it is (an access token is held
 * and, when its expiry is known, it is before scauth_token_fresh_until()).
 */
SCAUTH_API int scauth_token_fresh(const scauth_ctx *ctx, const scauth_token *t);
/* Granted scope, "" if none. */
SCAUTH_API const char *scauth_token_scope(const scauth_token *t);
/* Identity of a user grant: urn ("soundcloud:users:N"), permalink, username; NULL if unknown. */
SCAUTH_API const char *scauth_token_urn(const scauth_token *t);
SCAUTH_API const char *scauth_token_permalink(const scauth_token *t);
SCAUTH_API const char *scauth_token_username(const scauth_token *t);
/*
 * An opaque label stored with the grant: 1-128 printable ASCII characters
 * without spaces, or NULL to clear it.  It lets a caller tell its own stored
 * grant from another's, such as a login staged for one PAM transaction.
 * SCAUTH_EINVAL for a label outside those rules.
 */
SCAUTH_API int scauth_token_set_label(scauth_token *t, const char *label);
/* The label, or NULL when none. */
SCAUTH_API const char *scauth_token_label(const scauth_token *t);
/* 1 if the grant can be renewed without a login (a refresh token is held). */
SCAUTH_API int scauth_token_renewable(const scauth_token *t);
/* Wipes and frees.  NULL is allowed. */
SCAUTH_API void scauth_token_free(scauth_token *t);

/*
 * Hands out a valid access token for the grant, with the least network work:
 * a cached token that is still fresh (expiry minus refresh_margin) is returned
 * without loading any network library; otherwise, under an exclusive
 * per-profile lock and after re-reading the store, the token is refreshed (or,
 * for SCAUTH_GRANT_APP, obtained with client credentials) and the rotated
 * refresh token is stored durably before it returns.
 * Errors: SCAUTH_ELOGIN (no grant, or invalid_grant: the stored grant was
 * erased), SCAUTH_ELOCKED, SCAUTH_ERATELIMIT (no request is made until the
 * server's reset time), network and server errors.
 */
SCAUTH_API int scauth_token_get(scauth_ctx *ctx, enum scauth_grant grant, scauth_token **out);

/* Reads the stored grant without any network work; it may be expired. SCAUTH_ELOGIN if none. */
SCAUTH_API int scauth_token_peek(scauth_ctx *ctx, enum scauth_grant grant, scauth_token **out);

/*
 * Reads the stored grant from the store's own source of truth, for a status
 * display: with store = postgres one query to the database (no lock, no token
 * request, the machine's local copy left as it is), so that it shows what the
 * fleet holds now; the same as scauth_token_peek() with the other stores.
 * SCAUTH_ELOGIN if none; the store's errors (database unreachable: SCAUTH_ESTORE).
 */
SCAUTH_API int scauth_token_inspect(scauth_ctx *ctx, enum scauth_grant grant, scauth_token **out);

/*
 * Drops the stored access token if it equals access_token (compared in
 * constant time), or unconditionally when access_token is NULL.  The refresh
 * token stays, so the next scauth_token_get() refreshes.  A token that is not
 * the stored one is ignored (SCAUTH_OK).
 */
SCAUTH_API int scauth_token_invalidate(scauth_ctx *ctx, enum scauth_grant grant, const char *access_token);

/* Stores t as the grant (replacing what was there), e.g. after a login. */
SCAUTH_API int scauth_token_save(scauth_ctx *ctx, enum scauth_grant grant, const scauth_token *t);

/* Erases the stored grant locally.  SCAUTH_OK if there was none. */
SCAUTH_API int scauth_token_erase(scauth_ctx *ctx, enum scauth_grant grant);

/*
 * SCAUTH_OK when the store could keep (or remove) the grant now, checked
 * without writing and without a request to the server: for a login to call
 * before it asks for a grant that a locked keyring could not keep (nor a
 * second one be put beside the locked one).  SCAUTH_ESTORE ("the keyring is
 * locked" ...) otherwise; stores that are always ready return SCAUTH_OK.
 */
SCAUTH_API int scauth_token_storable(scauth_ctx *ctx, enum scauth_grant grant);

/*
 * Signs the user grant out at the server (POST signout_url with its access
 * token, refreshed first if needed), then erases it locally whatever the
 * server said.  A store that could not erase it (a locked keyring) is found
 * before the sign-out, which is then not sent.  Returns SCAUTH_OK, or the
 * server-side error after the local erase succeeded, or the local error.
 */
SCAUTH_API int scauth_logout(scauth_ctx *ctx);

/* ------------------------------------------------------------------------ */
/* The fleet store (store = postgres). */

/* Flags for scauth_fleet_init(). */
#define SCAUTH_FLEET_NEW_KEY 0x1u  /* first write a new random key to seal_key_file */

/*
 * Prepares the database named by the `postgres` key: creates the table when
 * it is missing (idempotent, safe on many machines at once) and checks that
 * seal_key_file is a usable key that opens the records already there.  With
 * SCAUTH_FLEET_NEW_KEY it first writes 32 random bytes to seal_key_file
 * (mode 0600), never over an existing file (SCAUTH_ECONFIG).  Errors:
 * SCAUTH_ECONFIG (key, credentials, privileges), SCAUTH_EUNSAFE (key file
 * mode or owner), SCAUTH_ESTORE (server unreachable), SCAUTH_ENOLIB (no libpq).
 */
SCAUTH_API int scauth_fleet_init(scauth_ctx *ctx, unsigned flags);

/* ------------------------------------------------------------------------ */
/* API calls. */

typedef struct scauth_response scauth_response;

/*
 * Makes one API request with "Authorization: OAuth <token>" for the grant.
 * path is "/..." relative to api_url (a full URL is refused so that the token
 * never leaves api_url's origin).  body may be NULL; content_type defaults to
 * application/json when a body is given.  On a 401 the access token is
 * invalidated, refreshed once and the request retried once.  Any other status
 * is SCAUTH_OK with the status in the response; a second 401 is SCAUTH_ETOKEN.
 */
SCAUTH_API int scauth_api_request(scauth_ctx *ctx, enum scauth_grant grant, const char *method,
                                  const char *path, const char *body, size_t bodylen,
                                  const char *content_type, scauth_response **out);
SCAUTH_API long scauth_response_status(const scauth_response *r);
/* The body (not NUL-terminated in general; *len receives its length). */
SCAUTH_API const char *scauth_response_body(const scauth_response *r, size_t *len);
SCAUTH_API void scauth_response_free(scauth_response *r);

/* ------------------------------------------------------------------------ */
/* Login: Authorization Code with PKCE. */

typedef struct scauth_login scauth_login;

/*
 * Starts a login: a fresh PKCE verifier (S256) and state, and the authorize
 * URL.  Needs client_id.  Free with scauth_login_free() (wipes the verifier).
 */
SCAUTH_API int scauth_login_begin(scauth_ctx *ctx, scauth_login **out);

/*
 * The authorize URL (not a secret, but its state must reach nobody else):
 * what a person is shown, to open or copy.  Owned by lg.
 */
SCAUTH_API const char *scauth_login_url(const scauth_login *lg);

/*
 * The one-time start address on the listener, once scauth_login_listen()
 * succeeded (NULL before, and in paste mode): it redirects to the authorize
 * URL and sets a cookie.  A second visit to it, or (after it was visited) a
 * redirect without its cookie, ends scauth_login_wait() with SCAUTH_ESTATE.
 * Never put it on a command line, where any local user reads it in /proc
 * and may run the whole flow with their own account before a slow browser
 * gets there: hand a browser scauth_login_page() instead.  Owned by lg.
 */
SCAUTH_API const char *scauth_login_start_url(const scauth_login *lg);

/*
 * The address to hand a browser that the front end starts itself, once
 * scauth_login_listen() succeeded: "file://" followed by the path of a page
 * that forwards to the start address (no script), readable by the caller
 * alone.  The page is the only file in a directory made for it (0700) in
 * $XDG_RUNTIME_DIR/soundcloud-auth when the runtime directory is the
 * caller's and closed to others, else in $TMPDIR or /tmp; the path needs no
 * escaping in the URL.  Written on the first call; the page and its
 * directory are removed when scauth_login_wait() got the redirect and by
 * scauth_login_free().  A front end ended by a signal may remove them itself
 * (unlink() the path, rmdir() its directory).  *address is owned by lg.
 */
SCAUTH_API int scauth_login_page(scauth_ctx *ctx, scauth_login *lg, const char **address);

/*
 * Binds the loopback (or LAN) listener on redirect_uri's host and port.
 * Call before showing the URL so that the redirect cannot arrive early.
 * SCAUTH_ESYSTEM (detail says why) when it cannot listen: fall back to paste.
 */
SCAUTH_API int scauth_login_listen(scauth_ctx *ctx, scauth_login *lg);

/*
 * Waits up to timeout_sec for the redirect on the listener.  Requests with a
 * wrong state or path get an error page and the wait goes on; the matching
 * one gets a success page.  An error= redirect with the right state ends the
 * wait with SCAUTH_EDENIED (or the mapped error) and its error_description in
 * scauth_errmsg().  SCAUTH_ETIMEOUT when the time runs out.
 */
SCAUTH_API int scauth_login_wait(scauth_ctx *ctx, scauth_login *lg, int timeout_sec);

/*
 * Takes what a person pasted: the whole redirect URL (its state is checked)
 * or the bare code.  Surrounding white space is ignored.
 */
SCAUTH_API int scauth_login_paste(scauth_ctx *ctx, scauth_login *lg, const char *input);

/*
 * Exchanges the code (with the verifier and the same redirect_uri) and reads
 * /me for the identity.  The token is not stored: see scauth_token_save().
 */
SCAUTH_API int scauth_login_finish(scauth_ctx *ctx, scauth_login *lg, scauth_token **out);

/*
 * Phone login through the relay (relay_url): pairs the login with a phone
 * through the fleet's database (postgres): a row with a short code, the
 * login's state and PKCE challenge, living 10 minutes.  A person opens
 * relay_url on a phone and types the code; the relay sends the phone to
 * SoundCloud and stores the redirect's code, which only this login (its
 * verifier, the client secret) can redeem.  scauth_login_wait() then waits
 * on the database (LISTEN, and a re-check every few seconds) and takes the
 * code once; redirect_uri must be the relay's callback.  Errors:
 * SCAUTH_ECONFIG (relay_url or postgres unset), the database's
 * (SCAUTH_ESTORE when it cannot be reached), SCAUTH_ENOLIB (no libpq).
 * scauth_login_wait() on a paired login: SCAUTH_ELOGIN once the pairing
 * expired, SCAUTH_EDENIED (or the mapped error) with the description for an
 * error= redirect, SCAUTH_ETIMEOUT when the time ran out (it still waits).
 */
SCAUTH_API int scauth_login_pair(scauth_ctx *ctx, scauth_login *lg);
/* The code to type, "XXXX-XXXX"; NULL before scauth_login_pair().  Owned by lg. */
SCAUTH_API const char *scauth_login_pair_code(const scauth_login *lg);
/* relay_url as a person reads it: without "https://".  Owned by lg. */
SCAUTH_API const char *scauth_login_pair_address(const scauth_login *lg);
/* relay_url with "code=XXXXXXXX" added, for a QR code.  Owned by lg. */
SCAUTH_API const char *scauth_login_pair_link(const scauth_login *lg);
/*
 * Deletes the pairing if it was not taken (a login given up or abandoned),
 * so that the code cannot be used any more; keeps scauth_errmsg().  Free the
 * login with scauth_login_free() afterwards, before its context.
 */
SCAUTH_API void scauth_login_unpair(scauth_ctx *ctx, scauth_login *lg);

/* Closes the listener, wipes and frees.  NULL is allowed. */
SCAUTH_API void scauth_login_free(scauth_login *lg);

/* The longest answer scauth_login_paste() takes, white space trimmed. */
#define SCAUTH_PASTE_MAX 8192

/* The steps of scauth_login_run(), for step_failed. */
enum scauth_login_step {
	SCAUTH_STEP_BEGIN = 1,     /* scauth_login_begin */
	SCAUTH_STEP_LISTEN,        /* scauth_login_listen: the login goes on with a paste */
	SCAUTH_STEP_SHOW,          /* the show_url callback */
	SCAUTH_STEP_WAIT,          /* scauth_login_wait */
	SCAUTH_STEP_PASTE,         /* the ask_paste callback, or scauth_login_paste */
	SCAUTH_STEP_FINISH,        /* scauth_login_finish */
	SCAUTH_STEP_BROWSER,       /* scauth_login_page: no browser is started, the login goes on */
	SCAUTH_STEP_PAIR,          /* scauth_login_pair (ui->relay) */
};

/* How scauth_login_run() talks to the person; arg is passed to each callback. */
struct scauth_login_ui {
	/*
	 * sizeof(struct scauth_login_ui) as the caller was compiled: the
	 * library reads only the members it covers, so that members added at
	 * the end in a later release leave older callers working.
	 */
	size_t size;
	void *arg;
	int paste;                 /* ask for a paste instead of listening */
	int timeout_sec;           /* how long to wait for the redirect */
	/*
	 * Shows the URL to open; paste says whether a paste is asked for next
	 * (no listener).  Returns 0, or a negative SCAUTH_E* that ends the login.
	 */
	int (*show_url)(void *arg, const char *url, int paste);
	/*
	 * Reads what the person pasted into buf (size bytes, NUL-terminated):
	 * the redirect URL or the bare code.  Returns 0, or a negative SCAUTH_E*
	 * that ends the login.  buf is wiped afterwards.
	 */
	int (*ask_paste)(void *arg, const char *url, char *buf, size_t size);
	/* Optional: a step failed with err (scauth_errmsg() says why). */
	void (*step_failed)(void *arg, enum scauth_login_step step, int err);
	/*
	 * Optional: starts a browser on address, right after show_url: the
	 * file:// address of the page that forwards to the start address when
	 * listening (scauth_login_page(), removed when scauth_login_run()
	 * returns), the authorize URL for a paste.  Not called when the page
	 * cannot be written (step_failed is told, with SCAUTH_STEP_BROWSER).
	 */
	void (*start_browser)(void *arg, const char *address);
	/*
	 * A phone login through the relay instead (scauth_login_pair()):
	 * show_pairing and not show_url, no listener, no paste, no browser.
	 */
	int relay;
	/*
	 * Shows what the person does on the phone: open address (relay_url
	 * without "https://") and type code ("XXXX-XXXX"); link is relay_url
	 * with the code, for a QR code.  Returns 0, or a negative SCAUTH_E*
	 * that ends the login.
	 */
	int (*show_pairing)(void *arg, const char *address, const char *code, const char *link);
	/*
	 * Optional, for a wait driven by prompts: asks the person to confirm
	 * (Enter) that the phone is done, left seconds before the wait ends;
	 * again is 0 the first time, 1 when the login had not come after the
	 * last answer.  Returns 0 when answered, or a negative SCAUTH_E* that
	 * ends the login.  Without it the wait is on the database alone.
	 */
	int (*confirm)(void *arg, int left, int again);
	/*
	 * Optional, for a wait on the database (relay): asked whenever a signal
	 * interrupts the wait, and between its re-checks; nonzero ends the login
	 * with SCAUTH_ELOGIN and deletes the pairing, so that a front end whose
	 * signal handler only sets a flag (SIGTERM, SIGHUP, SIGINT) leaves no
	 * live code behind.  Added last, so that every member before it keeps
	 * its offset.
	 */
	int (*stopped)(void *arg);
};

/*
 * The whole login, written once over the calls above: begin; with
 * ui->relay, pair, show the pairing, wait (asking ui->confirm between
 * short waits when given), finish, and delete the pairing when the login
 * fails.  Otherwise: listen unless
 * ui->paste; show the URL (and start the browser on the page that forwards to
 * the start address);
 * wait for the redirect, or ask for a paste; finish.  A listener that cannot
 * be opened ends the login with SCAUTH_EUNAVAIL at SCAUTH_STEP_LISTEN
 * (scauth_errmsg() names the address and port), since whoever holds the port
 * would get the redirect; only an https redirect_uri, which cannot be
 * listened on, goes on with a paste (step_failed is told, with ESYSTEM).  *out receives
 * the token (not stored: see scauth_token_save()).
 */
SCAUTH_API int scauth_login_run(scauth_ctx *ctx, const struct scauth_login_ui *ui,
                                scauth_token **out);

#ifdef __cplusplus
}
#endif
#endif /* SCAUTH_H */
