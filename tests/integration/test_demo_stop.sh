#!/bin/sh
# scripts/demo.sh (or qemu-demo.sh) stopped the ways a newcomer's session stops it,
# without a terminal and without tmux: `kill` (TERM) while the frames stream, a TERM
# followed at once by a hang-up, a hang-up alone (a closed terminal or ssh session), and
# its daemon dying. Each time the demo must exit within seconds and leave nothing it
# started running (m7sim or QEMU, m7bridged, the viewer) and no temp files; and it must
# start again right after. A bad DEMO_RATE must be refused at once.
# Usage: test_demo_stop.sh BUILD_DIR SOURCE_DIR [DEMO_SCRIPT]
set -u
build=$(cd "$1" && pwd)
src=$2
demo=${3:-demo.sh}
# A cross build's programs do not run here (qemu-user does not follow the demo's execs).
"$build/daemon/m7bridged" --version >/dev/null 2>&1 ||
	{ echo "the built m7bridged does not run on this machine: skip"; exit 77; }
if [ "$demo" = qemu-demo.sh ]; then
	for t in qemu-system-arm socat; do
		command -v "$t" >/dev/null || { echo "$t not installed: skip"; exit 77; }
	done
	[ -f "$build/firmware/port/qemu/m7bridge-qemu.elf" ] ||
		{ echo "no QEMU firmware built: skip"; exit 77; }
fi
# The demo's temp dirs go here, so every process it starts names this dir.
tmpd=$(mktemp -d "${TMPDIR:-/tmp}/m7demo-stop.XXXXXX")
cd "$src" || exit 1
demo_pid=""
fails=0
ok() { echo "ok - $*"; }
bad() { echo "not ok - $*"; fails=$((fails + 1)); }
# The processes the demo started all name its temp dir, $tmpd/m7bridge-*.
left() { pgrep -f -- "$tmpd/m7bridge-" 2>/dev/null; }
# kill_group SIG: the demo's whole session (dash's kill builtin takes no "-PGID").
kill_group() { env kill -s "$1" -- "-$demo_pid"; }
# Ends whatever a failed check left, so the next check starts clean.
reap() {
	[ -n "$demo_pid" ] && kill_group KILL 2>/dev/null
	for p in $(left); do kill -KILL "$p" 2>/dev/null; done
	rm -rf "$tmpd"/m7bridge-*
	demo_pid=""
}
finish() {
	reap
	rm -rf "$tmpd"
}
trap finish EXIT

# Starts the demo in a session of its own (no terminal) and waits for the frames.
start_demo() {
	out=$tmpd/demo.out
	: >"$out"
	# Not a process group leader, so setsid needs no fork: $! is the demo itself.
	TMPDIR=$tmpd DEMO_NO_BUILD=1 setsid "scripts/$demo" "$build" >"$out" 2>&1 &
	demo_pid=$!
	i=0
	until grep -q 'seq=' "$out"; do
		i=$((i + 1))
		if [ "$i" -gt 300 ] || ! kill -0 "$demo_pid" 2>/dev/null; then
			bad "$1: the demo did not stream frames"
			cat "$out"
			return 1
		fi
		sleep 0.1
	done
	return 0
}

# Waits up to 10 s for the demo to exit, then checks that nothing of it is left and that
# it said so.
check_stopped() {
	i=0
	while kill -0 "$demo_pid" 2>/dev/null; do
		i=$((i + 1))
		if [ "$i" -gt 100 ]; then
			bad "$1: the demo still runs 10 s later"
			reap
			return
		fi
		sleep 0.1
	done
	wait "$demo_pid" 2>/dev/null
	demo_rc=$?
	# What it started may take a moment longer (the demo waits for them to exit).
	i=0
	while [ -n "$(left)" ] && [ "$i" -lt 50 ]; do
		i=$((i + 1))
		sleep 0.1
	done
	if [ -n "$(left)" ]; then
		bad "$1: still running after the demo exited: $(left | xargs ps -o args= -p)"
		reap
	elif ls -d "$tmpd"/m7bridge-* >/dev/null 2>&1; then
		bad "$1: temp files left: $(ls "$tmpd")"
		reap
	elif ! grep -q 'demo: stopped .*, removed ' "$tmpd/demo.out"; then
		bad "$1: no closing line"
		tail -n 5 "$tmpd/demo.out"
	else
		ok "$1: the demo stopped everything and removed its temp dir"
	fi
	demo_pid=""
}

# `kill PID`: the demo stops at once, not when the viewer happens to end.
if start_demo "TERM"; then
	kill -TERM "$demo_pid"
	check_stopped "TERM"
fi

# TERM and at once a hang-up to the whole session: the second signal arrives while the
# demo cleans up and must not cut that short.
if start_demo "TERM+HUP"; then
	kill -TERM "$demo_pid"
	kill_group HUP
	check_stopped "TERM+HUP"
fi

# A hang-up alone (closed terminal) to the whole session.
if start_demo "HUP"; then
	kill_group HUP
	check_stopped "HUP"
fi

# The daemon dies under the demo (killed here): the demo ends at once, says which piece
# ended and shows its log, which would otherwise go with the temp dir, and exits non-zero.
if start_demo "daemon killed"; then
	dpid=$(pgrep -f -- "$tmpd/m7bridge-[a-z]*\.[A-Za-z0-9]*/m7bridge.conf")
	kill -KILL $dpid
	check_stopped "daemon killed"
	if [ "$demo_rc" -eq 0 ]; then
		bad "daemon killed: the demo exited 0"
	elif ! grep -q 'demo: the viewer ended; the end of the logs:' "$tmpd/demo.out" ||
		! grep -q -- '^--- .*/m7bridged.log$' "$tmpd/demo.out"; then
		bad "daemon killed: the demo did not say so: $(tail -n 5 "$tmpd/demo.out")"
	else
		ok "daemon killed: the demo said so, showed the logs, exited $demo_rc"
	fi
fi

# A bad setting (DEMO_RATE is m7sim's capture rate): m7sim refuses it at once, and the
# demo says so at once too, with m7sim's own message, rather than after a time-out.
if [ "$demo" = demo.sh ]; then
	start=$(date +%s)
	out=$(TMPDIR=$tmpd DEMO_RATE=abc DEMO_NO_BUILD=1 scripts/demo.sh "$build" 2>&1 </dev/null)
	rc=$? took=$(($(date +%s) - start))
	if [ "$rc" -eq 0 ] || ! echo "$out" | grep -q "bad value for rate: 'abc'"; then
		bad "DEMO_RATE=abc: exit $rc, output: $out"
	elif ! echo "$out" | grep -q 'demo: m7sim exited before'; then
		bad "DEMO_RATE=abc: the demo did not say that m7sim exited: $out"
	elif [ "$took" -gt 5 ]; then
		bad "DEMO_RATE=abc: the demo took ${took}s to give up on a dead m7sim"
	elif [ -n "$(left)" ] || ls -d "$tmpd"/m7bridge-* >/dev/null 2>&1; then
		bad "DEMO_RATE=abc: left processes or temp files"
		reap
	else
		ok "DEMO_RATE=abc: m7sim's error at once, nothing left"
	fi
fi

echo "# $fails failed"
[ "$fails" -eq 0 ]
