/* Clock mapping: a least-squares line through the midpoints of the exchanges with the
 * shortest round trips. Short round trips bound the error; the line follows drift. */
#include "clockmap.h"

#include <errno.h>
#include <string.h>

/* Samples within this factor of the best round trip take part in the fit. Queueing
 * delay on the tty only ever adds, so long round trips carry little information. */
#define CLOCKMAP_RTT_SLACK 1.5
/* The slope is trusted only once the samples span this long (seconds). */
#define CLOCKMAP_MIN_SPAN_S 2.0

void clockmap_reset(struct clockmap *c, uint32_t tick_hz)
{
	memset(c, 0, sizeof(*c));
	c->tick_hz = tick_hz;
}

/* Round trip of an exchange in ns, the M7's own turnaround removed. */
static double clockmap_rtt(const struct clockmap *c, const struct clockmap_sample *s)
{
	double host = (double)(s->t4_ns - s->t1_ns);
	double m7 = (double)(s->tx_ticks - s->rx_ticks) * 1e9 / c->tick_hz;

	return host > m7 ? host - m7 : 0.0;
}

/* Is sample s among those close enough to the best round trip to take part? */
static bool clockmap_selected(const struct clockmap *c, const struct clockmap_sample *s,
			      double best)
{
	return clockmap_rtt(c, s) <= best * CLOCKMAP_RTT_SLACK + 1000.0;
}

static void clockmap_fit(struct clockmap *c)
{
	const double nominal = 1e9 / c->tick_hz;
	const struct clockmap_sample *newest =
		&c->win[(c->next + CLOCKMAP_WINDOW - 1) % CLOCKMAP_WINDOW];
	double best = -1.0, mx = 0, my = 0, sxx = 0, sxy = 0, xmin = 0, xmax = 0;
	double x[CLOCKMAP_WINDOW], y[CLOCKMAP_WINDOW];
	unsigned n = 0;

	for (unsigned i = 0; i < c->count; i++) {
		double r = clockmap_rtt(c, &c->win[i]);

		if (best < 0 || r < best)
			best = r;
	}
	c->base_ticks = newest->rx_ticks / 2 + newest->tx_ticks / 2;
	c->base_ns = newest->t1_ns / 2 + newest->t4_ns / 2;
	for (unsigned i = 0; i < c->count; i++) {
		const struct clockmap_sample *s = &c->win[i];

		if (!clockmap_selected(c, s, best))
			continue;
		/* Midpoints: the M7 saw the host's time halfway through the round trip. */
		x[n] = ((double)(int64_t)(s->rx_ticks - c->base_ticks) +
			(double)(int64_t)(s->tx_ticks - c->base_ticks)) /
		       2;
		y[n] = ((double)(int64_t)(s->t1_ns - c->base_ns) +
			(double)(int64_t)(s->t4_ns - c->base_ns)) /
		       2;
		xmin = n == 0 || x[n] < xmin ? x[n] : xmin;
		xmax = n == 0 || x[n] > xmax ? x[n] : xmax;
		mx += x[n];
		my += y[n];
		n++;
	}
	mx /= n;
	my /= n;
	for (unsigned i = 0; i < n; i++) {
		sxx += (x[i] - mx) * (x[i] - mx);
		sxy += (x[i] - mx) * (y[i] - my);
	}
	c->ns_per_tick = nominal;
	if (n >= 2 && sxx > 0 && (xmax - xmin) * nominal >= CLOCKMAP_MIN_SPAN_S * 1e9) {
		double slope = sxy / sxx;

		/* A crystal is off by tens of ppm, not percent: refuse wild slopes. */
		if (slope > nominal * 0.999 && slope < nominal * 1.001)
			c->ns_per_tick = slope;
	}
	c->offset_ns = my - c->ns_per_tick * mx;
	c->error_ns = best / 2;
	c->valid = true;
}

int clockmap_add(struct clockmap *c, const struct clockmap_sample *s)
{
	if (c->tick_hz == 0 || s->t4_ns < s->t1_ns || s->tx_ticks < s->rx_ticks) {
		c->rejected++;
		return -EINVAL;
	}
	if (c->count > 0) {
		const struct clockmap_sample *last =
			&c->win[(c->next + CLOCKMAP_WINDOW - 1) % CLOCKMAP_WINDOW];

		if (s->rx_ticks < last->tx_ticks || s->t1_ns < last->t1_ns) {
			c->rejected++;
			return -EINVAL;
		}
	}
	c->win[c->next] = *s;
	c->next = (c->next + 1) % CLOCKMAP_WINDOW;
	if (c->count < CLOCKMAP_WINDOW)
		c->count++;
	clockmap_fit(c);
	return 0;
}

bool clockmap_map(const struct clockmap *c, uint64_t ticks, uint64_t *host_ns)
{
	double v;

	if (!c->valid)
		return false;
	v = c->offset_ns + (double)(int64_t)(ticks - c->base_ticks) * c->ns_per_tick;
	if (v < 0 && (double)c->base_ns < -v)
		return false;
	*host_ns = (uint64_t)((int64_t)c->base_ns + (int64_t)(v < 0 ? v - 0.5 : v + 0.5));
	return true;
}

double clockmap_drift_ppm(const struct clockmap *c)
{
	double nominal;

	if (!c->valid || c->tick_hz == 0)
		return 0.0;
	nominal = 1e9 / c->tick_hz;
	return (nominal / c->ns_per_tick - 1.0) * 1e6;
}
