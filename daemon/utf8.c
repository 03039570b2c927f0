/* Replacement of invalid UTF-8 and of control characters. Pure. */
#include "utf8.h"

#include "m7bridge/utf8.h"

#include <stdint.h>
#include <string.h>

size_t utf8_clean(char *dst, size_t cap, const void *src, size_t n)
{
	static const char fffd[] = "\xEF\xBF\xBD";
	const uint8_t *s = src;
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		size_t l = s[i] ? m7b_utf8_seq(s + i, n - i) : 0;
		const void *from = l ? (const void *)(s + i) : fffd;
		size_t w = l ? l : 3;
		if (o + w >= cap)
			break;
		memcpy(dst + o, from, w);
		o += w;
		i += l ? l : 1;
	}
	dst[o] = '\0';
	return o;
}

size_t utf8_clean_line(char *dst, size_t cap, const void *src, size_t n)
{
	const uint8_t *s = src, *nul = memchr(s, 0, n);
	if (nul)
		n = (size_t)(nul - s);
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		n--;
	size_t len = utf8_clean(dst, cap, s, n), o = 0;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = (uint8_t)dst[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			dst[o++] = '?';
		} else if (c == 0xc2 && (uint8_t)dst[i + 1] >= 0x80 &&
			   (uint8_t)dst[i + 1] <= 0x9f) {
			dst[o++] = '?'; /* C1: U+0080..U+009F */
			i++;
		} else {
			dst[o++] = (char)c;
		}
	}
	dst[o] = '\0';
	return o;
}
