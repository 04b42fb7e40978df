/*
 * commands.c - the commands for people and scripts that use a token: token,
 * header, status (never a secret) and api.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "helper.h"

/* Parses [--client-credentials]; returns the grant, or -1 after a usage message. */
static int
parse_grant(int argc, char **argv)
{
	int grant = SCAUTH_GRANT_USER, i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--client-credentials") != 0) {
			usage_error("unknown argument '%s'", argv[i]);
			return -1;
		}
		grant = SCAUTH_GRANT_APP;
	}
	return grant;
}

/* Prints prefix, the token and a newline on stdout in one write. */
static int
print_token(struct cmd *cmd, int argc, char **argv, const char *prefix)
{
	char buf[MAX_ANSWER];
	scauth_token *t = NULL;
	const char *token;
	int grant, r, status;
	size_t plen, tlen;

	if ((grant = parse_grant(argc, argv)) < 0)
		return EX_USAGE;
	if ((r = ctx_open(cmd)) < 0 ||
	    (r = scauth_token_get(cmd->ctx, (enum scauth_grant)grant, &t)) < 0)
		return fail(cmd, r, NULL);
	token = scauth_token_access(t);
	plen = strlen(prefix);
	tlen = token != NULL ? strlen(token) : 0;
	if (tlen == 0 || plen + tlen + 1 > sizeof(buf)) {
		fputs(PROG ": no usable access token\n", stderr);
		status = EX_FAILURE;
	} else {
		memcpy(buf, prefix, plen);
		memcpy(buf + plen, token, tlen);
		buf[plen + tlen] = '\n';
		status = out_write(buf, plen + tlen + 1);
	}
	scauth_wipe(buf, sizeof(buf));
	scauth_token_free(t);
	return status;
}

int
cmd_token(struct cmd *cmd, int argc, char **argv)
{
	return print_token(cmd, argc, argv, "");
}

int
cmd_header(struct cmd *cmd, int argc, char **argv)
{
	return print_token(cmd, argc, argv, "Authorization: OAuth ");
}

/* "in 58 min", "3 h 2 min ago" */
static void
format_relative(char *buf, size_t size, long long secs)
{
	long long a = secs < 0 ? -secs : secs;
	const char *pre = secs < 0 ? "" : "in ", *post = secs < 0 ? " ago" : "";

	if (a < 60)
		snprintf(buf, size, "%s%lld s%s", pre, a, post);
	else if (a < 3600)
		snprintf(buf, size, "%s%lld min%s", pre, a / 60, post);
	else if (a < 2 * 86400)
		snprintf(buf, size, "%s%lld h %lld min%s", pre, a / 3600, a % 3600 / 60, post);
	else
		snprintf(buf, size, "%s%lld days%s", pre, a / 86400, post);
}

/* What status knows about one grant, without the network. */
struct grant_info {
	int present;
	int unknown;        /* the store could not be reached, and this machine has none */
	int has_access;     /* an access token is held (not dropped) */
	int fresh;          /* ... and not yet due for a refresh */
	int renewable;
	time_t expires, obtained;
	const char *urn, *permalink, *username, *scope, *obtained_by;
};

static void
grant_info(struct cmd *cmd, const scauth_token *t, struct grant_info *gi)
{
	memset(gi, 0, sizeof(*gi));
	if (t == NULL)
		return;
	gi->present = 1;
	gi->has_access = scauth_token_access(t) != NULL;
	gi->expires = scauth_token_expires(t);
	gi->fresh = scauth_token_fresh(cmd->ctx, t);
	gi->renewable = scauth_token_renewable(t);
	gi->urn = scauth_token_urn(t);
	gi->permalink = scauth_token_permalink(t);
	gi->username = scauth_token_username(t);
	gi->scope = scauth_token_scope(t);
	gi->obtained = scauth_token_obtained(t);
	gi->obtained_by = scauth_token_obtained_by(t);
}

