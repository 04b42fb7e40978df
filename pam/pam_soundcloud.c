/*
 * pam_soundcloud.c - kiosk logins with a SoundCloud account.
 *
 *   auth     the OAuth login (Authorization Code + PKCE) through the PAM
 *            conversation, then the map decides whether that SoundCloud
 *            identity may log in as PAM_USER
 *   account  the identity of this login is still allowed by the map
 *   session  open: the login's tokens go into the user's own store, written
 *            as the user; close with "wipe": sign out and erase them
 *
 * Auth and session may run in different processes (sshd forks), so auth
 * leaves the login in a root-only staging store (stagedir, one slot per uid)
 * besides pam_set_data(), and the session takes it from there.  The module
 * runs inside someone else's program: it never prints, never exits, keeps no
 * static state, trusts nothing from the environment and logs with pam_syslog.
 * All OAuth, HTTP and storage work is libscauth's.
 */
#include "map.h"
#include "runas.h"

#include "scauth.h"

#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <security/pam_ext.h>
#include <security/pam_modules.h>
#include <security/pam_modutil.h>

/* -fvisibility=hidden hides everything else; the version script agrees. */
#define PAM_SM_API __attribute__((visibility("default")))

#define DEFAULT_MAP       "/etc/soundcloud-auth.map"
#define DEFAULT_STAGEDIR  "/run/soundcloud-auth"
#define DEFAULT_TIMEOUT   120
#define MAX_TIMEOUT       3600
#define MAX_OPTION_LEN    PATH_MAX   /* one module argument */
#define MAX_PROFILE       64
#define STAGE_MAX_AGE     600        /* seconds a staged login waits for its session */
#define STAGE_MAX_SKEW    60         /* a staged login from the future: clock trouble */
#define DATA_TOKEN        "pam_soundcloud_token"
#define ENV_PROFILE       "SOUNDCLOUD_AUTH_PROFILE"

enum stack {
	GROUP_AUTH = 1,
	GROUP_ACCOUNT = 2,
	GROUP_SESSION = 4,
};
#define GROUP_ALL (GROUP_AUTH | GROUP_ACCOUNT | GROUP_SESSION)

enum mode { MODE_LISTEN, MODE_PASTE };

struct opts {
	const char *config;     /* NULL: the library's system chain */
	const char *profile;    /* NULL: the library's default */
	const char *map;
	const char *stagedir;
	enum mode mode;
	int timeout;
	int qr;
	int wipe;
	int debug;
};

/* One call of a pam_sm_* function: all its state lives here, on the stack. */
struct call {
	pam_handle_t *pamh;
	const char *fn;         /* for log lines */
	struct opts o;
	const char *user;
	const struct passwd *pw; /* owned by pamh (pam_modutil_getpwnam) */
};

/* ------------------------------------------------------------------------ */
/* Options. */

/* If arg is "name" or "name=...", returns 1 and sets *value (NULL without '='). */
static int
opt_is(const char *arg, const char *name, const char **value)
{
	size_t n = strlen(name);

	if (strncmp(arg, name, n) != 0 || (arg[n] != '\0' && arg[n] != '='))
		return 0;
	*value = arg[n] == '=' ? arg + n + 1 : NULL;
	return 1;
}

static int
profile_ok(const char *s)
{
	size_t n;

	if (s[0] == '.')
		return 0;
	for (n = 0; s[n] != '\0'; n++)
		if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z') ||
		    (s[n] >= '0' && s[n] <= '9') || s[n] == '.' || s[n] == '_' || s[n] == '-'))
			return 0;
	return n > 0 && n <= MAX_PROFILE;
}

static const char *
group_name(unsigned group)
{
	return group == GROUP_AUTH ? "auth" : group == GROUP_ACCOUNT ? "account" : "session";
}

/*
 * Unknown or misplaced options are refused rather than ignored: in a module
 * that decides who logs in, a misspelt "map=" silently falling back to the
 * default would be worse than a login that fails with a log line.
 */
