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
 * also parks the login in a root-only staging store (stagedir, one slot per
 * uid), labelled with a random nonce that it puts into the PAM environment
 * (which sshd carries from its auth child back to the process that opens the
 * session).  Only a transaction holding that nonce takes the slot: the uid
 * alone would hand one person's login to another's session when several
 * people log in as one local user.  The module runs inside someone else's
 * program: it never prints, never exits, keeps no static state, trusts
 * nothing from the process environment and logs with pam_syslog.  All OAuth,
 * HTTP and storage work is libscauth's.
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

#include <sys/random.h>

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
#define DATA_TOKEN        "pam_soundcloud_token"     /* this transaction's login */
#define DATA_SESSION      "pam_soundcloud_session"   /* open_session handed it over */
#define ENV_PROFILE       "SOUNDCLOUD_AUTH_PROFILE"
#define ENV_STAGE         "SOUNDCLOUD_AUTH_STAGE"    /* the nonce of the staged login */
#define NONCE_BYTES       16                         /* 128 bits */
#define NONCE_LEN         (2 * NONCE_BYTES)          /* in hex */
#define CHILD_SLACK       10  /* seconds for the runas child beyond its HTTP requests */
#define MAX_HTTP_TIMEOUT  3600

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
	const char *user;       /* pw->pw_name once known */
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
	/*
	 * From here on the account's own name, not the one typed: a name
	 * service may match "Guest" to guest, and the map, the groups and the
	 * logs must all speak of the account that the uid belongs to.
	 */
	c->user = c->pw->pw_name;
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

