/* End-to-end test of the QEMU port: the firmware image runs on QEMU's mps2-an500 Cortex-M7;
 * its link UART reaches this test through a pty (socat), as /dev/ttyRPMSG30 reaches the
 * daemon, and its captured UART through a Unix socket that plays the sensor. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "elfinfo.h"
#include "fwtrace.h"
#include "m7bridge/decoder.h"
#include "m7bridge/wire.h"

#define TICK_HZ		 25000000u    /* TIMER0 on mps2-an500 */
#define WAIT_MS		 20000	      /* any single expectation; generous for a loaded host */
#define IDLE_GAP_US	 100000u      /* set by CONFIG: capture ends after 100 ms of silence */
#define BURST_GAP_MS	 400	      /* silence the test leaves between bursts */
#define HEARTBEAT_MS	 500u	      /* set by CONFIG */
#define NOINIT_SEED_ADDR "0x203fff00" /* see board_qemu.c: boot seed for boot_id */

/* One frame from the firmware, copied out of the decoder. */
struct rx_frame {
	struct m7b_frame f; /* f.payload points at payload below */
	uint8_t payload[M7B_PAYLOAD_MAX];
};

struct rig {
	char dir[128];
	char link_sock[192], sensor_sock[192], tty_path[192], qemu_log[192], socat_log[192];
	char mon_sock[192], trace_dump[192]; /* QEMU's monitor; where pmemsave writes */
	pid_t qemu, socat;
	int tty;    /* the link, as the daemon would open it */
	int sensor; /* UART1 of the guest */
	struct m7b_decoder dec;
	uint8_t in[4096];
	size_t in_pos, in_len;
	uint32_t tx_seq;     /* host -> M7 seq */
	bool have_seq;	     /* a frame from the M7 was seen */
	uint32_t last_seq;   /* its seq */
	unsigned seq_errors; /* frames whose seq was not the previous + 1 (HELLO: 0) */
	unsigned frames;     /* frames from the M7 */
	unsigned hellos;
	uint64_t max_now;   /* largest now_ticks seen (HELLO, HEARTBEAT) */
	bool now_went_back; /* a now_ticks smaller than an earlier one */
	uint32_t boot_id;
	struct m7b_heartbeat last_hb; /* most recent HEARTBEAT */
	unsigned heartbeats;
	unsigned data_frames;
};

static struct rig rig;
static const char *fw_image; /* the ELF under test */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

/* snprintf that reports truncation instead of silently cutting a path. */
__attribute__((format(printf, 3, 4))) static bool fmt(char *buf, size_t cap, const char *f, ...)
{
	va_list ap;

	va_start(ap, f);
	int n = vsnprintf(buf, cap, f, ap);
	va_end(ap);
	return n >= 0 && (size_t)n < cap;
}

/* True when an executable `name` is on PATH. */
static bool in_path(const char *name)
{
	const char *path = getenv("PATH");
	char buf[512];

	if (path == NULL)
		return false;
	while (*path != '\0') {
		size_t n = strcspn(path, ":");
		if (n > 0 && n < 256) {
			snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path, name);
			if (access(buf, X_OK) == 0)
				return true;
		}
		path += n;
		if (*path == ':')
			path++;
	}
	return false;
}

/* Prints a child's log file to stderr, for the failure report. */
static void dump_log(const char *what, const char *path)
{
	FILE *f = fopen(path, "re");
	char line[512];

	if (f == NULL)
		return;
	fprintf(stderr, "--- %s (%s) ---\n", what, path);
	while (fgets(line, sizeof(line), f) != NULL)
		fputs(line, stderr);
	fclose(f);
}

/* Starts argv with stdout/stderr in logpath; the child dies with this process, so a test
 * killed by its timeout leaves nothing running. */
static pid_t spawn(const char *const argv[], const char *logpath)
{
	pid_t parent = getpid();
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
		_exit(126);
	int null = open("/dev/null", O_RDONLY);
	int log = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0600);
	if (null < 0 || log < 0 || dup2(null, 0) < 0 || dup2(log, 1) < 0 || dup2(log, 2) < 0)
		_exit(126);
	/* Every descriptor of the test is O_CLOEXEC, so nothing else leaks into the child. */
	execvp(argv[0], (char *const *)argv);
	_exit(127);
}

/* Stops a child: SIGTERM, then SIGKILL if it lingers; always reaps it. */
static void stop_child(pid_t *pid)
{
	int status;

	if (*pid <= 0)
		return;
	kill(*pid, SIGTERM);
	for (int i = 0; i < 500; i++) {
		if (waitpid(*pid, &status, WNOHANG) == *pid) {
			*pid = -1;
			return;
		}
		sleep_ms(10);
	}
	kill(*pid, SIGKILL);
	waitpid(*pid, &status, 0);
	*pid = -1;
}

