/* Unit tests for m7bridgectl's shared helpers (tools/ctl_common.c) on STATUS objects. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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

/* Shown entries and the "... and N more" count add up to the whole list, and an entry is
 * never cut: "(shown entries), ... and N more". */
static void assert_list_cut_whole(const char *buf, size_t cap, size_t total, char close)
{
	const char *tail = strstr(buf, ", ... and ");
	size_t shown = 1, more = 0;

	assert_true(strlen(buf) < cap);
	assert_non_null(tail);
	assert_int_equal(sscanf(tail, ", ... and %zu more", &more), 1);
	assert_string_equal(tail + strlen(tail) - 5, " more");
	assert_int_equal(tail[-1], close);
	for (const char *c = buf; c < tail; c++)
		shown += c[0] == ',' && c[1] == ' ';
	assert_true(shown >= 1);
	assert_int_equal(shown + more, total);
}

/* A list of ports too long for the buffer is cut between two names, saying how many more. */
static void test_port_list_cut_at_name(void **state)
{
	(void)state;
	struct m7b_event *st = status_with_ports(16, 60);
	char buf[512];

	assert_int_equal(ctl_channel_list_member(st, 0, "ports", buf, sizeof(buf)), 16);
	assert_list_cut_whole(buf, sizeof(buf), 16, ')');
	m7b_event_free(st);
}

/* A list that fits is whole, with no "more". */
static void test_port_list_fits(void **state)
{
	(void)state;
	struct m7b_event *st = status_with_ports(3, 4);
	char buf[512];

	assert_int_equal(ctl_channel_list_member(st, 0, "ports", buf, sizeof(buf)), 3);
	assert_string_equal(buf, "0 (00xa), 1 (01xa), 2 (02xa)");
	m7b_event_free(st);
}

/* The list of channel names is cut the same way. */
static void test_channel_list_cut_at_name(void **state)
{
	(void)state;
	static char line[65536];
	size_t n = (size_t)snprintf(line, sizeof(line), "{\"class\":\"STATUS\",\"channels\":[");
	struct m7b_event *st = NULL;
	char buf[512];

	for (unsigned i = 0; i < 20; i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n,
				      "%s{\"name\":\"channel-%02u-%040uz\",\"state\":\"up\"}",
				      i ? "," : "", i, i);
	n += (size_t)snprintf(line + n, sizeof(line) - n, "]}");
	assert_int_equal(m7b_event_parse(line, n, &st, NULL), 0);
	ctl_channel_list(st, buf, sizeof(buf));
	assert_list_cut_whole(buf, sizeof(buf), 20, 'z');
	m7b_event_free(st);
}

