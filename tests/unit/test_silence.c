/* Unit tests for daemon/silence.c: expect_rate parsing and the data-silence watch. */
#include <setjmp.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "silence.h"

static void test_parse(void **state)
{
	(void)state;
	struct silence_conf c;
	char msg[200];
	assert_int_equal(silence_conf_parse(&c, "2:20, 0:1", msg, sizeof(msg)), 0);
	assert_int_equal(c.port[0], 2);
	assert_int_equal(c.rate[0], 20);
	assert_int_equal(c.port[1], 0);
	assert_int_equal(c.rate[1], 1);
	assert_int_equal(c.rate[2], 0);
	assert_int_equal(silence_conf_parse(&c, "", msg, sizeof(msg)), 0);
	assert_int_equal(c.rate[0], 0);
	const char *bad[] = {"2",    "2:",	"2:0", "256:1",	   "-1:5",
			     "2:5x", "1:5,1:6", "a:1", "2:100001", "2:+5"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(silence_conf_parse(&c, bad[i], msg, sizeof(msg)), -EINVAL);
	assert_int_equal(
		silence_conf_parse(&c, "0:1,1:1,2:1,3:1,4:1,5:1,6:1,7:1,8:1", msg, sizeof(msg)),
		-EINVAL);
}

static void test_watch(void **state)
{
	(void)state;
	struct silence s = {0};
	char msg[100];
	assert_int_equal(silence_conf_parse(&s.cfg, "3:2,5:1000", msg, sizeof(msg)), 0);
	assert_int_equal(silence_limit_ms(2), 5000);
	assert_int_equal(silence_limit_ms(1000), SILENCE_MIN_MS);
	/* not armed while the link is down */
	assert_int_equal(silence_check(&s, 100000), -1);
	assert_true(silence_next_ms(&s) == UINT64_MAX);
	silence_arm(&s, true, 1000);
	assert_int_equal(silence_next_ms(&s), 3000);
	silence_on_data(&s, 5, 2500);
	silence_on_data(&s, 3, 2500);
	assert_int_equal(silence_check(&s, 4499), -1);
	assert_int_equal(silence_check(&s, 4500), 5);
	/* reported once, until data comes again */
	assert_int_equal(silence_check(&s, 7499), -1);
	assert_int_equal(silence_check(&s, 7500), 3);
	assert_int_equal(silence_check(&s, 9000), -1);
	assert_true(silence_next_ms(&s) == UINT64_MAX);
	/* Data again on a port reported silent: its deadline is back, the timer must be
	 * armed again (nothing else arms it while the link stays up). */
	assert_true(silence_on_data(&s, 5, 9000));
	assert_int_equal(silence_next_ms(&s), 11000);
	assert_false(silence_on_data(&s, 5, 9000)); /* watched: the deadline only moves later */
	assert_int_equal(silence_check(&s, 11000), 5);
	/* the link goes away and comes back: every clock restarts */
	silence_arm(&s, false, 12000);
	assert_int_equal(silence_check(&s, 50000), -1);
	silence_arm(&s, true, 60000);
	assert_int_equal(silence_check(&s, 61999), -1);
	assert_int_equal(silence_check(&s, 62000), 5);
}

/* DATA comes with every frame and mostly on ports without a rate: those change nothing,
 * nor does data before the watch starts; a new configuration takes effect when armed. */
static void test_ports_watched(void **state)
{
	(void)state;
	struct silence s, ref;
	struct silence_conf cfg;
	char msg[100];
	assert_int_equal(silence_conf_parse(&cfg, "3:2,200:1", msg, sizeof(msg)), 0);
	silence_init(&s, &cfg);
	assert_false(silence_on_data(&s, 3, 500)); /* not armed yet */
	assert_int_equal(silence_check(&s, 100000), -1);
	silence_arm(&s, true, 1000);
	assert_int_equal(silence_next_ms(&s), 6000);
	ref = s;
	for (unsigned port = 0; port < 256; port++)
		if (port != 3 && port != 200)
			assert_false(silence_on_data(&s, (uint8_t)port, 5000));
	assert_memory_equal(s.last_ms, ref.last_ms, sizeof(s.last_ms));
	assert_memory_equal(s.reported, ref.reported, sizeof(s.reported));
	silence_on_data(&s, 200, 5000); /* the high word of the port set */
	assert_int_equal(silence_next_ms(&s), 6000);
	assert_int_equal(silence_check(&s, 6000), 3);
	assert_int_equal(silence_next_ms(&s), 15000);
	assert_int_equal(silence_check(&s, 15000), 200);
	/* re-armed with another configuration: the old ports are no longer watched */
	assert_int_equal(silence_conf_parse(&s.cfg, "7:2", msg, sizeof(msg)), 0);
	silence_arm(&s, false, 16000);
	silence_arm(&s, true, 20000);
	silence_on_data(&s, 3, 24000);
	assert_int_equal(silence_check(&s, 25000), 7);
	silence_on_data(&s, 7, 26000);
	assert_int_equal(silence_next_ms(&s), 31000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_watch),
		cmocka_unit_test(test_ports_watched),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
