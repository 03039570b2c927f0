/* Privilege separation as processes (daemon/privsep.c): the helper forked before the drop
 * keeps its rights, the daemon's side loses them for good, and the helper answers only
 * what its own configuration allows. The uid switch needs root: skipped otherwise (the
 * recovery_e2e test runs the split with the test's own user). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <unistd.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/wait.h>
#include <cmocka.h>

#include <event2/event.h>

#include "privsep.h"

static char dir[64];

/* Runs in a child process: start the helper, drop to nobody, ask. Exit status 0 = all
 * checks held, else the number of the check that failed. */
static int as_dropped(const char *conf_path, const char *out)
{
	struct conf *cfg;
	struct conf_error err;
	struct privsep *ps;
	struct privsep_msg m;
	struct conf_overrides ov = {.socket_mode = -1, .log_level = -1};

	if (conf_read(conf_path, false, &ov, &cfg, &err) < 0)
		return 1;
	struct privsep_args a = {
		.cfg = cfg, .conf_path = conf_path, .ov = &ov, .log_target = LOG_TARGET_STDERR};
	if (privsep_start(&a, &ps) < 0)
		return 2;
	if (privsep_drop("nobody") < 0)
		return 3;
	/* No way back to root. */
	if (getuid() == 0 || geteuid() == 0 || setuid(0) == 0 || seteuid(0) == 0)
		return 4;
	/* The configuration file is root's (0600): only the helper can read it again. */
	if (open(conf_path, O_RDONLY) >= 0)
		return 5;
	privsep_msg_init(&m, PRIVSEP_RELOAD, NULL, NULL);
	if (privsep_call(ps, &m) != 0)
		return 6;
	/* The helper runs its own hook, as root. */
	privsep_msg_init(&m, PRIVSEP_RUN_HOOK, "m7", NULL);
	m.token = 7;
	if (privsep_call(ps, &m) != 1)
		return 7;
	/* Refusals: a channel it does not know, a firmware path, a command string. */
	privsep_msg_init(&m, PRIVSEP_RUN_HOOK, "other", NULL);
	if (privsep_call(ps, &m) != -ENOENT)
		return 8;
	privsep_msg_init(&m, PRIVSEP_RPROC_SET_FIRMWARE, "m7", "../../etc/passwd");
	if (privsep_call(ps, &m) != -EINVAL)
		return 9;
	privsep_msg_init(&m, PRIVSEP_RUN_DRIVER, "m7", "rm -rf /");
	if (privsep_call(ps, &m) != -EINVAL)
		return 10;
	for (int i = 0; i < 200 && access(out, F_OK) != 0; i++)
		usleep(10000);
	privsep_free(ps);
	conf_free(cfg);
	return 0;
}

