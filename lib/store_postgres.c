/*
 * store_postgres.c - store = postgres: a fleet of machines shares the grants
 * of a profile through one PostgreSQL table, each record sealed (seal.c).
 *
 * The database is the source of truth.  Each machine keeps a local copy of
 * each grant under the file rules in its state directory ("<slot>.fleet",
 * the refresh token left out), and outside the lock load serves that copy:
 * a cached get makes no network call.  The lock hook opens a transaction
 * and takes the rows of the profile's two slots FOR UPDATE (creating them
 * when absent), so that one process in the whole fleet renews a grant while
 * the others wait on the row and then read what it wrote; a process that
 * dies loses its connection and with it the row lock.  Under the lock, load
 * returns the row, unsealed, and brings the local copy in line with it.
 *
 * A rotated refresh token must outlive a failed COMMIT: when the write or
 * the commit of a record fails, it goes to "<slot>.pending" (file rules)
 * with the row version it replaces, and the next lock pushes it before
 * anything else, if the row is still at that version (else its commit did
 * get in after all, or a later write superseded it).  It is written only
 * then, so that the window in which a killed refresher loses a rotated
 * token stays one round trip to the database long, without a local fsync.
 *
 * A refresh is an intent the fleet sees before the token request is sent
 * (see "Intents" below): a lost COMMIT must not hand the spent refresh
 * token to the next machine in line.
 */
#include "internal.h"
#include "store.h"
#include "fleet.h"
#include "dl.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define COPY_SUFFIX    ".fleet"
#define NSLOTS 2        /* user, app */
#define MACHINE_FILE   "fleet.machine"
#define MACHINE_ID_LEN 32       /* hex of 16 random bytes */
#define INTENT_GRACE_SEC 5      /* an intent's life beyond its holder's own timeouts */
#define INTENT_POLL_MS 100      /* how often a waiter looks at a row under an intent */
/*
 * The longest life intent_take() gives: timeout + 2 x postgres_timeout +
 * grace at config.c's upper bounds (600 s each).  An intent that ends later
 * than that from now was not written by a holder (an operator's
 * 'infinity', the server's clock set back): it counts as ended, or it would
 * keep every other machine from renewing the grant for as long as it says.
 */
#define INTENT_OPEN_SQL "(refreshing_until > now() AND refreshing_until <= now() + " \
	"make_interval(secs => 600 + 2 * 600 + 5))"

/* What the commit does to the intent columns of a row. */
enum intent_resolve { INTENT_KEEP, INTENT_CLEAR, INTENT_REFUSED };

/* The refreshing_* columns of a row, and what this process does with them. */
struct pg_intent {
	int set;                /* refreshing_from is not NULL: a refresh of that version is under way */
	int open;               /* refreshing_until is ahead, by the server's clock */
	long long from;         /* the version whose refresh token it spends */
	char by[256];           /* the holder's host name, for messages */
	int mine;               /* taken by this machine (refreshing_id is ours) */
	int taken;              /* taken by this process, whose transaction holds the row */
	enum intent_resolve resolve;
};

struct pg_slot {
	struct store_slot sl;   /* its name: sl.name */
	int present;            /* the row holds a record; -1 it does not open, -2 refused */
	long long version;
	long long base;         /* the version before this transaction's first write */
	struct sbuf record;     /* the row's record, unsealed */
	int wrote;              /* saved or erased in this transaction */
	int pushed;             /* a pending record went in with this transaction */
	int settled;            /* a pending record is resolved once this commits */
	char refused[ERRMSG_LEN]; /* why the row was refused (present -2): fleet.c */
};

struct pg_state {
	unsigned char key[SEAL_KEY_LEN];
	int have_key;
	int in_tx;
	struct pg_slot slot[NSLOTS];
	char host[256];
	struct fleet_view fleet;        /* the fleet's id, read under the first lock */
	struct pg_intent intent[NSLOTS];        /* of slot[i] */
	char machine[MACHINE_ID_LEN + 1];       /* this machine's id ("" until read) */
	int retrying;                           /* in pending_retry() */
};

/*
 * This machine's name as the fleet records it (updated_by, obtained_by): any
 * byte but [A-Za-z0-9.-] becomes '_', so that no host name, however odd (Linux
 * takes any bytes), can make a record or a row fail to store.
 */
static void
host_name(char *buf, size_t len)
{
	size_t i;

	if (gethostname(buf, len - 1) != 0 || buf[0] == '\0') {
		snprintf(buf, len, "unknown");
		return;
	}
	buf[len - 1] = '\0';
	for (i = 0; buf[i] != '\0'; i++)
		if (!isalnum((unsigned char)buf[i]) && buf[i] != '.' && buf[i] != '-')
			buf[i] = '_';
}

static struct pg_state *
state(scauth_ctx *ctx)
{
	struct pg_state *st = ctx->store_state;

	if (st == NULL && (st = calloc(1, sizeof(*st))) != NULL) {
		host_name(st->host, sizeof(st->host));
		ctx->store_state = st;
	}
	return st;
}

static void
pgs_release(scauth_ctx *ctx)
{
	struct pg_state *st = ctx->store_state;
	int i;

	if (st == NULL)
		return;
	pg_release(ctx);
	for (i = 0; i < NSLOTS; i++)
		sbuf_free(&st->slot[i].record);
	scauth_wipe(st, sizeof(*st));
	free(st);
	ctx->store_state = NULL;
}

static int
need_key(scauth_ctx *ctx, struct pg_state *st)
{
	int r;

	if (st->have_key)
		return 0;
	if ((r = seal_key_load(ctx, ctx->cfg[CFG_SEAL_KEY_FILE], st->key)) != 0)
		return r;
	st->have_key = 1;
	return 0;
}

