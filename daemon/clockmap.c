/* Clock mapping: minimum-delay filtering per time slice, a delay-weighted line through
 * the exchange midpoints, and an error bound derived from causality, not from hope. */
#include "clockmap.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

/* Rate is measured only over exchanges spanning at least this long; below it the
 * kept rate (or the nominal one with its a-priori tolerance) is used. */
#define CLOCKMAP_MIN_SPAN_NS 200e6
/* Rate error growth of a kept rate, per second of age (temperature, aging). */
#define CLOCKMAP_WANDER_PPM_PER_S 0.01
/* Delay filter: exchanges whose half round trip exceeds the lower quartile by more
 * than twice its distance from the best, plus this slack, carry too much queueing. */
#define CLOCKMAP_DELAY_SLACK_NS 2000.0
/* The envelope fit (rate from both legs' least delayed exchanges) from this many slices
 * on; below it the midpoints' line gives the rate. */
#define CLOCKMAP_ENV_MIN_SLICES 8u
/* Its weights: 1 / (delay above the leg's envelope + sigma)^2, sigma at least this, and
 * at least this fraction of the leg's lower-quartile delay above the envelope. */
#define CLOCKMAP_ENV_SIGMA_NS	10000.0
#define CLOCKMAP_ENV_SIGMA_FRAC 0.25
/* Reweighting passes, each judging the delays at the slope the previous one found. */
#define CLOCKMAP_ENV_PASSES 4

/* a - b as a double, without wrapping: far-apart values stay far apart. */
static double diff(uint64_t a, uint64_t b)
{
	return a >= b ? (double)(a - b) : -(double)(b - a);
}

void clockmap_init(struct clockmap *c, uint32_t tick_hz)
{
	memset(c, 0, offsetof(struct clockmap, win));
	c->tick_hz = tick_hz;
	c->nominal = tick_hz ? 1e9 / tick_hz : 0.0;
	c->max_ppm = CLOCKMAP_MAX_PPM;
}

void clockmap_reset(struct clockmap *c, uint32_t tick_hz)
{
	bool keep = c->have_rate && c->tick_hz == tick_hz && tick_hz != 0;
	double rate = c->kept_rate, err = c->kept_err, stat = c->kept_stat;
	uint64_t at = c->kept_at_ns, epochs = c->epochs, rejected = c->rejected;
	double max_ppm = c->max_ppm, host_ppm = c->host_ppm, host_err = c->host_err_ppm;

	clockmap_init(c, tick_hz);
	c->epochs = epochs;
	c->rejected = rejected;
	c->max_ppm = max_ppm > 0 ? max_ppm : CLOCKMAP_MAX_PPM;
	/* The M7 crystal's nominal rate in MONOTONIC ns: NTP's slew scales it. */
	c->host_ppm = host_ppm;
	c->host_err_ppm = host_err;
	c->host_ppm_used = host_ppm;
	c->host_err_used = host_err;
	c->nominal *= 1.0 + host_ppm * 1e-6;
	if (keep) {
		c->have_rate = true;
		c->kept_rate = rate;
		c->kept_err = err;
		c->kept_stat = stat;
		c->kept_at_ns = at;
	}
}

void clockmap_set_host_rate(struct clockmap *c, double ppm, double err_ppm)
{
	c->host_ppm = ppm;
	c->host_err_ppm = err_ppm;
}

/* The a-priori tolerance around nominal, as a fraction: the slew's measurement error
 * widens it. */
static double tol(const struct clockmap *c)
{
	return (c->max_ppm + c->host_err_used) * 1e-6;
}

void clockmap_forget_rate(struct clockmap *c)
{
	c->have_rate = false;
}

/* Half the round trip in ns with the M7's turnaround removed, plus one tick for the
 * truncation of rx and tx: the true host time of the midpoint tick lies within this. */
static double half_rtt(const struct clockmap *c, const struct clockmap_sample *s)
{
	double host = (double)(s->t4_ns - s->t1_ns);
	double m7 = (double)(s->tx_ticks - s->rx_ticks) * c->nominal;
	double h = host > m7 ? (host - m7) / 2 : 0.0;

	/* During the turnaround the M7 clock may run off nominal by the tolerance. */
	return h + m7 * tol(c) + c->nominal + 1.0;
}

