/*
 * terminal.c - the helper's terminal: whether a person can answer, the
 * browser, the QR code, and hidden input with the signals it must survive.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "helper.h"

/*
 * A boolean as git's git_parse_maybe_bool() reads it: "" is false; true, yes,
 * on and false, no, off in any case; else an int (strtoimax base 0, with an
 * optional k, m or g unit) is true when not 0.  -1 for anything else.
 */
static int
git_parse_bool(const char *v)
{
	static const char *const yes[] = { "true", "yes", "on" };
	static const char *const no[] = { "false", "no", "off" };
	long long n, unit = 1;
	char *end;
	size_t i;

	if (*v == '\0')
		return 0;
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(v, yes[i]) == 0)
			return 1;
		if (strcasecmp(v, no[i]) == 0)
			return 0;
	}
	errno = 0;
	n = strtoll(v, &end, 0);
	if (errno != 0 || end == v)
		return -1;
	if (*end != '\0') {
		if (end[1] != '\0' || strchr("kKmMgG", *end) == NULL)
			return -1;
		unit = tolower((unsigned char)*end) == 'k' ? 1024 :
		    tolower((unsigned char)*end) == 'm' ? 1024 * 1024 : 1024 * 1024 * 1024;
	}
	/* git wants the value, units applied, to fit an int. */
	if (n > INT_MAX / unit || n < -(INT_MAX / unit))
		return -1;
	return n != 0;
}

/*
 * GIT_TERMINAL_PROMPT read as git's git_env_bool() reads it, so that "" and
 * "00" say no here as they do to git.  A value git cannot read makes git die
 * before it would prompt: no prompt either.
 */
static int
git_prompt_allowed(void)
{
	const char *v = getenv("GIT_TERMINAL_PROMPT");

	return v == NULL || git_parse_bool(v) == 1;
}

static int
have_display(void)
{
	return nonempty(getenv("DISPLAY")) || nonempty(getenv("WAYLAND_DISPLAY"));
}

