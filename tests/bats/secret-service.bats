#!/usr/bin/env bats
# secret-service.bats - store = secret-service against a real Secret Service: gnome-keyring-daemon
# on a private D-Bus session bus (tests/lib/secret-service.bash), with keyring files of the
# test's own.  The items are driven through the library (tests/secret/ss-item.c), the store
# through git-credential-soundcloud against the sandbox, and both are looked at with secret-tool,
# as a person would.  The broker suite over this store is broker-secret-service.bats.

BROKER_STORE=secret-service
load '../lib/common'
load '../lib/secret-service'
# setup_file, setup and teardown (a sandbox per file, a keyring per test) and the helpers
# (helper, rec, expect_status ...) are the broker suite's.
load '../lib/broker'

SS_ITEM=$BUILD/tests/ss-item

# item ARGS...: runs ss-item, its stdout in $OUT; sets status and stderr.
item() {
	status=0
	"$SS_ITEM" "$@" >"$OUT" 2>"$BATS_TEST_TMPDIR/err" || status=$?
	stderr=$(<"$BATS_TEST_TMPDIR/err")
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

@test "secret-service: an item of a keyring locked at boot is locked, not absent; unlocked, it is ours" {
	store_record user "$RECORD"
	# The daemon restarted over the keyring file without its password (an automatic desktop
	# login): until it is unlocked, it knows the item by hashed attributes only.
	ss_reboot_locked "$BATS_TEST_TMPDIR/ss2"
	local sum
	sum=$(cat "$XDG_DATA_HOME"/keyrings/* | sha256sum)
	item lookup p1 user
	expect_status 8
	expect_stderr "the keyring is locked; unlock it and retry"
	[[ ! -s $OUT ]] || fail "a locked item gave bytes"
	# Neither a store (which would add a second item beside it) nor a clear.
	printf '%s' "$RECORD2" | "$SS_ITEM" store p1 user "SoundCloud login: p1" \
		2>"$BATS_TEST_TMPDIR/err" && fail "a store beside the locked item succeeded"
	[[ $(<"$BATS_TEST_TMPDIR/err") == *"the keyring is locked"* ]] ||
		fail "store: $(<"$BATS_TEST_TMPDIR/err")"
	item clear p1 user
	expect_status 8
	expect_stderr "the keyring is locked"
	[[ $(cat "$XDG_DATA_HOME"/keyrings/* | sha256sum) == "$sum" ]] ||
		fail "the keyring file changed while locked"
	# Another profile has no item, locked or not.
	item lookup p2 user
	expect_status 1

	ss_unlock
	item lookup p1 user
	expect_status 0
	holds "$RECORD" || fail "the locked keyring lost or changed the item"
	run secret-tool search --all profile p1 grant user
	[[ $(grep -c '^label = ' <<<"$output") == 1 ]] || fail "not one item after unlocking"
}

@test "secret-service: another program's item with our attributes is neither read nor removed" {
	printf '%s' "not ours" | secret-tool store --label="other program" profile p1 grant user ||
		fail "secret-tool store failed"
	item lookup p1 user
	expect_status 1
	item clear p1 user
	expect_status 0
	run secret-tool search --all profile p1 grant user
	[[ $output == *"label = other program"* ]] || fail "clear removed another program's item"
	store_record user "$RECORD"
	item lookup p1 user
	expect_status 0
	holds "$RECORD" || fail "the lookup gave another program's item"
	item clear p1 user
	expect_status 0
	run secret-tool search --all profile p1 grant user
	[[ $output == *"label = other program"* ]] || fail "clear removed another program's item"
	[[ $output != *"label = SoundCloud login: p1"* ]] || fail "clear left our item"
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
	# Back to the first bus before asserting, so that teardown stops both whatever happens.
	ss_bus_stop
	SS_DIR=$saved_dir SS_BUS_PID=$saved_pid
	export DBUS_SESSION_BUS_ADDRESS=$addr
	expect_status 8
	expect_stderr "no Secret Service on this session bus"
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
	ss_runtime_umount
	ss_runtime_mount
	ss_start "$BATS_TEST_TMPDIR/ss2"
	item lookup p1 user
	expect_status 0
	holds "$RECORD" || fail "the item did not survive a new session"
	# The keyring file holds it encrypted: the secret is not in any file in plain text.
	! grep -rqF 'rt-one' "$HOME" "$XDG_RUNTIME_DIR" || fail "the secret is in a plain file"
}

# ------------------------------------------------------------------------------------------
# Through git-credential-soundcloud.

COPY_DIR() { echo "$XDG_RUNTIME_DIR/soundcloud-auth"; }

# no_plain_refresh TOKEN: no file under HOME or XDG_RUNTIME_DIR holds it (never printed).
no_plain_refresh() {
	[[ -n $1 ]] || fail "no refresh token to look for"
	if grep -rqF -- "$1" "$HOME" "$XDG_RUNTIME_DIR" 2>/dev/null; then
		fail "the refresh token is in a plain file: $(grep -rlF -- "$1" "$HOME" "$XDG_RUNTIME_DIR")"
	fi
}

# login_try: a login through the scripted browser; status and stderr (which holds the authorize
# URL when the login gets that far: its state and challenge look like tokens to no_token_in).
login_try() {
	status=0
	"$HELPER" login >"$OUT" 2>"$BATS_TEST_TMPDIR/err" || status=$?
	stderr=$(<"$BATS_TEST_TMPDIR/err")
	refute_secrets "$stderr"
}

@test "secret-service: login, then token; the refresh token is in no plain file" {
	login
	helper token
	expect_status 0
	[[ -n $(printed) && $(printed) == "$(rec access_token)" ]] || fail "token is not the stored one"
	local refresh
	refresh=$(rec refresh_token)
	no_plain_refresh "$refresh"

	# The copy for the cached path: 0600 in a 0700 directory, without the refresh token.
	local copy
	copy="$(COPY_DIR)/$PROFILE.user"
	[[ -f $copy ]] || fail "no local copy in the runtime directory"
	[[ $(stat -c %a "$(COPY_DIR)") == 700 && $(stat -c %a "$copy") == 600 ]] ||
		fail "copy modes: $(stat -c %a "$(COPY_DIR)") $(stat -c %a "$copy")"
	grep -q '^access_token ' "$copy" || fail "the copy holds no access token"
	! grep -q '^refresh_token' "$copy" || fail "the copy holds a refresh token"

	# The items, as secret-tool shows them, with our label and attributes.
	run secret-tool search --all profile "$PROFILE"
	assert_success
	assert_output --partial "label = SoundCloud login: $PROFILE"
	assert_output --partial "attribute.grant = user"
	[[ $output != *"$refresh"* ]] || true   # secret-tool shows secrets; never echo $output

	# status says where the tokens are, and that the grant renews.
	helper status
	expect_status 0
	[[ $(<"$OUT") == *"store:    secret-service: the Secret Service (secret-tool search profile $PROFILE); access token copies in $(COPY_DIR)"* ]] ||
		fail "status does not say where the tokens are: $(<"$OUT")"
	[[ $(<"$OUT") == *"renew:  yes"* ]] || fail "status does not see the refresh token"

	# The app grant too.
	helper token --client-credentials
	expect_status 0
	no_plain_refresh "$(rec refresh_token app)"
	run secret-tool search --all profile "$PROFILE" grant app
	assert_output --partial "label = SoundCloud app token: $PROFILE"
}

@test "secret-service: a cached get makes no D-Bus call" {
	login
	# A Secret Service that answers nothing: only a call that never reaches it can succeed.
	kill -STOP "$SS_KEYRING_PID"
	helper token
	kill -CONT "$SS_KEYRING_PID"
	expect_status 0
	[[ $(printed) == "$(rec access_token)" ]] || fail "not the stored token"
	# The control: without the copy the same call must ask the Secret Service.
	rm -f "$(COPY_DIR)/$PROFILE.user"
	kill -STOP "$SS_KEYRING_PID"
	broker_config "timeout = 1"
	helper token
	kill -CONT "$SS_KEYRING_PID"
	expect_status 75
	expect_stderr "did not answer within 1 s"
}

@test "secret-service: git credential get and erase behave as with store = file" {
	login
	local access
	access=$(rec access_token)
	status=0
	printf 'protocol=https\nhost=127.0.0.1:%s\n\n' "$SANDBOX_PORT" |
		"$HELPER" get >"$OUT" 2>"$BATS_TEST_TMPDIR/err" || status=$?
	stderr=$(<"$BATS_TEST_TMPDIR/err")
	expect_status 0
	[[ $(sed -n 's/^password=//p' "$OUT") == "$access" ]] || fail "get did not answer the token"
	grep -q '^username=' "$OUT" || fail "get gave no username"
	{ printf 'protocol=https\nhost=127.0.0.1:%s\npassword=' "$SANDBOX_PORT"
	  printf '%s\n\n' "$access"; } | "$HELPER" erase >/dev/null 2>&1 || fail "erase failed"
	[[ -z $(rec access_token) ]] || fail "erase kept the access token in the item"
	[[ -n $(rec refresh_token) ]] || fail "erase dropped the refresh token"
	! grep -q '^access_token' "$(COPY_DIR)/$PROFILE.user" 2>/dev/null ||
		fail "the copy still holds the erased token"
	printf 'protocol=https\nhost=127.0.0.1:%s\n\n' "$SANDBOX_PORT" |
		"$HELPER" get >"$OUT" 2>/dev/null || fail "get after erase failed"
	local again
	again=$(sed -n 's/^password=//p' "$OUT")
	[[ -n $again && $again != "$access" && $again == "$(rec access_token)" ]] ||
		fail "get after erase did not hand out a refreshed token"
	expect_stat token.refresh_token 1
}

@test "secret-service: the grant outlives the D-Bus session and the runtime directory" {
	broker_config "refresh_margin = 7200"
	login
	local refresh
	refresh=$(rec refresh_token)
	ss_stop
	ss_runtime_umount
	ss_runtime_mount
	ss_start "$BATS_TEST_TMPDIR/ss2"
	# Every call refreshes (refresh_margin): the refresh token comes from the item.
	helper token
	expect_status 0
	expect_stat token.refresh_token 1
	expect_stat refresh_reuse 0
	[[ $(rec refresh_token) != "$refresh" ]] || fail "the rotated refresh token was not stored"
	[[ $(printed) == "$(rec access_token)" ]] || fail "not the stored token"
	[[ -f "$(COPY_DIR)/$PROFILE.user" ]] || fail "the copy was not made again"
	no_plain_refresh "$(rec refresh_token)"
}

@test "secret-service: a locked keyring: exit 75 at once, nothing lost; unlocked, it works" {
	broker_config "refresh_margin = 7200"
	login
	local before
	before=$(record)
	ss_lock
	helper token
	expect_status 75
	expect_stderr "the keyring is locked; unlock it and retry"
	[[ ! -s $OUT ]] || fail "a token was handed out"
	expect_stat token.refresh_token 0
	# status reads the copy: it still knows the login.
	helper status
	expect_status 0
	# logout finds the keyring locked before it signs out: the grant stays live at the server.
	helper logout
	expect_status 75
	expect_stderr "the keyring is locked"
	expect_stat signout 0
	# login stops before the server issues a grant that the locked keyring could not keep.
	login_try
	expect_status 75
	expect_stderr "the keyring is locked"
	expect_stat token.authorization_code 1
	ss_unlock
	[[ $(record) == "$before" ]] || fail "the item changed while locked"
	helper token
	expect_status 0
	expect_stat token.refresh_token 1
	[[ $(printed) == "$(rec access_token)" ]] || fail "not the stored token"
}

@test "secret-service: no Secret Service at all: exit 75 with the reason, nothing lost" {
	broker_config "refresh_margin = 7200"
	login
	local before
	before=$(record)
	local addr=$DBUS_SESSION_BUS_ADDRESS
	unset DBUS_SESSION_BUS_ADDRESS
	helper token
	expect_status 75
	expect_stderr "no D-Bus session bus"
	# A bus without a provider.
	ss_keyring_stop
	export DBUS_SESSION_BUS_ADDRESS=$addr
	helper token
	expect_status 75
	expect_stderr "no Secret Service on this session bus"
	expect_stat token.refresh_token 0
	ss_keyring_start
	[[ $(record) == "$before" ]] || fail "the item changed"
	helper token
	expect_status 0
}

@test "secret-service: without a private tmpfs runtime directory, no copy is kept" {
	login
	local disk="$BATS_TEST_TMPDIR/disk-run"
	mkdir -m 700 "$disk"
	XDG_RUNTIME_DIR=$disk SOUNDCLOUD_AUTH_TRACE=1 helper token
	expect_status 0
	expect_stderr "secret-service: lookup"
	[[ -z $(ls -A "$disk") ]] || fail "a copy was written to a directory on disk"
	XDG_RUNTIME_DIR= SOUNDCLOUD_AUTH_TRACE=1 helper token
	expect_status 0
	expect_stderr "secret-service: lookup"
	# A runtime directory others may enter is not used either.
	chmod 755 "$XDG_RUNTIME_DIR"
	rm -rf "$(COPY_DIR)"
	helper token
	expect_status 0
	[[ ! -e $(COPY_DIR) ]] || fail "a copy was kept in a runtime directory others may enter"
	chmod 700 "$XDG_RUNTIME_DIR"
}

@test "secret-service: without a runtime directory a refresh still renews the item" {
	broker_config "refresh_margin = 7200"
	login
	local before
	before=$(rec refresh_token)
	XDG_RUNTIME_DIR= helper token
	expect_status 0
	expect_stat token.refresh_token 1
	[[ $(rec refresh_token) != "$before" ]] || fail "the item was not renewed"
	[[ $(printed) == "$(rec access_token)" ]] || fail "not the stored token"
}

@test "secret-service: a pending record older than the item is dropped, never stored over it" {
	broker_config "refresh_margin = 7200"
	login
	# A record kept by a call whose store failed, superseded since by a refresh made where the
	# journal could not be seen (no runtime directory): older than the item, with a spent token.
	local stale
	stale=$(record | sed -e 's/^obtained_at .*/obtained_at 1000/' \
	    -e 's/^refresh_token .*/refresh_token stale-refresh-token/')
	XDG_RUNTIME_DIR= helper token
	expect_status 0
	mkdir -p -m 700 "$(COPY_DIR)"
	(umask 077 && printf 'scauth-pending 1 -1\n%s\n' "$stale" >"$(COPY_DIR)/$PROFILE.user.pending")
	SOUNDCLOUD_AUTH_TRACE=1 helper token
	expect_status 0
	expect_stderr "the pending record of $PROFILE.user is superseded"
	[[ ! -e "$(COPY_DIR)/$PROFILE.user.pending" ]] || fail "the pending record stayed"
	[[ $(rec refresh_token) != stale-refresh-token ]] || fail "the stale record was stored"
	expect_stat token.refresh_token 2
	expect_stat refresh_reuse 0
	[[ $(printed) == "$(rec access_token)" ]] || fail "not the stored token"
}

@test "secret-service: a pending record that does not read is named, and the item stays" {
	login
	local before
	before=$(record)
	mkdir -p -m 700 "$(COPY_DIR)"
	(umask 077 && printf 'scauth-pending 1 -1\nscauth-token 1\nexpires_at soon\n' \
	    >"$(COPY_DIR)/$PROFILE.user.pending")
	helper token
	expect_status 77
	expect_stderr "$PROFILE.user.pending: the pending record does not read"
	[[ $(record) == "$before" ]] || fail "the item changed"
	rm "$(COPY_DIR)/$PROFILE.user.pending"
	helper token
	expect_status 0
}

@test "secret-service: logout removes the items and the copy" {
	login
	helper token --client-credentials
	expect_status 0
	helper logout
	expect_status 0
	expect_stat signout 1
	[[ -z $(record) ]] || fail "logout left the user item"
	[[ ! -e "$(COPY_DIR)/$PROFILE.user" ]] || fail "logout left the copy"
	run secret-tool search --all profile "$PROFILE" grant user
	[[ $output != *label* ]] || fail "secret-tool still finds the login"
	helper token
	expect_status 77
}

@test "secret-service: a keyring that locks during a refresh loses nothing; unlocked, it works" {
	unset DISPLAY WAYLAND_DISPLAY
	broker_config "refresh_margin = 7200"
	login
	sandbox_fault '{"endpoint":"token","kind":"slow","delay_ms":4000}'
	local pid rc=0 i
	SOUNDCLOUD_AUTH_TRACE=1 "$HELPER" token >"$OUT" 2>"$BATS_TEST_TMPDIR/trace" 3>&- &
	pid=$!
	# Lock the keyring while the refresh request is at the (slow) server: after the item
	# was read under the lock and the refresh token sent, before the rotated one is stored.
	for ((i = 0; i < 200; i++)); do
		grep -q "secret-service: lookup" "$BATS_TEST_TMPDIR/trace" && break
		sleep 0.05
	done
	sleep 1
	ss_lock
	wait "$pid" || rc=$?
	no_token_in "$(<"$BATS_TEST_TMPDIR/trace")"
	[[ $rc -eq 75 ]] || fail "expected exit 75 while locked, got $rc"
	grep -q "the keyring is locked" "$BATS_TEST_TMPDIR/trace" || fail "no locked-keyring message"
	expect_stat token.refresh_token 1
	ss_unlock
	# The rotated refresh token was kept and stored now: with this margin every token is due,
	# so the next call refreshes once more, with the kept refresh token, not the spent one.
	helper token
	expect_status 0
	[[ -s $OUT ]] || fail "no token after unlocking"
	expect_stat token.refresh_token 2
	expect_stat refresh_reuse 0
	[[ $(printed) == "$(rec access_token)" ]] || fail "not the stored token"
	[[ -z $(find "$XDG_RUNTIME_DIR" -name '*.pending' 2>/dev/null) ]] || fail "a pending record stayed"
}

@test "secret-service: a rotated grant with nowhere to be kept is said to be lost, not kept" {
	unset DISPLAY WAYLAND_DISPLAY
	broker_config "refresh_margin = 7200"
	login
	sandbox_fault '{"endpoint":"token","kind":"held"}'
	local pid rc=0 i
	XDG_RUNTIME_DIR= "$HELPER" token >"$OUT" 2>"$BATS_TEST_TMPDIR/err" 3>&- &
	pid=$!
	# The refresh token is at the server: the keyring locks before the rotated one is stored,
	# and without a private runtime directory there is no journal to keep it in.
	for ((i = 0; i < 400; i++)); do
		[[ $(stat_of token.refresh_token) == 1 ]] && break
		sleep 0.05
	done
	expect_stat token.refresh_token 1
	ss_lock
	sandbox_ctl POST release >/dev/null
	wait "$pid" || rc=$?
	stderr=$(<"$BATS_TEST_TMPDIR/err")
	no_token_in "$stderr"
	[[ $rc -eq 75 ]] || fail "expected exit 75, got $rc: $stderr"
	expect_stderr "the keyring is locked"
	expect_stderr "could not be kept on this machine either (no private tmpfs XDG_RUNTIME_DIR): log in again"
	[[ ! -s $OUT ]] || fail "a token was handed out"
	ss_unlock
}

# ------------------------------------------------------------------------------------------
# A keyring locked at boot: the daemon started over the keyring files without the password
# (an automatic desktop login), which is not the same as locking a running daemon: until it is
# unlocked, gnome-keyring knows the items of the file only by their hashed attributes.

# keyring_sum: a checksum of the keyring files, to show that nothing wrote to them.
keyring_sum() {
	cat "$XDG_DATA_HOME"/keyrings/* | sha256sum
}

# items_of GRANT: how many items secret-tool finds for this profile and grant (locked ones too).
items_of() {
	secret-tool search --all profile "$PROFILE" grant "$1" 2>/dev/null | grep -c '^label = ' || true
}

# git_cred VERB [PASSWORD]: the git credential protocol for the sandbox's host; status, stderr.
git_cred() {
	status=0
	{ printf 'protocol=https\nhost=127.0.0.1:%s\n' "$SANDBOX_PORT"
	  [[ -z ${2:-} ]] || printf 'password=%s\n' "$2"
	  printf '\n'; } | "$HELPER" "$1" >"$OUT" 2>"$BATS_TEST_TMPDIR/err" || status=$?
	stderr=$(<"$BATS_TEST_TMPDIR/err")
	no_token_in "$stderr"
}

# expect_locked: the last call said the keyring is locked (exit 75), not "log in".
expect_locked() {
	expect_status 75
	expect_stderr "the keyring is locked"
	[[ $stderr != *"log in"* && $stderr != *"not logged in"* ]] ||
		fail "a locked keyring was taken for no login: $stderr"
	[[ ! -s $OUT || $(<"$OUT") != *password=* ]] || fail "a token was handed out"
}

@test "secret-service: a keyring locked at boot is 'locked' (75), never 'log in'; nothing lost" {
	unset DISPLAY WAYLAND_DISPLAY
	# Every token call refreshes: the first one after unlocking must spend the original.
	broker_config "refresh_margin = 7200"
	login
	local refresh access sum
	refresh=$(rec refresh_token)
	access=$(rec access_token)
	ss_reboot_locked "$BATS_TEST_TMPDIR/ss2"
	sum=$(keyring_sum)
	# As a person sees it: the item is there, locked.
	[[ $(items_of user) == 1 ]] || fail "secret-tool does not find the locked item"

	helper token
	expect_locked
	helper status
	expect_locked
	git_cred get
	expect_locked
	git_cred erase "$access"
	expect_locked
	# Logout finds the keyring locked before it signs out: the grant stays live at the server.
	helper logout
	expect_locked
	expect_stat signout 0
	# A login here would put a second grant beside the locked one: refused before the browser.
	login_try
	expect_locked
	expect_stat authorize 1
	expect_stat token.authorization_code 1
	expect_stat token.refresh_token 0
	expect_stat chains_revoked 0
	[[ $(keyring_sum) == "$sum" ]] || fail "the keyring files changed while locked"
	[[ -z $(find "$XDG_RUNTIME_DIR" -name '*.pending' 2>/dev/null) ]] || fail "a pending record appeared"

	ss_unlock
	[[ $(items_of user) == 1 ]] || fail "more than one login item after unlocking"
	[[ $(rec refresh_token) == "$refresh" ]] || fail "the stored grant changed while locked"
	helper token
	expect_status 0
	# The original grant, refreshed once with its own refresh token.
	expect_stat token.refresh_token 1
	expect_stat refresh_reuse 0
	expect_stat token.errors.invalid_grant 0
	[[ $(rec refresh_token) != "$refresh" ]] || fail "the rotated refresh token was not stored"
	[[ $(printed) == "$(rec access_token)" ]] || fail "not the stored token"
	[[ $(items_of user) == 1 ]] || fail "more than one login item"
}

@test "secret-service: the grant in a locked keyring that is not the default: 75, no second grant" {
	unset DISPLAY WAYLAND_DISPLAY
	login
	local refresh login_coll other
	refresh=$(rec refresh_token)
	login_coll=/org/freedesktop/secrets/collection/login
	# The desktop's default keyring is now another, open one; the login keyring locks.
	other=$("$BUILD/tests/keyring-ctl" create other <"$SS_DIR/password") ||
		fail "cannot create a second keyring"
	"$BUILD/tests/keyring-ctl" set-default "$other" || fail "cannot set the default keyring"
	"$BUILD/tests/keyring-ctl" lock "$login_coll" || fail "cannot lock the login keyring"
	[[ $("$BUILD/tests/keyring-ctl" locked "$login_coll") == true ]] || fail "not locked"
	[[ $("$BUILD/tests/keyring-ctl" locked) == false ]] || fail "the default keyring is locked"
	# A new session: no copy of the access token yet.
	rm -f "$(COPY_DIR)/$PROFILE.user"

	helper token
	expect_locked
	login_try
	expect_locked
	expect_stat token.authorization_code 1
	# Nor may a store through the library put one into the open default keyring.
	printf '%s' "$RECORD" | "$SS_ITEM" store "$PROFILE" user "SoundCloud login: $PROFILE" \
		2>"$BATS_TEST_TMPDIR/err" && fail "a second item was stored beside the locked one"
	[[ $(<"$BATS_TEST_TMPDIR/err") == *"the keyring is locked"* ]] ||
		fail "store: $(<"$BATS_TEST_TMPDIR/err")"
	helper logout
	expect_locked
	expect_stat signout 0

	"$BUILD/tests/keyring-ctl" unlock "$login_coll" <"$SS_DIR/password" || fail "cannot unlock"
	[[ $(items_of user) == 1 ]] || fail "a second login item was created"
	[[ $(rec refresh_token) == "$refresh" ]] || fail "the stored grant changed while locked"
	helper token
	expect_status 0
	[[ $(printed) == "$(rec access_token)" ]] || fail "not the stored token"
	expect_stat refresh_reuse 0
	[[ $(items_of user) == 1 ]] || fail "a second login item was created"
}

@test "secret-service: a grant in a keyring that is not the default is renewed there, not copied" {
	broker_config "refresh_margin = 7200"
	login
	local refresh other
	refresh=$(rec refresh_token)
	other=$("$BUILD/tests/keyring-ctl" create other <"$SS_DIR/password") ||
		fail "cannot create a second keyring"
	"$BUILD/tests/keyring-ctl" set-default "$other" || fail "cannot set the default keyring"
	# Every call refreshes: the rotated grant must replace the item where it is.
	helper token
	expect_status 0
	helper token
	expect_status 0
	expect_stat token.refresh_token 2
	expect_stat refresh_reuse 0
	[[ $(items_of user) == 1 ]] || fail "the renewed grant was stored beside the old one"
	[[ $(rec refresh_token) != "$refresh" ]] || fail "the rotated refresh token was not stored"
	[[ $(printed) == "$(rec access_token)" ]] || fail "not the stored token"
	# Still in the login keyring: locking it locks the grant.
	"$BUILD/tests/keyring-ctl" lock /org/freedesktop/secrets/collection/login || fail "cannot lock"
	rm -f "$(COPY_DIR)/$PROFILE.user"
	helper token
	expect_locked
}