/* Offset of line slope s through the in-fit points with weights w (weighted mean). */
static double fit_offset(const struct clockmap *c, const double *w, double s)
{
	double sw = 0, sr = 0;

	for (unsigned i = 0; i < c->count; i++) {
		if (!c->win[i].in_fit)
			continue;
		sw += w[i];
		sr += w[i] * (c->win[i].y - s * c->win[i].x);
	}
	return sw > 0 ? sr / sw : 0.0;
}

/* A rigorous bound on |s - true rate| / s from every pair of exchanges: the true line
 * passes within h of each midpoint, so its slope between two of them is known to
 * (h_a + h_b + |res_b - res_a|) / distance, whatever the offset. Infinity without a
 * usable pair. */
static double pair_bound(const struct clockmap *c, double s, double off)
{
	double best = INFINITY;

	for (unsigned i = 0; i < c->count; i++) {
		const struct clockmap_slot *a = &c->win[i];
		double ra = a->y - (off + s * a->x);

		for (unsigned j = i + 1; j < c->count; j++) {
			const struct clockmap_slot *b = &c->win[j];
			double rb = b->y - (off + s * b->x);
			double dist = fabs(b->x - a->x) * s;

			if (dist < 1e6)
				continue;
			double e = (a->h + b->h + fabs(rb - ra)) / dist;
			if (e < best)
				best = e;
		}
	}
	return best;
}

/* The envelope of the offset at x_ref (host ns of tick x_ref, relative to base_ns) for
 * rate s, from each slice's least delayed outbound and return legs, each bound widened by
 * u ns per tick of distance: false when the exchanges contradict each other at that
 * rate. */
static bool envelope(const struct clockmap *c, double s, double u, double x_ref, double *lo,
		     double *hi)
{
	double l = -INFINITY, h = INFINITY;

	for (unsigned i = 0; i < c->count; i++) {
		const struct clockmap_sample *o = &c->win[i].out, *r = &c->win[i].ret;
		double rx = diff(o->rx_ticks, c->base_ticks), tx = diff(r->tx_ticks, c->base_ticks);
		double t1 = diff(o->t1_ns, c->base_ns), t4 = diff(r->t4_ns, c->base_ns);

		/* rx truncates the arrival by up to a tick: the arrival is before rx + 1. */
		l = fmax(l, t1 - s * (rx + 1 - x_ref) - u * fabs(rx + 1 - x_ref));
		h = fmin(h, t4 - s * (tx - x_ref) + u * fabs(tx - x_ref));
	}
	*lo = l;
	*hi = h;
	return l <= h;
}

/* The slopes (host ns per tick) the legs allow: the true line passes above (t1, rx + 1)
 * and below (t4, tx) of every exchange, so any two exchanges a before b bound its slope
 * from both sides. The window's exchanges and, when not NULL, extra after them. False
 * when no pair bounds it both ways, or the pairs contradict each other. */
static bool leg_interval(const struct clockmap *c, const struct clockmap_sample *extra, double *slo,
			 double *shi)
{
	double lo = -INFINITY, hi = INFINITY;
	double rx[CLOCKMAP_WINDOW + 1], tx[CLOCKMAP_WINDOW + 1], t1[CLOCKMAP_WINDOW + 1],
		t4[CLOCKMAP_WINDOW + 1];
	unsigned n = c->count + (extra != NULL);

	/* Once per exchange rather than per pair: each is an integer below 2^53 (ticks and
	 * ns of a 300 s window from its newest exchange), so a difference of two of them is
	 * exact, the very double diff() gives for the pair. */
	for (unsigned i = 0; i < n; i++) {
		const struct clockmap_sample *a = i < c->count ? &c->win[i].s : extra;

		rx[i] = diff(a->rx_ticks, c->base_ticks);
		tx[i] = diff(a->tx_ticks, c->base_ticks);
		t1[i] = diff(a->t1_ns, c->base_ns);
		t4[i] = diff(a->t4_ns, c->base_ns);
	}
	for (unsigned i = 0; i < n; i++) {
		for (unsigned j = i + 1; j < n; j++) {
			double dlo = rx[j] - tx[i] + 1;
			double dhi = tx[j] - rx[i] - 1;

			/* No NaN here: plain comparisons, not the library's fmax() and fmin(). */
			if (dlo > 0) {
				double v = (t1[j] - t4[i]) / dlo;
				lo = v > lo ? v : lo;
			}
			if (dhi > 0) {
				double v = (t4[j] - t1[i]) / dhi;
				hi = v < hi ? v : hi;
			}
		}
	}
	*slo = lo;
	*shi = hi;
	return lo <= hi && !isinf(lo) && !isinf(hi);
}

