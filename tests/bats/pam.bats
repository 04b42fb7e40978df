#!/usr/bin/env bats
# pam_soundcloud.so end to end: pamtester under pam_wrapper drives the module against the
# sandbox, as a kiosk's login program would.  As root the kiosk user is a real second user, so
# the module's switch to that user is real; without root nss_wrapper stands in (tests/lib/pam).
#
# Secrets never go through assert_output/assert_equal (they print both sides on failure):
# tokens are compared with plain [ ] tests, and every output and log is checked for them.

load '../lib/common'
load '../lib/pam'

setup_file() {
	sc_setup_file
	pam_suite_setup
}

teardown_file() {
	pam_suite_teardown
	sc_teardown_file
}

setup() {
	sc_isolate
	sandbox_reset
	pam_setup
}

teardown() {
	if [[ -n ${PAM_BG_PID:-} ]]; then
		kill "$PAM_BG_PID" 2>/dev/null
		wait "$PAM_BG_PID" 2>/dev/null
	fi
	if [[ -n ${PAM_BG_FD:-} ]]; then
		exec {PAM_BG_FD}>&-
	fi
	# Whatever a test did, no secret may have reached the module's log.
	refute_pam_secrets "$(cat "$PAM_LOG" 2>/dev/null)"
}

# The usual kiosk stack; extra arguments are added to the auth line.
kiosk_service() {
	pam_service kiosk \
		"auth required MODULE $PAM_ARGS map=$PAM_MAP $*" \
		"account required MODULE $PAM_ARGS map=$PAM_MAP" \
		"session required MODULE $PAM_ARGS wipe"
}

# kiosk_paste_start OPS...: pamtester in paste mode in the background, the prompt answered
# with the real redirect; pam_finish collects it.
kiosk_paste_start() {
	local url loc
	pam_start kiosk "$KIOSK_USER" "$@"
	url=$(pam_wait_url) || return 1
	loc=$(pam_redirect_for "$url") || return 1
	[[ $loc == "$REDIRECT_URI?"* ]] || { echo "no redirect from the sandbox" >&2; return 1; }
	pam_answer "$loc"
}

# kiosk_paste OPS...: the same, waited for.
kiosk_paste() {
	kiosk_paste_start "$@" || return 1
	pam_finish
}

# kiosk_listen OPS...: pamtester in listen mode, with the scripted browser; Enter at the prompt
# once the browser is off (its redirect waits in the listener's queue until then).
kiosk_listen() {
	local url
	pam_start kiosk "$KIOSK_USER" "$@"
	url=$(pam_wait_url) || return 1
	pam_browser "$url" &
	pam_answer ""
	wait $! || return 1
	pam_finish
}

stage_file() {
	printf '%s\n' "$PAM_STAGE/uid-$KIOSK_UID.user"
}

@test "paste mode: authenticate, account and session open hand the tokens to the user" {
	kiosk_service mode=paste
	kiosk_paste authenticate acct_mgmt open_session
	assert_success
	assert_output --partial "Log in to SoundCloud on this or another device:"
	[[ $(screen_url <<<"$output") == "$SANDBOX_URL/authorize?"* ]] || fail "no URL on the screen"
	assert_output --partial "successfully authenticated"
	assert_output --partial "account management done"
	assert_output --partial "successfully opened a session"
	assert_kiosk_store
	refute_pam_secrets "$output"
	# The user's own tool finds the token in the session's store.
	local token stored
	token=$(as_kiosk "$KIOSK_HELPER" token) || fail "git-credential-soundcloud token failed"
	stored=$(awk '$1 == "access_token" { print $2 }' "$(kiosk_store)")
	[[ -n $token && $token == "$stored" ]] || fail "the helper did not give the stored token"
	assert_equal "$(sandbox_stat token.authorization_code)" 1
	assert_equal "$(sandbox_stat me)" 1
	# The stage was taken.
	[[ ! -e $(stage_file) ]] || fail "the stage is still there"
	grep -q "logged in as $KIOSK_USER" "$PAM_LOG" || fail "no log line of the login"
}

# A TCP listener on a free port that notes every connection in $1 (a would-be proxy).
start_trap_listener() {
	local port
	port=$(free_port)
	node -e 'const fs = require("fs");
		require("net").createServer(s => { fs.appendFileSync(process.argv[2], "hit\n");
			s.destroy(); }).listen(+process.argv[1], "127.0.0.1",
			() => fs.appendFileSync(process.argv[2], ""))' "$port" "$1" 3>&- &
	TRAP_PID=$!
	local i
	for ((i = 0; i < 200; i++)); do
		[[ -e $1 ]] && break
		sleep 0.05
	done
	[[ -e $1 ]] || fail "the trap listener did not start"
	TRAP_PORT=$port
}

