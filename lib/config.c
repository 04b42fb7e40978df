/*
 * config.c - where each setting comes from.
 *
 * Sources, first found wins per key: the command line (scauth_ctx_set), the
 * environment, the --config file, $XDG_CONFIG_HOME/soundcloud-auth/config,
 * /etc/soundcloud-auth.conf.  Inside one file a [profile NAME] section wins
 * over the top level.  A file is trusted only if its owner is the caller or
 * root and nobody else may write it; a file that holds client_secret must not
 * be readable by group or other either (doas and OpenSSH refuse the same).
 */
#include "internal.h"
#include "store.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define SYSTEM_CONFIG "/etc/soundcloud-auth.conf"

static const struct {
	const char *name;
	const char *env;          /* NULL: no environment variable */
	const char *def;          /* NULL: unset by default */
} keys[CFG_NKEYS] = {
	[CFG_CLIENT_ID] = { "client_id", "SOUNDCLOUD_CLIENT_ID", NULL },
	[CFG_CLIENT_SECRET] = { "client_secret", "SOUNDCLOUD_CLIENT_SECRET", NULL },
	[CFG_CLIENT_SECRET_FILE] = { "client_secret_file", "SOUNDCLOUD_AUTH_CLIENT_SECRET_FILE", NULL },
	[CFG_REDIRECT_URI] = { "redirect_uri", "SOUNDCLOUD_AUTH_REDIRECT_URI",
	    "http://127.0.0.1:8765/callback" },
	[CFG_SCOPE] = { "scope", "SOUNDCLOUD_AUTH_SCOPE", "" },
	[CFG_AUTHORIZE_URL] = { "authorize_url", "SOUNDCLOUD_AUTH_AUTHORIZE_URL",
	    "https://secure.soundcloud.com/authorize" },
	[CFG_TOKEN_URL] = { "token_url", "SOUNDCLOUD_AUTH_TOKEN_URL",
	    "https://secure.soundcloud.com/oauth/token" },
	[CFG_SIGNOUT_URL] = { "signout_url", "SOUNDCLOUD_AUTH_SIGNOUT_URL",
	    "https://secure.soundcloud.com/sign-out" },
	[CFG_API_URL] = { "api_url", "SOUNDCLOUD_AUTH_API_URL", "https://api.soundcloud.com" },
	[CFG_ISSUER] = { "issuer", "SOUNDCLOUD_AUTH_ISSUER", NULL },
	[CFG_CA_FILE] = { "ca_file", "SOUNDCLOUD_AUTH_CA_FILE", NULL },
	[CFG_STORE] = { "store", "SOUNDCLOUD_AUTH_STORE", "file" },
	[CFG_KEYRING] = { "keyring", "SOUNDCLOUD_AUTH_KEYRING", "user" },
	[CFG_REFRESH_MARGIN] = { "refresh_margin", "SOUNDCLOUD_AUTH_REFRESH_MARGIN", "300" },
	[CFG_TIMEOUT] = { "timeout", "SOUNDCLOUD_AUTH_TIMEOUT", "30" },
	[CFG_POSTGRES] = { "postgres", "SOUNDCLOUD_AUTH_POSTGRES", NULL },
	[CFG_SEAL_KEY_FILE] = { "seal_key_file", "SOUNDCLOUD_AUTH_SEAL_KEY_FILE", NULL },
	[CFG_POSTGRES_CONNECT_TIMEOUT] = { "postgres_connect_timeout",
	    "SOUNDCLOUD_AUTH_POSTGRES_CONNECT_TIMEOUT", "10" },
	[CFG_POSTGRES_TIMEOUT] = { "postgres_timeout", "SOUNDCLOUD_AUTH_POSTGRES_TIMEOUT", "10" },
	[CFG_POSTGRES_LOCK_TIMEOUT] = { "postgres_lock_timeout",
	    "SOUNDCLOUD_AUTH_POSTGRES_LOCK_TIMEOUT", NULL },
	[CFG_RELAY_URL] = { "relay_url", "SOUNDCLOUD_AUTH_RELAY_URL", NULL },
};

