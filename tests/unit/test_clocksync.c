/* Unit tests for clocksync's glue: the daemon and channel calls are stubs, time is ours. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../daemon/clocksync.c"

#define HZ 8000000u

/* ---- stubs: what clocksync.c calls ---- */

/* The channel is opaque to clocksync: the test's own stands in. */
struct channel {
	unsigned slot; /* first, as struct channel_head: channel_slot() reads it inline */
	enum channel_state state;
	const char *name;
};
enum channel_state channel_get_state(const struct channel *ch)
{
	return ch->state;
}
const char *channel_name(const struct channel *ch)
{
	return ch->name;
}
struct txthread *channel_txthread(const struct channel *ch)
{
	(void)ch;
	return NULL;
}
int channel_log_errno(const struct channel *ch, int prio, int r, const char *fmt, ...)
{
	(void)ch;
	(void)prio;
	(void)fmt;
	return r;
}

static uint64_t now_ms = 1000000;
static struct event_base *base;
static struct channel *chan;
static struct daemon_observer obs;
static unsigned syncs;		/* SYNC frames written */
static uint64_t last_sync_time; /* their host_time */

uint64_t daemon_now_ms(void)
{
	return now_ms;
}
struct event_base *daemon_base(struct daemon *d)
{
	(void)d;
	return base;
}
const struct log *daemon_log(struct daemon *d)
{
	(void)d;
	return NULL;
}
struct channel *daemon_channel_at(struct daemon *d, unsigned i)
{
	(void)d;
	return i == 0 ? chan : NULL;
}
int daemon_add_observer(struct daemon *d, const struct daemon_observer *o)
{
	(void)d;
	obs = *o;
	return 0;
}
void daemon_remove_observer(struct daemon *d, void *ud)
{
	(void)d;
	(void)ud;
}
void daemon_set_clock(struct daemon *d, daemon_clock_fn fn, daemon_clock_info_fn info, void *ud)
{
	(void)d;
	(void)fn;
	(void)info;
	(void)ud;
}
void daemon_broadcast(struct daemon *d, struct channel *ch, unsigned cls, const char *line,
		      size_t len)
{
	(void)d;
	(void)ch;
	(void)cls;
	(void)line;
	(void)len;
}
void daemon_flush(struct daemon *d)
{
	(void)d;
}
int channel_write_frame(struct channel *ch, uint8_t type, uint8_t port, uint8_t flags,
			const void *payload, size_t len, uint32_t *seq_out)
{
	(void)ch;
	(void)port;
	(void)flags;
	(void)seq_out;
	if (type == M7B_T_SYNC) {
		struct m7b_frame f = {.type = type, .len = (uint16_t)len, .payload = payload};
		struct m7b_sync s;
		assert_int_equal(m7b_wire_unpack_sync(&f, &s), 0);
		last_sync_time = s.host_time;
		syncs++;
	}
	return 0;
}

/* ---- helpers ---- */

static struct clocksync *setup(void)
{
	base = event_base_new();
	chan = calloc(1, sizeof *chan);
	chan->slot = 0;
	chan->state = CHANNEL_UP;
	chan->name = "m7";
	syncs = 0;
	struct clocksync *cs = clocksync_new((struct daemon *)base);
	assert_non_null(cs);
	return cs;
}

static void teardown(struct clocksync *cs)
{
	clocksync_free(cs);
	free(chan);
	event_base_free(base);
}

static void hello(uint32_t boot_id)
{
	struct m7b_frame f = {.type = M7B_T_HELLO};
	struct channel_msg m = {.frame = &f, .u.hello = {.tick_hz = HZ, .boot_id = boot_id}};
	obs.on_msg(obs.ud, chan, &m);
}

/* The M7 answers the newest SYNC: its clock reads host MONOTONIC ns / 125 + tick0. */
static void reply(uint64_t tick0)
{
	uint64_t now = ns_of(CLOCK_MONOTONIC);
	struct m7b_sync_reply r = {.host_time = last_sync_time,
				   .rx_ticks = tick0 + (last_sync_time + now) / 2 / 125,
				   .tx_ticks = tick0 + (last_sync_time + now) / 2 / 125};
	struct m7b_frame f = {.type = M7B_T_SYNC_REPLY};
	/* Received now: the channel stamps each message with its read()'s time. */
	struct channel_msg m = {.frame = &f, .rx_mono_ns = now, .u.sync_reply = r};
	obs.on_msg(obs.ud, chan, &m);
}

