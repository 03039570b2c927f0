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
	struct fake_m7 m; /* the fake M7 of the round-trip tests (master -1: none) */
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
	if (f->m.master >= 0)
		fake_m7_close(&f->m);
	h_reap(&f->sim);
	h_cleanup(&f->p);
	free(f);
	return st == 0 ? 0 : -1;
}

static int setup_with(void **state, const char *const *sources)
{
	struct fx *f = calloc(1, sizeof(*f));
	const char *root = getenv("M7B_BUILD_ROOT");
	char sim[400], log[400], conf[600];

	*state = NULL;
	if (f)
		f->m.master = -1;
	if (!f || h_tmpdir(&f->p) < 0) {
		free(f);
		return -1;
	}
	*state = f;
	snprintf(sim, sizeof(sim), "%s/firmware/m7sim", root ? root : ".");
	snprintf(f->link, sizeof(f->link), "%s/ttyRPMSG30", f->p.dir);
	snprintf(log, sizeof(log), "%s/m7sim.log", f->p.dir);
	const char *argv[16] = {sim, "--link", f->link, "--heartbeat-ms", "200", "--tick-host"};
	size_t n = 6;
	for (; *sources && n + 3 < sizeof(argv) / sizeof(argv[0]); sources++) {
		argv[n++] = "--source";
		argv[n++] = *sources;
	}
	f->sim = h_spawn(argv, -1, log);
	for (int i = 0; i < 2000 && access(f->link, F_OK) != 0; i++)
		usleep(5000);
	if (access(f->link, F_OK) != 0)
		return -1;
	snprintf(conf, sizeof(conf), "[channel m7]\ndevice = %s\n", f->link);
	return daemon_proc_start(&f->p, conf) < 0 ? -1 : 0;
}

static int setup(void **state)
{
	static const char *const sources[] = {"0:rate=20,size=8", NULL};
	return setup_with(state, sources);
}

