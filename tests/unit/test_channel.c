/* Unit tests for daemon/channel.c with the tty replaced (-Wl,--wrap=open64,flock,ioctl,
 * tcgetattr,tcsetattr,fstat64,rawsys_read): open flags, raw mode, the exclusive lock, holder
 * naming, reopen after a hang-up, frames decoded once into typed messages, and the reads
 * per wake-up. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "m7bridge/cobs.h"
#include "m7bridge/crc32c.h"
#include "m7bridge/decoder.h"
#include "m7bridge/wire.h"

#include "channel.h"
#include "tty.h"

/* The fake tty: each open() gives one end of a new socketpair; the test holds the other
 * (the M7's side). */
static struct {
	int opens, open_flags;
	char path[128]; /* of the last open */
	int m7;		/* the test's end of the current tty */
	int flock_err;
	int flock_op;
	bool excl;
	struct termios set;
	bool set_called;
	int fd;		/* the channel's end */
	dev_t rdev;	/* the device number its fstat() gives (set at setup) */
	unsigned reads; /* read() calls on it */
} tty;

/* Every clock of the binary (the channel's and the test's) runs shift_ns ahead of the
 * real one; with stall_ns set, the next CLOCK_REALTIME read first adds it to the shift: the
 * thread was preempted for that long right before it. */
static struct {
	int64_t shift_ns, stall_ns;
} clk;

int __real_clock_gettime(clockid_t id, struct timespec *ts);
int __wrap_clock_gettime(clockid_t id, struct timespec *ts);
int __wrap_clock_gettime(clockid_t id, struct timespec *ts)
{
	int r = __real_clock_gettime(id, ts);
	if (r < 0)
		return r;
	if (id == CLOCK_REALTIME && clk.stall_ns) {
		clk.shift_ns += clk.stall_ns;
		clk.stall_ns = 0;
	}
	int64_t ns = (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec + clk.shift_ns;
	ts->tv_sec = (time_t)(ns / 1000000000);
	ts->tv_nsec = (long)(ns % 1000000000);
	return 0;
}

/* The build uses 64-bit file offsets, so the library calls open64 and fstat64. */
int __real_open64(const char *path, int flags, ...);
int __wrap_open64(const char *path, int flags, ...);
int __wrap_open64(const char *path, int flags, ...)
{
	if (!strstr(path, "ttyFAKE") && strncmp(path, "/dev/ttyRPMSG", 13) != 0)
		return __real_open64(path, flags, 0);
	snprintf(tty.path, sizeof(tty.path), "%s", path);
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	tty.opens++;
	tty.open_flags = flags;
	if (tty.m7 >= 0)
		close(tty.m7);
	tty.m7 = sv[1];
	tty.fd = sv[0];
	return sv[0];
}

ssize_t __real_rawsys_read(int fd, void *buf, size_t n);
ssize_t __wrap_rawsys_read(int fd, void *buf, size_t n);
ssize_t __wrap_rawsys_read(int fd, void *buf, size_t n)
{
	if (fd == tty.fd)
		tty.reads++;
	return __real_rawsys_read(fd, buf, n);
}

int __wrap_flock(int fd, int op);
int __wrap_flock(int fd, int op)
{
	tty.flock_op = op;
	if (tty.flock_err) {
		errno = tty.flock_err;
		return -1;
	}
	return 0;
}

int __wrap_ioctl(int fd, unsigned long req, ...);
int __wrap_ioctl(int fd, unsigned long req, ...)
{
	if (req == TIOCEXCL)
		tty.excl = true;
	return 0;
}

int __wrap_tcgetattr(int fd, struct termios *t);
int __wrap_tcgetattr(int fd, struct termios *t)
{
	/* What a fresh tty looks like: cooked, echoing. */
	memset(t, 0, sizeof(*t));
	t->c_lflag = ICANON | ECHO | ISIG;
	t->c_iflag = ICRNL | IXON;
	t->c_oflag = OPOST | ONLCR;
	return 0;
}

int __wrap_tcsetattr(int fd, int act, const struct termios *t);
int __wrap_tcsetattr(int fd, int act, const struct termios *t)
{
	tty.set = *t;
	tty.set_called = true;
	return 0;
}

int __real_fstat64(int fd, struct stat *st);
int __wrap_fstat64(int fd, struct stat *st);
int __wrap_fstat64(int fd, struct stat *st)
{
	int r = __real_fstat64(fd, st);
	st->st_rdev = tty.rdev;
	return r;
}

/* What the channel told its owner. */
static struct {
	unsigned msgs, hellos, new_boots, firsts, bad, gaps, lates;
	uint8_t last_type;
	uint64_t rx_mono_ns, rx_ms, rx_realtime_us;
	enum channel_state state;
	unsigned decoded;	   /* on_decoded calls: one per read() unless until is set */
	uint64_t good, rejected;   /* the counts of the last one */
	uint64_t skipped;	   /* and the good frames of the reads it was not told of */
	uint64_t decoded_good_sum; /* and of all */
	uint64_t until;		   /* what on_decoded returns */
	bool restart_in_call;	   /* on_decoded restarts the channel's calls first */
	unsigned close_at;	   /* on_msg closes the channel at this message (0: never) */
	bool reopen;		   /* and opens it again at once, as a recovery's reopen does */
	bool hold;		   /* holding it first, as the recovery does */
} seen;

static void on_msg(void *ud, struct channel *ch, const struct channel_msg *m)
{
	seen.msgs++;
	seen.last_type = m->frame->type;
	seen.firsts += m->first_after_open;
	seen.new_boots += m->new_boot;
	seen.bad += m->bad_payload;
	seen.gaps += m->seq_gap;
	seen.lates += m->late;
	seen.rx_mono_ns = m->rx_mono_ns;
	seen.rx_ms = m->rx_ms;
	seen.rx_realtime_us = m->rx_realtime_us;
	if (seen.msgs == seen.close_at) {
		if (seen.hold)
			channel_hold(ch, true);
		channel_close(ch, CHANNEL_DOWN, "test", 0);
		if (seen.reopen)
			assert_int_equal(channel_open_now(ch), 0);
	}
	if (m->frame->type == M7B_T_HELLO && !m->bad_payload) {
		seen.hellos++;
		/* the message carries the stored copy: NUL-terminated, length as kept */
		assert_int_equal(strlen(m->u.hello.name), m->u.hello.name_len);
	}
}

static void on_state(void *ud, struct channel *ch, enum channel_state old)
{
	seen.state = channel_get_state(ch);
}

static uint64_t on_decoded(void *ud, struct channel *ch, uint64_t skipped, uint64_t good,
			   uint64_t bad, uint64_t now_ms)
{
	seen.decoded++;
	seen.good = good;
	seen.rejected = bad;
	seen.skipped = skipped;
	seen.decoded_good_sum += skipped + good;
	/* the read's clock, as its frames carried it (a read that finished no frame has no
	 * message to compare with: the last one came from an earlier read) */
	assert_int_equal(now_ms, good ? seen.rx_ms : now_ms);
	if (seen.restart_in_call)
		channel_decoded_restart(ch);
	return seen.until;
}

static const struct channel_ops ops = {
	.on_msg = on_msg, .on_state = on_state, .on_decoded = on_decoded};

struct fixture {
	char dir[64];
	char device[96];
	struct event_base *base;
	struct channel *ch;
};

static int setup(void **state)
{
	static struct fixture f;
	memset(&tty, 0, sizeof(tty));
	memset(&seen, 0, sizeof(seen));
	memset(&clk, 0, sizeof(clk));
	tty.m7 = -1;
	tty.rdev = makedev(240, 30);
	snprintf(f.dir, sizeof(f.dir), "/tmp/m7b-chan-XXXXXX");
	assert_non_null(mkdtemp(f.dir));
	snprintf(f.device, sizeof(f.device), "%s/ttyFAKE", f.dir);
	f.base = event_base_new();
	struct conf_channel cfg = {.name = (char *)"m7",
				   .device = f.device,
				   .enabled = true,
				   .host_hello = true,
				   .send_queue = 4,
				   .send_timeout_ms = 1000,
				   .reopen_min_ms = 1,
				   .reopen_max_ms = 4};
	f.ch = channel_new(f.base, &cfg, 0, NULL, &ops, NULL);
	assert_non_null(f.ch);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	channel_free(f->ch);
	if (tty.m7 >= 0)
		close(tty.m7);
	event_base_free(f->base);
	rmdir(f->dir);
	return 0;
}

/* Reads one frame the channel wrote to the M7's side (waits up to 2 s). */
static void read_frame(struct m7b_frame *out)
{
	static struct m7b_decoder d;
	static uint8_t buf[1024];
	m7b_decoder_init(&d);
	for (int i = 0; i < 200; i++) {
		struct pollfd p = {.fd = tty.m7, .events = POLLIN};
		assert_true(poll(&p, 1, 2000) == 1);
		ssize_t n = read(tty.m7, buf, sizeof(buf));
		assert_true(n > 0);
		const uint8_t *pos = buf;
		if (m7b_decoder_next(&d, &pos, buf + n, out) == 1)
			return;
	}
	fail_msg("no frame from the channel");
}

/* Writes one M7 frame to the channel and runs the loop until it is taken. */
static void m7_send(struct fixture *f, uint8_t type, uint32_t seq, const void *pl, size_t len)
{
	uint8_t out[M7B_FRAME_MAX];
	struct m7b_frame h = {.ver = M7B_WIRE_VERSION, .type = type, .seq = seq, .len = len};
	struct m7b_part part = {pl, len};
	int n = m7b_wire_encode(out, sizeof(out), &h, &part, len ? 1 : 0);
	assert_true(n > 0);
	assert_int_equal(write(tty.m7, out, (size_t)n), n);
	unsigned before = seen.msgs;
	for (int i = 0; i < 100 && seen.msgs == before; i++)
		event_base_loop(f->base, EVLOOP_ONCE);
}

static void test_open_raw_exclusive_hello(void **state)
{
	struct fixture *f = *state;
	channel_start(f->ch);
	assert_int_equal(tty.opens, 1);
	assert_int_equal(tty.open_flags & O_ACCMODE, O_RDWR);
	assert_true(tty.open_flags & O_NOCTTY);
	assert_true(tty.open_flags & O_NONBLOCK);
	assert_true(tty.open_flags & O_CLOEXEC);
	assert_int_equal(tty.flock_op, LOCK_EX | LOCK_NB);
	assert_true(tty.excl);
	assert_true(tty.set_called);
	assert_false(tty.set.c_lflag & (ICANON | ECHO | ISIG));
	assert_false(tty.set.c_iflag & (ICRNL | IXON));
	assert_false(tty.set.c_oflag & OPOST);
	assert_int_equal(tty.set.c_cc[VMIN], 1);
	assert_int_equal(tty.set.c_cc[VTIME], 0);
	assert_true(channel_is_open(f->ch));
	assert_int_equal(channel_get_state(f->ch), CHANNEL_OPENING);
	/* It says hello: 0x00, then HOST_HELLO with seq 0. */
	struct m7b_frame fr;
	read_frame(&fr);
	assert_int_equal(fr.type, M7B_T_HOST_HELLO);
	assert_int_equal(fr.seq, 0);
}

static void test_busy_names_the_holder(void **state)
{
	struct fixture *f = *state;
	tty.flock_err = EWOULDBLOCK;
	channel_start(f->ch);
	struct channel_snapshot s;
	channel_snapshot(f->ch, &s);
	assert_false(s.open);
	assert_int_equal(s.state, CHANNEL_DOWN);
	assert_string_equal(s.reason, "busy");
	assert_int_equal(s.last_err, -EBUSY);
	assert_non_null(strstr(s.detail, "held by"));
}

static void put(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

/* A fake process in proc: fd 3 -> target (and, with master_of >= -1, fd 4 -> /dev/ptmx
 * whose fdinfo says tty-index master_of; -1 leaves the line out as older kernels do). */
static void fake_proc(const char *proc, int pid, const char *target, int master_of)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%d", proc, pid);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/%d/fd", proc, pid);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/%d/fdinfo", proc, pid);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/%d/fd/3", proc, pid);
	assert_int_equal(symlink(target, p), 0);
	snprintf(p, sizeof(p), "%s/%d/comm", proc, pid);
	put(p, "m7sim\n");
	if (master_of < -1)
		return;
	snprintf(p, sizeof(p), "%s/%d/fd/4", proc, pid);
	assert_int_equal(symlink("/dev/ptmx", p), 0);
	char info[64] = "pos:\t0\nflags:\t02\n";
	if (master_of >= 0)
		snprintf(info, sizeof(info), "pos:\t0\nflags:\t02\ntty-index:\t%d\n", master_of);
	snprintf(p, sizeof(p), "%s/%d/fdinfo/4", proc, pid);
	put(p, info);
}

