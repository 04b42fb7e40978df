/*
 * json.c - parsers for what the servers send: token answers, error bodies
 * (RFC 6749 and SoundCloud's legacy wrapper and 429 body) and /me.
 *
 * Input is untrusted and may be hostile (a CDN error page, 20 MiB of junk, a
 * nesting bomb), so our own strict check (json_validate) must take it as one
 * JSON object with nothing after it before json-c, with a depth cap, parses
 * it (JSON_PARSE_FLAGS says why not in json-c's strict mode); every field we
 * use is type-checked.  Token strings are
 * copied into wiped memory, then the json-c objects are wiped before they are
 * freed, and the tokener's scratch buffer is overwritten through json-c's
 * public API.
 *
 * json-c is loaded on first use (dl.c), as libcurl is: a cached get parses
 * no JSON and maps no json-c.  Its functions are called through the table,
 * under their own names (the macros below).
 */
#include "internal.h"
#include "dl.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const struct json_fns *jc;

#define json_object_array_get_idx (jc->object_array_get_idx)
#define json_object_array_length (jc->object_array_length)
#define json_object_get_int64 (jc->object_get_int64)
#define json_object_get_object (jc->object_get_object)
#define json_object_get_string (jc->object_get_string)
#define json_object_get_string_len (jc->object_get_string_len)
#define json_object_get_type (jc->object_get_type)
#define json_object_object_get_ex (jc->object_object_get_ex)
#define json_object_put (jc->object_put)
#define json_tokener_error_desc (jc->tokener_error_desc)
#define json_tokener_free (jc->tokener_free)
#define json_tokener_get_error (jc->tokener_get_error)
#define json_tokener_new_ex (jc->tokener_new_ex)
#define json_tokener_parse_ex (jc->tokener_parse_ex)
#define json_tokener_reset (jc->tokener_reset)
#define json_tokener_set_flags (jc->tokener_set_flags)

/* Loads json-c once (the table stays for the process); 0 or SCAUTH_ENOLIB. */
static int
json_lib(char *why, size_t whylen)
{
	const struct json_fns *f;

	if (__atomic_load_n(&jc, __ATOMIC_ACQUIRE) != NULL)
		return 0;
	if (dl_json(&f) != 0) {
		snprintf(why, whylen, "cannot load libjson-c.so.5 (install libjson-c5)");
		return SCAUTH_ENOLIB;
	}
	__atomic_store_n(&jc, f, __ATOMIC_RELEASE);
	return 0;
}

/* Wipes every string in a json-c tree: they may be tokens. */
static void
json_wipe(struct json_object *o)
{
	size_t i, n;

	switch (json_object_get_type(o)) {
	case json_type_string:
		scauth_wipe((char *)(uintptr_t)json_object_get_string(o),
		    (size_t)json_object_get_string_len(o));
		break;
	case json_type_array:
		n = json_object_array_length(o);
		for (i = 0; i < n; i++)
			json_wipe(json_object_array_get_idx(o, i));
		break;
	case json_type_object: {
		json_object_object_foreach(o, key, val) {
			(void)key;
			json_wipe(val);
		}
		break;
	}
	default:
		break;
	}
}

static void
put(struct json_object *o)
{
	if (o != NULL) {
		json_wipe(o);
		json_object_put(o);
	}
}

