/* The loop lock, and the epoll_wait() that lets it go while the loop waits. */
#include "looplock.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>

#include <event2/event.h>
#include <event2/thread.h>

/* The process's: there is one event loop, and epoll_wait() below has no context. A binary
 * semaphore (1: free) rather than a mutex: its trywait and post cost a reader's read()
 * some 20 instructions, a mutex's trylock and unlock some 60. */
static sem_t lock;
static pthread_once_t lock_once = PTHREAD_ONCE_INIT;
static bool usable;			  /* set up, and the probe's wait came through here */
static atomic_bool active;		  /* held by a loop that waits in epoll: readers may run */
static atomic_bool loop_wants;		  /* the loop has events and waits for the lock */
static _Thread_local bool loop_thread;	  /* holds the lock save in epoll_wait() */
static _Thread_local unsigned long waits; /* epoll_wait() calls that came here */

/* How long a reader waits for the lock before it looks at its stop flag again: the loop
 * holds the lock while it waits for such a reader to go. */
#define LOOPLOCK_RETRY_NS 2000000

static void on_nothing(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

/* Whether libevent's epoll_wait() is this file's: one turn of a loop of its own, whose
 * wait must pass through here. */
static bool wait_is_ours(void)
{
	struct event_config *cfg = event_config_new();
	if (!cfg)
		return false;
	/* Only epoll: its wait is the one this file lets the lock go in. */
	(void)event_config_avoid_method(cfg, "select");
	(void)event_config_avoid_method(cfg, "poll");
	struct event_base *b = event_base_new_with_config(cfg);
	event_config_free(cfg);
	if (!b)
		return false;
	/* A loop with no event returns before it waits: a timer far off gives it one. */
	struct event *ev = evtimer_new(b, on_nothing, NULL);
	struct timeval hour = {3600, 0};
	unsigned long before = waits;
	bool ok = ev && evtimer_add(ev, &hour) == 0 &&
		  event_base_loop(b, EVLOOP_ONCE | EVLOOP_NONBLOCK) >= 0 && waits != before;
	if (ev)
		event_free(ev);
	event_base_free(b);
	return ok;
}

static void lock_init(void)
{
	(void)sem_init(&lock, 0, 1);
}

/* The loop's wait for the lock: no stop to heed, only signals that end the wait early. */
static void lock_take(void)
{
	while (sem_wait(&lock) != 0)
		;
}

bool looplock_setup(void)
{
	pthread_once(&lock_once, lock_init);
	/* libevent's own locks cost the loop a few hundred instructions a turn: only for
	 * readers that will run. */
	usable = wait_is_ours() && evthread_use_pthreads() == 0;
	return usable;
}

bool looplock_hold(struct event_base *base)
{
	if (!usable || strcmp(event_base_get_method(base), "epoll") != 0)
		return false;
	lock_take();
	loop_thread = true;
	atomic_store(&active, true);
	return true;
}

void looplock_release(void)
{
	if (!loop_thread)
		return;
	atomic_store(&active, false);
	loop_thread = false;
	(void)sem_post(&lock);
}

bool looplock_active(void)
{
	return atomic_load(&active);
}

/* The lock was not free at once: waits for it, looking at stop every LOOPLOCK_RETRY_NS. */
static __attribute__((noinline)) bool enter_slow(const atomic_bool *stop)
{
	/* The loop first: a reader with a steady stream of bytes would otherwise take the
	 * lock back after each read(), before the loop thread its unlock woke could run. */
	while (atomic_load_explicit(&loop_wants, memory_order_relaxed)) {
		if (atomic_load(stop))
			return false;
		sched_yield();
	}
	if (sem_trywait(&lock) == 0)
		return true;
	for (;;) {
		if (atomic_load(stop))
			return false;
		/* timedwait, not clockwait on MONOTONIC: thread checkers know the first. A
		 * step of the wall clock only makes this look at stop later; the loop's wait
		 * for the thread is bounded on its own. A signal (the reader's stop) ends the
		 * wait early: stop is looked at again. */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += LOOPLOCK_RETRY_NS;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		if (sem_timedwait(&lock, &ts) == 0)
			return true;
	}
}

bool looplock_enter(const atomic_bool *stop)
{
	/* The usual case, the loop not waiting and the lock free, without a stack frame. */
	if (!atomic_load_explicit(&loop_wants, memory_order_relaxed) && sem_trywait(&lock) == 0)
		return true;
	return enter_slow(stop);
}

void looplock_leave(void)
{
	(void)sem_post(&lock);
}

/* libevent's epoll backend waits here. Only the loop thread holds the lock, and only
 * libevent calls epoll_wait() in it (the daemon uses no other event library), so the
 * lock is let go exactly while the loop has nothing to do. */
__attribute__((visibility("default"))) int epoll_wait(int epfd, struct epoll_event *events,
						      int maxevents, int timeout)
{
	waits++;
	if (!loop_thread)
		return epoll_pwait(epfd, events, maxevents, timeout, NULL);
	(void)sem_post(&lock);
	int r = epoll_pwait(epfd, events, maxevents, timeout, NULL);
	int e = errno;
	atomic_store_explicit(&loop_wants, true, memory_order_relaxed);
	lock_take();
	atomic_store_explicit(&loop_wants, false, memory_order_relaxed);
	errno = e;
	return r;
}
