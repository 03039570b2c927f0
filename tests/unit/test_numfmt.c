/* Unit tests for the text codecs' fast paths: the decimal formatters against printf, and
 * the table-driven base64 encoder against a plain bit-by-bit reference. */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "m7bridge/base64.h"
#include "m7bridge/numfmt.h"
#include "wire_testlib.h"

/* Bytes the formatter must leave alone: everything past its documented room. */
static void assert_untouched(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		assert_int_equal(p[i], '#');
}

/* Formats v both ways, at every alignment; nothing is written past the room. */
static void check_u64(uint64_t v)
{
	char got[M7B_U64_DEC_MAX + 16], want[32];
	int w = snprintf(want, sizeof(want), "%" PRIu64, v);
	size_t off = (size_t)(v % 8);
	memset(got, '#', sizeof(got));
	size_t n = m7b_fmt_u64(got + off, v);
	assert_int_equal(n, (size_t)w);
	assert_true(n <= 20);
	assert_memory_equal(got + off, want, n);
	assert_untouched(got, off);
	assert_untouched(got + off + M7B_U64_DEC_MAX, sizeof(got) - off - M7B_U64_DEC_MAX);
	assert_int_equal(m7b_dec_len_u64(v), n);
	/* The inline form the renderers use: the same text, the same room. */
	memset(got, '#', sizeof(got));
	assert_int_equal(m7b_fmt_u64_inline(got + off, v), n);
	assert_memory_equal(got + off, want, n);
	assert_untouched(got, off);
	assert_untouched(got + off + M7B_U64_DEC_MAX, sizeof(got) - off - M7B_U64_DEC_MAX);
}

static void check_i64(int64_t v)
{
	char got[M7B_I64_DEC_MAX + 16], want[32];
	int w = snprintf(want, sizeof(want), "%" PRId64, v);
	size_t off = (size_t)((uint64_t)v % 8);
	memset(got, '#', sizeof(got));
	size_t n = m7b_fmt_i64(got + off, v);
	assert_int_equal(n, (size_t)w);
	assert_memory_equal(got + off, want, n);
	assert_untouched(got, off);
	assert_untouched(got + off + M7B_I64_DEC_MAX, sizeof(got) - off - M7B_I64_DEC_MAX);
}

/* Every power of ten and its neighbours: where the digit count changes. */
static void test_u64_boundaries(void **state)
{
	(void)state;
	uint64_t p = 1;
	for (int i = 0; i < 20; i++) {
		check_u64(p - 1);
		check_u64(p);
		check_u64(p + 1);
		if (i < 19)
			p *= 10;
	}
	check_u64(UINT32_MAX);
	check_u64((uint64_t)UINT32_MAX + 1);
	check_u64(UINT64_MAX);
	check_u64(UINT64_MAX - 1);
	for (uint64_t v = 0; v < 100000; v++)
		check_u64(v);
}

static void test_u64_random(void **state)
{
	(void)state;
	uint64_t s = 42;
	for (int i = 0; i < 200000; i++) {
		uint64_t v = wt_rand(&s);
		check_u64(v >> (i % 64)); /* every bit length */
	}
}

/* Exactly eight digits, leading zeros kept, nothing written around them. */
static void test_dec8(void **state)
{
	(void)state;
	uint64_t s = 3;
	for (int i = 0; i < 100000; i++) {
		uint32_t x = i < 1000 ? (uint32_t)i : (uint32_t)(wt_rand(&s) % 100000000u);
		if (i == 1000)
			x = 99999999u;
		char got[12], want[16];
		snprintf(want, sizeof(want), "%08" PRIu32, x);
		memset(got, '#', sizeof(got));
		m7b_fmt_dec8(got + 2, x);
		assert_memory_equal(got + 2, want, 8);
		assert_untouched(got, 2);
		assert_untouched(got + 10, 2);
	}
}

/* The digits of x by plain division, eight of them, leading zeros kept. */
static void dec8_by_division(char *out, uint32_t x)
{
	for (int i = 7; i >= 0; i--) {
		out[i] = (char)('0' + x % 10);
		x /= 10;
	}
}

/* One pair through m7b_fmt_dec8_x2, both numbers checked against plain division; nothing
 * written around either. */
