#!/bin/sh
# The accounting soak for 10 minutes (or SECONDS given): m7sim with random faults of every
# kind, m7bridged, one watching client; prints per port produced = delivered + lost, by
# cause, and exits 1 when it does not hold exactly.
#
# Usage: bench/soak-accounting.sh [BUILD_DIR] [SECONDS]   (defaults: build, 600)
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
secs=${2:-600}
M7B_BUILD_ROOT=$build exec python3 "$root/tests/integration/test_soak_accounting.py" \
	--duration "$secs" --seed "${SEED:-$(date +%s)}"
