/* Unit tests for lib/wire.c: the wire-v1 test vectors decoded and re-encoded byte-exact,
 * every type at every payload length, body checks, typed payloads and their lengths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

#include <cmocka.h>

#include "m7bridge/cobs.h"
#include "m7bridge/wire.h"
#include "wire_testlib.h"

#define GUARD 0xA5

static const uint8_t all_types[] = {
	M7B_T_HELLO,
	M7B_T_DATA,
	M7B_T_HEARTBEAT,
	M7B_T_LOG,
	M7B_T_SYNC_REPLY,
	M7B_T_ACK,
	M7B_T_SEND,
	M7B_T_SYNC,
	M7B_T_PING,
	M7B_T_CONFIG,
	M7B_T_HOST_HELLO,
	M7B_T_BOOT_INFO,
	0x00,
	0x08,
	0x7F,
	0x80,
	0xFF, /* unknown */
};

/* Decodes one wire frame (delimiter included) with the lib's COBS decoder and parser. */
static void decode_frame(const uint8_t *wire, size_t n, uint8_t *body, struct m7b_frame *f)
{
	assert_true(n >= 2);
	assert_int_equal(wire[n - 1], 0);
	assert_null(memchr(wire, 0, n - 1));
	int bn = m7b_cobs_decode(body, M7B_BODY_MAX, wire, n - 1);
	assert_true(bn >= (int)M7B_BODY_MIN);
	assert_int_equal(m7b_wire_parse(body, (size_t)bn, f), 0);
}

/* Encodes hdr + payload with the lib; checks it equals the reference encoding. */
static size_t encode_checked(uint8_t *out, const struct m7b_frame *hdr, const uint8_t *payload,
			     size_t len, size_t split)
{
	uint8_t body[M7B_BODY_MAX], ref[M7B_FRAME_MAX + 8];
	size_t bn = wt_body(body, 1, hdr->type, hdr->port, hdr->flags, hdr->seq, payload,
			    (uint16_t)len);
	size_t rn = wt_frame(ref, body, bn);
	assert_true(rn <= M7B_FRAME_MAX);
	struct m7b_part parts[3] = {
		{payload, split},
		{NULL, 0},
		{payload + split, len - split},
	};
	memset(out, GUARD, M7B_FRAME_MAX + 8);
	int r = m7b_wire_encode(out, M7B_FRAME_MAX, hdr, parts, 3);
	assert_int_equal(r, (int)rn);
	assert_memory_equal(out, ref, rn);
	assert_int_equal(out[rn], GUARD);
	return rn;
}

/* --- the five test vectors --- */

static size_t vector(size_t i, uint8_t *wire)
{
	return wt_unhex(wire, M7B_FRAME_MAX, wt_vectors[i].hex);
}

static void reencode(const uint8_t *wire, size_t wn, const struct m7b_frame *hdr,
		     const uint8_t *payload, size_t len)
{
	uint8_t out[M7B_FRAME_MAX];
	struct m7b_part part = {payload, len};
	int r = m7b_wire_encode(out, sizeof(out), hdr, &part, len ? 1 : 0);
	assert_int_equal(r, (int)wn);
	assert_memory_equal(out, wire, wn);
}

static void test_vector_hello(void **state)
{
	(void)state;
	uint8_t wire[M7B_FRAME_MAX], body[M7B_BODY_MAX], pl[M7B_PAYLOAD_MAX];
	size_t wn = vector(0, wire);
	struct m7b_frame f;
	struct m7b_hello h;
	decode_frame(wire, wn, body, &f);
	assert_int_equal(f.ver, 1);
	assert_int_equal(f.type, M7B_T_HELLO);
	assert_int_equal(f.port, 0);
	assert_int_equal(f.flags, 0);
	assert_int_equal(f.seq, 0);
	assert_int_equal(m7b_wire_unpack_hello(&f, &h), 0);
	assert_int_equal(h.tick_hz, 8000000);
	assert_int_equal(h.boot_id, 0xA1B2C3D4u);
	assert_int_equal(h.now_ticks, 123456789);
	assert_int_equal(h.max_payload, 478);
	assert_int_equal(h.host_credits, 8);
	assert_int_equal(h.name_len, 9);
	assert_memory_equal(h.name, "m7sim 1.0", 9);

	struct m7b_hello m = {8000000, 0xA1B2C3D4u, 123456789, 478, 8, "m7sim 1.0", 9};
	int n = m7b_wire_pack_hello(pl, sizeof(pl), &m);
	assert_int_equal(n, f.len);
	assert_memory_equal(pl, f.payload, f.len);
	struct m7b_frame hdr = {.type = M7B_T_HELLO, .seq = 0};
	reencode(wire, wn, &hdr, pl, (size_t)n);
}

