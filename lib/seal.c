/*
 * seal.c - records sealed for the shared store, and the key they are sealed
 * under.
 *
 * A record that leaves the machine (store = postgres) is sealed with
 * AES-256-GCM under the 32-byte key in seal_key_file, so that the database,
 * its dumps, its backups and its administrators never hold a usable token.
 * A sealed record is
 *
 *   format (1 byte) | nonce (12 random bytes) | ciphertext | tag (16 bytes)
 *
 * and the additional authenticated data (AAD) of format 2 is
 *
 *   "scauth-seal" NUL | format | fleet id (16 bytes) | row version (8, big-endian) | slot
 *
 * (the fixed-size fields first, so that no two bindings make the same
 * bytes): a record copied into another slot (another profile's, the app
 * slot), into another fleet's database, written back at another row version
 * than the one it was sealed for, or altered by one bit does not open.  A
 * record written back together with its old version does open: each machine
 * remembers the highest version it has seen (fleet.c) to refuse that.
 * Format 1, before fleet ids, bound the slot alone ("scauth-seal" NUL | 1 |
 * slot); it is opened only where fleet.c allows it (a fleet that `fleet
 * init` has not upgraded yet), and written only there.  A random 96-bit nonce per
 * write is safe for far more writes than a grant ever sees (NIST SP 800-38D
 * allows 2^32 under one key).  The key file is checked on its open
 * descriptor, like every file of the store: never through a link, owned by
 * the caller or root, no group or other bits.
 */
#include "internal.h"
#include "fleet.h"
#include "dl.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEAL_AAD_PREFIX "scauth-seal"

int
seal_key_load(scauth_ctx *ctx, const char *path, unsigned char key[SEAL_KEY_LEN])
{
	unsigned char buf[SEAL_KEY_LEN + 1];
	struct stat st;
	size_t len = 0;
	ssize_t n;
	int fd = -1, r;

	if (path == NULL || *path == '\0')
		return ctx_err(ctx, SCAUTH_ECONFIG, "seal_key_file is not set; it is required "
		    "with store = postgres (create one with 'fleet init --new-key')");
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) == -1) {
		if (errno == ELOOP)
			return ctx_err(ctx, SCAUTH_EUNSAFE, "seal_key_file %s: is a symbolic "
			    "link, which is never followed; name the file itself", path);
		return ctx_errno(ctx, SCAUTH_ECONFIG, "seal_key_file %s", path);
	}
	if (fstat(fd, &st) == -1) {
		r = ctx_errno(ctx, SCAUTH_ECONFIG, "seal_key_file %s: fstat", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = ctx_err(ctx, SCAUTH_ECONFIG, "seal_key_file %s: not a regular file", path);
		goto out;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		r = ctx_err(ctx, SCAUTH_EUNSAFE, "seal_key_file %s: owned by uid %lu, not by "
		    "you or root", path, (unsigned long)st.st_uid);
		goto out;
	}
	if ((st.st_mode & 077) != 0) {
		r = ctx_err(ctx, SCAUTH_EUNSAFE, "seal_key_file %s: mode %04o allows group/other "
		    "access; chmod 600 it (and consider the key exposed)", path,
		    (unsigned)(st.st_mode & 07777));
		goto out;
	}
	/* One byte more than a key, to tell a longer file from a key. */
	while (len < sizeof(buf)) {
		if ((n = read(fd, buf + len, sizeof(buf) - len)) == -1) {
			if (errno == EINTR)
				continue;
			r = ctx_errno(ctx, SCAUTH_ECONFIG, "seal_key_file %s: read", path);
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len != SEAL_KEY_LEN) {
		r = ctx_err(ctx, SCAUTH_ECONFIG, "seal_key_file %s: must hold exactly %d random "
		    "bytes (it holds %s%zu)", path, SEAL_KEY_LEN, len > SEAL_KEY_LEN ? "more than " : "",
		    len > SEAL_KEY_LEN ? (size_t)SEAL_KEY_LEN : len);
		goto out;
	}
	memcpy(key, buf, SEAL_KEY_LEN);
	r = 0;
out:
	scauth_wipe(buf, sizeof(buf));
	if (fd >= 0)
		close(fd);
	return r;
}

int
seal_key_create(scauth_ctx *ctx, const char *path)
{
	unsigned char key[SEAL_KEY_LEN];
	size_t off = 0;
	ssize_t n;
	int fd = -1, r, made = 0;

	if (path == NULL || *path == '\0')
		return ctx_err(ctx, SCAUTH_ECONFIG, "seal_key_file is not set: name the file "
		    "the new key goes to");
	if ((r = random_bytes(ctx, key, sizeof(key))) != 0)
		goto out;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd == -1) {
		if (errno == EEXIST)
			r = ctx_err(ctx, SCAUTH_ECONFIG, "seal_key_file %s: exists; a key is never "
			    "overwritten (records sealed under it would be lost)", path);
		else
			r = ctx_errno(ctx, SCAUTH_ECONFIG, "seal_key_file %s: cannot create", path);
		goto out;
	}
	made = 1;
	/* The mode asked for is subject to the umask, which may only have narrowed it. */
	if (fchmod(fd, 0600) == -1) {
		r = ctx_errno(ctx, SCAUTH_ECONFIG, "seal_key_file %s: chmod", path);
		goto out;
	}
	while (off < sizeof(key)) {
		if ((n = write(fd, key + off, sizeof(key) - off)) == -1) {
			if (errno == EINTR)
				continue;
			r = ctx_errno(ctx, SCAUTH_ECONFIG, "seal_key_file %s: write", path);
			goto out;
		}
		off += (size_t)n;
	}
	if (fsync(fd) == -1) {
		r = ctx_errno(ctx, SCAUTH_ECONFIG, "seal_key_file %s: fsync", path);
		goto out;
	}
	r = 0;
out:
	scauth_wipe(key, sizeof(key));
	if (fd >= 0)
		close(fd);
	/* Never leave a short key behind for the next run to trust. */
	if (r != 0 && made)
		unlink(path);
	return r;
}

