/* The daemon with m7sim as the M7: m7sim's BOOT_INFO says its ticks are the host's
 * CLOCK_MONOTONIC, so frames are mapped through that clock at once, with a one-tick bound,
 * and the mapped times agree with when the client saw them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "daemon_harness.h"

#define WAIT_MS 20000

struct fx {
	struct daemon_proc p;
	char link[300];
	pid_t sim;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	int st;

	if (!f)
		return 0;
	st = daemon_proc_stop(&f->p);
	h_reap(&f->sim);
	h_cleanup(&f->p);
	free(f);
	return st == 0 ? 0 : -1;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	const char *root = getenv("M7B_BUILD_ROOT");
	char sim[400], log[400], conf[600];

	*state = NULL;
	if (!f || h_tmpdir(&f->p) < 0) {
		free(f);
		return -1;
	}
	*state = f;
	snprintf(sim, sizeof(sim), "%s/firmware/m7sim", root ? root : ".");
	snprintf(f->link, sizeof(f->link), "%s/ttyRPMSG30", f->p.dir);
	snprintf(log, sizeof(log), "%s/m7sim.log", f->p.dir);
	const char *argv[] = {sim,   "--link",	    f->link,	"--heartbeat-ms",
			      "200", "--tick-host", "--source", "0:rate=20,size=8",
			      NULL};
	f->sim = h_spawn(argv, -1, log);
	for (int i = 0; i < 2000 && access(f->link, F_OK) != 0; i++)
		usleep(5000);
	if (access(f->link, F_OK) != 0)
		return -1;
	snprintf(conf, sizeof(conf), "[channel m7]\ndevice = %s\n", f->link);
	return daemon_proc_start(&f->p, conf) < 0 ? -1 : 0;
}

static void test_host_clock_source(void **state)
{
	struct fx *f = *state;
	struct tclient c;
	cJSON *o;
	int mapped = 0;
	double worst_err = 0, worst_late = 0;

	assert_int_equal(tclient_open(&c, f->p.sock,
				      "{\"cmd\":\"watch\",\"classes\":[\"FRAME\",\"CLOCK\"]}"),
			 0);
	while (mapped < 20) {
		o = tclient_wait(&c, "FRAME", WAIT_MS);
		assert_non_null(o);
		uint64_t now = mono_ns();
		/* Every frame after the first mapped one is mapped: no round trips needed. */
		if (!mapped && !cJSON_GetObjectItem(o, "t_last_mono_ns")) {
			cJSON_Delete(o);
			continue;
		}
		assert_non_null(cJSON_GetObjectItem(o, "t_last_mono_ns"));
		double last = j_num(o, "t_last_mono_ns"), err = j_num(o, "t_err_ns");
		double ticks = j_num(o, "t_last");
		/* 8 MHz: one tick is 125 ns; the REALTIME reading adds its own bracket. */
		assert_true(err >= 125 && err < 20000);
		/* Exactly the tick count on the host clock, and not after it reached us. */
		assert_true(last > ticks * 125.0 - 1000 && last < ticks * 125.0 + 1000);
		assert_true(last <= (double)now + err);
		assert_true((double)now - last < 1e9);
		if (err > worst_err)
			worst_err = err;
		if ((double)now - last > worst_late)
			worst_late = (double)now - last;
		mapped++;
		cJSON_Delete(o);
	}
	print_message("%d frames mapped through the host clock: t_err_ns <= %.0f, seen %.3f ms "
		      "after the last byte at most\n",
		      mapped, worst_err, worst_late / 1e6);
	assert_int_equal(tclient_send(&c, "{\"cmd\":\"status\"}"), 0);
	o = tclient_wait(&c, "STATUS", WAIT_MS);
	assert_non_null(o);
	cJSON *clock = cJSON_GetObjectItem(
		cJSON_GetArrayItem(cJSON_GetObjectItem(o, "channels"), 0), "clock");
	assert_string_equal(j_str(clock, "source"), "host");
	cJSON_Delete(o);
	tclient_close(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_host_clock_source, setup, teardown),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
