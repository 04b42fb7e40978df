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
 *
 * The connection and its limits (postgres_*timeout) are pg.c's own part of
 * the context (struct pg_link), made at the first connection: the store and
 * a kiosk's pairing (pair.c, whatever the store) both come through here.
 * The limits are checked when the context is loaded (pg_configure).
 */
#include "internal.h"
#include "fleet.h"
#include "dl.h"

#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PG_GRACE_SEC 5          /* beyond a server-side timeout, before we give up */
#define PG_SCHEMA_LOCK "7315604829317142"  /* advisory lock key of schema changes */
#define PG_MISS_LOCK "731560"             /* advisory lock class of one address's misses */

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

/*
 * A refresh's intent (store_postgres.c): which machine is spending the
 * refresh token of which row version, and until when the others leave it
 * alone.  Added to a table of an older version in place; old rows have none.
 */
static const char intent_sql[] =
	"ALTER TABLE " PG_TABLE
	" ADD COLUMN IF NOT EXISTS refreshing_by text,"
	" ADD COLUMN IF NOT EXISTS refreshing_id text,"
	" ADD COLUMN IF NOT EXISTS refreshing_from bigint,"
	" ADD COLUMN IF NOT EXISTS refreshing_until timestamptz";

/*
 * Phone logins at kiosks (DESIGN.md, mode=relay): a kiosk writes a pairing,
 * the relay (soundcloud-auth-relay) looks it up by its code and stores
 * SoundCloud's redirect in it.  Neither the relay's role nor the kiosks'
 * reaches the tables but through the SECURITY DEFINER functions below, so
 * neither can list the pairings nor read another's callback.
 * scauth_pairing_miss counts wrong codes, to slow guessing.
 */
static const char pairing_sql[] =
	"CREATE TABLE IF NOT EXISTS scauth_pairing ("
	" code text PRIMARY KEY CHECK (code ~ '^[2-9BCDFGHJKLMNPQRSTVWXZ]{8}$'),"
	" state text NOT NULL UNIQUE CHECK (length(state) BETWEEN 16 AND 128),"
	" challenge text NOT NULL CHECK (length(challenge) = 43),"
	" scope text NOT NULL DEFAULT '',"
	" kiosk text NOT NULL DEFAULT '',"
	" expires_at timestamptz NOT NULL,"
	" opened_at timestamptz,"
	" callback_at timestamptz,"
	" callback_code text,"
	" callback_error text,"
	" callback_error_description text)";

static const char pairing_miss_sql[] =
	"CREATE TABLE IF NOT EXISTS scauth_pairing_miss ("
	" addr text NOT NULL, at timestamptz NOT NULL DEFAULT now())";

static const char pairing_miss_index_sql[] =
	"CREATE INDEX IF NOT EXISTS scauth_pairing_miss_at ON scauth_pairing_miss (at)";

/*
 * The functions, in the tables' schema with their search_path pinned to it
 * (pg_temp last, so that no caller's temporary table stands in for ours);
 * only the roles granted EXECUTE may call them: the relay's role the first
 * two, the kiosks' role the last three, which find a pairing by its state,
 * a secret only its kiosk and the person's phone hold.  Each refuses what
 * is longer than a pairing holds.
 *
 * open: the cap on wrong codes from all addresses (100 a minute) holds back
 * only addresses that missed themselves in the last 10 minutes, so that
 * guessers elsewhere cannot lock out a person with a good code; a code
 * opens once (a second phone must not get its state).
 */
#define PAIRING_FN(name, args, returns, body) \
	" EXECUTE format($f$" \
	"CREATE OR REPLACE FUNCTION %1$s." name "(" args ") RETURNS " returns \
	" LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, %1$s, pg_temp AS $b$" \
	"#variable_conflict use_column\n" body "$b$$f$, s);"
#define PAIRING_CODE_RE "'^[2-9BCDFGHJKLMNPQRSTVWXZ]{8}$'"
#define PAIRING_BAD_INPUT(what) \
	" RAISE EXCEPTION 'scauth_pairing: " what "' USING ERRCODE = '22023';"

