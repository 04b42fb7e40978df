/*
 * internal.h - what the modules of libscauth share.  Not installed.
 *
 * Layering (calls go down only):
 *   broker.c login_run.c     token lifecycle, the login driver (public API)
 *   login.c                  the login steps: begin, listen, wait, paste, finish
 *   oauth.c  listen.c        token endpoint grants, callback listener
 *   pair.c                   the pairing with a phone through the relay (over pg.c)
 *   login_page.c             the browser's page that forwards to the start address
 *   store.c                  records in slots, the backend registry, store_lock()
 *   store_file.c store_keyring.c store_postgres.c lock.c record.c seal.c pg.c
 *   fleet.c                  storage backends (one table of operations each),
 *                            the profile's flock, the record format, the
 *                            fleet's id and each machine's memory of it
 *   http.c json.c config.c   one request, parsers, configuration
 *   dl.c encode.c url.c secret.c error.c pkce.c   foundations
 */
#ifndef SCAUTH_INTERNAL_H
#define SCAUTH_INTERNAL_H

#ifndef SCAUTH_BUILDING
#define SCAUTH_BUILDING
#endif
#include "scauth.h"
#include "frontend.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define HIDDEN __attribute__((visibility("hidden")))
#define PRINTF(f, a) __attribute__((format(printf, f, a)))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Named caps: every buffer filled from outside has one. */
#define MAX_TOKEN_RESPONSE   (64 * 1024)        /* token endpoint answer */
#define MAX_API_RESPONSE     (16 * 1024 * 1024) /* one API answer */
#define MAX_ERROR_BODY       (64 * 1024)        /* error bodies we bother to parse */
#define MAX_ME_BODY          (1024 * 1024)      /* a /me answer: a few KiB in practice */
#define MAX_JSON_DEPTH       32
#define MAX_RECORD           (16 * 1024)        /* one stored grant */
#define MAX_CONFIG_FILE      (64 * 1024)
#define MAX_SECRET_FILE      4096
#define MAX_TOKEN_LEN        4096               /* an access or refresh token */
#define MAX_CALLBACK_REQUEST 8192               /* the redirect request head */
#define MAX_PROFILE_LEN      64
#define ERRMSG_LEN           512

/* ------------------------------------------------------------------------ */
/* secret.c: buffers for secrets, wiped on grow, reset and free. */

struct sbuf {
	char *p;        /* NUL-terminated when cap > 0 */
	size_t len;
	size_t cap;
	size_t max;     /* cap on len; 0 means MAX_API_RESPONSE */
};
#define SBUF_INIT(maxlen) { NULL, 0, 0, (maxlen) }

/* Appends; SCAUTH_ENOMEM, or SCAUTH_EPROTO when len would pass max. */
HIDDEN int sbuf_add(struct sbuf *b, const void *data, size_t n);
HIDDEN int sbuf_addstr(struct sbuf *b, const char *s);
HIDDEN int sbuf_addch(struct sbuf *b, char c);
HIDDEN int sbuf_addf(struct sbuf *b, const char *fmt, ...) PRINTF(2, 3);
/* Returns the NUL-terminated contents ("" when empty). */
HIDDEN const char *sbuf_str(const struct sbuf *b);
/* Wipes the contents, keeps the allocation. */
HIDDEN void sbuf_reset(struct sbuf *b);
/* Wipes and frees; b is reusable afterwards. */
HIDDEN void sbuf_free(struct sbuf *b);
/* Transfers the contents as a string to free with sfree(); b is left empty. */
HIDDEN char *sbuf_steal(struct sbuf *b);

/* Secret strings: copies whose free wipes them. */
HIDDEN char *sstrdup(const char *s);
HIDDEN char *sstrndup(const char *s, size_t n);
HIDDEN void sfree(char *s);
/* 1 if equal; time depends only on the lengths. NULLs compare unequal. */
HIDDEN int ct_streq(const char *a, const char *b);

/* ------------------------------------------------------------------------ */
/* encode.c: base64, URL encodings, query strings. */

/* Standard base64 with padding, or base64url without (url != 0).  sfree() the result. */
HIDDEN char *b64_encode(const void *in, size_t n, int url);
/* Appends s percent-encoded; form != 0: application/x-www-form-urlencoded (space as '+'). */
HIDDEN int url_escape(struct sbuf *out, const char *s, int form);
/* Appends the decoded s[0..n); '+' is a space when form.  SCAUTH_EINVAL on bad escapes or %00. */
HIDDEN int url_unescape(struct sbuf *out, const char *s, size_t n, int form);
/*
 * Finds key in an a=b&c=d query (form-decoded).  Returns 1 and fills out when
 * present once, 0 when absent, SCAUTH_EINVAL when malformed or present twice.
 */
HIDDEN int query_get(const char *query, size_t n, const char *key, struct sbuf *out);

/* ------------------------------------------------------------------------ */
/* url.c: the strict subset of URLs we accept. */

struct url {
	char *scheme;   /* "https" or "http", lower case */
	char *host;     /* without brackets for IPv6 */
	char *port;     /* NULL when absent */
	char *path;     /* "/" at least */
	char *query;    /* NULL when absent; without '?' */
	int ipv6;       /* host was [bracketed] */
};
/* Parses scheme://host[:port][/path][?query]; no userinfo, no fragment. SCAUTH_EINVAL otherwise. */
HIDDEN int url_parse(const char *s, struct url *u);
HIDDEN void url_free(struct url *u);

/* ------------------------------------------------------------------------ */
/* Configuration (config.c). */

enum cfg_key {
	CFG_CLIENT_ID,
	CFG_CLIENT_SECRET,
	CFG_CLIENT_SECRET_FILE,
	CFG_REDIRECT_URI,
	CFG_SCOPE,
	CFG_AUTHORIZE_URL,
	CFG_TOKEN_URL,
	CFG_SIGNOUT_URL,
	CFG_API_URL,
	CFG_ISSUER,
	CFG_CA_FILE,
	CFG_STORE,
	CFG_KEYRING,
	CFG_REFRESH_MARGIN,
	CFG_TIMEOUT,
	CFG_POSTGRES,
	CFG_SEAL_KEY_FILE,
	CFG_POSTGRES_CONNECT_TIMEOUT,
	CFG_POSTGRES_TIMEOUT,
	CFG_POSTGRES_LOCK_TIMEOUT,
	CFG_RELAY_URL,
	CFG_NKEYS
};

