# sshd.bash - OpenSSH's sshd as a login program for pam_soundcloud.so: a private sshd on
# 127.0.0.1 with its own config, host key and PID file, and a PAM service of its own, driven by
# the real ssh client, whose keyboard-interactive prompts an askpass program answers as the person
# at the screen would.  Load it after common.bash and pam.bash:
#
#   load '../lib/common'
#   load '../lib/pam'
#   load '../lib/sshd'
#
# Needs root (sshd switches to the user, and reads /etc/pam.d), openssh-server and
# openssh-client (scripts/deps installs them without starting the system's sshd).  Nothing of the
# system's sshd is touched: not /etc/ssh, not ssh.service.  The service is
# /etc/pam.d/sshd-scauth-ID, removed by sshd_stop.  How sshd is told its name depends on the
# release.  Up to 9.7 sshd takes it from its program name (__progname), so it runs through a link
# named sshd-scauth-ID.  From 9.8 the connection runs in sshd-session (and from 10.0 also
# sshd-auth), whose program name is not ours: the name is the sshd_config option PAMServiceName
# (default "sshd", the system's /etc/pam.d/sshd), which we set when this sshd knows it.

SSHD_BIN=${SSHD_BIN:-/usr/sbin/sshd}
SSHD_WAIT=${SSHD_WAIT:-20}   # seconds for sshd to listen, and to go

# sshd_skip_reason: why this machine cannot run the suite (empty: it can).
sshd_skip_reason() {
	[[ $EUID -eq 0 ]] || { echo "needs root (sshd switches to the kiosk user)"; return; }
	[[ -x $SSHD_BIN ]] || { echo "no $SSHD_BIN (scripts/deps installs openssh-server)"; return; }
	command -v ssh >/dev/null || { echo "no ssh client (openssh-client)"; return; }
	[[ -d /etc/pam.d ]] || echo "no /etc/pam.d"
}

# _sshd_wait_log PATTERN: waits (bounded) until sshd's log has a line matching PATTERN.
_sshd_wait_log() {
	local i
	for ((i = 0; i < SSHD_WAIT * 20; i++)); do
		grep -q -- "$1" "$SSHD_DIR/sshd.log" 2>/dev/null && return 0
		kill -0 "$SSHD_PID" 2>/dev/null || break
		sleep 0.05
	done
	return 1
}

# sshd_start PAM-LINES...: a private sshd on 127.0.0.1:SSHD_PORT whose PAM service holds the
# given lines (MODULE is our module's path, as in pam_service).  Sets SSHD_DIR, SSHD_PORT,
# SSHD_PID, SSHD_SERVICE.
sshd_start() {
	local line
	SSHD_DIR=$(mktemp -d /tmp/scauth-sshd.XXXXXX) || return 1
	chmod 755 "$SSHD_DIR"
	SSHD_SERVICE=sshd-scauth-$(random_id | cut -c1-12)
	SSHD_PORT=$(free_port)
	export SSHD_DIR SSHD_PORT SSHD_SERVICE
	for line in "$@"; do printf '%s\n' "${line//MODULE/$PAM_MODULE}"; done \
		>"/etc/pam.d/$SSHD_SERVICE"
	ssh-keygen -q -t ed25519 -N '' -C scauth-test -f "$SSHD_DIR/host_ed25519" || return 1
	cat >"$SSHD_DIR/sshd_config" <<-EOF
		ListenAddress 127.0.0.1:$SSHD_PORT
		HostKey $SSHD_DIR/host_ed25519
		PidFile $SSHD_DIR/sshd.pid
		UsePAM yes
		KbdInteractiveAuthentication yes
		PasswordAuthentication no
		PubkeyAuthentication no
		AuthenticationMethods keyboard-interactive
		AuthorizedKeysFile none
		PermitRootLogin no
		AllowUsers $KIOSK_USER
		LoginGraceTime 60
		UseDNS no
		PrintMotd no
		PrintLastLog no
		X11Forwarding no
		AllowTcpForwarding no
		LogLevel VERBOSE
	EOF
	# sshd's privilege separation directory, as the package's tmpfiles.d makes it at boot.
	[[ -d /run/sshd ]] || mkdir -m 755 /run/sshd
	# OpenSSH 9.8 and later: the service by name (an older sshd refuses the option; it takes the
	# link's name below).  Without it sshd-session would use /etc/pam.d/sshd, the system's.
	if "$SSHD_BIN" -t -f "$SSHD_DIR/sshd_config" -o "PAMServiceName=$SSHD_SERVICE" 2>/dev/null; then
		echo "PAMServiceName $SSHD_SERVICE" >>"$SSHD_DIR/sshd_config"
	fi
	# sshd wants an absolute path (it re-executes itself); the link's name is the PAM service.
	ln -s "$SSHD_BIN" "$SSHD_DIR/$SSHD_SERVICE"
	# An ASan-built module needs the ASan runtime first in sshd, which is not instrumented.
	local preload=
	if readelf -d "$PAM_MODULE" 2>/dev/null | grep -q 'NEEDED.*libasan'; then
		preload=$(readlink -f "$("${CC:-gcc}" -print-file-name=libasan.so)")
	fi
	env ${preload:+LD_PRELOAD="$preload"} ASAN_OPTIONS=detect_leaks=0 \
		"$SSHD_DIR/$SSHD_SERVICE" -D -e -f "$SSHD_DIR/sshd_config" >"$SSHD_DIR/sshd.log" 2>&1 3>&- &
	SSHD_PID=$!
	export SSHD_PID
	_sshd_wait_log "Server listening on 127.0.0.1 port $SSHD_PORT" || {
		echo "sshd_start: sshd did not start; its log:" >&2
		cat "$SSHD_DIR/sshd.log" >&2
		return 1
	}
}