@test "the caller's SSLKEYLOGFILE, proxies, CURL_* and OpenSSL variables do not reach libcurl" {
	kiosk_service mode=paste
	local keylog=$BATS_TEST_TMPDIR/keylog hits=$BATS_TEST_TMPDIR/proxy-hits
	start_trap_listener "$hits"
	# What a user who runs su could set: root would append TLS secrets to any file named.
	# Only pamtester gets them: the test's own curl must not write the key log either.
	local vars=(SSLKEYLOGFILE="$keylog"
		http_proxy="http://127.0.0.1:$TRAP_PORT" https_proxy="http://127.0.0.1:$TRAP_PORT"
		HTTPS_PROXY="http://127.0.0.1:$TRAP_PORT" ALL_PROXY="http://127.0.0.1:$TRAP_PORT"
		all_proxy="socks5://127.0.0.1:$TRAP_PORT" NO_PROXY= no_proxy=
		CURL_CA_BUNDLE=/nonexistent SSL_CERT_FILE=/nonexistent SSL_CERT_DIR=/nonexistent
		OPENSSL_CONF="$BATS_TEST_TMPDIR/openssl.cnf")
	# A configuration that leaves OpenSSL only the null provider: read, no digest would work.
	printf '%s\n' 'openssl_conf = conf' '[conf]' 'providers = provs' '[provs]' \
		'null = null_sect' '[null_sect]' 'activate = 1' >"$BATS_TEST_TMPDIR/openssl.cnf"
	local url loc
	export "${vars[@]}"
	pam_start kiosk "$KIOSK_USER" authenticate
	unset "${vars[@]%%=*}"
	url=$(pam_wait_url)
	loc=$(pam_redirect_for "$url")
	pam_answer "$loc"
	pam_finish
	kill "$TRAP_PID"
	wait "$TRAP_PID" 2>/dev/null || true
	assert_success
	assert_output --partial "successfully authenticated"
	assert_equal "$(sandbox_stat token.authorization_code)" 1
	[[ ! -e $keylog ]] || fail "libcurl wrote TLS secrets to the caller's SSLKEYLOGFILE"
	[[ ! -s $hits ]] || fail "the caller's proxy was contacted"
}

@test "paste mode shows the URL in the prompt too, for programs that show only prompts" {
	kiosk_service mode=paste
	kiosk_paste authenticate
	assert_success
	[[ $(screen_url <<<"$output") == "$SANDBOX_URL/authorize?"* ]] || fail "no URL in the prompt"
	assert_output --partial "Then paste the address you are sent to (or the code)."
	assert_output --partial "Paste the address or code: "
}

@test "close_session with wipe signs out at the server and empties the user's store" {
	kiosk_service mode=paste
	kiosk_paste authenticate open_session close_session
	assert_success
	assert_output --partial "session has successfully been closed"
	[[ ! -e $(kiosk_store) ]] || fail "the user's tokens survived the session"
	assert_equal "$(sandbox_stat signout)" 1
	grep -q "signed out and erased" "$PAM_LOG" || fail "no log line of the wipe"
	refute_pam_secrets "$output"
}

@test "close_session without wipe keeps the user's tokens" {
	pam_service kiosk \
		"auth required MODULE $PAM_ARGS map=$PAM_MAP mode=paste" \
		"session required MODULE $PAM_ARGS"
	kiosk_paste authenticate open_session close_session
	assert_success
	assert_kiosk_store
	assert_equal "$(sandbox_stat signout)" 0
}

@test "close_session with wipe succeeds and erases locally when the server is down" {
	pam_service kiosk \
		"auth required MODULE $PAM_ARGS map=$PAM_MAP mode=paste" \
		"session required MODULE $PAM_ARGS wipe" \
		"$(pam_hold_line)"
	kiosk_paste_start authenticate open_session close_session
	pam_wait_held
	assert_kiosk_store
	# While the session is open, every endpoint of the config moves to a port where nobody
	# listens.
	local dead
	dead=$(free_port)
	sed -i "s#https://127.0.0.1:$SANDBOX_PORT#https://127.0.0.1:$dead#" "$PAM_CONF"
	pam_release
	pam_finish
	assert_success
	assert_output --partial "session has successfully been closed"
	[[ ! -e $(kiosk_store) ]] || fail "the tokens survived a sign-out that failed"
	grep -q "sign-out at the server failed" "$PAM_LOG" || fail "the failed sign-out: no log"
}

@test "wipe leaves alone what the session did not hand over (a password login's logout)" {
	# The user's own tokens, from a session that kept them.
	pam_service keep \
		"auth required MODULE $PAM_ARGS map=$PAM_MAP mode=paste" \
		"session required MODULE $PAM_ARGS"
	pam_start keep "$KIOSK_USER" authenticate open_session
	local url loc
	url=$(pam_wait_url)
	loc=$(pam_redirect_for "$url")
	pam_answer "$loc"
	pam_finish
	assert_success
	assert_kiosk_store
	# A password login (pam_permit) through a mixed stack with wipe: its logout is not ours.
	local permit
	permit=$(pam_permit)
	pam_service mixed \
		"auth sufficient $permit" "auth required MODULE $PAM_ARGS map=$PAM_MAP" \
		"session required $permit" "session required MODULE $PAM_ARGS wipe"
	run pam_tester mixed "$KIOSK_USER" authenticate open_session close_session </dev/null
	assert_success
	assert_kiosk_store
	assert_equal "$(sandbox_stat signout)" 0
	# Nor is a close in a transaction that opened nothing: ignored (alone, the stack fails).
	pam_service alone "session required MODULE $PAM_ARGS wipe"
	run pam_tester alone "$KIOSK_USER" close_session </dev/null
	assert_failure
	assert_kiosk_store
	assert_equal "$(sandbox_stat signout)" 0
}

