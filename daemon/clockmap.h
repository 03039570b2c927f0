/* Maps M7 ticks to host CLOCK_MONOTONIC from SYNC / SYNC_REPLY exchanges. Pure logic. */
#ifndef M7B_CLOCKMAP_H
#define M7B_CLOCKMAP_H

#include <stdbool.h>
#include <stdint.h>

#define CLOCKMAP_WINDOW	       128	       /* time slices kept for the fit */
#define CLOCKMAP_SLICE_NS      100000000ull    /* one exchange (the best) per 100 ms slice */
#define CLOCKMAP_MAX_AGE_NS    300000000000ull /* slices older than 300 s leave the fit */
#define CLOCKMAP_MAX_PPM       200.0	       /* a-priori rate tolerance before any fit */
#define CLOCKMAP_MIN_PPM       0.05	       /* floor of the rate error (crystal wander) */
#define CLOCKMAP_MAX_EXTRAP_NS 3600000000000ll /* ticks further than 1 h: left unmapped */
#define CLOCKMAP_BAD_IN_ROW    3 /* inconsistent replies in a row that mean a new epoch */

/* One exchange: host sent SYNC at t1 and got the reply at t4 (host ns); the M7 saw it
 * at rx and answered at tx (M7 ticks). */
struct clockmap_sample {
	uint64_t t1_ns;
	uint64_t rx_ticks;
	uint64_t tx_ticks;
	uint64_t t4_ns;
};

/* A mapped tick: host ns and a bound on its error (offset, rate x distance, quantum). */
struct clockmap_time {
	uint64_t ns;
	uint64_t err_ns;
};

/* A snapshot of the estimate for STATUS / CLOCK. */
struct clockmap_info {
	bool valid;
	double offset_ns;    /* host ns minus nominal tick time, at the reference */
	double rate_ppm;     /* M7 rate against the host, positive when it runs fast */
	double rate_err_ppm; /* bound on the rate error */
	uint64_t err_ns;     /* bound at the reference point (the newest exchange) */
	unsigned samples;    /* exchanges (slices) in the fit */
	uint64_t updated_ns; /* host time of the newest exchange */
	uint64_t epochs;     /* resets caused by the replies themselves (reboots) */
	uint64_t rejected;   /* exchanges refused */
	bool off_tol;	     /* unmapped: the rate is proven beyond the tolerance */
	double off_ppm;	     /* then the least it is off by, positive when fast */
};

/* The fit in integer form, set by each fit, so that mapping a tick costs a subtraction, a
 * multiply and adds. With dx = ticks - tick0: host ns = ns0 + (off + dx * mul) >> shift,
 * and the bound (e0 + |dx - dx_ref| * emul) >> shift. mul is the rate in ns per tick
 * scaled by 2^shift, exactly the double the fit found; off and e0 carry the rounding
 * (to nearest, and up). */
struct clockmap_line {
	uint64_t tick0, ns0;
	__int128 off, e0;
	int64_t mul, dx_ref;
	uint64_t emul;
	/* Ticks mapped: lo .. lo + n - 1 (none when n is 0), 1 h either side of tick0 and
	 * only those whose time is a uint64_t. */
	uint64_t lo, n;
	unsigned shift;
};

struct clockmap_slot {
	struct clockmap_sample s; /* the least round trip: the midpoint's */
	/* The slice's least delayed outbound leg and return leg, each judged on its own (at
	 * the rate of the fit then): with a reply queued after tx the least round trip says
	 * little about the SYNC's way out, and the legs' envelopes are built from these. */
	struct clockmap_sample out, ret;
	double x;    /* midpoint tick - base_ticks */
	double y;    /* midpoint host ns - base_ns */
	double h;    /* half the round trip, M7 turnaround removed: the midpoint's bound */
	bool in_fit; /* passed the delay filter */
};

