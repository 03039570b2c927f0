/* Base64 (RFC 4648, standard alphabet). The encoder runs once per FRAME on the daemon's
 * hot path: a table of character pairs turns each 3-byte group into two loads. */
#include "m7bridge/base64.h"

#include <errno.h>
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

/* Writes the four characters of the 24-bit group v. */
static inline void b64_quad(char *o, uint32_t v)
{
	memcpy(o, b64_pairs[v >> 12], 2);
	memcpy(o + 2, b64_pairs[v & 0xfffu], 2);
}

int m7b_base64_encode(const void *in, size_t n, char *out, size_t cap)
{
	const uint8_t *p = in;
	size_t need = (n + 2) / 3 * 4, i = 0;
	char *o = out;

	if (need >= cap || need > INT32_MAX)
		return -ENOSPC;
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
	if (i < n) {
		uint32_t v = (uint32_t)p[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		o[0] = b64_alphabet[v >> 18];
		o[1] = b64_alphabet[(v >> 12) & 63];
		o[2] = i + 1 < n ? b64_alphabet[(v >> 6) & 63] : '=';
		o[3] = '=';
		o += 4;
	}
	*o = '\0';
	return (int)(o - out);
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
