/* Unit tests for m7bridgectl's shared helpers (tools/ctl_common.c) on STATUS objects. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ctl.h"

/* A STATUS whose one channel names ports 0..nports-1 with names of name_len bytes. */
static struct m7b_event *status_with_ports(unsigned nports, size_t name_len)
{
	static char line[65536];
	size_t n =
		(size_t)snprintf(line, sizeof(line),
				 "{\"class\":\"STATUS\",\"channels\":[{\"name\":\"m7\",\"state\":"
				 "\"up\",\"frames\":0,\"recoveries\":0,\"ports\":[");
	for (unsigned p = 0; p < nports; p++) {
		char name[128];
		memset(name, 'a', name_len);
		snprintf(name, sizeof(name), "%02u", p); /* a name that holds digits */
		name[2] = name_len > 2 ? 'x' : '\0';
		name[name_len] = '\0';
		n += (size_t)snprintf(line + n, sizeof(line) - n, "%s{\"port\":%u,\"name\":\"%s\"}",
				      p ? "," : "", p, name);
	}
	n += (size_t)snprintf(line + n, sizeof(line) - n, "]}]}");
	struct m7b_event *ev = NULL;
	assert_int_equal(m7b_event_parse(line, n, &ev, NULL), 0);
	return ev;
}

/* Every named port is found, however long the list of names. */
static void test_has_port_long_names(void **state)
{
	(void)state;
	struct m7b_event *st = status_with_ports(16, 60);
	for (int p = 0; p < 16; p++)
		assert_true(ctl_channel_has_port(st, 0, p));
	assert_false(ctl_channel_has_port(st, 0, 16));
	assert_false(ctl_channel_has_port(st, 0, 255));
	m7b_event_free(st);
}

/* A digit in a port's name is not a port. */
static void test_has_port_digits_in_names(void **state)
{
	(void)state;
	const char *line = "{\"class\":\"STATUS\",\"channels\":[{\"name\":\"m7\",\"state\":\"up\","
			   "\"frames\":0,\"recoveries\":0,\"ports\":[{\"port\":0,\"name\":"
			   "\"uart 2 (gps)\"},{\"port\":1,\"name\":\"3\"}]}]}";
	struct m7b_event *st = NULL;
	assert_int_equal(m7b_event_parse(line, strlen(line), &st, NULL), 0);
	assert_true(ctl_channel_has_port(st, 0, 0));
	assert_true(ctl_channel_has_port(st, 0, 1));
	assert_false(ctl_channel_has_port(st, 0, 2));
	assert_false(ctl_channel_has_port(st, 0, 3));
	m7b_event_free(st);
}

/* A daemon that does not list ports leaves the choice to the firmware. */
static void test_has_port_unlisted(void **state)
{
	(void)state;
	const char *line = "{\"class\":\"STATUS\",\"channels\":[{\"name\":\"m7\",\"state\":\"up\","
			   "\"frames\":0,\"recoveries\":0}]}";
	struct m7b_event *st = NULL;
	assert_int_equal(m7b_event_parse(line, strlen(line), &st, NULL), 0);
	assert_true(ctl_channel_has_port(st, 0, 7));
	m7b_event_free(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_has_port_long_names),
		cmocka_unit_test(test_has_port_digits_in_names),
		cmocka_unit_test(test_has_port_unlisted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
