/*
 * fleet.c - what makes a fleet's sealed records hard to roll back: the
 * fleet's id, made once by `fleet init`, and each machine's memory of the
 * highest row version it has seen of each slot.
 *
 * The seal (seal.c) binds a record to its fleet id, its slot and the row
 * version it was written at, so that a record copied from another fleet, or
 * written back with another version than its own, does not open.  A record
 * written back together with its own old version does open: a machine
 * refuses it when it has seen a higher version of that slot, which it keeps
 * in "<slot>.seen" in its state directory (the file rules).  A machine that
 * has no memory of a slot (a new one, or one whose state was wiped) cannot
 * tell such a rollback; the README says so.
 *
 * The id lives in the row of the reserved slot ".fleet" (no profile name
 * starts with a dot), so that it needs no table and no GRANT of its own.
 * A fleet without an id was set up before ids existed: its machines read
 * and write the old format (the slot alone) until `fleet init` gives it an
 * id and reseals every record, in one transaction that holds the table
 * against writers.  From then on, the old format is refused everywhere, and
 * a machine that has seen the id refuses a fleet without it or with another:
 * deleting the id row does not bring the old format back.
 */
#include "internal.h"
#include "store.h"
#include "fleet.h"
#include "dl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEEN_SUFFIX ".seen"
#define SEEN_MAGIC  "scauth-fleet-seen 1"

struct seen {
	int have;
	unsigned char fleet[SEAL_FLEET_ID_LEN];
	long long version;
};

