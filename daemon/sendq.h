/* Per-channel send queue: client send requests in arrival order, paced by the firmware's
 * credits, completed by its ACKs or a deadline. Pure logic: time is passed in. */
#ifndef M7B_SENDQ_H
#define M7B_SENDQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "m7bridge/wire.h"

struct sendq_entry {
	uint64_t cookie; /* the requester's, handed back unchanged when the entry ends */
	uint8_t port;
	uint16_t len;
	uint8_t data[M7B_PAYLOAD_MAX];
	bool inflight;	      /* written to the tty, waiting for its ACK */
	uint32_t seq;	      /* wire seq once in flight */
	uint64_t deadline_ms; /* queued: since push; in flight: since written */
	/* internal */
	bool done;
	uint8_t result, status;
};

/* How an entry ended. */
enum sendq_result {
	SENDQ_OK = 0,	 /* the firmware acknowledged it with status OK */
	SENDQ_REJECTED,	 /* the firmware answered with another status (see status) */
	SENDQ_ACK_LOST,	 /* a later frame was acknowledged but this one never was */
	SENDQ_TIMEOUT,	 /* deadline passed */
	SENDQ_DOWN,	 /* channel went down */
	SENDQ_RESTARTED, /* firmware restarted (new boot) while it was in flight */
};

struct sendq {
	struct sendq_entry *pool;
	struct sendq_entry **items; /* in arrival order */
	struct sendq_entry **free;  /* unused pool entries */
	unsigned cap, count, nfree;
	unsigned inflight; /* entries written and not yet finished */
	bool credits_known;
	int credits; /* frames the firmware can take now */
	bool acked_known;
	uint32_t last_acked; /* the latest acked_seq since the HELLO, when acked_known */
	unsigned timeout_ms;
};

/* Creates a queue of cap entries. NULL on ENOMEM. */
struct sendq *sendq_new(unsigned cap, unsigned timeout_ms);
/* Frees q; returns NULL. */
struct sendq *sendq_free(struct sendq *q);
/* Appends a request (copied; inflight/seq/deadline set here). 0 or -EBUSY when full. */
int sendq_push(struct sendq *q, const struct sendq_entry *e, uint64_t now_ms);
/* The next entry to write if it has credit, else NULL. */
struct sendq_entry *sendq_next(struct sendq *q);
/* Marks e (from sendq_next()) as written with wire seq; uses one credit. */
void sendq_sent(struct sendq *q, struct sendq_entry *e, uint32_t seq, uint64_t now_ms);
/* The firmware said who it is: credits = host_credits; entries in flight are lost. */
void sendq_hello(struct sendq *q, uint16_t host_credits);
/* Pops one finished entry into *out with its result: call in a loop until it returns
 * false. status is the firmware's ACK status for SENDQ_REJECTED. */
bool sendq_pop_done(struct sendq *q, uint64_t now_ms, struct sendq_entry *out,
		    enum sendq_result *res, uint8_t *status);
/* Feeds a firmware ACK for a SEND; the entries it completes come out of sendq_pop_done. */
void sendq_ack(struct sendq *q, const struct m7b_ack *ack);
/* Fails everything (channel down): entries come out of sendq_pop_done as SENDQ_DOWN. */
void sendq_fail_all(struct sendq *q);
/* Earliest deadline among the entries, or UINT64_MAX when empty. */
uint64_t sendq_next_deadline(const struct sendq *q);
/* Entries queued or in flight. */
unsigned sendq_length(const struct sendq *q);
/* Name of a result ("timeout"). */
const char *sendq_result_to_string(enum sendq_result r);

#endif
