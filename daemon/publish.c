/* Decoded frames to watching clients: FRAME rendered once per encoding (and DATA kept for
 * replay), LOG, HELLO and HEARTBEAT objects, M7 log lines to the journal; then the
 * observers. */
#include "daemon_int.h"
#include "utf8.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* STATE reason: the M7 restarted without a HELLO (docs/CLIENT-PROTOCOL.md 4.4). */
#define PUBLISH_REASON_RESTARTED "m7_restarted"
#define PUBLISH_BOOT_LOG_BURST	 5 /* boot lines per channel per 10 s */

/* The first client from c on that takes a FRAME of this slot and port, or NULL. */
static inline struct conn *next_taker(struct conn *c, unsigned slot, uint8_t port)
{
	while (c && !conn_takes_frame(c, slot, port))
		c = c->next;
	return c;
}

/* FRAME into each client's own queue, rendered at most once per encoding: the shared
 * chunks are all held by lagging clients. Rare, so out of the DATA path. */
static __attribute__((noinline)) void stream_frame_copied(struct daemon *d, struct conn *c,
							  unsigned slot,
							  const struct proto_frame *f,
							  const uint8_t *bytes)
{
	struct proto_frame_names *nm = &d->names[slot].frame;
	int len[2] = {0, 0}; /* by encoding: base64, hex */

	for (; c; c = next_taker(c->next, slot, f->port)) {
		unsigned e = c->encoding == PROTO_ENC_HEX;
		char *p = e ? d->frame_hex : d->frame_b64;
		if (!len[e])
			len[e] = proto_render_frame_memo(p, sizeof(d->frame_b64), nm, f, bytes,
							 c->encoding);
		if (len[e] > 0) /* cannot fail: PROTO_FRAME_MAX always fits */
			conn_stream(c, p, (size_t)len[e]);
	}
}

/* stream_frame() for the takers after first, whose line (len bytes, in its encoding) was
 * the last one rendered into the current chunk. Out of line: with one client, the usual
 * case, none of this runs and the frame's path keeps fewer values live. */
static __attribute__((noinline)) void stream_frame_more(struct daemon *d, const struct conn *first,
							unsigned slot, const struct proto_frame *f,
							const uint8_t *bytes, size_t len)
{
	struct fanout *fo = d->fanout;
	const uint8_t port = f->port; /* kept, not reloaded after each call */
	const enum proto_encoding enc = first->encoding;
	/* Held while the line goes to many: a client that lets go of it meanwhile cannot
	 * make the chunk start over under the others. Held, it does not start over now
	 * either: its tail is where the line ends. */
	fanout_hold(fo);
	size_t room;
	char *tail = fanout_tail(fo, &room);
	const char *line = tail - len, *other = NULL;
	size_t other_len = 0;
	for (struct conn *c = next_taker(first->next, slot, port); c;
	     c = next_taker(c->next, slot, port)) {
		if (c->encoding == enc) {
			conn_stream_ref(c, fo, line, len);
			continue;
		}
		if (!other) {
			/* After the first line: the chunk is held, so that one stays put. */
			int k = proto_render_frame_memo(tail, room, &d->names[slot].frame, f, bytes,
							c->encoding);
			if (k <= 0)
				continue; /* cannot happen: PROTO_FRAME_MAX always fits */
			fanout_commit(fo, (size_t)k);
			other = tail;
			other_len = (size_t)k;
		}
		conn_stream_ref(c, fo, other, other_len);
	}
	fanout_release(fo);
}

/* FRAME rendered at most once per encoding into the current shared chunk; each client
 * from c on that takes it references the line there. */
static inline void stream_frame(struct daemon *d, struct conn *c, unsigned slot,
				const struct proto_frame *f, const uint8_t *bytes)
{
	/* Room for both encodings first, so that neither render can make the buffer start
	 * over under the clients that took the other. */
	struct fanout *fo = d->fanout;
	size_t room;
	char *p = fanout_tail(fo, &room);
	if (room < 2 * PROTO_FRAME_MAX) {
		if (!daemon_fanout_room(d, 2 * PROTO_FRAME_MAX)) {
			stream_frame_copied(d, c, slot, f, bytes);
			return;
		}
		p = fanout_tail(fo, &room);
	}
	/* The first taker's encoding is rendered whatever follows, and most clients share
	 * it: the other one's line is made when a client first wants it. The first taker
	 * alone needs no hold on the chunk: there is nobody else to hand the line to. */
	enum proto_encoding enc = c->encoding;
	int n = proto_render_frame_memo(p, room, &d->names[slot].frame, f, bytes, enc);
	if (n <= 0) /* cannot happen: PROTO_FRAME_MAX always fits */
		return;
	fanout_commit(fo, (size_t)n);
	conn_stream_ref(c, fo, p, (size_t)n);
	if (c->next)
		stream_frame_more(d, c, slot, f, bytes, (size_t)n);
}

