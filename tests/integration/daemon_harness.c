/* Test harness for m7bridged integration tests: fake M7 on a pty, daemon process, clients. */
#include "daemon_harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

bool h_sun(struct sockaddr_un *a, const char *path)
{
	memset(a, 0, sizeof *a);
	a->sun_family = AF_UNIX;
	size_t n = strlen(path);
	if (n >= sizeof a->sun_path)
		return false;
	memcpy(a->sun_path, path, n + 1);
	return true;
}

uint64_t h_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- fake M7 ---- */

static int write_locked(struct fake_m7 *m, const void *buf, size_t n)
{
	const uint8_t *p = buf;
	uint64_t end = h_now_ms() + H_TIMEOUT_MS;
	while (n) {
		ssize_t w = write(m->master, p, n);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if (h_now_ms() > end)
			return -ETIMEDOUT;
		struct pollfd pfd = {m->master, POLLOUT, 0};
		poll(&pfd, 1, 100);
	}
	return 0;
}

static int frame_locked(struct fake_m7 *m, uint8_t type, uint8_t port, uint8_t flags,
			const void *payload, size_t len)
{
	uint8_t buf[M7B_FRAME_MAX];
	struct m7b_frame h = {.ver = 1,
			      .type = type,
			      .port = port,
			      .flags = flags,
			      .seq = m->seq++,
			      .len = (uint16_t)len};
	struct m7b_part part = {payload, len};
	int n = m7b_wire_encode(buf, sizeof buf, &h, &part, len ? 1 : 0);
	if (n < 0)
		return n;
	return write_locked(m, buf, (size_t)n);
}

uint32_t fake_m7_seq(struct fake_m7 *m)
{
	pthread_mutex_lock(&m->mu);
	uint32_t seq = m->seq;
	pthread_mutex_unlock(&m->mu);
	return seq;
}

uint64_t fake_m7_ticks(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) / 125u;
}

static void *fake_thread(void *arg)
{
	struct fake_m7 *m = arg;
	struct m7b_decoder dec;
	m7b_decoder_init(&dec);
	uint8_t rx[4096];
	for (;;) {
		pthread_mutex_lock(&m->mu);
		bool stop = m->stop;
		pthread_mutex_unlock(&m->mu);
		if (stop)
			break;
		struct pollfd pfd = {m->master, POLLIN, 0};
		if (poll(&pfd, 1, 20) <= 0)
			continue;
		ssize_t n = read(m->master, rx, sizeof rx);
		if (n <= 0) {
			/* EIO: nobody has the slave open (yet); the daemon comes back. */
			usleep(5000);
			continue;
		}
		const uint8_t *pos = rx, *end = rx + n;
		struct m7b_frame f;
		while (m7b_decoder_next(&dec, &pos, end, &f) == 1) {
			pthread_mutex_lock(&m->mu);
			if (m->hung) {
				/* Read and ignored: a hung M7's receive buffers still fill. */
			} else if (f.type == M7B_T_PING) {
				uint8_t pl[64];
				struct m7b_heartbeat hb = {.now_ticks = h_now_ms() * 8000};
				int len = m7b_wire_pack_heartbeat(pl, sizeof pl, &hb);
				if (len > 0)
					(void)frame_locked(m, M7B_T_HEARTBEAT, 0, 0, pl,
							   (size_t)len);
				m->pings++;
			} else if (f.type == M7B_T_SYNC) {
				/* Ticks at 8 MHz from CLOCK_MONOTONIC: the mapping is known. */
				struct m7b_sync sy;
				if (m7b_wire_unpack_sync(&f, &sy) == 0) {
					uint64_t ticks = fake_m7_ticks();
					struct m7b_sync_reply rep = {.host_time = sy.host_time,
								     .rx_ticks = ticks,
								     .tx_ticks = ticks};
					uint8_t pl[32];
					int len = m7b_wire_pack_sync_reply(pl, sizeof pl, &rep);
					if (len > 0)
						(void)frame_locked(m, M7B_T_SYNC_REPLY, 0, 0, pl,
								   (size_t)len);
				}
			} else if (m->q_len < FAKE_QUEUE) {
				struct fake_frame *q = &m->q[(m->q_head + m->q_len++) % FAKE_QUEUE];
				q->f = f;
				memcpy(q->payload, f.payload, f.len);
				q->f.payload = q->payload;
				pthread_cond_broadcast(&m->cv);
			}
			pthread_mutex_unlock(&m->mu);
		}
	}
	return NULL;
}