static void test_vector_data(void **state)
{
	(void)state;
	uint8_t wire[M7B_FRAME_MAX], body[M7B_BODY_MAX], pl[M7B_PAYLOAD_MAX];
	static const uint8_t bytes[] = {0x00, 0x01, 0x68, 0x69, 0x00};
	size_t wn = vector(1, wire);
	struct m7b_frame f;
	struct m7b_data d;
	decode_frame(wire, wn, body, &f);
	assert_int_equal(f.type, M7B_T_DATA);
	assert_int_equal(f.port, 2);
	assert_int_equal(f.flags, 0);
	assert_int_equal(f.seq, 1);
	assert_int_equal(m7b_wire_unpack_data(&f, &d), 0);
	assert_int_equal(d.t_first, 1000);
	assert_int_equal(d.t_last, 1090);
	assert_int_equal(d.nbytes, 5);
	assert_memory_equal(d.bytes, bytes, 5);

	struct m7b_data m = {1000, 1090, bytes, 5};
	int n = m7b_wire_pack_data(pl, sizeof(pl), &m);
	assert_int_equal(n, f.len);
	struct m7b_frame hdr = {.type = M7B_T_DATA, .port = 2, .seq = 1};
	reencode(wire, wn, &hdr, pl, (size_t)n);
}

static void test_vector_heartbeat(void **state)
{
	(void)state;
	uint8_t wire[M7B_FRAME_MAX], body[M7B_BODY_MAX], pl[M7B_PAYLOAD_MAX];
	size_t wn = vector(2, wire);
	struct m7b_frame f;
	struct m7b_heartbeat hb;
	decode_frame(wire, wn, body, &f);
	assert_int_equal(f.type, M7B_T_HEARTBEAT);
	assert_int_equal(f.seq, 2);
	assert_int_equal(m7b_wire_unpack_heartbeat(&f, &hb), 0);
	assert_int_equal(hb.now_ticks, 2000000);
	assert_int_equal(hb.ncounters, 0);

	struct m7b_heartbeat m = {.now_ticks = 2000000, .ncounters = 0};
	int n = m7b_wire_pack_heartbeat(pl, sizeof(pl), &m);
	assert_int_equal(n, 8);
	struct m7b_frame hdr = {.type = M7B_T_HEARTBEAT, .seq = 2};
	reencode(wire, wn, &hdr, pl, (size_t)n);
}

static void test_vector_host_hello_ping(void **state)
{
	(void)state;
	uint8_t wire[M7B_FRAME_MAX], body[M7B_BODY_MAX], out[M7B_FRAME_MAX];
	struct m7b_frame f;
	size_t wn = vector(3, wire);
	decode_frame(wire, wn, body, &f);
	assert_int_equal(f.type, M7B_T_HOST_HELLO);
	assert_int_equal(f.seq, 0);
	assert_int_equal(f.len, 0);
	struct m7b_frame hdr = {.type = M7B_T_HOST_HELLO, .seq = 0};
	assert_int_equal(m7b_wire_encode(out, sizeof(out), &hdr, NULL, 0), (int)wn);
	assert_memory_equal(out, wire, wn);

	wn = vector(4, wire);
	decode_frame(wire, wn, body, &f);
	assert_int_equal(f.type, M7B_T_PING);
	assert_int_equal(f.seq, 7);
	assert_int_equal(f.len, 0);
	hdr = (struct m7b_frame){.type = M7B_T_PING, .seq = 7};
	assert_int_equal(m7b_wire_encode(out, sizeof(out), &hdr, NULL, 0), (int)wn);
	assert_memory_equal(out, wire, wn);
}

/* --- raw frames: every type at every payload length --- */

static void test_roundtrip_all_lengths(void **state)
{
	(void)state;
	uint8_t pl[M7B_PAYLOAD_MAX], wire[M7B_FRAME_MAX + 8], body[M7B_BODY_MAX];
	uint64_t s = 2026;
	for (size_t t = 0; t < sizeof(all_types); t++) {
		for (size_t len = 0; len <= M7B_PAYLOAD_MAX; len++) {
			wt_fill(&s, pl, len);
			if (len % 4 == 1) /* some payloads without any zero, some all zero */
				for (size_t i = 0; i < len; i++)
					pl[i] |= 1;
			else if (len % 16 == 2)
				memset(pl, 0, len);
			uint64_t r = wt_rand(&s);
			struct m7b_frame hdr = {
				.type = all_types[t],
				.port = (uint8_t)r,
				.flags = (uint8_t)(r >> 8),
				.seq = (uint32_t)(r >> 32),
				.ver = 9,  /* ignored: the encoder always writes version 1 */
				.len = 77, /* ignored: the parts give the length */
			};
			size_t wn =
				encode_checked(wire, &hdr, pl, len, (size_t)(r >> 16) % (len + 1));
			struct m7b_frame f;
			decode_frame(wire, wn, body, &f);
			assert_int_equal(f.ver, 1);
			assert_int_equal(f.type, hdr.type);
			assert_int_equal(f.port, hdr.port);
			assert_int_equal(f.flags, hdr.flags);
			assert_int_equal(f.seq, hdr.seq);
			assert_int_equal(f.len, len);
			assert_ptr_equal(f.payload, body + M7B_HDR_SIZE);
			if (len)
				assert_memory_equal(f.payload, pl, len);
		}
	}
}

