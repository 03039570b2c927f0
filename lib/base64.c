/* Base64 (RFC 4648, standard alphabet). The encoder runs once per FRAME on the daemon's
 * hot path: vector steps of 12 bytes (SSSE3, NEON) or 24 (AVX2), chosen at run time on
 * x86-64, and a table of character pairs for the rest, which turns each 3-byte group
 * into two loads. */
#include "m7bridge/base64.h"

#include "base64_int.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Character of a 6-bit value, as a constant expression so the pair table below is built
 * by the compiler (no start-up code, no lock). */
#define B64C(v)                                                                                    \
	((char)((v) < 26    ? 'A' + (v)                                                            \
		: (v) < 52  ? 'a' + (v)-26                                                         \
		: (v) < 62  ? '0' + (v)-52                                                         \
		: (v) == 62 ? '+'                                                                  \
			    : '/'))
#define B64P1(i)                                                                                   \
	{                                                                                          \
		B64C((i) >> 6), B64C((i)&63)                                                       \
	}
#define B64P4(i)    B64P1(i), B64P1((i) + 1), B64P1((i) + 2), B64P1((i) + 3)
#define B64P16(i)   B64P4(i), B64P4((i) + 4), B64P4((i) + 8), B64P4((i) + 12)
#define B64P64(i)   B64P16(i), B64P16((i) + 16), B64P16((i) + 32), B64P16((i) + 48)
#define B64P256(i)  B64P64(i), B64P64((i) + 64), B64P64((i) + 128), B64P64((i) + 192)
#define B64P1024(i) B64P256(i), B64P256((i) + 256), B64P256((i) + 512), B64P256((i) + 768)

/* The two characters of every 12-bit value (8 KiB): two loads per 3 input bytes. */
static const char b64_pairs[4096][2] = {B64P1024(0), B64P1024(1024), B64P1024(2048),
					B64P1024(3072)};

/* The largest input whose text (without the NUL) an int can count: 4 * ceil(n / 3) must
 * not exceed INT32_MAX. */
#define B64_IN_MAX 1610612733u

/* n / 3 for n < 2^32 with one 32-bit multiply (2^33 / 3 rounded up). */
static inline size_t b64_div3(size_t n)
{
	return (size_t)((uint64_t)(uint32_t)n * 0xAAAAAAABu >> 33);
}

/* Whether the text of n bytes and its NUL fit cap bytes (and its length an int). The text
 * is at most 2 n + 2 characters: room past that (what callers give) needs no division. */
static inline bool b64_fits(size_t n, size_t cap)
{
	if (n > B64_IN_MAX)
		return false;
	return cap > 2 * n + 2 || b64_div3(n + 2) * 4 < cap;
}

/* Writes the four characters of the 24-bit group v. */
static inline void b64_quad(char *o, uint32_t v)
{
	memcpy(o, b64_pairs[v >> 12], 2);
	memcpy(o + 2, b64_pairs[v & 0xfffu], 2);
}

/* Encodes the last 0..2 bytes [q, end) from o on as a padded group and ends the text
 * with a NUL; returns the length of the whole text from out. */
__attribute__((always_inline)) static inline int b64_pad(const uint8_t *q, const uint8_t *end,
							 char *out, char *o)
{
	if (q < end) {
		uint32_t v = (uint32_t)q[0] << 16;

		if (q + 1 < end)
			v |= (uint32_t)q[1] << 8;
		o[0] = b64_alphabet[v >> 18];
		o[1] = b64_alphabet[(v >> 12) & 63];
		o[2] = q + 1 < end ? b64_alphabet[(v >> 6) & 63] : '=';
		o[3] = '=';
		o += 4;
	}
	*o = '\0';
	return (int)(o - out);
}

/* Encodes p[i..n) from o on, padding included, and ends the text with a NUL; returns
 * the length of the whole text from out. The whole encoder where there is no vector
 * unit, and the tail (under 12 bytes) after the vector steps. */
