/* One client connection: line reader, bounded output queue, watch filters, slow-client
 * policy. Output is references to shared chunks of lines plus the client's own bytes
 * (replies, notices), in order, written with one sendmsg(): no allocation or copy per
 * object, and none when the client lags. */
#ifndef M7B_CONN_H
#define M7B_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "fanout.h"
#include "proto.h"

struct daemon;
struct event;
struct fanout;
struct event_base;
struct log;

struct conn;
struct replay_conn;
struct fanout_chunk;

/* Segments of a client's output queue: stretches of shared chunks (a filter that skips
 * lines splits them) and of its own bytes. Past this many, the queue is copied into its
 * own bytes. */
#define CONN_SEGS_MAX 32

/* Groups of a peer kept in the conn itself; a peer with more gets them allocated. */
#define CONN_GIDS_INLINE 33

/* What the owner hears from a client. */
struct conn_ops {
	/* A complete request line (without newline). false: not taken now (it must wait for
	 * the answers to earlier requests); it is offered again after conn_release. */
	bool (*on_line)(void *ud, struct conn *c, const char *line, size_t len);
	/* The client was marked closing: reap it at a safe point. */
	void (*on_closing)(void *ud, struct conn *c);
	/* A replaying client's queue drained below half: queue more of the replay. */
	void (*on_drain)(void *ud, struct conn *c);
};

struct conn {
	struct conn *next; /* the daemon's list */
	uint64_t id;
	int fd;
	int pid;	/* from SO_PEERCRED, 0 if unknown */
	long uid;	/* -1 if unknown */
	gid_t *gids;	/* primary, then supplementary (SO_PEERGROUPS): all of them */
	unsigned ngids; /* 0 if unknown */
	gid_t gids_inline[CONN_GIDS_INLINE]; /* gids, unless the peer has more groups */
	struct event *ev_read, *ev_write;
	struct event *ev_hup; /* while not read from: is the peer gone? (conn_end: its grace) */
	const struct log *log;
	const struct conn_ops *ops;
	void *ud;

	char *in; /* request lines not taken yet, and a partial one */
	size_t in_len;
	size_t in_clean; /* leading bytes of in known to hold no newline */

	/* The output queue, oldest first: segments iov[0..nsegs) as sendmsg() takes them,
	 * each lines of the shared chunk ck[i] (referenced) or, with ck[i] NULL, a stretch
	 * of the own bytes out[out_start, out_end) in order. A client that lags holds
	 * references, not copies: the chunk is shared by all. */
	char *out;
	size_t out_start, out_end, out_alloc;
	struct iovec iov[CONN_SEGS_MAX];
	struct fanout_chunk *ck[CONN_SEGS_MAX];
	unsigned nsegs;
	size_t run_bytes; /* bytes of shared chunks referenced */
	/* Where the newest segment's lines end when a streamed line starting there may
	 * simply extend it (it references a chunk, the client neither drops nor closes);
	 * NULL otherwise. A chunk's lines never begin where another chunk's end (each
	 * buffer follows its own header), so equal means the same chunk, held already. */
	const char *run_end;
	/* While run_end is set: the address up to which lines may extend that segment
	 * within queue_limit, as of when it was set (bytes sent since only make it low:
	 * a line beyond takes the general path, which checks exactly). */
	uintptr_t run_max;
	struct iovec *run_iov; /* while run_end is set: the newest segment, iov[nsegs - 1] */
	struct msghdr mh;      /* sendmsg()'s: iov, set once; msg_iovlen set per send */
	size_t queue_limit;    /* streamed objects beyond this are dropped / disconnect */
	size_t hard_limit;     /* replies beyond this disconnect */

	/* watch */
	bool watching;
	bool all_channels;
	uint64_t chan_mask; /* daemon channel slots selected (resolved from names) */
	char (*chan_names)[PROTO_NAME_MAX];
	unsigned nchan_names;
	uint64_t ports[4];
	unsigned classes;
	enum proto_encoding encoding;
	enum proto_policy policy;
	uint64_t replay_mask; /* slots still replaying: their live FRAMEs come from the ring */
	/* The slots whose live FRAMEs c takes (ports aside), from watching, closing,
	 * classes, chan_mask and replay_mask: whoever changes those calls conn_frame_update(),
	 * so that each DATA frame tests one bit instead of five things per client. */
	uint64_t frame_slots;
	struct replay_conn *replay; /* replay.c's cursors, freed with the conn */

	uint64_t delivered, dropped, dropped_since;
	uint64_t raw_dropped, raw_dropped_since; /* tty bytes in the RAW objects dropped */
	unsigned bad_lines;
	unsigned held; /* requests answered later (sends) */
	bool waiting;  /* a line was not taken: no more until held is 0 */
	/* Side by side, in this order: each output path tests those it cares for at once. */
	bool closing;  /* reaped after the current callback */
	bool dropping; /* streamed objects are dropped until the queue drains below half */
	bool read_paused;
	bool read_eof; /* the peer shut its sending side; it may still read */
	bool dirty;    /* has output to flush at the end of this event */
	bool ending;   /* conn_end(): closed once its output has left */
	bool logged;   /* its connect was logged (rate-limited): so is its disconnect */
	char close_reason[64];
	size_t unsent; /* bytes queued and never sent, counted when it closed */
};

/* Wraps an accepted socket; queue_bytes bounds streamed output. NULL on error (the
 * caller still owns fd then). */
struct conn *conn_new(struct event_base *base, int fd, uint64_t id, size_t queue_bytes,
		      const struct log *log, const struct conn_ops *ops, void *ud);
