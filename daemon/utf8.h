/* Text from outside made valid UTF-8, for the renderers, the channel (which keeps the
 * firmware's name) and the log. Pure. */
#ifndef M7B_UTF8_H
#define M7B_UTF8_H

#include <stddef.h>

/* Copies src[0..n) to dst as valid UTF-8 without NUL: each invalid byte and each NUL
 * becomes U+FFFD; stops at a character boundary when dst is full. dst is NUL-terminated
 * (cap >= 1). Returns the bytes written, without the NUL. */
size_t utf8_clean(char *dst, size_t cap, const void *src, size_t n);
/* utf8_clean() for one line of a log: src ends at its first NUL, its trailing CR/LF are
 * dropped, and each control character (C0 but tab, DEL, C1) becomes '?', so that the
 * text shows as text in the journal and stays one line on a terminal. */
size_t utf8_clean_line(char *dst, size_t cap, const void *src, size_t n);

#endif
