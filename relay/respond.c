/*
 * respond.c - the relay's answers: a CGI response (RFC 3875 6.2) written to
 * stdout in one piece, with headers that keep it out of caches, referrers
 * and content sniffing, and a small HTML page that works on any phone: no
 * script, no style sheet, nothing loaded from elsewhere.  Everything that
 * came from outside is HTML-escaped.
 */
#include "relay.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define PAGE_MAX (16 * 1024)

static const char common_headers[] =
	"Cache-Control: no-store\r\n"
	"Pragma: no-cache\r\n"
	"Referrer-Policy: no-referrer\r\n"
	"X-Content-Type-Options: nosniff\r\n"
	"X-Frame-Options: DENY\r\n"
	"Content-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\n";

static const char *
reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 303: return "See Other";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 429: return "Too Many Requests";
	case 503: return "Service Unavailable";
	default: return "Internal Server Error";
	}
}

void
relay_log(const char *fmt, ...)
{
	va_list ap;

	fputs("soundcloud-auth-relay: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void
write_all(const char *p, size_t n)
{
	ssize_t k;

	while (n > 0) {
		if ((k = write(STDOUT_FILENO, p, n)) < 0) {
			if (errno == EINTR)
				continue;
			return;   /* the phone has gone: nothing left to tell */
		}
		p += k;
		n -= (size_t)k;
	}
}

/* Headers and body, with the Status and Content-Length the body has. */
static void
emit(int status, const char *headers, const struct sbuf *body)
{
	struct sbuf out = SBUF_INIT(PAGE_MAX * 2);

	if (sbuf_addf(&out, "Status: %d %s\r\n%s%sContent-Type: text/html; charset=utf-8\r\n"
	    "Content-Length: %zu\r\n\r\n", status, reason(status), common_headers,
	    headers != NULL ? headers : "", body->len) != 0 ||
	    sbuf_add(&out, sbuf_str(body), body->len) != 0) {
		relay_log("answer: out of memory");
		sbuf_free(&out);
		return;
	}
	write_all(sbuf_str(&out), out.len);
	sbuf_free(&out);
}

/* "<p>TEXT</p>", escaped, then the form again when there is one to show. */
static int
page_body(struct sbuf *b, const char *title, const char *text, const char *action)
{
	int r;

	r = sbuf_addstr(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	    "<meta name=\"referrer\" content=\"no-referrer\">\n<title>");
	if (r == 0)
		r = html_escape(b, title);
	if (r == 0)
		r = sbuf_addstr(b, "</title></head>\n<body>\n<h1>");
	if (r == 0)
		r = html_escape(b, title);
	if (r == 0)
		r = sbuf_addstr(b, "</h1>\n<p>");
	if (r == 0)
		r = html_escape(b, text);
	if (r == 0)
		r = sbuf_addstr(b, "</p>\n");
	if (r == 0 && action != NULL) {
		r = sbuf_addstr(b, "<form method=\"post\" action=\"");
		if (r == 0)
			r = html_escape(b, action);
		if (r == 0)
			r = sbuf_addstr(b, "\">\n<p><label for=\"code\">Code</label>\n"
			    "<input id=\"code\" name=\"code\" maxlength=\"12\" autocomplete=\"off\" "
			    "autocapitalize=\"characters\" autocorrect=\"off\" spellcheck=\"false\" "
			    "required>\n<button type=\"submit\">Continue</button></p>\n</form>\n");
	}
	if (r == 0)
		r = sbuf_addstr(b, "</body></html>\n");
	return r;
}

void
relay_page(int status, const char *title, const char *text, const char *form_action,
    const char *extra_headers)
{
	struct sbuf body = SBUF_INIT(PAGE_MAX);

	if (page_body(&body, title, text, form_action) != 0) {
		sbuf_reset(&body);
		relay_log("answer: page too large");
		status = 500;
	}
	emit(status, extra_headers, &body);
	sbuf_free(&body);
}

void
relay_redirect(const char *location)
{
	struct sbuf body = SBUF_INIT(PAGE_MAX), head = SBUF_INIT(PAGE_MAX);
	int r;

	/* The Location is ours (the authorize URL, all parameters percent-encoded). */
	r = sbuf_addf(&head, "Location: %s\r\n", location);
	if (r == 0)
		r = sbuf_addstr(&body, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
		    "<meta charset=\"utf-8\"><title>SoundCloud login</title></head>\n"
		    "<body><p><a href=\"");
	if (r == 0)
		r = html_escape(&body, location);
	if (r == 0)
		r = sbuf_addstr(&body, "\">Go on to SoundCloud</a></p></body></html>\n");
	if (r != 0)
		relay_page(500, "Login relay", "The relay could not build the address.", NULL,
		    NULL);
	else
		emit(303, sbuf_str(&head), &body);
	sbuf_free(&head);
	sbuf_free(&body);
}