int
open_tty(void)
{
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);

	if (fd >= 0 && !isatty(fd)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* Whether a login started from `get` has someone to answer it. */
int
person_can_answer(void)
{
	int fd;

	if (!git_prompt_allowed())
		return 0;
	if (have_display())
		return 1;
	if ((fd = open_tty()) < 0)
		return 0;
	close(fd);
	return 1;
}

/*
 * Removes every SOUNDCLOUD_* variable from the environment: the browser needs
 * none of them, and SOUNDCLOUD_CLIENT_SECRET would otherwise sit in its
 * /proc/PID/environ (and its children's) for as long as it runs.  Edits the
 * array in place rather than calling unsetenv(), which may allocate: this
 * runs in the child between fork() and exec().
 */
static void
drop_our_environment(void)
{
	char **src, **dst;

	if (environ == NULL)
		return;
	for (src = dst = environ; *src != NULL; src++) {
		if (strncmp(*src, "SOUNDCLOUD_", 11) != 0)
			*dst++ = *src;
	}
	*dst = NULL;
}

/* Whether open_browser() would start anything: $BROWSER, or xdg-open with a display. */
int
browser_available(void)
{
	return nonempty(getenv("BROWSER")) || have_display();
}

/*
 * The browser's page (scauth_login_page()) while the login waits: the
 * library removes it when the login ends, and these handlers when a signal
 * ends us first.  The names are copied before any handler is installed; the
 * handler only calls unlink(), rmdir(), sigaction() and raise().
 *
 * A wait on the phone (--relay) has no page but a pairing in the database,
 * which a handler cannot delete: the handler notes the signal, the wait
 * ends (wait_stopped()), the library deletes the pairing, and
 * unguard_page() delivers the signal.
 */
static const int page_sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
#define NPAGE_SIGS (sizeof(page_sigs) / sizeof(page_sigs[0]))
static char page_file[4352], page_dir[4352];
static struct sigaction page_old[NPAGE_SIGS];
static int page_caught[NPAGE_SIGS];
static volatile sig_atomic_t wait_signal;

static void
on_page_signal(int sig)
{
	size_t i;

	if (page_file[0] == '\0') {
		wait_signal = sig;
		return;
	}
	(void)unlink(page_file);
	(void)rmdir(page_dir);
	/* Delivered again, once we return, with the disposition it had (blocked until then). */
	for (i = 0; i < NPAGE_SIGS; i++) {
		if (page_sigs[i] == sig && page_caught[i])
			(void)sigaction(sig, &page_old[i], NULL);
	}
	(void)raise(sig);
}

/* No SA_RESTART: a wait in poll() returns at the signal. */
static void
catch_page_signals(void)
{
	struct sigaction sa;
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_page_signal;
	sigfillset(&sa.sa_mask);
	/* A signal that is ignored (nohup) stays ignored, and the page goes with the login. */
	for (i = 0; i < NPAGE_SIGS; i++)
		page_caught[i] = sigaction(page_sigs[i], NULL, &page_old[i]) == 0 &&
		    page_old[i].sa_handler != SIG_IGN &&
		    sigaction(page_sigs[i], &sa, NULL) == 0;
}

void
guard_page(const char *address)
{
	const char *path, *slash;

	if (strncmp(address, "file://", 7) != 0)
		return;
	path = address + 7;
	if ((slash = strrchr(path, '/')) == NULL || slash == path ||
	    strlen(path) >= sizeof(page_file))
		return;
	memcpy(page_file, path, strlen(path) + 1);
	memcpy(page_dir, path, (size_t)(slash - path));
	page_dir[slash - path] = '\0';
	catch_page_signals();
}

void
guard_wait(void)
{
	page_file[0] = '\0';
	wait_signal = 0;
	catch_page_signals();
}

int
wait_stopped(void *arg)
{
	(void)arg;
	return wait_signal != 0;
}

void
unguard_page(void)
{
	size_t i;

	for (i = 0; i < NPAGE_SIGS; i++) {
		if (page_caught[i])
			(void)sigaction(page_sigs[i], &page_old[i], NULL);
		page_caught[i] = 0;
	}
	page_file[0] = '\0';
	page_dir[0] = '\0';
	/* Blocked no longer, with the disposition it had: a default one ends us here. */
	if (wait_signal != 0)
		(void)raise(wait_signal);
	wait_signal = 0;
}

/*
 * Starts $BROWSER (a shell command that may hold arguments; the URL is its
 * last one) or xdg-open when a display is present, and does not wait for it.
 * Its stdin and stdout are /dev/null: under `get` our stdout is git's pipe.
 * Returns the child's pid, or -1 when none was started.
 */
pid_t
open_browser(const char *url)
{
	const char *browser = getenv("BROWSER");
	pid_t pid;
	int fd;

	if (!browser_available())
		return -1;
	if ((pid = fork()) < 0) {
		fprintf(stderr, PROG ": cannot start a browser: %s\n", strerror(errno));
		return -1;
	}
	if (pid > 0)
		return pid;
	/*
	 * A session of its own: Ctrl-C on the terminal while we wait for the
	 * redirect stops the login, not the browser the person is using.
	 */
	(void)setsid();
	/* A browser holding git's stdout would keep git waiting until it exits. */
	if ((fd = open("/dev/null", O_RDWR)) < 0 ||
	    dup2(fd, STDIN_FILENO) < 0 || dup2(fd, STDOUT_FILENO) < 0)
		_exit(127);
	/* Neither the listener's socket nor anything else of ours goes along. */
	closefrom(STDERR_FILENO + 1);
	drop_our_environment();
	if (nonempty(browser))
		execl("/bin/sh", "sh", "-c", "exec $BROWSER \"$1\"", "sh", url, (char *)NULL);
	else
		execlp("xdg-open", "xdg-open", url, (char *)NULL);
	_exit(127);
}

/* Reaps the browser if it is done; a browser still running is left alone. */
void
reap_browser(pid_t pid)
{
	if (pid > 0)
		(void)waitpid(pid, NULL, WNOHANG);
}

void
show_qr(const char *url)
{
	char *qr = NULL;

	/* Without libqrencode there is simply no QR code. */
	if (scauth_qr_render(url, &qr) == SCAUTH_OK) {
		fputs(qr, stderr);
		free(qr);
	}
}

/*
 * Signals that end or stop us while echo is off.  As readpassphrase(3) does,
 * each is caught only to restore the terminal first and is then delivered
 * again with the disposition it had; one that was ignored (nohup ignores
 * SIGHUP) is left ignored.
 */
static const int hidden_sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP, SIGTTIN, SIGTTOU };
#define NHIDDEN_SIGS (sizeof(hidden_sigs) / sizeof(hidden_sigs[0]))