int
cfg_key_index(const char *name)
{
	int i;

	for (i = 0; i < CFG_NKEYS; i++)
		if (strcmp(keys[i].name, name) == 0)
			return i;
	return -1;
}

/* ------------------------------------------------------------------------ */
/* The INI parser: pure, bounded, fuzzed. */

static char *
trim(char *s, char **end)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	if (end != NULL)
		*end = e;
	return s;
}

int
config_parse(const char *text, size_t len, const char *profile, cfg_line_fn *cb, void *arg,
    char *err, size_t errlen)
{
	struct sbuf line = SBUF_INIT(4096);
	const char *p = text, *endtext = text + len, *nl;
	char *s, *e, *key, *val, *name;
	int lineno = 0, in_profile = 0, r = SCAUTH_OK;

	if (errlen > 0)
		err[0] = '\0';
	while (p < endtext) {
		lineno++;
		if ((nl = memchr(p, '\n', (size_t)(endtext - p))) == NULL)
			nl = endtext;
		sbuf_reset(&line);
		if (memchr(p, '\0', (size_t)(nl - p)) != NULL) {
			snprintf(err, errlen, "line %d: NUL byte", lineno);
			r = SCAUTH_ECONFIG;
			goto out;
		}
		if (sbuf_add(&line, p, (size_t)(nl - p)) != 0) {
			snprintf(err, errlen, "line %d: longer than 4096 bytes", lineno);
			r = SCAUTH_ECONFIG;
			goto out;
		}
		p = nl + 1;
		if (line.len > 0 && line.p[line.len - 1] == '\r')
			line.p[--line.len] = '\0';
		s = trim(line.p, &e);    /* sbuf_add() always allocates */
		if (*s == '\0' || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			if (e[-1] != ']') {
				snprintf(err, errlen, "line %d: section header without ']'", lineno);
				r = SCAUTH_ECONFIG;
				goto out;
			}
			e[-1] = '\0';
			s = trim(s + 1, NULL);
			if (strncmp(s, "profile", 7) != 0 || (s[7] != ' ' && s[7] != '\t')) {
				snprintf(err, errlen, "line %d: unknown section (expected [profile NAME])",
				    lineno);
				r = SCAUTH_ECONFIG;
				goto out;
			}
			name = trim(s + 8, NULL);
			if (!profile_valid(name)) {
				snprintf(err, errlen, "line %d: invalid profile name", lineno);
				r = SCAUTH_ECONFIG;
				goto out;
			}
			in_profile = profile != NULL && strcmp(name, profile) == 0 ? 1 : -1;
			continue;
		}
		if ((val = strchr(s, '=')) == NULL) {
			snprintf(err, errlen, "line %d: expected 'key = value'", lineno);
			r = SCAUTH_ECONFIG;
			goto out;
		}
		*val++ = '\0';
		key = trim(s, NULL);
		val = trim(val, &e);
		/* Quotes keep leading or trailing blanks of a value; nothing is escaped. */
		if (e - val >= 2 && val[0] == '"' && e[-1] == '"') {
			e[-1] = '\0';
			val++;
		}
		if (cfg_key_index(key) < 0) {
			/* Quote the key only if it looks like one: the line may hold a secret. */
			if (*key != '\0' && strspn(key, "abcdefghijklmnopqrstuvwxyz_") == strlen(key) &&
			    strlen(key) <= 40)
				snprintf(err, errlen, "line %d: unknown key '%s'", lineno, key);
			else
				snprintf(err, errlen, "line %d: expected 'key = value' with a key "
				    "of lower-case letters and '_'", lineno);
			r = SCAUTH_ECONFIG;
			goto out;
		}
		if ((r = cb(arg, key, val, in_profile, lineno)) != 0)
			goto out;
	}
 out:
	sbuf_free(&line);
	return r;
}