__attribute__((always_inline)) static inline int b64_scalar(const uint8_t *p, size_t i, size_t n,
							    char *out, char *o)
{
	/* Six bytes per step from one 8-byte big-endian load while 8 bytes are readable. */
	for (; i + 8 <= n; i += 6, o += 8) {
		uint64_t w;

		memcpy(&w, p + i, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		w = __builtin_bswap64(w);
#endif
		b64_quad(o, (uint32_t)(w >> 40));
		b64_quad(o + 4, (uint32_t)(w >> 16) & 0xffffffu);
	}
	for (; i + 3 <= n; i += 3, o += 4)
		b64_quad(o, (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2]);
	if (i == n) {
		/* No arithmetic on p here: it may be NULL when n is 0. */
		*o = '\0';
		return (int)(o - out);
	}
	return b64_pad(p + i, p + n, out, o);
}

/* Vector steps: 12 input bytes (four groups) become 16 characters. A step loads 16
 * bytes and uses 12 of them: the first 12 while 16 bytes are readable, else (the last
 * step) the last 12 of the 16 that end the input, so no byte outside it is read. Each
 * group a b c is spread over a 32-bit lane as b a c b: the low half a:b holds the first
 * two 6-bit values at bits 10 and 4, the high half b:c the last two at bits 6 and 0; one
 * multiply per half moves each to the bottom of a byte of its own. */
#if !defined(M7B_BASE64_PORTABLE) && defined(__x86_64__)
#include <immintrin.h>

/* Byte k of each lane of the spread, for a step whose 12 bytes start at byte off. */
#define B64_SPREAD(off)                                                                            \
	(off) + 1, (off) + 0, (off) + 2, (off) + 1, (off) + 4, (off) + 3, (off) + 5, (off) + 4,    \
		(off) + 7, (off) + 6, (off) + 8, (off) + 7, (off) + 10, (off) + 9, (off) + 11,     \
		(off) + 10
/* What to add to a 6-bit value of each class (below) to make its character. */
#define B64_OFFSETS                                                                                \
	'A', 'a' - 26, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52,       \
		'0' - 52, '0' - 52, '0' - 52, '+' - 62, '/' - 63, 0, 0
#define B64_X8(v) v, v, v, v, v, v, v, v

/* The constants of a step, as 256-bit rows (a 128-bit step takes the first half). */
struct b64_consts {
	int8_t spread[32]; /* 16..31: for 12 bytes that start at byte 4 */
	uint32_t hi_mask[8], hi_mul[8], lo_mask[8], lo_mul[8];
	uint32_t c51[8], c25[8];
	int8_t offsets[32];
};
static const struct b64_consts b64_k __attribute__((aligned(32))) = {
	{B64_SPREAD(0), B64_SPREAD(4)},
	/* a:b & 0xfc00 times 2^6, b:c & 0x0fc0 times 2^10, high halves: bits 10, 6 -> 0 */
	{B64_X8(0x0fc0fc00u)},
	{B64_X8(0x04000040u)},
	/* a:b & 0x03f0 times 2^4, b:c & 0x003f times 2^8, low halves: bits 4, 0 -> 8 */
	{B64_X8(0x003f03f0u)},
	{B64_X8(0x01000010u)},
	{B64_X8(0x33333333u)}, /* 51 in each byte */
	{B64_X8(0x19191919u)}, /* 25 */
	{B64_OFFSETS, B64_OFFSETS},
};

/* The constants as the vector code reads them: through a pointer the compiler cannot
 * see through, or it rebuilds each repeating one in registers (three instructions where
 * one load does). */
static inline const struct b64_consts *b64_consts_get(void)
{
	const struct b64_consts *k = &b64_k;

	__asm__("" : "+r"(k));
	return k;
}

#define B64_K128(field)	   _mm_load_si128((const void *)k->field)
#define B64_K128_HI(field) _mm_load_si128((const void *)(k->field + 16))
#define B64_K256(field)	   _mm256_load_si256((const void *)k->field)

/* Characters of 6-bit values by class: 0 for A-Z, 1 for a-z, 2..11 for 0-9, 12 '+',
 * 13 '/' (v - 51 saturated, plus 1 from 26 on) selects what to add to v. */
__attribute__((target("ssse3"), always_inline)) static inline void
b64_step_ssse3(const struct b64_consts *k, const uint8_t *p, char *o, __m128i spread)
{
	const __m128i in = _mm_shuffle_epi8(_mm_loadu_si128((const void *)p), spread);
	const __m128i v = _mm_or_si128(
		_mm_mulhi_epu16(_mm_and_si128(in, B64_K128(hi_mask)), B64_K128(hi_mul)),
		_mm_mullo_epi16(_mm_and_si128(in, B64_K128(lo_mask)), B64_K128(lo_mul)));
	const __m128i cls =
		_mm_sub_epi8(_mm_subs_epu8(v, B64_K128(c51)), _mm_cmpgt_epi8(v, B64_K128(c25)));

	_mm_storeu_si128((void *)o, _mm_add_epi8(v, _mm_shuffle_epi8(B64_K128(offsets), cls)));
}

/* The 12-byte steps after i while at least 12 bytes are left, then the scalar tail. */
__attribute__((target("ssse3"), always_inline)) static inline int
b64_finish_ssse3(const uint8_t *p, size_t i, size_t n, char *out, char *o)
{
	const struct b64_consts *k = b64_consts_get();

	for (; i + 16 <= n; i += 12, o += 16)
		b64_step_ssse3(k, p + i, o, B64_K128(spread));
	if (i + 12 <= n && i >= 4) {
		b64_step_ssse3(k, p + i - 4, o, B64_K128_HI(spread));
		i += 12;
		o += 16;
	}
	return b64_scalar(p, i, n, out, o);
}

__attribute__((target("ssse3"))) static int b64_encode_ssse3(const uint8_t *p, size_t n, char *out)
{
	return b64_finish_ssse3(p, 0, n, out, out);
}

/* Two steps at once in the two halves of a 256-bit register (the byte shuffle stays
 * within each half): the 24 bytes at p, loaded as p[0..16) and p[8..24). */
__attribute__((target("avx2"), always_inline)) static inline void
b64_step_avx2(const struct b64_consts *k, const uint8_t *p, char *o, __m256i spread,
	      __m256i offsets)
{
	const __m256i in = _mm256_shuffle_epi8(
		_mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const void *)p)),
					_mm_loadu_si128((const void *)(p + 8)), 1),
		spread);
	const __m256i v = _mm256_or_si256(
		_mm256_mulhi_epu16(_mm256_and_si256(in, B64_K256(hi_mask)), B64_K256(hi_mul)),
		_mm256_mullo_epi16(_mm256_and_si256(in, B64_K256(lo_mask)), B64_K256(lo_mul)));
	const __m256i cls = _mm256_sub_epi8(_mm256_subs_epu8(v, B64_K256(c51)),
					    _mm256_cmpgt_epi8(v, B64_K256(c25)));

	_mm256_storeu_si256((void *)o, _mm256_add_epi8(v, _mm256_shuffle_epi8(offsets, cls)));
}

