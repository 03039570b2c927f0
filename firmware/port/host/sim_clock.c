/* m7sim's tick clock: CLOCK_MONOTONIC scaled to a tick rate, with an offset and a drift. */
#include "sim_clock.h"

#include <math.h>
#include <time.h>

/* Ticks per ns as the drifting clock runs. */
static long double rate(const struct sim_clock *c)
{
	return (long double)c->hz * (1.0L + (long double)c->ppm / 1e6L) / 1e9L;
}

void sim_clock_init(struct sim_clock *c, uint32_t hz, uint64_t offset, double ppm, uint64_t mono_ns)
{
	c->hz = hz;
	c->offset = offset;
	c->ppm = ppm;
	c->t0_ns = mono_ns;
}

uint64_t sim_clock_ticks(const struct sim_clock *c, uint64_t mono_ns)
{
	if (mono_ns <= c->t0_ns)
		return c->offset;
	return c->offset + (uint64_t)floorl((long double)(mono_ns - c->t0_ns) * rate(c));
}

uint64_t sim_clock_ns_at(const struct sim_clock *c, uint64_t ticks)
{
	uint64_t ns;

	if (ticks <= c->offset)
		return c->t0_ns;
	ns = c->t0_ns + (uint64_t)ceill((long double)(ticks - c->offset) / rate(c));
	/* Rounding may leave us one tick short: step until the clock agrees. */
	while (sim_clock_ticks(c, ns) < ticks)
		ns++;
	return ns;
}

uint64_t sim_clock_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
