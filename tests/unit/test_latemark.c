/* Unit tests for daemon/latemark.c: which captures were held back across an outage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "latemark.h"

#define HZ 8000000u /* 8000 ticks per ms */

static void test_nothing_late_without_outage(void **state)
{
	struct latemark lm = {0};
	latemark_on_tick(&lm, 80000, 10);
	assert_false(latemark_is_late(&lm, 0));
	assert_false(latemark_is_late(&lm, 79999));
}

static void test_backlog_after_outage_is_late(void **state)
{
	struct latemark lm = {0};
	latemark_on_tick(&lm, 80000, 10); /* tick 80000 arrived at 10 ms */
	latemark_on_outage(&lm, 510, HZ); /* stall noticed 500 ms later: tick ~4080000 */
	assert_true(lm.armed);
	/* At least 499 ms of ticks (the ms readings are truncated), 200 ppm slow at most. */
	assert_int_equal(lm.until_tick, 80000 + 499 * 8000 - 499 * 8000 / 5000 - 1);
	/* Captured during the quiet time before the outage, delivered after: late. */
	assert_true(latemark_is_late(&lm, 2000000));
	assert_true(latemark_is_late(&lm, lm.until_tick - 1));
	/* Captured after the outage started: in order with the STATE line. */
	assert_false(latemark_is_late(&lm, 4080000));
	/* An older tick arriving does not move the newest one back. */
	latemark_on_tick(&lm, 40000, 900);
	assert_int_equal(lm.tick, 80000);
	assert_int_equal(lm.tick_ms, 10);
}

static void test_new_boot_forgets(void **state)
{
	struct latemark lm = {0};
	latemark_on_tick(&lm, 80000, 10);
	latemark_on_outage(&lm, 510, HZ);
	latemark_reset(&lm);
	assert_false(latemark_is_late(&lm, 10));
	/* No tick of this boot yet: an outage marks nothing. */
	latemark_on_outage(&lm, 600, HZ);
	assert_false(latemark_is_late(&lm, 10));
}

static void test_unknown_rate_marks_nothing(void **state)
{
	struct latemark lm = {0};
	latemark_on_tick(&lm, 80000, 10);
	latemark_on_outage(&lm, 510, 0);
	assert_false(latemark_is_late(&lm, 10));
}

static void test_odd_rate_and_large_ticks(void **state)
{
	struct latemark lm = {0};
	uint64_t base = (uint64_t)1 << 50;
	latemark_on_tick(&lm, base, 1000);
	latemark_on_outage(&lm, 4000, 32768);	/* 3 s at 32.768 kHz */
	uint64_t made = 2999ull * 32768 / 1000; /* 2.999 s of ticks, surely */
	assert_int_equal(lm.until_tick, base + made - made / 5000 - 1);
	assert_true(latemark_is_late(&lm, lm.until_tick - 1));
	assert_false(latemark_is_late(&lm, lm.until_tick));
}

/* Reported flaw: the estimate, said to err low, erred high: a tick that arrived at the
 * end of a ms and an outage at the start of the next counted a whole ms (8000 ticks) that
 * had not passed, and an M7 clock 200 ppm slow made fewer ticks than the nominal rate
 * says. Fresh captures, started after the outage began, were marked late. */
static void test_estimate_errs_low(void **state)
{
	struct latemark lm = {0};
	/* Arrived at 10.999 ms (read as 10), the outage at 11.000 ms (read as 11): a
	 * capture 12.5 us later is fresh. */
	latemark_on_tick(&lm, 80000, 10);
	latemark_on_outage(&lm, 11, HZ);
	assert_false(latemark_is_late(&lm, 80000 + 100));
	/* An M7 200 ppm slow, 500 ms read (at least 499 ms passed): the ticks it made. */
	struct latemark slow = {0};
	latemark_on_tick(&slow, 80000, 10);
	latemark_on_outage(&slow, 510, HZ);
	uint64_t made = 499ull * 8000 * (1000000 - 200) / 1000000;
	assert_false(latemark_is_late(&slow, 80000 + made));
	/* Still marks the backlog from well before. */
	assert_true(latemark_is_late(&slow, 80000 + made - 8000));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nothing_late_without_outage),
		cmocka_unit_test(test_backlog_after_outage_is_late),
		cmocka_unit_test(test_new_boot_forgets),
		cmocka_unit_test(test_unknown_rate_marks_nothing),
		cmocka_unit_test(test_odd_rate_and_large_ticks),
		cmocka_unit_test(test_estimate_errs_low),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
