/* The raw-channel probe: a configured value (escapes) and firmware bytes in any split,
 * checked against a plain search for the pattern. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "probe.h"

/* Does pat occur in hay? The obvious way, to check the streaming matcher against. */
static int contains(const uint8_t *hay, size_t n, const uint8_t *pat, size_t m)
{
	if (m == 0)
		return n > 0;
	for (size_t i = 0; i + m <= n; i++)
		if (memcmp(hay + i, pat, m) == 0)
			return 1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Input: an escaped pattern up to the first NUL, then bytes; each byte's low bits
	 * after the pattern also decide where reads end. */
	const uint8_t *nul = memchr(data, 0, size);
	if (!nul)
		return 0;
	char text[256];
	size_t tl = (size_t)(nul - data);
	if (tl >= sizeof(text))
		return 0;
	memcpy(text, data, tl);
	text[tl] = '\0';
	struct probe_config c = {.period_ms = 10, .timeout_ms = 1000000};
	if (probe_parse_bytes(text, c.expect, sizeof(c.expect), &c.expect_len) < 0)
		return 0;
	CHECK(c.expect_len <= PROBE_BYTES_MAX);
	const uint8_t *bytes = nul + 1;
	size_t n = size - tl - 1;
	struct probe p;
	probe_init(&p, &c);
	probe_start(&p, 0);
	CHECK(probe_tick(&p, 10) == PROBE_SEND);
	size_t off = 0, before = 0;
	int hit = 0;
	while (off < n && !hit) {
		size_t chunk = 1 + bytes[off] % 7;
		if (chunk > n - off)
			chunk = n - off;
		before = off;
		hit = probe_feed(&p, bytes + off, chunk, 11);
		off += chunk;
	}
	/* Answered exactly when the bytes seen so far contain the pattern, and not before
	 * the chunk that completed it. */
	CHECK(hit == contains(bytes, off, c.expect, c.expect_len));
	CHECK(!hit || !contains(bytes, before, c.expect, c.expect_len));
	return 0;
}
