/* sendq: credit pacing, ACK matching, deadlines, channel down, firmware restart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sendq.h"

static struct sendq_entry req(uint64_t client, uint8_t port, const char *data)
{
	struct sendq_entry e = {.cookie = client, .port = port, .len = (uint16_t)strlen(data)};
	memcpy(e.data, data, e.len);
	return e;
}

/* Sends everything sendq allows now; returns how many, seqs from *seq on. */
static int send_all(struct sendq *q, uint32_t *seq, uint64_t now)
{
	int n = 0;
	struct sendq_entry *e;
	while ((e = sendq_next(q))) {
		sendq_sent(q, e, (*seq)++, now);
		n++;
	}
	return n;
}

static void test_no_credit_before_hello(void **state)
{
	(void)state;
	struct sendq *q = sendq_new(4, 1000);
	struct sendq_entry e = req(1, 0, "a");
	assert_int_equal(sendq_push(q, &e, 0), 0);
	assert_null(sendq_next(q));
	sendq_hello(q, 2);
	assert_non_null(sendq_next(q));
	sendq_free(q);
}

static void test_credits_pace_and_ack_order(void **state)
{
	(void)state;
	struct sendq *q = sendq_new(8, 1000);
	sendq_hello(q, 2);
	for (int i = 0; i < 5; i++) {
		struct sendq_entry e = req((uint64_t)i + 1, 1, "x");
		assert_int_equal(sendq_push(q, &e, 0), 0);
	}
	uint32_t seq = 10;
	assert_int_equal(send_all(q, &seq, 0), 2); /* seq 10, 11 in flight */
	/* ACK 10 with credits 2: one still in flight (11) counts against it. */
	struct m7b_ack a = {.acked_seq = 10, .acked_type = M7B_T_SEND, .status = 0, .credits = 2};
	sendq_ack(q, &a);
	struct sendq_entry out;
	enum sendq_result res;
	uint8_t st;
	assert_true(sendq_pop_done(q, 1, &out, &res, &st));
	assert_int_equal(res, SENDQ_OK);
	assert_int_equal(out.cookie, 1);
	assert_int_equal(out.seq, 10);
	assert_false(sendq_pop_done(q, 1, &out, &res, &st));
	assert_int_equal(send_all(q, &seq, 1), 1); /* 2 - 1 in flight */
	/* A stale ACK changes nothing. */
	struct m7b_ack stale = {.acked_seq = 3, .acked_type = M7B_T_SEND, .credits = 100};
	sendq_ack(q, &stale);
	assert_null(sendq_next(q));
	/* ACK for 12 while 11 is open: 11 lost its ACK. */
	struct m7b_ack a12 = {.acked_seq = 12, .acked_type = M7B_T_SEND, .status = 1, .credits = 4};
	sendq_ack(q, &a12);
	assert_true(sendq_pop_done(q, 2, &out, &res, &st));
	assert_int_equal(out.seq, 11);
	assert_int_equal(res, SENDQ_ACK_LOST);
	assert_true(sendq_pop_done(q, 2, &out, &res, &st));
	assert_int_equal(out.seq, 12);
	assert_int_equal(res, SENDQ_REJECTED);
	assert_int_equal(st, 1);
	assert_int_equal(send_all(q, &seq, 2), 2);
	assert_int_equal(sendq_length(q), 2);
	sendq_free(q);
}

static void test_full_and_deadlines(void **state)
{
	(void)state;
	struct sendq *q = sendq_new(2, 100);
	struct sendq_entry e = req(1, 0, "a");
	assert_int_equal(sendq_push(q, &e, 0), 0);
	assert_int_equal(sendq_push(q, &e, 50), 0);
	assert_int_equal(sendq_push(q, &e, 60), -EBUSY);
	assert_int_equal(sendq_next_deadline(q), 100);
	sendq_hello(q, 1);
	uint32_t seq = 0;
	assert_int_equal(send_all(q, &seq, 90), 1); /* first: deadline now 190 */
	struct sendq_entry out;
	enum sendq_result res;
	uint8_t st;
	assert_false(sendq_pop_done(q, 149, &out, &res, &st));
	/* The queued one (pushed at 50) expires first, while waiting for credit. */
	assert_true(sendq_pop_done(q, 150, &out, &res, &st));
	assert_int_equal(res, SENDQ_TIMEOUT);
	assert_false(out.inflight);
	assert_true(sendq_pop_done(q, 190, &out, &res, &st));
	assert_int_equal(res, SENDQ_TIMEOUT);
	assert_true(out.inflight);
	assert_int_equal(sendq_length(q), 0);
	assert_int_equal(sendq_next_deadline(q), UINT64_MAX);
	/* The slots are reusable. */
	assert_int_equal(sendq_push(q, &e, 200), 0);
	assert_int_equal(sendq_push(q, &e, 200), 0);
	sendq_free(q);
}

