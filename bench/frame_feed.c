/* frame_feed: starts m7bridged (under a wrapper command such as valgrind), connects
 * clients watching every class and plays the M7 as the board's firmware does: HELLO and BOOT_INFO
 * first (ticks of the SoC system counter at 8 MHz, read off CLOCK_MONOTONIC), SYNCs
 * answered, DATA frames stamped with ticks of the same clock. Feeds the frames through
 * the pty in lock step: the next write waits until every client has received the
 * previous frame's line, so the daemon sees exactly the frames per read() asked for,
 * whatever the wrapper's speed. Before the counted frames it waits until a FRAME line
 * carries mapped times, and fails if any counted frame goes out unmapped. Used by
 * callgrind-frame.sh to count instructions per frame. --hold S: then answers SYNCs
 * alone until S seconds after the HELLO, for the cost of the clock estimator per second.
 * Prints on stdout: frames=N probes=N exchanges=N seconds=S (from the HELLO on). Should
 * the daemon end before it is stopped, says how and exits 1.
 * Usage: frame_feed [--hold SECONDS] FRAMES CLIENTS FRAMES_PER_WRITE [WRAPPER ARGS...] */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "fake_m7.h"
#include "m7bridge/wire.h"

#define MAX_CLIENTS 64
#define WAIT_MS	    30000    /* per batch: valgrind is slow, but never this slow */
#define MAP_WAIT_MS 60000    /* for the first mapped FRAME */
#define TICK_HZ	    8000000u /* the SoC system counter, the board firmware's tick */
#define BAUD	    115200u
/* A capture's first byte to its last: 48 bytes of 10 bits at BAUD, in ticks. */
#define CAPTURE_TICKS ((uint64_t)(BENCH_PAYLOAD - M7B_DATA_HDR) * 10u * TICK_HZ / BAUD)
#define MAX_REPLIES   64
#define FRAME_LINE    "{\"class\":\"FRAME\","

struct client {
	int fd;
	unsigned long lines, unmapped;
	size_t len;
	char buf[4096];
};

/* The M7 side: SYNCs read and not yet answered, how many were answered. */
struct feed {
	struct fake_m7 m7;
	struct m7b_sync_reply due[MAX_REPLIES];
	unsigned ndue;
	bool hello_due;
	unsigned long exchanges;
};

/* Reads what a client has, counting FRAME lines and those without mapped times (the
 * client watches every class: the others, such as the channel's STATE, are not counted);
 * false on EOF or error. */
static bool drain(struct client *c)
{
	for (;;) {
		ssize_t k = read(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);

		if (k <= 0)
			return k < 0 && (errno == EAGAIN || errno == EINTR);
		c->len += (size_t)k;
		c->buf[c->len] = '\0';
		char *start = c->buf, *nl;
		while ((nl = strchr(start, '\n'))) {
			*nl = '\0';
			if (strncmp(start, FRAME_LINE, sizeof(FRAME_LINE) - 1) == 0) {
				c->lines++;
				c->unmapped += !strstr(start, "\"t_first_ns\":");
			}
			start = nl + 1;
		}
		c->len -= (size_t)(start - c->buf);
		memmove(c->buf, start, c->len);
		if (c->len == sizeof(c->buf) - 1)
			return false; /* no FRAME line is this long */
	}
}

/* Reads what the daemon sent: each SYNC's arrival is stamped now and its reply goes out
 * with the next write, a HOST_HELLO is answered likewise; false on EOF or error. */
static bool serve(struct feed *f)
{
	uint8_t buf[4096];

	for (;;) {
		ssize_t k = read(f->m7.fd, buf, sizeof(buf));

		if (k <= 0)
			return k < 0 && (errno == EAGAIN || errno == EINTR);
		uint64_t rx = fake_m7_ticks(&f->m7, bench_now_ns());
		const uint8_t *pos = buf;
		struct m7b_frame fr;
		struct m7b_sync s;
		while (m7b_decoder_next(&f->m7.dec, &pos, buf + k, &fr) > 0) {
			if (fr.type == M7B_T_HOST_HELLO)
				f->hello_due = true;
			if (fr.type == M7B_T_SYNC && m7b_wire_unpack_sync(&fr, &s) == 0 &&
			    f->ndue < MAX_REPLIES)
				f->due[f->ndue++] = (struct m7b_sync_reply){s.host_time, rx, 0};
		}
	}
}