/* Whether the legs' slopes lo .. hi lie beyond the tolerance around tick_hz (a broken
 * crystal, or a tick_hz that is not the counter's rate): a fit held at the tolerance's
 * edge would have a bound that does not hold. *ppm: the least the clock is off by,
 * positive when it runs fast. */
static bool beyond_tolerance(const struct clockmap *c, double lo, double hi, double *ppm)
{
	double t = tol(c);

	if (hi < c->nominal * (1 - t)) {
		*ppm = (c->nominal / hi - 1.0) * 1e6;
		return true;
	}
	if (lo > c->nominal * (1 + t)) {
		*ppm = (c->nominal / lo - 1.0) * 1e6;
		return true;
	}
	return false;
}

/* The k-th smallest of v[0..n-1] (k from 0), v reordered: Hoare's selection, linear on
 * average where sorting the window for one quantile would cost its square. */
static double kth_smallest(double *v, unsigned n, unsigned k)
{
	int lo = 0, hi = (int)n - 1, want = (int)k;

	while (lo < hi) {
		double pivot = v[lo + (hi - lo) / 2];
		int i = lo, j = hi;

		/* Hoare's partition: v[lo..j] <= pivot <= v[i..hi], j < i. */
		while (i <= j) {
			while (v[i] < pivot)
				i++;
			while (v[j] > pivot)
				j--;
			if (i <= j) {
				double t = v[i];
				v[i++] = v[j];
				v[j--] = t;
			}
		}
		if (want <= j)
			hi = j;
		else if (want >= i)
			lo = i;
		else
			break; /* between the parts: equal to the pivot */
	}
	return v[want];
}

/* The rate from both legs' lower envelopes at once: one slope, an intercept per leg,
 * through t1 against rx of each slice's least delayed outbound leg and t4 against tx of
 * its least delayed return. A point weighs 1 / (its delay above its leg's envelope +
 * sigma)^2, the delays judged at the slope of the pass before (s0 first): the floor of a
 * leg's delays belongs to the path, their bulk to the load, so the line follows the
 * floor, and a step of the floor (the host sleeping deeper once SYNCs come seldom) moves
 * it far less than a line through every point or through a few bins' minima would. A
 * leg whose floor is rarely reached (replies queued for up to milliseconds) gets a sigma
 * of a quarter of its lower-quartile delay, so its few lucky points do not tilt the
 * slope the other leg sets. Slope and relative standard error; false with fewer than
 * CLOCKMAP_ENV_MIN_SLICES slices. */
