/* UTF-8 validity (RFC 3629), one decoder for the daemon, the client library and the CLI,
 * each of which must send or show only UTF-8. Pure. */
#ifndef M7BRIDGE_UTF8_H
#define M7BRIDGE_UTF8_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes of the valid UTF-8 sequence at s (at most n bytes): 1..4, or 0 when invalid
 * (overlong, surrogate, past U+10FFFF, cut short). n must be at least 1. */
size_t m7b_utf8_seq(const void *s, size_t n);
/* Whether s[0..n) is UTF-8 throughout. */
bool m7b_utf8_valid(const void *s, size_t n);

#ifdef __cplusplus
}
#endif

#endif
