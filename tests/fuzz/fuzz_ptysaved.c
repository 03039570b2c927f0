/* libFuzzer target for the header and path of a raw pty's save kept across a restart
 * (the descriptor comes back from the service manager's store, so its bytes are outside
 * input, and the path it names is a link a start may remove). Input: the size of the
 * whole save (u64, little-endian; odd: the size the header's own lengths give), then its
 * first bytes. Checks: never crashes or reads past what it is given; an accepted save
 * accounts for every byte of the size, names an absolute path with no NUL in it (or
 * none, in an older daemon's save), and a current one is the header the daemon writes
 * for those two lengths and that path. */
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
	static struct ptybuf_saved sv;
	static uint8_t again[PTYBUF_SAVED_PREFIX];

	if (size < 8)
		return 0;
	const uint8_t *p = data + 8;
	size_t n = size - 8;
	if (n > PTYBUF_SAVED_PREFIX)
		n = PTYBUF_SAVED_PREFIX;
	uint64_t held = le(data, 8);
	/* The usual case too: a size that matches the header's own lengths. */
	if ((held & 1) && n >= PTYBUF_SAVED_HDR)
		held = (p[7] == '1' ? PTYBUF_SAVED_HDR_V1 : PTYBUF_SAVED_HDR + le(p + 16, 4)) +
		       le(p + 8, 4) + le(p + 12, 4);
	if (held < n)
		held = n; /* the daemon reads no more than the file holds */
	if (ptybuf_saved_parse(p, n, held, &sv) != 0)
		return 0;
	size_t path_len = strlen(sv.path);
	CHECK(held == sv.data_off + (uint64_t)sv.to_m7 + sv.to_app);
	CHECK(sv.data_off <= n);
	if (p[7] == '1') {
		CHECK(path_len == 0 && sv.data_off == PTYBUF_SAVED_HDR_V1);
		return 0;
	}
	CHECK(sv.path[0] == '/' && sv.data_off == PTYBUF_SAVED_HDR + path_len);
	CHECK(ptybuf_saved_header(again, sizeof(again), sv.to_m7, sv.to_app, sv.path) ==
	      sv.data_off);
	CHECK(memcmp(again, p, (size_t)sv.data_off) == 0);
	return 0;
}
