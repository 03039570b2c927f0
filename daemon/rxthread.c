/* A tty's reader thread: blocking read(), the loop lock, the owner's callbacks. */
#include "rxthread.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "looplock.h"
#include "rawsys.h"

/* A stop gives the thread this long, its read() interrupted every millisecond (a signal
 * sent just before read() began is not seen by it), before leaving it to end by itself. */
#define RXTHREAD_STOP_MS 2000

enum { RX_RUNNING, RX_ENDED, RX_ABANDONED };

struct rxthread {
	pthread_t thread;
	int fd;
	struct rxthread_ops ops; /* a copy: the call per read is one load, not two */
	void *ud;
	atomic_bool stop;
	bool self_stopped; /* stopped from inside a callback: the thread frees itself */
	atomic_int end;	   /* RX_*: who frees, when the owner gave up waiting */
	uint64_t read_ns;  /* CLOCK_MONOTONIC when the last read() returned */
	uint64_t dropped;  /* read, then not handed over: the stop came first */
	uint8_t buf[RXTHREAD_BUF];
};

static pthread_once_t sig_once = PTHREAD_ONCE_INIT;

/* The signal that interrupts a reader's read(): one of the real-time ones, which nothing
 * else in the daemon uses. */
static int stop_signal(void)
{
	return SIGRTMIN + 1;
}

static void on_stop_signal(int sig)
{
	(void)sig; /* only there to make read() return EINTR */
}

static void install_handler(void)
{
	/* No SA_RESTART: the read() must return. */
	struct sigaction sa = {.sa_handler = on_stop_signal};
	sigemptyset(&sa.sa_mask);
	(void)sigaction(stop_signal(), &sa, NULL);
}

static void free_thread(struct rxthread *t)
{
	if (t->fd >= 0)
		close(t->fd);
	free(t);
}

static void *rx_main(void *arg)
{
	struct rxthread *t = arg;
	/* Every signal stays the loop thread's, but the one that interrupts read(). */
	sigset_t s;
	sigfillset(&s);
	sigdelset(&s, stop_signal());
	pthread_sigmask(SIG_SETMASK, &s, NULL);
	for (;;) {
		ssize_t n = rawsys_read(t->fd, t->buf, sizeof(t->buf));
		int err = n < 0 ? errno : 0;
		/* The read's time is now, not once the lock is ours: a SYNC reply's receive
		 * time must not carry the wait. */
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		t->read_ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
		if (err == EINTR && !atomic_load(&t->stop))
			continue;
		/* A stop already set is seen under the lock, below: no look at it first. */
		if (!looplock_enter(&t->stop)) {
			t->dropped += n > 0 ? (uint64_t)n : 0;
			break;
		}
		if (atomic_load(&t->stop)) {
			looplock_leave();
			t->dropped += n > 0 ? (uint64_t)n : 0;
			break;
		}
		if (n > 0)
			t->ops.input(t->ud, t->buf, (size_t)n, t->read_ns);
		else
			t->ops.ended(t->ud, n == 0 ? -EPIPE : -err);
		bool self = t->self_stopped;
		looplock_leave();
		if (self) {
			free_thread(t); /* detached, its descriptor closed by the stop */
			return NULL;
		}
		if (n <= 0)
			break; /* the owner stops it */
	}
	/* The owner may have given up waiting: then the thread is its own. */
	if (atomic_exchange(&t->end, RX_ENDED) == RX_ABANDONED)
		free_thread(t);
	return NULL;
}

struct rxthread *rxthread_new(int fd, const struct rxthread_ops *ops, void *ud)
{
	struct rxthread *t = calloc(1, sizeof(*t));
	if (!t) {
		close(fd);
		return NULL;
	}
	t->fd = fd;
	t->ops = *ops;
	t->ud = ud;
	pthread_once(&sig_once, install_handler);
	/* Blocked from the start: a stop or reload signal must never land in this thread
	 * before it has set its own mask. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int r = pthread_create(&t->thread, NULL, rx_main, t);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0) {
		free_thread(t);
		errno = r;
		return NULL;
	}
	return t;
}

/* pending: where the bytes read and not handed over go (RXTHREAD_BUF), else counted. */
static struct rxthread *stop(struct rxthread *t, uint64_t *dropped, uint8_t *pending, size_t *n,
			     uint64_t *read_ns)
{
	*dropped = 0;
	if (n)
		*n = 0;
	if (!t)
		return NULL;
	atomic_store(&t->stop, true);
	if (pthread_equal(pthread_self(), t->thread)) {
		/* From a callback: not in read(), so the descriptor can go now (a reopen of
		 * the tty must find it closed); the thread frees itself once back. */
		close(t->fd);
		t->fd = -1;
		t->self_stopped = true;
		pthread_detach(t->thread);
		return NULL;
	}
	/* The thread is in read(), waiting for the lock this caller holds (it gives up
	 * within LOOPLOCK's retry), or done. */
	for (int i = 0; i < RXTHREAD_STOP_MS; i++) {
		(void)pthread_kill(t->thread, stop_signal());
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		if (pthread_timedjoin_np(t->thread, NULL, &ts) == 0) {
			/* One read's at most: the thread ends with the read it could not
			 * hand over. */
			if (pending && t->dropped) {
				memcpy(pending, t->buf, (size_t)t->dropped);
				*n = (size_t)t->dropped;
				*read_ns = t->read_ns;
			} else {
				*dropped = t->dropped;
			}
			free_thread(t);
			return NULL;
		}
	}
	/* A read() that no signal ends (a driver stuck in it): the thread ends by itself
	 * whenever it returns, and closes its descriptor then. */
	pthread_detach(t->thread);
	if (atomic_exchange(&t->end, RX_ABANDONED) == RX_ENDED)
		free_thread(t);
	return NULL;
}

struct rxthread *rxthread_stop(struct rxthread *t, uint64_t *dropped)
{
	return stop(t, dropped, NULL, NULL, NULL);
}

struct rxthread *rxthread_stop_pending(struct rxthread *t, uint8_t *buf, size_t *n,
				       uint64_t *read_ns, uint64_t *dropped)
{
	return stop(t, dropped, buf, n, read_ns);
}
