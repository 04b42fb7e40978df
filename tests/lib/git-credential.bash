# git-credential.bash - what the suites of the credential helper share
# (tests/bats/git-credential.bats, tests/bats/git-credential-cli.bats): one sandbox for the
# suite, and for each test the home of common.bash's sc_setup with API_HOST, the host that git
# asks the helper about.
#
#   load '../lib/common'
#   load '../lib/git-credential'
#   setup() { gc_setup; ...; }

setup_file() { sc_setup_file; }
teardown_file() { sc_teardown_file; }

gc_setup() {
	sc_setup
	API_HOST="127.0.0.1:$SANDBOX_PORT"
}
