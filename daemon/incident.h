/* Incident recorder: a RAM ring per channel of recent frame headers, state changes,
 * faults and kernel lines; each fault opens an incident that is written, when it ends,
 * as a JSON file into a bounded directory; `incidents` lists them. */
#ifndef M7B_INCIDENT_H
#define M7B_INCIDENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "m7bridge/wire.h"

enum incident_entry_kind {
	INCIDENT_FRAME = 0, /* a frame header from the M7 */
	INCIDENT_STATE,	    /* link state change */
	INCIDENT_FAULT,	    /* a fault (kernel, liveness, decoder) */
	INCIDENT_KERNEL,    /* a kernel line about this channel */
	INCIDENT_STEP,	    /* a recovery step began or ended */
	INCIDENT_NOTE,	    /* anything else worth keeping */
};

#define INCIDENT_TEXT_MAX 160

struct incident_entry {
	uint64_t t_us; /* CLOCK_REALTIME */
	/* kind (an enum incident_entry_kind), then a FRAME's header members where struct
	 * m7b_frame has them after its ver: incident_ring_frame() copies them as a block. */
	uint8_t kind;
	uint8_t type, port, flags; /* FRAME */
	uint32_t seq;		   /* FRAME */
	uint16_t len;		   /* FRAME */
	char text[INCIDENT_TEXT_MAX];
};

_Static_assert(
	offsetof(struct incident_entry, type) - offsetof(struct incident_entry, kind) ==
			offsetof(struct m7b_frame, type) &&
		offsetof(struct incident_entry, port) - offsetof(struct incident_entry, kind) ==
			offsetof(struct m7b_frame, port) &&
		offsetof(struct incident_entry, flags) - offsetof(struct incident_entry, kind) ==
			offsetof(struct m7b_frame, flags) &&
		offsetof(struct incident_entry, seq) - offsetof(struct incident_entry, kind) ==
			offsetof(struct m7b_frame, seq),
	"struct incident_entry: the FRAME members as in struct m7b_frame");

/* Fixed-size ring of the latest entries. */
struct incident_ring {
	struct incident_entry *e;
	struct incident_entry *next; /* the slot to write; NULL for a ring without room */
	struct incident_entry *end;  /* e + cap */
	size_t cap;
	bool full;	/* every slot was written: the oldest entry is at next */
	uint64_t wraps; /* times next went back to e: with next, the entries ever written */
};

/* One step the recovery took, as the recorder stores it. */
struct incident_step {
	const char *action; /* "resync", ... */
	int result;	    /* 0 ok, negative errno (-ETIMEDOUT = timeout), 1 = running */
	uint64_t ms;
	const char *why; /* what decided it ("hello", "deaf", ...) or NULL */
};

/* An open incident (between the fault and the end of what recovery did). */
struct incident {
	uint64_t seq;
	char channel[64];
	char kind[48];
	char source[16];
	char detail[INCIDENT_TEXT_MAX];
	uint64_t start_us;
	uint64_t open_ms;   /* CLOCK_MONOTONIC ms at open: the cap (set by the caller) */
	uint64_t close_ms;  /* and at close, for duration_ms (0 = unknown: the wall clock's) */
	uint64_t events;    /* faults and requests that opened or extended it */
	uint64_t continues; /* seq of the incident this one continues; 0 = none */
	uint64_t ring_at;   /* incident_ring_total() at open: what came after is told apart */
	cJSON *before;	    /* ring entries up to the fault */
	cJSON *evidence;    /* what the platform kept (trace, dumps, kernel lines); NULL = none */
};

/* The directory of incident files and its bounds. */
struct incident_store {
	char *dir;
	int dirfd;   /* every file is opened relative to it, never through a path */
	uid_t owner; /* the daemon's user: owns the directory and every file served */
	unsigned max_files;
	uint64_t max_bytes;
	uint64_t next_seq;
};

/* Allocates a ring of cap entries (>= 1). 0 or -ENOMEM/-EINVAL. */
int incident_ring_init(struct incident_ring *r, size_t cap);
/* Frees the ring's memory. */
void incident_ring_clear(struct incident_ring *r);
/* Entries held (at most cap). */
static inline size_t incident_ring_len(const struct incident_ring *r)
{
	return r->full ? r->cap : (size_t)(r->next - r->e);
}

