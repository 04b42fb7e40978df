/*
 * login_page.c - the page that hands a browser the login's start address.
 *
 * Every local user can read a browser's command line in /proc.  With the
 * start address on it, another user who is quicker than a slow browser runs
 * the whole flow with their own account, and the login ends as them.  So the
 * browser is given the file:// address of a page that only we can read: a
 * small HTML file that forwards to the start address (a meta refresh, and a
 * link for a browser that blocks refreshes).  The page lives alone in a
 * directory made for it with mkdtemp (0700), under
 * $XDG_RUNTIME_DIR/soundcloud-auth when the runtime directory is ours and
 * closed to others, else in $TMPDIR or /tmp (where the sticky bit keeps
 * others from renaming it); every directory and the file are checked on the
 * open descriptor (owner, mode, type) and nothing is followed.  The page and
 * its directory go when the login ends.  Its path is made only of characters
 * that need no escaping in a URL, so that the address is "file://" and the
 * path, and removal is an unlink() and an rmdir() on names kept since the page
 * was written: a signal handler may do it (async-signal-safe).
 */
#include "internal.h"
#include "store.h"
#include "login.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PAGE_SUBDIR    "soundcloud-auth"
#define PAGE_DIR_RUN   "/login-XXXXXX"                  /* under $XDG_RUNTIME_DIR/soundcloud-auth */
#define PAGE_DIR_TMP   "/soundcloud-auth-login-XXXXXX"  /* under $TMPDIR or /tmp */
#define PAGE_NAME      "start.html"
#define PAGE_BODY_MAX  4096

/* Characters a path may hold to go into a file:// URL as it is. */
static int
url_safe_path(const char *p)
{
	for (; *p != '\0'; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("/._-~+", *p) != NULL))
			return 0;
	}
	return 1;
}

/* A directory of ours that nobody else may enter or change: uid, no group/other bits. */
static int
dir_is_private(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == store_owner() &&
	    (st.st_mode & 077) == 0;
}

/*
 * $XDG_RUNTIME_DIR/soundcloud-auth into buf when the runtime directory is set,
 * absolute, ours, closed to others and the subdirectory is (or can be made)
 * the same; 0 otherwise, with the reason in the trace.
 */
