#!/bin/bash
# Checks the exporter's and the MQTT bridge's units offline: systemd-analyze verify, and
# security exposure at most M7B_MAX_EXPOSURE (2.0). Usage: test_ops_units.sh UNIT...
set -u
max_exposure=${M7B_MAX_EXPOSURE:-2.0}
fails=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
command -v systemd-analyze >/dev/null || { echo "SKIP: no systemd-analyze"; exit 77; }
for unit in "$@"; do
	name=$(basename "$unit")
	# verify wants ExecStart= to exist: point it at true in a copy.
	sed "s|^ExecStart=[^ ]*|ExecStart=$(command -v true)|" "$unit" >"$tmp/$name"
	out=$(systemd-analyze verify --man=no "$tmp/$name" 2>&1 | grep -v -e '^$' \
		-e 'Failed to create .*control group' -e 'Cannot add dependency job' \
		-e 'multi-user.target' -e 'm7bridged.service' -e 'network')
	if [ -z "$out" ]; then echo "ok - verify $name"; else
		echo "not ok - verify $name: $out"; fails=$((fails + 1)); fi
	score=$(systemd-analyze security --offline=yes "$tmp/$name" 2>/dev/null |
		sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')
	if [ -n "$score" ] && awk -v s="$score" -v m="$max_exposure" 'BEGIN{exit !(s <= m)}'; then
		echo "ok - $name exposure $score"
	else
		echo "not ok - $name exposure '${score}' above $max_exposure"; fails=$((fails + 1))
	fi
done
exit $((fails > 0))
