/* Test helpers for the wire codec tests: independent reference CRC-32C and COBS, the
 * wire-v1 test vectors, and a deterministic PRNG. Deliberately naive (bitwise CRC,
 * byte-at-a-time COBS) so they serve as an oracle for the optimised lib/ code. */
#ifndef M7B_WIRE_TESTLIB_H
#define M7B_WIRE_TESTLIB_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "m7bridge/wire.h"

/* The five test vectors of the fixed protocol note, delimiter included. */
struct wt_vector {
	const char *name;
	const char *hex;
};
static const struct wt_vector wt_vectors[] = {
	{"hello", "0301010101010101021d0103127a09d4c3b2a115cd5b0701010104de01080e6d3773696d2031"
		  "2e30fbfbc5ff00"},
	{"data", "0401020202010101021503e80301010101010342040101010101010401686905c531453f00"},
	{"heartbeat", "030103010202010102080480841e0101010105b808496500"},
	{"host_hello", "03018501010101010101055e9a12a400"},
	{"ping", "0301830102070101010105a17e051100"},
};
#define WT_NVECTORS (sizeof(wt_vectors) / sizeof(wt_vectors[0]))

/* Parses a hex string into out; returns the byte count. */
static inline size_t wt_unhex(uint8_t *out, size_t cap, const char *hex)
{
	size_t n = 0;
	for (; hex[0] && hex[1] && n < cap; hex += 2) {
		unsigned v = 0;
		for (int i = 0; i < 2; i++) {
			char c = hex[i];
			v <<= 4;
			v |= (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
		}
		out[n++] = (uint8_t)v;
	}
	return n;
}

/* Bitwise CRC-32C, reflected, init and xorout 0xFFFFFFFF. */
static inline uint32_t wt_crc32c(const uint8_t *p, size_t n)
{
	uint32_t c = 0xFFFFFFFFu;
	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = (c & 1u) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
	}
	return c ^ 0xFFFFFFFFu;
}

/* Plain COBS encoder (no trailing code after a full 254-byte run at the end, no
 * delimiter). out must hold M7B_COBS_MAX(n) bytes. Returns the encoded length. */
static inline size_t wt_cobs_encode(uint8_t *out, const uint8_t *in, size_t n)
{
	size_t o = 1, code_at = 0;
	uint8_t code = 1;
	for (size_t i = 0; i < n; i++) {
		if (in[i] == 0) {
			out[code_at] = code;
			code_at = o++;
			code = 1;
			continue;
		}
		out[o++] = in[i];
		if (++code == 0xFF) {
			out[code_at] = code;
			code = 1;
			if (i + 1 < n)
				code_at = o++;
			else
				return o; /* the final full run needs no further code byte */
		}
	}
	out[code_at] = code;
	return o;
}

/* Builds a body (header, payload, CRC) into out; returns its size. */
static inline size_t wt_body(uint8_t *out, uint8_t ver, uint8_t type, uint8_t port, uint8_t flags,
			     uint32_t seq, const uint8_t *payload, uint16_t len)
{
	out[0] = ver;
	out[1] = type;
	out[2] = port;
	out[3] = flags;
	out[4] = (uint8_t)seq;
	out[5] = (uint8_t)(seq >> 8);
	out[6] = (uint8_t)(seq >> 16);
	out[7] = (uint8_t)(seq >> 24);
	out[8] = (uint8_t)len;
	out[9] = (uint8_t)(len >> 8);
	if (len)
		memcpy(out + 10, payload, len);
	uint32_t crc = wt_crc32c(out, 10u + len);
	for (int i = 0; i < 4; i++)
		out[10 + len + i] = (uint8_t)(crc >> (8 * i));
	return 14u + len;
}

/* Encodes a body as a frame on the wire (COBS + 0x00); returns its size. */
static inline size_t wt_frame(uint8_t *out, const uint8_t *body, size_t n)
{
	size_t k = wt_cobs_encode(out, body, n);
	out[k] = 0;
	return k + 1;
}

/* xorshift64*: deterministic test data. */
static inline uint64_t wt_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

static inline void wt_fill(uint64_t *s, uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(wt_rand(s) >> 56);
}

#endif
