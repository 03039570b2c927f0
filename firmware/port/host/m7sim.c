/* m7sim: the firmware core on Linux, streaming over a pseudo-terminal, with synthetic
 * UART sources, a configurable tick clock and fault injection. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "board.h"
#include "board_host.h"
#include "config.h"
#include "fw.h"
#include "sim_clock.h"
#include "sim_ctl.h"
#include "sim_image.h"
#include "sim_link.h"
#include "sim_source.h"

#define MAX_SOURCES  16
#define MAX_AT	     32
#define MAX_IMAGES   16
#define KICK_FAIL_MS 300 /* a kick-fail image: one failed kick in the kernel log this often */
#define DEAF_KICK_MS 100 /* the mailbox's timeout: a deaf M7 fails a kick at most this often */

/* An image for a firmware file name (--firmware NAME=SPEC). */
struct named_image {
	char name[SIM_IMAGE_NAME_MAX];
	struct sim_image img;
};

struct at_cmd {
	uint64_t ms;
	struct sim_ctl_cmd cmd;
	bool done;
};

struct m7sim {
	struct board_host board;
	struct fw fw;
	struct fw_options fwopt;
	char name[M7B_PAYLOAD_MAX - 20u + 1u]; /* what HELLO carries after its 20 fixed bytes */
	struct sim_source_config srccfg[MAX_SOURCES];
	struct sim_source src[MAX_SOURCES];
	unsigned nsrc;
	const char *link_path;
	size_t link_buffers;
	int sfd;
	const char *ctl_path;
	int ctl_fd;
	bool ctl_created;
	char ctl_buf[1024];
	size_t ctl_len;
	bool ctl_skip; /* the rest of a line too long for ctl_buf: discarded up to its '\n' */
	struct at_cmd at[MAX_AT];
	unsigned nat;
	uint64_t start_ns;
	uint64_t stall_until_ns; /* 0 = no timed stall */
	bool deaf;		/* the core still runs and sends, but takes nothing from the link */
	uint64_t deaf_until_ns; /* 0 = until resume */
	uint64_t deaf_kick_ns;	/* last failed kick logged for it */
	uint64_t deaf_bytes;	/* host bytes that never reached the core */
	uint64_t reopen_at_ns;	/* hung up: new pty at this time; 0 = none */
	uint64_t slow_bps;	/* host -> M7 read limit */
	double slow_tokens;
	uint64_t slow_ns;
	bool quit;
	/* Images and identity */
	char channel[64];
	struct sim_image image; /* --image/--build-id: the image without --remoteproc */
	struct named_image named[MAX_IMAGES];
	unsigned nnamed;
	const char *persist_path;
	const char *trace_path;
	char trace_buf_path[4096];
	/* Fake remoteproc and kernel log */
	const char *rproc_dir;
	int rproc_ifd; /* inotify on rproc_dir; -1 = none */
	bool offline;  /* stopped through remoteproc: the core does not run */
	const char *kmsg_path;
	int kmsg_fd; /* /dev/kmsg-format lines go here; -1 = none */
	uint64_t kmsg_seq;
	uint64_t kick_next_ns;	     /* next failed kick of a kick-fail image; 0 = none */
	uint64_t boot_ms;	     /* a remoteproc start: the tty appears this much later */
	const struct sim_image *cur; /* the image running now */
};