/* Returns the key's index, or -1 when unknown. */
HIDDEN int cfg_key_index(const char *name);

/*
 * The pure INI parser (fuzzed): calls cb for each "key = value" line, with
 * in_profile 0 at the top level, 1 inside the [profile NAME] section of
 * profile, -1 inside another profile's section.
 * Comments start with '#' or ';'; values keep inner '=' and spaces, lose
 * surrounding blanks, may be "double-quoted".  Returns 0, a negative code
 * from cb, or SCAUTH_ECONFIG with "line N: why" in err.
 */
typedef int cfg_line_fn(void *arg, const char *key, const char *value, int in_profile, int lineno);
HIDDEN int config_parse(const char *text, size_t len, const char *profile, cfg_line_fn *cb,
                        void *arg, char *err, size_t errlen);

/* Resolves everything (scauth_ctx_load). */
HIDDEN int config_load(scauth_ctx *ctx);

/* The client secret, read lazily from client_secret(_file); owned by ctx. SCAUTH_ECONFIG if none. */
HIDDEN int config_client_secret(scauth_ctx *ctx, const char **out);

/* Profile names: [A-Za-z0-9._-], 1..MAX_PROFILE_LEN, not starting with '.'. */
HIDDEN int profile_valid(const char *name);

/* ------------------------------------------------------------------------ */
/* dl.c: libraries loaded on first use. */

struct curl_fns;   /* defined in http.c's view of dl.h */
struct crypto_fns;
struct pq_fns;
/*
 * The library's table, loaded and initialised once per process (shielded
 * under SCAUTH_CTX_NO_ENV), kept in the context.  SCAUTH_ENOLIB.
 */
HIDDEN int dl_curl(scauth_ctx *ctx, const struct curl_fns **out);
HIDDEN int dl_crypto(scauth_ctx *ctx, const struct crypto_fns **out);
/* A symbol to resolve into a table of function pointers, at offset. */
struct dl_sym {
	const char *name;
	size_t offset;
};
/*
 * Opens the first of names that loads and resolves every symbol into table,
 * for a library a backend keeps itself (libsecret), under the lock for
 * reading.  SCAUTH_ENOLIB.
 */
HIDDEN int dl_load(scauth_ctx *ctx, const char *const *names, const struct dl_sym *syms,
                   size_t nsyms, void **handlep, void *table);
HIDDEN int dl_pq(scauth_ctx *ctx, const struct pq_fns **out);
/*
 * With SCAUTH_CTX_NO_ENV, points environ at a copy without the variables that
 * libcurl, OpenSSL and libpq read (dl.c), with HOME set to the context's own,
 * until dl_shield_off(), which puts the application's array (not modified)
 * back.  Holds a process-wide lock until dl_shield_off(): for writing with
 * the flag, so that no two swaps interleave; for reading without it, so that
 * what runs in between never sees another thread's copy.  Call nothing in
 * between that shields or loads a library (dl_curl, dl_crypto, dl_pq).
 */
struct env_shield {
	char **saved;   /* the application's environ, while the filtered copy is in place */
	int locked;     /* the lock is held */
};
HIDDEN int dl_shield_on(scauth_ctx *ctx, struct env_shield *sh);
HIDDEN void dl_shield_off(struct env_shield *sh);
/*
 * A user of a loaded library (pg.c's connection, secret_service.c's proxy)
 * registers what releases what it keeps in the context; dl_release() calls
 * each once, and knows nothing of them.  Registering one twice is one.
 */
#define DL_NRELEASE 4
HIDDEN void dl_on_release(scauth_ctx *ctx, void (*release)(scauth_ctx *ctx));
/* Drops the context's connections; the libraries stay loaded for the process. */
HIDDEN void dl_release(scauth_ctx *ctx);
/* How many times this process loaded each library: 1 once it did (for tests). */
enum dl_lib { DL_CURL, DL_CRYPTO, DL_PQ, DL_JSON, DL_KEYUTILS, DL_NLIBS };
HIDDEN unsigned dl_load_count(enum dl_lib which);

/* ------------------------------------------------------------------------ */
/* The context. */

struct store_backend;

/*
 * The modules that keep a part of their own in a context (a struct private
 * to their file), as a store backend keeps store_state.
 */
enum ctx_mod {
	MOD_PG,         /* pg.c: the database connection and its limits */
	MOD_SS,         /* secret_service.c: libsecret and its proxy */
	MOD_N
};

struct scauth_ctx {
	unsigned flags;
	int loaded;
	char *opt[SCAUTH_OPT_HOME + 1];   /* scauth_ctx_setopt() values */
	char *home;                        /* the home directory resolved by load */
	char *cli[CFG_NKEYS];              /* scauth_ctx_set() values */
	char *cfg[CFG_NKEYS];              /* resolved values; client_secret is a secret */
	int rank[CFG_NKEYS];               /* which source each came from (config.c) */
#define CFG_RANK_DEFAULT 100               /* rank of a value nobody set */
	char *secret;                      /* resolved client secret (lazy), a secret */
	char *profile;
	char *state_dir;
	char *api_host;
	long refresh_margin;
	long timeout;
	const struct store_backend *store; /* store = NAME (store.c) */
	void *store_state;                 /* the backend's own, freed by its release hook */
	int store_locked;                  /* store_lock() is held (store.c) */
	scauth_trace_fn *trace;
	void *trace_arg;
	struct curl_fns *curl;             /* the process's (dl.c) */
	void *easy;                        /* CURL *, kept for connection reuse */
	struct crypto_fns *crypto;
	/* Each module's own part, made on its first use and freed by its release hook. */
	void *mod[MOD_N];
	/* What the libraries' users hold in this context, released by dl_release (dl.c). */
	void (*release[DL_NRELEASE])(scauth_ctx *ctx);
	char err[ERRMSG_LEN];
};

/* ------------------------------------------------------------------------ */
/* error.c: errors and traces. */

