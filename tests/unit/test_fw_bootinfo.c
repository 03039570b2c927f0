/* Tests of BOOT_INFO: the wire codec (lib/wire.c, with the vector of docs/PROTOCOL.md) and
 * the core's persist record and previous-boot accounting on a scripted board. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "board.h"
#include "fw.h"
#include "fw_fake_board.h"
#include "m7bridge/wire.h"
#include "wire_testlib.h"

/* docs/PROTOCOL.md: BOOT_INFO seq 1, build id deadbeef01020304, tick SYSCTR at 8000000 Hz,
 * channel "rpmsg-tty", previous boot 0xA1B2C3D4 valid, port 0: 10 produced, 7 sent,
 * 1 dropped, 2 queued. */
static const char vec_payload[] =
	"0108deadbeef0102030402050100127a00030972706d73672d747479040501d4c3b2a10511000a0000"
	"00070000000100000002000000";
static const char vec_frame[] =
	"030107010201010102360e0108deadbeef0102030402050103127a15030972706d73672d74747904"
	"0501d4c3b2a10511020a01010207010102010101020201010576407f1f00";

static const uint8_t vec_id[] = {0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4};

static struct fw fw;
static struct fake_frame frames[FAKE_MAX_FRAMES];

static void vec_info(struct m7b_boot_info *m)
{
	memset(m, 0, sizeof(*m));
	m->present =
		M7B_BI_HAS_BUILD_ID | M7B_BI_HAS_TICK | M7B_BI_HAS_CHANNEL | M7B_BI_HAS_PREV_BOOT;
	m->build_id = vec_id;
	m->build_id_len = sizeof(vec_id);
	m->tick_source = BOARD_TICK_SYSCTR;
	m->tick_hz = 8000000;
	m->channel = "rpmsg-tty";
	m->channel_len = 9;
	m->prev_flags = M7B_BI_PREV_VALID;
	m->prev_boot_id = 0xA1B2C3D4u;
	m->nports = 1;
	m->port[0] = (struct m7b_boot_port){0, 10, 7, 1, 2};
}

static int unpack_bytes(const uint8_t *p, size_t n, struct m7b_boot_info *m)
{
	struct m7b_frame f = {.type = M7B_T_BOOT_INFO, .len = (uint16_t)n, .payload = p};

	return m7b_wire_unpack_boot_info(&f, m);
}

static void test_vector(void **state)
{
	uint8_t want[256], buf[M7B_PAYLOAD_MAX], out[M7B_FRAME_MAX];
	size_t n = wt_unhex(want, sizeof(want), vec_payload);
	struct m7b_boot_info m, u;
	struct m7b_frame h = {.type = M7B_T_BOOT_INFO, .seq = 1};
	struct m7b_part part;
	int len;

	(void)state;
	vec_info(&m);
	len = m7b_wire_pack_boot_info(buf, sizeof(buf), &m);
	assert_int_equal(len, n);
	assert_memory_equal(buf, want, n);
	part.data = buf;
	part.len = (size_t)len;
	len = m7b_wire_encode(out, sizeof(out), &h, &part, 1);
	n = wt_unhex(want, sizeof(want), vec_frame);
	assert_int_equal(len, n);
	assert_memory_equal(out, want, n);

	assert_int_equal(
		unpack_bytes(buf, (size_t)m7b_wire_pack_boot_info(buf, sizeof(buf), &m), &u), 0);
	assert_int_equal(u.present, m.present);
	assert_memory_equal(u.build_id, vec_id, sizeof(vec_id));
	assert_int_equal(u.build_id_len, sizeof(vec_id));
	assert_int_equal(u.tick_source, BOARD_TICK_SYSCTR);
	assert_int_equal(u.tick_hz, 8000000);
	assert_int_equal(u.channel_len, 9);
	assert_memory_equal(u.channel, "rpmsg-tty", 9);
	assert_int_equal(u.prev_flags, M7B_BI_PREV_VALID);
	assert_int_equal(u.prev_boot_id, 0xA1B2C3D4u);
	assert_int_equal(u.nports, 1);
	assert_int_equal(u.port[0].produced, 10);
	assert_int_equal(u.port[0].sent, 7);
	assert_int_equal(u.port[0].dropped, 1);
	assert_int_equal(u.port[0].queued, 2);
	assert_int_equal(u.unknown_items, 0);
	assert_string_equal(m7b_wire_type_name(M7B_T_BOOT_INFO), "boot_info");
}