/*
 * The check before json-c: RFC 8259 and stricter, so that json-c only ever
 * sees input it parses to the end.  It never fails half-way on a hostile body
 * then, and so never frees half-built objects holding strings of the body.
 * Stricter than json-c in strict mode: only space, tab, LF and CR as white
 * space, no raw control characters in strings, no lone surrogates, no NaN,
 * Infinity, "1." or "-01", integers within json-c 0.18's int64/uint64 range,
 * and at most MAX_JSON_NESTING containers deep, one less than json-c takes.
 * Bytes >= 0x80 in strings pass as they are, as json-c passes them outside
 * its strict mode (which 0.18 turns against them).
 *
 * And member names json-c would make collide.  json-c keeps the last of a
 * repeated name and frees the value it replaces without our wipe, and it cuts
 * a name at a decoded U+0000, so {"access_token\u0000x":"SECRET",
 * "access_token":"y"} frees "SECRET" unwiped too.  So a name holding U+0000
 * is refused at any depth, and so is any name repeated in the top-level
 * object, where alone secrets live (access_token, refresh_token).  All of
 * them, not just the ones json.c reads, so that no list has to follow the
 * readers: each name is compared, as it decodes (so "access\u005ftoken" is
 * "access_token", as json-c has it), by a 64-bit FNV-1a hash against the
 * names before it, and the top-level object may have at most
 * MAX_JSON_MEMBERS members, far more than any token answer, error body or
 * /me has (tens).  That bounds the work at
 * MAX_JSON_MEMBERS^2/2 compares of two integers whatever the body, and needs
 * no allocation; distinct names that hash the same (a 2^-64 chance for a pair
 * not crafted so) only get the answer refused.  Repeated names in nested
 * objects are taken, as json-c takes them: no secret lives there.
 */
enum {
	JS_OK,
	JS_TRUNCATED,
	JS_TRAILING,
	JS_DEEP,
	JS_UNEXPECTED,
	JS_CONTROL,
	JS_ESCAPE,
	JS_SURROGATE,
	JS_RANGE,
	JS_NULNAME,
	JS_DUPLICATE,
	JS_MEMBERS,
};

struct jscan {
	const unsigned char *p;
	size_t len;
	size_t at;              /* the next byte; where the error is once err is set */
	size_t longest;         /* see json_validate() */
	uint64_t *names;        /* the top-level member names so far, hashed */
	size_t nnames;
	int err;
};

static int
js_fail(struct jscan *js, int err)
{
	if (js->err == JS_OK)
		js->err = js->at >= js->len ? JS_TRUNCATED : err;
	return -1;
}

static void
js_ws(struct jscan *js)
{
	while (js->at < js->len && (js->p[js->at] == ' ' || js->p[js->at] == '\t' ||
	    js->p[js->at] == '\n' || js->p[js->at] == '\r'))
		js->at++;
}

static int
js_expect(struct jscan *js, unsigned char c)
{
	if (js->at >= js->len || js->p[js->at] != c)
		return js_fail(js, JS_UNEXPECTED);
	js->at++;
	return 0;
}

static void
js_token(struct jscan *js, size_t n)
{
	if (n > js->longest)
		js->longest = n;
}

/* The four hex digits of a \u escape at js->at, or -1. */
static long
js_hex4(struct jscan *js)
{
	long v = 0;
	int i;

	for (i = 0; i < 4; i++, js->at++) {
		if (js->at >= js->len)
			return js_fail(js, JS_TRUNCATED);
		if (!isxdigit(js->p[js->at]))
			return js_fail(js, JS_ESCAPE);
		v = v * 16 + (isdigit(js->p[js->at]) ? js->p[js->at] - '0' :
		    (js->p[js->at] | 0x20) - 'a' + 10);
	}
	return v;
}

/* FNV-1a, one byte on. */
static void
js_hash(uint64_t *h, unsigned char c)
{
	*h = (*h ^ c) * 0x100000001b3ULL;
}

/* Code point u as json-c decodes it: UTF-8. */
static void
js_hash_utf8(uint64_t *h, long u)
{
	if (u < 0x80)
		js_hash(h, (unsigned char)u);
	else if (u < 0x800) {
		js_hash(h, (unsigned char)(0xc0 | u >> 6));
		js_hash(h, (unsigned char)(0x80 | (u & 0x3f)));
	} else if (u < 0x10000) {
		js_hash(h, (unsigned char)(0xe0 | u >> 12));
		js_hash(h, (unsigned char)(0x80 | (u >> 6 & 0x3f)));
		js_hash(h, (unsigned char)(0x80 | (u & 0x3f)));
	} else {
		js_hash(h, (unsigned char)(0xf0 | u >> 18));
		js_hash(h, (unsigned char)(0x80 | (u >> 12 & 0x3f)));
		js_hash(h, (unsigned char)(0x80 | (u >> 6 & 0x3f)));
		js_hash(h, (unsigned char)(0x80 | (u & 0x3f)));
	}
}