/* Closes the socket and frees c; returns NULL. */
struct conn *conn_free(struct conn *c);
/* Queues a streamed object subject to the policy (drop with notice, or disconnect). */
void conn_stream(struct conn *c, const char *line, size_t len);
/* conn_stream() of a RAW object carrying raw_bytes of the tty's bytes: if it is dropped,
 * they are counted too (DROPPED says how many, since a raw stream has no seq). */
void conn_stream_raw(struct conn *c, const char *line, size_t len, size_t raw_bytes);
/* conn_stream_ref() when the line neither extends the newest segment nor starts an empty
 * queue of a client that neither drops nor closes. */
void conn_stream_ref_slow(struct conn *c, struct fanout *fo, const char *line, size_t len);
/* Queues a streamed object only if it fits below the stream limit now (nothing is
 * dropped or counted otherwise). True if queued. */
bool conn_offer(struct conn *c, const char *line, size_t len);
/* Queues a reply; never dropped. Disconnects if even the hard limit is exceeded. */
void conn_reply(struct conn *c, const char *line, size_t len);
/* One request of c is answered later (a send). */
void conn_hold(struct conn *c);
/* That request was answered; when none is left, a line that was not taken is offered
 * again. */
void conn_release(struct conn *c);
/* Writes what the socket takes now; arms EV_WRITE for the rest. */
void conn_flush(struct conn *c);
/* conn_flush() of each client of the list from c on that has output to flush (dirty). */
void conn_flush_dirty(struct conn *c);
/* Marks c for closing (the owner reaps it at a safe point). */
void conn_close(struct conn *c, const char *reason);
/* Ends c after a fatal error: nothing more is read or streamed, and it is closed once
 * its queued replies (the error among them) and held answers have left, or after a
 * grace period if the peer does not read them. */
void conn_end(struct conn *c, const char *reason);
/* Sets the watch from a parsed request (names resolved later by conn_resolve). 0,
 * -EINVAL for a name longer than any channel has, or -ENOMEM. */
int conn_watch(struct conn *c, const struct proto_request *req);
/* Stops streaming. */
void conn_unwatch(struct conn *c);
/* Recomputes chan_mask: slot_names[i] is the channel in slot i or NULL. */
void conn_resolve(struct conn *c, const char *const *slot_names, unsigned nslots);
/* True when the peer has hung up both directions (closed its socket or died). */
bool conn_peer_gone(const struct conn *c);
/* True when c holds request bytes not taken yet, read or still in the socket. */
bool conn_has_input(const struct conn *c);
/* Bytes waiting to be written, queued or referenced. */
static inline size_t conn_queued(const struct conn *c)
{
	return c->out_end - c->out_start + c->run_bytes;
}

/* conn_stream_ref() of the first line since the queue emptied, at low rates every
 * batch's, for a client that neither drops nor closes: what conn_stream_ref_slow() would
 * do, without its tests. Its segment is the only one, so the queue is len bytes (a queue
 * without segments holds no own bytes either: each of those is in one). */
static inline void conn_stream_ref_first(struct conn *c, struct fanout *fo, const char *line,
					 size_t len)
{
	struct fanout_chunk *k = fanout_current(fo);
	/* Only read from (sendmsg, memcpy): iovec has no const member. */
	c->iov[0] = (struct iovec){(void *)(uintptr_t)line, len};
	c->ck[0] = k;
	c->nsegs = 1;
	fanout_chunk_hold(k);
	c->run_end = line + len;
	c->run_iov = &c->iov[0];
	c->run_bytes = len;
	c->run_max = (uintptr_t)line + c->queue_limit; /* run_end + (limit - len queued) */
	c->delivered++;
	c->dirty = true;
}

/* The same as conn_stream() for a line of fo's current chunk: referenced, not copied,
 * until it is sent. Inline for the usual cases, every DATA frame for every client that
 * keeps up: the line directly follows the client's newest one in the same chunk, or it
 * is the first since the queue emptied. */
static inline void conn_stream_ref(struct conn *c, struct fanout *fo, const char *line, size_t len)
{
	if (line == c->run_end && (uintptr_t)line + len <= c->run_max) {
		c->run_iov->iov_len += len;
		c->run_end = line + len;
		c->run_bytes += len;
		c->delivered++;
		c->dirty = true;
		return;
	}
	uint16_t closing_dropping; /* both at once: side by side */
	memcpy(&closing_dropping, &c->closing, sizeof(closing_dropping));
	if (c->nsegs == 0 && !closing_dropping && len <= c->queue_limit) {
		conn_stream_ref_first(c, fo, line, len);
		return;
	}
	conn_stream_ref_slow(c, fo, line, len);
}

/* Recomputes frame_slots after watching, closing, classes, chan_mask or replay_mask
 * changed. */
static inline void conn_frame_update(struct conn *c)
{
	bool frames = c->watching && !c->closing && (c->classes & PROTO_C_FRAME);
	c->frame_slots = frames ? c->chan_mask & ~c->replay_mask : 0;
}

/* conn_wants() of a FRAME of slot and port, from frame_slots. */
static inline bool conn_takes_frame(const struct conn *c, unsigned slot, uint8_t port)
{
	return (c->frame_slots >> slot & 1) && (c->ports[port >> 6] >> (port & 63) & 1);
}

/* True if a streamed object of class cls from channel slot (and port for FRAME) goes to c. */
static inline bool conn_wants(const struct conn *c, unsigned slot, unsigned cls, int port)
{
	if (!c->watching || c->closing || !(c->classes & cls) || !(c->chan_mask >> slot & 1))
		return false;
	if (cls == PROTO_C_FRAME && (c->replay_mask >> slot & 1))
		return false; /* still replaying: the ring delivers it in order */
	return port < 0 || (c->ports[port >> 6] >> (port & 63) & 1);
}

#endif
