#!/usr/bin/env bats
# git-credential.bats - git-credential-soundcloud as git's credential helper: real
# `git credential fill|approve|reject` with the helper configured, and the protocol spoken
# directly for what git itself would never send (hostile requests, capabilities and
# operations of a newer git).
# Tokens are only ever compared inside the shell, never printed.

load '../lib/common'
load '../lib/git-credential'

bats_require_minimum_version 1.5.0

setup() { gc_setup; }

# The stored user grant's access or refresh token ("" when there is none).
stored() {
	local f="$XDG_STATE_HOME/soundcloud-auth/default.user"
	[ -f "$f" ] || return 0
	awk -v k="$1" '$1 == k { print $2 }' "$f"
}

# Whether the argument is the stored access token (compared here, never printed).
is_stored_token() {
	[ -n "$1" ] && [ "$1" = "$(stored access_token)" ]
}

# The value of key in the text of a credential answer.
field() {
	sed -n "s/^$1=//p" <<<"$2"
}

# What git sends a helper for our host, plus extra lines.
request() {
	printf 'protocol=https\nhost=%s\n' "$API_HOST"
	local line
	for line in "$@"; do printf '%s\n' "$line"; done
}

# The helper answers git for the sandbox's API host only, as the README says to configure it.
use_helper() {
	git config --global "credential.https://$API_HOST.helper" "$HELPER"
}

# A helper of last resort that answers every host, to see that git moves on to it.
add_fallback_helper() {
	git config --global --add credential.helper \
		'!f() { echo username=fallback; echo password=fallback-pass; }; f'
}

# Asserts an answer that hands out nothing at all.
assert_silent() {
	assert_equal "$status" 0
	[ -z "$output" ] || fail "expected no answer on stdout"
	[ -z "$stderr" ] || fail "expected nothing on stderr, got: $stderr"
}

# Asserts that a request was dropped: no token, a reason on stderr, exit 64.
assert_dropped() {
	assert_equal "$status" 64
	[ -z "$output" ] || fail "a dropped request must not be answered"
	[[ $stderr == *"request dropped"* ]] || fail "no reason given on stderr: $stderr"
	refute_secrets "$stderr"
}

git_at_least() {
	local v
	v=$(git --version | sed -n 's/^git version \([0-9]*\)\.\([0-9]*\).*/\1 \2/p')
	set -- $v "$1" "$2"
	(($1 > $3 || ($1 == $3 && $2 >= $4)))
}

@test "git credential fill hands out the stored token with the permalink as username" {
	sc_login
	use_helper
	run --separate-stderr git credential fill < <(request)
	assert_success
	assert_line "username=test-user"
	assert_line "protocol=https"
	assert_line "host=$API_HOST"
	[ -n "$(stored access_token)" ] || fail "login stored no access token"
	[ "$(field password "$output")" = "$(stored access_token)" ] ||
		fail "fill did not hand out the stored access token"
	if git_at_least 2 41; then
		[ -n "$(field password_expiry_utc "$output")" ] || fail "git dropped the expiry"
	fi
	refute_secrets "$stderr"
	# A cached answer needs no request to the sandbox.
	assert_equal "$(sandbox_stat token.refresh_token)" 0
}

@test "get answers password_expiry_utc as the expiry minus refresh_margin" {
	sc_login
	local before after exp
	before=$(date +%s)
	run --separate-stderr "$HELPER" get < <(request)
	after=$(date +%s)
	assert_success
	exp=$(field password_expiry_utc "$output")
	# Sandbox tokens live 3600 s; the default margin is 300 s.
	((exp >= before + 3300 - 5 && exp <= after + 3300)) || fail "expiry $exp not in range"

	sc_write_config "refresh_margin = 900"
	run --separate-stderr "$HELPER" get < <(request)
	assert_success
	exp=$(field password_expiry_utc "$output")
	((exp >= before + 2700 - 5 && exp <= after + 2700 + 5)) || fail "expiry $exp ignores margin"
}

@test "get with capability[]=authtype also answers authtype=OAuth and credential=" {
	sc_login
	run --separate-stderr "$HELPER" get < <(printf 'capability[]=authtype\n'; request)
	assert_success
	assert_line --index 0 "capability[]=authtype"
	assert_line "authtype=OAuth"
	assert_line "username=test-user"
	is_stored_token "$(field credential "$output")" || fail "credential= is not the token"
	# Older git reads the password: it stays.
	is_stored_token "$(field password "$output")" || fail "password= is not the token"
	refute_secrets "$stderr"
}

