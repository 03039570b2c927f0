/* Tests of the firmware core's link engine (firmware/core/fw_link.c) on a scripted board:
 * HELLO, DATA, HEARTBEAT, PING, SEND/CONFIG with ACK and credits, SYNC, LOG, garbage
 * and unknown frames, link backpressure, and a seeded random mix of all of it. */
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

static struct fw fw;
static struct fake_frame frames[FAKE_MAX_FRAMES];

#define IDLE 400u

static int setup(void **state)
{
	struct fw_options o;

	fake_power_on(2);
	fake_options(&o, 2, IDLE);
	fw_init(&fw, &o);
	return 0;
}

static size_t poll_frames(void)
{
	fw_poll(&fw);
	return fake_frames(frames, FAKE_MAX_FRAMES);
}

static void test_nothing_before_link_up(void **state)
{
	fw_poll(&fw);
	assert_int_equal(fake.link_len, 0);
}

static void test_hello_on_link_up_matches_vector(void **state)
{
	uint8_t want[64];
	size_t n = wt_unhex(want, sizeof(want), wt_vectors[0].hex);

	fake.ticks = 123456789;
	fw_link_up(&fw);
	fw_poll(&fw);
	/* One leading 0x00, then the HELLO of the protocol note byte for byte, then
	 * BOOT_INFO in a write of its own. */
	assert_true(fake.link_len > n + 1);
	assert_int_equal(fake.link[0], 0);
	assert_memory_equal(fake.link + 1, want, n);
	assert_int_equal(fake.link_writes, 2); /* the 0x00 travels with HELLO */
	assert_int_equal(fake_frames(frames, FAKE_MAX_FRAMES), 2);
	assert_int_equal(frames[1].f.type, M7B_T_BOOT_INFO);
	assert_int_equal(frames[1].f.seq, 1);
}

static void test_hello_again_on_host_hello(void **state)
{
	struct m7b_hello h;

	fw_link_up(&fw);
	assert_int_equal(poll_frames(), 2); /* HELLO, BOOT_INFO */
	fw_log(&fw, 6, "one");
	fw_log(&fw, 6, "two");
	assert_int_equal(poll_frames(), 2);
	assert_int_equal(frames[1].f.seq, 3);

	fake_host_send(&fw, M7B_T_HOST_HELLO, 0, 0, NULL, 0);
	fw_log(&fw, 6, "three");
	assert_int_equal(poll_frames(), 3);
	assert_int_equal(frames[0].f.type, M7B_T_HELLO);
	assert_int_equal(frames[0].f.seq, 0); /* the sequence restarts */
	assert_int_equal(m7b_wire_unpack_hello(&frames[0].f, &h), 0);
	assert_int_equal(h.host_credits, FW_HOST_QUEUE);
	assert_int_equal(h.boot_id, 0xA1B2C3D4u);
	assert_int_equal(frames[1].f.type, M7B_T_BOOT_INFO); /* after every HELLO */
	assert_int_equal(frames[1].f.seq, 1);
	assert_int_equal(frames[2].f.type, M7B_T_LOG);
	assert_int_equal(frames[2].f.seq, 2);
	assert_int_equal(fake.link[fake.link_len - 1], 0);
}

static void test_host_hello_voids_credit_frames(void **state)
{
	struct m7b_hello h;

	fw_link_up(&fw);
	poll_frames();
	fake.uart_room = 0;
	fake_host_send(&fw, M7B_T_SEND, 0, 1, "a", 1);
	fake_host_send(&fw, M7B_T_SEND, 0, 2, "b", 1);
	assert_int_equal(poll_frames(), 0);
	fake_host_send(&fw, M7B_T_HOST_HELLO, 0, 0, NULL, 0);
	fake.uart_room = 4096;
	assert_int_equal(poll_frames(), 2); /* HELLO, BOOT_INFO: no ACK for the voided frames */
	assert_int_equal(m7b_wire_unpack_hello(&frames[0].f, &h), 0);
	assert_int_equal(h.host_credits, FW_HOST_QUEUE);
	assert_int_equal(fake.uart_len[0], 0);
}

/* A HOST_HELLO that arrives while the link refuses an ACK already in the transmit slot:
 * the voided ACK must not go out after it, and the ACK queue must stay consistent so
 * that later SENDs are still worked and acknowledged. */
static void test_host_hello_while_ack_waits_in_slot(void **state)
{
	struct m7b_ack a;
	struct m7b_hello h;
	size_t n;

	fw_link_up(&fw);
	poll_frames();
	fake_host_send(&fw, M7B_T_SEND, 0, 7, "a", 1);
	fake.link_refuse = true;
	assert_int_equal(poll_frames(), 0); /* the ACK of seq 7 waits in the slot */
	fake_host_send(&fw, M7B_T_HOST_HELLO, 0, 0, NULL, 0);
	fake.link_refuse = false;
	n = poll_frames();
	assert_true(n >= 2);
	assert_int_equal(frames[0].f.type, M7B_T_HELLO); /* nothing voided goes out first */
	assert_int_equal(m7b_wire_unpack_hello(&frames[0].f, &h), 0);
	assert_int_equal(h.host_credits, FW_HOST_QUEUE);
	assert_int_equal(frames[1].f.type, M7B_T_BOOT_INFO);
	assert_int_equal(n, 2);
	assert_int_equal(fw.ack_count, 0);

	/* The engine still works: a new SEND goes out and is acknowledged once. */
	fake_host_send(&fw, M7B_T_SEND, 0, 1, "b", 1);
	assert_int_equal(poll_frames(), 1);
	assert_int_equal(m7b_wire_unpack_ack(&frames[0].f, &a), 0);
	assert_int_equal(a.acked_seq, 1);
	assert_int_equal(a.status, M7B_ACK_OK);
	assert_int_equal(a.credits, FW_HOST_QUEUE);
	assert_int_equal(poll_frames(), 0);
	assert_memory_equal(fake.uart[0], "ab", 2);
}