/* The slot of this transaction called name, or NULL. */
static struct pg_slot *
find_slot(struct pg_state *st, const char *name)
{
	int i;

	for (i = 0; i < NSLOTS; i++)
		if (st->slot[i].sl.name[0] != '\0' && strcmp(st->slot[i].sl.name, name) == 0)
			return &st->slot[i];
	return NULL;
}

/* The slot of this transaction named by row i of res (its first column), or NULL. */
static struct pg_slot *
row_slot(scauth_ctx *ctx, struct pg_state *st, struct pg_result *res, int i)
{
	char name[STORE_SLOT_LEN];

	snprintf(name, sizeof(name), "%.*s", pg_fns(ctx)->getlength(res, i, 0),
	    pg_fns(ctx)->getvalue(res, i, 0));
	return find_slot(st, name);
}

/* ------------------------------------------------------------------------ */
/*
 * What this machine keeps (store_cache.c): the copy of a grant
 * ("<slot>.fleet") and the journal of a record waiting for its commit, in
 * the state directory.
 */
static struct store_cache
local(const scauth_ctx *ctx)
{
	return (struct store_cache){ ctx->state_dir, COPY_SUFFIX };
}

/* 1 with *base and the record in out when a pending record is there, 0 when not. */
static int
pending_read(scauth_ctx *ctx, const struct store_slot *sl, long long *base, struct sbuf *out)
{
	struct store_cache c = local(ctx);
	int r;

	if ((r = cache_kept(ctx, &c, sl, base, out)) == 1 && *base < 0)
		r = ctx_err(ctx, SCAUTH_ECORRUPT, "%s/%s" PENDING_SUFFIX ": a pending record "
		    "without the version it replaces; remove it", ctx->state_dir, sl->name);
	return r;
}

static int
pending_write(scauth_ctx *ctx, const struct store_slot *sl, long long base, const char *data,
    size_t len)
{
	struct store_cache c = local(ctx);

	return cache_keep(ctx, &c, sl, base, data, len);
}

/* found 1: the copy becomes the record; 0: the copy goes. */
static int
copy_follow(scauth_ctx *ctx, const struct store_slot *sl, int found, const char *data, size_t len)
{
	struct store_cache c = local(ctx);

	return cache_follow(ctx, &c, sl, found, data, len);
}

static int
pending_drop(scauth_ctx *ctx, const struct store_slot *sl)
{
	struct store_cache c = local(ctx);

	return cache_drop(ctx, &c, sl);
}

/* ------------------------------------------------------------------------ */
/* Rows. */

/* Writes the record (NULL: empties the slot) into the row held under the lock. */
static int
row_write(scauth_ctx *ctx, struct pg_state *st, struct pg_slot *s, const char *data, size_t len)
{
	struct sbuf sealed = SBUF_INIT(MAX_RECORD + SEAL_OVERHEAD);
	const char *vals[3];
	int lens[3], bin[3] = { 0, 1, 0 }, r;
	struct pg_result *res = NULL;

	/* Bound to the version the UPDATE gives the row, which is held FOR UPDATE. */
	if (data != NULL && (r = fleet_seal(ctx, &st->fleet, st->key, s->sl.name, s->version + 1,
	    data, len, &sealed)) != 0)
		goto out;
	vals[0] = s->sl.name;
	vals[1] = data != NULL ? sealed.p : NULL;
	vals[2] = st->host;
	lens[0] = lens[2] = 0;
	lens[1] = (int)sealed.len;
	if ((r = pg_exec(ctx, "saving the grant", "UPDATE " PG_TABLE " SET record = $2, "
	    "version = version + 1, updated_at = now(), updated_by = $3 WHERE slot = $1",
	    3, vals, lens, bin, PG_WAIT_STATEMENT, &res)) != 0)
		goto out;
	pg_fns(ctx)->clear(res);
	sbuf_reset(&s->record);
	if (data != NULL && (r = sbuf_add(&s->record, data, len)) != 0)
		goto out;
	s->present = data != NULL;
	s->version++;
	s->wrote = 1;
	r = 0;
out:
	sbuf_free(&sealed);
	return r;
}

/*
 * Opens a row just read (data NULL: empty) against this machine's memory of
 * the fleet (fleet.c).  A record that does not open (present -1) or that is
 * refused as rolled back (-2) is reported by load, for its slot only, and
 * nothing is written over a refused one.
 */
static int
row_open(scauth_ctx *ctx, struct pg_state *st, struct pg_slot *s, const char *data, size_t len)
{
	int r;

	r = fleet_open(ctx, &st->fleet, st->key, s->sl.name, s->version, data, len, 1, &s->record);
	if (r == 0 || r == 1) {
		s->present = r;
		return 0;
	}
	sbuf_reset(&s->record);
	if (r == SCAUTH_ECORRUPT) {
		s->present = -1;
		return 0;
	}
	if (r == SCAUTH_EUNSAFE) {
		s->present = -2;
		snprintf(s->refused, sizeof(s->refused), "%s", scauth_errmsg(ctx));
		ctx_trace(ctx, "fleet: the row of %s is refused", s->sl.name);
		return 0;
	}
	return r;
}

/* The reason a refused row was refused, as an error. */
static int
refused(scauth_ctx *ctx, const struct pg_slot *s)
{
	return ctx_err(ctx, SCAUTH_EUNSAFE, "%s", s->refused);
}

/*
 * Takes the profile's rows FOR UPDATE, in slot order (no deadlock between two
 * machines), and reads them.  Returns how many rows there were.
 */
