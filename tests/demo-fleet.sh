#!/bin/bash
# demo-fleet.sh - part of `make demo`: three machines share one login and one app token
# through a PostgreSQL server started here (the distribution's binaries, a throw-away cluster).
#   demo-fleet.sh BUILD WORKDIR API_URL CONFIG
# CONFIG is the demo's config (the sandbox's endpoints and the app); each machine gets a copy
# with store = postgres.  Tokens are never shown.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$1 work=$2 api=$3 base=$4
helper=$build/git-credential-soundcloud

# shellcheck source=tests/lib/sandbox.bash
source "$top/tests/lib/sandbox.bash"
# shellcheck source=tests/lib/postgres.bash
source "$top/tests/lib/postgres.bash"
bold=$(tput bold 2>/dev/null || true) plain=$(tput sgr0 2>/dev/null || true)
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
say() { printf '   %s\n' "$*"; }
stat() {
	curl -sS --cacert "$SANDBOX_CA" "$api/_sandbox/stats" |
		node -pe "const s = JSON.parse(require('fs').readFileSync(0)); $1"
}

if ! pg_find_bin >/dev/null 2>&1; then
	say "(no PostgreSQL server binaries: the fleet part is skipped; install postgresql)"
	exit 0
fi
ttl() {
	curl -sS --cacert "$SANDBOX_CA" -H 'Content-Type: application/json' --data-binary @- \
		"$api/_sandbox/ttl" >/dev/null <<<"{\"seconds\":$1}"
}

step "A fleet: machines kiosk-a, kiosk-b and kiosk-c share one login through PostgreSQL"
trap 'pg_stop' EXIT
pg_start
pg_role scauth
pg_sql -c "CREATE DATABASE scauth OWNER scauth" >/dev/null
say "PostgreSQL $("$PG_BIN/postgres" -V | awk '{print $3}') on 127.0.0.1:$PG_PORT, role scauth (scram, password in a passfile)"

# machine NAME: the environment of one machine (its own home, config and state).
machine() {
	local h=$work/fleet-$1
	if [ ! -d "$h" ]; then
		mkdir -p "$h/.config/soundcloud-auth"
		(
			umask 077
			{
				cat "$base"
				printf 'store = postgres\npostgres = %s\nseal_key_file = %s\n' \
					"$(pg_conninfo scauth scauth)" "$work/fleet-seal.key"
			} >"$h/.config/soundcloud-auth/config"
		)
	fi
	printf 'HOME=%s XDG_CONFIG_HOME=%s/.config XDG_STATE_HOME=%s/.local/state' "$h" "$h" "$h"
}
on() {   # on MACHINE ARGS...: the helper on that machine
	local m=$1
	shift
	# shellcheck disable=SC2046
	env $(machine "$m") "$@"
}
fp() { sha256sum | cut -c1-12; }

say "\$ git-credential-soundcloud fleet init --new-key   (on kiosk-a: a seal key and the table)"
on kiosk-a "$helper" fleet init --new-key 2>&1 | sed 's/^/     /'
say "The key goes to every machine (here they share the file); the table holds sealed records only."
codes=$(stat 's.token.authorization_code')
say "\$ git-credential-soundcloud login   (once, on kiosk-a)"
# The first access token lives a minute, so that it falls due below.
ttl 60
on kiosk-a BROWSER="$top/tests/lib/browser" "$helper" login >/dev/null 2>&1
ttl 3600
for m in kiosk-a kiosk-b kiosk-c; do
	say "$m: token $(on "$m" "$helper" token | fp)...  (a fingerprint, not the token)"
done
say "logins: $(( $(stat 's.token.authorization_code') - codes )); token requests for the other machines: 0"

step "The token falls due on all three at once: 3 machines x 5 processes, one refresh"
# The minute-long token is due at once with a 300 s margin.
refreshes=$(stat 's.token.refresh_token')
pids=()
for m in kiosk-a kiosk-b kiosk-c; do
	for p in 1 2 3 4 5; do
		on "$m" SOUNDCLOUD_AUTH_REFRESH_MARGIN=300 "$helper" token >"$work/fleet-tok.$m.$p" &
		pids+=($!)
	done
done
for p in "${pids[@]}"; do wait "$p"; done
say "15 processes: $(sort -u "$work"/fleet-tok.* | wc -l) distinct token, $(( $(stat 's.token.refresh_token') - refreshes )) refresh request (the rotated refresh token was committed first)"
rm -f "$work"/fleet-tok.*

step "The app token: 3 machines x 4 calls, one client-credentials request"
cc=$(stat 's.token.client_credentials')
for m in kiosk-a kiosk-b kiosk-c; do
	for _ in 1 2 3 4; do on "$m" "$helper" token --client-credentials >/dev/null; done
done
say "client_credentials requests: $(( $(stat 's.token.client_credentials') - cc ))"

step "What the database holds: sealed records, the last writer, and no token"
PG_SQL_DB=scauth pg_sql -c "SELECT slot, length(record) AS sealed_bytes, version, updated_by FROM scauth_slot ORDER BY slot" |
	sed 's/^/     /'

step "kiosk-b logs out: the login is gone for all three (the app token stays)"
on kiosk-b "$helper" logout 2>&1 | sed 's/^/     /'
set +e
on kiosk-c "$helper" api /me >/dev/null 2>&1
rc=$?
set -e
say "kiosk-c: api /me exits $rc (77: its copy was signed out, and the fleet has no login)"
say "kiosk-c: app token still there: $(on kiosk-c "$helper" token --client-credentials >/dev/null && echo yes)"
