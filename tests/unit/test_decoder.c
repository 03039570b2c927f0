/* Unit tests for lib/decoder.c: test vectors as a stream, resync after noise, the
 * kernel's unframed hello world!, truncated frames, every single-bit flip, every split
 * of a stream, oversize input and the exact counters for each rejection reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "m7bridge/decoder.h"
#include "m7bridge/wire.h"
#include "wire_testlib.h"

/* What a feed produced: frames (header + payload copies) and the final counters. */
#define MAXF 256
struct got {
	size_t n;
	struct m7b_frame f[MAXF];
	uint8_t payload[MAXF][M7B_PAYLOAD_MAX];
};

/* Feeds buf[0..n) in pieces of the given sizes (cycled; 0 = all at once). */
static void feed(struct m7b_decoder *d, struct got *g, const uint8_t *buf, size_t n,
		 const size_t *pieces, size_t npieces)
{
	size_t off = 0, pi = 0;
	while (off < n) {
		size_t k = npieces ? pieces[pi++ % npieces] : n;
		if (k > n - off)
			k = n - off;
		const uint8_t *p = buf + off, *end = buf + off + k;
		struct m7b_frame f;
		while (m7b_decoder_next(d, &p, end, &f) == 1) {
			assert_true(g->n < MAXF);
			/* the payload points into the decoder's own buffer */
			assert_ptr_equal(f.payload, d->body + M7B_HDR_SIZE);
			g->f[g->n] = f;
			memcpy(g->payload[g->n], f.payload, f.len);
			g->n++;
			assert_true(p <= end);
		}
		assert_ptr_equal(p, end); /* 0 only once the input is used up */
		off += k;
	}
}

static struct got *got_new(void)
{
	struct got *g = calloc(1, sizeof(*g));
	assert_non_null(g);
	return g;
}

static void assert_same(const struct got *a, const struct m7b_decoder *da, const struct got *b,
			const struct m7b_decoder *db)
{
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		assert_int_equal(a->f[i].type, b->f[i].type);
		assert_int_equal(a->f[i].port, b->f[i].port);
		assert_int_equal(a->f[i].flags, b->f[i].flags);
		assert_int_equal(a->f[i].seq, b->f[i].seq);
		assert_int_equal(a->f[i].len, b->f[i].len);
		assert_memory_equal(a->payload[i], b->payload[i], a->f[i].len);
	}
	assert_memory_equal(&da->stats, &db->stats, sizeof(da->stats));
}

/* Counters add up: every 0x00 ends exactly one candidate. */
static void assert_consistent(const struct m7b_decoder *d, const uint8_t *buf, size_t n)
{
	uint64_t zeros = 0, sum = 0;
	for (size_t i = 0; i < n; i++)
		zeros += buf[i] == 0;
	for (int r = 0; r < M7B_REJECT_COUNT; r++)
		sum += d->stats.reject[r];
	assert_int_equal(d->stats.reject[M7B_REJECT_NONE], 0);
	assert_int_equal(sum, d->stats.rejected);
	assert_int_equal(d->stats.bytes, n);
	if (n && buf[n - 1] == 0)
		assert_int_equal(zeros, d->stats.frames + d->stats.empty + d->stats.rejected);
	assert_true(d->stats.noise_bytes <= n);
}

static size_t put_vector(uint8_t *out, size_t i)
{
	return wt_unhex(out, M7B_FRAME_MAX, wt_vectors[i].hex);
}

/* A frame built by the reference encoder. */
static size_t put_frame(uint8_t *out, uint8_t ver, uint8_t type, uint8_t port, uint32_t seq,
			const uint8_t *pl, uint16_t len)
{
	uint8_t body[M7B_BODY_MAX + 64];
	size_t bn = wt_body(body, ver, type, port, 0, seq, pl, len);
	return wt_frame(out, body, bn);
}

static void test_vectors_stream(void **state)
{
	(void)state;
	uint8_t buf[1024];
	size_t n = 0;
	buf[n++] = 0; /* the sender's leading delimiter */
	for (size_t i = 0; i < WT_NVECTORS; i++)
		n += put_vector(buf + n, i);
	struct m7b_decoder d;
	struct got *g = got_new();
	m7b_decoder_init(&d);
	feed(&d, g, buf, n, NULL, 0);
	static const uint8_t types[] = {M7B_T_HELLO, M7B_T_DATA, M7B_T_HEARTBEAT, M7B_T_HOST_HELLO,
					M7B_T_PING};
	static const uint32_t seqs[] = {0, 1, 2, 0, 7};
	static const uint16_t lens[] = {29, 21, 8, 0, 0};
	assert_int_equal(g->n, 5);
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(g->f[i].ver, 1);
		assert_int_equal(g->f[i].type, types[i]);
		assert_int_equal(g->f[i].seq, seqs[i]);
		assert_int_equal(g->f[i].len, lens[i]);
	}
	assert_int_equal(g->f[1].port, 2);
	assert_memory_equal(g->payload[0] + 20, "m7sim 1.0", 9);
	assert_int_equal(d.stats.frames, 5);
	assert_int_equal(d.stats.empty, 1);
	assert_int_equal(d.stats.rejected, 0);
	assert_int_equal(d.stats.noise_bytes, 0);
	assert_int_equal(d.stats.bytes, n);
	assert_int_equal(d.last_reject, M7B_REJECT_NONE);
	assert_consistent(&d, buf, n);
	free(g);
}

