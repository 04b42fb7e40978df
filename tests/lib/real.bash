# real.bash - helpers for the suites that put pam_soundcloud.so under the login programs kiosks
# really run: shadow's (or util-linux's) login(1) and su(1) on a tmux pty, LightDM with its GTK
# greeter under Xvfb.  Load it after common.bash and pam.bash.
#
# These programs take their PAM service name from their own code ("login", "su", "su-l",
# "lightdm"), and read it from /etc/pam.d.  The system's files are never changed: each program
# runs in a mount namespace of its own (unshare -m, private propagation) in which a copy of
# /etc/pam.d that the test wrote is bind-mounted over /etc/pam.d, and /dev/null over /dev/tty0
# (LightDM switches virtual terminals through it: in the namespace it cannot touch the machine's
# console).  What a test starts is noted in $REAL_DIR/pids and killed by real_teardown, also when
# the test failed.  Waits are for events (a file, a log line, a window, the sandbox's record of
# a request), bounded by REAL_WAIT seconds, never fixed sleeps.
#
# REAL_KEEP=DIR keeps each test's screenshots, screens and LightDM logs in DIR/N.

REAL_WAIT=${REAL_WAIT:-30}

# real_require CMD...: skips the test unless it runs as root with every CMD installed.
real_require() {
	[[ $EUID -eq 0 ]] || skip "needs root: the login programs run as root"
	local c
	for c in unshare "$@"; do
		command -v "$c" >/dev/null || skip "$c is not installed (scripts/deps installs it)"
	done
}

# real_asan: the environment (NAME=VALUE words for env) that puts the ASan runtime first in
# login or su, for an ASan-built module (they are not built so; sshd gets the same in
# tests/lib/sshd.bash); nothing for the plain build.  Leak checks are off: the programs' own
# allocations are not ours to judge.  login and su clear the environment for the user's shell,
# so the preload goes no further.  LightDM hangs at its start with the ASan runtime preloaded
# (even lightdm --test-mode): tests/run says its suite is not applicable to a sanitizer build.
real_asan() {
	readelf -d "$PAM_MODULE" 2>/dev/null | grep -q 'NEEDED.*libasan' || return 0
	printf '%s\n' "LD_PRELOAD=$(readlink -f "$("${CC:-gcc}" -print-file-name=libasan.so)")" \
		"ASAN_OPTIONS=detect_leaks=0"
}

# real_setup: per test, after pam_setup.  REAL_DIR (world-searchable, for the kiosk user's
# session), REAL_PAMD (the test's /etc/pam.d: a copy of the system's, services to be replaced),
# and a marker directory of the kiosk user's own, for what the session reports.
real_setup() {
	REAL_DIR=$PAM_DIR/t$BATS_TEST_NUMBER/real
	rm -rf "$REAL_DIR"
	mkdir -m 755 "$REAL_DIR"
	: >"$REAL_DIR/pids"
	REAL_PAMD=$REAL_DIR/pam.d
	mkdir -m 755 "$REAL_PAMD"
	cp -a /etc/pam.d/. "$REAL_PAMD/"
	REAL_MARK=$REAL_DIR/mark
	mkdir -m 700 "$REAL_MARK"
	chown "$KIOSK_UID:$KIOSK_GID" "$REAL_MARK"
	export REAL_DIR REAL_PAMD REAL_MARK
}