/* Records "fmt..." as the detail of the failure and returns code. */
HIDDEN int ctx_err(scauth_ctx *ctx, int code, const char *fmt, ...) PRINTF(3, 4);
/* Same, with ": strerror(errno)" appended. */
HIDDEN int ctx_errno(scauth_ctx *ctx, int code, const char *fmt, ...) PRINTF(3, 4);
HIDDEN void ctx_clear_err(scauth_ctx *ctx);
/* One trace line, when tracing is on. */
HIDDEN void ctx_trace(scauth_ctx *ctx, const char *fmt, ...) PRINTF(2, 3);
/* Seconds since the epoch; one place so that tests see one clock. */
HIDDEN time_t now(void);
/* "YYYY-MM-DD HH:MM:SS UTC" for messages. */
HIDDEN void format_utc(time_t t, char *buf, size_t len);
/* Milliseconds of CLOCK_MONOTONIC, for deadlines. */
HIDDEN long long mono_ms(void);

/* ------------------------------------------------------------------------ */
/* pkce.c */

#define PKCE_VERIFIER_LEN 43   /* 32 random bytes, base64url */
#define STATE_LEN 43           /* 256 random bits, base64url */

HIDDEN int random_bytes(scauth_ctx *ctx, void *buf, size_t n);
/* out must hold PKCE_VERIFIER_LEN + 1. */
HIDDEN int pkce_verifier(scauth_ctx *ctx, char *out);
/* BASE64URL(SHA256(verifier)) without padding; out must hold 44. Loads libcrypto. */
HIDDEN int pkce_challenge(scauth_ctx *ctx, const char *verifier, char *out);
/* out must hold STATE_LEN + 1. */
HIDDEN int random_state(scauth_ctx *ctx, char *out);
/* 1 if v is 43..128 chars of [A-Za-z0-9-._~]. */
HIDDEN int pkce_verifier_valid(const char *v);

/* ------------------------------------------------------------------------ */
/* http.c: one HTTPS request over libcurl. */

struct http_req {
	const char *method;        /* "GET", "POST", ... */
	const char *url;           /* https only */
	const char *authorization; /* whole header value, a secret; NULL for none */
	const char *content_type;  /* with a body */
	const char *accept;        /* NULL: application/json */
	const char *body;
	size_t bodylen;
	size_t max_body;           /* cap on the answer; 0: MAX_API_RESPONSE */
};

struct http_resp {
	long status;
	struct sbuf body;          /* wiped on free: may hold tokens */
	char *content_type;
	char *www_authenticate;
	char *location;
	long retry_after;          /* seconds; -1 when absent */
	long ms;                   /* time taken */
};

/*
 * Performs the request.  SCAUTH_OK whatever the status (the caller decides);
 * SCAUTH_ENETWORK, SCAUTH_ETLS, SCAUTH_ETIMEOUT, SCAUTH_EPROTO (answer over
 * the cap, malformed HTTP), SCAUTH_ENOLIB otherwise.  Never follows a redirect.
 */
HIDDEN int http_do(scauth_ctx *ctx, const struct http_req *req, struct http_resp *resp);
HIDDEN void http_resp_free(struct http_resp *resp);

/* ------------------------------------------------------------------------ */
/* json.c: the parsers for what servers send (fuzzed). */

struct token_reply {
	char *access;              /* secret */
	char *refresh;             /* secret; NULL when none was issued */
	char *scope;               /* NULL when absent */
	long expires_in;           /* -1 when absent */
};
/*
 * Parses a token endpoint success body: strict JSON object, depth and size
 * capped, no trailing data, access_token a non-empty string of printable
 * ASCII, token_type absent or bearer (any case), expires_in a non-negative
 * integer, unknown fields ignored.  SCAUTH_EPROTO with why filled otherwise.
 */
HIDDEN int json_token_reply(const char *body, size_t len, struct token_reply *out,
                            char *why, size_t whylen);
HIDDEN void token_reply_free(struct token_reply *r);

struct oauth_error {
	char error[64];            /* "invalid_grant", ... ("" if none) */
	char description[200];     /* printable ASCII only, may be "" */
	time_t reset_time;         /* from a SoundCloud 429 body; 0 if none */
};
/*
 * Recognises an error body: RFC 6749 {"error": ...}, SoundCloud's legacy
 * {"code":..,"message":..,"error_code":..} wrapper, and its 429 body with
 * errors[].meta.reset_time.  Returns 1 when recognised, 0 otherwise.
 */
HIDDEN int json_oauth_error(const char *body, size_t len, struct oauth_error *out);
/* Maps an OAuth error string to a SCAUTH_E* code. */
HIDDEN int oauth_error_code(const char *error);
/* Parses "YYYY/MM/DD HH:MM:SS +0000"; 0 on failure. */
HIDDEN time_t parse_reset_time(const char *s);

/*
 * json-c's flags for a body that json_validate() took, which is the strict
 * check: not JSON_TOKENER_STRICT, which json-c 0.18 (Debian 13) turns against
 * every byte >= 0x80 in a string, so that a /me with "Zoë" would not parse.
 */
#define JSON_PARSE_FLAGS 0

struct me_reply {
	char *urn;
	char *permalink;
	char *username;
};
HIDDEN int json_me_reply(const char *body, size_t len, struct me_reply *out, char *why, size_t whylen);
HIDDEN void me_reply_free(struct me_reply *m);

/*
 * The strict check every body passes before json-c sees it (exposed for the
 * tests and the fuzz target): RFC 8259, white space only as the RFC has it,
 * no raw control characters, lone surrogates or NaN, integers json-c can
 * hold, at most MAX_JSON_NESTING containers deep, nothing after the value;
 * no member name decoding to U+0000, and in the top-level object no name
 * twice and at most MAX_JSON_MEMBERS members (json.c says why).
 * Returns 0 when body[0..len) is one JSON object, 1 when it is one value of
 * another type, -1 with why set ("truncated", "nesting too deep", "unexpected
 * character at offset N", ...) otherwise.  *longest is then the most bytes
 * json-c's scratch buffer holds at once for it: the longest decoded string
 * (keys included), number, or literal and the byte after it.
 */
