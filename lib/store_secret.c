/*
 * store_secret.c - store = secret-service: grants in the desktop's Secret
 * Service (secret_service.c), one item per slot, encrypted at rest and
 * unlocked with the desktop login.
 *
 * The item holds the whole record; the refresh token lives nowhere else.
 * So that a cached get makes no D-Bus call (and costs no GLib), a copy of
 * the record without its refresh token (store_cache.c, as every remote
 * store keeps one) is kept in $XDG_RUNTIME_DIR/soundcloud-auth, and only there:
 * the runtime directory must be ours, closed to others and a tmpfs, so that
 * the copy is never written to a disk and goes at logout.  Without such a
 * directory there is no copy and every call asks the Secret Service.
 *
 * Outside the profile lock, load serves the copy when there is one.  Under
 * the lock (ctx->store_locked) load, save and erase go to the Secret
 * Service, and the copy follows what they find or write.  The copy is
 * removed before the item is written or removed (and before a refresh), so
 * that it can be missing but never behind the item.
 */
#include "internal.h"
#include "store.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#define COPY_SUBDIR  "soundcloud-auth"
#define PATH_LEN     4096

/*
 * Where the copy may live: "$XDG_RUNTIME_DIR/soundcloud-auth" when the
 * runtime directory is ours, closed to group and other, and in memory.
 * 1 and dir filled, or 0: keep no copy.
 */