/* The other end of a pty is not a competing reader; anyone else holding the slave is. */
static void test_pty_peer_is_not_a_holder(void **state)
{
	struct fixture *f = *state;
	char proc[PATH_MAX], cmd[PATH_MAX + 16], comm[32];
	int pid = 0, index;
	int m = posix_openpt(O_RDWR | O_NOCTTY);
	assert_true(m >= 0);
	assert_int_equal(grantpt(m), 0);
	assert_int_equal(unlockpt(m), 0);
	const char *slave = ptsname(m);
	assert_non_null(slave);
	assert_int_equal(sscanf(slave, "/dev/pts/%d", &index), 1);

	snprintf(proc, sizeof(proc), "%s/proc", f->dir);
	assert_int_equal(mkdir(proc, 0755), 0);
	fake_proc(proc, 4243, slave, index); /* holds the slave and its own master */
	assert_int_equal(tty_find_holder(proc, slave, &pid, comm, sizeof(comm)), -ENOENT);
	fake_proc(proc, 4244, slave, -1); /* a master without tty-index: taken as the peer */
	assert_int_equal(tty_find_holder(proc, slave, &pid, comm, sizeof(comm)), -ENOENT);
	fake_proc(proc, 4245, slave, index + 1); /* the master of another pty */
	assert_int_equal(tty_find_holder(proc, slave, &pid, comm, sizeof(comm)), 0);
	assert_int_equal(pid, 4245);
	snprintf(cmd, sizeof(cmd), "rm -rf %s/4245", proc);
	assert_int_equal(system(cmd), 0);
	fake_proc(proc, 4246, slave, -2); /* the slave only: a second reader */
	assert_int_equal(tty_find_holder(proc, slave, &pid, comm, sizeof(comm)), 0);
	assert_int_equal(pid, 4246);

	close(m);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", proc);
	assert_int_equal(system(cmd), 0);
}

/* A mainline-style tree: remoteproc0 "imx-rproc", virtio device v, endpoints probed in
 * the order given, so the Nth gets ttyRPMSG<N>. */
static void fake_sysfs(const char *sys, int v, const unsigned *eps, size_t n)
{
	char cmd[4096];
	int len = snprintf(cmd, sizeof(cmd),
			   "rm -rf '%s' && cd '%s/..' && mkdir -p sys/class/remoteproc "
			   "sys/bus/rpmsg/devices sys/class/tty sys/devices/rp/remoteproc0 && "
			   "echo imx-rproc > sys/devices/rp/remoteproc0/name && "
			   "ln -s %s/devices/rp/remoteproc0 sys/class/remoteproc/",
			   sys, sys, sys);
	for (size_t i = 0; i < n; i++) {
		char dev[256];
		snprintf(dev, sizeof(dev),
			 "%s/devices/rp/remoteproc0/virtio%d/virtio%d.rpmsg-tty.-1.%u", sys, v, v,
			 eps[i]);
		len += snprintf(
			cmd + len, sizeof(cmd) - (size_t)len,
			" && mkdir -p %s/tty/ttyRPMSG%zu && ln -s %s %s/bus/rpmsg/devices/ && "
			"ln -s %s %s/tty/ttyRPMSG%zu/device && ln -s %s/tty/ttyRPMSG%zu "
			"%s/class/tty/",
			dev, i, dev, sys, dev, dev, i, dev, i, sys);
	}
	assert_int_equal(system(cmd), 0);
}

