/* Unit tests for the liveness watcher (daemon/liveness.c) as (time, input) tables. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "liveness.h"

enum input { TICK, FRAME, HEARTBEAT, HB_COUNT, PROBE, START, STOP, LINK_UP };

struct row {
	uint64_t t;
	enum input in;
	enum liveness_action want;
	uint64_t deadline;
};

/* Runs the rows as the supervisor does: its timer is re-armed at the deadline after
 * every input but a frame, and after a frame only when liveness_on_frame() asks. The timer
 * may then sit before the deadline (the tick re-arms it), never after it or unarmed. */
static void run_counted(struct liveness *l, const struct row *rows, size_t n,
			const int64_t *host_frames, const uint32_t *sent)
{
	size_t i;
	uint64_t armed = 0;

	for (i = 0; i < n; i++) {
		enum liveness_action got = LIVENESS_NONE;
		bool frame =
			rows[i].in == FRAME || rows[i].in == HEARTBEAT || rows[i].in == HB_COUNT;
		bool rearm = !frame;

		switch (rows[i].in) {
		case TICK:
			got = liveness_tick(l, rows[i].t);
			break;
		case FRAME:
			rearm = liveness_on_frame(l, rows[i].t, false);
			break;
		case HEARTBEAT:
			rearm = liveness_on_frame(l, rows[i].t, true);
			break;
		case HB_COUNT:
			rearm = liveness_on_heartbeat(l, rows[i].t, host_frames[i],
						      sent ? sent[i] : 0);
			break;
		case PROBE:
			got = liveness_probe(l, rows[i].t);
			break;
		case START:
			liveness_start(l, rows[i].t);
			break;
		case STOP:
			liveness_stop(l);
			break;
		case LINK_UP:
			liveness_link_up(l);
			break;
		}
		if (got != rows[i].want || liveness_deadline(l) != rows[i].deadline)
			fail_msg("row %zu: got %s @%llu, want %s @%llu", i,
				 liveness_action_to_string(got),
				 (unsigned long long)liveness_deadline(l),
				 liveness_action_to_string(rows[i].want),
				 (unsigned long long)rows[i].deadline);
		if (rearm)
			armed = liveness_deadline(l);
		if (rows[i].deadline && (!armed || armed > rows[i].deadline))
			fail_msg("row %zu: timer at %llu, deadline %llu", i,
				 (unsigned long long)armed, (unsigned long long)rows[i].deadline);
	}
}

#define RUN(l, rows) run_counted((l), (rows), sizeof(rows) / sizeof((rows)[0]), NULL, NULL)

static const struct liveness_config cfg = {.quiet_ms = 2000, .answer_ms = 1000, .retries = 1};

static void test_quiet_ping_answered(void **state)
{
	struct liveness l;
	static const struct row rows[] = {
		{0, TICK, LIVENESS_NONE, 0}, /* stopped */
		{100, START, LIVENESS_NONE, 2100},
		{1000, FRAME, LIVENESS_NONE, 3000},
		{2999, TICK, LIVENESS_NONE, 3000},
		{3000, TICK, LIVENESS_SEND_PING, 4000},
		{3500, TICK, LIVENESS_NONE, 4000},
		{3600, HEARTBEAT, LIVENESS_NONE, 5600},
		/* any frame answers a quiet-link PING */
		{5600, TICK, LIVENESS_SEND_PING, 6600},
		{5700, FRAME, LIVENESS_NONE, 7700},
	};

	(void)state;
	liveness_init(&l, &cfg);
	RUN(&l, rows);
	assert_int_equal(l.pings, 2);
}

