#!/usr/bin/env bash
# Self-test of the conformance peer, without our C client: proves that the peer
# (oidc-provider as configured in server.js), browser.js and tests/lib/peer.bash
# behave as documented before any client test relies on them. It plays the
# client with curl, openssl and a tiny node loopback listener:
#
#   authorization request checks (PKCE required, S256 only, exact redirect_uri),
#   a full code flow with PKCE S256 driven by browser.js, code exchange with
#   client_secret_post, /me, five refreshes in a row, reuse of a spent refresh
#   token and what it does to the newest one, code replay, client credentials
#   with HTTP Basic (and the secret in the body, and wrong secrets), sign-out,
#   access-token expiry, a denied login, a scan of the logs for leaked values,
#   and a clean SIGTERM.
#
# Tokens, codes and secrets live in files under a private temporary directory
# and reach curl through files (never argv); the output shows only their length
# and a short sha256 prefix. Exits 0 when every check passed, 1 otherwise.
# Usage: tests/peer/selftest.sh   (KEEP=1 keeps the work directory)

# shellcheck disable=SC2016 # the single-quoted bash -c / node -e programs are meant literally
set -euo pipefail
trap 'printf "selftest: unexpected failure at line %s\n" "$LINENO"' ERR

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib/peer.bash
. "$here/../lib/peer.bash"

work=$(mktemp -d "${TMPDIR:-/tmp}/peer-selftest.XXXXXX")
chmod 700 "$work"
sec="$work/secrets" # one file per secret value; scanned for leaks at the end
mkdir -m 700 "$sec"
listener_pid=""
passed=0
failed=0

cleanup() {
	[[ -n "$listener_pid" ]] && kill "$listener_pid" 2>/dev/null
	peer_stop || true
	if [[ -n "${KEEP:-}" ]]; then echo "work directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

say() { printf '%s\n' "$*"; }
ok() {
	passed=$((passed + 1))
	say "  ok   $*"
}
bad() {
	failed=$((failed + 1))
	say "  FAIL $*"
}
check() { # check DESCRIPTION COMMAND... : ok/FAIL by the command's status
	local what=$1
	shift
	if "$@"; then ok "$what"; else bad "$what"; fi
}
die() {
	say "  FAIL $*"
	say "selftest: aborted; $passed passed, $((failed + 1)) failed"
	exit 1
}

# The length and a short hash of a secret file: enough to tell values apart.
fp() { printf 'len=%s sha256=%s' "$(wc -c <"$1" | tr -d ' ')" "$(sha256sum <"$1" | cut -c1-8)"; }
put() { printf '%s' "$2" >"$sec/$1"; } # put NAME VALUE (value never echoed)

# Field KEY of the JSON object in FILE ("" when absent; status 1 when not JSON).
json() {
	node -e '
		let o;
		try { o = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); } catch { process.exit(1); }
		const v = o[process.argv[2]];
		process.stdout.write(v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : String(v));' "$1" "$2"
}
# Keep field KEY of the JSON in FILE as secret NAME; fails when absent.
keep() { # keep JSONFILE KEY NAME
	local v
	v=$(json "$1" "$2")
	[[ -n "$v" ]] || return 1
	put "$3" "$v"
}
base64url() { basenc --base64url | tr -d '=\n'; }
# application/x-www-form-urlencoded encoding of the content of FILE (RFC 6749 2.3.1).
formenc() { node -e 'process.stdout.write(new URLSearchParams({ v: require("fs").readFileSync(process.argv[1], "utf8") }).toString().slice(2))' "$1"; }

CURL=(curl -sS --max-time 20)