static void test_unknown_items_and_longer_values(void **state)
{
	/* An unknown key, then TICK with two bytes a later version appended. */
	const uint8_t p[] = {0x99, 3,	 'a',  'b',  'c',  M7B_BI_TICK, 7,
			     3,	   0x40, 0x78, 0x7d, 0x01, 0xEE,	0xEE};
	struct m7b_boot_info m;

	(void)state;
	assert_int_equal(unpack_bytes(p, sizeof(p), &m), 0);
	assert_int_equal(m.unknown_items, 1);
	assert_int_equal(m.present, M7B_BI_HAS_TICK);
	assert_int_equal(m.tick_source, BOARD_TICK_DWT);
	assert_int_equal(m.tick_hz, 25000000);
	/* Empty payload: nothing present, no error. */
	assert_int_equal(unpack_bytes(p, 0, &m), 0);
	assert_int_equal(m.present, 0);
}

static void test_truncation_is_rejected(void **state)
{
	uint8_t p[256];
	size_t n = wt_unhex(p, sizeof(p), vec_payload);
	/* Item boundaries of the vector: 2+8, 2+5, 2+9, 2+5, 2+17. */
	const size_t ends[] = {0, 10, 17, 28, 35, 54};
	struct m7b_boot_info m;

	(void)state;
	assert_int_equal(n, 54);
	for (size_t len = 0; len <= n; len++) {
		bool boundary = false;

		for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++)
			boundary |= ends[i] == len;
		assert_int_equal(unpack_bytes(p, len, &m), boundary ? 0 : -M7B_EBADMSG);
	}
}

