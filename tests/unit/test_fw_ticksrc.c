/* Tests of the tick-source self-check (firmware/core/fw_ticksrc.c) with fake counters:
 * stuck, wrong rate, right rate, wraps of candidate and reference, no reference. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fw_ticksrc.h"

#define DWT_HZ	  800000000u /* the M7's core clock on the i.MX8MP EVK */
#define SYSCTR_HZ 8000000u
#define GPT_HZ	  24000000u

enum { C_READ, C_CTRL, C_GPT, NCAND };

/* A fake counter: value at time t (in reference cycles) is base + t * hz / ref_hz,
 * truncated to `bits`. */
static uint64_t fake_at(uint64_t base, uint64_t hz, uint64_t t_ref, uint8_t bits)
{
	uint64_t v = base + t_ref * hz / DWT_HZ;

	return bits >= 64 ? v : v & ((UINT64_C(1) << bits) - 1u);
}

static struct fw_ticksrc_reading reading(uint64_t base, uint64_t hz, uint64_t t0, uint64_t t1,
					 uint8_t bits)
{
	struct fw_ticksrc_reading r = {
		.start = fake_at(base, hz, t0, bits),
		.end = fake_at(base, hz, t1, bits),
		.bits = bits,
	};
	return r;
}

/* The port's three candidates in its order of preference, none sampled yet. */
static void cands_init(struct fw_ticksrc_cand c[NCAND])
{
	memset(c, 0, sizeof(struct fw_ticksrc_cand) * NCAND);
	c[C_READ] =
		(struct fw_ticksrc_cand){"sysctr-read", BOARD_TICK_SYSCTR, SYSCTR_HZ, 0, {0}, 0, 0};
	c[C_CTRL] =
		(struct fw_ticksrc_cand){"sysctr-ctrl", BOARD_TICK_SYSCTR, SYSCTR_HZ, 0, {0}, 0, 0};
	c[C_GPT] = (struct fw_ticksrc_cand){"gpt", BOARD_TICK_GPT, GPT_HZ, 0, {0}, 0, 0};
}

/* Samples candidate i running at hz over [t0, t1] reference cycles. */
static void sample(struct fw_ticksrc_cand *c, uint64_t base, uint64_t hz, uint64_t t0, uint64_t t1,
		   uint8_t bits)
{
	c->sampled = 1;
	c->r = reading(base, hz, t0, t1, bits);
}

/* 1 ms of DWT cycles starting at an arbitrary point. */
static const uint64_t T0 = 123456789u, T1 = 123456789u + DWT_HZ / 1000u;

static struct fw_ticksrc_reading dwt_ref(void)
{
	return reading(0, DWT_HZ, T0, T1, 32);
}

static void test_right_rate_first_choice(void **state)
{
	struct fw_ticksrc_cand c[NCAND];
	struct fw_ticksrc_reading ref = dwt_ref();

	(void)state;
	cands_init(c);
	sample(&c[C_READ], 5000, SYSCTR_HZ, T0, T1, 56);
	sample(&c[C_CTRL], 5000, SYSCTR_HZ, T0, T1, 56);
	sample(&c[C_GPT], 0, GPT_HZ, T0, T1, 32);
	assert_int_equal(fw_ticksrc_pick(c, NCAND, &ref, DWT_HZ, FW_TICKSRC_TOL_PPM), C_READ);
	assert_int_equal(c[C_READ].verdict, FW_TICKSRC_OK);
	assert_int_equal(c[C_READ].measured_hz, SYSCTR_HZ);
	/* every candidate is judged, not only up to the first good one */
	assert_int_equal(c[C_CTRL].verdict, FW_TICKSRC_OK);
	assert_int_equal(c[C_GPT].verdict, FW_TICKSRC_OK);
	assert_int_equal(c[C_GPT].measured_hz, GPT_HZ);
}

