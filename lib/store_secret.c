/*
 * store_secret.c - store = secret-service: grants in the desktop's Secret
 * Service (secret_service.c), one item per slot, encrypted at rest and
 * unlocked with the desktop login.
 *
 * The item holds the whole record; the refresh token lives nowhere else.
 * So that a cached get makes no D-Bus call (and costs no GLib), a copy of
 * the record without its refresh token is kept in
 * $XDG_RUNTIME_DIR/soundcloud-auth under the file rules, and only there:
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

static int
copy_dir(scauth_ctx *ctx, char *dir, size_t len)
{
	if (!(ctx->flags & SCAUTH_CTX_NO_ENV) && private_runtime_dir(dir, len))
		return 1;
	ctx_trace(ctx, "secret-service: no private tmpfs XDG_RUNTIME_DIR: no local copy");
	return 0;
}

/*
 * Makes the copy of a record: everything but the refresh token, with a
 * mark that the Secret Service holds one (scauth_token_renewable).
 */
static int
copy_of(const char *data, size_t len, struct sbuf *out)
{
	struct scauth_token *t = NULL;
	int r;

	if ((r = record_parse(data, len, &t)) != 0)
		return r;
	record_reduce(t, 1);
	r = record_serialize(t, out);
	scauth_token_free(t);
	return r;
}

/* Writes (or, failing that, removes) the copy; it is a cache, so this never fails. */
static void
copy_put(scauth_ctx *ctx, const char *dir, const char *slot, const char *data, size_t len)
{
	struct sbuf copy = SBUF_INIT(MAX_RECORD);
	char keep[ERRMSG_LEN];

	/* What went wrong with the copy must not replace the caller's message. */
	memcpy(keep, ctx->err, sizeof(keep));
	if (copy_of(data, len, &copy) != 0 ||
	    store_file_save(ctx, dir, slot, sbuf_str(&copy), copy.len) != 0) {
		ctx_trace(ctx, "secret-service: local copy not written: %s", ctx->err);
		/* An old copy must not outlive the item it was taken from. */
		store_file_erase(ctx, dir, slot);
	}
	memcpy(ctx->err, keep, sizeof(keep));
	sbuf_free(&copy);
}

/*
 * A rotated record that the Secret Service refused (the keyring locked, the
 * service gone, mid-refresh) is kept whole in "<slot>.pending" beside the
 * copy, in memory (tmpfs) only, and pushed to the item under the next lock
 * before anything else reads it: the refresh token it holds is the only
 * valid one.
 */
/* Under the lock: 0 when no record is pending or it is now in the item. */
static int
pending_push(scauth_ctx *ctx, const char *dir, const char *profile, const char *grant,
    const char *slot)
{
	struct sbuf rec = SBUF_INIT(MAX_RECORD);
	char label[MAX_PROFILE_LEN + 32];
	long long base;
	int r;

	if ((r = store_pending_read(ctx, dir, slot, &base, &rec)) <= 0)
		goto out;
	snprintf(label, sizeof(label), "SoundCloud %s: %s",
	    strcmp(grant, "app") == 0 ? "app token" : "login", profile);
	ctx_trace(ctx, "secret-service: storing a pending record (profile %s, %s)", profile, grant);
	if ((r = ss_store(ctx, profile, grant, label, sbuf_str(&rec), rec.len)) != 0)
		goto out;
	r = store_pending_erase(ctx, dir, slot);
out:
	sbuf_free(&rec);
	return r;
}

/* The item, authoritatively; the copy (when kept) is brought in line with it. */
static int
load_item(scauth_ctx *ctx, const struct store_slot *sl, int keep_copy, const char *dir,
    struct sbuf *out)
{
	const char *slot = sl->name, *profile = sl->profile, *grant = sl->grant_name;
	int r;

	if (keep_copy && ctx->store_locked &&
	    (r = pending_push(ctx, dir, profile, grant, slot)) != 0)
		return r;
	ctx_trace(ctx, "secret-service: lookup (profile %s, %s)", profile, grant);
	if ((r = ss_lookup(ctx, profile, grant, out)) < 0)
		return r;
	if (keep_copy) {
		if (r == 1)
			copy_put(ctx, dir, slot, out->p, out->len);
		else
			store_file_erase(ctx, dir, slot);
	}
	return r;
}

static int
secret_load(scauth_ctx *ctx, const struct store_slot *sl, struct sbuf *out)
{
	const char *slot = sl->name;
	char dir[PATH_LEN];
	int keep_copy, r;

	keep_copy = copy_dir(ctx, dir, sizeof(dir));
	if (ctx->store_locked || !keep_copy)
		return load_item(ctx, sl, keep_copy, dir, out);
	/* The fast path: no D-Bus, no GLib. */
	if ((r = store_file_load(ctx, dir, slot, out)) != 0)
		return r;
	/*
	 * No copy yet (a new login session, say): the item is read under the
	 * lock (store.c), so that the copy made from it cannot overwrite a
	 * newer one that a refresh is writing.
	 */
	return STORE_LOAD_LOCKED;
}

