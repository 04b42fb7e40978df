/*
 * store_cache.c - what a remote store keeps on this machine: one layer under
 * the two backends whose store is elsewhere (store_secret.c: the desktop's
 * Secret Service; store_postgres.c: a fleet's database), so that both keep
 * it alike.  The backends load, save, lock and describe their store; this
 * file owns what lives here beside it, in a directory under the file rules:
 *
 *  - the copy of a slot ("<slot><suffix>"): its record without the refresh
 *    token, marked as held by the store (record_reduce), which a load
 *    outside the lock serves, so that a cached get makes no network or D-Bus
 *    call.  It follows the store whenever the store is read or written under
 *    the lock (cache_follow), and may be missing, never behind: a backend
 *    removes it before it writes the store, and makes it again once the
 *    write is done; a copy that does not read is dropped.
 *  - the journal ("<slot>.pending"): a record the store did not take,
 *    perhaps holding the only valid refresh token (below).
 *  - the whole record to store (cache_whole): a copy given back gets the
 *    store's refresh token again, so that no save through a copy loses it.
 */
#include "internal.h"
#include "store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* The copy. */

static void
copy_file(const struct store_cache *c, const struct store_slot *sl, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s", sl->name, c->suffix != NULL ? c->suffix : "");
}

/* The record without its refresh token; without its access token too unless keep_access. */
static int
reduce(const char *data, size_t len, int keep_access, struct sbuf *out)
{
	struct scauth_token *t = NULL;
	int r;

	if ((r = record_parse(data, len, &t)) != 0)
		return r;
	/* Renewable all the same: the store holds the refresh token. */
	record_reduce(t, keep_access);
	r = record_serialize(t, out);
	scauth_token_free(t);
	return r;
}

int
cache_load(scauth_ctx *ctx, const struct store_cache *c, const struct store_slot *sl,
    struct sbuf *out)
{
	struct sbuf rec = SBUF_INIT(MAX_RECORD);
	struct scauth_token *t = NULL;
	char name[CACHE_NAME_LEN];
	long long base;
	int r;

	if (c->dir == NULL)
		return 0;
	/*
	 * A record still waiting for its store is handed out without its
	 * access token, so that the caller takes the lock, which stores it
	 * first.
	 */
	if ((r = cache_kept(ctx, c, sl, &base, &rec)) != 0) {
		if (r == 1 && (r = reduce(rec.p, rec.len, 0, out)) == 0)
			r = 1;
		sbuf_free(&rec);
		return r;
	}
	copy_file(c, sl, name, sizeof(name));
	if ((r = store_file_load(ctx, c->dir, name, out)) != 1)
		return r;
	/*
	 * A copy that does not read is this layer's to drop, not the store's
	 * record to blame: without it, the caller goes to the store.
	 */
	if ((r = record_parse(out->p, out->len, &t)) == 0) {
		scauth_token_free(t);
		return 1;
	}
	if (r == SCAUTH_ENOMEM)
		return r;
	ctx_trace(ctx, "%s/%s: not a record; dropped", c->dir, name);
	sbuf_reset(out);
	return (r = store_file_erase(ctx, c->dir, name)) != 0 ? r : 0;
}

int
cache_follow(scauth_ctx *ctx, const struct store_cache *c, const struct store_slot *sl,
    int found, const char *data, size_t len)
{
	struct sbuf copy = SBUF_INIT(MAX_RECORD), old = SBUF_INIT(MAX_RECORD);
	char name[CACHE_NAME_LEN], keep[ERRMSG_LEN];
	int r = 0;

	if (c->dir == NULL)
		return 0;
	if (!found)
		return cache_forget(ctx, c, sl);
	copy_file(c, sl, name, sizeof(name));
	/* What happens to the copy must not replace the caller's message. */
	memcpy(keep, ctx->err, sizeof(keep));
	if ((r = reduce(data, len, 1, &copy)) != 0) {
		ctx_trace(ctx, "%s: local copy not written: the record does not read", sl->name);
		goto drop;
	}
	/* Most locks change nothing: no write, no fsync then. */
	if (store_file_load(ctx, c->dir, name, &old) == 1 && old.len == copy.len &&
	    memcmp(old.p, copy.p, copy.len) == 0)
		goto out;
	if ((r = store_file_save(ctx, c->dir, name, copy.p, copy.len)) == 0)
		goto out;
	ctx_trace(ctx, "%s: local copy not written: %s", sl->name, ctx->err);
drop:
	/* A copy that cannot follow the store must not stay behind it. */
	r = store_file_erase(ctx, c->dir, name);
out:
	if (r == 0)
		memcpy(ctx->err, keep, sizeof(keep));
	sbuf_free(&copy);
	sbuf_free(&old);
	return r;
}

