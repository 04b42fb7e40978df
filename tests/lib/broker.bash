# broker.bash - the token broker suite, parametrised over the store backend.
#
# tests/bats/broker.bats (BROKER_STORE=file), tests/bats/broker-keyring.bats
# (BROKER_STORE=keyring) and tests/bats/broker-secret-service.bats (BROKER_STORE=secret-service,
# against a private gnome-keyring: tests/lib/secret-service.bash) load this file; each of
# their @test blocks calls one t_* function here, so both backends run the same tests.  A few are about files only (modes, links,
# owners, a full or read-only file system) and run in the file suite alone; the keyring suite
# has its own counterparts.  Everything goes through the real front end,
# git-credential-soundcloud, against the sandbox.
#
# Tokens never reach the test output: the helper's stdout (where tokens go) lands in a file,
# records are compared inside the shell, and failure messages never quote a token.

bats_require_minimum_version 1.5.0

: "${BROKER_STORE:?set BROKER_STORE=file, keyring or secret-service before loading broker.bash}"
KILL_ROUNDS=${KILL_ROUNDS:-150}
# The kill -9 test stops early, after KILL_MIN_ROUNDS at least, once it has run KILL_SECONDS: on
# a loaded machine (CI runners, a test system in a chroot beside others) a round can take ten
# times as long, and the suite must still end in its time.  It runs in make check for each
# store and in each of CI's three runs: 120 s at most keeps those within their budgets; a
# longer sample is KILL_ROUNDS=300 KILL_SECONDS=900 (BENCHMARKS.md).
KILL_SECONDS=${KILL_SECONDS:-120}
KILL_MIN_ROUNDS=${KILL_MIN_ROUNDS:-40}
CONCURRENCY=${CONCURRENCY:-32}

setup_file() {
	sc_setup_file
	# Names this file's run in the profiles of its tests: unique across PID namespaces, since
	# root's kernel keyring is shared by every container and CI runner on this kernel.  Short
	# (48 bits), so that no profile name looks like a token to no_token_in.
	BROKER_RUN="r$(random_id | cut -c1-12)"
	export BROKER_RUN
}

teardown_file() {
	[[ $BROKER_STORE != keyring ]] || kr_purge_file
	sc_teardown_file
}

setup() {
	sc_setup
	# A profile of its own per test: the kernel keyring is shared by all of root's processes.
	PROFILE="b$BATS_TEST_NUMBER.$BROKER_RUN.$RANDOM"
	export SOUNDCLOUD_AUTH_PROFILE=$PROFILE
	STATE="$XDG_STATE_HOME/soundcloud-auth"
	OUT="$BATS_TEST_TMPDIR/out"
	[[ $BROKER_STORE != secret-service ]] || ss_setup
	broker_config
}

teardown() {
	if [[ -n ${HOLDER_PID:-} ]]; then
		kill "$HOLDER_PID" 2>/dev/null
		wait "$HOLDER_PID" 2>/dev/null || true
	fi
	[[ $BROKER_STORE != keyring ]] || kr_purge
	[[ $BROKER_STORE != secret-service ]] || ss_teardown
	if [[ -n ${MNT:-} ]] && mountpoint -q "$MNT"; then
		umount -l "$MNT"
	fi
	return 0
}

# Writes the config for this backend, with extra "key = value" lines.
broker_config() {
	sc_write_config "store = $BROKER_STORE" "$@"
}

# helper ARGS...: runs git-credential-soundcloud with its stdout (where tokens go) in $OUT;
# sets status and stderr.  stderr is checked for token-looking strings every time.
helper() {
	status=0
	"$HELPER" "$@" >"$OUT" 2>"$BATS_TEST_TMPDIR/err" || status=$?
	stderr=$(<"$BATS_TEST_TMPDIR/err")
	no_token_in "$stderr"
}

# Fails when text holds something shaped like a sandbox token (32 base64url characters).
no_token_in() {
	if [[ $1 =~ [A-Za-z0-9_-]{32} ]]; then
		fail "a token-like string reached stderr"
	fi
	refute_secrets "$1"
}

