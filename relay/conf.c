/*
 * conf.c - the relay's config file: the INI syntax of soundcloud-auth.conf
 * (lib/config.c's parser), top-level keys only.  It names the database, the
 * app's client_id and the relay's own callback; it holds no secret (a
 * database password belongs in libpq's passfile).
 */
#include "relay.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char **
conf_field(struct relay_conf *c, const char *key)
{
	static const char *const keys[] = { "postgres", "client_id", "redirect_uri",
	    "authorize_url", "scope" };
	char **fields[] = { &c->postgres, &c->client_id, &c->redirect_uri, &c->authorize_url,
	    &c->scope };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(keys); i++)
		if (strcmp(key, keys[i]) == 0)
			return fields[i];
	return NULL;
}

struct conf_parse {
	struct relay_conf *c;
	char why[160];
};

static int
conf_line(void *arg, const char *key, const char *value, int in_profile, int lineno)
{
	struct conf_parse *cp = arg;
	char **f;

	if (in_profile != 0)
		snprintf(cp->why, sizeof(cp->why), "line %d: the relay's config has no sections",
		    lineno);
	else if ((f = conf_field(cp->c, key)) == NULL)
		snprintf(cp->why, sizeof(cp->why), "line %d: unknown key '%.40s' (the relay reads "
		    "postgres, client_id, redirect_uri, authorize_url, scope)", lineno, key);
	else if (*f != NULL)
		snprintf(cp->why, sizeof(cp->why), "line %d: %s given twice", lineno, key);
	else
		return (*f = strdup(value)) != NULL ? 0 : SCAUTH_ENOMEM;
	return SCAUTH_ECONFIG;
}

/* An https URL of the strict subset (lib/url.c); its path to *path if wanted. */
static int
https_url(const char *s, char **path)
{
	struct url u;
	int ok;

	if (url_parse(s, &u) != 0)
		return 0;
	ok = strcmp(u.scheme, "https") == 0;
	if (ok && path != NULL)
		ok = u.query == NULL && (*path = strdup(u.path)) != NULL;
	url_free(&u);
	return ok;
}

/* Visible ASCII, no blanks: what goes into the authorize URL as it is. */
static int
visible_str(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return 0;
	return 1;
}

static int
conf_check(struct relay_conf *c, char *err, size_t errlen)
{
	const char *why = NULL;

	if (c->postgres == NULL || *c->postgres == '\0')
		why = "postgres: not set; it names the fleet's database";
	else if (c->client_id == NULL || *c->client_id == '\0' || !visible_str(c->client_id))
		why = "client_id: not set, or not printable";
	else if (c->redirect_uri == NULL ||
	    !https_url(c->redirect_uri, &c->callback_path))
		why = "redirect_uri: not set, or not an https URL without a query";
	else if (c->authorize_url != NULL && !https_url(c->authorize_url, NULL))
		why = "authorize_url: not an https URL";
	else if (c->authorize_url == NULL &&
	    (c->authorize_url = strdup(RELAY_AUTHORIZE_DEFAULT)) == NULL)
		why = "out of memory";
	else if (c->scope == NULL && (c->scope = strdup("")) == NULL)
		why = "out of memory";
	if (why == NULL)
		return 0;
	snprintf(err, errlen, "%s", why);
	return -1;
}

int
relay_conf_parse(const char *text, size_t len, struct relay_conf *c, char *err, size_t errlen)
{
	struct conf_parse cp = { c, "" };
	char why[200];
	int r;

	memset(c, 0, sizeof(*c));
	if ((r = config_parse(text, len, NULL, conf_line, &cp, why, sizeof(why))) != 0) {
		snprintf(err, errlen, "%s", cp.why[0] != '\0' ? cp.why : why[0] != '\0' ? why :
		    r == SCAUTH_ENOMEM ? "out of memory" : "unreadable");
		goto bad;
	}
	if (conf_check(c, err, errlen) != 0)
		goto bad;
	return 0;
 bad:
	relay_conf_free(c);
	return -1;
}

int
relay_conf_load(const char *path, struct relay_conf *c, char *err, size_t errlen)
{
	struct sbuf text = SBUF_INIT(MAX_CONFIG_FILE);
	char buf[4096];
	struct stat st;
	ssize_t n;
	int fd, r = -1;

	memset(c, 0, sizeof(*c));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	/* What the web server's user could change would send phones elsewhere. */
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (st.st_uid != 0 && st.st_uid != geteuid()) || (st.st_mode & 022) != 0) {
		snprintf(err, errlen, "%s: not a regular file owned by root (or the relay's user) "
		    "and writable by its owner only", path);
		goto out;
	}
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || sbuf_add(&text, buf, (size_t)n) != 0) {
			snprintf(err, errlen, "%s: unreadable or larger than %d bytes", path,
			    MAX_CONFIG_FILE);
			goto out;
		}
	}
	if ((r = relay_conf_parse(sbuf_str(&text), text.len, c, buf, sizeof(buf))) != 0)
		snprintf(err, errlen, "%s: %s", path, buf);
 out:
	sbuf_free(&text);
	close(fd);
	return r;
}

void
relay_conf_free(struct relay_conf *c)
{
	free(c->postgres);
	free(c->client_id);
	free(c->redirect_uri);
	free(c->callback_path);
	free(c->authorize_url);
	free(c->scope);
	memset(c, 0, sizeof(*c));
}
