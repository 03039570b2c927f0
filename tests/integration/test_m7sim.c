/* End-to-end test of m7sim: the firmware core on a pty, decoded with lib/'s decoder.
 * Captures in, DATA frames out with exact bytes and ticks; then every fault kind. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "elfinfo.h"
#include "fwtrace.h"
#include "m7bridge/decoder.h"
#include "m7bridge/wire.h"

#define TIMEOUT_MS 20000 /* generous: CI runs this under ASan on a loaded machine */
#define CHAR_TICKS 695u	 /* 8 MHz, 115200 baud, 10 bits */

struct sim {
	pid_t pid;
	int out; /* m7sim's stdout */
	char dir[256];
	char link[300];
	char ctl[300];
	char persist[300]; /* every run has no-init RAM (a test may pass its own --persist) */
	char lines[8192];
	size_t nlines;
	char pts[64]; /* from the last "m7sim: link" line */
};

struct rx {
	int fd;
	struct m7b_decoder dec;
	uint8_t buf[16384];
	size_t len, pos;
	bool hup;
};

struct frame {
	struct m7b_frame f;
	uint8_t payload[M7B_PAYLOAD_MAX];
};

/* The simulator of the running test, stopped by the teardown if an assertion fails. */
static struct sim *live;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static const char *sim_path(void)
{
	static char path[4096];
	const char *root = getenv("M7B_BUILD_ROOT");

	snprintf(path, sizeof(path), "%s/firmware/m7sim", root ? root : ".");
	return path;
}

/* Reads m7sim's stdout until a line starting with prefix; copies it to line. */
static bool sim_wait_line(struct sim *s, const char *prefix, char *line, size_t cap)
{
	uint64_t end = now_ms() + TIMEOUT_MS;

	for (;;) {
		char *nl;

		while ((nl = memchr(s->lines, '\n', s->nlines))) {
			size_t n = (size_t)(nl - s->lines);
			bool match = strncmp(s->lines, prefix, strlen(prefix)) == 0;

			*nl = '\0';
			if (match && line)
				snprintf(line, cap, "%s", s->lines);
			if (!strncmp(s->lines, "m7sim: link ", 12)) {
				const char *arrow = strstr(s->lines, " -> ");
				if (arrow)
					snprintf(s->pts, sizeof(s->pts), "%s", arrow + 4);
			}
			memmove(s->lines, nl + 1, s->nlines - n - 1);
			s->nlines -= n + 1;
			if (match)
				return true;
		}
		uint64_t t = now_ms();
		if (t >= end)
			return false;
		struct pollfd p = {.fd = s->out, .events = POLLIN};
		if (poll(&p, 1, (int)(end - t)) <= 0)
			return false;
		ssize_t r = read(s->out, s->lines + s->nlines, sizeof(s->lines) - 1 - s->nlines);
		if (r <= 0)
			return false;
		s->nlines += (size_t)r;
	}
}