static void test_stall(void **state)
{
	struct liveness l;
	static const struct row rows[] = {
		{0, START, LIVENESS_NONE, 2000},
		{2000, TICK, LIVENESS_SEND_PING, 3000},
		{3000, TICK, LIVENESS_SEND_PING, 4000}, /* one retry */
		{4000, TICK, LIVENESS_STALL, 0},
		{5000, TICK, LIVENESS_NONE, 0}, /* reported once */
		{5000, PROBE, LIVENESS_NONE, 0},
		{6000, FRAME, LIVENESS_NONE, 8000}, /* back */
		{8000, TICK, LIVENESS_SEND_PING, 9000},
		{8500, STOP, LIVENESS_NONE, 0},
		{9000, TICK, LIVENESS_NONE, 0},
		{9000, FRAME, LIVENESS_NONE, 0},
		{9500, START, LIVENESS_NONE, 11500},
	};

	(void)state;
	liveness_init(&l, &cfg);
	RUN(&l, rows);
	assert_int_equal(l.stalls, 1);
}

/* After a kernel fault: only a HEARTBEAT answers the probe, DATA does not. */
static void test_probe(void **state)
{
	struct liveness l;
	static const struct row rows[] = {
		{0, START, LIVENESS_NONE, 2000},
		{500, PROBE, LIVENESS_SEND_PING, 1500},
		{600, PROBE, LIVENESS_NONE, 1500}, /* already outstanding */
		{700, FRAME, LIVENESS_NONE, 1500},
		{1500, TICK, LIVENESS_SEND_PING, 2500},
		{1600, FRAME, LIVENESS_NONE, 2500},
		{2500, TICK, LIVENESS_STALL, 0},
		{3000, START, LIVENESS_NONE, 5000},
		{3100, PROBE, LIVENESS_SEND_PING, 4100},
		{3200, HEARTBEAT, LIVENESS_NONE, 5200},
		/* a quiet-link PING turned strict by a probe */
		{5200, TICK, LIVENESS_SEND_PING, 6200},
		{5300, PROBE, LIVENESS_NONE, 6200},
		{5400, FRAME, LIVENESS_NONE, 6200},
		{5500, HEARTBEAT, LIVENESS_NONE, 7500},
	};

	(void)state;
	liveness_init(&l, &cfg);
	RUN(&l, rows);
}

/* The firmware sends a HEARTBEAT every second whether or not it takes Linux's messages:
 * one whose count of frames received from the host did not move since before the probe
 * does not answer it (the M7 talks but is deaf: the kick failure's very case); one whose
 * count moved does, and so does one that carries no count. */
static void test_probe_deaf(void **state)
{
	struct liveness l;
	static const struct row rows[] = {
		{0, START, LIVENESS_NONE, 2000},
		{500, HB_COUNT, LIVENESS_NONE, 2500},
		{600, PROBE, LIVENESS_SEND_PING, 1600},
		{1000, HB_COUNT, LIVENESS_NONE, 1600}, /* periodic: the PING not taken */
		{1600, TICK, LIVENESS_SEND_PING, 2600},
		{2000, HB_COUNT, LIVENESS_NONE, 2600},
		{2600, TICK, LIVENESS_STALL, 0},
		{3000, START, LIVENESS_NONE, 5000},
		{3100, HB_COUNT, LIVENESS_NONE, 5100},
		{3200, PROBE, LIVENESS_SEND_PING, 4200},
		{3300, HB_COUNT, LIVENESS_NONE, 5300}, /* the PING counted: answered */
		{3400, PROBE, LIVENESS_SEND_PING, 4400},
		{3500, HB_COUNT, LIVENESS_NONE, 5500}, /* no count: taken as the answer */
		/* The count wraps around. */
		{3600, HB_COUNT, LIVENESS_NONE, 5600},
		{3700, PROBE, LIVENESS_SEND_PING, 4700},
		{3800, HB_COUNT, LIVENESS_NONE, 5800},
		/* A quiet-link PING, not strict: any HEARTBEAT answers it. */
		{5800, TICK, LIVENESS_SEND_PING, 6800},
		{5900, HB_COUNT, LIVENESS_NONE, 7900},
		/* A new link: the count before it says nothing. */
		{6000, START, LIVENESS_NONE, 8000},
		{6100, PROBE, LIVENESS_SEND_PING, 7100},
		{6200, HB_COUNT, LIVENESS_NONE, 8200},
	};
	/* host_frames of each row's HEARTBEAT (-1: none, or no HEARTBEAT). */
	static const int64_t counts[] = {
		-1,	    40, -1, 40, -1, 40, -1, /* deaf: stall */
		-1,	    50, -1, 51, -1, -1,	    /* counted, or no count */
		4294967295, -1, 0,		    /* wraps */
		-1,	    0,	-1, -1, 0,	    /* not strict; new link */
	};

	(void)state;
	assert_int_equal(sizeof(counts) / sizeof(counts[0]), sizeof(rows) / sizeof(rows[0]));
	liveness_init(&l, &cfg);
	run_counted(&l, rows, sizeof(rows) / sizeof(rows[0]), counts, NULL);
	assert_int_equal(l.stalls, 1);
}