__attribute__((target("avx2"))) static int b64_encode_avx2(const uint8_t *p, size_t n, char *out)
{
	const uint8_t *end;
	const struct b64_consts *k;
	__m256i spread, offsets;
	size_t groups;
	char *o = out;

	if (n < 24)
		return b64_encode_ssse3(p, n, out);
	end = p + n;
	k = b64_consts_get();
	/* In registers: the stores below might change *k as far as the compiler knows. */
	spread = B64_K256(spread);
	offsets = B64_K256(offsets);
	do {
		b64_step_avx2(k, p, o, spread, offsets);
		p += 24;
		o += 32;
	} while (p <= end - 24);
	/* A multiple of 24 bytes (a 64-byte DATA frame's 48) is done: no tail to look at. */
	if (p == end) {
		*o = '\0';
		return (int)(o - out);
	}
	/* Up to 7 whole groups left (r * 11 >> 5 is r / 3 for r < 24): one more step that
	 * ends with the last of them and starts on groups already done (it writes the
	 * same characters again). */
	groups = (size_t)(end - p) * 11 >> 5;
	if (groups) {
		p += groups * 3;
		o += groups * 4;
		b64_step_avx2(k, p - 24, o - 32, spread, offsets);
	}
	return b64_pad(p, end, out, o);
}