static void test_data_exact_bytes_and_ticks(void **state)
{
	struct m7b_data d;
	const uint8_t bytes[] = {0x00, 0x01, 0x68, 0x69, 0x00};

	fw_link_up(&fw);
	assert_int_equal(poll_frames(), 2);
	for (unsigned i = 0; i < sizeof(bytes); i++)
		fw_uart_rx_isr(&fw, 1, bytes[i], 0, 5000u + 87u * i);
	fake.ticks = 5000u + 87u * 4 + IDLE - 1u;
	assert_int_equal(poll_frames(), 0); /* not idle long enough yet */
	fake.ticks++;
	assert_int_equal(poll_frames(), 1);
	assert_int_equal(frames[0].f.type, M7B_T_DATA);
	assert_int_equal(frames[0].f.port, 1);
	assert_int_equal(frames[0].f.seq, 2);
	assert_int_equal(frames[0].f.flags, 0);
	assert_int_equal(m7b_wire_unpack_data(&frames[0].f, &d), 0);
	assert_int_equal(d.t_first, 5000);
	assert_int_equal(d.t_last, 5000 + 87 * 4);
	assert_int_equal(d.nbytes, sizeof(bytes));
	assert_memory_equal(d.bytes, bytes, sizeof(bytes));
	assert_true(fake.irq_max_depth >= 1);
	assert_int_equal(fake.irq_depth, 0);
}

static void test_data_vector(void **state)
{
	uint8_t want[64];
	size_t n = wt_unhex(want, sizeof(want), wt_vectors[1].hex);
	const uint8_t bytes[] = {0x00, 0x01, 0x68, 0x69, 0x00};
	const uint64_t ticks[] = {1000, 1020, 1040, 1060, 1090};
	struct fw_options o;

	/* The DATA vector of the protocol note: seq 1, port 2. Here BOOT_INFO took seq 1,
	 * so the sequence is set back to where the vector has it. */
	fake_power_on(3);
	fake_options(&o, 3, 100);
	fw_init(&fw, &o);
	fw_link_up(&fw);
	fw_poll(&fw);
	fake.link_len = fake.link_read = 0;
	assert_int_equal(fw.seq, 2);
	fw.seq = 1;
	for (unsigned i = 0; i < sizeof(bytes); i++)
		fw_uart_rx_isr(&fw, 2, bytes[i], 0, ticks[i]);
	fake.ticks = 1190;
	fw_poll(&fw);
	assert_int_equal(fake.link_len, n);
	assert_memory_equal(fake.link, want, n);
}

static void test_heartbeat_period_and_counters(void **state)
{
	struct fw_options o;
	struct m7b_heartbeat hb;

	fake_power_on(1);
	fake_options(&o, 1, IDLE);
	o.heartbeat_ms = 100; /* 800000 ticks */
	fw_init(&fw, &o);
	fake.ticks = 1000;
	fw_link_up(&fw);
	assert_int_equal(poll_frames(), 2);
	fake.ticks = 1000 + 799999;
	assert_int_equal(poll_frames(), 0);
	assert_int_equal(fw_next_deadline(&fw), 801000);
	fake.ticks = 801000;
	assert_int_equal(poll_frames(), 1);
	assert_int_equal(frames[0].f.type, M7B_T_HEARTBEAT);
	assert_int_equal(m7b_wire_unpack_heartbeat(&frames[0].f, &hb), 0);
	assert_int_equal(hb.now_ticks, 801000);
	assert_int_equal(hb.ncounters, M7B_HB_NCOUNTERS);
	assert_int_equal(hb.counter[M7B_HB_CREDITS], FW_HOST_QUEUE);
	fake.ticks = 801000 + 800000;
	assert_int_equal(poll_frames(), 1);
	assert_int_equal(frames[0].f.type, M7B_T_HEARTBEAT);
	assert_int_equal(frames[0].f.seq, 3);

	/* Counters move: three bytes, one overrun, a capture. */
	fw_uart_rx_isr(&fw, 0, 'x', FW_RX_OVERRUN, fake.ticks);
	fw_uart_rx_isr(&fw, 0, 'y', FW_RX_LINE_ERROR, fake.ticks + 1);
	fw_uart_rx_isr(&fw, 0, 'z', 0, fake.ticks + 2);
	fake.ticks += 2 + IDLE;
	assert_int_equal(poll_frames(), 1);
	assert_int_equal(frames[0].f.flags, M7B_DATA_OVERRUN | M7B_DATA_LINE_ERROR);
	fake_host_send(&fw, M7B_T_PING, 0, 1, NULL, 0);
	assert_int_equal(poll_frames(), 1);
	assert_int_equal(m7b_wire_unpack_heartbeat(&frames[0].f, &hb), 0);
	assert_int_equal(hb.counter[M7B_HB_UART_RX_BYTES], 3);
	assert_int_equal(hb.counter[M7B_HB_CAPTURES], 1);
	assert_int_equal(hb.counter[M7B_HB_UART_OVERRUNS], 1);
	assert_int_equal(hb.counter[M7B_HB_UART_LINE_ERRORS], 1);
	assert_int_equal(hb.counter[M7B_HB_HOST_FRAMES], 1);
}

/* Near the tick counter's wrap the next heartbeat is due after it: one HEARTBEAT per
 * period across the wrap, not one per poll before it. */
static void test_heartbeat_period_across_tick_wrap(void **state)
{
	struct fw_options o;

	fake_power_on(1);
	fake_options(&o, 1, IDLE);
	o.heartbeat_ms = 100; /* 800000 ticks */
	fw_init(&fw, &o);
	fake.ticks = UINT64_MAX - 500000;
	fw_link_up(&fw);
	assert_int_equal(poll_frames(), 2); /* HELLO, BOOT_INFO */
	fake.ticks += 1000;
	assert_int_equal(poll_frames(), 0);
	fake.ticks += 1000;
	assert_int_equal(poll_frames(), 0);
	fake.ticks = UINT64_MAX - 500000 + 799999; /* past the wrap, one tick early */
	assert_int_equal(poll_frames(), 0);
	fake.ticks++;
	assert_int_equal(poll_frames(), 1);
	assert_int_equal(frames[0].f.type, M7B_T_HEARTBEAT);
	fake.ticks += 799999;
	assert_int_equal(poll_frames(), 0);
	fake.ticks++;
	assert_int_equal(poll_frames(), 1);
}

