#!/usr/bin/env bats
# fleet.bats - the fleet store's database and key: `fleet init` against a real PostgreSQL server
# started by the suite (tests/lib/postgres.bash), machines simulated by homes of their own, and
# the faults an operator meets (wrong password, no database, server down, loose key file).
# Each test has a database of its own; passwords live in passfiles only and are checked to
# appear in no output.

bats_require_minimum_version 1.5.0
load '../lib/common'
load '../lib/postgres'

setup_file() {
	sc_setup_file
	pg_start
	pg_role scauth
}

teardown_file() {
	pg_stop
	sc_teardown_file
}

setup() {
	sc_setup
	DB="fleet$BATS_TEST_NUMBER"
	pg_sql -c "CREATE DATABASE $DB OWNER scauth" >/dev/null
	KEY="$BATS_TEST_TMPDIR/seal.key"
	OUT="$BATS_TEST_TMPDIR/out"
	machine 0
}

# machine N [extra config lines]: makes machine N the current one (a home, state and config of
# its own, one database and key for all).
machine() {
	local n=$1
	shift
	export HOME="$BATS_TEST_TMPDIR/m$n"
	mkdir -p "$HOME"
	export XDG_CONFIG_HOME="$HOME/.config" XDG_STATE_HOME="$HOME/.local/state"
	sc_write_config "store = file" "postgres = $(pg_conninfo scauth "$DB")" \
		"seal_key_file = $KEY" "$@"
}

# helper ARGS...: git-credential-soundcloud with stdout in $OUT; sets status, stdout, stderr.
helper() {
	status=0
	"$HELPER" "$@" >"$OUT" 2>"$BATS_TEST_TMPDIR/err" || status=$?
	stdout=$(<"$OUT")
	stderr=$(<"$BATS_TEST_TMPDIR/err")
	no_password_in "$stdout$stderr"
}

# Fails when a database password of the suite appears in the text.
no_password_in() {
	local f pw
	for f in "$PG_DIR"/*.pass; do
		pw=$(cut -d: -f5 "$f")
		[[ -n $pw && $1 != *"$pw"* ]] || fail "a database password from ${f##*/} leaked"
	done
}

# The table's columns, as "name type" lines.
columns() {
	PG_SQL_DB=$DB pg_sql -c "SELECT column_name || ' ' || data_type FROM
		information_schema.columns WHERE table_name = 'scauth_slot' ORDER BY ordinal_position"
}

@test "fleet init --new-key: a 0600 key of 32 bytes, the table, and nothing printed of either" {
	[[ -z $(columns) ]] || fail "the table exists before init"
	umask 022
	helper fleet init --new-key
	expect_status 0
	[[ $stdout == *"wrote a new seal key to $KEY"* ]] || fail "no word of the key: $stdout"
	[[ $(stat -c '%a %s %u' "$KEY") == "600 32 $(id -u)" ]] ||
		fail "key file is $(stat -c '%a %s %u' "$KEY")"
	local cols
	cols=$(columns)
	[[ $cols == *"slot text"*"record bytea"*"version bigint"*"updated_at timestamp with time zone"*"updated_by text"* ]] ||
		fail "unexpected columns: $cols"
	# Not a byte of the key in what was printed.
	local hex
	hex=$(od -An -tx1 "$KEY" | tr -d ' \n')
	[[ $stdout$stderr != *"$hex"* && $stdout$stderr != *"$(base64 -w0 "$KEY")"* ]] ||
		fail "the key was printed"
}

@test "fleet init --new-key never writes over an existing key file: 78, the key unchanged" {
	helper fleet init --new-key
	expect_status 0
	local before
	before=$(sha256sum <"$KEY")
	helper fleet init --new-key
	expect_status 78
	expect_stderr "$KEY" "exists" "never overwritten"
	[[ $(sha256sum <"$KEY") == "$before" ]] || fail "the key file changed"
	# Nor through a link to a file that does not exist yet.
	ln -s "$BATS_TEST_TMPDIR/elsewhere" "$BATS_TEST_TMPDIR/link.key"
	machine 0 "seal_key_file = $BATS_TEST_TMPDIR/link.key"
	helper fleet init --new-key
	expect_status 78
	[[ ! -e $BATS_TEST_TMPDIR/elsewhere ]] || fail "a key was written through a link"
}

