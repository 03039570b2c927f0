/* Word-at-a-time search for a 0x00 byte and copy up to it: the inner loops of the COBS
 * encoder and of the stream decoder. Private to lib/; freestanding (memcpy only). */
#ifndef M7B_COBS_SCAN_H
#define M7B_COBS_SCAN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if UINTPTR_MAX > 0xFFFFFFFFu
typedef uint64_t cobs_word;
#define COBS_ONES  0x0101010101010101ull
#define COBS_HIGHS 0x8080808080808080ull
#else
typedef uint32_t cobs_word;    /* Cortex-M7: 32-bit words, unaligned loads allowed */
#define COBS_ONES  0x01010101u
#define COBS_HIGHS 0x80808080u
#endif

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define COBS_LITTLE_ENDIAN 1
/* Index of the first zero byte of a word, given its mask from the test below. In memory
 * order the lowest flagged byte is exact (a borrow only runs towards higher bytes), so on
 * little-endian it is the lowest set bit. */
static inline size_t cobs_first_zero(cobs_word z)
{
	if (sizeof(cobs_word) == 8)
		return (size_t)__builtin_ctzll((unsigned long long)z) / 8u;
	return (size_t)__builtin_ctz((unsigned)z) / 8u;
}
#endif

/* 0x80 in exactly the bytes of w that are 0x00 (no borrow between bytes, unlike the test
 * below, so every zero can be taken from it in turn). */
static inline cobs_word cobs_zero_mask(cobs_word w)
{
	return ~(((w & ~COBS_HIGHS) + ~COBS_HIGHS) | w | ~COBS_HIGHS);
}

/* Returns the index of the first 0x00 in p[0..n), or n if there is none. A word holds
 * a zero byte iff (w - 0x01..01) & ~w & 0x80..80 is non-zero (no false positives for
 * the first zero; the byte loop below pins it down). */
static inline size_t cobs_scan_zero(const uint8_t *p, size_t n)
{
	size_t i = 0;

#ifdef COBS_LITTLE_ENDIAN
	/* Two words per step: one test and branch for both. */
	while (n - i >= 2 * sizeof(cobs_word)) {
		cobs_word w0, w1, z0, z1;

		memcpy(&w0, p + i, sizeof(w0));
		memcpy(&w1, p + i + sizeof(w0), sizeof(w1));
		z0 = (w0 - COBS_ONES) & ~w0 & COBS_HIGHS;
		z1 = (w1 - COBS_ONES) & ~w1 & COBS_HIGHS;
		if (z0 | z1)
			return i + (z0 ? cobs_first_zero(z0) : sizeof(w0) + cobs_first_zero(z1));
		i += 2 * sizeof(cobs_word);
	}
#endif
	while (n - i >= sizeof(cobs_word)) {
		cobs_word w, z;

		memcpy(&w, p + i, sizeof(w));
		z = (w - COBS_ONES) & ~w & COBS_HIGHS;
		if (z) {
#ifdef COBS_LITTLE_ENDIAN
			return i + cobs_first_zero(z);
#else
			break; /* the byte loop pins it down */
#endif
		}
		i += sizeof(w);
	}
	while (i < n && p[i] != 0)
		i++;
	return i;
}

/* Copies src to dst up to the first 0x00 or n bytes, whichever comes first; returns the
 * number copied. One pass (scan and copy together) and no call for short runs, which
 * dominate headers and binary payloads. */
static inline size_t cobs_copy_nonzero(uint8_t *dst, const uint8_t *src, size_t n)
{
	size_t i = 0;

	while (n - i >= sizeof(cobs_word)) {
		cobs_word w;

		memcpy(&w, src + i, sizeof(w));
		if ((w - COBS_ONES) & ~w & COBS_HIGHS)
			break;
		memcpy(dst + i, &w, sizeof(w));
		i += sizeof(w);
	}
	while (i < n && src[i] != 0) {
		dst[i] = src[i];
		i++;
	}
	return i;
}

#endif