/* Starts m7sim with --link and --ctl in a fresh temp dir plus the given arguments. */
static void sim_start(struct sim *s, const char *arg, ...)
{
	const char *argv[64];
	int n = 0, p[2];
	va_list ap;

	memset(s, 0, sizeof(*s));
	const char *tmp = getenv("TMPDIR");

	snprintf(s->dir, sizeof(s->dir), "%s/m7sim-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(s->dir));
	snprintf(s->link, sizeof(s->link), "%s/ttyRPMSG30", s->dir);
	snprintf(s->ctl, sizeof(s->ctl), "%s/ctl", s->dir);
	snprintf(s->persist, sizeof(s->persist), "%s/noinit", s->dir);
	argv[n++] = sim_path();
	argv[n++] = "--persist";
	argv[n++] = s->persist;
	argv[n++] = "--link";
	argv[n++] = s->link;
	argv[n++] = "--ctl";
	argv[n++] = s->ctl;
	va_start(ap, arg);
	for (const char *a = arg; a && n < 62; a = va_arg(ap, const char *))
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	s->pid = fork();
	assert_true(s->pid >= 0);
	if (s->pid == 0) {
		/* Dies with the test, whatever happens to it. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		dup2(p[1], STDOUT_FILENO);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	s->out = p[0];
	live = s;
	assert_true(sim_wait_line(s, "m7sim: link ", NULL, 0));
}

/* Stops m7sim with SIGTERM; returns its exit status (or -1), always reaps it. */
static int sim_stop(struct sim *s)
{
	int status = -1;
	uint64_t end = now_ms() + TIMEOUT_MS;

	if (s->pid <= 0)
		return -1;
	kill(s->pid, SIGTERM);
	while (waitpid(s->pid, &status, WNOHANG) == 0) {
		if (now_ms() > end) {
			kill(s->pid, SIGKILL);
			waitpid(s->pid, &status, 0);
			break;
		}
		usleep(2000);
	}
	s->pid = 0;
	live = NULL;
	close(s->out);
	(void)unlink(s->link);
	(void)unlink(s->ctl);
	(void)unlink(s->persist);
	(void)rmdir(s->dir);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void sim_ctl(struct sim *s, const char *cmd, const char *expect)
{
	char line[2048];
	int fd = open(s->ctl, O_WRONLY | O_NONBLOCK | O_CLOEXEC);

	assert_true(fd >= 0);
	snprintf(line, sizeof(line), "%s\n", cmd);
	assert_int_equal(write(fd, line, strlen(line)), (ssize_t)strlen(line));
	close(fd);
	if (expect)
		assert_true(sim_wait_line(s, expect, NULL, 0));
}

static void rx_open(struct rx *r, const char *path)
{
	struct termios tio;

	memset(r, 0, sizeof(*r));
	m7b_decoder_init(&r->dec);
	r->fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	assert_true(r->fd >= 0);
	assert_int_equal(tcgetattr(r->fd, &tio), 0);
	cfmakeraw(&tio);
	assert_int_equal(tcsetattr(r->fd, TCSANOW, &tio), 0); /* TCSANOW: keep what is queued */
}

static void rx_close(struct rx *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
}

/* Next frame within timeout_ms: 1, 0 on timeout, -1 when the pty hung up. */
static int rx_next(struct rx *r, struct frame *out, int timeout_ms)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		const uint8_t *pos = r->buf + r->pos;
		struct m7b_frame f;

		if (m7b_decoder_next(&r->dec, &pos, r->buf + r->len, &f) == 1) {
			r->pos = (size_t)(pos - r->buf);
			out->f = f;
			memcpy(out->payload, f.payload, f.len);
			out->f.payload = out->payload;
			return 1;
		}
		r->pos = r->len = 0;
		uint64_t t = now_ms();
		if (t >= end)
			return 0;
		struct pollfd p = {.fd = r->fd, .events = POLLIN};
		if (poll(&p, 1, (int)(end - t)) <= 0)
			return 0;
		ssize_t n = read(r->fd, r->buf, sizeof(r->buf));
		if (n > 0) {
			r->len = (size_t)n;
		} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			r->hup = true;
			return -1;
		}
	}
}

/* Next frame of `type`, skipping others (counted in *skipped if given). */
static int rx_type(struct rx *r, uint8_t type, struct frame *out)
{
	int k;

	while ((k = rx_next(r, out, TIMEOUT_MS)) == 1)
		if (out->f.type == type)
			return 1;
	return k;
}

static void host_write(struct rx *r, uint8_t type, uint8_t port, uint32_t seq, const void *p,
		       size_t n, bool lead_zero)
{
	uint8_t buf[M7B_FRAME_MAX + 1];
	struct m7b_frame h = {.ver = 1, .type = type, .port = port, .seq = seq};
	struct m7b_part part = {p, n};
	size_t off = lead_zero ? 1 : 0;
	int len;

	buf[0] = 0;
	len = m7b_wire_encode(buf + off, sizeof(buf) - off, &h, &part, n ? 1 : 0);
	assert_true(len > 0);
	assert_int_equal(write(r->fd, buf, (size_t)len + off), (ssize_t)((size_t)len + off));
}

/* The last BOOT_INFO expect_hello saw (its payload copied with it). */
static struct frame last_bi_frame;
static struct m7b_boot_info last_bi;

/* HELLO (seq 0), then BOOT_INFO right after it (seq 1), kept in last_bi. */
static void expect_hello(struct rx *r, struct m7b_hello *h)
{
	struct frame fr;

	assert_int_equal(rx_type(r, M7B_T_HELLO, &fr), 1);
	assert_int_equal(fr.f.seq, 0);
	assert_int_equal(m7b_wire_unpack_hello(&fr.f, h), 0);
	assert_int_equal(h->tick_hz, 8000000);
	assert_int_equal(h->max_payload, M7B_PAYLOAD_MAX);
	assert_int_equal(rx_next(r, &last_bi_frame, TIMEOUT_MS), 1);
	assert_int_equal(last_bi_frame.f.type, M7B_T_BOOT_INFO);
	assert_int_equal(last_bi_frame.f.seq, 1);
	last_bi_frame.f.payload = last_bi_frame.payload;
	assert_int_equal(m7b_wire_unpack_boot_info(&last_bi_frame.f, &last_bi), 0);
	assert_true(last_bi.present & M7B_BI_HAS_TICK);
	assert_int_equal(last_bi.tick_hz, 8000000);
}

static void test_help(void **state)
{
	int p[2], status;
	char out[16384];
	size_t n = 0;
	ssize_t r;
	pid_t pid;
	const char *words[] = {"--link",  "--source", "--ctl",	  "--at",	"stall",
			       "garbage", "corrupt",  "drop",	  "reboot",	"hangup",
			       "swap",	  "slow",     "throttle", "--drift-ppm"};

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(p[1], STDOUT_FILENO);
		execl(sim_path(), sim_path(), "--help", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	while ((r = read(p[0], out + n, sizeof(out) - 1 - n)) > 0)
		n += (size_t)r;
	close(p[0]);
	out[n] = '\0';
	waitpid(pid, &status, 0);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		assert_non_null(strstr(out, words[i]));
}

/* A bad option value ends m7sim with status 2 and a message naming the option; zero
 * included where zero makes no sense. */
static void test_bad_option_values_say_why(void **state)
{
	static char long_name[M7B_PAYLOAD_MAX - 20 + 2]; /* one byte more than HELLO carries */
	static const char *const bad[][2] = {
		{"--tick-hz", "0"},	  {"--ports", "0"},	  {"--link-buffers", "0"},
		{"--boot-id", "0"},	  {"--tick-hz", "8M"},	  {"--ports", "99"},
		{"--heartbeat-ms", "-1"}, {"--drift-ppm", "nan"}, {"--drift-ppm", "-nan"},
		{"--drift-ppm", "1e6"},	  {"--name", long_name},
	};

	memset(long_name, 'n', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int p[2], status;
		char out[4096];
		size_t n = 0;
		ssize_t r;
		pid_t pid;

		assert_int_equal(pipe2(p, O_CLOEXEC), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			dup2(p[1], STDERR_FILENO);
			execl(sim_path(), sim_path(), "--link", "/nonexistent/link", bad[i][0],
			      bad[i][1], (char *)NULL);
			_exit(127);
		}
		close(p[1]);
		while ((r = read(p[0], out + n, sizeof(out) - 1 - n)) > 0)
			n += (size_t)r;
		close(p[0]);
		out[n] = '\0';
		waitpid(pid, &status, 0);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 2);
		if (!strstr(out, bad[i][0]))
			fail_msg("%s %s: no message naming the option (stderr: '%s')", bad[i][0],
				 bad[i][1], out);
	}
}

/* N captures in, N DATA frames out: exact bytes, t_first on the schedule, t_last from
 * the character time; two ports interleaved, seq without gaps. */
static void test_captures_exact(void **state)
{
	struct sim s;
	struct rx r;
	struct m7b_hello h;
	struct frame fr;
	uint64_t t0[2] = {0, 0};
	unsigned k[2] = {0, 0};
	uint32_t seq = 1; /* HELLO 0, BOOT_INFO 1 */

	sim_start(&s, "--heartbeat-ms", "0", "--boot-id", "0x1234", "--source",
		  "0:rate=200,size=1-40,count=50,seed=7", "--source",
		  "1:rate=100,size=5,count=20,pattern=zero", NULL);
	rx_open(&r, s.link);
	expect_hello(&r, &h);
	assert_int_equal(h.boot_id, 0x1234);
	assert_int_equal(h.host_credits, 8);
	while (k[0] < 50 || k[1] < 20) {
		struct m7b_data d;
		unsigned p;

		assert_int_equal(rx_next(&r, &fr, TIMEOUT_MS), 1);
		assert_int_equal(fr.f.seq, ++seq);
		assert_int_equal(fr.f.type, M7B_T_DATA);
		assert_int_equal(fr.f.flags, 0);
		assert_int_equal(m7b_wire_unpack_data(&fr.f, &d), 0);
		p = fr.f.port;
		assert_true(p < 2);
		const uint64_t period = p == 0 ? 40000 : 80000;
		if (k[p] == 0) {
			t0[p] = d.t_first;
			assert_int_equal(t0[p] % period, 0);
		}
		assert_int_equal(d.t_first, t0[p] + k[p] * period);
		assert_int_equal(d.t_last, d.t_first + (d.nbytes - 1) * CHAR_TICKS);
		if (p == 0) {
			assert_true(d.nbytes >= 1 && d.nbytes <= 40);
			for (size_t i = 0; i < d.nbytes; i++)
				assert_int_equal(d.bytes[i], (uint8_t)(k[0] + i));
		} else {
			assert_int_equal(d.nbytes, 5);
			for (size_t i = 0; i < d.nbytes; i++)
				assert_int_equal(d.bytes[i], 0);
		}
		k[p]++;
	}
	assert_int_equal(k[0], 50);
	assert_int_equal(k[1], 20);
	/* count= reached: nothing more arrives. */
	assert_int_equal(rx_next(&r, &fr, 300), 0);
	rx_close(&r);
	assert_int_equal(sim_stop(&s), 0);
}

/* An idle gap shorter than a tick is one tick, not 0 (which turns idle closing off):
 * with 1 kHz ticks, --idle-us 100 still ends captures, here after every byte. */
static void test_idle_shorter_than_a_tick(void **state)
{
	struct sim s;
	struct rx r;
	struct frame fr;
	struct m7b_data d;

	sim_start(&s, "--tick-hz", "1000", "--idle-us", "100", "--heartbeat-ms", "0", "--source",
		  "0:rate=50,size=3,count=1", NULL);
	rx_open(&r, s.link);
	assert_int_equal(rx_type(&r, M7B_T_DATA, &fr), 1);
	assert_int_equal(m7b_wire_unpack_data(&fr.f, &d), 0);
	assert_int_equal(d.nbytes, 1);
	rx_close(&r);
	assert_int_equal(sim_stop(&s), 0);
}

/* Reads DATA frames until a seq gap shows; returns the gap (frames missing). */
static uint32_t next_gap(struct rx *r, uint32_t *seq)
{
	struct frame fr;

	for (;;) {
		assert_int_equal(rx_next(r, &fr, TIMEOUT_MS), 1);
		uint32_t missing = fr.f.seq - *seq - 1u;
		*seq = fr.f.seq;
		if (missing)
			return missing;
	}
}

/* Requests add up and stay at the most a counter holds: a second "drop" must not wrap
 * the count to 0 and let frames through. */
static void test_drop_requests_saturate(void **state)
{
	struct sim s;
	struct rx r;
	struct m7b_hello h;
	struct frame fr;

	sim_start(&s, "--heartbeat-ms", "0", "--source", "0:rate=200,size=8", "--at",
		  "0:drop 4294967295", "--at", "0:drop 1", "--at", "0:corrupt 4294967295", "--at",
		  "0:corrupt 1", NULL);
	rx_open(&r, s.link);
	expect_hello(&r, &h); /* written before the commands ran */
	assert_int_equal(rx_next(&r, &fr, 500), 0);
	assert_int_equal(r.dec.stats.reject[M7B_REJECT_CRC], 0); /* dropped before corrupted */
	rx_close(&r);
	assert_int_equal(sim_stop(&s), 0);
}

/* Garbage that cannot be written says why: a link that is down is not a full one. */
static void test_garbage_while_link_down(void **state)
{
	struct sim s;

	sim_start(&s, "--heartbeat-ms", "0", NULL);
	sim_ctl(&s, "hangup 0", "m7sim: hangup 0");
	sim_ctl(&s, "garbage 5", "m7sim: garbage 5 (link down)");
	sim_ctl(&s, "swap", "m7sim: link ");
	sim_ctl(&s, "garbage 5", "m7sim: garbage 5\n");
	assert_int_equal(sim_stop(&s), 0);
}

static void test_drop_corrupt_garbage(void **state)
{
	struct sim s;
	struct rx r;
	struct m7b_hello h;
	struct frame fr;
	uint32_t seq = 1; /* HELLO 0, BOOT_INFO 1 */
	uint64_t crc0, noise0, rej0;

	sim_start(&s, "--heartbeat-ms", "0", "--source", "0:rate=200,size=8", NULL);
	rx_open(&r, s.link);
	expect_hello(&r, &h);

	sim_ctl(&s, "drop 2", "m7sim: drop 2");
	assert_int_equal(next_gap(&r, &seq), 2);

	crc0 = r.dec.stats.reject[M7B_REJECT_CRC];
	sim_ctl(&s, "corrupt 1", "m7sim: corrupt 1");
	assert_int_equal(next_gap(&r, &seq), 1);
	assert_int_equal(r.dec.stats.reject[M7B_REJECT_CRC], crc0 + 1);

	/* Garbage costs nothing but counters: no frame is lost around it. */
	noise0 = r.dec.stats.noise_bytes;
	rej0 = r.dec.stats.rejected;
	sim_ctl(&s, "garbage 32", "m7sim: garbage 32");
	for (int i = 0; i < 20; i++) {
		assert_int_equal(rx_next(&r, &fr, TIMEOUT_MS), 1);
		assert_int_equal(fr.f.seq, ++seq);
	}
	assert_true(r.dec.stats.rejected > rej0);
	assert_true(r.dec.stats.noise_bytes > noise0);
	assert_true(r.dec.stats.noise_bytes <= noise0 + 32);
	rx_close(&r);
	assert_int_equal(sim_stop(&s), 0);
}

static void test_reboot(void **state)
{
	struct sim s;
	struct rx r;
	struct m7b_hello h1, h2, h3;

	sim_start(&s, "--boot-id", "0x1234", "--source", "0:rate=100,size=4", NULL);
	rx_open(&r, s.link);
	expect_hello(&r, &h1);
	assert_int_equal(h1.boot_id, 0x1234);
	assert_int_equal(last_bi.prev_flags, 0); /* a fresh no-init file: cold power-on */
	sim_ctl(&s, "reboot", "m7sim: reboot boot_id=");
	expect_hello(&r, &h2);
	assert_int_not_equal(h2.boot_id, 0x1234);
	/* Each boot names the one before it. */
	assert_int_equal(last_bi.prev_flags, M7B_BI_PREV_VALID);
	assert_int_equal(last_bi.prev_boot_id, 0x1234);
	kill(s.pid, SIGUSR1);
	assert_true(sim_wait_line(&s, "m7sim: reboot", NULL, 0));
	expect_hello(&r, &h3);
	assert_int_not_equal(h3.boot_id, h2.boot_id);
	assert_int_equal(last_bi.prev_boot_id, h2.boot_id);
	rx_close(&r);
	assert_int_equal(sim_stop(&s), 0);
}

/* A control line too long for m7sim's buffer is discarded whole: its tail is not run as
 * a command of its own, and the next line works. */
static void test_ctl_long_line_discarded_whole(void **state)
{
	struct sim s;
	char junk[1100], line[sizeof(s.lines)];

	sim_start(&s, NULL);
	memset(junk, 'x', 1023);
	snprintf(junk + 1023, sizeof(junk) - 1023, "corrupt 7");
	sim_ctl(&s, junk, "m7sim: error: control line too long");
	sim_ctl(&s, "corrupt 1", NULL);
	assert_true(sim_wait_line(&s, "m7sim: corrupt", line, sizeof(line)));
	assert_string_equal(line, "m7sim: corrupt 1");
	assert_int_equal(sim_stop(&s), 0);
}

/* Drains until the link stays quiet for quiet_ms; returns the last seq seen. */
static uint32_t drain(struct rx *r, uint32_t seq, int quiet_ms)
{
	struct frame fr;

	while (rx_next(r, &fr, quiet_ms) == 1)
		seq = fr.f.seq;
	return seq;
}

static void test_stall_and_resume(void **state)
{
	struct sim s;
	struct rx r;
	struct m7b_hello h;
	struct frame fr;
	struct m7b_heartbeat hb;
	uint32_t seq;
	uint64_t t_end;

	sim_start(&s, "--heartbeat-ms", "20", "--source", "0:rate=500,size=4", NULL);
	rx_open(&r, s.link);
	expect_hello(&r, &h);
	sim_ctl(&s, "stall", "m7sim: stall 0");
	seq = drain(&r, 1, 300); /* BOOT_INFO was seq 1 */
	/* A hung M7: no heartbeat, no answer to PING, for as long as it lasts. */
	host_write(&r, M7B_T_PING, 0, 0, NULL, 0, true);
	assert_int_equal(rx_next(&r, &fr, 500), 0);
	sim_ctl(&s, "resume", "m7sim: resume");
	/* Back: the PING is answered, DATA continues without a seq gap (dropped captures
	 * never got a seq), and the heartbeat counts the captures lost meanwhile. */
	t_end = now_ms() + TIMEOUT_MS;
	for (;;) {
		assert_true(now_ms() < t_end);
		assert_int_equal(rx_next(&r, &fr, TIMEOUT_MS), 1);
		assert_int_equal(fr.f.seq, seq + 1);
		seq = fr.f.seq;
		if (fr.f.type != M7B_T_HEARTBEAT)
			continue;
		assert_int_equal(m7b_wire_unpack_heartbeat(&fr.f, &hb), 0);
		/* The PING read after the stall counts as a host frame. */
		if (hb.counter[M7B_HB_CAPTURES_DROPPED] > 0 && hb.counter[M7B_HB_HOST_FRAMES] == 1)
			break;
	}
	rx_close(&r);
	assert_int_equal(sim_stop(&s), 0);
}

static void test_hangup_and_swap(void **state)
{
	struct sim s;
	struct rx r;
	struct m7b_hello h, h2;
	struct frame fr;
	char old_pts[64], target[64];
	ssize_t n;

	sim_start(&s, "--source", "0:rate=100,size=4", NULL);
	rx_open(&r, s.link);
	expect_hello(&r, &h);

	/* hangup: the reader sees the hangup, then a new pty appears under the same path. */
	snprintf(old_pts, sizeof(old_pts), "%s", s.pts);
	sim_ctl(&s, "hangup 100", "m7sim: hangup 100");
	while (rx_next(&r, &fr, TIMEOUT_MS) == 1)
		;
	assert_true(r.hup);
	rx_close(&r);
	assert_true(sim_wait_line(&s, "m7sim: link ", NULL, 0));
	rx_open(&r, s.link);
	expect_hello(&r, &h2);
	assert_int_equal(h2.boot_id, h.boot_id); /* same firmware, new link */

	/* swap: the symlink moves to a new pty at once; the old one hangs up. */
	snprintf(old_pts, sizeof(old_pts), "%s", s.pts);
	sim_ctl(&s, "swap", "m7sim: swap");
	assert_true(sim_wait_line(&s, "m7sim: link ", NULL, 0));
	assert_string_not_equal(old_pts, s.pts);
	n = readlink(s.link, target, sizeof(target) - 1);
	assert_true(n > 0);
	target[n] = '\0';
	assert_string_equal(target, s.pts);
	while (rx_next(&r, &fr, TIMEOUT_MS) == 1)
		;
	assert_true(r.hup);
	rx_close(&r);
	rx_open(&r, s.link);
	expect_hello(&r, &h2);

	/* SIGUSR2 is the same swap. */
	kill(s.pid, SIGUSR2);
	assert_true(sim_wait_line(&s, "m7sim: link ", NULL, 0));
	rx_close(&r);
	rx_open(&r, s.link);
	expect_hello(&r, &h2);
	rx_close(&r);
	assert_int_equal(sim_stop(&s), 0);
}

/* vanish: the path goes away without a hangup (the NXP RPMSG tty on channel removal);
 * the old fd just falls silent; a new pty appears on 'swap'. */
static void test_vanish(void **state)
{
	struct sim s;
	struct rx r, r2;
	struct m7b_hello h, h2;
	struct frame fr;
	struct stat st;

	sim_start(&s, "--heartbeat-ms", "20", "--source", "0:rate=100,size=4", NULL);
	rx_open(&r, s.link);
	expect_hello(&r, &h);
	sim_ctl(&s, "vanish 0", "m7sim: vanish 0");
	assert_int_equal(lstat(s.link, &st), -1);
	assert_int_equal(errno, ENOENT);
	while (rx_next(&r, &fr, 300) == 1)
		;
	assert_false(r.hup); /* silent, not hung up */
	sim_ctl(&s, "swap", "m7sim: swap");
	assert_true(sim_wait_line(&s, "m7sim: link ", NULL, 0));
	rx_open(&r2, s.link);
	expect_hello(&r2, &h2);
	assert_int_equal(h2.boot_id, h.boot_id);
	assert_int_equal(rx_type(&r2, M7B_T_HEARTBEAT, &fr), 1);
	assert_int_equal(rx_next(&r, &fr, 100), 0);
	assert_false(r.hup);
	rx_close(&r2);
	rx_close(&r);
	assert_int_equal(sim_stop(&s), 0);
}

static void test_slow_reader(void **state)
{
	struct sim s;
	struct rx r;
	struct m7b_hello h;
	struct frame fr;
	struct m7b_heartbeat hb;
	uint8_t buf[16 * 20 + 1];
	size_t n = 1;
	uint64_t t0;

	sim_start(&s, "--heartbeat-ms", "0", NULL);
	rx_open(&r, s.link);
	expect_hello(&r, &h);
	sim_ctl(&s, "slow 400", "m7sim: slow 400");
	/* 20 PINGs, 320 bytes: at 400 bytes/s the M7 needs most of a second to read them. */
	buf[0] = 0;
	for (uint32_t i = 0; i < 20; i++) {
		struct m7b_frame f = {.ver = 1, .type = M7B_T_PING, .seq = i};
		n += (size_t)m7b_wire_encode(buf + n, sizeof(buf) - n, &f, NULL, 0);
	}
	t0 = now_ms();
	assert_int_equal(write(r.fd, buf, n), (ssize_t)n);
	/* PINGs read together are answered by one HEARTBEAT: wait for the one that has
	 * counted all 20. */
	do {
		assert_int_equal(rx_type(&r, M7B_T_HEARTBEAT, &fr), 1);
		assert_int_equal(m7b_wire_unpack_heartbeat(&fr.f, &hb), 0);
	} while (hb.counter[M7B_HB_HOST_FRAMES] < 20);
	assert_int_equal(hb.counter[M7B_HB_HOST_FRAMES], 20);
	assert_true(now_ms() - t0 >= 400); /* a lower bound: load only makes it slower */
	rx_close(&r);
	assert_int_equal(sim_stop(&s), 0);
}

static void test_throttle_drops_whole_captures(void **state)
{
	struct sim s;
	struct rx r;
	struct m7b_hello h;
	struct frame fr;
	struct m7b_heartbeat hb;
	uint32_t seq = 1; /* HELLO 0, BOOT_INFO 1 */

	/* 1000 captures/s of 40 bytes (~70 KB/s on the wire) through a 5 KB/s link. */
	sim_start(&s, "--heartbeat-ms", "50", "--link-buffers", "2", "--source",
		  "0:rate=1000,size=40,baud=1000000", NULL);
	rx_open(&r, s.link);
	expect_hello(&r, &h);
	sim_ctl(&s, "throttle 5000", "m7sim: throttle 5000");
	for (;;) {
		struct m7b_data d;

		assert_int_equal(rx_next(&r, &fr, TIMEOUT_MS), 1);
		assert_int_equal(fr.f.seq, ++seq);
		if (fr.f.type == M7B_T_DATA) {
			/* Whatever arrives is whole and intact. */
			assert_int_equal(m7b_wire_unpack_data(&fr.f, &d), 0);
			assert_int_equal(d.nbytes, 40);
			for (size_t i = 1; i < d.nbytes; i++)
				assert_int_equal(d.bytes[i], (uint8_t)(d.bytes[0] + i));
			continue;
		}
		if (fr.f.type == M7B_T_HEARTBEAT) {
			assert_int_equal(m7b_wire_unpack_heartbeat(&fr.f, &hb), 0);
			if (hb.counter[M7B_HB_CAPTURES_DROPPED] > 0)
				break;
		}
	}
	rx_close(&r);
	assert_int_equal(sim_stop(&s), 0);
}

static void test_uart_error_flags(void **state)
{
	struct sim s;
	struct rx r;
	struct m7b_hello h;
	struct frame fr;
	int flagged = 0;

	sim_start(&s, "--heartbeat-ms", "0", "--source", "0:rate=100,size=4", NULL);
	rx_open(&r, s.link);
	expect_hello(&r, &h);
	sim_ctl(&s, "uart-error 0 overrun", "m7sim: uart-error 0 overrun");
	for (int i = 0; i < 6; i++) {
		assert_int_equal(rx_type(&r, M7B_T_DATA, &fr), 1);
		if (fr.f.flags == M7B_DATA_OVERRUN)
			flagged++;
		else
			assert_int_equal(fr.f.flags, 0);
	}
	assert_int_equal(flagged, 1);
	sim_ctl(&s, "uart-error 0 line", "m7sim: uart-error 0 line");
	do
		assert_int_equal(rx_type(&r, M7B_T_DATA, &fr), 1);
	while (fr.f.flags == 0);
	assert_int_equal(fr.f.flags, M7B_DATA_LINE_ERROR);
	/* A port the simulated M7 does not have: said so, not reported as carried out. */
	sim_ctl(&s, "uart-error 2 overrun", "m7sim: error: uart-error: no port 2 (1 port)");
	rx_close(&r);
	assert_int_equal(sim_stop(&s), 0);
}

/* The host side of a link: the kernel's greeting, HOST_HELLO, SEND looped back by the
 * UART, SYNC, LOG. */
static void test_host_frames(void **state)
{
	struct sim s;
	struct rx r;
	struct m7b_hello h;
	struct frame fr;
	struct m7b_ack a;
	struct m7b_data d;
	struct m7b_sync_reply sr;
	struct m7b_log l;
	struct m7b_sync sy = {.host_time = 987654321};
	uint8_t p[8];

	sim_start(&s, "--heartbeat-ms", "0", "--source", "1:rate=0,loop=1", NULL);
	rx_open(&r, s.link);
	expect_hello(&r, &h);
	assert_int_equal(write(r.fd, "hello world!", 12), 12);
	host_write(&r, M7B_T_HOST_HELLO, 0, 0, NULL, 0, true);
	expect_hello(&r, &h);

	host_write(&r, M7B_T_SEND, 1, 1, "hello m7", 8, false);
	assert_int_equal(rx_type(&r, M7B_T_ACK, &fr), 1);
	assert_int_equal(m7b_wire_unpack_ack(&fr.f, &a), 0);
	assert_int_equal(a.acked_seq, 1);
	assert_int_equal(a.status, M7B_ACK_OK);
	assert_int_equal(a.credits, 8);
	assert_int_equal(rx_type(&r, M7B_T_DATA, &fr), 1);
	assert_int_equal(fr.f.port, 1);
	assert_int_equal(m7b_wire_unpack_data(&fr.f, &d), 0);
	assert_int_equal(d.nbytes, 8);
	assert_memory_equal(d.bytes, "hello m7", 8);
	assert_int_equal(d.t_last - d.t_first, 7 * CHAR_TICKS);

	assert_int_equal(m7b_wire_pack_sync(p, sizeof(p), &sy), 8);
	host_write(&r, M7B_T_SYNC, 0, 2, p, 8, false);
	assert_int_equal(rx_type(&r, M7B_T_SYNC_REPLY, &fr), 1);
	assert_int_equal(m7b_wire_unpack_sync_reply(&fr.f, &sr), 0);
	assert_int_equal(sr.host_time, 987654321);
	assert_true(sr.tx_ticks >= sr.rx_ticks);
	assert_true(sr.rx_ticks >= d.t_last);

	sim_ctl(&s, "log 3 disk on fire", "m7sim: log 3");
	assert_int_equal(rx_type(&r, M7B_T_LOG, &fr), 1);
	assert_int_equal(m7b_wire_unpack_log(&fr.f, &l), 0);
	assert_int_equal(l.level, 3);
	assert_int_equal(l.text_len, strlen("disk on fire"));
	assert_memory_equal(l.text, "disk on fire", l.text_len);

	/* Bad commands are reported, the simulator carries on. */
	sim_ctl(&s, "explode", "m7sim: error: unknown command");
	host_write(&r, M7B_T_PING, 0, 3, NULL, 0, false);
	assert_int_equal(rx_type(&r, M7B_T_HEARTBEAT, &fr), 1);
	rx_close(&r);
	assert_int_equal(sim_stop(&s), 0);
}

/* Bytes from a file at the character rate, cut at newlines by the delimiter. */
static void test_file_source(void **state)
{
	struct sim s;
	struct rx r;
	struct m7b_hello h;
	struct frame fr;
	struct m7b_data d;
	char path[300], spec[400];
	const char *lines[] = {"$GPGGA,123519,4807.038,N\n", "$GPRMC,123520,A\n", "tail"};
	const char *tmp = getenv("TMPDIR");
	FILE *f;

	snprintf(path, sizeof(path), "%s/m7sim-src-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	for (size_t i = 0; i < 3; i++)
		fputs(lines[i], f);
	fclose(f);
	snprintf(spec, sizeof(spec), "0:file=%s,delim=10,baud=9600", path);
	sim_start(&s, "--heartbeat-ms", "0", "--source", spec, NULL);
	rx_open(&r, s.link);
	expect_hello(&r, &h);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(rx_type(&r, M7B_T_DATA, &fr), 1);
		assert_int_equal(m7b_wire_unpack_data(&fr.f, &d), 0);
		assert_int_equal(d.nbytes, strlen(lines[i]));
		assert_memory_equal(d.bytes, lines[i], d.nbytes);
		/* Back to back at 9600 baud: 8334 ticks per character. */
		assert_int_equal(d.t_last - d.t_first, (d.nbytes - 1) * 8334u);
	}
	rx_close(&r);
	unlink(path);
	assert_int_equal(sim_stop(&s), 0);
}

/* A failed assertion: LOG, then no more DATA or periodic heartbeats, but PING and
 * HOST_HELLO are still answered. */
static void test_assert(void **state)
{
	struct sim s;
	struct rx r;
	struct m7b_hello h;
	struct frame fr;
	struct m7b_log l;

	sim_start(&s, "--heartbeat-ms", "20", "--source", "0:rate=200,size=4", NULL);
	rx_open(&r, s.link);
	expect_hello(&r, &h);
	sim_ctl(&s, "assert", "m7sim: assert");
	assert_int_equal(rx_type(&r, M7B_T_LOG, &fr), 1);
	assert_int_equal(m7b_wire_unpack_log(&fr.f, &l), 0);
	assert_int_equal(l.level, 2);
	assert_true(l.text_len > 17 && !memcmp(l.text, "assertion failed:", 17));
	assert_int_equal(rx_next(&r, &fr, 300), 0);
	host_write(&r, M7B_T_PING, 0, 0, NULL, 0, true);
	assert_int_equal(rx_next(&r, &fr, TIMEOUT_MS), 1);
	assert_int_equal(fr.f.type, M7B_T_HEARTBEAT);
	host_write(&r, M7B_T_HOST_HELLO, 0, 1, NULL, 0, false);
	expect_hello(&r, &h);
	assert_int_equal(rx_next(&r, &fr, 300), 0);
	rx_close(&r);
	assert_int_equal(sim_stop(&s), 0);
}

static void test_sigterm_cleans_up(void **state)
{
	struct sim s;
	struct stat st;
	char link[300];

	sim_start(&s, NULL);
	snprintf(link, sizeof(link), "%s", s.link);
	assert_int_equal(lstat(link, &st), 0);
	kill(s.pid, SIGTERM);
	assert_true(sim_wait_line(&s, "m7sim: exit", NULL, 0));
	assert_int_equal(sim_stop(&s), 0);
	assert_int_equal(lstat(link, &st), -1);
}

static int teardown(void **state)
{
	if (live)
		(void)sim_stop(live);
	return 0;
}

/* A scratch directory for files m7sim keeps across runs (persist, trace, fake sysfs). */
static void scratch_dir(char *dir, size_t cap)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, cap, "%s/m7sim-files-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(dir));
}