static int
private_runtime_dir(char *dir, size_t len)
{
	const char *run = secure_getenv("XDG_RUNTIME_DIR");
	struct statfs sfs;
	struct stat st;
	int fd, ok = 0;

	if (run == NULL || run[0] != '/')
		return 0;
	if ((fd = open(run, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return 0;
	if (fstat(fd, &st) == 0 && st.st_uid == store_owner() && (st.st_mode & 077) == 0 &&
	    fstatfs(fd, &sfs) == 0 &&
	    (sfs.f_type == TMPFS_MAGIC || sfs.f_type == RAMFS_MAGIC))
		ok = (size_t)snprintf(dir, len, "%s/" COPY_SUBDIR, run) < len;
	close(fd);
	return ok;
}

/* What this machine keeps beside the Secret Service (store_cache.c), when it may keep it. */
static void
cache_of(scauth_ctx *ctx, struct store_cache *c, char *dir, size_t len)
{
	c->suffix = "";
	c->dir = NULL;
	if (!(ctx->flags & SCAUTH_CTX_NO_ENV) && private_runtime_dir(dir, len))
		c->dir = dir;
	else
		ctx_trace(ctx, "secret-service: no private tmpfs XDG_RUNTIME_DIR: no local copy");
}

static void
item_label(const struct store_slot *sl, char *buf, size_t len)
{
	snprintf(buf, len, "SoundCloud %s: %s",
	    sl->grant == SCAUTH_GRANT_APP ? "app token" : "login", sl->profile);
}

/* 1 when record a was obtained later than record b (both parse). */
static int
obtained_later(const struct sbuf *a, const struct sbuf *b)
{
	struct scauth_token *ta = NULL, *tb = NULL;
	int later;

	later = record_parse(a->p, a->len, &ta) == 0 && record_parse(b->p, b->len, &tb) == 0 &&
	    ta->obtained_at > tb->obtained_at;
	scauth_token_free(ta);
	scauth_token_free(tb);
	return later;
}

/*
 * A rotated record that the Secret Service refused (the keyring locked, the
 * service gone, mid-refresh) is kept whole in the journal, in memory (tmpfs)
 * only, and pushed to the item under the next lock before anything else
 * reads it: the refresh token it holds is the only valid one.  0 when no
 * record is kept or it is now in the item.
 */
static int
pending_push(scauth_ctx *ctx, const struct store_cache *c, const struct store_slot *sl)
{
	struct sbuf rec = SBUF_INIT(MAX_RECORD), cur = SBUF_INIT(MAX_RECORD);
	char label[MAX_PROFILE_LEN + 32];
	long long base;
	int r;

	if ((r = cache_kept(ctx, c, sl, &base, &rec)) <= 0)
		goto out;
	/*
	 * An item has no version: one obtained later than the kept record was
	 * written since by a process that could not see the journal (no runtime
	 * directory), and stays.
	 */
	if ((r = ss_lookup(ctx, sl->profile, sl->grant_name, &cur)) < 0)
		goto out;
	if (r == 1 && obtained_later(&cur, &rec)) {
		ctx_trace(ctx, "secret-service: the pending record of %s is superseded", sl->name);
		r = cache_drop(ctx, c, sl);
		goto out;
	}
	item_label(sl, label, sizeof(label));
	ctx_trace(ctx, "secret-service: storing a pending record (profile %s, %s)", sl->profile,
	    sl->grant_name);
	if ((r = ss_store(ctx, sl->profile, sl->grant_name, label, sbuf_str(&rec), rec.len)) != 0)
		goto out;
	r = cache_drop(ctx, c, sl);
out:
	sbuf_free(&rec);
	sbuf_free(&cur);
	return r;
}

/* The item, authoritatively; the copy (when kept) is brought in line with it. */
static int
load_item(scauth_ctx *ctx, const struct store_cache *c, const struct store_slot *sl,
    struct sbuf *out)
{
	int r;

	if (ctx->store_locked && (r = pending_push(ctx, c, sl)) != 0)
		return r;
	ctx_trace(ctx, "secret-service: lookup (profile %s, %s)", sl->profile, sl->grant_name);
	if ((r = ss_lookup(ctx, sl->profile, sl->grant_name, out)) < 0)
		return r;
	/* The copy is a cache: what becomes of it does not change the answer. */
	(void)cache_follow(ctx, c, sl, r == 1, out->p, out->len);
	return r;
}

static int
secret_load(scauth_ctx *ctx, const struct store_slot *sl, struct sbuf *out)
{
	struct store_cache c;
	char dir[PATH_LEN];
	int r;

	cache_of(ctx, &c, dir, sizeof(dir));
	if (ctx->store_locked || c.dir == NULL)
		return load_item(ctx, &c, sl, out);
	/* The fast path: no D-Bus, no GLib. */
	if ((r = cache_load(ctx, &c, sl, out)) != 0)
		return r;
	/*
	 * No copy yet (a new login session, say): the item is read under the
	 * lock (store.c), so that the copy made from it cannot overwrite a
	 * newer one that a refresh is writing.
	 */
	return STORE_LOAD_LOCKED;
}

/* The lock could not be taken for a load without a copy: the item, no copy made. */
static int
secret_read_through(scauth_ctx *ctx, const struct store_slot *sl, struct sbuf *out)
{
	const struct store_cache none = { NULL, "" };

	return load_item(ctx, &none, sl, out);
}

/* cache_whole's fetch: the item as it is. */
static int
item_fetch(scauth_ctx *ctx, void *arg, struct sbuf *out)
{
	const struct store_slot *sl = arg;

	return ss_lookup(ctx, sl->profile, sl->grant_name, out);
}

static int
secret_save(scauth_ctx *ctx, const struct store_slot *sl, const char *data, size_t len)
{
	char label[MAX_PROFILE_LEN + 32], dir[PATH_LEN], why[ERRMSG_LEN];
	struct sbuf whole = SBUF_INIT(MAX_RECORD);
	struct store_cache c;
	int fresh, r;

	if ((r = cache_whole(ctx, data, len, item_fetch, (void *)(uintptr_t)sl, NULL, &whole,
	    &fresh)) != 0)
		goto out;
	item_label(sl, label, sizeof(label));
	/*
	 * The old copy goes before the item changes: a process killed between
	 * the two writes must leave no copy, rather than one behind the item.
	 */
	cache_of(ctx, &c, dir, sizeof(dir));
	(void)cache_forget(ctx, &c, sl);
	ctx_trace(ctx, "secret-service: store (profile %s, %s)", sl->profile, sl->grant_name);
	if ((r = ss_store(ctx, sl->profile, sl->grant_name, label, sbuf_str(&whole),
	    whole.len)) != 0) {
		/* Perhaps the only valid refresh token: kept (in memory) for the next call. */
		if (!fresh)
			goto out;
		memcpy(why, ctx->err, sizeof(why));
		if (c.dir != NULL && cache_keep(ctx, &c, sl, -1, whole.p, whole.len) == 0) {
			memcpy(ctx->err, why, sizeof(why));
			ctx_trace(ctx, "secret-service: kept the record to store it next time");
			goto out;
		}
		/* Copied: ctx_err() writes where why came from. */
		r = ctx_err(ctx, r, "%s; the new grant could not be kept on this machine either "
		    "(%s): log in again", why, c.dir != NULL ? "the runtime directory refused it" :
		    "no private tmpfs XDG_RUNTIME_DIR");
		goto out;
	}
	if (c.dir != NULL)
		(void)cache_drop(ctx, &c, sl);
	(void)cache_follow(ctx, &c, sl, 1, whole.p, whole.len);
	r = 0;
out:
	sbuf_free(&whole);
	return r;
}

/* A login's new grant, or a logout's erase, needs the item's keyring open. */
static int
secret_ready(scauth_ctx *ctx, const struct store_slot *sl)
{
	return ss_writable(ctx, sl->profile, sl->grant_name);
}

/*
 * Before a refresh spends the refresh token: a keyring that is locked (or
 * gone) now would refuse the rotated one, and the grant would be lost; the
 * journal must be writable, and the copy removable, or the access token it
 * holds would outlive the refresh.  Failing here keeps everything as it was.
 */
static int
secret_prepare(scauth_ctx *ctx, const struct store_slot *sl)
{
	struct store_cache c;
	char dir[PATH_LEN];
	int r;

	if ((r = secret_ready(ctx, sl)) != 0)
		return r;
	cache_of(ctx, &c, dir, sizeof(dir));
	if ((r = cache_prepare(ctx, &c, sl)) != 0)
		return r;
	return cache_forget(ctx, &c, sl);
}

static int
secret_erase(scauth_ctx *ctx, const struct store_slot *sl)
{
	struct store_cache c;
	char dir[PATH_LEN];
	int r;

	/* The copy (and a pending record) first: neither may outlive the item. */
	cache_of(ctx, &c, dir, sizeof(dir));
	if ((r = cache_forget(ctx, &c, sl)) != 0)
		return r;
	if (c.dir != NULL && (r = cache_drop(ctx, &c, sl)) != 0)
		return r;
	ctx_trace(ctx, "secret-service: clear (profile %s, %s)", sl->profile, sl->grant_name);
	return ss_clear(ctx, sl->profile, sl->grant_name);
}

static void
secret_describe(const scauth_ctx *ctx, const struct store_slot *sl, char *buf, size_t len)
{
	char dir[PATH_LEN];

	if (sl == NULL) {
		if (private_runtime_dir(dir, sizeof(dir)))
			snprintf(buf, len, "the Secret Service (secret-tool search profile %s); "
			    "access token copies in %s", ctx->profile != NULL ? ctx->profile :
			    "NAME", dir);
		else
			snprintf(buf, len, "the Secret Service (secret-tool search profile %s)",
			    ctx->profile != NULL ? ctx->profile : "NAME");
		return;
	}
	snprintf(buf, len, "Secret Service item profile=%s grant=%s", sl->profile, sl->grant_name);
}

const struct store_backend store_secret_backend = {
	.name = "secret-service",
	.xdg_state = 1,         /* the lock file stays in the state directory */
	.load = secret_load,
	.read_through = secret_read_through,
	.save = secret_save,
	.erase = secret_erase,
	.prepare = secret_prepare,
	.ready = secret_ready,
	.describe = secret_describe,
};
