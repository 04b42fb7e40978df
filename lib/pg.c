/*
 * pg.c - the PostgreSQL side of the shared store: one connection per
 * context, statements with a deadline, errors said in the store's terms,
 * and the schema (`fleet init`).
 *
 * libpq is loaded on first use (dl.c), so that nothing else pays for it.
 * The connection string comes from the `postgres` key; a password in it is
 * refused (it would sit in a config file and in messages): libpq's passfile
 * and ~/.pgpass are the places for one.  Every statement runs inside a
 * transaction with SET LOCAL timeouts, so that nothing outlives it on a
 * pooled server connection (PgBouncer in transaction mode), and the client
 * waits for an answer no longer than the server was told to take plus a
 * grace: a stopped or unplugged server cannot hang us.
 *
 * A failed connection is judged with a ping: a server that answers it is up,
 * so the failure is ours to fix (credentials, database, role: 78); one that
 * does not is unavailable (75), and a caller may serve a local copy instead.
 */
#include "internal.h"
#include "dl.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PG_GRACE_SEC 5          /* beyond a server-side timeout, before we give up */
#define PG_SCHEMA_LOCK "7315604829317142"  /* advisory lock key of schema changes */

/*
 * One row per slot: the sealed record (NULL when the slot is empty), a
 * version that every write bumps (a machine whose commit went unconfirmed
 * tells from it whether its write got in), and when and from which host the
 * row was last written (for status).
 */
