/* Tick-source self-check: judges candidate counters against a reference clock. */
#include "fw_ticksrc.h"

/* Difference end - start modulo 2^bits: a counter that wrapped once still gives its
 * true advance. */
static uint64_t reading_delta(const struct fw_ticksrc_reading *r)
{
	uint64_t mask = r->bits >= 64 || r->bits == 0 ? UINT64_MAX : (UINT64_C(1) << r->bits) - 1u;

	return (r->end - r->start) & mask;
}

uint32_t fw_ticksrc_rate(const struct fw_ticksrc_reading *r, const struct fw_ticksrc_reading *ref,
			 uint32_t ref_hz)
{
	uint64_t d = reading_delta(r);
	uint64_t dref = reading_delta(ref);
	uint64_t hz;

	if (d == 0 || dref == 0 || ref_hz == 0)
		return 0;
	/* d * ref_hz must fit 64 bits (no 128-bit arithmetic on the M7): halve both
	 * counts together, which keeps their ratio to well under a part per million. */
	while (d > UINT32_MAX) {
		d >>= 1;
		dref >>= 1;
	}
	if (dref == 0)
		return UINT32_MAX; /* absurdly fast against the reference */
	hz = (d * ref_hz + dref / 2u) / dref;
	return hz > UINT32_MAX ? UINT32_MAX : (uint32_t)hz;
}

static int rate_ok(uint32_t measured, uint32_t nominal, uint32_t tol_ppm)
{
	uint64_t diff = measured > nominal ? measured - nominal : nominal - measured;

	return nominal != 0 && diff * 1000000u <= (uint64_t)tol_ppm * nominal;
}

int fw_ticksrc_pick(struct fw_ticksrc_cand *cand, size_t n, const struct fw_ticksrc_reading *ref,
		    uint32_t ref_hz, uint32_t tol_ppm)
{
	int chosen = FW_TICKSRC_NONE;
	int ref_ok = ref != NULL && ref_hz != 0 && reading_delta(ref) != 0;

	for (size_t i = 0; i < n; i++) {
		struct fw_ticksrc_cand *c = &cand[i];

		c->measured_hz = 0;
		if (!c->sampled || !ref_ok) {
			c->verdict = FW_TICKSRC_UNTESTED;
			continue;
		}
		if (reading_delta(&c->r) == 0) {
			c->verdict = FW_TICKSRC_STUCK;
			continue;
		}
		c->measured_hz = fw_ticksrc_rate(&c->r, ref, ref_hz);
		c->verdict = rate_ok(c->measured_hz, c->nominal_hz, tol_ppm)
				     ? FW_TICKSRC_OK
				     : FW_TICKSRC_WRONG_RATE;
		if (c->verdict == FW_TICKSRC_OK && chosen < 0)
			chosen = (int)i;
	}
	return ref_ok ? chosen : FW_TICKSRC_NO_REF;
}

const char *fw_ticksrc_verdict_to_string(enum fw_ticksrc_verdict v)
{
	switch (v) {
	case FW_TICKSRC_STUCK:
		return "stuck";
	case FW_TICKSRC_WRONG_RATE:
		return "wrong-rate";
	case FW_TICKSRC_OK:
		return "ok";
	case FW_TICKSRC_UNTESTED:
		break;
	}
	return "untested";
}
