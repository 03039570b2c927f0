/* libFuzzer target for the typed payloads and the body parser.
 * Input: byte 0 = frame type, byte 1 = port, the rest = payload (cut to 478 bytes).
 * Every unpacker runs on the frame; whatever unpacks must pack back to the same bytes.
 * The input is also parsed as a raw body, with and without its CRC fixed up, and the
 * frame goes through the encoder and the stream decoder. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "m7bridge/crc32c.h"
#include "m7bridge/decoder.h"
#include "m7bridge/wire.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The bytes a pointer set by unpack covers must lie inside the payload. */
static void check_inside(const struct m7b_frame *f, const void *p, size_t n)
{
	const uint8_t *b = p;
	CHECK(b >= f->payload && b + n <= f->payload + f->len);
}

static void check_repack(const struct m7b_frame *f, const uint8_t *packed, int n)
{
	CHECK(n >= 0 && (size_t)n == f->len);
	CHECK(memcmp(packed, f->payload, f->len) == 0);
}

static void unpack_all(const struct m7b_frame *f)
{
	uint8_t out[M7B_PAYLOAD_MAX];
	struct m7b_hello h;
	struct m7b_data d;
	struct m7b_heartbeat hb;
	struct m7b_log l;
	struct m7b_sync sy;
	struct m7b_sync_reply sr;
	struct m7b_ack a;
	struct m7b_config_item items[M7B_CONFIG_ITEMS_MAX];
	struct m7b_boot_info bi, bi2;

	if (m7b_wire_unpack_boot_info(f, &bi) == 0) {
		/* Items may be skipped or repeated, so the repacked bytes may differ: what
		 * they say must not. */
		if (bi.present & M7B_BI_HAS_BUILD_ID)
			check_inside(f, bi.build_id, bi.build_id_len);
		if (bi.present & M7B_BI_HAS_CHANNEL)
			check_inside(f, bi.channel, bi.channel_len);
		CHECK(bi.nports <= M7B_BI_PORTS_MAX);
		int n = m7b_wire_pack_boot_info(out, sizeof(out), &bi);
		CHECK(n >= 0 && n <= (int)f->len);
		struct m7b_frame g = *f;
		g.payload = out;
		g.len = (uint16_t)n;
		CHECK(m7b_wire_unpack_boot_info(&g, &bi2) == 0);
		CHECK(bi2.present == bi.present && bi2.nports == bi.nports);
		CHECK(bi2.tick_hz == bi.tick_hz && bi2.prev_boot_id == bi.prev_boot_id);
		CHECK(memcmp(bi2.port, bi.port, sizeof(bi.port)) == 0);
	} else {
		CHECK(f->len > 0);
	}
	if (m7b_wire_unpack_hello(f, &h) == 0) {
		check_inside(f, h.name, h.name_len);
		check_repack(f, out, m7b_wire_pack_hello(out, sizeof(out), &h));
	}
	if (m7b_wire_unpack_data(f, &d) == 0) {
		check_inside(f, d.bytes, d.nbytes);
		check_repack(f, out, m7b_wire_pack_data(out, sizeof(out), &d));
	}
	if (m7b_wire_unpack_heartbeat(f, &hb) == 0) {
		CHECK(hb.ncounters <= M7B_HB_NCOUNTERS);
		int n = m7b_wire_pack_heartbeat(out, sizeof(out), &hb);
		/* counters beyond the known ones are dropped; the rest packs back exactly */
		CHECK(n == 8 + 4 * (int)hb.ncounters && n <= (int)f->len);
		CHECK(memcmp(out, f->payload, (size_t)n) == 0);
		for (uint32_t i = hb.ncounters; i < M7B_HB_NCOUNTERS; i++)
			CHECK(hb.counter[i] == 0);
	}
	if (m7b_wire_unpack_log(f, &l) == 0) {
		CHECK(l.level <= 7);
		check_inside(f, l.text, l.text_len);
		check_repack(f, out, m7b_wire_pack_log(out, sizeof(out), &l));
	}
	if (m7b_wire_unpack_sync(f, &sy) == 0)
		check_repack(f, out, m7b_wire_pack_sync(out, sizeof(out), &sy));
	if (m7b_wire_unpack_sync_reply(f, &sr) == 0)
		check_repack(f, out, m7b_wire_pack_sync_reply(out, sizeof(out), &sr));
	if (m7b_wire_unpack_ack(f, &a) == 0)
		check_repack(f, out, m7b_wire_pack_ack(out, sizeof(out), &a));
	int n = m7b_wire_unpack_config(f, items, M7B_CONFIG_ITEMS_MAX);
	if (n >= 0)
		check_repack(f, out, m7b_wire_pack_config(out, sizeof(out), items, (size_t)n));
	else
		CHECK(n == -M7B_EBADMSG);
	/* a short item buffer is refused, never overrun */
	if (n > 1)
		CHECK(m7b_wire_unpack_config(f, items, (size_t)n - 1) == -M7B_EBADMSG);
	(void)m7b_wire_type_name(f->type);
}

/* The raw input as a body: parse must refuse or give a frame inside the body. */
static void parse_raw(const uint8_t *body, size_t n)
{
	struct m7b_frame f;
	int r = m7b_wire_parse(body, n, &f);
	CHECK(r == 0 || r == -M7B_EMSGSIZE || r == -M7B_EBADMSG || r == -M7B_EPROTO);
	if (r == 0) {
		CHECK(n == M7B_BODY_MIN + f.len && f.payload == body + M7B_HDR_SIZE);
		unpack_all(&f);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	size_t len = size - 2 > M7B_PAYLOAD_MAX ? M7B_PAYLOAD_MAX : size - 2;
	/* exact-size heap copy: any read past len is caught */
	uint8_t *pl = malloc(len ? len : 1);
	if (!pl)
		return 0;
	memcpy(pl, data + 2, len);
	struct m7b_frame f = {
		.ver = 1, .type = data[0], .port = data[1], .len = (uint16_t)len, .payload = pl};
	unpack_all(&f);

	/* through the encoder and the stream decoder, in two pieces */
	uint8_t wire[M7B_FRAME_MAX];
	struct m7b_part parts[2] = {{pl, len / 2}, {pl + len / 2, len - len / 2}};
	int wn = m7b_wire_encode(wire, sizeof(wire), &f, parts, 2);
	CHECK(wn > 0 && wire[wn - 1] == 0 && memchr(wire, 0, (size_t)wn - 1) == NULL);
	struct m7b_decoder d;
	struct m7b_frame g;
	m7b_decoder_init(&d);
	const uint8_t *p = wire, *mid = wire + wn / 2, *end = wire + wn;
	CHECK(m7b_decoder_next(&d, &p, mid, &g) == 0 && p == mid);
	CHECK(m7b_decoder_next(&d, &p, end, &g) == 1 && p == end);
	CHECK(g.type == f.type && g.port == f.port && g.len == f.len);
	CHECK(memcmp(g.payload, pl, len) == 0);
	unpack_all(&g);
	free(pl);

	/* the whole input as a body, as is and with a correct CRC at its end */
	uint8_t *body = malloc(size);
	if (!body)
		return 0;
	memcpy(body, data, size);
	parse_raw(body, size);
	if (size >= M7B_CRC_SIZE) {
		uint32_t c = m7b_crc32c(0, body, size - M7B_CRC_SIZE);
		for (int i = 0; i < 4; i++)
			body[size - M7B_CRC_SIZE + (size_t)i] = (uint8_t)(c >> (8 * i));
		parse_raw(body, size);
	}
	free(body);
	return 0;
}
