/* Clock sync: SYNC schedule per channel, SYNC_REPLY into its clockmap, the system-counter
 * and host-clock shortcuts, and the tick -> MONOTONIC / REALTIME mapper for FRAME. */
#include "clocksync.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "clockfast.h"
#include "clockmap.h"
#include "cntvct.h"
#include "daemon.h"
#include "txthread.h"

#define CLOCKSYNC_TICK_MS 250 /* REALTIME offset refresh, counter sampling, CLOCK checks */

struct cs_chan {
	struct clocksync *cs;
	struct clockfast *fast; /* what DATA frames read: kept current by fast_update() */
	struct channel *ch;	/* NULL: slot unused */
	struct event *timer;	/* the next SYNC */
	struct clockmap map;
	enum clocksync_source src;
	uint32_t src_hz; /* 0: the HELLO's tick_hz */
	bool src_bi;	 /* src came from BOOT_INFO: a new boot's BOOT_INFO says it again */
	bool have_boot;
	uint32_t boot_id, tick_hz;
	uint64_t hello_ms;    /* when the schedule restarted */
	uint64_t next_ms;     /* when the next SYNC is due */
	uint64_t last_cookie; /* host_time of the newest SYNC */
	uint64_t min_cookie;  /* replies to older SYNCs belong to a previous boot */
	/* The newest HEARTBEAT's ticks (0: none yet): an earlier one means the M7 clock
	 * started over. DATA's per port are in the fast map. */
	uint64_t last_beat;
	/* A firmware whose ticks keep going back would log a restart per frame. */
	struct ratelimit rl_restart;
	/* One that reboots in a loop with a bad crystal, a rate error per boot. */
	struct ratelimit rl_rate;
	/* Replies that checked a named source (check_source()) and the newest one's t4. */
	uint64_t checks, check_ns;
	/* The last CLOCK object sent, to tell a material change. */
	bool pub_any, pub_mapped;
	double pub_err, pub_ppm;
	uint64_t pub_ms, pub_epochs;
};

struct clocksync {
	struct daemon *d;
	struct event *tick;
	int64_t real_minus_mono_ns; /* refreshed every tick: mapping stays two adds */
	uint64_t real_err_ns;	    /* half the bracket of that reading */
	/* The MONOTONIC ns mapped: their REALTIME is a uint64_t, and they are at most
	 * CLOCKSYNC_AHEAD_MS past the refresh. */
	uint64_t real_min, real_span;
	/* The kernel tells of a step of CLOCK_REALTIME through a timerfd (-1: it cannot, and
	 * a step shows at the next refresh). Times before real_floor, the notice of the
	 * latest step, are not mapped: which offset held for them is not known. */
	int step_fd;
	struct event *step_ev;
	uint64_t real_floor;
	int64_t boot_minus_mono_ns; /* BOOTTIME - MONOTONIC: grows while suspended */
	uint64_t boot_err_ns;	    /* half the bracket of that reading */
	bool have_boot_ref;	    /* boot_minus_mono_ns was read */
	/* The last MONOTONIC_RAW / MONOTONIC reading and the rate between the two before,
	 * in ppm: a change means NTP started or stopped slewing MONOTONIC. */
	uint64_t raw_ref_ns, raw_mono_ref_ns, raw_err_ns;
	double mono_ppm, mono_ppm_err; /* and the bound on its error from the brackets */
	bool have_raw_ref, have_mono_ppm;
	bool have_cnt; /* the system counter can be read here */
	struct cntvct cnt;
	struct cs_chan chans[CONF_MAX_CHANNELS];
	struct clockfast fast[CONF_MAX_CHANNELS]; /* the daemon's per-frame view, by slot */
};

