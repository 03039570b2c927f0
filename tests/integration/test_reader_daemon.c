/* The daemon's ttys read where no reader thread can be used (another event backend, no
 * /proc/self/fd): from the loop, and it says so; and a device node that goes away under a
 * flood while its reader holds a read: that read is handled, not dropped. A daemon
 * process with a fake M7 on a pty and a watching client. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon_harness.h"

/* The daemon, its fake M7 and a watching client. */
struct dfx {
	struct daemon_proc p;
	struct fake_m7 m;
	char link[256];
	struct tclient c;
};

static const char *dconf(const struct dfx *f)
{
	static char conf[512];
	snprintf(conf, sizeof(conf), "[channel m7]\ndevice = %s\n", f->link);
	return conf;
}

static void dfx_init(struct dfx *f)
{
	memset(f, 0, sizeof(*f));
	f->m.master = -1;
	f->c.fd = -1;
	assert_int_equal(h_tmpdir(&f->p), 0);
	snprintf(f->link, sizeof(f->link), "%s/ttyRPMSG30", f->p.dir);
	assert_int_equal(fake_m7_open(&f->m, f->link), 0);
}

/* Frames reach a watching client, whichever way the tty is read. */
static void dfx_frames_flow(struct dfx *f)
{
	assert_int_equal(tclient_open(&f->c, f->p.sock, "{\"cmd\":\"watch\"}"), 0);
	assert_int_equal(fake_m7_handshake(&f->m, 0x5EED, 8), 0);
	for (int i = 0; i < 20; i++) {
		uint8_t b = (uint8_t)i;
		assert_int_equal(fake_m7_data(&f->m, 1, 0, 1000u * i, 1000u * i + 9, &b, 1), 0);
	}
	for (int i = 0; i < 20; i++) {
		cJSON *o = tclient_wait(&f->c, "FRAME", H_TIMEOUT_MS);
		assert_non_null(o);
		assert_true(j_num(o, "t_first") == 1000.0 * i);
		cJSON_Delete(o);
	}
}

static void dfx_done(struct dfx *f, const char *want_in_log)
{
	tclient_close(&f->c);
	int st = daemon_proc_stop(&f->p);
	fake_m7_close(&f->m);
	char log[65536];
	h_slurp_file(f->p.log, log, sizeof(log));
	h_show_log_if(&f->p, st);
	h_cleanup(&f->p);
	assert_int_equal(st, 0);
	if (!strstr(log, want_in_log))
		fail_msg("not in the daemon's log: %s", want_in_log);
}

/* Another event backend: libevent's wait is not the lock's, so no reader threads. */
static void test_daemon_other_backend(void **state)
{
	(void)state;
	struct dfx f;
	dfx_init(&f);
	setenv("EVENT_NOEPOLL", "1", 1); /* libevent's own switch, inherited by the daemon */
	int r = daemon_proc_start(&f.p, dconf(&f));
	unsetenv("EVENT_NOEPOLL");
	assert_int_equal(r, 0);
	dfx_frames_flow(&f);
	dfx_done(&f, "the ttys are read by the event loop");
}

/* No /proc/self/fd (an empty one over it in a mount namespace, as when /proc is not
 * mounted, while the rest of /proc stays for whatever else needs it): the reader thread's
 * second open of the tty fails, the channel is read from the loop, and the log says so,
 * beside the daemon's line that threads read the ttys. */