int
seal_format(const void *data, size_t len)
{
	return len > 0 ? ((const unsigned char *)data)[0] : -1;
}

/* What a sealed record is bound to, in the bytes of its format (see above). */
static int
make_aad(scauth_ctx *ctx, const struct seal_aad *a, unsigned char *aad, size_t cap, size_t *len)
{
	size_t p = sizeof(SEAL_AAD_PREFIX), n;
	uint64_t v;

	if (a == NULL || a->slot == NULL || (n = strlen(a->slot)) == 0 ||
	    p + 1 + SEAL_FLEET_ID_LEN + sizeof(v) + n > cap)
		return ctx_err(ctx, SCAUTH_EINVAL, "seal: no slot or a slot name too long");
	memcpy(aad, SEAL_AAD_PREFIX, p);        /* with its NUL, as a separator */
	aad[p++] = a->fleet != NULL ? SEAL_VERSION : SEAL_VERSION_1;
	if (a->fleet != NULL) {
		memcpy(aad + p, a->fleet, SEAL_FLEET_ID_LEN);
		p += SEAL_FLEET_ID_LEN;
		v = htobe64((uint64_t)a->version);
		memcpy(aad + p, &v, sizeof(v));
		p += sizeof(v);
	}
	memcpy(aad + p, a->slot, n);
	*len = p + n;
	return 0;
}