#define MAX_JSON_NESTING     (MAX_JSON_DEPTH - 1)   /* json-c takes one more */
#define MAX_JSON_MEMBERS     1024                   /* in the top-level object */
HIDDEN int json_validate(const char *body, size_t len, size_t *longest, char *why,
                         size_t whylen);
struct json_tokener;
struct json_object;
/* Makes tok's scratch buffer take n bytes of filler (json.c says why that wipes it). */
HIDDEN void json_scratch_fill(struct json_tokener *tok, size_t n);
/*
 * What the parsers above run, on a tokener of the caller's made with
 * json_tokener_new_ex(MAX_JSON_DEPTH): json_validate(), then json-c in strict
 * mode, the scratch buffer filled before and after.  Returns the object to
 * wipe and put, or NULL with why set ("<what> is not a JSON object", "invalid
 * JSON (...)", "empty body", "body is not text").
 */
HIDDEN struct json_object *json_parse_wiped(struct json_tokener *tok, const char *body,
                                            size_t len, const char *what, char *why,
                                            size_t whylen);

/* ------------------------------------------------------------------------ */
/* The stored grant: the record behind scauth_token (record.c). */

#define RECORD_VERSION 1

struct scauth_token {
	char *access;              /* secret; NULL when invalidated */
	char *refresh;             /* secret; NULL when none */
	time_t expires_at;         /* 0 unknown */
	time_t obtained_at;
	time_t retry_at;           /* rate limited until (app slot); 0 none */
	char *scope;
	char *urn;
	char *permalink;
	char *username;
	char *label;               /* the caller's own tag (scauth_token_set_label) */
	char *obtained_by;         /* the host that obtained the token (store_postgres.c) */
	/*
	 * 1 in a backend's local copy of a record (store_secret.c): the copy
	 * lacks the refresh token, which the store itself holds.  A flag kept
	 * as a time field so that it is written, parsed and copied like one.
	 */
	time_t refresh_held;
};

HIDDEN struct scauth_token *record_new(void);
/* Text lines "key value", first line "scauth-token 1"; values without CR/LF/NUL. */
HIDDEN int record_serialize(const struct scauth_token *t, struct sbuf *out);
/* Parses what record_serialize wrote (and what a future version may add). SCAUTH_ECORRUPT otherwise. */
HIDDEN int record_parse(const char *data, size_t len, struct scauth_token **out);
/* Same, with the reason (never quoting the input) in why on failure. */
HIDDEN int record_parse_why(const char *data, size_t len, struct scauth_token **out,
                            char *why, size_t whylen);
HIDDEN struct scauth_token *record_dup(const struct scauth_token *t);
/* A local copy of a grant held elsewhere: no refresh token (marked held), no access token unless keep_access. */
HIDDEN void record_reduce(struct scauth_token *t, int keep_access);
/* A copy given back gets whole's refresh token again (ENOMEM); refresh_held is cleared. */
HIDDEN int record_refill(struct scauth_token *t, const struct scauth_token *whole);

/* ------------------------------------------------------------------------ */
/* Storage: store.c (records in slots, the registry, the lock) over one
 * table of operations per backend (store_file.c, store_keyring.c). */

#define STORE_SLOT_LEN     (MAX_PROFILE_LEN + 16)   /* "<profile>.user" and room to spare */
#define STORE_DESCRIBE_LEN 4200                     /* a path, or a backend's words */

/*
 * A slot: one grant of one profile, and its name ("<profile>.user",
 * "<profile>.app"), made in one place (store.c) and passed to the backends
 * as a value, so that none builds or parses a name.
 */
struct store_slot {
	const char *profile;
	enum scauth_grant grant;
	const char *grant_name;         /* "user" or "app" */
	char name[STORE_SLOT_LEN];
};

/* text.c: names sl, grant g of profile (a valid one: profile_valid). */
HIDDEN void slot_make(struct store_slot *sl, const char *profile, enum scauth_grant g);
/* text.c: v as a decimal number from lo to hi into *out; -1 when it is anything else. */
HIDDEN int number_parse(const char *v, long lo, long hi, long *out);
/* text.c: SCAUTH_ECONFIG, saying that setting name's value v is not such a number. */
HIDDEN int number_refused(scauth_ctx *ctx, const char *name, const char *v, long lo, long hi);

/*
 * A backend stores opaque bytes per slot.  load: 1 found (out filled), 0 absent, <0 error; save
 * replaces the slot atomically; erase of an absent slot is 0.  All writes
 * happen under store_lock().  While the lock is held (ctx->store_locked),
 * load/save/erase must be the authoritative ones; outside it, load may
 * serve a local copy (the fast path: no network, no D-Bus).  Backends keep
 * their own state in ctx->store_state and free it in release.
 */