@test "get without capability[]=authtype answers no authtype or credential" {
	sc_login
	run --separate-stderr "$HELPER" get < <(request 'capability[]=state')
	assert_success
	refute_line --partial "authtype"
	refute_line --partial "credential="
	assert_line "username=test-user"
}

@test "git credential reject of the current token drops it; the next fill refreshes" {
	sc_login
	use_helper
	local old refresh
	old=$(stored access_token)
	refresh=$(stored refresh_token)
	run --separate-stderr git credential reject < <(request username=test-user "password=$old")
	assert_success
	[ -z "$(stored access_token)" ] || fail "the access token is still stored"
	[ "$(stored refresh_token)" = "$refresh" ] || fail "the refresh token must stay"

	run --separate-stderr git credential fill < <(request)
	assert_success
	[ -n "$(stored access_token)" ] || fail "no new access token stored"
	is_stored_token "$(field password "$output")" || fail "fill is not the new token"
	[ "$(field password "$output")" != "$old" ] || fail "fill handed out the rejected token"
	assert_equal "$(sandbox_stat token.refresh_token)" 1
	refute_secrets "$stderr"
}

@test "erase of a token that is not ours changes nothing" {
	sc_login
	use_helper
	local tok
	tok=$(stored access_token)
	run --separate-stderr git credential reject < <(request username=test-user \
		password=not-ours)
	assert_success
	[ "$(stored access_token)" = "$tok" ] || fail "a foreign token erased ours"
	# Nor does an erase without a password, or one for another host.
	run --separate-stderr "$HELPER" erase < <(request)
	assert_silent
	run --separate-stderr "$HELPER" erase < <(printf 'protocol=https\nhost=github.com\n'
		printf 'password=%s\n' "$tok")
	assert_silent
	[ "$(stored access_token)" = "$tok" ] || fail "erase without our token dropped it"
	run --separate-stderr git credential fill < <(request)
	[ "$(field password "$output")" = "$tok" ] || fail "fill did not keep the token"
	assert_equal "$(sandbox_stat token.refresh_token)" 0
}

@test "erase with credential= of a newer git drops the token too" {
	sc_login
	local tok
	tok=$(stored access_token)
	run --separate-stderr "$HELPER" erase < <(printf 'capability[]=authtype\n'; request \
		"authtype=OAuth" "credential=$tok")
	assert_silent
	[ -z "$(stored access_token)" ] || fail "the access token is still stored"
	[ -n "$(stored refresh_token)" ] || fail "the refresh token must stay"
}

@test "git credential approve of a foreign token is ignored" {
	sc_login
	use_helper
	local before
	before=$(sc_record | sha256sum)
	run --separate-stderr git credential approve < <(request username=mallory \
		password=foreign-token)
	assert_success
	[ -z "$stderr" ] || fail "store said something: $stderr"
	[ "$(sc_record | sha256sum)" = "$before" ] || fail "store changed the stored grant"
	run --separate-stderr git credential fill < <(request)
	assert_line "username=test-user"
	[ "$(field password "$output")" != "foreign-token" ] || fail "the foreign token came back"
}

@test "requests for other hosts or protocols get no answer and no message" {
	sc_login
	local req
	for req in \
		'protocol=https\nhost=github.com\n' \
		'protocol=http\nhost=%s\n' \
		'protocol=https\nhost=127.0.0.1\n' \
		'protocol=https\nhost=127.0.0.1:1\n' \
		'protocol=https\nhost=%s.\n' \
		'protocol=https\nhost=api.soundcloud.com\n' \
		'host=%s\n' \
		'protocol=https\n' \
		'protocol=https\nhost=\n' \
		'protocol=HTTPS\nhost=%s\n'; do
		# shellcheck disable=SC2059
		run --separate-stderr "$HELPER" get < <(printf "$req" "$API_HOST")
		assert_silent
	done
}

@test "git moves on to the next helper for a foreign host, and nothing is said" {
	sc_login
	git config --global credential.helper "$HELPER"
	add_fallback_helper
	run --separate-stderr git credential fill <<<$'protocol=https\nhost=github.com\n'
	assert_success
	assert_line "password=fallback-pass"
	[[ $stderr != *git-credential-soundcloud* ]] || fail "the helper spoke for a foreign host"
}

@test "logged out and nobody to ask: get says nothing and git moves on" {
	run --separate-stderr "$HELPER" get < <(request)
	assert_silent
	# No terminal and no display, even with prompts allowed.
	run --separate-stderr env -u GIT_TERMINAL_PROMPT setsid -w "$HELPER" get < <(request)
	assert_silent
	use_helper
	add_fallback_helper
	run --separate-stderr git credential fill < <(request)
	assert_success
	assert_line "password=fallback-pass"
	refute_output --partial "test-user"
}