/* m7b_decoder_next stops right after each frame's delimiter. */
static void test_stops_after_each_frame(void **state)
{
	(void)state;
	uint8_t buf[256];
	size_t a = put_vector(buf, 3);
	size_t b = put_vector(buf + a, 4);
	struct m7b_decoder d;
	struct m7b_frame f;
	m7b_decoder_init(&d);
	const uint8_t *p = buf;
	assert_int_equal(m7b_decoder_next(&d, &p, buf + a + b, &f), 1);
	assert_ptr_equal(p, buf + a);
	assert_int_equal(f.type, M7B_T_HOST_HELLO);
	assert_int_equal(d.stats.bytes, a);
	assert_int_equal(m7b_decoder_next(&d, &p, buf + a + b, &f), 1);
	assert_ptr_equal(p, buf + a + b);
	assert_int_equal(f.type, M7B_T_PING);
	assert_int_equal(m7b_decoder_next(&d, &p, buf + a + b, &f), 0);
	assert_int_equal(m7b_decoder_next(&d, &p, p, &f), 0); /* empty input */
	assert_int_equal(d.stats.bytes, a + b);
}

/* The kernel writes "hello world!" unframed into the tty; the sender's extra 0x00
 * cuts it off, costing one rejection and 12 noise bytes. */
static void test_hello_world(void **state)
{
	(void)state;
	uint8_t buf[1024];
	size_t n = 0;
	memcpy(buf, "hello world!", 12);
	n = 12;
	buf[n++] = 0;
	for (size_t i = 0; i < WT_NVECTORS; i++)
		n += put_vector(buf + n, i);
	struct m7b_decoder d;
	struct got *g = got_new();
	m7b_decoder_init(&d);
	feed(&d, g, buf, n, NULL, 0);
	assert_int_equal(g->n, 5);
	assert_int_equal(d.stats.rejected, 1);
	assert_int_equal(d.stats.reject[M7B_REJECT_COBS], 1); /* 'h' = run of 103 bytes */
	assert_int_equal(d.stats.noise_bytes, 12);
	assert_int_equal(d.stats.empty, 0);
	assert_int_equal(d.last_reject, M7B_REJECT_COBS);
	assert_consistent(&d, buf, n);

	/* Without the extra 0x00 the first frame is swallowed, the next one survives:
	 * this is why a sender starts with a delimiter. */
	n = 12;
	size_t h = put_vector(buf + n, 0);
	n += h;
	n += put_vector(buf + n, 1);
	m7b_decoder_init(&d);
	memset(g, 0, sizeof(*g));
	feed(&d, g, buf, n, NULL, 0);
	assert_int_equal(g->n, 1);
	assert_int_equal(g->f[0].type, M7B_T_DATA);
	assert_int_equal(d.stats.rejected, 1);
	assert_int_equal(d.stats.noise_bytes, 12 + h - 1);
	assert_consistent(&d, buf, n);
	free(g);
}

/* Every truncation of a frame, cut off by the next sender's 0x00, costs exactly one
 * rejection and its own bytes; the following frame decodes. */
static void test_truncated(void **state)
{
	(void)state;
	uint8_t buf[2048], fr[M7B_FRAME_MAX], pl[M7B_PAYLOAD_MAX];
	uint64_t s = 8;
	wt_fill(&s, pl, sizeof(pl));
	size_t fn = put_frame(fr, 1, M7B_T_DATA, 3, 77, pl, 300);
	struct m7b_decoder d;
	struct got *g = got_new();
	for (size_t k = 1; k < fn - 1; k++) {
		size_t n = 0;
		memcpy(buf, fr, k);
		n = k;
		buf[n++] = 0;
		memcpy(buf + n, fr, fn);
		n += fn;
		m7b_decoder_init(&d);
		memset(g, 0, sizeof(*g));
		feed(&d, g, buf, n, NULL, 0);
		assert_int_equal(g->n, 1);
		assert_int_equal(g->f[0].seq, 77);
		assert_memory_equal(g->payload[0], pl, 300);
		assert_int_equal(d.stats.rejected, 1);
		assert_int_equal(d.stats.noise_bytes, k);
		assert_int_not_equal(d.last_reject, M7B_REJECT_NONE);
		assert_consistent(&d, buf, n);
	}
	free(g);
}