struct store_backend {
	const char *name;          /* "store = NAME" */
	int xdg_state;             /* the state directory follows XDG_STATE_HOME */
	int (*load)(scauth_ctx *ctx, const struct store_slot *slot, struct sbuf *out);
	/*
	 * Optional, for a load that may answer STORE_LOAD_LOCKED outside the
	 * lock (no local copy yet: store.c calls it again under the lock):
	 * reads the store itself, leaving the local copy alone, when the lock
	 * cannot be taken.  Returns as load does.
	 */
	int (*read_through)(scauth_ctx *ctx, const struct store_slot *slot, struct sbuf *out);
	int (*save)(scauth_ctx *ctx, const struct store_slot *slot, const char *data, size_t len);
	int (*erase)(scauth_ctx *ctx, const struct store_slot *slot);
	/*
	 * Optional: checks the keys the backend needs when the context is
	 * loaded (config.c), before any slot is touched; SCAUTH_ECONFIG names
	 * the key.  Loads no library.
	 */
	int (*configure)(scauth_ctx *ctx);
	/* Optional: reserve what save needs, so that it cannot fail for space. */
	int (*prepare)(scauth_ctx *ctx, const struct store_slot *slot);
	/* Optional: called right after the flock is taken / before it is released. */
	int (*lock)(scauth_ctx *ctx);
	/* commit: keep what was written under the lock; 0: drop it if the backend can. */
	int (*unlock)(scauth_ctx *ctx, int commit);
	/*
	 * Optional: where the tokens live, for status and messages; the slot's
	 * place when slot is not NULL.  Never a secret or a password.
	 */
	void (*describe)(const scauth_ctx *ctx, const struct store_slot *slot, char *buf, size_t len);
	/* Optional: frees ctx->store_state (scauth_ctx_free). */
	void (*release)(scauth_ctx *ctx);
	/*
	 * Optional: drops this machine's local copy of the slot, and nothing
	 * else: an erase (git's answer to a 401) while the store itself cannot
	 * be reached must not leave the stale token to be handed out again.
	 */
	int (*forget)(scauth_ctx *ctx, const struct store_slot *slot);
	/*
	 * Optional: reads the slot from the store itself, without the lock and
	 * leaving the local copy alone (status); as load otherwise.  Returns as
	 * load does.
	 */
	int (*inspect)(scauth_ctx *ctx, const struct store_slot *slot, struct sbuf *out);
	/*
	 * Optional: 0 when a save or an erase of the slot could be done now,
	 * without writing anything (a locked keyring cannot), so that a login
	 * or a logout stops before the server issues or revokes a grant that
	 * could then be neither kept nor removed.
	 */
	int (*ready)(scauth_ctx *ctx, const struct store_slot *slot);
	/*
	 * 1: load outside the lock serves this machine's copy of a store held
	 * elsewhere (a fleet's database), which a new machine lacks and which
	 * may lag behind: a token the copy does not hold may still be the
	 * store's, so the broker asks the store itself before it ignores one.
	 */
	int remote;
};
/* load outside the lock: "call me again under the lock" (read_through above). */
#define STORE_LOAD_LOCKED 2
HIDDEN extern const struct store_backend store_file_backend;
HIDDEN extern const struct store_backend store_keyring_backend;
HIDDEN extern const struct store_backend store_secret_backend;
HIDDEN extern const struct store_backend store_postgres_backend;
/*
 * store_keyring.c: checks keyring = user | session when the context is
 * loaded, whatever the store, so that a typo is said at once.
 */
HIDDEN int keyring_configure(scauth_ctx *ctx);

/* The backend called name, or NULL. */
HIDDEN const struct store_backend *store_backend_find(const char *name);
/* "'file', 'keyring' or 'secret-service'": the names a store may have, for messages. */
HIDDEN void store_backend_names(char *buf, size_t len);

/* SCAUTH_ELOGIN when the slot is empty; SCAUTH_ECORRUPT, SCAUTH_EUNSAFE ... */
HIDDEN int store_load(scauth_ctx *ctx, enum scauth_grant g, struct scauth_token **out);
/* The same from the store's source of truth: the backend's inspect hook (status). */
HIDDEN int store_inspect(scauth_ctx *ctx, enum scauth_grant g, struct scauth_token **out);
HIDDEN int store_save(scauth_ctx *ctx, enum scauth_grant g, const struct scauth_token *t);
HIDDEN int store_erase(scauth_ctx *ctx, enum scauth_grant g);
HIDDEN int store_prepare(scauth_ctx *ctx, enum scauth_grant g);
/* The backend's ready hook; 0 when it has none. */
HIDDEN int store_ready(scauth_ctx *ctx, enum scauth_grant g);
/* The backend's forget hook: 1 when the local copy was dropped, 0 when it keeps none, <0. */
HIDDEN int store_forget(scauth_ctx *ctx, enum scauth_grant g);
/* Whether the backend's unlocked load is a local copy of a remote store (remote above). */
HIDDEN int store_remote(const scauth_ctx *ctx);
/* Where the store (slot NULL) or one slot lives, for messages; never a secret. */
HIDDEN void store_describe(const scauth_ctx *ctx, const struct store_slot *slot, char *buf,
                           size_t len);

/*
 * The profile lock: the flock of lock.c, then the backend's lock hook;
 * ctx->store_locked is set while it is held.  store_unlock() calls the
 * backend's unlock hook (its failure is returned), then releases the flock;
 * a lock not held (fd -1) is left alone.
 */
struct store_lock {
	int fd;
};
#define STORE_LOCK_INIT { -1 }
HIDDEN int store_lock(scauth_ctx *ctx, struct store_lock *lk);
HIDDEN int store_unlock(scauth_ctx *ctx, struct store_lock *lk, int commit);
/* The backend's release hook, if any (scauth_ctx_free). */
HIDDEN void store_release(scauth_ctx *ctx);

/*
 * store_file.c: the file rules.  Who our files and keys must belong to: the
 * owner they would be created with, the filesystem uid (it differs from the
 * euid when a PAM module drops privileges with setfsuid()).
 */
HIDDEN uid_t store_owner(void);
/* Creates (0700, parents too) and checks dir; returns an O_DIRECTORY fd or <0
 * (SCAUTH_ELOGIN when it is absent and create is 0). */
HIDDEN int store_dir_open(scauth_ctx *ctx, const char *dir, int create);
/*
 * Opens name in dirfd (the directory dir, named in messages) with O_NOFOLLOW
 * and checks the open file (regular, ours, no group/other bits).  Returns 0
 * (*fdp set), 1 when absent (without O_CREAT), SCAUTH_EUNSAFE or
 * SCAUTH_ESYSTEM/ESTORE naming the path.
 */
HIDDEN int store_file_open(scauth_ctx *ctx, const char *dir, int dirfd, const char *name,
                           int flags, int *fdp);
/* The same two on the state directory. */
HIDDEN int state_dir_open(scauth_ctx *ctx, int create);
HIDDEN int state_file_open(scauth_ctx *ctx, int dirfd, const char *name, int flags, int *fdp);
/*
 * The file backend's operations on a directory of the caller's choosing
 * (0700, created on save and prepare), with the backend's semantics: a
 * backend may keep its local copy of a slot there under the file rules.
 */
HIDDEN int store_file_load(scauth_ctx *ctx, const char *dir, const char *slot, struct sbuf *out);
HIDDEN int store_file_save(scauth_ctx *ctx, const char *dir, const char *slot,
                           const char *data, size_t len);
HIDDEN int store_file_erase(scauth_ctx *ctx, const char *dir, const char *slot);
HIDDEN int store_file_prepare(scauth_ctx *ctx, const char *dir, const char *slot);
/*
 * Under the lock: finishes a replace of slot that a killed process left half
 * done, when "<slot>.new" holds a complete record no older than the slot
 * (cut to size, synced, renamed over it, the directory synced).  0 also when
 * there is nothing to finish.
 */