@test "logged out with a person at a display: fill runs the login and answers" {
	use_helper
	export GIT_TERMINAL_PROMPT=1 DISPLAY=:99
	run --separate-stderr setsid -w git credential fill < <(request)
	assert_success
	[ -n "$(stored access_token)" ] || fail "the login stored nothing"
	is_stored_token "$(field password "$output")" || fail "fill did not answer the new token"
	assert_line "username=test-user"
	# The authorize URL alone on its own line of stderr.
	grep -qx "https://$API_HOST/authorize?[^ ]*" <<<"$stderr" || fail "no authorize URL line"
	[[ $stderr == *"Logged in as Test User (test-user, soundcloud:users:1001)"* ]]
	refute_secrets "$stderr"
	assert_equal "$(sandbox_stat token.authorization_code)" 1
}

@test "a request for another username gets no answer" {
	sc_login
	run --separate-stderr "$HELPER" get < <(request "username=someone-else")
	assert_silent
	run --separate-stderr "$HELPER" get < <(request "username=test-user")
	assert_success
	assert_line "username=test-user"
	run --separate-stderr "$HELPER" get < <(request "username=oauth")
	assert_success
	assert_line --partial "password="
}

@test "the request ends at the blank line, without waiting for end of file" {
	sc_login
	local fifo="$BATS_TEST_TMPDIR/stdin"
	mkfifo "$fifo"
	# Held open read-write by this shell: the helper never sees end of file.
	exec 5<>"$fifo"
	printf 'protocol=https\nhost=%s\n\nhost=evil.example\n' "$API_HOST" >&5
	run --separate-stderr timeout 20 "$HELPER" get <&5
	exec 5>&-
	assert_success
	assert_line "username=test-user"
}

@test "the last line may lack its newline" {
	sc_login
	run --separate-stderr "$HELPER" get < <(printf 'protocol=https\nhost=%s' "$API_HOST")
	assert_success
	assert_line "username=test-user"
}

@test "a line of 65535 bytes with its newline is read, one byte more drops the request" {
	sc_login
	local in="$BATS_TEST_TMPDIR/req" pad
	pad=$(head -c $((65535 - 6)) /dev/zero | tr '\0' a)
	{ request; printf 'path=%s\n' "$pad"; } >"$in"
	run --separate-stderr "$HELPER" get <"$in"
	assert_success
	assert_line "username=test-user"
	{ request; printf 'path=%sa\n' "$pad"; } >"$in"
	run --separate-stderr "$HELPER" get <"$in"
	assert_dropped
	[[ $stderr == *65535* ]]
}

@test "a 200 KB line drops the request; said only when our host was named before it" {
	sc_login
	local in="$BATS_TEST_TMPDIR/req"
	{ request; printf 'x-unknown='; head -c 204800 /dev/zero | tr '\0' x; } >"$in"
	run --separate-stderr timeout 20 "$HELPER" get <"$in"
	assert_dropped
	{ request; printf 'wwwauth[]='; head -c 204800 /dev/zero | tr '\0' x; printf '\n'; } >"$in"
	run --separate-stderr timeout 20 "$HELPER" get <"$in"
	assert_dropped
	# Nothing read names our host: the reader gives up at the long line, before the host.
	{ printf 'wwwauth[]='; head -c 204800 /dev/zero | tr '\0' x; printf '\n'; request; } >"$in"
	run --separate-stderr timeout 20 "$HELPER" get <"$in"
	assert_silent
}

@test "a foreign server's huge header does not make the helper speak for its host" {
	sc_login
	local in="$BATS_TEST_TMPDIR/req" tok
	tok=$(stored access_token)
	# What git passes on from a server that sent a WWW-Authenticate header of 80 KB.
	{
		printf 'capability[]=authtype\nprotocol=https\nhost=evil.example\n'
		printf 'wwwauth[]=Bearer realm="'; head -c 81920 /dev/zero | tr '\0' x; printf '"\n'
	} >"$in"
	run --separate-stderr timeout 20 "$HELPER" get <"$in"
	assert_silent
	run --separate-stderr timeout 20 "$HELPER" store < <(cat "$in"; printf 'password=x\n')
	assert_silent
	# The same for a request with our host but another protocol, or our host only later.
	sed 's/^protocol=https$/protocol=http/; s/^host=evil.example$/host='"$API_HOST"'/' "$in" \
		>"$in.http"
	run --separate-stderr timeout 20 "$HELPER" get <"$in.http"
	assert_silent
	run --separate-stderr timeout 20 "$HELPER" get < <(cat "$in"; request)
	assert_silent
	# Our host with the same header: dropped and said, and still no token.
	sed 's/^host=evil.example$/host='"$API_HOST"'/' "$in" >"$in.ours"
	run --separate-stderr timeout 20 "$HELPER" get <"$in.ours"
	assert_dropped
	[[ $output != *"$tok"* ]] || fail "a dropped request got the token"
}