/* The signal that interrupted a hidden read. */
static volatile sig_atomic_t got_signal;

static void
on_signal(int sig)
{
	got_signal = sig;
}

static void
catch_signals(struct sigaction *old, int *caught)
{
	struct sigaction sa;
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;      /* no SA_RESTART: read() must return */
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < NHIDDEN_SIGS; i++) {
		caught[i] = sigaction(hidden_sigs[i], NULL, &old[i]) == 0 &&
		    old[i].sa_handler != SIG_IGN &&
		    sigaction(hidden_sigs[i], &sa, NULL) == 0;
	}
}

static void
release_signals(const struct sigaction *old, const int *caught)
{
	size_t i;

	for (i = 0; i < NHIDDEN_SIGS; i++) {
		if (caught[i])
			(void)sigaction(hidden_sigs[i], &old[i], NULL);
	}
}

/*
 * Reads up to a newline into buf (NUL-terminated, newline dropped).  Returns
 * the length, -1 on error or once a caught signal arrived (also one that came
 * before the read: it is not left waiting for Enter), -2 when the line does
 * not fit.
 */
static ssize_t
read_line(int fd, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t n;
	char *nl;

	for (;;) {
		if (got_signal)
			return -1;
		if (len + 1 >= size)
			return -2;
		n = read(fd, buf + len, size - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		if ((nl = memchr(buf + len, '\n', (size_t)n)) != NULL) {
			len = (size_t)(nl - buf);
			break;
		}
		len += (size_t)n;
	}
	buf[len] = '\0';
	return (ssize_t)len;
}

/* Writes the prompt, giving up once a caught signal arrived (cred_write_all() retries). */
static void
write_prompt(int fd, const char *prompt)
{
	size_t len = strlen(prompt);
	ssize_t n;

	while (len > 0 && !got_signal) {
		if ((n = write(fd, prompt, len)) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		prompt += n;
		len -= (size_t)n;
	}
}

/*
 * Reads one line from fd into buf (NUL-terminated, newline dropped).  On a
 * terminal, echo goes off first and then the prompt is shown, so that
 * nothing typed after the prompt is echoed: a code is a secret.  Ctrl-Z (or
 * a background read or write) restores the terminal and stops us; once
 * continued, echo goes off again and the line starts over.  Returns its
 * length, -1 on error or interruption (after restoring the terminal and
 * re-raising the signal), -2 when the line does not fit.
 */
ssize_t
read_hidden_line(int fd, const char *prompt, char *buf, size_t size)
{
	struct sigaction old[NHIDDEN_SIGS];
	int caught[NHIDDEN_SIGS], hidden, sig;
	struct termios saved, quiet;
	ssize_t r;

	for (;;) {
		got_signal = 0;
		catch_signals(old, caught);
		hidden = 0;
		if (isatty(fd) && tcgetattr(fd, &saved) == 0) {
			quiet = saved;
			quiet.c_lflag &= ~(tcflag_t)ECHO;
			quiet.c_lflag |= ECHONL;
			hidden = tcsetattr(fd, TCSAFLUSH, &quiet) == 0;
			write_prompt(fd, prompt);
		}
		r = read_line(fd, buf, size);
		if (hidden)
			(void)tcsetattr(fd, TCSAFLUSH, &saved);
		release_signals(old, caught);
		if (r < 0)
			scauth_wipe(buf, size);
		if ((sig = got_signal) == 0)
			break;
		/* Now with the terminal as it was: die, or stop until continued. */
		raise(sig);
		if (sig != SIGTSTP && sig != SIGTTIN && sig != SIGTTOU)
			break;
	}
	return r;
}