# The stored record of slot user (default) or app, whatever the backend; empty when none.
record() {
	local slot=${1:-user} id
	if [[ $BROKER_STORE == keyring ]]; then
		id=$(key_id "$slot") || return 0
		keyctl pipe "$id" 2>/dev/null
	elif [[ $BROKER_STORE == secret-service ]]; then
		"$BUILD/tests/ss-item" lookup "$PROFILE" "$slot" 2>/dev/null
	else
		cat "$STATE/$PROFILE.$slot" 2>/dev/null
	fi
	return 0
}

# key_id SLOT: the id of this test's key for a slot (user, app, user.reserve ...).
key_id() {
	keyctl search @u user "soundcloud-auth:$PROFILE.$1" 2>/dev/null
}

# rec KEY [SLOT]: one value of the stored record ("" when absent).
rec() {
	record "${2:-user}" | awk -v k="$1" '$1 == k { print $2 }'
}

# The token the helper printed last.
printed() {
	cat "$OUT"
}

# chain_of TOKEN: what the sandbox knows of a refresh token (known, live, revoked ...).
chain_of() {
	sandbox_ctl GET "chain?fp=$(sandbox_fp "$1")"
}

login() {
	sc_login
	[[ -n $(rec refresh_token) ]] || fail "login stored no refresh token"
}

# Removes this test's keys from root's user keyring.
kr_purge() {
	local slot id
	for slot in user app user.reserve app.reserve; do
		id=$(key_id "$slot") || continue
		keyctl invalidate "$id" 2>/dev/null || keyctl unlink "$id" @u 2>/dev/null
	done
	return 0
}

# A backstop after the whole file: every key of its tests (profiles b<N>.$BROKER_RUN.<R>).
kr_purge_file() {
	local id desc
	for id in $(keyctl rlist @u 2>/dev/null); do
		desc=$(keyctl rdescribe "$id" 2>/dev/null) || continue
		[[ $desc == user\;*\;soundcloud-auth:b*.$BROKER_RUN.* ]] || continue
		keyctl invalidate "$id" 2>/dev/null || keyctl unlink "$id" @u 2>/dev/null || true
	done
	return 0
}

now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

# Mounts a small tmpfs as $XDG_STATE_HOME (root only: we are root in CI).
mount_small_state() {
	MNT="$BATS_TEST_TMPDIR/mnt"
	mkdir -p "$MNT"
	mount -t tmpfs -o size=1m,mode=0700 tmpfs "$MNT" ||
		fail "cannot mount a tmpfs on $MNT (this test needs root, as CI has)"
	export XDG_STATE_HOME="$MNT/state"
	STATE="$XDG_STATE_HOME/soundcloud-auth"
}

# ------------------------------------------------------------------------------------------
# Fresh tokens cost nothing.

t_fresh_no_network() {
	login
	helper token
	expect_status 0
	local first
	first=$(printed)
	[[ -n $first && $first == "$(rec access_token)" ]] || fail "token is not the stored one"

	# The cached path: no request, no lock wait, and neither libcurl nor libcrypto loaded.
	SOUNDCLOUD_AUTH_TRACE=1 LD_DEBUG=libs helper token
	expect_status 0
	[[ $(printed) == "$first" ]] || fail "a fresh token was not handed out as stored"
	expect_stderr "cache hit"
	[[ $stderr != *"libcurl"* ]] || fail "the cached path loaded libcurl"
	[[ $stderr != *"libcrypto"* ]] || fail "the cached path loaded libcrypto"
	[[ $stderr != *"libsecret"* ]] || fail "the cached path loaded libsecret"
	[[ $stderr != *"http "* ]] || fail "the cached path made a request"
	# Nothing but libc at all (the helper links libscauth.a): json-c too is loaded on first
	# use, and libkeyutils, by the keyring store alone, which needs it to read the token.
	local libs want="libc.so.6"
	[[ $BROKER_STORE != keyring ]] || want="libc.so.6 libkeyutils.so.1"
	# A sanitizer build also maps its runtime and what that needs, whatever the code does.
	libs=$(grep -o 'find library=[^ ;]*' <<<"$stderr" | cut -d= -f2 |
		grep -vE '^lib(asan|ubsan|stdc\+\+|gcc_s|m)\.so' | sort -u | xargs)
	[[ $libs == "$want" ]] || fail "the cached path loaded $libs, not only $want"
	expect_stat token.refresh_token 0

	# The control: a refresh does load libcurl, so the check above can fail.
	broker_config "refresh_margin = 7200"
	SOUNDCLOUD_AUTH_TRACE=1 LD_DEBUG=libs helper token
	expect_status 0
	[[ $stderr == *"libcurl"* ]] || fail "LD_DEBUG showed no libcurl loaded for a refresh"
	[[ $stderr == *"find library=libjson-c"* ]] ||
		fail "LD_DEBUG showed no json-c loaded for a refresh"
	expect_stat token.refresh_token 1
}

