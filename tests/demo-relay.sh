#!/bin/bash
# demo-relay.sh - part of `make demo`: a machine without a browser logs in from a phone through
# the relay.  Starts what it needs here: a PostgreSQL server (the fleet's database, with the
# pairing table of fleet init) and lighttpd with soundcloud-auth-relay over TLS from the
# sandbox's test CA.  The phone is curl; SoundCloud is the sandbox.
#   demo-relay.sh BUILD WORKDIR API_URL CONFIG
# CONFIG is the demo's config (the sandbox's endpoints and the app).  Tokens are never shown.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$1 work=$2 api=$3 base=$4
helper=$build/git-credential-soundcloud

# shellcheck source=tests/lib/sandbox.bash
source "$top/tests/lib/sandbox.bash"
# shellcheck source=tests/lib/postgres.bash
source "$top/tests/lib/postgres.bash"
# shellcheck source=tests/lib/relay.bash
source "$top/tests/lib/relay.bash"
bold=$(tput bold 2>/dev/null || true) plain=$(tput sgr0 2>/dev/null || true)
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
say() { printf '   %s\n' "$*"; }

if ! pg_find_bin >/dev/null 2>&1 || ! command -v lighttpd >/dev/null ||
	[ ! -x "$build/soundcloud-auth-relay" ]; then
	say "(no PostgreSQL server binaries, lighttpd or relay: the phone login is skipped)"
	exit 0
fi

step "A phone login through the relay: a machine without a browser, a person with a phone"
d=$work/relay-demo
mkdir -p "$d"
export BUILD=$build SANDBOX_DIR=${SANDBOX_CA%/*} SANDBOX_URL=$api TMPDIR=$d
export BATS_TEST_TMPDIR=$d       # where relay.bash's phone keeps its answers
CLIENT_ID=$(sed -n 's/^client_id = //p' "$base")
trap 'relay_stop; pg_stop' EXIT
pg_start
pg_role scauth
pg_role relay
pg_sql -c "CREATE DATABASE scauth OWNER scauth" >/dev/null
(
	umask 077
	printf 'client_id = %s\npostgres = %s\nseal_key_file = %s\n' "$CLIENT_ID" \
		"$(pg_conninfo scauth scauth)" "$d/seal.key" >"$d/owner.conf"
)
"$helper" --config "$d/owner.conf" fleet init --new-key >/dev/null
PG_SQL_DB=scauth pg_sql -c "GRANT EXECUTE ON FUNCTION scauth_pairing_open(text, text),
	scauth_pairing_callback(text, text, text, text) TO relay" >/dev/null
say "PostgreSQL on 127.0.0.1:$PG_PORT: fleet init made the pairing table; the relay's role may"
say "only call scauth_pairing_open and scauth_pairing_callback (it reads no row)."
relay_start "$d/relay" "$(pg_conninfo relay scauth)"
say "lighttpd on $RELAY_URL runs soundcloud-auth-relay (CGI, TLS); its callback"
say "$RELAY_CALLBACK is the app's redirect URI at SoundCloud (the sandbox)."
# The app knows the relay's callback too (the sandbox replaces the client with both URIs).
secret=$(sed -n 's/^client_secret = //p' "$base")
loopback=$(sed -n 's/^redirect_uri = //p' "$base")
sandbox_client "$CLIENT_ID" "$secret" "$loopback" "$RELAY_CALLBACK" >/dev/null
unset secret

h=$d/server
mkdir -p "$h/.config/soundcloud-auth"
(
	umask 077
	{
		cat "$base"
		printf 'postgres = %s\nrelay_url = %s\nredirect_uri = %s\n' \
			"$(pg_conninfo scauth scauth)" "$RELAY_URL" "$RELAY_CALLBACK"
	} >"$h/.config/soundcloud-auth/config"
)
say "The machine's config adds: relay_url = $RELAY_URL, redirect_uri = the relay's callback,"
say "postgres = the fleet's database."
say "\$ git-credential-soundcloud login --relay"
HOME=$h XDG_CONFIG_HOME=$h/.config XDG_STATE_HOME=$h/.state \
	"$helper" login --relay --timeout 60 2>"$d/login.err" &
pid=$!
code=
for _ in $(seq 300); do
	code=$(grep -oE 'and enter [2-9A-Z]{4}-[2-9A-Z]{4}' "$d/login.err" | head -n1 || true)
	[ -z "$code" ] || break
	sleep 0.05
done
[ -n "$code" ] || { echo "demo: no code from the helper" >&2; cat "$d/login.err" >&2; exit 1; }
code=${code#and enter }
sed 's/^/     /' "$d/login.err"
say "The phone opens the address, types $code, logs in at SoundCloud, and comes back to the"
say "relay's callback, which stores SoundCloud's code once and wakes the machine (NOTIFY):"
phone -L "$RELAY_URL?code=$code"
say "  phone: $PHONE_STATUS, \"$(sed -n 's/.*<p>\([^<]*\)<\/p>.*/\1/p' <<<"$PHONE_BODY" | head -n1)\""
wait "$pid"
tail -n +2 "$d/login.err" | grep -v '^Waiting' | sed 's/^/     /'
say "The machine took the code (with its PKCE verifier and the client secret, which the relay"
say "never sees); pairings left in the table: $(PG_SQL_DB=scauth pg_sql -c \
	'SELECT count(*) FROM scauth_pairing')."
say "\$ git-credential-soundcloud status"
HOME=$h XDG_CONFIG_HOME=$h/.config XDG_STATE_HOME=$h/.state "$helper" status | sed 's/^/     /'
