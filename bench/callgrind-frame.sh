#!/bin/sh
# Instructions per frame of m7bridged, counted by callgrind (user space, exact, repeatable
# whatever else the machine runs). The daemon runs under valgrind --tool=callgrind twice,
# at SMALL and LARGE frames of 64-byte DATA payloads fed through a pty in lock step (the
# next write waits until every client has the previous line); the difference divided by
# the difference in frames excludes start-up and shutdown; the client watches every
# class. Then the same with CLIENTS such clients, for the cost of each additional one.
# The feed plays the firmware:
# HELLO, BOOT_INFO, SYNCs answered, so every counted frame is mapped to Linux time. The
# clock's time-driven work (SYNCs sent, replies fitted, the 250 ms refresh, the writer
# thread that only sends SYNCs here) happens per second, not per frame: it is left out of
# the frame counts and counted on its own at the end. Prints targets next to figures.
#
# Usage: bench/callgrind-frame.sh [BUILD_DIR] (default: build)
# Environment: SMALL=500 LARGE=5500 CLIENTS=8 PER_WRITE="1 16" TOP=25 KEEP=1 (keep outputs)
#              ESTIMATOR=0 (skip the 30 s of the clock estimator's count)
set -eu

build=${1:-build}
small=${SMALL:-500}
large=${LARGE:-5500}
clients=${CLIENTS:-8}
per_write=${PER_WRITE:-1 16}
top=${TOP:-25}
here=$(cd "$(dirname "$0")" && pwd)
feed=$build/bench/frame_feed

command -v valgrind >/dev/null || { echo "callgrind-frame: valgrind not installed" >&2; exit 1; }
command -v callgrind_annotate >/dev/null || { echo "callgrind-frame: callgrind_annotate missing" >&2; exit 1; }
[ -x "$feed" ] || { echo "callgrind-frame: $feed not built (meson setup with -Dbench=true)" >&2; exit 1; }
[ -x "$build/daemon/m7bridged" ] || { echo "callgrind-frame: $build/daemon/m7bridged not built" >&2; exit 1; }

# The entry points of the time-driven clock work; callgrind counts nothing under them in
# the frame runs, and only what is under them in the estimator runs.
entries="clocksync_on_timer clocksync_on_tick clocksync_on_link txthread_main"
toggles=
for e in $entries; do
	nm "$build/daemon/m7bridged" | grep -q " $e\$" || {
		echo "callgrind-frame: $e not in $build/daemon/m7bridged (renamed or inlined?)" >&2
		exit 1
	}
	toggles="$toggles --toggle-collect=$e"
done

out=$(mktemp -d "${TMPDIR:-/tmp}/m7b-callgrind.XXXXXX")
[ -n "${KEEP:-}" ] || trap 'rm -rf "$out"' EXIT

# run FRAMES CLIENTS PER_WRITE: leaves $out/cg.FRAMES.CLIENTS.PER_WRITE, all but the
# time-driven clock work counted (--collect-atstart=yes after the toggles, which unset it)
run() {
	f="$out/cg.$1.$2.$3"
	# shellcheck disable=SC2086
	"$feed" "$1" "$2" "$3" valgrind --tool=callgrind $toggles --collect-atstart=yes \
		--callgrind-out-file="$f" --log-file="$f.log" >"$f.feed" || {
		echo "callgrind-frame: feeding $1 frames to $2 client(s) failed" >&2
		exit 1
	}
}

# hold SECONDS: leaves $out/est.SECONDS, only the time-driven clock work counted, from
# the HELLO to SECONDS after it, one frame sent once mapped
hold() {
	f="$out/est.$1"
	# shellcheck disable=SC2086
	"$feed" --hold "$1" 0 1 1 valgrind --tool=callgrind $toggles --collect-atstart=no \
		--callgrind-out-file="$f" --log-file="$f.log" >"$f.feed" || {
		echo "callgrind-frame: holding the link for $1 s failed" >&2
		exit 1
	}
}

total() { sed -n 's/^totals: //p' "$1"; }
exchanges() { sed -n 's/.*exchanges=\([0-9]*\).*/\1/p' "$1.feed"; }

echo "m7bridged under callgrind: 64-byte DATA payloads, lock-step feed, ($large - $small) frames,"
echo "each mapped to Linux time (HELLO and BOOT_INFO: 8 MHz system-counter ticks; SYNCs answered);"
echo "the clock's time-driven work is left out (entered through: $entries)"
for pw in $per_write; do
	run "$small" 1 "$pw"
	run "$large" 1 "$pw"
	run "$small" "$clients" "$pw"
	run "$large" "$clients" "$pw"
	one=$(( ($(total "$out/cg.$large.1.$pw") - $(total "$out/cg.$small.1.$pw")) / (large - small) ))
	many=$(( ($(total "$out/cg.$large.$clients.$pw") - $(total "$out/cg.$small.$clients.$pw")) / (large - small) ))
	extra=$(( (many - one) / (clients - 1) ))
	echo
	echo "== $pw frame(s) per write() =="
	printf '1 client:  %6d instructions/frame   target <= 1200: %s\n' "$one" \
		"$([ "$one" -le 1200 ] && echo met || echo 'NOT met')"
	printf '%d clients: %6d instructions/frame   per additional client %d, target <= 400: %s\n' \
		"$clients" "$many" "$extra" "$([ "$extra" -le 400 ] && echo met || echo 'NOT met')"
	echo "-- 1 client, per function (self cost of the difference):"
	python3 "$here/callgrind-diff.py" "$out/cg.$small.1.$pw" "$out/cg.$large.1.$pw" \
		"$small" "$large" "$top" | tail -n +2
	echo "-- each additional client (($clients clients - 1 client) / $((clients - 1))), top functions:"
	python3 "$here/callgrind-diff.py" "$out/cg.$large.1.$pw" "$out/cg.$large.$clients.$pw" \
		0 $(( large * (clients - 1) )) 12 | tail -n +3
done
if [ "${ESTIMATOR:-1}" != 0 ]; then
	hold 10
	hold 20
	e1=$(total "$out/est.10")
	x1=$(exchanges "$out/est.10")
	e2=$(( $(total "$out/est.20") - e1 ))
	x2=$(( $(exchanges "$out/est.20") - x1 ))
	echo
	echo "== clock estimator, time-driven (SYNC every 5 ms for 2 s after the HELLO, 25 ms to 10 s, then 250 ms) =="
	echo "instructions under $entries:"
	printf 'first 10 s:  %4d exchanges, %8d instructions/exchange, %10d instructions/s\n' \
		"$x1" $(( e1 / (x1 > 0 ? x1 : 1) )) $(( e1 / 10 ))
	printf '10 s - 20 s: %4d exchanges, %8d instructions/exchange, %10d instructions/s\n' \
		"$x2" $(( e2 / (x2 > 0 ? x2 : 1) )) $(( e2 / 10 ))
fi
[ -z "${KEEP:-}" ] || echo "callgrind outputs kept in $out"