static void test_encode_errors(void **state)
{
	(void)state;
	static uint8_t pl[600], out[M7B_FRAME_MAX + 64], ref[M7B_FRAME_MAX + 64];
	struct m7b_frame hdr = {.type = M7B_T_DATA, .port = 1, .seq = 5};
	memset(pl, 0x11, sizeof(pl));
	struct m7b_part part = {pl, M7B_PAYLOAD_MAX + 1};
	memset(out, GUARD, sizeof(out));
	assert_int_equal(m7b_wire_encode(out, sizeof(out), &hdr, &part, 1), -EMSGSIZE);
	struct m7b_part two[2] = {{pl, 400}, {pl, 79}};
	assert_int_equal(m7b_wire_encode(out, sizeof(out), &hdr, two, 2), -EMSGSIZE);
	two[1].len = 78;
	assert_true(m7b_wire_encode(out, sizeof(out), &hdr, two, 2) > (int)M7B_BODY_MAX);

	/* every too-small output buffer, for a few lengths including the largest */
	size_t lens[] = {0, 1, 100, 240, 241, 478};
	for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
		part.len = lens[li];
		int full = m7b_wire_encode(ref, sizeof(ref), &hdr, &part, 1);
		assert_true(full > 0);
		for (size_t cap = 0; cap < (size_t)full; cap++) {
			memset(out, GUARD, sizeof(out));
			assert_int_equal(m7b_wire_encode(out, cap, &hdr, &part, 1), -ENOSPC);
			for (size_t i = cap; i < sizeof(out); i++)
				assert_int_equal(out[i], GUARD);
		}
		assert_int_equal(m7b_wire_encode(out, (size_t)full, &hdr, &part, 1), full);
		assert_memory_equal(out, ref, (size_t)full);
	}
}

/* --- body checks --- */

static void test_parse_checks(void **state)
{
	(void)state;
	uint8_t body[M7B_BODY_MAX + 16], pl[M7B_PAYLOAD_MAX + 2];
	struct m7b_frame f;
	memset(pl, 0x42, sizeof(pl));

	/* every size below the minimum */
	for (size_t n = 0; n < M7B_BODY_MIN; n++) {
		memset(body, 0, sizeof(body));
		body[0] = 1;
		assert_int_equal(m7b_wire_parse(body, n, &f), -EMSGSIZE);
	}
	/* len field disagreeing with the size, for every size, CRC valid for the size */
	for (size_t n = M7B_BODY_MIN; n <= M7B_BODY_MAX + 2; n++) {
		size_t len = n - M7B_BODY_MIN;
		size_t bn = wt_body(body, 1, M7B_T_DATA, 0, 0, 3, pl, (uint16_t)len);
		assert_int_equal(bn, n);
		int want = n <= M7B_BODY_MAX ? 0 : -EMSGSIZE;
		assert_int_equal(m7b_wire_parse(body, n, &f), want);
		uint16_t bad[] = {(uint16_t)(len + 1), (uint16_t)(len - 1), (uint16_t)(len ^ 0x100),
				  0xFFFF};
		for (size_t k = 0; k < 4; k++) {
			if (bad[k] == len)
				continue;
			body[8] = (uint8_t)bad[k];
			body[9] = (uint8_t)(bad[k] >> 8);
			assert_int_equal(m7b_wire_parse(body, n, &f), -EMSGSIZE);
		}
	}
	/* CRC: every byte of the CRC and every header/payload byte changed */
	size_t bn = wt_body(body, 1, M7B_T_LOG, 2, 0, 9, pl, 20);
	assert_int_equal(m7b_wire_parse(body, bn, &f), 0);
	for (size_t i = 0; i < bn; i++) {
		if (i == 8 || i == 9)
			continue; /* the len field is checked first */
		body[i] ^= 0x20;
		assert_int_equal(m7b_wire_parse(body, bn, &f), -EBADMSG);
		body[i] ^= 0x20;
	}
	/* version: valid CRC but not 1; with a bad CRC the CRC error wins */
	for (unsigned v = 0; v < 256; v++) {
		bn = wt_body(body, (uint8_t)v, M7B_T_PING, 0, 0, 1, NULL, 0);
		assert_int_equal(m7b_wire_parse(body, bn, &f), v == 1 ? 0 : -EPROTO);
		body[bn - 1] ^= 1;
		assert_int_equal(m7b_wire_parse(body, bn, &f), -EBADMSG);
	}
	/* unknown types parse: the receiver counts and ignores them */
	bn = wt_body(body, 1, 0x42, 0, 0, 1, pl, 3);
	assert_int_equal(m7b_wire_parse(body, bn, &f), 0);
	assert_int_equal(f.type, 0x42);
}

