/*
 * runas.c - run a piece of work as another user in a child process (runas.h).
 *
 * The child never returns into the application: it reports over a pipe and
 * leaves with _exit(), so no atexit handler or stdio buffer of the
 * application runs twice.  The parent waits for exactly its own child, by a
 * pidfd, and not for ever: a child stuck (say on a network that never
 * answers) is killed, so that a login or logout cannot hang on it.  The
 * application's signal dispositions are never touched: its SIGCHLD handler
 * may reap our child too, which costs us nothing but the exit status, since
 * the result comes over the pipe.
 */
#include "runas.h"

#include "scauth.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

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

/*
 * The application's signal handlers and mask are not the child's: a handler
 * that (say) writes to the application's log or reaps children would run in
 * a process that is now the user's.  glibc's own signals refuse a new
 * action; that is fine.
 */
static void
reset_signals(void)
{
	struct sigaction dfl;
	sigset_t none;
	int sig;

	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	for (sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			(void)sigaction(sig, &dfl, NULL);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
}

/*
 * After the switch, which resets both: the user may not ptrace or dump this
 * process (it holds tokens, and a copy of the module's memory), and it goes
 * when its parent does, rather than finishing unseen.
 */
static int
isolate(pid_t parent, char *msg, size_t msglen)
{
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		return say(msg, msglen, SCAUTH_ESYSTEM, "PR_SET_DUMPABLE: %s", strerror(errno));
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0)
		return say(msg, msglen, SCAUTH_ESYSTEM, "PR_SET_PDEATHSIG: %s", strerror(errno));
	/* The parent may have died before the setting took: nobody waits for us then. */
	if (getppid() != parent)
		_exit(0);
	return 0;
}

/* Closes every descriptor from lo up, by close_range() where the kernel has it. */
static void
close_from(int lo, int hi)
{
	long max;
	int fd;

	if (lo > hi)
		return;
	if (syscall(SYS_close_range, (unsigned)lo, (unsigned)hi, 0u) == 0)
		return;
	max = sysconf(_SC_OPEN_MAX);
	if (max < 0 || max > 1 << 20)
		max = 1 << 20;
	for (fd = lo; fd <= hi && fd < max; fd++)
		(void)close(fd);
}

/*
 * The application's descriptors are not the user's: a root-only file, a
 * socket of a daemon, a database connection.  As OpenSSH does before it runs
 * anything for a user, all above stderr go, but the result pipe.  stdin and
 * stdout become /dev/null (the work reads no terminal and a PAM module never
 * writes to stdout); stderr stays where the application collects diagnostics.
 */
