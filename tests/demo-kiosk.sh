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
# As root the made-up kiosk user gets a uid of its own (no map may let anyone in as uid 0),
# which the module really switches to: it must reach its home and the CA for the sign-out.
kuid=$(id -u) kgid=$(id -g)
as_kiosk() { "$@"; }
helper=$build/git-credential-soundcloud
if [ "$kuid" = 0 ]; then
	# The checkout may be where the user cannot reach (/root is 0700): the user runs a copy.
	helper=$k/git-credential-soundcloud
	install -m 755 "$build/git-credential-soundcloud" "$helper"
	kuid=4242 kgid=4242
	chown "$kuid:$kgid" "$k/home"
	chmod 755 "$work" "$k"
	chmod a+rX "$(dirname "$SANDBOX_CA")"
	chmod a+r "$SANDBOX_CA"
	as_kiosk() { setpriv --reuid="$kuid" --regid="$kgid" --clear-groups "$@"; }
fi
printf 'kiosk:x:%s:%s:Kiosk:%s:/bin/sh\n' "$kuid" "$kgid" "$k/home" >"$k/passwd"
printf 'kiosk:x:%s:\n' "$kgid" >"$k/group"
# The module's own process (root) needs an entry too, nss_wrapper being all there is.
[ "$(id -u)" != 0 ] || printf 'root:x:0:0:root:%s:/bin/sh\n' "$work/home" >>"$k/passwd"
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
# Enter at the module's prompt once the browser is done (the file "entered").
{ while [ ! -e "$k/entered" ]; do sleep 0.05; done; echo; } |
	pam authenticate acct_mgmt open_session close_session >"$k/out" 2>&1 &
pid=$!
# Whatever happens, the held session ends with the script.  (Opened read-write, a FIFO never
# blocks the writer, even when the holder is gone.)
logout() { printf 'go\n' 1<>"$k/logout"; }
trap 'logout 2>/dev/null || true' EXIT
url=
for _ in $(seq 300); do
	# The URL in the module's message, in short lines (pam_soundcloud(8)): joined up to the line
	# that says to press Enter.
	grep -q 'Press Enter here' "$k/out" && url=$(awk '!on && /^https:\/\// { on = 1 }
		on && (/ / || $0 == "") { exit } on { printf "%s", $0 }' "$k/out")
	[ -z "$url" ] || break
	sleep 0.05
done
[ -n "$url" ] || { echo "demo: no URL from the module" >&2; cat "$k/out" >&2; exit 1; }
say "The kiosk's screen shows the URL (with qr also a QR code for a phone); a scripted"
say "browser opens it and the sandbox's approval redirects back to the module's listener."
"$top/tests/lib/browser" "$url" &
browser=$!
: >"$k/entered"
wait "$browser" || { echo "demo: the browser failed" >&2; exit 1; }
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
grep -v '^client_secret' "$k/soundcloud-auth.conf" >"$k/status.conf"   # status needs no secret
chmod 644 "$k/status.conf"
as_kiosk env -u XDG_CONFIG_HOME HOME="$k/home" XDG_STATE_HOME="$k/home/.local/state" \
	SOUNDCLOUD_AUTH_CONFIG="$k/status.conf" "$helper" status |
	sed 's/^/     /'

before=$(signouts)
say "The person logs out: the login program closes the session (wipe: sign out, erase)."
logout
wait "$pid"
grep -v '^PWRAP_' "$k/out" | tail -n +"$((shown + 1))" | sed 's/^/     /'
[ -e "$store" ] || say "The user's tokens are gone from the kiosk."
say "sign-out requests at the server for this logout: $(($(signouts) - before))"
