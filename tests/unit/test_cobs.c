/* Unit tests for lib/cobs.c: known encodings, run-length edges, zeros at the ends,
 * too-small output buffers at every size, malformed input, incremental encoder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <errno.h>

#include <cmocka.h>

#include "m7bridge/cobs.h"
#include "m7bridge/wire.h"
#include "wire_testlib.h"

#define GUARD 0xA5
#define BIG   2100

/* Encodes in[0..n) three ways (one-shot, incremental in one piece, incremental byte by
 * byte), checks all three equal the reference, then decodes back. */
static void check_roundtrip(const uint8_t *in, size_t n)
{
	static uint8_t ref[BIG], enc[BIG + 16], dec[BIG + 16];
	size_t rn = wt_cobs_encode(ref, in, n);
	assert_true(rn <= M7B_COBS_MAX(n));
	assert_null(memchr(ref, 0, rn));

	memset(enc, GUARD, sizeof(enc));
	int r = m7b_cobs_encode(enc, M7B_COBS_MAX(n), in, n);
	assert_int_equal(r, (int)rn);
	assert_memory_equal(enc, ref, rn);
	for (size_t i = (size_t)r; i < sizeof(enc); i++)
		assert_int_equal(enc[i], GUARD);

	struct m7b_cobs_enc e;
	memset(enc, GUARD, sizeof(enc));
	m7b_cobs_enc_init(&e, enc, rn);
	m7b_cobs_enc_put(&e, in, n);
	assert_int_equal(m7b_cobs_enc_finish(&e, enc), (int)rn);
	assert_memory_equal(enc, ref, rn);
	assert_int_equal(enc[rn], GUARD);

	memset(enc, GUARD, sizeof(enc));
	m7b_cobs_enc_init(&e, enc, rn);
	for (size_t i = 0; i < n; i++)
		m7b_cobs_enc_put(&e, in + i, 1);
	m7b_cobs_enc_put(&e, in, 0);
	m7b_cobs_enc_put(&e, NULL, 0); /* an empty part may have no buffer (sanitizers) */
	assert_int_equal(m7b_cobs_enc_finish(&e, enc), (int)rn);
	assert_memory_equal(enc, ref, rn);

	memset(dec, GUARD, sizeof(dec));
	r = m7b_cobs_decode(dec, n, ref, rn);
	assert_int_equal(r, (int)n);
	if (n)
		assert_memory_equal(dec, in, n);
	assert_int_equal(dec[n], GUARD);
}

static void expect_encoding(const char *in_hex, const char *out_hex)
{
	/* in zeroed: an empty hex string leaves it unwritten */
	uint8_t in[600] = {0}, want[600], got[600];
	size_t n = wt_unhex(in, sizeof(in), in_hex);
	size_t wn = wt_unhex(want, sizeof(want), out_hex);
	int r = m7b_cobs_encode(got, sizeof(got), in, n);
	assert_int_equal(r, (int)wn);
	assert_memory_equal(got, want, wn);
	check_roundtrip(in, n);
}

/* Textbook examples (the ones everyone quotes for COBS). */
static void test_known(void **state)
{
	(void)state;
	expect_encoding("", "01");
	expect_encoding("00", "0101");
	expect_encoding("0000", "010101");
	expect_encoding("001100", "01021101");
	expect_encoding("11220033", "0311220233");
	expect_encoding("11223344", "0511223344");
	expect_encoding("11000000", "0211010101");
}

/* Runs of 1..300 non-zero bytes (in particular 253, 254, 255), alone, with zeros at
 * either or both ends, and 254-byte runs that exactly fill a code block. */
static void test_runs(void **state)
{
	(void)state;
	static uint8_t in[BIG];
	uint8_t exp[600];
	for (size_t run = 1; run <= 600; run++) {
		for (int shape = 0; shape < 4; shape++) {
			size_t n = 0;
			if (shape & 1)
				in[n++] = 0;
			for (size_t i = 0; i < run; i++)
				in[n++] = (uint8_t)(1 + i % 255);
			if (shape & 2)
				in[n++] = 0;
			check_roundtrip(in, n);
		}
	}
	/* the exact encodings at the block boundary */
	for (size_t i = 0; i < 254; i++)
		in[i] = (uint8_t)(i + 1);
	int r = m7b_cobs_encode(exp, sizeof(exp), in, 254);
	assert_int_equal(r, 255); /* FF 01..FE, no trailing code */
	assert_int_equal(exp[0], 0xFF);
	assert_memory_equal(exp + 1, in, 254);
	in[254] = 0xFF;
	r = m7b_cobs_encode(exp, sizeof(exp), in, 255);
	assert_int_equal(r, 257); /* FF 01..FE 02 FF */
	assert_int_equal(exp[0], 0xFF);
	assert_int_equal(exp[255], 0x02);
	assert_int_equal(exp[256], 0xFF);
	in[254] = 0;
	r = m7b_cobs_encode(exp, sizeof(exp), in, 255);
	assert_int_equal(r, 257); /* FF 01..FE 01 01 */
	assert_int_equal(exp[255], 0x01);
	assert_int_equal(exp[256], 0x01);
	r = m7b_cobs_encode(exp, sizeof(exp), in, 253);
	assert_int_equal(r, 254); /* FE 01..FD */
	assert_int_equal(exp[0], 0xFE);
}