/* Random garbage (zeros included) then a delimiter: the frames after it all decode. */
static void test_resync_after_garbage(void **state)
{
	(void)state;
	static uint8_t buf[8192];
	uint64_t s = 9;
	struct m7b_decoder d;
	struct got *g = got_new();
	for (int round = 0; round < 300; round++) {
		size_t glen = (size_t)(wt_rand(&s) % 1500);
		wt_fill(&s, buf, glen);
		if (round % 3 == 0)
			for (size_t i = 0; i < glen; i++)
				buf[i] |= 1; /* no zeros: one long candidate */
		size_t n = glen;
		buf[n++] = 0;
		for (size_t i = 0; i < WT_NVECTORS; i++)
			n += put_vector(buf + n, i);
		m7b_decoder_init(&d);
		memset(g, 0, sizeof(*g));
		feed(&d, g, buf, n, NULL, 0);
		/* garbage may by chance hold a valid frame only with 2^-32 odds per candidate */
		assert_int_equal(g->n, 5);
		assert_int_equal(g->f[0].type, M7B_T_HELLO);
		assert_int_equal(g->f[4].type, M7B_T_PING);
		assert_consistent(&d, buf, n);
		if (round % 3 == 0) {
			assert_int_equal(d.stats.rejected + d.stats.empty, 1);
			assert_int_equal(d.stats.noise_bytes, glen);
		}
	}
	free(g);
}

/* A scenario with one candidate of each kind; every counter is exact. */
static void test_counters_exact(void **state)
{
	(void)state;
	static uint8_t buf[8192];
	uint8_t body[M7B_BODY_MAX + 64], pl[M7B_PAYLOAD_MAX + 8];
	uint64_t noise = 0;
	size_t n = 0, k;
	memset(pl, 0x33, sizeof(pl));

	buf[n++] = 0; /* three empty frames */
	buf[n++] = 0;
	buf[n++] = 0;
	/* runt: a 13-byte body */
	k = wt_body(body, 1, M7B_T_PING, 0, 0, 1, NULL, 0);
	k = wt_frame(buf + n, body, k - 1);
	n += k;
	noise += k - 1;
	/* runt: an encoded empty body ("01") */
	buf[n++] = 0x01;
	buf[n++] = 0;
	noise += 1;
	/* bad len: len field one too big, CRC computed over the wrong field */
	k = wt_body(body, 1, M7B_T_DATA, 0, 0, 2, pl, 20);
	body[8] = 21;
	uint32_t crc = wt_crc32c(body, 30);
	for (int i = 0; i < 4; i++)
		body[30 + i] = (uint8_t)(crc >> (8 * i));
	k = wt_frame(buf + n, body, k);
	n += k;
	noise += k - 1;
	/* bad CRC, twice */
	for (int j = 0; j < 2; j++) {
		k = wt_body(body, 1, M7B_T_DATA, 0, 0, 3, pl, 40);
		body[k - 1 - (size_t)j] ^= 0x80;
		k = wt_frame(buf + n, body, k);
		n += k;
		noise += k - 1;
	}
	/* bad version, valid CRC */
	k = put_frame(buf + n, 2, M7B_T_HEARTBEAT, 0, 4, pl, 8);
	n += k;
	noise += k - 1;
	/* oversize: 600 non-zero bytes; and a well-formed 493-byte body */
	memset(buf + n, 0x44, 600);
	n += 600;
	buf[n++] = 0;
	noise += 600;
	k = put_frame(buf + n, 1, M7B_T_DATA, 0, 5, pl, M7B_PAYLOAD_MAX + 1);
	n += k;
	noise += k - 1;
	/* COBS: the kernel's hello world! */
	memcpy(buf + n, "hello world!", 12);
	n += 12;
	buf[n++] = 0;
	noise += 12;
	/* good frames: the largest, an unknown type (delivered: the caller counts it) */
	k = put_frame(buf + n, 1, M7B_T_DATA, 1, 6, pl, M7B_PAYLOAD_MAX);
	n += k;
	k = put_frame(buf + n, 1, 0x42, 0, 7, pl, 3);
	n += k;
	buf[n++] = 0; /* one more empty frame */

	struct m7b_decoder d;
	struct got *g = got_new();
	m7b_decoder_init(&d);
	feed(&d, g, buf, n, NULL, 0);
	assert_int_equal(g->n, 2);
	assert_int_equal(g->f[0].len, M7B_PAYLOAD_MAX);
	assert_int_equal(g->f[1].type, 0x42);
	assert_int_equal(d.stats.frames, 2);
	assert_int_equal(d.stats.empty, 4);
	assert_int_equal(d.stats.reject[M7B_REJECT_RUNT], 2);
	assert_int_equal(d.stats.reject[M7B_REJECT_LEN], 1);
	assert_int_equal(d.stats.reject[M7B_REJECT_CRC], 2);
	assert_int_equal(d.stats.reject[M7B_REJECT_VERSION], 1);
	assert_int_equal(d.stats.reject[M7B_REJECT_OVERSIZE], 2);
	assert_int_equal(d.stats.reject[M7B_REJECT_COBS], 1);
	assert_int_equal(d.stats.rejected, 9);
	assert_int_equal(d.stats.noise_bytes, noise);
	assert_int_equal(d.stats.bytes, n);
	assert_int_equal(d.last_reject, M7B_REJECT_COBS);
	assert_consistent(&d, buf, n);

	/* the same stream byte by byte counts the same */
	struct m7b_decoder d1;
	struct got *g1 = got_new();
	size_t one = 1;
	m7b_decoder_init(&d1);
	feed(&d1, g1, buf, n, &one, 1);
	assert_same(g, &d, g1, &d1);
	free(g);
	free(g1);
}

