# postgres.bash - a real PostgreSQL server for the fleet suites, made and removed by the tests.
#
# The distribution's server binaries (/usr/lib/postgresql/<version>/bin, the newest found) run
# initdb into a temporary directory as a non-root user: as root, a system user made for the
# suite (userdel at the end), like the PAM suite's kiosk user; without root, the caller.
# Passwords are scram-sha-256 and exist only in files (mode 0600): a passfile for libpq, a pwfile
# for initdb, SQL files for psql; never on a command line, never in the output.  The server
# listens on 127.0.0.1 at a free port and on a socket directory of its own.
#
#   pg_start            makes and starts the server (in a new /tmp/scauth-pg.XXXXXX, which the
#                       server's user can reach); exports PG_BIN PG_PORT PG_SOCK PG_DATA
#                       PG_ADMIN_PASSFILE (the superuser's passfile) and PG_USER (the OS user)
#   pg_stop             stops it (fast) and removes everything it made
#   pg_halt / pg_resume stop and start the same server (the data stays)
#   pg_sql SQL          runs SQL as the superuser (psql, through the passfile)
#   pg_role NAME [DB]   makes a login role with a random password (and a database it owns);
#                       writes its passfile to $PG_DIR/NAME.pass and prints nothing
#   pg_conninfo NAME DB the `postgres =` value for that role (TCP, with passfile=)

PG_START_TIMEOUT=${PG_START_TIMEOUT:-30}

pg_find_bin() {
	local d best=''
	for d in /usr/lib/postgresql/*/bin; do
		[[ -x $d/initdb && -x $d/pg_ctl ]] || continue
		if [[ -z $best ]] || [[ $(printf '%s\n%s\n' "${best%/bin}" "${d%/bin}" | sort -V |
			tail -n1) == "${d%/bin}" ]]; then
			best=$d
		fi
	done
	[[ -n $best ]] || { echo "postgres.bash: no PostgreSQL server binaries in /usr/lib/postgresql/*/bin (install postgresql)" >&2; return 1; }
	printf '%s\n' "$best"
}

# _pg_as CMD...: runs a server binary as the server's user.
_pg_as() {
	if [[ $EUID -eq 0 ]]; then
		setpriv --reuid="$PG_USER" --regid="$PG_GROUP" --clear-groups -- "$@"
	else
		"$@"
	fi
}

# A random password of 32 hex characters, into a file only.
_pg_password_file() {
	(umask 077 && od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$1")
}

pg_start() {
	local port
	PG_BIN=$(pg_find_bin) || return 1
	PG_DIR=$(mktemp -d /tmp/scauth-pg.XXXXXX) || return 1
	PG_DATA=$PG_DIR/data
	PG_SOCK=$PG_DIR/sock
	if [[ $EUID -eq 0 ]]; then
		PG_USER="scpg$((RANDOM % 10000))$$"
		PG_USER=${PG_USER:0:30}
		useradd -r -M -d /nonexistent -s /usr/sbin/nologin "$PG_USER" || return 1
		echo "$PG_USER" >"$PG_DIR/created-user"
		PG_GROUP=$(id -gn "$PG_USER")
	else
		PG_USER=$(id -un)
		PG_GROUP=$(id -gn)
	fi
	chmod 755 "$PG_DIR"
	mkdir -m 700 "$PG_DATA" "$PG_SOCK" "$PG_DIR/log" "$PG_DIR/init" || return 1
	chmod 755 "$PG_SOCK" "$PG_DIR/log"
	# The superuser's password: a file the server's user reads once, then gone.
	_pg_password_file "$PG_DIR/init/pw" || return 1
	if [[ $EUID -eq 0 ]]; then
		chown -R "$PG_USER:$PG_GROUP" "$PG_DATA" "$PG_SOCK" "$PG_DIR/log" "$PG_DIR/init" || return 1
	fi
	_pg_as "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --pwfile="$PG_DIR/init/pw" \
		--auth-local=scram-sha-256 --auth-host=scram-sha-256 --no-instructions \
		-E UTF8 --locale=C >"$PG_DIR/initdb.log" 2>&1 || {
		echo "pg_start: initdb failed:" >&2
		sed 's/^/  | /' "$PG_DIR/initdb.log" >&2
		return 1
	}
	port=$(free_port)
	PG_PORT=$port
	# Short checkpoints and no fsync would be faster; the suite tests durability, so they stay.
	cat >>"$PG_DATA/postgresql.conf" <<-EOF
		listen_addresses = '127.0.0.1'
		port = $port
		unix_socket_directories = '$PG_SOCK'
		max_connections = 200
		log_min_messages = warning
		log_connections = off
	EOF
	PG_ADMIN_PASSFILE=$PG_DIR/admin.pass
	(umask 077 && printf '*:*:*:postgres:%s\n' "$(cat "$PG_DIR/init/pw")" >"$PG_ADMIN_PASSFILE")
	rm -rf "$PG_DIR/init"
	export PG_BIN PG_DIR PG_DATA PG_SOCK PG_PORT PG_USER PG_GROUP PG_ADMIN_PASSFILE
	pg_resume || return 1
}

