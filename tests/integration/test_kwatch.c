/* Tests for daemon/kwatch.c: a real journal written by systemd-journal-remote in a temp
 * dir (no journald needed), followed live; and kmsg-format lines through a FIFO, also
 * into the daemon. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <event2/event.h>
#include <cmocka.h>

#include "daemon_harness.h"
#include "incident.h"
#include "kwatch.h"

#define MAX_LINES 64

struct sink {
	struct event_base *base;
	int n, want;
	char msg[MAX_LINES][160];
	int prio[MAX_LINES];
	uint64_t mono[MAX_LINES];
	uint64_t at_ns[MAX_LINES];
	uint64_t lost[MAX_LINES];
	uint64_t skipped; /* the lines' skipped counts, summed */
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void on_line(void *arg, const struct kwatch_line *l)
{
	struct sink *s = arg;
	size_t len = l->len < 159 ? l->len : 159;

	s->skipped += l->skipped;
	/* Only a count of skipped lines: no line. */
	if (!l->len && !l->lost && l->skipped)
		return;
	if (s->n < MAX_LINES) {
		memcpy(s->msg[s->n], l->msg, len);
		s->msg[s->n][len] = '\0';
		s->prio[s->n] = l->priority;
		s->mono[s->n] = l->mono_us;
		s->at_ns[s->n] = now_ns();
		s->lost[s->n] = l->lost;
	}
	s->n++;
	if (s->n >= s->want)
		event_base_loopbreak(s->base);
}

/* Runs the loop until every sink has its lines or 30 s pass (a failure, not a sleep). */
static void wait_for(struct event_base *base, struct sink *a, int want_a, struct sink *b,
		     int want_b)
{
	uint64_t deadline = now_ns() + 30000000000ull;

	a->want = want_a;
	if (b)
		b->want = want_b;
	while ((a->n < want_a || (b && b->n < want_b)) && now_ns() < deadline) {
		struct timeval tv = {0, 200000};
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
}

/* ---- journal ---- */

static char dir[64];
static pid_t jr_pid = -1;
static FILE *jr_in;

static const char *journal_remote(void)
{
	static const char *const paths[] = {"/lib/systemd/systemd-journal-remote",
					    "/usr/lib/systemd/systemd-journal-remote"};
	const char *env = getenv("M7B_JOURNAL_REMOTE");

	if (env && access(env, X_OK) == 0)
		return env;
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (access(paths[i], X_OK) == 0)
			return paths[i];
	return NULL;
}

static int start_writer(void)
{
	const char *bin = journal_remote();
	char out[128];
	int p[2];

	if (!bin)
		return -1;
	snprintf(out, sizeof(out), "--output=%s/kernel.journal", dir);
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	jr_pid = fork();
	if (jr_pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);
		dup2(p[0], 0);
		dup2(devnull, 1);
		dup2(devnull, 2);
		execl(bin, bin, out, "-", (char *)NULL);
		_exit(127);
	}
	close(p[0]);
	if (jr_pid < 0) {
		close(p[1]);
		return -1;
	}
	jr_in = fdopen(p[1], "w");
	return jr_in ? 0 : -1;
}

static void write_entry(const char *transport, int prio, const char *msg)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	fprintf(jr_in,
		"__REALTIME_TIMESTAMP=%llu\n_TRANSPORT=%s\nSYSLOG_IDENTIFIER=kernel\n"
		"PRIORITY=%d\nMESSAGE=%s\n\n",
		(unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000,
		transport, prio, msg);
	fflush(jr_in);
}

static int journal_setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/m7b-kwatch-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	return 0;
}

