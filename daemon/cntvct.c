/* The system-counter mapping: min-width filtered CNTVCT / CLOCK_MONOTONIC read pairs
 * fed to the clockmap estimator, whose causal bound then holds to about a microsecond. */
#include "cntvct.h"

#include <errno.h>
#include <string.h>
#include <time.h>

void cntvct_init(struct cntvct *v, uint32_t cnt_hz)
{
	memset(v, 0, sizeof(*v));
	v->cnt_hz = cnt_hz;
	clockmap_init(&v->map, cnt_hz);
	v->map.max_ppm = CNTVCT_MAX_PPM;
}

void cntvct_set_host_rate(struct cntvct *v, double ppm, double err_ppm)
{
	clockmap_set_host_rate(&v->map, ppm, err_ppm);
	clockmap_reset(&v->map, v->cnt_hz);
}

const struct cntvct_pair *cntvct_narrowest(const struct cntvct_pair *p, unsigned n)
{
	const struct cntvct_pair *best = NULL;

	for (unsigned i = 0; i < n; i++) {
		if (p[i].after_ns < p[i].before_ns)
			continue;
		/* A preempted read is wide; the narrowest bracket pins the counter best. */
		if (!best || p[i].after_ns - p[i].before_ns < best->after_ns - best->before_ns)
			best = &p[i];
	}
	return best;
}

int cntvct_add(struct cntvct *v, const struct cntvct_pair *p, unsigned n)
{
	const struct cntvct_pair *b = cntvct_narrowest(p, n);

	if (!b)
		return -EINVAL;
	struct clockmap_sample s = {.t1_ns = b->before_ns,
				    .rx_ticks = b->cnt,
				    .tx_ticks = b->cnt,
				    .t4_ns = b->after_ns};
	int r = clockmap_add(&v->map, &s);
	return r < 0 ? r : 0;
}

bool cntvct_map(const struct cntvct *v, uint64_t ticks, uint32_t tick_hz, struct clockmap_time *t)
{
	uint64_t cnt = ticks;

	if (tick_hz == 0 || v->cnt_hz == 0)
		return false;
	if (tick_hz != v->cnt_hz) {
		/* The M7 may count the same counter scaled; convert exactly, or give up. */
		unsigned __int128 c = (unsigned __int128)ticks * v->cnt_hz / tick_hz;

		if (c > UINT64_MAX)
			return false;
		cnt = (uint64_t)c;
	}
	if (!clockmap_map(&v->map, cnt, t))
		return false;
	/* One M7 tick of truncation when it counts slower than the counter. */
	if (tick_hz < v->cnt_hz)
		t->err_ns += 1000000000u / tick_hz + 1;
	return true;
}

#if defined(__aarch64__)
static inline uint64_t read_cntvct(void)
{
	uint64_t v;

	/* isb: the counter read must not be hoisted above the clock_gettime before it. */
	__asm__ volatile("isb; mrs %0, cntvct_el0; isb" : "=r"(v)::"memory");
	return v;
}

int cntvct_sample(struct cntvct_pair *p, unsigned n, uint32_t *cnt_hz)
{
	uint64_t frq;
	struct timespec a, b;

	__asm__ volatile("mrs %0, cntfrq_el0" : "=r"(frq));
	if (frq == 0 || frq > UINT32_MAX)
		return -ENOTSUP;
	*cnt_hz = (uint32_t)frq;
	for (unsigned i = 0; i < n; i++) {
		clock_gettime(CLOCK_MONOTONIC, &a);
		p[i].cnt = read_cntvct();
		clock_gettime(CLOCK_MONOTONIC, &b);
		p[i].before_ns = (uint64_t)a.tv_sec * 1000000000u + (uint64_t)a.tv_nsec;
		p[i].after_ns = (uint64_t)b.tv_sec * 1000000000u + (uint64_t)b.tv_nsec;
	}
	return 0;
}
#else
int cntvct_sample(struct cntvct_pair *p, unsigned n, uint32_t *cnt_hz)
{
	(void)p;
	(void)n;
	(void)cnt_hz;
	return -ENOTSUP;
}
#endif
