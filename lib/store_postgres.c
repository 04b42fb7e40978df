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
 */
#include "internal.h"
#include "dl.h"

#include <ctype.h>
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define COPY_SUFFIX    ".fleet"
#define PENDING_SUFFIX ".pending"
#define PENDING_MAGIC  "scauth-fleet-pending"
#define NSLOTS 2        /* user, app */

struct pg_slot {
	char name[STORE_SLOT_LEN];
	int present;            /* the row holds a record */
	long long version;
	long long base;         /* the version before this transaction's first write */
	struct sbuf record;     /* the row's record, unsealed */
	int wrote;              /* saved or erased in this transaction */
	int pushed;             /* a pending record went in with this transaction */
	int settled;            /* a pending record is resolved once this commits */
};

struct pg_state {
	unsigned char key[SEAL_KEY_LEN];
	int have_key;
	int in_tx;
	struct pg_slot slot[NSLOTS];
	char host[256];
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
		if (st->slot[i].name[0] != '\0' && strcmp(st->slot[i].name, name) == 0)
			return &st->slot[i];
	return NULL;
}

static void
file_name(char *buf, size_t len, const char *slot, const char *suffix)
{
	snprintf(buf, len, "%s%s", slot, suffix);
}

/* ------------------------------------------------------------------------ */
/* Local files: the copy of a grant, and a record waiting for its commit. */

/*
 * The record without its refresh token, what a machine keeps of a fleet's
 * grant; without its access token too when keep_access is 0.
 */
static int
reduce(const char *data, size_t len, int keep_access, struct sbuf *out)
{
	struct scauth_token *t = NULL;
	int r;

	if ((r = record_parse(data, len, &t)) != 0)
		return r;
	/* Renewable all the same: the database holds the refresh token. */
	if (t->refresh != NULL)
		t->refresh_held = 1;
	sfree(t->refresh);
	t->refresh = NULL;
	if (!keep_access) {
		sfree(t->access);
		t->access = NULL;
	}
	r = record_serialize(t, out);
	scauth_token_free(t);
	return r;
}

static int
copy_write(scauth_ctx *ctx, const char *slot, const char *data, size_t len)
{
	struct sbuf copy = SBUF_INIT(MAX_RECORD), old = SBUF_INIT(MAX_RECORD);
	char name[STORE_SLOT_LEN];
	int r;

	file_name(name, sizeof(name), slot, COPY_SUFFIX);
	if ((r = reduce(data, len, 1, &copy)) != 0)
		goto out;
	/* Most locks change nothing: no write, no fsync then. */
	if (store_file_load(ctx, ctx->state_dir, name, &old) == 1 && old.len == copy.len &&
	    memcmp(old.p, copy.p, copy.len) == 0)
		goto out;
	r = store_file_save(ctx, ctx->state_dir, name, copy.p, copy.len);
out:
	sbuf_free(&copy);
	sbuf_free(&old);
	return r;
}

/* Removes the slot's local file with that suffix (COPY_SUFFIX, PENDING_SUFFIX). */
static int
local_erase(scauth_ctx *ctx, const char *slot, const char *suffix)
{
	char name[STORE_SLOT_LEN];

	file_name(name, sizeof(name), slot, suffix);
	return store_file_erase(ctx, ctx->state_dir, name);
}

static int
pending_write(scauth_ctx *ctx, const char *slot, long long base, const char *data, size_t len)
{
	struct sbuf p = SBUF_INIT(MAX_RECORD + 64);
	char name[STORE_SLOT_LEN];
	int r;

	file_name(name, sizeof(name), slot, PENDING_SUFFIX);
	if ((r = sbuf_addf(&p, PENDING_MAGIC " %lld\n", base)) == 0 &&
	    (r = sbuf_add(&p, data, len)) == 0)
		r = store_file_save(ctx, ctx->state_dir, name, p.p, p.len);
	sbuf_free(&p);
	return r;
}