# sshd_stop: ends our sshd (by its PID; its connection children go with it) and removes its
# PAM service and directory.  Safe to call twice and after a failed start.
sshd_stop() {
	local i
	if [[ -n ${SSHD_PID:-} ]]; then
		kill "$SSHD_PID" 2>/dev/null
		for ((i = 0; i < SSHD_WAIT * 20; i++)); do
			kill -0 "$SSHD_PID" 2>/dev/null || break
			sleep 0.05
		done
		kill -KILL "$SSHD_PID" 2>/dev/null
		wait "$SSHD_PID" 2>/dev/null
		unset SSHD_PID
	fi
	[[ -z ${SSHD_SERVICE:-} ]] || rm -f "/etc/pam.d/$SSHD_SERVICE"
	[[ -z ${SSHD_DIR:-} ]] || rm -rf "$SSHD_DIR"
	unset SSHD_SERVICE SSHD_DIR
}

# sshd_askpass: writes SSHD_DIR/askpass, the person at the screen.  ssh hands it each
# keyboard-interactive prompt as its argument: sshd puts the module's message in front of its
# prompt, so that holds the URL (lines from
# https:// on, up to the prompt's own line); the person opens it (the scripted browser, in the
# background: its redirect waits in the module's listen queue until Enter, as a phone's would),
# notes that in
# SSHD_DIR/person.log, and presses Enter (an empty answer).  With a file SSHD_DIR/hold, the
# person first waits (up to SSHD_WAIT seconds) for SSHD_DIR/enter: the test logs in on the
# phone in between, with the code it read in SSHD_DIR/prompts.
sshd_askpass() {
	cat >"$SSHD_DIR/askpass" <<-'EOF'
		#!/bin/bash
		d=$(dirname "$0")
		printf '%s\n' "$1" >>"$d/prompts"
		url=$(printf '%s\n' "$1" | awk '!on && /^https:\/\// { on = 1 }
			on && (/ / || $0 == "") { exit } on { printf "%s", $0 }')
		# ssh reads our answer up to EOF of a pipe whose write end it also leaves open in
		# us above stderr: the browser must not hold it, or Enter waits for the browser.
		for fd in /proc/$$/fd/*; do
			fd=${fd##*/}
			((fd > 2)) && eval "exec $fd>&-"
		done 2>/dev/null
		if [[ -n $url ]]; then
			echo "browser started $(date +%T.%N)" >>"$d/person.log"
			{ "$SCAUTH_BROWSER" "$url" && echo "browser done" ||
				echo "browser failed: $? $(date +%T.%N)"; } >>"$d/person.log" 2>&1 </dev/null &
		fi
		if [[ -e $d/hold ]]; then
			for ((i = 0; i < SSHD_WAIT * 20; i++)); do
				[[ -e $d/enter ]] && break
				sleep 0.05
			done
		fi
		echo "answered $(date +%T.%N)" >>"$d/person.log"; echo
	EOF
	chmod 755 "$SSHD_DIR/askpass"
}

# sshd_login COMMAND: logs in as the kiosk user with the real ssh client (keyboard-interactive
# only, answered by sshd_askpass), runs COMMAND in the session and logs out.  Prints what ssh
# printed (stdout, then stderr) and exits with its status.
sshd_login() {
	local rc=0
	sshd_askpass
	SSH_ASKPASS=$SSHD_DIR/askpass SSH_ASKPASS_REQUIRE=force DISPLAY= SSHD_WAIT=$SSHD_WAIT \
		SCAUTH_BROWSER=$TOP/tests/lib/browser SANDBOX_CA=$SANDBOX_CA \
		timeout -k 5 "$PAM_RUN_TIMEOUT" setsid -w ssh -F /dev/null -T -p "$SSHD_PORT" \
		-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
		-o PreferredAuthentications=keyboard-interactive -o NumberOfPasswordPrompts=1 \
		-o ConnectTimeout=10 -o BatchMode=no \
		"$KIOSK_USER@127.0.0.1" "$1" </dev/null >"$SSHD_DIR/ssh.out" 2>"$SSHD_DIR/ssh.err" ||
		rc=$?
	cat "$SSHD_DIR/ssh.out" "$SSHD_DIR/ssh.err"
	return "$rc"
}

# wait_until CMD...: waits (bounded by SSHD_WAIT) until CMD succeeds: an event that another
# process makes (the sign-out at logout, which sshd's monitor does after the client is gone).
wait_until() {
	local i
	for ((i = 0; i < SSHD_WAIT * 20; i++)); do
		"$@" && return 0
		sleep 0.05
	done
	"$@"
}

# sandbox_live_grants: the number of user grants (authorization_code chains) that the sandbox
# still honours: not signed out, not revoked.
sandbox_live_grants() {
	sandbox_ctl GET chains | node -e '
		let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
			const c = JSON.parse(s).chains.filter((x) => !x.revoked && x.grant !== "client_credentials");
			console.log(c.length);
		});'
}