/* The read frame's +0x8 is not a counter on this silicon: falls back to the control frame. */
static void test_stuck_falls_back_to_control_frame(void **state)
{
	struct fw_ticksrc_cand c[NCAND];
	struct fw_ticksrc_reading ref = dwt_ref();

	(void)state;
	cands_init(c);
	c[C_READ].sampled = 1;
	c[C_READ].r = (struct fw_ticksrc_reading){0xDEADBEEF, 0xDEADBEEF, 56};
	sample(&c[C_CTRL], 77, SYSCTR_HZ, T0, T1, 56);
	sample(&c[C_GPT], 0, GPT_HZ, T0, T1, 32);
	assert_int_equal(fw_ticksrc_pick(c, NCAND, &ref, DWT_HZ, FW_TICKSRC_TOL_PPM), C_CTRL);
	assert_int_equal(c[C_READ].verdict, FW_TICKSRC_STUCK);
	assert_int_equal(c[C_READ].measured_hz, 0);
	assert_string_equal(fw_ticksrc_verdict_to_string(c[C_READ].verdict), "stuck");
	assert_int_equal(c[C_CTRL].measured_hz, SYSCTR_HZ);
}

/* A register that counts, but at 24 MHz or at 1 kHz, is not the 8 MHz system counter. */
static void test_wrong_rate_rejected(void **state)
{
	struct fw_ticksrc_cand c[NCAND];
	struct fw_ticksrc_reading ref = dwt_ref();

	(void)state;
	cands_init(c);
	sample(&c[C_READ], 0, 24000000u, T0, T1, 56);
	sample(&c[C_CTRL], 0, 1000u, T0, T1, 56);
	sample(&c[C_GPT], 0, GPT_HZ, T0, T1, 32);
	assert_int_equal(fw_ticksrc_pick(c, NCAND, &ref, DWT_HZ, FW_TICKSRC_TOL_PPM), C_GPT);
	assert_int_equal(c[C_READ].verdict, FW_TICKSRC_WRONG_RATE);
	assert_int_equal(c[C_READ].measured_hz, 24000000u);
	assert_int_equal(c[C_CTRL].verdict, FW_TICKSRC_WRONG_RATE);
	assert_int_equal(c[C_CTRL].measured_hz, 1000u);
	assert_string_equal(fw_ticksrc_verdict_to_string(FW_TICKSRC_WRONG_RATE), "wrong-rate");
}

/* Within 2 % passes, beyond fails, on both sides. */
static void test_tolerance_edges(void **state)
{
	struct fw_ticksrc_cand c[NCAND];
	struct fw_ticksrc_reading ref = dwt_ref();
	static const struct {
		uint32_t hz;
		int ok;
	} cases[] = {
		{8159000u, 1}, {7841000u, 1}, {8161000u, 0}, {7839000u, 0}, {8000001u, 1},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cands_init(c);
		sample(&c[0], 0, cases[i].hz, T0, T1, 56);
		assert_int_equal(fw_ticksrc_pick(c, 1, &ref, DWT_HZ, FW_TICKSRC_TOL_PPM),
				 cases[i].ok ? 0 : FW_TICKSRC_NONE);
	}
}

/* Wraps between the two readings: the 32-bit GPT, the 56-bit system counter and the
 * 32-bit DWT reference each wrap once; rates stay exact. */
static void test_wraps(void **state)
{
	struct fw_ticksrc_cand c[NCAND];
	uint64_t t0 = 0xFFFFF000u, t1 = t0 + DWT_HZ / 1000u; /* DWT wraps inside */
	struct fw_ticksrc_reading ref = reading(0, DWT_HZ, t0, t1, 32);

	(void)state;
	assert_true(ref.end < ref.start);
	cands_init(c);
	sample(&c[C_READ], (UINT64_C(1) << 56) - 4000u - fake_at(0, SYSCTR_HZ, t0, 64), SYSCTR_HZ,
	       t0, t1, 56);
	/* the GPT's base puts 0xFFFFFFFF inside the window */
	sample(&c[C_GPT], 0xFFFFFFFFu - 20000u - fake_at(0, GPT_HZ, t0, 64), GPT_HZ, t0, t1, 32);
	assert_true(c[C_READ].r.end < c[C_READ].r.start);
	assert_true(c[C_GPT].r.end < c[C_GPT].r.start);
	assert_int_equal(fw_ticksrc_pick(c, NCAND, &ref, DWT_HZ, FW_TICKSRC_TOL_PPM), C_READ);
	assert_int_equal(c[C_READ].measured_hz, SYSCTR_HZ);
	assert_int_equal(c[C_GPT].verdict, FW_TICKSRC_OK);
	assert_int_equal(c[C_GPT].measured_hz, GPT_HZ);
	assert_int_equal(c[C_CTRL].verdict, FW_TICKSRC_UNTESTED);
}

