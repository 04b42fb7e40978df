/*
 * store.c - where grants live: the slot of a grant in the configured backend,
 * the state directory, and the file backend.
 *
 * The file backend keeps one record per slot in $XDG_STATE_HOME/soundcloud-auth
 * ("<profile>.user", "<profile>.app").  The directory is 0700 and the files
 * 0600; everything is opened with O_NOFOLLOW and checked on the open
 * descriptor (owner, mode, type), as OpenSSH and doas check their files, so a
 * planted link or a file someone else can read or write is refused instead
 * of used.  A slot is replaced atomically: "<slot>.new" is written, synced
 * and renamed over it, then the directory is synced.  Because a refresh token
 * is spent the moment the server answers, prepare() creates and fills
 * "<slot>.new" to full size *before* the refresh, so that a full or read-only
 * file system is found while the old refresh token is still good; save() then
 * only overwrites blocks it already owns.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <unistd.h>

#define SLOT_LEN  (MAX_PROFILE_LEN + 16)
#define PATH_LEN  4096
#define TMP_SUFFIX ".new"

/* setfsuid(-1) changes nothing and returns the filesystem uid. */
uid_t
store_owner(void)
{
	return (uid_t)setfsuid((uid_t)-1);
}

static const struct store_backend *
backend(const scauth_ctx *ctx)
{
	return ctx->store == STORE_KEYRING ? &store_keyring_backend : &store_file_backend;
}

static int
slot_name(scauth_ctx *ctx, enum scauth_grant g, char *buf, size_t len)
{
	if (ctx == NULL || ctx->profile == NULL || ctx->state_dir == NULL)
		return ctx_err(ctx, SCAUTH_EINVAL, "the context is not loaded");
	if (g != SCAUTH_GRANT_USER && g != SCAUTH_GRANT_APP)
		return ctx_err(ctx, SCAUTH_EINVAL, "unknown grant %d", (int)g);
	/* The profile becomes a file name: no '/' or ".." may get through. */
	if (!profile_valid(ctx->profile))
		return ctx_err(ctx, SCAUTH_EINVAL, "invalid profile name");
	snprintf(buf, len, "%s.%s", ctx->profile, g == SCAUTH_GRANT_APP ? "app" : "user");
	return 0;
}

static void
file_path(const scauth_ctx *ctx, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", ctx->state_dir, name);
}

/* ------------------------------------------------------------------------ */
/* Checks on open descriptors. */

static int
check_stat(scauth_ctx *ctx, const struct stat *st, const char *path, int dir)
{
	uid_t owner = store_owner();

	if (dir ? !S_ISDIR(st->st_mode) : !S_ISREG(st->st_mode))
		return ctx_err(ctx, SCAUTH_EUNSAFE, "%s: not a %s; remove it", path,
		    dir ? "directory" : "regular file");
	if (st->st_uid != owner)
		return ctx_err(ctx, SCAUTH_EUNSAFE, "%s: owned by uid %lu, not by uid %lu; "
		    "remove it, or chown it if it is really yours", path,
		    (unsigned long)st->st_uid, (unsigned long)owner);
	if ((st->st_mode & 077) != 0)
		return ctx_err(ctx, SCAUTH_EUNSAFE, "%s: mode %04o allows group/other access; "
		    "chmod %s it", path, (unsigned)(st->st_mode & 07777), dir ? "700" : "600");
	return 0;
}

/* Says why path could not be opened without following links. */
static int
open_failed(scauth_ctx *ctx, const char *path, int dirfd, const char *name, int code)
{
	struct stat st;
	int e = errno;

	if (e == ELOOP || e == ENOTDIR || e == EMLINK) {
		if ((dirfd >= 0 ? fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) :
		    lstat(path, &st)) == 0 && S_ISLNK(st.st_mode))
			return ctx_err(ctx, SCAUTH_EUNSAFE, "%s: is a symbolic link, which the "
			    "store never follows; remove it", path);
		if (e == ENOTDIR && dirfd < 0)
			return ctx_err(ctx, SCAUTH_EUNSAFE, "%s: not a directory; remove it",
			    path);
	}
	errno = e;
	return ctx_errno(ctx, code, "%s: cannot open", path);
}