static int
runtime_parent(scauth_ctx *ctx, char *buf, size_t size)
{
	const char *run = (ctx->flags & SCAUTH_CTX_NO_ENV) ? NULL : secure_getenv("XDG_RUNTIME_DIR");
	int fd, ok;

	if (run == NULL || run[0] != '/' || !url_safe_path(run))
		return 0;
	if ((fd = open(run, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return 0;
	ok = dir_is_private(fd);
	close(fd);
	if (!ok) {
		ctx_trace(ctx, "login: XDG_RUNTIME_DIR is not ours alone: the browser's page goes "
		    "to a temporary directory");
		return 0;
	}
	if ((size_t)snprintf(buf, size, "%s/" PAGE_SUBDIR, run) >= size)
		return 0;
	/* Made (0700) and checked like the state directory; a message it leaves is not ours. */
	if ((fd = store_dir_open(ctx, buf, 1)) < 0) {
		ctx_trace(ctx, "login: %s: not usable for the browser's page", buf);
		ctx->err[0] = '\0';
		return 0;
	}
	close(fd);
	return 1;
}

/* $TMPDIR when it is absolute and URL-safe, else /tmp. */
static const char *
tmp_parent(scauth_ctx *ctx)
{
	const char *t = (ctx->flags & SCAUTH_CTX_NO_ENV) ? NULL : secure_getenv("TMPDIR");

	return t != NULL && t[0] == '/' && url_safe_path(t) ? t : "/tmp";
}

/* The page: a refresh to target at once, and a link to it.  No script, nothing loaded. */
static int
page_body(const char *target, struct sbuf *b)
{
	struct sbuf esc = SBUF_INIT(PAGE_BODY_MAX);
	int r;

	if ((r = html_escape(&esc, target)) == 0)
		r = sbuf_addf(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
		    "<meta name=\"referrer\" content=\"no-referrer\">\n"
		    "<meta http-equiv=\"refresh\" content=\"0; url=%s\">\n"
		    "<title>SoundCloud login</title></head>\n"
		    "<body><p>Going on to the SoundCloud login ... "
		    "<a href=\"%s\">continue</a></p></body></html>\n", sbuf_str(&esc),
		    sbuf_str(&esc));
	sbuf_free(&esc);
	return r;
}

static int
write_all_fd(int fd, const char *p, size_t len)
{
	ssize_t k;

	while (len > 0) {
		if ((k = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += k;
		len -= (size_t)k;
	}
	return 0;
}

void
login_page_remove(struct login_page *pg)
{
	/* Only unlink() and rmdir(): a signal handler may call this. */
	if (pg->file[0] != '\0')
		(void)unlink(pg->file);
	if (pg->dir[0] != '\0')
		(void)rmdir(pg->dir);
	pg->file[0] = '\0';
	pg->dir[0] = '\0';
	pg->url[0] = '\0';
}

int
login_page_write(scauth_ctx *ctx, const char *target, struct login_page *pg)
{
	struct sbuf body = SBUF_INIT(PAGE_BODY_MAX);
	char parent[LOGIN_PAGE_PATH];
	struct stat st;
	int dfd = -1, fd = -1, r;

	memset(pg, 0, sizeof(*pg));
	if ((r = page_body(target, &body)) != 0) {
		r = ctx_err(ctx, r == SCAUTH_ENOMEM ? r : SCAUTH_EINTERNAL,
		    "the browser's page does not fit");
		goto out;
	}
	if (runtime_parent(ctx, parent, sizeof(parent)))
		r = snprintf(pg->dir, sizeof(pg->dir), "%s" PAGE_DIR_RUN, parent);
	else
		r = snprintf(pg->dir, sizeof(pg->dir), "%s" PAGE_DIR_TMP, tmp_parent(ctx));
	if (r < 0 || (size_t)r >= sizeof(pg->dir)) {
		pg->dir[0] = '\0';
		r = ctx_err(ctx, SCAUTH_ESYSTEM, "the path of the browser's page is too long");
		goto out;
	}
	/* mkdtemp: a new directory, 0700, that nobody had a chance to plant. */
	if (mkdtemp(pg->dir) == NULL) {
		r = ctx_errno(ctx, SCAUTH_ESYSTEM, "%s: cannot create", pg->dir);
		pg->dir[0] = '\0';
		goto out;
	}
	if ((dfd = open(pg->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		r = ctx_errno(ctx, SCAUTH_ESYSTEM, "%s: cannot open", pg->dir);
		goto out;
	}
	if (!dir_is_private(dfd)) {
		r = ctx_err(ctx, SCAUTH_EUNSAFE, "%s: not a directory of ours alone",
		    pg->dir);
		goto out;
	}
	snprintf(pg->file, sizeof(pg->file), "%s/" PAGE_NAME, pg->dir);
	fd = openat(dfd, PAGE_NAME, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC |
	    O_NOCTTY, 0600);
	if (fd == -1) {
		r = ctx_errno(ctx, SCAUTH_ESYSTEM, "%s: cannot create", pg->file);
		pg->file[0] = '\0';     /* not ours: never unlinked */
		goto out;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) || st.st_uid != store_owner() ||
	    (st.st_mode & 077) != 0) {
		r = ctx_err(ctx, SCAUTH_EUNSAFE, "%s: not a file of ours alone", pg->file);
		goto out;
	}
	if (write_all_fd(fd, body.p, body.len) != 0) {
		r = ctx_errno(ctx, SCAUTH_ESYSTEM, "%s: cannot write", pg->file);
		goto out;
	}
	if (close(fd) == -1) {
		fd = -1;
		r = ctx_errno(ctx, SCAUTH_ESYSTEM, "%s: cannot write", pg->file);
		goto out;
	}
	fd = -1;
	snprintf(pg->url, sizeof(pg->url), "file://%s", pg->file);
	ctx_trace(ctx, "login: the browser's page is %s", pg->file);
	r = 0;
 out:
	if (fd != -1)
		close(fd);
	if (dfd != -1)
		close(dfd);
	sbuf_free(&body);
	if (r != 0)
		login_page_remove(pg);
	return r;
}
