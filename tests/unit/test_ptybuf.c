/* The pty's buffers: order across the ring's wrap, what does not fit counted, and the
 * back-pressure predicate that keeps reads from ever dropping. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ptybuf.h"

/* Pops everything into out, piece by piece as the pty would write it. */
static size_t drain(struct ptybuf *b, uint8_t *out, size_t cap)
{
	size_t got = 0;
	const uint8_t *p;
	size_t n;
	while ((n = ptybuf_peek(b, &p)) > 0 && got + n <= cap) {
		memcpy(out + got, p, n);
		got += n;
		ptybuf_consume(b, n);
	}
	return got;
}

static void test_order_across_wrap(void **state)
{
	(void)state;
	struct ptybuf b;
	uint8_t in[10], out[32];
	assert_int_equal(ptybuf_init(&b, 16), 0);
	for (unsigned i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)i;
	assert_int_equal(ptybuf_push(&b, in, 10), 10);
	const uint8_t *p;
	assert_int_equal(ptybuf_peek(&b, &p), 10);
	ptybuf_consume(&b, 7); /* head at 7: the next push wraps */
	for (unsigned i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(100 + i);
	assert_int_equal(ptybuf_push(&b, in, 10), 10);
	assert_int_equal(b.len, 13);
	/* Two pieces: up to the end of the storage, then the rest. */
	assert_int_equal(ptybuf_peek(&b, &p), 9);
	size_t n = drain(&b, out, sizeof(out));
	assert_int_equal(n, 13);
	const uint8_t want[] = {7, 8, 9, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109};
	assert_memory_equal(out, want, sizeof(want));
	assert_int_equal(b.dropped, 0);
	ptybuf_clear(&b);
}

static void test_overflow_counted(void **state)
{
	(void)state;
	struct ptybuf b;
	uint8_t in[40] = {0}, out[64];
	assert_int_equal(ptybuf_init(&b, 32), 0);
	assert_int_equal(ptybuf_push(&b, in, 20), 20);
	assert_int_equal(ptybuf_push(&b, in, 20), 12); /* 8 did not fit */
	assert_int_equal(b.dropped, 8);
	assert_int_equal(ptybuf_room(&b), 0);
	assert_int_equal(ptybuf_push(&b, in, 5), 0);
	assert_int_equal(b.dropped, 13);
	assert_int_equal(drain(&b, out, sizeof(out)), 32);
	assert_int_equal(ptybuf_room(&b), 32);
	ptybuf_clear(&b);
}

static void test_back_pressure(void **state)
{
	(void)state;
	struct ptybuf b;
	uint8_t in[64] = {0};
	assert_int_equal(ptybuf_init(&b, 64), 0);
	assert_true(ptybuf_can_take(&b, 1));
	ptybuf_push(&b, in, 60);
	/* A reader that asks for room first never has to drop. */
	assert_true(ptybuf_can_take(&b, 4));
	assert_false(ptybuf_can_take(&b, 5));
	ptybuf_push(&b, in, 4);
	assert_false(ptybuf_can_take(&b, 1));
	assert_false(ptybuf_can_take(&b, 0)); /* full means full, whatever the minimum */
	ptybuf_consume(&b, 64);
	assert_int_equal(b.head, 0); /* empty: back to the start, one piece next time */
	assert_true(ptybuf_can_take(&b, 64));
	assert_int_equal(b.dropped, 0);
	ptybuf_clear(&b);
}

static void test_saved_header(void **state)
{
	(void)state;
	uint8_t h[PTYBUF_SAVED_HDR];
	size_t m7 = 1, app = 1;
	ptybuf_saved_header(h, 300, 70000);
	assert_int_equal(ptybuf_saved_parse(h, PTYBUF_SAVED_HDR + 70300, &m7, &app), 0);
	assert_int_equal(m7, 300);
	assert_int_equal(app, 70000);
	ptybuf_saved_header(h, 0, 0);
	assert_int_equal(ptybuf_saved_parse(h, PTYBUF_SAVED_HDR, &m7, &app), 0);
	assert_int_equal(m7 + app, 0);
	/* Longer than the daemon's buffers (a build with larger ones saved it): still ours;
	 * the caller keeps what fits and counts the rest. */
	ptybuf_saved_header(h, 1u << 20, 3u << 20);
	assert_int_equal(ptybuf_saved_parse(h, PTYBUF_SAVED_HDR + (4u << 20), &m7, &app), 0);
	assert_int_equal(m7, 1u << 20);
	assert_int_equal(app, 3u << 20);
}

/* What may come back under a pty's name is checked before a byte is believed. */
static void test_saved_header_refused(void **state)
{
	(void)state;
	uint8_t h[PTYBUF_SAVED_HDR];
	size_t m7 = 7, app = 7;
	ptybuf_saved_header(h, 10, 20);
	/* cut short, or more than it says */
	assert_int_equal(ptybuf_saved_parse(h, PTYBUF_SAVED_HDR + 29, &m7, &app), -EBADMSG);
	assert_int_equal(ptybuf_saved_parse(h, PTYBUF_SAVED_HDR + 31, &m7, &app), -EBADMSG);
	assert_int_equal(ptybuf_saved_parse(h, 3, &m7, &app), -EBADMSG);
	/* lengths that wrap 32 bits when added must not pass for a small file */
	ptybuf_saved_header(h, 0xffffffffu, 17);
	assert_int_equal(ptybuf_saved_parse(h, PTYBUF_SAVED_HDR + 16, &m7, &app), -EBADMSG);
	/* not ours */
	ptybuf_saved_header(h, 0, 0);
	h[0] = 'X';
	assert_int_equal(ptybuf_saved_parse(h, PTYBUF_SAVED_HDR, &m7, &app), -EBADMSG);
	assert_int_equal(m7 + app, 14); /* untouched on refusal */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_across_wrap),
		cmocka_unit_test(test_overflow_counted),
		cmocka_unit_test(test_back_pressure),
		cmocka_unit_test(test_saved_header),
		cmocka_unit_test(test_saved_header_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