/* Creates the missing parents of path, each 0700 (XDG wants that for ~/.local/state). */
static int
make_parents(scauth_ctx *ctx, const char *path)
{
	char buf[PATH_LEN];
	size_t i, n = strlen(path);

	if (n >= sizeof(buf))
		return ctx_err(ctx, SCAUTH_ECONFIG, "state directory path too long");
	memcpy(buf, path, n + 1);
	for (i = 1; i < n; i++) {
		if (buf[i] != '/')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0700) == -1 && errno != EEXIST)
			return ctx_errno(ctx, SCAUTH_ESTORE, "%s: cannot create", buf);
		buf[i] = '/';
	}
	return 0;
}

int
state_dir_open(scauth_ctx *ctx, int create)
{
	const int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
	const char *path;
	struct stat st;
	int fd = -1, r;

	if (ctx == NULL || (path = ctx->state_dir) == NULL || *path == '\0')
		return ctx_err(ctx, SCAUTH_EINVAL, "no state directory configured");
	if ((fd = open(path, flags)) == -1 && errno == ENOENT && create) {
		if ((r = make_parents(ctx, path)) != 0)
			return r;
		/* EEXIST: another process made it first; it is checked below all the same. */
		if (mkdir(path, 0700) == -1 && errno != EEXIST)
			return ctx_errno(ctx, SCAUTH_ESTORE, "%s: cannot create", path);
		fd = open(path, flags);
	}
	if (fd == -1) {
		if (errno == ENOENT && !create)
			return ctx_err(ctx, SCAUTH_ELOGIN, "%s: nothing stored yet", path);
		return open_failed(ctx, path, -1, NULL, SCAUTH_ESYSTEM);
	}
	if (fstat(fd, &st) == -1) {
		r = ctx_errno(ctx, SCAUTH_ESYSTEM, "%s: fstat", path);
		goto fail;
	}
	if ((r = check_stat(ctx, &st, path, 1)) != 0)
		goto fail;
	return fd;
fail:
	close(fd);
	return r;
}

int
state_file_open(scauth_ctx *ctx, int dirfd, const char *name, int flags, int *fdp)
{
	char path[PATH_LEN];
	struct stat st;
	int fd, r;

	*fdp = -1;
	file_path(ctx, name, path, sizeof(path));
	/* O_NONBLOCK: a FIFO planted under our name must not hang us in open(). */
	fd = openat(dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0600);
	if (fd == -1) {
		if (errno == ENOENT && !(flags & O_CREAT))
			return 1;
		return open_failed(ctx, path, dirfd, name,
		    (flags & O_ACCMODE) == O_RDONLY && !(flags & O_CREAT) ?
		    SCAUTH_ESYSTEM : SCAUTH_ESTORE);
	}
	if (fstat(fd, &st) == -1) {
		r = ctx_errno(ctx, SCAUTH_ESYSTEM, "%s: fstat", path);
		goto fail;
	}
	if ((r = check_stat(ctx, &st, path, 0)) != 0)
		goto fail;
	*fdp = fd;
	return 0;
fail:
	close(fd);
	return r;
}

/* ------------------------------------------------------------------------ */
/* The file backend. */

static int
store_error(scauth_ctx *ctx, const char *path, int e)
{
	return ctx_err(ctx, SCAUTH_ESTORE, "%s: cannot write (%s); the stored tokens were kept",
	    path, strerror(e));
}