int
cache_forget(scauth_ctx *ctx, const struct store_cache *c, const struct store_slot *sl)
{
	char name[CACHE_NAME_LEN];

	if (c->dir == NULL)
		return 0;
	copy_file(c, sl, name, sizeof(name));
	return store_file_erase(ctx, c->dir, name);
}

int
cache_prepare(scauth_ctx *ctx, const struct store_cache *c, const struct store_slot *sl)
{
	char name[CACHE_NAME_LEN];
	int r;

	if (c->dir == NULL)
		return 0;
	snprintf(name, sizeof(name), "%s" PENDING_SUFFIX, sl->name);
	if ((r = store_file_prepare(ctx, c->dir, name)) != 0)
		return r;
	copy_file(c, sl, name, sizeof(name));
	return store_file_prepare(ctx, c->dir, name);
}

/* ------------------------------------------------------------------------ */
/* The whole record. */

int
cache_whole(scauth_ctx *ctx, const char *data, size_t len,
    int (*fetch)(scauth_ctx *ctx, void *arg, struct sbuf *out), void *arg, const char *host,
    struct sbuf *out, int *fresh)
{
	struct sbuf old = SBUF_INIT(MAX_RECORD);
	struct scauth_token *t = NULL, *o = NULL;
	const char *by;
	int r;

	*fresh = 0;
	if ((r = record_parse(data, len, &t)) != 0)
		goto out;
	*fresh = t->refresh != NULL;
	/* The store's record, when it is needed: a D-Bus call or a row already read. */
	if ((t->refresh_held && t->refresh == NULL) || host != NULL) {
		if ((r = fetch(ctx, arg, &old)) < 0)
			goto out;
		/* A store's record that does not read has no refresh token to give. */
		if (r == 1 && (r = record_parse(old.p, old.len, &o)) == SCAUTH_ENOMEM)
			goto out;
		if (r != 0)
			o = NULL;
	}
	if ((r = record_refill(t, o)) != 0)
		goto out;
	/*
	 * The host that obtained the token, when the store records it.  Within
	 * one second a refresh keeps obtained_at: a new access token tells.  A
	 * record without one (a 429's memory alone) obtained nothing.
	 */
	if (host != NULL) {
		if (t->access != NULL && (o == NULL || o->obtained_at != t->obtained_at ||
		    o->access == NULL || !ct_streq(t->access, o->access)))
			by = host;
		else
			by = o != NULL ? o->obtained_by : NULL;
		sfree(t->obtained_by);
		t->obtained_by = NULL;
		if (by != NULL && (t->obtained_by = sstrdup(by)) == NULL) {
			r = SCAUTH_ENOMEM;
			goto out;
		}
	}
	r = record_serialize(t, out);
out:
	scauth_token_free(t);
	scauth_token_free(o);
	sbuf_free(&old);
	return r;
}

/* ------------------------------------------------------------------------ */
/*
 * The journal: a record its store did not take (refused, or its commit
 * unconfirmed), which may hold the only valid refresh token, kept in
 * "<slot>.pending" beside the copy under the file rules until the backend
 * pushes it under the next lock, before anything else reads the slot.  One
 * format,
 *
 *	scauth-pending 1 BASE
 *	<the record>
 *
 * BASE being the version of the store's copy it replaces, -1 when the store
 * keeps none.  What earlier releases wrote is read too, so that no pending
 * token is lost on an upgrade: the fleet's "scauth-fleet-pending BASE" head,
 * and the Secret Service's bare record (BASE -1).
 */
