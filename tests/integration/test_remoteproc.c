/* Tests for daemon/remoteproc.c against a fake sysfs tree in a temp dir, and for
 * daemon/child.c (commands reaped from the event loop). */
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
#include <event2/event.h>
#include <cmocka.h>

#include "remoteproc.h"
#include "child.h"

static char root[64];

static void put(const char *rel, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void get(const char *rel, char *buf, size_t size)
{
	char path[256];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(buf, 1, size - 1, f);
	buf[n] = '\0';
	fclose(f);
}

static void mk(const char *rel)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	assert_int_equal(mkdir(path, 0755), 0);
}

static int setup(void **state)
{
	char path[256];

	(void)state;
	strcpy(root, "/tmp/m7b-rproc-XXXXXX");
	if (!mkdtemp(root))
		return -1;
	mk("class");
	mk("class/remoteproc");
	mk("class/remoteproc/remoteproc0");
	mk("class/remoteproc/remoteproc1");
	mk("platform");
	mk("platform/imx8mp-cm7");
	put("class/remoteproc/remoteproc0/name", "imx-dsp-rproc\n");
	put("class/remoteproc/remoteproc0/state", "offline\n");
	put("class/remoteproc/remoteproc1/name", "imx-rproc\n");
	put("class/remoteproc/remoteproc1/state", "running\n");
	put("class/remoteproc/remoteproc1/firmware", "old.elf\n");
	snprintf(path, sizeof(path), "%s/class/remoteproc/remoteproc1/device", root);
	assert_int_equal(symlink("../../../platform/imx8mp-cm7", path), 0);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_open(void **state)
{
	struct remoteproc *r;

	(void)state;
	assert_int_equal(remoteproc_open(root, "imx-rproc", &r), 0);
	assert_string_equal(r->instance, "remoteproc1");
	assert_string_equal(r->name, "imx-rproc");
	assert_string_equal(r->device, "imx8mp-cm7");
	r = remoteproc_free(r);
	assert_null(r);
	assert_int_equal(remoteproc_open(root, "remoteproc0", &r), 0);
	assert_string_equal(r->name, "imx-dsp-rproc");
	assert_string_equal(r->device, "");
	remoteproc_free(r);
	assert_int_equal(remoteproc_open(root, "nope", &r), -ENOENT);
	assert_null(r);
	assert_int_equal(remoteproc_open(root, "../x", &r), -EINVAL);
	assert_int_equal(remoteproc_open(root, "", &r), -EINVAL);
	assert_int_equal(remoteproc_open("/nonexistent-m7b", "imx-rproc", &r), -ENOENT);
	assert_null(remoteproc_free(NULL));
}

static void test_stop_start(void **state)
{
	struct remoteproc *r;
	enum remoteproc_state st;
	char buf[64];

	(void)state;
	assert_int_equal(remoteproc_open(root, "imx-rproc", &r), 0);
	assert_int_equal(remoteproc_get_state(r, &st), 0);
	assert_int_equal(st, REMOTEPROC_RUNNING);
	/* running: "start" is a no-op, "stop" is written */
	assert_int_equal(remoteproc_start(r), 0);
	get("class/remoteproc/remoteproc1/state", buf, sizeof(buf));
	assert_string_equal(buf, "running\n");
	assert_int_equal(remoteproc_stop(r), 0);
	get("class/remoteproc/remoteproc1/state", buf, sizeof(buf));
	assert_string_equal(buf, "stop");
	/* the fake kernel has not acted yet: state unknown */
	assert_int_equal(remoteproc_get_state(r, &st), 0);
	assert_int_equal(st, REMOTEPROC_UNKNOWN);
	put("class/remoteproc/remoteproc1/state", "offline\n");
	assert_int_equal(remoteproc_stop(r), 0);
	get("class/remoteproc/remoteproc1/state", buf, sizeof(buf));
	assert_string_equal(buf, "offline\n");
	assert_int_equal(remoteproc_start(r), 0);
	get("class/remoteproc/remoteproc1/state", buf, sizeof(buf));
	assert_string_equal(buf, "start");
	put("class/remoteproc/remoteproc1/state", "attached\n");
	assert_int_equal(remoteproc_start(r), 0);
	get("class/remoteproc/remoteproc1/state", buf, sizeof(buf));
	assert_string_equal(buf, "attached\n");
	remoteproc_free(r);
}

static void test_firmware(void **state)
{
	struct remoteproc *r;
	char buf[64];

	(void)state;
	assert_int_equal(remoteproc_open(root, "imx-rproc", &r), 0);
	assert_int_equal(remoteproc_get_firmware(r, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "old.elf");
	assert_int_equal(remoteproc_set_firmware(r, "new.elf"), 0);
	assert_int_equal(remoteproc_get_firmware(r, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "new.elf");
	assert_int_equal(remoteproc_set_firmware(r, "../../etc/passwd"), -EINVAL);
	assert_int_equal(remoteproc_set_firmware(r, ""), -EINVAL);
	assert_int_equal(remoteproc_get_firmware(r, buf, 0), -EINVAL);
	remoteproc_free(r);
	/* no firmware attribute */
	assert_int_equal(remoteproc_open(root, "remoteproc0", &r), 0);
	assert_int_equal(remoteproc_get_firmware(r, buf, sizeof(buf)), -ENOENT);
	remoteproc_free(r);
}

static void test_state_strings(void **state)
{
	int i;

	(void)state;
	for (i = 0; i < REMOTEPROC_UNKNOWN; i++)
		assert_int_equal(remoteproc_state_from_string(remoteproc_state_to_string(i)), i);
	assert_int_equal(remoteproc_state_from_string("running\n"), REMOTEPROC_RUNNING);
	assert_int_equal(remoteproc_state_from_string("runningx"), REMOTEPROC_UNKNOWN);
	assert_int_equal(remoteproc_state_from_string(""), REMOTEPROC_UNKNOWN);
	assert_int_equal(remoteproc_state_from_string(NULL), REMOTEPROC_UNKNOWN);
	assert_string_equal(remoteproc_state_to_string(99), "unknown");
}

/* child: results arrive through the event loop. */
struct done {
	int calls;
	int status;
	struct event_base *base;
};

static void on_done(void *arg, int status)
{
	struct done *d = arg;

	d->calls++;
	d->status = status;
	event_base_loopbreak(d->base);
}

static int run_cmd(const char *cmd, char *const env[])
{
	struct event_base *base = event_base_new();
	struct done d = {0, 0, base};
	struct timeval guard = {60, 0};
	struct child *s;

	assert_non_null(base);
	assert_int_equal(child_shell(base, cmd, env, on_done, &d, &s), 0);
	assert_true(child_pid(s) > 0);
	event_base_loopexit(base, &guard);
	event_base_dispatch(base);
	assert_int_equal(d.calls, 1);
	child_free(s);
	event_base_free(base);
	return d.status;
}

static void test_child_status(void **state)
{
	char v1[] = "M7B_TEST_VAR=hello", v2[] = "PATH=/usr/bin:/bin";
	char *env[] = {v1, v2, NULL};

	(void)state;
	assert_int_equal(run_cmd("exit 0", NULL), 0);
	assert_int_equal(run_cmd("exit 3", NULL), 3);
	assert_int_equal(run_cmd("test \"$M7B_TEST_VAR\" = hello", env), 0);
	assert_int_equal(run_cmd("test \"$M7B_TEST_VAR\" = hello", NULL), 1);
	assert_int_equal(run_cmd("kill -TERM $$", NULL), -SIGTERM);
	/* stdin is /dev/null: a command reading it ends at once */
	assert_int_equal(run_cmd("cat >/dev/null", NULL), 0);
}

static void test_child_kill(void **state)
{
	struct event_base *base = event_base_new();
	struct done d = {0, 0, base};
	struct child *s;
	pid_t pid;
	struct timespec t0, t1;

	(void)state;
	assert_int_equal(child_shell(base, "sleep 30 & sleep 30; wait", NULL, on_done, &d, &s), 0);
	pid = child_pid(s);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	s = child_free(s); /* kills the group and reaps the shell */
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_null(s);
	assert_int_equal(d.calls, 0);
	assert_int_equal(kill(pid, 0), -1);
	assert_int_equal(errno, ESRCH);
	assert_true(t1.tv_sec - t0.tv_sec < 20);
	assert_int_equal(child_shell(base, "", NULL, on_done, &d, &s), -EINVAL);
	assert_int_equal(child_shell(base, NULL, NULL, on_done, &d, &s), -EINVAL);
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_start, setup, teardown),
		cmocka_unit_test_setup_teardown(test_firmware, setup, teardown),
		cmocka_unit_test(test_state_strings),
		cmocka_unit_test(test_child_status),
		cmocka_unit_test(test_child_kill),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
