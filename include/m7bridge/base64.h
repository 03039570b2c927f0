/* Base64 (RFC 4648, standard alphabet): FRAME payloads and send requests. */
#ifndef M7BRIDGE_BASE64_H
#define M7BRIDGE_BASE64_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Writes n bytes as padded base64 plus a NUL into out; returns the length without the
 * NUL, or -ENOSPC when cap is not more than that length. */
int m7b_base64_encode(const void *in, size_t n, char *out, size_t cap);
/* Decodes n characters (padding optional, trailing bits must be zero); returns the byte
 * count, -EBADMSG (not canonical base64) or -ENOSPC. */
int m7b_base64_decode(const char *in, size_t n, uint8_t *out, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
