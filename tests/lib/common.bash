# common.bash - shared set-up for the bats suites.
#
# Each suite gets one sandbox (started in setup_file) and each test an empty
# home of its own, with a config naming the sandbox's endpoints, its test CA
# and a client registered for a free loopback redirect port.  Nothing here
# prints a secret: client secrets and tokens stay in files and variables.
#
#   setup_file()    { sc_setup_file; }
#   teardown_file() { sc_teardown_file; }
#   setup()         { sc_setup; }

load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tests/lib/sandbox.bash
source "$TOP/tests/lib/sandbox.bash"

: "${SCAUTH_BUILD:=build}"
case $SCAUTH_BUILD in /*) BUILD=$SCAUTH_BUILD ;; *) BUILD=$TOP/$SCAUTH_BUILD ;; esac
HELPER=$BUILD/git-credential-soundcloud
export PATH="$BUILD:$PATH"

# random_id: 32 random hex digits.  Names shared beyond this process tree (kernel keyring keys,
# users) take one instead of $$, which PID namespaces on one kernel repeat.
random_id() {
	tr -d '-' </proc/sys/kernel/random/uuid
}

# A clean environment: nothing of the caller's configuration leaks in.
sc_isolate() {
	export HOME="$BATS_TEST_TMPDIR/home"
	mkdir -p "$HOME"
	export XDG_CONFIG_HOME="$HOME/.config" XDG_STATE_HOME="$HOME/.local/state"
	unset SOUNDCLOUD_CLIENT_ID SOUNDCLOUD_CLIENT_SECRET SOUNDCLOUD_AUTH_PROFILE \
		SOUNDCLOUD_AUTH_CONFIG SOUNDCLOUD_AUTH_TRACE BROWSER DISPLAY WAYLAND_DISPLAY XDG_RUNTIME_DIR \
		http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
	export GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0 GIT_CONFIG_GLOBAL="$HOME/.gitconfig"
}

sc_setup_file() {
	sandbox_start "$BATS_FILE_TMPDIR/sandbox"
	export CLIENT_ID="client-$$-$RANDOM"
	CLIENT_SECRET=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
	export CLIENT_SECRET
	REDIRECT_PORT=$(free_port)
	export REDIRECT_PORT
	export REDIRECT_URI="http://127.0.0.1:$REDIRECT_PORT/callback"
	sandbox_client "$CLIENT_ID" "$CLIENT_SECRET" "$REDIRECT_URI" >/dev/null
}

sc_teardown_file() {
	sandbox_stop
}

# Writes $XDG_CONFIG_HOME/soundcloud-auth/config (0600: it holds the secret)
# with the sandbox's endpoints and the test client; extra "key = value" lines
# may follow as arguments.  No program runs unless the directory is new: some
# suites (fleet.bats) write a config hundreds of times, and each process costs
# tens of milliseconds on a loaded machine.
sc_write_config() {
	local dir="$XDG_CONFIG_HOME/soundcloud-auth" sandbox
	sandbox=$(<"$SANDBOX_DIR/config") || return 1
	[[ -d $dir ]] || mkdir -p "$dir"
	(
		umask 077
		{
			printf '%s\n' "$sandbox"
			printf 'client_id = %s\n' "$CLIENT_ID"
			printf 'client_secret = %s\n' "$CLIENT_SECRET"
			printf 'redirect_uri = %s\n' "$REDIRECT_URI"
			for line in "$@"; do printf '%s\n' "$line"; done
		} >"$dir/config"
	)
	export SC_CONFIG="$dir/config"
}

sc_setup() {
	sc_isolate
	sandbox_ctl POST /_sandbox/reset '{}' >/dev/null
	sc_write_config
	export BROWSER="$TOP/tests/lib/browser"
}

# Logs in through the real loopback flow with the scripted browser.
sc_login() {
	run "$HELPER" login "$@"
	assert_success
}

# The stored user record of a profile (default "default").
sc_record() {
	cat "$XDG_STATE_HOME/soundcloud-auth/${1:-default}.user"
}

# Asserts that no secret of this test appears in the given text.
refute_secrets() {
	local text=$1
	[[ $text != *"$CLIENT_SECRET"* ]] || fail "client secret leaked into output"
	local f tok
	for f in "$XDG_STATE_HOME"/soundcloud-auth/*.user "$XDG_STATE_HOME"/soundcloud-auth/*.app; do
		[ -f "$f" ] || continue
		while read -r key tok; do
			case $key in access_token|refresh_token)
				[[ $text != *"$tok"* ]] || fail "$key leaked into output" ;;
			esac
		done <"$f"
	done
}

# For suites that run the helper themselves (not through bats' run) and set status and stderr:
# expect_status CODE, and expect_stderr PIECE... (each piece must be in stderr).  Named apart
# from bats-assert's assert_* and refute_*.
expect_status() {
	[[ $status -eq $1 ]] || fail "expected exit $1, got $status; stderr: $stderr"
}

expect_stderr() {
	local piece
	for piece in "$@"; do
		[[ $stderr == *"$piece"* ]] || fail "stderr lacks \"$piece\": $stderr"
	done
}

# refute_raw_controls TEXT [WHAT]: fails when TEXT holds what a terminal or a log acts on (C0
# controls but tab and newline, DEL, C1 controls as UTF-8, the invisible direction and line
# marks) or bytes that are not UTF-8: names from the network must be shown escaped.
refute_raw_controls() {
	local what=${2:-the output}
	if LC_ALL=C grep -qaP '[\x01-\x08\x0b-\x1f\x7f]|\xc2[\x80-\x9f]|\xd8\x9c|\xe2\x80[\x8e\x8f\xa8-\xae]|\xe2\x81[\xa6-\xa9]|\xef\xbb\xbf' <<<"$1"; then
		fail "$what holds a raw control or direction character: $(od -c <<<"$1" | head -n 20)"
	fi
	iconv -f UTF-8 -t UTF-8 <<<"$1" >/dev/null 2>&1 || fail "$what is not UTF-8: $(od -c <<<"$1" | head -n 20)"
}

# stat_of NAME: one number of the sandbox's statistics; expect_stat NAME VALUE.
stat_of() {
	sandbox_stat "$1"
}

expect_stat() {
	local got
	got=$(stat_of "$1")
	[[ $got == "$2" ]] || fail "sandbox $1 is $got, expected $2"
}

# kill_token_after MS: runs `git-credential-soundcloud token` and kills it (SIGKILL) after MS
# milliseconds; true when it had finished, successfully, by then.
kill_token_after() {
	local pid
	"$HELPER" token >/dev/null 2>&1 3>&- &
	pid=$!
	sleep "$(printf '0.%03d' "$1")"
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null
}
