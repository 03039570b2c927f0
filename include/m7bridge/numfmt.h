/* Integers to decimal text for the JSON renderers: no locale, no NUL, length returned. */
#ifndef M7BRIDGE_NUMFMT_H
#define M7BRIDGE_NUMFMT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Room to give m7b_fmt_u64 / m7b_fmt_i64. The text is at most 20 characters
 * (18446744073709551615, -9223372036854775808); the formatters store whole words and may
 * scribble on the room after it, never beyond. */
#define M7B_U64_DEC_MAX 24
#define M7B_I64_DEC_MAX 25

/* Writes v in decimal (no NUL) at out, which has M7B_U64_DEC_MAX bytes of room; returns
 * the number of characters (1..20). Bytes of the room after them are unspecified. */
size_t m7b_fmt_u64(char *out, uint64_t v);
/* The same for a signed value (room M7B_I64_DEC_MAX), with a leading '-' when negative. */
size_t m7b_fmt_i64(char *out, int64_t v);
/* Number of decimal digits of v (1..20). */
size_t m7b_dec_len_u64(uint64_t v);

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ &&                        \
	!defined(M7B_NUMFMT_PORTABLE)
/* The eight decimal digits of x (< 10^8, leading zeros kept) as byte values 0..9, most
 * significant in the lowest byte, so a little-endian store puts them in reading order.
 * SWAR: the two 4-digit halves go to 32-bit lanes, each splits into two 2-digit 16-bit
 * lanes, each of those into two bytes; a multiply and shift divides every lane at once
 * (n * 10486 >> 20 is n / 100 for n < 43699, m * 103 >> 10 is m / 10 for m < 179). */
static inline uint64_t m7b_dec8_lanes_(uint32_t x)
{
	uint64_t v = (uint64_t)(x / 10000) | (uint64_t)(x % 10000) << 32;
	uint64_t q = ((v * 10486) >> 20) & 0x0000007F0000007Full;

	v = q | (v - q * 100) << 16;
	q = ((v * 103) >> 10) & 0x000F000F000F000Full;
	return q | (v - q * 10) << 8;
}

/* Writes exactly eight digits of x (< 10^8, leading zeros kept) at out. */
static inline void m7b_fmt_dec8(char *out, uint32_t x)
{
	uint64_t d = m7b_dec8_lanes_(x) + 0x3030303030303030ull;

	memcpy(out, &d, 8);
}

/* The digits of x (< 10^8) without leading zeros at out, storing 8 bytes; returns their
 * count. The lowest non-zero lane is the first digit (x = 0: the last lane, "0"). */
static inline size_t m7b_fmt_upto8_(char *out, uint32_t x)
{
	uint64_t d = m7b_dec8_lanes_(x);
	unsigned skip = (unsigned)__builtin_ctzll(d | 1ull << 56) & 56u;

	d = (d >> skip) + 0x3030303030303030ull;
	memcpy(out, &d, 8);
	return 8u - skip / 8u;
}

/* m7b_fmt_u64, inline: for renderers that write several numbers per line (forced: a
 * call per number would cost as much as the digits). */
static inline __attribute__((always_inline)) size_t m7b_fmt_u64_inline(char *out, uint64_t v)
{
	if (v < 100000000u)
		return m7b_fmt_upto8_(out, (uint32_t)v);
	uint64_t hi = v / 100000000u;
	uint32_t lo = (uint32_t)(v - hi * 100000000u);
	size_t n;

	if (hi < 100000000u) {
		n = m7b_fmt_upto8_(out, (uint32_t)hi);
	} else {
		uint64_t top = hi / 100000000u; /* 1..1844 */

		n = m7b_fmt_upto8_(out, (uint32_t)top);
		m7b_fmt_dec8(out + n, (uint32_t)(hi - top * 100000000u));
		n += 8;
	}
	m7b_fmt_dec8(out + n, lo);
	return n + 8;
}
#else
/* Writes exactly eight digits of x (< 10^8, leading zeros kept) at out. */
static inline void m7b_fmt_dec8(char *out, uint32_t x)
{
	for (int i = 7; i >= 0; i--) {
		out[i] = (char)('0' + x % 10);
		x /= 10;
	}
}

/* m7b_fmt_u64, inline: for renderers that write several numbers per line. */
static inline size_t m7b_fmt_u64_inline(char *out, uint64_t v)
{
	return m7b_fmt_u64(out, v);
}
#endif

#ifdef __cplusplus
}
#endif
#endif
