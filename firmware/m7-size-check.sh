#!/bin/sh
# Checks that the Cortex-M7 core's text fits the budget. Usage: m7-size-check.sh REPORT MAX
set -eu
report=$1
max=$2
read -r text data bss _ <<EOF2
$(awk '/\(TOTALS\)/ {print $1, $2, $3}' "$report")
EOF2
echo "Cortex-M7 core: text=$text data=$data bss=$bss (text budget $max)"
[ -n "$text" ] || { echo "no TOTALS line in $report"; exit 1; }
[ "$text" -le "$max" ]
