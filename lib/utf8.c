/* UTF-8 validity. */
#include "m7bridge/utf8.h"

#include <stdint.h>

size_t m7b_utf8_seq(const void *src, size_t n)
{
	const uint8_t *p = src;
	unsigned c = p[0];
	if (c < 0x80)
		return 1;
	size_t len = c >= 0xc2 && c <= 0xdf   ? 2
		     : c >= 0xe0 && c <= 0xef ? 3
		     : c >= 0xf0 && c <= 0xf4 ? 4
					      : 0;
	if (len == 0 || n < len)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	/* overlong 3- and 4-byte forms, surrogates, past U+10FFFF */
	if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] > 0x9f) ||
	    (c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] > 0x8f))
		return 0;
	return len;
}

bool m7b_utf8_valid(const void *src, size_t n)
{
	const uint8_t *s = src;
	for (size_t i = 0; i < n;) {
		size_t l = m7b_utf8_seq(s + i, n - i);
		if (l == 0)
			return false;
		i += l;
	}
	return true;
}
