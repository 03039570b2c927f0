/* The channel's receive path: tty reads, the lib/ decoder, and each frame decoded once
 * into a channel_msg (payload, new boot, seq gap, first after open) for the owner. */
#include "channel_int.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "rawsys.h"
#include "utf8.h"

/* Unpacks the payload of a known type into m->u; false when it is malformed. Unknown
 * types are not malformed: they carry nothing the daemon reads. */
static bool unpack_msg(const struct m7b_frame *f, struct channel_msg *m)
{
	switch (f->type) {
	case M7B_T_HELLO:
		return m7b_wire_unpack_hello(f, &m->u.hello) == 0;
	case M7B_T_ACK:
		return m7b_wire_unpack_ack(f, &m->u.ack) == 0;
	case M7B_T_DATA:
		return m7b_wire_unpack_data(f, &m->u.data) == 0;
	case M7B_T_LOG:
		return m7b_wire_unpack_log(f, &m->u.log) == 0;
	case M7B_T_HEARTBEAT:
		return m7b_wire_unpack_heartbeat(f, &m->u.heartbeat) == 0;
	case M7B_T_SYNC_REPLY:
		return m7b_wire_unpack_sync_reply(f, &m->u.sync_reply) == 0;
	case M7B_T_BOOT_INFO:
		return m7b_wire_unpack_boot_info(f, &m->u.boot_info) == 0;
	default:
		return true;
	}
}

/* After each change of the books' boot: whether they want a BOOT_INFO (the previous
 * boot's, or one naming the current boot), kept so that a frame tests one flag, not
 * three. */
static void note_books(struct channel *ch)
{
	const struct books *b = &ch->books;
	ch->books_unsure = books_want_info(b) || (b->have_boot && !b->id_known);
}

/* seq: +1 per frame; a HELLO restarts it. A jump forward counts lost frames; a jump
 * back means the M7 restarted and its HELLO was lost: the books start a new boot, and
 * m says so (new_boot) to the owner. */
static inline uint32_t track_seq_of(struct channel *ch, struct channel_msg *m,
				    const struct m7b_frame *f, bool hello)
{
	uint32_t gap = 0;
	if (!hello && ch->have_rx_seq) {
		gap = f->seq - (ch->rx_seq + 1);
		if (gap >= 0x80000000u) {
			gap = 0;
			/* A firmware that repeats or scrambles its seq does this every frame:
			 * bounded log, and asks for a HELLO only when a new boot began. */
			if (ratelimit_ok(&ch->rl_seq_back, ch->rx_msg.rx_ms, 5, 10000))
				channel_log_errno(ch, LOG_INFO, 0,
						  "seq went back from %u to %u without a HELLO: "
						  "the M7 restarted",
						  ch->rx_seq, f->seq);
			bool settled = ch->books.have_boot && ch->books.id_known;
			books_restart(&ch->books);
			note_books(ch);
			fwcount_restart(&ch->fwc);
			/* The new boot's ticks start again: the old boot's newest would make
			 * an outage mark every capture of this boot late. */
			latemark_reset(&ch->late);
			m->new_boot = true;
			if (settled)
				ch->books_asks = 0;
		}
	} else {
		ch->have_rx_seq = true; /* set already on the way of nearly every frame */
	}
	ch->rx_seq = f->seq;
	ch->stats.seq_gaps += gap;
	return gap;
}

static uint32_t track_seq(struct channel *ch, struct channel_msg *m, const struct m7b_frame *f)
{
	/* A HELLO shorter than its fixed 20 bytes names no boot: its seq is taken like any
	 * other frame's, so that a restart behind it still shows (seq back to 0). */
	return track_seq_of(ch, m, f, f->type == M7B_T_HELLO && f->len >= 20);
}

/* Keeps the firmware's identity; the message then carries the stored copy, whose name
 * is NUL-terminated valid UTF-8. */
