/*
 * credential.h - the git-credential(1) wire format: a reader for the request
 * git sends a helper and a writer for the answer.
 *
 * Kept free of libscauth and of any I/O but read(2) and write(2), so that the
 * parser can be unit-tested and fuzzed on its own.  Every value read may be a
 * secret (git sends password= on store and erase): all of it is wiped when it
 * is freed.
 */
#ifndef GC_CREDENTIAL_H
#define GC_CREDENTIAL_H

#include <stddef.h>

/* Named caps. */
#define CRED_MAX_LINE    65535            /* one line with its newline, as git-credential(1) */
#define CRED_MAX_REQUEST (1024 * 1024)    /* one whole request: about 16 maximal lines */
#define CRED_MAX_VALUES  64               /* entries of one key[] list */

enum cred_err {
	CRED_OK = 0,
	CRED_ENOMEM = -1,   /* out of memory */
	CRED_ELONG = -2,    /* a line longer than CRED_MAX_LINE */
	CRED_EBIG = -3,     /* a request longer than CRED_MAX_REQUEST */
	CRED_ECHAR = -4,    /* NUL or CR in a line */
	CRED_ESYNTAX = -5,  /* a line without '=', or with an empty key */
	CRED_EDUP = -6,     /* a single-valued key given twice */
	CRED_EMANY = -7,    /* more than CRED_MAX_VALUES values for one key[] */
	CRED_EIO = -8,      /* read(2) or write(2) failed: see errno */
	CRED_EVALUE = -9,   /* writer: a key or value that cannot be sent */
	CRED_ESPACE = -10,  /* writer: the answer buffer is full */
};

/* A key[] attribute: values in the order given. */
struct cred_list {
	char **v;
	size_t n;
};

/*
 * One parsed request.  Absent attributes are NULL; an attribute given with
 * an empty value ("path=") is "".
 */
struct credential {
	char *protocol;
	char *host;
	char *path;
	char *username;
	char *password;             /* secret */
	char *password_expiry_utc;
	char *oauth_refresh_token;  /* secret */
	char *authtype;
	char *credential;           /* secret */
	struct cred_list capability;    /* capability[] */
	struct cred_list wwwauth;       /* wwwauth[] */
	struct cred_list state;         /* state[] */
	unsigned lineno;            /* the line a parse error was found on */
};

/*
 * Parses a request from buf[0..len): lines of "key=value" up to the first
 * blank line or the end of buf (the last line may lack its newline).  c must
 * be zeroed or cleared; on failure it is cleared and c->lineno says where.
 * Unknown keys are ignored; capability[], wwwauth[] and state[] accumulate
 * and an empty value resets them; every other key we understand may appear
 * once only.  Returns CRED_OK or a negative cred_err.
 */
int cred_parse(struct credential *c, const char *buf, size_t len);

/*
 * For a request that could not be read or parsed, buf[0..len) being what was
 * read of it: 1 if one of its lines before the first blank line reads
 * key=value, else 0.  Lenient on purpose, as it only tells whether a dropped
 * request was meant for the caller: a line may be of any length, and a value
 * also ends at a NUL or CR (the bytes that got it dropped).  nocase compares
 * the value without regard to ASCII case.
 */
int cred_names(const char *buf, size_t len, const char *key, const char *value, int nocase);

/* 1 if the request announced capability[]=name. */
int cred_has_capability(const struct credential *c, const char *name);

/* Wipes and frees everything in c and zeroes it.  Safe on a zeroed c. */
void cred_clear(struct credential *c);

/* A request as read from a descriptor; wiped on free. */
struct cred_buf {
	char *p;
	size_t len;
	size_t cap;
};

/*
 * Reads from fd until a blank line, end of file, or a problem: CRED_ELONG as
 * soon as a line passes CRED_MAX_LINE, CRED_EBIG past CRED_MAX_REQUEST,
 * CRED_EIO, CRED_ENOMEM.  No read(2) follows the one that brought the blank
 * line, but what that one brought after it is consumed from fd: it is wiped
 * and dropped, and b->len ends with the blank line.  b must be zeroed; free
 * it with cred_buf_free() whatever the result.
 */
int cred_read_fd(int fd, struct cred_buf *b);
void cred_buf_free(struct cred_buf *b);

/* The answer being built, in caller memory (wipe it after use: it holds the token). */
struct cred_out {
	char *p;
	size_t len;
	size_t cap;
};

/*
 * Appends "key=value\n".  CRED_EVALUE when the key is empty or holds '=',
 * or either holds CR or LF (a newline in a value would let it forge the
 * next attribute), or the line would pass CRED_MAX_LINE; CRED_ESPACE when it
 * does not fit.  On failure o is unchanged.
 */
int cred_put(struct cred_out *o, const char *key, const char *value);

/* Writes all of buf to fd, retrying on EINTR and short writes.  CRED_OK or CRED_EIO. */
int cred_write_all(int fd, const char *buf, size_t len);

/* A static description of a cred_err. */
const char *cred_strerror(int err);

#endif /* GC_CREDENTIAL_H */
