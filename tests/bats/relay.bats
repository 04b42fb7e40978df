#!/usr/bin/env bats
# relay.bats - soundcloud-auth-relay (the phone's side of a kiosk login) under a real web
# server: lighttpd with mod_cgi and TLS from the test CA (tests/lib/relay.bash), a real
# PostgreSQL with the schema of `fleet init`, the sandbox as SoundCloud, and curl as the phone.
# Pairings are written as a kiosk's role would; the kiosk's own side (PAM, login --relay) has
# suites of its own.  Every answer is checked for the headers the relay promises, and the web
# server's error log (the relay's stderr) for codes and states after every test.

bats_require_minimum_version 1.5.0
load '../lib/common'
load '../lib/postgres'
load '../lib/relay'

setup_file() {
	sc_setup_file
	pg_start
	pg_role scauth relaydb
	pg_role relay
	pg_role kiosk
	# The owner makes the schema, as an operator's `fleet init` does.
	export HOME=$BATS_FILE_TMPDIR/owner XDG_CONFIG_HOME=$BATS_FILE_TMPDIR/owner/.config
	mkdir -p "$HOME"
	sc_write_config "store = file" "postgres = $(pg_conninfo scauth relaydb)" \
		"seal_key_file = $BATS_FILE_TMPDIR/seal.key"
	"$HELPER" fleet init --new-key >/dev/null
	# The GRANTs of the README.
	PG_SQL_DB=relaydb pg_sql -c "GRANT EXECUTE ON FUNCTION scauth_pairing_open(text, text),
		scauth_pairing_callback(text, text, text, text) TO relay;
		GRANT EXECUTE ON FUNCTION scauth_pairing_create(text, text, text, text, text),
		scauth_pairing_take(text), scauth_pairing_drop(text) TO kiosk"
	RELAY_KIOSK_CONNINFO=$(pg_conninfo kiosk relaydb)
	export RELAY_KIOSK_CONNINFO
	relay_start "$BATS_FILE_TMPDIR/relay" "$(pg_conninfo relay relaydb)"
	sandbox_client "$CLIENT_ID" "$CLIENT_SECRET" "$REDIRECT_URI" "$RELAY_CALLBACK"
	export SECRETS=$BATS_FILE_TMPDIR/secrets
	(umask 077 && : >"$SECRETS")
}

teardown_file() {
	relay_stop
	pg_stop
	sc_teardown_file
}

setup() {
	sc_setup
	PG_SQL_DB=relaydb pg_sql -c "DELETE FROM scauth_pairing; DELETE FROM scauth_pairing_miss"
	relay_write_config "$(pg_conninfo relay relaydb)"
}

# After every test: no code, state, verifier or SoundCloud code of the suite in the relay's
# stderr (the web server's error log) nor in lighttpd's own output, and no sanitizer report.
teardown() {
	local s
	# A sanitizer build's relay reports to its stderr too (its exit status reaches nobody).
	! relay_logged "Sanitizer" || fail "the relay's log holds a sanitizer report"
	[[ -s ${SECRETS:-} ]] || return 0
	while read -r s; do
		[[ -n $s ]] || continue
		! grep -qF -- "$s" "$RELAY_ERRLOG" "$RELAY_STDERR" "$RELAY_DIR/stdout" ||
			fail "a code or state reached the web server's error log"
	done <"$SECRETS"
}

# relay_logged TEXT: whether a line of the relay holds TEXT.  A CGI's stderr is lighttpd's own
# under -D (and under systemd), or its error log, depending on the version: either counts.
relay_logged() {
	grep -qF -- "$1" "$RELAY_STDERR" "$RELAY_ERRLOG"
}

# A pairing whose secrets the teardown looks for.
pairing() {
	pairing_new "$@"
	printf '%s\n' "$PAIR_CODE" "$PAIR_KEY" "$PAIR_STATE" "$PAIR_VERIFIER" "$PAIR_CHALLENGE" \
		>>"$SECRETS"
}

