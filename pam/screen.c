/*
 * screen.c - what the person at the login screen reads, sized for the real
 * login programs: the authorize URL in short lines (a greeter lays out
 * nothing that long, a console cuts nothing), a QR code only on a text
 * terminal and only when it fits there with the URL, and the wait bounded
 * by the login program's own limit (login(1)'s LOGIN_TIMEOUT), so that the
 * module never waits for a person whom the program has sent away.
 */
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <termios.h>
#include <unistd.h>

#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "module.h"

#define TTY_PATH_MAX 64         /* "/dev/" and a terminal's name */
#define DEFS_LINE_MAX 1024

/*
 * Whether PAM_TTY names a text terminal: a device under /dev ("/dev/tty1",
 * "/dev/pts/3") or such a name without "/dev/" ("tty1", "pts/3", "console",
 * as login(1) and su set it).  A display (":0", what LightDM sets), "ssh"
 * (sshd: the person's own terminal is at the other end, of a size nobody
 * here knows) or nothing are not.  path receives the device's path.
 */
static int
tty_path(const char *tty, char *path, size_t size)
{
	const char *name;

	if (tty == NULL || *tty == '\0')
		return 0;
	name = strncmp(tty, "/dev/", 5) == 0 ? tty + 5 : tty;
	if (strncmp(name, "tty", 3) != 0 && strncmp(name, "pts/", 4) != 0 &&
	    strcmp(name, "console") != 0)
		return 0;
	if (strstr(name, "..") != NULL)
		return 0;
	return snprintf(path, size, "/dev/%s", name) < (int)size;
}

/*
 * The screen of this transaction: a text terminal or not, and its size when
 * the terminal says (a framebuffer console may be larger than 80x24); a
 * terminal that cannot be asked counts as 80x24.
 */
void
screen_get(const struct call *c, struct screen *s)
{
	const void *item = NULL;
	char path[TTY_PATH_MAX];
	struct winsize ws;
	struct stat st;
	int fd;

	s->tty = 0;
	s->cols = SCREEN_COLS;
	s->rows = SCREEN_ROWS;
	if (pam_get_item(c->pamh, PAM_TTY, &item) != PAM_SUCCESS ||
	    !tty_path(item, path, sizeof(path)))
		return;
	s->tty = 1;
	if ((fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)) < 0)
		return;
	if (fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) && isatty(fd) &&
	    ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= SCREEN_COLS &&
	    ws.ws_row >= SCREEN_ROWS) {
		s->cols = ws.ws_col;
		s->rows = ws.ws_row;
	}
	close(fd);
}

