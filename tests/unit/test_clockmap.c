/* Unit tests for clockmap: a simulated M7 clock with offset, drift and jittered links. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "clockmap.h"

#define HZ 8000000u

/* The simulated truth: M7 ticks as a function of host ns. */
struct sim {
	uint64_t host0_ns;
	uint64_t tick0;
	double drift_ppm;
	uint32_t rng;
};

static uint64_t sim_ticks(const struct sim *s, uint64_t host_ns)
{
	double dt = (double)(host_ns - s->host0_ns) * 1e-9;

	return s->tick0 + (uint64_t)llround(dt * HZ * (1.0 + s->drift_ppm * 1e-6));
}

static uint64_t sim_host(const struct sim *s, uint64_t ticks)
{
	double dt = (double)(ticks - s->tick0) / (HZ * (1.0 + s->drift_ppm * 1e-6));

	return s->host0_ns + (uint64_t)llround(dt * 1e9);
}

/* Deterministic pseudo-random delays: mostly ~60-200 us, sometimes a 5 ms queueing spike. */
static uint64_t sim_delay(struct sim *s)
{
	s->rng = s->rng * 1103515245u + 12345u;
	uint32_t r = (s->rng >> 8) % 1000;

	if (r < 100)
		return 5000000 + r * 1000;
	return 60000 + r * 150;
}

static struct clockmap_sample sim_exchange(struct sim *s, uint64_t t1)
{
	struct clockmap_sample x;
	uint64_t arrive = t1 + sim_delay(s);
	uint64_t leave = arrive + 7000; /* M7 turnaround */

	x.t1_ns = t1;
	x.rx_ticks = sim_ticks(s, arrive);
	x.tx_ticks = sim_ticks(s, leave);
	x.t4_ns = leave + sim_delay(s);
	return x;
}

static void test_unknown_until_first_sample(void **state)
{
	struct clockmap c;
	uint64_t ns;

	(void)state;
	clockmap_reset(&c, HZ);
	assert_false(clockmap_map(&c, 1000, &ns));
	assert_float_equal(clockmap_drift_ppm(&c), 0.0, 0.0);
}

static void test_single_symmetric_exchange_is_exact(void **state)
{
	struct clockmap c;
	/* Host sends at 1 s, the M7 sees it 100 us later at tick 5000000 and answers at
	 * once; the reply takes 100 us too. */
	struct clockmap_sample s = {1000000000ull, 5000000, 5000000, 1000200000ull};
	uint64_t ns;

	(void)state;
	clockmap_reset(&c, HZ);
	assert_int_equal(clockmap_add(&c, &s), 0);
	assert_true(clockmap_map(&c, 5000000, &ns));
	assert_int_equal(ns, 1000100000ull);
	/* One tick is 125 ns at 8 MHz. */
	assert_true(clockmap_map(&c, 5000008, &ns));
	assert_int_equal(ns, 1000101000ull);
	assert_float_equal(c.error_ns, 100000.0, 1.0);
}

static void test_tracks_offset_and_drift_through_jitter(void **state)
{
	struct sim s = {
		.host0_ns = 123456789000ull, .tick0 = 987654321ull, .drift_ppm = 50.0, .rng = 42};
	struct clockmap c;
	uint64_t t = s.host0_ns;

	(void)state;
	clockmap_reset(&c, HZ);
	for (int i = 0; i < 40; i++) {
		struct clockmap_sample x = sim_exchange(&s, t);

		assert_int_equal(clockmap_add(&c, &x), 0);
		t += 1000000000ull;
	}
	assert_float_equal(clockmap_drift_ppm(&c), 50.0, 2.0);
	/* Map ticks across the window and a little beyond: within 30 us of the truth,
	 * although single exchanges had up to 10 ms of round trip. */
	for (uint64_t h = t - 30000000000ull; h < t + 2000000000ull; h += 250000000ull) {
		uint64_t ns, truth_ticks = sim_ticks(&s, h);

		assert_true(clockmap_map(&c, truth_ticks, &ns));
		assert_true(llabs((long long)(ns - sim_host(&s, truth_ticks))) < 30000);
	}
}