static void test_all_zeros(void **state)
{
	(void)state;
	static uint8_t in[BIG], enc[BIG];
	memset(in, 0, sizeof(in));
	for (size_t n = 0; n <= 1000; n++) {
		check_roundtrip(in, n);
		int r = m7b_cobs_encode(enc, sizeof(enc), in, n);
		assert_int_equal(r, (int)n + 1);
		for (size_t i = 0; i < (size_t)r; i++)
			assert_int_equal(enc[i], 1);
	}
}

static void test_random(void **state)
{
	(void)state;
	static uint8_t in[BIG];
	uint64_t s = 1;
	for (size_t n = 0; n <= 1200; n++) {
		wt_fill(&s, in, n);
		/* vary the zero density: none, few, many */
		for (size_t i = 0; i < n; i++) {
			if (n % 3 == 0 && in[i] == 0)
				in[i] = 1;
			else if (n % 3 == 2 && (in[i] & 7) == 0)
				in[i] = 0;
		}
		check_roundtrip(in, n);
	}
}

/* Encoding into every too-small buffer fails with -ENOSPC and never writes past cap;
 * same for the incremental encoder and the decoder. */
static void test_output_too_small(void **state)
{
	(void)state;
	static uint8_t in[700], ref[800], out[800];
	uint64_t s = 3;
	size_t lens[] = {0, 1, 2, 253, 254, 255, 256, 492, 508, 600};
	for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
		for (int shape = 0; shape < 3; shape++) {
			size_t n = lens[li];
			wt_fill(&s, in, n);
			for (size_t i = 0; i < n; i++)
				if (shape == 0 || (shape == 2 && i % 5 == 0))
					in[i] = (uint8_t)(in[i] | 1);
				else if (shape == 1 && i % 7 == 0)
					in[i] = 0;
			size_t rn = wt_cobs_encode(ref, in, n);
			for (size_t cap = 0; cap <= rn; cap++) {
				memset(out, GUARD, sizeof(out));
				int r = m7b_cobs_encode(out, cap, in, n);
				if (cap < rn)
					assert_int_equal(r, -ENOSPC);
				else
					assert_int_equal(r, (int)rn);
				for (size_t i = cap; i < sizeof(out); i++)
					assert_int_equal(out[i], GUARD);

				struct m7b_cobs_enc e;
				memset(out, GUARD, sizeof(out));
				m7b_cobs_enc_init(&e, out, cap);
				m7b_cobs_enc_put(&e, in, n / 2);
				m7b_cobs_enc_put(&e, in + n / 2, n - n / 2);
				r = m7b_cobs_enc_finish(&e, out);
				assert_int_equal(r, cap < rn ? -ENOSPC : (int)rn);
				assert_true(e.overflow == (cap < rn));
				for (size_t i = cap; i < sizeof(out); i++)
					assert_int_equal(out[i], GUARD);
			}
			for (size_t cap = 0; cap <= n; cap++) {
				memset(out, GUARD, sizeof(out));
				int r = m7b_cobs_decode(out, cap, ref, rn);
				assert_int_equal(r, cap < n ? -ENOSPC : (int)n);
				for (size_t i = cap; i < sizeof(out); i++)
					assert_int_equal(out[i], GUARD);
			}
		}
	}
}

static void expect_malformed(const char *hex)
{
	uint8_t in[64], out[64];
	size_t n = wt_unhex(in, sizeof(in), hex);
	assert_int_equal(m7b_cobs_decode(out, sizeof(out), in, n), -EBADMSG);
}

