/* A bounded ring of recent DATA frames of one channel, stored decoded and compact, for
 * replay after a client reconnects. Pure: receive times are passed in. */
#ifndef M7B_REPLAYRING_H
#define M7B_REPLAYRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto.h"

/* One stored frame; bytes follow the header inside the ring. It starts with the members
 * of struct proto_frame, in the same places, so a published frame is copied in as one
 * block (replayring_frame_in) and the header takes 80 bytes. */
struct replayring_rec {
	PROTO_FRAME_MEMBERS
	uint32_t boot_id; /* of the last HELLO before it, 0 if none yet */
	uint64_t rx_ns;	  /* CLOCK_REALTIME when the daemon received it */
	uint8_t bytes[];  /* nbytes */
};

/* The frame part of e, as published. */
static inline void replayring_frame_out(const struct replayring_rec *e, struct proto_frame *f)
{
	memcpy(f, e, PROTO_FRAME_SIZE);
}

/* Sets the frame part of e from f. */
static inline void replayring_frame_in(struct replayring_rec *e, const struct proto_frame *f)
{
	memcpy(e, f, PROTO_FRAME_SIZE);
}

/* Where a replay starts and what it can no longer give. */
struct replayring_start {
	uint64_t index;	  /* first record to replay (may equal the end: nothing) */
	uint64_t missing; /* frames received after the position and evicted since */
	bool exact;	  /* false: the position is older than what the ring remembers */
	bool has_range;	  /* first_* and last_* below are known */
	uint32_t first_boot, first_seq, last_boot, last_seq;
};

#define REPLAYRING_SPANS 1024 /* runs of evicted frames remembered (replayring.c) */

struct replayring_span {
	uint32_t boot, first_seq, last_seq;
	uint64_t count, first_rx, last_rx;
};

/* Private to replayring.c but for replayring_put(), inline here: it runs for every frame. */
struct replayring {
	uint8_t *buf;
	size_t cap;
	uint32_t *offs; /* offset of record i at offs[i % maxrec] */
	size_t maxrec;
	uint64_t first;		 /* index of the oldest record */
	size_t slot_end;	 /* where the next offset goes: (first + count) % maxrec */
	size_t head, tail, wrap; /* write offset, oldest record, end of data before offset 0 */
	size_t used;
	/* replayring_put() adds a record at head without more checks when it ends at most at
	 * limit (see refresh() in replayring.c) and slot_end is below slot_lim (maxrec - 1:
	 * the offsets do not wrap). */
	size_t limit, slot_lim;
	/* Not beside slot_end: compilers add 1 to both with vector instructions, more of them
	 * than two adds. */
	size_t count;
	uint64_t max_age_ns;
	uint64_t evicted;
	/* ring of runs, newest at (nspan_total - 1) % REPLAYRING_SPANS */
	struct replayring_span spans[REPLAYRING_SPANS];
	uint64_t nspan_total;
};

/* A ring of cap_bytes (records and their offsets) keeping frames at most max_age_ns. */
struct replayring *replayring_new(size_t cap_bytes, uint64_t max_age_ns);
/* Frees r; returns NULL. */
struct replayring *replayring_free(struct replayring *r);
/* Stores one frame (rec->bytes holds rec->nbytes), evicting the oldest as needed.
 * 0, or -EMSGSIZE when a single record cannot fit the ring. */
int replayring_push(struct replayring *r, const struct replayring_rec *rec, const void *bytes);
/* The same without a copy: room for a record of nbytes, evicting the oldest as needed, now
 * the newest; the caller fills every member and the bytes before anything else reads the
 * ring. NULL when a single record of that size cannot fit the ring. */
struct replayring_rec *replayring_add(struct replayring *r, size_t nbytes);
/* Bytes a record of nbytes takes in the ring. */
static inline size_t replayring_rec_size(size_t nbytes)
{
	return (sizeof(struct replayring_rec) + nbytes + 7) & ~(size_t)7;
}

/* n bytes from s to d: from 32 to 64 of them (a DATA frame's usual share) as four 16-byte
 * blocks, the last two overlapping the first back from the end, without a call. */
static inline void replayring_copy(uint8_t *d, const uint8_t *s, size_t n)
{
	if (n - 32 <= 32) {
		memcpy(d, s, 16);
		memcpy(d + 16, s + 16, 16);
		memcpy(d + n - 32, s + n - 32, 16);
		memcpy(d + n - 16, s + n - 16, 16);
	} else {
		memcpy(d, s, n);
	}
}

/* Fills e with a published frame of boot_id received at rx_ns and its bytes. */
static inline void replayring_fill(struct replayring_rec *e, const struct proto_frame *f,
				   uint32_t boot_id, uint64_t rx_ns, const void *bytes)
{
	replayring_frame_in(e, f);
	e->boot_id = boot_id;
	e->rx_ns = rx_ns;
	replayring_copy(e->bytes, bytes, f->nbytes);
}

/* replayring_put() when the record does not simply follow the last one. */
int replayring_put_room(struct replayring *r, const struct proto_frame *f, uint32_t boot_id,
			uint64_t rx_ns, const void *bytes);

/* Stores a published frame (f->nbytes of bytes) of boot_id received at rx_ns, evicting the
 * oldest as needed: replayring_add() and the copies in one call. 0 or -EMSGSIZE. Mostly
 * the record fits where the last one ended, as replayring_add() would place it: two
 * comparisons, and the rest out of line. */
static inline int replayring_put(struct replayring *r, const struct proto_frame *f,
				 uint32_t boot_id, uint64_t rx_ns, const void *bytes)
{
	size_t sz = replayring_rec_size(f->nbytes), off = r->head, i = r->slot_end;
	if (off + sz > r->limit || i >= r->slot_lim)
		return replayring_put_room(r, f, boot_id, rx_ns, bytes);
	r->offs[i] = (uint32_t)off;
	r->slot_end = i + 1;
	r->count++;
	r->head = off + sz;
	r->used += sz;
	replayring_fill((struct replayring_rec *)(void *)(r->buf + off), f, boot_id, rx_ns, bytes);
	return 0;
}
/* Evicts records received more than max_age_ns before now_ns. Returns the time until
 * which nothing held is too old (the oldest's receive time plus max_age_ns; 0 when the
 * ring is empty): there is nothing to expire before a later now_ns, whatever is pushed
 * meanwhile. */
uint64_t replayring_expire(struct replayring *r, uint64_t now_ns);
/* The record at index, or NULL when it was evicted or does not exist yet. */
const struct replayring_rec *replayring_get(const struct replayring *r, uint64_t index);
/* Index of the oldest record held. */
uint64_t replayring_first(const struct replayring *r);
/* Index the next pushed record will get. */
uint64_t replayring_end(const struct replayring *r);
/* Records held, and bytes of the ring in use. */
size_t replayring_count(const struct replayring *r);
size_t replayring_bytes(const struct replayring *r);
/* Frames evicted since creation. */
uint64_t replayring_evicted(const struct replayring *r);
/* Start after the frame (boot_id, seq) a client saw last. */
void replayring_find_seq(const struct replayring *r, uint32_t boot_id, uint32_t seq,
			 struct replayring_start *out);
/* Start at the first frame received after since_ns (CLOCK_REALTIME). */
void replayring_find_time(const struct replayring *r, uint64_t since_ns,
			  struct replayring_start *out);

#endif
