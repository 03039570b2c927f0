/* CRC-32C internals for lib/'s codec files: m7b_crc32c with the x86-64 SSE4.2 loop
 * inline, so the stream decoder checks a body without a call. Private to lib/;
 * freestanding (memcpy only). */
#ifndef M7B_CRC32C_INT_H
#define M7B_CRC32C_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "m7bridge/crc32c.h"

#if defined(__x86_64__) && !defined(M7B_CRC32C_PORTABLE) && !defined(M7B_FREESTANDING)
#define CRC32C_SSE42 1

/* One crc32 instruction on the 2^k bytes at p (k = 3: q, 2: l, 1: w, 0: b). Inline
 * assembly rather than the intrinsics: those need the function built for SSE4.2,
 * which would keep the loop out of the decoder's code; the run-time check in
 * crc32c_inline guards it instead. */
#define CRC32C_STEP(suffix, type, c, p)                                                            \
	do {                                                                                       \
		type v_;                                                                           \
                                                                                                   \
		memcpy(&v_, (p), sizeof(v_));                                                      \
		__asm__("crc32" suffix " %1, %0" : "+r"(c) : "rm"(v_));                            \
	} while (0)

/* CRC32C_STEP on a 64-bit c for the 4, 2 and 1-byte forms, which take a 32-bit one. */
#define CRC32C_STEP32(suffix, type, c, p)                                                          \
	do {                                                                                       \
		type v_;                                                                           \
                                                                                                   \
		memcpy(&v_, (p), sizeof(v_));                                                      \
		__asm__("crc32" suffix " %1, %k0" : "+r"(c) : "rm"(v_));                           \
	} while (0)

/* 32 bytes at p into c: four 8-byte steps. */
#define CRC32C_32BYTES(c, p)                                                                       \
	do {                                                                                       \
		CRC32C_STEP("q", uint64_t, c, (p));                                                \
		CRC32C_STEP("q", uint64_t, c, (p) + 8);                                            \
		CRC32C_STEP("q", uint64_t, c, (p) + 16);                                           \
		CRC32C_STEP("q", uint64_t, c, (p) + 24);                                           \
	} while (0)

/* m7b_crc32c on a CPU with SSE4.2: 64 bytes per loop step while 128 or more are left,
 * then one instruction each for the 64, 32, 16, 8, 4, 2 and 1 bytes left: a wire body
 * (under 500 bytes) costs few more instructions than its 8-byte steps, and one under 128
 * bytes runs no loop at all. A count, not an end pointer: p may be NULL when n is 0. */
__attribute__((always_inline)) static inline uint32_t crc32c_sse42(uint32_t crc, const uint8_t *p,
								   size_t n)
{
	uint64_t c64 = (uint32_t)~crc;

	for (; n >= 128; n -= 64, p += 64) {
		CRC32C_32BYTES(c64, p);
		CRC32C_32BYTES(c64, p + 32);
	}
	if (n & 64) {
		CRC32C_32BYTES(c64, p);
		CRC32C_32BYTES(c64, p + 32);
		p += 64;
	}
	if (n & 32) {
		CRC32C_32BYTES(c64, p);
		p += 32;
	}
	if (n & 16) {
		CRC32C_STEP("q", uint64_t, c64, p);
		CRC32C_STEP("q", uint64_t, c64, p + 8);
		p += 16;
	}
	if (n & 8) {
		CRC32C_STEP("q", uint64_t, c64, p);
		p += 8;
	}
	/* The 32-bit steps on the same register, named as its low half (%k): the upper
	 * half of the 64-bit step's result is zero, and a copy would cost moves. */
	if (n & 4) {
		CRC32C_STEP32("l", uint32_t, c64, p);
		p += 4;
	}
	if (n & 2) {
		CRC32C_STEP32("w", uint16_t, c64, p);
		p += 2;
	}
	if (n & 1)
		CRC32C_STEP32("b", uint8_t, c64, p);
	return ~(uint32_t)c64;
}

/* Whether crc32c_fast() may be used. __builtin_cpu_supports reads a table libgcc fills
 * before main(). */
static inline bool crc32c_fast_ok(void)
{
	return __builtin_cpu_supports("sse4.2");
}

/* m7b_crc32c where crc32c_fast_ok() said so: the SSE4.2 loop, no test and no call, so a
 * caller that tested once has no call left to keep registers across. */
__attribute__((always_inline)) static inline uint32_t crc32c_fast(uint32_t crc, const void *buf,
								  size_t n)
{
	return crc32c_sse42(crc, (const uint8_t *)buf, n);
}

/* m7b_crc32c, the SSE4.2 path inline. */
static inline uint32_t crc32c_inline(uint32_t crc, const void *buf, size_t n)
{
	if (crc32c_fast_ok())
		return crc32c_fast(crc, buf, n);
	return m7b_crc32c(crc, buf, n);
}
#else
/* Elsewhere the hardware path (if any) is no cheaper inline: always m7b_crc32c. */
static inline bool crc32c_fast_ok(void)
{
	return true;
}

static inline uint32_t crc32c_fast(uint32_t crc, const void *buf, size_t n)
{
	return m7b_crc32c(crc, buf, n);
}

static inline uint32_t crc32c_inline(uint32_t crc, const void *buf, size_t n)
{
	return m7b_crc32c(crc, buf, n);
}
#endif

#endif
