/* Tests of m7sim's pure parts (firmware/port/host): the drifting tick clock, the
 * synthetic source schedule and its option parser, the control-command parser. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fw.h"
#include "sim_clock.h"
#include "sim_ctl.h"
#include "sim_image.h"
#include "sim_source.h"

static void test_clock_rate_offset_drift(void **state)
{
	struct sim_clock c;
	const uint64_t t0 = 5000000000ull;

	sim_clock_init(&c, 8000000, 1000, 0, t0);
	assert_int_equal(sim_clock_ticks(&c, t0 - 1), 1000);
	assert_int_equal(sim_clock_ticks(&c, t0), 1000);
	assert_int_equal(sim_clock_ticks(&c, t0 + 1000000000ull), 8001000);
	assert_int_equal(sim_clock_ticks(&c, t0 + 124), 1000); /* 0.992 ticks */
	assert_int_equal(sim_clock_ticks(&c, t0 + 125), 1001);

	sim_clock_init(&c, 8000000, 0, 100, t0); /* 100 ppm fast: +800 ticks per second */
	assert_int_equal(sim_clock_ticks(&c, t0 + 1000000000ull), 8000800);
	sim_clock_init(&c, 8000000, 0, -50, t0);
	assert_int_equal(sim_clock_ticks(&c, t0 + 10000000000ull), 79996000);

	/* The inverse is the earliest time the clock reads the tick. */
	for (uint64_t t = 1; t < 100000000ull; t = t * 3 + 7) {
		uint64_t ns = sim_clock_ns_at(&c, t);
		assert_true(sim_clock_ticks(&c, ns) >= t);
		assert_true(sim_clock_ticks(&c, ns - 1) < t);
	}
}

static void test_source_parse(void **state)
{
	struct sim_source_config c;
	char err[256];

	assert_int_equal(sim_source_parse("2:rate=50.5,size=3-9,pattern=random,baud=9600,"
					  "count=7,seed=3,idle=1500,delim=10,max=64,loop=1",
					  &c, err, sizeof(err)),
			 0);
	assert_int_equal(c.port, 2);
	assert_true(c.rate > 50.4 && c.rate < 50.6);
	assert_int_equal(c.size_min, 3);
	assert_int_equal(c.size_max, 9);
	assert_int_equal(c.pattern, SIM_PATTERN_RANDOM);
	assert_int_equal(c.baud, 9600);
	assert_int_equal(c.count, 7);
	assert_int_equal(c.seed, 3);
	assert_int_equal(c.idle_us, 1500);
	assert_int_equal(c.delimiter, 10);
	assert_int_equal(c.max_capture, 64);
	assert_true(c.loop);

	assert_int_equal(sim_source_parse("0:delim=none", &c, err, sizeof(err)), 0);
	assert_int_equal(c.delimiter, -1);
	assert_int_equal(sim_source_parse("0:", &c, err, sizeof(err)), 0);
	assert_int_equal(c.delimiter, -2); /* default */

	const char *bad[] = {"rate=5",	    "x:rate=5",	     "0:rate",	   "0:rate=-1",
			     "0:size=9-3",  "0:size=0",	     "0:bogus=1",  "0:pattern=x",
			     "0:max=463",   "0:delim=256",   "0:loop=2",   "300:rate=1",
			     "0:baud=abc",  "0:count=-1",    ":rate=1",	   "0:rate=nan",
			     "0:rate=-nan", "0:rate=1e-300", "0:rate=1e-7"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(sim_source_parse(bad[i], &c, err, sizeof(err)), -EINVAL);
		assert_true(strlen(err) > 0);
	}
}

