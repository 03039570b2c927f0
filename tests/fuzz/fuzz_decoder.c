/* libFuzzer target for the stream decoder: arbitrary bytes in arbitrary splits.
 * Input: byte 0 picks how the rest is split into pieces; the rest is the stream.
 * Checks: the split never changes the frames or counters (one byte per call, the
 * incremental path alone, is the reference for the one-pass path); every frame re-encodes and
 * re-decodes to itself; counters add up (each 0x00 ends exactly one candidate, every
 * byte is a frame byte, a delimiter or noise). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "m7bridge/cobs.h"
#include "m7bridge/decoder.h"
#include "m7bridge/wire.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct run {
	struct m7b_decoder d;
	size_t nframes;
	uint64_t hash;	     /* over every delivered frame's header and payload */
	uint64_t frame_wire; /* wire bytes of delivered frames, delimiters excluded */
};

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001B3ULL;
	return h;
}

/* Re-encodes a delivered frame and checks a fresh decoder gives it back unchanged. */
static void check_reencode(const struct m7b_frame *f, const uint8_t *body)
{
	uint8_t wire[M7B_FRAME_MAX + 1];
	struct m7b_part part = {f->payload, f->len};
	int n = m7b_wire_encode(wire + 1, M7B_FRAME_MAX, f, &part, 1);
	CHECK(n > 0 && (size_t)n <= M7B_FRAME_MAX);
	wire[0] = 0;

	struct m7b_decoder d2;
	struct m7b_frame g;
	const uint8_t *p = wire, *end = wire + 1 + n;
	m7b_decoder_init(&d2);
	CHECK(m7b_decoder_next(&d2, &p, end, &g) == 1);
	CHECK(p == end);
	CHECK(g.ver == f->ver && g.type == f->type && g.port == f->port);
	CHECK(g.flags == f->flags && g.seq == f->seq && g.len == f->len);
	CHECK(memcmp(g.payload, f->payload, f->len) == 0);
	/* the canonical encoding carries the very body the decoder had assembled */
	CHECK(memcmp(d2.body, body, M7B_BODY_MIN + f->len) == 0);
	CHECK(d2.stats.frames == 1 && d2.stats.rejected == 0 && d2.stats.empty == 1);
}

/* Feeds stream[0..n) in pieces; piece sizes come from a PRNG seeded by mode (0: all at
 * once), or are all `fixed` bytes when that is not 0. */
static void feed(struct run *r, const uint8_t *s, size_t n, uint8_t mode, size_t fixed)
{
	uint64_t x = mode * 0x9E3779B97F4A7C15ULL + 1;
	size_t off = 0;
	while (off < n) {
		size_t k = fixed ? fixed : n - off;
		if (fixed) {
			if (k > n - off)
				k = n - off;
		} else if (mode) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			size_t lim = (mode & 0x80) ? 600 : (size_t)(mode & 0x7F) + 1;
			k = 1 + (size_t)(x % lim);
			if (k > n - off)
				k = n - off;
		}
		const uint8_t *p = s + off, *end = s + off + k;
		struct m7b_frame f;
		while (m7b_decoder_next(&r->d, &p, end, &f) == 1) {
			CHECK(p <= end && p > s);
			CHECK(p[-1] == 0);
			CHECK(f.ver == 1 && f.len <= M7B_PAYLOAD_MAX);
			CHECK(f.payload == r->d.body + M7B_HDR_SIZE);
			/* the frame's wire bytes run back to the previous 0x00 (or the start) */
			size_t endpos = (size_t)(p - s) - 1, start = endpos;
			while (start > 0 && s[start - 1] != 0)
				start--;
			r->frame_wire += endpos - start;
			CHECK(endpos - start >= M7B_BODY_MIN + f.len); /* COBS never shrinks */
			r->hash = mix(r->hash, &f.type, 1);
			r->hash = mix(r->hash, &f.port, 1);
			r->hash = mix(r->hash, &f.flags, 1);
			r->hash = mix(r->hash, &f.seq, sizeof(f.seq));
			r->hash = mix(r->hash, &f.len, sizeof(f.len));
			r->hash = mix(r->hash, f.payload, f.len);
			r->nframes++;
			check_reencode(&f, r->d.body);
		}
		CHECK(p == end);
		off += k;
	}
}