/* --- typed payloads --- */

/* Sends a packed payload through the lib's encoder and parser; returns the frame. */
static void through_wire(uint8_t type, const uint8_t *pl, size_t len, uint8_t *body,
			 struct m7b_frame *f)
{
	uint8_t wire[M7B_FRAME_MAX + 8];
	struct m7b_frame hdr = {.type = type, .seq = (uint32_t)len * 7919u};
	size_t wn = encode_checked(wire, &hdr, pl, len, len / 3);
	decode_frame(wire, wn, body, f);
	assert_int_equal(f->type, type);
	assert_int_equal(f->len, len);
}

/* Every cap below n makes pack fail with -ENOSPC without writing past cap. */
#define CHECK_PACK_CAPS(fn, m, n)                                                                  \
	do {                                                                                       \
		uint8_t cb_[M7B_PAYLOAD_MAX + 32];                                                 \
		for (size_t cap_ = 0; cap_ < (size_t)(n); cap_++) {                                \
			memset(cb_, GUARD, sizeof(cb_));                                           \
			assert_int_equal(fn(cb_, cap_, (m)), -ENOSPC);                             \
			for (size_t i_ = cap_; i_ < sizeof(cb_); i_++)                             \
				assert_int_equal(cb_[i_], GUARD);                                  \
		}                                                                                  \
	} while (0)

static void test_hello(void **state)
{
	(void)state;
	uint8_t pl[M7B_PAYLOAD_MAX + 8], body[M7B_BODY_MAX];
	char name[M7B_PAYLOAD_MAX];
	uint64_t s = 1;
	wt_fill(&s, (uint8_t *)name, sizeof(name));
	for (size_t nl = 0; nl <= M7B_PAYLOAD_MAX - 20; nl++) {
		struct m7b_hello m = {(uint32_t)wt_rand(&s),
				      (uint32_t)wt_rand(&s),
				      wt_rand(&s),
				      (uint16_t)wt_rand(&s),
				      (uint16_t)wt_rand(&s),
				      name,
				      nl};
		int n = m7b_wire_pack_hello(pl, sizeof(pl), &m);
		assert_int_equal(n, 20 + (int)nl);
		if (nl % 97 == 0)
			CHECK_PACK_CAPS(m7b_wire_pack_hello, &m, n);
		struct m7b_frame f;
		struct m7b_hello u;
		through_wire(M7B_T_HELLO, pl, (size_t)n, body, &f);
		assert_int_equal(m7b_wire_unpack_hello(&f, &u), 0);
		assert_int_equal(u.tick_hz, m.tick_hz);
		assert_int_equal(u.boot_id, m.boot_id);
		assert_int_equal(u.now_ticks, m.now_ticks);
		assert_int_equal(u.max_payload, m.max_payload);
		assert_int_equal(u.host_credits, m.host_credits);
		assert_int_equal(u.name_len, nl);
		assert_ptr_equal(u.name, (const char *)f.payload + 20);
		if (nl)
			assert_memory_equal(u.name, name, nl);
	}
	struct m7b_hello big = {.name = name, .name_len = M7B_PAYLOAD_MAX - 19};
	assert_int_equal(m7b_wire_pack_hello(pl, sizeof(pl), &big), -EINVAL);
	big.name_len = (size_t)-15; /* must not wrap around the size check */
	assert_int_equal(m7b_wire_pack_hello(pl, sizeof(pl), &big), -EINVAL);
}

static void test_data(void **state)
{
	(void)state;
	uint8_t pl[M7B_PAYLOAD_MAX + 8], body[M7B_BODY_MAX], bytes[M7B_PAYLOAD_MAX];
	uint64_t s = 2;
	for (size_t nb = 0; nb <= M7B_DATA_BYTES_MAX; nb++) {
		wt_fill(&s, bytes, nb);
		struct m7b_data m = {wt_rand(&s), wt_rand(&s), bytes, nb};
		int n = m7b_wire_pack_data(pl, sizeof(pl), &m);
		assert_int_equal(n, 16 + (int)nb);
		if (nb % 101 == 0)
			CHECK_PACK_CAPS(m7b_wire_pack_data, &m, n);
		struct m7b_frame f;
		struct m7b_data u;
		through_wire(M7B_T_DATA, pl, (size_t)n, body, &f);
		assert_int_equal(m7b_wire_unpack_data(&f, &u), 0);
		assert_int_equal(u.t_first, m.t_first);
		assert_int_equal(u.t_last, m.t_last);
		assert_int_equal(u.nbytes, nb);
		assert_ptr_equal(u.bytes, f.payload + 16);
		if (nb)
			assert_memory_equal(u.bytes, bytes, nb);
	}
	struct m7b_data big = {.bytes = bytes, .nbytes = M7B_DATA_BYTES_MAX + 1};
	assert_int_equal(m7b_wire_pack_data(pl, sizeof(pl), &big), -EINVAL);
	big.nbytes = (size_t)-3;
	assert_int_equal(m7b_wire_pack_data(pl, sizeof(pl), &big), -EINVAL);
}

