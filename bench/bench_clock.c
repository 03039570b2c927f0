/* bench_clock: how well m7bridged maps M7 ticks to CLOCK_MONOTONIC. A fake M7 in this
 * process, whose tick clock is an exact function of CLOCK_MONOTONIC, talks to the real
 * daemon over a pty; a client compares each FRAME's mapped time and bound with the truth.
 * Prints figures next to the targets; never fails on them.
 * Usage: bench_clock [--quick] [--busy] [--daemon PATH] [--only NAME] [--record DIR] */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "m7bridge/decoder.h"
#include "m7bridge/wire.h"

#include "bench_util.h"
#include "fake_m7.h"

#define HZ	   8000000u /* the i.MX8M system counter's rate */
#define FRAME_HZ   500	    /* DATA frames per second from the fake */
#define MAX_FRAMES (FRAME_HZ * 40)

#define mono_ns bench_now_ns

/* Waits ns: spins below 5 ms, since nanosleep() overshoots by tens of microseconds and
 * would make every "0-200 us" delay at least that long. */
static void sleep_ns(uint64_t ns)
{
	if (ns < 5000000) {
		uint64_t end = mono_ns() + ns;
		while (mono_ns() < end)
			;
		return;
	}
	struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- a scenario ---- */

struct scenario {
	const char *name, *what;
	int ppm;
	uint32_t turn_jitter_ns; /* between stamping rx and tx: the M7's own turnaround */
	uint32_t post_jitter_ns; /* after stamping tx, before the reply leaves (queued) */
	unsigned outlier_pct;	 /* replies held 20 ms more (before tx is stamped) */
	bool post_outliers;	 /* ... or after */
	double reboot_s;	 /* the M7 restarts then, its HELLO lost; 0 = never */
};

/* What each DATA frame was: its index is in its first 4 bytes. */
struct truth {
	uint64_t sent_ns;  /* when the fake wrote it */
	uint64_t tick_ns;  /* the true MONOTONIC time of its t_first */
	uint64_t hello_ns; /* the HELLO (or the lost-HELLO reboot) it follows */
};

struct fake {
	const struct scenario *sc;
	double duration_s;
	struct fake_m7 m7;
	uint32_t rng;
	bool hello_sent, rebooted;
	uint64_t start_ns, hello_ns, first_hello_ns, next_frame_ns;
	struct truth *truth;
	atomic_uint nframes;
};

static uint32_t fake_rand(struct fake *f, uint32_t mod)
{
	f->rng = f->rng * 1103515245u + 12345u;
	return mod ? (f->rng >> 8) % mod : 0;
}

static void fake_hello(struct fake *f)
{
	if (!f->hello_sent)
		f->hello_ns = f->first_hello_ns = mono_ns();
	f->hello_sent = true;
	(void)fake_m7_hello(&f->m7);
}

static void fake_sync(struct fake *f, const struct m7b_frame *fr)
{
	const struct scenario *sc = f->sc;
	struct m7b_sync s;
	if (m7b_wire_unpack_sync(fr, &s) < 0)
		return;
	struct m7b_sync_reply r = {.host_time = s.host_time};
	r.rx_ticks = fake_m7_ticks(&f->m7, mono_ns());
	uint64_t pre = fake_rand(f, sc->turn_jitter_ns), post = fake_rand(f, sc->post_jitter_ns);
	if (sc->outlier_pct && fake_rand(f, 100) < sc->outlier_pct)
		*(sc->post_outliers ? &post : &pre) += 20000000;
	if (pre)
		sleep_ns(pre);
	r.tx_ticks = fake_m7_ticks(&f->m7, mono_ns());
	if (post)
		sleep_ns(post);
	uint8_t buf[M7B_FRAME_MAX];
	size_t n = fake_m7_encode_reply(&f->m7, buf, sizeof buf, &r);
	if (n)
		(void)bench_write_all(f->m7.fd, buf, n);
}

static void fake_data(struct fake *f, uint64_t now)
{
	unsigned i = atomic_load(&f->nframes);
	if (i >= MAX_FRAMES)
		return;
	uint64_t t = fake_m7_ticks(&f->m7, now);
	uint8_t bytes[4] = {(uint8_t)i, (uint8_t)(i >> 8), (uint8_t)(i >> 16), (uint8_t)(i >> 24)};
	f->truth[i] = (struct truth){now, fake_m7_mono_of(&f->m7, t), f->hello_ns};
	atomic_store(&f->nframes, i + 1);
	uint8_t buf[M7B_FRAME_MAX];
	size_t n = fake_m7_encode_data(&f->m7, buf, sizeof buf, 0, t, t, bytes, sizeof bytes);
	if (n)
		(void)bench_write_all(f->m7.fd, buf, n);
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	uint8_t buf[4096];
	uint64_t end = f->start_ns + (uint64_t)(f->duration_s * 1e9);

	fake_hello(f); /* the firmware starts */
	f->next_frame_ns = mono_ns();
	for (;;) {
		uint64_t now = mono_ns();
		if (now >= end)
			break;
		if (f->sc->reboot_s > 0 && !f->rebooted &&
		    now >= f->hello_ns + (uint64_t)(f->sc->reboot_s * 1e9)) {
			/* Restarted; its HELLO was lost. Ticks start over, the crystal is the same. */
			f->rebooted = true;
			f->m7.epoch_ns = now;
			f->m7.boot_id++;
			f->m7.seq = 0;
			f->hello_ns = now;
		}
		if (now >= f->next_frame_ns) {
			fake_data(f, now);
			f->next_frame_ns += 1000000000u / FRAME_HZ;
			continue;
		}
		int wait_ms = (int)((f->next_frame_ns - now) / 1000000u);
		struct pollfd p = {f->m7.fd, POLLIN, 0};
		if (poll(&p, 1, wait_ms) <= 0)
			continue;
		ssize_t n = read(f->m7.fd, buf, sizeof buf);
		if (n <= 0)
			continue;
		const uint8_t *pos = buf;
		struct m7b_frame fr;
		while (m7b_decoder_next(&f->m7.dec, &pos, buf + n, &fr) > 0) {
			if (fr.type == M7B_T_SYNC)
				fake_sync(f, &fr);
			else if (fr.type == M7B_T_HOST_HELLO)
				fake_hello(f);
		}
	}
	return NULL;
}

/* ---- the daemon and a watching client ---- */

static const char *daemon_path; /* --daemon PATH: another build's m7bridged */
static const char *only;	/* --only NAME: one scenario */
static const char *record_dir;	/* --record DIR: each scenario's exchanges and truth */

/* The build's daemon, or another one run through sh in its place. */
static int daemon_start(struct bench_daemon *r, const char *log_path)
{
	static char sh[] = "sh", dash_c[] = "-c", cmd[] = "exec \"$BENCH_CLOCK_DAEMON\" \"$@\"";
	static char *const other[] = {sh, dash_c, cmd, NULL};

	if (daemon_path)
		setenv("BENCH_CLOCK_DAEMON", daemon_path, 1);
	return bench_daemon_start_log(r, daemon_path ? other : NULL, false, 5.0, log_path);
}

/* DIR/NAME.EXT, the prime in c' spelt out for the shell's sake. */
static void record_path(char *buf, size_t cap, const struct scenario *sc, const char *ext)
{
	size_t l = strcspn(sc->name, "'");
	snprintf(buf, cap, "%s/%.*s%s.%s", record_dir, (int)l, sc->name,
		 sc->name[l] ? "-prime" : "", ext);
}

/* What clock_replay needs besides the daemon's log: the fake's tick clock (hz, ppm and
 * epoch of each boot, from the CLOCK_MONOTONIC ns it started) and the run's span. */
static void record_truth(const struct scenario *sc, const struct fake *f, uint64_t epoch0,
			 uint64_t hello0)
{
	char path[512];
	record_path(path, sizeof path, sc, "truth");
	FILE *t = fopen(path, "w");
	if (!t) {
		fprintf(stderr, "bench_clock: %s: %s\n", path, strerror(errno));
		return;
	}
	fprintf(t, "# bench_clock %s: %s\n", sc->name, sc->what);
	fprintf(t, "hz %u\nppm %d\nboot %" PRIu64 " %" PRIu64 "\n", f->m7.hz, f->m7.ppm, hello0,
		epoch0);
	if (f->rebooted)
		fprintf(t, "boot %" PRIu64 " %" PRIu64 "\n", f->hello_ns, f->m7.epoch_ns);
	fprintf(t, "end %" PRIu64 "\n", f->start_ns + (uint64_t)(f->duration_s * 1e9));
	fclose(t);
}

/* What the client saw of each frame. */
struct seen {
	bool got, mapped, bounded;
	uint64_t mono_ns, err_ns;
};

/* CLOCK_REALTIME - CLOCK_MONOTONIC, for a daemon that only gives t_first_ns. */
static int64_t real_minus_mono;

static bool member_u64(const char *line, const char *key, uint64_t *v)
{
	const char *p = strstr(line, key);
	if (!p)
		return false;
	*v = strtoull(p + strlen(key), NULL, 10);
	return true;
}

static void client_line(const char *line, struct seen *seen)
{
	if (getenv("BENCH_CLOCK_DEBUG") && strstr(line, "\"CLOCK\""))
		fprintf(stderr, "client: %s\n", line);
	const char *d = strstr(line, "\"hex\":\"");
	unsigned b[4];
	if (!d || sscanf(d + 7, "%2x%2x%2x%2x", &b[0], &b[1], &b[2], &b[3]) != 4)
		return;
	unsigned i = b[0] | b[1] << 8 | b[2] << 16 | b[3] << 24;
	if (i >= MAX_FRAMES)
		return;
	struct seen *s = &seen[i];
	s->got = true;
	/* Members are present only when mapped; never null. */
	s->mapped = member_u64(line, "\"t_first_mono_ns\":", &s->mono_ns);
	s->bounded = s->mapped && member_u64(line, "\"t_err_ns\":", &s->err_ns);
	uint64_t real;
	if (!s->mapped && member_u64(line, "\"t_first_ns\":", &real)) {
		s->mapped = true;
		s->mono_ns = (uint64_t)((int64_t)real - real_minus_mono);
	}
}

struct client {
	int fd;
	struct seen *seen;
	atomic_bool stop;
};

static void *client_main(void *arg)
{
	struct client *c = arg;
	char buf[1 << 16];
	size_t len = 0;
	while (!atomic_load(&c->stop)) {
		struct pollfd p = {c->fd, POLLIN, 0};
		if (poll(&p, 1, 100) <= 0)
			continue;
		ssize_t n = read(c->fd, buf + len, sizeof buf - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		char *start = buf, *nl;
		while ((nl = strchr(start, '\n'))) {
			*nl = '\0';
			client_line(start, c->seen);
			start = nl + 1;
		}
		len -= (size_t)(start - buf);
		memmove(buf, start, len);
		if (len == sizeof buf - 1)
			len = 0; /* a line too long to be ours */
	}
	return NULL;
}

/* ---- the other cores kept busy (--busy) ---- */

#define MAX_SPINNERS 64

/* One spinning child per CPU beyond the first, at the default priority, so that the
 * daemon, the fake M7 and the client compete with them as with a colleague's build.
 * Each dies with the bench should it be killed. Returns how many were started. */
static unsigned busy_start(pid_t *pids, unsigned cap)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned want = cpus > 1 ? (unsigned)(cpus - 1) : 1, n = 0;
	pid_t parent = getpid();

	for (; n < want && n < cap; n++) {
		pid_t pid = fork();
		if (pid < 0)
			break;
		if (pid == 0) {
			(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() != parent)
				_exit(0);
			for (volatile unsigned long spin = 0;; spin++)
				;
		}
		pids[n] = pid;
	}
	return n;
}

static void busy_stop(const pid_t *pids, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		kill(pids[i], SIGKILL);
	for (unsigned i = 0; i < n; i++)
		while (waitpid(pids[i], NULL, 0) < 0 && errno == EINTR)
			;
}

/* ---- figures ---- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

struct stats {
	unsigned n, covered;
	uint64_t p50, p99, max;
};

static void stats_of(uint64_t *err, const bool *cov, unsigned n, struct stats *s)
{
	memset(s, 0, sizeof *s);
	s->n = n;
	for (unsigned i = 0; i < n; i++)
		s->covered += cov[i];
	if (!n)
		return;
	qsort(err, n, sizeof *err, cmp_u64);
	s->p50 = err[n / 2];
	s->p99 = err[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1];
	s->max = err[n - 1];
}

static void print_us(uint64_t ns, unsigned n)
{
	if (n)
		printf(" %8.1f", (double)ns / 1000.0);
	else
		printf(" %8s", "-");
}

static void run_scenario(const struct scenario *sc, double duration_s)
{
	struct bench_daemon r;
	struct fake f = {.sc = sc, .duration_s = duration_s, .rng = 12345};
	struct client c = {0};
	static struct truth truth[MAX_FRAMES];
	static struct seen seen[MAX_FRAMES];

	memset(truth, 0, sizeof truth);
	memset(seen, 0, sizeof seen);
	f.truth = truth;
	c.seen = seen;
	/* CLOCK only when asked: a daemon without that class refuses the watch. */
	const char *watch =
		getenv("BENCH_CLOCK_DEBUG")
			? "{\"cmd\":\"watch\",\"classes\":[\"FRAME\",\"CLOCK\"],"
			  "\"encoding\":\"hex\"}"
			: "{\"cmd\":\"watch\",\"classes\":[\"FRAME\"],\"encoding\":\"hex\"}";
	char log_path[512];
	if (record_dir)
		record_path(log_path, sizeof log_path, sc, "log");
	char what[64];
	snprintf(what, sizeof what, "in scenario %s", sc->name);
	/* Watched: a daemon gone mid-run would leave the fake blocked on a full pty. */
	if (daemon_start(&r, record_dir ? log_path : NULL) < 0 ||
	    bench_daemon_watch(&r, what) < 0 || (c.fd = bench_connect_client(&r, watch)) < 0) {
		printf("%-4s could not start the daemon\n", sc->name);
		bench_daemon_stop(&r);
		return;
	}
	usleep(200000); /* the daemon opens the pty and says HOST_HELLO */
	fake_m7_init(&f.m7, r.master, HZ, sc->ppm, mono_ns() - 5000000000ull, 0x1000, "bench-clock",
		     FAKE_M7_TICK_NONE);
	struct timespec rt;
	uint64_t m0 = mono_ns();
	clock_gettime(CLOCK_REALTIME, &rt);
	real_minus_mono = (int64_t)((uint64_t)rt.tv_sec * 1000000000u + (uint64_t)rt.tv_nsec) -
			  (int64_t)(m0 / 2 + mono_ns() / 2);
	uint64_t epoch0 = f.m7.epoch_ns;
	f.start_ns = mono_ns();
	pthread_t ft, ct;
	pthread_create(&ct, NULL, client_main, &c);
	pthread_create(&ft, NULL, fake_main, &f);
	pthread_join(ft, NULL);
	if (record_dir)
		record_truth(sc, &f, epoch0, f.first_hello_ns);
	usleep(300000); /* the last FRAMEs reach the client */
	atomic_store(&c.stop, true);
	pthread_join(ct, NULL);
	close(c.fd);
	if (bench_daemon_stop(&r) < 0) {
		printf("%-4s the daemon did not end on SIGTERM: no figures\n", sc->name);
		return;
	}

	/* Per frame, by its distance from the HELLO it follows. */
	unsigned n = atomic_load(&f.nframes);
	static uint64_t e_early[MAX_FRAMES], e_late[MAX_FRAMES], b_late[MAX_FRAMES];
	static bool c_early[MAX_FRAMES], c_late[MAX_FRAMES];
	unsigned ne = 0, nl = 0, nb = 0, mapped = 0, got = 0, covered = 0, bounded = 0,
		 wrong_epoch = 0;
	double first_map_ms[2] = {-1, -1};
	unsigned hello_no = 0;
	uint64_t last_hello = 0;
	for (unsigned i = 0; i < n; i++) {
		const struct truth *t = &truth[i];
		const struct seen *s = &seen[i];
		if (t->hello_ns != last_hello) {
			hello_no += last_hello != 0;
			last_hello = t->hello_ns;
		}
		got += s->got;
		if (!s->mapped)
			continue;
		mapped++;
		uint64_t e =
			s->mono_ns > t->tick_ns ? s->mono_ns - t->tick_ns : t->tick_ns - s->mono_ns;
		bool cov = s->bounded && e <= s->err_ns;
		covered += cov;
		bounded += s->bounded;
		wrong_epoch += e > 1000000000u;
		/* The first frame mapped to the right boot: one mapped by the previous boot's
		 * fit is off by seconds and counted apart. */
		if (hello_no < 2 && first_map_ms[hello_no] < 0 && e < 1000000000u)
			first_map_ms[hello_no] = (double)(t->sent_ns - t->hello_ns) / 1e6;
		double since = (double)(t->sent_ns - t->hello_ns) / 1e9;
		if (since >= 10.0) {
			e_late[nl] = e;
			c_late[nl++] = cov;
			if (s->bounded)
				b_late[nb++] = s->err_ns;
		} else if (since >= 2.0) {
			e_early[ne] = e;
			c_early[ne++] = cov;
		}
	}
	struct stats se, sl;
	stats_of(e_early, c_early, ne, &se);
	stats_of(e_late, c_late, nl, &sl);
	printf("%-4s %-44s", sc->name, sc->what);
	print_us(se.p50, ne);
	print_us(se.p99, ne);
	print_us(se.max, ne);
	print_us(sl.p50, nl);
	print_us(sl.p99, nl);
	print_us(sl.max, nl);
	if (bounded)
		printf(" %7.2f%%", 100.0 * covered / mapped);
	else
		printf(" %8s", "-");
	if (nb) {
		qsort(b_late, nb, sizeof *b_late, cmp_u64);
		printf(" %8.1f", (double)b_late[nb / 2] / 1000.0);
	} else {
		printf(" %8s", "-");
	}
	printf(" %7.1f%%", n ? 100.0 * mapped / n : 0.0);
	if (first_map_ms[0] >= 0)
		printf(" %8.1f", first_map_ms[0]);
	else
		printf(" %8s", "never");
	if (sc->reboot_s > 0) {
		if (first_map_ms[1] >= 0)
			printf(" %8.1f", first_map_ms[1]);
		else
			printf(" %8s", "never");
	}
	printf("\n");
	if (got < n * 9 / 10 || wrong_epoch || sc->reboot_s > 0)
		printf("     (%u of %u frames reached the client; %u mapped to the wrong boot)\n",
		       got, n, wrong_epoch);
}

