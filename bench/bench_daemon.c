/* bench_daemon: m7bridged throughput, latency, CPU and memory against a raw producer that
 * writes 64-byte-payload DATA frames into a pty, with the plain pty read loop measured in
 * the same run as the reference. Prints figures next to the targets; never fails on them.
 * The raw loop's rate swings with whatever else the machine runs, so each daemon phase is
 * compared with a raw phase run just before it, the pair repeated ROUNDS times, and the
 * median ratio is held against the target.
 * Should the daemon end during a phase, says how and exits 1 (bench_daemon_watch()).
 * Usage: bench_daemon [SECONDS_PER_PHASE [ROUNDS]] (default 2 s, 3 rounds).
 * M7B_BENCH_KILL_DAEMON=SIGNAL: sends the daemon that signal halfway through the first
 * daemon phase, to see the benchmark report its death instead of measuring on. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <pty.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "m7bridge/wire.h"

#define PAYLOAD	    BENCH_PAYLOAD
#define MAX_CLIENTS 32
#define ROUNDS_MAX  15

#define now_ns bench_now_ns

/* CPU time of the calling thread, ns. */
static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- producer ---- */

struct producer {
	int master;
	double rate; /* frames/s, 0 = as fast as the pty takes them */
	bool stamp;  /* t_first = CLOCK_MONOTONIC ns at write */
	atomic_bool stop;
	atomic_ulong frames;
	uint32_t seq;
	size_t frame_len;
	uint64_t cpu_ns; /* the thread's CPU time, once it has ended */
};

static void *producer_main(void *arg)
{
	struct producer *p = arg;
	uint8_t buf[M7B_FRAME_MAX];
	prctl(PR_SET_TIMERSLACK, 1UL);
	uint64_t cpu0 = thread_cpu_ns();
	uint64_t start = now_ns();
	uint64_t i = 0;
	bench_write_all(p->master, "", 1);
	while (!atomic_load_explicit(&p->stop, memory_order_relaxed)) {
		/* Paced: sleep until the frame is due; when behind (a busy machine), catch up
		 * without a syscall per frame. */
		uint64_t due = p->rate > 0 ? start + (uint64_t)((double)i * 1e9 / p->rate) : 0;
		if (due && now_ns() < due) {
			struct timespec ts = {(time_t)(due / 1000000000u),
					      (long)(due % 1000000000u)};
			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		}
		size_t n = bench_encode_data(buf, sizeof buf, p->seq++, p->stamp ? now_ns() : i);
		p->frame_len = n;
		bench_write_all(p->master, buf, n);
		i++;
		atomic_store_explicit(&p->frames, i, memory_order_relaxed);
		if ((i & 1023) == 0) {
			/* Swallow what the daemon writes (HOST_HELLO) so it never blocks. */
			struct pollfd pfd = {p->master, POLLIN, 0};
			char junk[256];
			if (poll(&pfd, 1, 0) > 0)
				(void)!read(p->master, junk, sizeof junk);
		}
	}
	p->cpu_ns = thread_cpu_ns() - cpu0;
	return NULL;
}

/* ---- where the machine's CPU goes ---- */

/* The whole machine's CPU time so far, ns: busy (user, nice, system, irq, softirq) and
 * idle (idle, iowait); steal, the hypervisor's, is neither. */
struct machine_cpu {
	double busy_ns, idle_ns;
};

static void machine_cpu(struct machine_cpu *m)
{
	unsigned long long v[7] = {0};
	FILE *f = fopen("/proc/stat", "r");
	if (f) {
		if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
			   &v[4], &v[5], &v[6]) != 7)
			memset(v, 0, sizeof v);
		fclose(f);
	}
	double tick = 1e9 / (double)sysconf(_SC_CLK_TCK);
	m->busy_ns = (double)(v[0] + v[1] + v[2] + v[5] + v[6]) * tick;
	m->idle_ns = (double)(v[3] + v[4]) * tick;
}

/* CPU time of pid so far (user + system), s, in clock ticks. */
static double cpu_seconds(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	unsigned long ut = 0, st = 0;
	/* fields after ')': state(3) ... utime(14) stime(15) */
	if (p)
		sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st);
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* CPU time of every thread of pid so far, ns (the first field of each thread's
 * schedstat: exact, where the ticks of /proc/PID/stat are 10 ms). */