/* ------------------------------------------------------------------------ */
/* Files. */

struct file_values {
	char *top[CFG_NKEYS];
	char *prof[CFG_NKEYS];
	int has_secret;
};

static void
file_values_free(struct file_values *fv)
{
	int i;

	for (i = 0; i < CFG_NKEYS; i++) {
		sfree(fv->top[i]);
		sfree(fv->prof[i]);
	}
}

static int
collect(void *arg, const char *key, const char *value, int in_profile, int lineno)
{
	struct file_values *fv = arg;
	int k = cfg_key_index(key);
	char **slot = in_profile > 0 ? &fv->prof[k] : &fv->top[k];

	/* Any profile's secret makes the file one that others must not read. */
	if (k == CFG_CLIENT_SECRET)
		fv->has_secret = 1;
	if (in_profile < 0)
		return SCAUTH_OK;       /* another profile's section */
	sfree(*slot);   /* a later line in the same place wins, as in git config */
	if ((*slot = sstrdup(value)) == NULL)
		return SCAUTH_ENOMEM;
	return SCAUTH_OK;
}

/* The path's directories must not be writable by anyone but root or us. */
static int
check_parents(scauth_ctx *ctx, const char *path)
{
	char buf[PATH_MAX], *slash;
	struct stat st;

	if (realpath(path, buf) == NULL)
		return ctx_errno(ctx, SCAUTH_ECONFIG, "%s", path);
	while ((slash = strrchr(buf, '/')) != NULL) {
		if (slash == buf)
			slash[1] = '\0';
		else
			*slash = '\0';
		if (stat(buf, &st) != 0)
			return ctx_errno(ctx, SCAUTH_ECONFIG, "%s", buf);
		if ((st.st_uid != 0 && st.st_uid != geteuid()) ||
		    ((st.st_mode & 022) != 0 && !((st.st_mode & S_ISVTX) && st.st_uid == 0)))
			return ctx_err(ctx, SCAUTH_EUNSAFE,
			    "%s: directory %s is writable by others; config refused", path, buf);
		if (slash == buf)
			break;
	}
	return SCAUTH_OK;
}

/*
 * Reads and parses one config file into fv.  Missing files are fine unless
 * required.  Returns SCAUTH_OK, or an error with the path in the detail.
 */
