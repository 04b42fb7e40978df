#!/usr/bin/env bats
# secret-service.bats - store = secret-service against a real Secret Service: gnome-keyring-daemon
# on a private D-Bus session bus (tests/lib/secret-service.bash), with keyring files of the
# test's own.  The items are driven through the library (tests/secret/ss-item.c) and looked at
# with secret-tool, as a person would.

bats_require_minimum_version 1.5.0
load '../lib/common'
load '../lib/secret-service'

SS_ITEM=$BUILD/tests/ss-item

setup() {
	sc_isolate
	export XDG_DATA_HOME="$HOME/.local/share"
	export XDG_RUNTIME_DIR="$BATS_TEST_TMPDIR/run"
	mkdir -p "$XDG_RUNTIME_DIR"
	chmod 700 "$XDG_RUNTIME_DIR"
	ss_start "$BATS_TEST_TMPDIR/ss"
}

teardown() {
	ss_stop
}

# item ARGS...: runs ss-item, its stdout in $OUT; sets status and stderr.
item() {
	OUT="$BATS_TEST_TMPDIR/out"
	status=0
	"$SS_ITEM" "$@" >"$OUT" 2>"$BATS_TEST_TMPDIR/err" || status=$?
	stderr=$(<"$BATS_TEST_TMPDIR/err")
}

expect_status() {
	[[ $status -eq $1 ]] || fail "expected exit $1, got $status; stderr: $stderr"
}

expect_stderr() {
	local piece
	for piece in "$@"; do
		[[ $stderr == *"$piece"* ]] || fail "stderr lacks \"$piece\": $stderr"
	done
}

# holds TEXT: the last lookup gave exactly TEXT.
holds() {
	printf '%s' "$1" | cmp -s - "$OUT"
}

# A record-shaped secret; its bytes must come back exactly.
RECORD=$'version 1\naccess_token at-one\nrefresh_token rt-one\n'
RECORD2=$'version 1\naccess_token at-two\nrefresh_token rt-two\n'

store_record() {
	printf '%s' "$2" | "$SS_ITEM" store p1 "$1" "SoundCloud login: p1" ||
		fail "storing the $1 item failed"
}

@test "secret-service: an item is stored, found by our attributes, replaced and cleared" {
	item lookup p1 user
	expect_status 1
	store_record user "$RECORD"
	item lookup p1 user
	expect_status 0
	holds "$RECORD" || fail "the item does not hold the record as stored"

	# As a person would see it: label, schema and attributes.
	run secret-tool search profile p1
	assert_success
	assert_output --partial "label = SoundCloud login: p1"
	assert_output --partial "attribute.grant = user"
	assert_output --partial "schema = org.soundcloud-auth.Grant"

	# Replaced in place: still one item, with the new bytes.
	store_record user "$RECORD2"
	item lookup p1 user
	holds "$RECORD2" || fail "the item was not replaced"
	run secret-tool search --all profile p1 grant user
	[[ $(grep -c '^label = ' <<<"$output") == 1 ]] || fail "a store left two items: $output"

	# The grants and profiles are items of their own.
	store_record app "$RECORD"
	item lookup p1 app
	holds "$RECORD" || fail "the app item is wrong"
	item lookup p2 user
	expect_status 1

	item clear p1 user
	expect_status 0
	item lookup p1 user
	expect_status 1
	item lookup p1 app
	expect_status 0
	run secret-tool search --all profile p1 grant user
	[[ $output != *label* ]] || fail "clear left the item: $output"
	# Clearing what is not there is no error.
	item clear p1 user
	expect_status 0
}