# real_teardown: stops everything this test started (the recorded pids and their process
# groups, TERM and then KILL), the kiosk user's processes, and checks nothing is left.
real_teardown() {
	[[ -n ${REAL_DIR:-} && -f $REAL_DIR/pids ]] || return 0
	if [[ -n ${REAL_KEEP:-} ]]; then   # REAL_KEEP=DIR: keep the screenshots and logs there
		mkdir -p "$REAL_KEEP/$BATS_TEST_NUMBER"
		cp "$REAL_DIR"/*.png "$REAL_DIR"/*.txt "$REAL_DIR"/screen* "$REAL_KEEP/$BATS_TEST_NUMBER/" \
			2>/dev/null
		[[ -z ${LD:-} ]] || cp -r "$LD/log" "$LD/lightdm.out" "$LD/greeter.trace" \
			"$REAL_KEEP/$BATS_TEST_NUMBER/" 2>/dev/null
	fi
	[[ -z ${REAL_TMUX:-} ]] || tmux -S "$REAL_TMUX" kill-server 2>/dev/null
	local pid i alive
	while read -r pid; do
		[[ -n $pid ]] && kill -TERM "$pid" 2>/dev/null
	done <"$REAL_DIR/pids"
	for ((i = 0; i < 100; i++)); do
		alive=
		while read -r pid; do
			[[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && alive=1
		done <"$REAL_DIR/pids"
		[[ -n $alive ]] || break
		sleep 0.05
	done
	while read -r pid; do
		[[ -n $pid ]] && kill -KILL "$pid" 2>/dev/null
	done <"$REAL_DIR/pids"
	pkill -KILL -u "$KIOSK_USER" 2>/dev/null
	# The X server of a PID namespace that was killed leaves its lock and socket behind.
	if [[ -n ${LD_DISPLAY:-} ]]; then
		rm -f "/tmp/.X${LD_DISPLAY#:}-lock" "/tmp/.X11-unix/X${LD_DISPLAY#:}"
	fi
	: >"$REAL_DIR/pids"
	return 0
}

# real_note PID...: kills PID at teardown.
real_note() {
	printf '%s\n' "$@" >>"$REAL_DIR/pids"
}

# real_service NAME LINES...: a service of the test's /etc/pam.d; MODULE in a line is our
# module with its test arguments (config=, stagedir=).
real_service() {
	local name=$1 line
	shift
	for line in "$@"; do printf '%s\n' "${line//MODULE/$PAM_MODULE $PAM_ARGS}"; done \
		>"$REAL_PAMD/$name"
}

# real_example_service NAME [AUTH_ARGS...]: the shipped examples/pam.d/soundcloud-kiosk as
# service NAME, with our module, its test arguments and map in place of pam_soundcloud.so, and
# AUTH_ARGS in place of the auth line's own options when given.
real_example_service() {
	local name=$1
	shift
	local args="$*" type rest
	: >"$REAL_PAMD/$name"
	while IFS= read -r line; do
		case $line in
		'#'* | '') continue ;;
		esac
		if [[ $line == *pam_soundcloud.so* ]]; then
			read -r type _ <<<"$line"
			rest=${line#*pam_soundcloud.so}
			case $type in
			auth) [[ -z $args ]] || rest=" $args"
				line="auth required $PAM_MODULE $PAM_ARGS map=$PAM_MAP$rest" ;;
			account) line="account required $PAM_MODULE $PAM_ARGS map=$PAM_MAP$rest" ;;
			session) line="session required $PAM_MODULE $PAM_ARGS$rest" ;;
			esac
		fi
		printf '%s\n' "$line" >>"$REAL_PAMD/$name"
	done <"$TOP/examples/pam.d/soundcloud-kiosk"
}

# real_ns CMD...: CMD in a mount namespace of its own where /etc/pam.d is REAL_PAMD and
# /dev/tty0 is /dev/null, and each SRC:DST of REAL_NS_BINDS is bound over DST.  Its
# descriptor 3 (bats') is closed: daemons must not hold it.  unshare execs CMD in its own
# process: $! of a real_ns in the background is CMD's pid.  With REAL_NS_PID=1, CMD runs in a
# PID namespace of its own, under a shell as its first process, which passes on a TERM (that
# unshare, $!, passes on to it) and ends when CMD ends: then the kernel kills every process
# left in the namespace (a display manager's X server, greeter, sessions), also when the test
# failed.  (CMD is not the first process itself: that one gets no signal from its own
# children, and an X server signals its parent when it is ready.)
real_ns() {
	local pidns=() run='exec "$@"'
	if [[ -n ${REAL_NS_PID:-} ]]; then
		pidns=(--pid --fork --mount-proc --kill-child=TERM)
		# shellcheck disable=SC2016 # for the shell in the namespace
		run='"$@" & pid=$!; trap "kill -TERM \$pid" TERM INT; wait $pid; wait $pid'
	fi
	# shellcheck disable=SC2016 # for the shell in the namespace
	unshare --mount --propagation private "${pidns[@]}" -- /bin/sh -c '
		mount --bind "$1" /etc/pam.d || exit 125
		[ ! -e /dev/tty0 ] || mount --bind /dev/null /dev/tty0 || exit 125
		for b in $2; do mount --bind "${b%%:*}" "${b#*:}" || exit 125; done
		shift 2
		'"$run" real-ns "$REAL_PAMD" "${REAL_NS_BINDS:-}" "$@" 3>&-
}

# real_wait WHAT CMD...: waits until CMD succeeds, at most REAL_WAIT seconds; says WHAT it
# waited for when it gives up.
real_wait() {
	local what=$1 end=$((SECONDS + REAL_WAIT))
	shift
	while ((SECONDS < end)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	"$@" >/dev/null 2>&1 && return 0
	echo "real_wait: gave up after ${REAL_WAIT}s waiting for $what" >&2
	return 1
}

# real_browser_then_enter URL KEYCMD DONE...: the person logs in with the browser (in the
# background: a module that takes the redirect only after the Enter keeps the browser's last
# request waiting), and once SoundCloud has approved (the sandbox's record of the authorize
# request) presses Enter with KEYCMD, again while the login is not DONE (a module may ask
# again when Enter came before the browser's redirect), at most REAL_WAIT seconds.  A module
# that needs no Enter finishes by itself; the Enter then goes to whatever has the keyboard.
real_browser_then_enter() {
	local url=$1 key=$2
	shift 2
	pam_browser "$url" >"$REAL_DIR/browser.out" 2>&1 3>&- &
	real_note $!
	real_wait "SoundCloud's approval in the browser" real_authorized || return 1
	"$@" && return 0
	real_enter_until "$key" "$@"
}

# real_enter_until KEYCMD DONE...: presses Enter with KEYCMD until DONE, at most REAL_WAIT
# seconds (a module asks again when Enter came before the login reached it).
real_enter_until() {
	local key=$1 end=$((SECONDS + REAL_WAIT)) i
	shift
	while ((SECONDS < end)); do
		$key
		for ((i = 0; i < 20; i++)); do
			"$@" && return 0
			sleep 0.05
		done
	done
	"$@"
}

# real_lightdm_session: LightDM's session ($REAL_DIR/session) runs the check, then ends, which
# is the logout.
real_lightdm_session() {
	printf '#!/bin/sh\n"%s" >"%s/session.out" 2>&1\n' "$REAL_CHECK" "$REAL_MARK" \
		>"$REAL_DIR/session"
	chmod 755 "$REAL_DIR/session"
}

# real_refute_secrets: no secret in the module's log, nor in LightDM's when it ran.
real_refute_secrets() {
	refute_pam_secrets "$(cat "$PAM_LOG" 2>/dev/null)"
	[[ -z ${LD:-} || ! -f $LD/lightdm.out ]] || refute_pam_secrets "$(cat "$LD"/lightdm.out \
		"$LD"/log/*.log 2>/dev/null)"
}

# real_authorized: the sandbox has answered an authorize request.
real_authorized() {
	[[ $(sandbox_stat authorize) -ge 1 ]]
}

# real_tty_enter: Enter on the pty.
real_tty_enter() {
	tmux -S "$REAL_TMUX" send-keys -t 0 Enter
}

# real_store_there: the kiosk user's store has the tokens (the session has opened).
real_store_there() {
	[[ -f $(kiosk_store) ]]
}

# real_signed_out N: the sandbox has recorded N sign-outs.
real_signed_out() {
	[[ $(sandbox_stat signout) == "$1" ]]
}

# real_session_script: writes $REAL_DIR/session-check, which the kiosk user's session runs:
# the user's own helper gets a token (refreshed if it must be); the SHA-256 of that token and
# of the one in the user's store go to the marker directory (never a token itself), with a copy
# of the store for the tests' secret checks; it prints "SESSION-OK uid=N".  Sets REAL_CHECK.
real_session_script() {
	REAL_CHECK=$REAL_DIR/session-check
	cat >"$REAL_CHECK" <<EOF
#!/bin/sh
# In the kiosk user's session: a tool gets its SoundCloud token from the session's store.
umask 077
tok=\$("$KIOSK_HELPER" token) || { echo "SESSION-FAIL helper \$?"; exit 1; }
store="\$HOME/.local/state/soundcloud-auth/default.user"
cp "\$store" "$REAL_MARK/store.copy"
awk '\$1 == "access_token" { printf "%s", \$2 }' "\$store" | sha256sum | cut -c1-64 \
	>"$REAL_MARK/store.sha256"
printf '%s' "\$tok" | sha256sum | cut -c1-64 >"$REAL_MARK/token.sha256.tmp"
id -u >"$REAL_MARK/uid"
mv "$REAL_MARK/token.sha256.tmp" "$REAL_MARK/token.sha256"
echo "SESSION-OK uid=\$(id -u)"
EOF
	chmod 755 "$REAL_CHECK"
	export REAL_CHECK
}

# real_session_ran: the session's check has reported.
real_session_ran() {
	[[ -f $REAL_MARK/token.sha256 ]]
}

# real_assert_session_token: the session's helper got the access token that the module handed
# to the user's store, as the kiosk user.  Remembers the store's tokens for the secret checks.
real_assert_session_token() {
	local got want
	remember_secrets "$REAL_MARK/store.copy"
	got=$(cat "$REAL_MARK/token.sha256" 2>/dev/null)
	want=$(cat "$REAL_MARK/store.sha256" 2>/dev/null)
	[[ -n $got && $got == "$want" && $want != "$(printf '' | sha256sum | cut -c1-64)" ]] ||
		fail "the session's helper did not get the stored token"
	assert_equal "$(cat "$REAL_MARK/uid")" "$KIOSK_UID"
}

# --- a pty: tmux ------------------------------------------------------------------------------

# real_tty_start CMD...: CMD on an 80x25 tmux (an 80x24 pane under tmux's status line; another
# size with REAL_TTY_SIZE=COLSxROWS), in the test's namespace, on a tmux server of this test's
# own (REAL_TMUX, its socket).
#
# CMD is the pane's process, as login(1) is getty's, but a background process of the pane holds
# its terminal open too, until CMD has exited: util-linux's login(1) (Debian 13's) closes its
# descriptors of the terminal and calls vhangup() before it opens it again, and in that moment
# nothing has the pty's slave open; tmux then reads EIO from the master and closes the pane with
# login in it, now and then (a console has no master to see it).  The holder ignores the
# hangup; it is not CMD's parent, and CMD inherits nothing from it.  It has the terminal from
# its fork, before CMD starts (a descriptor it inherits, not one it opens later), and ends at
# most 0.1 s after CMD: then tmux closes the pane, as before.
real_tty_start() {
	local size=${REAL_TTY_SIZE:-80x25}
	REAL_TMUX=$REAL_DIR/tmux.sock
	export REAL_TMUX
	local asan
	mapfile -t asan < <(real_asan)
	# shellcheck disable=SC2016 # for the pane's shell
	real_ns tmux -S "$REAL_TMUX" -f /dev/null new-session -d -x "${size%x*}" -y "${size#*x}" \
		-- sh -c 'exec 9<&0
			(trap "" HUP; exec tail --pid=$$ -s 0.1 -f /dev/null) <&9 >/dev/null 2>&1 9<&- &
			exec 9<&- "$@"' real-tty env "${asan[@]}" "$@" ||
		fail "tmux did not start"
	real_note "$(tmux -S "$REAL_TMUX" display-message -p '#{pid}')" \
		"$(tmux -S "$REAL_TMUX" display-message -p '#{pane_pid}')"
	tmux -S "$REAL_TMUX" set-option -g remain-on-exit off >/dev/null
}

# real_screen: the pane's visible screen, wrapped lines joined.
real_screen() {
	tmux -S "$REAL_TMUX" capture-pane -p -J -t 0
}

# real_scrollback: the pane's screen and what scrolled off it, wrapped lines joined.
real_scrollback() {
	tmux -S "$REAL_TMUX" capture-pane -p -J -t 0 -S -
}

# real_history: how many lines have scrolled off the top of the pane.
real_history() {
	tmux -S "$REAL_TMUX" display-message -p -t 0 '#{history_size}'
}

# real_screen_has REGEX: the visible screen matches REGEX (grep -E).
real_screen_has() {
	real_screen | grep -qE "$1"
}

# real_type TEXT: types TEXT and Enter into the pane (never a secret: tmux's argv).
real_type() {
	tmux -S "$REAL_TMUX" send-keys -t 0 -l "$1" && tmux -S "$REAL_TMUX" send-keys -t 0 Enter
}

# real_tty_gone: the pane's program has exited and the tmux server with it.
real_tty_gone() {
	! tmux -S "$REAL_TMUX" has-session 2>/dev/null
}

# real_screen_url [all]: the login address shown on the screen (the first http(s) URL), put
# together as a person would read it when it is cut into lines: the lines after it that hold
# nothing but URL characters go on with it.  With "all", in what scrolled off too.
real_screen_url() {
	if [[ ${1:-} == all ]]; then real_scrollback; else real_screen; fi | real_join_url
}

# real_join_url: the first http(s) URL on 127.0.0.1 of the text on stdin, with its
# continuation lines.
real_join_url() {
	awk '
		url == "" {
			if (match($0, /https?:\/\/127\.0\.0\.1:[0-9]+\/[^ \t]*/)) {
				url = substr($0, RSTART, RLENGTH)
				if (RSTART + RLENGTH <= length($0)) { print url; url = ""; exit }
			}
			next
		}
		/^[A-Za-z0-9._~:\/?#@!$&\047()*+,;=%-]+$/ { url = url $0; next }
		{ print url; url = ""; exit }
		END { if (url != "") print url }' | grep .
}

