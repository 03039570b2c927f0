/* rxthread and the loop lock: bytes handed over only while the loop waits and stamped
 * when read() returned, a stop from the loop ends a reader in read() or waiting for the
 * lock (its bytes counted), a stop from inside a callback, end of file, and stops racing
 * the thread's start. Pipes stand in for the tty; this test's thread runs the loop and
 * holds the lock. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "looplock.h"
#include "rxthread.h"

static struct event_base *base;

struct sink {
	char got[256];
	size_t len;
	unsigned calls;
	int ended;		    /* the error ended() was called with, 0 if not */
	bool in_loop;		    /* the callback ran while the loop waited (the lock was ours) */
	uint64_t rx_mono_ns;	    /* the time the reader gave the last bytes */
	struct rxthread *self_stop; /* stop this reader from its own callback */
	uint64_t self_dropped;
};

static atomic_bool loop_waiting; /* set around the loop's turn by the test */

static void on_input(void *ud, const uint8_t *buf, size_t n, uint64_t rx_mono_ns)
{
	struct sink *s = ud;
	s->rx_mono_ns = rx_mono_ns;
	assert_true(n <= sizeof(s->got) - s->len);
	memcpy(s->got + s->len, buf, n);
	s->len += n;
	s->calls++;
	s->in_loop = atomic_load(&loop_waiting);
	if (s->self_stop)
		s->self_stop = rxthread_stop(s->self_stop, &s->self_dropped);
}

static void on_ended(void *ud, int err)
{
	struct sink *s = ud;
	s->ended = err;
}

static const struct rxthread_ops ops = {.input = on_input, .ended = on_ended};

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

/* One turn of the loop that waits ms: the readers may take the lock meanwhile. */
static void loop_turn(int ms)
{
	struct event *ev = evtimer_new(base, on_timer, NULL);
	struct timeval tv = {0, ms * 1000};
	assert_non_null(ev);
	assert_int_equal(evtimer_add(ev, &tv), 0);
	atomic_store(&loop_waiting, true);
	assert_true(event_base_loop(base, EVLOOP_ONCE) >= 0);
	atomic_store(&loop_waiting, false);
	event_free(ev);
}

/* Turns of the loop until cond holds (at most 10 s). */
#define LOOP_UNTIL(cond)                                                                           \
	do {                                                                                       \
		for (int i_ = 0; i_ < 1000 && !(cond); i_++)                                       \
			loop_turn(10);                                                             \
		assert_true(cond);                                                                 \
	} while (0)

/* A reader on a new pipe's read end, handing to s; p[1] is the test's to write. */
static struct rxthread *start(struct sink *s, int p[2])
{
	*s = (struct sink){0};
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	struct rxthread *t = rxthread_new(p[0], &ops, s);
	assert_non_null(t);
	return t;
}

/* Whether the pipe's read end is closed: a write then fails with EPIPE. */
static bool reader_gone(int wfd)
{
	return write(wfd, "x", 1) < 0 && errno == EPIPE;
}

static int group_setup(void **state)
{
	(void)state;
	signal(SIGPIPE, SIG_IGN);
	if (!looplock_setup())
		return -1; /* libevent's wait does not come through the lock's */
	base = event_base_new();
	if (!base || !looplock_hold(base))
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	looplock_release();
	event_base_free(base);
	return 0;
}

/* Bytes read while the loop runs a callback wait for the lock: handed over only while the
 * loop waits. */
static void test_handover_while_loop_waits(void **state)
{
	(void)state;
	struct sink s;
	int p[2];
	struct rxthread *t = start(&s, p);
	assert_int_equal(write(p[1], "abc", 3), 3);
	/* The reader has the bytes (the pipe is empty) and waits for the lock we hold. */
	int left = 1;
	for (int i = 0; i < 1000 && left; i++) {
		assert_int_equal(ioctl(p[0], FIONREAD, &left), 0);
		usleep(1000);
	}
	assert_int_equal(left, 0);
	usleep(50000);
	assert_int_equal(s.calls, 0);
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t loop_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	LOOP_UNTIL(s.len == 3);
	assert_memory_equal(s.got, "abc", 3);
	assert_true(s.in_loop);
	/* Stamped when read() returned, before the loop let the lock go. */
	assert_true(s.rx_mono_ns != 0 && s.rx_mono_ns < loop_ns);
	uint64_t dropped = 1;
	t = rxthread_stop(t, &dropped);
	assert_null(t);
	assert_int_equal(dropped, 0);
	assert_true(reader_gone(p[1]));
	close(p[1]);
}

