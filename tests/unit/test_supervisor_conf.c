/* Unit tests for the supervisor's configuration keys (daemon/supervisor_conf.c), their
 * path through the daemon's INI parser, and the peer authorization rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <grp.h>
#include <cmocka.h>

#include "conf.h"
#include "supervisor.h"
#include "supervisor_conf.h"

static void test_defaults(void **state)
{
	struct supervisor_daemon_conf d;
	struct supervisor_channel_conf c;

	(void)state;
	supervisor_conf_daemon_defaults(&d);
	supervisor_conf_channel_defaults(&c);
	assert_string_equal(d.kernel_log, "auto");
	assert_string_equal(d.sysfs_root, "/sys");
	assert_string_equal(d.kmsg_path, "/dev/kmsg");
	assert_string_equal(d.incident_dir, "");
	assert_false(d.allow_uid_set);
	assert_string_equal(c.recovery_steps, "resync,reopen,driver,remoteproc,hook");
	assert_non_null(strstr(c.driver_reload, "imx_rpmsg_tty"));
	assert_true(c.liveness_quiet_ms > 0);
	assert_true(c.remoteproc_timeout_ms > c.resync_timeout_ms);
}

static void test_keys(void **state)
{
	struct supervisor_daemon_conf d;
	struct supervisor_channel_conf c;
	char msg[200];

	(void)state;
	supervisor_conf_daemon_defaults(&d);
	supervisor_conf_channel_defaults(&c);
	assert_int_equal(supervisor_conf_daemon_key(&d, "kernel_log", "kmsg", msg, sizeof msg), 0);
	assert_int_equal(supervisor_conf_daemon_key(&d, "kernel_log", "dmesg", msg, sizeof msg),
			 -EINVAL);
	assert_non_null(strstr(msg, "auto, journal, kmsg or off"));
	assert_int_equal(
		supervisor_conf_daemon_key(&d, "sysfs_root", "/tmp/x/sys", msg, sizeof msg), 0);
	assert_string_equal(d.sysfs_root, "/tmp/x/sys");
	assert_int_equal(supervisor_conf_daemon_key(&d, "sysfs_root", "rel", msg, sizeof msg),
			 -EINVAL);
	assert_int_equal(supervisor_conf_daemon_key(&d, "journal_dir", "", msg, sizeof msg), 0);
	assert_int_equal(
		supervisor_conf_daemon_key(&d, "allow_uids", "1000, 1001,0", msg, sizeof msg), 0);
	assert_int_equal(d.n_allow_uids, 3);
	assert_int_equal(d.allow_uids[1], 1001);
	assert_int_equal(supervisor_conf_daemon_key(&d, "allow_uids", "10x", msg, sizeof msg),
			 -EINVAL);
	/* Plain digits: strtoul would take a sign, and wrap "-18446744073709551615" to uid 1. */
	static const char *const signed_uids[] = {"-18446744073709551615", "+5", "1000,-1",
						  "1, +2"};
	for (size_t i = 0; i < sizeof(signed_uids) / sizeof(signed_uids[0]); i++)
		assert_int_equal(supervisor_conf_daemon_key(&d, "allow_uids", signed_uids[i], msg,
							    sizeof msg),
				 -EINVAL);
	assert_int_equal(
		supervisor_conf_daemon_key(&d, "allow_group", "no-such-group-m7b", msg, sizeof msg),
		-EINVAL);
	assert_int_equal(supervisor_conf_daemon_key(&d, "incident_max_files", "0", msg, sizeof msg),
			 -EINVAL);
	assert_int_equal(supervisor_conf_daemon_key(&d, "incident_max_kib", "64", msg, sizeof msg),
			 0);
	assert_int_equal(d.incident_max_kib, 64);
	assert_int_equal(supervisor_conf_daemon_key(&d, "socket", "/x", msg, sizeof msg), -ENOENT);

	assert_int_equal(supervisor_conf_channel_key(&c, "recovery_steps", "remoteproc,resync", msg,
						     sizeof msg),
			 0);
	assert_int_equal(
		supervisor_conf_channel_key(&c, "recovery_steps", "resync,reboot", msg, sizeof msg),
		-EINVAL);
	assert_string_equal(c.recovery_steps, "remoteproc,resync");
	assert_int_equal(
		supervisor_conf_channel_key(&c, "resync_timeout_ms", "250", msg, sizeof msg), 0);
	assert_int_equal(c.resync_timeout_ms, 250);
	assert_int_equal(supervisor_conf_channel_key(&c, "resync_timeout_ms", "5", msg, sizeof msg),
			 -EINVAL);
	assert_non_null(strstr(msg, "10..3600000"));
	assert_int_equal(supervisor_conf_channel_key(&c, "liveness_quiet_ms", "0", msg, sizeof msg),
			 0);
	assert_int_equal(supervisor_conf_channel_key(&c, "recovery_budget", "-1", msg, sizeof msg),
			 -EINVAL);
	assert_int_equal(
		supervisor_conf_channel_key(&c, "hook", "/usr/local/bin/m7-hook", msg, sizeof msg),
		0);
	assert_int_equal(supervisor_conf_channel_key(&c, "device", "/dev/x", msg, sizeof msg),
			 -ENOENT);
}