static int
parse_opts(pam_handle_t *pamh, unsigned group, int argc, const char **argv, struct opts *o)
{
	const char *arg, *v;
	unsigned where;
	char *end;
	long n;
	int i, flag, path;

	memset(o, 0, sizeof(*o));
	o->map = DEFAULT_MAP;
	o->stagedir = DEFAULT_STAGEDIR;
	o->mode = MODE_LISTEN;
	o->timeout = DEFAULT_TIMEOUT;
	for (i = 0; i < argc; i++) {
		arg = argv[i];
		flag = path = 0;
		if (strlen(arg) > MAX_OPTION_LEN) {
			pam_syslog(pamh, LOG_ERR, "option too long: %.40s...", arg);
			return PAM_SERVICE_ERR;
		}
		if (opt_is(arg, "config", &v)) {
			where = GROUP_ALL;
			path = 1;
			o->config = v;
		} else if (opt_is(arg, "map", &v)) {
			where = GROUP_AUTH | GROUP_ACCOUNT;
			path = 1;
			o->map = v;
		} else if (opt_is(arg, "stagedir", &v)) {
			where = GROUP_ALL;
			path = 1;
			o->stagedir = v;
		} else if (opt_is(arg, "profile", &v)) {
			where = GROUP_AUTH | GROUP_SESSION;
			o->profile = v;
			if (v != NULL && !profile_ok(v)) {
				pam_syslog(pamh, LOG_ERR,
				    "profile=%.64s: use 1-64 letters, digits, '.', '_' or '-'", v);
				return PAM_SERVICE_ERR;
			}
		} else if (opt_is(arg, "mode", &v)) {
			where = GROUP_AUTH;
			if (v != NULL && strcmp(v, "listen") == 0)
				o->mode = MODE_LISTEN;
			else if (v != NULL && strcmp(v, "paste") == 0)
				o->mode = MODE_PASTE;
			else {
				pam_syslog(pamh, LOG_ERR, "%.64s: mode is listen or paste", arg);
				return PAM_SERVICE_ERR;
			}
		} else if (opt_is(arg, "timeout", &v)) {
			where = GROUP_AUTH;
			if (v == NULL)
				goto needs_value;
			errno = 0;
			n = strtol(v, &end, 10);
			if (errno != 0 || end == v || *end != '\0' || n < 1 || n > MAX_TIMEOUT) {
				pam_syslog(pamh, LOG_ERR, "%.64s: timeout is 1 to %d seconds", arg,
				    MAX_TIMEOUT);
				return PAM_SERVICE_ERR;
			}
			o->timeout = (int)n;
		} else if (opt_is(arg, "qr", &v)) {
			where = GROUP_AUTH;
			flag = o->qr = 1;
		} else if (opt_is(arg, "wipe", &v)) {
			where = GROUP_SESSION;
			flag = o->wipe = 1;
		} else if (opt_is(arg, "debug", &v)) {
			where = GROUP_ALL;
			flag = o->debug = 1;
		} else {
			pam_syslog(pamh, LOG_ERR, "unknown option '%.64s'; refused", arg);
			return PAM_SERVICE_ERR;
		}
		if (!(where & group)) {
			pam_syslog(pamh, LOG_ERR,
			    "option '%.64s' is not for the %s stack; refused", arg,
			    group_name(group));
			return PAM_SERVICE_ERR;
		}
		if (flag && v != NULL) {
			pam_syslog(pamh, LOG_ERR, "option '%.64s' takes no value", arg);
			return PAM_SERVICE_ERR;
		}
		if (flag)
			continue;
		if (v == NULL || *v == '\0')
			goto needs_value;
		if (path && v[0] != '/') {
			pam_syslog(pamh, LOG_ERR, "%.64s: an absolute path is needed", arg);
			return PAM_SERVICE_ERR;
		}
	}
	return PAM_SUCCESS;
 needs_value:
	pam_syslog(pamh, LOG_ERR, "option '%.64s' needs a value", arg);
	return PAM_SERVICE_ERR;
}

/* ------------------------------------------------------------------------ */
/* Logging and the conversation. */

static void
trace_line(void *arg, const char *line)
{
	pam_syslog((pam_handle_t *)arg, LOG_DEBUG, "%s", line);
}

/* Logs a library failure with its detail (which never holds a secret). */
static void
log_lib(const struct call *c, int prio, const char *what, const scauth_ctx *ctx, int err)
{
	const char *detail = scauth_errmsg(ctx);

	pam_syslog(c->pamh, prio, "%s: %s%s%s", what, scauth_strerror(err),
	    *detail != '\0' ? ": " : "", detail);
}