static void
hex(const unsigned char *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static int
unhex(const char *s, unsigned char *out, size_t n)
{
	size_t i;
	int hi, lo;

	for (i = 0; i < n; i++) {
		hi = s[2 * i] >= '0' && s[2 * i] <= '9' ? s[2 * i] - '0' :
		    s[2 * i] >= 'a' && s[2 * i] <= 'f' ? s[2 * i] - 'a' + 10 : -1;
		lo = s[2 * i + 1] >= '0' && s[2 * i + 1] <= '9' ? s[2 * i + 1] - '0' :
		    s[2 * i + 1] >= 'a' && s[2 * i + 1] <= 'f' ? s[2 * i + 1] - 'a' + 10 : -1;
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

static void
seen_name(char *buf, size_t len, const char *slot)
{
	snprintf(buf, len, "%s" SEEN_SUFFIX, slot);
}

/* This machine's memory of slot: *s->have 0 when it has none. */
static int
seen_load(scauth_ctx *ctx, const char *slot, struct seen *s)
{
	struct sbuf b = SBUF_INIT(MAX_RECORD);
	char name[STORE_SLOT_LEN + 8], id[2 * SEAL_FLEET_ID_LEN + 1];
	long long v;
	int r, n = 0;

	memset(s, 0, sizeof(*s));
	seen_name(name, sizeof(name), slot);
	if ((r = store_file_load(ctx, ctx->state_dir, name, &b)) != 1)
		goto out;
	if (sscanf(sbuf_str(&b), SEEN_MAGIC "\nfleet %32[0-9a-f]\nversion %lld\n%n", id, &v,
	    &n) != 2 || (size_t)n != b.len || strlen(id) != 2 * SEAL_FLEET_ID_LEN || v < 0 ||
	    unhex(id, s->fleet, SEAL_FLEET_ID_LEN) != 0) {
		r = ctx_err(ctx, SCAUTH_EUNSAFE, "%s/%s: not this machine's memory of the fleet; "
		    "remove it (the machine then trusts the database as a new one would)",
		    ctx->state_dir, name);
		goto out;
	}
	s->version = v;
	s->have = 1;
	r = 0;
out:
	sbuf_free(&b);
	return r;
}

int
fleet_remember(scauth_ctx *ctx, const struct fleet_view *fv, const char *slot, long long version)
{
	struct seen s;
	struct sbuf b = SBUF_INIT(256);
	char name[STORE_SLOT_LEN + 8], id[2 * SEAL_FLEET_ID_LEN + 1];
	int r;

	/* A fleet without an id binds no version: nothing worth remembering. */
	if (!fv->present)
		return 0;
	if ((r = seen_load(ctx, slot, &s)) != 0)
		return r;
	if (s.have && memcmp(s.fleet, fv->id, sizeof(s.fleet)) == 0 && s.version >= version)
		return 0;
	seen_name(name, sizeof(name), slot);
	hex(fv->id, SEAL_FLEET_ID_LEN, id);
	if ((r = sbuf_addf(&b, SEEN_MAGIC "\nfleet %s\nversion %lld\n", id, version)) == 0)
		r = store_file_save(ctx, ctx->state_dir, name, b.p, b.len);
	sbuf_free(&b);
	return r;
}

int
fleet_view_set(scauth_ctx *ctx, struct fleet_view *fv, const char *data, size_t len)
{
	memset(fv, 0, sizeof(*fv));
	fv->loaded = 1;
	if (data == NULL)
		return 0;
	if (len != SEAL_FLEET_ID_LEN)
		return ctx_err(ctx, SCAUTH_EUNSAFE, "the fleet's id (row '" FLEET_ID_SLOT "' of "
		    PG_TABLE ") is malformed: the database was tampered with");
	memcpy(fv->id, data, SEAL_FLEET_ID_LEN);
	fv->present = 1;
	return 0;
}

int
fleet_view_read(scauth_ctx *ctx, struct fleet_view *fv)
{
	const struct pq_fns *pq;
	const char *vals[1] = { FLEET_ID_SLOT };
	struct pg_result *res = NULL;
	int r;

	if ((r = pg_exec(ctx, "reading the fleet's id", "SELECT record FROM " PG_TABLE
	    " WHERE slot = $1", 1, vals, NULL, NULL, PG_WAIT_STATEMENT, &res)) != 0)
		return r;
	pq = pg_fns(ctx);
	if (pq->ntuples(res) == 0 || pq->getisnull(res, 0, 0))
		r = fleet_view_set(ctx, fv, NULL, 0);
	else
		r = fleet_view_set(ctx, fv, pq->getvalue(res, 0, 0),
		    (size_t)pq->getlength(res, 0, 0));
	pq->clear(res);
	return r;
}

/* A record of the new format in a fleet without an id: what fleet init must not paper over. */
#define NO_ID_ROW "the fleet's record for %s is sealed for a fleet id, but the database " \
	"has no id (row '" FLEET_ID_SLOT "' of " PG_TABLE "): it was deleted or the database " \
	"tampered with; restore that row as it was (fleet init would give a new id, which " \
	"opens none of the records)"

/* The advice every refusal ends with. */
#define RESTORE_HINT "restore the rows as they were (never write back old rows); if the " \
	"database was restored from a backup on purpose, remove %s/%s on each machine"

int
fleet_open(scauth_ctx *ctx, struct fleet_view *fv, const unsigned char key[SEAL_KEY_LEN],
    const char *slot, long long version, const char *data, size_t len, int remember,
    struct sbuf *out)
{
	struct seal_aad a = { slot, NULL, version };
	char name[STORE_SLOT_LEN + 8];
	struct seen s;
	int r;

	if (!fv->loaded && (r = fleet_view_read(ctx, fv)) != 0)
		return r;
	if ((r = seen_load(ctx, slot, &s)) != 0)
		return r;
	seen_name(name, sizeof(name), slot);
	if (!fv->present) {
		/*
		 * No id: a fleet set up before ids (the old format, as then),
		 * unless this machine has seen its id, which nothing removes.
		 */
		if (s.have)
			return ctx_err(ctx, SCAUTH_EUNSAFE, "the fleet's database has lost its id, "
			    "which this machine has seen with version %lld of %s: the database was "
			    "rolled back or tampered with; " RESTORE_HINT, s.version, slot,
			    ctx->state_dir, name);
		if (data == NULL)
			return 0;
		/* Sealed for an id, which only fleet init gives: the id row was removed. */
		if (seal_format(data, len) == SEAL_VERSION)
			return ctx_err(ctx, SCAUTH_EUNSAFE, NO_ID_ROW, slot);
		return (r = unseal(ctx, key, &a, data, len, out)) == 0 ? 1 : r;
	}
	if (s.have && memcmp(s.fleet, fv->id, sizeof(s.fleet)) != 0)
		return ctx_err(ctx, SCAUTH_EUNSAFE, "the fleet's id is not the one this machine "
		    "has seen with %s: the database was replaced or tampered with; " RESTORE_HINT,
		    slot, ctx->state_dir, name);
	if (s.have && version < s.version)
		return ctx_err(ctx, SCAUTH_EUNSAFE, "the fleet's record for %s is older than one "
		    "this machine has seen (version %lld < %lld): the database was rolled back or "
		    "tampered with; " RESTORE_HINT, slot, version, s.version, ctx->state_dir, name);
	if (data == NULL)
		r = 0;
	else if (seal_format(data, len) == SEAL_VERSION_1)
		r = ctx_err(ctx, SCAUTH_EUNSAFE, "the fleet's record for %s is sealed in the "
		    "format from before 'fleet init' gave the fleet its id: an old row was written "
		    "back, or the database was tampered with; " RESTORE_HINT, slot, ctx->state_dir,
		    name);
	else {
		a.fleet = fv->id;
		r = unseal(ctx, key, &a, data, len, out);
	}
	if (!remember || (r != 0 && s.have))
		return r != 0 ? r : data != NULL;
	/*
	 * What opened is remembered.  The id is remembered from the first
	 * sight, whatever the row holds: a machine that refused a row must
	 * refuse a fleet without its id too.  Copied: ctx_err() writes where
	 * scauth_errmsg() points, and a refusal must keep its words.
	 */
	if (r != 0) {
		char why[ERRMSG_LEN];
		int rr;

		snprintf(why, sizeof(why), "%s", scauth_errmsg(ctx));
		if ((rr = fleet_remember(ctx, fv, slot, 0)) != 0)
			return rr;
		return ctx_err(ctx, r, "%s", why);
	}
	if ((r = fleet_remember(ctx, fv, slot, version)) != 0)
		return r;
	return data != NULL;
}

int
fleet_seal(scauth_ctx *ctx, struct fleet_view *fv, const unsigned char key[SEAL_KEY_LEN],
    const char *slot, long long version, const char *data, size_t len, struct sbuf *out)
{
	struct seal_aad a = { slot, NULL, version };
	int r;

	if (!fv->loaded && (r = fleet_view_read(ctx, fv)) != 0)
		return r;
	if (fv->present)
		a.fleet = fv->id;
	return seal(ctx, key, &a, data, len, out);
}

/*
 * Gives the fleet its id and reseals every record of the old format, under
 * a table lock that keeps writers out (readers go on), so that no record of
 * the old format is written after it.  Runs only when there is no id.
 */
static int
make_id(scauth_ctx *ctx, struct fleet_view *fv, const unsigned char key[SEAL_KEY_LEN])
{
	const struct pq_fns *pq;
	struct sbuf plain = SBUF_INIT(MAX_RECORD), sealed = SBUF_INIT(MAX_RECORD + SEAL_OVERHEAD);
	struct pg_result *res = NULL, *up;
	unsigned char id[SEAL_FLEET_ID_LEN];
	char slot[STORE_SLOT_LEN], ver[24];
	const char *vals[3];
	int lens[3], bin[3] = { 0, 1, 0 }, i, n, resealed = 0, r;
	struct seal_aad a;
	long long v;

	if ((r = pg_run(ctx, "fleet init", "LOCK TABLE " PG_TABLE " IN EXCLUSIVE MODE",
	    PG_WAIT_LOCK)) != 0)
		return r;
	pq = pg_fns(ctx);
	/* Another machine's fleet init may have got there first. */
	if ((r = fleet_view_read(ctx, fv)) != 0 || fv->present)
		return r;
	if ((r = random_bytes(ctx, id, sizeof(id))) != 0)
		return r;
	vals[0] = FLEET_ID_SLOT;
	vals[1] = (const char *)id;
	lens[0] = 0;
	lens[1] = sizeof(id);
	if ((r = pg_exec(ctx, "fleet init", "INSERT INTO " PG_TABLE " (slot, record) VALUES "
	    "($1, $2) ON CONFLICT (slot) DO UPDATE SET record = EXCLUDED.record, version = "
	    PG_TABLE ".version + 1", 2, vals, lens, bin, PG_WAIT_STATEMENT, &res)) != 0)
		return r;
	pq->clear(res);
	res = NULL;
	if ((r = fleet_view_set(ctx, fv, (const char *)id, sizeof(id))) != 0)
		return r;
	if ((r = pg_exec(ctx, "fleet init", "SELECT slot, record, version FROM " PG_TABLE
	    " WHERE slot <> '" FLEET_ID_SLOT "' AND record IS NOT NULL ORDER BY slot", 0, NULL,
	    NULL, NULL, PG_WAIT_STATEMENT, &res)) != 0)
		return r;
	n = pq->ntuples(res);
	for (i = 0; i < n; i++) {
		snprintf(slot, sizeof(slot), "%.*s", pq->getlength(res, i, 0), pq->getvalue(res, i, 0));
		if (pq->getlength(res, i, 2) != 8) {
			r = ctx_err(ctx, SCAUTH_EPROTO, "the database answered a malformed row");
			goto out;
		}
		v = pg_int8(pq->getvalue(res, i, 2));
		if (seal_format(pq->getvalue(res, i, 1), (size_t)pq->getlength(res, i, 1)) ==
		    SEAL_VERSION) {
			r = ctx_err(ctx, SCAUTH_EUNSAFE, NO_ID_ROW, slot);
			goto out;
		}
		if (seal_format(pq->getvalue(res, i, 1), (size_t)pq->getlength(res, i, 1)) !=
		    SEAL_VERSION_1)
			continue;
		a = (struct seal_aad){ slot, NULL, 0 };
		sbuf_reset(&plain);
		sbuf_reset(&sealed);
		if (unseal(ctx, key, &a, pq->getvalue(res, i, 1), (size_t)pq->getlength(res, i, 1),
		    &plain) != 0) {
			r = ctx_err(ctx, SCAUTH_ECONFIG, "seal_key_file %s does not open the fleet's "
			    "records (slot %s): every machine needs the same key",
			    ctx->cfg[CFG_SEAL_KEY_FILE], slot);
			goto out;
		}
		a = (struct seal_aad){ slot, fv->id, v + 1 };
		if ((r = seal(ctx, key, &a, plain.p, plain.len, &sealed)) != 0)
			goto out;
		snprintf(ver, sizeof(ver), "%lld", v);
		vals[0] = slot;
		vals[1] = sealed.p;
		vals[2] = ver;
		lens[0] = lens[2] = 0;
		lens[1] = (int)sealed.len;
		if ((r = pg_exec(ctx, "fleet init", "UPDATE " PG_TABLE " SET record = $2, "
		    "version = version + 1 WHERE slot = $1 AND version = $3", 3, vals, lens, bin,
		    PG_WAIT_STATEMENT, &up)) != 0)
			goto out;
		pq->clear(up);
		resealed++;
	}
	ctx_trace(ctx, "fleet init: gave the fleet its id; resealed %d record(s) in format %d",
	    resealed, SEAL_VERSION);
	r = 0;
out:
	if (res != NULL)
		pq->clear(res);
	sbuf_free(&plain);
	sbuf_free(&sealed);
	scauth_wipe(id, sizeof(id));
	return r;
}

/*
 * Checks that key opens the fleet's records, when there are any: a machine
 * given another key than the fleet's learns it now, not at its first refresh.
 * One record that opens is enough (another may have been tampered with,
 * which its slot's machines report).
 */
static int
check_key(scauth_ctx *ctx, const struct fleet_view *fv, const unsigned char key[SEAL_KEY_LEN])
{
	const struct pq_fns *pq;
	struct sbuf plain = SBUF_INIT(MAX_RECORD);
	struct pg_result *res = NULL;
	char slot[STORE_SLOT_LEN], first[STORE_SLOT_LEN];
	struct seal_aad a;
	int i, n, r, opened = 0;

	if ((r = pg_exec(ctx, "fleet init", "SELECT slot, record, version FROM " PG_TABLE
	    " WHERE slot <> '" FLEET_ID_SLOT "' AND record IS NOT NULL ORDER BY slot", 0, NULL,
	    NULL, NULL, PG_WAIT_STATEMENT, &res)) != 0)
		return r;
	pq = pg_fns(ctx);
	n = pq->ntuples(res);
	for (i = 0; i < n && !opened; i++) {
		snprintf(slot, sizeof(slot), "%.*s", pq->getlength(res, i, 0), pq->getvalue(res, i, 0));
		if (i == 0)
			memcpy(first, slot, sizeof(first));
		if (pq->getlength(res, i, 2) != 8)
			continue;
		a = (struct seal_aad){ slot, NULL, pg_int8(pq->getvalue(res, i, 2)) };
		if (fv->present && seal_format(pq->getvalue(res, i, 1),
		    (size_t)pq->getlength(res, i, 1)) != SEAL_VERSION_1)
			a.fleet = fv->id;
		sbuf_reset(&plain);
		opened = unseal(ctx, key, &a, pq->getvalue(res, i, 1),
		    (size_t)pq->getlength(res, i, 1), &plain) == 0;
	}
	if (n > 0 && !opened)
		r = ctx_err(ctx, SCAUTH_ECONFIG, "seal_key_file %s does not open the fleet's "
		    "records (slot %s): every machine needs the same key",
		    ctx->cfg[CFG_SEAL_KEY_FILE], first);
	pq->clear(res);
	sbuf_free(&plain);
	return r;
}

int
fleet_init_id(scauth_ctx *ctx, const unsigned char key[SEAL_KEY_LEN])
{
	struct fleet_view fv;
	int r;

	if ((r = pg_begin(ctx, "fleet init")) != 0)
		return r;
	if ((r = fleet_view_read(ctx, &fv)) != 0)
		goto out;
	if (!fv.present && (r = make_id(ctx, &fv, key)) != 0)
		goto out;
	if ((r = check_key(ctx, &fv, key)) != 0)
		goto out;
	r = pg_commit(ctx, "fleet init");
out:
	if (r != 0)
		pg_abort(ctx);
	return r;
}

/* The fleet's database made ready (pg.c's schema), then its id (above). */
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
	/* The fleet's id (once), and a check that the key opens the records. */
	r = fleet_init_id(ctx, key);
out:
	scauth_wipe(key, sizeof(key));
	return r;
}
