/*
 * fleet.h - the fleet's shared store underneath store_postgres.c: sealed records
 * (seal.c), the database connection and schema (pg.c), the fleet's id and
 * each machine's memory of the row versions it saw (fleet.c).
 * Not installed.
 */
#ifndef SCAUTH_FLEET_H
#define SCAUTH_FLEET_H

#include "internal.h"

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
/* 1 while a connection is open: not before the first, nor once dropped (pg_release). */
HIDDEN int pg_connected(const scauth_ctx *ctx);
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
/*
 * LISTEN (listen_sql: "LISTEN channel", one channel per connection) unless
 * this connection does already: a new one, after a drop, listens to nothing.
 */
HIDDEN int pg_listen(scauth_ctx *ctx, const char *what, const char *listen_sql);
/* UNLISTEN on the connection that LISTENs, if it is still open; only tries. */
HIDDEN void pg_unlisten(scauth_ctx *ctx, const char *what);
/*
 * Waits up to ms for a notification (or anything) on the connection, and
 * drains what came: 1 a notification came, 0 none (the time passed, a
 * signal, no connection, or the connection was lost and dropped: the next
 * statement connects again), SCAUTH_ESYSTEM.  what names the wait.
 */
HIDDEN int pg_wait_notify(scauth_ctx *ctx, const char *what, long long ms);
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

#endif /* SCAUTH_FLEET_H */
