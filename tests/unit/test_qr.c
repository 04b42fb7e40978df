/*
 * test_qr.c - scauth_qr_render(): the shape of the text (two module rows a
 * line, a 2-module quiet zone, version 4v+17 modules across), the polarity
 * (light modules and the quiet zone drawn), and, module by module, that the
 * text is the symbol libqrencode makes for the same input (ECC level L,
 * 8-bit, case-sensitive).  There is no decoder on the machine to close the
 * loop; the comparison with an independent encode stands in for one.
 */
#include "testutil.h"
#include "internal.h"

#include <dlfcn.h>
#include <qrencode.h>

#define FULL  "\u2588"
#define UPPER "\u2580"
#define LOWER "\u2584"

/* The lines of a render, each split into its cells. */
struct grid {
	int lines;
	int cols[200];
	char cell[200][200][4];
};

static void
split(const char *text, struct grid *g)
{
	const char *p = text;
	int n;

	memset(g, 0, sizeof(*g));
	while (*p != '\0') {
		assert_true(g->lines < 200);
		while (*p != '\n') {
			assert_true(*p != '\0');
			n = (*p & 0x80) == 0 ? 1 : 3;
			assert_true(g->cols[g->lines] < 200);
			memcpy(g->cell[g->lines][g->cols[g->lines]++], p, (size_t)n);
			p += n;
		}
		p++;
		g->lines++;
	}
}

/* Which halves of a cell are drawn: bit 0 upper, bit 1 lower. */
static int
halves(const char *c)
{
	if (strcmp(c, " ") == 0)
		return 0;
	if (strcmp(c, UPPER) == 0)
		return 1;
	if (strcmp(c, LOWER) == 0)
		return 2;
	if (strcmp(c, FULL) == 0)
		return 3;
	fail_msg("unexpected cell '%s'", c);
	return -1;
}

static struct grid g;

static void
render(const char *text, int *lines, int *cols)
{
	char *out = NULL, *again = NULL;
	int i;

	assert_int_equal(scauth_qr_render(text, &out), 0);
	assert_non_null(out);
	split(out, &g);
	/* Every line as wide as the first; the same text gives the same render. */
	for (i = 0; i < g.lines; i++)
		assert_int_equal(g.cols[i], g.cols[0]);
	assert_int_equal(scauth_qr_render(text, &again), 0);
	assert_string_equal(out, again);
	free(out);
	free(again);
	*lines = g.lines;
	*cols = g.cols[0];
}

static void
test_sizes(void **state)
{
	static const struct {
		size_t len;
		int version;
	} cases[] = {
		/* Lower-case letters go in 8-bit mode: 17 bytes fit version 1-L, 32 version 2-L. */
		{ 5, 1 }, { 17, 1 }, { 18, 2 }, { 32, 2 }, { 33, 3 },
	};
	char text[64];
	int lines, cols, size;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		memset(text, 'q', cases[i].len);
		text[cases[i].len] = '\0';
		render(text, &lines, &cols);
		size = cases[i].version * 4 + 17 + 4;
		assert_int_equal(cols, size);
		assert_int_equal(lines, (size + 1) / 2);
	}
}

static void
test_quiet_zone_and_finder(void **state)
{
	int lines, cols, x;

	render("hello", &lines, &cols);
	assert_int_equal(cols, 25);
	assert_int_equal(lines, 13);
	/* Rows 0 and 1: quiet, drawn. */
	for (x = 0; x < cols; x++)
		assert_string_equal(g.cell[0][x], FULL);
	/* Columns 0, 1 and the last two: quiet on every line. */
	for (x = 1; x < lines - 1; x++) {
		assert_string_equal(g.cell[x][0], FULL);
		assert_string_equal(g.cell[x][1], FULL);
		assert_string_equal(g.cell[x][cols - 2], FULL);
		assert_string_equal(g.cell[x][cols - 1], FULL);
	}
	/* 25 rows: the last line holds row 24 (quiet) over the terminal's background. */
	for (x = 0; x < cols; x++)
		assert_string_equal(g.cell[lines - 1][x], UPPER);
	/*
	 * Line 1 holds rows 2 and 3: the top edge of the upper left finder
	 * (dark, so not drawn) over its dark-light-dark row.
	 */
	assert_string_equal(g.cell[1][2], " ");
	for (x = 3; x <= 7; x++)
		assert_string_equal(g.cell[1][x], LOWER);
	assert_string_equal(g.cell[1][8], " ");
	/* The separator column right of the finder is light. */
	assert_string_equal(g.cell[1][9], FULL);
}

/* The render against libqrencode's own symbol for the same text, module by module. */
static void
test_matches_symbol(void **state)
{
	static const char url[] = "https://secure.soundcloud.com/authorize?client_id=AbCdEf123"
	    "&redirect_uri=http%3A%2F%2F127.0.0.1%3A8765%2Fcallback&response_type=code"
	    "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
	    "&code_challenge_method=S256&state=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
	__typeof__(&QRcode_encodeString) encode;
	__typeof__(&QRcode_free) qrfree;
	QRcode *qr;
	void *h;
	int lines, cols, x, y, dark, drawn;

	render(url, &lines, &cols);
	h = dlopen("libqrencode.so.4", RTLD_NOW | RTLD_LOCAL);
	assert_non_null(h);
	*(void **)&encode = dlsym(h, "QRcode_encodeString");
	*(void **)&qrfree = dlsym(h, "QRcode_free");
	assert_non_null(encode);
	assert_non_null(qrfree);
	qr = encode(url, 0, QR_ECLEVEL_L, QR_MODE_8, 1);
	assert_non_null(qr);
	assert_int_equal(cols, qr->version * 4 + 17 + 4);
	assert_int_equal(cols, qr->width + 4);
	for (y = 0; y < qr->width; y++) {
		for (x = 0; x < qr->width; x++) {
			dark = qr->data[y * qr->width + x] & 1;
			drawn = halves(g.cell[(y + 2) / 2][x + 2]) >> ((y + 2) % 2) & 1;
			if (drawn == dark)
				fail_msg("module (%d,%d): dark %d but drawn %d", x, y, dark, drawn);
		}
	}
	qrfree(qr);
	dlclose(h);
}

static void
test_bad_input(void **state)
{
	char *out = (char *)&out;       /* must be NULLed */

	assert_int_equal(scauth_qr_render("", &out), SCAUTH_EINVAL);
	assert_null(out);
	assert_int_equal(scauth_qr_render(NULL, &out), SCAUTH_EINVAL);
	assert_null(out);
	assert_int_equal(scauth_qr_render("x", NULL), SCAUTH_EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_quiet_zone_and_finder),
		cmocka_unit_test(test_matches_symbol),
		cmocka_unit_test(test_bad_input),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
