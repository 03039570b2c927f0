#!/bin/sh
# Builds the Debian packages from a clean copy of the sources (tracked and new files,
# none of the build dirs) into build-deb/ARCH/.
# Usage: scripts/build-debs.sh [amd64|arm64]   (default: this machine's architecture)
# arm64 on a PC is a cross build (profiles cross,nocheck); run
# scripts/setup-deps.sh packaging cross first.
set -eu
cd "$(dirname "$0")/.."
arch=${1:-$(dpkg --print-architecture)}
# What a missing set-up step would otherwise make fail deep in the build log.
command -v dpkg-buildpackage >/dev/null 2>&1 ||
	{ echo "build-debs: no dpkg-buildpackage: run scripts/setup-deps.sh packaging first" >&2; exit 1; }
triplet=$(dpkg-architecture -a"$arch" -qDEB_HOST_MULTIARCH 2>/dev/null) ||
	{ echo "build-debs: unknown architecture '$arch' (amd64, arm64)" >&2; exit 2; }
native=$(dpkg --print-architecture)
if [ "$arch" != "$native" ] && [ ! -d "build-cross-sysroot/usr/lib/$triplet" ]; then
	echo "build-debs: no $arch libraries in build-cross-sysroot/: run scripts/setup-deps.sh packaging cross first (arm64 on $native)" >&2
	exit 1
fi
dir=build-deb/$arch
rm -rf "$dir"
mkdir -p "$dir/src"
git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -xf - -C "$dir/src"
set -- -us -uc -b
if [ "$arch" != "$native" ]; then
	# libevent-dev:arm64 may be unpacked in build-cross-sysroot/ rather than installed
	# (see setup-deps.sh): -d skips the build-dependency check, pkg-config finds it.
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

# A man page that names a document under /usr/share/doc/m7bridge/ must find it installed:
# in the man page's own package or in one that package depends on or recommends. (roff
# writes "CONFIG.\&md": the \& goes first.)
missing=""
for deb in "$dir"/*.deb; do
	case $deb in *-dbgsym_*) continue ;; esac
	pkg=$(dpkg-deb -f "$deb" Package)
	names=$(dpkg-deb --fsys-tarfile "$deb" | tar -xf - -O --wildcards './usr/share/man/*' 2>/dev/null |
		zcat -f | sed 's/\\&//g' | grep -o '/usr/share/doc/m7bridge/[A-Za-z0-9._-]*[A-Za-z0-9]' | sort -u)
	[ -n "$names" ] || continue
	# This package and the ones of ours it depends on or recommends.
	related=$(dpkg-deb -f "$deb" Depends Recommends | sed 's/^[A-Za-z-]*://' | tr ',|' '\n\n' |
		sed 's/^ *\([^ (]*\).*/\1/')
	files=$(for p in "$pkg" $related; do
		for d in "$dir/${p}_"*.deb; do [ -f "$d" ] && dpkg-deb -c "$d"; done
	done | awk '{print substr($6, 2)}')
	for n in $names; do
		echo "$files" | grep -qxF "$n" || missing="$missing\n  $pkg: its man page names $n"
	done
done
if [ -n "$missing" ]; then
	printf "build-debs: documents the man pages name but no related package installs:%b\n" "$missing" >&2
	exit 1
fi

# A package with a service stops it when removed (not left running from a deleted
# binary) and restarts it, if it runs, when upgraded (not left running the old one).
for deb in "$dir"/*.deb; do
	for unit in $(dpkg-deb -c "$deb" | awk '{print $6}' | sed -n 's|.*/lib/systemd/system/\(.*\.service\)$|\1|p'); do
		dpkg-deb -I "$deb" prerm 2>/dev/null | grep -q "stop .*$unit" ||
			missing="$missing\n  $(basename "$deb"): its prerm does not stop $unit"
		dpkg-deb -I "$deb" postinst 2>/dev/null | grep -q "try-restart .*$unit" ||
			missing="$missing\n  $(basename "$deb"): its postinst does not restart $unit on upgrade"
	done
done
if [ -n "$missing" ]; then
	printf "build-debs: services the packages would leave running:%b\n" "$missing" >&2
	exit 1
fi
ls "$dir"/*.deb