int fake_m7_open(struct fake_m7 *m, const char *link)
{
	int master, slave;
	if (openpty(&master, &slave, NULL, NULL, NULL) < 0)
		return -errno;
	/* Raw on the master applies to the slave: no echo, no CR/LF games. */
	struct termios t;
	if (tcgetattr(master, &t) == 0) {
		cfmakeraw(&t);
		tcsetattr(master, TCSANOW, &t);
	}
	char name[64];
	if (ttyname_r(slave, name, sizeof name) != 0) {
		close(master);
		close(slave);
		return -EIO;
	}
	close(slave);
	fcntl(master, F_SETFD, FD_CLOEXEC);
	memset(m, 0, sizeof *m);
	m->master = master;
	snprintf(m->slave, sizeof m->slave, "%s", name);
	snprintf(m->link, sizeof m->link, "%s", link);
	char tmp[300];
	snprintf(tmp, sizeof tmp, "%s.tmp", link);
	unlink(tmp);
	if (symlink(name, tmp) < 0 || rename(tmp, link) < 0) {
		int e = errno;
		close(master);
		m->master = -1;
		return -e;
	}
	pthread_mutex_init(&m->mu, NULL);
	pthread_cond_init(&m->cv, NULL);
	if (pthread_create(&m->thread, NULL, fake_thread, m) != 0) {
		close(master);
		m->master = -1;
		return -EAGAIN;
	}
	m->running = true;
	return 0;
}

void fake_m7_close(struct fake_m7 *m)
{
	if (m->running) {
		pthread_mutex_lock(&m->mu);
		m->stop = true;
		pthread_mutex_unlock(&m->mu);
		pthread_join(m->thread, NULL);
		m->running = false;
		pthread_cond_destroy(&m->cv);
		pthread_mutex_destroy(&m->mu);
	}
	if (m->master >= 0)
		close(m->master);
	m->master = -1;
}

void fake_m7_hang(struct fake_m7 *m, bool hung)
{
	pthread_mutex_lock(&m->mu);
	m->hung = hung;
	pthread_mutex_unlock(&m->mu);
}

int fake_m7_write(struct fake_m7 *m, const void *buf, size_t n)
{
	pthread_mutex_lock(&m->mu);
	int r = write_locked(m, buf, n);
	pthread_mutex_unlock(&m->mu);
	return r;
}

int fake_m7_frame(struct fake_m7 *m, uint8_t type, uint8_t port, uint8_t flags, const void *payload,
		  size_t len)
{
	pthread_mutex_lock(&m->mu);
	int r = frame_locked(m, type, port, flags, payload, len);
	pthread_mutex_unlock(&m->mu);
	return r;
}

int fake_m7_hello(struct fake_m7 *m, uint32_t boot_id, uint16_t credits, const char *name)
{
	uint8_t p[M7B_PAYLOAD_MAX];
	struct m7b_hello h = {.tick_hz = 8000000,
			      .boot_id = boot_id,
			      .now_ticks = 123456789,
			      .max_payload = 478,
			      .host_credits = credits,
			      .name = name,
			      .name_len = strlen(name)};
	int n = m7b_wire_pack_hello(p, sizeof p, &h);
	if (n < 0)
		return n;
	pthread_mutex_lock(&m->mu);
	m->seq = 0;
	/* A sender emits one 0x00 before its first frame after it starts. */
	int r = write_locked(m, "", 1);
	if (r == 0)
		r = frame_locked(m, M7B_T_HELLO, 0, 0, p, (size_t)n);
	pthread_mutex_unlock(&m->mu);
	return r;
}

