/*
 * broker.c - the token lifecycle: hand out a valid access token with the
 * least network work, under any concurrency, without ever spending a
 * single-use refresh token twice or losing it.
 *
 * The fast path reads the slot without a lock and returns a token that is
 * still fresh (expiry minus refresh_margin); it loads no network library.
 * Otherwise the per-profile lock is taken and the slot read again, since
 * another process may have renewed it while we waited; only a token that is
 * still stale is renewed.  Before a refresh token is sent, the store reserves
 * what the write of its successor needs (store_prepare), and the successor
 * is stored durably before the new access token is handed out.  The broker
 * reaches the tokens and the lock only through store_*() (store.c, over the
 * configured backend); the requests are in oauth.c.
 */
#include "internal.h"
#include "store.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct scauth_response {
	long status;
	struct sbuf body;       /* wiped on free: API answers may hold tokens */
};

static const char *
grant_name(enum scauth_grant g)
{
	return g == SCAUTH_GRANT_APP ? "app" : "user";
}

static int
check_ctx(scauth_ctx *ctx, enum scauth_grant g)
{
	if (ctx == NULL)
		return SCAUTH_EINVAL;
	if (ctx->profile == NULL || ctx->state_dir == NULL)
		return ctx_err(ctx, SCAUTH_EINVAL, "the context is not loaded: call "
		    "scauth_ctx_load() first");
	if (g != SCAUTH_GRANT_USER && g != SCAUTH_GRANT_APP)
		return ctx_err(ctx, SCAUTH_EINVAL, "unknown grant %d", (int)g);
	return 0;
}

time_t
scauth_token_fresh_until(const scauth_ctx *ctx, const scauth_token *t)
{
	long margin, life;

	if (ctx == NULL || t == NULL || t->expires_at == 0)
		return 0;
	margin = ctx->refresh_margin;
	/*
	 * The default margin would renew a token that lives less than it on
	 * every call (and burn the client-credentials quota with a server that
	 * issues short tokens): it counts at most half the token's life.  A
	 * margin set on purpose is taken as given.
	 */
	life = (long)(t->expires_at - t->obtained_at);
	if (ctx->rank[CFG_REFRESH_MARGIN] == CFG_RANK_DEFAULT && t->obtained_at > 0 && life > 0 &&
	    margin > life / 2)
		margin = life / 2;
	return t->expires_at - margin;
}

/* A token that may be handed out as it is. */
int
scauth_token_fresh(const scauth_ctx *ctx, const scauth_token *t)
{
	if (t == NULL || t->access == NULL)
		return 0;
	/* No expiry was given: use it until the API says otherwise (401). */
	if (t->expires_at == 0)
		return 1;
	return now() < scauth_token_fresh_until(ctx, t);
}

/* The app slot remembers a 429 until the server's reset time: no request before. */
static int
rate_limited(scauth_ctx *ctx, const struct scauth_token *t)
{
	char when[40];

	if (t == NULL || t->retry_at <= now())
		return 0;
	format_utc(t->retry_at, when, sizeof(when));
	ctx_trace(ctx, "rate limited until %s: no request", when);
	return ctx_err(ctx, SCAUTH_ERATELIMIT, "rate limited by the server until %s", when);
}

static int
dup_if_unset(char **dst, const char *src)
{
	if (*dst != NULL || src == NULL)
		return 0;
	return (*dst = sstrdup(src)) == NULL ? SCAUTH_ENOMEM : 0;
}

/*
 * What a renewal does not repeat is kept from the record it renews, for
 * either grant: the identity and label always, the scope when absent, and,
 * when t came from refreshing old's refresh token (refreshed), that refresh
 * token if the server did not rotate it (RFC 6749 6: it then stays valid).
 * A remembered rate limit ends with the renewal.
 */
static int
carry_over(const struct scauth_token *old, struct scauth_token *t, int refreshed)
{
	int r;

	t->retry_at = 0;
	if (old == NULL)
		return 0;
	if ((refreshed && (r = dup_if_unset(&t->refresh, old->refresh)) != 0) ||
	    (r = dup_if_unset(&t->scope, old->scope)) != 0 ||
	    (r = dup_if_unset(&t->urn, old->urn)) != 0 ||
	    (r = dup_if_unset(&t->permalink, old->permalink)) != 0 ||
	    (r = dup_if_unset(&t->username, old->username)) != 0 ||
	    (r = dup_if_unset(&t->label, old->label)) != 0)
		return r;
	return 0;
}

