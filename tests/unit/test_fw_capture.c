/* Tests of the firmware capture ring (firmware/core/fw_capture.c): segmentation by idle
 * gap, delimiter and maximum length, error flags, whole-capture drops, SPSC safety. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fw.h"
#include "fw_capture.h"
#include "m7bridge/wire.h"

static struct fw_capture cap;

/* Copies the oldest part's bytes out (joining the two pieces of a wrapped part). */
static size_t part_bytes(struct fw_capture *c, const struct fw_capture_desc *d, uint8_t *out)
{
	const uint8_t *p1, *p2;
	uint16_t n1, n2;

	fw_capture_bytes(c, d, &p1, &n1, &p2, &n2);
	memcpy(out, p1, n1);
	if (n2)
		memcpy(out + n1, p2, n2);
	return (size_t)n1 + n2;
}

static void feed(struct fw_capture *c, const char *s, uint64_t t0, uint64_t step)
{
	for (size_t i = 0; s[i]; i++)
		fw_capture_rx(c, (uint8_t)s[i], 0, t0 + i * step);
}

static void test_idle_gap_closes_without_next_byte(void **state)
{
	const struct fw_capture_desc *d;
	uint8_t buf[16];

	fw_capture_init(&cap, 400, -1, 462);
	fw_capture_rx(&cap, 'a', 0, 100);
	fw_capture_rx(&cap, 'b', 0, 187);
	fw_capture_rx(&cap, 'c', 0, 274);
	assert_null(fw_capture_peek(&cap));
	assert_int_equal(fw_capture_deadline(&cap), 674);
	assert_false(fw_capture_idle(&cap, 673)); /* 399 ticks of silence: still open */
	assert_null(fw_capture_peek(&cap));
	assert_true(fw_capture_idle(&cap, 674));
	d = fw_capture_peek(&cap);
	assert_non_null(d);
	assert_int_equal(d->t_first, 100);
	assert_int_equal(d->t_last, 274);
	assert_int_equal(d->len, 3);
	assert_int_equal(d->flags, 0);
	assert_int_equal(part_bytes(&cap, d, buf), 3);
	assert_memory_equal(buf, "abc", 3);
	fw_capture_release(&cap);
	assert_null(fw_capture_peek(&cap));
	assert_int_equal(fw_capture_deadline(&cap), UINT64_MAX);
	assert_false(fw_capture_idle(&cap, 100000));
}

/* The tick counter wraps modulo 2^64: a gap that spans the wrap is measured like any
 * other, by the next byte and by the idle check, and timestamps keep their raw values. */
static void test_idle_gap_across_tick_wrap(void **state)
{
	const uint64_t t = UINT64_MAX - 99; /* 100 ticks before the wrap */
	const struct fw_capture_desc *d;

	fw_capture_init(&cap, 400, -1, 462);
	fw_capture_rx(&cap, 'a', 0, t);
	fw_capture_rx(&cap, 'b', 0, t + 399); /* 299 after the wrap: same capture */
	assert_false(fw_capture_idle(&cap, t + 399 + 399));
	assert_null(fw_capture_peek(&cap));
	assert_true(fw_capture_idle(&cap, t + 399 + 400));
	d = fw_capture_peek(&cap);
	assert_non_null(d);
	assert_int_equal(d->t_first, t);
	assert_int_equal(d->t_last, 299);
	assert_int_equal(d->len, 2);
	fw_capture_release(&cap);

	fw_capture_rx(&cap, 'c', 0, UINT64_MAX - 10);
	fw_capture_rx(&cap, 'd', 0, 389); /* exactly the gap, across the wrap: a new capture */
	d = fw_capture_peek(&cap);
	assert_non_null(d);
	assert_int_equal(d->t_first, UINT64_MAX - 10);
	assert_int_equal(d->t_last, UINT64_MAX - 10);
	assert_int_equal(d->len, 1);
	fw_capture_release(&cap);
	assert_null(fw_capture_peek(&cap));
	assert_true(fw_capture_idle(&cap, 389 + 400));
	d = fw_capture_peek(&cap);
	assert_non_null(d);
	assert_int_equal(d->t_first, 389);
	assert_int_equal(d->len, 1);
}

