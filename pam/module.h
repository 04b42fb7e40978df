/*
 * module.h - what the files of pam_soundcloud.so share, as pam_unix's
 * support.h does for its stacks: the options, the state of one call, and
 * the support, staging and option functions that auth.c, account.c and
 * session.c are written over.  Not installed.
 *
 * pam_soundcloud.so does kiosk logins with a SoundCloud account:
 *   auth     the OAuth login (Authorization Code + PKCE) through the PAM
 *            conversation, then the map decides whether that SoundCloud
 *            identity may log in as PAM_USER                    (auth.c)
 *   account  the identity of this login is still allowed by the map
 *                                                              (account.c)
 *   session  open: the login's tokens go into the user's own store, written
 *            as the user; close with "wipe": sign out and erase them
 *                                                              (session.c)
 * Auth and session may run in different processes (sshd forks), so auth
 * also parks the login in a root-only staging store (stage.c).  The module
 * runs inside someone else's program: it never prints, never exits, keeps
 * no static state, trusts nothing from the process environment and logs
 * with pam_syslog.  All OAuth, HTTP and storage work is libscauth's.
 */
#ifndef SCAUTH_PAM_MODULE_H
#define SCAUTH_PAM_MODULE_H

#include <limits.h>
#include <pwd.h>
#include <stddef.h>

#include <security/pam_modules.h>

#include "scauth.h"
#include "frontend.h"

/* -fvisibility=hidden hides everything else; the version script agrees. */
#define PAM_SM_API __attribute__((visibility("default")))

#define DEFAULT_MAP       "/etc/soundcloud-auth.map"
#define DEFAULT_STAGEDIR  "/run/soundcloud-auth"
#define DEFAULT_LOGIN_DEFS "/etc/login.defs"
#define DEFAULT_TIMEOUT   120
#define MAX_TIMEOUT       3600
#define MAX_OPTION_LEN    PATH_MAX   /* one module argument */
#define MAX_PROFILE       64         /* as scauth_profile_valid() allows */
#define STAGE_MAX_AGE     600        /* seconds a staged login waits for its session */
#define STAGE_MAX_SKEW    60         /* a staged login from the future: clock trouble */
#define DATA_TOKEN        "pam_soundcloud_token"     /* this transaction's login */
#define DATA_SESSION      "pam_soundcloud_session"   /* open_session handed it over */
#define ENV_PROFILE       "SOUNDCLOUD_AUTH_PROFILE"
#define ENV_STAGE         "SOUNDCLOUD_AUTH_STAGE"    /* the nonce of the staged login */
#define NONCE_BYTES       16                         /* 128 bits */
#define NONCE_LEN         (2 * NONCE_BYTES)          /* in hex */
#define ERRLOG_MAX        2048  /* a library detail in a log line, escaped */
#define SHOWN_MAX         68  /* a name from the network in a message, escaped ("..." past it) */
#define CHILD_SLACK       10  /* seconds for the runas child beyond its HTTP requests */

enum stack {
	GROUP_AUTH = 1,
	GROUP_ACCOUNT = 2,
	GROUP_SESSION = 4,
};
#define GROUP_ALL (GROUP_AUTH | GROUP_ACCOUNT | GROUP_SESSION)

enum mode { MODE_LISTEN, MODE_PASTE, MODE_RELAY };

struct opts {
	const char *config;     /* NULL: the library's system chain */
	const char *profile;    /* NULL: the library's default */
	const char *map;
	const char *stagedir;
	const char *login_defs; /* login(1)'s LOGIN_TIMEOUT, for service "login" */
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

/*
 * screen.c: what the person at the screen reads.  Every conversation message
 * is at most MSG_MAX bytes (LightDM passes 1024); the text a person must read
 * before acting fits SCREEN_COLS x SCREEN_ROWS.
 */
#define MSG_MAX      1000
#define SCREEN_COLS  80
#define SCREEN_ROWS  24
#define URL_COLS     64         /* a URL is shown in lines of this many characters */
#define LOGIN_SLACK  10         /* seconds left to login(1) beyond our wait */
#define GENERIC_REFUSAL "No SoundCloud login is possible for this user name."

struct screen {
	int tty;                /* PAM_TTY is a text terminal: a QR code may be shown */
	int cols, rows;         /* its size, SCREEN_COLS x SCREEN_ROWS when unknown */
};

void screen_get(const struct call *c, struct screen *s);
int wait_limit(const struct call *c, int timeout);
int url_block(const char *url, char *buf, size_t size);
int show_qr(const struct call *c, const struct screen *s, const char *url, int lines,
            int *shown);

/* options.c: the module arguments of one stack, strictly (an unknown one fails). */
int parse_opts(pam_handle_t *pamh, unsigned group, int argc, const char **argv, struct opts *o);

/* support.c: logging, the conversation, the call and the library contexts. */
void log_lib(const struct call *c, int prio, const char *what, const scauth_ctx *ctx, int err);
int converse(pam_handle_t *pamh, int style, const char *text, char **answer);
void answer_free(char *a);
void tell(const struct call *c, int flags, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int call_init(struct call *c, pam_handle_t *pamh, const char *fn, unsigned group, int argc,
              const char **argv);
int ctx_new(const struct call *c, const char *profile, const char *statedir, const char *home,
            scauth_ctx **out);
int user_ctx(const struct call *c, scauth_ctx **out);

/* stage.c: the login of a transaction, and its parked copy for another process. */
int nonce_new(char nonce[NONCE_LEN + 1]);
int stage_nonce(const struct call *c, char nonce[NONCE_LEN + 1], int spend);
int stage_save(const struct call *c, const scauth_token *tok);
int stage_take(const struct call *c, const char *nonce, scauth_token **out, int keep);
void stage_supersede(const struct call *c, const char *why);
void signout_login(const struct call *c, const scauth_token *tok, const char *why);
void token_cleanup(pam_handle_t *pamh, void *data, int error_status);
void forget_login(const struct call *c);
void drop_login(const struct call *c, const char *why);
const scauth_token *this_login(const struct call *c, int take);

#endif /* SCAUTH_PAM_MODULE_H */
