/* CRC-32C (Castagnoli), as the wire protocol uses it. Freestanding. */
#ifndef M7BRIDGE_CRC32C_H
#define M7BRIDGE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Continues crc (0 to start) over n bytes; reflected, init and xorout 0xFFFFFFFF:
 * m7b_crc32c(0, "123456789", 9) == 0xE3069283. */
uint32_t m7b_crc32c(uint32_t crc, const void *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif
