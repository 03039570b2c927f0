/* Helpers shared by the daemon benchmarks (see bench_util.h). */
#include "bench_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "m7bridge/wire.h"

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

const char *bench_exe_dir(void)
{
	static char dir[PATH_MAX];

	if (!dir[0]) {
		ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1);
		char *slash;

		if (n <= 0)
			return NULL;
		dir[n] = '\0';
		slash = strrchr(dir, '/');
		if (slash)
			*slash = '\0';
	}
	return dir;
}

int bench_make_pty(char *slave, size_t cap)
{
	struct termios t;
	int m, s;

	if (openpty(&m, &s, NULL, NULL, NULL) < 0)
		return -1;
	tcgetattr(m, &t);
	cfmakeraw(&t);
	tcsetattr(m, TCSANOW, &t);
	if (ttyname_r(s, slave, cap) != 0) {
		close(m);
		close(s);
		return -1;
	}
	close(s);
	fcntl(m, F_SETFD, FD_CLOEXEC);
	return m;
}

static int connect_sock(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	memcpy(a.sun_path, path, strlen(path) + 1);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The directory holds files only (socket, pty link, configuration, counts, log). */
static void remove_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			(void)unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	(void)rmdir(path);
}

/* Prints the last lines of the daemon's stderr: why it died, when it could say. Names the
 * file only when it outlives the temporary directory. */
static void print_tail(const struct bench_daemon *r)
{
	const char *path = r->log;
	const char *name = strncmp(path, r->dir, strlen(r->dir)) ? path : "";
	char buf[4096];
	int fd = path[0] ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	off_t size;
	ssize_t n;

	if (fd < 0)
		return;
	size = lseek(fd, 0, SEEK_END);
	n = pread(fd, buf, sizeof buf - 1,
		  size > (off_t)sizeof buf - 1 ? size - (off_t)sizeof buf + 1 : 0);
	close(fd);
	if (n <= 0) {
		fprintf(stderr, "    (it wrote nothing on stderr%s%s)\n", name[0] ? ", " : "",
			name);
		return;
	}
	buf[n] = '\0';
	/* The last 20 lines, the first of them perhaps cut. */
	const char *p = buf + n - 1;
	for (int lines = 0; p > buf; p--)
		if (p[-1] == '\n' && ++lines == 20)
			break;
	fprintf(stderr, "    the last lines of its stderr%s%s:\n", name[0] ? ", " : "", name);
	while (*p) {
		size_t len = strcspn(p, "\n");

		fprintf(stderr, "    | %.*s\n", (int)len, p);
		p += len + (p[len] == '\n');
	}
}

