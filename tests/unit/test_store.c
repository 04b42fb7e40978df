/*
 * test_store.c - the stores (lib/store.c, store_file.c, store_keyring.c, lock.c) on temporary
 * directories and a scratch tmpfs: private modes on what is created, links,
 * foreign owners and loose modes refused with a message naming the path,
 * atomic replace that keeps the old record when a write fails (file too
 * large, file system full, read-only), the refresh lock, and the keyring
 * backend.  Runs as root (CI does): chown and mount need it, and a test that
 * cannot do them fails instead of passing quietly.  No real secret is used.
 */
#include "internal.h"
#include "store.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <keyutils.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct fx {
	char base[64];
	char home[128];
	char state[256];
	char mnt[128];          /* a tmpfs when mounted, "" otherwise */
	char profile[32];
	scauth_ctx *ctx;
	struct sbuf trace;
};

static scauth_ctx *
make_ctx_kr(struct fx *f, const char *state_dir, const char *store, const char *keyring)
{
	scauth_ctx *ctx = NULL;

	assert_int_equal(scauth_ctx_new(&ctx, SCAUTH_CTX_NO_ENV), 0);
	assert_int_equal(scauth_ctx_setopt(ctx, SCAUTH_OPT_HOME, f->home), 0);
	assert_int_equal(scauth_ctx_setopt(ctx, SCAUTH_OPT_STATE_DIR, state_dir), 0);
	assert_int_equal(scauth_ctx_setopt(ctx, SCAUTH_OPT_PROFILE, f->profile), 0);
	if (store != NULL)
		assert_int_equal(scauth_ctx_set(ctx, "store", store), 0);
	if (keyring != NULL)
		assert_int_equal(scauth_ctx_set(ctx, "keyring", keyring), 0);
	if (scauth_ctx_load(ctx) != 0)
		fail_msg("scauth_ctx_load: %s", scauth_errmsg(ctx));
	tu_trace(ctx, &f->trace);
	return ctx;
}

static scauth_ctx *
make_ctx(struct fx *f, const char *state_dir, const char *store)
{
	return make_ctx_kr(f, state_dir, store, NULL);
}

static int
setup_with(void **state, const char *store)
{
	static unsigned n;
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->base, sizeof(f->base), "/tmp/test_store.XXXXXX");
	assert_non_null(mkdtemp(f->base));
	snprintf(f->home, sizeof(f->home), "%s/home", f->base);
	snprintf(f->state, sizeof(f->state), "%s/.local/state/soundcloud-auth", f->home);
	snprintf(f->profile, sizeof(f->profile), "t%ld-%u", (long)getpid(), n++);
	f->ctx = make_ctx(f, f->state, store);
	*state = f;
	return 0;
}

static int
setup(void **state)
{
	return setup_with(state, NULL);
}

