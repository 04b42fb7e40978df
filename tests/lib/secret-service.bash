# secret-service.bash - a Secret Service of the test's own, for the store = secret-service
# tests: a private D-Bus session bus (with a configuration of ours: no service activation, so
# nothing of the machine's desktop starts on it) and gnome-keyring-daemon serving
# org.freedesktop.secrets on it, unlocked with a password on stdin.  The keyring files live in
# $XDG_DATA_HOME/keyrings, so they are the test's own, and outlive a restart of both.
#
#   ss_start DIR      start the bus (its socket, config and pid under DIR) and the keyring
#   ss_stop           stop both; safe to call twice
#   ss_bus_start DIR / ss_keyring_start / ss_keyring_stop / ss_bus_stop   the halves
#   ss_keyring_start_locked   the daemon over the existing keyring files, never unlocked (as
#                     after a reboot into an automatic desktop login)
#   ss_reboot_locked  stop both, a fresh runtime directory, then bus + ss_keyring_start_locked
#
# Exports DBUS_SESSION_BUS_ADDRESS.  The keyring password is in $SS_DIR/password.

SS_KEYRING_PASSWORD_TEXT=${SS_KEYRING_PASSWORD_TEXT:-keyring-password-$$}
SS_WAIT_DEADLINE_MS=${SS_WAIT_DEADLINE_MS:-10000}

ss_now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

# ss_until DESCRIPTION COMMAND...: polls COMMAND until it succeeds, up to the deadline.
ss_until() {
	local what=$1 deadline
	shift
	deadline=$(($(ss_now_ms) + SS_WAIT_DEADLINE_MS))
	until "$@" >/dev/null 2>&1; do
		if (($(ss_now_ms) > deadline)); then
			echo "secret-service.bash: timed out waiting for $what" >&2
			return 1
		fi
		sleep 0.02
	done
}

ss_name_owned() {
	dbus-send --session --print-reply --reply-timeout=2000 --dest=org.freedesktop.DBus / \
		org.freedesktop.DBus.NameHasOwner "string:$1" 2>/dev/null | grep -q 'boolean true'
}

ss_bus_start() {
	SS_DIR=$1
	mkdir -p "$SS_DIR"
	chmod 700 "$SS_DIR"
	cat >"$SS_DIR/bus.conf" <<-CONF
	<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
	 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
	<busconfig>
	  <type>session</type>
	  <listen>unix:path=$SS_DIR/bus</listen>
	  <auth>EXTERNAL</auth>
	  <policy context="default">
	    <allow send_destination="*" eavesdrop="true"/>
	    <allow eavesdrop="true"/>
	    <allow own="*"/>
	  </policy>
	</busconfig>
	CONF
	rm -f "$SS_DIR/bus"
	# --fork returns once the bus listens; its address and pid come back on fds 4 and 5.
	dbus-daemon --config-file="$SS_DIR/bus.conf" --fork --print-address=4 --print-pid=5 \
		4>"$SS_DIR/bus.address" 5>"$SS_DIR/bus.pid" 3>&- 2>"$SS_DIR/bus.log" || {
		echo "secret-service.bash: dbus-daemon did not start: $(<"$SS_DIR/bus.log")" >&2
		return 1
	}
	SS_BUS_PID=$(<"$SS_DIR/bus.pid")
	DBUS_SESSION_BUS_ADDRESS=$(head -n 1 "$SS_DIR/bus.address")
	export DBUS_SESSION_BUS_ADDRESS SS_DIR SS_BUS_PID
	printf '%s' "$SS_KEYRING_PASSWORD_TEXT" >"$SS_DIR/password"
}

ss_keyring_start() {
	: "${XDG_DATA_HOME:?set XDG_DATA_HOME first}"
	mkdir -p "$XDG_DATA_HOME"
	# --unlock reads the password of the login keyring from stdin (and creates the keyring
	# with it the first time); --foreground keeps it our child, so that we can stop it.
	gnome-keyring-daemon --foreground --unlock --components=secrets <"$SS_DIR/password" \
		>"$SS_DIR/keyring.out" 2>"$SS_DIR/keyring.log" 3>&- &
	SS_KEYRING_PID=$!
	export SS_KEYRING_PID
	ss_until "gnome-keyring-daemon on the bus" ss_name_owned org.freedesktop.secrets || {
		echo "secret-service.bash: keyring log: $(<"$SS_DIR/keyring.log")" >&2
		return 1
	}
	# The login keyring is created and unlocked asynchronously; wait until it is the default.
	ss_until "the unlocked login keyring" ss_unlocked
}