int fake_m7_data(struct fake_m7 *m, uint8_t port, uint8_t flags, uint64_t t_first, uint64_t t_last,
		 const void *bytes, size_t n)
{
	uint8_t p[M7B_PAYLOAD_MAX];
	struct m7b_data d = {.t_first = t_first, .t_last = t_last, .bytes = bytes, .nbytes = n};
	int len = m7b_wire_pack_data(p, sizeof p, &d);
	if (len < 0)
		return len;
	return fake_m7_frame(m, M7B_T_DATA, port, flags, p, (size_t)len);
}

int fake_m7_log(struct fake_m7 *m, uint8_t level, const char *text)
{
	uint8_t p[M7B_PAYLOAD_MAX];
	struct m7b_log l = {.level = level, .text = text, .text_len = strlen(text)};
	int len = m7b_wire_pack_log(p, sizeof p, &l);
	if (len < 0)
		return len;
	return fake_m7_frame(m, M7B_T_LOG, 0, 0, p, (size_t)len);
}

int fake_m7_ack(struct fake_m7 *m, uint32_t acked_seq, uint8_t type, uint8_t status,
		uint16_t credits)
{
	uint8_t p[16];
	struct m7b_ack a = {
		.acked_seq = acked_seq, .acked_type = type, .status = status, .credits = credits};
	int len = m7b_wire_pack_ack(p, sizeof p, &a);
	if (len < 0)
		return len;
	return fake_m7_frame(m, M7B_T_ACK, 0, 0, p, (size_t)len);
}

int fake_m7_next(struct fake_m7 *m, struct m7b_frame *f, uint8_t *buf, size_t cap, int timeout_ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&m->mu);
	while (m->q_len == 0)
		if (pthread_cond_timedwait(&m->cv, &m->mu, &ts) == ETIMEDOUT)
			break;
	int r = 0;
	if (m->q_len) {
		struct fake_frame *q = &m->q[m->q_head];
		m->q_head = (m->q_head + 1) % FAKE_QUEUE;
		m->q_len--;
		*f = q->f;
		size_t n = f->len < cap ? f->len : cap;
		if (n)
			memcpy(buf, q->payload, n);
		f->payload = buf;
		r = 1;
	}
	pthread_mutex_unlock(&m->mu);
	return r;
}

int fake_m7_handshake(struct fake_m7 *m, uint32_t boot_id, uint16_t credits)
{
	struct m7b_frame f;
	uint8_t buf[M7B_PAYLOAD_MAX];
	uint64_t end = h_now_ms() + H_TIMEOUT_MS;
	while (h_now_ms() < end) {
		int r = fake_m7_next(m, &f, buf, sizeof buf, 500);
		if (r < 0)
			return r;
		if (r == 1 && f.type == M7B_T_HOST_HELLO)
			return fake_m7_hello(m, boot_id, credits, "fake-m7 1.0");
	}
	return -ETIMEDOUT;
}

/* ---- daemon process ---- */

int h_tmpdir(struct daemon_proc *p)
{
	memset(p, 0, sizeof *p);
	const char *t = getenv("TMPDIR");
	if (!t || !t[0] || strlen(t) > 150)
		t = "/tmp";
	snprintf(p->dir, sizeof p->dir, "%.150s/m7bd-XXXXXX", t);
	if (!mkdtemp(p->dir))
		return -errno;
	snprintf(p->sock, sizeof p->sock, "%s/m7bridge.sock", p->dir);
	snprintf(p->conf, sizeof p->conf, "%s/m7bridge.conf", p->dir);
	snprintf(p->log, sizeof p->log, "%s/daemon.log", p->dir);
	return 0;
}

const char *h_daemon_path(void)
{
	static char path[PATH_MAX];
	const char *root = getenv("M7B_BUILD_ROOT");
	snprintf(path, sizeof path, "%s/daemon/m7bridged", root ? root : ".");
	return path;
}

const char *h_sim_path(void)
{
	static char path[512];
	const char *root = getenv("M7B_BUILD_ROOT");

	snprintf(path, sizeof(path), "%s/firmware/m7sim", root ? root : ".");
	return path;
}

int h_put_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	int r = 0;

	if (!f)
		return -errno;
	if (fputs(text, f) < 0)
		r = -EIO;
	if (fclose(f) != 0 && r == 0)
		r = -errno;
	return r;
}