/* The keys reach the daemon's configuration through its INI parser. */
static void test_through_conf(void **state)
{
	struct conf *c = NULL;
	struct conf_error err;

	(void)state;
	assert_int_equal(conf_parse_string("[daemon]\nsysfs_root = /tmp/fake\nallow_uids = 7\n"
					   "[channel m7]\ndevice = /dev/ttyRPMSG30\n"
					   "remoteproc = imx-rproc\nrecovery_steps = resync\n"
					   "down_grace_ms = 0\n",
					   "t.conf", &c, &err),
			 0);
	assert_string_equal(c->daemon.sup.sysfs_root, "/tmp/fake");
	assert_int_equal(c->daemon.sup.allow_uids[0], 7);
	assert_string_equal(c->channels[0].sup.recovery_steps, "resync");
	assert_int_equal(c->channels[0].sup.down_grace_ms, 0);
	/* Copies carry the plain values. */
	struct conf_channel copy = {0};
	assert_int_equal(conf_channel_copy(&copy, &c->channels[0]), 0);
	assert_string_equal(copy.sup.recovery_steps, "resync");
	conf_channel_clear(&copy);
	conf_free(c);

	c = NULL;
	assert_int_equal(conf_parse_string("[channel m7]\ndevice = /dev/x\nresync_tries = 99\n",
					   "t.conf", &c, &err),
			 -EINVAL);
	assert_string_equal(err.key, "resync_tries");
	assert_non_null(strstr(err.message, "1..16"));
	assert_null(c);
	assert_int_equal(conf_parse_string("[daemon]\nbogus_key = 1\n", "t.conf", &c, &err),
			 -EINVAL);
	assert_string_equal(err.message, "unknown key");
}

/* getgrnam: two groups of the test's own (no name service needed), every lookup
 * counted; other names go to the real one. */
static unsigned getgrnam_calls;
struct group *__real_getgrnam(const char *name);
struct group *__wrap_getgrnam(const char *name);
struct group *__wrap_getgrnam(const char *name)
{
	static struct group g;
	static char ops[] = "m7b-ops", admins[] = "m7b-admins";

	getgrnam_calls++;
	bool is_ops = strcmp(name, ops) == 0;
	if (!is_ops && strcmp(name, admins) != 0)
		return __real_getgrnam(name);
	g.gr_name = is_ops ? ops : admins;
	g.gr_gid = is_ops ? 4242 : 4343;
	return &g;
}

/* allow_group is looked up once, when the file is read: a request (in the event loop)
 * compares gids and never blocks on a name service; reading the file again (SIGHUP)
 * looks it up again. */
