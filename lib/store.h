/*
 * store.h - the storage layer (store.c, lock.c) and its backends (store_file.c,
 * store_keyring.c, store_secret.c, store_postgres.c, secret_service.c), with
 * what the two remote ones keep on this machine (store_cache.c).
 * Not installed.
 */
#ifndef SCAUTH_STORE_H
#define SCAUTH_STORE_H

#include "internal.h"

/* ------------------------------------------------------------------------ */
/* Storage: store.c (records in slots, the registry, the lock) over one
 * table of operations per backend (store_file.c, store_keyring.c). */

#define STORE_SLOT_LEN     (MAX_PROFILE_LEN + 16)   /* "<profile>.user" and room to spare */
#define STORE_DESCRIBE_LEN 4200                     /* a path, or a backend's words */

/*
 * A slot: one grant of one profile, and its name ("<profile>.user",
 * "<profile>.app"), made in one place (store.c) and passed to the backends
 * as a value, so that none builds or parses a name.
 */
struct store_slot {
	const char *profile;
	enum scauth_grant grant;
	const char *grant_name;         /* "user" or "app" */
	char name[STORE_SLOT_LEN];
};

/* text.c: names sl, grant g of profile (a valid one: profile_valid). */
HIDDEN void slot_make(struct store_slot *sl, const char *profile, enum scauth_grant g);

/*
 * A backend stores opaque bytes per slot.  load: 1 found (out filled), 0 absent, <0 error; save
 * replaces the slot atomically; erase of an absent slot is 0.  All writes
 * happen under store_lock().  While the lock is held (ctx->store_locked),
 * load/save/erase must be the authoritative ones; outside it, load may
 * serve a local copy (the fast path: no network, no D-Bus).  Backends keep
 * their own state in ctx->store_state and free it in release.
 */
struct store_backend {
	const char *name;          /* "store = NAME" */
	int xdg_state;             /* the state directory follows XDG_STATE_HOME */
	int (*load)(scauth_ctx *ctx, const struct store_slot *slot, struct sbuf *out);
	/*
	 * Optional, for a load that may answer STORE_LOAD_LOCKED outside the
	 * lock (no local copy yet: store.c calls it again under the lock):
	 * reads the store itself, leaving the local copy alone, when the lock
	 * cannot be taken.  Returns as load does.
	 */
	int (*read_through)(scauth_ctx *ctx, const struct store_slot *slot, struct sbuf *out);
	int (*save)(scauth_ctx *ctx, const struct store_slot *slot, const char *data, size_t len);
	int (*erase)(scauth_ctx *ctx, const struct store_slot *slot);
	/*
	 * Optional: checks the keys the backend needs when the context is
	 * loaded (config.c), before any slot is touched; SCAUTH_ECONFIG names
	 * the key.  Loads no library.
	 */
	int (*configure)(scauth_ctx *ctx);
	/* Optional: reserve what save needs, so that it cannot fail for space. */
	int (*prepare)(scauth_ctx *ctx, const struct store_slot *slot);
	/* Optional: called right after the flock is taken / before it is released. */
	int (*lock)(scauth_ctx *ctx);
	/* commit: keep what was written under the lock; 0: drop it if the backend can. */
	int (*unlock)(scauth_ctx *ctx, int commit);
	/*
	 * Optional: where the tokens live, for status and messages; the slot's
	 * place when slot is not NULL.  Never a secret or a password.
	 */
	void (*describe)(const scauth_ctx *ctx, const struct store_slot *slot, char *buf, size_t len);
	/* Optional: frees ctx->store_state (scauth_ctx_free). */
	void (*release)(scauth_ctx *ctx);
	/*
	 * Optional: drops this machine's local copy of the slot, and nothing
	 * else: an erase (git's answer to a 401) while the store itself cannot
	 * be reached must not leave the stale token to be handed out again.
	 */
	int (*forget)(scauth_ctx *ctx, const struct store_slot *slot);
	/*
	 * Optional: reads the slot from the store itself, without the lock and
	 * leaving the local copy alone (status); as load otherwise.  Returns as
	 * load does.
	 */
	int (*inspect)(scauth_ctx *ctx, const struct store_slot *slot, struct sbuf *out);
	/*
	 * Optional: 0 when a save or an erase of the slot could be done now,
	 * without writing anything (a locked keyring cannot), so that a login
	 * or a logout stops before the server issues or revokes a grant that
	 * could then be neither kept nor removed.
	 */
	int (*ready)(scauth_ctx *ctx, const struct store_slot *slot);
	/*
	 * 1: load outside the lock serves this machine's copy of a store held
	 * elsewhere (a fleet's database), which a new machine lacks and which
	 * may lag behind: a token the copy does not hold may still be the
	 * store's, so the broker asks the store itself before it ignores one.
	 */
	int remote;
};
/* load outside the lock: "call me again under the lock" (read_through above). */
#define STORE_LOAD_LOCKED 2
HIDDEN extern const struct store_backend store_file_backend;
HIDDEN extern const struct store_backend store_keyring_backend;
HIDDEN extern const struct store_backend store_secret_backend;
HIDDEN extern const struct store_backend store_postgres_backend;
/*
 * store_keyring.c: checks keyring = user | session when the context is
 * loaded, whatever the store, so that a typo is said at once.
 */
