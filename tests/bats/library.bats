#!/usr/bin/env bats
# library.bats - libscauth as other programs get it: only scauth_* symbols
# are global in libscauth.a and libscauth.so (so that a program's own `now`
# or `sfree` cannot clash), `make install` installs libscauth.pc, and
# examples/token.c, built by make and against an installed copy with
# pkg-config, gets a token, calls /me and prints who, against the sandbox.

load '../lib/common'

bats_require_minimum_version 1.5.0

setup_file() { sc_setup_file; }
teardown_file() { sc_teardown_file; }
setup() { sc_setup; }

# Defined global symbols of an archive or shared library other than scauth_*
# (the version node SCAUTH_1 of the shared library is no symbol of code or data).
foreign_globals() {
	if [[ $1 == *.a ]]; then
		nm -g --defined-only "$1"
	else
		nm -D --defined-only "$1"
	fi | awk 'NF == 3 && $2 != "A" && $3 !~ /^scauth_/ { print $3 }'
}

# The flags a program needs to link this build's objects (a sanitizer build needs its runtime).
link_flags() {
	if nm -u "$BUILD/libscauth.a" | grep -q '__asan_'; then
		echo "-fsanitize=address,undefined"
	fi
}

@test "libscauth.a and libscauth.so define no global symbol but scauth_*" {
	run foreign_globals "$BUILD/libscauth.a"
	assert_success
	assert_output ""
	run foreign_globals "$BUILD/libscauth.so.1"
	assert_success
	assert_output ""
	# ... and the API is there.
	nm -g --defined-only "$BUILD/libscauth.a" | grep -q ' T scauth_token_get$'
	nm -D --defined-only "$BUILD/libscauth.so.1" | grep -q ' T scauth_login_run@@SCAUTH_1$'
}

@test "the ABI of libscauth.so is the recorded one (lib/libscauth.abi)" {
	# A change is made on purpose: `make abi` records it (and the soname says if it breaks).
	[[ -z $(link_flags) ]] || skip "a sanitizer build links its runtime: not the ABI shipped"
	command -v abidiff >/dev/null || fail "abidiff is missing: scripts/deps installs abigail-tools"
	run abidiff --headers-dir2 "$TOP/lib" "$TOP/lib/libscauth.abi" "$BUILD/libscauth.so.1"
	assert_success
}

@test "a program with functions named like the library's internals links libscauth.a" {
	local d=$BATS_TEST_TMPDIR
	cat >"$d/clash.c" <<-'C'
	#include <stdio.h>
	#include <time.h>
	#include <scauth.h>
	/* Names the library uses inside: they must not collide. */
	time_t now(void) { return 42; }
	void sfree(char *s) { (void)s; }
	int url_parse(void) { return 7; }
	int http_do(void) { return 8; }
	int lock_take(void) { return 9; }
	int main(void)
	{
		printf("%ld %d %d %d %s\n", (long)now(), url_parse(), http_do(), lock_take(),
		    scauth_strerror(SCAUTH_ELOGIN));
		return 0;
	}
	C
	# shellcheck disable=SC2046
	run cc $(link_flags) -I"$TOP/lib" -o "$d/clash" "$d/clash.c" "$BUILD/libscauth.a" \
		$(pkg-config --libs json-c libkeyutils) -ldl
	assert_success
	run "$d/clash"
	assert_success
	assert_output "42 7 8 9 login required"
}

@test "examples/token prints who is logged in, after a call to /me" {
	sc_login
	run --separate-stderr "$BUILD/examples/token"
	assert_success
	assert_output "Test User (test-user, soundcloud:users:1001)"
	refute_secrets "$output$stderr"
	# One /me at the login, one by the example.
	assert_equal "$(sandbox_stat me)" 2
}

@test "examples/token without a login says so and fails" {
	run --separate-stderr "$BUILD/examples/token"
	assert_failure 1
	[[ $stderr == *"login required"* ]] || fail "stderr: $stderr"
	run --separate-stderr "$BUILD/examples/token" --profile
	assert_failure 1
	[[ $stderr == *"usage: token"* ]] || fail "stderr: $stderr"
}

@test "make install installs libscauth.pc; examples/token.c builds against it with pkg-config" {
	local dest=$BATS_TEST_TMPDIR/dest prefix=/opt/scauth pc
	# -o all: install what this build made, without rebuilding it with other flags.
	run make --no-print-directory -C "$TOP" -o all B="$BUILD" DESTDIR="$dest" \
		PREFIX="$prefix" install
	assert_success
	pc=$dest$prefix/lib/pkgconfig/libscauth.pc
	[ -f "$pc" ] || fail "no $pc"
	grep -qx "libdir=$prefix/lib" "$pc"
	run foreign_globals "$dest$prefix/lib/libscauth.a"
	assert_output ""
	run foreign_globals "$dest$prefix/lib/libscauth.so.1"
	assert_output ""

	export PKG_CONFIG_PATH=$dest$prefix/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$dest
	run pkg-config --modversion libscauth
	assert_output "$(sed -n 's/^#define SCAUTH_VERSION "\(.*\)"/\1/p' "$TOP/lib/scauth.h")"
	# shellcheck disable=SC2046
	run cc $(link_flags) -o "$BATS_TEST_TMPDIR/token" "$TOP/examples/token.c" \
		$(pkg-config --cflags --libs libscauth)
	assert_success
	sc_login
	LD_LIBRARY_PATH=$dest$prefix/lib run --separate-stderr "$BATS_TEST_TMPDIR/token"
	assert_success
	assert_output "Test User (test-user, soundcloud:users:1001)"
	# The installed copy is the one that ran.
	LD_LIBRARY_PATH=$dest$prefix/lib run ldd "$BATS_TEST_TMPDIR/token"
	assert_output --partial "$dest$prefix/lib/libscauth.so.1"
}