/*
 * One message through the application's conversation function.  With answer,
 * the reply is handed over (the caller wipes and frees it with answer_free);
 * every other reply is wiped and freed here, errors included.
 */
static int
converse(pam_handle_t *pamh, int style, const char *text, char **answer)
{
	const struct pam_conv *conv = NULL;
	const void *item = NULL;
	struct pam_message msg;
	const struct pam_message *msgp = &msg;
	struct pam_response *resp = NULL;
	int r;

	if (answer != NULL)
		*answer = NULL;
	if ((r = pam_get_item(pamh, PAM_CONV, &item)) != PAM_SUCCESS)
		goto out;
	conv = item;
	if (conv == NULL || conv->conv == NULL) {
		r = PAM_CONV_ERR;
		goto out;
	}
	msg.msg_style = style;
	msg.msg = text;
	if ((r = conv->conv(1, &msgp, &resp, conv->appdata_ptr)) != PAM_SUCCESS)
		goto out;
	if (answer != NULL) {
		if (resp == NULL || resp->resp == NULL) {
			r = PAM_CONV_ERR;
			goto out;
		}
		*answer = resp->resp;
		resp->resp = NULL;      /* transferred */
	}
	r = PAM_SUCCESS;
 out:
	if (resp != NULL) {
		if (resp->resp != NULL) {
			scauth_wipe(resp->resp, strlen(resp->resp));
			free(resp->resp);
		}
		free(resp);
	}
	return r;
}

static void
answer_free(char *a)
{
	if (a != NULL) {
		scauth_wipe(a, strlen(a));
		free(a);
	}
}