/* Without a kernel log nothing begins a probe, and the periodic HEARTBEATs of an M7 that
 * no longer takes the host's frames keep the link from going quiet: the count they carry
 * does. Frames the host wrote before one HEARTBEAT and a count still unmoved at the next
 * begin a strict probe at once; once per deaf spell. A host that wrote nothing, and
 * HEARTBEATs without counters, begin none. */
static void test_deaf_watch(void **state)
{
	struct liveness l;
	static const struct row rows[] = {
		{0, START, LIVENESS_NONE, 2000},
		{1000, HB_COUNT, LIVENESS_NONE, 3000},
		{2000, HB_COUNT, LIVENESS_NONE, 4000}, /* the host wrote: a period to arrive */
		{3000, HB_COUNT, LIVENESS_NONE, 3000}, /* not taken: PING at once */
		{3000, TICK, LIVENESS_SEND_PING, 4000},
		{3500, HB_COUNT, LIVENESS_NONE, 4000}, /* periodic, same count: no answer */
		{4000, TICK, LIVENESS_SEND_PING, 5000},
		{4500, HB_COUNT, LIVENESS_NONE, 5000},
		{5000, TICK, LIVENESS_STALL, 0},
		/* Still deaf: said once, but a PING now and then, answered by any frame, gives
		 * it something to count should it take frames again. */
		{5500, HB_COUNT, LIVENESS_NONE, 6000},
		{6000, TICK, LIVENESS_SEND_PING, 7000},
		{6500, HB_COUNT, LIVENESS_NONE, 8000},
		{7500, HB_COUNT, LIVENESS_NONE, 8000},
		/* It takes frames again; then the host is idle: nothing to notice. */
		{8500, HB_COUNT, LIVENESS_NONE, 10500},
		{9500, HB_COUNT, LIVENESS_NONE, 11500},
		{10500, HB_COUNT, LIVENESS_NONE, 12500},
		/* Deaf again, and the probe's answer shows the PING taken. */
		{11500, HB_COUNT, LIVENESS_NONE, 13500},
		{12500, HB_COUNT, LIVENESS_NONE, 12500},
		{12500, TICK, LIVENESS_SEND_PING, 13500},
		{12600, HB_COUNT, LIVENESS_NONE, 14600},
		/* No counters: no watch, whatever the host writes. */
		{13000, START, LIVENESS_NONE, 15000},
		{14000, HB_COUNT, LIVENESS_NONE, 16000},
		{15000, HB_COUNT, LIVENESS_NONE, 17000},
		{16000, HB_COUNT, LIVENESS_NONE, 18000},
		{17000, HB_COUNT, LIVENESS_NONE, 19000},
	};
	static const int64_t counts[] = {
		-1, 10, 10, 10, -1, 10, -1, 10, -1, 10, -1, 10, 10, /* deaf: one stall */
		11, 11, 11,					    /* idle host */
		11, 11, -1, 12,					    /* answered */
		-1, -1, -1, -1, -1,				    /* no counters */
	};
	static const uint32_t sent[] = {
		0, 5, 7, 7, 0, 8, 0, 9, 0, 10, 0, 12, 12, 12, 12, 12, 14, 14, 0, 15, 0, 1, 5, 9, 13,
	};

	(void)state;
	assert_int_equal(sizeof(counts) / sizeof(counts[0]), sizeof(rows) / sizeof(rows[0]));
	assert_int_equal(sizeof(sent) / sizeof(sent[0]), sizeof(rows) / sizeof(rows[0]));
	liveness_init(&l, &cfg);
	run_counted(&l, rows, 9, counts, sent);
	assert_true(l.stall_deaf);
	run_counted(&l, rows + 9, sizeof(rows) / sizeof(rows[0]) - 9, counts + 9, sent + 9);
	assert_int_equal(l.stalls, 1);
	assert_int_equal(l.pings, 4);
}

