#!/usr/bin/env bats
# git-credential-cli.bats - the verbs of git-credential-soundcloud for people and scripts:
# login (loopback listener, forged callbacks, paste, QR, timeout, signals at the hidden prompt,
# what the browser inherits), logout, token, header with
# real curl, status, api, options, tracing, and every exit code provoked for real against the
# sandbox.  Tokens are compared inside the shell only, never printed.

load '../lib/common'
load '../lib/git-credential'

bats_require_minimum_version 1.5.0

setup() {
	gc_setup
	export HELPER
	BLOCKER_PID=
	HELPER_PID=
}

teardown() {
	[ -z "$BLOCKER_PID" ] || kill "$BLOCKER_PID" 2>/dev/null || true
	[ -z "$HELPER_PID" ] || kill "$HELPER_PID" 2>/dev/null || true
	attacker_cleanup
}

# The other local user of the race test: made as root, removed with everything they ran
# (the attacker runs in a process group of its own, ended by its id).
ATTACKER_USER= ATTACKER_PGID= ATTACKER_DIR=
attacker_cleanup() {
	if [ -n "$ATTACKER_PGID" ]; then
		kill -KILL -- "-$ATTACKER_PGID" 2>/dev/null || true
		ATTACKER_PGID=
	fi
	if [ -n "$ATTACKER_USER" ]; then
		userdel "$ATTACKER_USER" 2>/dev/null || true
		ATTACKER_USER=
	fi
	if [ -n "$ATTACKER_DIR" ]; then
		rm -rf "$ATTACKER_DIR"
		ATTACKER_DIR=
	fi
}

stored() {
	local f="$XDG_STATE_HOME/soundcloud-auth/${2:-default}.user"
	[ -f "$f" ] || return 0
	awk -v k="$1" '$1 == k { print $2 }' "$f"
}

# Polls (bounded: WAIT_TRIES times 50 ms, 10 s unless told) until a command succeeds.
wait_for() {
	local i
	for ((i = 0; i < ${WAIT_TRIES:-200}; i++)); do
		"$@" && return 0
		sleep 0.05
	done
	return 1
}

# A browser for paste logins: it follows the authorize redirect like tests/lib/browser,
# then "pastes" the address it landed on (or only the code, or the address with another
# state) into the FIFO that the helper reads as stdin.
make_paste_browser() {
	local mode=$1
	PASTE_FIFO="$BATS_TEST_TMPDIR/paste"
	mkfifo "$PASTE_FIFO"
	cat >"$BATS_TEST_TMPDIR/paste-browser" <<-EOF
		#!/bin/sh
		set -eu
		location=\$(curl -sS --cacert "\$SANDBOX_CA" -o /dev/null -w '%{redirect_url}' \
			"\$1")
		code=\$(printf '%s' "\$location" | sed -n 's/.*[?&]code=\([^&]*\).*/\1/p')
		case $mode in
		url) printf '%s\n' "\$location" ;;
		code) printf '  %s  \n' "\$code" ;;
		wrongstate) printf '%s\n' "\$location" | sed 's/state=[^&]*/state=forged/' ;;
		esac >"$PASTE_FIFO"
	EOF
	chmod +x "$BATS_TEST_TMPDIR/paste-browser"
	export BROWSER="$BATS_TEST_TMPDIR/paste-browser"
}

# Runs the helper's login reading the paste from the FIFO (held open read-write by this
# shell, so that it never blocks on open and the helper sees no end of file).
run_paste_login() {
	exec 5<>"$PASTE_FIFO"
	run --separate-stderr timeout 60 "$HELPER" login "$@" <&5
	exec 5>&-
}

# Drops the stored access token the way git does after a 401: erase with the token.
erase_current() {
	"$HELPER" erase < <(printf 'protocol=https\nhost=%s\npassword=%s\n' "$API_HOST" \
		"$(stored access_token)")
}

assert_logged_in() {
	[ -n "$(stored access_token "${1:-default}")" ] || fail "no access token stored"
	[ -n "$(stored refresh_token "${1:-default}")" ] || fail "no refresh token stored"
}

assert_url_line() {
	grep -qx "https://$API_HOST/authorize?[^ ]*state=[^ ]*" <<<"$1" ||
		fail "the authorize URL is not alone on a line of stderr"
}

@test "login through the browser and the loopback listener" {
	run --separate-stderr "$HELPER" login
	assert_success
	[ -z "$output" ] || fail "login wrote to stdout"
	assert_url_line "$stderr"
	[[ $stderr == *"Logged in as Test User (test-user, soundcloud:users:1001)"* ]]
	assert_logged_in
	refute_secrets "$stderr"
	assert_equal "$(sandbox_stat token.authorization_code)" 1
	assert_equal "$(sandbox_stat me)" 1
}

@test "a forged callback with a wrong state gets an error page; the real one still logs in" {
	cat >"$BATS_TEST_TMPDIR/forging-browser" <<-EOF
		#!/bin/sh
		curl -s -o "$BATS_TEST_TMPDIR/forged-page" -w '%{http_code}' --max-time 10 \\
			"http://127.0.0.1:$REDIRECT_PORT/callback?code=forged&state=forged-state" \\
			>"$BATS_TEST_TMPDIR/forged-status"
		exec "$TOP/tests/lib/browser" "\$1"
	EOF
	chmod +x "$BATS_TEST_TMPDIR/forging-browser"
	export BROWSER="$BATS_TEST_TMPDIR/forging-browser"
	export BROWSER_LOG="$BATS_TEST_TMPDIR/real-status"
	run --separate-stderr "$HELPER" login
	assert_success
	assert_equal "$(cat "$BATS_TEST_TMPDIR/forged-status")" 400
	grep -qi "forged" "$BATS_TEST_TMPDIR/forged-page" || fail "the error page does not say why"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/real-status")" 200
	assert_logged_in
	# Only the real code was exchanged.
	assert_equal "$(sandbox_stat token.authorization_code)" 1
	assert_equal "$(sandbox_stat token.errors.invalid_grant)" 0
}

@test "login --paste takes the pasted redirect address and draws a QR code" {
	make_paste_browser url
	run_paste_login --paste
	assert_success
	assert_url_line "$stderr"
	[[ $stderr == *"▀"* || $stderr == *"▄"* ]] || fail "no QR code drawn"
	[[ $stderr == *"Logged in as Test User"* ]]
	assert_logged_in
	refute_secrets "$stderr"
}

@test "login --paste takes the bare code, blanks around it ignored" {
	make_paste_browser code
	run_paste_login --paste
	assert_success
	assert_logged_in
}

