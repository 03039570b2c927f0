/* Recorded clock runs replayed through clockmap (see clockrec.h). */
#include "clockrec.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_clock.h"

#define STEP_NS 2000000ull /* the fake sends a DATA frame every 2 ms */

/* msg = "PATH: WHAT (the errno's text)"; returns -err. */
static int fail(char *msg, size_t cap, int err, const char *path, const char *what)
{
	if (what)
		snprintf(msg, cap, "%s: %s (%s)", path, what, strerror(err));
	else
		snprintf(msg, cap, "%s: %s", path, strerror(err));
	return -err;
}

static int load_truth(struct clockrec *r, const char *path, char *msg, size_t cap)
{
	FILE *f = fopen(path, "r");
	char line[256];

	if (!f)
		return fail(msg, cap, errno, path, NULL);
	while (fgets(line, sizeof line, f)) {
		uint64_t a, b;

		if (line[0] == '#')
			continue;
		if (sscanf(line, "hz %" SCNu32, &r->hz) == 1 ||
		    sscanf(line, "ppm %d", &r->ppm) == 1)
			continue;
		if (sscanf(line, "end %" SCNu64, &r->end_ns) == 1)
			continue;
		if (sscanf(line, "boot %" SCNu64 " %" SCNu64, &a, &b) == 2) {
			if (r->nboots == CLOCKREC_BOOTS) {
				fclose(f);
				return fail(msg, cap, EINVAL, path, "more boots than a run has");
			}
			r->boot[r->nboots].hello_ns = a;
			r->boot[r->nboots++].epoch_ns = b;
			continue;
		}
		fclose(f);
		return fail(msg, cap, EINVAL, path, "a line that is not hz, ppm, boot or end");
	}
	fclose(f);
	if (!r->hz || !r->nboots || r->end_ns <= r->boot[0].hello_ns)
		return fail(msg, cap, EINVAL, path, "needs hz, a boot and its end");
	/* The tick clock must run (a rate of 1e6 + ppm ppm), and the replay's points are
	 * counted from the first HELLO to the end: the boots in order, within it. */
	if (r->ppm <= -CLOCKREC_MAX_PPM || r->ppm >= CLOCKREC_MAX_PPM)
		return fail(msg, cap, EINVAL, path, "ppm beyond +-999999");
	for (unsigned i = 1; i < r->nboots; i++)
		if (r->boot[i].hello_ns <= r->boot[i - 1].hello_ns ||
		    r->boot[i].hello_ns >= r->end_ns)
			return fail(msg, cap, EINVAL, path, "boots out of order or after the end");
	if (r->end_ns - r->boot[0].hello_ns > CLOCKREC_MAX_SPAN_NS)
		return fail(msg, cap, EINVAL, path, "a run longer than an hour");
	return 0;
}

/* One "SYNC exchange:" line of the daemon's debug log. */
static bool parse_exchange(const char *line, struct clockmap_sample *s)
{
	const char *p = strstr(line, "SYNC exchange:");
	const char *t = p ? strstr(p, "host t1 ") : NULL;
	const char *m = t ? strstr(t, "M7 rx ") : NULL;

	return m && sscanf(t, "host t1 %" SCNu64 " t4 %" SCNu64, &s->t1_ns, &s->t4_ns) == 2 &&
	       sscanf(m, "M7 rx %" SCNu64 " tx %" SCNu64, &s->rx_ticks, &s->tx_ticks) == 2;
}

static int load_log(struct clockrec *r, const char *path, char *msg, size_t cap)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	size_t room = 0;

	if (!f)
		return fail(msg, cap, errno, path, NULL);
	while (fgets(line, sizeof line, f)) {
		struct clockmap_sample s;

		if (!parse_exchange(line, &s))
			continue;
		if (r->n == room) {
			room = room ? room * 2 : 1024;
			struct clockmap_sample *x = realloc(r->x, room * sizeof(*x));
			if (!x) {
				fclose(f);
				return fail(msg, cap, ENOMEM, path, NULL);
			}
			r->x = x;
		}
		r->x[r->n++] = s;
	}
	fclose(f);
	if (!r->n)
		return fail(msg, cap, EINVAL, path,
			    "no SYNC exchange with host times (not a debug log of m7bridged?)");
	return 0;
}

