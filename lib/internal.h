/*
 * internal.h - what the modules of libscauth share.  Not installed.  What
 * only some of them use has a header of its own: store.h (the storage layer
 * and its backends), fleet.h (the fleet's database under the postgres
 * store), login.h (the login's listener, forwarding page and pairing).
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
	 * 1 in a remote store's copy of a record on this machine
	 * (store_cache.c): the copy lacks the refresh token, which the store
	 * itself holds, and is renewable all the same.
	 */
	int refresh_held;
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
/* text.c: numbers in settings. */

/* v as a decimal number from lo to hi into *out; -1 when it is anything else. */
HIDDEN int number_parse(const char *v, long lo, long hi, long *out);
/* SCAUTH_ECONFIG, saying that setting name's value v is not such a number. */
HIDDEN int number_refused(scauth_ctx *ctx, const char *name, const char *v, long lo, long hi);

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

#endif /* SCAUTH_INTERNAL_H */
