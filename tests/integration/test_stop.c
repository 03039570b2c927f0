/* Stopping the daemon stays prompt whatever its parts are doing: the privileged helper
 * stuck in a remoteproc write (daemon/privsep.c), also while the daemon waits for it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <pwd.h>
#include <cmocka.h>

#include "daemon_harness.h"
#include "privsep.h"

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* A remoteproc whose `state` never takes the write (a FIFO nobody reads stands for a
 * driver stuck on a hung M7): the helper blocks in it. Later requests must not each wait
 * PRIVSEP_CALL_MS behind it, the helper's late answer must free it for the next, and
 * with it stuck again privsep_free() must still return within
 * PRIVSEP_STOP_MS (plus scheduling slack), not wait for the helper. */
static void test_free_with_helper_stuck_in_sysfs(void **state)
{
	static const struct conf_overrides ov = {.socket_mode = -1, .log_level = -1};
	char d[64] = "/tmp/m7b-stop-XXXXXX", path[256], conf_path[256], text[512];
	struct conf_error err;
	struct conf *cfg;
	struct privsep *ps;
	struct privsep_msg m;

	(void)state;
	assert_non_null(mkdtemp(d));
	snprintf(path, sizeof(path), "%s/sys/class/remoteproc/remoteproc1", d);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", path);
	assert_int_equal(system(cmd), 0);
	snprintf(path, sizeof(path), "%s/sys/class/remoteproc/remoteproc1/name", d);
	write_file(path, "imx-rproc\n");
	snprintf(path, sizeof(path), "%s/sys/class/remoteproc/remoteproc1/state", d);
	assert_int_equal(mkfifo(path, 0600), 0);
	snprintf(conf_path, sizeof(conf_path), "%s/m7bridge.conf", d);
	snprintf(text, sizeof(text),
		 "[daemon]\nsysfs_root = %s/sys\n"
		 "[channel m7]\ndevice = /dev/ttyRPMSG30\nremoteproc = remoteproc1\n",
		 d);
	write_file(conf_path, text);
	assert_int_equal(conf_read(conf_path, false, &ov, &cfg, &err), 0);
	struct privsep_args a = {
		.cfg = cfg, .conf_path = conf_path, .ov = &ov, .log_target = LOG_TARGET_STDERR};
	assert_int_equal(privsep_start(&a, &ps), 0);

	/* A hang here fails the test instead of stalling the suite. */
	alarm(4 * PRIVSEP_CALL_MS / 1000 + 10);
	privsep_msg_init(&m, PRIVSEP_RPROC_STOP, "m7", NULL);
	assert_int_equal(privsep_call(ps, &m), -ETIMEDOUT);
	/* The helper is still in that write: a further request (the next try, the next
	 * step's command, a trace open) is refused at once instead of holding the event
	 * loop, and with it the watchdog, for another PRIVSEP_CALL_MS each. */
	uint64_t t1 = now_ms();
	privsep_msg_init(&m, PRIVSEP_RUN_HOOK, "m7", NULL);
	assert_int_equal(privsep_call(ps, &m), -ETIMEDOUT);
	privsep_msg_init(&m, PRIVSEP_RPROC_START, "m7", NULL);
	assert_int_equal(privsep_call(ps, &m), -ETIMEDOUT);
	assert_true(now_ms() - t1 < 1000);
	/* The write ends after all (the FIFO gets a writer and says offline: the stop was
	 * not needed): its late answer frees the helper for the next request. */
	int fifo = open(path, O_RDWR | O_CLOEXEC);
	assert_true(fifo >= 0);
	assert_int_equal(write(fifo, "offline\n", 8), 8);
	int r = -ETIMEDOUT;
	for (int i = 0; i < 100 && r == -ETIMEDOUT; i++) {
		privsep_msg_init(&m, PRIVSEP_READ_CONF, NULL, NULL);
		if ((r = privsep_call(ps, &m)) == -ETIMEDOUT)
			usleep(20000);
	}
	assert_int_equal(r, 0);
	/* Stuck again: the state reads nothing now, with the FIFO's writer kept open. */
	privsep_msg_init(&m, PRIVSEP_RPROC_STOP, "m7", NULL);
	assert_int_equal(privsep_call(ps, &m), -ETIMEDOUT);
	uint64_t t0 = now_ms();
	privsep_free(ps);
	uint64_t took = now_ms() - t0;
	alarm(0);
	assert_true(took < PRIVSEP_STOP_MS + 1000);

	/* The helper is left stuck: it dies with this process (PR_SET_PDEATHSIG). */
	close(fifo);
	conf_free(cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d);
	assert_int_equal(system(cmd), 0);
}