static void take_hello(struct channel *ch, struct channel_msg *m)
{
	const struct m7b_hello *h = &m->u.hello;
	m->new_boot = !ch->have_hello || h->boot_id != ch->hello.boot_id;
	/* STATUS, the journal and incidents take it as a C string of valid UTF-8. */
	size_t n = utf8_clean(ch->fw_name, sizeof(ch->fw_name), h->name, h->name_len);
	ch->hello = *h;
	ch->hello.name = ch->fw_name;
	ch->hello.name_len = n;
	ch->have_hello = true;
	m->u.hello = ch->hello;
	if (m->new_boot)
		ch->books_asks = 0;
	books_hello(&ch->books, h->boot_id);
	note_books(ch);
	sendq_hello(ch->sq, ch->hello.host_credits);
	channel_sendq_drain(ch);
	channel_sendq_pump(ch);
}

/* A boot's books need the BOOT_INFO that follows the next boot's HELLO; when it was
 * lost (or the HELLO was), ask the firmware to say hello again. It keeps the record of
 * the previous boot for all of its boot. A few times per boot, and a second apart even
 * across boots: a firmware that sends no BOOT_INFO is not asked forever, and one that
 * makes up a new boot per frame (a flapping boot_id, a repeated seq) is not sent a
 * HOST_HELLO, which voids its queued SENDs, for each. Called while the books are unsure. */
static void maybe_ask_books(struct channel *ch, const struct m7b_frame *f)
{
	if (f->type == M7B_T_HELLO || f->type == M7B_T_BOOT_INFO || ch->books_asks >= 3)
		return;
	uint64_t now = channel_now_ms();
	if (ch->books_asked_ms != 0 && now - ch->books_asked_ms < 1000)
		return;
	ch->books_asked_ms = now;
	ch->books_asks++;
	channel_log_errno(ch, LOG_INFO, 0, "no BOOT_INFO for the boot's books: asking for one");
	(void)channel_write_frame(ch, M7B_T_HOST_HELLO, 0, 0, NULL, 0, NULL);
}

/* Late marks need the M7's newest tick; a new boot restarts its ticks. DATA's are
 * noted by handle_data(). */
static void note_ticks(struct channel *ch, struct channel_msg *m)
{
	uint64_t now = m->rx_ms; /* the read's clock: none per frame */
	switch (m->frame->type) {
	case M7B_T_HELLO:
		if (m->new_boot)
			latemark_reset(&ch->late);
		latemark_on_tick(&ch->late, m->u.hello.now_ticks, now);
		break;
	case M7B_T_HEARTBEAT:
		latemark_on_tick(&ch->late, m->u.heartbeat.now_ticks, now);
		break;
	default:
		break;
	}
}

/* After a frame's own handling: the books may want a BOOT_INFO, and the first frame
 * makes an opening channel up. */
static void note_up(struct channel *ch, const struct m7b_frame *f)
{
	if (ch->books_unsure)
		maybe_ask_books(ch, f);
	if (ch->state == CHANNEL_OPENING && ch->fd >= 0)
		channel_set_state(ch, CHANNEL_UP, f->type == M7B_T_HELLO ? "hello" : "traffic", "");
}

/* Whether note_up() has anything to do: in the steady state it has not, and this test
 * inline is all a frame pays. */
static inline bool want_note_up(const struct channel *ch)
{
	return ch->books_unsure || ch->state == CHANNEL_OPENING;
}

/* DATA, nearly every frame: the same steps as handle_other() takes for the other types,
 * without its switches on the type. Inline in the read loop: a call cost a frame a dozen
 * instructions of saved registers. */
static inline __attribute__((always_inline)) void
handle_data(struct channel *ch, struct channel_msg *m, const struct m7b_frame *f)
{
	bool bad = m7b_wire_unpack_data(f, &m->u.data) != 0;
	m->bad_payload = bad;
	/* data_frames counts what is published; a malformed one is booked as lost. */
	if (bad) {
		ch->stats.bad_payloads++;
		ch->stats.bad_data++;
	} else {
		ch->stats.data_frames++;
	}
	books_data(&ch->books, f->port, bad);
	if (want_note_up(ch))
		note_up(ch, f);
	m->late = !bad && latemark_is_late(&ch->late, m->u.data.t_first);
	if (!bad)
		latemark_on_tick(&ch->late, m->u.data.t_last, m->rx_ms);
}

/* Every type but DATA: rare, so out of the read loop (its switches would take registers
 * the loop needs for every frame). */