@test "store = keyring: the tokens go to the user's kernel keyring, and wipe takes them out" {
	local profile="pamtest-$(random_id | cut -c1-12)" token
	pam_write_config "$PAM_CONF" "store = keyring"
	pam_service kiosk \
		"auth required MODULE $PAM_ARGS map=$PAM_MAP mode=paste profile=$profile" \
		"session required MODULE $PAM_ARGS profile=$profile wipe" \
		"$(pam_hold_line)"
	kiosk_paste_start authenticate open_session close_session
	pam_wait_held
	[[ ! -e $(kiosk_store "$profile") ]] || fail "the keyring store wrote a file"
	as_kiosk sh -c 'printf "store = keyring\n" >>"$HOME/.config/soundcloud-auth/config"'
	token=$(as_kiosk "$KIOSK_HELPER" --profile "$profile" token) || fail "the tool found no token"
	[[ -n $token ]] || fail "empty token"
	pam_release
	pam_finish
	assert_success
	assert_equal "$(sandbox_stat signout)" 1
	run as_kiosk "$KIOSK_HELPER" --profile "$profile" token
	assert_equal "$status" 77
}

@test "listen mode: the browser's redirect completes the login" {
	kiosk_service mode=listen timeout=30
	kiosk_listen authenticate acct_mgmt open_session
	assert_success
	assert_output --partial "successfully opened a session"
	refute_output --partial "paste the address"
	assert_kiosk_store
}

@test "listen mode: a request with a forged state is refused, the real redirect still works" {
	kiosk_service mode=listen timeout=30
	pam_start kiosk "$KIOSK_USER" authenticate
	local url code i
	url=$(pam_wait_url)
	# Enter before the login is done: the module goes on waiting, and says for how long.
	pam_answer ""
	for ((i = 0; i < 200; i++)); do
		grep -q "Waiting for the SoundCloud login ([0-9]* s left)" "$BATS_TEST_TMPDIR/bg.out" &&
			break
		sleep 0.05
	done
	code=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' \
		"$REDIRECT_URI?code=forged-code&state=forged-state")
	[[ $code == 4* ]] || fail "the listener answered $code to a forged state"
	pam_browser "$url"
	pam_finish
	assert_success
	assert_output --partial "successfully authenticated"
	# Only the real code was exchanged.
	assert_equal "$(sandbox_stat token.authorization_code)" 1
}

@test "listen mode: a taken redirect_uri port fails the login with its address, never a paste" {
	kiosk_service mode=listen timeout=30
	# Someone else holds the port for the life of this test.
	node -e 'require("net").createServer().listen(+process.argv[1], "127.0.0.1",
		() => console.log("LISTENING"))' "$REDIRECT_PORT" \
		>"$BATS_TEST_TMPDIR/holder" 3>&- &
	local holder=$! i
	for ((i = 0; i < 200; i++)); do
		grep -q LISTENING "$BATS_TEST_TMPDIR/holder" && break
		sleep 0.05
	done
	run pam_tester kiosk "$KIOSK_USER" authenticate </dev/null
	kill "$holder"
	assert_failure
	assert_output --partial "$PAM_MSG_AUTHINFO_UNAVAIL"
	assert_output --partial "cannot listen on 127.0.0.1:$REDIRECT_PORT: Address already in use"
	refute_output --partial "paste the address"
	grep -q "cannot listen for the redirect.*127.0.0.1:$REDIRECT_PORT" "$PAM_LOG" ||
		fail "the failure was not logged with the address"
	assert_equal "$(sandbox_stat token.authorization_code)" 0
}

@test "debug logs each HTTP request of the login, and no secret" {
	pam_service kiosk \
		"auth required MODULE $PAM_ARGS map=$PAM_MAP mode=paste debug" \
		"session required MODULE $PAM_ARGS wipe debug" \
		"$(pam_hold_line)"
	kiosk_paste_start authenticate open_session close_session
	pam_wait_held
	assert_kiosk_store     # remembers the tokens, to look for them in the log
	pam_release
	pam_finish
	assert_success
	refute_pam_secrets "$output"
	grep -q "^<7> .*POST $SANDBOX_URL/oauth/token" "$PAM_LOG" || fail "no trace of the code"
	grep -q "^<7> .*GET $SANDBOX_URL/me" "$PAM_LOG" || fail "no trace of /me"
	grep -q "^<7> .*POST $SANDBOX_URL/sign-out" "$PAM_LOG" || fail "no trace of the sign-out"
	# teardown checks the log for the tokens remembered here and the client secret.
	refute_pam_secrets "$(cat "$PAM_LOG")"
}

@test "a login denied at SoundCloud fails with a message" {
	kiosk_service mode=listen timeout=30
	sandbox_fault '{"endpoint":"authorize","kind":"deny"}'
	kiosk_listen authenticate
	assert_failure
	assert_output --partial "$PAM_MSG_AUTH_ERR"
	assert_output --partial "The login was not allowed at SoundCloud."
	assert_equal "$(sandbox_stat token.authorization_code)" 0
}

