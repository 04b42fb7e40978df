# shellcheck shell=bash
# Helpers for tests that run against the conformance peer (tests/peer): panva's
# oidc-provider on loopback over HTTPS, a third-party authorization server that
# our client must interoperate with. Source this file from a bats file (or any
# bash script) and call:
#
#   peer_available        0 when node, openssl and tests/peer/node_modules are there
#                         (bats: `peer_available || skip "conformance peer not installed"`)
#   peer_start DIR        start the peer with fresh client ids and secrets; fails
#                         loudly (log on stderr, status 1) unless it is READY in time
#   peer_stop             SIGTERM the peer and reap it; status 1 if it did not exit 0
#
# After peer_start these are exported:
#   PEER_DIR PEER_PORT PEER_URL PEER_ISSUER  directory, port, https://127.0.0.1:PORT (also the issuer)
#   PEER_CONFIG                              INI for our client: [profile peer] and [profile peer-app]
#   PEER_CA                                  the test CA (ca_file; browser.js trusts it too)
#   PEER_REDIRECT_PORT PEER_REDIRECT_URI     free loopback port, http://127.0.0.1:PORT/callback
#   PEER_USER_CLIENT_ID PEER_USER_CLIENT_SECRET  user client (client_secret_post, code + refresh)
#   PEER_APP_CLIENT_ID PEER_APP_CLIENT_SECRET    app client (client_secret_basic, client credentials)
#   PEER_BROWSER                             scripted browser, for BROWSER=$PEER_BROWSER
#   PEER_PID PEER_LOG                        server process id and its stderr log
#
# Knobs read by peer_start:
#   PEER_TTL               access-token lifetime in seconds (default 60)
#   PEER_START_TIMEOUT     seconds to wait for READY (default 30)
#   PEER_WATCH_PID         the peer exits when this process is gone (default $$,
#                          so that an interrupted run leaves no server behind)
#   PEER_USER_CLIENT, PEER_APP_CLIENT
#                          "ID:SECRET" instead of generated ones (e.g. a secret
#                          that needs urlencoding); printable ASCII, no spaces
#   PEER_EXTRA_REDIRECTS   more redirect URIs for the user client, space separated
# Never echo the secrets: tests print lengths or hashes only.

PEER_SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../peer" && pwd)"

# oidc-provider needs Node.js 20.19 or later.  Where the machine's is older, scripts/deps --peer
# installed a pinned one as tests/peer/.node/bin/node: it goes first in PATH, for the peer and
# for browser.js (#!/usr/bin/env node) alike.
_peer_node_ok() {
	node -e 'const [a, b] = process.versions.node.split(".").map(Number);
		process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' 2>/dev/null
}
if ! _peer_node_ok && [[ -x $PEER_SRC/.node/bin/node ]]; then
	PATH=$PEER_SRC/.node/bin:$PATH
fi

peer_available() {
	command -v node >/dev/null 2>&1 &&
		command -v openssl >/dev/null 2>&1 &&
		[[ -f "$PEER_SRC/node_modules/oidc-provider/package.json" ]] &&
		_peer_node_ok
}

# A loopback port that nothing listens on right now (the kernel's pick).
peer_free_port() {
	node -e '
		const s = require("node:net").createServer();
		s.listen(0, "127.0.0.1", () => { process.stdout.write(String(s.address().port)); s.close(); });'
}

# 32 random bytes, base64url: the shape of a client secret, and of an id suffix.
_peer_random() {
	openssl rand -base64 32 | tr -d '\n=' | tr '+/' '-_'
}