struct clockmap {
	uint32_t tick_hz;
	double nominal;	     /* ns per tick at tick_hz */
	double max_ppm;	     /* a-priori rate tolerance (CLOCKMAP_MAX_PPM unless changed) */
	unsigned count;	     /* slots of win[] in use; those beyond are never read */
	unsigned bad_in_row; /* consecutive replies inconsistent with the fit */
	bool have_last;	     /* the newest accepted exchange, for order checks */
	uint64_t last_t1_ns, last_t4_ns, last_tx_ticks;
	/* The fit: host_ns = base_ns + offset + (ticks - base_ticks) * rate; error bound
	 * err_ref + rate_err * |host distance from ref| + one tick. */
	bool valid;
	uint64_t base_ticks;
	uint64_t base_ns;
	double offset;
	double rate;	 /* ns per tick */
	double rate_err; /* bound on |rate - true rate| / rate (dimensionless) */
	double x_ref;	 /* tick (relative to base) where err_ref holds */
	double err_ref;
	struct clockmap_line line; /* the same fit, for clockmap_map() */
	unsigned used;
	/* The last good rate, kept when the window is too thin to measure one. */
	bool have_rate;
	double kept_rate, kept_err, kept_stat; /* rate, rigorous bound, 3 std errors */
	uint64_t kept_at_ns;
	uint64_t epochs, rejected;
	/* The exchanges prove the rate beyond max_ppm of tick_hz: left unmapped (valid
	 * false) until they no longer do or the epoch ends. off_ppm: the least it is off. */
	bool off_tol;
	double off_ppm;
	/* CLOCK_MONOTONIC's rate against its raw rate (NTP slewing it), in ppm, and a bound
	 * on that figure's error: set by clockmap_set_host_rate(), taken (host_ppm_used,
	 * host_err_used) when an epoch starts, so that a fit never changes centre. */
	double host_ppm, host_err_ppm, host_ppm_used, host_err_used;
	/* Last, so that starting over touches only the fields above: a daemon keeps a map
	 * for each of its channel slots, and the windows of the unused ones stay untouched
	 * (not resident). */
	struct clockmap_slot win[CLOCKMAP_WINDOW]; /* oldest first */
};

/* Starts over, forgetting everything (also the kept rate). */
void clockmap_init(struct clockmap *c, uint32_t tick_hz);
/* Starts a new epoch (new boot): drops the exchanges, keeps the last good rate as a
 * hint when tick_hz is unchanged, since the crystal did not change. */
void clockmap_reset(struct clockmap *c, uint32_t tick_hz);
/* Forgets the last good rate (the host clock's own rate changed: it no longer holds);
 * the next fit starts from the nominal rate and its tolerance. */
void clockmap_forget_rate(struct clockmap *c);
/* CLOCK_MONOTONIC runs ppm (± err_ppm) off its raw rate: NTP slews it, up to thousands
 * of ppm right after boot. The next epoch (clockmap_reset()) then expects tick_hz ticks
 * per raw second, tick_hz / (1 + ppm) per MONOTONIC second, within the tolerance widened
 * by err_ppm, rather than tick_hz per MONOTONIC second: a clock within the tolerance of
 * tick_hz is then fitted and mapped from its first exchanges whatever the slew. */
void clockmap_set_host_rate(struct clockmap *c, double ppm, double err_ppm);
/* Adds an exchange and refits. 0 when used, 1 when it started a new epoch (the M7
 * clock went backwards, or replies kept contradicting the fit: a reboot whose HELLO was
 * lost), -EINVAL for an impossible or inconsistent exchange (counted, ignored). */
int clockmap_add(struct clockmap *c, const struct clockmap_sample *s);
/* The low 64 bits of (*base + x * y) >> shift, the product of signed (clockmap_fix_s) or
 * unsigned (clockmap_fix_u) 64-bit values taken whole, for a shift below 64 (a line's is
 * at most 62). On x86-64 that is four instructions with *base read where it is: compilers
 * shift all 128 bits and test for shifts of 64 and more, and in the frame's path copy the
 * 128-bit base to the stack first. */
#if defined(__x86_64__)
#define CLOCKMAP_FIX(mul, base, x, y, shift)                                                       \
	({                                                                                         \
		uint64_t lo_, hi_;                                                                 \
		__asm__(mul " %[y_]\n\t"                                                           \
			    "addq %[b_], %%rax\n\t"                                                \
			    "adcq %H[b_], %%rdx\n\t"                                               \
			    "shrdq %%cl, %%rdx, %%rax"                                             \
			: "=a"(lo_), "=&d"(hi_)                                                    \
			: "0"(x), [y_] "rm"(y), [b_] "m"(*(base)), "c"(shift)                      \
			: "cc");                                                                   \
		lo_;                                                                               \
	})
#endif

static inline uint64_t clockmap_fix_s(const __int128 *base, int64_t x, int64_t y, unsigned shift)
{
#if defined(__x86_64__)
	return CLOCKMAP_FIX("imulq", base, x, y, shift);
#else
	return (uint64_t)((*base + (__int128)x * y) >> shift);
#endif
}