/* A stop while the reader blocks in read(): it returns, and the descriptor is closed. */
static void test_stop_in_read(void **state)
{
	(void)state;
	struct sink s;
	int p[2];
	struct rxthread *t = start(&s, p);
	loop_turn(20); /* the reader is in read() by now, most likely */
	uint64_t dropped = 1;
	rxthread_stop(t, &dropped);
	assert_int_equal(dropped, 0);
	assert_true(reader_gone(p[1]));
	assert_int_equal(s.calls, 0);
	close(p[1]);
}

/* A stop while the reader holds bytes and waits for the lock: it gives up, and what it
 * read is counted, never handed over. */
static void test_stop_waiting_for_lock_counts(void **state)
{
	(void)state;
	struct sink s;
	int p[2];
	struct rxthread *t = start(&s, p);
	assert_int_equal(write(p[1], "hello", 5), 5);
	usleep(50000); /* read, and waiting for the lock */
	uint64_t dropped = 0;
	rxthread_stop(t, &dropped);
	assert_int_equal(dropped, 5);
	assert_int_equal(s.calls, 0);
	assert_true(reader_gone(p[1]));
	close(p[1]);
}

/* A stop from inside the reader's own callback: the descriptor closes at once (a reopen
 * of the tty must find it closed) and the thread ends by itself. */
static void test_stop_from_callback(void **state)
{
	(void)state;
	struct sink s;
	int p[2];
	struct rxthread *t = start(&s, p);
	s.self_stop = t;
	assert_int_equal(write(p[1], "z", 1), 1);
	LOOP_UNTIL(s.calls == 1);
	assert_null(s.self_stop);
	assert_int_equal(s.self_dropped, 0);
	assert_true(reader_gone(p[1]));
	/* No more calls once stopped, whatever comes. */
	loop_turn(50);
	assert_int_equal(s.calls, 1);
	close(p[1]);
}

/* End of file: ended(-EPIPE) once, then the owner's stop returns at once. */
static void test_end_of_file(void **state)
{
	(void)state;
	struct sink s;
	int p[2];
	struct rxthread *t = start(&s, p);
	assert_int_equal(write(p[1], "ab", 2), 2);
	close(p[1]);
	LOOP_UNTIL(s.ended != 0);
	assert_int_equal(s.ended, -EPIPE);
	assert_int_equal(s.len, 2);
	uint64_t dropped = 1;
	rxthread_stop(t, &dropped);
	assert_int_equal(dropped, 0);
}

/* Stops right after starts, racing the thread on its way into read() (a signal sent
 * before read() began is not seen by it): every stop returns. */
static void test_stop_races_start(void **state)
{
	(void)state;
	for (int i = 0; i < 300; i++) {
		struct sink s;
		int p[2];
		struct rxthread *t = start(&s, p);
		if (i % 3 == 1)
			sched_yield();
		if (i % 3 == 2)
			assert_int_equal(write(p[1], "q", 1), 1);
		uint64_t dropped = 0;
		rxthread_stop(t, &dropped);
		assert_true(dropped <= 1);
		assert_true(reader_gone(p[1]));
		close(p[1]);
	}
}

/* The same stop, by a loop that drains the tty: the bytes come back, none counted. */
static void test_stop_pending_hands_back(void **state)
{
	(void)state;
	struct sink s;
	int p[2];
	struct rxthread *t = start(&s, p);
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t written_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	assert_int_equal(write(p[1], "hello", 5), 5);
	usleep(50000); /* read, and waiting for the lock */
	uint8_t buf[RXTHREAD_BUF];
	size_t n = 99;
	uint64_t dropped = 1, read_ns = 0;
	assert_null(rxthread_stop_pending(t, buf, &n, &read_ns, &dropped));
	assert_int_equal(n, 5);
	assert_true(read_ns >= written_ns); /* the read's own time comes back with it */
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(dropped, 0);
	assert_int_equal(s.calls, 0);
	assert_true(reader_gone(p[1]));
	close(p[1]);
}

/* A reader asked to stop while the loop holds the lock gets no lock. */
static void test_enter_gives_up_on_stop(void **state)
{
	(void)state;
	atomic_bool stop = true;
	assert_false(looplock_enter(&stop));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_handover_while_loop_waits),
		cmocka_unit_test(test_stop_in_read),
		cmocka_unit_test(test_stop_waiting_for_lock_counts),
		cmocka_unit_test(test_stop_from_callback),
		cmocka_unit_test(test_end_of_file),
		cmocka_unit_test(test_stop_races_start),
		cmocka_unit_test(test_stop_pending_hands_back),
		cmocka_unit_test(test_enter_gives_up_on_stop),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