static void test_short_span_keeps_nominal_rate(void **state)
{
	struct sim s = {.host0_ns = 1000000000ull, .tick0 = 0, .drift_ppm = 30.0, .rng = 7};
	struct clockmap c;

	(void)state;
	clockmap_reset(&c, HZ);
	/* Five exchanges within 100 ms cannot tell 30 ppm apart from jitter. */
	for (int i = 0; i < 5; i++) {
		struct clockmap_sample x = sim_exchange(&s, s.host0_ns + i * 20000000ull);

		assert_int_equal(clockmap_add(&c, &x), 0);
	}
	assert_float_equal(clockmap_drift_ppm(&c), 0.0, 1e-9);
}

static void test_impossible_samples_are_refused(void **state)
{
	struct clockmap c;
	struct clockmap_sample good = {2000000000ull, 100, 110, 2000300000ull};
	struct clockmap_sample reply_first = {3000000000ull, 200, 210, 2999999999ull};
	struct clockmap_sample tx_first = {3000000000ull, 210, 200, 3000300000ull};
	struct clockmap_sample m7_back = {3000000000ull, 50, 60, 3000300000ull};
	struct clockmap_sample host_back = {1000000000ull, 300, 310, 1000300000ull};
	uint64_t before, after;

	(void)state;
	clockmap_reset(&c, HZ);
	assert_int_equal(clockmap_add(&c, &good), 0);
	assert_true(clockmap_map(&c, 105, &before));
	assert_int_equal(clockmap_add(&c, &reply_first), -EINVAL);
	assert_int_equal(clockmap_add(&c, &tx_first), -EINVAL);
	assert_int_equal(clockmap_add(&c, &m7_back), -EINVAL);
	assert_int_equal(clockmap_add(&c, &host_back), -EINVAL);
	assert_int_equal(c.rejected, 4);
	assert_int_equal(c.count, 1);
	assert_true(clockmap_map(&c, 105, &after));
	assert_int_equal(before, after);
}

static void test_wild_rate_is_not_believed(void **state)
{
	/* The firmware claims 8 MHz but the samples say 9 MHz: a misconfiguration, not
	 * drift. The map keeps the nominal rate instead of a 12% slope. */
	struct sim s = {.host0_ns = 5000000000ull, .tick0 = 0, .drift_ppm = 125000.0, .rng = 3};
	struct clockmap c;

	(void)state;
	clockmap_reset(&c, HZ);
	for (int i = 0; i < 10; i++) {
		struct clockmap_sample x = sim_exchange(&s, s.host0_ns + i * 1000000000ull);

		assert_int_equal(clockmap_add(&c, &x), 0);
	}
	assert_float_equal(clockmap_drift_ppm(&c), 0.0, 1e-9);
}

static void test_reset_forgets(void **state)
{
	struct clockmap c;
	struct clockmap_sample s = {1000, 10, 10, 3000};
	uint64_t ns;

	(void)state;
	clockmap_reset(&c, HZ);
	assert_int_equal(clockmap_add(&c, &s), 0);
	clockmap_reset(&c, 25000000u);
	assert_false(clockmap_map(&c, 10, &ns));
	assert_int_equal(c.tick_hz, 25000000u);
	/* No tick rate (no HELLO yet): nothing can be mapped. */
	clockmap_reset(&c, 0);
	assert_int_equal(clockmap_add(&c, &s), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unknown_until_first_sample),
		cmocka_unit_test(test_single_symmetric_exchange_is_exact),
		cmocka_unit_test(test_tracks_offset_and_drift_through_jitter),
		cmocka_unit_test(test_short_span_keeps_nominal_rate),
		cmocka_unit_test(test_impossible_samples_are_refused),
		cmocka_unit_test(test_wild_rate_is_not_believed),
		cmocka_unit_test(test_reset_forgets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
