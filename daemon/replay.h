/* Replay after reconnect: a ring of recent FRAMEs per channel, and watch requests that
 * start from a position, replayed in chunks as the client drains, then handed to live. */
#ifndef M7B_REPLAY_H
#define M7B_REPLAY_H

#include <stdint.h>

#include "conf.h"
#include "replayring.h"

struct channel;
struct conn;
struct daemon;
struct proto_frame;
struct proto_request;
struct replay;

/* Per-client replay cursors, owned by the conn (freed with it). */
struct replay_conn;

/* Attaches replay to d as an observer of its channels. 0, -ENOMEM or -ENOSPC (no
 * observer slot). */
int replay_new(struct daemon *d, struct replay **out);
/* Detaches and frees rp; returns NULL. */
struct replay *replay_free(struct replay *rp);
/* What replay_record() reads for nearly every frame: the first member of struct replay,
 * so that the frame's path needs no call (the rest is private to replay.c). */
struct replay_fast {
	struct replayring *ring[CONF_MAX_CHANNELS];
	/* Frames received before it go straight into the ring: it has one, it is not unsure,
	 * nobody replays it, nothing is too old. 0 (none) when any of that may have changed;
	 * set anew by replay_record_more(). */
	uint64_t until[CONF_MAX_CHANNELS];
	uint32_t boot[CONF_MAX_CHANNELS]; /* boot id of the last HELLO, 0 before one */
};

/* replay_record() of a frame that may not go straight into the ring. */
void replay_record_more(struct replay *rp, struct channel *ch, unsigned slot,
			const struct proto_frame *f, const uint8_t *bytes, uint64_t rx_ns);

/* Keeps a published DATA frame of ch in slot (f as rendered live, mapped times included)
 * in the channel's ring, received at rx_ns (CLOCK_REALTIME); clients replaying the
 * channel get it in order. Only frames of d->replay_slots need to come here. */
static inline void replay_record(struct replay *rp, struct channel *ch, unsigned slot,
				 const struct proto_frame *f, const uint8_t *bytes, uint64_t rx_ns)
{
	const struct replay_fast *q = (const struct replay_fast *)(const void *)rp;
	if (rx_ns < q->until[slot])
		(void)replayring_put(q->ring[slot], f, q->boot[slot], rx_ns, bytes);
	else
		replay_record_more(rp, ch, slot, f, bytes, rx_ns);
}
/* A HELLO on slot: the boot its next DATA frames belong to. */
void replay_boot(struct replay *rp, unsigned slot, uint32_t boot_id);
/* A watch was accepted (and acknowledged): starts its replay, if it asked for one. */
void replay_watch(struct replay *rp, struct conn *c, const struct proto_request *req);
/* conn callback (ud is the daemon): c's queue drained, queue the next chunk. */
void replay_on_drain(void *ud, struct conn *c);

#endif