expect_page() {
	[[ $PHONE_STATUS == "$1" ]] || fail "expected $1, got $PHONE_STATUS: $PHONE_BODY"
	shift
	local piece
	for piece in "$@"; do
		[[ $PHONE_BODY == *"$piece"* ]] || fail "the page lacks \"$piece\": $PHONE_BODY"
	done
}

# The authorize URL the relay must send the phone to for the current pairing.
expected_authorize() {
	local cb=${RELAY_CALLBACK//:/%3A}
	cb=${cb//\//%2F}
	printf '%s/authorize?response_type=code&client_id=%s&redirect_uri=%s&code_challenge=%s&code_challenge_method=S256&state=%s' \
		"$SANDBOX_URL" "$CLIENT_ID" "$cb" "$PAIR_CHALLENGE" "$PAIR_STATE"
}

# The phone goes on from the relay's 303 to SoundCloud, which sends it back to the callback;
# sets CALLBACK_URL (SoundCloud's redirect) and leaves the callback's answer in PHONE_*.
phone_through_soundcloud() {
	sandbox_curl -D "$BATS_TEST_TMPDIR/sc.headers" -o /dev/null "$PHONE_LOCATION" ||
		fail "the sandbox did not answer"
	CALLBACK_URL=$(tr -d '\r' <"$BATS_TEST_TMPDIR/sc.headers" | sed -n 's/^[Ll]ocation: //p')
	[[ $CALLBACK_URL == "$RELAY_CALLBACK?"* ]] || fail "SoundCloud sent the phone to $CALLBACK_URL"
	printf '%s\n' "$(sed -n 's/.*[?&]code=\([^&]*\).*/\1/p' <<<"$CALLBACK_URL")" >>"$SECRETS"
	phone "$CALLBACK_URL"
}

@test "the form: a small page asking for the code, with no script, and every header" {
	phone "$RELAY_URL"
	expect_page 200 "Enter the code" '<form method="post" action="/kiosk">' 'name="code"'
	[[ $PHONE_BODY != *"<script"* && $PHONE_BODY != *"<link"* && $PHONE_BODY != *"src="* ]] ||
		fail "the page loads something: $PHONE_BODY"
	grep -qi "^content-security-policy: default-src 'none'" "$PHONE_HEADERS" || fail "no CSP"
	# Not a parameter of an unknown name: the form again.
	phone "$RELAY_URL?utm_source=qr"
	expect_page 200 "Enter the code"
}

@test "a good code: 303 to exactly the authorize URL; SoundCloud's redirect is stored once for the kiosk" {
	pairing
	phone "$RELAY_URL?code=$PAIR_CODE"
	expect_page 303 "Go on to SoundCloud"
	[[ $PHONE_LOCATION == "$(expected_authorize)" ]] ||
		fail "Location is $PHONE_LOCATION, expected $(expected_authorize)"
	[[ $(pairing_get "opened_at IS NOT NULL, callback_at IS NULL") == "t|t" ]] ||
		fail "the pairing is not marked opened"
	phone_through_soundcloud
	expect_page 200 "Logged in. Go back to the kiosk."
	local row
	row=$(pairing_get "callback_code IS NOT NULL, callback_error IS NULL")
	[[ $row == "t|t" ]] || fail "the row holds no code: $row"
	# A replay of the same redirect is refused and changes nothing.
	local before
	before=$(pairing_get "callback_code, callback_at")
	phone "$CALLBACK_URL"
	expect_page 410 "finished already"
	[[ $(pairing_get "callback_code, callback_at") == "$before" ]] || fail "a replay changed the row"
	# The kiosk takes the code once and redeems it with its verifier and secret: the relay could
	# not have (no verifier, no secret), the kiosk can.
	local code token
	code=$(kiosk_sql <<<"SELECT code FROM scauth_pairing_take('$PAIR_STATE') WHERE status = 'ok'")
	[[ -n $code ]] || fail "the kiosk got no code"
	token=$(sandbox_curl -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=authorization_code \
		-d "code=$code" -d "redirect_uri=$RELAY_CALLBACK" -d "code_verifier=$PAIR_VERIFIER" \
		"$SANDBOX_URL/oauth/token")
	json_get access_token <<<"$token" >/dev/null || fail "the kiosk's exchange failed: $token"
	# No token ever passes the relay: none in the web server's logs.
	local t
	for t in "$(json_get access_token <<<"$token")" "$(json_get refresh_token <<<"$token")"; do
		! grep -qF -- "$t" "$RELAY_ACCESSLOG" "$RELAY_ERRLOG" "$RELAY_STDERR" ||
			fail "a token reached the web server's logs"
	done
	[[ -z $(pairing_get "1") ]] || fail "the pairing outlived its taking"
}

@test "a code in lower case, without its dash, with blanks or look-alike digits, by GET or POST: the same 303" {
	# A code opens once: each way of typing it gets a pairing of its own.
	local way typed
	for way in lower lower-nodash blank nodash; do
		pairing
		case $way in
		lower) typed=${PAIR_CODE,,} ;;
		lower-nodash) typed=${PAIR_KEY,,} ;;
		blank) typed="${PAIR_KEY:0:4}%20${PAIR_KEY:4:4}" ;;
		nodash) typed=$PAIR_KEY ;;
		esac
		phone "$RELAY_URL?code=$typed"
		expect_page 303
		[[ $PHONE_LOCATION == "$(expected_authorize)" ]] || fail "$way: Location $PHONE_LOCATION"
	done
	# The kiosks show S, B and Z, never 5, 8 or 2: a person who types the digit gets the letter.
	PAIR_WANT="SBZ$(_relay_code_chars 5)" pairing
	phone "$RELAY_URL?code=$(tr SBZ 582 <<<"$PAIR_CODE")"
	expect_page 303
	[[ $PHONE_LOCATION == "$(expected_authorize)" ]] || fail "digits: Location $PHONE_LOCATION"
	pairing
	phone -d "code=${PAIR_CODE,,}" "$RELAY_URL"
	expect_page 303
	[[ $PHONE_LOCATION == "$(expected_authorize)" ]] || fail "POST: Location $PHONE_LOCATION"
	pairing
	phone -d "code=${PAIR_KEY:0:4}+${PAIR_KEY:4:4}" "$RELAY_URL"
	expect_page 303
	[[ $PHONE_LOCATION == "$(expected_authorize)" ]] || fail "POST +: Location $PHONE_LOCATION"
}

