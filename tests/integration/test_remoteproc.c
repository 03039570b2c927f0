/* Tests for daemon/remoteproc.c against a fake sysfs tree in a temp dir, and for
 * daemon/child.c (commands reaped from the event loop, their output logged). */
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

#include "m7bridge/utf8.h"
#include "remoteproc.h"
#include "child.h"
#include "hookout.h"
#include "log.h"

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

static void add_name(void *arg, const char *name)
{
	char *list = arg;

	strcat(list, name);
	strcat(list, " ");
}

/* The virtio devices a running remoteproc registered, for a daemon that starts after the
 * M7: below its vdev device, named as up to Linux 6.0 and as since 6.1. */
static void test_virtio_names(void **state)
{
	struct remoteproc *r;
	char list[256] = "";

	(void)state;
	assert_int_equal(remoteproc_open(root, "remoteproc1", &r), 0);
	assert_int_equal(remoteproc_virtio_names(r, add_name, list), 0);
	assert_string_equal(list, "");
	mk("class/remoteproc/remoteproc1/remoteproc1#vdev0buffer");
	mk("class/remoteproc/remoteproc1/remoteproc1#vdev0buffer/virtio3");
	mk("class/remoteproc/remoteproc1/remoteproc1#vdev0buffer/virtio3/virtio9");
	mk("class/remoteproc/remoteproc1/rproc-virtio.1.auto");
	mk("class/remoteproc/remoteproc1/rproc-virtio.1.auto/virtio4");
	mk("class/remoteproc/remoteproc1/rproc-virtio.1.auto/virtiox");
	mk("class/remoteproc/remoteproc1/power");
	put("class/remoteproc/remoteproc1/rproc-virtio.1.auto/virtio5", "a file\n");
	assert_int_equal(remoteproc_virtio_names(r, add_name, list), 2);
	assert_true(strcmp(list, "virtio3 virtio4 ") == 0 || strcmp(list, "virtio4 virtio3 ") == 0);
	remoteproc_free(r);
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
	/* A name that does not fit is an error, not another (cut) name; one that fits
	 * but for its newline is whole. */
	char name[100];
	memset(name, 'f', sizeof(name));
	strcpy(name + sizeof(buf) - 1, "\n");
	put("class/remoteproc/remoteproc1/firmware", name);
	assert_int_equal(remoteproc_get_firmware(r, buf, sizeof(buf)), 0);
	assert_int_equal(strlen(buf), sizeof(buf) - 1);
	strcpy(name + sizeof(buf) - 1, "x.elf\n");
	put("class/remoteproc/remoteproc1/firmware", name);
	assert_int_equal(remoteproc_get_firmware(r, buf, sizeof(buf)), -EOVERFLOW);
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
	assert_int_equal(child_shell(base, cmd, env, NULL, on_done, &d, &s), 0);
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
	assert_int_equal(
		child_shell(base, "sleep 30 & sleep 30; wait", NULL, NULL, on_done, &d, &s), 0);
	pid = child_pid(s);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	s = child_free(s); /* kills the group and reaps the shell */
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_null(s);
	assert_int_equal(d.calls, 0);
	assert_int_equal(kill(pid, 0), -1);
	assert_int_equal(errno, ESRCH);
	assert_true(t1.tv_sec - t0.tv_sec < 20);
	assert_int_equal(child_shell(base, "", NULL, NULL, on_done, &d, &s), -EINVAL);
	assert_int_equal(child_shell(base, NULL, NULL, NULL, on_done, &d, &s), -EINVAL);
	event_base_free(base);
}

/* True once pid is gone (or a zombie nobody reaped yet: it runs no more). */
static bool gone(pid_t pid)
{
	char path[64], buf[256];
	FILE *f;

	if (kill(pid, 0) < 0 && errno == ESRCH)
		return true;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return true;
	buf[0] = '\0';
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	const char *st = strrchr(buf, ')');
	return st && st[1] == ' ' && st[2] == 'Z';
}

static pid_t read_pid(const char *path)
{
	FILE *f = fopen(path, "r");
	int pid = 0;

	if (f) {
		if (fscanf(f, "%d", &pid) != 1)
			pid = 0;
		fclose(f);
	}
	return (pid_t)pid;
}

/* Runs cmd with a deadline; returns the status done saw, the pid written to pidfile by
 * the command (its background child) in *bg, and how long it took in ms. */
