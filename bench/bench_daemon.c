/* bench_daemon: m7bridged throughput, latency, CPU and memory against a raw producer that
 * writes 64-byte-payload DATA frames into a pty, with the plain pty read loop measured in
 * the same run as the reference. Prints figures next to the targets; never fails on them.
 * Usage: bench_daemon [SECONDS_PER_PHASE] (default 3). */
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

#include "m7bridge/wire.h"

#define PAYLOAD	    64 /* DATA payload: t_first, t_last, 48 captured bytes */
#define MAX_CLIENTS 32

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static char exe_dir[PATH_MAX];

/* ---- producer ---- */

struct producer {
	int master;
	double rate; /* frames/s, 0 = as fast as the pty takes them */
	bool stamp;  /* t_first = CLOCK_MONOTONIC ns at write */
	atomic_bool stop;
	atomic_ulong frames;
	uint32_t seq;
	size_t frame_len;
};

static size_t encode(struct producer *p, uint8_t *buf, uint64_t t)
{
	uint8_t pl[PAYLOAD];
	uint8_t bytes[PAYLOAD - M7B_DATA_HDR];
	memset(bytes, 'A' + (int)(p->seq % 26), sizeof bytes);
	struct m7b_data d = {.t_first = t, .t_last = t, .bytes = bytes, .nbytes = sizeof bytes};
	int n = m7b_wire_pack_data(pl, sizeof pl, &d);
	struct m7b_frame h = {
		.ver = 1, .type = M7B_T_DATA, .port = 1, .seq = p->seq++, .len = (uint16_t)n};
	struct m7b_part part = {pl, (size_t)n};
	int len = m7b_wire_encode(buf, M7B_FRAME_MAX, &h, &part, 1);
	return len > 0 ? (size_t)len : 0;
}

