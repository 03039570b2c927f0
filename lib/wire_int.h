/* Wire protocol v1 internals shared by lib/'s codec files: little-endian loads and the
 * body check, inline so the stream decoder's fast path has them without a call.
 * Private to lib/; freestanding (memcpy only). */
#ifndef M7B_WIRE_INT_H
#define M7B_WIRE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "m7bridge/wire.h"

#include "crc32c_int.h"

/* Little-endian loads: one unaligned load on little-endian hosts (x86-64, AArch64 and
 * the Cortex-M7 all allow them; memcpy tells the compiler so), bytes elsewhere. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
static inline uint16_t wire_get16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline uint32_t wire_get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline uint64_t wire_get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}
#else
static inline uint16_t wire_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t wire_get32(const uint8_t *p)
{
	return (uint32_t)wire_get16(p) | (uint32_t)wire_get16(p + 2) << 16;
}

static inline uint64_t wire_get64(const uint8_t *p)
{
	return (uint64_t)wire_get32(p) | (uint64_t)wire_get32(p + 4) << 32;
}
#endif

_Static_assert(offsetof(struct m7b_frame, ver) == 0 && offsetof(struct m7b_frame, type) == 1 &&
		       offsetof(struct m7b_frame, port) == 2 &&
		       offsetof(struct m7b_frame, flags) == 3 &&
		       offsetof(struct m7b_frame, seq) == 4,
	       "struct m7b_frame starts as a body does");

/* m7b_wire_parse: the checks in its documented order, then the header into f. fast: the
 * caller has seen crc32c_fast_ok() (a constant, so the test drops out). */
__attribute__((always_inline)) static inline int wire_parse_as(const uint8_t *body, size_t n,
							       struct m7b_frame *f, bool fast)
{
	uint32_t crc;
	uint16_t len;

	if (n < M7B_BODY_MIN || n > M7B_BODY_MAX)
		return -M7B_EMSGSIZE;
	len = wire_get16(body + 8);
	if ((size_t)len + M7B_BODY_MIN != n)
		return -M7B_EMSGSIZE;
	crc = fast ? crc32c_fast(0, body, n - M7B_CRC_SIZE)
		   : crc32c_inline(0, body, n - M7B_CRC_SIZE);
	if (crc != wire_get32(body + n - M7B_CRC_SIZE))
		return -M7B_EBADMSG;
	if (body[0] != M7B_WIRE_VERSION)
		return -M7B_EPROTO;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	/* ver, type, port, flags and seq are laid out in f as in the body: one copy. */
	memcpy(f, body, 8);
#else
	f->ver = body[0];
	f->type = body[1];
	f->port = body[2];
	f->flags = body[3];
	f->seq = wire_get32(body + 4);
#endif
	f->len = len;
	f->payload = body + M7B_HDR_SIZE;
	return 0;
}

/* m7b_wire_parse. */
static inline int wire_parse(const uint8_t *body, size_t n, struct m7b_frame *f)
{
	return wire_parse_as(body, n, f, false);
}

#endif