static void test_ping_answered_at_once_no_ack(void **state)
{
	fw_link_up(&fw);
	poll_frames();
	fake_host_send(&fw, M7B_T_PING, 0, 7, NULL, 0);
	assert_int_equal(poll_frames(), 1);
	assert_int_equal(frames[0].f.type, M7B_T_HEARTBEAT);
	assert_int_equal(frames[0].f.seq, 2);
	assert_int_equal(poll_frames(), 0);
}

static void test_send_ack_and_credits(void **state)
{
	struct m7b_ack a;
	const char *msg = "AT+RESET\r\n";

	fw_link_up(&fw);
	poll_frames();
	fake.uart_room = 4; /* the transmitter takes 4 bytes per call */
	fake_host_send(&fw, M7B_T_SEND, 1, 40, msg, strlen(msg));
	fake_host_send(&fw, M7B_T_SEND, 1, 41, "xy", 2);
	assert_int_equal(fw.hq_count, 2);
	assert_int_equal(poll_frames(), 0); /* first SEND: 4 of 10 bytes so far */
	assert_int_equal(poll_frames(), 0);
	assert_int_equal(poll_frames(), 2); /* both done: two ACKs, in order */
	assert_int_equal(fake.uart_len[1], strlen(msg) + 2);
	assert_memory_equal(fake.uart[1], "AT+RESET\r\nxy", 12);
	assert_int_equal(m7b_wire_unpack_ack(&frames[0].f, &a), 0);
	assert_int_equal(a.acked_seq, 40);
	assert_int_equal(a.acked_type, M7B_T_SEND);
	assert_int_equal(a.status, M7B_ACK_OK);
	/* Capacity for frames after seq 40: the slot seq 41 holds counts (credit rule). */
	assert_int_equal(a.credits, FW_HOST_QUEUE);
	assert_int_equal(m7b_wire_unpack_ack(&frames[1].f, &a), 0);
	assert_int_equal(a.acked_seq, 41);
	assert_int_equal(a.credits, FW_HOST_QUEUE);
}

static void test_send_without_credit_and_bad_port(void **state)
{
	struct m7b_ack a;

	fw_link_up(&fw);
	poll_frames();
	fake.uart_room = 0; /* transmitter full: the queue fills */
	for (uint32_t i = 0; i < FW_HOST_QUEUE; i++)
		fake_host_send(&fw, M7B_T_SEND, 0, 100 + i, "a", 1);
	fake_host_send(&fw, M7B_T_SEND, 0, 200, "b", 1);
	fake_host_send(&fw, M7B_T_SEND, 9, 201, "c", 1);
	/* Refused, but answered only after the frames queued before them. */
	assert_int_equal(poll_frames(), 0);
	fake.uart_room = 4096;
	assert_int_equal(poll_frames(), FW_HOST_QUEUE + 2);
	for (uint32_t i = 0; i < FW_HOST_QUEUE; i++) {
		assert_int_equal(m7b_wire_unpack_ack(&frames[i].f, &a), 0);
		assert_int_equal(a.acked_seq, 100 + i);
		assert_int_equal(a.status, M7B_ACK_OK);
	}
	assert_int_equal(a.credits, FW_HOST_QUEUE);
	/* Sent without credit: refused for that, whatever its port. */
	for (uint32_t i = 0; i < 2; i++) {
		assert_int_equal(m7b_wire_unpack_ack(&frames[FW_HOST_QUEUE + i].f, &a), 0);
		assert_int_equal(a.acked_seq, 200 + i);
		assert_int_equal(a.status, M7B_ACK_NO_CREDIT);
		assert_int_equal(a.credits, FW_HOST_QUEUE);
	}
	assert_int_equal(fake.uart_len[0], FW_HOST_QUEUE);

	/* With credit, a missing port is refused in its turn, SEND and CONFIG alike. */
	fake_host_send(&fw, M7B_T_SEND, 9, 300, "d", 1);
	fake_host_send(&fw, M7B_T_CONFIG, 200, 301, NULL, 0);
	assert_int_equal(poll_frames(), 2);
	for (unsigned i = 0; i < 2; i++) {
		assert_int_equal(m7b_wire_unpack_ack(&frames[i].f, &a), 0);
		assert_int_equal(a.acked_seq, 300 + i);
		assert_int_equal(a.status, M7B_ACK_BAD_PORT);
		assert_int_equal(a.credits, FW_HOST_QUEUE);
	}
	assert_int_equal(fake.uart_len[0], FW_HOST_QUEUE);
}

/* The host takes an ACK as the end of every credit frame it sent before (they are worked
 * in order): a refusal for a missing port must not overtake a SEND still transmitting. */
static void test_bad_port_ack_keeps_seq_order(void **state)
{
	struct m7b_ack a;

	fw_link_up(&fw);
	poll_frames();
	fake.uart_room = 0; /* the first SEND waits for the transmitter */
	fake_host_send(&fw, M7B_T_SEND, 0, 10, "abc", 3);
	fake_host_send(&fw, M7B_T_SEND, 9, 11, "x", 1);
	assert_int_equal(poll_frames(), 0);
	fake.uart_room = 4096;
	assert_int_equal(poll_frames(), 2);
	assert_int_equal(m7b_wire_unpack_ack(&frames[0].f, &a), 0);
	assert_int_equal(a.acked_seq, 10);
	assert_int_equal(a.status, M7B_ACK_OK);
	assert_int_equal(m7b_wire_unpack_ack(&frames[1].f, &a), 0);
	assert_int_equal(a.acked_seq, 11);
	assert_int_equal(a.status, M7B_ACK_BAD_PORT);
	assert_int_equal(a.credits, FW_HOST_QUEUE);
	assert_int_equal(fake.uart_len[0], 3);
}