static int
rows_lock(scauth_ctx *ctx, struct pg_state *st, int *found)
{
	const struct pq_fns *pq;
	const char *vals[2] = { st->slot[0].sl.name, st->slot[1].sl.name };
	struct pg_result *res = NULL;
	struct pg_slot *s;
	int i, n, r;

	*found = 0;
	r = pg_exec(ctx, "locking the grant", "SELECT slot, record, version FROM " PG_TABLE
	    " WHERE slot = $1 OR slot = $2 ORDER BY slot FOR UPDATE", 2, vals, NULL, NULL,
	    PG_WAIT_LOCK, &res);
	if (r != 0)
		return r;
	pq = pg_fns(ctx);
	n = pq->ntuples(res);
	for (i = 0; i < n; i++) {
		if ((s = row_slot(ctx, st, res, i)) == NULL)
			continue;
		sbuf_reset(&s->record);
		s->present = 0;
		if (pq->getlength(res, i, 2) != 8) {
			r = ctx_err(ctx, SCAUTH_EPROTO, "the database answered a malformed row");
			goto out;
		}
		s->version = pg_int8(pq->getvalue(res, i, 2));
		if ((r = row_open(ctx, st, s, pq->getisnull(res, i, 1) ? NULL :
		    pq->getvalue(res, i, 1), (size_t)pq->getlength(res, i, 1))) != 0)
			goto out;
		(*found)++;
	}
	r = 0;
out:
	pq->clear(res);
	return r;
}

/* ------------------------------------------------------------------------ */
/*
 * Intents.  Before a machine sends a refresh token it commits, on the row,
 * who spends it (refreshing_by, refreshing_id: its host name and machine
 * id), the token of which version (refreshing_from), and until when the
 * others leave it alone (refreshing_until: the holder's own HTTP and
 * database timeouts); then it takes the row again in a new transaction for
 * the request and the write, so that the others wait on the row lock as
 * before and one token request serves the fleet.  If that transaction ends
 * without a word (a COMMIT lost to a network cut, a pooler or a failover
 * restart, or the refresher's death), the next machine in line finds the
 * intent still open: it does not spend a refresh token that may well be
 * rotated already, but waits for the row to change (or the intent to end),
 * at most postgres_lock_timeout, then exits 75.  The refresher keeps the
 * new record as pending and tries once at once to store it on a new
 * connection (pending_retry), else on its machine's next call; its own
 * intent does not stop it.  An intent that outlives its holder's timeouts
 * (a refresher that died) may be taken over by any machine, and by the
 * holder's own machine at once, whose lock says the holder is gone.  A
 * take-over keeps refreshing_from: the refresh token is still that one.
 *
 * The result of spending the refresh token of version F is stored while
 * the row still descends from F: its version is F, or refreshing_from is
 * still F (since then at most a mark of the access token, or an erase
 * because F's refresh token was refused, went in).  So a refresher's
 * pending record wins over an erase that its own parent token caused (a
 * machine that took the intent over and got invalid_grant), and a login or
 * a logout, which end the intent, win over it.
 */

/*
 * This machine's id, random, in MACHINE_FILE of the state directory (file
 * rules): machines of a fleet may share a host name.  With create 0 an
 * absent id stays "" (then no intent is this machine's).
 */
static int
machine_id(scauth_ctx *ctx, struct pg_state *st, int create)
{
	static const char hex[] = "0123456789abcdef";
	struct sbuf id = SBUF_INIT(MAX_RECORD);
	unsigned char raw[MACHINE_ID_LEN / 2];
	size_t i;
	int r;

	if (st->machine[0] != '\0')
		return 0;
	if ((r = store_file_load(ctx, ctx->state_dir, MACHINE_FILE, &id)) < 0)
		goto out;
	if (r == 1 && id.len == MACHINE_ID_LEN) {
		for (i = 0; i < MACHINE_ID_LEN && strchr(hex, id.p[i]) != NULL && id.p[i] != '\0'; i++)
			continue;
		if (i == MACHINE_ID_LEN) {
			memcpy(st->machine, id.p, MACHINE_ID_LEN);
			st->machine[MACHINE_ID_LEN] = '\0';
			r = 0;
			goto out;
		}
	}
	r = 0;
	if (!create)
		goto out;
	if ((r = random_bytes(ctx, raw, sizeof(raw))) != 0)
		goto out;
	for (i = 0; i < sizeof(raw); i++) {
		st->machine[2 * i] = hex[raw[i] >> 4];
		st->machine[2 * i + 1] = hex[raw[i] & 15];
	}
	st->machine[MACHINE_ID_LEN] = '\0';
	if ((r = store_file_save(ctx, ctx->state_dir, MACHINE_FILE, st->machine,
	    MACHINE_ID_LEN)) != 0)
		st->machine[0] = '\0';
out:
	sbuf_free(&id);
	return r;
}

static struct pg_intent *
intent_of(struct pg_state *st, const struct pg_slot *s)
{
	return &st->intent[s - st->slot];
}

