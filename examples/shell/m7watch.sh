#!/bin/sh
# Example: watch frames from m7bridged with socat and jq, one line per frame, payloads as
# escaped text (JSON string syntax) or, with --hex, as hex. When the daemon goes away it
# says so and connects again (frames sent meanwhile are not shown), and when the daemon
# dropped objects for it (it read too slowly) it prints a line, as it does the reason of a
# daemon that refused it (then it tries again a second later); it gives up with a
# clear message when no daemon answers after RETRIES tries a second apart (default 10).
# Usage: m7watch.sh [--hex] [SOCKET]   (environment: RETRIES)
hex=0
[ "${1:-}" = "--hex" ] && { hex=1; shift; }
sock=${1:-${M7BRIDGE_SOCKET:-/run/m7bridge/m7bridge.sock}}
retries=${RETRIES:-10}
case $retries in
'' | *[!0-9]* | 0*)
	echo "m7watch.sh: RETRIES must be a whole number from 1, got '$retries'" >&2
	exit 2
	;;
esac

# Without them every pipeline below would fail at once, and look like a lost connection.
for tool in socat jq; do
	command -v "$tool" >/dev/null 2>&1 || {
		echo "m7watch.sh: needs $tool (Debian: apt install $tool)" >&2
		exit 127
	}
done

# Waits for the daemon's socket to take a connection, RETRIES tries a second apart.
wait_daemon() {
	i=1
	until [ -S "$sock" ] && socat -u OPEN:/dev/null "UNIX-CONNECT:$sock" 2>/dev/null; do
		# Trying again changes nothing: group membership counts from the next login.
		if [ -S "$sock" ] && [ ! -w "$sock" ]; then
			echo "m7watch.sh: no permission to open $sock: is your user in the daemon's socket group? (sudo usermod -aG m7bridge \$USER, then log in again)" >&2
			exit 69
		fi
		if [ "$i" -ge "$retries" ]; then
			echo "m7watch.sh: no m7bridged at $sock after $i tries; is it running?" >&2
			exit 69
		fi
		echo "m7watch.sh: cannot connect to $sock; try $i/$retries, again in 1 s" >&2
		i=$((i + 1))
		sleep 1
	done
}

if [ "$hex" = 1 ]; then
	req='{"cmd":"watch","classes":["FRAME","STATE"],"encoding":"hex"}'
	payload='(.hex | [scan("..")] | join(" "))'
else
	req='{"cmd":"watch","classes":["FRAME","STATE"]}'
	# @json escapes newlines and control bytes: one frame stays one line. JSON leaves the
	# C1 controls (U+0080..U+009F; U+009B acts as ESC [) as they are: escaped here too.
	payload='(.data | @base64d | @json | gsub("(?<c>[\u0080-\u009f])";
		(.c | explode[0]) as $n | "\\u00" + ("0123456789abcdef" | .[($n / 16 | floor):($n / 16 | floor) + 1] + .[$n % 16:$n % 16 + 1])))'
fi
# The pipeline ends when the daemon closes the connection (a restart), and the loop
# connects again; jq killed by a signal (its reader went away: | head) ends the script.
while :; do
	wait_daemon
	# -t keeps socat relaying the daemon's stream after printf's input has ended. The
	# request waits a moment: a daemon with no slot left says why and closes at once,
	# and socat, whose write then fails, must have relayed that reason first (its
	# "Broken pipe" is no news: dropped, as is the one when the reader left).
	{ sleep 0.2; printf '%s\n' "$req"; } |
		socat -t 1000000 - "UNIX-CONNECT:$sock" 2>/dev/null |
		jq --unbuffered -r "(select(.class==\"FRAME\") | \"\\(.channel)/\\(.port) seq \\(.seq): \\($payload)\"),
			(select(.class==\"STATE\") | \"state \\(.channel): \\(.state) (\\(.reason))\"),
			(select(.class==\"DROPPED\") | \"\\(.count) objects dropped by the daemon: this client fell behind (\\(.total) in all)\"),
			(select(.class==\"ERROR\") | \"m7watch.sh: m7bridged refused the connection: \\(.message) (\\(.code)); reconnecting\\n\" | halt_error(5))"
	status=$?
	[ "$status" -gt 128 ] && exit "$status"
	# 5: an ERROR (a daemon with no slot left: max_clients), said on stderr; try again.
	[ "$status" -eq 5 ] && { sleep 1; continue; }
	# jq fails (status 2) on a line the daemon's end cut short: a lost connection too.
	echo "m7watch.sh: the daemon closed the connection; reconnecting" >&2
	# A daemon that closes each connection at once must not be hammered.
	sleep 1
done