/* Renews the user grant; called under the lock with the slot as just re-read. */
static int
renew_user(scauth_ctx *ctx, const struct scauth_token *old, struct scauth_token **out)
{
	struct scauth_token *t = NULL;
	int r;

	*out = NULL;
	if (old == NULL)
		return ctx_err(ctx, SCAUTH_ELOGIN, "not logged in (profile %s); log in first",
		    ctx->profile);
	if (old->refresh == NULL)
		return ctx_err(ctx, SCAUTH_ELOGIN, "the stored access token (profile %s) expired "
		    "and there is no refresh token; log in again", ctx->profile);
	if ((r = store_prepare(ctx, SCAUTH_GRANT_USER)) != 0)
		goto out;
	ctx_trace(ctx, "refresh (profile %s, user)", ctx->profile);
	r = oauth_refresh(ctx, old->refresh, &t, NULL);
	if (r == SCAUTH_EGRANT) {
		/* Spent, revoked or signed out elsewhere: it will never work again. */
		if ((r = store_erase(ctx, SCAUTH_GRANT_USER)) != 0)
			goto out;
		r = ctx_err(ctx, SCAUTH_ELOGIN, "the stored grant was refused by the server "
		    "(invalid_grant); log in again");
		goto out;
	}
	if (r != 0)
		goto out;
	if ((r = carry_over(old, t, 1)) != 0 || (r = store_save(ctx, SCAUTH_GRANT_USER, t)) != 0)
		goto out;
	*out = t;
	t = NULL;       /* transferred */
out:
	scauth_token_free(t);
	return r;
}

/* Keeps a 429 in the app slot (with whatever tokens it held) until until. */
static int
note_rate_limit(scauth_ctx *ctx, const struct scauth_token *old, time_t until)
{
	struct scauth_token *t;
	char when[40], why[ERRMSG_LEN];
	int r;

	if (until <= now())
		until = now() + 60;     /* no reset time given: back off a minute */
	if ((t = old != NULL ? record_dup(old) : record_new()) == NULL)
		return SCAUTH_ENOMEM;
	t->retry_at = until;
	r = store_save(ctx, SCAUTH_GRANT_APP, t);
	scauth_token_free(t);
	format_utc(until, when, sizeof(when));
	if (r != 0) {
		/* Copied: ctx_err() writes where scauth_errmsg() points. */
		snprintf(why, sizeof(why), "%s", scauth_errmsg(ctx));
		return ctx_err(ctx, SCAUTH_ERATELIMIT, "rate limited by the server until %s "
		    "(and it could not be remembered: %s)", when, why);
	}
	ctx_trace(ctx, "rate limited until %s", when);
	return ctx_err(ctx, SCAUTH_ERATELIMIT, "rate limited by the server until %s", when);
}

/*
 * Renews the app grant under the lock: with its refresh token when the
 * server issued one (a refused one falls back to a new exchange), else with
 * a new client-credentials exchange, which SoundCloud rate limits hard.
 */
static int
renew_app(scauth_ctx *ctx, const struct scauth_token *old, struct scauth_token **out)
{
	struct scauth_token *t = NULL;
	time_t until = 0;
	int r, refreshed = 0;

	*out = NULL;
	if ((r = rate_limited(ctx, old)) != 0)
		return r;
	if ((r = store_prepare(ctx, SCAUTH_GRANT_APP)) != 0)
		return r;
	if (old != NULL && old->refresh != NULL) {
		ctx_trace(ctx, "refresh (profile %s, app)", ctx->profile);
		r = oauth_refresh(ctx, old->refresh, &t, &until);
		if (r == SCAUTH_ERATELIMIT) {
			r = note_rate_limit(ctx, old, until);
			goto out;
		}
		if (r == SCAUTH_EGRANT)
			ctx_trace(ctx, "app refresh token refused: a new client-credentials "
			    "exchange");
		else if (r != 0)
			goto out;
		else
			refreshed = 1;
	}
	if (t == NULL) {
		ctx_trace(ctx, "client credentials (profile %s)", ctx->profile);
		r = oauth_client_credentials(ctx, &t, &until);
		if (r == SCAUTH_ERATELIMIT) {
			r = note_rate_limit(ctx, old, until);
			goto out;
		}
		if (r != 0)
			goto out;
	}
	if ((r = carry_over(old, t, refreshed)) != 0 ||
	    (r = store_save(ctx, SCAUTH_GRANT_APP, t)) != 0)
		goto out;
	*out = t;
	t = NULL;       /* transferred */
out:
	scauth_token_free(t);
	return r;
}