static inline uint64_t clockmap_fix_u(const __int128 *base, uint64_t x, uint64_t y, unsigned shift)
{
#if defined(__x86_64__)
	return CLOCKMAP_FIX("mulq", base, x, y, shift);
#else
	return (uint64_t)((*base + (__int128)x * y) >> shift);
#endif
}

/* The line's host ns at dx ticks from tick0 (a tick of its range). */
static inline uint64_t clockmap_line_at(const struct clockmap_line *l, int64_t dx)
{
	return l->ns0 + clockmap_fix_s(&l->off, dx, l->mul, l->shift);
}

/* One tick of the line: host ns and the tick's distance from tick0; false when too far
 * off, never wrapped or overflowed (below lo, the difference wraps to beyond n). */
static inline bool clockmap_line_ns(const struct clockmap_line *l, uint64_t ticks, int64_t *dx,
				    uint64_t *ns)
{
	if (ticks - l->lo >= l->n)
		return false;
	*dx = (int64_t)(ticks - l->tick0);
	*ns = clockmap_line_at(l, *dx);
	return true;
}

/* The line's distance of a tick (dx from tick0) from the reference, which the bound
 * grows with. */
static inline uint64_t clockmap_line_dist(const struct clockmap_line *l, int64_t dx)
{
	return dx >= l->dx_ref ? (uint64_t)(dx - l->dx_ref) : (uint64_t)(l->dx_ref - dx);
}

/* The line's bound at that distance. */
static inline uint64_t clockmap_line_err(const struct clockmap_line *l, uint64_t dist)
{
	return clockmap_fix_u(&l->e0, dist, l->emul, l->shift);
}

/* Maps a tick to host ns with its error bound; false while unmapped or too far off.
 * Inline: the mapping itself is a dozen instructions. */
static inline bool clockmap_map(const struct clockmap *c, uint64_t ticks, struct clockmap_time *t)
{
	int64_t dx;

	if (!c->valid || !clockmap_line_ns(&c->line, ticks, &dx, &t->ns))
		return false;
	t->err_ns = clockmap_line_err(&c->line, clockmap_line_dist(&c->line, dx));
	return true;
}

/* The farther of two ticks' distances from the reference (dx from tick0): of the later
 * one's distance past it and the earlier one's before it, the larger (the other may be
 * negative). */
static inline uint64_t clockmap_line_dist2(const struct clockmap_line *l, int64_t dxa, int64_t dxb)
{
	int64_t hi = dxb, lo = dxa;
	if (__builtin_expect(dxa > dxb, 0)) { /* a capture ends after it starts */
		hi = dxa;
		lo = dxb;
	}
	int64_t past = hi - l->dx_ref, before = l->dx_ref - lo;
	return (uint64_t)(past > before ? past : before);
}

/* The two ticks of a capture (t_first, t_last) on the line: host ns, and the larger of
 * their bounds. The same as clockmap_line_ns() and the bound on each, but the bound grows
 * with the distance from the reference, so only the farther tick's is computed. */
static inline bool clockmap_line_pair(const struct clockmap_line *l, uint64_t a, uint64_t b,
				      uint64_t *ns_a, uint64_t *ns_b, uint64_t *err_ns)
{
	/* Both ranges first, as clockmap_line_ns() checks them: fewer values live across. */
	if (a - l->lo >= l->n || b - l->lo >= l->n)
		return false;
	int64_t dxa = (int64_t)(a - l->tick0), dxb = (int64_t)(b - l->tick0);
	*ns_a = clockmap_line_at(l, dxa);
	*ns_b = clockmap_line_at(l, dxb);
	*err_ns = clockmap_line_err(l, clockmap_line_dist2(l, dxa, dxb));
	return true;
}

/* Maps the two ticks of a capture with the fit: clockmap_line_pair() while it is valid.
 * Each DATA frame runs this once (through the copy of the line in clockfast.h): its
 * FRAME and its copy in the replay ring share the result. */
static inline bool clockmap_map_pair(const struct clockmap *c, uint64_t a, uint64_t b,
				     uint64_t *ns_a, uint64_t *ns_b, uint64_t *err_ns)
{
	return c->valid && clockmap_line_pair(&c->line, a, b, ns_a, ns_b, err_ns);
}
/* The estimate, for reports. */
void clockmap_info(const struct clockmap *c, struct clockmap_info *i);
/* The M7 clock's rate error against the host in ppm, positive when it runs fast. */
double clockmap_drift_ppm(const struct clockmap *c);

#endif
