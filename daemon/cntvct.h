/* The i.MX8M system counter: relates CNTVCT_EL0 counts (which an M7 reading SYS_CTR
 * also sees) to CLOCK_MONOTONIC from tight read pairs. Pure math plus one sampler. */
#ifndef M7B_CNTVCT_H
#define M7B_CNTVCT_H

#include <stdbool.h>
#include <stdint.h>

#include "clockmap.h"

#define CNTVCT_TRIES 16 /* reads per sampling round; the narrowest one is kept */
/* The counter's rate against CLOCK_MONOTONIC beyond the slew measured
 * (cntvct_set_host_rate()): NTP's frequency correction and a slew begun since. */
#define CNTVCT_MAX_PPM 600.0

/* One read of the counter bracketed by two CLOCK_MONOTONIC reads. */
struct cntvct_pair {
	uint64_t before_ns;
	uint64_t cnt;
	uint64_t after_ns;
};

/* The relation counter -> CLOCK_MONOTONIC, fitted over the narrowest pairs. */
struct cntvct {
	uint32_t cnt_hz;
	struct clockmap map; /* a pair is an exchange with no turnaround */
};

/* Starts over for a counter at cnt_hz (CNTFRQ_EL0; 8 MHz on the i.MX8M). */
void cntvct_init(struct cntvct *v, uint32_t cnt_hz);
/* Starts over expecting CLOCK_MONOTONIC to run ppm (± err_ppm) off the counter's rate:
 * NTP slews it by up to thousands of ppm, beyond the tolerance. */
void cntvct_set_host_rate(struct cntvct *v, double ppm, double err_ppm);
/* The narrowest well-formed pair of n, or NULL when none is. */
const struct cntvct_pair *cntvct_narrowest(const struct cntvct_pair *p, unsigned n);
/* Adds the narrowest of n pairs from one round. 0, or -EINVAL if none was usable. */
int cntvct_add(struct cntvct *v, const struct cntvct_pair *p, unsigned n);
/* Maps M7 ticks of the same counter, counted at tick_hz, to CLOCK_MONOTONIC with a
 * bound; false while unknown or when the ticks are too far off to convert. */
bool cntvct_map(const struct cntvct *v, uint64_t ticks, uint32_t tick_hz, struct clockmap_time *t);
/* Reads n pairs and the counter's frequency; -ENOTSUP where there is no CNTVCT_EL0. */
int cntvct_sample(struct cntvct_pair *p, unsigned n, uint32_t *cnt_hz);

#endif
