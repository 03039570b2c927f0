/* Unit tests for daemon/utf8.c: validity and replacement of invalid bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "m7bridge/utf8.h"
#include "utf8.h"

static void test_seq(void **state)
{
	(void)state;
	assert_int_equal(m7b_utf8_seq("a", 1), 1);
	assert_int_equal(m7b_utf8_seq("\xc3\xa9", 2), 2);
	assert_int_equal(m7b_utf8_seq("\xc3\xa9", 1), 0);	  /* cut short */
	assert_int_equal(m7b_utf8_seq("\xc0\xaf", 2), 0);	  /* overlong */
	assert_int_equal(m7b_utf8_seq("\xe0\x80\xaf", 3), 0);	  /* overlong */
	assert_int_equal(m7b_utf8_seq("\xed\xa0\x80", 3), 0);	  /* surrogate */
	assert_int_equal(m7b_utf8_seq("\xf4\x90\x80\x80", 4), 0); /* past U+10FFFF */
	assert_int_equal(m7b_utf8_seq("\xf0\x9f\x98\x80", 4), 4); /* U+1F600 */
	assert_int_equal(m7b_utf8_seq("\xff", 1), 0);
}

static void test_clean(void **state)
{
	(void)state;
	char out[32];
	/* invalid bytes and NUL become U+FFFD */
	assert_int_equal(utf8_clean(out, sizeof out,
				    "a\xff"
				    "b\0c",
				    5),
			 9);
	assert_string_equal(out, "a\xef\xbf\xbd"
				 "b\xef\xbf\xbd"
				 "c");
	/* a full buffer ends on a character boundary */
	assert_int_equal(utf8_clean(out, 4, "ab\xc3\xa9", 4), 2);
	assert_string_equal(out, "ab");
	assert_int_equal(utf8_clean(out, 5, "ab\xc3\xa9", 4), 4);
	assert_int_equal(utf8_clean(out, 1, "x", 1), 0);
	assert_string_equal(out, "");
}

/* A line for the log: ends at NUL, no trailing CR/LF, controls shown as '?'. */
static void test_clean_line(void **state)
{
	(void)state;
	char out[64];
	assert_int_equal(utf8_clean_line(out, sizeof out, "booted\r\n", 8), 6);
	assert_string_equal(out, "booted");
	assert_int_equal(utf8_clean_line(out, sizeof out, "a\x1b[31mb\nc\td\x7f", 14), 12);
	assert_string_equal(out, "a?[31mb?c\td?");
	/* C1 controls too; other characters and invalid bytes as utf8_clean() */
	assert_string_equal((utf8_clean_line(out, sizeof out, "\xc2\x85\xc2\xa0\xff", 5), out),
			    "?\xc2\xa0\xef\xbf\xbd");
	assert_int_equal(utf8_clean_line(out, sizeof out, "x\0y", 3), 1);
	assert_int_equal(utf8_clean_line(out, sizeof out, "\r\n", 2), 0);
	assert_int_equal(utf8_clean_line(out, 3, "abcdef", 6), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seq),
		cmocka_unit_test(test_clean),
		cmocka_unit_test(test_clean_line),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
