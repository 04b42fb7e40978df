# Bats helpers for the SoundCloud sandbox (tests/sandbox/server.js): start and stop a sandbox for a
# test or a whole .bats file, and drive its control API (/_sandbox/...) with curl. Source it from a
# .bats file:  load '../lib/sandbox'
#
# Needs node and curl; jq is not assumed (JSON is read with node). Nothing here prints a secret:
# control calls send their JSON on stdin, never on a command line.

SANDBOX_SERVER=${SANDBOX_SERVER:-"$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../sandbox" && pwd)/server.js"}
# Seconds to wait for READY at most: a bound, not a pace (the wait ends at READY or the server's
# exit); a loaded machine (make check beside a build) can take more than 10 s to start node.
SANDBOX_START_TIMEOUT=${SANDBOX_START_TIMEOUT:-60}

# sandbox_start [DIR] [SERVER_ARGS...]
# Starts a sandbox in DIR (default: a new directory under $BATS_TEST_TMPDIR, or $BATS_FILE_TMPDIR
# when called from setup_file) and waits for its READY line. Exports SANDBOX_DIR, SANDBOX_PORT,
# SANDBOX_URL, SANDBOX_CA, SANDBOX_CONFIG (the INI file for our client) and SANDBOX_PID.
# Extra arguments go to the server, e.g. --client ID:SECRET:URI, --token-ttl 60, --verbose.
# Its stdout and stderr are in $SANDBOX_DIR/stdout and $SANDBOX_DIR/server.log.
sandbox_start() {
	local dir
	if [[ $# -gt 0 && $1 != -* ]]; then
		dir=$1
		shift
	else
		dir=$(mktemp -d "${BATS_TEST_TMPDIR:-${BATS_FILE_TMPDIR:-${TMPDIR:-/tmp}}}/sandbox.XXXXXX") || return 1
	fi
	mkdir -p -- "$dir" || return 1

	# fd 3 is closed for the server: bats waits for every holder of it before it finishes.
	# --watch-pid makes the server exit when this bats process does, even if teardown never runs.
	node "$SANDBOX_SERVER" --dir "$dir" --watch-pid "$$" "$@" >"$dir/stdout" 2>"$dir/server.log" 3>&- &
	local pid=$! line='' i
	for ((i = 0; i < SANDBOX_START_TIMEOUT * 20; i++)); do
		# The file is made by the background shell's redirection, which may not have run yet:
		# no file is "not ready", never a failure (setup_file runs under errexit).
		line=$(head -n 1 -- "$dir/stdout" 2>/dev/null) || line=''
		[[ $line =~ ^READY\ ([0-9]+)$ ]] && break
		if ! _sandbox_alive "$pid"; then
			break
		fi
		sleep 0.05
	done
	if ! [[ $line =~ ^READY\ ([0-9]+)$ ]]; then
		echo "sandbox_start: the sandbox did not get ready within ${SANDBOX_START_TIMEOUT}s; its log:" >&2
		sed 's/^/  | /' -- "$dir/server.log" >&2
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		return 1
	fi
	export SANDBOX_DIR=$dir
	export SANDBOX_PORT=${BASH_REMATCH[1]}
	export SANDBOX_URL="https://127.0.0.1:$SANDBOX_PORT"
	export SANDBOX_CA="$dir/ca.pem"
	export SANDBOX_CONFIG="$dir/config"
	export SANDBOX_PID=$pid
}

# sandbox_stop: stops the sandbox started by sandbox_start (SIGTERM, then SIGKILL after 5 s).
sandbox_stop() {
	local pid=${SANDBOX_PID:-} i
	[[ -n $pid ]] || return 0
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		_sandbox_alive "$pid" || break
		sleep 0.05
	done
	if _sandbox_alive "$pid"; then
		echo "sandbox_stop: sandbox $pid ignored SIGTERM; killing it" >&2
		kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null   # reaps it when this shell started it; harmless otherwise
	unset SANDBOX_PID
	return 0
}

# True while PID runs. A zombie does not count: kill -0 would still succeed on one, and the
# server is a zombie until the shell that started it waits for it.
_sandbox_alive() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[[ ${stat%% *} != Z ]]
}

# sandbox_curl ARGS...: curl against the sandbox: its CA, no proxy, no progress, bounded time.
# Tests hand it secrets (client secrets, codes, verifiers, tokens, Basic credentials), so the
# arguments reach curl as a config read from a pipe (-K), never its argv, where ps shows them.
# Built in this shell, without a temporary file or a program per argument: tests call it
# thousands of times, often on a loaded machine.
sandbox_curl() {
	local conf='' arg q
	while (($#)); do
		arg=$1
		shift
		case $arg in
		-H | -d | -u | -o | -w | -X | -D | --header | --data | --data-raw | --data-binary | \
			--data-urlencode | --user | --output | --write-out | --request | --dump-header | \
			--max-time | --connect-timeout | --cacert | --interface)
			(($#)) || { echo "sandbox_curl: $arg needs a value" >&2; return 2; }
			_curlrc_quote q "$1"
			conf+="$arg \"$q\""$'\n'
			shift
			;;
		-*) conf+="$arg"$'\n' ;;
		*)
			_curlrc_quote q "$arg"
			conf+="url = \"$q\""$'\n'
			;;
		esac
	done
	curl --silent --show-error --noproxy '*' --cacert "$SANDBOX_CA" --max-time 30 \
		-K <(printf '%s' "$conf")
}

# _curlrc_quote VAR VALUE: sets VAR to VALUE quoted for a double-quoted curl config value.
_curlrc_quote() {
	local v=${2//\\/\\\\}
	v=${v//\"/\\\"}
	printf -v "$1" '%s' "${v//$'\n'/\\n}"
}

# sandbox_ctl METHOD PATH [JSON]: one control call. PATH is relative to /_sandbox/ ("stats") or
# absolute ("/_sandbox/stats"). Prints the JSON answer; fails on an HTTP error status, still
# printing the answer (which says what was wrong).
sandbox_ctl() {
	local method=$1 path=$2 json=${3-}
	[[ $path == /_sandbox/* ]] || path="/_sandbox/${path#/}"
	local args=(--fail-with-body -X "$method")
	if [[ -n $json ]]; then
		args+=(-H 'Content-Type: application/json' --data-binary @-)
	fi
	printf '%s' "$json" | sandbox_curl "${args[@]}" "$SANDBOX_URL$path"
	local rc=$?
	echo
	return "$rc"
}

# sandbox_client ID SECRET REDIRECT_URI [REDIRECT_URI...]: registers (or replaces) a client.
sandbox_client() {
	local json uri sep=
	json="{\"client_id\":$(_json_string "$1"),\"client_secret\":$(_json_string "$2"),\"redirect_uris\":["
	for uri in "${@:3}"; do
		json+="$sep$(_json_string "$uri")"
		sep=,
	done
	sandbox_ctl POST clients "$json]}" >/dev/null
}

# _json_string TEXT: TEXT as a JSON string literal (built in bash: node would cost 80 ms a call).
_json_string() {
	local s=$1 out='' c i
	s=${s//\\/\\\\}
	s=${s//\"/\\\"}
	if [[ $s == *[$'\x01'-$'\x1f']* ]]; then
		for ((i = 0; i < ${#s}; i++)); do
			c=${s:i:1}
			if [[ $c == [$'\x01'-$'\x1f'] ]]; then
				printf -v c '\\u%04x' "'$c"
			fi
			out+=$c
		done
		s=$out
	fi
	printf '"%s"' "$s"
}

# sandbox_fault JSON: queues a fault, e.g. sandbox_fault '{"endpoint":"token","kind":"429"}'.
sandbox_fault() {
	sandbox_ctl POST fault "$1" >/dev/null
}

# sandbox_reset [JSON]: forgets faults, tokens, codes and stats (clients too with {"clients":true}).
sandbox_reset() {
	local json=${1:-'{}'}
	sandbox_ctl POST reset "$json" >/dev/null
}

# json_get PATH: prints one field of the JSON document on stdin. PATH is dot-separated, array
# indexes as numbers or [n]: token.errors.invalid_grant, requests.0.status, requests[0].status,
# requests.length. Strings print raw, other values as compact JSON; fails when the path is absent.
# Uses jq when it is there (fast), node otherwise; both walk the path the same way.
json_get() {
	if command -v jq >/dev/null; then
		jq -r --arg path "$1" "$_JSON_GET_JQ" || { local rc=$? && ((rc == 5)) && return 1 || return "$rc"; }
	else
		node -e "$_JSON_GET_NODE" -- "$1"
	fi
}

# shellcheck disable=SC2016 # a jq program: the $ are jq's
_JSON_GET_JQ='
	($path | gsub("\\[(?<n>[0-9]+)\\]"; ".\(.n)") | split(".") | map(select(. != ""))) as $keys
	| reduce $keys[] as $k (.;
		if type == "object" and has($k) then .[$k]
		elif type == "array" and $k == "length" then length
		elif type == "array" and ($k | test("^[0-9]+$")) and ($k | tonumber) < length then .[$k | tonumber]
		else error("absent") end)
	| if type == "string" then . else tojson end'

# shellcheck disable=SC2016 # a JavaScript program
_JSON_GET_NODE='
	let v;
	try { v = JSON.parse(require("fs").readFileSync(0, "utf8")); } catch { process.exit(2); }
	for (const k of process.argv[1].replace(/\[(\d+)\]/g, ".$1").split(".").filter(Boolean)) {
		if (Array.isArray(v) && k === "length") v = v.length;
		else if (Array.isArray(v) && /^[0-9]+$/.test(k) && Number(k) < v.length) v = v[Number(k)];
		else if (v !== null && typeof v === "object" && !Array.isArray(v) && Object.hasOwn(v, k)) v = v[k];
		else process.exit(1);
	}
	process.stdout.write((typeof v === "string" ? v : JSON.stringify(v)) + "\n");'

# sandbox_stat PATH: one field of /_sandbox/stats, e.g. sandbox_stat token.refresh_token.
sandbox_stat() {
	local stats
	stats=$(sandbox_ctl GET stats) || return 1
	json_get "$1" <<<"$stats"
}

# sandbox_fp REFRESH_TOKEN: the fingerprint /_sandbox/chain?fp= wants (16 hex of its sha256).
sandbox_fp() {
	printf '%s' "$1" | openssl dgst -sha256 -r | cut -c1-16
}

# free_port: prints a TCP port on 127.0.0.1 that was free a moment ago.
free_port() {
	node -e '
		const s = require("net").createServer();
		s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

# pkce_pair: sets PKCE_VERIFIER (43 chars of base64url from 32 random bytes) and PKCE_CHALLENGE
# (BASE64URL(SHA256(verifier)), RFC 7636 S256), computed with openssl alone.
# shellcheck disable=SC2034 # both are for the caller
pkce_pair() {
	PKCE_VERIFIER=$(openssl rand 32 | _base64url)
	PKCE_CHALLENGE=$(printf '%s' "$PKCE_VERIFIER" | openssl dgst -sha256 -binary | _base64url)
}

_base64url() {
	openssl base64 -A | tr '+/' '-_' | tr -d '='
}
