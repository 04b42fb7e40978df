#!/usr/bin/env bats
# pam_soundcloud.so under the text-console login programs a kiosk really runs: login(1) and
# su(1), as root, on an 80x25 tmux (the pane is 80x24; one test on a larger one), with the shipped example stack
# (examples/pam.d/soundcloud-kiosk) as their own PAM service in a mount namespace of the
# test's (tests/lib/real.bash).  The person reads the screen, plays the browser against the
# sandbox, works in the session (a tool gets the token) and logs out; the sandbox records the
# wipe's sign-out.

load '../lib/common'
load '../lib/pam'
load '../lib/real'

setup_file() {
	sc_setup_file
	pam_suite_setup
}

teardown_file() {
	pam_suite_teardown
	sc_teardown_file
}

setup() {
	real_require login su tmux
	sc_isolate
	sandbox_reset
	pam_setup
	real_setup
	real_session_script
}

teardown() {
	real_teardown
	refute_pam_secrets "$(cat "$PAM_LOG" 2>/dev/null)"
	[[ -z ${REAL_TMUX:-} || ! -f $REAL_DIR/screen ]] ||
		refute_pam_secrets "$(cat "$REAL_DIR/screen")"
}

# kiosk_tty_login CMD...: CMD (login or su) on the pty; the person opens the address shown on
# the screen (scrolled back to, if need be: what fits the screen is another test's) in the
# browser and presses Enter (the answer to a "press Enter" prompt; harmless
# where there is none); waits until the session has handed the tokens over.
kiosk_tty_login() {
	real_tty_start "$@"
	real_wait "the login address on the screen" real_screen_url all || {
		real_scrollback >&2
		return 1
	}
	local url
	url=$(real_screen_url all)
	real_browser_then_enter "$url" real_tty_enter real_store_there || {
		echo "no session; the browser: $(cat "$REAL_DIR/browser.out")" >&2
		real_scrollback >&2
		return 1
	}
}

@test "login(1): the kiosk user logs in with the example stack, a tool gets the token, logout wipes" {
	real_example_service login
	kiosk_tty_login login "$KIOSK_USER"
	real_screen >"$REAL_DIR/screen"
	kiosk_tty_work_and_logout
	assert_equal "$(sandbox_stat token.authorization_code)" 1
}

# qr_rows: the rows of the QR code on the saved screen (half blocks, U+2580, U+2584, U+2588).
qr_rows() {
	grep -c '[▀▄█]' "$REAL_DIR/screen" || true
}

@test "login(1) on 80x24: nothing the person must read scrolls away; no room for the QR code, and it says so" {
	# A 260-character authorize URL makes a QR code of some 31 rows: it can never fit 24 lines
	# with the address, so the module leaves it out there and says so.
	real_example_service login
	real_tty_start login "$KIOSK_USER"
	real_wait "the login address on the screen" real_screen_url || fail "$(real_screen)"
	real_wait "the waiting text" real_screen_has 'Press Enter after logging in:' ||
		fail "no prompt on the screen: $(real_screen)"
	real_screen >"$REAL_DIR/screen"
	# Nothing the person must read has scrolled off: the screen holds all of it.
	assert_equal "$(real_history)" 0
	grep -q 'Press Enter here after logging in (waiting up to [0-9]* s)' "$REAL_DIR/screen" ||
		fail "no waiting time on the screen: $(cat "$REAL_DIR/screen")"
	grep -q 'no room for the QR code here' "$REAL_DIR/screen" ||
		fail "the screen does not say why there is no QR code: $(cat "$REAL_DIR/screen")"
	assert_equal "$(qr_rows)" 0
	local url
	url=$(real_screen_url)
	[[ -n $url ]] || fail "the address is not whole on the screen"
	real_browser_then_enter "$url" real_tty_enter real_store_there || fail "$(real_screen)"
	kiosk_tty_work_and_logout
}

@test "login(1) on a 100x50 terminal: the whole QR code and the address are on the screen together" {
	real_example_service login
	REAL_TTY_SIZE=100x51 real_tty_start login "$KIOSK_USER"
	real_wait "the login address on the screen" real_screen_url || fail "$(real_screen)"
	real_wait "the prompt" real_screen_has 'Press Enter after logging in:' ||
		fail "no prompt on the screen: $(real_screen)"
	real_screen >"$REAL_DIR/screen"
	assert_equal "$(real_history)" 0
	grep -q 'Scan the code, or open this address:' "$REAL_DIR/screen" ||
		fail "no QR code announced: $(cat "$REAL_DIR/screen")"
	local url qr width
	url=$(real_screen_url)
	[[ -n $url ]] || fail "the address is not whole on the screen"
	qr=$(qr_rows)
	((qr >= 10)) || fail "no QR code on the screen: $(cat "$REAL_DIR/screen")"
	# The half-block QR is as high as it is wide, halved: every row of it is on the screen.
	# Characters, not bytes, whatever the caller's locale (a fresh system's is C).
	width=$(grep '[▀▄█]' "$REAL_DIR/screen" | head -n1 | sed 's/^ *//; s/ *$//' |
		LC_ALL=C.UTF-8 wc -m)
	((qr * 2 >= width - 2)) || fail "the QR code is cut: $qr rows for $width columns"
	real_browser_then_enter "$url" real_tty_enter real_store_there || fail "$(real_screen)"
	kiosk_tty_work_and_logout
}

@test "su - kioskuser: the module's login, tokens in the session, wiped when the shell exits" {
	# util-linux su uses the service su-l for a login shell (su -), su otherwise.
	real_example_service su-l mode=listen timeout=60
	cp "$REAL_PAMD/su-l" "$REAL_PAMD/su"
	kiosk_tty_login su - "$KIOSK_USER"
	real_screen >"$REAL_DIR/screen"
	kiosk_tty_work_and_logout
	assert_equal "$(sandbox_stat token.authorization_code)" 1
}

# login_refused USER: login(1) for USER on a new pty until it says "Login incorrect"; prints
# the screen with USER written as USER.
login_refused() {
	real_tty_start login "$1"
	real_wait "login to refuse $1" real_screen_has 'Login incorrect' || fail "$(real_screen)"
	real_screen | sed "s/$1/USER/g"
	tmux -S "$REAL_TMUX" kill-server 2>/dev/null
	real_wait "login to end" real_tty_gone
}

@test "login(1): a local user that the map lets nobody in as looks like an unknown one" {
	real_example_service login
	local known unknown
	known=$(login_refused nobody)
	unknown=$(login_refused "nosuch$(random_id | cut -c1-8)")
	[[ $known == "$unknown" ]] ||
		fail "the screens differ: for a user without a map rule: $known; for an unknown one: $unknown"
	assert_equal "$(sandbox_stat authorize)" 0
}