@test "paste mode: a redirect with a forged state is refused" {
	kiosk_service mode=paste
	pam_start kiosk "$KIOSK_USER" authenticate
	local url loc
	url=$(pam_wait_url)
	loc=$(pam_redirect_for "$url")
	pam_answer "$(sed 's/state=[^&]*/state=forged-state/' <<<"$loc")"
	pam_finish
	assert_failure
	assert_output --partial "$PAM_MSG_AUTH_ERR"
	assert_output --partial "That address does not belong to this login."
	assert_equal "$(sandbox_stat token.authorization_code)" 0
	[[ ! -e $(stage_file) ]] || fail "a refused login was staged"
}

@test "an identity outside the map is refused with a message, and signed out" {
	pam_map "soundcloud:users:999 $KIOSK_USER" "someone-else $KIOSK_USER"
	kiosk_service mode=paste
	kiosk_paste authenticate
	assert_failure
	assert_output --partial "$PAM_MSG_AUTH_ERR"
	assert_output --partial "This SoundCloud account (test-user) may not log in as $KIOSK_USER"
	[[ ! -e $(stage_file) ]] || fail "a refused login was staged"
	grep -q "soundcloud:users:1001 (test-user) may not log in as $KIOSK_USER" "$PAM_LOG" ||
		fail "the refusal was not logged"
	# Nobody can use it: it is not left live at SoundCloud.
	assert_equal "$(sandbox_stat signout)" 1
	grep -q "signed out the SoundCloud login of $KIOSK_USER (refused by the map)" "$PAM_LOG" ||
		fail "the sign-out was not logged"
	! compgen -G "$PAM_STAGE/*.user" >/dev/null ||
		fail "a login is left in the stage: $(ls -A "$PAM_STAGE")"
	! compgen -G "$PAM_STAGE/void-*" >/dev/null ||
		fail "the sign-out left files in the stage: $(ls -A "$PAM_STAGE")"
}

@test "a permalink from /me is shown and logged escaped, never raw control or direction bytes" {
	# C1 CSI (U+009B), RLO (U+202E) and LRI (U+2066): what /me may send in a permalink.
	sandbox_ctl POST user '{"id":666,"username":"Mallory","permalink":"mallory\u009b2J\u202ex\u2066"}' \
		>/dev/null
	pam_map "someone-else $KIOSK_USER"
	kiosk_service mode=paste
	kiosk_paste authenticate
	assert_failure
	assert_output --partial 'This SoundCloud account (mallory\u009b2J\u202ex\u2066) may not log in as '"$KIOSK_USER"
	refute_raw_controls "$output" "the conversation"
	grep -qF 'soundcloud:users:666 (mallory\u009b2J\u202ex\u2066) may not log in as '"$KIOSK_USER" \
		"$PAM_LOG" || fail "the refusal was not logged escaped: $(cat "$PAM_LOG")"
	# Let in: the log line of the login escapes it too.
	pam_map "soundcloud:users:666 $KIOSK_USER"
	kiosk_paste authenticate
	assert_success
	grep -qF 'soundcloud:users:666 (mallory\u009b2J\u202ex\u2066) logged in as '"$KIOSK_USER" \
		"$PAM_LOG" || fail "the login was not logged escaped: $(cat "$PAM_LOG")"
	refute_raw_controls "$(cat "$PAM_LOG")" "the module's log"
}

@test "a urn rule and a permalink rule let their account in" {
	kiosk_service mode=paste
	pam_map "soundcloud:users:1001 $KIOSK_USER"
	kiosk_paste authenticate
	assert_success
	pam_map "test-user $KIOSK_USER"
	kiosk_paste authenticate
	assert_success
}

@test "a user without any rule is refused before a login starts, as an unknown one is" {
	pam_map "* someone-else"
	kiosk_service mode=paste
	run pam_tester kiosk "$KIOSK_USER" authenticate </dev/null
	assert_failure
	local unmapped=$output
	refute_output --partial "Log in to SoundCloud"
	refute_output --partial "$KIOSK_USER."
	assert_equal "$(sandbox_stat authorize)" 0
	grep -q "no rule for $KIOSK_USER" "$PAM_LOG" || fail "the log does not say which"
	# An unknown name: the screen shows the same (only pamtester's own line names the user).
	run pam_tester kiosk "no-such-user-$$" authenticate </dev/null
	assert_failure
	assert_equal "$(grep -v '^pamtester: invoking' <<<"$output")" \
		"$(grep -v '^pamtester: invoking' <<<"$unmapped")"
	assert_output --partial "No SoundCloud login is possible for this user name."
	grep -q "unknown user 'no-such-user-$$'" "$PAM_LOG" || fail "the log does not say which"
}

@test "no map file: nobody may log in" {
	rm -f "$PAM_MAP"
	kiosk_service mode=paste
	run pam_tester kiosk "$KIOSK_USER" authenticate </dev/null
	assert_failure
	assert_output --partial "$PAM_MSG_AUTH_ERR"
	grep -q "no SoundCloud account may log in" "$PAM_LOG" || fail "not logged"
}