/* LOGIN_TIMEOUT of login.defs(5): seconds, 0 for none, -1 when the file does not say. */
static int
login_timeout(const struct call *c)
{
	char line[DEFS_LINE_MAX], *p, *end;
	FILE *f;
	long v = -1;

	if ((f = fopen(c->o.login_defs, "re")) == NULL) {
		if (errno != ENOENT)
			pam_syslog(c->pamh, LOG_WARNING, "%s: %s", c->o.login_defs,
			    strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		p = line + strspn(line, " \t");
		if (strncmp(p, "LOGIN_TIMEOUT", 13) != 0 || (p[13] != ' ' && p[13] != '\t'))
			continue;
		p += 13 + strspn(p + 13, " \t");
		errno = 0;
		v = strtol(p, &end, 10);
		if (errno != 0 || end == p || v < 0)
			v = -1;         /* unreadable: login(1)'s default then */
		else if (v > MAX_TIMEOUT)
			v = 0;          /* longer than any wait of ours: no limit for us */
	}
	fclose(f);
	return (int)v;
}

/*
 * How long auth may wait for the login: timeout=, but below the login
 * program's own limit.  login(1) ends the whole attempt LOGIN_TIMEOUT
 * seconds after it started, which was before the user name was typed, so
 * the wait leaves it LOGIN_SLACK seconds.  The log says when that shortens it.
 */
int
wait_limit(const struct call *c, int timeout)
{
	const void *item = NULL;
	int lt, limit;

	if (pam_get_item(c->pamh, PAM_SERVICE, &item) != PAM_SUCCESS || item == NULL ||
	    strcmp(item, "login") != 0)
		return timeout;
	if ((lt = login_timeout(c)) < 0)
		lt = 60;        /* login(1)'s default */
	if (lt == 0)
		return timeout;
	limit = lt > 2 * LOGIN_SLACK ? lt - LOGIN_SLACK : lt / 2;
	if (limit < 1)
		limit = 1;
	if (limit >= timeout)
		return timeout;
	pam_syslog(c->pamh, LOG_NOTICE, "%s: login(1) gives up after LOGIN_TIMEOUT %d s (%s): "
	    "waiting at most %d s, not timeout=%d; raise LOGIN_TIMEOUT for longer", c->fn, lt,
	    c->o.login_defs, limit, timeout);
	return limit;
}

/*
 * The URL in lines of URL_COLS characters (a URL has no spaces, so nothing
 * else breaks it into lines, and no line of it ever holds one: a reader of
 * the screen joins the lines from the one starting "https://" up to the
 * first line with a space).  Returns the number of lines, or -1 if it does
 * not fit in buf.
 */
int
url_block(const char *url, char *buf, size_t size)
{
	size_t len = strlen(url), i, o = 0, n;
	int lines = 0;

	for (i = 0; i < len; i += n) {
		n = len - i < URL_COLS ? len - i : URL_COLS;
		if (o + n + 2 > size)
			return -1;
		if (lines > 0)
			buf[o++] = '\n';
		memcpy(buf + o, url + i, n);
		o += n;
		lines++;
	}
	if (o + 1 > size)
		return -1;
	buf[o] = '\0';
	return lines;
}

/* Characters (not bytes) of a line of UTF-8. */
static int
columns(const char *s, size_t n)
{
	int cols = 0;
	size_t i;

	for (i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			cols++;
	return cols;
}

/*
 * The QR code of url on a text terminal, in messages of whole rows of at
 * most MSG_MAX bytes each, when it fits on the screen with the other lines
 * that the person must read (lines of them).  *shown says whether it was
 * (not without libqrencode, nor when too big: the log says which).  Returns
 * PAM_SUCCESS or the conversation's error.
 */
int
show_qr(const struct call *c, const struct screen *s, const char *url, int lines, int *shown)
{
	char *qr = NULL, *p, *nl, *start;
	int rows = 0, cols = 0, w, r;

	*shown = 0;
	if ((r = scauth_qr_render(url, &qr)) != 0) {
		pam_syslog(c->pamh, LOG_WARNING, "no QR code: %s", scauth_strerror(r));
		return PAM_SUCCESS;
	}
	for (p = qr; *p != '\0'; p = *nl != '\0' ? nl + 1 : nl) {
		if ((nl = strchr(p, '\n')) == NULL)
			nl = p + strlen(p);
		if ((w = columns(p, nl - p)) > cols)
			cols = w;
		rows++;
	}
	if (cols > s->cols || rows + lines > s->rows) {
		pam_syslog(c->pamh, LOG_NOTICE, "%s: no QR code: its %dx%d characters and %d lines "
		    "of text do not fit the %dx%d screen", c->fn, cols, rows, lines, s->cols,
		    s->rows);
		free(qr);
		return PAM_SUCCESS;
	}
	/* Rows are cut into messages at row ends, each under the cap. */
	for (start = p = qr; *p != '\0'; p = nl) {
		nl = strchr(p, '\n');
		nl = nl != NULL ? nl + 1 : p + strlen(p);
		if (nl - start > MSG_MAX && p > start) {
			p[-1] = '\0';
			if ((r = converse(c->pamh, PAM_TEXT_INFO, start, NULL)) != PAM_SUCCESS)
				goto out;
			start = p;
		}
	}
	if (*start != '\0') {
		if (p > start && p[-1] == '\n')
			p[-1] = '\0';
		r = converse(c->pamh, PAM_TEXT_INFO, start, NULL);
	} else {
		r = PAM_SUCCESS;
	}
 out:
	free(qr);
	*shown = r == PAM_SUCCESS;
	return r;
}