/* `rpmsg =`: the node is found through sysfs at each open, also after renumbering. */
static void test_rpmsg_channel_resolves_at_each_open(void **state)
{
	struct fixture *f = *state;
	char sys[128];
	snprintf(sys, sizeof(sys), "%s/sys", f->dir);
	struct conf_channel cfg = {.name = (char *)"m7",
				   .rpmsg = (char *)"imx-rproc:30",
				   .enabled = true,
				   .send_queue = 4,
				   .send_timeout_ms = 1000,
				   .reopen_min_ms = 1000,
				   .reopen_max_ms = 1000};
	struct channel *ch = channel_new(f->base, &cfg, 1, NULL, &ops, NULL);
	struct channel_snapshot s;
	assert_non_null(ch);
	assert_int_equal(channel_set_sysfs_root(ch, sys), 0);
	/* Nothing there yet: waiting, and says for what. */
	fake_sysfs(sys, 0, NULL, 0);
	channel_start(ch);
	channel_snapshot(ch, &s);
	assert_int_equal(s.state, CHANNEL_DOWN);
	assert_string_equal(s.reason, "not_found");
	assert_non_null(strstr(s.detail, "no rpmsg endpoint 30 on imx-rproc"));
	assert_string_equal(channel_config(ch)->device, "rpmsg:imx-rproc:30");
	assert_int_equal(tty.opens, 0);
	/* Probed second: ttyRPMSG1. */
	static const unsigned first[] = {31, 30}, second[] = {30, 31};
	fake_sysfs(sys, 0, first, 2);
	assert_int_equal(channel_open_now(ch), 0);
	assert_string_equal(tty.path, "/dev/ttyRPMSG1");
	assert_string_equal(channel_config(ch)->device, "/dev/ttyRPMSG1");
	/* A remoteproc restart renumbers: the next open follows the endpoint. */
	channel_close(ch, CHANNEL_DOWN, "eof", 0);
	fake_sysfs(sys, 1, second, 2);
	assert_int_equal(channel_open_now(ch), 0);
	assert_string_equal(tty.path, "/dev/ttyRPMSG0");
	assert_int_equal(tty.opens, 2);
	channel_free(ch);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", sys);
	assert_int_equal(system(cmd), 0);
}

static void test_find_holder_in_a_fake_proc(void **state)
{
	struct fixture *f = *state;
	char p[PATH_MAX], dev[PATH_MAX];
	snprintf(dev, sizeof(dev), "%s/node", f->dir);
	put(dev, "");
	snprintf(p, sizeof(p), "%s/proc", f->dir);
	assert_int_equal(mkdir(p, 0755), 0);
	/* Not a process, our own pid, and a process holding another file: all skipped. */
	snprintf(p, sizeof(p), "%s/proc/sys", f->dir);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/proc/77", f->dir);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/proc/77/fd", f->dir);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/proc/77/fd/0", f->dir);
	assert_int_equal(symlink("/dev/null", p), 0);

	int pid = 0;
	char comm[32] = "";
	snprintf(p, sizeof(p), "%s/proc", f->dir);
	assert_int_equal(tty_find_holder(p, dev, &pid, comm, sizeof(comm)), -ENOENT);

	snprintf(p, sizeof(p), "%s/proc/4242", f->dir);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/proc/4242/fd", f->dir);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/proc/4242/fd/5", f->dir);
	assert_int_equal(symlink(dev, p), 0);
	snprintf(p, sizeof(p), "%s/proc/4242/comm", f->dir);
	put(p, "gpsd\n");
	snprintf(p, sizeof(p), "%s/proc", f->dir);
	assert_int_equal(tty_find_holder(p, dev, &pid, comm, sizeof(comm)), 0);
	assert_int_equal(pid, 4242);
	assert_string_equal(comm, "gpsd");
	/* A name with bytes that are not UTF-8 or control characters: kept printable. */
	snprintf(p, sizeof(p), "%s/proc/4242/comm", f->dir);
	put(p, "gps\xff\x1b[1m\n");
	snprintf(p, sizeof(p), "%s/proc", f->dir);
	assert_int_equal(tty_find_holder(p, dev, &pid, comm, sizeof(comm)), 0);
	assert_string_equal(comm, "gps\xef\xbf\xbd?[1m");

	char cmd[2 * PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf %s/proc %s", f->dir, dev);
	assert_int_equal(system(cmd), 0);
}

static void test_reopens_after_hangup(void **state)
{
	struct fixture *f = *state;
	channel_start(f->ch);
	assert_int_equal(tty.opens, 1);
	close(tty.m7); /* the M7's side goes away: end of file */
	tty.m7 = -1;
	for (int i = 0; i < 200 && tty.opens < 2; i++)
		event_base_loop(f->base, EVLOOP_ONCE);
	assert_int_equal(tty.opens, 2);
	struct channel_snapshot s;
	channel_snapshot(f->ch, &s);
	assert_true(s.open);
	assert_int_equal(s.stats.opens, 2);
	assert_int_equal(s.stats.reopens, 1);
}

static void test_frames_decoded_once(void **state)
{
	struct fixture *f = *state;
	channel_start(f->ch);
	uint8_t pl[M7B_PAYLOAD_MAX];
	struct m7b_hello h = {.tick_hz = 1000000,
			      .boot_id = 0xabcd,
			      .max_payload = 200,
			      .host_credits = 4,
			      .name = "fw-test",
			      .name_len = 7};
	int n = m7b_wire_pack_hello(pl, sizeof(pl), &h);
	assert_true(n > 0);
	m7_send(f, M7B_T_HELLO, 0, pl, (size_t)n);
	assert_int_equal(seen.hellos, 1);
	assert_int_equal(seen.new_boots, 1);
	assert_int_equal(seen.firsts, 1);
	assert_int_equal(seen.state, CHANNEL_UP);
	/* Same boot again: not new. */
	m7_send(f, M7B_T_HELLO, 0, pl, (size_t)n);
	assert_int_equal(seen.new_boots, 1);
	assert_int_equal(seen.firsts, 1);
	/* A DATA frame too short to unpack: passed on as bad and counted, once. */
	m7_send(f, M7B_T_DATA, 3, "xy", 2);
	assert_int_equal(seen.bad, 1);
	assert_int_equal(seen.gaps, 2); /* seq 1 and 2 never came */
	struct channel_snapshot s;
	channel_snapshot(f->ch, &s);
	assert_int_equal(s.stats.bad_payloads, 1);
	/* data_frames counts published frames only; the malformed one is booked as lost */
	assert_int_equal(s.stats.data_frames, 0);
	assert_int_equal(s.stats.bad_data, 1);
	assert_int_equal(s.books.port[0].current, 1);
	assert_int_equal(s.stats.seq_gaps, 2);
	assert_int_equal(s.stats.unknown_types, 0);
	/* BOOT_INFO is decoded, not an unknown type, and settles the books of its boot */
	h.boot_id = 0xbeef;
	n = m7b_wire_pack_hello(pl, sizeof(pl), &h);
	m7_send(f, M7B_T_HELLO, 0, pl, (size_t)n);
	struct m7b_boot_info bi = {.present = M7B_BI_HAS_PREV_BOOT,
				   .prev_flags = M7B_BI_PREV_VALID,
				   .prev_boot_id = 0xabcd,
				   .nports = 1};
	bi.port[0] = (struct m7b_boot_port){.port = 0, .produced = 4, .sent = 3, .queued = 1};
	n = m7b_wire_pack_boot_info(pl, sizeof(pl), &bi);
	assert_true(n > 0);
	m7_send(f, M7B_T_BOOT_INFO, 1, pl, (size_t)n);
	channel_snapshot(f->ch, &s);
	assert_int_equal(s.stats.unknown_types, 0);
	assert_int_equal(s.stats.boot_infos, 1);
	assert_int_equal(s.books.boots_settled, 1);
	assert_int_equal(s.books.port[0].malformed, 1);
	assert_int_equal(s.books.port[0].lost_link, 2);
	assert_int_equal(s.books.port[0].lost_reboot, 1);
	assert_true(s.have_hello);
	assert_string_equal(s.fw_name, "fw-test");
	assert_string_equal(s.hello.name, "fw-test");
	assert_int_equal(s.hello.boot_id, 0xbeef);
}

