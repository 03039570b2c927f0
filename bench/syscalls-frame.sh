#!/bin/sh
# System calls per frame of m7bridged, counted by strace: the daemon runs under
# `strace -f -ff` at SMALL and LARGE frames of 64-byte DATA payloads, fed through a pty in
# lock step by frame_feed (the next write waits until every client has the previous line,
# so each read() sees exactly the frames of one write()); the difference divided by the
# difference in frames excludes start-up and shutdown. The same for 1 client and for
# CLIENTS clients, at 1 frame per write() (as at low rates on the board) and at 16
# (batched, as at high rates). Every thread of the daemon is counted: the tty's reader
# thread (or the main thread, where the daemon reads the tty from its event loop) reads
# the tty and writes to the clients; the writer thread sends nothing but SYNCs here. The
# SYNC exchanges happen per unit of time (every 5 ms at first), and the few that fall in
# the difference show up as a small fraction of a call per frame: the writer's write(),
# futex (a SYNC handed to it) and read(other) (its wake-up eventfd). read(tty) is the
# tty. Prints the target next to the figures.
#
# Usage: bench/syscalls-frame.sh [BUILD_DIR] (default: build)
# Environment: SMALL=500 LARGE=5500 CLIENTS=8 PER_WRITE="1 16" KEEP=1 (keep the traces)
set -eu

build=${1:-build}
small=${SMALL:-500}
large=${LARGE:-5500}
clients=${CLIENTS:-8}
per_write=${PER_WRITE:-1 16}
feed=$build/bench/frame_feed

command -v strace >/dev/null || { echo "syscalls-frame: strace not installed" >&2; exit 1; }
[ -x "$feed" ] || { echo "syscalls-frame: $feed not built (meson setup with -Dbench=true)" >&2; exit 1; }
[ -x "$build/daemon/m7bridged" ] || { echo "syscalls-frame: $build/daemon/m7bridged not built" >&2; exit 1; }

out=$(mktemp -d "${TMPDIR:-/tmp}/m7b-strace.XXXXXX")
[ -n "${KEEP:-}" ] || trap 'rm -rf "$out"' EXIT

# strace blocks the signals that would end it while it runs a program with -o, so the
# SIGTERM that stops the daemon is passed on to the daemon itself (strace's child);
# strace ends once the daemon has.
cat >"$out/wrap" <<'WRAP'
#!/bin/sh
prefix=$1
shift
strace -f -ff -qq -o "$prefix" "$@" &
s=$!
trap 'kill -TERM $(cat /proc/$s/task/$s/children) 2>/dev/null' TERM INT
while kill -0 "$s" 2>/dev/null; do
	wait "$s" && st=0 || st=$?
done
exit "${st:-1}"
WRAP
chmod +x "$out/wrap"

# run FRAMES CLIENTS PER_WRITE: leaves $out/FRAMES.CLIENTS.PER_WRITE, the daemon's
# system calls, one name per line
run() {
	d="$out/$1.$2.$3"
	mkdir "$d"
	"$feed" "$1" "$2" "$3" "$out/wrap" "$d/t" >"$d.feed" || {
		echo "syscalls-frame: feeding $1 frames to $2 client(s) failed" >&2
		exit 1
	}
	# The main thread is the one that exec'd the daemon.
	main=$(grep -l '^execve(' "$d"/t.* | head -n 1)
	[ -n "$main" ] || { echo "syscalls-frame: no trace of the daemon's main thread" >&2; exit 1; }
	# Reads of the tty are told apart from the rest (the writer thread's wake-ups): its
	# descriptors are the tty's open and the reader thread's own open of it again. The
	# loop waits in epoll_pwait(): counted as epoll_wait.
	ttys=$(sed -n -e 's/^openat(.*ttyRPMSG30", .*) = \([0-9]*\)$/\1/p' \
		-e 's|^openat(.*"/proc/self/fd/[0-9]*", .*) = \([0-9]*\)$|\1|p' "$main" |
		sort -u | tr '\n' ' ')
	cat "$d"/t.* | awk -v ttys="$ttys" '
		BEGIN { n = split(ttys, t, " "); for (i = 1; i <= n; i++) tty[t[i]] = 1 }
		match($0, /^[a-z_0-9]+\(/) {
			name = substr($0, 1, RLENGTH - 1)
			if (name == "read") {
				fd = substr($0, RLENGTH + 1); sub(/,.*/, "", fd)
				name = (fd in tty) ? "read(tty)" : "read(other)"
			}
			if (name == "epoll_pwait")
				name = "epoll_wait"
			print name
		}' >"$d.calls"
}

# per_frame SMALLRUN LARGERUN FRAMES: "name calls-per-frame" for each call whose count
# differs, most first
per_frame() {
	sort "$1.calls" | uniq -c >"$1.count"
	sort "$2.calls" | uniq -c >"$2.count"
	awk -v n="$3" '
		FNR == NR { a[$2] = $1; next }
		{ b[$2] = $1 }
		END {
			for (k in b) { d = (b[k] - a[k]) / n; if (d >= 0.005 || d <= -0.005) printf "%s %.2f\n", k, d }
			for (k in a) if (!(k in b) && a[k] / n >= 0.005) printf "%s %.2f\n", k, -a[k] / n
		}' "$1.count" "$2.count" | sort -k2,2nr
}

# show LABEL SMALLRUN LARGERUN
show() {
	per_frame "$2" "$3" $((large - small)) >"$3.per"
	printf '%-10s' "$1:"
	awk '{ printf " %s %s", $1, $2; t += $2 } END { printf "   total %.2f\n", t }' "$3.per"
}

get() { awk -v k="$2" '$1 == k { print $2; f = 1 } END { if (!f) print 0 }' "$1.per"; }

echo "m7bridged's threads under strace: 64-byte DATA payloads, lock-step feed, ($large - $small) frames;"
echo "system calls per frame (those that vary with the frames)"
for pw in $per_write; do
	run "$small" 1 "$pw"
	run "$large" 1 "$pw"
	run "$small" "$clients" "$pw"
	run "$large" "$clients" "$pw"
	echo
	echo "== $pw frame(s) per write() =="
	show "1 client" "$out/$small.1.$pw" "$out/$large.1.$pw"
	show "$clients clients" "$out/$small.$clients.$pw" "$out/$large.$clients.$pw"
	r1=$(get "$out/$large.1.$pw" "read(tty)")
	s1=$(get "$out/$large.1.$pw" sendmsg)
	sn=$(get "$out/$large.$clients.$pw" sendmsg)
	w1=$(get "$out/$large.1.$pw" epoll_wait)
	if [ "$pw" = 1 ]; then
		echo "    target at one frame per read: one read, one write per watching client, nothing else"
		echo "    measured: read $r1, sendmsg $s1 (1 client) and $sn ($clients clients), and the event loop's epoll_wait $w1"
	else
		echo "    target when batched: many frames per read, one write per client per batch"
		echo "    measured: read $r1, sendmsg $s1 (1 client) and $sn ($clients clients), epoll_wait $w1 (one batch: $pw frames, $(awk -v p="$pw" 'BEGIN { printf "%.3f", 1 / p }') a frame)"
	fi
done
[ -z "${KEEP:-}" ] || echo "traces kept in $out"
