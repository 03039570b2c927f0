# Shared by demo.sh and qemu-demo.sh (sourced): waiting for the pieces to come up.
# Expects $tmp (the demo's temp dir, with its *.log files) and $demo_name (message prefix).

# Waits up to 10 s for a condition given as a shell command; on time-out shows the logs.
wait_for() {
	i=0
	until eval "$1"; do
		i=$((i + 1))
		if [ "$i" -gt 200 ]; then
			echo "$demo_name: timed out waiting for: $2" >&2
			for f in "$tmp"/*.log; do echo "--- $f" >&2; tail -n 20 "$f" >&2; done
			exit 1
		fi
		sleep 0.05
	done
}
