/* Recent frames of one channel in one byte buffer, oldest evicted first, with a short
 * memory of what was evicted so a replay can say exactly what it no longer has. */
#include "replayring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Evicted frames are remembered as runs of consecutive seq of one boot, each spanning at
 * most SPAN_NS of receive time: seq positions inside a run are exact, time positions
 * to within SPAN_NS. */
#define SPAN_NS 100000000ull
#define MIN_REC 64 /* offsets are sized for records of at least this many bytes */

/* The frame part is copied as one block into the record's first bytes. */
_Static_assert(offsetof(struct replayring_rec, t_first) == offsetof(struct proto_frame, t_first) &&
		       offsetof(struct replayring_rec, has_mono) ==
			       offsetof(struct proto_frame, has_mono) &&
		       offsetof(struct replayring_rec, boot_id) >= PROTO_FRAME_SIZE,
	       "a replay record starts with the members of struct proto_frame");

static bool seq_after(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) > 0;
}

/* A record takes at least MIN_REC bytes of the ring, so while the bytes have room for one
 * more, so have the offsets (cap leaves MIN_REC bytes and an offset per record): only
 * make_room() looks at the count, replayring_put() does not need to. */
_Static_assert(sizeof(struct replayring_rec) >= MIN_REC, "records take at least MIN_REC bytes");

/* Sets the offset up to which replayring_put() adds records inline: where make_room()
 * would first evict or wrap, 0 when the ring is empty (its record goes at offset 0). It
 * holds while records are only added there: the head moves towards it. Evictions only
 * move it further, so an old one is merely low (a call more), but expiry sets it anew. */
static void refresh(struct replayring *r)
{
	r->limit = r->count == 0 ? 0 : r->head > r->tail ? r->cap : r->tail;
}

struct replayring *replayring_new(size_t cap_bytes, uint64_t max_age_ns)
{
	struct replayring *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->maxrec = cap_bytes / MIN_REC;
	r->cap = cap_bytes - r->maxrec * sizeof(*r->offs);
	r->max_age_ns = max_age_ns;
	r->buf = malloc(r->cap ? r->cap : 1);
	r->offs = malloc(r->maxrec ? r->maxrec * sizeof(*r->offs) : 1);
	if (!r->buf || !r->offs)
		return replayring_free(r);
	r->wrap = r->cap;
	r->slot_lim = r->maxrec ? r->maxrec - 1 : 0;
	refresh(r);
	return r;
}

struct replayring *replayring_free(struct replayring *r)
{
	if (!r)
		return NULL;
	free(r->buf);
	free(r->offs);
	free(r);
	return NULL;
}

static struct replayring_rec *at(const struct replayring *r, size_t off)
{
	return (struct replayring_rec *)(void *)(r->buf + off);
}

static void remember_evicted(struct replayring *r, const struct replayring_rec *e)
{
	struct replayring_span *s =
		r->nspan_total ? &r->spans[(r->nspan_total - 1) % REPLAYRING_SPANS] : NULL;
	if (s && s->boot == e->boot_id && e->seq == s->last_seq + 1 && e->rx_ns >= s->first_rx &&
	    e->rx_ns - s->first_rx < SPAN_NS) {
		s->last_seq = e->seq;
		s->count++;
		s->last_rx = e->rx_ns;
		return;
	}
	s = &r->spans[r->nspan_total++ % REPLAYRING_SPANS];
	*s = (struct replayring_span){e->boot_id, e->seq, e->seq, 1, e->rx_ns, e->rx_ns};
}

static void pop(struct replayring *r)
{
	const struct replayring_rec *e = at(r, r->tail);
	remember_evicted(r, e);
	size_t sz = replayring_rec_size(e->nbytes);
	r->used -= sz;
	r->tail += sz;
	r->first++;
	r->evicted++;
	if (--r->count == 0) {
		r->head = r->tail = 0;
		r->wrap = r->cap;
	} else if (r->tail == r->wrap) {
		r->tail = 0;
		r->wrap = r->cap;
	}
}

/* Offset where a record of sz bytes goes, evicting as needed. */
static size_t make_room(struct replayring *r, size_t sz)
{
	for (;;) {
		if (r->count == r->maxrec) {
			pop(r);
			continue;
		}
		if (r->count == 0)
			return 0;
		if (r->head > r->tail) { /* not wrapped: free space after head, then before tail */
			if (r->head + sz <= r->cap)
				return r->head;
			r->wrap = r->head;
			r->head = 0;
			continue;
		}
		if (r->head + sz <= r->tail) /* wrapped: free space between head and tail */
			return r->head;
		pop(r);
	}
}