@test "wrong, malformed, expired and used codes: 404, 400, 410 and 410, each saying why" {
	pairing
	phone "$RELAY_URL?code=BBBB-BBBB"
	expect_page 404 "No kiosk is waiting for this code" '<form method="post"'
	local bad
	for bad in hello "${PAIR_KEY}2" "${PAIR_KEY:0:7}O" "${PAIR_KEY:0:7}%E2%80%93" ""; do
		phone "$RELAY_URL?code=$bad"
		expect_page 400 "not a kiosk code"
	done
	pairing "-1 second"
	phone "$RELAY_URL?code=$PAIR_CODE"
	expect_page 410 "expired"
	pairing
	phone "$RELAY_URL?code=$PAIR_CODE"
	expect_page 303
	phone_through_soundcloud
	expect_page 200 "Logged in"
	phone "$RELAY_URL?code=$PAIR_CODE"
	expect_page 410 "This code was already used. Start again at the kiosk for a new one."
	[[ $PHONE_LOCATION == "" ]] || fail "a used code still redirects"
}

@test "guessing is slowed: 429 after 5 wrong codes from one address (REMOTE_ADDR), not for another" {
	pairing
	local i
	for i in 2 3 4 5 6; do
		phone "$RELAY_URL?code=BBBB-BBB$i"
		expect_page 404
	done
	phone "$RELAY_URL?code=$PAIR_CODE"
	expect_page 429 "Too many wrong codes"
	grep -qi '^retry-after: [0-9]' "$PHONE_HEADERS" || fail "no Retry-After"
	[[ $(pairing_get "opened_at IS NULL") == t ]] || fail "a throttled request opened the pairing"
	# Another phone (another source address) is not held up by this one's guesses.
	phone --interface 127.0.0.2 "$RELAY_URL?code=$PAIR_CODE"
	expect_page 303
	[[ $(PG_SQL_DB=relaydb pg_sql -c "SELECT addr, count(*) FROM scauth_pairing_miss GROUP BY addr") == "127.0.0.1|5" ]] ||
		fail "misses are not counted by the web server's REMOTE_ADDR"
}

