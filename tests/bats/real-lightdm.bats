#!/usr/bin/env bats
# pam_soundcloud.so under LightDM with lightdm-gtk-greeter, the display manager of a kiosk:
# LightDM runs as root with a config of the test's own, Xvfb as its X server, a private system
# bus, and the shipped example stack (examples/pam.d/soundcloud-kiosk) as its PAM service
# "lightdm" in a mount namespace of the test's (tests/lib/real.bash).  xdotool types at the
# greeter; what the greeter shows is read back from a screenshot with OCR; the person plays
# the browser against the sandbox and answers the prompt; the session (a script of the test's)
# gets the token through the helper and ends, which logs out; the sandbox records the wipe.

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
	real_require lightdm lightdm-gtk-greeter Xvfb xdotool import tesseract dbus-daemon strace
	# tests/run does not start this suite for a sanitizer build, and says so.
	[[ -z $(real_asan) ]] ||
		skip "LightDM hangs with the ASan runtime preloaded: run on the plain build"
	sc_isolate
	sandbox_reset
	pam_setup
	real_setup
	real_session_script
	real_lightdm_session
}

teardown() {
	real_teardown
	real_refute_secrets
}

@test "LightDM: a pasted answer at the greeter's prompt starts the session by itself; logout wipes" {
	real_example_service lightdm mode=paste
	greeter_login
	real_wait "the login address at the greeter" real_greeter_url
	real_wait "the prompt on the screen" real_greeter_says 'SoundCloud'
	real_shot greeter-prompt
	# The person logs in with the browser and pastes where it sent them: typed from a file
	# (the code is a secret: never on xdotool's command line).
	local loc
	loc=$(pam_redirect_for "$(real_greeter_url)")
	[[ $loc == "$REDIRECT_URI?"* ]] || fail "no redirect from the sandbox"
	(umask 077 && printf '%s' "$loc" >"$REAL_DIR/paste")
	xdotool type --delay 2 --file "$REAL_DIR/paste"
	rm -f "$REAL_DIR/paste"
	xdotool key Return
	session_ran_and_logged_out
	assert_equal "$(sandbox_stat token.authorization_code)" 1
}

@test "LightDM with the example's options (listen, qr): a legible address, Enter starts the session, never a hang" {
	real_example_service lightdm
	greeter_login
	# A message over 1024 bytes (a QR code) hangs lightdm-gtk-greeter: then nothing shows.
	real_wait "the login address at the greeter" real_greeter_url
	real_wait "the greeter to show the login and its prompt" \
		real_greeter_says 'SoundCloud.*(Enter|enter)|(Enter|enter).*SoundCloud'
	real_shot greeter-prompt
	# No QR code at a graphical greeter (U+2580, U+2584, U+2588 as strace shows their UTF-8).
	! grep -qE '\\342\\226\\2(00|04|10)' "$LD/greeter.trace" ||
		fail "the greeter was sent a QR code"
	local url
	url=$(real_greeter_url)
	# A person reads the screen for more than one frame, and looks closer when unsure: a shot
	# taken while the greeter was still drawing is taken again (at most 5 shots, each seen at a
	# new size), and the last one's reading is judged.
	local shot=0 percent
	for percent in 200 300 250 400 350; do
		((shot++ == 0)) || real_shot greeter-prompt
		real_legible greeter-prompt "$url" "$percent" 2>>"$REAL_DIR/legible.log" && break
		((shot < 5)) || fail "the address is not legible on the greeter: $(cat "$REAL_DIR/legible.log")"
	done
	real_browser_then_enter "$url" greeter_enter real_session_ran ||
		fail "no session after the login and Enter"
	session_ran_and_logged_out
	assert_equal "$(sandbox_stat token.authorization_code)" 1
}