static void usage(FILE *f)
{
	fputs("Usage: m7sim --link PATH [OPTIONS]\n"
	      "\n"
	      "Runs the m7bridge firmware core on Linux. The link to the host is a pseudo-\n"
	      "terminal in raw mode, published as a symlink at PATH (like /dev/ttyRPMSG30).\n"
	      "When it is ready m7sim prints one line on stdout:\n"
	      "  m7sim: link PATH -> /dev/pts/N\n"
	      "and prints such a line again each time the link is recreated.\n"
	      "\n"
	      "Options:\n"
	      "  --link PATH          symlink to create for the pty (required)\n"
	      "  --source SPEC        a synthetic UART source (repeatable), SPEC is\n"
	      "                       PORT:key=value,... with keys:\n"
	      "                         rate=N        captures per second, 0.000001..1000000\n"
	      "                                       (default 10; 0 = none);\n"
	      "                                       as baud allows: a capture longer than the\n"
	      "                                       period delays the next (back to back)\n"
	      "                         size=N|A-B    bytes per capture (default 16)\n"
	      "                         pattern=P     counter (byte i of capture k = k+i),\n"
	      "                                       random, text (\"port P capture K\\n\"), "
	      "zero, nmea ($GPGGA)\n"
	      "                         baud=N        character time of the bytes (default "
	      "115200)\n"
	      "                         count=N       stop after N captures (default: never)\n"
	      "                         seed=N        for random sizes and bytes\n"
	      "                         file=PATH     bytes from a file, '-' = stdin, at the baud "
	      "rate\n"
	      "                         idle=US       idle gap that ends a capture (default 4 "
	      "chars)\n"
	      "                         delim=N|none  byte that ends a capture (default none)\n"
	      "                         max=N         bytes per DATA frame, 1..462 (default 462)\n"
	      "                         loop=1        bytes sent with SEND come back on this port\n"
	      "                         tx=PATH       bytes sent with SEND are appended to PATH\n"
	      "  --ports N            captured UART ports (default: highest source port + 1)\n"
	      "  --tick-hz HZ         tick rate (default 8000000, like the i.MX8MP system "
	      "counter)\n"
	      "  --tick-offset T      tick count at start (default 0)\n"
	      "  --drift-ppm PPM      the tick clock runs fast (+) or slow (-) by PPM\n"
	      "  --tick-host          ticks are the host's CLOCK_MONOTONIC (BOOT_INFO says so)\n"
	      "  --heartbeat-ms MS    HEARTBEAT period (default 1000; 0 = only on PING)\n"
	      "  --idle-us US         default idle gap of every port\n"
	      "  --name NAME          firmware name in HELLO, at most 458 bytes (default\n"
	      "                       \"m7sim " M7B_VERSION "\")\n"
	      "  --boot-id N          boot_id of the first boot (default random)\n"
	      "  --link-buffers N     transmit buffers of 496 bytes (default 16), like RPMSG's\n"
	      "                       pool: frames are written whole, or wait\n"
	      "  --channel NAME       rpmsg channel name the firmware announces (BOOT_INFO)\n"
	      "  --persist FILE       emulate the M7's no-init RAM with FILE (created): the\n"
	      "                       previous boot's accounting survives reboot, assert,\n"
	      "                       a crash and a restart of m7sim\n"
	      "  --trace-file PATH    mirror the firmware trace ring to PATH after each line\n"
	      "  --debugfs ROOT       the same, at ROOT/remoteproc/remoteproc0/trace0\n"
	      "  --image SPEC         how the image behaves: MODE[,build-id=HEX|none], MODE is\n"
	      "                       good, no-hello (nothing reaches the link), silent (HELLO\n"
	      "                       and BOOT_INFO, then nothing) or kick-fail (works, but a\n"
	      "                       failed kick is logged every 300 ms, see --kmsg)\n"
	      "  --build-id HEX|none  build id reported (default: m7sim's own GNU build-id)\n"
	      "  --firmware NAME=SPEC the image that comes up when remoteproc starts firmware\n"
	      "                       NAME (repeatable; other names: --image)\n"
	      "  --remoteproc DIR     act as the kernel behind a fake remoteproc directory:\n"
	      "                       'stop' written to DIR/state takes the link down (state\n"
	      "                       becomes offline), 'start' boots the image named in\n"
	      "                       DIR/firmware with a new boot_id on a new pty (running)\n"
	      "  --boot-ms MS         a slow boot: after a remoteproc start the M7 runs at once,\n"
	      "                       its tty appears MS later (default 0)\n"
	      "  --kmsg PATH          write kernel log lines (/dev/kmsg format) to PATH (a FIFO\n"
	      "                       or a file): the kick failures of a kick-fail image\n"
	      "  --ctl PATH           control FIFO (created if missing) taking the commands "
	      "below,\n"
	      "                       one per line\n"
	      "  --at MS:COMMAND      run COMMAND MS milliseconds after start (repeatable)\n"
	      "  -h, --help           this text\n"
	      "  -V, --version        print the version\n"
	      "\n"
	      "Commands (--ctl, --at):\n"
	      "  stall [MS]           hang like a dead M7: the link is neither read nor written\n"
	      "                       (UART interrupts still capture, so captures get dropped);\n"
	      "                       MS = 0 or none: until 'resume'; a reboot or a\n"
	      "                       remoteproc start ends it too\n"
	      "  deaf [MS]            deaf to the mailbox: HEARTBEATs and data go on, but what\n"
	      "                       the host sends never reaches the core (host_frames stays);\n"
	      "                       each write costs a failed kick (see --kmsg, at most one\n"
	      "                       per 100 ms); MS = 0 or none: until 'resume'; a reboot or\n"
	      "                       a remoteproc start ends it too\n"
	      "  resume               end a stall or deafness\n"
	      "  garbage [N]          write N random bytes (default 64, at most 511) and a 0x00\n"
	      "                       to the link\n"
	      "  corrupt [N]          send the next N frames (default 1) with a bad CRC\n"
	      "  drop [N]             swallow the next N frames (default 1): seq gaps\n"
	      "  reboot               restart the core: new boot_id, counters and buffers reset,\n"
	      "                       0x00 + HELLO with seq 0 (+ BOOT_INFO; --persist keeps the\n"
	      "                       previous boot's accounting)\n"
	      "  hangup [MS]          close the pty (readers see a hangup, the symlink dangles),\n"
	      "                       then after MS (default 500) publish a new pty at PATH;\n"
	      "                       MS = 0: stay away until 'swap'\n"
	      "  swap                 publish a new pty at PATH at once (atomic rename), then\n"
	      "                       close the old one: the device went away and came back\n"
	      "  vanish [MS]          remove the symlink, keep the old pty open but silent (no\n"
	      "                       hangup, like the NXP RPMSG tty on channel removal), then\n"
	      "                       after MS (default 1000) publish a new pty at PATH;\n"
	      "                       MS = 0: stay away until 'swap'\n"
	      "  slow BPS             read the link at most BPS bytes/s (0 = off): a slow M7\n"
	      "  throttle BPS         write the link at most BPS bytes/s (0 = off)\n"
	      "  uart-error PORT overrun|line   flag the next byte received on PORT\n"
	      "  log LEVEL TEXT       send a LOG frame\n"
	      "  assert               fail an assertion: LOG, then answer only HELLO and PING\n"
	      "  stats                print a line of counters on stdout\n"
	      "  quit                 exit\n"
	      "\n"
	      "Signals: SIGUSR1 = reboot, SIGUSR2 = swap, SIGHUP = hangup, SIGTERM/SIGINT = exit.\n"
	      "Each command prints a line 'm7sim: COMMAND ...' on stdout when carried out.\n"
	      "Frames written before a reader opens the pty wait in the tty (open it without\n"
	      "flushing: tcsetattr(TCSANOW)). Exit status: 0 after SIGTERM/SIGINT/quit, 2 for\n"
	      "bad arguments, 1 for other errors.\n",
	      f);
}

static uint64_t ms_ns(uint64_t ms)
{
	return ms * 1000000u;
}

static int parse_num(const char *s, const char *what, uint64_t max, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 0);
	if (errno || end == s || *end || *s == '-' || *v > max) {
		fprintf(stderr, "m7sim: bad %s '%s'\n", what, s);
		return -EINVAL;
	}
	return 0;
}

/* parse_num for values that cannot be 0; says so, as for any other bad value. */
static int parse_pos(const char *s, const char *what, uint64_t max, uint64_t *v)
{
	if (parse_num(s, what, max, v))
		return -EINVAL;
	if (*v == 0) {
		fprintf(stderr, "m7sim: bad %s '%s': must be at least 1\n", what, s);
		return -EINVAL;
	}
	return 0;
}

static void print_link(const struct m7sim *s)
{
	printf("m7sim: link %s -> %s\n", s->link_path, s->board.link->pts);
}

static void print_stats(struct m7sim *s)
{
	uint32_t c[M7B_HB_NCOUNTERS];

	fw_counters(&s->fw, c);
	printf("m7sim: stats seq=%" PRIu32 " rx_bytes=%" PRIu32 " captures=%" PRIu32
	       " dropped=%" PRIu32 " overruns=%" PRIu32 " host_frames=%" PRIu32 " host_bad=%" PRIu32
	       " host_unknown=%" PRIu32 " uart_tx=%" PRIu32 " stalls=%" PRIu32 " credits=%" PRIu32
	       " frames_written=%" PRIu64 " frames_dropped=%" PRIu64 " frames_corrupted=%" PRIu64
	       " logs_dropped=%" PRIu32 " noise=%" PRIu32 " syncs_dropped=%" PRIu32
	       " acks_dropped=%" PRIu32 " host_no_credit=%" PRIu32 " host_voided=%" PRIu32
	       " deaf_bytes=%" PRIu64 "\n",
	       s->fw.seq, c[M7B_HB_UART_RX_BYTES], c[M7B_HB_CAPTURES], c[M7B_HB_CAPTURES_DROPPED],
	       c[M7B_HB_UART_OVERRUNS], c[M7B_HB_HOST_FRAMES], c[M7B_HB_HOST_BAD],
	       c[M7B_HB_HOST_UNKNOWN], c[M7B_HB_UART_TX_BYTES], c[M7B_HB_LINK_STALLS],
	       c[M7B_HB_CREDITS], s->board.frames_written, s->board.frames_dropped,
	       s->board.frames_corrupted, c[M7B_HB_LOGS_DROPPED], c[M7B_HB_NOISE_BYTES],
	       c[M7B_HB_SYNCS_DROPPED], c[M7B_HB_ACKS_DROPPED], c[M7B_HB_HOST_NO_CREDIT],
	       c[M7B_HB_HOST_VOIDED], s->deaf_bytes);
}

