/* Tests of the firmware counters' totals (daemon/fwcount.c): wraps, boots, gauges, old
 * and new firmware. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fwcount.h"
#include "proto.h"

/* Every counter a current firmware sends. */
#define ALL M7B_HB_NCOUNTERS

/* Feeds c one HEARTBEAT taken at ticks that carries n counters, each at v. */
static void beat(struct fwcount *c, uint64_t ticks, uint32_t n, uint32_t v)
{
	struct m7b_heartbeat hb = {.now_ticks = ticks, .ncounters = n};

	for (uint32_t i = 0; i < n; i++)
		hb.counter[i] = v;
	fwcount_heartbeat(c, &hb);
}

static void test_sums_growth(void **state)
{
	struct fwcount c = {0};

	(void)state;
	fwcount_hello(&c, 1);
	beat(&c, 100, ALL, 5);
	beat(&c, 200, ALL, 12);
	assert_int_equal(c.known, M7B_HB_NCOUNTERS);
	assert_int_equal(c.total[M7B_HB_SYNCS_DROPPED], 12);
	assert_int_equal(c.total[M7B_HB_CAPTURES], 12);
	assert_int_equal(c.restarts, 0);
}

/* A u32 counter that wraps on the M7 grows by the small step it took, not by ~2^32 and
 * not backwards. */
static void test_wrap_is_a_small_step(void **state)
{
	struct fwcount c = {0};

	(void)state;
	fwcount_hello(&c, 1);
	beat(&c, 100, ALL, 0xFFFFFFF0u);
	beat(&c, 200, ALL, 0x10u);
	assert_int_equal(c.total[M7B_HB_ACKS_DROPPED], 0x100000000ull + 0x10u);
	assert_int_equal(c.restarts, 0);
}

/* A new boot restarts the M7's counters at 0: the totals keep what the old boot had. */
static void test_new_boot_adds_not_subtracts(void **state)
{
	struct fwcount c = {0};

	(void)state;
	fwcount_hello(&c, 1);
	beat(&c, 1000, ALL, 50);
	fwcount_hello(&c, 1); /* the same boot answering HOST_HELLO */
	beat(&c, 2000, ALL, 60);
	fwcount_hello(&c, 2); /* a new boot */
	beat(&c, 10, ALL, 3);
	assert_int_equal(c.total[M7B_HB_HOST_VOIDED], 63);
	assert_int_equal(c.restarts, 1);
}

/* A boot whose HELLO was lost shows by its clock going back; its late HELLO does not
 * start it a second time. */
static void test_clock_back_is_a_new_boot(void **state)
{
	struct fwcount c = {0};

	(void)state;
	fwcount_hello(&c, 1);
	beat(&c, 5000, ALL, 40);
	beat(&c, 100, ALL, 2);
	assert_int_equal(c.total[M7B_HB_LOGS_DROPPED], 42);
	fwcount_hello(&c, 7);
	beat(&c, 200, ALL, 4);
	assert_int_equal(c.total[M7B_HB_LOGS_DROPPED], 44);
	assert_int_equal(c.restarts, 1);
}

/* A restart neither its HELLO (same boot_id: a port without entropy) nor its clock (a
 * counter that runs on across M7 resets, like SYS_CTR) shows: its counters fall back. A
 * fall of more than half the u32 range is no wrap (that would be over 2^31 events between
 * two HEARTBEATs): the counter started over and its value counts whole. */
static void test_unseen_restart_is_no_jump(void **state)
{
	struct fwcount c = {0};

	(void)state;
	fwcount_hello(&c, 5);
	beat(&c, 1000, ALL, 700);
	fwcount_hello(&c, 5);
	beat(&c, 2000, ALL, 3);
	assert_int_equal(c.total[M7B_HB_CAPTURES_DROPPED], 703);
	/* A true wrap is still a small step forward. */
	beat(&c, 3000, ALL, 0x7FFFFFFFu);
	beat(&c, 4000, ALL, 0xFFFFFFFFu);
	beat(&c, 5000, ALL, 0x7FFFFFFEu);
	assert_int_equal(c.total[M7B_HB_CAPTURES_DROPPED],
			 703 + 0x7FFFFFFCull + 0x80000000ull + 0x7FFFFFFFull);
}

static void test_credits_is_a_level(void **state)
{
	struct fwcount c = {0};

	(void)state;
	assert_true(fwcount_is_gauge(M7B_HB_CREDITS));
	assert_false(fwcount_is_gauge(M7B_HB_HOST_NO_CREDIT));
	beat(&c, 1, ALL, 8);
	beat(&c, 2, ALL, 3);
	assert_int_equal(c.total[M7B_HB_CREDITS], 3);
}