/* Differential check: the one-shot path (m7b_cobs_decode + m7b_wire_parse on each
 * 0x00-delimited segment) must accept exactly the frames the stream decoder delivered. */
static void oneshot(const uint8_t *s, size_t n, size_t *nframes, uint64_t *hash, uint64_t *empty)
{
	uint8_t body[M7B_BODY_MAX];
	size_t start = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] != 0)
			continue;
		size_t len = i - start;
		if (len == 0) {
			(*empty)++;
		} else {
			int bn = m7b_cobs_decode(body, sizeof(body), s + start, len);
			struct m7b_frame f;
			CHECK(bn >= 0 || bn == -M7B_EBADMSG || bn == -M7B_ENOSPC);
			if (bn >= 0 && m7b_wire_parse(body, (size_t)bn, &f) == 0) {
				*hash = mix(*hash, &f.type, 1);
				*hash = mix(*hash, &f.port, 1);
				*hash = mix(*hash, &f.flags, 1);
				*hash = mix(*hash, &f.seq, sizeof(f.seq));
				*hash = mix(*hash, &f.len, sizeof(f.len));
				*hash = mix(*hash, f.payload, f.len);
				(*nframes)++;
			}
		}
		start = i + 1;
	}
}

static void check_counters(const struct run *r, const uint8_t *s, size_t n)
{
	const struct m7b_decoder_stats *st = &r->d.stats;
	uint64_t zeros = 0, sum = 0;
	for (size_t i = 0; i < n; i++)
		zeros += s[i] == 0;
	for (int i = 0; i < M7B_REJECT_COUNT; i++)
		sum += st->reject[i];
	CHECK(st->reject[M7B_REJECT_NONE] == 0);
	CHECK(sum == st->rejected);
	CHECK(st->bytes == n);
	CHECK(st->frames == r->nframes);
	CHECK(zeros == st->frames + st->empty + st->rejected);
	/* the stream ends with a 0x00 here, so no candidate is pending */
	CHECK(st->noise_bytes + r->frame_wire + zeros == n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t mode = data[0];
	size_t n = size - 1;
	/* Exact-size copy plus one closing delimiter, so ASan sees any over-read. */
	uint8_t *s = malloc(n + 1);
	if (!s)
		return 0;
	if (n)
		memcpy(s, data + 1, n);
	s[n] = 0;

	/* a: all at once (whole candidates take the one-pass path); b: split by mode;
	 * c: one byte per call, which only the incremental path can take (the reference). */
	static struct run a, b, c;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	memset(&c, 0, sizeof(c));
	m7b_decoder_init(&a.d);
	m7b_decoder_init(&b.d);
	m7b_decoder_init(&c.d);
	feed(&a, s, n + 1, 0, 0);
	feed(&b, s, n + 1, mode, 0);
	feed(&c, s, n + 1, 0, 1);
	check_counters(&a, s, n + 1);
	check_counters(&b, s, n + 1);
	check_counters(&c, s, n + 1);
	CHECK(a.nframes == b.nframes && a.hash == b.hash);
	CHECK(memcmp(&a.d.stats, &b.d.stats, sizeof(a.d.stats)) == 0);
	CHECK(a.nframes == c.nframes && a.hash == c.hash);
	CHECK(memcmp(&a.d.stats, &c.d.stats, sizeof(a.d.stats)) == 0);

	size_t nf = 0;
	uint64_t h = 0, empty = 0;
	oneshot(s, n + 1, &nf, &h, &empty);
	CHECK(nf == a.nframes && h == a.hash && empty == a.d.stats.empty);
	free(s);
	return 0;
}