/* Every single-bit flip of a valid frame is rejected and counted; the decoder then
 * resyncs on the next frame. An extra 0x00 follows so a flipped delimiter still ends. */
static void check_bit_flips(const uint8_t *fr, size_t fn)
{
	uint8_t buf[2 * M7B_FRAME_MAX + 8];
	uint8_t good[64];
	size_t gn = put_vector(good, 4);
	struct m7b_decoder d;
	for (size_t bit = 0; bit < fn * 8; bit++) {
		size_t n = 0;
		buf[n++] = 0;
		memcpy(buf + n, fr, fn);
		buf[n + bit / 8] ^= (uint8_t)(1u << (bit % 8));
		n += fn;
		buf[n++] = 0;
		size_t before_good = n;
		memcpy(buf + n, good, gn);
		n += gn;
		m7b_decoder_init(&d);
		const uint8_t *p = buf;
		struct m7b_frame f;
		int r = m7b_decoder_next(&d, &p, buf + before_good, &f);
		assert_int_equal(r, 0);
		assert_int_equal(d.stats.frames, 0);
		assert_true(d.stats.rejected >= 1);
		assert_true(d.stats.noise_bytes >= 1);
		/* and the next good frame is received */
		assert_int_equal(m7b_decoder_next(&d, &p, buf + n, &f), 1);
		assert_int_equal(f.type, M7B_T_PING);
		assert_ptr_equal(p, buf + n);
		assert_consistent(&d, buf, n);
	}
}

static void test_bit_flips(void **state)
{
	(void)state;
	uint8_t fr[M7B_FRAME_MAX], pl[M7B_PAYLOAD_MAX];
	for (size_t i = 0; i < WT_NVECTORS; i++) {
		size_t fn = put_vector(fr, i);
		check_bit_flips(fr, fn);
	}
	uint64_t s = 10;
	size_t lens[] = {1, 64, 253, 254, 300, 478};
	for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
		wt_fill(&s, pl, lens[li]);
		if (li % 2)
			for (size_t i = 0; i < lens[li]; i++)
				pl[i] |= 0x10; /* long runs */
		size_t fn = put_frame(fr, 1, M7B_T_DATA, 1, (uint32_t)li, pl, (uint16_t)lens[li]);
		check_bit_flips(fr, fn);
	}
}

/* A mixed stream: frames of many sizes, noise, hello world!, truncations, empties. */
static size_t build_mixed(uint8_t *buf, uint64_t seed)
{
	uint8_t pl[M7B_PAYLOAD_MAX];
	uint64_t s = seed;
	size_t n = 0;
	buf[n++] = 0;
	for (size_t i = 0; i < WT_NVECTORS; i++)
		n += put_vector(buf + n, i);
	for (int i = 0; i < 14; i++) {
		uint64_t r = wt_rand(&s);
		uint16_t len = (uint16_t)(r % (M7B_PAYLOAD_MAX + 1));
		wt_fill(&s, pl, len);
		if (r & 0x100)
			for (size_t j = 0; j < len; j++)
				pl[j] |= 1;
		size_t k = put_frame(buf + n, 1, (uint8_t)(r >> 16), (uint8_t)(r >> 24),
				     (uint32_t)i, pl, len);
		switch (i % 5) {
		case 1: /* truncated, then the sender's delimiter */
			k = k / 2;
			buf[n + k++] = 0;
			break;
		case 2: /* preceded by the kernel's text */
			memmove(buf + n + 13, buf + n, k);
			memcpy(buf + n, "hello world!", 12);
			buf[n + 12] = 0;
			k += 13;
			break;
		case 3: /* garbage */
			wt_fill(&s, buf + n + k, 40);
			buf[n + k + 39] = 0;
			k += 40;
			break;
		case 4:
			buf[n + k++] = 0;
			break;
		}
		n += k;
	}
	return n;
}

