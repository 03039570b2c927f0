/* replayring: size and age bounds, wrap-around, boot change, lookup by seq and by time,
 * the REPLAY_GAP counts of what was evicted, and frames stored in place. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "replayring.h"

#define MS 1000000ull

/* Pushes frame (boot, seq) received at rx_ms with n bytes of seq's low byte. */
static void push(struct replayring *r, uint32_t boot, uint32_t seq, uint64_t rx_ms, size_t n)
{
	uint8_t bytes[512];
	memset(bytes, (int)(seq & 0xff), n);
	struct replayring_rec e = {.rx_ns = rx_ms * MS,
				   .boot_id = boot,
				   .seq = seq,
				   .nbytes = (uint16_t)n,
				   .port = (uint8_t)(seq % 3),
				   .t_first = seq * 10ull};
	assert_int_equal(replayring_push(r, &e, bytes), 0);
}

/* Every held record is intact and seqs follow each other from first_seq. */
static void check_contiguous(const struct replayring *r, uint32_t boot, size_t n)
{
	const struct replayring_rec *e0 = replayring_get(r, replayring_first(r));
	assert_non_null(e0);
	for (uint64_t i = replayring_first(r); i < replayring_end(r); i++) {
		const struct replayring_rec *e = replayring_get(r, i);
		assert_non_null(e);
		assert_int_equal(e->boot_id, boot);
		assert_int_equal(e->seq, e0->seq + (uint32_t)(i - replayring_first(r)));
		assert_int_equal(e->nbytes, n);
		assert_int_equal(e->t_first, e->seq * 10ull);
		for (size_t k = 0; k < n; k++)
			assert_int_equal(e->bytes[k], e->seq & 0xff);
	}
}

static void test_size_bound_and_wrap(void **state)
{
	(void)state;
	struct replayring *r = replayring_new(64 * 1024, 3600 * 1000 * MS);
	assert_non_null(r);
	/* Odd record sizes so the write position wraps at varying offsets. */
	for (uint32_t s = 1; s <= 5000; s++) {
		push(r, 7, s, s, 100);
		assert_true(replayring_bytes(r) <= 64 * 1024);
		if (s % 97 == 0)
			check_contiguous(r, 7, 100);
	}
	size_t held = replayring_count(r);
	assert_true(held > 300 && held < 500);
	assert_int_equal(replayring_end(r), 5000);
	assert_int_equal(replayring_evicted(r) + held, 5000);
	assert_null(replayring_get(r, replayring_first(r) - 1));
	assert_null(replayring_get(r, replayring_end(r)));
	check_contiguous(r, 7, 100);
	/* Small records: the offsets table bounds the count too. */
	for (uint32_t s = 5001; s <= 9000; s++)
		push(r, 7, s, s, 0);
	assert_true(replayring_count(r) <= 64 * 1024 / 64);
	check_contiguous(r, 7, 0);
	replayring_free(r);
	assert_null(replayring_free(NULL));
}

static void test_too_big_and_empty(void **state)
{
	(void)state;
	struct replayring *r = replayring_new(512, 1000 * MS);
	assert_non_null(r);
	uint8_t big[600] = {0};
	struct replayring_rec e = {.nbytes = sizeof(big)};
	assert_int_equal(replayring_push(r, &e, big), -EMSGSIZE);
	assert_int_equal(replayring_count(r), 0);
	struct replayring_start st;
	replayring_find_seq(r, 1, 5, &st);
	assert_int_equal(st.index, replayring_end(r));
	assert_false(st.exact); /* never saw that position: cannot say */
	assert_int_equal(st.missing, 0);
	replayring_free(r);
}

static void test_age(void **state)
{
	(void)state;
	struct replayring *r = replayring_new(1 << 20, 60000 * MS);
	for (uint32_t s = 1; s <= 100; s++)
		push(r, 1, s, s * 1000, 10); /* one a second */
	replayring_expire(r, 100000 * MS);
	/* Kept: received at 40 s or later. */
	assert_int_equal(replayring_get(r, replayring_first(r))->seq, 40);
	assert_int_equal(replayring_count(r), 61);
	replayring_expire(r, 1000000 * MS);
	assert_int_equal(replayring_count(r), 0);
	push(r, 1, 101, 1000001, 10);
	assert_int_equal(replayring_count(r), 1);
	assert_int_equal(replayring_get(r, 100)->seq, 101);
	replayring_free(r);
}

