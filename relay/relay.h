/*
 * relay.h - soundcloud-auth-relay, the CGI program that pairs a phone with a
 * kiosk (DESIGN.md, "Phone login at a kiosk").  It holds no client secret and
 * no token: it sends the phone to SoundCloud with a pairing's challenge and
 * state, and stores SoundCloud's redirect for the kiosk, through the two
 * database functions that `fleet init` creates.
 *
 *   conf.c      the config file
 *   request.c   the CGI request: variables, query string, form body (fuzzed)
 *   respond.c   the answers: status, headers, small HTML pages
 *   db.c        the database calls (libpq)
 *   main.c      what a request comes to
 */
#ifndef RELAY_H
#define RELAY_H

#include "internal.h"
#include "login.h"

#define RELAY_CONFIG_DEFAULT "/etc/soundcloud-auth-relay.conf"
#define RELAY_AUTHORIZE_DEFAULT "https://secure.soundcloud.com/authorize"

/* Caps on what the web server hands over. */
#define RELAY_QUERY_MAX   4096  /* QUERY_STRING */
#define RELAY_BODY_MAX    1024  /* a POSTed form: one short field */
#define RELAY_PATH_MAX    1024  /* SCRIPT_NAME + PATH_INFO */
#define RELAY_ADDR_MAX    64    /* REMOTE_ADDR */
#define RELAY_PARAMS_MAX  16    /* parameters of one query or form */
#define RELAY_CODE_RAW_MAX 32   /* a typed code, before its dashes and blanks go */
#define RELAY_CODE_LEN    PAIR_CODE_LEN

struct relay_conf {
	char *postgres;
	char *client_id;
	char *redirect_uri;
	char *callback_path;      /* redirect_uri's path */
	char *authorize_url;
	char *scope;
};

/* Reads the config file at path; 0, or -1 with why in err (no secret: the file has none). */
int relay_conf_load(const char *path, struct relay_conf *c, char *err, size_t errlen);
/* Parses a config text (fuzzed); as relay_conf_load. */
int relay_conf_parse(const char *text, size_t len, struct relay_conf *c, char *err, size_t errlen);
void relay_conf_free(struct relay_conf *c);

enum relay_kind { REQ_FORM, REQ_CALLBACK };
enum relay_method { METHOD_GET, METHOD_POST };

struct relay_req {
	enum relay_kind kind;
	enum relay_method method;
	char path[RELAY_PATH_MAX + 1];  /* as requested: printable ASCII */
	char addr[RELAY_ADDR_MAX + 1];  /* REMOTE_ADDR, normalised (relay_addr_normalise) */
	char *code;                     /* form: the code normalised, NULL for none (secret) */
	struct callback cb;             /* callback: its fields */
};

/* What a refused request gets: an HTTP status and a sentence for the page. */
struct relay_refusal {
	int status;                     /* 400, 405, 411, 413, 414, 415, 500 */
	const char *why;
};

/* The CGI variables, by name (getenv, or a fuzzer's table). */
typedef const char *relay_getenv_fn(void *arg, const char *name);

/*
 * The request line part: method, path, address and, for a GET, the query.
 * Returns 0 with out filled (its body still to come for a POST: see
 * relay_req_body), or the refusal.  callback_path is redirect_uri's path.
 */
int relay_req_parse(relay_getenv_fn *env, void *arg, const char *callback_path,
    struct relay_req *out, struct relay_refusal *no);
/*
 * The length a POST's body must have, from CONTENT_TYPE and CONTENT_LENGTH;
 * 0 and *len, or the refusal.
 */
int relay_req_body_len(relay_getenv_fn *env, void *arg, size_t *len, struct relay_refusal *no);
/* A POSTed form body of n bytes: its code.  0, or the refusal. */
int relay_req_body(struct relay_req *req, const char *body, size_t n, struct relay_refusal *no);
void relay_req_free(struct relay_req *req);

/*
 * Checks a whole query or form: at most RELAY_PARAMS_MAX parameters, each
 * name and value well percent-encoded, no name twice.  0 or SCAUTH_EINVAL.
 */
int relay_params_check(const char *q, size_t n);
/*
 * The address the throttle counts wrong codes by: an IPv4 address as it is
 * (also one mapped into IPv6), an IPv6 address as its /64 ("2001:db8::/64").
 * 0, or -1 for what is no address.
 */
int relay_addr_normalise(const char *addr, char out[RELAY_ADDR_MAX + 1]);
/* A typed code in any case, with dashes or blanks: the 8 characters, or SCAUTH_EINVAL. */
int relay_code_normalise(const char *typed, char out[RELAY_CODE_LEN + 1]);

/* The answers (respond.c): each writes one whole CGI response to stdout. */
void relay_page(int status, const char *title, const char *text, const char *form_action,
    const char *extra_headers);
void relay_redirect(const char *location);

/* What the database said. */
struct relay_pairing {
	char status[16];          /* ok, unknown, expired, used, throttled */
	char *state;              /* ok only (secret) */
	char *challenge;
	char *scope;
};

/* Refuses a postgres setting libpq cannot read or one with a password in it; -1 with why. */
int relay_db_check(const struct relay_conf *c, char *err, size_t errlen);
/* 0 with the function's answer, or -1 when the database could not be asked (logged). */
int relay_db_open(const struct relay_conf *c, const char *code, const char *addr,
    struct relay_pairing *out);
int relay_db_callback(const struct relay_conf *c, const struct callback *cb, char *status,
    size_t len);
void relay_pairing_free(struct relay_pairing *p);

/* One line to stderr (the web server's error log): status words only, never a code or state. */
void relay_log(const char *fmt, ...) PRINTF(1, 2);

#endif
