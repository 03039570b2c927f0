# Shared by demo.sh and qemu-demo.sh (sourced): waiting for the pieces to come up.
# Expects $tmp (the demo's temp dir, with its *.log files) and $demo_name (message prefix).

# Shows the end of each log, on a failure.
show_logs() {
	for f in "$tmp"/*.log; do echo "--- $f" >&2; tail -n 20 "$f" >&2; done
}

# wait_for CONDITION WHAT [PID NAME]: waits up to 10 s for a condition given as a shell
# command; on time-out shows the logs. With PID, gives up at once when that process (the
# one that should make the condition true, called NAME) has exited: a bad setting is
# refused at start, and waiting the full time for it would only hide why.
wait_for() {
	i=0
	until eval "$1"; do
		if [ $# -ge 4 ] && ! kill -0 "$3" 2>/dev/null; then
			echo "$demo_name: $4 exited before $2 was there" >&2
			show_logs
			exit 1
		fi
		i=$((i + 1))
		if [ "$i" -gt 200 ]; then
			echo "$demo_name: timed out waiting for: $2" >&2
			show_logs
			exit 1
		fi
		sleep 0.05
	done
}
