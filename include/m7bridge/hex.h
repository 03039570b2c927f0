/* Hex text (either case) to bytes: the "hex" encoding of FRAME and send. */
#ifndef M7BRIDGE_HEX_H
#define M7BRIDGE_HEX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Value of one hex digit, or -1. */
int m7b_hex_digit(char c);
/* Decodes n hex digits into out; returns the byte count, -EBADMSG (odd count or not a
 * digit) or -ENOSPC. */
int m7b_hex_decode(const char *in, size_t n, uint8_t *out, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
