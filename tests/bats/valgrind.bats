#!/usr/bin/env bats
# valgrind.bats - the helper's main verbs under valgrind memcheck: no invalid
# access, no use of uninitialised memory, and no leak (definite, indirect or
# possible) on the success paths and the usual failure paths.  Runs on the
# plain build only: ASan and valgrind exclude each other (tests/run).

load '../lib/common'

setup_file() { sc_setup_file; }
teardown_file() { sc_teardown_file; }
setup() { sc_setup; }

# Runs the helper under memcheck; fails the test on any error or leak.
vg() {
	local log=$BATS_TEST_TMPDIR/vg.$$.$RANDOM
	run valgrind --quiet --error-exitcode=99 --leak-check=full \
		--show-leak-kinds=definite,indirect,possible \
		--errors-for-leak-kinds=definite,indirect,possible \
		--track-origins=yes --log-file="$log" "$HELPER" "$@"
	if [ "$status" -eq 99 ] || [ -s "$log" ]; then
		cat "$log" >&2
		fail "valgrind reported errors for: $*"
	fi
}

host() { printf 'protocol=https\nhost=127.0.0.1:%s\n\n' "$SANDBOX_PORT"; }

@test "valgrind: login through the loopback listener" {
	vg login
	assert_success
}

@test "valgrind: get (cached), erase, get (refresh), store" {
	sc_login
	vg get < <(host)
	assert_success
	assert_line --partial "password="
	local tok=${lines[1]#password=}
	vg erase < <(host; printf 'password=%s\n\n' "$tok")
	assert_success
	vg get < <(host)
	assert_success
	vg store < <(host; printf 'username=x\npassword=y\n\n')
	assert_success
	vg get < <(printf 'protocol=https\nhost=example.com\n\n')
	assert_success
	assert_output ""
	# Dropped requests: for our host with a reason, for another host in silence.
	vg get < <(printf 'protocol=https\nhost=127.0.0.1:%s\nhost=evil.example\n\n' "$SANDBOX_PORT")
	assert_failure 64
	vg get < <(printf 'protocol=https\nhost=example.com\nhost=x\n\n')
	assert_success
	assert_output ""
}

@test "valgrind: token, header, status, status --json, api" {
	sc_login
	vg token
	assert_success
	vg header
	assert_success
	vg status
	assert_success
	vg status --json
	assert_success
	vg api /me
	assert_success
	vg api -X POST -d '{"a":1}' /playlists
	assert_success
}

@test "valgrind: client credentials, then rate limited" {
	vg token --client-credentials
	assert_success
	vg token --client-credentials
	assert_success
	rm -f "$XDG_STATE_HOME/soundcloud-auth/default.app"
	sandbox_fault '{"endpoint":"token","kind":"429"}' >/dev/null
	vg token --client-credentials
	assert_failure 75
	vg token --client-credentials
	assert_failure 75
}

@test "valgrind: a 401 healed by a refresh, and invalid_grant" {
	sc_login
	sandbox_ctl POST /_sandbox/revoke '{"what":"access"}' >/dev/null
	vg api /me
	assert_success
	sandbox_ctl POST /_sandbox/revoke '{"what":"all"}' >/dev/null
	SOUNDCLOUD_AUTH_REFRESH_MARGIN=86400 vg token
	assert_failure 77
}

@test "valgrind: logout, and the failure paths" {
	sc_login
	vg logout
	assert_success
	vg token
	assert_failure 77
	vg token --bogus
	assert_failure 64
	# An operation of a future git is ignored.
	vg nonsense </dev/null
	assert_success
	assert_output ""
	sandbox_fault '{"endpoint":"token","kind":"503","html":true}' >/dev/null
	vg token --client-credentials
	assert_failure 69
	sc_write_config "timeout = zero"
	vg token
	assert_failure 78
}