@test "server unreachable after the login page: PAM_AUTHINFO_UNAVAIL" {
	# A sandbox of this test's own, stopped between the authorize page and the exchange.
	sandbox_start "$BATS_TEST_TMPDIR/gone"
	sandbox_client "$CLIENT_ID" "$CLIENT_SECRET" "$REDIRECT_URI"
	pam_write_config "$PAM_CONF"
	kiosk_service mode=paste
	pam_start kiosk "$KIOSK_USER" authenticate
	local url loc
	url=$(pam_wait_url)
	loc=$(pam_redirect_for "$url")
	sandbox_stop
	pam_answer "$loc"
	pam_finish
	assert_failure
	assert_output --partial "$PAM_MSG_AUTHINFO_UNAVAIL"
	assert_output --partial "SoundCloud cannot be reached right now"
}

@test "timeout: nobody comes back within timeout= seconds" {
	kiosk_service mode=listen timeout=2
	local t0=$SECONDS
	run pam_tester kiosk "$KIOSK_USER" authenticate <<<""
	assert_failure
	assert_output --partial "$PAM_MSG_AUTH_ERR"
	assert_output --partial "No SoundCloud login arrived within 2 seconds."
	((SECONDS - t0 < 30)) || fail "the timeout took $((SECONDS - t0)) s"
}

# qr_paste TTY: a paste login with PAM_TTY set to TTY; sets output, status and screen (the
# text before the answer, as the person sees it).
qr_paste() {
	local url loc
	pam_start -I "tty=$1" kiosk "$KIOSK_USER" authenticate
	url=$(pam_wait_url) || return 1
	loc=$(pam_redirect_for "$url") || return 1
	pam_answer "$loc"
	pam_finish
}

@test "qr: a QR code only on a text terminal where it fits with the URL; never over 24 lines" {
	kiosk_service mode=paste qr
	# A large terminal (a framebuffer console): the code, then the URL.
	with_pty 100 200 eval 'qr_paste "$PTY_NAME"'
	assert_success
	[[ $output == *"▀"* || $output == *"▄"* || $output == *"█"* ]] || fail "no QR code"
	assert_output --partial "Scan the code, or open this address:"
	# An 80x24 console: the code (31 rows) and the URL do not fit; the URL only, and it says so.
	with_pty 24 80 eval 'qr_paste "$PTY_NAME"'
	assert_success
	[[ $output != *"▀"* && $output != *"▄"* ]] || fail "a QR code on an 80x24 console"
	assert_output --partial "Log in to SoundCloud (no room for the QR code here):"
	local screen
	screen=$(sed -n '/^Log in to SoundCloud/,/Paste the address or code: /p' <<<"$output" |
		sed 's/\(Paste the address or code: \).*/\1/')
	(($(wc -l <<<"$screen") <= 24)) || fail "more than 24 lines: $screen"
	(($(awk '{ if (length($0) > n) n = length($0) } END { print n }' <<<"$screen") <= 80)) ||
		fail "a line over 80 columns: $screen"
	grep -q "no QR code: its .* do not fit the 80x24 screen" "$PAM_LOG" ||
		fail "not logged: $(cat "$PAM_LOG")"
	# A graphical greeter (LightDM sets the display as PAM_TTY): never a code.
	qr_paste :0
	assert_success
	[[ $output != *"▀"* && $output != *"▄"* ]] || fail "a QR code at a greeter"
	assert_output --partial "Log in to SoundCloud on this or another device:"
}

@test "auth and session in different processes: the nonce in the PAM environment carries it" {
	kiosk_service mode=paste
	kiosk_paste authenticate
	assert_success
	local stage nonce
	stage=$(stage_file)
	[[ -f $stage ]] || fail "nothing staged"
	assert_equal "$(stat -c '%u %a' "$stage")" "$EUID 600"
	assert_equal "$(stat -c '%a' "$PAM_STAGE")" 700
	remember_secrets "$stage"
	[[ ! -e $(kiosk_store) ]] || fail "auth wrote the user's store"
	nonce=$(pam_stage_nonce)
	[[ $nonce =~ ^[0-9a-f]{32}$ ]] || fail "the staged login has no nonce label"
	# The session's process gets auth's PAM environment (here through pam_env, as sshd's
	# monitor gets its auth child's) and takes the login.
	pam_service later \
		"$(pam_env_line "SOUNDCLOUD_AUTH_STAGE=$nonce")" \
		"session required MODULE $PAM_ARGS"
	run pam_tester later "$KIOSK_USER" open_session
	assert_success
	assert_output --partial "successfully opened a session"
	assert_kiosk_store
	[[ ! -e $stage ]] || fail "the stage is still there after the session took it"
	local token
	token=$(as_kiosk "$KIOSK_HELPER" token) || fail "git-credential-soundcloud token failed"
	[[ -n $token ]] || fail "no token"
}

@test "auth and account in one process, the session in another (sshd): the session gets it" {
	# sshd runs pam_authenticate and pam_acct_mgmt in its auth child, and opens the session
	# in another process, with the auth child's PAM environment.
	kiosk_service mode=paste
	kiosk_paste authenticate acct_mgmt
	assert_success
	assert_output --partial "account management done"
	local nonce token
	[[ -e $(stage_file) ]] || fail "the account check consumed the parked login"
	remember_secrets "$(stage_file)"
	nonce=$(pam_stage_nonce)
	pam_service later \
		"$(pam_env_line "SOUNDCLOUD_AUTH_STAGE=$nonce")" \
		"session required MODULE $PAM_ARGS wipe"
	run pam_tester later "$KIOSK_USER" open_session
	assert_success
	assert_output --partial "successfully opened a session"
	assert_kiosk_store
	[[ ! -e $(stage_file) ]] || fail "the stage is still there after the session took it"
	token=$(as_kiosk "$KIOSK_HELPER" token) || fail "the session's tools get no token"
	[[ -n $token ]] || fail "no token"
	assert_equal "$(sandbox_stat signout)" 0
}

