/* Tests for daemon/privsep_msg.c: the helper's decoder and its checks of every request
 * type against its own configuration, each refusal included. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "privsep_msg.h"

static struct conf *cfg;

static int setup(void **state)
{
	struct conf_error e;

	(void)state;
	return conf_parse_string("[channel m7]\ndevice = /dev/ttyRPMSG30\nremoteproc = imx-rproc\n"
				 "hook = touch /run/x ; logger y\n"
				 "[channel bare]\ndevice = /dev/ttyRPMSG31\ndriver_reload =\n",
				 "t.conf", &cfg, &e);
}

static int teardown(void **state)
{
	(void)state;
	conf_free(cfg);
	return 0;
}

/* Encodes, decodes and checks one request; returns the check's verdict. */
static int check(enum privsep_type t, const char *channel, const char *arg)
{
	struct privsep_msg m, d;
	const struct conf_channel *ch = (const void *)1;

	assert_int_equal(privsep_msg_init(&m, t, channel, arg), 0);
	assert_int_equal(privsep_msg_decode(&m, sizeof(m), &d), 0);
	int r = privsep_msg_check(cfg, &d, &ch);
	if (r < 0)
		assert_null(ch);
	return r;
}

static void test_accepted(void **state)
{
	(void)state;
	assert_int_equal(check(PRIVSEP_RPROC_STOP, "m7", NULL), 0);
	assert_int_equal(check(PRIVSEP_RPROC_START, "m7", NULL), 0);
	assert_int_equal(check(PRIVSEP_RPROC_SET_FIRMWARE, "m7", "app-2.elf"), 0);
	assert_int_equal(check(PRIVSEP_RUN_DRIVER, "m7", NULL), 0);
	assert_int_equal(check(PRIVSEP_RUN_HOOK, "m7", NULL), 0);
	assert_int_equal(check(PRIVSEP_RELOAD, NULL, NULL), 0);
	assert_int_equal(check(PRIVSEP_READ_CONF, NULL, NULL), 0);
	assert_int_equal(check(PRIVSEP_OPEN_TRACE, "m7", NULL), 0);
	assert_int_equal(check(PRIVSEP_HOLD, "m7", NULL), 0);
	assert_int_equal(check(PRIVSEP_HOLD, "bare", NULL), 0);
}

static void test_refused(void **state)
{
	(void)state;
	/* Unknown channel, for every type that names one. */
	for (int t = PRIVSEP_RPROC_STOP; t <= PRIVSEP_RUN_HOOK; t++)
		assert_int_equal(check((enum privsep_type)t, "other",
				       t == PRIVSEP_RPROC_SET_FIRMWARE ? "a.elf" : NULL),
				 -ENOENT);
	/* No remoteproc configured. */
	assert_int_equal(check(PRIVSEP_RPROC_STOP, "bare", NULL), -ENODEV);
	assert_int_equal(check(PRIVSEP_RPROC_START, "bare", NULL), -ENODEV);
	assert_int_equal(check(PRIVSEP_RPROC_SET_FIRMWARE, "bare", "a.elf"), -ENODEV);
	assert_int_equal(check(PRIVSEP_OPEN_TRACE, "bare", NULL), -ENODEV);
	assert_int_equal(check(PRIVSEP_OPEN_TRACE, "other", NULL), -ENOENT);
	/* The path is the helper's: one from the daemon is refused. */
	assert_int_equal(check(PRIVSEP_OPEN_TRACE, "m7", "/etc/shadow"), -EINVAL);
	/* Firmware names that are not plain file names. */
	static const char *const bad_fw[] = {"../../etc/shadow", "/lib/firmware/a.elf", ".hidden",
					     "a\\b", ""};
	for (size_t i = 0; i < sizeof(bad_fw) / sizeof(bad_fw[0]); i++)
		assert_int_equal(check(PRIVSEP_RPROC_SET_FIRMWARE, "m7", bad_fw[i]), -EINVAL);
	/* A command the helper's configuration does not have. */
	assert_int_equal(check(PRIVSEP_RUN_DRIVER, "bare", NULL), -ENOENT);
	assert_int_equal(check(PRIVSEP_RUN_HOOK, "bare", NULL), -ENOENT);
	/* Strings where the type takes none. */
	assert_int_equal(check(PRIVSEP_RPROC_STOP, "m7", "x"), -EINVAL);
	assert_int_equal(check(PRIVSEP_RUN_HOOK, "m7", "rm;reboot"), -EINVAL);
	assert_int_equal(check(PRIVSEP_RELOAD, "m7", NULL), -EINVAL);
	assert_int_equal(check(PRIVSEP_HOLD, "other", NULL), -ENOENT);
	assert_int_equal(check(PRIVSEP_HOLD, NULL, NULL), -ENOENT);
	assert_int_equal(check(PRIVSEP_HOLD, "m7", "x"), -EINVAL);
	assert_int_equal(check(PRIVSEP_RELOAD, NULL, "/tmp/evil.conf"), -EINVAL);
	/* The file is the helper's: neither a path nor a channel from the daemon. */
	assert_int_equal(check(PRIVSEP_READ_CONF, NULL, "/tmp/evil.conf"), -EINVAL);
	assert_int_equal(check(PRIVSEP_READ_CONF, "m7", NULL), -EINVAL);
	/* Answers are never requests. */
	assert_int_equal(check(PRIVSEP_RESULT, NULL, NULL), -EBADMSG);
	assert_int_equal(check(PRIVSEP_EXITED, "m7", NULL), -EBADMSG);
}

