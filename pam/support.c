/*
 * support.c - what every stack of pam_soundcloud.so is written over: log
 * lines, the application's conversation, setting up a call (options, the
 * user) and the library contexts, which ignore the process environment and
 * take config files only from root.
 */
#include <errno.h>
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

#include "module.h"

static void
trace_line(void *arg, const char *line)
{
	/* A line may quote a database (a refresher's host name): never a raw log line. */
	char safe[4 * 512 + 4];

	pam_syslog((pam_handle_t *)arg, LOG_DEBUG, "%s",
	    scauth_text_display(line, 0, safe, sizeof(safe)));
}

/* Logs a library failure with its detail (which never holds a secret). */
void
log_lib(const struct call *c, int prio, const char *what, const scauth_ctx *ctx, int err)
{
	char detail[ERRLOG_MAX];

	/* A detail may quote a server (a database's error message): never a raw line. */
	scauth_text_display(scauth_errmsg(ctx), 0, detail, sizeof(detail));
	pam_syslog(c->pamh, prio, "%s: %s%s%s", what, scauth_strerror(err),
	    *detail != '\0' ? ": " : "", detail);
}

/*
 * One message through the application's conversation function.  With answer,
 * the reply is handed over (the caller wipes and frees it with answer_free);
 * every other reply is wiped and freed here, errors included.  No message
 * is ever longer than MSG_MAX bytes: LightDM passes them through a 1024-byte
 * buffer and its greeter hangs on a longer one.  The texts are written to
 * stay well under it; a longer one is a bug, logged, and cut at a character.
 */
int
converse(pam_handle_t *pamh, int style, const char *text, char **answer)
{
	const struct pam_conv *conv = NULL;
	const void *item = NULL;
	struct pam_message msg;
	const struct pam_message *msgp = &msg;
	struct pam_response *resp = NULL;
	char cut[MSG_MAX + 1];
	size_t n;
	int r;

	if (answer != NULL)
		*answer = NULL;
	if ((n = strlen(text)) > MSG_MAX) {
		pam_syslog(pamh, LOG_ERR, "a message of %zu bytes cut to %d", n, MSG_MAX);
		n = MSG_MAX;
		while (n > 0 && ((unsigned char)text[n] & 0xc0) == 0x80)
			n--;
		memcpy(cut, text, n);
		cut[n] = '\0';
		text = cut;
	}
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

void
answer_free(char *a)
{
	if (a != NULL) {
		scauth_wipe(a, strlen(a));
		free(a);
	}
}

/* Tells the person something they can act on; skipped with PAM_SILENT. */
void
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

int
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
int
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

/* The user's own store: their home's state directory, their profile. */
int
user_ctx(const struct call *c, scauth_ctx **out)
{
	return ctx_new(c, c->o.profile, NULL, c->pw->pw_dir, out);
}
