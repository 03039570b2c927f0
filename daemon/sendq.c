/* Per-channel send queue paced by firmware credits. Pure logic, time passed in. */
#include "sendq.h"
#include "macro.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct sendq *sendq_new(unsigned cap, unsigned timeout_ms)
{
	if (cap == 0)
		return NULL;
	struct sendq *q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	q->pool = calloc(cap, sizeof(*q->pool));
	q->items = calloc(cap, sizeof(*q->items));
	q->free = calloc(cap, sizeof(*q->free));
	if (!q->pool || !q->items || !q->free)
		return sendq_free(q);
	q->cap = cap;
	for (unsigned i = 0; i < cap; i++)
		q->free[i] = &q->pool[cap - 1 - i];
	q->nfree = cap;
	q->timeout_ms = timeout_ms;
	return q;
}

struct sendq *sendq_free(struct sendq *q)
{
	if (!q)
		return NULL;
	free(q->pool);
	free(q->items);
	free(q->free);
	free(q);
	return NULL;
}

int sendq_push(struct sendq *q, const struct sendq_entry *e, uint64_t now_ms)
{
	if (q->count >= q->cap || q->nfree == 0)
		return -EBUSY;
	struct sendq_entry *n = q->free[--q->nfree];
	*n = *e;
	n->inflight = false;
	n->done = false;
	n->seq = 0;
	n->deadline_ms = now_ms + q->timeout_ms;
	q->items[q->count++] = n;
	return 0;
}

struct sendq_entry *sendq_next(struct sendq *q)
{
	if (!q->credits_known || q->credits <= 0)
		return NULL;
	for (unsigned i = 0; i < q->count; i++) {
		struct sendq_entry *e = q->items[i];
		if (!e->inflight && !e->done)
			return e;
	}
	return NULL;
}

void sendq_sent(struct sendq *q, struct sendq_entry *e, uint32_t seq, uint64_t now_ms)
{
	e->inflight = true;
	e->seq = seq;
	e->deadline_ms = now_ms + q->timeout_ms;
	q->inflight++;
	if (q->credits > 0)
		q->credits--;
}

void sendq_hello(struct sendq *q, uint16_t host_credits)
{
	/* A HELLO restarts the firmware's view of the link: whatever was in flight will
	 * never be acknowledged. */
	for (unsigned i = 0; i < q->count; i++) {
		struct sendq_entry *e = q->items[i];
		if (e->inflight && !e->done) {
			e->done = true;
			e->result = SENDQ_RESTARTED;
		}
	}
	q->credits_known = true;
	q->credits = host_credits;
	q->acked_known = false;
}

void sendq_ack(struct sendq *q, const struct m7b_ack *ack)
{
	unsigned at = q->count;
	for (unsigned i = 0; i < q->count; i++) {
		struct sendq_entry *e = q->items[i];
		if (e->inflight && !e->done && e->seq == ack->acked_seq) {
			at = i;
			break;
		}
	}
	/* The credit rule goes by the ACK with the latest acked_seq. */
	bool latest = !q->acked_known || (int32_t)(ack->acked_seq - q->last_acked) > 0;
	if (latest) {
		q->acked_known = true;
		q->last_acked = ack->acked_seq;
	}
	if (at == q->count && !latest)
		return; /* stale: says nothing new */
	if (at == q->count) {
		/* Its entry is gone (it timed out first), yet its credit counts: ignored,
		 * the credit of the frames that timed out would never come back, and with
		 * none left nothing is written again to bring an ACK. Open frames sent
		 * after it (seq order, mod 2^32) count against it. Those sent before it
		 * keep waiting for their own ACK or deadline. */
		int after = 0;
		for (unsigned i = 0; i < q->count; i++) {
			const struct sendq_entry *e = q->items[i];
			if (e->inflight && !e->done && (int32_t)(e->seq - ack->acked_seq) > 0)
				after++;
		}
		q->credits_known = true;
		q->credits = (int)ack->credits - after;
		return;
	}
	/* The firmware handles host frames in order: those written before this one and
	 * still open lost their ACK. */
	int after = 0;
	for (unsigned i = 0; i < q->count; i++) {
		struct sendq_entry *e = q->items[i];
		if (!e->inflight || e->done)
			continue;
		if (i < at) {
			e->done = true;
			e->result = SENDQ_ACK_LOST;
		} else if (i > at) {
			after++;
		}
	}
	struct sendq_entry *e = q->items[at];
	e->done = true;
	e->status = ack->status;
	e->result = ack->status == M7B_ACK_OK ? SENDQ_OK : SENDQ_REJECTED;
	/* "credits = host frames the M7 can take after this one; frames the host sent
	 * after acked_seq are still in flight and count against it." */
	q->credits_known = true;
	q->credits = (int)ack->credits - after;
}

void sendq_fail_all(struct sendq *q)
{
	for (unsigned i = 0; i < q->count; i++) {
		struct sendq_entry *e = q->items[i];
		if (!e->done) {
			e->done = true;
			e->result = SENDQ_DOWN;
		}
	}
	q->credits_known = false;
	q->credits = 0;
	q->acked_known = false;
}

bool sendq_pop_done(struct sendq *q, uint64_t now_ms, struct sendq_entry *out,
		    enum sendq_result *res, uint8_t *status)
{
	for (unsigned i = 0; i < q->count; i++) {
		struct sendq_entry *e = q->items[i];
		if (!e->done && e->deadline_ms > now_ms)
			continue;
		if (!e->done) {
			e->done = true;
			e->result = SENDQ_TIMEOUT;
		}
		*out = *e;
		*res = (enum sendq_result)e->result;
		*status = e->status;
		if (e->inflight)
			q->inflight--;
		memmove(&q->items[i], &q->items[i + 1], (q->count - i - 1) * sizeof(*q->items));
		q->count--;
		q->free[q->nfree++] = e;
		return true;
	}
	return false;
}

uint64_t sendq_next_deadline(const struct sendq *q)
{
	uint64_t d = UINT64_MAX;
	for (unsigned i = 0; i < q->count; i++)
		if (q->items[i]->deadline_ms < d)
			d = q->items[i]->deadline_ms;
	return d;
}

unsigned sendq_length(const struct sendq *q)
{
	return q->count;
}

static const char *const sendq_result_names[] = {
	[SENDQ_OK] = "ok",	     [SENDQ_REJECTED] = "rejected", [SENDQ_ACK_LOST] = "ack_lost",
	[SENDQ_TIMEOUT] = "timeout", [SENDQ_DOWN] = "down",	    [SENDQ_RESTARTED] = "restarted",
};
DEFINE_STRING_TABLE_LOOKUP(sendq_result, enum sendq_result, sendq_result_names)