static void test_heartbeat(void **state)
{
	(void)state;
	uint8_t pl[M7B_PAYLOAD_MAX + 8], body[M7B_BODY_MAX];
	uint64_t s = 3;
	for (uint32_t nc = 0; nc <= M7B_HB_NCOUNTERS; nc++) {
		struct m7b_heartbeat m = {.now_ticks = wt_rand(&s), .ncounters = nc};
		for (uint32_t i = 0; i < M7B_HB_NCOUNTERS; i++)
			m.counter[i] = (uint32_t)wt_rand(&s);
		int n = m7b_wire_pack_heartbeat(pl, sizeof(pl), &m);
		assert_int_equal(n, 8 + 4 * (int)nc);
		CHECK_PACK_CAPS(m7b_wire_pack_heartbeat, &m, n);
		struct m7b_frame f;
		struct m7b_heartbeat u;
		memset(&u, 0x5A, sizeof(u));
		through_wire(M7B_T_HEARTBEAT, pl, (size_t)n, body, &f);
		assert_int_equal(m7b_wire_unpack_heartbeat(&f, &u), 0);
		assert_int_equal(u.now_ticks, m.now_ticks);
		assert_int_equal(u.ncounters, nc);
		for (uint32_t i = 0; i < M7B_HB_NCOUNTERS; i++)
			assert_int_equal(u.counter[i], i < nc ? m.counter[i] : 0);
	}
	struct m7b_heartbeat bad = {.ncounters = M7B_HB_NCOUNTERS + 1};
	assert_int_equal(m7b_wire_pack_heartbeat(pl, sizeof(pl), &bad), -EINVAL);

	/* a newer sender appends counters: the ones we know are read, the rest ignored */
	for (size_t extra = 1; 8 + 4 * (M7B_HB_NCOUNTERS + extra) <= M7B_PAYLOAD_MAX; extra++) {
		size_t len = 8 + 4 * (M7B_HB_NCOUNTERS + extra);
		wt_fill(&s, pl, len);
		struct m7b_frame f;
		struct m7b_heartbeat u;
		through_wire(M7B_T_HEARTBEAT, pl, len, body, &f);
		assert_int_equal(m7b_wire_unpack_heartbeat(&f, &u), 0);
		assert_int_equal(u.ncounters, M7B_HB_NCOUNTERS);
		for (uint32_t i = 0; i < M7B_HB_NCOUNTERS; i++) {
			const uint8_t *p = pl + 8 + 4 * i;
			assert_int_equal(u.counter[i], (uint32_t)p[0] | (uint32_t)p[1] << 8 |
							       (uint32_t)p[2] << 16 |
							       (uint32_t)p[3] << 24);
		}
	}
}

/* The counters appended later (13..16): a new firmware's 76-byte HEARTBEAT starts with the
 * 60 bytes an old one sent, so an old daemon reads the same 13 values; an old firmware's
 * 60-byte HEARTBEAT reads with ncounters 13, the appended ones absent. */
static void test_heartbeat_old_and_new_firmware(void **state)
{
	(void)state;
	uint8_t pl_new[M7B_PAYLOAD_MAX], pl_old[M7B_PAYLOAD_MAX], body[M7B_BODY_MAX];
	struct m7b_heartbeat m = {.now_ticks = 77, .ncounters = M7B_HB_NCOUNTERS};
	for (uint32_t i = 0; i < M7B_HB_NCOUNTERS; i++)
		m.counter[i] = 0x01010101u * (i + 1);
	assert_int_equal(M7B_HB_NCOUNTERS, 17);
	int nn = m7b_wire_pack_heartbeat(pl_new, sizeof(pl_new), &m);
	assert_int_equal(nn, 76);
	m.ncounters = 13;
	int no = m7b_wire_pack_heartbeat(pl_old, sizeof(pl_old), &m);
	assert_int_equal(no, 60);
	assert_memory_equal(pl_new, pl_old, 60);

	struct m7b_frame f;
	struct m7b_heartbeat u;
	memset(&u, 0x5A, sizeof(u));
	through_wire(M7B_T_HEARTBEAT, pl_old, (size_t)no, body, &f);
	assert_int_equal(m7b_wire_unpack_heartbeat(&f, &u), 0);
	assert_int_equal(u.ncounters, 13);
	assert_int_equal(u.counter[M7B_HB_NOISE_BYTES], 0x0D0D0D0Du);
	for (uint32_t i = 13; i < M7B_HB_NCOUNTERS; i++)
		assert_int_equal(u.counter[i], 0);
	through_wire(M7B_T_HEARTBEAT, pl_new, (size_t)nn, body, &f);
	assert_int_equal(m7b_wire_unpack_heartbeat(&f, &u), 0);
	assert_int_equal(u.ncounters, 17);
	assert_int_equal(u.counter[M7B_HB_HOST_VOIDED], 0x11111111u);
}

