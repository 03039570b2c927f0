#!/bin/sh
# Example: watch frames from m7bridged with socat and jq, one line per frame.
# Usage: m7watch.sh [SOCKET]
sock=${1:-${M7BRIDGE_SOCKET:-/run/m7bridge/m7bridge.sock}}
printf '{"cmd":"watch","classes":["FRAME","STATE"]}\n' |
	socat -t 1000000 - "UNIX-CONNECT:$sock,shut-none" |
	jq --unbuffered -r '(select(.class=="FRAME") | "\(.channel)/\(.port) seq \(.seq): \(.data|@base64d)"),
		(select(.class=="STATE") | "state \(.channel): \(.state) (\(.reason))")'
