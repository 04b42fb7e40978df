/*
 * frontend.h - helpers written for our own front ends (git-credential/, pam/),
 * not part of libscauth's ABI: they are hidden in libscauth.so and in the
 * libscauth.a others link, and our front ends link the library's objects as
 * compiled (libscauth-internal.a), where they can be called.  A program of
 * someone else's has the C library and its own terminal code for these.
 */
#ifndef SCAUTH_FRONTEND_H
#define SCAUTH_FRONTEND_H

#include <stddef.h>
#include <time.h>

#define FRONTEND_API __attribute__((visibility("hidden")))

/*
 * Renders text as a QR code for a terminal, two modules per character cell
 * with Unicode half blocks, with a quiet zone.  *out is a NUL-terminated
 * UTF-8 string of lines, free() it.  SCAUTH_ENOLIB without libqrencode.
 */
FRONTEND_API int scauth_qr_render(const char *text, char **out);

/*
 * Writes s, text from the network or a database (a user name, a permalink,
 * a fleet's host name), into buf to show to a person or write to a log:
 * UTF-8 passes as it is, except what a terminal or a log would act on or
 * that reorders the line: C0 controls and DEL as \xNN, C1 controls
 * (U+0080-U+009F) and the invisible direction and line marks (U+061C,
 * U+200E, U+200F, U+2028-U+202E, U+2066-U+2069, U+FEFF) as \uNNNN, each
 * byte that is not part of well-formed UTF-8 (overlong forms and surrogates
 * included) as \xNN, and the backslash as \\, so that the text shown is
 * unambiguous.  With SCAUTH_TEXT_JSON it is the content of a JSON string
 * instead: the same characters and '"' escaped the JSON way, U+FFFD for
 * bytes that are not UTF-8.  NULL s is "".  Output that does not fit in len
 * bytes is cut after a whole character or escape and ends with "..."; a
 * buffer of 6 * strlen(s) + 1 bytes always fits.  buf is NUL-terminated
 * when len > 0.  Returns buf.
 */
#define SCAUTH_TEXT_JSON 0x1u
FRONTEND_API const char *scauth_text_display(const char *s, unsigned flags, char *buf, size_t len);

/* Wipes n bytes at p in a way the compiler cannot drop. */
FRONTEND_API void scauth_wipe(void *p, size_t n);

/*
 * 1 if the strings are equal, in time that depends only on their lengths
 * (for secrets and nonces).  NULLs compare unequal.
 */
FRONTEND_API int scauth_ct_streq(const char *a, const char *b);

/* Writes t as "YYYY-MM-DD HH:MM:SS UTC" (seconds since the epoch if it cannot). */
FRONTEND_API void scauth_format_utc(time_t t, char *buf, size_t len);

#endif /* SCAUTH_FRONTEND_H */
