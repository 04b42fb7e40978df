/*
 * map.c - the map file parser and its rules (see map.h).
 *
 * The map decides who may log in, so it is read the way doas reads its
 * config: the file is checked on the open descriptor (owner, mode, a regular
 * file, never a link), every line is bounded and checked character by
 * character, and anything not understood is an error naming file and line
 * rather than a rule silently skipped.
 */
#include "map.h"

#include "scauth.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct rule {
	char *identity;         /* "*", a urn or a permalink */
	char *user;
	int line;               /* where it was read, for messages */
};

struct map {
	struct rule *rule;
	size_t n;
	size_t cap;
};

static int seterr(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
seterr(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}

static int
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int
is_alnum(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* soundcloud:users:N with N a number without leading zeros, as /me sends it. */
static int
urn_valid(const char *s)
{
	const char *prefix = "soundcloud:users:";
	size_t n;

	if (strncmp(s, prefix, strlen(prefix)) != 0)
		return 0;
	s += strlen(prefix);
	for (n = 0; is_digit(s[n]); n++)
		;
	return n > 0 && n <= MAP_MAX_URN_DIGITS && s[n] == '\0' && !(s[0] == '0' && n > 1);
}

/* SoundCloud permalinks are letters, digits, '_' and '-'. */
static int
permalink_valid(const char *s)
{
	size_t n;

	for (n = 0; s[n] != '\0'; n++)
		if (!is_alnum(s[n]) && s[n] != '_' && s[n] != '-')
			return 0;
	return n > 0 && n <= MAP_MAX_PERMALINK;
}

/* The portable user name set (and a trailing '$' for machine accounts). */
static int
user_valid(const char *s)
{
	size_t n;

	if (!is_alnum(s[0]) && s[0] != '_')
		return 0;
	for (n = 1; s[n] != '\0'; n++) {
		if (s[n] == '$' && s[n + 1] == '\0')
			break;
		if (!is_alnum(s[n]) && s[n] != '_' && s[n] != '.' && s[n] != '-')
			return 0;
	}
	return strlen(s) <= MAP_MAX_USER;
}

static int
add_rule(struct map *m, const char *identity, const char *user, int line)
{
	struct rule *grown;
	size_t cap;

	if (m->n == m->cap) {
		cap = m->cap ? m->cap * 2 : 8;
		if ((grown = reallocarray(m->rule, cap, sizeof(*grown))) == NULL)
			return SCAUTH_ENOMEM;
		m->rule = grown;
		m->cap = cap;
	}
	m->rule[m->n].identity = strdup(identity);
	m->rule[m->n].user = strdup(user);
	m->rule[m->n].line = line;
	if (m->rule[m->n].identity == NULL || m->rule[m->n].user == NULL) {
		free(m->rule[m->n].identity);
		free(m->rule[m->n].user);
		return SCAUTH_ENOMEM;
	}
	m->n++;
	return 0;
}

/* One line without its newline; len <= MAP_MAX_LINE. */
static int
parse_line(struct map *m, const char *text, size_t len, const char *name, int lineno,
    char *err, size_t errlen)
{
	char line[MAP_MAX_LINE + 1], *field[3], *p, *hash;
	size_t i;
	int nfields = 0;

	if (memchr(text, '\0', len) != NULL)
		return seterr(err, errlen, SCAUTH_ECONFIG, "%s:%d: NUL byte", name, lineno);
	memcpy(line, text, len);
	line[len] = '\0';
	if ((hash = strchr(line, '#')) != NULL)
		*hash = '\0';
	for (i = 0; line[i] != '\0'; i++) {
		unsigned char c = (unsigned char)line[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return seterr(err, errlen, SCAUTH_ECONFIG,
			    "%s:%d: control character 0x%02x%s", name, lineno, c,
			    c == '\r' ? " (DOS line ending?)" : "");
		if (c >= 0x80)
			return seterr(err, errlen, SCAUTH_ECONFIG,
			    "%s:%d: non-ASCII byte outside a comment", name, lineno);
	}
	for (p = line; nfields < 3; ) {
		p += strspn(p, " \t");
		if (*p == '\0')
			break;
		field[nfields++] = p;
		p += strcspn(p, " \t");
		if (*p != '\0')
			*p++ = '\0';
	}
	if (nfields == 0)
		return 0;
	if (nfields != 2)
		return seterr(err, errlen, SCAUTH_ECONFIG,
		    "%s:%d: expected two fields, IDENTITY LOCALUSER", name, lineno);
	if (strcmp(field[0], "*") != 0 && !urn_valid(field[0]) &&
	    (strchr(field[0], ':') != NULL || !permalink_valid(field[0])))
		return seterr(err, errlen, SCAUTH_ECONFIG,
		    "%s:%d: '%.64s' is not a urn (soundcloud:users:N), a permalink or '*'",
		    name, lineno, field[0]);
	if (strcmp(field[1], "*") == 0)
		return seterr(err, errlen, SCAUTH_ECONFIG,
		    "%s:%d: '*' is not allowed as the local user; name the user", name, lineno);
	if (!user_valid(field[1]))
		return seterr(err, errlen, SCAUTH_ECONFIG,
		    "%s:%d: '%.64s' is not a valid user name", name, lineno, field[1]);
	return add_rule(m, field[0], field[1], lineno);
}

int
map_parse(const char *text, size_t len, const char *name, struct map **out,
    char *err, size_t errlen)
{
	struct map *m = NULL;
	const char *nl;
	size_t pos = 0, linelen;
	int lineno = 0, r;

	*out = NULL;
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		r = SCAUTH_ENOMEM;
		goto out;
	}
	if (len > MAP_MAX_FILE) {
		r = seterr(err, errlen, SCAUTH_ECONFIG, "%s: larger than %d bytes", name,
		    MAP_MAX_FILE);
		goto out;
	}
	while (pos < len) {
		lineno++;
		nl = memchr(text + pos, '\n', len - pos);
		linelen = nl != NULL ? (size_t)(nl - (text + pos)) : len - pos;
		if (linelen > MAP_MAX_LINE) {
			r = seterr(err, errlen, SCAUTH_ECONFIG, "%s:%d: longer than %d bytes",
			    name, lineno, MAP_MAX_LINE);
			goto out;
		}
		if ((r = parse_line(m, text + pos, linelen, name, lineno, err, errlen)) != 0)
			goto out;
		pos += linelen + (nl != NULL);
	}
	*out = m;
	m = NULL;       /* transferred */
	r = 0;
 out:
	map_free(m);
	return r;
}

/* Nobody but root or us may write a directory on the way (a sticky root one is fine). */
static int
check_parents(const char *path, char *err, size_t errlen)
{
	char buf[PATH_MAX], *slash;
	struct stat st;

	if (realpath(path, buf) == NULL)
		return seterr(err, errlen, SCAUTH_ECONFIG, "%s: %s", path, strerror(errno));
	while ((slash = strrchr(buf, '/')) != NULL) {
		if (slash == buf)
			slash[1] = '\0';
		else
			*slash = '\0';
		if (stat(buf, &st) != 0)
			return seterr(err, errlen, SCAUTH_ECONFIG, "%s: %s", buf, strerror(errno));
		if ((st.st_uid != 0 && st.st_uid != geteuid()) ||
		    ((st.st_mode & 022) != 0 && !((st.st_mode & S_ISVTX) && st.st_uid == 0)))
			return seterr(err, errlen, SCAUTH_EUNSAFE,
			    "%s: directory %s may be written by others; map refused", path, buf);
		if (slash == buf)
			break;
	}
	return 0;
}

/*
 * No rule may map to uid 0 (root by any name): a SoundCloud account is no
 * way to become root, and a map that says otherwise is refused as a whole,
 * naming the line, as a malformed one is.  A user that does not exist (yet)
 * is fine.
 */
static int
check_root(const struct map *m, const char *name, char *err, size_t errlen)
{
	struct passwd pw, *found;
	char buf[4096];
	size_t i;
	int e;

	for (i = 0; i < m->n; i++) {
		found = NULL;
		if (strcmp(m->rule[i].user, "root") == 0 ||
		    ((e = getpwnam_r(m->rule[i].user, &pw, buf, sizeof(buf), &found)) == 0 &&
		    found != NULL && found->pw_uid == 0))
			return seterr(err, errlen, SCAUTH_ECONFIG,
			    "%s:%d: '%.64s' has uid 0: no SoundCloud account may log in as root",
			    name, m->rule[i].line, m->rule[i].user);
		if (found == NULL && e != 0 && e != ENOENT && e != ESRCH && e != EBADF &&
		    e != EPERM)
			return seterr(err, errlen, SCAUTH_ECONFIG, "%s:%d: looking up '%.64s': %s",
			    name, m->rule[i].line, m->rule[i].user, strerror(e));
	}
	return 0;
}

int
map_load(const char *path, struct map **out, char *err, size_t errlen)
{
	char *text = NULL;
	struct stat st;
	size_t len = 0;
	ssize_t n;
	int fd = -1, r;

	*out = NULL;
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) < 0) {
		if (errno == ENOENT) {
			r = seterr(err, errlen, MAP_MISSING, "%s: no such file", path);
			goto out;
		}
		if (errno == ELOOP) {
			r = seterr(err, errlen, SCAUTH_EUNSAFE, "%s: a symbolic link; refused",
			    path);
			goto out;
		}
		r = seterr(err, errlen, SCAUTH_ECONFIG, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) != 0) {
		r = seterr(err, errlen, SCAUTH_ECONFIG, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = seterr(err, errlen, SCAUTH_ECONFIG, "%s: not a regular file", path);
		goto out;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		r = seterr(err, errlen, SCAUTH_EUNSAFE,
		    "%s: owned by uid %u, not by root; refused", path, (unsigned)st.st_uid);
		goto out;
	}
	if ((st.st_mode & 022) != 0) {
		r = seterr(err, errlen, SCAUTH_EUNSAFE,
		    "%s: writable by group or other (mode %04o); refused", path,
		    (unsigned)(st.st_mode & 07777));
		goto out;
	}
	if ((r = check_parents(path, err, errlen)) != 0)
		goto out;
	/* One byte more than allowed, to see that the file is too large. */
	if ((text = malloc(MAP_MAX_FILE + 1)) == NULL) {
		r = SCAUTH_ENOMEM;
		goto out;
	}
	while (len <= MAP_MAX_FILE) {
		if ((n = read(fd, text + len, MAP_MAX_FILE + 1 - len)) < 0) {
			if (errno == EINTR)
				continue;
			r = seterr(err, errlen, SCAUTH_ECONFIG, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if ((r = map_parse(text, len, path, out, err, errlen)) == 0 &&
	    (r = check_root(*out, path, err, errlen)) != 0) {
		map_free(*out);
		*out = NULL;
	}
 out:
	free(text);
	if (fd >= 0)
		close(fd);
	return r;
}

size_t
map_rules(const struct map *m)
{
	return m != NULL ? m->n : 0;
}

int
map_has_user(const struct map *m, const char *user)
{
	size_t i;

	for (i = 0; m != NULL && user != NULL && i < m->n; i++)
		if (strcmp(m->rule[i].user, user) == 0)
			return 1;
	return 0;
}

int
map_allows(const struct map *m, const char *urn, const char *permalink, const char *user)
{
	const char *id;
	size_t i;

	/* What the server said is held to the same syntax as the rules. */
	if (m == NULL || user == NULL || urn == NULL || !urn_valid(urn))
		return 0;
	if (permalink != NULL && !permalink_valid(permalink))
		permalink = NULL;
	for (i = 0; i < m->n; i++) {
		if (strcmp(m->rule[i].user, user) != 0)
			continue;
		id = m->rule[i].identity;
		if (strcmp(id, "*") == 0 || strcmp(id, urn) == 0)
			return 1;
		/* permalink_valid() excludes ':', so a permalink never equals a urn rule. */
		if (permalink != NULL && strcmp(id, permalink) == 0)
			return 1;
	}
	return 0;
}

void
map_free(struct map *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->n; i++) {
		free(m->rule[i].identity);
		free(m->rule[i].user);
	}
	free(m->rule);
	free(m);
}