# ------------------------------------------------------------------------------------------
# Concurrency.

t_concurrent_refresh() {
	# Log in with a token that lives less than refresh_margin (300 s, set on purpose: the
	# default would count only half a short token's life), so that it is stale at once
	# (login's own /me call still works with it); refreshed ones live an hour.
	broker_config "refresh_margin = 300"
	sandbox_ctl POST ttl '{"seconds":60}' >/dev/null
	login
	sandbox_ctl POST ttl '{"seconds":3600}' >/dev/null
	local old
	old=$(rec access_token)
	# A slow token endpoint keeps the refresh going while every process starts and queues.
	sandbox_fault '{"endpoint":"token","kind":"slow","delay_ms":400}'

	local dir="$BATS_TEST_TMPDIR/conc" i pids=()
	mkdir -p "$dir"
	for ((i = 0; i < CONCURRENCY; i++)); do
		SOUNDCLOUD_AUTH_TRACE=1 "$HELPER" token >"$dir/out.$i" 2>"$dir/err.$i" 3>&- &
		pids+=($!)
	done
	local rc failed=0
	for i in "${!pids[@]}"; do
		rc=0
		wait "${pids[$i]}" || rc=$?
		if ((rc != 0)); then
			failed=$((failed + 1))
			echo "process $i: exit $rc: $(<"$dir/err.$i")" >&2
		fi
	done
	((failed == 0)) || fail "$failed of $CONCURRENCY processes failed"

	local first stored
	first=$(<"$dir/out.0")
	stored=$(rec access_token)
	[[ -n $first && $first != "$old" ]] || fail "the expired token was handed out"
	[[ $first == "$stored" ]] || fail "the token handed out is not the stored one"
	for ((i = 1; i < CONCURRENCY; i++)); do
		[[ $(<"$dir/out.$i") == "$first" ]] || fail "process $i got a different token"
		no_token_in "$(<"$dir/err.$i")"
	done

	local refreshes reuse waited renewed hits
	refreshes=$(stat_of token.refresh_token)
	reuse=$(stat_of refresh_reuse)
	waited=$(grep -l "lock wait" "$dir"/err.* | wc -l)
	renewed=$(grep -l "renewed by another process" "$dir"/err.* | wc -l)
	hits=$(grep -l "cache hit" "$dir"/err.* | wc -l)
	echo "# $BROKER_STORE: $CONCURRENCY processes on an expired token: $refreshes refresh" \
		"request(s), $reuse reuse; $waited waited for the lock, $renewed took the token" \
		"another renewed, $hits found it fresh" >&3
	[[ $refreshes == 1 ]] || fail "$refreshes refresh requests, expected exactly 1"
	[[ $reuse == 0 ]] || fail "a refresh token was reused $reuse times"
	expect_stat token.errors.invalid_grant 0
	((waited >= 1)) || fail "no process waited for the lock: they did not contend"
	((renewed + hits == CONCURRENCY - 1)) ||
		fail "$renewed + $hits processes did not refresh, expected $((CONCURRENCY - 1))"
}

# ------------------------------------------------------------------------------------------
# kill -9 at random moments of a refresh.