@test "error=access_denied: stored for the kiosk at once; the phone is told" {
	pairing
	sandbox_fault '{"endpoint":"authorize","kind":"deny"}'
	phone "$RELAY_URL?code=$PAIR_CODE"
	expect_page 303
	phone_through_soundcloud
	expect_page 200 "did not log you in" "access_denied" "The kiosk has been told"
	[[ $(pairing_get "callback_code IS NULL, callback_error, callback_error_description") == "t|access_denied|The user denied access" ]] ||
		fail "the kiosk's row: $(pairing_get "callback_error, callback_error_description")"
}

@test "callback refusals: unknown state 404, no state 400, code and error 400, POST 405" {
	pairing
	phone "$RELAY_CALLBACK?code=abc&state=unknown-state-of-no-pairing"
	expect_page 404 "not known"
	phone "$RELAY_CALLBACK?code=abc"
	expect_page 400 "no state"
	phone "$RELAY_CALLBACK?code=abc&error=access_denied&state=$PAIR_STATE"
	expect_page 400
	phone "$RELAY_CALLBACK?state=$PAIR_STATE"
	expect_page 400
	phone -d "code=abc&state=$PAIR_STATE" "$RELAY_CALLBACK"
	expect_page 405
	grep -qi '^allow: GET' "$PHONE_HEADERS" || fail "no Allow: GET"
	phone "$RELAY_CALLBACK?code=abc&state=$PAIR_STATE&state=$PAIR_STATE"
	expect_page 400
	[[ $(pairing_get "callback_at IS NULL") == t ]] || fail "a refused callback changed the row"
	# An expired pairing takes no callback.
	pairing "-1 second"
	phone "$RELAY_CALLBACK?code=abc&state=$PAIR_STATE"
	expect_page 410 "expired"
}

@test "database down: 503 with a clear page, nothing changed; back up, the code works" {
	pairing
	pg_halt
	phone "$RELAY_URL?code=$PAIR_CODE"
	expect_page 503 "cannot reach its database" "Nothing has changed"
	phone "$RELAY_CALLBACK?code=abc&state=$PAIR_STATE"
	expect_page 503 "cannot reach its database"
	pg_resume
	[[ $(pairing_get "opened_at IS NULL, callback_at IS NULL") == "t|t" ]] || fail "the row changed"
	[[ $(PG_SQL_DB=relaydb pg_sql -c "SELECT count(*) FROM scauth_pairing_miss") == 0 ]] ||
		fail "a miss was counted"
	phone "$RELAY_URL?code=$PAIR_CODE"
	expect_page 303
	relay_logged "form: 503 database unavailable" || fail "the log does not say why"
}

@test "POST: a form only, within its cap, in its body; 413, 415, 400" {
	pairing
	phone -d "code=$(printf 'B%.0s' {1..2000})" "$RELAY_URL"
	expect_page 413 "too large"
	phone -H "Content-Type: text/plain" -d "code=$PAIR_CODE" "$RELAY_URL"
	expect_page 415
	phone -d "code=$PAIR_CODE" "$RELAY_URL?code=$PAIR_CODE"
	expect_page 400 "in its body"
	phone -d "code=$PAIR_CODE&code=$PAIR_CODE" "$RELAY_URL"
	expect_page 400 "repeated"
	phone -d "code=%G1" "$RELAY_URL"
	expect_page 400
	phone -d "other=1" "$RELAY_URL"
	expect_page 400 "Enter the code"
	[[ $(pairing_get "opened_at IS NULL") == t ]] || fail "a refused form opened the pairing"
}