/* True while the child runs; reaps it (and forgets the pid) once it has exited. */
static bool child_alive(pid_t *pid)
{
	int status;

	if (*pid <= 0)
		return false;
	if (waitpid(*pid, &status, WNOHANG) == *pid) {
		fprintf(stderr, "child %d exited (status 0x%x)\n", (int)*pid, status);
		*pid = -1;
		return false;
	}
	return true;
}

/* Waits (event-driven where possible, else short polls) for a path to appear while QEMU
 * and, once started, socat keep running. */
static bool wait_for_path(struct rig *r, const char *path)
{
	int64_t end = now_ms() + WAIT_MS;

	while (now_ms() < end) {
		if (access(path, F_OK) == 0)
			return true;
		if (!child_alive(&r->qemu) || (r->socat != 0 && !child_alive(&r->socat)))
			return false;
		sleep_ms(10);
	}
	return false;
}

static void write_all(int fd, const uint8_t *p, size_t n)
{
	int64_t end = now_ms() + WAIT_MS;

	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		assert_true(w < 0 && (errno == EAGAIN || errno == EINTR));
		struct pollfd pfd = {.fd = fd, .events = POLLOUT};
		int left = (int)(end - now_ms());
		assert_true(left > 0);
		(void)poll(&pfd, 1, left);
	}
}

/* Sends one frame to the firmware over the link. */
static uint32_t send_frame(struct rig *r, uint8_t type, uint8_t port, const void *payload,
			   size_t len)
{
	uint8_t buf[M7B_FRAME_MAX];
	struct m7b_frame h = {.ver = M7B_WIRE_VERSION,
			      .type = type,
			      .port = port,
			      .seq = r->tx_seq++,
			      .len = (uint16_t)len};
	struct m7b_part part = {payload, len};
	int n = m7b_wire_encode(buf, sizeof(buf), &h, &part, len > 0 ? 1 : 0);

	assert_true(n > 0);
	write_all(r->tty, buf, (size_t)n);
	return h.seq;
}

/* Bookkeeping every frame from the firmware goes through: seq continuity, clock order. */
static void note_frame(struct rig *r, const struct m7b_frame *f)
{
	r->frames++;
	if (f->type == M7B_T_HELLO) {
		r->hellos++;
		if (f->seq != 0) {
			fprintf(stderr, "HELLO with seq %" PRIu32 " (expected 0)\n", f->seq);
			r->seq_errors++;
		}
	} else if (!r->have_seq || f->seq != r->last_seq + 1u) {
		fprintf(stderr, "seq gap: %s seq %" PRIu32 " after %" PRIu32 "\n",
			m7b_wire_type_name(f->type), f->seq, r->last_seq);
		r->seq_errors++;
	}
	r->have_seq = true;
	r->last_seq = f->seq;

	uint64_t now = 0;
	bool has_now = false;
	if (f->type == M7B_T_HELLO) {
		struct m7b_hello h;
		if (m7b_wire_unpack_hello(f, &h) == 0) {
			now = h.now_ticks;
			has_now = true;
		}
	} else if (f->type == M7B_T_HEARTBEAT) {
		struct m7b_heartbeat hb;
		if (m7b_wire_unpack_heartbeat(f, &hb) == 0) {
			now = hb.now_ticks;
			has_now = true;
			r->last_hb = hb;
			r->heartbeats++;
		}
	} else if (f->type == M7B_T_DATA) {
		r->data_frames++;
	} else if (f->type == M7B_T_LOG) {
		struct m7b_log l;
		if (m7b_wire_unpack_log(f, &l) == 0)
			fprintf(stderr, "firmware LOG <%u>: %.*s\n", l.level, (int)l.text_len,
				l.text);
	}
	if (has_now) {
		if (now < r->max_now)
			r->now_went_back = true;
		else
			r->max_now = now;
	}
}

