#!/bin/sh
# Installs the Debian packages m7bridge needs. Idempotent: installs only what is missing.
# Usage: scripts/setup-deps.sh [GROUP...]   groups: base (default), packaging, cross
#   base       build, test and run the demo (README)
#   packaging  build and lint the Debian packages (dpkg-buildpackage, lintian)
#   cross      arm64 cross-build and tests under qemu-user (adds the arm64 architecture)
# The lists are word-split on purpose.
# shellcheck disable=SC2086
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)

# --- The lists: add a package to the group that needs it. ---------------------------
BASE="
build-essential meson ninja-build pkg-config git
libevent-dev libsystemd-dev libcjson-dev libinih-dev libserialport-dev
libcmocka-dev clang clang-format libclang-rt-14-dev llvm
gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm
socat systemd systemd-journal-remote procps python3 jq scdoc
qt6-base-dev qt6-serialport-dev bash-completion libncurses-dev
mosquitto libmosquitto-dev python3-prometheus-client python3-serial
tmux valgrind cmake
"
PACKAGING="
debhelper devscripts lintian dpkg-dev fakeroot
"
CROSS="
crossbuild-essential-arm64 qemu-user-static pkgconf:arm64
"
# arm64 libraries for the cross build. A trailing '?' marks an optional one: a tool that
# needs it is then simply not built for arm64.
CROSS_LIBS="
libsystemd-dev libcjson-dev libinih-dev libcmocka-dev
libserialport-dev? libmosquitto-dev? libncurses-dev?
"
# -dev packages that are not Multi-Arch: same in Debian 12 (installing the arm64 one
# removes the amd64 one): unpacked into build-cross-sysroot/ instead, which
# cross/aarch64-linux-gnu.ini puts first on pkg-config's path.
CROSS_UNPACK="libevent-dev"
# ---------------------------------------------------------------------------------------

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || SUDO=false
	[ "$SUDO" = false ] || SUDO=sudo
fi

native=$(dpkg --print-architecture)
# installed PKG[:ARCH]: without an architecture, the native (or an arch-all) one counts.
installed() {
	case $1 in
	*:*) dpkg-query -W -f='${Status}\n' "$1" 2>/dev/null | grep -q '^install ok installed$' ;;
	*) dpkg-query -W -f='${Status} ${Architecture}\n' "$1" 2>/dev/null |
		grep -qE "^install ok installed (all|$native)\$" ;;
	esac
}

updated=""
apt_update() {
	[ -n "$updated" ] && return 0
	$SUDO apt-get update -qq
	updated=1
}

# install PKG...: installs the missing ones.
install() {
	missing=""
	for p in "$@"; do
		installed "$p" || missing="$missing $p"
	done
	[ -n "$missing" ] || return 0
	[ "$SUDO" != false ] || { echo "setup-deps: need root or sudo to install:$missing" >&2; exit 1; }
	echo "setup-deps: installing:$missing"
	apt_update
	# -q, not -qq: a line per package, so a long install shows progress.
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
}

cross() {
	if ! dpkg --print-foreign-architectures | grep -qx arm64; then
		echo "setup-deps: adding the arm64 architecture"
		$SUDO dpkg --add-architecture arm64
		updated=""
	fi
	install $CROSS
	required="" optional=""
	for p in $CROSS_LIBS; do
		case $p in
		*\?) optional="$optional ${p%\?}:arm64" ;;
		*) required="$required $p:arm64" ;;
		esac
	done
	install $required
	for p in $optional; do
		installed "$p" && continue
		apt_update
		if apt-cache show "$p" >/dev/null 2>&1; then
			install "$p"
		else
			echo "setup-deps: optional $p not in the archive: its users are not cross-built"
		fi
	done
	sysroot=$root/build-cross-sysroot
	for p in $CROSS_UNPACK; do
		[ -f "$sysroot/.$p" ] && continue
		apt_update
		mkdir -p "$sysroot"
		(cd "$sysroot" && apt-get download -q "$p:arm64" >/dev/null 2>&1 &&
			dpkg-deb -x "$p"_*_arm64.deb . && rm -f "$p"_*_arm64.deb) ||
			{ echo "setup-deps: cannot download and unpack $p:arm64 (try: apt-get download $p:arm64)" >&2; exit 1; }
		# The .pc files name /usr: point them here. Library links were relative to the
		# -dev package's own files: point them at the multiarch runtime libraries.
		find "$sysroot/usr/lib/aarch64-linux-gnu/pkgconfig" -name '*.pc' \
			-exec sed -i "s|^prefix=.*|prefix=$sysroot/usr|" {} +
		find "$sysroot/usr/lib/aarch64-linux-gnu" -maxdepth 1 -type l | while read -r l; do
			ln -sf "/usr/lib/aarch64-linux-gnu/$(readlink "$l")" "$l"
		done
		touch "$sysroot/.$p"
		echo "setup-deps: $p:arm64 unpacked into $sysroot"
	done
}

[ $# -gt 0 ] || set -- base
for group in "$@"; do
	case $group in
	base) install $BASE ;;
	packaging) install $PACKAGING ;;
	cross) cross ;;
	*) echo "setup-deps: unknown group $group (base, packaging, cross)" >&2; exit 2 ;;
	esac
done
[ -n "$updated" ] || echo "setup-deps: all packages present ($*)"
