#!/bin/sh
# scripts/build-debs.sh run before its set-up step, or with a wrong argument: one line
# that names the step to run (or the architectures), at once, and nothing built or
# removed. Usage: test_build_debs.sh SOURCE_DIR
set -u
src=$1
for t in dpkg-buildpackage dpkg-architecture; do
	command -v "$t" >/dev/null || { echo "$t not installed: skip"; exit 77; }
done
fails=0
ok() { echo "ok - $*"; }
bad() { echo "not ok - $*"; fails=$((fails + 1)); }
# A tree of its own with the script alone: no build-cross-sysroot/, no sources.
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
mkdir -p "$tree/scripts"
cp "$src/scripts/build-debs.sh" "$tree/scripts/"

# expect ARCH RC TEXT: build-debs.sh ARCH exits RC, says TEXT, and builds nothing.
expect() {
	out=$(sh "$tree/scripts/build-debs.sh" "$1" 2>&1 </dev/null)
	rc=$?
	if [ "$rc" -ne "$2" ] || ! echo "$out" | grep -qF -- "$3"; then
		bad "build-debs.sh $1: exit $rc, said: $out"
	elif [ -e "$tree/build-deb" ]; then
		bad "build-debs.sh $1: made build-deb/ all the same"
	else
		ok "build-debs.sh $1: exit $rc, '$3'"
	fi
}
native=$(dpkg --print-architecture)
expect foo 2 "unknown architecture 'foo'"
foreign=arm64
[ "$native" = arm64 ] && foreign=amd64
expect "$foreign" 1 "run scripts/setup-deps.sh packaging cross first"

echo "# $fails failed"
[ "$fails" -eq 0 ]