static uint64_t ns_of(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* a - b as a double, without wrapping. */
static double diff_ns(uint64_t a, uint64_t b)
{
	return a >= b ? (double)(a - b) : -(double)(b - a);
}

const char *clocksync_source_to_string(enum clocksync_source src)
{
	static const char *const names[] = {"sync", "sysctr", "gpt", "dwt", "host", "emulator"};
	return (unsigned)src < sizeof names / sizeof names[0] ? names[src] : "unknown";
}

/* Whether this channel's ticks are mapped from SYNC round trips. */
static bool uses_sync(const struct cs_chan *c)
{
	if (c->src == CLOCKSYNC_SRC_HOST_MONO)
		return false;
	return !(c->src == CLOCKSYNC_SRC_SYSCTR && c->cs->have_cnt);
}

static uint32_t hz_of(const struct cs_chan *c)
{
	return c->src_hz ? c->src_hz : c->tick_hz;
}

/* The MONOTONIC ns up to which the channel's fit maps: its newest exchange (or counter
 * reading) and CLOCKSYNC_STALE_MS; the host clock's ticks are never stale. */
static uint64_t fit_until(const struct cs_chan *c)
{
	const struct clockmap *m = uses_sync(c) ? &c->map : &c->cs->cnt.map;

	if (c->src == CLOCKSYNC_SRC_HOST_MONO)
		return UINT64_MAX;
	if (!m->valid || !m->count)
		return 0;
	uint64_t newest = m->win[m->count - 1].s.t4_ns, stale = CLOCKSYNC_STALE_MS * 1000000ull;
	return newest < UINT64_MAX - stale ? newest + stale : UINT64_MAX;
}

/* The MONOTONIC time of the line's tick lo + i (i below n). */
static uint64_t line_ns_at(const struct clockmap_line *l, uint64_t i)
{
	int64_t dx;
	uint64_t ns = 0;
	(void)clockmap_line_ns(l, l->lo + i, &dx, &ns);
	return ns;
}

/* The first i of the line's range whose time is at least ns, else n. */
static uint64_t line_first_at(const struct clockmap_line *l, uint64_t ns)
{
	uint64_t a = 0, b = l->n;
	while (a < b) {
		uint64_t mid = a + (b - a) / 2;
		if (line_ns_at(l, mid) >= ns)
			b = mid;
		else
			a = mid + 1;
	}
	return a;
}

/* Cuts the line's range to the ticks whose time lies in min .. max: the time moves one way
 * with the tick, so they are one stretch, found once here rather than checked per frame.
 * Both ends are usually in, and then that is two mappings. */
static void narrow_to(struct clockmap_line *l, uint64_t min, uint64_t max)
{
	if (!l->n)
		return;
	uint64_t a = line_ns_at(l, 0) >= min ? 0 : line_first_at(l, min);
	uint64_t b = line_ns_at(l, l->n - 1) <= max ? l->n : line_first_at(l, max + 1);
	l->lo += a;
	l->n = b > a ? b - a : 0;
}

/* Copies what mapping a DATA frame needs into the channel's fast map, after anything it
 * depends on changed: the fit, the boot, the source, the REALTIME offset. */
static void fast_update(struct cs_chan *c)
{
	const struct clocksync *cs = c->cs;
	struct clockfast *k = c->fast;

	k->check = c->have_boot && uses_sync(c);
	/* A fit whose time would not grow with the tick (none does) goes through the hook. */
	k->kind = !c->have_boot		? CLOCKFAST_NONE
		  : !uses_sync(c)	? CLOCKFAST_CALL
		  : !c->map.valid	? CLOCKFAST_NONE
		  : c->map.line.mul > 0 ? CLOCKFAST_LINE
					: CLOCKFAST_CALL;
	k->line = c->map.line;
	/* real_min + real_span is at most UINT64_MAX (refresh_realtime()). */
	if (k->kind == CLOCKFAST_LINE) {
		uint64_t max = cs->real_min + cs->real_span, until = fit_until(c);
		narrow_to(&k->line, cs->real_min, until < max ? until : max);
	}
	k->real_add = (uint64_t)cs->real_minus_mono_ns;
	k->real_err = cs->real_err_ns;
}

/* Forgets the captures' starts seen (a new boot's ticks start over). */
static void forget_order(struct cs_chan *c)
{
	memset(c->fast->last_first, 0, sizeof c->fast->last_first);
	c->last_beat = 0;
}

/* BOOTTIME read at b between MONOTONIC reads m0 and m1: true when it gained more than
 * CLOCKSYNC_SUSPEND_NS on MONOTONIC since the reading before, beyond what the two
 * brackets leave open (a read preempted between two clocks is no suspend), *slept_ns by
 * how much. */
static bool boot_gained(struct clocksync *cs, uint64_t m0, uint64_t b, uint64_t m1,
			uint64_t *slept_ns)
{
	int64_t bm = (int64_t)(b - (m0 / 2 + m1 / 2)), was = cs->boot_minus_mono_ns;
	uint64_t err = (m1 - m0) / 2 + 1, was_err = cs->boot_err_ns;
	bool had = cs->have_boot_ref;

	cs->boot_minus_mono_ns = bm;
	cs->boot_err_ns = err;
	cs->have_boot_ref = true;
	*slept_ns = bm > was ? (uint64_t)(bm - was) : 0;
	return had && *slept_ns > CLOCKSYNC_SUSPEND_NS + err + was_err;
}

/* Refreshes the REALTIME offset and the range of times mapped; true when BOOTTIME gained
 * on MONOTONIC since the last refresh (the host was suspended), *slept_ns by how much. */
static bool refresh_realtime(struct clocksync *cs, uint64_t *slept_ns)
{
	/* Bracketed: REALTIME is read between two MONOTONIC reads. */
	uint64_t m0 = ns_of(CLOCK_MONOTONIC);
	uint64_t r = ns_of(CLOCK_REALTIME);
	uint64_t m1 = ns_of(CLOCK_MONOTONIC);
	uint64_t b = ns_of(CLOCK_BOOTTIME);
	uint64_t m2 = ns_of(CLOCK_MONOTONIC);
	int64_t rm = (int64_t)(r - (m0 / 2 + m1 / 2));
	cs->real_minus_mono_ns = rm;
	cs->real_err_ns = (m1 - m0) / 2 + 1;
	cs->real_min = rm < 0 ? (uint64_t)-rm : 0;
	cs->real_min = cs->real_min > cs->real_floor ? cs->real_min : cs->real_floor;
	uint64_t max = rm < 0 ? UINT64_MAX : UINT64_MAX - (uint64_t)rm;
	/* A frame's ticks are past when it arrives; ticks further ahead than the time to the
	 * next refresh and some are another clock's (see CLOCKSYNC_AHEAD_MS). */
	uint64_t ahead = m1 + CLOCKSYNC_AHEAD_MS * 1000000ull;
	max = ahead < max ? ahead : max;
	cs->real_span = max > cs->real_min ? max - cs->real_min : 0;
	return boot_gained(cs, m1, b, m2, slept_ns);
}

/* A reading of CLOCK_MONOTONIC (mono) at MONOTONIC_RAW raw, to within err ns: true when
 * MONOTONIC's rate against RAW since the reading before changed by more than
 * CLOCKSYNC_SLEW_PPM beyond what the readings' errors leave open, from the rate between
 * the two readings before; *by_ppm by how much. */
static bool rate_step(struct clocksync *cs, uint64_t raw, uint64_t mono, uint64_t err,
		      double *by_ppm)
{
	bool changed = false;

	if (cs->have_raw_ref) {
		/* Over at least 100 ms, or not yet: measured from the reading before. */
		if (raw - cs->raw_ref_ns < 100000000)
			return false;
		double span = (double)(raw - cs->raw_ref_ns);
		double ppm = (diff_ns(mono, cs->raw_mono_ref_ns) / span - 1.0) * 1e6;
		double ppm_err = (double)(err + cs->raw_err_ns) / span * 1e6;
		/* The first reading against 0: the epochs before it expected no slew. */
		double was = cs->have_mono_ppm ? cs->mono_ppm : 0.0;
		double was_err = cs->have_mono_ppm ? cs->mono_ppm_err : 0.0;
		*by_ppm = ppm - was;
		changed = fabs(*by_ppm) > CLOCKSYNC_SLEW_PPM + ppm_err + was_err;
		cs->mono_ppm = ppm;
		cs->mono_ppm_err = ppm_err;
		cs->have_mono_ppm = true;
	}
	cs->raw_ref_ns = raw;
	cs->raw_mono_ref_ns = mono;
	cs->raw_err_ns = err;
	cs->have_raw_ref = true;
	return changed;
}

/* Reads CLOCK_MONOTONIC against CLOCK_MONOTONIC_RAW, the narrowest of a few brackets (a
 * wide one, the reads preempted, is no reading), for rate_step(). */
static bool mono_rate_changed(struct clocksync *cs, double *by_ppm)
{
	uint64_t raw = 0, mono = 0, width = UINT64_MAX;

	for (int i = 0; i < CLOCKSYNC_SLEW_TRIES; i++) {
		uint64_t r0 = ns_of(CLOCK_MONOTONIC_RAW), m = ns_of(CLOCK_MONOTONIC);
		uint64_t r1 = ns_of(CLOCK_MONOTONIC_RAW);
		if (r1 - r0 < width) {
			width = r1 - r0;
			raw = r0 / 2 + r1 / 2;
			mono = m;
		}
	}
	if (width > CLOCKSYNC_SLEW_BRACKET_NS)
		return false;
	bool changed = rate_step(cs, raw, mono, width / 2 + 1, by_ppm);
	/* Each epoch from now on expects the M7's ticks at the rate the slew gives them. */
	if (cs->have_mono_ppm)
		for (unsigned i = 0; i < CONF_MAX_CHANNELS; i++)
			clockmap_set_host_rate(&cs->chans[i].map, cs->mono_ppm, cs->mono_ppm_err);
	return changed;
}

static void fill_clock(const struct cs_chan *c, struct proto_clock *k)
{
	struct clockmap_info i;

	memset(k, 0, sizeof *k);
	k->source = uses_sync(c) ? "sync" : clocksync_source_to_string(c->src);
	if (c->src == CLOCKSYNC_SRC_HOST_MONO) {
		k->mapped = c->have_boot && hz_of(c) != 0;
		k->err_ns = k->mapped ? 1000000000u / hz_of(c) + 1 : 0;
		/* No fit: the exchanges are the checks of the source. */
		k->samples = c->checks;
		k->updated_mono_ns = c->check_ns;
		return;
	}
	if (uses_sync(c))
		clockmap_info(&c->map, &i);
	else
		clockmap_info(&c->cs->cnt.map, &i);
	k->mapped = c->have_boot && i.valid && ns_of(CLOCK_MONOTONIC) <= fit_until(c);
	k->epochs = i.epochs;
	k->rejected = i.rejected;
	if (!k->mapped)
		return;
	k->offset_ns = (int64_t)llround(i.offset_ns);
	k->rate_ppm = i.rate_ppm;
	k->rate_err_ppm = i.rate_err_ppm;
	k->err_ns = i.err_ns;
	k->samples = i.samples;
	k->updated_mono_ns = i.updated_ns;
}

/* Sends CLOCK when the estimate changed materially: mapped <-> unmapped or a new epoch
 * (at once), or the bound moved by CLOCKSYNC_CLOCK_ERR_FACTOR or the rate by
 * CLOCKSYNC_CLOCK_PPM (at most every CLOCKSYNC_CLOCK_MIN_MS). */
static void maybe_publish(struct cs_chan *c, uint64_t now_ms)
{
	struct proto_clock k;
	char buf[512];

	if (!c->ch)
		return;
	fill_clock(c, &k);
	bool flip = !c->pub_any || k.mapped != c->pub_mapped || k.epochs != c->pub_epochs;
	bool moved = k.mapped && ((double)k.err_ns > c->pub_err * CLOCKSYNC_CLOCK_ERR_FACTOR ||
				  (double)k.err_ns * CLOCKSYNC_CLOCK_ERR_FACTOR < c->pub_err ||
				  fabs(k.rate_ppm - c->pub_ppm) > CLOCKSYNC_CLOCK_PPM);
	if (!flip && !(moved && now_ms - c->pub_ms >= CLOCKSYNC_CLOCK_MIN_MS))
		return;
	c->pub_any = true;
	c->pub_mapped = k.mapped;
	c->pub_err = (double)k.err_ns;
	c->pub_ppm = k.rate_ppm;
	c->pub_ms = now_ms;
	c->pub_epochs = k.epochs;
	int n = proto_render_clock(buf, sizeof buf, channel_name(c->ch), &k);
	if (n > 0)
		daemon_broadcast(c->cs->d, c->ch, PROTO_C_CLOCK, buf, (size_t)n);
}

static void send_sync(struct cs_chan *c)
{
	uint8_t pl[16];
	/* The cookie is the queueing time: unique, and an early bound on the send time
	 * should the writer's stamp be missing. */
	uint64_t cookie = ns_of(CLOCK_MONOTONIC);
	if (cookie <= c->last_cookie)
		cookie = c->last_cookie + 1;
	c->last_cookie = cookie;
	struct m7b_sync s = {.host_time = cookie};
	int n = m7b_wire_pack_sync(pl, sizeof pl, &s);
	if (n <= 0)
		return;
	if (channel_txthread(c->ch))
		txthread_mark_next(channel_txthread(c->ch), cookie);
	(void)channel_write_frame(c->ch, M7B_T_SYNC, 0, 0, pl, (size_t)n, NULL);
}

/* Sends a SYNC if one is due and arms the timer for the next. */
static void run_schedule(struct cs_chan *c)
{
	uint64_t now = daemon_now_ms();

	if (!c->ch || !c->have_boot)
		return;
	if (now >= c->next_ms) {
		if (channel_get_state(c->ch) == CHANNEL_UP) {
			uint64_t since = now - c->hello_ms;
			send_sync(c);
			/* Another source's SYNCs only check it. */
			c->next_ms = now + (!uses_sync(c)		       ? CLOCKSYNC_CHECK_MS
					    : since < CLOCKSYNC_DENSE_UNTIL_MS ? CLOCKSYNC_DENSE_MS
					    : since < CLOCKSYNC_SETTLE_MS      ? CLOCKSYNC_FAST_MS
									       : CLOCKSYNC_SLOW_MS);
		} else {
			c->next_ms = now + CLOCKSYNC_FAST_MS; /* look again later */
		}
	}
	uint64_t wait = c->next_ms > now ? c->next_ms - now : 0;
	struct timeval tv = {(time_t)(wait / 1000), (suseconds_t)(wait % 1000) * 1000};
	(void)event_add(c->timer, &tv);
}

static void clocksync_on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct cs_chan *c = arg;
	run_schedule(c);
	daemon_flush(c->cs->d);
}