# The daemon as a desktop starts it when no login password reached it (an automatic login, a
# session started without PAM's gnome-keyring hook): no --unlock, so the login keyring is read
# from its file and stays locked, and only its attributes (hashed) are known until it is unlocked.
ss_keyring_start_locked() {
	: "${XDG_DATA_HOME:?set XDG_DATA_HOME first}"
	[[ -f $XDG_DATA_HOME/keyrings/login.keyring ]] || {
		echo "secret-service.bash: no login keyring to start over" >&2
		return 1
	}
	gnome-keyring-daemon --foreground --components=secrets </dev/null \
		>"$SS_DIR/keyring.out" 2>"$SS_DIR/keyring.log" 3>&- &
	SS_KEYRING_PID=$!
	export SS_KEYRING_PID
	ss_until "gnome-keyring-daemon on the bus" ss_name_owned org.freedesktop.secrets &&
		ss_until "the locked login keyring" ss_locked || {
		echo "secret-service.bash: keyring log: $(<"$SS_DIR/keyring.log")" >&2
		return 1
	}
}

ss_reboot_locked() {
	ss_stop
	ss_runtime_umount
	ss_runtime_mount
	ss_bus_start "$1" && ss_keyring_start_locked
}

ss_unlocked() {
	[[ $("$BUILD/tests/keyring-ctl" locked 2>/dev/null) == false ]]
}

ss_keyring_stop() {
	if [[ -n ${SS_KEYRING_PID:-} ]]; then
		kill -CONT "$SS_KEYRING_PID" 2>/dev/null
		kill "$SS_KEYRING_PID" 2>/dev/null
		wait "$SS_KEYRING_PID" 2>/dev/null
		SS_KEYRING_PID=
	fi
	return 0
}

ss_bus_stop() {
	if [[ -n ${SS_BUS_PID:-} ]]; then
		kill "$SS_BUS_PID" 2>/dev/null
		# Not our child (it forked): wait for it by polling.
		ss_until "dbus-daemon to exit" ss_gone "$SS_BUS_PID" || kill -9 "$SS_BUS_PID" 2>/dev/null
		SS_BUS_PID=
	fi
	return 0
}

# ss_gone PID: the process has exited (a zombie that init has yet to reap counts as gone).
ss_gone() {
	local state
	state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 0
	[[ -z $state || $state == Z ]]
}

ss_start() {
	ss_bus_start "$1" && ss_keyring_start
}

ss_stop() {
	ss_keyring_stop
	ss_bus_stop
	unset DBUS_SESSION_BUS_ADDRESS
	return 0
}

ss_lock() {
	"$BUILD/tests/keyring-ctl" lock && ss_until "the keyring to lock" ss_locked
}

ss_locked() {
	[[ $("$BUILD/tests/keyring-ctl" locked 2>/dev/null) == true ]]
}

ss_unlock() {
	"$BUILD/tests/keyring-ctl" unlock <"$SS_DIR/password" && ss_until "the keyring to unlock" ss_unlocked
}

# ss_runtime_mount: $XDG_RUNTIME_DIR as a fresh tmpfs of the test's own, mode 0700, as a login
# session has it (root only: CI runs as root).
ss_runtime_mount() {
	export XDG_RUNTIME_DIR="$BATS_TEST_TMPDIR/run"
	mkdir -p "$XDG_RUNTIME_DIR"
	mount -t tmpfs -o size=1m,mode=0700 tmpfs "$XDG_RUNTIME_DIR" ||
		fail "cannot mount a tmpfs on $XDG_RUNTIME_DIR (these tests need root, as CI has)"
}

ss_runtime_umount() {
	if [[ -n ${XDG_RUNTIME_DIR:-} ]] && mountpoint -q "$XDG_RUNTIME_DIR"; then
		umount -l "$XDG_RUNTIME_DIR"
	fi
	return 0
}

# For a test of store = secret-service: keyring files under the test's HOME, a runtime
# directory in memory, and the Secret Service on a bus of the test's own.
ss_setup() {
	export XDG_DATA_HOME="$HOME/.local/share"
	ss_runtime_mount
	ss_start "$BATS_TEST_TMPDIR/ss"
}

ss_teardown() {
	ss_stop
	ss_runtime_umount
}
