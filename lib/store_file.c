/*
 * store_file.c - the file backend, and the file rules it is built on, which
 * the lock and other backends' local copies use too.
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
 *
 * The operations also work on a directory other than the state directory
 * (store_file_load() ...), so that a backend that keeps its tokens elsewhere
 * can keep a local copy under the same rules in a directory of its choosing.
 */
#include "internal.h"
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <unistd.h>

#define PATH_LEN  4096
#define TMP_SUFFIX ".new"
#define TMP_LEN   (STORE_SLOT_LEN + sizeof(TMP_SUFFIX))

/* setfsuid(-1) changes nothing and returns the filesystem uid. */
uid_t
store_owner(void)
{
	return (uid_t)setfsuid((uid_t)-1);
}

static void
file_path(const char *dir, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", dir, name);
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
store_dir_open(scauth_ctx *ctx, const char *path, int create)
{
	const int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
	struct stat st;
	int fd = -1, r;

	if (path == NULL || *path == '\0')
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
store_file_open(scauth_ctx *ctx, const char *dir, int dirfd, const char *name, int flags,
    int *fdp)
{
	char path[PATH_LEN];
	struct stat st;
	int fd, r;

	*fdp = -1;
	file_path(dir, name, path, sizeof(path));
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

int
state_dir_open(scauth_ctx *ctx, int create)
{
	if (ctx == NULL)
		return SCAUTH_EINVAL;
	return store_dir_open(ctx, ctx->state_dir, create);
}

int
state_file_open(scauth_ctx *ctx, int dirfd, const char *name, int flags, int *fdp)
{
	return store_file_open(ctx, ctx->state_dir, dirfd, name, flags, fdp);
}

/* ------------------------------------------------------------------------ */
/* Slots as files in a directory. */

static int
store_error(scauth_ctx *ctx, const char *path, int e)
{
	return ctx_err(ctx, SCAUTH_ESTORE, "%s: cannot write (%s); the stored tokens were kept",
	    path, strerror(e));
}

/*
 * Reads fd (path names it in messages) into a new buffer of MAX_RECORD + 1
 * bytes: one more than a record may have, to tell "full" from "too large".
 * 0 with *bufp and *lenp set; <0 with nothing to free.
 */
static int
read_capped(scauth_ctx *ctx, int fd, const char *path, char **bufp, size_t *lenp)
{
	char *buf;
	size_t len = 0;
	ssize_t n;

	*bufp = NULL;
	*lenp = 0;
	if ((buf = malloc(MAX_RECORD + 1)) == NULL)
		return SCAUTH_ENOMEM;
	while (len < MAX_RECORD + 1) {
		n = read(fd, buf + len, MAX_RECORD + 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			scauth_wipe(buf, len);
			free(buf);
			return ctx_errno(ctx, SCAUTH_ESYSTEM, "%s: read", path);
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*bufp = buf;
	*lenp = len;
	return 0;
}

int
store_file_load(scauth_ctx *ctx, const char *dir, const char *slot, struct sbuf *out)
{
	char path[PATH_LEN], *buf = NULL;
	size_t len = 0;
	int dfd, fd = -1, r;

	if ((dfd = store_dir_open(ctx, dir, 0)) < 0)
		return dfd == SCAUTH_ELOGIN ? 0 : dfd;
	file_path(dir, slot, path, sizeof(path));
	if ((r = store_file_open(ctx, dir, dfd, slot, O_RDONLY, &fd)) != 0) {
		if (r == 1)
			r = 0;
		goto out;
	}
	if ((r = read_capped(ctx, fd, path, &buf, &len)) != 0)
		goto out;
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

int
store_file_prepare(scauth_ctx *ctx, const char *dir, const char *slot)
{
	char tmp[TMP_LEN], path[PATH_LEN];
	int dfd, fd = -1, r, e;

	if ((dfd = store_dir_open(ctx, dir, 1)) < 0)
		return dfd;
	snprintf(tmp, sizeof(tmp), "%s" TMP_SUFFIX, slot);
	file_path(dir, tmp, path, sizeof(path));
	/*
	 * Left by a process killed mid-write; we hold the lock, so nobody is
	 * writing it, and the lock hook finished it if it was complete.
	 */
	if (unlinkat(dfd, tmp, 0) == -1 && errno != ENOENT) {
		r = store_error(ctx, path, errno);
		goto out;
	}
	if ((r = store_file_open(ctx, dir, dfd, tmp, O_WRONLY | O_CREAT | O_EXCL, &fd)) != 0) {
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
open_temp(scauth_ctx *ctx, const char *dir, int dfd, const char *tmp, int *fdp)
{
	int r;

	r = store_file_open(ctx, dir, dfd, tmp, O_WRONLY, fdp);
	if (r == SCAUTH_EUNSAFE) {
		/* Not one of ours (a planted link, say): it goes, we hold the lock. */
		unlinkat(dfd, tmp, 0);
		r = 1;
	}
	if (r == 1)
		r = store_file_open(ctx, dir, dfd, tmp, O_WRONLY | O_CREAT | O_EXCL, fdp);
	return r;
}

int
store_file_save(scauth_ctx *ctx, const char *dir, const char *slot, const char *data,
    size_t len)
{
	char tmp[TMP_LEN], path[PATH_LEN];
	int dfd, fd = -1, r, renamed = 0;

	if ((dfd = store_dir_open(ctx, dir, 1)) < 0)
		return dfd;
	snprintf(tmp, sizeof(tmp), "%s" TMP_SUFFIX, slot);
	file_path(dir, tmp, path, sizeof(path));
	if ((r = open_temp(ctx, dir, dfd, tmp, &fd)) != 0) {
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
		file_path(dir, slot, path, sizeof(path));
		r = store_error(ctx, path, errno);
		goto out;
	}
	renamed = 1;
	/* The rename is durable only once the directory is. */
	if (fsync(dfd) == -1) {
		r = ctx_errno(ctx, SCAUTH_ESTORE, "%s: cannot sync the directory", dir);
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

int
store_file_erase(scauth_ctx *ctx, const char *dir, const char *slot)
{
	char tmp[TMP_LEN], path[PATH_LEN];
	int dfd, r = 0;

	if ((dfd = store_dir_open(ctx, dir, 0)) < 0)
		return dfd == SCAUTH_ELOGIN ? 0 : dfd;
	snprintf(tmp, sizeof(tmp), "%s" TMP_SUFFIX, slot);
	unlinkat(dfd, tmp, 0);          /* a leftover of an interrupted write, if any */
	if (unlinkat(dfd, slot, 0) == -1 && errno != ENOENT) {
		file_path(dir, slot, path, sizeof(path));
		r = ctx_errno(ctx, SCAUTH_ESTORE, "%s: cannot remove", path);
		goto out;
	}
	if (fsync(dfd) == -1)
		r = ctx_errno(ctx, SCAUTH_ESTORE, "%s: cannot sync the directory", dir);
out:
	close(dfd);
	return r;
}

/*
 * Reads name in dfd (ours, O_NOFOLLOW, checked) into a malloc'ed buffer of
 * MAX_RECORD + 1 bytes.  1 and *len when read, 0 when absent or unsafe (it
 * is not ours to trust), <0 on an error.
 */
static int
read_small(scauth_ctx *ctx, const char *dir, int dfd, const char *name, char **bufp,
    size_t *lenp)
{
	char path[PATH_LEN], *buf = NULL;
	size_t len = 0;
	int fd = -1, r;

	*bufp = NULL;
	*lenp = 0;
	if ((r = store_file_open(ctx, dir, dfd, name, O_RDONLY, &fd)) != 0) {
		r = r == 1 || r == SCAUTH_EUNSAFE ? 0 : r;
		goto out;
	}
	file_path(dir, name, path, sizeof(path));
	if ((r = read_capped(ctx, fd, path, &buf, &len)) != 0)
		goto out;
	*bufp = buf;
	*lenp = len;
	buf = NULL;     /* transferred */
	r = 1;
out:
	if (buf != NULL) {
		scauth_wipe(buf, len);
		free(buf);
	}
	if (fd >= 0)
		close(fd);
	return r;
}

/*
 * "<slot>.new" as the record it would replace the slot with: what save()
 * wrote, whole, possibly still followed by the zeros prepare() reserved (a
 * kill between the write and the truncation).  1 when it is one, no older
 * than the slot and with a refresh token if the slot has one, with the
 * record's length in *reclen; 0 for a reservation, a partial write, garbage.
 */
static int
complete_record(const char *data, size_t len, const struct scauth_token *slot,
    size_t *reclen)
{
	struct scauth_token *t = NULL;
	size_t n = len;
	int ok;

	while (n > 0 && data[n - 1] == '\0')
		n--;
	if (n == 0 || n > MAX_RECORD || data[n - 1] != '\n' || record_parse(data, n, &t) != 0)
		return 0;
	ok = t->access != NULL && (slot == NULL ||
	    ((slot->refresh == NULL || t->refresh != NULL) && t->obtained_at >= slot->obtained_at));
	scauth_token_free(t);
	*reclen = n;
	return ok;
}

int
store_file_recover(scauth_ctx *ctx, const char *dir, const char *slot)
{
	struct scauth_token *cur = NULL;
	char tmp[TMP_LEN], path[PATH_LEN], *data = NULL, *old = NULL;
	size_t len = 0, oldlen = 0, reclen = 0;
	int dfd, fd = -1, r;

	if ((dfd = store_dir_open(ctx, dir, 0)) < 0)
		return dfd == SCAUTH_ELOGIN ? 0 : dfd;
	snprintf(tmp, sizeof(tmp), "%s" TMP_SUFFIX, slot);
	if ((r = read_small(ctx, dir, dfd, tmp, &data, &len)) <= 0)
		goto out;
	if ((r = read_small(ctx, dir, dfd, slot, &old, &oldlen)) < 0)
		goto out;
	/* A slot that does not parse is no reason to keep a good successor out. */
	if (r == 1 && (oldlen > MAX_RECORD || record_parse(old, oldlen, &cur) != 0))
		cur = NULL;
	r = 0;
	if (len > MAX_RECORD || !complete_record(data, len, cur, &reclen))
		goto out;       /* junk: prepare() throws it away */
	file_path(dir, tmp, path, sizeof(path));
	if ((r = store_file_open(ctx, dir, dfd, tmp, O_WRONLY, &fd)) != 0) {
		if (r == SCAUTH_ESTORE || r == SCAUTH_ESYSTEM)
			r = store_error(ctx, path, errno);
		goto out;
	}
	if ((reclen != len && ftruncate(fd, (off_t)reclen) == -1) || fsync(fd) == -1 ||
	    renameat(dfd, tmp, dfd, slot) == -1) {
		r = store_error(ctx, path, errno);
		goto out;
	}
	if (fsync(dfd) == -1) {
		r = ctx_errno(ctx, SCAUTH_ESTORE, "%s: cannot sync the directory", dir);
		goto out;
	}
	ctx_trace(ctx, "store: finished an interrupted write of %s", slot);
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	if (data != NULL) {
		scauth_wipe(data, len);
		free(data);
	}
	if (old != NULL) {
		scauth_wipe(old, oldlen);
		free(old);
	}
	scauth_token_free(cur);
	close(dfd);
	return r;
}

/* ------------------------------------------------------------------------ */
/* The backend: slots in the state directory. */

/*
 * Right after the profile lock is taken, before anyone under it reads a
 * slot: a killed writer's complete "<slot>.new" is finished, since for a
 * refresh it holds the only copy of the rotated refresh token.
 */
static int
file_lock(scauth_ctx *ctx)
{
	static const enum scauth_grant grants[] = { SCAUTH_GRANT_USER, SCAUTH_GRANT_APP };
	struct store_slot sl;
	size_t i;
	int r = 0;

	for (i = 0; i < ARRAY_SIZE(grants) && r == 0; i++) {
		slot_make(&sl, ctx->profile, grants[i]);
		r = store_file_recover(ctx, ctx->state_dir, sl.name);
	}
	return r;
}

static int
file_load(scauth_ctx *ctx, const struct store_slot *sl, struct sbuf *out)
{
	const char *slot = sl->name;

	return store_file_load(ctx, ctx->state_dir, slot, out);
}

static int
file_save(scauth_ctx *ctx, const struct store_slot *sl, const char *data, size_t len)
{
	const char *slot = sl->name;

	return store_file_save(ctx, ctx->state_dir, slot, data, len);
}

static int
file_erase(scauth_ctx *ctx, const struct store_slot *sl)
{
	const char *slot = sl->name;

	return store_file_erase(ctx, ctx->state_dir, slot);
}

static int
file_prepare(scauth_ctx *ctx, const struct store_slot *sl)
{
	const char *slot = sl->name;

	return store_file_prepare(ctx, ctx->state_dir, slot);
}

static void
file_describe(const scauth_ctx *ctx, const struct store_slot *sl, char *buf, size_t len)
{
	const char *slot = sl != NULL ? sl->name : NULL;

	if (slot != NULL)
		file_path(ctx->state_dir, slot, buf, len);
	else
		snprintf(buf, len, "files in %s", ctx->state_dir);
}

const struct store_backend store_file_backend = {
	.name = "file",
	.xdg_state = 1,
	.load = file_load,
	.save = file_save,
	.erase = file_erase,
	.prepare = file_prepare,
	.lock = file_lock,
	.describe = file_describe,
};