t_kill9_chain_survives() {
	# A margin longer than the sandbox's TTL: every call refreshes.
	broker_config "refresh_margin = 7200"
	login

	# How long an undisturbed refresh takes here, to spread the kills over all of it.
	local i t0 total=0
	for ((i = 0; i < 5; i++)); do
		t0=$(now_ms)
		"$HELPER" token >/dev/null 2>&1 || fail "an undisturbed refresh failed"
		total=$((total + $(now_ms) - t0))
	done
	local spread=$((total / 5))            # the mean, in ms
	((spread >= 30)) || spread=30
	((spread <= 999)) || spread=999

	local round delay prev prev_fp cur chain rounds=0 deadline=$((SECONDS + KILL_SECONDS))
	local stored_new=0 before=0 window=0 relogins=0 finished=0
	for ((round = 1; round <= KILL_ROUNDS; round++)); do
		((round <= KILL_MIN_ROUNDS || SECONDS < deadline)) || break
		rounds=$round
		prev=$(rec refresh_token)
		prev_fp=$(sandbox_fp "$prev")
		delay=$((RANDOM % (spread + 1)))
		kill_token_after "$delay" && finished=$((finished + 1))

		# The store always parses (through the library itself) and holds a refresh token.
		helper status
		[[ $status -eq 0 ]] ||
			fail "round $round (kill after $delay ms): stored grant unusable: $stderr"
		cur=$(rec refresh_token)
		[[ -n $cur ]] || fail "round $round: no refresh token stored"
		chain=$(sandbox_ctl GET "chain?fp=$(sandbox_fp "$cur")")
		if [[ $(sandbox_fp "$cur") != "$prev_fp" ]]; then
			# Refreshed and stored: the server must know it as the live one.
			[[ $chain == *'"live":true'* ]] ||
				fail "round $round: the new refresh token is not live: $chain"
			stored_new=$((stored_new + 1))
		elif [[ $chain == *'"live":true'* ]]; then
			before=$((before + 1))  # killed before the server rotated: nothing lost
		elif [[ $chain == *'"known":true'* && $chain == *'"revoked":false'* ]]; then
			# The server rotated and the process died before its durable write: the one
			# window that single-use refresh tokens leave open.  Log in again.
			window=$((window + 1))
			login
			relogins=$((relogins + 1))
		else
			fail "round $round (kill after $delay ms): the chain was lost: $chain"
		fi
	done

	# Nothing else ever lost the chain: no reuse, no invalid_grant, nothing revoked.
	local reuse invalid revoked
	reuse=$(stat_of refresh_reuse)
	invalid=$(stat_of token.errors.invalid_grant)
	revoked=$(stat_of chains_revoked)
	echo "# $BROKER_STORE: kill -9 over $rounds of $KILL_ROUNDS rounds (random delay 0-$spread ms," \
		"a refresh takes ~$((total / 5)) ms): $stored_new refreshed and stored," \
		"$before killed before the server rotated, $window in the window between" \
		"rotation and the durable write ($relogins re-logins), $finished finished" \
		"before the kill;" \
		"reuse $reuse, invalid_grant $invalid, chains revoked $revoked" >&3
	[[ $reuse == 0 && $invalid == 0 && $revoked == 0 ]] ||
		fail "chain lost outside the window: reuse $reuse, invalid_grant $invalid," \
			"revoked $revoked"
	((stored_new > 0 && before > 0)) ||
		fail "the kills missed the refresh (stored $stored_new, before $before)"
	helper token
	expect_status 0
	[[ $(printed) == "$(rec access_token)" ]] || fail "the last token is not the stored one"
}

# ------------------------------------------------------------------------------------------
# Full and read-only file systems (file backend).

# The syscalls of one refresh that may replace the store, as strace names them, with their
# count: "rename 1", "fsync 3" ...
refresh_syscalls() {
	local log=$BATS_TEST_TMPDIR/strace.count
	strace -f -qq -c -S name -U name,calls -o "$log" \
		-e trace=rename,renameat,renameat2,fsync,fdatasync "$HELPER" token >/dev/null 2>&1 ||
		fail "an undisturbed refresh failed under strace"
	awk '$1 ~ /^(rename|renameat|renameat2|fsync|fdatasync)$/ && $2 > 0 { print $1, $2 }' "$log"
}

