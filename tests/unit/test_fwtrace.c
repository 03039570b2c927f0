/* Tests of the trace ring (firmware/core/fw_trace.c) and its Linux-side decoder
 * (daemon/fwtrace.c): the exact line format, wrap without half lines, order after wrap,
 * damage counted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "fw_trace.h"
#include "fwtrace.h"

static void test_line_format(void **state)
{
	char buf[128];
	struct fw_trace t;

	(void)state;
	fw_trace_init(&t, buf, sizeof(buf));
	assert_string_equal(buf, "");
	fw_trace_append(&t, 1000, 4, "low battery", 11);
	fw_trace_append(&t, 0x123456789abcdefULL, 9, "a\nb\0c\x7f", 6);
	assert_string_equal(buf, "00000000 00000000000003e8 4 low battery\n"
				 "00000001 0123456789abcdef 7 a?b?c?\n");
	assert_int_equal(t.seq, 2);
}

static void test_tiny_ring_takes_nothing(void **state)
{
	char buf[30];
	struct fw_trace t;

	(void)state;
	memset(buf, 'x', sizeof(buf));
	fw_trace_init(&t, buf, sizeof(buf));
	fw_trace_append(&t, 1, 1, "a", 1);
	assert_int_equal(buf[0], '\0');
	assert_int_equal(t.seq, 0);
	fw_trace_init(&t, NULL, 0);
	fw_trace_append(&t, 1, 1, "a", 1);
}

static void test_long_text_is_cut_to_the_ring(void **state)
{
	char buf[64], text[200];
	struct fw_trace t;
	struct fwtrace_line l[4];
	struct fwtrace_stats st;

	(void)state;
	memset(text, 'z', sizeof(text));
	fw_trace_init(&t, buf, sizeof(buf));
	fw_trace_append(&t, 5, 6, text, sizeof(text));
	assert_int_equal(strlen(buf), sizeof(buf) - 1);
	assert_int_equal(fwtrace_decode(buf, sizeof(buf), l, 4, &st), 1);
	assert_int_equal(l[0].text_len, sizeof(buf) - 1 - 28 - 1);
	assert_int_equal(st.bad_lines, 0);
}

/* Many lines of varying length through a small ring: always one string, never half a
 * line, the newest lines in order with consecutive sequence numbers. */
static void test_wrap_keeps_whole_lines_in_order(void **state)
{
	char buf[300], text[64];
	struct fw_trace t;
	struct fwtrace_line l[32];
	struct fwtrace_stats st;

	(void)state;
	fw_trace_init(&t, buf, sizeof(buf));
	for (unsigned i = 0; i < 500; i++) {
		int n = snprintf(text, sizeof(text), "line %u %.*s", i, (int)(i * 7u % 40u),
				 "++++++++++++++++++++++++++++++++++++++++");
		size_t got;

		fw_trace_append(&t, 100u * i, (uint8_t)(i % 8u), text, (size_t)n);
		assert_int_equal(buf[sizeof(buf) - 1], '\0');
		got = fwtrace_decode(buf, sizeof(buf), l, 32, &st);
		assert_int_equal(st.bad_lines, 0);
		assert_int_equal(st.bad_bytes, 0);
		assert_true(got >= 1);
		assert_int_equal(l[got - 1].seq, i);
		assert_int_equal(l[got - 1].ticks, 100u * i);
		assert_int_equal(l[got - 1].level, i % 8u);
		assert_int_equal(l[got - 1].text_len, (size_t)n);
		assert_memory_equal(l[got - 1].text, text, (size_t)n);
		for (size_t k = 0; k + 1 < got; k++)
			assert_int_equal(l[k + 1].seq, l[k].seq + 1u);
	}
}

static void test_sequence_wrap_sorts_by_serial_order(void **state)
{
	char buf[400];
	struct fw_trace t;
	struct fwtrace_line l[32];
	struct fwtrace_stats st;
	size_t n;

	(void)state;
	fw_trace_init(&t, buf, sizeof(buf));
	t.seq = 0xFFFFFFF8u;
	for (unsigned i = 0; i < 20; i++)
		fw_trace_append(&t, i, 6, "x", 1);
	n = fwtrace_decode(buf, sizeof(buf), l, 32, &st);
	assert_true(n > 8);
	assert_int_equal(l[n - 1].seq, 11); /* 0xFFFFFFF8 + 19 */
	for (size_t k = 0; k + 1 < n; k++)
		assert_int_equal(l[k + 1].seq, l[k].seq + 1u);
	assert_int_equal(l[n - 1].ticks, 19);
}

static void test_damage_is_counted_and_skipped(void **state)
{
	static const char snap[] = "garbage\n"
				   "00000002 0000000000000010 3 second\n"
				   "\n\n"
				   "0000000x 0000000000000010 3 bad hex\n"
				   "00000001 0000000000000008 9 bad level\n"
				   "00000001 0000000000000008 5 fi\trst\n"
				   "00000003 00000000000000";
	static const char withnul[] = "00000001 0000000000000008 5 ok\n\0\0ab\0\0\0";
	struct fwtrace_line l[8];
	struct fwtrace_stats st;
	size_t n;

	(void)state;
	n = fwtrace_decode(snap, sizeof(snap) - 1, l, 8, &st);
	assert_int_equal(n, 2);
	assert_int_equal(st.lines, 2);
	assert_int_equal(st.bad_lines, 4); /* garbage, bad hex, bad level, the cut line */
	assert_int_equal(l[0].seq, 1);
	assert_int_equal(l[0].level, 5);
	assert_memory_equal(l[0].text, "fi\trst", 6);
	assert_int_equal(l[1].seq, 2);
	assert_int_equal(st.bad_bytes, 7 + 35 + 37 + 23 + 1 /* the tab */);

	/* Behind the first NUL the text ends; non-NUL bytes there are damage. */
	n = fwtrace_decode(withnul, sizeof(withnul), l, 8, &st);
	assert_int_equal(n, 1);
	assert_int_equal(st.bad_bytes, 2);
}

static void test_short_array_keeps_the_newest(void **state)
{
	char buf[1000];
	struct fw_trace t;
	struct fwtrace_line l[3];
	struct fwtrace_stats st;

	(void)state;
	fw_trace_init(&t, buf, sizeof(buf));
	for (unsigned i = 0; i < 10; i++)
		fw_trace_append(&t, i, 6, "y", 1);
	assert_int_equal(fwtrace_decode(buf, sizeof(buf), l, 3, &st), 3);
	assert_int_equal(st.lines, 10);
	assert_int_equal(st.overflow, 7);
	assert_int_equal(l[0].seq, 7);
	assert_int_equal(l[2].seq, 9);
	assert_int_equal(fwtrace_decode(buf, sizeof(buf), l, 0, &st), 0);
	assert_int_equal(st.overflow, 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_format),
		cmocka_unit_test(test_tiny_ring_takes_nothing),
		cmocka_unit_test(test_long_text_is_cut_to_the_ring),
		cmocka_unit_test(test_wrap_keeps_whole_lines_in_order),
		cmocka_unit_test(test_sequence_wrap_sorts_by_serial_order),
		cmocka_unit_test(test_damage_is_counted_and_skipped),
		cmocka_unit_test(test_short_array_keeps_the_newest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
