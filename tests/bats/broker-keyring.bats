#!/usr/bin/env bats
# broker-keyring.bats - the token broker suite of broker.bats (tests/lib/broker.bash) with the
# kernel keyring as the store, plus what only the keyring promises.

BROKER_STORE=keyring
load '../lib/common'
load '../lib/broker'

@test "keyring: a fresh token costs no request, no lock, no network library" {
	t_fresh_no_network
}
@test "keyring: $CONCURRENCY processes on an expired token: 1 refresh, 0 reuse, 1 token" {
	t_concurrent_refresh
}
@test "keyring: kill -9 mid-refresh, up to $KILL_ROUNDS rounds in ${KILL_SECONDS}s: chain lost only in the window" {
	t_kill9_chain_survives
}
@test "keyring: nothing but the lock is written to disk" {
	t_keyring_nothing_on_disk
}
@test "keyring: a key that group/other may read is refused" {
	t_keyring_loose_key_refused
}
@test "keyring: 100 client-credentials calls make one token request" {
	t_cc_cached
}
@test "keyring: the app token is renewed with its refresh token" {
	t_cc_renewed_with_refresh_token
}
@test "keyring: the app grant's label survives its refreshes" {
	t_cc_label_survives_refresh
}
@test "keyring: a 429 with reset_time: no request until then" {
	t_cc_rate_limited_reset_time
}
@test "keyring: a 429 with Retry-After: no request until then" {
	t_cc_rate_limited_retry_after
}
@test "keyring: a server-side 401 is healed by exactly one refresh" {
	t_401_healed_by_one_refresh
}
@test "keyring: a second 401 after the refresh is an error" {
	t_401_twice_is_an_error
}
@test "keyring: invalid_grant erases the grant: login required" {
	t_invalid_grant_erases
}
@test "keyring: git's erase drops the access token only" {
	t_erase_drops_access_only
}
@test "keyring: logout signs out and erases" {
	t_logout_signs_out_and_erases
}
@test "keyring: a held refresh lock times out as a temporary failure" {
	t_lock_timeout
}
