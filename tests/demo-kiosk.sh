#!/bin/bash
# demo-kiosk.sh BUILD WORK API - the kiosk part of `make demo`: a whole PAM login with
# pam_soundcloud.so (authenticate, acct_mgmt, open_session, close_session) through pamtester
# under cwrap's pam_wrapper, against the sandbox that tests/demo.sh started.  No root needed:
# nss_wrapper makes up the kiosk user (our own uid, a home under WORK).  Expects SANDBOX_CA
# and the demo's config in $XDG_CONFIG_HOME/soundcloud-auth/config, as demo.sh leaves them.
# One pamtester transaction from login to logout, as a login program runs it (the module
# closes only a session it opened on that handle); pam_exec.so holds the session open while
# the demo looks inside it, as the person at the kiosk would work before logging out.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$1 work=$2 api=$3
module=$build/pam_soundcloud.so
say() { printf '   %s\n' "$*"; }
lib() { pkg-config --libs "$1" | tr -d ' '; }
pamdir=$(dirname "$(find /lib /usr/lib -name pam_permit.so -path '*security*' -print -quit)")
signouts() {
	curl -sS --cacert "$SANDBOX_CA" "$api/_sandbox/stats" |
		node -pe 'JSON.parse(require("fs").readFileSync(0)).signout'
}

k=$work/kiosk
mkdir -p "$k/services"
mkdir -m 700 "$k/home"
(umask 077; cp "$XDG_CONFIG_HOME/soundcloud-auth/config" "$k/soundcloud-auth.conf")
printf 'kiosk:x:%s:%s:Kiosk:%s:/bin/sh\n' "$(id -u)" "$(id -g)" "$k/home" >"$k/passwd"
printf 'kiosk:x:%s:\n' "$(id -g)" >"$k/group"
printf '# who may log in as whom\n* kiosk\n' >"$k/soundcloud-auth.map"
args="config=$k/soundcloud-auth.conf stagedir=$k/stage"
# The session stays open until the demo writes to the FIFO (or a minute has passed).
mkfifo "$k/logout"
printf '#!/bin/bash\n: >"%s"\nread -r -t 60 _ <>"%s"\nexit 0\n' "$k/in-session" "$k/logout" \
	>"$k/hold"
chmod 755 "$k/hold"
cat >"$k/services/soundcloud-kiosk" <<EOF
auth     required $module $args map=$k/soundcloud-auth.map mode=listen timeout=60
account  required $module $args map=$k/soundcloud-auth.map
session  required $module $args wipe
session  optional $pamdir/pam_exec.so type=open_session $k/hold
EOF
say "The map:  * kiosk   (any SoundCloud account may log in as the local user kiosk)"
say "The service (/etc/pam.d/soundcloud-kiosk on a real kiosk):"
grep -v pam_exec "$k/services/soundcloud-kiosk" |
	sed "s#$k#...#g; s#$module#pam_soundcloud.so#" | sed 's/^/     /'

# pamtester prints PAM_TEXT_INFO with stdio: libstdbuf (stdbuf -oL) makes the URL arrive now.
preload=$(lib pam_wrapper):$(lib nss_wrapper):/usr/libexec/coreutils/libstdbuf.so
pam() {
	env LD_PRELOAD="$preload" _STDBUF_O=L PAM_WRAPPER=1 \
		PAM_WRAPPER_SERVICE_DIR="$k/services" NSS_WRAPPER_PASSWD="$k/passwd" \
		NSS_WRAPPER_GROUP="$k/group" pamtester -v soundcloud-kiosk kiosk "$@"
}

say "\$ pamtester -v soundcloud-kiosk kiosk authenticate acct_mgmt open_session close_session"
pam authenticate acct_mgmt open_session close_session </dev/null >"$k/out" 2>&1 &
pid=$!
# Whatever happens, the held session ends with the script.  (Opened read-write, a FIFO never
# blocks the writer, even when the holder is gone.)
logout() { printf 'go\n' 1<>"$k/logout"; }
trap 'logout 2>/dev/null || true' EXIT
url=
for _ in $(seq 300); do
	url=$(grep -o "Log in to SoundCloud: https://[^ ]*" "$k/out" | head -n1 || true)
	[ -z "$url" ] || break
	sleep 0.05
done
[ -n "$url" ] || { echo "demo: no URL from the module" >&2; cat "$k/out" >&2; exit 1; }
say "The kiosk's screen shows the URL (with qr also a QR code for a phone); a scripted"
say "browser opens it and the sandbox's approval redirects back to the module's listener."
"$top/tests/lib/browser" "${url#Log in to SoundCloud: }"
for _ in $(seq 600); do
	[ ! -e "$k/in-session" ] && kill -0 "$pid" 2>/dev/null || break
	sleep 0.05
done
[ -e "$k/in-session" ] || { echo "demo: the session did not open" >&2; cat "$k/out" >&2; exit 1; }
grep -v '^PWRAP_' "$k/out" | sed 's/^/     /'
shown=$(grep -vc '^PWRAP_' "$k/out" || true)
say "(the session is open: pamtester waits in it, as the login program waits for the logout)"

store=$k/home/.local/state/soundcloud-auth/default.user
say "The session's store, written as the user: ~kiosk/${store#"$k/home/"}," \
	"owner uid $(stat -c '%u, mode %a' "$store")"
say "\$ git-credential-soundcloud status   (as kiosk, inside the session)"
HOME=$k/home XDG_STATE_HOME=$k/home/.local/state "$build/git-credential-soundcloud" status |
	sed 's/^/     /'

before=$(signouts)
say "The person logs out: the login program closes the session (wipe: sign out, erase)."
logout
wait "$pid"
grep -v '^PWRAP_' "$k/out" | tail -n +"$((shown + 1))" | sed 's/^/     /'
[ -e "$store" ] || say "The user's tokens are gone from the kiosk."
say "sign-out requests at the server for this logout: $(($(signouts) - before))"