/* The image for a firmware name: a --firmware entry, else --image. */
static const struct sim_image *image_for(const struct m7sim *s, const char *fw_name)
{
	for (unsigned i = 0; fw_name && i < s->nnamed; i++)
		if (strcmp(s->named[i].name, fw_name) == 0)
			return &s->named[i].img;
	return &s->image;
}

/* Boots the core as image `img`: identity, behaviour, empty trace ring, fresh state (the
 * persist area is kept: that is what it is for). */
static void sim_boot(struct m7sim *s, const struct sim_image *img)
{
	struct board_host *b = &s->board;

	/* A reset ends a hang as it ends an assert: a stalled M7 restarted by remoteproc (or
	 * rebooted) runs again, which is what the ladder's remoteproc step relies on. */
	b->fatal = false;
	b->stalled = false;
	s->stall_until_ns = 0;
	s->deaf = false;
	s->deaf_until_ns = 0;
	for (unsigned p = 0; p < b->nports; p++)
		b->uart[p].count = 0;
	if (img->has_id) {
		memcpy(b->build_id, img->id, img->id_len);
		b->build_id_len = img->id_len;
	} else {
		b->build_id_len = board_host_self_build_id(b->build_id, sizeof(b->build_id));
	}
	s->cur = img;
	board_host_boot(b, img->mode);
	fw_init(&s->fw, &s->fwopt);
	s->kick_next_ns =
		img->mode == SIM_IMAGE_KICK_FAIL ? sim_clock_mono_ns() + ms_ns(KICK_FAIL_MS) : 0;
}

