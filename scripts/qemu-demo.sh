#!/bin/sh
# The demo against the real firmware core on QEMU's Cortex-M7 (mps2-an500) instead of
# m7sim: starts QEMU with its link on a pty, then m7bridged on it, then a feeder that
# types a line into the captured UART every second, then `m7bridgectl watch`, each once
# the one before is ready. Ctrl-C stops everything and removes the temp dir.
# Usage: scripts/qemu-demo.sh [BUILD_DIR]   (environment: DEMO_NO_BUILD=1 skips the build)
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}

if [ "${DEMO_NO_BUILD:-0}" != 1 ]; then
	scripts/setup-deps.sh
	# Quiet unless it fails; then the end of what it said (ninja prints a compiler's
	# errors on stdout).
	quiet() {
		out=$("$@" 2>&1) && return 0
		echo "$out" | tail -n 30 >&2
		echo "qemu-demo: '$*' failed" >&2
		exit 1
	}
	# build.ninja, not the dir: a set-up cut short by Ctrl-C leaves the dir without it.
	[ -f "$build/build.ninja" ] || quiet meson setup "$build"
	echo "qemu-demo: building (the first build takes a minute or so)"
	quiet ninja -C "$build"
fi
fw="$build/firmware/port/qemu/m7bridge-qemu.elf"
daemon="$build/daemon/m7bridged"
ctl="$build/tools/m7bridgectl"
for p in "$fw" "$daemon" "$ctl"; do
	[ -e "$p" ] || { echo "qemu-demo: $p was not built" >&2; exit 1; }
done

# The traps are set before the temp dir is made: a Ctrl-C in between leaves nothing.
tmp=""
qemu_pid=""
daemon_pid=""
feeder_pid=""
view_pid=""
cleanup() {
	# Ignored, not reset: a second signal (Ctrl-C pressed twice, or the TERM and then the
	# hang-up of a closing ssh session) must not cut the clean-up short.
	trap '' INT TERM HUP
	trap - EXIT
	set +e
	# The viewer, the daemon (it holds the link), the feeder, then QEMU and its bridges.
	for pid in $view_pid $daemon_pid $feeder_pid $qemu_pid; do
		kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	done
	[ -z "$tmp" ] || rm -rf "$tmp"
	echo
	echo "qemu-demo: stopped QEMU, m7bridged and the feeder, removed $tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
tmp=$(mktemp -d "${TMPDIR:-/tmp}/m7bridge-qemu.XXXXXX")

demo_name=qemu-demo
. scripts/demo-common.sh

# 1. QEMU and its pty bridges (own session: Ctrl-C reaches only the viewer; the trap
#    stops it, and run.sh stops QEMU and socat on its way out).
setsid firmware/port/qemu/run.sh "$fw" "$tmp" >"$tmp/qemu.log" 2>&1 &
qemu_pid=$!
wait_for "[ -e '$tmp/ttyRPMSG30' ]" "QEMU's link pty" "$qemu_pid" QEMU

# 2. The daemon on the link; the firmware starts once it opens the pty.
cat >"$tmp/m7bridge.conf" <<CONF
[daemon]
socket = $tmp/m7bridge.sock
log_level = info
kernel_log = off

[channel qemu]
device = $tmp/ttyRPMSG30
port.0 = sensor
# No remoteproc behind QEMU: the ladder keeps to the steps that make sense here.
recovery_steps = resync,reopen
CONF
setsid "$daemon" --foreground --config "$tmp/m7bridge.conf" 2>"$tmp/m7bridged.log" &
daemon_pid=$!
wait_for "[ -S '$tmp/m7bridge.sock' ]" "m7bridged's socket" "$daemon_pid" m7bridged
wait_for "'$ctl' -s '$tmp/m7bridge.sock' status --json 2>/dev/null | grep -q '\"state\":\"up\"'" \
	"channel qemu up" "$daemon_pid" m7bridged

# 3. Something to capture: a line a second on the firmware's UART1.
wait_for "[ -e '$tmp/sensor' ]" "the captured UART's pty" "$qemu_pid" QEMU
(
	n=0
	while sleep 1; do
		n=$((n + 1))
		printf 'sensor line %d\n' "$n" >"$tmp/sensor"
	done
) >/dev/null 2>&1 &
feeder_pid=$!

echo "qemu-demo: QEMU mps2-an500 -> $tmp/ttyRPMSG30 -> m7bridged -> $tmp/m7bridge.sock"
echo "qemu-demo: logs in $tmp/*.log; in another terminal try:"
# Absolute: the commands below are for another terminal, in whatever directory it is.
case $ctl in /*) ctlabs=$ctl ;; *) ctlabs=$PWD/$ctl ;; esac
echo "      $ctlabs -s $tmp/m7bridge.sock status"
echo "      $ctlabs -s $tmp/m7bridge.sock send -p 0 hi   # comes out of $tmp/sensor"
echo "      printf 'hello' > $tmp/sensor              # a FRAME on port 0"
echo "qemu-demo: timestamps are the 25 MHz ticks of QEMU's timer; frames (Ctrl-C stops):"
echo
# In the background under wait: a shell runs its traps only once a foreground command
# has ended, so `kill` or a hang-up would otherwise wait for the viewer.
"$ctl" -s "$tmp/m7bridge.sock" watch &
view_pid=$!
wait "$view_pid" || true
# Here the viewer ended by itself (a signal runs the trap instead): the daemon went away.
# Show the logs now, before the clean-up removes them with the temp dir.
view_pid=""
echo "qemu-demo: the viewer ended; the end of the logs:" >&2
show_logs
exit 1