/* Encodes at buf what is due (HELLO, the replies, stamped as they leave) and n DATA
 * frames; returns the length. */
static size_t compose(struct feed *f, uint8_t *buf, size_t cap, unsigned long n)
{
	size_t len = 0;

	if (f->hello_due) {
		/* fake_m7_hello() writes at once: it goes before anything composed here. */
		(void)fake_m7_hello(&f->m7);
		f->hello_due = false;
	}
	uint64_t now = fake_m7_ticks(&f->m7, bench_now_ns());
	for (unsigned i = 0; i < f->ndue; i++) {
		f->due[i].tx_ticks = now;
		len += fake_m7_encode_reply(&f->m7, buf + len, cap - len, &f->due[i]);
	}
	f->exchanges += f->ndue;
	f->ndue = 0;
	for (unsigned long i = 0; i < n; i++) {
		uint8_t bytes[BENCH_PAYLOAD - M7B_DATA_HDR];

		memset(bytes, 'A' + (int)(f->m7.seq % 26), sizeof(bytes));
		len += fake_m7_encode_data(&f->m7, buf + len, cap - len, 1, now - CAPTURE_TICKS,
					   now, bytes, sizeof(bytes));
	}
	return len;
}

/* Waits until every client has want lines, answering the daemon meanwhile. */
static bool wait_lines(struct feed *f, struct client *cl, int n, unsigned long want, int wait_ms)
{
	for (int i = 0; i < n; i++) {
		while (cl[i].lines < want) {
			struct pollfd p[2] = {{cl[i].fd, POLLIN, 0}, {f->m7.fd, POLLIN, 0}};

			if (poll(p, 2, wait_ms) <= 0 || (p[1].revents & (POLLHUP | POLLERR)) ||
			    ((p[1].revents & POLLIN) && !serve(f)) ||
			    ((p[0].revents & (POLLIN | POLLHUP)) && !drain(&cl[i]))) {
				fprintf(stderr,
					"frame_feed: client %d stalled at %lu of %lu lines\n", i,
					cl[i].lines, want);
				return false;
			}
		}
	}
	return true;
}

/* Until a FRAME line carries mapped times: answers SYNCs, then sends one frame at a time
 * and looks at its line. Returns the frames sent, or -1. */
static long wait_mapped(struct feed *f, struct client *cl, int n)
{
	static uint8_t buf[4 * M7B_FRAME_MAX];
	uint64_t end = bench_now_ns() + MAP_WAIT_MS * 1000000ull;
	unsigned long probes = 0;

	while (bench_now_ns() < end) {
		struct pollfd p = {f->m7.fd, POLLIN, 0};

		if (poll(&p, 1, 10) > 0 && !serve(f))
			return -1;
		bool answered = f->exchanges > 0 || f->ndue > 0;
		size_t len = compose(f, buf, sizeof(buf), answered ? 1 : 0);
		if (len && !bench_write_all(f->m7.fd, buf, len))
			return -1;
		if (!answered)
			continue;
		probes++;
		if (!wait_lines(f, cl, n, probes, WAIT_MS))
			return -1;
		if (cl[0].unmapped < probes)
			break;
		usleep(10000);
	}
	if (!probes || cl[0].unmapped == probes) {
		fprintf(stderr, "frame_feed: no FRAME was mapped within %d ms\n", MAP_WAIT_MS);
		return -1;
	}
	for (int i = 0; i < n; i++)
		cl[i].lines = cl[i].unmapped = 0;
	return (long)probes;
}

/* Answers SYNCs alone until end (CLOCK_MONOTONIC ns). */
static bool hold(struct feed *f, uint64_t end)
{
	uint8_t buf[MAX_REPLIES * M7B_FRAME_MAX];

	while (bench_now_ns() < end) {
		struct pollfd p = {f->m7.fd, POLLIN, 0};

		if (poll(&p, 1, 50) > 0 && ((p.revents & (POLLHUP | POLLERR)) || !serve(f)))
			return false;
		size_t len = compose(f, buf, sizeof(buf), 0);
		if (len && !bench_write_all(f->m7.fd, buf, len))
			return false;
	}
	return true;
}