int clockrec_load(struct clockrec *r, const char *prefix, char *msg, size_t cap)
{
	char path[4096];
	int rc;

	memset(r, 0, sizeof(*r));
	snprintf(path, sizeof path, "%s.truth", prefix);
	rc = load_truth(r, path, msg, cap);
	if (rc == 0) {
		snprintf(path, sizeof path, "%s.log", prefix);
		rc = load_log(r, path, msg, cap);
	}
	if (rc < 0)
		clockrec_free(r);
	return rc;
}

void clockrec_free(struct clockrec *r)
{
	free(r->x);
	r->x = NULL;
	r->n = 0;
}

/* The boot whose span holds host time t (the last one whose HELLO is at or before it). */
static unsigned boot_of(const struct clockrec *r, uint64_t t)
{
	unsigned b = 0;

	while (b + 1 < r->nboots && r->boot[b + 1].hello_ns <= t)
		b++;
	return b;
}

size_t clockrec_thin(struct clockrec *r, uint64_t gap_ns, uint64_t until_ns)
{
	uint64_t slack = gap_ns > 1000000 ? gap_ns - 1000000 : 0, last = 0;
	unsigned last_boot = CLOCKREC_BOOTS;
	size_t kept = 0;

	for (size_t i = 0; i < r->n; i++) {
		const struct clockmap_sample *s = &r->x[i];
		unsigned b = boot_of(r, s->t1_ns);
		bool thin = s->t1_ns >= r->boot[b].hello_ns &&
			    s->t1_ns - r->boot[b].hello_ns < until_ns;

		/* The first exchange of a boot is kept: the HELLO's own SYNC. */
		if (thin && b == last_boot && s->t1_ns - last < slack)
			continue;
		last = s->t1_ns;
		last_boot = b;
		r->x[kept++] = *s;
	}
	size_t dropped = r->n - kept;
	r->n = kept;
	return dropped;
}

/* A true CLOCK_MONOTONIC time as the slewed clock shows it, and back. */
static uint64_t slewed(const struct clockrec *r, uint64_t t)
{
	if (r->slew_ppm == 0 || t <= r->slew_ref_ns)
		return t;
	return r->slew_ref_ns +
	       (uint64_t)llround((double)(t - r->slew_ref_ns) * (1.0 + r->slew_ppm * 1e-6));
}

static uint64_t unslewed(const struct clockrec *r, uint64_t t)
{
	if (r->slew_ppm == 0 || t <= r->slew_ref_ns)
		return t;
	return r->slew_ref_ns +
	       (uint64_t)llround((double)(t - r->slew_ref_ns) / (1.0 + r->slew_ppm * 1e-6));
}