static void test_find_seq(void **state)
{
	(void)state;
	struct replayring *r = replayring_new(16 * 1024, 3600 * 1000 * MS);
	for (uint32_t s = 1; s <= 1000; s++)
		push(r, 0xaa, s, 1000 + s, 40);
	uint32_t oldest = replayring_get(r, replayring_first(r))->seq;
	assert_true(oldest > 500);
	struct replayring_start st;
	/* Inside the ring: resume right after it, nothing missing. */
	replayring_find_seq(r, 0xaa, 900, &st);
	assert_int_equal(replayring_get(r, st.index)->seq, 901);
	assert_int_equal(st.missing, 0);
	assert_true(st.exact);
	/* The newest frame: nothing to replay. */
	replayring_find_seq(r, 0xaa, 1000, &st);
	assert_int_equal(st.index, replayring_end(r));
	/* Evicted: from the oldest held, with exactly the frames in between missing. */
	replayring_find_seq(r, 0xaa, 100, &st);
	assert_int_equal(st.index, replayring_first(r));
	assert_true(st.exact);
	assert_int_equal(st.missing, oldest - 101);
	assert_true(st.has_range);
	assert_int_equal(st.first_seq, 101);
	assert_int_equal(st.last_seq, oldest - 1);
	assert_int_equal(st.first_boot, 0xaa);
	/* Right before the oldest held: nothing missing. */
	replayring_find_seq(r, 0xaa, oldest - 1, &st);
	assert_int_equal(st.index, replayring_first(r));
	assert_int_equal(st.missing, 0);
	assert_true(st.exact);
	replayring_free(r);
}

static void test_boot_change(void **state)
{
	(void)state;
	struct replayring *r = replayring_new(16 * 1024, 3600 * 1000 * MS);
	for (uint32_t s = 1; s <= 300; s++)
		push(r, 1, s, s, 40);
	for (uint32_t s = 1; s <= 50; s++)
		push(r, 2, s, 300 + s, 40); /* the M7 rebooted: seq starts again */
	struct replayring_start st;
	/* A client of the old boot gets the rest of it, then the new boot. */
	replayring_find_seq(r, 1, 290, &st);
	assert_int_equal(replayring_get(r, st.index)->seq, 291);
	assert_int_equal(replayring_get(r, st.index)->boot_id, 1);
	/* Same seq, the new boot: a different frame. */
	replayring_find_seq(r, 2, 290, &st);
	assert_int_equal(st.index, replayring_end(r));
	replayring_find_seq(r, 2, 20, &st);
	assert_int_equal(replayring_get(r, st.index)->boot_id, 2);
	assert_int_equal(replayring_get(r, st.index)->seq, 21);
	/* Push the old boot out entirely: its tail and nothing of the new boot is missing. */
	for (uint32_t s = 51; s <= 400; s++)
		push(r, 2, s, 300 + s, 40);
	uint32_t oldest = replayring_get(r, replayring_first(r))->seq;
	replayring_find_seq(r, 1, 290, &st);
	assert_int_equal(st.index, replayring_first(r));
	assert_true(st.exact);
	assert_int_equal(st.missing, 10 + (oldest - 1));
	assert_int_equal(st.first_boot, 1);
	assert_int_equal(st.first_seq, 291);
	assert_int_equal(st.last_boot, 2);
	assert_int_equal(st.last_seq, oldest - 1);
	/* A boot the ring never saw (the daemon restarted): everything, not exact. */
	replayring_find_seq(r, 9, 5, &st);
	assert_int_equal(st.index, replayring_first(r));
	assert_false(st.exact);
	assert_int_equal(st.missing, replayring_evicted(r));
	replayring_free(r);
}

/* Every HELLO restarts seq, also one of the same boot (the firmware answers the HOST_HELLO
 * of each reopen of the link with one): a (boot, seq) position then names a frame in each
 * stretch. Resuming after the newest of them must not pass silently over the frames after
 * the older one: they may be what the client missed. */
