/* Clock sync: maps each channel's M7 ticks to CLOCK_MONOTONIC and CLOCK_REALTIME with an
 * error bound, from SYNC / SYNC_REPLY exchanges or, when the ticks are a clock Linux
 * reads too, directly. The I/O glue around the pure clockmap.c and cntvct.c. */
#ifndef M7B_CLOCKSYNC_H
#define M7B_CLOCKSYNC_H

#include <stdbool.h>
#include <stdint.h>

struct daemon;
struct clocksync;
struct clockmap_info;

/* What the firmware's ticks are (BOOT_INFO's tick-source item). */
enum clocksync_source {
	CLOCKSYNC_SRC_UNKNOWN = 0,   /* measure with SYNC round trips */
	CLOCKSYNC_SRC_SYSCTR = 1,    /* the SoC system counter (CNTVCT_EL0 on the A53s) */
	CLOCKSYNC_SRC_GPT = 2,	     /* a GPT: round trips */
	CLOCKSYNC_SRC_DWT = 3,	     /* the cycle counter: round trips */
	CLOCKSYNC_SRC_HOST_MONO = 4, /* host CLOCK_MONOTONIC (the simulator) */
	CLOCKSYNC_SRC_EMULATOR = 5,  /* an emulator's timer: round trips */
};

/* After a HELLO: a SYNC at once, then every DENSE_MS until DENSE_UNTIL_MS, every FAST_MS
 * until SETTLE_MS, then every SLOW_MS. Early on several exchanges share each 100 ms
 * slice, so the slice filter keeps the least delayed; the many at first are for the legs'
 * envelopes, whose floors the least of N queued replies approaches as 1/N, and which set
 * the offset by 2 s. A SYNC is 24 bytes on the wire, its reply 40. */
#define CLOCKSYNC_DENSE_MS	 5
#define CLOCKSYNC_DENSE_UNTIL_MS 2000
#define CLOCKSYNC_FAST_MS	 25
#define CLOCKSYNC_SETTLE_MS	 10000
#define CLOCKSYNC_SLOW_MS	 250

/* BOOT_INFO's measured tick rate confirms HELLO's tick_hz within this fraction, or its
 * tick source is not taken (the firmware picks a source within 2 % of its nominal rate). */
#define CLOCKSYNC_RATE_CHECK 0.02

/* A source other than round trips (the system counter, the host clock) is checked with a
 * SYNC every CHECK_MS: its reply's ticks must map inside the round trip, give or take
 * their bound and CHECK_SLACK_NS. */
#define CLOCKSYNC_CHECK_MS	 1000
#define CLOCKSYNC_CHECK_SLACK_NS 1000

/* A frame's ticks are past when it arrives: times more than AHEAD_MS past the last
 * 250 ms refresh are not mapped (the host was suspended while the M7 counted on), and
 * BOOTTIME gaining SUSPEND_NS on MONOTONIC between two refreshes starts the mapping over. */
#define CLOCKSYNC_AHEAD_MS   1000
#define CLOCKSYNC_SUSPEND_NS 1000000

/* NTP slews CLOCK_MONOTONIC (by up to 500 ppm), and to a fit of the M7's ticks against
 * it a slew that starts or ends is a step of the M7's rate. Its rate against
 * CLOCK_MONOTONIC_RAW is measured at each refresh, from the narrowest of a few bracketed
 * reads (within SLEW_BRACKET_NS; here 40-50 ns, a rate to 0.05 ppm over 250 ms); a change
 * beyond SLEW_PPM starts every mapping over, its rate forgotten. */
#define CLOCKSYNC_SLEW_PPM	  10.0
#define CLOCKSYNC_SLEW_BRACKET_NS 1000
#define CLOCKSYNC_SLEW_TRIES	  4

/* A fit whose newest exchange is older than STALE_MS maps nothing after it by more than
 * that: the bound's rate term (at least 0.05 ppm) covers the M7's rate wandering by the
 * 0.01 ppm/s allowed only so far (docs/CLOCK.md); beyond it, with the SYNCs unanswered,
 * frames go out untimed rather than with a bound that does not hold. */
#define CLOCKSYNC_STALE_MS 10000

/* A CLOCK object goes out when the bound moved by this factor or the rate by this much
 * since the last one, or the mapping appeared or vanished, at most every MIN_MS unless
 * the mapping appeared or vanished. */
#define CLOCKSYNC_CLOCK_ERR_FACTOR 1.5
#define CLOCKSYNC_CLOCK_PPM	   0.5
#define CLOCKSYNC_CLOCK_MIN_MS	   1000

/* Starts syncing every channel of d and installs the FRAME time mapper. NULL on ENOMEM. */
struct clocksync *clocksync_new(struct daemon *d);
/* Stops (before the daemon is freed); returns NULL. */
struct clocksync *clocksync_free(struct clocksync *cs);
/* Says what the ticks of the channel in slot are, at hz (0: the HELLO's tick_hz). */
int clocksync_set_source(struct clocksync *cs, unsigned slot, enum clocksync_source src,
			 uint32_t hz);
/* Maps ticks of the channel in slot; false while unknown. err_ns bounds both times. */
bool clocksync_map(const struct clocksync *cs, unsigned slot, uint64_t ticks, uint64_t *mono_ns,
		   uint64_t *real_ns, uint64_t *err_ns);
/* The estimate of the channel in slot, for STATUS. */
void clocksync_info(const struct clocksync *cs, unsigned slot, struct clockmap_info *i);
/* Name of a tick source, for logs and STATUS. */
const char *clocksync_source_to_string(enum clocksync_source src);

#endif