static const char pairing_fn_sql[] =
	"DO $do$ DECLARE s text := (SELECT relnamespace::regnamespace::text FROM pg_class"
	"  WHERE oid = 'scauth_pairing'::regclass);"
	"BEGIN"
	PAIRING_FN("scauth_pairing_open", "p_code text, p_addr text",
	    "TABLE(status text, state text, challenge text, scope text)",
	"DECLARE v_state text; v_challenge text; v_scope text; v_expires timestamptz;"
	" v_opened timestamptz; v_callback timestamptz; v_mine bigint;"
	"BEGIN"
	" IF p_addr IS NULL OR length(p_addr) NOT BETWEEN 1 AND 64 OR p_code IS NULL OR"
	"    length(p_code) > 64 THEN"
	PAIRING_BAD_INPUT("an address of 1 to 64 characters and a code of 8")
	" END IF;"
	/* One address's lookups take turns: else concurrent ones all count the same misses. */
	" PERFORM pg_advisory_xact_lock(" PG_MISS_LOCK ", hashtext(p_addr));"
	" SELECT count(*) INTO v_mine FROM scauth_pairing_miss m WHERE m.addr = p_addr"
	"  AND m.at > now() - interval '10 minutes';"
	" IF v_mine >= 5 OR (v_mine > 0 AND (SELECT count(*) FROM scauth_pairing_miss m"
	"     WHERE m.at > now() - interval '1 minute') >= 100) THEN"
	"  RETURN QUERY SELECT 'throttled'::text, NULL::text, NULL::text, NULL::text; RETURN;"
	" END IF;"
	" SELECT p.state, p.challenge, p.scope, p.expires_at, p.opened_at, p.callback_at"
	"  INTO v_state, v_challenge, v_scope, v_expires, v_opened, v_callback"
	"  FROM scauth_pairing p WHERE p.code = p_code FOR UPDATE;"
	" IF NOT FOUND THEN"
	"  INSERT INTO scauth_pairing_miss (addr) VALUES (p_addr);"
	"  DELETE FROM scauth_pairing_miss m WHERE m.at < now() - interval '10 minutes';"
	"  RETURN QUERY SELECT 'unknown'::text, NULL::text, NULL::text, NULL::text; RETURN;"
	" END IF;"
	" IF v_expires < now() THEN"
	"  RETURN QUERY SELECT 'expired'::text, NULL::text, NULL::text, NULL::text; RETURN;"
	" END IF;"
	" IF v_opened IS NOT NULL OR v_callback IS NOT NULL THEN"
	"  RETURN QUERY SELECT 'used'::text, NULL::text, NULL::text, NULL::text; RETURN;"
	" END IF;"
	" UPDATE scauth_pairing p SET opened_at = now() WHERE p.code = p_code;"
	" RETURN QUERY SELECT 'ok'::text, v_state, v_challenge, v_scope;"
	"END")
	PAIRING_FN("scauth_pairing_callback",
	    "p_state text, p_code text, p_error text, p_error_description text", "text",
	"DECLARE v_expires timestamptz; v_callback timestamptz;"
	"BEGIN"
	" IF length(p_state) > 128 OR length(p_code) > 4096 OR length(p_error) > 64 OR"
	"    length(p_error_description) > 1000 THEN RETURN 'invalid'; END IF;"
	" SELECT p.expires_at, p.callback_at INTO v_expires, v_callback"
	"  FROM scauth_pairing p WHERE p.state = p_state FOR UPDATE;"
	" IF NOT FOUND THEN RETURN 'unknown'; END IF;"
	" IF v_expires < now() THEN RETURN 'expired'; END IF;"
	" IF v_callback IS NOT NULL THEN RETURN 'used'; END IF;"
	" IF (p_code IS NULL) = (p_error IS NULL) THEN RETURN 'invalid'; END IF;"
	" UPDATE scauth_pairing p SET callback_at = now(), callback_code = p_code,"
	"  callback_error = p_error,"
	"  callback_error_description = CASE WHEN p_error IS NULL THEN NULL"
	"   ELSE p_error_description END"
	"  WHERE p.state = p_state;"
	" PERFORM pg_notify('scauth_pairing', '');"
	" RETURN 'ok';"
	"END")
	PAIRING_FN("scauth_pairing_create",
	    "p_code text, p_state text, p_challenge text, p_scope text, p_kiosk text", "text",
	"BEGIN"
	" IF p_code IS NULL OR p_code !~ " PAIRING_CODE_RE " OR p_state IS NULL OR"
	"    length(p_state) NOT BETWEEN 16 AND 128 OR length(p_challenge) IS DISTINCT FROM 43 OR"
	"    length(p_scope) > 1000 OR length(p_kiosk) > 255 THEN"
	PAIRING_BAD_INPUT("a code of 8 letters, a state of 16 to 128 characters, a challenge "
	    "of 43, a scope of at most 1000 and a host name of at most 255")
	" END IF;"
	" DELETE FROM scauth_pairing p WHERE p.expires_at < now();"
	" INSERT INTO scauth_pairing (code, state, challenge, scope, kiosk, expires_at)"
	"  VALUES (p_code, p_state, p_challenge, coalesce(p_scope, ''), coalesce(p_kiosk, ''),"
	"   now() + interval '10 minutes')"
	"  ON CONFLICT (code) DO NOTHING;"
	" RETURN CASE WHEN FOUND THEN 'ok' ELSE 'taken' END;"
	"END")
	PAIRING_FN("scauth_pairing_take", "p_state text",
	    "TABLE(status text, code text, error text, error_description text)",
	"DECLARE v_expires timestamptz; v_callback timestamptz; v_code text; v_error text;"
	" v_description text;"
	"BEGIN"
	" IF length(p_state) > 128 THEN"
	PAIRING_BAD_INPUT("a state of 16 to 128 characters")
	" END IF;"
	" SELECT p.expires_at, p.callback_at INTO v_expires, v_callback"
	"  FROM scauth_pairing p WHERE p.state = p_state FOR UPDATE;"
	" IF NOT FOUND THEN"
	"  RETURN QUERY SELECT 'unknown'::text, NULL::text, NULL::text, NULL::text; RETURN;"
	" END IF;"
	" IF v_callback IS NOT NULL THEN"
	"  DELETE FROM scauth_pairing p WHERE p.state = p_state RETURNING p.callback_code,"
	"   p.callback_error, p.callback_error_description INTO v_code, v_error, v_description;"
	"  RETURN QUERY SELECT 'ok'::text, v_code, v_error, v_description; RETURN;"
	" END IF;"
	" RETURN QUERY SELECT CASE WHEN v_expires < now() THEN 'expired' ELSE 'waiting' END,"
	"  NULL::text, NULL::text, NULL::text;"
	"END")
	PAIRING_FN("scauth_pairing_drop", "p_state text", "void",
	"BEGIN"
	" DELETE FROM scauth_pairing p WHERE p.state = p_state;"
	"END")
	" EXECUTE format('REVOKE EXECUTE ON FUNCTION %1$s.scauth_pairing_open(text, text),"
	"  %1$s.scauth_pairing_callback(text, text, text, text),"
	"  %1$s.scauth_pairing_create(text, text, text, text, text),"
	"  %1$s.scauth_pairing_take(text), %1$s.scauth_pairing_drop(text) FROM PUBLIC', s);"
	"END $do$";

