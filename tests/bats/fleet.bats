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

expect_status() {
	[[ $status -eq $1 ]] || fail "expected exit $1, got $status; stderr: $stderr"
}

expect_stderr() {
	local piece
	for piece in "$@"; do
		[[ $stderr == *"$piece"* ]] || fail "stderr lacks \"$piece\": $stderr"
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
	[[ $cols == *"slot text"*"record bytea"*"updated_at timestamp with time zone"*"updated_by text"* ]] ||
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
