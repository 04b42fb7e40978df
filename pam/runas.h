/*
 * runas.h - doing a piece of work as another user, for pam_soundcloud's
 * session hand-off and wipe.  No PAM calls here.
 *
 * setfsuid()-style privilege drops (pam_modutil_drop_priv) are not enough
 * for the token store: it checks owners against the effective uid, and the
 * kernel keyring goes by the real one.  So the work runs in a child process
 * that has fully become the user, and only its result comes back.
 */
#ifndef PAM_SOUNDCLOUD_RUNAS_H
#define PAM_SOUNDCLOUD_RUNAS_H

#include <stddef.h>
#include <sys/types.h>

#define RUNAS_MSGLEN 512

/*
 * The work: returns an int (0, a negative SCAUTH_E* code, or any other value
 * the caller gives a meaning) and may leave a message in msg (NUL-terminated,
 * no secret).
 */
typedef int runas_fn(void *arg, char *msg, size_t msglen);

/*
 * Runs fn(arg) as the user (name, uid, gid) and returns its result, with its
 * message in msg (msglen <= RUNAS_MSGLEN is enough).  When the process
 * already runs as uid, fn runs in-process.  Otherwise, as root, it runs in a
 * child that:
 *  - starts with every signal at SIG_DFL and none blocked (the application's
 *    handlers and mask are not the child's business);
 *  - takes the user's groups (initgroups), gid and uid (real, effective and
 *    saved; checked afterwards, and checked that root cannot be regained),
 *    with umask 077;
 *  - then is not dumpable (the user must not ptrace or core-dump a process
 *    that holds their tokens besides the module's state) and is killed when
 *    its parent dies (both are set after the switch, which resets them).
 *  - keeps no descriptor of the application above stderr but the result
 *    pipe: every other one is closed (close_range) before the switch, and
 *    stdin and stdout are /dev/null.
 * The parent waits at most timeout seconds for the result; then it kills the
 * child (SIGKILL) and returns SCAUTH_ETIMEOUT.  It waits on the child by a
 * pidfd and leaves the application's signal dispositions alone: a SIGCHLD
 * handler of the application keeps working, and may reap the child itself.
 * SCAUTH_ESYSTEM when the work could not run as the
 * user, with the reason in msg.  fn must not keep pointers to the child's
 * memory: nothing but the result and the message comes back from it.
 */
int runas(const char *name, uid_t uid, gid_t gid, int timeout, runas_fn *fn, void *arg,
    char *msg, size_t msglen);

#endif /* PAM_SOUNDCLOUD_RUNAS_H */
