#!/usr/bin/env bats
# pam_soundcloud.so under OpenSSH's sshd, end to end: a private sshd on 127.0.0.1 (its own
# config, host key and PAM service, tests/lib/sshd.bash), the real ssh client answering the
# keyboard-interactive prompt as a person would (opening the URL, then Enter), against the
# sandbox.  sshd runs auth and account in its auth child and the session in another process:
# the session's tools must still get the token, and the logout must sign it out.

load '../lib/common'
load '../lib/pam'
load '../lib/sshd'

setup_file() {
	local why
	why=$(sshd_skip_reason)
	if [[ -n $why ]]; then
		export SSHD_SKIP=$why
		return 0
	fi
	sc_setup_file
	pam_suite_setup
}

teardown_file() {
	[[ -n ${SSHD_SKIP:-} ]] && return 0
	pam_suite_teardown
	sc_teardown_file
}

setup() {
	[[ -z ${SSHD_SKIP:-} ]] || skip "$SSHD_SKIP"
	sc_isolate
	sandbox_reset
	pam_setup
}

teardown() {
	[[ -n ${SSHD_SKIP:-} ]] && return 0
	sshd_stop
	refute_pam_secrets "$(cat "$PAM_LOG" 2>/dev/null)"
}

# The kiosk stack of examples/pam.d/soundcloud-kiosk, as sshd would use it.
kiosk_sshd() {
	sshd_start \
		"auth     required MODULE $PAM_ARGS map=$PAM_MAP mode=listen timeout=30" \
		"account  required MODULE $PAM_ARGS map=$PAM_MAP" \
		"session  required MODULE $PAM_ARGS wipe"
}

# What the session's tools see: a token from the helper, as its hash (never the token itself).
SESSION_CMD='t=$("$KIOSK_HELPER" token) && [ -n "$t" ] && printf "token-sha256 %s\n" "$(printf %s "$t" | sha256sum | cut -c1-64)"'

signed_out_once() { [[ $(sandbox_stat signout) == 1 ]]; }

@test "sshd: keyboard-interactive login, the session's tools get the token, logout signs it out" {
	kiosk_sshd
	local t0=$SECONDS cmd
	cmd="KIOSK_HELPER='$KIOSK_HELPER'; $SESSION_CMD"
	run sshd_login "$cmd"
	assert_success
	refute_pam_secrets "$output"
	# The person saw one prompt: sshd puts the module's message (the URL, what to do, the time
	# left) in front of its short prompt; the person opened the URL.
	grep -q "Press Enter here after logging in (waiting up to 30 s)." "$SSHD_DIR/prompts" ||
		fail "no message with the wait: $(cat "$SSHD_DIR/prompts")"
	grep -q "Press Enter after logging in: " "$SSHD_DIR/prompts" ||
		fail "no prompt: $(cat "$SSHD_DIR/prompts")"
	grep -q "browser done" "$SSHD_DIR/person.log" ||
		fail "the browser: $(cat "$SSHD_DIR/person.log" "$SSHD_DIR/prompts")"
	# What the person reads fits an 80x24 terminal (ssh adds "(user@host) " before it).
	(($(wc -c <"$SSHD_DIR/prompts") <= 1000)) || fail "the prompt is over 1000 bytes"
	(($(wc -l <"$SSHD_DIR/prompts") <= 24)) || fail "the prompt is over 24 lines"
	(($(sed 1d "$SSHD_DIR/prompts" | awk '{ if (length($0) > n) n = length($0) } END { print n + 0 }') <= 80)) ||
		fail "a line of the prompt is over 80 columns"
	# The session (another process than auth and account) got the login: the helper's token.
	[[ $output =~ token-sha256\ [0-9a-f]{64} ]] || fail "the session's tools got no token: $output"
	assert_equal "$(sandbox_stat token.authorization_code)" 1
	# The logout (session close with wipe, in sshd after the client left) signs it out.
	wait_until signed_out_once || fail "no sign-out at logout: $(sandbox_stat signout)"
	[[ ! -e $(kiosk_store) ]] || fail "a token is left in the user's store"
	! compgen -G "$PAM_STAGE/*.user" >/dev/null || fail "a login is left in the stage"
	assert_equal "$(sandbox_live_grants)" 0
	echo "# sshd login to logout: $((SECONDS - t0)) s" >&3
}

@test "sshd: an identity the map refuses gets no session, and its grant is signed out" {
	pam_map "soundcloud:users:999 $KIOSK_USER"
	kiosk_sshd
	run sshd_login "echo in-session"
	assert_failure
	refute_output --partial "in-session"
	assert_equal "$(sandbox_stat token.authorization_code)" 1
	wait_until signed_out_once || fail "the refused login was not signed out"
	assert_equal "$(sandbox_live_grants)" 0
	[[ ! -e $(kiosk_store) ]] || fail "a refused login reached the store"
}