static void test_log(void **state)
{
	(void)state;
	uint8_t pl[M7B_PAYLOAD_MAX + 8], body[M7B_BODY_MAX];
	char text[M7B_PAYLOAD_MAX];
	uint64_t s = 4;
	wt_fill(&s, (uint8_t *)text, sizeof(text));
	for (size_t tl = 0; tl <= M7B_PAYLOAD_MAX - 1; tl++) {
		struct m7b_log m = {(uint8_t)(tl % 8), text, tl};
		int n = m7b_wire_pack_log(pl, sizeof(pl), &m);
		assert_int_equal(n, 1 + (int)tl);
		if (tl % 89 == 0)
			CHECK_PACK_CAPS(m7b_wire_pack_log, &m, n);
		struct m7b_frame f;
		struct m7b_log u;
		through_wire(M7B_T_LOG, pl, (size_t)n, body, &f);
		assert_int_equal(m7b_wire_unpack_log(&f, &u), 0);
		assert_int_equal(u.level, m.level);
		assert_int_equal(u.text_len, tl);
		if (tl)
			assert_memory_equal(u.text, text, tl);
	}
	struct m7b_log bad = {.level = 8, .text = text, .text_len = 3};
	assert_int_equal(m7b_wire_pack_log(pl, sizeof(pl), &bad), -EINVAL);
	bad.level = 3;
	bad.text_len = M7B_PAYLOAD_MAX;
	assert_int_equal(m7b_wire_pack_log(pl, sizeof(pl), &bad), -EINVAL);
	bad.text_len = (size_t)-1;
	assert_int_equal(m7b_wire_pack_log(pl, sizeof(pl), &bad), -EINVAL);
	/* a level beyond debug is a malformed payload */
	pl[0] = 8;
	struct m7b_frame f = {.type = M7B_T_LOG, .len = 1, .payload = pl};
	struct m7b_log u;
	assert_int_equal(m7b_wire_unpack_log(&f, &u), -EBADMSG);
}

static void test_fixed_size_payloads(void **state)
{
	(void)state;
	uint8_t pl[64], body[M7B_BODY_MAX];
	uint64_t s = 5;
	struct m7b_frame f;
	for (int i = 0; i < 50; i++) {
		struct m7b_sync m = {wt_rand(&s)}, u;
		assert_int_equal(m7b_wire_pack_sync(pl, sizeof(pl), &m), 8);
		CHECK_PACK_CAPS(m7b_wire_pack_sync, &m, 8);
		through_wire(M7B_T_SYNC, pl, 8, body, &f);
		assert_int_equal(m7b_wire_unpack_sync(&f, &u), 0);
		assert_int_equal(u.host_time, m.host_time);

		struct m7b_sync_reply r = {wt_rand(&s), wt_rand(&s), wt_rand(&s)}, ur;
		assert_int_equal(m7b_wire_pack_sync_reply(pl, sizeof(pl), &r), 24);
		CHECK_PACK_CAPS(m7b_wire_pack_sync_reply, &r, 24);
		through_wire(M7B_T_SYNC_REPLY, pl, 24, body, &f);
		assert_int_equal(m7b_wire_unpack_sync_reply(&f, &ur), 0);
		assert_int_equal(ur.host_time, r.host_time);
		assert_int_equal(ur.rx_ticks, r.rx_ticks);
		assert_int_equal(ur.tx_ticks, r.tx_ticks);

		uint64_t x = wt_rand(&s);
		struct m7b_ack a = {(uint32_t)x, (uint8_t)(x >> 32), (uint8_t)(x >> 40),
				    (uint16_t)(x >> 48)},
			       ua;
		assert_int_equal(m7b_wire_pack_ack(pl, sizeof(pl), &a), 8);
		CHECK_PACK_CAPS(m7b_wire_pack_ack, &a, 8);
		through_wire(M7B_T_ACK, pl, 8, body, &f);
		assert_int_equal(m7b_wire_unpack_ack(&f, &ua), 0);
		assert_int_equal(ua.acked_seq, a.acked_seq);
		assert_int_equal(ua.acked_type, a.acked_type);
		assert_int_equal(ua.status, a.status);
		assert_int_equal(ua.credits, a.credits);
	}
	/* the documented layouts, byte for byte */
	struct m7b_ack a = {0x01020304u, M7B_T_SEND, M7B_ACK_NO_CREDIT, 0x0506};
	assert_int_equal(m7b_wire_pack_ack(pl, sizeof(pl), &a), 8);
	static const uint8_t ack_bytes[] = {0x04, 0x03, 0x02, 0x01, 0x81, 0x02, 0x06, 0x05};
	assert_memory_equal(pl, ack_bytes, 8);
	struct m7b_sync_reply r = {0x1111111111111111ull, 0x2222222222222222ull, 3};
	assert_int_equal(m7b_wire_pack_sync_reply(pl, sizeof(pl), &r), 24);
	assert_int_equal(pl[0], 0x11);
	assert_int_equal(pl[8], 0x22);
	assert_int_equal(pl[16], 3);
	assert_int_equal(pl[23], 0);
}

