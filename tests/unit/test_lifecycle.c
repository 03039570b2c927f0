/* Unit tests for daemon/lifecycle.c: what the daemon does about an M7 whose channel has
 * no tty, by remoteproc state and configuration, and the words it says it with. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "lifecycle.h"

struct row {
	enum remoteproc_state state;
	bool autostart;
	const char *firmware, *attr;
	enum lifecycle_action want;
	const char *why;
	const char *reason; /* STATE reason of a wait */
};

static void test_decide(void **state)
{
	static const struct row rows[] = {
		{REMOTEPROC_RUNNING, true, NULL, "a.elf", LIFECYCLE_NOTHING,
		 "remoteproc0 is running", NULL},
		{REMOTEPROC_ATTACHED, false, NULL, "unknown", LIFECYCLE_NOTHING,
		 "remoteproc0 is attached", NULL},
		{REMOTEPROC_OFFLINE, true, "app.elf", "a.elf", LIFECYCLE_START,
		 "remoteproc0 is offline: starting it with app.elf (firmware)", NULL},
		{REMOTEPROC_OFFLINE, true, NULL, "a.elf", LIFECYCLE_START,
		 "remoteproc0 is offline: starting it with a.elf (as remoteproc names it)", NULL},
		{REMOTEPROC_OFFLINE, true, "", "a.elf", LIFECYCLE_START,
		 "remoteproc0 is offline: starting it with a.elf (as remoteproc names it)", NULL},
		{REMOTEPROC_OFFLINE, false, "app.elf", "a.elf", LIFECYCLE_WAIT,
		 "remoteproc0 is offline and autostart = false: waiting for it to be started",
		 "autostart_off"},
		{REMOTEPROC_OFFLINE, true, NULL, "unknown", LIFECYCLE_WAIT,
		 "remoteproc0 is offline and names no firmware file ('unknown'): set firmware = "
		 "NAME to have it started",
		 "no_firmware"},
		{REMOTEPROC_OFFLINE, true, NULL, "", LIFECYCLE_WAIT,
		 "remoteproc0 is offline and names no firmware file (''): set firmware = NAME to "
		 "have it started",
		 "no_firmware"},
		{REMOTEPROC_OFFLINE, true, NULL, NULL, LIFECYCLE_WAIT,
		 "remoteproc0 is offline and names no firmware file (unreadable): set firmware = "
		 "NAME to have it started",
		 "no_firmware"},
		{REMOTEPROC_OFFLINE, true, NULL, "../../etc/passwd", LIFECYCLE_WAIT,
		 "remoteproc0 is offline and names no firmware file ('../../etc/passwd'): set "
		 "firmware = NAME to have it started",
		 "no_firmware"},
		{REMOTEPROC_CRASHED, true, "app.elf", "a.elf", LIFECYCLE_WAIT,
		 "remoteproc0 is crashed: waiting for the kernel's recovery or for someone to "
		 "restart it",
		 "m7_crashed"},
		{REMOTEPROC_SUSPENDED, true, "app.elf", "a.elf", LIFECYCLE_WAIT,
		 "remoteproc0 is suspended, not offline: waiting for it to be running",
		 "m7_not_running"},
		{REMOTEPROC_DETACHED, true, NULL, "a.elf", LIFECYCLE_WAIT,
		 "remoteproc0 is detached, not offline: waiting for it to be running",
		 "m7_not_running"},
		{REMOTEPROC_UNKNOWN, true, NULL, "a.elf", LIFECYCLE_WAIT,
		 "remoteproc0 is unknown, not offline: waiting for it to be running",
		 "m7_not_running"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		struct lifecycle_input in = {.state = r->state,
					     .instance = "remoteproc0",
					     .autostart = r->autostart,
					     .firmware = r->firmware,
					     .firmware_attr = r->attr};
		char why[256];
		enum lifecycle_action a = lifecycle_decide(&in, why, sizeof(why));
		const char *reason = lifecycle_wait_reason(&in);
		if (a != r->want || strcmp(why, r->why) != 0)
			fail_msg("row %zu: %s \"%s\", want %s \"%s\"", i,
				 lifecycle_action_to_string(a), why,
				 lifecycle_action_to_string(r->want), r->why);
		if (!reason != !r->reason || (reason && strcmp(reason, r->reason) != 0))
			fail_msg("row %zu: reason %s, want %s", i, reason ? reason : "none",
				 r->reason ? r->reason : "none");
	}
}

/* A firmware attribute longer than the text has room for is cut, never overrun. */
static void test_short_buffer(void **state)
{
	struct lifecycle_input in = {.state = REMOTEPROC_OFFLINE,
				     .instance = "remoteproc0",
				     .autostart = true,
				     .firmware_attr = "x/y"};
	char why[24];

	(void)state;
	assert_int_equal(lifecycle_decide(&in, why, sizeof(why)), LIFECYCLE_WAIT);
	assert_int_equal(strlen(why), sizeof(why) - 1);
	assert_string_equal(lifecycle_action_to_string(LIFECYCLE_START), "start");
}

/* The firmware attribute is sysfs text of any bytes: quoted in the log line and the
 * STATE detail, it is one line of valid UTF-8 (controls as '?', bad bytes as U+FFFD),
 * cut at a character, never inside one. */
static void test_attr_shown_as_text(void **state)
{
	struct lifecycle_input in = {.state = REMOTEPROC_OFFLINE,
				     .instance = "remoteproc0",
				     .autostart = true,
				     .firmware_attr = "fw\x1b[2J\n\xff.elf"};
	char why[256], attr[80];

	(void)state;
	assert_int_equal(lifecycle_decide(&in, why, sizeof(why)), LIFECYCLE_WAIT);
	assert_string_equal(why, "remoteproc0 is offline and names no firmware file "
				 "('fw?[2J?\xef\xbf\xbd.elf'): set firmware = NAME to have it "
				 "started");
	/* 63 bytes, then a two-byte character across the 64th. */
	memset(attr, 'a', 63);
	strcpy(attr + 63, "\xc3\xa9/");
	in.firmware_attr = attr;
	assert_int_equal(lifecycle_decide(&in, why, sizeof(why)), LIFECYCLE_WAIT);
	assert_non_null(strstr(why, "aaa'): set"));
}

/* What a start could load: `unknown` (started outside Linux) is no file, nor is what is
 * not a plain file name or nothing at all. */
static void test_names_file(void **state)
{
	(void)state;
	assert_true(lifecycle_names_file("m7_app.elf"));
	assert_true(lifecycle_names_file("unknown.elf"));
	assert_false(lifecycle_names_file("unknown"));
	assert_false(lifecycle_names_file(""));
	assert_false(lifecycle_names_file(NULL));
	assert_false(lifecycle_names_file("../etc/passwd"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decide),
		cmocka_unit_test(test_short_buffer),
		cmocka_unit_test(test_attr_shown_as_text),
		cmocka_unit_test(test_names_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
