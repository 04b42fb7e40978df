/*
 * pair.c - the kiosk's side of a phone login through the relay: a pairing
 * row in the fleet's database (a short code for a person to type on a
 * phone, the login's state and PKCE challenge), a wait on the database for
 * the relay's callback (LISTEN scauth_pairing, re-checked now and then in
 * case a notification is lost), and the callback taken once.
 *
 * The relay never sees the verifier or the client secret: what it stores is
 * SoundCloud's code, which only this kiosk can redeem.  The code a person
 * types is no secret (it is on the screen), but it is drawn from a CSPRNG so
 * that nobody can guess a live one; the relay slows guessing down.
 */
#include "internal.h"
#include "fleet.h"
#include "login.h"
#include "dl.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char code_alphabet[] = PAIR_CODE_ALPHABET;
#define ALPHABET_LEN    (sizeof(code_alphabet) - 1)
#define CODE_TRIES      5       /* fresh codes after a collision with a live one */
#define RECHECK_MS      5000    /* a re-check of the row, should a notification be lost */
#define RECONNECT_MS    1000    /* between tries to reach a database server that went away */
#define MAX_RELAY_URL   256     /* shown on one line of the screen */
#define MAX_DESCRIPTION 200     /* error_description kept from the relay's row */
#define PAIR_CHANNEL    "scauth_pairing"

/*
 * The kiosks' role reaches the pairings only through these functions of
 * `fleet init` (lib/pg.c), each keyed by what only this kiosk holds (the
 * state), so that no kiosk reads or ends another's pairing.
 */
static const char create_sql[] = "SELECT scauth_pairing_create($1, $2, $3, $4, $5)";

/*
 * Takes the callback once: 'ok' and the callback (the row is deleted),
 * 'waiting', 'expired', or 'unknown' (gone).
 */
static const char take_sql[] =
	"SELECT status, code, error, error_description FROM scauth_pairing_take($1)";

static const char drop_sql[] = "SELECT scauth_pairing_drop($1)";

/* An error for a pairing that cannot work with this configuration. */
static int
relay_config(scauth_ctx *ctx, struct url *u)
{
	const char *relay = ctx->cfg[CFG_RELAY_URL];

	if (relay == NULL || *relay == '\0')
		return ctx_err(ctx, SCAUTH_ECONFIG, "relay_url: not set; it is the https address "
		    "of the relay's form page that a phone opens (e.g. "
		    "https://login.example.org/kiosk)");
	if (strlen(relay) > MAX_RELAY_URL || url_parse(relay, u) != 0)
		return ctx_err(ctx, SCAUTH_ECONFIG, "relay_url: not an http(s) URL of at most %d "
		    "characters", MAX_RELAY_URL);
	if (ctx->cfg[CFG_POSTGRES] == NULL || *ctx->cfg[CFG_POSTGRES] == '\0')
		return ctx_err(ctx, SCAUTH_ECONFIG, "postgres: not set; a phone login through the "
		    "relay needs the fleet's database (a libpq connection string or URI)");
	return 0;
}

/* 8 letters of the alphabet, uniformly (bytes past the last whole multiple are drawn again). */
static int
new_code(scauth_ctx *ctx, char code[PAIR_CODE_LEN + 1])
{
	unsigned char b[32];
	size_t i, n = 0;
	int r;

	while (n < PAIR_CODE_LEN) {
		if ((r = random_bytes(ctx, b, sizeof(b))) != 0)
			return r;
		for (i = 0; i < sizeof(b) && n < PAIR_CODE_LEN; i++)
			if (b[i] < 256 / ALPHABET_LEN * ALPHABET_LEN)
				code[n++] = code_alphabet[b[i] % ALPHABET_LEN];
	}
	code[n] = '\0';
	scauth_wipe(b, sizeof(b));
	return 0;
}

/* What a person reads and what a QR code carries, from relay_url and the code. */
static int
pair_texts(scauth_ctx *ctx, struct pairing *p, const struct url *u)
{
	const char *relay = ctx->cfg[CFG_RELAY_URL];
	size_t n;

	snprintf(p->shown, sizeof(p->shown), "%.4s-%.4s", p->code, p->code + 4);
	free(p->address);
	free(p->link);
	p->link = NULL;
	/* https is what a phone assumes; an http address is shown as it is. */
	p->address = strdup(strcmp(u->scheme, "https") == 0 ? relay + 8 : relay);
	if (p->address != NULL && (n = strlen(p->address)) > 0 && p->address[n - 1] == '/' &&
	    strcmp(u->path, "/") == 0 && u->query == NULL)
		p->address[n - 1] = '\0';
	if (p->address == NULL || asprintf(&p->link, "%s%scode=%s", relay,
	    u->query != NULL ? "&" : "?", p->code) < 0) {
		p->link = NULL;
		return ctx_err(ctx, SCAUTH_ENOMEM, "pairing: out of memory");
	}
	return 0;
}

