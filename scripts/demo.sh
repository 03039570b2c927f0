#!/bin/sh
# The main job on one machine: sets up and builds m7bridge, starts the simulated M7
# (m7sim, on a pty) and m7bridged with a configuration in a temp dir, and shows the
# frames arriving live. Ctrl-C stops everything and removes the temp dir.
# Usage: scripts/demo.sh [BUILD_DIR]   (environment: DEMO_RATE=captures/s, default 4)
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
rate=${DEMO_RATE:-4}

scripts/setup-deps.sh
if [ -d "$build" ]; then
	meson setup --reconfigure "$build" >/dev/null
else
	meson setup "$build" >/dev/null
fi
ninja -C "$build" >/dev/null

m7sim="$build/firmware/m7sim"
daemon="$build/daemon/m7bridged"
ctl="$build/tools/m7bridgectl"
for p in "$m7sim" "$daemon"; do
	[ -x "$p" ] || { echo "demo: $p was not built" >&2; exit 1; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/m7bridge-demo.XXXXXX")
sim_pid=""
daemon_pid=""
cleanup() {
	trap - EXIT INT TERM
	# They do not see Ctrl-C (own session): stop them explicitly, daemon first.
	[ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
	[ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null
	rm -rf "$tmp"
	echo
	echo "demo: stopped m7sim and m7bridged, removed $tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits up to 10 s for a condition given as a shell command.
wait_for() {
	i=0
	until eval "$1"; do
		i=$((i + 1))
		if [ "$i" -gt 200 ]; then
			echo "demo: timed out waiting for: $2" >&2
			for f in "$tmp"/*.log; do echo "--- $f" >&2; tail -n 20 "$f" >&2; done
			exit 1
		fi
		sleep 0.05
	done
}

# The simulated M7: a text stream on port 0, GPS-like sentences on port 1, random bytes
# on port 2, and a heartbeat every second. m7sim and m7bridged run in their own session so
# Ctrl-C reaches only the viewer; the trap then stops them in order.
setsid "$m7sim" --link "$tmp/ttyRPMSG30" --ctl "$tmp/m7sim.ctl" \
	--source "0:rate=$rate,pattern=text" \
	--source "1:rate=$rate,pattern=text,baud=9600" \
	--source "2:rate=1,pattern=random,size=4-12" \
	>"$tmp/m7sim.log" 2>&1 &
sim_pid=$!
wait_for "grep -q 'm7sim: link' '$tmp/m7sim.log'" "m7sim's link"

cat >"$tmp/m7bridge.conf" <<CONF
[daemon]
socket = $tmp/m7bridge.sock
log_level = info
incident_dir = $tmp/incidents

[channel m7]
device = $tmp/ttyRPMSG30
port.0 = console
port.1 = gps
port.2 = sensor
# A PC has no remoteproc and no imx_rpmsg_tty: keep the ladder to the steps that
# make sense against the simulator.
recovery_steps = resync,reopen
CONF
setsid "$daemon" --foreground --config "$tmp/m7bridge.conf" 2>"$tmp/m7bridged.log" &
daemon_pid=$!
wait_for "[ -S '$tmp/m7bridge.sock' ]" "m7bridged's socket"

echo "demo: m7sim -> $tmp/ttyRPMSG30 -> m7bridged -> $tmp/m7bridge.sock"
echo "demo: logs in $tmp/*.log; in another terminal try:"
echo "      $ctl -s $tmp/m7bridge.sock status"
echo "      echo 'stall 5000' > $tmp/m7sim.ctl    # hang the M7: FAULT, recovery, frames again"
echo "      echo 'reboot' > $tmp/m7sim.ctl        # the M7 restarts: a new HELLO"
echo "demo: frames as they arrive (Ctrl-C stops everything):"
echo

if [ -x "$ctl" ]; then
	"$ctl" -s "$tmp/m7bridge.sock" watch || true
else
	python3 - "$tmp/m7bridge.sock" <<'PY' || true
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