@test "a dropped request for the default host reports, also with a broken configuration" {
	sc_login
	sc_write_config "timeout = not-a-number"
	# Host names ignore case, here too.
	run --separate-stderr "$HELPER" get < <(printf 'protocol=https\nhost=API.SoundCloud.com\n'
		printf 'host=evil.example\n')
	assert_dropped
	run --separate-stderr "$HELPER" get < <(printf 'protocol=https\nhost=github.com\n'
		printf 'host=evil.example\n')
	assert_silent
}

@test "50,000 lines: unknown keys are skipped, too many values or repeats drop it" {
	sc_login
	local in="$BATS_TEST_TMPDIR/req"
	{ yes 'x-noise=1' | head -n 50000; request; } >"$in"
	run --separate-stderr timeout 20 "$HELPER" get <"$in"
	assert_success
	assert_line "username=test-user"
	{ request; yes 'capability[]=authtype' | head -n 50000; } >"$in"
	run --separate-stderr timeout 20 "$HELPER" get <"$in"
	assert_dropped
	{ printf 'protocol=https\n'; yes "host=$API_HOST" | head -n 50000; } >"$in"
	run --separate-stderr timeout 20 "$HELPER" get <"$in"
	assert_dropped
	# Past 1 MiB the reader stops before protocol= comes: nothing says this was ours.
	{ yes "host=$API_HOST" | head -n 50000; printf 'protocol=https\n'; } >"$in"
	run --separate-stderr timeout 20 "$HELPER" get <"$in"
	assert_silent
}

@test "a second host= line drops the request, whichever host comes first" {
	sc_login
	run --separate-stderr "$HELPER" get < <(request "host=evil.example")
	assert_dropped
	run --separate-stderr "$HELPER" get < <(printf 'protocol=https\nhost=evil.example\n'
		printf 'host=%s\n' "$API_HOST")
	assert_dropped
	run --separate-stderr "$HELPER" get < <(request "protocol=https")
	assert_dropped
}

@test "NUL or CR in a line drops the request" {
	sc_login
	run --separate-stderr "$HELPER" get < <(printf 'protocol=https\nhost=%s\0ev\n' "$API_HOST")
	assert_dropped
	run --separate-stderr "$HELPER" get < <(printf 'protocol=https\nhost=%s\r\n' "$API_HOST")
	assert_dropped
	run --separate-stderr "$HELPER" get < <(request $'path=a\rhost=evil')
	assert_dropped
	run --separate-stderr "$HELPER" get < <(request "no equals sign")
	assert_dropped
}

@test "binary input never crashes the helper or hands out a token" {
	sc_login
	local in="$BATS_TEST_TMPDIR/req" i tok
	tok=$(stored access_token)
	# Every byte value after a valid start: the NUL drops it.
	{ request; printf "$(printf '\\%03o' $(seq 0 255))"; } >"$in"
	run --separate-stderr "$HELPER" get <"$in"
	assert_dropped
	# Random noise: whatever it parses to, no crash and never a token for it.
	for i in 1 2 3 4 5; do
		head -c 65536 /dev/urandom >"$in"
		run --separate-stderr timeout 20 "$HELPER" get <"$in"
		((status == 0 || status == 64)) || fail "status $status on noise"
		[[ $output != *"$tok"* ]] || fail "noise got the token"
	done
	# Store and erase read the same way.
	run --separate-stderr "$HELPER" store < <(request "host=evil.example")
	assert_dropped
	run --separate-stderr "$HELPER" erase < <(request "password=$tok" "password=$tok")
	assert_dropped
	[ "$(stored access_token)" = "$tok" ] || fail "a dropped erase erased"
}

@test "store and erase read the request and stay silent" {
	sc_login
	run --separate-stderr "$HELPER" store < <(request username=test-user \
		"password=$(stored access_token)")
	assert_silent
	run --separate-stderr "$HELPER" get extra-argument < <(request)
	assert_equal "$status" 64
	[ -z "$output" ]
}