@test "fleet init is idempotent and 8 machines may run it at once on an empty database" {
	helper fleet init --new-key
	expect_status 0
	PG_SQL_DB=$DB pg_sql -c "DROP TABLE scauth_slot"
	local n pids=() rc=0
	for n in 1 2 3 4 5 6 7 8; do
		machine "$n"
		"$HELPER" fleet init >"$BATS_TEST_TMPDIR/init$n.out" 2>&1 &
		pids+=($!)
	done
	for n in "${!pids[@]}"; do
		wait "${pids[$n]}" || { rc=$?; cat "$BATS_TEST_TMPDIR/init$((n + 1)).out" >&2; }
	done
	[[ $rc -eq 0 ]] || fail "a concurrent fleet init failed (exit $rc)"
	[[ $(PG_SQL_DB=$DB pg_sql -c "SELECT count(*) FROM pg_class WHERE relname = 'scauth_slot'") == 1 ]] ||
		fail "not exactly one table"
	machine 3
	helper fleet init
	expect_status 0
}

@test "fleet init with a role that may only read and write rows: fine once the table exists" {
	pg_role "fleetrw$BATS_TEST_NUMBER"
	local rw="fleetrw$BATS_TEST_NUMBER"
	machine 0 "postgres = $(pg_conninfo "$rw" "$DB")"
	helper fleet init --new-key
	expect_status 78
	expect_stderr "permission denied"
	# The owner creates the table once and grants the rows; every machine may then init.
	machine 1
	helper fleet init
	expect_status 0
	PG_SQL_DB=$DB pg_sql -c "GRANT SELECT, INSERT, UPDATE, DELETE ON scauth_slot TO $rw"
	machine 0 "postgres = $(pg_conninfo "$rw" "$DB")"
	helper fleet init
	expect_status 0
}

@test "a seal key file that is too short, too long, readable by others or a link: 78" {
	head -c 31 /dev/urandom >"$KEY"
	chmod 600 "$KEY"
	helper fleet init
	expect_status 78
	expect_stderr "exactly 32"
	head -c 64 /dev/urandom >"$KEY"
	helper fleet init
	expect_status 78
	head -c 32 /dev/urandom >"$KEY"
	chmod 644 "$KEY"
	helper fleet init
	expect_status 78
	expect_stderr "mode 0644"
	chmod 400 "$KEY"
	helper fleet init
	expect_status 0
	ln -s "$KEY" "$BATS_TEST_TMPDIR/link.key"
	machine 0 "seal_key_file = $BATS_TEST_TMPDIR/link.key"
	helper fleet init
	expect_status 78
	expect_stderr "symbolic link"
}

@test "wrong password, no passfile, no database: 78 saying what to check, no password shown" {
	helper fleet init --new-key
	expect_status 0
	local bad="$BATS_TEST_TMPDIR/bad.pass"
	(umask 077 && printf '127.0.0.1:%s:*:scauth:%s\n' "$PG_PORT" "not-the-password" >"$bad")
	machine 0 "postgres = host=127.0.0.1 port=$PG_PORT dbname=$DB user=scauth passfile=$bad"
	helper fleet init
	expect_status 78
	expect_stderr "refused us" "password authentication failed" "host 127.0.0.1 port $PG_PORT dbname $DB"
	[[ $stderr != *not-the-password* ]] || fail "the password was shown"

	machine 0 "postgres = host=127.0.0.1 port=$PG_PORT dbname=$DB user=scauth passfile=/nonexistent"
	helper fleet init
	expect_status 78
	expect_stderr "wants a password" "passfile"

	machine 0 "postgres = $(pg_conninfo scauth nosuchdb)"
	helper fleet init
	expect_status 78
	expect_stderr "nosuchdb"
}

@test "a password in the postgres setting is refused and never shown" {
	machine 0 "postgres = host=127.0.0.1 port=$PG_PORT dbname=$DB user=scauth password=hunter2hunter2"
	helper fleet init --new-key
	expect_status 78
	expect_stderr "holds a password" "passfile"
	[[ $stderr != *hunter2* ]] || fail "the password was shown"
	machine 0 "postgres = postgresql://scauth:hunter2hunter2@127.0.0.1:$PG_PORT/$DB"
	helper fleet init
	expect_status 78
	[[ $stderr != *hunter2* ]] || fail "the password was shown"
}

@test "server down: 75 naming the server; back up: fleet init works again" {
	helper fleet init --new-key
	expect_status 0
	pg_halt
	helper fleet init
	local st=$status
	pg_resume
	status=$st
	expect_status 75
	expect_stderr "cannot reach the database server" "host 127.0.0.1 port $PG_PORT"
	helper fleet init
	expect_status 0
}