t_strace_kill_each_step() {
	# A margin longer than the sandbox's TTL: every call refreshes.
	broker_config "refresh_margin = 7200"
	login
	local calls name count n kills=0 chain
	calls=$(refresh_syscalls)
	grep -qE '^rename' <<<"$calls" || fail "no rename seen in a refresh: $calls"
	grep -qE '^f(data)?sync' <<<"$calls" || fail "no fsync seen in a refresh: $calls"
	while read -r name count; do
		for ((n = 1; n <= count; n++)); do
			# Killed as it enters the n-th such call of a refresh.
			# (In a subshell, so that the shell's "Killed" note goes nowhere.)
			(strace -f -qq -o /dev/null -e trace="$name" \
				-e inject="$name:signal=SIGKILL:when=$n" "$HELPER" token \
				>/dev/null 2>&1) 2>/dev/null &&
				fail "the helper was not killed at $name #$n"
			kills=$((kills + 1))
			# The login survives: the next call works, with no refresh token reused.
			helper token
			[[ $status -eq 0 ]] || fail "after a kill at $name #$n: exit $status: $stderr"
			[[ $(printed) == "$(rec access_token)" ]] ||
				fail "after a kill at $name #$n: the token handed out is not the stored one"
			[[ ! -e $STATE/$PROFILE.user.new ]] ||
				fail "after a kill at $name #$n: $PROFILE.user.new is left over"
			expect_stat refresh_reuse 0
		done
	done <<<"$calls"
	((kills >= 3)) || fail "only $kills kill points in a refresh"
	expect_stat token.errors.invalid_grant 0
	chain=$(chain_of "$(rec refresh_token)")
	[[ $chain == *'"live":true'* ]] || fail "the stored refresh token is not live: $chain"
	echo "# killed a refresh at each of $kills renames and fsyncs: no login lost" >&3
}

t_enospc_keeps_chain() {
	mount_small_state
	broker_config "refresh_margin = 7200"
	login
	local before refresh
	before=$(record)
	refresh=$(rec refresh_token)

	# Fill the file system to the last block.
	dd if=/dev/zero of="$MNT/filler" bs=4k >/dev/null 2>&1 || true
	[[ $(df --output=avail "$MNT" | tail -n 1 | tr -d ' ') == 0 ]] ||
		fail "the tmpfs is not full"

	helper token
	expect_status 75
	expect_stderr "No space left on device" "$STATE"
	[[ ! -s $OUT ]] || fail "a token was handed out although it could not be stored"
	[[ $(record) == "$before" ]] || fail "the stored record changed"
	# The space was reserved before the refresh token was sent: it was never spent.
	expect_stat token.refresh_token 0
	[[ $(chain_of "$refresh") == *'"live":true'* ]] ||
		fail "the stored refresh token is no longer live"

	rm -f "$MNT/filler"
	helper token
	expect_status 0
	[[ $(printed) == "$(rec access_token)" ]] || fail "the token is not the stored one"
	expect_stat token.refresh_token 1
	expect_stat refresh_reuse 0
	[[ $(chain_of "$(rec refresh_token)") == *'"live":true'* ]] ||
		fail "the new refresh token is not live"
}

t_readonly_keeps_chain() {
	mount_small_state
	broker_config "refresh_margin = 7200"
	login
	local before refresh
	before=$(record)
	refresh=$(rec refresh_token)
	mount -o remount,ro "$MNT" || fail "cannot remount $MNT read-only"

	helper token
	expect_status 75
	expect_stderr "Read-only file system" "$STATE"
	[[ ! -s $OUT ]] || fail "a token was handed out although it could not be stored"
	[[ $(record) == "$before" ]] || fail "the stored record changed"
	expect_stat token.refresh_token 0
	[[ $(chain_of "$refresh") == *'"live":true'* ]] ||
		fail "the stored refresh token is no longer live"
	# Reading still works.
	helper status
	expect_status 0

	mount -o remount,rw "$MNT" || fail "cannot remount $MNT read-write"
	helper token
	expect_status 0
	expect_stat token.refresh_token 1
	expect_stat refresh_reuse 0
}