static void test_short_known_items_are_rejected(void **state)
{
	const uint8_t tick[] = {M7B_BI_TICK, 4, 1, 0, 0, 0};
	const uint8_t prev[] = {M7B_BI_PREV_BOOT, 1, 1};
	const uint8_t port[] = {
		M7B_BI_PREV_PORT, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
	const uint8_t id[] = {M7B_BI_BUILD_ID, 0};
	const uint8_t ch[] = {M7B_BI_CHANNEL, 0};
	struct m7b_boot_info m;

	(void)state;
	assert_int_equal(unpack_bytes(tick, sizeof(tick), &m), -M7B_EBADMSG);
	assert_int_equal(unpack_bytes(prev, sizeof(prev), &m), -M7B_EBADMSG);
	assert_int_equal(unpack_bytes(port, sizeof(port), &m), -M7B_EBADMSG);
	assert_int_equal(unpack_bytes(id, sizeof(id), &m), -M7B_EBADMSG);
	assert_int_equal(unpack_bytes(ch, sizeof(ch), &m), -M7B_EBADMSG);
}

/* A build id is all of its value: one over 64 bytes is not read in part (that would name
 * another image), it makes the frame malformed as docs/PROTOCOL.md says. */
static void test_long_build_id_is_malformed(void **state)
{
	uint8_t p[2u + M7B_BI_BUILD_ID_MAX + 1u];
	struct m7b_boot_info m;

	(void)state;
	memset(p, 0xAB, sizeof(p));
	p[0] = M7B_BI_BUILD_ID;
	p[1] = M7B_BI_BUILD_ID_MAX + 1u;
	assert_int_equal(unpack_bytes(p, sizeof(p), &m), -M7B_EBADMSG);
	p[1] = M7B_BI_BUILD_ID_MAX;
	assert_int_equal(unpack_bytes(p, sizeof(p) - 1u, &m), 0);
	assert_int_equal(m.build_id_len, M7B_BI_BUILD_ID_MAX);
}

static void test_more_ports_than_kept(void **state)
{
	uint8_t p[M7B_PAYLOAD_MAX];
	size_t n = 0;
	struct m7b_boot_info m;

	(void)state;
	for (unsigned i = 0; i < M7B_BI_PORTS_MAX + 3u; i++) {
		p[n++] = M7B_BI_PREV_PORT;
		p[n++] = M7B_BI_PREV_PORT_LEN;
		p[n] = (uint8_t)i;
		memset(p + n + 1, 0, 16);
		p[n + 1] = (uint8_t)(i * 2u); /* produced */
		n += M7B_BI_PREV_PORT_LEN;
	}
	assert_int_equal(unpack_bytes(p, n, &m), 0);
	assert_int_equal(m.nports, M7B_BI_PORTS_MAX);
	assert_int_equal(m.ports_skipped, 3);
	assert_int_equal(m.port[15].port, 15);
	assert_int_equal(m.port[15].produced, 30);
}

static void test_pack_errors(void **state)
{
	uint8_t buf[M7B_PAYLOAD_MAX];
	struct m7b_boot_info m;

	(void)state;
	vec_info(&m);
	assert_int_equal(m7b_wire_pack_boot_info(buf, 53, &m), -M7B_ENOSPC);
	assert_int_equal(m7b_wire_pack_boot_info(buf, 54, &m), 54);
	m.nports = M7B_BI_PORTS_MAX + 1u;
	assert_int_equal(m7b_wire_pack_boot_info(buf, sizeof(buf), &m), -M7B_EINVAL);
	vec_info(&m);
	m.build_id_len = M7B_BI_BUILD_ID_MAX + 1u;
	assert_int_equal(m7b_wire_pack_boot_info(buf, sizeof(buf), &m), -M7B_EINVAL);
	vec_info(&m);
	m.channel_len = 256;
	assert_int_equal(m7b_wire_pack_boot_info(buf, sizeof(buf), &m), -M7B_EINVAL);
}

/* Starts the core on the fake board and returns the BOOT_INFO that follows HELLO. */
static void boot(unsigned nports, uint32_t boot_id, const char *channel, struct m7b_boot_info *bi)
{
	struct fw_options o;
	size_t n;

	fake_reset(nports);
	fake.boot_id = boot_id;
	fake_options(&o, nports, 100);
	o.channel = channel;
	fw_init(&fw, &o);
	fw_link_up(&fw);
	fw_poll(&fw);
	n = fake_frames(frames, FAKE_MAX_FRAMES);
	assert_true(n >= 2);
	assert_int_equal(frames[0].f.type, M7B_T_HELLO);
	assert_int_equal(frames[1].f.type, M7B_T_BOOT_INFO);
	assert_int_equal(frames[1].f.seq, 1);
	assert_int_equal(m7b_wire_unpack_boot_info(&frames[1].f, bi), 0);
}

/* One capture of one byte on `port`, closed by the idle gap. */
static void capture(unsigned port, uint8_t byte)
{
	fake.ticks += 1000;
	fw_uart_rx_isr(&fw, port, byte, 0, fake.ticks);
	fake.ticks += 100;
	fw_poll(&fw);
}

static void test_cold_boot_has_no_previous_record(void **state)
{
	struct m7b_boot_info bi;

	(void)state;
	fake_power_on(2);
	boot(2, 0x1111, "rpmsg-virtual-tty-channel", &bi);
	assert_true(bi.present & M7B_BI_HAS_PREV_BOOT);
	assert_int_equal(bi.prev_flags & M7B_BI_PREV_VALID, 0);
	assert_int_equal(bi.nports, 0);
	assert_true(bi.present & M7B_BI_HAS_TICK);
	assert_int_equal(bi.tick_source, BOARD_TICK_SYSCTR);
	assert_int_equal(bi.tick_hz, 8000000 - 12);
	assert_true(bi.present & M7B_BI_HAS_CHANNEL);
	assert_memory_equal(bi.channel, "rpmsg-virtual-tty-channel", bi.channel_len);
	/* An image without a build id sends no item for it. */
	assert_false(bi.present & M7B_BI_HAS_BUILD_ID);
	assert_false(fw_prev_boot(&fw)->valid);
}

static void test_build_id_item(void **state)
{
	struct fw_options o;
	struct m7b_boot_info bi;

	(void)state;
	fake_power_on(1);
	memcpy(fake.build_id, vec_id, sizeof(vec_id));
	fake.build_id_len = sizeof(vec_id);
	fake_options(&o, 1, 100);
	fw_init(&fw, &o);
	fw_link_up(&fw);
	fw_poll(&fw);
	assert_int_equal(fake_frames(frames, FAKE_MAX_FRAMES), 2);
	assert_int_equal(m7b_wire_unpack_boot_info(&frames[1].f, &bi), 0);
	assert_true(bi.present & M7B_BI_HAS_BUILD_ID);
	assert_int_equal(bi.build_id_len, sizeof(vec_id));
	assert_memory_equal(bi.build_id, vec_id, sizeof(vec_id));
	assert_false(bi.present & M7B_BI_HAS_CHANNEL);
}

static void test_reboot_accounts_queued_captures(void **state)
{
	struct m7b_boot_info bi;

	(void)state;
	fake_power_on(2);
	boot(2, 0x1111, NULL, &bi);
	/* One capture goes out; then the link refuses and the queue of port 0 fills up. */
	capture(0, 'a');
	assert_int_equal(fake_frames(frames, FAKE_MAX_FRAMES), 1);
	capture(1, 'b');
	fake.link_refuse = true;
	for (unsigned i = 0; i < FW_CAPTURE_QUEUE + 2u; i++)
		capture(0, (uint8_t)i);
	/* The M7 resets now: the record is what the last fw_poll left. */
	boot(2, 0x2222, NULL, &bi);
	assert_int_equal(bi.prev_flags, M7B_BI_PREV_VALID);
	assert_int_equal(bi.prev_boot_id, 0x1111);
	assert_int_equal(bi.nports, 2);
	assert_int_equal(bi.port[0].port, 0);
	assert_int_equal(bi.port[0].sent, 1);
	assert_int_equal(bi.port[0].queued, FW_CAPTURE_QUEUE);
	assert_int_equal(bi.port[0].dropped, 2);
	assert_int_equal(bi.port[0].produced, 1 + FW_CAPTURE_QUEUE + 2);
	assert_int_equal(bi.port[1].port, 1);
	assert_int_equal(bi.port[1].produced, 1);
	/* port 1's capture was sent before the link refused */
	assert_int_equal(bi.port[1].sent, 1);
	assert_int_equal(bi.port[1].queued, 0);

	/* Another reset right away: the previous boot is 0x2222, which produced nothing. */
	boot(2, 0x3333, NULL, &bi);
	assert_int_equal(bi.prev_boot_id, 0x2222);
	assert_int_equal(bi.port[0].produced, 0);
	assert_int_equal(bi.port[0].queued, 0);
}

/* A board whose boot id comes from a counter that restarts with the M7 (a GPT started at
 * boot) can return the same id after a reset. The host tells boots apart by that id, so
 * the core never repeats the previous boot's: each boot's HELLO, record and BOOT_INFO
 * agree on an id that differs from the one before. */
static void test_boot_id_differs_from_previous_boot(void **state)
{
	struct m7b_boot_info bi;
	struct m7b_hello h;
	const struct fw_persist_hdr *rec = (const void *)fake_persist;
	uint32_t prev;

	(void)state;
	fake_power_on(1);
	boot(1, 0x1111, NULL, &bi);
	assert_int_equal(m7b_wire_unpack_hello(&frames[0].f, &h), 0);
	assert_int_equal(h.boot_id, 0x1111);
	prev = h.boot_id;
	for (int i = 0; i < 4; i++) {
		boot(1, 0x1111, NULL, &bi);
		assert_int_equal(bi.prev_flags, M7B_BI_PREV_VALID);
		assert_int_equal(bi.prev_boot_id, prev);
		assert_int_equal(m7b_wire_unpack_hello(&frames[0].f, &h), 0);
		assert_int_not_equal(h.boot_id, prev);
		assert_int_not_equal(h.boot_id, 0);
		assert_int_equal(rec->boot_id, h.boot_id);
		prev = h.boot_id;
	}
	/* Without a valid record there is nothing to differ from: the board's id stands. */
	fake_power_on(1);
	boot(1, 0x1111, NULL, &bi);
	assert_int_equal(m7b_wire_unpack_hello(&frames[0].f, &h), 0);
	assert_int_equal(h.boot_id, 0x1111);
}

/* The record is rewritten (and its CRC renewed) once per poll that changed a counter,
 * never for a poll that changed nothing. */
static void test_record_written_only_on_change(void **state)
{
	struct m7b_boot_info bi;
	const struct fw_persist_hdr *h = (const void *)fake_persist;

	(void)state;
	fake_power_on(1);
	boot(1, 0x1111, NULL, &bi);
	assert_int_equal(h->magic, FW_PERSIST_MAGIC);
	assert_int_equal(h->boot_id, 0x1111);
	assert_int_equal(h->nports, 1);
	assert_int_equal(h->updates, 0);
	for (int i = 0; i < 5; i++)
		fw_poll(&fw);
	assert_int_equal(h->updates, 0);
	capture(0, 'a'); /* closed and sent in one poll: one update */
	assert_int_equal(h->updates, 1);
	fw_poll(&fw);
	assert_int_equal(h->updates, 1);
	fake.link_refuse = true;
	capture(0, 'b');
	assert_int_equal(h->updates, 2);
}

static void test_fatal_keeps_the_record(void **state)
{
	struct m7b_boot_info bi;

	(void)state;
	fake_power_on(1);
	boot(1, 0x1111, NULL, &bi);
	fake.link_refuse = true;
	capture(0, 'x');
	capture(0, 'y');
	fw_assert_failed(&fw, "here.c", 1);
	boot(1, 0x2222, NULL, &bi);
	assert_int_equal(bi.prev_flags, M7B_BI_PREV_VALID);
	assert_int_equal(bi.port[0].queued, 2);
	assert_int_equal(bi.port[0].produced, 2);
}

static void test_corrupt_record_is_not_valid(void **state)
{
	struct m7b_boot_info bi;

	(void)state;
	fake_power_on(1);
	boot(1, 0x1111, NULL, &bi);
	capture(0, 'x');
	/* One bit flipped in the counters (a brown-out, a stray write): CRC fails. */
	fake_persist[20] ^= 0x10;
	boot(1, 0x2222, NULL, &bi);
	assert_int_equal(bi.prev_flags, 0);
	assert_int_equal(bi.nports, 0);
	/* A record claiming more ports than the area holds is not read either. */
	fake_persist_len = 40;
	boot(1, 0x3333, NULL, &bi);
	fake_persist[6] = 200; /* nports */
	boot(1, 0x4444, NULL, &bi);
	assert_int_equal(bi.prev_flags, 0);
}

static void test_small_or_missing_area(void **state)
{
	struct fw_options o;
	struct m7b_boot_info bi;

	(void)state;
	/* No area: no record, BOOT_INFO still says so. */
	fake_power_on(2);
	fake_options(&o, 2, 100);
	fake.persist_off = true;
	fw_init(&fw, &o);
	fw_link_up(&fw);
	fw_poll(&fw);
	assert_int_equal(fake_frames(frames, FAKE_MAX_FRAMES), 2);
	assert_int_equal(m7b_wire_unpack_boot_info(&frames[1].f, &bi), 0);
	assert_int_equal(bi.prev_flags, 0);

	/* An area for one port of two (header, one entry, CRC): port 0 is accounted. */
	fake_power_on(2);
	fake_persist_len = 16 + 16 + 4;
	boot(2, 0x1, NULL, &bi);
	capture(0, 'x');
	capture(1, 'y');
	boot(2, 0x2, NULL, &bi);
	assert_int_equal(bi.prev_flags, M7B_BI_PREV_VALID);
	assert_int_equal(bi.nports, 1);
	assert_int_equal(bi.port[0].sent, 1);
}

static void test_boot_info_after_every_hello(void **state)
{
	uint8_t buf[64];
	size_t n;
	struct m7b_boot_info bi;

	(void)state;
	fake_power_on(1);
	boot(1, 0x1111, NULL, &bi);
	assert_int_equal(bi.prev_flags, 0);
	n = fake_host_frame(buf, sizeof(buf), M7B_T_HOST_HELLO, 0, 0, NULL, 0);
	fw_link_rx(&fw, buf, n);
	fw_poll(&fw);
	assert_int_equal(fake_frames(frames, FAKE_MAX_FRAMES), 2);
	assert_int_equal(frames[0].f.type, M7B_T_HELLO);
	assert_int_equal(frames[1].f.type, M7B_T_BOOT_INFO);
	/* The link went away and came back: HELLO and BOOT_INFO again, seq 0 and 1. */
	fw_link_down(&fw);
	fw_link_up(&fw);
	fw_poll(&fw);
	assert_int_equal(fake_frames(frames, FAKE_MAX_FRAMES), 2);
	assert_int_equal(frames[1].f.type, M7B_T_BOOT_INFO);
	assert_int_equal(frames[1].f.seq, 1);
}

static void test_every_log_line_is_traced(void **state)
{
	struct fw_options o;

	(void)state;
	fake_power_on(1);
	fake_options(&o, 1, 100);
	fw_init(&fw, &o);
	/* Link down: no LOG frame can go, the trace ring still gets the line. */
	fw_log(&fw, 3, "sensor gone");
	assert_int_equal(fake.traces, 1);
	assert_int_equal(fake.trace_level, 3);
	assert_string_equal(fake.trace_text, "sensor gone");
	/* Queue full: the frame is dropped and counted, the line is still traced. */
	for (unsigned i = 0; i < FW_LOG_QUEUE + 3u; i++)
		fw_log(&fw, 9, "again");
	assert_int_equal(fake.traces, 1 + FW_LOG_QUEUE + 3u);
	assert_int_equal(fake.trace_level, 7);	/* clamped like the LOG frame */
	assert_int_equal(fw.n.logs_dropped, 4); /* 8 lines, 4 queued */
	fw_assert_failed(&fw, "core.c", 9);
	assert_string_equal(fake.trace_text, "assertion failed: core.c:9");
	assert_int_equal(fake.trace_level, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vector),
		cmocka_unit_test(test_unknown_items_and_longer_values),
		cmocka_unit_test(test_truncation_is_rejected),
		cmocka_unit_test(test_short_known_items_are_rejected),
		cmocka_unit_test(test_more_ports_than_kept),
		cmocka_unit_test(test_pack_errors),
		cmocka_unit_test(test_cold_boot_has_no_previous_record),
		cmocka_unit_test(test_build_id_item),
		cmocka_unit_test(test_long_build_id_is_malformed),
		cmocka_unit_test(test_reboot_accounts_queued_captures),
		cmocka_unit_test(test_boot_id_differs_from_previous_boot),
		cmocka_unit_test(test_record_written_only_on_change),
		cmocka_unit_test(test_fatal_keeps_the_record),
		cmocka_unit_test(test_corrupt_record_is_not_valid),
		cmocka_unit_test(test_small_or_missing_area),
		cmocka_unit_test(test_boot_info_after_every_hello),
		cmocka_unit_test(test_every_log_line_is_traced),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