/* BOOT_INFO with a tick item of src at hz (src < 0: no tick item). */
static void boot_info(int src, uint32_t hz)
{
	struct m7b_frame f = {.type = M7B_T_BOOT_INFO};
	struct channel_msg m = {.frame = &f};
	if (src >= 0) {
		m.u.boot_info.present = M7B_BI_HAS_TICK;
		m.u.boot_info.tick_source = (uint8_t)src;
		m.u.boot_info.tick_hz = hz;
	}
	obs.on_msg(obs.ud, chan, &m);
}

static void data(uint8_t port, uint64_t t)
{
	struct m7b_frame f = {.type = M7B_T_DATA, .port = port};
	struct channel_msg m = {.frame = &f, .u.data = {.t_first = t, .t_last = t}};
	obs.on_msg(obs.ud, chan, &m);
}

/* ---- tests ---- */

/* Reported flaw: a HELLO set the next SYNC due but sent none (no mapping for 0.13-0.26 s). */
static void test_hello_sends_sync_at_once(void **state)
{
	(void)state;
	struct clocksync *cs = setup();
	hello(1);
	(void)event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(syncs, 1);
	teardown(cs);
}

/* SYNCs go out every FAST_MS after the HELLO, not before, then every SLOW_MS once the
 * mapping has settled. */
static void test_schedule_fast_then_slow(void **state)
{
	(void)state;
	struct clocksync *cs = setup();
	uint64_t t0 = now_ms;
	unsigned n = 1;
	hello(1);
	assert_int_equal(syncs, n);
	for (uint64_t due = t0 + CLOCKSYNC_FAST_MS; due < t0 + CLOCKSYNC_SETTLE_MS;
	     due += CLOCKSYNC_FAST_MS) {
		now_ms = due - 1;
		run_schedule(&cs->chans[0]);
		assert_int_equal(syncs, n);
		now_ms = due;
		run_schedule(&cs->chans[0]);
		assert_int_equal(syncs, ++n);
	}
	/* The last fast one went out before SETTLE_MS: the next comes FAST_MS later. */
	now_ms += CLOCKSYNC_FAST_MS;
	run_schedule(&cs->chans[0]);
	assert_int_equal(syncs, ++n);
	now_ms += CLOCKSYNC_SLOW_MS - 1;
	run_schedule(&cs->chans[0]);
	assert_int_equal(syncs, n);
	now_ms += 1;
	run_schedule(&cs->chans[0]);
	assert_int_equal(syncs, n + 1);
	teardown(cs);
}

static void test_reply_maps_frames(void **state)
{
	(void)state;
	struct clocksync *cs = setup();
	uint64_t mono, real, err;
	hello(1);
	assert_false(clocksync_map(cs, 0, 1000, &mono, &real, &err));
	reply(777);
	uint64_t now = ns_of(CLOCK_MONOTONIC);
	uint64_t tick = 777 + now / 125;
	assert_true(clocksync_map(cs, 0, tick, &mono, &real, &err));
	uint64_t e = mono > now ? mono - now : now - mono;
	assert_true(e <= err);
	assert_true(real > mono);
	teardown(cs);
}

/* DATA ticks going backwards on a port: a reboot whose HELLO was lost. */
static void test_data_backwards_unmaps_and_resyncs(void **state)
{
	(void)state;
	struct clocksync *cs = setup();
	uint64_t mono, real, err;
	hello(1);
	reply(0);
	uint64_t tick = ns_of(CLOCK_MONOTONIC) / 125;
	data(1, tick);
	assert_true(clocksync_map(cs, 0, tick, &mono, &real, &err));
	unsigned before = syncs;
	uint64_t old_sync = last_sync_time;
	data(1, 5); /* the new boot's ticks */
	assert_false(clocksync_map(cs, 0, 5, &mono, &real, &err));
	assert_int_equal(syncs, before + 1);
	struct clockmap_info i;
	clocksync_info(cs, 0, &i);
	assert_int_equal(i.epochs, 1);
	/* A reply to a SYNC sent before the reset is from the old boot: ignored. */
	uint64_t newest = last_sync_time;
	last_sync_time = old_sync;
	reply(0);
	assert_false(clocksync_map(cs, 0, 5, &mono, &real, &err));
	last_sync_time = newest;
	reply(0); /* the answer to the new SYNC maps again */
	assert_true(clocksync_map(cs, 0, ns_of(CLOCK_MONOTONIC) / 125, &mono, &real, &err));
	teardown(cs);
}

