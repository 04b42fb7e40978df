/*
 * db.c - the relay's only access to the fleet's database: the two
 * SECURITY DEFINER functions of `fleet init` (lib/pg.c), one call a
 * request, each a transaction of its own, so that a failure leaves nothing
 * half-done.  libpq is linked: the relay is a small program of its own.
 * What goes to the log is a status word or an SQLSTATE, never a parameter.
 */
#include "relay.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Seconds, unless the postgres setting says otherwise. */
#define RELAY_CONNECT_TIMEOUT "10"
#define RELAY_STATEMENT_TIMEOUT "-c statement_timeout=10000"

static void
quiet_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

int
relay_db_check(const struct relay_conf *c, char *err, size_t errlen)
{
	PQconninfoOption *opts, *o;
	char *why = NULL;
	int r = 0;

	if ((opts = PQconninfoParse(c->postgres, &why)) == NULL) {
		/* libpq's message may quote the string: it stays out of the log. */
		snprintf(err, errlen, "postgres: not a libpq connection string or URI");
		PQfreemem(why);
		return -1;
	}
	for (o = opts; o->keyword != NULL; o++)
		if (strcmp(o->keyword, "password") == 0 && o->val != NULL && *o->val != '\0') {
			snprintf(err, errlen, "postgres: holds a password; put it in a passfile "
			    "(passfile=, mode 0600) instead");
			r = -1;
		}
	PQconninfoFree(opts);
	return r;
}

static PGconn *
db_connect(const struct relay_conf *c)
{
	/*
	 * The postgres setting comes last, so that what it says wins.  A process a
	 * request: no GSSAPI probe (10 ms of Kerberos set-up) unless it asks for one.
	 */
	const char *keys[] = { "connect_timeout", "options", "application_name", "gssencmode",
	    "dbname", NULL };
	const char *vals[] = { RELAY_CONNECT_TIMEOUT, RELAY_STATEMENT_TIMEOUT,
	    "soundcloud-auth-relay", "disable", c->postgres, NULL };
	PGconn *pg;

	pg = PQconnectdbParams(keys, vals, 1);
	if (pg == NULL || PQstatus(pg) != CONNECTION_OK) {
		relay_log("database: cannot connect");
		PQfinish(pg);
		return NULL;
	}
	PQsetNoticeProcessor(pg, quiet_notice, NULL);
	return pg;
}

/* Runs sql with n text parameters; the result of one row, or NULL (logged). */
static PGresult *
db_call(const struct relay_conf *c, const char *what, const char *sql, int n,
    const char *const *vals, int cols)
{
	PGconn *pg;
	PGresult *res;
	const char *sqlstate;

	if ((pg = db_connect(c)) == NULL)
		return NULL;
	res = PQexecParams(pg, sql, n, NULL, vals, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
	    PQnfields(res) != cols) {
		sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		relay_log("database: %s failed (SQLSTATE %s)", what,
		    sqlstate != NULL ? sqlstate : "none");
		PQclear(res);
		res = NULL;
	}
	PQfinish(pg);
	return res;
}

/* A copy of a text field; NULL for SQL NULL (and when out of memory: the caller checks). */
static char *
field(PGresult *res, int col)
{
	return PQgetisnull(res, 0, col) ? NULL : sstrdup(PQgetvalue(res, 0, col));
}

int
relay_db_open(const struct relay_conf *c, const char *code, const char *addr,
    struct relay_pairing *out)
{
	const char *vals[] = { code, addr };
	PGresult *res;
	int r = -1;

	memset(out, 0, sizeof(*out));
	if ((res = db_call(c, "open", "SELECT status, state, challenge, scope FROM "
	    "scauth_pairing_open($1, $2)", 2, vals, 4)) == NULL)
		return -1;
	if (PQgetisnull(res, 0, 0) || strlen(PQgetvalue(res, 0, 0)) >= sizeof(out->status)) {
		relay_log("database: open gave no status");
		goto out;
	}
	strcpy(out->status, PQgetvalue(res, 0, 0));
	if (strcmp(out->status, "ok") == 0) {
		out->state = field(res, 1);
		out->challenge = field(res, 2);
		out->scope = field(res, 3);
		if (out->state == NULL || out->challenge == NULL || out->scope == NULL) {
			relay_log("database: open gave an incomplete pairing");
			relay_pairing_free(out);
			goto out;
		}
	}
	r = 0;
 out:
	PQclear(res);
	return r;
}

int
relay_db_callback(const struct relay_conf *c, const struct callback *cb, char *status,
    size_t len)
{
	const char *vals[] = { cb->state, cb->code, cb->error, cb->error_description };
	PGresult *res;
	int r = -1;

	status[0] = '\0';
	if ((res = db_call(c, "callback", "SELECT scauth_pairing_callback($1, $2, $3, $4)", 4,
	    vals, 1)) == NULL)
		return -1;
	if (PQgetisnull(res, 0, 0) || strlen(PQgetvalue(res, 0, 0)) >= len)
		relay_log("database: callback gave no status");
	else {
		strcpy(status, PQgetvalue(res, 0, 0));
		r = 0;
	}
	PQclear(res);
	return r;
}

void
relay_pairing_free(struct relay_pairing *p)
{
	sfree(p->state);
	sfree(p->challenge);
	sfree(p->scope);
	memset(p, 0, sizeof(*p));
}