/* Takes sz bytes at off (from make_room) as the newest record. */
static inline struct replayring_rec *take(struct replayring *r, size_t off, size_t sz)
{
	size_t i = r->slot_end; /* (first + count) % maxrec, kept rather than divided */
	r->offs[i] = (uint32_t)off;
	r->slot_end = i + 1 == r->maxrec ? 0 : i + 1;
	r->count++;
	r->head = off + sz;
	r->used += sz;
	return at(r, off);
}

struct replayring_rec *replayring_add(struct replayring *r, size_t nbytes)
{
	size_t sz = replayring_rec_size(nbytes);
	if (sz > r->cap || r->maxrec == 0)
		return NULL;
	struct replayring_rec *e = take(r, make_room(r, sz), sz);
	refresh(r);
	return e;
}

int replayring_put_room(struct replayring *r, const struct proto_frame *f, uint32_t boot_id,
			uint64_t rx_ns, const void *bytes)
{
	struct replayring_rec *e = replayring_add(r, f->nbytes);
	if (!e)
		return -EMSGSIZE;
	replayring_fill(e, f, boot_id, rx_ns, bytes);
	return 0;
}

int replayring_push(struct replayring *r, const struct replayring_rec *rec, const void *bytes)
{
	struct replayring_rec *d = replayring_add(r, rec->nbytes);
	if (!d)
		return -EMSGSIZE;
	*d = *rec;
	memcpy(d->bytes, bytes, rec->nbytes);
	return 0;
}

uint64_t replayring_expire(struct replayring *r, uint64_t now_ns)
{
	while (r->count && now_ns > r->max_age_ns && at(r, r->tail)->rx_ns < now_ns - r->max_age_ns)
		pop(r);
	refresh(r);
	return r->count ? at(r, r->tail)->rx_ns + r->max_age_ns : 0;
}

const struct replayring_rec *replayring_get(const struct replayring *r, uint64_t index)
{
	if (index < r->first || index >= r->first + r->count)
		return NULL;
	return at(r, r->offs[index % r->maxrec]);
}

uint64_t replayring_first(const struct replayring *r)
{
	return r->first;
}

uint64_t replayring_end(const struct replayring *r)
{
	return r->first + r->count;
}

size_t replayring_count(const struct replayring *r)
{
	return r->count;
}

size_t replayring_bytes(const struct replayring *r)
{
	return r->used;
}

uint64_t replayring_evicted(const struct replayring *r)
{
	return r->evicted;
}

/* Adds a whole run to what is missing; the run is older than those counted before. */
static void take_span(struct replayring_start *o, const struct replayring_span *s,
		      uint32_t from_seq)
{
	o->missing += s->last_seq - from_seq + 1;
	if (!o->has_range) {
		o->last_boot = s->boot;
		o->last_seq = s->last_seq;
	}
	o->has_range = true;
	o->first_boot = s->boot;
	o->first_seq = from_seq;
}

/* Walks the evicted runs newest first; where() says whether a run lies wholly before the
 * position (1), contains it exactly (2, from_seq set) or roughly (3), or after it (0). */
typedef int (*span_pos_fn)(const struct replayring_span *s, const void *pos, uint32_t *from_seq);

static void walk_spans(const struct replayring *r, span_pos_fn where, const void *pos,
		       struct replayring_start *o)
{
	uint64_t kept = r->nspan_total < REPLAYRING_SPANS ? r->nspan_total : REPLAYRING_SPANS;
	for (uint64_t k = 0; k < kept; k++) {
		const struct replayring_span *s =
			&r->spans[(r->nspan_total - 1 - k) % REPLAYRING_SPANS];
		uint32_t from = s->first_seq;
		int w = where(s, pos, &from);
		if (w == 1)
			return;
		take_span(o, s, from);
		if (w == 2)
			return; /* exact: a run holds consecutive seq */
		if (w == 3) {
			o->exact = false; /* some of this run may precede the position */
			return;
		}
	}
	o->exact = false; /* older than anything remembered, or never seen */
}

struct seqpos {
	uint32_t boot, seq;
};

static int seq_where(const struct replayring_span *s, const void *p, uint32_t *from)
{
	const struct seqpos *sp = p;
	if (s->boot != sp->boot)
		return 0;
	if (!seq_after(s->last_seq, sp->seq))
		return 1;
	if (seq_after(s->first_seq, sp->seq))
		return 0;
	*from = sp->seq + 1;
	return 2;
}

/* Says that the frames from after an older occurrence of the position up to newest (the
 * newest, held) may be what the client missed. */