static void config_item(uint8_t *p, uint8_t key, uint32_t v)
{
	p[0] = key;
	p[1] = (uint8_t)v;
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)(v >> 16);
	p[4] = (uint8_t)(v >> 24);
}

static void test_config(void **state)
{
	uint8_t p[25];
	struct m7b_ack a;

	fw_link_up(&fw);
	poll_frames();
	config_item(p, M7B_CFG_IDLE_GAP_US, 250); /* 2000 ticks */
	config_item(p + 5, M7B_CFG_DELIMITER, '\n');
	config_item(p + 10, M7B_CFG_MAX_CAPTURE, 100);
	config_item(p + 15, M7B_CFG_BAUD, 9600);
	config_item(p + 20, M7B_CFG_HEARTBEAT_MS, 50);
	fake_host_send(&fw, M7B_T_CONFIG, 1, 5, p, 25);
	assert_int_equal(poll_frames(), 1);
	assert_int_equal(m7b_wire_unpack_ack(&frames[0].f, &a), 0);
	assert_int_equal(a.acked_type, M7B_T_CONFIG);
	assert_int_equal(a.status, M7B_ACK_OK);
	assert_int_equal(fw.cap[1].idle_gap, 2000);
	assert_int_equal(fw.cap[1].delimiter, '\n');
	assert_int_equal(fw.cap[1].max_len, 100);
	assert_int_equal(fake.baud[1], 9600);
	assert_int_equal(fw.hb_period, 400000);
	assert_int_equal(fw.cap[0].idle_gap, IDLE); /* the other port is untouched */

	/* Invalid values change nothing. */
	config_item(p, M7B_CFG_DELIMITER, 'x');
	config_item(p + 5, M7B_CFG_MAX_CAPTURE, 463);
	fake_host_send(&fw, M7B_T_CONFIG, 1, 6, p, 10);
	config_item(p, 99, 1);
	fake_host_send(&fw, M7B_T_CONFIG, 1, 7, p, 5);
	fake_host_send(&fw, M7B_T_CONFIG, 1, 8, p, 4);
	fake.baud_fail = true;
	config_item(p, M7B_CFG_BAUD, 1);
	fake_host_send(&fw, M7B_T_CONFIG, 1, 9, p, 5);
	assert_int_equal(poll_frames(), 4);
	assert_int_equal(m7b_wire_unpack_ack(&frames[0].f, &a), 0);
	assert_int_equal(a.status, M7B_ACK_BAD_PAYLOAD);
	assert_int_equal(m7b_wire_unpack_ack(&frames[1].f, &a), 0);
	assert_int_equal(a.status, M7B_ACK_UNSUPPORTED);
	assert_int_equal(m7b_wire_unpack_ack(&frames[2].f, &a), 0);
	assert_int_equal(a.status, M7B_ACK_BAD_PAYLOAD);
	assert_int_equal(m7b_wire_unpack_ack(&frames[3].f, &a), 0);
	assert_int_equal(a.status, M7B_ACK_UNSUPPORTED);
	assert_int_equal(fw.cap[1].delimiter, '\n');
	assert_int_equal(fw.cap[1].max_len, 100);
}

static void test_config_all_or_none_with_two_bauds(void **state)
{
	uint8_t p[15];
	struct m7b_ack a;

	fw_link_up(&fw);
	poll_frames();
	fake.baud[1] = 115200;
	fake.baud_reject = 1200;
	/* The board can do 9600 but not 1200: nothing of this CONFIG may take effect. */
	config_item(p, M7B_CFG_BAUD, 9600);
	config_item(p + 5, M7B_CFG_MAX_CAPTURE, 50);
	config_item(p + 10, M7B_CFG_BAUD, 1200);
	fake_host_send(&fw, M7B_T_CONFIG, 1, 3, p, 15);
	assert_int_equal(poll_frames(), 1);
	assert_int_equal(m7b_wire_unpack_ack(&frames[0].f, &a), 0);
	assert_int_equal(a.status, M7B_ACK_UNSUPPORTED);
	assert_int_equal(fake.baud[1], 115200);
	assert_int_equal(fw.cap[1].max_len, M7B_DATA_BYTES_MAX);

	/* The other way round the last rate is the one that counts, as for every key. */
	config_item(p, M7B_CFG_BAUD, 1200);
	config_item(p + 5, M7B_CFG_BAUD, 9600);
	fake_host_send(&fw, M7B_T_CONFIG, 1, 4, p, 10);
	assert_int_equal(poll_frames(), 1);
	assert_int_equal(m7b_wire_unpack_ack(&frames[0].f, &a), 0);
	assert_int_equal(a.status, M7B_ACK_OK);
	assert_int_equal(fake.baud[1], 9600);
}

static void test_sync_reply(void **state)
{
	uint8_t p[8];
	struct m7b_sync s = {.host_time = 0x1122334455667788ull};
	struct m7b_sync_reply r;

	fw_link_up(&fw);
	poll_frames();
	assert_int_equal(m7b_wire_pack_sync(p, sizeof(p), &s), 8);
	fake.ticks = 5000;
	fake_host_send(&fw, M7B_T_SYNC, 0, 3, p, 8);
	fake.ticks = 5100;
	assert_int_equal(poll_frames(), 1);
	assert_int_equal(frames[0].f.type, M7B_T_SYNC_REPLY);
	assert_int_equal(m7b_wire_unpack_sync_reply(&frames[0].f, &r), 0);
	assert_int_equal(r.host_time, s.host_time);
	assert_int_equal(r.rx_ticks, 5000);
	assert_int_equal(r.tx_ticks, 5100);
	/* A SYNC with a bad payload is counted, not answered. */
	fake_host_send(&fw, M7B_T_SYNC, 0, 4, p, 3);
	assert_int_equal(poll_frames(), 0);
	assert_int_equal(fw.n.host_malformed, 1);
}

