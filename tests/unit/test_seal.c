/*
 * test_seal.c - sealed records (lib/seal.c): a round trip, a fresh nonce per
 * write, and every way a record must fail to open (another slot, another
 * fleet id, another row version, the other format, another key, a flipped
 * bit anywhere, a cut, an unknown version); the seal key file's
 * checks (size, mode, owner, links, FIFOs) and its creation (O_EXCL, 0600,
 * never over a file).  Runs as root in CI for the owner test.
 */
#include "testutil.h"

#include "internal.h"
#include "fleet.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char record_text[] = "scauth-token 1\naccess_token AAAA\nrefresh_token RRRR\n";

static const unsigned char fleet_a[SEAL_FLEET_ID_LEN] = "0123456789abcdef";
static const unsigned char fleet_b[SEAL_FLEET_ID_LEN] = "0123456789abcdeg";

/* The binding of slot at version 7 in fleet A, as the fleet store seals. */
#define AAD(slot) (&(struct seal_aad){ (slot), fleet_a, 7 })

struct fx {
	char *dir;
	char path[256];
	scauth_ctx *ctx;
	unsigned char key[SEAL_KEY_LEN];
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	size_t i;

	assert_non_null(f);
	f->dir = tu_tmpdir();
	snprintf(f->path, sizeof(f->path), "%s/key", f->dir);
	assert_int_equal(scauth_ctx_new(&f->ctx, SCAUTH_CTX_NO_ENV), 0);
	for (i = 0; i < sizeof(f->key); i++)
		f->key[i] = (unsigned char)(i * 7 + 1);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	scauth_ctx_free(f->ctx);
	nftw(f->dir, tu_rm, 8, FTW_DEPTH | FTW_PHYS);
	free(f->dir);
	free(f);
	return 0;
}

static void
sealed(struct fx *f, const char *slot, struct sbuf *out)
{
	assert_int_equal(seal(f->ctx, f->key, AAD(slot), record_text, strlen(record_text), out), 0);
}

static void
test_round_trip(void **state)
{
	struct fx *f = *state;
	struct sbuf s = SBUF_INIT(MAX_RECORD + SEAL_OVERHEAD), p = SBUF_INIT(MAX_RECORD);

	sealed(f, "default.user", &s);
	assert_int_equal(s.len, strlen(record_text) + SEAL_OVERHEAD);
	assert_int_equal((unsigned char)s.p[0], SEAL_VERSION);
	/* The clear text is nowhere in the sealed bytes. */
	assert_null(memmem(s.p, s.len, "AAAA", 4));
	assert_null(memmem(s.p, s.len, "scauth-token", 12));
	assert_int_equal(unseal(f->ctx, f->key, AAD("default.user"), s.p, s.len, &p), 0);
	assert_int_equal(p.len, strlen(record_text));
	assert_memory_equal(p.p, record_text, p.len);
	sbuf_free(&s);
	sbuf_free(&p);
}

static void
test_fresh_nonce(void **state)
{
	struct fx *f = *state;
	struct sbuf a = SBUF_INIT(0), b = SBUF_INIT(0);

	sealed(f, "default.user", &a);
	sealed(f, "default.user", &b);
	assert_int_equal(a.len, b.len);
	/* Same key, slot and text: another nonce, so other bytes throughout. */
	assert_memory_not_equal(a.p + 1, b.p + 1, SEAL_NONCE_LEN);
	assert_memory_not_equal(a.p + 1 + SEAL_NONCE_LEN, b.p + 1 + SEAL_NONCE_LEN,
	    a.len - 1 - SEAL_NONCE_LEN);
	sbuf_free(&a);
	sbuf_free(&b);
}