static int
close_inherited(int keep, char *msg, size_t msglen)
{
	int null;

	if ((null = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
		return say(msg, msglen, SCAUTH_ESYSTEM, "/dev/null: %s", strerror(errno));
	if (dup2(null, 0) < 0 || dup2(null, 1) < 0)
		return say(msg, msglen, SCAUTH_ESYSTEM, "dup2: %s", strerror(errno));
	if (keep > 2) {
		close_from(3, keep - 1);
		close_from(keep + 1, INT_MAX);
	} else
		close_from(3, INT_MAX);
	return 0;
}

static void child(int fd, int go, pid_t parent, const char *name, uid_t uid, gid_t gid,
    runas_fn *fn, void *arg) __attribute__((noreturn));

static void
child(int fd, int go, pid_t parent, const char *name, uid_t uid, gid_t gid, runas_fn *fn,
    void *arg)
{
	struct result res;
	size_t off = 0;
	ssize_t n;
	char c;

	reset_signals();
	/* Nothing happens before the parent holds a pidfd of this process. */
	while ((n = read(go, &c, 1)) < 0 && errno == EINTR)
		;
	if (n != 1)
		_exit(0);
	memset(&res, 0, sizeof(res));
	res.code = close_inherited(fd, res.msg, sizeof(res.msg));
	if (res.code == 0)
		res.code = become(name, uid, gid, res.msg, sizeof(res.msg));
	if (res.code == 0)
		res.code = isolate(parent, res.msg, sizeof(res.msg));
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

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Reads the child's result until it is complete, the child closed the pipe,
 * or the deadline passed.  Returns the bytes read, or -1 at the deadline.
 */
static ssize_t
read_result(int fd, struct result *res, int64_t deadline)
{
	struct pollfd pfd;
	size_t got = 0;
	int64_t left;
	ssize_t n;
	int p;

	while (got < sizeof(*res)) {
		if ((left = deadline - now_ms()) <= 0)
			return -1;
		pfd.fd = fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		if ((p = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left)) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p == 0)
			continue;       /* the deadline is checked above */
		if ((n = read(fd, (char *)res + got, sizeof(*res) - got)) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			break;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* Kills the child by its pidfd (it cannot be another process), else by its pid. */
static void
stop_child(int pidfd, pid_t pid)
{
	if (pidfd < 0 || syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0u) != 0)
		(void)kill(pid, SIGKILL);
}

/*
 * Waits for the child to end.  The application may reap it first (a SIGCHLD
 * handler that waits for any child, or SIGCHLD ignored): ECHILD then, and no
 * status.  Returns the wait status, or -1 when there is none.
 */
static int
wait_child(int pidfd, pid_t pid)
{
	siginfo_t si;
	int r;

	for (;;) {
		memset(&si, 0, sizeof(si));
		if (pidfd >= 0)
			r = waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED);
		else
			r = waitid(P_PID, (id_t)pid, &si, WEXITED);
		if (r == 0)
			break;
		if (errno != EINTR)
			return -1;
	}
	if (si.si_code == CLD_EXITED)
		return (si.si_status & 0xff) << 8;
	return si.si_status & 0x7f;     /* killed: as WTERMSIG() reads it */
}

int
runas(const char *name, uid_t uid, gid_t gid, int timeout, runas_fn *fn, void *arg, char *msg,
    size_t msglen)
{
	struct result res;
	ssize_t got = 0;
	pid_t pid = -1, parent;
	int fds[2] = { -1, -1 }, go[2] = { -1, -1 }, pidfd = -1, status, r;

	if (msg != NULL && msglen > 0)
		msg[0] = '\0';
	if (geteuid() == uid)
		return fn(arg, msg, msglen);
	if (geteuid() != 0)
		return say(msg, msglen, SCAUTH_ESYSTEM,
		    "cannot act as %s (uid %u) without root", name, (unsigned)uid);
	if (timeout < 1)
		timeout = 1;

	memset(&res, 0, sizeof(res));
	if (pipe2(fds, O_CLOEXEC) != 0 || pipe2(go, O_CLOEXEC) != 0) {
		r = say(msg, msglen, SCAUTH_ESYSTEM, "pipe: %s", strerror(errno));
		goto out;
	}
	parent = getpid();
	if ((pid = fork()) < 0) {
		r = say(msg, msglen, SCAUTH_ESYSTEM, "fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		close(fds[0]);
		close(go[1]);
		child(fds[1], go[0], parent, name, uid, gid, fn, arg);
	}
	close(fds[1]);
	fds[1] = -1;
	close(go[0]);
	go[0] = -1;
	/*
	 * The child waits for the go below, so it is alive and the pid is still
	 * its own when the pidfd is taken.  Without pidfds (Linux < 5.3) the pid
	 * serves, as long as the application does not reap it.
	 */
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0u);
	if (write(go[1], "", 1) != 1) {
		stop_child(pidfd, pid);
		(void)wait_child(pidfd, pid);
		r = say(msg, msglen, SCAUTH_ESYSTEM, "cannot start the child for %s: %s", name,
		    strerror(errno));
		goto out;
	}
	if ((got = read_result(fds[0], &res, now_ms() + (int64_t)timeout * 1000)) < 0)
		stop_child(pidfd, pid);
	status = wait_child(pidfd, pid);
	if (got < 0) {
		r = say(msg, msglen, SCAUTH_ETIMEOUT, "the work as %s did not finish within %d "
		    "seconds; stopped", name, timeout);
		goto out;
	}
	if ((size_t)got != sizeof(res)) {
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
	if (go[0] >= 0)
		close(go[0]);
	if (go[1] >= 0)
		close(go[1]);
	if (pidfd >= 0)
		close(pidfd);
	return r;
}