static bool envelope_fit(const struct clockmap *c, double s0, double *slope, double *se)
{
	double x[2][CLOCKMAP_WINDOW], y[2][CLOCKMAP_WINDOW], d[2][CLOCKMAP_WINDOW];
	double sig[2], w[2][CLOCKMAP_WINDOW], s = s0, chi2 = 0, sxx = 0;
	unsigned n = c->count;

	if (n < CLOCKMAP_ENV_MIN_SLICES)
		return false;
	for (unsigned i = 0; i < n; i++) {
		const struct clockmap_sample *o = &c->win[i].out, *r = &c->win[i].ret;

		x[0][i] = diff(o->rx_ticks, c->base_ticks);
		y[0][i] = diff(o->t1_ns, c->base_ns);
		x[1][i] = diff(r->tx_ticks, c->base_ticks);
		y[1][i] = diff(r->t4_ns, c->base_ns);
	}
	for (int pass = 0; pass < CLOCKMAP_ENV_PASSES; pass++) {
		double mx[2] = {0, 0}, my[2] = {0, 0}, sxy = 0;

		for (int leg = 0; leg < 2; leg++) {
			double part[CLOCKMAP_WINDOW], best = INFINITY, sw = 0;

			/* The delay up to a constant: t1 early against the line, t4 late. */
			for (unsigned i = 0; i < n; i++) {
				d[leg][i] = leg ? y[1][i] - s * x[1][i] : s * x[0][i] - y[0][i];
				best = fmin(best, d[leg][i]);
			}
			for (unsigned i = 0; i < n; i++)
				part[i] = d[leg][i] -= best;
			sig[leg] =
				fmax(CLOCKMAP_ENV_SIGMA_NS,
				     CLOCKMAP_ENV_SIGMA_FRAC * kth_smallest(part, n, (n - 1) / 4));
			for (unsigned i = 0; i < n; i++) {
				double e = d[leg][i] + sig[leg];

				w[leg][i] = 1.0 / (e * e);
				sw += w[leg][i];
				mx[leg] += w[leg][i] * x[leg][i];
				my[leg] += w[leg][i] * y[leg][i];
			}
			mx[leg] /= sw;
			my[leg] /= sw;
		}
		sxx = 0;
		for (int leg = 0; leg < 2; leg++)
			for (unsigned i = 0; i < n; i++) {
				double dx = x[leg][i] - mx[leg];

				sxx += w[leg][i] * dx * dx;
				sxy += w[leg][i] * dx * (y[leg][i] - my[leg]);
			}
		if (!(sxx > 0))
			return false;
		s = sxy / sxx;
		chi2 = 0;
		for (int leg = 0; leg < 2; leg++)
			for (unsigned i = 0; i < n; i++) {
				double r = y[leg][i] - my[leg] - s * (x[leg][i] - mx[leg]);

				chi2 += w[leg][i] * r * r;
			}
	}
	*slope = s;
	*se = sqrt(fmax(1.0, chi2 / (2 * n - 3)) / sxx) / c->nominal;
	return true;
}

/* Whether the line's time of a tick is a uint64_t. */
static bool line_fits(const struct clockmap_line *l, uint64_t ticks)
{
	int64_t dx = (int64_t)(ticks - l->tick0);
	int64_t r = (int64_t)((l->off + (__int128)dx * l->mul) >> l->shift);
	return r < 0 ? (uint64_t)-r <= l->ns0 : (uint64_t)r <= UINT64_MAX - l->ns0;
}

/* The ticks of lo .. hi whose time is a uint64_t, found once here rather than checked per
 * tick: the time moves one way with the tick, so they are one range, and the range of
 * times (2 h) is far below 2^64, so it holds tick0 or an end when it is not empty. */
static void narrow_line(struct clockmap_line *l, uint64_t lo, uint64_t hi)
{
	uint64_t in = line_fits(l, l->tick0) ? l->tick0 : line_fits(l, lo) ? lo : hi;

	if (!line_fits(l, in)) {
		l->lo = l->tick0;
		l->n = 0;
		return;
	}
	/* The first fitting tick of lo .. in, and the last of in .. hi. */
	for (uint64_t bad = lo, good = in; !line_fits(l, lo);) {
		uint64_t mid = bad + (good - bad) / 2;
		*(line_fits(l, mid) ? &good : &bad) = mid;
		if (good - bad <= 1)
			lo = good;
	}
	for (uint64_t good = in, bad = hi; !line_fits(l, hi);) {
		uint64_t mid = good + (bad - good) / 2;
		*(line_fits(l, mid) ? &good : &bad) = mid;
		if (bad - good <= 1)
			hi = good;
	}
	l->lo = lo;
	l->n = hi - lo + 1;
}

/* The fit as integers for clockmap_map(). The bound only ever rounds up: the distance
 * is counted from the tick below x_ref and one tick's growth is added for it. */
