/* clock_replay: the clock estimator on recorded runs. Each PREFIX names PREFIX.truth and
 * PREFIX.log, as bench_clock --record DIR leaves them (DIR/a, DIR/c-prime, ...); the
 * exchanges are fitted by this build's clockmap and the figures printed as bench_clock
 * prints them, in us. Deterministic: the same recording gives the same figures. --trace
 * first prints one line per exchange (clockrec_trace()): what the fit did and why.
 * Usage: clock_replay [--trace] PREFIX... */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "clockrec.h"

int main(int argc, char **argv)
{
	bool trace = argc > 1 && strcmp(argv[1], "--trace") == 0;

	if (trace) {
		argc--;
		argv++;
	}
	if (argc < 2) {
		fprintf(stderr,
			"usage: clock_replay [--trace] PREFIX... (PREFIX.truth and PREFIX.log, "
			"from bench_clock --record DIR)\n");
		return 2;
	}
	printf("%-32s %8s %8s %8s %8s %8s %8s %8s %8s %8s\n", "recording", "2-10s p50", "p99",
	       "max", ">=10s p50", "p99", "max", "cover", "mapped", "first");
	printf("%-32s %8s %8s %8s %8s %8s %8s %8s %8s %8s\n", "target", "", "<=50", "", "", "<=20",
	       "", ">=99%", "", "<=50");
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
		if (trace) {
			printf("# %s\n", argv[i]);
			clockrec_trace(&r, stdout);
		}
		clockrec_replay(&r, &f);
		printf("%-32s %8.1f %8.1f %8.1f %8.1f %8.1f %8.1f %7.2f%% %7.1f%% %8.1f\n", argv[i],
		       f.p50[0] / 1e3, f.p99[0] / 1e3, f.max[0] / 1e3, f.p50[1] / 1e3,
		       f.p99[1] / 1e3, f.max[1] / 1e3, 100 * f.cover, 100 * f.mapped, f.first_ms);
		clockrec_free(&r);
	}
	return rc;
}