# --- a display manager: LightDM with lightdm-gtk-greeter under Xvfb ----------------------------

# real_bus_start: a private D-Bus "system" bus for LightDM (which owns its name there and looks
# for logind and AccountsService, finding neither).  Exports DBUS_SYSTEM_BUS_ADDRESS.
real_bus_start() {
	local d=$REAL_DIR/bus
	mkdir -m 755 "$d"
	cat >"$d/bus.conf" <<CONF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$d/socket</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
CONF
	dbus-daemon --config-file="$d/bus.conf" --nofork --nopidfile >"$d/log" 2>&1 3>&- &
	real_note $!
	real_wait "the private system bus" test -S "$d/socket" || return 1
	export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$d/socket
}

# real_lightdm_start SESSION_EXEC: LightDM as root with a config of the test's own (LD, its
# directory): its X server is Xvfb (through a wrapper that drops the VT options Xvfb does not
# know), its greeter lightdm-gtk-greeter, its one session "scauth-test" runs SESSION_EXEC as
# the user (no Xsession wrapper).  The greeter's home, LightDM's shared data directory and the
# sessions directory are the test's own in the namespace.  Waits for the greeter's window; sets LD, LD_DISPLAY and
# the X environment (DISPLAY, XAUTHORITY) for xdotool.
real_lightdm_start() {
	LD=$REAL_DIR/lightdm
	mkdir -m 755 "$LD" "$LD/sessions" "$LD/log" "$LD/run" "$LD/cache" "$LD/data" "$LD/home"
	chown lightdm: "$LD/home" "$LD/data" 2>/dev/null
	cat >"$LD/xserver" <<XS
#!/bin/sh
# LightDM's X server: Xvfb, without the VT options of a real one.  -noreset: the test's own
# clients (xdotool) come and go before the greeter connects, and a server that resets each time
# the last client leaves signals LightDM "ready" again and again, racing the greeter's start.
for a; do
	shift
	case \$a in vt[0-9]*|-novtswitch) ;; *) set -- "\$@" "\$a" ;; esac
