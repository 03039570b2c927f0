/* Recorded clock runs: the SYNC exchanges a daemon fitted (its debug log) and the fake
 * M7's tick clock (bench_clock --record), replayed through clockmap offline. The same
 * exchanges then give the same figures on every run, so the estimator can be judged on
 * what a quiet or busy machine really did, deterministically. Not part of the product. */
#ifndef M7B_CLOCKREC_H
#define M7B_CLOCKREC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "clockmap.h"

#define CLOCKREC_BOOTS	     2
#define CLOCKREC_MAX_PPM     1000000	      /* |ppm| below: the clock runs */
#define CLOCKREC_MAX_SPAN_NS 3600000000000ull /* a run replayed: at most 1 h */

struct clockrec {
	uint32_t hz;
	int ppm;
	unsigned nboots;
	struct {
		uint64_t hello_ns; /* the HELLO, or the restart whose HELLO was lost */
		uint64_t epoch_ns; /* CLOCK_MONOTONIC ns of tick 0 */
	} boot[CLOCKREC_BOOTS];
	uint64_t end_ns;
	struct clockmap_sample *x; /* in the order the daemon fitted them */
	size_t n;
	/* clockrec_slew(): CLOCK_MONOTONIC slewed by slew_ppm from slew_ref_ns on, and whether
	 * the estimator is told (the daemon measures the slew against MONOTONIC_RAW). */
	double slew_ppm;
	uint64_t slew_ref_ns;
	bool slew_told;
};

/* What a replay gives, as bench_clock prints it: |error| percentiles in ns between 2 and
 * 10 s after the HELLO (0) and from 10 s on (1), of one point every 2 ms, as the fake's
 * DATA frames. */
struct clockrec_figures {
	double p50[2], p99[2], max[2];
	size_t points[2];
	double cover;	 /* mapped points whose |error| <= their bound, fraction */
	double mapped;	 /* points mapped, fraction of all */
	double first_ms; /* HELLO to the first mapped point; negative: never */
};

/* Reads PREFIX.truth and PREFIX.log; 0, or -errno with a line for the user in msg (a
 * truth whose clock does not run, whose boots are out of order or after its end, or that
 * spans more than an hour: -EINVAL). */
int clockrec_load(struct clockrec *r, const char *prefix, char *msg, size_t cap);
void clockrec_free(struct clockrec *r);

/* Drops exchanges of the first until_ns after each boot's HELLO that began less than
 * gap_ns - 1 ms after the last one kept (the daemon's timer counts whole ms), as if SYNCs
 * had gone out every gap_ns then: a dense schedule judged against a sparser one on the
 * same exchanges. Returns how many were dropped. */
size_t clockrec_thin(struct clockrec *r, uint64_t gap_ns, uint64_t until_ns);

/* Replays the run as if NTP had slewed CLOCK_MONOTONIC by ppm (|ppm| < 100000) from the
 * first HELLO on: every host time after it moves (t1, t4, the HELLOs, the end), and the
 * truth with them; told: the estimator is told the slew at each HELLO, as the daemon
 * tells it what it measured. A slew beyond the 200 ppm tolerance, untold, is what the
 * daemon did before it measured the slew. -EINVAL for a ppm out of range. */
int clockrec_slew(struct clockrec *r, double ppm, bool told);
/* Feeds the exchanges to a clockmap in order, as the daemon did (reset at each HELLO and,
 * when a restart's HELLO was lost, at the first frame after it, as its DATA ticks show),
 * and maps a frame's tick every 2 ms with the fit of the exchanges received by then. */
void clockrec_replay(const struct clockrec *r, struct clockrec_figures *f);

/* One row of figures as clock_replay prints it (in us, as bench_clock does), '\n'
 * included: "-" for a window without points and "never" for a first mapping that never
 * came, as bench_clock prints them: never a figure of nothing. Its length, as snprintf's. */
int clockrec_format_row(char *buf, size_t cap, const char *name, const struct clockrec_figures *f,
			size_t exchanges);

/* The same feed, one line per exchange: its true leg delays, the fit's error, rate and
 * bound after it, and which exchanges bind the offset's envelope. For finding out why. */
void clockrec_trace(const struct clockrec *r, FILE *out);

#endif