static void tell(const struct call *c, int flags, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Tells the person something they can act on; skipped with PAM_SILENT. */
static void
tell(const struct call *c, int flags, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	if (flags & PAM_SILENT)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	converse(c->pamh, PAM_ERROR_MSG, text, NULL);
}

/* ------------------------------------------------------------------------ */
/* Setting up a call and the library contexts. */

static int
call_init(struct call *c, pam_handle_t *pamh, const char *fn, unsigned group, int argc,
    const char **argv)
{
	int r;

	memset(c, 0, sizeof(*c));
	c->pamh = pamh;
	c->fn = fn;
	if ((r = parse_opts(pamh, group, argc, argv, &c->o)) != PAM_SUCCESS)
		return r;
	if ((r = pam_get_user(pamh, &c->user, NULL)) != PAM_SUCCESS) {
		pam_syslog(pamh, LOG_ERR, "%s: cannot get the user name: %s", fn,
		    pam_strerror(pamh, r));
		return r == PAM_CONV_AGAIN ? PAM_INCOMPLETE : r;
	}
	if (c->user == NULL || *c->user == '\0' ||
	    (c->pw = pam_modutil_getpwnam(pamh, c->user)) == NULL) {
		pam_syslog(pamh, LOG_NOTICE, "%s: unknown user '%.64s'", fn,
		    c->user != NULL ? c->user : "");
		return PAM_USER_UNKNOWN;
	}
	return PAM_SUCCESS;
}

/*
 * A context that ignores the caller's environment (it belongs to the
 * application, not to us) and takes config files only from root.
 */
static int
ctx_new(const struct call *c, const char *profile, const char *statedir, const char *home,
    scauth_ctx **out)
{
	scauth_ctx *ctx = NULL;
	int r;

	*out = NULL;
	if ((r = scauth_ctx_new(&ctx, SCAUTH_CTX_NO_ENV | SCAUTH_CTX_ROOT_CONFIG)) != 0)
		goto out;
	if (c->o.debug)
		scauth_ctx_set_trace(ctx, trace_line, c->pamh);
	if ((c->o.config != NULL &&
	    (r = scauth_ctx_setopt(ctx, SCAUTH_OPT_CONFIG_FILE, c->o.config)) != 0) ||
	    (profile != NULL && (r = scauth_ctx_setopt(ctx, SCAUTH_OPT_PROFILE, profile)) != 0) ||
	    (home != NULL && (r = scauth_ctx_setopt(ctx, SCAUTH_OPT_HOME, home)) != 0))
		goto out;
	if (statedir != NULL) {
		/* The stage is always a root-only directory, whatever store the config names. */
		if ((r = scauth_ctx_setopt(ctx, SCAUTH_OPT_STATE_DIR, statedir)) != 0 ||
		    (r = scauth_ctx_set(ctx, "store", "file")) != 0)
			goto out;
	}
	if ((r = scauth_ctx_load(ctx)) != 0)
		goto out;
	*out = ctx;
	ctx = NULL;     /* transferred */
 out:
	if (r != 0 && ctx != NULL)
		log_lib(c, LOG_ERR, "configuration", ctx, r);
	else if (r != 0)
		pam_syslog(c->pamh, LOG_ERR, "configuration: %s", scauth_strerror(r));
	scauth_ctx_free(ctx);
	return r;
}

/* The staging slot of the user: profile "uid-N" in stagedir. */
static int
stage_ctx(const struct call *c, scauth_ctx **out)
{
	char profile[32];

	snprintf(profile, sizeof(profile), "uid-%u", (unsigned)c->pw->pw_uid);
	return ctx_new(c, profile, c->o.stagedir, c->o.stagedir, out);
}

/* The user's own store: their home's state directory, their profile. */
static int
user_ctx(const struct call *c, scauth_ctx **out)
{
	return ctx_new(c, c->o.profile, NULL, c->pw->pw_dir, out);
}

/* ------------------------------------------------------------------------ */
/* The stage: the login, kept between auth and a session in another process. */

static void
stage_erase(const struct call *c)
{
	scauth_ctx *ctx = NULL;
	int r;

	if (stage_ctx(c, &ctx) != 0)
		return;
	if ((r = scauth_token_erase(ctx, SCAUTH_GRANT_USER)) != 0)
		log_lib(c, geteuid() == 0 ? LOG_ERR : LOG_DEBUG, "erasing the stage", ctx, r);
	scauth_ctx_free(ctx);
}

static void
stage_save(const struct call *c, const scauth_token *tok)
{
	scauth_ctx *ctx = NULL;
	int r;

	/*
	 * A failure does not fail the login: only a session opened by another
	 * process needs the stage.  Without root (a screen locker) that is the
	 * rule rather than a fault, hence the quieter log line.
	 */
	if ((r = stage_ctx(c, &ctx)) == 0 &&
	    (r = scauth_token_save(ctx, SCAUTH_GRANT_USER, tok)) != 0)
		log_lib(c, geteuid() == 0 ? LOG_ERR : LOG_DEBUG,
		    "cannot stage the login for the session", ctx, r);
	scauth_ctx_free(ctx);
}

/* Takes a fresh staged login: 0 with *out, 1 when there is none (or a stale one). */
static int
stage_take(const struct call *c, scauth_token **out)
{
	scauth_ctx *ctx = NULL;
	scauth_token *tok = NULL;
	time_t t, obtained;
	int r;

	*out = NULL;
	if ((r = stage_ctx(c, &ctx)) != 0) {
		r = 1;
		goto out;
	}
	if ((r = scauth_token_peek(ctx, SCAUTH_GRANT_USER, &tok)) != 0) {
		if (r != SCAUTH_ELOGIN)
			log_lib(c, LOG_ERR, "reading the stage", ctx, r);
		r = 1;
		goto out;
	}
	t = time(NULL);
	obtained = scauth_token_obtained(tok);
	if (obtained < t - STAGE_MAX_AGE || obtained > t + STAGE_MAX_SKEW) {
		pam_syslog(c->pamh, LOG_NOTICE,
		    "%s: the staged login of %s is %ld seconds old; ignored and erased",
		    c->fn, c->user, (long)(t - obtained));
		scauth_token_erase(ctx, SCAUTH_GRANT_USER);
		r = 1;
		goto out;
	}
	*out = tok;
	tok = NULL;     /* transferred */
	r = 0;
 out:
	scauth_token_free(tok);
	scauth_ctx_free(ctx);
	return r;
}

static void
token_cleanup(pam_handle_t *pamh, void *data, int error_status)
{
	scauth_token_free(data);
}

/*
 * The login of this transaction: from pam_set_data() when auth ran in this
 * process, else from the stage.  *owned is set when the caller must free it.
 */
static const scauth_token *
this_login(const struct call *c, scauth_token **owned)
{
	const void *data = NULL;

	*owned = NULL;
	if (pam_get_data(c->pamh, DATA_TOKEN, &data) == PAM_SUCCESS && data != NULL)
		return data;
	if (stage_take(c, owned) == 0)
		return *owned;
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* auth */

/* What a library error means for pam_authenticate. */
static int
auth_status(int err)
{
	switch (err) {
	case SCAUTH_OK:
		return PAM_SUCCESS;
	case SCAUTH_ENOMEM:
		return PAM_BUF_ERR;
	case SCAUTH_ESYSTEM:
		return PAM_SYSTEM_ERR;
	case SCAUTH_EINTERNAL:
	case SCAUTH_ECONFIG:
	case SCAUTH_EUNSAFE:
	case SCAUTH_ECLIENT:
	case SCAUTH_EREQUEST:
	case SCAUTH_ENOLIB:
		return PAM_SERVICE_ERR;
	case SCAUTH_ENETWORK:
	case SCAUTH_ETLS:
	case SCAUTH_ETIMEOUT:
	case SCAUTH_EUNAVAIL:
	case SCAUTH_ERATELIMIT:
	case SCAUTH_EPROTO:
		return PAM_AUTHINFO_UNAVAIL;
	default:        /* EGRANT, EDENIED, ESTATE, EINVAL ...: this login failed */
		return PAM_AUTH_ERR;
	}
}

/* Words for the person at the kiosk after a failed login step. */
static void
tell_failure(const struct call *c, int flags, int err)
{
	const char *text;

	switch (auth_status(err)) {
	case PAM_AUTHINFO_UNAVAIL:
		text = "SoundCloud cannot be reached right now; please try again later.";
		break;
	case PAM_SERVICE_ERR:
	case PAM_SYSTEM_ERR:
	case PAM_BUF_ERR:
		text = "SoundCloud login is not working on this machine; "
		    "please tell its administrator.";
		break;
	default:
		text = err == SCAUTH_ESTATE ? "That address does not belong to this login." :
		    err == SCAUTH_EDENIED ? "The login was not allowed at SoundCloud." :
		    "The SoundCloud login did not succeed; please try again.";
		break;
	}
	tell(c, flags, "%s", text);
}

/* Shows the authorize URL, and its QR code with "qr". */
static int
show_url(const struct call *c, const char *url)
{
	char *text = NULL, *qr = NULL;
	int r;

	if (asprintf(&text, "Log in to SoundCloud: %s", url) < 0) {
		text = NULL;
		r = PAM_BUF_ERR;
		goto out;
	}
	if ((r = converse(c->pamh, PAM_TEXT_INFO, text, NULL)) != PAM_SUCCESS)
		goto out;
	if (c->o.qr) {
		if ((r = scauth_qr_render(url, &qr)) != 0) {
			pam_syslog(c->pamh, LOG_WARNING, "no QR code: %s", scauth_strerror(r));
			r = PAM_SUCCESS;
			goto out;
		}
		r = converse(c->pamh, PAM_TEXT_INFO, qr, NULL);
	}
 out:
	free(text);
	free(qr);
	return r;
}

/* mode=paste: the redirect URL or the bare code, through an echo-off prompt. */
static int
ask_paste(const struct call *c, scauth_ctx *ctx, scauth_login *lg, int *liberr)
{
	char *prompt = NULL, *answer = NULL;
	int r;

	*liberr = 0;
	if (asprintf(&prompt, "Open %s and paste the address you are sent to (or the code): ",
	    scauth_login_url(lg)) < 0) {
		prompt = NULL;
		r = PAM_BUF_ERR;
		goto out;
	}
	if ((r = converse(c->pamh, PAM_PROMPT_ECHO_OFF, prompt, &answer)) != PAM_SUCCESS) {
		pam_syslog(c->pamh, LOG_NOTICE, "%s: no answer to the prompt: %s", c->fn,
		    pam_strerror(c->pamh, r));
		goto out;
	}
	if ((*liberr = scauth_login_paste(ctx, lg, answer)) != 0) {
		log_lib(c, LOG_NOTICE, "the pasted answer", ctx, *liberr);
		r = auth_status(*liberr);
		goto out;
	}
	r = PAM_SUCCESS;
 out:
	answer_free(answer);
	free(prompt);
	return r;
}

PAM_SM_API int
pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct call c;
	struct map *map = NULL;
	scauth_ctx *ctx = NULL;
	scauth_login *lg = NULL;
	scauth_token *tok = NULL;
	enum mode mode;
	char err[MAP_ERRLEN] = "";
	const char *urn, *permalink;
	int r, e = 0;

	if ((r = call_init(&c, pamh, "auth", GROUP_AUTH, argc, argv)) != PAM_SUCCESS)
		goto out;
	/* The map first: a broken one should fail before anyone goes through a login. */
	if ((e = map_load(c.o.map, &map, err, sizeof(err))) != 0) {
		pam_syslog(pamh, e == MAP_MISSING ? LOG_NOTICE : LOG_ERR, "%s%s", err,
		    e == MAP_MISSING ? ": no SoundCloud account may log in" : "");
		r = e == MAP_MISSING ? PAM_AUTH_ERR : e == SCAUTH_ENOMEM ? PAM_BUF_ERR :
		    PAM_SERVICE_ERR;
		goto out;
	}
	if (!map_has_user(map, c.user)) {
		pam_syslog(pamh, LOG_NOTICE, "%s: no rule for %s", c.o.map, c.user);
		tell(&c, flags, "No SoundCloud account may log in as %s.", c.user);
		r = PAM_AUTH_ERR;
		goto out;
	}
	if ((e = ctx_new(&c, c.o.profile, NULL, NULL, &ctx)) != 0) {
		r = auth_status(e) == PAM_BUF_ERR ? PAM_BUF_ERR : PAM_SERVICE_ERR;
		goto out;
	}
	/* A new attempt makes any older staged login of this user stale. */
	stage_erase(&c);
	if ((e = scauth_login_begin(ctx, &lg)) != 0) {
		log_lib(&c, LOG_ERR, "starting the login", ctx, e);
		r = auth_status(e) == PAM_BUF_ERR ? PAM_BUF_ERR : PAM_SERVICE_ERR;
		goto out;
	}
	mode = c.o.mode;
	/* Listen before the URL is shown, so that the redirect cannot come too early. */
	if (mode == MODE_LISTEN && (e = scauth_login_listen(ctx, lg)) != 0) {
		log_lib(&c, LOG_WARNING, "cannot listen for the redirect; asking for it instead",
		    ctx, e);
		mode = MODE_PASTE;
	}
	if ((r = show_url(&c, scauth_login_url(lg))) != PAM_SUCCESS)
		goto out;
	if (mode == MODE_LISTEN) {
		if ((e = scauth_login_wait(ctx, lg, c.o.timeout)) != 0) {
			log_lib(&c, LOG_NOTICE, "waiting for the redirect", ctx, e);
			if (e == SCAUTH_ETIMEOUT) {
				tell(&c, flags, "No SoundCloud login arrived within %d seconds.",
				    c.o.timeout);
				r = PAM_AUTH_ERR;
			} else {
				tell_failure(&c, flags, e);
				r = auth_status(e);
			}
			goto out;
		}
	} else if ((r = ask_paste(&c, ctx, lg, &e)) != PAM_SUCCESS) {
		if (e != 0)
			tell_failure(&c, flags, e);
		goto out;
	}
	if ((e = scauth_login_finish(ctx, lg, &tok)) != 0) {
		log_lib(&c, LOG_ERR, "exchanging the code", ctx, e);
		tell_failure(&c, flags, e);
		r = auth_status(e);
		goto out;
	}
	urn = scauth_token_urn(tok);
	permalink = scauth_token_permalink(tok);
	if (!map_allows(map, urn, permalink, c.user)) {
		pam_syslog(pamh, LOG_NOTICE,
		    "SoundCloud account %.64s (%.64s) may not log in as %s",
		    urn != NULL ? urn : "?", permalink != NULL ? permalink : "?", c.user);
		tell(&c, flags, "This SoundCloud account may not log in as %s", c.user);
		r = PAM_AUTH_ERR;
		goto out;
	}
	pam_syslog(pamh, LOG_INFO, "SoundCloud account %.64s (%.64s) logged in as %s", urn,
	    permalink != NULL ? permalink : "?", c.user);
	stage_save(&c, tok);
	if ((r = pam_set_data(pamh, DATA_TOKEN, tok, token_cleanup)) != PAM_SUCCESS) {
		pam_syslog(pamh, LOG_ERR, "pam_set_data: %s", pam_strerror(pamh, r));
		goto out;
	}
	tok = NULL;     /* transferred to pamh */
	r = PAM_SUCCESS;
 out:
	scauth_token_free(tok);
	scauth_login_free(lg);
	scauth_ctx_free(ctx);
	map_free(map);
	return r;
}

/* Credentials are handed over at session open, where the user's store is known. */
PAM_SM_API int
pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	return PAM_SUCCESS;
}