@test "a silent server: the connect timeout bounds the wait" {
	helper fleet init --new-key
	expect_status 0
	# A listener that accepts and never answers, as a hung server or a black hole does.
	local port pid start took
	port=$(free_port)
	node -e 'require("net").createServer(() => {}).listen(+process.argv[1], "127.0.0.1")' \
		"$port" 3>&- &
	pid=$!
	sleep 0.3
	machine 0 "postgres = $(pg_conninfo scauth "$DB" | sed "s/port=$PG_PORT/port=$port/")" \
		"postgres_connect_timeout = 2"
	start=$(date +%s%N)
	helper fleet init
	took=$((($(date +%s%N) - start) / 1000000))
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	expect_status 75
	[[ $took -lt 10000 ]] || fail "the wait took $took ms with a 2 s connect timeout"
}

@test "bad fleet settings are configuration errors; fleet needs init" {
	machine 0 "postgres_connect_timeout = 0"
	helper fleet init
	expect_status 78
	expect_stderr "postgres_connect_timeout"
	machine 0 "postgres_lock_timeout = soon"
	helper fleet init
	expect_status 78
	machine 0
	helper fleet
	expect_status 64
	helper fleet init --old-key
	expect_status 64
}

@test "without libpq the other stores work as before; fleet init says what is missing" {
	local lib
	lib=$(ldconfig -p | awk '/libpq\.so\.5 .*x86-64|libpq\.so\.5 \(libc6,x86-64/ { print $NF; exit }')
	[[ -n $lib ]] || lib=$(ldconfig -p | awk '/libpq\.so\.5 / { print $NF; exit }')
	[[ -n $lib ]] || fail "libpq.so.5 not found to hide"
	# Every token call refreshes: libcurl and libcrypto are loaded, libpq must not be needed.
	machine 0 "refresh_margin = 7200"
	sc_login
	# A private mount namespace in which libpq.so.5 is an empty file.
	run unshare -m sh -c 'mount --bind /dev/null "$1" && shift && "$@" >/dev/null 2>"$0"' \
		"$BATS_TEST_TMPDIR/err1" "$lib" "$HELPER" token
	[[ $status -eq 0 ]] || fail "token without libpq: exit $status: $(cat "$BATS_TEST_TMPDIR/err1")"
	run unshare -m sh -c 'mount --bind /dev/null "$1" && shift && "$@" >/dev/null 2>"$0"' \
		"$BATS_TEST_TMPDIR/err2" "$lib" "$HELPER" fleet init --new-key
	[[ $status -eq 69 ]] || fail "fleet init without libpq: exit $status"
	grep -q "cannot load libpq" "$BATS_TEST_TMPDIR/err2" || fail "no word of libpq: $(cat "$BATS_TEST_TMPDIR/err2")"
	[[ ! -e $KEY ]] || fail "a key was written although nothing could use it"
	# And with it: a refresh with store = file never maps libpq.
	SOUNDCLOUD_AUTH_TRACE=1 LD_DEBUG=libs helper token
	expect_status 0
	[[ $stderr == *libcurl* ]] || fail "LD_DEBUG showed no library loading"
	[[ $stderr != *libpq* ]] || fail "store = file loaded libpq"
}

# ------------------------------------------------------------------------------------------
# store = postgres: one login and one app token for the whole fleet.

# fleet N [extra config lines]: machine N of a fleet on this test's database (store = postgres).
fleet() {
	local n=$1
	shift
	machine "$n" "store = postgres" "$@"
}

# fleet_ready [extra config lines]: the key and the table, from machine 0.
fleet_ready() {
	fleet 0 "$@"
	helper fleet init --new-key
	expect_status 0
}

# Fails when any token the sandbox ever issued appears in the file.
no_issued_token_in() {
	local tok n=0
	[[ -s $SANDBOX_DIR/issued ]] || fail "the sandbox reported no issued token"
	while read -r tok; do
		n=$((n + 1))
		if grep -qF -- "$tok" "$1"; then
			fail "an issued token is in $(basename "$1")"
		fi
	done <"$SANDBOX_DIR/issued"
	echo "# $n issued tokens, none in $(basename "$1")" >&3
}