/* Two UARTs busy with bytes: m7sim's clock holds at a byte not yet delivered. */
static int setup_busy(void **state)
{
	/* 64 bytes at 921600 baud take 0.7 ms of the 5 ms period: separate captures. */
	static const char *const sources[] = {"0:rate=200,size=64,baud=921600",
					      "1:rate=100,size=32", NULL};
	return setup_with(state, sources);
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

/* Reported flaw: with its UARTs busy, m7sim stamped a SYNC's arrival with its clock held
 * at a byte that fell due while it slept in poll(), up to a millisecond before the SYNC
 * was even sent; the daemon's check of the host clock then rightly refused the source
 * (and round trips refused those exchanges as impossible). The source holds: every
 * reply maps inside its round trip, and every frame after the first is mapped. */
static void test_busy_sim_keeps_host_source(void **state)
{
	struct fx *f = *state;
	struct tclient c;
	cJSON *o;
	int frames = 0;
	uint64_t end = h_now_ms() + 4000;

	assert_int_equal(tclient_open(&c, f->p.sock,
				      "{\"cmd\":\"watch\",\"classes\":[\"FRAME\",\"CLOCK\"]}"),
			 0);
	while (h_now_ms() < end && (o = tclient_obj(&c, WAIT_MS)) != NULL) {
		const char *cls = j_str(o, "class");
		if (cls && strcmp(cls, "CLOCK") == 0 && j_str(o, "source"))
			assert_string_equal(j_str(o, "source"), "host");
		if (cls && strcmp(cls, "FRAME") == 0) {
			/* The first may precede BOOT_INFO; none after it goes unmapped. */
			if (frames++ > 0)
				assert_non_null(cJSON_GetObjectItem(o, "t_first_mono_ns"));
		}
		cJSON_Delete(o);
	}
	assert_true(frames > 500);
	assert_int_equal(tclient_send(&c, "{\"cmd\":\"status\"}"), 0);
	o = tclient_wait(&c, "STATUS", WAIT_MS);
	assert_non_null(o);
	cJSON *clock = cJSON_GetObjectItem(
		cJSON_GetArrayItem(cJSON_GetObjectItem(o, "channels"), 0), "clock");
	assert_string_equal(j_str(clock, "source"), "host");
	cJSON_Delete(o);
	tclient_close(&c);
}

/* The fake M7 of the harness (it answers SYNC with its 8 MHz clock), no BOOT_INFO: the
 * ticks are mapped from round trips. */
static int setup_sync(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char conf[600];

	*state = NULL;
	if (!f)
		return -1;
	f->m.master = -1;
	if (h_tmpdir(&f->p) < 0) {
		free(f);
		return -1;
	}
	*state = f;
	snprintf(f->link, sizeof(f->link), "%s/ttyRPMSG30", f->p.dir);
	if (fake_m7_open(&f->m, f->link) < 0)
		return -1;
	snprintf(conf, sizeof(conf), "[channel m7]\ndevice = %s\n", f->link);
	if (daemon_proc_start(&f->p, conf) < 0)
		return -1;
	return fake_m7_handshake(&f->m, 0xC10C, 8) < 0 ? -1 : 0;
}

/* The next FRAME of port 0 after sending a capture at tick t; the CLOCK objects before it
 * counted in *unmapped (those with mapped false) and the epochs of the last in *epochs. */
static cJSON *frame_at(struct fx *f, struct tclient *c, uint64_t t, int *unmapped, double *epochs)
{
	cJSON *o;

	assert_int_equal(fake_m7_data(&f->m, 0, 0, t, t, "x", 1), 0);
	while ((o = tclient_obj(c, WAIT_MS)) != NULL) {
		const char *cls = j_str(o, "class");
		if (cls && strcmp(cls, "FRAME") == 0)
			return o;
		if (cls && strcmp(cls, "CLOCK") == 0) {
			*unmapped += !cJSON_IsTrue(cJSON_GetObjectItem(o, "mapped"));
			*epochs = j_num(o, "epochs");
		}
		cJSON_Delete(o);
	}
	return NULL;
}

/* Reported flaw: the DATA frame whose capture start went back (the M7 restarted and its
 * HELLO was lost) was itself mapped with the old boot's fit, a time seconds off with a
 * bound of microseconds; only the frames after it went out unmapped. */
static void test_restart_seen_in_data_maps_no_frame_with_old_fit(void **state)
{
	struct fx *f = *state;
	struct tclient c;
	cJSON *o = NULL;
	int unmapped = 0;
	double epochs = -1;

	assert_int_equal(tclient_open(&c, f->p.sock,
				      "{\"cmd\":\"watch\",\"classes\":[\"FRAME\",\"CLOCK\"]}"),
			 0);
	/* Captures in order until they are mapped (a SYNC exchange: milliseconds). */
	for (int i = 0; i < 200; i++) {
		o = frame_at(f, &c, fake_m7_ticks(), &unmapped, &epochs);
		assert_non_null(o);
		if (cJSON_GetObjectItem(o, "t_first_mono_ns"))
			break;
		cJSON_Delete(o);
		o = NULL;
		usleep(10000);
	}
	assert_non_null(o);
	cJSON_Delete(o);
	/* A new boot's capture: its ticks 5 s behind the last one's, well inside the old
	 * fit's range. */
	uint64_t back = fake_m7_ticks() - 5u * 8000000u;
	unmapped = 0;
	o = frame_at(f, &c, back, &unmapped, &epochs);
	assert_non_null(o);
	assert_true(j_num(o, "t_first") == (double)back);
	assert_null(cJSON_GetObjectItem(o, "t_first_mono_ns"));
	assert_null(cJSON_GetObjectItem(o, "t_first_ns"));
	assert_null(cJSON_GetObjectItem(o, "t_err_ns"));
	cJSON_Delete(o);
	/* And CLOCK said so first: a new epoch, unmapped. */
	assert_int_equal(unmapped, 1);
	assert_true(epochs == 1);
	tclient_close(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_host_clock_source, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy_sim_keeps_host_source, setup_busy,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_restart_seen_in_data_maps_no_frame_with_old_fit, setup_sync, teardown),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