/* The same stream split at every offset, in 1-byte pieces and in random pieces gives
 * the same frames and counters as in one piece. */
static void test_splits(void **state)
{
	(void)state;
	static uint8_t buf[16384];
	size_t n = build_mixed(buf, 12);
	assert_true(n > 2000);
	struct m7b_decoder d0, d;
	struct got *g0 = got_new(), *g = got_new();
	m7b_decoder_init(&d0);
	feed(&d0, g0, buf, n, NULL, 0);
	assert_true(g0->n >= 5 + 14 / 5 * 2);
	assert_true(d0.stats.rejected >= 6);
	assert_consistent(&d0, buf, n);
	for (size_t k = 0; k <= n; k++) {
		size_t pieces[2] = {k ? k : 1, n};
		m7b_decoder_init(&d);
		g->n = 0;
		if (k == 0) {
			feed(&d, g, buf, n, NULL, 0);
		} else {
			feed(&d, g, buf, n, pieces, 2);
		}
		assert_same(g0, &d0, g, &d);
	}
	size_t one = 1;
	m7b_decoder_init(&d);
	g->n = 0;
	feed(&d, g, buf, n, &one, 1);
	assert_same(g0, &d0, g, &d);
	uint64_t s = 13;
	for (int round = 0; round < 50; round++) {
		size_t pieces[16];
		for (size_t i = 0; i < 16; i++)
			pieces[i] = 1 + (size_t)(wt_rand(&s) % (round % 2 ? 7 : 700));
		m7b_decoder_init(&d);
		g->n = 0;
		feed(&d, g, buf, n, pieces, 16);
		assert_same(g0, &d0, g, &d);
	}
	free(g0);
	free(g);
}

/* Appends one adversarial candidate (or a few) to buf at *n; kind picks the shape. */
static void put_adversarial(uint8_t *buf, size_t cap, size_t *n, uint64_t *s, unsigned kind)
{
	uint8_t body[M7B_BODY_MAX + 8], pl[M7B_PAYLOAD_MAX];
	uint8_t enc[M7B_COBS_MAX(M7B_BODY_MAX + 8) + 1];
	size_t k = 0;
	uint16_t len = (uint16_t)(wt_rand(s) % (M7B_PAYLOAD_MAX + 1));

	switch (kind % 8) {
	case 0: /* a good frame (now and then version 2), random payload: short runs */
		wt_fill(s, pl, len);
		k = put_frame(enc, wt_rand(s) % 8 ? 1 : 2, M7B_T_DATA, 1, (uint32_t)wt_rand(s), pl,
			      len);
		break;
	case 1: /* a good frame without zeros in the payload: full 254-byte runs, often at
		 * or near the largest body, where one code byte more than a body arrives */
		if (wt_rand(s) % 2)
			len = (uint16_t)(M7B_PAYLOAD_MAX - wt_rand(s) % 4);
		memset(pl, 'A' + (int)(wt_rand(s) % 26), len);
		k = put_frame(enc, 1, M7B_T_DATA, 2, (uint32_t)wt_rand(s), pl, len);
		break;
	case 2: { /* a good frame with one byte flipped, inserted or dropped */
		wt_fill(s, pl, len);
		k = put_frame(enc, 1, M7B_T_LOG, 0, 7, pl, len);
		size_t at = (size_t)(wt_rand(s) % (k - 1));
		unsigned how = (unsigned)(wt_rand(s) % 3);
		if (how == 0) {
			enc[at] ^= (uint8_t)(1u << (wt_rand(s) % 8));
		} else if (how == 1) {
			memmove(enc + at + 1, enc + at, k - at);
			enc[at] = (uint8_t)wt_rand(s);
			k++;
		} else {
			memmove(enc + at, enc + at + 1, k - at - 1);
			k--;
		}
		break;
	}
	case 3: { /* non-zero bodies around the size limit, valid COBS: 490..496 bytes */
		size_t bn = M7B_BODY_MAX - 2 + (size_t)(wt_rand(s) % 7);
		memset(body, 0x5a, bn);
		if (wt_rand(s) % 2)
			body[wt_rand(s) % bn] = 0;
		k = wt_frame(enc, body, bn);
		break;
	}
	case 4: { /* a code byte pointing past the delimiter, after some good runs */
		size_t bn = 1 + (size_t)(wt_rand(s) % 40);
		wt_fill(s, body, bn);
		k = wt_cobs_encode(enc, body, bn);
		enc[k++] = (uint8_t)(2 + wt_rand(s) % 253);
		enc[k++] = 0x11;
		enc[k++] = 0;
		break;
	}
	case 5: /* noise: text without zeros, sometimes long */
		k = 1 + (size_t)(wt_rand(s) % (wt_rand(s) % 2 ? 12 : 900));
		memset(enc, 'h', k > sizeof(enc) ? sizeof(enc) : k);
		if (k > sizeof(enc))
			k = sizeof(enc);
		break;
	case 6: /* random bytes, about one zero in eight */
		k = 1 + (size_t)(wt_rand(s) % 300);
		for (size_t i = 0; i < k; i++) {
			uint64_t r = wt_rand(s);
			enc[i] = (r >> 60) < 2 ? 0 : (uint8_t)(r >> 8);
		}
		break;
	default: /* empty frames and stray delimiters */
		k = 1 + (size_t)(wt_rand(s) % 3);
		memset(enc, 0, k);
		break;
	}
	if (*n + k <= cap) {
		memcpy(buf + *n, enc, k);
		*n += k;
	}
}