/* ------------------------------------------------------------------------ */
/* account */

/*
 * No login of ours in this transaction (say pam_unix authenticated the user)
 * is PAM_IGNORE: the rest of the stack decides, and a stack of this module
 * alone still fails, since libpam fails a stack in which every module ignored.
 */
PAM_SM_API int
pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct call c;
	struct map *map = NULL;
	scauth_token *owned = NULL;
	const scauth_token *tok;
	char err[MAP_ERRLEN] = "";
	int r, e;

	if ((r = call_init(&c, pamh, "account", GROUP_ACCOUNT, argc, argv)) != PAM_SUCCESS)
		goto out;
	if ((tok = this_login(&c, &owned)) == NULL) {
		if (c.o.debug)
			pam_syslog(pamh, LOG_DEBUG, "account: no SoundCloud login for %s", c.user);
		r = PAM_IGNORE;
		goto out;
	}
	if ((e = map_load(c.o.map, &map, err, sizeof(err))) != 0 && e != MAP_MISSING) {
		pam_syslog(pamh, LOG_ERR, "%s", err);
		r = e == SCAUTH_ENOMEM ? PAM_BUF_ERR : PAM_SERVICE_ERR;
		goto out;
	}
	if (!map_allows(map, scauth_token_urn(tok), scauth_token_permalink(tok), c.user)) {
		pam_syslog(pamh, LOG_NOTICE, "account: SoundCloud account %.64s may no longer "
		    "log in as %s", scauth_token_urn(tok) ? scauth_token_urn(tok) : "?", c.user);
		tell(&c, flags, "This SoundCloud account may not log in as %s", c.user);
		r = PAM_PERM_DENIED;
		goto out;
	}
	r = PAM_SUCCESS;
 out:
	scauth_token_free(owned);
	map_free(map);
	return r;
}