static void test_source_schedule(void **state)
{
	struct sim_source_config c;
	struct sim_source s;
	char err[128];

	assert_int_equal(sim_source_parse("0:rate=200,size=3,count=2", &c, err, sizeof(err)), 0);
	assert_int_equal(sim_source_start(&s, &c, 8000000, 12345), 0);
	/* Period 40000 ticks, first capture on the next multiple, 695 ticks per byte. */
	for (unsigned k = 0; k < 2; k++) {
		for (unsigned i = 0; i < 3; i++) {
			assert_int_equal(sim_source_due(&s), 40000u * (k + 1) + 695u * i);
			assert_int_equal(sim_source_take(&s), (uint8_t)(k + i));
		}
	}
	assert_int_equal(sim_source_due(&s), UINT64_MAX);
	sim_source_stop(&s);

	assert_int_equal(sim_source_parse("1:rate=1,pattern=text", &c, err, sizeof(err)), 0);
	assert_int_equal(sim_source_start(&s, &c, 1000, 0), 0);
	const char *want = "port 1 capture 0\n";
	for (size_t i = 0; i < strlen(want); i++)
		assert_int_equal(sim_source_take(&s), want[i]);
	assert_int_equal(sim_source_due(&s), 2000); /* capture 1 starts one period later */
	sim_source_stop(&s);

	assert_int_equal(sim_source_parse("0:rate=0", &c, err, sizeof(err)), 0);
	assert_int_equal(sim_source_start(&s, &c, 8000000, 0), 0);
	assert_int_equal(sim_source_due(&s), UINT64_MAX);
	sim_source_stop(&s);
}

static void test_source_random_sizes_in_range(void **state)
{
	struct sim_source_config c;
	struct sim_source s;
	char err[128];
	unsigned seen_min = 1000, seen_max = 0;

	assert_int_equal(sim_source_parse("0:rate=1000,size=2-5,seed=9", &c, err, sizeof(err)), 0);
	assert_int_equal(sim_source_start(&s, &c, 8000000, 0), 0);
	for (int k = 0; k < 200; k++) {
		uint64_t start = sim_source_due(&s);
		unsigned len = 0;
		while (sim_source_due(&s) < start + 8000) {
			(void)sim_source_take(&s);
			len++;
		}
		assert_true(len >= 2 && len <= 5);
		seen_min = len < seen_min ? len : seen_min;
		seen_max = len > seen_max ? len : seen_max;
	}
	assert_int_equal(seen_min, 2);
	assert_int_equal(seen_max, 5);
	sim_source_stop(&s);
}

/* A UART cannot deliver faster than its baud rate, nor back in time: when captures are
 * longer than the period allows, the next one starts one character after the last byte
 * (back to back on the line), never at its slot in the past. */
static void test_source_over_rate_keeps_char_time(void **state)
{
	struct sim_source_config c;
	struct sim_source s;
	char err[128];
	uint64_t prev;

	/* 40 bytes take 40 * 695 = 27800 ticks; the period is 8000. */
	assert_int_equal(sim_source_parse("0:rate=1000,size=40", &c, err, sizeof(err)), 0);
	assert_int_equal(sim_source_start(&s, &c, 8000000, 0), 0);
	assert_int_equal(sim_source_due(&s), 8000u);
	prev = sim_source_due(&s);
	(void)sim_source_take(&s);
	for (int i = 1; i < 400; i++) {
		uint64_t t = sim_source_due(&s);

		assert_int_equal(t - prev, 695u);
		prev = t;
		(void)sim_source_take(&s);
	}
	sim_source_stop(&s);

	/* Random sizes, some longer than the period: time still only moves forward, one
	 * character at least, and a capture that fits starts on its slot again. */
	assert_int_equal(sim_source_parse("0:rate=40,size=8-600,seed=1", &c, err, sizeof(err)), 0);
	assert_int_equal(sim_source_start(&s, &c, 8000000, 0), 0);
	prev = sim_source_due(&s);
	(void)sim_source_take(&s);
	for (int i = 1; i < 20000; i++) {
		uint64_t t = sim_source_due(&s);

		assert_true(t >= prev + 695u);
		assert_true(t - prev == 695u || t % 200000u == 0);
		prev = t;
		(void)sim_source_take(&s);
	}
	sim_source_stop(&s);
}

