/*
 * store.c - where grants live: records in the slots of the configured
 * backend, the registry of backends, and the lock around a profile's writes.
 *
 * A backend (struct store_backend, one file each: store_file.c,
 * store_keyring.c) stores opaque bytes per slot; this file turns grants into
 * records and slots into messages, so that adding a backend is adding a file
 * and a line to the registry below.  The broker calls only store_*().
 */
#include "internal.h"
#include "store.h"

#include <stdio.h>
#include <string.h>

/* The registry: "store = NAME" picks the table. */
static const struct store_backend *const backends[] = {
	&store_file_backend,
	&store_keyring_backend,
	&store_secret_backend,
	&store_postgres_backend,
};

const struct store_backend *
store_backend_find(const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < ARRAY_SIZE(backends); i++)
		if (strcmp(backends[i]->name, name) == 0)
			return backends[i];
	return NULL;
}

void
store_backend_names(char *buf, size_t len)
{
	size_t i, n = ARRAY_SIZE(backends), off = 0;
	int w;

	if (len > 0)
		buf[0] = '\0';
	for (i = 0; i < n && off < len; i++) {
		w = snprintf(buf + off, len - off, "%s'%s'",
		    i == 0 ? "" : i + 1 == n ? " or " : ", ", backends[i]->name);
		if (w < 0)
			break;
		off += (size_t)w;
	}
}

static const struct store_backend *
backend(const scauth_ctx *ctx)
{
	return ctx->store != NULL ? ctx->store : &store_file_backend;
}

/* The slot of grant g of the context's profile, checked. */
static int
slot_of(scauth_ctx *ctx, enum scauth_grant g, struct store_slot *sl)
{
	if (ctx == NULL || ctx->profile == NULL || ctx->state_dir == NULL)
		return ctx_err(ctx, SCAUTH_EINVAL, "the context is not loaded");
	if (g != SCAUTH_GRANT_USER && g != SCAUTH_GRANT_APP)
		return ctx_err(ctx, SCAUTH_EINVAL, "unknown grant %d", (int)g);
	/* The profile becomes a file name: no '/' or ".." may get through. */
	if (!profile_valid(ctx->profile))
		return ctx_err(ctx, SCAUTH_EINVAL, "invalid profile name");
	slot_make(sl, ctx->profile, g);
	return 0;
}

void
store_describe(const scauth_ctx *ctx, const struct store_slot *slot, char *buf, size_t len)
{
	const struct store_backend *b = backend(ctx);

	if (b->describe != NULL)
		b->describe(ctx, slot, buf, len);
	else if (slot != NULL)
		snprintf(buf, len, "%s store, slot %s", b->name, slot->name);
	else
		snprintf(buf, len, "%s store", b->name);
}

/* ------------------------------------------------------------------------ */
/* Records in slots, whatever the backend. */

/*
 * The backend's load.  One without a local copy yet asks (STORE_LOAD_LOCKED)
 * to read its store under the lock, so that the copy it makes cannot
 * overwrite a newer one that a refresh is writing; when the lock cannot be
 * taken, the store is read without making a copy.
 */
static int
backend_load(scauth_ctx *ctx, const struct store_backend *b, const struct store_slot *slot,
    struct sbuf *out)
{
	struct store_lock lk = STORE_LOCK_INIT;
	int r;

	if ((r = b->load(ctx, slot, out)) != STORE_LOAD_LOCKED)
		return r;
	if (ctx->store_locked || b->read_through == NULL)
		return ctx_err(ctx, SCAUTH_EINTERNAL, "%s store: a load to repeat under the lock",
		    b->name);
	if (store_lock(ctx, &lk) != 0)
		return b->read_through(ctx, slot, out);
	r = b->load(ctx, slot, out);
	store_unlock(ctx, &lk, 1);
	return r;
}