static void test_seq_restarted_within_boot(void **state)
{
	(void)state;
	struct replayring *r = replayring_new(64 * 1024, 3600 * 1000 * MS);
	for (uint32_t s = 1; s <= 100; s++)
		push(r, 7, s, s, 40);
	for (uint32_t s = 1; s <= 50; s++)
		push(r, 7, s, 100 + s, 40); /* a HELLO of the same boot: seq from 0 again */
	assert_int_equal(replayring_first(r), 0);
	struct replayring_start st;
	/* seq 30 is in both stretches: on after the newer one, the frames from after the
	 * older one up to it said to be perhaps missed. */
	replayring_find_seq(r, 7, 30, &st);
	assert_int_equal(st.index, 130);
	assert_false(st.exact);
	assert_int_equal(st.missing, 100);
	assert_true(st.has_range);
	assert_int_equal(st.first_boot, 7);
	assert_int_equal(st.first_seq, 31);
	assert_int_equal(st.last_boot, 7);
	assert_int_equal(st.last_seq, 30);
	/* seq 80 only in the first stretch: exact, as before. */
	replayring_find_seq(r, 7, 80, &st);
	assert_int_equal(st.index, 80);
	assert_true(st.exact);
	assert_int_equal(st.missing, 0);
	replayring_free(r);

	/* The older one evicted already: remembered, so still said. */
	r = replayring_new(16 * 1024, 3600 * 1000 * MS);
	for (uint32_t s = 1; s <= 100; s++)
		push(r, 7, s, s, 40);
	for (uint32_t s = 1; s <= 60; s++)
		push(r, 7, s, 100 + s, 40);
	uint64_t first = replayring_first(r);
	assert_true(first > 30 && first < 100); /* seq 30 of the first stretch is gone */
	replayring_find_seq(r, 7, 30, &st);
	assert_int_equal(st.index, 130);
	assert_false(st.exact);
	assert_int_equal(st.missing, (first - 30) + (130 - first));
	assert_true(st.has_range);
	assert_int_equal(st.first_seq, 31);
	assert_int_equal(st.last_seq, 30);
	replayring_free(r);
}

/* seq wraps from 2^32 - 1 to 0 within a boot: positions on either side of the wrap, held
 * or evicted, are found, and what was evicted after them is counted exactly. */
static void test_seq_wrap(void **state)
{
	(void)state;
	struct replayring *r = replayring_new(16 * 1024, 3600 * 1000 * MS);
	uint32_t s0 = 0xFFFFFF00u;
	for (uint32_t k = 0; k < 400; k++)
		push(r, 3, s0 + k, 1000 + k, 40); /* seq 0xFFFFFF00 .. 0x8F */
	uint64_t first = replayring_first(r);
	uint32_t oldest = replayring_get(r, first)->seq;
	assert_true(oldest < 0x100); /* the frames before the wrap are evicted */
	struct replayring_start st;
	replayring_find_seq(r, 3, 0xFFFFFFFFu, &st);
	assert_int_equal(st.index, first);
	assert_true(st.exact);
	assert_int_equal(st.missing, oldest);
	assert_int_equal(st.first_seq, 0);
	replayring_find_seq(r, 3, oldest + 5, &st);
	assert_int_equal(replayring_get(r, st.index)->seq, oldest + 6);
	assert_true(st.exact);
	assert_int_equal(st.missing, 0);
	replayring_find_seq(r, 3, 0xFFFFFF10u, &st);
	assert_true(st.exact);
	assert_int_equal(st.missing, first - 0x11);
	assert_int_equal(st.first_seq, 0xFFFFFF11u);
	assert_int_equal(st.last_seq, oldest - 1);
	replayring_free(r);
}

static void test_find_time(void **state)
{
	(void)state;
	struct replayring *r = replayring_new(16 * 1024, 3600 * 1000 * MS);
	/* 10 frames per second; runs of evicted frames cover at most 100 ms. */
	for (uint32_t s = 1; s <= 1000; s++)
		push(r, 3, s, s * 100, 40);
	uint32_t oldest = replayring_get(r, replayring_first(r))->seq;
	struct replayring_start st;
	replayring_find_time(r, 95000 * MS, &st); /* after seq 950 */
	assert_int_equal(replayring_get(r, st.index)->seq, 951);
	assert_int_equal(st.missing, 0);
	replayring_find_time(r, 50000 * MS, &st);
	assert_int_equal(st.index, replayring_first(r));
	assert_int_equal(st.missing, oldest - 501);
	assert_true(st.exact);
	assert_int_equal(st.first_seq, 501);
	replayring_find_time(r, 200000 * MS, &st);
	assert_int_equal(st.index, replayring_end(r));
	assert_int_equal(st.missing, 0);
	/* Before anything the daemon saw: all evicted frames, but it cannot know more. */
	replayring_find_time(r, 0, &st);
	assert_int_equal(st.missing, replayring_evicted(r));
	assert_false(st.exact);
	replayring_free(r);
}