/* The firmware's name is kept whole (the wire allows 458 bytes) and as valid UTF-8. */
static void test_firmware_name(void **state)
{
	struct fixture *f = *state;
	channel_start(f->ch);
	char name[M7B_PAYLOAD_MAX - 20];
	memset(name, 'n', sizeof(name));
	memcpy(name + 126, "\xc3\xa9", 2); /* across the old 127-byte cut */
	name[200] = (char)0xff;
	name[300] = '\0';
	uint8_t pl[M7B_PAYLOAD_MAX];
	struct m7b_hello h = {.tick_hz = 1000,
			      .boot_id = 1,
			      .max_payload = 200,
			      .host_credits = 4,
			      .name = name,
			      .name_len = sizeof(name)};
	int n = m7b_wire_pack_hello(pl, sizeof(pl), &h);
	assert_int_equal(n, M7B_PAYLOAD_MAX);
	m7_send(f, M7B_T_HELLO, 0, pl, (size_t)n);
	struct channel_snapshot s;
	channel_snapshot(f->ch, &s);
	/* 458 bytes, two of them replaced by 3-byte U+FFFD each */
	assert_int_equal(strlen(s.fw_name), sizeof(name) + 4);
	assert_memory_equal(s.fw_name + 126, "\xc3\xa9", 2);
	assert_memory_equal(s.fw_name + 200, "\xef\xbf\xbd", 3);
	assert_memory_equal(s.fw_name + 300 + 2, "\xef\xbf\xbd", 3);
	assert_int_equal(s.fw_name[strlen(s.fw_name) - 1], 'n');
}

/* At low rates one read() per wake-up, not a second one for EAGAIN; a backlog is read on.
 * Every message carries the clocks of the read() that brought it. */
static void test_reads_per_wakeup(void **state)
{
	struct fixture *f = *state;
	uint8_t pl[64] = {0};
	channel_start(f->ch);
	m7_send(f, M7B_T_DATA, 0, pl, sizeof(pl));
	tty.reads = 0;
	struct timespec before, real0, real1;
	clock_gettime(CLOCK_REALTIME, &real0);
	clock_gettime(CLOCK_MONOTONIC, &before);
	m7_send(f, M7B_T_DATA, 1, pl, sizeof(pl));
	clock_gettime(CLOCK_REALTIME, &real1);
	assert_int_equal(tty.reads, 1);
	uint64_t mono = (uint64_t)before.tv_sec * 1000000000u + (uint64_t)before.tv_nsec;
	assert_true(seen.rx_mono_ns >= mono && seen.rx_mono_ns - mono < 10000000000u);
	assert_int_equal(seen.rx_ms, seen.rx_mono_ns / 1000000u);
	assert_true(seen.rx_realtime_us > 1000000000000000u); /* after 2001 */
	/* REALTIME comes from MONOTONIC and an offset read earlier: still between the
	 * wall clock's readings around the read (1 us for their rounding). */
	uint64_t r0 = (uint64_t)real0.tv_sec * 1000000u + (uint64_t)real0.tv_nsec / 1000u;
	uint64_t r1 = (uint64_t)real1.tv_sec * 1000000u + (uint64_t)real1.tv_nsec / 1000u;
	assert_true(seen.rx_realtime_us + 1 >= r0 && seen.rx_realtime_us <= r1 + 1);
	/* Forty frames at once, more than a short read: read again until EAGAIN. */
	uint8_t burst[40 * M7B_FRAME_MAX];
	size_t len = 0;
	for (uint32_t i = 0; i < 40; i++) {
		struct m7b_frame h = {.ver = M7B_WIRE_VERSION,
				      .type = M7B_T_DATA,
				      .seq = 2 + i,
				      .len = sizeof(pl)};
		struct m7b_part part = {pl, sizeof(pl)};
		int n = m7b_wire_encode(burst + len, sizeof(burst) - len, &h, &part, 1);
		assert_true(n > 0);
		len += (size_t)n;
	}
	assert_int_equal(write(tty.m7, burst, len), (ssize_t)len);
	unsigned msgs = seen.msgs;
	tty.reads = 0;
	for (int i = 0; i < 100 && seen.msgs < msgs + 40; i++)
		event_base_loop(f->base, EVLOOP_ONCE);
	assert_int_equal(seen.msgs, msgs + 40);
	assert_int_equal(seen.gaps, 0);
	assert_true(tty.reads >= 2);
}

/* Writes n bytes on the M7's side and runs the loop until the channel has read them. */
static void m7_write_raw(struct fixture *f, const void *b, size_t n)
{
	unsigned reads = tty.reads, decoded = seen.decoded;
	assert_int_equal(write(tty.m7, b, n), (ssize_t)n);
	for (int i = 0; i < 100 && (tty.reads == reads || seen.decoded == decoded); i++)
		event_base_loop(f->base, EVLOOP_ONCE);
	assert_int_equal(tty.reads, reads + 1); /* a short read: one per wake-up */
	assert_int_equal(seen.decoded, decoded + 1);
}

/* One DATA frame encoded into out; its length. */
static size_t data_frame(uint8_t *out, size_t cap, uint32_t seq)
{
	uint8_t pl[64];
	memset(pl, (int)seq, sizeof(pl));
	struct m7b_frame h = {.ver = M7B_WIRE_VERSION, .type = M7B_T_DATA, .seq = seq, .len = 64};
	struct m7b_part part = {pl, sizeof(pl)};
	int n = m7b_wire_encode(out, cap, &h, &part, 1);
	assert_true(n > 2);
	return (size_t)n;
}

/* Reads that end inside a frame, or right after it, or with its delimiter alone: every
 * frame is decoded once, when its last byte came, and each read() reports what it
 * decoded and rejected. */
static void test_frames_across_reads(void **state)
{
	struct fixture *f = *state;
	uint8_t b[4 * M7B_FRAME_MAX];
	channel_start(f->ch);
	/* A frame alone. */
	size_t n = data_frame(b, sizeof(b), 0);
	m7_write_raw(f, b, n);
	assert_int_equal(seen.msgs, 1);
	assert_int_equal(seen.good, 1);
	/* All but its delimiter: nothing yet; then the delimiter alone, a 1-byte read. */
	n = data_frame(b, sizeof(b), 1);
	m7_write_raw(f, b, n - 1);
	assert_int_equal(seen.msgs, 1);
	assert_int_equal(seen.good, 0);
	assert_int_equal(seen.rejected, 0);
	m7_write_raw(f, b + n - 1, 1);
	assert_int_equal(seen.msgs, 2);
	assert_int_equal(seen.good, 1);
	/* A frame and the first byte of the next, then the rest of it. */
	n = data_frame(b, sizeof(b), 2);
	size_t n2 = data_frame(b + n, sizeof(b) - n, 3);
	m7_write_raw(f, b, n + 1);
	assert_int_equal(seen.msgs, 3);
	assert_int_equal(seen.good, 1);
	m7_write_raw(f, b + n + 1, n2 - 1);
	assert_int_equal(seen.msgs, 4);
	assert_int_equal(seen.good, 1);
	/* Noise, then two frames, in one read. */
	memcpy(b, "hello world!", 13); /* with its NUL: a rejected candidate */
	n = 13 + data_frame(b + 13, sizeof(b) - 13, 4);
	n += data_frame(b + n, sizeof(b) - n, 5);
	m7_write_raw(f, b, n);
	assert_int_equal(seen.msgs, 6);
	assert_int_equal(seen.good, 2);
	assert_int_equal(seen.rejected, 1);
	assert_int_equal(seen.gaps, 0);
	assert_int_equal(seen.decoded_good_sum, 6);
}

/* Writes n bytes on the M7's side and runs the loop until the channel has read them, in
 * one read(); checks whether on_decoded was told of it (waiting on the read alone, so
 * that a wrong answer fails rather than waits). */
static void m7_write_told(struct fixture *f, const void *b, size_t n, bool told)
{
	unsigned reads = tty.reads, decoded = seen.decoded;
	assert_int_equal(write(tty.m7, b, n), (ssize_t)n);
	for (int i = 0; i < 100 && tty.reads == reads; i++)
		event_base_loop(f->base, EVLOOP_ONCE);
	assert_int_equal(tty.reads, reads + 1);
	assert_int_equal(seen.decoded, decoded + told);
}

/* Before the time on_decoded returned, a read without rejects is not handed over: its
 * good frames come with the next call, made by a read with rejects, a read at or after
 * that time, or the first read after channel_decoded_restart() (also one made during
 * the call). */