static int
read_config(scauth_ctx *ctx, const char *path, int required, struct file_values *fv)
{
	struct sbuf text = SBUF_INIT(MAX_CONFIG_FILE);
	char buf[4096], why[200];
	struct stat st;
	ssize_t n;
	int fd, r;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) < 0) {
		if (errno == ENOENT && !required)
			return SCAUTH_OK;
		return ctx_errno(ctx, SCAUTH_ECONFIG, "cannot open config %s", path);
	}
	if (fstat(fd, &st) != 0) {
		r = ctx_errno(ctx, SCAUTH_ECONFIG, "%s", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = ctx_err(ctx, SCAUTH_ECONFIG, "%s: not a regular file", path);
		goto out;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		r = ctx_err(ctx, SCAUTH_EUNSAFE, "%s: owned by uid %u, not by you or root; refused",
		    path, (unsigned)st.st_uid);
		goto out;
	}
	if ((st.st_mode & 022) != 0) {
		r = ctx_err(ctx, SCAUTH_EUNSAFE,
		    "%s: writable by group or other (mode %04o); run chmod go-w on it",
		    path, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	if ((ctx->flags & SCAUTH_CTX_ROOT_CONFIG) && (r = check_parents(ctx, path)) != 0)
		goto out;
	for (;;) {
		if ((n = read(fd, buf, sizeof(buf))) < 0) {
			if (errno == EINTR)
				continue;
			r = ctx_errno(ctx, SCAUTH_ECONFIG, "cannot read %s", path);
			goto out;
		}
		if (n == 0)
			break;
		if (sbuf_add(&text, buf, (size_t)n) != 0) {
			r = ctx_err(ctx, SCAUTH_ECONFIG, "%s: larger than %d bytes", path,
			    MAX_CONFIG_FILE);
			goto out;
		}
	}
	if ((r = config_parse(sbuf_str(&text), text.len, ctx->profile, collect, fv, why,
	    sizeof(why))) != 0) {
		if (r == SCAUTH_ECONFIG)
			ctx_err(ctx, r, "%s: %s", path, why);
		goto out;
	}
	if (fv->has_secret && (st.st_mode & 044) != 0) {
		r = ctx_err(ctx, SCAUTH_EUNSAFE,
		    "%s: holds client_secret but is readable by group or other (mode %04o); "
		    "run chmod 600 on it", path, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	r = SCAUTH_OK;
 out:
	scauth_wipe(buf, sizeof(buf));
	sbuf_free(&text);
	close(fd);
	return r;
}

/* ------------------------------------------------------------------------ */
/* Resolution. */

static const char *
env(const scauth_ctx *ctx, const char *name)
{
	const char *v;

	if (ctx->flags & SCAUTH_CTX_NO_ENV)
		return NULL;
	v = secure_getenv(name);
	return v != NULL && *v != '\0' ? v : NULL;
}

static int
resolve_home(scauth_ctx *ctx, char **home)
{
	const char *h = ctx->opt[SCAUTH_OPT_HOME];
	struct passwd *pw;

	if (h == NULL)
		h = env(ctx, "HOME");
	if (h == NULL && (pw = getpwuid(geteuid())) != NULL)
		h = pw->pw_dir;
	if (h == NULL || h[0] != '/')
		return ctx_err(ctx, SCAUTH_ECONFIG, "cannot find the home directory");
	if ((*home = strdup(h)) == NULL)
		return SCAUTH_ENOMEM;
	return SCAUTH_OK;
}

static int
xdg_path(const scauth_ctx *ctx, const char *var, const char *home, const char *fallback,
    const char *leaf, char **out)
{
	const char *base = var != NULL ? env(ctx, var) : NULL;

	int n;

	/* The XDG spec says relative values are invalid and must be ignored. */
	if (base != NULL && base[0] == '/')
		n = asprintf(out, "%s/%s", base, leaf);
	else
		n = asprintf(out, "%s/%s/%s", home, fallback, leaf);
	if (n < 0) {
		*out = NULL;    /* asprintf leaves it undefined */
		return SCAUTH_ENOMEM;
	}
	return SCAUTH_OK;
}

static int
parse_long(scauth_ctx *ctx, enum cfg_key k, long lo, long hi, long *out)
{
	if (number_parse(ctx->cfg[k], lo, hi, out) != 0)
		return number_refused(ctx, keys[k].name, ctx->cfg[k], lo, hi);
	return SCAUTH_OK;
}

static int
check_url(scauth_ctx *ctx, enum cfg_key k, int https_only)
{
	struct url u;

	if (url_parse(ctx->cfg[k], &u) != 0)
		return ctx_err(ctx, SCAUTH_ECONFIG, "%s: '%s' is not a valid URL", keys[k].name,
		    ctx->cfg[k]);
	if (https_only && strcmp(u.scheme, "https") != 0) {
		url_free(&u);
		return ctx_err(ctx, SCAUTH_ECONFIG, "%s: only https URLs are allowed",
		    keys[k].name);
	}
	url_free(&u);
	return SCAUTH_OK;
}

/*
 * relay_url is where a phone sends the person's code: https, but for a
 * relay on this machine (tests, demos).
 */
static int
check_relay_url(scauth_ctx *ctx)
{
	struct url u;
	int ok, r;

	if ((r = check_url(ctx, CFG_RELAY_URL, 0)) != 0)
		return r;
	if (url_parse(ctx->cfg[CFG_RELAY_URL], &u) != 0)
		return SCAUTH_ECONFIG;  /* check_url() said why */
	ok = strcmp(u.scheme, "https") == 0 || strcmp(u.host, "127.0.0.1") == 0 ||
	    strcasecmp(u.host, "localhost") == 0;
	url_free(&u);
	if (!ok)
		return ctx_err(ctx, SCAUTH_ECONFIG, "relay_url: '%s' is not https; a phone sends "
		    "the kiosk's code there, so it must be https (http only at 127.0.0.1 or "
		    "localhost, for tests and demos)", ctx->cfg[CFG_RELAY_URL]);
	return SCAUTH_OK;
}

static int
make_api_host(scauth_ctx *ctx)
{
	struct url u;
	int r;

	if (url_parse(ctx->cfg[CFG_API_URL], &u) != 0)
		return SCAUTH_ECONFIG;
	r = asprintf(&ctx->api_host, "%s%s%s%s%s", u.ipv6 ? "[" : "", u.host, u.ipv6 ? "]" : "",
	    u.port ? ":" : "", u.port ? u.port : "");
	url_free(&u);
	if (r < 0) {
		ctx->api_host = NULL;
		return SCAUTH_ENOMEM;
	}
	return SCAUTH_OK;
}

static int
validate(scauth_ctx *ctx)
{
	static const enum cfg_key https_keys[] = {
		CFG_AUTHORIZE_URL, CFG_TOKEN_URL, CFG_SIGNOUT_URL, CFG_API_URL,
	};
	const char *store = ctx->cfg[CFG_STORE];
	char names[200];
	size_t i;
	int r;

	if ((r = parse_long(ctx, CFG_REFRESH_MARGIN, 0, 86400, &ctx->refresh_margin)) != 0 ||
	    (r = parse_long(ctx, CFG_TIMEOUT, 1, 600, &ctx->timeout)) != 0)
		return r;
	for (i = 0; i < ARRAY_SIZE(https_keys); i++)
		if ((r = check_url(ctx, https_keys[i], 1)) != 0)
			return r;
	if ((r = check_url(ctx, CFG_REDIRECT_URI, 0)) != 0)
		return r;
	if (ctx->cfg[CFG_RELAY_URL] != NULL && (r = check_relay_url(ctx)) != 0)
		return r;
	if ((ctx->store = store_backend_find(store)) == NULL) {
		store_backend_names(names, sizeof(names));
		return ctx_err(ctx, SCAUTH_ECONFIG, "store: '%s' is not %s", store, names);
	}
	/* What the backend needs is said now, not at the first refresh. */
	if (ctx->store->configure != NULL && (r = ctx->store->configure(ctx)) != 0)
		return r;
	if (ctx->cfg[CFG_CLIENT_ID] != NULL) {
		for (i = 0; ctx->cfg[CFG_CLIENT_ID][i] != '\0'; i++)
			if (!isgraph((unsigned char)ctx->cfg[CFG_CLIENT_ID][i]))
				return ctx_err(ctx, SCAUTH_ECONFIG,
				    "client_id: only printable characters without spaces");
	}
	return make_api_host(ctx);
}

int
config_load(scauth_ctx *ctx)
{
	struct file_values fv[3];
	const char *files[3] = { NULL, NULL, NULL };
	char *home = NULL, *userconf = NULL, *sysconf = NULL;
	int nfiles = 0, required[3] = { 0, 0, 0 }, i, k, r = SCAUTH_OK;
	const char *v;

	memset(fv, 0, sizeof(fv));
	v = ctx->opt[SCAUTH_OPT_PROFILE];
	if (v == NULL)
		v = env(ctx, "SOUNDCLOUD_AUTH_PROFILE");
	if (v == NULL)
		v = "default";
	if (!profile_valid(v)) {
		r = ctx_err(ctx, SCAUTH_ECONFIG,
		    "profile '%.64s': use 1-64 letters, digits, '.', '_' or '-'", v);
		goto out;
	}
	if ((ctx->profile = strdup(v)) == NULL || (r = resolve_home(ctx, &home)) != 0) {
		r = ctx->profile == NULL ? SCAUTH_ENOMEM : r;
		goto out;
	}

	v = ctx->opt[SCAUTH_OPT_CONFIG_FILE];
	if (v == NULL)
		v = env(ctx, "SOUNDCLOUD_AUTH_CONFIG");
	if (v != NULL) {
		required[nfiles] = 1;
		files[nfiles++] = v;
	}
	if (!(ctx->flags & SCAUTH_CTX_NO_ENV)) {
		if ((r = xdg_path(ctx, "XDG_CONFIG_HOME", home, ".config",
		    "soundcloud-auth/config", &userconf)) != 0)
			goto out;
		files[nfiles++] = userconf;
	}
	if ((sysconf = strdup(SYSTEM_CONFIG)) == NULL) {
		r = SCAUTH_ENOMEM;
		goto out;
	}
	files[nfiles++] = sysconf;
	for (i = 0; i < nfiles; i++)
		if ((r = read_config(ctx, files[i], required[i], &fv[i])) != 0)
			goto out;

	for (k = 0; k < CFG_NKEYS; k++) {
		/* rank: which source won, lower is more specific (see config_client_secret). */
		int rank = CFG_RANK_DEFAULT;

		v = NULL;
		if (ctx->cli[k] != NULL) {
			v = ctx->cli[k];
			rank = 0;
		} else if (keys[k].env != NULL && (v = env(ctx, keys[k].env)) != NULL)
			rank = 1;
		for (i = 0; v == NULL && i < nfiles; i++) {
			if ((v = fv[i].prof[k]) != NULL)
				rank = 2 + 2 * i;
			else if ((v = fv[i].top[k]) != NULL)
				rank = 3 + 2 * i;
		}
		if (v == NULL)
			v = keys[k].def;
		ctx->rank[k] = rank;
		if (v != NULL && (ctx->cfg[k] = sstrdup(v)) == NULL) {
			r = SCAUTH_ENOMEM;
			goto out;
		}
	}

	if ((r = validate(ctx)) != 0)
		goto out;
	/*
	 * The file store follows XDG_STATE_HOME.  The keyring is one per user
	 * whatever the environment says, so its refresh lock (the only file it
	 * has) must not depend on XDG_STATE_HOME either: two processes of the
	 * user that differ there would otherwise both refresh the same key.
	 * Each backend says which it is (xdg_state).
	 */
	if (ctx->opt[SCAUTH_OPT_STATE_DIR] != NULL)
		ctx->state_dir = strdup(ctx->opt[SCAUTH_OPT_STATE_DIR]);
	else if ((r = xdg_path(ctx, !ctx->store->xdg_state ? NULL : "XDG_STATE_HOME", home,
	    ".local/state", "soundcloud-auth", &ctx->state_dir)) != 0)
		goto out;
	if (ctx->state_dir == NULL)
		r = SCAUTH_ENOMEM;
 out:
	for (i = 0; i < 3; i++)
		file_values_free(&fv[i]);
	/* Kept: libpq looks under it (.pgpass), and must not take the caller's HOME. */
	free(ctx->home);
	ctx->home = home;
	free(userconf);
	free(sysconf);
	return r;
}

/* ------------------------------------------------------------------------ */
/* The client secret, read only when a request needs it. */

static int
read_secret_file(scauth_ctx *ctx, const char *path)
{
	struct sbuf text = SBUF_INIT(MAX_SECRET_FILE);
	char buf[512];
	struct stat st;
	ssize_t n;
	size_t i;
	int fd, r;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) < 0)
		return ctx_errno(ctx, SCAUTH_ECONFIG, "client_secret_file %s", path);
	if (fstat(fd, &st) != 0) {
		r = ctx_errno(ctx, SCAUTH_ECONFIG, "client_secret_file %s", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = ctx_err(ctx, SCAUTH_ECONFIG, "client_secret_file %s: not a regular file", path);
		goto out;
	}
	/* Group-readable is allowed: kiosk users share the app's secret through a group. */
	if ((st.st_uid != 0 && st.st_uid != geteuid()) || (st.st_mode & 026) != 0) {
		r = ctx_err(ctx, SCAUTH_EUNSAFE,
		    "client_secret_file %s: must be owned by you or root and not readable by "
		    "others nor writable by group/other (mode %04o)", path,
		    (unsigned)(st.st_mode & 07777));
		goto out;
	}
	for (;;) {
		if ((n = read(fd, buf, sizeof(buf))) < 0) {
			if (errno == EINTR)
				continue;
			r = ctx_errno(ctx, SCAUTH_ECONFIG, "client_secret_file %s", path);
			goto out;
		}
		if (n == 0)
			break;
		if (sbuf_add(&text, buf, (size_t)n) != 0) {
			r = ctx_err(ctx, SCAUTH_ECONFIG, "client_secret_file %s: too large", path);
			goto out;
		}
	}
	while (text.len > 0 && isspace((unsigned char)text.p[text.len - 1]))
		text.p[--text.len] = '\0';
	for (i = 0; i < text.len; i++)
		if (!isgraph((unsigned char)text.p[i])) {
			r = ctx_err(ctx, SCAUTH_ECONFIG,
			    "client_secret_file %s: must hold one line without spaces", path);
			goto out;
		}
	if (text.len == 0) {
		r = ctx_err(ctx, SCAUTH_ECONFIG, "client_secret_file %s: empty", path);
		goto out;
	}
	ctx->secret = sbuf_steal(&text);
	r = ctx->secret != NULL ? SCAUTH_OK : SCAUTH_ENOMEM;
 out:
	scauth_wipe(buf, sizeof(buf));
	sbuf_free(&text);
	close(fd);
	return r;
}

int
config_client_secret(scauth_ctx *ctx, const char **out)
{
	int r, use_file;

	*out = NULL;
	if (ctx->secret == NULL) {
		if (ctx->cfg[CFG_CLIENT_SECRET] == NULL && ctx->cfg[CFG_CLIENT_SECRET_FILE] == NULL)
			return ctx_err(ctx, SCAUTH_ECONFIG,
			    "no client secret: set client_secret_file or client_secret in the "
			    "config, or SOUNDCLOUD_CLIENT_SECRET");
		if (ctx->cfg[CFG_CLIENT_SECRET] != NULL && ctx->cfg[CFG_CLIENT_SECRET_FILE] != NULL &&
		    ctx->rank[CFG_CLIENT_SECRET] == ctx->rank[CFG_CLIENT_SECRET_FILE])
			return ctx_err(ctx, SCAUTH_ECONFIG,
			    "set client_secret or client_secret_file, not both in one place");
		/* Both set in different places: the more specific source wins. */
		use_file = ctx->cfg[CFG_CLIENT_SECRET] == NULL ||
		    (ctx->cfg[CFG_CLIENT_SECRET_FILE] != NULL &&
		    ctx->rank[CFG_CLIENT_SECRET_FILE] < ctx->rank[CFG_CLIENT_SECRET]);
		if (use_file) {
			if ((r = read_secret_file(ctx, ctx->cfg[CFG_CLIENT_SECRET_FILE])) != 0)
				return r;
		} else if ((ctx->secret = sstrdup(ctx->cfg[CFG_CLIENT_SECRET])) == NULL)
			return SCAUTH_ENOMEM;
	}
	*out = ctx->secret;
	return SCAUTH_OK;
}