static void test_config(void **state)
{
	(void)state;
	uint8_t pl[M7B_PAYLOAD_MAX + 8], body[M7B_BODY_MAX];
	struct m7b_config_item items[M7B_CONFIG_ITEMS_MAX + 1], u[M7B_CONFIG_ITEMS_MAX + 1];
	uint64_t s = 6;
	for (size_t i = 0; i <= M7B_CONFIG_ITEMS_MAX; i++) {
		uint64_t x = wt_rand(&s);
		items[i] = (struct m7b_config_item){(uint8_t)x, (uint32_t)(x >> 32)};
	}
	for (size_t n = 0; n <= M7B_CONFIG_ITEMS_MAX; n++) {
		int len = m7b_wire_pack_config(pl, sizeof(pl), items, n);
		assert_int_equal(len, 5 * (int)n);
		struct m7b_frame f;
		through_wire(M7B_T_CONFIG, pl, (size_t)len, body, &f);
		memset(u, 0, sizeof(u));
		assert_int_equal(m7b_wire_unpack_config(&f, u, M7B_CONFIG_ITEMS_MAX), (int)n);
		for (size_t i = 0; i < n; i++) {
			assert_int_equal(u[i].key, items[i].key);
			assert_int_equal(u[i].value, items[i].value);
		}
		/* room for fewer items than the frame carries: rejected, nothing silently cut */
		if (n > 0)
			assert_int_equal(m7b_wire_unpack_config(&f, u, n - 1), -EBADMSG);
		assert_int_equal(m7b_wire_unpack_config(&f, u, n), (int)n);
		for (size_t cap = 0; cap < (size_t)len; cap += (n % 7 == 0) ? 1 : (size_t)len) {
			uint8_t cb[M7B_PAYLOAD_MAX + 8];
			memset(cb, GUARD, sizeof(cb));
			assert_int_equal(m7b_wire_pack_config(cb, cap, items, n), -ENOSPC);
			for (size_t i = cap; i < sizeof(cb); i++)
				assert_int_equal(cb[i], GUARD);
		}
	}
	assert_int_equal(m7b_wire_pack_config(pl, sizeof(pl), items, M7B_CONFIG_ITEMS_MAX + 1),
			 -EINVAL);
	static const struct m7b_config_item one = {M7B_CFG_BAUD, 115200};
	assert_int_equal(m7b_wire_pack_config(pl, sizeof(pl), &one, 1), 5);
	static const uint8_t one_bytes[] = {0x05, 0x00, 0xC2, 0x01, 0x00};
	assert_memory_equal(pl, one_bytes, 5);
}

/* Each unpacker accepts exactly the payload lengths its layout allows. */
static void test_unpack_lengths(void **state)
{
	(void)state;
	uint8_t pl[M7B_PAYLOAD_MAX];
	memset(pl, 0x03, sizeof(pl)); /* a valid LOG level everywhere */
	struct m7b_hello h;
	struct m7b_data d;
	struct m7b_heartbeat hb;
	struct m7b_log l;
	struct m7b_sync sy;
	struct m7b_sync_reply sr;
	struct m7b_ack a;
	struct m7b_config_item items[M7B_CONFIG_ITEMS_MAX];
	for (unsigned len = 0; len <= M7B_PAYLOAD_MAX; len++) {
		struct m7b_frame f = {.ver = 1, .len = (uint16_t)len, .payload = pl};
		assert_int_equal(m7b_wire_unpack_hello(&f, &h), len >= 20 ? 0 : -EBADMSG);
		assert_int_equal(m7b_wire_unpack_data(&f, &d), len >= 16 ? 0 : -EBADMSG);
		assert_int_equal(m7b_wire_unpack_heartbeat(&f, &hb),
				 len >= 8 && (len - 8) % 4 == 0 ? 0 : -EBADMSG);
		assert_int_equal(m7b_wire_unpack_log(&f, &l), len >= 1 ? 0 : -EBADMSG);
		assert_int_equal(m7b_wire_unpack_sync(&f, &sy), len == 8 ? 0 : -EBADMSG);
		assert_int_equal(m7b_wire_unpack_sync_reply(&f, &sr), len == 24 ? 0 : -EBADMSG);
		assert_int_equal(m7b_wire_unpack_ack(&f, &a), len == 8 ? 0 : -EBADMSG);
		assert_int_equal(m7b_wire_unpack_config(&f, items, M7B_CONFIG_ITEMS_MAX),
				 len % 5 == 0 ? (int)len / 5 : -EBADMSG);
	}
}