# storm MACHINES PROCS ARGS...: PROCS processes on each of MACHINES machines run the helper with
# ARGS at once; outputs in $BATS_TEST_TMPDIR/storm/out.M.P, exits in .../rc.M.P.
storm() {
	local machines=$1 procs=$2 m p
	shift 2
	local dir="$BATS_TEST_TMPDIR/storm"
	rm -rf "$dir"
	mkdir -p "$dir"
	for ((m = 1; m <= machines; m++)); do
		fleet "$m" ${STORM_CONFIG:+"$STORM_CONFIG"}
		for ((p = 1; p <= procs; p++)); do
			(
				rc=0
				SOUNDCLOUD_AUTH_TRACE=1 "$HELPER" "$@" >"$dir/out.$m.$p" 2>"$dir/err.$m.$p" || rc=$?
				echo "$rc" >"$dir/rc.$m.$p"
			) 3>&- &
		done
	done
	wait
}

@test "fleet: a login on one machine serves every machine; a cached get loads no libpq" {
	fleet_ready
	fleet 1
	sc_login
	helper token
	expect_status 0
	local first=$stdout
	fleet 2
	helper token
	expect_status 0
	[[ -n $first && $stdout == "$first" ]] || fail "machine 2 got another token"
	expect_stat token.refresh_token 0
	# The fast path of machine 2: its local copy, no database, no network library.
	SOUNDCLOUD_AUTH_TRACE=1 LD_DEBUG=libs helper token
	expect_status 0
	[[ $stdout == "$first" ]] || fail "the cached token differs"
	expect_stderr "cache hit"
	[[ $stderr != *libpq* ]] || fail "the cached path loaded libpq"
	[[ $stderr != *libcurl* ]] || fail "the cached path loaded libcurl"
	# No refresh token on a machine's disk.
	! grep -rq refresh_token "$HOME/.local/state/soundcloud-auth/" || fail "a refresh token is on disk"
}

@test "fleet: 8 machines x 8 processes at expiry: one refresh, no reuse, one token" {
	fleet_ready "refresh_margin = 300"
	fleet 1 "refresh_margin = 300"
	sandbox_ctl POST ttl '{"seconds":60}' >/dev/null
	sc_login
	sandbox_ctl POST ttl '{"seconds":3600}' >/dev/null
	sandbox_fault '{"endpoint":"token","kind":"slow","delay_ms":400}'
	local t0=$(date +%s%N)
	STORM_CONFIG="refresh_margin = 300" storm 8 8 token
	local ms=$((($(date +%s%N) - t0) / 1000000))
	local dir="$BATS_TEST_TMPDIR/storm" f first='' bad=0
	for f in "$dir"/rc.*; do
		[[ $(<"$f") == 0 ]] || { bad=$((bad + 1)); echo "${f##*/}: $(<"$f"): $(<"${f/rc./err.}")" >&2; }
	done
	((bad == 0)) || fail "$bad processes failed"
	first=$(<"$dir/out.1.1")
	for f in "$dir"/out.*; do
		[[ $(<"$f") == "$first" ]] || fail "${f##*/} got another token"
	done
	local refreshes reuse
	refreshes=$(stat_of token.refresh_token)
	reuse=$(stat_of refresh_reuse)
	echo "# 64 processes on 8 machines at expiry: $refreshes refresh request(s), $reuse reuse, ${ms} ms" >&3
	[[ $refreshes == 1 ]] || fail "$refreshes refresh requests, expected exactly 1"
	[[ $reuse == 0 ]] || fail "reuse $reuse"
	expect_stat token.errors.invalid_grant 0
}

@test "fleet: app token, 8 machines x 5 calls: one client-credentials request" {
	fleet_ready
	local m dir="$BATS_TEST_TMPDIR/app"
	mkdir -p "$dir"
	for ((m = 1; m <= 8; m++)); do
		fleet "$m"
		(
			for i in 1 2 3 4 5; do
				"$HELPER" token --client-credentials >"$dir/out.$m.$i" 2>"$dir/err.$m.$i" ||
					echo "$m.$i" >>"$dir/failed"
			done
		) 3>&- &
	done
	wait
	[[ ! -e $dir/failed ]] || fail "failed: $(cat "$dir/failed") $(cat "$dir"/err.*)"
	local first f
	first=$(<"$dir/out.1.1")
	for f in "$dir"/out.*; do
		[[ $(<"$f") == "$first" ]] || fail "${f##*/} got another app token"
	done
	expect_stat token.client_credentials 1
}

@test "fleet: a 429 on one machine stops the others until its reset time" {
	fleet_ready
	fleet 1
	sandbox_fault '{"endpoint":"token","kind":"429","reset_in":3600}'
	helper token --client-credentials
	expect_status 75
	fleet 2
	helper token --client-credentials
	expect_status 75
	expect_stderr "rate limited"
	expect_stat token.client_credentials 1
}