/* Loads the grant's record through the backend's load or inspect hook. */
static int
load_with(scauth_ctx *ctx, enum scauth_grant g, int inspect, struct scauth_token **out)
{
	const struct store_backend *b = backend(ctx);
	struct sbuf data = SBUF_INIT(MAX_RECORD);
	struct store_slot slot;
	char where[STORE_DESCRIBE_LEN], why[200];
	int r;

	*out = NULL;
	if ((r = slot_of(ctx, g, &slot)) != 0)
		goto out;
	r = inspect && b->inspect != NULL ? b->inspect(ctx, &slot, &data) :
	    backend_load(ctx, b, &slot, &data);
	if (r < 0)
		goto out;
	if (r == 0) {
		r = ctx_err(ctx, SCAUTH_ELOGIN, "no %s stored for profile %s%s",
		    g == SCAUTH_GRANT_APP ? "application token" : "login", ctx->profile,
		    g == SCAUTH_GRANT_APP ? "" : "; log in first");
		goto out;
	}
	if ((r = record_parse_why(data.p, data.len, out, why, sizeof(why))) != 0) {
		store_describe(ctx, &slot, where, sizeof(where));
		if (r == SCAUTH_ECORRUPT)
			r = ctx_err(ctx, r, "%s: %s; remove it and log in again", where, why);
	}
out:
	sbuf_free(&data);
	return r;
}

int
store_load(scauth_ctx *ctx, enum scauth_grant g, struct scauth_token **out)
{
	return load_with(ctx, g, 0, out);
}

int
store_inspect(scauth_ctx *ctx, enum scauth_grant g, struct scauth_token **out)
{
	return load_with(ctx, g, 1, out);
}

int
store_save(scauth_ctx *ctx, enum scauth_grant g, const struct scauth_token *t)
{
	struct sbuf data = SBUF_INIT(MAX_RECORD);
	struct store_slot slot;
	int r;

	if ((r = slot_of(ctx, g, &slot)) != 0)
		goto out;
	if ((r = record_serialize(t, &data)) != 0) {
		r = ctx_err(ctx, r, "cannot store the grant: a value is malformed (a line break, "
		    "a control character) or the record is over %d bytes", MAX_RECORD);
		goto out;
	}
	r = backend(ctx)->save(ctx, &slot, sbuf_str(&data), data.len);
out:
	sbuf_free(&data);
	return r;
}

int
store_erase(scauth_ctx *ctx, enum scauth_grant g)
{
	struct store_slot slot;
	int r;

	if ((r = slot_of(ctx, g, &slot)) != 0)
		return r;
	return backend(ctx)->erase(ctx, &slot);
}

int
store_prepare(scauth_ctx *ctx, enum scauth_grant g)
{
	struct store_slot slot;
	int r;

	if ((r = slot_of(ctx, g, &slot)) != 0 || backend(ctx)->prepare == NULL)
		return r;
	return backend(ctx)->prepare(ctx, &slot);
}

int
store_ready(scauth_ctx *ctx, enum scauth_grant g)
{
	struct store_slot slot;
	int r;

	if ((r = slot_of(ctx, g, &slot)) != 0 || backend(ctx)->ready == NULL)
		return r;
	return backend(ctx)->ready(ctx, &slot);
}

int
store_forget(scauth_ctx *ctx, enum scauth_grant g)
{
	struct store_slot slot;
	int r;

	if ((r = slot_of(ctx, g, &slot)) != 0 || backend(ctx)->forget == NULL)
		return r;
	return (r = backend(ctx)->forget(ctx, &slot)) != 0 ? r : 1;
}

int
store_remote(const scauth_ctx *ctx)
{
	return backend(ctx)->remote;
}

/* ------------------------------------------------------------------------ */
/* The lock: the profile's flock, then the backend's own. */

int
store_lock(scauth_ctx *ctx, struct store_lock *lk)
{
	const struct store_backend *b;
	int fd = -1, r;

	lk->fd = -1;
	if ((r = lock_take(ctx, &fd)) != 0)
		goto out;
	b = backend(ctx);
	ctx->store_locked = 1;
	if (b->lock != NULL && (r = b->lock(ctx)) != 0) {
		ctx->store_locked = 0;
		goto out;
	}
	lk->fd = fd;
	fd = -1;        /* transferred */
	r = 0;
out:
	lock_release(fd);
	return r;
}

int
store_unlock(scauth_ctx *ctx, struct store_lock *lk, int commit)
{
	const struct store_backend *b;
	int r = 0;

	if (lk->fd < 0)
		return 0;
	b = backend(ctx);
	if (b->unlock != NULL)
		r = b->unlock(ctx, commit);
	ctx->store_locked = 0;
	lock_release(lk->fd);
	lk->fd = -1;
	return r;
}

void
store_release(scauth_ctx *ctx)
{
	const struct store_backend *b;

	if (ctx == NULL || ctx->store == NULL)
		return;
	b = ctx->store;
	if (b->release != NULL)
		b->release(ctx);
}
