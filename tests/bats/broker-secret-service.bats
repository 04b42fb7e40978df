#!/usr/bin/env bats
# broker-secret-service.bats - the token broker suite of broker.bats (tests/lib/broker.bash) with
# the desktop's Secret Service as the store: gnome-keyring on a private bus
# (tests/lib/secret-service.bash).  What only this store promises is in secret-service.bats.

BROKER_STORE=secret-service
# Each round here also goes through D-Bus: fewer rounds than the file store's.
KILL_ROUNDS=${KILL_ROUNDS:-15}
load '../lib/common'
load '../lib/secret-service'
load '../lib/broker'

@test "secret-service: a fresh token costs no request, no lock, no network library, no libsecret" {
	t_fresh_no_network
}
@test "secret-service: $CONCURRENCY processes on an expired token: 1 refresh, 0 reuse, 1 token" {
	t_concurrent_refresh
}
@test "secret-service: kill -9 mid-refresh, $KILL_ROUNDS rounds: chain lost only in the window" {
	t_kill9_chain_survives
}
@test "secret-service: 100 client-credentials calls make one token request" {
	t_cc_cached
}
@test "secret-service: the app token is renewed with its refresh token" {
	t_cc_renewed_with_refresh_token
}
@test "secret-service: the app grant's label survives its refreshes" {
	t_cc_label_survives_refresh
}
@test "secret-service: a server-side 401 is healed by exactly one refresh" {
	t_401_healed_by_one_refresh
}
@test "secret-service: invalid_grant erases the grant: login required" {
	t_invalid_grant_erases
}
@test "secret-service: git's erase drops the access token only" {
	t_erase_drops_access_only
}
@test "secret-service: logout signs out and erases" {
	t_logout_signs_out_and_erases
}