/* An old firmware's 13 counters: the appended ones stay unknown, not zero events. */
static void test_old_firmware_leaves_new_counters_unknown(void **state)
{
	struct fwcount c = {0};

	(void)state;
	beat(&c, 1, 13, 9);
	assert_int_equal(c.known, 13);
	assert_int_equal(c.total[M7B_HB_NOISE_BYTES], 9);
	assert_int_equal(c.total[M7B_HB_SYNCS_DROPPED], 0);
}

/* STATUS m7_counters: the counters an old firmware sent, by name, and no others; none
 * before a HEARTBEAT; none for a raw channel. */
static char *status_with(const struct fwcount *c, bool raw)
{
	struct proto_status_channel ch = {.name = "m7",
					  .device = "/dev/x",
					  .state = "up",
					  .raw = raw,
					  .m7_known = c->known,
					  .m7_totals = c->total};
	struct proto_status s = {.release = "0", .channels = &ch, .nchannels = 1};
	size_t len;
	char *t = proto_render_status(&s, &len);

	assert_non_null(t);
	return t;
}

static void test_status_names_what_was_sent(void **state)
{
	struct fwcount c = {0};
	char *t;

	(void)state;
	t = status_with(&c, false);
	assert_null(strstr(t, "m7_counters"));
	assert_non_null(strstr(t, "\"untimed_frames\":0"));
	free(t);
	beat(&c, 1, 13, 9);
	t = status_with(&c, false);
	assert_non_null(strstr(t, "\"m7_counters\":{\"uart_rx_bytes\":9,"));
	assert_non_null(strstr(t, "\"noise_bytes\":9}"));
	assert_null(strstr(t, "syncs_dropped"));
	assert_null(strstr(t, "\"credits\""));
	free(t);
	beat(&c, 2, ALL, 10);
	t = status_with(&c, false);
	assert_non_null(strstr(t, "\"host_voided\":10}"));
	free(t);
	t = status_with(&c, true);
	assert_null(strstr(t, "m7_counters"));
	assert_null(strstr(t, "untimed_frames"));
	free(t);
}

/* A restart seen by seq going back (HELLO lost, ticks running on as the SoC counter
 * does): the new boot's counters count whole; the HELLO of the new boot changes nothing
 * more. One that names the boot before undoes it, whether HEARTBEATs came in between
 * or not; a second restart before the HELLO is the same one. */
static void test_restart_seen_by_seq(void **state)
{
	struct fwcount c = {0};

	(void)state;
	fwcount_hello(&c, 1);
	beat(&c, 100, ALL, 5);
	fwcount_restart(&c);
	fwcount_restart(&c);
	beat(&c, 200, ALL, 7);
	assert_int_equal(c.total[M7B_HB_CAPTURES], 12);
	fwcount_hello(&c, 2);
	beat(&c, 300, ALL, 8);
	assert_int_equal(c.total[M7B_HB_CAPTURES], 13);
	assert_int_equal(c.restarts, 1);

	/* Not a restart: a repeated frame, then the same boot's HELLO. */
	fwcount_restart(&c);
	beat(&c, 400, ALL, 9);
	beat(&c, 500, ALL, 10);
	assert_int_equal(c.total[M7B_HB_CAPTURES], 13 + 10);
	fwcount_hello(&c, 2);
	assert_int_equal(c.total[M7B_HB_CAPTURES], 15);
	assert_int_equal(c.total[M7B_HB_CREDITS], 10); /* a level, not summed */
	assert_int_equal(c.restarts, 1);
	beat(&c, 600, ALL, 11);
	assert_int_equal(c.total[M7B_HB_CAPTURES], 16);

	/* The same with no HEARTBEAT in between: the values before stand. */
	fwcount_restart(&c);
	fwcount_hello(&c, 2);
	beat(&c, 700, ALL, 12);
	assert_int_equal(c.total[M7B_HB_CAPTURES], 17);

	/* A clock that goes back settles it: one restart, whatever the HELLO says. */
	fwcount_restart(&c);
	beat(&c, 50, ALL, 3);
	fwcount_hello(&c, 2);
	beat(&c, 60, ALL, 4);
	assert_int_equal(c.total[M7B_HB_CAPTURES], 21);
	assert_int_equal(c.restarts, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sums_growth),
		cmocka_unit_test(test_wrap_is_a_small_step),
		cmocka_unit_test(test_new_boot_adds_not_subtracts),
		cmocka_unit_test(test_clock_back_is_a_new_boot),
		cmocka_unit_test(test_unseen_restart_is_no_jump),
		cmocka_unit_test(test_credits_is_a_level),
		cmocka_unit_test(test_old_firmware_leaves_new_counters_unknown),
		cmocka_unit_test(test_status_names_what_was_sent),
		cmocka_unit_test(test_restart_seen_by_seq),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
