#!/bin/sh
# Instructions per byte and per frame of the wire codec, counted by callgrind (exact and
# repeatable on a shared machine, unlike time): bench_wire does 1 and then 1+ROUNDS rounds
# of fixed work per measurement; the difference divided by the bytes of ROUNDS rounds
# excludes start-up and the building of the test stream. The codec column leaves out
# bench_wire's own loops and stands next to the target where there is one. Then the timed
# run for ns/byte.
#
# Usage: bench/callgrind-wire.sh [BUILD_DIR] (default: build)   Environment: ROUNDS=4
set -eu

build=${1:-build}
rounds=${ROUNDS:-4}
bw=$build/bench/bench_wire
here=$(cd "$(dirname "$0")" && pwd)

command -v valgrind >/dev/null || { echo "callgrind-wire: valgrind not installed" >&2; exit 1; }
[ -x "$bw" ] || { echo "callgrind-wire: $bw not built (meson setup with -Dbench=true)" >&2; exit 1; }

out=$(mktemp -d "${TMPDIR:-/tmp}/m7b-callgrind-wire.XXXXXX")
trap 'rm -rf "$out"' EXIT

# count WHAT N: instructions of N rounds (whole program), profile in $out/cg.N; leaves the
# program's line in $out/line
count() {
	valgrind --tool=callgrind --callgrind-out-file="$out/cg.$2" --log-file="$out/log" \
		"$bw" --rounds "$2" "$1" >"$out/line"
	sed -n 's/^totals: //p' "$out/cg.$2"
}

# codec FRAMES: instructions per frame (or call) of the codec alone, the difference of
# $out/cg.1 and $out/cg.(1+ROUNDS) less what bench_wire.c itself spends (its loops).
codec() {
	python3 "$here/callgrind-diff.py" "$out/cg.1" "$out/cg.$((rounds + 1))" 0 "$1" 100000 |
		awk 'NR > 2 && $3 !~ /^bench_wire\.c:/ && $3 != "(everything" { s += $1 }
			END { if (s > 0) printf "%.1f", s; else printf "-" }'
}

# Targets, in instructions per frame (per call for CRC and base64) of the codec alone:
# the codec's share of m7bridged's 1,200 per frame (bench/callgrind-frame.sh).
target() {
	case $1 in
	decode64) echo 250 ;;  # decoder, CRC, body check and m7b_wire_unpack_data
	base64_48) echo 70 ;;  # a FRAME line's bytes at 64-byte DATA payloads
	*) echo "" ;;
	esac
}

echo "wire codec under callgrind: instructions per byte and per frame (CRC: per call; base64:"
echo "per input byte; decimal: per digit and per FRAME line's five numbers); codec: the same"
echo "per frame without bench_wire's own loop"
printf '%-10s %10s %11s %8s  %s\n' measure instr/byte instr/frame codec target
for what in crc32c74 crc32c488 encode64 encode478 decode64 decode478 base64_48 base64_462 \
	decimal decimal_ref; do
	a=$(count "$what" 1)
	b=$(count "$what" $((rounds + 1)))
	bytes=$(sed -n 's/.*per round \([0-9]*\) bytes.*/\1/p' "$out/line")
	frames=$(sed -n 's/.*bytes, \([0-9]*\) frames.*/\1/p' "$out/line")
	lib=$(codec $((frames * rounds)))
	t=$(target "$what")
	verdict=""
	if [ -n "$t" ]; then
		verdict=$(awk -v c="$lib" -v t="$t" 'BEGIN { printf "<= %d: %s", t, c <= t ? "met" : "NOT met" }')
	fi
	awk -v a="$a" -v b="$b" -v r="$rounds" -v by="$bytes" -v fr="$frames" -v w="$what" \
		-v lib="$lib" -v v="$verdict" \
		'BEGIN { d = (b - a) / r; printf "%-10s %10.2f %11.1f %8s  %s\n", w, d / by, d / fr, lib, v }'
done
echo
"$bw"