/* One /dev/kmsg-format line ("LEVEL,SEQ,USEC,-;TEXT") for the daemon's kernel log watcher. */
static void kmsg_write(struct m7sim *s, const char *text)
{
	char line[256];
	struct timespec ts;
	int n;

	if (s->kmsg_fd < 0)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	n = snprintf(line, sizeof(line), "3,%" PRIu64 ",%" PRIu64 ",-;%s\n", s->kmsg_seq++,
		     (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u, text);
	if (n > 0 && write(s->kmsg_fd, line, (size_t)n) != n)
		fprintf(stderr, "m7sim: kmsg: %s\n", strerror(errno));
}

/* Publishes a new pty and announces the link to the core and on stdout. */
static int link_reopen(struct m7sim *s)
{
	int r = sim_link_open(s->board.link);

	if (r < 0) {
		fprintf(stderr, "m7sim: cannot create the pty at %s: %s\n", s->link_path,
			strerror(-r));
		return r;
	}
	s->reopen_at_ns = 0;
	fw_link_up(&s->fw);
	fw_poll(&s->fw);
	(void)sim_link_flush(s->board.link);
	print_link(s);
	return 0;
}

/* A frame count plus a request, held at UINT_MAX: two large requests must not wrap to
 * a small count (or to 0, which would end the fault at once). */
static unsigned add_sat(unsigned n, uint64_t more)
{
	return more >= UINT_MAX - n ? UINT_MAX : n + (unsigned)more;
}

static void run_cmd(struct m7sim *s, const struct sim_ctl_cmd *c)
{
	uint64_t now = sim_clock_mono_ns();
	struct board_host *b = &s->board;

	if (c->op == SIM_CTL_UART_ERROR && c->port >= b->nports) {
		/* The parser knows only the largest port any M7 may have; this one has fewer. */
		printf("m7sim: error: uart-error: no port %u (%u port%s)\n", c->port, b->nports,
		       b->nports == 1 ? "" : "s");
		fflush(stdout);
		return;
	}
	printf("m7sim: %s", sim_ctl_op_to_string(c->op));
	switch (c->op) {
	case SIM_CTL_STALL:
		b->stalled = true;
		s->stall_until_ns = c->arg ? now + ms_ns(c->arg) : 0;
		printf(" %" PRIu64 "\n", c->arg);
		break;
	case SIM_CTL_RESUME:
		b->stalled = false;
		s->stall_until_ns = 0;
		s->deaf = false;
		s->deaf_until_ns = 0;
		printf("\n");
		break;
	case SIM_CTL_DEAF:
		s->deaf = true;
		s->deaf_until_ns = c->arg ? now + ms_ns(c->arg) : 0;
		printf(" %" PRIu64 "\n", c->arg);
		break;
	case SIM_CTL_GARBAGE:
		printf(" %" PRIu64 "%s\n", c->arg,
		       !sim_link_is_open(b->link)		     ? " (link down)"
		       : board_host_garbage(b, (unsigned)c->arg) < 0 ? " (link full)"
								     : "");
		break;
	case SIM_CTL_CORRUPT:
		b->corrupt_next = add_sat(b->corrupt_next, c->arg);
		printf(" %" PRIu64 "\n", c->arg);
		break;
	case SIM_CTL_DROP:
		b->drop_next = add_sat(b->drop_next, c->arg);
		printf(" %" PRIu64 "\n", c->arg);
		break;
	case SIM_CTL_REBOOT:
		sim_boot(s, s->cur);
		printf(" boot_id=0x%08" PRIx32 " previous=%s\n", s->fw.boot_id,
		       fw_prev_boot(&s->fw)->valid ? "valid" : "none");
		if (sim_link_is_open(b->link))
			fw_link_up(&s->fw);
		break;
	case SIM_CTL_HANGUP:
	case SIM_CTL_VANISH:
		/* Hang-up closes the pty; vanish removes the path and leaves it silent. */
		if (c->op == SIM_CTL_HANGUP)
			sim_link_hangup(b->link);
		else
			sim_link_vanish(b->link);
		fw_link_down(&s->fw);
		/* 0: stay away until 'swap' */
		s->reopen_at_ns = c->arg ? now + ms_ns(c->arg) : 0;
		printf(" %" PRIu64 "\n", c->arg);
		break;
	case SIM_CTL_SWAP:
		printf("\n");
		(void)link_reopen(s);
		break;
	case SIM_CTL_SLOW:
		s->slow_bps = c->arg;
		s->slow_tokens = 0;
		s->slow_ns = now;
		printf(" %" PRIu64 "\n", c->arg);
		break;
	case SIM_CTL_THROTTLE:
		b->throttle_bps = c->arg;
		b->throttle_tokens = 0;
		b->throttle_ns = now;
		printf(" %" PRIu64 "\n", c->arg);
		break;
	case SIM_CTL_UART_ERROR:
		b->uart[c->port].pending_err |= (uint32_t)c->arg;
		printf(" %u %s\n", c->port, c->arg == FW_RX_OVERRUN ? "overrun" : "line");
		break;
	case SIM_CTL_LOG:
		fw_log(&s->fw, (uint8_t)c->arg, c->text);
		printf(" %" PRIu64 " %s\n", c->arg, c->text);
		break;
	case SIM_CTL_ASSERT:
		printf("\n");
		fw_assert_failed(&s->fw, "m7sim-ctl", 1);
		break;
	case SIM_CTL_STATS:
		printf("\n");
		print_stats(s);
		break;
	case SIM_CTL_QUIT:
		printf("\n");
		s->quit = true;
		break;
	}
	fflush(stdout);
}

static void ctl_line(struct m7sim *s, const char *line)
{
	struct sim_ctl_cmd c;
	char err[160];

	if (line[strspn(line, " \t\r")] == '\0')
		return;
	if (sim_ctl_parse(line, &c, err, sizeof(err)) < 0) {
		printf("m7sim: error: %s\n", err);
		fflush(stdout);
		return;
	}
	run_cmd(s, &c);
}

static void ctl_read(struct m7sim *s)
{
	for (;;) {
		ssize_t n = read(s->ctl_fd, s->ctl_buf + s->ctl_len,
				 sizeof(s->ctl_buf) - 1 - s->ctl_len);
		char *nl;

		if (n <= 0)
			return;
		s->ctl_len += (size_t)n;
		s->ctl_buf[s->ctl_len] = '\0';
		if (s->ctl_skip) {
			/* The tail of a discarded line is no command of its own. */
			nl = memchr(s->ctl_buf, '\n', s->ctl_len);
			if (!nl) {
				s->ctl_len = 0;
				continue;
			}
			s->ctl_skip = false;
			s->ctl_len -= (size_t)(nl + 1 - s->ctl_buf);
			memmove(s->ctl_buf, nl + 1, s->ctl_len + 1);
		}
		while ((nl = memchr(s->ctl_buf, '\n', s->ctl_len))) {
			*nl = '\0';
			ctl_line(s, s->ctl_buf);
			s->ctl_len -= (size_t)(nl + 1 - s->ctl_buf);
			memmove(s->ctl_buf, nl + 1, s->ctl_len);
		}
		if (s->ctl_len == sizeof(s->ctl_buf) - 1) {
			printf("m7sim: error: control line too long, discarded\n");
			fflush(stdout);
			s->ctl_len = 0;
			s->ctl_skip = true;
		}
	}
}

static int ctl_open(struct m7sim *s)
{
	struct stat st;

	if (mkfifo(s->ctl_path, 0600) == 0)
		s->ctl_created = true;
	else if (errno != EEXIST) {
		fprintf(stderr, "m7sim: mkfifo %s: %s\n", s->ctl_path, strerror(errno));
		return -errno;
	}
	/* O_RDWR: the FIFO never reports EOF when a writer goes away. */
	s->ctl_fd = open(s->ctl_path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (s->ctl_fd < 0 || fstat(s->ctl_fd, &st) < 0 || !S_ISFIFO(st.st_mode)) {
		fprintf(stderr, "m7sim: %s: not a usable FIFO\n", s->ctl_path);
		return -EINVAL;
	}
	return 0;
}

static void handle_signal(struct m7sim *s)
{
	struct signalfd_siginfo si;
	struct sim_ctl_cmd c;

	while (read(s->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		memset(&c, 0, sizeof(c));
		switch (si.ssi_signo) {
		case SIGUSR1:
			c.op = SIM_CTL_REBOOT;
			break;
		case SIGUSR2:
			c.op = SIM_CTL_SWAP;
			break;
		case SIGHUP:
			c.op = SIM_CTL_HANGUP;
			c.arg = 500;
			break;
		default:
			s->quit = true;
			continue;
		}
		run_cmd(s, &c);
	}
}

/* Delivers every byte due by `now` in tick order, as the receive interrupts would. */
static void deliver(struct m7sim *s, uint64_t now)
{
	struct board_host *b = &s->board;

	for (;;) {
		uint64_t best = UINT64_MAX;
		int which = -1; /* source index, or -1 - port for a transmitter */

		for (unsigned i = 0; i < s->nsrc; i++) {
			uint64_t d = sim_source_due(&s->src[i]);
			if (d < best) {
				best = d;
				which = (int)i;
			}
		}
		for (unsigned p = 0; p < b->nports; p++) {
			uint64_t d = board_host_uart_due(b, p);
			if (d < best) {
				best = d;
				which = -1 - (int)p;
			}
		}
		if (best > now)
			break;
		if (which >= 0) {
			struct sim_source *src = &s->src[which];
			unsigned port = src->cfg.port;
			uint8_t byte = sim_source_take(src);

			if (port < b->nports) {
				uint32_t err = b->uart[port].pending_err;
				b->uart[port].pending_err = 0;
				fw_uart_rx_isr(&s->fw, port, byte, err, best);
			}
		} else {
			unsigned port = (unsigned)(-1 - which);
			struct board_host_uart *u = &b->uart[port];
			uint8_t byte = board_host_uart_take(b, port);

			if (u->tx_fd >= 0 && write(u->tx_fd, &byte, 1) < 0)
				fprintf(stderr, "m7sim: port %u tx file: %s\n", port,
					strerror(errno));
			if (u->loop) {
				uint32_t err = u->pending_err;
				u->pending_err = 0;
				fw_uart_rx_isr(&s->fw, port, byte, err, best);
			}
		}
	}
}

/* The earliest byte not delivered yet, UINT64_MAX if none. */
static uint64_t next_due(const struct m7sim *s)
{
	uint64_t t = UINT64_MAX;

	for (unsigned i = 0; i < s->nsrc; i++) {
		uint64_t d = sim_source_due(&s->src[i]);
		if (d < t)
			t = d;
	}
	for (unsigned p = 0; p < s->board.nports; p++) {
		uint64_t d = board_host_uart_due(&s->board, p);
		if (d < t)
			t = d;
	}
	return t;
}

static bool slow_ok(struct m7sim *s, uint64_t now)
{
	if (s->slow_bps == 0)
		return true;
	s->slow_tokens += (double)(now - s->slow_ns) * (double)s->slow_bps / 1e9;
	s->slow_ns = now;
	/* Burst: 20 ms worth (at least 64 bytes), so the limit holds over short spans. */
	if (s->slow_tokens > (double)(s->slow_bps / 50u > 64u ? s->slow_bps / 50u : 64u))
		s->slow_tokens = (double)(s->slow_bps / 50u > 64u ? s->slow_bps / 50u : 64u);
	return s->slow_tokens >= 1.0;
}

static void link_read(struct m7sim *s, uint64_t now_ns)
{
	uint8_t buf[4096];
	size_t want = sizeof(buf);
	ssize_t n;

	if (s->slow_bps) {
		if (!slow_ok(s, now_ns))
			return;
		if ((double)want > s->slow_tokens)
			want = (size_t)s->slow_tokens;
	}
	n = sim_link_read(s->board.link, buf, want);
	if (n > 0 && s->deaf) {
		/* The kernel's kick times out: the bytes stay in the vring, the core never
		 * sees them, and the kernel log says so. */
		s->deaf_bytes += (uint64_t)n;
		if (now_ns - s->deaf_kick_ns >= ms_ns(DEAF_KICK_MS)) {
			s->deaf_kick_ns = now_ns;
			kmsg_write(s, "imx-rproc imx8mp-cm7: imx_rproc_kick: failed (1, err:-62)");
		}
	} else if (n > 0) {
		if (s->slow_bps)
			s->slow_tokens -= (double)n;
		fw_link_rx(&s->fw, buf, (size_t)n);
	} else if (n < 0 && n != -EIO) {
		fprintf(stderr, "m7sim: reading the link: %s\n", strerror((int)-n));
	}
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* Reads DIR/NAME into buf without its trailing newline; false if unreadable. */
static bool rproc_read(const struct m7sim *s, const char *name, char *buf, size_t cap)
{
	char path[4096];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", s->rproc_dir, name);
	f = fopen(path, "re");
	if (!f)
		return false;
	n = fread(buf, 1, cap - 1, f);
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return true;
}

static void rproc_write_state(const struct m7sim *s, const char *state)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/state", s->rproc_dir);
	f = fopen(path, "we");
	if (!f || fprintf(f, "%s\n", state) < 0 || fclose(f) != 0)
		fprintf(stderr, "m7sim: %s: %s\n", path, strerror(errno));
}

/* What the kernel does on a write to remoteproc's state file. */
static void rproc_state_changed(struct m7sim *s)
{
	struct board_host *b = &s->board;
	char state[64], fw_name[SIM_IMAGE_NAME_MAX];

	if (!rproc_read(s, "state", state, sizeof(state)))
		return;
	if (strcmp(state, "stop") == 0) {
		/* The M7 halts: its side of the link goes away, nothing runs until start. */
		s->offline = true;
		s->reopen_at_ns = 0;
		s->kick_next_ns = 0;
		if (sim_link_is_open(b->link))
			sim_link_hangup(b->link);
		fw_link_down(&s->fw);
		rproc_write_state(s, "offline");
		printf("m7sim: remoteproc stop\n");
	} else if (strcmp(state, "start") == 0) {
		const struct sim_image *img;

		if (!rproc_read(s, "firmware", fw_name, sizeof(fw_name)))
			fw_name[0] = '\0';
		img = image_for(s, fw_name);
		s->offline = false;
		sim_boot(s, img);
		printf("m7sim: remoteproc start %s image=%s boot_id=0x%08" PRIx32 "\n", fw_name,
		       sim_image_mode_to_string(img->mode), s->fw.boot_id);
		if (s->boot_ms) {
			/* The kernel says running at once; the tty waits for the firmware's
			 * name-service announce, which a slow boot delays. */
			s->reopen_at_ns = sim_clock_mono_ns() + ms_ns(s->boot_ms);
			rproc_write_state(s, "running");
		} else if (link_reopen(s) == 0) {
			rproc_write_state(s, "running");
		}
	} else {
		return; /* our own answers (offline, running) and anything else */
	}
	fflush(stdout);
}

static void rproc_read_events(struct m7sim *s)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool state = false;
	ssize_t n;

	while ((n = read(s->rproc_ifd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const void *)p;

			if (ev->len > 0 && strcmp(ev->name, "state") == 0)
				state = true;
			p += sizeof(*ev) + ev->len;
		}
	}
	if (state)
		rproc_state_changed(s);
}

static int run(struct m7sim *s)
{
	struct board_host *b = &s->board;

	while (!s->quit) {
		struct pollfd pfd[4 + MAX_SOURCES];
		int src_idx[4 + MAX_SOURCES];
		nfds_t n = 0;
		uint64_t now_ns = sim_clock_mono_ns(), wake_ns = UINT64_MAX, t;
		uint64_t now = sim_clock_ticks(&b->clock, now_ns);
		int timeout, r;
		bool link_in;

		for (unsigned i = 0; i < s->nat; i++) {
			if (!s->at[i].done && now_ns >= s->start_ns + ms_ns(s->at[i].ms)) {
				s->at[i].done = true;
				run_cmd(s, &s->at[i].cmd);
			}
			if (!s->at[i].done)
				wake_ns = min_u64(wake_ns, s->start_ns + ms_ns(s->at[i].ms));
		}
		if (s->quit)
			break;
		if (b->stalled && s->stall_until_ns && now_ns >= s->stall_until_ns) {
			struct sim_ctl_cmd c = {.op = SIM_CTL_RESUME};
			run_cmd(s, &c);
		}
		if (s->deaf && s->deaf_until_ns && now_ns >= s->deaf_until_ns) {
			struct sim_ctl_cmd c = {.op = SIM_CTL_RESUME};
			run_cmd(s, &c);
		}
		if (s->deaf && s->deaf_until_ns)
			wake_ns = min_u64(wake_ns, s->deaf_until_ns);
		if (s->reopen_at_ns && now_ns >= s->reopen_at_ns)
			(void)link_reopen(s);

		if (s->kick_next_ns && now_ns >= s->kick_next_ns && sim_link_is_open(b->link)) {
			kmsg_write(s, "imx-rproc imx8mp-cm7: imx_rproc_kick: failed (1, err:-62)");
			s->kick_next_ns = now_ns + ms_ns(KICK_FAIL_MS);
		}
		if (s->kick_next_ns)
			wake_ns = min_u64(wake_ns, s->kick_next_ns);

		deliver(s, now);
		t = next_due(s);
		b->hold = t == UINT64_MAX ? 0 : t;
		if (!b->stalled && !s->offline) {
			fw_poll(&s->fw);
			if (sim_link_flush(b->link) < 0 && !s->reopen_at_ns) {
				/* The pty is unusable: behave like a hangup and come back. */
				sim_link_hangup(b->link);
				fw_link_down(&s->fw);
				s->reopen_at_ns = now_ns + ms_ns(100);
			}
			/* fw_poll may have queued bytes on a transmitter: look again. */
			t = min_u64(next_due(s), fw_next_deadline(&s->fw));
		}
		if (t != UINT64_MAX)
			wake_ns = min_u64(wake_ns, sim_clock_ns_at(&b->clock, t));
		if (b->stalled && s->stall_until_ns)
			wake_ns = min_u64(wake_ns, s->stall_until_ns);
		if (s->reopen_at_ns)
			wake_ns = min_u64(wake_ns, s->reopen_at_ns);
		/* Rate limits refill with time: look again soon. */
		if ((b->throttle_bps && fw_tx_blocked(&s->fw)) || s->slow_bps)
			wake_ns = min_u64(wake_ns, now_ns + ms_ns(2));

		link_in = sim_link_is_open(b->link) && !b->stalled && slow_ok(s, now_ns);
		if (sim_link_is_open(b->link)) {
			pfd[n].fd = b->link->master;
			pfd[n].events =
				(short)((link_in ? POLLIN : 0) |
					(b->link->out_len > 0 && !b->stalled ? POLLOUT : 0));
			src_idx[n++] = -1;
		}
		pfd[n].fd = s->sfd;
		pfd[n].events = POLLIN;
		src_idx[n++] = -2;
		if (s->ctl_fd >= 0) {
			pfd[n].fd = s->ctl_fd;
			pfd[n].events = POLLIN;
			src_idx[n++] = -3;
		}
		if (s->rproc_ifd >= 0) {
			pfd[n].fd = s->rproc_ifd;
			pfd[n].events = POLLIN;
			src_idx[n++] = -4;
		}
		for (unsigned i = 0; i < s->nsrc; i++) {
			int fd = sim_source_fd(&s->src[i]);
			if (fd >= 0) {
				pfd[n].fd = fd;
				pfd[n].events = POLLIN;
				src_idx[n++] = (int)i;
			}
		}

		now_ns = sim_clock_mono_ns();
		if (wake_ns == UINT64_MAX)
			timeout = -1;
		else if (wake_ns <= now_ns)
			timeout = 0;
		else
			timeout = (int)min_u64((wake_ns - now_ns + 999999u) / 1000000u, 1000);
		r = poll(pfd, n, timeout);
		if (r < 0 && errno != EINTR) {
			fprintf(stderr, "m7sim: poll: %s\n", strerror(errno));
			return -errno;
		}
		now_ns = sim_clock_mono_ns();
		/* Bytes that fell due while poll slept go in first: until they are delivered the
		 * clock holds at the first of them, and a SYNC read now would be stamped with a
		 * tick from before it arrived (poll wakes up to a millisecond late). */
		deliver(s, sim_clock_ticks(&b->clock, now_ns));
		t = next_due(s);
		b->hold = t == UINT64_MAX ? 0 : t;
		for (nfds_t i = 0; r > 0 && i < n; i++) {
			if (!pfd[i].revents)
				continue;
			if (src_idx[i] == -1) {
				if (pfd[i].revents & POLLIN)
					link_read(s, now_ns);
				if (pfd[i].revents & POLLOUT)
					(void)sim_link_flush(b->link);
			} else if (src_idx[i] == -2) {
				handle_signal(s);
			} else if (src_idx[i] == -3) {
				ctl_read(s);
			} else if (src_idx[i] == -4) {
				rproc_read_events(s);
			} else {
				struct sim_source *src = &s->src[src_idx[i]];
				if (sim_source_read(src, sim_clock_ticks(&b->clock, now_ns)) < 0) {
					printf("m7sim: source on port %u: end of input\n",
					       src->cfg.port);
					fflush(stdout);
				}
			}
		}
	}
	return 0;
}

static int parse_args(struct m7sim *s, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"link", required_argument, NULL, 'l'},
		{"source", required_argument, NULL, 's'},
		{"ports", required_argument, NULL, 'p'},
		{"tick-hz", required_argument, NULL, 'z'},
		{"tick-offset", required_argument, NULL, 'o'},
		{"drift-ppm", required_argument, NULL, 'd'},
		{"tick-host", no_argument, NULL, 'H'},
		{"heartbeat-ms", required_argument, NULL, 'b'},
		{"idle-us", required_argument, NULL, 'i'},
		{"name", required_argument, NULL, 'n'},
		{"boot-id", required_argument, NULL, 'B'},
		{"link-buffers", required_argument, NULL, 'L'},
		{"ctl", required_argument, NULL, 'c'},
		{"at", required_argument, NULL, 'a'},
		{"channel", required_argument, NULL, 'C'},
		{"persist", required_argument, NULL, 'P'},
		{"trace-file", required_argument, NULL, 'T'},
		{"debugfs", required_argument, NULL, 'D'},
		{"image", required_argument, NULL, 'I'},
		{"build-id", required_argument, NULL, 'G'},
		{"firmware", required_argument, NULL, 'F'},
		{"remoteproc", required_argument, NULL, 'R'},
		{"kmsg", required_argument, NULL, 'K'},
		{"boot-ms", required_argument, NULL, 'W'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	uint64_t v, hz = 8000000, offset = 0, ports = 0, hb = 1000;
	int64_t idle_us = -1;
	double ppm = 0;
	bool offset_set = false, tick_host = false;
	int opt;
	char err[256];

	snprintf(s->name, sizeof(s->name), "m7sim %s", M7B_VERSION);
	s->link_buffers = 16;
	while ((opt = getopt_long(argc, argv, "hV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'l':
			s->link_path = optarg;
			break;
		case 's':
			if (s->nsrc == MAX_SOURCES) {
				fprintf(stderr, "m7sim: at most %d sources\n", MAX_SOURCES);
				return -EINVAL;
			}
			if (sim_source_parse(optarg, &s->srccfg[s->nsrc], err, sizeof(err)) < 0) {
				fprintf(stderr, "m7sim: %s\n", err);
				return -EINVAL;
			}
			if (s->srccfg[s->nsrc].port >= FW_MAX_PORTS) {
				fprintf(stderr, "m7sim: port %u: at most %d ports\n",
					s->srccfg[s->nsrc].port, FW_MAX_PORTS);
				return -EINVAL;
			}
			s->nsrc++;
			break;
		case 'p':
			if (parse_pos(optarg, "--ports", FW_MAX_PORTS, &ports))
				return -EINVAL;
			break;
		case 'z':
			if (parse_pos(optarg, "--tick-hz", UINT32_MAX, &hz))
				return -EINVAL;
			break;
		case 'o':
			if (parse_num(optarg, "--tick-offset", UINT64_MAX / 2, &offset))
				return -EINVAL;
			offset_set = true;
			break;
		case 'H':
			tick_host = true;
			break;
		case 'd': {
			char *end;
			ppm = strtod(optarg, &end);
			/* Written so that NaN fails too. */
			if (*end || end == optarg || !(ppm >= -100000 && ppm <= 100000)) {
				fprintf(stderr, "m7sim: bad --drift-ppm '%s'\n", optarg);
				return -EINVAL;
			}
			break;
		}
		case 'b':
			if (parse_num(optarg, "--heartbeat-ms", 3600000, &hb))
				return -EINVAL;
			break;
		case 'i':
			if (parse_num(optarg, "--idle-us", UINT32_MAX, &v))
				return -EINVAL;
			idle_us = (int64_t)v;
			break;
		case 'n':
			if (strlen(optarg) >= sizeof(s->name)) {
				fprintf(stderr, "m7sim: --name: at most %zu bytes\n",
					sizeof(s->name) - 1);
				return -EINVAL;
			}
			snprintf(s->name, sizeof(s->name), "%s", optarg);
			break;
		case 'B':
			if (parse_pos(optarg, "--boot-id", UINT32_MAX, &v))
				return -EINVAL;
			s->board.next_boot_id = (uint32_t)v;
			break;
		case 'L':
			if (parse_pos(optarg, "--link-buffers", 4096, &v))
				return -EINVAL;
			s->link_buffers = (size_t)v;
			break;
		case 'c':
			s->ctl_path = optarg;
			break;
		case 'a': {
			char *colon = strchr(optarg, ':');
			char num[32];
			if (s->nat == MAX_AT || !colon || (size_t)(colon - optarg) >= sizeof(num)) {
				fprintf(stderr, "m7sim: bad --at '%s' (MS:COMMAND, at most %d)\n",
					optarg, MAX_AT);
				return -EINVAL;
			}
			snprintf(num, sizeof(num), "%.*s", (int)(colon - optarg), optarg);
			if (parse_num(num, "--at time", UINT32_MAX, &s->at[s->nat].ms))
				return -EINVAL;
			if (sim_ctl_parse(colon + 1, &s->at[s->nat].cmd, err, sizeof(err)) < 0) {
				fprintf(stderr, "m7sim: --at '%s': %s\n", optarg, err);
				return -EINVAL;
			}
			s->nat++;
			break;
		}
		case 'C':
			if (strlen(optarg) >= sizeof(s->channel) || !*optarg) {
				fprintf(stderr, "m7sim: --channel: 1..%zu characters\n",
					sizeof(s->channel) - 1);
				return -EINVAL;
			}
			snprintf(s->channel, sizeof(s->channel), "%s", optarg);
			s->fwopt.channel = s->channel;
			break;
		case 'P':
			s->persist_path = optarg;
			break;
		case 'T':
			s->trace_path = optarg;
			break;
		case 'D':
			snprintf(s->trace_buf_path, sizeof(s->trace_buf_path),
				 "%s/remoteproc/remoteproc0/trace0", optarg);
			s->trace_path = s->trace_buf_path;
			break;
		case 'I': {
			bool had_id = s->image.has_id;
			struct sim_image keep = s->image;

			if (sim_image_parse(optarg, &s->image, err, sizeof(err)) < 0) {
				fprintf(stderr, "m7sim: --image: %s\n", err);
				return -EINVAL;
			}
			if (had_id && !s->image.has_id) { /* --build-id given before --image */
				s->image.has_id = true;
				memcpy(s->image.id, keep.id, keep.id_len);
				s->image.id_len = keep.id_len;
			}
			break;
		}
		case 'G': {
			int n = strcmp(optarg, "none") == 0
					? 0
					: sim_image_parse_id(optarg, s->image.id,
							     sizeof(s->image.id));
			if (n < 0) {
				fprintf(stderr, "m7sim: bad --build-id '%s' (1..64 bytes in hex)\n",
					optarg);
				return -EINVAL;
			}
			s->image.has_id = true;
			s->image.id_len = (size_t)n;
			break;
		}
		case 'F':
			if (s->nnamed == MAX_IMAGES) {
				fprintf(stderr, "m7sim: at most %d --firmware\n", MAX_IMAGES);
				return -EINVAL;
			}
			if (sim_image_parse_named(optarg, s->named[s->nnamed].name,
						  &s->named[s->nnamed].img, err, sizeof(err)) < 0) {
				fprintf(stderr, "m7sim: --firmware: %s\n", err);
				return -EINVAL;
			}
			s->nnamed++;
			break;
		case 'R':
			s->rproc_dir = optarg;
			break;
		case 'K':
			s->kmsg_path = optarg;
			break;
		case 'W':
			if (parse_num(optarg, "--boot-ms", 3600000, &s->boot_ms))
				return -EINVAL;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("m7sim %s\n", M7B_VERSION);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "m7sim: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if (!s->link_path) {
		fprintf(stderr, "m7sim: --link PATH is required (see --help)\n");
		return -EINVAL;
	}

	if (ports == 0) {
		ports = 1;
		for (unsigned i = 0; i < s->nsrc; i++)
			if (s->srccfg[i].port + 1u > ports)
				ports = s->srccfg[i].port + 1u;
	}
	for (unsigned i = 0; i < s->nsrc; i++) {
		if (s->srccfg[i].port >= ports) {
			fprintf(stderr, "m7sim: source on port %u, but --ports %" PRIu64 "\n",
				s->srccfg[i].port, ports);
			return -EINVAL;
		}
	}

	/* --tick-host (without an offset or a drift): the ticks are the host's CLOCK_MONOTONIC
	 * itself (t0 = 0), which BOOT_INFO then says, so the daemon can map them exactly.
	 * Otherwise they count from the start: an emulated timer the daemon has to measure. */
	s->board.host_mono = tick_host && !offset_set && ppm == 0;
	sim_clock_init(&s->board.clock, (uint32_t)hz, offset, ppm,
		       s->board.host_mono ? 0 : sim_clock_mono_ns());
	s->board.nports = (unsigned)ports;
	s->fwopt.name = s->name;
	s->fwopt.nports = (unsigned)ports;
	s->fwopt.heartbeat_ms = (uint32_t)hb;
	for (unsigned p = 0; p < ports; p++) {
		struct fw_port_config *pc = &s->fwopt.port[p];
		struct board_host_uart *u = &s->board.uart[p];
		uint32_t baud = 115200;
		int64_t port_idle = idle_us;

		pc->delimiter = -1;
		pc->max_capture = M7B_DATA_BYTES_MAX;
		u->tx_fd = -1;
		for (unsigned i = 0; i < s->nsrc; i++) {
			const struct sim_source_config *c = &s->srccfg[i];
			if (c->port != p)
				continue;
			baud = c->baud;
			if (c->idle_us >= 0)
				port_idle = c->idle_us;
			if (c->delimiter != -2)
				pc->delimiter = (int16_t)c->delimiter;
			if (c->max_capture > 0)
				pc->max_capture = (uint16_t)c->max_capture;
			if (c->loop)
				u->loop = true;
			if (c->tx_path && u->tx_fd < 0) {
				u->tx_fd = open(c->tx_path,
						O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
				if (u->tx_fd < 0) {
					fprintf(stderr, "m7sim: %s: %s\n", c->tx_path,
						strerror(errno));
					return -errno;
				}
			}
		}
		(void)board_uart_set_baud(p, baud);
		/* Rounded up, as the core does for CONFIG: a nonzero gap is never 0 ticks. */
		if (port_idle >= 0)
			pc->idle_gap_ticks = (uint32_t)min_u64(
				((uint64_t)port_idle * hz + 999999u) / 1000000u, UINT32_MAX);
		else
			pc->idle_gap_ticks = fw_char_ticks((uint32_t)hz, baud, 4);
	}
	return 0;
}

/* Creates the directories of path (mkdir -p of its parent). */
static int mkdir_parents(const char *path)
{
	char buf[4096];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return 0;
}

/* Persist area, trace file, kernel log, remoteproc: then the first boot. */
static int sim_setup_extras(struct m7sim *s)
{
	const struct sim_image *img = &s->image;
	char fw_name[SIM_IMAGE_NAME_MAX], state[64];
	int e;

	if (s->persist_path && (e = board_host_persist_open(&s->board, s->persist_path)) < 0) {
		fprintf(stderr, "m7sim: --persist %s: %s\n", s->persist_path, strerror(-e));
		return e;
	}
	if (s->trace_path && ((e = mkdir_parents(s->trace_path)) < 0 ||
			      (e = board_host_trace_open(&s->board, s->trace_path)) < 0)) {
		fprintf(stderr, "m7sim: trace file %s: %s\n", s->trace_path, strerror(-e));
		return e;
	}
	if (s->kmsg_path) {
		/* O_RDWR: opening a FIFO does not wait for (or fail without) a reader. */
		s->kmsg_fd = open(s->kmsg_path,
				  O_RDWR | O_CREAT | O_APPEND | O_NONBLOCK | O_CLOEXEC, 0644);
		if (s->kmsg_fd < 0) {
			fprintf(stderr, "m7sim: --kmsg %s: %s\n", s->kmsg_path, strerror(errno));
			return -errno;
		}
	}
	if (s->rproc_dir) {
		s->rproc_ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		/* IN_ONLYDIR: a watch on a file would take the option and never act on it. */
		if (s->rproc_ifd < 0 ||
		    inotify_add_watch(s->rproc_ifd, s->rproc_dir,
				      IN_CLOSE_WRITE | IN_MOVED_TO | IN_ONLYDIR) < 0) {
			fprintf(stderr, "m7sim: --remoteproc %s: %s\n", s->rproc_dir,
				strerror(errno));
			return -errno;
		}
		/* The image the tree names; an "offline" core waits for start. */
		if (rproc_read(s, "firmware", fw_name, sizeof(fw_name)))
			img = image_for(s, fw_name);
		s->offline = rproc_read(s, "state", state, sizeof(state)) &&
			     strcmp(state, "offline") == 0;
	}
	sim_boot(s, img);
	return 0;
}

int main(int argc, char **argv)
{
	static struct m7sim sim; /* large (rings): not on the stack */
	struct m7sim *s = &sim;
	sigset_t mask;
	int r = 0;

	s->sfd = s->ctl_fd = s->rproc_ifd = s->kmsg_fd = -1;
	s->board.trace_fd = -1;
	fw_trace_init(&s->board.trace, s->board.trace_buf, sizeof(s->board.trace_buf));
	board_host_attach(&s->board);
	if (parse_args(s, argc, argv) < 0)
		return 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGUSR2);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 ||
	    (s->sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
		fprintf(stderr, "m7sim: signalfd: %s\n", strerror(errno));
		return 1;
	}
	if (s->ctl_path && ctl_open(s) < 0) {
		r = 1;
		goto out;
	}
	s->board.link = sim_link_new(s->link_path, s->link_buffers, M7B_FRAME_MAX);
	if (!s->board.link) {
		fprintf(stderr, "m7sim: out of memory\n");
		r = 1;
		goto out;
	}

	if (sim_setup_extras(s) < 0) {
		r = 1;
		goto out;
	}
	s->start_ns = sim_clock_mono_ns();
	for (unsigned i = 0; i < s->nsrc; i++) {
		int e = sim_source_start(&s->src[i], &s->srccfg[i], s->board.clock.hz,
					 board_host_now(&s->board));
		if (e < 0) {
			fprintf(stderr, "m7sim: source on port %u: %s: %s\n", s->srccfg[i].port,
				s->srccfg[i].file ? s->srccfg[i].file : "", strerror(-e));
			s->nsrc = i + 1;
			r = 1;
			goto out;
		}
	}
	if (!s->offline && link_reopen(s) < 0) {
		r = 1;
		goto out;
	}
	r = run(s) < 0 ? 1 : 0;
	printf("m7sim: exit\n");
out:
	for (unsigned i = 0; i < s->nsrc; i++)
		sim_source_stop(&s->src[i]);
	for (unsigned p = 0; p < s->board.nports; p++)
		if (s->board.uart[p].tx_fd >= 0)
			close(s->board.uart[p].tx_fd);
	s->board.link = sim_link_free(s->board.link);
	if (s->ctl_fd >= 0)
		close(s->ctl_fd);
	if (s->rproc_ifd >= 0)
		close(s->rproc_ifd);
	if (s->kmsg_fd >= 0)
		close(s->kmsg_fd);
	if (s->board.trace_fd >= 0)
		close(s->board.trace_fd);
	if (s->ctl_created)
		(void)unlink(s->ctl_path);
	if (s->sfd >= 0)
		close(s->sfd);
	return r;
}