/* A daemon with its helper (`user` = the test's own) and a channel up on a fake M7,
 * behind a fake remoteproc tree, with an incident and a state directory; the helper is
 * then stopped (SIGSTOP): it takes requests and never answers, like one inside a sysfs
 * write on a hung M7. */
struct cut {
	struct daemon_proc p;
	struct fake_m7 m;
	struct tclient c;
	pid_t helper;
};

static void cut_start(struct cut *t)
{
	struct passwd *pw = getpwuid(geteuid());
	char conf[2048], link[300], path[600];

	t->m.master = -1;
	t->c.fd = -1;
	assert_non_null(pw);
	assert_int_equal(h_tmpdir(&t->p), 0);
	assert_int_equal(h_fake_rproc_tree(t->p.dir, "m7_app.elf\n",
					   (const char *const[]){"inc", "state", "fw", NULL}),
			 0);
	snprintf(path, sizeof(path), "%s/inc", t->p.dir);
	assert_int_equal(chmod(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/state", t->p.dir);
	assert_int_equal(chmod(path, 0700), 0);
	/* Any ELF serves as the image to reload: its identity is never checked here. */
	snprintf(path, sizeof(path), "%s/fw/app-2.elf", t->p.dir);
	assert_int_equal(symlink(h_sim_path(), path), 0);
	snprintf(path, sizeof(path), "%s/fw/m7_app.elf", t->p.dir);
	assert_int_equal(symlink(h_sim_path(), path), 0);
	snprintf(link, sizeof(link), "%s/ttyRPMSG30", t->p.dir);
	assert_int_equal(fake_m7_open(&t->m, link), 0);
	snprintf(conf, sizeof(conf),
		 "kernel_log = off\nsysfs_root = %s/sys\nincident_dir = %s/inc\n"
		 "state_dir = %s/state\nfirmware_dir = %s/fw\n"
		 "allow_uids = %u\nuser = %s\n%s"
		 "[channel m7]\ndevice = %s\nremoteproc = imx-rproc\nrecovery_steps = "
		 "remoteproc,hook\nhook = true\nliveness_quiet_ms = 0\n",
		 t->p.dir, t->p.dir, t->p.dir, t->p.dir, (unsigned)getuid(), pw->pw_name,
		 pw->pw_uid == 0 ? "allow_root_user = true\n" : "", link);
	assert_int_equal(daemon_proc_start(&t->p, conf), 0);
	assert_int_equal(fake_m7_handshake(&t->m, 7, 16), 0);
	t->helper = 0;
	for (int i = 0; i < 250 && !(t->helper = h_helper_of(t->p.pid)); i++)
		usleep(20000);
	assert_true(t->helper > 0);
	assert_int_equal(tclient_open(&t->c, t->p.sock, "{\"cmd\":\"watch\"}"), 0);
	cJSON *o = tclient_wait_str(&t->c, "STATE", "state", "up", H_TIMEOUT_MS);
	assert_non_null(o);
	cJSON_Delete(o);
	assert_int_equal(kill(t->helper, SIGSTOP), 0);
}

/* The daemon's exit status after a SIGTERM, or (sigterm false) after it saw its helper
 * die, within bound_ms. */
static int cut_end(struct cut *t, bool sigterm, uint64_t bound_ms)
{
	uint64_t t0 = h_now_ms();
	int st = -1;

	if (sigterm) {
		st = daemon_proc_stop(&t->p);
	} else {
		assert_int_equal(kill(t->helper, SIGKILL), 0);
		for (int w = 0; w < 2000; w++) {
			if (waitpid(t->p.pid, &st, WNOHANG) == t->p.pid) {
				st = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
				t->p.pid = 0;
				break;
			}
			usleep(10000);
		}
		if (t->p.pid > 0)
			st = daemon_proc_stop(&t->p);
	}
	uint64_t took = h_now_ms() - t0;
	print_message("the daemon left %llu ms after the %s\n", (unsigned long long)took,
		      sigterm ? "SIGTERM" : "helper's death");
	h_show_log_if(&t->p, st == (sigterm ? 0 : 1) ? 0 : 1);
	assert_true(took < bound_ms);
	/* The helper died with the daemon (PR_SET_PDEATHSIG), stopped as it was. */
	for (int i = 0; i < 200 && kill(t->helper, 0) == 0; i++)
		usleep(10000);
	assert_int_equal(kill(t->helper, 0), -1);
	return st;
}

/* Waits until the daemon's event loop thread sits in poll(): the wait for the helper's
 * answer (the loop itself waits in epoll). Its log cannot say so: the first request
 * (the incident's trace) comes before any line about the recovery. */
static void cut_wait_busy(struct cut *t)
{
	char path[64], buf[256];

	snprintf(path, sizeof(path), "/proc/%d/syscall", (int)t->p.pid);
	for (uint64_t end = h_now_ms() + H_TIMEOUT_MS; h_now_ms() < end; usleep(20000)) {
		h_slurp_file(path, buf, sizeof(buf));
		long nr = strtol(buf, NULL, 10);
#ifdef SYS_poll
		if (nr == SYS_poll)
			return;
#endif
		if (nr == SYS_ppoll)
			return;
	}
	fail_msg("the daemon never waited for its helper");
}

static void cut_free(struct cut *t)
{
	tclient_close(&t->c);
	fake_m7_close(&t->m);
	h_cleanup(&t->p);
}

/* SIGTERM while the daemon waits for its helper's answer to the recovery's first request
 * (the incident's trace; the remoteproc stop comes next). The stop must not wait the
 * request out (PRIVSEP_CALL_MS): it gives up on it at once, sends no further one, says
 * what it left undone, writes the open incident as interrupted with the step still running,
 * and the helper wait (PRIVSEP_STOP_MS) bounds the rest. */
static void test_sigterm_during_helper_request(void **state)
{
	struct cut t;
	char path[600], inc[8192];
	static char log[1 << 20];

	(void)state;
	cut_start(&t);
	assert_int_equal(tclient_send(&t.c, "{\"cmd\":\"recover\",\"channel\":\"m7\","
					    "\"action\":\"remoteproc\"}"),
			 0);
	cut_wait_busy(&t);
	assert_int_equal(cut_end(&t, true, PRIVSEP_STOP_MS + 1500), 0);

	h_slurp_file(t.p.log, log, sizeof(log));
	assert_non_null(strstr(log, "remoteproc stop: left undone: the daemon is stopping"));
	/* The ladder went no further: no hook, no failed ladder. */
	assert_null(strstr(log, "command hook"));
	snprintf(path, sizeof(path), "%s/inc/incident-000001-m7.json", t.p.dir);
	h_slurp_file(path, inc, sizeof(inc));
	assert_non_null(strstr(inc, "\"outcome\":\"interrupted\""));
	assert_non_null(strstr(inc, "\"action\":\"remoteproc\",\"result\":\"running\""));
	cut_free(&t);
}

/* The helper dies (killed) while the daemon waits for its answer in a reload. The daemon
 * stops with status 1 to be started again with a new helper; until then nothing it asks
 * for can be done, so the reload is not walked to its end on errors: it stays
 * interrupted, and its record stays for the next start to roll back. */
static void test_helper_dies_during_reload(void **state)
{
	struct cut t;
	char path[600], text[8192];
	static char log[1 << 20];

	(void)state;
	cut_start(&t);
	assert_int_equal(tclient_send(&t.c, "{\"cmd\":\"reload\",\"channel\":\"m7\","
					    "\"firmware\":\"app-2.elf\",\"no_rollback\":false}"),
			 0);
	cut_wait_busy(&t);
	assert_int_equal(cut_end(&t, false, PRIVSEP_STOP_MS + 3000), 1);

	h_slurp_file(t.p.log, log, sizeof(log));
	assert_non_null(strstr(log, "the privileged helper was killed by signal 9"));
	snprintf(path, sizeof(path), "%s/state/firmware-reload-m7", t.p.dir);
	h_slurp_file(path, text, sizeof(text));
	assert_non_null(strstr(text, "app-2.elf"));
	snprintf(path, sizeof(path), "%s/inc/incident-000001-m7.json", t.p.dir);
	h_slurp_file(path, text, sizeof(text));
	assert_non_null(strstr(text, "\"outcome\":\"interrupted\""));
	assert_null(strstr(text, "\"action\":\"rollback\""));
	cut_free(&t);
}

/* Waits until the daemon sleeps between its looks at the helper at the end of the stop
 * (privsep_free(): its only sleep; the event loop waits in epoll, a call in poll). */
static void wait_stop_sleeps(pid_t pid)
{
	char path[64], buf[256];

	snprintf(path, sizeof(path), "/proc/%d/syscall", (int)pid);
	for (uint64_t end = h_now_ms() + H_TIMEOUT_MS; h_now_ms() < end; usleep(5000)) {
		h_slurp_file(path, buf, sizeof(buf));
		long nr = strtol(buf, NULL, 10);
		if (nr == SYS_clock_nanosleep)
			return;
#ifdef SYS_nanosleep
		if (nr == SYS_nanosleep)
			return;
#endif
	}
	fail_msg("the daemon never waited for its helper at the stop");
}

/* A SIGHUP during the stop (here while it waits for the stuck helper) neither reloads
 * nor ends the daemon by its default action: it still leaves with status 0. */
static void test_sighup_during_stop(void **state)
{
	struct cut t;
	static char log[1 << 20];
	int st = -1;

	(void)state;
	cut_start(&t);
	assert_int_equal(kill(t.p.pid, SIGTERM), 0);
	wait_stop_sleeps(t.p.pid);
	assert_int_equal(kill(t.p.pid, SIGHUP), 0);
	for (uint64_t end = h_now_ms() + H_TIMEOUT_MS; h_now_ms() < end; usleep(10000))
		if (waitpid(t.p.pid, &st, WNOHANG) == t.p.pid) {
			t.p.pid = 0;
			break;
		}
	assert_int_equal(t.p.pid, 0);
	h_slurp_file(t.p.log, log, sizeof(log));
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("the daemon ended with %s %d", WIFEXITED(st) ? "status" : "signal",
			 WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	assert_non_null(strstr(log, "SIGTERM: shutting down"));
	assert_null(strstr(log, "SIGHUP"));
	cut_free(&t);
}

/* A SIGHUP and a SIGTERM that reach the daemon together (here held while it is
 * stopped): the stop goes first, not after a reload that would wait PRIVSEP_CALL_MS for
 * the stuck helper's answer to its RELOAD. */
static void test_sigterm_with_sighup(void **state)
{
	struct cut t;
	static char log[1 << 20];
	int st = -1;

	(void)state;
	cut_start(&t);
	uint64_t t0 = h_now_ms();
	assert_int_equal(kill(t.p.pid, SIGSTOP), 0);
	assert_int_equal(kill(t.p.pid, SIGHUP), 0);
	assert_int_equal(kill(t.p.pid, SIGTERM), 0);
	assert_int_equal(kill(t.p.pid, SIGCONT), 0);
	for (uint64_t end = t0 + H_TIMEOUT_MS; h_now_ms() < end; usleep(10000))
		if (waitpid(t.p.pid, &st, WNOHANG) == t.p.pid) {
			t.p.pid = 0;
			break;
		}
	uint64_t took = h_now_ms() - t0;
	print_message("the daemon left %llu ms after the SIGHUP and SIGTERM\n",
		      (unsigned long long)took);
	assert_int_equal(t.p.pid, 0);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_true(took < PRIVSEP_STOP_MS + 1500);
	h_slurp_file(t.p.log, log, sizeof(log));
	assert_non_null(strstr(log, "SIGTERM: shutting down"));
	cut_free(&t);
}

/* A wait for the helper holds the event loop, and with it the watchdog timer; a turn of
 * the loop may wait several times (a remoteproc step's stop, then its start), each up to
 * PRIVSEP_CALL_MS. Each wait must begin with a WATCHDOG=1, or waits that add up, after a
 * timer ping long ago, outlast WatchdogSec. The timer here is an hour: every ping seen
 * comes from a wait. */
static void test_watchdog_ping_before_helper_wait(void **state)
{
	struct cut t;
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	char dir[] = "/tmp/m7b-wd-XXXXXX", buf[512];
	int fd, pings = 0;
	ssize_t r;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(a.sun_path, sizeof(a.sun_path), "%s/notify", dir);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	setenv("NOTIFY_SOCKET", a.sun_path, 1);
	setenv("WATCHDOG_USEC", "3600000000", 1);
	cut_start(&t);
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	while ((r = recv(fd, buf, sizeof(buf) - 1, 0)) > 0) /* READY=1 and the start's */
		pings += r == 10 && memcmp(buf, "WATCHDOG=1", 10) == 0;
	assert_int_equal(pings, 0);
	assert_int_equal(tclient_send(&t.c, "{\"cmd\":\"recover\",\"channel\":\"m7\","
					    "\"action\":\"remoteproc\"}"),
			 0);
	cut_wait_busy(&t);
	while ((r = recv(fd, buf, sizeof(buf) - 1, 0)) > 0)
		pings += r == 10 && memcmp(buf, "WATCHDOG=1", 10) == 0;
	assert_int_equal(cut_end(&t, true, PRIVSEP_STOP_MS + 1500), 0);
	close(fd);
	unlink(a.sun_path);
	rmdir(dir);
	cut_free(&t);
	assert_true(pings >= 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_free_with_helper_stuck_in_sysfs),
		cmocka_unit_test(test_sigterm_during_helper_request),
		cmocka_unit_test(test_helper_dies_during_reload),
		cmocka_unit_test(test_sighup_during_stop),
		cmocka_unit_test(test_sigterm_with_sighup),
		cmocka_unit_test(test_watchdog_ping_before_helper_wait),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
