/*
 * store_keyring.c - the keyring backend: slots as "user" keys in the Linux kernel
 * keyring (the user keyring, or the session keyring with keyring = session),
 * so that no token is ever written to disk.  Only the lock file stays in the
 * state directory.
 *
 * A slot is the key "soundcloud-auth:<slot>" holding the same record bytes as
 * the file backend.  add_key() replaces a key's payload atomically, which
 * gives us the atomic replace that files need a rename for.  Keys get
 * possessor and user permissions only; a key of another owner, or one that
 * group or other may touch, is refused like a loose file.  The kernel counts
 * key bytes against a per-user quota, so prepare() reserves room in a
 * separate key before a refresh spends the refresh token (see below).
 */
#include "internal.h"
#include "store.h"
#include "dl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <unistd.h>

#define DESC_PREFIX     "soundcloud-auth:"
#define RESERVE_SUFFIX  ".reserve"
#define DESC_LEN        (sizeof(DESC_PREFIX) + STORE_SLOT_LEN + sizeof(RESERVE_SUFFIX))
#define MAX_DESCRIBE    512
/*
 * Quota held back for a refresh.  A refreshed record differs from the one it
 * replaces by a few dozen bytes; 4 KiB is plenty and stays well inside the
 * 20000-byte default quota of an unprivileged user.
 */
#define KEYRING_RESERVE 4096
#define KEY_PERM        (KEY_POS_ALL | KEY_USR_ALL)

/* libkeyutils, loaded by the first key_find() or key_put() (dl.c): its names, its table. */
static const struct keyutils_fns *ku;
#define add_key (ku->add_key)
#define keyctl_describe_alloc (ku->describe_alloc)
#define keyctl_invalidate (ku->invalidate)
#define keyctl_read_alloc (ku->read_alloc)
#define keyctl_search (ku->search)
#define keyctl_setperm (ku->setperm)
#define keyctl_unlink (ku->unlink)
#define keyctl_update (ku->update)

static int
keyutils(scauth_ctx *ctx)
{
	const struct keyutils_fns *f;
	int r;

	if (__atomic_load_n(&ku, __ATOMIC_ACQUIRE) != NULL)
		return 0;
	if ((r = dl_keyutils(ctx, &f)) != 0)
		return r;
	__atomic_store_n(&ku, f, __ATOMIC_RELEASE);
	return 0;
}

int
keyring_configure(scauth_ctx *ctx)
{
	const char *kr = ctx->cfg[CFG_KEYRING];

	if (strcmp(kr, "user") != 0 && strcmp(kr, "session") != 0)
		return ctx_err(ctx, SCAUTH_ECONFIG, "keyring: '%s' is not 'user' or 'session'", kr);
	return 0;
}

/* keyring = session, read at each use from the checked setting: nothing to keep or free. */
static int
session(const scauth_ctx *ctx)
{
	return strcmp(ctx->cfg[CFG_KEYRING], "session") == 0;
}

static key_serial_t
ring(const scauth_ctx *ctx)
{
	return session(ctx) ? KEY_SPEC_SESSION_KEYRING : KEY_SPEC_USER_KEYRING;
}

static const char *
ring_name(const scauth_ctx *ctx)
{
	return session(ctx) ? "session" : "user";
}

static void
key_desc(const char *slot, const char *suffix, char *buf, size_t len)
{
	snprintf(buf, len, DESC_PREFIX "%s%s", slot, suffix);
}

/* A failed keyctl call as a message that says what to do about it. */
static int
key_error(scauth_ctx *ctx, int code, const char *desc, const char *what, int e)
{
	switch (e) {
	case EDQUOT:
		return ctx_err(ctx, SCAUTH_ESTORE, "keyring key %s: %s: the kernel's key quota "
		    "is used up (see /proc/sys/kernel/keys/maxbytes and maxkeys); the stored "
		    "tokens were kept", desc, what);
	case EKEYREVOKED:
	case EKEYEXPIRED:
		return ctx_err(ctx, code, "keyring key %s: %s: the %s keyring was %s; start a "
		    "new session or use store = file", desc, what, ring_name(ctx),
		    e == EKEYREVOKED ? "revoked" : "expired");
	case ENOSYS:
	case EOPNOTSUPP:
		return ctx_err(ctx, SCAUTH_ESYSTEM, "keyring key %s: %s: this kernel has no key "
		    "management (CONFIG_KEYS); use store = file", desc, what);
	default:
		return ctx_err(ctx, code, "keyring key %s: %s: %s", desc, what, strerror(e));
	}
}

