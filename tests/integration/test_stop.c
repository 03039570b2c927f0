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
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
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
 * driver stuck on a hung M7): the helper blocks in it for good. Later requests must not
 * each wait PRIVSEP_CALL_MS behind it, and privsep_free() must still return within
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
	alarm(3 * PRIVSEP_CALL_MS / 1000 + 10);
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
	uint64_t t0 = now_ms();
	privsep_free(ps);
	uint64_t took = now_ms() - t0;
	alarm(0);
	assert_true(took < PRIVSEP_STOP_MS + 1000);

	/* The helper is left stuck: it dies with this process (PR_SET_PDEATHSIG). */
	conf_free(cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d);
	assert_int_equal(system(cmd), 0);
}

/* The helper of daemon pid: its child named m7bridged-priv; 0 if none. */
static pid_t helper_of(pid_t daemon)
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

/* SIGTERM while the daemon waits for its helper's answer (a remoteproc stop that does not
 * return, as on a hung M7: here the helper is stopped with SIGSTOP). The stop must not
 * wait the request out (PRIVSEP_CALL_MS): it gives up on it at once, says what it left
 * undone, writes the open incident as interrupted with the step still running, and the
 * helper wait (PRIVSEP_STOP_MS) bounds the rest. */
static void test_sigterm_during_helper_request(void **state)
{
	struct daemon_proc p = {0};
	struct fake_m7 m = {.master = -1};
	struct tclient c = {.fd = -1};
	struct passwd *pw = getpwuid(geteuid());
	char conf[2048], link[300], path[600];
	static char log[1 << 20];

	(void)state;
	assert_non_null(pw);
	assert_int_equal(h_tmpdir(&p), 0);
	assert_int_equal(
		h_fake_rproc_tree(p.dir, "m7_app.elf\n", (const char *const[]){"inc", NULL}), 0);
	snprintf(path, sizeof(path), "%s/inc", p.dir);
	assert_int_equal(chmod(path, 0700), 0);
	snprintf(link, sizeof(link), "%s/ttyRPMSG30", p.dir);
	assert_int_equal(fake_m7_open(&m, link), 0);
	snprintf(conf, sizeof(conf),
		 "kernel_log = off\nsysfs_root = %s/sys\nincident_dir = %s/inc\n"
		 "allow_uids = %u\nuser = %s\n%s"
		 "[channel m7]\ndevice = %s\nremoteproc = imx-rproc\nrecovery_steps = "
		 "remoteproc,hook\nhook = true\nliveness_quiet_ms = 0\n",
		 p.dir, p.dir, (unsigned)getuid(), pw->pw_name,
		 pw->pw_uid == 0 ? "allow_root_user = true\n" : "", link);
	assert_int_equal(daemon_proc_start(&p, conf), 0);
	assert_int_equal(fake_m7_handshake(&m, 7, 16), 0);
	pid_t helper = 0;
	for (int i = 0; i < 250 && !(helper = helper_of(p.pid)); i++)
		usleep(20000);
	assert_true(helper > 0);
	assert_int_equal(tclient_open(&c, p.sock, "{\"cmd\":\"watch\"}"), 0);
	cJSON *o = tclient_wait_str(&c, "STATE", "state", "up", H_TIMEOUT_MS);
	assert_non_null(o);
	cJSON_Delete(o);

	/* The helper takes the request and never answers. */
	assert_int_equal(kill(helper, SIGSTOP), 0);
	assert_int_equal(tclient_send(&c, "{\"cmd\":\"recover\",\"channel\":\"m7\","
					  "\"action\":\"remoteproc\"}"),
			 0);
	usleep(500000); /* the daemon is inside the call now */
	uint64_t t0 = h_now_ms();
	int st = daemon_proc_stop(&p);
	uint64_t took = h_now_ms() - t0;
	print_message("stop during a helper request: %llu ms\n", (unsigned long long)took);
	h_show_log_if(&p, st);
	assert_int_equal(st, 0);
	assert_true(took < PRIVSEP_STOP_MS + 1500);
	/* The helper died with the daemon (PR_SET_PDEATHSIG), stopped as it was. */
	for (int i = 0; i < 200 && kill(helper, 0) == 0; i++)
		usleep(10000);
	assert_int_equal(kill(helper, 0), -1);

	h_slurp_file(p.log, log, sizeof(log));
	assert_non_null(strstr(log, "remoteproc stop: left undone: the daemon is stopping"));
	/* The ladder went no further: no hook, no failed ladder. */
	assert_null(strstr(log, "command hook"));
	snprintf(path, sizeof(path), "%s/inc/incident-000001-m7.json", p.dir);
	char inc[8192];
	h_slurp_file(path, inc, sizeof(inc));
	assert_non_null(strstr(inc, "\"outcome\":\"interrupted\""));
	assert_non_null(strstr(inc, "\"action\":\"remoteproc\",\"result\":\"running\""));

	tclient_close(&c);
	fake_m7_close(&m);
	h_cleanup(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_free_with_helper_stuck_in_sysfs),
		cmocka_unit_test(test_sigterm_during_helper_request),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