@test "strict parsing: bad percent-encoding, %00, repeated or too many parameters, long query, other methods" {
	pairing
	local q
	for q in "code=%4" "code=%zz" "c%ode=x" "%zz=1" "code=B%00" "code=$PAIR_CODE&code=$PAIR_CODE" \
		"code=$PAIR_CODE&&x=1" "=1" "$(printf 'p%d=1&' {1..16})code=$PAIR_CODE"; do
		phone "$RELAY_URL?$q"
		[[ $PHONE_STATUS == 400 && $PHONE_BODY == *"malformed"* ]] || fail "$q: $PHONE_STATUS $PHONE_BODY"
	done
	phone "$RELAY_URL?x=$(printf 'a%.0s' {1..5000})"
	expect_page 414
	local m
	for m in PUT DELETE PATCH; do
		phone -X "$m" "$RELAY_URL"
		expect_page 405
		grep -qi '^allow: GET, POST' "$PHONE_HEADERS" || fail "$m: no Allow"
	done
	[[ $(pairing_get "opened_at IS NULL") == t ]] || fail "a refused request opened the pairing"
}

@test "the relay logs status words to the web server's error log, never a code or a state" {
	pairing
	phone "$RELAY_URL?code=$PAIR_CODE"
	expect_page 303
	phone_through_soundcloud
	expect_page 200
	phone "$RELAY_URL?code=BBBB-BBBB"
	relay_logged "soundcloud-auth-relay: form: 303 ok" || fail "no line of the relay"
	relay_logged "soundcloud-auth-relay: callback: 200 ok" || fail "no callback line"
	relay_logged "soundcloud-auth-relay: form: 404 unknown" || fail "no 404 line"
	# (the teardown looks for every secret of the suite in the log)
}

@test "the relay's role may only call its two functions, the kiosks' role only theirs: no table, no other's call" {
	pairing
	local t out
	for t in "SELECT * FROM scauth_pairing" "SELECT * FROM scauth_pairing_miss" \
		"DELETE FROM scauth_pairing" "UPDATE scauth_pairing SET callback_code = 'x'" \
		"INSERT INTO scauth_pairing_miss (addr) VALUES ('x')" \
		"SELECT * FROM scauth_pairing_take('$PAIR_STATE')" "SELECT scauth_pairing_drop('$PAIR_STATE')" \
		"SELECT scauth_pairing_create('BBBBBBBB', repeat('s', 16), repeat('c', 43), '', '')"; do
		# (up to its first parenthesis: no state in the test's output)
		out=$("$PG_BIN/psql" -X -q -At -c "$t" "$(pg_conninfo relay relaydb)" 2>&1) &&
			fail "the relay's role may: ${t%%(*}"
		[[ $out == *"permission denied"* ]] || fail "${t%%(*}: not refused for want of a grant"
	done
	# Nor may the kiosks' role act as the relay (open a code, store a redirect).
	for t in "SELECT * FROM scauth_pairing_open('$PAIR_KEY', '192.0.2.1')" \
		"SELECT scauth_pairing_callback('$PAIR_STATE', 'x', NULL, NULL)"; do
		out=$(kiosk_sql <<<"$t" 2>&1) && fail "the kiosks' role may: the relay's calls"
		[[ $out == *"permission denied"* ]] || fail "the kiosks' role: $out"
	done
	[[ $(pairing_get "opened_at IS NULL AND callback_at IS NULL") == t ]] || fail "the pairing changed"
}

@test "a bad config: 500 with a page that says the relay is not set up; the log says why" {
	relay_write_config "$(pg_conninfo relay relaydb)" "client_secret = nothing-to-do-here"
	phone "$RELAY_URL"
	expect_page 500 "not set up correctly"
	relay_logged "config: $RELAY_CONF: line 5: unknown key 'client_secret'" ||
		fail "the log does not say which line of which file"
	sed -i 's|^redirect_uri = https|redirect_uri = http|; /client_secret/d' "$RELAY_CONF"
	phone "$RELAY_URL"
	expect_page 500
	relay_logged "redirect_uri: not set, or not an https URL" || fail "no word of redirect_uri"
	chmod 666 "$RELAY_CONF"
	phone "$RELAY_URL"
	expect_page 500
	# A password in the postgres setting: refused, and never written to the log.
	relay_write_config "$(pg_conninfo relay relaydb) password=not-in-a-config-file"
	phone "$RELAY_URL"
	expect_page 500
	relay_logged "postgres: holds a password" || fail "no word of the password"
	! relay_logged "not-in-a-config-file" || fail "the password was logged"
}