/* A deaf spell outlives a reopen of the tty (a recovery step's): the M7's count is the
 * same, so the watch neither begins a probe nor says the stall again, and its PINGs go
 * on, for the M7 to count should it hear again. When it does, the spell ends, and a
 * reopen after that starts from a clean slate. */
static void test_deaf_spell_outlives_reopen(void **state)
{
	struct liveness l;
	static const struct row rows[] = {
		{0, START, LIVENESS_NONE, 2000},
		{1000, HB_COUNT, LIVENESS_NONE, 3000},
		{2000, HB_COUNT, LIVENESS_NONE, 4000},
		{3000, HB_COUNT, LIVENESS_NONE, 3000},
		{3000, TICK, LIVENESS_SEND_PING, 4000},
		{3500, HB_COUNT, LIVENESS_NONE, 4000},
		{4000, TICK, LIVENESS_SEND_PING, 5000},
		{4500, HB_COUNT, LIVENESS_NONE, 5000},
		{5000, TICK, LIVENESS_STALL, 0},
		/* Closed and opened again; still deaf while the host writes (its count of
		 * frames written starts over with the HOST_HELLO of the open). */
		{5100, STOP, LIVENESS_NONE, 0},
		{5200, START, LIVENESS_NONE, 7200},
		{5500, HB_COUNT, LIVENESS_NONE, 7200},
		{6500, HB_COUNT, LIVENESS_NONE, 7200},
		{7200, TICK, LIVENESS_SEND_PING, 8200},
		{7500, HB_COUNT, LIVENESS_NONE, 9200},
		{8500, HB_COUNT, LIVENESS_NONE, 9200},
		{9200, TICK, LIVENESS_SEND_PING, 10200},
		/* It took the PING: the spell is over; a reopen now starts afresh. */
		{9500, HB_COUNT, LIVENESS_NONE, 11500},
		{9600, STOP, LIVENESS_NONE, 0},
		{9700, START, LIVENESS_NONE, 11700},
		{10500, HB_COUNT, LIVENESS_NONE, 12500},
	};
	static const int64_t counts[] = {
		-1, 10, 10, 10, -1, 10, -1, 10, -1, /* deaf: the stall */
		-1, -1, 10, 10, -1, 10, 10, -1,	    /* reopened, still deaf */
		11, -1, -1, 11,			    /* hears again */
	};
	static const uint32_t sent[] = {
		0, 5, 7, 7, 0, 8, 0, 9, 0, 0, 0, 1, 1, 0, 2, 2, 0, 3, 0, 0, 1,
	};

	(void)state;
	assert_int_equal(sizeof(counts) / sizeof(counts[0]), sizeof(rows) / sizeof(rows[0]));
	assert_int_equal(sizeof(sent) / sizeof(sent[0]), sizeof(rows) / sizeof(rows[0]));
	liveness_init(&l, &cfg);
	run_counted(&l, rows, sizeof(rows) / sizeof(rows[0]), counts, sent);
	assert_int_equal(l.stalls, 1);
	assert_false(l.deaf_latched);
}

/* New settings (a SIGHUP) set up a new watcher: it takes over the deaf spell and the
 * counters, so the spell is neither said again nor left without its PINGs. */
