#!/bin/sh
# The main job on one machine: sets up and builds m7bridge, starts the simulated M7
# (m7sim, on a pty) and m7bridged with a configuration in a temp dir, and shows the
# frames arriving live. Ctrl-C stops everything and removes the temp dir.
# Usage: scripts/demo.sh [BUILD_DIR]   (environment: DEMO_RATE=captures/s, default 4;
# DEMO_NO_BUILD=1 uses what BUILD_DIR already holds: no package check, no build)
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
rate=${DEMO_RATE:-4}

start=$(date +%s)
no_build=${DEMO_NO_BUILD:-0}
[ "$no_build" = 1 ] || { echo "demo: checking the Debian packages"; scripts/setup-deps.sh; }

# Shows the build's progress on one line: a first build takes a while on a small machine.
# The line is cut to the terminal's width: a wrapped line cannot be redrawn in place.
cols=$(stty size 2>/dev/null | cut -d' ' -f2)
[ "${cols:-0}" -gt 10 ] 2>/dev/null || cols=80
build_log=$(mktemp "${TMPDIR:-/tmp}/m7bridge-build.XXXXXX")
# Ctrl-C during the build must not leave the log behind, nor the step running (a
# background `meson setup` ignores SIGINT).
step_pid=""
trap '[ -z "$step_pid" ] || kill "$step_pid" 2>/dev/null; rm -f "$build_log"' EXIT
trap 'exit 130' INT TERM HUP
run_step() {
	label=$1
	shift
	"$@" >"$build_log" 2>&1 &
	step_pid=$!
	[ -t 1 ] || echo "demo: $label"
	while kill -0 "$step_pid" 2>/dev/null; do
		step=$(grep -o '^\[[0-9]*/[0-9]*\]' "$build_log" | tail -n 1)
		[ -t 1 ] && printf '\r%-*.*s' $((cols - 1)) $((cols - 1)) \
			"demo: $label $step ($(($(date +%s) - start))s)"
		sleep 0.5
	done
	step_rc=0
	wait "$step_pid" || step_rc=$?
	step_pid=""
	if [ "$step_rc" -ne 0 ]; then
		echo
		tail -n 30 "$build_log" >&2
		rm -f "$build_log"
		echo "demo: $label failed" >&2
		exit 1
	fi
}
if [ "$no_build" = 1 ]; then
	:
elif [ -f "$build/build.ninja" ]; then
	: # ninja runs meson again by itself when a build file changed
else
	run_step "configuring $build (first time)" meson setup "$build"
fi
[ "$no_build" = 1 ] || run_step "building" ninja -C "$build"
rm -f "$build_log"
if [ -t 1 ]; then printf '\r%*s\r' $((cols - 1)) ""; fi
echo "demo: built in $(($(date +%s) - start))s"

m7sim="$build/firmware/m7sim"
daemon="$build/daemon/m7bridged"
ctl="$build/tools/m7bridgectl"
for p in "$m7sim" "$daemon"; do
	[ -x "$p" ] || { echo "demo: $p was not built" >&2; exit 1; }
done