/*
 * A string; counts the bytes json-c decodes it into.  A member name when name
 * is not NULL: one decoding to U+0000 is refused, and *name is the hash of
 * what it decodes to.
 */
static int
js_string(struct jscan *js, uint64_t *name)
{
	static const char esc[] = "\"\\/bfnrt", dec[] = "\"\\/\b\f\n\r\t";
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t n = 0, start;
	long u, lo;

	js->at++;       /* the opening quote */
	for (;;) {
		if (js->at >= js->len)
			return js_fail(js, JS_TRUNCATED);
		if (js->p[js->at] == '"')
			break;
		if (js->p[js->at] < 0x20)
			return js_fail(js, JS_CONTROL);
		if (js->p[js->at] != '\\') {
			js_hash(&h, js->p[js->at]);
			n++;
			js->at++;
			continue;
		}
		start = js->at;
		if (++js->at >= js->len)
			return js_fail(js, JS_TRUNCATED);
		if (strchr(esc, js->p[js->at]) != NULL && js->p[js->at] != '\0') {
			js_hash(&h, (unsigned char)dec[strchr(esc, js->p[js->at]) - esc]);
			n++;
			js->at++;
			continue;
		}
		if (js->p[js->at] != 'u')
			return js_fail(js, JS_ESCAPE);
		js->at++;
		if ((u = js_hex4(js)) < 0)
			return -1;
		if (u == 0 && name != NULL) {
			js->at = start;
			return js_fail(js, JS_NULNAME);
		}
		if (u >= 0xdc00 && u <= 0xdfff)
			return js_fail(js, JS_SURROGATE);
		if (u >= 0xd800 && u <= 0xdbff) {
			/* Only a pair decodes to one character (4 bytes of UTF-8). */
			if (js_expect(js, '\\') < 0 || js_expect(js, 'u') < 0) {
				js->err = js->err == JS_TRUNCATED ? JS_TRUNCATED : JS_SURROGATE;
				return -1;
			}
			if ((lo = js_hex4(js)) < 0)
				return -1;
			if (lo < 0xdc00 || lo > 0xdfff)
				return js_fail(js, JS_SURROGATE);
			js_hash_utf8(&h, 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00));
			n += 4;
		} else {
			js_hash_utf8(&h, u);
			n += u < 0x80 ? 1 : u < 0x800 ? 2 : 3;
		}
	}
	js->at++;       /* the closing quote */
	js_token(js, n);
	if (name != NULL)
		*name = h;
	return 0;
}

/* Records a top-level member name that starts at offset start, unless seen. */
static int
js_member(struct jscan *js, uint64_t name, size_t start)
{
	size_t i;

	for (i = 0; i < js->nnames; i++)
		if (js->names[i] == name) {
			js->at = start;
			return js_fail(js, JS_DUPLICATE);
		}
	if (js->nnames == MAX_JSON_MEMBERS) {
		js->at = start;
		return js_fail(js, JS_MEMBERS);
	}
	js->names[js->nnames++] = name;
	return 0;
}

static size_t
js_digits(struct jscan *js)
{
	size_t start = js->at;

	while (js->at < js->len && isdigit(js->p[js->at]))
		js->at++;
	return js->at - start;
}

/*
 * A number per RFC 8259 6.  Integers must fit json-c 0.18's int64 (negative)
 * or uint64, which 0.18 checks; fractions and exponents may be
 * anything strtod() takes.
 */
