#!/usr/bin/env bats
# git-transport.bats - the helper under the installed git itself: what `git credential fill`
# passes on of password_expiry_utc (git 2.41+) and of capability[]=authtype (git 2.46+), and
# git's own HTTPS transport (git ls-remote) against the sandbox's repository, which lets in
# `Authorization: OAuth <token>` only.  Each test asserts what the installed git does, and says
# so in its name: a git that knows the field passes it on and sends the OAuth scheme; an older
# one drops the field and cannot get in, and the stored grant survives what it does then.  CI
# runs the suite with both (Debian 12 has git 2.39, Debian 13 git 2.47).
# Tokens are only ever compared inside the shell, never printed.

load '../lib/common'

bats_require_minimum_version 1.5.0

setup_file() {
	sc_setup_file
	echo "# $(git --version)" >&3
}
teardown_file() { sc_teardown_file; }

setup() {
	sc_setup
	API_HOST="127.0.0.1:$SANDBOX_PORT"
	REPO_URL="$SANDBOX_URL/git/demo.git"
	# The ref the sandbox's repository advertises (tests/sandbox/server.js).
	REPO_HEAD=5ca1ab1e0000000000000000000000000000c0de
	git config --global "credential.https://$API_HOST.helper" "$HELPER"
	# git trusts the sandbox's CA for this test alone; a CA from the environment would win.
	unset GIT_SSL_CAINFO GIT_SSL_CAPATH
	git config --global http.sslCAInfo "$SANDBOX_CA"
}

git_at_least() {
	local v
	v=$(git --version | sed -n 's/^git version \([0-9]*\)\.\([0-9]*\).*/\1 \2/p')
	# shellcheck disable=SC2086 # two numbers
	set -- $v "$1" "$2"
	(($1 > $3 || ($1 == $3 && $2 >= $4)))
}

# What git sends a helper for the sandbox's host.
request() {
	printf 'protocol=https\nhost=%s\n' "$API_HOST"
}

field() {
	sed -n "s/^$1=//p" <<<"$2"
}

stored() {
	awk -v k="$1" '$1 == k { print $2 }' "$XDG_STATE_HOME/soundcloud-auth/default.user" 2>/dev/null
}

is_stored_token() {
	[ -n "$1" ] && [ "$1" = "$(stored access_token)" ]
}

@test "git credential fill: git 2.41+ passes on password_expiry_utc, an older git drops it" {
	sc_login
	local own
	run --separate-stderr "$HELPER" get < <(request)
	assert_success
	own=$(field password_expiry_utc "$output")
	[[ $own =~ ^[0-9]+$ ]] || fail "the helper answered no password_expiry_utc"

	run --separate-stderr git credential fill < <(request)
	assert_success
	is_stored_token "$(field password "$output")" || fail "fill did not hand out the stored token"
	if git_at_least 2 41; then
		assert_equal "$(field password_expiry_utc "$output")" "$own"
	else
		[[ -z $(field password_expiry_utc "$output") ]] ||
			fail "a git before 2.41 passed on password_expiry_utc"
	fi
	refute_secrets "$stderr"
}

@test "git credential fill with capability[]=authtype: git 2.46+ gets authtype=OAuth and credential=, an older git username and password only" {
	sc_login
	run --separate-stderr git credential fill < <(printf 'capability[]=authtype\n'; request)
	assert_success
	if git_at_least 2 46; then
		assert_line "capability[]=authtype"
		assert_line "authtype=OAuth"
		is_stored_token "$(field credential "$output")" || fail "credential= is not the stored token"
	else
		refute_line --partial "authtype"
		refute_line --partial "credential="
		assert_line "username=test-user"
		is_stored_token "$(field password "$output")" || fail "password= is not the stored token"
	fi
	refute_secrets "$stderr"
}

@test "git ls-remote over HTTPS: git 2.46+ gets in with Authorization: OAuth from the helper; an older git is refused and keeps the refresh token" {
	sc_login
	local refresh
	refresh=$(stored refresh_token)
	run --separate-stderr git ls-remote "$REPO_URL"
	refute_secrets "$output$stderr"
	if git_at_least 2 46; then
		assert_success
		assert_line "$REPO_HEAD	refs/heads/main"
		(($(sandbox_stat git.auth.oauth) >= 1)) || fail "git sent no OAuth authorization"
		(($(sandbox_stat git.authorized) >= 1)) || fail "the sandbox let no request in"
		# The token was the stored one, fresh: nothing was refreshed or rejected.
		assert_equal "$(sandbox_stat token.refresh_token)" 0
		[ -n "$(stored access_token)" ] || fail "git rejected the token"
	else
		assert_failure
		[[ $stderr == *"Authentication failed"* ]] || fail "git said: $stderr"
		assert_equal "$(sandbox_stat git.auth.oauth)" 0
		assert_equal "$(sandbox_stat git.authorized)" 0
		# What git did with the refusal (a reject, at most) kept the login.
		[ "$(stored refresh_token)" = "$refresh" ] || fail "the refresh token was lost"
		run --separate-stderr git credential fill < <(request)
		assert_success
		is_stored_token "$(field password "$output")" || fail "no token after git's reject"
	fi
	assert_equal "$(sandbox_stat git.auth.basic)" 0
}