done
echo "\$1" >"$LD/display"
exec Xvfb "\$@" -noreset -screen 0 1024x768x24
XS
	printf '#!/bin/sh\n# The session wrapper: the session itself, nothing of Xsession.\nexec "$@"\n' \
		>"$LD/wrapper"
	chmod 755 "$LD/xserver" "$LD/wrapper"
	printf '[Desktop Entry]\nName=SoundCloud test session\nExec=%s\nType=Application\n' \
		"$1" >"$LD/sessions/scauth-test.desktop"
	# A display number free on the host: in LightDM's PID namespace, the pids in other X
	# servers' lock files mean nothing, so it cannot tell a live one from a stale one itself.
	# An X server in another mount namespace shows only its abstract socket.
	local n abstract
	abstract=$(ss -xlH 2>/dev/null | grep -o '@/tmp/.X11-unix/X[0-9]*' || true)
	for ((n = 40 + RANDOM % 100; ; n++)); do
		[[ -e /tmp/.X$n-lock || -e /tmp/.X11-unix/X$n ]] && continue
		grep -qx "@/tmp/.X11-unix/X$n" <<<"$abstract" || break
	done
	cat >"$LD/lightdm.conf" <<CONF
[LightDM]
minimum-display-number=$n
run-directory=$LD/run
log-directory=$LD/log
cache-directory=$LD/cache
logind-check-graphical=false
[Seat:*]
xserver-command=$LD/xserver
greeter-session=lightdm-gtk-greeter
greeter-hide-users=true
allow-guest=false
user-session=scauth-test
session-wrapper=$LD/wrapper
CONF
	[[ -d /var/lib/lightdm-data ]] || mkdir -m 755 /var/lib/lightdm-data
	# The greeter lists sessions from the standard directories, not from LightDM's config:
	# in the namespace the test's session is the only one there.
	REAL_NS_PID=1 REAL_NS_BINDS="$LD/home:/var/lib/lightdm $LD/data:/var/lib/lightdm-data
		$LD/sessions:/usr/share/xsessions" \
		real_ns lightdm --config "$LD/lightdm.conf" --debug >"$LD/lightdm.out" 2>&1 &
	real_note $!
	LD_PID=$!
	real_wait "LightDM's X server" test -s "$LD/display" || return 1
	LD_DISPLAY=$(cat "$LD/display")
	export DISPLAY=$LD_DISPLAY XAUTHORITY=$LD/run/root/$LD_DISPLAY
	# The greeter's process first, and only then its window: no X client of ours before it.
	REAL_WAIT=90 real_wait "the greeter's process" real_greeter_pid &&
	REAL_WAIT=90 real_wait "the greeter's window" real_greeter_window || {
		tail -n 20 "$LD/lightdm.out" >&2
		return 1
	}
	export LD LD_DISPLAY LD_PID
}