static void test_quiet_reads_come_with_the_next_call(void **state)
{
	struct fixture *f = *state;
	uint8_t b[2 * M7B_FRAME_MAX];
	uint32_t seq = 0;
	channel_start(f->ch);
	seen.until = UINT64_MAX;
	/* The first read is told: nothing was returned yet. */
	m7_write_told(f, b, data_frame(b, sizeof(b), seq++), true);
	assert_int_equal(seen.good, 1);
	assert_int_equal(seen.skipped, 0);
	for (int i = 0; i < 3; i++)
		m7_write_told(f, b, data_frame(b, sizeof(b), seq++), false);
	assert_int_equal(seen.msgs, 4);
	/* A rejected candidate: told, with the three frames before. */
	memcpy(b, "hello world!", 13);
	m7_write_told(f, b, 13 + data_frame(b + 13, sizeof(b) - 13, seq++), true);
	assert_int_equal(seen.skipped, 3);
	assert_int_equal(seen.good, 1);
	assert_int_equal(seen.rejected, 1);
	/* Restarted: the next read is told, with the frames not told of yet. */
	m7_write_told(f, b, data_frame(b, sizeof(b), seq++), false);
	channel_decoded_restart(f->ch);
	m7_write_told(f, b, data_frame(b, sizeof(b), seq++), true);
	assert_int_equal(seen.skipped, 1);
	assert_int_equal(seen.good, 1);
	/* A restart during the call outlives what the call returns. */
	seen.restart_in_call = true;
	memcpy(b, "hello world!", 13);
	m7_write_told(f, b, 13 + data_frame(b + 13, sizeof(b) - 13, seq++), true);
	seen.restart_in_call = false;
	m7_write_told(f, b, data_frame(b, sizeof(b), seq++), true);
	m7_write_told(f, b, data_frame(b, sizeof(b), seq++), false);
	/* A time passed: every read is told again. */
	seen.until = 0;
	memcpy(b, "hello world!", 13);
	m7_write_told(f, b, 13 + data_frame(b + 13, sizeof(b) - 13, seq++), true);
	assert_int_equal(seen.skipped, 1);
	m7_write_told(f, b, data_frame(b, sizeof(b), seq++), true);
	m7_write_told(f, b, data_frame(b, sizeof(b), seq++), true);
	assert_int_equal(seen.skipped, 0);
	assert_int_equal(seen.msgs, seq);
	assert_int_equal(seen.decoded_good_sum, seq);
	assert_int_equal(seen.gaps, 0);
}

/* Counts the frames of type t the channel wrote to the M7's side (its writer is a thread:
 * waits up to 2 s for the first byte, then until 300 ms pass without one). */
static unsigned count_written(uint8_t t)
{
	struct m7b_decoder d;
	uint8_t buf[4096];
	unsigned n = 0;
	int wait_ms = 2000;
	m7b_decoder_init(&d);
	for (;;) {
		struct pollfd p = {.fd = tty.m7, .events = POLLIN};
		if (poll(&p, 1, wait_ms) != 1)
			return n;
		ssize_t got = read(tty.m7, buf, sizeof(buf));
		if (got <= 0)
			return n;
		const uint8_t *pos = buf;
		struct m7b_frame fr;
		while (m7b_decoder_next(&d, &pos, buf + got, &fr) == 1)
			n += fr.type == t;
		wait_ms = 300;
	}
}

/* The M7's side of a crafted stream: bytes to write, and what was written so far. */
struct stream {
	uint8_t b[1000];
	size_t n;
	uint64_t zeros, bytes; /* every 0x00 and every byte written */
};

/* Appends one frame (DATA on port 1); returns its wire length, delimiter included. */
static size_t put_frame(struct stream *s, uint8_t type, uint32_t seq, const void *pl, size_t len)
{
	struct m7b_frame h = {.ver = M7B_WIRE_VERSION,
			      .type = type,
			      .port = type == M7B_T_DATA ? 1 : 0,
			      .seq = seq,
			      .len = (uint16_t)len};
	struct m7b_part part = {pl, len};
	int n = m7b_wire_encode(s->b + s->n, sizeof(s->b) - s->n, &h, &part, len ? 1 : 0);
	assert_true(n > 0);
	s->n += (size_t)n;
	return (size_t)n;
}

static size_t put_data(struct stream *s, uint32_t seq)
{
	uint8_t pl[16 + 40];
	memset(pl, 0, 16);
	memset(pl + 16, 'a' + (int)(seq % 26), 40);
	return put_frame(s, M7B_T_DATA, seq, pl, sizeof(pl));
}

static size_t put_hello(struct stream *s, uint32_t boot_id)
{
	uint8_t pl[M7B_PAYLOAD_MAX];
	struct m7b_hello h = {.tick_hz = 1000000, .boot_id = boot_id, .host_credits = 4};
	int n = m7b_wire_pack_hello(pl, sizeof(pl), &h);
	assert_true(n > 0);
	return put_frame(s, M7B_T_HELLO, 0, pl, (size_t)n);
}

static size_t put_boot_info(struct stream *s, uint32_t seq, const struct m7b_boot_info *bi)
{
	uint8_t pl[M7B_PAYLOAD_MAX];
	int n = m7b_wire_pack_boot_info(pl, sizeof(pl), bi);
	assert_true(n > 0);
	return put_frame(s, M7B_T_BOOT_INFO, seq, pl, (size_t)n);
}

static void put_raw(struct stream *s, const void *p, size_t n)
{
	assert_true(s->n + n <= sizeof(s->b));
	memcpy(s->b + s->n, p, n);
	s->n += n;
}

/* Writes what was put (one short read) and starts over. */
static void flush_stream(struct fixture *f, struct stream *s)
{
	for (size_t i = 0; i < s->n; i++)
		s->zeros += s->b[i] == 0;
	s->bytes += s->n;
	m7_write_raw(f, s->b, s->n);
	s->n = 0;
}

/* A resync (HOST_HELLO on the open tty) while a frame is half read: the byte stream goes
 * on, the M7 writes whole frames, so the rest of it completes the frame. It is delivered,
 * not cut off as a rejected candidate that only the boot's books would then miss; and the
 * HELLO that answers the resync follows on its own. */
static void test_resync_keeps_half_read_frame(void **state)
{
	struct fixture *f = *state;
	uint8_t b[2 * M7B_FRAME_MAX];
	struct channel_snapshot snap;
	size_t n0 = data_frame(b, sizeof(b), 0);
	size_t n1 = data_frame(b + n0, sizeof(b) - n0, 1);

	channel_start(f->ch);
	m7_write_raw(f, b, n0 + 10);
	assert_int_equal(seen.msgs, 1);
	assert_int_equal(channel_resync(f->ch), 0);
	m7_write_raw(f, b + n0 + 10, n1 - 10);
	assert_int_equal(seen.msgs, 2);
	assert_int_equal(seen.good, 1);
	assert_int_equal(seen.rejected, 0);
	struct stream s = {.n = 0};
	put_hello(&s, 0x1234);
	flush_stream(f, &s);
	assert_int_equal(seen.hellos, 1);
	channel_snapshot(f->ch, &snap);
	assert_int_equal(snap.stats.data_frames, 2);
	assert_int_equal(snap.dec.rejected, 0);
	assert_int_equal(snap.dec.noise_bytes, 0);
	assert_int_equal(snap.dec.bytes, n0 + n1 + s.bytes);
}

/* A stream with what goes wrong on a link, frame by frame: each frame the M7 sent is
 * delivered or counted under one cause (a rejected candidate and a seq gap, or the books
 * of its boot), each byte is a delivered frame's, a delimiter or noise, and each DATA
 * frame received is in exactly one of the books' buckets. */