static void test_drop(void **state)
{
	char conf[128], out[128], text[16] = "";
	FILE *f;
	int st;

	(void)state;
	if (geteuid() != 0 || !getpwnam("nobody"))
		skip();
	strcpy(dir, "/tmp/m7b-privsep-XXXXXX");
	assert_non_null(mkdtemp(dir));
	assert_int_equal(chmod(dir, 0755), 0);
	snprintf(conf, sizeof(conf), "%s/m7bridge.conf", dir);
	snprintf(out, sizeof(out), "%s/hook.uid", dir);
	f = fopen(conf, "w");
	assert_non_null(f);
	fprintf(f,
		"[channel m7]\ndevice = /dev/ttyRPMSG30\nremoteproc = imx-rproc\n"
		"hook = id -u > %s.tmp ; mv %s.tmp %s\n",
		out, out, out);
	fclose(f);
	assert_int_equal(chmod(conf, 0600), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(as_dropped(conf, out));
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	if (WEXITSTATUS(st))
		fail_msg("check %d failed", WEXITSTATUS(st));
	f = fopen(out, "r");
	assert_non_null(f);
	assert_non_null(fgets(text, sizeof(text), f));
	fclose(f);
	assert_string_equal(text, "0\n"); /* the hook ran as root, in the helper */
	unlink(out);
	unlink(conf);
	rmdir(dir);
}

struct gone {
	bool called;
	bool channel_null;
	int status;
	struct event_base *base;
};

static void on_exit_cb(void *ud, const char *channel, uint32_t token, int status)
{
	struct gone *g = ud;

	(void)token;
	if (channel)
		return; /* a command's end: not what this test waits for */
	g->called = true;
	g->status = status;
	event_base_loopbreak(g->base);
}

/* The helper dies (here its own hook kills it, once the call is answered): the daemon's side hears it at once, with
 * the helper's status, instead of failing every privileged step later without a word. */
static void test_helper_dies(void **state)
{
	char d[64] = "/tmp/m7b-privsep-XXXXXX", conf[128];
	struct conf_overrides ov = {.socket_mode = -1, .log_level = -1};
	struct gone g = {0};
	struct conf *cfg;
	struct conf_error err;
	struct privsep *ps;
	struct privsep_msg m;
	struct timeval tv = {10, 0};
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(d));
	snprintf(conf, sizeof(conf), "%s/m7bridge.conf", d);
	f = fopen(conf, "w");
	assert_non_null(f);
	fputs("[channel m7]\ndevice = /dev/ttyRPMSG30\nhook = sleep 0.2; kill -9 $PPID\n", f);
	fclose(f);
	assert_int_equal(conf_read(conf, false, &ov, &cfg, &err), 0);
	struct privsep_args a = {
		.cfg = cfg, .conf_path = conf, .ov = &ov, .log_target = LOG_TARGET_STDERR};
	assert_int_equal(privsep_start(&a, &ps), 0);
	g.base = event_base_new();
	assert_non_null(g.base);
	assert_int_equal(privsep_attach(ps, g.base, on_exit_cb, &g), 0);
	privsep_msg_init(&m, PRIVSEP_RUN_HOOK, "m7", NULL);
	assert_int_equal(privsep_call(ps, &m), 1);
	event_base_loopexit(g.base, &tv);
	event_base_dispatch(g.base);
	assert_true(g.called);
	assert_int_equal(g.status, -SIGKILL);
	/* And calls now fail at once. */
	privsep_msg_init(&m, PRIVSEP_RPROC_STOP, "m7", NULL);
	assert_int_equal(privsep_call(ps, &m), -EPIPE);
	privsep_free(ps);
	event_base_free(g.base);
	conf_free(cfg);
	unlink(conf);
	rmdir(d);
}

/* The service manager's stop sends SIGTERM to every process of the service at once: the
 * helper must outlive it and leave when the daemon closes the socket, or the daemon sees
 * its helper die and a plain stop ends as a failure. */
static void test_helper_outlives_sigterm(void **state)
{
	char d[64] = "/tmp/m7b-privsep-XXXXXX", conf[128], out[128], text[32] = "";
	struct conf_overrides ov = {.socket_mode = -1, .log_level = -1};
	struct conf *cfg;
	struct conf_error err;
	struct privsep *ps;
	struct privsep_msg m;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(d));
	snprintf(conf, sizeof(conf), "%s/m7bridge.conf", d);
	snprintf(out, sizeof(out), "%s/helper.pid", d);
	f = fopen(conf, "w");
	assert_non_null(f);
	fprintf(f,
		"[channel m7]\ndevice = /dev/ttyRPMSG30\nhook = echo $PPID > %s.tmp; mv %s.tmp "
		"%s\n",
		out, out, out);
	fclose(f);
	assert_int_equal(conf_read(conf, false, &ov, &cfg, &err), 0);
	struct privsep_args a = {
		.cfg = cfg, .conf_path = conf, .ov = &ov, .log_target = LOG_TARGET_STDERR};
	assert_int_equal(privsep_start(&a, &ps), 0);
	privsep_msg_init(&m, PRIVSEP_RUN_HOOK, "m7", NULL);
	assert_int_equal(privsep_call(ps, &m), 1);
	for (int i = 0; i < 500 && access(out, F_OK) != 0; i++)
		usleep(10000);
	f = fopen(out, "r");
	assert_non_null(f);
	assert_non_null(fgets(text, sizeof(text), f));
	fclose(f);
	pid_t helper = (pid_t)atoi(text);
	assert_true(helper > 1);
	assert_int_equal(kill(helper, SIGTERM), 0);
	usleep(100000);
	privsep_msg_init(&m, PRIVSEP_RELOAD, NULL, NULL);
	assert_int_equal(privsep_call(ps, &m), 0);
	privsep_free(ps); /* closes the socket: now it leaves */
	assert_true(kill(helper, 0) < 0 && errno == ESRCH);
	conf_free(cfg);
	unlink(out);
	unlink(conf);
	rmdir(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_drop),
		cmocka_unit_test(test_helper_dies),
		cmocka_unit_test(test_helper_outlives_sigterm),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