/* Starts the schedule over: a SYNC now, then the fast ones. */
static void restart_schedule(struct cs_chan *c)
{
	c->hello_ms = daemon_now_ms();
	c->next_ms = c->hello_ms;
	if (c->timer)
		event_del(c->timer);
	run_schedule(c);
}

/* Starts the system counter's fit over, expecting MONOTONIC's slew as measured last. */
static void counter_init(struct clocksync *cs, uint32_t hz)
{
	cntvct_init(&cs->cnt, hz);
	if (cs->have_mono_ppm)
		cntvct_set_host_rate(&cs->cnt, cs->mono_ppm, cs->mono_ppm_err);
}

static void sample_counter(struct clocksync *cs)
{
	struct cntvct_pair p[CNTVCT_TRIES];
	uint32_t hz;

	if (cntvct_sample(p, CNTVCT_TRIES, &hz) < 0)
		return;
	if (!cs->have_cnt || hz != cs->cnt.cnt_hz) {
		counter_init(cs, hz);
		cs->have_cnt = true;
	}
	(void)cntvct_add(&cs->cnt, p, CNTVCT_TRIES);
}

static void log_restart(struct cs_chan *c, const char *from)
{
	if (!ratelimit_ok(&c->rl_restart, daemon_now_ms(), 5, 10000))
		return;
	(void)channel_log_errno(
		c->ch, LOG_NOTICE, 0,
		"M7 clock restarted without a HELLO (seen in %s); clock mapping reset", from);
}

