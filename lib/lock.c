/*
 * lock.c - the per-profile refresh lock: an exclusive flock() on
 * "<state_dir>/<profile>.lock", whatever the backend (store_lock() in store.c
 * wraps it with the backend's own lock).
 *
 * Every write to a profile's slots happens under it, and a refresh holds it
 * from before the store is re-read until the rotated refresh token is stored,
 * so that two processes never spend the same single-use refresh token.
 * flock() locks go away with the process, so a process killed mid-refresh
 * cannot leave the profile locked.  Waiting is a bounded poll rather than a
 * blocking flock() with an alarm: a library must not touch signal handlers.
 */
#include "internal.h"
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#define LOCK_SLEEP_MIN_MS  1
#define LOCK_SLEEP_MAX_MS  50
#define LOCK_GRACE_SEC     5    /* beyond the holder's requests and its durable write */

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

int
lock_take(scauth_ctx *ctx, int *fdp)
{
	char name[MAX_PROFILE_LEN + 8];
	long long start, deadline;
	long pause = LOCK_SLEEP_MIN_MS;
	int dfd, fd = -1, r, waited = 0;

	*fdp = -1;
	if (ctx == NULL || ctx->profile == NULL || !profile_valid(ctx->profile))
		return ctx_err(ctx, SCAUTH_EINVAL, "invalid profile name");
	if ((dfd = state_dir_open(ctx, 1)) < 0)
		return dfd;
	snprintf(name, sizeof(name), "%s.lock", ctx->profile);
	/*
	 * Read-only is enough for flock(), and opening an existing file so
	 * works on a read-only file system, where the store can still be read.
	 */
	if ((r = state_file_open(ctx, dfd, name, O_RDONLY | O_CREAT, &fd)) != 0)
		goto out;
	start = mono_ms();
	/* The holder may make two requests: an app refresh refused, then an exchange. */
	deadline = start + (2 * (ctx->timeout > 0 ? ctx->timeout : 30) + LOCK_GRACE_SEC) * 1000;
	for (;;) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			break;
		if (errno != EWOULDBLOCK && errno != EINTR) {
			r = ctx_errno(ctx, SCAUTH_ESYSTEM, "%s/%s: flock", ctx->state_dir, name);
			goto out;
		}
		if (mono_ms() >= deadline) {
			r = ctx_err(ctx, SCAUTH_ELOCKED, "another process has held the refresh "
			    "lock %s/%s for %ld s; try again later", ctx->state_dir, name,
			    (long)((mono_ms() - start) / 1000));
			goto out;
		}
		sleep_ms(pause);
		waited = 1;
		if ((pause *= 2) > LOCK_SLEEP_MAX_MS)
			pause = LOCK_SLEEP_MAX_MS;
	}
	if (waited)
		ctx_trace(ctx, "lock wait %lld ms", mono_ms() - start);
	*fdp = fd;
	fd = -1;        /* transferred */
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	close(dfd);
	return r;
}

void
lock_release(int fd)
{
	if (fd < 0)
		return;
	/* Explicitly: a child forked meanwhile would otherwise keep it locked. */
	flock(fd, LOCK_UN);
	close(fd);
}
