#!/bin/sh
# Compiles the firmware core and the wire codec for Cortex-M7 (warnings are errors),
# checks that they call nothing a bare-metal port need not provide, and writes
# arm-none-eabi-size's report. Usage: m7-cross.sh CC SIZE NM OUT INCDIR... -- SRC...
set -eu
cc=$1
size=$2
nm=$3
out=$4
shift 4
incs=""
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
	incs="$incs -I$1"
	shift
done
[ $# -gt 0 ] && shift
dir="$out.d"
rm -rf "$dir"
mkdir -p "$dir"
objs=""
for src in "$@"; do
	obj="$dir/$(basename "${src%.c}").o"
	# shellcheck disable=SC2086
	"$cc" -mcpu=cortex-m7 -mthumb -mfpu=fpv5-d16 -mfloat-abi=hard -ffreestanding \
		-std=gnu11 -Os -ffunction-sections -fdata-sections \
		-Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
		-Wpointer-arith -Wundef -Wvla -Wcast-align -Wwrite-strings -Wno-unused-parameter \
		$incs -c "$src" -o "$obj"
	objs="$objs $obj"
done
# The state a port allocates (struct fw with the default fw_config.h), as bss.
# shellcheck disable=SC2086
printf '#include "fw.h"\nstruct fw m7_fw_state;\n' |
	"$cc" -mcpu=cortex-m7 -mthumb -mfpu=fpv5-d16 -mfloat-abi=hard -ffreestanding \
		-std=gnu11 -Os -Wall -Wextra -Werror $incs -x c -c - -o "$dir/fw_state.o"
objs="$objs $dir/fw_state.o"
# Freestanding: besides each other and the board interface, the objects may need only
# memset/memcpy (docs/FIRMWARE.md) and the compiler's own run-time helpers (__aeabi_*).
# shellcheck disable=SC2086
extra=$("$nm" -u $objs | awk '$1 == "U" {print $2}' | sort -u |
	grep -Ev '^(memset|memcpy|board_[a-z_]+|fw_[a-z_]+|m7b_[a-z0-9_]+|__aeabi_[a-z0-9_]+)$' || true)
if [ -n "$extra" ]; then
	echo "firmware core needs what a freestanding port does not provide:" $extra >&2
	exit 1
fi
# shellcheck disable=SC2086
"$size" -t $objs >"$out.tmp"
mv "$out.tmp" "$out"
echo "firmware core + wire codec for Cortex-M7 (arm-none-eabi-size):"
cat "$out"