/* A published frame stored in place (replayring_add, the frame copied in as one block)
 * comes back whole, member for member, beside records pushed the other way; the offsets
 * table wraps many times over. */
static void test_add_in_place(void **state)
{
	(void)state;
	struct replayring *r = replayring_new(8 * 1024, 3600 * 1000 * MS);
	assert_non_null(r);
	for (uint32_t s = 1; s <= 3000; s++) {
		size_t n = s % 7 == 0 ? 0 : s % 40;
		if (s % 2) {
			push(r, 5, s, s, n);
			continue;
		}
		struct proto_frame f = {.t_first = s * 10ull,
					.t_last = s * 10ull + 3,
					.t_first_ns = 1700000000000000000ull + s,
					.t_last_ns = 1700000000000000001ull + s,
					.t_first_mono_ns = 5000000000ull + s,
					.t_last_mono_ns = 5000000001ull + s,
					.t_err_ns = 250,
					.seq = s,
					.nbytes = (uint16_t)n,
					.port = (uint8_t)(s % 3),
					.flags = (uint8_t)(s >> 2),
					.late = s % 4 == 0,
					.has_realtime = s % 8 == 0,
					.has_mono = s % 6 == 0};
		struct replayring_rec *e = replayring_add(r, n);
		assert_non_null(e);
		replayring_frame_in(e, &f);
		e->boot_id = 5;
		e->rx_ns = s * MS;
		memset(e->bytes, (int)(s & 0xff), n);
		const struct replayring_rec *g = replayring_get(r, replayring_end(r) - 1);
		assert_ptr_equal(g, e);
		struct proto_frame back;
		memset(&back, 0xa5, sizeof(back));
		replayring_frame_out(g, &back);
		assert_int_equal(back.t_first, f.t_first);
		assert_int_equal(back.t_last, f.t_last);
		assert_int_equal(back.t_first_ns, f.t_first_ns);
		assert_int_equal(back.t_last_ns, f.t_last_ns);
		assert_int_equal(back.t_first_mono_ns, f.t_first_mono_ns);
		assert_int_equal(back.t_last_mono_ns, f.t_last_mono_ns);
		assert_int_equal(back.t_err_ns, f.t_err_ns);
		assert_int_equal(back.seq, f.seq);
		assert_int_equal(back.nbytes, f.nbytes);
		assert_int_equal(back.port, f.port);
		assert_int_equal(back.flags, f.flags);
		assert_int_equal(back.late, f.late);
		assert_int_equal(back.has_realtime, f.has_realtime);
		assert_int_equal(back.has_mono, f.has_mono);
		assert_int_equal(g->boot_id, 5);
		assert_int_equal(g->rx_ns, s * MS);
		assert_true(replayring_bytes(r) <= 8 * 1024);
		/* Every record held is the one pushed or added under its index. */
		if (s % 50 == 0)
			for (uint64_t i = replayring_first(r); i < replayring_end(r); i++) {
				const struct replayring_rec *h = replayring_get(r, i);
				assert_int_equal(h->seq, (uint32_t)i + 1);
				assert_int_equal(h->t_first, h->seq * 10ull);
				for (size_t k = 0; k < h->nbytes; k++)
					assert_int_equal(h->bytes[k], h->seq & 0xff);
			}
	}
	assert_int_equal(replayring_end(r), 3000);
	assert_int_equal(replayring_evicted(r) + replayring_count(r), 3000);
	/* Too big for the ring: nothing is evicted for it. */
	size_t held = replayring_count(r);
	assert_null(replayring_add(r, 8 * 1024));
	assert_int_equal(replayring_count(r), held);
	replayring_free(r);
}