static int journal_teardown(void **state)
{
	char cmd[128];

	(void)state;
	if (jr_in) {
		fclose(jr_in);
		jr_in = NULL;
	}
	if (jr_pid > 0) {
		/* EOF on stdin ends it; a stuck one is killed. */
		for (int i = 0; i < 100 && waitpid(jr_pid, NULL, WNOHANG) == 0; i++)
			usleep(50000);
		if (kill(jr_pid, 0) == 0) {
			kill(jr_pid, SIGKILL);
			waitpid(jr_pid, NULL, 0);
		}
		jr_pid = -1;
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void test_journal(void **state)
{
	struct event_base *base = event_base_new();
	struct kwatch_config cfg = {.source = KWATCH_JOURNAL, .journal_dir = dir};
	struct sink a = {.base = base}, b = {.base = base};
	struct kwatch *k1, *k2;
	uint64_t lat[20];
	int i;

	(void)state;
	if (!journal_remote())
		skip();
	assert_int_equal(start_writer(), 0);
	/* The directory is still empty: the watcher must not skip the first burst. */
	assert_int_equal(kwatch_new(base, &cfg, on_line, &a, &k1), 0);
	assert_int_equal(kwatch_source(k1), KWATCH_JOURNAL);
	write_entry("kernel", 3, "imx-rproc imx8mp-cm7: imx_rproc_kick: failed (1, err:-62)");
	write_entry("syslog", 6, "not a kernel line");
	write_entry("kernel", 6, "virtio_rpmsg_bus virtio0: rpmsg host is online");
	wait_for(base, &a, 2, NULL, 0);
	assert_int_equal(a.n, 2);
	assert_string_equal(a.msg[0], "imx-rproc imx8mp-cm7: imx_rproc_kick: failed (1, err:-62)");
	assert_int_equal(a.prio[0], 3);
	assert_string_equal(a.msg[1], "virtio_rpmsg_bus virtio0: rpmsg host is online");

	/* A second watcher opened now sees only what comes after. */
	assert_int_equal(kwatch_new(base, &cfg, on_line, &b, &k2), 0);
	write_entry("kernel", 4, "third");
	wait_for(base, &a, 3, &b, 1);
	assert_int_equal(a.n, 3);
	assert_int_equal(b.n, 1);
	assert_string_equal(b.msg[0], "third");
	k2 = kwatch_free(k2);
	assert_null(k2);

	/* Latency from write to callback (reported, not judged). */
	for (i = 0; i < 20; i++) {
		uint64_t t0 = now_ns();
		write_entry("kernel", 3, "latency");
		wait_for(base, &a, 4 + i, NULL, 0);
		assert_int_equal(a.n, 4 + i);
		lat[i] = a.at_ns[3 + i] - t0;
	}
	qsort(lat, 20, sizeof(lat[0]), cmp_u64);
	printf("# journal write->callback: median %.2f ms, max %.2f ms (20 entries)\n",
	       lat[10] / 1e6, lat[19] / 1e6);
	kwatch_free(k1);
	event_base_free(base);
}

/* journald reads /dev/kmsg itself; records overwritten before it read them it reports as
 * one entry of its own ("Missed N kernel messages"), not of the kernel: counted. */
static void test_journal_missed(void **state)
{
	struct event_base *base = event_base_new();
	struct kwatch_config cfg = {.source = KWATCH_JOURNAL, .journal_dir = dir};
	struct sink a = {.base = base};
	struct kwatch *k;
	struct timespec ts;

	(void)state;
	if (!journal_remote())
		skip();
	assert_int_equal(start_writer(), 0);
	assert_int_equal(kwatch_new(base, &cfg, on_line, &a, &k), 0);
	clock_gettime(CLOCK_REALTIME, &ts);
	fprintf(jr_in,
		"__REALTIME_TIMESTAMP=%llu\n_TRANSPORT=driver\nSYSLOG_IDENTIFIER=systemd-journald\n"
		"MESSAGE_ID=e9bf28e6e834481bb6f48f548ad13606\nPRIORITY=6\n"
		"MESSAGE=Missed 17 kernel messages\n\n",
		(unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000);
	fflush(jr_in);
	write_entry("driver", 6, "Journal started");
	write_entry("kernel", 3, "imx-rproc imx8mp-cm7: imx_rproc_kick: failed (1, err:-62)");
	wait_for(base, &a, 2, NULL, 0);
	assert_int_equal(a.n, 2);
	assert_int_equal(a.lost[0], 17);
	assert_string_equal(a.msg[0], "");
	assert_int_equal(a.lost[1], 0);
	assert_string_equal(a.msg[1], "imx-rproc imx8mp-cm7: imx_rproc_kick: failed (1, err:-62)");
	assert_int_equal(kwatch_lost(k), 17);
	kwatch_free(k);
	event_base_free(base);
}

/* A process that writes into /dev/kmsg gets its line into the journal with
 * _TRANSPORT=kernel too, marked by its facility: not a kernel line, as from /dev/kmsg. */
static void test_journal_userspace_kmsg(void **state)
{
	struct event_base *base = event_base_new();
	struct kwatch_config cfg = {.source = KWATCH_JOURNAL, .journal_dir = dir};
	struct sink a = {.base = base};
	struct kwatch *k;
	struct timespec ts;

	(void)state;
	if (!journal_remote())
		skip();
	assert_int_equal(start_writer(), 0);
	assert_int_equal(kwatch_new(base, &cfg, on_line, &a, &k), 0);
	clock_gettime(CLOCK_REALTIME, &ts);
	fprintf(jr_in,
		"__REALTIME_TIMESTAMP=%llu\n_TRANSPORT=kernel\nSYSLOG_FACILITY=1\n"
		"SYSLOG_IDENTIFIER=prank\nPRIORITY=3\n"
		"MESSAGE=imx-rproc imx8mp-cm7: imx_rproc_kick: failed (1, err:-62)\n\n",
		(unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000);
	fprintf(jr_in,
		"__REALTIME_TIMESTAMP=%llu\n_TRANSPORT=kernel\nSYSLOG_FACILITY=0\n"
		"SYSLOG_IDENTIFIER=kernel\nPRIORITY=6\nMESSAGE=facility 0\n\n",
		(unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000 +
			1);
	fflush(jr_in);
	write_entry("kernel", 3, "the kernel's");
	wait_for(base, &a, 2, NULL, 0);
	assert_int_equal(a.n, 2);
	assert_string_equal(a.msg[0], "facility 0");
	assert_string_equal(a.msg[1], "the kernel's");
	kwatch_free(k);
	event_base_free(base);
}

/* kwatch_new() as a user who may not read the journal files (nobody, when run as root:
 * root reads anything). Returns its result, or 1 when it could not be run. */
static int new_as_reader(struct kwatch_config *cfg)
{
	pid_t pid;
	int st;

	if (geteuid() != 0) {
		struct event_base *base = event_base_new();
		struct kwatch *k;
		int r = kwatch_new(base, cfg, on_line, NULL, &k);
		kwatch_free(k);
		event_base_free(base);
		return r;
	}
	pid = fork();
	if (pid == 0) {
		struct event_base *base;
		struct kwatch *k;
		if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
			_exit(1);
		base = event_base_new();
		_exit(-kwatch_new(base, cfg, on_line, NULL, &k) & 0xff);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return 1;
	return -WEXITSTATUS(st);
}

/* Journal files that are there but cannot be read (the daemon's user is not in the
 * journal's group) must not look like a quiet kernel: a clear error instead. */
static void test_journal_unreadable(void **state)
{
	struct kwatch_config cfg = {.source = KWATCH_JOURNAL, .journal_dir = dir};
	char file[128];
	struct stat st;

	(void)state;
	if (!journal_remote())
		skip();
	assert_int_equal(start_writer(), 0);
	write_entry("kernel", 3, "imx-rproc imx8mp-cm7: imx_rproc_kick: failed (1, err:-62)");
	snprintf(file, sizeof(file), "%s/kernel.journal", dir);
	for (int i = 0; i < 600 && stat(file, &st) < 0; i++)
		usleep(50000);
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(chmod(dir, 0755), 0);
	/* Readable: watched. */
	assert_int_equal(chmod(file, 0644), 0);
	assert_int_equal(new_as_reader(&cfg), 0);
	assert_int_equal(chmod(file, 0), 0);
	assert_int_equal(new_as_reader(&cfg), -EACCES);
}

/* ---- FIFO with kmsg-format lines ---- */

/* A kwatch reading kmsg-format records from a FIFO in dir that the test writes into; the
 * test's end is open before the watch begins, as a feeder's that runs already. */
struct fifo_rig {
	struct event_base *base;
	struct sink a;
	struct kwatch *k;
	int fd; /* the test's write end, non-blocking */
};

static void fifo_open(struct fifo_rig *r)
{
	struct kwatch_config cfg = {.source = KWATCH_KMSG};
	char path[128];

	r->base = event_base_new();
	assert_non_null(r->base);
	r->a = (struct sink){.base = r->base};
	snprintf(path, sizeof(path), "%s/kmsg", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	r->fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	assert_true(r->fd >= 0);
	cfg.kmsg_path = path;
	assert_int_equal(kwatch_new(r->base, &cfg, on_line, &r->a, &r->k), 0);
	assert_int_equal(kwatch_source(r->k), KWATCH_KMSG);
}

static void fifo_close(struct fifo_rig *r)
{
	close(r->fd);
	kwatch_free(r->k);
	event_base_free(r->base);
}

/* Writes s to the FIFO in one write, which the FIFO must take whole. */
static void put(struct fifo_rig *r, const char *s)
{
	assert_int_equal(write(r->fd, s, strlen(s)), (ssize_t)strlen(s));
}

/* Writes all of buf to the FIFO, running the loop while it is full. */
static void put_all(struct fifo_rig *r, const char *buf, size_t n)
{
	size_t off = 0;

	while (off < n) {
		ssize_t w = write(r->fd, buf + off, n - off);
		if (w < 0 && errno == EAGAIN) {
			struct timeval tv = {0, 10000};
			event_base_loopexit(r->base, &tv);
			event_base_dispatch(r->base);
			continue;
		}
		assert_true(w > 0);
		off += (size_t)w;
	}
}

static void test_fifo(void **state)
{
	struct fifo_rig r;
	char *big;

	(void)state;
	fifo_open(&r);
	put(&r, "3,1,100,-;imx-rproc imx8mp-cm7: imx_rproc_kick: failed (1, err:-62)\n");
	put(&r, " SUBSYSTEM=platform\n DEVICE=+platform:imx8mp-cm7\n");
	put(&r, "12,2,200,-;a userspace line\n");
	put(&r, "[ 1.0] plain dmesg ");
	put(&r, "line\r\n\n");
	/* An over-long line is dropped up to its newline; what follows is intact. */
	big = malloc(20000);
	assert_non_null(big);
	memset(big, 'x', 20000);
	put_all(&r, big, 20000);
	free(big);
	put(&r, "\n6,3,300,-;after\n");
	/* Records 4..8 were overwritten before they were read: the next one says so. */
	put(&r, "6,9,400,-;after a gap\n");
	put(&r, "6,10,500,-;next\n");
	wait_for(r.base, &r.a, 5, NULL, 0);
	assert_int_equal(r.a.n, 5);
	assert_int_equal(r.a.lost[0], 0);
	assert_int_equal(r.a.lost[1], 0); /* the userspace record 2 was read, not lost */
	assert_int_equal(r.a.lost[2], 1); /* the over-long line */
	assert_int_equal(r.a.lost[3], 5);
	assert_string_equal(r.a.msg[3], "after a gap");
	assert_int_equal(r.a.lost[4], 0);
	assert_int_equal(kwatch_lost(r.k), 6);
	assert_string_equal(r.a.msg[0],
			    "imx-rproc imx8mp-cm7: imx_rproc_kick: failed (1, err:-62)");
	assert_int_equal(r.a.prio[0], 3);
	assert_int_equal(r.a.mono[0], 100);
	assert_string_equal(r.a.msg[1], "[ 1.0] plain dmesg line");
	assert_int_equal(r.a.prio[1], -1);
	assert_string_equal(r.a.msg[2], "after");
	fifo_close(&r);
}

/* A kmsg record longer than the buffer is dropped and counted once: its sequence number
 * is taken, so the next record does not count it again as a gap. */
static void test_fifo_long_record(void **state)
{
	struct fifo_rig r;
	char *big;

	(void)state;
	fifo_open(&r);
	put(&r, "6,20,100,-;before\n");
	/* Record 21 is 20 kB long; 22 and 23 were overwritten before they were read. */
	big = malloc(20000);
	assert_non_null(big);
	memset(big, 'x', 20000);
	memcpy(big, "6,21,200,-;", 11);
	big[19999] = '\n';
	put_all(&r, big, 20000);
	free(big);
	put(&r, "6,24,300,-;after\n");
	put(&r, "6,25,400,-;next\n");
	wait_for(r.base, &r.a, 3, NULL, 0);
	assert_int_equal(r.a.n, 3);
	assert_string_equal(r.a.msg[1], "after");
	assert_int_equal(r.a.lost[1], 3);
	assert_int_equal(r.a.lost[2], 0);
	assert_int_equal(kwatch_lost(r.k), 3);
	fifo_close(&r);
}

/* A flood is read a bounded number of lines per turn of the loop, as the journal's is,
 * so that frames and clients are served between: nothing of it is lost. */
static void test_fifo_flood_bounded(void **state)
{
	enum { LINES = 12000 };
	struct fifo_rig r;
	char *buf;
	size_t n = 0;
	int turns = 0;

	(void)state;
	fifo_open(&r);
	/* Room for the whole flood, so that it is there at once. */
	if (fcntl(r.fd, F_SETPIPE_SZ, 1 << 20) < (1 << 20))
		skip();
	buf = malloc((size_t)LINES * 64);
	assert_non_null(buf);
	for (int i = 0; i < LINES; i++)
		n += (size_t)sprintf(buf + n, "3,%d,100,-;imx_rproc_kick: failed (1, err:-62)\n",
				     i);
	put_all(&r, buf, n);
	free(buf);
	r.a.want = LINES;
	while (r.a.n < LINES && turns < 1000) {
		int before = r.a.n;
		event_base_loop(r.base, EVLOOP_ONCE);
		/* At most 1000 lines and what one read brings (8 KiB, some 140 lines here). */
		if (r.a.n - before > 1000 + 160)
			fail_msg("turn %d delivered %d lines", turns, r.a.n - before);
		turns++;
	}
	assert_int_equal(r.a.n, LINES);
	assert_int_equal(kwatch_lost(r.k), 0);
	fifo_close(&r);
}

/* What a FIFO held before the watch began is from before the start, like /dev/kmsg's
 * backlog: not delivered (a kick failure from then must not start a recovery). A line
 * under way when it began is. */
static void test_fifo_backlog(void **state)
{
	struct event_base *base = event_base_new();
	struct kwatch_config cfg = {.source = KWATCH_KMSG};
	struct sink a = {.base = base};
	struct kwatch *k;
	char path[128];
	int w;

	(void)state;
	snprintf(path, sizeof(path), "%s/kmsg", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	/* A feeder that holds the FIFO open as m7sim does, and wrote before the watch. */
	w = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	assert_true(w >= 0);
	static const char old[] =
		"3,1,100,-;imx-rproc imx8mp-cm7: imx_rproc_kick: failed (1, err:-62)\n"
		" SUBSYSTEM=platform\n DEVICE=+platform:imx8mp-cm7\n"
		"6,2,150,-;old\r\n\n6,3,200,-;under ";
	assert_int_equal(write(w, old, strlen(old)), (ssize_t)strlen(old));
	cfg.kmsg_path = path;
	assert_int_equal(kwatch_new(base, &cfg, on_line, &a, &k), 0);
	/* Skipped and counted: two records, their dictionary and an empty line aside. */
	assert_int_equal(kwatch_skipped(k), 2);
	static const char now[] = "way\n6,4,300,-;new\n";
	assert_int_equal(write(w, now, strlen(now)), (ssize_t)strlen(now));
	wait_for(base, &a, 2, NULL, 0);
	assert_int_equal(a.n, 2);
	assert_string_equal(a.msg[0], "under way");
	assert_string_equal(a.msg[1], "new");
	assert_int_equal(kwatch_lost(k), 0);
	assert_int_equal(kwatch_skipped(k), 2);
	close(w);
	kwatch_free(k);
	event_base_free(base);
}

/* A line longer than the buffer under way in a FIFO's backlog is dropped up to its
 * newline and counted, as one read later would be: its tail is not a line of its own. */
static void test_fifo_backlog_long_line(void **state)
{
	struct event_base *base = event_base_new();
	struct kwatch_config cfg = {.source = KWATCH_KMSG};
	struct sink a = {.base = base};
	struct kwatch *k;
	char path[128], *big;
	int w;

	(void)state;
	snprintf(path, sizeof(path), "%s/kmsg", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	w = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	assert_true(w >= 0);
	assert_int_equal(write(w, "6,1,100,-;old\n", 14), 14);
	/* 9000 bytes of one line, its end not written yet; the tail looks like a kick. */
	big = malloc(9000);
	assert_non_null(big);
	memset(big, 'x', 9000);
	memcpy(big + 9000 - 57, "imx-rproc imx8mp-cm7: imx_rproc_kick: failed (1, err:-62)", 57);
	assert_int_equal(write(w, big, 9000), 9000);
	free(big);
	cfg.kmsg_path = path;
	assert_int_equal(kwatch_new(base, &cfg, on_line, &a, &k), 0);
	static const char now[] = "\n6,3,300,-;new\n";
	assert_int_equal(write(w, now, strlen(now)), (ssize_t)strlen(now));
	wait_for(base, &a, 1, NULL, 0);
	assert_int_equal(a.n, 1);
	assert_string_equal(a.msg[0], "new");
	assert_int_equal(kwatch_skipped(k) + kwatch_lost(k), 2);
	close(w);
	kwatch_free(k);
	event_base_free(base);
}

/* A writer that writes one byte at a time (a shell loop, a slow serial console): each
 * line is handed on once, whole, however its bytes came; a record's dictionary and a
 * CRLF end are taken as in one piece. */
static void test_fifo_byte_by_byte(void **state)
{
	static const char text[] =
		"3,1,100,-,caller=T123;imx-rproc imx8mp-cm7: imx_rproc_kick: failed (1, err:-62)\n"
		" SUBSYSTEM=platform\n DEVICE=+platform:imx8mp-cm7\n"
		"<3>[  812.345678] [  T123] remoteproc remoteproc0: crash detected in imx-rproc: "
		"type watchdog\r\n"
		"6,2,200,c;continued\n";
	struct fifo_rig r;

	(void)state;
	fifo_open(&r);
	for (size_t i = 0; i < sizeof(text) - 1; i++) {
		put_all(&r, text + i, 1);
		event_base_loop(r.base, EVLOOP_NONBLOCK);
	}
	wait_for(r.base, &r.a, 3, NULL, 0);
	assert_int_equal(r.a.n, 3);
	assert_string_equal(r.a.msg[0],
			    "imx-rproc imx8mp-cm7: imx_rproc_kick: failed (1, err:-62)");
	assert_int_equal(r.a.prio[0], 3);
	assert_string_equal(r.a.msg[1], "<3>[  812.345678] [  T123] remoteproc remoteproc0: "
					"crash detected in imx-rproc: type watchdog");
	assert_string_equal(r.a.msg[2], "continued");
	assert_int_equal(kwatch_lost(r.k), 0);
	fifo_close(&r);
}

/* A plain line may begin with a blank (`dmesg -t` of a device without a driver word);
 * only " KEY=value" lines are a kmsg record's continuation. */
static void test_fifo_leading_blank(void **state)
{
	struct fifo_rig r;

	(void)state;
	fifo_open(&r);
	put(&r, "6,1,100,-;imx-rproc imx8mp-cm7: first\n SUBSYSTEM=platform\n"
		" DEVICE=+platform:imx8mp-cm7\n");
	put(&r, " remoteproc0#vdev0buffer: registered virtio0 (type 7)\n");
	put(&r, "6,2,200,-;last\n");
	wait_for(r.base, &r.a, 3, NULL, 0);
	assert_int_equal(r.a.n, 3);
	assert_string_equal(r.a.msg[1], " remoteproc0#vdev0buffer: registered virtio0 (type 7)");
	assert_string_equal(r.a.msg[2], "last");
	fifo_close(&r);
}

/* Runs the loop until open(path) for writing succeeds (a reader has it) or 30 s pass. */
static int open_writer(struct fifo_rig *r, const char *path)
{
	for (int i = 0; i < 3000; i++) {
		int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		struct timeval tv = {0, 10000};

		if (fd >= 0 || errno != ENXIO)
			return fd;
		event_base_loopexit(r->base, &tv);
		event_base_dispatch(r->base);
	}
	return -1;
}

/* A writer that leaves in the middle of a line cut it: counted lost, not glued to what
 * the next writer sends. */
static void test_fifo_writer_left(void **state)
{
	struct fifo_rig r;
	char path[128];

	(void)state;
	fifo_open(&r);
	snprintf(path, sizeof(path), "%s/kmsg", dir);
	put(&r, "6,1,100,-;first\n");
	put(&r, "6,2,200,-;imx-rproc imx8mp-cm7: imx_rp");
	wait_for(r.base, &r.a, 1, NULL, 0);
	close(r.fd);
	/* Until the watcher has seen the writer leave (it counts the cut line then). */
	for (int i = 0; i < 3000 && kwatch_lost(r.k) == 0; i++) {
		struct timeval tv = {0, 10000};
		event_base_loopexit(r.base, &tv);
		event_base_dispatch(r.base);
	}
	r.fd = open_writer(&r, path);
	assert_true(r.fd >= 0);
	put(&r, "6,3,300,-;imx-rproc imx8mp-cm7: imx_rproc_kick: failed (1, err:-62)\n");
	wait_for(r.base, &r.a, 2, NULL, 0);
	assert_int_equal(r.a.n, 2);
	assert_string_equal(r.a.msg[1],
			    "imx-rproc imx8mp-cm7: imx_rproc_kick: failed (1, err:-62)");
	assert_int_equal(r.a.lost[1], 1);
	assert_int_equal(kwatch_lost(r.k), 1);
	fifo_close(&r);
}

/* A kmsg record stamped now. */
static void put_now(struct fifo_rig *r, int seq, const char *text)
{
	struct timespec ts;
	char line[200];

	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(line, sizeof(line), "6,%d,%llu,-;%s\n", seq,
		 (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000,
		 text);
	put(r, line);
}

/* A FIFO there at the start whose feeder comes later (made by the service, `dmesg -w`
 * started after the daemon): what it prints first is the whole ring, from before the
 * start, as with a FIFO made later: skipped and counted. */
static void test_fifo_writer_later(void **state)
{
	struct kwatch_config cfg = {.source = KWATCH_KMSG};
	struct fifo_rig r;
	char path[128];

	(void)state;
	r.base = event_base_new();
	assert_non_null(r.base);
	r.a = (struct sink){.base = r.base};
	snprintf(path, sizeof(path), "%s/kmsg", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	cfg.kmsg_path = path;
	assert_int_equal(kwatch_new(r.base, &cfg, on_line, &r.a, &r.k), 0);
	r.fd = open_writer(&r, path);
	assert_true(r.fd >= 0);
	put(&r, "3,1,100,-;imx-rproc imx8mp-cm7: imx_rproc_kick: failed (1, err:-62)\n");
	put(&r, "[    0.000200] imx-rproc imx8mp-cm7: imx_rproc_kick: failed (1, err:-62)\n");
	put_now(&r, 3, "new");
	wait_for(r.base, &r.a, 1, NULL, 0);
	assert_int_equal(r.a.n, 1);
	assert_string_equal(r.a.msg[0], "new");
	assert_int_equal(kwatch_skipped(r.k), 2);
	fifo_close(&r);
}

/* A feeder restarted on the FIFO (`dmesg -w` again, `cat /dev/kmsg` again) prints the
 * whole ring once more: what was handed on already is not handed on twice. */
static void test_fifo_writer_restarted(void **state)
{
	struct fifo_rig r;
	char path[128];

	(void)state;
	fifo_open(&r);
	snprintf(path, sizeof(path), "%s/kmsg", dir);
	put(&r, "3,1,100,-;imx-rproc imx8mp-cm7: imx_rproc_kick: failed (1, err:-62)\n");
	put(&r, "[    0.000200] second\n6,2,250,-;cut");
	wait_for(r.base, &r.a, 2, NULL, 0);
	close(r.fd);
	/* Until the watch has seen the writer leave (it counts the cut line then). */
	for (int i = 0; i < 3000 && kwatch_lost(r.k) == 0; i++) {
		struct timeval tv = {0, 10000};
		event_base_loopexit(r.base, &tv);
		event_base_dispatch(r.base);
	}
	r.fd = open_writer(&r, path);
	assert_true(r.fd >= 0);
	put(&r, "3,1,100,-;imx-rproc imx8mp-cm7: imx_rproc_kick: failed (1, err:-62)\n"
		"[    0.000200] second\n6,2,250,-;cut short before\n6,3,300,-;third\n");
	wait_for(r.base, &r.a, 4, NULL, 0);
	assert_int_equal(r.a.n, 4);
	assert_string_equal(r.a.msg[0],
			    "imx-rproc imx8mp-cm7: imx_rproc_kick: failed (1, err:-62)");
	assert_string_equal(r.a.msg[1], "[    0.000200] second");
	/* The line the first writer left unfinished comes whole this time. */
	assert_string_equal(r.a.msg[2], "cut short before");
	assert_string_equal(r.a.msg[3], "third");
	assert_int_equal(kwatch_skipped(r.k), 2);
	assert_int_equal(kwatch_lost(r.k), 1);
	fifo_close(&r);
}

/* The FIFO is replaced (a new one renamed over it, or removed and made again, as a
 * restarted feeder does): its new writers are read, and what the old one still held is. */
static void test_fifo_replaced(void **state)
{
	struct fifo_rig r;
	char path[128], tmp[140];

	(void)state;
	fifo_open(&r);
	snprintf(path, sizeof(path), "%s/kmsg", dir);
	snprintf(tmp, sizeof(tmp), "%s/kmsg.new", dir);
	put(&r, "6,1,100,-;old\n");
	assert_int_equal(mkfifo(tmp, 0600), 0);
	assert_int_equal(rename(tmp, path), 0);
	close(r.fd);
	r.fd = open_writer(&r, path);
	assert_true(r.fd >= 0);
	put(&r, "6,2,200,-;new\n");
	wait_for(r.base, &r.a, 2, NULL, 0);
	assert_int_equal(r.a.n, 2);
	assert_string_equal(r.a.msg[0], "old");
	assert_string_equal(r.a.msg[1], "new");
	/* Gone for a while, then made again. */
	close(r.fd);
	assert_int_equal(unlink(path), 0);
	{
		struct timeval tv = {0, 50000};
		event_base_loopexit(r.base, &tv);
		event_base_dispatch(r.base);
	}
	assert_int_equal(mkfifo(path, 0600), 0);
	r.fd = open_writer(&r, path);
	assert_true(r.fd >= 0);
	put(&r, "6,3,300,-;again\n");
	wait_for(r.base, &r.a, 3, NULL, 0);
	assert_int_equal(r.a.n, 3);
	assert_string_equal(r.a.msg[2], "again");
	assert_int_equal(kwatch_lost(r.k), 0);
	fifo_close(&r);
}

struct path_notes {
	int n;
	int err[4];
};

static struct path_notes notes;

static void on_path(void *arg, const char *path, int err)
{
	(void)arg;
	(void)path;
	if (notes.n < 4)
		notes.err[notes.n] = err;
	notes.n++;
}

/* kmsg_path names a FIFO that its feeder makes only after the start: it is waited for
 * and read once it is there, without the records it brings from before the start
 * (`dmesg -w` prints the whole ring first). A device under /dev is not waited for. */
static void test_fifo_late(void **state)
{
	struct kwatch_config cfg = {.source = KWATCH_KMSG};
	struct fifo_rig r;
	char path[128], line[160];
	struct timespec ts;

	(void)state;
	r.base = event_base_new();
	assert_non_null(r.base);
	r.a = (struct sink){.base = r.base};
	cfg.kmsg_path = "/dev/m7b-no-such-kmsg";
	assert_int_equal(kwatch_new(r.base, &cfg, on_line, &r.a, &r.k), -ENOENT);
	assert_null(r.k);
	snprintf(path, sizeof(path), "%s/kmsg", dir);
	cfg.kmsg_path = path;
	cfg.on_path = on_path;
	notes = (struct path_notes){0};
	assert_int_equal(kwatch_new(r.base, &cfg, on_line, &r.a, &r.k), 0);
	assert_int_equal(kwatch_source(r.k), KWATCH_KMSG);
	assert_true(kwatch_waiting(r.k));
	/* The loop runs before the FIFO is made: nothing to read, nothing breaks. */
	{
		struct timeval tv = {0, 50000};
		event_base_loopexit(r.base, &tv);
		event_base_dispatch(r.base);
	}
	assert_int_equal(notes.n, 0);
	/* A regular file made there (`dmesg -w > PATH` without mkfifo) is said, once, and
	 * the wait goes on. */
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "6,1,1,-;x\n", 10), 10);
	close(fd);
	{
		struct timeval tv = {0, 50000};
		event_base_loopexit(r.base, &tv);
		event_base_dispatch(r.base);
	}
	assert_int_equal(notes.n, 1);
	assert_int_equal(notes.err[0], -EINVAL);
	assert_true(kwatch_waiting(r.k));
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkfifo(path, 0600), 0);
	{
		struct timeval tv = {0, 50000};
		event_base_loopexit(r.base, &tv);
		event_base_dispatch(r.base);
	}
	assert_false(kwatch_waiting(r.k));
	assert_int_equal(notes.n, 2);
	assert_int_equal(notes.err[1], 0);
	r.fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	assert_true(r.fd >= 0);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	put(&r, "3,1,100,-;imx-rproc imx8mp-cm7: imx_rproc_kick: failed (1, err:-62)\n");
	snprintf(line, sizeof(line), "6,2,%llu,-;new\n",
		 (unsigned long long)ts.tv_sec * 1000000ull +
			 (unsigned long long)ts.tv_nsec / 1000);
	put(&r, line);
	/* `dmesg -w` prints plain lines, stamped: the same for them, for the "<3>" of
	 * `dmesg -rw` and the "kern  :err   : " of `dmesg -xw`. */
	put(&r, "[    0.000100] imx-rproc imx8mp-cm7: imx_rproc_kick: failed (1, err:-62)\n");
	put(&r, "<3>[    0.000200] imx-rproc imx8mp-cm7: imx_rproc_kick: failed (1, err:-62)\n");
	put(&r, "kern  :err   : [    0.000250] imx-rproc imx8mp-cm7: imx_rproc_kick: failed (1, "
		"err:-62)\n");
	/* `journalctl -k -f -o short-monotonic` puts its stamp before the host. */
	put(&r, "[    0.000260] board kernel: imx-rproc imx8mp-cm7: imx_rproc_kick: failed (1, "
		"err:-62)\n");
	snprintf(line, sizeof(line), "[%5llu.%06llu] stamped\n", (unsigned long long)ts.tv_sec,
		 (unsigned long long)ts.tv_nsec / 1000);
	put(&r, line);
	put(&r, "plain line\n");
	wait_for(r.base, &r.a, 3, NULL, 0);
	assert_int_equal(r.a.n, 3);
	assert_string_equal(r.a.msg[0], "new");
	assert_non_null(strstr(r.a.msg[1], "] stamped"));
	assert_string_equal(r.a.msg[2], "plain line");
	assert_int_equal(kwatch_lost(r.k), 0);
	/* Counted, and said with the lines that came after them. */
	assert_int_equal(kwatch_skipped(r.k), 5);
	assert_int_equal(r.a.skipped, 5);
	/* Skipped lines and then nothing: said all the same. */
	put(&r, "6,3,200,-;old again\n<6>[    0.000300] old too\n");
	for (int i = 0; i < 3000 && r.a.skipped < 7; i++) {
		struct timeval tv = {0, 10000};
		event_base_loopexit(r.base, &tv);
		event_base_dispatch(r.base);
	}
	assert_int_equal(r.a.skipped, 7);
	assert_int_equal(kwatch_skipped(r.k), 7);
	assert_int_equal(r.a.n, 3);
	fifo_close(&r);
}

/* A regular file renamed over the FIFO being read (`dmesg -w > PATH.tmp && mv`): its
 * writers now reach the file, the old FIFO none. Said as a regular file there is while
 * waiting, and the watch waits: a FIFO put back is read. */
static void test_fifo_replaced_by_file(void **state)
{
	struct kwatch_config cfg = {.source = KWATCH_KMSG, .on_path = on_path};
	struct fifo_rig r;
	char path[128], tmp[140];
	int fd;

	(void)state;
	r.base = event_base_new();
	assert_non_null(r.base);
	r.a = (struct sink){.base = r.base};
	snprintf(path, sizeof(path), "%s/kmsg", dir);
	snprintf(tmp, sizeof(tmp), "%s/kmsg.tmp", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	cfg.kmsg_path = path;
	notes = (struct path_notes){0};
	assert_int_equal(kwatch_new(r.base, &cfg, on_line, &r.a, &r.k), 0);
	r.fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	assert_true(r.fd >= 0);
	/* Still in the old FIFO when it is replaced: read all the same. */
	put(&r, "old\n");
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "6,2,200,-;in the file\n", 22), 22);
	close(fd);
	assert_int_equal(rename(tmp, path), 0);
	wait_for(r.base, &r.a, 1, NULL, 0);
	for (int i = 0; i < 3000 && notes.n == 0; i++) {
		struct timeval tv = {0, 10000};
		event_base_loopexit(r.base, &tv);
		event_base_dispatch(r.base);
	}
	assert_int_equal(r.a.n, 1);
	assert_string_equal(r.a.msg[0], "old");
	assert_int_equal(notes.n, 1);
	assert_int_equal(notes.err[0], -EINVAL);
	assert_true(kwatch_waiting(r.k));
	/* The old FIFO has no reader left. */
	assert_int_equal(write(r.fd, "x\n", 2), -1);
	assert_int_equal(errno, EPIPE);
	close(r.fd);
	/* A FIFO put back is read from then on. */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkfifo(path, 0600), 0);
	r.fd = open_writer(&r, path);
	assert_true(r.fd >= 0);
	assert_false(kwatch_waiting(r.k));
	assert_int_equal(notes.n, 2);
	assert_int_equal(notes.err[1], 0);
	put(&r, "back\n");
	wait_for(r.base, &r.a, 2, NULL, 0);
	assert_int_equal(r.a.n, 2);
	assert_string_equal(r.a.msg[1], "back");
	fifo_close(&r);
}

/* ---- through the daemon ---- */

/* kernel_log = journal where no journald runs: no kernel line will ever reach the
 * journal, and the daemon says so rather than that it watches it. */
static void test_daemon_journal_absent(void **state)
{
	struct daemon_proc p;
	struct tclient c;
	char log[65536];

	(void)state;
	if (access("/run/systemd/journal/socket", F_OK) == 0)
		skip(); /* journald runs here */
	assert_int_equal(h_tmpdir(&p), 0);
	assert_int_equal(daemon_proc_start(&p, "kernel_log = journal\n"), 0);
	/* An answered request: the supervisor has started by then. */
	assert_int_equal(tclient_open(&c, p.sock, "{\"cmd\":\"watch\"}"), 0);
	tclient_close(&c);
	assert_int_equal(daemon_proc_stop(&p), 0);
	h_slurp_file(p.log, log, sizeof(log));
	if (!strstr(log, "journald does not run"))
		fail_msg("no warning in:\n%s", log);
	assert_null(strstr(log, "watching kernel messages from journal"));
	h_cleanup(&p);
}

/* Reads the first closed incident file of dir into a new cJSON, waiting up to 30 s. */
static cJSON *wait_incident_file(const char *dir_path)
{
	for (int i = 0; i < 600; i++) {
		DIR *d = opendir(dir_path);
		struct dirent *de;
		char path[600], text[1 << 17];

		while (d && (de = readdir(d))) {
			size_t n = strlen(de->d_name);
			if (strncmp(de->d_name, "incident-", 9) != 0 || n < 5 ||
			    strcmp(de->d_name + n - 5, ".json") != 0)
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir_path, de->d_name);
			closedir(d);
			h_slurp_file(path, text, sizeof(text));
			return cJSON_Parse(text);
		}
		if (d)
			closedir(d);
		usleep(50000);
	}
	return NULL;
}

/* A flood of kernel lines during an incident: its evidence holds the newest of them and
 * says how many more there were, so that nothing is shown as if it were all. */
static void test_daemon_kernel_dropped(void **state)
{
	struct daemon_proc p;
	char fifo[300], inc[300], conf[1500];
	static const char kick[] = "3,%d,100,-;imx-rproc imx8mp-cm7: imx_rproc_kick: failed (1, "
				   "err:-62)\n";
	char *buf = malloc(200 * 100);
	size_t len = 0;

	(void)state;
	assert_non_null(buf);
	assert_int_equal(h_tmpdir(&p), 0);
	snprintf(fifo, sizeof(fifo), "%s/kmsg", p.dir);
	snprintf(inc, sizeof(inc), "%s/incidents", p.dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	snprintf(conf, sizeof(conf),
		 "kernel_log = kmsg\nkmsg_path = %s\nincident_dir = %s\n"
		 "[channel m7]\ndevice = %s/ttyRPMSG30\nrecovery_steps = resync\n",
		 fifo, inc, p.dir);
	/* The feeder runs already: what it writes is from now on. */
	int w = open(fifo, O_RDWR | O_CLOEXEC);
	assert_true(w >= 0);
	assert_int_equal(daemon_proc_start(&p, conf), 0);
	/* The first opens the incident; 199 follow it, more than the ring of 32 holds. */
	for (int i = 1; i <= 200; i++)
		len += (size_t)sprintf(buf + len, kick, i);
	assert_int_equal(write(w, buf, len), (ssize_t)len);
	free(buf);
	cJSON *o = wait_incident_file(inc);
	assert_non_null(o);
	cJSON *ev = cJSON_GetObjectItem(o, "evidence");
	int n = cJSON_GetArraySize(cJSON_GetObjectItem(ev, "kernel"));
	cJSON *dropped = cJSON_GetObjectItem(ev, "kernel_dropped");
	assert_non_null(dropped);
	print_message("incident kernel lines: %d kept, %.0f dropped\n", n, dropped->valuedouble);
	assert_true(n >= 2);
	assert_true(dropped->valuedouble > 0);
	/* One before the fault, the rest after it: kept or counted, each once. */
	assert_int_equal((n - 1) + (int)dropped->valuedouble, 199);
	cJSON_Delete(o);
	close(w);
	assert_int_equal(daemon_proc_stop(&p), 0);
	h_cleanup(&p);
}

/* The incident files of dir_path, parsed, by sequence number (at most max). */
static int incident_files(const char *dir_path, cJSON **out, int max)
{
	DIR *d = opendir(dir_path);
	struct dirent *de;
	int n = 0;

	while (d && (de = readdir(d))) {
		char path[600], text[1 << 17];
		unsigned seq;

		if (sscanf(de->d_name, "incident-%u-", &seq) != 1 || seq == 0 || (int)seq > max)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir_path, de->d_name);
		h_slurp_file(path, text, sizeof(text));
		out[seq - 1] = cJSON_Parse(text);
		n = (int)seq > n ? (int)seq : n;
	}
	if (d)
		closedir(d);
	return n;
}

static double j_num0(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItem(o, key);
	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static void free_files(cJSON **f, int n)
{
	for (int i = 0; i < n; i++) {
		cJSON_Delete(f[i]);
		f[i] = NULL;
	}
}

/* Faults that never stop (kick failures, every 0.5 s, with the recovery given up) would
 * keep one incident open for ever, never written: at its cap it is written while they
 * go on, and a new one continues it; every fault is counted in one of them. */
static void test_daemon_incident_capped(void **state)
{
	struct daemon_proc p;
	char fifo[300], inc[300], conf[1500];
	static const char kick[] = "3,%d,100,-;imx-rproc imx8mp-cm7: imx_rproc_kick: failed (1, "
				   "err:-62)\n";
	enum { N = INCIDENT_MAX_EVENTS + 44, MAXF = 16 };
	char *buf = malloc(N * 100);
	cJSON *f[MAXF] = {0};
	size_t len = 0;
	int lines = 0, n = 0, capped = -1;

	(void)state;
	assert_non_null(buf);
	assert_int_equal(h_tmpdir(&p), 0);
	snprintf(fifo, sizeof(fifo), "%s/kmsg", p.dir);
	snprintf(inc, sizeof(inc), "%s/incidents", p.dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	snprintf(conf, sizeof(conf),
		 "kernel_log = kmsg\nkmsg_path = %s\nincident_dir = %s\n"
		 "[channel m7]\ndevice = %s/ttyRPMSG30\nrecovery_steps = resync\nrecovery_budget = "
		 "1\n",
		 fifo, inc, p.dir);
	/* The feeder runs already: what it writes is from now on. */
	int w = open(fifo, O_RDWR | O_CLOEXEC);
	assert_true(w >= 0);
	assert_int_equal(daemon_proc_start(&p, conf), 0);
	/* Enough to start the ladder, which fails: the budget of one is spent. */
	for (int i = 0; i < 10; i++)
		assert_true(dprintf(w, kick, ++lines) > 0);
	for (int i = 0; i < 300 && n < 1; i++) {
		usleep(100000);
		n = incident_files(inc, f, MAXF);
	}
	assert_int_equal(n, 1);
	assert_string_equal(j_str(f[0], "outcome"), "failed");
	for (int i = 1; i <= N; i++)
		len += (size_t)sprintf(buf + len, kick, ++lines);
	assert_int_equal(write(w, buf, len), (ssize_t)len);
	free(buf);
	/* Written while the faults go on (up to 30 s: the cap's age bounds it too). */
	for (int i = 0; i < 400 && capped < 0; i++) {
		usleep(100000);
		if (i % 5 == 4)
			assert_true(dprintf(w, kick, ++lines) > 0);
		free_files(f, n);
		n = incident_files(inc, f, MAXF);
		for (int k = 0; k < n; k++)
			if (f[k] && strcmp(j_str(f[k], "outcome"), "continued") == 0)
				capped = k;
	}
	if (capped < 0)
		fail_msg("no incident written in 40 s of faults (%d files)", n);
	assert_true(j_num0(f[capped], "events") <= INCIDENT_MAX_EVENTS);
	/* The faults stop: the one that continues it closes 2 s later. */
	close(w);
	for (int i = 0; i < 300 && n < capped + 2; i++) {
		usleep(100000);
		free_files(f, n);
		n = incident_files(inc, f, MAXF);
	}
	assert_true(n >= capped + 2);
	assert_non_null(f[capped + 1]);
	assert_int_equal((int)j_num0(f[capped + 1], "continues"), capped + 1);
	assert_string_equal(j_str(f[capped + 1], "kind"), "kick_timeout");
	/* Every fault in one incident or another. */
	double sum = 0;
	for (int k = 0; k < n; k++) {
		assert_non_null(f[k]);
		print_message("incident %d: %s events %.0f continues %.0f\n", k + 1,
			      j_str(f[k], "outcome"), j_num0(f[k], "events"),
			      j_num0(f[k], "continues"));
		sum += j_num0(f[k], "events");
	}
	assert_int_equal((int)sum, lines);
	free_files(f, n);
	assert_int_equal(daemon_proc_stop(&p), 0);
	h_cleanup(&p);
}

/* kmsg_path is a FIFO whose feeder starts after the daemon: the daemon warns once that
 * it is not there yet, and reads it once it is made. */
static void test_daemon_fifo_late(void **state)
{
	struct daemon_proc p;
	struct tclient c;
	char fifo[300], conf[1500], log[65536], line[200];
	struct timespec ts;
	int w = -1;

	(void)state;
	assert_int_equal(h_tmpdir(&p), 0);
	snprintf(fifo, sizeof(fifo), "%s/kmsg", p.dir);
	snprintf(conf, sizeof(conf),
		 "kernel_log = kmsg\nkmsg_path = %s\n"
		 "[channel m7]\ndevice = %s/ttyRPMSG30\nrecovery_steps =\n",
		 fifo, p.dir);
	assert_int_equal(daemon_proc_start(&p, conf), 0);
	assert_int_equal(tclient_open(&c, p.sock, "{\"cmd\":\"watch\",\"classes\":[\"FAULT\"]}"),
			 0);
	/* First the mistake of a redirection without mkfifo: said, and waited past. */
	int fd = open(fifo, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	for (int i = 0; i < 200; i++) {
		h_slurp_file(p.log, log, sizeof(log));
		if (strstr(log, "not a FIFO"))
			break;
		usleep(50000);
	}
	assert_non_null(strstr(log, "not a FIFO, not watched: it must be a FIFO"));
	assert_int_equal(unlink(fifo), 0);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	/* Opened for writing once the daemon reads it (ENXIO until then). */
	for (int i = 0; i < 200 && w < 0; i++) {
		w = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		if (w < 0)
			usleep(50000);
	}
	if (w < 0)
		fail_msg("the daemon never opened the FIFO made after its start");
	/* The feeder's replay of what came before the start: skipped, counted. */
	static const char old[] = "3,6,100,-;imx-rproc imx8mp-cm7: imx_rproc_kick: failed (1, "
				  "err:-62)\n";
	assert_int_equal(write(w, old, strlen(old)), (ssize_t)strlen(old));
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(line, sizeof(line),
		 "3,7,%llu,-;imx-rproc imx8mp-cm7: imx_rproc_kick: failed (1, err:-62)\n",
		 (unsigned long long)ts.tv_sec * 1000000ull +
			 (unsigned long long)ts.tv_nsec / 1000);
	assert_int_equal(write(w, line, strlen(line)), (ssize_t)strlen(line));
	cJSON *o = tclient_wait(&c, "FAULT", H_TIMEOUT_MS);
	assert_non_null(o);
	assert_string_equal(j_str(o, "kind"), "kick_timeout");
	cJSON_Delete(o);
	close(w);
	tclient_close(&c);
	assert_int_equal(daemon_proc_stop(&p), 0);
	h_slurp_file(p.log, log, sizeof(log));
	if (!strstr(log, "does not exist yet: waiting for it") ||
	    !strstr(log, "watching kernel messages from kmsg at") ||
	    !strstr(log, "kernel log: 1 backlog line(s) skipped (1 since the start)"))
		fail_msg("no warning in:\n%s", log);
	assert_null(strstr(log, "cannot watch the kernel log"));
	h_cleanup(&p);
}

/* What the FIFO held at the start is skipped and counted in the line that says it is
 * watched. */
static void test_daemon_fifo_backlog_counted(void **state)
{
	struct daemon_proc p;
	struct tclient c;
	char fifo[300], conf[1500], log[65536];
	static const char old[] =
		"3,1,100,-;imx-rproc imx8mp-cm7: imx_rproc_kick: failed (1, err:-62)\n"
		"6,2,150,-;old\n6,3,160,-;older\n";
	int w;

	(void)state;
	assert_int_equal(h_tmpdir(&p), 0);
	snprintf(fifo, sizeof(fifo), "%s/kmsg", p.dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	/* A feeder that wrote before the daemon started, and keeps the FIFO open. */
	w = open(fifo, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	assert_true(w >= 0);
	assert_int_equal(write(w, old, strlen(old)), (ssize_t)strlen(old));
	snprintf(conf, sizeof(conf),
		 "kernel_log = kmsg\nkmsg_path = %s\n"
		 "[channel m7]\ndevice = %s/ttyRPMSG30\nrecovery_steps =\n",
		 fifo, p.dir);
	assert_int_equal(daemon_proc_start(&p, conf), 0);
	/* An answered request: the supervisor has started by then. */
	assert_int_equal(tclient_open(&c, p.sock, "{\"cmd\":\"watch\"}"), 0);
	tclient_close(&c);
	close(w);
	assert_int_equal(daemon_proc_stop(&p), 0);
	h_slurp_file(p.log, log, sizeof(log));
	if (!strstr(log, "watching kernel messages from kmsg (3 line(s) it held from before "
			 "the start skipped)"))
		fail_msg("no count in:\n%s", log);
	assert_null(strstr(log, "kick_timeout"));
	h_cleanup(&p);
}

/* kmsg_path is a regular file at the start (`dmesg -w > PATH` without mkfifo, run before
 * the daemon): said, and a FIFO put in its place is read, as when the file comes later. */
static void test_daemon_kmsg_regular_file(void **state)
{
	struct daemon_proc p;
	struct tclient c;
	char fifo[300], tmp[310], conf[1500], log[65536], line[200];
	struct timespec ts;
	int w = -1;

	(void)state;
	assert_int_equal(h_tmpdir(&p), 0);
	snprintf(fifo, sizeof(fifo), "%s/kmsg", p.dir);
	snprintf(tmp, sizeof(tmp), "%s/kmsg.tmp", p.dir);
	assert_int_equal(h_put_file(fifo, "6,1,100,-;x\n"), 0);
	snprintf(conf, sizeof(conf),
		 "kernel_log = kmsg\nkmsg_path = %s\n"
		 "[channel m7]\ndevice = %s/ttyRPMSG30\nrecovery_steps =\n",
		 fifo, p.dir);
	assert_int_equal(daemon_proc_start(&p, conf), 0);
	assert_int_equal(tclient_open(&c, p.sock, "{\"cmd\":\"watch\",\"classes\":[\"FAULT\"]}"),
			 0);
	assert_int_equal(mkfifo(tmp, 0600), 0);
	assert_int_equal(rename(tmp, fifo), 0);
	for (int i = 0; i < 200 && w < 0; i++) {
		w = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		if (w < 0)
			usleep(50000);
	}
	if (w < 0)
		fail_msg("the daemon never opened the FIFO put in the file's place");
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(line, sizeof(line),
		 "3,7,%llu,-;imx-rproc imx8mp-cm7: imx_rproc_kick: failed (1, err:-62)\n",
		 (unsigned long long)ts.tv_sec * 1000000ull +
			 (unsigned long long)ts.tv_nsec / 1000);
	assert_int_equal(write(w, line, strlen(line)), (ssize_t)strlen(line));
	cJSON *o = tclient_wait(&c, "FAULT", H_TIMEOUT_MS);
	assert_non_null(o);
	assert_string_equal(j_str(o, "kind"), "kick_timeout");
	cJSON_Delete(o);
	close(w);
	tclient_close(&c);
	assert_int_equal(daemon_proc_stop(&p), 0);
	h_slurp_file(p.log, log, sizeof(log));
	if (!strstr(log, "not a FIFO, not watched: it must be a FIFO") ||
	    !strstr(log, "watching kernel messages from kmsg at"))
		fail_msg("no warning in:\n%s", log);
	assert_null(strstr(log, "cannot watch the kernel log"));
	assert_null(strstr(log, "does not exist yet"));
	h_cleanup(&p);
}

/* /dev/kmsg missing is not waited for: the warning says that the sandbox may hide it. */
static void test_daemon_dev_kmsg_missing(void **state)
{
	struct daemon_proc p;
	struct tclient c;
	char log[65536];

	(void)state;
	assert_int_equal(h_tmpdir(&p), 0);
	assert_int_equal(daemon_proc_start(&p, "kernel_log = kmsg\n"
					       "kmsg_path = /dev/m7b-no-such-kmsg\n"),
			 0);
	assert_int_equal(tclient_open(&c, p.sock, "{\"cmd\":\"watch\"}"), 0);
	tclient_close(&c);
	assert_int_equal(daemon_proc_stop(&p), 0);
	h_slurp_file(p.log, log, sizeof(log));
	if (!strstr(log, "cannot watch the kernel log (kmsg at /dev/m7b-no-such-kmsg): No such "
			 "file or directory (the service's sandbox may hide it"))
		fail_msg("no warning in:\n%s", log);
	h_cleanup(&p);
}

/* The daemon starts while the M7 runs: the virtio device its remoteproc registered is
 * read from sysfs, so the channel takes that device's lines and not another core's. */
static void test_daemon_running_virtio(void **state)
{
	static const char *const extra[] = {
		"sys/class/remoteproc/remoteproc0/rproc-virtio.0.auto",
		"sys/class/remoteproc/remoteproc0/rproc-virtio.0.auto/virtio2", NULL};
	struct daemon_proc p;
	struct tclient c;
	char fifo[300], conf[1500];

	(void)state;
	assert_int_equal(h_tmpdir(&p), 0);
	assert_int_equal(h_fake_rproc_tree(p.dir, "m7.elf\n", extra), 0);
	snprintf(fifo, sizeof(fifo), "%s/kmsg", p.dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	snprintf(conf, sizeof(conf),
		 "kernel_log = kmsg\nkmsg_path = %s\nsysfs_root = %s/sys\n"
		 "[channel m7]\ndevice = %s/ttyRPMSG30\nremoteproc = imx-rproc\n"
		 "recovery_steps =\n",
		 fifo, p.dir, p.dir);
	/* The feeder runs already: what it writes is from now on. */
	int w = open(fifo, O_RDWR | O_CLOEXEC);
	assert_true(w >= 0);
	assert_int_equal(daemon_proc_start(&p, conf), 0);
	assert_int_equal(tclient_open(&c, p.sock, "{\"cmd\":\"watch\",\"classes\":[\"FAULT\"]}"),
			 0);
	static const char lines[] = "6,1,100,-;virtio_rpmsg_bus virtio5: timeout waiting for a tx "
				    "buffer\n6,2,200,-;virtio_rpmsg_bus virtio2: timeout waiting "
				    "for a tx buffer\n";
	assert_int_equal(write(w, lines, strlen(lines)), (ssize_t)strlen(lines));
	/* In order: had virtio5's line been taken, its FAULT would come first. */
	cJSON *o = tclient_wait(&c, "FAULT", H_TIMEOUT_MS);
	assert_non_null(o);
	assert_string_equal(j_str(o, "kind"), "tx_buffer_timeout");
	assert_string_equal(j_str(o, "detail"),
			    "virtio_rpmsg_bus virtio2: timeout waiting for a tx buffer");
	cJSON_Delete(o);
	close(w);
	tclient_close(&c);
	assert_int_equal(daemon_proc_stop(&p), 0);
	h_cleanup(&p);
}

/* /dev/kmsg's ring, all of it printed before the start, is skipped and counted: a booted
 * kernel has printed something. */
static void test_dev_kmsg_backlog(void **state)
{
	struct event_base *base = event_base_new();
	struct kwatch_config cfg = {.source = KWATCH_KMSG};
	struct sink a = {.base = base};
	struct kwatch *k;
	int r;

	(void)state;
	r = kwatch_new(base, &cfg, on_line, &a, &k);
	if (r == -ENOENT || r == -EACCES || r == -EPERM) {
		event_base_free(base);
		skip(); /* no /dev/kmsg here, or dmesg_restrict */
	}
	assert_int_equal(r, 0);
	assert_true(kwatch_skipped(k) > 0);
	/* Nothing of it is handed on. */
	struct timeval tv = {0, 50000};
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
	assert_int_equal(kwatch_lost(k), 0);
	print_message("/dev/kmsg: %llu record(s) skipped, %d line(s) since\n",
		      (unsigned long long)kwatch_skipped(k), a.n);
	kwatch_free(k);
	event_base_free(base);
}

static void test_config(void **state)
{
	struct kwatch_config cfg = {0};
	struct kwatch *k;
	struct event_base *base = event_base_new();

	(void)state;
	assert_int_equal(kwatch_source_from_string("journal", &cfg), 0);
	assert_int_equal(cfg.source, KWATCH_JOURNAL);
	assert_int_equal(kwatch_source_from_string("kmsg", &cfg), 0);
	assert_int_equal(cfg.source, KWATCH_KMSG);
	assert_int_equal(kwatch_source_from_string("auto", &cfg), 0);
	assert_int_equal(cfg.source, KWATCH_OFF);
	assert_int_equal(cfg.off, 0);
	assert_int_equal(kwatch_source_from_string("nope", &cfg), -EINVAL);
	assert_int_equal(kwatch_source_from_string("off", &cfg), 0);
	assert_int_equal(kwatch_new(base, &cfg, on_line, NULL, &k), 0);
	assert_int_equal(kwatch_source(k), KWATCH_OFF);
	kwatch_free(k);
	cfg = (struct kwatch_config){.source = KWATCH_KMSG, .kmsg_path = "/nonexistent/kmsg"};
	assert_int_equal(kwatch_new(base, &cfg, on_line, NULL, &k), -ENOENT);
	assert_null(k);
	/* Sources that cannot be watched say why, not "out of memory": a directory, a
	 * regular file and a device without poll. */
	cfg.kmsg_path = "/";
	assert_int_equal(kwatch_new(base, &cfg, on_line, NULL, &k), -EISDIR);
	assert_null(k);
	cfg.kmsg_path = "/dev/null";
	assert_int_equal(kwatch_new(base, &cfg, on_line, NULL, &k), -EINVAL);
	/* A regular file outside /dev is waited past, as when it replaces the FIFO read:
	 * said, and a FIFO put there is read. */
	char file[] = "/tmp/m7b-kwatch-XXXXXX";
	int fd = mkstemp(file);
	assert_true(fd >= 0);
	close(fd);
	cfg.kmsg_path = file;
	cfg.on_path = on_path;
	notes = (struct path_notes){0};
	assert_int_equal(kwatch_new(base, &cfg, on_line, NULL, &k), 0);
	assert_true(kwatch_waiting(k));
	assert_int_equal(notes.n, 1);
	assert_int_equal(notes.err[0], -EINVAL);
	assert_int_equal(unlink(file), 0);
	assert_int_equal(mkfifo(file, 0600), 0);
	for (int i = 0; i < 3000 && kwatch_waiting(k); i++) {
		struct timeval tv = {0, 10000};
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
	assert_false(kwatch_waiting(k));
	assert_int_equal(notes.n, 2);
	assert_int_equal(notes.err[1], 0);
	k = kwatch_free(k);
	unlink(file);
	cfg.on_path = NULL;
	assert_string_equal(kwatch_source_to_string(KWATCH_JOURNAL), "journal");
	assert_null(kwatch_free(NULL));
	event_base_free(base);
}

/* A failed test leaves no daemon behind (it would hold the test's output open). */
static int group_teardown(void **state)
{
	(void)state;
	h_kill_all();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_journal, journal_setup, journal_teardown),
		cmocka_unit_test_setup_teardown(test_journal_missed, journal_setup,
						journal_teardown),
		cmocka_unit_test_setup_teardown(test_journal_userspace_kmsg, journal_setup,
						journal_teardown),
		cmocka_unit_test_setup_teardown(test_journal_unreadable, journal_setup,
						journal_teardown),
		cmocka_unit_test_setup_teardown(test_fifo, journal_setup, journal_teardown),
		cmocka_unit_test_setup_teardown(test_fifo_long_record, journal_setup,
						journal_teardown),
		cmocka_unit_test_setup_teardown(test_fifo_backlog, journal_setup, journal_teardown),
		cmocka_unit_test_setup_teardown(test_fifo_backlog_long_line, journal_setup,
						journal_teardown),
		cmocka_unit_test_setup_teardown(test_fifo_replaced_by_file, journal_setup,
						journal_teardown),
		cmocka_unit_test_setup_teardown(test_fifo_flood_bounded, journal_setup,
						journal_teardown),
		cmocka_unit_test_setup_teardown(test_fifo_leading_blank, journal_setup,
						journal_teardown),
		cmocka_unit_test_setup_teardown(test_fifo_byte_by_byte, journal_setup,
						journal_teardown),
		cmocka_unit_test_setup_teardown(test_fifo_writer_left, journal_setup,
						journal_teardown),
		cmocka_unit_test_setup_teardown(test_fifo_writer_later, journal_setup,
						journal_teardown),
		cmocka_unit_test_setup_teardown(test_fifo_writer_restarted, journal_setup,
						journal_teardown),
		cmocka_unit_test_setup_teardown(test_fifo_late, journal_setup, journal_teardown),
		cmocka_unit_test_setup_teardown(test_fifo_replaced, journal_setup,
						journal_teardown),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_dev_kmsg_backlog),
		cmocka_unit_test(test_daemon_kernel_dropped),
		cmocka_unit_test(test_daemon_incident_capped),
		cmocka_unit_test(test_daemon_journal_absent),
		cmocka_unit_test(test_daemon_fifo_late),
		cmocka_unit_test(test_daemon_fifo_backlog_counted),
		cmocka_unit_test(test_daemon_kmsg_regular_file),
		cmocka_unit_test(test_daemon_dev_kmsg_missing),
		cmocka_unit_test(test_daemon_running_virtio),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, group_teardown);
}
