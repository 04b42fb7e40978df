#!/usr/bin/env bats
# Tests of the SoundCloud sandbox itself (tests/sandbox/server.js), done by hand with curl and
# openssl, so that the suites testing our client against it can trust what it says. One sandbox
# serves the whole file; every test starts from a reset one with a freshly registered client.
#
# Tokens, codes, verifiers and the client secret are never asserted with assert_equal/assert_output
# (those print both sides when they fail): comparisons of secrets use plain [ ] tests.

bats_require_minimum_version 1.5.0

load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'
load '../lib/sandbox'

CLIENT_ID=sandbox-test-app
# Characters that must be form-urlencoded, in the Basic header (RFC 6749 2.3.1) and in bodies.
CLIENT_SECRET='s3cret with+/:&=%'
REDIRECT_URI='http://127.0.0.1:8765/callback'
QUERY_REDIRECT_URI='http://localhost:9999/cb?app=1'

setup_file() {
	sandbox_start
}

teardown_file() {
	sandbox_stop
}

setup() {
	sandbox_reset '{"clients":true}'
	sandbox_client "$CLIENT_ID" "$CLIENT_SECRET" "$REDIRECT_URI" "$QUERY_REDIRECT_URI"
	pkce_pair
	STATE=$(openssl rand -hex 16)
}

# --- helpers -----------------------------------------------------------------------------------

# req METHOD PATH [CURL_ARGS...]: one request; sets STATUS, BODY and HEADERS (CRs removed).
req() {
	local method=$1 path=$2
	shift 2
	STATUS=$(sandbox_curl -X "$method" -o "$BATS_TEST_TMPDIR/body" -D "$BATS_TEST_TMPDIR/headers" \
		-w '%{http_code}' "$@" "$SANDBOX_URL$path") || return 1
	BODY=$(cat "$BATS_TEST_TMPDIR/body")
	HEADERS=$(tr -d '\r' <"$BATS_TEST_TMPDIR/headers")
}

