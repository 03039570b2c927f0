/* Recent frames of one channel in one byte buffer, oldest evicted first, with a short
 * memory of what was evicted so a replay can say exactly what it no longer has. */
#include "replayring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Evicted frames are remembered as runs of consecutive seq of one boot, each spanning at
 * most SPAN_NS of receive time: seq positions inside a run are exact, time positions
 * to within SPAN_NS. */
#define SPANS	1024
#define SPAN_NS 100000000ull
#define MIN_REC 64 /* offsets are sized for records of at least this many bytes */

struct span {
	uint32_t boot, first_seq, last_seq;
	uint64_t count, first_rx, last_rx;
};

struct replayring {
	uint8_t *buf;
	size_t cap;
	uint32_t *offs; /* offset of record i at offs[i % maxrec] */
	size_t maxrec;
	uint64_t first; /* index of the oldest record */
	size_t count;
	size_t slot_end;	 /* where the next offset goes: (first + count) % maxrec */
	size_t head, tail, wrap; /* write offset, oldest record, end of data before offset 0 */
	size_t used;
	uint64_t max_age_ns;
	uint64_t evicted;
	struct span spans[SPANS]; /* ring of runs, newest at (nspan_total - 1) % SPANS */
	uint64_t nspan_total;
};

/* The frame part is copied as one block into the record's first bytes. */
_Static_assert(offsetof(struct replayring_rec, t_first) == offsetof(struct proto_frame, t_first) &&
		       offsetof(struct replayring_rec, has_mono) ==
			       offsetof(struct proto_frame, has_mono) &&
		       offsetof(struct replayring_rec, boot_id) >= PROTO_FRAME_SIZE,
	       "a replay record starts with the members of struct proto_frame");

static size_t rec_size(size_t nbytes)
{
	return (sizeof(struct replayring_rec) + nbytes + 7) & ~(size_t)7;
}

static bool seq_after(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) > 0;
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
	struct span *s = r->nspan_total ? &r->spans[(r->nspan_total - 1) % SPANS] : NULL;
	if (s && s->boot == e->boot_id && e->seq == s->last_seq + 1 && e->rx_ns >= s->first_rx &&
	    e->rx_ns - s->first_rx < SPAN_NS) {
		s->last_seq = e->seq;
		s->count++;
		s->last_rx = e->rx_ns;
		return;
	}
	s = &r->spans[r->nspan_total++ % SPANS];
	*s = (struct span){e->boot_id, e->seq, e->seq, 1, e->rx_ns, e->rx_ns};
}

static void pop(struct replayring *r)
{
	const struct replayring_rec *e = at(r, r->tail);
	remember_evicted(r, e);
	size_t sz = rec_size(e->nbytes);
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
	size_t sz = rec_size(nbytes);
	if (sz > r->cap || r->maxrec == 0)
		return NULL;
	return take(r, make_room(r, sz), sz);
}

static void fill(struct replayring_rec *e, const struct proto_frame *f, uint32_t boot_id,
		 uint64_t rx_ns, const void *bytes)
{
	replayring_frame_in(e, f);
	e->boot_id = boot_id;
	e->rx_ns = rx_ns;
	memcpy(e->bytes, bytes, f->nbytes);
}

/* replayring_put() when the record does not simply follow the last one. */
static __attribute__((noinline)) int put_room(struct replayring *r, const struct proto_frame *f,
					      uint32_t boot_id, uint64_t rx_ns, const void *bytes)
{
	struct replayring_rec *e = replayring_add(r, f->nbytes);
	if (!e)
		return -EMSGSIZE;
	fill(e, f, boot_id, rx_ns, bytes);
	return 0;
}

int replayring_put(struct replayring *r, const struct proto_frame *f, uint32_t boot_id,
		   uint64_t rx_ns, const void *bytes)
{
	/* Mostly the record fits where the last one ended (make_room's first answer); the
	 * rest goes out of line, so this path saves no registers. */
	size_t sz = rec_size(f->nbytes), off = r->head;
	if (r->count == 0 || r->count >= r->maxrec || off + sz > (off > r->tail ? r->cap : r->tail))
		return put_room(r, f, boot_id, rx_ns, bytes);
	fill(take(r, off, sz), f, boot_id, rx_ns, bytes);
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
static void take_span(struct replayring_start *o, const struct span *s, uint32_t from_seq)
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
typedef int (*span_pos_fn)(const struct span *s, const void *pos, uint32_t *from_seq);

static void walk_spans(const struct replayring *r, span_pos_fn where, const void *pos,
		       struct replayring_start *o)
{
	uint64_t kept = r->nspan_total < SPANS ? r->nspan_total : SPANS;
	for (uint64_t k = 0; k < kept; k++) {
		const struct span *s = &r->spans[(r->nspan_total - 1 - k) % SPANS];
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

static int seq_where(const struct span *s, const void *p, uint32_t *from)
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

static int time_where(const struct span *s, const void *p, uint32_t *from)
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