int clockrec_slew(struct clockrec *r, double ppm, bool told)
{
	if (!(fabs(ppm) < 100000) || r->slew_ppm != 0)
		return -EINVAL;
	r->slew_ppm = ppm;
	r->slew_ref_ns = r->boot[0].hello_ns;
	r->slew_told = told;
	for (size_t i = 0; i < r->n; i++) {
		r->x[i].t1_ns = slewed(r, r->x[i].t1_ns);
		r->x[i].t4_ns = slewed(r, r->x[i].t4_ns);
	}
	for (unsigned b = 0; b < r->nboots; b++)
		r->boot[b].hello_ns = slewed(r, r->boot[b].hello_ns);
	r->end_ns = slewed(r, r->end_ns);
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(const double *v, size_t n, double p)
{
	return n ? v[(size_t)((double)(n - 1) * p)] : 0.0;
}

void clockrec_replay(const struct clockrec *r, struct clockrec_figures *f)
{
	size_t cap = (size_t)((r->end_ns - r->boot[0].hello_ns) / STEP_NS) + 2;
	double *err[2] = {calloc(cap, sizeof(double)), calloc(cap, sizeof(double))};
	size_t all = 0, mapped = 0, covered = 0, next = 0;
	struct clockmap c;

	memset(f, 0, sizeof(*f));
	f->first_ms = -1;
	clockmap_init(&c, r->hz);
	for (unsigned b = 0; b < r->nboots && err[0] && err[1]; b++) {
		uint64_t hello = r->boot[b].hello_ns, epoch = r->boot[b].epoch_ns;
		uint64_t end = b + 1 < r->nboots ? r->boot[b + 1].hello_ns : r->end_ns;

		/* A HELLO resets the map; a restart without one, its first DATA frame. */
		if (r->slew_told)
			clockmap_set_host_rate(&c, r->slew_ppm, 0.0);
		clockmap_reset(&c, r->hz);
		for (uint64_t t = hello; t < end; t += STEP_NS) {
			while (next < r->n && r->x[next].t4_ns <= t)
				(void)clockmap_add(&c, &r->x[next++]);
			/* The fake's clock runs on true MONOTONIC, the host's is slewed. */
			uint64_t tick = fake_clock_ticks(r->hz, r->ppm, epoch, unslewed(r, t));
			uint64_t truth = slewed(r, fake_clock_mono_of(r->hz, r->ppm, epoch, tick));
			struct clockmap_time m;

			all++;
			if (!clockmap_map(&c, tick, &m))
				continue;
			mapped++;
			if (b == 0 && f->first_ms < 0)
				f->first_ms = (double)(t - hello) / 1e6;
			double e = fabs((double)m.ns - (double)truth);
			covered += e <= (double)m.err_ns;
			uint64_t since = t - hello;
			if (since >= 2000000000ull)
				err[since >= 10000000000ull][f->points[since >= 10000000000ull]++] =
					e;
		}
	}
	for (int k = 0; k < 2 && err[k]; k++) {
		qsort(err[k], f->points[k], sizeof(double), cmp_double);
		f->p50[k] = pct(err[k], f->points[k], 0.50);
		f->p99[k] = pct(err[k], f->points[k], 0.99);
		f->max[k] = f->points[k] ? err[k][f->points[k] - 1] : 0.0;
	}
	f->cover = mapped ? (double)covered / (double)mapped : 0.0;
	f->mapped = all ? (double)mapped / (double)all : 0.0;
	free(err[0]);
	free(err[1]);
}

/* Host ns minus the true host time of a tick: how late t4 came after tx, or (negated) how
 * long the SYNC took to reach rx. */
static double since_tick(const struct clockrec *r, uint64_t epoch, uint64_t ns, uint64_t tick)
{
	return (double)ns - (double)slewed(r, fake_clock_mono_of(r->hz, r->ppm, epoch, tick));
}

/* The exchanges that bind the offset's envelope at the fit's rate, of the slices' least
 * delayed legs: the outbound leg that arrived latest against the line (lo) and the reply
 * that left earliest (hi). */
static void trace_binders(const struct clockmap *c, const struct clockmap_sample **lo,
			  const struct clockmap_sample **hi)
{
	double l = -INFINITY, h = INFINITY;

	*lo = &c->win[0].out;
	*hi = &c->win[0].ret;
	for (unsigned i = 0; i < c->count; i++) {
		const struct clockmap_sample *o = &c->win[i].out, *r = &c->win[i].ret;
		double rx = (double)(int64_t)(o->rx_ticks - c->base_ticks);
		double tx = (double)(int64_t)(r->tx_ticks - c->base_ticks);
		double t1 = (double)(int64_t)(o->t1_ns - c->base_ns);
		double t4 = (double)(int64_t)(r->t4_ns - c->base_ns);

		if (t1 - c->rate * (rx + 1) > l) {
			l = t1 - c->rate * (rx + 1);
			*lo = o;
		}
		if (t4 - c->rate * tx < h) {
			h = t4 - c->rate * tx;
			*hi = r;
		}
	}
}

void clockrec_trace(const struct clockrec *r, FILE *out)
{
	/* ns per tick, on the slewed clock */
	double true_rate = 1e15 / ((double)r->hz * (1e6 + r->ppm)) * (1.0 + r->slew_ppm * 1e-6);
	struct clockmap c;
	size_t next = 0;

	fprintf(out, "# t: s since the first HELLO; d1, d2: the exchange's true outbound and "
		     "return delays, us; err: mapped - true time at its t4, us; rate: fit - "
		     "true, ppm; rerr: the rate's bound, stat: its kept 3-sigma, ppm; bound: "
		     "t_err at t4, us; lo, hi: the exchanges binding the offset's envelope, "
		     "their age (s) and delay on that leg (us); n: slices in the window\n");
	fprintf(out, "%8s %7s %7s %8s %8s %7s %7s %7s %6s %6s %6s %6s %4s\n", "t", "d1", "d2",
		"err", "rate", "rerr", "stat", "bound", "lo_age", "lo_d1", "hi_age", "hi_d2", "n");
	clockmap_init(&c, r->hz);
	for (unsigned b = 0; b < r->nboots; b++) {
		uint64_t epoch = r->boot[b].epoch_ns;
		uint64_t end = b + 1 < r->nboots ? r->boot[b + 1].hello_ns : r->end_ns;

		if (r->slew_told)
			clockmap_set_host_rate(&c, r->slew_ppm, 0.0);
		clockmap_reset(&c, r->hz);
		while (next < r->n && r->x[next].t4_ns <= end) {
			const struct clockmap_sample *s = &r->x[next++];
			int rc = clockmap_add(&c, s);
			uint64_t tick =
				fake_clock_ticks(r->hz, r->ppm, epoch, unslewed(r, s->t4_ns));
			struct clockmap_time m;

			fprintf(out, "%8.3f %7.1f %7.1f",
				(double)(s->t1_ns - r->boot[0].hello_ns) / 1e9,
				-since_tick(r, epoch, s->t1_ns, s->rx_ticks) / 1e3,
				since_tick(r, epoch, s->t4_ns, s->tx_ticks) / 1e3);
			if (rc < 0 || !clockmap_map(&c, tick, &m)) {
				fprintf(out, " %s\n", rc < 0 ? "refused" : "unmapped");
				continue;
			}
			const struct clockmap_sample *lo, *hi;
			trace_binders(&c, &lo, &hi);
			fprintf(out,
				" %8.1f %8.3f %7.3f %7.3f %7.1f %6.1f %6.1f %6.1f %6.1f %4u%s\n",
				since_tick(r, epoch, m.ns, tick) / 1e3,
				(c.rate / true_rate - 1) * 1e6, c.rate_err * 1e6, c.kept_stat * 1e6,
				(double)m.err_ns / 1e3, (double)(s->t1_ns - lo->t1_ns) / 1e9,
				-since_tick(r, epoch, lo->t1_ns, lo->rx_ticks) / 1e3,
				(double)(s->t1_ns - hi->t1_ns) / 1e9,
				since_tick(r, epoch, hi->t4_ns, hi->tx_ticks) / 1e3, c.count,
				rc == 1 ? " new epoch" : "");
		}
	}
}

/* A figure in a column of width w, or none when there is none. */
static void cell(char *buf, size_t cap, int w, int prec, bool have, double v, const char *none)
{
	if (have)
		snprintf(buf, cap, "%*.*f", w, prec, v);
	else
		snprintf(buf, cap, "%*s", w, none);
}

int clockrec_format_row(char *buf, size_t cap, const char *name, const struct clockrec_figures *f,
			size_t exchanges)
{
	char c[8][32];

	for (int k = 0; k < 2; k++) {
		cell(c[3 * k], sizeof c[0], 8, 1, f->points[k] > 0, f->p50[k] / 1e3, "-");
		cell(c[3 * k + 1], sizeof c[0], 8, 1, f->points[k] > 0, f->p99[k] / 1e3, "-");
		cell(c[3 * k + 2], sizeof c[0], 8, 1, f->points[k] > 0, f->max[k] / 1e3, "-");
	}
	cell(c[6], sizeof c[0], 8, 1, f->first_ms >= 0, f->first_ms, "never");
	return snprintf(buf, cap, "%-32s %s %s %s %s %s %s %7.2f%% %7.1f%% %s %9zu\n", name, c[0],
			c[1], c[2], c[3], c[4], c[5], 100 * f->cover, 100 * f->mapped, c[6],
			exchanges);
}