int main(int argc, char **argv)
{
	bool quick = false, busy = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0)
			quick = true;
		else if (strcmp(argv[i], "--busy") == 0)
			busy = true;
		else if (strcmp(argv[i], "--daemon") == 0 && i + 1 < argc)
			daemon_path = argv[++i];
		else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
			only = argv[++i];
		else if (strcmp(argv[i], "--record") == 0 && i + 1 < argc)
			record_dir = argv[++i];
		else {
			fprintf(stderr,
				"usage: bench_clock [--quick] [--busy] [--daemon PATH] [--only "
				"NAME] [--record DIR]\n");
			return 2;
		}
	}
	double dur = quick ? 6.0 : 20.0;
	const struct scenario scs[] = {
		{"a", "0 ppm, no jitter", 0, 0, 0, 0, false, 0},
		{"b", "+50 ppm, 0-200 us turnaround jitter", 50, 200000, 0, 0, false, 0},
		{"c", "-50 ppm, 0-2 ms jitter, 1% 20 ms outliers", -50, 2000000, 0, 1, false, 0},
		{"c'", "as c, delayed after tx stamp (queued)", -50, 0, 2000000, 1, true, 0},
		{"d", "+100 ppm, 0-200 us queued replies", 100, 0, 200000, 0, false, 0},
		{"e", "-100 ppm, 0-200 us queued replies", -100, 0, 200000, 0, false, 0},
		{"r", "+30 ppm, reboot at 8 s, HELLO lost", 30, 100000, 0, 0, false, 8.0},
	};
	signal(SIGPIPE, SIG_IGN);

	pid_t spinners[MAX_SPINNERS];
	unsigned nspin = busy ? busy_start(spinners, MAX_SPINNERS) : 0;
	printf("bench_clock: m7bridged over a pty, fake M7 at %u Hz, %d DATA frames/s, %.0f s per "
	       "scenario%s\n",
	       HZ, FRAME_HZ, dur, quick ? " (--quick: no figures from 10 s on)" : "");
	if (busy)
		printf("--busy: %u spinning process(es) at nice 0 beside it, one per CPU beyond "
		       "the first (%ld online)\n",
		       nspin, sysconf(_SC_NPROCESSORS_ONLN));
	printf("|error| of t_first_mono_ns in us; cover = frames whose |error| <= t_err_ns; "
	       "bound = median t_err_ns from 10 s on, us; mapped = frames with times; first = ms "
	       "from HELLO to the first mapped frame (r: also from the reboot)\n");
	printf("%-4s %-44s %8s %8s %8s %8s %8s %8s %8s %8s %8s %8s\n", "", "scenario", "2-10s p50",
	       "p99", "max", ">=10s p50", "p99", "max", "cover", "bound", "mapped", "first");
	printf("%-4s %-44s %8s %8s %8s %8s %8s %8s %8s %8s %8s %8s\n", "", "target", "", "<=50", "",
	       "", "<=20", "", ">=99%", "", "", "<=50");
	for (unsigned i = 0; i < sizeof scs / sizeof scs[0]; i++) {
		double d = dur;
		if (only && strcmp(only, scs[i].name) != 0)
			continue;
		if (scs[i].reboot_s > 0)
			d = quick ? 12.0 : 24.0;
		run_scenario(&scs[i], d);
		fflush(stdout);
	}
	busy_stop(spinners, nspin);
	return 0;
}