@test "login --paste refuses an address with another state" {
	make_paste_browser wrongstate
	run_paste_login --paste
	assert_equal "$status" 77
	[ -z "$(stored access_token)" ] || fail "a forged paste logged in"
	assert_equal "$(sandbox_stat token.authorization_code)" 0
	refute_secrets "$stderr"
}

@test "login --paste with nothing pasted fails with 77" {
	run --separate-stderr "$HELPER" login --paste --no-browser </dev/null
	assert_equal "$status" 77
	[[ $stderr == *"nothing was pasted"* ]]
}

# A browser that only notes in $BATS_TEST_TMPDIR/landed where it landed; the test types that
# once the prompt is up.
make_noting_browser() {
	cat >"$BATS_TEST_TMPDIR/noting-browser" <<-EOF
		#!/bin/sh
		curl -sS --cacert "\$SANDBOX_CA" -o /dev/null -w '%{redirect_url}' "\$1" \\
			>"$BATS_TEST_TMPDIR/landed.tmp"
		mv "$BATS_TEST_TMPDIR/landed.tmp" "$BATS_TEST_TMPDIR/landed"
	EOF
	chmod +x "$BATS_TEST_TMPDIR/noting-browser"
	export BROWSER="$BATS_TEST_TMPDIR/noting-browser"
}

# Runs a bash script (a file: no quoting through script -c) on a terminal of its own, with
# the FIFO $BATS_TEST_TMPDIR/keys as the keyboard (held open on fd 5) and the screen in
# $BATS_TEST_TMPDIR/screen.  HELPER_PID is script(1)'s pid.
run_on_terminal() {
	mkfifo "$BATS_TEST_TMPDIR/keys"
	exec 5<>"$BATS_TEST_TMPDIR/keys"
	script -qefc "bash $1" /dev/null <&5 >"$BATS_TEST_TMPDIR/screen" 2>&1 3>&- &
	HELPER_PID=$!
}

# The signals a process catches (SigCgt of /proc/PID/status) include signal number $2.
catches() {
	local mask
	mask=$(sed -n 's/^SigCgt:[[:space:]]*//p' "/proc/$1/status" 2>/dev/null) || return 1
	[ -n "$mask" ] && (((0x$mask >> ($2 - 1)) & 1))
}

# At least $1 paste prompts are on the screen.
prompts_shown() {
	[ "$(grep -o "input hidden" "$BATS_TEST_TMPDIR/screen" | wc -l)" -ge "$1" ]
}

# The landed address, typed on the terminal.
type_landed() {
	printf '%s\n' "$(cat "$BATS_TEST_TMPDIR/landed")" >&5
}

# Fails when the code of the landed address shows on the screen.
refute_code_on_screen() {
	local code
	code=$(sed -n 's/.*[?&]code=\([^&]*\).*/\1/p' "$BATS_TEST_TMPDIR/landed")
	[ -n "$code" ] || fail "no code in the redirect"
	! grep -qF "$code" "$BATS_TEST_TMPDIR/screen" || fail "the pasted code was echoed"
}

@test "login --paste on a terminal reads the paste with echo off" {
	make_noting_browser
	local keys="$BATS_TEST_TMPDIR/keys" screen="$BATS_TEST_TMPDIR/screen" code
	mkfifo "$keys"
	exec 5<>"$keys"
	# script(1) gives the helper a terminal of its own.
	script -qefc "$HELPER login --paste" /dev/null <&5 >"$screen" 2>&1 3>&- &
	HELPER_PID=$!
	wait_for grep -q "input hidden" "$screen" || fail "no prompt on the terminal"
	wait_for test -s "$BATS_TEST_TMPDIR/landed" || fail "the browser did not land"
	printf '%s\n' "$(cat "$BATS_TEST_TMPDIR/landed")" >&5
	wait "$HELPER_PID"
	HELPER_PID=
	exec 5>&-
	grep -q "Logged in as Test User" "$screen" || fail "the login did not finish"
	code=$(sed -n 's/.*[?&]code=\([^&]*\).*/\1/p' "$BATS_TEST_TMPDIR/landed")
	[ -n "$code" ] || fail "no code in the redirect"
	! grep -qF "$code" "$screen" || fail "the pasted code was echoed"
	refute_secrets "$(cat "$screen")"
	assert_logged_in
}

@test "Ctrl-Z at the hidden prompt gives the terminal back with echo on; fg hides it again" {
	make_noting_browser
	local st="$BATS_TEST_TMPDIR/stty" screen="$BATS_TEST_TMPDIR/screen"
	# With job control, as an interactive shell runs it: Ctrl-Z stops the job, then the
	# script looks at the terminal and continues the job with fg.
	cat >"$BATS_TEST_TMPDIR/job" <<-EOF
		set -m
		"$HELPER" login --paste
		stty -a >"$st.tmp" && mv "$st.tmp" "$st"
		fg
	EOF
	run_on_terminal "$BATS_TEST_TMPDIR/job"
	wait_for grep -q "input hidden" "$screen" || fail "no prompt on the terminal"
	wait_for test -s "$BATS_TEST_TMPDIR/landed" || fail "the browser did not land"
	printf '\032' >&5
	wait_for test -s "$st" || fail "Ctrl-Z did not stop the login"
	grep -Eq '(^|[[:space:]])echo([[:space:]]|$)' "$st" ||
		fail "the terminal was left with echo off while stopped"
	# Continued: the prompt is shown again, and what is typed now is hidden too.
	wait_for prompts_shown 2 || fail "no new prompt after fg"
	type_landed
	wait "$HELPER_PID"
	HELPER_PID=
	exec 5>&-
	grep -q "Logged in as Test User" "$screen" || fail "the login did not finish"
	refute_code_on_screen
	refute_secrets "$(cat "$screen")"
	assert_logged_in
}

@test "a signal that comes before the hidden read is not left waiting for Enter" {
	local st="$BATS_TEST_TMPDIR/stty" pid
	# bash's own messages ("Terminated") go to a file: the terminal's output is stopped.
	cat >"$BATS_TEST_TMPDIR/job" <<-EOF
		exec 2>"$BATS_TEST_TMPDIR/job-err"
		read -rs _go
		sh -c 'echo \$\$ >"$BATS_TEST_TMPDIR/pid"; exec "$HELPER" login --paste --no-browser \
			2>"$BATS_TEST_TMPDIR/err"'
		echo \$? >"$BATS_TEST_TMPDIR/status"
		stty -a >"$st.tmp" && mv "$st.tmp" "$st"
	EOF
	run_on_terminal "$BATS_TEST_TMPDIR/job"
	# Ctrl-S stops the terminal's output before the helper starts: its prompt cannot be
	# written, so the SIGTERM below reaches it before it gets to read() for certain.
	printf '\023go\n' >&5
	wait_for test -s "$BATS_TEST_TMPDIR/pid" || fail "the helper did not start"
	pid=$(cat "$BATS_TEST_TMPDIR/pid")
	wait_for catches "$pid" 15 || fail "the helper never caught SIGTERM"
	kill -TERM "$pid"
	# Nothing is typed: the helper must end on the signal alone.
	wait_for test -s "$st" || fail "the helper waited on after SIGTERM"
	printf '\021' >&5
	wait "$HELPER_PID"
	HELPER_PID=
	exec 5>&-
	assert_equal "$(cat "$BATS_TEST_TMPDIR/status")" 143
	grep -Eq '(^|[[:space:]])echo([[:space:]]|$)' "$st" || fail "echo left off"
}

