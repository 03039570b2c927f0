/* The accept path of m7bridged as a process: client slots reserved for root and allowed
 * users, a per-uid cap, and running out of file descriptors (no spin, every waiting
 * client refused with VERSION and an ERROR line, one log line per episode, back once a
 * slot frees). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>
#include <grp.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "daemon_harness.h"

#define NOBODY 65534

enum first { F_SERVED, F_REFUSED, F_SILENT, F_BAD };

/* How long any one wait of these tests may take before it fails with a message: a
 * daemon that stops answering fails the test at once instead of running into the test
 * runner's timeout. */
#define WAIT_MS 5000

/* Holder processes (hold()) still running: a test that fails leaves them to the
 * teardown, which kills them. */
struct accept_state {
	pid_t holders[4];
	unsigned nholders;
};

/* Connects to path before the deadline (h_now_ms()): a full backlog (EAGAIN) is tried
 * again until then, where a blocking connect() would wait for a stuck daemon for ever.
 * A blocking socket, or -1. */
static int dial_by(const char *path, uint64_t deadline)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(a.sun_path))
		return -1; /* a cut path would dial another socket */
	memcpy(a.sun_path, path, strlen(path) + 1);
	for (;;) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			return -1;
		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0) {
			int fl = fcntl(fd, F_GETFL);
			if (fl >= 0 && fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) == 0)
				return fd;
		} else if (errno == EAGAIN && h_now_ms() < deadline) {
			close(fd);
			usleep(10000);
			continue;
		}
		close(fd);
		return -1;
	}
}

static int dial(const char *path)
{
	return dial_by(path, h_now_ms() + WAIT_MS);
}

/* The daemon's greeting on fd: VERSION alone (served), VERSION with an ERROR line without
 * id behind it in the same write (refused; the text in why), nothing within ms (silent),
 * or else bad: e.g. an ERROR in place of VERSION, which breaks clients that read VERSION
 * first. */
static enum first first_line(int fd, int ms, char *why, size_t cap)
{
	char buf[512];
	size_t n = 0;
	struct pollfd p = {.fd = fd, .events = POLLIN};

	while (n < sizeof(buf) - 1 && poll(&p, 1, ms) == 1) {
		ssize_t r = read(fd, buf + n, sizeof(buf) - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
		if (memchr(buf, '\n', n))
			break;
	}
	buf[n] = '\0';
	if (why)
		snprintf(why, cap, "%s", buf);
	char *nl = strchr(buf, '\n');
	if (!nl)
		return F_SILENT;
	*nl = '\0';
	if (!strstr(buf, "\"VERSION\""))
		return F_BAD;
	const char *rest = nl + 1;
	if (!*rest)
		return F_SERVED;
	return strstr(rest, "\"ERROR\"") && !strstr(rest, "\"id\"") ? F_REFUSED : F_BAD;
}

/* CPU time (user + system, clock ticks) the process used so far. */
static long cpu_ticks(pid_t pid)
{
	char path[64], buf[1024];
	unsigned long ut = 0, st = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	const char *p = strrchr(buf, ')');
	if (!p ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (long)(ut + st);
}

static int count_in_file(const char *path, const char *needle)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, needle))
			n++;
	fclose(f);
	return n;
}

/* ulimit -n 64 and max_clients 4096: 150 clients connect. Each is served or refused with
 * VERSION and an ERROR line, none is left waiting; the daemon does not spin and logs once; when
 * clients leave, new ones are served again. */