static void test_unknown_and_garbage_ignored(void **state)
{
	uint8_t buf[256];
	size_t n = 0;
	uint32_t c[M7B_HB_NCOUNTERS];

	fw_link_up(&fw);
	poll_frames();
	/* The kernel's unframed greeting, a delimiter, garbage, then real frames. */
	memcpy(buf, "hello world!", 12);
	n = 12;
	buf[n++] = 0;
	memcpy(buf + n, "\x07\x13\xff\x42\x99", 5);
	n += 5;
	buf[n++] = 0;
	n += fake_host_frame(buf + n, sizeof(buf) - n, 0x99, 0, 1, "zz", 2);
	n += fake_host_frame(buf + n, sizeof(buf) - n, M7B_T_HELLO, 0, 2, NULL, 0);
	n += fake_host_frame(buf + n, sizeof(buf) - n, M7B_T_PING, 0, 3, NULL, 0);
	/* Feed it in awkward pieces: the decoder reassembles. */
	for (size_t i = 0; i < n; i += 3)
		fw_link_rx(&fw, buf + i, n - i < 3 ? n - i : 3);
	assert_int_equal(poll_frames(), 1);
	assert_int_equal(frames[0].f.type, M7B_T_HEARTBEAT);
	fw_counters(&fw, c);
	assert_int_equal(c[M7B_HB_HOST_FRAMES], 3);
	assert_int_equal(c[M7B_HB_HOST_UNKNOWN], 2);
	assert_int_equal(c[M7B_HB_HOST_BAD], 2);
	assert_int_equal(c[M7B_HB_NOISE_BYTES], 17);
}

/* PING and HOST_HELLO carry nothing: one with a payload does not fit its layout, so it
 * is malformed like a SYNC of the wrong size, counted in HOST_BAD and not answered (a
 * HOST_HELLO would void the host's credit frames in flight). */
static void test_ping_and_host_hello_with_payload_malformed(void **state)
{
	uint32_t c[M7B_HB_NCOUNTERS];
	uint8_t pl[4] = {1, 2, 3, 4};

	fw_link_up(&fw);
	poll_frames();
	fake_host_send(&fw, M7B_T_SEND, 0, 1, "ab", 2);
	fake_host_send(&fw, M7B_T_PING, 0, 2, pl, 1);
	fake_host_send(&fw, M7B_T_HOST_HELLO, 0, 3, pl, sizeof(pl));
	assert_int_equal(poll_frames(), 1);
	assert_int_equal(frames[0].f.type, M7B_T_ACK); /* the SEND's, not voided */
	fw_counters(&fw, c);
	assert_int_equal(c[M7B_HB_HOST_FRAMES], 3);
	assert_int_equal(c[M7B_HB_HOST_BAD], 2);
	assert_int_equal(c[M7B_HB_HOST_VOIDED], 0);
	/* The same frames empty are answered. */
	fake_host_send(&fw, M7B_T_PING, 0, 4, NULL, 0);
	assert_int_equal(poll_frames(), 1);
	assert_int_equal(frames[0].f.type, M7B_T_HEARTBEAT);
	fake_host_send(&fw, M7B_T_HOST_HELLO, 0, 5, NULL, 0);
	assert_true(poll_frames() >= 1);
	assert_int_equal(frames[0].f.type, M7B_T_HELLO);
}

static void test_hello_world_without_delimiter_costs_one_frame(void **state)
{
	uint8_t buf[64];
	size_t n;

	fw_link_up(&fw);
	poll_frames();
	memcpy(buf, "hello world!", 12);
	n = 12 + fake_host_frame(buf + 12, sizeof(buf) - 12, M7B_T_PING, 0, 0, NULL, 0);
	fw_link_rx(&fw, buf, n);
	assert_int_equal(poll_frames(), 0); /* merged into the noise: rejected */
	fake_host_send(&fw, M7B_T_PING, 0, 1, NULL, 0);
	assert_int_equal(poll_frames(), 1);
}

static void test_backpressure_loses_nothing(void **state)
{
	struct m7b_data d;
	uint32_t c[M7B_HB_NCOUNTERS];

	fw_link_up(&fw);
	poll_frames();
	fake.link_refuse = true;
	for (unsigned k = 0; k < 10; k++) {
		fw_uart_rx_isr(&fw, 0, (uint8_t)k, 0, 10000u * (k + 1));
		fake.ticks = 10000u * (k + 1) + IDLE;
		fw_poll(&fw);
	}
	assert_true(fw_tx_blocked(&fw));
	assert_int_not_equal(fw_next_deadline(&fw), 0);
	fw_counters(&fw, c);
	assert_int_equal(c[M7B_HB_LINK_STALLS], 1); /* one stall, however many retries */
	fake.link_refuse = false;
	assert_int_equal(poll_frames(), 10);
	for (unsigned k = 0; k < 10; k++) {
		assert_int_equal(frames[k].f.seq, k + 2);
		assert_int_equal(m7b_wire_unpack_data(&frames[k].f, &d), 0);
		assert_int_equal(d.t_first, 10000u * (k + 1));
		assert_int_equal(d.bytes[0], k);
	}
	assert_false(fw_tx_blocked(&fw));
}