static void test_idle_gap_closes_on_next_byte(void **state)
{
	const struct fw_capture_desc *d;

	fw_capture_init(&cap, 400, -1, 462);
	fw_capture_rx(&cap, 'a', 0, 1000);
	fw_capture_rx(&cap, 'b', 0, 1399); /* 399 later: same capture */
	fw_capture_rx(&cap, 'c', 0, 1799); /* exactly the gap: a new capture */
	d = fw_capture_peek(&cap);
	assert_non_null(d);
	assert_int_equal(d->t_first, 1000);
	assert_int_equal(d->t_last, 1399);
	assert_int_equal(d->len, 2);
	fw_capture_release(&cap);
	assert_null(fw_capture_peek(&cap));
	assert_true(fw_capture_idle(&cap, 2199));
	d = fw_capture_peek(&cap);
	assert_int_equal(d->t_first, 1799);
	assert_int_equal(d->t_last, 1799);
	assert_int_equal(d->len, 1);
}

static void test_idle_gap_zero_never_closes(void **state)
{
	fw_capture_init(&cap, 0, -1, 462);
	fw_capture_rx(&cap, 'a', 0, 1);
	fw_capture_rx(&cap, 'b', 0, 1000000000ull);
	assert_false(fw_capture_idle(&cap, UINT64_MAX / 2));
	assert_null(fw_capture_peek(&cap));
	assert_int_equal(fw_capture_deadline(&cap), UINT64_MAX);
}

static void test_delimiter_ends_capture(void **state)
{
	const struct fw_capture_desc *d;
	uint8_t buf[16];

	fw_capture_init(&cap, 0, '\n', 462);
	feed(&cap, "ab\ncd", 10, 5);
	d = fw_capture_peek(&cap);
	assert_non_null(d);
	assert_int_equal(d->t_first, 10);
	assert_int_equal(d->t_last, 20);
	assert_int_equal(part_bytes(&cap, d, buf), 3);
	assert_memory_equal(buf, "ab\n", 3);
	fw_capture_release(&cap);
	assert_null(fw_capture_peek(&cap)); /* "cd" still open */
	fw_capture_rx(&cap, '\n', 0, 40);
	d = fw_capture_peek(&cap);
	assert_non_null(d);
	assert_int_equal(d->t_first, 25);
	assert_int_equal(d->t_last, 40);
	assert_int_equal(part_bytes(&cap, d, buf), 3);
	assert_memory_equal(buf, "cd\n", 3);
}

static void test_delimiter_zero_byte(void **state)
{
	const struct fw_capture_desc *d;

	fw_capture_init(&cap, 0, 0, 462);
	fw_capture_rx(&cap, 0, 0, 5);
	d = fw_capture_peek(&cap);
	assert_non_null(d);
	assert_int_equal(d->len, 1);
	assert_int_equal(d->t_first, 5);
}

static void test_max_length_split_continued(void **state)
{
	const struct fw_capture_desc *d;
	uint8_t buf[16];
	const char *s = "0123456789";

	fw_capture_init(&cap, 100, -1, 4);
	feed(&cap, s, 1000, 10); /* ticks 1000..1090 */
	assert_true(fw_capture_idle(&cap, 1190));
	for (int part = 0; part < 3; part++) {
		d = fw_capture_peek(&cap);
		assert_non_null(d);
		assert_int_equal(d->t_first, 1000); /* every part keeps the capture's first tick */
		assert_int_equal(d->len, part < 2 ? 4 : 2);
		assert_int_equal(d->t_last, 1000 + 10 * (part * 4 + d->len - 1));
		assert_int_equal(d->flags, part < 2 ? M7B_DATA_CONTINUED : 0);
		assert_int_equal(part_bytes(&cap, d, buf), d->len);
		assert_memory_equal(buf, s + part * 4, d->len);
		fw_capture_release(&cap);
	}
	assert_null(fw_capture_peek(&cap));
}

