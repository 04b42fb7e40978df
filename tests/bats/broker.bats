#!/usr/bin/env bats
# broker.bats - the token broker against the sandbox with the file store: concurrent
# refreshes, kill -9 mid-refresh, full and read-only file systems, unsafe files, client
# credentials and their rate limit, 401 recovery.  The tests live in tests/lib/broker.bash and
# run again with the kernel keyring in broker-keyring.bats.

BROKER_STORE=file
load '../lib/common'
load '../lib/broker'

@test "file: a fresh token costs no request, no lock, no network library" {
	t_fresh_no_network
}
@test "file: $CONCURRENCY processes on an expired token: 1 refresh, 0 reuse, 1 token" {
	t_concurrent_refresh
}
@test "file: kill -9 mid-refresh, up to $KILL_ROUNDS rounds in ${KILL_SECONDS}s: chain lost only in the window" {
	t_kill9_chain_survives
}
@test "file: killed at each rename and fsync of a refresh, no login is lost" {
	t_strace_kill_each_step
}
@test "file: a full file system fails the refresh before it spends the token" {
	t_enospc_keeps_chain
}
@test "file: a read-only file system fails the refresh before it spends the token" {
	t_readonly_keeps_chain
}
@test "file: planted symbolic links are refused" {
	t_unsafe_symlink
}
@test "file: files and directories of another owner are refused" {
	t_unsafe_owner
}
@test "file: group/other permissions are refused with the chmod to run" {
	t_unsafe_modes
}
@test "file: 100 client-credentials calls make one token request" {
	t_cc_cached
}
@test "file: the app token is renewed with its refresh token" {
	t_cc_renewed_with_refresh_token
}
@test "file: the app grant's label survives its refreshes" {
	t_cc_label_survives_refresh
}
@test "file: a 429 with reset_time: no request until then" {
	t_cc_rate_limited_reset_time
}
@test "file: a 429 with Retry-After: no request until then" {
	t_cc_rate_limited_retry_after
}
@test "file: a server-side 401 is healed by exactly one refresh" {
	t_401_healed_by_one_refresh
}
@test "file: a second 401 after the refresh is an error" {
	t_401_twice_is_an_error
}
@test "file: invalid_grant erases the grant: login required" {
	t_invalid_grant_erases
}
@test "file: git's erase drops the access token only" {
	t_erase_drops_access_only
}
@test "file: logout signs out and erases" {
	t_logout_signs_out_and_erases
}
@test "file: a held refresh lock times out as a temporary failure" {
	t_lock_timeout
}
