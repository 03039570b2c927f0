/* Unit tests for streamcheck: corrupt streams are reported once, normal noise never. */
#include <setjmp.h>
#include <stdarg.h>
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
		assert_false(streamcheck_update(&s, t, t % 10000 == 0 ? 0 : 50, t % 10000 == 0));
}

static void test_burst_of_garbage_is_reported_once_per_window(void **state)
{
	struct streamcheck s;

	(void)state;
	streamcheck_init(&s, 5000, 8);
	/* Seven bad candidates are not enough; the eighth is. */
	assert_false(streamcheck_update(&s, 100, 0, 7));
	assert_true(streamcheck_update(&s, 200, 0, 1));
	/* Still corrupt in the same window: no second report. */
	assert_false(streamcheck_update(&s, 4000, 0, 100));
	/* A new window, still corrupt: reported again. */
	assert_true(streamcheck_update(&s, 5200, 1, 9));
}

static void test_bad_must_outnumber_good(void **state)
{
	struct streamcheck s;

	(void)state;
	streamcheck_init(&s, 5000, 8);
	/* A busy link with a few flipped bits is degraded at most, not corrupt. */
	assert_false(streamcheck_update(&s, 0, 100, 10));
	assert_false(streamcheck_update(&s, 1000, 100, 20));
	/* Then the good frames stop and the bad ones keep coming. */
	assert_false(streamcheck_update(&s, 2000, 0, 170));
	assert_true(streamcheck_update(&s, 3000, 0, 1));
}

static void test_chunk_opening_a_window_counts(void **state)
{
	struct streamcheck s;

	(void)state;
	streamcheck_init(&s, 5000, 8);
	assert_false(streamcheck_update(&s, 0, 500, 0));
	/* After a quiet spell, one chunk full of garbage opens the next window. */
	assert_true(streamcheck_update(&s, 60000, 0, 30));
}

/* The first chunk opens the first window at its own time, however early or late. */
static void test_first_chunk_opens_the_first_window(void **state)
{
	struct streamcheck s;

	(void)state;
	streamcheck_init(&s, 5000, 8);
	assert_false(streamcheck_update(&s, 3000, 0, 4));
	/* Within 5000 ms of the first chunk: the same window, 8 rejects in it. */
	assert_true(streamcheck_update(&s, 7000, 0, 4));
	streamcheck_init(&s, 5000, 8);
	assert_false(streamcheck_update(&s, 0, 0, 4));
	assert_true(streamcheck_update(&s, 4999, 0, 4));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hello_world_and_reopens_are_normal),
		cmocka_unit_test(test_burst_of_garbage_is_reported_once_per_window),
		cmocka_unit_test(test_bad_must_outnumber_good),
		cmocka_unit_test(test_chunk_opening_a_window_counts),
		cmocka_unit_test(test_first_chunk_opens_the_first_window),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