static int
setup_keyring(void **state)
{
	return setup_with(state, "keyring");
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	store_erase(f->ctx, SCAUTH_GRANT_USER);
	store_erase(f->ctx, SCAUTH_GRANT_APP);
	if (f->mnt[0] != '\0')
		umount2(f->mnt, MNT_DETACH);
	scauth_ctx_free(f->ctx);
	chmod(f->base, 0700);
	tu_rmrf(f->base);
	sbuf_free(&f->trace);
	free(f);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Helpers. */

static struct scauth_token *
rec(const char *access)
{
	struct scauth_token *t = record_new();

	assert_non_null(t);
	t->access = sstrdup(access);
	t->refresh = sstrdup("refresh-of-" "test");
	t->expires_at = 2000000000;
	t->obtained_at = 1700000000;
	t->urn = sstrdup("soundcloud:users:7");
	return t;
}

static void
save_ok(scauth_ctx *ctx, enum scauth_grant g, const char *access)
{
	struct scauth_token *t = rec(access);

	if (store_save(ctx, g, t) != 0)
		fail_msg("store_save: %s", scauth_errmsg(ctx));
	scauth_token_free(t);
}

/* Asserts the slot holds the record saved with this access token. */
static void
load_is(scauth_ctx *ctx, enum scauth_grant g, const char *access)
{
	struct scauth_token *t = NULL;

	if (store_load(ctx, g, &t) != 0)
		fail_msg("store_load: %s", scauth_errmsg(ctx));
	assert_string_equal(t->access, access);
	assert_string_equal(t->refresh, "refresh-of-test");
	assert_string_equal(t->urn, "soundcloud:users:7");
	scauth_token_free(t);
}

/* Asserts that loading fails with code and a message holding each piece. */
static void
load_fails(scauth_ctx *ctx, int code, const char *piece1, const char *piece2)
{
	struct scauth_token *t = NULL;
	const char *msg;

	if (store_load(ctx, SCAUTH_GRANT_USER, &t) != code)
		fail_msg("expected %d: %s", code, scauth_errmsg(ctx));
	assert_null(t);
	msg = scauth_errmsg(ctx);
	if (piece1 != NULL && strstr(msg, piece1) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", msg, piece1);
	if (piece2 != NULL && strstr(msg, piece2) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", msg, piece2);
}

static void
path_of(const struct fx *f, const char *suffix, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s%s", f->state, f->profile, suffix);
}

static void
write_file(const char *path, const char *text, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static char *
read_text(const char *path)
{
	static char buf[MAX_RECORD * 2];
	ssize_t n;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	assert_true(n >= 0);
	buf[n] = '\0';
	close(fd);
	return buf;
}

static mode_t
mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	return st.st_mode & 07777;
}

static int
exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* ------------------------------------------------------------------------ */
/* The file backend. */

static void
test_creates_private(void **state)
{
	struct fx *f = *state;
	char path[PATH_MAX];

	assert_false(exists(f->home));
	save_ok(f->ctx, SCAUTH_GRANT_USER, "access-one");
	/* The missing parents are private too (XDG asks 0700 for ~/.local/state). */
	assert_int_equal(mode_of(f->state), 0700);
	snprintf(path, sizeof(path), "%s/.local/state", f->home);
	assert_int_equal(mode_of(path), 0700);
	snprintf(path, sizeof(path), "%s/.local", f->home);
	assert_int_equal(mode_of(path), 0700);
	path_of(f, ".user", path, sizeof(path));
	assert_int_equal(mode_of(path), 0600);
	assert_true(strncmp(read_text(path), "scauth-token 1\n", 15) == 0);
	path_of(f, ".user.new", path, sizeof(path));
	assert_false(exists(path));
	load_is(f->ctx, SCAUTH_GRANT_USER, "access-one");

	/* A saved slot is replaced, and the other slot is its own. */
	save_ok(f->ctx, SCAUTH_GRANT_USER, "access-two");
	save_ok(f->ctx, SCAUTH_GRANT_APP, "access-app");
	load_is(f->ctx, SCAUTH_GRANT_USER, "access-two");
	load_is(f->ctx, SCAUTH_GRANT_APP, "access-app");
}

static void
test_absent(void **state)
{
	struct fx *f = *state;

	/* No directory: login required, and nothing created by a read. */
	load_fails(f->ctx, SCAUTH_ELOGIN, f->profile, NULL);
	assert_false(exists(f->state));
	save_ok(f->ctx, SCAUTH_GRANT_APP, "access-app");
	load_fails(f->ctx, SCAUTH_ELOGIN, "log in", NULL);
}

static void
test_symlink_slot(void **state)
{
	struct fx *f = *state;
	char path[PATH_MAX], victim[PATH_MAX];

	save_ok(f->ctx, SCAUTH_GRANT_APP, "access-app");
	snprintf(victim, sizeof(victim), "%s/victim", f->base);
	write_file(victim, "scauth-token 1\naccess_token planted\n", 36, 0600);
	path_of(f, ".user", path, sizeof(path));
	assert_int_equal(symlink(victim, path), 0);
	load_fails(f->ctx, SCAUTH_EUNSAFE, path, "symbolic link");

	/* A save replaces the link itself and never writes through it. */
	save_ok(f->ctx, SCAUTH_GRANT_USER, "access-one");
	assert_int_equal(mode_of(path) & 0600, 0600);
	assert_string_equal(read_text(victim), "scauth-token 1\naccess_token planted\n");
	load_is(f->ctx, SCAUTH_GRANT_USER, "access-one");
}

static void
test_symlink_state_dir(void **state)
{
	struct fx *f = *state;
	char real[PATH_MAX], parent[PATH_MAX];
	struct scauth_token *t = rec("access-one");
	int fd;

	snprintf(real, sizeof(real), "%s/real", f->base);
	assert_int_equal(mkdir(real, 0700), 0);
	assert_int_equal(mkdir(f->home, 0700), 0);
	snprintf(parent, sizeof(parent), "%s/.local", f->home);
	assert_int_equal(mkdir(parent, 0700), 0);
	snprintf(parent, sizeof(parent), "%s/.local/state", f->home);
	assert_int_equal(mkdir(parent, 0700), 0);
	assert_int_equal(symlink(real, f->state), 0);

	load_fails(f->ctx, SCAUTH_EUNSAFE, f->state, "symbolic link");
	assert_int_equal(store_save(f->ctx, SCAUTH_GRANT_USER, t), SCAUTH_EUNSAFE);
	assert_int_equal(state_dir_open(f->ctx, 1), SCAUTH_EUNSAFE);
	assert_int_equal(lock_take(f->ctx, &fd), SCAUTH_EUNSAFE);
	assert_int_equal(fd, -1);
	/* Nothing went through the link. */
	assert_int_equal(rmdir(real), 0);
	scauth_token_free(t);
}

static void
test_loose_modes(void **state)
{
	static const mode_t file_modes[] = { 0644, 0640, 0604, 0660, 0602 };
	static const mode_t dir_modes[] = { 0755, 0750, 0710, 0701, 0777 };
	struct fx *f = *state;
	char path[PATH_MAX], want[32];
	size_t i;

	save_ok(f->ctx, SCAUTH_GRANT_USER, "access-one");
	path_of(f, ".user", path, sizeof(path));
	for (i = 0; i < ARRAY_SIZE(file_modes); i++) {
		assert_int_equal(chmod(path, file_modes[i]), 0);
		snprintf(want, sizeof(want), "mode %04o", (unsigned)file_modes[i]);
		load_fails(f->ctx, SCAUTH_EUNSAFE, path, want);
		load_fails(f->ctx, SCAUTH_EUNSAFE, "group/other", "chmod 600");
	}
	assert_int_equal(chmod(path, 0600), 0);
	load_is(f->ctx, SCAUTH_GRANT_USER, "access-one");
	/* Fewer bits than 0600 are no risk. */
	assert_int_equal(chmod(path, 0400), 0);
	load_is(f->ctx, SCAUTH_GRANT_USER, "access-one");

	for (i = 0; i < ARRAY_SIZE(dir_modes); i++) {
		assert_int_equal(chmod(f->state, dir_modes[i]), 0);
		snprintf(want, sizeof(want), "mode %04o", (unsigned)dir_modes[i]);
		load_fails(f->ctx, SCAUTH_EUNSAFE, want, "chmod 700");
	}
	assert_int_equal(chmod(f->state, 0700), 0);
	load_is(f->ctx, SCAUTH_GRANT_USER, "access-one");
}

static void
test_foreign_owner(void **state)
{
	struct fx *f = *state;
	char path[PATH_MAX];
	int fd;

	if (geteuid() != 0)
		fail_msg("this test chowns files: run it as root (CI does)");
	save_ok(f->ctx, SCAUTH_GRANT_USER, "access-one");
	path_of(f, ".user", path, sizeof(path));
	assert_int_equal(chown(path, 4242, 4242), 0);
	load_fails(f->ctx, SCAUTH_EUNSAFE, path, "owned by uid 4242");
	assert_int_equal(chown(path, 0, 0), 0);
	load_is(f->ctx, SCAUTH_GRANT_USER, "access-one");

	assert_int_equal(chown(f->state, 4242, 0), 0);
	load_fails(f->ctx, SCAUTH_EUNSAFE, f->state, "owned by uid 4242");
	assert_int_equal(chown(f->state, 0, 0), 0);

	/* A lock file of someone else is refused as well. */
	path_of(f, ".lock", path, sizeof(path));
	write_file(path, "", 0, 0600);
	assert_int_equal(chown(path, 4242, 0), 0);
	assert_int_equal(lock_take(f->ctx, &fd), SCAUTH_EUNSAFE);
	assert_non_null(strstr(scauth_errmsg(f->ctx), ".lock"));
	assert_int_equal(fd, -1);
}

static void
test_not_regular(void **state)
{
	struct fx *f = *state;
	char path[PATH_MAX];
	time_t start;

	save_ok(f->ctx, SCAUTH_GRANT_APP, "access-app");
	path_of(f, ".user", path, sizeof(path));
	/* A FIFO must be refused, not block the open. */
	assert_int_equal(mkfifo(path, 0600), 0);
	start = time(NULL);
	load_fails(f->ctx, SCAUTH_EUNSAFE, path, "not a regular file");
	assert_true(time(NULL) - start < 5);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkdir(path, 0700), 0);
	load_fails(f->ctx, SCAUTH_EUNSAFE, path, "not a regular file");
	assert_int_equal(rmdir(path), 0);
}

/* pending_read OLD_TEXT: what cache_kept() makes of a journal written so. */
static int
pending_read_back(struct fx *f, const char *text, long long *base, struct sbuf *rec)
{
	struct store_cache c = { f->state, ".fleet" };
	struct store_slot sl;
	char path[PATH_MAX];

	slot_make(&sl, f->profile, SCAUTH_GRANT_USER);
	path_of(f, ".user.pending", path, sizeof(path));
	write_file(path, text, strlen(text), 0600);
	sbuf_free(rec);
	*rec = (struct sbuf)SBUF_INIT(MAX_RECORD);
	return cache_kept(f->ctx, &c, &sl, base, rec);
}

/*
 * The pending journal: one format now, and those of earlier releases still
 * read, so that no rotated token waiting in one is lost on an upgrade.
 */
static void
test_pending_formats(void **state)
{
	struct fx *f = *state;
	struct sbuf rec = SBUF_INIT(MAX_RECORD);
	const char *record = "scauth-token 1\nrefresh_token pending-refresh\n";
	struct store_cache c = { f->state, ".fleet" };
	struct store_slot sl;
	char text[256];
	long long base = 0;

	save_ok(f->ctx, SCAUTH_GRANT_APP, "access-app");       /* the state directory */
	slot_make(&sl, f->profile, SCAUTH_GRANT_USER);
	assert_int_equal(cache_keep(f->ctx, &c, &sl, 7, record, strlen(record)), 0);
	assert_int_equal(cache_kept(f->ctx, &c, &sl, &base, &rec), 1);
	assert_int_equal(base, 7);
	assert_string_equal(sbuf_str(&rec), record);
	/* The fleet's journal of earlier releases. */
	snprintf(text, sizeof(text), "scauth-fleet-pending 42\n%s", record);
	assert_int_equal(pending_read_back(f, text, &base, &rec), 1);
	assert_int_equal(base, 42);
	assert_string_equal(sbuf_str(&rec), record);
	/* The Secret Service's: the bare record. */
	assert_int_equal(pending_read_back(f, record, &base, &rec), 1);
	assert_int_equal(base, -1);
	assert_string_equal(sbuf_str(&rec), record);
	/* Anything else is said, never taken for a record. */
	assert_int_equal(pending_read_back(f, "scauth-fleet-pending -1\nx\n", &base, &rec),
	    SCAUTH_ECORRUPT);
	assert_int_equal(pending_read_back(f, "garbage\n", &base, &rec), SCAUTH_ECORRUPT);
	assert_non_null(strstr(scauth_errmsg(f->ctx), "not a pending record"));
	assert_int_equal(cache_drop(f->ctx, &c, &sl), 0);
	assert_int_equal(cache_kept(f->ctx, &c, &sl, &base, &rec), 0);
	sbuf_free(&rec);
}

/* cache_whole's fetch in the tests: the record in arg, or none. */
static int
fetch_text(scauth_ctx *ctx, void *arg, struct sbuf *out)
{
	const char *rec = arg;

	(void)ctx;
	if (rec == NULL)
		return 0;
	return sbuf_add(out, rec, strlen(rec)) == 0 ? 1 : SCAUTH_ENOMEM;
}

/* The fetch that must not be called: a record with its own refresh token needs no store. */
static int
fetch_never(scauth_ctx *ctx, void *arg, struct sbuf *out)
{
	(void)arg;
	(void)out;
	fail_msg("the store was read for a record that did not need it");
	return ctx_err(ctx, SCAUTH_EINTERNAL, "unreachable");
}

/*
 * store_cache.c, the layer under both remote stores: the copy never holds a
 * refresh token and follows the store, a journal sends the caller to the
 * lock, and a copy given back gets the store's refresh token again.
 */
static void
test_cache_layer(void **state)
{
	struct fx *f = *state;
	struct store_cache c = { f->state, ".fleet" }, none = { NULL, "" };
	struct sbuf out = SBUF_INIT(MAX_RECORD);
	struct scauth_token *t = NULL;
	struct store_slot sl;
	char path[PATH_MAX];
	const char *whole = "scauth-token 1\naccess_token acc-1\nrefresh_token ref-1\n"
	    "expires_at 4000000000\nobtained_at 1000\nobtained_by hostA\n";
	const char *rotated = "scauth-token 1\naccess_token acc-2\nrefresh_token ref-2\n"
	    "expires_at 4000000000\nobtained_at 2000\n";
	struct stat st;
	int fresh;

	save_ok(f->ctx, SCAUTH_GRANT_APP, "access-app");       /* the state directory */
	slot_make(&sl, f->profile, SCAUTH_GRANT_USER);
	/* Nothing kept yet; nothing kept at all without a directory. */
	assert_int_equal(cache_load(f->ctx, &c, &sl, &out), 0);
	assert_int_equal(cache_follow(f->ctx, &none, &sl, 1, whole, strlen(whole)), 0);
	assert_int_equal(cache_load(f->ctx, &none, &sl, &out), 0);

	/* The copy: the access token, the refresh token left with the store, still renewable. */
	assert_int_equal(cache_follow(f->ctx, &c, &sl, 1, whole, strlen(whole)), 0);
	path_of(f, ".user.fleet", path, sizeof(path));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(cache_load(f->ctx, &c, &sl, &out), 1);
	assert_null(strstr(sbuf_str(&out), "ref-1"));
	assert_int_equal(record_parse(out.p, out.len, &t), 0);
	assert_string_equal(scauth_token_access(t), "acc-1");
	assert_true(scauth_token_renewable(t));
	scauth_token_free(t);
	t = NULL;

	/* Given back to be stored, it gets the store's refresh token again; the host stays. */
	sbuf_reset(&out);
	{
		struct sbuf copy = SBUF_INIT(MAX_RECORD);

		assert_int_equal(cache_load(f->ctx, &c, &sl, &copy), 1);
		assert_int_equal(cache_whole(f->ctx, copy.p, copy.len, fetch_text, (void *)(uintptr_t)whole,
		    "hostB", &out, &fresh), 0);
		assert_false(fresh);
		assert_int_equal(record_parse(out.p, out.len, &t), 0);
		assert_string_equal(t->refresh, "ref-1");
		assert_string_equal(t->obtained_by, "hostA");
		scauth_token_free(t);
		t = NULL;
		/* Without a store's record to take it from, it is stored without one. */
		sbuf_reset(&out);
		assert_int_equal(cache_whole(f->ctx, copy.p, copy.len, fetch_text, NULL, NULL,
		    &out, &fresh), 0);
		assert_null(strstr(sbuf_str(&out), "refresh_token"));
		sbuf_free(&copy);
	}
	/* A rotated record is fresh, needs no store without a host, and is marked with one. */
	sbuf_reset(&out);
	assert_int_equal(cache_whole(f->ctx, rotated, strlen(rotated), fetch_never, NULL, NULL,
	    &out, &fresh), 0);
	assert_true(fresh);
	assert_string_equal(sbuf_str(&out), rotated);
	sbuf_reset(&out);
	assert_int_equal(cache_whole(f->ctx, rotated, strlen(rotated), fetch_text, (void *)(uintptr_t)whole,
	    "hostB", &out, &fresh), 0);
	assert_int_equal(record_parse(out.p, out.len, &t), 0);
	assert_string_equal(t->refresh, "ref-2");
	assert_string_equal(t->obtained_by, "hostB");
	scauth_token_free(t);
	t = NULL;
	sbuf_reset(&out);
	assert_int_equal(cache_whole(f->ctx, "junk", 4, fetch_never, NULL, NULL, &out, &fresh),
	    SCAUTH_ECORRUPT);
	assert_false(fresh);

	/* A journal sends the caller to the lock: the kept record, without its access token. */
	assert_int_equal(cache_keep(f->ctx, &c, &sl, 3, rotated, strlen(rotated)), 0);
	sbuf_reset(&out);
	assert_int_equal(cache_load(f->ctx, &c, &sl, &out), 1);
	assert_null(strstr(sbuf_str(&out), "acc-2"));
	assert_null(strstr(sbuf_str(&out), "ref-2"));
	assert_int_equal(record_parse(out.p, out.len, &t), 0);
	assert_null(scauth_token_access(t));
	assert_true(scauth_token_renewable(t));
	scauth_token_free(t);
	t = NULL;
	assert_int_equal(cache_drop(f->ctx, &c, &sl), 0);

	/* The store's slot emptied: the copy goes; forgetting twice is no error. */
	assert_int_equal(cache_follow(f->ctx, &c, &sl, 0, NULL, 0), 0);
	assert_int_equal(stat(path, &st), -1);
	assert_int_equal(cache_forget(f->ctx, &c, &sl), 0);
	sbuf_reset(&out);
	assert_int_equal(cache_load(f->ctx, &c, &sl, &out), 0);

	/* A copy that cannot be written is removed, and the caller's message stays. */
	assert_int_equal(cache_follow(f->ctx, &c, &sl, 1, whole, strlen(whole)), 0);
	ctx_err(f->ctx, SCAUTH_ESTORE, "the caller's own message");
	assert_int_equal(cache_follow(f->ctx, &c, &sl, 1, "not a record", 12), 0);
	assert_int_equal(stat(path, &st), -1);
	assert_string_equal(scauth_errmsg(f->ctx), "the caller's own message");
	/* An old copy that does not read (open to others) is replaced, the message kept too. */
	write_file(path, "scauth-token 1\n", 15, 0644);
	ctx_err(f->ctx, SCAUTH_ERATELIMIT, "the caller's own message");
	assert_int_equal(cache_follow(f->ctx, &c, &sl, 1, whole, strlen(whole)), 0);
	assert_string_equal(scauth_errmsg(f->ctx), "the caller's own message");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	/* A copy that does not parse is dropped: the caller goes to the store. */
	write_file(path, "scauth-token 1\ngarbage\n", 23, 0600);
	sbuf_reset(&out);
	assert_int_equal(cache_load(f->ctx, &c, &sl, &out), 0);
	assert_int_equal(out.len, 0);
	assert_int_equal(stat(path, &st), -1);

	/* A journal whose record does not parse is never taken for one, and is named. */
	{
		char jpath[PATH_MAX];
		long long base;

		path_of(f, ".user.pending", jpath, sizeof(jpath));
		write_file(jpath, "scauth-pending 1 5\nscauth-token 1\nexpires_at soon\n", 50, 0600);
		sbuf_reset(&out);
		assert_int_equal(cache_kept(f->ctx, &c, &sl, &base, &out), SCAUTH_ECORRUPT);
		assert_non_null(strstr(scauth_errmsg(f->ctx), jpath));
		assert_non_null(strstr(scauth_errmsg(f->ctx), "does not read"));
		assert_int_equal(cache_load(f->ctx, &c, &sl, &out), SCAUTH_ECORRUPT);
		assert_int_equal(cache_drop(f->ctx, &c, &sl), 0);
		/* No directory: nothing kept, nothing to drop, and nowhere to keep a record. */
		assert_int_equal(cache_kept(f->ctx, &none, &sl, &base, &out), 0);
		assert_int_equal(cache_drop(f->ctx, &none, &sl), 0);
		assert_int_equal(cache_keep(f->ctx, &none, &sl, -1, rotated, strlen(rotated)),
		    SCAUTH_ESTORE);
	}
	sbuf_free(&out);
}

static void
test_corrupt_file(void **state)
{
	struct fx *f = *state;
	char path[PATH_MAX], *big;

	save_ok(f->ctx, SCAUTH_GRANT_APP, "access-app");
	path_of(f, ".user", path, sizeof(path));
	write_file(path, "garbage\n", 8, 0600);
	load_fails(f->ctx, SCAUTH_ECORRUPT, path, "not a soundcloud-auth record");
	write_file(path, "scauth-token 9\n", 15, 0600);
	load_fails(f->ctx, SCAUTH_ECORRUPT, path, "version 9");
	write_file(path, "scauth-token 1\nexpires_at soon\n", 31, 0600);
	load_fails(f->ctx, SCAUTH_ECORRUPT, "expires_at", "log in again");
	write_file(path, "", 0, 0600);
	load_fails(f->ctx, SCAUTH_ECORRUPT, path, "empty");

	big = calloc(1, MAX_RECORD + 100);
	memset(big, 'x', MAX_RECORD + 99);
	write_file(path, big, MAX_RECORD + 99, 0600);
	load_fails(f->ctx, SCAUTH_ECORRUPT, path, "larger than");
	free(big);
}

static void
test_prepare_then_save(void **state)
{
	struct fx *f = *state;
	char path[PATH_MAX], tmp[PATH_MAX];
	struct stat st;

	save_ok(f->ctx, SCAUTH_GRANT_USER, "access-one");
	path_of(f, ".user", path, sizeof(path));
	path_of(f, ".user.new", tmp, sizeof(tmp));
	assert_int_equal(store_prepare(f->ctx, SCAUTH_GRANT_USER), 0);
	/* The room for the next record is taken before any token is spent. */
	assert_int_equal(lstat(tmp, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, MAX_RECORD);
	assert_true(st.st_blocks * 512 >= MAX_RECORD);
	/* The old record is untouched meanwhile. */
	load_is(f->ctx, SCAUTH_GRANT_USER, "access-one");

	save_ok(f->ctx, SCAUTH_GRANT_USER, "access-two");
	assert_false(exists(tmp));
	assert_int_equal(lstat(path, &st), 0);
	assert_true(st.st_size < 200);  /* cut to the record, no zeros left */
	load_is(f->ctx, SCAUTH_GRANT_USER, "access-two");

	/* Preparing twice (a retry after a failed request) is fine. */
	assert_int_equal(store_prepare(f->ctx, SCAUTH_GRANT_USER), 0);
	assert_int_equal(store_prepare(f->ctx, SCAUTH_GRANT_USER), 0);
	save_ok(f->ctx, SCAUTH_GRANT_USER, "access-three");
	load_is(f->ctx, SCAUTH_GRANT_USER, "access-three");
}

static void
test_stale_temp(void **state)
{
	struct fx *f = *state;
	char tmp[PATH_MAX], victim[PATH_MAX];

	save_ok(f->ctx, SCAUTH_GRANT_USER, "access-one");
	path_of(f, ".user.new", tmp, sizeof(tmp));

	/* Left by a process killed mid-write. */
	write_file(tmp, "scauth-token 1\naccess_token half-writ", 37, 0600);
	save_ok(f->ctx, SCAUTH_GRANT_USER, "access-two");
	assert_false(exists(tmp));
	load_is(f->ctx, SCAUTH_GRANT_USER, "access-two");

	/* Planted: a link to elsewhere must neither be written through nor stop us. */
	snprintf(victim, sizeof(victim), "%s/victim", f->base);
	write_file(victim, "keep me", 7, 0600);
	assert_int_equal(symlink(victim, tmp), 0);
	save_ok(f->ctx, SCAUTH_GRANT_USER, "access-three");
	assert_string_equal(read_text(victim), "keep me");
	load_is(f->ctx, SCAUTH_GRANT_USER, "access-three");
	assert_int_equal(symlink(victim, tmp), 0);
	assert_int_equal(store_prepare(f->ctx, SCAUTH_GRANT_USER), 0);
	assert_string_equal(read_text(victim), "keep me");

	/* A temp file of another owner goes too. */
	assert_int_equal(unlink(tmp), 0);
	write_file(tmp, "x", 1, 0644);
	assert_int_equal(chown(tmp, 4242, 4242), 0);
	save_ok(f->ctx, SCAUTH_GRANT_USER, "access-four");
	load_is(f->ctx, SCAUTH_GRANT_USER, "access-four");
	assert_false(exists(tmp));
}

/* A file-size limit makes writes fail with EFBIG even for root. */
static void
test_failed_write_keeps_old(void **state)
{
	struct fx *f = *state;
	struct rlimit old, small = { 2048, 2048 };
	struct scauth_token *t;
	char tmp[PATH_MAX], big[3001];
	void (*oldsig)(int);
	int r;

	save_ok(f->ctx, SCAUTH_GRANT_USER, "access-one");
	path_of(f, ".user.new", tmp, sizeof(tmp));
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	small.rlim_max = old.rlim_max;
	oldsig = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);

	/* prepare() finds it before a refresh would spend the refresh token. */
	r = store_prepare(f->ctx, SCAUTH_GRANT_USER);
	assert_int_equal(r, SCAUTH_ESTORE);
	assert_non_null(strstr(scauth_errmsg(f->ctx), "File too large"));
	assert_non_null(strstr(scauth_errmsg(f->ctx), "kept"));
	assert_non_null(strstr(scauth_errmsg(f->ctx), tmp));
	assert_false(exists(tmp));

	/* A save whose write fails leaves the previous record as it was. */
	/* A long (valid) access token makes the record pass the limit. */
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	t = rec(big);
	r = store_save(f->ctx, SCAUTH_GRANT_USER, t);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, oldsig);
	assert_int_equal(r, SCAUTH_ESTORE);
	assert_non_null(strstr(scauth_errmsg(f->ctx), "File too large"));
	assert_false(exists(tmp));
	load_is(f->ctx, SCAUTH_GRANT_USER, "access-one");

	assert_int_equal(store_save(f->ctx, SCAUTH_GRANT_USER, t), 0);
	load_is(f->ctx, SCAUTH_GRANT_USER, big);
	scauth_token_free(t);
}

/* A full and then read-only tmpfs: the real failures the broker must survive. */
static void
test_full_and_readonly(void **state)
{
	struct fx *f = *state;
	char state_dir[PATH_MAX], filler[PATH_MAX], chunk[4096];
	scauth_ctx *ctx;
	int fd, lockfd;

	if (geteuid() != 0)
		fail_msg("this test mounts a tmpfs: run it as root (CI does)");
	snprintf(f->mnt, sizeof(f->mnt), "%s/mnt", f->base);
	assert_int_equal(mkdir(f->mnt, 0700), 0);
	if (mount("tmpfs", f->mnt, "tmpfs", MS_NOSUID | MS_NODEV, "size=256k,mode=0700") != 0)
		fail_msg("mount tmpfs on %s: %s", f->mnt, strerror(errno));
	snprintf(state_dir, sizeof(state_dir), "%s/state", f->mnt);
	ctx = make_ctx(f, state_dir, NULL);
	save_ok(ctx, SCAUTH_GRANT_USER, "access-one");
	assert_int_equal(lock_take(ctx, &lockfd), 0);   /* creates the lock file */
	lock_release(lockfd);

	/* Fill it up. */
	snprintf(filler, sizeof(filler), "%s/filler", f->mnt);
	assert_true((fd = open(filler, O_WRONLY | O_CREAT, 0600)) >= 0);
	memset(chunk, 'f', sizeof(chunk));
	while (write(fd, chunk, sizeof(chunk)) > 0)
		;
	assert_int_equal(errno, ENOSPC);
	close(fd);

	assert_int_equal(store_prepare(ctx, SCAUTH_GRANT_USER), SCAUTH_ESTORE);
	assert_non_null(strstr(scauth_errmsg(ctx), "No space left on device"));
	assert_non_null(strstr(scauth_errmsg(ctx), state_dir));
	load_is(ctx, SCAUTH_GRANT_USER, "access-one");

	/* Room again: the same store works. */
	assert_int_equal(unlink(filler), 0);
	assert_int_equal(store_prepare(ctx, SCAUTH_GRANT_USER), 0);
	save_ok(ctx, SCAUTH_GRANT_USER, "access-two");

	if (mount(NULL, f->mnt, NULL, MS_REMOUNT | MS_RDONLY, NULL) != 0)
		fail_msg("remount read-only: %s", strerror(errno));
	assert_int_equal(store_prepare(ctx, SCAUTH_GRANT_USER), SCAUTH_ESTORE);
	assert_non_null(strstr(scauth_errmsg(ctx), "Read-only file system"));
	/* Reading, and the lock, still work. */
	load_is(ctx, SCAUTH_GRANT_USER, "access-two");
	assert_int_equal(lock_take(ctx, &lockfd), 0);
	lock_release(lockfd);
	scauth_ctx_free(ctx);
}

static void
test_erase(void **state)
{
	struct fx *f = *state;
	char path[PATH_MAX];

	save_ok(f->ctx, SCAUTH_GRANT_USER, "access-one");
	save_ok(f->ctx, SCAUTH_GRANT_APP, "access-app");
	assert_int_equal(store_prepare(f->ctx, SCAUTH_GRANT_USER), 0);
	assert_int_equal(store_erase(f->ctx, SCAUTH_GRANT_USER), 0);
	load_fails(f->ctx, SCAUTH_ELOGIN, NULL, NULL);
	path_of(f, ".user.new", path, sizeof(path));
	assert_false(exists(path));
	load_is(f->ctx, SCAUTH_GRANT_APP, "access-app");
	/* Erasing what is not there is no error, with or without a directory. */
	assert_int_equal(store_erase(f->ctx, SCAUTH_GRANT_USER), 0);
	assert_int_equal(store_erase(f->ctx, SCAUTH_GRANT_APP), 0);
	assert_int_equal(store_erase(f->ctx, SCAUTH_GRANT_APP), 0);
}

/* ------------------------------------------------------------------------ */
/* The lock. */

static void
test_lock_file(void **state)
{
	struct fx *f = *state;
	char path[PATH_MAX];
	int fd;

	assert_int_equal(lock_take(f->ctx, &fd), 0);
	assert_true(fd >= 0);
	path_of(f, ".lock", path, sizeof(path));
	assert_int_equal(mode_of(path), 0600);
	assert_int_equal(mode_of(f->state), 0700);
	lock_release(fd);
	lock_release(-1);

	assert_int_equal(unlink(path), 0);
	assert_int_equal(symlink("/etc/passwd", path), 0);
	assert_int_equal(lock_take(f->ctx, &fd), SCAUTH_EUNSAFE);
	assert_non_null(strstr(scauth_errmsg(f->ctx), "symbolic link"));
	assert_int_equal(fd, -1);
}

/* Another process holds the lock for a while: we wait, then get it. */
static void
test_lock_wait(void **state)
{
	struct fx *f = *state;
	int p[2], fd, status;
	char c;
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	if ((pid = fork()) == 0) {
		close(p[0]);
		if (lock_take(f->ctx, &fd) != 0)
			_exit(1);
		(void)!write(p[1], "x", 1);
		usleep(300 * 1000);
		_exit(0);       /* the lock goes with the process */
	}
	close(p[1]);
	assert_int_equal(read(p[0], &c, 1), 1);
	close(p[0]);
	assert_int_equal(lock_take(f->ctx, &fd), 0);
	assert_non_null(strstr(sbuf_str(&f->trace), "lock wait"));
	lock_release(fd);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* flock() locks belong to open files: a second take in this process must wait, then give up. */
static void
test_lock_timeout(void **state)
{
	struct fx *f = *state;
	struct timespec a, b;
	int fd1, fd2;
	double secs;

	f->ctx->timeout = 1;    /* the wait is timeout + 5 s */
	assert_int_equal(lock_take(f->ctx, &fd1), 0);
	clock_gettime(CLOCK_MONOTONIC, &a);
	assert_int_equal(lock_take(f->ctx, &fd2), SCAUTH_ELOCKED);
	clock_gettime(CLOCK_MONOTONIC, &b);
	assert_int_equal(fd2, -1);
	assert_non_null(strstr(scauth_errmsg(f->ctx), "held the refresh lock"));
	secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	assert_true(secs >= 5.9 && secs < 9);
	lock_release(fd1);
	assert_int_equal(lock_take(f->ctx, &fd2), 0);
	lock_release(fd2);
}

/* ------------------------------------------------------------------------ */
/* The table of operations: registry, lock hooks, the file rules elsewhere. */

static void
test_registry(void **state)
{
	struct fx *f = *state;
	scauth_ctx *ctx = NULL;
	char names[200];

	assert_ptr_equal(store_backend_find("file"), &store_file_backend);
	assert_ptr_equal(store_backend_find("keyring"), &store_keyring_backend);
	assert_ptr_equal(store_backend_find("secret-service"), &store_secret_backend);
	assert_ptr_equal(store_backend_find("postgres"), &store_postgres_backend);
	assert_null(store_backend_find("File"));
	assert_null(store_backend_find(""));
	assert_null(store_backend_find(NULL));
	assert_ptr_equal(f->ctx->store, &store_file_backend);
	store_backend_names(names, sizeof(names));
	assert_string_equal(names, "'file', 'keyring', 'secret-service' or 'postgres'");

	assert_int_equal(scauth_ctx_new(&ctx, SCAUTH_CTX_NO_ENV), 0);
	assert_int_equal(scauth_ctx_setopt(ctx, SCAUTH_OPT_HOME, f->home), 0);
	assert_int_equal(scauth_ctx_set(ctx, "store", "floppy"), 0);
	assert_int_equal(scauth_ctx_load(ctx), SCAUTH_ECONFIG);
	assert_string_equal(scauth_errmsg(ctx),
	    "store: 'floppy' is not 'file', 'keyring', 'secret-service' or 'postgres'");
	scauth_ctx_free(ctx);
}

/* A backend that keeps its slots as files and records what its lock hooks saw. */
static struct {
	int locks, unlocks, last_commit, locked_in_hook, locked_in_load, fail_lock;
} hooks;

static int
hook_lock(scauth_ctx *ctx)
{
	hooks.locks++;
	hooks.locked_in_hook = ctx->store_locked;
	return hooks.fail_lock ? ctx_err(ctx, SCAUTH_ESTORE, "hook refused") : 0;
}

static int
hook_unlock(scauth_ctx *ctx, int commit)
{
	hooks.unlocks++;
	hooks.last_commit = commit;
	hooks.locked_in_hook = ctx->store_locked;
	return 0;
}

static int
hook_load(scauth_ctx *ctx, const struct store_slot *slot, struct sbuf *out)
{
	hooks.locked_in_load = ctx->store_locked;
	return store_file_backend.load(ctx, slot, out);
}

static int
hook_save(scauth_ctx *ctx, const struct store_slot *slot, const char *data, size_t len)
{
	return store_file_backend.save(ctx, slot, data, len);
}

static int
hook_erase(scauth_ctx *ctx, const struct store_slot *slot)
{
	return store_file_backend.erase(ctx, slot);
}

static const struct store_backend hook_backend = {
	.name = "hooked",
	.xdg_state = 1,
	.load = hook_load,
	.save = hook_save,
	.erase = hook_erase,
	.lock = hook_lock,
	.unlock = hook_unlock,
};

static void
test_lock_hooks(void **state)
{
	struct fx *f = *state;
	struct store_lock lk = STORE_LOCK_INIT;
	struct scauth_token *t = rec("access-hooked"), *got = NULL;
	char where[STORE_DESCRIBE_LEN];
	int fd;

	memset(&hooks, 0, sizeof(hooks));
	f->ctx->store = &hook_backend;
	assert_int_equal(store_lock(f->ctx, &lk), 0);
	assert_true(lk.fd >= 0);
	assert_int_equal(hooks.locks, 1);
	assert_int_equal(hooks.locked_in_hook, 1);
	assert_int_equal(f->ctx->store_locked, 1);
	assert_int_equal(store_unlock(f->ctx, &lk, 0), 0);
	assert_int_equal(hooks.unlocks, 1);
	assert_int_equal(hooks.last_commit, 0);
	assert_int_equal(hooks.locked_in_hook, 1);      /* still held in the hook */
	assert_int_equal(f->ctx->store_locked, 0);
	assert_int_equal(lk.fd, -1);
	/* The flock is gone: taking it again does not wait. */
	assert_int_equal(lock_take(f->ctx, &fd), 0);
	lock_release(fd);
	/* Unlocking what is not held calls nothing. */
	assert_int_equal(store_unlock(f->ctx, &lk, 1), 0);
	assert_int_equal(hooks.unlocks, 1);

	/* The broker's writes go through the hooks and commit. */
	assert_int_equal(scauth_token_save(f->ctx, SCAUTH_GRANT_USER, t), 0);
	assert_int_equal(hooks.locks, 2);
	assert_int_equal(hooks.unlocks, 2);
	assert_int_equal(hooks.last_commit, 1);
	/* A fresh token is served outside the lock. */
	assert_int_equal(scauth_token_get(f->ctx, SCAUTH_GRANT_USER, &got), 0);
	assert_string_equal(got->access, "access-hooked");
	assert_int_equal(hooks.locked_in_load, 0);
	assert_int_equal(hooks.locks, 2);
	/* Without a describe hook, messages name the backend. */
	store_describe(f->ctx, NULL, where, sizeof(where));
	assert_string_equal(where, "hooked store");

	/* A refusing hook fails the lock and leaves the flock free. */
	hooks.fail_lock = 1;
	assert_int_equal(scauth_token_erase(f->ctx, SCAUTH_GRANT_USER), SCAUTH_ESTORE);
	assert_string_equal(scauth_errmsg(f->ctx), "hook refused");
	assert_int_equal(f->ctx->store_locked, 0);
	assert_int_equal(hooks.unlocks, 2);
	assert_int_equal(lock_take(f->ctx, &fd), 0);
	lock_release(fd);
	hooks.fail_lock = 0;
	assert_int_equal(scauth_token_erase(f->ctx, SCAUTH_GRANT_USER), 0);
	f->ctx->store = &store_file_backend;
	scauth_token_free(got);
	scauth_token_free(t);
}

/* The file rules in a directory of a backend's choosing. */
static void
test_file_rules_elsewhere(void **state)
{
	struct fx *f = *state;
	struct sbuf got = SBUF_INIT(MAX_RECORD);
	char dir[PATH_MAX], path[PATH_MAX + 16], where[STORE_DESCRIBE_LEN];

	snprintf(dir, sizeof(dir), "%s/run/copies", f->base);
	assert_int_equal(store_file_load(f->ctx, dir, "p.user", &got), 0);
	assert_int_equal(store_file_erase(f->ctx, dir, "p.user"), 0);
	assert_int_equal(store_file_prepare(f->ctx, dir, "p.user"), 0);
	assert_int_equal(store_file_save(f->ctx, dir, "p.user", "bytes", 5), 0);
	assert_int_equal(mode_of(dir), 0700);
	snprintf(path, sizeof(path), "%s/p.user", dir);
	assert_int_equal(mode_of(path), 0600);
	snprintf(path, sizeof(path), "%s/p.user.new", dir);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(store_file_load(f->ctx, dir, "p.user", &got), 1);
	assert_string_equal(sbuf_str(&got), "bytes");
	/* Nothing landed in the state directory. */
	path_of(f, ".user", path, sizeof(path));
	assert_int_equal(access(path, F_OK), -1);

	snprintf(path, sizeof(path), "%s/p.user", dir);
	assert_int_equal(chmod(path, 0644), 0);
	sbuf_reset(&got);
	assert_int_equal(store_file_load(f->ctx, dir, "p.user", &got), SCAUTH_EUNSAFE);
	assert_non_null(strstr(scauth_errmsg(f->ctx), path));
	assert_int_equal(store_file_erase(f->ctx, dir, "p.user"), 0);
	assert_int_equal(access(path, F_OK), -1);

	store_describe(f->ctx, NULL, where, sizeof(where));
	assert_non_null(strstr(where, f->state));
	sbuf_free(&got);
}

/* ------------------------------------------------------------------------ */
/* The keyring backend. */

static key_serial_t
find_key(const char *desc, key_serial_t ring)
{
	long id = keyctl_search(ring, "user", desc, 0);

	return id == -1 ? -1 : (key_serial_t)id;
}

static void
slot_desc(const struct fx *f, const char *suffix, char *buf, size_t len)
{
	snprintf(buf, len, "soundcloud-auth:%s%s", f->profile, suffix);
}

static void
test_keyring_round_trip(void **state)
{
	struct fx *f = *state;
	char desc[128], path[PATH_MAX], *descr = NULL;
	unsigned long perm;
	key_serial_t id;
	void *payload = NULL;
	long n;

	save_ok(f->ctx, SCAUTH_GRANT_USER, "access-key");
	load_is(f->ctx, SCAUTH_GRANT_USER, "access-key");
	slot_desc(f, ".user", desc, sizeof(desc));
	assert_true((id = find_key(desc, KEY_SPEC_USER_KEYRING)) > 0);
	/* The same bytes as the file backend writes. */
	assert_true((n = keyctl_read_alloc(id, &payload)) > 0);
	assert_true(strncmp(payload, "scauth-token 1\naccess_token access-key\n", 39) == 0);
	scauth_wipe(payload, (size_t)n);
	free(payload);
	/* Possessor and user only. */
	assert_true(keyctl_describe_alloc(id, &descr) > 0);
	assert_int_equal(sscanf(strchr(strchr(strchr(descr, ';') + 1, ';') + 1, ';') + 1, "%lx",
	    &perm), 1);
	assert_int_equal(perm & 0xffff, 0);
	assert_int_equal(perm, KEY_POS_ALL | KEY_USR_ALL);
	free(descr);
	/* Nothing on disk. */
	path_of(f, ".user", path, sizeof(path));
	assert_false(exists(path));

	/* Replaced in place; the app slot is separate. */
	save_ok(f->ctx, SCAUTH_GRANT_USER, "access-key-2");
	save_ok(f->ctx, SCAUTH_GRANT_APP, "access-app");
	load_is(f->ctx, SCAUTH_GRANT_USER, "access-key-2");
	load_is(f->ctx, SCAUTH_GRANT_APP, "access-app");

	assert_int_equal(store_erase(f->ctx, SCAUTH_GRANT_USER), 0);
	load_fails(f->ctx, SCAUTH_ELOGIN, NULL, NULL);
	assert_int_equal(find_key(desc, KEY_SPEC_USER_KEYRING), -1);
	assert_int_equal(store_erase(f->ctx, SCAUTH_GRANT_USER), 0);
	load_is(f->ctx, SCAUTH_GRANT_APP, "access-app");
	/* The erased key may linger until the kernel collects it: saving again works. */
	save_ok(f->ctx, SCAUTH_GRANT_USER, "access-key-3");
	load_is(f->ctx, SCAUTH_GRANT_USER, "access-key-3");
}

static void
test_keyring_reserve(void **state)
{
	struct fx *f = *state;
	char desc[128];

	save_ok(f->ctx, SCAUTH_GRANT_USER, "access-key");
	slot_desc(f, ".user.reserve", desc, sizeof(desc));
	assert_int_equal(store_prepare(f->ctx, SCAUTH_GRANT_USER), 0);
	assert_true(find_key(desc, KEY_SPEC_USER_KEYRING) > 0);
	load_is(f->ctx, SCAUTH_GRANT_USER, "access-key");
	save_ok(f->ctx, SCAUTH_GRANT_USER, "access-key-2");
	assert_int_equal(find_key(desc, KEY_SPEC_USER_KEYRING), -1);
	load_is(f->ctx, SCAUTH_GRANT_USER, "access-key-2");
	/* Erase takes a reserve left by a failed refresh along. */
	assert_int_equal(store_prepare(f->ctx, SCAUTH_GRANT_USER), 0);
	assert_int_equal(store_erase(f->ctx, SCAUTH_GRANT_USER), 0);
	assert_int_equal(find_key(desc, KEY_SPEC_USER_KEYRING), -1);
}

static void
test_keyring_loose_perm(void **state)
{
	struct fx *f = *state;
	char desc[128];
	key_serial_t id;

	save_ok(f->ctx, SCAUTH_GRANT_USER, "access-key");
	slot_desc(f, ".user", desc, sizeof(desc));
	assert_true((id = find_key(desc, KEY_SPEC_USER_KEYRING)) > 0);
	assert_int_equal(keyctl_setperm(id, KEY_POS_ALL | KEY_USR_ALL | KEY_OTH_VIEW |
	    KEY_OTH_READ), 0);
	load_fails(f->ctx, SCAUTH_EUNSAFE, desc, "group/other");
	/* A save puts the permissions right again. */
	save_ok(f->ctx, SCAUTH_GRANT_USER, "access-key-2");
	load_is(f->ctx, SCAUTH_GRANT_USER, "access-key-2");
}

static void
test_keyring_corrupt(void **state)
{
	struct fx *f = *state;
	char desc[128];
	key_serial_t id;

	slot_desc(f, ".user", desc, sizeof(desc));
	id = add_key("user", desc, "scauth-token 7\n", 15, KEY_SPEC_USER_KEYRING);
	assert_true(id > 0);
	assert_int_equal(keyctl_setperm(id, KEY_POS_ALL | KEY_USR_ALL), 0);
	load_fails(f->ctx, SCAUTH_ECORRUPT, "keyring key soundcloud-auth:", "version 7");
}

static void
test_keyring_session(void **state)
{
	struct fx *f = *state;
	char desc[128], where[128];
	scauth_ctx *ctx;

	ctx = make_ctx_kr(f, f->state, "keyring", "session");
	assert_non_null(strstr(scauth_ctx_store_where(ctx, where, sizeof(where)), "session"));

	save_ok(ctx, SCAUTH_GRANT_USER, "access-session");
	load_is(ctx, SCAUTH_GRANT_USER, "access-session");
	slot_desc(f, ".user", desc, sizeof(desc));
	assert_true(find_key(desc, KEY_SPEC_SESSION_KEYRING) > 0);
	/* The user-keyring context does not see it. */
	load_fails(f->ctx, SCAUTH_ELOGIN, NULL, NULL);
	assert_int_equal(store_erase(ctx, SCAUTH_GRANT_USER), 0);
	assert_int_equal(find_key(desc, KEY_SPEC_SESSION_KEYRING), -1);
	scauth_ctx_free(ctx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_creates_private, setup, teardown),
		cmocka_unit_test_setup_teardown(test_absent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pending_formats, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_layer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlink_slot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlink_state_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loose_modes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_owner, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_regular, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prepare_then_save, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_temp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_write_keeps_old, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_and_readonly, setup, teardown),
		cmocka_unit_test_setup_teardown(test_erase, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_wait, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_registry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_hooks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_rules_elsewhere, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keyring_round_trip, setup_keyring, teardown),
		cmocka_unit_test_setup_teardown(test_keyring_reserve, setup_keyring, teardown),
		cmocka_unit_test_setup_teardown(test_keyring_loose_perm, setup_keyring, teardown),
		cmocka_unit_test_setup_teardown(test_keyring_corrupt, setup_keyring, teardown),
		cmocka_unit_test_setup_teardown(test_keyring_session, setup_keyring, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