@test "a login whose session never came is signed out by the user's next login" {
	kiosk_service mode=paste
	# The greeter restarts the conversation: a finished login, and no session for it.
	kiosk_paste authenticate acct_mgmt
	assert_success
	remember_secrets "$(stage_file)"
	local first
	first=$(pam_stage_nonce)
	assert_equal "$(sandbox_stat signout)" 0
	kiosk_paste authenticate acct_mgmt open_session
	assert_success
	assert_equal "$(sandbox_stat signout)" 1
	grep -q "signed out the SoundCloud login of $KIOSK_USER (superseded by a new login" \
		"$PAM_LOG" || fail "the sign-out was not logged"
	assert_kiosk_store
	# The old nonce finds nothing now.
	pam_service later \
		"$(pam_env_line "SOUNDCLOUD_AUTH_STAGE=$first")" \
		"session required MODULE $PAM_ARGS" \
		"session required $(pam_permit)"
	as_kiosk rm -f "$(kiosk_store)"
	run pam_tester later "$KIOSK_USER" open_session
	assert_success
	[[ ! -e $(kiosk_store) ]] || fail "a superseded login was handed over"
}

@test "service login: the wait stays under login(1)'s LOGIN_TIMEOUT, and the screen says how long" {
	local defs=$PAM_DIR/t$BATS_TEST_NUMBER/login.defs
	printf '# login.defs\nLOGIN_TIMEOUT\t\t13\n' >"$defs"
	pam_service login \
		"auth required MODULE $PAM_ARGS map=$PAM_MAP mode=listen timeout=120 login_defs=$defs"
	local t0=$SECONDS
	run pam_tester login "$KIOSK_USER" authenticate <<<""
	assert_failure
	assert_output --partial "Press Enter here after logging in (waiting up to 6 s)."
	assert_output --partial "Press Enter after logging in: "
	assert_output --partial "No SoundCloud login arrived within 6 seconds."
	((SECONDS - t0 < 30)) || fail "the wait took $((SECONDS - t0)) s"
	grep -q "LOGIN_TIMEOUT 13 s ($defs): waiting at most 6 s, not timeout=120" "$PAM_LOG" ||
		fail "the log does not say why"
}

@test "a map rule to root is refused when the map is read" {
	pam_map "* $KIOSK_USER" "test-user root"
	kiosk_service mode=paste
	run pam_tester kiosk "$KIOSK_USER" authenticate </dev/null
	assert_failure
	assert_output --partial "$PAM_MSG_SERVICE_ERR"
	refute_output --partial "Log in to SoundCloud"
	grep -q "$PAM_MAP:2: 'root' has uid 0: no SoundCloud account may log in as root" \
		"$PAM_LOG" || fail "the log does not name the line"
	assert_equal "$(sandbox_stat authorize)" 0
}

@test "a session in another process without the login's nonce gets nothing; the stage stays" {
	kiosk_service mode=paste
	kiosk_paste authenticate
	assert_success
	local stage
	stage=$(stage_file)
	[[ -f $stage ]] || fail "nothing staged"
	remember_secrets "$stage"
	cp -p "$stage" "$BATS_TEST_TMPDIR/stage.before"
	# Someone else's login as the same user (a password login here), in its own process.
	pam_service later \
		"account required MODULE $PAM_ARGS map=$PAM_MAP" \
		"account required $(pam_permit)" \
		"session required MODULE $PAM_ARGS" \
		"session required $(pam_permit)"
	run pam_tester later "$KIOSK_USER" acct_mgmt open_session close_session
	assert_success
	[[ ! -e $(kiosk_store) ]] || fail "another transaction got the staged login"
	cmp -s "$stage" "$BATS_TEST_TMPDIR/stage.before" || fail "the stage was touched"
	grep -q "no SoundCloud login of $KIOSK_USER to hand over" "$PAM_LOG" ||
		fail "the session did not say it had nothing"
	# Alone, the module's answer shows: PAM_IGNORE, so the stack fails.
	pam_service alone "session required MODULE $PAM_ARGS"
	run pam_tester alone "$KIOSK_USER" open_session
	assert_failure
	[[ ! -e $(kiosk_store) ]] || fail "another transaction got the staged login"
	cmp -s "$stage" "$BATS_TEST_TMPDIR/stage.before" || fail "the stage was touched"
}

@test "a session with another transaction's nonce gets nothing; the stage stays" {
	kiosk_service mode=paste
	kiosk_paste authenticate
	assert_success
	local stage nonce wrong
	stage=$(stage_file)
	remember_secrets "$stage"
	cp -p "$stage" "$BATS_TEST_TMPDIR/stage.before"
	nonce=$(pam_stage_nonce)
	[[ ${nonce:0:1} == 0 ]] && wrong=1${nonce:1} || wrong=0${nonce:1}
	pam_service later \
		"$(pam_env_line "SOUNDCLOUD_AUTH_STAGE=$wrong")" \
		"session required MODULE $PAM_ARGS" \
		"session required $(pam_permit)"
	run pam_tester later "$KIOSK_USER" open_session
	assert_success
	[[ ! -e $(kiosk_store) ]] || fail "a wrong nonce got the staged login"
	cmp -s "$stage" "$BATS_TEST_TMPDIR/stage.before" || fail "the stage was touched"
}