static void test_malformed(void **state)
{
	(void)state;
	expect_malformed("00");	    /* a zero is never inside an encoded block */
	expect_malformed("0300");   /* zero where a data byte should be */
	expect_malformed("020100"); /* zero as a code byte */
	expect_malformed("02");	    /* run crosses the end */
	expect_malformed("051122"); /* run of 4 crosses the end */
	expect_malformed("0101ff"); /* last code claims 254 bytes */
	/* every truncation of a valid block that cuts a run is rejected */
	uint8_t in[300], enc[310], out[310];
	for (size_t i = 0; i < 300; i++)
		in[i] = (uint8_t)(i % 3 ? i : 0);
	size_t rn = wt_cobs_encode(enc, in, 300);
	for (size_t k = 1; k < rn; k++) {
		int r = m7b_cobs_decode(out, sizeof(out), enc, k);
		/* a cut exactly at a code boundary is a shorter valid block */
		bool boundary = false;
		for (size_t c = 0; c < rn; c += enc[c])
			if (c == k)
				boundary = true;
		if (boundary)
			assert_true(r >= 0);
		else
			assert_int_equal(r, -EBADMSG);
	}
}

/* A trailing 01 after a full 254-byte run at the end (what some encoders emit) decodes
 * to the same bytes: the decoder accepts both forms. */
static void test_decode_lenient_trailing(void **state)
{
	(void)state;
	uint8_t enc[300], out[300];
	enc[0] = 0xFF;
	for (int i = 1; i < 255; i++)
		enc[i] = (uint8_t)i;
	enc[255] = 0x01;
	assert_int_equal(m7b_cobs_decode(out, sizeof(out), enc, 255), 254);
	assert_int_equal(m7b_cobs_decode(out, sizeof(out), enc, 256), 254);
	assert_memory_equal(out, enc + 1, 254);
	/* empty input is the empty block between two delimiters: nothing to decode */
	assert_int_equal(m7b_cobs_decode(out, sizeof(out), enc, 0), 0);
}

/* The incremental encoder split at every offset gives the one-shot result. */
static void test_incremental_splits(void **state)
{
	(void)state;
	static uint8_t in[600], ref[700], out[700];
	uint64_t s = 11;
	wt_fill(&s, in, sizeof(in));
	for (size_t i = 250; i < 520; i++)
		in[i] = (uint8_t)(in[i] | 0x80); /* one long non-zero stretch */
	size_t rn = wt_cobs_encode(ref, in, sizeof(in));
	for (size_t k = 0; k <= sizeof(in); k++) {
		struct m7b_cobs_enc e;
		m7b_cobs_enc_init(&e, out, sizeof(out));
		m7b_cobs_enc_put(&e, in, k);
		m7b_cobs_enc_put(&e, in + k, sizeof(in) - k);
		assert_int_equal(m7b_cobs_enc_finish(&e, out), (int)rn);
		assert_memory_equal(out, ref, rn);
	}
}

/* The incremental encoder fed in random pieces (short ones take the copy-then-patch path,
 * long ones or those that could fill a run the general loop, in any mix) against the
 * reference, at the exact output size, with the bytes after it untouched. */
static void test_incremental_random_pieces(void **state)
{
	(void)state;
	static uint8_t in[1300], ref[1400], out[1400 + 16];
	uint64_t s = 23;
	for (int round = 0; round < 3000; round++) {
		size_t n = (size_t)(wt_rand(&s) % 1200);
		unsigned density = (unsigned)(wt_rand(&s) % 5);
		wt_fill(&s, in, n);
		for (size_t i = 0; i < n; i++) {
			uint8_t r = (uint8_t)wt_rand(&s);
			/* none, 1/256, 1/16, 1/2, all zero */
			if (density == 0 || (density == 1 && in[i] == 0))
				in[i] |= 1;
			else if ((density == 2 && r < 16) || (density == 3 && r < 128) ||
				 density == 4)
				in[i] = 0;
			else if (in[i] == 0)
				in[i] = 0x42;
		}
		size_t rn = wt_cobs_encode(ref, in, n);
		struct m7b_cobs_enc e;
		memset(out, GUARD, sizeof(out));
		m7b_cobs_enc_init(&e, out, rn);
		for (size_t off = 0; off < n;) {
			size_t k = 1 + (size_t)(wt_rand(&s) % (round % 2 ? 300 : 24));
			if (k > n - off)
				k = n - off;
			m7b_cobs_enc_put(&e, in + off, k);
			off += k;
		}
		assert_int_equal(m7b_cobs_enc_finish(&e, out), (int)rn);
		assert_memory_equal(out, ref, rn);
		for (size_t i = rn; i < sizeof(out); i++)
			assert_int_equal(out[i], GUARD);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known),
		cmocka_unit_test(test_runs),
		cmocka_unit_test(test_all_zeros),
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_output_too_small),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_decode_lenient_trailing),
		cmocka_unit_test(test_incremental_splits),
		cmocka_unit_test(test_incremental_random_pieces),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
