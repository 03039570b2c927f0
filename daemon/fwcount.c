/* The firmware's HEARTBEAT counters summed on Linux across wraps and boots. */
#include "fwcount.h"

#include <string.h>

bool fwcount_is_gauge(unsigned i)
{
	return i == M7B_HB_CREDITS;
}

/* The new boot's counters start at 0: its first values count whole. */
static void start_over(struct fwcount *c)
{
	memset(c->last, 0, sizeof(c->last));
	c->last_tick = 0;
	c->restarts++;
}

void fwcount_restart(struct fwcount *c)
{
	if (c->unsure)
		return;
	c->unsure = true;
	c->unsure_had_boot = c->have_boot;
	c->unsure_boot = c->boot_id;
	memcpy(c->unsure_last, c->last, sizeof(c->last));
	memset(c->unsure_added, 0, sizeof(c->unsure_added));
	c->unsure_beats = 0;
	/* As start_over(), but the clock is kept: a new boot's ticks that went back as well
	 * confirm this restart rather than make a second one. */
	memset(c->last, 0, sizeof(c->last));
	c->restarts++;
	c->have_boot = false; /* its HELLO, if it comes, names it */
}

/* The HELLO after a restart seen by seq named the boot before: no restart after all.
 * What was added since as a new boot's counts is taken back, and their growth from the
 * values before it added instead. */
static void undo_restart(struct fwcount *c)
{
	if (c->unsure_beats == 0)
		memcpy(c->last, c->unsure_last, sizeof(c->last));
	for (unsigned i = 0; i < M7B_HB_NCOUNTERS; i++) {
		uint32_t step = c->last[i] - c->unsure_last[i];

		if (fwcount_is_gauge(i))
			continue;
		c->total[i] -= c->unsure_added[i];
		c->total[i] += step > 0x80000000u ? c->last[i] : step;
	}
	c->restarts--;
}

void fwcount_hello(struct fwcount *c, uint32_t boot_id)
{
	if (c->unsure) {
		c->unsure = false;
		if (c->unsure_had_boot && c->unsure_boot == boot_id)
			undo_restart(c);
	} else if (c->have_boot && c->boot_id != boot_id) {
		start_over(c);
	}
	c->have_boot = true;
	c->boot_id = boot_id;
}

void fwcount_heartbeat(struct fwcount *c, const struct m7b_heartbeat *hb)
{
	uint32_t n = hb->ncounters < M7B_HB_NCOUNTERS ? hb->ncounters : M7B_HB_NCOUNTERS;

	if (hb->now_ticks < c->last_tick) {
		/* A restart the clock shows is no repeated frame: one seen by seq before is
		 * sure now (its counters started over already), else this is one. */
		if (!c->unsure)
			start_over(c);
		c->unsure = false;
		/* Its HELLO, if it still comes, names this boot: no second start. */
		c->have_boot = false;
	}
	c->last_tick = hb->now_ticks;
	c->unsure_beats++;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t v = hb->counter[i];

		uint32_t step = v - c->last[i];

		/* A step of more than half the u32 range is a fall, not a wrap (2^31 events
		 * between two HEARTBEATs): a restart neither HELLO nor clock showed. */
		if (fwcount_is_gauge(i)) {
			c->total[i] = v;
		} else {
			uint64_t add = step > 0x80000000u ? v : step;

			c->total[i] += add;
			c->unsure_added[i] += add;
		}
		c->last[i] = v;
	}
	if (n > c->known)
		c->known = n;
}