@test "a SIGHUP ignored as under nohup does not break the hidden read" {
	make_noting_browser
	local screen="$BATS_TEST_TMPDIR/screen"
	cat >"$BATS_TEST_TMPDIR/job" <<-EOF
		trap '' HUP
		echo \$\$ >"$BATS_TEST_TMPDIR/pid"
		exec "$HELPER" login --paste
	EOF
	run_on_terminal "$BATS_TEST_TMPDIR/job"
	wait_for grep -q "input hidden" "$screen" || fail "no prompt on the terminal"
	wait_for test -s "$BATS_TEST_TMPDIR/landed" || fail "the browser did not land"
	kill -HUP "$(cat "$BATS_TEST_TMPDIR/pid")"
	type_landed
	wait "$HELPER_PID"
	HELPER_PID=
	exec 5>&-
	grep -q "Logged in as Test User" "$screen" || fail "SIGHUP broke the login: $(cat "$screen")"
	refute_code_on_screen
	assert_logged_in
}

@test "the browser gets no SOUNDCLOUD_* variable, the secret least of all, and its own session" {
	# It notes its environment as /proc shows it, and its session, then logs in.
	cat >"$BATS_TEST_TMPDIR/env-browser" <<-EOF
		#!/bin/sh
		tr '\\0' '\\n' </proc/\$\$/environ >"$BATS_TEST_TMPDIR/browser-env"
		echo "\$\$ \$(sed 's/.*) //' /proc/\$\$/stat | cut -d' ' -f4)" \\
			>"$BATS_TEST_TMPDIR/browser-sid"
		exec "$TOP/tests/lib/browser" "\$1"
	EOF
	chmod +x "$BATS_TEST_TMPDIR/env-browser"
	export BROWSER="$BATS_TEST_TMPDIR/env-browser"
	# The secret from the environment (it wins over the config file), as a script would set it.
	export SOUNDCLOUD_CLIENT_SECRET="$CLIENT_SECRET" SOUNDCLOUD_AUTH_TIMEOUT=30
	export SOME_OTHER_SETTING=kept
	# The suite keeps the secret in an exported variable of its own: not for this one.
	export -n CLIENT_SECRET
	run --separate-stderr "$HELPER" login
	assert_success
	assert_logged_in
	local env pid sid
	env=$(cat "$BATS_TEST_TMPDIR/browser-env")
	[[ $env == *"SOME_OTHER_SETTING=kept"* ]] || fail "the browser's environment was not noted"
	[[ $env != *"$CLIENT_SECRET"* ]] || fail "the client secret is in the browser's environment"
	! grep -q '^SOUNDCLOUD_' <<<"$env" || fail "a SOUNDCLOUD_ variable reached the browser"
	read -r pid sid <"$BATS_TEST_TMPDIR/browser-sid"
	[ -n "$pid" ] && [ "$sid" = "$pid" ] || fail "the browser is not in a session of its own"
}

@test "a browser child without /dev/null exits at once instead of keeping our stdout" {
	local ns=()
	if [ "$(id -u)" = 0 ]; then
		ns=(unshare -m)
	elif unshare -rm true 2>/dev/null; then
		ns=(unshare -rm)
	else
		skip "needs root or user namespaces to take /dev/null away"
	fi
	cat >"$BATS_TEST_TMPDIR/marker-browser" <<-EOF
		#!/bin/sh
		readlink /proc/\$\$/fd/1 >"$BATS_TEST_TMPDIR/browser-ran"
	EOF
	chmod +x "$BATS_TEST_TMPDIR/marker-browser"
	export BROWSER="$BATS_TEST_TMPDIR/marker-browser"
	# In a mount namespace of its own, /dev/null on a nodev mount: open() fails with EACCES.
	# shellcheck disable=SC2016 # expanded by the inner bash
	run --separate-stderr timeout 60 "${ns[@]}" bash -c '
		mount --bind /dev/null /dev/null && mount -o remount,bind,nodev /dev/null || exit 90
		{ : <>/dev/null; } 2>/dev/null && exit 91
		set -o pipefail
		"$HELPER" login --timeout 1 | cat'
	# The login waited its second for the redirect and gave up, as without a browser.
	assert_equal "$status" 69
	[[ $stderr == *"Open this address"* ]] || fail "the login did not start: $stderr"
	[ ! -e "$BATS_TEST_TMPDIR/browser-ran" ] ||
		fail "the browser ran with stdout $(cat "$BATS_TEST_TMPDIR/browser-ran")"
}

@test "a taken redirect port is an error that names the address and port, never a paste" {
	node -e 'require("net").createServer().listen(+process.argv[1], "127.0.0.1")' \
		"$REDIRECT_PORT" 3>&- &
	BLOCKER_PID=$!
	wait_for bash -c "exec 6<>/dev/tcp/127.0.0.1/$REDIRECT_PORT" 2>/dev/null ||
		fail "the blocker never listened"
	export BROWSER="$BATS_TEST_TMPDIR/marker-browser"
	printf '#!/bin/sh\ntouch "%s"\n' "$BATS_TEST_TMPDIR/browser-ran" >"$BROWSER"
	chmod +x "$BROWSER"
	run --separate-stderr timeout 60 "$HELPER" login --timeout 5 </dev/null
	assert_equal "$status" 69
	[[ $stderr == *"cannot listen on 127.0.0.1:$REDIRECT_PORT: Address already in use"* ]] ||
		fail "the error does not name the address and port: $stderr"
	[[ $stderr != *"paste"*"instead"* ]] || fail "it fell back to a paste: $stderr"
	[ ! -e "$BATS_TEST_TMPDIR/browser-ran" ] || fail "a browser was started"
	[ -z "$(stored access_token)" ]
	# --paste is the way around it, on purpose.
	make_paste_browser url
	run_paste_login --paste
	assert_success
	assert_logged_in
}