@test "an operation of a future git is ignored: nothing read, nothing said, exit 0" {
	sc_login
	local in="$BATS_TEST_TMPDIR/req" rest="$BATS_TEST_TMPDIR/rest" op
	request >"$in"
	for op in capability frobnicate "--profile work frobnicate"; do
		# The file's offset is shared: cat gets whatever the helper left unread.
		# shellcheck disable=SC2086
		{
			"$HELPER" $op >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err"
			echo $? >"$BATS_TEST_TMPDIR/status"
			cat >"$rest"
		} <"$in"
		assert_equal "$(cat "$BATS_TEST_TMPDIR/status")" 0
		[ ! -s "$BATS_TEST_TMPDIR/out" ] || fail "$op: answered on stdout"
		[ ! -s "$BATS_TEST_TMPDIR/err" ] || fail "$op: said $(cat "$BATS_TEST_TMPDIR/err")"
		cmp -s "$in" "$rest" || fail "$op: read from stdin"
	done
	# git with the helper configured still gets its answer after such a call.
	use_helper
	run --separate-stderr git credential fill < <(request)
	assert_success
	assert_line "username=test-user"
}

@test "an unknown command is a usage error at a terminal, and for what git never sends" {
	run --separate-stderr script -qec "$HELPER frobnicate" /dev/null </dev/null
	assert_equal "$status" 64
	[[ $output == *"unknown command 'frobnicate'"* ]] || fail "no usage error: $output"
	local op
	for op in Frobnicate get2 "get-all" ""; do
		run --separate-stderr "$HELPER" "$op" < <(request)
		assert_equal "$status" 64
		[ -z "$output" ] || fail "'$op' answered on stdout"
		[[ $stderr == *"--help"* ]] || fail "'$op': no usage error"
	done
	# A known verb's bad option stays an error with stdin not a terminal.
	run --separate-stderr "$HELPER" erase --bogus < <(request)
	assert_equal "$status" 64
}

@test "GIT_TERMINAL_PROMPT is read as git reads it: empty and 00 say no" {
	use_helper
	add_fallback_helper
	export DISPLAY=:99
	local v
	for v in "" 00 0 false OFF No 0x0 0k maybe; do
		run --separate-stderr env GIT_TERMINAL_PROMPT="$v" setsid -w git credential fill \
			< <(request)
		assert_success
		assert_line "password=fallback-pass"
		[[ $stderr != *authorize* ]] || fail "GIT_TERMINAL_PROMPT='$v' started a login"
	done
	assert_equal "$(sandbox_stat token.authorization_code)" 0
	[ -z "$(stored access_token)" ] || fail "a login was stored"
	for v in 1 ON Yes true 2k -1; do
		run --separate-stderr env GIT_TERMINAL_PROMPT="$v" setsid -w "$HELPER" get < <(request)
		assert_success
		is_stored_token "$(field password "$output")" ||
			fail "GIT_TERMINAL_PROMPT='$v' did not log in"
		rm "$XDG_STATE_HOME/soundcloud-auth/default.user"
	done
	assert_equal "$(sandbox_stat token.authorization_code)" 6
}

@test "password_expiry_utc is when the library renews: the default margin, at most half the life" {
	sandbox_ctl POST ttl '{"seconds":400}' >/dev/null
	sc_login
	local expires obtained life
	expires=$(stored expires_at)
	obtained=$(stored obtained_at)
	life=$((expires - obtained))
	((life >= 399 && life <= 401)) || fail "the token lives $life s, not 400"
	# The default margin, 300 s, is more than half of that: the token is due at half its life.
	run --separate-stderr "$HELPER" get < <(request)
	assert_success
	assert_equal "$(field password_expiry_utc "$output")" $((expires - life / 2))
	run "$HELPER" status --json
	assert_equal "$(json_get user.access_token <<<"$output")" valid
	# A margin set on purpose is taken as given.
	sc_write_config "refresh_margin = 60"
	run --separate-stderr "$HELPER" get < <(request)
	assert_success
	assert_equal "$(field password_expiry_utc "$output")" $((expires - 60))
	SOUNDCLOUD_AUTH_REFRESH_MARGIN=300 run --separate-stderr "$HELPER" get < <(request)
	assert_success
	assert_equal "$(field password_expiry_utc "$output")" $((expires - 300))
	assert_equal "$(sandbox_stat token.refresh_token)" 0
}

@test "a broken configuration is reported for our host only" {
	sc_login
	sc_write_config "timeout = not-a-number"
	run --separate-stderr "$HELPER" get <<<$'protocol=https\nhost=github.com\n'
	assert_silent
	# With api_url unreadable the default API host is ours.
	run --separate-stderr "$HELPER" get <<<$'protocol=https\nhost=api.soundcloud.com\n'
	assert_equal "$status" 78
	[ -z "$output" ]
	[[ $stderr == *timeout* ]] || fail "the error does not say what is wrong: $stderr"
}
