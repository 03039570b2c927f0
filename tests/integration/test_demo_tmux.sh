#!/bin/sh
# The demo as a newcomer sees it, driven in tmux: stall, corrupt, send and reload are each
# explained on screen, `top` fits an 80x24 terminal, and Ctrl-C cleans up.
# Usage: test_demo_tmux.sh BUILD_DIR SOURCE_DIR
set -u
build=$(cd "$1" && pwd)
src=$2
command -v tmux >/dev/null || { echo "tmux not installed: skip"; exit 77; }

sock="m7demo-test-$$"
tm() { tmux -L "$sock" "$@"; }
fail() {
	echo "FAIL: $*"
	echo "--- demo pane:"
	tm capture-pane -p -J -S -2000 -t demo 2>/dev/null | grep -v "seq=" | tail -n 40
	stop
	exit 1
}
stop() {
	tm send-keys -t demo C-c 2>/dev/null
	sleep 1
	tm kill-server 2>/dev/null
}
trap 'tm kill-server 2>/dev/null' EXIT

# Waits up to $2 s for the demo pane to show a line matching the extended regex $1.
expect() {
	i=0
	while [ "$i" -lt $(($2 * 10)) ]; do
		if tm capture-pane -p -J -S -2000 -t demo | grep -Eq -- "$1"; then
			return 0
		fi
		sleep 0.1
		i=$((i + 1))
	done
	fail "no line matching '$1' within $2 s"
}

# The number of demo pane lines matching the extended regex $1.
count() {
	tm capture-pane -p -J -S -2000 -t demo | grep -Ec -- "$1"
}

# Like expect, but for a line that may have been shown before: waits for one more.
# Usage: expect_more REGEX COMMAND [ARGS]
expect_more() {
	pat=$1
	want=$(($(count "$pat") + 1))
	shift
	"$@"
	i=0
	while [ "$(count "$pat")" -lt "$want" ]; do
		i=$((i + 1))
		[ "$i" -lt 50 ] || fail "no further line matching '$pat' within 5 s"
		sleep 0.1
	done
}

# The build dir as a newcomer names it, relative to the source tree: the commands the demo
# prints must still work from another terminal, in another directory.
relbuild=$(python3 -c 'import os, sys; print(os.path.relpath(sys.argv[1], sys.argv[2]))' \
	"$build" "$(cd "$src" && pwd)")
tm new-session -d -s demo -x 160 -y 50 \
	"cd '$src' && DEMO_NO_BUILD=1 scripts/demo.sh '$relbuild'; echo DEMO-EXIT; sleep 30"
expect 'frames as they arrive' 30
expect 'm7/0\(console\) seq=[0-9]+ len=[0-9]+ "port 0 capture' 10
expect 'm7/1\(gps\) .*"\$GPGGA,' 10
# The GPS source speaks NMEA 0183: the checksum is the XOR of the bytes between $ and *.
gps=$(tm capture-pane -p -J -S -2000 -t demo | sed -n 's/.*m7\/1(gps) .*"\(\$GPGGA[^"]*\)\\r\\n"$/\1/p' | head -n 1)
python3 -c 'import sys, functools
s = sys.argv[1]
body, _, cs = s[1:].partition("*")
sys.exit(functools.reduce(lambda a, c: a ^ ord(c), body, 0) != int(cs, 16))' "$gps" ||
	fail "bad NMEA sentence '$gps'"
dir=$(tm capture-pane -p -J -S -2000 -t demo | sed -n 's/^demo: m7sim -> \(.*\)\/ttyRPMSG30 -> .*/\1/p')
[ -d "$dir" ] || fail "no demo directory in the pane"
ctl="$build/tools/m7bridgectl -s $dir/m7bridge.sock"
printed=$(tm capture-pane -p -J -S -2000 -t demo | sed -n 's/^ *\(.*m7bridgectl -s [^ ]*\) top .*/\1/p' | head -n 1)
[ -n "$printed" ] || fail "the demo printed no m7bridgectl command"
# shellcheck disable=SC2086 # the printed command, word-split as a shell would
(cd / && $printed status >/dev/null) || fail "'$printed status' fails outside the source tree"

# send: one confirmation line, and the bytes come back on the loop-back port.
out=$($ctl send -p 3 "hello-tmux") || fail "send failed: $out"
[ "$out" = "sent 10 bytes to m7 port 3" ] || fail "send said '$out'"
expect 'm7/3\(loop\) seq=[0-9]+ len=10 "hello-tmux"' 5