# The traps are set before the temp dir is made: a Ctrl-C in between leaves nothing.
tmp=""
sim_pid=""
daemon_pid=""
view_pid=""
cleanup() {
	# Ignored, not reset: a second signal (Ctrl-C pressed twice, or the TERM and then the
	# hang-up of a closing ssh session) must not cut the clean-up short.
	trap '' INT TERM HUP
	trap - EXIT
	# A process already gone is no reason to stop cleaning up.
	set +e
	[ -n "$view_pid" ] && kill "$view_pid" 2>/dev/null && wait "$view_pid" 2>/dev/null
	# They do not see Ctrl-C (own session): stop them explicitly, daemon first.
	[ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
	[ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null
	[ -z "$tmp" ] || rm -rf "$tmp"
	echo
	echo "demo: stopped m7sim and m7bridged, removed $tmp"
}
trap cleanup EXIT
# A closed terminal (or tmux server) sends HUP: clean up then too.
trap 'exit 130' INT TERM HUP
tmp=$(mktemp -d "${TMPDIR:-/tmp}/m7bridge-demo.XXXXXX")

demo_name=demo
. scripts/demo-common.sh

# A fake remoteproc sysfs tree, so `m7bridgectl reload` and the remoteproc step of the
# recovery ladder really run: m7sim plays the kernel behind it (--remoteproc), answering
# the daemon's writes to `state`: stop -> offline, the link gone; start -> the M7 boots
# the image `firmware` names, with a new boot_id, on a new tty node -> running.
rproc="$tmp/sys/class/remoteproc/remoteproc0"
mkdir -p "$rproc" "$tmp/sys/devices/imx8mp-cm7"
echo imx-rproc >"$rproc/name"
echo running >"$rproc/state"
echo m7sim.elf >"$rproc/firmware"
ln -s ../../../devices/imx8mp-cm7 "$rproc/device"
# The firmware file the daemon reads the build-id from before a reload: m7sim's own ELF,
# which is the identity the simulated M7 reports.
mkdir -p "$tmp/firmware" "$tmp/state"
ln -s "$(realpath "$m7sim")" "$tmp/firmware/m7sim.elf"

# The simulated M7: a console text stream on port 0, NMEA GPS sentences on port 1 (at
# 9600 baud, like a real receiver), random sensor bytes on port 2, and on port 3 a
# loop-back UART whose `send` bytes come back as captures. A heartbeat every second.
# m7sim and m7bridged run in their own session so Ctrl-C reaches only the viewer; the
# trap then stops them in order.
setsid "$m7sim" --link "$tmp/ttyRPMSG30" --ctl "$tmp/m7sim.ctl" --remoteproc "$rproc" \
	--source "0:rate=$rate,pattern=text" \
	--source "1:rate=1,pattern=nmea,baud=9600" \
	--source "2:rate=1,pattern=random,size=4-12" \
	--source "3:rate=0,loop=1" \
	>"$tmp/m7sim.log" 2>&1 &
sim_pid=$!
wait_for "grep -q 'm7sim: link' '$tmp/m7sim.log' 2>/dev/null" "m7sim's link" "$sim_pid" m7sim

cat >"$tmp/m7bridge.conf" <<CONF
[daemon]
socket = $tmp/m7bridge.sock
log_level = info
incident_dir = $tmp/incidents
sysfs_root = $tmp/sys
firmware_dir = $tmp/firmware
state_dir = $tmp/state
kernel_log = off

[channel m7]
device = $tmp/ttyRPMSG30
port.0 = console
port.1 = gps
port.2 = sensor
port.3 = loop
remoteproc = imx-rproc
firmware = m7sim.elf
# A PC has no imx_rpmsg_tty module to reload: the ladder skips the driver step.
recovery_steps = resync,reopen,remoteproc
CONF
setsid "$daemon" --foreground --config "$tmp/m7bridge.conf" 2>"$tmp/m7bridged.log" &
daemon_pid=$!
wait_for "[ -S '$tmp/m7bridge.sock' ]" "m7bridged's socket" "$daemon_pid" m7bridged

# Absolute: the commands below are for another terminal, in whatever directory it is.
case $ctl in /*) ctlabs=$ctl ;; *) ctlabs=$PWD/$ctl ;; esac
ctlcmd="$ctlabs -s $tmp/m7bridge.sock"
echo "demo: m7sim -> $tmp/ttyRPMSG30 -> m7bridged -> $tmp/m7bridge.sock"
echo "demo: logs in $tmp/*.log; in another terminal try:"
echo "      $ctlcmd top                          # live health view"
echo "      $ctlcmd send -p 3 hello              # port 3 loops it back"
echo "      $ctlcmd reload                       # remoteproc stop/start: a new boot"
echo "      echo 'stall 5000' > $tmp/m7sim.ctl   # hang the M7: FAULT, recovery"
echo "      echo 'corrupt 3' > $tmp/m7sim.ctl    # 3 frames with a bad CRC"
echo "demo: ready after $(($(date +%s) - start))s; frames as they arrive (Ctrl-C stops everything):"
echo

# The viewer runs in the background and the shell waits for it: a shell runs its traps
# only once a foreground command has ended, so `kill` or a hang-up would otherwise wait
# for the viewer. Ctrl-C reaches the shell; its trap stops the viewer.
if [ -x "$ctl" ]; then
	"$ctl" -s "$tmp/m7bridge.sock" watch &
else
	python3 - "$tmp/m7bridge.sock" <<'PY' &
import base64, json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rwb")
f.write(b'{"cmd":"watch"}\n'); f.flush()
try:
    for line in f:
        o = json.loads(line)
        c = o["class"]
        if c == "FRAME":
            text = base64.b64decode(o["data"]).decode("utf-8", "backslashreplace")
            name = o.get("port_name", str(o["port"]))
            print(f'{o["channel"]}/{name:8} seq {o["seq"]:6} t {o["t_first"]}..{o["t_last"]}  {text!r}')
        elif c in ("STATE", "HELLO", "LOG", "FAULT", "DROPPED"):
            print("--", json.dumps(o))
except KeyboardInterrupt:
    pass
PY
fi
view_pid=$!
wait "$view_pid" || true
# Here the viewer ended by itself (a signal runs the trap instead): the daemon went away.
# Show the logs now, before the clean-up removes them with the temp dir.
view_pid=""
echo "demo: the viewer ended; the end of the logs:" >&2
show_logs
exit 1