static __attribute__((noinline)) void handle_other(struct channel *ch, struct channel_msg *m)
{
	const struct m7b_frame *f = m->frame;
	m->late = false;
	m->bad_payload = !unpack_msg(f, m);
	if (m->bad_payload)
		ch->stats.bad_payloads++;
	switch (f->type) {
	case M7B_T_HELLO:
		if (!m->bad_payload) {
			take_hello(ch, m);
			fwcount_hello(&ch->fwc, m->u.hello.boot_id);
		}
		break;
	case M7B_T_ACK:
		if (!m->bad_payload && m->u.ack.acked_type == M7B_T_SEND) {
			sendq_ack(ch->sq, &m->u.ack);
			channel_sendq_drain(ch);
			channel_sendq_pump(ch);
		}
		break;
	case M7B_T_BOOT_INFO:
		ch->stats.boot_infos++;
		if (!m->bad_payload) {
			books_boot_info(&ch->books, &m->u.boot_info);
			note_books(ch);
		}
		break;
	case M7B_T_HEARTBEAT:
		if (!m->bad_payload)
			fwcount_heartbeat(&ch->fwc, &m->u.heartbeat);
		break;
	case M7B_T_LOG:
	case M7B_T_SYNC_REPLY:
		break;
	default:
		ch->stats.unknown_types++;
		break;
	}
	note_up(ch, f);
	if (!m->bad_payload)
		note_ticks(ch, m);
}

/* One frame into m, whose read-wide members process() set: the rest are the frame's
 * (bad_payload and late set by handle_data() and handle_other()). Forced inline: with
 * handle_data() in it, the compiler would otherwise make it a call. */
static inline __attribute__((always_inline)) void
handle_frame(struct channel *ch, struct channel_msg *m, const struct m7b_frame *f)
{
	m->new_boot = false;
	m->first_after_open = !ch->rx_since_open;
	ch->rx_since_open = true;
	/* The type once: a DATA frame is no HELLO. */
	if (f->type == M7B_T_DATA) {
		m->seq_gap = track_seq_of(ch, m, f, false);
		handle_data(ch, m, f);
	} else {
		m->seq_gap = track_seq(ch, m, f);
		handle_other(ch, m);
	}
}

/* The callbacks of a channel without them: a call rather than a test per frame. */
static void ignore_msg(void *ud, struct channel *ch, const struct channel_msg *m)
{
	(void)ud;
	(void)ch;
	(void)m;
}

static uint64_t ignore_decoded(void *ud, struct channel *ch, uint64_t skipped, uint64_t good,
			       uint64_t bad, uint64_t now_ms)
{
	(void)ud;
	(void)ch;
	(void)skipped;
	(void)good;
	(void)bad;
	(void)now_ms;
	return UINT64_MAX;
}

static void ignore_batch_end(void *ud, struct channel *ch)
{
	(void)ud;
	(void)ch;
}

void channel_rx_set_ops(struct channel *ch)
{
	ch->rx_msg.frame = &ch->rx_frame;
	ch->rx_on_msg = ch->ops && ch->ops->on_msg ? ch->ops->on_msg : ignore_msg;
	ch->rx_on_decoded = ch->ops && ch->ops->on_decoded ? ch->ops->on_decoded : ignore_decoded;
	ch->rx_on_batch_end =
		ch->ops && ch->ops->on_batch_end ? ch->ops->on_batch_end : ignore_batch_end;
}

void channel_decoded_restart(struct channel *ch)
{
	/* The skipped good frames stay: another observer's window may still want them. */
	ch->decoded_until = 0;
	ch->decoded_restarts++;
}

/* A read's counts to on_decoded, with the good frames of the reads it was not told of.
 * Out of line: most reads have no rejects and come before the time it returned. */
static __attribute__((noinline)) void tell_decoded(struct channel *ch, uint64_t good, uint64_t bad,
						   uint64_t now_ms)
{
	uint64_t skipped = ch->decoded_skipped;
	unsigned restarts = ch->decoded_restarts;
	ch->decoded_skipped = 0;
	uint64_t until = ch->rx_on_decoded(ch->ud, ch, skipped, good, bad, now_ms);
	/* Restarted during the call (a check set up anew): the next read calls. */
	if (ch->decoded_restarts == restarts)
		ch->decoded_until = until;
}

/* Inline in channel_rx_burst(), its only caller: one set-up of registers and stack per
 * read instead of two. */
