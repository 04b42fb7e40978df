/*
 * error.c - error codes, the failure detail kept on a context, and traces.
 *
 * Detail messages are formatted by the library's own code from non-secret
 * values only; the rule that no secret reaches a message is kept at the call
 * sites, and the trace output is checked for secrets by the test suites.
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Each code once: its class (scauth_err_kind) and its name. */
static const struct {
	int code;
	enum scauth_err_kind kind;
	const char *msg;
} errors[] = {
	{ SCAUTH_OK, SCAUTH_KIND_NONE, "success" },
	{ SCAUTH_EINTERNAL, SCAUTH_KIND_LOCAL, "internal error" },
	{ SCAUTH_ENOMEM, SCAUTH_KIND_LOCAL, "out of memory" },
	{ SCAUTH_EINVAL, SCAUTH_KIND_INPUT, "invalid argument" },
	{ SCAUTH_ECONFIG, SCAUTH_KIND_CONFIG, "configuration error" },
	{ SCAUTH_ESYSTEM, SCAUTH_KIND_LOCAL, "system error" },
	{ SCAUTH_EUNSAFE, SCAUTH_KIND_CONFIG, "unsafe file permissions" },
	{ SCAUTH_ECORRUPT, SCAUTH_KIND_LOGIN, "stored tokens are corrupt" },
	{ SCAUTH_ESTORE, SCAUTH_KIND_TEMPORARY, "cannot write the token store" },
	{ SCAUTH_ELOGIN, SCAUTH_KIND_LOGIN, "login required" },
	{ SCAUTH_ELOCKED, SCAUTH_KIND_TEMPORARY, "timed out waiting for another process" },
	{ SCAUTH_ERATELIMIT, SCAUTH_KIND_TEMPORARY, "rate limited by the server" },
	{ SCAUTH_EGRANT, SCAUTH_KIND_LOGIN, "grant refused by the server (invalid_grant)" },
	{ SCAUTH_ECLIENT, SCAUTH_KIND_CONFIG, "client id or secret refused (invalid_client)" },
	{ SCAUTH_EREQUEST, SCAUTH_KIND_CONFIG, "request refused by the server" },
	{ SCAUTH_EDENIED, SCAUTH_KIND_DENIED, "access denied" },
	{ SCAUTH_ETOKEN, SCAUTH_KIND_LOGIN, "access token refused by the API" },
	{ SCAUTH_EUNAVAIL, SCAUTH_KIND_UNAVAILABLE, "server unavailable" },
	{ SCAUTH_ENETWORK, SCAUTH_KIND_UNAVAILABLE, "cannot reach the server" },
	{ SCAUTH_ETLS, SCAUTH_KIND_UNAVAILABLE, "TLS failure" },
	{ SCAUTH_ETIMEOUT, SCAUTH_KIND_UNAVAILABLE, "timed out" },
	{ SCAUTH_EPROTO, SCAUTH_KIND_UNAVAILABLE, "malformed answer from the server" },
	{ SCAUTH_ESTATE, SCAUTH_KIND_DENIED, "authorization callback does not match this login" },
	{ SCAUTH_ENOLIB, SCAUTH_KIND_MISSING, "a required library is not installed" },
	{ SCAUTH_EHTTP, SCAUTH_KIND_LOCAL, "the token endpoint answered with an error status" },
};

const char *
scauth_strerror(int err)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(errors); i++)
		if (errors[i].code == err)
			return errors[i].msg;
	return "unknown error";
}

enum scauth_err_kind
scauth_err_kind(int err)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(errors); i++)
		if (errors[i].code == err)
			return errors[i].kind;
	return SCAUTH_KIND_LOCAL;
}

static void
vset(scauth_ctx *ctx, const char *fmt, va_list ap, int errnum)
{
	size_t n;

	vsnprintf(ctx->err, sizeof(ctx->err), fmt, ap);
	if (errnum != 0) {
		n = strlen(ctx->err);
		snprintf(ctx->err + n, sizeof(ctx->err) - n, ": %s", strerror(errnum));
	}
}

int
ctx_err(scauth_ctx *ctx, int code, const char *fmt, ...)
{
	va_list ap;

	if (ctx == NULL)
		return code;
	va_start(ap, fmt);
	vset(ctx, fmt, ap, 0);
	va_end(ap);
	return code;
}

int
ctx_errno(scauth_ctx *ctx, int code, const char *fmt, ...)
{
	va_list ap;
	int errnum = errno;

	if (ctx == NULL)
		return code;
	va_start(ap, fmt);
	vset(ctx, fmt, ap, errnum);
	va_end(ap);
	errno = errnum;
	return code;
}

void
ctx_clear_err(scauth_ctx *ctx)
{
	ctx->err[0] = '\0';
}

const char *
scauth_errmsg(const scauth_ctx *ctx)
{
	return ctx != NULL ? ctx->err : "";
}

void
ctx_trace(scauth_ctx *ctx, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (ctx == NULL || ctx->trace == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	ctx->trace(ctx->trace_arg, line);
}

time_t
now(void)
{
	return time(NULL);
}

long long
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
scauth_format_utc(time_t t, char *buf, size_t len)
{
	format_utc(t, buf, len);
}

void
format_utc(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(buf, len, "%lld", (long long)t);
}
