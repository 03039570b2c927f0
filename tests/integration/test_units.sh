#!/bin/bash
# Checks the systemd units, sysusers.d and tmpfiles.d entries offline: systemd-analyze
# verify and security (exposure must stay low), sysusers/tmpfiles applied to a temp root.
# Usage: test_units.sh SERVICE SOCKET SYSUSERS TMPFILES [DAEMON]
set -u
service=$1 socket=$2 daemon=${5:-}
# --root resolves relative config paths inside the root: make them absolute.
sysusers=$(realpath "$3") tmpfiles=$(realpath "$4")
max_exposure=${M7B_MAX_EXPOSURE:-1.5}
fails=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ok() { echo "ok - $*"; }
bad() { echo "not ok - $*"; fails=$((fails + 1)); }

command -v systemd-analyze >/dev/null || { echo "SKIP: no systemd-analyze"; exit 77; }

# verify wants ExecStart= to exist: point it at the built daemon (or true) in a copy.
exe=$(realpath "${daemon:-$(command -v true)}" 2>/dev/null)
[ -x "$exe" ] || exe=$(command -v true)
sed "s|^ExecStart=.*|ExecStart=$exe|" "$service" >"$tmp/m7bridged.service"
cp "$socket" "$tmp/m7bridged.socket"
if out=$(systemd-analyze verify --man=no "$tmp/m7bridged.service" "$tmp/m7bridged.socket" 2>&1) &&
	[ -z "$(echo "$out" | grep -v -e '^$' -e 'Failed to create .*control group' -e 'Cannot add dependency job' -e 'sockets.target' -e 'multi-user.target')" ]; then
	ok "systemd-analyze verify"
else
	bad "systemd-analyze verify: $out"
fi
grep -q '^Type=notify$' "$service" && grep -q '^WatchdogSec=' "$service" &&
	grep -q '^Restart=on-failure$' "$service" && ok "Type=notify, WatchdogSec, Restart" ||
	bad "service lacks Type=notify/WatchdogSec/Restart=on-failure"
# Exit statuses the man page lists besides 0 and 1 (usage, configuration, --user) come
# back at every try: Restart=on-failure must not retry them.
man=${M7B_SOURCE_ROOT:-}/docs/man/m7bridged.8.scd
if [ -r "$man" ]; then
	codes=$(sed -n '/^# EXIT STATUS/,/^# /p' "$man" | grep -o '\b[0-9][0-9]\b' | sort -u)
	prevent=" $(sed -n 's/^RestartPreventExitStatus=//p' "$service" | tr '\n' ' ') "
	missing=
	for c in $codes; do [[ $prevent == *" $c "* ]] || missing="$missing $c"; done
	if [ -n "$codes" ] && [ -z "$missing" ]; then
		ok "RestartPreventExitStatus holds the statuses no retry changes:" $codes
	else
		bad "Restart=on-failure retries exit statuses that fail again:${missing:- none found in $man}"
	fi
else
	echo "# no source tree: exit statuses not checked against RestartPreventExitStatus"
fi
grep -q '^ListenStream=/run/m7bridge/m7bridge.sock$' "$socket" && ok "socket path" ||
	bad "socket path differs from the protocol's default"

