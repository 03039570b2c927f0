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

void fwcount_hello(struct fwcount *c, uint32_t boot_id)
{
	if (c->have_boot && c->boot_id != boot_id)
		start_over(c);
	c->have_boot = true;
	c->boot_id = boot_id;
}

void fwcount_heartbeat(struct fwcount *c, const struct m7b_heartbeat *hb)
{
	uint32_t n = hb->ncounters < M7B_HB_NCOUNTERS ? hb->ncounters : M7B_HB_NCOUNTERS;

	if (hb->now_ticks < c->last_tick) {
		start_over(c);
		/* Its HELLO, if it still comes, names this boot: no second start. */
		c->have_boot = false;
	}
	c->last_tick = hb->now_ticks;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t v = hb->counter[i];

		uint32_t step = v - c->last[i];

		/* A step of more than half the u32 range is a fall, not a wrap (2^31 events
		 * between two HEARTBEATs): a restart neither HELLO nor clock showed. */
		if (fwcount_is_gauge(i))
			c->total[i] = v;
		else
			c->total[i] += step > 0x80000000u ? v : step;
		c->last[i] = v;
	}
	if (n > c->known)
		c->known = n;
}