HIDDEN int keyring_configure(scauth_ctx *ctx);

/* The backend called name, or NULL. */
HIDDEN const struct store_backend *store_backend_find(const char *name);
/* "'file', 'keyring' or 'secret-service'": the names a store may have, for messages. */
HIDDEN void store_backend_names(char *buf, size_t len);

/* SCAUTH_ELOGIN when the slot is empty; SCAUTH_ECORRUPT, SCAUTH_EUNSAFE ... */
HIDDEN int store_load(scauth_ctx *ctx, enum scauth_grant g, struct scauth_token **out);
/* The same from the store's source of truth: the backend's inspect hook (status). */
HIDDEN int store_inspect(scauth_ctx *ctx, enum scauth_grant g, struct scauth_token **out);
HIDDEN int store_save(scauth_ctx *ctx, enum scauth_grant g, const struct scauth_token *t);
HIDDEN int store_erase(scauth_ctx *ctx, enum scauth_grant g);
HIDDEN int store_prepare(scauth_ctx *ctx, enum scauth_grant g);
/* The backend's ready hook; 0 when it has none. */
HIDDEN int store_ready(scauth_ctx *ctx, enum scauth_grant g);
/* The backend's forget hook: 1 when the local copy was dropped, 0 when it keeps none, <0. */
HIDDEN int store_forget(scauth_ctx *ctx, enum scauth_grant g);
/* Whether the backend's unlocked load is a local copy of a remote store (remote above). */
HIDDEN int store_remote(const scauth_ctx *ctx);
/* Where the store (slot NULL) or one slot lives, for messages; never a secret. */
HIDDEN void store_describe(const scauth_ctx *ctx, const struct store_slot *slot, char *buf,
                           size_t len);

/*
 * The profile lock: the flock of lock.c, then the backend's lock hook;
 * ctx->store_locked is set while it is held.  store_unlock() calls the
 * backend's unlock hook (its failure is returned), then releases the flock;
 * a lock not held (fd -1) is left alone.
 */
struct store_lock {
	int fd;
};
#define STORE_LOCK_INIT { -1 }
HIDDEN int store_lock(scauth_ctx *ctx, struct store_lock *lk);
HIDDEN int store_unlock(scauth_ctx *ctx, struct store_lock *lk, int commit);
/* The backend's release hook, if any (scauth_ctx_free). */
HIDDEN void store_release(scauth_ctx *ctx);

/*
 * store_file.c: the file rules.  Who our files and keys must belong to: the
 * owner they would be created with, the filesystem uid (it differs from the
 * euid when a PAM module drops privileges with setfsuid()).
 */
HIDDEN uid_t store_owner(void);
/* Creates (0700, parents too) and checks dir; returns an O_DIRECTORY fd or <0
 * (SCAUTH_ELOGIN when it is absent and create is 0). */
HIDDEN int store_dir_open(scauth_ctx *ctx, const char *dir, int create);
/*
 * Opens name in dirfd (the directory dir, named in messages) with O_NOFOLLOW
 * and checks the open file (regular, ours, no group/other bits).  Returns 0
 * (*fdp set), 1 when absent (without O_CREAT), SCAUTH_EUNSAFE or
 * SCAUTH_ESYSTEM/ESTORE naming the path.
 */
HIDDEN int store_file_open(scauth_ctx *ctx, const char *dir, int dirfd, const char *name,
                           int flags, int *fdp);
/* The same two on the state directory. */
HIDDEN int state_dir_open(scauth_ctx *ctx, int create);
HIDDEN int state_file_open(scauth_ctx *ctx, int dirfd, const char *name, int flags, int *fdp);
/*
 * The file backend's operations on a directory of the caller's choosing
 * (0700, created on save and prepare), with the backend's semantics: a
 * backend may keep its local copy of a slot there under the file rules.
 */
HIDDEN int store_file_load(scauth_ctx *ctx, const char *dir, const char *slot, struct sbuf *out);
HIDDEN int store_file_save(scauth_ctx *ctx, const char *dir, const char *slot,
                           const char *data, size_t len);
HIDDEN int store_file_erase(scauth_ctx *ctx, const char *dir, const char *slot);
HIDDEN int store_file_prepare(scauth_ctx *ctx, const char *dir, const char *slot);
/*
 * Under the lock: finishes a replace of slot that a killed process left half
 * done, when "<slot>.new" holds a complete record no older than the slot
 * (cut to size, synced, renamed over it, the directory synced).  0 also when
 * there is nothing to finish.
 */
HIDDEN int store_file_recover(scauth_ctx *ctx, const char *dir, const char *slot);