/* The members of f that a mapping sets, as none did: the replay ring keeps them all. */
static inline void frame_unmapped(struct proto_frame *f)
{
	f->t_first_ns = f->t_last_ns = 0;
	f->t_first_mono_ns = f->t_last_mono_ns = f->t_err_ns = 0;
	f->has_realtime = f->has_mono = false;
}

/* A DATA frame: the clock's order check, taken or not; then decoded into a proto_frame
 * and its ticks mapped once, for the clients watching live and for the replay ring. */
static void publish_data(struct daemon *d, struct channel *ch, const struct channel_msg *m)
{
	const struct m7b_frame *h = m->frame;
	const struct m7b_data *dd = &m->u.data;
	unsigned slot = channel_slot(ch);
	struct clockfast *k = &d->clock.fast[slot];
	struct conn *first = next_taker(d->clients, slot, h->port);
	bool keep = d->replay_slots >> slot & 1;
	/* Before the mapping: a capture that starts before the port's previous one is a new
	 * boot's, and the old fit would give it a wrong time with a tight bound. */
	if (clockfast_went_back(k, h->port, dd->t_first))
		d->clock.back(d->clock.ud, ch, h->port, dd->t_first);
	/* Mapped also when nobody takes it: STATUS counts the frames that had no time
	 * whoever watched. */
	struct proto_frame f;
	f.t_first = dd->t_first;
	f.t_last = dd->t_last;
	/* The mapping of this moment, kept with the frame: a later one may belong to another
	 * firmware run. The fit of round trips inline (it sets every time member), other
	 * sources by call; the members stay zero where none maps. */
	if (k->kind != CLOCKFAST_LINE || !clockfast_map(k, &f)) {
		frame_unmapped(&f);
		if (k->kind == CLOCKFAST_CALL)
			(void)d->clock.map(d->clock.ud, ch, &f);
		if (!f.has_mono)
			channel_count_untimed(ch);
	}
	if (first || keep) {
		f.seq = h->seq;
		f.nbytes = (uint16_t)dd->nbytes;
		f.port = h->port;
		f.flags = h->flags;
		f.late = m->late;
		if (first)
			stream_frame(d, first, slot, &f, dd->bytes);
		if (keep)
			replay_record(d->replay, ch, slot, &f, dd->bytes,
				      m->rx_realtime_us * 1000u);
	}
}

static void publish_log(struct daemon *d, struct channel *ch, const struct channel_msg *m)
{
	const struct m7b_log *l = &m->u.log;
	int n = proto_render_log(d->line, sizeof(d->line), channel_name(ch), l->level, l->text,
				 l->text_len, m->frame->seq);
	if (n > 0)
		daemon_broadcast(d, ch, PROTO_C_LOG, d->line, (size_t)n);
	if (ratelimit_ok(&d->rl_m7log[channel_slot(ch)], m->rx_ms, 50, 1000)) {
		struct log_fields lf = {.message_id = LOG_MID_M7_LOG,
					.channel = channel_name(ch),
					.device = channel_config(ch)->device};
		int prio = l->level > 7 ? 7 : l->level;
		/* The firmware's bytes as one line of text: a CR, an escape sequence or a
		 * byte that is not UTF-8 would make the journal show a blob. */
		char text[901];
		(void)utf8_clean_line(text, sizeof(text), l->text, l->text_len);
		log_struct(&d->log, prio, &lf, "M7: %s", text);
	}
}

/* The run a restart without a HELLO left unnamed has a name now: clients hear so. */
static __attribute__((noinline)) void publish_named(struct channel *ch)
{
	struct channel_snapshot snap;
	channel_snapshot(ch, &snap);
	if (strcmp(snap.reason, PUBLISH_REASON_RESTARTED) == 0)
		channel_set_state(ch, snap.state, "hello", "");
}

