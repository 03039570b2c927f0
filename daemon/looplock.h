/* The loop lock: the daemon's state belongs to the thread that runs the event loop, which
 * holds this lock all the time except while it waits for events. A channel's reader
 * thread (rxthread) takes it to hand over what it read, so that a frame is handled the
 * moment read() returns, without a wake-up of the loop.
 *
 * libevent 2.1 has no hook around its wait, so the lock is let go in epoll_wait(): this
 * module defines it, and libevent, which calls it by name, gets this one. One loop per
 * process, so the lock is the process's. looplock_hold() says whether that worked (the
 * loop waits in epoll, and epoll_wait() here is the one libevent calls); when not, the
 * channels read from the loop. */
#ifndef M7B_LOOPLOCK_H
#define M7B_LOOPLOCK_H

#include <stdatomic.h>
#include <stdbool.h>

struct event_base;

/* Finds whether libevent's wait comes through here, and if so makes libevent safe to
 * call from the reader threads (its own locks, and a wake-up of the loop when a reader
 * adds an event). Before the loop's event_base_new(). True when readers can be used. */
bool looplock_setup(void);
/* The calling thread, about to run base, takes the lock for good. True when the reader
 * threads may be used (set up, and base waits in epoll); false: the lock is not taken. */
bool looplock_hold(struct event_base *base);
/* Lets the lock go at the end (after the last reader thread has stopped). */
void looplock_release(void);
/* Whether the lock is held by the loop (readers may be started). */
bool looplock_active(void);

/* A reader thread takes the lock; false, without it, once *stop is set (the loop wants
 * the thread gone and may itself be waiting for it with the lock held). */
bool looplock_enter(const atomic_bool *stop);
/* A reader thread gives the lock back. */
void looplock_leave(void);

#endif