void h_slurp_file(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	size_t n;

	buf[0] = '\0';
	if (!f)
		return;
	n = fread(buf, 1, cap - 1, f);
	buf[n] = '\0';
	fclose(f);
}

int h_fake_rproc_tree(const char *dir, const char *fw, const char *const *extra)
{
	static const char *const dirs[] = {"sys",
					   "sys/class",
					   "sys/class/remoteproc",
					   "sys/class/remoteproc/remoteproc0",
					   "sys/devices",
					   "sys/devices/imx8mp-cm7"};
	static const char *const files[][2] = {{"name", "imx-rproc\n"}, {"state", "running\n"}};
	char path[512];
	int r = 0;

	for (size_t i = 0; r == 0 && i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, dirs[i]);
		r = mkdir(path, 0755) < 0 ? -errno : 0;
	}
	for (size_t i = 0; r == 0 && extra && extra[i]; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, extra[i]);
		r = mkdir(path, 0755) < 0 ? -errno : 0;
	}
	for (size_t i = 0; r == 0 && i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/sys/class/remoteproc/remoteproc0/%s", dir,
			 files[i][0]);
		r = h_put_file(path, files[i][1]);
	}
	snprintf(path, sizeof(path), "%s/sys/class/remoteproc/remoteproc0/firmware", dir);
	if (r == 0)
		r = h_put_file(path, fw);
	snprintf(path, sizeof(path), "%s/sys/class/remoteproc/remoteproc0/device", dir);
	if (r == 0 && symlink("../../../devices/imx8mp-cm7", path) < 0)
		r = -errno;
	return r;
}

void h_reap(pid_t *pid)
{
	if (*pid <= 0)
		return;
	kill(*pid, SIGTERM);
	for (int i = 0; i < 200 && waitpid(*pid, NULL, WNOHANG) == 0; i++)
		usleep(10000);
	if (waitpid(*pid, NULL, WNOHANG) == 0) {
		kill(*pid, SIGKILL);
		waitpid(*pid, NULL, 0);
	}
	*pid = 0;
}

int daemon_proc_write_conf(struct daemon_proc *p, const char *conf_extra)
{
	char tmp[300];
	snprintf(tmp, sizeof tmp, "%s.new", p->conf);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return -errno;
	/* Hermetic unless the test says otherwise: never the host's kernel log or its
	 * remoteproc sysfs (the config rejects a key given twice). */
	const char *extra = conf_extra ? conf_extra : "";
	fprintf(f, "[daemon]\nsocket = %s\nlog_level = debug\n", p->sock);
	if (!strstr(extra, "kernel_log"))
		fprintf(f, "kernel_log = off\n");
	if (!strstr(extra, "sysfs_root"))
		fprintf(f, "sysfs_root = %s\n", p->dir);
	fprintf(f, "%s", extra);
	if (fclose(f) != 0)
		return -errno;
	return rename(tmp, p->conf) < 0 ? -errno : 0;
}

static bool can_connect(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un a;
	if (!h_sun(&a, path)) {
		close(fd);
		return false;
	}
	bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
	close(fd);
	return ok;
}

/* Daemons started and not yet stopped, so a failed test leaves none behind. */
static pid_t live[64];

static void track(pid_t pid, bool add)
{
	for (size_t i = 0; i < sizeof live / sizeof live[0]; i++) {
		if (add && live[i] == 0) {
			live[i] = pid;
			return;
		}
		if (!add && live[i] == pid) {
			live[i] = 0;
			return;
		}
	}
}

void h_kill_all(void)
{
	for (size_t i = 0; i < sizeof live / sizeof live[0]; i++) {
		if (live[i] > 0) {
			kill(live[i], SIGKILL);
			waitpid(live[i], NULL, 0);
			live[i] = 0;
		}
	}
}