/* x86-64 guarantees only SSE2: the widest vector steps this CPU has.
 * __builtin_cpu_supports reads a table libgcc fills before main(). */
static enum base64_path b64_best(void)
{
	if (__builtin_cpu_supports("avx2"))
		return BASE64_AVX2;
	if (__builtin_cpu_supports("ssse3"))
		return BASE64_SSSE3;
	return BASE64_SCALAR;
}

static int b64_encode(enum base64_path path, const uint8_t *p, size_t n, char *out)
{
	if (path == BASE64_AVX2)
		return b64_encode_avx2(p, n, out);
	if (path == BASE64_SSSE3)
		return b64_encode_ssse3(p, n, out);
	return b64_scalar(p, 0, n, out, out);
}

static int b64_encode_scalar(const uint8_t *p, size_t n, char *out)
{
	return b64_scalar(p, 0, n, out, out);
}

typedef int (*b64_encoder)(const uint8_t *p, size_t n, char *out);
static int b64_encode_first(const uint8_t *p, size_t n, char *out);
/* The encoder for this CPU, chosen at the first call: a load and a jump per call where the
 * feature test took five instructions. Threads that race at the first call store the same. */
static _Atomic(b64_encoder) b64_chosen = b64_encode_first;

static int b64_encode_first(const uint8_t *p, size_t n, char *out)
{
	enum base64_path path = b64_best();
	b64_encoder e = path == BASE64_AVX2    ? b64_encode_avx2
			: path == BASE64_SSSE3 ? b64_encode_ssse3
					       : b64_encode_scalar;
	atomic_store_explicit(&b64_chosen, e, memory_order_relaxed);
	return e(p, n, out);
}

int m7b_base64_encode(const void *in, size_t n, char *out, size_t cap)
{
	if (!b64_fits(n, cap))
		return -ENOSPC;
	return atomic_load_explicit(&b64_chosen, memory_order_relaxed)(in, n, out);
}
#elif !defined(M7B_BASE64_PORTABLE) && defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>

/* One step, as on x86: NEON shifts each 16-bit half by a count of its own, and the
 * 64-character alphabet is a single table lookup. */
static inline void b64_step_neon(const uint8_t *p, char *o, uint8x16_t spread,
				 uint8x16x4_t alphabet)
{
	static const int16_t down[8] = {-10, -6, -10, -6, -10, -6, -10, -6};
	static const int16_t up[8] = {4, 8, 4, 8, 4, 8, 4, 8};
	const uint16x8_t in = vreinterpretq_u16_u8(vqtbl1q_u8(vld1q_u8(p), spread));
	const uint16x8_t hi = vshlq_u16(
		vandq_u16(in, vreinterpretq_u16_u32(vdupq_n_u32(0x0fc0fc00))), vld1q_s16(down));
	const uint16x8_t lo = vshlq_u16(
		vandq_u16(in, vreinterpretq_u16_u32(vdupq_n_u32(0x003f03f0))), vld1q_s16(up));

	vst1q_u8((uint8_t *)o, vqtbl4q_u8(alphabet, vreinterpretq_u8_u16(vorrq_u16(hi, lo))));
}