static int
js_number(struct jscan *js)
{
	static const char max_neg[] = "9223372036854775808", max_pos[] = "18446744073709551615";
	size_t start = js->at, digits;
	const char *max;
	int neg = 0, integer = 1;

	if (js->p[js->at] == '-') {
		neg = 1;
		js->at++;
	}
	if (js->at < js->len && js->p[js->at] == '0')
		js->at++;
	else if (js->at >= js->len || !isdigit(js->p[js->at]))
		return js_fail(js, JS_UNEXPECTED);
	else
		js_digits(js);
	digits = js->at - start - (size_t)neg;
	if (js->at < js->len && js->p[js->at] == '.') {
		integer = 0;
		js->at++;
		if (js_digits(js) == 0)
			return js_fail(js, JS_UNEXPECTED);
	}
	if (js->at < js->len && (js->p[js->at] == 'e' || js->p[js->at] == 'E')) {
		integer = 0;
		js->at++;
		if (js->at < js->len && (js->p[js->at] == '+' || js->p[js->at] == '-'))
			js->at++;
		if (js_digits(js) == 0)
			return js_fail(js, JS_UNEXPECTED);
	}
	max = neg ? max_neg : max_pos;
	if (integer && (digits > strlen(max) ||
	    (digits == strlen(max) && memcmp(js->p + start + neg, max, digits) > 0))) {
		js->at = start;
		return js_fail(js, JS_RANGE);
	}
	js_token(js, js->at - start);
	return 0;
}

static int
js_literal(struct jscan *js, const char *word)
{
	size_t i;

	for (i = 0; word[i] != '\0'; i++, js->at++)
		if (js->at >= js->len || js->p[js->at] != (unsigned char)word[i])
			return js_fail(js, JS_UNEXPECTED);
	/* json-c reads a literal and the byte after it into the buffer. */
	js_token(js, i + 1);
	return 0;
}

static int js_value(struct jscan *js, int depth);

/* An object or an array, at nesting depth (1 for the outermost). */
static int
js_container(struct jscan *js, int depth)
{
	unsigned char close = js->p[js->at] == '{' ? '}' : ']';
	uint64_t name;
	size_t start;

	if (depth > MAX_JSON_NESTING)
		return js_fail(js, JS_DEEP);
	js->at++;
	js_ws(js);
	if (js->at < js->len && js->p[js->at] == close) {
		js->at++;
		return 0;
	}
	for (;;) {
		if (close == '}') {
			if (js->at >= js->len || js->p[js->at] != '"')
				return js_fail(js, JS_UNEXPECTED);
			start = js->at;
			if (js_string(js, &name) < 0 ||
			    (depth == 1 && js_member(js, name, start) < 0))
				return -1;
			js_ws(js);
			if (js_expect(js, ':') < 0)
				return -1;
		}
		if (js_value(js, depth) < 0)
			return -1;
		js_ws(js);
		if (js->at < js->len && js->p[js->at] == ',') {
			js->at++;
			js_ws(js);
			continue;
		}
		return js_expect(js, close);
	}
}

/* One value, after optional white space, inside depth containers. */
static int
js_value(struct jscan *js, int depth)
{
	js_ws(js);
	if (js->at >= js->len)
		return js_fail(js, JS_TRUNCATED);
	switch (js->p[js->at]) {
	case '{':
	case '[':
		return js_container(js, depth + 1);
	case '"':
		return js_string(js, NULL);
	case 't':
		return js_literal(js, "true");
	case 'f':
		return js_literal(js, "false");
	case 'n':
		return js_literal(js, "null");
	default:
		if (js->p[js->at] == '-' || isdigit(js->p[js->at]))
			return js_number(js);
		return js_fail(js, JS_UNEXPECTED);
	}
}

int
json_validate(const char *body, size_t len, size_t *longest, char *why, size_t whylen)
{
	uint64_t names[MAX_JSON_MEMBERS];
	struct jscan js = { .p = (const unsigned char *)body, .len = len, .names = names,
	    .err = JS_OK };
	int object;

	*longest = 0;
	js_ws(&js);
	object = js.at < len && body[js.at] == '{';
	if (js_value(&js, 0) == 0) {
		js_ws(&js);
		if (js.at < len)
			js.err = JS_TRAILING;
	}
	switch (js.err) {
	case JS_OK:
		*longest = js.longest;
		return object ? 0 : 1;
	case JS_TRUNCATED:
		snprintf(why, whylen, "truncated");
		break;
	case JS_TRAILING:
		snprintf(why, whylen, "trailing data after the JSON value");
		break;
	case JS_DEEP:
		snprintf(why, whylen, "nesting too deep");
		break;
	default:
		snprintf(why, whylen, "%s at offset %zu",
		    js.err == JS_CONTROL ? "control character in a string" :
		    js.err == JS_ESCAPE ? "invalid escape" :
		    js.err == JS_SURROGATE ? "unpaired surrogate" :
		    js.err == JS_RANGE ? "integer out of range" :
		    js.err == JS_NULNAME ? "NUL in a member name" :
		    js.err == JS_DUPLICATE ? "duplicate member name" :
		    js.err == JS_MEMBERS ? "too many top-level members" : "unexpected character", js.at);
		break;
	}
	return -1;
}