static void test_daemon_without_proc(void **state)
{
	(void)state;
	struct dfx f;
	dfx_init(&f);
	assert_int_equal(daemon_proc_write_conf(&f.p, dconf(&f)), 0);
	int ready[2];
	assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char ok = unshare(CLONE_NEWNS) == 0 &&
					  mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
					  mount("none", "/proc/self/fd", "tmpfs", 0, NULL) == 0
				  ? 1
				  : 0;
		(void)!write(ready[1], &ok, 1);
		if (!ok)
			_exit(77);
		int fd = open(f.p.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd >= 0)
			dup2(fd, 2);
		execl(h_daemon_path(), "m7bridged", "-f", "-c", f.p.conf, (char *)NULL);
		_exit(127);
	}
	close(ready[1]);
	char ok = 0;
	(void)!read(ready[0], &ok, 1);
	close(ready[0]);
	if (!ok) {
		waitpid(pid, NULL, 0);
		fake_m7_close(&f.m);
		h_cleanup(&f.p);
		skip(); /* not root, or no mount namespaces here */
	}
	f.p.pid = pid;
	uint64_t end = h_now_ms() + H_TIMEOUT_MS;
	while (tclient_connect(&f.c, f.p.sock) < 0 && h_now_ms() < end)
		usleep(10000);
	assert_true(f.c.fd >= 0);
	tclient_close(&f.c);
	f.c.fd = -1;
	dfx_frames_flow(&f);
	dfx_done(&f, "is read by the event loop: no reader thread");
}

static cJSON *status_channel(struct tclient *c)
{
	assert_int_equal(tclient_send(c, "{\"cmd\":\"status\"}"), 0);
	cJSON *o = tclient_wait(c, "STATUS", H_TIMEOUT_MS);
	assert_non_null(o);
	return o;
}

/* Waits until the channel's counter key is want (and, with up, the channel is up). */
static void wait_status(struct tclient *c, const char *key, double want, bool up)
{
	uint64_t end = h_now_ms() + H_TIMEOUT_MS;
	for (;;) {
		cJSON *o = status_channel(c);
		const cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "channels"), 0);
		bool ok = j_num(ch, key) == want && (!up || strcmp(j_str(ch, "state"), "up") == 0);
		cJSON_Delete(o);
		if (ok)
			return;
		assert_true(h_now_ms() < end);
		usleep(10000);
	}
}

/* The device node goes away under a flood, its tty still open and silent (the RPMSG tty
 * on channel removal): the reader thread is behind, holding a read, when the loop learns
 * of it, and that read is handled before the tty is let go, not dropped. */
static void test_daemon_node_removed_under_flood(void **state)
{
	(void)state;
	struct dfx f;
	dfx_init(&f);
	assert_int_equal(daemon_proc_start(&f.p, dconf(&f)), 0);
	assert_int_equal(tclient_open(&f.c, f.p.sock, NULL), 0);
	assert_int_equal(fake_m7_handshake(&f.m, 0x5EED, 8), 0);
	uint8_t bytes[400];
	memset(bytes, 0x5A, sizeof(bytes));
	char tmp[300];
	snprintf(tmp, sizeof(tmp), "%s.new", f.link);
	for (int i = 0; i < 6; i++) {
		wait_status(&f.c, "reopens", i, false);
		/* More than the tty holds: the writes block, the reader stays behind. */
		for (int k = 0; k < 1000; k++)
			assert_int_equal(fake_m7_data(&f.m, 1, 0, k, k, bytes, sizeof(bytes)), 0);
		assert_int_equal(unlink(f.link), 0);
		uint64_t end = h_now_ms() + H_TIMEOUT_MS;
		for (bool up = true; up; usleep(10000)) { /* open, until it lets go */
			cJSON *o = status_channel(&f.c);
			const cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "channels"), 0);
			up = strcmp(j_str(ch, "state"), "up") == 0 ||
			     strcmp(j_str(ch, "state"), "opening") == 0;
			cJSON_Delete(o);
			assert_true(h_now_ms() < end);
		}
		/* Back, the same tty. */
		assert_int_equal(symlink(f.m.slave, tmp), 0);
		assert_int_equal(rename(tmp, f.link), 0);
	}
	wait_status(&f.c, "reopens", 6, false);
	cJSON *o = status_channel(&f.c);
	const cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "channels"), 0);
	long unread = (long)j_num(ch, "unread_at_close");
	cJSON_Delete(o);
	assert_int_equal(unread, 0);
	dfx_done(&f, "device_removed");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_daemon_other_backend),
		cmocka_unit_test(test_daemon_without_proc),
		cmocka_unit_test(test_daemon_node_removed_under_flood),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	h_kill_all();
	return failed;
}
