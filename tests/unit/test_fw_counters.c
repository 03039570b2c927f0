/* Tests that every SYNC, ACK and host frame the firmware core drops or voids is counted
 * in a HEARTBEAT counter, so Linux sees it (firmware/core/fw_link.c). */
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

static struct fw fw;
static struct fake_frame frames[FAKE_MAX_FRAMES];

static int setup(void **state)
{
	struct fw_options o;

	(void)state;
	fake_power_on(2);
	fake_options(&o, 2, 400u);
	fw_init(&fw, &o);
	fw_link_up(&fw);
	fw_poll(&fw);
	(void)fake_frames(frames, FAKE_MAX_FRAMES); /* HELLO, BOOT_INFO */
	return 0;
}

/* The counters as Linux reads them: PING, then the HEARTBEAT that answers it. */
static void heartbeat_on_wire(struct m7b_heartbeat *hb)
{
	size_t n;

	fake.link_refuse = false;
	fake_host_send(&fw, M7B_T_PING, 0, 999, NULL, 0);
	for (unsigned i = 0; i < 8; i++)
		fw_poll(&fw);
	n = fake_frames(frames, FAKE_MAX_FRAMES);
	for (size_t i = n; i-- > 0;) {
		if (frames[i].f.type == M7B_T_HEARTBEAT) {
			assert_int_equal(m7b_wire_unpack_heartbeat(&frames[i].f, hb), 0);
			assert_int_equal(hb->ncounters, M7B_HB_NCOUNTERS);
			return;
		}
	}
	fail_msg("no HEARTBEAT after PING");
}

/* The first counters keep their wire positions: an old receiver reads the same values. */
static void test_counter_positions_are_fixed(void **state)
{
	(void)state;
	assert_int_equal(M7B_HB_UART_RX_BYTES, 0);
	assert_int_equal(M7B_HB_CREDITS, 10);
	assert_int_equal(M7B_HB_NOISE_BYTES, 12);
	assert_int_equal(M7B_HB_SYNCS_DROPPED, 13);
	assert_int_equal(M7B_HB_ACKS_DROPPED, 14);
	assert_int_equal(M7B_HB_HOST_NO_CREDIT, 15);
	assert_int_equal(M7B_HB_HOST_VOIDED, 16);
	assert_int_equal(M7B_HB_NCOUNTERS, 17);
}

static void test_syncs_dropped_when_reply_queue_full(void **state)
{
	struct m7b_heartbeat hb;
	uint8_t t[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	size_t n;

	(void)state;
	fake.link_refuse = true;
	for (uint32_t i = 0; i < FW_SYNC_QUEUE + 3u; i++)
		fake_host_send(&fw, M7B_T_SYNC, 0, i, t, sizeof(t));
	fw_poll(&fw);
	fake.link_refuse = false;
	for (unsigned i = 0; i < 4; i++)
		fw_poll(&fw);
	n = fake_frames(frames, FAKE_MAX_FRAMES);
	assert_int_equal(n, FW_SYNC_QUEUE); /* the replies that were queued */
	heartbeat_on_wire(&hb);
	assert_int_equal(hb.counter[M7B_HB_SYNCS_DROPPED], 3);
	assert_int_equal(hb.counter[M7B_HB_HOST_FRAMES], FW_SYNC_QUEUE + 3u + 1u);
}

/* SENDs beyond the credit wait for their NO_CREDIT ACK behind the queued ones: when
 * FW_REFUSAL_QUEUE of them wait already, every further ACK is lost. */
static void test_acks_dropped_when_refusals_queue_full(void **state)
{
	struct m7b_heartbeat hb;

	(void)state;
	fake.uart_room = 0; /* the transmitter takes nothing: SENDs stay queued */
	for (uint32_t i = 0; i < FW_HOST_QUEUE + FW_REFUSAL_QUEUE + 2u; i++)
		fake_host_send(&fw, M7B_T_SEND, 0, i, "x", 1);
	fw_poll(&fw);
	heartbeat_on_wire(&hb);
	assert_int_equal(hb.counter[M7B_HB_ACKS_DROPPED], 2);
	assert_int_equal(hb.counter[M7B_HB_HOST_NO_CREDIT], FW_REFUSAL_QUEUE + 2u);
}

/* SENDs beyond the credit are refused (ACK NO_CREDIT): counted, also when that ACK is
 * lost too. */
static void test_host_no_credit_counted(void **state)
{
	struct m7b_heartbeat hb;

	(void)state;
	fake.uart_room = 0; /* the transmitter takes nothing: SENDs stay queued */
	for (uint32_t i = 0; i < FW_HOST_QUEUE + 3u; i++)
		fake_host_send(&fw, M7B_T_SEND, 0, i, "x", 1);
	fw_poll(&fw);
	heartbeat_on_wire(&hb);
	assert_int_equal(hb.counter[M7B_HB_HOST_NO_CREDIT], 3);
	assert_int_equal(hb.counter[M7B_HB_CREDITS], 0);
}

/* HOST_HELLO voids the queued SENDs (never carried out) and the ACKs not yet sent. */
static void test_host_hello_voids_are_counted(void **state)
{
	struct m7b_heartbeat hb;

	(void)state;
	fake.uart_room = 1; /* one byte per call: the first SEND is done, the second half */
	fake_host_send(&fw, M7B_T_SEND, 0, 1, "a", 1);
	fake_host_send(&fw, M7B_T_SEND, 0, 2, "bc", 2);
	fake_host_send(&fw, M7B_T_SEND, 5, 3, "d", 1); /* bad port: waits its turn */
	fake.link_refuse = true;		       /* the first SEND's ACK waits */
	fw_poll(&fw);
	fake_host_send(&fw, M7B_T_HOST_HELLO, 0, 0, NULL, 0);
	heartbeat_on_wire(&hb);
	assert_int_equal(hb.counter[M7B_HB_HOST_VOIDED], 2);
	assert_int_equal(hb.counter[M7B_HB_ACKS_DROPPED], 1);
	assert_int_equal(fake.uart_len[0], 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counter_positions_are_fixed),
		cmocka_unit_test_setup(test_syncs_dropped_when_reply_queue_full, setup),
		cmocka_unit_test_setup(test_acks_dropped_when_refusals_queue_full, setup),
		cmocka_unit_test_setup(test_host_no_credit_counted, setup),
		cmocka_unit_test_setup(test_host_hello_voids_are_counted, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