/*
 * Takes the profile's lock, runs work(ctx, g, arg) and releases the lock.
 * What the work wrote stays when it succeeded, or always with keep_always
 * (a refused grant's erase, a remembered rate limit are meant to stay on
 * error paths too).  The first error wins; *lock_failed (when not NULL) tells
 * a failure to take the lock from one of the work's.
 */
static int
locked(scauth_ctx *ctx, enum scauth_grant g, int keep_always,
    int (*work)(scauth_ctx *, enum scauth_grant, void *), void *arg, int *lock_failed)
{
	struct store_lock lk = STORE_LOCK_INIT;
	int r, ru;

	if (lock_failed != NULL)
		*lock_failed = 0;
	if ((r = store_lock(ctx, &lk)) != 0) {
		if (lock_failed != NULL)
			*lock_failed = 1;
		return r;
	}
	r = work(ctx, g, arg);
	if ((ru = store_unlock(ctx, &lk, keep_always || r == 0)) != 0 && r == 0)
		r = ru;
	return r;
}

/*
 * Under the lock: the slot read again, since another process may have
 * renewed it while we waited; only a token that is still stale is renewed.
 */
static int
reload_or_renew(scauth_ctx *ctx, enum scauth_grant g, void *arg)
{
	struct scauth_token **out = arg, *t = NULL;
	int r;

	r = store_load(ctx, g, &t);
	if (r == 0 && scauth_token_fresh(ctx, t)) {
		ctx_trace(ctx, "renewed by another process meanwhile (profile %s, %s)",
		    ctx->profile, grant_name(g));
		*out = t;
		return 0;
	}
	if (r == 0 || r == SCAUTH_ELOGIN)
		r = g == SCAUTH_GRANT_USER ? renew_user(ctx, t, out) : renew_app(ctx, t, out);
	scauth_token_free(t);
	return r;
}

int
scauth_token_get(scauth_ctx *ctx, enum scauth_grant g, scauth_token **out)
{
	struct scauth_token *t = NULL;
	int r;

	if (out != NULL)
		*out = NULL;
	if ((r = check_ctx(ctx, g)) != 0)
		return r;
	if (out == NULL)
		return ctx_err(ctx, SCAUTH_EINVAL, "no place for the token");
	r = store_load(ctx, g, &t);
	if (r == 0 && scauth_token_fresh(ctx, t)) {
		ctx_trace(ctx, "cache hit (profile %s, %s)", ctx->profile, grant_name(g));
		*out = t;
		return 0;
	}
	/* Nothing stored and nothing to renew with: no lock, no request. */
	if (r != 0 && (r != SCAUTH_ELOGIN || g == SCAUTH_GRANT_USER))
		goto out;
	if (g == SCAUTH_GRANT_APP && (r = rate_limited(ctx, t)) != 0)
		goto out;
	if ((r = locked(ctx, g, 1, reload_or_renew, out, NULL)) != 0) {
		/* Renewed, but the lock's release failed: not handed out. */
		scauth_token_free(*out);
		*out = NULL;
	}
out:
	scauth_token_free(t);
	return r;
}

/* The grant as the store holds it, through the backend's load or inspect hook. */
static int
stored(scauth_ctx *ctx, enum scauth_grant g, int inspect, scauth_token **out)
{
	int r;

	if (out != NULL)
		*out = NULL;
	if ((r = check_ctx(ctx, g)) != 0)
		return r;
	if (out == NULL)
		return ctx_err(ctx, SCAUTH_EINVAL, "no place for the token");
	return inspect ? store_inspect(ctx, g, out) : store_load(ctx, g, out);
}