/* Reads the intents of the profile's rows (held, or about to be waited for). */
static int
intents_read(scauth_ctx *ctx, struct pg_state *st)
{
	const struct pq_fns *pq;
	const char *vals[2] = { st->slot[0].sl.name, st->slot[1].sl.name };
	struct pg_result *res = NULL;
	struct pg_intent *in;
	struct pg_slot *s;
	int i, n, r;

	r = pg_exec(ctx, "locking the grant", "SELECT slot, refreshing_by, refreshing_id, "
	    "refreshing_from, " INTENT_OPEN_SQL " FROM " PG_TABLE " WHERE slot = $1 OR "
	    "slot = $2", 2, vals, NULL, NULL, PG_WAIT_STATEMENT, &res);
	if (r != 0)
		return r;
	pq = pg_fns(ctx);
	n = pq->ntuples(res);
	for (i = 0; i < n; i++) {
		if ((s = row_slot(ctx, st, res, i)) == NULL)
			continue;
		in = intent_of(st, s);
		in->set = !pq->getisnull(res, i, 3);
		if (in->set && pq->getlength(res, i, 3) != 8) {
			r = ctx_err(ctx, SCAUTH_EPROTO, "the database answered a malformed row");
			goto out;
		}
		in->from = in->set ? pg_int8(pq->getvalue(res, i, 3)) : 0;
		in->open = in->set && !pq->getisnull(res, i, 4) && pq->getlength(res, i, 4) == 1 &&
		    pq->getvalue(res, i, 4)[0] == 1;
		snprintf(in->by, sizeof(in->by), "%.*s", pq->getisnull(res, i, 1) ? 0 :
		    pq->getlength(res, i, 1), pq->getvalue(res, i, 1));
		in->mine = 0;
		if (in->set && !pq->getisnull(res, i, 2) &&
		    pq->getlength(res, i, 2) == MACHINE_ID_LEN) {
			if ((r = machine_id(ctx, st, 0)) != 0)
				goto out;
			in->mine = st->machine[0] != '\0' &&
			    memcmp(pq->getvalue(res, i, 2), st->machine, MACHINE_ID_LEN) == 0;
		}
	}
	r = 0;
out:
	pq->clear(res);
	return r;
}

/* Whether the row still descends from version base (see above). */
static int
intent_descends(struct pg_state *st, const struct pg_slot *s, long long base)
{
	const struct pg_intent *in = intent_of(st, s);

	return in->set && in->from == base;
}

/* Takes the row of s alone FOR UPDATE and reads it again (after the intent's commit). */
static int
row_relock(scauth_ctx *ctx, struct pg_state *st, struct pg_slot *s)
{
	const struct pq_fns *pq;
	const char *vals[1] = { s->sl.name };
	struct pg_result *res = NULL;
	int r;

	r = pg_exec(ctx, "locking the grant", "SELECT record, version FROM " PG_TABLE
	    " WHERE slot = $1 FOR UPDATE", 1, vals, NULL, NULL, PG_WAIT_LOCK, &res);
	if (r != 0)
		return r;
	pq = pg_fns(ctx);
	if (pq->ntuples(res) != 1 || pq->getlength(res, 0, 1) != 8) {
		r = ctx_err(ctx, SCAUTH_EPROTO, "the database answered a malformed row");
		goto out;
	}
	sbuf_reset(&s->record);
	s->present = 0;
	s->version = pg_int8(pq->getvalue(res, 0, 1));
	/* Opened as rows_lock() opens it: the fleet id, the version and this machine's memory. */
	r = row_open(ctx, st, s, pq->getisnull(res, 0, 0) ? NULL : pq->getvalue(res, 0, 0),
	    (size_t)pq->getlength(res, 0, 0));
out:
	pq->clear(res);
	return r;
}

/*
 * Before the token request of slot s (pgs_prepare, under the lock): commits
 * the intent, then holds the row again for the request and the write.  The
 * caller sends nothing unless this returns 0.
 */
static int
intent_take(scauth_ctx *ctx, struct pg_state *st, struct pg_slot *s)
{
	struct pg_intent *in = intent_of(st, s);
	struct pg_result *res = NULL;
	const char *vals[4];
	char life[24];
	int r;

	if ((r = machine_id(ctx, st, 1)) != 0)
		return r;
	/* As long as the holder may take to send, hear and store, by its own timeouts. */
	snprintf(life, sizeof(life), "%ld", ctx->timeout +
	    2 * pg_seconds(ctx, PG_WAIT_STATEMENT) + INTENT_GRACE_SEC);
	vals[0] = s->sl.name;
	vals[1] = st->host;
	vals[2] = st->machine;
	vals[3] = life;
	if ((r = pg_exec(ctx, "announcing the refresh", "UPDATE " PG_TABLE " SET "
	    "refreshing_by = $2, refreshing_id = $3, refreshing_from = COALESCE(refreshing_from, "
	    "version), refreshing_until = now() + make_interval(secs => $4::int4) WHERE slot = $1",
	    4, vals, NULL, NULL, PG_WAIT_STATEMENT, &res)) != 0)
		goto fail;
	pg_fns(ctx)->clear(res);
	if ((r = pg_commit(ctx, "announcing the refresh")) != 0)
		goto fail;
	st->in_tx = 0;
	/* The fleet sees the intent: now the row again, for the request and the write. */
	if ((r = pg_begin(ctx, "locking the grant")) != 0)
		return r;
	st->in_tx = 1;
	if ((r = row_relock(ctx, st, s)) != 0 || (r = intents_read(ctx, st)) != 0)
		goto fail;
	if (!in->mine || !in->set) {
		r = ctx_err(ctx, SCAUTH_ELOCKED, "the fleet's grant (%s) changed while this machine "
		    "announced its refresh; try again", s->sl.name);
		goto fail;
	}
	in->taken = 1;
	ctx_trace(ctx, "fleet: refresh of %s (from version %lld) announced for %s s", s->sl.name,
	    in->from, life);
	return 0;
fail:
	pg_abort(ctx);
	st->in_tx = 0;
	return r;
}

/*
 * Whether the record held for s needs renewing (no access token, or a stale
 * one).  An empty row is due too: under another machine's open intent it is
 * being filled (the app grant's first client-credentials request), and a
 * machine that went ahead would overwrite that intent and ask again.
 */
static int
row_due(scauth_ctx *ctx, const struct pg_slot *s)
{
	struct scauth_token *t = NULL;
	int due;

	if (s->present == 0)
		return 1;
	if (s->present != 1 || record_parse(s->record.p, s->record.len, &t) != 0)
		return 0;
	due = !scauth_token_fresh(ctx, t);
	scauth_token_free(t);
	return due;
}