/* An ACK that comes after its send timed out still carries the firmware's credit (the
 * credit rule takes the ACK with the latest acked_seq, docs/PROTOCOL.md): ignored, the
 * credit the timed-out frames took never came back, and with all of them gone nothing was
 * ever written again (so no ACK came) until the firmware's next HELLO. */
static void test_late_ack_gives_credit_back(void **state)
{
	(void)state;
	struct sendq *q = sendq_new(4, 100);
	struct sendq_entry e = req(1, 0, "a"), out;
	enum sendq_result res;
	uint8_t st;
	uint32_t seq = 10;

	sendq_hello(q, 1);
	assert_int_equal(sendq_push(q, &e, 0), 0);
	assert_int_equal(send_all(q, &seq, 0), 1); /* seq 10: the only credit */
	assert_true(sendq_pop_done(q, 150, &out, &res, &st));
	assert_int_equal(res, SENDQ_TIMEOUT);
	assert_int_equal(sendq_push(q, &e, 150), 0);
	assert_null(sendq_next(q));
	sendq_ack(q, &(struct m7b_ack){.acked_seq = 10, .status = M7B_ACK_OK, .credits = 1});
	assert_int_equal(send_all(q, &seq, 160), 1); /* seq 11 */

	/* With a frame still in flight after the late-acked one, it counts against the
	 * credit, as for any ACK: credits 2 less seq 11 leaves one for the next. */
	sendq_hello(q, 2);
	assert_true(sendq_pop_done(q, 170, &out, &res, &st)); /* seq 11: restarted */
	seq = 20;
	assert_int_equal(sendq_push(q, &e, 200), 0);
	assert_int_equal(send_all(q, &seq, 200), 1); /* seq 20, deadline 300 */
	assert_int_equal(sendq_push(q, &e, 250), 0);
	assert_int_equal(send_all(q, &seq, 250), 1);	      /* seq 21, deadline 350 */
	assert_true(sendq_pop_done(q, 320, &out, &res, &st)); /* seq 20 timed out */
	assert_int_equal(out.seq, 20);
	assert_int_equal(sendq_push(q, &e, 320), 0);
	assert_null(sendq_next(q));
	sendq_ack(q, &(struct m7b_ack){.acked_seq = 20, .status = M7B_ACK_OK, .credits = 2});
	assert_int_equal(send_all(q, &seq, 330), 1); /* seq 22 */
	assert_null(sendq_next(q));
	/* seq 21 is still open: the late ACK for 20 said nothing about it. */
	assert_false(sendq_pop_done(q, 340, &out, &res, &st));
	sendq_free(q);
}

static void test_down_and_restart(void **state)
{
	(void)state;
	struct sendq *q = sendq_new(4, 1000);
	sendq_hello(q, 1);
	struct sendq_entry a = req(1, 0, "a"), b = req(2, 0, "b");
	sendq_push(q, &a, 0);
	sendq_push(q, &b, 0);
	uint32_t seq = 0;
	assert_int_equal(send_all(q, &seq, 0), 1);
	/* New boot: the one in flight is lost, the queued one waits for the new credits. */
	sendq_hello(q, 3);
	struct sendq_entry out;
	enum sendq_result res;
	uint8_t st;
	assert_true(sendq_pop_done(q, 1, &out, &res, &st));
	assert_int_equal(res, SENDQ_RESTARTED);
	assert_int_equal(out.cookie, 1);
	assert_false(sendq_pop_done(q, 1, &out, &res, &st));
	assert_int_equal(send_all(q, &seq, 1), 1);
	sendq_fail_all(q);
	assert_true(sendq_pop_done(q, 1, &out, &res, &st));
	assert_int_equal(res, SENDQ_DOWN);
	assert_int_equal(out.cookie, 2);
	assert_null(sendq_next(q));
	assert_string_equal(sendq_result_to_string(SENDQ_DOWN), "down");
	sendq_free(q);
	assert_null(sendq_free(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_credit_before_hello),
		cmocka_unit_test(test_credits_pace_and_ack_order),
		cmocka_unit_test(test_full_and_deadlines),
		cmocka_unit_test(test_down_and_restart),
		cmocka_unit_test(test_late_ack_gives_credit_back),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