static void test_type_names_and_errnos(void **state)
{
	(void)state;
	for (size_t i = 0; i < 12; i++) {
		const char *n = m7b_wire_type_name(all_types[i]);
		assert_non_null(n);
		assert_string_not_equal(n, "unknown");
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(n, m7b_wire_type_name(all_types[j]));
	}
	assert_string_equal(m7b_wire_type_name(M7B_T_DATA), "data");
	assert_string_equal(m7b_wire_type_name(M7B_T_HOST_HELLO), "host_hello");
	for (size_t i = 12; i < sizeof(all_types); i++)
		assert_string_equal(m7b_wire_type_name(all_types[i]), "unknown");
	assert_int_equal(-M7B_EINVAL, -EINVAL);
	assert_int_equal(-M7B_ENOSPC, -ENOSPC);
	assert_int_equal(-M7B_EPROTO, -EPROTO);
	assert_int_equal(-M7B_EBADMSG, -EBADMSG);
	assert_int_equal(-M7B_EMSGSIZE, -EMSGSIZE);
	/* 492-byte body + 2 code bytes + delimiter: fits one 496-byte RPMSG buffer */
	assert_int_equal(M7B_BODY_MAX, 492);
	assert_int_equal(M7B_FRAME_MAX, 495);
	assert_true(M7B_FRAME_MAX <= 496);
}

/* docs/PROTOCOL.md is the protocol's definition: its table of sizes and limits holds the
 * values this header compiles to, and its test vectors are the ones checked above. */
static void test_protocol_doc_agrees(void **state)
{
	(void)state;
	const char *root = getenv("M7B_SOURCE_ROOT");
	char path[4096];
	snprintf(path, sizeof(path), "%s/docs/PROTOCOL.md", root ? root : ".");
	FILE *fp = fopen(path, "rb");
	assert_non_null(fp);
	static char doc[1 << 17];
	size_t n = fread(doc, 1, sizeof(doc) - 1, fp);
	fclose(fp);
	assert_true(n > 0 && n < sizeof(doc) - 1);
	doc[n] = '\0';

	const struct {
		const char *name;
		unsigned value;
	} sizes[] = {
		{"M7B_HDR_SIZE", M7B_HDR_SIZE},
		{"M7B_CRC_SIZE", M7B_CRC_SIZE},
		{"M7B_PAYLOAD_MAX", M7B_PAYLOAD_MAX},
		{"M7B_FRAME_MAX", M7B_FRAME_MAX},
		{"M7B_DATA_BYTES_MAX", M7B_DATA_BYTES_MAX},
		{"M7B_HB_NCOUNTERS", M7B_HB_NCOUNTERS},
		{"M7B_CONFIG_ITEMS_MAX", M7B_CONFIG_ITEMS_MAX},
	};
	char row[128];
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		snprintf(row, sizeof(row), "| `%s` | %u |", sizes[i].name, sizes[i].value);
		if (!strstr(doc, row))
			fail_msg("docs/PROTOCOL.md has no row \"%s\"", row);
	}
	snprintf(row, sizeof(row), "| `M7B_BODY_MIN` / `M7B_BODY_MAX` | %u / %u |", M7B_BODY_MIN,
		 M7B_BODY_MAX);
	assert_non_null(strstr(doc, row));
	for (size_t i = 0; i < WT_NVECTORS; i++) {
		snprintf(row, sizeof(row), "`%s`", wt_vectors[i].hex);
		if (!strstr(doc, row))
			fail_msg("docs/PROTOCOL.md lacks the %s vector", wt_vectors[i].name);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vector_hello),
		cmocka_unit_test(test_vector_data),
		cmocka_unit_test(test_vector_heartbeat),
		cmocka_unit_test(test_heartbeat_old_and_new_firmware),
		cmocka_unit_test(test_vector_host_hello_ping),
		cmocka_unit_test(test_roundtrip_all_lengths),
		cmocka_unit_test(test_encode_errors),
		cmocka_unit_test(test_parse_checks),
		cmocka_unit_test(test_hello),
		cmocka_unit_test(test_data),
		cmocka_unit_test(test_heartbeat),
		cmocka_unit_test(test_log),
		cmocka_unit_test(test_fixed_size_payloads),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_unpack_lengths),
		cmocka_unit_test(test_type_names_and_errnos),
		cmocka_unit_test(test_protocol_doc_agrees),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
