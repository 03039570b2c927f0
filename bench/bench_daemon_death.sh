#!/bin/sh
# bench_daemon must report a daemon that ends mid-phase and exit 1, not hang: killed
# (SIGKILL, as a crash) and ended cleanly (SIGTERM, exit status 0) halfway through the
# first daemon phase. Usage: bench_daemon_death.sh BENCH_DAEMON
bench=$1
fail=0
check() { # SIGNAL EXPECTED_TEXT
	start=$(date +%s)
	out=$(M7B_BENCH_KILL_DAEMON=$1 timeout -s KILL 20 "$bench" 0.3 1 2>&1)
	rc=$?
	took=$(($(date +%s) - start))
	if [ $rc -ne 1 ]; then
		echo "signal $1: exit status $rc after $took s, want 1 (137: it hung)"
		fail=1
	elif ! printf '%s\n' "$out" | grep -Eq "m7bridged \(pid [0-9]+\) $2.* in round 1 with 1 client$"; then
		echo "signal $1: no report of the daemon's end"
		fail=1
	elif printf '%s\n' "$out" | grep -q "^1  *1  "; then
		echo "signal $1: figures printed for the phase the daemon died in"
		fail=1
	else
		echo "signal $1: reported and exited 1 after $took s"
	fi
	printf "%s\n" "$out" | tail -n 3
}
check 9 "was killed by signal 9"
check 15 "exited with status 0"
exit $fail
