/*
 * record.c - the stored grant: struct scauth_token, its accessors and its
 * one on-disk (and in-keyring) format.
 *
 * A record is text, so that a person can look at a store with cat and see
 * what it holds, and versioned, so that a later release can tell an old
 * record from garbage:
 *
 *	scauth-token 1
 *	access_token ...
 *	refresh_token ...
 *	expires_at 1735689600
 *
 * One "key value" line each, every line ending in LF.  Unknown keys are
 * skipped (a newer release may add some); anything else that does not parse
 * is SCAUTH_ECORRUPT with a reason that never quotes the input, since the
 * input holds tokens.
 */
#include "internal.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECORD_MAGIC    "scauth-token "
#define MAX_KEY_LEN     32      /* longest key name we look at */
#define MAX_TEXT_LEN    1024    /* scope, urn, permalink, username */
#define MAX_TIME_DIGITS 19      /* INT64_MAX has 19 digits */

enum field_kind {
	F_TOKEN,        /* a secret: 1..MAX_TOKEN_LEN printable ASCII, no space */
	F_TEXT,         /* shown to people: no control characters */
	F_TIME,         /* seconds since the epoch, decimal; 0 is "unset" */
	F_FLAG,         /* an int, 0 or 1; 0 is "unset" */
};

/* A field kept as a string (freed, copied, checked by value_ok). */
#define F_IS_STR(kind) ((kind) == F_TOKEN || (kind) == F_TEXT)

static const struct field {
	const char *key;
	enum field_kind kind;
	size_t off;
} fields[] = {
	{ "access_token", F_TOKEN, offsetof(struct scauth_token, access) },
	{ "refresh_token", F_TOKEN, offsetof(struct scauth_token, refresh) },
	{ "expires_at", F_TIME, offsetof(struct scauth_token, expires_at) },
	{ "obtained_at", F_TIME, offsetof(struct scauth_token, obtained_at) },
	{ "retry_at", F_TIME, offsetof(struct scauth_token, retry_at) },
	{ "scope", F_TEXT, offsetof(struct scauth_token, scope) },
	{ "urn", F_TEXT, offsetof(struct scauth_token, urn) },
	{ "permalink", F_TEXT, offsetof(struct scauth_token, permalink) },
	{ "username", F_TEXT, offsetof(struct scauth_token, username) },
	{ "label", F_TOKEN, offsetof(struct scauth_token, label) },
	{ "refresh_held", F_FLAG, offsetof(struct scauth_token, refresh_held) },
	{ "obtained_by", F_TEXT, offsetof(struct scauth_token, obtained_by) },
};

static char **
str_field(struct scauth_token *t, const struct field *f)
{
	return (char **)(void *)((char *)t + f->off);
}

static char *const *
cstr_field(const struct scauth_token *t, const struct field *f)
{
	return (char *const *)(const void *)((const char *)t + f->off);
}

static time_t *
time_field(struct scauth_token *t, const struct field *f)
{
	return (time_t *)(void *)((char *)t + f->off);
}

static time_t
ctime_field(const struct scauth_token *t, const struct field *f)
{
	return *(const time_t *)(const void *)((const char *)t + f->off);
}

static int *
flag_field(struct scauth_token *t, const struct field *f)
{
	return (int *)(void *)((char *)t + f->off);
}

static int
cflag_field(const struct scauth_token *t, const struct field *f)
{
	return *(const int *)(const void *)((const char *)t + f->off);
}

/* ------------------------------------------------------------------------ */
/* The object and its accessors. */

struct scauth_token *
record_new(void)
{
	return calloc(1, sizeof(struct scauth_token));
}

void
scauth_token_free(scauth_token *t)
{
	size_t i;

	if (t == NULL)
		return;
	/* Identity strings are not secret, but one free path is simpler. */
	for (i = 0; i < ARRAY_SIZE(fields); i++)
		if (F_IS_STR(fields[i].kind))
			sfree(*str_field(t, &fields[i]));
	scauth_wipe(t, sizeof(*t));
	free(t);
}

