#!/usr/bin/env bats
# The Debian packages (debian/, make deb): built once into BUILD/deb (where tests/deb/installed
# and CI take them from), checked with lintian and blhc, built a second time elsewhere to see
# that the .debs are the same bytes, and looked into.  tests/run says "not applicable" where
# dpkg-buildpackage, debhelper, lintian or blhc are missing.  Installing, upgrading and purging
# them is tests/deb/installed, in a fresh system (.ci/debian).

load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

TOP=$(cd "$(dirname "$BATS_TEST_FILENAME")/../.." && pwd)
: "${SCAUTH_BUILD:=build}"
case $SCAUTH_BUILD in /*) BUILD=$SCAUTH_BUILD ;; *) BUILD=$TOP/$SCAUTH_BUILD ;; esac
DEBS=$BUILD/deb

setup_file() {
	"$TOP/scripts/deb" "$DEBS" >"$BATS_FILE_TMPDIR/deb.out" 2>&1 || {
		cat "$BATS_FILE_TMPDIR/deb.out" >&2
		return 1
	}
}

# packages: the binary packages debian/control builds here (the relay only with relay/).
packages() {
	echo libscauth1 libscauth-dev git-credential-soundcloud libpam-soundcloud
	[ ! -d "$TOP/relay" ] || echo soundcloud-auth-relay
}

deb_of() {
	ls "$DEBS/$1"_*.deb
}

@test "make deb builds every package, unsigned, with a .changes and a build log" {
	local p
	for p in $(packages); do
		[ -s "$(deb_of "$p")" ] || fail "no package $p in $DEBS"
	done
	ls "$DEBS"/*.changes >/dev/null
	[ -s "$DEBS/build.log" ]
	run grep -l 'BEGIN PGP SIGNED' "$DEBS"/*.changes "$DEBS"/*.buildinfo
	assert_output ''
}

@test "lintian reports no error and no warning" {
	run lintian --fail-on error,warning "$DEBS"/*.changes
	assert_success
	refute_output --regexp '^[EW]: '
}

@test "blhc finds no missing hardening flag in the build log" {
	# blhc judges the compiler lines it sees: there must be many of them.
	[ "$(grep -c -- ' -c -o debian/build/' "$DEBS/build.log")" -ge 20 ]
	run blhc --all "$DEBS/build.log"
	assert_success
	assert_output ''
}

@test "the symbols file lists exactly what libscauth.so.1 exports" {
	grep -q 'dh_makeshlibs' "$DEBS/build.log"
	run grep 'dpkg-gensymbols' "$DEBS/build.log"
	assert_output ''
}

@test "a second build, from another directory, gives the same .debs byte for byte" {
	local other=$BATS_FILE_TMPDIR/second f diff=()
	"$TOP/scripts/deb" "$other" >/dev/null
	for f in "$DEBS"/*.deb; do
		cmp -s "$f" "$other/${f##*/}" || diff+=("${f##*/}")
	done
	[ "$(ls "$other"/*.deb | wc -l)" = "$(ls "$DEBS"/*.deb | wc -l)" ]
	[ ${#diff[@]} -eq 0 ] || fail "not reproducible: ${diff[*]}"
}

@test "the PAM module is in the multiarch security directory; no package touches PAM's config" {
	local p multiarch
	multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
	run dpkg-deb -c "$(deb_of libpam-soundcloud)"
	assert_output --partial " ./usr/lib/$multiarch/security/pam_soundcloud.so"
	assert_output --partial " ./usr/share/man/man8/pam_soundcloud.8.gz"
	assert_output --partial " ./usr/share/doc/libpam-soundcloud/examples/pam.d/soundcloud-kiosk"
	assert_output --partial " ./usr/share/doc/libpam-soundcloud/examples/soundcloud-auth.map"
	for p in $(packages); do
		run dpkg-deb -c "$(deb_of "$p")"
		refute_output --partial ' ./etc/'
		refute_output --partial ' ./lib/'
		dpkg-deb -e "$(deb_of "$p")" "$BATS_TEST_TMPDIR/$p"
		[ ! -e "$BATS_TEST_TMPDIR/$p/conffiles" ]
		run cat "$BATS_TEST_TMPDIR/$p"/*
		refute_output --partial 'pam-auth-update'
		refute_output --partial '/etc/pam.d'
	done
}

@test "libraries loaded at run time are Recommends or Suggests, never Depends" {
	local p loaded
	for p in $(packages); do
		loaded='libcurl|libssl|libjson-c|libkeyutils|libpq|libsecret|libqrencode'
		# The relay links libpq (it is nothing without its database): shlibs names it.
		[ "$p" != soundcloud-auth-relay ] ||
			loaded='libcurl|libssl|libjson-c|libkeyutils|libsecret|libqrencode'
		run dpkg-deb -f "$(deb_of "$p")" Depends
		refute_output --regexp "$loaded"
	done
	if [ -d "$TOP/relay" ]; then
		run dpkg-deb -f "$(deb_of soundcloud-auth-relay)" Depends
		assert_output --partial 'libpq5'
	fi
	run dpkg-deb -f "$(deb_of git-credential-soundcloud)" Recommends Suggests
	assert_output --partial 'libcurl4'
	assert_output --partial 'libjson-c5'
	assert_output --partial 'libkeyutils1'
	assert_output --partial 'libpq5'
	assert_output --partial 'libsecret-1-0'
	# The linked ones come from shlibs.
	run dpkg-deb -f "$(deb_of git-credential-soundcloud)" Depends
	assert_output --partial 'libc6'
}

@test "a program builds against libscauth-dev's header and pkg-config file and links libscauth.so.1" {
	local root=$BATS_TEST_TMPDIR/root multiarch
	multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
	dpkg-deb -x "$(deb_of libscauth-dev)" "$root"
	dpkg-deb -x "$(deb_of libscauth1)" "$root"
	[ -f "$root/usr/share/doc/libscauth-dev/examples/token.c" ]
	[ -f "$root/usr/lib/$multiarch/libscauth.a" ]
	export PKG_CONFIG_SYSROOT_DIR=$root PKG_CONFIG_PATH=$root/usr/lib/$multiarch/pkgconfig
	run pkg-config --modversion libscauth
	assert_output "$(dpkg-deb -f "$(deb_of libscauth1)" Version)"
	# shellcheck disable=SC2046
	cc -o "$BATS_TEST_TMPDIR/token" "$root/usr/share/doc/libscauth-dev/examples/token.c" \
		$(pkg-config --cflags --libs libscauth)
	run readelf -d "$BATS_TEST_TMPDIR/token"
	assert_output --partial '[libscauth.so.1]'
	run readelf -d "$root/usr/lib/$multiarch/libscauth.so.1"
	assert_output --partial 'Library soname: [libscauth.so.1]'
}
