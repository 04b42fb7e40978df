# pam.bash - helpers for the PAM suites: pam_soundcloud.so under cwrap's pam_wrapper, driven by
# pamtester, against the sandbox.  Load it after common.bash:
#
#   load '../lib/common'
#   load '../lib/pam'
#
# The kiosk user: as root, a real local user made for the suite (useradd -m, userdel -r at the
# end), so that the module's switch to the user is the real one; without root, a user that
# nss_wrapper makes up with our own uid and a home under the test directory, so that nothing of
# the person running the tests is touched.  Module log lines (pam_syslog) are collected from
# pam_wrapper into $PAM_LOG; they and the outputs are checked for secrets with refute_pam_secrets.

PAM_MODULE=$BUILD/pam_soundcloud.so
PAM_URL_WAIT=${PAM_URL_WAIT:-15}   # seconds to wait for pamtester to show the URL
PAM_RUN_TIMEOUT=${PAM_RUN_TIMEOUT:-60}

_pam_lib() {   # the path of a cwrap library, from its pkg-config file
	local path
	path=$(pkg-config --libs "$1" 2>/dev/null | tr -d ' ')
	if [[ -z $path || ! -e $path ]]; then
		path=$(find /usr/lib /usr/lib64 -name "lib$1.so" 2>/dev/null | head -n1)
	fi
	if [[ -z $path ]]; then
		echo "pam.bash: lib$1.so not found (install lib${1//_/-})" >&2
		return 1
	fi
	printf '%s\n' "$path"
}