const char *
scauth_token_access(const scauth_token *t)
{
	return t != NULL ? t->access : NULL;
}

time_t
scauth_token_expires(const scauth_token *t)
{
	return t != NULL ? t->expires_at : 0;
}

time_t
scauth_token_obtained(const scauth_token *t)
{
	return t != NULL ? t->obtained_at : 0;
}

const char *
scauth_token_obtained_by(const scauth_token *t)
{
	return t != NULL ? t->obtained_by : NULL;
}

const char *
scauth_token_scope(const scauth_token *t)
{
	return t != NULL && t->scope != NULL ? t->scope : "";
}

const char *
scauth_token_urn(const scauth_token *t)
{
	return t != NULL ? t->urn : NULL;
}

const char *
scauth_token_permalink(const scauth_token *t)
{
	return t != NULL ? t->permalink : NULL;
}

const char *
scauth_token_username(const scauth_token *t)
{
	return t != NULL ? t->username : NULL;
}

#define MAX_LABEL_LEN 128

int
scauth_token_set_label(scauth_token *t, const char *label)
{
	char *copy = NULL;
	size_t i, n;

	if (t == NULL)
		return SCAUTH_EINVAL;
	if (label != NULL) {
		n = strlen(label);
		if (n == 0 || n > MAX_LABEL_LEN)
			return SCAUTH_EINVAL;
		for (i = 0; i < n; i++)
			if (label[i] < 0x21 || label[i] > 0x7e)
				return SCAUTH_EINVAL;
		if ((copy = strdup(label)) == NULL)
			return SCAUTH_ENOMEM;
	}
	sfree(t->label);
	t->label = copy;
	return SCAUTH_OK;
}

const char *
scauth_token_label(const scauth_token *t)
{
	return t != NULL ? t->label : NULL;
}

int
scauth_token_renewable(const scauth_token *t)
{
	return t != NULL && (t->refresh != NULL || t->refresh_held);
}

/*
 * What a machine keeps of a grant held elsewhere (a local copy): the
 * refresh token dropped, marked as held there so that the copy still reads
 * as renewable; the access token dropped too unless keep_access.
 */
void
record_reduce(struct scauth_token *t, int keep_access)
{
	if (t->refresh != NULL)
		t->refresh_held = 1;
	sfree(t->refresh);
	t->refresh = NULL;
	if (!keep_access) {
		sfree(t->access);
		t->access = NULL;
	}
}

/*
 * A copy given back to be stored (scauth_token_save of what
 * scauth_token_peek read from the copy) gets the refresh token of whole, the
 * record it replaces, again: no save through a copy can lose it.
 */
int
record_refill(struct scauth_token *t, const struct scauth_token *whole)
{
	if (t->refresh_held && t->refresh == NULL && whole != NULL && whole->refresh != NULL &&
	    (t->refresh = sstrdup(whole->refresh)) == NULL)
		return SCAUTH_ENOMEM;
	t->refresh_held = 0;
	return 0;
}

struct scauth_token *
record_dup(const struct scauth_token *t)
{
	struct scauth_token *d;
	const char *s;
	size_t i;

	if ((d = record_new()) == NULL)
		return NULL;
	for (i = 0; i < ARRAY_SIZE(fields); i++) {
		if (fields[i].kind == F_TIME) {
			*time_field(d, &fields[i]) = ctime_field(t, &fields[i]);
			continue;
		}
		if (fields[i].kind == F_FLAG) {
			*flag_field(d, &fields[i]) = cflag_field(t, &fields[i]);
			continue;
		}
		if ((s = *cstr_field(t, &fields[i])) == NULL)
			continue;
		if ((*str_field(d, &fields[i]) = sstrdup(s)) == NULL) {
			scauth_token_free(d);
			return NULL;
		}
	}
	return d;
}

/* ------------------------------------------------------------------------ */
/* Values. */

