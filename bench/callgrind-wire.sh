#!/bin/sh
# Instructions per byte and per frame of the wire codec, counted by callgrind (exact and
# repeatable on a shared machine, unlike time): bench_wire does 1 and then 1+ROUNDS rounds
# of fixed work per measurement; the difference divided by the bytes of ROUNDS rounds
# excludes start-up and the building of the test stream. Then the timed run for ns/byte.
#
# Usage: bench/callgrind-wire.sh [BUILD_DIR] (default: build)   Environment: ROUNDS=4
set -eu

build=${1:-build}
rounds=${ROUNDS:-4}
bw=$build/bench/bench_wire

command -v valgrind >/dev/null || { echo "callgrind-wire: valgrind not installed" >&2; exit 1; }
[ -x "$bw" ] || { echo "callgrind-wire: $bw not built (meson setup with -Dbench=true)" >&2; exit 1; }

out=$(mktemp -d "${TMPDIR:-/tmp}/m7b-callgrind-wire.XXXXXX")
trap 'rm -rf "$out"' EXIT

# count WHAT N: instructions of N rounds (whole program); leaves the program's line in $out/line
count() {
	valgrind --tool=callgrind --callgrind-out-file="$out/cg" --log-file="$out/log" \
		"$bw" --rounds "$2" "$1" >"$out/line"
	sed -n 's/^totals: //p' "$out/cg"
}

echo "wire codec under callgrind: instructions per byte and per frame (CRC: per call; base64:"
echo "per input byte; decimal: per digit and per FRAME line's five numbers)"
printf '%-10s %12s %12s\n' measure instr/byte instr/frame
for what in crc32c74 crc32c488 encode64 encode478 decode64 decode478 base64_48 base64_462 \
	decimal decimal_ref; do
	a=$(count "$what" 1)
	b=$(count "$what" $((rounds + 1)))
	bytes=$(sed -n 's/.*per round \([0-9]*\) bytes.*/\1/p' "$out/line")
	frames=$(sed -n 's/.*bytes, \([0-9]*\) frames.*/\1/p' "$out/line")
	awk -v a="$a" -v b="$b" -v r="$rounds" -v by="$bytes" -v fr="$frames" -v w="$what" \
		'BEGIN { d = (b - a) / r; printf "%-10s %12.2f %12.1f\n", w, d / by, d / fr }'
done
echo
"$bw"