# libstdbuf of coreutils (what stdbuf(1) preloads): pamtester prints PAM_TEXT_INFO with stdio,
# and the URL must reach its output file while it waits, not when it exits.
_pam_stdbuf() {
	local f
	for f in /usr/libexec/coreutils/libstdbuf.so /usr/lib/coreutils/libstdbuf.so \
		/usr/lib/*/coreutils/libstdbuf.so; do
		[[ -e $f ]] && { printf '%s\n' "$f"; return 0; }
	done
	echo "pam.bash: libstdbuf.so (coreutils) not found" >&2
	return 1
}

# LD_PRELOAD for pamtester: pam_wrapper (and nss_wrapper without root), libstdbuf; an
# ASan-built module needs the ASan runtime first in the list, since pamtester is not instrumented.
pam_preload() {
	local list=() asan
	if readelf -d "$PAM_MODULE" 2>/dev/null | grep -q 'NEEDED.*libasan'; then
		asan=$("${CC:-gcc}" -print-file-name=libasan.so)
		list+=("$(readlink -f "$asan")")
	fi
	list+=("$(_pam_stdbuf)") || return 1
	list+=("$(_pam_lib pam_wrapper)") || return 1
	[[ -z ${NSS_WRAPPER_PASSWD:-} ]] || list+=("$(_pam_lib nss_wrapper)") || return 1
	local IFS=:
	printf '%s\n' "${list[*]}"
}

# pam_suite_setup: once per file, after sc_setup_file.  Makes the kiosk user (KIOSK_USER,
# KIOSK_UID, KIOSK_GID, KIOSK_HOME) and the directory for service files, config and map
# (PAM_DIR; world-searchable, so that the user may reach what is meant for them).  The module
# and the helper that the user runs are copies in PAM_DIR/bin (PAM_MODULE, KIOSK_HELPER): the
# checkout need not be readable by anyone else (root's clones live in /root, mode 0700).
pam_suite_setup() {
	PAM_DIR=$(mktemp -d /tmp/scauth-pam.XXXXXX) || return 1
	chmod 755 "$PAM_DIR"
	export PAM_DIR
	mkdir -m 755 "$PAM_DIR/bin" &&
		install -m 644 "$BUILD/pam_soundcloud.so" "$PAM_DIR/bin/pam_soundcloud.so" &&
		install -m 755 "$HELPER" "$PAM_DIR/bin/git-credential-soundcloud" || return 1
	export PAM_MODULE=$PAM_DIR/bin/pam_soundcloud.so
	export KIOSK_HELPER=$PAM_DIR/bin/git-credential-soundcloud
	if [[ $EUID -eq 0 ]]; then
		KIOSK_USER="scpam$(random_id | cut -c1-16)"
		useradd -m -s /bin/sh "$KIOSK_USER" || return 1
		echo "$KIOSK_USER" >"$PAM_DIR/created-user"
		KIOSK_HOME=$(getent passwd "$KIOSK_USER" | cut -d: -f6)
		KIOSK_UID=$(id -u "$KIOSK_USER")
		KIOSK_GID=$(id -g "$KIOSK_USER")
	else
		KIOSK_USER="kiosk$$"
		KIOSK_UID=$(id -u)
		KIOSK_GID=$(id -g)
		KIOSK_HOME=$PAM_DIR/home
		mkdir -m 700 "$KIOSK_HOME"
		printf '%s:x:%s:%s:Kiosk:%s:/bin/sh\n' "$KIOSK_USER" "$KIOSK_UID" "$KIOSK_GID" \
			"$KIOSK_HOME" >"$PAM_DIR/passwd"
		printf 'kiosk:x:%s:\n' "$KIOSK_GID" >"$PAM_DIR/group"
		export NSS_WRAPPER_PASSWD=$PAM_DIR/passwd NSS_WRAPPER_GROUP=$PAM_DIR/group
	fi
	export KIOSK_USER KIOSK_UID KIOSK_GID KIOSK_HOME
}

pam_suite_teardown() {
	[[ -n ${PAM_DIR:-} ]] || return 0
	if [[ -f $PAM_DIR/created-user ]]; then
		pkill -KILL -u "$(cat "$PAM_DIR/created-user")" 2>/dev/null
		userdel -r "$(cat "$PAM_DIR/created-user")" 2>/dev/null
	fi
	rm -rf "$PAM_DIR"
}

# pam_setup: per test.  A fresh stage, map and config, an empty store for the kiosk user, and
# the kiosk user's own config for their tools.  Sets PAM_CONF, PAM_MAP, PAM_STAGE, PAM_ARGS
# (config= stagedir=) and PAM_LOG.
pam_setup() {
	local t=$PAM_DIR/t$BATS_TEST_NUMBER
	rm -rf "$t"
	mkdir -m 755 "$t"
	PAM_SERVICE_DIR=$t/services
	mkdir "$PAM_SERVICE_DIR"
	PAM_CONF=$t/soundcloud-auth.conf
	PAM_MAP=$t/soundcloud-auth.map
	PAM_STAGE=$t/stage
	PAM_LOG=$t/syslog
	: >"$PAM_LOG"
	PAM_ARGS="config=$PAM_CONF stagedir=$PAM_STAGE"
	# The suite's copy (pam_suite_setup): loading this file again for each test set it back.
	PAM_MODULE=$PAM_DIR/bin/pam_soundcloud.so
	export PAM_SERVICE_DIR PAM_CONF PAM_MAP PAM_STAGE PAM_LOG PAM_ARGS PAM_MODULE
	# The close_session sign-out runs as the kiosk user, who must be able to read the CA.
	cp "$SANDBOX_CA" "$t/ca.pem"
	chmod 644 "$t/ca.pem"
	PAM_CA=$t/ca.pem
	pam_write_config "$PAM_CONF"
	pam_map "* $KIOSK_USER"
	as_kiosk rm -rf "$KIOSK_HOME/.local/state/soundcloud-auth" \
		"$KIOSK_HOME/.config/soundcloud-auth"
	kiosk_tool_config
}

# pam_write_config FILE [LINES...]: the module's config: the sandbox, the test client (0600).
pam_write_config() {
	local file=$1
	shift
	(
		umask 077
		{
			cat "$SANDBOX_DIR/config"
			printf 'client_id = %s\nclient_secret = %s\nredirect_uri = %s\n' \
				"$CLIENT_ID" "$CLIENT_SECRET" "$REDIRECT_URI"
			[[ -z ${PAM_CA:-} ]] || printf 'ca_file = %s\n' "$PAM_CA"
			local line
			for line in "$@"; do printf '%s\n' "$line"; done
		} >"$file"
	)
}

# pam_map LINES...: writes the map file (0644, ours).
pam_map() {
	printf '%s\n' "$@" >"$PAM_MAP"
	chmod 644 "$PAM_MAP"
}

# kiosk_tool_config: the kiosk user's own config for git-credential-soundcloud, with a copy of
# the sandbox CA that the user can read.
kiosk_tool_config() {
	local dir=$KIOSK_HOME/.config/soundcloud-auth tmp=$PAM_DIR/t$BATS_TEST_NUMBER/toolconf
	mkdir -p "$tmp"
	cp "$SANDBOX_CA" "$tmp/ca.pem"
	pam_write_config "$tmp/config" "ca_file = $dir/ca.pem"
	as_kiosk mkdir -p -m 700 "$dir"
	as_kiosk sh -c 'umask 077; cat >"$1/ca.pem"; ' sh "$dir" <"$tmp/ca.pem"
	as_kiosk sh -c 'umask 077; cat >"$1/config"' sh "$dir" <"$tmp/config"
	rm -rf "$tmp"
}

# as_kiosk CMD...: runs CMD as the kiosk user with their home and a clean environment.
as_kiosk() {
	if [[ $EUID -eq 0 && $KIOSK_UID -ne 0 ]]; then
		setpriv --reuid="$KIOSK_UID" --regid="$KIOSK_GID" --init-groups \
			env -i PATH="$PATH" HOME="$KIOSK_HOME" USER="$KIOSK_USER" "$@"
	else
		env -i PATH="$PATH" HOME="$KIOSK_HOME" USER="$KIOSK_USER" "$@"
	fi
}

# kiosk_store [PROFILE]: the kiosk user's store file of a profile's user grant.
kiosk_store() {
	printf '%s\n' "$KIOSK_HOME/.local/state/soundcloud-auth/${1:-default}.user"
}

# pam_service NAME LINES...: a pam_wrapper service file; MODULE in a line is our module's path.
pam_service() {
	local name=$1 line
	shift
	for line in "$@"; do printf '%s\n' "${line//MODULE/$PAM_MODULE}"; done \
		>"$PAM_SERVICE_DIR/$name"
}

# The environment pamtester runs in: pam_wrapper with our service dir; its debug level 2 makes
# it print the module's pam_syslog lines on stderr ("PWRAP_DEBUG[...] - SYSLOG(N): ...").
# Sanitizers refuse RTLD_DEEPBIND, which pam_wrapper 1.1.4 drops under the second name.
_pam_env() {
	local preload
	preload=$(pam_preload) || return 1
	PAM_ENV=(LD_PRELOAD="$preload" _STDBUF_O=L PAM_WRAPPER=1
		PAM_WRAPPER_SERVICE_DIR="$PAM_SERVICE_DIR" PAM_WRAPPER_DEBUGLEVEL=2
		PAM_WRAPPER_DISABLE_DEEPBIND=1 UID_WRAPPER_DISABLE_DEEPBIND=1
		NSS_WRAPPER_DISABLE_DEEPBIND=1)
}

# Splits pamtester's stderr: pam_wrapper's lines go to the log (syslog lines only), the
# rest is pamtester's own and goes to stdout after its stdout.
_pam_split() {
	local out=$1 err=$2
	grep -a 'SYSLOG(' "$err" | sed 's/^.*SYSLOG(\([0-9]*\)): /<\1> /' >>"$PAM_LOG"
	cat "$out"
	grep -av '^PWRAP_' "$err"
	return 0
}

# pam_tester SERVICE USER OPS... : pamtester -v under pam_wrapper; stdin is the answers.
# Prints its output (stdout, then its own stderr lines) and exits with its status.
pam_tester() {
	local out=$BATS_TEST_TMPDIR/pamtester.out err=$BATS_TEST_TMPDIR/pamtester.err rc
	_pam_env || return 1
	env "${PAM_ENV[@]}" timeout -k 5 "$PAM_RUN_TIMEOUT" pamtester -v "$@" >"$out" 2>"$err"
	rc=$?
	_pam_split "$out" "$err"
	return "$rc"
}

# pam_start SERVICE USER OPS... : pamtester in the background, its stdin a FIFO that
# pam_answer writes to; pam_finish collects it.
pam_start() {
	local d=$BATS_TEST_TMPDIR
	rm -f "$d/bg.in" "$d/bg.out" "$d/bg.err"
	mkfifo "$d/bg.in"
	_pam_env || return 1
	env "${PAM_ENV[@]}" timeout -k 5 "$PAM_RUN_TIMEOUT" pamtester -v "$@" \
		<"$d/bg.in" >"$d/bg.out" 2>"$d/bg.err" 3>&- &
	PAM_BG_PID=$!
	# Held open until pam_finish, so that pamtester never sees EOF before an answer.
	exec {PAM_BG_FD}>"$d/bg.in"
}

# screen_url: the authorize URL of a screen text on stdin, as pam_soundcloud(8) writes it: from
# the line that starts with https:// on, the lines joined up to the first one with a space.
screen_url() {
	awk '!on && /^https:\/\// { on = 1 } on && (/ / || $0 == "") { exit } on { printf "%s", $0 }
		END { if (on) print "" }'
}

# pam_wait_url: waits (bounded) for the authorize URL in pamtester's output (prompts go to its
# stderr, information to its stdout); prints it.
pam_wait_url() {
	local i url
	for ((i = 0; i < PAM_URL_WAIT * 20; i++)); do
		url=$(cat "$BATS_TEST_TMPDIR/bg.out" "$BATS_TEST_TMPDIR/bg.err" 2>/dev/null |
			grep -av '^PWRAP_' | screen_url)
		# Complete once the short prompt (after the message with the URL) is there.
		if [[ -n $url ]] && grep -aq -e 'Press Enter after logging in:' -e 'Paste the address or code:' \
			"$BATS_TEST_TMPDIR/bg.err"; then
			printf '%s\n' "$url"
			return 0
		fi
		kill -0 "$PAM_BG_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "pam_wait_url: no URL from pamtester; its output:" >&2
	cat "$BATS_TEST_TMPDIR/bg.out" "$BATS_TEST_TMPDIR/bg.err" >&2
	return 1
}

# pam_answer TEXT: one answer to a prompt of the background pamtester.
pam_answer() {
	printf '%s\n' "$1" >&"$PAM_BG_FD"
}

# pam_finish: closes pamtester's stdin and waits for it; sets status and output as bats' run
# does (run itself cannot be used: it would wait in a subshell, of which pamtester is no child).
pam_finish() {
	exec {PAM_BG_FD}>&-
	unset PAM_BG_FD
	status=0
	wait "$PAM_BG_PID" || status=$?
	output=$(_pam_split "$BATS_TEST_TMPDIR/bg.out" "$BATS_TEST_TMPDIR/bg.err")
	mapfile -t lines <<<"$output"
	unset PAM_BG_PID
	return 0
}

# pam_redirect_for URL: what the sandbox redirects the browser to (the callback with code and
# state), without delivering it.  A secret (the code): keep it in a variable.
pam_redirect_for() {
	curl -sS --noproxy '*' --cacert "$SANDBOX_CA" --max-time 10 -o /dev/null \
		-w '%{redirect_url}' "$1"
}

# pam_browser URL: the scripted browser: authorize, then deliver the redirect to the listener.
pam_browser() {
	SANDBOX_CA=$SANDBOX_CA "$TOP/tests/lib/browser" "$1"
}

# refute_pam_secrets TEXT: no token of the kiosk user's store or the stage, and not the client
# secret, appears in TEXT.
refute_pam_secrets() {
	local text=$1 f key tok
	[[ $text != *"$CLIENT_SECRET"* ]] || fail "client secret leaked"
	for f in "$PAM_DIR"/secrets.*; do
		[[ -f $f ]] || continue
		while read -r key tok; do
			[[ $text != *"$tok"* ]] || fail "$key leaked"
		done <"$f"
	done
}

# remember_secrets FILE: keeps the token lines of a record (as root, or ours) so that
# refute_pam_secrets can look for them after the record is gone.
remember_secrets() {
	[[ -f $1 ]] || return 0
	grep -aE '^(access_token|refresh_token) ' "$1" >>"$PAM_DIR/secrets.$BATS_TEST_NUMBER" ||
		true
}

# pam_permit: the path of pam_permit.so, for stacks that mix it with ours.
pam_permit() {
	find /lib /usr/lib -name pam_permit.so -path '*security*' 2>/dev/null | head -n1
}

# pam_sysmod NAME: the path of a Linux-PAM module next to pam_permit.so (pam_env.so ...).
pam_sysmod() {
	printf '%s/%s\n' "$(dirname "$(pam_permit)")" "$1"
}

# pam_stage_nonce: the nonce that labels the kiosk user's staged login (the test may read the
# stage; the module's callers learn the nonce only from auth's PAM environment).
pam_stage_nonce() {
	awk '$1 == "label" { print $2 }' "$PAM_STAGE/uid-$KIOSK_UID.user"
}

# pam_env_line NAME=VALUE...: a session line of pam_env.so that puts these into the PAM
# environment at open_session, before our module's line: how a test carries auth's
# SOUNDCLOUD_AUTH_STAGE into a transaction of another process, as sshd carries its auth
# child's PAM environment into the process that opens the session.
pam_env_line() {
	local conf=$PAM_DIR/t$BATS_TEST_NUMBER/pam_env.conf kv
	: >"$conf"
	for kv in "$@"; do
		printf '%s DEFAULT=%s\n' "${kv%%=*}" "${kv#*=}" >>"$conf"
	done
	printf 'session required %s conffile=%s readenv=0 user_readenv=0\n' \
		"$(pam_sysmod pam_env.so)" "$conf"
}

# pam_hold_line: a session line for after our module's: pam_exec.so runs a script at
# open_session that holds the session open (pamtester waits in it) until pam_release, as a
# person works in their session before logging out; pam_wait_held waits for that.  So open
# and close run on one handle, as in every login program, with the test acting in between.
pam_hold_line() {
	local d=$PAM_DIR/t$BATS_TEST_NUMBER
	rm -f "$d/held" "$d/release"
	mkfifo "$d/release"
	printf '#!/bin/bash\n: >"%s"\nread -r -t %d _ <>"%s"\nexit 0\n' "$d/held" \
		"$PAM_RUN_TIMEOUT" "$d/release" >"$d/hold"
	chmod 755 "$d/hold"
	printf 'session optional %s type=open_session %s\n' "$(pam_sysmod pam_exec.so)" "$d/hold"
}

# pam_wait_held: waits (bounded) until the background pamtester's session is open and held.
pam_wait_held() {
	local d=$PAM_DIR/t$BATS_TEST_NUMBER i
	for ((i = 0; i < PAM_RUN_TIMEOUT * 20; i++)); do
		[[ -e $d/held ]] && return 0
		kill -0 "$PAM_BG_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "pam_wait_held: the session was not opened; pamtester's output:" >&2
	cat "$BATS_TEST_TMPDIR/bg.out" "$BATS_TEST_TMPDIR/bg.err" >&2
	return 1
}

# pam_release: lets the held session go on (to close_session, when pamtester was asked to).
# The FIFO is opened read-write, which never blocks, even when the holder is gone.
pam_release() {
	printf 'go\n' 1<>"$PAM_DIR/t$BATS_TEST_NUMBER/release"
}

# The words pamtester prints for PAM results (pam_strerror).
PAM_MSG_AUTH_ERR='Authentication failure'
PAM_MSG_AUTHINFO_UNAVAIL='Authentication service cannot retrieve authentication info'
PAM_MSG_SERVICE_ERR='Error in service module'
PAM_MSG_USER_UNKNOWN='User not known to the underlying authentication module'
PAM_MSG_PERM_DENIED='Permission denied'

# Asserts the kiosk user's store holds a user grant written as that user.
assert_kiosk_store() {
	local f
	f=$(kiosk_store "${1:-default}")
	[[ -f $f ]] || fail "no store file $f"
	[[ ! -L $f ]] || fail "$f is a link"
	assert_equal "$(stat -c '%u %a' "$f")" "$KIOSK_UID 600"
	assert_equal "$(stat -c '%u %a' "$(dirname "$f")")" "$KIOSK_UID 700"
	remember_secrets "$f"
}

# with_pty ROWS COLS CMD...: runs CMD with PTY_NAME, a pseudo-terminal of that size, which
# lives as long as CMD runs.
with_pty() {
	local rows=$1 cols=$2 rc=0
	shift 2
	coproc PTY { python3 -c 'import os, pty, fcntl, termios, struct, sys
m, s = pty.openpty()
fcntl.ioctl(s, termios.TIOCSWINSZ, struct.pack("HHHH", int(sys.argv[1]), int(sys.argv[2]), 0, 0))
print(os.ttyname(s), flush=True)
sys.stdin.read()' "$rows" "$cols"; }
	read -r PTY_NAME <&"${PTY[0]}"
	"$@" || rc=$?
	exec {PTY[1]}>&-
	wait "$PTY_PID" 2>/dev/null
	return "$rc"
}