/* status < 0: reaped elsewhere, how it ended is unknown. */
static void report(const struct bench_daemon *r, int status, const char *when)
{
	char how[96];

	if (status < 0)
		snprintf(how, sizeof how, "ended");
	else if (WIFEXITED(status))
		snprintf(how, sizeof how, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(how, sizeof how, "was killed by signal %d (%s)%s", WTERMSIG(status),
			 strsignal(WTERMSIG(status)), WCOREDUMP(status) ? ", core dumped" : "");
	else
		snprintf(how, sizeof how, "ended with wait status %#x", (unsigned)status);
	fprintf(stderr, "%s: m7bridged (pid %d) %s %s\n", program_invocation_short_name,
		(int)r->pid, how, when);
	print_tail(r);
}

static int reap(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return status;
}

/* Whether pid has ended, without reaping it. */
static bool has_ended(pid_t pid)
{
	siginfo_t si = {0};

	return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid == pid;
}

int bench_daemon_start(struct bench_daemon *r, char *const *wrap, bool count_mallocs, double wait_s)
{
	return bench_daemon_start_log(r, wrap, count_mallocs, wait_s, NULL);
}

int bench_daemon_start_log(struct bench_daemon *r, char *const *wrap, bool count_mallocs,
			   double wait_s, const char *log_path)
{
	char slave[64], daemon[PATH_MAX + 32], shim[PATH_MAX + 32];
	const char *exe = bench_exe_dir();
	char *argv[32];
	int argc = 0;
	FILE *f;

	memset(r, 0, sizeof *r);
	r->master = -1;
	r->pid = -1;
	r->wrapped = wrap != NULL;
	pthread_mutex_init(&r->lock, NULL);
	if (!exe)
		return -1;
	snprintf(r->dir, sizeof r->dir, "/tmp/m7b-bench-XXXXXX");
	if (!mkdtemp(r->dir))
		return -1;
	snprintf(r->sock, sizeof r->sock, "%s/s.sock", r->dir);
	snprintf(r->link, sizeof r->link, "%s/ttyRPMSG30", r->dir);
	snprintf(r->conf, sizeof r->conf, "%s/m7bridge.conf", r->dir);
	snprintf(r->count, sizeof r->count, "%s/mallocs", r->dir);
	/* A wrapper such as valgrind reports on the caller's stderr. */
	if (log_path)
		snprintf(r->log, sizeof r->log, "%s", log_path);
	else if (!wrap)
		snprintf(r->log, sizeof r->log, "%s/m7bridged.log", r->dir);
	r->master = bench_make_pty(slave, sizeof slave);
	if (r->master < 0 || symlink(slave, r->link) < 0)
		return -1;
	f = fopen(r->conf, "w");
	if (!f)
		return -1;
	fprintf(f,
		"[daemon]\nsocket = %s\nlog_level = %s\nmax_clients = 64\nmax_clients_per_uid = 0\n"
		"[channel bench]\ndevice = %s\n",
		r->sock, log_path ? "debug" : "warning", r->link);
	fclose(f);
	snprintf(daemon, sizeof daemon, "%s/../daemon/m7bridged", exe);
	snprintf(shim, sizeof shim, "%s/libm7b_malloc_count.so", exe);
	for (size_t i = 0; wrap && wrap[i] && argc < 24; i++)
		argv[argc++] = wrap[i];
	argv[argc++] = daemon;
	argv[argc++] = (char *)"-f";
	argv[argc++] = (char *)"-c";
	argv[argc++] = r->conf;
	argv[argc] = NULL;
	r->pid = fork();
	if (r->pid < 0)
		return -1;
	if (r->pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 1);
		if (r->log[0]) {
			/* Kept off the figures, but there to show should the daemon die. */
			int log = open(r->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
			dup2(log >= 0 ? log : null, 2);
		}
		if (count_mallocs && access(shim, R_OK) == 0) {
			setenv("LD_PRELOAD", shim, 1);
			setenv("M7B_MALLOC_COUNT", r->count, 1);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	for (uint64_t end = bench_now_ns() + (uint64_t)(wait_s * 1e9); bench_now_ns() < end;) {
		int fd = connect_sock(r->sock);

		if (fd >= 0) {
			close(fd);
			return 0;
		}
		if (has_ended(r->pid)) {
			report(r, reap(r->pid), "while starting");
			r->pid = -1;
			return -1;
		}
		usleep(10000);
	}
	fprintf(stderr, "%s: m7bridged (pid %d) has not opened its socket within %.0f s\n",
		program_invocation_short_name, (int)r->pid, wait_s);
	print_tail(r);
	return -1;
}

static void *watchdog_main(void *arg)
{
	struct bench_daemon *r = arg;
	siginfo_t si;

	/* Waits without reaping: bench_daemon_stop() reaps when it is the one stopping. */
	while (waitid(P_PID, (id_t)r->pid, &si, WEXITED | WNOWAIT) < 0 && errno == EINTR)
		;
	pthread_mutex_lock(&r->lock);
	if (r->stopping) {
		pthread_mutex_unlock(&r->lock);
		return NULL;
	}
	/* The lock stays held: a bench_daemon_stop() racing this waits for the exit. */
	fflush(stdout);
	report(r, reap(r->pid), r->what);
	remove_dir(r->dir);
	_exit(1);
}

int bench_daemon_watch(struct bench_daemon *r, const char *what)
{
	if (r->pid <= 0 || r->watched)
		return -1;
	snprintf(r->what, sizeof r->what, "%s", what);
	if (pthread_create(&r->watchdog, NULL, watchdog_main, r) != 0)
		return -1;
	r->watched = true;
	return 0;
}

int bench_daemon_stop(struct bench_daemon *r)
{
	int rc = 0;

	pthread_mutex_lock(&r->lock);
	r->stopping = true;
	pthread_mutex_unlock(&r->lock);
	if (r->pid > 0) {
		bool early = has_ended(r->pid);

		if (!early) {
			kill(r->pid, SIGTERM);
			/* A daemon stuck on its way out must not hang the benchmark; a wrapper
			 * (valgrind writing its figures) may take long. */
			for (int i = 0; !r->wrapped && i < 1000 && !has_ended(r->pid); i++)
				usleep(10000);
			if (!r->wrapped && !has_ended(r->pid)) {
				fprintf(stderr,
					"%s: m7bridged (pid %d) still runs 10 s after SIGTERM: "
					"SIGKILL\n",
					program_invocation_short_name, (int)r->pid);
				kill(r->pid, SIGKILL);
			}
		}
		if (r->watched)
			pthread_join(r->watchdog, NULL);
		int status = reap(r->pid);
		if (early ||
		    !(status >= 0 && ((WIFEXITED(status) && WEXITSTATUS(status) == 0) ||
				      (WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM)))) {
			/* Killed by another signal: it died, the SIGTERM perhaps racing its end. */
			bool died = early || (status >= 0 && WIFSIGNALED(status));
			report(r, status,
			       !died	    ? "on SIGTERM"
			       : r->what[0] ? r->what
					    : "before it was stopped");
			rc = -1;
		}
		r->pid = -1;
	}
	if (r->master >= 0)
		close(r->master);
	r->master = -1;
	if (r->dir[0])
		remove_dir(r->dir);
	r->dir[0] = '\0';
	return rc;
}

int bench_connect_client(const struct bench_daemon *r, const char *watch)
{
	char line[256], buf[4096];
	size_t n = 0;
	int fd = connect_sock(r->sock);

	if (fd < 0)
		return -1;
	snprintf(line, sizeof line, "%s\n", watch);
	if (!bench_write_all(fd, line, strlen(line))) {
		close(fd);
		return -1;
	}
	/* VERSION, ACK, STATE snapshot (if asked): read until the ACK line. */
	buf[0] = '\0';
	while (!strstr(buf, "\"ACK\"") && n < sizeof buf - 1) {
		ssize_t k = read(fd, buf + n, sizeof buf - 1 - n);

		if (k <= 0) {
			close(fd);
			return -1;
		}
		n += (size_t)k;
		buf[n] = '\0';
	}
	return fd;
}

size_t bench_encode_data(uint8_t *buf, size_t cap, uint32_t seq, uint64_t t)
{
	uint8_t pl[BENCH_PAYLOAD];
	uint8_t bytes[BENCH_PAYLOAD - M7B_DATA_HDR];
	struct m7b_data d = {.t_first = t, .t_last = t, .bytes = bytes, .nbytes = sizeof bytes};
	struct m7b_frame h = {.ver = 1, .type = M7B_T_DATA, .port = 1, .seq = seq};
	struct m7b_part part;
	int n, len;

	memset(bytes, 'A' + (int)(seq % 26), sizeof bytes);
	n = m7b_wire_pack_data(pl, sizeof pl, &d);
	if (n < 0)
		return 0;
	h.len = (uint16_t)n;
	part.data = pl;
	part.len = (size_t)n;
	len = m7b_wire_encode(buf, cap, &h, &part, 1);
	return len > 0 ? (size_t)len : 0;
}

bool bench_write_all(int fd, const void *buf, size_t n)
{
	const uint8_t *b = buf;

	while (n) {
		ssize_t w = write(fd, b, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		b += w;
		n -= (size_t)w;
	}
	return true;
}
