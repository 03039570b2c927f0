/* The writer thread of one open tty. The NXP rpmsg tty driver ignores O_NONBLOCK on
 * write: rpmsg_send() waits up to 15 s for a free buffer and each failed kick holds the
 * sender ~100 ms, so with a hung M7 a write() from the event loop would freeze every
 * client. The loop only queues whole frames here; this thread does the write()s. */
#ifndef M7B_TXTHREAD_H
#define M7B_TXTHREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TXTHREAD_BUF	  8192 /* bytes queued at most (many frames) */
#define TXTHREAD_STALL_MS 50   /* a write() that takes longer counts as a stall */
#define TXTHREAD_MARKS	  8    /* marked writes remembered (SYNC send times) */

struct txthread;

/* What the thread did since the last collect. */
struct txthread_report {
	int err;	     /* errno of a failed write (the thread has stopped), or 0 */
	uint64_t stalls;     /* writes that took TXTHREAD_STALL_MS or more (total) */
	uint64_t stall_ms;   /* time spent in those writes (total) */
	uint64_t longest_ms; /* the longest single write (total so far) */
	size_t queued;	     /* bytes still waiting */
};

/* Starts a writer on its own duplicate of fd. NULL with errno set on failure. */
struct txthread *txthread_new(int fd);
/* Stops the writer: waits briefly for it, else leaves it to finish its write() and free
 * itself. Pending bytes are dropped: *unwritten (if not NULL) gets how many bytes queued
 * were not known written (0 for t NULL). Returns NULL. */
struct txthread *txthread_free(struct txthread *t, uint64_t *unwritten);
/* Queues n bytes to be written after everything queued before, never split by other
 * bytes. 0, -ENOBUFS (no room now), or -errno of an earlier failed write. */
int txthread_queue(struct txthread *t, const void *buf, size_t n);
/* The bytes queued by the next txthread_queue() carry this cookie (not 0): the thread
 * notes CLOCK_MONOTONIC right before the write() that sends their last byte. */
void txthread_mark_next(struct txthread *t, uint64_t cookie);
/* When the marked bytes went out (CLOCK_MONOTONIC ns); false if not (yet) known. */
bool txthread_mark_time(struct txthread *t, uint64_t cookie, uint64_t *ns);
/* An fd that becomes readable when the thread made progress or failed. */
int txthread_fd(const struct txthread *t);
/* Clears the fd's readiness and reports. */
void txthread_collect(struct txthread *t, struct txthread_report *r);

#endif
