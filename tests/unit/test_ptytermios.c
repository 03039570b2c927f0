/* The pty's termios against raw mode: what cfmakeraw leaves is raw, each setting that
 * changes the bytes is named, and the names fit any buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ptytermios.h"

static struct termios raw(void)
{
	struct termios t;
	memset(&t, 0, sizeof(t));
	t.c_iflag = IGNBRK | BRKINT | ICRNL | IXON | ISTRIP | PARMRK;
	t.c_oflag = OPOST | ONLCR;
	t.c_lflag = ECHO | ECHONL | ICANON | ISIG | IEXTEN;
	t.c_cflag = CS7 | PARENB;
	cfmakeraw(&t);
	return t;
}

static void test_raw_is_raw(void **state)
{
	(void)state;
	struct termios t = raw();
	char buf[64];
	assert_int_equal(ptytermios_cooked(&t), 0);
	assert_string_equal(ptytermios_names(0, buf, sizeof(buf)), "");
	/* Speed, parity and stop bits do not touch a pty's bytes. */
	t.c_cflag |= PARENB | CSTOPB | CRTSCTS;
	cfsetspeed(&t, B9600);
	assert_int_equal(ptytermios_cooked(&t), 0);
}

static void test_each_setting_is_seen(void **state)
{
	(void)state;
	static const struct {
		tcflag_t iflag, oflag, lflag;
		unsigned bit;
	} cases[] = {
		{0, 0, ECHO, PTYTERMIOS_ECHO},	 {0, 0, ICANON, PTYTERMIOS_ICANON},
		{0, 0, ISIG, PTYTERMIOS_ISIG},	 {0, 0, IEXTEN, PTYTERMIOS_IEXTEN},
		{ICRNL, 0, 0, PTYTERMIOS_CRNL},	 {INLCR, 0, 0, PTYTERMIOS_CRNL},
		{IGNCR, 0, 0, PTYTERMIOS_CRNL},	 {ISTRIP, 0, 0, PTYTERMIOS_ISTRIP},
		{IXON, 0, 0, PTYTERMIOS_IXON},	 {PARMRK, 0, 0, PTYTERMIOS_PARMRK},
		{0, OPOST, 0, PTYTERMIOS_OPOST},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct termios t = raw();
		t.c_iflag |= cases[i].iflag;
		t.c_oflag |= cases[i].oflag;
		t.c_lflag |= cases[i].lflag;
		assert_int_equal(ptytermios_cooked(&t), cases[i].bit);
	}
}

static void test_a_sane_tty_is_named(void **state)
{
	(void)state;
	/* What `stty sane` leaves behind, as an app that quit might. */
	struct termios t = raw();
	t.c_iflag |= ICRNL | IXON;
	t.c_oflag |= OPOST | ONLCR;
	t.c_lflag |= ECHO | ICANON | ISIG | IEXTEN;
	char buf[128];
	unsigned c = ptytermios_cooked(&t);
	assert_string_equal(ptytermios_names(c, buf, sizeof(buf)),
			    "echo icanon isig iexten crnl ixon opost");
}

static void test_names_fit_any_buffer(void **state)
{
	(void)state;
	char buf[16];
	unsigned all = (1u << 9) - 1;
	for (size_t cap = 1; cap <= sizeof(buf); cap++) {
		memset(buf, 'x', sizeof(buf));
		ptytermios_names(all, buf, cap);
		assert_true(memchr(buf, '\0', cap) != NULL);
		for (size_t k = cap; k < sizeof(buf); k++)
			assert_int_equal(buf[k], 'x');
	}
	assert_string_equal(ptytermios_names(PTYTERMIOS_ECHO, buf, 5), "echo");
	assert_string_equal(ptytermios_names(PTYTERMIOS_ECHO | PTYTERMIOS_OPOST, buf, 16),
			    "echo opost");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_raw_is_raw),
		cmocka_unit_test(test_each_setting_is_seen),
		cmocka_unit_test(test_a_sane_tty_is_named),
		cmocka_unit_test(test_names_fit_any_buffer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