/*
 * Makes json-c's scratch buffer (tok->pb, which we do not touch) take n bytes
 * of filler, through the public API: the tokener decodes the JSON string
 * "xx..x" into it.  Fed in pieces, so nothing is allocated here.
 *
 * Why this wipes, as json_tokener.c and printbuf.c read in json-c 0.16
 * (Debian 12) and 0.18 (Debian 13): every string (key or value) is decoded,
 * and every number and literal copied, into that one printbuf, from offset 0
 * after a printbuf_reset() that only sets the length to 0; the printbuf only
 * grows (a realloc when an append would leave no room for its NUL), nothing
 * but printbuf_free() shrinks or frees it, and json_tokener_reset() leaves it
 * alone.  So n bytes of filler overwrite offsets 0..n-1 and put a NUL at n:
 * all that an earlier token of fewer than n bytes wrote.  And once the buffer
 * has taken n bytes it takes any token of fewer again in place, with no
 * realloc that would free a copy unwiped (tests/unit/test_json.c checks both
 * against the json-c it is built with).
 */
void
json_scratch_fill(struct json_tokener *tok, size_t n)
{
	char chunk[256];
	size_t k;

	/* A tokener exists: json-c is there to load. */
	if (json_lib(chunk, sizeof(chunk)) != 0)
		return;
	memset(chunk, 'x', sizeof(chunk));
	json_tokener_reset(tok);
	(void)json_tokener_parse_ex(tok, "\"", 1);
	for (; n > 0; n -= k) {
		k = n < sizeof(chunk) ? n : sizeof(chunk);
		(void)json_tokener_parse_ex(tok, chunk, (int)k);
	}
	json_object_put(json_tokener_parse_ex(tok, "\"", 1));
	json_tokener_reset(tok);
}

struct json_object *
json_parse_wiped(struct json_tokener *tok, const char *body, size_t len, const char *what,
    char *why, size_t whylen)
{
	struct json_object *o = NULL;
	enum json_tokener_error e;
	size_t longest;
	char reason[64];

	if (json_lib(why, whylen) != 0)
		return NULL;
	if (len == 0) {
		snprintf(why, whylen, "empty body");
		return NULL;
	}
	if (len > INT32_MAX || memchr(body, '\0', len) != NULL) {
		snprintf(why, whylen, "body is not text");
		return NULL;
	}
	switch (json_validate(body, len, &longest, reason, sizeof(reason))) {
	case 0:
		break;
	case 1:
		snprintf(why, whylen, "%s is not a JSON object", what);
		return NULL;
	default:
		snprintf(why, whylen, "invalid JSON (%s)", reason);
		return NULL;
	}
	/*
	 * Grown to more than the longest token first, so that no token goes into
	 * a buffer that a realloc then frees unwiped; overwritten the same way
	 * after, on success and on failure alike.
	 */
	json_scratch_fill(tok, longest + 1);
	json_tokener_set_flags(tok, JSON_PARSE_FLAGS);
	o = json_tokener_parse_ex(tok, body, (int)len);
	e = json_tokener_get_error(tok);
	if (o == NULL || e != json_tokener_success || json_object_get_type(o) != json_type_object) {
		/*
		 * Out of memory, or json-c refusing what json_validate() took (the
		 * fuzz target checks they agree).  The half-built objects json-c
		 * frees here (now or in json_tokener_reset()) are not wiped: a known
		 * residual risk, on this path only.
		 */
		snprintf(why, whylen, "invalid JSON (%s)",
		    e == json_tokener_success ? "not what was validated" : json_tokener_error_desc(e));
		put(o);
		o = NULL;
	}
	json_scratch_fill(tok, longest + 1);
	return o;
}

