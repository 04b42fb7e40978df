# kiosk-relay.bash - the kiosk's side of phone logins (mode=relay, login --relay) against a real
# PostgreSQL (tests/lib/postgres.bash) and the sandbox as SoundCloud.  Load it after common.bash
# and postgres.bash.
#
#   kr_setup_file       the server, the fleet's database (fleet init by its owner) and the roles
#                       of least privilege: KR_KIOSK (EXECUTE on the kiosks' three functions) and
#                       KR_RELAY (EXECUTE on the two functions alone), as the README grants them;
#                       an audit trigger keeps every version of every pairing row (KR_AUDIT), so
#                       that a test can show that no token ever was in one
#   kr_suite_setup, kr_suite_teardown
#                       a kiosk suite's setup_file and teardown_file: the sandbox, the above,
#                       the PAM suite's users and module
#   kr_reset            empties the pairing tables and the audit, for a test of its own
#   kr_kiosk_lines      the config lines of a kiosk: postgres, relay_url, redirect_uri
#   kr_code FILE        waits (bounded) for "... and enter XXXX-XXXX" in FILE; prints the code
#   kr_phone CODE       what a person's phone does: open relay_url with the code (the relay, a
#                       real web server: tests/lib/relay.bash), follow the redirects through
#                       SoundCloud (the sandbox) back to the relay's callback; fails unless the
#                       relay's last page is a 200
#   kr_rows             the pairing table's rows; kr_audit: every version a row ever had

KR_DB=relaykiosk
KR_CODE_WAIT=${KR_CODE_WAIT:-20}

kr_setup_file() {
	pg_start
	pg_role scauth "$KR_DB"
	pg_role kiosk
	pg_role relay
	export RELAY_DB=$KR_DB
	KR_KIOSK_CONNINFO=$(pg_conninfo kiosk "$KR_DB")
	export KR_KIOSK_CONNINFO
	# The owner runs fleet init once, as an operator does.
	local home=$BATS_FILE_TMPDIR/owner
	mkdir -p "$home"
	printf 'client_id = owner\npostgres = %s\nseal_key_file = %s\n' \
		"$(pg_conninfo scauth "$KR_DB")" "$home/seal.key" >"$home/config"
	HOME=$home XDG_CONFIG_HOME=$home/.config XDG_STATE_HOME=$home/.state \
		"$HELPER" --config "$home/config" fleet init --new-key >/dev/null || return 1
	PG_SQL_DB=$KR_DB pg_sql <<-EOF || return 1
		GRANT EXECUTE ON FUNCTION scauth_pairing_open(text, text),
			scauth_pairing_callback(text, text, text, text) TO relay;
		GRANT EXECUTE ON FUNCTION scauth_pairing_create(text, text, text, text, text),
			scauth_pairing_take(text), scauth_pairing_drop(text) TO kiosk;
		CREATE TABLE kr_audit (at timestamptz DEFAULT clock_timestamp(), what text, row_json text);
		CREATE FUNCTION kr_audit_fn() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS \$\$
		BEGIN
			INSERT INTO kr_audit (what, row_json) VALUES (TG_OP, row_to_json(NEW)::text);
			RETURN NEW;
		END \$\$;
		CREATE TRIGGER kr_audit AFTER INSERT OR UPDATE ON scauth_pairing
			FOR EACH ROW EXECUTE FUNCTION kr_audit_fn();
	EOF
	relay_start "$BATS_FILE_TMPDIR/relay" "$(pg_conninfo relay "$KR_DB")" || return 1
	# SoundCloud knows the relay's callback as one of the app's redirect URIs.
	export KR_CALLBACK=$RELAY_CALLBACK KR_RELAY_URL=$RELAY_URL
	# What the person reads: the address without https://.
	export KR_SHOWN=${RELAY_URL#https://}
	sandbox_client "$CLIENT_ID" "$CLIENT_SECRET" "$REDIRECT_URI" "$KR_CALLBACK" >/dev/null
}

kr_teardown_file() {
	relay_stop
	pg_stop
}

kr_suite_setup() {
	sc_setup_file
	kr_setup_file
	pam_suite_setup
}

kr_suite_teardown() {
	pam_suite_teardown
	kr_teardown_file
	sc_teardown_file
}

kr_reset() {
	PG_SQL_DB=$KR_DB pg_sql -c "DELETE FROM scauth_pairing; DELETE FROM scauth_pairing_miss;
		DELETE FROM kr_audit"
}

kr_kiosk_lines() {
	printf '%s\n' "postgres = $KR_KIOSK_CONNINFO" "relay_url = $KR_RELAY_URL" \
		"redirect_uri = $KR_CALLBACK"
}

kr_rows() {
	PG_SQL_DB=$KR_DB pg_sql -c "SELECT code, state, callback_code, callback_error FROM scauth_pairing"
}

kr_audit() {
	PG_SQL_DB=$KR_DB pg_sql -c "SELECT row_json FROM kr_audit"
}

# kr_code FILE: the code of the first "On your phone open ADDRESS and enter XXXX-XXXX" in FILE.
kr_code() {
	local i code
	for ((i = 0; i < KR_CODE_WAIT * 20; i++)); do
		code=$(grep -aoE "and enter [$RELAY_CODE_ALPHABET]{4}-[$RELAY_CODE_ALPHABET]{4}" "$1" \
			2>/dev/null | head -n1)
		[[ -n $code ]] && { printf '%s\n' "${code#and enter }"; return 0; }
		sleep 0.05
	done
	echo "kr_code: no code in $1:" >&2
	cat "$1" >&2
	return 1
}

# kr_phone CODE: a phone logs in with CODE, as typed (with the dash): GET relay_url?code=CODE and
# the redirects after it, to SoundCloud and back to the relay's callback.  PHONE_* as phone sets.
kr_phone() {
	phone -L "$KR_RELAY_URL?code=$1" || return 1
	[[ $PHONE_STATUS == 200 ]] || { echo "kr_phone: the relay answered $PHONE_STATUS: $PHONE_BODY" >&2; return 1; }
}