static void test_out_of_fds(void **state)
{
	struct daemon_proc p = {0};
	struct rlimit old, low;
	int fds[150], served = 0, refused = 0, silent = 0, unconnected = 0;

	(void)state;
	assert_int_equal(h_tmpdir(&p), 0);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = 64;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	/* No per-uid cap: the descriptors must run out first, whoever runs the test. */
	int r = daemon_proc_start(&p, "max_clients = 4096\nmax_clients_per_uid = 0\n");
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_int_equal(r, 0);
	usleep(300000); /* the start-up probe's connection is gone */
	/* One budget for all of them: a daemon that leaves clients waiting fails fast. */
	uint64_t end = h_now_ms() + WAIT_MS;
	for (int i = 0; i < 150; i++)
		fds[i] = dial_by(p.sock, end);
	end = h_now_ms() + WAIT_MS;
	for (int i = 0; i < 150; i++) {
		uint64_t now = h_now_ms();
		int left = now < end ? (int)(end - now) : 0;
		/* Not connected within WAIT_MS: the backlog stayed full, nobody was refused. */
		enum first f = fds[i] < 0 ? F_SILENT : first_line(fds[i], left, NULL, 0);
		served += f == F_SERVED;
		refused += f == F_REFUSED;
		silent += f == F_SILENT || f == F_BAD;
		unconnected += fds[i] < 0;
	}
	print_message("ulimit -n 64, 150 clients: %d served, %d refused, %d silent (%d of them "
		      "not connected)\n",
		      served, refused, silent, unconnected);
	assert_int_equal(silent, 0);
	assert_true(served > 20 && refused > 20);
	/* While they all stay connected the daemon sleeps. */
	long t0 = cpu_ticks(p.pid);
	usleep(1000000);
	long t1 = cpu_ticks(p.pid);
	print_message("daemon CPU over 1 s holding them: %ld ticks\n", t1 - t0);
	assert_true(t0 >= 0 && t1 - t0 < sysconf(_SC_CLK_TCK) / 5);
	assert_int_equal(count_in_file(p.log, "accept: Too many open files"), 1);
	/* Some leave: a newcomer is served again (at once, not after the retry tick). */
	for (int i = 0, closed = 0; i < 150 && closed < 10; i++) {
		char why[512];
		if (fds[i] >= 0 && first_line(fds[i], 0, why, sizeof(why)) != F_REFUSED) {
			close(fds[i]);
			fds[i] = -1;
			closed++;
		}
	}
	usleep(200000);
	int fd = dial(p.sock);
	assert_true(fd >= 0);
	assert_int_equal(first_line(fd, 3000, NULL, 0), F_SERVED);
	close(fd);
	for (int i = 0; i < 150; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	assert_int_equal(daemon_proc_stop(&p), 0);
	h_cleanup(&p);
}

/* Reads exactly n bytes from fd before the deadline (h_now_ms()); false if not. */
static bool read_by(int fd, void *buf, size_t n, uint64_t deadline)
{
	size_t got = 0;
	while (got < n) {
		uint64_t now = h_now_ms();
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (now >= deadline || poll(&p, 1, (int)(deadline - now)) != 1)
			return false;
		ssize_t r = read(fd, (char *)buf + got, n - got);
		if (r <= 0)
			return false;
		got += (size_t)r;
	}
	return true;
}

/* A child process (as uid, if we may switch) connects n clients and reports how many
 * were served over the pipe, then holds them until killed (stop_holder, or the
 * teardown when the test failed first). */
static pid_t hold(struct accept_state *as, const char *sock, int n, uid_t uid, int *served,
		  int *refused, char *why, size_t cap)
{
	int pfd[2];
	pid_t pid, parent = getpid();
	int res[2] = {0, 0};

	assert_true(as->nholders < sizeof(as->holders) / sizeof(as->holders[0]));
	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char last[512] = "";
		close(pfd[0]);
		/* Never hold the test runner's output open: it waits for its end. */
		int null = open("/dev/null", O_WRONLY);
		if (null < 0 || dup2(null, STDOUT_FILENO) < 0 || dup2(null, STDERR_FILENO) < 0)
			_exit(1);
		if (geteuid() == 0 &&
		    (setgroups(0, NULL) < 0 || setgid(uid) < 0 || setuid(uid) < 0))
			_exit(1);
		/* After the uid change, which clears the death signal: dying with the test. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(1);
		uint64_t end = h_now_ms() + WAIT_MS;
		for (int i = 0; i < n; i++) {
			int fd = dial_by(sock, end);
			uint64_t now = h_now_ms();
			int left = now < end ? (int)(end - now) : 0;
			enum first f = fd < 0 ? F_SILENT : first_line(fd, left, last, sizeof(last));
			if (fd < 0)
				snprintf(last, sizeof(last), "connection %d: cannot connect", i);
			res[0] += f == F_SERVED;
			res[1] += f == F_REFUSED;
			if (f != F_SERVED && fd >= 0)
				close(fd);
		}
		(void)!write(pfd[1], res, sizeof(res));
		(void)!write(pfd[1], last, sizeof(last));
		pause();
		_exit(0);
	}
	close(pfd[1]);
	as->holders[as->nholders++] = pid;
	char last[512];
	/* Its own waits end within WAIT_MS; a second more for it to start and report. */
	uint64_t end = h_now_ms() + WAIT_MS + 1000;
	bool ok =
		read_by(pfd[0], res, sizeof(res), end) && read_by(pfd[0], last, sizeof(last), end);
	close(pfd[0]);
	if (!ok)
		fail_msg("the holder of %d connections reported nothing within %d ms", n,
			 WAIT_MS + 1000);
	*served = res[0];
	*refused = res[1];
	snprintf(why, cap, "%s", last);
	return pid;
}

static void stop_holder(struct accept_state *as, pid_t pid)
{
	for (unsigned i = 0; i < as->nholders; i++)
		if (as->holders[i] == pid)
			as->holders[i] = as->holders[--as->nholders];
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static int setup(void **state)
{
	*state = calloc(1, sizeof(struct accept_state));
	return *state ? 0 : -1;
}

/* Kills what a failed test left holding connections. */
static int teardown(void **state)
{
	struct accept_state *as = *state;
	while (as->nholders)
		stop_holder(as, as->holders[0]);
	free(as);
	return 0;
}

/* Waits until the daemon lists no client but the one asking (the harness's readiness
 * probe, a connect and close, is gone), so that the counts below start from nothing;
 * fails if that does not happen within WAIT_MS. */
static void wait_no_clients(const char *sock)
{
	uint64_t end = h_now_ms() + WAIT_MS;
	int n = -1;
	while (n != 1) {
		struct tclient c;
		uint64_t now = h_now_ms();
		if (now >= end)
			fail_msg("the daemon still lists %d clients after %d ms (-1: no STATUS)", n,
				 WAIT_MS);
		int fd = dial_by(sock, end);
		n = -1;
		if (fd >= 0) {
			/* The harness's client, on a connection made within the deadline. */
			memset(&c, 0, sizeof(c));
			c.fd = fd;
			c.cap = 1 << 20;
			c.buf = malloc(c.cap);
			if (c.buf && tclient_send(&c, "{\"cmd\":\"status\"}") == 0) {
				now = h_now_ms();
				cJSON *st = tclient_wait(&c, "STATUS",
							 now < end ? (int)(end - now) : 0);
				n = st ? cJSON_GetArraySize(cJSON_GetObjectItem(st, "clients"))
				       : -1;
				cJSON_Delete(st);
			}
			tclient_close(&c);
		}
		if (n != 1)
			usleep(30000);
	}
	/* Our own status connection goes the same way: give the loop a turn for it. */
	usleep(100000);
}

/* max_clients 8 with 2 reserved: an ordinary user gets 6 and is then told why; root
 * (when the test may act as another user) still gets in. Then a per-uid cap of 3. */
static void test_reserved_slots(void **state)
{
	struct daemon_proc p = {0};
	char why[512];
	int served, refused;
	bool root = geteuid() == 0;
	uid_t user = root ? NOBODY : geteuid();

	(void)state;
	assert_int_equal(h_tmpdir(&p), 0);
	assert_int_equal(chmod(p.dir, 0755), 0);
	/* allow_uids names nobody we run as: the user is an ordinary one. */
	assert_int_equal(daemon_proc_start(&p, "socket_mode = 0666\nmax_clients = 8\n"
					       "reserved_clients = 2\nallow_uids = 1\n"),
			 0);
	wait_no_clients(p.sock);
	pid_t h = hold(*state, p.sock, 10, user, &served, &refused, why, sizeof(why));
	print_message("user %u: %d served, %d refused (%s)\n", (unsigned)user, served, refused,
		      why);
	assert_int_equal(served, 6);
	assert_int_equal(refused, 4);
	assert_non_null(strstr(why, "\"busy\""));
	assert_non_null(strstr(why, "reserved"));
	if (root) {
		int fd = dial(p.sock);
		assert_int_equal(first_line(fd, 3000, NULL, 0), F_SERVED);
		close(fd);
	} else {
		print_message("not root: the root side of the reserve is not exercised\n");
	}
	stop_holder(*state, h);
	assert_int_equal(daemon_proc_stop(&p), 0);

	assert_int_equal(daemon_proc_start(&p, "socket_mode = 0666\nmax_clients = 20\n"
					       "max_clients_per_uid = 3\nallow_uids = 1\n"),
			 0);
	wait_no_clients(p.sock);
	h = hold(*state, p.sock, 5, user, &served, &refused, why, sizeof(why));
	assert_int_equal(served, 3);
	assert_int_equal(refused, 2);
	assert_non_null(strstr(why, "max_clients_per_uid"));
	stop_holder(*state, h);
	assert_int_equal(daemon_proc_stop(&p), 0);

	/* By default one user cannot take every slot (64, 8 reserved): it gets 16. */
	assert_int_equal(daemon_proc_start(&p, "socket_mode = 0666\nallow_uids = 1\n"), 0);
	wait_no_clients(p.sock);
	h = hold(*state, p.sock, 40, user, &served, &refused, why, sizeof(why));
	print_message("user %u by default: %d served, %d refused (%s)\n", (unsigned)user, served,
		      refused, why);
	assert_int_equal(served, 16);
	assert_int_equal(refused, 24);
	assert_non_null(strstr(why, "max_clients_per_uid"));
	stop_holder(*state, h);
	assert_int_equal(daemon_proc_stop(&p), 0);
	h_cleanup(&p);
}

/* max_clients 4: the slots of clients that hung up are free at once, even when the
 * newcomers connect before the daemon has seen the hangups; a fifth live client is still
 * refused. */
static void test_gone_clients_free_their_slots(void **state)
{
	struct daemon_proc p = {0};
	int fds[4];
	char why[512];

	(void)state;
	assert_int_equal(h_tmpdir(&p), 0);
	assert_int_equal(daemon_proc_start(&p, "max_clients = 4\nreserved_clients = 0\n"), 0);
	wait_no_clients(p.sock);
	for (int i = 0; i < 4; i++) {
		fds[i] = dial(p.sock);
		assert_true(fds[i] >= 0);
		assert_int_equal(first_line(fds[i], 3000, NULL, 0), F_SERVED);
	}
	int fd = dial(p.sock);
	assert_int_equal(first_line(fd, 3000, why, sizeof(why)), F_REFUSED);
	assert_non_null(strstr(why, "too many clients"));
	close(fd);
	/* Two hang up and two others dial straight away, many times over. */
	for (int round = 0; round < 20; round++) {
		for (int i = 0; i < 2; i++)
			close(fds[i]);
		for (int i = 0; i < 2; i++)
			fds[i] = dial(p.sock);
		for (int i = 0; i < 2; i++) {
			enum first f = first_line(fds[i], 3000, why, sizeof(why));
			if (f != F_SERVED)
				fail_msg("round %d: newcomer %d not served: %s", round, i, why);
		}
	}
	/* Two become watchers that select nothing and half-close (their hangup is only
	 * looked for now and then), then hang up: two newcomers dial straight away. */
	for (int i = 2; i < 4; i++) {
		static const char watch[] = "{\"cmd\":\"watch\",\"channels\":[]}\n";
		assert_int_equal(write(fds[i], watch, sizeof(watch) - 1),
				 (ssize_t)sizeof(watch) - 1);
		(void)first_line(fds[i], 3000, why, sizeof(why));
		assert_non_null(strstr(why, "\"ACK\""));
		assert_int_equal(shutdown(fds[i], SHUT_WR), 0);
	}
	usleep(100000); /* the daemon has read their end of input */
	for (int i = 2; i < 4; i++)
		close(fds[i]);
	for (int i = 2; i < 4; i++) {
		fds[i] = dial(p.sock);
		enum first f = first_line(fds[i], 3000, why, sizeof(why));
		if (f != F_SERVED)
			fail_msg("after half-closed ones left: newcomer %d not served: %s", i, why);
	}
	/* All four slots are taken by live clients again. */
	fd = dial(p.sock);
	assert_int_equal(first_line(fd, 3000, why, sizeof(why)), F_REFUSED);
	assert_non_null(strstr(why, "too many clients"));
	close(fd);
	for (int i = 0; i < 4; i++)
		close(fds[i]);
	assert_int_equal(daemon_proc_stop(&p), 0);
	h_cleanup(&p);
}

/* In a child: becomes uid nobody with primary gid 20000 and the supplementary groups
 * 20000..20000 + n - 1 and nogroup (65534, the highest, so the last the kernel lists),
 * connects and reports the greeting: the exit status is the enum first. */
static int dial_with_groups(const char *sock, int n)
{
	gid_t g[200];
	char why[512];

	for (int i = 0; i < n; i++)
		g[i] = (gid_t)(20000 + i);
	g[n] = 65534;
	if (setgroups((size_t)n + 1, g) < 0 || setresgid(20000, 20000, 20000) < 0 ||
	    setresuid(NOBODY, NOBODY, NOBODY) < 0)
		return 10;
	int fd = dial(sock);
	if (fd < 0)
		return 11;
	return first_line(fd, WAIT_MS, why, sizeof(why));
}

/* allow_group names a supplementary group of a peer that has many (a user of a
 * directory service easily has more than 64): the peer is privileged all the same. Seen
 * through the reserve: with every slot reserved, only a privileged peer gets one. */
static void test_many_groups_still_privileged(void **state)
{
	struct daemon_proc p = {0};
	static const int counts[] = {3, 64, 100, 190};

	(void)state;
	if (geteuid() != 0)
		skip(); /* setgroups() needs root */
	assert_int_equal(h_tmpdir(&p), 0);
	assert_int_equal(chmod(p.dir, 0755), 0);
	assert_int_equal(daemon_proc_start(&p, "socket_mode = 0666\nmax_clients = 8\n"
					       "reserved_clients = 8\nallow_group = nogroup\n"),
			 0);
	for (unsigned i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		int st;
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0)
			_exit(dial_with_groups(p.sock, counts[i]));
		/* The child's waits end within WAIT_MS. */
		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_true(WIFEXITED(st));
		print_message("a peer with %d + 1 supplementary groups: %s\n", counts[i],
			      WEXITSTATUS(st) == F_SERVED    ? "served"
			      : WEXITSTATUS(st) == F_REFUSED ? "refused"
							     : "?");
		if (WEXITSTATUS(st) != F_SERVED)
			fail_msg("a member of allow_group with %d other groups: %d, not served",
				 counts[i], WEXITSTATUS(st));
	}
	/* Without the group the reserve holds: the test can fail. */
	int st;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setresgid(20000, 20000, 20000) < 0 ||
		    setresuid(NOBODY, NOBODY, NOBODY) < 0)
			_exit(10);
		int fd = dial(p.sock);
		_exit(fd < 0 ? 11 : first_line(fd, WAIT_MS, NULL, 0));
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), F_REFUSED);
	assert_int_equal(daemon_proc_stop(&p), 0);
	h_cleanup(&p);
}