/* Next frame from the firmware within timeout_ms; false on timeout. */
static bool next_frame(struct rig *r, struct rx_frame *out, int timeout_ms)
{
	int64_t end = now_ms() + timeout_ms;

	for (;;) {
		if (r->in_pos < r->in_len) {
			const uint8_t *pos = r->in + r->in_pos;
			struct m7b_frame f;
			int rc = m7b_decoder_next(&r->dec, &pos, r->in + r->in_len, &f);

			r->in_pos = (size_t)(pos - r->in);
			if (rc == 1) {
				out->f = f;
				memcpy(out->payload, f.payload, f.len);
				out->f.payload = out->payload;
				note_frame(r, &out->f);
				return true;
			}
			continue;
		}
		int left = (int)(end - now_ms());
		if (left <= 0)
			return false;
		struct pollfd pfd = {.fd = r->tty, .events = POLLIN};
		int pr = poll(&pfd, 1, left);
		if (pr < 0 && errno == EINTR)
			continue;
		assert_true(pr >= 0);
		if (pr == 0)
			return false;
		ssize_t n = read(r->tty, r->in, sizeof(r->in));
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0) {
			fprintf(stderr, "link closed (read %zd, %s): QEMU or socat went away\n", n,
				n < 0 ? strerror(errno) : "EOF");
			dump_log("qemu", r->qemu_log);
			dump_log("socat", r->socat_log);
			fail();
		}
		r->in_pos = 0;
		r->in_len = (size_t)n;
	}
}

/* Next frame of a given type; frames of other types are noted and skipped. */
static bool next_of_type(struct rig *r, uint8_t type, struct rx_frame *out, int timeout_ms)
{
	int64_t end = now_ms() + timeout_ms;

	for (;;) {
		int left = (int)(end - now_ms());
		if (left <= 0 || !next_frame(r, out, left))
			return false;
		if (out->f.type == type)
			return true;
	}
}

/* Next ACK for the frame sent with seq. */
static struct m7b_ack expect_ack(struct rig *r, uint32_t seq)
{
	struct rx_frame fr;
	struct m7b_ack a;

	for (;;) {
		assert_true(next_of_type(r, M7B_T_ACK, &fr, WAIT_MS));
		assert_int_equal(m7b_wire_unpack_ack(&fr.f, &a), 0);
		if (a.acked_seq == seq)
			return a;
	}
}

static int open_tty(const char *path)
{
	int fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	struct termios t;

	if (fd < 0)
		return -1;
	/* As the daemon does for ttyRPMSG: raw, or the line discipline rewrites bytes. */
	if (tcgetattr(fd, &t) == 0) {
		cfmakeraw(&t);
		(void)tcsetattr(fd, TCSANOW, &t);
	}
	return fd;
}

