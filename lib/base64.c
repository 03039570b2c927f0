/* Base64 (RFC 4648, standard alphabet). The encoder runs once per FRAME on the daemon's
 * hot path, so whole groups go through a branch-free loop. */
#include "m7bridge/base64.h"

#include <errno.h>

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int m7b_base64_encode(const void *in, size_t n, char *out, size_t cap)
{
	const uint8_t *p = in;
	size_t need = (n + 2) / 3 * 4, i = 0;
	char *o = out;

	if (need >= cap || need > INT32_MAX)
		return -ENOSPC;
	for (; i + 3 <= n; i += 3, o += 4) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

		o[0] = b64_alphabet[v >> 18];
		o[1] = b64_alphabet[(v >> 12) & 63];
		o[2] = b64_alphabet[(v >> 6) & 63];
		o[3] = b64_alphabet[v & 63];
	}
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