#define PENDING_HEAD      "scauth-pending 1 "
#define PENDING_OLD_FLEET "scauth-fleet-pending "
#define PENDING_OLD_BARE  "scauth-token "

static void
pending_file(const struct store_slot *sl, char *buf, size_t len)
{
	snprintf(buf, len, "%s" PENDING_SUFFIX, sl->name);
}

int
cache_keep(scauth_ctx *ctx, const struct store_cache *c, const struct store_slot *sl,
    long long base, const char *data, size_t len)
{
	struct sbuf p = SBUF_INIT(MAX_RECORD + 64);
	char name[CACHE_NAME_LEN];
	int r;

	if (c->dir == NULL)
		return ctx_err(ctx, SCAUTH_ESTORE, "%s: no place on this machine to keep the "
		    "record", sl->name);
	pending_file(sl, name, sizeof(name));
	if ((r = sbuf_addf(&p, PENDING_HEAD "%lld\n", base)) == 0 &&
	    (r = sbuf_add(&p, data, len)) == 0)
		r = store_file_save(ctx, c->dir, name, p.p, p.len);
	sbuf_free(&p);
	return r;
}

/* The BASE of a head that starts with prefix, up to nl; -2 when it is not one. */
static long long
pending_base(const char *p, const char *nl, const char *prefix)
{
	size_t n = strlen(prefix);
	long long base;
	char *end;

	if ((size_t)(nl - p) <= n || strncmp(p, prefix, n) != 0)
		return -2;
	errno = 0;
	base = strtoll(p + n, &end, 10);
	return errno == 0 && end == nl && base >= -1 ? base : -2;
}

int
cache_kept(scauth_ctx *ctx, const struct store_cache *c, const struct store_slot *sl,
    long long *base, struct sbuf *out)
{
	struct sbuf p = SBUF_INIT(MAX_RECORD + 64);
	struct scauth_token *t = NULL;
	char name[CACHE_NAME_LEN], why[200];
	const char *nl, *rec;
	int r;

	if (c->dir == NULL)
		return 0;
	pending_file(sl, name, sizeof(name));
	if ((r = store_file_load(ctx, c->dir, name, &p)) <= 0)
		goto out;
	nl = memchr(p.p, '\n', p.len);
	rec = nl != NULL ? nl + 1 : NULL;
	if (nl != NULL && (*base = pending_base(p.p, nl, PENDING_HEAD)) == -2 &&
	    (*base = pending_base(p.p, nl, PENDING_OLD_FLEET)) == -1)
		*base = -2;     /* the fleet's head always named a version */
	if (nl != NULL && *base == -2 && strncmp(p.p, PENDING_OLD_BARE,
	    strlen(PENDING_OLD_BARE)) == 0) {
		*base = -1;
		rec = p.p;
	}
	if (nl == NULL || *base == -2) {
		r = ctx_err(ctx, SCAUTH_ECORRUPT, "%s/%s: not a pending record; remove it",
		    c->dir, name);
		goto out;
	}
	/* Never pushed over the store's record unless it is one. */
	if ((r = record_parse_why(rec, p.len - (size_t)(rec - p.p), &t, why, sizeof(why))) != 0) {
		if (r == SCAUTH_ECORRUPT)
			r = ctx_err(ctx, r, "%s/%s: the pending record does not read (%s); the "
			    "store keeps the one before it: remove the file", c->dir, name, why);
		goto out;
	}
	scauth_token_free(t);
	if ((r = sbuf_add(out, rec, p.len - (size_t)(rec - p.p))) == 0)
		r = 1;
out:
	sbuf_free(&p);
	return r;
}

int
cache_drop(scauth_ctx *ctx, const struct store_cache *c, const struct store_slot *sl)
{
	char name[CACHE_NAME_LEN];

	if (c->dir == NULL)
		return 0;
	pending_file(sl, name, sizeof(name));
	return store_file_erase(ctx, c->dir, name);
}