@test "secret-service: a locked keyring is a quick error that changes nothing; unlocked, it works" {
	store_record user "$RECORD"
	ss_lock
	# No display to prompt on: no prompt, no hang (timeout would kill a hang with 124).
	status=0
	timeout 20 "$SS_ITEM" lookup p1 user >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" ||
		status=$?
	stderr=$(<"$BATS_TEST_TMPDIR/err")
	expect_status 8
	expect_stderr "the keyring is locked; unlock it and retry"
	[[ ! -s $BATS_TEST_TMPDIR/out ]] || fail "a locked item gave bytes"
	printf '%s' "$RECORD2" | timeout 20 "$SS_ITEM" store p1 user "SoundCloud login: p1" \
		2>"$BATS_TEST_TMPDIR/err" && fail "a store into a locked keyring succeeded"
	[[ $(<"$BATS_TEST_TMPDIR/err") == *"the keyring is locked"* ]] ||
		fail "store: $(<"$BATS_TEST_TMPDIR/err")"
	item clear p1 user
	expect_status 8
	expect_stderr "the keyring is locked"
	# With a display that cannot answer (no prompter on this bus): still an error, no hang.
	DISPLAY=:99 item lookup p1 user
	expect_status 8
	expect_stderr "the keyring is locked"

	ss_unlock
	item lookup p1 user
	expect_status 0
	holds "$RECORD" || fail "the locked keyring lost or changed the item"
}

@test "secret-service: no session bus, or a bus without a Secret Service: a clear error" {
	store_record user "$RECORD"
	local addr=$DBUS_SESSION_BUS_ADDRESS
	unset DBUS_SESSION_BUS_ADDRESS
	# XDG_RUNTIME_DIR holds no bus socket either.
	LD_DEBUG=libs item lookup p1 user
	expect_status 8
	expect_stderr "no D-Bus session bus"
	[[ $stderr != *libsecret* ]] || fail "libsecret was loaded although there is no bus"

	# Another bus, on which nothing provides the Secret Service.
	local saved_dir=$SS_DIR saved_pid=$SS_BUS_PID
	ss_bus_start "$BATS_TEST_TMPDIR/empty-bus"
	local empty_pid=$SS_BUS_PID
	status=0
	timeout 20 "$SS_ITEM" lookup p1 user >/dev/null 2>"$BATS_TEST_TMPDIR/err" || status=$?
	stderr=$(<"$BATS_TEST_TMPDIR/err")
	expect_status 8
	expect_stderr "no Secret Service on this session bus"
	ss_bus_stop
	[[ -z $(jobs -p) ]] || true
	SS_DIR=$saved_dir SS_BUS_PID=$saved_pid
	export DBUS_SESSION_BUS_ADDRESS=$addr
	ss_gone "$empty_pid" || fail "the second bus is still running"

	item lookup p1 user
	expect_status 0
}

@test "secret-service: a Secret Service that does not answer: an error within the timeout" {
	store_record user "$RECORD"
	kill -STOP "$SS_KEYRING_PID"
	status=0
	SS_ITEM_TIMEOUT=1 timeout 20 "$SS_ITEM" lookup p1 user >/dev/null \
		2>"$BATS_TEST_TMPDIR/err" || status=$?
	stderr=$(<"$BATS_TEST_TMPDIR/err")
	kill -CONT "$SS_KEYRING_PID"
	expect_status 8
	expect_stderr "did not answer within 1 s"
	item lookup p1 user
	expect_status 0
	holds "$RECORD" || fail "the item changed"
}

@test "secret-service: the items outlive the D-Bus session and the keyring daemon" {
	store_record user "$RECORD"
	ss_stop
	rm -rf "$XDG_RUNTIME_DIR"
	mkdir -m 700 "$XDG_RUNTIME_DIR"
	ss_start "$BATS_TEST_TMPDIR/ss2"
	item lookup p1 user
	expect_status 0
	holds "$RECORD" || fail "the item did not survive a new session"
	# The keyring file holds it encrypted: the secret is not in any file in plain text.
	! grep -rqF 'rt-one' "$HOME" "$XDG_RUNTIME_DIR" || fail "the secret is in a plain file"
}