static void scratch_rm(const char *dir)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static size_t slurp_file(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return 0;
	n = read(fd, buf, cap - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return n > 0 ? (size_t)n : 0;
}

static void put_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

/* Reads frames until HELLO, counting the DATA frames before it; then its BOOT_INFO. */
static unsigned data_until_hello(struct rx *r, struct m7b_hello *h)
{
	struct frame fr;
	unsigned data = 0;

	for (;;) {
		assert_int_equal(rx_next(r, &fr, TIMEOUT_MS), 1);
		if (fr.f.type == M7B_T_HELLO)
			break;
		data += fr.f.type == M7B_T_DATA;
	}
	assert_int_equal(m7b_wire_unpack_hello(&fr.f, h), 0);
	assert_int_equal(rx_next(r, &last_bi_frame, TIMEOUT_MS), 1);
	assert_int_equal(last_bi_frame.f.type, M7B_T_BOOT_INFO);
	assert_int_equal(m7b_wire_unpack_boot_info(&last_bi_frame.f, &last_bi), 0);
	return data;
}

/* BOOT_INFO: identity, channel, and the previous boot's accounting across a reboot with
 * captures queued (the M7 asserted, then reset). */
static void test_boot_info_reboot_accounting(void **state)
{
	struct sim s;
	struct rx r;
	struct m7b_hello h, h2;
	struct frame fr;
	char dir[256], persist[300], debugfs[300], trace[400], text[8192];
	unsigned data = 0;
	const uint8_t id[] = {0x01, 0x02, 0xab, 0xcd};
	struct fwtrace_line lines[64];
	struct fwtrace_stats st;
	size_t n;

	(void)state;
	scratch_dir(dir, sizeof(dir));
	snprintf(persist, sizeof(persist), "%s/noinit", dir);
	snprintf(debugfs, sizeof(debugfs), "%s/debugfs", dir);
	sim_start(&s, "--heartbeat-ms", "0", "--persist", persist, "--debugfs", debugfs,
		  "--channel", "rpmsg-virtual-tty-channel", "--build-id", "0102abcd", "--source",
		  "0:rate=200,size=4", NULL);
	rx_open(&r, s.link);
	expect_hello(&r, &h);
	/* A new persist file is a cold power-on: no previous record. */
	assert_true(last_bi.present & M7B_BI_HAS_PREV_BOOT);
	assert_int_equal(last_bi.prev_flags, 0);
	assert_true(last_bi.present & M7B_BI_HAS_BUILD_ID);
	assert_int_equal(last_bi.build_id_len, sizeof(id));
	assert_memory_equal(last_bi.build_id, id, sizeof(id));
	assert_int_equal(last_bi.tick_source, 5 /* BOARD_TICK_SIM_TIMER: no --tick-host */);
	assert_memory_equal(last_bi.channel, "rpmsg-virtual-tty-channel", last_bi.channel_len);

	while (data < 10) {
		assert_int_equal(rx_next(&r, &fr, TIMEOUT_MS), 1);
		data += fr.f.type == M7B_T_DATA;
	}
	/* Asserted: no more DATA, captures pile up (and overflow the queue), then the reset
	 * comes (the soak's "assert, then reboot 1.5 s later", shorter). */
	sim_ctl(&s, "assert", "m7sim: assert");
	usleep(300000);
	sim_ctl(&s, "reboot", "m7sim: reboot");
	data += data_until_hello(&r, &h2);
	assert_int_not_equal(h2.boot_id, h.boot_id);
	assert_int_equal(last_bi.prev_flags, M7B_BI_PREV_VALID);
	assert_int_equal(last_bi.prev_boot_id, h.boot_id);
	assert_int_equal(last_bi.nports, 1);
	assert_int_equal(last_bi.port[0].sent, data); /* every DATA sent was received */
	assert_true(last_bi.port[0].queued > 0);
	assert_true(last_bi.port[0].dropped > 0); /* 60 captures into a queue of 32 */
	assert_int_equal(last_bi.port[0].produced,
			 last_bi.port[0].sent + last_bi.port[0].dropped + last_bi.port[0].queued);

	/* The trace file: the new boot's ring is empty again; a LOG line shows up decoded. */
	sim_ctl(&s, "log 4 after the reset", "m7sim: log");
	snprintf(trace, sizeof(trace), "%s/remoteproc/remoteproc0/trace0", debugfs);
	n = slurp_file(trace, text, sizeof(text));
	assert_int_equal(fwtrace_decode(text, n, lines, 64, &st), 1);
	assert_int_equal(st.bad_lines, 0);
	assert_int_equal(lines[0].seq, 0);
	assert_int_equal(lines[0].level, 4);
	assert_memory_equal(lines[0].text, "after the reset", lines[0].text_len);
	rx_close(&r);
	assert_int_equal(sim_stop(&s), 0);
	scratch_rm(dir);
}

/* A crash of m7sim itself (SIGKILL) keeps the record: the next run reports it. */
static void test_persist_survives_a_crash(void **state)
{
	struct sim s;
	struct rx r;
	struct m7b_hello h, h2;
	struct frame fr;
	char dir[256], persist[300];
	unsigned data = 0;

	(void)state;
	scratch_dir(dir, sizeof(dir));
	snprintf(persist, sizeof(persist), "%s/noinit", dir);
	sim_start(&s, "--heartbeat-ms", "0", "--persist", persist, "--source",
		  "0:rate=200,size=4,count=6", NULL);
	rx_open(&r, s.link);
	expect_hello(&r, &h);
	/* Without --build-id m7sim reports its own ELF's build id, as a host tool reads it. */
	static struct elfinfo elf;
	assert_int_equal(elfinfo_load(sim_path(), &elf), 0);
	assert_true(elf.build_id_len > 0);
	assert_int_equal(last_bi.build_id_len, elf.build_id_len);
	assert_memory_equal(last_bi.build_id, elf.build_id, elf.build_id_len);
	while (data < 6) {
		assert_int_equal(rx_next(&r, &fr, TIMEOUT_MS), 1);
		data += fr.f.type == M7B_T_DATA;
	}
	usleep(50000); /* the record is written at the end of the poll that sent it */
	kill(s.pid, SIGKILL);
	rx_close(&r);
	(void)sim_stop(&s);

	sim_start(&s, "--heartbeat-ms", "0", "--persist", persist, NULL);
	rx_open(&r, s.link);
	expect_hello(&r, &h2);
	assert_int_equal(last_bi.prev_flags, M7B_BI_PREV_VALID);
	assert_int_equal(last_bi.prev_boot_id, h.boot_id);
	assert_int_equal(last_bi.port[0].produced, 6);
	assert_int_equal(last_bi.port[0].sent, 6);
	assert_int_equal(last_bi.port[0].queued, 0);
	rx_close(&r);
	assert_int_equal(sim_stop(&s), 0);
	scratch_rm(dir);
}

/* Broken images for verified-reload tests: no HELLO; HELLO then silence; kick failures. */
static void test_broken_images(void **state)
{
	struct sim s;
	struct rx r;
	struct m7b_hello h;
	struct frame fr;
	char dir[256], kmsg[300], text[4096];

	(void)state;
	sim_start(&s, "--image", "no-hello", "--heartbeat-ms", "20", NULL);
	rx_open(&r, s.link);
	assert_int_equal(rx_next(&r, &fr, 400), 0);
	host_write(&r, M7B_T_HOST_HELLO, 0, 0, NULL, 0, true);
	assert_int_equal(rx_next(&r, &fr, 300), 0);
	rx_close(&r);
	assert_int_equal(sim_stop(&s), 0);

	sim_start(&s, "--image", "silent,build-id=none", "--heartbeat-ms", "20", "--source",
		  "0:rate=100,size=4", NULL);
	rx_open(&r, s.link);
	expect_hello(&r, &h);
	assert_false(last_bi.present & M7B_BI_HAS_BUILD_ID);
	assert_int_equal(rx_next(&r, &fr, 400), 0); /* no heartbeat, no DATA */
	host_write(&r, M7B_T_PING, 0, 0, NULL, 0, true);
	assert_int_equal(rx_next(&r, &fr, 300), 0);
	rx_close(&r);
	assert_int_equal(sim_stop(&s), 0);

	scratch_dir(dir, sizeof(dir));
	snprintf(kmsg, sizeof(kmsg), "%s/kmsg", dir);
	sim_start(&s, "--image", "kick-fail", "--kmsg", kmsg, "--heartbeat-ms", "50", NULL);
	rx_open(&r, s.link);
	expect_hello(&r, &h);
	/* The image works: heartbeats come. */
	assert_int_equal(rx_type(&r, M7B_T_HEARTBEAT, &fr), 1);
	usleep(700000);
	assert_true(slurp_file(kmsg, text, sizeof(text)) > 0);
	assert_non_null(
		strstr(text, ",-;imx-rproc imx8mp-cm7: imx_rproc_kick: failed (1, err:-62)\n"));
	assert_true(text[0] == '3' && text[1] == ',');
	rx_close(&r);
	assert_int_equal(sim_stop(&s), 0);
	scratch_rm(dir);
}

/* m7sim as the kernel behind a fake remoteproc tree: stop takes the link down, start
 * boots the image named by the firmware file on a new pty with a new boot_id. */
static void test_remoteproc_tree(void **state)
{
	struct sim s;
	struct rx r;
	struct m7b_hello h, h2;
	struct frame fr;
	char dir[256], rp[300], path[400], persist[300], st[64];
	const uint8_t wrong[] = {0xff, 0xee};
	uint64_t end;

	(void)state;
	scratch_dir(dir, sizeof(dir));
	snprintf(rp, sizeof(rp), "%s/remoteproc0", dir);
	assert_int_equal(mkdir(rp, 0755), 0);
	snprintf(path, sizeof(path), "%s/state", rp);
	put_file(path, "running\n");
	snprintf(path, sizeof(path), "%s/firmware", rp);
	put_file(path, "good.elf\n");
	snprintf(persist, sizeof(persist), "%s/noinit", dir);
	sim_start(&s, "--heartbeat-ms", "0", "--remoteproc", rp, "--persist", persist, "--build-id",
		  "0a0b", "--firmware", "wrong.elf=good,build-id=ffee", "--firmware",
		  "broken.elf=no-hello", NULL);
	rx_open(&r, s.link);
	expect_hello(&r, &h);
	assert_int_equal(last_bi.build_id_len, 2);
	assert_int_equal(last_bi.build_id[0], 0x0a);

	snprintf(path, sizeof(path), "%s/state", rp);
	put_file(path, "stop");
	assert_true(sim_wait_line(&s, "m7sim: remoteproc stop", NULL, 0));
	assert_int_equal(rx_next(&r, &fr, TIMEOUT_MS), -1); /* the link hung up */
	rx_close(&r);
	end = now_ms() + TIMEOUT_MS;
	while (slurp_file(path, st, sizeof(st)), strcmp(st, "offline\n") != 0)
		assert_true(now_ms() < end);

	snprintf(path, sizeof(path), "%s/firmware", rp);
	put_file(path, "wrong.elf");
	snprintf(path, sizeof(path), "%s/state", rp);
	put_file(path, "start");
	assert_true(sim_wait_line(&s, "m7sim: remoteproc start wrong.elf image=good", NULL, 0));
	assert_true(sim_wait_line(&s, "m7sim: link ", NULL, 0));
	end = now_ms() + TIMEOUT_MS;
	while (slurp_file(path, st, sizeof(st)), strcmp(st, "running\n") != 0)
		assert_true(now_ms() < end);
	rx_open(&r, s.link);
	expect_hello(&r, &h2);
	assert_int_not_equal(h2.boot_id, h.boot_id);
	assert_int_equal(last_bi.build_id_len, sizeof(wrong));
	assert_memory_equal(last_bi.build_id, wrong, sizeof(wrong));
	assert_int_equal(last_bi.prev_flags, M7B_BI_PREV_VALID);
	assert_int_equal(last_bi.prev_boot_id, h.boot_id);

	/* A broken image: the link comes back, the firmware says nothing. */
	put_file(path, "stop");
	assert_true(sim_wait_line(&s, "m7sim: remoteproc stop", NULL, 0));
	rx_close(&r);
	snprintf(path, sizeof(path), "%s/firmware", rp);
	put_file(path, "broken.elf\n");
	snprintf(path, sizeof(path), "%s/state", rp);
	put_file(path, "start\n");
	assert_true(
		sim_wait_line(&s, "m7sim: remoteproc start broken.elf image=no-hello", NULL, 0));
	assert_true(sim_wait_line(&s, "m7sim: link ", NULL, 0));
	rx_open(&r, s.link);
	assert_int_equal(rx_next(&r, &fr, 400), 0);
	rx_close(&r);
	assert_int_equal(sim_stop(&s), 0);
	scratch_rm(dir);
}

/* A hung M7 that remoteproc restarts runs again: a boot ends a stall, as it ends an
 * assert, or the ladder's remoteproc step could never revive a stalled m7sim. */
static void test_remoteproc_start_ends_stall(void **state)
{
	struct sim s;
	struct rx r;
	struct m7b_hello h, h2;
	struct frame fr;
	char dir[256], rp[300], path[400];

	(void)state;
	scratch_dir(dir, sizeof(dir));
	snprintf(rp, sizeof(rp), "%s/remoteproc0", dir);
	assert_int_equal(mkdir(rp, 0755), 0);
	snprintf(path, sizeof(path), "%s/state", rp);
	put_file(path, "running\n");
	snprintf(path, sizeof(path), "%s/firmware", rp);
	put_file(path, "good.elf\n");
	sim_start(&s, "--heartbeat-ms", "0", "--remoteproc", rp, NULL);
	rx_open(&r, s.link);
	expect_hello(&r, &h);
	sim_ctl(&s, "stall", "m7sim: stall 0");
	(void)drain(&r, 1, 300);

	snprintf(path, sizeof(path), "%s/state", rp);
	put_file(path, "stop");
	assert_true(sim_wait_line(&s, "m7sim: remoteproc stop", NULL, 0));
	rx_close(&r);
	put_file(path, "start");
	assert_true(sim_wait_line(&s, "m7sim: remoteproc start good.elf", NULL, 0));
	assert_true(sim_wait_line(&s, "m7sim: link ", NULL, 0));
	rx_open(&r, s.link);
	expect_hello(&r, &h2);
	assert_int_not_equal(h2.boot_id, h.boot_id);
	/* Alive, not only announced: a PING is answered. */
	host_write(&r, M7B_T_PING, 0, 0, NULL, 0, true);
	do
		assert_int_equal(rx_next(&r, &fr, TIMEOUT_MS), 1);
	while (fr.f.type != M7B_T_HEARTBEAT);
	rx_close(&r);
	assert_int_equal(sim_stop(&s), 0);
	scratch_rm(dir);
}

/* Runs m7sim with --link LINK, opt and val, which it must refuse at start: exit 1 within
 * TIMEOUT_MS; its stderr in out. Fails as `what` when it runs on instead. */
static void sim_must_refuse(const char *dir, const char *link, const char *opt, const char *val,
			    const char *what, char *out, size_t cap)
{
	int p[2], status = 0;
	size_t n = 0;
	ssize_t r;
	pid_t pid;
	uint64_t end;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(p[1], STDERR_FILENO);
		execl(sim_path(), sim_path(), "--link", link, opt, val, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	end = now_ms() + TIMEOUT_MS;
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (now_ms() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			close(p[0]);
			scratch_rm(dir);
			fail_msg("m7sim ran with %s", what);
		}
		usleep(10000);
	}
	while (n < cap - 1 && (r = read(p[0], out + n, cap - 1 - n)) > 0)
		n += (size_t)r;
	close(p[0]);
	out[n] = '\0';
	scratch_rm(dir);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 1);
}

