#!/bin/bash
# demo.sh - `make demo`: the main job of soundcloud-auth, end to end, against
# a local stand-in for SoundCloud (tests/sandbox) on 127.0.0.1, narrated.
# Uses only the built programs and ordinary tools (git, curl, pamtester);
# tokens are never shown, only their length.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
case $build in /*) ;; *) build=$top/$build ;; esac
helper=$build/git-credential-soundcloud

work=$(mktemp -d /tmp/scauth-demo.XXXXXX)
cleanup() {
	[ -z "${SB_PID:-}" ] || kill "$SB_PID" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

bold=$(tput bold 2>/dev/null || true) plain=$(tput sgr0 2>/dev/null || true)
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
say() { printf '   %s\n' "$*"; }
run() { printf '   $ %s\n' "$*"; "$@" 2>&1 | sed 's/^/     /'; }
# Shows git-credential output with the secrets replaced by their length.
redact() {
	awk '/^(password|credential)=/ { k = substr($0, 1, index($0, "=") - 1)
		printf "%s=<%d characters, hidden>\n", k, length($0) - length(k) - 1; next } { print }'
}
stat() {
	curl -sS --cacert "$SANDBOX_CA" "https://127.0.0.1:$port/_sandbox/stats" |
		node -pe "const s = JSON.parse(require('fs').readFileSync(0)); $1"
}

export HOME=$work/home XDG_CONFIG_HOME=$work/home/.config XDG_STATE_HOME=$work/home/.local/state
export GIT_CONFIG_GLOBAL=$HOME/.gitconfig GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0
unset SOUNDCLOUD_AUTH_PROFILE SOUNDCLOUD_AUTH_CONFIG SOUNDCLOUD_AUTH_TRACE DISPLAY WAYLAND_DISPLAY
mkdir -p "$XDG_CONFIG_HOME/soundcloud-auth"

step "Starting a local SoundCloud sandbox (https on 127.0.0.1, with a test CA made just now)"
node "$top/tests/sandbox/server.js" --dir "$work/sb" --watch-pid $$ >"$work/sb.out" 2>"$work/sb.err" &
SB_PID=$!
for _ in $(seq 200); do grep -q '^READY' "$work/sb.out" 2>/dev/null && break; sleep 0.05; done
grep -q '^READY' "$work/sb.out" || { echo "demo: the sandbox did not start" >&2; cat "$work/sb.err" >&2; exit 1; }
port=$(cat "$work/sb/port")
export SANDBOX_CA=$work/sb/ca.pem
api=https://127.0.0.1:$port
say "secure.soundcloud.com and api.soundcloud.com stand-in: $api"

step "Registering an app and writing its config (mode 0600: it holds the client secret)"
secret=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
rport=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
curl -sS --cacert "$SANDBOX_CA" -H 'Content-Type: application/json' --data-binary @- \
	"$api/_sandbox/clients" >/dev/null <<<"{\"client_id\":\"demo-app\",\"client_secret\":\"$secret\",\"redirect_uris\":[\"http://127.0.0.1:$rport/callback\"]}"
(
	umask 077
	{
		cat "$work/sb/config"
		printf 'client_id = demo-app\nclient_secret = %s\nredirect_uri = http://127.0.0.1:%s/callback\n' \
			"$secret" "$rport"
	} >"$XDG_CONFIG_HOME/soundcloud-auth/config"
)
sed -e 's/^client_secret = .*/client_secret = (hidden)/' "$XDG_CONFIG_HOME/soundcloud-auth/config" | sed 's/^/     /'

step "Logging in: Authorization Code with PKCE through a loopback listener"
say "The helper prints the authorize URL and opens \$BROWSER; here a scripted browser"
say "follows the sandbox's approval redirect back into the helper's listener."
run env BROWSER="$top/tests/lib/browser" "$helper" login

step "git asks for a credential (git credential fill, with the helper configured)"
git config --global credential.helper "$helper"
say "git config --global credential.helper $helper"
printf 'protocol=https\nhost=127.0.0.1:%s\n\n' "$port" | git credential fill | redact | sed 's/^/     /'
say "The helper's own answer also carries password_expiry_utc (the expiry minus the refresh"
say "margin), which git 2.41 and later honour so that they never reuse a stale token:"
printf 'protocol=https\nhost=127.0.0.1:%s\n\n' "$port" | "$helper" get | redact | sed 's/^/     /'

step "curl gets an Authorization header from the helper"
say "\$ git-credential-soundcloud header | curl -H @- $api/me"
"$helper" header | curl -sS --cacert "$SANDBOX_CA" -H @- "$api/me" | sed 's/^/     /'
echo

step "Status: who is logged in, until when (never a secret)"
run "$helper" status

step "The access token is revoked server-side: the next API call heals itself"
curl -sS --cacert "$SANDBOX_CA" -H 'Content-Type: application/json' --data-binary '{"what":"access"}' \
	"$api/_sandbox/revoke" >/dev/null
before=$(stat 's.token.refresh_token')
say "\$ git-credential-soundcloud api /me   (gets 401, refreshes once, retries once)"
"$helper" api /me | sed 's/^/     /'
echo
say "refresh requests made: $(( $(stat 's.token.refresh_token') - before )) (the refresh token rotated and was stored first)"

step "The app's own token (client credentials): cached, so 10 calls cost 1 request"
for _ in $(seq 10); do "$helper" token --client-credentials >/dev/null; done
say "client_credentials requests made for 10 calls: $(stat 's.token.client_credentials')"

step "Signing out: the server revokes the session, the local tokens are erased"
run "$helper" logout
say "sign-out requests at the server: $(stat 's.signout')"
set +e
"$helper" token >/dev/null 2>&1
rc=$?
set -e
say "git-credential-soundcloud token now exits $rc (77: login required)"

if [ -x "$top/tests/demo-kiosk.sh" ]; then
	step "A kiosk login through PAM (pamtester under pam_wrapper, no root needed)"
	"$top/tests/demo-kiosk.sh" "$build" "$work" "$api"
fi

if [ -x "$top/tests/demo-fleet.sh" ]; then
	"$top/tests/demo-fleet.sh" "$build" "$work" "$api" "$XDG_CONFIG_HOME/soundcloud-auth/config"
fi

if [ -x "$top/tests/demo-relay.sh" ]; then
	"$top/tests/demo-relay.sh" "$build" "$work" "$api" "$XDG_CONFIG_HOME/soundcloud-auth/config"
fi

step "Done. Every request above went to 127.0.0.1 only."
