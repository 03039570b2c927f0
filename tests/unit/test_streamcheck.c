/* Unit tests for streamcheck: corrupt streams are reported once, normal noise never. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "streamcheck.h"

static void test_hello_world_and_reopens_are_normal(void **state)
{
	struct streamcheck s;

	(void)state;
	streamcheck_init(&s, 5000, 8);
	/* One bad candidate per open (the kernel's "hello world!"), then traffic. */
	for (uint64_t t = 0; t < 60000; t += 1000)
		assert_false(streamcheck_update(&s, t, 0, t % 10000 == 0 ? 0 : 50, t % 10000 == 0));
}

static void test_burst_of_garbage_is_reported_once_per_window(void **state)
{
	struct streamcheck s;

	(void)state;
	streamcheck_init(&s, 5000, 8);
	/* Seven bad candidates are not enough; the eighth is. */
	assert_false(streamcheck_update(&s, 100, 0, 0, 7));
	assert_true(streamcheck_update(&s, 200, 0, 0, 1));
	/* Still corrupt in the same window: no second report. */
	assert_false(streamcheck_update(&s, 4000, 0, 0, 100));
	/* A new window, still corrupt: reported again. */
	assert_true(streamcheck_update(&s, 5200, 0, 1, 9));
}

static void test_bad_must_outnumber_good(void **state)
{
	struct streamcheck s;

	(void)state;
	streamcheck_init(&s, 5000, 8);
	/* A busy link with a few flipped bits is degraded at most, not corrupt. */
	assert_false(streamcheck_update(&s, 0, 0, 100, 10));
	assert_false(streamcheck_update(&s, 1000, 0, 100, 20));
	/* Then the good frames stop and the bad ones keep coming. */
	assert_false(streamcheck_update(&s, 2000, 0, 0, 170));
	assert_true(streamcheck_update(&s, 3000, 0, 0, 1));
}

static void test_chunk_opening_a_window_counts(void **state)
{
	struct streamcheck s;

	(void)state;
	streamcheck_init(&s, 5000, 8);
	assert_false(streamcheck_update(&s, 0, 0, 500, 0));
	/* After a quiet spell, one chunk full of garbage opens the next window. */
	assert_true(streamcheck_update(&s, 60000, 0, 0, 30));
}

/* The first chunk opens the first window at its own time, however early or late. */
static void test_first_chunk_opens_the_first_window(void **state)
{
	struct streamcheck s;

	(void)state;
	streamcheck_init(&s, 5000, 8);
	assert_false(streamcheck_update(&s, 3000, 0, 0, 4));
	/* Within 5000 ms of the first chunk: the same window, 8 rejects in it. */
	assert_true(streamcheck_update(&s, 7000, 0, 0, 4));
	streamcheck_init(&s, 5000, 8);
	assert_false(streamcheck_update(&s, 0, 0, 0, 4));
	assert_true(streamcheck_update(&s, 4999, 0, 0, 4));
}

/* The good frames of chunks not fed, all before the window's end, count in the window
 * when the next call comes before its end. */
static void test_skipped_before_the_end_count(void **state)
{
	struct streamcheck s;

	(void)state;
	streamcheck_init(&s, 5000, 8);
	assert_int_equal(streamcheck_quiet_until(&s), 0);
	assert_false(streamcheck_update(&s, 1000, 0, 0, 4));
	assert_int_equal(streamcheck_quiet_until(&s), 6000);
	/* 8 rejects, but 10 good frames skipped in the window: no fault. */
	assert_false(streamcheck_update(&s, 5999, 10, 0, 4));
	assert_int_equal(s.good, 10);
	/* 11 rejects outnumber them. */
	assert_true(streamcheck_update(&s, 5999, 0, 0, 3));
}

/* A call at or after the window's end: the skipped good frames were the ended window's,
 * not the new one's. */
static void test_skipped_after_the_end_do_not_count(void **state)
{
	struct streamcheck s;

	(void)state;
	streamcheck_init(&s, 5000, 8);
	assert_false(streamcheck_update(&s, 1000, 0, 2, 0));
	assert_true(streamcheck_update(&s, 6000, 100, 0, 8));
	assert_int_equal(s.good, 0);
	assert_int_equal(streamcheck_quiet_until(&s), 11000);
}

/* Feeding only the chunks with rejects or at or after streamcheck_quiet_until(), the
 * others' good frames summed into the next call, gives the answers and the window of
 * feeding every chunk. */
static void test_skipping_quiet_chunks_changes_nothing(void **state)
{
	struct streamcheck all, some;
	uint64_t t = 0, skipped = 0, seed = 1;
	unsigned faults = 0, calls = 0;

	(void)state;
	streamcheck_init(&all, 5000, 8);
	streamcheck_init(&some, 5000, 8);
	for (int i = 0; i < 20000; i++) {
		seed = seed * 6364136223846793005u + 1442695040888963407u;
		unsigned r = (unsigned)(seed >> 33);
		t += r % 1200;
		uint64_t good = (r >> 11) % 4, bad = (r >> 13) % 8 == 0 ? (r >> 16) % 12 : 0;
		bool fault = streamcheck_update(&all, t, 0, good, bad);
		faults += fault;
		if (bad || t >= streamcheck_quiet_until(&some)) {
			assert_int_equal(streamcheck_update(&some, t, skipped, good, bad), fault);
			skipped = 0;
			calls++;
			assert_int_equal(some.start_ms, all.start_ms);
			assert_int_equal(some.good, all.good);
			assert_int_equal(some.bad, all.bad);
			assert_int_equal(some.reported, all.reported);
		} else {
			assert_false(fault);
			skipped += good;
		}
	}
	/* The sequence has faults, and chunks skipped. */
	assert_true(faults > 10);
	assert_true(calls < 15000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hello_world_and_reopens_are_normal),
		cmocka_unit_test(test_burst_of_garbage_is_reported_once_per_window),
		cmocka_unit_test(test_bad_must_outnumber_good),
		cmocka_unit_test(test_chunk_opening_a_window_counts),
		cmocka_unit_test(test_first_chunk_opens_the_first_window),
		cmocka_unit_test(test_skipped_before_the_end_count),
		cmocka_unit_test(test_skipped_after_the_end_do_not_count),
		cmocka_unit_test(test_skipping_quiet_chunks_changes_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