#undef PAIRING_FN
#undef PAIRING_CODE_RE
#undef PAIRING_BAD_INPUT

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

/* The limits of the connection, in seconds. */
struct pg_conf {
	long connect;           /* postgres_connect_timeout */
	long statement;         /* postgres_timeout */
	long lock;              /* postgres_lock_timeout */
};

/*
 * pg.c's part of a context (ctx->mod[MOD_PG]), made at the first connection
 * and freed with the context (dl_release): the connection, and the limits
 * read from the configuration then.
 */
struct pg_link {
	const struct pq_fns *pq;
	PGconn *conn;           /* NULL when dropped: the next statement connects again */
	int tx;                 /* a transaction was begun on conn */
	int listens;            /* conn LISTENs (pg_listen); a new connection does not */
	struct pg_conf conf;
};

/* A key of ours, with the values it may take. */
struct pg_key {
	enum cfg_key key;
	const char *name;
	long lo, hi;
};

static const struct pg_key connect_key = {
	CFG_POSTGRES_CONNECT_TIMEOUT, "postgres_connect_timeout", 1, 600
};
static const struct pg_key statement_key = {
	CFG_POSTGRES_TIMEOUT, "postgres_timeout", 1, 600
};
static const struct pg_key lock_key = {
	CFG_POSTGRES_LOCK_TIMEOUT, "postgres_lock_timeout", 1, 3600
};

/* Reads k into *out when it is set; the key when it is not a number in its range. */
static const struct pg_key *
conf_key(const scauth_ctx *ctx, const struct pg_key *k, long *out)
{
	const char *v = ctx->cfg[k->key];

	return v == NULL || number_parse(v, k->lo, k->hi, out) == 0 ? NULL : k;
}

/* The limits; the first key that is not a number in its range, or NULL. */
static const struct pg_key *
conf_read(const scauth_ctx *ctx, struct pg_conf *c)
{
	const struct pg_key *bad;

	memset(c, 0, sizeof(*c));
	/* A refresher holds the row as long as the flock: its requests and a grace. */
	c->lock = 2 * ctx->timeout + 5;
	if ((bad = conf_key(ctx, &connect_key, &c->connect)) == NULL &&
	    (bad = conf_key(ctx, &statement_key, &c->statement)) == NULL)
		bad = conf_key(ctx, &lock_key, &c->lock);
	return bad;
}

