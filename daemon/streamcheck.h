/* Tells a corrupt byte stream from the odd bad candidate. Pure logic, time passed in. */
#ifndef M7B_STREAMCHECK_H
#define M7B_STREAMCHECK_H

#include <stdbool.h>
#include <stdint.h>

struct streamcheck {
	uint32_t window_ms;   /* length of one observation window */
	uint32_t min_rejects; /* rejected candidates in a window that make a fault */
	bool reported;	      /* one fault per window at most */
	uint64_t start_ms;    /* when the current window began; a window before 0 at first */
	uint64_t good;	      /* frames delivered in the window */
	uint64_t bad;	      /* candidates rejected in the window */
};

/* Starts watching with these limits (the daemon uses 5000 ms and 8). */
void streamcheck_init(struct streamcheck *s, uint32_t window_ms, uint32_t min_rejects);
/* Feeds what the decoder made of one chunk of bytes at now: good frames and rejected
 * candidates, and skipped: the good frames of the chunks not fed since the last call,
 * each without rejects and before the time that call's streamcheck_quiet_until()
 * said. True, once per window, when at least min_rejects candidates were rejected in the
 * window and they outnumber the good frames. Inline: its caller is on the read path. */
static inline bool streamcheck_update(struct streamcheck *s, uint64_t now_ms, uint64_t skipped,
				      uint64_t good, uint64_t bad)
{
	/* Tumbling windows opened by traffic: the chunk that opens one counts in it. */
	/* The first chunk finds the window of init over, whatever its time: no flag to test. */
	if (now_ms - s->start_ms >= s->window_ms) {
		s->reported = false;
		s->start_ms = now_ms;
		s->good = 0;
		s->bad = 0;
		skipped = 0; /* they came before the end: the window that ended had them */
	}
	s->good += skipped + good;
	s->bad += bad;
	/* A chunk without rejects, nearly every one, cannot make a fault: the window's bad
	 * stayed what it was, its good only grew. */
	if (!bad || s->reported || s->bad < s->min_rejects || s->bad <= s->good)
		return false;
	s->reported = true;
	return true;
}

/* Until this time (ms), the window's end, a chunk without rejects changes nothing but the
 * window's good count: its caller may sum their good frames and hand them over as the
 * next call's skipped (a read's clock never goes back, so now >= this is the test of
 * streamcheck_update()). 0 before the first call (a window that ended as time began). */
static inline uint64_t streamcheck_quiet_until(const struct streamcheck *s)
{
	return s->start_ms + s->window_ms;
}

#endif
