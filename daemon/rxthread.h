/* The reader thread of one open tty: it blocks in read() on its own open file description
 * of the tty and hands what it read to the owner under the loop lock (looplock.h). A
 * frame then costs its read() and the clients' writes: no wake-up of the event loop, no
 * epoll_wait() per frame. */
#ifndef M7B_RXTHREAD_H
#define M7B_RXTHREAD_H

#include <stddef.h>
#include <stdint.h>

#define RXTHREAD_BUF 4096 /* bytes per read(): a tty's line discipline holds no more */

struct rxthread;

/* Called with the loop lock held, in the reader thread. */
struct rxthread_ops {
	/* n bytes read at rx_mono_ns (CLOCK_MONOTONIC right after read() returned, before
	 * the wait for the lock); buf is the thread's, valid during the call. */
	void (*input)(void *ud, const uint8_t *buf, size_t n, uint64_t rx_mono_ns);
	/* read() ended: -EPIPE for end of file, or its negative errno. The thread reads no
	 * more; the owner stops it (rxthread_stop()), from here or later. */
	void (*ended)(void *ud, int err);
};

/* Starts a reader on fd, a blocking descriptor it takes over (closed by the thread's
 * end, or here on failure). NULL with errno set on failure. */
struct rxthread *rxthread_new(int fd, const struct rxthread_ops *ops, void *ud);
/* Stops the reader and closes its descriptor; by the loop lock's holder: the loop, or the
 * reader itself from inside a callback (then it ends after the callback). *dropped gets
 * the bytes it had read and not handed over. Returns NULL. */
struct rxthread *rxthread_stop(struct rxthread *t, uint64_t *dropped);
/* The same, by the loop, but the bytes it had read and not handed over go to buf
 * (RXTHREAD_BUF bytes), *n of them, read at *read_ns (set when *n is not 0), for the
 * caller to handle: a tty about to be let go is drained in order, the reader's last read
 * first. */
struct rxthread *rxthread_stop_pending(struct rxthread *t, uint8_t *buf, size_t *n,
				       uint64_t *read_ns, uint64_t *dropped);

#endif