@test "what SoundCloud's redirect carries reaches the page escaped" {
	pairing
	phone "$RELAY_CALLBACK?error=server_error&error_description=%3Cscript%3Ealert(1)%3C%2Fscript%3E+%22x%22+%26&state=$PAIR_STATE"
	expect_page 200 "&lt;script&gt;alert(1)&lt;/script&gt; &quot;x&quot; &amp;"
	[[ $PHONE_BODY != *"<script"* ]] || fail "markup from the redirect reached the page"
	[[ $(pairing_get "callback_error") == server_error ]] || fail "the error was not stored"
}

# --- Attacks (review): each a request a hostile phone, web client or relay role could make. ---

# attack_codes N: N distinct wrong codes (none is the current pairing's), one a line.
attack_codes() {
	local i a=$RELAY_CODE_ALPHABET
	for ((i = 0; i < $1; i++)); do
		printf 'BBBB-B%s%s%s\n' "${a:i / 28 % 28:1}" "${a:i % 28:1}" "${a:(i * 7) % 28:1}"
	done | grep -vxF "$PAIR_CODE"
}

@test "attack: 40 wrong codes at once from one address are still only 5 lookups" {
	pairing
	local c dir=$BATS_TEST_TMPDIR/burst
	mkdir -p "$dir"
	# Every request of the burst is in flight before any has answered.
	while read -r c; do
		sandbox_curl -o /dev/null -w '%{http_code}\n' "$RELAY_URL?code=$c" >"$dir/$c" &
	done < <(attack_codes 40)
	wait
	local looked
	looked=$(cat "$dir"/* | grep -c '^404$' || true)
	[[ $looked -le 5 ]] || fail "$looked wrong codes were looked up from one address (at most 5)"
	[[ $(PG_SQL_DB=relaydb pg_sql -c "SELECT count(*) FROM scauth_pairing_miss") -le 5 ]] ||
		fail "more than 5 misses recorded for one address"
}

@test "attack: two callbacks for one pairing at once: exactly one is stored, the other refused" {
	pairing
	phone "$RELAY_URL?code=$PAIR_CODE"
	expect_page 303
	local i dir=$BATS_TEST_TMPDIR/race
	mkdir -p "$dir"
	for i in $(seq 1 12); do
		sandbox_curl -o /dev/null -w '%{http_code}\n' \
			"$RELAY_CALLBACK?code=racer$i&state=$PAIR_STATE" >"$dir/$i" &
	done
	wait
	local won
	won=$(grep -l '^200$' "$dir"/* | xargs -r -n1 basename)
	[[ $(wc -w <<<"$won") == 1 ]] || fail "winners: [$won]; answers: $(cat "$dir"/* | tr '\n' ' ')"
	[[ $(cat "$dir"/* | grep -c '^410$') == 11 ]] || fail "the others: $(cat "$dir"/* | tr '\n' ' ')"
	[[ $(pairing_get callback_code) == "racer$won" ]] || fail "the row holds $(pairing_get callback_code), racer$won won"
}

@test "attack: wrong codes from many addresses (20 x 5, the global cap) do not lock out a phone with a good code" {
	pairing
	local n c
	for n in $(seq 2 21); do
		while read -r c; do
			phone --interface "127.0.0.$n" "$RELAY_URL?code=$c"
		done < <(attack_codes $((n * 5)) | tail -n 5)
	done
	# A person at another address, with the kiosk's code in hand.
	phone --interface 127.0.0.99 "$RELAY_URL?code=$PAIR_CODE"
	[[ $PHONE_STATUS == 303 ]] ||
		fail "20 guessing addresses locked everyone out for a minute: a good code got $PHONE_STATUS"
}

# cgi VAR=VALUE...: the relay run as a web server runs it (CGI/1.1), for what lighttpd's config
# here never hands over; its whole answer in CGI_OUT.
cgi() {
	CGI_OUT=$(env -i GATEWAY_INTERFACE=CGI/1.1 SOUNDCLOUD_AUTH_RELAY_CONFIG="$RELAY_CONF" \
		REQUEST_METHOD=GET REMOTE_ADDR=192.0.2.1 "$@" "$BUILD/soundcloud-auth-relay" </dev/null 2>/dev/null)
}

@test "attack: a relay at the root of its host never gives its form another host's address" {
	# https://login.example.org/ is a relay_url the kiosk side shows as it is; a link to
	# https://login.example.org//evil.example/ or /\evil.example/ must not make the form post
	# the person's code to evil.example (a browser reads // and /\ as "another host").
	local p
	for p in '//evil.example/' '/\evil.example/' '/\/evil.example/'; do
		cgi SCRIPT_NAME= PATH_INFO="$p"
		[[ $CGI_OUT != *'action="//'* && $CGI_OUT != *'action="/\'* ]] ||
			fail "$p: the form posts elsewhere: $(grep -a '<form' <<<"$CGI_OUT")"
		[[ $CGI_OUT == "Status: 400"* ]] || fail "$p: $(head -n1 <<<"$CGI_OUT")"
	done
	# The form at the root itself still works.
	cgi SCRIPT_NAME= PATH_INFO=/
	[[ $CGI_OUT == "Status: 200"* && $CGI_OUT == *'action="/"'* ]] || fail "/: $CGI_OUT"
}

@test "attack: a code opened by one phone does not send a second phone on with the same state" {
	# Whoever reads the code off the kiosk's screen after the person has typed it could
	# otherwise take the pairing's state and challenge and answer the callback first (with a
	# code of their own account, or error=access_denied).
	pairing
	phone "$RELAY_URL?code=$PAIR_CODE"
	expect_page 303
	phone --interface 127.0.0.3 "$RELAY_URL?code=$PAIR_CODE"
	[[ $PHONE_STATUS == 410 && $PHONE_LOCATION != *"$PAIR_STATE"* ]] ||
		fail "a second phone got $PHONE_STATUS$([[ $PHONE_LOCATION != *"$PAIR_STATE"* ]] ||
			echo ", with the pairing's state")"
	expect_page 410 "This code was already used. Start again at the kiosk for a new one."
	[[ $(pairing_get "callback_at IS NULL") == t ]] || fail "the second phone changed the pairing"
}

@test "attack: the kiosks' role cannot read or end another kiosk's pairing" {
	# Every kiosk (and every user of login --relay) holds the kiosks' role. Reading another's
	# state and challenge lets one answer its callback first; deleting it ends its login.
	pairing
	local other=$PAIR_STATE
	pairing
	local seen
	seen=$(kiosk_sql <<<"SELECT count(*) FROM scauth_pairing WHERE state <> '$PAIR_STATE'" 2>&1) || true
	[[ $seen != 1 ]] || fail "one kiosk's role reads the other's state and challenge"
	kiosk_sql <<<"DELETE FROM scauth_pairing WHERE state <> '$PAIR_STATE'" >/dev/null 2>&1 || true
	[[ $(PG_SQL_DB=relaydb pg_sql -c "SELECT count(*) FROM scauth_pairing WHERE state = '$other'") == 1 ]] ||
		fail "one kiosk's role deleted the other's pairing"
}

@test "attack: a query without '=' (a CGI command line, RFC 3875 4.4) still gets a page" {
	# Apache's mod_cgi hands such a query (relay_url?KQ7M-3XHB, a code typed or scanned
	# without "code=") to the program as its arguments too; a CGI program may ignore them.
	CGI_OUT=$(env -i GATEWAY_INTERFACE=CGI/1.1 SOUNDCLOUD_AUTH_RELAY_CONFIG="$RELAY_CONF" \
		REQUEST_METHOD=GET REMOTE_ADDR=192.0.2.1 SCRIPT_NAME=/kiosk QUERY_STRING=BBBB-BBBB \
		"$BUILD/soundcloud-auth-relay" BBBB-BBBB </dev/null 2>/dev/null) || true
	[[ $CGI_OUT == "Status: "* ]] || fail "no answer at all (the web server makes it a bare 500)"
	[[ $CGI_OUT == *'<form method="post" action="/kiosk">'* ]] || fail "no form: $CGI_OUT"
}

@test "attack: IPv6 guessers are counted by their /64: new addresses of one host share one cap" {
	# One host holds a whole /64 (SLAAC, privacy addresses): counted by the address, it could
	# guess from 2^64 of them.  IPv4 counts as it is, a mapped IPv4 address as that address.
	pairing
	local c i=0
	while read -r c; do
		i=$((i + 1))
		cgi SCRIPT_NAME=/kiosk QUERY_STRING="code=$c" REMOTE_ADDR="2001:db8:1:2:$i::$i"
		[[ $CGI_OUT == "Status: 404"* ]] || fail "wrong code $i: $(head -n1 <<<"$CGI_OUT")"
	done < <(attack_codes 5)
	cgi SCRIPT_NAME=/kiosk QUERY_STRING="code=$PAIR_KEY" REMOTE_ADDR=2001:db8:1:2:ffff:ffff:ffff:ffff
	[[ $CGI_OUT == "Status: 429"* ]] || fail "another address of the /64: $(head -n1 <<<"$CGI_OUT")"
	[[ $(owner_sql <<<"SELECT DISTINCT addr FROM scauth_pairing_miss") == 2001:db8:1:2::/64 ]] ||
		fail "misses counted as: $(owner_sql <<<"SELECT DISTINCT addr FROM scauth_pairing_miss")"
	cgi SCRIPT_NAME=/kiosk QUERY_STRING=code=BBBB-BBBB REMOTE_ADDR=::ffff:192.0.2.7
	cgi SCRIPT_NAME=/kiosk QUERY_STRING=code=BBBB-BBBB REMOTE_ADDR=192.0.2.8
	[[ $(owner_sql <<<"SELECT addr FROM scauth_pairing_miss WHERE addr LIKE '192.%' ORDER BY addr") == $'192.0.2.7\n192.0.2.8' ]] ||
		fail "IPv4 misses counted as: $(owner_sql <<<"SELECT addr FROM scauth_pairing_miss")"
	# The next /64 is someone else.
	cgi SCRIPT_NAME=/kiosk QUERY_STRING="code=$PAIR_KEY" REMOTE_ADDR=2001:db8:1:3::1
	[[ $CGI_OUT == "Status: 303"* ]] || fail "the next /64: $(head -n1 <<<"$CGI_OUT")"
	# What is no address is refused before anything is counted.
	cgi SCRIPT_NAME=/kiosk QUERY_STRING=code=BBBB-BBBB REMOTE_ADDR=2001:db8:::1
	[[ $CGI_OUT == "Status: 500"* ]] || fail "a malformed address: $(head -n1 <<<"$CGI_OUT")"
}

@test "attack: X-Forwarded-For or Forwarded headers do not make the relay count a guesser as someone else" {
	pairing
	local c i=0
	while read -r c; do
		i=$((i + 1))
		phone -H "X-Forwarded-For: 203.0.113.$i" -H "Forwarded: for=198.51.100.$i" \
			-H "X-Real-IP: 192.0.2.$i" "$RELAY_URL?code=$c"
	done < <(attack_codes 5)
	phone -H "X-Forwarded-For: 203.0.113.99" "$RELAY_URL?code=$PAIR_CODE"
	expect_page 429
	[[ $(PG_SQL_DB=relaydb pg_sql -c "SELECT DISTINCT addr FROM scauth_pairing_miss") == 127.0.0.1 ]] ||
		fail "a miss was counted for an address the client named"
}
