#!/bin/sh
# Instructions per frame of m7bridged, counted by callgrind (user space, exact, repeatable
# whatever else the machine runs). The daemon runs under valgrind --tool=callgrind twice,
# at SMALL and LARGE frames of 64-byte DATA payloads fed through a pty in lock step (the
# next write waits until every client has the previous line); the difference divided by
# the difference in frames excludes start-up and shutdown. Then the same with CLIENTS
# watching clients, for the cost of each additional client. Prints targets next to figures.
#
# Usage: bench/callgrind-frame.sh [BUILD_DIR] (default: build)
# Environment: SMALL=500 LARGE=5500 CLIENTS=8 PER_WRITE="1 16" TOP=25 KEEP=1 (keep outputs)
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

out=$(mktemp -d "${TMPDIR:-/tmp}/m7b-callgrind.XXXXXX")
[ -n "${KEEP:-}" ] || trap 'rm -rf "$out"' EXIT

# run FRAMES CLIENTS PER_WRITE: leaves $out/cg.FRAMES.CLIENTS.PER_WRITE
run() {
	f="$out/cg.$1.$2.$3"
	"$feed" "$1" "$2" "$3" valgrind --tool=callgrind --callgrind-out-file="$f" \
		--log-file="$f.log" >/dev/null || {
		echo "callgrind-frame: feeding $1 frames to $2 client(s) failed" >&2
		exit 1
	}
}

total() { sed -n 's/^totals: //p' "$1"; }

echo "m7bridged under callgrind: 64-byte DATA payloads, lock-step feed, ($large - $small) frames"
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
[ -z "${KEEP:-}" ] || echo "callgrind outputs kept in $out"