static int
file_load(scauth_ctx *ctx, const char *slot, struct sbuf *out)
{
	char path[PATH_LEN], *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int dfd, fd = -1, r;

	if ((dfd = state_dir_open(ctx, 0)) < 0)
		return dfd == SCAUTH_ELOGIN ? 0 : dfd;
	file_path(ctx, slot, path, sizeof(path));
	if ((r = state_file_open(ctx, dfd, slot, O_RDONLY, &fd)) != 0) {
		if (r == 1)
			r = 0;
		goto out;
	}
	/* One byte more than allowed, to tell "full" from "too large". */
	if ((buf = malloc(MAX_RECORD + 1)) == NULL) {
		r = SCAUTH_ENOMEM;
		goto out;
	}
	while (len < MAX_RECORD + 1) {
		n = read(fd, buf + len, MAX_RECORD + 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			r = ctx_errno(ctx, SCAUTH_ESYSTEM, "%s: read", path);
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > MAX_RECORD) {
		r = ctx_err(ctx, SCAUTH_ECORRUPT, "%s: larger than %d bytes; remove it and log "
		    "in again", path, MAX_RECORD);
		goto out;
	}
	if ((r = sbuf_add(out, buf, len)) != 0)
		goto out;
	r = 1;
out:
	if (buf != NULL) {
		scauth_wipe(buf, len);
		free(buf);
	}
	if (fd >= 0)
		close(fd);
	close(dfd);
	return r;
}

static int
write_all(int fd, const char *data, size_t len)
{
	size_t off = 0;
	ssize_t n;

	while (off < len) {
		n = pwrite(fd, data + off, len - off, (off_t)off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		off += (size_t)n;
	}
	return 0;
}

/* Fills fd with len zero bytes, where posix_fallocate() is not supported. */
static int
write_zeros(int fd, size_t len)
{
	char zero[4096];
	size_t off, n;

	memset(zero, 0, sizeof(zero));
	for (off = 0; off < len; off += n) {
		n = len - off < sizeof(zero) ? len - off : sizeof(zero);
		if (write_all(fd, zero, n) == -1)
			return -1;
	}
	return 0;
}

static int
file_prepare(scauth_ctx *ctx, const char *slot)
{
	char tmp[SLOT_LEN + sizeof(TMP_SUFFIX)], path[PATH_LEN];
	int dfd, fd = -1, r, e;

	if ((dfd = state_dir_open(ctx, 1)) < 0)
		return dfd;
	snprintf(tmp, sizeof(tmp), "%s" TMP_SUFFIX, slot);
	file_path(ctx, tmp, path, sizeof(path));
	/* Left by a process killed mid-write; we hold the lock, so nobody is writing it. */
	if (unlinkat(dfd, tmp, 0) == -1 && errno != ENOENT) {
		r = store_error(ctx, path, errno);
		goto out;
	}
	if ((r = state_file_open(ctx, dfd, tmp, O_WRONLY | O_CREAT | O_EXCL, &fd)) != 0) {
		if (r == SCAUTH_ESTORE)
			r = store_error(ctx, path, errno);
		goto out;
	}
	if ((e = posix_fallocate(fd, 0, MAX_RECORD)) == EOPNOTSUPP || e == EINVAL) {
		/* Written zeros may only be allocated at write-back: sync them. */
		e = write_zeros(fd, MAX_RECORD) == -1 || fsync(fd) == -1 ? errno : 0;
	}
	if (e != 0) {
		r = ctx_err(ctx, SCAUTH_ESTORE, "%s: cannot reserve room for the refreshed tokens "
		    "(%s); the stored tokens were kept", path, strerror(e));
		unlinkat(dfd, tmp, 0);
		goto out;
	}
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	close(dfd);
	return r;
}

/* Opens "<slot>.new" for writing: the one prepare() made, else a new one. */
static int
open_temp(scauth_ctx *ctx, int dfd, const char *tmp, int *fdp)
{
	int r;

	r = state_file_open(ctx, dfd, tmp, O_WRONLY, fdp);
	if (r == SCAUTH_EUNSAFE) {
		/* Not one of ours (a planted link, say): it goes, we hold the lock. */
		unlinkat(dfd, tmp, 0);
		r = 1;
	}
	if (r == 1)
		r = state_file_open(ctx, dfd, tmp, O_WRONLY | O_CREAT | O_EXCL, fdp);
	return r;
}

static int
file_save(scauth_ctx *ctx, const char *slot, const char *data, size_t len)
{
	char tmp[SLOT_LEN + sizeof(TMP_SUFFIX)], path[PATH_LEN];
	int dfd, fd = -1, r, renamed = 0;

	if ((dfd = state_dir_open(ctx, 1)) < 0)
		return dfd;
	snprintf(tmp, sizeof(tmp), "%s" TMP_SUFFIX, slot);
	file_path(ctx, tmp, path, sizeof(path));
	if ((r = open_temp(ctx, dfd, tmp, &fd)) != 0) {
		if (r == SCAUTH_ESTORE)
			r = store_error(ctx, path, errno);
		goto out;
	}
	/* Overwrite what prepare() reserved, then cut it to size. */
	if (write_all(fd, data, len) == -1 || ftruncate(fd, (off_t)len) == -1 ||
	    fsync(fd) == -1) {
		r = store_error(ctx, path, errno);
		goto out;
	}
	if (renameat(dfd, tmp, dfd, slot) == -1) {
		file_path(ctx, slot, path, sizeof(path));
		r = store_error(ctx, path, errno);
		goto out;
	}
	renamed = 1;
	/* The rename is durable only once the directory is. */
	if (fsync(dfd) == -1) {
		r = ctx_errno(ctx, SCAUTH_ESTORE, "%s: cannot sync the directory", ctx->state_dir);
		goto out;
	}
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	if (r != 0 && !renamed)
		unlinkat(dfd, tmp, 0);
	close(dfd);
	return r;
}

static int
file_erase(scauth_ctx *ctx, const char *slot)
{
	char tmp[SLOT_LEN + sizeof(TMP_SUFFIX)], path[PATH_LEN];
	int dfd, r = 0;

	if ((dfd = state_dir_open(ctx, 0)) < 0)
		return dfd == SCAUTH_ELOGIN ? 0 : dfd;
	snprintf(tmp, sizeof(tmp), "%s" TMP_SUFFIX, slot);
	unlinkat(dfd, tmp, 0);          /* a leftover of an interrupted write, if any */
	if (unlinkat(dfd, slot, 0) == -1 && errno != ENOENT) {
		file_path(ctx, slot, path, sizeof(path));
		r = ctx_errno(ctx, SCAUTH_ESTORE, "%s: cannot remove", path);
		goto out;
	}
	if (fsync(dfd) == -1)
		r = ctx_errno(ctx, SCAUTH_ESTORE, "%s: cannot sync the directory", ctx->state_dir);
out:
	close(dfd);
	return r;
}

const struct store_backend store_file_backend = {
	.name = "file",
	.load = file_load,
	.save = file_save,
	.erase = file_erase,
	.prepare = file_prepare,
};

/* ------------------------------------------------------------------------ */
/* Records in slots, whatever the backend. */

/* Where a slot lives, for messages. */
static void
slot_where(const scauth_ctx *ctx, const char *slot, char *buf, size_t len)
{
	if (ctx->store == STORE_KEYRING)
		snprintf(buf, len, "keyring key soundcloud-auth:%s", slot);
	else
		file_path(ctx, slot, buf, len);
}

int
store_load(scauth_ctx *ctx, enum scauth_grant g, struct scauth_token **out)
{
	struct sbuf data = SBUF_INIT(MAX_RECORD);
	char slot[SLOT_LEN], where[PATH_LEN], why[200];
	int r;

	*out = NULL;
	if ((r = slot_name(ctx, g, slot, sizeof(slot))) != 0)
		goto out;
	if ((r = backend(ctx)->load(ctx, slot, &data)) < 0)
		goto out;
	if (r == 0) {
		r = ctx_err(ctx, SCAUTH_ELOGIN, "no %s stored for profile %s%s",
		    g == SCAUTH_GRANT_APP ? "application token" : "login", ctx->profile,
		    g == SCAUTH_GRANT_APP ? "" : "; log in first");
		goto out;
	}
	if ((r = record_parse_why(data.p, data.len, out, why, sizeof(why))) != 0) {
		slot_where(ctx, slot, where, sizeof(where));
		if (r == SCAUTH_ECORRUPT)
			r = ctx_err(ctx, r, "%s: %s; remove it and log in again", where, why);
	}
out:
	sbuf_free(&data);
	return r;
}

int
store_save(scauth_ctx *ctx, enum scauth_grant g, const struct scauth_token *t)
{
	struct sbuf data = SBUF_INIT(MAX_RECORD);
	char slot[SLOT_LEN];
	int r;

	if ((r = slot_name(ctx, g, slot, sizeof(slot))) != 0)
		goto out;
	if ((r = record_serialize(t, &data)) != 0) {
		r = ctx_err(ctx, r, "cannot store the grant: a value is malformed (a line break, "
		    "a control character) or the record is over %d bytes", MAX_RECORD);
		goto out;
	}
	r = backend(ctx)->save(ctx, slot, sbuf_str(&data), data.len);
out:
	sbuf_free(&data);
	return r;
}

int
store_erase(scauth_ctx *ctx, enum scauth_grant g)
{
	char slot[SLOT_LEN];
	int r;

	if ((r = slot_name(ctx, g, slot, sizeof(slot))) != 0)
		return r;
	return backend(ctx)->erase(ctx, slot);
}

int
store_prepare(scauth_ctx *ctx, enum scauth_grant g)
{
	const struct store_backend *b;
	char slot[SLOT_LEN];
	int r;

	if ((r = slot_name(ctx, g, slot, sizeof(slot))) != 0)
		return r;
	b = backend(ctx);
	return b->prepare != NULL ? b->prepare(ctx, slot) : 0;
}