static void publish_hello(struct daemon *d, struct channel *ch, const struct channel_msg *m)
{
	const struct m7b_hello *h = &m->u.hello;
	/* A firmware whose boot_id flaps would otherwise write a line per HELLO. */
	struct ratelimit *rl = &d->rl_boot[channel_slot(ch)];
	if (m->new_boot && ratelimit_ok(rl, m->rx_ms, PUBLISH_BOOT_LOG_BURST, 10000)) {
		struct log_fields lf = {.message_id = LOG_MID_FIRMWARE,
					.channel = channel_name(ch),
					.device = channel_config(ch)->device};
		char name[256], skipped[64] = "";
		(void)utf8_clean_line(name, sizeof(name), h->name, h->name_len);
		if (rl->suppressed)
			snprintf(skipped, sizeof(skipped), " (%u boots before it not logged)",
				 rl->suppressed);
		rl->suppressed = 0;
		log_struct(&d->log, LOG_NOTICE, &lf,
			   "firmware \"%s\" boot %08x, %u Hz ticks, %u host credits%s", name,
			   h->boot_id, h->tick_hz, h->host_credits, skipped);
	}
	int n = proto_render_hello(d->line, sizeof(d->line), channel_name(ch), h, m->new_boot);
	if (n > 0)
		daemon_broadcast(d, ch, PROTO_C_HELLO, d->line, (size_t)n);
	if (d->replay)
		replay_boot(d->replay, channel_slot(ch), h->boot_id);
	publish_named(ch);
}

static void publish_heartbeat(struct daemon *d, struct channel *ch, const struct channel_msg *m)
{
	int n = proto_render_heartbeat(d->line, sizeof(d->line), channel_name(ch), m->frame->seq,
				       &m->u.heartbeat);
	if (n > 0)
		daemon_broadcast(d, ch, PROTO_C_HEARTBEAT, d->line, (size_t)n);
}

/* The M7 restarted without a HELLO (its seq went back): the frames that follow belong to
 * a run not named yet, not to the last HELLO's. Watching clients are told by a STATE of
 * the same state (once until a HELLO names the run: a firmware that scrambles its seq
 * would otherwise make one of every frame); a valid HELLO (m names it) names the run. */
static __attribute__((noinline, cold)) void publish_restart(struct daemon *d, struct channel *ch,
							    const struct channel_msg *m)
{
	if (d->replay)
		replay_boot(d->replay, channel_slot(ch), 0);
	if (m->frame->type != M7B_T_HELLO || m->bad_payload)
		channel_set_state(ch, channel_get_state(ch), PUBLISH_REASON_RESTARTED,
				  "seq went back without a HELLO: the M7 restarted");
}

/* Neither bad_payload nor new_boot, both read at once: nearly every frame. */
_Static_assert(offsetof(struct channel_msg, new_boot) ==
		       offsetof(struct channel_msg, bad_payload) + 1,
	       "struct channel_msg: new_boot right after bad_payload");
static inline bool msg_usual(const struct channel_msg *m)
{
	uint16_t both;
	memcpy(&both, &m->bad_payload, sizeof(both));
	return both == 0;
}

/* A DATA frame with bad_payload or new_boot set; true when it is not to be published. */
static __attribute__((noinline, cold)) bool publish_unusual(struct daemon *d, struct channel *ch,
							    const struct channel_msg *m)
{
	if (m->new_boot)
		publish_restart(d, ch, m);
	return m->bad_payload;
}

void publish_msg(void *ud, struct channel *ch, const struct channel_msg *m)
{
	struct daemon *d = ud;
	unsigned type = m->frame->type;
	/* DATA first: nearly every frame, and its observers have a list of their own. */
	if (type == M7B_T_DATA) {
		if (msg_usual(m) || !publish_unusual(d, ch, m))
			publish_data(d, ch, m);
		/* One observer (the supervisor's, as a rule) by a tail call. */
		if (d->ndata_obs == 1) {
			d->data_obs[0].fn(d->data_obs[0].ud, ch, m);
			return;
		}
		for (unsigned i = 0; i < d->ndata_obs; i++)
			d->data_obs[i].fn(d->data_obs[i].ud, ch, m);
		return;
	}
	if (m->new_boot) /* a valid HELLO then names the new run */
		publish_restart(d, ch, m);
	if (!m->bad_payload) {
		switch (type) {
		case M7B_T_LOG:
			publish_log(d, ch, m);
			break;
		case M7B_T_HELLO:
			publish_hello(d, ch, m);
			break;
		case M7B_T_HEARTBEAT:
			publish_heartbeat(d, ch, m);
			break;
		default:
			break;
		}
	}
	uint32_t bit = DAEMON_MSG_TYPE(type);
	for (unsigned i = 0; i < d->nmsg_obs; i++)
		if (d->msg_obs[i].types & bit)
			d->msg_obs[i].fn(d->msg_obs[i].ud, ch, m);
}