# Exposure: "→ Overall exposure level for m7bridged.service: 1.5 OK"
sec=$(systemd-analyze security --offline=yes "$tmp/m7bridged.service" 2>&1)
level=$(echo "$sec" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
if [ -n "$level" ] && awk -v l="$level" -v m="$max_exposure" 'BEGIN { exit !(l <= m) }'; then
	ok "systemd-analyze security: exposure $level (limit $max_exposure)"
else
	bad "systemd-analyze security: exposure '${level:-?}' above $max_exposure"
	echo "$sec" | grep '✗' | sed 's/^/#   /'
fi

# Privilege separation: the main process runs as m7bridge, with the helper's two
# capabilities only, and the daemon is told which user it is meant to be.
grep -q '^User=m7bridge$' "$service" && grep -q '^ExecStart=.*--user m7bridge' "$service" &&
	grep -q '^CapabilityBoundingSet=CAP_SYS_MODULE CAP_DAC_OVERRIDE$' "$service" &&
	ok "runs as m7bridge (--user m7bridge), bounding set CAP_SYS_MODULE CAP_DAC_OVERRIDE" ||
	bad "unit: User=m7bridge / --user m7bridge / capabilities"

# No device allow-list: systemd resolves DeviceAllow= majors when the service starts, and
# NXP's imx_rpmsg_tty registers a major per channel only when the M7 announces it, which
# the daemon's own autostart, remoteproc restart and driver reload cause. A list would
# refuse the daemon the tty it has just recovered (open() fails with EPERM).
if grep -Eq '^DevicePolicy=(closed|strict)' "$service"; then
	bad "DevicePolicy= closes devices: a ttyRPMSG registered after the start is refused"
else
	ok "no device allow-list: a ttyRPMSG registered after the start can be opened"
fi

# A call to the privileged helper blocks the event loop, and so the watchdog pings that
# come from it every WatchdogSec/2: its timeout must end within the half that is left,
# or a stuck helper gets the daemon killed by the watchdog instead of an error it handles.
hdr=${M7B_SOURCE_ROOT:-}/daemon/privsep.h
if [ -r "$hdr" ]; then
	call_ms=$(sed -n 's/^#define PRIVSEP_CALL_MS *\([0-9]*\).*/\1/p' "$hdr")
	wd_s=$(sed -n 's/^WatchdogSec=\([0-9]*\)s$/\1/p' "$service")
	if [ -n "$call_ms" ] && [ -n "$wd_s" ] && [ "$call_ms" -lt $((wd_s * 1000 / 2)) ]; then
		ok "helper calls time out (${call_ms} ms) within half of WatchdogSec (${wd_s} s)"
	else
		bad "PRIVSEP_CALL_MS '${call_ms:-?}' not below half of WatchdogSec '${wd_s:-?}' s"
	fi
else
	echo "# no source tree: helper call timeout not checked against WatchdogSec"
fi

# The system call filter against what the daemon really calls: the unit's allow list
# (SystemCallFilter= lines in order: a list adds, ~list removes), expanded with
# systemd-analyze, must hold every call of a daemon run with its privileged helper
# (start with a socket group and a pty, a client, SIGHUP, SIGTERM) traced with strace. A call outside it fails with
# EPERM under the unit (SystemCallErrorNumber=EPERM), e.g. the capset() of the drop.
declare -A expanded
expand() {
	local n x
	for n in "$@"; do
		case $n in
		@*)
			if [ -z "${expanded[$n]+x}" ]; then
				expanded[$n]=$(systemd-analyze syscall-filter "$n" 2>/dev/null |
					sed -n '2,$p' | sed 's/#.*//; s/^ *//' | grep -v '^$' |
					while read -r x; do expand "$x"; done)
			fi
			echo "${expanded[$n]}"
			;;
		*) echo "$n" ;;
		esac
	done
}
# A cross-built daemon (arm64 under qemu-user) does not run natively: strace cannot start it.
if [ -n "$daemon" ] && [ -x "$daemon" ] && ! "$daemon" -V >/dev/null 2>&1; then
	echo "# $daemon does not run on this machine: system call filter not checked against a run"
