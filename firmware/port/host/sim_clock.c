/* m7sim's tick clock: CLOCK_MONOTONIC scaled to a tick rate, with an offset and a drift. */
#include "sim_clock.h"

#include <math.h>
#include <time.h>

/* ticks = elapsed_ns * num / DEN, in exact integers: num = hz * (1e9 + drift in ppb). */
#define DEN ((unsigned __int128)1000000000u * 1000000000u)

static unsigned __int128 num(const struct sim_clock *c)
{
	long long ppb = llround(c->ppm * 1000.0);

	return (unsigned __int128)c->hz * (unsigned __int128)(1000000000ll + ppb);
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
	return c->offset + (uint64_t)((unsigned __int128)(mono_ns - c->t0_ns) * num(c) / DEN);
}

uint64_t sim_clock_ns_at(const struct sim_clock *c, uint64_t ticks)
{
	uint64_t ns;

	if (ticks <= c->offset)
		return c->t0_ns;
	ns = c->t0_ns +
	     (uint64_t)(((unsigned __int128)(ticks - c->offset) * DEN + num(c) - 1u) / num(c));
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
