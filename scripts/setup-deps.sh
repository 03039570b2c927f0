#!/bin/sh
# Installs the Debian packages m7bridge needs to build, test and run its demo.
# Idempotent: installs only what is missing (after apt-get update).
set -eu

PACKAGES="
build-essential meson ninja-build pkg-config git
libevent-dev libsystemd-dev libcjson-dev libinih-dev libserialport-dev
libcmocka-dev clang clang-format libclang-rt-14-dev llvm
gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm
socat systemd systemd-journal-remote procps python3 jq scdoc
qt6-base-dev qt6-serialport-dev bash-completion libncurses-dev
mosquitto libmosquitto-dev python3-prometheus-client python3-serial
tmux valgrind cmake
"

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	echo "setup-deps: all packages present"
	exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || { echo "setup-deps: need root or sudo to install:$missing" >&2; exit 1; }
	SUDO=sudo
fi
echo "setup-deps: installing:$missing"
$SUDO apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
