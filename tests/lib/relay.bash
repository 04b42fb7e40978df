# relay.bash - soundcloud-auth-relay under a real web server: lighttpd from Debian with
# mod_cgi, TLS (mod_openssl) with a certificate of the sandbox's test CA, on 127.0.0.1 at a
# free port; started and stopped by the suite.  Needs the sandbox (sandbox.bash) and a
# PostgreSQL server (postgres.bash) started first.
#
#   relay_start DIR POSTGRES
#                       starts lighttpd with the relay at /kiosk (its callback /kiosk/callback)
#                       and a static file at /static.html; the relay's config names POSTGRES.
#                       Exports RELAY_DIR RELAY_PORT RELAY_URL RELAY_CALLBACK RELAY_CONF,
#                       RELAY_ACCESSLOG, RELAY_ERRLOG (lighttpd's error log) and RELAY_STDERR
#                       (where a CGI's stderr goes: lighttpd's own under -D, as under systemd)
#   relay_stop          stops it
#   phone ARGS...       curl as the phone (sandbox_curl: the test CA, arguments in a 0600
#                       config file); sets PHONE_STATUS, PHONE_HEADERS (the file of headers),
#                       PHONE_BODY, PHONE_LOCATION; fails unless the answer has the headers
#                       every answer of the relay must have
#   pairing_new [INTERVAL]  (PAIR_WANT=KEY: that code, normalised, instead of a random one)
#                       a pairing as a kiosk makes it (its role: EXECUTE on
#                       scauth_pairing_create, _take and _drop alone), its expiry then moved
#                       to INTERVAL from now by the database's owner when given; sets
#                       PAIR_CODE (as shown, XXXX-XXXX), PAIR_KEY (normalised), PAIR_STATE,
#                       PAIR_VERIFIER, PAIR_CHALLENGE
#   pairing_get COLUMNS the current pairing's columns, '|'-separated, read by the owner
#   kiosk_sql           runs the SQL on stdin as the kiosk's role (secrets never on argv)
#   owner_sql           runs the SQL on stdin as the database's owner, in RELAY_DB (relaydb)

# The kiosks' alphabet (lib/pair.c): 2, 5 and 8 are read as Z, S and B.
RELAY_CODE_ALPHABET=34679BCDFGHJKLMNPQRSTVWXZ

relay_start() {
	local dir=$1 postgres=$2 i
	RELAY_DIR=$dir
	mkdir -p "$dir/www" || return 1
	_relay_cert "$dir" || return 1
	RELAY_PORT=$(free_port)
	RELAY_URL="https://127.0.0.1:$RELAY_PORT/kiosk"
	RELAY_CALLBACK="$RELAY_URL/callback"
	RELAY_ERRLOG=$dir/error.log
	RELAY_STDERR=$dir/stderr
	RELAY_ACCESSLOG=$dir/access.log
	RELAY_CONF=$dir/relay.conf
	# The program as make install puts it in a web server's reach: a copy named as its URL.
	cp "$BUILD/soundcloud-auth-relay" "$dir/www/kiosk" || return 1
	printf 'a static page of the same server\n' >"$dir/www/static.html"
	relay_write_config "$postgres"
	cat >"$dir/lighttpd.conf" <<-EOF
		server.modules = ("mod_access", "mod_accesslog", "mod_setenv", "mod_cgi", "mod_openssl")
		server.document-root = "$dir/www"
		server.bind = "127.0.0.1"
		server.port = $RELAY_PORT
		server.errorlog = "$RELAY_ERRLOG"
		accesslog.filename = "$RELAY_ACCESSLOG"
		ssl.engine = "enable"
		ssl.pemfile = "$dir/server.pem"
		ssl.privkey = "$dir/server.key"
		setenv.add-environment = ("SOUNDCLOUD_AUTH_RELAY_CONFIG" => "$RELAY_CONF")
		\$HTTP["url"] =~ "^/kiosk(/|\$)" { cgi.assign = ("" => "") }
		mimetype.assign = (".html" => "text/html")
		# The query as the phone sent it, as nginx and Apache pass it on: lighttpd would
		# otherwise mend a bad %-escape (c%ode -> c%25ode) before the relay sees it.
		server.http-parseopts = ("url-normalize" => "disable")
	EOF
	lighttpd -tt -f "$dir/lighttpd.conf" >"$dir/check.log" 2>&1 || {
		echo "relay_start: lighttpd refuses its config:" >&2
		sed 's/^/  | /' "$dir/check.log" >&2
		return 1
	}
	# fd 3 closed: bats waits for every holder of it.
	lighttpd -D -f "$dir/lighttpd.conf" </dev/null >"$dir/stdout" 2>"$RELAY_STDERR" 3>&- &
	RELAY_PID=$!
	for ((i = 0; i < 600; i++)); do
		curl -s -o /dev/null --noproxy '*' --cacert "$SANDBOX_CA" --max-time 5 \
			"https://127.0.0.1:$RELAY_PORT/static.html" && break
		kill -0 "$RELAY_PID" 2>/dev/null || break
		sleep 0.05
	done
	curl -s -o /dev/null --noproxy '*' --cacert "$SANDBOX_CA" --max-time 5 \
		"https://127.0.0.1:$RELAY_PORT/static.html" || {
		echo "relay_start: lighttpd did not answer; its logs:" >&2
		cat "$RELAY_STDERR" "$RELAY_ERRLOG" 2>/dev/null | sed 's/^/  | /' >&2
		return 1
	}
	export RELAY_DIR RELAY_PORT RELAY_URL RELAY_CALLBACK RELAY_ERRLOG RELAY_STDERR \
		RELAY_ACCESSLOG RELAY_CONF RELAY_PID
}