static inline __attribute__((always_inline)) void process(struct channel *ch, const uint8_t *buf,
							  size_t n)
{
	const uint8_t *p = buf, *end = buf + n;
	uint64_t rejected = ch->dec.stats.rejected, frames = ch->dec.stats.frames;
	/* ch->rx_msg: the read's members set by stamp_read_at(), every other one per frame by
	 * handle_frame() and the handlers (the union is the frame type's own). The callback
	 * and its argument are read from ch per frame: kept in registers, they cost the read
	 * more spills than the frame their loads. */
	struct channel_msg *m = &ch->rx_msg;
	/* A frame's handling may close the tty, and may open it again at once (a recovery's
	 * reopen): either way the rest of this read is the old tty's. */
	uint32_t closes = ch->rx_closes;
	/* p < end first: the decoder's answer when the bytes are used up, without its call
	 * (at one frame per read, every read's last). */
	while (p < end && ch->rx_closes == closes &&
	       m7b_decoder_next(&ch->dec, &p, end, &ch->rx_frame) == 1) {
		handle_frame(ch, m, &ch->rx_frame);
		ch->rx_on_msg(ch->ud, ch, m);
	}
	/* A frame's handling closed the channel (a recovery, a reload): the rest of the read
	 * goes undecoded, its frames then show as seq gaps or in the boot's books; its bytes
	 * are counted, so that every byte read is placed. */
	if (__builtin_expect(p < end && ch->rx_closes != closes, 0))
		ch->stats.unread_at_close += (uint64_t)(end - p);
	/* A read without rejects before that time changes nothing but the observers' good
	 * count: its frames are summed here instead of a call per read. */
	uint64_t good = ch->dec.stats.frames - frames, bad = ch->dec.stats.rejected - rejected;
	if (bad || m->rx_ms >= ch->decoded_until)
		tell_decoded(ch, good, bad, m->rx_ms);
	else
		ch->decoded_skipped += good;
	if (ch->dec.stats.rejected != rejected &&
	    ratelimit_ok(&ch->rl_reject, m->rx_ms, 5, 10000)) {
		struct log_fields fl = channel_fields(ch, NULL);
		log_struct(ch->log, LOG_DEBUG, &fl,
			   "discarded %llu candidate frame(s), last: %s (%llu noise bytes so far)",
			   (unsigned long long)(ch->dec.stats.rejected - rejected),
			   m7b_decoder_reject_name(ch->dec.last_reject),
			   (unsigned long long)ch->dec.stats.noise_bytes);
	}
}

#define CHANNEL_RX_BACKLOG 1024 /* bytes in one read(): about 14 frames of 64-byte DATA */

/* How often stamp_read() takes CLOCK_REALTIME again: a step of the wall clock shows in
 * the reads' REALTIME stamps within this (the mapped times follow it at once: clocksync
 * learns of it from the kernel, docs/CLOCK.md). */
#define CHANNEL_REAL_REFRESH_MS 250
/* A bracket of the two clocks' difference narrow enough to stop trying for a better one. */
#define CHANNEL_REAL_BRACKET_NS 20000u

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CLOCK_REALTIME - CLOCK_MONOTONIC, bracketed by two MONOTONIC reads as the clock code
 * does: a thread preempted between the reads would otherwise put its stall into every
 * stamp until the next refresh. The narrowest of a few tries, its middle. */
static __attribute__((noinline, cold)) void read_real_offset(struct channel *ch)
{
	uint64_t best = UINT64_MAX;
	for (int i = 0; i < 3 && best > CHANNEL_REAL_BRACKET_NS; i++) {
		uint64_t m1 = clock_ns(CLOCK_MONOTONIC);
		uint64_t r = clock_ns(CLOCK_REALTIME);
		uint64_t m2 = clock_ns(CLOCK_MONOTONIC);
		if (m2 - m1 < best) {
			best = m2 - m1;
			ch->rx_real_off_ns = r - (m1 + best / 2);
		}
	}
}

/* The clocks once per read(), shared by every frame it brought: a clock read per frame
 * would cost more than the frame's bookkeeping. REALTIME is MONOTONIC plus an offset read
 * every CHANNEL_REAL_REFRESH_MS: a second clock read per read() cost more than the rest
 * of the stamp. */
