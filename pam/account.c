/*
 * account.c - pam_sm_acct_mgmt: the identity of this transaction's login is
 * still allowed by the map.  It checks without consuming: the login stays
 * (in memory and in the stage, with its nonce in the PAM environment) for
 * the session, which sshd opens in another process than auth and account.
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

#include "map.h"
#include "module.h"

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
	char err[MAP_ERRLEN] = "", shown_urn[SHOWN_MAX];
	int r, e;

	if ((r = call_init(&c, pamh, "account", GROUP_ACCOUNT, argc, argv)) != PAM_SUCCESS)
		goto out;
	if ((tok = this_login(&c, 0)) == NULL) {
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
		pam_syslog(pamh, LOG_NOTICE, "account: SoundCloud account %s may no longer "
		    "log in as %s", scauth_text_display(scauth_token_urn(tok) ?
		    scauth_token_urn(tok) : "?", 0, shown_urn, sizeof(shown_urn)), c.user);
		tell(&c, flags, "This SoundCloud account may not log in as %s", c.user);
		/* No session may get it now: signed out, and gone from the stage. */
		drop_login(&c, "refused by the account check");
		r = PAM_PERM_DENIED;
		goto out;
	}
	r = PAM_SUCCESS;
 out:
	map_free(map);
	return r;
}