/* Parses body[0..len) into a JSON object, strictly. NULL with why set otherwise. */
static struct json_object *
parse(const char *body, size_t len, const char *what, char *why, size_t whylen)
{
	struct json_tokener *tok;
	struct json_object *o;

	if (json_lib(why, whylen) != 0)
		return NULL;
	if ((tok = json_tokener_new_ex(MAX_JSON_DEPTH)) == NULL) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	o = json_parse_wiped(tok, body, len, what, why, whylen);
	json_tokener_free(tok);
	return o;
}

/* Printable ASCII without spaces: what a token may hold. */
static int
token_chars(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return 0;
	return 1;
}

static int
scope_chars(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] != ' ' && !token_chars(s + i, 1))
			return 0;
	return 1;
}

/*
 * Fetches an optional string member.  Returns 1 with *s and *n set when present
 * as a string, 0 when absent or null, -1 when of another type or holding NUL.
 */
static int
get_string(struct json_object *o, const char *key, const char **s, size_t *n)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || json_object_get_type(v) == json_type_null)
		return 0;
	if (json_object_get_type(v) != json_type_string)
		return -1;
	*s = json_object_get_string(v);
	*n = (size_t)json_object_get_string_len(v);
	if (strlen(*s) != *n)
		return -1;
	return 1;
}

void
token_reply_free(struct token_reply *r)
{
	sfree(r->access);
	sfree(r->refresh);
	free(r->scope);
	memset(r, 0, sizeof(*r));
}

static int
get_token(struct json_object *o, const char *key, int required, char **out, char *why,
    size_t whylen)
{
	const char *s;
	size_t n;
	int g = get_string(o, key, &s, &n);

	if (g < 0 || (g == 1 && (n == 0 || n > MAX_TOKEN_LEN || !token_chars(s, n)))) {
		snprintf(why, whylen, "%s is not a valid token string", key);
		return SCAUTH_EPROTO;
	}
	if (g == 0) {
		if (!required)
			return SCAUTH_OK;
		snprintf(why, whylen, "no %s in the answer", key);
		return SCAUTH_EPROTO;
	}
	if ((*out = sstrndup(s, n)) == NULL)
		return SCAUTH_ENOMEM;
	return SCAUTH_OK;
}

int
json_token_reply(const char *body, size_t len, struct token_reply *out, char *why,
    size_t whylen)
{
	struct json_object *o, *v;
	const char *s;
	size_t n;
	int r;

	memset(out, 0, sizeof(*out));
	out->expires_in = -1;
	if ((o = parse(body, len, "answer", why, whylen)) == NULL)
		return SCAUTH_EPROTO;
	if ((r = get_token(o, "access_token", 1, &out->access, why, whylen)) != 0 ||
	    (r = get_token(o, "refresh_token", 0, &out->refresh, why, whylen)) != 0)
		goto out;
	switch (get_string(o, "token_type", &s, &n)) {
	case -1:
		snprintf(why, whylen, "token_type is not a string");
		r = SCAUTH_EPROTO;
		goto out;
	case 1:
		/* RFC 6749 7.1: case-insensitive; SoundCloud has sent "bearer" and "Bearer". */
		if (strcasecmp(s, "bearer") != 0) {
			snprintf(why, whylen, "unsupported token_type '%.20s'", s);
			r = SCAUTH_EPROTO;
			goto out;
		}
		break;
	}
	switch (get_string(o, "scope", &s, &n)) {
	case -1:
		snprintf(why, whylen, "scope is not a string");
		r = SCAUTH_EPROTO;
		goto out;
	case 1:
		/* Space-separated scope tokens: printable ASCII and spaces only. */
		if (n > 1024 || !scope_chars(s, n)) {
			snprintf(why, whylen, "scope is not printable text");
			r = SCAUTH_EPROTO;
			goto out;
		}
		if ((out->scope = strndup(s, n)) == NULL) {
			r = SCAUTH_ENOMEM;
			goto out;
		}
		break;
	}
	if (json_object_object_get_ex(o, "expires_in", &v) &&
	    json_object_get_type(v) != json_type_null) {
		int64_t e;

		if (json_object_get_type(v) == json_type_int)
			e = json_object_get_int64(v);
		else if (json_object_get_type(v) == json_type_string) {
			/* Some servers quote it; accept plain digits only. */
			char *end;
			s = json_object_get_string(v);
			e = *s != '\0' && strspn(s, "0123456789") == strlen(s) && strlen(s) < 10 ?
			    strtoll(s, &end, 10) : -1;
		} else
			e = -1;
		if (e < 0 || e > 10L * 365 * 86400) {
			snprintf(why, whylen, "expires_in is not a sensible number of seconds");
			r = SCAUTH_EPROTO;
			goto out;
		}
		out->expires_in = (long)e;
	}
	r = SCAUTH_OK;
 out:
	put(o);
	if (r != SCAUTH_OK)
		token_reply_free(out);
	return r;
}