static void test_carry_keeps_deaf_spell(void **state)
{
	struct liveness old, l;
	static const struct liveness_config fast = {
		.quiet_ms = 500, .answer_ms = 300, .retries = 1};
	static const struct row rows[] = {
		{0, START, LIVENESS_NONE, 2000},
		{1000, HB_COUNT, LIVENESS_NONE, 3000},
		{2000, HB_COUNT, LIVENESS_NONE, 4000},
		{3000, HB_COUNT, LIVENESS_NONE, 3000}, /* deaf: the probe */
		{3000, TICK, LIVENESS_SEND_PING, 4000},
		{3500, HB_COUNT, LIVENESS_NONE, 4000},
		{4000, TICK, LIVENESS_SEND_PING, 5000},
		{4500, HB_COUNT, LIVENESS_NONE, 5000},
		{5000, TICK, LIVENESS_STALL, 0},
	};
	static const int64_t counts[] = {-1, 10, 10, 10, -1, 10, -1, 10, -1};
	static const uint32_t sent[] = {0, 5, 7, 7, 0, 8, 0, 9, 0};
	/* The new watcher, at its own pace: still deaf, PINGs every 500 ms, no probe. */
	static const struct row after[] = {
		{5100, START, LIVENESS_NONE, 5600},
		{5200, HB_COUNT, LIVENESS_NONE, 5600}, /* the host writes: still no probe */
		{5400, HB_COUNT, LIVENESS_NONE, 5600},
		{5600, TICK, LIVENESS_SEND_PING, 5900},
		{5700, HB_COUNT, LIVENESS_NONE, 6100},
		{5900, HB_COUNT, LIVENESS_NONE, 6100},
	};
	static const int64_t counts2[] = {-1, 10, 10, -1, 10, 10};
	static const uint32_t sent2[] = {0, 10, 11, 0, 12, 12};

	(void)state;
	liveness_init(&old, &cfg);
	run_counted(&old, rows, sizeof(rows) / sizeof(rows[0]), counts, sent);
	liveness_init(&l, &fast);
	liveness_carry(&l, &old);
	run_counted(&l, after, sizeof(after) / sizeof(after[0]), counts2, sent2);
	assert_int_equal(l.stalls, 1);
	assert_int_equal(l.pings, old.pings + 1);
	assert_true(l.deaf_latched);
}

/* The channel up again (an M7 that says HELLO on a new link while still deaf, say): the
 * spell said before is over, and the M7 found deaf again is a new stall. */
static void test_deaf_again_after_link_up(void **state)
{
	struct liveness l;
	static const struct row rows[] = {
		{0, START, LIVENESS_NONE, 2000},
		{1000, HB_COUNT, LIVENESS_NONE, 3000},
		{2000, HB_COUNT, LIVENESS_NONE, 4000},
		{3000, HB_COUNT, LIVENESS_NONE, 3000}, /* deaf: the probe */
		{3000, TICK, LIVENESS_SEND_PING, 4000},
		{3500, HB_COUNT, LIVENESS_NONE, 4000},
		{4000, TICK, LIVENESS_SEND_PING, 5000},
		{4500, HB_COUNT, LIVENESS_NONE, 5000},
		{5000, TICK, LIVENESS_STALL, 0},
		{5100, LINK_UP, LIVENESS_NONE, 0}, /* up: the spell is over */
		{5500, HB_COUNT, LIVENESS_NONE, 7500},
		{6500, HB_COUNT, LIVENESS_NONE, 8500},
		{7500, HB_COUNT, LIVENESS_NONE, 7500}, /* still deaf: a new probe */
		{7500, TICK, LIVENESS_SEND_PING, 8500},
		{8000, HB_COUNT, LIVENESS_NONE, 8500},
		{8500, TICK, LIVENESS_SEND_PING, 9500},
		{9000, HB_COUNT, LIVENESS_NONE, 9500},
		{9500, TICK, LIVENESS_STALL, 0},
	};
	static const int64_t counts[] = {-1, 10, 10, 10, -1, 10, -1, 10, -1,
					 -1, 10, 10, 10, -1, 10, -1, 10, -1};
	static const uint32_t sent[] = {0, 5, 7, 7, 0, 8, 0, 9, 0, 0, 10, 11, 12, 0, 13, 0, 14, 0};

	(void)state;
	assert_int_equal(sizeof(counts) / sizeof(counts[0]), sizeof(rows) / sizeof(rows[0]));
	assert_int_equal(sizeof(sent) / sizeof(sent[0]), sizeof(rows) / sizeof(rows[0]));
	liveness_init(&l, &cfg);
	run_counted(&l, rows, sizeof(rows) / sizeof(rows[0]), counts, sent);
	assert_int_equal(l.stalls, 2);
	assert_true(l.stall_deaf);
}

