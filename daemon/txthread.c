/* The writer thread of one open tty: the event loop queues, this thread blocks in write(). */
#include "txthread.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

struct txthread {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int fd;	 /* the thread's own dup: closing the channel's fd cannot race with write() */
	int efd; /* eventfd, thread -> loop; owned by the loop, -1 once stopping */
	atomic_bool stop;
	bool done; /* the thread has left its loop */
	int refs;  /* loop + thread; the last one frees */
	int err;
	uint64_t stalls, stall_ms, longest_ms;
	uint8_t buf[TXTHREAD_BUF];
	size_t len;
	/* Send-time marks: byte positions in the stream and when they were written. */
	uint64_t queued_total, written_total, pending_cookie;
	struct {
		uint64_t cookie, end, ns;
		bool done;
	} marks[TXTHREAD_MARKS];
	unsigned mark_next;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* w bytes went out by a write() that started at t0: marks inside them are stamped. */
static void note_written(struct txthread *t, size_t w, uint64_t t0)
{
	pthread_mutex_lock(&t->mu);
	t->written_total += w;
	for (unsigned i = 0; i < TXTHREAD_MARKS; i++)
		if (t->marks[i].cookie && !t->marks[i].done &&
		    t->marks[i].end <= t->written_total) {
			t->marks[i].ns = t0;
			t->marks[i].done = true;
		}
	pthread_mutex_unlock(&t->mu);
}

static void unref_locked_and_unlock(struct txthread *t)
{
	bool last = --t->refs == 0;
	pthread_mutex_unlock(&t->mu);
	if (last) {
		pthread_cond_destroy(&t->cv);
		pthread_mutex_destroy(&t->mu);
		free(t);
	}
}

/* Writes all of buf; the fd may be non-blocking (ptys honour that, ttyRPMSG does not). */
static int write_all(struct txthread *t, const uint8_t *buf, size_t n)
{
	while (n) {
		/* Taken right before write(): a SYNC's send time must not include the queue. */
		uint64_t t0 = mono_ns();
		ssize_t w = write(t->fd, buf, n);
		if (w > 0) {
			note_written(t, (size_t)w, t0);
			buf += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			if (atomic_load(&t->stop))
				return 0;
			struct pollfd pfd = {t->fd, POLLOUT, 0};
			(void)poll(&pfd, 1, 200);
			continue;
		}
		return w < 0 ? errno : EIO;
	}
	return 0;
}

static void *txthread_main(void *arg)
{
	struct txthread *t = arg;
	uint8_t local[TXTHREAD_BUF];
	pthread_mutex_lock(&t->mu);
	for (;;) {
		while (!atomic_load(&t->stop) && t->len == 0)
			pthread_cond_wait(&t->cv, &t->mu);
		if (atomic_load(&t->stop))
			break;
		size_t n = t->len;
		memcpy(local, t->buf, n);
		pthread_mutex_unlock(&t->mu);

		uint64_t t0 = mono_ms();
		int err = write_all(t, local, n);
		uint64_t took = mono_ms() - t0;

		pthread_mutex_lock(&t->mu);
		/* Only this thread removes bytes; the loop only appends behind them. */
		memmove(t->buf, t->buf + n, t->len - n);
		t->len -= n;
		if (took >= TXTHREAD_STALL_MS) {
			t->stalls++;
			t->stall_ms += took;
			if (took > t->longest_ms)
				t->longest_ms = took;
		}
		if (err)
			t->err = err;
		if (t->efd >= 0) {
			uint64_t one = 1;
			(void)!write(t->efd, &one, sizeof one);
		}
		if (err)
			break;
	}
	t->done = true;
	pthread_cond_broadcast(&t->cv);
	close(t->fd);
	unref_locked_and_unlock(t);
	return NULL;
}

struct txthread *txthread_new(int fd)
{
	struct txthread *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	t->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	t->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (t->fd < 0 || t->efd < 0)
		goto fail;
	pthread_mutex_init(&t->mu, NULL);
	pthread_cond_init(&t->cv, NULL);
	t->refs = 2;
	/* The writer takes no stop or reload signal: they stay the event loop's thread's,
	 * which must see a stop even while it waits for the privileged helper. */
	sigset_t sigs, old;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, &old);
	int r = pthread_create(&t->thread, NULL, txthread_main, t);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0) {
		pthread_cond_destroy(&t->cv);
		pthread_mutex_destroy(&t->mu);
		errno = r;
		goto fail;
	}
	return t;
fail:
	if (t->fd >= 0)
		close(t->fd);
	if (t->efd >= 0)
		close(t->efd);
	free(t);
	return NULL;
}

struct txthread *txthread_free(struct txthread *t, uint64_t *unwritten)
{
	if (unwritten)
		*unwritten = 0;
	if (!t)
		return NULL;
	pthread_mutex_lock(&t->mu);
	atomic_store(&t->stop, true);
	close(t->efd);
	t->efd = -1;
	pthread_cond_broadcast(&t->cv);
	/* A write() into a healthy tty returns at once; one stuck in the driver must not
	 * hold up the loop: then the thread finishes on its own and frees itself. */
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += 100 * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	while (!t->done)
		if (pthread_cond_timedwait(&t->cv, &t->mu, &ts) == ETIMEDOUT)
			break;
	bool done = t->done;
	/* Once stop is seen no new write() starts: what is not written by now is lost, save
	 * for the tail of a write() left stuck in the driver (counted lost all the same). */
	if (unwritten)
		*unwritten = t->queued_total - t->written_total;
	pthread_t th = t->thread;
	unref_locked_and_unlock(t);
	if (done)
		pthread_join(th, NULL);
	else
		pthread_detach(th);
	return NULL;
}

int txthread_queue(struct txthread *t, const void *buf, size_t n)
{
	pthread_mutex_lock(&t->mu);
	int r = 0;
	if (t->err)
		r = -t->err;
	else if (TXTHREAD_BUF - t->len < n)
		r = -ENOBUFS;
	else {
		memcpy(t->buf + t->len, buf, n);
		t->len += n;
		t->queued_total += n;
		if (t->pending_cookie) {
			unsigned i = t->mark_next++ % TXTHREAD_MARKS;
			t->marks[i].cookie = t->pending_cookie;
			t->marks[i].end = t->queued_total;
			t->marks[i].done = false;
		}
		pthread_cond_signal(&t->cv);
	}
	t->pending_cookie = 0;
	pthread_mutex_unlock(&t->mu);
	return r;
}

void txthread_mark_next(struct txthread *t, uint64_t cookie)
{
	pthread_mutex_lock(&t->mu);
	t->pending_cookie = cookie;
	pthread_mutex_unlock(&t->mu);
}

bool txthread_mark_time(struct txthread *t, uint64_t cookie, uint64_t *ns)
{
	bool found = false;
	pthread_mutex_lock(&t->mu);
	for (unsigned i = 0; i < TXTHREAD_MARKS && !found; i++)
		if (cookie && t->marks[i].cookie == cookie && t->marks[i].done) {
			*ns = t->marks[i].ns;
			found = true;
		}
	pthread_mutex_unlock(&t->mu);
	return found;
}

int txthread_fd(const struct txthread *t)
{
	return t->efd;
}

void txthread_collect(struct txthread *t, struct txthread_report *r)
{
	uint64_t v;
	(void)!read(t->efd, &v, sizeof v);
	pthread_mutex_lock(&t->mu);
	r->err = t->err;
	r->stalls = t->stalls;
	r->stall_ms = t->stall_ms;
	r->longest_ms = t->longest_ms;
	r->queued = t->len;
	pthread_mutex_unlock(&t->mu);
}