/* Finds the key: 0 and *idp, 1 when absent, <0 on error. */
static int
key_find(scauth_ctx *ctx, const char *desc, key_serial_t *idp)
{
	long id;
	int r;

	*idp = -1;
	if ((r = keyutils(ctx)) != 0)
		return r;
	if ((id = keyctl_search(ring(ctx), "user", desc, 0)) == -1) {
		/*
		 * An erased (invalidated) key lingers until the kernel's
		 * garbage collector runs, and a search that meets it says
		 * EKEYREVOKED: it is gone all the same.
		 */
		if (errno == ENOKEY || errno == EKEYREVOKED || errno == EKEYEXPIRED)
			return 1;
		return key_error(ctx, SCAUTH_ESYSTEM, desc, "search", errno);
	}
	*idp = (key_serial_t)id;
	return 0;
}

/*
 * The keyring's counterpart of the fstat check: the key must be ours and
 * closed to group and other.  Its description is "type;uid;gid;perm;desc".
 */
static int
key_check(scauth_ctx *ctx, key_serial_t id, const char *desc)
{
	char *buf = NULL, *end;
	unsigned long uid, perm;
	uid_t owner = store_owner();     /* keys get the fsuid as owner */
	int r;

	if (keyctl_describe_alloc(id, &buf) == -1) {
		r = key_error(ctx, SCAUTH_ESYSTEM, desc, "describe", errno);
		goto out;
	}
	if (strlen(buf) > MAX_DESCRIBE || (end = strchr(buf, ';')) == NULL) {
		r = ctx_err(ctx, SCAUTH_ESYSTEM, "keyring key %s: unexpected description", desc);
		goto out;
	}
	uid = strtoul(end + 1, &end, 10);
	if (*end != ';' || (end = strchr(end + 1, ';')) == NULL) {
		r = ctx_err(ctx, SCAUTH_ESYSTEM, "keyring key %s: unexpected description", desc);
		goto out;
	}
	perm = strtoul(end + 1, &end, 16);
	if (*end != ';') {
		r = ctx_err(ctx, SCAUTH_ESYSTEM, "keyring key %s: unexpected description", desc);
		goto out;
	}
	if (uid != (unsigned long)owner) {
		r = ctx_err(ctx, SCAUTH_EUNSAFE, "keyring key %s: owned by uid %lu, not by "
		    "uid %lu; remove it (keyctl unlink)", desc, uid, (unsigned long)owner);
		goto out;
	}
	if ((perm & 0xffff) != 0) {
		r = ctx_err(ctx, SCAUTH_EUNSAFE, "keyring key %s: permissions %08lx give "
		    "group/other access; remove it (keyctl unlink) or keyctl setperm it %08x",
		    desc, perm, (unsigned)KEY_PERM);
		goto out;
	}
	r = 0;
out:
	free(buf);
	return r;
}

static int
keyring_load(scauth_ctx *ctx, const struct store_slot *sl, struct sbuf *out)
{
	const char *slot = sl->name;
	char desc[DESC_LEN];
	void *buf = NULL;
	key_serial_t id;
	long n = 0;
	int r;

	key_desc(slot, "", desc, sizeof(desc));
	if ((r = key_find(ctx, desc, &id)) != 0)
		return r == 1 ? 0 : r;
	if ((r = key_check(ctx, id, desc)) != 0)
		return r;
	if ((n = keyctl_read_alloc(id, &buf)) == -1) {
		/* Erased between the search and the read: as if never found. */
		if (errno == ENOKEY || errno == EKEYREVOKED || errno == EKEYEXPIRED)
			return 0;
		return key_error(ctx, SCAUTH_ESYSTEM, desc, "read", errno);
	}
	if (n > MAX_RECORD) {
		r = ctx_err(ctx, SCAUTH_ECORRUPT, "keyring key %s: larger than %d bytes; remove "
		    "it and log in again", desc, MAX_RECORD);
		goto out;
	}
	if ((r = sbuf_add(out, buf, (size_t)n)) == 0)
		r = 1;
out:
	scauth_wipe(buf, (size_t)n);
	free(buf);
	return r;
}

