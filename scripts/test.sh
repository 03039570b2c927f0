#!/bin/sh
# Sets up the machine, builds m7bridge and runs every test suite.
# Usage: scripts/test.sh [BUILD_DIR [extra meson setup args...]]
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
[ $# -gt 0 ] && shift

scripts/setup-deps.sh
if [ -d "$build" ]; then
	meson setup --reconfigure "$build" "$@" >/dev/null
else
	meson setup "$build" -Dfirmware_cross=true "$@"
fi
ninja -C "$build"
meson test -C "$build" --print-errorlogs --num-processes 2