HIDDEN int store_file_recover(scauth_ctx *ctx, const char *dir, const char *slot);
/*
 * The pending journal of a remote store in dir: a record its store refused,
 * with BASE, the version it replaces (-1: none).  read: 1 found (*base and
 * out set), 0 none, <0; reads the formats of earlier releases too.
 */
HIDDEN int store_pending_write(scauth_ctx *ctx, const char *dir, const char *slot, long long base,
                               const char *data, size_t len);
HIDDEN int store_pending_read(scauth_ctx *ctx, const char *dir, const char *slot, long long *base,
                              struct sbuf *out);
HIDDEN int store_pending_erase(scauth_ctx *ctx, const char *dir, const char *slot);

/* lock.c: the per-profile refresh lock (flock on <state>/<profile>.lock); use store_lock(). */
HIDDEN int lock_take(scauth_ctx *ctx, int *fdp);
HIDDEN void lock_release(int fd);

/*
 * secret_service.c: one item per profile and grant in the desktop's Secret
 * Service (libsecret, loaded on first use).  A locked keyring without a
 * display to prompt on, a missing service and a call past ctx->timeout are
 * SCAUTH_ESTORE, with nothing changed.
 */
/*
 * 1 found (out filled), 0 absent, <0 error.  A locked item that may be the
 * grant is SCAUTH_ESTORE ("the keyring is locked"), never "absent".
 */
HIDDEN int ss_lookup(scauth_ctx *ctx, const char *profile, const char *grant, struct sbuf *out);
/*
 * 0 when the grant's item can be written now: the service answers, no
 * locked item may hold the grant, and the item is there unlocked, or (for a
 * new one) the default collection is there and unlocked (or unlocked at a
 * prompt).  SCAUTH_ESTORE otherwise.
 */
HIDDEN int ss_writable(scauth_ctx *ctx, const char *profile, const char *grant);
/*
 * Replaces the grant's item where it is, or creates it in the default
 * collection; refused (SCAUTH_ESTORE) while a locked item may hold it.
 */
HIDDEN int ss_store(scauth_ctx *ctx, const char *profile, const char *grant, const char *label,
                    const char *data, size_t len);
/* Removes the items; 0 when there were none. */
HIDDEN int ss_clear(scauth_ctx *ctx, const char *profile, const char *grant);

/* ------------------------------------------------------------------------ */
/* seal.c: records sealed for the shared store (AES-256-GCM, bound to their slot). */

#define SEAL_KEY_LEN    32
#define SEAL_NONCE_LEN  12
#define SEAL_TAG_LEN    16
#define SEAL_VERSION_1  1       /* bound to the slot alone: before fleet ids */
#define SEAL_VERSION    2       /* bound to the fleet id, the row version and the slot */
#define SEAL_FLEET_ID_LEN 16
#define SEAL_OVERHEAD   (1 + SEAL_NONCE_LEN + SEAL_TAG_LEN)

/*
 * Reads seal_key_file: a regular file (never through a link) owned by the
 * caller or root, mode 0600 or 0400 (no group/other bits), of exactly
 * SEAL_KEY_LEN bytes.  SCAUTH_ECONFIG or SCAUTH_EUNSAFE naming the path.
 */
HIDDEN int seal_key_load(scauth_ctx *ctx, const char *path, unsigned char key[SEAL_KEY_LEN]);
/* Writes a new random key to path (O_EXCL, mode 0600); SCAUTH_ECONFIG if it exists. */
HIDDEN int seal_key_create(scauth_ctx *ctx, const char *path);
/*
 * What a sealed record is bound to (authenticated, not stored in it).  With
 * fleet NULL: format 1, the slot alone (version unused).
 */
struct seal_aad {
	const char *slot;
	const unsigned char *fleet;     /* SEAL_FLEET_ID_LEN bytes, or NULL */
	long long version;              /* the row version the record is written at */
};
/*
 * Seals data for what a names: format byte, random nonce, ciphertext, tag;
 * a record moved to another slot, fleet or row version does not open.
 * Appends to out (binary).  Loads libcrypto.
 */
HIDDEN int seal(scauth_ctx *ctx, const unsigned char key[SEAL_KEY_LEN], const struct seal_aad *a,
                const void *data, size_t len, struct sbuf *out);
/*
 * Opens what seal() made for a; SCAUTH_ECORRUPT when it was altered, moved,
 * keyed otherwise or is of the other format than a asks for.
 */
HIDDEN int unseal(scauth_ctx *ctx, const unsigned char key[SEAL_KEY_LEN], const struct seal_aad *a,
                  const void *data, size_t len, struct sbuf *out);
/* The format byte of a sealed record, -1 when it is empty. */
HIDDEN int seal_format(const void *data, size_t len);

/* ------------------------------------------------------------------------ */
/* pg.c: the PostgreSQL connection and schema of the shared store. */

#define PG_TABLE "scauth_slot"
struct pg_conn;
struct pg_result;

/*
 * The configuration's postgres_connect_timeout, postgres_timeout and
 * postgres_lock_timeout, checked when the context is loaded (whatever the
 * store: a kiosk pairs over pg.c with store = file); SCAUTH_ECONFIG names
 * the key.  Loads no library and keeps nothing.
 */
