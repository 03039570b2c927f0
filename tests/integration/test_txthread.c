/* txthread: order of queued bytes, back-pressure, stalls, a writer stuck in write() does
 * not hold up txthread_free(), write errors reach the loop. Uses pipes as the "tty". */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "txthread.h"

static uint64_t ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void wait_report(struct txthread *t, struct txthread_report *r)
{
	struct pollfd p = {txthread_fd(t), POLLIN, 0};
	assert_int_equal(poll(&p, 1, 20000), 1);
	txthread_collect(t, r);
}

static void read_exact(int fd, void *buf, size_t n)
{
	uint8_t *b = buf;
	while (n) {
		ssize_t k = read(fd, b, n);
		assert_true(k > 0);
		b += k;
		n -= (size_t)k;
	}
}

static void test_order(void **state)
{
	(void)state;
	int p[2];
	assert_int_equal(pipe(p), 0);
	struct txthread *t = txthread_new(p[1]);
	assert_non_null(t);
	close(p[1]); /* the writer has its own dup */
	for (int i = 0; i < 100; i++) {
		char frame[8];
		snprintf(frame, sizeof frame, "<%03d>", i);
		assert_int_equal(txthread_queue(t, frame, 5), 0);
		char got[8] = {0};
		read_exact(p[0], got, 5);
		assert_memory_equal(got, frame, 5);
	}
	struct txthread_report r;
	wait_report(t, &r);
	assert_int_equal(r.err, 0);
	assert_null(txthread_free(t, NULL));
	close(p[0]);
}

static void test_backpressure_and_stall(void **state)
{
	(void)state;
	int p[2];
	assert_int_equal(pipe(p), 0);
	(void)fcntl(p[1], F_SETPIPE_SZ, 4096);
	struct txthread *t = txthread_new(p[1]);
	assert_non_null(t);
	close(p[1]);
	static uint8_t chunk[1024];
	size_t queued = 0;
	bool full = false;
	/* Nobody reads: the writer blocks, its buffer fills, queue says ENOBUFS. */
	uint64_t end = ms() + 20000;
	while (!full && ms() < end) {
		int r = txthread_queue(t, chunk, sizeof chunk);
		if (r == -ENOBUFS)
			full = true;
		else {
			assert_int_equal(r, 0);
			queued += sizeof chunk;
		}
	}
	assert_true(full);
	usleep(150 * 1000); /* the blocked write() now lasts longer than a stall */
	static uint8_t sink[1 << 16];
	size_t got = 0;
	while (got < queued) {
		ssize_t k = read(p[0], sink, sizeof sink);
		assert_true(k > 0);
		got += (size_t)k;
	}
	assert_int_equal(got, queued);
	struct txthread_report r = {0};
	end = ms() + 20000;
	while (r.stalls == 0 && ms() < end)
		wait_report(t, &r);
	assert_true(r.stalls >= 1);
	assert_true(r.longest_ms >= TXTHREAD_STALL_MS);
	assert_int_equal(r.err, 0);
	txthread_free(t, NULL);
	close(p[0]);
}

static void test_stuck_writer_does_not_block_free(void **state)
{
	(void)state;
	int p[2];
	assert_int_equal(pipe(p), 0);
	(void)fcntl(p[1], F_SETPIPE_SZ, 4096);
	struct txthread *t = txthread_new(p[1]);
	close(p[1]);
	static uint8_t chunk[4096];
	while (txthread_queue(t, chunk, sizeof chunk) == 0)
		;
	usleep(100 * 1000); /* let the writer enter the write() that cannot finish */
	uint64_t t0 = ms();
	txthread_free(t, NULL); /* the thread is inside write(): free must not wait for it */
	print_message("txthread_free took %llu ms with the writer stuck\n",
		      (unsigned long long)(ms() - t0));
	/* Let the stuck write() fail (EPIPE): the thread then frees itself. */
	close(p[0]);
	usleep(300 * 1000);
}

/* Bytes still queued when the writer stops are reported, exactly: what reached the
 * "tty" plus what free() says was not written is all that was queued. */
static void test_free_reports_unwritten(void **state)
{
	(void)state;
	int p[2];
	assert_int_equal(pipe(p), 0);
	(void)fcntl(p[1], F_SETPIPE_SZ, 4096);
	/* Non-blocking like a pty: the writer waits in poll(), not in write(). */
	assert_int_equal(fcntl(p[1], F_SETFL, O_NONBLOCK), 0);
	struct txthread *t = txthread_new(p[1]);
	assert_non_null(t);
	close(p[1]);
	static uint8_t chunk[1000];
	uint64_t queued = 0;
	while (txthread_queue(t, chunk, sizeof chunk) == 0)
		queued += sizeof chunk;
	usleep(100 * 1000); /* the writer fills the pipe and waits for room */
	uint64_t unwritten = 0;
	assert_null(txthread_free(t, &unwritten));
	assert_true(unwritten > 0);
	assert_int_equal(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
	uint64_t got = 0;
	ssize_t k;
	while ((k = read(p[0], chunk, sizeof chunk)) > 0)
		got += (uint64_t)k;
	assert_int_equal(got + unwritten, queued);
	close(p[0]);
}

static void test_write_error(void **state)
{
	(void)state;
	int p[2];
	assert_int_equal(pipe(p), 0);
	close(p[0]);
	struct txthread *t = txthread_new(p[1]);
	close(p[1]);
	assert_int_equal(txthread_queue(t, "x", 1), 0);
	struct txthread_report r;
	wait_report(t, &r);
	assert_int_equal(r.err, EPIPE);
	assert_int_equal(txthread_queue(t, "y", 1), -EPIPE);
	txthread_free(t, NULL);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_backpressure_and_stall),
		cmocka_unit_test(test_stuck_writer_does_not_block_free),
		cmocka_unit_test(test_free_reports_unwritten),
		cmocka_unit_test(test_write_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
