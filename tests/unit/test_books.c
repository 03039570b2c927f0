/* Unit tests for daemon/books.c: captures produced = published + lost, by cause. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "books.h"

/* A BOOT_INFO naming prev_id (valid) with one port record. */
static struct m7b_boot_info bi_one(uint32_t prev_id, bool valid, uint8_t port, uint32_t produced,
				   uint32_t sent, uint32_t dropped, uint32_t queued)
{
	struct m7b_boot_info bi = {.present = M7B_BI_HAS_PREV_BOOT,
				   .prev_flags = valid ? M7B_BI_PREV_VALID : 0,
				   .prev_boot_id = prev_id,
				   .nports = 1};
	bi.port[0] = (struct m7b_boot_port){port, produced, sent, dropped, queued};
	return bi;
}

static void assert_equation(const struct books_port *p)
{
	assert_int_equal(p->produced, p->published + p->malformed + p->dropped_m7 + p->lost_reboot +
					      p->lost_link);
}

/* A reboot with captures queued: the queue is booked as lost_reboot, gaps as lost_link. */
static void test_settle_reboot(void **state)
{
	(void)state;
	struct books b = {0};
	books_hello(&b, 0xA);
	struct m7b_boot_info cold = {.present = M7B_BI_HAS_PREV_BOOT};
	assert_false(books_boot_info(&b, &cold));
	for (int i = 0; i < 90; i++)
		books_data(&b, 1, false);
	books_data(&b, 1, true);
	assert_int_equal(b.port[1].current, 91);
	books_hello(&b, 0xB);
	/* produced 110 = sent 95 + dropped 5 + queued 10; 91 arrived: 4 lost on the link */
	struct m7b_boot_info bi = bi_one(0xA, true, 1, 110, 95, 5, 10);
	assert_true(books_boot_info(&b, &bi));
	const struct books_port *p = &b.port[1];
	assert_int_equal(p->produced, 110);
	assert_int_equal(p->published, 90);
	assert_int_equal(p->malformed, 1);
	assert_int_equal(p->dropped_m7, 5);
	assert_int_equal(p->lost_reboot, 10);
	assert_int_equal(p->lost_link, 4);
	assert_int_equal(p->current, 0);
	assert_equation(p);
	assert_int_equal(b.boots_settled, 1);
	/* the BOOT_INFO after a HOST_HELLO of the same boot books nothing twice */
	books_hello(&b, 0xB);
	assert_false(books_boot_info(&b, &bi));
	assert_int_equal(p->produced, 110);
}

/* No valid record, or a record of a boot we never saw: frames received are unsettled. */
static void test_unknown_boot(void **state)
{
	(void)state;
	struct books b = {0};
	books_hello(&b, 1);
	books_data(&b, 0, false);
	books_data(&b, 0, false);
	books_hello(&b, 2);
	struct m7b_boot_info bi = bi_one(7, true, 0, 50, 50, 0, 0);
	assert_false(books_boot_info(&b, &bi));
	assert_int_equal(b.port[0].unsettled, 2);
	assert_int_equal(b.port[0].produced, 0);
	assert_int_equal(b.boots_unknown, 1);
	books_data(&b, 0, false);
	books_hello(&b, 3);
	struct m7b_boot_info inval = bi_one(2, false, 0, 1, 1, 0, 0);
	assert_false(books_boot_info(&b, &inval));
	assert_int_equal(b.port[0].unsettled, 3);
	/* a boot whose BOOT_INFO never came is given up at the next new boot */
	books_data(&b, 0, false);
	books_hello(&b, 4);
	books_hello(&b, 5);
	assert_int_equal(b.port[0].unsettled, 4);
	assert_int_equal(b.boots_unknown, 3);
}

/* More received than sent keeps the equation and shows as excess. */
static void test_excess(void **state)
{
	(void)state;
	struct books b = {0};
	books_hello(&b, 1);
	for (int i = 0; i < 5; i++)
		books_data(&b, 2, false);
	books_data(&b, 200, false);
	assert_int_equal(b.other_port_frames, 1);
	books_hello(&b, 2);
	struct m7b_boot_info bi = bi_one(1, true, 2, 3, 3, 0, 0);
	assert_true(books_boot_info(&b, &bi));
	assert_int_equal(b.excess, 2);
	assert_equation(&b.port[2]);
}