/* The fit no longer describes the ticks: unmapped until a new one, from SYNCs sent from
 * now on. */
static void start_over(struct cs_chan *c, bool keep_rate)
{
	clockmap_reset(&c->map, c->tick_hz);
	if (!keep_rate)
		clockmap_forget_rate(&c->map);
	c->map.epochs++;
	forget_order(c);
	fast_update(c);
	c->min_cookie = c->last_cookie + 1;
}

/* Ticks of a new boot seen in DATA or HEARTBEAT: unmapped until a new fit. */
static void clock_went_back(struct cs_chan *c, const char *what)
{
	start_over(c, true);
	log_restart(c, what);
	restart_schedule(c);
	maybe_publish(c, daemon_now_ms());
}

/* CLOCK_MONOTONIC went other than the fits assume (why says how): every mapping starts
 * over, the counter's from its next reading; keep_rate: the M7's rate against it held. */
static void host_clock_moved(struct clocksync *cs, bool keep_rate, const char *why)
{
	if (cs->have_cnt)
		counter_init(cs, cs->cnt.cnt_hz);
	for (unsigned i = 0; i < CONF_MAX_CHANNELS; i++) {
		struct cs_chan *c = &cs->chans[i];
		if (!c->ch || !c->have_boot || !uses_sync(c))
			continue;
		start_over(c, keep_rate);
		if (ratelimit_ok(&c->rl_restart, daemon_now_ms(), 5, 10000))
			(void)channel_log_errno(c->ch, LOG_NOTICE, 0, "%s; clock mapping reset",
						why);
		restart_schedule(c);
		maybe_publish(c, daemon_now_ms());
	}
}