# ------------------------------------------------------------------------------------------
# Unsafe stores are refused (file backend).

# Asserts that `token` refuses the store with exit 78 and a message holding each piece.
expect_refused() {
	helper token
	expect_status 78
	expect_stderr "$@"
	[[ ! -s $OUT ]] || fail "a token was handed out from an unsafe store"
}

t_unsafe_symlink() {
	login
	local f="$STATE/$PROFILE.user"
	cp -p "$f" "$BATS_TEST_TMPDIR/planted"
	rm "$f"
	ln -s "$BATS_TEST_TMPDIR/planted" "$f"
	expect_refused "$f" "symbolic link"
	rm "$f"
	mv "$BATS_TEST_TMPDIR/planted" "$f"
	helper token
	expect_status 0

	# The directory itself as a link.
	mv "$STATE" "$STATE.real"
	ln -s "$STATE.real" "$STATE"
	expect_refused "$STATE" "symbolic link"
	rm "$STATE"
	mv "$STATE.real" "$STATE"

	# The lock file as a link: refused before any refresh.
	broker_config "refresh_margin = 7200"
	rm "$STATE/$PROFILE.lock"
	ln -s /etc/passwd "$STATE/$PROFILE.lock"
	expect_refused "$PROFILE.lock" "symbolic link"
	expect_stat token.refresh_token 0
}

t_unsafe_owner() {
	login
	local f="$STATE/$PROFILE.user"
	chown 4242:4242 "$f"
	expect_refused "$f" "owned by uid 4242"
	chown 0:0 "$f"
	chown 4242 "$STATE"
	expect_refused "$STATE" "owned by uid 4242"
	chown 0 "$STATE"
	helper token
	expect_status 0
}

t_unsafe_modes() {
	login
	local f="$STATE/$PROFILE.user" m
	for m in 644 640 604 666; do
		chmod "$m" "$f"
		expect_refused "$f" "mode 0$m" "chmod 600"
	done
	chmod 600 "$f"
	for m in 755 750 711; do
		chmod "$m" "$STATE"
		expect_refused "$STATE" "mode 0$m" "chmod 700"
	done
	chmod 700 "$STATE"
	helper token
	expect_status 0
}

# ------------------------------------------------------------------------------------------
# The keyring backend's own guarantees.

t_keyring_nothing_on_disk() {
	broker_config "refresh_margin = 7200"
	login
	helper token
	expect_status 0
	helper token --client-credentials
	expect_status 0
	local files
	files=$(cd "$STATE" && ls -A)
	[[ $files == "$PROFILE.lock" ]] || fail "the keyring store left files on disk: $files"
	[[ -n $(rec access_token) && -n $(rec access_token app) ]] ||
		fail "the keys hold no tokens"
	local tok
	tok=$(rec refresh_token)
	! grep -rqF -- "$tok" "$HOME" || fail "a refresh token was written under \$HOME"
}

t_keyring_loose_key_refused() {
	login
	local id
	id=$(keyctl search @u user "soundcloud-auth:$PROFILE.user")
	keyctl setperm "$id" 0x3f3f0101
	helper token
	expect_status 78
	expect_stderr "soundcloud-auth:$PROFILE.user" "group/other"
	[[ ! -s $OUT ]] || fail "a token was handed out from a key others may read"
}

# ------------------------------------------------------------------------------------------
# Client credentials.

