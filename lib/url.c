/*
 * url.c - the strict subset of URLs that configuration may name.
 *
 * Endpoints and the redirect URI come from configuration files; a URL that
 * carries credentials, a fragment or anything odd is refused outright rather
 * than interpreted, so that what we send and where is never in doubt.
 */
#include "internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

void
url_free(struct url *u)
{
	free(u->scheme);
	free(u->host);
	free(u->port);
	free(u->path);
	free(u->query);
	memset(u, 0, sizeof(*u));
}

static int
host_char(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '.' || c == '_';
}

int
url_parse(const char *s, struct url *u)
{
	const char *p, *hs, *he, *ps = NULL, *pe = NULL, *rest;
	size_t i;
	long port;

	memset(u, 0, sizeof(*u));
	if (s == NULL)
		return SCAUTH_EINVAL;
	for (p = s; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f || *p == '#')
			return SCAUTH_EINVAL;
	if (strncasecmp(s, "https://", 8) == 0) {
		u->scheme = strdup("https");
		p = s + 8;
	} else if (strncasecmp(s, "http://", 7) == 0) {
		u->scheme = strdup("http");
		p = s + 7;
	} else
		return SCAUTH_EINVAL;
	if (u->scheme == NULL)
		goto nomem;

	if (*p == '[') {
		hs = p + 1;
		if ((he = strchr(hs, ']')) == NULL || he == hs)
			goto bad;
		for (i = 0; hs + i < he; i++)
			if (!isxdigit((unsigned char)hs[i]) && hs[i] != ':' && hs[i] != '.')
				goto bad;
		u->ipv6 = 1;
		rest = he + 1;
	} else {
		hs = p;
		for (he = hs; host_char((unsigned char)*he); he++)
			;
		if (he == hs)
			goto bad;
		rest = he;
	}
	if (*rest == ':') {
		ps = rest + 1;
		for (pe = ps; isdigit((unsigned char)*pe); pe++)
			;
		if (pe == ps || pe - ps > 5)
			goto bad;
		port = strtol(ps, NULL, 10);
		if (port < 1 || port > 65535)
			goto bad;
		rest = pe;
	}
	/* Anything else here ('@' of userinfo, '\\', ...) is refused. */
	if (*rest != '\0' && *rest != '/' && *rest != '?')
		goto bad;

	if ((u->host = strndup(hs, (size_t)(he - hs))) == NULL)
		goto nomem;
	for (i = 0; u->host[i] != '\0'; i++)
		u->host[i] = (char)tolower((unsigned char)u->host[i]);
	if (ps != NULL && (u->port = strndup(ps, (size_t)(pe - ps))) == NULL)
		goto nomem;
	if (*rest == '/') {
		p = strchr(rest, '?');
		u->path = p ? strndup(rest, (size_t)(p - rest)) : strdup(rest);
		rest = p ? p : "";
	} else
		u->path = strdup("/");
	if (u->path == NULL)
		goto nomem;
	if (*rest == '?' && (u->query = strdup(rest + 1)) == NULL)
		goto nomem;
	return SCAUTH_OK;
 nomem:
	url_free(u);
	return SCAUTH_ENOMEM;
 bad:
	url_free(u);
	return SCAUTH_EINVAL;
}
