/* m7sim's tick clock: CLOCK_MONOTONIC scaled to a tick rate, with an offset and a drift. */
#ifndef M7SIM_SIM_CLOCK_H
#define M7SIM_SIM_CLOCK_H

#include <stdint.h>

struct sim_clock {
	uint32_t hz;	 /* nominal tick rate */
	uint64_t offset; /* ticks at t0_ns */
	double ppm;	 /* drift: the clock runs hz * (1 + ppm / 1e6) */
	uint64_t t0_ns;	 /* CLOCK_MONOTONIC at start */
};

/* Starts the clock at mono_ns. */
void sim_clock_init(struct sim_clock *c, uint32_t hz, uint64_t offset, double ppm,
		    uint64_t mono_ns);
/* Ticks at CLOCK_MONOTONIC time mono_ns (never less than offset). */
uint64_t sim_clock_ticks(const struct sim_clock *c, uint64_t mono_ns);
/* Earliest CLOCK_MONOTONIC time at which the clock reads at least `ticks`. */
uint64_t sim_clock_ns_at(const struct sim_clock *c, uint64_t ticks);
/* CLOCK_MONOTONIC now, in ns. */
uint64_t sim_clock_mono_ns(void);

#endif