static void set_line(struct clockmap *c)
{
	struct clockmap_line *l = &c->line;
	int e;

	/* The largest shift that keeps mul below 2^62: rate < 2^e. */
	(void)frexp(c->rate, &e);
	l->shift = e >= 62 ? 0 : e < 0 ? 62 : (unsigned)(62 - e);
	double one = ldexp(1.0, (int)l->shift), grow = c->rate_err * c->rate;
	__int128 half = l->shift ? (__int128)1 << (l->shift - 1) : 0;

	l->tick0 = c->base_ticks;
	l->ns0 = c->base_ns;
	l->mul = (int64_t)llround(c->rate * one);
	l->off = (__int128)(c->offset * one) + half;
	l->dx_ref = (int64_t)floor(c->x_ref);
	l->emul = (uint64_t)ceil(grow * one);
	l->e0 = (__int128)ceil((c->err_ref + c->nominal + grow) * one) + ((__int128)1 << l->shift) -
		1;
	uint64_t max_dx = (uint64_t)((double)CLOCKMAP_MAX_EXTRAP_NS / c->nominal);
	uint64_t lo = l->tick0 > max_dx ? l->tick0 - max_dx : 0;
	uint64_t hi = UINT64_MAX - l->tick0 > max_dx ? l->tick0 + max_dx : UINT64_MAX;
	narrow_line(l, lo, hi);
}

