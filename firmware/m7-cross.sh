#!/bin/sh
# Compiles the firmware core and the wire codec for Cortex-M7 (warnings are errors) and
# writes arm-none-eabi-size's report. Usage: m7-cross.sh CC SIZE OUT INCDIR... -- SRC...
set -eu
cc=$1
size=$2
out=$3
shift 3
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
# shellcheck disable=SC2086
"$size" -t $objs >"$out.tmp"
mv "$out.tmp" "$out"
echo "firmware core + wire codec for Cortex-M7 (arm-none-eabi-size):"
cat "$out"
