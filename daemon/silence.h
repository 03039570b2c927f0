/* Data silence: ports configured with an expected capture rate that deliver nothing for
 * several periods while the link is up. Pure: time is passed in. */
#ifndef M7B_SILENCE_H
#define M7B_SILENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SILENCE_PORTS	 8	/* ports with an expected rate, per channel */
#define SILENCE_PERIODS	 10	/* missed periods before a port is silent */
#define SILENCE_MIN_MS	 2000	/* never sooner than this */
#define SILENCE_RATE_MAX 100000 /* captures per second */

/* The configuration: up to SILENCE_PORTS (port, rate) pairs; rate 0 = unused entry. */
struct silence_conf {
	uint8_t port[SILENCE_PORTS];
	uint32_t rate[SILENCE_PORTS]; /* captures per second */
};

struct silence {
	struct silence_conf cfg;
	uint64_t last_ms[SILENCE_PORTS]; /* last DATA (or when the watch started) */
	bool reported[SILENCE_PORTS];	 /* fault raised; quiet again until data comes */
	bool armed;			 /* the link is up */
	/* 1 per port with a rate, set from cfg when armed: a byte per port, one load per
	 * frame, where a bit cost a shift and a mask more */
	uint8_t watched[256];
};

/* Parses "PORT:RATE[,PORT:RATE...]" (rate in captures per second, 1..SILENCE_RATE_MAX,
 * each port once; "" = off). 0 or -EINVAL with msg saying why. */
int silence_conf_parse(struct silence_conf *c, const char *v, char *msg, size_t cap);
/* The configuration as silence_conf_parse() takes it ("" = off), for --check-config. */
void silence_conf_format(const void *field, char *buf, size_t cap);
/* How long a port of this rate may stay silent: SILENCE_PERIODS periods, at least
 * SILENCE_MIN_MS. */
uint64_t silence_limit_ms(uint32_t rate);
/* Sets up s with configuration cfg, not armed. */
void silence_init(struct silence *s, const struct silence_conf *cfg);
/* Starts (link up) or stops (link down) watching; starting restarts every port's clock
 * and takes the ports of cfg. */
void silence_arm(struct silence *s, bool up, uint64_t now_ms);
/* Whether port had a rate when the watch last started: its DATA goes to
 * silence_on_watched(). */
static inline bool silence_watches(const struct silence *s, uint8_t port)
{
	return s->watched[port] != 0;
}
/* A DATA frame on a port with a rate (silence_on_data() checks). */
bool silence_on_watched(struct silence *s, uint8_t port, uint64_t now_ms);
/* A DATA frame on port. Inline, as it comes with every frame: most ports have no rate.
 * Data before the watch starts changes nothing (starting restarts the clocks). True when
 * silence_next_ms() may have moved earlier (a port reported silent is watched again):
 * re-arm the timer; otherwise it only moved later, and a timer left alone stays right. */
static inline bool silence_on_data(struct silence *s, uint8_t port, uint64_t now_ms)
{
	if (silence_watches(s, port))
		return silence_on_watched(s, port, now_ms);
	return false;
}
/* The first port silent for too long and not yet reported (marked reported), or -1. */
int silence_check(struct silence *s, uint64_t now_ms);
/* When silence_check should run next (UINT64_MAX: nothing to watch). */
uint64_t silence_next_ms(const struct silence *s);

#endif