t_cc_cached() {
	# 100 calls, ten at a time from the start (the first ten race for an empty slot).
	local dir="$BATS_TEST_TMPDIR/cc" i j pids first rc
	mkdir -p "$dir"
	for ((i = 0; i < 100; i += 10)); do
		pids=()
		for ((j = i; j < i + 10; j++)); do
			"$HELPER" token --client-credentials >"$dir/out.$j" 2>"$dir/err.$j" 3>&- &
			pids+=($!)
		done
		for j in "${!pids[@]}"; do
			rc=0
			wait "${pids[$j]}" || rc=$?
			((rc == 0)) || fail "call $((i + j)): exit $rc: $(<"$dir/err.$((i + j))")"
		done
	done
	first=$(<"$dir/out.0")
	[[ -n $first && $first == "$(rec access_token app)" ]] ||
		fail "the app token is not the stored one"
	for ((i = 1; i < 100; i++)); do
		[[ $(<"$dir/out.$i") == "$first" ]] || fail "call $i got another app token"
	done
	local n
	n=$(stat_of token.client_credentials)
	echo "# $BROKER_STORE: 100 client-credentials calls (10 at a time):" \
		"$n token request(s)" >&3
	[[ $n == 1 ]] || fail "$n client-credentials requests for 100 calls, expected 1"
	expect_stat token.refresh_token 0
	# The user slot is untouched.
	[[ -z $(record user) ]] || fail "the app grant was stored in the user slot"
}

t_cc_renewed_with_refresh_token() {
	broker_config "refresh_margin = 7200"
	helper token --client-credentials
	expect_status 0
	local first
	first=$(printed)
	[[ -n $(rec refresh_token app) ]] || fail "the app slot keeps no refresh token"
	helper token --client-credentials
	expect_status 0
	[[ $(printed) != "$first" ]] || fail "a stale app token was handed out"
	# Renewed with its refresh token, not with a second exchange.
	expect_stat token.client_credentials 1
	expect_stat token.refresh_token 1
}

# The label a program gave the app grant survives its renewals: with its refresh token, and
# with a new exchange when the server refuses that one.
t_cc_label_survives_refresh() {
	broker_config "refresh_margin = 7200"
	helper token --client-credentials
	expect_status 0
	run "$BUILD/tests/app-label" set app-label-1
	assert_success
	run "$BUILD/tests/app-label" get
	assert_success
	assert_output app-label-1
	expect_stat token.refresh_token 1
	[[ $(rec label app) == app-label-1 ]] || fail "the refresh dropped the stored label"
	# The refresh token refused: a second exchange, the label still kept.
	sandbox_ctl POST revoke '{"what":"all"}' >/dev/null
	run "$BUILD/tests/app-label" get
	assert_success
	assert_output app-label-1
	expect_stat token.client_credentials 2
}

# rate_limited FAULT_JSON: a 429 is remembered; no request is made until its reset time.
# FAULT_JSON's RESET is replaced by the seconds to the reset time: 4, and more on a machine so
# busy that one call of the helper takes a second or more, so that calls still come in before
# the reset time, however loaded the machine.
rate_limited() {
	local t0 ms
	t0=$(date +%s%N)
	helper status
	ms=$((($(date +%s%N) - t0) / 1000000))
	sandbox_fault "${1//RESET/$((4 + 3 * ms / 1000))}"
	helper token --client-credentials
	expect_status 75
	expect_stderr "rate limited" "until"
	expect_stat token.client_credentials 1
	local until
	until=$(rec retry_at app)
	[[ $until =~ ^[0-9]+$ ]] || fail "the app slot does not remember the reset time"
	(( until > $(date +%s) )) || fail "the remembered reset time is not in the future"

	# Until then: fail fast, no request.  Poll (bounded) until it succeeds again.
	local tries=0 t done_at
	while :; do
		t=$(date +%s)
		helper token --client-credentials
		# Read the clock after a success: the request was made no later than this.
		[[ $status -eq 0 ]] && { done_at=$(date +%s); break; }
		expect_status 75
		((t < until + 1)) || fail "still refused a while after the reset time"
		expect_stat token.client_credentials 1
		tries=$((tries + 1))
		((tries < 200)) || fail "still rate limited after $tries tries"
		sleep 0.1
	done
	((done_at >= until)) || fail "a request was made before the reset time"
	((tries >= 1)) || fail "no call came in before the reset time: the test proved nothing"
	expect_stat token.client_credentials 2
	[[ -z $(rec retry_at app) ]] || fail "the reset time was not cleared"
	echo "# $BROKER_STORE: rate limited: $tries calls before the reset time," \
		"no request made" >&3
}

t_cc_rate_limited_reset_time() {
	rate_limited '{"endpoint":"token","kind":"429","reset_in":RESET}'
}