static int
conf_error(scauth_ctx *ctx, const struct pg_key *k)
{
	return number_refused(ctx, k->name, ctx->cfg[k->key], k->lo, k->hi);
}

int
pg_configure(scauth_ctx *ctx)
{
	struct pg_conf c;
	const struct pg_key *bad;

	if ((bad = conf_read(ctx, &c)) != NULL)
		return conf_error(ctx, bad);
	return 0;
}

static struct pg_link *
link_of(const scauth_ctx *ctx)
{
	return ctx->mod[MOD_PG];
}

long
pg_seconds(const scauth_ctx *ctx, enum pg_wait w)
{
	const struct pg_link *l = link_of(ctx);
	struct pg_conf c;

	/* Before the first connection: from the configuration, checked when it was loaded. */
	if (l == NULL)
		(void)conf_read(ctx, &c);
	else
		c = l->conf;
	return w == PG_WAIT_LOCK ? c.lock : c.statement;
}

const struct pq_fns *
pg_fns(const scauth_ctx *ctx)
{
	const struct pg_link *l = link_of(ctx);

	return l != NULL ? l->pq : NULL;
}

static PGconn *
pg_connection(const scauth_ctx *ctx)
{
	const struct pg_link *l = link_of(ctx);

	return l != NULL ? l->conn : NULL;
}

int
pg_connected(const scauth_ctx *ctx)
{
	return pg_connection(ctx) != NULL;
}

/* Closes the connection and frees the link: dl_release()'s hook. */
static void
link_free(scauth_ctx *ctx)
{
	struct pg_link *l = link_of(ctx);

	if (l == NULL)
		return;
	pg_release(ctx);
	free(l);
	ctx->mod[MOD_PG] = NULL;
}

/* The link, made with the limits of the configuration at the first connection. */
static int
link_get(scauth_ctx *ctx, struct pg_link **out)
{
	const struct pg_key *bad;
	struct pg_link *l;
	int r;

	if ((*out = link_of(ctx)) != NULL)
		return 0;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return SCAUTH_ENOMEM;
	if ((bad = conf_read(ctx, &l->conf)) != NULL)
		r = conf_error(ctx, bad);
	else
		r = dl_pq(ctx, &l->pq);
	if (r != 0) {
		free(l);
		return r;
	}
	ctx->mod[MOD_PG] = l;
	dl_on_release(ctx, link_free);
	*out = l;
	return 0;
}

