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

static int dial(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(a.sun_path))
		return -1; /* a cut path would dial another socket */
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memcpy(a.sun_path, path, strlen(path) + 1);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
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
	int fds[150], served = 0, refused = 0, silent = 0;

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
	for (int i = 0; i < 150; i++)
		fds[i] = dial(p.sock);
	/* One budget for all of them: a daemon that leaves clients waiting fails fast. */
	uint64_t end = h_now_ms() + 5000;
	for (int i = 0; i < 150; i++) {
		uint64_t now = h_now_ms();
		int left = now < end ? (int)(end - now) : 0;
		enum first f = fds[i] < 0 ? F_REFUSED : first_line(fds[i], left, NULL, 0);
		served += f == F_SERVED;
		refused += f == F_REFUSED;
		silent += f == F_SILENT || f == F_BAD;
	}
	print_message("ulimit -n 64, 150 clients: %d served, %d refused, %d silent\n", served,
		      refused, silent);
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

/* A child process (as uid, if we may switch) connects n clients and reports how many
 * were served over the pipe, then holds them until killed. */
static pid_t hold(const char *sock, int n, uid_t uid, int *served, int *refused, char *why,
		  size_t cap)
{
	int pfd[2];
	pid_t pid;
	int res[2] = {0, 0};

	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char last[512] = "";
		close(pfd[0]);
		/* A failed assertion in the test must not leave us holding its output open. */
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (geteuid() == 0 &&
		    (setgroups(0, NULL) < 0 || setgid(uid) < 0 || setuid(uid) < 0))
			_exit(1);
		for (int i = 0; i < n; i++) {
			int fd = dial(sock);
			enum first f = fd < 0 ? F_SILENT : first_line(fd, 3000, last, sizeof(last));
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
	assert_int_equal(read(pfd[0], res, sizeof(res)), (ssize_t)sizeof(res));
	char last[512];
	assert_int_equal(read(pfd[0], last, sizeof(last)), (ssize_t)sizeof(last));
	close(pfd[0]);
	*served = res[0];
	*refused = res[1];
	snprintf(why, cap, "%s", last);
	return pid;
}

static void stop_holder(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* Waits until the daemon lists no client but the one asking (the harness's readiness
 * probe, a connect and close, is gone), so that the counts below start from nothing. */
static void wait_no_clients(const char *sock)
{
	for (int i = 0; i < 100; i++) {
		struct tclient c;
		int n = -1;
		if (tclient_connect(&c, sock) == 0) {
			if (tclient_send(&c, "{\"cmd\":\"status\"}") == 0) {
				cJSON *st = tclient_wait(&c, "STATUS", 2000);
				n = st ? cJSON_GetArraySize(cJSON_GetObjectItem(st, "clients"))
				       : -1;
				cJSON_Delete(st);
			}
			tclient_close(&c);
		}
		if (n == 1)
			break;
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
	pid_t h = hold(p.sock, 10, user, &served, &refused, why, sizeof(why));
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
	stop_holder(h);
	assert_int_equal(daemon_proc_stop(&p), 0);

	assert_int_equal(daemon_proc_start(&p, "socket_mode = 0666\nmax_clients = 20\n"
					       "max_clients_per_uid = 3\nallow_uids = 1\n"),
			 0);
	wait_no_clients(p.sock);
	h = hold(p.sock, 5, user, &served, &refused, why, sizeof(why));
	assert_int_equal(served, 3);
	assert_int_equal(refused, 2);
	assert_non_null(strstr(why, "max_clients_per_uid"));
	stop_holder(h);
	assert_int_equal(daemon_proc_stop(&p), 0);

	/* By default one user cannot take every slot (64, 8 reserved): it gets 16. */
	assert_int_equal(daemon_proc_start(&p, "socket_mode = 0666\nallow_uids = 1\n"), 0);
	wait_no_clients(p.sock);
	h = hold(p.sock, 40, user, &served, &refused, why, sizeof(why));
	print_message("user %u by default: %d served, %d refused (%s)\n", (unsigned)user, served,
		      refused, why);
	assert_int_equal(served, 16);
	assert_int_equal(refused, 24);
	assert_non_null(strstr(why, "max_clients_per_uid"));
	stop_holder(h);
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

/* Runs in a child as user: n recover requests on one connection, each answered
 * forbidden. 0, or 1 + the number of the request that was not. */
static int flood_refused(const char *sock, uid_t user, int n)
{
	struct tclient c;
	char line[64];

	if (geteuid() != user && (setgroups(0, NULL) < 0 || setresgid(user, user, user) < 0 ||
				  setresuid(user, user, user) < 0))
		return 1;
	if (tclient_connect(&c, sock) < 0)
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
	if (pid == 0)
		_exit(flood_refused(p.sock, user, n));
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
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
		cmocka_unit_test(test_out_of_fds),
		cmocka_unit_test(test_refusals_not_a_log_flood),
		cmocka_unit_test(test_busy_listener_is_in_use),
		cmocka_unit_test(test_reserved_slots),
		cmocka_unit_test(test_gone_clients_free_their_slots),
	};
	signal(SIGPIPE, SIG_IGN);
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	h_kill_all();
	return r;
}
