#!/bin/sh
# Sets up the machine, builds m7bridge and runs every test suite.
# Usage: scripts/test.sh [BUILD_DIR [extra meson setup args...]]
# The options below are applied on every run, also to a build dir that scripts/demo.sh
# (or anyone) set up before, so the same tests run whatever came first.
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
[ $# -gt 0 ] && shift

scripts/setup-deps.sh
echo "test: configuring $build"
if [ -f "$build/meson-private/coredata.dat" ]; then
	meson setup --reconfigure "$build" -Dfirmware_cross=true "$@"
else
	meson setup "$build" -Dfirmware_cross=true "$@"
fi
echo "test: building (ninja -C $build)"
ninja -C "$build"
echo "test: running the suites"
meson test -C "$build" --print-errorlogs --num-processes 2