peer_start() {
	local dir=${1:?usage: peer_start DIR}
	if ! peer_available; then
		echo "peer_start: the conformance peer is not installed (need openssl, Node.js 20.19 or later and 'npm ci' in $PEER_SRC: scripts/deps --peer)" >&2
		return 1
	fi
	if [[ -n "${PEER_PID:-}" ]] && kill -0 "$PEER_PID" 2>/dev/null; then
		echo "peer_start: a peer is already running (pid $PEER_PID); call peer_stop first" >&2
		return 1
	fi
	mkdir -p "$dir" && chmod 700 "$dir" || return 1
	dir=$(cd "$dir" && pwd) || return 1

	local user=${PEER_USER_CLIENT:-"peer-user-$(_peer_random | cut -c1-12):$(_peer_random)"}
	local app=${PEER_APP_CLIENT:-"peer-app-$(_peer_random | cut -c1-12):$(_peer_random)"}
	local ttl=${PEER_TTL:-60}
	local timeout=${PEER_START_TIMEOUT:-30}
	local redirect_port
	redirect_port=$(peer_free_port) || {
		echo "peer_start: could not find a free loopback port" >&2
		return 1
	}

	local -a redirects=(--redirect "http://127.0.0.1:$redirect_port/callback")
	local extra
	for extra in ${PEER_EXTRA_REDIRECTS:-}; do
		redirects+=(--redirect "$extra")
	done

	rm -f "$dir/server.out" "$dir/port" "$dir/config"
	# 3>&- : bats waits for fd 3 to close, so a background server must not hold it.
	node "$PEER_SRC/server.js" --dir "$dir" --ttl "$ttl" --watch-pid "${PEER_WATCH_PID:-$$}" \
		--user-client "$user" --app-client "$app" "${redirects[@]}" \
		</dev/null >"$dir/server.out" 2>"$dir/server.log" 3>&- &
	local pid=$!

	# Bounded wait for the one READY line.
	local deadline=$((SECONDS + timeout)) line=""
	while :; do
		line=$(grep -m1 -E '^READY [0-9]+$' "$dir/server.out" 2>/dev/null || true)
		[[ -n "$line" ]] && break
		if ! kill -0 "$pid" 2>/dev/null; then
			local status=0
			wait "$pid" 2>/dev/null || status=$?
			echo "peer_start: the peer exited (status $status) before it was ready; its log:" >&2
			sed 's/^/  | /' "$dir/server.log" >&2
			return 1
		fi
		if ((SECONDS >= deadline)); then
			kill -TERM "$pid" 2>/dev/null || true
			echo "peer_start: the peer was not ready within ${timeout}s; its log:" >&2
			sed 's/^/  | /' "$dir/server.log" >&2
			return 1
		fi
		sleep 0.1
	done

	export PEER_PID=$pid
	export PEER_DIR=$dir
	export PEER_PORT=${line#READY }
	export PEER_URL="https://127.0.0.1:$PEER_PORT"
	export PEER_ISSUER=$PEER_URL
	export PEER_CONFIG="$dir/config"
	export PEER_CA="$dir/ca.pem"
	export PEER_LOG="$dir/server.log"
	export PEER_REDIRECT_PORT=$redirect_port
	export PEER_REDIRECT_URI="http://127.0.0.1:$redirect_port/callback"
	export PEER_USER_CLIENT_ID=${user%%:*} PEER_USER_CLIENT_SECRET=${user#*:}
	export PEER_APP_CLIENT_ID=${app%%:*} PEER_APP_CLIENT_SECRET=${app#*:}
	export PEER_BROWSER="$PEER_SRC/browser.js"

	if [[ "$(cat "$dir/port" 2>/dev/null)" != "$PEER_PORT" || ! -s "$PEER_CONFIG" ]]; then
		echo "peer_start: READY $PEER_PORT but $dir/port or $dir/config is missing or wrong" >&2
		peer_stop
		return 1
	fi
}

peer_stop() {
	local pid=${PEER_PID:-}
	[[ -n "$pid" ]] || return 0
	unset PEER_PID
	kill -TERM "$pid" 2>/dev/null || return 0 # already gone
	local i
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "peer_stop: the peer (pid $pid) ignored SIGTERM for 5s; killing it" >&2
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		return 1
	fi
	# Its exit status is known only to the shell that started it; elsewhere
	# `wait` fails and having exited is all we can check.
	local status=0
	wait "$pid" 2>/dev/null || status=$?
	if ((status != 0 && status != 127)); then
		echo "peer_stop: the peer exited with status $status on SIGTERM" >&2
		return 1
	fi
}