static void test_peer_group_resolved_once(void **state)
{
	struct supervisor_daemon_conf d;
	char msg[200];
	gid_t ops = 4242, admins = 4343;
	unsigned calls;

	(void)state;
	supervisor_conf_daemon_defaults(&d);
	assert_int_equal(supervisor_conf_daemon_key(&d, "allow_group", "m7b-ops", msg, sizeof msg),
			 0);
	calls = getgrnam_calls;
	for (int i = 0; i < 100; i++) {
		assert_true(supervisor_peer_allowed(&d, 1001, &ops, 1));
		assert_false(supervisor_peer_allowed(&d, 1001, &admins, 1));
	}
	assert_int_equal(getgrnam_calls, calls);
	/* The file read again names another group: its gid, looked up then. */
	supervisor_conf_daemon_defaults(&d);
	assert_int_equal(
		supervisor_conf_daemon_key(&d, "allow_group", "m7b-admins", msg, sizeof msg), 0);
	assert_int_equal(getgrnam_calls, calls + 1);
	assert_true(supervisor_peer_allowed(&d, 1001, &admins, 1));
	assert_false(supervisor_peer_allowed(&d, 1001, &ops, 1));
	/* No group: gids count for nothing. */
	assert_int_equal(supervisor_conf_daemon_key(&d, "allow_group", "", msg, sizeof msg), 0);
	assert_false(supervisor_peer_allowed(&d, 1001, &admins, 1));
}

static void test_peer(void **state)
{
	struct supervisor_daemon_conf d;
	char msg[200];
	gid_t g[2] = {4242, 4343};

	(void)state;
	supervisor_conf_daemon_defaults(&d);
	assert_true(supervisor_peer_allowed(&d, 0, NULL, 0));
	assert_false(supervisor_peer_allowed(&d, 1000, g, 2));
	assert_int_equal(supervisor_conf_daemon_key(&d, "allow_uids", "1000", msg, sizeof msg), 0);
	assert_true(supervisor_peer_allowed(&d, 1000, NULL, 0));
	assert_false(supervisor_peer_allowed(&d, 1001, NULL, 0));
	/* A group every system has: root's (gid 0). */
	struct group *gr = getgrgid(0);
	if (gr) {
		gid_t zero = 0;
		assert_int_equal(
			supervisor_conf_daemon_key(&d, "allow_group", gr->gr_name, msg, sizeof msg),
			0);
		assert_true(supervisor_peer_allowed(&d, 1001, &zero, 1));
		assert_false(supervisor_peer_allowed(&d, 1001, g, 2));
	}
}

/* Two channels' supervisor settings compare key by key, as the file says them: bytes
 * left past a string's end count for nothing, any value that differs does. */
static void test_channel_same(void **state)
{
	struct supervisor_channel_conf a, b;
	char msg[200];

	(void)state;
	supervisor_conf_channel_defaults(&a);
	supervisor_conf_channel_defaults(&b);
	assert_true(supervisor_conf_channel_same(&a, &b));
	/* A longer value then a shorter one leaves bytes behind the end in a. */
	assert_int_equal(
		supervisor_conf_channel_key(&a, "hook", "/usr/bin/long-hook", msg, sizeof(msg)), 0);
	assert_int_equal(supervisor_conf_channel_key(&a, "hook", "/bin/x", msg, sizeof(msg)), 0);
	assert_int_equal(supervisor_conf_channel_key(&b, "hook", "/bin/x", msg, sizeof(msg)), 0);
	assert_true(supervisor_conf_channel_same(&a, &b));
	static const char *const changes[][2] = {
		{"liveness_quiet_ms", "400"}, {"recovery_steps", "resync"}, {"expect_rate", "0:10"},
		{"autostart", "false"},	      {"hook", "/bin/y"},	    {"probe_send", "\\r"},
	};
	for (size_t i = 0; i < sizeof(changes) / sizeof(changes[0]); i++) {
		struct supervisor_channel_conf c = b;
		assert_int_equal(supervisor_conf_channel_key(&c, changes[i][0], changes[i][1], msg,
							     sizeof(msg)),
				 0);
		if (supervisor_conf_channel_same(&b, &c))
			fail_msg("%s = %s is no change", changes[i][0], changes[i][1]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_through_conf),
		cmocka_unit_test(test_peer),
		cmocka_unit_test(test_channel_same),
		cmocka_unit_test(test_peer_group_resolved_once),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