static void
print_grant_text(const char *label, const struct grant_info *gi)
{
	char when[64], rel[64], name[MAX_SHOWN], link[MAX_SHOWN], urn[MAX_SHOWN];

	if (gi->unknown) {
		printf("%-9s %s\n", label, "unknown: the store cannot be reached");
		return;
	}
	if (!gi->present) {
		printf("%-9s %s\n", label, strcmp(label, "user:") == 0 ? "not logged in" : "none");
		return;
	}
	if (gi->urn != NULL || gi->permalink != NULL || gi->username != NULL)
		printf("%-9s %s (%s, %s)\n", label, shown(gi->username, name, sizeof(name)),
		    shown(gi->permalink, link, sizeof(link)), shown(gi->urn, urn, sizeof(urn)));
	else
		printf("%-9s %s\n", label, "token held");
	if (!gi->has_access) {
		printf("  token:  dropped, the next use %s\n",
		    gi->renewable ? "refreshes it" : "needs a new grant");
	} else if (gi->expires == 0) {
		printf("  token:  held, expiry unknown\n");
	} else {
		scauth_format_utc(gi->expires, when, sizeof(when));
		format_relative(rel, sizeof(rel), (long long)(gi->expires - time(NULL)));
		printf("  token:  %s %s (%s)\n", gi->fresh ? "valid until" :
		    gi->expires > time(NULL) ? "due for refresh, expires" : "expired", when, rel);
	}
	printf("  renew:  %s\n", gi->renewable ? "yes, a refresh token is held" : "no");
	if (nonempty(gi->scope))
		printf("  scope:  %s\n", shown(gi->scope, name, sizeof(name)));
	/* Where a store records which machine renewed the grant (a fleet's). */
	if (gi->obtained_by != NULL && gi->obtained > 0) {
		scauth_format_utc(gi->obtained, when, sizeof(when));
		format_relative(rel, sizeof(rel), (long long)(gi->obtained - time(NULL)));
		printf("  fleet:  last refreshed %s (%s) by %s\n", when, rel,
		    shown(gi->obtained_by, name, sizeof(name)));
	}
}

/*
 * Writes s as a JSON string (or null): UTF-8 passes; controls, direction
 * marks and bytes that are not UTF-8 are escaped (scauth_text_display).
 */
static void
json_string(const char *s)
{
	char buf[6 * MAX_SHOWN + 1];

	if (s == NULL)
		fputs("null", stdout);
	else
		printf("\"%s\"", scauth_text_display(s, SCAUTH_TEXT_JSON, buf, sizeof(buf)));
}

static void
print_grant_json(const struct grant_info *gi)
{
	char when[32];
	struct tm tm;

	if (!gi->present) {
		fputs("null", stdout);
		return;
	}
	fputs("{\"urn\":", stdout);
	json_string(gi->urn);
	fputs(",\"permalink\":", stdout);
	json_string(gi->permalink);
	fputs(",\"username\":", stdout);
	json_string(gi->username);
	fputs(",\"scope\":", stdout);
	json_string(gi->scope);
	printf(",\"access_token\":\"%s\"", !gi->has_access ? "dropped" :
	    gi->fresh ? "valid" : "expired");
	if (gi->expires > 0 && gmtime_r(&gi->expires, &tm) != NULL &&
	    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) > 0)
		printf(",\"expires_at\":\"%s\",\"expires_in\":%lld", when,
		    (long long)(gi->expires - time(NULL)));
	else
		fputs(",\"expires_at\":null,\"expires_in\":null", stdout);
	printf(",\"renewable\":%s", gi->renewable ? "true" : "false");
	if (gi->obtained > 0 && gmtime_r(&gi->obtained, &tm) != NULL &&
	    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) > 0)
		printf(",\"obtained_at\":\"%s\"", when);
	else
		fputs(",\"obtained_at\":null", stdout);
	fputs(",\"obtained_by\":", stdout);
	json_string(gi->obtained_by);
	putchar('}');
}

/*
 * The grant as the store itself holds it (a fleet's database), else as this
 * machine has it, with a word on stderr: status still shows what it knows.
 * After one store that could not be reached (*offline), the next grant is
 * read from this machine at once.  0 with *t, or NULL when there is none or
 * (*unknown) when this machine has only a placeholder; <0 on other errors.
 */
static int
read_grant(struct cmd *cmd, enum scauth_grant g, int *offline, int *unknown,
    scauth_token **t)
{
	char why[4 * MAX_SHOWN];
	int r;

	*unknown = 0;
	r = *offline ? SCAUTH_ESTORE : scauth_token_inspect(cmd->ctx, g, t);
	if (r < 0 && r != SCAUTH_ELOGIN && scauth_err_kind(r) == SCAUTH_KIND_TEMPORARY) {
		if (!*offline)
			fprintf(stderr, PROG ": status: %s; showing this machine's copy\n",
			    scauth_text_display(scauth_errmsg(cmd->ctx), 0, why, sizeof(why)));
		*offline = 1;
		r = scauth_token_peek(cmd->ctx, g, t);
		/* A copy that names nothing stands for a grant only the store knows. */
		if (r == 0 && scauth_token_access(*t) == NULL && !scauth_token_renewable(*t) &&
		    scauth_token_obtained(*t) == 0 && scauth_token_urn(*t) == NULL) {
			scauth_token_free(*t);
			*t = NULL;
			*unknown = 1;
		}
	}
	return r == SCAUTH_ELOGIN ? 0 : r;
}

