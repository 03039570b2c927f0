/* The raw-channel probe: escapes, the pattern matched across chunks (with overlaps),
 * only after the probe, and the send / answer / miss timing. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "probe.h"

static void cfg_of(struct probe_config *c, const char *send, const char *expect)
{
	memset(c, 0, sizeof(*c));
	assert_int_equal(probe_parse_bytes(send, c->send, sizeof(c->send), &c->send_len), 0);
	assert_int_equal(probe_parse_bytes(expect, c->expect, sizeof(c->expect), &c->expect_len),
			 0);
	c->period_ms = 1000;
	c->timeout_ms = 200;
}

static void test_parse_bytes(void **state)
{
	(void)state;
	uint8_t b[8];
	size_t n;
	assert_int_equal(probe_parse_bytes("AT\\r\\n\\x00\\xfF\\\\", b, sizeof(b), &n), 0);
	assert_int_equal(n, 7);
	assert_memory_equal(b, "AT\r\n\x00\xff\\", 7);
	assert_int_equal(probe_parse_bytes("", b, sizeof(b), &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(probe_parse_bytes("\\q", b, sizeof(b), &n), -EINVAL);
	assert_int_equal(probe_parse_bytes("a\\", b, sizeof(b), &n), -EINVAL);
	assert_int_equal(probe_parse_bytes("\\x4", b, sizeof(b), &n), -EINVAL);
	assert_int_equal(probe_parse_bytes("\\xg0", b, sizeof(b), &n), -EINVAL);
	assert_int_equal(probe_parse_bytes("123456789", b, sizeof(b), &n), -E2BIG);
}

static void test_send_answer_miss(void **state)
{
	(void)state;
	struct probe_config c;
	struct probe p;
	cfg_of(&c, "PING\\n", "PONG");
	probe_init(&p, &c);
	assert_int_equal(probe_deadline(&p), UINT64_MAX); /* stopped */
	assert_int_equal(probe_tick(&p, 5000), PROBE_NONE);
	probe_start(&p, 0);
	assert_int_equal(probe_deadline(&p), 1000);
	assert_int_equal(probe_tick(&p, 999), PROBE_NONE);
	/* Bytes before the probe do not answer it. */
	assert_false(probe_feed(&p, (const uint8_t *)"PONG", 4, 500));
	assert_int_equal(probe_tick(&p, 1000), PROBE_SEND);
	assert_int_equal(probe_deadline(&p), 1200);
	assert_true(probe_feed(&p, (const uint8_t *)"xxPONGyy", 8, 1100));
	assert_int_equal(probe_deadline(&p), 2100); /* a period after the answer */
	assert_int_equal(probe_tick(&p, 1200), PROBE_NONE);
	assert_int_equal(probe_tick(&p, 2100), PROBE_SEND);
	assert_false(probe_feed(&p, (const uint8_t *)"PON", 3, 2150));
	assert_int_equal(probe_tick(&p, 2300), PROBE_MISS);
	assert_int_equal(probe_deadline(&p), 3300);
	/* A late answer counts for nothing. */
	assert_false(probe_feed(&p, (const uint8_t *)"G", 1, 2400));
	assert_int_equal(p.sent, 2);
	assert_int_equal(p.answered, 1);
	assert_int_equal(p.missed, 1);
	probe_stop(&p);
	assert_int_equal(probe_deadline(&p), UINT64_MAX);
}

/* Split across reads, and with a prefix that repeats inside the pattern. */
static void test_match_across_chunks(void **state)
{
	(void)state;
	struct probe_config c;
	struct probe p;
	cfg_of(&c, "", "abab\\r");
	probe_init(&p, &c);
	probe_start(&p, 0);
	assert_int_equal(probe_tick(&p, 1000), PROBE_SEND);
	assert_false(probe_feed(&p, (const uint8_t *)"aba", 3, 1001));
	assert_false(probe_feed(&p, (const uint8_t *)"bab", 3, 1002)); /* "ababab" */
	assert_true(probe_feed(&p, (const uint8_t *)"\r", 1, 1003));
	/* Empty pattern: any byte answers. */
	cfg_of(&c, "?", "");
	probe_init(&p, &c);
	probe_start(&p, 0);
	assert_int_equal(probe_tick(&p, 1000), PROBE_SEND);
	assert_false(probe_feed(&p, (const uint8_t *)"", 0, 1001));
	assert_true(probe_feed(&p, (const uint8_t *)"z", 1, 1002));
	/* Period 0: never runs. */
	c.period_ms = 0;
	probe_init(&p, &c);
	probe_start(&p, 0);
	assert_int_equal(probe_deadline(&p), UINT64_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_bytes),
		cmocka_unit_test(test_send_answer_miss),
		cmocka_unit_test(test_match_across_chunks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