static void clocksync_on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct clocksync *cs = arg;
	uint64_t now = daemon_now_ms();
	bool counter = false;
	uint64_t slept;
	double by_ppm = 0;
	char why[128];

	/* The host was suspended: MONOTONIC stood still while the M7 (and the system counter)
	 * may have counted on. */
	if (refresh_realtime(cs, &slept)) {
		snprintf(why, sizeof why,
			 "host was suspended for %.3f s (BOOTTIME gained on MONOTONIC)",
			 (double)slept / 1e9);
		host_clock_moved(cs, true, why);
	}
	/* NTP started or stopped slewing MONOTONIC: to the fits, the M7's rate stepped. */
	if (mono_rate_changed(cs, &by_ppm)) {
		snprintf(why, sizeof why,
			 "CLOCK_MONOTONIC's rate changed by %+.1f ppm (NTP slewing it)", by_ppm);
		host_clock_moved(cs, false, why);
	}
	for (unsigned i = 0; i < CONF_MAX_CHANNELS; i++)
		counter |= cs->chans[i].ch && cs->chans[i].src == CLOCKSYNC_SRC_SYSCTR;
	if (counter)
		sample_counter(cs);
	for (unsigned i = 0; i < CONF_MAX_CHANNELS; i++)
		fast_update(&cs->chans[i]);
	/* Also for round trips: a fit gone stale is no longer mapped. */
	for (unsigned i = 0; i < CONF_MAX_CHANNELS; i++)
		if (cs->chans[i].ch)
			maybe_publish(&cs->chans[i], now);
	daemon_flush(cs->d);
}

/* Arms the timerfd so that the kernel cancels it when CLOCK_REALTIME is set (a step,
 * settimeofday, a resume): its expiry is never reached. */
static int arm_step_notice(int fd)
{
	/* The largest time_t, 32 bits wide or 64. */
	const time_t never = (time_t)(((uint64_t)1 << (sizeof(time_t) * 8 - 1)) - 1);
	struct itimerspec its = {.it_value = {.tv_sec = never}};
	return timerfd_settime(fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its, NULL) < 0
		       ? -errno
		       : 0;
}

/* CLOCK_REALTIME was set: the offset read at the last refresh no longer holds. It is read
 * again at once, rather than at the next refresh, and times before this notice are left
 * unmapped: the step came somewhere between that refresh and now. */
static void step_notice(struct clocksync *cs)
{
	cs->real_floor = ns_of(CLOCK_MONOTONIC);
	/* The whole refresh: a resume sets the wall clock too, and its suspend must be seen. */
	clocksync_on_tick(-1, 0, cs);
}

/* The timerfd was cancelled (the clock was set) or woke for nothing. */
static void clocksync_on_step(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct clocksync *cs = arg;
	uint64_t v;
	bool stepped = false;

	while (read(fd, &v, sizeof v) < 0 && errno == ECANCELED)
		stepped = true;
	if (stepped) {
		(void)arm_step_notice(fd);
		step_notice(cs);
	}
}

/* HEARTBEATs come in order: earlier ticks mean the M7 clock started over. (DATA's
 * captures per port: clockfast_went_back(), which the daemon runs, then back_cb().) */
static void check_beat(struct cs_chan *c, uint64_t now_ticks)
{
	if (now_ticks < c->last_beat)
		clock_went_back(c, "HEARTBEAT");
	c->last_beat = now_ticks;
}

/* When the SYNC a reply answers went out: the writer thread's stamp, right before
 * write(); else the queueing time. */
static uint64_t sent_at(const struct cs_chan *c, uint64_t cookie, uint64_t t4)
{
	uint64_t t1 = cookie, sent;
	if (channel_txthread(c->ch) && txthread_mark_time(channel_txthread(c->ch), cookie, &sent) &&
	    sent >= t1 && sent <= t4)
		t1 = sent;
	return t1;
}

static bool map_other(const struct clocksync *cs, const struct cs_chan *c, uint64_t ticks,
		      struct clockmap_time *t);

/* A reply checks a source the firmware named (the system counter, the host clock): the
 * M7 stamped rx after t1 and tx before t4, so their mapped times, within their bounds,
 * must be too. A source that fails it is not what the firmware said (a counter read
 * with another offset, a wrong BOOT_INFO): round trips from then on. */
static void check_source(struct cs_chan *c, const struct m7b_sync_reply *r, uint64_t t4)
{
	struct clockmap_time a, b;

	if (r->host_time < c->min_cookie || r->host_time > c->last_cookie ||
	    r->tx_ticks < r->rx_ticks)
		return;
	uint64_t t1 = sent_at(c, r->host_time, t4);
	if (!map_other(c->cs, c, r->rx_ticks, &a) || !map_other(c->cs, c, r->tx_ticks, &b))
		return; /* not mapped yet (the counter's first fit), or too far off */
	int64_t early = (int64_t)(t1 - a.ns) - (int64_t)a.err_ns; /* rx before t1 by */
	int64_t late = (int64_t)(b.ns - t4) - (int64_t)b.err_ns;  /* tx after t4 by */
	int64_t off = early > late ? early : late;
	/* -l debug; one a second. */
	(void)channel_log_errno(c->ch, LOG_DEBUG, 0,
				"SYNC check of the %s: host t1 %llu t4 %llu ns, M7 rx %llu tx %llu "
				"ticks, %lld ns outside",
				clocksync_source_to_string(c->src), (unsigned long long)t1,
				(unsigned long long)t4, (unsigned long long)r->rx_ticks,
				(unsigned long long)r->tx_ticks, (long long)off);
	if (off <= CLOCKSYNC_CHECK_SLACK_NS) {
		c->checks++;
		c->check_ns = t4;
		return;
	}
	if (ratelimit_ok(&c->rl_rate, daemon_now_ms(), 5, 60000))
		(void)channel_log_errno(c->ch, LOG_ERR, 0,
					"M7 ticks are not the %s BOOT_INFO says: a SYNC reply "
					"maps %lld us outside its round trip; measuring them with "
					"SYNC round trips",
					clocksync_source_to_string(c->src),
					(long long)(off / 1000));
	(void)clocksync_set_source(c->cs, channel_slot(c->ch), CLOCKSYNC_SRC_UNKNOWN, 0);
}