static void check_dec8_x2(uint32_t x, uint32_t y)
{
	char got[32], want[8];
	memset(got, '#', sizeof(got));
	m7b_fmt_dec8_x2(got + 1, got + 19, x, y);
	dec8_by_division(want, x);
	assert_memory_equal(got + 1, want, 8);
	dec8_by_division(want, y);
	assert_memory_equal(got + 19, want, 8);
	assert_untouched(got, 1);
	assert_untouched(got + 9, 10);
	assert_untouched(got + 27, sizeof(got) - 27);
}

/* Edges (each group's digit count changing, the range's ends) in every pairing, then every
 * value of the top and bottom of the range and random ones. */
static void test_dec8_x2(void **state)
{
	(void)state;
	uint32_t edge[64];
	size_t n = 0;
	edge[n++] = 0;
	for (uint32_t p = 1; p <= 10000000u; p *= 10) {
		edge[n++] = p - 1;
		edge[n++] = p;
		edge[n++] = p + 1;
		edge[n++] = 10 * p - 1;
	}
	edge[n++] = 99999999u;
	edge[n++] = 99990000u;
	edge[n++] = 9999u;
	edge[n++] = 12345678u;
	edge[n++] = (uint32_t)(UINT64_MAX % 100000000u);
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++)
			check_dec8_x2(edge[i], edge[j]);
	for (uint32_t x = 0; x < 200000; x++)
		check_dec8_x2(x, 99999999u - x);
	uint64_t s = 11;
	for (int i = 0; i < 1000000; i++) {
		uint64_t r = wt_rand(&s);
		check_dec8_x2((uint32_t)(r % 100000000u), (uint32_t)((r >> 32) % 100000000u));
	}
}

static void test_i64(void **state)
{
	(void)state;
	uint64_t s = 7;
	check_i64(0);
	check_i64(-1);
	check_i64(INT64_MIN);
	check_i64(INT64_MIN + 1);
	check_i64(INT64_MAX);
	for (int i = 0; i < 100000; i++)
		check_i64((int64_t)(wt_rand(&s) >> (i % 64)) * (i % 2 ? -1 : 1));
}

/* RFC 4648 base64, one bit at a time. */
static size_t ref_base64(const uint8_t *in, size_t n, char *out)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0, bits = n * 8;
	for (size_t b = 0; b < bits; b += 6) {
		unsigned v = 0;
		for (size_t k = b; k < b + 6; k++)
			v = v << 1 | (k < bits ? (in[k / 8] >> (7 - k % 8)) & 1u : 0u);
		out[o++] = a[v];
	}
	while (o % 4)
		out[o++] = '=';
	out[o] = '\0';
	return o;
}

/* Every length up to 600 (each step and tail of the encoder), random and all-byte data,
 * encoded at every offset of the input (unaligned loads), and the exact capacity rule. */
static void test_base64_vs_reference(void **state)
{
	(void)state;
	static uint8_t in[616];
	static char got[1000], want[1000];
	uint64_t s = 99;
	for (int round = 0; round < 4; round++) {
		if (round == 0)
			for (size_t i = 0; i < sizeof(in); i++)
				in[i] = (uint8_t)i;
		else
			wt_fill(&s, in, sizeof(in));
		for (size_t n = 0; n <= 600; n++) {
			size_t off = n % 9;
			size_t w = ref_base64(in + off, n, want);
			memset(got, '#', sizeof(got));
			int r = m7b_base64_encode(in + off, n, got, w + 1);
			assert_int_equal(r, (int)w);
			assert_string_equal(got, want);
			assert_int_equal(got[w + 1], '#');
			assert_int_equal(m7b_base64_encode(in + off, n, got, w), -ENOSPC);
			uint8_t back[616];
			assert_int_equal(m7b_base64_decode(got, w, back, sizeof(back)), (int)n);
			assert_memory_equal(back, in + off, n);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_u64_boundaries),
		cmocka_unit_test(test_u64_random),
		cmocka_unit_test(test_dec8),
		cmocka_unit_test(test_dec8_x2),
		cmocka_unit_test(test_i64),
		cmocka_unit_test(test_base64_vs_reference),

	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
