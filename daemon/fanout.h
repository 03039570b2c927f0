/* The lines streamed to clients, rendered once into shared chunks that every client taking
 * them references (conn_stream_ref) and sends with one sendmsg(): no copy per client,
 * whether it keeps up or lags. A chunk is reused once nobody references it. */
#ifndef M7B_FANOUT_H
#define M7B_FANOUT_H

#include <stdbool.h>
#include <stddef.h>

/* Chunks that may exist at once, in use or spare: with lagging clients the newest lines
 * go to a fresh chunk while the lagging ones still hold older lines; past this many,
 * lines are copied into each client's own queue instead (fanout_renew() fails). */
#define FANOUT_CHUNKS_MAX 16
/* Free chunks kept for the next fanout_renew() rather than freed. */
#define FANOUT_SPARES 2

struct fanout;

/* One block of rendered lines. */
struct fanout_chunk {
	struct fanout *owner;
	struct fanout_chunk *next_spare;
	size_t len, cap;
	unsigned refs; /* holders: references of clients, a publisher handing out a line */
	char buf[];
};

struct fanout {
	struct fanout_chunk *cur;   /* where new lines go */
	struct fanout_chunk *spare; /* free chunks, at most FANOUT_SPARES */
	unsigned nspare;
	unsigned nchunks; /* allocated: cur, the spares, and those only clients still hold */
	size_t cap;	  /* bytes per chunk */
};

/* Chunks of cap bytes; NULL on ENOMEM. */
struct fanout *fanout_new(size_t cap);
/* Frees f (NULL ok) once no client holds a chunk; returns NULL. */
struct fanout *fanout_free(struct fanout *f);
/* The current chunk is full and clients still hold lines of it: new lines go to another
 * chunk (a spare or a new one), the old one is freed when its last holder lets go. False
 * when FANOUT_CHUNKS_MAX are in use or memory is short. */
bool fanout_renew(struct fanout *f);
/* A chunk nobody holds any more that is not the current one: kept as a spare or freed. */
void fanout_retire(struct fanout_chunk *k);

/* Where the next line goes and how much room it has. When nobody holds a line of the
 * current chunk, it starts over first: the bytes before were sent. */
static inline char *fanout_tail(struct fanout *f, size_t *room)
{
	struct fanout_chunk *k = f->cur;
	if (k->refs == 0)
		k->len = 0;
	*room = k->cap - k->len;
	return k->buf + k->len;
}

/* Keeps the n bytes written at fanout_tail(); they stay put while the chunk is held. */
static inline void fanout_commit(struct fanout *f, size_t n)
{
	f->cur->len += n;
}

/* The chunk lines are rendered into now. */
static inline struct fanout_chunk *fanout_current(struct fanout *f)
{
	return f->cur;
}

/* Takes a reference on k. */
static inline void fanout_chunk_hold(struct fanout_chunk *k)
{
	k->refs++;
}

/* Drops a reference on k; the last one of a chunk no longer current retires it. */
static inline void fanout_chunk_release(struct fanout_chunk *k)
{
	if (--k->refs == 0 && k != k->owner->cur)
		fanout_retire(k);
}

/* A publisher holds the current chunk while it hands one line to many clients, so that a
 * client letting go meanwhile cannot make the next fanout_tail() start over under the
 * others. The current chunk does not change until fanout_release(): only fanout_renew()
 * changes it, and publishers make room before they hold. */
static inline void fanout_hold(struct fanout *f)
{
	f->cur->refs++;
}

/* Ends fanout_hold(). */
static inline void fanout_release(struct fanout *f)
{
	f->cur->refs--;
}

/* True if line (len bytes) lies inside chunk k's lines. */
static inline bool fanout_chunk_holds(const struct fanout_chunk *k, const char *line, size_t len)
{
	return k && line >= k->buf && len <= k->len && line <= k->buf + k->len - len;
}

#endif