/* The one-pass path (a whole candidate in the buffer) against the incremental path
 * (bytes fed one at a time never hold a whole candidate) and against random splits, on
 * random and adversarial streams: the same frames, the same counters, byte for byte. */
static void test_fast_path_differential(void **state)
{
	(void)state;
	static uint8_t buf[65536];
	struct m7b_decoder d0, d1, d2;
	struct got *g0 = got_new(), *g1 = got_new(), *g2 = got_new();
	uint64_t s = 0x5eed;
	const size_t one = 1;
	uint64_t frames = 0, reasons = 0;

	for (int round = 0; round < 200; round++) {
		size_t n = 0;
		unsigned mix = (unsigned)(wt_rand(&s) % 9);

		buf[n++] = 0;
		for (int c = 0; c < 40 && n < sizeof(buf) - 1200; c++)
			put_adversarial(buf, sizeof(buf), &n, &s,
					mix == 8 ? (unsigned)wt_rand(&s) : mix);
		if (round % 3)
			buf[n++] = 0; /* else the stream ends inside a candidate */
		m7b_decoder_init(&d0);
		m7b_decoder_init(&d1);
		m7b_decoder_init(&d2);
		g0->n = g1->n = g2->n = 0;
		feed(&d0, g0, buf, n, NULL, 0);
		feed(&d1, g1, buf, n, &one, 1);
		size_t pieces[8];
		for (size_t i = 0; i < 8; i++)
			pieces[i] = 1 + (size_t)(wt_rand(&s) % 1000);
		feed(&d2, g2, buf, n, pieces, 8);
		assert_same(g0, &d0, g1, &d1);
		assert_same(g0, &d0, g2, &d2);
		assert_int_equal(d0.len, d1.len);
		assert_int_equal(d0.raw, d1.raw);
		assert_int_equal(d0.discard, d1.discard);
		assert_consistent(&d0, buf, n);
		frames += d0.stats.frames;
		for (int r = 1; r < M7B_REJECT_COUNT; r++)
			reasons |= d0.stats.reject[r] ? 1u << r : 0;
	}
	/* the generator did reach good frames and every rejection reason */
	assert_true(frames > 500);
	for (int r = 1; r < M7B_REJECT_COUNT; r++)
		assert_true(reasons & (1u << r));
	free(g0);
	free(g1);
	free(g2);
}

/* Feeds buf[0..n) one byte per call and all at once (each piece in a heap block of its
 * own size, so a read past the input shows under ASan): the same frames and counters. */
static void assert_paths_agree(const uint8_t *buf, size_t n)
{
	struct m7b_decoder d0, d1;
	struct got *g0 = got_new(), *g1 = got_new();
	uint8_t *exact = malloc(n ? n : 1);
	const size_t one = 1;

	assert_non_null(exact);
	memcpy(exact, buf, n);
	m7b_decoder_init(&d0);
	m7b_decoder_init(&d1);
	feed(&d0, g0, exact, n, NULL, 0);
	feed(&d1, g1, exact, n, &one, 1);
	assert_same(g0, &d0, g1, &d1);
	assert_consistent(&d0, exact, n);
	free(exact);
	free(g0);
	free(g1);
}

/* Every payload length, with payloads that make many one-byte runs (zeros), full runs
 * (no zeros) and random ones; each frame alone in a buffer that ends at its delimiter,
 * followed by another, cut short, and with its CRC broken: the one-pass path's copy
 * steps and walks end at every offset, on both sides of a full run. */