# real_greeter_window: the greeter's visible window exists.
real_greeter_window() {
	xdotool search --onlyvisible --class lightdm-gtk-greeter >/dev/null
}

# real_shot NAME: a screenshot of the X display, $REAL_DIR/NAME.png.
real_shot() {
	import -display "$DISPLAY" -window root "$REAL_DIR/$1.png"
}

# real_ocr NAME [PERCENT]: the text tesseract reads on the screenshot NAME (made with real_shot),
# in grey, enlarged (twice the size unless told) and with more contrast, as one column of text
# (GTK's small text on a tinted info bar in a dark screen reads badly as it is).
real_ocr() {
	convert "$REAL_DIR/$1.png" -colorspace Gray -resize "${2:-200}%" -level 20%,80% \
		"$REAL_DIR/$1.ocr.png" && tesseract "$REAL_DIR/$1.ocr.png" - --psm 4 2>/dev/null
}

# real_greeter_says REGEX: a new screenshot shows REGEX (grep -E on tesseract's reading).
real_greeter_says() {
	real_shot greeter-now && real_ocr greeter-now | tr -s ' \n' '  ' | grep -qE "$1"
}

# real_greeter_pid: the greeter's pid (as seen from here, not from LightDM's PID namespace):
# the lightdm-gtk-greeter among the processes under LightDM's unshare.
real_greeter_pid() {
	ps -eo pid=,ppid=,comm= | awk -v top="$LD_PID" '
		{ parent[$1] = $2; comm[$1] = $3 }
		END {
			for (p in parent) {
				if (comm[p] !~ /^lightdm-gtk-gre/) continue
				for (q = p; q != "" && q > 1; q = parent[q])
					if (q == top) { print p; exit }
			}
		}' | grep .
}