static void clockmap_fit(struct clockmap *c)
{
	const struct clockmap_slot *newest = &c->win[c->count - 1];
	double hs[CLOCKMAP_WINDOW] = {0}, w[CLOCKMAP_WINDOW], hmin = INFINITY;
	double sw = 0, mx = 0, my = 0, sxx = 0, sxy = 0, xmin = INFINITY, xmax = -INFINITY;
	unsigned n = 0;

	c->base_ticks = newest->s.rx_ticks;
	c->base_ns = newest->s.t1_ns;
	for (unsigned i = 0; i < c->count; i++) {
		struct clockmap_slot *p = &c->win[i];

		/* Differences first: the raw values are too big for doubles to keep ns. */
		p->x = diff(p->s.rx_ticks, c->base_ticks) +
		       (double)(p->s.tx_ticks - p->s.rx_ticks) / 2;
		p->y = diff(p->s.t1_ns, c->base_ns) + (double)(p->s.t4_ns - p->s.t1_ns) / 2;
		p->h = half_rtt(c, &p->s);
		hs[i] = p->h;
		hmin = fmin(hmin, p->h);
	}
	/* A clock the exchanges prove out of tolerance is left unmapped, not fitted at the
	 * tolerance's edge with a bound that does not hold; for the rest of the epoch, as
	 * the proof stands. */
	double leg_lo, leg_hi;
	bool legs = leg_interval(c, NULL, &leg_lo, &leg_hi);
	if (legs && !c->off_tol)
		c->off_tol = beyond_tolerance(c, leg_lo, leg_hi, &c->off_ppm);
	if (c->off_tol) {
		c->valid = false;
		return;
	}
	/* The lower quartile, not the minimum, sets the filter: one unusually fast exchange
	 * must not thin the fit out to nothing. Selected, not sorted: the same value. */
	double hq = kth_smallest(hs, c->count, (c->count - 1) / 4);
	/* With few exchanges the quartile is the best one: then allow three times it. */
	double thr = fmax(hq + 2 * (hq - hmin), 3 * hmin) + CLOCKMAP_DELAY_SLACK_NS;
	double sigma0 = fmax(hmin / 2, 1000.0);

	for (unsigned i = 0; i < c->count; i++) {
		struct clockmap_slot *p = &c->win[i];
		double d = p->h - hmin + sigma0;

		p->in_fit = p->h <= thr;
		w[i] = 1.0 / (d * d);
		if (!p->in_fit)
			continue;
		sw += w[i];
		mx += w[i] * p->x;
		my += w[i] * p->y;
		xmin = fmin(xmin, p->x);
		xmax = fmax(xmax, p->x);
		n++;
	}
	mx /= sw;
	my /= sw;
	for (unsigned i = 0; i < c->count; i++) {
		const struct clockmap_slot *p = &c->win[i];

		if (!p->in_fit)
			continue;
		sxx += w[i] * (p->x - mx) * (p->x - mx);
		sxy += w[i] * (p->x - mx) * (p->y - my);
	}

	/* The rate to start from: the one kept from earlier (or nominal), with a rigorous
	 * bound and a statistical uncertainty, both aged. */
	double rs = c->nominal, rbound = tol(c), rstat = tol(c);
	if (c->have_rate) {
		double age = CLOCKMAP_WANDER_PPM_PER_S * 1e-6 *
			     fabs((double)(newest->s.t1_ns - c->kept_at_ns) * 1e-9);

		rs = c->kept_rate;
		rbound = c->kept_err + age;
		rstat = c->kept_stat + age;
		/* The legs prove the kept rate wrong (the clock's rate stepped, beyond the
		 * wander allowed): start from the nominal one and its tolerance again. */
		if (legs && (leg_hi < rs * (1 - rbound) || leg_lo > rs * (1 + rbound))) {
			rs = c->nominal;
			rbound = rstat = tol(c);
			c->have_rate = false;
		}
	}
	double s = rs, stat = rstat, beyond = 0;

	/* The measured rate replaces it when the exchanges span enough and its statistical
	 * uncertainty (three standard errors) is not much worse (within 2x, so that newer
	 * data is not locked out by one lucky fit): a thin window keeps the old one. */
	if (n >= 3 && sxx > 0 && (xmax - xmin) * c->nominal >= CLOCKMAP_MIN_SPAN_NS) {
		double sf = sxy / sxx, chi2 = 0;

		for (unsigned i = 0; i < c->count; i++) {
			const struct clockmap_slot *p = &c->win[i];
			double r = p->y - my - sf * (p->x - mx);

			if (p->in_fit)
				chi2 += w[i] * r * r;
		}
		double se = sqrt(fmax(1.0, chi2 / (n - 2)) / sxx) / c->nominal;

		/* Once there are enough slices, the legs' envelopes: a reply queued after tx
		 * spoils the return leg and the midpoints, not the outbound leg (and the other
		 * way round), and the floor of each leg is steadier than any midpoint. */
		double sl, sel;
		if (envelope_fit(c, rs, &sl, &sel)) {
			sf = sl;
			se = sel;
		}
		if (fabs(sf / c->nominal - 1.0) <= tol(c)) {
			if (3 * se < 2 * rstat) {
				s = sf;
				stat = 3 * se;
			}
		} else {
			/* Measured beyond the tolerance, not yet proven so by the legs: the
			 * a-priori bound would not hold, the measurement's does. */
			beyond = fabs(sf - s) / s + 3 * se;
		}
	}
	/* Rigorous: the starting rate's bound carried over the difference, or what the
	 * exchanges themselves prove, whichever is tighter. */
	double off = fit_offset(c, w, s);
	double err = fmin(rbound + fabs(s - rs) / rs, pair_bound(c, s, off));
	if (legs) /* the legs' slopes, rigorous too */
		err = fmin(err, fmax(s - leg_lo, leg_hi - s) / s);
	err = fmax(fmax(err, beyond), CLOCKMAP_MIN_PPM * 1e-6);
	if (s != rs || !c->have_rate || err < c->kept_err) {
		c->have_rate = s != c->nominal || c->have_rate;
		c->kept_rate = s;
		c->kept_err = err;
		c->kept_stat = fmax(stat, CLOCKMAP_MIN_PPM * 1e-6);
		c->kept_at_ns = newest->s.t1_ns;
	}

	/* The offset from the exchanges least likely to be skewed: the shortest round trips
	 * (queueing is one-sided), discounted by how far the rate carries them (NTP's
	 * minimum-delay filter, with age accounted for by the rate uncertainty). */
	double sw2 = 0, so2 = 0, sigma1 = fmax(hmin / 8, 500.0);
	for (unsigned i = 0; i < c->count; i++) {
		const struct clockmap_slot *p = &c->win[i];
		double d = p->h - hmin + sigma1 + stat * fabs(newest->x - p->x) * s;

		if (!p->in_fit)
			continue;
		sw2 += 1.0 / (d * d);
		so2 += (p->y - s * p->x) / (d * d);
	}
	if (sw2 > 0)
		off = so2 / sw2; /* the rate bound does not depend on the offset */

	/* Better still, each leg on its own: the SYNC arrived after t1 and the reply left
	 * before t4, so every exchange bounds the offset from below and from above, and the
	 * tightest bounds may come from different exchanges (a reply queued after tx only
	 * loosens its own upper bound). The midpoint of the envelope is the estimate. The
	 * bounds are carried at the rate as found, not widened by its uncertainty: the two
	 * binding exchanges are of different ages, so widening would move the midpoint by
	 * half the difference of their widths, an error of its own (several us when the
	 * uncertainty is a few ppm and the ages differ by seconds). */
	double x_ref = newest->x, lo, hi;
	if (envelope(c, s, 0.0, x_ref, &lo, &hi))
		off = (lo + hi) / 2 - s * x_ref;

	/* The bound at the newest exchange: the best any exchange vouches for, carried
	 * over the distance at the rate bound; or the rigorous envelope, if tighter. */
	double e_ref = INFINITY;
	for (unsigned i = 0; i < c->count; i++) {
		const struct clockmap_slot *p = &c->win[i];
		double e = p->h + fabs(p->y - (off + s * p->x)) + err * fabs(x_ref - p->x) * s;

		e_ref = fmin(e_ref, e);
	}
	if (envelope(c, s, err * s, x_ref, &lo, &hi)) {
		double o = off + s * x_ref;

		e_ref = fmin(e_ref, fmax(o - lo, hi - o));
	}
	c->rate = s;
	c->offset = off;
	c->rate_err = err;
	c->x_ref = x_ref;
	c->err_ref = e_ref;
	c->used = n;
	c->valid = true;
	set_line(c);
}