# POST to the token endpoint. Usage: token OUT [curl args...]; prints the status;
# response headers land in OUT.h.
token() {
	local out=$1
	shift
	"${CURL[@]}" --cacert "$PEER_CA" -o "$out" -D "$out.h" -w '%{http_code}' "$@" "$PEER_URL/token"
}
# Header lines for curl -H @file, built from secret files.
auth_file() { # auth_file NAME SCHEME TOKEN_SECRET_NAME
	printf 'Authorization: %s %s\n' "$2" "$(cat "$sec/$3")" >"$work/$1.hdr"
}
basic_file() { # basic_file NAME ID_SECRET_NAME SECRET_SECRET_NAME [raw]
	local cred
	if [[ "${4:-}" == raw ]]; then
		cred=$(printf '%s:%s' "$(cat "$sec/$2")" "$(cat "$sec/$3")" | base64 -w0)
	else
		cred=$(printf '%s:%s' "$(formenc "$sec/$2")" "$(formenc "$sec/$3")" | base64 -w0)
	fi
	printf 'Authorization: Basic %s\n' "$cred" >"$work/$1.hdr"
}
# GET /me with a header file; prints the status, body in OUT, headers in OUT.h.
me() { # me OUT HDRFILE
	"${CURL[@]}" --cacert "$PEER_CA" -o "$1" -D "$1.h" -w '%{http_code}' -H @"$2" "$PEER_URL/me"
}
header() { grep -i "^$2:" "$1" | head -1 | tr -d '\r' | cut -d' ' -f2-; } # header HFILE NAME

# Loopback listener standing in for the client's redirect target: records the
# query of the first /callback request in FILE (0600) and answers a small page.
listen() { # listen FILE
	rm -f "$1" "$work/listener.ready"
	node -e '
		const fs = require("fs"), http = require("http");
		const [file, ready, port] = process.argv.slice(1);
		const srv = http.createServer((req, res) => {
			const u = new URL(req.url, "http://127.0.0.1");
			if (u.pathname !== "/callback") { res.statusCode = 404; res.end("not here\n"); return; }
			fs.writeFileSync(file, JSON.stringify(Object.fromEntries(u.searchParams)), { mode: 0o600 });
			res.setHeader("content-type", "text/html");
			res.end("<html><body>You may close this window.</body></html>\n");
			srv.close();
		});
		srv.listen(Number(port), "127.0.0.1", () => fs.writeFileSync(ready, ""));
		setTimeout(() => process.exit(1), 60000).unref();' "$1" "$work/listener.ready" "$PEER_REDIRECT_PORT" &
	listener_pid=$!
	local i
	for ((i = 0; i < 100; i++)); do
		[[ -e "$work/listener.ready" ]] && return 0
		sleep 0.05
	done
	return 1
}

# A new PKCE pair and state in secret files PREFIX.verifier/.challenge/.state.
pkce() {
	put "$1.verifier" "$(openssl rand 32 | base64url)"
	put "$1.challenge" "$(openssl dgst -sha256 -binary <"$sec/$1.verifier" | base64url)"
	put "$1.state" "$(openssl rand 16 | base64url)"
}
authorize_url() { # authorize_url PREFIX [extra query]
	printf '%s/auth?client_id=%s&redirect_uri=%s&response_type=code&code_challenge=%s&code_challenge_method=S256&state=%s%s' \
		"$PEER_URL" "$(formenc "$sec/user.id")" "$(formenc "$work/redirect")" \
		"$(cat "$sec/$1.challenge")" "$(cat "$sec/$1.state")" "${2:-}"
}

# Full login through browser.js; leaves the callback's query in CB file.
login() { # login PREFIX LOGIN CBFILE [approve|deny] [EXTRA-QUERY]
	pkce "$1"
	listen "$3" || die "the loopback listener did not start"
	local action=approve
	[[ "${4:-}" == deny ]] && action=deny
	if ! PEER_LOGIN=$2 PEER_BROWSER_ACTION=$action "$PEER_BROWSER" "$(authorize_url "$1" "${5:-}")" 2>>"$work/browser.log"; then
		sed 's/^/    | /' "$work/browser.log" | tail -n 15
		die "browser.js failed"
	fi
	wait "$listener_pid" 2>/dev/null || true
	listener_pid=""
	[[ -s "$3" ]] || die "the listener got no callback"
}