/* 1 with *base and the record in out when a pending record is there, 0 when not. */
static int
pending_read(scauth_ctx *ctx, const char *slot, long long *base, struct sbuf *out)
{
	struct sbuf p = SBUF_INIT(MAX_RECORD + 64);
	char name[STORE_SLOT_LEN], path[STORE_DESCRIBE_LEN], *nl, *end;
	int r;

	file_name(name, sizeof(name), slot, PENDING_SUFFIX);
	if ((r = store_file_load(ctx, ctx->state_dir, name, &p)) <= 0)
		goto out;
	nl = memchr(p.p, '\n', p.len);
	if (nl == NULL || strncmp(p.p, PENDING_MAGIC " ", sizeof(PENDING_MAGIC)) != 0 ||
	    (*base = strtoll(p.p + sizeof(PENDING_MAGIC), &end, 10)) < 0 || end != nl) {
		snprintf(path, sizeof(path), "%s/%s", ctx->state_dir, name);
		r = ctx_err(ctx, SCAUTH_ECORRUPT, "%s: not a pending record; remove it", path);
		goto out;
	}
	nl++;
	if ((r = sbuf_add(out, nl, p.len - (size_t)(nl - p.p))) == 0)
		r = 1;
out:
	sbuf_free(&p);
	return r;
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

	if (data != NULL && (r = seal(ctx, st->key, s->name, data, len, &sealed)) != 0)
		goto out;
	vals[0] = s->name;
	vals[1] = data != NULL ? sealed.p : NULL;
	vals[2] = st->host;
	lens[0] = lens[2] = 0;
	lens[1] = (int)sealed.len;
	if ((r = pg_exec(ctx, "saving the grant", "UPDATE " PG_TABLE " SET record = $2, "
	    "version = version + 1, updated_at = now(), updated_by = $3 WHERE slot = $1",
	    3, vals, lens, bin, ctx->pg_timeout, &res)) != 0)
		goto out;
	ctx->pq->clear(res);
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

static long long
be64(const char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return (long long)be64toh(v);
}

/*
 * Takes the profile's rows FOR UPDATE, in slot order (no deadlock between two
 * machines), and reads them.  Returns how many rows there were.
 */
static int
rows_lock(scauth_ctx *ctx, struct pg_state *st, int *found)
{
	const struct pq_fns *pq = ctx->pq;
	const char *vals[2] = { st->slot[0].name, st->slot[1].name };
	struct pg_result *res = NULL;
	struct pg_slot *s;
	char name[STORE_SLOT_LEN];
	int i, n, r, len;

	*found = 0;
	r = pg_exec(ctx, "locking the grant", "SELECT slot, record, version FROM " PG_TABLE
	    " WHERE slot = $1 OR slot = $2 ORDER BY slot FOR UPDATE", 2, vals, NULL, NULL,
	    ctx->pg_lock_timeout, &res);
	if (r != 0)
		return r;
	n = pq->ntuples(res);
	for (i = 0; i < n; i++) {
		len = pq->getlength(res, i, 0);
		snprintf(name, sizeof(name), "%.*s", len, pq->getvalue(res, i, 0));
		if ((s = find_slot(st, name)) == NULL)
			continue;
		sbuf_reset(&s->record);
		s->present = 0;
		if (pq->getlength(res, i, 2) != 8) {
			r = ctx_err(ctx, SCAUTH_EPROTO, "the database answered a malformed row");
			goto out;
		}
		s->version = be64(pq->getvalue(res, i, 2));
		if (!pq->getisnull(res, i, 1)) {
			/* A record that does not open is reported by load, for its slot only. */
			if ((r = unseal(ctx, st->key, s->name, pq->getvalue(res, i, 1),
			    (size_t)pq->getlength(res, i, 1), &s->record)) != 0 &&
			    r != SCAUTH_ECORRUPT)
				goto out;
			s->present = r == 0 ? 1 : -1;
		}
		(*found)++;
	}
	r = 0;
out:
	pq->clear(res);
	return r;
}

/* Pushes a record whose commit was not confirmed, if the row is still where it was. */
static int
push_pending(scauth_ctx *ctx, struct pg_state *st, struct pg_slot *s)
{
	struct sbuf rec = SBUF_INIT(MAX_RECORD);
	long long base = 0;
	int r;

	if ((r = pending_read(ctx, s->name, &base, &rec)) <= 0)
		goto out;
	if (s->version == base) {
		ctx_trace(ctx, "fleet: pushing the unconfirmed record of %s", s->name);
		s->base = base;
		if ((r = row_write(ctx, st, s, rec.p, rec.len)) != 0)
			goto out;
		s->pushed = 1;
	} else {
		/* Its commit got in after all, or a later write superseded it. */
		ctx_trace(ctx, "fleet: the unconfirmed record of %s is %s", s->name,
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
	/* In slot order: "<profile>.app" sorts before "<profile>.user". */
	snprintf(st->slot[0].name, sizeof(st->slot[0].name), "%s.app", ctx->profile);
	snprintf(st->slot[1].name, sizeof(st->slot[1].name), "%s.user", ctx->profile);
	if ((r = pg_begin(ctx, "locking the grant", ctx->pg_lock_timeout)) != 0)
		return r;
	st->in_tx = 1;
	if ((r = rows_lock(ctx, st, &found)) != 0)
		goto out;
	if (found < NSLOTS) {
		/* First use of the profile: the rows that a lock can hold. */
		vals[0] = st->slot[0].name;
		vals[1] = st->slot[1].name;
		if ((r = pg_exec(ctx, "locking the grant", "INSERT INTO " PG_TABLE " (slot) "
		    "VALUES ($1), ($2) ON CONFLICT (slot) DO NOTHING", 2, vals, NULL, NULL,
		    ctx->pg_lock_timeout, &res)) != 0)
			goto out;
		ctx->pq->clear(res);
		if ((r = rows_lock(ctx, st, &found)) != 0)
			goto out;
	}
	for (i = 0; i < NSLOTS; i++)
		if ((r = push_pending(ctx, st, &st->slot[i])) != 0)
			goto out;
	r = 0;
out:
	if (r != 0) {
		pg_abort(ctx);
		st->in_tx = 0;
	}
	return r;
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
	if ((r = pg_commit(ctx, "committing the grant")) != 0) {
		pg_abort(ctx);
		/* What was only read had been committed by others: it stands. */
		if (!wrote)
			return 0;
		/* Its outcome is unknown: what may hold a rotated token stays here. */
		for (i = 0; i < NSLOTS; i++) {
			s = &st->slot[i];
			if (s->wrote && s->present == 1)
				(void)pending_write(ctx, s->name, s->base, s->record.p, s->record.len);
		}
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
			(void)local_erase(ctx, s->name, PENDING_SUFFIX);
		if (!s->wrote && !s->pushed)
			continue;
		if (s->present == 1)
			r = copy_write(ctx, s->name, s->record.p, s->record.len);
		else
			r = local_erase(ctx, s->name, COPY_SUFFIX);
		if (r != 0)
			break;
	}
	return r;
}

/* A row sealed with another key, or for another slot. */
static int
unopened(scauth_ctx *ctx, const char *slot)
{
	return ctx_err(ctx, SCAUTH_ECORRUPT, "the fleet's record of %s does not open with "
	    "seal_key_file %s: every machine needs the fleet's key", slot,
	    ctx->cfg[CFG_SEAL_KEY_FILE]);
}

static int
pgs_load(scauth_ctx *ctx, const char *slot, struct sbuf *out)
{
	struct pg_state *st = ctx->store_state;
	struct sbuf rec = SBUF_INIT(MAX_RECORD);
	struct pg_slot *s;
	char name[STORE_SLOT_LEN];
	long long base;
	int r;

	if (ctx->store_locked && st != NULL && st->in_tx && (s = find_slot(st, slot)) != NULL) {
		if (s->present == -1)
			return unopened(ctx, slot);
		/* The machine's copy follows the row, a signed-out grant included. */
		if (s->present == 0) {
			if ((r = local_erase(ctx, slot, COPY_SUFFIX)) != 0)
				return r;
			return 0;
		}
		if ((r = copy_write(ctx, slot, s->record.p, s->record.len)) != 0)
			return r;
		return sbuf_add(out, s->record.p, s->record.len) == 0 ? 1 : SCAUTH_ENOMEM;
	}
	/*
	 * Outside the lock: the local copy.  A record still waiting for its
	 * commit is handed out without its access token, so that the caller
	 * takes the lock, which stores it first.
	 */
	if ((r = pending_read(ctx, slot, &base, &rec)) != 0) {
		if (r == 1)
			r = reduce(rec.p, rec.len, 0, out) == 0 ? 1 : SCAUTH_ECORRUPT;
		sbuf_free(&rec);
		return r;
	}
	file_name(name, sizeof(name), slot, COPY_SUFFIX);
	if ((r = store_file_load(ctx, ctx->state_dir, name, out)) != 0)
		return r;
	/* No copy yet (a new machine): the placeholder sends the caller to the row. */
	if ((r = record_serialize(&(struct scauth_token){ 0 }, out)) != 0)
		return r;
	return 1;
}

/*
 * The record to store.  A local copy given back (refresh_held, no refresh
 * token) gets the row's refresh token again, so that it is never lost.  A
 * token obtained since the row's (a login, a refresh) is marked with this
 * host; otherwise the row's mark stays, whoever wrote the record last.
 */
static int
whole_record(const struct pg_state *st, const struct pg_slot *s, const char *data, size_t len,
    struct sbuf *out)
{
	struct scauth_token *t = NULL, *o = NULL;
	const char *by;
	int r;

	if ((r = record_parse(data, len, &t)) != 0)
		goto out;
	if (s->present == 1 && record_parse(s->record.p, s->record.len, &o) != 0)
		o = NULL;
	if (t->refresh_held && t->refresh == NULL && o != NULL && o->refresh != NULL &&
	    (t->refresh = sstrdup(o->refresh)) == NULL) {
		r = SCAUTH_ENOMEM;
		goto out;
	}
	t->refresh_held = 0;
	/*
	 * Within one second a refresh keeps obtained_at: a new access token
	 * tells.  A record without one (a 429's memory alone) obtained nothing.
	 */
	if (t->access != NULL && (o == NULL || o->obtained_at != t->obtained_at ||
	    o->access == NULL || !ct_streq(t->access, o->access)))
		by = st->host;
	else
		by = o != NULL ? o->obtained_by : NULL;
	sfree(t->obtained_by);
	t->obtained_by = NULL;
	if (by != NULL && (t->obtained_by = sstrdup(by)) == NULL) {
		r = SCAUTH_ENOMEM;
		goto out;
	}
	r = record_serialize(t, out);
out:
	scauth_token_free(t);
	scauth_token_free(o);
	return r;
}

static int
pgs_save(scauth_ctx *ctx, const char *slot, const char *data, size_t len)
{
	struct pg_state *st = ctx->store_state;
	struct sbuf whole = SBUF_INIT(MAX_RECORD);
	struct pg_slot *s;
	int r;

	if (!ctx->store_locked || st == NULL || !st->in_tx || (s = find_slot(st, slot)) == NULL)
		return ctx_err(ctx, SCAUTH_EINTERNAL, "fleet store: a write outside the lock");
	if ((r = whole_record(st, s, data, len, &whole)) != 0) {
		/* Whatever went wrong, a rotated refresh token in data is kept. */
		if (memmem(data, len, "\nrefresh_token ", 15) != NULL &&
		    pending_write(ctx, slot, s->wrote ? s->base : s->version, data, len) == 0)
			ctx_trace(ctx, "fleet: kept the record of %s until it can be stored", slot);
		goto out;
	}
	if (!s->wrote)
		s->base = s->version;
	if ((r = row_write(ctx, st, s, whole.p, whole.len)) != 0) {
		/* The record may hold a rotated refresh token: this machine keeps it. */
		if (pending_write(ctx, slot, s->base, whole.p, whole.len) == 0)
			ctx_trace(ctx, "fleet: kept the record of %s until the database takes it",
			    slot);
	}
out:
	sbuf_free(&whole);
	return r;
}

static int
pgs_erase(scauth_ctx *ctx, const char *slot)
{
	struct pg_state *st = ctx->store_state;
	struct pg_slot *s;
	int r;

	if (!ctx->store_locked || st == NULL || !st->in_tx || (s = find_slot(st, slot)) == NULL)
		return ctx_err(ctx, SCAUTH_EINTERNAL, "fleet store: a write outside the lock");
	if ((r = local_erase(ctx, slot, PENDING_SUFFIX)) != 0)
		return r;
	if (!s->wrote)
		s->base = s->version;
	if (s->present == 0 && !s->wrote)
		return local_erase(ctx, slot, COPY_SUFFIX);
	return row_write(ctx, st, s, NULL, 0);
}

/* status: the row as it is committed now, read without its lock. */
static int
pgs_inspect(scauth_ctx *ctx, const char *slot, struct sbuf *out)
{
	struct pg_state *st;
	struct pg_result *res = NULL;
	const char *vals[1] = { slot };
	int r;

	if ((st = state(ctx)) == NULL)
		return SCAUTH_ENOMEM;
	if ((r = need_key(ctx, st)) != 0)
		return r;
	if ((r = pg_exec(ctx, "reading the grant", "SELECT record FROM " PG_TABLE
	    " WHERE slot = $1", 1, vals, NULL, NULL, ctx->pg_timeout, &res)) != 0)
		return r;
	if (ctx->pq->ntuples(res) == 0 || ctx->pq->getisnull(res, 0, 0))
		r = 0;
	else if ((r = unseal(ctx, st->key, slot, ctx->pq->getvalue(res, 0, 0),
	    (size_t)ctx->pq->getlength(res, 0, 0), out)) == 0)
		r = 1;
	else if (r == SCAUTH_ECORRUPT)
		r = unopened(ctx, slot);
	ctx->pq->clear(res);
	return r;
}

static int
pgs_prepare(scauth_ctx *ctx, const char *slot)
{
	char name[STORE_SLOT_LEN];
	int r;

	/* The pending record must be writable before a refresh token is spent. */
	file_name(name, sizeof(name), slot, PENDING_SUFFIX);
	if ((r = store_file_prepare(ctx, ctx->state_dir, name)) != 0)
		return r;
	file_name(name, sizeof(name), slot, COPY_SUFFIX);
	return store_file_prepare(ctx, ctx->state_dir, name);
}

/* host, port and dbname from a "key=value ..." string or a postgresql:// URI; no libpq. */
static void
conninfo_part(const char *ci, const char *key, char *buf, size_t len)
{
	const char *p = ci, *v;
	size_t n = strlen(key), m;

	buf[0] = '\0';
	if (strncmp(ci, "postgres://", 11) == 0 || strncmp(ci, "postgresql://", 13) == 0) {
		p = strstr(ci, "://") + 3;
		if ((v = strpbrk(p, "@/?")) != NULL && *v == '@')
			p = v + 1;
		if (strcmp(key, "dbname") == 0) {
			if ((v = strchr(p, '/')) != NULL)
				snprintf(buf, len, "%.*s", (int)strcspn(v + 1, "?"), v + 1);
		} else {
			m = strcspn(p, "/?");
			v = memchr(p, ':', m);
			if (strcmp(key, "host") == 0)
				snprintf(buf, len, "%.*s", (int)(v != NULL ? (size_t)(v - p) : m), p);
			else if (v != NULL)
				snprintf(buf, len, "%.*s", (int)(m - (size_t)(v + 1 - p)), v + 1);
		}
		return;
	}
	while (*p != '\0') {
		while (isspace((unsigned char)*p))
			p++;
		if (strncmp(p, key, n) == 0 && (p[n] == '=' || isspace((unsigned char)p[n]))) {
			v = p + n;
			while (isspace((unsigned char)*v) || *v == '=')
				v++;
			snprintf(buf, len, "%.*s", (int)strcspn(v, " \t"), v);
			return;
		}
		p += strcspn(p, " \t");
	}
}

/* An erase while the database is down: this machine stops handing out its copy. */
static int
pgs_forget(scauth_ctx *ctx, const char *slot)
{
	return local_erase(ctx, slot, COPY_SUFFIX);
}

static void
pgs_describe(const scauth_ctx *ctx, const char *slot, char *buf, size_t len)
{
	char host[256], port[16], db[128];
	const char *ci = ctx->cfg[CFG_POSTGRES] != NULL ? ctx->cfg[CFG_POSTGRES] : "";

	conninfo_part(ci, "host", host, sizeof(host));
	conninfo_part(ci, "port", port, sizeof(port));
	conninfo_part(ci, "dbname", db, sizeof(db));
	snprintf(buf, len, "postgres store (host %s port %s dbname %s)%s%s",
	    host[0] != '\0' ? host : "(local socket)", port[0] != '\0' ? port : "5432",
	    db[0] != '\0' ? db : "(user name)", slot != NULL ? ", slot " : "",
	    slot != NULL ? slot : "");
}

const struct store_backend store_postgres_backend = {
	.name = "postgres",
	.xdg_state = 1,
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
};