static void test_link_cannot_keep_up_drops_whole_captures(void **state)
{
	uint32_t c[M7B_HB_NCOUNTERS];
	size_t n;
	uint64_t t = 1000;

	fw_link_up(&fw);
	poll_frames();
	fake.link_refuse = true;
	for (unsigned k = 0; k < FW_CAPTURE_QUEUE + 5u; k++) {
		for (unsigned i = 0; i < 10; i++)
			fw_uart_rx_isr(&fw, 0, (uint8_t)i, 0, t++);
		t += IDLE;
		fake.ticks = t;
		fw_poll(&fw);
	}
	fw_counters(&fw, c);
	assert_int_equal(c[M7B_HB_CAPTURES_DROPPED], 5);
	fake.link_refuse = false;
	for (unsigned i = 0; i < 4; i++)
		fw_poll(&fw); /* FW_POLL_BURST frames per call */
	n = fake_frames(frames, FAKE_MAX_FRAMES);
	assert_int_equal(n, FW_CAPTURE_QUEUE);
	for (size_t k = 0; k < n; k++) {
		struct m7b_data d;
		assert_int_equal(m7b_wire_unpack_data(&frames[k].f, &d), 0);
		assert_int_equal(d.nbytes, 10);
	}
}

static void test_log_and_assert(void **state)
{
	struct m7b_log l;

	fw_link_up(&fw);
	poll_frames();
	fw_log(&fw, 4, "low battery");
	assert_int_equal(poll_frames(), 1);
	assert_int_equal(frames[0].f.type, M7B_T_LOG);
	assert_int_equal(m7b_wire_unpack_log(&frames[0].f, &l), 0);
	assert_int_equal(l.level, 4);
	assert_int_equal(l.text_len, 11);
	assert_memory_equal(l.text, "low battery", 11);

	for (unsigned i = 0; i < FW_LOG_QUEUE + 2u; i++)
		fw_log(&fw, 7, "x");
	assert_int_equal(fw.n.logs_dropped, 2);
	poll_frames();

	fw_assert_failed(&fw, "capture.c", 42);
	assert_int_equal(fake.fatal_calls, 1);
	assert_int_equal(fake_frames(frames, FAKE_MAX_FRAMES), 1);
	assert_int_equal(m7b_wire_unpack_log(&frames[0].f, &l), 0);
	assert_int_equal(l.level, 2);
	assert_memory_equal(l.text, "assertion failed: capture.c:42", l.text_len);
	/* After a fatal error: no DATA, but PING and HOST_HELLO are still answered. */
	fw_uart_rx_isr(&fw, 0, 'a', 0, fake.ticks);
	fake.ticks += IDLE;
	assert_int_equal(poll_frames(), 0);
	fake_host_send(&fw, M7B_T_PING, 0, 1, NULL, 0);
	fake_host_send(&fw, M7B_T_SEND, 0, 2, "a", 1);
	fake_host_send(&fw, M7B_T_HOST_HELLO, 0, 3, NULL, 0);
	assert_int_equal(poll_frames(), 3);
	assert_int_equal(frames[0].f.type, M7B_T_HELLO);
	assert_int_equal(frames[1].f.type, M7B_T_BOOT_INFO);
	assert_int_equal(frames[2].f.type, M7B_T_HEARTBEAT);
}

static void test_link_down_and_up_resends_unsent(void **state)
{
	struct m7b_data d;

	fw_link_up(&fw);
	poll_frames();
	fake.link_refuse = true;
	fw_uart_rx_isr(&fw, 0, 'q', 0, 100);
	fake.ticks = 100 + IDLE;
	fw_poll(&fw);
	fw_link_down(&fw);
	fake.link_refuse = false;
	fw_poll(&fw);
	assert_int_equal(fake_frames(frames, FAKE_MAX_FRAMES), 0);
	fw_link_up(&fw);
	assert_int_equal(poll_frames(), 3);
	assert_int_equal(frames[0].f.type, M7B_T_HELLO);
	assert_int_equal(frames[0].f.seq, 0);
	assert_int_equal(frames[2].f.seq, 2);
	assert_int_equal(m7b_wire_unpack_data(&frames[2].f, &d), 0);
	assert_int_equal(d.bytes[0], 'q');
}

static void test_next_deadline(void **state)
{
	fw_link_up(&fw);
	assert_int_equal(fw_next_deadline(&fw), 0); /* HELLO to send */
	poll_frames();
	assert_int_equal(fw_next_deadline(&fw), UINT64_MAX); /* heartbeat off, nothing open */
	fw_uart_rx_isr(&fw, 1, 'a', 0, 7000);
	fw_uart_rx_isr(&fw, 0, 'b', 0, 7100);
	assert_int_equal(fw_next_deadline(&fw), 7000 + IDLE);
	fake.ticks = 7000 + IDLE;
	fw_poll(&fw); /* port 1 closed and sent; port 0 still open */
	assert_int_equal(fw_next_deadline(&fw), 7100 + IDLE);
	fake.link_refuse = true;
	fake.ticks = 7100 + IDLE;
	fw_poll(&fw);
	assert_true(fw_tx_blocked(&fw));
	assert_int_equal(fw_next_deadline(&fw), UINT64_MAX); /* waits for the link, not time */
}

static void test_config_idle_gap_overflow(void **state)
{
	uint8_t p[5] = {M7B_CFG_IDLE_GAP_US, 0xff, 0xff, 0xff, 0xff};
	struct m7b_ack a;

	fw_link_up(&fw);
	poll_frames();
	fake_host_send(&fw, M7B_T_CONFIG, 0, 1, p, 5); /* 4295 s at 8 MHz does not fit 32 bits */
	assert_int_equal(poll_frames(), 1);
	assert_int_equal(m7b_wire_unpack_ack(&frames[0].f, &a), 0);
	assert_int_equal(a.status, M7B_ACK_BAD_PAYLOAD);
	assert_int_equal(fw.cap[0].idle_gap, IDLE);
	fake_host_send(&fw, M7B_T_CONFIG, 0, 2, NULL, 0); /* empty: changes nothing, OK */
	assert_int_equal(poll_frames(), 1);
	assert_int_equal(m7b_wire_unpack_ack(&frames[0].f, &a), 0);
	assert_int_equal(a.status, M7B_ACK_OK);
}

/* On a slow tick counter a short idle gap or heartbeat period is one tick, not 0: 0
 * would turn the idle close (or the heartbeat) off instead of making it as short as it
 * can be. */