HIDDEN int pg_configure(scauth_ctx *ctx);
/* What a statement may wait for, each with its limit from the configuration. */
enum pg_wait {
	PG_WAIT_STATEMENT,      /* postgres_timeout: one statement */
	PG_WAIT_LOCK,           /* postgres_lock_timeout: a row lock, held by another machine */
};
/* The limit in seconds. */
HIDDEN long pg_seconds(const scauth_ctx *ctx, enum pg_wait w);
/* Connects once per context (libpq loaded on first use). */
HIDDEN int pg_connect(scauth_ctx *ctx);
/* libpq's table, for the results of pg_exec(): NULL before the first connection. */
HIDDEN const struct pq_fns *pg_fns(const scauth_ctx *ctx);
/* The connection (a PGconn), NULL before the first and once dropped (pg_release). */
HIDDEN struct pg_conn *pg_connection(const scauth_ctx *ctx);
/* Closes the connection (a transaction still open is rolled back by the server). */
HIDDEN void pg_release(scauth_ctx *ctx);
/* Creates the schema when it is missing; safe on many machines at once. */
HIDDEN int pg_init_schema(scauth_ctx *ctx);
/* "host H port P dbname D" of the configured server, for messages; never a password. */
HIDDEN void pg_describe(scauth_ctx *ctx, char *buf, size_t len);
/*
 * Runs one statement (binary results) and waits at most its limit (wait)
 * plus a grace for its answer.  0 with *out to PQclear(); else an error in
 * the store's terms: SCAUTH_ESTORE (server unreachable or gone: the
 * connection is dropped), SCAUTH_ECONFIG (no schema: run fleet init; no
 * privilege), SCAUTH_ELOCKED (lock_timeout).  what names the operation in
 * messages.
 */
HIDDEN int pg_exec(scauth_ctx *ctx, const char *what, const char *sql, int n,
                   const char *const *vals, const int *lens, const int *bin, enum pg_wait wait,
                   struct pg_result **out);
/* pg_exec() of a statement whose result is not needed. */
HIDDEN int pg_run(scauth_ctx *ctx, const char *what, const char *sql, enum pg_wait wait);
/*
 * BEGIN, then statement and lock timeouts local to the transaction: a
 * statement may wait postgres_lock_timeout for a row lock.
 */
HIDDEN int pg_begin(scauth_ctx *ctx, const char *what);
/* Commits it; a failure leaves its outcome unknown when the connection was lost. */
HIDDEN int pg_commit(scauth_ctx *ctx, const char *what);
/* Rolls back an open transaction, or drops the connection if that fails. */
HIDDEN void pg_abort(scauth_ctx *ctx);
/* A bigint column of a binary result (8 bytes, network order). */
HIDDEN long long pg_int8(const char *p);

/* ------------------------------------------------------------------------ */
/* fleet.c: the fleet's id and each machine's memory of the row versions it saw. */

#define FLEET_ID_SLOT ".fleet"  /* the row holding the id: no profile starts with '.' */

/* The fleet's id as read from the database. */
struct fleet_view {
	int loaded;             /* read (or set) */
	int present;            /* the fleet has an id (fleet init since ids exist) */
	unsigned char id[SEAL_FLEET_ID_LEN];
};
/* Reads the id row (one statement); SCAUTH_EUNSAFE when it is malformed. */
HIDDEN int fleet_view_read(scauth_ctx *ctx, struct fleet_view *fv);
/* The same from the id row's record as read by the caller (data NULL: no id). */
HIDDEN int fleet_view_set(scauth_ctx *ctx, struct fleet_view *fv, const char *data, size_t len);
/*
 * Opens the sealed record of slot read at row version (data NULL: the row
 * is empty) after checking it against this machine's memory; with remember,
 * a higher version is remembered.  Reads the id first when fv is not loaded.
 * Returns 1 opened (out filled), 0 empty, SCAUTH_ECORRUPT when it does not
 * open, SCAUTH_EUNSAFE with the reason when it is refused: older than a
 * version this machine has seen, of the old format in a fleet with an id, of
 * another fleet, or the fleet lost its id.
 */
HIDDEN int fleet_open(scauth_ctx *ctx, struct fleet_view *fv, const unsigned char key[SEAL_KEY_LEN],
                      const char *slot, long long version, const char *data, size_t len,
                      int remember, struct sbuf *out);
/* Seals data for slot at row version: format 2 when the fleet has an id, else format 1. */
HIDDEN int fleet_seal(scauth_ctx *ctx, struct fleet_view *fv, const unsigned char key[SEAL_KEY_LEN],
                      const char *slot, long long version, const char *data, size_t len,
                      struct sbuf *out);
/* Remembers that slot was seen (or written and committed) at version. */
HIDDEN int fleet_remember(scauth_ctx *ctx, const struct fleet_view *fv, const char *slot,
                          long long version);
/*
 * fleet init: gives a fleet without an id its id and reseals its records of
 * the old format (one transaction, writers held off); then checks that key
 * opens the fleet's records.  Idempotent.
 */
HIDDEN int fleet_init_id(scauth_ctx *ctx, const unsigned char key[SEAL_KEY_LEN]);

/* ------------------------------------------------------------------------ */
/* oauth.c: the token endpoint and friends. */

/* Each fills *out (a new record, identity empty) on success. */
HIDDEN int oauth_code(scauth_ctx *ctx, const char *code, const char *verifier, struct scauth_token **out);
/* retry_at (may be NULL) receives the time to wait for when rate limited (SCAUTH_ERATELIMIT). */
HIDDEN int oauth_refresh(scauth_ctx *ctx, const char *refresh, struct scauth_token **out,
                         time_t *retry_at);
HIDDEN int oauth_client_credentials(scauth_ctx *ctx, struct scauth_token **out, time_t *retry_at);
HIDDEN int oauth_signout(scauth_ctx *ctx, const char *access);
/* GET /me; fills urn, permalink and username of t. */
HIDDEN int oauth_me(scauth_ctx *ctx, struct scauth_token *t);
/* One API request with the given token (no retry). */
HIDDEN int api_call(scauth_ctx *ctx, const char *access, const char *method, const char *path,
                    const char *body, size_t bodylen, const char *content_type, struct http_resp *resp);

/* ------------------------------------------------------------------------ */
/* listen.c: the redirect listener and the callback parser (fuzzed). */

struct callback {
	char *code;                /* secret */
	char *state;
	char *error;
	char *error_description;   /* printable ASCII only */
	char *iss;
};
/*
 * Parses a request head "GET /path?query HTTP/1.x\r\n..." (up to the blank
 * line).  Returns 1 when the path equals expect_path and the query parsed
 * (fields filled, absent ones NULL), 0 for another path (favicon ...),
 * SCAUTH_EINVAL for a malformed request.
 */