/* Control characters become '?', however they are encoded; printable UTF-8 stays. */
static void test_safe_text_controls(void **state)
{
	(void)state;
	char buf[128];

	/* What the daemon makes of "\xff\xfe\0evil\n\"\\name\x1b[31m": valid, not safe. */
	assert_int_equal(ctl_safe_text(buf, sizeof(buf),
				       "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
				       "evil\n\"\\name\x1b[31m"),
			 25);
	assert_string_equal(buf, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
				 "evil?\"\\name?[31m");
	/* DEL, C1 (NEL, CSI), tab and CR. */
	ctl_safe_text(buf, sizeof(buf),
		      "a\x7f"
		      "b\xc2\x85"
		      "c\xc2\x9b"
		      "d\te\rf");
	assert_string_equal(buf, "a?b?c?d?e?f");
	/* Bytes that are not UTF-8 (the daemon never sends them, a future one might). */
	ctl_safe_text(buf, sizeof(buf), "\xff\xc0\xaf\xed\xa0\x80x\xe2\x82");
	assert_string_equal(buf, "??????x??");
	/* Printable text of every length is kept as it is. */
	ctl_safe_text(buf, sizeof(buf), "m7sim 1.0 \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
	assert_string_equal(buf, "m7sim 1.0 \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
	ctl_safe_text(buf, sizeof(buf), NULL);
	assert_string_equal(buf, "");
}

/* A cut falls between characters, never inside one. */
static void test_safe_text_cut(void **state)
{
	(void)state;
	char buf[8];

	assert_int_equal(ctl_safe_text(buf, 4, "ab\xc3\xa9"), 2);
	assert_string_equal(buf, "ab");
	assert_int_equal(ctl_safe_text(buf, 5, "ab\xc3\xa9"), 4);
	assert_string_equal(buf, "ab\xc3\xa9");
	assert_int_equal(ctl_safe_text(buf, 7, "abc\xf0\x9f\x98\x80"), 3);
	assert_string_equal(buf, "abc");
	assert_int_equal(ctl_safe_text(buf, 1, "abc"), 0);
	assert_string_equal(buf, "");
}

/* Port names come from the M7: a list shows their control characters as '?'. */
static void test_port_list_controls(void **state)
{
	(void)state;
	const char *line = "{\"class\":\"STATUS\",\"channels\":[{\"name\":\"m7\",\"state\":\"up\","
			   "\"ports\":[{\"port\":0,\"name\":\"gps\\u001b[31m\\n\"}]}]}";
	struct m7b_event *st = NULL;
	char buf[512];

	assert_int_equal(m7b_event_parse(line, strlen(line), &st, NULL), 0);
	assert_int_equal(ctl_channel_list_member(st, 0, "ports", buf, sizeof(buf)), 1);
	assert_string_equal(buf, "0 (gps?[31m?)");
	m7b_event_free(st);
}

/* A boot_id is 32 bits: anything else (-1 for an absent member) is unknown, not hex. */
static void test_fmt_boot_id(void **state)
{
	char buf[24];

	ctl_fmt_boot_id(buf, sizeof(buf), 0x66bb8643);
	assert_string_equal(buf, "66bb8643");
	ctl_fmt_boot_id(buf, sizeof(buf), 0);
	assert_string_equal(buf, "00000000");
	ctl_fmt_boot_id(buf, sizeof(buf), 0xffffffffLL);
	assert_string_equal(buf, "ffffffff");
	ctl_fmt_boot_id(buf, sizeof(buf), -1);
	assert_string_equal(buf, "?");
	ctl_fmt_boot_id(buf, sizeof(buf), 0x100000000LL);
	assert_string_equal(buf, "?");
}

/* A DROPPED notice in words: counts when given, never a made-up -1. */
static void test_fmt_dropped(void **state)
{
	static const struct {
		const char *line, *want;
	} cases[] = {
		{"{\"class\":\"DROPPED\",\"count\":17,\"total\":40}",
		 "DROPPED 17 objects (this client was too slow; 40 in total)"},
		{"{\"class\":\"DROPPED\",\"count\":1,\"total\":1}",
		 "DROPPED 1 object (this client was too slow; 1 in total)"},
		{"{\"class\":\"DROPPED\",\"count\":0,\"total\":3}",
		 "DROPPED 0 objects (this client was too slow; 3 in total)"},
		{"{\"class\":\"DROPPED\",\"count\":5}",
		 "DROPPED 5 objects (this client was too slow)"},
		{"{\"class\":\"DROPPED\"}",
		 "DROPPED objects (this client was too slow; the daemon did not say how many)"},
		{"{\"class\":\"DROPPED\",\"count\":-1,\"total\":\"x\"}",
		 "DROPPED objects (this client was too slow; the daemon did not say how many)"},
		{"{\"class\":\"DROPPED\",\"count\":2.5,\"total\":-7}",
		 "DROPPED objects (this client was too slow; the daemon did not say how many)"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct m7b_event *ev = NULL;
		char buf[160];

		assert_int_equal(m7b_event_parse(cases[i].line, strlen(cases[i].line), &ev, NULL),
				 0);
		ctl_fmt_dropped(buf, sizeof(buf), ev);
		assert_string_equal(buf, cases[i].want);
		assert_null(strstr(buf, "-1"));
		m7b_event_free(ev);
	}
}

/* A closed stdin and stdout are held by descriptors that fail every use: the next socket
 * (the daemon's) gets a number of its own, not 0 or 1. */
static void test_hold_std_fds(void **state)
{
	(void)state;
	int in = dup(0), out = dup(1);
	assert_true(in > 2 && out > 2);
	fflush(stdout);
	close(0);
	close(1);
	int r = ctl_hold_std_fds();
	int sock = socket(AF_UNIX, SOCK_STREAM, 0);
	char c = 'x';
	ssize_t w = write(1, &c, 1);
	int werr = errno;
	ssize_t rd = read(0, &c, 1);
	int rerr = errno;
	/* Back to the test's own before any check can print. */
	dup2(in, 0);
	dup2(out, 1);
	close(in);
	close(out);
	close(sock);
	assert_int_equal(r, 1 << 0 | 1 << 1);
	assert_true(sock > 2);
	assert_int_equal(w, -1);
	assert_int_equal(werr, EBADF);
	assert_int_equal(rd, -1);
	assert_int_equal(rerr, EBADF);
	/* Open ones are left alone. */
	assert_int_equal(ctl_hold_std_fds(), 0);
}

/* Bytes that are no UTF-8 become U+FFFD for a JSON string; UTF-8 and controls (JSON's to
 * escape) stay; a cut never splits a character, even the replacement's. */
static void test_utf8_text(void **state)
{
	(void)state;
	char buf[64];
	assert_int_equal(ctl_utf8_text(buf, sizeof(buf), "a\xff\xc3\xa9\x1b\xc3"), 10);
	assert_string_equal(buf, "a\xef\xbf\xbd\xc3\xa9\x1b\xef\xbf\xbd");
	/* Room for "a" and 2 bytes: not the 3 of U+FFFD. */
	assert_int_equal(ctl_utf8_text(buf, 4, "a\xff"), 1);
	assert_string_equal(buf, "a");
	assert_int_equal(ctl_utf8_text(buf, sizeof(buf), NULL), 0);
	assert_string_equal(buf, "");
}

/* A figure outside int64_t is no figure: 1e19 lost captures must not read as INT64_MIN,
 * which a "> 0" test then hides. */
static void test_sub_int_out_of_range(void **state)
{
	(void)state;
	const char *line = "{\"class\":\"STATUS\",\"channels\":[{\"name\":\"m7\",\"state\":"
			   "\"up\",\"m7_counters\":{\"a\":1e19,\"b\":-1e30,\"c\":42,"
			   "\"e\":\"7\"}}]}";
	struct m7b_event *st = NULL;
	int64_t v = 0;

	assert_int_equal(m7b_event_parse(line, strlen(line), &st, NULL), 0);
	assert_int_equal(ctl_channel_sub_int(st, 0, "m7_counters", "a", &v), -ENOENT);
	assert_int_equal(ctl_channel_sub_int(st, 0, "m7_counters", "b", &v), -ENOENT);
	assert_int_equal(ctl_channel_sub_int(st, 0, "m7_counters", "e", &v), -ENOENT);
	assert_int_equal(ctl_channel_sub_int(st, 0, "m7_counters", "c", &v), 0);
	assert_int_equal(v, 42);
	m7b_event_free(st);
}

/* An end before its start is no duration: "?", not "-0.-500s". */
static void test_fmt_duration(void **state)
{
	(void)state;
	char buf[32];

	ctl_fmt_duration(buf, sizeof(buf), 1250);
	assert_string_equal(buf, "1.250s");
	ctl_fmt_duration(buf, sizeof(buf), 0);
	assert_string_equal(buf, "0.000s");
	ctl_fmt_duration(buf, sizeof(buf), -500);
	assert_string_equal(buf, "?");
	ctl_fmt_duration(buf, sizeof(buf), INT64_MIN);
	assert_string_equal(buf, "?");
}

/* A line passed on as JSON must be JSON text: UTF-8 with no raw control byte (escaped
 * ones, DEL and UTF-8's C1 range are JSON). */
static void test_json_text_ok(void **state)
{
	(void)state;
	const char good[] = "{\"a\":\"\\u001b[2J \x7f \xc2\x9b \xc3\xa9\"}";
	const char esc[] = "{\"a\":\"\x1b[2J\"}";
	const char bad[] = "{\"a\":\"\xff\"}";
	const char nl[] = "{\"a\":1}\n";

	assert_true(ctl_json_text_ok(good, strlen(good)));
	assert_false(ctl_json_text_ok(esc, strlen(esc)));
	assert_false(ctl_json_text_ok(bad, strlen(bad)));
	assert_false(ctl_json_text_ok(nl, strlen(nl)));
	assert_true(ctl_json_text_ok(nl, strlen(nl) - 1));
}

/* A time before 1970 (a daemon's bad figure) keeps the column's shape. */
static void test_put_time(void **state)
{
	(void)state;
	char buf[64] = "";
	FILE *f = fmemopen(buf, sizeof(buf), "w");

	assert_non_null(f);
	ctl_put_time(f, -500000000);
	fputc('|', f);
	ctl_put_time(f, INT64_MIN);
	fputc('|', f);
	ctl_put_time(f, 1500000);
	fclose(f);
	assert_int_equal(strlen(buf), 3 * 15 + 2);
	assert_memory_equal(buf, "??:??:??.??????|??:??:??.??????|", 32);
	assert_string_equal(buf + 32 + 8, ".001500");
}

/* A line cut to a screen's width keeps that many characters, whatever their bytes. */
static void test_utf8_prefix(void **state)
{
	(void)state;
	const char *spark = "ab\xe2\x96\x81\xe2\x96\x88"
			    "c"; /* a b U+2581 U+2588 c */

	assert_int_equal(ctl_utf8_prefix(spark, 0), 0);
	assert_int_equal(ctl_utf8_prefix(spark, 2), 2);
	assert_int_equal(ctl_utf8_prefix(spark, 3), 5);
	assert_int_equal(ctl_utf8_prefix(spark, 4), 8);
	assert_int_equal(ctl_utf8_prefix(spark, 5), 9);
	assert_int_equal(ctl_utf8_prefix(spark, 80), 9);
	assert_int_equal(ctl_utf8_prefix("", 3), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hold_std_fds),
		cmocka_unit_test(test_utf8_text),
		cmocka_unit_test(test_sub_int_out_of_range),
		cmocka_unit_test(test_fmt_duration),
		cmocka_unit_test(test_json_text_ok),
		cmocka_unit_test(test_put_time),
		cmocka_unit_test(test_utf8_prefix),
		cmocka_unit_test(test_fmt_dropped),
		cmocka_unit_test(test_has_port_long_names),
		cmocka_unit_test(test_has_port_digits_in_names),
		cmocka_unit_test(test_has_port_unlisted),
		cmocka_unit_test(test_port_list_cut_at_name),
		cmocka_unit_test(test_port_list_fits),
		cmocka_unit_test(test_channel_list_cut_at_name),
		cmocka_unit_test(test_safe_text_controls),
		cmocka_unit_test(test_safe_text_cut),
		cmocka_unit_test(test_port_list_controls),
		cmocka_unit_test(test_fmt_boot_id),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