/* Nothing counts: no choice, and the caller learns it is not the reference's fault. */
static void test_all_stuck(void **state)
{
	struct fw_ticksrc_cand c[NCAND];
	struct fw_ticksrc_reading ref = dwt_ref();

	(void)state;
	cands_init(c);
	for (int i = 0; i < NCAND; i++) {
		c[i].sampled = 1;
		c[i].r = (struct fw_ticksrc_reading){42, 42, 32};
	}
	assert_int_equal(fw_ticksrc_pick(c, NCAND, &ref, DWT_HZ, FW_TICKSRC_TOL_PPM),
			 FW_TICKSRC_NONE);
	for (int i = 0; i < NCAND; i++)
		assert_int_equal(c[i].verdict, FW_TICKSRC_STUCK);
}

/* The reference itself does not advance (DWT reads 0 under QEMU, or TRCENA is off):
 * nothing is judged and every earlier result is cleared. */
static void test_reference_stuck(void **state)
{
	struct fw_ticksrc_cand c[NCAND];
	struct fw_ticksrc_reading ref = {0, 0, 32};

	(void)state;
	cands_init(c);
	sample(&c[C_READ], 0, SYSCTR_HZ, T0, T1, 56);
	c[C_READ].measured_hz = 99;
	c[C_READ].verdict = FW_TICKSRC_OK;
	assert_int_equal(fw_ticksrc_pick(c, NCAND, &ref, DWT_HZ, FW_TICKSRC_TOL_PPM),
			 FW_TICKSRC_NO_REF);
	assert_int_equal(c[C_READ].verdict, FW_TICKSRC_UNTESTED);
	assert_int_equal(c[C_READ].measured_hz, 0);
	assert_int_equal(fw_ticksrc_pick(c, NCAND, NULL, DWT_HZ, FW_TICKSRC_TOL_PPM),
			 FW_TICKSRC_NO_REF);
	ref = dwt_ref();
	assert_int_equal(fw_ticksrc_pick(c, NCAND, &ref, 0, FW_TICKSRC_TOL_PPM), FW_TICKSRC_NO_REF);
	assert_string_equal(fw_ticksrc_verdict_to_string(FW_TICKSRC_UNTESTED), "untested");
}

/* A long window (seconds of a 56-bit counter against a 64-bit reference) keeps the rate
 * exact without overflowing 64-bit arithmetic. */
static void test_long_window_no_overflow(void **state)
{
	struct fw_ticksrc_reading ref = {0, UINT64_C(1) << 40, 64}; /* ~1374 s at 800 MHz */
	struct fw_ticksrc_reading r = {0, (UINT64_C(1) << 40) / 100u, 56};

	(void)state;
	assert_int_equal(fw_ticksrc_rate(&r, &ref, DWT_HZ), SYSCTR_HZ);
	r.end = 0;
	assert_int_equal(fw_ticksrc_rate(&r, &ref, DWT_HZ), 0);
	assert_string_equal(fw_ticksrc_verdict_to_string(FW_TICKSRC_OK), "ok");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_right_rate_first_choice),
		cmocka_unit_test(test_stuck_falls_back_to_control_frame),
		cmocka_unit_test(test_wrong_rate_rejected),
		cmocka_unit_test(test_tolerance_edges),
		cmocka_unit_test(test_wraps),
		cmocka_unit_test(test_all_stuck),
		cmocka_unit_test(test_reference_stuck),
		cmocka_unit_test(test_long_window_no_overflow),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