static void
test_other_slot(void **state)
{
	struct fx *f = *state;
	struct sbuf s = SBUF_INIT(0), p = SBUF_INIT(0);

	sealed(f, "default.user", &s);
	assert_int_equal(unseal(f->ctx, f->key, AAD("default.app"), s.p, s.len, &p), SCAUTH_ECORRUPT);
	assert_int_equal(unseal(f->ctx, f->key, AAD("other.user"), s.p, s.len, &p), SCAUTH_ECORRUPT);
	assert_int_equal(unseal(f->ctx, f->key, AAD("default.use"), s.p, s.len, &p), SCAUTH_ECORRUPT);
	assert_non_null(strstr(scauth_errmsg(f->ctx), "does not open"));
	assert_int_equal(p.len, 0);
	sbuf_free(&s);
	sbuf_free(&p);
}

static void
test_other_key(void **state)
{
	struct fx *f = *state;
	struct sbuf s = SBUF_INIT(0), p = SBUF_INIT(0);

	sealed(f, "default.user", &s);
	f->key[31] ^= 1;
	assert_int_equal(unseal(f->ctx, f->key, AAD("default.user"), s.p, s.len, &p), SCAUTH_ECORRUPT);
	assert_int_equal(p.len, 0);
	sbuf_free(&s);
	sbuf_free(&p);
}

static void
test_every_bit(void **state)
{
	struct fx *f = *state;
	struct sbuf s = SBUF_INIT(0), p = SBUF_INIT(0);
	size_t i;
	int bit, r;

	sealed(f, "default.user", &s);
	for (i = 0; i < s.len; i++)
		for (bit = 0; bit < 8; bit++) {
			s.p[i] ^= (char)(1 << bit);
			r = unseal(f->ctx, f->key, AAD("default.user"), s.p, s.len, &p);
			s.p[i] ^= (char)(1 << bit);
			if (r != SCAUTH_ECORRUPT)
				fail_msg("byte %zu bit %d flipped: unseal returned %d", i, bit, r);
			assert_int_equal(p.len, 0);
		}
	assert_int_equal(unseal(f->ctx, f->key, AAD("default.user"), s.p, s.len, &p), 0);
	sbuf_free(&s);
	sbuf_free(&p);
}

static void
test_cut(void **state)
{
	struct fx *f = *state;
	struct sbuf s = SBUF_INIT(0), p = SBUF_INIT(0);
	size_t n;

	sealed(f, "default.user", &s);
	for (n = 0; n < s.len; n++)
		assert_int_equal(unseal(f->ctx, f->key, AAD("default.user"), s.p, n, &p),
		    SCAUTH_ECORRUPT);
	/* A byte too many is a different tag position: refused too. */
	sbuf_addch(&s, 'x');
	assert_int_equal(unseal(f->ctx, f->key, AAD("default.user"), s.p, s.len, &p), SCAUTH_ECORRUPT);
	assert_int_equal(p.len, 0);
	sbuf_free(&s);
	sbuf_free(&p);
}

static void
test_version(void **state)
{
	struct fx *f = *state;
	struct sbuf s = SBUF_INIT(0), p = SBUF_INIT(0);

	sealed(f, "default.user", &s);
	s.p[0] = 3;
	assert_int_equal(unseal(f->ctx, f->key, AAD("default.user"), s.p, s.len, &p), SCAUTH_ECORRUPT);
	assert_non_null(strstr(scauth_errmsg(f->ctx), "version 3"));
	sbuf_free(&s);
	sbuf_free(&p);
}

/* The fleet id and the row version are bound: a record written back elsewhere does not open. */
static void
test_other_fleet_or_version(void **state)
{
	struct fx *f = *state;
	struct sbuf s = SBUF_INIT(0), p = SBUF_INIT(0);
	struct seal_aad a = { "default.user", fleet_b, 7 };

	sealed(f, "default.user", &s);
	assert_int_equal((unsigned char)s.p[0], SEAL_VERSION);
	assert_int_equal(SEAL_VERSION, 2);
	assert_int_equal(unseal(f->ctx, f->key, &a, s.p, s.len, &p), SCAUTH_ECORRUPT);
	assert_non_null(strstr(scauth_errmsg(f->ctx), "does not open"));
	a.fleet = fleet_a;
	/* Written back with its version bumped, or lowered: neither opens. */
	a.version = 8;
	assert_int_equal(unseal(f->ctx, f->key, &a, s.p, s.len, &p), SCAUTH_ECORRUPT);
	a.version = 6;
	assert_int_equal(unseal(f->ctx, f->key, &a, s.p, s.len, &p), SCAUTH_ECORRUPT);
	a.version = 7 + (1LL << 32);
	assert_int_equal(unseal(f->ctx, f->key, &a, s.p, s.len, &p), SCAUTH_ECORRUPT);
	a.version = 7;
	assert_int_equal(p.len, 0);
	assert_int_equal(unseal(f->ctx, f->key, &a, s.p, s.len, &p), 0);
	assert_memory_equal(p.p, record_text, p.len);
	sbuf_free(&s);
	sbuf_free(&p);
}