/* Error bound of the current fit at tick offset x (relative to base_ticks). */
static double err_at(const struct clockmap *c, double x)
{
	return c->err_ref + c->rate_err * fabs(x - c->x_ref) * c->rate + c->nominal;
}

/* Adds the exchange to the window; false when the window did not change (an exchange of
 * the newest slice slower than those kept, on both legs and round trip). */
static bool push(struct clockmap *c, const struct clockmap_sample *s)
{
	if (c->count > 0) {
		struct clockmap_slot *last = &c->win[c->count - 1];

		/* Same slice: keep the exchange with the shorter round trip (NTP's filter),
		 * and apart from it the least delayed leg each way, judged at the fit's rate
		 * (over a slice a rate off by the tolerance misjudges by 20 us at most). */
		if (s->t1_ns - last->s.t1_ns < CLOCKMAP_SLICE_NS) {
			double r = c->valid ? c->rate : c->nominal;
			bool changed = false;

			if (diff(s->rx_ticks, last->out.rx_ticks) * r <
			    diff(s->t1_ns, last->out.t1_ns)) {
				last->out = *s;
				changed = true;
			}
			if (diff(s->t4_ns, last->ret.t4_ns) <
			    diff(s->tx_ticks, last->ret.tx_ticks) * r) {
				last->ret = *s;
				changed = true;
			}
			if (half_rtt(c, s) < half_rtt(c, &last->s)) {
				last->s = *s;
				changed = true;
			}
			return changed;
		}
	}
	if (c->count == CLOCKMAP_WINDOW) {
		memmove(&c->win[0], &c->win[1], sizeof(c->win[0]) * (CLOCKMAP_WINDOW - 1));
		c->count--;
	}
	c->win[c->count].out = c->win[c->count].ret = *s;
	c->win[c->count++].s = *s;
	unsigned old = 0;
	while (old < c->count - 1 && s->t1_ns - c->win[old].s.t1_ns > CLOCKMAP_MAX_AGE_NS)
		old++;
	if (old) {
		memmove(&c->win[0], &c->win[old], sizeof(c->win[0]) * (c->count - old));
		c->count -= old;
	}
	return true;
}

static void remember(struct clockmap *c, const struct clockmap_sample *s)
{
	c->have_last = true;
	c->last_t1_ns = s->t1_ns;
	c->last_t4_ns = s->t4_ns;
	c->last_tx_ticks = s->tx_ticks;
}