@test "a staged login older than 10 minutes is not handed to a session" {
	kiosk_service mode=paste
	kiosk_paste authenticate
	assert_success
	local stage old
	stage=$(stage_file)
	remember_secrets "$stage"
	old=$(($(date +%s) - 700))
	sed -i "s/^obtained_at .*/obtained_at $old/" "$stage"
	pam_service later \
		"$(pam_env_line "SOUNDCLOUD_AUTH_STAGE=$(pam_stage_nonce)")" \
		"session required MODULE $PAM_ARGS" \
		"session required $(pam_permit)"
	run pam_tester later "$KIOSK_USER" open_session
	assert_success
	[[ ! -e $(kiosk_store) ]] || fail "a stale login was handed over"
	[[ ! -e $stage ]] || fail "the stale stage was kept"
	grep -q "ignored and erased" "$PAM_LOG" || fail "not logged"
	# Nobody can use it any more: signed out at SoundCloud.
	assert_equal "$(sandbox_stat signout)" 1
	grep -q "(too old to hand over)" "$PAM_LOG" || fail "the sign-out was not logged"
}

@test "the account check follows a changed map, and a refused login is not kept" {
	kiosk_service mode=paste
	kiosk_paste authenticate acct_mgmt
	assert_success
	assert_output --partial "account management done"
	# The account check left the parked copy for the session (sshd opens it elsewhere).
	[[ -e $(stage_file) ]] || fail "the account check consumed the parked login"
	remember_secrets "$(stage_file)"
	# The map changes while the person logs in (auth has read it already): account refuses,
	# the stage is erased, and the session gets nothing.  The login parked before (its
	# session never came) is superseded by this one: both are signed out.
	local url loc
	pam_start kiosk "$KIOSK_USER" authenticate acct_mgmt open_session
	url=$(pam_wait_url)
	loc=$(pam_redirect_for "$url")
	pam_map "soundcloud:users:999 $KIOSK_USER"
	pam_answer "$loc"
	pam_finish
	assert_failure
	assert_output --partial "successfully authenticated"
	assert_output --partial "$PAM_MSG_PERM_DENIED"
	assert_output --partial "This SoundCloud account may not log in as $KIOSK_USER"
	[[ ! -e $(stage_file) ]] || fail "a refused login stayed in the stage"
	[[ ! -e $(kiosk_store) ]] || fail "a refused login reached the store"
	assert_equal "$(sandbox_stat signout)" 2
	grep -q "(superseded by a new login of the user)" "$PAM_LOG" || fail "no supersede logged"
	grep -q "(refused by the account check)" "$PAM_LOG" || fail "no refusal sign-out logged"
}

@test "account and session without a SoundCloud login defer to the rest of the stack" {
	local permit
	permit=$(pam_permit)
	pam_service mixed \
		"account required $permit" "account required MODULE $PAM_ARGS map=$PAM_MAP" \
		"session required $permit" "session required MODULE $PAM_ARGS"
	run pam_tester mixed "$KIOSK_USER" acct_mgmt open_session
	assert_success
	[[ ! -e $(kiosk_store) ]] || fail "a store appeared without a login"
	# Alone in its stack the module's PAM_IGNORE fails the stack: no silent success.
	pam_service alone "account required MODULE $PAM_ARGS map=$PAM_MAP"
	run pam_tester alone "$KIOSK_USER" acct_mgmt
	assert_failure
}

@test "as the user itself (no root): the module writes the store directly" {
	# Without root every test runs this way; as root this one runs pamtester as the user.
	local d=$PAM_DIR/t$BATS_TEST_NUMBER/self
	mkdir -m 755 "$d"
	pam_write_config "$d/conf"
	chown "$KIOSK_UID:$KIOSK_GID" "$d/conf"
	mkdir -m 700 "$d/stage"
	chown "$KIOSK_UID:$KIOSK_GID" "$d/stage"
	PAM_ARGS="config=$d/conf stagedir=$d/stage"
	kiosk_service mode=paste
	chmod -R go+rX "$PAM_SERVICE_DIR"
	local preload url loc
	preload=$(pam_preload)
	mkfifo "$d/in"
	chmod 666 "$d/in"
	as_kiosk env LD_PRELOAD="$preload" _STDBUF_O=L PAM_WRAPPER=1 \
		PAM_WRAPPER_SERVICE_DIR="$PAM_SERVICE_DIR" \
		NSS_WRAPPER_PASSWD="${NSS_WRAPPER_PASSWD:-}" \
		NSS_WRAPPER_GROUP="${NSS_WRAPPER_GROUP:-}" \
		PAM_WRAPPER_DISABLE_DEEPBIND=1 UID_WRAPPER_DISABLE_DEEPBIND=1 \
		NSS_WRAPPER_DISABLE_DEEPBIND=1 ASAN_OPTIONS="${ASAN_OPTIONS:-}" \
		timeout 60 pamtester -v kiosk "$KIOSK_USER" authenticate open_session \
		<"$d/in" >"$d/out" 2>&1 3>&- &
	PAM_BG_PID=$!
	exec {PAM_BG_FD}>"$d/in"
	local i
	for ((i = 0; i < 300; i++)); do
		grep -aq 'Paste the address or code:' "$d/out" && url=$(screen_url <"$d/out")
		[[ -z $url ]] || break
		sleep 0.05
	done
	[[ -n $url ]] || fail "no URL: $(cat "$d/out")"
	loc=$(pam_redirect_for "$url")
	printf '%s\n' "$loc" >&"$PAM_BG_FD"
	exec {PAM_BG_FD}>&-
	unset PAM_BG_FD
	status=0
	wait "$PAM_BG_PID" || status=$?
	unset PAM_BG_PID
	output=$(grep -av '^PWRAP_' "$d/out")
	assert_success
	assert_output --partial "successfully opened a session"
	assert_kiosk_store
}