t_cc_rate_limited_retry_after() {
	rate_limited \
		'{"endpoint":"token","kind":"429","body":"rate_limit_exceeded","retry_after":RESET}'
}

# ------------------------------------------------------------------------------------------
# 401s, revoked grants, git's erase, sign-out, the lock.

t_401_healed_by_one_refresh() {
	login
	local old
	old=$(rec access_token)
	sandbox_ctl POST revoke '{"what":"access"}' >/dev/null
	helper api /me
	expect_status 0
	[[ $(printed) == *'"urn":"soundcloud:users:1001"'* ]] || fail "no /me answer"
	expect_stat token.refresh_token 1
	expect_stat refresh_reuse 0
	[[ $(rec access_token) != "$old" ]] || fail "the refused access token is still stored"
	helper api /me
	expect_status 0
	expect_stat token.refresh_token 1
}

t_401_twice_is_an_error() {
	login
	sandbox_fault '{"endpoint":"api","kind":"invalid_token","count":2}'
	helper api /me
	expect_status 77
	expect_stderr "401"
	expect_stat token.refresh_token 1
}

t_invalid_grant_erases() {
	broker_config "refresh_margin = 7200"
	login
	sandbox_ctl POST revoke '{"what":"all"}' >/dev/null
	helper token
	expect_status 77
	expect_stderr "invalid_grant" "log in again"
	[[ -z $(record) ]] || fail "the refused grant is still stored"
	# Login required from now on, without asking the server again.
	helper token
	expect_status 77
	expect_stat token.refresh_token 1
}

t_erase_drops_access_only() {
	login
	local access refresh
	access=$(rec access_token)
	refresh=$(rec refresh_token)
	# A token that is not ours changes nothing.
	printf 'protocol=https\nhost=127.0.0.1:%s\npassword=not-our-token\n\n' "$SANDBOX_PORT" |
		"$HELPER" erase >/dev/null 2>&1 || fail "erase of a foreign token failed"
	[[ $(rec access_token) == "$access" ]] || fail "a foreign erase dropped our token"
	{ printf 'protocol=https\nhost=127.0.0.1:%s\npassword=' "$SANDBOX_PORT"
	  printf '%s\n\n' "$access"; } | "$HELPER" erase >/dev/null 2>&1 || fail "erase failed"
	[[ -z $(rec access_token) ]] || fail "erase kept the access token"
	[[ $(rec refresh_token) == "$refresh" ]] || fail "erase dropped the refresh token"
	helper token
	expect_status 0
	[[ $(printed) != "$access" && $(printed) == "$(rec access_token)" ]] ||
		fail "the next token was not a refreshed one"
	expect_stat token.refresh_token 1
}

t_logout_signs_out_and_erases() {
	login
	local refresh
	refresh=$(rec refresh_token)
	helper logout
	expect_status 0
	expect_stat signout 1
	[[ -z $(record) ]] || fail "logout left the grant stored"
	[[ $(chain_of "$refresh") == *'"revoked":true'* ]] || fail "the server still has the login"
	helper token
	expect_status 77
}

t_lock_timeout() {
	broker_config "refresh_margin = 7200" "timeout = 1"
	login
	# Another process holds the refresh lock (and keeps holding it).
	local lock="$STATE/$PROFILE.lock"
	[[ -f $lock ]] || fail "no lock file after login"
	( exec 9<"$lock" && flock 9 && exec sleep 120 ) 3>&- &
	HOLDER_PID=$!
	local i
	for ((i = 0; i < 100; i++)); do
		flock -n "$lock" true || break
		sleep 0.05
	done
	((i < 100)) || fail "the lock holder did not get the lock"

	local t0
	t0=$(date +%s)
	helper token
	expect_status 75
	expect_stderr "held the refresh lock"
	(($(date +%s) - t0 >= 5)) || fail "gave up before timeout + 5 s"
	expect_stat token.refresh_token 0

	kill "$HOLDER_PID"
	wait "$HOLDER_PID" 2>/dev/null || true
	HOLDER_PID=
	helper token
	expect_status 0
	expect_stat token.refresh_token 1
}
