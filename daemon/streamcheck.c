/* Stream health: the kernel's "hello world!", a reopen mid-frame or a flipped bit cost
 * one rejected candidate each and are normal. A stream where bad candidates outnumber
 * good frames is not: the firmware, the transport or a bridge's baud rate is wrong. */
#include "streamcheck.h"

void streamcheck_init(struct streamcheck *s, uint32_t window_ms, uint32_t min_rejects)
{
	*s = (struct streamcheck){.window_ms = window_ms, .min_rejects = min_rejects};
}

bool streamcheck_update(struct streamcheck *s, uint64_t now_ms, uint64_t good, uint64_t bad)
{
	/* Tumbling windows opened by traffic: the chunk that opens one counts in it. */
	if (!s->started || now_ms - s->start_ms >= s->window_ms) {
		s->started = true;
		s->reported = false;
		s->start_ms = now_ms;
		s->good = 0;
		s->bad = 0;
	}
	s->good += good;
	s->bad += bad;
	if (s->reported || s->bad < s->min_rejects || s->bad <= s->good)
		return false;
	s->reported = true;
	return true;
}