relay_stop() {
	[[ -n ${RELAY_PID:-} ]] || return 0
	kill "$RELAY_PID" 2>/dev/null || true
	wait "$RELAY_PID" 2>/dev/null || true
	unset RELAY_PID
}

# relay_write_config POSTGRES [LINES...]: the relay's config (read at every request).
relay_write_config() {
	{
		printf 'postgres = %s\n' "$1"
		printf 'client_id = %s\n' "$CLIENT_ID"
		printf 'redirect_uri = %s\n' "$RELAY_CALLBACK"
		printf 'authorize_url = %s/authorize\n' "$SANDBOX_URL"
		printf '%s\n' "${@:2}"
	} >"$RELAY_CONF"
	chmod 644 "$RELAY_CONF"
}

# A server certificate for 127.0.0.1 signed by the sandbox's CA, so that one --cacert serves.
_relay_cert() {
	local dir=$1
	printf '%s\n' "basicConstraints = critical,CA:FALSE" \
		"keyUsage = critical,digitalSignature" "extendedKeyUsage = serverAuth" \
		"subjectAltName = IP:127.0.0.1" >"$dir/ext.cnf"
	(umask 077 && openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$dir/server.key" -out "$dir/server.csr" -subj /CN=127.0.0.1 2>"$dir/openssl.log") &&
		openssl x509 -req -in "$dir/server.csr" -CA "$SANDBOX_DIR/ca.pem" \
			-CAkey "$SANDBOX_DIR/ca.key" -set_serial "0x$(openssl rand -hex 12)" -days 2 \
			-extfile "$dir/ext.cnf" -out "$dir/server.pem" 2>>"$dir/openssl.log" || {
		echo "relay_start: openssl failed:" >&2
		sed 's/^/  | /' "$dir/openssl.log" >&2
		return 1
	}
}

# The headers every answer of the relay carries.
RELAY_HEADERS=("cache-control: no-store" "referrer-policy: no-referrer"
	"x-content-type-options: nosniff" "content-type: text/html; charset=utf-8")

phone() {
	local h
	PHONE_HEADERS=$BATS_TEST_TMPDIR/phone.headers
	PHONE_STATUS=$(sandbox_curl -D "$PHONE_HEADERS" -o "$BATS_TEST_TMPDIR/phone.body" \
		-w '%{http_code}' "$@") || { echo "phone: curl failed" >&2; return 1; }
	PHONE_BODY=$(<"$BATS_TEST_TMPDIR/phone.body")
	PHONE_LOCATION=$(tr -d '\r' <"$PHONE_HEADERS" | sed -n 's/^[Ll]ocation: //p')
	for h in "${RELAY_HEADERS[@]}"; do
		tr -d '\r' <"$PHONE_HEADERS" | grep -qixF "$h" ||
			{ echo "phone: the answer ($PHONE_STATUS) lacks '$h'" >&2; return 1; }
	done
}

kiosk_sql() {
	"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -At -f - "$RELAY_KIOSK_CONNINFO"
}

# n random characters of the code alphabet.
_relay_code_chars() {
	local out='' b
	for b in $(od -An -N"$1" -tu1 /dev/urandom); do
		out+=${RELAY_CODE_ALPHABET:b % ${#RELAY_CODE_ALPHABET}:1}
	done
	printf '%s' "$out"
}

pairing_new() {
	PAIR_KEY=${PAIR_WANT:-$(_relay_code_chars 8)}
	PAIR_CODE="${PAIR_KEY:0:4}-${PAIR_KEY:4:4}"
	PAIR_STATE=$(openssl rand 32 | _base64url)
	pkce_pair
	PAIR_VERIFIER=$PKCE_VERIFIER
	PAIR_CHALLENGE=$PKCE_CHALLENGE
	[[ $(kiosk_sql <<<"SELECT scauth_pairing_create('$PAIR_KEY', '$PAIR_STATE',
		'$PAIR_CHALLENGE', '', 'kiosk-1')") == ok ]] || return 1
	[[ -z ${1:-} ]] ||
		owner_sql <<<"UPDATE scauth_pairing SET expires_at = now() + interval '$1'
			WHERE state = '$PAIR_STATE'"
}

# pairing_get COLUMNS: the columns of the current pairing's row, '|'-separated.
pairing_get() {
	owner_sql <<<"SELECT $1 FROM scauth_pairing WHERE state = '$PAIR_STATE'"
}

owner_sql() {
	PG_SQL_DB=${RELAY_DB:-relaydb} pg_sql -f -
}