/* A fresh nonce for this transaction's staged login: 128 random bits in hex. */
static int
nonce_new(char nonce[NONCE_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char rnd[NONCE_BYTES];
	ssize_t n;
	size_t i;

	while ((n = getrandom(rnd, sizeof(rnd), 0)) < 0 && errno == EINTR)
		;
	if (n != (ssize_t)sizeof(rnd))
		return -1;
	for (i = 0; i < NONCE_BYTES; i++) {
		nonce[2 * i] = hex[rnd[i] >> 4];
		nonce[2 * i + 1] = hex[rnd[i] & 0x0f];
	}
	nonce[NONCE_LEN] = '\0';
	scauth_wipe(rnd, sizeof(rnd));
	return 0;
}

/* 1 if s has the form of a nonce (so that nothing else is ever compared with one). */
static int
nonce_ok(const char *s)
{
	size_t i;

	for (i = 0; i < NONCE_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[NONCE_LEN] == '\0';
}

/*
 * 1 if two nonces (or labels) are equal, in time that does not depend on
 * where they differ: the nonce is what unlocks a staged login.  Lengths are
 * not secret (a nonce has one length).
 */
static int
nonce_equal(const char *a, const char *b)
{
	size_t i, n = strlen(a);
	unsigned char d = 0;

	if (n != strlen(b))
		return 0;
	for (i = 0; i < n; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

/*
 * This transaction's nonce: copied out of the PAM environment, and removed
 * there, since it is spent by whoever asks first and must not reach the
 * environment of the user's session.  1 with nonce set, 0 when there is none.
 */
static int
stage_nonce(const struct call *c, char nonce[NONCE_LEN + 1])
{
	const char *v = pam_getenv(c->pamh, ENV_STAGE);
	int ok, r;

	nonce[0] = '\0';
	if (v == NULL)
		return 0;
	if ((ok = nonce_ok(v)))
		memcpy(nonce, v, NONCE_LEN + 1);
	else
		pam_syslog(c->pamh, LOG_NOTICE, "%s: a malformed %s; ignored", c->fn, ENV_STAGE);
	if ((r = pam_putenv(c->pamh, ENV_STAGE)) != PAM_SUCCESS)
		pam_syslog(c->pamh, LOG_ERR, "pam_putenv: %s", pam_strerror(c->pamh, r));
	return ok;
}

/* Parks the login (labelled with its nonce) for a session in another process. */
static int
stage_save(const struct call *c, const scauth_token *tok)
{
	scauth_ctx *ctx = NULL;
	int r;

	/*
	 * A failure does not fail the login: only a session opened by another
	 * process needs the stage.  Without root (a screen locker) that is the
	 * rule rather than a fault, hence the quieter log line.  The slot of the
	 * uid is replaced, so parked logins stay bounded to one a user.
	 */
	if ((r = stage_ctx(c, &ctx)) == 0 &&
	    (r = scauth_token_save(ctx, SCAUTH_GRANT_USER, tok)) != 0)
		log_lib(c, geteuid() == 0 ? LOG_ERR : LOG_DEBUG,
		    "cannot stage the login for the session", ctx, r);
	scauth_ctx_free(ctx);
	return r;
}

/*
 * Takes this transaction's staged login: 0 when the uid's slot holds a fresh
 * login labelled with nonce (then erased from the stage, and in *out unless
 * out is NULL), 1 when not.  A slot with another label is another
 * transaction's: it is left alone, unless it is stale, which makes it
 * nobody's.
 */
static int
stage_take(const struct call *c, const char *nonce, scauth_token **out)
{
	scauth_ctx *ctx = NULL;
	scauth_token *tok = NULL;
	const char *label;
	time_t t, obtained;
	int r, e;

	if (out != NULL)
		*out = NULL;
	if (stage_ctx(c, &ctx) != 0) {
		r = 1;
		goto out;
	}
	if ((e = scauth_token_peek(ctx, SCAUTH_GRANT_USER, &tok)) != 0) {
		if (e != SCAUTH_ELOGIN)
			log_lib(c, LOG_ERR, "reading the stage", ctx, e);
		r = 1;
		goto out;
	}
	t = time(NULL);
	obtained = scauth_token_obtained(tok);
	if (obtained < t - STAGE_MAX_AGE || obtained > t + STAGE_MAX_SKEW) {
		pam_syslog(c->pamh, LOG_NOTICE,
		    "%s: the staged login of %s is %ld seconds old; ignored and erased",
		    c->fn, c->user, (long)(t - obtained));
		if ((e = scauth_token_erase(ctx, SCAUTH_GRANT_USER)) != 0)
			log_lib(c, LOG_ERR, "erasing the stage", ctx, e);
		r = 1;
		goto out;
	}
	label = scauth_token_label(tok);
	if (label == NULL || !nonce_ok(label) || !nonce_equal(label, nonce)) {
		/* Worth a line when this transaction's session goes without its login. */
		if (out != NULL || c->o.debug)
			pam_syslog(c->pamh, out != NULL ? LOG_NOTICE : LOG_DEBUG,
			    "%s: the staged login of %s is another transaction's (a newer "
			    "login replaced this one's); left alone", c->fn, c->user);
		r = 1;
		goto out;
	}
	/* Single-use: it leaves the stage now, whatever this transaction does next. */
	if ((e = scauth_token_erase(ctx, SCAUTH_GRANT_USER)) != 0)
		log_lib(c, LOG_ERR, "erasing the stage", ctx, e);
	if (out != NULL) {
		*out = tok;
		tok = NULL;     /* transferred */
	}
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

/* Drops the login of this transaction (wiped by token_cleanup). */
static void
forget_login(const struct call *c)
{
	pam_set_data(c->pamh, DATA_TOKEN, NULL, NULL);
}

/*
 * The login of this transaction, owned by pamh, or NULL.  When auth ran in
 * this process, pam_get_data() has it; else the stage may, in the slot that
 * carries this transaction's nonce.  Either way the transaction's stage slot
 * and nonce are used up by the first call that asks (account, or session
 * open), and a login taken from the stage is kept with pam_set_data() for
 * the calls after it.
 */
static const scauth_token *
this_login(const struct call *c)
{
	const void *data = NULL;
	scauth_token *tok = NULL;
	char nonce[NONCE_LEN + 1];
	int have, r;

	have = stage_nonce(c, nonce);
	if (pam_get_data(c->pamh, DATA_TOKEN, &data) == PAM_SUCCESS && data != NULL) {
		/* Auth ran here: its parked copy is of no use to anyone now. */
		if (have)
			stage_take(c, nonce, NULL);
		goto out;
	}
	data = NULL;
	if (!have || stage_take(c, nonce, &tok) != 0)
		goto out;
	if ((r = pam_set_data(c->pamh, DATA_TOKEN, tok, token_cleanup)) != PAM_SUCCESS) {
		pam_syslog(c->pamh, LOG_ERR, "pam_set_data: %s", pam_strerror(c->pamh, r));
		scauth_token_free(tok);
		goto out;
	}
	data = tok;     /* transferred to pamh */
 out:
	scauth_wipe(nonce, sizeof(nonce));
	return data;
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
	char err[MAP_ERRLEN] = "", nonce[NONCE_LEN + 1] = "";
	char env[sizeof(ENV_STAGE) + NONCE_LEN + 1] = "";
	const char *urn, *permalink;
	int r, e = 0;

	if ((r = call_init(&c, pamh, "auth", GROUP_AUTH, argc, argv)) != PAM_SUCCESS)
		goto out;
	/*
	 * A new attempt in this transaction: what an earlier one left here (its
	 * login, its parked copy) is void.  Other transactions' parked logins
	 * are theirs and stay; a successful login replaces the uid's slot.
	 */
	if (stage_nonce(&c, nonce))
		stage_take(&c, nonce, NULL);
	forget_login(&c);
	if (nonce_new(nonce) != 0) {
		pam_syslog(pamh, LOG_ERR, "getrandom: %s", strerror(errno));
		r = PAM_SYSTEM_ERR;
		goto out;
	}
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
	/* The label binds the parked login to this transaction's nonce. */
	if ((e = scauth_token_set_label(tok, nonce)) != 0) {
		pam_syslog(pamh, LOG_ERR, "labelling the login: %s", scauth_strerror(e));
		r = e == SCAUTH_ENOMEM ? PAM_BUF_ERR : PAM_SERVICE_ERR;
		goto out;
	}
	snprintf(env, sizeof(env), "%s=%s", ENV_STAGE, nonce);
	if (stage_save(&c, tok) == 0 && (e = pam_putenv(pamh, env)) != PAM_SUCCESS) {
		/* Nobody could ever claim it: take it back at once. */
		pam_syslog(pamh, LOG_ERR, "pam_putenv: %s; the login is not staged",
		    pam_strerror(pamh, e));
		stage_take(&c, nonce, NULL);
	}
	if ((r = pam_set_data(pamh, DATA_TOKEN, tok, token_cleanup)) != PAM_SUCCESS) {
		pam_syslog(pamh, LOG_ERR, "pam_set_data: %s", pam_strerror(pamh, r));
		goto out;
	}
	tok = NULL;     /* transferred to pamh */
	r = PAM_SUCCESS;
 out:
	scauth_wipe(nonce, sizeof(nonce));
	scauth_wipe(env, sizeof(env));
	scauth_token_free(tok);
	scauth_login_free(lg);
	scauth_ctx_free(ctx);
	map_free(map);
	return r;
}

/*
 * Credentials are handed over at session open, where the user's store is
 * known, so there is nothing to do here.  PAM_SUCCESS rather than PAM_IGNORE:
 * login programs (login, sshd, display managers) fail the whole login when
 * pam_setcred() fails, and a stack in which every module ignored fails; with
 * this module alone in the auth stack, an ignore would undo the login that it
 * has just allowed.
 */
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
	const scauth_token *tok;
	char err[MAP_ERRLEN] = "";
	int r, e;

	if ((r = call_init(&c, pamh, "account", GROUP_ACCOUNT, argc, argv)) != PAM_SUCCESS)
		goto out;
	if ((tok = this_login(&c)) == NULL) {
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
		/* No session may get it now: its tokens go (this_login() emptied the stage). */
		forget_login(&c);
		r = PAM_PERM_DENIED;
		goto out;
	}
	r = PAM_SUCCESS;
 out:
	map_free(map);
	return r;
}

/* ------------------------------------------------------------------------ */
/* session */

/*
 * How long a child working as the user may take: its HTTP requests (a
 * refresh and the sign-out, each within the configured timeout), and slack.
 */
static int
child_timeout(const scauth_ctx *ctx)
{
	const char *v = scauth_ctx_get(ctx, "timeout");
	char *end;
	long t = 0;

	if (v != NULL) {
		errno = 0;
		t = strtol(v, &end, 10);
		if (errno != 0 || end == v || *end != '\0')
			t = 0;
	}
	if (t < 1 || t > MAX_HTTP_TIMEOUT)
		t = 30;
	return (int)(2 * t + CHILD_SLACK);
}

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

static void
marker_cleanup(pam_handle_t *pamh, void *data, int error_status)
{
	char *label = data;

	scauth_wipe(label, strlen(label));
	free(label);
}

/*
 * Marks the transaction as one whose session got the login labelled so ("" for
 * none), for close_session: it wipes only what its own session handed over.
 */
static int
session_mark(const struct call *c, const char *label)
{
	char *copy;
	int r;

	if ((copy = strdup(label != NULL ? label : "")) == NULL)
		return PAM_BUF_ERR;
	if ((r = pam_set_data(c->pamh, DATA_SESSION, copy, marker_cleanup)) != PAM_SUCCESS) {
		marker_cleanup(c->pamh, copy, 0);
		pam_syslog(c->pamh, LOG_ERR, "pam_set_data: %s", pam_strerror(c->pamh, r));
	}
	return r;
}

struct wipe {
	scauth_ctx *ctx;        /* the user's store, loaded before the switch */
	const char *label;      /* of the login this session handed over; "" if none */
};

/* Results of wipe_logout() besides 0 and a local error (a negative SCAUTH_E*). */
#define WIPE_NOTHING 1          /* nothing was stored */
#define WIPE_LOCAL_ONLY 2       /* erased here, but the server sign-out failed */
#define WIPE_OTHER 3            /* the store holds another session's login now */

/*
 * As the user: sign out at the server, and erase locally whatever the server
 * said.  A login labelled for another transaction is that session's (it
 * replaced ours in the store while this one was open): it stays.  One without
 * a label was made in the session (a tool's own login) and goes, as a kiosk
 * should keep nothing.
 */
static int
wipe_logout(void *arg, char *msg, size_t msglen)
{
	struct wipe *w = arg;
	scauth_token *tok = NULL;
	const char *label;
	int r, e;

	if ((r = scauth_token_peek(w->ctx, SCAUTH_GRANT_USER, &tok)) == SCAUTH_ELOGIN)
		return WIPE_NOTHING;
	label = r == 0 ? scauth_token_label(tok) : NULL;
	if (label != NULL && *w->label != '\0' && !nonce_equal(label, w->label)) {
		scauth_token_free(tok);
		return WIPE_OTHER;
	}
	scauth_token_free(tok);
	if ((r = scauth_logout(w->ctx)) == 0)
		return 0;
	snprintf(msg, msglen, "%s: %s", scauth_strerror(r), scauth_errmsg(w->ctx));
	/* scauth_logout() erased locally unless the error is a local one; make sure. */
	if ((e = scauth_token_erase(w->ctx, SCAUTH_GRANT_USER)) != 0) {
		snprintf(msg, msglen, "%s: %s", scauth_strerror(e), scauth_errmsg(w->ctx));
		return e;
	}
	return WIPE_LOCAL_ONLY;
}

PAM_SM_API int
pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct call c;
	struct handoff h = { NULL, NULL };
	char msg[RUNAS_MSGLEN], env[sizeof(ENV_PROFILE) + MAX_PROFILE + 2];
	int r, e;

	if ((r = call_init(&c, pamh, "session", GROUP_SESSION, argc, argv)) != PAM_SUCCESS)
		goto out;
	if ((h.tok = this_login(&c)) == NULL) {
		pam_syslog(pamh, c.o.debug ? LOG_DEBUG : LOG_INFO,
		    "session: no SoundCloud login of %s to hand over", c.user);
		r = PAM_IGNORE;
		goto out;
	}
	/* Loaded here (as root: the config may be root's alone), written as the user. */
	if ((e = user_ctx(&c, &h.ctx)) != 0) {
		r = PAM_SESSION_ERR;
		goto out;
	}
	if ((e = runas(c.user, c.pw->pw_uid, c.pw->pw_gid, child_timeout(h.ctx), handoff_save,
	    &h, msg, sizeof(msg))) != 0) {
		pam_syslog(pamh, LOG_ERR, "session: cannot store the SoundCloud login for %s: "
		    "%s: %s", c.user, scauth_strerror(e), msg);
		r = PAM_SESSION_ERR;
		goto out;
	}
	pam_syslog(pamh, LOG_INFO, "session: SoundCloud login of %.64s stored for %s in %s",
	    scauth_token_urn(h.tok) ? scauth_token_urn(h.tok) : "?", c.user,
	    scauth_ctx_get(h.ctx, "store") ? scauth_ctx_get(h.ctx, "store") : "the store");
	if ((r = session_mark(&c, scauth_token_label(h.tok))) != PAM_SUCCESS)
		goto out;
	if (c.o.profile != NULL) {
		snprintf(env, sizeof(env), "%s=%s", ENV_PROFILE, c.o.profile);
		if ((e = pam_putenv(pamh, env)) != PAM_SUCCESS)
			pam_syslog(pamh, LOG_ERR, "pam_putenv: %s", pam_strerror(pamh, e));
	}
	r = PAM_SUCCESS;
 out:
	/* The login is in the user's store now, or will not get there: wipe it here. */
	if (h.tok != NULL)
		forget_login(&c);
	scauth_ctx_free(h.ctx);
	return r;
}

/*
 * Only a session that this module opened in this transaction is its to close:
 * anything else (a password login in a mixed stack, another session of the
 * same user) is PAM_IGNORE, and its tokens are not touched.  With "wipe": a
 * kiosk leaves nothing behind.  The server being unreachable does not fail
 * the logout (the tokens are erased here all the same, and the failed
 * sign-out is logged); only a local erase that failed does.
 */
PAM_SM_API int
pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct call c;
	struct wipe w = { NULL, NULL };
	const void *data = NULL;
	char msg[RUNAS_MSGLEN];
	int r, e;

	if ((r = call_init(&c, pamh, "session", GROUP_SESSION, argc, argv)) != PAM_SUCCESS)
		goto out;
	if (pam_get_data(pamh, DATA_SESSION, &data) != PAM_SUCCESS || data == NULL) {
		if (c.o.debug)
			pam_syslog(pamh, LOG_DEBUG, "session: no session of %s opened by this "
			    "module here; nothing to close", c.user);
		r = PAM_IGNORE;
		goto out;
	}
	if (!c.o.wipe) {
		r = PAM_SUCCESS;
		goto out;
	}
	w.label = data;
	if ((e = user_ctx(&c, &w.ctx)) != 0) {
		r = PAM_SESSION_ERR;
		goto out;
	}
	e = runas(c.user, c.pw->pw_uid, c.pw->pw_gid, child_timeout(w.ctx), wipe_logout, &w, msg,
	    sizeof(msg));
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
	case WIPE_OTHER:
		pam_syslog(pamh, LOG_NOTICE, "session: the SoundCloud login in the store of %s "
		    "is another session's now; left alone", c.user);
		r = PAM_SUCCESS;
		break;
	default:
		pam_syslog(pamh, LOG_ERR, "session: cannot erase the SoundCloud login of %s: "
		    "%s: %s", c.user, scauth_strerror(e), msg);
		r = PAM_SESSION_ERR;
		break;
	}
	/* Closed: a second close in this transaction has nothing left to wipe. */
	if (r == PAM_SUCCESS)
		pam_set_data(pamh, DATA_SESSION, NULL, NULL);
 out:
	scauth_ctx_free(w.ctx);
	return r;
}