/* 1 if s[0..n) is a valid value of the given kind. */
static int
value_ok(enum field_kind kind, const char *s, size_t n)
{
	size_t i;
	unsigned char c;

	switch (kind) {
	case F_TOKEN:
		if (n == 0 || n > MAX_TOKEN_LEN)
			return 0;
		for (i = 0; i < n; i++)
			if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
				return 0;
		return 1;
	case F_TEXT:
		if (n > MAX_TEXT_LEN)
			return 0;
		for (i = 0; i < n; i++) {
			c = (unsigned char)s[i];
			if (c < ' ' || c == 0x7f)
				return 0;
		}
		return 1;
	case F_TIME:
	case F_FLAG:
		break;
	}
	return 0;
}

/*
 * Decimal digits only: no sign, no blanks, no hex, bounded so that it fits
 * time_t.  Returns 0 and fills *out, or -1.
 */
static int
parse_time(const char *s, size_t n, time_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (n == 0 || n > MAX_TIME_DIGITS)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');    /* 19 digits cannot wrap */
	}
	if (v > INT64_MAX || (uint64_t)(time_t)v != v)
		return -1;
	*out = (time_t)v;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Serializing. */

int
record_serialize(const struct scauth_token *t, struct sbuf *out)
{
	const struct field *f;
	const char *s;
	time_t v;
	size_t i;
	int r;

	sbuf_reset(out);
	if (t == NULL)
		return SCAUTH_EINVAL;
	if ((r = sbuf_addf(out, RECORD_MAGIC "%d\n", RECORD_VERSION)) != 0)
		goto out;
	for (i = 0; i < ARRAY_SIZE(fields); i++) {
		f = &fields[i];
		if (f->kind == F_TIME) {
			if ((v = ctime_field(t, f)) == 0)
				continue;
			if (v < 0) {
				r = SCAUTH_EINVAL;
				goto out;
			}
			r = sbuf_addf(out, "%s %lld\n", f->key, (long long)v);
		} else if (f->kind == F_FLAG) {
			if (cflag_field(t, f) == 0)
				continue;
			r = sbuf_addf(out, "%s 1\n", f->key);
		} else {
			if ((s = *cstr_field(t, f)) == NULL)
				continue;
			/* A line break here would forge the lines after it. */
			if (!value_ok(f->kind, s, strlen(s))) {
				r = SCAUTH_EINVAL;
				goto out;
			}
			r = sbuf_addf(out, "%s %s\n", f->key, s);
		}
		if (r != 0)
			goto out;
	}
	if (out->len > MAX_RECORD)
		r = SCAUTH_EINVAL;
out:
	if (r == SCAUTH_EPROTO)         /* over out's cap */
		r = SCAUTH_EINVAL;
	if (r != 0)
		sbuf_reset(out);
	return r;
}

/* ------------------------------------------------------------------------ */
/* Parsing. */

static const struct field *
field_find(const char *key, size_t n)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(fields); i++)
		if (strlen(fields[i].key) == n && memcmp(fields[i].key, key, n) == 0)
			return &fields[i];
	return NULL;
}

static int
key_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > MAX_KEY_LEN)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	return 1;
}

/* The first line: "scauth-token 1".  why never quotes the input. */
static int
parse_version(const char *line, size_t n, char *why, size_t whylen)
{
	size_t mlen = strlen(RECORD_MAGIC), i;
	time_t v;

	if (n < mlen || memcmp(line, RECORD_MAGIC, mlen) != 0) {
		snprintf(why, whylen, "not a soundcloud-auth record (the first line is not "
		    "\"" RECORD_MAGIC "%d\")", RECORD_VERSION);
		return SCAUTH_ECORRUPT;
	}
	for (i = mlen; i < n; i++)
		if (line[i] < '0' || line[i] > '9')
			break;
	if (i != n || parse_time(line + mlen, n - mlen, &v) != 0) {
		snprintf(why, whylen, "malformed version line");
		return SCAUTH_ECORRUPT;
	}
	if (v != RECORD_VERSION) {
		snprintf(why, whylen, "record version %lld is not supported (this release "
		    "reads version %d; was it written by a newer one?)", (long long)v,
		    RECORD_VERSION);
		return SCAUTH_ECORRUPT;
	}
	return 0;
}