static void test_fast_path_lengths(void **state)
{
	(void)state;
	static uint8_t buf[3 * M7B_FRAME_MAX + 8];
	uint8_t pl[M7B_PAYLOAD_MAX], body[M7B_BODY_MAX];
	uint64_t s = 0xfa57;

	for (int kind = 0; kind < 3; kind++) {
		for (uint16_t len = 0; len <= M7B_PAYLOAD_MAX; len++) {
			if (kind == 0)
				memset(pl, 0, len);
			else if (kind == 1)
				memset(pl, 0x41, len);
			else
				wt_fill(&s, pl, len);
			size_t bn = wt_body(body, 1, M7B_T_DATA, 3, 0, len, pl, len);
			size_t n = wt_frame(buf, body, bn);

			assert_paths_agree(buf, n);
			/* the next frame right behind it */
			size_t m = n + put_vector(buf + n, 1);
			assert_paths_agree(buf, m);
			/* cut short before its delimiter */
			assert_paths_agree(buf, n - 1);
			/* a broken CRC (a rejected candidate, then the good one) */
			buf[n - 2] ^= 0x10;
			if (buf[n - 2] != 0)
				assert_paths_agree(buf, m);
		}
	}
}

/* Endless input without a delimiter stays one candidate; nothing overflows (ASan). */
static void test_oversize_long(void **state)
{
	(void)state;
	enum { N = 100000 };
	uint8_t *buf = malloc(N + 64);
	assert_non_null(buf);
	uint64_t s = 14;
	for (int kind = 0; kind < 4; kind++) {
		if (kind == 0)
			memset(buf, 0xFF, N);
		else if (kind == 1)
			memset(buf, 0x01, N); /* every byte a code byte: a body of zeros */
		else if (kind == 2)
			memset(buf, 0x02, N);
		else {
			wt_fill(&s, buf, N);
			for (size_t i = 0; i < N; i++)
				buf[i] |= 1;
		}
		size_t n = N;
		buf[n++] = 0;
		n += put_vector(buf + n, 4);
		struct m7b_decoder d;
		struct got *g = got_new();
		m7b_decoder_init(&d);
		size_t pieces[3] = {1, 4096, 333};
		feed(&d, g, buf, n, kind % 2 ? pieces : NULL, kind % 2 ? 3 : 0);
		assert_int_equal(g->n, 1);
		assert_int_equal(g->f[0].type, M7B_T_PING);
		assert_int_equal(d.stats.rejected, 1);
		assert_int_equal(d.stats.reject[M7B_REJECT_OVERSIZE], 1);
		assert_int_equal(d.stats.noise_bytes, N);
		assert_int_equal(d.last_reject, M7B_REJECT_OVERSIZE);
		assert_consistent(&d, buf, n);
		free(g);
	}
	free(buf);
}

/* Bodies of exactly the maximum size pass; one byte more is oversize however the
 * runs fall (a zero implied by a code byte, or a data byte). */
static void test_oversize_boundary(void **state)
{
	(void)state;
	uint8_t buf[2 * M7B_FRAME_MAX], body[M7B_BODY_MAX + 8];
	for (int fillv = 0; fillv < 3; fillv++) {
		uint8_t pl[M7B_PAYLOAD_MAX + 1];
		memset(pl, fillv == 0 ? 0x00 : fillv == 1 ? 0xEE : 0x01, sizeof(pl));
		size_t bn = wt_body(body, 1, M7B_T_DATA, 0, 0, 1, pl, M7B_PAYLOAD_MAX);
		for (int extra = 0; extra < 3; extra++) {
			size_t n = 0;
			size_t b = bn;
			if (extra == 1)
				body[b++] = 0x00; /* 493 bytes, last one a zero */
			else if (extra == 2)
				body[b++] = 0x5A; /* 493 bytes, last one data */
			n = wt_frame(buf, body, b);
			struct m7b_decoder d;
			struct got *g = got_new();
			m7b_decoder_init(&d);
			feed(&d, g, buf, n, NULL, 0);
			if (extra == 0) {
				assert_int_equal(g->n, 1);
				assert_int_equal(g->f[0].len, M7B_PAYLOAD_MAX);
			} else {
				assert_int_equal(g->n, 0);
				assert_int_equal(d.stats.reject[M7B_REJECT_OVERSIZE], 1);
				assert_int_equal(d.stats.noise_bytes, n - 1);
			}
			assert_consistent(&d, buf, n);
			free(g);
		}
	}
}

/* A full 254-byte run at the end may be followed by a redundant 01 code from other
 * encoders; the decoder accepts it. */
static void test_noncanonical_trailing_code(void **state)
{
	(void)state;
	uint8_t pl[M7B_PAYLOAD_MAX], body[M7B_BODY_MAX], buf[M7B_FRAME_MAX + 8];
	/* find a payload length whose body ends in a full run: brute force over lengths */
	for (uint16_t len = 240; len <= M7B_PAYLOAD_MAX; len++) {
		memset(pl, 0x77, len);
		size_t bn = wt_body(body, 1, 0x77, 0x77, 0, 0x77777777u, pl, len);
		/* body bytes 0..7 non-zero, len field may hold a zero */
		size_t n = wt_cobs_encode(buf, body, bn);
		size_t last = 0;
		for (size_t c = 0; c < n; c += buf[c])
			last = c;
		if (buf[last] != 0xFF || last + 0xFF != n)
			continue;
		buf[n++] = 0x01;
		buf[n++] = 0;
		struct m7b_decoder d;
		struct got *g = got_new();
		m7b_decoder_init(&d);
		feed(&d, g, buf, n, NULL, 0);
		assert_int_equal(g->n, 1);
		assert_int_equal(g->f[0].len, len);
		free(g);
		return;
	}
	fail_msg("no length ends in a full run");
}