static void test_stream_accounting(void **state)
{
	struct fixture *f = *state;
	struct stream s = {.n = 0};
	unsigned delivered = 0;
	uint64_t wire = 0; /* bytes of delivered frames, delimiters excluded */
	struct channel_snapshot snap;
	channel_start(f->ch);
	(void)count_written(M7B_T_HOST_HELLO);

	/* Boot A: HELLO, a cold BOOT_INFO, DATA 2 and 3 with "hello world!" between. */
	struct m7b_boot_info cold = {.present = M7B_BI_HAS_PREV_BOOT};
	put_raw(&s, "", 1);
	wire += put_hello(&s, 0xA) - 1;
	wire += put_boot_info(&s, 1, &cold) - 1;
	wire += put_data(&s, 2) - 1;
	put_raw(&s, "hello world!", 13); /* with its NUL: noise */
	wire += put_data(&s, 3) - 1;
	flush_stream(f, &s);
	delivered += 4;

	/* DATA 4 cut short by a 0x00 (its rest never came), then DATA 5. */
	size_t n = put_data(&s, 4);
	s.n -= n - 20;
	s.b[s.n - 1] = 0;
	wire += put_data(&s, 5) - 1;
	flush_stream(f, &s);
	delivered++;
	assert_int_equal(seen.gaps, 1);

	/* DATA 6 with a 0x00 in its middle (two candidates, both bad), then DATA 7. */
	n = put_data(&s, 6);
	memmove(s.b + s.n - n + 31, s.b + s.n - n + 30, n - 30);
	s.b[s.n - n + 30] = 0;
	s.n++;
	wire += put_data(&s, 7) - 1;
	flush_stream(f, &s);
	delivered++;
	assert_int_equal(seen.gaps, 2);

	/* 600 bytes of noise without a 0x00 (too long for a frame), then DATA 8. */
	uint8_t junk[600];
	memset(junk, 0x55, sizeof(junk));
	put_raw(&s, junk, sizeof(junk));
	put_raw(&s, "", 1);
	wire += put_data(&s, 8) - 1;
	flush_stream(f, &s);
	delivered++;

	/* DATA 9 whose len says more than it carries (CRC right), then DATA 10. */
	uint8_t body[M7B_BODY_MAX];
	memset(body, 0, sizeof(body));
	body[0] = M7B_WIRE_VERSION;
	body[1] = M7B_T_DATA;
	body[2] = 1;
	body[4] = 9;
	body[8] = 200; /* len 200, 56 bytes follow */
	uint32_t crc = m7b_crc32c(0, body, M7B_HDR_SIZE + 56);
	memcpy(body + M7B_HDR_SIZE + 56, &crc, 4);
	int en = m7b_cobs_encode(s.b + s.n, sizeof(s.b) - s.n, body, M7B_BODY_MIN + 56);
	assert_true(en > 0);
	s.n += (size_t)en;
	put_raw(&s, "", 1);
	wire += put_data(&s, 10) - 1;
	flush_stream(f, &s);
	delivered++;
	assert_int_equal(seen.gaps, 3);

	/* Five frames lost on the link: DATA 16 comes after DATA 10. */
	wire += put_data(&s, 16) - 1;
	flush_stream(f, &s);
	delivered++;
	assert_int_equal(seen.gaps, 8);

	/* A HELLO of the same boot mid-stream (the answer to a HOST_HELLO): its seq starts
	 * again, nothing is lost and no boot begins. */
	unsigned boots = seen.new_boots;
	wire += put_hello(&s, 0xA) - 1;
	wire += put_boot_info(&s, 1, &cold) - 1;
	wire += put_data(&s, 2) - 1;
	flush_stream(f, &s);
	delivered += 3;
	assert_int_equal(seen.gaps, 8);
	assert_int_equal(seen.new_boots, boots);

	/* Boot B, whose HELLO was lost: its BOOT_INFO (seq back from 2 to 1) settles boot A.
	 * A sent 16 DATA frames (2..16, and 2 after its second HELLO), 8 arrived; the M7
	 * dropped 2 and lost 1 queued in the reset. */
	struct m7b_boot_info bi = {.present = M7B_BI_HAS_PREV_BOOT,
				   .prev_flags = M7B_BI_PREV_VALID,
				   .prev_boot_id = 0xA,
				   .nports = 1};
	bi.port[0] = (struct m7b_boot_port){
		.port = 1, .produced = 16 + 2 + 1, .sent = 16, .dropped = 2, .queued = 1};
	wire += put_boot_info(&s, 1, &bi) - 1;
	wire += put_data(&s, 2) - 1;
	flush_stream(f, &s);
	delivered += 2;
	channel_snapshot(f->ch, &snap);
	const struct books_port *p1 = &snap.books.port[1];
	assert_int_equal(snap.books.boots_settled, 1);
	assert_int_equal(p1->published, 8);
	assert_int_equal(p1->lost_link, 8);
	assert_int_equal(p1->dropped_m7, 2);
	assert_int_equal(p1->lost_reboot, 1);
	assert_int_equal(p1->produced, 19);
	assert_int_equal(p1->current, 1);
	/* B says hello (asked for: its boot had no id); then DATA 1 and 2 of B */
	wire += put_hello(&s, 0xB) - 1;
	wire += put_data(&s, 1) - 1;
	wire += put_data(&s, 2) - 1;
	flush_stream(f, &s);
	delivered += 3;

	/* Boot C, whose BOOT_INFO (seq 1) is lost on the link: a gap, and B's three frames
	 * await it. */
	wire += put_hello(&s, 0xC) - 1;
	wire += put_data(&s, 2) - 1;
	flush_stream(f, &s);
	delivered += 2;
	channel_snapshot(f->ch, &snap);
	assert_int_equal(p1->awaiting, 3);
	assert_int_equal(p1->current, 1);
	assert_int_equal(seen.gaps, 9);

	/* Every frame delivered or lost with a gap counted; every byte accounted for. */
	assert_int_equal(seen.msgs, delivered);
	assert_int_equal(snap.stats.seq_gaps, 9);
	const struct m7b_decoder_stats *d = &snap.dec;
	assert_int_equal(d->frames, delivered);
	assert_int_equal(d->bytes, s.bytes);
	assert_int_equal(d->frames + d->empty + d->rejected, s.zeros);
	assert_int_equal(d->noise_bytes + wire + s.zeros, s.bytes);
	/* hello world!, the cut DATA 4, both halves of DATA 6, the noise, DATA 9 */
	assert_int_equal(d->rejected, 6);
	assert_int_equal(d->reject[M7B_REJECT_OVERSIZE], 1);
	assert_true(d->reject[M7B_REJECT_LEN] >= 1); /* DATA 9; a cut body may be one too */
	assert_int_equal(d->empty, 1);
	/* Each DATA frame received is in one bucket of its port. */
	assert_int_equal(snap.stats.data_frames, 8 + 3 + 1); /* boots A, B and C */
	assert_int_equal(p1->published + p1->malformed + p1->unsettled + p1->awaiting + p1->current,
			 snap.stats.data_frames);
}

/* The read's REALTIME stamp comes from MONOTONIC and their difference, read now and then.
 * A stall between the two clocks' reads (a preemption) is not taken into it: the stamps
 * of the read and of the reads after it stay between the wall clock's readings around
 * them. */
static void test_realtime_offset_ignores_a_stall(void **state)
{
	struct fixture *f = *state;
	uint8_t pl[64] = {0};
	channel_start(f->ch);
	struct timespec t0, t1;
	for (uint32_t seq = 0; seq < 2; seq++) {
		clock_gettime(CLOCK_REALTIME, &t0);
		clk.stall_ns = seq == 0 ? 20000000 : 0; /* 20 ms, at the offset's first read */
		m7_send(f, M7B_T_DATA, seq, pl, sizeof(pl));
		clock_gettime(CLOCK_REALTIME, &t1);
		uint64_t r0 = (uint64_t)t0.tv_sec * 1000000u + (uint64_t)t0.tv_nsec / 1000u;
		uint64_t r1 = (uint64_t)t1.tv_sec * 1000000u + (uint64_t)t1.tv_nsec / 1000u;
		assert_true(seen.rx_realtime_us + 1 >= r0);
		assert_true(seen.rx_realtime_us <= r1 + 1);
	}
}

/* count empty HEARTBEATs, seq 1.., encoded one after another into buf; their length. */
static size_t empty_heartbeats(uint8_t *buf, size_t cap, uint32_t count)
{
	size_t n = 0;
	for (uint32_t seq = 1; seq <= count; seq++) {
		struct m7b_frame h = {
			.ver = M7B_WIRE_VERSION, .type = M7B_T_HEARTBEAT, .seq = seq, .len = 0};
		struct m7b_part part = {NULL, 0};
		int k = m7b_wire_encode(buf + n, cap - n, &h, &part, 0);
		assert_true(k > 0);
		n += (size_t)k;
	}
	return n;
}

/* A frame whose handling closes the channel (a recovery, a reload) leaves the rest of its
 * read undecoded: those bytes are counted, and STATUS's bytes still holds every byte read. */