static void test_config_short_times_on_slow_ticks(void **state)
{
	struct fw_options o;
	struct m7b_ack a;
	uint8_t p[10];
	size_t n;

	fake_power_on(1);
	fake.tick_hz = 500; /* 2 ms per tick */
	fake_options(&o, 1, IDLE);
	fw_init(&fw, &o);
	fw_link_up(&fw);
	poll_frames();
	config_item(p, M7B_CFG_IDLE_GAP_US, 100);
	config_item(p + 5, M7B_CFG_HEARTBEAT_MS, 1);
	fake_host_send(&fw, M7B_T_CONFIG, 0, 1, p, sizeof(p));
	assert_int_equal(poll_frames(), 1);
	assert_int_equal(m7b_wire_unpack_ack(&frames[0].f, &a), 0);
	assert_int_equal(a.status, M7B_ACK_OK);
	assert_int_equal(fw.cap[0].idle_gap, 1);

	fw_uart_rx_isr(&fw, 0, 'x', 0, fake.ticks);
	fake.ticks++;
	n = poll_frames();
	assert_int_equal(n, 2);
	assert_int_equal(frames[0].f.type, M7B_T_HEARTBEAT);
	assert_int_equal(frames[1].f.type, M7B_T_DATA);
	fake.ticks++;
	assert_int_equal(poll_frames(), 1);
	assert_int_equal(frames[0].f.type, M7B_T_HEARTBEAT);
}

static void test_char_ticks(void **state)
{
	assert_int_equal(fw_char_ticks(8000000, 115200, 1), 695);
	assert_int_equal(fw_char_ticks(8000000, 9600, 4), 33334);
	assert_int_equal(fw_char_ticks(8000000, 0, 4), 0);
}

/* A seeded random mix of what a board sees (UART bytes with error bits, time, a link
 * that refuses for a while, HOST_HELLO, PING, CONFIG changing the capture rules, SENDs,
 * link reopens), checked from the host's side: every DATA part holds input bytes
 * exactly, in order, ending at the tick of its last byte; bytes are skipped only where a
 * drop was counted; a part that does not start a capture continues its chain or says
 * OVERRUN; error flags match the bytes; every SEND and CONFIG is answered or counted. */
#define RT_PORTS 2u
#define RT_STEPS 60000u
#define RT_IN	 40000u

struct rt_port {
	uint8_t byte[RT_IN];
	uint64_t tick[RT_IN];
	uint8_t err[RT_IN];
	size_t n, pos; /* bytes fed; input index after the last DATA byte seen */
	uint32_t gaps; /* skipped stretches seen so far */
	bool cont;     /* the last part had CONTINUED */
	uint64_t cont_first;
};

static struct rt_port rt[RT_PORTS];
static uint64_t rt_state;

static uint32_t rt_rand(void)
{
	rt_state ^= rt_state << 13;
	rt_state ^= rt_state >> 7;
	rt_state ^= rt_state << 17;
	return (uint32_t)rt_state;
}

static uint64_t rt_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* Checks one DATA frame against the input of its port. */
static void rt_data(const struct m7b_frame *f)
{
	struct rt_port *r;
	uint64_t t_first, t_last;
	size_t len, s;
	bool ovr = false, le = false;

	assert_true(f->port < RT_PORTS && f->len > M7B_DATA_HDR);
	r = &rt[f->port];
	t_first = rt_u64(f->payload);
	t_last = rt_u64(f->payload + 8);
	len = f->len - M7B_DATA_HDR;
	for (s = r->pos; s + len <= r->n; s++)
		if (r->tick[s + len - 1] == t_last &&
		    memcmp(r->byte + s, f->payload + M7B_DATA_HDR, len) == 0)
			break;
	if (s + len > r->n)
		fail_msg("port %u: a DATA part of %zu bytes is not in the input after byte %zu",
			 f->port, len, r->pos);
	for (size_t k = s; k < s + len; k++) {
		ovr |= (r->err[k] & FW_RX_OVERRUN) != 0;
		le |= (r->err[k] & FW_RX_LINE_ERROR) != 0;
	}
	if (ovr)
		assert_true(f->flags & M7B_DATA_OVERRUN);
	assert_int_equal(le, (f->flags & M7B_DATA_LINE_ERROR) != 0);
	if (s != r->pos && ++r->gaps > fw.cap[f->port].stats.dropped)
		fail_msg("port %u: bytes %zu..%zu skipped with no drop counted", f->port, r->pos,
			 s);
	if (!(r->cont && t_first == r->cont_first) && r->tick[s] != t_first)
		assert_true(f->flags & M7B_DATA_OVERRUN); /* its chain's head was dropped */
	if (r->cont && t_first == r->cont_first && s != r->pos)
		assert_true(f->flags & M7B_DATA_OVERRUN); /* a lost part inside the chain */
	r->cont = (f->flags & M7B_DATA_CONTINUED) != 0;
	r->cont_first = t_first;
	r->pos = s + len;
}