/* A stall says whether it ended a probe (HEARTBEATs or DATA may have kept coming) or a
 * quiet link (nothing came at all): the fault's words differ. */
static void test_stall_cause(void **state)
{
	struct liveness l;
	static const struct row probe_rows[] = {
		{0, START, LIVENESS_NONE, 2000},    {100, PROBE, LIVENESS_SEND_PING, 1100},
		{1000, FRAME, LIVENESS_NONE, 1100}, {1100, TICK, LIVENESS_SEND_PING, 2100},
		{2100, TICK, LIVENESS_STALL, 0},
	};
	static const struct row quiet_rows[] = {
		{0, START, LIVENESS_NONE, 2000},
		{2000, TICK, LIVENESS_SEND_PING, 3000},
		{3000, TICK, LIVENESS_SEND_PING, 4000},
		{4000, TICK, LIVENESS_STALL, 0},
	};

	(void)state;
	liveness_init(&l, &cfg);
	RUN(&l, probe_rows);
	assert_true(l.stall_probe);
	assert_false(l.stall_deaf);
	/* Found deaf: the deaf watch will not say it again. */
	assert_true(l.deaf_latched);
	RUN(&l, quiet_rows);
	assert_false(l.stall_probe);
	assert_false(l.stall_deaf);
	assert_false(l.deaf_latched);
}

/* An answer window longer than the quiet period: a frame answering the PING moves the
 * deadline earlier, so the timer must follow it; a frame on a quiet watch does not. */
static void test_frame_moves_deadline(void **state)
{
	struct liveness l;
	static const struct liveness_config slow = {
		.quiet_ms = 1000, .answer_ms = 5000, .retries = 0};
	static const struct row rows[] = {
		{0, START, LIVENESS_NONE, 1000},    {100, FRAME, LIVENESS_NONE, 1100},
		{200, FRAME, LIVENESS_NONE, 1200},  {1200, TICK, LIVENESS_SEND_PING, 6200},
		{1300, FRAME, LIVENESS_NONE, 2300}, {2300, TICK, LIVENESS_SEND_PING, 7300},
		{7300, TICK, LIVENESS_STALL, 0},    {7400, FRAME, LIVENESS_NONE, 8400},
	};

	(void)state;
	liveness_init(&l, &slow);
	RUN(&l, rows);
	/* Not running: nothing to re-arm. */
	liveness_stop(&l);
	assert_false(liveness_on_frame(&l, 9000, false));
}

static void test_defaults(void **state)
{
	struct liveness_config c;

	(void)state;
	liveness_config_default(&c);
	assert_true(c.quiet_ms > c.answer_ms);
	assert_true(c.retries >= 1);
	assert_string_equal(liveness_action_to_string(LIVENESS_STALL), "stall");
	assert_string_equal(liveness_action_to_string((enum liveness_action)9), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quiet_ping_answered),
		cmocka_unit_test(test_stall),
		cmocka_unit_test(test_probe),
		cmocka_unit_test(test_probe_deaf),
		cmocka_unit_test(test_deaf_watch),
		cmocka_unit_test(test_deaf_spell_outlives_reopen),
		cmocka_unit_test(test_carry_keeps_deaf_spell),
		cmocka_unit_test(test_deaf_again_after_link_up),
		cmocka_unit_test(test_stall_cause),
		cmocka_unit_test(test_frame_moves_deadline),
		cmocka_unit_test(test_defaults),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