static void test_decode(void **state)
{
	struct privsep_msg m, d;
	char big[PRIVSEP_ARG_MAX + 1];

	(void)state;
	assert_int_equal(privsep_msg_init(&m, PRIVSEP_RPROC_STOP, "m7", NULL), 0);
	assert_int_equal(privsep_msg_decode(&m, sizeof(m) - 1, &d), -EBADMSG);
	assert_int_equal(privsep_msg_decode(&m, 0, &d), -EBADMSG);
	struct privsep_msg bad = m;
	bad.magic ^= 1;
	assert_int_equal(privsep_msg_decode(&bad, sizeof(bad), &d), -EBADMSG);
	bad = m;
	bad.type = 0;
	assert_int_equal(privsep_msg_decode(&bad, sizeof(bad), &d), -EBADMSG);
	bad.type = PRIVSEP_TYPE_END;
	assert_int_equal(privsep_msg_decode(&bad, sizeof(bad), &d), -EBADMSG);
	/* Lengths: too long, shorter than the string, longer than it, garbage after it. */
	bad = m;
	bad.channel_len = PRIVSEP_CHANNEL_MAX;
	assert_int_equal(privsep_msg_decode(&bad, sizeof(bad), &d), -EBADMSG);
	bad = m;
	bad.channel_len = 1;
	assert_int_equal(privsep_msg_decode(&bad, sizeof(bad), &d), -EBADMSG);
	bad = m;
	bad.channel_len = 3;
	assert_int_equal(privsep_msg_decode(&bad, sizeof(bad), &d), -EBADMSG);
	bad = m;
	bad.arg[PRIVSEP_ARG_MAX - 1] = 'x';
	assert_int_equal(privsep_msg_decode(&bad, sizeof(bad), &d), -EBADMSG);
	/* Strings are names, printable without blanks: nothing else reaches the helper's
	 * checks and its log lines (a newline there would forge one of its own). */
	static const char *const unprintable[] = {"a b.elf", "rm -rf /", "m7\nforged", "m 7",
						  "m7\x7f",  "m\x1b[2J", "\xc3\xa9"};
	for (size_t i = 0; i < sizeof(unprintable) / sizeof(unprintable[0]); i++) {
		assert_int_equal(privsep_msg_init(&bad, PRIVSEP_RPROC_STOP, unprintable[i], NULL),
				 0);
		assert_int_equal(privsep_msg_decode(&bad, sizeof(bad), &d), -EBADMSG);
		assert_int_equal(
			privsep_msg_init(&bad, PRIVSEP_RPROC_SET_FIRMWARE, "m7", unprintable[i]),
			0);
		assert_int_equal(privsep_msg_decode(&bad, sizeof(bad), &d), -EBADMSG);
	}
	assert_int_equal(privsep_msg_init(&bad, PRIVSEP_RPROC_SET_FIRMWARE, "m7-a_b.c", "fw~1.elf"),
			 0);
	assert_int_equal(privsep_msg_decode(&bad, sizeof(bad), &d), 0);
	/* An answer may carry words (a reading's error message). */
	assert_int_equal(privsep_msg_init(&bad, PRIVSEP_RESULT, NULL, "cannot open: No such file"),
			 0);
	assert_int_equal(privsep_msg_decode(&bad, sizeof(bad), &d), 0);
	/* Encoding refuses what does not fit. */
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(privsep_msg_init(&m, PRIVSEP_RPROC_SET_FIRMWARE, "m7", big),
			 -ENAMETOOLONG);
	assert_string_equal(privsep_type_to_string(PRIVSEP_RUN_HOOK), "run_hook");
	assert_string_equal(privsep_type_to_string((enum privsep_type)77), "unknown");
}

/* A RELOAD takes only the reading the daemon parsed: the one the helper's last
 * READ_CONF answered with its token. */
static void test_reload_names_its_reading(void **state)
{
	struct privsep_msg m, d;

	(void)state;
	assert_int_equal(privsep_msg_init(&m, PRIVSEP_RELOAD, NULL, NULL), 0);
	m.token = 5;
	assert_int_equal(privsep_msg_decode(&m, sizeof(m), &d), 0);
	assert_int_equal(privsep_msg_check_reload(&d, 5), 0);
	/* An older reading (the file changed since), none, or a failed one. */
	assert_int_equal(privsep_msg_check_reload(&d, 6), -ESTALE);
	assert_int_equal(privsep_msg_check_reload(&d, 0), -ESTALE);
	d.token = 0;
	assert_int_equal(privsep_msg_check_reload(&d, 0), -ESTALE);
	/* Only a RELOAD takes a reading. */
	assert_int_equal(privsep_msg_init(&m, PRIVSEP_READ_CONF, NULL, NULL), 0);
	m.token = 5;
	assert_int_equal(privsep_msg_check_reload(&m, 5), -ESTALE);
	assert_string_equal(privsep_type_to_string(PRIVSEP_READ_CONF), "read_conf");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepted),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_decode),
		cmocka_unit_test(test_reload_names_its_reading),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
