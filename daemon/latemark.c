/* Late frames: which DATA captures were held back across an outage. Pure. */
#include "latemark.h"

void latemark_reset(struct latemark *lm)
{
	*lm = (struct latemark){0};
}

void latemark_on_outage(struct latemark *lm, uint64_t now_ms, uint32_t tick_hz)
{
	if (!lm->have_tick || tick_hz == 0)
		return;
	/* The M7's tick now, from the newest tick seen and the time since, erring low: a
	 * capture at the edge goes unmarked rather than a fresh one being marked. The newest
	 * tick was taken a little before it arrived; both ms readings are truncated, so the
	 * time between may be up to 1 ms less than their difference; and the M7 clock may
	 * run slow by the rate tolerance, so only the ticks it surely made count. */
	uint64_t ms = now_ms > lm->tick_ms ? now_ms - lm->tick_ms - 1 : 0;
	uint64_t ticks = ms * (tick_hz / 1000u) + ms * (tick_hz % 1000u) / 1000u;
	ticks -= ticks / LATEMARK_SLOW_DIV + (ticks % LATEMARK_SLOW_DIV != 0);
	uint64_t until = lm->tick + ticks;
	if (lm->armed && until < lm->until_tick)
		return;
	lm->armed = true;
	lm->until_tick = until;
}
