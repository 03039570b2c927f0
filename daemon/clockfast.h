/* What the per-DATA-frame path needs of a channel's clock, kept current by clocksync so
 * that publishing a frame maps its ticks and checks their order without a call. Pure
 * logic. */
#ifndef M7B_CLOCKFAST_H
#define M7B_CLOCKFAST_H

#include <stdbool.h>
#include <stdint.h>

#include "clockmap.h"
#include "proto.h"

enum clockfast_kind {
	CLOCKFAST_NONE = 0, /* unmapped */
	CLOCKFAST_LINE = 1, /* round trips' fit: line and the REALTIME offset below */
	CLOCKFAST_CALL = 2, /* another source: the clock's map function */
};

struct clockfast {
	enum clockfast_kind kind;
	/* DATA captures on a port start in order (ticks from round trips only): an earlier
	 * start means the M7 clock started over. */
	bool check;
	uint64_t real_add; /* REALTIME minus MONOTONIC, added modulo 2^64 */
	uint64_t real_err; /* the bound of that offset */
	/* The fit, its range cut to the ticks whose REALTIME is a uint64_t too. */
	struct clockmap_line line;
	uint64_t last_first[256]; /* per port, the newest capture start; 0: none yet */
};

/* Maps f's t_first and t_last with a LINE fast map: exactly what clockmap_map_pair() and
 * the REALTIME offset give. False (flags untouched) when a tick is out of range. */
static inline bool clockfast_map(const struct clockfast *k, struct proto_frame *f)
{
	const struct clockmap_line *l = &k->line;
	uint64_t a = f->t_first, b = f->t_last;

	/* clockmap_line_pair(), each result stored as soon as it is made: the frame's path
	 * has few registers to spare, and what is stored need not be kept in one. */
	uint64_t ra = a - l->lo, rb = b - l->lo;
	if ((ra > rb ? ra : rb) >= l->n) /* both in range: the farther of the two is */
		return false;
	int64_t dxa = (int64_t)(a - l->tick0), dxb = (int64_t)(b - l->tick0);
	uint64_t ns = clockmap_line_at(l, dxa);
	f->t_first_mono_ns = ns;
	f->t_first_ns = ns + k->real_add;
	ns = clockmap_line_at(l, dxb);
	f->t_last_mono_ns = ns;
	f->t_last_ns = ns + k->real_add;
	f->t_err_ns = clockmap_line_err(l, clockmap_line_dist2(l, dxa, dxb)) + k->real_err;
	f->has_mono = f->has_realtime = true;
	return true;
}

/* The order check of a DATA capture starting at first on port: true when it starts
 * before the port's previous one (the caller tells clocksync). Notes first either way. */
static inline bool clockfast_went_back(struct clockfast *k, uint8_t port, uint64_t first)
{
	if (!k->check)
		return false;
	uint64_t last = k->last_first[port];
	k->last_first[port] = first;
	return first < last;
}

#endif