/* ------------------------------------------------------------------------ */
/* session */

struct handoff {
	scauth_ctx *ctx;        /* the user's store, loaded before the switch */
	const scauth_token *tok;
};

/* As the user: the login goes into their store. */
static int
handoff_save(void *arg, char *msg, size_t msglen)
{
	struct handoff *h = arg;
	int r;

	if ((r = scauth_token_save(h->ctx, SCAUTH_GRANT_USER, h->tok)) != 0)
		snprintf(msg, msglen, "%s", scauth_errmsg(h->ctx));
	return r;
}

/* Results of wipe_logout() besides 0 and a local error. */
#define WIPE_NOTHING 1          /* nothing was stored */
#define WIPE_LOCAL_ONLY 2       /* erased here, but the server sign-out failed */

/* As the user: sign out at the server, and erase locally whatever the server said. */
static int
wipe_logout(void *arg, char *msg, size_t msglen)
{
	scauth_ctx *ctx = arg;
	scauth_token *tok = NULL;
	int r;

	if ((r = scauth_token_peek(ctx, SCAUTH_GRANT_USER, &tok)) == SCAUTH_ELOGIN)
		return WIPE_NOTHING;
	scauth_token_free(tok);
	if ((r = scauth_logout(ctx)) == 0)
		return 0;
	snprintf(msg, msglen, "%s: %s", scauth_strerror(r), scauth_errmsg(ctx));
	/* scauth_logout() erased locally unless the error is a local one; make sure. */
	if (scauth_token_erase(ctx, SCAUTH_GRANT_USER) != 0) {
		snprintf(msg, msglen, "%s: %s", scauth_strerror(r), scauth_errmsg(ctx));
		return r < 0 ? r : SCAUTH_ESTORE;
	}
	return WIPE_LOCAL_ONLY;
}

