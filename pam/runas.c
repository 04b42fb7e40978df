/*
 * runas.c - run a piece of work as another user in a child process (runas.h).
 *
 * The child never returns into the application: it reports over a pipe and
 * leaves with _exit(), so no atexit handler or stdio buffer of the
 * application runs twice.  The parent waits for exactly its own child.
 */
#include "runas.h"

#include "scauth.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* What the child sends back: one write, smaller than PIPE_BUF, so atomic. */
struct result {
	int code;
	char msg[RUNAS_MSGLEN];
};

static int say(char *msg, size_t msglen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
say(char *msg, size_t msglen, int code, const char *fmt, ...)
{
	va_list ap;

	if (msg != NULL && msglen > 0) {
		va_start(ap, fmt);
		vsnprintf(msg, msglen, fmt, ap);
		va_end(ap);
	}
	return code;
}

/* Takes on the user's identity for good, and checks that it holds. */
static int
become(const char *name, uid_t uid, gid_t gid, char *msg, size_t msglen)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	if (initgroups(name, gid) != 0)
		return say(msg, msglen, SCAUTH_ESYSTEM, "initgroups %s: %s", name,
		    strerror(errno));
	if (setresgid(gid, gid, gid) != 0)
		return say(msg, msglen, SCAUTH_ESYSTEM, "setresgid %u: %s", (unsigned)gid,
		    strerror(errno));
	if (setresuid(uid, uid, uid) != 0)
		return say(msg, msglen, SCAUTH_ESYSTEM, "setresuid %u: %s", (unsigned)uid,
		    strerror(errno));
	if (getresuid(&ru, &eu, &su) != 0 || getresgid(&rg, &eg, &sg) != 0 ||
	    ru != uid || eu != uid || su != uid || rg != gid || eg != gid || sg != gid)
		return say(msg, msglen, SCAUTH_ESYSTEM, "the switch to uid %u did not hold",
		    (unsigned)uid);
	if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0))
		return say(msg, msglen, SCAUTH_ESYSTEM, "root could be regained after the switch");
	umask(077);
	if (chdir("/") != 0)
		return say(msg, msglen, SCAUTH_ESYSTEM, "chdir /: %s", strerror(errno));
	return 0;
}

static void child(int fd, const char *name, uid_t uid, gid_t gid, runas_fn *fn, void *arg)
    __attribute__((noreturn));

static void
child(int fd, const char *name, uid_t uid, gid_t gid, runas_fn *fn, void *arg)
{
	struct result res;
	size_t off = 0;
	ssize_t n;

	memset(&res, 0, sizeof(res));
	res.code = become(name, uid, gid, res.msg, sizeof(res.msg));
	if (res.code == 0)
		res.code = fn(arg, res.msg, sizeof(res.msg));
	while (off < sizeof(res)) {
		if ((n = write(fd, (char *)&res + off, sizeof(res) - off)) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		off += (size_t)n;
	}
	_exit(0);
}

int
runas(const char *name, uid_t uid, gid_t gid, runas_fn *fn, void *arg, char *msg,
    size_t msglen)
{
	struct sigaction dfl, old;
	struct result res;
	size_t got = 0;
	ssize_t n;
	pid_t pid = -1;
	int fds[2] = { -1, -1 }, status, restore = 0, r;

	if (msg != NULL && msglen > 0)
		msg[0] = '\0';
	if (geteuid() == uid)
		return fn(arg, msg, msglen);
	if (geteuid() != 0)
		return say(msg, msglen, SCAUTH_ESYSTEM,
		    "cannot act as %s (uid %u) without root", name, (unsigned)uid);

	memset(&res, 0, sizeof(res));
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	if (sigaction(SIGCHLD, &dfl, &old) != 0) {
		r = say(msg, msglen, SCAUTH_ESYSTEM, "sigaction: %s", strerror(errno));
		goto out;
	}
	restore = 1;
	if (pipe2(fds, O_CLOEXEC) != 0) {
		r = say(msg, msglen, SCAUTH_ESYSTEM, "pipe: %s", strerror(errno));
		goto out;
	}
	if ((pid = fork()) < 0) {
		r = say(msg, msglen, SCAUTH_ESYSTEM, "fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		close(fds[0]);
		child(fds[1], name, uid, gid, fn, arg);
	}
	close(fds[1]);
	fds[1] = -1;
	while (got < sizeof(res)) {
		if ((n = read(fds[0], (char *)&res + got, sizeof(res) - got)) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			status = -1;
			break;
		}
	}
	if (got != sizeof(res)) {
		if (status != -1 && WIFSIGNALED(status))
			r = say(msg, msglen, SCAUTH_ESYSTEM, "the child for %s died of signal %d",
			    name, WTERMSIG(status));
		else
			r = say(msg, msglen, SCAUTH_ESYSTEM, "the child for %s gave no result",
			    name);
		goto out;
	}
	res.msg[sizeof(res.msg) - 1] = '\0';
	r = say(msg, msglen, res.code, "%s", res.msg);
 out:
	if (fds[0] >= 0)
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	if (restore)
		sigaction(SIGCHLD, &old, NULL);
	return r;
}
