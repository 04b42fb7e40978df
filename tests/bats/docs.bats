#!/usr/bin/env bats
# The documentation names files of this tree (examples, man pages): each must exist, and the
# example PAM service must be the one pam_soundcloud(8) shows.

load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

TOP=$(cd "$(dirname "$BATS_TEST_FILENAME")/.." && cd .. && pwd)

# Paths of the tree named in README.md and the man pages: Markdown link targets and
# `code` spans in the README, italic paths in the man pages (with roff's \- undone).
named_paths() {
	{
		grep -oE '\]\([^)#: ]+\)' "$TOP/README.md" | sed 's/^](//; s/)$//'
		grep -oE '`(doc|examples|lib|pam|git-credential|tests|scripts)/[^` ]*`' \
			"$TOP/README.md" | tr -d '`'
		sed 's/\\-/-/g' "$TOP"/doc/*.[158] |
			grep -oE '(^|[ (])(doc|examples|tests|scripts)/[A-Za-z0-9._/-]*' |
			sed 's/^[ (]//'
	} | sed 's/[.,;:]$//' | sort -u
}

@test "every file and directory the docs name exists" {
	local p missing=() n=0
	while read -r p; do
		[[ -n $p ]] || continue
		n=$((n + 1))
		[[ -e $TOP/$p ]] || missing+=("$p")
	done < <(named_paths)
	[[ $n -ge 3 ]] || fail "found only $n paths in the docs: the extraction is broken"
	[[ ${#missing[@]} -eq 0 ]] || fail "named in the docs but missing: ${missing[*]}"
}

@test "the docs name the example PAM service, and it is the one pam_soundcloud(8) shows" {
	named_paths | grep -qx 'examples/pam.d/soundcloud-kiosk' ||
		fail "README no longer names examples/pam.d/soundcloud-kiosk"
	local want have
	# The EXAMPLES block of the man page: the lines between .RS and .RE after the file's name.
	want=$(sed -n '/^\.SH EXAMPLES/,/^\.RE/p' "$TOP/doc/pam_soundcloud.8" |
		sed -n '/^\.RS/,/^\.RE/p' | grep -v '^\.' | sed 's/\\-/-/g')
	have=$(grep -vE '^[[:space:]]*(#|$)' "$TOP/examples/pam.d/soundcloud-kiosk")
	[[ -n $want ]] || fail "no example in pam_soundcloud(8)"
	assert_equal "$have" "$want"
}