static void test_host_clock_source(void **state)
{
	(void)state;
	struct clocksync *cs = setup();
	uint64_t mono, real, err;
	hello(1);
	assert_int_equal(clocksync_set_source(cs, 0, CLOCKSYNC_SRC_HOST_MONO, 1000000), 0);
	assert_true(clocksync_map(cs, 0, 5000000, &mono, &real, &err));
	assert_int_equal(mono, 5000000000ull);
	assert_int_equal(err, 1001 + cs->real_err_ns);
	assert_false(clocksync_map(cs, 0, UINT64_MAX, &mono, &real, &err));
	assert_int_equal(clocksync_set_source(cs, 0, 99, 0), -EINVAL);
	teardown(cs);
}

/* BOOT_INFO's tick item picks the mapping; a new boot forgets it until its own BOOT_INFO. */
static void test_boot_info_sets_source(void **state)
{
	(void)state;
	struct clocksync *cs = setup();
	uint64_t mono, real, err;
	hello(1);
	assert_false(clocksync_map(cs, 0, 5000000, &mono, &real, &err));
	boot_info(4 /* BOARD_TICK_HOST_MONO */, 1000000);
	assert_int_equal(cs->chans[0].src, CLOCKSYNC_SRC_HOST_MONO);
	assert_true(clocksync_map(cs, 0, 5000000, &mono, &real, &err));
	assert_int_equal(mono, 5000000000ull);
	assert_int_equal(err, 1001 + cs->real_err_ns);
	hello(2); /* another boot: its ticks are measured until it says otherwise */
	assert_int_equal(cs->chans[0].src, CLOCKSYNC_SRC_UNKNOWN);
	assert_false(clocksync_map(cs, 0, 5000000, &mono, &real, &err));
	boot_info(4, 1000000);
	assert_true(clocksync_map(cs, 0, 5000000, &mono, &real, &err));
	boot_info(9, 1000000); /* a source this daemon does not know: round trips */
	assert_int_equal(cs->chans[0].src, CLOCKSYNC_SRC_UNKNOWN);
	boot_info(2 /* BOARD_TICK_GPT */, 24000000);
	assert_int_equal(cs->chans[0].src, CLOCKSYNC_SRC_GPT);
	boot_info(-1, 0); /* no tick item */
	assert_int_equal(cs->chans[0].src, CLOCKSYNC_SRC_UNKNOWN);
	teardown(cs);
}

/* The reply's arrival is the channel's stamp after read(), not when the observer runs. */
static void test_reply_uses_receive_stamp(void **state)
{
	(void)state;
	struct clocksync *cs = setup();
	struct clockmap_info i;
	hello(1);
	(void)event_base_loop(base, EVLOOP_NONBLOCK);
	uint64_t t1 = last_sync_time, t4 = t1 + 2000;
	struct m7b_sync_reply r = {
		.host_time = t1, .rx_ticks = (t1 + t4) / 2 / 125, .tx_ticks = (t1 + t4) / 2 / 125};
	struct m7b_frame f = {.type = M7B_T_SYNC_REPLY};
	struct channel_msg m = {.frame = &f, .rx_mono_ns = t4, .u.sync_reply = r};
	struct timespec ts = {0, 20000000};
	nanosleep(&ts, NULL); /* the observer runs 20 ms after the read */
	obs.on_msg(obs.ud, chan, &m);
	clocksync_info(cs, 0, &i);
	assert_true(i.valid);
	assert_true(i.err_ns < 1000000); /* 10 ms if the late observer's time were taken */
	teardown(cs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hello_sends_sync_at_once),
		cmocka_unit_test(test_schedule_fast_then_slow),
		cmocka_unit_test(test_reply_maps_frames),
		cmocka_unit_test(test_data_backwards_unmaps_and_resyncs),
		cmocka_unit_test(test_host_clock_source),
		cmocka_unit_test(test_boot_info_sets_source),
		cmocka_unit_test(test_reply_uses_receive_stamp),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