/* reset ends a partial candidate as a counted rejection (it was cut off: truncated)
 * and keeps the counters; init clears them. Every byte stays accounted for. */
static void test_reset(void **state)
{
	(void)state;
	uint8_t buf[128];
	size_t n = put_vector(buf, 1);
	struct m7b_decoder d;
	struct m7b_frame f;
	m7b_decoder_init(&d);
	/* nothing open: a reset counts nothing */
	m7b_decoder_reset(&d);
	assert_int_equal(d.stats.rejected, 0);
	const uint8_t *p = buf;
	assert_int_equal(m7b_decoder_next(&d, &p, buf + n, &f), 1);
	m7b_decoder_reset(&d);
	assert_int_equal(d.stats.rejected, 0);
	p = buf;
	assert_int_equal(m7b_decoder_next(&d, &p, buf + n / 2, &f), 0);
	m7b_decoder_reset(&d);
	assert_int_equal(d.stats.rejected, 1);
	assert_int_equal(d.stats.reject[M7B_REJECT_COBS], 1);
	assert_int_equal(d.stats.noise_bytes, n / 2);
	p = buf;
	assert_int_equal(m7b_decoder_next(&d, &p, buf + n, &f), 1);
	assert_int_equal(f.type, M7B_T_DATA);
	assert_int_equal(d.stats.frames, 2);
	assert_int_equal(d.stats.rejected, 1);
	assert_int_equal(d.stats.bytes, n + n / 2 + n);
	/* a whole body still waiting for its delimiter is cut off too */
	p = buf;
	assert_int_equal(m7b_decoder_next(&d, &p, buf + n - 1, &f), 0);
	m7b_decoder_reset(&d);
	assert_int_equal(d.stats.rejected, 2);
	assert_int_equal(d.stats.noise_bytes, n / 2 + n - 1);
	/* reset in discard mode (after 600 bytes of garbage): its reason, every byte */
	uint8_t junk[600];
	memset(junk, 0x55, sizeof(junk));
	p = junk;
	assert_int_equal(m7b_decoder_next(&d, &p, junk + sizeof(junk), &f), 0);
	m7b_decoder_reset(&d);
	assert_int_equal(d.stats.rejected, 3);
	assert_int_equal(d.stats.reject[M7B_REJECT_OVERSIZE], 1);
	assert_int_equal(d.stats.noise_bytes, n / 2 + n - 1 + sizeof(junk));
	p = buf;
	assert_int_equal(m7b_decoder_next(&d, &p, buf + n, &f), 1);
	assert_int_equal(d.stats.frames, 3);
	assert_int_equal(d.stats.rejected, 3);
	/* frames + empty + rejected = zeros fed + resets that cut a candidate (3) */
	assert_int_equal(d.stats.frames + d.stats.empty + d.stats.rejected, 3 + 3);
	assert_int_equal(d.stats.bytes, d.stats.noise_bytes + 3 * (n - 1) + 3);
	m7b_decoder_init(&d);
	assert_int_equal(d.stats.frames, 0);
	assert_int_equal(d.stats.bytes, 0);
}

static void test_reject_names(void **state)
{
	(void)state;
	for (int i = 0; i < M7B_REJECT_COUNT; i++) {
		const char *n = m7b_decoder_reject_name((enum m7b_reject)i);
		assert_non_null(n);
		assert_string_not_equal(n, "unknown");
		for (int j = 0; j < i; j++)
			assert_string_not_equal(n, m7b_decoder_reject_name((enum m7b_reject)j));
	}
	assert_string_equal(m7b_decoder_reject_name(M7B_REJECT_CRC), "crc");
	assert_string_equal(m7b_decoder_reject_name(M7B_REJECT_COUNT), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors_stream),
		cmocka_unit_test(test_stops_after_each_frame),
		cmocka_unit_test(test_hello_world),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_resync_after_garbage),
		cmocka_unit_test(test_counters_exact),
		cmocka_unit_test(test_bit_flips),
		cmocka_unit_test(test_splits),
		cmocka_unit_test(test_fast_path_differential),
		cmocka_unit_test(test_fast_path_lengths),
		cmocka_unit_test(test_oversize_long),
		cmocka_unit_test(test_oversize_boundary),
		cmocka_unit_test(test_noncanonical_trailing_code),
		cmocka_unit_test(test_reset),
		cmocka_unit_test(test_reject_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