int
pairing_create(scauth_ctx *ctx, struct pairing *p, const char *state, const char *challenge)
{
	const struct pq_fns *pq;
	struct url u = { 0 };
	PGresult *res = NULL;
	char host[256] = "";
	const char *vals[5];
	int i, r;

	if ((r = relay_config(ctx, &u)) != 0)
		goto out;
	if (gethostname(host, sizeof(host) - 1) != 0)
		host[0] = '\0';
	for (i = 0; i < CODE_TRIES; i++) {
		if ((r = new_code(ctx, p->code)) != 0)
			goto out;
		vals[0] = p->code;
		vals[1] = state;
		vals[2] = challenge;
		vals[3] = ctx->cfg[CFG_SCOPE] != NULL ? ctx->cfg[CFG_SCOPE] : "";
		vals[4] = host;
		if ((r = pg_exec(ctx, "pairing with a phone", create_sql, 5, vals, NULL, NULL,
		    PG_WAIT_STATEMENT, &res)) != 0)
			goto out;
		pq = pg_fns(ctx);
		if (pq->ntuples(res) == 1 && strcmp(pq->getvalue(res, 0, 0), "ok") == 0)
			break;
		/* Another kiosk's live code: draw again. */
		pq->clear(res);
		res = NULL;
	}
	if (i == CODE_TRIES) {
		r = ctx_err(ctx, SCAUTH_ESTORE, "pairing: no free code after %d tries", CODE_TRIES);
		goto out;
	}
	p->created = 1;
	ctx_trace(ctx, "pairing: created, expires in 10 minutes");
	if ((r = pg_listen(ctx, "waiting for the phone", "LISTEN " PAIR_CHANNEL)) != 0 || (r = pair_texts(ctx, p, &u)) != 0)
		goto out;
	r = 0;
out:
	if (res != NULL)
		pg_fns(ctx)->clear(res);
	if (r != 0)
		pairing_drop(ctx, p, state);
	url_free(&u);
	return r;
}

/* A text column of a row, copied (a secret copy for the code); NULL when NULL. */
static char *
column(scauth_ctx *ctx, PGresult *res, int col, size_t max)
{
	const struct pq_fns *pq = pg_fns(ctx);
	size_t n;

	if (pq->getisnull(res, 0, col))
		return NULL;
	n = (size_t)pq->getlength(res, 0, col);
	return sstrndup(pq->getvalue(res, 0, col), n < max ? n : max);
}