/* add_key() that also closes the key to group and other. */
static int
key_put(scauth_ctx *ctx, const char *desc, const void *data, size_t len, const char *what)
{
	key_serial_t id;
	int r;

	if ((r = keyutils(ctx)) != 0)
		return r;
	if ((id = add_key("user", desc, data, len, ring(ctx))) == -1)
		return key_error(ctx, SCAUTH_ESTORE, desc, what, errno);
	/*
	 * Without user permissions a process of ours that does not possess
	 * the keyring (one outside this login session) could not read it.
	 */
	if (keyctl_setperm(id, KEY_PERM) == -1)
		return key_error(ctx, SCAUTH_ESTORE, desc, "setperm", errno);
	return 0;
}

static void
key_drop(key_serial_t id, key_serial_t keyring)
{
	if (keyctl_invalidate(id) == -1)
		keyctl_unlink(id, keyring);     /* kernels before 3.5 */
}

/*
 * Holds KEYRING_RESERVE bytes of quota in "<slot>.reserve", so that a full
 * quota is found before the refresh token is spent.  save() gives them back
 * (synchronously, by shrinking the key) just before it writes the slot.
 */
static int
keyring_prepare(scauth_ctx *ctx, const struct store_slot *sl)
{
	const char *slot = sl->name;
	char desc[DESC_LEN];
	char *zeros;
	int r;

	key_desc(slot, RESERVE_SUFFIX, desc, sizeof(desc));
	if ((zeros = calloc(1, KEYRING_RESERVE)) == NULL)
		return SCAUTH_ENOMEM;
	r = key_put(ctx, desc, zeros, KEYRING_RESERVE, "reserving quota for the refresh");
	free(zeros);
	return r;
}

static void
release_reserve(scauth_ctx *ctx, const char *slot)
{
	char desc[DESC_LEN];
	key_serial_t id;

	key_desc(slot, RESERVE_SUFFIX, desc, sizeof(desc));
	if (key_find(ctx, desc, &id) != 0)
		return;
	/*
	 * An unlinked key is freed by the kernel's garbage collector, later;
	 * shrinking it returns its quota now.
	 */
	keyctl_update(id, "", 1);
	key_drop(id, ring(ctx));
}

static int
keyring_save(scauth_ctx *ctx, const struct store_slot *sl, const char *data, size_t len)
{
	const char *slot = sl->name;
	char desc[DESC_LEN];

	key_desc(slot, "", desc, sizeof(desc));
	release_reserve(ctx, slot);
	return key_put(ctx, desc, data, len, "write");
}

static int
keyring_erase(scauth_ctx *ctx, const struct store_slot *sl)
{
	const char *slot = sl->name;
	char desc[DESC_LEN];
	key_serial_t id;
	int r;

	release_reserve(ctx, slot);
	key_desc(slot, "", desc, sizeof(desc));
	if ((r = key_find(ctx, desc, &id)) != 0)
		return r == 1 ? 0 : r;
	if (keyctl_invalidate(id) == -1 && keyctl_unlink(id, ring(ctx)) == -1 &&
	    errno != ENOKEY)
		return key_error(ctx, SCAUTH_ESTORE, desc, "remove", errno);
	return 0;
}

static void
keyring_describe(const scauth_ctx *ctx, const struct store_slot *sl, char *buf, size_t len)
{
	const char *slot = sl != NULL ? sl->name : NULL;

	if (slot != NULL)
		snprintf(buf, len, "keyring key " DESC_PREFIX "%s", slot);
	else
		snprintf(buf, len, "the %s keyring", ring_name(ctx));
}

/*
 * The state directory holds only the lock: it must not follow
 * XDG_STATE_HOME, since the keyring is one per user whatever the
 * environment says (config.c).
 */
const struct store_backend store_keyring_backend = {
	.name = "keyring",
	.xdg_state = 0,
	.load = keyring_load,
	.save = keyring_save,
	.erase = keyring_erase,
	.prepare = keyring_prepare,
	.describe = keyring_describe,
};