# real_greeter_trace: strace follows what the greeter reads (LightDM's messages from PAM come
# through its pipe), so that the test's "person" can copy the login address exactly, as one
# would copy it from the screen; OCR only judges whether it is legible.
real_greeter_trace() {
	local pid
	pid=$(real_greeter_pid) || return 1
	strace -qq -p "$pid" -e trace=read -s 65536 -o "$LD/greeter.trace" 3>&- &
	real_note $!
	real_wait "strace to attach" grep -q . "/proc/$pid/status"
}

# real_greeter_url: the first login address the greeter was sent (strace shows a line break
# in a message as \n: the lines of a URL cut into lines are put together).
real_greeter_url() {
	sed 's/\\n/\n/g; s/\\[0-7][0-7]*/ /g; s/\\x[0-9a-f][0-9a-f]/ /g; s/\\./ /g; s/"/ /g' \
		"$LD/greeter.trace" | real_join_url
}

# real_legible NAME TEXT [PERCENT]: tesseract reads TEXT on the screenshot NAME (enlarged as
# real_ocr does) with at most one character in ten missing or wrong (the characters of TEXT found
# in order in what it read, blanks aside): a person can copy it.  Cut off at the screen's edge,
# or drawn too small, it is not.
real_legible() {
	real_ocr "$1" "${3:-200}" >"$REAL_DIR/$1.txt"
	WANT=$2 python3 - "$REAL_DIR/$1.txt" <<'PY'
import difflib, os, sys
want = os.environ["WANT"]
got = "".join(open(sys.argv[1], encoding="utf-8", errors="replace").read().split())
m = difflib.SequenceMatcher(None, want, got, autojunk=False)
found = sum(b.size for b in m.get_matching_blocks()) / max(1, len(want))
print("real_legible: %.2f of it read back" % found, file=sys.stderr)
# tesseract misreads some of a random address's letters in GTK's small font (0.92 seen); a line
# cut off at the screen's edge, or text drawn too small to read, loses far more.
sys.exit(0 if found >= 0.90 else 1)
PY
}