static int b64_encode_neon(const uint8_t *p, size_t n, char *out)
{
	static const uint8_t spread_bytes[16] = {1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10};
	const uint8x16_t spread = vld1q_u8(spread_bytes);
	const uint8_t *a = (const uint8_t *)b64_alphabet;
	uint8x16x4_t alphabet;
	char *o = out;
	size_t i = 0;

	if (n >= 12) {
		alphabet.val[0] = vld1q_u8(a);
		alphabet.val[1] = vld1q_u8(a + 16);
		alphabet.val[2] = vld1q_u8(a + 32);
		alphabet.val[3] = vld1q_u8(a + 48);
		for (; i + 16 <= n; i += 12, o += 16)
			b64_step_neon(p + i, o, spread, alphabet);
		if (i + 12 <= n && i >= 4) {
			b64_step_neon(p + i - 4, o, vaddq_u8(spread, vdupq_n_u8(4)), alphabet);
			i += 12;
			o += 16;
		}
	}
	return b64_scalar(p, i, n, out, o);
}

/* NEON is part of the AArch64 baseline: no run-time check. */
static enum base64_path b64_best(void)
{
	return BASE64_NEON;
}

static int b64_encode(enum base64_path path, const uint8_t *p, size_t n, char *out)
{
	if (path == BASE64_NEON)
		return b64_encode_neon(p, n, out);
	return b64_scalar(p, 0, n, out, out);
}

int m7b_base64_encode(const void *in, size_t n, char *out, size_t cap)
{
	if (!b64_fits(n, cap))
		return -ENOSPC;
	return b64_encode_neon(in, n, out);
}
#else
static enum base64_path b64_best(void)
{
	return BASE64_SCALAR;
}

static int b64_encode(enum base64_path path, const uint8_t *p, size_t n, char *out)
{
	(void)path;
	return b64_scalar(p, 0, n, out, out);
}

int m7b_base64_encode(const void *in, size_t n, char *out, size_t cap)
{
	if (!b64_fits(n, cap))
		return -ENOSPC;
	return b64_scalar(in, 0, n, out, out);
}
#endif

enum base64_path base64_best_path(void)
{
	return b64_best();
}

int base64_encode_with(enum base64_path path, const void *in, size_t n, char *out, size_t cap)
{
	if (!b64_fits(n, cap))
		return -ENOSPC;
	return b64_encode(path, in, n, out);
}

static const char *const base64_path_names[] = {
	[BASE64_SCALAR] = "scalar",
	[BASE64_SSSE3] = "ssse3",
	[BASE64_AVX2] = "avx2",
	[BASE64_NEON] = "neon",
};

const char *base64_path_to_string(enum base64_path path)
{
	if ((unsigned)path >= sizeof(base64_path_names) / sizeof(base64_path_names[0]))
		return "unknown";
	return base64_path_names[path];
}

/* Value of one alphabet character, or -1. */
static int b64_value(char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

int m7b_base64_decode(const char *in, size_t n, uint8_t *out, size_t cap)
{
	size_t o = 0, full;
	uint32_t acc = 0;
	unsigned bits = 0;

	/* Padding is optional; if present it must complete the last quad. */
	if (n > 0 && in[n - 1] == '=') {
		if (n % 4 != 0)
			return -EBADMSG;
		n -= (n >= 2 && in[n - 2] == '=') ? 2 : 1;
	}
	if (n % 4 == 1 || n / 4 * 3 + 2 > INT32_MAX)
		return -EBADMSG;
	full = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
	if (full > cap)
		return -ENOSPC;
	for (size_t i = 0; i < n; i++) {
		int v = b64_value(in[i]);

		if (v < 0)
			return -EBADMSG;
		acc = (acc << 6 | (uint32_t)v) & 0xFFFFFFu;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	/* Bits left over must be zero: one text per byte string (canonical). */
	if (bits && (acc & ((1u << bits) - 1)))
		return -EBADMSG;
	return (int)o;
}
