/* The fake M7's tick clock, an exact function of CLOCK_MONOTONIC: shared by the fake
 * itself and by the replay of recorded runs, which must agree with it to the tick. */
#ifndef M7B_FAKE_CLOCK_H
#define M7B_FAKE_CLOCK_H

#include <stdint.h>

/* ticks = floor((mono - epoch_ns) * hz * (1e6 + ppm) / 1e15); 0 before the epoch. */
static inline uint64_t fake_clock_ticks(uint32_t hz, int ppm, uint64_t epoch_ns, uint64_t mono)
{
	if (mono < epoch_ns)
		return 0;
	return (uint64_t)((unsigned __int128)(mono - epoch_ns) * hz * (uint64_t)(1000000 + ppm) /
			  1000000000000000ull);
}

/* The first CLOCK_MONOTONIC ns at which the clock shows tick t. */
static inline uint64_t fake_clock_mono_of(uint32_t hz, int ppm, uint64_t epoch_ns, uint64_t t)
{
	unsigned __int128 den = (unsigned __int128)hz * (uint64_t)(1000000 + ppm);
	unsigned __int128 num = (unsigned __int128)t * 1000000000000000ull;

	return epoch_ns + (uint64_t)((num + den - 1) / den);
}

#endif