/* Runs in a child as user: n recover requests on one connection, each answered
 * forbidden. 0, or 1 + the number of the request that was not. */
static int flood_refused(const char *sock, uid_t user, int n)
{
	struct tclient c;
	char line[64];

	if (geteuid() != user && (setgroups(0, NULL) < 0 || setresgid(user, user, user) < 0 ||
				  setresuid(user, user, user) < 0))
		return 1;
	/* After the uid change, which clears it: ends with the test. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || tclient_connect(&c, sock) < 0)
		return 1;
	for (int i = 0; i < n; i++) {
		snprintf(line, sizeof(line), "{\"cmd\":\"recover\",\"channel\":\"m7\",\"id\":%d}",
			 i);
		if (tclient_send(&c, line) < 0)
			return 2 + i;
	}
	for (int i = 0, got = 0; got < n; i++) {
		const char *l = tclient_line(&c, 5000, NULL);
		if (!l)
			return 2 + got;
		if (strstr(l, "\"class\":\"VERSION\""))
			continue;
		if (!strstr(l, "\"forbidden\""))
			return 2 + got;
		got++;
	}
	tclient_close(&c);
	return 0;
}

/* A user who may connect but not control floods recover requests: each is refused, and
 * the daemon's log gets a few lines, not a line per request. */
static void test_refusals_not_a_log_flood(void **state)
{
	struct daemon_proc p = {0};
	char conf[512], text[1 << 16];
	uid_t user = geteuid() == 0 ? NOBODY : geteuid();
	int st, lines = 0;
	const int n = 300;

	(void)state;
	assert_int_equal(h_tmpdir(&p), 0);
	assert_int_equal(chmod(p.dir, 0755), 0);
	/* allow_uids names nobody we run as: the user is an ordinary one. */
	snprintf(conf, sizeof(conf),
		 "socket_mode = 0666\nallow_uids = 1\n[channel m7]\ndevice = %s/ttyRPMSG30\n",
		 p.dir);
	assert_int_equal(daemon_proc_start(&p, conf), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		_exit(flood_refused(p.sock, user, n));
	}
	/* Each of its n answers comes within 5 s or it gives up; the whole within 30 s. */
	pid_t w = 0;
	for (uint64_t end = h_now_ms() + 30000; (w = waitpid(pid, &st, WNOHANG)) == 0;) {
		if (h_now_ms() >= end) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			fail_msg("the client of %d recover requests did not finish within 30 s", n);
		}
		usleep(10000);
	}
	assert_int_equal(w, pid);
	assert_true(WIFEXITED(st));
	if (WEXITSTATUS(st) == 1)
		fail_msg("the client could not switch to uid %u or connect", (unsigned)user);
	if (WEXITSTATUS(st))
		fail_msg("request %d was not refused", WEXITSTATUS(st) - 2);
	assert_int_equal(daemon_proc_stop(&p), 0);
	h_slurp_file(p.log, text, sizeof(text));
	for (const char *t = text; (t = strstr(t, "refused: not authorized")); t++)
		lines++;
	print_message("%d refusals, %d lines logged\n", n, lines);
	assert_true(lines >= 1);
	assert_true(lines <= 10); /* the count of the others comes with the next one logged */
	h_cleanup(&p);
}