/* What expire returns: until when nothing held is too old, so a caller may skip it. */
static void test_expire_deadline(void **state)
{
	(void)state;
	struct replayring *r = replayring_new(64 * 1024, 60000 * MS);
	assert_non_null(r);
	assert_int_equal(replayring_expire(r, 5000 * MS), 0); /* empty: ask again */
	push(r, 1, 1, 1000, 10);
	push(r, 1, 2, 2000, 10);
	assert_int_equal(replayring_expire(r, 1500 * MS), 61000 * MS);
	assert_int_equal(replayring_count(r), 2);
	assert_int_equal(replayring_expire(r, 61000 * MS), 61000 * MS); /* not older yet */
	assert_int_equal(replayring_count(r), 2);
	assert_int_equal(replayring_expire(r, 61000 * MS + 1), 62000 * MS);
	assert_int_equal(replayring_count(r), 1);
	/* Newer records do not move it: the oldest decides. */
	push(r, 1, 3, 3000, 10);
	assert_int_equal(replayring_expire(r, 62000 * MS), 62000 * MS);
	assert_int_equal(replayring_count(r), 2);
	assert_int_equal(replayring_expire(r, 100000 * MS), 0);
	assert_int_equal(replayring_count(r), 0);
	replayring_free(r);
}

/* replayring_put() stores each record where replayring_add() would, from its own check
 * inline or out of line: a ring filled by put and one filled by push hold the same records
 * at the same offsets, evict the same and remember the same, whatever the sizes, the
 * expiries in between and the ring (tiny ones, full of records without bytes, an empty
 * ring, records as big as the ring). */
static void test_put_as_add(void **state)
{
	(void)state;
	static const size_t caps[] = {100, 200, 255, 256, 1000, 4096, 8192};
	uint32_t x = 12345;
	for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
		struct replayring *a = replayring_new(caps[c], 50 * MS);
		struct replayring *b = replayring_new(caps[c], 50 * MS);
		assert_non_null(a);
		assert_non_null(b);
		for (uint32_t s = 1; s <= 4000; s++) {
			x = x * 1103515245u + 12345u;
			unsigned kind = (x >> 8) % 8;
			size_t n = kind == 0  ? (x >> 12) % (caps[c] + 8)
				   : kind < 3 ? 0
					      : (x >> 12) % 120;
			uint64_t rx = s * MS / 4;
			uint8_t bytes[8300];
			memset(bytes, (int)(s * 7), n);
			struct proto_frame f = {.t_first = s, .seq = s, .nbytes = (uint16_t)n};
			struct replayring_rec e = {.t_first = s,
						   .seq = s,
						   .nbytes = (uint16_t)n,
						   .boot_id = 9,
						   .rx_ns = rx};
			assert_int_equal(replayring_put(a, &f, 9, rx, bytes),
					 replayring_push(b, &e, bytes));
			if ((x >> 20) % 16 == 0)
				assert_int_equal(replayring_expire(a, rx),
						 replayring_expire(b, rx));
			assert_int_equal(replayring_first(a), replayring_first(b));
			assert_int_equal(replayring_end(a), replayring_end(b));
			assert_int_equal(replayring_bytes(a), replayring_bytes(b));
			assert_int_equal(replayring_evicted(a), replayring_evicted(b));
			for (uint64_t i = replayring_first(a); i < replayring_end(a); i++) {
				const struct replayring_rec *ga = replayring_get(a, i);
				const struct replayring_rec *gb = replayring_get(b, i);
				assert_int_equal((const uint8_t *)ga - a->buf,
						 (const uint8_t *)gb - b->buf);
				assert_int_equal(ga->seq, gb->seq);
				assert_int_equal(ga->rx_ns, gb->rx_ns);
				assert_int_equal(ga->boot_id, 9);
				assert_int_equal(ga->nbytes, gb->nbytes);
				assert_memory_equal(ga->bytes, gb->bytes, ga->nbytes);
			}
			struct replayring_start sa, sb;
			replayring_find_seq(a, 9, s - 40, &sa);
			replayring_find_seq(b, 9, s - 40, &sb);
			assert_int_equal(sa.index, sb.index);
			assert_int_equal(sa.missing, sb.missing);
			assert_int_equal(sa.exact, sb.exact);
			assert_int_equal(sa.has_range, sb.has_range);
			assert_int_equal(sa.first_seq, sb.first_seq);
			assert_int_equal(sa.last_seq, sb.last_seq);
		}
		replayring_free(a);
		replayring_free(b);
	}
}