static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS " PG_TABLE " ("
	" slot text PRIMARY KEY CHECK (length(slot) BETWEEN 1 AND 128),"
	" record bytea,"
	" version bigint NOT NULL DEFAULT 0,"
	" updated_at timestamptz NOT NULL DEFAULT now(),"
	" updated_by text NOT NULL DEFAULT '')";

/* libpq prints notices to stderr by default; a library never prints. */
static void
quiet_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static const char *
first_line(char *msg)
{
	char *p;

	if (msg == NULL)
		return "";
	/* libpq's messages end in a newline and may add DETAIL lines. */
	if ((p = strchr(msg, '\n')) != NULL)
		*p = '\0';
	return msg;
}

void
pg_describe(scauth_ctx *ctx, char *buf, size_t len)
{
	const struct pq_fns *pq;
	PQconninfoOption *opts = NULL, *o;
	const char *host = NULL, *port = NULL, *db = NULL;
	char *err = NULL;

	snprintf(buf, len, "the database server");
	if (dl_pq(ctx, &pq) != 0)
		return;
	if (ctx->pg != NULL) {
		host = pq->host(ctx->pg);
		port = pq->port(ctx->pg);
		db = pq->db(ctx->pg);
	} else if (ctx->cfg[CFG_POSTGRES] != NULL &&
	    (opts = pq->conninfo_parse(ctx->cfg[CFG_POSTGRES], &err)) != NULL) {
		for (o = opts; o->keyword != NULL; o++) {
			if (o->val == NULL || *o->val == '\0')
				continue;
			if (strcmp(o->keyword, "host") == 0)
				host = o->val;
			else if (strcmp(o->keyword, "port") == 0)
				port = o->val;
			else if (strcmp(o->keyword, "dbname") == 0)
				db = o->val;
		}
		/* libpq's defaults, unless the caller's environment is not ours to read. */
		if (!(ctx->flags & SCAUTH_CTX_NO_ENV)) {
			if (host == NULL)
				host = getenv("PGHOST");
			if (port == NULL)
				port = getenv("PGPORT");
			if (db == NULL)
				db = getenv("PGDATABASE");
		}
	}
	snprintf(buf, len, "host %s port %s dbname %s",
	    host != NULL && *host != '\0' ? host : "(local socket)",
	    port != NULL && *port != '\0' ? port : "5432",
	    db != NULL && *db != '\0' ? db : "(user name)");
	if (opts != NULL)
		pq->conninfo_free(opts);
	if (err != NULL)
		pq->freemem(err);
}

/* Parses the conninfo once to refuse a password in it; says why in ctx. */
static int
check_conninfo(scauth_ctx *ctx, const struct pq_fns *pq, const char *conninfo)
{
	PQconninfoOption *opts, *o;
	char *err = NULL;
	int r = 0;

	if ((opts = pq->conninfo_parse(conninfo, &err)) == NULL) {
		r = ctx_err(ctx, SCAUTH_ECONFIG, "postgres: not a libpq connection string or URI: "
		    "%s", err != NULL ? first_line(err) : "out of memory");
		goto out;
	}
	for (o = opts; o->keyword != NULL; o++)
		if (strcmp(o->keyword, "password") == 0 && o->val != NULL) {
			r = ctx_err(ctx, SCAUTH_ECONFIG, "postgres: holds a password; put it in a "
			    "passfile (passfile=PATH or ~/.pgpass) instead");
			break;
		}
out:
	if (opts != NULL)
		pq->conninfo_free(opts);
	if (err != NULL)
		pq->freemem(err);
	return r;
}

/* 1 if a server answers at the connection's address: then it refused us. */
static int
server_answers(scauth_ctx *ctx, const struct pq_fns *pq, const char *const *keys,
    const char *const *vals)
{
	struct env_shield sh;
	int ok;

	if (dl_shield_on(ctx, &sh) != 0)
		return 0;
	ok = pq->ping_params(keys, vals, 1) == PQPING_OK;
	dl_shield_off(&sh);
	return ok;
}

int
pg_connect(scauth_ctx *ctx)
{
	const char *keys[4] = { "connect_timeout", "fallback_application_name", "dbname", NULL };
	const char *vals[4] = { NULL, "soundcloud-auth", NULL, NULL };
	const struct pq_fns *pq;
	char timeout[24], where[300];
	struct env_shield sh;
	PGconn *conn = NULL;
	int r;

	if (ctx->pg != NULL)
		return 0;
	if (ctx->cfg[CFG_POSTGRES] == NULL || *ctx->cfg[CFG_POSTGRES] == '\0')
		return ctx_err(ctx, SCAUTH_ECONFIG, "postgres: not set; it names the fleet's "
		    "database (a libpq connection string or URI)");
	if ((r = dl_pq(ctx, &pq)) != 0)
		return r;
	if ((r = check_conninfo(ctx, pq, ctx->cfg[CFG_POSTGRES])) != 0)
		return r;
	/* Ours first: what the connection string says wins over it. */
	snprintf(timeout, sizeof(timeout), "%ld", ctx->pg_connect_timeout);
	vals[0] = timeout;
	vals[2] = ctx->cfg[CFG_POSTGRES];
	/* libpq takes its defaults from PG* variables: under NO_ENV, not the caller's. */
	if ((r = dl_shield_on(ctx, &sh)) != 0)
		return r;
	conn = pq->connectdb_params(keys, vals, 1);
	dl_shield_off(&sh);
	if (conn == NULL)
		return SCAUTH_ENOMEM;
	pq->set_notice_processor(conn, quiet_notice, NULL);
	if (pq->status(conn) == CONNECTION_OK) {
		ctx->pg = conn;
		ctx_trace(ctx, "postgres: connected");
		return 0;
	}
	pg_describe(ctx, where, sizeof(where));
	if (pq->needs_password(conn))
		r = ctx_err(ctx, SCAUTH_ECONFIG, "the database server (%s) wants a password: put "
		    "it in a passfile (passfile=PATH in postgres, or ~/.pgpass)", where);
	else if (server_answers(ctx, pq, keys, vals))
		r = ctx_err(ctx, SCAUTH_ECONFIG, "the database server (%s) refused us: %s; check "
		    "the role, its password in the passfile and the database name", where,
		    first_line(pq->error_message(conn)));
	else
		r = ctx_err(ctx, SCAUTH_ESTORE, "cannot reach the database server (%s): %s; try "
		    "again later", where, first_line(pq->error_message(conn)));
	pq->finish(conn);
	return r;
}

void
pg_release(scauth_ctx *ctx)
{
	if (ctx->pg != NULL && ctx->pq != NULL)
		ctx->pq->finish(ctx->pg);
	ctx->pg = NULL;
}

/* Turns a failed result (or a lost connection) into an error in the store's terms. */
static int
pg_error(scauth_ctx *ctx, const struct pq_fns *pq, PGresult *res, const char *what)
{
	const char *state = res != NULL ? pq->result_error_field(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res != NULL ? pq->result_error_field(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	char where[300];
	int r;

	pg_describe(ctx, where, sizeof(where));
	if (msg == NULL)
		msg = first_line(pq->error_message(ctx->pg));
	if (state == NULL || strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0) {
		/* The connection is gone: nothing more can be said on it. */
		r = ctx_err(ctx, SCAUTH_ESTORE, "%s: lost the database server (%s): %s; try again "
		    "later", what, where, msg);
		pg_release(ctx);
	} else if (strcmp(state, "42P01") == 0)
		r = ctx_err(ctx, SCAUTH_ECONFIG, "%s: the database (%s) has no " PG_TABLE " table; "
		    "run 'git-credential-soundcloud fleet init' once", what, where);
	else if (strcmp(state, "42501") == 0)
		r = ctx_err(ctx, SCAUTH_ECONFIG, "%s: permission denied in the database (%s): %s; "
		    "GRANT SELECT, INSERT, UPDATE, DELETE ON " PG_TABLE " to this role", what,
		    where, msg);
	else if (strcmp(state, "55P03") == 0)
		r = ctx_err(ctx, SCAUTH_ELOCKED, "%s: another machine held the lock for more than "
		    "%ld s (postgres_lock_timeout); try again later", what, ctx->pg_lock_timeout);
	else if (strcmp(state, "57014") == 0)
		r = ctx_err(ctx, SCAUTH_ESTORE, "%s: the database server (%s) took longer than "
		    "%ld s (postgres_timeout); try again later", what, where, ctx->pg_timeout);
	else
		r = ctx_err(ctx, SCAUTH_ESTORE, "%s: the database server (%s) said: %s (SQLSTATE "
		    "%s)", what, where, msg, state);
	return r;
}

int
pg_exec(scauth_ctx *ctx, const char *what, const char *sql, int n, const char *const *vals,
    const int *lens, const int *bin, long wait_sec, PGresult **out)
{
	const struct pq_fns *pq;
	PGresult *res = NULL, *last = NULL;
	struct pollfd pfd;
	long long deadline;
	long left;
	int r, st;

	*out = NULL;
	/* A transaction lives and dies with its connection: never go on with a new one. */
	if (ctx->pg == NULL && ctx->pg_tx)
		return ctx_err(ctx, SCAUTH_ESTORE, "%s: the connection to the database server was "
		    "lost during the transaction; try again later", what);
	if ((r = pg_connect(ctx)) != 0)
		return r;
	pq = ctx->pq;
	/* Results come back as binary, so that a sealed record needs no unescaping. */
	if (!pq->send_query_params(ctx->pg, sql, n, NULL, vals, lens, bin, 1))
		return pg_error(ctx, pq, NULL, what);
	deadline = mono_ms() + (wait_sec + PG_GRACE_SEC) * 1000LL;
	for (;;) {
		while (!pq->is_busy(ctx->pg)) {
			if ((res = pq->get_result(ctx->pg)) == NULL)
				goto done;
			/* Keeps the first failure, else the last result. */
			if (last != NULL && pq->result_status(last) == PGRES_FATAL_ERROR)
				pq->clear(res);
			else {
				if (last != NULL)
					pq->clear(last);
				last = res;
			}
		}
		if ((left = (long)(deadline - mono_ms())) <= 0) {
			r = ctx_err(ctx, SCAUTH_ESTORE, "%s: no answer from the database server in "
			    "%ld s; try again later", what, wait_sec + PG_GRACE_SEC);
			pg_release(ctx);
			goto out;
		}
		pfd.fd = pq->socket(ctx->pg);
		pfd.events = POLLIN;
		if (poll(&pfd, 1, left > 1000 ? 1000 : (int)left) == -1 && errno != EINTR) {
			r = ctx_errno(ctx, SCAUTH_ESYSTEM, "%s: poll", what);
			pg_release(ctx);
			goto out;
		}
		if (!pq->consume_input(ctx->pg)) {
			r = pg_error(ctx, pq, NULL, what);
			goto out;
		}
	}
done:
	st = last != NULL ? pq->result_status(last) : PGRES_FATAL_ERROR;
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		r = pg_error(ctx, pq, last, what);
		goto out;
	}
	*out = last;
	last = NULL;    /* transferred */
	r = 0;
out:
	if (last != NULL)
		pq->clear(last);
	return r;
}

/* Runs a statement whose result is not needed. */
int
pg_run(scauth_ctx *ctx, const char *what, const char *sql, long wait_sec)
{
	PGresult *res;
	int r;

	if ((r = pg_exec(ctx, what, sql, 0, NULL, NULL, NULL, wait_sec, &res)) == 0)
		ctx->pq->clear(res);
	return r;
}

/* BEGIN with this context's timeouts, local to the transaction. */
int
pg_begin(scauth_ctx *ctx, const char *what, long lock_sec)
{
	char sql[160];
	int r;

	/* A statement may wait for a lock and then work: its timeout covers both. */
	snprintf(sql, sizeof(sql), "SELECT set_config('statement_timeout', '%ld', true), "
	    "set_config('lock_timeout', '%ld', true)", (ctx->pg_timeout + lock_sec) * 1000,
	    lock_sec * 1000);
	ctx->pg_tx = 0;
	if ((r = pg_run(ctx, what, "BEGIN", ctx->pg_timeout)) != 0)
		return r;
	ctx->pg_tx = 1;
	if ((r = pg_run(ctx, what, sql, ctx->pg_timeout)) != 0)
		pg_abort(ctx);
	return r;
}

/* Ends a transaction that failed: the server rolls back, or the connection goes. */
void
pg_abort(scauth_ctx *ctx)
{
	ctx->pg_tx = 0;
	if (ctx->pg == NULL)
		return;
	if (ctx->pq->transaction_status(ctx->pg) == PQTRANS_IDLE)
		return;
	if (pg_run(ctx, "rollback", "ROLLBACK", ctx->pg_timeout) != 0)
		pg_release(ctx);
}

/* COMMIT of the transaction pg_begin() opened. */
int
pg_commit(scauth_ctx *ctx, const char *what)
{
	int r;

	r = pg_run(ctx, what, "COMMIT", ctx->pg_timeout);
	ctx->pg_tx = 0;
	return r;
}

/* Whether the table exists, without needing CREATE (a least-privileged role). */
static int
schema_present(scauth_ctx *ctx, int *present)
{
	PGresult *res;
	int r;

	*present = 0;
	r = pg_exec(ctx, "fleet init", "SELECT to_regclass('" PG_TABLE "') IS NOT NULL", 0, NULL,
	    NULL, NULL, ctx->pg_timeout, &res);
	if (r != 0)
		return r;
	/* A binary bool: one byte. */
	*present = ctx->pq->ntuples(res) == 1 && ctx->pq->getlength(res, 0, 0) == 1 &&
	    ctx->pq->getvalue(res, 0, 0)[0] == 1;
	ctx->pq->clear(res);
	return 0;
}

int
pg_init_schema(scauth_ctx *ctx)
{
	int present, r;

	if ((r = pg_begin(ctx, "fleet init", ctx->pg_lock_timeout)) != 0)
		return r;
	if ((r = schema_present(ctx, &present)) != 0)
		goto out;
	if (!present) {
		/*
		 * Two CREATE TABLE IF NOT EXISTS at once can still collide in
		 * the catalog: machines that start together take turns.
		 */
		if ((r = pg_run(ctx, "fleet init", "SELECT pg_advisory_xact_lock(" PG_SCHEMA_LOCK
		    ")", ctx->pg_lock_timeout)) != 0 ||
		    (r = pg_run(ctx, "fleet init", schema_sql, ctx->pg_timeout)) != 0)
			goto out;
		ctx_trace(ctx, "fleet init: created table " PG_TABLE);
	}
	r = pg_commit(ctx, "fleet init");
out:
	if (r != 0)
		pg_abort(ctx);
	return r;
}

/*
 * Checks that key opens the fleet's records, when there are any: a machine
 * given another key than the fleet's learns it now, not at its first refresh.
 */
static int
check_key(scauth_ctx *ctx, const unsigned char *key)
{
	struct sbuf plain = SBUF_INIT(MAX_RECORD);
	PGresult *res = NULL;
	char slot[160];
	int r, len;

	r = pg_exec(ctx, "fleet init", "SELECT slot, record FROM " PG_TABLE
	    " WHERE record IS NOT NULL LIMIT 1", 0, NULL, NULL, NULL, ctx->pg_timeout, &res);
	if (r != 0 || ctx->pq->ntuples(res) == 0)
		goto out;
	len = ctx->pq->getlength(res, 0, 0);
	snprintf(slot, sizeof(slot), "%.*s", len, ctx->pq->getvalue(res, 0, 0));
	r = unseal(ctx, key, slot, ctx->pq->getvalue(res, 0, 1),
	    (size_t)ctx->pq->getlength(res, 0, 1), &plain);
	if (r == SCAUTH_ECORRUPT)
		r = ctx_err(ctx, SCAUTH_ECONFIG, "seal_key_file %s does not open the fleet's "
		    "records (slot %s): every machine needs the same key", ctx->cfg[CFG_SEAL_KEY_FILE],
		    slot);
out:
	if (res != NULL)
		ctx->pq->clear(res);
	sbuf_free(&plain);
	return r;
}

int
scauth_fleet_init(scauth_ctx *ctx, unsigned flags)
{
	const struct pq_fns *pq;
	unsigned char key[SEAL_KEY_LEN];
	int r;

	if (ctx == NULL)
		return SCAUTH_EINVAL;
	if (ctx->profile == NULL)
		return ctx_err(ctx, SCAUTH_EINVAL, "the context is not loaded: call "
		    "scauth_ctx_load() first");
	if (ctx->cfg[CFG_POSTGRES] == NULL)
		return ctx_err(ctx, SCAUTH_ECONFIG, "postgres: not set; it names the fleet's "
		    "database (a libpq connection string or URI)");
	/* Without libpq a new key would be of no use: nothing is written. */
	if ((r = dl_pq(ctx, &pq)) != 0)
		return r;
	if ((flags & SCAUTH_FLEET_NEW_KEY) &&
	    (r = seal_key_create(ctx, ctx->cfg[CFG_SEAL_KEY_FILE])) != 0)
		return r;
	if ((r = seal_key_load(ctx, ctx->cfg[CFG_SEAL_KEY_FILE], key)) != 0)
		goto out;
	if ((r = pg_init_schema(ctx)) != 0)
		goto out;
	r = check_key(ctx, key);
out:
	scauth_wipe(key, sizeof(key));
	return r;
}