static double proc_cpu_ns(pid_t pid)
{
	char path[64], file[384];
	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	double sum = 0;
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(file, sizeof file, "%s/%s/schedstat", path, e->d_name);
		FILE *f = fopen(file, "r");
		unsigned long long ns;
		if (f && fscanf(f, "%llu", &ns) == 1)
			sum += (double)ns;
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	/* Kernels without schedstat: the 10 ms ticks of /proc/PID/stat. */
	return sum > 0 ? sum : cpu_seconds(pid) * 1e9;
}

/* What a phase's frames cost the whole machine, us per frame: the producer thread, the
 * reading side (the plain loop, or the daemon's clients), the daemon (all its threads)
 * and the rest (the pty's kernel worker, interrupts, whatever else runs); idle, the
 * share of the machine's time nobody used. */
struct budget {
	double producer, readers, daemon, rest, total, idle;
};

struct budget_mark {
	struct machine_cpu m, stopped; /* at the start, and when the producer stopped */
	double daemon_ns;
	pid_t pid; /* the daemon, or 0 */
};

static void budget_begin(struct budget_mark *b, pid_t pid)
{
	b->pid = pid;
	b->daemon_ns = pid > 0 ? proc_cpu_ns(pid) : 0;
	machine_cpu(&b->m);
	b->stopped = b->m;
}

/* The producer has stopped: the idle share is taken up to here, not over the wait for
 * the clients to fall quiet; the CPU spent is taken to budget_end(). */
static void budget_stopped(struct budget_mark *b)
{
	machine_cpu(&b->stopped);
}

static void budget_end(const struct budget_mark *b, uint64_t frames, uint64_t producer_ns,
		       uint64_t readers_ns, struct budget *out)
{
	struct machine_cpu m;
	machine_cpu(&m);
	double busy = m.busy_ns - b->m.busy_ns;
	double idle = b->stopped.idle_ns - b->m.idle_ns;
	double busy_run = b->stopped.busy_ns - b->m.busy_ns;
	double daemon = b->pid > 0 ? proc_cpu_ns(b->pid) - b->daemon_ns : 0;
	double us = frames ? 1e3 * (double)frames : 1;
	out->producer = (double)producer_ns / us;
	out->readers = (double)readers_ns / us;
	out->daemon = daemon / us;
	out->total = busy / us;
	/* Ticks against exact clocks: a few percent either way, never below nothing. */
	double rest = busy - (double)producer_ns - (double)readers_ns - daemon;
	out->rest = rest > 0 ? rest / us : 0;
	out->idle = busy_run + idle > 0 ? idle / (busy_run + idle) : 0;
}

/* ---- reference: the plain pty read loop ---- */

static double raw_rate(double seconds, size_t *frame_len, struct budget *bud)
{
	char slave[64];
	int m = bench_make_pty(slave, sizeof slave);
	int s = open(slave, O_RDWR | O_NOCTTY | O_CLOEXEC);
	struct termios t;
	tcgetattr(s, &t);
	cfmakeraw(&t);
	tcsetattr(s, TCSANOW, &t);
	struct producer p = {.master = m};
	pthread_t th;
	struct budget_mark mark;
	budget_begin(&mark, 0);
	uint64_t cpu0 = thread_cpu_ns();
	pthread_create(&th, NULL, producer_main, &p);
	static uint8_t buf[65536];
	uint64_t bytes = 0, start = now_ns(), end = start + (uint64_t)(seconds * 1e9);
	while (now_ns() < end) {
		ssize_t n = read(s, buf, sizeof buf);
		if (n > 0)
			bytes += (uint64_t)n;
	}
	uint64_t elapsed = now_ns() - start, timed = bytes;
	atomic_store(&p.stop, true);
	/* Keep reading until the producer is out of write(); the CPU per frame counts
	 * these frames too. */
	fcntl(s, F_SETFL, O_NONBLOCK);
	while (pthread_tryjoin_np(th, NULL) != 0) {
		ssize_t n = read(s, buf, sizeof buf);
		if (n > 0)
			bytes += (uint64_t)n;
	}
	budget_stopped(&mark);
	*frame_len = p.frame_len;
	uint64_t frames = p.frame_len ? bytes / p.frame_len : 0;
	budget_end(&mark, frames, p.cpu_ns, thread_cpu_ns() - cpu0, bud);
	close(s);
	close(m);
	return (double)timed / (double)p.frame_len / ((double)elapsed / 1e9);
}