static int pgs_lock(scauth_ctx *ctx);
static int pgs_unlock(scauth_ctx *ctx, int commit);

/*
 * Under the lock, before the slot is handed to the broker: while another
 * machine's intent on it is open and its token is due, the caller would
 * spend a refresh token that may be rotated already.  It lets the rows go,
 * waits for the row to change or the intent to end (at most
 * postgres_lock_timeout: then 75), and takes the rows again.
 */
static int
intent_wait(scauth_ctx *ctx, struct pg_state *st, const char *slot)
{
	long long deadline = mono_ms() + pg_seconds(ctx, PG_WAIT_LOCK) * 1000LL;
	struct pg_result *res = NULL;
	struct pg_intent *in;
	struct pg_slot *s;
	const char *vals[2];
	char ver[24];
	int r, n, waited = 0;

	for (;;) {
		if ((s = find_slot(st, slot)) == NULL)
			return 0;
		in = intent_of(st, s);
		if (!in->open || in->mine || in->taken || !row_due(ctx, s))
			return 0;
		if (!waited++)
			ctx_trace(ctx, "fleet: %s is being refreshed by %s; waiting for its result",
			    slot, in->by);
		pg_abort(ctx);
		st->in_tx = 0;
		snprintf(ver, sizeof(ver), "%lld", s->version);
		vals[0] = slot;
		vals[1] = ver;
		do {
			if (mono_ms() >= deadline)
				return ctx_err(ctx, SCAUTH_ELOCKED, "another machine (%s) is renewing "
				    "the grant and has not stored it within %ld s "
				    "(postgres_lock_timeout); try again later", in->by,
				    pg_seconds(ctx, PG_WAIT_LOCK));
			usleep(INTENT_POLL_MS * 1000);
			if ((r = pg_exec(ctx, "waiting for the refresh", "SELECT 1 FROM " PG_TABLE
			    " WHERE slot = $1 AND version = $2::int8 AND " INTENT_OPEN_SQL,
			    2, vals, NULL, NULL, PG_WAIT_STATEMENT, &res)) != 0)
				return r;
			n = pg_fns(ctx)->ntuples(res);
			pg_fns(ctx)->clear(res);
		} while (n > 0);
		if ((r = pgs_lock(ctx)) != 0)
			return r;
	}
}

/*
 * A write of slot s under the lock: the result of this process's refresh
 * ends its intent (and a pending copy of it descends from the version it
 * spent); a new grant from elsewhere (a login) ends any intent.
 */
static void
intent_saving(struct pg_state *st, struct pg_slot *s, const char *data, size_t len)
{
	struct pg_intent *in = intent_of(st, s);
	struct scauth_token *t = NULL, *o = NULL;

	if (!in->set)
		return;
	if (in->taken) {
		s->base = in->from;
		in->resolve = INTENT_CLEAR;
		return;
	}
	if (record_parse(data, len, &t) == 0 && t->refresh != NULL &&
	    (s->present != 1 || record_parse(s->record.p, s->record.len, &o) != 0 ||
	    o->refresh == NULL || !ct_streq(o->refresh, t->refresh)))
		in->resolve = INTENT_CLEAR;
	scauth_token_free(t);
	scauth_token_free(o);
}

/*
 * An erase of slot s under the lock: after this process's refresh was
 * refused, the intent stays (ended) to say so, for the refresher whose
 * pending record may still come; a logout ends it.
 */
static void
intent_erasing(struct pg_state *st, struct pg_slot *s)
{
	struct pg_intent *in = intent_of(st, s);

	if (in->set)
		in->resolve = in->taken ? INTENT_REFUSED : INTENT_CLEAR;
}

/* Before the commit: writes what the transaction did to the intents. */
static int
intents_resolve(scauth_ctx *ctx, struct pg_state *st)
{
	struct pg_result *res;
	const char *vals[1];
	int i, r;

	for (i = 0; i < NSLOTS; i++) {
		if (st->intent[i].resolve == INTENT_KEEP)
			continue;
		vals[0] = st->slot[i].sl.name;
		if ((r = pg_exec(ctx, "committing the grant", st->intent[i].resolve == INTENT_CLEAR ?
		    "UPDATE " PG_TABLE " SET refreshing_by = NULL, refreshing_id = NULL, "
		    "refreshing_from = NULL, refreshing_until = NULL WHERE slot = $1" :
		    "UPDATE " PG_TABLE " SET refreshing_until = now() WHERE slot = $1",
		    1, vals, NULL, NULL, PG_WAIT_STATEMENT, &res)) != 0)
			return r;
		pg_fns(ctx)->clear(res);
	}
	return 0;
}

/* Pushes a record whose commit was not confirmed, if the row is still where it was. */
static int
push_pending(scauth_ctx *ctx, struct pg_state *st, struct pg_slot *s)
{
	struct sbuf rec = SBUF_INIT(MAX_RECORD);
	long long base = 0;
	int r;

	/* A refused row is the operator's to restore: the record waits here until then. */
	if (s->present == -2)
		return 0;
	if ((r = pending_read(ctx, &s->sl, &base, &rec)) <= 0)
		goto out;
	if (s->version == base || intent_descends(st, s, base)) {
		ctx_trace(ctx, "fleet: pushing the unconfirmed record of %s", s->sl.name);
		s->base = base;
		if ((r = row_write(ctx, st, s, rec.p, rec.len)) != 0)
			goto out;
		s->pushed = 1;
	} else {
		/* Its commit got in after all, or a later write superseded it. */
		ctx_trace(ctx, "fleet: the unconfirmed record of %s is %s", s->sl.name,
		    s->present == 1 && s->record.len == rec.len &&
		    memcmp(s->record.p, rec.p, rec.len) == 0 ? "in" : "superseded");
	}
	s->settled = 1;
	r = 0;
out:
	sbuf_free(&rec);
	return r;
}

