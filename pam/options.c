/*
 * options.c - the module arguments, from one table (as pam_unix's
 * _set_ctrl() and pam-u2f's cfg.c read theirs).
 *
 * Unknown or misplaced options are refused rather than ignored: in a module
 * that decides who logs in, a misspelt "map=" silently falling back to the
 * default would be worse than a login that fails with a log line.  Each
 * argument is checked in one order: its length, its name, its value as its
 * kind reads it, the stack it is for, then the rules every value follows
 * (a flag takes none, others need one, paths are absolute).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <security/pam_ext.h>

#include "module.h"

enum kind {
	KIND_PATH,      /* an absolute path */
	KIND_PROFILE,   /* a profile name */
	KIND_MODE,      /* listen, paste or relay */
	KIND_SECONDS,   /* 1 to MAX_TIMEOUT */
	KIND_FLAG,      /* no value */
};

/* No pointers in it, so that it stays in read-only data (the module keeps no writable state). */
static const struct option {
	char name[12];
	unsigned where;         /* the stacks that take it */
	enum kind kind;
	size_t off;             /* of its field in struct opts */
} options[] = {
	{ "config", GROUP_ALL, KIND_PATH, offsetof(struct opts, config) },
	{ "map", GROUP_AUTH | GROUP_ACCOUNT, KIND_PATH, offsetof(struct opts, map) },
	{ "stagedir", GROUP_ALL, KIND_PATH, offsetof(struct opts, stagedir) },
	{ "profile", GROUP_AUTH | GROUP_SESSION, KIND_PROFILE, offsetof(struct opts, profile) },
	{ "mode", GROUP_AUTH, KIND_MODE, offsetof(struct opts, mode) },
	{ "timeout", GROUP_AUTH, KIND_SECONDS, offsetof(struct opts, timeout) },
	{ "qr", GROUP_AUTH, KIND_FLAG, offsetof(struct opts, qr) },
	{ "wipe", GROUP_SESSION, KIND_FLAG, offsetof(struct opts, wipe) },
	{ "debug", GROUP_ALL, KIND_FLAG, offsetof(struct opts, debug) },
	{ "login_defs", GROUP_AUTH, KIND_PATH, offsetof(struct opts, login_defs) },
};

#define NEEDS_VALUE (-1)        /* set_value(): say that a value is missing */

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

static const char *
group_name(unsigned group)
{
	return group == GROUP_AUTH ? "auth" : group == GROUP_ACCOUNT ? "account" : "session";
}

/* Reads v (NULL without '=') as op's kind into o: PAM_SUCCESS, NEEDS_VALUE or an error. */
static int
set_value(pam_handle_t *pamh, const struct option *op, const char *arg, const char *v,
    struct opts *o)
{
	char *field = (char *)o + op->off, *end;
	long n;

	switch (op->kind) {
	case KIND_PATH:
		*(const char **)(void *)field = v;
		return PAM_SUCCESS;
	case KIND_PROFILE:
		*(const char **)(void *)field = v;
		if (v != NULL && !scauth_profile_valid(v)) {
			pam_syslog(pamh, LOG_ERR,
			    "profile=%.64s: use 1-64 letters, digits, '.', '_' or '-'", v);
			return PAM_SERVICE_ERR;
		}
		return PAM_SUCCESS;
	case KIND_MODE:
		if (v != NULL && strcmp(v, "listen") == 0)
			*(enum mode *)(void *)field = MODE_LISTEN;
		else if (v != NULL && strcmp(v, "paste") == 0)
			*(enum mode *)(void *)field = MODE_PASTE;
		else if (v != NULL && strcmp(v, "relay") == 0)
			*(enum mode *)(void *)field = MODE_RELAY;
		else {
			pam_syslog(pamh, LOG_ERR, "%.64s: mode is listen, paste or relay", arg);
			return PAM_SERVICE_ERR;
		}
		return PAM_SUCCESS;
	case KIND_SECONDS:
		if (v == NULL)
			return NEEDS_VALUE;
		errno = 0;
		n = strtol(v, &end, 10);
		if (errno != 0 || end == v || *end != '\0' || n < 1 || n > MAX_TIMEOUT) {
			pam_syslog(pamh, LOG_ERR, "%.64s: timeout is 1 to %d seconds", arg,
			    MAX_TIMEOUT);
			return PAM_SERVICE_ERR;
		}
		*(int *)(void *)field = (int)n;
		return PAM_SUCCESS;
	case KIND_FLAG:
		*(int *)(void *)field = 1;
		return PAM_SUCCESS;
	}
	return PAM_SERVICE_ERR;
}

int
parse_opts(pam_handle_t *pamh, unsigned group, int argc, const char **argv, struct opts *o)
{
	const struct option *op;
	const char *arg, *v = NULL;
	size_t k;
	int i, r;

	memset(o, 0, sizeof(*o));
	o->map = DEFAULT_MAP;
	o->stagedir = DEFAULT_STAGEDIR;
	o->login_defs = DEFAULT_LOGIN_DEFS;
	o->mode = MODE_LISTEN;
	o->timeout = DEFAULT_TIMEOUT;
	for (i = 0; i < argc; i++) {
		arg = argv[i];
		if (strlen(arg) > MAX_OPTION_LEN) {
			pam_syslog(pamh, LOG_ERR, "option too long: %.40s...", arg);
			return PAM_SERVICE_ERR;
		}
		for (k = 0; k < sizeof(options) / sizeof(options[0]); k++)
			if (opt_is(arg, options[k].name, &v))
				break;
		if (k == sizeof(options) / sizeof(options[0])) {
			pam_syslog(pamh, LOG_ERR, "unknown option '%.64s'; refused", arg);
			return PAM_SERVICE_ERR;
		}
		op = &options[k];
		if ((r = set_value(pamh, op, arg, v, o)) == NEEDS_VALUE)
			goto needs_value;
		if (r != PAM_SUCCESS)
			return r;
		if (!(op->where & group)) {
			pam_syslog(pamh, LOG_ERR,
			    "option '%.64s' is not for the %s stack; refused", arg,
			    group_name(group));
			return PAM_SERVICE_ERR;
		}
		if (op->kind == KIND_FLAG) {
			if (v != NULL) {
				pam_syslog(pamh, LOG_ERR, "option '%.64s' takes no value", arg);
				return PAM_SERVICE_ERR;
			}
			continue;
		}
		if (v == NULL || *v == '\0')
			goto needs_value;
		if (op->kind == KIND_PATH && v[0] != '/') {
			pam_syslog(pamh, LOG_ERR, "%.64s: an absolute path is needed", arg);
			return PAM_SERVICE_ERR;
		}
	}
	return PAM_SUCCESS;
 needs_value:
	pam_syslog(pamh, LOG_ERR, "option '%.64s' needs a value", arg);
	return PAM_SERVICE_ERR;
}