@test "fleet: erase of one stale token from 8 machines: one refresh" {
	fleet_ready
	fleet 1
	sc_login
	local m tok host
	helper token
	tok=$stdout
	host=${SANDBOX_URL#https://}
	for ((m = 1; m <= 8; m++)); do
		fleet "$m"
		helper token
		[[ $stdout == "$tok" ]] || fail "machine $m got another token"
	done
	for ((m = 1; m <= 8; m++)); do
		fleet "$m"
		(umask 077 && printf 'protocol=https\nhost=%s\npassword=%s\n\n' "$host" "$tok" \
			>"$BATS_TEST_TMPDIR/erase.$m")
		"$HELPER" erase <"$BATS_TEST_TMPDIR/erase.$m" >/dev/null 2>&1 3>&- &
	done
	wait
	for ((m = 1; m <= 8; m++)); do
		fleet "$m"
		helper token
		expect_status 0
		[[ $stdout != "$tok" ]] || fail "machine $m still hands out the erased token"
	done
	expect_stat token.refresh_token 1
	expect_stat refresh_reuse 0
}

@test "fleet: logout on one machine signs out all; the app token stays" {
	fleet_ready
	fleet 1
	sc_login
	helper token --client-credentials
	local app=$stdout
	fleet 2
	helper token
	expect_status 0
	helper api /me
	expect_status 0
	fleet 1
	helper logout
	expect_status 0
	fleet 2
	helper api /me
	expect_status 77
	helper token
	expect_status 77
	helper token --client-credentials
	expect_status 0
	[[ $stdout == "$app" ]] || fail "the app token changed"
	expect_stat token.client_credentials 1
}

# as_host NAME ARGS...: the helper with ARGS on a machine whose host name is NAME (a UTS
# namespace of its own); sets status, stdout, stderr like helper.
as_host() {
	local name=$1
	shift
	status=0
	unshare --uts sh -c 'echo "$0" >/proc/sys/kernel/hostname && exec "$@"' "$name" \
		"$HELPER" "$@" >"$OUT" 2>"$BATS_TEST_TMPDIR/err" || status=$?
	stdout=$(<"$OUT")
	stderr=$(<"$BATS_TEST_TMPDIR/err")
}

@test "fleet: status shows the database's grant: server, database, when refreshed and by which host" {
	fleet_ready
	fleet 1
	sc_login
	local me copies
	me=$(uname -n)
	# A new machine, without a copy of its own, sees the fleet's login.
	fleet 2
	helper status
	expect_status 0
	[[ $stdout == *"store:"*"postgres"*"host 127.0.0.1 port $PG_PORT dbname $DB"* ]] ||
		fail "status does not name the server and database: $stdout"
	[[ $stdout == *"user:"*"renew:  yes"* ]] || fail "machine 2 does not see the login: $stdout"
	[[ $stdout == *"fleet:  last refreshed "*" by $me"* ]] || fail "no host of the login: $stdout"
	copies=$(find "$XDG_STATE_HOME/soundcloud-auth" -name '*.fleet' 2>/dev/null | wc -l)
	[[ $copies -eq 0 ]] || fail "status wrote a local copy"
	# Another machine refreshes: every machine's status names it, with the new time.
	fleet 3 "refresh_margin = 7200"
	as_host kiosk-3 token
	expect_status 0
	local tok=$stdout
	expect_stat token.refresh_token 1
	fleet 2
	helper status --json
	expect_status 0
	[[ $stdout == *'"logged_in":true'* ]] || fail "not logged in: $stdout"
	[[ $stdout == *'"user":{'*'"obtained_at":"20'*'"obtained_by":"kiosk-3"'* ]] ||
		fail "status --json does not name the refresher: $stdout"
	# A write that obtains nothing (git's erase, from a machine that handed the token out)
	# keeps the mark.
	(umask 077 && printf 'protocol=https\nhost=%s\npassword=%s\n\n' "${SANDBOX_URL#https://}" \
		"$tok" >"$BATS_TEST_TMPDIR/erase")
	fleet 3
	as_host kiosk-4 erase <"$BATS_TEST_TMPDIR/erase"
	expect_status 0
	fleet 2
	helper status --json
	[[ $stdout == *'"access_token":"dropped"'* ]] || fail "the erase did not reach the row: $stdout"
	[[ $stdout == *'"obtained_by":"kiosk-3"'* ]] || fail "an erase took the refresher's mark: $stdout"
	[[ $stdout != *"$tok"* ]] || fail "status showed a token"
	# The database down: a word on stderr, and what this machine knows.
	helper token
	expect_status 0
	pg_halt
	helper status
	local st=$status out=$stdout err=$stderr
	# A machine without a copy of its own does not know: 75, not "logged out".
	fleet 5
	helper status
	local st5=$status out5=$stdout err5=$stderr
	pg_resume
	status=$st stderr=$err
	expect_status 0
	expect_stderr "host 127.0.0.1 port $PG_PORT" "showing this machine's copy"
	[[ $(grep -c "showing this machine's copy" <<<"$err") -eq 1 ]] || fail "said more than once: $err"
	[[ $out == *"fleet:  last refreshed "*" by $me"* ]] ||
		fail "the local copy does not name its refresher: $out"
	status=$st5
	expect_status 75
	[[ $out5 == *"user:"*"unknown: the store cannot be reached"*"app:"*"unknown: "* ]] ||
		fail "machine 5 claims to know: $out5"
	[[ $err5 == *"showing this machine's copy"* ]] || fail "machine 5 gave no reason: $err5"
}

@test "fleet: a host name with control or non-UTF-8 bytes neither loses the grant nor gets into a record" {
	fleet_ready
	fleet 1 "refresh_margin = 7200"
	sc_login
	local name
	for name in $'kiosk\t3' $'caf\xe9'; do
		as_host "$name" token
		expect_status 0
	done
	expect_stat token.refresh_token 2
	expect_stat refresh_reuse 0
	fleet 2
	helper status
	expect_status 0
	[[ $stdout == *"fleet:  last refreshed "*" by caf_"* ]] || fail "the host name is not cleaned: $stdout"
	PG_SQL_DB=$DB pg_sql -c "SELECT DISTINCT updated_by FROM scauth_slot" >"$BATS_TEST_TMPDIR/by"
	grep -qx "caf_" "$BATS_TEST_TMPDIR/by" || fail "updated_by: $(cat "$BATS_TEST_TMPDIR/by")"
}

@test "fleet: under SCAUTH_CTX_NO_ENV (the PAM module's) the caller's PG* and HOME do not reach libpq" {
	fleet_ready
	fleet 1 "refresh_margin = 7200"
	sc_login
	# What a user who runs su could set: read-only transactions, plain text where TLS was asked
	# for, a service file of theirs, another database.
	printf '[trap]\nhost=127.0.0.1\nport=1\n' >"$BATS_TEST_TMPDIR/pg_service.conf"
	local vars=(PGOPTIONS="-c default_transaction_read_only=on" PGSSLMODE=require
		PGSERVICEFILE="$BATS_TEST_TMPDIR/pg_service.conf" PGSERVICE=trap PGDATABASE=postgres)
	# The password from this machine's own ~/.pgpass; a caller's HOME must not choose it.
	(umask 077 && cp "$PG_DIR/scauth.pass" "$HOME/.pgpass")
	sed -i 's/ passfile=[^ ]*//' "$SC_CONFIG"
	mkdir -p "$BATS_TEST_TMPDIR/elsewhere"
	vars+=(HOME="$BATS_TEST_TMPDIR/elsewhere")
	# They do reach libpq in the user's own tools: the variables bite (each margin refreshes).
	env "${vars[@]}" "$HELPER" token >/dev/null 2>"$BATS_TEST_TMPDIR/err" &&
		fail "the user's own PG* variables were ignored"
	expect_stat token.refresh_token 0
	# In a context like the PAM module's they are out of sight: the refresh goes through.
	run env "${vars[@]}" "$BUILD/tests/noenv-token" "$SC_CONFIG" \
		"$XDG_STATE_HOME/soundcloud-auth" "$HOME"
	assert_success
	assert_output "ok"
	expect_stat token.refresh_token 1
}

@test "fleet: database down: a fresh copy is served, a stale one is 75 naming the server" {
	fleet_ready
	fleet 1
	sc_login
	helper token
	local tok=$stdout
	pg_halt
	helper token
	local st1=$status out1=$stdout
	fleet 1 "refresh_margin = 7200"
	helper token
	local st2=$status err2=$stderr
	pg_resume
	status=$st1
	expect_status 0
	[[ $out1 == "$tok" ]] || fail "not the cached token"
	status=$st2 stderr=$err2
	expect_status 75
	expect_stderr "cannot reach the database server" "host 127.0.0.1 port $PG_PORT"
	helper token
	expect_status 0
	[[ $stdout != "$tok" ]] || fail "no refresh after the database came back"
	expect_stat refresh_reuse 0
}

@test "fleet: an erase while the database is down drops this machine's copy, and nothing else" {
	fleet_ready
	fleet 1
	sc_login
	helper token
	local tok=$stdout host=${SANDBOX_URL#https://}
	(umask 077 && printf 'protocol=https\nhost=%s\npassword=%s\n\n' "$host" "$tok" \
		>"$BATS_TEST_TMPDIR/erase")
	pg_halt
	local rc=0
	"$HELPER" erase <"$BATS_TEST_TMPDIR/erase" >"$OUT" 2>"$BATS_TEST_TMPDIR/err" 3>&- || rc=$?
	helper token
	local st2=$status
	pg_resume
	[[ $rc -eq 0 ]] || fail "erase exited $rc while the database was down"
	[[ $(<"$BATS_TEST_TMPDIR/err") != *"$tok"* ]] || fail "the token reached stderr"
	no_password_in "$(<"$BATS_TEST_TMPDIR/err")"
	# The copy is gone: with the database down there was no token to hand out.
	status=$st2
	expect_status 75
	# The row was not touched: the fleet learns of the stale token from the next 401.
	helper token
	expect_status 0
	[[ $stdout == "$tok" ]] || fail "the database's token changed"
	expect_stat refresh_reuse 0
}

@test "fleet: wrong password or missing table: 78 saying what to do" {
	fleet_ready
	fleet 1
	sc_login
	PG_SQL_DB=$DB pg_sql -c "DROP TABLE scauth_slot"
	fleet 2
	helper token
	expect_status 78
	expect_stderr "fleet init"
	local bad="$BATS_TEST_TMPDIR/bad.pass"
	(umask 077 && printf '127.0.0.1:%s:*:scauth:%s\n' "$PG_PORT" "wrong-password" >"$bad")
	fleet 2 "postgres = host=127.0.0.1 port=$PG_PORT dbname=$DB user=scauth passfile=$bad"
	helper token
	expect_status 78
	expect_stderr "password authentication failed"
}

@test "fleet: a record moved to another slot or sealed with another key does not open" {
	fleet_ready
	fleet 1
	sc_login
	helper token --client-credentials
	PG_SQL_DB=$DB pg_sql -c "UPDATE scauth_slot SET record = (SELECT record FROM scauth_slot
		WHERE slot = 'default.app') WHERE slot = 'default.user'"
	fleet 2
	helper token
	expect_status 77
	expect_stderr "does not open"
	# Another key: every record is refused, nothing is overwritten.
	head -c 32 /dev/urandom >"$BATS_TEST_TMPDIR/other.key"
	chmod 600 "$BATS_TEST_TMPDIR/other.key"
	fleet 3 "seal_key_file = $BATS_TEST_TMPDIR/other.key"
	helper token --client-credentials
	[[ $status -ne 0 ]] || fail "a record opened with another key"
	helper fleet init
	expect_status 78
	expect_stderr "does not open the fleet's records"
}

@test "fleet: kill -9 of the refresher at random moments: the row always opens, others carry on" {
	fleet_ready "refresh_margin = 7200"
	fleet 1 "refresh_margin = 7200"
	sc_login
	local rounds=${FLEET_KILL_ROUNDS:-100} round delay lost=0 ok=0 finished=0 pushed=0
	local i t0 total=0
	for ((i = 0; i < 3; i++)); do
		t0=$(date +%s%N)
		"$HELPER" token >/dev/null 2>&1 || fail "an undisturbed refresh failed"
		total=$((total + ($(date +%s%N) - t0) / 1000000))
	done
	local spread=$((total / 3))
	((spread >= 30)) || spread=30
	for ((round = 1; round <= rounds; round++)); do
		fleet 1 "refresh_margin = 7200"
		delay=$((RANDOM % (spread + 1)))
		kill_token_after "$delay" && finished=$((finished + 1))
		# Another machine carries on from the row.
		fleet 2 "refresh_margin = 7200"
		helper token
		if [[ $status -eq 0 ]]; then
			ok=$((ok + 1))
		elif [[ $status -eq 77 ]]; then
			# The refresher died between the rotation and its commit: the one loss.
			lost=$((lost + 1))
			fleet 1 "refresh_margin = 7200"
			sc_login
		else
			fail "round $round (kill after $delay ms): machine 2 exit $status: $stderr"
		fi
	done
	echo "# fleet: kill -9 over $rounds rounds (0-$spread ms): $ok carried on, $lost lost in the" \
		"window between rotation and commit, $finished finished before the kill" >&3
	((ok > 0)) || fail "no round carried on"
	# Every loss is that window: the sandbox saw a reuse for each, and nothing else.
	[[ $(stat_of refresh_reuse) == "$lost" ]] ||
		fail "reuse $(stat_of refresh_reuse) is not the $lost losses counted"
}

@test "fleet: the database stops and restarts in the middle of a storm" {
	fleet_ready "refresh_margin = 300"
	fleet 1 "refresh_margin = 300"
	sandbox_ctl POST ttl '{"seconds":60}' >/dev/null
	sc_login
	sandbox_ctl POST ttl '{"seconds":3600}' >/dev/null
	# A refresh slow enough that the database is down and back before it returns, even on a
	# loaded machine where noticing the request and stopping the server take seconds.
	sandbox_fault '{"endpoint":"token","kind":"slow","delay_ms":20000}'
	STORM_CONFIG="refresh_margin = 300" storm 4 4 token &
	local storm_pid=$! i
	# Stopped while the refresh is at the server: the refresher cannot commit what it gets.
	for ((i = 0; i < 400; i++)); do
		[[ $(stat_of token.refresh_token) == 1 ]] && break
		sleep 0.05
	done
	[[ $(stat_of token.refresh_token) == 1 ]] || fail "no refresh reached the sandbox"
	# Down long enough for every waiter to hear of it (75), back before the refresh returns.
	pg_halt fast
	sleep 1
	pg_resume
	wait "$storm_pid"
	local dir="$BATS_TEST_TMPDIR/storm" f rc ok=0 temp=0
	for f in "$dir"/rc.*; do
		rc=$(<"$f")
		case $rc in
		0) ok=$((ok + 1)) ;;
		75) temp=$((temp + 1)) ;;
		*) fail "${f##*/}: exit $rc: $(<"${f/rc./err.}")" ;;
		esac
	done
	echo "# storm of 16 with a database restart: $ok served, $temp told to try again (75)" >&3
	# The refresher could not commit: it kept the record, and its machine (the next process
	# there, or the next call) stored it before anything else.
	local kept pushed m pending=()
	kept=$(grep -l "kept the record" "$dir"/err.* | wc -l)
	pushed=$(grep -l "pushing the unconfirmed record" "$dir"/err.* | wc -l)
	for ((m = 1; m <= 4; m++)); do
		ls "$BATS_TEST_TMPDIR/m$m/.local/state/soundcloud-auth/"*.pending >/dev/null 2>&1 &&
			pending+=("$m")
	done
	echo "# $kept refresher kept its unconfirmed record; $pushed pushed it in the storm;" \
		"machines still holding one: ${pending[*]:-none}" >&3
	[[ $kept == 1 ]] || fail "$kept processes kept an unconfirmed record, expected 1"
	((pushed + ${#pending[@]} == 1)) || fail "the kept record was pushed $pushed times, ${#pending[@]} left"
	for m in "${pending[@]}" 1 2 3 4; do
		fleet "$m" "refresh_margin = 300"
		helper token
		expect_status 0
	done
	local tok=$stdout
	for ((m = 1; m <= 4; m++)); do
		fleet "$m" "refresh_margin = 300"
		helper token
		[[ $stdout == "$tok" ]] || fail "machine $m has another token"
	done
	expect_stat token.refresh_token 1
	expect_stat refresh_reuse 0
	expect_stat token.errors.invalid_grant 0
}

@test "fleet: a pg_dump of the database holds no token the sandbox issued" {
	fleet_ready "refresh_margin = 7200"
	local m
	for ((m = 1; m <= 3; m++)); do
		fleet "$m" "refresh_margin = 7200"
		[[ $m != 1 ]] || sc_login
		helper token
		expect_status 0
		helper token --client-credentials
		expect_status 0
	done
	PGPASSFILE=$PG_ADMIN_PASSFILE "$PG_BIN/pg_dump" -h "$PG_SOCK" -p "$PG_PORT" -U postgres \
		"$DB" >"$BATS_TEST_TMPDIR/dump.sql"
	grep -q "scauth_slot" "$BATS_TEST_TMPDIR/dump.sql" || fail "the dump lacks the table"
	[[ $(grep -c '\\x01' "$BATS_TEST_TMPDIR/dump.sql") -ge 2 ]] || fail "no sealed records in the dump"
	no_issued_token_in "$BATS_TEST_TMPDIR/dump.sql"
	no_issued_token_in "$PG_DIR/log/server.log"
}
