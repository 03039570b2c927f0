/* frame_feed: starts m7bridged (under a wrapper command such as valgrind), connects
 * watching clients and feeds DATA frames through the pty in lock step: the next write
 * waits until every client has received the previous frame's line, so the daemon sees
 * exactly the frames per read() asked for, whatever the wrapper's speed. Used by
 * callgrind-frame.sh to count instructions per frame.
 * Usage: frame_feed FRAMES CLIENTS FRAMES_PER_WRITE [WRAPPER ARGS...] */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "m7bridge/wire.h"

#define MAX_CLIENTS 64
#define WAIT_MS	    30000 /* per batch: valgrind is slow, but never this slow */

/* Reads what a client has, counting newlines; false on EOF or error. */
static bool drain(int fd, unsigned long *lines)
{
	char buf[65536];

	for (;;) {
		ssize_t k = read(fd, buf, sizeof buf);

		if (k > 0) {
			for (ssize_t i = 0; i < k; i++)
				*lines += buf[i] == '\n';
			continue;
		}
		if (k < 0 && (errno == EAGAIN || errno == EINTR))
			return true;
		return false;
	}
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: frame_feed FRAMES CLIENTS FRAMES_PER_WRITE [WRAPPER...]\n");
		return 2;
	}
	unsigned long frames = strtoul(argv[1], NULL, 10);
	int nclients = atoi(argv[2]);
	unsigned long per_write = strtoul(argv[3], NULL, 10);
	char **wrap = argc > 4 ? argv + 4 : NULL;
	struct bench_daemon r;
	int fds[MAX_CLIENTS];
	unsigned long lines[MAX_CLIENTS] = {0};
	static uint8_t buf[256 * M7B_FRAME_MAX];
	int rc = 1;

	memset(fds, -1, sizeof fds);
	if (nclients < 1 || nclients > MAX_CLIENTS || per_write < 1 || per_write > 256) {
		fprintf(stderr, "frame_feed: 1..%d clients, 1..256 frames per write\n",
			MAX_CLIENTS);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (bench_daemon_start(&r, wrap, false, 120) < 0) {
		fprintf(stderr, "frame_feed: cannot start the daemon\n");
		bench_daemon_stop(&r);
		return 1;
	}
	fcntl(r.master, F_SETFL, O_NONBLOCK);
	for (int i = 0; i < nclients; i++) {
		fds[i] = bench_connect_client(&r, "{\"cmd\":\"watch\",\"classes\":[\"FRAME\"]}");
		if (fds[i] < 0) {
			fprintf(stderr, "frame_feed: client %d cannot connect\n", i);
			goto out;
		}
		fcntl(fds[i], F_SETFL, O_NONBLOCK);
	}
	/* The leading delimiter a sender emits after (re)opening the link. */
	bench_write_all(r.master, "", 1);
	for (unsigned long sent = 0; sent < frames;) {
		size_t n = 0;
		unsigned long k = 0;
		char junk[512];

		for (; k < per_write && sent + k < frames; k++)
			n += bench_encode_data(buf + n, sizeof buf - n, (uint32_t)(sent + k),
					       sent + k);
		if (!bench_write_all(r.master, buf, n))
			goto out;
		sent += k;
		/* The daemon's HOST_HELLO and the like: swallowed so it never blocks. */
		while (read(r.master, junk, sizeof junk) > 0)
			;
		for (int i = 0; i < nclients; i++) {
			while (lines[i] < sent) {
				struct pollfd p = {fds[i], POLLIN, 0};

				if (poll(&p, 1, WAIT_MS) <= 0 || !drain(fds[i], &lines[i])) {
					fprintf(stderr,
						"frame_feed: client %d stalled at %lu of %lu "
						"lines\n",
						i, lines[i], sent);
					goto out;
				}
			}
		}
	}
	rc = 0;
	for (int i = 0; i < nclients; i++)
		if (lines[i] != frames) {
			fprintf(stderr, "frame_feed: client %d got %lu lines for %lu frames\n", i,
				lines[i], frames);
			rc = 1;
		}
out:
	for (int i = 0; i < nclients; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	bench_daemon_stop(&r);
	return rc;
}
