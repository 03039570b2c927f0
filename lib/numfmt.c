/* Integers to decimal text, two digits per step from a 200-byte table; the length is
 * known before the first digit is written, so digits go straight to their place. */
#include "m7bridge/numfmt.h"

#include <string.h>

static const char digit_pairs[201] = "00010203040506070809"
				     "10111213141516171819"
				     "20212223242526272829"
				     "30313233343536373839"
				     "40414243444546474849"
				     "50515253545556575859"
				     "60616263646566676869"
				     "70717273747576777879"
				     "80818283848586878889"
				     "90919293949596979899";

size_t m7b_dec_len_u64(uint64_t v)
{
	size_t n = 1;

	for (;;) {
		if (v < 10)
			return n;
		if (v < 100)
			return n + 1;
		if (v < 1000)
			return n + 2;
		if (v < 10000)
			return n + 3;
		v /= 10000;
		n += 4;
	}
}

/* Writes the digits of v so that the last one lands just before end. */
static void put_digits(char *end, uint64_t v)
{
	uint32_t w;

	/* 64-bit division only while needed: on 32-bit targets it is a library call. */
	while (v > UINT32_MAX) {
		uint64_t q = v / 100;

		end -= 2;
		memcpy(end, digit_pairs + 2 * (size_t)(v - q * 100), 2);
		v = q;
	}
	w = (uint32_t)v;
	while (w >= 100) {
		uint32_t q = w / 100;

		end -= 2;
		memcpy(end, digit_pairs + 2 * (w - q * 100), 2);
		w = q;
	}
	if (w >= 10)
		memcpy(end - 2, digit_pairs + 2 * w, 2);
	else
		end[-1] = (char)('0' + w);
}

size_t m7b_fmt_u64(char *out, uint64_t v)
{
	size_t n = m7b_dec_len_u64(v);

	put_digits(out + n, v);
	return n;
}

size_t m7b_fmt_i64(char *out, int64_t v)
{
	/* The magnitude in unsigned arithmetic, so INT64_MIN does not overflow. */
	uint64_t m = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

	if (v >= 0)
		return m7b_fmt_u64(out, m);
	out[0] = '-';
	return 1 + m7b_fmt_u64(out + 1, m);
}
