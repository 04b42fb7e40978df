/*
 * helper.h - what the files of git-credential-soundcloud share: the command
 * state, named caps, and the functions each file offers the others.
 */
#ifndef SCAUTH_HELPER_H
#define SCAUTH_HELPER_H

#include <stddef.h>
#include <sys/types.h>

#include "scauth.h"
#include "frontend.h"
#include "credential.h"

#define PROG "git-credential-soundcloud"

/* Named caps and defaults. */
#define MAX_ANSWER        (16 * 1024)        /* the get answer: the token twice, small fields */
#define MAX_API_BODY      (16 * 1024 * 1024) /* a request body given to `api -d` */
#define MAX_METHOD        16
#define DEFAULT_TIMEOUT   300                /* seconds a login waits for the browser */
#define MAX_TIMEOUT       86400
#define MAX_LOADERR       512                /* the library's message for a failed load */
#define MAX_SHOWN         1024               /* a name from the network as shown, escaped */
#define SOUNDCLOUD_HOST   "api.soundcloud.com"  /* the default api_url's host */

/* Exit status 1: the API answered with an error status, and other failures. */
#define EX_FAILURE 1

struct cmd {
	const char *profile;        /* --profile */
	const char *config;         /* --config */
	scauth_ctx *ctx;            /* loaded on first use; NULL while it does not load */
	const char *why;            /* a message of ours that overrides the library's */
	char loaderr[MAX_LOADERR];  /* why the context did not load, "" if it did */
};

struct login_opts {
	int paste;          /* --paste: no listener */
	int no_browser;
	int timeout;
	int stdin_ok;       /* a paste may come from stdin (not under get: it is git's) */
	int relay;          /* --relay: a phone logs in through relay_url */
};

/* main.c: exit codes, messages, the context. */
int exit_status(int err);
/* One line saying what was wrong and where to look; returns EX_USAGE. */
int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Reports a failure with a hint where one helps; returns the exit status for it. */
int fail(struct cmd *cmd, int err, const char *what);
int nonempty(const char *s);
/*
 * A name from the network or a database (user name, permalink, host) as a
 * person may see it: "?" when unset, control and direction characters
 * escaped (scauth_text_display).  Returns buf.
 */
const char *shown(const char *s, char *buf, size_t len);
/* Creates and loads cmd->ctx once. */
int ctx_open(struct cmd *cmd);
/* Writes a whole buffer to stdout; reports a failure on stderr. */
int out_write(const char *buf, size_t len);

/* terminal.c: a person, the browser, hidden input. */
int person_can_answer(void);
int open_tty(void);
int browser_available(void);
pid_t open_browser(const char *url);
/* Removes the browser's page (a file:// address) if a signal ends us; undone by unguard_page(). */
void guard_page(const char *address);
/*
 * For a wait on the phone: SIGINT, SIGTERM, SIGHUP and SIGQUIT end the wait
 * (wait_stopped(), the login's stop hook, says so) instead of the process;
 * unguard_page() then delivers the signal, once the pairing is deleted.
 */
void guard_wait(void);
int wait_stopped(void *arg);
void unguard_page(void);
void reap_browser(pid_t pid);
void show_qr(const char *url);
ssize_t read_hidden_line(int fd, const char *prompt, char *buf, size_t size);

/* login.c */
const char *or_unknown(const char *s);
/* The whole login, then the store; *out receives the new token. */
int login_flow(struct cmd *cmd, const struct login_opts *lo, scauth_token **out);

/* The verbs: protocol.c, login.c, commands.c. */
int cmd_get(struct cmd *cmd, int argc, char **argv);
int cmd_store(struct cmd *cmd, int argc, char **argv);
int cmd_erase(struct cmd *cmd, int argc, char **argv);
int cmd_login(struct cmd *cmd, int argc, char **argv);
int cmd_logout(struct cmd *cmd, int argc, char **argv);
int cmd_token(struct cmd *cmd, int argc, char **argv);
int cmd_header(struct cmd *cmd, int argc, char **argv);
int cmd_status(struct cmd *cmd, int argc, char **argv);
int cmd_api(struct cmd *cmd, int argc, char **argv);
/* cmd_fleet.c */
int cmd_fleet(struct cmd *cmd, int argc, char **argv);

#endif /* SCAUTH_HELPER_H */