static void test_exact_max_length_not_continued(void **state)
{
	const struct fw_capture_desc *d;

	fw_capture_init(&cap, 100, -1, 4);
	feed(&cap, "abcd", 0, 10);
	assert_null(fw_capture_peek(&cap));
	assert_true(fw_capture_idle(&cap, 130));
	d = fw_capture_peek(&cap);
	assert_int_equal(d->len, 4);
	assert_int_equal(d->flags, 0);
	fw_capture_release(&cap);
	assert_null(fw_capture_peek(&cap));
}

static void test_error_flags(void **state)
{
	const struct fw_capture_desc *d;

	fw_capture_init(&cap, 100, -1, 462);
	fw_capture_rx(&cap, 'a', 0, 0);
	fw_capture_rx(&cap, 'b', FW_RX_OVERRUN, 10);
	fw_capture_rx(&cap, 'c', 0, 20);
	fw_capture_rx(&cap, 'd', 0, 200); /* new capture, clean */
	fw_capture_rx(&cap, 'e', FW_RX_LINE_ERROR, 210);
	fw_capture_rx(&cap, 'f', 0, 400);
	fw_capture_idle(&cap, 1000);

	d = fw_capture_peek(&cap);
	assert_int_equal(d->len, 3);
	assert_int_equal(d->flags, M7B_DATA_OVERRUN);
	fw_capture_release(&cap);
	d = fw_capture_peek(&cap);
	assert_int_equal(d->len, 2);
	assert_int_equal(d->flags, M7B_DATA_LINE_ERROR);
	fw_capture_release(&cap);
	d = fw_capture_peek(&cap);
	assert_int_equal(d->len, 1);
	assert_int_equal(d->flags, 0);
	assert_int_equal(cap.stats.overruns, 1);
	assert_int_equal(cap.stats.line_errors, 1);
	assert_int_equal(cap.stats.rx_bytes, 6);
}

static void test_overrun_on_first_byte_flags_new_capture(void **state)
{
	const struct fw_capture_desc *d;

	fw_capture_init(&cap, 100, -1, 462);
	fw_capture_rx(&cap, 'a', 0, 0);
	fw_capture_rx(&cap, 'b', FW_RX_OVERRUN, 500);
	fw_capture_idle(&cap, 1000);
	d = fw_capture_peek(&cap);
	assert_int_equal(d->flags, 0);
	fw_capture_release(&cap);
	d = fw_capture_peek(&cap);
	assert_int_equal(d->flags, M7B_DATA_OVERRUN);
}

/* Captures of `len` bytes with value (k + i), one every 1000 ticks, idle gap 100. */
static void feed_capture(struct fw_capture *c, uint64_t k, unsigned len)
{
	for (unsigned i = 0; i < len; i++)
		fw_capture_rx(c, (uint8_t)(k + i), 0, k * 1000u + i);
	fw_capture_idle(c, k * 1000u + len + 200u);
}

static void check_capture(struct fw_capture *c, uint64_t k, unsigned len)
{
	const struct fw_capture_desc *d = fw_capture_peek(c);
	uint8_t buf[FW_RX_RING_SIZE];

	assert_non_null(d);
	assert_int_equal(d->t_first, k * 1000u);
	assert_int_equal(d->len, len);
	assert_int_equal(part_bytes(c, d, buf), len);
	for (unsigned i = 0; i < len; i++)
		assert_int_equal(buf[i], (uint8_t)(k + i));
	fw_capture_release(c);
}

static void test_ring_full_drops_whole_capture(void **state)
{
	const unsigned len = 400;
	const unsigned fit = FW_RX_RING_SIZE / len;
	uint64_t k;

	fw_capture_init(&cap, 100, -1, 462);
	for (k = 0; k < fit; k++)
		feed_capture(&cap, k, len);
	assert_int_equal(cap.stats.dropped, 0);
	feed_capture(&cap, k, len); /* does not fit: dropped whole */
	assert_int_equal(cap.stats.dropped, 1);
	for (uint64_t j = 0; j < fit; j++)
		check_capture(&cap, j, len); /* the earlier ones are intact */
	assert_null(fw_capture_peek(&cap));
	/* Room again: the next capture goes through and wraps around the ring's end. */
	feed_capture(&cap, k + 1, len);
	check_capture(&cap, k + 1, len);
	assert_int_equal(cap.stats.dropped, 1);
}

