/* Integers to decimal text for the JSON renderers: no locale, no NUL, length returned. */
#ifndef M7BRIDGE_NUMFMT_H
#define M7BRIDGE_NUMFMT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__) && !defined(M7B_NUMFMT_PORTABLE)
#include <emmintrin.h>
#elif defined(__aarch64__) && defined(__ARM_NEON) && !defined(M7B_NUMFMT_PORTABLE)
#include <arm_neon.h>
#endif

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

#if !defined(M7B_NUMFMT_PORTABLE)
/* Two digits at a time from a table, the pairs read off a fixed-point fraction: x times
 * 2^k / 10^m (rounded so that every x of the range gives exact digits; checked for all of
 * them) puts the leading pair in the upper 32 bits, and each multiplication of the lower 32
 * bits by 100 brings up the next pair. The cost grows with the digits, not the width. */
static const char m7b_dec_pairs_[200] = {
	'0', '0', '0', '1', '0', '2', '0', '3', '0', '4', '0', '5', '0', '6', '0', '7', '0',
	'8', '0', '9', '1', '0', '1', '1', '1', '2', '1', '3', '1', '4', '1', '5', '1', '6',
	'1', '7', '1', '8', '1', '9', '2', '0', '2', '1', '2', '2', '2', '3', '2', '4', '2',
	'5', '2', '6', '2', '7', '2', '8', '2', '9', '3', '0', '3', '1', '3', '2', '3', '3',
	'3', '4', '3', '5', '3', '6', '3', '7', '3', '8', '3', '9', '4', '0', '4', '1', '4',
	'2', '4', '3', '4', '4', '4', '5', '4', '6', '4', '7', '4', '8', '4', '9', '5', '0',
	'5', '1', '5', '2', '5', '3', '5', '4', '5', '5', '5', '6', '5', '7', '5', '8', '5',
	'9', '6', '0', '6', '1', '6', '2', '6', '3', '6', '4', '6', '5', '6', '6', '6', '7',
	'6', '8', '6', '9', '7', '0', '7', '1', '7', '2', '7', '3', '7', '4', '7', '5', '7',
	'6', '7', '7', '7', '8', '7', '9', '8', '0', '8', '1', '8', '2', '8', '3', '8', '4',
	'8', '5', '8', '6', '8', '7', '8', '8', '8', '9', '9', '0', '9', '1', '9', '2', '9',
	'3', '9', '4', '9', '5', '9', '6', '9', '7', '9', '8', '9', '9'};

#if defined(__GNUC__)
#define M7B_NUMFMT_INLINE_ static inline __attribute__((always_inline))
#else
#define M7B_NUMFMT_INLINE_ static inline
#endif

/* The pair in the upper half of y at p; y moves on to the next one. */
M7B_NUMFMT_INLINE_ char *m7b_pair_(char *p, uint64_t *y)
{
	memcpy(p, m7b_dec_pairs_ + 2 * (*y >> 32), 2);
	*y = (uint64_t)(uint32_t)*y * 100u;
	return p + 2;
}

/* The leading group (one digit when one is true, else two) of y at p. */
M7B_NUMFMT_INLINE_ char *m7b_lead_(char *p, uint64_t *y, int one)
{
	if (one) {
		*p = (char)('0' + (*y >> 32));
		*y = (uint64_t)(uint32_t)*y * 100u;
		return p + 1;
	}
	return m7b_pair_(p, y);
}

/* x (< 10^8) as a fraction of 10^8 whose leading pair is x / 10^6. */
M7B_NUMFMT_INLINE_ uint64_t m7b_frac8_(uint32_t x)
{
	return ((x * 2251799815ull) >> 19) + 4; /* 2^51 / 10^6, rounded up by 2; then +4 */
}

/* Writes exactly eight digits of x (< 10^8, leading zeros kept) at out. */
M7B_NUMFMT_INLINE_ void m7b_fmt_dec8(char *out, uint32_t x)
{
	uint64_t y = m7b_frac8_(x);

	out = m7b_pair_(out, &y);
	out = m7b_pair_(out, &y);
	out = m7b_pair_(out, &y);
	(void)m7b_pair_(out, &y);
}

#if defined(__SSE2__)
/* Eight digits each of the low 32 bits of v's two 64-bit lanes (both < 10^8, leading zeros
 * kept) at a and b: for numbers in a vector already.
 * With SSE2 (the x86-64 baseline): the two numbers split into 10^4 groups
 * (pmuludq), those into 10^2 groups (pmulhuw), one 16-bit lane per group, and each lane into
 * its tens and units bytes, all 16 digits at once for about the cost of one scalar dec8.
 * Each division is a multiplication and shift, exact over its range (checked for all). */