static void test_ctl_parse(void **state)
{
	struct sim_ctl_cmd c;
	char err[160];

	assert_int_equal(sim_ctl_parse("stall 2000\n", &c, err, sizeof(err)), 0);
	assert_int_equal(c.op, SIM_CTL_STALL);
	assert_int_equal(c.arg, 2000);
	assert_int_equal(sim_ctl_parse("stall", &c, err, sizeof(err)), 0);
	assert_int_equal(c.arg, 0);
	assert_int_equal(sim_ctl_parse("garbage", &c, err, sizeof(err)), 0);
	assert_int_equal(c.arg, 64);
	assert_int_equal(sim_ctl_parse("  drop\t3 ", &c, err, sizeof(err)), 0);
	assert_int_equal(c.op, SIM_CTL_DROP);
	assert_int_equal(c.arg, 3);
	assert_int_equal(sim_ctl_parse("hangup", &c, err, sizeof(err)), 0);
	assert_int_equal(c.arg, 500);
	assert_int_equal(sim_ctl_parse("garbage 511", &c, err, sizeof(err)), 0);
	assert_int_equal(c.arg, 511);
	assert_int_equal(sim_ctl_parse("drop 4294967295", &c, err, sizeof(err)), 0);
	assert_int_equal(c.arg, 4294967295u);
	assert_int_equal(sim_ctl_parse("uart-error 1 line", &c, err, sizeof(err)), 0);
	assert_int_equal(c.op, SIM_CTL_UART_ERROR);
	assert_int_equal(c.port, 1);
	assert_int_equal(c.arg, FW_RX_LINE_ERROR);
	assert_int_equal(sim_ctl_parse("log 3 two words", &c, err, sizeof(err)), 0);
	assert_int_equal(c.arg, 3);
	assert_string_equal(c.text, "two words");
	assert_string_equal(sim_ctl_op_to_string(SIM_CTL_SWAP), "swap");

	const char *bad[] = {"", "explode", "reboot now", "slow", "slow x", "drop -1", "stall 1 2",
			     "log", "log 9 text", "uart-error 1", "uart-error 99 line",
			     "uart-error 0 parity", "throttle 99999999999999999999",
			     /* more than the command can do: refused, not cut down in silence */
			     "garbage 512", "corrupt 4294967296", "drop 4294967296",
			     "stall 18446744073709551", "hangup 4294967296", "slow 4294967296"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(sim_ctl_parse(bad[i], &c, err, sizeof(err)), -EINVAL);
		assert_true(strlen(err) > 0);
	}
}

static void test_image_parse(void **state)
{
	struct sim_image img;
	char err[160], name[SIM_IMAGE_NAME_MAX];

	(void)state;
	assert_int_equal(sim_image_parse("good", &img, err, sizeof(err)), 0);
	assert_int_equal(img.mode, SIM_IMAGE_GOOD);
	assert_false(img.has_id);
	assert_int_equal(sim_image_parse("kick-fail", &img, err, sizeof(err)), 0);
	assert_int_equal(img.mode, SIM_IMAGE_KICK_FAIL);
	assert_int_equal(sim_image_parse("silent,build-id=00FFa1", &img, err, sizeof(err)), 0);
	assert_int_equal(img.mode, SIM_IMAGE_SILENT);
	assert_true(img.has_id);
	assert_int_equal(img.id_len, 3);
	assert_int_equal(img.id[1], 0xff);
	assert_int_equal(sim_image_parse("no-hello,build-id=none", &img, err, sizeof(err)), 0);
	assert_true(img.has_id);
	assert_int_equal(img.id_len, 0);
	assert_string_equal(sim_image_mode_to_string(SIM_IMAGE_NO_HELLO), "no-hello");

	assert_int_equal(sim_image_parse("bad", &img, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "good, no-hello, silent or kick-fail"));
	assert_int_equal(sim_image_parse("good,id=00", &img, err, sizeof(err)), -EINVAL);
	assert_int_equal(sim_image_parse("good,build-id=0", &img, err, sizeof(err)), -EINVAL);
	assert_int_equal(sim_image_parse("good,build-id=zz", &img, err, sizeof(err)), -EINVAL);
	assert_int_equal(sim_image_parse("goodx", &img, err, sizeof(err)), -EINVAL);

	assert_int_equal(sim_image_parse_named("new.elf=silent", name, &img, err, sizeof(err)), 0);
	assert_string_equal(name, "new.elf");
	assert_int_equal(img.mode, SIM_IMAGE_SILENT);
	assert_int_equal(sim_image_parse_named("=good", name, &img, err, sizeof(err)), -EINVAL);
	assert_int_equal(sim_image_parse_named("a/b.elf=good", name, &img, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(sim_image_parse_named("nothing", name, &img, err, sizeof(err)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clock_rate_offset_drift),
		cmocka_unit_test(test_source_parse),
		cmocka_unit_test(test_source_schedule),
		cmocka_unit_test(test_source_random_sizes_in_range),
		cmocka_unit_test(test_source_over_rate_keeps_char_time),
		cmocka_unit_test(test_ctl_parse),
		cmocka_unit_test(test_image_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
