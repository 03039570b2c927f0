/* Stopping the daemon stays prompt whatever its parts are doing: the privileged helper
 * stuck in a remoteproc write (daemon/privsep.c). */
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
#include <cmocka.h>

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
 * driver stuck on a hung M7): the helper blocks in it for good. privsep_free() must still
 * return within PRIVSEP_STOP_MS (plus scheduling slack), not wait for the helper. */
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
	alarm(PRIVSEP_CALL_MS / 1000 + 10);
	privsep_msg_init(&m, PRIVSEP_RPROC_STOP, "m7", NULL);
	assert_int_equal(privsep_call(ps, &m), -ETIMEDOUT);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_free_with_helper_stuck_in_sysfs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
