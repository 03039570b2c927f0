#!/bin/sh
# Estimated cost per capture of the firmware core on the Cortex-M7: bench/m7/capture_loop.c
# with the core and the wire codec, cross-built as the firmware is (arm-none-eabi-gcc,
# -Os, Cortex-M7 hard-float, table CRC), run on QEMU mps2-an500 (a Cortex-M7) with
# -icount shift=0, where virtual time is the guest instruction count; a calibration loop
# of known length converts SysTick ticks to instructions. The figure is Thumb-2
# instructions executed per capture (bytes through the receive interrupt entry, the
# capture closed and its DATA frame encoded and written by fw_poll): exact for this code,
# but not cycles, which also depend on the M7's dual issue and memory wait states.
#
# Usage: bench/m7-capture.sh [CAPTURE_BYTES] (default 48)   Environment: MHZ=800
set -eu

bytes=${1:-48}
mhz=${MHZ:-800}
root=$(cd "$(dirname "$0")/.." && pwd)
for tool in arm-none-eabi-gcc qemu-system-arm; do
	command -v "$tool" >/dev/null || { echo "m7-capture: $tool not installed" >&2; exit 1; }
done
out=$(mktemp -d "${TMPDIR:-/tmp}/m7b-m7capture.XXXXXX")
trap 'rm -rf "$out"' EXIT

arm-none-eabi-gcc -mcpu=cortex-m7 -mthumb -mfpu=fpv5-d16 -mfloat-abi=hard -std=gnu11 -Os \
	-ffunction-sections -fdata-sections -Wall -Wextra -Werror -Wno-unused-parameter \
	-DM7B_FREESTANDING -DFW_MAX_PORTS=1 -DCAPTURE_BYTES="$bytes" \
	-I"$root/firmware/core" -I"$root/include" --specs=nano.specs -nostartfiles \
	-Wl,--gc-sections -T "$root/firmware/port/qemu/mps2_an500.ld" \
	"$root/bench/m7/capture_loop.c" "$root/firmware/core/fw_link.c" \
	"$root/firmware/core/fw_capture.c" "$root/firmware/core/fw_trace.c" "$root/lib/crc32c.c" "$root/lib/cobs.c" \
	"$root/lib/wire.c" "$root/lib/decoder.c" -o "$out/capture.elf"
timeout 120 qemu-system-arm -M mps2-an500 -display none -monitor none -serial none \
	-icount shift=0 -chardev file,id=sh,path="$out/result" \
	-semihosting-config enable=on,target=native,chardev=sh \
	-kernel "$out/capture.elf" </dev/null >/dev/null || {
	echo "m7-capture: the guest failed: $(cat "$out/result")" >&2
	exit 1
}
# count N capture_bytes B capture_ticks T encode_ticks E calib_instructions I calib_ticks C
awk -v mhz="$mhz" '{
	n = $2; b = $4; cap = $6; enc = $8; ci = $10; ct = $12
	per_tick = ci / ct
	c = cap * per_tick / n; e = enc * per_tick / n
	printf "firmware core on Cortex-M7 (QEMU mps2-an500, -icount, -Os), %d-byte captures:\n", b
	printf "  per capture: %7.0f instructions (~%.1f us at %d MHz and 1 instruction/cycle)\n", c, c / mhz, mhz
	printf "    of which pack + encode of the DATA frame: %5.0f instructions (%.1f per wire byte)\n", e, e / (b + 16 + 14 + 2)
	printf "    the rest (receive interrupt entry per byte, capture close, queue, fw_poll): %.0f (%.1f per captured byte)\n", c - e, (c - e) / b
	printf "  (%d captures after a warm-up; SysTick scaled by a %d-instruction calibration loop: %.1f instructions per tick)\n", n, ci, per_tick
}' "$out/result"