/* One "key value" line after the first. */
static int
parse_line(struct scauth_token *t, unsigned *seen, const char *line, size_t n,
    unsigned lineno, char *why, size_t whylen)
{
	const struct field *f;
	const char *sp, *val;
	size_t klen, vlen;
	unsigned bit;

	if ((sp = memchr(line, ' ', n)) == NULL) {
		snprintf(why, whylen, "line %u: not a \"key value\" line", lineno);
		return SCAUTH_ECORRUPT;
	}
	klen = (size_t)(sp - line);
	val = sp + 1;
	vlen = n - klen - 1;
	if (!key_ok(line, klen)) {
		snprintf(why, whylen, "line %u: malformed key", lineno);
		return SCAUTH_ECORRUPT;
	}
	if ((f = field_find(line, klen)) == NULL)
		return 0;       /* written by a newer release: not ours to judge */
	bit = 1u << (unsigned)(f - fields);
	if (*seen & bit) {
		snprintf(why, whylen, "line %u: %s appears twice", lineno, f->key);
		return SCAUTH_ECORRUPT;
	}
	*seen |= bit;
	if (f->kind == F_TIME) {
		if (parse_time(val, vlen, time_field(t, f)) != 0) {
			snprintf(why, whylen, "line %u: %s is not a whole number of seconds",
			    lineno, f->key);
			return SCAUTH_ECORRUPT;
		}
		return 0;
	}
	if (f->kind == F_FLAG) {
		if (vlen != 1 || (val[0] != '0' && val[0] != '1')) {
			snprintf(why, whylen, "line %u: %s is not 0 or 1", lineno, f->key);
			return SCAUTH_ECORRUPT;
		}
		*flag_field(t, f) = val[0] == '1';
		return 0;
	}
	if (!value_ok(f->kind, val, vlen)) {
		snprintf(why, whylen, "line %u: %s has a malformed value", lineno, f->key);
		return SCAUTH_ECORRUPT;
	}
	if ((*str_field(t, f) = sstrndup(val, vlen)) == NULL)
		return SCAUTH_ENOMEM;
	return 0;
}

int
record_parse_why(const char *data, size_t len, struct scauth_token **out, char *why,
    size_t whylen)
{
	struct scauth_token *t = NULL;
	const char *p, *end, *nl;
	unsigned seen = 0, lineno = 0;
	char scratch[8];
	int r;

	*out = NULL;
	if (why == NULL || whylen == 0) {
		why = scratch;
		whylen = sizeof(scratch);
	}
	why[0] = '\0';
	if (data == NULL || len == 0) {
		snprintf(why, whylen, "empty record");
		return SCAUTH_ECORRUPT;
	}
	if (len > MAX_RECORD) {
		snprintf(why, whylen, "record larger than %d bytes", MAX_RECORD);
		return SCAUTH_ECORRUPT;
	}
	if (memchr(data, '\0', len) != NULL || memchr(data, '\r', len) != NULL) {
		snprintf(why, whylen, "record holds a NUL or CR byte");
		return SCAUTH_ECORRUPT;
	}
	/* A record always ends in LF: a missing one means it was cut short. */
	if (data[len - 1] != '\n') {
		snprintf(why, whylen, "record is truncated (no newline at its end)");
		return SCAUTH_ECORRUPT;
	}
	if ((t = record_new()) == NULL)
		return SCAUTH_ENOMEM;
	end = data + len;
	for (p = data; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));    /* found: data ends in LF */
		lineno++;
		if (lineno == 1)
			r = parse_version(p, (size_t)(nl - p), why, whylen);
		else
			r = parse_line(t, &seen, p, (size_t)(nl - p), lineno, why, whylen);
		if (r != 0)
			goto out;
	}
	*out = t;
	t = NULL;       /* transferred */
	r = 0;
out:
	scauth_token_free(t);
	return r;
}

int
record_parse(const char *data, size_t len, struct scauth_token **out)
{
	return record_parse_why(data, len, out, NULL, 0);
}