static int run_deadline(const char *cmd, const char *pidfile, pid_t *bg, long *ms)
{
	struct event_base *base = event_base_new();
	struct done d = {0, 0, base};
	struct timeval guard = {20, 0};
	struct timespec t0, t1;
	struct child *s;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(child_shell(base, cmd, NULL, NULL, on_done, &d, &s), 0);
	assert_int_equal(child_deadline(s, 300, 300), 0);
	event_base_loopexit(base, &guard);
	event_base_dispatch(base);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	*ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_int_equal(d.calls, 1);
	/* The grace ends: what is left of the group is killed. */
	struct timeval grace = {1, 0};
	event_base_loopexit(base, &grace);
	event_base_dispatch(base);
	*bg = read_pid(pidfile);
	child_free(s);
	event_base_free(base);
	return d.status;
}

/* At its deadline a command gets SIGTERM, then SIGKILL after the grace, with every
 * process of its group: also children that ignore TERM or that outlive the shell. */
static void test_child_deadline(void **state)
{
	char pidfile[] = "/tmp/m7b-child-XXXXXX", cmd[256];
	pid_t bg;
	long ms;
	int fd = mkstemp(pidfile);

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	/* TERM is enough. */
	assert_int_equal(run_deadline("sleep 30", pidfile, &bg, &ms), -SIGTERM);
	assert_true(ms < 5000);
	/* Ignores TERM, and so does its child: both die by KILL after the grace. */
	snprintf(cmd, sizeof(cmd), "trap '' TERM; sleep 30 & echo $! > %s; wait; wait", pidfile);
	assert_int_equal(run_deadline(cmd, pidfile, &bg, &ms), -SIGKILL);
	assert_true(ms >= 500 && ms < 5000);
	assert_true(bg > 0);
	assert_true(gone(bg));
	/* The shell exits at once, leaving a child behind: it ends at the deadline. */
	snprintf(cmd, sizeof(cmd), "sleep 30 & echo $! > %s", pidfile);
	assert_int_equal(run_deadline(cmd, pidfile, &bg, &ms), 0);
	assert_true(bg > 0);
	assert_true(gone(bg));
	unlink(pidfile);
}

/* A command freed before its deadline (the step succeeded, the next command starts, the
 * daemon stops) takes its group along even when the shell already exited: nothing it
 * left in the background outlives it. */
static void test_child_free_after_exit(void **state)
{
	char pidfile[] = "/tmp/m7b-child-XXXXXX", cmd[256];
	struct event_base *base = event_base_new();
	struct done d = {0, 0, base};
	struct timeval guard = {20, 0};
	struct child *s;
	pid_t bg;
	int fd = mkstemp(pidfile);

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	snprintf(cmd, sizeof(cmd), "sleep 30 & echo $! > %s", pidfile);
	assert_int_equal(child_shell(base, cmd, NULL, NULL, on_done, &d, &s), 0);
	assert_int_equal(child_deadline(s, 30000, 300), 0);
	event_base_loopexit(base, &guard);
	event_base_dispatch(base);
	assert_int_equal(d.calls, 1);
	assert_int_equal(d.status, 0);
	bg = read_pid(pidfile);
	assert_true(bg > 0);
	assert_false(gone(bg));
	s = child_free(s);
	for (int i = 0; i < 500 && !gone(bg); i++)
		usleep(10000);
	assert_true(gone(bg));
	event_base_free(base);
	unlink(pidfile);
}

/* Runs cmd as the hook of channel m7 with its output logged (to stderr, redirected to a
 * file meanwhile) and a deadline of deadline_ms; frees it once it ended. Returns the log
 * (malloc'd) and the status done saw in *status. */
static char *run_logged(const char *cmd, unsigned deadline_ms, int *status)
{
	struct event_base *base = event_base_new();
	struct done d = {0, 0, base};
	struct timeval guard = {60, 0};
	char path[] = "/tmp/m7b-hookout-XXXXXX";
	int fd = mkstemp(path), saved;
	struct log l;
	struct child *s;
	struct stat st;
	char *text;

	assert_non_null(base);
	assert_true(fd >= 0);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	log_init(&l, LOG_TARGET_STDERR, LOG_DEBUG);
	struct child_output out = {.log = &l, .name = "hook", .channel = "m7"};
	assert_int_equal(child_shell(base, cmd, NULL, &out, on_done, &d, &s), 0);
	assert_int_equal(child_deadline(s, deadline_ms, 300), 0);
	event_base_loopexit(base, &guard);
	event_base_dispatch(base);
	s = child_free(s);
	event_base_free(base);
	fflush(stderr);
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	assert_int_equal(d.calls, 1);
	*status = d.status;
	assert_int_equal(fstat(fd, &st), 0);
	text = calloc(1, (size_t)st.st_size + 1);
	assert_non_null(text);
	assert_int_equal(pread(fd, text, (size_t)st.st_size, 0), st.st_size);
	close(fd);
	unlink(path);
	/* Whatever the command wrote, the log is valid UTF-8 without escape sequences. */
	assert_true(m7b_utf8_valid(text, strlen(text)));
	assert_null(strchr(text, '\x1b'));
	return text;
}