static void stamp_read_at(struct channel *ch, uint64_t mono_ns)
{
	struct channel_msg *m = &ch->rx_msg;
	m->rx_mono_ns = mono_ns;
	m->rx_ms = mono_ns / 1000000u;
	if (__builtin_expect(m->rx_ms >= ch->rx_real_due_ms, 0)) {
		read_real_offset(ch);
		ch->rx_real_due_ms = m->rx_ms + CHANNEL_REAL_REFRESH_MS;
	}
	m->rx_realtime_us = (mono_ns + ch->rx_real_off_ns) / 1000u;
}

static void stamp_read(struct channel *ch)
{
	struct timespec mono;
	clock_gettime(CLOCK_MONOTONIC, &mono);
	stamp_read_at(ch, (uint64_t)mono.tv_sec * 1000000000u + (uint64_t)mono.tv_nsec);
}

int channel_rx_burst(struct channel *ch, int max_reads)
{
	for (int i = 0; i < max_reads && ch->fd >= 0; i++) {
		ssize_t n = rawsys_read(ch->fd, ch->rbuf, sizeof(ch->rbuf));
		if (n > 0) {
			stamp_read(ch);
			if (ch->cfg.mode == CONF_MODE_RAW)
				channel_raw_input(ch, ch->rbuf, (size_t)n);
			else
				process(ch, ch->rbuf, (size_t)n);
			/* A short read came from a link we keep up with: asking again
			 * would return EAGAIN, one more syscall per wake-up at low rates
			 * (the event is level-triggered: later bytes wake us again). A long
			 * one means bytes piled up while we were busy, and more are likely
			 * behind them: read on, so that the clients' sends after the burst
			 * are shared by more frames. */
			if (n < CHANNEL_RX_BACKLOG)
				return 0;
			continue;
		}
		if (n == 0)
			return -EPIPE;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			return 0;
		return -errno;
	}
	return 1;
}

/* The tty's read failed (r: -EPIPE at end of file, or a negative errno). */
static void rx_failed(struct channel *ch, int r)
{
	if (r == -EPIPE && ch->fd >= 0) {
		channel_log_errno(ch, LOG_WARNING, 0, "%s: end of file (hung up)", ch->cfg.device);
		channel_close(ch, channel_lost_state(ch), "eof", 0);
	} else if (r < 0 && ch->fd >= 0) {
		channel_io_failed(ch, r);
	}
}

void channel_rx_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct channel *ch = arg;
	/* Bounded so that clients and other channels get their turn. */
	rx_failed(ch, channel_rx_burst(ch, 4));
	ch->rx_on_batch_end(ch->ud, ch);
}

/* The reader thread's bytes, under the loop lock. A short read() is one batch (one write
 * per client), as at low rates. A long one means bytes piled up while the last were
 * handled: as the loop's bursts do, it reads on from the non-blocking descriptor (up to 3
 * more) before the clients' writes, so that they are shared by more frames. */
static void rx_thread_input(void *arg, const uint8_t *buf, size_t n, uint64_t rx_mono_ns)
{
	struct channel *ch = arg;
	stamp_read_at(ch, rx_mono_ns);
	/* After the stamp: one load of it with process()'s own. */
	uint32_t closes = ch->rx_closes;
	if (ch->cfg.mode == CONF_MODE_RAW)
		channel_raw_input(ch, buf, n);
	else
		process(ch, buf, n);
	if (n >= CHANNEL_RX_BACKLOG && ch->rx_closes == closes)
		rx_failed(ch, channel_rx_burst(ch, 3));
	ch->rx_on_batch_end(ch->ud, ch);
}

static void rx_thread_ended(void *arg, int err)
{
	struct channel *ch = arg;
	rx_failed(ch, err);
	ch->rx_on_batch_end(ch->ud, ch);
}

void channel_rx_take_reader(struct channel *ch)
{
	if (!ch->rx)
		return;
	uint8_t buf[RXTHREAD_BUF];
	size_t n;
	uint64_t read_ns = 0, dropped;
	ch->rx = rxthread_stop_pending(ch->rx, buf, &n, &read_ns, &dropped);
	ch->stats.unread_at_close += dropped;
	if (n)
		rx_thread_input(ch, buf, n, read_ns);
}

const struct rxthread_ops channel_rx_thread_ops = {
	.input = rx_thread_input,
	.ended = rx_thread_ended,
};