/*
 * Logged in means a user grant that can still hand out a token without a
 * login: a fresh access token or a refresh token.  Exit 0 then, 77 if not.
 */
int
cmd_status(struct cmd *cmd, int argc, char **argv)
{
	scauth_token *user = NULL, *app = NULL;
	struct grant_info ui, ai;
	const char *store;
	char where[4200];
	int json = 0, i, r, logged_in, file_store, status, offline = 0;
	int user_unknown, app_unknown;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") != 0)
			return usage_error("status: unknown argument '%s'", argv[i]);
		json = 1;
	}
	if ((r = ctx_open(cmd)) < 0)
		return fail(cmd, r, NULL);
	if ((r = read_grant(cmd, SCAUTH_GRANT_USER, &offline, &user_unknown, &user)) < 0)
		return fail(cmd, r, "user grant");
	if ((r = read_grant(cmd, SCAUTH_GRANT_APP, &offline, &app_unknown, &app)) < 0) {
		scauth_token_free(user);
		return fail(cmd, r, "app grant");
	}
	grant_info(cmd, user, &ui);
	grant_info(cmd, app, &ai);
	ui.unknown = user_unknown;
	ai.unknown = app_unknown;
	store = scauth_ctx_get(cmd->ctx, "store");
	file_store = store != NULL && strcmp(store, "file") == 0;
	logged_in = ui.present && (ui.fresh || ui.renewable);
	if (json) {
		fputs("{\"profile\":", stdout);
		json_string(scauth_ctx_get(cmd->ctx, "profile"));
		fputs(",\"store\":", stdout);
		json_string(scauth_ctx_get(cmd->ctx, "store"));
		fputs(",\"state_dir\":", stdout);
		json_string(file_store ? scauth_ctx_get(cmd->ctx, "state_dir") : NULL);
		printf(",\"store_reachable\":%s", offline ? "false" : "true");
		printf(",\"logged_in\":%s,\"user\":", logged_in ? "true" : "false");
		print_grant_json(&ui);
		fputs(",\"app\":", stdout);
		print_grant_json(&ai);
		fputs("}\n", stdout);
	} else {
		printf("%-9s %s\n", "profile:", or_unknown(scauth_ctx_get(cmd->ctx, "profile")));
		if (file_store)
			printf("%-9s file in %s\n", "store:",
			    or_unknown(scauth_ctx_get(cmd->ctx, "state_dir")));
		else
			printf("%-9s %s: %s\n", "store:", or_unknown(store),
			    scauth_ctx_store_where(cmd->ctx, where, sizeof(where)));
		print_grant_text("user:", &ui);
		print_grant_text("app:", &ai);
	}
	scauth_token_free(user);
	scauth_token_free(app);
	/* Not knowing whether someone is logged in is not "logged out". */
	status = logged_in ? 0 : user_unknown ? EX_TEMPFAIL : EX_NOPERM;
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, PROG ": writing to stdout: %s\n", strerror(errno));
		status = EX_FAILURE;
	}
	return status;
}

/* Reads all of fd into *out (malloc'd), at most MAX_API_BODY bytes. */
static int
read_all(int fd, char **out, size_t *outlen)
{
	size_t len = 0, cap = 0;
	char *p = NULL, *np;
	ssize_t n;

	*out = NULL;
	*outlen = 0;
	for (;;) {
		if (len == cap) {
			if (cap >= MAX_API_BODY + 1) {
				free(p);
				errno = EFBIG;
				return -1;
			}
			cap = cap == 0 ? 4096 : cap * 2;
			if (cap > MAX_API_BODY + 1)
				cap = MAX_API_BODY + 1;
			if ((np = realloc(p, cap)) == NULL) {
				free(p);
				return -1;
			}
			p = np;
		}
		n = read(fd, p + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(p);
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > MAX_API_BODY) {
			free(p);
			errno = EFBIG;
			return -1;
		}
	}
	*out = p;
	*outlen = len;
	return 0;
}

