#!/usr/bin/env bats
# peer.bats - the client against a real third-party authorization server:
# panva's oidc-provider (tests/peer), configured as SoundCloud is: PKCE S256
# required, rotating single-use refresh tokens, client credentials over Basic.
# Our sandbox encodes our own reading of OAuth; this suite checks it against
# code nobody here wrote.

load '../lib/common'
load '../lib/peer'

setup_file() {
	peer_available || {
		echo "the conformance peer is not installed: run scripts/deps --peer" >&3
		return 1
	}
	peer_start "$BATS_FILE_TMPDIR/peer"
}

teardown_file() {
	peer_stop
}

setup() {
	sc_isolate
	export BROWSER=$PEER_BROWSER
	export SOUNDCLOUD_AUTH_CONFIG=$PEER_CONFIG
	# The peer's tokens live 60 s: below the default 300 s margin they would never count as fresh.
	export SOUNDCLOUD_AUTH_REFRESH_MARGIN=10
	# What refute_secrets looks for.
	export CLIENT_SECRET=$PEER_USER_CLIENT_SECRET
}

peer() { "$HELPER" --profile peer "$@"; }
app() { "$HELPER" --profile peer-app "$@"; }
token_requests() { grep -c 'POST /token ' "$PEER_LOG" || true; }
digest() { sha256sum | cut -c1-16; }

@test "peer: login through oidc-provider's login and consent pages" {
	run peer login
	assert_success
	assert_output --partial "Logged in as"
	run peer status
	assert_success
	assert_output --regexp 'soundcloud:users:[0-9]+'
	refute_secrets "$output"
}

@test "peer: 25 refreshes in a row keep the rotating chain alive" {
	peer login 2>/dev/null
	local before seen=() i tok
	before=$(token_requests)
	for i in $(seq 25); do
		# Every token counts as expired: each call must spend the newest refresh token.
		tok=$(SOUNDCLOUD_AUTH_REFRESH_MARGIN=86400 peer token | digest)
		seen+=("$tok")
	done
	[ "$(token_requests)" -eq $((before + 25)) ]
	[ "$(printf '%s\n' "${seen[@]}" | sort -u | wc -l)" -eq 25 ]
	run peer api /me
	assert_success
	assert_output --partial '"urn":"soundcloud:users:'
}

@test "peer: client credentials over Basic, cached after the first" {
	local before a b
	before=$(token_requests)
	a=$(app token --client-credentials | digest)
	b=$(app token --client-credentials | digest)
	[ "$a" = "$b" ]
	[ "$(token_requests)" -eq $((before + 1)) ]
}

@test "peer: a replayed refresh token gives invalid_grant and erases the grant" {
	peer login 2>/dev/null
	local rec=$XDG_STATE_HOME/soundcloud-auth/peer.user
	cp -p "$rec" "$BATS_TEST_TMPDIR/old"
	SOUNDCLOUD_AUTH_REFRESH_MARGIN=86400 peer token >/dev/null
	# Put the spent refresh token back, as a restored backup would.
	cp -p "$BATS_TEST_TMPDIR/old" "$rec"
	run env SOUNDCLOUD_AUTH_REFRESH_MARGIN=86400 "$HELPER" --profile peer token
	assert_failure 77
	assert_output --partial "invalid_grant"
	refute_secrets "$output"
	[ ! -e "$rec" ]
	run peer token
	assert_failure 77
}

@test "peer: a wrong client secret gives invalid_client and names the challenge" {
	sed "s/^client_secret = $PEER_APP_CLIENT_SECRET\$/client_secret = wrong-secret/" \
		"$PEER_CONFIG" >"$BATS_TEST_TMPDIR/config"
	chmod 600 "$BATS_TEST_TMPDIR/config"
	run env SOUNDCLOUD_AUTH_CONFIG="$BATS_TEST_TMPDIR/config" "$HELPER" --profile peer-app \
		token --client-credentials
	assert_failure 78
	assert_output --partial "invalid_client"
	assert_output --partial "HTTP 401"
	assert_output --partial "asks for Basic authentication"
}

@test "peer: the issuer it sends (RFC 9207) is checked when configured" {
	run env SOUNDCLOUD_AUTH_ISSUER="$PEER_ISSUER" "$HELPER" --profile peer login
	assert_success
	run env SOUNDCLOUD_AUTH_ISSUER="https://elsewhere.example" "$HELPER" --profile peer login
	assert_failure 77
	assert_output --partial "iss"
	refute_secrets "$output"
}

@test "peer: a refusal at the consent page is reported with its description" {
	run env PEER_BROWSER_ACTION=deny "$HELPER" --profile peer login
	assert_failure 77
	assert_output --partial "access_denied"
}

@test "peer: sign-out revokes the grant at the server" {
	peer login 2>/dev/null
	local rec=$XDG_STATE_HOME/soundcloud-auth/peer.user
	cp -p "$rec" "$BATS_TEST_TMPDIR/old"
	run peer logout
	assert_success
	grep -q 'POST /sign-out 200' "$PEER_LOG"
	# The old grant is dead at the server, not only erased here.
	cp -p "$BATS_TEST_TMPDIR/old" "$rec"
	run env SOUNDCLOUD_AUTH_REFRESH_MARGIN=86400 "$HELPER" --profile peer token
	assert_failure 77
}