static void test_queue_full_drops_whole_capture(void **state)
{
	uint64_t k;

	fw_capture_init(&cap, 100, -1, 462);
	for (k = 0; k < FW_CAPTURE_QUEUE; k++)
		feed_capture(&cap, k, 3);
	assert_int_equal(cap.stats.dropped, 0);
	feed_capture(&cap, k, 3);
	assert_int_equal(cap.stats.dropped, 1);
	check_capture(&cap, 0, 3);
	feed_capture(&cap, k + 1, 3);
	assert_int_equal(cap.stats.dropped, 1);
	for (uint64_t j = 1; j < FW_CAPTURE_QUEUE; j++)
		check_capture(&cap, j, 3);
	check_capture(&cap, k + 1, 3);
	assert_null(fw_capture_peek(&cap));
}

static void test_wrapped_part_two_pieces(void **state)
{
	const struct fw_capture_desc *d;
	const uint8_t *p1, *p2;
	uint16_t n1, n2;
	uint64_t k;

	fw_capture_init(&cap, 100, -1, 462);
	/* Advance the ring so the next capture straddles its end. */
	for (k = 0; k < 5; k++) {
		feed_capture(&cap, k, 400);
		check_capture(&cap, k, 400);
	}
	feed_capture(&cap, k, 100); /* bytes 2000..2099 of a 2048-byte ring */
	d = fw_capture_peek(&cap);
	fw_capture_bytes(&cap, d, &p1, &n1, &p2, &n2);
	assert_int_equal(n1, FW_RX_RING_SIZE - 2000);
	assert_int_equal(n2, 100 - n1);
	assert_non_null(p2);
	check_capture(&cap, k, 100);
}

static void test_continued_part_then_drop(void **state)
{
	const struct fw_capture_desc *d;
	unsigned k;

	/* Fill the queue so that the split of a long capture cannot publish its second
	 * part: that part (bytes 8..16) and the last one (17..19) are dropped, each counted. */
	fw_capture_init(&cap, 100, -1, 8);
	for (k = 0; k < FW_CAPTURE_QUEUE - 1u; k++)
		feed_capture(&cap, k, 2);
	for (unsigned i = 0; i < 20; i++)
		fw_capture_rx(&cap, (uint8_t)i, 0, 1000000u + i);
	fw_capture_idle(&cap, 2000000u);
	assert_int_equal(cap.stats.dropped, 2);
	for (k = 0; k < FW_CAPTURE_QUEUE - 1u; k++)
		check_capture(&cap, k, 2);
	d = fw_capture_peek(&cap);
	assert_non_null(d);
	assert_int_equal(d->len, 8);
	assert_int_equal(d->flags, M7B_DATA_CONTINUED);
	fw_capture_release(&cap);
	assert_null(fw_capture_peek(&cap));
}

/* An endless stream (no idle gap, no delimiter) overflows the ring while nobody reads;
 * once the consumer catches up, later parts flow again, flagged OVERRUN, same t_first. */