static int count_lines(const char *text)
{
	int n = 0;

	for (; *text; text++)
		n += *text == '\n';
	return n;
}

/* A flood on stdout and stderr: the first lines are logged, the rest counted in one line,
 * and the command is never held up by a full pipe: it runs to its end. */
static void test_child_output_flood(void **state)
{
	const int total = 200000;
	char want[128], *log;
	uint64_t lost = 0;
	int status;

	(void)state;
	/* Half on stdout, half on stderr: one pipe, one count. */
	log = run_logged("seq 1 100000; seq 100001 200000 >&2", 30000, &status);
	assert_int_equal(status, 0);
	for (int i = 1; i <= total; i++) {
		if (i > HOOKOUT_MAX_LINES)
			lost += (uint64_t)snprintf(want, sizeof(want), "%d\n", i);
	}
	assert_int_equal(count_lines(log), HOOKOUT_MAX_LINES + 1);
	assert_non_null(strstr(log, "m7bridged: info: [m7] hook: 1\n"));
	snprintf(want, sizeof(want), "m7bridged: info: [m7] hook: %d\n", HOOKOUT_MAX_LINES);
	assert_non_null(strstr(log, want));
	snprintf(want, sizeof(want),
		 "m7bridged: notice: [m7] %d lines (%llu bytes) of hook output not logged\n",
		 total - HOOKOUT_MAX_LINES, (unsigned long long)lost);
	assert_non_null(strstr(log, want));
	/* ... and it is the last line. */
	assert_string_equal(log + strlen(log) - strlen(want), want);
	free(log);
}

/* A flood without end is ended at the deadline, as any command (its process group); what
 * it wrote until then is counted. */
static void test_child_output_endless(void **state)
{
	unsigned long long lines = 0, bytes = 0;
	char *log, *sum;
	int status;

	(void)state;
	log = run_logged("yes", 300, &status);
	assert_int_equal(status, -SIGTERM);
	assert_int_equal(count_lines(log), HOOKOUT_MAX_LINES + 1);
	assert_non_null(strstr(log, "m7bridged: info: [m7] hook: y\n"));
	sum = strstr(log, "m7bridged: notice: [m7] ");
	assert_non_null(sum);
	assert_int_equal(sscanf(sum,
				"m7bridged: notice: [m7] %llu lines (%llu bytes) of hook "
				"output not logged",
				&lines, &bytes),
			 2);
	assert_true(lines > 0);
	/* "y\n" each; a write cut by the signal may leave a last "y" without newline */
	assert_true(bytes == 2 * lines || bytes == 2 * lines - 1);
	free(log);
}

/* Invalid UTF-8 and escape sequences reach the log as one clean line each. */
static void test_child_output_clean(void **state)
{
	char *log;
	int status;

	(void)state;
	log = run_logged(
		"printf '\\033[2J\\033[31mred\\033[0m\\n'; printf 'bad \\377\\376\\n' >&2; "
		"printf 'cr\\rbell\\007\\n'",
		30000, &status);
	assert_int_equal(status, 0);
	assert_string_equal(log, "m7bridged: info: [m7] hook: ?[2J?[31mred?[0m\n"
				 "m7bridged: info: [m7] hook: bad \xef\xbf\xbd\xef\xbf\xbd\n"
				 "m7bridged: info: [m7] hook: cr?bell?\n");
	free(log);
}

/* A command that prints nothing logs nothing. */
static void test_child_output_none(void **state)
{
	char *log;
	int status;

	(void)state;
	log = run_logged("exit 3", 30000, &status);
	assert_int_equal(status, 3);
	assert_string_equal(log, "");
	free(log);
}

/* A last line without a newline is logged like the others. */
static void test_child_output_no_newline(void **state)
{
	char *log;
	int status;

	(void)state;
	log = run_logged("echo first; printf 'last words'", 30000, &status);
	assert_int_equal(status, 0);
	assert_string_equal(log, "m7bridged: info: [m7] hook: first\n"
				 "m7bridged: info: [m7] hook: last words\n");
	free(log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_virtio_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_start, setup, teardown),
		cmocka_unit_test_setup_teardown(test_firmware, setup, teardown),
		cmocka_unit_test(test_state_strings),
		cmocka_unit_test(test_child_status),
		cmocka_unit_test(test_child_kill),
		cmocka_unit_test(test_child_deadline),
		cmocka_unit_test(test_child_free_after_exit),
		cmocka_unit_test(test_child_output_flood),
		cmocka_unit_test(test_child_output_endless),
		cmocka_unit_test(test_child_output_clean),
		cmocka_unit_test(test_child_output_none),
		cmocka_unit_test(test_child_output_no_newline),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