static void write_all(int fd, const uint8_t *b, size_t n)
{
	while (n) {
		ssize_t w = write(fd, b, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		b += w;
		n -= (size_t)w;
	}
}

static void *producer_main(void *arg)
{
	struct producer *p = arg;
	uint8_t buf[M7B_FRAME_MAX];
	prctl(PR_SET_TIMERSLACK, 1UL);
	uint64_t start = now_ns();
	uint64_t i = 0;
	write_all(p->master, (const uint8_t *)"", 1);
	while (!atomic_load_explicit(&p->stop, memory_order_relaxed)) {
		if (p->rate > 0) {
			uint64_t due = start + (uint64_t)((double)i * 1e9 / p->rate);
			struct timespec ts = {(time_t)(due / 1000000000u),
					      (long)(due % 1000000000u)};
			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		}
		size_t n = encode(p, buf, p->stamp ? now_ns() : i);
		p->frame_len = n;
		write_all(p->master, buf, n);
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
	return NULL;
}

static int make_pty(char *slave, size_t cap)
{
	int m, s;
	if (openpty(&m, &s, NULL, NULL, NULL) < 0)
		return -1;
	struct termios t;
	tcgetattr(m, &t);
	cfmakeraw(&t);
	tcsetattr(m, TCSANOW, &t);
	ttyname_r(s, slave, cap);
	close(s);
	fcntl(m, F_SETFD, FD_CLOEXEC);
	return m;
}

/* ---- reference: the plain pty read loop ---- */

static double raw_rate(double seconds, size_t *frame_len)
{
	char slave[64];
	int m = make_pty(slave, sizeof slave);
	int s = open(slave, O_RDWR | O_NOCTTY | O_CLOEXEC);
	struct termios t;
	tcgetattr(s, &t);
	cfmakeraw(&t);
	tcsetattr(s, TCSANOW, &t);
	struct producer p = {.master = m};
	pthread_t th;
	pthread_create(&th, NULL, producer_main, &p);
	static uint8_t buf[65536];
	uint64_t bytes = 0, start = now_ns(), end = start + (uint64_t)(seconds * 1e9);
	while (now_ns() < end) {
		ssize_t n = read(s, buf, sizeof buf);
		if (n > 0)
			bytes += (uint64_t)n;
	}
	uint64_t elapsed = now_ns() - start;
	atomic_store(&p.stop, true);
	/* Keep reading until the producer is out of write(). */
	fcntl(s, F_SETFL, O_NONBLOCK);
	while (pthread_tryjoin_np(th, NULL) != 0)
		(void)!read(s, buf, sizeof buf);
	*frame_len = p.frame_len;
	close(s);
	close(m);
	return (double)bytes / (double)p.frame_len / ((double)elapsed / 1e9);
}

/* ---- the daemon ---- */

struct run {
	char dir[128], sock[200], link[200], conf[200], count[200];
	pid_t pid;
	int master;
};

static int start_daemon(struct run *r)
{
	snprintf(r->dir, sizeof r->dir, "/tmp/m7b-bench-XXXXXX");
	if (!mkdtemp(r->dir))
		return -1;
	snprintf(r->sock, sizeof r->sock, "%s/s.sock", r->dir);
	snprintf(r->link, sizeof r->link, "%s/ttyRPMSG30", r->dir);
	snprintf(r->conf, sizeof r->conf, "%s/m7bridge.conf", r->dir);
	snprintf(r->count, sizeof r->count, "%s/mallocs", r->dir);
	char slave[64];
	r->master = make_pty(slave, sizeof slave);
	if (r->master < 0 || symlink(slave, r->link) < 0)
		return -1;
	FILE *f = fopen(r->conf, "w");
	fprintf(f,
		"[daemon]\nsocket = %s\nlog_level = warning\nmax_clients = 64\n"
		"[channel bench]\ndevice = %s\n",
		r->sock, r->link);
	fclose(f);
	char daemon[PATH_MAX + 32], shim[PATH_MAX + 32];
	snprintf(daemon, sizeof daemon, "%s/../daemon/m7bridged", exe_dir);
	snprintf(shim, sizeof shim, "%s/libm7b_malloc_count.so", exe_dir);
	r->pid = fork();
	if (r->pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		dup2(null, 2); /* the figures are what matters here */
		if (access(shim, R_OK) == 0) {
			setenv("LD_PRELOAD", shim, 1);
			setenv("M7B_MALLOC_COUNT", r->count, 1);
		}
		execl(daemon, "m7bridged", "-f", "-c", r->conf, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct sockaddr_un a = {.sun_family = AF_UNIX};
		memcpy(a.sun_path, r->sock, strlen(r->sock) + 1);
		int ok = connect(fd, (struct sockaddr *)&a, sizeof a);
		close(fd);
		if (ok == 0)
			return 0;
		usleep(10000);
	}
	return -1;
}

static void stop_daemon(struct run *r)
{
	kill(r->pid, SIGTERM);
	waitpid(r->pid, NULL, 0);
	close(r->master);
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", r->dir);
	(void)!system(cmd);
}

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

static long mallocs(struct run *r)
{
	if (kill(r->pid, SIGUSR2) < 0)
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

static int connect_client(struct run *r, const char *watch)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	memcpy(a.sun_path, r->sock, strlen(r->sock) + 1);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0)
		return -1;
	char line[256];
	snprintf(line, sizeof line, "%s\n", watch);
	(void)!write(fd, line, strlen(line));
	/* VERSION, ACK, STATE snapshot (if asked): read until the ACK line. */
	char buf[4096];
	size_t n = 0;
	while (!strstr(buf, "\"ACK\"") && n < sizeof buf - 1) {
		ssize_t k = read(fd, buf + n, sizeof buf - 1 - n);
		if (k <= 0)
			return -1;
		n += (size_t)k;
		buf[n] = '\0';
	}
	return fd;
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
	char partial[MAX_CLIENTS][512]; /* for latency parsing across reads */
	size_t plen[MAX_CLIENTS];
	atomic_bool stop;
};

static void take_latency(struct readers *R, const char *line, uint64_t t)
{
	const char *p = strstr(line, "\"t_first\":");
	if (p && R->nlat < R->caplat) {
		uint64_t sent = strtoull(p + 10, NULL, 10);
		R->lat[R->nlat++] = t - sent;
	}
}

static void *reader_main(void *arg)
{
	struct readers *R = arg;
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
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

struct result {
	double produced_rate, min_rate, avg_rate, cpu_us, allocs_per_frame;
	long hwm_kib;
	uint64_t frames, delivered_min;
};

static int run_phase(int nclients, double seconds, double rate, bool latency, struct result *res,
		     struct readers *R)
{
	struct run r;
	if (start_daemon(&r) < 0) {
		fprintf(stderr, "bench_daemon: cannot start the daemon\n");
		return -1;
	}
	memset(R, 0, sizeof *R);
	R->n = nclients;
	R->latency = latency;
	if (latency) {
		R->caplat = (size_t)(rate * seconds) + 1000;
		R->lat = calloc(R->caplat, sizeof *R->lat);
	}
	for (int i = 0; i < nclients; i++) {
		R->fds[i] = connect_client(&r, "{\"cmd\":\"watch\",\"classes\":[\"FRAME\"]}");
		if (R->fds[i] < 0) {
			fprintf(stderr, "bench_daemon: client %d cannot connect\n", i);
			stop_daemon(&r);
			return -1;
		}
	}
	struct producer p = {.master = r.master, .rate = rate, .stamp = latency};
	pthread_t pt, rt;
	pthread_create(&rt, NULL, reader_main, R);
	double cpu0 = cpu_seconds(r.pid);
	long m0 = mallocs(&r);
	uint64_t start = now_ns();
	pthread_create(&pt, NULL, producer_main, &p);
	usleep((useconds_t)(seconds * 1e6));
	atomic_store(&p.stop, true);
	pthread_join(pt, NULL);
	uint64_t produced_ns = now_ns() - start;
	atomic_store(&R->stop, true);
	pthread_join(rt, NULL);
	double cpu1 = cpu_seconds(r.pid);
	long m1 = mallocs(&r);
	res->frames = atomic_load(&p.frames);
	res->produced_rate = (double)res->frames / ((double)produced_ns / 1e9);
	res->min_rate = 1e18;
	res->avg_rate = 0;
	res->delivered_min = UINT64_MAX;
	for (int i = 0; i < nclients; i++) {
		double span = (double)(R->last_ns[i] - start) / 1e9;
		double rr = span > 0 ? (double)R->lines[i] / span : 0;
		if (rr < res->min_rate)
			res->min_rate = rr;
		res->avg_rate += rr / nclients;
		if (R->lines[i] < res->delivered_min)
			res->delivered_min = R->lines[i];
	}
	res->cpu_us = (cpu1 - cpu0) * 1e6 / (double)res->frames;
	res->allocs_per_frame = m0 >= 0 && m1 >= 0 ? (double)(m1 - m0) / (double)res->frames : -1;
	res->hwm_kib = vm_kib(r.pid, "VmHWM:");
	for (int i = 0; i < nclients; i++)
		close(R->fds[i]);
	stop_daemon(&r);
	return 0;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 3.0;
	if (seconds <= 0)
		seconds = 3.0;
	ssize_t n = readlink("/proc/self/exe", exe_dir, sizeof exe_dir - 1);
	if (n <= 0)
		return 1;
	exe_dir[n] = '\0';
	*strrchr(exe_dir, '/') = '\0';
	signal(SIGPIPE, SIG_IGN);

	printf("bench_daemon: m7bridged fed by a raw producer, %d-byte DATA payloads, one write() "
	       "per frame, %.1f s per phase\n",
	       PAYLOAD, seconds);
	size_t flen = 0;
	double raw = raw_rate(seconds, &flen);
	printf("reference: plain pty read loop          %9.0f frames/s (%zu bytes per frame)\n",
	       raw, flen);

	static struct readers R;
	struct result r1 = {0};
	const int counts[] = {1, 8, 32};
	for (int k = 0; k < 3; k++) {
		struct result res;
		if (run_phase(counts[k], seconds, 0, false, &res, &R) < 0)
			return 1;
		if (k == 0)
			r1 = res;
		printf("%2d client%s: daemon took %9.0f frames/s; delivered per client min %9.0f "
		       "avg "
		       "%9.0f frames/s (%llu of %llu frames to the slowest); CPU %.2f us/frame; "
		       "heap allocations %.4f/frame; peak RSS %ld KiB\n",
		       counts[k], counts[k] == 1 ? " " : "s", res.produced_rate, res.min_rate,
		       res.avg_rate, (unsigned long long)res.delivered_min,
		       (unsigned long long)res.frames, res.cpu_us, res.allocs_per_frame,
		       res.hwm_kib);
		if (k == 1)
			printf("    target: >= 100000 frames/s to each of 8 clients: %s\n",
			       res.min_rate >= 100000 ? "met" : "NOT met");
		if (k == 2)
			printf("    target: RSS <= 16 MiB with 32 clients: %s (%.1f MiB)\n",
			       res.hwm_kib <= 16 * 1024 ? "met" : "NOT met", res.hwm_kib / 1024.0);
	}
	printf("    target: >= 50%% of the raw pty rate to 1 client: %s (%.0f%%)\n",
	       r1.min_rate >= raw / 2 ? "met" : "NOT met", 100.0 * r1.min_rate / raw);

	struct result lr;
	if (run_phase(1, seconds, 10000, true, &lr, &R) < 0)
		return 1;
	if (R.nlat) {
		qsort(R.lat, R.nlat, sizeof *R.lat, cmp_u64);
		double p50 = (double)R.lat[R.nlat / 2] / 1000.0;
		double p99 = (double)R.lat[R.nlat * 99 / 100] / 1000.0;
		double mx = (double)R.lat[R.nlat - 1] / 1000.0;
		printf("latency at 10k frames/s, producer write() to client receipt, %zu frames: "
		       "p50 %.0f us, p99 %.0f us, max %.0f us; CPU %.2f us/frame\n",
		       R.nlat, p50, p99, mx, lr.cpu_us);
		printf("    target: p99 <= 1 ms: %s\n", p99 <= 1000 ? "met" : "NOT met");
	}
	free(R.lat);
	printf("    target: no per-frame heap allocation: %s (%.4f allocations/frame over %llu "
	       "frames to 1 client)\n",
	       r1.allocs_per_frame >= 0 && r1.allocs_per_frame < 0.01 ? "met" : "NOT met",
	       r1.allocs_per_frame, (unsigned long long)r1.frames);
	return 0;
}