/* -d BODY, -d @FILE, -d @- */
static int
load_body(const char *arg, char **body, size_t *len)
{
	int fd, r;

	*body = NULL;
	*len = 0;
	if (arg[0] != '@') {
		if ((*body = strdup(arg)) == NULL)
			return -1;
		*len = strlen(arg);
		return 0;
	}
	if (strcmp(arg, "@-") == 0)
		return read_all(STDIN_FILENO, body, len);
	if ((fd = open(arg + 1, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
		return -1;
	r = read_all(fd, body, len);
	close(fd);
	return r;
}

static int
valid_method(const char *m)
{
	size_t n = strlen(m), i;

	if (n == 0 || n > MAX_METHOD)
		return 0;
	for (i = 0; i < n; i++) {
		if (!isupper((unsigned char)m[i]))
			return 0;
	}
	return 1;
}

/* -H 'Content-Type: TYPE': returns TYPE, or NULL for any other header. */
static const char *
content_type_header(const char *h)
{
	static const char name[] = "content-type:";

	if (strncasecmp(h, name, sizeof(name) - 1) != 0)
		return NULL;
	h += sizeof(name) - 1;
	h += strspn(h, " \t");
	return *h != '\0' && strpbrk(h, "\r\n") == NULL ? h : NULL;
}

/*
 * One API call.  The answer's body goes to stdout whatever the status; a
 * status other than 2xx is also reported on stderr and exits 1.
 */
int
cmd_api(struct cmd *cmd, int argc, char **argv)
{
	const char *method = NULL, *data = NULL, *ctype = NULL, *path = NULL, *arg;
	enum scauth_grant grant = SCAUTH_GRANT_USER;
	scauth_response *resp = NULL;
	const char *rbody;
	char *body = NULL;
	size_t blen = 0, rlen = 0;
	long code;
	int i, r, status = 0, opts = 1;

	for (i = 1; i < argc; i++) {
		arg = argv[i];
		if (opts && strcmp(arg, "--") == 0) {
			opts = 0;
		} else if (opts && strcmp(arg, "--client-credentials") == 0) {
			grant = SCAUTH_GRANT_APP;
		} else if (opts && (strcmp(arg, "-X") == 0 || strcmp(arg, "-d") == 0 ||
		    strcmp(arg, "-H") == 0)) {
			if (i + 1 >= argc)
				return usage_error("api: %s needs a value", arg);
			if (arg[1] == 'X')
				method = argv[++i];
			else if (arg[1] == 'd' && data == NULL)
				data = argv[++i];
			else if (arg[1] == 'd')
				return usage_error("api: -d given twice");
			else if ((ctype = content_type_header(argv[++i])) == NULL)
				return usage_error("api: -H sets 'Content-Type: TYPE' only, "
				    "not '%s'", argv[i]);
		} else if (opts && arg[0] == '-' && arg[1] != '\0') {
			return usage_error("api: unknown option '%s'", arg);
		} else if (path == NULL) {
			path = arg;
		} else {
			return usage_error("api: one PATH only, not also '%s'", arg);
		}
	}
	if (path == NULL)
		return usage_error("api: PATH missing (like /me)");
	/* The token goes to api_url's origin only: a full URL is refused. */
	if (path[0] != '/')
		return usage_error("api: PATH must start with '/' (relative to api_url), not '%s'",
		    path);
	if (method == NULL)
		method = data != NULL ? "POST" : "GET";
	if (!valid_method(method))
		return usage_error("api: '%s' is not an HTTP method", method);
	if (data != NULL && load_body(data, &body, &blen) < 0) {
		fprintf(stderr, PROG ": api: reading the body from %s: %s\n", data,
		    strerror(errno));
		return EX_FAILURE;
	}
	if ((r = ctx_open(cmd)) < 0 || (r = scauth_api_request(cmd->ctx, grant, method, path,
	    body, blen, ctype, &resp)) < 0) {
		status = fail(cmd, r, NULL);
		goto out;
	}
	code = scauth_response_status(resp);
	rbody = scauth_response_body(resp, &rlen);
	if (rlen > 0 && (status = out_write(rbody, rlen)) != 0)
		goto out;
	if (code < 200 || code > 299) {
		fprintf(stderr, PROG ": HTTP %ld\n", code);
		status = EX_FAILURE;
	}
 out:
	scauth_response_free(resp);
	free(body);
	return status;
}