@test "a config writable by group is refused (PAM_SERVICE_ERR)" {
	chmod 620 "$PAM_CONF"
	kiosk_service mode=paste
	run pam_tester kiosk "$KIOSK_USER" authenticate </dev/null
	assert_failure
	assert_output --partial "$PAM_MSG_SERVICE_ERR"
	refute_output --partial "Log in to SoundCloud"
	grep -q "writable by group or other" "$PAM_LOG" || fail "the reason was not logged"
}

@test "a config owned by another user is refused (PAM_SERVICE_ERR)" {
	[[ $EUID -eq 0 ]] || skip "only root can give a file to another user"
	chown "$KIOSK_UID" "$PAM_CONF"
	kiosk_service mode=paste
	run pam_tester kiosk "$KIOSK_USER" authenticate </dev/null
	assert_failure
	assert_output --partial "$PAM_MSG_SERVICE_ERR"
	grep -q "not by you or root" "$PAM_LOG" || fail "the reason was not logged"
}

@test "a map writable by others, a linked map, a malformed map: PAM_SERVICE_ERR" {
	kiosk_service mode=paste
	chmod 666 "$PAM_MAP"
	run pam_tester kiosk "$KIOSK_USER" authenticate </dev/null
	assert_output --partial "$PAM_MSG_SERVICE_ERR"
	chmod 644 "$PAM_MAP"
	mv "$PAM_MAP" "$PAM_MAP.real"
	ln -s "$PAM_MAP.real" "$PAM_MAP"
	run pam_tester kiosk "$KIOSK_USER" authenticate </dev/null
	assert_output --partial "$PAM_MSG_SERVICE_ERR"
	rm "$PAM_MAP"
	pam_map "# kiosk" "* $KIOSK_USER extra-field"
	run pam_tester kiosk "$KIOSK_USER" authenticate </dev/null
	assert_output --partial "$PAM_MSG_SERVICE_ERR"
	grep -q "$PAM_MAP:2: expected two fields" "$PAM_LOG" || fail "no file:line in the log"
	assert_equal "$(sandbox_stat authorize)" 0
}

@test "unknown and misplaced options are refused (PAM_SERVICE_ERR)" {
	pam_service kiosk "auth required MODULE $PAM_ARGS map=$PAM_MAP mode=paste colour=blue"
	run pam_tester kiosk "$KIOSK_USER" authenticate </dev/null
	assert_failure
	assert_output --partial "$PAM_MSG_SERVICE_ERR"
	grep -q "unknown option 'colour=blue'" "$PAM_LOG" || fail "not logged"
	pam_service kiosk "auth required MODULE $PAM_ARGS map=$PAM_MAP wipe"
	run pam_tester kiosk "$KIOSK_USER" authenticate </dev/null
	assert_output --partial "$PAM_MSG_SERVICE_ERR"
	pam_service kiosk "auth required MODULE $PAM_ARGS map=$PAM_MAP timeout=0"
	run pam_tester kiosk "$KIOSK_USER" authenticate </dev/null
	assert_output --partial "$PAM_MSG_SERVICE_ERR"
	pam_service kiosk "auth required MODULE $PAM_ARGS map=relative/map"
	run pam_tester kiosk "$KIOSK_USER" authenticate </dev/null
	assert_output --partial "$PAM_MSG_SERVICE_ERR"
}

@test "an unknown user: PAM_USER_UNKNOWN" {
	kiosk_service mode=paste
	run pam_tester kiosk "no-such-user-$$" authenticate </dev/null
	assert_failure
	assert_output --partial "$PAM_MSG_USER_UNKNOWN"
}

@test "the module exports only pam_sm_* and keeps no static state" {
	run nm -D --defined-only "$PAM_MODULE"
	assert_success
	local syms
	syms=$(awk 'NF >= 3 { print $3 }' <<<"$output" | sort | tr '\n' ' ')
	assert_equal "$syms" "pam_sm_acct_mgmt pam_sm_authenticate pam_sm_close_session \
pam_sm_open_session pam_sm_setcred "
	# No writable data in the module's own objects (static or global variables).
	local o
	for o in "$BUILD"/pam/*.o; do
		run nm "$o"
		refute_output --regexp ' [bBdDcC] '
	done
}