# Exchange the code of callback CB (PKCE PREFIX) into OUT; prints the status.
exchange() { # exchange OUT PREFIX CODENAME [verifier-secret-name]
	token "$1" -d grant_type=authorization_code \
		--data-urlencode "code@$sec/$3" \
		--data-urlencode "code_verifier@$sec/${4:-$2.verifier}" \
		--data-urlencode "redirect_uri@$work/redirect" \
		--data-urlencode "client_id@$sec/user.id" \
		--data-urlencode "client_secret@$sec/user.secret"
}
refresh() { # refresh OUT RT_SECRET_NAME
	token "$1" -d grant_type=refresh_token \
		--data-urlencode "refresh_token@$sec/$2" \
		--data-urlencode "client_id@$sec/user.id" \
		--data-urlencode "client_secret@$sec/user.secret"
}
is() { [[ "$1" == "$2" ]]; }
# "status error" of a token-endpoint answer, for the report.
outcome() { printf '%s %s' "$1" "$(json "$2" error 2>/dev/null || echo '(not JSON)')"; }

say "== conformance peer selftest (oidc-provider $(node -p 'require(process.argv[1]).version' "$here/node_modules/oidc-provider/package.json"), node $(node --version))"

# An app secret with characters that need RFC 6749 2.3.1 encoding in Basic.
PEER_APP_CLIENT="peer-app-selftest:$(openssl rand -hex 8)+/:%41&=?"
export PEER_APP_CLIENT
export PEER_TTL=4
peer_start "$work/peer" || die "peer_start failed"
say "peer: $PEER_URL (pid $PEER_PID), access-token ttl ${PEER_TTL}s, config $PEER_CONFIG"
put user.id "$PEER_USER_CLIENT_ID"
put user.secret "$PEER_USER_CLIENT_SECRET"
put app.id "$PEER_APP_CLIENT_ID"
put app.secret "$PEER_APP_CLIENT_SECRET"
printf '%s' "$PEER_REDIRECT_URI" >"$work/redirect"
check "config is mode 0600" is "$(stat -c %a "$PEER_CONFIG")" 600
check "config names the user client, token_url and ca_file" \
	grep -qxF "token_url = $PEER_URL/token" "$PEER_CONFIG"
check "TLS certificate verifies against ca.pem for 127.0.0.1 and localhost" \
	bash -c 'curl -sS -o /dev/null --cacert "$1" "https://127.0.0.1:$2/.well-known/openid-configuration" &&
		curl -sS -o /dev/null --cacert "$1" --resolve "localhost:$2:127.0.0.1" "https://localhost:$2/jwks"' _ "$PEER_CA" "$PEER_PORT"

say "-- authorization requests"
pkce probe
# Where an authorization error redirect points, and its error (the URL's query is not secret here).
redirect_error() { node -e 'const u = new URL(process.argv[1]); console.log(`error=${u.searchParams.get("error")} (${u.searchParams.get("error_description")})`)' "$1"; }
r=$("${CURL[@]}" --cacert "$PEER_CA" -o /dev/null -w '%{http_code} %{redirect_url}' \
	"$PEER_URL/auth?client_id=$(formenc "$sec/user.id")&redirect_uri=$(formenc "$work/redirect")&response_type=code&state=s")
