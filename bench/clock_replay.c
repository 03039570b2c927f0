/* clock_replay: the clock estimator on recorded runs. Each PREFIX names PREFIX.truth and
 * PREFIX.log, as bench_clock --record DIR leaves them (DIR/a, DIR/c-prime, ...); the
 * exchanges are fitted by this build's clockmap and the figures printed as bench_clock
 * prints them, in us. Deterministic: the same recording gives the same figures. --trace
 * first prints one line per exchange (clockrec_trace()): what the fit did and why.
 * --thin MS SECONDS keeps of the exchanges of the first SECONDS s after each HELLO only
 * those at least MS ms apart (clockrec_thin()): a run recorded with a dense early
 * schedule replayed as a sparser schedule would have sent it.
 * --slew PPM replays the run as if NTP had slewed CLOCK_MONOTONIC by PPM from the HELLO
 * on, the estimator told of it as the daemon is (clockrec_slew()); --slew-untold PPM
 * without telling it, as the daemon did before it measured slews.
 * Usage: clock_replay [--trace] [--thin MS SECONDS] [--slew[-untold] PPM] PREFIX... */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clockrec.h"

static int usage(void)
{
	fprintf(stderr, "usage: clock_replay [--trace] [--thin MS SECONDS] [--slew[-untold] PPM] "
			"PREFIX... (PREFIX.truth and PREFIX.log, from bench_clock --record DIR)\n");
	return 2;
}

int main(int argc, char **argv)
{
	bool trace = false;
	double thin_ms = 0, thin_s = 0, slew = 0;
	bool slew_told = false;

	while (argc > 1 && strncmp(argv[1], "--", 2) == 0) {
		if (strcmp(argv[1], "--trace") == 0) {
			trace = true;
			argc--;
			argv++;
		} else if (strcmp(argv[1], "--thin") == 0 && argc > 3) {
			char *e1, *e2;
			thin_ms = strtod(argv[2], &e1);
			thin_s = strtod(argv[3], &e2);
			if (*e1 || *e2 || !(thin_ms >= 2) || !(thin_s > 0))
				return usage();
			argc -= 3;
			argv += 3;
		} else if ((strcmp(argv[1], "--slew") == 0 ||
			    strcmp(argv[1], "--slew-untold") == 0) &&
			   argc > 2) {
			char *e;
			slew_told = strcmp(argv[1], "--slew") == 0;
			slew = strtod(argv[2], &e);
			if (*e || !(fabs(slew) < 100000) || slew == 0)
				return usage();
			argc -= 2;
			argv += 2;
		} else {
			return usage();
		}
	}
	if (argc < 2)
		return usage();
	if (thin_ms > 0)
		printf("thinned: of the first %g s after each HELLO, only exchanges at least %g ms "
		       "after the last one kept\n",
		       thin_s, thin_ms - 1);
	if (slew != 0)
		printf("slewed: CLOCK_MONOTONIC %+g ppm from the HELLO on, the estimator %s\n",
		       slew, slew_told ? "told" : "not told");
	printf("%-32s %8s %8s %8s %8s %8s %8s %8s %8s %8s %9s\n", "recording", "2-10s p50", "p99",
	       "max", ">=10s p50", "p99", "max", "cover", "mapped", "first", "exchanges");
	printf("%-32s %8s %8s %8s %8s %8s %8s %8s %8s %8s %9s\n", "target", "", "<=50", "", "",
	       "<=20", "", ">=99%", "", "<=50", "");
	int rc = 0;
	for (int i = 1; i < argc; i++) {
		struct clockrec r;
		struct clockrec_figures f;
		char msg[512];

		if (clockrec_load(&r, argv[i], msg, sizeof msg) < 0) {
			fprintf(stderr, "clock_replay: %s\n", msg);
			rc = 1;
			continue;
		}
		if (thin_ms > 0)
			(void)clockrec_thin(&r, (uint64_t)(thin_ms * 1e6),
					    (uint64_t)(thin_s * 1e9));
		if (slew != 0)
			(void)clockrec_slew(&r, slew, slew_told);
		if (trace) {
			printf("# %s\n", argv[i]);
			clockrec_trace(&r, stdout);
		}
		clockrec_replay(&r, &f);
		char row[512];
		(void)clockrec_format_row(row, sizeof row, argv[i], &f, r.n);
		fputs(row, stdout);
		clockrec_free(&r);
	}
	return rc;
}
