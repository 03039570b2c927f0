/* Integers to decimal text: digit pairs read off a fixed-point fraction (numfmt.h, inline
 * for the renderers); the portable loop (M7B_NUMFMT_PORTABLE) takes the length first (bit
 * length and one comparison), then two digits per step from a 200-byte table. */
#include "m7bridge/numfmt.h"

#include <string.h>

/* 10^i, for the digit count. */
static const uint64_t pow10_u64[20] = {
	1ull,
	10ull,
	100ull,
	1000ull,
	10000ull,
	100000ull,
	1000000ull,
	10000000ull,
	100000000ull,
	1000000000ull,
	10000000000ull,
	100000000000ull,
	1000000000000ull,
	10000000000000ull,
	100000000000000ull,
	1000000000000000ull,
	10000000000000000ull,
	100000000000000000ull,
	1000000000000000000ull,
	10000000000000000000ull,
};

static inline size_t dec_len(uint64_t v)
{
	/* floor(log10(2) * bit length) is the digit count or one less: 1233 / 4096 is
	 * log10(2) to within what 64 bits need. */
	unsigned bits = 64u - (unsigned)__builtin_clzll(v | 1u);
	unsigned t = (bits * 1233u) >> 12;

	return t + ((v | 1u) >= pow10_u64[t]); /* v | 1: zero has one digit too */
}

size_t m7b_dec_len_u64(uint64_t v)
{
	return dec_len(v);
}

#if !defined(M7B_NUMFMT_PORTABLE)
/* The digit pairs live in the header, so the hot renderers inline them. */
size_t m7b_fmt_u64(char *out, uint64_t v)
{
	return m7b_fmt_u64_inline(out, v);
}
#else
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

/* Writes w (< 10^8) as exactly eight digits ending just before end. */
static void put8(char *end, uint32_t w)
{
	for (int k = 0; k < 4; k++) {
		uint32_t q = w / 100;

		end -= 2;
		memcpy(end, digit_pairs + 2 * (w - q * 100), 2);
		w = q;
	}
}

/* Writes the digits of v so that the last one lands just before end. */
static void put_digits(char *end, uint64_t v)
{
	uint32_t w;

	/* Eight digits at a time in 32-bit arithmetic; one 64-bit division per chunk. */
	while (v >= 100000000u) {
		uint64_t q = v / 100000000u;

		put8(end, (uint32_t)(v - q * 100000000u));
		end -= 8;
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
	size_t n = dec_len(v);

	put_digits(out + n, v);
	return n;
}
#endif

size_t m7b_fmt_i64(char *out, int64_t v)
{
	/* The magnitude in unsigned arithmetic, so INT64_MIN does not overflow. */
	uint64_t m = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

	if (v >= 0)
		return m7b_fmt_u64(out, m);
	out[0] = '-';
	return 1 + m7b_fmt_u64(out + 1, m);
}