/* ------------------------------------------------------------------------ */
/* The backend. */

static int
pgs_lock(scauth_ctx *ctx)
{
	struct pg_state *st;
	const char *vals[2];
	struct pg_result *res;
	int i, found, r;

	if ((st = state(ctx)) == NULL)
		return SCAUTH_ENOMEM;
	if ((r = need_key(ctx, st)) != 0)
		return r;
	for (i = 0; i < NSLOTS; i++) {
		sbuf_free(&st->slot[i].record);
		memset(&st->slot[i], 0, sizeof(st->slot[i]));
		st->slot[i].record.max = MAX_RECORD;
	}
	memset(st->intent, 0, sizeof(st->intent));
	/* In slot order: "<profile>.app" sorts before "<profile>.user". */
	slot_make(&st->slot[0].sl, ctx->profile, SCAUTH_GRANT_APP);
	slot_make(&st->slot[1].sl, ctx->profile, SCAUTH_GRANT_USER);
	if ((r = pg_begin(ctx, "locking the grant")) != 0)
		return r;
	st->in_tx = 1;
	/*
	 * The fleet's id before the rows, so as not to hold them for it.  An
	 * id, once there, stays; one found missing is read again under the
	 * rows' lock (fleet.c), since fleet init may be giving it meanwhile.
	 */
	if (!st->fleet.present && (r = fleet_view_read(ctx, &st->fleet)) != 0)
		goto out;
	st->fleet.loaded = st->fleet.present;
	if ((r = rows_lock(ctx, st, &found)) != 0)
		goto out;
	if (found < NSLOTS) {
		/* First use of the profile: the rows that a lock can hold. */
		vals[0] = st->slot[0].sl.name;
		vals[1] = st->slot[1].sl.name;
		if ((r = pg_exec(ctx, "locking the grant", "INSERT INTO " PG_TABLE " (slot) "
		    "VALUES ($1), ($2) ON CONFLICT (slot) DO NOTHING", 2, vals, NULL, NULL,
		    PG_WAIT_LOCK, &res)) != 0)
			goto out;
		pg_fns(ctx)->clear(res);
		if ((r = rows_lock(ctx, st, &found)) != 0)
			goto out;
	}
	if ((r = intents_read(ctx, st)) != 0)
		goto out;
	for (i = 0; i < NSLOTS; i++) {
		if ((r = push_pending(ctx, st, &st->slot[i])) != 0)
			goto out;
		/* A pushed record is the outcome of the refresh that the intent announced. */
		if (st->slot[i].pushed && st->intent[i].set) {
			st->intent[i].resolve = INTENT_CLEAR;
			st->intent[i].open = 0;
		}
	}
	r = 0;
out:
	if (r != 0) {
		pg_abort(ctx);
		st->in_tx = 0;
	}
	return r;
}

/*
 * After a confirmed commit: this machine remembers the versions it wrote, so
 * that the rows as they were before its write are refused from now on.  A
 * failure costs only that: the next lock reads the row and remembers it.
 */
static void
remember_writes(scauth_ctx *ctx, struct pg_state *st)
{
	int i;

	for (i = 0; i < NSLOTS; i++)
		if (st->slot[i].wrote || st->slot[i].pushed)
			(void)fleet_remember(ctx, &st->fleet, st->slot[i].sl.name, st->slot[i].version);
}

/*
 * After the commit of a refresh's result went unconfirmed: a connection cut
 * by a pooler or failover restart often comes back at once, while the fleet
 * waits on this machine's intent.  One new transaction stores the kept
 * record now, as the next call would (push_pending: if the row still
 * descends from it).  0 when every kept record went in.
 */
static int
pending_retry(scauth_ctx *ctx, struct pg_state *st)
{
	struct sbuf kept[NSLOTS] = { SBUF_INIT(MAX_RECORD), SBUF_INIT(MAX_RECORD) };
	struct pg_slot *s;
	unsigned want = 0;
	int i, r = -1, ru;

	if (st->retrying)
		goto out;
	for (i = 0; i < NSLOTS; i++) {
		s = &st->slot[i];
		if (!s->wrote || s->present != 1 || !st->intent[i].taken)
			continue;
		if (sbuf_add(&kept[i], s->record.p, s->record.len) != 0)
			goto out;
		want |= 1u << i;
	}
	if (want == 0)
		goto out;
	ctx_trace(ctx, "fleet: the commit went unconfirmed; storing the kept record again");
	st->retrying = 1;
	if ((r = pgs_lock(ctx)) == 0) {
		/* Pushed now, or in already: the lost answer was of a COMMIT that went through. */
		for (i = 0; i < NSLOTS; i++) {
			s = &st->slot[i];
			if ((want & (1u << i)) && !s->pushed && !(s->present == 1 &&
			    s->record.len == kept[i].len &&
			    memcmp(s->record.p, kept[i].p, kept[i].len) == 0))
				r = -1;
		}
		if ((ru = pgs_unlock(ctx, 1)) != 0)
			r = ru;
	}
	st->retrying = 0;
out:
	for (i = 0; i < NSLOTS; i++)
		sbuf_free(&kept[i]);
	return r == 0 ? 0 : -1;
}