/* ---- the daemon ---- */

static long vm_kib(pid_t pid, const char *key)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	long v = -1;
	size_t kl = strlen(key);
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, key, kl) == 0)
			v = strtol(line + kl + 1, NULL, 10);
	if (f)
		fclose(f);
	return v;
}

/* Whether pid has a handler for sig (SigCgt in /proc/PID/status). */
static bool catches(pid_t pid, int sig)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	unsigned long long mask = 0;
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, "SigCgt:", 7) == 0)
			mask = strtoull(line + 7, NULL, 16);
	if (f)
		fclose(f);
	return mask >> (sig - 1) & 1;
}

/* The count comes from the preloaded shim's SIGUSR2 handler. Without it (the shim not
 * built, or not loaded) SIGUSR2 would kill the daemon: -1 then, and no signal. */
static long mallocs(struct bench_daemon *r)
{
	if (!catches(r->pid, SIGUSR2) || kill(r->pid, SIGUSR2) < 0)
		return -1;
	usleep(20000);
	FILE *f = fopen(r->count, "r");
	long v = -1;
	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

/* ---- clients ---- */

struct readers {
	int fds[MAX_CLIENTS];
	int n;
	uint64_t lines[MAX_CLIENTS];
	uint64_t last_ns[MAX_CLIENTS];
	bool latency; /* parse t_first of each line */
	uint64_t *lat;
	size_t nlat, caplat;
	uint64_t backwards; /* receipts stamped before their write: a broken clock or bench */
	char partial[MAX_CLIENTS][512]; /* for latency parsing across reads */
	size_t plen[MAX_CLIENTS];
	atomic_bool stop;
	uint64_t cpu_ns; /* the thread's CPU time, once it has ended */
};

/* t is taken after the read() that returned the line, and t_first before the write()
 * that carried the frame, so t >= t_first always; a receipt that seems to precede its
 * write is counted, never folded into the figures. */
static void take_latency(struct readers *R, const char *line, uint64_t t)
{
	const char *p = strstr(line, "\"t_first\":");
	if (p && R->nlat < R->caplat) {
		uint64_t sent = strtoull(p + 10, NULL, 10);
		if (t < sent)
			R->backwards++;
		else
			R->lat[R->nlat++] = t - sent;
	}
}

static void *reader_main(void *arg)
{
	struct readers *R = arg;
	uint64_t cpu0 = thread_cpu_ns();
	int ep = epoll_create1(EPOLL_CLOEXEC);
	for (int i = 0; i < R->n; i++) {
		struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
		epoll_ctl(ep, EPOLL_CTL_ADD, R->fds[i], &ev);
	}
	static char buf[1 << 18];
	uint64_t quiet_since = 0;
	for (;;) {
		struct epoll_event evs[MAX_CLIENTS];
		int n = epoll_wait(ep, evs, MAX_CLIENTS, 50);
		uint64_t t = now_ns();

		if (n <= 0) {
			if (atomic_load(&R->stop)) {
				if (!quiet_since)
					quiet_since = t;
				else if (t - quiet_since > 500000000u)
					break;
			}
			continue;
		}
		quiet_since = 0;
		for (int e = 0; e < n; e++) {
			int i = (int)evs[e].data.u32;
			ssize_t k = read(R->fds[i], buf, sizeof buf);
			if (k <= 0)
				continue;
			/* Stamped after the read: what it returned may have been written after
			 * epoll_wait woke us (stamping before the read made receipts precede
			 * writes). */
			t = now_ns();
			const char *p = buf, *end = buf + k;
			const char *nl;
			while ((nl = memchr(p, '\n', (size_t)(end - p)))) {
				R->lines[i]++;
				if (R->latency) {
					size_t l = (size_t)(nl - p);
					if (R->plen[i] + l < sizeof R->partial[i]) {
						memcpy(R->partial[i] + R->plen[i], p, l);
						R->partial[i][R->plen[i] + l] = '\0';
						take_latency(R, R->partial[i], t);
					}
					R->plen[i] = 0;
				}
				p = nl + 1;
			}
			if (R->latency && p < end) {
				size_t l = (size_t)(end - p);
				if (R->plen[i] + l < sizeof R->partial[i]) {
					memcpy(R->partial[i] + R->plen[i], p, l);
					R->plen[i] += l;
				}
			}
			R->last_ns[i] = t;
		}
	}
	close(ep);
	R->cpu_ns = thread_cpu_ns() - cpu0;
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

struct result {
	double produced_rate, min_rate, avg_rate, allocs_per_frame;
	long hwm_kib;		 /* VmHWM: the peak, shared library pages included */
	long anon_kib, file_kib; /* at the sampled peak of VmRSS: private memory, mapped files */
	uint64_t frames, delivered_min;
	struct budget cpu;
};

/* Sleeps for seconds, sampling the daemon's resident memory every 20 ms: the split at its
 * peak says how much is the daemon's own (anonymous) and how much shared libraries. */
static void sample_rss(pid_t pid, double seconds, struct result *res)
{
	long best = -1;
	for (uint64_t end = now_ns() + (uint64_t)(seconds * 1e9); now_ns() < end;) {
		long rss = vm_kib(pid, "VmRSS:");
		if (rss > best) {
			best = rss;
			res->anon_kib = vm_kib(pid, "RssAnon:");
			res->file_kib = vm_kib(pid, "RssFile:");
		}
		usleep(20000);
	}
}

/* lag: the clients read nothing while frames are produced (their queues fill, then the
 * daemon drops), and everything after. what: the phase, should the daemon die in it.
 * kill_sig: sent to the daemon halfway through (0: none). */
static int run_phase(int nclients, double seconds, double rate, bool latency, bool lag,
		     struct result *res, struct readers *R, const char *what, int kill_sig)
{
	struct bench_daemon r;
	if (bench_daemon_start(&r, NULL, true, 5) < 0 || bench_daemon_watch(&r, what) < 0) {
		fprintf(stderr, "bench_daemon: cannot start the daemon %s\n", what);
		bench_daemon_stop(&r);
		return -1;
	}
	free(R->lat);
	memset(R, 0, sizeof *R);
	R->n = nclients;
	R->latency = latency;
	if (latency) {
		R->caplat = (size_t)(rate * seconds) + 1000;
		R->lat = calloc(R->caplat, sizeof *R->lat);
		if (!R->lat) {
			bench_daemon_stop(&r);
			return -1;
		}
	}
	for (int i = 0; i < nclients; i++) {
		R->fds[i] = bench_connect_client(&r, "{\"cmd\":\"watch\",\"classes\":[\"FRAME\"]}");
		if (R->fds[i] < 0) {
			fprintf(stderr, "bench_daemon: client %d cannot connect\n", i);
			for (int k = 0; k < i; k++)
				close(R->fds[k]);
			bench_daemon_stop(&r);
			return -1;
		}
	}
	struct producer p = {.master = r.master, .rate = rate, .stamp = latency};
	pthread_t pt, rt;
	if (!lag)
		pthread_create(&rt, NULL, reader_main, R);
	long m0 = mallocs(&r);
	struct budget_mark mark;
	budget_begin(&mark, r.pid);
	uint64_t start = now_ns();
	pthread_create(&pt, NULL, producer_main, &p);
	if (kill_sig > 0) {
		sample_rss(r.pid, seconds / 2, res);
		kill(r.pid, kill_sig);
		sample_rss(r.pid, seconds / 2, res);
	} else {
		sample_rss(r.pid, seconds, res);
	}
	atomic_store(&p.stop, true);
	pthread_join(pt, NULL);
	budget_stopped(&mark);
	uint64_t produced_ns = now_ns() - start;
	if (lag)
		pthread_create(&rt, NULL, reader_main, R);
	atomic_store(&R->stop, true);
	pthread_join(rt, NULL);
	budget_end(&mark, atomic_load(&p.frames), p.cpu_ns, R->cpu_ns, &res->cpu);
	long m1 = mallocs(&r);
	res->frames = atomic_load(&p.frames);
	res->produced_rate = (double)res->frames / ((double)produced_ns / 1e9);
	res->min_rate = 1e18;
	res->avg_rate = 0;
	res->delivered_min = UINT64_MAX;
	for (int i = 0; i < nclients; i++) {
		double span = R->last_ns[i] > start ? (double)(R->last_ns[i] - start) / 1e9 : 0;
		double rr = span > 0 ? (double)R->lines[i] / span : 0;
		if (rr < res->min_rate)
			res->min_rate = rr;
		res->avg_rate += rr / nclients;
		if (R->lines[i] < res->delivered_min)
			res->delivered_min = R->lines[i];
	}
	res->allocs_per_frame =
		m0 >= 0 && m1 >= 0 && res->frames ? (double)(m1 - m0) / (double)res->frames : -1;
	res->hwm_kib = vm_kib(r.pid, "VmHWM:");
	for (int i = 0; i < nclients; i++)
		close(R->fds[i]);
	return bench_daemon_stop(&r);
}

static const char *met(bool ok)
{
	return ok ? "met" : "NOT met";
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* The median of n values (sorts them). */
static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Value at quantile q of n sorted samples, in microseconds. */
static double quantile_us(const uint64_t *v, size_t n, double q)
{
	size_t i = (size_t)(q * (double)n);
	if (i >= n)
		i = n - 1;
	return (double)v[i] / 1000.0;
}

/* The median of each member over n budgets. */
static struct budget budget_median(const struct budget *b, int n)
{
	double v[ROUNDS_MAX];
	struct budget m;
#define MEDIAN_OF(f)                                                                               \
	do {                                                                                       \
		for (int i = 0; i < n; i++)                                                        \
			v[i] = b[i].f;                                                             \
		m.f = median(v, n);                                                                \
	} while (0)
	MEDIAN_OF(producer);
	MEDIAN_OF(readers);
	MEDIAN_OF(daemon);
	MEDIAN_OF(rest);
	MEDIAN_OF(total);
	MEDIAN_OF(idle);
#undef MEDIAN_OF
	return m;
}

static void print_budget_row(const char *what, const struct budget *b, bool daemon)
{
	char d[16] = "-";
	if (daemon)
		snprintf(d, sizeof d, "%.2f", b->daemon);
	printf("%-18s %9.2f %9.2f %9s %9.2f %9.2f %6.0f%%\n", what, b->producer, b->readers, d,
	       b->rest, b->total, 100 * b->idle);
}

/* Where each phase's CPU went, each daemon phase beside the raw phase before it; and,
 * for each target, what CPU alone predicts and what share of a frame's CPU the daemon
 * may take for the target to be met with everything else as it was. When the machine is
 * the limit, frames/s = busy CPU / CPU per frame. */
static void print_budgets(struct budget rawb[3][ROUNDS_MAX], struct budget db[3][ROUNDS_MAX],
			  const int *counts, const double *share, int rounds)
{
	struct budget r[3], d[3];
	printf("where the CPU goes, us per frame over the whole machine (medians); readers: the "
	       "plain loop or the daemon's clients; rest: the pty's kernel worker, interrupts, "
	       "anything else; idle: the machine's unused share while producing\n");
	printf("%-18s %9s %9s %9s %9s %9s %7s\n", "phase", "producer", "readers", "daemon", "rest",
	       "total", "idle");
	for (int k = 0; k < 3; k++) {
		char what[32];
		r[k] = budget_median(rawb[k], rounds);
		d[k] = budget_median(db[k], rounds);
		snprintf(what, sizeof what, "raw before %d", counts[k]);
		print_budget_row(what, &r[k], false);
		snprintf(what, sizeof what, "%d client%s", counts[k], counts[k] > 1 ? "s" : "");
		print_budget_row(what, &d[k], true);
	}
	for (int k = 1; k < 3; k++) {
		if (d[k].total <= 0 || r[k].idle >= 1)
			continue;
		double busy = (1 - d[k].idle) / (1 - r[k].idle);
		double predicted = 100 * r[k].total / d[k].total * busy;
		double need = r[k].total * busy / share[k];
		double left = need - (d[k].producer + d[k].readers + d[k].rest);
		printf("    %d clients: CPU alone predicts %.0f%% of raw (%.2f us a frame against "
		       "%.2f, the machine busy %.0f%% against %.0f%%); %.0f%% needs <= %.2f us a "
		       "frame, which leaves the daemon <= %.2f us (it took %.2f; the plain loop's "
		       "reading took %.2f)\n",
		       counts[k], predicted, d[k].total, r[k].total, 100 * (1 - d[k].idle),
		       100 * (1 - r[k].idle), share[k] * 100, need, left, d[k].daemon,
		       r[k].readers);
	}
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 2.0;
	if (seconds <= 0)
		seconds = 2.0;
	int rounds = argc > 2 ? atoi(argv[2]) : 3;
	if (rounds < 1 || rounds > ROUNDS_MAX)
		rounds = 3;
	if (!bench_exe_dir())
		return 1;
	signal(SIGPIPE, SIG_IGN);
	const char *kill_env = getenv("M7B_BENCH_KILL_DAEMON");
	int kill_sig = kill_env ? atoi(kill_env) : 0;
	char what[96];

	printf("bench_daemon: m7bridged fed by a raw producer, %d-byte DATA payloads, one write() "
	       "per frame, %.1f s per phase, %d rounds\n",
	       PAYLOAD, seconds, rounds);
	printf("throughput: each daemon phase right after a phase of the plain pty read loop (the "
	       "reference); of raw = slowest client / that raw phase\n");
	printf("%-6s %-8s %12s %12s %12s %12s %7s %9s %10s %11s\n", "round", "clients", "raw fr/s",
	       "daemon fr/s", "min/client", "avg/client", "of raw", "CPU us/fr", "RSS KiB",
	       "allocs/fr");

	static struct readers R;
	struct result r1 = {0};
	const int counts[] = {1, 8, 32};
	const double share[] = {0, 0.85, 0.60};
	double pct[3][ROUNDS_MAX] = {{0}}, raws[3][ROUNDS_MAX] = {{0}}, mins[3][ROUNDS_MAX] = {{0}};
	long rss[3] = {0};
	struct budget rawb[3][ROUNDS_MAX], db[3][ROUNDS_MAX];
	for (int round = 0; round < rounds; round++) {
		for (int k = 0; k < 3; k++) {
			struct result res = {0};
			size_t flen = 0;
			double raw = raw_rate(seconds, &flen, &rawb[k][round]);
			snprintf(what, sizeof what, "in round %d with %d client%s", round + 1,
				 counts[k], counts[k] > 1 ? "s" : "");
			if (run_phase(counts[k], seconds, 0, false, false, &res, &R, what,
				      round == 0 && k == 0 ? kill_sig : 0) < 0)
				return 1;
			if (k == 0 && round == 0)
				r1 = res;
			raws[k][round] = raw;
			mins[k][round] = res.min_rate;
			db[k][round] = res.cpu;
			pct[k][round] = raw > 0 ? 100.0 * res.min_rate / raw : 0;
			if (res.hwm_kib > rss[k])
				rss[k] = res.hwm_kib;
			printf("%-6d %-8d %12.0f %12.0f %12.0f %12.0f %6.0f%% %9.2f %10ld %11.4f\n",
			       round + 1, counts[k], raw, res.produced_rate, res.min_rate,
			       res.avg_rate, pct[k][round], res.cpu.daemon, res.hwm_kib,
			       res.allocs_per_frame);
			if (res.delivered_min < res.frames)
				printf("    (the slowest client got %llu of %llu frames)\n",
				       (unsigned long long)res.delivered_min,
				       (unsigned long long)res.frames);
		}
	}
	printf("medians over %d rounds:\n", rounds);
	printf("%-8s %12s %12s %7s %7s %7s %10s\n", "clients", "raw fr/s", "min/client", "of raw",
	       "worst", "best", "peak RSS");
	double med[3];
	for (int k = 0; k < 3; k++) {
		double worst = pct[k][0], best = pct[k][0];
		for (int i = 1; i < rounds; i++) {
			worst = pct[k][i] < worst ? pct[k][i] : worst;
			best = pct[k][i] > best ? pct[k][i] : best;
		}
		double raw = median(raws[k], rounds), mn = median(mins[k], rounds);
		med[k] = median(pct[k], rounds);
		printf("%-8d %12.0f %12.0f %6.0f%% %6.0f%% %6.0f%% %7ld KiB\n", counts[k], raw, mn,
		       med[k], worst, best, rss[k]);
	}
	for (int k = 1; k < 3; k++)
		printf("    target: each of %d clients >= %.0f%% of the raw loop: %s (median "
		       "%.0f%%)\n",
		       counts[k], share[k] * 100, met(med[k] >= share[k] * 100), med[k]);
	print_budgets(rawb, db, counts, share, rounds);

	/* Clients that read nothing while the producer runs: every queue fills to its limit,
	 * then the daemon drops; the memory they hold is the daemon's peak. */
	struct result lagr = {0};
	if (run_phase(32, seconds, 0, false, true, &lagr, &R, "with 32 clients lagging", 0) < 0)
		return 1;
	long rss32 = rss[2] > lagr.hwm_kib ? rss[2] : lagr.hwm_kib;
	printf("32 clients lagging (reading nothing for %.1f s, %llu frames): peak RSS %ld KiB "
	       "(at the sampled peak: %ld KiB private, %ld KiB mapped files)\n",
	       seconds, (unsigned long long)lagr.frames, lagr.hwm_kib, lagr.anon_kib,
	       lagr.file_kib);
	printf("    target: peak RSS <= 8 MiB with 32 clients, keeping up or lagging: %s (%.1f "
	       "MiB)\n",
	       met(rss32 > 0 && rss32 <= 8 * 1024), (double)rss32 / 1024.0);
	if (r1.allocs_per_frame < 0)
		printf("    target: no per-frame heap allocation: not measured (the daemon had no "
		       "malloc counter: is libm7b_malloc_count.so built?)\n");
	else
		printf("    target: no per-frame heap allocation: %s (%.4f allocations/frame over "
		       "%llu frames to 1 client)\n",
		       met(r1.allocs_per_frame < 0.01), r1.allocs_per_frame,
		       (unsigned long long)r1.frames);

	printf("latency, producer write() to client receipt (read() returned), 1 client:\n");
	printf("%-10s %9s %8s %9s %9s %9s %9s %10s %10s\n", "rate fr/s", "sent fr/s", "frames",
	       "p50 us", "p99 us", "p99.9 us", "max us", "backwards", "CPU us/fr");
	const double rates[] = {1000, 10000, 50000};
	double p99_10k = -1;
	uint64_t backwards = 0;
	for (int k = 0; k < 3; k++) {
		struct result lr = {0};
		snprintf(what, sizeof what, "measuring latency at %.0f frames/s", rates[k]);
		if (run_phase(1, seconds, rates[k], true, false, &lr, &R, what, 0) < 0)
			return 1;
		backwards += R.backwards;
		if (!R.nlat) {
			printf("%-10.0f %8s (no frame came back)\n", rates[k], "0");
			continue;
		}
		qsort(R.lat, R.nlat, sizeof *R.lat, cmp_u64);
		double p99 = quantile_us(R.lat, R.nlat, 0.99);
		if (k == 1)
			p99_10k = p99;
		printf("%-10.0f %9.0f %8zu %9.0f %9.0f %9.0f %9.0f %10llu %10.2f\n", rates[k],
		       lr.produced_rate, R.nlat, quantile_us(R.lat, R.nlat, 0.50), p99,
		       quantile_us(R.lat, R.nlat, 0.999), (double)R.lat[R.nlat - 1] / 1000.0,
		       (unsigned long long)R.backwards, lr.cpu.daemon);
	}
	free(R.lat);
	R.lat = NULL;
	printf("    check: no receipt before its write: %s (%llu)\n",
	       backwards ? "FAILED, latency figures unusable" : "ok",
	       (unsigned long long)backwards);
	printf("    target: p99 <= 1 ms at 10k frames/s: %s\n",
	       met(p99_10k >= 0 && p99_10k <= 1000));
	printf("instructions per frame (<= 1200 with 1 client, <= 400 per additional client): "
	       "bench/callgrind-frame.sh\n");
	return 0;
}