/* ------------------------------------------------------------------------ */
/*
 * store_cache.c: what a remote store (store_secret.c, store_postgres.c)
 * keeps on this machine, in dir under the file rules: the copy of each slot
 * that a load outside the lock serves, and the journal of records the store
 * did not take.  A backend fills one and passes it to each call.
 */
struct store_cache {
	const char *dir;        /* NULL: nothing is kept here (every load asks the store) */
	const char *suffix;     /* of the copy's file name, after the slot's ("" or ".fleet") */
};
#define PENDING_SUFFIX ".pending"
#define CACHE_NAME_LEN (STORE_SLOT_LEN + 16)    /* a slot's files: "<slot>.pending" */
/*
 * Outside the lock: 1 and the copy in out, or, while the journal keeps a
 * record, that record without its access token, so that the caller takes
 * the lock, which stores it first.  0 when neither is here (a new machine,
 * a new login session), <0 on an error.
 */
HIDDEN int cache_load(scauth_ctx *ctx, const struct store_cache *c, const struct store_slot *sl,
                      struct sbuf *out);
/*
 * After the store was read or written under the lock: the copy becomes the
 * record (found 1: reduced, not rewritten when it is unchanged) or goes
 * (found 0).  A copy that cannot be written is removed instead, and the
 * caller's message kept: 0 when the copy is in line or gone, <0 when an old
 * one may be left.
 */
HIDDEN int cache_follow(scauth_ctx *ctx, const struct store_cache *c,
                        const struct store_slot *sl, int found, const char *data, size_t len);
/* Removes the copy alone (the journal stays): 0 also when there was none. */
HIDDEN int cache_forget(scauth_ctx *ctx, const struct store_cache *c, const struct store_slot *sl);
/* Before a token request: the copy and the journal can be written, so that a new token is kept. */
HIDDEN int cache_prepare(scauth_ctx *ctx, const struct store_cache *c,
                         const struct store_slot *sl);
/*
 * The journal: keep writes the record with BASE, the version of the store's
 * record it replaces (-1: the store has none); kept reads it (1 found, *base
 * and out set; 0 none; it reads the formats of earlier releases too); drop
 * removes it.
 */
HIDDEN int cache_keep(scauth_ctx *ctx, const struct store_cache *c, const struct store_slot *sl,
                      long long base, const char *data, size_t len);
HIDDEN int cache_kept(scauth_ctx *ctx, const struct store_cache *c, const struct store_slot *sl,
                      long long *base, struct sbuf *out);
HIDDEN int cache_drop(scauth_ctx *ctx, const struct store_cache *c, const struct store_slot *sl);
/*
 * The record to store for data: a copy given back (its refresh token held
 * by the store) gets the store's refresh token again, read with fetch (1
 * found, 0 none, <0; called only when needed).  With host, the record says
 * who obtained its token: host for a token new since the store's record,
 * else the store's record's word.  *fresh: data holds a refresh token of
 * its own (a login's, a rotated one), which nothing else may hold: the
 * caller keeps it in the journal when the store does not take it.
 */
HIDDEN int cache_whole(scauth_ctx *ctx, const char *data, size_t len,
                       int (*fetch)(scauth_ctx *ctx, void *arg, struct sbuf *out), void *arg,
                       const char *host, struct sbuf *out, int *fresh);

/* lock.c: the per-profile refresh lock (flock on <state>/<profile>.lock); use store_lock(). */
HIDDEN int lock_take(scauth_ctx *ctx, int *fdp);
HIDDEN void lock_release(int fd);

/*
 * secret_service.c: one item per profile and grant in the desktop's Secret
 * Service (libsecret, loaded on first use).  A locked keyring without a
 * display to prompt on, a missing service and a call past ctx->timeout are
 * SCAUTH_ESTORE, with nothing changed.
 */
/*
 * 1 found (out filled), 0 absent, <0 error.  A locked item that may be the
 * grant is SCAUTH_ESTORE ("the keyring is locked"), never "absent".
 */
HIDDEN int ss_lookup(scauth_ctx *ctx, const char *profile, const char *grant, struct sbuf *out);
/*
 * 0 when the grant's item can be written now: the service answers, no
 * locked item may hold the grant, and the item is there unlocked, or (for a
 * new one) the default collection is there and unlocked (or unlocked at a
 * prompt).  SCAUTH_ESTORE otherwise.
 */
HIDDEN int ss_writable(scauth_ctx *ctx, const char *profile, const char *grant);
/*
 * Replaces the grant's item where it is, or creates it in the default
 * collection; refused (SCAUTH_ESTORE) while a locked item may hold it.
 */
HIDDEN int ss_store(scauth_ctx *ctx, const char *profile, const char *grant, const char *label,
                    const char *data, size_t len);
/* Removes the items; 0 when there were none. */
HIDDEN int ss_clear(scauth_ctx *ctx, const char *profile, const char *grant);

#endif /* SCAUTH_STORE_H */
