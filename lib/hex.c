/* Hex text to bytes. */
#include "m7bridge/hex.h"

#include <errno.h>

int m7b_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int m7b_hex_decode(const char *in, size_t n, uint8_t *out, size_t cap)
{
	if (n % 2)
		return -EBADMSG;
	if (n / 2 > cap)
		return -ENOSPC;
	for (size_t i = 0; i < n; i += 2) {
		int hi = m7b_hex_digit(in[i]), lo = m7b_hex_digit(in[i + 1]);

		if (hi < 0 || lo < 0)
			return -EBADMSG;
		out[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	return (int)(n / 2);
}