elif [ -n "$daemon" ] && [ -x "$daemon" ] && command -v strace >/dev/null; then
	declare -A allowed
	while IFS= read -r v; do
		v=${v#SystemCallFilter=}
		if [ "${v:0:1}" = "~" ]; then
			# shellcheck disable=SC2086
			for s in $(expand ${v:1}); do unset "allowed[$s]"; done
		else
			# shellcheck disable=SC2086
			for s in $(expand $v); do allowed[$s]=1; done
		fi
	done < <(grep '^SystemCallFilter=' "$service")
	mkdir -p "$tmp/run"
	cat >"$tmp/run/m7bridge.conf" <<-EOF
		[daemon]
		socket = $tmp/run/m7bridge.sock
		socket_group = $(id -gn)
		user = $(id -un)
		$([ "$(id -u)" = 0 ] && echo 'allow_root_user = true')
		[channel m7]
		device = $tmp/run/ttyRPMSG30
		hook = true
		pty = $tmp/run/ttyM7
		pty_group = $(id -gn)
	EOF
	# A pty stands in for the tty, so the run opens it as on the board: the second open
	# through /proc/self/fd, the reader and writer threads, the real-time signal that
	# stops the reader at the close.
	holder=
	if command -v python3 >/dev/null; then
		python3 -c '
import os, pty, sys, time, tty
m, s = pty.openpty()
tty.setraw(m)
os.symlink(os.ttyname(s), sys.argv[1])
os.close(s)
os.set_blocking(m, False)
while True:
    try:
        os.read(m, 65536)
    except OSError:
        pass
    time.sleep(0.02)
' "$tmp/run/ttyRPMSG30" &
		holder=$!
		for _ in $(seq 100); do [ -L "$tmp/run/ttyRPMSG30" ] && break; sleep 0.05; done
	fi
	strace -f -qq -o "$tmp/run/trace" "$daemon" -f -c "$tmp/run/m7bridge.conf" \
		>"$tmp/run/daemon.log" 2>&1 &
	spid=$!
	for _ in $(seq 100); do [ -S "$tmp/run/m7bridge.sock" ] && break; sleep 0.05; done
	dpid=$(pgrep -o -P "$spid")
	if command -v socat >/dev/null; then
		echo '{"cmd":"status"}' | timeout 5 socat - "UNIX-CONNECT:$tmp/run/m7bridge.sock" \
			>/dev/null 2>&1
	fi
	[ -n "$dpid" ] && kill -HUP "$dpid" && sleep 0.3 && kill -TERM "$dpid"
	wait "$spid"
	[ -n "$holder" ] && kill "$holder" && wait "$holder" 2>/dev/null
	used=$( (sed -n 's/^[0-9]* *\([a-z0-9_]*\)(.*/\1/p' "$tmp/run/trace"
		sed -n 's/^[0-9]* *<\.\.\. \([a-z0-9_]*\) resumed>.*/\1/p' "$tmp/run/trace") |
		sort -u)
	missing=
	for s in $used; do [ -n "${allowed[$s]+x}" ] || missing="$missing $s"; done
	if [ -n "$holder" ]; then
		if grep -q 'clone[3]*(.*CLONE_THREAD' "$tmp/run/trace" &&
			grep -q 'tgkill(' "$tmp/run/trace" &&
			grep -q 'open.*"/proc/self/fd/' "$tmp/run/trace"; then
			ok "the traced run opened the tty: threads, /proc/self/fd, a signal to a thread"
		else
			bad "the traced run made no thread, no /proc/self/fd open or no signal to a thread"
		fi
	fi
	if [ -z "$used" ] || ! grep -q 'listening on' "$tmp/run/daemon.log"; then
		bad "daemon under strace did not run: $(cat "$tmp/run/daemon.log")"
	elif [ -z "$missing" ]; then
		ok "SystemCallFilter allows every call of the daemon and its helper ($(echo "$used" | wc -w) calls)"
	else
		bad "SystemCallFilter denies calls the daemon makes:$missing"
	fi
else
	echo "# no daemon or no strace: system call filter not checked against a run"
fi

# sysusers and tmpfiles into a temp root: chown needs root, so only as root.
if [ "$(id -u)" -eq 0 ]; then
	mkdir -p "$tmp/root/etc" "$tmp/root/run" "$tmp/root/var/lib"
	if systemd-sysusers --root="$tmp/root" "$sysusers" >"$tmp/sysusers.log" 2>&1 &&
		grep -q '^m7bridge:' "$tmp/root/etc/group" &&
		grep -q '^m7bridge:' "$tmp/root/etc/passwd" &&
		grep -q '^systemd-journal:.*m7bridge' "$tmp/root/etc/group"; then
		ok "sysusers creates user and group m7bridge, in systemd-journal"
	else
		bad "sysusers: $(cat "$tmp/sysusers.log")"
	fi
	gid=$(awk -F: '$1 == "m7bridge" { print $3 }' "$tmp/root/etc/group")
	if systemd-tmpfiles --root="$tmp/root" --create "$tmpfiles" >/dev/null 2>&1 &&
		[ "$(stat -c %g:%a "$tmp/root/run/m7bridge")" = "$gid:755" ] &&
		[ "$(stat -c %g:%a "$tmp/root/var/lib/m7bridge")" = "$gid:750" ] &&
		[ "$(stat -c %g:%a "$tmp/root/var/lib/m7bridge/incidents")" = "$gid:750" ]; then
		ok "tmpfiles creates /run/m7bridge, /var/lib/m7bridge and its incidents/"
	else
		bad "tmpfiles"
	fi
else
	echo "# not root: sysusers/tmpfiles application skipped"
fi

echo "# $fails failed"
[ "$fails" -eq 0 ]