HIDDEN int callback_parse(const char *req, size_t len, const char *expect_path, struct callback *out);
HIDDEN void callback_free(struct callback *cb);
/* The query of a callback ("code=..&state=.."), checked as callback_parse does.  0 or SCAUTH_EINVAL. */
HIDDEN int callback_parse_query(const char *query, size_t n, struct callback *out);
/*
 * Judges a callback against the login's state and the configured issuer: 0
 * when it carries the code; SCAUTH_ESTATE for a wrong state or iss; for an
 * error= redirect its mapped error (SCAUTH_EDENIED for access_denied).
 */
HIDDEN int callback_check(scauth_ctx *ctx, const struct callback *cb, const char *state);
/* Binds redirect_uri's host and port (close-on-exec, non-blocking).  SCAUTH_ESYSTEM. */
HIDDEN int listener_open(scauth_ctx *ctx, const struct url *u, int *fdp);

/* What the listener knows of its login. */
struct listen_login {
	const char *path;          /* redirect_uri's path: the callback */
	const char *state;
	const char *start_path;    /* the one-time start address's path, or NULL */
	const char *authorize_url; /* where the start address sends the browser */
	const char *cookie_name;   /* set on the start answer ... */
	const char *cookie;        /* ... with this value (a secret of the login) */
	int started;               /* the start address was opened */
	int conn_ms;               /* how long one connection may take; 0: the default (5 s) */
	struct listen_stats *stats; /* counted into when not NULL (tests) */
};
/* What the listener did, for tests that wait on its progress rather than on a clock. */
struct listen_stats {
	unsigned long accepted;    /* connections taken */
	unsigned long evicted;     /* dropped, the idlest, to make room for a newcomer */
	unsigned long expired;     /* closed at their deadline, silent or incomplete */
};
/*
 * Serves the listener until the callback with the state arrives on path (0,
 * out filled), one ends the login (its error) or timeout_sec pass
 * (SCAUTH_ETIMEOUT).  Other requests get an error page and the wait goes on.
 * The start address answers once with a redirect to the authorize URL and
 * sets the cookie; a second visit ends the login (SCAUTH_ESTATE), and so does,
 * once it was visited, a callback with the right state but without the cookie.
 */
HIDDEN int listener_wait(scauth_ctx *ctx, int fd, struct listen_login *ll, int timeout_sec,
                         struct callback *out);
/* Appends s to b with & < > " ' escaped for HTML text and attribute values. */
HIDDEN int html_escape(struct sbuf *b, const char *s);

/* login_page.c: the page that forwards a browser to the start address. */
#define LOGIN_PAGE_PATH 4096
struct login_page {
	char dir[LOGIN_PAGE_PATH];      /* the directory made for the page; "" when none */
	char file[LOGIN_PAGE_PATH + 16]; /* the page in it; "" when none */
	char url[LOGIN_PAGE_PATH + 32];  /* "file://" and file */
};
/*
 * Writes a page that forwards to target (the start address) in a new
 * directory of its own that only we may enter; pg receives its names and its
 * file:// address.  Nothing is left behind on failure.
 */
HIDDEN int login_page_write(scauth_ctx *ctx, const char *target, struct login_page *pg);
/* Removes the page and its directory, if any; async-signal-safe (unlink, rmdir). */
HIDDEN void login_page_remove(struct login_page *pg);
/* 1 if the request head carries the cookie name=value (compared in constant time). */
HIDDEN int head_has_cookie(const char *head, size_t len, const char *name, const char *value);
/* pair.c: the kiosk's pairing with a phone through the relay (mode=relay). */
#define PAIR_CODE_LEN 8         /* as stored: upper case, no dash */
/*
 * The letters of a code, kiosk and relay alike.  RFC 8628 6.1: no vowels (no
 * words), no 0/O, 1/I/L look-alikes but L; of 2/Z, 5/S, 8/B only the letter
 * (the relay reads those digits as their letters): 25 letters, 25^8 codes.
 */
#define PAIR_CODE_ALPHABET "34679BCDFGHJKLMNPQRSTVWXZ"
struct pairing {
	char code[PAIR_CODE_LEN + 1];
	char shown[PAIR_CODE_LEN + 2];  /* "XXXX-XXXX" */
	char *address;          /* relay_url as shown: without "https://" */
	char *link;             /* relay_url?code=XXXXXXXX, for a QR code */
	int created;            /* our row is in the table */
	void *listening;        /* the PGconn that LISTENs, NULL if none */
	int (*stopped)(void *arg);      /* the front end's wish to stop the wait */
	void *stopped_arg;
};
/*
 * Creates our pairing (scauth_pairing_create: a fresh code until one is free),
 * LISTENs and fills the texts.  SCAUTH_ECONFIG (relay_url or postgres unset),
 * the store's errors (SCAUTH_ESTORE: the database is down); nothing is left
 * behind on failure.
 */
HIDDEN int pairing_create(scauth_ctx *ctx, struct pairing *p, const char *state,
                          const char *challenge);
/*
 * Waits up to timeout_sec for the relay's callback and takes it once: 0 and
 * *code (sfree) for a code; the callback's error (SCAUTH_EDENIED for
 * access_denied, with its description); SCAUTH_ELOGIN when the pairing
 * expired; SCAUTH_ETIMEOUT when the time ran out (the pairing still waits).
 */
HIDDEN int pairing_wait(scauth_ctx *ctx, struct pairing *p, const char *state, int timeout_sec,
                        char **code);
/* Deletes our row if it is still there; keeps the context's last error. */
HIDDEN void pairing_drop(scauth_ctx *ctx, struct pairing *p, const char *state);
HIDDEN void pairing_free(struct pairing *p);

/* login.c: the front end's stop hook for a wait on the phone (scauth_login_ui.stopped). */
HIDDEN void login_pair_stopped(scauth_login *lg, int (*stopped)(void *), void *arg);
/* login.c, for tests: the listener's conn_ms and stats for the next scauth_login_wait(). */
HIDDEN void login_listen_tune(scauth_login *lg, int conn_ms, struct listen_stats *stats);
/* login.c, for tests: the login's verifier and code (secrets; NULL when none). */
HIDDEN const char *login_verifier(const scauth_login *lg);
/* "http" or "https": whether a listener can serve the login's redirect_uri. */
HIDDEN const char *login_redirect_scheme(const scauth_login *lg);
HIDDEN const char *login_code(const scauth_login *lg);

#endif /* SCAUTH_INTERNAL_H */
