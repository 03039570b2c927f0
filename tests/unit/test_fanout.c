/* Unit tests for daemon/fanout.c: chunk lifetime, renewal, spares and the bound on chunks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fanout.h"

/* Writes n bytes of c at the tail; returns where they went. */
static char *put(struct fanout *f, char c, size_t n)
{
	size_t room;
	char *p = fanout_tail(f, &room);
	assert_true(room >= n);
	memset(p, c, n);
	fanout_commit(f, n);
	return p;
}

/* The current chunk starts over only once nobody holds it. */
static void test_starts_over_when_free(void **state)
{
	(void)state;
	struct fanout *f = fanout_new(1024);
	assert_non_null(f);
	char *a = put(f, 'a', 100);
	struct fanout_chunk *k = fanout_current(f);
	assert_true(fanout_chunk_holds(k, a, 100));
	fanout_chunk_hold(k); /* a client references the line */
	char *b = put(f, 'b', 100);
	assert_ptr_equal(b, a + 100); /* kept: appended after it */
	fanout_chunk_release(k);
	char *c = put(f, 'c', 100);
	assert_ptr_equal(c, a); /* nobody holds it: from the start again */
	assert_int_equal(f->nchunks, 1);
	f = fanout_free(f);
	assert_null(f);
}

/* A held chunk that is full gives way to another; it is retired when its last holder
 * lets go, kept as a spare up to FANOUT_SPARES, and at most FANOUT_CHUNKS_MAX exist. */
static void test_renew_retire_and_bound(void **state)
{
	(void)state;
	struct fanout *f = fanout_new(256);
	struct fanout_chunk *held[FANOUT_CHUNKS_MAX];
	unsigned n = 0;
	for (;;) {
		put(f, 'x', 256);
		held[n] = fanout_current(f);
		fanout_chunk_hold(held[n++]);
		if (!fanout_renew(f))
			break;
		assert_int_equal(f->cur->len, 0);
		assert_int_equal(f->cur->refs, 0);
	}
	assert_int_equal(n, FANOUT_CHUNKS_MAX);
	assert_int_equal(f->nchunks, FANOUT_CHUNKS_MAX);
	/* The current chunk is the last held one: releasing it does not retire it. */
	fanout_chunk_release(held[n - 1]);
	assert_int_equal(f->nspare, 0);
	size_t room;
	(void)fanout_tail(f, &room);
	assert_int_equal(room, 256); /* free again: starts over */
	/* The older ones: two become spares, the rest are freed. */
	for (unsigned i = 0; i + 1 < n; i++)
		fanout_chunk_release(held[i]);
	assert_int_equal(f->nspare, FANOUT_SPARES);
	assert_int_equal(f->nchunks, 1 + FANOUT_SPARES);
	/* A renewal takes a spare rather than allocating; the chunk it replaces, still held,
	 * becomes a spare once let go. */
	struct fanout_chunk *spare = f->spare, *old = fanout_current(f);
	fanout_chunk_hold(old);
	assert_true(fanout_renew(f));
	assert_ptr_equal(fanout_current(f), spare);
	assert_int_equal(f->nspare, FANOUT_SPARES - 1);
	assert_int_equal(f->nchunks, 1 + FANOUT_SPARES);
	fanout_chunk_release(old);
	assert_int_equal(f->nspare, FANOUT_SPARES);
	assert_int_equal(f->nchunks, 1 + FANOUT_SPARES);
	fanout_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_starts_over_when_free),
		cmocka_unit_test(test_renew_retire_and_bound),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