int
scauth_token_peek(scauth_ctx *ctx, enum scauth_grant g, scauth_token **out)
{
	return stored(ctx, g, 0, out);
}

int
scauth_token_inspect(scauth_ctx *ctx, enum scauth_grant g, scauth_token **out)
{
	return stored(ctx, g, 1, out);
}

static int
holds(const struct scauth_token *t, const char *access)
{
	return t->access != NULL && (access == NULL || ct_streq(t->access, access));
}

/* Under the lock: drops the access token if the slot holds arg's (any when NULL). */
static int
drop_access(scauth_ctx *ctx, enum scauth_grant g, void *arg)
{
	const char *access = arg;
	struct scauth_token *t = NULL;
	int r;

	if ((r = store_load(ctx, g, &t)) != 0)
		goto out;
	if (!holds(t, access)) {
		r = SCAUTH_ELOGIN;      /* another token than the stored one */
		goto out;
	}
	/* The refresh token stays: the next get refreshes. */
	sfree(t->access);
	t->access = NULL;
	if ((r = store_save(ctx, g, t)) != 0)
		goto out;
	ctx_trace(ctx, "access token invalidated (profile %s, %s)", ctx->profile, grant_name(g));
out:
	scauth_token_free(t);
	return r;
}

static int
out_of_reach(int r)
{
	return scauth_err_kind(r) == SCAUTH_KIND_UNAVAILABLE ||
	    scauth_err_kind(r) == SCAUTH_KIND_TEMPORARY;
}

int
scauth_token_invalidate(scauth_ctx *ctx, enum scauth_grant g, const char *access_token)
{
	struct scauth_token *t = NULL;
	int dropped = 0, known, lock_failed, r;

	if ((r = check_ctx(ctx, g)) != 0)
		return r;
	/*
	 * A look without the lock first: a foreign token costs no lock and no
	 * write.  A remote store's local copy may lack the store's current
	 * token (a new machine, a cleaned state directory): the store decides.
	 */
	r = store_load(ctx, g, &t);
	known = r == 0 && holds(t, access_token);
	scauth_token_free(t);
	if (r != 0 || (!known && !store_remote(ctx)))
		goto out;
	r = locked(ctx, g, 0, drop_access, (void *)(uintptr_t)access_token, &lock_failed);
	dropped = r == 0;
	/*
	 * The store cannot be reached (a fleet's database is down): this machine
	 * at least stops handing out the token; the store learns of it from the
	 * next caller that sees it refused.  A token its copy does not hold
	 * leaves the copy alone.
	 */
	if (lock_failed && out_of_reach(r) && !known)
		r = 0;
	else if (lock_failed && out_of_reach(r) && store_forget(ctx, g) == 1) {
		ctx_trace(ctx, "invalidate: the store is out of reach; local copy dropped "
		    "(profile %s, %s)", ctx->profile, grant_name(g));
		r = 0;
		dropped = 1;
	}
out:
	/* Nothing stored, or another token than the stored one: nothing to drop. */
	if (r == SCAUTH_ELOGIN || (r == 0 && !dropped)) {
		ctx_trace(ctx, "invalidate: not the stored access token; ignored");
		r = 0;
	}
	return r;
}

static int
save_work(scauth_ctx *ctx, enum scauth_grant g, void *arg)
{
	return store_save(ctx, g, arg);
}

int
scauth_token_save(scauth_ctx *ctx, enum scauth_grant g, const scauth_token *t)
{
	int r;

	if ((r = check_ctx(ctx, g)) != 0)
		return r;
	if (t == NULL)
		return ctx_err(ctx, SCAUTH_EINVAL, "no token to save");
	return locked(ctx, g, 0, save_work, (void *)(uintptr_t)t, NULL);
}

static int
erase_work(scauth_ctx *ctx, enum scauth_grant g, void *arg)
{
	return store_erase(ctx, g);
}

int
scauth_token_erase(scauth_ctx *ctx, enum scauth_grant g)
{
	int r;

	if ((r = check_ctx(ctx, g)) != 0)
		return r;
	return locked(ctx, g, 0, erase_work, NULL, NULL);
}

