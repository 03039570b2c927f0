/* Where a watching client is, per channel: the last FRAME delivered and the firmware run
 * it belongs to, learnt from the objects delivered, so a new connection can resume there.
 * Pure: a function of the events it is given. */
#ifndef M7B_RESUME_H
#define M7B_RESUME_H

#include <stdbool.h>
#include <stdint.h>

#include "m7bridge/client.h"

#define RESUME_CHANNELS 16

struct resume_pos {
	char channel[64];
	bool has_boot; /* the channel's current run, from a HELLO on this connection */
	uint32_t boot;
	bool has_live; /* the seq of the last live FRAME since that HELLO */
	uint32_t live_seq;
	bool seen;	/* a FRAME of the channel was delivered */
	bool has_frame; /* the last one delivered, when the run it belongs to is sure */
	uint32_t frame_boot, frame_seq;
	int64_t conn_ms; /* when the connection that delivered it was first heard from */
};

struct resume {
	struct resume_pos pos[RESUME_CHANNELS];
	unsigned npos;
	int64_t conn_ms; /* when the current connection was first heard from (CLOCK_MONOTONIC ms) */
	bool untracked;	 /* a FRAME of a channel with no position (no room, name too long) */
	int64_t untracked_ms; /* conn_ms of the latest connection that delivered one */
};

/* Notes what a delivered object says about the positions. */
void resume_on_event(struct resume *r, const struct m7b_event *ev);
/* A new connection: what the last one said of current runs no longer holds (the daemon
 * says it again after the watch); the positions stay. */
void resume_on_connect(struct resume *r);
/* The first bytes of the connection came at heard_ms (CLOCK_MONOTONIC): its daemon had
 * started by then. */
void resume_on_heard(struct resume *r, int64_t heard_ms);
/* The one position a watch w can resume from: the watched channel's, or that of the only
 * channel whose frames were delivered; NULL when there is none or it is not sure. */
const struct resume_pos *resume_from(struct resume *r, const struct m7b_watch *w);
/* True if a FRAME of any channel was delivered; *conn_ms then says when the latest
 * connection that delivered one was first heard from. */
bool resume_seen(const struct resume *r, int64_t *conn_ms);
/* The last FRAME delivered on channel, when its run is sure: 0 or -ENOENT. */
int resume_position(const struct resume *r, const char *channel, uint32_t *boot_id, uint32_t *seq);

#endif