# --- what the suites share: the session's work and the logout ---------------------------------

# In the session: the helper gets the token; then logout, and the wipe's sign-out.
kiosk_tty_work_and_logout() {
	real_type "$REAL_CHECK; exit"
	real_wait "the session's check" real_session_ran || {
		real_screen >&2
		return 1
	}
	real_assert_session_token
	real_wait "the sign-out of the wipe at logout" real_signed_out 1
	real_wait "the login program to exit" real_tty_gone
	[[ ! -e $(kiosk_store) ]] || fail "the tokens outlived the logout"
}

# greeter_login: LightDM up with the test's stack; the kiosk user's name typed at the greeter.
greeter_login() {
	real_bus_start
	real_lightdm_start "$REAL_DIR/session"
	real_shot greeter-start
	real_greeter_trace
	xdotool type --delay 10 "$KIOSK_USER"
	xdotool key Return
}

greeter_enter() {
	xdotool key Return
}

# The session ran as the kiosk user and got the token; its end logged out, and the wipe
# signed out; the greeter is back.
session_ran_and_logged_out() {
	real_wait "the session (started by the greeter itself)" real_session_ran || {
		real_shot stuck
		fail "no session; the greeter shows: $(real_ocr stuck)"
	}
	real_assert_session_token
	real_wait "the sign-out of the wipe at logout" real_signed_out 1
	real_wait "the tokens to be erased" test ! -e "$(kiosk_store)"
	real_wait "the greeter after the logout" real_greeter_window
}