int
scauth_token_storable(scauth_ctx *ctx, enum scauth_grant g)
{
	int r;

	if ((r = check_ctx(ctx, g)) != 0)
		return r;
	return store_ready(ctx, g);
}

int
scauth_logout(scauth_ctx *ctx)
{
	struct scauth_token *t = NULL;
	int r, rs = 0;

	if ((r = check_ctx(ctx, SCAUTH_GRANT_USER)) != 0)
		return r;
	r = scauth_token_get(ctx, SCAUTH_GRANT_USER, &t);
	if (r != 0 && r != SCAUTH_ELOGIN) {
		/*
		 * It could not be refreshed (network down, say): an expired
		 * access token still names the login, so sign out with that.
		 */
		rs = r;
		if (scauth_token_peek(ctx, SCAUTH_GRANT_USER, &t) != 0)
			t = NULL;
	}
	/*
	 * A grant signed out at the server but left in a store that cannot
	 * erase it now (a locked keyring) would be a dead login that reads as a
	 * live one: nothing is sent until the store can.
	 */
	if (t != NULL && t->access != NULL && (r = store_ready(ctx, SCAUTH_GRANT_USER)) != 0) {
		scauth_token_free(t);
		return r;
	}
	/* ELOGIN: no grant, or it was refused and erased; nothing to sign out. */
	if (t != NULL && t->access != NULL) {
		ctx_trace(ctx, "sign-out (profile %s)", ctx->profile);
		rs = oauth_signout(ctx, t->access);
	}
	scauth_token_free(t);
	/* Whatever the server said, the local copy goes. */
	if ((r = scauth_token_erase(ctx, SCAUTH_GRANT_USER)) != 0)
		return r;
	return rs;
}

/* ------------------------------------------------------------------------ */
/* API calls. */

int
scauth_api_request(scauth_ctx *ctx, enum scauth_grant g, const char *method, const char *path,
    const char *body, size_t bodylen, const char *content_type, scauth_response **out)
{
	struct scauth_token *t = NULL;
	struct scauth_response *res = NULL;
	struct http_resp resp;
	int r, attempt;

	memset(&resp, 0, sizeof(resp));
	if (out != NULL)
		*out = NULL;
	if ((r = check_ctx(ctx, g)) != 0)
		return r;
	if (out == NULL || method == NULL || *method == '\0')
		return ctx_err(ctx, SCAUTH_EINVAL, "API request without a method or a result");
	for (attempt = 0; attempt < 2; attempt++) {
		if ((r = scauth_token_get(ctx, g, &t)) != 0)
			goto out;
		http_resp_free(&resp);
		if ((r = api_call(ctx, t->access, method, path, body, bodylen, content_type,
		    &resp)) != 0)
			goto out;
		if (resp.status != 401)
			break;
		if (attempt == 1) {
			r = ctx_err(ctx, SCAUTH_ETOKEN, "the API refused a freshly renewed access "
			    "token (HTTP 401)");
			goto out;
		}
		/* The server no longer takes it: drop exactly that one, renew, retry once. */
		ctx_trace(ctx, "API answered 401: invalidating the access token, retrying "
		    "once");
		if ((r = scauth_token_invalidate(ctx, g, t->access)) != 0)
			goto out;
		scauth_token_free(t);
		t = NULL;
	}
	if ((res = calloc(1, sizeof(*res))) == NULL) {
		r = SCAUTH_ENOMEM;
		goto out;
	}
	res->status = resp.status;
	res->body = resp.body;
	memset(&resp.body, 0, sizeof(resp.body));       /* transferred */
	*out = res;
	r = 0;
out:
	http_resp_free(&resp);
	scauth_token_free(t);
	return r;
}

long
scauth_response_status(const scauth_response *r)
{
	return r != NULL ? r->status : 0;
}

const char *
scauth_response_body(const scauth_response *r, size_t *len)
{
	if (len != NULL)
		*len = r != NULL ? r->body.len : 0;
	return r != NULL ? sbuf_str(&r->body) : "";
}

void
scauth_response_free(scauth_response *r)
{
	if (r == NULL)
		return;
	sbuf_free(&r->body);
	free(r);
}
