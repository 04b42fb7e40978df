#!/usr/bin/env bats
# Phone logins at a kiosk (mode=relay) under the login programs a kiosk really runs, with the
# shipped example stack (examples/pam.d/soundcloud-kiosk) read by real libpam from /etc/pam.d
# in a mount namespace of the test's (tests/lib/real.bash): login(1) on an 80x25 tmux, and
# LightDM with lightdm-gtk-greeter under Xvfb.  The person reads the code off the screen (the
# greeter's with OCR), logs in on the phone (curl, tests/lib/kiosk-relay.bash) through SoundCloud
# (the sandbox), presses Enter; the session gets the token; logout wipes.  The pairing waits in a
# real PostgreSQL.

load '../lib/common'
load '../lib/postgres'
load '../lib/pam'
load '../lib/real'
load '../lib/relay'
load '../lib/kiosk-relay'

setup_file() {
	kr_suite_setup
}

teardown_file() {
	kr_suite_teardown
}

setup() {
	real_require login tmux lightdm lightdm-gtk-greeter Xvfb xdotool import tesseract \
		dbus-daemon strace
	sc_isolate
	sandbox_reset
	kr_reset
	pam_setup
	mapfile -t KIOSK_LINES < <(kr_kiosk_lines)
	pam_write_config "$PAM_CONF" "${KIOSK_LINES[@]}"
	real_setup
	real_session_script
	real_lightdm_session
}

teardown() {
	real_teardown
	real_refute_secrets
	refute_pam_secrets "$(kr_audit 2>/dev/null)"
}

CODE_RE="[$RELAY_CODE_ALPHABET]{4}-[$RELAY_CODE_ALPHABET]{4}"

@test "login(1) mode=relay: the code and a QR code fit 80x24, the phone logs in, Enter, logout wipes" {
	real_example_service login mode=relay timeout=120 qr
	real_tty_start login "$KIOSK_USER"
	real_wait "the code on the screen" real_screen_has "and enter $CODE_RE" || fail "$(real_screen)"
	real_wait "the prompt" real_screen_has "Press Enter when you have logged in on your phone"
	real_screen >"$REAL_DIR/screen"
	grep -q "On your phone open $KR_SHOWN and enter" "$REAL_DIR/screen" ||
		fail "the line: $(cat "$REAL_DIR/screen")"
	grep -q '[▀▄█]' "$REAL_DIR/screen" || fail "no QR code on the console: $(cat "$REAL_DIR/screen")"
	[[ $(real_history) -eq 0 ]] || fail "the screen scrolled: $(real_scrollback)"
	local code
	code=$(grep -oE "and enter $CODE_RE" "$REAL_DIR/screen" | head -n1)
	code=${code#and enter }
	kr_phone "$code"
	real_enter_until real_tty_enter real_store_there || fail "no session: $(real_screen)"
	kiosk_tty_work_and_logout
	assert_equal "$(sandbox_stat token.authorization_code)" 1
	[[ -z $(kr_rows) ]] || fail "the pairing is still there: $(kr_rows)"
}

# greeter_code PERCENT: the code as a person reads it on a new screenshot: tesseract on
# real_ocr's image at that size, told what characters a code may hold, as the person knows from
# the relay's page (no braces, no look-alikes such as O, I or 1).  It reads no blanks then: none
# are looked for.
greeter_code() {
	real_shot greeter-code
	real_ocr greeter-code "$1" >/dev/null
	tesseract "$REAL_DIR/greeter-code.ocr.png" - --psm 4 \
		-c tessedit_char_whitelist="abcdefghijklmnopqrstuvwxyz:./-${RELAY_CODE_ALPHABET}" 2>/dev/null |
		tr -d ' \n' | grep -oE "enter$CODE_RE" | head -n1 | sed 's/^enter//'
}

@test "LightDM mode=relay: the code read off the greeter, the phone logs in, Enter starts the session; logout wipes" {
	[[ -z $(real_asan) ]] ||
		skip "LightDM hangs with the ASan runtime preloaded: run on the plain build"
	real_example_service lightdm mode=relay timeout=120 qr
	greeter_login
	real_wait "the code at the greeter" real_greeter_says "On your phone open" ||
		fail "the greeter shows: $(real_ocr greeter-now)"
	# The prompt's text is the entry's placeholder, hidden while the entry has the focus.
	real_wait "the prompt at the greeter" grep -q 'Press Enter when you have logged in' \
		"$LD/greeter.trace"
	# No QR code at a graphical greeter (U+2580, U+2584, U+2588 as strace shows their UTF-8).
	! grep -qE '\\342\\226\\2(00|04|10)' "$LD/greeter.trace" ||
		fail "the greeter was sent a QR code"
	# What the greeter was sent, to judge the reading by.
	local sent code shot
	sent=$(grep -oE "and enter $CODE_RE" "$LD/greeter.trace" | head -n1)
	sent=${sent#and enter }
	[[ -n $sent ]] || fail "no code in what the greeter was sent"
	# A person reads the screen for more than one frame, and looks closer when unsure: at most
	# 6 shots, each seen at a new size.  On Debian 13 tesseract drops a J in 1 code in 12 at
	# twice the size (the screen's own pixels are the same), and reads it at 2.5, 3 or 4 times.
	local percent
	for percent in 300 250 400 350 200 450; do
		code=$(greeter_code "$percent")
		[[ $code == "$sent" ]] && break
	done
	[[ $code == "$sent" ]] || fail "read '$code' off the greeter, which was sent '$sent'"
	kr_phone "$code"
	real_enter_until greeter_enter real_session_ran || {
		real_shot stuck
		fail "no session; the greeter shows: $(real_ocr stuck)"
	}
	session_ran_and_logged_out
	assert_equal "$(sandbox_stat token.authorization_code)" 1
	[[ -z $(kr_rows) ]] || fail "the pairing is still there: $(kr_rows)"
}