pg_resume() {
	_pg_as "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_DIR/log/server.log" -w -t "$PG_START_TIMEOUT" \
		start >"$PG_DIR/pg_ctl.log" 2>&1 3>&- || {
		echo "pg_resume: the server did not start; its log:" >&2
		tail -n 30 "$PG_DIR/log/server.log" | sed 's/^/  | /' >&2
		return 1
	}
}

# pg_halt [MODE]: stops the server (fast: open connections are cut) and keeps its data.
pg_halt() {
	_pg_as "$PG_BIN/pg_ctl" -D "$PG_DATA" -m "${1:-fast}" -w -t "$PG_START_TIMEOUT" stop \
		>>"$PG_DIR/pg_ctl.log" 2>&1
}

pg_stop() {
	[[ -n ${PG_DIR:-} && -d ${PG_DIR:-} ]] || return 0
	if [[ -f $PG_DATA/postmaster.pid ]]; then
		pg_halt immediate || true
	fi
	if [[ -f $PG_DIR/created-user ]]; then
		userdel "$(cat "$PG_DIR/created-user")" 2>/dev/null || true
	fi
	rm -rf "$PG_DIR"
	unset PG_DIR
}

# pg_sql SQL...: as the superuser over the socket; stdin may hold the SQL instead ("-").
pg_sql() {
	PGPASSFILE=$PG_ADMIN_PASSFILE "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCK" \
		-p "$PG_PORT" -U postgres -d "${PG_SQL_DB:-postgres}" -At "$@"
}

# pg_role NAME [DB]: a login role with a random password (in $PG_DIR/NAME.pass), and a database.
pg_role() {
	local name=$1 db=${2:-} pw sql
	pw=$PG_DIR/$name.pw
	_pg_password_file "$pw" || return 1
	sql=$PG_DIR/$name.sql
	(
		umask 077
		printf "CREATE ROLE %s LOGIN PASSWORD '%s';\n" "$name" "$(cat "$pw")"
		[[ -z $db ]] || printf 'CREATE DATABASE %s OWNER %s;\n' "$db" "$name"
	) >"$sql"
	pg_sql -f "$sql" >/dev/null || { rm -f "$sql"; return 1; }
	rm -f "$sql"
	(umask 077 && printf '127.0.0.1:%s:*:%s:%s\n' "$PG_PORT" "$name" "$(cat "$pw")" \
		>"$PG_DIR/$name.pass")
	rm -f "$pw"
}

pg_conninfo() {
	printf 'host=127.0.0.1 port=%s dbname=%s user=%s passfile=%s sslmode=disable\n' \
		"$PG_PORT" "$2" "$1" "$PG_DIR/$1.pass"
}

# A relay in front of the server that can lose a COMMIT (pgrelay.js).
#
#   pg_relay_start DIR    starts it; exports PG_RELAY_PORT, PG_RELAY_DIR, PG_RELAY_PID
#   pg_relay_conninfo NAME DB
#                         the `postgres =` value for that role through the relay (a passfile
#                         of its own for the relay's port, written from the role's)
#   pg_relay_cut          the next COMMIT that passes the relay is lost, and its connection cut;
#                         pg_relay_cut_done says whether that happened; pg_relay_cut after: the
#                         COMMIT reaches the server first (the commit is made, its answer lost)
#   pg_relay_down / pg_relay_up
#                         new connections through the relay are cut at once / go through again
#   pg_relay_stop         stops it
pg_relay_start() {
	local dir=$1 i
	mkdir -p "$dir"
	rm -f "$dir/port" "$dir/cut" "$dir/cut-after" "$dir/cut.done" "$dir/down"
	node "$BATS_TEST_DIRNAME/../lib/pgrelay.js" "$dir" "$PG_PORT" </dev/null 3>&- &
	PG_RELAY_PID=$!
	for ((i = 0; i < 100; i++)); do
		[[ -s $dir/port ]] && break
		sleep 0.05
	done
	[[ -s $dir/port ]] || { echo "pg_relay_start: the relay did not start" >&2; return 1; }
	PG_RELAY_PORT=$(<"$dir/port")
	PG_RELAY_DIR=$dir
	export PG_RELAY_PORT PG_RELAY_DIR PG_RELAY_PID
}

pg_relay_conninfo() {
	(umask 077 && sed "s/^127\.0\.0\.1:$PG_PORT:/127.0.0.1:$PG_RELAY_PORT:/" \
		"$PG_DIR/$1.pass" >"$PG_DIR/$1.relay.pass")
	printf 'host=127.0.0.1 port=%s dbname=%s user=%s passfile=%s sslmode=disable\n' \
		"$PG_RELAY_PORT" "$2" "$1" "$PG_DIR/$1.relay.pass"
}

pg_relay_cut() {
	if [[ ${1:-} == after ]]; then
		: >"$PG_RELAY_DIR/cut-after"
	else
		: >"$PG_RELAY_DIR/cut"
	fi
}

pg_relay_down() {
	: >"$PG_RELAY_DIR/down"
}

pg_relay_up() {
	rm -f "$PG_RELAY_DIR/down"
}

pg_relay_cut_done() {
	[[ -e $PG_RELAY_DIR/cut.done ]]
}

pg_relay_stop() {
	[[ -n ${PG_RELAY_PID:-} ]] || return 0
	kill "$PG_RELAY_PID" 2>/dev/null || true
	wait "$PG_RELAY_PID" 2>/dev/null || true
	unset PG_RELAY_PID
}
