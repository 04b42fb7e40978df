/*
 * qr.c - the authorize URL as a QR code for a terminal or a PAM prompt.
 *
 * A kiosk shows the login link as a QR code so that a person can open it on
 * a phone.  libqrencode is loaded only here, on demand (as systemd's
 * qrcode-util does), so that nothing else pays for it and machines without
 * it still log in by URL.  Two module rows share one text line through the
 * Unicode half blocks, which keeps the code square in a terminal font.
 */
#include "internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <qrencode.h>
#include <stdlib.h>
#include <string.h>

#define QR_QUIET   2    /* modules of quiet zone on each side */
#define QR_MAXLEN  2048 /* longer text makes a code no phone reads off a screen */

/* Cells, by which of their two modules are drawn: none, upper, lower, both. */
static const char *const cell[4] = { " ", "\u2580", "\u2584", "\u2588" };

/*
 * Whether the module at (x, y) of the symbol with its quiet zone is drawn.
 *
 * Polarity: the half blocks are drawn in the terminal's foreground colour,
 * and no escape sequence can be used (the text may go through a PAM
 * conversation into a greeter).  We draw the light modules and the quiet
 * zone, leaving dark modules to the background: on a light-on-dark terminal
 * (the Linux console of a kiosk, most terminal defaults) the code has the
 * standard polarity, and on a dark-on-light one it comes out as a complete
 * inverted symbol, quiet zone included, which phone camera apps and ZXing
 * based scanners read as well.
 */
static int
drawn(const QRcode *qr, int x, int y)
{
	x -= QR_QUIET;
	y -= QR_QUIET;
	if (x < 0 || y < 0 || x >= qr->width || y >= qr->width)
		return 1;       /* quiet zone: light */
	return !(qr->data[y * qr->width + x] & 1);
}

int
scauth_qr_render(const char *text, char **out)
{
	__typeof__(&QRcode_encodeString) encode;
	__typeof__(&QRcode_free) qrfree = NULL;
	QRcode *qr = NULL;
	void *h = NULL;
	char *buf = NULL, *p;
	size_t need;
	int r, size, x, y, c;

	if (out == NULL)
		return SCAUTH_EINVAL;
	*out = NULL;
	if (text == NULL || *text == '\0' || strlen(text) > QR_MAXLEN) {
		r = SCAUTH_EINVAL;
		goto out;
	}
	if ((h = dlopen("libqrencode.so.4", RTLD_NOW | RTLD_LOCAL)) == NULL &&
	    (h = dlopen("libqrencode.so", RTLD_NOW | RTLD_LOCAL)) == NULL) {
		r = SCAUTH_ENOLIB;
		goto out;
	}
	encode = (__typeof__(encode))dlsym(h, "QRcode_encodeString");
	qrfree = (__typeof__(qrfree))dlsym(h, "QRcode_free");
	if (encode == NULL || qrfree == NULL) {
		r = SCAUTH_ENOLIB;
		goto out;
	}
	/* Version 0: the smallest that fits; 8-bit mode keeps a URL byte for byte. */
	if ((qr = encode(text, 0, QR_ECLEVEL_L, QR_MODE_8, 1)) == NULL) {
		r = errno == ENOMEM ? SCAUTH_ENOMEM : SCAUTH_EINVAL;
		goto out;
	}
	size = qr->width + 2 * QR_QUIET;
	/* At most 3 bytes a cell, and a newline a line. */
	need = (size_t)((size + 1) / 2) * ((size_t)size * 3 + 1) + 1;
	if ((buf = malloc(need)) == NULL) {
		r = SCAUTH_ENOMEM;
		goto out;
	}
	p = buf;
	for (y = 0; y < size; y += 2) {
		for (x = 0; x < size; x++) {
			/* Below an odd last row lies the terminal's background. */
			c = drawn(qr, x, y) | (y + 1 < size ? drawn(qr, x, y + 1) << 1 : 0);
			p = stpcpy(p, cell[c]);
		}
		*p++ = '\n';
	}
	*p = '\0';
	*out = buf;
	buf = NULL;     /* transferred */
	r = 0;
 out:
	if (qr != NULL)
		qrfree(qr);
	if (h != NULL)
		dlclose(h);
	free(buf);
	return r;
}