int daemon_proc_start(struct daemon_proc *p, const char *conf_extra)
{
	int r = daemon_proc_write_conf(p, conf_extra);
	if (r < 0)
		return r;
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int fd = open(p->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 2);
			close(fd);
		}
		execl(h_daemon_path(), "m7bridged", "-f", "-c", p->conf, (char *)NULL);
		_exit(127);
	}
	p->pid = pid;
	track(pid, true);
	uint64_t end = h_now_ms() + H_TIMEOUT_MS;
	/* Started once it says it runs: its socket listens before the rest is set up (the
	 * kernel log watch, which takes what its FIFO holds then as from before the start). */
	static char log[1 << 18];
	bool listening = false; /* one probe connection only: tests count the daemon's clients */
	while (h_now_ms() < end) {
		if (listening || can_connect(p->sock)) {
			listening = true;
			h_slurp_file(p->log, log, sizeof log);
			if (strstr(log, " running: "))
				return 0;
		}
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			track(pid, false);
			p->pid = 0;
			return -ECHILD;
		}
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	track(pid, false);
	p->pid = 0;
	return -ETIMEDOUT;
}

int daemon_proc_stop(struct daemon_proc *p)
{
	if (p->pid <= 0)
		return -1;
	track(p->pid, false);
	kill(p->pid, SIGTERM);
	uint64_t end = h_now_ms() + H_TIMEOUT_MS;
	int st;
	while (h_now_ms() < end) {
		pid_t w = waitpid(p->pid, &st, WNOHANG);
		if (w == p->pid) {
			p->pid = 0;
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		}
		usleep(10000);
	}
	kill(p->pid, SIGKILL);
	waitpid(p->pid, &st, 0);
	p->pid = 0;
	return -1;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

pid_t h_spawn(const char *const argv[], int in_fd, const char *out_path)
{
	pid_t pid = fork();

	if (pid == 0) {
		int out = open(out_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (in_fd >= 0)
			dup2(in_fd, 0);
		if (out >= 0) {
			dup2(out, 1);
			dup2(out, 2);
		}
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	return pid;
}

void h_show_log_if(const struct daemon_proc *p, int status)
{
	if (status == 0)
		return;
	/* What the daemon said (ASan reports land there too). */
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof cmd, "cat '%s' >&2", p->log);
	(void)!system(cmd);
}

void h_cleanup(struct daemon_proc *p)
{
	if (p->pid > 0)
		daemon_proc_stop(p);
	if (getenv("M7B_KEEP_TMP")) {
		fprintf(stderr, "kept %s\n", p->dir);
		return;
	}
	if (p->dir[0])
		nftw(p->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Runs the daemon with args; what it writes to fd `keep` lands in buf, the other of
 * stdout/stderr goes to /dev/null. */
static int run_capture(int keep, char *err, size_t cap, const char *const *args)
{
	int pfd[2];
	if (pipe(pfd) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(pfd[1], keep);
		int devnull = open("/dev/null", O_WRONLY);
		if (devnull >= 0)
			dup2(devnull, keep == 2 ? 1 : 2);
		close(pfd[0]);
		close(pfd[1]);
		execv(h_daemon_path(), (char *const *)args);
		_exit(127);
	}
	close(pfd[1]);
	size_t n = 0;
	ssize_t r;
	while ((r = read(pfd[0], err + n, cap - 1 - n)) > 0 && n + (size_t)r < cap - 1)
		n += (size_t)r;
	if (r > 0)
		n += (size_t)r;
	err[n] = '\0';
	close(pfd[0]);
	int st;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int h_run(char *err, size_t cap, const char *const *args)
{
	return run_capture(2, err, cap, args);
}

int h_run_stdout(char *out, size_t cap, const char *const *args)
{
	return run_capture(1, out, cap, args);
}

long h_rss_kib(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	long kib = -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* ---- clients ---- */

int tclient_connect(struct tclient *c, const char *path)
{
	memset(c, 0, sizeof *c);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	struct sockaddr_un a;
	if (!h_sun(&a, path)) {
		close(c->fd);
		return -ENAMETOOLONG;
	}
	if (connect(c->fd, (struct sockaddr *)&a, sizeof a) < 0) {
		int e = errno;
		close(c->fd);
		c->fd = -1;
		return -e;
	}
	c->cap = 1 << 20;
	c->buf = malloc(c->cap);
	return c->buf ? 0 : -ENOMEM;
}

void tclient_close(struct tclient *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
}

int tclient_send_raw(struct tclient *c, const void *buf, size_t n)
{
	const char *p = buf;
	while (n) {
		ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int tclient_send(struct tclient *c, const char *line)
{
	int r = tclient_send_raw(c, line, strlen(line));
	return r < 0 ? r : tclient_send_raw(c, "\n", 1);
}

const char *tclient_line(struct tclient *c, int timeout_ms, bool *eof)
{
	if (eof)
		*eof = false;
	if (c->consumed) {
		memmove(c->buf, c->buf + c->consumed, c->len - c->consumed);
		c->len -= c->consumed;
		c->consumed = 0;
	}
	uint64_t end = h_now_ms() + (uint64_t)timeout_ms;
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);
		if (nl) {
			*nl = '\0';
			c->consumed = (size_t)(nl - c->buf) + 1;
			return c->buf;
		}
		uint64_t now = h_now_ms();
		if (c->len + 1 >= c->cap)
			return NULL;
		/* Always look at the socket once, even with no time left. */
		struct pollfd pfd = {c->fd, POLLIN, 0};
		int pr = poll(&pfd, 1, now >= end ? 0 : (int)(end - now));
		if (pr <= 0) {
			if (h_now_ms() >= end)
				return NULL;
			continue;
		}
		ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len - 1, 0);
		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			if (eof)
				*eof = true;
			return NULL;
		}
		c->len += (size_t)n;
	}
}

cJSON *tclient_obj(struct tclient *c, int timeout_ms)
{
	const char *l = tclient_line(c, timeout_ms, NULL);
	return l ? cJSON_Parse(l) : NULL;
}

cJSON *tclient_wait(struct tclient *c, const char *cls, int timeout_ms)
{
	return tclient_wait_str(c, cls, NULL, NULL, timeout_ms);
}

cJSON *tclient_wait_str(struct tclient *c, const char *cls, const char *key, const char *val,
			int timeout_ms)
{
	uint64_t end = h_now_ms() + (uint64_t)timeout_ms;
	for (;;) {
		uint64_t now = h_now_ms();
		if (now >= end)
			return NULL;
		cJSON *o = tclient_obj(c, (int)(end - now));
		if (!o)
			return NULL;
		const char *k = j_str(o, "class");
		if (k && strcmp(k, cls) == 0 &&
		    (!key || (j_str(o, key) && strcmp(j_str(o, key), val) == 0)))
			return o;
		cJSON_Delete(o);
	}
}

int tclient_open(struct tclient *c, const char *path, const char *watch_line)
{
	int r = tclient_connect(c, path);
	if (r < 0)
		return r;
	cJSON *v = tclient_obj(c, H_TIMEOUT_MS);
	bool ok = v && j_str(v, "class") && strcmp(j_str(v, "class"), "VERSION") == 0;
	cJSON_Delete(v);
	if (!ok)
		return -EPROTO;
	if (!watch_line)
		return 0;
	r = tclient_send(c, watch_line);
	if (r < 0)
		return r;
	cJSON *a = tclient_wait(c, "ACK", H_TIMEOUT_MS);
	ok = a != NULL;
	cJSON_Delete(a);
	return ok ? 0 : -ETIMEDOUT;
}

const char *j_str(const cJSON *o, const char *key)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(it) ? it->valuestring : NULL;
}

double j_num(const cJSON *o, const char *key)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsNumber(it) ? it->valuedouble : -1;
}

pid_t h_helper_of(pid_t daemon)
{
	char path[64], buf[512];
	pid_t found = 0;
	DIR *d = opendir("/proc");
	struct dirent *de;

	while (d && (de = readdir(d)) && !found) {
		int pid = atoi(de->d_name), ppid = 0;
		FILE *fp;
		if (pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/stat", pid);
		fp = fopen(path, "r");
		if (!fp)
			continue;
		if (fgets(buf, sizeof(buf), fp)) {
			const char *e = strrchr(buf, ')');
			if (e && sscanf(e + 2, "%*c %d", &ppid) == 1 && ppid == daemon &&
			    strstr(buf, "(m7bridged-priv)"))
				found = pid;
		}
		fclose(fp);
	}
	if (d)
		closedir(d);
	return found;
}