static void on_reply(struct cs_chan *c, const struct m7b_sync_reply *rp, uint64_t t4)
{
	struct m7b_sync_reply r = *rp;
	if (r.host_time < c->min_cookie)
		return;
	/* No SYNC went out then: fitted as sent at that time, after the M7 stamped rx, it
	 * would give a bound that does not hold. */
	if (r.host_time > c->last_cookie) {
		c->map.rejected++;
		return;
	}
	uint64_t t1 = sent_at(c, r.host_time, t4);
	struct clockmap_sample s = {
		.t1_ns = t1, .rx_ticks = r.rx_ticks, .tx_ticks = r.tx_ticks, .t4_ns = t4};
	bool off_tol = c->map.off_tol;
	int rc = clockmap_add(&c->map, &s);
	fast_update(c);
	if (!off_tol && c->map.off_tol && ratelimit_ok(&c->rl_rate, daemon_now_ms(), 5, 60000))
		(void)channel_log_errno(
			c->ch, LOG_ERR, 0,
			"M7 clock runs %+.0f ppm or more off its tick_hz %u, beyond "
			"the tolerance of %.0f ppm: its ticks are left unmapped",
			c->map.off_ppm, c->tick_hz, c->map.max_ppm);
	/* -l debug; bounded by the SYNC schedule (a few a second), so not rate-limited. */
	(void)channel_log_errno(c->ch, LOG_DEBUG, 0,
				"SYNC exchange: round trip %llu us, host t1 %llu t4 %llu ns, "
				"M7 rx %llu tx %llu ticks%s",
				(unsigned long long)((t4 - t1) / 1000), (unsigned long long)t1,
				(unsigned long long)t4, (unsigned long long)r.rx_ticks,
				(unsigned long long)r.tx_ticks, rc < 0 ? ", rejected" : "");
	if (rc == 1) {
		/* The M7 restarted and its HELLO never came: the replies said so. */
		forget_order(c);
		log_restart(c, "SYNC_REPLY");
		restart_schedule(c);
	}
	maybe_publish(c, daemon_now_ms());
}

/* Whether a rate measured at boot confirms the nominal one: within the firmware's own
 * test of its tick source (2 %); 0 (unproven) does not. */
static bool rate_confirms(uint32_t measured, uint32_t nominal)
{
	double d = (double)measured - (double)nominal;
	return measured != 0 && nominal != 0 && fabs(d) <= nominal * CLOCKSYNC_RATE_CHECK;
}

/* BOOT_INFO's tick item says what the ticks are: the firmware's enum board_tick_source
 * has the numbers of enum clocksync_source. Without the item (or from a firmware whose
 * source this daemon does not know) the ticks are measured with SYNC round trips. Its
 * rate is measured over a millisecond at boot (to a tick in 8000 at 8 MHz, and against a
 * core clock taken as nominal): a check of HELLO's tick_hz, never the rate the ticks are
 * mapped at, which for a counter Linux reads is exact; scaled by the measurement, ticks
 * hours into a boot would be seconds off. */
static void on_boot_info(struct cs_chan *c, const struct m7b_boot_info *bi)
{
	enum clocksync_source src = CLOCKSYNC_SRC_UNKNOWN;

	if ((bi->present & M7B_BI_HAS_TICK) && bi->tick_source <= CLOCKSYNC_SRC_EMULATOR)
		src = (enum clocksync_source)bi->tick_source;
	if ((src == CLOCKSYNC_SRC_SYSCTR || src == CLOCKSYNC_SRC_HOST_MONO) &&
	    !rate_confirms(bi->tick_hz, c->tick_hz)) {
		if (ratelimit_ok(&c->rl_rate, daemon_now_ms(), 5, 60000))
			(void)channel_log_errno(c->ch, LOG_WARNING, 0,
						"BOOT_INFO: tick source %s measured at %u Hz, "
						"not the tick_hz %u of HELLO: measuring them with "
						"SYNC round trips",
						clocksync_source_to_string(src), bi->tick_hz,
						c->tick_hz);
		src = CLOCKSYNC_SRC_UNKNOWN;
	}
	if (src != c->src || c->src_hz != 0)
		(void)clocksync_set_source(c->cs, channel_slot(c->ch), src, 0);
	c->src_bi = true;
}

/* Every frame but DATA: a few a second. Out of line, so the DATA path stays short and the
 * link's time-driven cost (SYNC_REPLY and the fit) shows apart in a profile. */
static __attribute__((noinline)) void clocksync_on_link(struct cs_chan *c, struct channel *ch,
							const struct channel_msg *m)
{
	const struct m7b_frame *f = m->frame;

	c->ch = ch;
	if (f->type == M7B_T_HELLO) {
		const struct m7b_hello *h = &m->u.hello;
		/* A HELLO is built after every frame before it: ticks below theirs are a new
		 * boot's, whatever its boot_id says (a port without entropy for it). */
		bool back = c->have_boot &&
			    ((c->map.have_last && h->now_ticks < c->map.last_tx_ticks) ||
			     h->now_ticks < c->last_beat);
		if (back && ratelimit_ok(&c->rl_restart, daemon_now_ms(), 5, 10000))
			(void)channel_log_errno(
				ch, LOG_NOTICE, 0,
				"M7 clock restarted (HELLO of boot %08x with ticks below "
				"those seen); clock mapping reset",
				(unsigned)h->boot_id);
		/* A new boot (or a new tick rate) starts a new mapping. */
		if (!c->have_boot || h->boot_id != c->boot_id || h->tick_hz != c->tick_hz || back) {
			clockmap_reset(&c->map, h->tick_hz);
			/* Another firmware may count something else, and may send no BOOT_INFO. */
			if (c->src_bi) {
				c->src = CLOCKSYNC_SRC_UNKNOWN;
				c->src_hz = 0;
				c->src_bi = false;
			}
			c->checks = c->check_ns = 0;
		}
		c->have_boot = h->tick_hz != 0;
		if (!c->have_boot && ratelimit_ok(&c->rl_rate, daemon_now_ms(), 5, 60000))
			(void)channel_log_errno(ch, LOG_ERR, 0,
						"HELLO with tick_hz 0: the M7's ticks cannot be "
						"mapped to Linux time, frames carry ticks only");
		c->boot_id = h->boot_id;
		c->tick_hz = h->tick_hz;
		forget_order(c);
		fast_update(c);
		restart_schedule(c);
		maybe_publish(c, daemon_now_ms());
	} else if (f->type == M7B_T_BOOT_INFO) {
		on_boot_info(c, &m->u.boot_info);
	} else if (f->type == M7B_T_SYNC_REPLY && c->have_boot) {
		/* The reply's receive time: the channel's clock right after the read()
		 * that brought it, closer than any observer gets, and no clock per frame. */
		if (uses_sync(c))
			on_reply(c, &m->u.sync_reply, m->rx_mono_ns);
		else
			check_source(c, &m->u.sync_reply, m->rx_mono_ns);
	} else if (f->type == M7B_T_HEARTBEAT && c->have_boot && uses_sync(c)) {
		check_beat(c, m->u.heartbeat.now_ticks);
	}
}