M7B_NUMFMT_INLINE_ void m7b_fmt_dec8_x2_epi64(char *a, char *b, __m128i v)
{
	/* 32-bit lanes x / 10^4, x % 10^4, y / 10^4, y % 10^4: 3518437209 = 2^45 / 10^4 rounded up */
	const __m128i h = _mm_srli_epi64(_mm_mul_epu32(v, _mm_set1_epi32((int)3518437209u)), 45);
	const __m128i l = _mm_sub_epi32(v, _mm_mul_epu32(h, _mm_set1_epi32(10000)));
	const __m128i g4 = _mm_or_si128(h, _mm_slli_epi64(l, 32));
	/* Each such n as the 16-bit lanes n / 100, n % 100: the quotient (n * 5243 >> 19) in both
	 * halves, then times 1 in the low one and -100 plus n in the high one. */
	const __m128i hi = _mm_slli_epi32(g4, 16);
	const __m128i q =
		_mm_srli_epi16(_mm_mulhi_epu16(_mm_or_si128(g4, hi), _mm_set1_epi16(5243)), 3);
	const __m128i g2 = _mm_add_epi16(_mm_mullo_epi16(q, _mm_set1_epi32((int)0xff9c0001u)), hi);
	/* Each such m (< 100) as the bytes m / 10, m % 10 (first in memory): the tens t are
	 * m * 6554 >> 16; 256 * m - 2559 * t is t + 256 * (m - 10 * t). */
	const __m128i t = _mm_mulhi_epu16(g2, _mm_set1_epi16(6554));
	__m128i k2559 = _mm_set1_epi16(2559);
#if defined(__GNUC__)
	__asm__("" : "+x"(k2559)); /* one pmullw, not the four shifts and adds made of it */
#endif
	const __m128i d = _mm_sub_epi16(_mm_slli_epi16(g2, 8), _mm_mullo_epi16(t, k2559));
	const __m128i txt = _mm_add_epi16(d, _mm_set1_epi16(0x3030));

	_mm_storel_epi64((__m128i *)(void *)a, txt);
	_mm_storeh_pi((__m64 *)(void *)b, _mm_castsi128_ps(txt));
}

/* Eight digits each of x at a and of y at b (both < 10^8, leading zeros kept). */
M7B_NUMFMT_INLINE_ void m7b_fmt_dec8_x2(char *a, char *b, uint32_t x, uint32_t y)
{
	m7b_fmt_dec8_x2_epi64(
		a, b, _mm_unpacklo_epi64(_mm_cvtsi32_si128((int)x), _mm_cvtsi32_si128((int)y)));
}
#elif defined(__aarch64__) && defined(__ARM_NEON) && defined(__BYTE_ORDER__) &&                    \
	__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/* Eight digits each of x at a and of y at b (both < 10^8, leading zeros kept).
 * With NEON the same steps as with SSE2: 10^4 groups (umull), 10^2 groups (32-bit lanes),
 * tens and units (16-bit lanes), each inserted into the upper half of its lane. */
M7B_NUMFMT_INLINE_ void m7b_fmt_dec8_x2(char *a, char *b, uint32_t x, uint32_t y)
{
	const uint32x2_t v = vset_lane_u32(y, vdup_n_u32(x), 1);
	/* x / 10^4, y / 10^4: 3518437209 = 2^45 / 10^4 rounded up */
	const uint32x2_t h = vmovn_u64(vshrq_n_u64(vmull_n_u32(v, 3518437209u), 45));
	const uint32x2_t l = vmls_n_u32(v, h, 10000);
	const uint32x2x2_t z = vzip_u32(h, l);
	const uint32x4_t g4 = vcombine_u32(z.val[0], z.val[1]);
	/* Each such n as the 16-bit lanes n / 100 (n * 5243 >> 19), n % 100 */
	const uint32x4_t q = vshrq_n_u32(vmulq_n_u32(g4, 5243), 19);
	const uint16x8_t g2 = vreinterpretq_u16_u32(vsliq_n_u32(q, vmlsq_n_u32(g4, q, 100), 16));
	/* Each such m (< 100) as the bytes m / 10 (m * 103 >> 10), m % 10 */
	const uint16x8_t t = vshrq_n_u16(vmulq_n_u16(g2, 103), 10);
	const uint16x8_t d = vsliq_n_u16(t, vmlsq_n_u16(g2, t, 10), 8);
	const uint8x16_t txt = vaddq_u8(vreinterpretq_u8_u16(d), vdupq_n_u8('0'));

	vst1_u8((uint8_t *)(void *)a, vget_low_u8(txt));
	vst1_u8((uint8_t *)(void *)b, vget_high_u8(txt));
}
#else
/* Eight digits each of x at a and of y at b (both < 10^8, leading zeros kept). */
M7B_NUMFMT_INLINE_ void m7b_fmt_dec8_x2(char *a, char *b, uint32_t x, uint32_t y)
{
	m7b_fmt_dec8(a, x);
	m7b_fmt_dec8(b, y);
}
#endif

/* The digits of x (< 10^8) without leading zeros at out; returns their count. */
M7B_NUMFMT_INLINE_ size_t m7b_fmt_upto8_(char *out, uint32_t x)
{
	char *p = out;
	uint64_t y;

	if (x < 100) {
		if (x < 10) {
			*p = (char)('0' + x);
			return 1;
		}
		memcpy(p, m7b_dec_pairs_ + 2 * x, 2);
		return 2;
	}
	if (x < 10000) {
		y = x * 42949673ull; /* 2^32 / 100, rounded up */
		p = m7b_lead_(p, &y, x < 1000);
	} else if (x < 1000000) {
		y = x * 429497ull; /* 2^32 / 10^4, rounded up */
		p = m7b_lead_(p, &y, x < 100000);
		p = m7b_pair_(p, &y);
	} else {
		y = m7b_frac8_(x);
		p = m7b_lead_(p, &y, x < 10000000);
		p = m7b_pair_(p, &y);
		p = m7b_pair_(p, &y);
	}
	p = m7b_pair_(p, &y);
	return (size_t)(p - out);
}

/* m7b_fmt_u64, inline: for renderers that write several numbers per line (forced: a
 * call per number would cost as much as the digits). */
M7B_NUMFMT_INLINE_ size_t m7b_fmt_u64_inline(char *out, uint64_t v)
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

/* Eight digits each of x at a and of y at b (both < 10^8, leading zeros kept). */
static inline void m7b_fmt_dec8_x2(char *a, char *b, uint32_t x, uint32_t y)
{
	m7b_fmt_dec8(a, x);
	m7b_fmt_dec8(b, y);
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