@test "the browser gets a page of ours that forwards to the start address; no state on argv" {
	cat >"$BATS_TEST_TMPDIR/argv-browser" <<-EOF
		#!/bin/sh
		printf '%s\n' "\$*" >"$BATS_TEST_TMPDIR/browser-argv"
		tr '\\0' ' ' </proc/\$\$/cmdline >>"$BATS_TEST_TMPDIR/browser-argv"
		exec "$TOP/tests/lib/browser" "\$1"
	EOF
	chmod +x "$BATS_TEST_TMPDIR/argv-browser"
	export BROWSER="$BATS_TEST_TMPDIR/argv-browser"
	run --separate-stderr "$HELPER" login
	assert_success
	assert_logged_in
	local argv url state
	argv=$(cat "$BATS_TEST_TMPDIR/browser-argv")
	url=$(grep -m1 '^https://' <<<"$stderr")
	state=$(sed -n 's/.*[?&]state=\([^&]*\).*/\1/p' <<<"$url")
	[[ -n $state ]] || fail "no state in the authorize URL shown"
	[[ $argv != *"$state"* ]] || fail "the state is on the browser's command line"
	[[ $argv != *"state="* && $argv != *"authorize"* ]] ||
		fail "the authorize URL is on the browser's command line"
	[[ $argv != *"soundcloud-auth-start-"* ]] ||
		fail "the start address is on the browser's command line: $argv"
	grep -qE "^file://${TMPDIR:-/tmp}/soundcloud-auth-login-[A-Za-z0-9]{6}/start\.html\$" \
		<<<"${argv%%$'\n'*}" || fail "the browser did not get the page: $argv"
	# The page forwarded to the start address, and is gone with its directory.
	local page=${argv%%$'\n'*}
	page=${page#file://}
	[ ! -e "$page" ] && [ ! -e "${page%/*}" ] || fail "the page outlived the login"
	# People are still shown the authorize URL itself.
	assert_url_line "$stderr"
}

@test "the browser's page: 0600 in a 0700 directory of ours under XDG_RUNTIME_DIR" {
	export XDG_RUNTIME_DIR=$BATS_TEST_TMPDIR/run
	mkdir -m 700 "$XDG_RUNTIME_DIR"
	cat >"$BATS_TEST_TMPDIR/stat-browser" <<-EOF
		#!/bin/sh
		p=\${1#file://}
		stat -c '%a %u %F' "\$p" "\${p%/*}" "\${p%/*/*}" >"$BATS_TEST_TMPDIR/page-stat"
		"$TOP/tests/lib/page-start" "\$1" >"$BATS_TEST_TMPDIR/page-target"
		printf '%s\n' "\$1" >"$BATS_TEST_TMPDIR/page"
		exec "$TOP/tests/lib/browser" "\$1"
	EOF
	chmod +x "$BATS_TEST_TMPDIR/stat-browser"
	export BROWSER="$BATS_TEST_TMPDIR/stat-browser"
	run --separate-stderr "$HELPER" login
	assert_success
	assert_logged_in
	local page uid
	page=$(cat "$BATS_TEST_TMPDIR/page")
	uid=$(id -u)
	[[ $page == "file://$XDG_RUNTIME_DIR/soundcloud-auth/login-"??????"/start.html" ]] ||
		fail "the page is not under XDG_RUNTIME_DIR: $page"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/page-stat")" \
		"600 $uid regular file"$'\n'"700 $uid directory"$'\n'"700 $uid directory"
	grep -qE "^http://127\.0\.0\.1:$REDIRECT_PORT/soundcloud-auth-start-[A-Za-z0-9_-]+\$" \
		"$BATS_TEST_TMPDIR/page-target" || fail "the page does not forward to the start address"
	# Gone with the login; the shared parent stays (0700, empty).
	page=${page#file://}
	[ ! -e "$page" ] && [ ! -e "${page%/*}" ] || fail "the page outlived the login"
	assert_equal "$(ls -A "$XDG_RUNTIME_DIR/soundcloud-auth")" ""
}

@test "a runtime directory open to others is passed over: the page goes to TMPDIR" {
	export XDG_RUNTIME_DIR=$BATS_TEST_TMPDIR/run TMPDIR=$BATS_TEST_TMPDIR/tmp
	mkdir -m 755 "$XDG_RUNTIME_DIR"
	mkdir -m 1777 "$TMPDIR"
	cat >"$BATS_TEST_TMPDIR/stat-browser" <<-EOF
		#!/bin/sh
		p=\${1#file://}
		stat -c '%a %u %F' "\$p" "\${p%/*}" >"$BATS_TEST_TMPDIR/page-stat"
		printf '%s\n' "\$1" >"$BATS_TEST_TMPDIR/page"
		exec "$TOP/tests/lib/browser" "\$1"
	EOF
	chmod +x "$BATS_TEST_TMPDIR/stat-browser"
	export BROWSER="$BATS_TEST_TMPDIR/stat-browser"
	run --separate-stderr "$HELPER" login
	assert_success
	assert_logged_in
	local page
	page=$(cat "$BATS_TEST_TMPDIR/page")
	[[ $page == "file://$TMPDIR/soundcloud-auth-login-"??????"/start.html" ]] ||
		fail "the page is not in TMPDIR: $page"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/page-stat")" \
		"600 $(id -u) regular file"$'\n'"700 $(id -u) directory"
	[ ! -e "$XDG_RUNTIME_DIR/soundcloud-auth" ] || fail "the open runtime directory was used"
	assert_equal "$(ls -A "$TMPDIR")" ""
}

@test "the browser's page goes when the login times out, and when a signal ends it" {
	export XDG_RUNTIME_DIR=$BATS_TEST_TMPDIR/run
	mkdir -m 700 "$XDG_RUNTIME_DIR"
	cat >"$BATS_TEST_TMPDIR/noting-browser" <<-EOF
		#!/bin/sh
		printf '%s\n' "\$1" >"$BATS_TEST_TMPDIR/page"
	EOF
	chmod +x "$BATS_TEST_TMPDIR/noting-browser"
	export BROWSER="$BATS_TEST_TMPDIR/noting-browser"
	run --separate-stderr timeout 60 "$HELPER" login --timeout 1
	assert_equal "$status" 69
	[ -s "$BATS_TEST_TMPDIR/page" ] || fail "no page was given to the browser"
	assert_equal "$(ls -A "$XDG_RUNTIME_DIR/soundcloud-auth")" ""
	local sig
	for sig in INT TERM HUP; do
		rm -f "$BATS_TEST_TMPDIR/page"
		"$HELPER" login --timeout 60 2>/dev/null 3>&- &
		HELPER_PID=$!
		wait_for test -s "$BATS_TEST_TMPDIR/page" || fail "no page for SIG$sig"
		[ -e "$(sed 's|^file://||' "$BATS_TEST_TMPDIR/page")" ] || fail "the page is not there"
		kill -s "$sig" "$HELPER_PID"
		wait "$HELPER_PID" || true
		HELPER_PID=
		assert_equal "$(ls -A "$XDG_RUNTIME_DIR/soundcloud-auth")" ""
	done
}

# The attacker: another local user who polls every command line in /proc for a login's start
# address, an authorize URL with its state, or a page of the login, and runs the whole flow with
# anything usable at once (the sandbox approves as whoever is its current user: the attacker's
# account while they race).  It goes only for this test's listener (REDIRECT_PORT): other suites
# may run on the machine meanwhile.  Notes what it saw, what it tried, and how many scans it made.
make_attacker() {
	cat >"$ATTACKER_DIR/attacker" <<-'EOF'
		#!/bin/bash
		out=$1 ca=$2 port=$3
		scans=0
		declare -A tried
		flow() {   # runs the login's flow from a start address or an authorize URL
			local jar=$out/jar authz=$1 loc
			rm -f "$jar"
			case $1 in
			http://*) authz=$(printf 'url = "%s"\n' "$1" |
				curl -s -c "$jar" -o /dev/null -w '%{redirect_url}' --max-time 10 -K -) ;;
			esac
			loc=$(printf 'url = "%s"\n' "$authz" |
				curl -s --cacert "$ca" -o /dev/null -w '%{redirect_url}' --max-time 10 -K -)
			[ -n "$loc" ] || return 0
			printf 'url = "%s"\n' "$loc" |
				curl -s -b "$jar" -o /dev/null -w '%{http_code}\n' --max-time 10 -K -
		}
		while [ ! -e "$out/stop" ]; do
			for f in /proc/[0-9]*/cmdline; do
				[ "${f#/proc/}" != "$$/cmdline" ] || continue
				# Read in the shell itself: a process per command line would make each scan
				# take seconds on a busy machine, and an attacker polls as fast as it can.
				mapfile -d '' -t args <"$f" 2>/dev/null || continue
				for a in "${args[@]}"; do
					case $a in
					*soundcloud-auth-start-*|*authorize\?*state=*) url=$a ;;
					file://*)
						url=$(sed -n 's/.*http-equiv="refresh" content="0; url=\([^"]*\)".*/\1/p' \
							"${a#file://}" 2>/dev/null)
						[ -n "${tried[$a]:-}" ] || echo "page $a readable=${url:+yes}" >>"$out/seen"
						tried[$a]=1
						;;
					*) continue ;;
					esac
					# Only this test's login: other suites may run on the machine meanwhile.
					case $url in
					*127.0.0.1:$port/*|*127.0.0.1%3A$port%2F*) ;;
					*) continue ;;
					esac
					[ -z "${tried[$url]:-}" ] || continue
					tried[$url]=1
					echo "tried $url -> $(flow "$url")" >>"$out/attempts"
				done
			done
			scans=$((scans + 1))
			echo "$scans" >"$out/scans.new" && mv -f "$out/scans.new" "$out/scans"
		done
	EOF
	chmod 755 "$ATTACKER_DIR/attacker"
}

@test "another local user who reads the browser's command line cannot finish the login as themself" {
	[[ $EUID -eq 0 ]] || skip "needs root, to make a second local user"
	ATTACKER_USER="scatk$(random_id | cut -c1-16)"
	useradd -M -s /bin/sh "$ATTACKER_USER"
	ATTACKER_DIR=$(mktemp -d /tmp/scauth-attacker.XXXXXX)
	chmod 755 "$ATTACKER_DIR"
	install -m 644 "$SANDBOX_CA" "$ATTACKER_DIR/ca.pem"
	install -d -m 755 -o "$ATTACKER_USER" "$ATTACKER_DIR/out"
	make_attacker
	local out=$ATTACKER_DIR/out
	# Until the person's own approval, the sandbox approves as the attacker's account.
	sandbox_ctl POST user '{"id":6666,"username":"Mallory","permalink":"mallory","full_name":"M"}' \
		>/dev/null
	setsid setpriv --reuid="$ATTACKER_USER" --regid="$(id -g "$ATTACKER_USER")" --clear-groups \
		env -i PATH="$PATH" HOME=/ bash "$ATTACKER_DIR/attacker" "$out" "$ATTACKER_DIR/ca.pem" \
		"$REDIRECT_PORT" \
		</dev/null >/dev/null 2>"$ATTACKER_DIR/attacker.err" 3>&- &
	ATTACKER_PGID=$!
	# Its first scan, however loaded the machine (other suites run beside this one).
	WAIT_TRIES=1200 wait_for test -s "$out/scans" || fail "the attacker does not scan"
	# A slow browser: it notes its address, lets the attacker scan its command line three
	# times more, then approves as the person and reads and follows the page as a browser
	# does, keeping every address off its command line (curl -K -).
	cat >"$BATS_TEST_TMPDIR/slow-browser" <<-EOF
		#!/bin/bash
		set -eu
		printf '%s\n' "\$1" >"$BATS_TEST_TMPDIR/page"
		want=\$((\$(cat "$out/scans") + 3))
		for ((i = 0; i < 1200; i++)); do
			[ "\$(cat "$out/scans")" -lt "\$want" ] || break
			sleep 0.05
		done
		[ "\$(cat "$out/scans")" -ge "\$want" ] || { echo "the attacker stopped" >&2; exit 1; }
		printf '%s' '{"id":1001,"username":"Test User","permalink":"test-user","full_name":"T"}' |
			curl -sS --fail --cacert "$SANDBOX_CA" -X POST -H 'Content-Type: application/json' \
			--data-binary @- "$SANDBOX_URL/_sandbox/user" >/dev/null
		case \$1 in
		file://*) start=\$("$TOP/tests/lib/page-start" "\$1") ;;
		*) start=\$1 ;;
		esac
		jar=\$(mktemp)
		authz=\$(printf 'url = "%s"\n' "\$start" |
			curl -sS -c "\$jar" -o /dev/null -w '%{redirect_url}' --max-time 10 -K -)
		loc=\$(printf 'url = "%s"\n' "\$authz" |
			curl -sS --cacert "$SANDBOX_CA" -o /dev/null -w '%{redirect_url}' -K -)
		printf 'url = "%s"\n' "\$loc" |
			curl -sS -b "\$jar" -o /dev/null -w '%{http_code}\n' --max-time 10 -K - \
			>"$BATS_TEST_TMPDIR/browser-status"
		rm -f "\$jar"
	EOF
	chmod +x "$BATS_TEST_TMPDIR/slow-browser"
	export BROWSER="$BATS_TEST_TMPDIR/slow-browser"
	run --separate-stderr timeout 120 "$HELPER" login --timeout 90
	touch "$out/stop"
	local attempts seen
	attempts=$(cat "$out/attempts" 2>/dev/null || true)
	seen=$(cat "$out/seen" 2>/dev/null || true)
	[ -z "$attempts" ] || fail "the attacker found something to log in with: $attempts"
	assert_success
	[[ $stderr == *"Logged in as Test User (test-user, soundcloud:users:1001)"* ]] ||
		fail "not logged in as the person: $stderr"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/browser-status")" 200
	run --separate-stderr "$HELPER" status
	assert_success
	[[ $output == *"test-user"* && $output != *"mallory"* ]] || fail "status: $output"
	# The attacker did read the browser's command line: the page, which it could not open.
	local page
	page=$(cat "$BATS_TEST_TMPDIR/page")
	grep -qFx "page $page readable=" <<<"$seen" || fail "the attacker saw: $seen"
	page=${page#file://}
	[ ! -e "$page" ] && [ ! -e "${page%/*}" ] || fail "the page outlived the login"
	assert_equal "$(sandbox_stat token.authorization_code)" 1
}

@test "a second visit to the start address stops the login: another user may have opened it" {
	# Someone who read the start address in /proc opens it first, then the real browser.
	cat >"$BATS_TEST_TMPDIR/raced-browser" <<-EOF
		#!/bin/sh
		curl -s -o /dev/null --max-time 10 "\$("$TOP/tests/lib/page-start" "\$1")"
		BROWSER_LOG="$BATS_TEST_TMPDIR/real-status" "$TOP/tests/lib/browser" "\$1" || true
	EOF
	chmod +x "$BATS_TEST_TMPDIR/raced-browser"
	export BROWSER="$BATS_TEST_TMPDIR/raced-browser"
	run --separate-stderr timeout 60 "$HELPER" login --timeout 30
	assert_equal "$status" 77
	[[ $stderr == *"opened twice"* ]] || fail "no word of the second visit: $stderr"
	[ -z "$(stored access_token)" ]
	assert_equal "$(sandbox_stat token.authorization_code)" 0
}

@test "a redirect with our state but not from the browser that started is refused" {
	# The start address is opened (cookie set), then the redirect arrives without the cookie.
	cat >"$BATS_TEST_TMPDIR/thief-browser" <<-EOF
		#!/bin/sh
		authz=\$(curl -sS -o /dev/null -w '%{redirect_url}' --max-time 10 \
			"\$("$TOP/tests/lib/page-start" "\$1")")
		loc=\$(curl -sS --cacert "$SANDBOX_CA" -o /dev/null -w '%{redirect_url}' "\$authz")
		printf 'url = "%s"\n' "\$loc" | curl -s -o /dev/null --max-time 10 -K -
	EOF
	chmod +x "$BATS_TEST_TMPDIR/thief-browser"
	export BROWSER="$BATS_TEST_TMPDIR/thief-browser"
	run --separate-stderr timeout 60 "$HELPER" login --timeout 30
	assert_equal "$status" 77
	[[ $stderr == *"did not come from the browser"* ]] || fail "no reason given: $stderr"
	[ -z "$(stored access_token)" ]
	assert_equal "$(sandbox_stat token.authorization_code)" 0
}

@test "logging in as another account than the stored one warns" {
	run --separate-stderr "$HELPER" login
	assert_success
	[[ $stderr != *"another SoundCloud account"* ]] || fail "warned on a first login"
	run --separate-stderr "$HELPER" login
	assert_success
	[[ $stderr != *"another SoundCloud account"* ]] || fail "warned for the same account"
	sandbox_ctl POST user '{"id":4242,"username":"Other","permalink":"other-1","full_name":"O"}' \
		>/dev/null
	run --separate-stderr "$HELPER" login
	assert_success
	[[ $stderr == *"Logged in as Other (other-1, soundcloud:users:4242)"* ]]
	[[ $stderr == *"warning: this is another SoundCloud account than the one logged in before (soundcloud:users:1001)"* ]] ||
		fail "no warning: $stderr"
}

@test "login --no-browser starts no browser; a script can take the URL from stderr" {
	cat >"$BATS_TEST_TMPDIR/marker-browser" <<-EOF
		#!/bin/sh
		touch "$BATS_TEST_TMPDIR/browser-ran"
	EOF
	chmod +x "$BATS_TEST_TMPDIR/marker-browser"
	export BROWSER="$BATS_TEST_TMPDIR/marker-browser"
	"$HELPER" login --no-browser --timeout 60 2>"$BATS_TEST_TMPDIR/err" 3>&- &
	HELPER_PID=$!
	wait_for grep -q '^https://' "$BATS_TEST_TMPDIR/err" || fail "no URL on stderr"
	# Play the browser: what tests/lib/browser does, with the URL from stderr.
	"$TOP/tests/lib/browser" "$(grep '^https://' "$BATS_TEST_TMPDIR/err")"
	wait "$HELPER_PID"
	HELPER_PID=
	assert_logged_in
	[ ! -e "$BATS_TEST_TMPDIR/browser-ran" ] || fail "--no-browser ran the browser"
	refute_secrets "$(cat "$BATS_TEST_TMPDIR/err")"
}

@test "login gives up after --timeout with 69" {
	export BROWSER=true
	run --separate-stderr timeout 60 "$HELPER" login --timeout 1
	assert_equal "$status" 69
	[ -z "$(stored access_token)" ]
}

@test "a localhost redirect_uri is a configuration error that names 127.0.0.1" {
	export BROWSER=true
	SOUNDCLOUD_AUTH_REDIRECT_URI="http://localhost:$REDIRECT_PORT/callback" \
		run --separate-stderr timeout 60 "$HELPER" login --timeout 5
	assert_equal "$status" 78
	[[ $stderr == *"use http://127.0.0.1:$REDIRECT_PORT/callback"* ]] ||
		fail "no hint at 127.0.0.1: $stderr"
	[ -z "$(stored access_token)" ]
}

@test "a login the user denies exits 77 with SoundCloud's reason" {
	sandbox_fault '{"endpoint":"authorize","kind":"deny"}'
	run --separate-stderr "$HELPER" login --timeout 60
	assert_equal "$status" 77
	[[ $stderr == *"denied"* ]] || fail "the reason is not shown: $stderr"
	[ -z "$(stored access_token)" ]
}

@test "token prints the stored token and a newline, nothing else" {
	sc_login
	run --separate-stderr "$HELPER" token
	assert_success
	local tok
	tok=$(stored access_token)
	[ "$output" = "$tok" ] || fail "token is not the stored token"
	[ -z "$stderr" ]
	assert_equal "$("$HELPER" token | wc -c)" $((${#tok} + 1))
	assert_equal "$("$HELPER" token | wc -l)" 1
}

@test "header works with curl -H @- against /me" {
	sc_login
	run --separate-stderr bash -c \
		'"$HELPER" header | curl -sS --cacert "$SANDBOX_CA" -H @- "$SANDBOX_URL/me"'
	assert_success
	assert_output --partial '"urn":"soundcloud:users:1001"'
	run bash -c '"$HELPER" header | sed "s/ [^ ]*\$//"'
	assert_output "Authorization: OAuth"
}

@test "header --client-credentials gives curl the app's token" {
	run --separate-stderr bash -c \
		'"$HELPER" header --client-credentials |
			curl -sS --cacert "$SANDBOX_CA" -H @- "$SANDBOX_URL/tracks"'
	assert_success
	assert_output --partial '"grant":"app"'
	# Cached: a second call makes no new exchange.
	run "$HELPER" token --client-credentials
	assert_success
	assert_equal "$(sandbox_stat token.client_credentials)" 1
}

@test "status says who is logged in and until when, never a secret" {
	run --separate-stderr "$HELPER" status
	assert_equal "$status" 77
	assert_output --partial "not logged in"
	sc_login
	run --separate-stderr "$HELPER" status
	assert_success
	assert_output --partial "Test User (test-user, soundcloud:users:1001)"
	assert_output --partial "valid until"
	assert_output --partial "profile:  default"
	refute_secrets "$output$stderr"
}

@test "status --json is one JSON object" {
	sc_login
	run --separate-stderr "$HELPER" status --json
	assert_success
	assert_equal "$(json_get logged_in <<<"$output")" true
	assert_equal "$(json_get user.urn <<<"$output")" "soundcloud:users:1001"
	assert_equal "$(json_get user.access_token <<<"$output")" valid
	assert_equal "$(json_get user.renewable <<<"$output")" true
	assert_equal "$(json_get app <<<"$output")" null
	local in
	in=$(json_get user.expires_in <<<"$output")
	((in > 3500 && in <= 3600)) || fail "expires_in $in"
	refute_secrets "$output"
	"$HELPER" logout 2>/dev/null
	run --separate-stderr "$HELPER" status --json
	assert_equal "$status" 77
	assert_equal "$(json_get logged_in <<<"$output")" false
	assert_equal "$(json_get user <<<"$output")" null
}

@test "login and status show the name and permalink from /me escaped, never raw control bytes" {
	# C1 CSI (U+009B), RLO (U+202E), LRI and PDI (U+2066, U+2069) and a backslash.
	sandbox_ctl POST user '{"id":666,"username":"Mallory\u009b2J\u202eresU\\","permalink":"mallory\u2066x\u2069"}' \
		>/dev/null
	local shown='Mallory\u009b2J\u202eresU\\ (mallory\u2066x\u2069, soundcloud:users:666)'
	run --separate-stderr "$HELPER" login
	assert_success
	[[ $stderr == *"Logged in as $shown"* ]] || fail "login does not show the name escaped: $stderr"
	refute_raw_controls "$stderr" "login"
	run --separate-stderr "$HELPER" status
	assert_success
	[[ $output == *"user:     $shown"* ]] || fail "status does not show the name escaped: $output"
	refute_raw_controls "$output$stderr" "status"
	run --separate-stderr "$HELPER" status --json
	assert_success
	[[ $output == *'"username":"Mallory\u009b2J\u202eresU\\"'* ]] ||
		fail "status --json does not escape the name: $output"
	refute_raw_controls "$output" "status --json"
	assert_equal "$(json_get user.permalink <<<"$output")" $'mallory\xe2\x81\xa6x\xe2\x81\xa9'
	# Another account: the warning names its permalink escaped.
	sandbox_ctl POST user '{"id":667,"username":"Eve","permalink":"eve\u202egnp.exe"}' >/dev/null
	run --separate-stderr "$HELPER" login
	assert_success
	[[ $stderr == *'If you did not mean to log in as eve\u202egnp.exe,'* ]] ||
		fail "the warning does not show the permalink escaped: $stderr"
	refute_raw_controls "$stderr" "the warning"
	# C0 controls (ESC, BEL): such names are dropped when /me is read.
	sandbox_ctl POST user '{"id":668,"username":"\u001b[2Jevil","permalink":"e\u001b]0;x\u0007"}' \
		>/dev/null
	run --separate-stderr "$HELPER" login
	assert_success
	[[ $stderr == *"Logged in as ? (?, soundcloud:users:668)"* ]] || fail "login: $stderr"
	refute_raw_controls "$stderr" "login"
}

@test "api prints the body; a non-2xx status exits 1 with the body still on stdout" {
	sc_login
	run --separate-stderr "$HELPER" api /me
	assert_success
	assert_output --partial '"permalink":"test-user"'
	run --separate-stderr "$HELPER" api /no-such-thing
	assert_equal "$status" 1
	assert_output --partial '"code":404'
	assert_equal "$stderr" "git-credential-soundcloud: HTTP 404"
}

@test "api sends bodies from -d, @FILE and @-, with -X and a Content-Type" {
	sc_login
	run --separate-stderr "$HELPER" api -d '{"a":1}' /tracks
	assert_success
	assert_equal "$(json_get method <<<"$output")" POST
	assert_equal "$(json_get body_bytes <<<"$output")" 7
	printf 'title=x' >"$BATS_TEST_TMPDIR/body"
	run --separate-stderr "$HELPER" api -X PUT \
		-H 'Content-Type: application/x-www-form-urlencoded' \
		-d "@$BATS_TEST_TMPDIR/body" /tracks/1
	assert_success
	assert_equal "$(json_get method <<<"$output")" PUT
	assert_equal "$(json_get path <<<"$output")" /tracks/1
	run --separate-stderr "$HELPER" api -d @- /playlists < <(printf '{"p":[1,2,3]}')
	assert_success
	assert_equal "$(json_get body_bytes <<<"$output")" 13
	run --separate-stderr "$HELPER" api -X DELETE /tracks/1
	assert_success
	assert_equal "$(json_get method <<<"$output")" DELETE
	run --separate-stderr "$HELPER" api -d "@$BATS_TEST_TMPDIR/missing" /tracks
	assert_equal "$status" 1
}

@test "api recovers from a revoked access token with one refresh" {
	sc_login
	sandbox_ctl POST revoke '{"what":"access"}' >/dev/null
	run --separate-stderr "$HELPER" api /me
	assert_success
	assert_output --partial '"urn":"soundcloud:users:1001"'
	assert_equal "$(sandbox_stat token.refresh_token)" 1
}

@test "logout signs out at the server and erases the tokens" {
	sc_login
	run --separate-stderr "$HELPER" logout
	assert_success
	[[ $stderr == *"Logged out"* ]]
	assert_equal "$(sandbox_stat signout)" 1
	[ -z "$(stored access_token)" ] && [ -z "$(stored refresh_token)" ] || fail "tokens left"
	run "$HELPER" token
	assert_equal "$status" 77
}

@test "logout with the server unreachable erases locally and exits 69" {
	sc_login
	sc_write_config "signout_url = https://127.0.0.1:$(free_port)/sign-out"
	run --separate-stderr "$HELPER" logout
	assert_equal "$status" 69
	[[ $stderr == *"local tokens erased"* ]] || fail "does not say what happened: $stderr"
	[ -z "$(stored refresh_token)" ] || fail "the local grant is still there"
}

@test "exit 64: usage errors say what is wrong in one line" {
	local args
	# (An unknown lowercase word is a usage error only at a terminal: git-credential.bats.)
	for args in "" "Frobnicate" "frob-nicate" "--bogus token" "--profile" "token --bogus" \
		"login --timeout 0" "login --timeout x" "status --yaml" "api" "api /a /b" \
		"api -X" "api -X get /me" "api -H X-Other:1 /me" "logout now"; do
		# shellcheck disable=SC2086
		run --separate-stderr "$HELPER" $args
		assert_equal "$status" 64
		[ -z "$output" ] || fail "usage error wrote to stdout: $args"
		assert_equal "$(wc -l <<<"$stderr")" 1
		[[ $stderr == *"--help"* ]] || fail "no hint: $stderr"
	done
	# A full URL would take the token off api_url's origin.
	sc_login
	local before
	before=$(sandbox_stat api)
	run --separate-stderr "$HELPER" api "https://evil.example/me"
	assert_equal "$status" 64
	assert_equal "$(sandbox_stat api)" "$before"
}

@test "exit 77: login required, with the hint naming the profile" {
	run --separate-stderr "$HELPER" token
	assert_equal "$status" 77
	[ -z "$output" ]
	[[ $stderr == *"run 'git-credential-soundcloud login'"* ]]
	run --separate-stderr "$HELPER" --profile work header
	assert_equal "$status" 77
	[[ $stderr == *"--profile work login"* ]]
	run --separate-stderr "$HELPER" api /me
	assert_equal "$status" 77
}

@test "exit 77: a grant the server no longer knows" {
	sc_login
	sandbox_ctl POST revoke '{"what":"all"}' >/dev/null
	run --separate-stderr "$HELPER" api /me
	assert_equal "$status" 77
	refute_secrets "$stderr"
}

@test "exit 77: an unreadable stored record; a new login replaces it" {
	sc_login
	printf 'not a token record\n' >"$XDG_STATE_HOME/soundcloud-auth/default.user"
	run --separate-stderr "$HELPER" token
	assert_equal "$status" 77
	[ -z "$output" ]
	[[ $stderr == *default.user* ]]
	sc_login
	run --separate-stderr "$HELPER" token
	assert_equal "$status" 0
}

@test "exit 78: no client_id configured" {
	{
		cat "$SANDBOX_DIR/config"
		printf 'redirect_uri = %s\n' "$REDIRECT_URI"
	} >"$SC_CONFIG"
	run --separate-stderr "$HELPER" login --no-browser --timeout 5
	assert_equal "$status" 78
	[[ $stderr == *client_id* ]]
	# The verb names itself once: the library's message carries no prefix of its own.
	[[ $stderr == *"login: client_id is not set"* && $stderr != *"login: login:"* ]] ||
		fail "the message repeats its prefix: $stderr"
}

@test "exit 78: a store file others can read" {
	sc_login
	chmod 0644 "$XDG_STATE_HOME/soundcloud-auth/default.user"
	run --separate-stderr "$HELPER" token
	assert_equal "$status" 78
	[ -z "$output" ]
}

@test "exit 69: the token endpoint answers 503" {
	sc_login
	erase_current
	sandbox_fault '{"endpoint":"token","kind":"503"}'
	run --separate-stderr "$HELPER" token
	assert_equal "$status" 69
	[ -z "$output" ]
	# The grant survives a server outage.
	[ -n "$(stored refresh_token)" ]
	run "$HELPER" token
	assert_success
}

@test "exit 69: nobody listening at api_url" {
	sc_login
	sc_write_config "api_url = https://127.0.0.1:$(free_port)"
	run --separate-stderr "$HELPER" api /me
	assert_equal "$status" 69
	[ -z "$output" ]
}

@test "exit 75: client credentials rate limited (429), and the next call fails fast" {
	sandbox_fault '{"endpoint":"token","kind":"429","reset_in":3600}'
	run --separate-stderr "$HELPER" token --client-credentials
	assert_equal "$status" 75
	[ -z "$output" ]
	run --separate-stderr "$HELPER" token --client-credentials
	assert_equal "$status" 75
	assert_equal "$(sandbox_stat token.client_credentials)" 1
}

@test "--version and --help" {
	run "$HELPER" --version
	assert_success
	assert_output --regexp '^git-credential-soundcloud [0-9]+\.[0-9]+\.[0-9]+$'
	run "$HELPER" --help
	assert_success
	assert_output --partial "usage: git-credential-soundcloud"
	assert_output --partial "77 login required"
	run "$HELPER" login --help
	assert_success
	assert_output --partial "--paste"
}

@test "--profile and --config choose the grant and the file" {
	run --separate-stderr "$HELPER" --profile work login
	assert_success
	assert_logged_in work
	run "$HELPER" status
	assert_equal "$status" 77
	run "$HELPER" --profile=work status
	assert_success
	mv "$SC_CONFIG" "$BATS_TEST_TMPDIR/elsewhere.conf"
	run --separate-stderr "$HELPER" --config "$BATS_TEST_TMPDIR/elsewhere.conf" --profile work \
		api /me
	assert_success
	assert_output --partial "test-user"
}

@test "SOUNDCLOUD_AUTH_TRACE traces to stderr without secrets" {
	sc_login
	erase_current
	SOUNDCLOUD_AUTH_TRACE=1 run --separate-stderr "$HELPER" api /me
	assert_success
	grep -q '^soundcloud-auth: ' <<<"$stderr" || fail "no trace lines"
	refute_secrets "$stderr"
	SOUNDCLOUD_AUTH_TRACE=0 run --separate-stderr "$HELPER" api /me
	[ -z "$stderr" ] || fail "trace with SOUNDCLOUD_AUTH_TRACE=0"
}