static void test_endless_stream_recovers(void **state)
{
	const struct fw_capture_desc *d;
	uint64_t t = 0;
	unsigned parts = 0;

	fw_capture_init(&cap, 100, -1, 100);
	for (unsigned i = 0; i < 5000; i++)
		fw_capture_rx(&cap, (uint8_t)i, 0, t++);
	assert_true(cap.stats.dropped > 0);
	/* What was published is intact; the first part has no OVERRUN. */
	while ((d = fw_capture_peek(&cap)) != NULL) {
		assert_int_equal(d->t_first, 0);
		assert_int_equal(d->len, 100);
		assert_int_equal(d->flags, M7B_DATA_CONTINUED);
		fw_capture_release(&cap);
		parts++;
	}
	assert_true(parts >= FW_RX_RING_SIZE / 100 - 1);
	for (unsigned i = 0; i < 250; i++)
		fw_capture_rx(&cap, (uint8_t)i, 0, t++);
	d = fw_capture_peek(&cap);
	assert_non_null(d);
	assert_int_equal(d->t_first, 0);
	assert_int_equal(d->len, 100);
	assert_int_equal(d->flags, M7B_DATA_OVERRUN | M7B_DATA_CONTINUED);
	fw_capture_release(&cap);
	d = fw_capture_peek(&cap);
	assert_non_null(d);
	assert_int_equal(d->flags, M7B_DATA_CONTINUED);
	/* Losses in the ring flag the next part OVERRUN but count as dropped parts, not as
	 * UART overruns (docs/PROTOCOL.md, HEARTBEAT). */
	assert_int_equal(cap.stats.overruns, 0);
}

/* SPSC stress: a producer thread plays the interrupt, the main thread the consumer.
 * Every capture either arrives intact or is counted as dropped. */
#define STRESS_CAPTURES 20000u
static volatile int stress_done;

static void *producer(void *arg)
{
	struct fw_capture *c = arg;

	for (uint64_t k = 0; k < STRESS_CAPTURES; k++) {
		unsigned len = 1u + (unsigned)(k * 7919u % 300u);
		for (unsigned i = 0; i < len; i++)
			fw_capture_rx(c, (uint8_t)(k + i), 0, k * 1000u + i);
		/* The capture is closed by the next one's first byte (gap >= 100). */
	}
	fw_capture_rx(c, 0, 0, STRESS_CAPTURES * 1000ull); /* closes the last */
	__atomic_store_n(&stress_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void test_spsc_stress(void **state)
{
	static struct fw_capture sc;
	pthread_t th;
	uint64_t got = 0, last_k = 0;
	uint8_t buf[FW_RX_RING_SIZE];

	stress_done = 0;
	fw_capture_init(&sc, 100, -1, 462);
	assert_int_equal(pthread_create(&th, NULL, producer, &sc), 0);
	for (;;) {
		const struct fw_capture_desc *d = fw_capture_peek(&sc);
		if (!d) {
			if (__atomic_load_n(&stress_done, __ATOMIC_ACQUIRE) &&
			    !fw_capture_peek(&sc))
				break;
			continue;
		}
		uint64_t k = d->t_first / 1000u;
		unsigned len = 1u + (unsigned)(k * 7919u % 300u);
		assert_true(got == 0 || k > last_k);
		assert_int_equal(d->len, len);
		assert_int_equal(d->t_last, d->t_first + len - 1u);
		assert_int_equal(part_bytes(&sc, d, buf), len);
		for (unsigned i = 0; i < len; i++)
			assert_int_equal(buf[i], (uint8_t)(k + i));
		fw_capture_release(&sc);
		last_k = k;
		got++;
	}
	pthread_join(th, NULL);
	assert_int_equal(got + sc.stats.dropped, STRESS_CAPTURES);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_idle_gap_closes_without_next_byte),
		cmocka_unit_test(test_idle_gap_closes_on_next_byte),
		cmocka_unit_test(test_idle_gap_across_tick_wrap),
		cmocka_unit_test(test_idle_gap_zero_never_closes),
		cmocka_unit_test(test_delimiter_ends_capture),
		cmocka_unit_test(test_delimiter_zero_byte),
		cmocka_unit_test(test_max_length_split_continued),
		cmocka_unit_test(test_exact_max_length_not_continued),
		cmocka_unit_test(test_error_flags),
		cmocka_unit_test(test_overrun_on_first_byte_flags_new_capture),
		cmocka_unit_test(test_ring_full_drops_whole_capture),
		cmocka_unit_test(test_queue_full_drops_whole_capture),
		cmocka_unit_test(test_wrapped_part_two_pieces),
		cmocka_unit_test(test_continued_part_then_drop),
		cmocka_unit_test(test_endless_stream_recovers),
		cmocka_unit_test(test_spsc_stress),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