# corrupt: the lost frames and the bad CRCs are summarised.
echo "corrupt 3" >"$dir/m7sim.ctl"
expect 'm7 3 frames missing \(lost on the link: 3 bad CRC\)' 5
expect 'm7 link noise in the last second: 3 bad CRC' 5

# drop and garbage: frames lost on the way, bytes that were no frame.
echo "drop 2" >"$dir/m7sim.ctl"
expect 'm7 2 frames missing \(lost between the M7 and the daemon\)' 5
re='m7 link noise in the last second: (.*, )?[0-9]+ bytes that were no frame'
expect_more "$re" sh -c "echo 'garbage 64' >'$dir/m7sim.ctl'"

# stall: the fault, the recovery, and the frames held back by it.
late='\[late: held back during a stall or recovery\]'
[ "$(count "$late")" -eq 0 ] || fail "captures marked late before any stall"
echo "stall 6000" >"$dir/m7sim.ctl"
expect 'm7 FAULT stall from liveness' 15
expect 'm7 state recovering' 5
expect 'm7 state up \(recovered\)' 20
expect "$late" 5

# reload: the fake remoteproc tree restarts the M7 with a new boot.
out=$($ctl reload) || fail "reload failed: $out"
expect 'm7 state reloading' 10
expect 'm7 seq reset: new boot \(boot_id [0-9a-f]{8}, was [0-9a-f]{8}\)' 15
# verified (build-id, then the probation) before it counts as up
expect 'm7 state up \(reload' 15

# top: full screen in 80x24, every line within 80 columns, all ports and clients there.
tm new-session -d -s top -x 80 -y 24 "$ctl top; sleep 30"
sleep 1
$ctl -q send -p 3 "again" || fail "send -q failed"
sleep 2.5
screen=$(tm capture-pane -p -t top)
for want in '^m7bridged ' '^m7 +up ' 'gaps' 'PORT +FRAMES/S +BYTES/S' \
	'clock offset -?[0-9]+\.[0-9]{3} ms +drift -?[0-9]+\.[0-9]{3} ppm +uncertainty [0-9]+\.[0-9]{3} ms' \
	'0 console' '1 gps' '3 loop' '^CLIENTS' 'this view' 'q quits'; do
	echo "$screen" | grep -Eq -- "$want" || {
		echo "$screen"
		fail "top lacks '$want'"
	}
done
echo "$screen"
width=$(echo "$screen" | awk '{ if (length($0) > w) w = length($0) } END { print w }')
[ "$width" -le 80 ] || fail "top is $width columns wide"
tm send-keys -t top q
sleep 0.5
tm capture-pane -p -t top | grep -q 'm7bridged ' && fail "top did not quit on q"

# Ctrl-C: everything stops and the temp dir goes.
tm send-keys -t demo C-c
expect 'demo: stopped m7sim and m7bridged' 10
[ -d "$dir" ] && fail "$dir still exists"
left=$(pgrep -f -- "$dir/")
[ -z "$left" ] || fail "still running after Ctrl-C: $(echo "$left" | xargs ps -o args= -p)"

# Ctrl-C at any point of the start-up (m7sim, the daemon, the viewer coming up): nothing
# is left running and no temp file stays. The demos run with a temp dir of their own.
tmpd=$(mktemp -d)
trap 'tm kill-server 2>/dev/null; rm -rf "$tmpd"' EXIT
for delay in 0.1 0.3 0.5 0.8 1.2; do
	tm new-session -d -s early -x 80 -y 24 \
		"cd '$src' && TMPDIR='$tmpd' DEMO_NO_BUILD=1 scripts/demo.sh '$build'; echo EARLY-EXIT; sleep 30"
	sleep "$delay"
	tm send-keys -t early C-c
	i=0
	# Ended: the pane says so, or the session is gone (Ctrl-C before the demo's traps
	# were set ends the session's shell too).
	while tm has-session -t early 2>/dev/null &&
		! tm capture-pane -p -t early | grep -q EARLY-EXIT; do
		i=$((i + 1))
		[ "$i" -lt 100 ] || fail "Ctrl-C after ${delay}s: the demo still runs 10 s later"
		sleep 0.1
	done
	sleep 0.3
	left=$(pgrep -f -- "$tmpd/")
	[ -z "$left" ] || fail "Ctrl-C after ${delay}s: still running: $(echo "$left" | xargs ps -o args= -p)"
	[ -z "$(ls "$tmpd")" ] || fail "Ctrl-C after ${delay}s: left $(ls "$tmpd")"
	tm kill-session -t early 2>/dev/null
done
echo "ok: demo explained stall, corrupt, send and reload; top fits 80x24; Ctrl-C at any point stops it all"
exit 0