/* Lines of the log file at path that contain needle and "connections not logged"; the
 * sum of their counts in *sum. */
static int count_unlogged(const char *path, const char *needle, long *sum)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	int n = 0;

	*sum = 0;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		const char *p = strstr(line, needle);
		const char *q = p ? strstr(p, "; ") : NULL;
		if (!q || !strstr(q, "connections not logged"))
			continue;
		*sum += strtol(q + 2, NULL, 10);
		n++;
	}
	fclose(f);
	return n;
}

/* A local user connects and hangs up 500 times in a burst: the daemon logs a few of
 * those connections, not two lines each (that would flood the journal, whose own rate
 * limit would then drop the daemon's fault and recovery lines), and the next one logged
 * says how many were not. */
static void test_connections_not_a_log_flood(void **state)
{
	struct daemon_proc p = {0};
	const int n = 500;

	(void)state;
	assert_int_equal(h_tmpdir(&p), 0);
	assert_int_equal(daemon_proc_start(&p, "max_clients_per_uid = 0\n"), 0);
	for (int i = 0; i < n; i++) {
		int fd = dial(p.sock);
		if (fd < 0)
			fail_msg("connection %d: cannot connect", i);
		enum first f = first_line(fd, WAIT_MS, NULL, 0);
		close(fd);
		if (f != F_SERVED)
			fail_msg("connection %d not served", i);
	}
	/* After the burst's rate-limit window, one more is logged with the count. */
	usleep(2500000);
	int fd = dial(p.sock);
	assert_true(fd >= 0);
	assert_int_equal(first_line(fd, WAIT_MS, NULL, 0), F_SERVED);
	close(fd);
	assert_int_equal(daemon_proc_stop(&p), 0);
	int connected = count_in_file(p.log, " connected (pid ");
	int disconnected = count_in_file(p.log, " disconnected: ");
	long unlogged = 0;
	int summaries = count_unlogged(p.log, " connected (pid ", &unlogged);
	print_message("%d connections: %d connected and %d disconnected lines, %d with a count "
		      "of unlogged ones (%ld)\n",
		      n + 1, connected, disconnected, summaries, unlogged);
	/* 10 lines per 2 s: a burst that takes 12 s on a loaded machine logs 60. */
	assert_true(connected >= 2 && connected <= 60);
	assert_true(disconnected <= connected);
	assert_true(summaries >= 1);
	/* Every connection is logged or counted: with the harness's start-up probe, n + 2. */
	assert_int_equal(connected + unlogged, n + 2);
	h_cleanup(&p);
}