static void test_random_traffic_keeps_every_byte(void **state)
{
	struct fw_options o;
	uint32_t next_seq = 0, hseq = 1, cmds = 0, acks = 0;
	size_t n;

	(void)state;
	memset(rt, 0, sizeof(rt));
	rt_state = 0x9E3779B97F4A7C15ull;
	fake_power_on(RT_PORTS);
	fake_options(&o, RT_PORTS, 300);
	o.port[0].max_capture = 40;
	o.port[1].delimiter = '\n';
	o.port[1].max_capture = 7;
	o.heartbeat_ms = 1;
	fw_init(&fw, &o);
	fw_link_up(&fw);
	for (unsigned step = 0; step <= RT_STEPS; step++) {
		uint32_t r = rt_rand() % 100u;
		uint8_t cfg[5] = {0};

		if (step == RT_STEPS) {
			/* Let everything out. */
			fake.link_refuse = false;
			for (int k = 0; k < 64; k++) {
				fake.ticks += 100000;
				fw_poll(&fw);
			}
		} else if (r < 55) {
			struct rt_port *p = &rt[rt_rand() % RT_PORTS];
			unsigned port = (unsigned)(p - rt);

			if (p->n == RT_IN)
				continue;
			fake.ticks += rt_rand() % 4u == 0 ? rt_rand() % 700u : rt_rand() % 50u;
			p->byte[p->n] = rt_rand() % 8u == 0 ? '\n' : (uint8_t)rt_rand();
			p->err[p->n] = (rt_rand() % 50u == 0 ? FW_RX_OVERRUN : 0) |
				       (rt_rand() % 60u == 0 ? FW_RX_LINE_ERROR : 0);
			p->tick[p->n] = fake.ticks;
			fw_uart_rx_isr(&fw, port, p->byte[p->n], p->err[p->n], fake.ticks);
			p->n++;
		} else if (r < 80) {
			fake.ticks += rt_rand() % 400u;
			fw_poll(&fw);
		} else if (r < 88) {
			fake.link_refuse = rt_rand() % 4u != 0; /* stalls long enough to drop */
		} else if (r < 91) {
			fake_host_send(&fw, M7B_T_HOST_HELLO, 0, hseq++, NULL, 0);
		} else if (r < 93) {
			fake_host_send(&fw, M7B_T_PING, 0, hseq++, NULL, 0);
		} else if (r < 97) {
			static const uint8_t keys[] = {M7B_CFG_MAX_CAPTURE, M7B_CFG_DELIMITER,
						       M7B_CFG_IDLE_GAP_US};
			uint32_t v = rt_rand();

			cfg[0] = keys[rt_rand() % 3u];
			v = cfg[0] == M7B_CFG_MAX_CAPTURE ? 1u + v % 60u
			    : cfg[0] == M7B_CFG_DELIMITER ? (v % 2u ? '\n' : 0xFFFFFFFFu)
							  : 10u + v % 200u;
			for (int k = 0; k < 4; k++)
				cfg[1 + k] = (uint8_t)(v >> (8 * k));
			fake_host_send(&fw, M7B_T_CONFIG, rt_rand() % RT_PORTS, hseq++, cfg, 5);
			cmds++;
		} else if (r < 98) {
			fw_link_up(&fw);
		} else {
			fake_host_send(&fw, M7B_T_SEND, rt_rand() % RT_PORTS, hseq++, "0123456789",
				       10);
			cmds++;
		}
		assert_int_equal(fake.irq_depth, 0);
		while ((n = fake_frames(frames, FAKE_MAX_FRAMES)) > 0) {
			for (size_t i = 0; i < n; i++) {
				const struct m7b_frame *f = &frames[i].f;

				assert_int_equal(f->seq, f->type == M7B_T_HELLO ? 0 : next_seq);
				next_seq = f->seq + 1;
				acks += f->type == M7B_T_ACK;
				if (f->type == M7B_T_DATA)
					rt_data(f);
			}
		}
		assert_int_equal(fake.dec.stats.rejected, 0);
		if (fake.link_read == fake.link_len)
			fake.link_read = fake.link_len = 0;
	}
	/* Everything the link could carry was written: nothing is left in the rings. */
	for (unsigned p = 0; p < RT_PORTS; p++)
		assert_null(fw_capture_peek(&fw.cap[p]));
	/* Some captures were dropped, or the stalls were too short to test anything. */
	assert_true(fw.cap[0].stats.dropped + fw.cap[1].stats.dropped > 0);
	assert_int_equal(cmds, acks + fw.n.acks_dropped + fw.n.host_voided + fw.hq_count +
				       fw.refused_count);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_nothing_before_link_up, setup),
		cmocka_unit_test_setup(test_hello_on_link_up_matches_vector, setup),
		cmocka_unit_test_setup(test_hello_again_on_host_hello, setup),
		cmocka_unit_test_setup(test_host_hello_voids_credit_frames, setup),
		cmocka_unit_test_setup(test_host_hello_while_ack_waits_in_slot, setup),
		cmocka_unit_test_setup(test_data_exact_bytes_and_ticks, setup),
		cmocka_unit_test_setup(test_data_vector, setup),
		cmocka_unit_test_setup(test_heartbeat_period_and_counters, setup),
		cmocka_unit_test_setup(test_heartbeat_period_across_tick_wrap, setup),
		cmocka_unit_test_setup(test_ping_answered_at_once_no_ack, setup),
		cmocka_unit_test_setup(test_send_ack_and_credits, setup),
		cmocka_unit_test_setup(test_send_without_credit_and_bad_port, setup),
		cmocka_unit_test_setup(test_bad_port_ack_keeps_seq_order, setup),
		cmocka_unit_test_setup(test_config, setup),
		cmocka_unit_test_setup(test_config_all_or_none_with_two_bauds, setup),
		cmocka_unit_test_setup(test_sync_reply, setup),
		cmocka_unit_test_setup(test_unknown_and_garbage_ignored, setup),
		cmocka_unit_test_setup(test_ping_and_host_hello_with_payload_malformed, setup),
		cmocka_unit_test_setup(test_hello_world_without_delimiter_costs_one_frame, setup),
		cmocka_unit_test_setup(test_backpressure_loses_nothing, setup),
		cmocka_unit_test_setup(test_link_cannot_keep_up_drops_whole_captures, setup),
		cmocka_unit_test_setup(test_log_and_assert, setup),
		cmocka_unit_test_setup(test_link_down_and_up_resends_unsent, setup),
		cmocka_unit_test_setup(test_next_deadline, setup),
		cmocka_unit_test_setup(test_config_idle_gap_overflow, setup),
		cmocka_unit_test_setup(test_config_short_times_on_slow_ticks, setup),
		cmocka_unit_test_setup(test_char_ticks, setup),
		cmocka_unit_test(test_random_traffic_keeps_every_byte),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