static int
pgs_unlock(scauth_ctx *ctx, int commit)
{
	struct pg_state *st = ctx->store_state;
	struct pg_slot *s;
	char where[300];
	int i, r = 0, wrote = 0;

	if (st == NULL || !st->in_tx)
		return 0;
	st->in_tx = 0;
	for (i = 0; i < NSLOTS; i++)
		wrote |= st->slot[i].wrote | st->slot[i].pushed;
	if (!commit) {
		pg_abort(ctx);
		return 0;
	}
	if ((r = intents_resolve(ctx, st)) != 0 || (r = pg_commit(ctx, "committing the grant")) != 0) {
		pg_abort(ctx);
		/* What was only read had been committed by others: it stands. */
		if (!wrote)
			return 0;
		/* Its outcome is unknown: what may hold a rotated token stays here. */
		for (i = 0; i < NSLOTS; i++) {
			s = &st->slot[i];
			if (s->wrote && s->present == 1)
				(void)pending_write(ctx, &s->sl, s->base, s->record.p, s->record.len);
		}
		if (pending_retry(ctx, st) == 0)
			return 0;
		{
			/* Copied: ctx_err() writes where scauth_errmsg() points. */
			pg_describe(ctx, where, sizeof(where));
			r = ctx_err(ctx, SCAUTH_ESTORE, "the database server (%s) did not "
			    "confirm the new grant; it is kept on this machine and stored on "
			    "the next call", where);
		}
		return r;
	}
	/* Confirmed: the machine's own files follow the rows. */
	for (i = 0; i < NSLOTS; i++) {
		s = &st->slot[i];
		if (s->settled || s->wrote)
			(void)pending_drop(ctx, &s->sl);
		if (!s->wrote && !s->pushed)
			continue;
		if ((r = copy_follow(ctx, &s->sl, s->present == 1, s->record.p,
		    s->record.len)) != 0)
			break;
	}
	remember_writes(ctx, st);
	return r;
}

/* A row sealed with another key, or for another slot, fleet or row version. */
static int
unopened(scauth_ctx *ctx, const char *slot)
{
	return ctx_err(ctx, SCAUTH_ECORRUPT, "the fleet's record of %s does not open with "
	    "seal_key_file %s: every machine needs the fleet's key, and a record altered, "
	    "moved or written back at another row version never opens", slot,
	    ctx->cfg[CFG_SEAL_KEY_FILE]);
}

static int
pgs_load(scauth_ctx *ctx, const struct store_slot *sl, struct sbuf *out)
{
	struct pg_state *st = ctx->store_state;
	struct store_cache c = local(ctx);
	struct pg_slot *s;
	int r;

	if (ctx->store_locked && st != NULL && st->in_tx && (s = find_slot(st, sl->name)) != NULL) {
		if ((r = intent_wait(ctx, st, sl->name)) != 0)
			return r;
		if (s->present == -1)
			return unopened(ctx, sl->name);
		if (s->present == -2)
			return refused(ctx, s);
		/* The machine's copy follows the row, a signed-out grant included. */
		if ((r = copy_follow(ctx, sl, s->present, s->record.p, s->record.len)) != 0)
			return r;
		if (s->present == 0)
			return 0;
		return sbuf_add(out, s->record.p, s->record.len) == 0 ? 1 : SCAUTH_ENOMEM;
	}
	/* Outside the lock: the local copy (or a record waiting for its commit). */
	if ((r = cache_load(ctx, &c, sl, out)) != 0)
		return r;
	/* No copy yet (a new machine): the placeholder sends the caller to the row. */
	if ((r = record_serialize(&(struct scauth_token){ 0 }, out)) != 0)
		return r;
	return 1;
}

/* cache_whole's fetch: the row as this transaction read it. */
static int
row_fetch(scauth_ctx *ctx, void *arg, struct sbuf *out)
{
	const struct pg_slot *s = arg;

	if (s->present != 1)
		return 0;
	return sbuf_add(out, s->record.p, s->record.len) == 0 ? 1 : SCAUTH_ENOMEM;
}

/*
 * The record to store: a local copy given back (refresh_held, no refresh
 * token) gets the row's refresh token again, so that it is never lost.  A
 * token obtained since the row's (a login, a refresh) is marked with this
 * host; otherwise the row's mark stays, whoever wrote the record last.
 */
static int
pgs_save(scauth_ctx *ctx, const struct store_slot *sl, const char *data, size_t len)
{
	struct pg_state *st = ctx->store_state;
	struct sbuf whole = SBUF_INIT(MAX_RECORD);
	struct pg_slot *s;
	int fresh, r;

	if (!ctx->store_locked || st == NULL || !st->in_tx || (s = find_slot(st, sl->name)) == NULL)
		return ctx_err(ctx, SCAUTH_EINTERNAL, "fleet store: a write outside the lock");
	if (s->present == -2) {
		r = refused(ctx, s);
		goto out;
	}
	if ((r = cache_whole(ctx, data, len, row_fetch, s, st->host, &whole, &fresh)) != 0) {
		/* Whatever went wrong, a rotated refresh token in data is kept. */
		if (fresh &&
		    pending_write(ctx, sl, s->wrote ? s->base : s->version, data, len) == 0)
			ctx_trace(ctx, "fleet: kept the record of %s until it can be stored", sl->name);
		goto out;
	}
	if (!s->wrote)
		s->base = s->version;
	intent_saving(st, s, whole.p, whole.len);
	/*
	 * The copy goes before the row changes and comes back after the
	 * commit (pgs_unlock): a process killed between the two leaves none,
	 * rather than one behind the row.
	 */
	if ((r = copy_follow(ctx, sl, 0, NULL, 0)) != 0)
		goto out;
	if ((r = row_write(ctx, st, s, whole.p, whole.len)) != 0) {
		/* The record may hold a rotated refresh token: this machine keeps it. */
		if (pending_write(ctx, sl, s->base, whole.p, whole.len) == 0)
			ctx_trace(ctx, "fleet: kept the record of %s until the database takes it",
			    sl->name);
	}
out:
	sbuf_free(&whole);
	return r;
}

