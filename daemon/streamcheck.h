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
 * candidates. True, once per window, when at least min_rejects candidates were rejected
 * in the window and they outnumber the good frames. Inline: called once per read(). */
static inline bool streamcheck_update(struct streamcheck *s, uint64_t now_ms, uint64_t good,
				      uint64_t bad)
{
	/* Tumbling windows opened by traffic: the chunk that opens one counts in it. */
	/* The first chunk finds the window of init over, whatever its time: no flag to test. */
	if (now_ms - s->start_ms >= s->window_ms) {
		s->reported = false;
		s->start_ms = now_ms;
		s->good = 0;
		s->bad = 0;
	}
	s->good += good;
	s->bad += bad;
	/* A chunk without rejects, nearly every one, cannot make a fault: the window's bad
	 * stayed what it was, its good only grew. */
	if (!bad || s->reported || s->bad < s->min_rejects || s->bad <= s->good)
		return false;
	s->reported = true;
	return true;
}

#endif
