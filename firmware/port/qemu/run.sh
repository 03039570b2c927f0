#!/bin/sh
# Runs the m7bridge firmware on QEMU mps2-an500 with its link on a pty, the way
# /dev/ttyRPMSG30 looks on the board, and its captured UART on a second pty.
# Usage: run.sh FIRMWARE.elf DIR
#   DIR/ttyRPMSG30  the link: point m7bridged (or any reader) at it
#   DIR/sensor      the captured UART1: bytes written here become DATA frames,
#                   SEND bytes come out here
# Stops QEMU and the bridges on Ctrl-C or when QEMU exits.
set -eu

if [ $# -ne 2 ]; then
	echo "usage: $0 FIRMWARE.elf DIR" >&2
	exit 64
fi
fw=$1
dir=$2
# QEMU reads the image only once a reader opens the link pty: check it now, or a wrong
# path shows only as a link that hangs up on its first reader.
if [ ! -f "$fw" ] || [ ! -r "$fw" ]; then
	echo "$0: $fw: no such readable file" >&2
	exit 66
fi
if [ "$(head -c 4 "$fw" | od -An -tx1 | tr -d ' \n')" != 7f454c46 ]; then
	echo "$0: $fw: not an ELF image" >&2
	exit 65
fi
for tool in qemu-system-arm socat; do
	command -v "$tool" >/dev/null 2>&1 || { echo "$0: $tool not found" >&2; exit 69; }
done
mkdir -p "$dir"
rm -f "$dir/link.sock" "$dir/sensor.sock" "$dir/ttyRPMSG30" "$dir/sensor"

pids=""
cleanup() {
	# shellcheck disable=SC2086
	[ -n "$pids" ] && kill $pids 2>/dev/null
	wait 2>/dev/null || true
	rm -f "$dir/link.sock" "$dir/sensor.sock"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Both sockets hold the guest (wait=on) until their client is there: nothing is lost.
# A random boot seed at the port's uncleared word gives each run its own boot_id.
seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
# No -icount: then the guest's TIMER0 follows the host's clock, as a board's counter
# does, and a daemon reading it keeps one mapping from M7 time to host time (with
# icount the guest clock runs at a fraction of that rate).
qemu-system-arm -M mps2-an500 -display none -monitor none \
	-kernel "$fw" \
	-chardev "socket,id=link,path=$dir/link.sock,server=on,wait=on" -serial chardev:link \
	-chardev "socket,id=sensor,path=$dir/sensor.sock,server=on,wait=on" \
	-serial chardev:sensor \
	-device "loader,addr=0x203fff00,data=$seed,data-len=4" &
qemu=$!
pids="$qemu"

wait_for() {
	n=0
	while [ ! -e "$1" ]; do
		kill -0 "$qemu" 2>/dev/null || { echo "$0: QEMU exited" >&2; exit 1; }
		n=$((n + 1))
		[ "$n" -lt 1000 ] || { echo "$0: $1 did not appear" >&2; exit 1; }
		sleep 0.02
	done
}

wait_for "$dir/link.sock"
# wait-slave: the bridge connects once a reader opens the pty, so the firmware's HELLO
# reaches that reader.
socat "PTY,link=$dir/ttyRPMSG30,rawer,wait-slave" "UNIX-CONNECT:$dir/link.sock" &
pids="$pids $!"
echo "link: $dir/ttyRPMSG30 (the firmware starts once it is opened)"
wait_for "$dir/sensor.sock"
socat "PTY,link=$dir/sensor,rawer" "UNIX-CONNECT:$dir/sensor.sock" &
pids="$pids $!"
echo "captured UART: $dir/sensor"
wait "$qemu"
