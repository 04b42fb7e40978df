/*
 * text.c - names from the network (a user name, a permalink, a fleet's host
 * name) made safe to show to a person or to write to a log.
 *
 * A terminal acts on what it is sent: ESC and the C1 controls (CSI is
 * U+009B) start sequences that recolour, move the cursor or retitle the
 * window, CR and LF forge lines (in a log too), and the bidirectional
 * overrides and isolates reorder what follows them on the line, so that a
 * name can make "logged in as evil" read as something else.  Such
 * characters, and bytes that are not UTF-8, are shown as escapes; the rest
 * of UTF-8 passes unchanged, so names in any script read as they are.
 *
 * And the names we make files and keys of: a profile's (profile_valid), so
 * that config.c, store.c and lock.c check it alike from below them; and the
 * numbers of settings (number_parse), which config.c and a module that
 * reads its own keys (pg.c) take alike.
 */
#include "internal.h"
#include "store.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The length of the well-formed UTF-8 character at s (RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF), with its code
 * point in *cp; 0 if s does not start one.
 */
static size_t
utf8_char(const unsigned char *s, unsigned long *cp)
{
	unsigned long c;
	size_t n, i;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		c = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		c = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		c = s[0] & 0x07;
	} else {
		return 0;
	}
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)      /* the NUL ends it here too */
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && c < 0x800) || (n == 4 && c < 0x10000) || c > 0x10ffff ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

/* 1 for a code point that is shown as an escape although it is well formed. */
static int
unsafe_char(unsigned long c)
{
	return c < 0x20 || (c >= 0x7f && c <= 0x9f) ||  /* C0, DEL, C1 */
	    c == 0x061c ||                               /* ARABIC LETTER MARK */
	    c == 0x200e || c == 0x200f ||                /* LRM, RLM */
	    (c >= 0x2028 && c <= 0x202e) ||              /* LINE/PARAGRAPH SEPARATOR, LRE..RLO */
	    (c >= 0x2066 && c <= 0x2069) ||              /* LRI, RLI, FSI, PDI */
	    c == 0xfeff;                                 /* BOM, ZERO WIDTH NO-BREAK SPACE */
}

const char *
scauth_text_display(const char *s, unsigned flags, char *buf, size_t len)
{
	const unsigned char *p = (const unsigned char *)(s != NULL ? s : "");
	int json = (flags & SCAUTH_TEXT_JSON) != 0;
	char esc[8];
	const char *piece;
	unsigned long c;
	size_t o = 0, mark = 0, n, k;

	if (len == 0)
		return buf;
	while (*p != '\0') {
		piece = esc;
		if ((n = utf8_char(p, &c)) == 0) {
			/* A byte that starts no character: JSON can only say U+FFFD. */
			n = 1;
			if (json)
				snprintf(esc, sizeof(esc), "\\ufffd");
			else
				snprintf(esc, sizeof(esc), "\\x%02x", *p);
		} else if (c == '\\' || (json && c == '"')) {
			snprintf(esc, sizeof(esc), "\\%c", (int)c);
		} else if (unsafe_char(c)) {
			snprintf(esc, sizeof(esc), c < 0x80 && !json ? "\\x%02lx" : "\\u%04lx", c);
		} else {
			piece = (const char *)p;
		}
		k = piece == esc ? strlen(esc) : n;
		if (o + k >= len) {
			/* Cut after the last whole piece that leaves room for "...". */
			o = mark;
			if (len >= 4) {
				memcpy(buf + o, "...", 3);
				o += 3;
			}
			break;
		}
		memcpy(buf + o, piece, k);
		o += k;
		p += n;
		if (o + 3 < len)
			mark = o;
	}
	buf[o] = '\0';
	return buf;
}

/* A profile name: [A-Za-z0-9._-], not starting with '.', 1..MAX_PROFILE_LEN long. */
int
scauth_profile_valid(const char *name)
{
	return profile_valid(name);
}

int
profile_valid(const char *name)
{
	size_t i, n;

	if (name == NULL || (n = strlen(name)) == 0 || n > MAX_PROFILE_LEN || name[0] == '.')
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && strchr("._-", name[i]) == NULL)
			return 0;
	return 1;
}

/* Names slot: grant g of profile, "<profile>.user" or "<profile>.app" (the one maker of it). */
void
slot_make(struct store_slot *sl, const char *profile, enum scauth_grant g)
{
	sl->profile = profile;
	sl->grant = g;
	sl->grant_name = g == SCAUTH_GRANT_APP ? "app" : "user";
	snprintf(sl->name, sizeof(sl->name), "%s.%s", profile, sl->grant_name);
}

int
number_parse(const char *v, long lo, long hi, long *out)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || n < lo || n > hi)
		return -1;
	*out = n;
	return 0;
}

int
number_refused(scauth_ctx *ctx, const char *name, const char *v, long lo, long hi)
{
	return ctx_err(ctx, SCAUTH_ECONFIG, "%s: '%s' is not a number from %ld to %ld", name, v,
	    lo, hi);
}