/* A listening-to-be socket bound at path (not listening yet), or -1. */
static int bound_socket(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0 || strlen(path) >= sizeof(a.sun_path))
		return -1;
	memcpy(a.sun_path, path, strlen(path) + 1);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Waits up to WAIT_MS for pid to exit; its status, or -1 (then it is killed). */
static int exit_status(pid_t pid)
{
	int st;
	for (uint64_t end = h_now_ms() + WAIT_MS; h_now_ms() < end; usleep(10000))
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

/* Another daemon is starting on the path: it holds the lock on the socket's directory and
 * has bound its socket but not called listen() yet, when a connect is refused as by a
 * stale socket. A daemon starting then waits for the lock, finds the socket listening
 * and exits: it used to remove it as stale and bind its own, leaving two daemons running,
 * one listening on a file nobody could reach. */
static void test_start_during_another_start(void **state)
{
	struct daemon_proc p = {0};
	char sock[108], out[300], chan[320], text[4096];

	(void)state;
	assert_int_equal(h_tmpdir(&p), 0);
	assert_true(snprintf(sock, sizeof(sock), "%s/race.sock", p.dir) < (int)sizeof(sock));
	snprintf(out, sizeof(out), "%s/out.log", p.dir);
	snprintf(chan, sizeof(chan), "m7=%s/ttyRPMSG30", p.dir);
	int dir = open(p.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(dir >= 0);
	assert_int_equal(flock(dir, LOCK_EX), 0);
	int l = bound_socket(sock);
	assert_true(l >= 0);
	const char *const argv[] = {h_daemon_path(), "-f", "-s", sock, "-C", chan, NULL};
	pid_t pid = h_spawn(argv, -1, out);
	assert_true(pid > 0);
	usleep(300000); /* the daemon is at its check of the path by now */
	assert_int_equal(listen(l, 8), 0);
	close(dir); /* unlocks */
	int st = exit_status(pid);
	h_slurp_file(out, text, sizeof(text));
	if (st <= 0)
		fail_msg("the second daemon %s:\n%s", st < 0 ? "still runs" : "exited 0", text);
	assert_non_null(strstr(text, "in use"));
	/* The path still leads to the first one's socket. */
	int fd = dial(sock);
	assert_true(fd >= 0);
	struct pollfd pl = {.fd = l, .events = POLLIN};
	assert_int_equal(poll(&pl, 1, WAIT_MS), 1);
	int c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	assert_true(c >= 0);
	close(c);
	close(fd);
	close(l);
	h_cleanup(&p);
}

/* The daemon stops after another one took over the path (it found this one's socket
 * closed during its stop, took it for stale and bound its own): the file is the new
 * daemon's and stays. */
static void test_stop_keeps_a_successor_socket(void **state)
{
	struct daemon_proc p = {0};

	(void)state;
	assert_int_equal(h_tmpdir(&p), 0);
	assert_int_equal(daemon_proc_start(&p, ""), 0);
	assert_int_equal(unlink(p.sock), 0);
	int l = bound_socket(p.sock);
	assert_true(l >= 0);
	assert_int_equal(listen(l, 8), 0);
	assert_int_equal(daemon_proc_stop(&p), 0);
	struct stat sb;
	if (stat(p.sock, &sb) < 0)
		fail_msg("the stopping daemon removed its successor's socket");
	int fd = dial(p.sock);
	assert_true(fd >= 0);
	close(fd);
	close(l);
	h_cleanup(&p);
}

/* The socket path belongs to a live daemon that is not accepting (stuck, its backlog
 * full): a second daemon says the path is in use and exits, instead of waiting in its
 * check forever (SIGTERM cannot stop it there: its handler is already installed). */
static void test_busy_listener_is_in_use(void **state)
{
	struct daemon_proc p = {0};
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	char sock[sizeof(a.sun_path)], out[300], chan[320], text[4096];
	int l, q[8], nq = 0, st = 0;
	pid_t pid;

	(void)state;
	assert_int_equal(h_tmpdir(&p), 0);
	assert_true(snprintf(sock, sizeof(sock), "%s/busy.sock", p.dir) < (int)sizeof(sock));
	snprintf(out, sizeof(out), "%s/out.log", p.dir);
	snprintf(chan, sizeof(chan), "m7=%s/ttyRPMSG30", p.dir);
	memcpy(a.sun_path, sock, sizeof(sock));
	l = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(l >= 0);
	assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(l, 0), 0);
	/* Fill the backlog: the next connect would wait. */
	for (nq = 0; nq < 8; nq++) {
		q[nq] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
		assert_true(q[nq] >= 0);
		if (connect(q[nq], (struct sockaddr *)&a, sizeof(a)) < 0) {
			assert_int_equal(errno, EAGAIN);
			close(q[nq]);
			break;
		}
	}
	assert_true(nq < 8);
	const char *const argv[] = {h_daemon_path(), "-f", "-s", sock, "-C", chan, NULL};
	pid = h_spawn(argv, -1, out);
	assert_true(pid > 0);
	int r = 0;
	for (int i = 0; i < 500 && (r = waitpid(pid, &st, WNOHANG)) == 0; i++)
		usleep(10000);
	if (r == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		fail_msg("the daemon hung on a busy socket path");
	}
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) != 0);
	h_slurp_file(out, text, sizeof(text));
	assert_non_null(strstr(text, "in use"));
	struct stat sb;
	assert_int_equal(stat(sock, &sb), 0); /* not removed as stale */
	for (int i = 0; i < nq; i++)
		close(q[i]);
	close(l);
	h_cleanup(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_out_of_fds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals_not_a_log_flood, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy_listener_is_in_use, setup, teardown),
		cmocka_unit_test_setup_teardown(test_start_during_another_start, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_keeps_a_successor_socket, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_connections_not_a_log_flood, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reserved_slots, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_groups_still_privileged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gone_clients_free_their_slots, setup,
						teardown),
	};
	signal(SIGPIPE, SIG_IGN);
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	h_kill_all();
	return r;
}