say "  no code_challenge -> ${r%% *}, redirect with $(redirect_error "${r#* }")"
check "PKCE is required (error=invalid_request on the redirect)" grep -q 'error=invalid_request' <<<"$r"
r=$("${CURL[@]}" --cacert "$PEER_CA" -o /dev/null -w '%{http_code} %{redirect_url}' \
	"$PEER_URL/auth?client_id=$(formenc "$sec/user.id")&redirect_uri=$(formenc "$work/redirect")&response_type=code&state=s&code_challenge=$(cat "$sec/probe.verifier")&code_challenge_method=plain")
say "  code_challenge_method=plain -> ${r%% *}, redirect with $(redirect_error "${r#* }")"
check "PKCE plain is refused (error=invalid_request)" grep -q 'error=invalid_request' <<<"$r"
st=$("${CURL[@]}" --cacert "$PEER_CA" -o "$work/auth.body" -w '%{http_code}' \
	"$PEER_URL/auth?client_id=$(formenc "$sec/user.id")&redirect_uri=$(formenc "$work/redirect")%2F&response_type=code&state=s&code_challenge=$(cat "$sec/probe.challenge")&code_challenge_method=S256")
# No redirect to an unregistered URI: oidc-provider shows its HTML error page,
# whatever the Accept header, with "<pre><strong>error</strong>: VALUE</pre>".
page_error=$(sed -n 's|.*<strong>error</strong>: \([a-z_]*\)</pre>.*|\1|p' "$work/auth.body")
say "  redirect_uri with an extra trailing slash -> $st, HTML error page: $page_error (no redirect)"
check "redirect_uri must match exactly (400 page, invalid_redirect_uri)" is "$st $page_error" "400 invalid_redirect_uri"

say "-- code flow with PKCE S256 (browser.js as alice, no scope requested)"
login a alice "$work/cb-a"
keep "$work/cb-a" code a.code || die "no code on the redirect"
say "  callback parameters: $(node -p 'Object.keys(JSON.parse(require("fs").readFileSync(process.argv[1]))).join(", ")' "$work/cb-a"); code $(fp "$sec/a.code")"
check "state comes back unchanged" is "$(json "$work/cb-a" state)" "$(cat "$sec/a.state")"
check "iss on the redirect equals the issuer (RFC 9207)" is "$(json "$work/cb-a" iss)" "$PEER_ISSUER"

put wrong.verifier "$(openssl rand 32 | base64url)"
st=$(exchange "$work/x0" a a.code wrong.verifier)
say "  exchange with a wrong code_verifier -> $(outcome "$st" "$work/x0")"
check "wrong verifier: 400 invalid_grant" is "$(outcome "$st" "$work/x0")" "400 invalid_grant"

st=$(exchange "$work/x1" a a.code)
[[ "$st" == 200 ]] || die "code exchange (client_secret_post) answered $(outcome "$st" "$work/x1")"
ok "code exchange with client_secret_post: 200"
keep "$work/x1" access_token a.at0 || die "no access_token"
keep "$work/x1" refresh_token a.rt0 || die "no refresh_token (issueRefreshToken)"
say "  response fields: $(node -p 'Object.keys(JSON.parse(require("fs").readFileSync(process.argv[1]))).join(", ")' "$work/x1")"
say "  token_type=$(json "$work/x1" token_type) scope=\"$(json "$work/x1" scope)\" expires_in=$(json "$work/x1" expires_in)"
say "  access token $(fp "$sec/a.at0"), refresh token $(fp "$sec/a.rt0")"
check "expires_in equals --ttl" is "$(json "$work/x1" expires_in)" "$PEER_TTL"
check "no id_token without openid" is "$(json "$work/x1" id_token)" ""
check "Cache-Control: no-store on the token response" grep -qi '^cache-control: no-store' "$work/x1.h"

say "-- /me"
auth_file oauth OAuth a.at0
st=$(me "$work/me1" "$work/oauth.hdr")
say "  OAuth scheme -> $st $(cat "$work/me1")"
check "/me with Authorization: OAuth: 200, urn soundcloud:users:N, username alice" \
	bash -c '[[ $1 == 200 && $2 =~ ^soundcloud:users:[0-9]+$ && $3 == alice ]]' _ "$st" "$(json "$work/me1" urn)" "$(json "$work/me1" username)"
auth_file bearer Bearer a.at0
st=$(me "$work/me2" "$work/bearer.hdr")
check "/me with Authorization: Bearer: 200" is "$st" 200
put bogus "not-a-token-$(openssl rand -hex 8)"
auth_file bogus OAuth bogus
st=$(me "$work/me3" "$work/bogus.hdr")
say "  unknown token -> $st, WWW-Authenticate: $(header "$work/me3.h" www-authenticate)"
check "/me with an unknown token: 401 + WWW-Authenticate Bearer error=\"invalid_token\"" \
	bash -c '[[ $1 == 401 && $2 == *"error=\"invalid_token\""* ]]' _ "$st" "$(header "$work/me3.h" www-authenticate)"

say "-- five refreshes in a row, each with the newest refresh token"
for i in 1 2 3 4 5; do
	st=$(refresh "$work/r$i" "a.rt$((i - 1))")
	if [[ "$st" != 200 ]]; then bad "refresh $i: $(outcome "$st" "$work/r$i")" && continue; fi
	keep "$work/r$i" refresh_token "a.rt$i" || {
		bad "refresh $i returned no refresh_token"
		continue
	}
	keep "$work/r$i" access_token "a.at$i"
	if cmp -s "$sec/a.rt$i" "$sec/a.rt$((i - 1))"; then bad "refresh $i: the refresh token was not rotated"; else
		ok "refresh $i: 200, new refresh token $(fp "$sec/a.rt$i"), access token $(fp "$sec/a.at$i"), scope \"$(json "$work/r$i" scope)\""
	fi
done
auth_file prev OAuth a.at1
st=$(me "$work/me4" "$work/prev.hdr")
say "  an access token from an earlier refresh, before expiry, at /me -> $st (rotation does not revoke earlier access tokens)"

say "-- reuse of a spent refresh token"
st=$(refresh "$work/reuse" a.rt1)
say "  spent refresh token #1 again -> $(outcome "$st" "$work/reuse") ($(json "$work/reuse" error_description))"
check "reuse: 400 invalid_grant" is "$(outcome "$st" "$work/reuse")" "400 invalid_grant"
st=$(refresh "$work/after" a.rt5)
say "  then the newest refresh token -> $(outcome "$st" "$work/after")"
check "reuse revoked the chain: newest refresh token now invalid_grant" is "$(outcome "$st" "$work/after")" "400 invalid_grant"
auth_file newest OAuth a.at5
st=$(me "$work/me5" "$work/newest.hdr")
say "  and the newest access token at /me -> $st"
check "reuse revoked the newest access token too (401)" is "$st" 401
st=$(exchange "$work/replay" a a.code)
say "  replay of the (spent) authorization code -> $(outcome "$st" "$work/replay")"
check "code replay: 400 invalid_grant" is "$(outcome "$st" "$work/replay")" "400 invalid_grant"

say "-- client credentials (app client, client_secret_basic)"
say "  app secret has characters that need encoding: $(fp "$sec/app.secret")"
basic_file app app.id app.secret
st=$(token "$work/cc1" -H @"$work/app.hdr" -d grant_type=client_credentials)
say "  Basic with form-urlencoded id and secret -> $st, fields: $(node -p 'Object.keys(JSON.parse(require("fs").readFileSync(process.argv[1]))).join(", ")' "$work/cc1")"
check "client_credentials with Basic: 200" is "$st" 200
keep "$work/cc1" access_token app.at || true
say "  token_type=$(json "$work/cc1" token_type) expires_in=$(json "$work/cc1" expires_in) scope=\"$(json "$work/cc1" scope)\" refresh_token: $([[ -n "$(json "$work/cc1" refresh_token)" ]] && echo present || echo absent)"
check "client_credentials gives no refresh token (oidc-provider never does)" is "$(json "$work/cc1" refresh_token)" ""
if [[ -s "$sec/app.at" ]]; then
	auth_file appme OAuth app.at
	st=$(me "$work/me6" "$work/appme.hdr")
	check "/me with an app (client credentials) token: 401" is "$st" 401
fi
basic_file appraw app.id app.secret raw
st=$(token "$work/cc2" -H @"$work/appraw.hdr" -d grant_type=client_credentials)
say "  Basic with the raw (not urlencoded) secret -> $(outcome "$st" "$work/cc2"), WWW-Authenticate: $(header "$work/cc2.h" www-authenticate)"
check "RFC 6749 2.3.1: the unencoded secret is refused (401 invalid_client)" is "$(outcome "$st" "$work/cc2")" "401 invalid_client"
st=$(token "$work/cc3" -d grant_type=client_credentials \
	--data-urlencode "client_id@$sec/app.id" --data-urlencode "client_secret@$sec/app.secret")
if [[ -n "$(json "$work/cc3" access_token)" ]]; then got="an access token"; else got=$(cat "$work/cc3"); fi
say "  secret in the body for the Basic client -> $st, $got"
check "oidc-provider 9 accepts client_secret_post for a client_secret_basic client (200)" is "$st" 200
put bad.secret "wrong-$(openssl rand -hex 8)"
basic_file appbad app.id bad.secret
st=$(token "$work/cc4" -H @"$work/appbad.hdr" -d grant_type=client_credentials)
say "  wrong secret via Basic -> $(outcome "$st" "$work/cc4") $(cat "$work/cc4")"
say "    WWW-Authenticate: $(header "$work/cc4.h" www-authenticate)"
check "wrong secret via Basic: 401 invalid_client + WWW-Authenticate: Basic" \
	bash -c '[[ $1 == "401 invalid_client" && $2 == Basic\ * ]]' _ "$(outcome "$st" "$work/cc4")" "$(header "$work/cc4.h" www-authenticate)"
st=$(token "$work/cc5" -d grant_type=client_credentials \
	--data-urlencode "client_id@$sec/app.id" --data-urlencode "client_secret@$sec/bad.secret")
say "  wrong secret in the body -> $(outcome "$st" "$work/cc5"), WWW-Authenticate: $(header "$work/cc5.h" www-authenticate | grep . || echo '(none)')"
check "wrong secret in the body: 401 invalid_client, and NO WWW-Authenticate (sent only when the request had Authorization)" \
	bash -c '[[ $1 == "401 invalid_client" ]] && ! grep -qi "^www-authenticate:" "$2"' _ "$(outcome "$st" "$work/cc5")" "$work/cc5.h"
st=$(token "$work/cc6" -H @"$work/app.hdr" -d grant_type=client_credentials --data-urlencode "client_secret@$sec/app.secret")
say "  secret both in Basic and in the body -> $(outcome "$st" "$work/cc6") ($(json "$work/cc6" error_description))"
check "both mechanisms at once: 400 invalid_request" is "$(outcome "$st" "$work/cc6")" "400 invalid_request"
st=$(token "$work/cc7" -d grant_type=client_credentials \
	--data-urlencode "client_id@$sec/user.id" --data-urlencode "client_secret@$sec/user.secret")
say "  client_credentials by the user client -> $(outcome "$st" "$work/cc7") ($(json "$work/cc7" error_description))"
check "grant type not allowed for the client: 400" is "$st" 400
put ghost.id "no-such-client"
basic_file ghost ghost.id bad.secret
st=$(token "$work/cc8" -H @"$work/ghost.hdr" -d grant_type=client_credentials)
check "unknown client: 401 invalid_client" is "$(outcome "$st" "$work/cc8")" "401 invalid_client"

say "-- second login (bob): expiry, sign-out"
login b bob "$work/cb-b"
keep "$work/cb-b" code b.code || die "no code on the second redirect"
st=$(exchange "$work/y1" b b.code)
[[ "$st" == 200 ]] || die "second code exchange answered $(outcome "$st" "$work/y1")"
keep "$work/y1" access_token b.at0
keep "$work/y1" refresh_token b.rt0
auth_file bob OAuth b.at0
st=$(me "$work/me7" "$work/bob.hdr")
say "  /me -> $st $(cat "$work/me7")"
check "bob is a different, stable user" \
	bash -c '[[ $1 == 200 && $2 == bob && $3 != "$4" ]]' _ "$st" "$(json "$work/me7" username)" "$(json "$work/me7" urn)" "$(json "$work/me1" urn)"
sleep $((PEER_TTL + 1))
st=$(me "$work/me8" "$work/bob.hdr")
say "  after ${PEER_TTL}s + 1s the access token at /me -> $st, WWW-Authenticate: $(header "$work/me8.h" www-authenticate)"
check "expired access token: 401 invalid_token" \
	bash -c '[[ $1 == 401 && $2 == *invalid_token* ]]' _ "$st" "$(header "$work/me8.h" www-authenticate)"
st=$(refresh "$work/y2" b.rt0)
check "refresh after expiry: 200" is "$st" 200
keep "$work/y2" access_token b.at1
keep "$work/y2" refresh_token b.rt1
printf '{"access_token":"%s"}' "$(cat "$sec/b.at1")" >"$sec/signout.json"
st=$("${CURL[@]}" --cacert "$PEER_CA" -o "$work/so1" -w '%{http_code}' -H 'Content-Type: application/json' \
	--data-binary @"$sec/signout.json" "$PEER_URL/sign-out")
say "  POST /sign-out {\"access_token\": ...} -> $st $(cat "$work/so1")"
check "sign-out: 200" is "$st" 200
auth_file bob1 OAuth b.at1
st=$(me "$work/me9" "$work/bob1.hdr")
check "after sign-out the access token is refused at /me (401)" is "$st" 401
st=$(refresh "$work/y3" b.rt1)
check "after sign-out the refresh token is gone (400 invalid_grant)" is "$(outcome "$st" "$work/y3")" "400 invalid_grant"
st=$("${CURL[@]}" --cacert "$PEER_CA" -o "$work/so2" -w '%{http_code}' -H 'Content-Type: application/json' \
	--data-binary @"$sec/signout.json" "$PEER_URL/sign-out")
check "sign-out again with the same token: 401" is "$st" 401

say "-- a scope the peer does not know (scope=non-expiring)"
login d dave "$work/cb-d" approve "&scope=non-expiring"
keep "$work/cb-d" code d.code || die "no code on the redirect"
st=$(exchange "$work/z1" d d.code)
say "  exchange -> $st, scope=\"$(json "$work/z1" scope)\""
check "an unknown requested scope is ignored; granted scope is \"default\"" is "$st $(json "$work/z1" scope)" "200 default"

say "-- denied login"
login c carol "$work/cb-c" deny
say "  callback: error=$(json "$work/cb-c" error) ($(json "$work/cb-c" error_description)), state $([[ "$(json "$work/cb-c" state)" == "$(cat "$sec/c.state")" ]] && echo matches || echo DIFFERS)"
check "deny gives error=access_denied on the redirect, with state" \
	bash -c '[[ $1 == access_denied && $2 == "$3" ]]' _ "$(json "$work/cb-c" error)" "$(json "$work/cb-c" state)" "$(cat "$sec/c.state")"

say "-- leaks"
leaked=""
for f in "$sec"/*; do
	[[ -s "$f" ]] || continue
	case "$(basename "$f")" in *.state | *.challenge | signout.json | ghost.id | user.id | app.id) continue ;; esac
	for log in "$PEER_LOG" "$PEER_DIR/server.out" "$work/browser.log"; do
		if grep -qF -- "$(cat "$f")" "$log"; then leaked+=" $(basename "$f") in $(basename "$log")"; fi
	done
done
check "no token, code, verifier or secret in the peer's or browser's output" is "$leaked" ""

say "-- shutdown"
pid=$PEER_PID
check "SIGTERM: the peer exits 0" peer_stop
check "the peer process is gone" bash -c '! kill -0 "$1" 2>/dev/null' _ "$pid"

say "selftest: $passed passed, $failed failed"
((failed == 0))