/* A restart whose HELLO was lost: what follows is the new boot's; the BOOT_INFO still
 * settles the old one, and the next HELLO names the new one. */
static void test_restart_without_hello(void **state)
{
	(void)state;
	struct books b = {0};
	books_hello(&b, 0xA);
	for (int i = 0; i < 7; i++)
		books_data(&b, 0, false);
	books_restart(&b);
	assert_true(books_want_info(&b));
	books_data(&b, 0, false); /* the new boot's */
	struct m7b_boot_info bi = bi_one(0xA, true, 0, 9, 8, 0, 1);
	assert_true(books_boot_info(&b, &bi));
	assert_false(books_want_info(&b));
	assert_int_equal(b.port[0].published, 7);
	assert_int_equal(b.port[0].lost_link, 1);
	assert_int_equal(b.port[0].current, 1);
	books_hello(&b, 0xB);
	assert_int_equal(b.boot_id, 0xB);
	assert_int_equal(b.port[0].current, 1); /* still the same boot */
	/* a jump back that was no restart: the same boot's HELLO reopens its books */
	books_restart(&b);
	books_data(&b, 0, false);
	books_hello(&b, 0xB);
	assert_false(books_want_info(&b));
	assert_int_equal(b.port[0].current, 2);
	assert_int_equal(b.boots_unknown, 0);
}

/* Every frame received on a port is in exactly one bucket, and settled boots balance. */
static void assert_all_booked(const struct books *b, const uint64_t *rx, uint64_t rx_other)
{
	for (unsigned p = 0; p < BOOKS_PORTS; p++) {
		const struct books_port *q = &b->port[p];
		if (q->published + q->malformed + q->unsettled + q->awaiting + q->current != rx[p])
			fail_msg("port %u: %llu received, booked %llu+%llu+%llu+%llu+%llu", p,
				 (unsigned long long)rx[p], (unsigned long long)q->published,
				 (unsigned long long)q->malformed, (unsigned long long)q->unsettled,
				 (unsigned long long)q->awaiting, (unsigned long long)q->current);
		assert_equation(q);
	}
	assert_int_equal(b->other_port_frames, rx_other);
}

/* A boot whose BOOT_INFO has not come yet: its frames are awaiting, not gone; frames
 * before the first HELLO belong to the boot it names. */
static void test_awaiting(void **state)
{
	(void)state;
	struct books b = {0};
	uint64_t rx[BOOKS_PORTS] = {0};
	books_data(&b, 3, false);
	rx[3]++;
	assert_all_booked(&b, rx, 0);
	books_hello(&b, 0xA);
	assert_int_equal(b.port[3].current, 1);
	for (int i = 0; i < 4; i++)
		books_data(&b, 3, i == 0);
	rx[3] += 4;
	books_hello(&b, 0xB); /* no BOOT_INFO follows */
	assert_true(books_want_info(&b));
	assert_int_equal(b.port[3].awaiting, 5);
	assert_int_equal(b.port[3].current, 0);
	assert_all_booked(&b, rx, 0);
	books_data(&b, 3, false);
	rx[3]++;
	assert_all_booked(&b, rx, 0);
	/* it comes late (after a HOST_HELLO): settled, nothing awaits */
	struct m7b_boot_info bi = bi_one(0xA, true, 3, 6, 5, 1, 0);
	assert_true(books_boot_info(&b, &bi));
	assert_int_equal(b.port[3].awaiting, 0);
	assert_int_equal(b.port[3].published, 4);
	assert_int_equal(b.port[3].malformed, 1);
	assert_all_booked(&b, rx, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_settle_reboot), cmocka_unit_test(test_unknown_boot),
		cmocka_unit_test(test_excess),	      cmocka_unit_test(test_restart_without_hello),
		cmocka_unit_test(test_awaiting),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