static int new_epoch(struct clockmap *c, const struct clockmap_sample *s)
{
	clockmap_reset(c, c->tick_hz);
	c->epochs++;
	(void)push(c, s);
	remember(c, s);
	clockmap_fit(c);
	return 1;
}

int clockmap_add(struct clockmap *c, const struct clockmap_sample *s)
{
	if (c->tick_hz == 0 || s->t4_ns < s->t1_ns || s->tx_ticks < s->rx_ticks ||
	    (double)(s->tx_ticks - s->rx_ticks) * c->nominal >
		    (double)(s->t4_ns - s->t1_ns) * (1 + tol(c)) + c->nominal) {
		c->rejected++;
		return -EINVAL;
	}
	if (c->have_last) {
		if (s->t1_ns < c->last_t1_ns) { /* a stale reply */
			c->rejected++;
			return -EINVAL;
		}
		/* The M7 clock went backwards while the host's went on: the M7 restarted. */
		if (s->rx_ticks < c->last_tx_ticks) {
			if (s->t1_ns >= c->last_t4_ns)
				return new_epoch(c, s);
			c->rejected++;
			return -EINVAL;
		}
	}
	if (c->valid) {
		/* Causality: the true time of this midpoint lies within h of it; the fit's
		 * own bound says where the fit is. Disagreeing beyond both is an outlier, and
		 * several in a row mean the clock is not the one the fit describes. */
		double x =
			diff(s->rx_ticks, c->base_ticks) + (double)(s->tx_ticks - s->rx_ticks) / 2;
		double y = diff(s->t1_ns, c->base_ns) + (double)(s->t4_ns - s->t1_ns) / 2;
		double miss = fabs(y - (c->offset + c->rate * x));

		if (miss > half_rtt(c, s) + err_at(c, x) + 1000.0) {
			if (++c->bad_in_row < CLOCKMAP_BAD_IN_ROW) {
				c->rejected++;
				return -EINVAL;
			}
			/* The clock is not the one the fit describes: a new one (a restart whose
			 * HELLO was lost: no line passes every exchange's legs any more), or the
			 * same one running beyond the rate assumed, which the fit then finds. */
			double lo, hi;
			if (!leg_interval(c, s, &lo, &hi))
				return new_epoch(c, s);
			/* This exchange may prove it at once, where the window's slices
			 * would take 100 ms or more. */
			if (beyond_tolerance(c, lo, hi, &c->off_ppm)) {
				c->off_tol = true;
				c->valid = false;
			}
		}
	} else if (c->off_tol) {
		/* Unmapped for its rate: exchanges no line passes with those before are
		 * another clock's. */
		double lo, hi;
		if (!leg_interval(c, s, &lo, &hi))
			return new_epoch(c, s);
	}
	c->bad_in_row = 0;
	bool changed = push(c, s);
	remember(c, s);
	/* Several SYNCs share a slice early on: only a better one changes the fit. */
	if (changed && !c->off_tol)
		clockmap_fit(c);
	return 0;
}

void clockmap_info(const struct clockmap *c, struct clockmap_info *i)
{
	memset(i, 0, sizeof(*i));
	i->epochs = c->epochs;
	i->rejected = c->rejected;
	i->off_tol = c->off_tol;
	i->off_ppm = c->off_tol ? c->off_ppm : 0.0;
	if (!c->valid)
		return;
	i->valid = true;
	/* Against MONOTONIC at tick_hz, as published, whatever slew the epoch expected. */
	double at_hz = 1e9 / c->tick_hz;
	i->offset_ns = (double)c->base_ns + c->offset + c->rate * c->x_ref -
		       ((double)c->base_ticks + c->x_ref) * at_hz;
	i->rate_ppm = clockmap_drift_ppm(c);
	i->rate_err_ppm = c->rate_err * 1e6;
	i->err_ns = (uint64_t)ceil(err_at(c, c->x_ref));
	i->samples = c->used;
	i->updated_ns = c->win[c->count - 1].s.t4_ns;
}

double clockmap_drift_ppm(const struct clockmap *c)
{
	if (!c->valid || c->tick_hz == 0)
		return 0.0;
	return (1e9 / c->tick_hz / c->rate - 1.0) * 1e6;
}