/*
 * Format 1 (the slot alone, before fleet ids) opens only where the caller
 * asks for it, and a record of one format never opens as the other, even
 * with its format byte rewritten.
 */
static void
test_format_1(void **state)
{
	struct fx *f = *state;
	struct sbuf s = SBUF_INIT(0), p = SBUF_INIT(0);
	struct seal_aad old = { "default.user", NULL, 0 };

	assert_int_equal(seal(f->ctx, f->key, &old, record_text, strlen(record_text), &s), 0);
	assert_int_equal((unsigned char)s.p[0], SEAL_VERSION_1);
	assert_int_equal(seal_format(s.p, s.len), SEAL_VERSION_1);
	assert_int_equal(unseal(f->ctx, f->key, AAD("default.user"), s.p, s.len, &p), SCAUTH_ECORRUPT);
	assert_non_null(strstr(scauth_errmsg(f->ctx), "format 1 where format 2"));
	s.p[0] = SEAL_VERSION;
	assert_int_equal(unseal(f->ctx, f->key, AAD("default.user"), s.p, s.len, &p), SCAUTH_ECORRUPT);
	s.p[0] = SEAL_VERSION_1;
	/* The version means nothing to format 1. */
	old.version = 99;
	assert_int_equal(unseal(f->ctx, f->key, &old, s.p, s.len, &p), 0);
	assert_memory_equal(p.p, record_text, p.len);
	sbuf_reset(&p);
	sbuf_reset(&s);
	sealed(f, "default.user", &s);
	assert_int_equal(unseal(f->ctx, f->key, &old, s.p, s.len, &p), SCAUTH_ECORRUPT);
	s.p[0] = SEAL_VERSION_1;
	assert_int_equal(unseal(f->ctx, f->key, &old, s.p, s.len, &p), SCAUTH_ECORRUPT);
	assert_int_equal(p.len, 0);
	assert_int_equal(seal_format(s.p, 0), -1);
	sbuf_free(&s);
	sbuf_free(&p);
}

static void
test_empty_slot(void **state)
{
	struct fx *f = *state;
	struct sbuf s = SBUF_INIT(0);

	assert_int_equal(seal(f->ctx, f->key, AAD(""), "x", 1, &s), SCAUTH_EINVAL);
	assert_int_equal(seal(f->ctx, f->key, AAD(NULL), "x", 1, &s), SCAUTH_EINVAL);
	assert_int_equal(seal(f->ctx, f->key, NULL, "x", 1, &s), SCAUTH_EINVAL);
	sbuf_free(&s);
}