static void close_mid_read(struct fixture *f, bool reopen)
{
	channel_start(f->ch);
	uint8_t buf[3 * M7B_FRAME_MAX];
	size_t n = empty_heartbeats(buf, sizeof(buf), 3);
	seen.close_at = 1;
	seen.reopen = reopen;
	assert_int_equal(write(tty.m7, buf, n), (ssize_t)n);
	for (int i = 0; i < 100 && seen.msgs == 0; i++)
		event_base_loop(f->base, EVLOOP_ONCE);
	/* the new tty has nothing: anything more would be the old read's */
	for (int i = 0; i < 3; i++)
		event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	assert_int_equal(seen.msgs, 1);
	struct channel_snapshot snap;
	channel_snapshot(f->ch, &snap);
	/* one read took all three (a socketpair keeps the write whole) */
	assert_int_equal(snap.dec.bytes + snap.stats.unread_at_close, n);
	assert_true(snap.stats.unread_at_close > 0);
	assert_int_equal(snap.dec.frames, 1);
	/* reopened: no traffic of its own yet (closed: its backoff may have reopened it) */
	if (reopen)
		assert_int_equal(channel_get_state(f->ch), CHANNEL_OPENING);
}

static void test_close_mid_read(void **state)
{
	close_mid_read(*state, false);
}

/* The same when the handling opens the channel again at once (a recovery's reopen): the
 * rest of the old read is not taken for the new tty's traffic, which would mark the
 * channel up on bytes that came before the reopen. */
static void test_reopen_mid_read(void **state)
{
	close_mid_read(*state, true);
}

/* A new node under the device's name: the channel takes what the old tty still holds
 * before letting it go. When a frame among those bytes makes the recovery reopen the tty
 * (held, closed, opened: the new node), that open stands: it is not closed again as the
 * replaced node's, which would leave the recovery's step waiting on a closed channel. */
static void test_reopen_while_draining_replaced_node(void **state)
{
	struct fixture *f = *state;
	channel_start(f->ch);
	assert_int_equal(tty.opens, 1);
	uint8_t buf[2 * M7B_FRAME_MAX];
	size_t n = empty_heartbeats(buf, sizeof(buf), 2);
	seen.close_at = 1;
	seen.reopen = true;
	seen.hold = true;
	/* The node first (a regular file: not the open tty's device number), then the
	 * bytes: the inotify event comes first in the loop, and its drain reads them. */
	char tmp[128];
	snprintf(tmp, sizeof(tmp), "%s/new", f->dir); /* open() of the name is the fake's */
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(rename(tmp, f->device), 0);
	tty.rdev = 0; /* what opening it gives from now on */
	assert_int_equal(write(tty.m7, buf, n), (ssize_t)n);
	for (int i = 0; i < 100 && seen.msgs == 0; i++)
		event_base_loop(f->base, EVLOOP_ONCE);
	for (int i = 0; i < 3; i++)
		event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	assert_int_equal(unlink(f->device), 0);
	assert_int_equal(seen.msgs, 1);
	assert_int_equal(tty.opens, 2);
	assert_true(channel_is_open(f->ch));
	assert_int_equal(channel_get_state(f->ch), CHANNEL_OPENING);
}

/* A HELLO that does not unpack (too short) names no boot: the restart its seq 0 shows
 * still closes the boot's books, instead of booking the next boot's frames to it. */
static void test_malformed_hello_restart(void **state)
{
	struct fixture *f = *state;
	struct stream s = {.n = 0};
	channel_start(f->ch);
	(void)count_written(M7B_T_HOST_HELLO);
	put_raw(&s, "", 1);
	put_hello(&s, 0xA);
	put_data(&s, 1);
	put_data(&s, 2);
	put_data(&s, 3);
	flush_stream(f, &s);
	put_frame(&s, M7B_T_HELLO, 0, "bad!", 4); /* a new boot's, cut to 4 bytes */
	put_data(&s, 1);
	put_data(&s, 2);
	flush_stream(f, &s);
	struct channel_snapshot snap;
	channel_snapshot(f->ch, &snap);
	assert_int_equal(seen.msgs, 7);
	assert_int_equal(seen.bad, 1);
	assert_int_equal(snap.stats.seq_gaps, 0);
	assert_false(snap.books.id_known); /* a boot began; its HELLO is asked for */
	assert_int_equal(snap.books.port[1].awaiting, 3);
	assert_int_equal(snap.books.port[1].current, 2);
	assert_true(count_written(M7B_T_HOST_HELLO) >= 1);
}

/* One DATA frame (port 1) of a capture from M7 tick t_first to t_last. */
static void put_capture(struct stream *s, uint32_t seq, uint64_t t_first, uint64_t t_last)
{
	uint8_t pl[M7B_PAYLOAD_MAX];
	struct m7b_data d = {
		.t_first = t_first, .t_last = t_last, .bytes = (const uint8_t *)"x", .nbytes = 1};
	int n = m7b_wire_pack_data(pl, sizeof(pl), &d);
	assert_true(n > 0);
	put_frame(s, M7B_T_DATA, seq, pl, (size_t)n);
}

/* The M7 restarted and its HELLO was lost (seen as seq going back): the new boot's ticks
 * start again near 0. An outage that follows marks late only the new boot's captures
 * from before it, not every capture of the new boot (which it did while the old boot's
 * far larger tick was kept as the newest). */
static void test_restart_without_hello_resets_late_marks(void **state)
{
	struct fixture *f = *state;
	struct stream s = {.n = 0};
	channel_start(f->ch);
	(void)count_written(M7B_T_HOST_HELLO);
	uint8_t pl[M7B_PAYLOAD_MAX];
	struct m7b_hello h = {
		.tick_hz = 1000000, .boot_id = 0xA, .host_credits = 4, .now_ticks = 1000000000};
	int n = m7b_wire_pack_hello(pl, sizeof(pl), &h);
	assert_true(n > 0);
	put_raw(&s, "", 1);
	put_frame(&s, M7B_T_HELLO, 0, pl, (size_t)n);
	put_capture(&s, 1, 1000000000, 1000000100);
	put_capture(&s, 2, 1000000200, 1000000300);
	flush_stream(f, &s);
	assert_int_equal(channel_get_state(f->ch), CHANNEL_UP);
	/* The new boot: its HELLO (seq 0) lost, its ticks from 0 again. */
	put_capture(&s, 1, 1000, 2000);
	flush_stream(f, &s);
	assert_int_equal(seen.lates, 0);
	/* An outage, then the tty again. */
	channel_close(f->ch, CHANNEL_DOWN, "test", 0);
	assert_int_equal(channel_open_now(f->ch), 0);
	/* Captured 5 s after the outage's start: fresh; before it: late. */
	put_capture(&s, 2, 5002000, 5002100);
	flush_stream(f, &s);
	assert_int_equal(seen.lates, 0);
	put_capture(&s, 3, 1500, 1900);
	flush_stream(f, &s);
	assert_int_equal(seen.lates, 1);
	assert_int_equal(seen.msgs, 6);
}

/* seq wraps from 0xFFFFFFFF to 0: no restart; gaps on either side of the wrap count. */
static void test_seq_wrap(void **state)
{
	struct fixture *f = *state;
	struct stream s = {.n = 0};
	channel_start(f->ch);
	(void)count_written(M7B_T_HOST_HELLO);
	put_raw(&s, "", 1);
	put_data(&s, 0xFFFFFFFCu);
	put_data(&s, 0xFFFFFFFEu); /* 0xFFFFFFFD lost */
	put_data(&s, 0xFFFFFFFFu);
	put_data(&s, 1); /* 0 lost */
	flush_stream(f, &s);
	struct channel_snapshot snap;
	channel_snapshot(f->ch, &snap);
	assert_int_equal(seen.msgs, 4);
	assert_int_equal(snap.stats.seq_gaps, 2);
	put_data(&s, 2);
	put_data(&s, 3);
	flush_stream(f, &s);
	channel_snapshot(f->ch, &snap);
	assert_int_equal(seen.msgs, 6);
	assert_int_equal(snap.stats.seq_gaps, 2);
	assert_int_equal(snap.books.port[1].current, 6);
	assert_false(snap.books.have_boot && !snap.books.id_known); /* no restart seen */
}

/* A firmware that repeats its seq (or scrambles it) makes every frame a "restart": the
 * first one starts a new boot and asks for a HELLO; the others neither ask again (at
 * most 3 asks in all) nor log a line each. */