int main(int argc, char **argv)
{
	double hold_s = 0;

	if (argc > 2 && strcmp(argv[1], "--hold") == 0) {
		hold_s = atof(argv[2]);
		argv += 2;
		argc -= 2;
	}
	if (argc < 4) {
		fprintf(stderr,
			"usage: frame_feed [--hold SECONDS] FRAMES CLIENTS FRAMES_PER_WRITE "
			"[WRAPPER...]\n");
		return 2;
	}
	unsigned long frames = strtoul(argv[1], NULL, 10);
	int nclients = atoi(argv[2]);
	unsigned long per_write = strtoul(argv[3], NULL, 10);
	char **wrap = argc > 4 ? argv + 4 : NULL;
	struct bench_daemon r;
	static struct client cl[MAX_CLIENTS];
	static struct feed f;
	static uint8_t buf[(256 + MAX_REPLIES) * M7B_FRAME_MAX];
	int rc = 1;

	for (int i = 0; i < MAX_CLIENTS; i++)
		cl[i].fd = -1;
	if (nclients < 1 || nclients > MAX_CLIENTS || per_write < 1 || per_write > 256) {
		fprintf(stderr, "frame_feed: 1..%d clients, 1..256 frames per write\n",
			MAX_CLIENTS);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (bench_daemon_start(&r, wrap, false, 120) < 0 ||
	    bench_daemon_watch(&r, "while frame_feed fed it") < 0) {
		fprintf(stderr, "frame_feed: cannot start the daemon\n");
		bench_daemon_stop(&r);
		return 1;
	}
	fcntl(r.master, F_SETFL, O_NONBLOCK);
	for (int i = 0; i < nclients; i++) {
		cl[i].fd = bench_connect_client(&r, "{\"cmd\":\"watch\"}");
		if (cl[i].fd < 0) {
			fprintf(stderr, "frame_feed: client %d cannot connect\n", i);
			goto out;
		}
		fcntl(cl[i].fd, F_SETFL, O_NONBLOCK);
	}
	/* The counter runs since power-on, as CLOCK_MONOTONIC since boot: ticks as large as
	 * a board's. The boot id is random per boot. */
	fake_m7_init(&f.m7, r.master, TICK_HZ, 0, 0, (uint32_t)bench_now_ns() | 1u, "frame-feed",
		     FAKE_M7_TICK_SYSCTR);
	uint64_t t0 = bench_now_ns();
	/* The leading delimiter a sender emits after (re)opening the link, then HELLO. */
	if (!bench_write_all(r.master, "", 1) || !fake_m7_hello(&f.m7))
		goto out;
	long probes = wait_mapped(&f, cl, nclients);
	if (probes < 0)
		goto out;
	for (unsigned long sent = 0; sent < frames;) {
		unsigned long k = frames - sent < per_write ? frames - sent : per_write;
		size_t n = compose(&f, buf, sizeof(buf), k);

		if (!bench_write_all(r.master, buf, n))
			goto out;
		sent += k;
		if (!wait_lines(&f, cl, nclients, sent, WAIT_MS))
			goto out;
	}
	if (!hold(&f, t0 + (uint64_t)(hold_s * 1e9))) {
		fprintf(stderr, "frame_feed: the link closed while holding\n");
		goto out;
	}
	rc = 0;
	for (int i = 0; i < nclients; i++) {
		if (cl[i].lines != frames) {
			fprintf(stderr, "frame_feed: client %d got %lu lines for %lu frames\n", i,
				cl[i].lines, frames);
			rc = 1;
		}
		if (cl[i].unmapped) {
			fprintf(stderr, "frame_feed: client %d got %lu of %lu frames unmapped\n", i,
				cl[i].unmapped, frames);
			rc = 1;
		}
	}
	printf("frames=%lu probes=%ld exchanges=%lu seconds=%.3f\n", frames, probes, f.exchanges,
	       (double)(bench_now_ns() - t0) / 1e9);
out:
	for (int i = 0; i < nclients; i++)
		if (cl[i].fd >= 0)
			close(cl[i].fd);
	if (bench_daemon_stop(&r) < 0)
		rc = 1;
	return rc;
}
