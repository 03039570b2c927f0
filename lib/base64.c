/* Base64 (RFC 4648, standard alphabet, padded) for FRAME payloads and send requests. */
#include <errno.h>
#include <stdint.h>

#include "m7bridge/client.h"

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int m7b_base64_encode(const void *in, size_t n, char *out, size_t cap)
{
	const uint8_t *p = in;
	size_t need = (n + 2) / 3 * 4;
	size_t o = 0;

	if (need >= cap || need > INT32_MAX)
		return -ENOSPC;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		size_t left = n - i;

		if (left > 1)
			v |= (uint32_t)p[i + 1] << 8;
		if (left > 2)
			v |= p[i + 2];
		out[o++] = b64_alphabet[(v >> 18) & 63];
		out[o++] = b64_alphabet[(v >> 12) & 63];
		out[o++] = left > 1 ? b64_alphabet[(v >> 6) & 63] : '=';
		out[o++] = left > 2 ? b64_alphabet[v & 63] : '=';
	}
	out[o] = '\0';
	return (int)o;
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
	int bits = 0;

	/* Padding is optional (the daemon accepts both); if present it must complete a quad. */
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
	return (int)o;
}