int
seal(scauth_ctx *ctx, const unsigned char key[SEAL_KEY_LEN], const struct seal_aad *a,
    const void *data, size_t len, struct sbuf *out)
{
	const struct crypto_fns *c;
	EVP_CIPHER_CTX *cc = NULL;
	unsigned char aad[MAX_PROFILE_LEN + 64], nonce[SEAL_NONCE_LEN], tag[SEAL_TAG_LEN];
	unsigned char *ct = NULL;
	size_t aadlen;
	int n, fin, r;
	char v;

	if ((r = make_aad(ctx, a, aad, sizeof(aad), &aadlen)) != 0)
		return r;
	v = (char)aad[sizeof(SEAL_AAD_PREFIX)];
	if (len > MAX_RECORD)
		return ctx_err(ctx, SCAUTH_EINVAL, "seal: record over %d bytes", MAX_RECORD);
	if ((r = dl_crypto(ctx, &c)) != 0)
		return r;
	if ((r = random_bytes(ctx, nonce, sizeof(nonce))) != 0)
		return r;
	if ((ct = malloc(len + 16)) == NULL)
		return SCAUTH_ENOMEM;
	if ((cc = c->cipher_new()) == NULL ||
	    c->encrypt_init(cc, c->aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    c->cipher_ctrl(cc, EVP_CTRL_GCM_SET_IVLEN, SEAL_NONCE_LEN, NULL) != 1 ||
	    c->encrypt_init(cc, NULL, NULL, key, nonce) != 1 ||
	    c->encrypt_update(cc, NULL, &n, aad, (int)aadlen) != 1 ||
	    c->encrypt_update(cc, ct, &n, data, (int)len) != 1 || (size_t)n != len ||
	    c->encrypt_final(cc, ct + n, &fin) != 1 || fin != 0 ||
	    c->cipher_ctrl(cc, EVP_CTRL_GCM_GET_TAG, SEAL_TAG_LEN, tag) != 1) {
		r = ctx_err(ctx, SCAUTH_EINTERNAL, "seal: AES-256-GCM failed in libcrypto");
		goto out;
	}
	if ((r = sbuf_add(out, &v, 1)) != 0 || (r = sbuf_add(out, nonce, sizeof(nonce))) != 0 ||
	    (r = sbuf_add(out, ct, len)) != 0 || (r = sbuf_add(out, tag, sizeof(tag))) != 0)
		goto out;
	r = 0;
out:
	if (cc != NULL)
		c->cipher_free(cc);
	scauth_wipe(ct, len + 16);
	free(ct);
	return r;
}

int
unseal(scauth_ctx *ctx, const unsigned char key[SEAL_KEY_LEN], const struct seal_aad *a,
    const void *data, size_t len, struct sbuf *out)
{
	const unsigned char *p = data;
	const struct crypto_fns *c;
	EVP_CIPHER_CTX *cc = NULL;
	unsigned char aad[MAX_PROFILE_LEN + 64], tag[SEAL_TAG_LEN], *pt = NULL;
	const char *slot = a != NULL ? a->slot : NULL;
	size_t aadlen, ctlen = 0;
	int n, fin, r;

	if ((r = make_aad(ctx, a, aad, sizeof(aad), &aadlen)) != 0)
		return r;
	if (len < SEAL_OVERHEAD || len > MAX_RECORD + SEAL_OVERHEAD)
		return ctx_err(ctx, SCAUTH_ECORRUPT, "sealed record of slot %s: wrong size", slot);
	if (p[0] != SEAL_VERSION && p[0] != SEAL_VERSION_1)
		return ctx_err(ctx, SCAUTH_ECORRUPT, "sealed record of slot %s: unknown format "
		    "version %u", slot, (unsigned)p[0]);
	/* The caller chose the format it accepts; the other one is never tried. */
	if (p[0] != aad[sizeof(SEAL_AAD_PREFIX)])
		return ctx_err(ctx, SCAUTH_ECORRUPT, "sealed record of slot %s: format %u where "
		    "format %u was expected", slot, (unsigned)p[0], (unsigned)aad[sizeof(SEAL_AAD_PREFIX)]);
	if ((r = dl_crypto(ctx, &c)) != 0)
		return r;
	ctlen = len - SEAL_OVERHEAD;
	memcpy(tag, p + len - SEAL_TAG_LEN, SEAL_TAG_LEN);
	if ((pt = malloc(ctlen + 16)) == NULL)
		return SCAUTH_ENOMEM;
	if ((cc = c->cipher_new()) == NULL ||
	    c->decrypt_init(cc, c->aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    c->cipher_ctrl(cc, EVP_CTRL_GCM_SET_IVLEN, SEAL_NONCE_LEN, NULL) != 1 ||
	    c->decrypt_init(cc, NULL, NULL, key, p + 1) != 1) {
		r = ctx_err(ctx, SCAUTH_EINTERNAL, "unseal: AES-256-GCM failed in libcrypto");
		goto out;
	}
	if (c->decrypt_update(cc, NULL, &n, aad, (int)aadlen) != 1 ||
	    c->decrypt_update(cc, pt, &n, p + 1 + SEAL_NONCE_LEN, (int)ctlen) != 1 ||
	    c->cipher_ctrl(cc, EVP_CTRL_GCM_SET_TAG, SEAL_TAG_LEN, tag) != 1 ||
	    c->decrypt_final(cc, pt + n, &fin) != 1) {
		r = ctx_err(ctx, SCAUTH_ECORRUPT, "sealed record of slot %s does not open: another "
		    "seal_key_file than the one it was sealed with, or it was altered, copied "
		    "from another slot or fleet, or written back at another row version", slot);
		goto out;
	}
	r = sbuf_add(out, pt, ctlen);
out:
	if (cc != NULL)
		c->cipher_free(cc);
	if (pt != NULL) {
		scauth_wipe(pt, ctlen + 16);
		free(pt);
	}
	return r;
}