/* The next slot to write, not cleared; NULL for a ring without room (cap 0). Pointers,
 * and the count kept only until the ring is full: a load, a compare, a store. */
static inline struct incident_entry *incident_ring_push(struct incident_ring *r)
{
	struct incident_entry *e = r->next;

	if (!e)
		return NULL;
	if (++r->next == r->end) {
		r->next = r->e;
		r->full = true;
		r->wraps++;
	}
	return e;
}

/* Entries ever written into the ring. */
static inline uint64_t incident_ring_total(const struct incident_ring *r)
{
	return r->next ? r->wraps * r->cap + (uint64_t)(r->next - r->e) : 0;
}

/* Records the header of frame f. Inline, one per frame: a few word stores (type, port,
 * flags and seq copied with ver as one block, then kind over ver) set every member a
 * FRAME entry uses. Its text is never read: left as the slot had it. */
static inline void incident_ring_frame(struct incident_ring *r, uint64_t t_us,
				       const struct m7b_frame *f)
{
	struct incident_entry *e = incident_ring_push(r);

	if (!e)
		return;
	e->t_us = t_us;
	memcpy(&e->kind, f, offsetof(struct m7b_frame, seq) + sizeof(f->seq));
	e->kind = INCIDENT_FRAME;
	e->len = f->len;
}
/* Records a line of text (truncated; control bytes replaced). */
void incident_ring_text(struct incident_ring *r, uint64_t t_us, enum incident_entry_kind kind,
			const char *text, size_t len);
/* Entry i, oldest first (i < r->n). */
const struct incident_entry *incident_ring_at(const struct incident_ring *r, size_t i);

/* Opens (creates 0750) dir and finds the next sequence number. 0 or -errno: -EPERM when
 * dir is not owned by owner or is writable by group or others, -ENOTDIR when it is a
 * symlink or not a directory. */
int incident_store_new(const char *dir, uid_t owner, unsigned max_files, uint64_t max_bytes,
		       struct incident_store **out);
/* Checks the open directory again (owner, mode): 0, -EPERM or -errno. */
int incident_store_check(const struct incident_store *s);
/* Frees the store (files stay); NULL ok; returns NULL. */
struct incident_store *incident_store_free(struct incident_store *s);

/* Opens an incident at now_us, snapshotting the ring. NULL on ENOMEM. */
struct incident *incident_open(struct incident_store *s, const struct incident_ring *ring,
			       const char *channel, const char *kind, const char *source,
			       const char *detail, uint64_t now_us);
/* Closes inc: writes its file (entries after the fault from the ring, the steps, the
 * counters object, which it takes over) and prunes the directory; frees inc. 0 or -errno. */
int incident_close(struct incident_store *s, struct incident *inc, const struct incident_ring *ring,
		   const char *outcome, const struct incident_step *steps, size_t nsteps,
		   cJSON *counters, uint64_t now_us);
/* An incident under continuous faults would never close, and a crash would lose it:
 * it is capped at this age or this many faults, then written and continued. */
#define INCIDENT_MAX_MS	    30000
#define INCIDENT_MAX_EVENTS 256

/* Whether inc has reached its cap at now_ms (CLOCK_MONOTONIC ms). */
bool incident_full(const struct incident *inc, uint64_t now_ms);
/* Folds one more fault or request into inc at now_ms: true, or false (nothing counted)
 * when inc is full and must be closed and continued. */
bool incident_extend(struct incident *inc, uint64_t now_ms);

/* Frees an incident without writing it. NULL ok. */
void incident_discard(struct incident *inc);

/* Summaries of the stored incidents, oldest first, optionally of one channel only:
 * a new array of {seq, channel, start_us, end_us, kind, source, outcome, steps, file}.
 * NULL on ENOMEM. */
cJSON *incident_list(const struct incident_store *s, const char *channel);

/* Summary of an open incident (outcome "open") with the steps run so far, for the same
 * list. NULL on ENOMEM. */
cJSON *incident_summary_open(const struct incident *inc, const struct incident_step *steps,
			     size_t nsteps);

/* Token for a step result: "ok", "timeout", "failed", "running". */
const char *incident_result_to_string(int result);

/* Name of an entry kind ("frame", "kernel", ...). */
const char *incident_entry_kind_to_string(enum incident_entry_kind k);

#endif