/* Against a model: thousands of frames of random sizes (inline puts and in-place adds),
 * boot changes and seq jumps through a small ring. After every frame the ring holds
 * exactly the newest frames, intact, and counts the rest as evicted; a position at any
 * frame, held or evicted, resumes right after it and counts exactly what is gone. */
#define MODEL_N 6000
struct model_rec {
	uint32_t boot, seq;
	uint16_t nbytes;
};

static uint32_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return (uint32_t)(*s >> 11);
}

static void test_model(void **state)
{
	static struct model_rec m[MODEL_N];
	struct replayring *r = replayring_new(24 * 1024, 3600ull * 1000 * MS);
	uint64_t prng = 0x9e3779b97f4a7c15ull;
	uint32_t boot = 1, seq = 0;
	uint8_t bytes[600];

	(void)state;
	assert_non_null(r);
	for (uint64_t n = 0; n < MODEL_N; n++) {
		uint32_t x = rnd(&prng);
		if (x % 500 == 0) {
			boot++;
			seq = 0;
		} else {
			seq += x % 97 == 0 ? 2 + x % 5 : 1; /* the M7's own gaps */
		}
		struct proto_frame f = {.seq = seq,
					.nbytes = (uint16_t)(rnd(&prng) % 497),
					.port = (uint8_t)(seq % 64),
					.t_first = n};
		for (size_t k = 0; k < f.nbytes; k++)
			bytes[k] = (uint8_t)(n + k);
		if (x & 1) {
			assert_int_equal(replayring_put(r, &f, boot, n * MS, bytes), 0);
		} else {
			struct replayring_rec *e = replayring_add(r, f.nbytes);
			assert_non_null(e);
			replayring_fill(e, &f, boot, n * MS, bytes);
		}
		m[n] = (struct model_rec){boot, seq, f.nbytes};

		uint64_t first = replayring_first(r);
		assert_int_equal(replayring_end(r), n + 1);
		assert_int_equal(replayring_evicted(r), first);
		assert_true(replayring_bytes(r) <= 24 * 1024);
		assert_true(first <= n);
		/* Nothing older than the oldest held remains. */
		if (first > 0)
			assert_null(replayring_get(r, first - 1));
		if (n % 97 != 0 && n != MODEL_N - 1)
			continue;
		for (uint64_t i = first; i <= n; i++) {
			const struct replayring_rec *e = replayring_get(r, i);
			assert_non_null(e);
			assert_int_equal(e->boot_id, m[i].boot);
			assert_int_equal(e->seq, m[i].seq);
			assert_int_equal(e->nbytes, m[i].nbytes);
			assert_int_equal(e->t_first, i);
			for (size_t k = 0; k < e->nbytes; k++)
				assert_int_equal(e->bytes[k], (uint8_t)(i + k));
		}
		/* Positions at a few held and evicted frames. */
		for (int t = 0; t < 8; t++) {
			uint64_t j = rnd(&prng) % (n + 1);
			struct replayring_start st;
			replayring_find_seq(r, m[j].boot, m[j].seq, &st);
			if (j >= first) {
				assert_int_equal(st.index, j + 1);
				assert_int_equal(st.missing, 0);
				assert_true(st.exact);
			} else {
				assert_int_equal(st.index, first);
				assert_int_equal(st.missing, first - j - 1);
				assert_true(st.exact);
			}
		}
	}
	replayring_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_model),
		cmocka_unit_test(test_size_bound_and_wrap),
		cmocka_unit_test(test_too_big_and_empty),
		cmocka_unit_test(test_age),
		cmocka_unit_test(test_find_seq),
		cmocka_unit_test(test_boot_change),
		cmocka_unit_test(test_seq_restarted_within_boot),
		cmocka_unit_test(test_seq_wrap),
		cmocka_unit_test(test_find_time),
		cmocka_unit_test(test_add_in_place),
		cmocka_unit_test(test_expire_deadline),
		cmocka_unit_test(test_put_as_add),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
