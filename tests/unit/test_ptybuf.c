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

/* A save's first bytes: header and path as ptybuf_saved_header writes them. */
static uint8_t h[PTYBUF_SAVED_PREFIX];
static struct ptybuf_saved sv;

static void test_saved_header(void **state)
{
	(void)state;
	size_t n = ptybuf_saved_header(h, sizeof(h), 300, 70000, "/run/m7/tty0");
	assert_int_equal(n, PTYBUF_SAVED_HDR + 12);
	assert_memory_equal(h, "M7BPTYB2", 8);
	assert_int_equal(ptybuf_saved_parse(h, n, n + 70300, &sv), 0);
	assert_int_equal(sv.to_m7, 300);
	assert_int_equal(sv.to_app, 70000);
	assert_int_equal(sv.data_off, n);
	assert_string_equal(sv.path, "/run/m7/tty0");
	n = ptybuf_saved_header(h, sizeof(h), 0, 0, "/a");
	assert_int_equal(ptybuf_saved_parse(h, n, n, &sv), 0);
	assert_int_equal(sv.to_m7 + sv.to_app, 0);
	assert_string_equal(sv.path, "/a");
	/* Longer than the daemon's buffers (a build with larger ones saved it): still ours;
	 * the caller keeps what fits and counts the rest. */
	n = ptybuf_saved_header(h, sizeof(h), 1u << 20, 3u << 20, "/x");
	assert_int_equal(ptybuf_saved_parse(h, n, n + (4u << 20), &sv), 0);
	assert_int_equal(sv.to_m7, 1u << 20);
	assert_int_equal(sv.to_app, 3u << 20);
	/* The longest path fits the prefix the daemon reads. */
	char path[PTYBUF_SAVED_PATH_MAX + 1];
	memset(path, 'p', PTYBUF_SAVED_PATH_MAX);
	path[0] = '/';
	path[PTYBUF_SAVED_PATH_MAX] = '\0';
	n = ptybuf_saved_header(h, sizeof(h), 1, 2, path);
	assert_int_equal(n, PTYBUF_SAVED_PREFIX);
	assert_int_equal(ptybuf_saved_parse(h, n, n + 3, &sv), 0);
	assert_string_equal(sv.path, path);
}

/* An older daemon's save (during an upgrade) still goes back, with no path. */
static void test_saved_header_v1(void **state)
{
	(void)state;
	uint8_t v1[PTYBUF_SAVED_HDR_V1] = {'M', '7', 'B', 'P', 'T', 'Y', 'B', '1', 5, 0, 0, 0, 7};
	assert_int_equal(ptybuf_saved_parse(v1, sizeof(v1), sizeof(v1) + 12, &sv), 0);
	assert_int_equal(sv.to_m7, 5);
	assert_int_equal(sv.to_app, 7);
	assert_int_equal(sv.data_off, PTYBUF_SAVED_HDR_V1);
	assert_string_equal(sv.path, "");
	assert_int_equal(ptybuf_saved_parse(v1, sizeof(v1), sizeof(v1) + 11, &sv), -EBADMSG);
}

/* What may come back under a pty's name is checked before a byte is believed: the path
 * above all, since a start may remove the link it names. */
static void test_saved_header_refused(void **state)
{
	(void)state;
	size_t n = ptybuf_saved_header(h, sizeof(h), 10, 20, "/dev/ttyM7");
	/* cut short, or more than it says */
	assert_int_equal(ptybuf_saved_parse(h, n, n + 29, &sv), -EBADMSG);
	assert_int_equal(ptybuf_saved_parse(h, n, n + 31, &sv), -EBADMSG);
	assert_int_equal(ptybuf_saved_parse(h, 3, 3, &sv), -EBADMSG);
	/* the path cut short by what was read, or by the file */
	assert_int_equal(ptybuf_saved_parse(h, n - 1, n + 30, &sv), -EBADMSG);
	assert_int_equal(ptybuf_saved_parse(h, n, n - 1, &sv), -EBADMSG);
	/* lengths that wrap 32 bits when added must not pass for a small file */
	n = ptybuf_saved_header(h, sizeof(h), 0xffffffffu, 17, "/t");
	assert_int_equal(ptybuf_saved_parse(h, n, n + 16, &sv), -EBADMSG);
	/* a path that is empty, relative, has a NUL inside or is longer than any path */
	n = ptybuf_saved_header(h, sizeof(h), 0, 0, "/dev/ttyM7");
	h[16] = 0;
	assert_int_equal(ptybuf_saved_parse(h, n, n - 10, &sv), -EBADMSG);
	h[16] = 10;
	h[PTYBUF_SAVED_HDR] = 'd';
	assert_int_equal(ptybuf_saved_parse(h, n, n, &sv), -EBADMSG);
	h[PTYBUF_SAVED_HDR] = '/';
	h[PTYBUF_SAVED_HDR + 4] = '\0';
	assert_int_equal(ptybuf_saved_parse(h, n, n, &sv), -EBADMSG);
	h[PTYBUF_SAVED_HDR + 4] = '/';
	assert_int_equal(ptybuf_saved_parse(h, n, n, &sv), 0);
	h[16] = 0;
	h[17] = 0x10; /* 4096 */
	assert_int_equal(ptybuf_saved_parse(h, sizeof(h), 20 + 4096, &sv), -EBADMSG);
	/* the writer refuses what the reader would */
	assert_int_equal(ptybuf_saved_header(h, sizeof(h), 0, 0, "rel"), 0);
	assert_int_equal(ptybuf_saved_header(h, sizeof(h), 0, 0, ""), 0);
	assert_int_equal(ptybuf_saved_header(h, PTYBUF_SAVED_HDR + 2, 0, 0, "/abc"), 0);
	/* not ours, or a version to come */
	n = ptybuf_saved_header(h, sizeof(h), 0, 0, "/p");
	h[0] = 'X';
	assert_int_equal(ptybuf_saved_parse(h, n, n, &sv), -EBADMSG);
	h[0] = 'M';
	h[7] = '3';
	assert_int_equal(ptybuf_saved_parse(h, n, n, &sv), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_across_wrap),
		cmocka_unit_test(test_overflow_counted),
		cmocka_unit_test(test_back_pressure),
		cmocka_unit_test(test_saved_header),
		cmocka_unit_test(test_saved_header_v1),
		cmocka_unit_test(test_saved_header_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