/* The lock could not be taken for a load without a copy: the item, the copy left alone. */
static int
secret_read_through(scauth_ctx *ctx, const struct store_slot *sl, struct sbuf *out)
{
	char dir[PATH_LEN] = "";

	return load_item(ctx, sl, 0, dir, out);
}

static void
item_label(const char *profile, const char *grant, char *buf, size_t len)
{
	snprintf(buf, len, "SoundCloud %s: %s", strcmp(grant, "app") == 0 ? "app token" : "login",
	    profile);
}

/*
 * The record to store: a copy given back gets the item's refresh token
 * again (record_refill).  *whole gets the record, *renewable whether it
 * holds a refresh token.
 */
static int
with_refresh(scauth_ctx *ctx, const char *profile, const char *grant, const char *data,
    size_t len, struct sbuf *whole, int *renewable)
{
	struct sbuf old = SBUF_INIT(MAX_RECORD);
	struct scauth_token *t = NULL, *o = NULL;
	int r;

	if ((r = record_parse(data, len, &t)) != 0)
		goto out;
	if (t->refresh_held && t->refresh == NULL) {
		if ((r = ss_lookup(ctx, profile, grant, &old)) < 0)
			goto out;
		if (r == 1 && record_parse(old.p, old.len, &o) != 0)
			o = NULL;
	}
	if ((r = record_refill(t, o)) != 0)
		goto out;
	*renewable = t->refresh != NULL;
	r = record_serialize(t, whole);
out:
	scauth_token_free(t);
	scauth_token_free(o);
	sbuf_free(&old);
	return r;
}

static int
secret_save(scauth_ctx *ctx, const struct store_slot *sl, const char *data, size_t len)
{
	const char *slot = sl->name, *profile = sl->profile, *grant = sl->grant_name;
	char label[MAX_PROFILE_LEN + 32], dir[PATH_LEN];
	struct sbuf whole = SBUF_INIT(MAX_RECORD);
	int keep_copy, renewable = 0, r;

	if ((r = with_refresh(ctx, profile, grant, data, len, &whole, &renewable)) != 0)
		goto out;
	item_label(profile, grant, label, sizeof(label));
	/*
	 * The old copy goes before the item changes: a process killed between
	 * the two writes must leave no copy, rather than one behind the item.
	 */
	keep_copy = copy_dir(ctx, dir, sizeof(dir));
	if (keep_copy)
		store_file_erase(ctx, dir, slot);
	ctx_trace(ctx, "secret-service: store (profile %s, %s)", profile, grant);
	if ((r = ss_store(ctx, profile, grant, label, sbuf_str(&whole), whole.len)) != 0) {
		/* Perhaps the only valid refresh token: kept (in memory) for the next call. */
		if (keep_copy && renewable &&
		    store_pending_write(ctx, dir, slot, -1, whole.p, whole.len) == 0)
			ctx_trace(ctx, "secret-service: kept the record to store it next time");
		goto out;
	}
	if (keep_copy) {
		store_pending_erase(ctx, dir, slot);
		copy_put(ctx, dir, slot, whole.p, whole.len);
	}
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
 * Before a refresh spends the refresh token: the copy must be removable, or
 * the access token it holds would outlive the refresh.  Failing here keeps
 * everything as it was.
 */
static int
secret_prepare(scauth_ctx *ctx, const struct store_slot *sl)
{
	const char *slot = sl->name;
	char dir[PATH_LEN];
	int r;

	/*
	 * Before the refresh token is spent: a keyring that is locked (or gone)
	 * now would refuse the rotated one, and the grant would be lost.
	 */
	if ((r = secret_ready(ctx, sl)) != 0)
		return r;
	return copy_dir(ctx, dir, sizeof(dir)) ? store_file_erase(ctx, dir, slot) : 0;
}

static int
secret_erase(scauth_ctx *ctx, const struct store_slot *sl)
{
	const char *slot = sl->name, *profile = sl->profile, *grant = sl->grant_name;
	char dir[PATH_LEN];
	int r;

	/* The copy (and a pending record) first: neither may outlive the item. */
	if (copy_dir(ctx, dir, sizeof(dir))) {
		if ((r = store_file_erase(ctx, dir, slot)) != 0)
			return r;
		if ((r = store_pending_erase(ctx, dir, slot)) != 0)
			return r;
	}
	ctx_trace(ctx, "secret-service: clear (profile %s, %s)", profile, grant);
	return ss_clear(ctx, profile, grant);
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
