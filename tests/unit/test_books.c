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

/* The M7's counters are 32-bit: a boot of more than 2^32 captures still settles to
 * what was lost, not to a surplus of nearly 2^32. */
static void test_wrapped_counters(void **state)
{
	(void)state;
	struct books b = {0};
	books_hello(&b, 1);
	books_data(&b, 2, false);
	/* as if 2^32 + 4 more had arrived */
	b.cur[2] += 0x100000004ULL;
	b.port[2].current += 0x100000004ULL;
	books_hello(&b, 2);
	/* sent 2^32 + 7 (7 as the M7 counts), dropped 3, queued 1 */
	struct m7b_boot_info bi = bi_one(1, true, 2, 11, 7, 3, 1);
	assert_true(books_boot_info(&b, &bi));
	assert_int_equal(b.excess, 0);
	assert_int_equal(b.port[2].lost_link, 2);
	assert_int_equal(b.port[2].published, 0x100000005ULL);
	assert_int_equal(b.port[2].produced, 0x100000007ULL + 3 + 1);
	assert_equation(&b.port[2]);
}

/* A record whose produced is not sent + dropped + queued settles nothing. */
static void test_record_must_add_up(void **state)
{
	(void)state;
	struct books b = {0};
	books_hello(&b, 1);
	for (int i = 0; i < 3; i++)
		books_data(&b, 0, false);
	books_hello(&b, 2);
	struct m7b_boot_info bi = bi_one(1, true, 0, 100, 3, 0, 0);
	assert_false(books_boot_info(&b, &bi));
	assert_int_equal(b.port[0].unsettled, 3);
	assert_int_equal(b.port[0].produced, 0);
	assert_int_equal(b.boots_unknown, 1);
	assert_false(books_want_info(&b));
}

/* Random HELLOs (same and new boots), restarts seen as seq going back, BOOT_INFOs
 * (valid or not, of the right boot or another, with port records or without) and DATA
 * on booked and other ports: after every step each frame is booked exactly once. */
static void test_random_histories(void **state)
{
	(void)state;
	uint64_t x = 0x9E3779B97F4A7C15ULL;
	for (int run = 0; run < 200; run++) {
		struct books b = {0};
		uint64_t rx[BOOKS_PORTS] = {0}, rx_other = 0;
		for (int step = 0; step < 300; step++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			unsigned op = (unsigned)(x % 16), a = (unsigned)(x >> 8);
			if (op < 10) {
				uint8_t port = (uint8_t)(a % 20);
				books_data(&b, port, (a >> 8) % 7 == 0);
				if (port < BOOKS_PORTS)
					rx[port]++;
				else
					rx_other++;
			} else if (op < 12) {
				books_hello(&b, 1 + (a % 4));
			} else if (op == 12) {
				books_restart(&b);
			} else {
				struct m7b_boot_info bi = {
					.present = (a & 1) ? M7B_BI_HAS_PREV_BOOT : 0,
					.prev_flags = (a & 2) ? M7B_BI_PREV_VALID : 0,
					.prev_boot_id = 1 + ((a >> 2) % 4),
					.nports = (a >> 4) % 4};
				for (unsigned i = 0; i < bi.nports; i++) {
					struct m7b_boot_port *r = &bi.port[i];
					r->port = (uint8_t)((a >> (6 + i)) % 18);
					r->sent = (a >> 12) % 40;
					r->dropped = (a >> 14) % 5;
					r->queued = (a >> 16) % 5;
					/* now and then a record that does not add up */
					r->produced = r->sent + r->dropped + r->queued +
						      ((a >> 18) % 6 == 0);
				}
				(void)books_boot_info(&b, &bi);
			}
			assert_all_booked(&b, rx, rx_other);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_settle_reboot),
		cmocka_unit_test(test_unknown_boot),
		cmocka_unit_test(test_excess),
		cmocka_unit_test(test_restart_without_hello),
		cmocka_unit_test(test_awaiting),
		cmocka_unit_test(test_wrapped_counters),
		cmocka_unit_test(test_record_must_add_up),
		cmocka_unit_test(test_random_histories),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