/* Copies printable ASCII only: descriptions end up in messages and HTML. */
static void
copy_printable(char *dst, size_t dstlen, const char *s)
{
	size_t i, o = 0;

	for (i = 0; s[i] != '\0' && o + 1 < dstlen; i++)
		dst[o++] = (s[i] >= 0x20 && s[i] <= 0x7e) ? s[i] : '?';
	dst[o] = '\0';
}

time_t
parse_reset_time(const char *s)
{
	struct tm tm;
	char *end;
	int sign, hh, mm;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	/* "2015/06/01 09:49:40 +0000" */
	if ((end = strptime(s, "%Y/%m/%d %H:%M:%S", &tm)) == NULL)
		return 0;
	while (*end == ' ')
		end++;
	if ((end[0] != '+' && end[0] != '-') || strlen(end) != 5 ||
	    strspn(end + 1, "0123456789") != 4)
		return 0;
	sign = end[0] == '-' ? -1 : 1;
	hh = (end[1] - '0') * 10 + (end[2] - '0');
	mm = (end[3] - '0') * 10 + (end[4] - '0');
	if ((t = timegm(&tm)) == (time_t)-1)
		return 0;
	return t - sign * (hh * 3600 + mm * 60);
}

/* SoundCloud's 429: {"errors":[{"meta":{...,"reset_time":"..."}}]} */
static time_t
reset_time_of(struct json_object *o)
{
	struct json_object *errors, *e, *meta, *rt;
	size_t i, n;
	time_t t, latest = 0;

	if (!json_object_object_get_ex(o, "errors", &errors) ||
	    json_object_get_type(errors) != json_type_array)
		return 0;
	n = json_object_array_length(errors);
	for (i = 0; i < n && i < 16; i++) {
		e = json_object_array_get_idx(errors, i);
		if (json_object_get_type(e) != json_type_object ||
		    !json_object_object_get_ex(e, "meta", &meta) ||
		    json_object_get_type(meta) != json_type_object ||
		    !json_object_object_get_ex(meta, "reset_time", &rt) ||
		    json_object_get_type(rt) != json_type_string)
			continue;
		/* Several buckets may be exhausted: wait for the last to reset. */
		if ((t = parse_reset_time(json_object_get_string(rt))) > latest)
			latest = t;
	}
	return latest;
}

int
json_oauth_error(const char *body, size_t len, struct oauth_error *out)
{
	struct json_object *o;
	const char *s, *d;
	size_t n, dn;
	char why[64];
	int found = 0;

	memset(out, 0, sizeof(*out));
	if (len > MAX_ERROR_BODY || (o = parse(body, len, "error body", why, sizeof(why))) == NULL)
		return 0;
	if (get_string(o, "error", &s, &n) == 1) {
		/* RFC 6749 5.2 */
		copy_printable(out->error, sizeof(out->error), s);
		if (get_string(o, "error_description", &d, &dn) == 1)
			copy_printable(out->description, sizeof(out->description), d);
		found = 1;
	} else if (get_string(o, "error_code", &s, &n) == 1) {
		/* SoundCloud's legacy wrapper: {"code":401,"message":..,"error_code":..} */
		copy_printable(out->error, sizeof(out->error), s);
		if (get_string(o, "message", &d, &dn) == 1 && strcmp(d, s) != 0)
			copy_printable(out->description, sizeof(out->description), d);
		found = 1;
	} else if (get_string(o, "message", &s, &n) == 1) {
		/* API errors: {"code":..,"message":..,"link":..} */
		copy_printable(out->description, sizeof(out->description), s);
		found = 1;
	}
	if ((out->reset_time = reset_time_of(o)) != 0) {
		if (out->error[0] == '\0')
			copy_printable(out->error, sizeof(out->error), "rate_limit_exceeded");
		found = 1;
	}
	put(o);
	return found;
}