static void say_ambiguous(const struct replayring *r, uint64_t newest, uint64_t missing,
			  uint32_t first_boot, uint32_t first_seq, struct replayring_start *out)
{
	const struct replayring_rec *last = replayring_get(r, newest);
	out->missing = missing;
	out->exact = false;
	out->has_range = true;
	out->first_boot = first_boot;
	out->first_seq = first_seq;
	out->last_boot = last->boot_id;
	out->last_seq = last->seq;
}

/* The frame at newest is (boot_id, seq); every HELLO restarts seq, also one of the same
 * boot (the answer to the HOST_HELLO of each reopen of the link), so an older frame, held
 * or evicted, may be too. The client saw one of them, which one it cannot say: the replay
 * goes on after the newest, and the frames after the oldest up to it are what it may have
 * missed. */
static void ambiguous_seq(const struct replayring *r, uint64_t newest, uint32_t boot_id,
			  uint32_t seq, struct replayring_start *out)
{
	uint64_t oldest = newest;
	for (uint64_t i = newest; i-- > r->first;) {
		const struct replayring_rec *e = replayring_get(r, i);
		if (e->boot_id == boot_id && e->seq == seq)
			oldest = i;
	}
	if (oldest != newest) {
		const struct replayring_rec *e = replayring_get(r, oldest + 1);
		say_ambiguous(r, newest, newest - oldest, e->boot_id, e->seq, out);
		return;
	}
	/* Among the evicted runs, newest first: all of a run after the position counts. */
	const struct replayring_rec *e = replayring_get(r, r->first);
	uint64_t n = newest - r->first + 1;
	uint32_t fb = e->boot_id, fs = e->seq;
	uint64_t kept = r->nspan_total < REPLAYRING_SPANS ? r->nspan_total : REPLAYRING_SPANS;
	for (uint64_t k = 0; k < kept; k++) {
		const struct replayring_span *sp =
			&r->spans[(r->nspan_total - 1 - k) % REPLAYRING_SPANS];
		if (sp->boot == boot_id && !seq_after(sp->first_seq, seq) &&
		    !seq_after(seq, sp->last_seq)) {
			if (sp->last_seq != seq) {
				n += sp->last_seq - seq;
				fb = boot_id;
				fs = seq + 1;
			}
			say_ambiguous(r, newest, n, fb, fs, out);
			return;
		}
		n += sp->count;
		fb = sp->boot;
		fs = sp->first_seq;
	}
}

void replayring_find_seq(const struct replayring *r, uint32_t boot_id, uint32_t seq,
			 struct replayring_start *out)
{
	*out = (struct replayring_start){.index = replayring_end(r), .exact = true};
	uint64_t oldest_after = UINT64_MAX, last_of_boot = UINT64_MAX;
	for (uint64_t i = replayring_end(r); i-- > r->first;) {
		const struct replayring_rec *e = replayring_get(r, i);
		if (e->boot_id != boot_id)
			continue;
		if (e->seq == seq) {
			out->index = i + 1;
			ambiguous_seq(r, i, boot_id, seq, out);
			return;
		}
		if (seq_after(e->seq, seq))
			oldest_after = i;
		else if (last_of_boot == UINT64_MAX)
			last_of_boot = i;
	}
	if (oldest_after != UINT64_MAX &&
	    (last_of_boot == UINT64_MAX || last_of_boot < oldest_after))
		out->index = oldest_after;
	else if (last_of_boot != UINT64_MAX)
		out->index = last_of_boot + 1;
	else
		out->index = r->first;
	if (out->index != r->first)
		return; /* everything evicted is at or before the position */
	const struct replayring_rec *e = replayring_get(r, out->index);
	if (e && e->boot_id == boot_id && e->seq == seq + 1)
		return; /* the oldest held follows the position directly */
	struct seqpos p = {boot_id, seq};
	walk_spans(r, seq_where, &p, out);
}

static int time_where(const struct replayring_span *s, const void *p, uint32_t *from)
{
	uint64_t t = *(const uint64_t *)p;
	(void)from;
	if (s->last_rx <= t)
		return 1;
	if (s->first_rx > t)
		return 0;
	return 3; /* straddles: counted whole */
}

void replayring_find_time(const struct replayring *r, uint64_t since_ns,
			  struct replayring_start *out)
{
	*out = (struct replayring_start){.index = replayring_end(r), .exact = true};
	for (uint64_t i = r->first; i < replayring_end(r); i++)
		if (replayring_get(r, i)->rx_ns > since_ns) {
			out->index = i;
			break;
		}
	if (out->index != r->first && r->count)
		return;
	walk_spans(r, time_where, &since_ns, out);
}
