#!/bin/sh
# Builds the Debian packages from a clean copy of the sources (tracked and new files,
# none of the build dirs) into build-deb/ARCH/.
# Usage: scripts/build-debs.sh [amd64|arm64]   (default: this machine's architecture)
# arm64 on a PC is a cross build (profiles cross,nocheck); run
# scripts/setup-deps.sh packaging cross first.
set -eu
cd "$(dirname "$0")/.."
arch=${1:-$(dpkg --print-architecture)}
dir=build-deb/$arch
rm -rf "$dir"
mkdir -p "$dir/src"
git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -xf - -C "$dir/src"
set -- -us -uc -b
if [ "$arch" != "$(dpkg --print-architecture)" ]; then
	# libevent-dev:arm64 may be unpacked in build-cross-sysroot/ rather than installed
	# (see setup-deps.sh): -d skips the build-dependency check, pkg-config finds it.
	triplet=$(dpkg-architecture -a"$arch" -qDEB_HOST_MULTIARCH 2>/dev/null)
	PKG_CONFIG_LIBDIR=$PWD/build-cross-sysroot/usr/lib/$triplet/pkgconfig:/usr/lib/$triplet/pkgconfig:/usr/share/pkgconfig
	export PKG_CONFIG_LIBDIR
	set -- "$@" -a "$arch" -Pcross,nocheck -d
fi
echo "build-debs: dpkg-buildpackage $* (log: $dir.log)"
if ! (cd "$dir/src" && dpkg-buildpackage "$@") >"$dir.log" 2>&1; then
	tail -n 40 "$dir.log"
	exit 1
fi
rm -rf "$dir/src"
ls "$dir"/*.deb