void
pg_describe(scauth_ctx *ctx, char *buf, size_t len)
{
	const struct pq_fns *pq;
	PGconn *conn;
	PQconninfoOption *opts = NULL, *o;
	const char *host = NULL, *port = NULL, *db = NULL;
	char *err = NULL, keep[ERRMSG_LEN];
	int r;

	snprintf(buf, len, "the database server");
	/* Describing goes into messages: it must not replace the one being made. */
	memcpy(keep, ctx->err, sizeof(keep));
	r = dl_pq(ctx, &pq);
	memcpy(ctx->err, keep, sizeof(keep));
	if (r != 0)
		return;
	if ((conn = pg_connection(ctx)) != NULL) {
		host = pq->host(conn);
		port = pq->port(conn);
		db = pq->db(conn);
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

/*
 * Parses the conninfo once to refuse a password in it, and copies its
 * passfile (or "") to passfile and whether it names a service (service=)
 * to *service; says why in ctx.
 */
static int
check_conninfo(scauth_ctx *ctx, const struct pq_fns *pq, const char *conninfo, char *passfile,
    size_t len, int *service)
{
	PQconninfoOption *opts, *o;
	char *err = NULL;
	int r = 0;

	passfile[0] = '\0';
	*service = 0;
	if ((opts = pq->conninfo_parse(conninfo, &err)) == NULL) {
		r = ctx_err(ctx, SCAUTH_ECONFIG, "postgres: not a libpq connection string or URI: "
		    "%s", err != NULL ? first_line(err) : "out of memory");
		goto out;
	}
	for (o = opts; o->keyword != NULL; o++) {
		if (strcmp(o->keyword, "password") == 0 && o->val != NULL) {
			r = ctx_err(ctx, SCAUTH_ECONFIG, "postgres: holds a password; put it in a "
			    "passfile (passfile=PATH or ~/.pgpass) instead");
			break;
		}
		if (strcmp(o->keyword, "service") == 0 && o->val != NULL && *o->val != '\0')
			*service = 1;
		if (strcmp(o->keyword, "passfile") == 0 && o->val != NULL &&
		    snprintf(passfile, len, "%s", o->val) >= (int)len) {
			r = ctx_err(ctx, SCAUTH_ECONFIG, "postgres: the passfile's name is too long");
			break;
		}
	}
out:
	if (opts != NULL)
		pq->conninfo_free(opts);
	if (err != NULL)
		pq->freemem(err);
	return r;
}

/*
 * Picks the passfile libpq would read and checks it, since libpq, finding
 * one with group or other bits (or not a plain file), ignores it and writes
 * a WARNING to stderr by itself (fe-connect.c, passwordFromFile: fprintf,
 * not the notice processor), and a library never prints.  The file is
 * passfile= of the connection string, else PGPASSFILE (not under NO_ENV),
 * else .pgpass in the context's home (the HOME libpq sees, dl.c).  The
 * caller then hands libpq that very file, so that it reads no other.
 */
static int
check_passfile(scauth_ctx *ctx, char *path, size_t len)
{
	const char *v;
	struct stat st;

	if (path[0] == '\0' && !(ctx->flags & SCAUTH_CTX_NO_ENV) &&
	    (v = getenv("PGPASSFILE")) != NULL && *v != '\0')
		snprintf(path, len, "%s", v);
	if (path[0] == '\0' && ctx->home != NULL)
		snprintf(path, len, "%s/.pgpass", ctx->home);
	/* libpq follows links and takes an absent file for none: so do we. */
	if (path[0] == '\0' || stat(path, &st) == -1)
		return 0;
	if (!S_ISREG(st.st_mode))
		return ctx_err(ctx, SCAUTH_ECONFIG, "the passfile %s for the database is not a "
		    "regular file; name a file (passfile= in postgres, PGPASSFILE or ~/.pgpass)",
		    path);
	if ((st.st_mode & 077) != 0)
		return ctx_err(ctx, SCAUTH_EUNSAFE, "the passfile %s for the database has mode "
		    "%04o, which allows group/other access (libpq would ignore it); chmod 600 it",
		    path, (unsigned)(st.st_mode & 07777));
	return 0;
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
	const char *keys[5] = { "connect_timeout", "fallback_application_name", "passfile",
	    "dbname", NULL };
	const char *vals[5] = { NULL, "soundcloud-auth", NULL, NULL, NULL };
	const struct pq_fns *pq;
	char timeout[24], where[300], passfile[4096];
	struct env_shield sh;
	struct pg_link *l;
	PGconn *conn = NULL;
	const char *v;
	int r, service;

	if (pg_connection(ctx) != NULL)
		return 0;
	if (ctx->cfg[CFG_POSTGRES] == NULL || *ctx->cfg[CFG_POSTGRES] == '\0')
		return ctx_err(ctx, SCAUTH_ECONFIG, "postgres: not set; it names the fleet's "
		    "database (a libpq connection string or URI)");
	if ((r = link_get(ctx, &l)) != 0)
		return r;
	pq = l->pq;
	if ((r = check_conninfo(ctx, pq, ctx->cfg[CFG_POSTGRES], passfile, sizeof(passfile),
	    &service)) != 0)
		return r;
	/*
	 * A service (pg_service.conf) may name its own passfile, which libpq
	 * takes only for what the connection does not set: naming ~/.pgpass
	 * here would hide it.  Then the choice is libpq's, unchecked.
	 */
	if (!service && !(ctx->flags & SCAUTH_CTX_NO_ENV) && (v = getenv("PGSERVICE")) != NULL &&
	    *v != '\0')
		service = 1;
	if ((!service || passfile[0] != '\0') &&
	    (r = check_passfile(ctx, passfile, sizeof(passfile))) != 0)
		return r;
	/* Ours first: what the connection string says wins over it. */
	snprintf(timeout, sizeof(timeout), "%ld", l->conf.connect);
	vals[0] = timeout;
	/* The file checked, whatever libpq would find by itself; NULL: libpq's default. */
	vals[2] = passfile[0] != '\0' ? passfile : NULL;
	vals[3] = ctx->cfg[CFG_POSTGRES];
	/* libpq takes its defaults from PG* variables: under NO_ENV, not the caller's. */
	if ((r = dl_shield_on(ctx, &sh)) != 0)
		return r;
	conn = pq->connectdb_params(keys, vals, 1);
	dl_shield_off(&sh);
	if (conn == NULL)
		return SCAUTH_ENOMEM;
	pq->set_notice_processor(conn, quiet_notice, NULL);
	if (pq->status(conn) == CONNECTION_OK) {
		l->conn = conn;
		l->listens = 0;
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
	struct pg_link *l = link_of(ctx);

	if (l != NULL && l->conn != NULL)
		l->pq->finish(l->conn);
	if (l != NULL) {
		l->conn = NULL;
		l->listens = 0;
	}
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
		msg = first_line(pq->error_message(pg_connection(ctx)));
	if (state == NULL || strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0) {
		/* The connection is gone: nothing more can be said on it. */
		r = ctx_err(ctx, SCAUTH_ESTORE, "%s: lost the database server (%s): %s; try again "
		    "later", what, where, msg);
		pg_release(ctx);
	} else if (strcmp(state, "42P01") == 0)
		r = ctx_err(ctx, SCAUTH_ECONFIG, "%s: the database (%s) has no " PG_TABLE " table; "
		    "run 'git-credential-soundcloud fleet init' once", what, where);
	else if (strcmp(state, "42703") == 0)
		r = ctx_err(ctx, SCAUTH_ECONFIG, "%s: the " PG_TABLE " table in the database (%s) "
		    "is of an older version; run 'git-credential-soundcloud fleet init' once", what,
		    where);
	else if (strcmp(state, "42501") == 0)
		r = ctx_err(ctx, SCAUTH_ECONFIG, "%s: permission denied in the database (%s): %s; "
		    "GRANT SELECT, INSERT, UPDATE, DELETE ON " PG_TABLE " to this role (and EXECUTE "
		    "ON FUNCTION scauth_pairing_create, scauth_pairing_take and scauth_pairing_drop "
		    "for phone logins at a kiosk)", what, where, msg);
	else if (strcmp(state, "42883") == 0)
		r = ctx_err(ctx, SCAUTH_ECONFIG, "%s: the database (%s) lacks a function of this "
		    "version (%s); run 'git-credential-soundcloud fleet init' once", what, where,
		    msg);
	else if (strcmp(state, "55P03") == 0)
		r = ctx_err(ctx, SCAUTH_ELOCKED, "%s: another machine held the lock for more than "
		    "%ld s (postgres_lock_timeout); try again later", what,
		    pg_seconds(ctx, PG_WAIT_LOCK));
	else if (strcmp(state, "57014") == 0)
		r = ctx_err(ctx, SCAUTH_ESTORE, "%s: the database server (%s) took longer than "
		    "%ld s (postgres_timeout); try again later", what, where,
		    pg_seconds(ctx, PG_WAIT_STATEMENT));
	else
		r = ctx_err(ctx, SCAUTH_ESTORE, "%s: the database server (%s) said: %s (SQLSTATE "
		    "%s)", what, where, msg, state);
	return r;
}

int
pg_exec(scauth_ctx *ctx, const char *what, const char *sql, int n, const char *const *vals,
    const int *lens, const int *bin, enum pg_wait wait, PGresult **out)
{
	const struct pq_fns *pq;
	PGresult *res = NULL, *last = NULL;
	struct pg_link *l = link_of(ctx);
	struct pollfd pfd;
	long long deadline;
	long left, wait_sec;
	int r, st;

	*out = NULL;
	/* A transaction lives and dies with its connection: never go on with a new one. */
	if (l != NULL && l->conn == NULL && l->tx)
		return ctx_err(ctx, SCAUTH_ESTORE, "%s: the connection to the database server was "
		    "lost during the transaction; try again later", what);
	if ((r = pg_connect(ctx)) != 0)
		return r;
	l = link_of(ctx);
	pq = l->pq;
	wait_sec = pg_seconds(ctx, wait);
	/* Results come back as binary, so that a sealed record needs no unescaping. */
	if (!pq->send_query_params(l->conn, sql, n, NULL, vals, lens, bin, 1))
		return pg_error(ctx, pq, NULL, what);
	deadline = mono_ms() + (wait_sec + PG_GRACE_SEC) * 1000LL;
	for (;;) {
		while (!pq->is_busy(l->conn)) {
			if ((res = pq->get_result(l->conn)) == NULL)
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
		pfd.fd = pq->socket(l->conn);
		pfd.events = POLLIN;
		if (poll(&pfd, 1, left > 1000 ? 1000 : (int)left) == -1 && errno != EINTR) {
			r = ctx_errno(ctx, SCAUTH_ESYSTEM, "%s: poll", what);
			pg_release(ctx);
			goto out;
		}
		if (!pq->consume_input(l->conn)) {
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
pg_run(scauth_ctx *ctx, const char *what, const char *sql, enum pg_wait wait)
{
	PGresult *res;
	int r;

	if ((r = pg_exec(ctx, what, sql, 0, NULL, NULL, NULL, wait, &res)) == 0)
		pg_fns(ctx)->clear(res);
	return r;
}

/* Says whether a transaction is open on the link (made by now: pg_begin connects first). */
static void
set_tx(scauth_ctx *ctx, int tx)
{
	struct pg_link *l = link_of(ctx);

	if (l != NULL)
		l->tx = tx;
}

/* BEGIN with this context's timeouts, local to the transaction. */
int
pg_begin(scauth_ctx *ctx, const char *what)
{
	long stmt_sec = pg_seconds(ctx, PG_WAIT_STATEMENT);
	long lock_sec = pg_seconds(ctx, PG_WAIT_LOCK);
	char sql[160];
	int r;

	/* A statement may wait for a lock and then work: its timeout covers both. */
	snprintf(sql, sizeof(sql), "SELECT set_config('statement_timeout', '%ld', true), "
	    "set_config('lock_timeout', '%ld', true)", (stmt_sec + lock_sec) * 1000,
	    lock_sec * 1000);
	set_tx(ctx, 0);
	if ((r = pg_run(ctx, what, "BEGIN", PG_WAIT_STATEMENT)) != 0)
		return r;
	set_tx(ctx, 1);
	if ((r = pg_run(ctx, what, sql, PG_WAIT_STATEMENT)) != 0)
		pg_abort(ctx);
	return r;
}

/* Ends a transaction that failed: the server rolls back, or the connection goes. */
void
pg_abort(scauth_ctx *ctx)
{
	struct pg_link *l = link_of(ctx);

	set_tx(ctx, 0);
	if (l == NULL || l->conn == NULL)
		return;
	if (l->pq->transaction_status(l->conn) == PQTRANS_IDLE)
		return;
	if (pg_run(ctx, "rollback", "ROLLBACK", PG_WAIT_STATEMENT) != 0)
		pg_release(ctx);
}

/* COMMIT of the transaction pg_begin() opened. */
int
pg_commit(scauth_ctx *ctx, const char *what)
{
	int r;

	r = pg_run(ctx, what, "COMMIT", PG_WAIT_STATEMENT);
	set_tx(ctx, 0);
	return r;
}

/* ------------------------------------------------------------------------ */
/* Notifications: one channel per connection. */

int
pg_listen(scauth_ctx *ctx, const char *what, const char *listen_sql)
{
	struct pg_link *l;
	int r;

	if ((l = link_of(ctx)) != NULL && l->conn != NULL && l->listens)
		return 0;
	if ((r = pg_run(ctx, what, listen_sql, PG_WAIT_STATEMENT)) != 0)
		return r;
	link_of(ctx)->listens = 1;      /* made by pg_run's connect */
	return 0;
}

void
pg_unlisten(scauth_ctx *ctx, const char *what)
{
	struct pg_link *l = link_of(ctx);

	if (l == NULL || l->conn == NULL || !l->listens)
		return;
	l->listens = 0;
	(void)pg_run(ctx, what, "UNLISTEN *", PG_WAIT_STATEMENT);
}

int
pg_wait_notify(scauth_ctx *ctx, const char *what, long long ms)
{
	struct pg_link *l = link_of(ctx);
	struct pollfd pfd;
	PGnotify *n;
	int got = 0;

	if (l == NULL || l->conn == NULL)
		return 0;
	pfd.fd = l->pq->socket(l->conn);
	pfd.events = POLLIN;
	if (poll(&pfd, 1, ms > INT_MAX ? INT_MAX : ms < 0 ? 0 : (int)ms) == -1) {
		if (errno == EINTR)
			return 0;
		return ctx_errno(ctx, SCAUTH_ESYSTEM, "%s: poll", what);
	}
	if (!l->pq->consume_input(l->conn)) {
		/* The next statement connects again; its error says what became of the server. */
		ctx_trace(ctx, "postgres: the connection was lost while %s", what);
		pg_release(ctx);
		return 0;
	}
	/* Drained: a payload is the caller's business, and ours carry none. */
	while ((n = l->pq->notifies(l->conn)) != NULL) {
		l->pq->freemem(n);
		got = 1;
	}
	return got;
}

/* The answer of a query of one boolean, without needing CREATE (a least-privileged role). */
static int
pg_true(scauth_ctx *ctx, const char *sql, int *present)
{
	const struct pq_fns *pq;
	PGresult *res;
	int r;

	*present = 0;
	r = pg_exec(ctx, "fleet init", sql, 0, NULL, NULL, NULL, PG_WAIT_STATEMENT, &res);
	if (r != 0)
		return r;
	/* A binary bool: one byte. */
	pq = pg_fns(ctx);
	*present = pq->ntuples(res) == 1 && pq->getlength(res, 0, 0) == 1 &&
	    pq->getvalue(res, 0, 0)[0] == 1;
	pq->clear(res);
	return 0;
}

/* Schema changes take turns: two CREATE ... IF NOT EXISTS at once can still collide. */
static int
schema_lock(scauth_ctx *ctx)
{
	return pg_run(ctx, "fleet init", "SELECT pg_advisory_xact_lock(" PG_SCHEMA_LOCK ")",
	    PG_WAIT_LOCK);
}

/* Whether the table has the intent columns (a table made by an older version has not). */
static int
intent_present(scauth_ctx *ctx, int *present)
{
	const struct pq_fns *pq;
	PGresult *res;
	int r;

	*present = 0;
	r = pg_exec(ctx, "fleet init", "SELECT count(*)::int4 FROM pg_attribute WHERE attrelid = '"
	    PG_TABLE "'::regclass AND attname = 'refreshing_until' AND NOT attisdropped", 0, NULL,
	    NULL, NULL, PG_WAIT_STATEMENT, &res);
	if (r != 0)
		return r;
	/* A binary int4. */
	pq = pg_fns(ctx);
	*present = pq->ntuples(res) == 1 && pq->getlength(res, 0, 0) == 4 &&
	    memcmp(pq->getvalue(res, 0, 0), "\0\0\0\1", 4) == 0;
	pq->clear(res);
	return 0;
}

/* Adds what a table of an older version lacks; nothing (and no privilege needed) otherwise. */
static int
upgrade_schema(scauth_ctx *ctx)
{
	int present, r;

	if ((r = intent_present(ctx, &present)) != 0 || present)
		return r;
	if ((r = schema_lock(ctx)) != 0 ||
	    (r = pg_run(ctx, "fleet init", intent_sql, PG_WAIT_STATEMENT)) != 0)
		return r;
	ctx_trace(ctx, "fleet init: added the intent columns to " PG_TABLE);
	return 0;
}

/* Whether the table exists. */
static int
schema_present(scauth_ctx *ctx, int *present)
{
	return pg_true(ctx, "SELECT to_regclass('" PG_TABLE "') IS NOT NULL", present);
}

/*
 * The pairing tables and functions, when any is missing (a database of an
 * older version has none); nothing, and no privilege needed, otherwise.
 */
static int
pairing_schema(scauth_ctx *ctx)
{
	static const char *const sql[] = { pairing_sql, pairing_miss_sql,
	    pairing_miss_index_sql, pairing_fn_sql };
	size_t i;
	int present, r;

	if ((r = pg_true(ctx, "SELECT to_regclass('scauth_pairing') IS NOT NULL AND"
	    " to_regclass('scauth_pairing_miss') IS NOT NULL AND"
	    " to_regprocedure('scauth_pairing_open(text, text)') IS NOT NULL AND"
	    " to_regprocedure('scauth_pairing_callback(text, text, text, text)') IS NOT NULL AND"
	    " to_regprocedure('scauth_pairing_create(text, text, text, text, text)') IS NOT NULL AND"
	    " to_regprocedure('scauth_pairing_take(text)') IS NOT NULL AND"
	    " to_regprocedure('scauth_pairing_drop(text)') IS NOT NULL",
	    &present)) != 0 || present)
		return r;
	if ((r = schema_lock(ctx)) != 0)
		return r;
	for (i = 0; i < sizeof(sql) / sizeof(sql[0]); i++)
		if ((r = pg_run(ctx, "fleet init", sql[i], PG_WAIT_STATEMENT)) != 0)
			return r;
	ctx_trace(ctx, "fleet init: created the pairing tables and functions");
	return 0;
}

int
pg_init_schema(scauth_ctx *ctx)
{
	int present, r;

	if ((r = pg_begin(ctx, "fleet init")) != 0)
		return r;
	if ((r = schema_present(ctx, &present)) != 0)
		goto out;
	if (!present) {
		/*
		 * Two CREATE TABLE IF NOT EXISTS at once can still collide in
		 * the catalog: machines that start together take turns.
		 */
		if ((r = schema_lock(ctx)) != 0 ||
		    (r = pg_run(ctx, "fleet init", schema_sql, PG_WAIT_STATEMENT)) != 0)
			goto out;
		ctx_trace(ctx, "fleet init: created table " PG_TABLE);
	}
	if ((r = upgrade_schema(ctx)) != 0 || (r = pairing_schema(ctx)) != 0)
		goto out;
	r = pg_commit(ctx, "fleet init");
out:
	if (r != 0)
		pg_abort(ctx);
	return r;
}

long long
pg_int8(const char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return (long long)be64toh(v);
}