/* A description shown to a person: printable ASCII, the rest as '?'. */
static void
printable(char *s)
{
	for (; s != NULL && *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			*s = '?';
}

/* One take: *done when the callback came (in cb), else *waiting when the row still waits. */
static int
pair_take(scauth_ctx *ctx, const char *state, struct callback *cb, int *done, int *waiting)
{
	const struct pq_fns *pq;
	const char *vals[1] = { state };
	PGresult *res = NULL;
	int r;

	*done = *waiting = 0;
	if ((r = pg_exec(ctx, "waiting for the phone", take_sql, 1, vals, NULL, NULL,
	    PG_WAIT_STATEMENT, &res)) != 0)
		return r;
	pq = pg_fns(ctx);
	if (pq->ntuples(res) == 1 && strcmp(pq->getvalue(res, 0, 0), "ok") == 0) {
		*done = 1;
		cb->code = column(ctx, res, 1, MAX_TOKEN_LEN);
		cb->error = column(ctx, res, 2, 64);
		cb->error_description = column(ctx, res, 3, MAX_DESCRIPTION);
		printable(cb->error);
		printable(cb->error_description);
		/* The code stays nowhere but in our wiped copy. */
		if (!pq->getisnull(res, 0, 1))
			scauth_wipe(pq->getvalue(res, 0, 1), (size_t)pq->getlength(res, 0, 1));
		if ((cb->code == NULL && !pq->getisnull(res, 0, 1)) ||
		    (cb->error == NULL && !pq->getisnull(res, 0, 2)))
			r = ctx_err(ctx, SCAUTH_ENOMEM, "pairing: out of memory");
	} else {
		*waiting = pq->ntuples(res) == 1 && strcmp(pq->getvalue(res, 0, 0), "waiting") == 0;
	}
	pq->clear(res);
	return r;
}

/* SCAUTH_ELOGIN when the front end wants the wait to end (a signal it caught), else 0. */
static int
pair_stopped(scauth_ctx *ctx, const struct pairing *p)
{
	if (p->stopped == NULL || !p->stopped(p->stopped_arg))
		return 0;
	return ctx_err(ctx, SCAUTH_ELOGIN, "the login was stopped while it waited for the phone; "
	    "the code %s is void", p->shown);
}

/*
 * Waits up to ms for a notification on the channel (or anything on the
 * connection); a signal cuts it short, and the front end says whether to stop.
 * The payload is empty: any notice means "look at your row".
 */
static int
pair_sleep(scauth_ctx *ctx, struct pairing *p, long long ms)
{
	int r;

	if ((r = pg_wait_notify(ctx, "waiting for the phone", ms)) < 0)
		return r;
	return pair_stopped(ctx, p);
}

int
pairing_wait(scauth_ctx *ctx, struct pairing *p, const char *state, int timeout_sec,
    char **code)
{
	struct callback cb = { 0 };
	long long deadline = mono_ms() + timeout_sec * 1000LL, left;
	int done, waiting, r;

	*code = NULL;
	if (!p->created)
		return ctx_err(ctx, SCAUTH_EINVAL, "login: not paired (scauth_login_pair first)");
	for (;;) {
		if ((r = pair_stopped(ctx, p)) != 0)
			goto out;
		if ((r = pg_listen(ctx, "waiting for the phone", "LISTEN " PAIR_CHANNEL)) != 0 ||
		    (r = pair_take(ctx, state, &cb, &done, &waiting)) != 0) {
			/*
			 * The server went away (a restart): the row outlives it, and
			 * a kiosk that gave up now could not delete it.  Again, until
			 * the deadline.
			 */
			if (r != SCAUTH_ESTORE || pg_connected(ctx) ||
			    (left = deadline - mono_ms()) <= 0)
				goto out;
			ctx_trace(ctx, "pairing: the database server went away; trying again");
			(void)poll(NULL, 0, (int)(left < RECONNECT_MS ? left : RECONNECT_MS));
			continue;
		}
		if (done) {
			p->created = 0;         /* the take deleted the row */
			ctx_trace(ctx, "pairing: the relay's callback was taken");
			break;
		}
		if (!waiting) {
			/* Expired, maybe still there: the caller's pairing_drop() deletes it. */
			r = ctx_err(ctx, SCAUTH_ELOGIN, "the code %s has expired (a pairing lives 10 "
			    "minutes); log in again for a new one", p->shown);
			goto out;
		}
		if ((left = deadline - mono_ms()) <= 0) {
			r = ctx_err(ctx, SCAUTH_ETIMEOUT, "no login from the phone arrived within "
			    "%d s", timeout_sec);
			goto out;
		}
		if ((r = pair_sleep(ctx, p, left < RECHECK_MS ? left : RECHECK_MS)) != 0)
			goto out;
	}
	if ((cb.state = strdup(state)) == NULL) {
		r = ctx_err(ctx, SCAUTH_ENOMEM, "pairing: out of memory");
		goto out;
	}
	if ((r = callback_check(ctx, &cb, state)) != 0)
		goto out;
	*code = cb.code;
	cb.code = NULL; /* transferred */
out:
	callback_free(&cb);
	return r;
}

/* Keeps the error that made the caller give up: this clean-up only tries. */
void
pairing_drop(scauth_ctx *ctx, struct pairing *p, const char *state)
{
	const char *vals[1] = { state };
	char saved[ERRMSG_LEN];
	PGresult *res;

	memcpy(saved, ctx->err, sizeof(saved));

	if (p->created && pg_connected(ctx) && pg_exec(ctx, "ending the pairing",
	    drop_sql, 1, vals, NULL, NULL, PG_WAIT_STATEMENT,
	    &res) == 0) {
		pg_fns(ctx)->clear(res);
		ctx_trace(ctx, "pairing: deleted");
	}
	p->created = 0;
	pg_unlisten(ctx, "ending the pairing");
	memcpy(ctx->err, saved, sizeof(saved));
}

void
pairing_free(struct pairing *p)
{
	free(p->address);
	free(p->link);
	memset(p, 0, sizeof(*p));
}