int
oauth_error_code(const char *error)
{
	static const struct {
		const char *name;
		int code;
	} map[] = {
		{ "invalid_grant", SCAUTH_EGRANT },
		{ "invalid_client", SCAUTH_ECLIENT },
		{ "unauthorized_client", SCAUTH_EDENIED },
		{ "access_denied", SCAUTH_EDENIED },
		{ "invalid_request", SCAUTH_EREQUEST },
		{ "unsupported_grant_type", SCAUTH_EREQUEST },
		{ "unsupported_response_type", SCAUTH_EREQUEST },
		{ "invalid_scope", SCAUTH_EREQUEST },
		{ "invalid_token", SCAUTH_ETOKEN },
		{ "server_error", SCAUTH_EUNAVAIL },
		{ "temporarily_unavailable", SCAUTH_EUNAVAIL },
		{ "rate_limit_exceeded", SCAUTH_ERATELIMIT },
		{ "rate limit exceeded", SCAUTH_ERATELIMIT },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(map); i++)
		if (strcasecmp(error, map[i].name) == 0)
			return map[i].code;
	return SCAUTH_EREQUEST;
}

void
me_reply_free(struct me_reply *m)
{
	free(m->urn);
	free(m->permalink);
	free(m->username);
	memset(m, 0, sizeof(*m));
}

/* Copies a member that must be a printable, single-line string of sane length. */
static int
get_text(struct json_object *o, const char *key, size_t max, char **out)
{
	const char *s;
	size_t n, i;

	if (get_string(o, key, &s, &n) != 1 || n == 0 || n > max)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return (*out = strndup(s, n)) != NULL ? 1 : -1;
}

int
json_me_reply(const char *body, size_t len, struct me_reply *out, char *why, size_t whylen)
{
	struct json_object *o;
	const char *digits;
	int r;

	memset(out, 0, sizeof(*out));
	/* json-c spends ~20 bytes per value: a hostile 16 MiB array would cost 300 MB. */
	if (len > MAX_ME_BODY) {
		snprintf(why, whylen, "the /me answer is over %d KiB", MAX_ME_BODY / 1024);
		return SCAUTH_EPROTO;
	}
	if ((o = parse(body, len, "/me", why, whylen)) == NULL)
		return SCAUTH_EPROTO;
	if (get_text(o, "urn", 128, &out->urn) != 1) {
		snprintf(why, whylen, "/me has no urn");
		r = SCAUTH_EPROTO;
		goto out;
	}
	/* The identity everything keys on: soundcloud:users:DIGITS. */
	digits = strncmp(out->urn, "soundcloud:users:", 17) == 0 ? out->urn + 17 : NULL;
	if (digits == NULL || *digits == '\0' || strspn(digits, "0123456789") != strlen(digits)) {
		snprintf(why, whylen, "/me urn is not soundcloud:users:N");
		r = SCAUTH_EPROTO;
		goto out;
	}
	if (get_text(o, "permalink", 256, &out->permalink) < 0 ||
	    get_text(o, "username", 256, &out->username) < 0) {
		r = SCAUTH_ENOMEM;
		goto out;
	}
	if (out->permalink != NULL && strpbrk(out->permalink, " \t") != NULL) {
		snprintf(why, whylen, "/me permalink holds white space");
		r = SCAUTH_EPROTO;
		goto out;
	}
	r = SCAUTH_OK;
 out:
	put(o);
	if (r != SCAUTH_OK)
		me_reply_free(out);
	return r;
}