PAM_SM_API int
pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct call c;
	struct handoff h = { NULL, NULL };
	scauth_token *owned = NULL;
	char msg[RUNAS_MSGLEN], env[sizeof(ENV_PROFILE) + MAX_PROFILE + 2];
	int r, e;

	if ((r = call_init(&c, pamh, "session", GROUP_SESSION, argc, argv)) != PAM_SUCCESS)
		goto out;
	if ((h.tok = this_login(&c, &owned)) == NULL) {
		pam_syslog(pamh, c.o.debug ? LOG_DEBUG : LOG_INFO,
		    "session: no SoundCloud login of %s to hand over", c.user);
		r = PAM_IGNORE;
		goto out;
	}
	/* The stage is single-use: taken now, whatever happens next. */
	stage_erase(&c);
	/* Loaded here (as root: the config may be root's alone), written as the user. */
	if ((e = user_ctx(&c, &h.ctx)) != 0) {
		r = PAM_SESSION_ERR;
		goto out;
	}
	if ((e = runas(c.user, c.pw->pw_uid, c.pw->pw_gid, handoff_save, &h, msg,
	    sizeof(msg))) != 0) {
		pam_syslog(pamh, LOG_ERR, "session: cannot store the SoundCloud login for %s: "
		    "%s: %s", c.user, scauth_strerror(e), msg);
		r = PAM_SESSION_ERR;
		goto out;
	}
	pam_syslog(pamh, LOG_INFO, "session: SoundCloud login of %.64s stored for %s in %s",
	    scauth_token_urn(h.tok) ? scauth_token_urn(h.tok) : "?", c.user,
	    scauth_ctx_get(h.ctx, "store") ? scauth_ctx_get(h.ctx, "store") : "the store");
	if (c.o.profile != NULL) {
		snprintf(env, sizeof(env), "%s=%s", ENV_PROFILE, c.o.profile);
		if ((e = pam_putenv(pamh, env)) != PAM_SUCCESS)
			pam_syslog(pamh, LOG_ERR, "pam_putenv: %s", pam_strerror(pamh, e));
	}
	r = PAM_SUCCESS;
 out:
	/* The token of this process is no longer needed: wipe it now. */
	if (owned == NULL && h.tok != NULL)
		pam_set_data(pamh, DATA_TOKEN, NULL, NULL);
	scauth_token_free(owned);
	scauth_ctx_free(h.ctx);
	return r;
}