static void
write_key(const char *path, size_t n, mode_t mode)
{
	unsigned char buf[64];
	int fd;

	memset(buf, 0x5a, sizeof(buf));
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, n), (ssize_t)n);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void
test_key_file(void **state)
{
	struct fx *f = *state;
	unsigned char key[SEAL_KEY_LEN];
	char link[300];

	write_key(f->path, 32, 0600);
	assert_int_equal(seal_key_load(f->ctx, f->path, key), 0);
	assert_int_equal(key[0], 0x5a);
	write_key(f->path, 32, 0400);
	assert_int_equal(seal_key_load(f->ctx, f->path, key), 0);

	write_key(f->path, 31, 0600);
	assert_int_equal(seal_key_load(f->ctx, f->path, key), SCAUTH_ECONFIG);
	assert_non_null(strstr(scauth_errmsg(f->ctx), "exactly 32"));
	write_key(f->path, 33, 0600);
	assert_int_equal(seal_key_load(f->ctx, f->path, key), SCAUTH_ECONFIG);
	write_key(f->path, 0, 0600);
	assert_int_equal(seal_key_load(f->ctx, f->path, key), SCAUTH_ECONFIG);

	write_key(f->path, 32, 0640);
	assert_int_equal(seal_key_load(f->ctx, f->path, key), SCAUTH_EUNSAFE);
	assert_non_null(strstr(scauth_errmsg(f->ctx), "0640"));
	write_key(f->path, 32, 0604);
	assert_int_equal(seal_key_load(f->ctx, f->path, key), SCAUTH_EUNSAFE);

	write_key(f->path, 32, 0600);
	snprintf(link, sizeof(link), "%s/link", f->dir);
	assert_int_equal(symlink(f->path, link), 0);
	assert_int_equal(seal_key_load(f->ctx, link, key), SCAUTH_EUNSAFE);
	assert_non_null(strstr(scauth_errmsg(f->ctx), "symbolic link"));

	snprintf(link, sizeof(link), "%s/fifo", f->dir);
	assert_int_equal(mkfifo(link, 0600), 0);
	assert_int_equal(seal_key_load(f->ctx, link, key), SCAUTH_ECONFIG);
	assert_int_equal(seal_key_load(f->ctx, f->dir, key), SCAUTH_ECONFIG);

	snprintf(link, sizeof(link), "%s/absent", f->dir);
	assert_int_equal(seal_key_load(f->ctx, link, key), SCAUTH_ECONFIG);
	assert_int_equal(seal_key_load(f->ctx, NULL, key), SCAUTH_ECONFIG);
	assert_non_null(strstr(scauth_errmsg(f->ctx), "fleet init --new-key"));
}

static void
test_key_owner(void **state)
{
	struct fx *f = *state;
	unsigned char key[SEAL_KEY_LEN];

	if (geteuid() != 0)
		fail_msg("this test needs root (chown); the suite runs as root");
	write_key(f->path, 32, 0600);
	assert_int_equal(chown(f->path, 12345, 12345), 0);
	assert_int_equal(seal_key_load(f->ctx, f->path, key), SCAUTH_EUNSAFE);
	assert_non_null(strstr(scauth_errmsg(f->ctx), "uid 12345"));
}

static void
test_key_create(void **state)
{
	struct fx *f = *state;
	unsigned char a[SEAL_KEY_LEN], b[SEAL_KEY_LEN];
	char second[300];
	struct stat st;
	mode_t old;

	/* A loose umask does not loosen the key. */
	old = umask(0);
	assert_int_equal(seal_key_create(f->ctx, f->path), 0);
	umask(old);
	assert_int_equal(lstat(f->path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, SEAL_KEY_LEN);
	assert_int_equal(seal_key_load(f->ctx, f->path, a), 0);

	/* Never over an existing file, and the file is left as it was. */
	assert_int_equal(seal_key_create(f->ctx, f->path), SCAUTH_ECONFIG);
	assert_non_null(strstr(scauth_errmsg(f->ctx), "never overwritten"));
	assert_int_equal(seal_key_load(f->ctx, f->path, b), 0);
	assert_memory_equal(a, b, sizeof(a));

	/* Nor through a link, dangling or not. */
	snprintf(second, sizeof(second), "%s/dangling", f->dir);
	assert_int_equal(symlink("/nonexistent/key", second), 0);
	assert_int_equal(seal_key_create(f->ctx, second), SCAUTH_ECONFIG);

	/* Two keys differ. */
	snprintf(second, sizeof(second), "%s/key2", f->dir);
	assert_int_equal(seal_key_create(f->ctx, second), 0);
	assert_int_equal(seal_key_load(f->ctx, second, b), 0);
	assert_memory_not_equal(a, b, sizeof(a));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fresh_nonce, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_slot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_every_bit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cut, setup, teardown),
		cmocka_unit_test_setup_teardown(test_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_fleet_or_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_format_1, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_slot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_owner, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_create, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