static void test_repeated_seq_is_bounded(void **state)
{
	struct fixture *f = *state;
	channel_start(f->ch);
	uint8_t pl[M7B_PAYLOAD_MAX];
	struct m7b_hello h = {.tick_hz = 1000000,
			      .boot_id = 7,
			      .max_payload = 200,
			      .host_credits = 4,
			      .name = "fw",
			      .name_len = 2};
	int n = m7b_wire_pack_hello(pl, sizeof(pl), &h);
	assert_true(n > 0);
	m7_send(f, M7B_T_HELLO, 0, pl, (size_t)n);
	(void)count_written(M7B_T_HOST_HELLO); /* the one after the open */
	uint8_t data[24] = {0};
	m7_send(f, M7B_T_DATA, 5, data, sizeof(data));

	/* The channel logs to stderr (no logger given): count its lines there. */
	char log_path[] = "/tmp/m7b-chan-log-XXXXXX";
	int log_fd = mkstemp(log_path);
	assert_true(log_fd >= 0);
	fflush(stderr);
	int saved = dup(2);
	assert_true(saved >= 0);
	assert_int_equal(dup2(log_fd, 2), 2);
	for (int i = 0; i < 50; i++)
		m7_send(f, M7B_T_DATA, 5, data, sizeof(data));
	fflush(stderr);
	assert_int_equal(dup2(saved, 2), 2);
	close(saved);

	char text[16384];
	ssize_t len = pread(log_fd, text, sizeof(text) - 1, 0);
	assert_true(len >= 0);
	text[len] = '\0';
	close(log_fd);
	unlink(log_path);
	unsigned lines = 0;
	for (const char *p = text; (p = strstr(p, "seq went back")) != NULL; p++)
		lines++;
	assert_true(lines >= 1 && lines <= 5);
	unsigned asks = count_written(M7B_T_HOST_HELLO);
	assert_true(asks >= 1 && asks <= 3);
	struct channel_snapshot s;
	channel_snapshot(f->ch, &s);
	assert_int_equal(s.stats.data_frames, 51);
}

/* A firmware whose boot_id flaps (a new boot per HELLO, no BOOT_INFO), or one that repeats
 * its seq and answers each HOST_HELLO: every boot wants its books and asks for a HELLO.
 * The asks (a HOST_HELLO each, which voids the M7's queued SENDs, and a log line) stay a
 * second apart across boots too, not one per boot the firmware makes up. */
static void test_flapping_boots_ask_at_most_once_a_second(void **state)
{
	struct fixture *f = *state;
	struct stream s = {.n = 0};
	channel_start(f->ch);
	(void)count_written(M7B_T_HOST_HELLO); /* the one after the open */
	put_raw(&s, "", 1);
	for (uint32_t i = 0; i < 40; i++) {
		put_hello(&s, 0x100 + i);
		put_data(&s, 1);
		flush_stream(f, &s);
	}
	struct channel_snapshot snap;
	channel_snapshot(f->ch, &snap);
	assert_int_equal(snap.books.boots_unknown, 38); /* the 39th awaits its BOOT_INFO */
	assert_int_equal(snap.stats.data_frames, 40);
	/* One, or a few should the machine be slow enough for a second to pass. */
	unsigned asks = count_written(M7B_T_HOST_HELLO);
	assert_true(asks >= 1 && asks <= 3);
}

/* A new boot's HELLO leaves the previous boot's books waiting for a BOOT_INFO; once the
 * BOOT_INFO that follows it settles them, the frames after it ask for none. */
static void test_settled_books_ask_for_no_boot_info(void **state)
{
	struct fixture *f = *state;
	struct stream s = {.n = 0};
	channel_start(f->ch);
	(void)count_written(M7B_T_HOST_HELLO); /* the one after the open */
	struct m7b_boot_info bi = {.present = M7B_BI_HAS_PREV_BOOT,
				   .prev_flags = M7B_BI_PREV_VALID,
				   .prev_boot_id = 0xA,
				   .nports = 1};
	bi.port[0] = (struct m7b_boot_port){.port = 1, .produced = 1, .sent = 1};
	put_raw(&s, "", 1);
	put_hello(&s, 0xA);
	put_data(&s, 1);
	put_hello(&s, 0xB);
	put_boot_info(&s, 1, &bi);
	put_data(&s, 2);
	flush_stream(f, &s);
	struct channel_snapshot snap;
	channel_snapshot(f->ch, &snap);
	assert_int_equal(snap.books.boots_settled, 1);
	assert_int_equal(snap.stats.data_frames, 2);
	assert_int_equal(count_written(M7B_T_HOST_HELLO), 0);
}

/* A HEARTBEAT whose counters are all v, at M7 tick t. */
static void put_heartbeat(struct stream *s, uint32_t seq, uint64_t t, uint32_t v)
{
	uint8_t pl[M7B_PAYLOAD_MAX];
	struct m7b_heartbeat hb = {.now_ticks = t, .ncounters = M7B_HB_NCOUNTERS};
	for (unsigned i = 0; i < M7B_HB_NCOUNTERS; i++)
		hb.counter[i] = v;
	int n = m7b_wire_pack_heartbeat(pl, sizeof(pl), &hb);
	assert_true(n > 0);
	put_frame(s, M7B_T_HEARTBEAT, seq, pl, (size_t)n);
}

/* The M7 restarts and its HELLO is lost: seq going back says so. Its ticks need not go
 * back (the SoC's system counter runs on across M7 resets), so the counters restart at 0
 * on that word too: a new boot's count is not taken as growth from the old one's. Until
 * the HELLO that follows names the old boot after all (a repeated frame, not a restart):
 * then the counters count as growth again. */
static void test_restart_without_hello_restarts_counters(void **state)
{
	struct fixture *f = *state;
	struct stream s = {.n = 0};
	channel_start(f->ch);
	(void)count_written(M7B_T_HOST_HELLO);
	put_raw(&s, "", 1);
	put_hello(&s, 0xA);
	put_heartbeat(&s, 1, 1000, 5);
	put_data(&s, 2);
	flush_stream(f, &s);
	put_data(&s, 1); /* the new boot's: its HELLO (seq 0) lost */
	put_heartbeat(&s, 2, 2000, 7);
	flush_stream(f, &s);
	struct channel_snapshot snap;
	channel_snapshot(f->ch, &snap);
	assert_int_equal(snap.fw_counters.total[M7B_HB_UART_OVERRUNS], 5 + 7);
	put_hello(&s, 0xB); /* the answer to the daemon's HOST_HELLO */
	put_heartbeat(&s, 1, 3000, 9);
	flush_stream(f, &s);
	channel_snapshot(f->ch, &snap);
	assert_int_equal(snap.fw_counters.total[M7B_HB_UART_OVERRUNS], 5 + 9);

	/* A frame repeated: seq goes back, but the HELLO asked for names the same boot. */
	put_heartbeat(&s, 1, 3500, 10);
	put_heartbeat(&s, 2, 4000, 11);
	flush_stream(f, &s);
	channel_snapshot(f->ch, &snap);
	put_hello(&s, 0xB);
	put_heartbeat(&s, 1, 5000, 12);
	flush_stream(f, &s);
	channel_snapshot(f->ch, &snap);
	assert_int_equal(snap.fw_counters.total[M7B_HB_UART_OVERRUNS], 5 + 12);
	assert_int_equal(snap.fw_counters.restarts, 1);
}

int main(void)
{
	/* A socketpair stands in for the tty: writing to a closed one raises SIGPIPE, where
	 * a tty gives EIO. The daemon ignores SIGPIPE too. */
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_raw_exclusive_hello, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy_names_the_holder, setup, teardown),
		cmocka_unit_test_setup_teardown(test_find_holder_in_a_fake_proc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pty_peer_is_not_a_holder, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rpmsg_channel_resolves_at_each_open, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_reopens_after_hangup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_frames_decoded_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reads_per_wakeup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_frames_across_reads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quiet_reads_come_with_the_next_call, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_resync_keeps_half_read_frame, setup, teardown),
		cmocka_unit_test_setup_teardown(test_firmware_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repeated_seq_is_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flapping_boots_ask_at_most_once_a_second,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_settled_books_ask_for_no_boot_info, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_restart_without_hello_restarts_counters, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_stream_accounting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seq_wrap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_without_hello_resets_late_marks, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_malformed_hello_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_realtime_offset_ignores_a_stall, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_close_mid_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_mid_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_while_draining_replaced_node, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