# header NAME: the value of a response header of the last req (empty when absent).
header() {
	local line
	while IFS= read -r line; do
		if [[ ${line,,} == "${1,,}:"* ]]; then
			line=${line#*:}
			printf '%s\n' "${line# }"
			return 0
		fi
	done <<<"$HEADERS"
}

# field PATH: a field of the last JSON body.
field() {
	json_get "$1" <<<"$BODY"
}

# form_encode TEXT: application/x-www-form-urlencoded, in plain bash (ASCII).
form_encode() {
	local LC_ALL=C s=$1 out='' c i
	for ((i = 0; i < ${#s}; i++)); do
		c=${s:i:1}
		case $c in
		[A-Za-z0-9.~_-]) out+=$c ;;
		' ') out+='+' ;;
		*) printf -v c '%%%02X' "'$c" && out+=$c ;;
		esac
	done
	printf '%s' "$out"
}

# url_param URL NAME: the decoded value of one query parameter of URL.
url_param() {
	local pair pairs value
	IFS='&' read -ra pairs <<<"${1#*\?}"
	for pair in "${pairs[@]}"; do
		if [[ ${pair%%=*} == "$2" ]]; then
			value=${pair#*=}
			value=${value//+/ }
			printf '%b\n' "${value//%/\\x}"
			return 0
		fi
	done
	return 1
}

basic_credentials() {
	printf '%s:%s' "$(form_encode "$1")" "$(form_encode "$2")" | openssl base64 -A
}

# authorize [NAME=VALUE...]: GET /authorize with the usual parameters, each one overridable;
# NAME= leaves that parameter out.
authorize() {
	local -A p=([response_type]=code [client_id]=$CLIENT_ID [redirect_uri]=$REDIRECT_URI
		[code_challenge]=$PKCE_CHALLENGE [code_challenge_method]=S256 [state]=$STATE)
	local kv name args=()
	for kv in "$@"; do
		p[${kv%%=*}]=${kv#*=}
	done
	for name in "${!p[@]}"; do
		[[ -z ${p[$name]} ]] || args+=(--data-urlencode "$name=${p[$name]}")
	done
	req GET /authorize -G "${args[@]}"
}

# exchange CODE [VERIFIER [REDIRECT_URI]]: the authorization_code grant, client auth in the body.
exchange() {
	req POST /oauth/token --data-urlencode grant_type=authorization_code --data-urlencode "code=$1" \
		--data-urlencode "code_verifier=${2:-$PKCE_VERIFIER}" --data-urlencode "redirect_uri=${3:-$REDIRECT_URI}" \
		--data-urlencode "client_id=$CLIENT_ID" --data-urlencode "client_secret=$CLIENT_SECRET"
}

# refresh REFRESH_TOKEN: the refresh_token grant, client auth in the body.
refresh() {
	req POST /oauth/token --data-urlencode grant_type=refresh_token --data-urlencode "refresh_token=$1" \
		--data-urlencode "client_id=$CLIENT_ID" --data-urlencode "client_secret=$CLIENT_SECRET"
}

# client_credentials [CURL_ARGS...]: the client_credentials grant with Basic authentication.
client_credentials() {
	req POST /oauth/token -H "Authorization: Basic $(basic_credentials "$CLIENT_ID" "$CLIENT_SECRET")" \
		--data-urlencode grant_type=client_credentials "$@"
}

# me TOKEN [SCHEME]
me() {
	req GET /me -H "Authorization: ${2:-OAuth} $1"
}

sign_out() {
	req POST /sign-out -H 'Content-Type: application/json' --data-binary "{\"access_token\":\"$1\"}"
}

# login: the whole code flow; sets CODE, ACCESS and REFRESH.
login() {
	authorize
	assert_equal "$STATUS" 302
	CODE=$(url_param "$(header Location)" code)
	[ -n "$CODE" ]
	exchange "$CODE"
	assert_equal "$STATUS" 200
	ACCESS=$(field access_token)
	REFRESH=$(field refresh_token)
	[ -n "$ACCESS" ]
	[ -n "$REFRESH" ]
}

assert_oauth_error() { # STATUS ERROR
	assert_equal "$STATUS" "$1"
	assert_equal "$(field error)" "$2"
}

assert_invalid_token() {
	assert_equal "$STATUS" 401
	assert_equal "$(field error_code)" invalid_token
	assert_equal "$(field message)" invalid_token
	assert_equal "$(header WWW-Authenticate)" 'OAuth realm="SoundCloud", error="invalid_token"'
}

# --- start-up and TLS --------------------------------------------------------------------------

@test "start-up writes READY, port, pid, the client config and private keys 0600" {
	assert_equal "$(cat "$SANDBOX_DIR/stdout")" "READY $SANDBOX_PORT"
	assert_equal "$(cat "$SANDBOX_DIR/port")" "$SANDBOX_PORT"
	assert_equal "$(cat "$SANDBOX_DIR/pid")" "$SANDBOX_PID"
	assert_equal "$(stat -c %a "$SANDBOX_DIR/ca.key")" 600
	assert_equal "$(stat -c %a "$SANDBOX_DIR/server.key")" 600
	run cat "$SANDBOX_CONFIG"
	assert_line "authorize_url = $SANDBOX_URL/authorize"
	assert_line "token_url = $SANDBOX_URL/oauth/token"
	assert_line "signout_url = $SANDBOX_URL/sign-out"
	assert_line "api_url = $SANDBOX_URL"
	assert_line "ca_file = $SANDBOX_DIR/ca.pem"
}

@test "TLS verifies with the generated CA, for 127.0.0.1 and localhost, and fails without it" {
	run sandbox_curl -o /dev/null -w '%{http_code}' "$SANDBOX_URL/_sandbox/health"
	assert_success
	assert_output 200
	run sandbox_curl -o /dev/null -w '%{http_code}' "https://localhost:$SANDBOX_PORT/_sandbox/health"
	assert_output 200
	run curl --silent --noproxy '*' --max-time 10 "$SANDBOX_URL/_sandbox/health"
	assert_failure 60
	run openssl verify -CAfile "$SANDBOX_CA" "$SANDBOX_DIR/server.pem"
	assert_success
	run openssl s_client -connect "127.0.0.1:$SANDBOX_PORT" -CAfile "$SANDBOX_CA" -verify_ip 127.0.0.1 \
		-verify_return_error -brief </dev/null
	assert_success
	run openssl x509 -in "$SANDBOX_DIR/server.pem" -noout -ext subjectAltName
	assert_output --partial 'IP Address:127.0.0.1, DNS:localhost'
}

# --- authorization code flow -------------------------------------------------------------------

@test "a PKCE code flow done by hand: authorize redirects with code and state, exchange, /me" {
	authorize
	assert_equal "$STATUS" 302
	local location
	location=$(header Location)
	[[ $location == "$REDIRECT_URI?code="* ]]
	assert_equal "$(url_param "$location" state)" "$STATE"
	CODE=$(url_param "$location" code)
	[ -n "$CODE" ]
	run url_param "$location" iss
	assert_failure

	exchange "$CODE"
	assert_equal "$STATUS" 200
	assert_equal "$(header Content-Type)" 'application/json; charset=utf-8'
	assert_equal "$(header Cache-Control)" no-store
	assert_equal "$(field token_type)" bearer
	assert_equal "$(field expires_in)" 3600
	assert_equal "$(field scope)" ''
	ACCESS=$(field access_token)
	REFRESH=$(field refresh_token)
	[ -n "$ACCESS" ]
	[ -n "$REFRESH" ]
	[ "$ACCESS" != "$REFRESH" ]

	me "$ACCESS"
	assert_equal "$STATUS" 200
	assert_equal "$(field kind)" user
	assert_equal "$(field id)" 1001
	assert_equal "$(field urn)" soundcloud:users:1001
	assert_equal "$(field username)" 'Test User'
	assert_equal "$(field permalink)" test-user
	assert_equal "$(field permalink_url)" https://soundcloud.com/test-user
}

@test "a code is single use: a replay is invalid_grant and revokes the tokens it bought" {
	login
	exchange "$CODE"
	assert_oauth_error 400 invalid_grant
	me "$ACCESS"
	assert_invalid_token
	refresh "$REFRESH"
	assert_oauth_error 400 invalid_grant
	assert_equal "$(sandbox_stat code_reuse)" 1
	assert_equal "$(sandbox_stat chains_revoked)" 1
}

@test "a wrong code_verifier is invalid_grant and spends the code" {
	authorize
	CODE=$(url_param "$(header Location)" code)
	local right=$PKCE_VERIFIER
	pkce_pair
	exchange "$CODE" "$PKCE_VERIFIER"
	assert_oauth_error 400 invalid_grant
	exchange "$CODE" "$right"
	assert_oauth_error 400 invalid_grant
}

@test "the exchange needs a well-formed verifier, the authorize redirect_uri and all parameters" {
	authorize
	CODE=$(url_param "$(header Location)" code)
	exchange "$CODE" "$PKCE_VERIFIER" 'http://127.0.0.1:8765/callback/'
	assert_oauth_error 400 invalid_grant

	authorize
	CODE=$(url_param "$(header Location)" code)
	exchange "$CODE" short-verifier
	assert_oauth_error 400 invalid_grant

	req POST /oauth/token --data-urlencode grant_type=authorization_code --data-urlencode "code=$CODE" \
		--data-urlencode "client_id=$CLIENT_ID" --data-urlencode "client_secret=$CLIENT_SECRET"
	assert_oauth_error 400 invalid_request

	exchange not-a-code
	assert_oauth_error 400 invalid_grant
}

@test "authorize refuses unknown clients and inexact redirect URIs with a page, never a redirect" {
	local uri
	for uri in 'http://127.0.0.1:8765/callback/' 'http://localhost:8765/callback' \
		'http://127.0.0.1:8766/callback' 'https://127.0.0.1:8765/callback' 'http://127.0.0.1:8765/Callback'; do
		authorize "redirect_uri=$uri"
		assert_equal "$STATUS" 400
		assert_equal "$(header Location)" ''
		assert_equal "$(header Content-Type)" 'text/html; charset=utf-8'
	done
	authorize client_id=somebody-else
	assert_equal "$STATUS" 400
	assert_equal "$(header Location)" ''
}

@test "authorize sends bad requests back on the redirect as invalid_request with the state" {
	local bad
	for bad in response_type=token code_challenge= code_challenge=tooshort code_challenge_method=plain \
		code_challenge_method=; do
		authorize "$bad"
		assert_equal "$STATUS" 302
		local location
		location=$(header Location)
		[[ $location == "$REDIRECT_URI?"* ]]
		assert_equal "$(url_param "$location" error)" invalid_request
		assert_equal "$(url_param "$location" state)" "$STATE"
		url_param "$location" error_description >/dev/null
		run url_param "$location" code
		assert_failure
	done
	authorize state=
	assert_equal "$(url_param "$(header Location)" error)" invalid_request
}

@test "authorize keeps the redirect URI's own query and appends with &" {
	authorize "redirect_uri=$QUERY_REDIRECT_URI"
	assert_equal "$STATUS" 302
	[[ $(header Location) == "$QUERY_REDIRECT_URI&code="*"&state=$STATE" ]]
}

@test "deny and iss faults: access_denied on the redirect; iss added to it" {
	sandbox_fault '{"endpoint":"authorize","kind":"deny"}'
	authorize
	local location
	location=$(header Location)
	assert_equal "$(url_param "$location" error)" access_denied
	assert_equal "$(url_param "$location" error_description)" 'The user denied access'
	assert_equal "$(url_param "$location" state)" "$STATE"
	[[ $location == *'error_description=The+user+denied+access'* ]]

	sandbox_fault '{"endpoint":"authorize","kind":"iss","value":"https://issuer.example"}'
	authorize
	assert_equal "$(url_param "$(header Location)" iss)" https://issuer.example
	authorize
	run url_param "$(header Location)" iss
	assert_failure
}

@test "the user control sets whom authorize approves as" {
	sandbox_ctl POST user '{"id":4242,"username":"Kiosk","permalink":"kiosk-1","full_name":"Kiosk One"}' >/dev/null
	login
	me "$ACCESS"
	assert_equal "$(field urn)" soundcloud:users:4242
	assert_equal "$(field permalink)" kiosk-1
	assert_equal "$(field full_name)" 'Kiosk One'
}

# --- refresh tokens ----------------------------------------------------------------------------

@test "refresh rotates the refresh token; reusing a spent one revokes the whole chain" {
	login
	refresh "$REFRESH"
	assert_equal "$STATUS" 200
	local access2 refresh2
	access2=$(field access_token)
	refresh2=$(field refresh_token)
	[ "$refresh2" != "$REFRESH" ]
	[ "$access2" != "$ACCESS" ]
	me "$access2"
	assert_equal "$STATUS" 200

	run sandbox_ctl GET "chain?fp=$(sandbox_fp "$refresh2")"
	assert_output '{"known":true,"live":true,"rotations":1,"revoked":false,"id":1}'
	run sandbox_ctl GET "chain?fp=$(sandbox_fp "$REFRESH")"
	assert_output '{"known":true,"live":false,"rotations":1,"revoked":false,"id":1}'

	refresh "$REFRESH"
	assert_oauth_error 400 invalid_grant
	refresh "$refresh2"
	assert_oauth_error 400 invalid_grant
	me "$access2"
	assert_invalid_token
	me "$ACCESS"
	assert_invalid_token

	run sandbox_ctl GET "chain?fp=$(sandbox_fp "$refresh2")"
	assert_output '{"known":true,"live":false,"rotations":1,"revoked":true,"id":1}'
	run sandbox_ctl GET chains
	assert_output '{"chains":[{"id":1,"live_fp":null,"rotations":1,"revoked":true,"grant":"user"}]}'
	assert_equal "$(sandbox_stat refresh_reuse)" 1
	assert_equal "$(sandbox_stat chains_revoked)" 1
	run sandbox_ctl GET "chain?fp=0123456789abcdef"
	assert_output '{"known":false,"live":false,"rotations":0,"revoked":false}'
}

@test "refresh accepts Basic client authentication too, and refuses another client's token" {
	login
	req POST /oauth/token -H "Authorization: Basic $(basic_credentials "$CLIENT_ID" "$CLIENT_SECRET")" \
		--data-urlencode grant_type=refresh_token --data-urlencode "refresh_token=$REFRESH"
	assert_equal "$STATUS" 200
	REFRESH=$(field refresh_token)
	sandbox_client other-app other-secret "$REDIRECT_URI"
	req POST /oauth/token --data-urlencode grant_type=refresh_token --data-urlencode "refresh_token=$REFRESH" \
		--data-urlencode client_id=other-app --data-urlencode client_secret=other-secret
	assert_oauth_error 400 invalid_grant
	refresh "$REFRESH"
	assert_equal "$STATUS" 200
}

# --- client credentials and client authentication ----------------------------------------------

@test "client_credentials with Basic issues an app token and a refresh token that renews it" {
	client_credentials
	assert_equal "$STATUS" 200
	assert_equal "$(field token_type)" bearer
	local access refresh_token
	access=$(field access_token)
	refresh_token=$(field refresh_token)
	[ -n "$access" ]
	[ -n "$refresh_token" ]

	me "$access"
	assert_equal "$STATUS" 403
	assert_equal "$BODY" '{"code":403,"message":"Forbidden"}'
	req GET /tracks -H "Authorization: OAuth $access"
	assert_equal "$(field grant)" app
	assert_equal "$(field user_urn)" null

	refresh "$refresh_token"
	assert_equal "$STATUS" 200
	[ "$(field refresh_token)" != "$refresh_token" ]
}

@test "client_credentials with the secret in the body is invalid_client with WWW-Authenticate" {
	req POST /oauth/token --data-urlencode grant_type=client_credentials \
		--data-urlencode "client_id=$CLIENT_ID" --data-urlencode "client_secret=$CLIENT_SECRET"
	assert_oauth_error 401 invalid_client
	assert_equal "$(header WWW-Authenticate)" 'Basic realm="SoundCloud"'
}

@test "client_credentials wants a form-urlencoded Basic header and a body of grant_type only" {
	# curl -u does not form-urlencode: '+' reads as a space, a bare '%' is malformed.
	req POST /oauth/token -u "$CLIENT_ID:$CLIENT_SECRET" --data-urlencode grant_type=client_credentials
	assert_oauth_error 401 invalid_client
	client_credentials --data-urlencode scope=non-expiring
	assert_equal "$STATUS" 200
	assert_equal "$(field scope)" non-expiring
	client_credentials --data-urlencode extra=1
	assert_oauth_error 400 invalid_request
}

@test "client authentication: both ways is invalid_request; none, unknown or wrong is invalid_client" {
	req POST /oauth/token -H "Authorization: Basic $(basic_credentials "$CLIENT_ID" "$CLIENT_SECRET")" \
		--data-urlencode grant_type=client_credentials --data-urlencode "client_secret=$CLIENT_SECRET"
	assert_oauth_error 400 invalid_request
	req POST /oauth/token --data-urlencode grant_type=client_credentials
	assert_oauth_error 401 invalid_client
	assert_equal "$(header WWW-Authenticate)" 'Basic realm="SoundCloud"'
	req POST /oauth/token -H "Authorization: Basic $(basic_credentials "$CLIENT_ID" wrong)" \
		--data-urlencode grant_type=client_credentials
	assert_oauth_error 401 invalid_client
	req POST /oauth/token -H "Authorization: Basic $(basic_credentials nobody "$CLIENT_SECRET")" \
		--data-urlencode grant_type=client_credentials
	assert_oauth_error 401 invalid_client
	refresh whatever
	assert_oauth_error 400 invalid_grant
}

@test "the token endpoint refuses unknown grants, other content types, GET and repeated parameters" {
	req POST /oauth/token -H "Authorization: Basic $(basic_credentials "$CLIENT_ID" "$CLIENT_SECRET")" \
		--data-urlencode grant_type=password
	assert_oauth_error 400 unsupported_grant_type
	req POST /oauth/token -H 'Content-Type: application/json' --data-binary '{"grant_type":"client_credentials"}'
	assert_oauth_error 400 invalid_request
	req GET /oauth/token
	assert_oauth_error 405 invalid_request
	client_credentials --data-urlencode grant_type=client_credentials
	assert_oauth_error 400 invalid_request
	assert_equal "$(sandbox_stat token.errors.invalid_request)" 3
	assert_equal "$(sandbox_stat token.errors.unsupported_grant_type)" 1
}

# --- API, sign-out, expiry ---------------------------------------------------------------------

@test "git endpoint: only OAuth with a usable token lists the repository; the rest gets a 401 offering OAuth" {
	local refs=/git/demo.git/info/refs?service=git-upload-pack
	req GET "$refs"
	assert_equal "$STATUS" 401
	assert_equal "$(header WWW-Authenticate)" 'OAuth realm="SoundCloud"'
	login
	req GET "$refs" -H "Authorization: Basic $(basic_credentials test-user "$ACCESS")"
	assert_equal "$STATUS" 401
	req GET "$refs" -H "Authorization: Bearer $ACCESS"
	assert_equal "$STATUS" 401
	req GET "$refs" -H "Authorization: OAuth not-a-token"
	assert_equal "$STATUS" 401
	req GET "$refs" -H "Authorization: OAuth $ACCESS"
	assert_equal "$STATUS" 200
	assert_equal "$(header Content-Type)" application/x-git-upload-pack-advertisement
	# pkt-lines: the service line, a flush, HEAD with capabilities, main, a flush.
	[[ $BODY == "001e# service=git-upload-pack"$'\n'"0000"* ]] || fail "not a smart-HTTP advertisement"
	[[ $BODY == *"5ca1ab1e0000000000000000000000000000c0de refs/heads/main"$'\n'"0000" ]] ||
		fail "no refs/heads/main in the advertisement"
	req POST /git/demo.git/git-upload-pack -H "Authorization: OAuth $ACCESS" --data-binary 0000
	assert_equal "$STATUS" 403
	req GET /git/demo.git/objects/info/packs -H "Authorization: OAuth $ACCESS"
	assert_equal "$STATUS" 404
	local stats
	stats=$(sandbox_ctl GET stats)
	# objects/info/packs is no git endpoint here: a 404, not counted as git.
	assert_equal "$(json_get git.requests <<<"$stats")" 6
	assert_equal "$(json_get git.auth <<<"$stats")" '{"none":1,"oauth":3,"bearer":1,"basic":1,"other":0}'
	assert_equal "$(json_get git.authorized <<<"$stats")" 2
}

@test "/me takes OAuth and Bearer and answers SoundCloud's 401 for a missing or unknown token" {
	login
	me "$ACCESS" OAuth
	assert_equal "$STATUS" 200
	me "$ACCESS" Bearer
	assert_equal "$STATUS" 200
	me not-a-token
	assert_invalid_token
	assert_equal "$BODY" '{"code":401,"message":"invalid_token","link":"https://developers.soundcloud.com/docs/api/explorer/open-api","status":"401 - Unauthorized","errors":[{"error_message":"invalid_token"}],"error_code":"invalid_token"}'
	req GET /me
	assert_invalid_token
	req GET "/me?oauth_token=$ACCESS"
	assert_invalid_token
}

@test "other API paths echo the request; unknown and legacy paths are 404" {
	login
	req GET '/tracks?q=hello+world&limit=2&limit=3' -H "Authorization: OAuth $ACCESS"
	assert_equal "$STATUS" 200
	assert_equal "$(field method)" GET
	assert_equal "$(field path)" /tracks
	assert_equal "$(field query.q)" 'hello world'
	assert_equal "$(field query.limit)" '["2","3"]'
	assert_equal "$(field user_urn)" soundcloud:users:1001
	assert_equal "$(field grant)" user
	req POST /playlists -H "Authorization: Bearer $ACCESS" -H 'Content-Type: application/json' \
		--data-binary '{"playlist":{"title":"x"}}'
	assert_equal "$(field method)" POST
	assert_equal "$(field body_bytes)" 26
	req GET /nowhere
	assert_equal "$STATUS" 404
	req POST /oauth2/token -d grant_type=client_credentials
	assert_equal "$STATUS" 404
	req GET /connect
	assert_equal "$STATUS" 404
}

@test "sign-out revokes the access token's whole chain, is idempotent and wants JSON" {
	login
	sign_out "$ACCESS"
	assert_equal "$STATUS" 200
	assert_equal "$BODY" '{}'
	me "$ACCESS"
	assert_invalid_token
	refresh "$REFRESH"
	assert_oauth_error 400 invalid_grant
	sign_out "$ACCESS"
	assert_equal "$STATUS" 200
	sign_out unknown-token
	assert_equal "$STATUS" 200
	assert_equal "$BODY" '{}'
	req POST /sign-out -H 'Content-Type: application/json' --data-binary 'access_token=x'
	assert_equal "$STATUS" 400
	req POST /sign-out --data-urlencode access_token=x
	assert_equal "$STATUS" 400
	assert_equal "$(sandbox_stat signout)" 5
	assert_equal "$(sandbox_stat chains_revoked)" 1
}

@test "the ttl control sets expires_in and the server-side expiry" {
	sandbox_ctl POST ttl '{"seconds":0}' >/dev/null
	login
	assert_equal "$(field expires_in)" 0
	me "$ACCESS"
	assert_invalid_token
	refresh "$REFRESH"
	assert_equal "$STATUS" 200
	sandbox_ctl POST ttl '{"seconds":120}' >/dev/null
	refresh "$(field refresh_token)"
	assert_equal "$(field expires_in)" 120
	me "$(field access_token)"
	assert_equal "$STATUS" 200
}

@test "revoking all access tokens: the API says 401 until a refresh heals it; revoking all kills refresh" {
	login
	run sandbox_ctl POST revoke '{"what":"access"}'
	assert_output '{"ok":true,"revoked":1}'
	me "$ACCESS"
	assert_invalid_token
	refresh "$REFRESH"
	assert_equal "$STATUS" 200
	REFRESH=$(field refresh_token)
	me "$(field access_token)"
	assert_equal "$STATUS" 200
	sandbox_ctl POST revoke '{"what":"all"}' >/dev/null
	refresh "$REFRESH"
	assert_oauth_error 400 invalid_grant
}

# --- faults ------------------------------------------------------------------------------------

@test "429 fault: SoundCloud's body with reset_time, x-ratelimit headers and no Retry-After" {
	sandbox_fault '{"endpoint":"token","kind":"429","reset_in":60}'
	local before after
	before=$(date +%s)
	client_credentials
	after=$(date +%s)
	assert_equal "$STATUS" 429
	assert_equal "$(field errors.0.meta.rate_limit.bucket)" by-ip
	assert_equal "$(field errors.0.meta.rate_limit.name)" client-credentials-exchange
	assert_equal "$(field errors.0.meta.rate_limit.max_nr_of_requests)" 30
	assert_equal "$(field errors.0.meta.remaining_requests)" 0
	local reset reset_epoch
	reset=$(field errors.0.meta.reset_time)
	[[ $reset =~ ^[0-9]{4}/[0-9]{2}/[0-9]{2}\ [0-9]{2}:[0-9]{2}:[0-9]{2}\ \+0000$ ]]
	reset_epoch=$(date -u -d "${reset//\//-}" +%s)
	# 60 s after the server answered, which was between before and after (whole seconds).
	((reset_epoch >= before + 59 && reset_epoch <= after + 61))
	assert_equal "$(header x-ratelimit-remaining)" 0
	assert_equal "$(header x-ratelimit-reset)" "$reset_epoch"
	assert_equal "$(header Retry-After)" ''
	client_credentials
	assert_equal "$STATUS" 200
}

@test "429 fault variants: Retry-After on request, the other bodies seen in the wild" {
	sandbox_fault '{"endpoint":"token","kind":"429","retry_after":7,"body":"rate_limit_exceeded"}'
	client_credentials
	assert_equal "$STATUS" 429
	assert_equal "$(header Retry-After)" 7
	assert_equal "$BODY" '{"error":"rate_limit_exceeded"}'
	sandbox_fault '{"endpoint":"token","kind":"429","body":"Rate Limit Exceeded"}'
	client_credentials
	assert_equal "$BODY" '{"error":"Rate Limit Exceeded"}'
}

@test "5xx faults answer JSON, or a CDN HTML page with html:true; 403html" {
	local status
	for status in 500 502 503; do
		sandbox_fault "{\"endpoint\":\"token\",\"kind\":\"$status\"}"
		client_credentials
		assert_equal "$STATUS" "$status"
		assert_equal "$(field error)" server_error
		sandbox_fault "{\"endpoint\":\"token\",\"kind\":\"$status\",\"html\":true}"
		client_credentials
		assert_equal "$STATUS" "$status"
		assert_equal "$(header Content-Type)" text/html
		[[ $BODY == '<!DOCTYPE HTML'* ]]
	done
	sandbox_fault '{"endpoint":"token","kind":"403html"}'
	client_credentials
	assert_equal "$STATUS" 403
	assert_equal "$(header Content-Type)" text/html
}

@test "body faults: malformed, trailing, wrongtype, notjson, empty, noaccess and deep" {
	sandbox_fault '{"endpoint":"token","kind":"malformed"}'
	client_credentials
	assert_equal "$STATUS" 200
	assert_equal "$BODY" '{"access_token": "abc", "expires_in": 3'

	sandbox_fault '{"endpoint":"token","kind":"trailing"}'
	client_credentials
	[[ $BODY == '{"access_token":"fault-access",'*'} garbage' ]]

	sandbox_fault '{"endpoint":"token","kind":"wrongtype"}'
	client_credentials
	assert_equal "$(field access_token)" 12345
	[[ $BODY == '{"access_token":12345,'* ]]

	sandbox_fault '{"endpoint":"token","kind":"notjson"}'
	client_credentials
	assert_equal "$(header Content-Type)" text/plain
	assert_equal "$BODY" hello

	sandbox_fault '{"endpoint":"token","kind":"empty"}'
	client_credentials
	assert_equal "$STATUS" 200
	assert_equal "$(header Content-Length)" 0

	sandbox_fault '{"endpoint":"token","kind":"noaccess"}'
	client_credentials
	run field access_token
	assert_failure
	assert_equal "$(field expires_in)" 3600

	sandbox_fault '{"endpoint":"token","kind":"deep"}'
	run sandbox_curl -o "$BATS_TEST_TMPDIR/deep" -w '%{size_download}' -d grant_type=client_credentials "$SANDBOX_URL/oauth/token"
	assert_output 200000
	assert_equal "$(head -c 5 "$BATS_TEST_TMPDIR/deep")" '[[[[['
}

@test "huge fault: a 20 MiB body, streamed" {
	sandbox_fault '{"endpoint":"token","kind":"huge"}'
	run sandbox_curl -o /dev/null -w '%{http_code} %{size_download}' -d grant_type=client_credentials \
		"$SANDBOX_URL/oauth/token"
	assert_success
	assert_output '200 20971520'
}

@test "redirect fault: 302 to a TEST-NET address, which nothing follows" {
	sandbox_fault '{"endpoint":"token","kind":"redirect"}'
	client_credentials
	assert_equal "$STATUS" 302
	assert_equal "$(header Location)" https://198.51.100.7/elsewhere
}

@test "slow fault delays the answer, then answers normally" {
	sandbox_fault '{"endpoint":"token","kind":"slow","delay_ms":700}'
	local basic
	basic=$(basic_credentials "$CLIENT_ID" "$CLIENT_SECRET")
	run sandbox_curl -o /dev/null -w '%{http_code} %{time_total}' -H "Authorization: Basic $basic" \
		-d grant_type=client_credentials "$SANDBOX_URL/oauth/token"
	assert_success
	assert_equal "${output% *}" 200
	awk -v seconds="${output#* }" 'BEGIN { exit !(seconds >= 0.7) }'
}

@test "held fault holds the request until release, then answers normally" {
	sandbox_fault '{"endpoint":"token","kind":"held"}'
	local basic out=$BATS_TEST_TMPDIR/held
	basic=$(basic_credentials "$CLIENT_ID" "$CLIENT_SECRET")
	sandbox_curl -o /dev/null -w '%{http_code}' -H "Authorization: Basic $basic" \
		-d grant_type=client_credentials "$SANDBOX_URL/oauth/token" >"$out" 3>&- &
	local pid=$! i
	# The request is at the server (counted), and unanswered while held.
	for ((i = 0; i < 200; i++)); do
		[[ $(sandbox_stat token.client_credentials) == 1 ]] && break
		sleep 0.05
	done
	assert_equal "$(sandbox_stat token.client_credentials)" 1
	kill -0 "$pid" || fail "the held request was answered: $(<"$out")"
	run sandbox_ctl POST release
	assert_success
	assert_output '{"released":1}'
	wait "$pid" || fail "curl failed after the release"
	assert_equal "$(<"$out")" 200
	run sandbox_ctl POST release
	assert_output '{"released":0}'
}

@test "close fault drops the connection without an answer; hang fault never answers" {
	sandbox_fault '{"endpoint":"token","kind":"close"}'
	# What curl calls this varies (52, an empty reply, up to curl 7; 56, a failed receive, over
	# TLS in curl 8): what counts is that the request arrived and not one byte came back.
	run --separate-stderr sandbox_curl -o /dev/null -w '%{num_connects} %{http_code} %{size_header}' \
		-d grant_type=client_credentials "$SANDBOX_URL/oauth/token"
	assert_failure
	[[ $status != 28 ]] || fail "curl timed out instead of seeing the connection closed"
	assert_output '1 000 0'
	assert_equal "$(sandbox_stat faults)" 1
	sandbox_fault '{"endpoint":"token","kind":"hang","max_ms":5000}'
	run sandbox_curl --max-time 1 -d grant_type=client_credentials "$SANDBOX_URL/oauth/token"
	assert_failure 28
	client_credentials
	assert_equal "$STATUS" 200
}

@test "legacy_invalid_grant and invalid_token faults" {
	login
	sandbox_fault '{"endpoint":"token","kind":"legacy_invalid_grant"}'
	refresh "$REFRESH"
	assert_equal "$STATUS" 401
	assert_equal "$BODY" '{"code":401,"message":"invalid_grant","status":"401 - Unauthorized","errors":[{"error_message":"invalid_grant"}],"error_code":"invalid_grant"}'
	sandbox_fault '{"endpoint":"api","kind":"invalid_token"}'
	me "$ACCESS"
	assert_invalid_token
	me "$ACCESS"
	assert_equal "$STATUS" 200
}

@test "faults change no state: a refresh token sent into a 500 still works once" {
	login
	sandbox_fault '{"endpoint":"token","kind":"500"}'
	refresh "$REFRESH"
	assert_equal "$STATUS" 500
	refresh "$REFRESH"
	assert_equal "$STATUS" 200
	assert_equal "$(sandbox_stat token.refresh_token)" 2
	assert_equal "$(sandbox_stat token.issued.refresh_token)" 1
	assert_equal "$(sandbox_stat faults)" 1
}

@test "fault counts and endpoints: N times, -1 until cleared, api covers /me, me does not cover /tracks" {
	sandbox_fault '{"endpoint":"token","kind":"503","count":2}'
	client_credentials
	assert_equal "$STATUS" 503
	client_credentials
	assert_equal "$STATUS" 503
	client_credentials
	assert_equal "$STATUS" 200
	local access
	access=$(field access_token)

	sandbox_fault '{"endpoint":"*","kind":"502","count":-1}'
	client_credentials
	assert_equal "$STATUS" 502
	req GET /tracks -H "Authorization: OAuth $access"
	assert_equal "$STATUS" 502
	run sandbox_ctl GET fault
	assert_output '{"faults":[{"endpoint":"*","kind":"502","count":-1,"options":{}}]}'
	sandbox_ctl DELETE fault >/dev/null
	client_credentials
	assert_equal "$STATUS" 200

	sandbox_fault '{"endpoint":"me","kind":"500"}'
	req GET /tracks -H "Authorization: OAuth $access"
	assert_equal "$STATUS" 200
	sandbox_ctl DELETE fault >/dev/null
	sandbox_fault '{"endpoint":"api","kind":"500"}'
	me "$access"
	assert_equal "$STATUS" 500
}

# --- control API, limits, statistics -----------------------------------------------------------

@test "the control API answers bad input with 400 and a message" {
	local bad
	for bad in '{"endpoint":"token","kind":"nope"}' '{"endpoint":"nowhere","kind":"500"}' \
		'{"endpoint":"token","kind":"deny"}' '{"endpoint":"token","kind":"500","colour":"red"}' \
		'{"endpoint":"token","kind":"slow","delay_ms":"soon"}' '{"endpoint":"token","kind":"500","count":0}' \
		'{"endpoint":"token","kind":"500","toString":1}' '{"endpoint":"token","kind":"500","__proto__":{}}' \
		'not json' '[1,2]'; do
		run sandbox_ctl POST fault "$bad"
		assert_failure
		assert_output --partial '"error":'
	done
	run sandbox_ctl POST ttl '{"seconds":-1}'
	assert_failure
	run sandbox_ctl POST clients '{"client_id":"x"}'
	assert_failure
	run sandbox_ctl POST revoke '{"what":"some"}'
	assert_failure
	run sandbox_ctl GET 'chain?fp=xyz'
	assert_failure
	run sandbox_ctl GET nothing-here
	assert_failure
}

@test "request bodies over 1 MiB get 413" {
	head -c $((1024 * 1024 + 1)) /dev/zero | tr '\0' a >"$BATS_TEST_TMPDIR/big"
	run sandbox_curl -o /dev/null -w '%{http_code}' --data-binary "@$BATS_TEST_TMPDIR/big" "$SANDBOX_URL/oauth/token"
	assert_output 413
	head -c $((1024 * 1024)) /dev/zero | tr '\0' a >"$BATS_TEST_TMPDIR/big"
	run sandbox_curl -o /dev/null -w '%{http_code}' --data-binary "@$BATS_TEST_TMPDIR/big" "$SANDBOX_URL/oauth/token"
	assert_output 401
}

@test "stats count each endpoint and grant, and hold parameter names but never a value" {
	login
	refresh "$REFRESH"
	local refresh2
	refresh2=$(field refresh_token)
	refresh "$REFRESH"
	client_credentials
	local app_token
	app_token=$(field access_token)
	me "$ACCESS"
	req GET /tracks -H "Authorization: Bearer $app_token"
	sign_out "$ACCESS"

	local stats
	stats=$(sandbox_ctl GET stats)
	assert_equal "$(json_get token.authorization_code <<<"$stats")" 1
	assert_equal "$(json_get token.refresh_token <<<"$stats")" 2
	assert_equal "$(json_get token.client_credentials <<<"$stats")" 1
	assert_equal "$(json_get token.errors.invalid_grant <<<"$stats")" 1
	assert_equal "$(json_get token.issued.refresh_token <<<"$stats")" 1
	assert_equal "$(json_get authorize <<<"$stats")" 1
	assert_equal "$(json_get me <<<"$stats")" 1
	assert_equal "$(json_get api <<<"$stats")" 2
	assert_equal "$(json_get signout <<<"$stats")" 1
	assert_equal "$(json_get refresh_reuse <<<"$stats")" 1
	assert_equal "$(json_get requests.length <<<"$stats")" 8

	assert_equal "$(json_get requests.1.grant_type <<<"$stats")" authorization_code
	assert_equal "$(json_get requests.1.auth <<<"$stats")" body
	assert_equal "$(json_get requests.1.body_keys <<<"$stats")" \
		'["grant_type","code","code_verifier","redirect_uri","client_id","client_secret"]'
	assert_equal "$(json_get requests.4.auth <<<"$stats")" basic
	assert_equal "$(json_get requests.4.body_keys <<<"$stats")" '["grant_type"]'
	assert_equal "$(json_get requests.3.status <<<"$stats")" 400
	assert_equal "$(json_get requests.6.auth <<<"$stats")" bearer
	[[ $(json_get requests.0.query_keys <<<"$stats") == *'"code_challenge"'* ]]

	local secret
	for secret in "$CLIENT_SECRET" "$(form_encode "$CLIENT_SECRET")" "$PKCE_VERIFIER" "$PKCE_CHALLENGE" \
		"$STATE" "$CODE" "$ACCESS" "$REFRESH" "$refresh2" "$app_token"; do
		[[ $stats != *"$secret"* ]] || fail 'the stats hold a secret value'
	done
}

@test "many concurrent clients are all served" {
	local basic i
	basic=$(basic_credentials "$CLIENT_ID" "$CLIENT_SECRET")
	for ((i = 0; i < 40; i++)); do
		sandbox_curl -o /dev/null -w '%{http_code}\n' -H "Authorization: Basic $basic" \
			-d grant_type=client_credentials "$SANDBOX_URL/oauth/token" >"$BATS_TEST_TMPDIR/status.$i" &
	done
	wait
	run cat "$BATS_TEST_TMPDIR"/status.*
	assert_equal "$(grep -c '^200$' <<<"$output")" 40
	assert_equal "$(sandbox_stat token.issued.client_credentials)" 40
}

@test "a second sandbox: --port and --client on the command line, a verbose log without secrets, clean SIGTERM" {
	local port dir=$BATS_TEST_TMPDIR/second
	port=$(free_port)
	(
		sandbox_start "$dir" --port "$port" --client "cli-app:cli-secret:$REDIRECT_URI" --verbose --token-ttl 77
		assert_equal "$SANDBOX_PORT" "$port"
		CLIENT_ID=cli-app CLIENT_SECRET=cli-secret
		login
		assert_equal "$(field expires_in)" 77
		client_credentials
		local app_token
		app_token=$(field access_token)
		sign_out "$ACCESS"

		kill -TERM "$SANDBOX_PID"
		local rc=0
		wait "$SANDBOX_PID" || rc=$?
		assert_equal "$rc" 0
		[ ! -e "$dir/pid" ]
		grep -q 'POST /oauth/token 200 authorization_code' "$dir/server.log"
		local secret
		for secret in cli-secret "$PKCE_VERIFIER" "$CODE" "$ACCESS" "$REFRESH" "$app_token"; do
			! grep -qF -- "$secret" "$dir/server.log" || fail 'the log holds a secret value'
		done
	)
}

@test "sandbox_curl keeps the values it is given off curl's command line" {
	# A stand-in for curl that records its argv and the config file it is pointed at.
	curl() {
		printf '%s\n' "$@" >"$BATS_TEST_TMPDIR/argv"
		cat "${@: -1}" >"$BATS_TEST_TMPDIR/config"
	}
	sandbox_curl -H 'Authorization: Basic c2VjcmV0LXZhbHVl' --data-urlencode 'code=a"b\c' \
		-G "$SANDBOX_URL/x"
	unset -f curl
	run grep -c 'c2VjcmV0LXZhbHVl\|code=' "$BATS_TEST_TMPDIR/argv"
	assert_output 0
	run cat "$BATS_TEST_TMPDIR/config"
	assert_line -- '-H "Authorization: Basic c2VjcmV0LXZhbHVl"'
	assert_line -- '--data-urlencode "code=a\"b\\c"'
	assert_line -- '-G'
	assert_line "url = \"$SANDBOX_URL/x\""
	# The config file, which held the values, is gone.
	run find "$BATS_TEST_TMPDIR" -name 'curlrc.*'
	assert_output ""
}