/* Every frame but DATA (the observer leaves it out: the daemon maps DATA and checks its
 * order through the fast map). */
static void on_msg(void *ud, struct channel *ch, const struct channel_msg *m)
{
	struct clocksync *cs = ud;
	unsigned slot = channel_slot(ch);
	if (slot >= CONF_MAX_CHANNELS || m->bad_payload)
		return;
	clocksync_on_link(&cs->chans[slot], ch, m);
}

/* A DATA capture went backwards (clockfast_went_back()): a new boot's ticks. That
 * capture's start is the first of the new run on its port. */
static void back_cb(void *ud, struct channel *ch, uint8_t port, uint64_t first)
{
	struct clocksync *cs = ud;
	unsigned slot = channel_slot(ch);
	if (slot >= CONF_MAX_CHANNELS)
		return;
	struct cs_chan *c = &cs->chans[slot];
	clock_went_back(c, "DATA");
	c->fast->last_first[port] = first;
}

static void on_channel(void *ud, struct channel *ch, bool added)
{
	struct clocksync *cs = ud;
	if (channel_slot(ch) >= CONF_MAX_CHANNELS)
		return;
	struct cs_chan *c = &cs->chans[channel_slot(ch)];
	struct event *timer = c->timer;
	struct clockfast *k = c->fast;
	if (timer)
		event_del(timer);
	memset(c, 0, sizeof *c);
	memset(k, 0, sizeof *k);
	c->cs = cs;
	c->fast = k;
	c->timer = timer;
	clockmap_init(&c->map, 0);
	/* Its first epoch expects MONOTONIC's slew as measured, not none till the refresh. */
	if (cs->have_mono_ppm)
		clockmap_set_host_rate(&c->map, cs->mono_ppm, cs->mono_ppm_err);
	fast_update(c);
	if (added)
		c->ch = ch;
}

int clocksync_set_source(struct clocksync *cs, unsigned slot, enum clocksync_source src,
			 uint32_t hz)
{
	if (slot >= CONF_MAX_CHANNELS || (unsigned)src > CLOCKSYNC_SRC_EMULATOR)
		return -EINVAL;
	struct cs_chan *c = &cs->chans[slot];
	c->src = src;
	c->src_hz = hz;
	c->checks = c->check_ns = 0;
	if (src == CLOCKSYNC_SRC_SYSCTR && !cs->have_cnt)
		sample_counter(cs); /* stays on SYNC where there is no counter to read */
	/* Reading the counter may have begun: other channels' mapping too. */
	for (unsigned i = 0; i < CONF_MAX_CHANNELS; i++)
		fast_update(&cs->chans[i]);
	if (c->have_boot)
		restart_schedule(c);
	maybe_publish(c, daemon_now_ms());
	return 0;
}

/* The sources other than round trips: the host clock scaled, the system counter. */
static bool map_other(const struct clocksync *cs, const struct cs_chan *c, uint64_t ticks,
		      struct clockmap_time *t)
{
	if (c->src == CLOCKSYNC_SRC_HOST_MONO) {
		uint32_t hz = hz_of(c);
		unsigned __int128 ns = (unsigned __int128)ticks * 1000000000u / (hz ? hz : 1);
		if (!hz || ns > INT64_MAX)
			return false;
		t->ns = (uint64_t)ns;
		t->err_ns = 1000000000u / hz + 1;
		return true;
	}
	return cntvct_map(&cs->cnt, ticks, hz_of(c), t);
}

/* REALTIME of a MONOTONIC time: false where it would wrap. */
static inline bool to_real(const struct clocksync *cs, uint64_t mono_ns, uint64_t *real_ns)
{
	if (mono_ns - cs->real_min > cs->real_span)
		return false;
	*real_ns = mono_ns + (uint64_t)cs->real_minus_mono_ns;
	return true;
}

/* One tick of a channel, for clocksync_map(). */
static bool map_chan(const struct clocksync *cs, const struct cs_chan *c, uint64_t ticks,
		     uint64_t *mono_ns, uint64_t *real_ns, uint64_t *err_ns)
{
	struct clockmap_time t;

	if (!c->have_boot)
		return false;
	if (uses_sync(c) ? !clockmap_map(&c->map, ticks, &t) : !map_other(cs, c, ticks, &t))
		return false;
	if (t.ns > fit_until(c) || !to_real(cs, t.ns, real_ns))
		return false;
	*mono_ns = t.ns;
	*err_ns = t.err_ns + cs->real_err_ns;
	return true;
}