static int
pgs_erase(scauth_ctx *ctx, const struct store_slot *sl)
{
	struct pg_state *st = ctx->store_state;
	struct pg_slot *s;
	int r;

	if (!ctx->store_locked || st == NULL || !st->in_tx || (s = find_slot(st, sl->name)) == NULL)
		return ctx_err(ctx, SCAUTH_EINTERNAL, "fleet store: a write outside the lock");
	/* A rolled-back row is the operator's to restore: nothing is erased. */
	if (s->present == -2)
		return refused(ctx, s);
	if ((r = pending_drop(ctx, sl)) != 0)
		return r;
	if (!s->wrote)
		s->base = s->version;
	intent_erasing(st, s);
	if (s->present == 0 && !s->wrote)
		return copy_follow(ctx, sl, 0, NULL, 0);
	return row_write(ctx, st, s, NULL, 0);
}

/* status: the row as it is committed now, read without its lock. */
static int
pgs_inspect(scauth_ctx *ctx, const struct store_slot *sl, struct sbuf *out)
{
	const char *slot = sl->name;
	const struct pq_fns *pq;
	struct pg_state *st;
	struct pg_result *res = NULL;
	struct fleet_view fv;
	const char *vals[1] = { slot };
	int r;

	if ((st = state(ctx)) == NULL)
		return SCAUTH_ENOMEM;
	if ((r = need_key(ctx, st)) != 0)
		return r;
	/* The fleet's id in the same statement: one snapshot, whatever fleet init does. */
	if ((r = pg_exec(ctx, "reading the grant", "SELECT record, version, (SELECT record FROM "
	    PG_TABLE " WHERE slot = '" FLEET_ID_SLOT "') FROM " PG_TABLE " WHERE slot = $1", 1,
	    vals, NULL, NULL, PG_WAIT_STATEMENT, &res)) != 0)
		return r;
	pq = pg_fns(ctx);
	if (pq->ntuples(res) == 0)
		r = 0;
	else if (pq->getlength(res, 0, 1) != 8)
		r = ctx_err(ctx, SCAUTH_EPROTO, "the database answered a malformed row");
	else if ((r = fleet_view_set(ctx, &fv, pq->getisnull(res, 0, 2) ? NULL :
	    pq->getvalue(res, 0, 2), (size_t)pq->getlength(res, 0, 2))) == 0 &&
	    (r = fleet_open(ctx, &fv, st->key, slot, pg_int8(pq->getvalue(res, 0, 1)),
	    pq->getisnull(res, 0, 0) ? NULL : pq->getvalue(res, 0, 0),
	    (size_t)pq->getlength(res, 0, 0), 0, out)) == SCAUTH_ECORRUPT)
		r = unopened(ctx, slot);
	pq->clear(res);
	return r;
}

static int
pgs_prepare(scauth_ctx *ctx, const struct store_slot *sl)
{
	struct pg_state *st = ctx->store_state;
	struct store_cache c = local(ctx);
	struct pg_slot *s;
	int r;

	/* The pending record must be writable before a refresh token is spent. */
	if ((r = cache_prepare(ctx, &c, sl)) != 0)
		return r;
	/* Prepared under the lock before every token request: the fleet hears of it first. */
	if (ctx->store_locked && st != NULL && st->in_tx && (s = find_slot(st, sl->name)) != NULL)
		return intent_take(ctx, st, s);
	return 0;
}


/* An erase while the database is down: this machine stops handing out its copy. */
static int
pgs_forget(scauth_ctx *ctx, const struct store_slot *sl)
{
	struct store_cache c = local(ctx);

	return cache_forget(ctx, &c, sl);
}

static void
pgs_describe(const scauth_ctx *ctx, const struct store_slot *sl, char *buf, size_t len)
{
	const char *slot = sl != NULL ? sl->name : NULL;
	char where[STORE_DESCRIBE_LEN];

	/*
	 * libpq's own parser, as every message about the database says it
	 * (pg_describe); it may load libpq and keep its table in the context,
	 * a cache of the context's and no state a caller sees.
	 */
	pg_describe((scauth_ctx *)(uintptr_t)ctx, where, sizeof(where));
	snprintf(buf, len, "postgres store (%s)%s%s", where, slot != NULL ? ", slot " : "",
	    slot != NULL ? slot : "");
}

/* Said when the context is loaded, not at the first refresh; libpq is not loaded for it. */
static int
pgs_configure(scauth_ctx *ctx)
{
	if (ctx->cfg[CFG_POSTGRES] == NULL || *ctx->cfg[CFG_POSTGRES] == '\0')
		return ctx_err(ctx, SCAUTH_ECONFIG, "store = postgres needs postgres (the fleet's "
		    "database, a libpq connection string or URI)");
	if (ctx->cfg[CFG_SEAL_KEY_FILE] == NULL || *ctx->cfg[CFG_SEAL_KEY_FILE] == '\0')
		return ctx_err(ctx, SCAUTH_ECONFIG, "store = postgres needs seal_key_file (create "
		    "one with 'git-credential-soundcloud fleet init --new-key')");
	return 0;
}

const struct store_backend store_postgres_backend = {
	.name = "postgres",
	.xdg_state = 1,
	.configure = pgs_configure,
	.load = pgs_load,
	.save = pgs_save,
	.erase = pgs_erase,
	.prepare = pgs_prepare,
	.lock = pgs_lock,
	.unlock = pgs_unlock,
	.describe = pgs_describe,
	.release = pgs_release,
	.forget = pgs_forget,
	.inspect = pgs_inspect,
	.remote = 1,
};
