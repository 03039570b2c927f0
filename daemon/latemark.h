/* Late frames: DATA captured by the M7 before a channel left `up` but delivered only
 * after, i.e. held back across an outage (a stall, a recovery, a reopen). Pure. */
#ifndef M7B_LATEMARK_H
#define M7B_LATEMARK_H

#include <stdbool.h>
#include <stdint.h>

/* The M7 clock may run slow by up to 1/LATEMARK_SLOW_DIV (200 ppm, the rate tolerance of
 * docs/CLOCK.md). */
#define LATEMARK_SLOW_DIV 5000u

struct latemark {
	bool have_tick;	     /* a frame of this boot carried an M7 tick */
	uint64_t tick;	     /* the latest such tick; 0 without one */
	uint64_t tick_ms;    /* monotonic ms when it arrived */
	bool armed;	     /* an outage of this boot started */
	uint64_t until_tick; /* estimated M7 tick when it started; 0 when not armed */
};

/* Forgets everything: a new boot restarts the M7's ticks. */
void latemark_reset(struct latemark *lm);
/* A frame carried M7 tick `tick` (DATA t_last, HELLO/HEARTBEAT now_ticks) at now_ms.
 * Inline, as is latemark_is_late(): both run for every DATA frame. */
static inline void latemark_on_tick(struct latemark *lm, uint64_t tick, uint64_t now_ms)
{
	/* Keep the newest tick: a late frame must not pull the estimate back. Without a
	 * tick yet, tick is 0: no need to test have_tick. */
	if (tick < lm->tick)
		return;
	lm->have_tick = true;
	lm->tick = tick;
	lm->tick_ms = now_ms;
}
/* The channel left `up` at now_ms: captures from before the M7's tick now are late.
 * tick_hz 0 (unknown) leaves the mark as it was. */
void latemark_on_outage(struct latemark *lm, uint64_t now_ms, uint32_t tick_hz);
/* True when a capture that started at M7 tick t_first is late. */
static inline bool latemark_is_late(const struct latemark *lm, uint64_t t_first)
{
	return t_first < lm->until_tick; /* 0 when not armed: no need to test armed */
}

#endif
