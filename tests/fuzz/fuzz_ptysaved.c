/* libFuzzer target for the header of a raw pty's buffers saved across a restart (the
 * descriptor comes back from the service manager's store, so its bytes are outside input).
 * Input: the 16-byte header, then the size of what holds it (u64, little-endian). Checks:
 * never crashes or reads past the header; an accepted header accounts for every byte of
 * the size, and is the header the daemon writes for those two lengths. */
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "ptybuf.h"

static uint64_t le(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t hdr[PTYBUF_SAVED_HDR], again[PTYBUF_SAVED_HDR];
	size_t to_m7 = 0, to_app = 0;

	if (size < PTYBUF_SAVED_HDR + 8)
		return 0;
	memcpy(hdr, data, sizeof(hdr));
	uint64_t held = le(data + PTYBUF_SAVED_HDR, 8);
	/* The usual case too: a size that matches the header's own lengths. */
	if (held & 1)
		held = PTYBUF_SAVED_HDR + le(hdr + 8, 4) + le(hdr + 12, 4);
	if (ptybuf_saved_parse(hdr, held, &to_m7, &to_app) != 0)
		return 0;
	CHECK(held == PTYBUF_SAVED_HDR + (uint64_t)to_m7 + to_app);
	ptybuf_saved_header(again, to_m7, to_app);
	CHECK(memcmp(again, hdr, sizeof(hdr)) == 0);
	return 0;
}