bool clocksync_map(const struct clocksync *cs, unsigned slot, uint64_t ticks, uint64_t *mono_ns,
		   uint64_t *real_ns, uint64_t *err_ns)
{
	return slot < CONF_MAX_CHANNELS &&
	       map_chan(cs, &cs->chans[slot], ticks, mono_ns, real_ns, err_ns);
}

void clocksync_info(const struct clocksync *cs, unsigned slot, struct clockmap_info *i)
{
	memset(i, 0, sizeof *i);
	if (slot < CONF_MAX_CHANNELS)
		clockmap_info(&cs->chans[slot].map, i);
}

/* The FRAME mapper for the frames the daemon does not map with the fast map inline (the
 * sources other than round trips); any frame, both ticks at once, one bound. */
static bool map_cb(void *ud, const struct channel *ch, struct proto_frame *f)
{
	const struct clocksync *cs = ud;
	unsigned slot = channel_slot(ch);
	if (slot >= CONF_MAX_CHANNELS)
		return false;
	const struct cs_chan *c = &cs->chans[slot];
	uint64_t err;

	if (!c->have_boot)
		return false;
	if (uses_sync(c)) {
		if (!clockmap_map_pair(&c->map, f->t_first, f->t_last, &f->t_first_mono_ns,
				       &f->t_last_mono_ns, &err))
			return false;
	} else {
		struct clockmap_time a, b;
		if (!map_other(cs, c, f->t_first, &a) || !map_other(cs, c, f->t_last, &b))
			return false;
		f->t_first_mono_ns = a.ns;
		f->t_last_mono_ns = b.ns;
		err = a.err_ns > b.err_ns ? a.err_ns : b.err_ns;
	}
	uint64_t until = fit_until(c);
	if (f->t_first_mono_ns > until || f->t_last_mono_ns > until ||
	    !to_real(cs, f->t_first_mono_ns, &f->t_first_ns) ||
	    !to_real(cs, f->t_last_mono_ns, &f->t_last_ns))
		return false;
	f->t_err_ns = err + cs->real_err_ns;
	f->has_mono = f->has_realtime = true;
	return true;
}

static bool info_cb(void *ud, const struct channel *ch, struct proto_clock *k)
{
	const struct clocksync *cs = ud;
	if (channel_slot(ch) >= CONF_MAX_CHANNELS)
		return false;
	fill_clock(&cs->chans[channel_slot(ch)], k);
	return true;
}

struct clocksync *clocksync_new(struct daemon *d)
{
	struct clocksync *cs = calloc(1, sizeof *cs);
	if (!cs)
		return NULL;
	cs->d = d;
	cs->step_fd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
	if (cs->step_fd >= 0 && arm_step_notice(cs->step_fd) < 0) {
		close(cs->step_fd);
		cs->step_fd = -1;
	}
	uint64_t slept;
	(void)refresh_realtime(cs, &slept);
	bool ok = true;
	/* The first reading of MONOTONIC against RAW: the first refresh has its rate. */
	double by_ppm;
	(void)mono_rate_changed(cs, &by_ppm);
	for (unsigned i = 0; i < CONF_MAX_CHANNELS; i++) {
		struct cs_chan *c = &cs->chans[i];
		c->cs = cs;
		c->fast = &cs->fast[i];
		c->ch = daemon_channel_at(d, i);
		clockmap_init(&c->map, 0);
		fast_update(c);
		c->timer = event_new(daemon_base(d), -1, 0, clocksync_on_timer, c);
		ok = ok && c->timer;
	}
	cs->tick = event_new(daemon_base(d), -1, EV_PERSIST, clocksync_on_tick, cs);
	struct timeval tv = {0, CLOCKSYNC_TICK_MS * 1000};
	if (cs->step_fd >= 0) {
		cs->step_ev = event_new(daemon_base(d), cs->step_fd, EV_READ | EV_PERSIST,
					clocksync_on_step, cs);
		ok = ok && cs->step_ev && event_add(cs->step_ev, NULL) == 0;
	}
	struct daemon_observer o = {.on_msg = on_msg,
				    .msg_types = ~DAEMON_MSG_TYPE(M7B_T_DATA),
				    .on_channel = on_channel,
				    .ud = cs};
	if (!ok || !cs->tick || event_add(cs->tick, &tv) < 0 || daemon_add_observer(d, &o) < 0) {
		daemon_remove_observer(d, cs);
		if (cs->tick)
			event_free(cs->tick);
		if (cs->step_ev)
			event_free(cs->step_ev);
		if (cs->step_fd >= 0)
			close(cs->step_fd);
		for (unsigned i = 0; i < CONF_MAX_CHANNELS; i++)
			if (cs->chans[i].timer)
				event_free(cs->chans[i].timer);
		free(cs);
		return NULL;
	}
	struct daemon_clock k = {
		.map = map_cb, .info = info_cb, .back = back_cb, .fast = cs->fast, .ud = cs};
	daemon_set_clock(d, &k);
	return cs;
}

struct clocksync *clocksync_free(struct clocksync *cs)
{
	if (!cs)
		return NULL;
	daemon_set_clock(cs->d, NULL);
	daemon_remove_observer(cs->d, cs);
	for (unsigned i = 0; i < CONF_MAX_CHANNELS; i++)
		event_free(cs->chans[i].timer);
	event_free(cs->tick);
	if (cs->step_ev)
		event_free(cs->step_ev);
	if (cs->step_fd >= 0)
		close(cs->step_fd);
	free(cs);
	return NULL;
}
