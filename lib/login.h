/*
 * login.h - the login's parts below the public API: the redirect listener
 * (listen.c), the browser's forwarding page (login_page.c), the pairing
 * with a phone (pair.c), and login.c's hooks for front ends and tests.
 * Not installed.
 */
#ifndef SCAUTH_LOGIN_H
#define SCAUTH_LOGIN_H

#include "internal.h"

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

#endif /* SCAUTH_LOGIN_H */
