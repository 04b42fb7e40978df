/*
 * fuzz_credential.c - libFuzzer target for the git-credential(1) reader of
 * the helper (git-credential/credential.c).
 *
 * Whatever the input: no crash, no leak, no read past the buffer; a request
 * that parses holds no CR, LF or NUL in any value; what parses survives the
 * writer and parses back to the same; and reading it through a descriptor
 * agrees with parsing it in memory.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "credential.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_value(const char *v)
{
	if (v != NULL)
		assert(strpbrk(v, "\r\n") == NULL);
}

/* Writes the single-valued fields back out and parses them again. */
static void
round_trip(const struct credential *c)
{
	static const size_t cap = 16 * CRED_MAX_LINE;
	const char *const fields[][2] = {
		{ "protocol", c->protocol }, { "host", c->host }, { "path", c->path },
		{ "username", c->username }, { "password", c->password },
		{ "authtype", c->authtype }, { "credential", c->credential },
	};
	struct credential back = { 0 };
	struct cred_out o;
	size_t i;

	o.p = malloc(cap);
	o.len = 0;
	o.cap = cap;
	assert(o.p != NULL);
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		check_value(fields[i][1]);
		if (fields[i][1] != NULL)
			assert(cred_put(&o, fields[i][0], fields[i][1]) == CRED_OK);
	}
	assert(cred_parse(&back, o.p, o.len) == CRED_OK);
	assert((back.host == NULL) == (c->host == NULL));
	assert(back.host == NULL || strcmp(back.host, c->host) == 0);
	assert((back.password == NULL) == (c->password == NULL));
	assert(back.password == NULL || strcmp(back.password, c->password) == 0);
	cred_clear(&back);
	free(o.p);
}

/* The descriptor reader must see the same request as the in-memory parser. */
static void
through_fd(const uint8_t *data, size_t size, int parsed)
{
	struct cred_buf b = { 0 };
	struct credential c = { 0 };
	int fd, r;

	if ((fd = memfd_create("fuzz", MFD_CLOEXEC)) < 0)
		return;
	if (cred_write_all(fd, (const char *)data, size) == CRED_OK &&
	    lseek(fd, 0, SEEK_SET) == 0) {
		r = cred_read_fd(fd, &b);
		if (r == CRED_OK) {
			assert(b.len <= size && memcmp(b.p, data, b.len) == 0);
			assert(cred_parse(&c, b.p, b.len) == parsed);
			cred_clear(&c);
		} else {
			/* The reader gives up early only on what the parser refuses too. */
			assert(r == CRED_ELONG || r == CRED_EBIG);
			assert(parsed != CRED_OK);
		}
	}
	cred_buf_free(&b);
	close(fd);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct credential c = { 0 };
	size_t i;
	int r;

	r = cred_parse(&c, (const char *)data, size);
	if (r == CRED_OK) {
		for (i = 0; i < c.wwwauth.n; i++)
			check_value(c.wwwauth.v[i]);
		assert(c.capability.n <= CRED_MAX_VALUES);
		round_trip(&c);
	} else {
		assert(c.host == NULL && c.password == NULL && c.capability.n == 0);
	}
	cred_clear(&c);
	if (size <= 4 * CRED_MAX_LINE)
		through_fd(data, size, r);
	return 0;
}