/* --remoteproc names the kernel's remoteproc directory: a regular file there is a
 * mistake m7sim says so, instead of running with no remoteproc at all. */
static void test_remoteproc_not_a_directory(void **state)
{
	char dir[256], file[300], link[300], out[4096];

	(void)state;
	scratch_dir(dir, sizeof(dir));
	snprintf(file, sizeof(file), "%s/state", dir);
	put_file(file, "running\n");
	snprintf(link, sizeof(link), "%s/ttyRPMSG30", dir);
	sim_must_refuse(dir, link, "--remoteproc", file, "--remoteproc naming a regular file", out,
			sizeof(out));
	if (!strstr(out, "--remoteproc"))
		fail_msg("no message naming --remoteproc (stderr: '%s')", out);
}

/* A file source that cannot be read (a directory) stops m7sim at start with the reason,
 * as a missing file does, instead of a run whose source ends at once as if empty. */
static void test_file_source_directory_refused(void **state)
{
	char dir[256], link[300], spec[300], out[4096];

	(void)state;
	scratch_dir(dir, sizeof(dir));
	snprintf(link, sizeof(link), "%s/ttyRPMSG30", dir);
	snprintf(spec, sizeof(spec), "0:file=%s", dir);
	sim_must_refuse(dir, link, "--source", spec, "a directory as its file source", out,
			sizeof(out));
	if (!strstr(out, strerror(EISDIR)))
		fail_msg("no reason given (stderr: '%s')", out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_help, teardown),
		cmocka_unit_test_teardown(test_bad_option_values_say_why, teardown),
		cmocka_unit_test_teardown(test_captures_exact, teardown),
		cmocka_unit_test_teardown(test_idle_shorter_than_a_tick, teardown),
		cmocka_unit_test_teardown(test_drop_requests_saturate, teardown),
		cmocka_unit_test_teardown(test_drop_corrupt_garbage, teardown),
		cmocka_unit_test_teardown(test_garbage_while_link_down, teardown),
		cmocka_unit_test_teardown(test_reboot, teardown),
		cmocka_unit_test_teardown(test_ctl_long_line_discarded_whole, teardown),
		cmocka_unit_test_teardown(test_stall_and_resume, teardown),
		cmocka_unit_test_teardown(test_hangup_and_swap, teardown),
		cmocka_unit_test_teardown(test_vanish, teardown),
		cmocka_unit_test_teardown(test_slow_reader, teardown),
		cmocka_unit_test_teardown(test_throttle_drops_whole_captures, teardown),
		cmocka_unit_test_teardown(test_uart_error_flags, teardown),
		cmocka_unit_test_teardown(test_host_frames, teardown),
		cmocka_unit_test_teardown(test_file_source, teardown),
		cmocka_unit_test_teardown(test_assert, teardown),
		cmocka_unit_test_teardown(test_sigterm_cleans_up, teardown),
		cmocka_unit_test_teardown(test_boot_info_reboot_accounting, teardown),
		cmocka_unit_test_teardown(test_persist_survives_a_crash, teardown),
		cmocka_unit_test_teardown(test_broken_images, teardown),
		cmocka_unit_test_teardown(test_remoteproc_tree, teardown),
		cmocka_unit_test_teardown(test_remoteproc_start_ends_stall, teardown),
		cmocka_unit_test_teardown(test_remoteproc_not_a_directory, teardown),
		cmocka_unit_test_teardown(test_file_source_directory_refused, teardown),
	};
	if (getenv("M7SIM_TEST_FILTER")) /* e.g. "test_stall*" to run one */
		cmocka_set_test_filter(getenv("M7SIM_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