static int connect_unix(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	if (fd < 0)
		return -1;
	if (!fmt(sa.sun_path, sizeof(sa.sun_path), "%s", path) ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Stops socat and QEMU (reaping both) and removes the temporary directory. */
static void rig_stop(struct rig *r)
{
	if (r->tty >= 0)
		close(r->tty);
	if (r->sensor >= 0)
		close(r->sensor);
	r->tty = r->sensor = -1;
	stop_child(&r->socat);
	stop_child(&r->qemu);
	if (r->dir[0] != '\0') {
		const char *files[] = {r->link_sock, r->sensor_sock, r->tty_path,  r->qemu_log,
				       r->socat_log, r->mon_sock,    r->trace_dump};
		for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
			(void)unlink(files[i]);
		(void)rmdir(r->dir);
		r->dir[0] = '\0';
	}
}

static int rig_teardown(void **state)
{
	(void)state;
	rig_stop(&rig);
	return 0;
}

static int rig_fail(struct rig *r, const char *why)
{
	fprintf(stderr, "setup failed: %s\n", why);
	dump_log("qemu", r->qemu_log);
	dump_log("socat", r->socat_log);
	rig_stop(r);
	return -1;
}

/* QEMU with both UARTs on socket chardevs that hold the guest until a client connects,
 * socat bridging the link socket to a pty, the sensor socket connected directly.
 * extra: more "-device" values (QEMU loader entries), NULL-terminated, or NULL. */
static int rig_start(struct rig *r, const char *const *extra)
{
	const char *tmp = getenv("TMPDIR");
	char seed[16], loader[96];

	memset(r, 0, sizeof(*r));
	r->tty = r->sensor = -1;
	m7b_decoder_init(&r->dec);
	if (!fmt(r->dir, sizeof(r->dir), "%s/m7b-qemu-XXXXXX", tmp != NULL ? tmp : "/tmp") ||
	    mkdtemp(r->dir) == NULL) {
		r->dir[0] = '\0';
		return rig_fail(r, "mkdtemp");
	}
	char link_dev[256], sensor_dev[256], pty_addr[256], unix_addr[256], mon_dev[256];
	if (!fmt(r->link_sock, sizeof(r->link_sock), "%s/link.sock", r->dir) ||
	    !fmt(r->sensor_sock, sizeof(r->sensor_sock), "%s/sensor.sock", r->dir) ||
	    !fmt(r->tty_path, sizeof(r->tty_path), "%s/ttyRPMSG30", r->dir) ||
	    !fmt(r->qemu_log, sizeof(r->qemu_log), "%s/qemu.log", r->dir) ||
	    !fmt(r->socat_log, sizeof(r->socat_log), "%s/socat.log", r->dir) ||
	    !fmt(r->mon_sock, sizeof(r->mon_sock), "%s/mon.sock", r->dir) ||
	    !fmt(r->trace_dump, sizeof(r->trace_dump), "%s/trace.bin", r->dir) ||
	    !fmt(mon_dev, sizeof(mon_dev), "unix:%s,server=on,wait=off", r->mon_sock) ||
	    !fmt(link_dev, sizeof(link_dev), "socket,id=link,path=%s,server=on,wait=on",
		 r->link_sock) ||
	    !fmt(sensor_dev, sizeof(sensor_dev), "socket,id=sensor,path=%s,server=on,wait=on",
		 r->sensor_sock) ||
	    !fmt(pty_addr, sizeof(pty_addr), "PTY,link=%s,rawer,wait-slave", r->tty_path) ||
	    !fmt(unix_addr, sizeof(unix_addr), "UNIX-CONNECT:%s", r->link_sock))
		return rig_fail(r, "TMPDIR too long for socket paths");
	/* A random boot seed, so boot_id differs from run to run as on hardware. */
	srand((unsigned)(now_ms() ^ getpid()));
	snprintf(seed, sizeof(seed), "0x%08x", (unsigned)rand() ^ ((unsigned)rand() << 16));
	snprintf(loader, sizeof(loader), "loader,addr=%s,data=%s,data-len=4", NOINIT_SEED_ADDR,
		 seed);
	const char *qemu_argv[40] = {
		"qemu-system-arm", "-M", "mps2-an500", "-display", "none", "-monitor", mon_dev,
		/* Guest time from the instruction count: deterministic while the guest runs,
		 * real time while it sleeps in WFI. */
		"-icount", "shift=0",
		/* A firmware fault resets the guest: make that end QEMU, so it cannot pass. */
		"-no-reboot", "-kernel", fw_image, "-chardev", link_dev, "-serial", "chardev:link",
		"-chardev", sensor_dev, "-serial", "chardev:sensor", "-device", loader, NULL};
	size_t argc = 0;
	while (qemu_argv[argc] != NULL)
		argc++;
	for (size_t i = 0; extra != NULL && extra[i] != NULL; i++) {
		if (argc + 3 > sizeof(qemu_argv) / sizeof(qemu_argv[0]))
			return rig_fail(r, "too many extra QEMU devices");
		qemu_argv[argc++] = "-device";
		qemu_argv[argc++] = extra[i];
		qemu_argv[argc] = NULL;
	}
	r->qemu = spawn(qemu_argv, r->qemu_log);
	if (r->qemu < 0)
		return rig_fail(r, "fork qemu");
	if (!wait_for_path(r, r->link_sock))
		return rig_fail(r, "QEMU did not create the link socket");

	const char *socat_argv[] = {"socat", pty_addr, unix_addr, NULL};
	r->socat = spawn(socat_argv, r->socat_log);
	if (r->socat < 0)
		return rig_fail(r, "fork socat");
	if (!wait_for_path(r, r->tty_path))
		return rig_fail(r, "socat did not create the pty link");
	r->tty = open_tty(r->tty_path);
	if (r->tty < 0)
		return rig_fail(r, "open the pty");

	/* QEMU creates the second socket once the first has its client. */
	if (!wait_for_path(r, r->sensor_sock))
		return rig_fail(r, "QEMU did not create the sensor socket");
	int64_t end = now_ms() + WAIT_MS;
	while ((r->sensor = connect_unix(r->sensor_sock)) < 0 && now_ms() < end)
		sleep_ms(10);
	if (r->sensor < 0)
		return rig_fail(r, "connect to the sensor socket");
	return 0;
}

static int rig_setup(void **state)
{
	(void)state;
	return rig_start(&rig, NULL);
}

/* The firmware's first frame: HELLO, seq 0, with this port's clock and limits. Then the
 * test talks like NXP's tty driver and the daemon do: the kernel's unframed
 * "hello world!", a 0x00, then frames. */
static void test_hello_at_boot(void **state)
{
	struct rig *r = &rig;
	struct rx_frame fr;
	struct m7b_hello h;

	(void)state;
	assert_true(next_frame(r, &fr, WAIT_MS));
	assert_int_equal(fr.f.type, M7B_T_HELLO);
	assert_int_equal(fr.f.seq, 0);
	assert_int_equal(fr.f.port, 0);
	assert_int_equal(m7b_wire_unpack_hello(&fr.f, &h), 0);
	assert_int_equal(h.tick_hz, TICK_HZ);
	assert_int_equal(h.max_payload, M7B_PAYLOAD_MAX);
	assert_true(h.host_credits >= 1);
	assert_true(h.name_len >= 13);
	assert_memory_equal(h.name, "m7bridge-qemu", 13);
	assert_true(h.now_ticks > 0);
	r->boot_id = h.boot_id;

	/* BOOT_INFO right after it: the ELF's own build id, the emulator's timer, and no
	 * previous boot (QEMU starts with zeroed RAM: a cold power-on). */
	static struct elfinfo elf;
	struct m7b_boot_info bi;
	assert_true(next_frame(r, &fr, WAIT_MS));
	assert_int_equal(fr.f.type, M7B_T_BOOT_INFO);
	assert_int_equal(fr.f.seq, 1);
	assert_int_equal(m7b_wire_unpack_boot_info(&fr.f, &bi), 0);
	assert_int_equal(elfinfo_load(fw_image, &elf), 0);
	assert_int_equal(bi.build_id_len, elf.build_id_len);
	assert_memory_equal(bi.build_id, elf.build_id, elf.build_id_len);
	assert_int_equal(bi.tick_source, 5 /* BOARD_TICK_SIM_TIMER */);
	assert_int_equal(bi.tick_hz, TICK_HZ);
	assert_true(bi.present & M7B_BI_HAS_PREV_BOOT);
	assert_int_equal(bi.prev_flags, 0);

	static const uint8_t kernel_hello[] = "hello world!";
	write_all(r->tty, kernel_hello, 12);
	static const uint8_t zero = 0;
	write_all(r->tty, &zero, 1);
}

/* CONFIG sets the idle gap and heartbeat period the rest of the test relies on, and a
 * baud rate the port applies to UART1; ACK OK. */
static void test_config(void **state)
{
	struct rig *r = &rig;
	struct m7b_config_item items[] = {
		{M7B_CFG_IDLE_GAP_US, IDLE_GAP_US},
		{M7B_CFG_HEARTBEAT_MS, HEARTBEAT_MS},
		{M7B_CFG_BAUD, 115200},
	};
	uint8_t payload[M7B_PAYLOAD_MAX];
	int n = m7b_wire_pack_config(payload, sizeof(payload), items, 3);

	(void)state;
	assert_true(n > 0);
	uint32_t seq = send_frame(r, M7B_T_CONFIG, 0, payload, (size_t)n);
	struct m7b_ack a = expect_ack(r, seq);
	assert_int_equal(a.acked_type, M7B_T_CONFIG);
	assert_int_equal(a.status, M7B_ACK_OK);
}

/* Bursts with silences between them go into UART1; each burst comes back as exactly one
 * capture (split only at 462 bytes, marked CONTINUED), byte for byte, with timestamps
 * that order and space the captures as the silences did. */
static void test_captures_split_at_gaps(void **state)
{
	struct rig *r = &rig;
	enum { NBURSTS = 5 };
	static uint8_t burst[NBURSTS][600];
	size_t len[NBURSTS] = {25, 256, 1, 600, M7B_DATA_BYTES_MAX};
	size_t total = 0;

	(void)state;
	memcpy(burst[0], "burst one: hello sensor\r\n", 25);
	for (size_t i = 0; i < 256; i++)
		burst[1][i] = (uint8_t)i; /* every byte value, 0x00 included */
	burst[2][0] = 0x00;
	for (size_t i = 0; i < 600; i++)
		burst[3][i] = (uint8_t)(i * 7u + 3u);
	for (size_t i = 0; i < M7B_DATA_BYTES_MAX; i++)
		burst[4][i] = (uint8_t)(0xFFu - i);

	/* All bursts go out with silences between them before any DATA is read, so the
	 * captures are cut by the firmware's idle timer, not by the test waiting. */
	for (int b = 0; b < NBURSTS; b++) {
		if (b > 0)
			sleep_ms(BURST_GAP_MS);
		write_all(r->sensor, burst[b], len[b]);
		total += len[b];
	}

	uint64_t prev_last = 0;
	for (int b = 0; b < NBURSTS; b++) {
		size_t got = 0;
		uint64_t t_first = 0;
		int parts = 0;

		while (got < len[b]) {
			struct rx_frame fr;
			struct m7b_data d;

			assert_true(next_of_type(r, M7B_T_DATA, &fr, WAIT_MS));
			assert_int_equal(fr.f.port, 0);
			assert_int_equal(m7b_wire_unpack_data(&fr.f, &d), 0);
			assert_int_equal(fr.f.flags & (M7B_DATA_OVERRUN | M7B_DATA_LINE_ERROR), 0);
			/* Never more than the burst holds: a capture that ran into the next
			 * burst would fail here or in the byte comparison. */
			assert_true(got + d.nbytes <= len[b]);
			assert_memory_equal(d.bytes, burst[b] + got, d.nbytes);
			assert_true(d.t_first <= d.t_last);
			if (parts == 0) {
				t_first = d.t_first;
				/* The silence before this burst lies between the captures. */
				assert_true(d.t_first > prev_last);
				if (b > 0)
					assert_true(d.t_first - prev_last >=
						    (uint64_t)TICK_HZ / 1000000u * IDLE_GAP_US);
			} else {
				assert_int_equal(d.t_first, t_first); /* same capture */
			}
			got += d.nbytes;
			bool more = got < len[b];
			/* Split only where the payload is full, and flagged so. */
			assert_int_equal(!!(fr.f.flags & M7B_DATA_CONTINUED), more);
			if (more)
				assert_int_equal(d.nbytes, M7B_DATA_BYTES_MAX);
			prev_last = d.t_last;
			parts++;
		}
		assert_int_equal(parts, len[b] > M7B_DATA_BYTES_MAX ? 2 : 1);
	}

	/* Counters agree: every byte captured, no overrun; the kernel's hello world! was
	 * counted as noise, not taken for a frame. */
	struct rx_frame fr;
	unsigned hb_before = r->heartbeats; /* the next one counts every byte above */
	while (r->heartbeats == hb_before)
		assert_true(next_frame(r, &fr, WAIT_MS));
	assert_true(r->last_hb.ncounters > M7B_HB_NOISE_BYTES);
	assert_int_equal(r->last_hb.counter[M7B_HB_UART_RX_BYTES], total);
	assert_int_equal(r->last_hb.counter[M7B_HB_UART_OVERRUNS], 0);
	assert_int_equal(r->last_hb.counter[M7B_HB_CAPTURES], r->data_frames);
	assert_true(r->last_hb.counter[M7B_HB_NOISE_BYTES] >= 12);
	assert_true(r->last_hb.now_ticks >= prev_last);
}

/* Changes the heartbeat period with CONFIG and waits for its ACK: every HEARTBEAT after
 * the ACK in the stream was made under the new period. */
static void set_heartbeat(struct rig *r, uint32_t ms)
{
	struct m7b_config_item item = {M7B_CFG_HEARTBEAT_MS, ms};
	uint8_t payload[M7B_CONFIG_ITEM_SIZE];
	int n = m7b_wire_pack_config(payload, sizeof(payload), &item, 1);

	assert_int_equal(n, (int)M7B_CONFIG_ITEM_SIZE);
	struct m7b_ack a = expect_ack(r, send_frame(r, M7B_T_CONFIG, 0, payload, (size_t)n));
	assert_int_equal(a.status, M7B_ACK_OK);
}

/* PING is answered with a HEARTBEAT at once: with the period set to a minute, the next
 * HEARTBEAT can only be the answer. */
static void test_heartbeat_on_ping(void **state)
{
	struct rig *r = &rig;
	struct rx_frame fr;
	unsigned before;

	(void)state;
	set_heartbeat(r, 60000);
	before = r->heartbeats;
	(void)send_frame(r, M7B_T_PING, 0, NULL, 0);
	assert_true(next_of_type(r, M7B_T_HEARTBEAT, &fr, WAIT_MS));
	assert_int_equal(r->heartbeats, before + 1);
	/* A second PING, a second answer. */
	(void)send_frame(r, M7B_T_PING, 0, NULL, 0);
	assert_true(next_of_type(r, M7B_T_HEARTBEAT, &fr, WAIT_MS));
	assert_int_equal(r->heartbeats, before + 2);
}

/* Without PINGs heartbeats keep coming, one period apart in guest time (later under
 * load, never earlier). */
static void test_heartbeat_periodic(void **state)
{
	struct rig *r = &rig;
	struct rx_frame fr;
	const uint64_t period = (uint64_t)TICK_HZ * HEARTBEAT_MS / 1000u;

	(void)state;
	set_heartbeat(r, HEARTBEAT_MS);
	assert_true(next_of_type(r, M7B_T_HEARTBEAT, &fr, WAIT_MS));
	uint64_t t0 = r->last_hb.now_ticks;
	for (int i = 0; i < 3; i++) {
		assert_true(next_of_type(r, M7B_T_HEARTBEAT, &fr, WAIT_MS));
		uint64_t dt = r->last_hb.now_ticks - t0;
		assert_true(dt >= period * 9 / 10);
		assert_true(dt <= period * 4);
		t0 = r->last_hb.now_ticks;
	}
}

/* HOST_HELLO is answered with HELLO: seq restarts at 0, same boot. */
static void test_hello_on_host_hello(void **state)
{
	struct rig *r = &rig;
	struct rx_frame fr;
	struct m7b_hello h;

	(void)state;
	(void)send_frame(r, M7B_T_HOST_HELLO, 0, NULL, 0);
	assert_true(next_of_type(r, M7B_T_HELLO, &fr, WAIT_MS));
	assert_int_equal(fr.f.seq, 0);
	assert_int_equal(m7b_wire_unpack_hello(&fr.f, &h), 0);
	assert_int_equal(h.boot_id, r->boot_id);
	assert_int_equal(h.tick_hz, TICK_HZ);
	assert_int_equal(r->hellos, 2);
}

/* SEND bytes come out of UART1 exactly; a SEND to a port that does not exist is refused. */
static void test_send_to_uart(void **state)
{
	struct rig *r = &rig;
	uint8_t out[300];
	uint8_t got[sizeof(out)];
	size_t have = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = (uint8_t)(i * 13u + 1u);
	out[5] = 0x00;
	uint32_t seq = send_frame(r, M7B_T_SEND, 0, out, sizeof(out));
	struct m7b_ack a = expect_ack(r, seq);
	assert_int_equal(a.acked_type, M7B_T_SEND);
	assert_int_equal(a.status, M7B_ACK_OK);

	int64_t end = now_ms() + WAIT_MS;
	while (have < sizeof(out)) {
		struct pollfd pfd = {.fd = r->sensor, .events = POLLIN};
		int left = (int)(end - now_ms());
		assert_true(left > 0);
		if (poll(&pfd, 1, left) <= 0)
			continue;
		ssize_t n = read(r->sensor, got + have, sizeof(got) - have);
		assert_true(n > 0);
		have += (size_t)n;
	}
	assert_memory_equal(got, out, sizeof(out));

	seq = send_frame(r, M7B_T_SEND, 1, out, 4);
	a = expect_ack(r, seq);
	assert_int_equal(a.status, M7B_ACK_BAD_PORT);

	/* That ACK was made after the bytes above left the UART, so any HEARTBEAT after it
	 * in the stream counts them. */
	(void)send_frame(r, M7B_T_PING, 0, NULL, 0);
	struct rx_frame fr;
	assert_true(next_of_type(r, M7B_T_HEARTBEAT, &fr, WAIT_MS));
	assert_int_equal(r->last_hb.counter[M7B_HB_UART_TX_BYTES], sizeof(out));
}

/* Reads the guest's trace ring (fixed address, docs/FIRMWARE.md) through QEMU's monitor
 * (pmemsave) into buf; returns its length, 0 on failure. */
static size_t read_trace_ring(struct rig *r, char *buf, size_t cap)
{
	char cmd[300], reply[4096];
	int64_t end = now_ms() + WAIT_MS;
	int mon = connect_unix(r->mon_sock), fd;
	ssize_t n;

	if (mon < 0)
		return 0;
	(void)unlink(r->trace_dump);
	snprintf(cmd, sizeof(cmd), "pmemsave 0x203fe000 4096 \"%s\"\n", r->trace_dump);
	if (write(mon, cmd, strlen(cmd)) != (ssize_t)strlen(cmd)) {
		close(mon);
		return 0;
	}
	/* Done when the file has all its bytes (the monitor echoes the line with escape
	 * sequences: read and drop it so QEMU never waits on the socket). */
	for (;;) {
		struct pollfd p = {.fd = mon, .events = POLLIN};
		struct stat st;

		if (stat(r->trace_dump, &st) == 0 && st.st_size == 4096)
			break;
		if (now_ms() > end) {
			close(mon);
			return 0;
		}
		if (poll(&p, 1, 20) > 0 && read(mon, reply, sizeof(reply)) <= 0) {
			close(mon);
			return 0;
		}
	}
	close(mon);
	fd = open(r->trace_dump, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, cap);
	close(fd);
	return n > 0 ? (size_t)n : 0;
}

/* A boot after a fault reports it: the port keeps a fault record in RAM that start-up
 * does not clear. Planting one (as the HardFault handler writes it before resetting)
 * makes a fresh boot send HELLO, then a LOG frame naming the fault, pc and CFSR. */
static void test_fault_reported_after_reset(void **state)
{
	static struct rig r2;
	static const uint32_t magic = 0x4D37464Eu, boots = 5, kind = 1 /* hard fault */,
			      pc = 0x00001234u, cfsr = 0x00020000u;
	const uint32_t check = magic ^ boots ^ kind ^ pc ^ cfsr ^ 0xA5A5A5A5u;
	const uint32_t words[] = {magic, boots, kind, pc, cfsr, check};
	char dev[6][96];
	const char *extra[7];
	struct rx_frame fr;
	struct m7b_hello h;
	struct m7b_log l;

	(void)state;
	for (size_t i = 0; i < 6; i++) {
		/* layout of struct qemu_noinit in board_qemu.c, after the seed word */
		assert_true(fmt(dev[i], sizeof(dev[i]), "loader,addr=0x%08x,data=0x%08x,data-len=4",
				0x203FFF04u + 4u * (unsigned)i, (unsigned)words[i]));
		extra[i] = dev[i];
	}
	extra[6] = NULL;
	assert_int_equal(rig_start(&r2, extra), 0);
	bool ok = next_frame(&r2, &fr, WAIT_MS) && fr.f.type == M7B_T_HELLO &&
		  m7b_wire_unpack_hello(&fr.f, &h) == 0 &&
		  next_of_type(&r2, M7B_T_LOG, &fr, WAIT_MS) && m7b_wire_unpack_log(&fr.f, &l) == 0;
	/* The same line is in the trace ring, in the format Linux decodes. */
	static char ring[4096];
	struct fwtrace_line lines[16];
	struct fwtrace_stats st;
	size_t ring_len = ok ? read_trace_ring(&r2, ring, sizeof(ring)) : 0;
	size_t nlines = fwtrace_decode(ring, ring_len, lines, 16, &st);
	rig_stop(&r2);
	assert_true(ok);
	assert_int_equal(ring_len, 4096);
	assert_int_equal(st.bad_lines, 0);
	assert_int_equal(st.bad_bytes, 0);
	assert_int_equal(nlines, 1);
	assert_int_equal(lines[0].seq, 0);
	assert_int_equal(lines[0].level, 2);
	assert_int_equal(lines[0].text_len, l.text_len);
	assert_memory_equal(lines[0].text, l.text, l.text_len);
	assert_true(lines[0].ticks > 0);
	/* Another seed and boot count: another boot id (it is not a constant). */
	assert_int_not_equal(h.boot_id, rig.boot_id);
	assert_int_equal(fr.f.seq, 2); /* right after HELLO and BOOT_INFO */
	assert_int_equal(l.level, 2);  /* LOG_CRIT */
	char text[160];
	assert_true(l.text_len < sizeof(text));
	memcpy(text, l.text, l.text_len);
	text[l.text_len] = '\0';
	assert_non_null(strstr(text, "hard fault"));
	assert_non_null(strstr(text, "0x00001234"));
	assert_non_null(strstr(text, "0x00020000"));
}

/* Over the whole run: no seq gaps, guest time never went back, it crossed the 32-bit
 * boundary of TIMER0 (the port starts the counter 1.34 s before it), and the firmware
 * is still the same boot. */
static void test_whole_run(void **state)
{
	struct rig *r = &rig;

	(void)state;
	assert_true(r->frames > 10);
	assert_int_equal(r->seq_errors, 0);
	assert_false(r->now_went_back);
	/* The heartbeat tests alone span > 1.5 s of guest time. */
	assert_true(r->max_now > UINT64_C(0xFFFFFFFF));
	assert_true(child_alive(&r->qemu));
	assert_true(child_alive(&r->socat));
}

/* Usage: test_qemu [FIRMWARE.elf]; the image may also come from $M7B_QEMU_FW. */
int main(int argc, char **argv)
{
	const char *fw = argc > 1 ? argv[1] : getenv("M7B_QEMU_FW");

	if (fw == NULL || access(fw, R_OK) != 0) {
		printf("SKIP: firmware image not built (needs arm-none-eabi-gcc and "
		       "newlib-nano)\n");
		return 77;
	}
	if (!in_path("qemu-system-arm")) {
		printf("SKIP: qemu-system-arm not found on PATH (Debian: qemu-system-arm)\n");
		return 77;
	}
	if (!in_path("socat")) {
		printf("SKIP: socat not found on PATH (Debian: socat)\n");
		return 77;
	}
	signal(SIGPIPE, SIG_IGN);
	fw_image = fw;

	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hello_at_boot),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_captures_split_at_gaps),
		cmocka_unit_test(test_heartbeat_on_ping),
		cmocka_unit_test(test_heartbeat_periodic),
		cmocka_unit_test(test_hello_on_host_hello),
		cmocka_unit_test(test_send_to_uart),
		cmocka_unit_test(test_fault_reported_after_reset),
		cmocka_unit_test(test_whole_run),
	};
	return cmocka_run_group_tests(tests, rig_setup, rig_teardown);
}