/*
 * With "wipe": a kiosk leaves nothing behind.  The server being unreachable
 * does not fail the logout (the tokens are erased here all the same, and the
 * failed sign-out is logged); only a local erase that failed does.
 */
PAM_SM_API int
pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct call c;
	scauth_ctx *ctx = NULL;
	char msg[RUNAS_MSGLEN];
	int r, e;

	if ((r = call_init(&c, pamh, "session", GROUP_SESSION, argc, argv)) != PAM_SUCCESS)
		goto out;
	if (!c.o.wipe) {
		r = PAM_SUCCESS;
		goto out;
	}
	stage_erase(&c);
	if ((e = user_ctx(&c, &ctx)) != 0) {
		r = PAM_SESSION_ERR;
		goto out;
	}
	e = runas(c.user, c.pw->pw_uid, c.pw->pw_gid, wipe_logout, ctx, msg, sizeof(msg));
	switch (e) {
	case 0:
		pam_syslog(pamh, LOG_INFO, "session: signed out and erased the SoundCloud "
		    "login of %s", c.user);
		r = PAM_SUCCESS;
		break;
	case WIPE_NOTHING:
		if (c.o.debug)
			pam_syslog(pamh, LOG_DEBUG, "session: no SoundCloud login of %s to wipe",
			    c.user);
		r = PAM_SUCCESS;
		break;
	case WIPE_LOCAL_ONLY:
		pam_syslog(pamh, LOG_WARNING, "session: erased the SoundCloud login of %s, but "
		    "the sign-out at the server failed: %s", c.user, msg);
		r = PAM_SUCCESS;
		break;
	default:
		pam_syslog(pamh, LOG_ERR, "session: cannot erase the SoundCloud login of %s: "
		    "%s: %s", c.user, scauth_strerror(e), msg);
		r = PAM_SESSION_ERR;
		break;
	}
 out:
	scauth_ctx_free(ctx);
	return r;
}
